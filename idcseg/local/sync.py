"""Copy rows from IDC's BigQuery tables into the local store (`idcseg sync`).

One query (``sql/sync.sql``) returns the segments matching the ``find`` filters with their
labels and series facts; after its dry-run cost is shown (and checked against the cap), the rows
are rebuilt in IDC's ``segmentations`` shape and written with the same code path as ``ingest``
(instances tagged ``origin='bigquery'``). Afterwards the embedded engine answers the same
``find`` offline with the same rows.

With ``--measurements``, :func:`sync_measurements` does the same for the TID 1500 SRs measuring
those segments (``sql/sync_measurements.sql``): every quantitative and qualitative row of each
such SR, rebuilt into IDC's three measurement tables (``measurement_groups`` gets the group
columns; its ``contentSequence`` stays NULL, since copying IDC's content trees would scan far
more). Values travel as FLOAT64 and are stored as NUMERIC again (9 decimals).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ..dicom.segheader import LOCAL_SERIES_COLUMNS, viewer_url
from ..query import cost, spec
from .store import Store

BATCH = 500


@dataclass
class SyncReport:
    """What a sync did (or, for a dry run, would scan)."""

    estimate: cost.Estimate
    segments: int = 0
    instances: int = 0
    series: int = 0
    dry_run: bool = False
    measurements: int | None = None  # set by sync_measurements: rows copied
    what: str = "sync"

    def summary(self) -> str:
        """One line for a terminal."""
        if self.dry_run:
            return f"dry run: {self.what} would scan {self.estimate}"
        if self.measurements is not None:
            return (
                f"synced {self.measurements} measurements of {self.instances} SR instances in "
                f"{self.series} series (scanned {self.estimate})"
            )
        return (
            f"synced {self.segments} segments of {self.instances} SEG instances in "
            f"{self.series} series (scanned {self.estimate})"
        )


def _code(row: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    parts = (row[f"{prefix}_value"], row[f"{prefix}_scheme"], row[f"{prefix}_meaning"])
    if all(p is None for p in parts):
        return None
    return dict(zip(("CodeValue", "CodingSchemeDesignator", "CodeMeaning"), parts, strict=True))


def _modifiers(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return [
        {k: item.get(k) for k in ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")}
        for item in list(value)
    ]


def segment_row(row: dict[str, Any]) -> dict[str, Any]:
    """A flat sync.sql row in the store's ``segmentations`` (IDC) shape, plus its label."""
    kind = _code(row, "type")
    if kind is not None:
        kind.update(
            AnatomicRegionModifierSequence=[],
            SegmentedPropertyTypeModifierCodeSequence=_modifiers(row["type_modifiers"]),
        )
    return {
        "PatientID": row["PatientID"],
        "StudyInstanceUID": row["StudyInstanceUID"],
        "SeriesInstanceUID": row["SeriesInstanceUID"],
        "SOPInstanceUID": row["SOPInstanceUID"],
        "FrameOfReferenceUID": row["FrameOfReferenceUID"],
        "SegmentationType": row["SegmentationType"],
        "AnatomicRegion": _code(row, "region"),
        "AnatomicRegionModifier": _code(row, "region_modifier"),
        "SegmentedPropertyCategory": _code(row, "category"),
        "SegmentedPropertyType": kind,
        "SegmentAlgorithmType": row["SegmentAlgorithmType"],
        "SegmentAlgorithmName": row["SegmentAlgorithmName"],
        "SegmentNumber": row["SegmentNumber"],
        "TrackingUID": row["TrackingUID"],
        "TrackingID": row["TrackingID"],
        "segmented_SeriesInstanceUID": row["segmented_SeriesInstanceUID"],
        "viewer_url": viewer_url(row["StudyInstanceUID"], row["SeriesInstanceUID"]),
        "SegmentLabel": row["SegmentLabel"],
        "SegmentDescription": row["SegmentDescription"],
    }


def series_facts(row: dict[str, Any]) -> dict[str, Any]:
    """The ``local_series`` facts of a synced row's SEG series (IDC's, from dicom_all)."""
    facts = {name: row.get(name) for name in LOCAL_SERIES_COLUMNS}
    return facts


def records(rows: list[dict[str, Any]], location: str) -> list[Any]:
    """Group sync rows by SEG instance into records :func:`store_parsed` writes."""
    from .ingest import ParsedInstance

    by_sop: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_sop.setdefault(row["SOPInstanceUID"], []).append(row)
    out = []
    for sop, group in by_sop.items():
        first = group[0]
        count = first.get("instanceCount") or 1
        size_mb = first.get("series_size_MB") or 0.0
        out.append(
            ParsedInstance(
                path=f"{location}/{sop}",
                size=int(size_mb * 1e6 / count),
                mtime=None,
                sop=sop,
                series=first["SeriesInstanceUID"],
                rows=[segment_row(r) for r in group],
                facts=series_facts(first),
                origin="bigquery",
            )
        )
    return out


