"""Research masks (NIfTI, NRRD) → a DICOM SEG of the image series they were drawn on.

``idcseg make-seg`` and :func:`idcseg.make_seg` do four things:

1. **The source series.** Every DICOM file under the source folder is read (headers only); the
   folder must hold exactly one image series (or name it with ``source_series``), a complete
   regular stack of single-frame images (:class:`~idcseg.dicom.reference.ReferenceFolder`).
2. **The masks' grid.** Each mask file's voxel grid (NIfTI's RAS affine, NRRD's space
   directions) must be the source series' grid: the same voxels, possibly stored with axes in
   another order or reversed (as dcm2niix and TotalSegmentator write them) — that is only a
   different view of the array, never resampling. Any other difference is an error naming it
   (size, voxel size, axes, position).
3. **What each segment is.** dcmqi's metadata JSON (``meta``), or structure names resolved to
   SNOMED CT codes through the table shipped in the package (``labels`` mapping label values or
   file names to names, a preset such as ``totalsegmentator``, or, without either, the file
   names themselves, as TotalSegmentator names its per-class files). An unknown name is an
   error listing the closest known ones.
4. **The SEG**, written by :func:`idcseg.dicom.segwrite.write`: binary (overlaps allowed),
   fractional or label map, empty frames omitted, optionally compressed, with fixed UIDs and
   times when asked (``uid_root``, ``timestamp`` or ``$SOURCE_DATE_EPOCH``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IdcsegError, UsageError
from . import dcmqimeta, segwrite, sidecar, structures
from .geometry import RTOL, GeometryError, Grid
from .segmentspec import ALGORITHM_TYPES, SegmentSpec, SeriesSpec, from_structure, with_algorithm

MASK_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr")
TYPES = {"binary": "BINARY", "fractional": "FRACTIONAL", "labelmap": "LABELMAP"}
_LABEL_ITEM = re.compile(r"\s*([^=:\s][^=:]*?)\s*[=:]\s*(.+?)\s*")


@dataclass
class MadeSeg:
    """The SEG :func:`make_seg` wrote, and what is in it."""

    path: Path
    series_instance_uid: str
    sop_instance_uid: str
    segmentation_type: str
    frames: int
    bytes: int
    source_series_uid: str
    source_images: int
    segments: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what was written where."""
        return (
            f"wrote {self.path}: {self.segmentation_type} SEG, {len(self.segments)} segment"
            f"{'s' if len(self.segments) != 1 else ''}, {self.frames:,} frames, "
            f"{_size(self.bytes)}, of series {self.source_series_uid} "
            f"({self.source_images} images)"
        )


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} bytes"


# --- masks: names, grids, arrays ---------------------------------------------------------------


def _stem(path: Path) -> str:
    name = path.name
    for suffix in MASK_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


@dataclass
class _MaskFile:
    path: Path
    shape_xyz: tuple[int, ...]
    dtype: np.dtype
    grid: Grid

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def floating(self) -> bool:
        return bool(np.issubdtype(self.dtype, np.floating))


def _open_mask(path: Path) -> _MaskFile:
    """The header of a mask file: its shape, type and grid (no voxels read)."""
    if not path.is_file():
        raise UsageError(f"mask {path}: no such file")
    lower = path.name.lower()
    if not lower.endswith(MASK_SUFFIXES):
        raise UsageError(f"mask {path}: not a NIfTI (.nii, .nii.gz) or NRRD (.nrrd, .nhdr) file")
    try:
        if lower.endswith((".nrrd", ".nhdr")):
            import nrrd

            header = nrrd.read_header(str(path))
            shape = tuple(int(v) for v in header["sizes"])
            space = str(header.get("space", "")).lower()
            if space not in ("left-posterior-superior", "lps", "right-anterior-superior", "ras"):
                raise UsageError(
                    f"mask {path}: NRRD space {space or 'unset'!r} is not patient space "
                    "(left-posterior-superior)"
                )
            directions = np.asarray(header["space directions"], dtype=float)
            affine = np.eye(4)
            affine[:3, :3] = directions.T
            affine[:3, 3] = np.asarray(header.get("space origin", [0, 0, 0]), dtype=float)
            kind = str(header.get("type", "")).lower()
            dtype = np.dtype(np.float64 if kind in ("float", "double") else np.int64)
            ras = space in ("right-anterior-superior", "ras")
        else:
            import nibabel as nib

            image = nib.load(path)
            shape = tuple(int(v) for v in image.shape)
            affine = np.asarray(image.affine, dtype=float)
            dtype = np.dtype(image.get_data_dtype())
            slope, _ = image.header.get_slope_inter()
            if slope not in (None, 1.0):
                dtype = np.dtype(np.float64)
            ras = True
    except UsageError:
        raise
    except Exception as exc:  # nibabel / pynrrd: many error types for one bad file
        raise UsageError(f"mask {path}: cannot be read ({type(exc).__name__}: {exc})") from None
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise UsageError(
            f"mask {path}: a {len(shape)}-D image of shape {shape}; give 3-D masks, one file per "
            "segment or one label map"
        )
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise UsageError(f"mask {path}: its affine (voxel → patient transform) is degenerate")
    grid = Grid.from_file_affine(shape, affine, ras=ras)
    return _MaskFile(path, shape, dtype, grid)


