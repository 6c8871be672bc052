"""What each IDC release's ``segmentations`` view holds, for SQL rendered without BigQuery.

The BigQuery engine reads every release's columns from the tables' schemas before it renders a
template. ``idcseg sql`` and :func:`idcseg.sql` print SQL for a release without asking BigQuery,
so they render it for the schema era the release belongs to, as IDC's public view SQL
(ImagingDataCommons/etl_flow ``segmentations.sql``) and idc-index-data's ``seg_index.sql`` of
each release record it:

- v1–v12: no StudyInstanceUID, SeriesInstanceUID, SegmentAlgorithmName,
  segmented_SeriesInstanceUID or viewer_url;
- v13–v23: those added, SegmentAlgorithmName as ARRAY<STRING>;
- v24 on: SegmentAlgorithmName as STRING, SegmentationType added.

``dicom_metadata_curated`` (IDC's curated BodyPartExamined) exists from v7.
"""

from __future__ import annotations

import re

_SEGMENTATIONS_V1 = (
    "PatientID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "AnatomicRegion",
    "AnatomicRegionModifier",
    "SegmentedPropertyCategory",
    "SegmentedPropertyType",
    "SegmentedPropertyType.AnatomicRegionModifierSequence",
    "SegmentedPropertyType.AnatomicRegionModifierSequence[]",
    "SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence",
    "SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence[]",
    "SegmentAlgorithmType",
    "SegmentNumber",
    "TrackingUID",
    "TrackingID",
)
_ADDED_V13 = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SegmentAlgorithmName",
    "segmented_SeriesInstanceUID",
    "viewer_url",
)
CURATED_SINCE = 7
ALGORITHM_NAME_ARRAY = range(13, 24)


def known_columns(dataset: str) -> dict[str, set[str]] | None:
    """The ``segmentations`` columns of release *dataset* (``idc_vNN``), as
    :func:`idcseg.query.render.render` takes them; ``None`` for ``idc_current`` (the newest
    release, which every template is written for)."""
    match = re.fullmatch(r"idc_v([0-9]+)", dataset)
    if not match:
        return None
    version = int(match.group(1))
    segmentations = set(_SEGMENTATIONS_V1)
    if version >= 13:
        segmentations |= set(_ADDED_V13)
    if version in ALGORITHM_NAME_ARRAY:
        segmentations.add("SegmentAlgorithmName[]")
    if version >= 24:
        segmentations.add("SegmentationType")
    columns = {"segmentations": segmentations}
    if version < CURATED_SINCE:
        columns["dicom_metadata_curated"] = set()
    return columns