def sync(
    series_filter: spec.SeriesFilter,
    segment_filter: spec.SegmentFilter,
    engine: Any,
    *,
    store: Store | None = None,
    dry_run: bool = False,
    progress: bool = True,
) -> SyncReport:
    """Copy matching segment rows from BigQuery (*engine*) into the local *store*."""
    query = spec.sync_query(series_filter, segment_filter)
    report, rows = _copy(query, records, "sync", "SEG instances", engine, store, dry_run, progress)
    report.segments = rows
    return report


def _copy(
    query: spec.Query,
    parse: Any,
    what: str,
    noun: str,
    engine: Any,
    store: Store | None,
    dry_run: bool,
    progress: bool,
) -> tuple[SyncReport, int]:
    """What a sync shares: estimate *query* (a dry run stops there), run it, *parse* its rows
    into instances and store them in batches; return the report and the number of rows."""
    estimate = engine.estimate(query)
    report = SyncReport(estimate, dry_run=dry_run, what=what)
    if dry_run:
        return report, 0
    store = store or Store()
    if progress:
        print(f"idcseg: {what} scans {estimate}", file=sys.stderr)
    frame = engine.run(query).to_pandas()
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    parsed = parse(rows, f"bigquery://bigquery-public-data.{engine.dataset}")
    from .ingest import IngestReport, store_parsed

    written = IngestReport()
    for start in range(0, len(parsed), BATCH):
        store_parsed(parsed[start : start + BATCH], store, report=written)
        if progress:
            done = min(start + BATCH, len(parsed))
            print(f"\ridcseg: stored {done}/{len(parsed)} {noun}", end="", file=sys.stderr)
    if progress and parsed:
        print(file=sys.stderr)
    if written.failures:
        from ..errors import IdcsegError

        path, reason = written.failures[0]
        raise IdcsegError(f"could not store {len(written.failures)} {noun} ({path}: {reason})")
    report.instances = len(parsed)
    report.series = len({p.series for p in parsed})
    return report, len(rows)


# --- measurements -------------------------------------------------------------------------------


def _code4(row: dict[str, Any], prefix: str, version: bool = True) -> dict[str, Any] | None:
    names = ("value", "scheme", "version", "meaning") if version else ("value", "scheme", "meaning")
    parts = [row[f"{prefix}_{n}"] for n in names]
    if all(p is None for p in parts):
        return None
    keys = ("CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "CodeMeaning")
    if not version:
        keys = ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")
    return dict(zip(keys, parts, strict=True))


def _flat_code(row: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """measurement_rows' finding / finding_site: _scheme, _value, _meaning (+ _version)."""
    return _code4(row, prefix)


def measurement_records(rows: list[dict[str, Any]], location: str) -> list[Any]:
    """Group sync_measurements.sql rows by SR instance into records :func:`store_parsed` writes."""
    from ..dicom.sr import GROUP_COLUMNS, Report, numeric
    from .ingest import parse_report

    by_sop: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_sop.setdefault(row["SOPInstanceUID"], []).append(row)
    out = []
    for sop, group_rows in by_sop.items():
        first = group_rows[0]
        report = Report(
            sop_class="",
            sop=sop,
            series=first["SeriesInstanceUID"],
            study=None,
            patient=first["PatientID"],
        )
        seen: set[int] = set()
        for row in group_rows:
            common = {name: row[name] for name in GROUP_COLUMNS}
            if common["segmentationSegmentNumber"] is not None:
                common["segmentationSegmentNumber"] = int(common["segmentationSegmentNumber"])
            common["measurementGroup_number"] = int(common["measurementGroup_number"])
            finding, site = _flat_code(row, "finding"), _flat_code(row, "finding_site")
            if common["measurementGroup_number"] not in seen:
                seen.add(common["measurementGroup_number"])
                report.groups.append(
                    {**common, "finding": finding, "findingSite": site, "contentSequence": None}
                )
            if row["kind"] == "quantitative":
                value = row["value"]
                report.quantitative.append(
                    {
                        **common,
                        "Quantity": _code4(row, "quantity", version=False),
                        "derivationModifier": _code4(row, "derivation", version=False),
                        "Value": numeric(repr(float(value))) if value is not None else None,
                        "Units": _code4(row, "units"),
                        "finding": finding,
                        "findingSite": site,
                        "lateralityModifier": _code4(row, "laterality"),
                    }
                )
            else:
                report.qualitative.append(
                    {
                        **common,
                        "Quantity": _code4(row, "quantity", version=False),
                        "Value": _code4(row, "value_code"),
                        "finding": finding,
                        "findingSite": site,
                    }
                )
        out.append(parse_report(report, f"{location}/{sop}", 0, None, "bigquery"))
    return out


def sync_measurements(
    series_filter: spec.SeriesFilter,
    segment_filter: spec.SegmentFilter,
    engine: Any,
    *,
    store: Store | None = None,
    dry_run: bool = False,
    progress: bool = True,
) -> SyncReport:
    """Copy the SR measurements of the matching segments from BigQuery into the local store."""
    query = spec.sync_measurements_query(series_filter, segment_filter)
    report, rows = _copy(
        query,
        measurement_records,
        "sync of measurements",
        "SR instances",
        engine,
        store,
        dry_run,
        progress,
    )
    report.measurements = rows
    return report
