"""Write a DICOM Segmentation (SEG) from mask volumes on the grid of a source image series.

The header — patient, study, series, equipment, frame of reference, segment descriptions,
shared functional groups, dimension index, references to every source image — is built with
pydicom by :func:`.segattributes.seg_header` (the patient and study modules copied from the
source with the keyword lists of :mod:`.modulekeywords`). :func:`write` writes it and adds the
two bulky parts itself: the per-frame functional groups (one item per frame, assembled from byte
pieces encoded once per source slice and per segment) and the pixel data (bit-packed, 8/16-bit
or compressed frames encoded one at a time, streamed to the file). highdicom is imported only to
compress frames with JPEG-LS or RLE (``highdicom.frame.encode_frame``); its tables of the
standard (22 MB of JSON on disk, ~60 MB held in memory) are never loaded.

highdicom is the authority in tests: the frames, their order (segment by segment, planes along
highdicom's volume axis), their dimension index values and every attribute are what
``highdicom.seg.Segmentation`` writes for the full masks — ``tests/test_segwrite.py`` compares
the two element by element, for binary, fractional and label-map SEGs, every compression,
sources with and without patient, study and clinical-trial attributes; the only differences are
made up by highdicom on its own (UIDs, creation time), name highdicom or idcseg as the software
that made the file, or are the few :mod:`.segattributes` lists. No thousands of pydicom datasets
are built: a 110-segment 512×512×220 SEG takes seconds instead of minutes, in the memory of one
mask volume.

Masks come as :class:`Layer`\\ s: arrays ``(slice, row, column)`` aligned with the source images
(as given, one slice per image), each holding one or more segments (label values, any nonzero
voxel, or fractions in [0, 1]). Layers are loaded one at a time.

Output is written to a temporary file beside *output* and renamed into place when complete: an
error or an interruption leaves no partial file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import IdcsegError, UsageError
from . import segattributes
from .segattributes import MAX_FRACTIONAL_VALUE
from .segmentspec import SegmentSpec, SeriesSpec

SEGMENTATION_TYPES = ("BINARY", "FRACTIONAL", "LABELMAP")
FRACTIONAL_TYPES = ("PROBABILITY", "OCCUPANCY")
COMPRESSIONS = ("none", "deflate", "jpeg-ls", "rle")
_UID_ROOT = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")

# explicit VR little endian pieces of the per-frame functional groups
_ITEM = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
_ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_PFFG = b"\x00\x52\x30\x92SQ\x00\x00\xff\xff\xff\xff"  # (5200,9230)
_FRAME_CONTENT = b"\x20\x00\x11\x91SQ\x00\x00\xff\xff\xff\xff" + _ITEM  # (0020,9111)
_DIMENSION_INDEX = b"\x20\x00\x57\x91UL"  # (0020,9157)
_SEGMENT_ID = b"\x62\x00\x0a\x00SQ\x00\x00\xff\xff\xff\xff" + _ITEM + b"\x62\x00\x0b\x00US\x02\x00"


class SegWriteError(IdcsegError):
    """The SEG cannot be written as asked (the message says why)."""


@dataclass
class Layer:
    """Masks of one input file, aligned with the source images.

    ``load()`` returns an array ``(slices, rows, columns)`` whose slice *i* lies on source image
    *i*. ``kind``: ``"label"`` (voxels equal to a segment's ``label_value`` belong to it),
    ``"nonzero"`` (one segment: every nonzero voxel) or ``"fractional"`` (one segment: values in
    [0, 1]).
    """

    name: str
    segments: list[SegmentSpec]
    load: Callable[[], np.ndarray]
    kind: str = "label"


@dataclass
class Options:
    """How to write the SEG (see ``idcseg make-seg --help``)."""

    segmentation_type: str = "BINARY"
    fractional_type: str = "PROBABILITY"
    compression: str = "none"
    omit_empty_frames: bool = True
    uid_root: str | None = None
    timestamp: dt.datetime | None = None
    manufacturer: str = "idcseg"
    manufacturer_model_name: str = "idcseg make-seg"
    software_versions: str = ""
    device_serial_number: str = "1"
    series: SeriesSpec = field(default_factory=SeriesSpec)

    def check(self) -> None:
        """Raise UsageError for values no SEG can have."""
        if self.segmentation_type not in SEGMENTATION_TYPES:
            raise UsageError(
                f"segmentation type {self.segmentation_type!r}: use one of "
                f"{', '.join(t.lower() for t in SEGMENTATION_TYPES)}"
            )
        if self.fractional_type not in FRACTIONAL_TYPES:
            raise UsageError(
                f"fractional type {self.fractional_type!r}: use probability or occupancy"
            )
        if self.compression not in COMPRESSIONS:
            raise UsageError(
                f"compression {self.compression!r}: use one of {', '.join(COMPRESSIONS)}"
            )
        if self.segmentation_type == "BINARY" and self.compression in ("jpeg-ls", "rle"):
            raise UsageError(
                f"a BINARY SEG stores 1 bit per pixel, which {self.compression} cannot encode: "
                "use --compress deflate, or --type fractional/labelmap for "
                f"{self.compression}"
            )
        if self.uid_root is not None:
            root = self.uid_root.rstrip(".")
            if not _UID_ROOT.fullmatch(root) or len(root) > 54:
                raise UsageError(
                    f"--uid-root {self.uid_root!r} is not a UID prefix (digits and dots, no "
                    "leading zeros, at most 54 characters, e.g. 2.25.1234)"
                )
        segattributes.check_text(self)


@dataclass
class Written:
    """What :func:`write` wrote."""

    path: Path
    segmentation_type: str
    segments: list[tuple[int, SegmentSpec]]
    frames: int
    bytes: int
    series_instance_uid: str
    sop_instance_uid: str
    skipped: list[SegmentSpec] = field(default_factory=list)


# --- planning: which frames, what numbers ----------------------------------------------------


def _uid(root: str | None, suffix: str) -> str:
    from pydicom.uid import generate_uid

    return f"{root.rstrip('.')}.{suffix}" if root else generate_uid()


def _segment_numbers(
    layers: list[Layer], segmentation_type: str, keep: Callable[[SegmentSpec], bool]
) -> list[tuple[int, SegmentSpec]]:
    """Numbers for the segments *keep* accepts: 1, 2, ... in file order, label values ascending
    within a file (as dcmqi numbers them); a label map keeps label values when they are unique."""
    specs = [s for layer in layers for s in _by_value(layer) if keep(s)]
    values = [s.label_value for s in specs]
    if (
        segmentation_type == "LABELMAP"
        and all(layer.kind == "label" for layer in layers)
        and len(set(values)) == len(values)
    ):
        return sorted(zip(values, specs, strict=True), key=lambda pair: pair[0])
    return list(enumerate(specs, start=1))


def _by_value(layer: Layer) -> list[SegmentSpec]:
    return sorted(layer.segments, key=lambda s: s.label_value)


def _presence(array: np.ndarray, layer: Layer) -> dict[int, np.ndarray]:
    """label value → bool per slice; raises for values no segment describes."""
    n = array.shape[0]
    if layer.kind in ("nonzero", "fractional"):
        flat = array.reshape(n, -1)
        if layer.kind == "fractional":
            if not np.issubdtype(array.dtype, np.floating):
                low, high = 0, 1
                if array.size:
                    low, high = int(array.min()), int(array.max())
                if low < 0 or high > 1:
                    raise UsageError(
                        f"{layer.name}: fractional masks hold values in [0, 1], not {low}..{high}"
                    )
            else:
                if not np.all(np.isfinite(array)):
                    raise UsageError(f"{layer.name}: the mask holds NaN or infinite values")
                low, high = float(array.min()), float(array.max())
                if low < 0 or high > 1:
                    raise UsageError(
                        f"{layer.name}: fractional masks hold values in [0, 1], not "
                        f"{low:g}..{high:g}"
                    )
        elif array.dtype != bool and array.size:
            values = array[array != 0]
            if values.size and values.min() != values.max():
                shown = np.unique(values)
                listed = ", ".join(str(v) for v in shown[:8]) + (" ..." if len(shown) > 8 else "")
                raise UsageError(
                    f"{layer.name} holds {len(shown)} label values ({listed}): it is a label "
                    "map — name its values with --labels VALUE=NAME (or a preset such as "
                    "totalsegmentator), or describe them with --meta"
                )
        return {layer.segments[0].label_value: flat.any(axis=1)}
    if np.issubdtype(array.dtype, np.floating):
        whole = np.all(np.mod(array, 1) == 0) and np.all(np.isfinite(array))
        if not whole:
            raise UsageError(
                f"{layer.name} holds fractional values: pass --type fractional (probabilities "
                "or occupancy), or give label values as whole numbers"
            )
    if array.size and array.min() < 0:
        raise UsageError(f"{layer.name} holds negative values; label values are 1..65535")
    top = int(array.max()) if array.size else 0
    if top > 65535:
        raise UsageError(f"{layer.name} holds values up to {top}; label values are 1..65535")
    counts = np.zeros((n, top + 1), dtype=bool)
    for j in range(n):
        plane = np.ascontiguousarray(array[j]).ravel()
        if plane.dtype.kind == "f" or plane.dtype.itemsize > 2:
            plane = plane.astype(np.uint16)
        counts[j] = np.bincount(plane, minlength=top + 1) > 0
    described = {s.label_value for s in layer.segments}
    found = set(np.flatnonzero(counts[:, 1:].any(axis=0)) + 1)
    orphans = sorted(found - described)
    if orphans:
        shown = ", ".join(str(v) for v in orphans[:12]) + (" ..." if len(orphans) > 12 else "")
        raise UsageError(
            f"{layer.name}: label value(s) {shown} have no segment description: name them "
            "(--labels VALUE=NAME, or labelID in --meta)"
        )
    return {
        value: counts[:, value] if value <= top else np.zeros(n, dtype=bool) for value in described
    }


# --- encoding ----------------------------------------------------------------------------------


def _frame_array(
    array: np.ndarray, j: int, layer: Layer, spec: SegmentSpec, segmentation_type: str
) -> np.ndarray:
    """The frame of *spec* on slice *j*: bool (BINARY) or uint8 (FRACTIONAL)."""
    plane = array[j]
    if layer.kind == "fractional":
        if segmentation_type == "BINARY":  # fractional masks are refused for BINARY earlier
            raise AssertionError("fractional layer in a BINARY SEG")
        if np.issubdtype(plane.dtype, np.floating):
            return np.around(plane * float(MAX_FRACTIONAL_VALUE)).astype(np.uint8)
        return plane.astype(np.uint8) * np.uint8(MAX_FRACTIONAL_VALUE)
    hit = plane != 0 if layer.kind == "nonzero" else plane == spec.label_value
    if segmentation_type == "FRACTIONAL":
        return hit.astype(np.uint8) * np.uint8(MAX_FRACTIONAL_VALUE)
    return hit


class _BitPacker:
    """Packs BINARY frames back to back, carrying bits across frames whose pixel count is not a
    multiple of 8 (DICOM packs the whole pixel data as one bit stream)."""

    def __init__(self) -> None:
        self.carry = np.empty(0, dtype=bool)

    def pack(self, frame: np.ndarray) -> bytes:
        bits = frame.ravel()
        if self.carry.size:
            bits = np.concatenate([self.carry, bits])
        whole = bits.size - bits.size % 8
        self.carry = bits[whole:].copy()
        return np.packbits(bits[:whole], bitorder="little").tobytes()

    def flush(self) -> bytes:
        if not self.carry.size:
            return b""
        padded = np.zeros(8, dtype=bool)
        padded[: self.carry.size] = self.carry
        self.carry = np.empty(0, dtype=bool)
        return np.packbits(padded, bitorder="little").tobytes()


def _encoder(options: Options, bits_allocated: int) -> Callable[[np.ndarray], bytes] | None:
    """Frame compressor for the encapsulated transfer syntaxes, None for native."""
    if options.compression not in ("jpeg-ls", "rle"):
        return None
    from highdicom.frame import encode_frame
    from pydicom.uid import JPEGLSLossless, RLELossless

    syntax = JPEGLSLossless if options.compression == "jpeg-ls" else RLELossless

    def encode(frame: np.ndarray) -> bytes:
        return encode_frame(
            frame,
            transfer_syntax_uid=syntax,
            bits_allocated=bits_allocated,
            bits_stored=bits_allocated,
            photometric_interpretation="MONOCHROME2",
            pixel_representation=0,
        )

    return encode


def _version() -> str:
    from .. import __version__

    return f"idcseg {__version__}"


def _encode_element(element: Any) -> bytes:
    """*element* in explicit VR little endian, as pydicom writes it."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_data_element(fp, element)
    return fp.getvalue()


class _Encoder:
    """Encodes small nested sequences as pydicom does (defined lengths), leaf elements through
    pydicom and remembered by value: a sequence that differs from another only in one UID costs
    one leaf encoding, not a pydicom write of every item."""

    def __init__(self) -> None:
        self.leaves: dict[tuple[int, str, str], bytes] = {}

    def element(self, element: Any) -> bytes:
        if element.VR != "SQ":
            key = (int(element.tag), element.VR, repr(element.value))
            found = self.leaves.get(key)
            if found is None:
                found = self.leaves[key] = _encode_element(element)
            return found
        items = b"".join(
            b"\xfe\xff\x00\xe0" + struct.pack("<I", len(body)) + body
            for body in (self.dataset(item) for item in element.value)
        )
        tag = struct.pack("<HH", element.tag.group, element.tag.element)
        return tag + b"SQ\x00\x00" + struct.pack("<I", len(items)) + items

    def dataset(self, dataset: Any) -> bytes:
        return b"".join(self.element(element) for element in dataset)


def _plane_pieces(source: Sequence[Any]) -> tuple[list[bytes], list[bytes]]:
    """Encoded DerivationImageSequence and PlanePositionSequence of each source slice (the
    first checked to be byte for byte what pydicom writes)."""
    encoder = _Encoder()
    derived, planes = [], []
    for ds in source:
        derived.append(encoder.element(segattributes.frame_references(ds)))
        planes.append(encoder.element(segattributes.plane_position(ds)))
    pydicoms = (
        _encode_element(segattributes.frame_references(source[0])),
        _encode_element(segattributes.plane_position(source[0])),
    )
    if (derived[0], planes[0]) != pydicoms:
        raise SegWriteError("idcseg's encoding of a frame's references differs from pydicom's")
    return derived, planes


def _plane_order(source: Sequence[Any]) -> np.ndarray:
    """Source indices in highdicom's frame order: ascending along its volume normal."""
    normal = segattributes.volume_normal(source[0].ImageOrientationPatient)
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in source])
    return np.argsort(positions @ normal, kind="stable")


