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

from .errors import UsageError
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
        with_measurements: bool = False,
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
        frame = self.query(spec.find_query(f, g, per=per, limit=limit, viewer=viewer))
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


def pd_array(values: list[Any], dtype: str) -> Any:
    """A pandas array of *values* (``None`` → missing) with a nullable *dtype*."""
    import pandas as pd

    return pd.array(values, dtype=dtype)


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
    ``series_facets``, ``known_names``, ``measurements``, ``sync_measurements``,
    ``measurement_targets``, ``download_series``, ``series_by_uuid``, ``study_series``,
    ``citations``). Keyword arguments are the filters of
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


def download(
    frame_or_filters: Any = None,
    output: str | Path | None = None,
    *,
    with_source: bool = False,
    layout: str | None = None,
    concurrency: int = 16,
    dry_run: bool = False,
    force: bool = False,
    verify: bool = False,
    progress: bool | None = None,
    endpoint: str | None = None,
    limit: int | None = None,
    **filters: Any,
) -> pd.DataFrame:
    """Download series from IDC's public buckets into *output*; one report row per series.

    *frame_or_filters* says which series: a DataFrame with a ``SeriesInstanceUID`` column (e.g.
    from :func:`series`), a list of SeriesInstanceUIDs, a dict of :meth:`Explorer.series` filters,
    a path to an s5cmd manifest (``.s5cmd``/``.txt``), or ``None`` with the filters as keyword
    arguments. ``with_source=True`` adds the image series each SEG segments. Files go to
    ``output/<layout>/<SOPInstanceUID>.dcm`` (``layout`` as ``idcseg download --layout``); a
    rerun skips complete files; ``LICENSES.csv`` and ``CITATIONS.txt`` are written beside them.

    Returns a DataFrame with one row per series: ``SeriesInstanceUID``, ``role`` (``selected``
    or ``source``), ``source_of`` / ``source_series`` / ``source_note`` (which SEGs a source
    serves, a SEG's source, why a SEG has none), the series' facts, ``folder``, ``status``
    (``complete``, ``incomplete``, ``failed``; ``planned`` for a dry run), ``files``,
    ``downloaded``, ``present``, ``failed``, ``bytes`` and the first ``error``. ``frame.attrs``
    holds the ``summary`` text.

    Raises :class:`UsageError` for bad input, :class:`IdcsegError` when the disk would be too
    small (unless ``force``) or fills up; ``KeyboardInterrupt`` keeps what was finished.
    """
    from .errors import UsageError
    from .remote.cohort import run_cohort
    from .remote.layout import DEFAULT_LAYOUT

    if output is None:
        raise UsageError("say where to download: output=FOLDER")
    selection = _download_selection(frame_or_filters, filters, limit)
    plan, report = run_cohort(
        selection,
        output,
        layout=DEFAULT_LAYOUT if layout is None else layout,
        with_source=with_source,
        concurrency=concurrency,
        dry_run=dry_run,
        force=force,
        verify=verify,
        progress=progress,
        endpoint=endpoint,
        say=lambda line: None,
    )
    if report is None:
        from .remote.download import DownloadReport

        frame = DownloadReport(plan, []).to_frame()
        return _planned_frame(plan, frame)
    return report.to_frame()


def _download_selection(what: Any, filters: dict[str, Any], limit: int | None) -> Any:
    from .errors import UsageError
    from .remote.cohort import Selection
    from .remote.plan import uids_of_frame

    if what is None:
        return Selection(series_filter=_series_filter(dict(filters)), limit=limit)
    if filters:
        raise UsageError("give the selection once: a frame, UIDs, a manifest or filters")
    if hasattr(what, "columns"):
        return Selection(uids=uids_of_frame(what), limit=limit)
    if isinstance(what, dict):
        return Selection(series_filter=_series_filter(dict(what)), limit=limit)
    if isinstance(what, Path) or (isinstance(what, str) and not _looks_like_uid(what)):
        from .remote.manifest import read_manifest

        return Selection(manifest=read_manifest(Path(what)), limit=limit)
    values = [what] if isinstance(what, str) else list(what)
    uids = [spec.validate_uid(str(v), "SeriesInstanceUID") for v in values]
    return Selection(uids=uids, limit=limit)