def _read_voxels(mask: _MaskFile) -> np.ndarray:
    """The mask's voxels as ``[slice, row, column]`` of its own grid (a view where possible)."""
    if mask.path.name.lower().endswith((".nrrd", ".nhdr")):
        import nrrd

        data, _ = nrrd.read(str(mask.path))
    else:
        data = _read_nifti(mask.path)
    if data.ndim == 4:
        data = data[..., 0]
    return data.transpose(2, 1, 0)


def _read_nifti(path: Path) -> np.ndarray:
    """A NIfTI image's voxels, decompressed straight into one array (nibabel's reader holds the
    decompressed bytes and the array at once: twice the volume); nibabel for scaled data."""
    import gzip

    import nibabel as nib

    image = nib.load(path)
    header = image.header
    slope, intercept = header.get_slope_inter()
    dtype = header.get_data_dtype()
    if (
        slope not in (None, 1.0)
        or intercept not in (None, 0.0)
        or not isinstance(image, nib.Nifti1Image | nib.Nifti2Image)
    ):
        return np.asanyarray(image.dataobj)
    data = np.empty(image.shape, dtype=dtype.newbyteorder("="), order="F")
    target = memoryview(data.reshape(-1, order="A")).cast("B")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        fh.seek(int(image.dataobj.offset))
        filled = 0
        while filled < len(target):  # in pieces: gzip would build one bytes object of it all
            got = fh.readinto(target[filled : filled + (4 << 20)])
            if not got:
                raise UsageError(f"mask {path}: the file ends before its voxels do (truncated)")
            filled += got
    if not dtype.isnative:
        data.byteswap(inplace=True)
    return data


def _axis_words(grid: Grid) -> str:
    """'columns→L, rows→P, slices→S' style description of a grid's axes."""
    names = ("slices", "rows", "columns")
    words = []
    for axis in (2, 1, 0):
        vector = grid.affine[:3, axis]
        k = int(np.argmax(np.abs(vector)))
        letter = "LPS"[k] if vector[k] > 0 else "RAI"[k]
        words.append(f"{names[axis]}→{letter}")
    return ", ".join(words)


def _describe(grid: Grid) -> str:
    lengths = [float(np.linalg.norm(grid.affine[:3, axis])) for axis in (2, 1, 0)]
    size = "×".join(str(grid.shape[axis]) for axis in (2, 1, 0))
    spacing = "×".join(f"{v:.4g}" for v in lengths)
    origin = ", ".join(f"{v:.2f}" for v in grid.origin)
    return f"{size} voxels of {spacing} mm, {_axis_words(grid)}, first voxel at ({origin}) LPS"


