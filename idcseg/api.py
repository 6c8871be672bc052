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

        Between queries the embedded engine lets go of the local store, so an idle Explorer
        never keeps ``idcseg ingest`` (or ``sync``, ``fetch-segments``) in another process
        from writing it.
        """
        try:
            return self.engine.run(query).to_pandas()
        finally:
            release = getattr(self.engine, "release_store", None)
            if release is not None:
                release()

    def series(self, *, limit: int | None = None, **filters: Any) -> pd.DataFrame:
        """SEG series, one row each, with a ``viewer_url`` column.

        Filters (combined with AND; a list means any of its values):
        ``collection``, ``analysis_result`` (any case), ``patient``, ``study``, ``series``,
        ``body_part`` (of the segmented series where known), ``description`` (text anywhere),
        ``sop_class`` (``binary``, ``labelmap`` or ``any``), and — from IDC's seg_index —
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
        with_measurements: bool = False,
        **filters: Any,
    ) -> pd.DataFrame:
        """Segments (``per="segment"``) or SEG series with their segments (``per="series"``).

        Segment filters: ``structure``, ``category``, ``anatomy``, ``modifier`` — each a meaning
        (any case), ``"SCHEME:VALUE"`` or a DICOM concept keyword, SNOMED-RT and SNOMED-CT codes
        matching each other — ``algorithm_type`` (exact) and ``algorithm_name`` (text). Series
        filters: ``collection``, ``analysis_result``, ``patient``, ``study``, ``series``,
        ``description``. On the embedded engine this searches the segments you stored
        (:func:`ingest`, ``idcseg sync``, ``idcseg fetch-segments``); on BigQuery, all of IDC.

        ``with_measurements=True`` adds the segments' measurements from TID 1500 SRs: one
        ``Float64`` column per quantity, named with its derivation and units (``"Volume
        [mm3]"``), one ``string`` column per rated concept (``"Malignancy"``), and
        ``measurement_groups``, the number of SR measurement groups linked to the segment (when
        several measure one segment, a column holds the first one's value; :meth:`measurements`
        lists them all).
        """
        f, g = _segment_filters(filters)
        if with_measurements and per != "segment":
            raise spec.UsageError("with_measurements adds columns to segment rows: per='segment'")
        frame = self.query(spec.find_query(f, g, per=per, limit=limit))
        return self._with_measurements(frame, f, g) if with_measurements else frame

    def _with_measurements(
        self, frame: pd.DataFrame, f: spec.SeriesFilter, g: spec.SegmentFilter
    ) -> pd.DataFrame:
        from dataclasses import replace

        from .present.measurement_columns import widen

        series = sorted(set(frame["SeriesInstanceUID"].dropna()))
        columns: list[str] = []
        rows: list[tuple[Any, ...]] = []
        if series:
            narrowed = replace(f, series=tuple(series)) if len(series) <= 10_000 else f
            query = spec.measurements_query(narrowed, g, spec.MeasurementFilter(), linked=True)
            result = self.engine.run(query)
            columns, rows = result.columns, result.rows()
        keys = ["SOPInstanceUID", "SegmentNumber"]
        segment_keys = [
            (sop, int(number)) for sop, number in frame[keys].itertuples(index=False, name=None)
        ]
        wide_columns, wide_rows, kinds = widen(keys, segment_keys, columns, rows)
        dtypes = {"float": "Float64", "string": "string", "int": "Int64"}
        out = frame.copy()
        for i, name in enumerate(wide_columns[len(keys) :], start=len(keys)):
            out[name] = pd_array([row[i] for row in wide_rows], dtypes[kinds[name]])
        return out

    def measurements(self, *, limit: int | None = None, **filters: Any) -> pd.DataFrame:
        """Measurements of segments from TID 1500 SRs: one row per measurement.

        Each row has its segment (``SeriesInstanceUID``, ``SOPInstanceUID``, ``SegmentNumber``,
        ``SegmentLabel``, ``structure``; empty when the segment is not stored), ``finding``,
        ``finding_site``, ``kind`` (``quantitative`` / ``qualitative``), ``quantity``,
        ``derivation``, ``value`` and ``units`` (UCUM) or ``value_meaning``, the SR's UIDs and
        a ``viewer_url``.

        Measurement filters: ``quantity`` (a meaning or ``"SCHEME:VALUE"``), ``min`` / ``max``
        (bounds on that quantity's value), ``unit`` (a UCUM code values are converted to, e.g.
        ``"mm3"``), ``evaluation`` (``"CONCEPT=VALUE"`` or ``"CONCEPT~TEXT"`` terms the
        measurement group must have: values of one concept are alternatives, different
        concepts must all hold) and ``kind``; plus the segment and series filters of
        :meth:`find`.
        """
        names = ("quantity", "min", "max", "unit", "evaluation", "kind")
        measured = {k: filters.pop(k) for k in names if k in filters}
        f, g = _segment_filters(filters)
        m = spec.MeasurementFilter.build(**measured)
        return self.query(spec.measurements_query(f, g, m, limit))

    def facets(
        self, by: str = "structure", *, limit: int | None = None, **filters: Any
    ) -> pd.DataFrame:
        """Segment and series counts per ``structure``, ``category``, ``anatomy``,
        ``modifier``, ``algorithm_type`` or ``algorithm_name``; filters as in :meth:`find`."""
        f, g = _segment_filters(filters)
        return self.query(spec.facets_query(f, g, by=by, limit=limit))

    def viewer_urls(self, study: str, series: Iterable[str] = ()) -> pd.DataFrame:
        """Viewer links (OHIF v3, OHIF v2, Slim, SEG with its source) for a study or series."""
        return self.query(spec.viewer_urls_query(study, list(series)))


