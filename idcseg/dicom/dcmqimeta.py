"""Read dcmqi's segmentation metadata JSON (the ``--inputMetadata`` of ``itkimage2segimage``).

The format (dcmqi's ``doc/schemas/seg-schema.json``): series attributes at the top level
(``SeriesDescription``, ``SeriesNumber``, ``InstanceNumber``, ``ContentCreatorName``,
``BodyPartExamined``, ``ClinicalTrial*``, ``ContentLabel``, ``ContentDescription``) and
``segmentAttributes``, a list with one inner list per input mask file, each item describing one
label value of that file::

    {"labelID": 1, "SegmentLabel": "Liver", "SegmentDescription": "...",
     "SegmentedPropertyCategoryCodeSequence": {"CodeValue": "91723000",
        "CodingSchemeDesignator": "SCT", "CodeMeaning": "Anatomical Structure"},
     "SegmentedPropertyTypeCodeSequence": {...}, "SegmentedPropertyTypeModifierCodeSequence": {...},
     "AnatomicRegionSequence": {...}, "AnatomicRegionModifierSequence": {...},
     "SegmentAlgorithmType": "AUTOMATIC", "SegmentAlgorithmName": "TotalSegmentator",
     "recommendedDisplayRGBValue": [221, 130, 101],
     "TrackingIdentifier": "...", "TrackingUniqueIdentifier": "..."}

Read as dcmqi reads it: ``LabelID`` (older files) is accepted for ``labelID``, which defaults to
1; a missing algorithm type is SEMIAUTOMATIC; keys dcmqi ignores are ignored. Where dcmqi would
write an invalid SEG (a code without a value, an automatic segment without an algorithm name),
this reader refuses, naming the item.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .segmentspec import ALGORITHM_TYPES, SegmentSpec, SeriesSpec
from .structures import Code

_CODE_KEYS = {
    "category": "SegmentedPropertyCategoryCodeSequence",
    "type": "SegmentedPropertyTypeCodeSequence",
    "type_modifier": "SegmentedPropertyTypeModifierCodeSequence",
    "region": "AnatomicRegionSequence",
    "region_modifier": "AnatomicRegionModifierSequence",
}
_REQUIRED_CODES = ("category", "type")


def read(path: str | Path) -> tuple[SeriesSpec, list[list[SegmentSpec]]]:
    """Parse the metadata file *path*: the series attributes and, per mask file, its segments."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read --meta {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--meta {path} is not UTF-8 text (a dcmqi metadata JSON)") from None
    return parse(text, source=str(path))