def orientation_on(mask: Grid, source: Grid, what: str) -> tuple[tuple[int, int, int], tuple]:
    """How *mask*'s voxels lie on *source*'s grid: the axis order and flips that turn an array
    ``[slice, row, column]`` of *mask* into one of *source*.

    The two grids must hold the same voxels, in any axis order or direction. Otherwise raises
    :class:`GeometryError` naming what differs; nothing is ever resampled.
    """
    identity = ((0, 1, 2), (False, False, False))
    if mask.same_as(source):
        return identity
    to_source = np.linalg.inv(source.affine) @ mask.affine  # mask index → source index
    rotation, shift = to_source[:3, :3], to_source[:3, 3]
    signed = np.round(rotation)
    is_permutation = (
        np.allclose(rotation, signed, atol=1e-3)
        and np.all(np.abs(signed).sum(axis=0) == 1)
        and np.all(np.abs(signed).sum(axis=1) == 1)
    )
    if is_permutation:
        axes = tuple(int(np.argmax(np.abs(signed[a]))) for a in range(3))
        flips = tuple(bool(signed[a, axes[a]] < 0) for a in range(3))
        shape_ok = all(mask.shape[axes[a]] == source.shape[a] for a in range(3))
        expected = np.array([source.shape[a] - 1 if flips[a] else 0 for a in range(3)])
        if shape_ok and np.max(np.abs(shift - expected)) <= RTOL * 5:
            return axes, flips  # type: ignore[return-value]
    differences = []
    mask_sizes = sorted(mask.shape)
    if mask_sizes != sorted(source.shape):
        differences.append("size")
    mask_spacing = sorted(float(np.linalg.norm(mask.affine[:3, a])) for a in range(3))
    source_spacing = sorted(float(np.linalg.norm(source.affine[:3, a])) for a in range(3))
    if not np.allclose(mask_spacing, source_spacing, rtol=1e-3):
        differences.append("voxel size")
    if not is_permutation and "voxel size" not in differences:
        differences.append("axis directions")
    if not differences:
        differences.append("position")
    raise GeometryError(
        f"{what} is not on the source series' grid ({' and '.join(differences)} differ): "
        f"mask {_describe(mask)}; source {_describe(source)}. idcseg does not resample: "
        "save the mask on the CT's grid (most tools can use the CT as reference)"
    )


def _oriented(array: np.ndarray, axes: tuple[int, int, int], flips: tuple) -> np.ndarray:
    if axes != (0, 1, 2):
        array = array.transpose(axes)
    for axis, flip in enumerate(flips):
        if flip:
            array = np.flip(array, axis=axis)
    return array


# --- what the segments are ---------------------------------------------------------------------


def parse_labels(items: Sequence[str] | str | None) -> dict[str, str]:
    """``VALUE=NAME`` / ``FILE=NAME`` items, comma separated or repeated; a preset name
    (``totalsegmentator``); or a file (``.json`` object, or lines ``VALUE,NAME`` /
    ``VALUE NAME`` / ``VALUE=NAME``). Keys are strings: label values or mask file names."""
    if items is None:
        return {}
    if isinstance(items, str):
        items = [items]
    mapping: dict[str, str] = {}
    for item in items:
        text = item.strip()
        presets = structures.presets()
        if text.lower() in presets:
            mapping.update({str(k): v for k, v in presets[text.lower()].items()})
            continue
        if "=" not in text and ":" not in text:
            path = Path(text)
            if path.is_file():
                mapping.update(_labels_file(path))
                continue
            raise UsageError(
                f"--labels {text!r}: give VALUE=NAME items (1=liver,2=spleen), a file of them, "
                f"or a preset ({', '.join(sorted(presets))})"
            )
        for part in text.split(","):
            if not part.strip():
                continue
            found = _LABEL_ITEM.fullmatch(part)
            if not found:
                raise UsageError(f"--labels item {part.strip()!r} is not VALUE=NAME")
            mapping[found[1]] = found[2]
    return mapping


def _labels_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--labels {path}: cannot be read ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--labels {path}: not valid JSON ({exc.msg})") from None
        if not isinstance(document, dict):
            raise UsageError(f'--labels {path}: expected an object {{"1": "liver", ...}}')
        return {str(k): str(v) for k, v in document.items()}
    mapping = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = re.split(r"\s*[,=:\t]\s*|\s+", line, maxsplit=1)
        if len(parts) != 2 or not parts[1]:
            raise UsageError(f"--labels {path} line {number}: expected VALUE NAME, got {line!r}")
        mapping[parts[0]] = parts[1].strip().strip('"')
    return mapping


def _label_value(key: str, where: str) -> int:
    try:
        value = int(key)
    except ValueError:
        raise UsageError(f"{where}: {key!r} is not a label value (1..65535)") from None
    if not 0 < value < 65536:
        raise UsageError(f"{where}: label value {value} is not in 1..65535")
    return value


def _known(name: str) -> bool:
    try:
        structures.lookup(name)
    except UsageError:
        return False
    return True