def _looks_like_uid(text: str) -> bool:
    try:
        spec.validate_uid(text.strip())
    except spec.UsageError:
        return False
    return True


def _planned_frame(plan: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """The report shape for a dry run: one 'planned' row per series of *plan*."""
    import pandas as pd

    from .query.engines import normalise_frame

    rows = [
        {
            "SeriesInstanceUID": p.uid,
            "role": p.role,
            "source_of": ",".join(p.source_of) or None,
            "source_note": dict(plan.unresolved).get(p.uid),
            "collection_id": p.facts.get("collection_id"),
            "PatientID": p.facts.get("PatientID"),
            "StudyInstanceUID": p.facts.get("StudyInstanceUID"),
            "Modality": p.facts.get("Modality"),
            "folder": str(plan.output / p.folder),
            "status": "planned",
            "files": len(p.only) if p.only is not None else p.files,
            "bytes": p.size,
            "series_aws_url": p.url,
        }
        for p in plan.series
    ]
    out = normalise_frame(pd.DataFrame(rows, columns=list(frame.columns)))
    out.attrs["summary"] = "\n".join(plan.lines())
    return out


# --- masks ------------------------------------------------------------------------------------


class Masks:
    """The masks of one DICOM SEG on one grid: ``masks[n]`` is segment *n*'s volume.

    Made by :func:`masks`. Volumes are ``[slice, row, column]`` numpy arrays on :attr:`grid`
    (uint8 0/1; float32 fractions for a FRACTIONAL SEG without a threshold), decoded when asked
    for (each access decodes again: keep the array if you need it twice). Slice *k* lies at
    ``affine @ (k, row, column, 1)`` in LPS mm.

    Attributes:
        grid: the :class:`~idcseg.dicom.geometry.Grid` (shape and LPS affine).
        segments: a DataFrame, one row per selected segment: number, label, codes and
            meanings, algorithm, recommended display colour, frames in the SEG.
        series_uid: the SEG's SeriesInstanceUID.
        kind: ``BINARY``, ``FRACTIONAL`` or ``LABELMAP``.
        bytes_read: bytes read from IDC's bucket for this SEG so far (0 for a local file).
    """

    def __init__(self, seg: Any, placement: Any, numbers: list[int], threshold: float | None):
        self._seg = seg
        self._placement = placement
        self.numbers = list(numbers)
        self.threshold = threshold
        self.grid = placement.grid
        self.series_uid = seg.series_uid
        self.kind = seg.kind
        self.segments = self._frame()

    def _frame(self) -> pd.DataFrame:
        import pandas as pd

        from .dicom.masks import segment_json

        rows = []
        for number in self.numbers:
            described = segment_json(self._seg, number)
            code = {k: (described[k] or {}) for k in ("category", "structure", "anatomy")}
            rows.append(
                {
                    "SegmentNumber": number,
                    "SegmentLabel": described["SegmentLabel"],
                    "structure": code["structure"].get("meaning"),
                    "structure_code": code["structure"].get("code"),
                    "category": code["category"].get("meaning"),
                    "anatomy": code["anatomy"].get("meaning"),
                    "modifier": ", ".join(m["meaning"] for m in described["modifiers"] if m)
                    or None,
                    "SegmentAlgorithmType": described["SegmentAlgorithmType"],
                    "SegmentAlgorithmName": described["SegmentAlgorithmName"],
                    "color_rgb": described["recommended_display_rgb"],
                    "frames": len(self._seg.segments[number].frames),
                }
            )
        return pd.DataFrame(rows)

    @property
    def affine(self) -> Any:
        """4×4 LPS affine of ``[slice, row, column]`` indices."""
        return self.grid.affine

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(slices, rows, columns)``."""
        return self.grid.shape

    @property
    def bytes_read(self) -> int:
        """Bytes of the SEG read from the bucket (0 for a local file)."""
        remote = self._seg.remote
        return remote.bytes_read if remote is not None else 0

    def __len__(self) -> int:
        return len(self.numbers)

    def __iter__(self) -> Any:
        return iter(self.numbers)

    def __contains__(self, number: object) -> bool:
        return number in self.numbers

    def __getitem__(self, number: int) -> Any:
        """Segment *number*'s volume."""
        import numpy as np

        from .dicom.masks import mask_dtype, planes

        if number not in self.numbers:
            raise KeyError(f"segment {number} is not among {self.numbers}")
        volume = np.zeros(self.shape, dtype=mask_dtype(self._seg, self.threshold))
        for k, plane in planes(self._seg, self._placement, number, self.threshold):
            volume[k] = plane
        return volume

    def label_map(self, overlap: str = "error") -> Any:
        """One volume of segment numbers (0 outside); *overlap*: ``error``, ``first`` or
        ``last`` (see ``idcseg masks --merge``)."""
        import numpy as np

        from .dicom.masks import merged_dtype, merged_planes

        volume = np.zeros(self.shape, dtype=merged_dtype(self.numbers))
        for k, plane in merged_planes(
            self._seg, self._placement, self.numbers, overlap, self.threshold
        ):
            volume[k] = plane
        return volume

    def stats(self) -> pd.DataFrame:
        """Per-segment measurements, as :func:`segment_stats` returns them."""
        import pandas as pd

        from .dicom.masks import STAT_COLUMNS, measure

        rows = measure(self._seg, self._placement, self.numbers, self.threshold)
        return pd.DataFrame(rows, columns=list(STAT_COLUMNS))

    def write(
        self,
        folder: str | Path,
        fmt: str = "nifti",
        *,
        merge: bool = False,
        overlap: str = "error",
    ) -> list[Path]:
        """Write the masks into *folder* (made if missing) as ``nifti``, ``nrrd`` or ``npz``,
        one file per segment or one label map with *merge*, plus ``segments.json``; return the
        mask files."""
        from .dicom.maskio import SUFFIXES
        from .dicom.masks import OVERLAP_POLICIES, export

        if fmt not in SUFFIXES:
            raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(SUFFIXES)})")
        if overlap not in OVERLAP_POLICIES:
            raise UsageError(f"unknown overlap {overlap!r} (choose from error, first, last)")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = export(
            self._seg,
            self._placement,
            self.numbers,
            folder,
            fmt=fmt,
            merge=merge,
            overlap=overlap,
            threshold=self.threshold,
        )
        return [w.path for w in written]

    def to_nifti(self, folder: str | Path, **options: Any) -> list[Path]:
        """:meth:`write` as ``.nii.gz`` (RAS affine)."""
        return self.write(folder, "nifti", **options)

    def to_nrrd(self, folder: str | Path, **options: Any) -> list[Path]:
        """:meth:`write` as ``.nrrd`` (LPS space directions)."""
        return self.write(folder, "nrrd", **options)

    def to_npz(self, folder: str | Path, **options: Any) -> list[Path]:
        """:meth:`write` as ``.npz`` (``mask`` and its 4×4 LPS ``affine``)."""
        return self.write(folder, "npz", **options)

    def preview(self, numbers: Iterable[int] | None = None, slice_index: int | None = None) -> Any:
        """A matplotlib Figure of one slice (the busiest unless *slice_index*) with the masks
        over the reference image (when given to :func:`masks`); shown inline in a notebook."""
        from .dicom.masks import preview

        chosen = list(numbers) if numbers is not None else self.numbers
        return preview(
            self._seg, self._placement, chosen, threshold=self.threshold, slice_index=slice_index
        )

    def close(self) -> None:
        """Release the SEG file."""
        self._seg.close()

    def __enter__(self) -> Masks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Masks of SEG {self.series_uid}: {len(self.numbers)} {self.kind.lower()} "
            f"segment(s) on {self.grid!r}>"
        )


