"""What a new SEG says about itself: its segments' descriptions and its series attributes.

:class:`SegmentSpec` describes one segment to write (codes, algorithm, colour, tracking) and where
its voxels are (which mask file, which label value). :class:`SeriesSpec` holds the series-level
attributes (description, numbers, content creator...). Both are plain data, filled from dcmqi's
metadata JSON (:mod:`.dcmqimeta`) or from structure names (:func:`from_structure`), and turned
into DICOM by the writer (:mod:`.segwrite`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import UsageError
from .structures import Code, Structure

ALGORITHM_TYPES = ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL")
SHORT_STRING = 16  # characters of an SH value
LONG_STRING = 64  # characters of an LO value


@dataclass(frozen=True)
class SegmentSpec:
    """One segment of the SEG to write."""

    file_index: int
    label_value: int
    label: str
    category: Code
    type: Code
    type_modifier: Code | None = None
    region: Code | None = None
    region_modifier: Code | None = None
    algorithm_type: str = "MANUAL"
    algorithm_name: str | None = None
    algorithm_version: str | None = None
    description: str | None = None
    rgb: tuple[int, int, int] | None = None
    tracking_id: str | None = None
    tracking_uid: str | None = None

    def check(self) -> None:
        """Raise UsageError when DICOM would refuse this description."""
        where = f"segment {self.label!r} (value {self.label_value})"
        if self.algorithm_type not in ALGORITHM_TYPES:
            raise UsageError(
                f"{where}: algorithm type {self.algorithm_type!r} is not one of "
                f"{', '.join(ALGORITHM_TYPES)}"
            )
        if self.algorithm_type != "MANUAL" and not self.algorithm_name:
            raise UsageError(
                f"{where}: an {self.algorithm_type} segment needs an algorithm name "
                "(--algorithm-name NAME, or SegmentAlgorithmName in --meta)"
            )
        if not self.label.strip():
            raise UsageError(f"{where}: the segment label is empty")
        if self.tracking_uid and not self.tracking_id:
            raise UsageError(f"{where}: a tracking UID needs a tracking identifier too")
        for name, value in (
            ("the segment label", self.label),
            ("the algorithm name", self.algorithm_name),
            ("the algorithm version", self.algorithm_version),
            ("the tracking identifier", self.tracking_id),
        ):
            _check_string(where, name, value, LONG_STRING)
        for name, code in (
            ("category", self.category),
            ("type", self.type),
            ("type modifier", self.type_modifier),
            ("anatomic region", self.region),
            ("anatomic region modifier", self.region_modifier),
        ):
            if code is not None:
                _check_code(f"{where}, {name} {code.meaning!r}", code)


def _check_string(where: str, name: str, value: str | None, limit: int | None) -> None:
    """A string DICOM holds as one value of at most *limit* characters (LO, SH)."""
    if value is None:
        return
    if limit is not None and len(value) > limit:
        raise UsageError(f"{where}: {name} is longer than {limit} characters")
    if "\\" in value:
        raise UsageError(f"{where}: {name} {value!r} holds a backslash, which DICOM cannot store")


def _check_code(where: str, code: Code) -> None:
    """A Code Sequence item's values (PS3.3 8.8): CodingSchemeDesignator is a short string
    (SH, 16 characters), CodeMeaning a long string (LO, 64); no value holds a backslash."""
    if not code.value or not code.scheme or not code.meaning:
        raise UsageError(f"{where}: a code needs a value, a coding scheme and a meaning")
    _check_string(where, "the code value", code.value, None)  # LongCodeValue: any length
    _check_string(where, "the coding scheme designator", code.scheme, SHORT_STRING)
    _check_string(where, "the code meaning", code.meaning, LONG_STRING)


@dataclass
class SeriesSpec:
    """Series-level attributes of the SEG to write (None: the writer's default)."""

    series_description: str | None = None
    series_number: int | None = None
    instance_number: int | None = None
    content_creator_name: str | None = None
    content_label: str | None = None
    content_description: str | None = None
    body_part_examined: str | None = None
    clinical_trial: dict[str, str] = field(default_factory=dict)


def from_structure(
    structure: Structure,
    *,
    file_index: int,
    label_value: int,
    algorithm_type: str = "MANUAL",
    algorithm_name: str | None = None,
) -> SegmentSpec:
    """The segment for *structure* (a row of the shipped table) at *label_value* of a file."""
    return SegmentSpec(
        file_index=file_index,
        label_value=label_value,
        label=structure.label,
        category=structure.category,
        type=structure.type,
        type_modifier=structure.type_modifier,
        region=structure.region,
        region_modifier=structure.region_modifier,
        algorithm_type=algorithm_type,
        algorithm_name=algorithm_name,
        rgb=structure.rgb,
    )


def with_algorithm(
    spec: SegmentSpec,
    algorithm_type: str | None,
    algorithm_name: str | None,
    algorithm_version: str | None = None,
) -> SegmentSpec:
    """*spec* with the algorithm the command line gives, where it gives one."""
    changes: dict[str, str] = {}
    if algorithm_type:
        changes["algorithm_type"] = algorithm_type.upper()
    if algorithm_name:
        changes["algorithm_name"] = algorithm_name
    if algorithm_version:
        changes["algorithm_version"] = algorithm_version
    return replace(spec, **changes) if changes else spec