def _structure(name: str, where: str) -> structures.Structure:
    try:
        return structures.lookup(name)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _describe_files(
    files: list[_MaskFile],
    labels: dict[str, str],
    fractional: bool,
    algorithm_type: str,
    algorithm_name: str | None,
) -> list[tuple[str, list[SegmentSpec]]]:
    """(layer kind, segments) per mask file, from --labels or the files' names."""
    described = []
    by_file = {k: v for k, v in labels.items() if not k.strip().isdigit()}
    by_value = {k: v for k, v in labels.items() if k.strip().isdigit()}
    stems = {_stem(f.path): f for f in files}
    unknown = [k for k in by_file if k not in stems and k not in {f.name for f in files}]
    if unknown:
        raise UsageError(
            f"--labels names {', '.join(repr(k) for k in unknown)}, which is neither a label "
            f"value nor a mask file given ({', '.join(sorted(stems))})"
        )
    if by_value and len(files) > 1:
        raise UsageError(
            "--labels VALUE=NAME describes the values of one label map, but "
            f"{len(files)} mask files are given: name files instead (FILE=NAME), or pass one "
            "label map"
        )
    for index, mask in enumerate(files):
        kind = "fractional" if fractional and mask.floating else "nonzero"
        if by_value:
            segments = [
                from_structure(
                    _structure(name, f"--labels {key}={name}"),
                    file_index=index,
                    label_value=_label_value(key, "--labels"),
                    algorithm_type=algorithm_type,
                    algorithm_name=algorithm_name,
                )
                for key, name in sorted(by_value.items(), key=lambda kv: int(kv[0]))
            ]
            described.append(("label", segments))
            continue
        stem = _stem(mask.path)
        name = by_file.get(stem) or by_file.get(mask.name)
        where = f"--labels {stem}={name}" if name else f"mask {mask.name}"
        if name is None:
            name = stem
            numbered = re.fullmatch(r"\d+[_-](.+)", stem)  # idcseg masks' "03_kidney_left"
            if numbered and not _known(stem) and _known(numbered[1]):
                name = numbered[1]
        try:
            structure = structures.lookup(name)
        except UsageError as exc:
            if name == stem:
                raise UsageError(
                    f"mask {mask.name}: {stem!r} is not a structure name idcseg knows — "
                    f"{structures.suggest(stem)}; name it with --labels {stem}=NAME (or "
                    "VALUE=NAME for a label map), or describe segments with --meta"
                ) from None
            raise UsageError(f"{where}: {exc}") from None
        spec = from_structure(
            structure,
            file_index=index,
            label_value=1,
            algorithm_type=algorithm_type,
            algorithm_name=algorithm_name,
        )
        described.append((kind, [spec]))
    return described


# --- the command -------------------------------------------------------------------------------


def _source_series(folder: Path, series_uid: str | None, progress: Callable[[str], None]):
    from .reference import ReferenceFolder

    if not folder.is_dir():
        raise UsageError(f"--source {folder}: not a folder (the source series' DICOM files)")
    progress(f"reading DICOM headers in {folder}")
    try:
        found = ReferenceFolder(folder)
    except IdcsegError:
        raise UsageError(
            f"--source {folder}: no DICOM images there (give the folder of the image series "
            "the masks were drawn on)"
        ) from None
    uids = found.series_uids
    if series_uid is not None:
        if series_uid not in uids:
            raise UsageError(
                f"--source-series {series_uid} is not in {folder} (it holds "
                f"{', '.join(uids[:5])}{' ...' if len(uids) > 5 else ''})"
            )
        uid = series_uid
    elif len(uids) > 1:
        described = []
        for u in uids[:5]:
            items = found._files[u]  # noqa: SLF001 - the folder's own index
            modality = items[0][1].get("Modality") or "?"
            described.append(f"{u} ({modality}, {len(items)} images)")
        raise UsageError(
            f"--source {folder} holds {len(uids)} image series: {'; '.join(described)}"
            f"{' ...' if len(uids) > 5 else ''} — pick one with --source-series UID"
        )
    else:
        uid = uids[0]
    try:
        return found.series(uid)
    except GeometryError as exc:  # not one regular stack of single-frame images
        raise UsageError(f"--source {folder}: {exc}") from None


def _timestamp(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None:
        return value
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC).replace(tzinfo=None)
        except ValueError:
            raise UsageError(f"$SOURCE_DATE_EPOCH {epoch!r} is not a number of seconds") from None
    return None


