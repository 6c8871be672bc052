"""The typer application and the options every query command shares."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
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


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__
        from ..local.store import index_version

        typer.echo(f"idcseg {__version__} (IDC index: idc-index-data {index_version()})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """The options before a command."""


_ENGINE = "Engine"
ENGINE_OPTIONS: dict[str, Any] = {
    "engine": Annotated[
        str,
        typer.Option(
            "--engine",
            envvar="IDCSEG_ENGINE",
            help="duckdb: embedded, offline (default). bigquery: IDC's tables on Google BigQuery.",
            rich_help_panel=_ENGINE,
        ),
    ],
    "idc_version": Annotated[
        str | None,
        typer.Option(
            "--idc-version",
            help="IDC release: 25, idc_v25 or current (default).",
            rich_help_panel=_ENGINE,
        ),
    ],
    "project": Annotated[
        str | None,
        typer.Option(
            "--project",
            envvar="GOOGLE_CLOUD_PROJECT",
            help="BigQuery: the Google Cloud project billed for queries.",
            rich_help_panel=_ENGINE,
        ),
    ],
    "dry_run": Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="BigQuery: print bytes scanned and price, run nothing.",
            rich_help_panel=_ENGINE,
        ),
    ],
    "max_bytes": Annotated[
        str | None,
        typer.Option(
            "--max-bytes",
            envvar="IDCSEG_MAX_BYTES",
            help="BigQuery: refuse queries scanning more, e.g. 50GB (default 25GB).",
            rich_help_panel=_ENGINE,
        ),
    ],
    "no_cache": Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="BigQuery: neither read nor store cached results.",
            rich_help_panel=_ENGINE,
        ),
    ],
    "refresh": Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="BigQuery: rerun and replace a cached result.",
            rich_help_panel=_ENGINE,
        ),
    ],
}


@dataclass(frozen=True)
class EngineChoice:
    """The engine options of one command line."""

    engine: str = "duckdb"
    idc_version: str | None = None
    project: str | None = None
    dry_run: bool = False
    max_bytes: str | None = None
    no_cache: bool = False
    refresh: bool = False

    def create(self) -> Any:
        """Make the chosen engine (bigquery-only options are refused on duckdb)."""
        from ..errors import UsageError
        from ..query.engines import get_engine

        if self.engine == "bigquery":
            return get_engine(
                "bigquery",
                dataset=self.idc_version,
                project=self.project,
                max_bytes=self.max_bytes,
                cache=not self.no_cache,
                refresh=self.refresh,
            )
        used = [
            flag
            for flag, on in (
                ("--dry-run", self.dry_run),
                ("--no-cache", self.no_cache),
                ("--refresh", self.refresh),
            )
            if on
        ]
        if used:
            raise UsageError(f"{used[0]} applies to --engine bigquery")
        return get_engine(self.engine, dataset=self.idc_version)


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
DISPLAY_OPTIONS: dict[str, Any] = {
    "columns": Annotated[
        list[str] | None,
        typer.Option(
            "--columns",
            help="Only these columns, in this order (comma-separated or repeated), any format. "
            "A table on a terminal otherwise shows its readable columns when it is too wide.",
            rich_help_panel="Output",
        ),
    ],
    "wide": Annotated[
        bool,
        typer.Option(
            "--wide", help="A table on a terminal shows every column.", rich_help_panel="Output"
        ),
    ],
}
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
            help="BodyPartExamined of the segmented series (else the SEG's), as IDC curates "
            "it, e.g. CHEST (repeatable).",
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
    "source": Annotated[
        str,
        typer.Option(
            "--source",
            help="idc (series IDC hosts), local (your own SEGs IDC does not have) or all.",
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
_DEFAULTS: dict[str, Any] = {
    "wide": False,
    "sop_class": "any",
    "source": "all",
    "engine": "duckdb",
    "dry_run": False,
    "no_cache": False,
    "refresh": False,
}

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
    from ..query.spec import SeriesFilter

    return SeriesFilter.build(**values)


def series_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the series filter options; it receives them as ``filters: SeriesFilter``."""
    options = {**SERIES_FILTER_OPTIONS, **SEG_INDEX_OPTIONS}
    return _inject(func, "filters", options, _build_series_filter)


def segment_series_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """The series filters, for commands on segments (the SEG series a segment belongs to)."""
    return _inject(func, "filters", dict(SERIES_FILTER_OPTIONS), _build_series_filter)


def segment_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the segment filter options; it receives ``segment_filter: SegmentFilter``."""

    def build(**values: Any) -> Any:
        from ..query.spec import SegmentFilter

        return SegmentFilter.build(**values)

    return _inject(func, "segment_filter", SEGMENT_FILTER_OPTIONS, build)


def _build_display(**values: Any) -> Any:
    from ..present.output import Display

    return Display.build(**values)


def display_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command ``--columns`` and ``--wide``; it receives them as ``display: Display``."""
    return _inject(func, "display", DISPLAY_OPTIONS, _build_display)


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the engine options; it receives them as ``engine: EngineChoice``."""
    return _inject(func, "engine", ENGINE_OPTIONS, EngineChoice)


def emit(
    query: Any,
    choice: EngineChoice,
    fmt: str,
    output: Path | None,
    display: Any = None,
    on_empty: Callable[[Any], None] | None = None,
) -> int:
    """Run *query* on the chosen engine and write its rows (the columns *display* chooses);
    return the row count. *on_empty* is called with the engine when there were none.

    With ``--dry-run`` (BigQuery), print what the query would scan and cost instead.
    """
    from ..present.output import check_target, write_result

    check_target(fmt, output)
    engine = choice.create()
    if choice.dry_run:
        import sys

        print(f"dry run: this query would scan {engine.estimate(query)}", file=sys.stderr)
        return 0
    # a table on a terminal previews a long result, unless --limit says how many rows to show
    preview = "limit" not in query.params

    def unknown_names() -> None:  # an unknown --collection: say so, with close names
        from ..query.spec import explain_empty

        explain_empty(engine, query)

    count = write_result(
        engine.run(query), fmt, output, preview=preview, display=display, when_empty=unknown_names
    )
    if count == 0 and on_empty is not None:
        on_empty(engine)
    return count