class _Deflater:
    """A file-like writer that deflates what it is given (Deflated Explicit VR Little Endian)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.zip = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)

    def write(self, data: bytes) -> int:
        self.raw.write(self.zip.compress(data))
        return len(data)

    def close(self) -> None:
        self.raw.write(self.zip.flush())


def _planes(present: np.ndarray, order: np.ndarray, options: Options) -> list[int]:
    """Source indices of one segment's frames, in frame order."""
    if not options.omit_empty_frames:
        return [int(j) for j in order]
    return [int(j) for j in order if present[j]]


def _any_segment(array: np.ndarray, layer: Layer) -> np.ndarray:
    """Voxels that belong to any segment of *layer* (bool volume)."""
    if layer.kind == "label" and len(layer.segments) == 1:
        return array == layer.segments[0].label_value
    return array != 0


def _combine(
    combined: np.ndarray | None,
    array: np.ndarray,
    layer: Layer,
    numbers: dict[int, int],
    names: dict[int, str],
) -> np.ndarray:
    """Add *layer*'s segments to the label map being built; overlaps are an error."""
    if combined is None:
        top = max(numbers.values())
        combined = np.zeros(array.shape, dtype=np.uint8 if top < 256 else np.uint16)
    for spec in _by_value(layer):
        number = numbers.get(id(spec))
        if number is None:
            continue
        hit = array != 0 if layer.kind == "nonzero" else array == spec.label_value
        clash = combined[hit]
        if clash.any():
            other = names[int(clash[clash != 0][0])]
            raise UsageError(
                f"segments {other!r} and {spec.label!r} overlap, which a label map cannot "
                "store: write a binary SEG (the default), or remove the overlap"
            )
        combined[hit] = number
    return combined