_SEGMENT_OPTIONS = ("structure", "category", "anatomy", "modifier", "algorithm_type",
                    "algorithm_name")  # fmt: skip


def _open_one(source: str | Path, endpoint: str | None) -> Any:
    from .dicom.sources import SegSources, resolve

    found = resolve([source])
    if len(found) != 1 or found[0].from_folder:
        raise UsageError(f"{source}: give one SEG file or one IDC SeriesInstanceUID")
    reader = SegSources(found, endpoint=endpoint)
    opened = list(reader)
    if not opened:
        raise UsageError(f"{source}: no SEG there")
    if len(opened) > 1:
        raise UsageError(
            f"series {source} has {len(opened)} SEG instances; `idcseg masks` writes them all"
        )
    if opened[0].error is not None:
        raise opened[0].error
    return opened[0].seg


def masks(
    source: str | Path,
    *,
    segments: int | Iterable[int] | None = None,
    reference: str | Path | None = None,
    threshold: float | None = None,
    endpoint: str | None = None,
    **filters: Any,
) -> Masks:
    """The masks of one SEG, on its own grid or exactly on the segmented series' grid.

    Args:
        source: a SEG file, or an IDC SEG SeriesInstanceUID (read from IDC's public bucket:
            the header, then only the frames of the segments you read).
        segments: segment numbers (default: all).
        reference: folder of the segmented series' DICOM files: the masks get its grid
            (shape and affine). Refused, with the reason, when frames do not fit it.
        threshold: FRACTIONAL SEGs: a fraction in (0, 1]; voxels at or above are 1.
        endpoint: another S3-compatible server (default ``$IDCSEG_S3_ENDPOINT``, else AWS).
        **filters: ``structure``, ``category``, ``anatomy``, ``modifier``, ``algorithm_type``,
            ``algorithm_name``, as in :func:`find`, applied to the SEG's own segments.

    >>> m = idcseg.masks("seg.dcm", structure="Kidney", reference="ct/")  # doctest: +SKIP
    >>> m.segments; m[2].sum(); m.stats(); m.to_nifti("out/")            # doctest: +SKIP
    """
    from .dicom import masks as core

    unknown = set(filters) - set(_SEGMENT_OPTIONS)
    if unknown:
        raise UsageError(f"unknown filter: {', '.join(sorted(unknown))}")
    threshold = core.check_threshold(threshold)
    numbers = [segments] if isinstance(segments, int) else segments
    segment_filter = spec.SegmentFilter.build(**filters)
    seg = _open_one(source, endpoint)
    try:
        chosen = core.select(seg, list(numbers) if numbers is not None else None, segment_filter)
        if not chosen:
            raise UsageError(f"{seg.describe()}: no segment matches")
        series = None
        if reference is not None:
            from .dicom.reference import ReferenceFolder

            series = ReferenceFolder(reference).series_for(
                seg.referenced_series, seg.frame_of_reference, seg.describe()
            )
        placement = core.place(seg, series)
    except BaseException:
        seg.close()
        raise
    return Masks(seg, placement, chosen, threshold)


