"""``idcseg make-seg``: research masks → a DICOM SEG; ``idcseg structures``: the names it knows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .app import FormatOpt, OutputOpt, app

_DESCRIBE = "Segment descriptions"
_WRITE = "How to write"


@app.command("make-seg")
def make_seg(
    masks: Annotated[
        list[Path],
        typer.Argument(
            help="NIfTI (.nii.gz, .nii) or NRRD masks on the source series' grid: one label "
            "map, one file per segment, or a folder of them.",
            show_default=False,
        ),
    ],
    source: Annotated[
        Path,
        typer.Option("--source", help="Folder of the DICOM image series the masks were drawn on."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The SEG file to write (e.g. seg.dcm).")
    ],
    meta: Annotated[
        Path | None,
        typer.Option(
            "--meta",
            help="dcmqi's metadata JSON (itkimage2segimage --inputMetadata): codes, algorithm, "
            "colour of each label, one list per mask file.",
            rich_help_panel=_DESCRIBE,
        ),
    ] = None,
    labels: Annotated[
        list[str] | None,
        typer.Option(
            "--labels",
            help="What label values are: 1=liver,2=spleen (repeatable), a file of VALUE=NAME "
            "lines or a JSON object, or a preset: totalsegmentator, totalsegmentator-v1, "
            "nnunet-bpr. With several files, FILE=NAME. Default: each file's name "
            "(liver.nii.gz). Names: see `idcseg structures`.",
            rich_help_panel=_DESCRIBE,
        ),
    ] = None,
    algorithm_type: Annotated[
        str | None,
        typer.Option(
            "--algorithm-type",
            help="AUTOMATIC, SEMIAUTOMATIC or MANUAL (default: AUTOMATIC with "
            "--algorithm-name, else MANUAL, or --meta's).",
            rich_help_panel=_DESCRIBE,
        ),
    ] = None,
    algorithm_name: Annotated[
        str | None,
        typer.Option(
            "--algorithm-name",
            help="The software that made the masks (e.g. TotalSegmentator).",
            rich_help_panel=_DESCRIBE,
        ),
    ] = None,
    algorithm_version: Annotated[
        str | None,
        typer.Option("--algorithm-version", help="Its version.", rich_help_panel=_DESCRIBE),
    ] = None,
    series_description: Annotated[
        str | None,
        typer.Option(
            "--series-description",
            help="SeriesDescription of the SEG (default: --meta's, else 'Segmentation').",
            rich_help_panel=_DESCRIBE,
        ),
    ] = None,
    series_number: Annotated[
        int | None,
        typer.Option(
            "--series-number", help="SeriesNumber (default 300).", rich_help_panel=_DESCRIBE
        ),
    ] = None,
    content_creator: Annotated[
        str | None,
        typer.Option(
            "--content-creator",
            help="ContentCreatorName, as DICOM writes names: Family^Given.",
            rich_help_panel=_DESCRIBE,
        ),
    ] = None,
    seg_type: Annotated[
        str,
        typer.Option(
            "--type",
            help="binary (segments may overlap), fractional (probabilities in [0, 1]), or "
            "labelmap (Label Map Segmentation Storage).",
            rich_help_panel=_WRITE,
        ),
    ] = "binary",
    fractional_type: Annotated[
        str,
        typer.Option(
            "--fractional-type",
            help="probability or occupancy (--type fractional).",
            rich_help_panel=_WRITE,
        ),
    ] = "probability",
    compress: Annotated[
        str,
        typer.Option(
            "--compress",
            help="none, deflate (any type), jpeg-ls or rle (fractional and labelmap: binary "
            "frames are 1 bit per pixel).",
            rich_help_panel=_WRITE,
        ),
    ] = "none",
    keep_empty_frames: Annotated[
        bool,
        typer.Option(
            "--keep-empty-frames",
            help="Write frames without a voxel too (default: omit them).",
            rich_help_panel=_WRITE,
        ),
    ] = False,
    uid_root: Annotated[
        str | None,
        typer.Option(
            "--uid-root",
            help="UID prefix: the SEG's series is ROOT.1, its instance ROOT.2 ... With "
            "$SOURCE_DATE_EPOCH, the same inputs give the same file.",
            rich_help_panel=_WRITE,
        ),
    ] = None,
    source_series: Annotated[
        str | None,
        typer.Option(
            "--source-series",
            help="SeriesInstanceUID to use when --source holds several series.",
            rich_help_panel=_WRITE,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Write a DICOM SEG from research masks, referencing the image series they segment.

    The masks must lie on the source series' grid (the same voxels; axis order and direction
    may differ): nothing is resampled, a different grid is an error naming the difference.
    Structure names resolve to SNOMED CT codes from the table shipped with idcseg; an unknown
    name is an error listing the closest ones. Empty frames are omitted; segments without a
    voxel are left out (and named). Masks written by `idcseg masks` keep their segments'
    codes, labels and algorithm through the segments.json beside them (unless --labels or
    --meta is given). The SEG's path is printed on stdout.

    \b
    Examples:
      idcseg make-seg liver.nii.gz spleen.nii.gz --source ct/ -o seg.dcm
      idcseg make-seg masks/ --source ct/ -o again.dcm    # masks/ from `idcseg masks`
      idcseg make-seg segmentations.nii.gz --labels totalsegmentator \\
          --algorithm-name TotalSegmentator --source ct/ -o seg.dcm
      idcseg make-seg tumor.nrrd --meta dcmqi-meta.json --source ct/ -o seg.dcm
      idcseg make-seg probs.nii.gz --labels 1=liver_tumor --type fractional --source ct/ -o p.dcm
    """
    from ..dicom.makeseg import make_seg as run
    from ..present.progress import ProgressLine

    line = ProgressLine(enabled=not quiet and sys.stderr.isatty())

    def progress(text: str) -> None:
        if line.due():
            line.show(f"{text} ({line.elapsed():.1f} s)")

    try:
        made = run(
            masks,
            source,
            output,
            meta=meta,
            labels=labels,
            segmentation_type=seg_type,
            fractional_type=fractional_type,
            algorithm_type=algorithm_type,
            algorithm_name=algorithm_name,
            algorithm_version=algorithm_version,
            series_description=series_description,
            series_number=series_number,
            content_creator=content_creator,
            compression=compress,
            keep_empty_frames=keep_empty_frames,
            uid_root=uid_root,
            source_series=source_series,
            progress=progress,
        )
    finally:
        line.close()
    if not quiet:
        print(f"idcseg: {made.summary()}", file=sys.stderr)
        if made.skipped:
            print(
                f"idcseg: left out {len(made.skipped)} segment(s) without a voxel: "
                + ", ".join(made.skipped[:10])
                + (" ..." if len(made.skipped) > 10 else ""),
                file=sys.stderr,
            )
    print(made.path)


@app.command("structures")
def structures(
    search: Annotated[
        str | None,
        typer.Argument(help="Show only names, labels or codes containing this text."),
    ] = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """The structure names make-seg knows (`--labels`, file names) and the codes they get.

    \b
    Examples:
      idcseg structures kidney
      idcseg structures --format csv -o structures.csv
    """
    from ..dicom.structures import search as find
    from ..errors import UsageError
    from ..present.output import Rows, write_result

    found = find(search)
    if not found:
        raise UsageError(f"no structure name, label or code contains {search!r}")
    columns = ["name", "label", "structure", "structure_code", "modifier", "anatomy", "category"]
    rows = [
        (
            s.name,
            s.label,
            s.type.meaning,
            f"{s.type.scheme}:{s.type.value}",
            s.type_modifier.meaning if s.type_modifier else None,
            s.region.meaning if s.region else None,
            s.category.meaning,
        )
        for s in found
    ]
    write_result(Rows(columns, rows), fmt, output)