def parse(text: str, source: str = "--meta") -> tuple[SeriesSpec, list[list[SegmentSpec]]]:
    """Parse metadata JSON *text* (see the module docstring)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(document, dict):
        raise UsageError(f"{source}: expected a JSON object with segmentAttributes")
    groups = document.get("segmentAttributes")
    if not isinstance(groups, list) or not groups:
        raise UsageError(
            f"{source}: no segmentAttributes (a list with one list of segments per mask file)"
        )
    series = _series(document, source)
    files: list[list[SegmentSpec]] = []
    for i, group in enumerate(groups):
        if isinstance(group, dict):  # a flat list of segments: one mask file
            group = [group] if len(groups) == 1 else None
        if not isinstance(group, list) or not group:
            raise UsageError(f"{source}: segmentAttributes[{i}] must be a non-empty list")
        segments = [_segment(item, i, j, source) for j, item in enumerate(group)]
        values = [s.label_value for s in segments]
        if len(set(values)) != len(values):
            raise UsageError(f"{source}: segmentAttributes[{i}] repeats a labelID ({values})")
        files.append(segments)
    return series, files


def _text(document: dict[str, Any], key: str, source: str) -> str | None:
    value = document.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float):
        raise UsageError(f"{source}: {key} must be a string")
    return str(value)


def _number(document: dict[str, Any], key: str, source: str) -> int | None:
    value = _text(document, key, source)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{source}: {key} must be a whole number, not {value!r}") from None


def _series(document: dict[str, Any], source: str) -> SeriesSpec:
    trial = {
        key: text
        for key in (
            "ClinicalTrialSeriesID",
            "ClinicalTrialTimePointID",
            "ClinicalTrialCoordinatingCenterName",
        )
        if (text := _text(document, key, source)) is not None
    }
    return SeriesSpec(
        series_description=_text(document, "SeriesDescription", source),
        series_number=_number(document, "SeriesNumber", source),
        instance_number=_number(document, "InstanceNumber", source),
        content_creator_name=_text(document, "ContentCreatorName", source),
        content_label=_text(document, "ContentLabel", source),
        content_description=_text(document, "ContentDescription", source),
        body_part_examined=_text(document, "BodyPartExamined", source),
        clinical_trial=trial,
    )


def _code(item: dict[str, Any], key: str, where: str) -> Code | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 1:  # a DICOM-JSON-like one-item sequence
        value = value[0]
    if not isinstance(value, dict):
        raise UsageError(f"{where}: {key} must be an object with CodeValue, ...")
    parts = [value.get(k) for k in ("CodingSchemeDesignator", "CodeValue", "CodeMeaning")]
    missing = [
        k
        for k, v in zip(("CodingSchemeDesignator", "CodeValue", "CodeMeaning"), parts, strict=True)
        if not isinstance(v, str | int) or str(v).strip() == ""
    ]
    if missing:
        raise UsageError(f"{where}: {key} has no {', '.join(missing)}")
    scheme, code_value, meaning = (str(p).strip() for p in parts)
    return Code(scheme, code_value, meaning)


def _segment(item: Any, i: int, j: int, source: str) -> SegmentSpec:
    where = f"{source}: segmentAttributes[{i}][{j}]"
    if not isinstance(item, dict):
        raise UsageError(f"{where} must be an object")
    raw_label = item.get("labelID", item.get("LabelID", 1))
    if isinstance(raw_label, bool) or not isinstance(raw_label, int | str):
        raise UsageError(f"{where}: labelID must be a whole number")
    try:
        label_value = int(raw_label)
    except ValueError:
        raise UsageError(f"{where}: labelID must be a whole number, not {raw_label!r}") from None
    if not 0 < label_value < 65536:
        raise UsageError(f"{where}: labelID {label_value} is not in 1..65535")
    codes = {name: _code(item, key, where) for name, key in _CODE_KEYS.items()}
    for name in _REQUIRED_CODES:
        if codes[name] is None:
            raise UsageError(f"{where}: {_CODE_KEYS[name]} is required")
    algorithm_type = str(item.get("SegmentAlgorithmType") or "SEMIAUTOMATIC").upper()
    if algorithm_type not in ALGORITHM_TYPES:
        raise UsageError(
            f"{where}: SegmentAlgorithmType {algorithm_type!r} is not one of "
            f"{', '.join(ALGORITHM_TYPES)}"
        )
    description = _text(item, "SegmentDescription", where)
    # as dcmqi labels a segment: SegmentLabel, else SegmentDescription, else the type meaning
    label = _text(item, "SegmentLabel", where) or description or codes["type"].meaning  # type: ignore[union-attr]
    return SegmentSpec(
        file_index=i,
        label_value=label_value,
        label=label,
        category=codes["category"],  # type: ignore[arg-type]
        type=codes["type"],  # type: ignore[arg-type]
        type_modifier=codes["type_modifier"],
        region=codes["region"],
        region_modifier=codes["region_modifier"],
        algorithm_type=algorithm_type,
        algorithm_name=_text(item, "SegmentAlgorithmName", where),
        description=description,
        rgb=_rgb(item.get("recommendedDisplayRGBValue"), where),
        tracking_id=_text(item, "TrackingIdentifier", where),
        tracking_uid=_text(item, "TrackingUniqueIdentifier", where),
    )


def _rgb(value: Any, where: str) -> tuple[int, int, int] | None:
    if value is None:
        return None
    if isinstance(value, str):  # "128,174,128"
        value = value.replace(",", " ").split()
    try:
        red, green, blue = (int(v) for v in value)
    except (TypeError, ValueError):
        raise UsageError(f"{where}: recommendedDisplayRGBValue must be three numbers") from None
    if not all(0 <= v <= 255 for v in (red, green, blue)):
        raise UsageError(f"{where}: recommendedDisplayRGBValue values must be in 0..255")
    return red, green, blue


def dumps(series: SeriesSpec, files: list[list[SegmentSpec]]) -> str:
    """The dcmqi metadata JSON for *series* and *files* (for ``itkimage2segimage``)."""

    def code(c: Code | None) -> dict[str, str] | None:
        return (
            {"CodeValue": c.value, "CodingSchemeDesignator": c.scheme, "CodeMeaning": c.meaning}
            if c
            else None
        )

    document: dict[str, Any] = {
        "SeriesDescription": series.series_description or "Segmentation",
        "SeriesNumber": str(series.series_number or 300),
        "InstanceNumber": str(series.instance_number or 1),
        "ContentCreatorName": series.content_creator_name or "idcseg",
        "segmentAttributes": [],
    }
    for segments in files:
        group = []
        for s in segments:
            item: dict[str, Any] = {
                "labelID": s.label_value,
                "SegmentLabel": s.label,
                "SegmentAlgorithmType": s.algorithm_type,
            }
            if s.description:
                item["SegmentDescription"] = s.description
            if s.algorithm_name:
                item["SegmentAlgorithmName"] = s.algorithm_name
            for name, key in _CODE_KEYS.items():
                if (value := code(getattr(s, name))) is not None:
                    item[key] = value
            if s.rgb:
                item["recommendedDisplayRGBValue"] = list(s.rgb)
            if s.tracking_id:
                item["TrackingIdentifier"] = s.tracking_id
            if s.tracking_uid:
                item["TrackingUniqueIdentifier"] = s.tracking_uid
            group.append(item)
        document["segmentAttributes"].append(group)
    return json.dumps(document, indent=2)