def segment_stats(
    source: str | Path | Iterable[str | Path],
    *,
    segments: int | Iterable[int] | None = None,
    reference: str | Path | None = None,
    threshold: float | None = None,
    endpoint: str | None = None,
    **filters: Any,
) -> pd.DataFrame:
    """Per-segment measurements of SEGs (files, folders or IDC SeriesInstanceUIDs): one row
    per segment with voxel_count, volume_ml, bounding box (voxels and LPS mm), centroid (LPS
    mm), first/last slice and slice count. Arguments as for :func:`masks`; FRACTIONAL segments
    count voxels at or above *threshold* (default 0.5)."""
    import pandas as pd

    from .dicom import masks as core
    from .dicom.sources import SegSources, resolve

    unknown = set(filters) - set(_SEGMENT_OPTIONS)
    if unknown:
        raise UsageError(f"unknown filter: {', '.join(sorted(unknown))}")
    threshold = core.check_threshold(threshold)
    numbers = [segments] if isinstance(segments, int) else segments
    segment_filter = spec.SegmentFilter.build(**filters)
    items = [source] if isinstance(source, str | Path) else list(source)
    folder = None
    if reference is not None:
        from .dicom.reference import ReferenceFolder

        folder = ReferenceFolder(reference)
    reader = SegSources(resolve(items), endpoint=endpoint)
    rows: list[dict[str, Any]] = []
    try:
        for item in reader:
            if item.error is not None:
                raise item.error
            seg = item.seg
            try:
                chosen = core.select(seg, list(numbers) if numbers is not None else None,
                                     segment_filter)  # fmt: skip
                series = None
                if folder is not None:
                    series = folder.series_for(
                        seg.referenced_series, seg.frame_of_reference, seg.describe()
                    )
                rows.extend(core.measure(seg, core.place(seg, series), chosen, threshold))
            finally:
                seg.close()
    finally:
        reader.close()
    return pd.DataFrame(rows, columns=list(core.STAT_COLUMNS))


