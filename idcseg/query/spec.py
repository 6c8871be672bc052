"""Query specifications: validated filters and the query they describe.

A :class:`Query` names a template in ``sql/``, the *structure* Jinja needs (which clauses exist)
and the *values*, which only ever travel as query parameters. Everything here is validated
before any SQL is rendered, so bad input fails with one clear line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"
#: The SR SOP classes whose TID 1500 documents IDC's measurement tables (and idcseg) read.
SR_SOP_CLASS_UIDS = (
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.88.35",  # Extensible SR
)
SEG_SOP_CLASSES: dict[str, tuple[str, ...]] = {
    "binary": (SEGMENTATION_STORAGE,),
    "labelmap": (LABELMAP_SEGMENTATION_STORAGE,),
    "any": (SEGMENTATION_STORAGE, LABELMAP_SEGMENTATION_STORAGE),
}

_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")  # PS3.5 9.1: no leading zeros
_DATASET = re.compile(r"idc_current|idc_v[1-9][0-9]{0,2}")
DEFAULT_DATASET = "idc_current"
SUMMARY_GROUPS = ("collection", "analysis_result")
SOURCES = ("all", "idc", "local")
"""Which SEG series a query sees: ``idc`` (hosted by IDC), ``local`` (your own SEGs) or both."""
VIEWERS = ("ohif_v3", "ohif_v2")
"""How ``find`` links a SEG: OHIF v3 (IDC's own form since v24) or OHIF v2 (before v24)."""
ALGORITHM_TYPES = ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL")


def validate_uid(value: str, what: str = "UID") -> str:
    """Return *value* if it is a DICOM UID: components of digits separated by dots, none with
    a leading zero (other than "0" itself), at most 64 characters (PS3.5 §9.1)."""
    if not isinstance(value, str) or len(value) > 64 or not _UID.fullmatch(value):
        why = "expected digits and dots, ≤ 64 chars"
        if isinstance(value, str) and re.fullmatch(r"[0-9]+(\.[0-9]+)*", value):
            why = "a component starts with 0; DICOM UIDs have no leading zeros"
            if len(value) > 64:
                why = f"{len(value)} characters; DICOM UIDs have at most 64"
        raise UsageError(f"not a DICOM {what}: {value!r} ({why})")
    return value


def validate_dataset(name: str | int | None) -> str:
    """Normalise an IDC release to a dataset name: ``25``/``v25``/``idc_v25`` → ``idc_v25``.

    ``None`` and ``current`` mean ``idc_current``. Anything else is refused before any SQL exists.
    """
    if name is None:
        return DEFAULT_DATASET
    text = str(name).strip()
    if text.isdigit():
        text = f"idc_v{text}"
    elif text in ("current", "idc_current"):
        text = "idc_current"
    elif re.fullmatch(r"v[0-9]+", text):
        text = f"idc_{text}"
    if not _DATASET.fullmatch(text):
        raise UsageError(
            f"not an IDC release: {name!r} (use a number like 25, or idc_current / idc_vNN)"
        )
    return text


def _texts(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Filter values, stripped; an empty value is refused (it would silently widen a query)."""
    if values is None:
        return ()
    if isinstance(values, str | int) and not isinstance(values, bool):
        values = [str(values)]
    out = []
    for value in values:
        text = str(value).strip()
        if not text:
            raise UsageError("an empty filter value matches nothing useful; leave the option out")
        out.append(text)
    return tuple(out)


def _text(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not str(value).strip():
        raise UsageError(f"an empty {what} matches everything; leave the option out")
    return str(value)


def _meanings(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Lower-case meanings; a SCHEME:VALUE code becomes its concept's meanings."""
    out: list[str] = []
    for value in _texts(values):
        if ":" in value and " " not in value:
            from ..dicom.codes import meanings_of

            out.extend(meanings_of(value))
        else:
            out.append(value.lower())
    return tuple(dict.fromkeys(out))


def idc_name(value: str) -> str:
    """IDC's spelling of a collection or analysis-result name: lower case, every run of other
    characters than letters and digits one ``_`` (TCIA's ``LIDC-IDRI`` is IDC's ``lidc_idri``)."""
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")


def _names(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Collection or analysis-result names as given, lower-cased (IDC's spellings are sent
    too by :meth:`SeriesFilter.params`)."""
    return tuple(dict.fromkeys(v.lower() for v in _texts(values)))


def _spellings(values: tuple[str, ...]) -> list[str]:
    """Each name as given (lower case) and in IDC's spelling, without repeats."""
    return list(dict.fromkeys(s for v in values for s in (v, idc_name(v)) if s))


NAMED_FILTERS = {"collection": "--collection", "analysis_result": "--analysis-result"}


def unknown_names(f: SeriesFilter, known: Mapping[str, Iterable[str]]) -> str | None:
    """Why *f* cannot match: a collection or analysis result that is not among *known*
    (``{"collection": ids, "analysis_result": ids}``), with the closest names; or None."""
    from ..errors import did_you_mean

    for name, option in NAMED_FILTERS.items():
        ids = [i for i in known.get(name, ()) if i]
        lowered = {i.lower() for i in ids}
        for value in getattr(f, name):
            if value not in lowered and idc_name(value) not in lowered:
                hint = did_you_mean(idc_name(value), ids) or did_you_mean(value, ids)
                return (
                    f"no {name.replace('_', ' ')} {value!r} in this IDC release{hint}; "
                    f"`idcseg summary --by {name}` lists them ({option} takes any case, "
                    "and TCIA's spelling: LIDC-IDRI = lidc_idri)"
                )
    return None


def known_names_query() -> Query:
    """The collection and analysis-result ids of the engine's index (``sql/known_names.sql``)."""
    return Query("known_names.sql")


def explain_empty(engine: Any, query: Query) -> None:
    """Raise :class:`UsageError` when *query* answered nothing because a collection or analysis
    result it names does not exist (with the closest names). Embedded engine only: on BigQuery
    the check would be a billed scan."""
    f = query.filters
    if f is None or getattr(engine, "name", None) != "duckdb":
        return
    if not any(getattr(f, name) for name in NAMED_FILTERS):
        return
    known: dict[str, list[str]] = {name: [] for name in NAMED_FILTERS}
    for kind, name in engine.run(known_names_query()).rows():
        known[kind].append(name)
    problem = unknown_names(f, known)
    if problem is not None:
        raise UsageError(problem)


def _algorithm_types(values: Iterable[str] | str | None) -> tuple[str, ...]:
    types = tuple(v.upper() for v in _texts(values))
    for value in types:
        if value not in ALGORITHM_TYPES:
            raise UsageError(
                f"unknown --algorithm-type {value!r} (choose from {', '.join(ALGORITHM_TYPES)})"
            )
    return types


@dataclass(frozen=True)
class SeriesFilter:
    """Which SEG series to consider. Empty fields do not filter.

    Text comparisons on collection, analysis result and body part are case-insensitive;
    ``description`` matches any SeriesDescription containing the text (case-insensitive).
    ``body_part`` is IDC's curated BodyPartExamined (as in idc-index) of the segmented series,
    else of the SEG itself. ``source`` keeps the series IDC hosts (``idc``), your own SEGs
    that IDC does not have (``local``), or both (``all``).
    """

    collection: tuple[str, ...] = ()
    analysis_result: tuple[str, ...] = ()
    patient: tuple[str, ...] = ()
    study: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    body_part: tuple[str, ...] = ()
    description: str | None = None
    sop_class: str = "any"
    structure: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    anatomy: tuple[str, ...] = ()
    algorithm_type: tuple[str, ...] = ()
    algorithm_name: str | None = None
    min_segments: int | None = None
    source_modality: tuple[str, ...] = ()
    source: str = "all"

    @classmethod
    def build(
        cls,
        *,
        collection: Iterable[str] | str | None = None,
        analysis_result: Iterable[str] | str | None = None,
        patient: Iterable[str] | str | None = None,
        study: Iterable[str] | str | None = None,
        series: Iterable[str] | str | None = None,
        body_part: Iterable[str] | str | None = None,
        description: str | None = None,
        sop_class: str = "any",
        structure: Iterable[str] | str | None = None,
        category: Iterable[str] | str | None = None,
        anatomy: Iterable[str] | str | None = None,
        algorithm_type: Iterable[str] | str | None = None,
        algorithm_name: str | None = None,
        min_segments: int | None = None,
        source_modality: Iterable[str] | str | None = None,
        source: str = "all",
    ) -> SeriesFilter:
        """Validate user input and build a filter (UIDs checked, texts normalised).

        ``structure``, ``category`` and ``anatomy`` match the CodeMeanings IDC's seg_index lists
        per series (any case, whole meaning); a ``SCHEME:VALUE`` code is turned into the
        meanings of that concept (and of its SNOMED-RT/CT twin) first.
        """
        if min_segments is not None and (
            isinstance(min_segments, bool)
            or not isinstance(min_segments, int)
            or not 0 <= min_segments < 2**63
        ):
            raise UsageError(
                f"--min-segments must be a whole number ≥ 0 (and < 2^63), not {min_segments!r}"
            )
        sop_class = str(sop_class).lower()
        if sop_class not in SEG_SOP_CLASSES:
            raise UsageError(
                f"unknown --sop-class {sop_class!r} (choose from {', '.join(SEG_SOP_CLASSES)})"
            )
        source = str(source).lower()
        if source not in SOURCES:
            raise UsageError(f"unknown --source {source!r} (choose from {', '.join(SOURCES)})")
        return cls(
            collection=_names(collection),
            analysis_result=_names(analysis_result),
            patient=_texts(patient),
            study=tuple(validate_uid(v, "StudyInstanceUID") for v in _texts(study)),
            series=tuple(validate_uid(v, "SeriesInstanceUID") for v in _texts(series)),
            body_part=tuple(v.upper() for v in _texts(body_part)),
            description=_text(description, "--description"),
            sop_class=sop_class,
            structure=_meanings(structure),
            category=_meanings(category),
            anatomy=_meanings(anatomy),
            algorithm_type=_algorithm_types(algorithm_type),
            algorithm_name=_text(algorithm_name, "--algorithm-name"),
            min_segments=min_segments,
            source_modality=tuple(v.upper() for v in _texts(source_modality)),
            source=source,
        )

    def needs_seg_index(self) -> bool:
        """True when a filter reads IDC's series-level segmentation index (seg_index)."""
        return bool(
            self.structure
            or self.category
            or self.anatomy
            or self.algorithm_type
            or self.algorithm_name is not None
            or self.min_segments is not None
            or self.source_modality
        )

    def flags(self) -> dict[str, bool]:
        """Which filters are present: all Jinja may know about them."""
        return {
            "collection": bool(self.collection),
            "analysis_result": bool(self.analysis_result),
            "patient": bool(self.patient),
            "study": bool(self.study),
            "series": bool(self.series),
            "body_part": bool(self.body_part),
            "description": self.description is not None,
            "sop_class": self.sop_class != "any",
            "source": None if self.source == "all" else self.source,  # "idc" or "local"
            "structure": bool(self.structure),
            "category": bool(self.category),
            "anatomy": bool(self.anatomy),
            "algorithm_type": bool(self.algorithm_type),
            "algorithm_name": self.algorithm_name is not None,
            "min_segments": self.min_segments is not None,
            "source_modality": bool(self.source_modality),
            "seg_index": self.needs_seg_index(),
        }

    def params(self) -> dict[str, Any]:
        """The filter values, as query parameters named like the template's ``@params``."""
        params: dict[str, Any] = {"sop_class_uids": list(SEG_SOP_CLASSES[self.sop_class])}
        for name in NAMED_FILTERS:
            if getattr(self, name):
                params[name] = _spellings(getattr(self, name))
        for name in (
            "patient",
            "study",
            "series",
            "body_part",
            "algorithm_type",
            "source_modality",
        ):
            values = getattr(self, name)
            if values:
                params[name] = list(values)
        for name in ("structure", "category", "anatomy"):
            values = getattr(self, name)
            if values:
                params[f"{name}_meanings"] = list(values)
        if self.description is not None:
            params["description"] = self.description
        if self.algorithm_name is not None:
            params["algorithm_name"] = self.algorithm_name
        if self.min_segments is not None:
            params["min_segments"] = self.min_segments
        return params


def parameter_type(value: Any) -> str:
    """The BigQuery type of a parameter value: STRING, INT64, FLOAT64, BOOL or ARRAY<...>."""
    if isinstance(value, list | tuple):
        inner = {parameter_type(v) for v in value} or {"STRING"}
        if len(inner) != 1:
            raise ValueError(f"mixed parameter array {value!r}")
        return f"ARRAY<{inner.pop()}>"
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    return "STRING"


def validate_limit(limit: int | None, what: str = "--limit") -> int | None:
    """A row limit is a non-negative integer or None (no limit)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit < 2**63:
        raise UsageError(f"{what} must be a whole number ≥ 0 (and < 2^63), not {limit!r}")
    return limit


@dataclass(frozen=True)
class Query:
    """A template, the structure it is rendered with, and the parameter values it binds.

    *filters* is the :class:`SeriesFilter` it was built from, if any: it explains an empty
    answer (see :func:`unknown_names`), it never enters the SQL.
    """

    template: str
    structure: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    filters: Any = field(default=None, compare=False)


def series_query(f: SeriesFilter, limit: int | None = None) -> Query:
    """SEG series matching *f* (``sql/series.sql``)."""
    limit = validate_limit(limit)
    params = f.params()
    if limit is not None:
        params["limit"] = limit
    return Query("series.sql", {"f": f.flags(), "limit": limit is not None}, params, f)


def summary_query(f: SeriesFilter, by: str = "collection", limit: int | None = None) -> Query:
    """Counts of SEG series, studies and patients per collection or analysis result."""
    by = by.lower()
    if by not in SUMMARY_GROUPS:
        raise UsageError(f"unknown --by {by!r} (choose from {', '.join(SUMMARY_GROUPS)})")
    limit = validate_limit(limit)
    params = f.params()
    if limit is not None:
        params["limit"] = limit
    structure = {"f": f.flags(), "group_by": f"{by}_id", "limit": limit is not None}
    return Query("summary.sql", structure, params, f)


def random_query(f: SeriesFilter, n: int = 1, seed: int | str = 0) -> Query:
    """*n* distinct studies holding a SEG, chosen reproducibly from *seed*."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n < 2**63:
        raise UsageError(f"-n must be a whole number ≥ 1 (and < 2^63), not {n!r}")
    params = f.params()
    params.update(seed=str(seed), n=n)
    return Query("random.sql", {"f": f.flags()}, params, f)


def viewer_urls_query(study: str, series: Iterable[str] = ()) -> Query:
    """Viewer links for one study and some of its series."""
    validate_uid(study, "StudyInstanceUID")
    series = [validate_uid(s, "SeriesInstanceUID") for s in series]
    params: dict[str, Any] = {"study": study}
    if series:
        params["series"] = series
    return Query("viewer_urls.sql", {"has_series": bool(series)}, params)


CODE_FILTERS = ("structure", "category", "anatomy", "modifier")
FACETS = (*CODE_FILTERS, "algorithm_type", "algorithm_name")
PER = ("segment", "series")


@dataclass(frozen=True)
class SegmentFilter:
    """Which segments to consider. Code filters hold resolved
    :class:`~idcseg.dicom.codes.CodeMatch`.

    Build it with :meth:`build`, which resolves meanings, ``SCHEME:VALUE`` codes and DICOM
    concept keywords (see :mod:`idcseg.dicom.codes`).
    """

    structure: Any = None
    category: Any = None
    anatomy: Any = None
    modifier: Any = None
    algorithm_type: tuple[str, ...] = ()
    algorithm_name: str | None = None

    @classmethod
    def build(
        cls,
        *,
        structure: Iterable[str] | str | None = None,
        category: Iterable[str] | str | None = None,
        anatomy: Iterable[str] | str | None = None,
        modifier: Iterable[str] | str | None = None,
        algorithm_type: Iterable[str] | str | None = None,
        algorithm_name: str | None = None,
    ) -> SegmentFilter:
        """Validate and resolve user input."""
        from ..dicom.codes import resolve_all

        types = _algorithm_types(algorithm_type)
        return cls(
            structure=resolve_all(_texts(structure)),
            category=resolve_all(_texts(category)),
            anatomy=resolve_all(_texts(anatomy)),
            modifier=resolve_all(_texts(modifier)),
            algorithm_type=types,
            algorithm_name=_text(algorithm_name, "--algorithm-name"),
        )

    def structure_flags(self) -> dict[str, Any]:
        """Which filters exist (and, for codes, whether codes and/or meanings are matched)."""
        flags: dict[str, Any] = {}
        for name in CODE_FILTERS:
            match = getattr(self, name)
            flags[name] = (
                {"codes": bool(match.codes), "meanings": bool(match.meanings)} if match else None
            )
        flags["algorithm_type"] = bool(self.algorithm_type)
        flags["algorithm_name"] = self.algorithm_name is not None
        return flags

    def is_empty(self) -> bool:
        """True when no filter is set (every segment matches)."""
        return not any(getattr(self, name) for name in CODE_FILTERS) and not (
            self.algorithm_type or self.algorithm_name is not None
        )

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Does one segment row (as :func:`idcseg.dicom.segheader.segment_rows` makes it) pass?

        The same rules as the SQL of ``find``: a code matches by ``SCHEME:VALUE`` or by
        lower-case meaning; ``modifier`` looks at the region's modifier and the type's
        modifiers; ``algorithm_type`` is exact (any case); ``algorithm_name`` is text anywhere
        (any case).
        """

        def hit(match: Any, code: Mapping[str, Any] | None) -> bool:
            if not code:
                return False
            text = f"{code.get('CodingSchemeDesignator')}:{code.get('CodeValue')}"
            meaning = (code.get("CodeMeaning") or "").lower()
            return text in match.codes or (bool(meaning) and meaning in match.meanings)

        kind = row.get("SegmentedPropertyType")
        checks = (
            ("structure", [kind]),
            ("category", [row.get("SegmentedPropertyCategory")]),
            ("anatomy", [row.get("AnatomicRegion")]),
            (
                "modifier",
                [
                    row.get("AnatomicRegionModifier"),
                    *((kind or {}).get("SegmentedPropertyTypeModifierCodeSequence") or []),
                ],
            ),
        )
        for name, codes in checks:
            match = getattr(self, name)
            if match and not any(hit(match, code) for code in codes):
                return False
        algorithm_type = (row.get("SegmentAlgorithmType") or "").upper()
        if self.algorithm_type and algorithm_type not in self.algorithm_type:
            return False
        if self.algorithm_name is not None:
            name = (row.get("SegmentAlgorithmName") or "").lower()
            if self.algorithm_name.lower() not in name:
                return False
        return True

    def params(self) -> dict[str, Any]:
        """Filter values as query parameters."""
        params: dict[str, Any] = {}
        for name in CODE_FILTERS:
            match = getattr(self, name)
            if match and match.codes:
                params[f"{name}_codes"] = list(match.codes)
            if match and match.meanings:
                params[f"{name}_meanings"] = list(match.meanings)
        if self.algorithm_type:
            params["algorithm_type"] = list(self.algorithm_type)
        if self.algorithm_name is not None:
            params["algorithm_name"] = self.algorithm_name
        return params


def _segment_params(f: SeriesFilter, g: SegmentFilter) -> dict[str, Any]:
    params = dict(f.params())
    if f.sop_class == "any":  # every SEG has segment rows: no SOP class condition needed
        del params["sop_class_uids"]
    if f.needs_seg_index():
        raise UsageError(
            "series-level --structure/--anatomy/... filters are for `series`, `random` and "
            "`summary`; `find` and `facets` filter segments with the segment options"
        )
    params.update(g.params())
    return params


def find_query(
    f: SeriesFilter,
    g: SegmentFilter,
    per: str = "segment",
    limit: int | None = None,
    viewer: str = "ohif_v3",
) -> Query:
    """Segments (or SEG series with their segments aggregated) matching *f* and *g*.

    ``viewer_url`` opens each SEG over the series it segments in OHIF v3 (``ohif_v3``, IDC's own
    link since v24) or OHIF v2 (``ohif_v2``, the link IDC gave before v24).
    """
    if per not in PER:
        raise UsageError(f"unknown --per {per!r} (choose from {', '.join(PER)})")
    viewer = str(viewer).lower()
    if viewer not in VIEWERS:
        raise UsageError(f"unknown --viewer {viewer!r} (choose from {', '.join(VIEWERS)})")
    limit = validate_limit(limit)
    params = _segment_params(f, g)
    if limit is not None:
        params["limit"] = limit
    structure = {
        "f": f.flags(),
        "g": g.structure_flags(),
        "per": per,
        "seg_viewer": viewer,
        "limit": limit is not None,
    }
    return Query("find.sql", structure, params, f)


def facets_query(
    f: SeriesFilter, g: SegmentFilter, by: str = "structure", limit: int | None = None
) -> Query:
    """Counts of segments and series per value of one facet."""
    by = by.lower()
    if by not in FACETS:
        raise UsageError(f"unknown --by {by!r} (choose from {', '.join(FACETS)})")
    limit = validate_limit(limit)
    params = _segment_params(f, g)
    if limit is not None:
        params["limit"] = limit
    structure = {"f": f.flags(), "g": g.structure_flags(), "by": by, "limit": limit is not None}
    return Query("facets.sql", structure, params, f)


def sync_query(f: SeriesFilter, g: SegmentFilter) -> Query:
    """Segment rows plus labels and series facts, to copy into the local store."""
    structure = {"f": f.flags(), "g": g.structure_flags()}
    return Query("sync.sql", structure, _segment_params(f, g))


def sync_measurements_query(f: SeriesFilter, g: SegmentFilter) -> Query:
    """Rows of the TID 1500 SRs measuring the matching segments, to copy into the store."""
    structure = {"f": f.flags(), "g": g.structure_flags()}
    return Query("sync_measurements.sql", structure, _segment_params(f, g))


SERIES_FACETS = ("structure", "category", "anatomy", "algorithm_type", "algorithm_name")


def series_facets_query(f: SeriesFilter, by: str = "structure", limit: int | None = None) -> Query:
    """Counts of SEG series per value of one seg_index facet."""
    by = by.lower()
    if by not in SERIES_FACETS:
        raise UsageError(
            f"unknown --by {by!r} for --level series (choose from {', '.join(SERIES_FACETS)})"
        )
    limit = validate_limit(limit)
    params = f.params()
    if limit is not None:
        params["limit"] = limit
    flags = {**f.flags(), "seg_index": True}  # always read from the series-level index
    structure = {"f": flags, "by": by, "limit": limit is not None}
    return Query("series_facets.sql", structure, params, f)


# --- downloads --------------------------------------------------------------------------------

_CRDC_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def validate_crdc_uuid(value: str) -> str:
    """Return *value* (lower case) if it is a crdc_series_uuid: a UUID in its 8-4-4-4-12 form."""
    if not isinstance(value, str) or not _CRDC_UUID.fullmatch(value):
        raise UsageError(f"not a crdc_series_uuid: {value!r} (expected a UUID)")
    return value.lower()


def download_series_query(series: Iterable[str]) -> Query:
    """Where the files of some series are, and their facts (``sql/download_series.sql``)."""
    uids = [validate_uid(s, "SeriesInstanceUID") for s in series]
    return Query("download_series.sql", {}, {"series": list(dict.fromkeys(uids))})


def series_by_uuid_query(uuids: Iterable[str]) -> Query:
    """Series named by their bucket folders (``sql/series_by_uuid.sql``), for s5cmd manifests."""
    values = [validate_crdc_uuid(u) for u in uuids]
    return Query("series_by_uuid.sql", {}, {"uuids": list(dict.fromkeys(values))})


def study_series_query(studies: Iterable[str]) -> Query:
    """The image series of some studies (``sql/study_series.sql``)."""
    uids = [validate_uid(s, "StudyInstanceUID") for s in studies]
    return Query("study_series.sql", {}, {"study": list(dict.fromkeys(uids))})


def citations_query(series: Iterable[str]) -> Query:
    """The sources (DOI, licence, citation) of some series (``sql/citations.sql``)."""
    uids = [validate_uid(s, "SeriesInstanceUID") for s in series]
    return Query("citations.sql", {}, {"series": list(dict.fromkeys(uids))})


# --- measurements (TID 1500 SRs) ----------------------------------------------------------------

MEASUREMENT_KINDS = ("all", "quantitative", "qualitative")


def _number(value: Any, what: str) -> float | None:
    """A finite number from user input (``"500"``, ``0.5``), else a UsageError naming *what*."""
    import math

    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{what} must be a number (e.g. 500 or 0.5), not {value!r}")
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a number (e.g. 500 or 0.5), not {value!r}") from None
    if not math.isfinite(number):
        raise UsageError(f"{what} must be a finite number, not {value!r}")
    return number


@dataclass(frozen=True)
class Evaluation:
    """One ``--evaluation`` concept and the values accepted for it (any of them).

    ``values`` match a value's code (``SCHEME:VALUE``) or its whole meaning (any case);
    ``texts`` (from ``CONCEPT~TEXT``) match text anywhere in the value's meaning.
    """

    concept: Any  # CodeMatch
    values: Any = None  # CodeMatch | None
    texts: tuple[str, ...] = ()

    def flags(self) -> dict[str, bool]:
        """Which parameters this evaluation's SQL binds."""
        return {
            "codes": bool(self.concept.codes),
            "meanings": bool(self.concept.meanings),
            "value_codes": bool(self.values and self.values.codes),
            "value_meanings": bool(self.values and self.values.meanings),
            "value_texts": bool(self.texts),
        }


def _evaluations(terms: Iterable[str] | str | None) -> tuple[Evaluation, ...]:
    """``CONCEPT=VALUE`` / ``CONCEPT~TEXT`` terms, grouped by concept: values of one concept
    are alternatives (OR), different concepts must all hold (AND)."""
    from ..dicom.codes import merge, resolve_code_or_meaning

    grouped: dict[str, tuple[Any, list[Any], list[str]]] = {}
    for term in _texts(terms):
        cut = min((i for i in (term.find("="), term.find("~")) if i >= 0), default=-1)
        concept, value = term[:cut].strip(), term[cut + 1 :].strip()
        if cut < 0 or not concept or not value:
            raise UsageError(
                f"--evaluation {term!r}: write CONCEPT=VALUE (a meaning or SCHEME:VALUE each, "
                "e.g. Malignancy=99LIDCQIICR:905) or CONCEPT~TEXT (text in the value's meaning)"
            )
        match = resolve_code_or_meaning(concept)
        key = "|".join(match.codes or match.meanings)
        entry = grouped.setdefault(key, (match, [], []))
        if term[cut] == "~":
            entry[2].append(value.lower())
        else:
            entry[1].append(resolve_code_or_meaning(value))
    return tuple(
        Evaluation(concept, merge(values), tuple(dict.fromkeys(texts)))
        for concept, values, texts in grouped.values()
    )


@dataclass(frozen=True)
class MeasurementFilter:
    """Which measurements to return (see :meth:`build`)."""

    quantity: Any = None  # CodeMatch | None
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    evaluations: tuple[Evaluation, ...] = ()
    kind: str = "all"

    @classmethod
    def build(
        cls,
        *,
        quantity: Iterable[str] | str | None = None,
        min: Any = None,  # noqa: A002 - named as the CLI option
        max: Any = None,  # noqa: A002
        unit: str | None = None,
        evaluation: Iterable[str] | str | None = None,
        kind: str = "all",
    ) -> MeasurementFilter:
        """Validate and resolve user input.

        *quantity*: the measured concept, a meaning (any case, e.g. ``Volume``) or
        ``SCHEME:VALUE`` (SNOMED-RT and SNOMED-CT twins match each other). *min*/*max*: bounds on
        that quantity's value, in the SR's units or, with *unit* (a UCUM code such as ``mm3``),
        converted to it. *evaluation*: ``CONCEPT=VALUE`` or ``CONCEPT~TEXT`` terms the
        measurement's group must have (see :func:`_evaluations`). *kind*: ``all``,
        ``quantitative`` or ``qualitative``.
        """
        from ..dicom.codes import merge, resolve_code_or_meaning
        from .units import validate_unit

        kind = str(kind).lower()
        if kind not in MEASUREMENT_KINDS:
            choices = ", ".join(MEASUREMENT_KINDS)
            raise UsageError(f"unknown --kind {kind!r} (choose from {choices})")
        quantities = [resolve_code_or_meaning(q) for q in _texts(quantity)]
        minimum, maximum = _number(min, "--min"), _number(max, "--max")
        unit = validate_unit(unit)
        if minimum is not None or maximum is not None:
            if len(quantities) != 1:
                raise UsageError(
                    "--min/--max bound one quantity's values: give exactly one --quantity "
                    "(e.g. --quantity Volume --min 500 --unit mm3)"
                )
            if minimum is not None and maximum is not None and minimum > maximum:
                raise UsageError(f"--min {minimum:g} is larger than --max {maximum:g}")
        if (minimum is not None or maximum is not None or unit) and kind == "qualitative":
            raise UsageError("--min, --max and --unit apply to quantitative measurements")
        if minimum is not None or maximum is not None or unit:
            kind = "quantitative"
        return cls(
            quantity=merge(quantities),
            minimum=minimum,
            maximum=maximum,
            unit=unit,
            evaluations=_evaluations(evaluation),
            kind=kind,
        )

    def flags(self) -> dict[str, Any]:
        """The structure the template needs."""
        q = self.quantity
        return {
            "quantity": {"codes": bool(q.codes), "meanings": bool(q.meanings)} if q else None,
            "min": self.minimum is not None,
            "max": self.maximum is not None,
            "unit": self.unit is not None,
            "kind": self.kind,
            "evaluations": [e.flags() for e in self.evaluations],
        }

    def params(self) -> dict[str, Any]:
        """Filter values as query parameters."""
        params: dict[str, Any] = {}
        if self.quantity is not None:
            if self.quantity.codes:
                params["quantity_codes"] = list(self.quantity.codes)
            if self.quantity.meanings:
                params["quantity_meanings"] = list(self.quantity.meanings)
        if self.minimum is not None:
            params["min_value"] = self.minimum
        if self.maximum is not None:
            params["max_value"] = self.maximum
        if self.unit is not None:
            params["unit"] = self.unit
        for i, e in enumerate(self.evaluations):
            if e.concept.codes:
                params[f"evaluation{i}_codes"] = list(e.concept.codes)
            if e.concept.meanings:
                params[f"evaluation{i}_meanings"] = list(e.concept.meanings)
            if e.values is not None and e.values.codes:
                params[f"evaluation{i}_value_codes"] = list(e.values.codes)
            if e.values is not None and e.values.meanings:
                params[f"evaluation{i}_value_meanings"] = list(e.values.meanings)
            if e.texts:
                params[f"evaluation{i}_value_texts"] = list(e.texts)
        return params


def measurements_query(
    f: SeriesFilter,
    g: SegmentFilter,
    m: MeasurementFilter,
    limit: int | None = None,
    *,
    linked: bool = False,
) -> Query:
    """Measurements of segments (``sql/measurements.sql``): one row each.

    Measurements whose segment is not in the store are kept, with empty segment columns, unless
    a segment or series filter is used or *linked* is true.
    """
    limit = validate_limit(limit)
    params = _segment_params(f, g)
    params.update(m.params())
    if limit is not None:
        params["limit"] = limit
    segment_flags = g.structure_flags()
    filtered = any(f.flags().values()) or any(bool(v) for v in segment_flags.values())
    structure = {
        "f": f.flags(),
        "g": segment_flags,
        "m": m.flags(),
        "linked_only": linked or filtered,
        "limit": limit is not None,
    }
    return Query("measurements.sql", structure, params, f)


def viewer_urls_problem(study: str, columns: list[str], rows: list[tuple[Any, ...]]) -> str | None:
    """Why the rows of a :func:`viewer_urls_query` answer nothing useful: an unknown study, or a
    series not in it; None when every asked series is in the study."""
    if not rows:
        return f"study {study} is not in the IDC index"
    in_study = columns.index("in_study")
    series = columns.index("SeriesInstanceUID")
    missing = [row[series] for row in rows if not row[in_study]]
    if missing:
        return f"series {missing[0]} is not in study {study}"
    return None


TEMPLATES = (
    "series",
    "summary",
    "random",
    "viewer_urls",
    "find",
    "facets",
    "sync",
    "fetch_targets",
    "info",
    "series_facets",
    "known_names",
    "download_series",
    "series_by_uuid",
    "study_series",
    "citations",
    "measurements",
    "sync_measurements",
    "measurement_targets",
)


SEGMENT_TEMPLATES = ("find", "facets", "sync", "measurements", "sync_measurements")


def split_segment_filters(f: SeriesFilter) -> tuple[SeriesFilter, SegmentFilter]:
    """*f*'s structure, category, anatomy and algorithm filters as segment filters (for the
    segment templates), and the rest of *f*."""
    from dataclasses import replace

    g = SegmentFilter.build(
        structure=f.structure,
        category=f.category,
        anatomy=f.anatomy,
        algorithm_type=f.algorithm_type,
        algorithm_name=f.algorithm_name,
    )
    rest = replace(f, structure=(), category=(), anatomy=(), algorithm_type=(), algorithm_name=None)
    return rest, g


def template_query(
    template: str,
    f: SeriesFilter,
    g: SegmentFilter | None = None,
    *,
    limit: int | None = None,
    by: str = "",
    n: int = 1,
    seed: int | str = 0,
) -> Query:
    """The query of any template in ``sql/`` for the filters *f* (and segment filters *g*):
    what ``idcseg sql TEMPLATE`` and :func:`idcseg.sql` print.

    For ``viewer_urls`` the study is the first of ``f.study``; ``fetch_targets``,
    ``measurement_targets``, ``download_series`` and ``citations`` take ``f.series``,
    ``study_series`` ``f.study``. *by* is the grouping of ``summary`` and the facet of
    ``facets`` / ``series_facets``.
    """
    name = template.removesuffix(".sql")
    if g is None and name in SEGMENT_TEMPLATES:
        f, g = split_segment_filters(f)
    g = g or SegmentFilter()
    builders = {
        "series": lambda: series_query(f, limit),
        "summary": lambda: summary_query(f, by=by.replace("-", "_") or "collection", limit=limit),
        "random": lambda: random_query(f, n=n, seed=seed),
        "viewer_urls": lambda: viewer_urls_query((f.study or ("",))[0], f.series),
        "find": lambda: find_query(f, g, limit=limit),
        "facets": lambda: facets_query(f, g, by=by or "structure", limit=limit),
        "sync": lambda: sync_query(f, g),
        "fetch_targets": lambda: Query("fetch_targets.sql", {}, {"series": list(f.series)}),
        "info": lambda: Query("info.sql"),
        "series_facets": lambda: series_facets_query(f, by=by or "structure", limit=limit),
        "known_names": known_names_query,
        "download_series": lambda: download_series_query(f.series),
        "series_by_uuid": lambda: series_by_uuid_query(()),
        "study_series": lambda: study_series_query(f.study),
        "citations": lambda: citations_query(f.series),
        "measurements": lambda: measurements_query(f, g, MeasurementFilter(), limit=limit),
        "sync_measurements": lambda: sync_measurements_query(f, g),
        "measurement_targets": lambda: Query(
            "measurement_targets.sql",
            {},
            {"series": list(f.series), "sr_sop_class_uids": list(SR_SOP_CLASS_UIDS)},
        ),
    }
    if name not in builders:
        from ..errors import did_you_mean

        raise UsageError(
            f"no template {template!r}{did_you_mean(name, TEMPLATES)} "
            f"(choose from {', '.join(TEMPLATES)})"
        )
    return builders[name]()


def check_filter_names(given: Iterable[str], valid: Iterable[str], what: str = "filter") -> None:
    """Refuse keyword arguments that are not filters, naming the valid ones and the closest."""
    from ..errors import did_you_mean

    valid = list(valid)
    for name in given:
        if name not in valid:
            raise UsageError(
                f"unknown {what} {name!r}{did_you_mean(name, valid)}; "
                f"the {what}s are: {', '.join(valid)}"
            )