def pd_array(values: list[Any], dtype: str) -> Any:
    """A pandas array of *values* (``None`` → missing) with a nullable *dtype*."""
    import pandas as pd

    return pd.array(values, dtype=dtype)


def _series_filter(filters: dict[str, Any]) -> spec.SeriesFilter:
    try:
        return spec.SeriesFilter.build(**filters)
    except TypeError as exc:
        raise spec.UsageError(f"unknown filter: {exc}") from None


_SEGMENT_FILTERS = (
    "structure",
    "category",
    "anatomy",
    "modifier",
    "algorithm_type",
    "algorithm_name",
)


def _segment_filters(filters: dict[str, Any]) -> tuple[spec.SeriesFilter, spec.SegmentFilter]:
    segment = {k: filters.pop(k) for k in _SEGMENT_FILTERS if k in filters}
    return _series_filter(filters), spec.SegmentFilter.build(**segment)


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
    template: str, idc_version: str | int | None = None, **structure_and_params: Any
) -> tuple[str, dict[str, Any]]:
    """The BigQuery SQL and parameters of a series-level template, e.g. ``sql("series")``.

    Keyword arguments are the filters of :meth:`Explorer.series` plus ``limit``, ``by``, ``n``
    and ``seed`` where the template takes them.
    """
    from .query.render import render

    options = {
        k: structure_and_params.pop(k)
        for k in ("limit", "by", "n", "seed")
        if k in structure_and_params
    }
    f = _series_filter(structure_and_params)
    builders = {
        "series": lambda: spec.series_query(f, options.get("limit")),
        "summary": lambda: spec.summary_query(
            f, options.get("by", "collection"), options.get("limit")
        ),
        "random": lambda: spec.random_query(f, options.get("n", 1), options.get("seed", 0)),
    }
    name = template.removesuffix(".sql")
    if name not in builders:
        raise spec.UsageError(f"no template {template!r} (choose from {', '.join(builders)})")
    query = builders[name]()
    return render(query, dataset=spec.validate_dataset(idc_version)), dict(query.params)


def find(
    engine: Any = "duckdb", idc_version: str | int | None = None, **filters: Any
) -> pd.DataFrame:
    """Segments as a DataFrame; see :meth:`Explorer.find` for the filters."""
    return Explorer(engine, idc_version).find(**filters)


def measurements(
    engine: Any = "duckdb", idc_version: str | int | None = None, **filters: Any
) -> pd.DataFrame:
    """Measurements of segments from TID 1500 SRs; see :meth:`Explorer.measurements`."""
    return Explorer(engine, idc_version).measurements(**filters)


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
    """The segments of one SEG file (IDC's columns plus SegmentLabel), nothing stored."""
    import pandas as pd

    from .dicom.segheader import describe as describe_file

    return pd.DataFrame(describe_file(path))
