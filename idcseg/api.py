"""The Python API: the CLI's questions as functions returning pandas DataFrames.

>>> import idcseg
>>> idcseg.series(analysis_result="dicom_lidc_idri_nodules", limit=5)   # doctest: +SKIP
>>> idcseg.random_studies(n=3, seed=42, collection="lidc_idri")         # doctest: +SKIP

Every function takes ``engine`` ("duckdb", the embedded default, or "bigquery") and
``idc_version`` (``None`` for ``idc_current``, or e.g. ``25``); or use an :class:`Explorer` to
keep one engine (and its connection) across calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .query import spec

if TYPE_CHECKING:
    import pandas as pd

Texts = str | Iterable[str] | None


class Explorer:
    """Ask questions of one engine.

    Args:
        engine: ``"duckdb"`` (embedded, offline; default) or ``"bigquery"``, or an engine object.
        idc_version: IDC release (``25``, ``"idc_v25"``) or ``None`` for ``idc_current``.
        **options: passed to the engine (e.g. ``project=`` for BigQuery).
    """

    def __init__(
        self, engine: Any = "duckdb", idc_version: str | int | None = None, **options: Any
    ) -> None:
        if isinstance(engine, str):
            from .query.engines import get_engine

            engine = get_engine(engine, dataset=spec.validate_dataset(idc_version), **options)
        self.engine = engine

    def query(self, query: spec.Query) -> pd.DataFrame:
        """Run a :class:`~idcseg.query.spec.Query` and return its rows as a DataFrame.

        Raises :class:`~idcseg.UsageError` when nothing matched because a collection or
        analysis result named in the filters does not exist (the message suggests close names).
        Between queries the embedded engine lets go of the local store, so an idle Explorer
        never keeps ``idcseg ingest`` (or ``sync``, ``fetch-segments``) in another process
        from writing it.
        """
        try:
            frame = self.engine.run(query).to_pandas()
            if frame.empty:
                spec.explain_empty(self.engine, query)
            return frame
        finally:
            release = getattr(self.engine, "release_store", None)
            if release is not None:
                release()

    def series(self, *, limit: int | None = None, **filters: Any) -> pd.DataFrame:
        """SEG series, one row each, with a ``viewer_url`` column.

        Filters (combined with AND; a list means any of its values):
        ``collection``, ``analysis_result`` (any case), ``patient``, ``study``, ``series``,
        ``body_part`` (IDC's curated BodyPartExamined of the segmented series where known),
        ``description`` (text anywhere), ``sop_class`` (``binary``, ``labelmap`` or ``any``),
        ``source`` (``idc``: series IDC hosts; ``local``: your own SEGs; ``all``, the
        default; the ``source`` column says which each row is), and — from IDC's seg_index —
        ``structure``, ``category``, ``anatomy`` (CodeMeanings, any case), ``algorithm_type``
        (``AUTOMATIC``, ``SEMIAUTOMATIC``, ``MANUAL``), ``algorithm_name`` (text),
        ``min_segments`` and ``source_modality`` (of the segmented series, e.g. ``CT``).
        """
        return self.query(spec.series_query(_series_filter(filters), limit))

    def random_studies(
        self, n: int = 1, seed: int | str | None = None, **filters: Any
    ) -> pd.DataFrame:
        """*n* distinct studies holding a SEG, chosen reproducibly by *seed*.

        Accepts the filters of :meth:`series`. The same seed returns the same studies on any
        machine and either engine; without one, a seed is drawn and kept in
        ``frame.attrs["seed"]`` so the draw can be repeated.
        """
        if seed is None:
            import secrets

            seed = secrets.randbelow(1_000_000)
        frame = self.query(spec.random_query(_series_filter(filters), n=n, seed=seed))
        frame.attrs["seed"] = seed
        return frame

    def summary(
        self, by: str = "collection", limit: int | None = None, **filters: Any
    ) -> pd.DataFrame:
        """SEG series, study and patient counts per ``collection`` or ``analysis_result``."""
        return self.query(spec.summary_query(_series_filter(filters), by=by, limit=limit))

    def find(
        self,
        *,
        per: str = "segment",
        limit: int | None = None,
        viewer: str = "ohif_v3",
        **filters: Any,
    ) -> pd.DataFrame:
        """Segments (``per="segment"``) or SEG series with their segments (``per="series"``).

        Segment filters: ``structure``, ``category``, ``anatomy``, ``modifier`` — each a meaning
        (any case), ``"SCHEME:VALUE"`` or a DICOM concept keyword, SNOMED-RT and SNOMED-CT codes
        matching each other — ``algorithm_type`` (exact) and ``algorithm_name`` (text). Series
        filters: ``collection``, ``analysis_result``, ``patient``, ``study``, ``series``,
        ``description``, ``body_part``, ``sop_class`` and ``source``, as in :meth:`series`.
        ``viewer_url`` opens each SEG over the series it segments in OHIF v3 (IDC's own link
        since v24) or, with ``viewer="ohif_v2"``, in OHIF v2. On the embedded engine this
        searches the segments you stored (:func:`ingest`, ``idcseg sync``,
        ``idcseg fetch-segments``); on BigQuery, all of IDC.
        """
        f, g = _segment_filters(filters)
        return self.query(spec.find_query(f, g, per=per, limit=limit, viewer=viewer))

    def facets(
        self, by: str = "structure", *, limit: int | None = None, **filters: Any
    ) -> pd.DataFrame:
        """Segment and series counts per ``structure``, ``category``, ``anatomy``,
        ``modifier``, ``algorithm_type`` or ``algorithm_name``; filters as in :meth:`find`."""
        f, g = _segment_filters(filters)
        return self.query(spec.facets_query(f, g, by=by, limit=limit))

    def viewer_urls(self, study: str, series: Iterable[str] = ()) -> pd.DataFrame:
        """Viewer links (OHIF v3, OHIF v2, Slim, SEG with its source) for a study or series.

        Raises :class:`~idcseg.IdcsegError` when the study is not in the index or a series is
        not in the study, as ``idcseg url`` does.
        """
        from .errors import IdcsegError

        wanted = [series] if isinstance(series, str) else list(series)
        frame = self.query(spec.viewer_urls_query(study, wanted))
        rows = list(frame.itertuples(index=False, name=None))
        problem = spec.viewer_urls_problem(study, list(frame.columns), rows)
        if problem is not None:
            raise IdcsegError(problem)
        return frame


SERIES_FILTERS = tuple(spec.SeriesFilter.__dataclass_fields__)  # the names SeriesFilter.build takes
_SEGMENT_FILTERS = (
    "structure",
    "category",
    "anatomy",
    "modifier",
    "algorithm_type",
    "algorithm_name",
)
SEGMENT_QUERY_FILTERS = (
    *(n for n in SERIES_FILTERS if n not in (*_SEGMENT_FILTERS, "min_segments", "source_modality")),
    *_SEGMENT_FILTERS,
)


def _series_filter(filters: dict[str, Any]) -> spec.SeriesFilter:
    spec.check_filter_names(filters, SERIES_FILTERS)
    return spec.SeriesFilter.build(**filters)


def _segment_filters(filters: dict[str, Any]) -> tuple[spec.SeriesFilter, spec.SegmentFilter]:
    spec.check_filter_names(filters, SEGMENT_QUERY_FILTERS)
    segment = {k: filters.pop(k) for k in _SEGMENT_FILTERS if k in filters}
    return spec.SeriesFilter.build(**filters), spec.SegmentFilter.build(**segment)


def series(
    engine: Any = "duckdb", idc_version: str | int | None = None, **filters: Any
) -> pd.DataFrame:
    """SEG series as a DataFrame; see :meth:`Explorer.series` for the filters."""
    return Explorer(engine, idc_version).series(**filters)


def random_studies(
    n: int = 1,
    seed: int | str | None = None,
    engine: Any = "duckdb",
    idc_version: str | int | None = None,
    **filters: Any,
) -> pd.DataFrame:
    """Reproducible random studies with a SEG; see :meth:`Explorer.random_studies`."""
    return Explorer(engine, idc_version).random_studies(n=n, seed=seed, **filters)


def summary(
    by: str = "collection",
    engine: Any = "duckdb",
    idc_version: str | int | None = None,
    **filters: Any,
) -> pd.DataFrame:
    """Counts per collection or analysis result; see :meth:`Explorer.summary`."""
    return Explorer(engine, idc_version).summary(by=by, **filters)


def viewer_urls(
    study: str,
    series: Iterable[str] = (),
    engine: Any = "duckdb",
    idc_version: str | int | None = None,
) -> pd.DataFrame:
    """Viewer links for a study or some of its series; see :meth:`Explorer.viewer_urls`."""
    return Explorer(engine, idc_version).viewer_urls(study, series)


def sql(
    template: str, idc_version: str | int | None = None, **filters_and_options: Any
) -> tuple[str, dict[str, Any]]:
    """The BigQuery SQL and parameters of any template in ``sql/``, as ``idcseg sql`` prints it.

    *template* is one of :data:`idcseg.query.spec.TEMPLATES` (``series``, ``summary``,
    ``random``, ``viewer_urls``, ``find``, ``facets``, ``sync``, ``fetch_targets``, ``info``,
    ``series_facets``, ``known_names``). Keyword arguments are the filters of
    :meth:`Explorer.series` (for ``find``/``facets``/``sync``, those of :meth:`Explorer.find`)
    plus ``limit``, ``by``, ``n`` and ``seed`` where the template takes them.
    """
    from .query.render import render

    given = filters_and_options
    options = {k: given.pop(k) for k in ("limit", "by", "n", "seed") if k in given}
    name = template.removesuffix(".sql")
    if name in spec.SEGMENT_TEMPLATES:
        f, g = _segment_filters(given)
    else:
        f, g = _series_filter(given), None
    query = spec.template_query(name, f, g, **options)
    from .query.eras import known_columns

    dataset = spec.validate_dataset(idc_version)
    return render(query, dataset=dataset, columns=known_columns(dataset)), dict(query.params)


def find(
    engine: Any = "duckdb", idc_version: str | int | None = None, **filters: Any
) -> pd.DataFrame:
    """Segments as a DataFrame; see :meth:`Explorer.find` for the filters."""
    return Explorer(engine, idc_version).find(**filters)


def facets(
    by: str = "structure",
    engine: Any = "duckdb",
    idc_version: str | int | None = None,
    **filters: Any,
) -> pd.DataFrame:
    """Counts per facet; see :meth:`Explorer.facets`."""
    return Explorer(engine, idc_version).facets(by, **filters)


def ingest(
    paths: str | Path | Iterable[str | Path], *, force: bool = False, progress: bool | None = None
) -> Any:
    """Store the segments of SEG files (folders searched recursively); returns the report.

    See :func:`idcseg.local.ingest.ingest`: unchanged files are skipped unless *force*, bad files
    are listed in ``report.failures`` and never stop the others.
    """
    from .local.ingest import ingest as run_ingest

    items = [paths] if isinstance(paths, str | Path) else list(paths)
    return run_ingest([str(p) for p in items], force=force, progress=progress)


def describe(path: str | Path) -> pd.DataFrame:
    """The segments of one SEG file, nothing stored: the columns ``idcseg describe`` prints
    (``SegmentNumber``, ``SegmentLabel``, ``category``, ``structure``, ``structure_code``,
    ``anatomy``, ``modifier``, ``SegmentAlgorithmType``, ...), one flat value each, with
    pandas' nullable dtypes (``Int64``, ``string``).

    Raises :class:`~idcseg.IdcsegError` when the file is not a SEG, ``OSError`` when it cannot
    be read.
    """
    import pandas as pd

    from .dicom.segheader import describe_table
    from .query.engines import normalise_frame

    columns, rows = describe_table(path)
    frame = pd.DataFrame(rows, columns=columns)
    kinds = {c: "int" if c == "SegmentNumber" else "string" for c in columns}
    return normalise_frame(frame, kinds)
