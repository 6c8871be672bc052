"""The pieces of idcseg's SEG header against highdicom, the authority in tests.

The shipped module keyword lists against highdicom's tables of the standard, the CIELab colour
conversion against highdicom's, the stack geometry (spacing, regularity) against
``highdicom.spatial``. The header as a whole is compared element by element with highdicom's
in ``tests/test_segwrite.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pydicom.datadict import tag_for_keyword

from idcseg.dicom import modulekeywords, segattributes

MODULES = {
    "patient": modulekeywords.PATIENT,
    "clinical-trial-subject": modulekeywords.CLINICAL_TRIAL_SUBJECT,
    "general-study": modulekeywords.GENERAL_STUDY,
    "patient-study": modulekeywords.PATIENT_STUDY,
    "clinical-trial-study": modulekeywords.CLINICAL_TRIAL_STUDY,
    "clinical-trial-series": modulekeywords.CLINICAL_TRIAL_SERIES,
    "specimen": modulekeywords.SPECIMEN,
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_keywords_are_the_standards_top_level_attributes(module):
    from highdicom._standard_utils import get_module_attribute_map

    standard = [item["keyword"] for item in get_module_attribute_map()[module] if not item["path"]]
    assert list(MODULES[module]) == standard
    assert all(tag_for_keyword(keyword) is not None for keyword in MODULES[module])


def test_patient_and_study_modules_are_those_of_the_image_iods():
    from highdicom._standard_utils import get_iod_module_map, get_sop_class_iod_map

    iods, classes = get_iod_module_map(), get_sop_class_iod_map()
    copied = {"patient", "clinical-trial-subject", "general-study", "patient-study"}
    copied |= {"clinical-trial-study"}
    for uid in (
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.840.10008.5.1.4.1.1.4",
        "1.2.840.10008.5.1.4.1.1.128",
    ):
        modules = {m["key"] for m in iods[classes[uid]] if m["ie"] in ("Patient", "Study")}
        assert modules == copied
    with_specimen = {
        uid
        for uid, iod in classes.items()
        if any(m["key"] == "specimen" and m["ie"] == "Image" for m in iods[iod])
    }
    assert with_specimen == modulekeywords.SPECIMEN_SOP_CLASSES


def test_cielab_values_are_highdicoms():
    from highdicom.color import CIELabColor

    levels = [0, 1, 10, 11, 12, 50, 100, 127, 128, 200, 254, 255]
    for rgb in itertools.product(levels, repeat=3):
        assert segattributes.cielab(rgb) == list(CIELabColor.from_rgb(*rgb).value), rgb


AXIAL = [1, 0, 0, 0, 1, 0]
OBLIQUE = [0.8660254, 0.5, 0.0, -0.5, 0.8660254, 0.0]
TILTED = [1, 0, 0, 0, 0.9848078, -0.1736482]


def _stack(n: int, step, origin=(10.0, -20.0, 5.0)) -> list[list[float]]:
    return [[o + k * s for o, s in zip(origin, step, strict=True)] for k in range(n)]


CASES = {
    "regular axial": (_stack(5, (0, 0, 2.5)), AXIAL),
    "descending": (_stack(5, (0, 0, -1.25)), AXIAL),
    "shuffled": ([_stack(4, (0, 0, 3))[i] for i in (2, 0, 3, 1)], AXIAL),
    "uneven": (_stack(3, (0, 0, 2)) + [[10.0, -20.0, 12.5]], AXIAL),
    "within 1 %": ([[0, 0, 0], [0, 0, 2.0], [0, 0, 4.01], [0, 0, 6.0]], AXIAL),
    "a duplicate": (_stack(3, (0, 0, 2)) + [[10.0, -20.0, 7.0]], AXIAL),
    "one plane": ([[1.0, 2.0, 3.0]], AXIAL),
    "sheared (tilted gantry)": (_stack(4, (0, 0.5, 2)), AXIAL),
    "tilted planes, along the normal": (_stack(4, (0, 0.1736482 * 2, 0.9848078 * 2)), TILTED),
    "oblique, x first then y": (_stack(4, (0, 0, 1.5)), OBLIQUE),
    "in-plane steps": (_stack(4, (1.0, 0, 0)), AXIAL),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("sort", [True, False])
def test_regular_spacing_is_highdicoms(case, sort):
    from highdicom.spatial import get_volume_positions

    positions, orientation = CASES[case]
    expected, _ = get_volume_positions(positions, orientation, sort=sort)
    found = segattributes.regular_spacing(positions, orientation, sort=sort)
    assert (found is None) == (expected is None)
    if expected is not None:
        assert found == pytest.approx(expected, rel=1e-12)


def test_volume_normal_is_highdicoms():
    from highdicom.spatial import VOLUME_INDEX_CONVENTION, get_normal_vector

    for orientation in (AXIAL, OBLIQUE, TILTED, [0, 1, 0, 0, 0, -1]):
        expected = get_normal_vector(orientation, index_convention=VOLUME_INDEX_CONVENTION)
        assert np.allclose(segattributes.volume_normal(orientation), expected, atol=0)
