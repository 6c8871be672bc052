"""The typer application and the options every query command shares."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="idcseg",
    help=(
        "Find DICOM Segmentations in NCI Imaging Data Commons (IDC): SEG series, segments and "
        "viewer links, offline from IDC's index (default) or on Google BigQuery."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        envvar="IDCSEG_ENGINE",
        help="duckdb: embedded, offline (default). bigquery: IDC's tables on Google BigQuery.",
        rich_help_panel="Engine",
    ),
]
VersionOpt = Annotated[
    str | None,
    typer.Option(
        "--idc-version",
        help="IDC release: 25, idc_v25 or current (default: current).",
        rich_help_panel="Engine",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format", "-f", help="table, csv, json, jsonl or parquet.", rich_help_panel="Output"
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write to FILE instead of stdout.", rich_help_panel="Output"
    ),
]
LimitOpt = Annotated[
    int | None, typer.Option("--limit", help="At most N rows.", rich_help_panel="Output")
]

_FILTERS = "Filters"
# name -> (annotation, default); appended to a command by @series_filters
SERIES_FILTER_OPTIONS: dict[str, Any] = {
    "collection": Annotated[
        list[str] | None,
        typer.Option(
            "--collection",
            "-c",
            help="collection_id, e.g. lidc_idri (repeatable).",
            rich_help_panel=_FILTERS,
        ),
    ],
    "analysis_result": Annotated[
        list[str] | None,
        typer.Option(
            "--analysis-result",
            "-a",
            help="analysis_result_id, e.g. dicom_lidc_idri_nodules (repeatable).",
            rich_help_panel=_FILTERS,
        ),
    ],
    "patient": Annotated[
        list[str] | None,
        typer.Option("--patient", help="PatientID (repeatable).", rich_help_panel=_FILTERS),
    ],
    "study": Annotated[
        list[str] | None,
        typer.Option("--study", help="StudyInstanceUID (repeatable).", rich_help_panel=_FILTERS),
    ],
    "series": Annotated[
        list[str] | None,
        typer.Option(
            "--series", help="SeriesInstanceUID of a SEG (repeatable).", rich_help_panel=_FILTERS
        ),
    ],
    "body_part": Annotated[
        list[str] | None,
        typer.Option(
            "--body-part",
            help="BodyPartExamined of the segmented series (else the SEG's), e.g. CHEST.",
            rich_help_panel=_FILTERS,
        ),
    ],
    "description": Annotated[
        str | None,
        typer.Option(
            "--description",
            help="Text in SeriesDescription (case-insensitive).",
            rich_help_panel=_FILTERS,
        ),
    ],
    "sop_class": Annotated[
        str,
        typer.Option(
            "--sop-class",
            help="binary (Segmentation Storage), labelmap (Label Map Segmentation Storage) or any.",
            rich_help_panel=_FILTERS,
        ),
    ],
}
_INDEX = "Segment filters (from IDC's seg_index, fetched on first use)"
_MEANING = "a CodeMeaning one of the series' segments has (any case) or SCHEME:VALUE"
SEG_INDEX_OPTIONS: dict[str, Any] = {
    "structure": Annotated[
        list[str] | None,
        typer.Option(
            "--structure",
            "-s",
            help=f"Segmented property type: {_MEANING}.",
            rich_help_panel=_INDEX,
        ),
    ],
    "category": Annotated[
        list[str] | None,
        typer.Option(
            "--category", help=f"Segmented property category: {_MEANING}.", rich_help_panel=_INDEX
        ),
    ],
    "anatomy": Annotated[
        list[str] | None,
        typer.Option("--anatomy", help=f"Anatomic region: {_MEANING}.", rich_help_panel=_INDEX),
    ],
    "algorithm_type": Annotated[
        list[str] | None,
        typer.Option(
            "--algorithm-type",
            help="AUTOMATIC, SEMIAUTOMATIC or MANUAL (exact).",
            rich_help_panel=_INDEX,
        ),
    ],
    "algorithm_name": Annotated[
        str | None,
        typer.Option(
            "--algorithm-name",
            help="Text in the algorithm names (any case).",
            rich_help_panel=_INDEX,
        ),
    ],
    "min_segments": Annotated[
        int | None,
        typer.Option("--min-segments", help="At least N segments.", rich_help_panel=_INDEX),
    ],
    "source_modality": Annotated[
        list[str] | None,
        typer.Option(
            "--source-modality",
            help="Modality of the segmented series, e.g. CT.",
            rich_help_panel=_INDEX,
        ),
    ],
}
_DEFAULTS = {"sop_class": "any"}

_SEGMENTS = "Segment filters"
_CODE_HELP = (
    "a meaning (any case), SCHEME:VALUE (SCT:27925004) or a DICOM concept keyword; "
    "SNOMED-RT and SNOMED-CT codes match each other (repeatable)."
)
SEGMENT_FILTER_OPTIONS: dict[str, Any] = {
    "structure": Annotated[
        list[str] | None,
        typer.Option(
            "--structure",
            "-s",
            help=f"Segmented property type: {_CODE_HELP}",
            rich_help_panel=_SEGMENTS,
        ),
    ],
    "category": Annotated[
        list[str] | None,
        typer.Option(
            "--category",
            help=f"Segmented property category: {_CODE_HELP}",
            rich_help_panel=_SEGMENTS,
        ),
    ],
    "anatomy": Annotated[
        list[str] | None,
        typer.Option("--anatomy", help=f"Anatomic region: {_CODE_HELP}", rich_help_panel=_SEGMENTS),
    ],
    "modifier": Annotated[
        list[str] | None,
        typer.Option(
            "--modifier",
            help=f"Type or region modifier, e.g. Left: {_CODE_HELP}",
            rich_help_panel=_SEGMENTS,
        ),
    ],
    "algorithm_type": Annotated[
        list[str] | None,
        typer.Option(
            "--algorithm-type",
            help="AUTOMATIC, SEMIAUTOMATIC or MANUAL (exact; repeatable).",
            rich_help_panel=_SEGMENTS,
        ),
    ],
    "algorithm_name": Annotated[
        str | None,
        typer.Option(
            "--algorithm-name",
            help="Text in SegmentAlgorithmName (any case).",
            rich_help_panel=_SEGMENTS,
        ),
    ],
}


def _inject(
    func: Callable[..., Any], name: str, options: dict[str, Any], build: Callable[..., Any]
) -> Callable[..., Any]:
    """Add *options* to a typer command; it receives ``build(**their values)`` as *name*."""
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != name]
    added = [
        inspect.Parameter(
            option,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=annotation,
            default=_DEFAULTS.get(option),
        )
        for option, annotation in options.items()
    ]

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        values = {option: kwargs.pop(option) for option in options}
        return func(**{name: build(**values)}, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{k: v for k, v in func.__annotations__.items() if k != name},
        **options,
    }
    return wrapper


def _build_series_filter(**values: Any) -> Any:
    from ..spec import SeriesFilter

    return SeriesFilter.build(**values)


def series_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the series filter options; it receives them as ``filters: SeriesFilter``."""
    options = {**SERIES_FILTER_OPTIONS, **SEG_INDEX_OPTIONS}
    return _inject(func, "filters", options, _build_series_filter)


def segment_series_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """The series filters that apply to segments (no --body-part, no --sop-class)."""
    options = {
        k: v for k, v in SERIES_FILTER_OPTIONS.items() if k not in ("body_part", "sop_class")
    }
    return _inject(func, "filters", options, _build_series_filter)


def segment_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the segment filter options; it receives ``segment_filter: SegmentFilter``."""

    def build(**values: Any) -> Any:
        from ..spec import SegmentFilter

        return SegmentFilter.build(**values)

    return _inject(func, "segment_filter", SEGMENT_FILTER_OPTIONS, build)


def make_engine(engine: str, idc_version: str | None) -> Any:
    """The engine a command runs on."""
    from ..engines import get_engine

    return get_engine(engine, dataset=idc_version)


def emit(query: Any, engine: str, idc_version: str | None, fmt: str, output: Path | None) -> int:
    """Run *query* and write its rows; return the row count."""
    from ..output import check_target, write_result

    check_target(fmt, output)
    result = make_engine(engine, idc_version).run(query)
    return write_result(result, fmt, output)