def _payload(
    frame: np.ndarray,
    kind: str,
    packer: _BitPacker,
    encoder: Callable[[np.ndarray], bytes] | None,
) -> bytes:
    if encoder is not None:
        return encoder(frame)
    if kind == "BINARY":
        return packer.pack(frame)
    return np.ascontiguousarray(frame).tobytes()


class _Spool:
    """Encoded frames on disk, in frame order (several mask files: each file is read once)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "frames.bin"
        self.fh: IO[bytes] | None = None
        self.lengths: list[int] = []

    def add(self, data: bytes) -> None:
        if self.fh is None:
            self.fh = open(self.path, "wb")  # noqa: SIM115 - closed by replay()
        self.fh.write(data)
        self.lengths.append(len(data))

    def replay(self) -> Iterator[bytes]:
        """The frames' bytes, as added."""
        if self.fh is None:
            return
        self.fh.close()
        with open(self.path, "rb") as fh:
            for length in self.lengths:
                yield fh.read(length)


def _layer_payloads(
    array: np.ndarray,
    layer: Layer,
    frames: list[tuple[int, int]],
    spec_of: dict[int, SegmentSpec],
    kind: str,
    bits: int,
    packer: _BitPacker,
    encoder: Callable[[np.ndarray], bytes] | None,
) -> Iterator[bytes]:
    """Frames of a layer kept in memory, encoded as they are written (a label map's pixels as
    *bits*-bit segment numbers)."""
    if kind == "LABELMAP":
        lut: np.ndarray | None = None
        if any(number != spec.label_value for number, spec in spec_of.items()):
            top = int(array.max())
            lut = np.zeros(top + 1, dtype=np.uint16)
            for number, spec in spec_of.items():
                if spec.label_value <= top:
                    lut[spec.label_value] = number
        dtype = np.uint16 if bits == 16 else np.uint8
        for _, j in frames:
            plane = array[j] if lut is None else lut[array[j]]
            if layer.kind == "nonzero":
                plane = (array[j] != 0) * next(iter(spec_of))
            yield _payload(plane.astype(dtype, copy=False), kind, packer, encoder)
        return
    for number, j in frames:
        frame = _frame_array(array, j, layer, spec_of[number], kind)
        yield _payload(frame, kind, packer, encoder)


