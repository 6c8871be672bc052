"""The shipped structure table: its codes against IDC's reference lists and DICOM's dictionary."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.sr._cid_dict import cid_concepts
from pydicom.sr._concepts_dict import concepts

from idcseg.dicom import structures
from idcseg.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).parent / "data" / "reference"
ANATOMY_DCMQI = ("SCT", "123037004")  # IDC's files: "Body structure", labelled Anatomical Structure
ANATOMY = ("SCT", "91723000")  # DICOM CID 7150 Anatomical Structure
MEANING_FIXES = {"Gluteus minius muscle": "Gluteus minimus muscle"}
NOT_IN_DICOM = {"65985001"}  # S1 vertebra: TotalSegmentator's own SNOMED mapping


def _reference(name: str) -> list[dict[str, str]]:
    with open(REFERENCE / name, newline="") as fh:
        return list(csv.DictReader(fh))


def _key(code: structures.Code | None) -> tuple[str, str] | None:
    return (code.scheme, code.value) if code else None


def _ref_key(row: dict[str, str], part: str) -> tuple[str, str] | None:
    return (row[f"{part}_scheme"], row[f"{part}_value"]) if row[f"{part}_value"] else None


def _fix(text: str) -> str:
    for wrong, right in MEANING_FIXES.items():
        text = text.replace(wrong, right)
    return text


def test_totalsegmentator_classes_are_coded_as_idc_codes_them():
    rows = _reference("totalsegmentator_v1.5.6_segments.csv")
    assert len(rows) == 104
    for ref in rows:
        name = (
            ref["SegmentDescription"].rsplit(":", 1)[1].strip()
        )  # "TotalSegmentator 2 : kidney_right"
        got = structures.lookup(name)
        assert got.name == name
        assert (ref["category_scheme"], ref["category_value"]) == ANATOMY_DCMQI
        assert _key(got.category) == ANATOMY
        assert _key(got.type) == _ref_key(ref, "type"), name
        assert got.type.meaning == _fix(ref["type_meaning"])
        assert _key(got.type_modifier) == _ref_key(ref, "type_modifier"), name
        assert _key(got.region) == _ref_key(ref, "region"), name
        assert _key(got.region_modifier) == _ref_key(ref, "region_modifier"), name
        assert got.label == _fix(ref["SegmentLabel"])
        if ref["rgb"]:
            assert got.rgb == tuple(int(v) for v in ref["rgb"].split())


def test_nnunet_bpr_structures_are_coded_as_idc_codes_them():
    for ref in _reference("nnunet_bpr_segments.csv"):
        got = structures.lookup(ref["type_meaning"])
        assert _key(got.type) == _ref_key(ref, "type")
        assert got.type_modifier is None and got.region is None


def _dicom_meanings() -> dict[str, set[str]]:
    meanings: dict[str, set[str]] = {}
    for entries in concepts["SCT"].values():
        for value, (meaning, _cids) in entries.items():
            meanings.setdefault(value, set()).add(meaning.lower())
    return meanings


def test_every_other_code_is_in_dicoms_dictionary_with_its_meaning():
    reference_codes = {
        (row[f"{part}_scheme"], row[f"{part}_value"])
        for name in ("totalsegmentator_v1.5.6_segments.csv", "nnunet_bpr_segments.csv")
        for row in _reference(name)
        for part in ("type", "type_modifier", "region", "region_modifier")
        if row[f"{part}_value"]
    }
    dicom = _dicom_meanings()
    checked = 0
    for s in structures.table():
        for code in (s.category, s.type, s.type_modifier, s.region, s.region_modifier):
            if code is None or (code.scheme, code.value) in reference_codes:
                continue
            assert code.scheme == "SCT", (s.name, code)
            if code.value in NOT_IN_DICOM:
                continue
            assert code.value in dicom, (s.name, code)
            assert code.meaning.lower() in dicom[code.value], (s.name, code, dicom[code.value])
            checked += 1
    assert checked > 100


def test_categories_are_dicom_segmentation_categories_and_modifiers_are_laterality():
    cid7150 = {value for keyword in cid_concepts[7150]["SCT"] for value in concepts["SCT"][keyword]}
    for s in structures.table():
        assert s.category.value in cid7150, s.name
        for modifier in (s.type_modifier, s.region_modifier):
            assert modifier is None or _key(modifier) in {("SCT", "7771000"), ("SCT", "24028007")}


def test_names_and_labels_resolve_to_their_own_row_and_codings_are_unique():
    seen: dict[tuple, str] = {}
    for s in structures.table():
        assert structures.lookup(s.name) is s
        assert structures.lookup(s.label) is s, (s.label, structures.lookup(s.label).name)
        for alias in s.aliases:
            assert structures.lookup(alias) is s
        coding = tuple(map(_key, (s.type, s.type_modifier, s.region, s.region_modifier)))
        assert coding not in seen, (s.name, seen.get(coding))
        seen[coding] = s.name


def test_table_has_totalsegmentator_v2_classes():
    v2_new = [
        "thyroid_gland", "prostate", "kidney_cyst_left", "kidney_cyst_right", "vertebrae_S1",
        "heart", "pulmonary_vein", "brachiocephalic_trunk", "subclavian_artery_right",
        "subclavian_artery_left", "common_carotid_artery_right", "common_carotid_artery_left",
        "brachiocephalic_vein_left", "brachiocephalic_vein_right", "atrial_appendage_left",
        "superior_vena_cava", "spinal_cord", "skull", "sternum", "costal_cartilages",
    ]  # fmt: skip
    for name in v2_new:
        assert structures.lookup(name).name == name


@pytest.mark.parametrize(
    ("term", "name"),
    [
        ("kidney_left", "kidney_left"),
        ("Left Kidney", "kidney_left"),
        ("left-kidney", "kidney_left"),
        ("  KIDNEY   left ", "kidney_left"),
        ("liver tumour", "liver_tumor"),
        ("Lung nodules", "lung_nodule"),
        ("bladder", "urinary_bladder"),
        ("Thyroid", "thyroid_gland"),
        ("Small Intestine", "small_bowel"),
    ],
)
def test_lookup_accepts_names_as_users_write_them(term, name):
    assert structures.lookup(term).name == name


def test_unknown_name_is_an_error_listing_close_matches():
    with pytest.raises(UsageError) as err:
        structures.lookup("kidny_left")
    message = str(err.value)
    assert "unknown structure 'kidny_left'" in message
    assert "did you mean kidney_left" in message
    assert "idcseg structures" in message
    with pytest.raises(UsageError, match="did you mean pancreas"):
        structures.lookup("pancrea")


def test_search_finds_by_name_label_and_code():
    assert {s.name for s in structures.search("rib_left")} >= {"rib_left_1", "rib_left_12"}
    assert [s.name for s in structures.search("SCT:10200004")][:1] == ["liver"]
    assert len(structures.search(None)) == len(structures.table())


def test_table_is_what_the_build_tool_makes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_structures.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_presets_number_totalsegmentator_classes_and_every_name_is_known():
    presets = structures.presets()
    assert len(presets["totalsegmentator"]) == 117
    assert presets["totalsegmentator"][26] == "vertebrae_S1"
    assert presets["totalsegmentator"][92] == "rib_left_1"
    assert presets["totalsegmentator"][117] == "costal_cartilages"
    v1 = presets["totalsegmentator-v1"]
    for ref in _reference("totalsegmentator_v1.5.6_segments.csv"):
        assert v1[int(ref["labelID"])] == ref["SegmentDescription"].rsplit(":", 1)[1].strip()
    assert presets["nnunet-bpr"] == {1: "esophagus", 2: "heart", 3: "trachea", 4: "aorta"}
    for mapping in presets.values():
        for name in mapping.values():
            assert structures.lookup(name).name == name
