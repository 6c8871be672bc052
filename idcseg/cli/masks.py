"""``idcseg masks`` (SEG → NIfTI / NRRD / npz volumes) and ``idcseg stats`` (per-segment
measurements), from SEG files, folders or IDC series."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError
from .app import FormatOpt, OutputOpt, app, segment_filters

_SELECT = "Segments"
_GEOMETRY = "Geometry"
_BUCKET = "IDC bucket"
MASK_FORMATS = ("nifti", "nrrd", "npz")

SourcesArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="SEG files, folders of SEGs (searched recursively), or IDC SEG SeriesInstanceUIDs.",
        show_default=False,
    ),
]
SeriesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--series",
        help="An IDC SEG SeriesInstanceUID, read from IDC's public bucket (repeatable).",
        rich_help_panel=_SELECT,
    ),
]
SegmentOpt = Annotated[
    list[int] | None,
    typer.Option(
        "--segment", "-n", help="SegmentNumber (repeatable; default all).", rich_help_panel=_SELECT
    ),
]
ReferenceOpt = Annotated[
    Path | None,
    typer.Option(
        "--reference",
        "-r",
        help="Folder with the segmented series' DICOM files: masks get exactly its grid "
        "(shape, affine). Default: the stack the SEG's own frames span.",
        rich_help_panel=_GEOMETRY,
    ),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        help="FRACTIONAL SEGs: voxels whose fraction is at least T (0–1) are in the mask.",
        rich_help_panel=_SELECT,
    ),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        envvar="IDCSEG_S3_ENDPOINT",
        help="S3-compatible server, http(s)://host[:port] (path-style). Default: AWS.",
        rich_help_panel=_BUCKET,
    ),
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds per request.", rich_help_panel=_BUCKET)
]
AttemptsOpt = Annotated[
    int,
    typer.Option(
        "--attempts", help="Tries per request on 5xx, timeouts, resets.", rich_help_panel=_BUCKET
    ),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency", "-j", help="Parallel range requests per object.", rich_help_panel=_BUCKET
    ),
]


@app.command("masks")
@segment_filters
def masks_command(
    segment_filter: Any,
    sources: SourcesArg = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Folder to write into (made if missing).", show_default=False
        ),
    ] = None,
    series: SeriesOpt = None,
    segment: SegmentOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="nifti (.nii.gz, RAS), nrrd (LPS) or npz.")
    ] = "nifti",
    merge: Annotated[
        bool,
        typer.Option("--merge", help="One label map (voxel value = segment number) per SEG."),
    ] = False,
    overlap: Annotated[
        str,
        typer.Option(
            "--overlap",
            help="With --merge, where segments overlap: error (name them), first (lowest "
            "number wins) or last.",
        ),
    ] = "error",
    threshold: ThresholdOpt = None,
    reference: ReferenceOpt = None,
    preview: Annotated[
        Path | None,
        typer.Option(
            "--preview",
            help="Also draw the busiest slice with the masks over the reference image (PNG).",
        ),
    ] = None,
    endpoint: EndpointOpt = None,
    timeout: TimeoutOpt = 20.0,
    attempts: AttemptsOpt = 5,
    concurrency: ConcurrencyOpt = 8,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress line on stderr (default: when stderr is a terminal).",
        ),
    ] = None,
) -> None:
    """Write the masks of DICOM SEGs as volumes aligned to the images they segment.

    One file per segment (`NN_label.nii.gz`), or one label map with --merge, plus
    `segments.json` (every segment's codes, colour, file, voxel count, and the geometry).
    Binary and label-map segments are 0/1 uint8; FRACTIONAL segments float32 fractions
    (uint8 with --threshold). Frames the SEG omits are zero slices, never dropped. With
    several SEGs, each gets a subfolder named by its SeriesInstanceUID.

    An IDC series is read from IDC's public bucket: the header, then only the byte ranges
    of the wanted segments' frames (the share read is reported).

    \b
    Examples:
      idcseg masks seg.dcm -o masks/
      idcseg masks seg.dcm -o masks/ --reference ct/ --preview overlay.png
      idcseg masks segs/ -o masks/ --structure Kidney --modifier Left --format nrrd
      idcseg masks seg.dcm -o masks/ --merge --overlap first
      idcseg masks --series 1.2.276.0.7230010.3.1.3.0.89314.1553284067.990548 -o nodule/
    """
    from ..dicom import maskio, masks
    from ..dicom.sources import SegSources, resolve

    fmt = fmt.lower()
    if fmt not in MASK_FORMATS:
        raise UsageError(f"unknown --format {fmt!r} (choose from {', '.join(MASK_FORMATS)})")
    overlap = overlap.lower()
    if overlap not in masks.OVERLAP_POLICIES:
        raise UsageError(f"unknown --overlap {overlap!r} (choose from error, first, last)")
    if overlap != "error" and not merge:
        raise UsageError("--overlap applies to --merge")
    threshold = masks.check_threshold(threshold)
    if output is None:
        raise UsageError("say where to write: --output DIR")
    _check_folder(output)
    if preview is not None:
        _check_preview(preview)
    found = resolve(sources or [], series or [])
    folder = _reference(reference)
    started = time.monotonic()
    reader = SegSources(
        found, endpoint=endpoint, timeout=timeout, attempts=attempts, concurrency=concurrency
    )
    show = _Progress(sys.stderr.isatty() if progress is None else progress)
    failures: list[tuple[str, str]] = []
    done: list[tuple[Any, list[Any]]] = []
    unmatched: list[str] = []
    try:
        opened = list(reader)
        many = sum(1 for o in opened if o.seg is not None) > 1
        names = _folder_names([o.seg for o in opened if o.seg is not None])
        for index, item in enumerate(opened):
            if item.seg is None:
                failures.append((item.location, str(item.error)))
                if len(opened) == 1:
                    raise item.error  # type: ignore[misc]
                continue
            seg = item.seg
            try:
                numbers = masks.select(seg, segment, segment_filter)
                if not numbers:
                    unmatched.append(seg.describe())
                    continue
                placement = masks.place(seg, _series_for(folder, seg))
                target = output / names[seg.sop_uid] if many else output
                target.mkdir(parents=True, exist_ok=True)
                show.seg(index + 1, len(opened), len(numbers))
                written = masks.export(
                    seg,
                    placement,
                    numbers,
                    target,
                    fmt=fmt,
                    merge=merge,
                    overlap=overlap,
                    threshold=threshold,
                    done=show.file,
                )
                done.append((seg, written))
                if preview is not None:
                    picture = preview if not many else _numbered(preview, names[seg.sop_uid])
                    _draw(seg, placement, numbers, threshold, picture)
            except Exception as exc:
                if not many:
                    raise
                from ..errors import IdcsegError

                if not isinstance(exc, IdcsegError):
                    raise
                failures.append((seg.describe(), str(exc)))
            finally:
                seg.close()
    finally:
        show.close()
        reader.close()
    if not done and not failures:
        what = unmatched[0] if len(unmatched) == 1 else f"any of {len(unmatched)} SEGs"
        raise UsageError(f"no segment of {what} matches the filters; nothing written")
    _report(done, failures, reader, output, fmt, maskio, time.monotonic() - started)
    for where in unmatched:
        print(f"{where}: no segment matches the filters; nothing written", file=sys.stderr)
    if failures:
        raise typer.Exit(1)


def _check_folder(output: Path) -> None:
    import os

    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output}: a file, not a folder")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot make the folder {output}: {exc.strerror or exc}") from None
    if not os.access(output, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write in {output}: permission denied")


def _check_preview(preview: Path) -> None:
    from ..present.output import check_target
    from ..present.plot import PLOT_SUFFIXES, require_matplotlib

    if preview.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--preview {preview}: the name must end in .png or .svg")
    check_target("csv", preview)
    require_matplotlib()


def _reference(reference: Path | None) -> Any:
    if reference is None:
        return None
    from ..dicom.reference import ReferenceFolder

    return ReferenceFolder(reference)


def _series_for(folder: Any, seg: Any) -> Any:
    if folder is None:
        return None
    return folder.series_for(seg.referenced_series, seg.frame_of_reference, seg.describe())


def _folder_names(segs: list[Any]) -> dict[str, str]:
    """Subfolder per SEG instance: its SeriesInstanceUID, plus the SOPInstanceUID when a series
    has several instances."""
    per_series: dict[str, int] = {}
    for seg in segs:
        per_series[seg.series_uid] = per_series.get(seg.series_uid, 0) + 1
    return {
        seg.sop_uid: seg.series_uid
        if per_series[seg.series_uid] == 1
        else f"{seg.series_uid}_{seg.sop_uid}"
        for seg in segs
    }


def _numbered(preview: Path, name: str) -> Path:
    return preview.with_name(f"{preview.stem}_{name}{preview.suffix}")


def _draw(seg: Any, placement: Any, numbers: list[int], threshold: Any, target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from ..dicom.masks import preview as draw
    from ..present.plot import save_figure

    save_figure(draw(seg, placement, numbers, threshold=threshold), target)
    print(f"preview written to {target}", file=sys.stderr)


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 100_000 else f"{nbytes / 1e3:.1f} kB"


def _report(
    done: list[tuple[Any, list[Any]]],
    failures: list[tuple[str, str]],
    reader: Any,
    output: Path,
    fmt: str,
    maskio: Any,
    seconds: float,
) -> None:
    files = sum(len(w) for _, w in done)
    segs = len(done)
    line = (
        f"wrote {files} {fmt} file{'s' if files != 1 else ''} of {segs} SEG"
        f"{'s' if segs != 1 else ''} into {output} ({maskio.suffix(fmt)} + segments.json) "
        f"in {seconds:.1f} s"
    )
    print(line, file=sys.stderr)
    if reader.remotes:
        share = reader.bytes_read / reader.bytes_total if reader.bytes_total else 0
        print(
            f"read {_mb(reader.bytes_read)} of {_mb(reader.bytes_total)} ({share:.1%}) from the "
            f"bucket in {reader.requests} range request{'s' if reader.requests != 1 else ''}",
            file=sys.stderr,
        )
    if reader.skipped:
        print(f"skipped {len(reader.skipped)} files that are not SEGs", file=sys.stderr)
    for where, why in failures:
        print(f"failed {where}: {why}", file=sys.stderr)


class _Progress:
    """``masks: SEG 1/3  segment 17/104`` on stderr."""

    def __init__(self, enabled: bool) -> None:
        from ..present.progress import ProgressLine

        self.line = ProgressLine(enabled)
        self.which = (0, 0)
        self.count = 0
        self.total = 0

    def seg(self, index: int, of: int, segments: int) -> None:
        self.which, self.count, self.total = (index, of), 0, segments
        self._show(True)

    def file(self, written: Any) -> None:
        self.count += 1
        self._show(self.count == self.total)

    def _show(self, force: bool) -> None:
        if self.line.due(force):
            index, of = self.which
            self.line.show(f"masks: SEG {index}/{of}  file {self.count}/{self.total}")

    def close(self) -> None:
        self.line.close()


@app.command("stats")
@segment_filters
def stats_command(
    segment_filter: Any,
    sources: SourcesArg = None,
    series: SeriesOpt = None,
    segment: SegmentOpt = None,
    threshold: ThresholdOpt = None,
    reference: ReferenceOpt = None,
    endpoint: EndpointOpt = None,
    timeout: TimeoutOpt = 20.0,
    attempts: AttemptsOpt = 5,
    concurrency: ConcurrencyOpt = 8,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Measure each segment: voxels, volume (ml), bounding box, centroid, slices.

    One row per segment: SeriesInstanceUID, SegmentNumber, SegmentLabel, structure (meaning
    and code), voxel_count, volume_ml, first/last slice, row and column of the bounding box
    (voxel indices of the grid, as `masks` writes it), the box and the centroid in LPS mm,
    and the number of slices the segment touches. FRACTIONAL segments count voxels whose
    fraction is at least --threshold (default 0.5).

    \b
    Examples:
      idcseg stats seg.dcm
      idcseg stats segs/ --structure Nodule --format csv -o nodules.csv
      idcseg stats seg.dcm --reference ct/ --format json
    """
    from ..dicom import masks
    from ..dicom.sources import SegSources, resolve
    from ..present.output import Rows, check_target, write_result

    check_target(fmt, output)
    threshold = masks.check_threshold(threshold)
    found = resolve(sources or [], series or [])
    folder = _reference(reference)
    reader = SegSources(
        found, endpoint=endpoint, timeout=timeout, attempts=attempts, concurrency=concurrency
    )
    rows: list[tuple[Any, ...]] = []
    failures: list[tuple[str, str]] = []
    try:
        opened = list(reader)
        for item in opened:
            if item.seg is None:
                if len(opened) == 1:
                    raise item.error  # type: ignore[misc]
                failures.append((item.location, str(item.error)))
                continue
            seg = item.seg
            try:
                numbers = masks.select(seg, segment, segment_filter)
                placement = masks.place(seg, _series_for(folder, seg))
                for row in masks.measure(seg, placement, numbers, threshold):
                    rows.append(tuple(row[c] for c in masks.STAT_COLUMNS))
            except Exception as exc:
                from ..errors import IdcsegError

                if len(opened) == 1 or not isinstance(exc, IdcsegError):
                    raise
                failures.append((seg.describe(), str(exc)))
            finally:
                seg.close()
    finally:
        reader.close()
    write_result(Rows(list(masks.STAT_COLUMNS), rows), fmt, output)
    for where, why in failures:
        print(f"failed {where}: {why}", file=sys.stderr)
    if failures:
        raise typer.Exit(1)
