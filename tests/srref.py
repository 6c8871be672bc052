"""Expected measurement rows of a TID 1500 SR, read independently of idcseg with pydicom.

A plain ``pydicom.dcmread`` and a walk of its content tree with pydicom's Dataset API, applying
the rules idcseg documents (idcseg/dicom/sr.py) written out again here: the tests compare idcseg's
byte walker with a second, simple reading of each file.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pydicom

SEG_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")


def _s(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _key(item: Any) -> tuple[str, str]:
    return (str(item.CodeValue), str(item.CodingSchemeDesignator))


def _code(item: Any, version: bool = True) -> dict[str, Any] | None:
    if item is None:
        return None
    out = {
        "CodeValue": _s(item.get("CodeValue")),
        "CodingSchemeDesignator": _s(item.get("CodingSchemeDesignator")),
    }
    if version:
        out["CodingSchemeVersion"] = _s(item.get("CodingSchemeVersion"))
    out["CodeMeaning"] = _s(item.get("CodeMeaning"))
    return out


def _name(item: Any) -> tuple[str, str] | None:
    names = item.get("ConceptNameCodeSequence")
    return _key(names[0]) if names else None


def _value(text: Any) -> Decimal | None:
    if text is None or str(text).strip() == "":
        return None
    try:
        number = Decimal(str(text).strip())
    except InvalidOperation:
        return None
    return number.quantize(Decimal("0.000000001"), rounding=ROUND_HALF_UP)


def _content(item: Any, depth: int) -> dict[str, Any]:
    out = {
        "RelationshipType": _s(item.get("RelationshipType")),
        "ValueType": _s(item.get("ValueType")),
        "ConceptNameCodeSequence": [
            _code(c, False) for c in item.get("ConceptNameCodeSequence", [])
        ],
        "ContinuityOfContent": _s(item.get("ContinuityOfContent")),
        "UID": _s(item.get("UID")),
        "TextValue": _s(item.get("TextValue")),
        "ConceptCodeSequence": [_code(c) for c in item.get("ConceptCodeSequence", [])],
        "MeasuredValueSequence": [
            {
                "MeasurementUnitsCodeSequence": [
                    _code(c) for c in m.get("MeasurementUnitsCodeSequence", [])
                ],
                "NumericValue": [str(m.NumericValue).strip()] if "NumericValue" in m else [],
            }
            for m in item.get("MeasuredValueSequence", [])
        ],
        "ReferencedSOPSequence": [
            {
                "ReferencedSOPClassUID": _s(r.get("ReferencedSOPClassUID")),
                "ReferencedSOPInstanceUID": _s(r.get("ReferencedSOPInstanceUID")),
                "ReferencedSegmentNumber": [
                    int(n) for n in _many(r.get("ReferencedSegmentNumber"))
                ],
                "ReferencedFrameNumber": [str(n) for n in _many(r.get("ReferencedFrameNumber"))],
            }
            for r in item.get("ReferencedSOPSequence", [])
        ],
    }
    if depth < 3:
        out["ContentSequence"] = [_content(c, depth + 1) for c in item.get("ContentSequence", [])]
    return out


def _many(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]


def expected_report(path: Path | str) -> dict[str, list[dict[str, Any]]]:
    """``{"groups": [...], "quantitative": [...], "qualitative": [...]}`` of one SR file."""
    ds = pydicom.dcmread(path)
    seg_series = {}
    for tag in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in ds.get(tag, []):
            for series in study.ReferencedSeriesSequence:
                for ref in series.ReferencedSOPSequence:
                    if ref.ReferencedSOPClassUID in SEG_CLASSES:
                        seg_series[ref.ReferencedSOPInstanceUID] = series.SeriesInstanceUID
    out: dict[str, list[dict[str, Any]]] = {"groups": [], "quantitative": [], "qualitative": []}
    for container in ds.ContentSequence:
        for number, group in enumerate(container.get("ContentSequence", [])):
            if group.ValueType != "CONTAINER" or _name(group) != ("125007", "DCM"):
                continue
            common: dict[str, Any] = {
                "PatientID": _s(ds.get("PatientID")),
                "SOPInstanceUID": ds.SOPInstanceUID,
                "SeriesInstanceUID": ds.SeriesInstanceUID,
                "SeriesDescription": _s(ds.get("SeriesDescription")),
                "measurementGroup_number": number,
                "segmentationInstanceUID": None,
                "segmentationSeriesUID": None,
                "segmentationSegmentNumber": None,
                "sourceSegmentedSeriesUID": None,
                "trackingIdentifier": None,
                "trackingUniqueIdentifier": None,
            }
            finding = site = laterality = None
            nums, codes = [], []
            for child in group.ContentSequence:
                name = _name(child)
                if child.ValueType == "TEXT" and name == ("112039", "DCM"):
                    common["trackingIdentifier"] = _s(child.TextValue)
                elif child.ValueType == "UIDREF" and name == ("112040", "DCM"):
                    common["trackingUniqueIdentifier"] = child.UID
                elif child.ValueType == "UIDREF" and name == ("121232", "DCM"):
                    common["sourceSegmentedSeriesUID"] = child.UID
                elif child.ValueType == "IMAGE":
                    ref = child.ReferencedSOPSequence[0]
                    if ref.ReferencedSOPClassUID in SEG_CLASSES:
                        common["segmentationInstanceUID"] = ref.ReferencedSOPInstanceUID
                        common["segmentationSeriesUID"] = seg_series.get(
                            ref.ReferencedSOPInstanceUID
                        )
                        common["segmentationSegmentNumber"] = int(
                            _many(ref.ReferencedSegmentNumber)[0]
                        )
                elif child.ValueType == "CODE" and name == ("121071", "DCM"):
                    finding = _code(child.ConceptCodeSequence[0])
                elif child.ValueType == "CODE" and name in (
                    ("G-C0E3", "SRT"),
                    ("363698007", "SCT"),
                ):
                    site = _code(child.ConceptCodeSequence[0])
                    for modifier in child.get("ContentSequence", []):
                        if _name(modifier) in (("272741003", "SCT"), ("G-C171", "SRT")):
                            laterality = _code(modifier.ConceptCodeSequence[0])
                elif child.ValueType == "NUM":
                    nums.append(child)
                elif child.ValueType == "CODE" and child.RelationshipType == "CONTAINS":
                    codes.append(child)
            out["groups"].append(
                {
                    **common,
                    "finding": finding,
                    "findingSite": site,
                    "contentSequence": _content(group, 0),
                }
            )
            for num in nums:
                measured = (
                    num.MeasuredValueSequence[0] if num.get("MeasuredValueSequence") else None
                )
                derivation = None
                for modifier in num.get("ContentSequence", []):
                    if _name(modifier) == ("121401", "DCM"):
                        derivation = _code(modifier.ConceptCodeSequence[0], False)
                out["quantitative"].append(
                    {
                        **common,
                        "Quantity": _code(num.ConceptNameCodeSequence[0], False),
                        "derivationModifier": derivation,
                        "Value": _value(measured.NumericValue) if measured else None,
                        "Units": _code(measured.MeasurementUnitsCodeSequence[0])
                        if measured
                        else None,
                        "finding": finding,
                        "findingSite": site,
                        "lateralityModifier": laterality,
                    }
                )
            for evaluation in codes:
                out["qualitative"].append(
                    {
                        **common,
                        "Quantity": _code(evaluation.ConceptNameCodeSequence[0], False),
                        "Value": _code(evaluation.ConceptCodeSequence[0]),
                        "finding": finding,
                        "findingSite": site,
                    }
                )
    return out