def make_seg(
    masks: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    meta: str | os.PathLike[str] | None = None,
    labels: Sequence[str] | str | dict[Any, str] | None = None,
    segmentation_type: str = "binary",
    fractional_type: str = "probability",
    algorithm_type: str | None = None,
    algorithm_name: str | None = None,
    algorithm_version: str | None = None,
    series_description: str | None = None,
    series_number: int | None = None,
    content_creator: str | None = None,
    compression: str = "none",
    keep_empty_frames: bool = False,
    uid_root: str | None = None,
    timestamp: dt.datetime | None = None,
    source_series: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> MadeSeg:
    """Write a DICOM SEG of the image series in *source* from research masks.

    Args:
        masks: NIfTI/NRRD files on the source series' grid: one label map, or one file per
            segment (any nonzero voxel belongs to it; fractions in [0, 1] for a fractional
            SEG). With *meta*, files in the order of its ``segmentAttributes``.
        source: folder of the DICOM images the masks were drawn on (one series).
        output: the SEG file to write (replaced if it exists; never left half-written).
        meta: dcmqi's metadata JSON (``itkimage2segimage --inputMetadata``).
        labels: what label values (or mask files) are: ``"1=liver,2=spleen"``, a list of such
            items, a ``{value: name}`` dict, a file of them, or a preset
            (``"totalsegmentator"``, ``"totalsegmentator-v1"``, ``"nnunet-bpr"``). Names are
            looked up in the shipped structure table. Without *meta* or *labels*, each file's
            name (``liver.nii.gz``) names its segment.
        segmentation_type: ``binary`` (segments may overlap), ``fractional`` or ``labelmap``
            (Label Map Segmentation Storage; label values kept where unique).
        fractional_type: ``probability`` or ``occupancy`` (fractional SEGs).
        algorithm_type, algorithm_name, algorithm_version: how the segments were made
            (``AUTOMATIC`` when a name is given without a type, else ``MANUAL``); override
            *meta*.
        series_description, series_number, content_creator: series attributes (override meta).
        compression: ``none``, ``deflate`` (any type), ``jpeg-ls`` or ``rle`` (fractional and
            label map SEGs: BINARY frames are 1 bit per pixel).
        keep_empty_frames: write frames with no voxel too (default: omit them).
        uid_root: a UID prefix: the SEG's UIDs become ``ROOT.1`` (series), ``ROOT.2``
            (instance)... so the same inputs give the same file (with *timestamp*).
        timestamp: content date/time (default now, or ``$SOURCE_DATE_EPOCH``).
        source_series: the SeriesInstanceUID to use when *source* holds several series.
        progress: called with a short text as work proceeds.

    Returns:
        :class:`MadeSeg`: the file, its UIDs and its segments.

    Raises:
        UsageError: bad input (unknown structure name, values without a description, masks
            off the source grid, a folder with several series...); the message says what to do.
    """
    say = progress or (lambda text: None)
    paths = expand_masks([masks] if isinstance(masks, str | os.PathLike) else list(masks))
    if not paths:
        raise UsageError("give at least one mask file (NIfTI or NRRD)")
    kind = TYPES.get(segmentation_type.lower())
    if kind is None:
        raise UsageError(f"--type {segmentation_type!r}: use binary, fractional or labelmap")
    if meta is not None and labels:
        raise UsageError("--meta and --labels both describe the segments: give one of them")
    output = Path(output)
    if output.is_dir():
        raise UsageError(f"--output {output} is a folder; give a file name (e.g. seg.dcm)")
    if algorithm_type is not None and algorithm_type.upper() not in ALGORITHM_TYPES:
        raise UsageError(
            f"--algorithm-type {algorithm_type!r}: use AUTOMATIC, SEMIAUTOMATIC or MANUAL"
        )
    options = segwrite.Options(
        segmentation_type=kind,
        fractional_type=fractional_type.upper(),
        compression=compression.lower(),
        omit_empty_frames=not keep_empty_frames,
        uid_root=uid_root,
        timestamp=_timestamp(timestamp),
    )
    options.check()

    files = [_open_mask(path) for path in paths]
    if meta is not None:
        series_spec, groups = dcmqimeta.read(meta)
        if len(groups) != len(files):
            raise UsageError(
                f"--meta {meta} describes {len(groups)} mask file(s) (segmentAttributes holds "
                f"{len(groups)} list(s)) but {len(files)} are given"
            )
        layers_specs = [
            (
                "fractional" if kind == "FRACTIONAL" and f.floating and len(g) == 1 else "label",
                [with_algorithm(s, algorithm_type, algorithm_name, algorithm_version) for s in g],
            )
            for f, g in zip(files, groups, strict=True)
        ]
    elif not labels and (described := sidecar.describe(paths)) is not None:
        series_spec = SeriesSpec()  # idcseg masks' segments.json describes these very files
        say(f"segments described by {paths[0].parent / sidecar.SIDECAR}")
        layers_specs = [
            (
                _sidecar_layer_kind(f, g, kind == "FRACTIONAL"),
                [with_algorithm(s, algorithm_type, algorithm_name, algorithm_version) for s in g],
            )
            for f, g in zip(files, described, strict=True)
        ]
    else:
        series_spec = SeriesSpec()
        mapping = (
            {str(k): str(v) for k, v in labels.items()}
            if isinstance(labels, dict)
            else parse_labels(labels)
        )
        chosen_type = (algorithm_type or ("AUTOMATIC" if algorithm_name else "MANUAL")).upper()
        layers_specs = [
            (layer_kind, [with_algorithm(s, None, None, algorithm_version) for s in specs])
            for layer_kind, specs in _describe_files(
                files, mapping, kind == "FRACTIONAL", chosen_type, algorithm_name
            )
        ]
    if series_description is not None:
        series_spec.series_description = series_description
    if series_number is not None:
        series_spec.series_number = series_number
    if content_creator is not None:
        series_spec.content_creator_name = content_creator
    options.series = series_spec

    series = _source_series(Path(source), source_series, say)
    layers = []
    for mask, (layer_kind, specs) in zip(files, layers_specs, strict=True):
        try:
            axes, flips = orientation_on(mask.grid, series.grid, f"mask {mask.name}")
        except GeometryError as exc:  # bad input: the masks were not saved on the CT's grid
            raise UsageError(str(exc)) from None
        layers.append(
            segwrite.Layer(
                mask.name,
                specs,
                (lambda m=mask, a=axes, f=flips: _oriented(_read_voxels(m), a, f)),
                layer_kind,
            )
        )
    import pydicom

    say(f"reading {len(series.files)} source image headers")
    datasets = [pydicom.dcmread(path, stop_before_pixels=True) for path in series.files]
    written = segwrite.write(datasets, layers, output, options, progress=say)
    return MadeSeg(
        path=written.path,
        series_instance_uid=written.series_instance_uid,
        sop_instance_uid=written.sop_instance_uid,
        segmentation_type=written.segmentation_type,
        frames=written.frames,
        bytes=written.bytes,
        source_series_uid=series.series_uid,
        source_images=len(series.files),
        segments=[_segment_row(number, spec, files) for number, spec in written.segments],
        skipped=[
            f"{s.label} (value {s.label_value} of {files[s.file_index].name})"
            for s in written.skipped
        ],
    )


def _segment_row(number: int, spec: SegmentSpec, files: list[_MaskFile]) -> dict[str, Any]:
    return {
        "SegmentNumber": number,
        "SegmentLabel": spec.label,
        "file": files[spec.file_index].name,
        "label_value": spec.label_value,
        "category": f"{spec.category.scheme}:{spec.category.value}",
        "structure": spec.type.meaning,
        "structure_code": f"{spec.type.scheme}:{spec.type.value}",
        "modifier": spec.type_modifier.meaning if spec.type_modifier else None,
        "anatomy": spec.region.meaning if spec.region else None,
        "SegmentAlgorithmType": spec.algorithm_type,
        "SegmentAlgorithmName": spec.algorithm_name,
    }


def _sidecar_layer_kind(mask: _MaskFile, specs: list[SegmentSpec], fractional: bool) -> str:
    """How a mask file described by ``segments.json`` holds its segments: one segment in any
    nonzero voxel (or fractions), or several by voxel value (a merged label map)."""
    if len(specs) == 1 and specs[0].label_value == 1:
        return "fractional" if fractional and mask.floating else "nonzero"
    return "label"


def expand_masks(items: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Mask paths: files as given, folders replaced by their mask files (sorted by name)."""
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(MASK_SUFFIXES)
            )
            if not found:
                raise UsageError(f"mask folder {path}: no .nii.gz, .nii or .nrrd files in it")
            paths.extend(found)
        else:
            paths.append(path)
    return paths