def make_seg(
    masks: str | Path | Iterable[str | Path],
    source: str | Path,
    output: str | Path,
    **options: Any,
) -> Any:
    """Write a DICOM SEG of the image series in *source* from NIfTI/NRRD masks on its grid.

    >>> idcseg.make_seg("segmentations/", "ct/", "seg.dcm", labels="totalsegmentator",
    ...                 algorithm_name="TotalSegmentator")                # doctest: +SKIP

    *masks* is one label map, several files (one per segment), or a folder of them (its
    ``.nii.gz``/``.nii``/``.nrrd`` files, sorted by name). Segments are described by ``meta``
    (dcmqi's metadata JSON), by ``labels`` (``"1=liver,2=spleen"``, ``{1: "liver"}``, a preset
    such as ``"totalsegmentator"``) or by the files' names; names resolve to SNOMED CT codes
    through the structure table shipped with idcseg (:func:`idcseg.structures`); masks written
    by :meth:`Masks.to_nifti` / ``idcseg masks`` are described by the ``segments.json`` beside
    them (codes, labels, algorithm) unless ``meta`` or ``labels`` is given. Options:
    ``segmentation_type`` (``binary``, ``fractional``, ``labelmap``), ``compression``
    (``none``, ``deflate``, ``jpeg-ls``, ``rle``), ``algorithm_type``, ``algorithm_name``,
    ``series_description``, ``uid_root``... — see :func:`idcseg.dicom.makeseg.make_seg`.
    Returns a :class:`~idcseg.dicom.makeseg.MadeSeg` (path, UIDs, ``segments`` rows).
    """
    from .dicom.makeseg import expand_masks
    from .dicom.makeseg import make_seg as run

    items = [masks] if isinstance(masks, str | Path) else list(masks)
    return run(expand_masks(items), source, output, **options)


def structures(search: str | None = None) -> pd.DataFrame:
    """The structure names :func:`make_seg` knows, with their codes (all, or those matching
    *search* in a name, label or code)."""
    import pandas as pd

    from .dicom.structures import search as find_structures

    return pd.DataFrame([_structure_row(s) for s in find_structures(search)])


def _structure_row(structure: Any) -> dict[str, Any]:
    def code(c: Any) -> str | None:
        return f"{c.scheme}:{c.value}" if c else None

    return {
        "name": structure.name,
        "label": structure.label,
        "category": structure.category.meaning,
        "structure": structure.type.meaning,
        "structure_code": code(structure.type),
        "modifier": structure.type_modifier.meaning if structure.type_modifier else None,
        "anatomy": structure.region.meaning if structure.region else None,
        "anatomy_code": code(structure.region),
        "source": structure.source,
    }
