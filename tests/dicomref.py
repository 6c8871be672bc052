"""Expected segment rows, computed independently of idcseg from a full ``pydicom.dcmread``.

This reads the whole file (pixel data included) and writes the IDC column rules out plainly, so
the tests compare idcseg's header-only reader against a second, simple reading of each file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom

VIEWER = "https://viewer.imaging.datacommons.cancer.gov/v3/viewer/"


def _code(item) -> dict[str, str]:
    return {
        "CodeValue": item.CodeValue,
        "CodingSchemeDesignator": item.CodingSchemeDesignator,
        "CodeMeaning": item.CodeMeaning,
    }


def _opt(ds, keyword: str) -> str | None:
    value = getattr(ds, keyword, None)
    return str(value) if value not in (None, "") else None


def expected_rows(path: Path | str) -> list[dict[str, Any]]:
    """One dict per segment, with IDC's segmentations columns plus label and description."""
    ds = pydicom.dcmread(path)
    ref = None
    if "ReferencedSeriesSequence" in ds and len(ds.ReferencedSeriesSequence):
        ref = ds.ReferencedSeriesSequence[0].SeriesInstanceUID
    url = f"{VIEWER}?StudyInstanceUIDs={ds.StudyInstanceUID}&initialSeriesInstanceUID={ds.SeriesInstanceUID}"
    rows = []
    for seg in ds.SegmentSequence:
        region = modifier = None
        if "AnatomicRegionSequence" in seg and len(seg.AnatomicRegionSequence):
            region = _code(seg.AnatomicRegionSequence[0])
            mods = seg.AnatomicRegionSequence[0].get("AnatomicRegionModifierSequence")
            if mods:
                modifier = _code(mods[0])
        t = seg.SegmentedPropertyTypeCodeSequence[0]
        seg_type = _code(t)
        seg_type["AnatomicRegionModifierSequence"] = [
            _code(c) for c in t.get("AnatomicRegionModifierSequence", [])
        ]
        seg_type["SegmentedPropertyTypeModifierCodeSequence"] = [
            _code(c) for c in t.get("SegmentedPropertyTypeModifierCodeSequence", [])
        ]
        rows.append(
            {
                "PatientID": _opt(ds, "PatientID"),
                "StudyInstanceUID": ds.StudyInstanceUID,
                "SeriesInstanceUID": ds.SeriesInstanceUID,
                "SOPInstanceUID": ds.SOPInstanceUID,
                "FrameOfReferenceUID": _opt(ds, "FrameOfReferenceUID"),
                "SegmentationType": ds.SegmentationType,
                "AnatomicRegion": region,
                "AnatomicRegionModifier": modifier,
                "SegmentedPropertyCategory": _code(seg.SegmentedPropertyCategoryCodeSequence[0]),
                "SegmentedPropertyType": seg_type,
                "SegmentAlgorithmType": seg.SegmentAlgorithmType,
                "SegmentAlgorithmName": _opt(seg, "SegmentAlgorithmName"),
                "SegmentNumber": int(seg.SegmentNumber),
                "TrackingUID": _opt(seg, "TrackingUID"),
                "TrackingID": _opt(seg, "TrackingID"),
                "segmented_SeriesInstanceUID": ref,
                "viewer_url": url,
                "SegmentLabel": _opt(seg, "SegmentLabel"),
                "SegmentDescription": _opt(seg, "SegmentDescription"),
            }
        )
    return rows


def first_referenced_sop(path: Path | str) -> str | None:
    """The first referenced source instance, looked up the way IDC's index does."""
    ds = pydicom.dcmread(path)
    if "ReferencedSeriesSequence" in ds:
        return ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
    for keyword in ("ReferencedImageSequence", "SourceImageSequence"):
        if keyword in ds:
            return ds[keyword][0].ReferencedSOPInstanceUID
    return None