def _write_meta(raw: IO[bytes], header: Any) -> None:
    from pydicom.filebase import DicomFileLike
    from pydicom.filewriter import write_file_meta_info

    raw.write(b"\x00" * 128 + b"DICM")
    fp = DicomFileLike(raw)
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_file_meta_info(fp, header.file_meta, enforce_standard=True)


def _encode_dataset(header: Any) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    last = max(int(element.tag) for element in header)
    if last >= 0x52009230:
        raise SegWriteError(f"the header holds an element after the frames ({last:08x})")
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, header)
    return fp.getvalue()


def _write_pixels(
    body: Any,
    payloads: Iterator[bytes],
    count: int,
    pixels_per_frame: int,
    bits: int,
    encoder: Callable[[np.ndarray], bytes] | None,
    packer: _BitPacker,
    say: Callable[[str], None],
) -> None:
    """The Pixel Data element: native (known length) or encapsulated (one fragment a frame)."""
    if encoder is None:
        length = (count * pixels_per_frame * bits + 7) // 8
        padded = length + length % 2
        vr = b"OW" if bits == 16 else b"OB"
        body.write(b"\xe0\x7f\x10\x00" + vr + b"\x00\x00" + struct.pack("<I", padded))
        written = 0
        for k, data in enumerate(payloads):
            if k % 500 == 0:
                say(f"writing pixels {k + 1}/{count}")
            body.write(data)
            written += len(data)
        tail = packer.flush() if bits == 1 else b""
        body.write(tail)
        written += len(tail)
        if written != length:
            raise SegWriteError(f"wrote {written} bytes of pixel data, expected {length}")
        body.write(b"\x00" * (padded - length))
        return
    # encapsulated: frames must be encoded to know the offset table; they are small
    fragments = []
    for k, data in enumerate(payloads):
        if k % 200 == 0:
            say(f"compressing frame {k + 1}/{count}")
        fragments.append(data + b"\x00" * (len(data) % 2))
    offsets, position = [], 0
    for fragment in fragments:
        offsets.append(position)
        position += 8 + len(fragment)
    body.write(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")
    body.write(b"\xfe\xff\x00\xe0" + struct.pack("<I", 4 * len(offsets)))
    body.write(struct.pack(f"<{len(offsets)}I", *offsets))
    for fragment in fragments:
        body.write(b"\xfe\xff\x00\xe0" + struct.pack("<I", len(fragment)))
        body.write(fragment)
    body.write(_SEQ_END)


def _frame_item(
    derived: bytes, plane: bytes, dimension: tuple[int, ...], segment: int | None
) -> bytes:
    """One item of the PerFrameFunctionalGroupsSequence (explicit VR little endian)."""
    values = struct.pack(f"<H{len(dimension)}I", 4 * len(dimension), *dimension)
    item = _ITEM + derived + _FRAME_CONTENT + _DIMENSION_INDEX + values + _ITEM_END + _SEQ_END
    item += plane
    if segment is not None:
        item += _SEGMENT_ID + struct.pack("<H", segment) + _ITEM_END + _SEQ_END
    return item + _ITEM_END


def write(
    source: Sequence[Any],
    layers: list[Layer],
    output: str | Path,
    options: Options | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> Written:
    """Write the SEG of *layers* over the *source* images to *output* (see the module doc).

    *source* are pydicom datasets (headers suffice) of one single-frame image series, in the
    order of the layers' slices. Raises UsageError for masks that cannot be written as asked
    (values without a description, fractions in a BINARY SEG, overlaps in a label map, no
    voxel at all) before anything is written; the file appears complete or not at all.
    """
    options = options or Options()
    options.check()
    output = Path(output)
    kind = options.segmentation_type
    say = progress or (lambda text: None)
    if not layers or not any(layer.segments for layer in layers):
        raise UsageError("no segments to write")
    for layer in layers:
        for spec in layer.segments:
            spec.check()
        if layer.kind == "fractional" and kind != "FRACTIONAL":
            raise UsageError(
                f"{layer.name} holds fractions: pass --type fractional, or binarise it first"
            )
        if layer.kind != "label" and len(layer.segments) != 1:
            raise UsageError(f"{layer.name}: a {layer.kind} mask holds exactly one segment")
    n, rows, columns = len(source), int(source[0].Rows), int(source[0].Columns)
    order = _plane_order(source)
    single = len(layers) == 1
    if not output.parent.is_dir():
        raise IdcsegError(f"cannot write {output}: folder {output.parent} does not exist")
    if output.is_dir():
        raise UsageError(f"--output {output} is a folder; give a file name (e.g. seg.dcm)")
    try:
        work = tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.")
    except OSError as exc:
        raise IdcsegError(f"cannot write in {output.parent}: {exc.strerror or exc}") from None
    try:
        return _write(
            source, layers, output, options, say, Path(work.name), n, rows, columns, order, single
        )
    except OSError as exc:
        raise IdcsegError(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        work.cleanup()


def _write(
    source: Sequence[Any],
    layers: list[Layer],
    output: Path,
    options: Options,
    say: Callable[[str], None],
    work: Path,
    n: int,
    rows: int,
    columns: int,
    order: np.ndarray,
    single: bool,
) -> Written:
    kind = options.segmentation_type
    all_specs = [s for layer in layers for s in layer.segments]
    provisional = {id(s): number for number, s in _segment_numbers(layers, kind, lambda s: True)}
    # frames spooled in pass 1 are BINARY or FRACTIONAL: their bits do not depend on numbering
    spool_encoder = (
        _encoder(options, segattributes.bits_allocated(kind, [])) if kind != "LABELMAP" else None
    )
    # pass 1: each layer read once: checked, its frames found (and, for several, encoded)
    present: dict[int, np.ndarray] = {}
    spool = _Spool(work)
    packer = _BitPacker()
    kept: np.ndarray | None = None
    occupied: np.ndarray | None = None
    combined: np.ndarray | None = None
    overlap = False
    names = {number: s.label for s in all_specs if (number := provisional[id(s)])}
    for i, layer in enumerate(layers):
        say(f"reading mask {i + 1}/{len(layers)}: {layer.name}")
        array = layer.load()
        if array.shape != (n, rows, columns):
            raise SegWriteError(
                f"{layer.name}: mask shape {array.shape} is not the source's "
                f"{(n, rows, columns)} (slices, rows, columns)"
            )
        by_value = _presence(array, layer)
        for spec in layer.segments:
            present[id(spec)] = by_value[spec.label_value]
        if single:
            kept = array
        elif kind == "LABELMAP":
            combined = _combine(combined, array, layer, provisional, names)
        else:
            if layer.kind != "fractional":
                hit = _any_segment(array, layer)
                if occupied is None:
                    occupied = hit
                else:
                    overlap = overlap or bool(np.any(occupied & hit))
                    occupied |= hit
            for spec in _by_value(layer):
                if not present[id(spec)].any():
                    continue
                for j in _planes(present[id(spec)], order, options):
                    frame = _frame_array(array, j, layer, spec, kind)
                    spool.add(_payload(frame, kind, packer, spool_encoder))
        del array
    numbered = _segment_numbers(layers, kind, lambda s: bool(present[id(s)].any()))
    skipped = [s for s in all_specs if not present[id(s)].any()]
    if not numbered:
        raise UsageError("the masks are empty: no segment has a voxel")
    # the one place the pixels' bits are decided: from the segments written (a label map
    # described up to 300 whose masks hold 1..3 only is 8-bit), for the header and the pixels
    bits = segattributes.bits_allocated(kind, [number for number, _ in numbered])
    encoder = _encoder(options, bits)
    if kind == "LABELMAP" and not single and combined is not None:
        renumber = {provisional[id(s)]: number for number, s in numbered}
        if any(old != new for old, new in renumber.items()):
            lut = np.zeros(max(provisional.values()) + 1, dtype=combined.dtype)
            for old, new in renumber.items():
                lut[old] = new
            combined = lut[combined]
    any_plane = np.zeros(n, dtype=bool)
    for _, spec in numbered:
        any_plane |= present[id(spec)]
    if not options.omit_empty_frames:
        any_plane[:] = True
    included = [int(j) for j in order if any_plane[j]]
    position = {j: k for k, j in enumerate(included, start=1)}
    if kind == "LABELMAP":
        frames = [(0, j) for j in included]
    else:
        frames = [
            (number, j)
            for number, spec in numbered
            for j in _planes(present[id(spec)], order, options)
        ]
    if kind == "LABELMAP" or len(numbered) == 1:
        overlap_value = "NO"
    elif any(layer.kind == "fractional" for layer in layers):
        overlap_value = "UNDEFINED"  # as highdicom says of several fractional segments
    else:
        overlap_value = "YES" if overlap else "NO"

    say("building the header")
    uids = segattributes.SegUids(
        series=_uid(options.uid_root, "1"),
        sop=_uid(options.uid_root, "2"),
        dimension_organization=_uid(options.uid_root, "3"),
        tracking={
            number: spec.tracking_uid or _uid(options.uid_root, f"4.{number}")
            for number, spec in numbered
            if spec.tracking_id
        },
    )
    header = segattributes.seg_header(
        source,
        numbered,
        options,
        uids,
        frames=len(frames),
        overlap=overlap_value,
        included=included,
        software_versions=options.software_versions or _version(),
        bits_allocated=bits,
    )
    per_frame_segment = kind != "LABELMAP" and len(numbered) > 1
    derived, planes = _plane_pieces(source)

    # pass 2: the file
    spec_of = {number: spec for number, spec in numbered}
    payloads: Iterator[bytes]
    if single:
        assert kept is not None
        payloads = _layer_payloads(kept, layers[0], frames, spec_of, kind, bits, packer, encoder)
    elif kind == "LABELMAP":
        assert combined is not None
        as_numbers = {number: _relabel(spec, number) for number, spec in numbered}
        merged = Layer("label map", list(as_numbers.values()), lambda: combined)
        payloads = _layer_payloads(
            combined, merged, frames, as_numbers, kind, bits, packer, encoder
        )
    else:
        payloads = spool.replay()
    tmp = work / "seg.dcm"
    with open(tmp, "wb") as raw:
        _write_meta(raw, header)
        body: Any = _Deflater(raw) if options.compression == "deflate" else raw
        body.write(_encode_dataset(header))
        body.write(_PFFG)
        for k, (number, j) in enumerate(frames):
            if k % 1000 == 0:
                say(f"writing frame descriptions {k + 1}/{len(frames)}")
            dimension = (position[j],) if kind == "LABELMAP" else (number, position[j])
            segment = number if per_frame_segment else None
            body.write(_frame_item(derived[j], planes[j], dimension, segment))
        body.write(_SEQ_END)
        _write_pixels(body, payloads, len(frames), rows * columns, bits, encoder, packer, say)
        if isinstance(body, _Deflater):
            body.close()
    size = tmp.stat().st_size
    os.replace(tmp, output)
    return Written(
        path=output,
        segmentation_type=kind,
        segments=numbered,
        frames=len(frames),
        bytes=size,
        series_instance_uid=uids.series,
        sop_instance_uid=uids.sop,
        skipped=skipped,
    )


def _relabel(spec: SegmentSpec, number: int) -> SegmentSpec:
    from dataclasses import replace

    return replace(spec, label_value=number)
