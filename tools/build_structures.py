"""Build ``idcseg/dicom/data/structures.csv`` (structure names → codes for new SEGs) and
``label_presets.csv`` (the label values of models' label maps: TotalSegmentator v2 and v1, nnU-Net
BPR).

    python tools/build_structures.py            # rewrite the table
    python tools/build_structures.py --check    # exit 1 if the table is not what this builds

Sources, in order:

1. TotalSegmentator v1.5.6's 104 classes and nnU-Net BPR's 4, as IDC's own SEGs code them
   (``tests/data/reference/*.csv``, copied from IDC's dcmqi metadata): type, modifier, region and
   colour unchanged. Two deliberate differences: the category is DICOM's current Anatomical
   Structure code (SCT 91723000, CID 7150) where IDC's files carry SCT 123037004 ("Body
   structure", labelled "Anatomical Structure"), and the misspelt meaning "Gluteus minius muscle"
   is corrected.
2. The classes TotalSegmentator v2 added, common organs and lesions (:data:`CURATED`): each code
   and meaning is taken from pydicom's copy of the DICOM concept dictionary (PS3.16), so nothing
   here is typed from memory. The one code DICOM does not list (S1 vertebra, SCT 65985001) is the
   one TotalSegmentator's own SNOMED mapping uses; tests name it as the only exception.

Names are TotalSegmentator's class names where one exists (``kidney_left``), else snake_case.
"""

from __future__ import annotations

import colorsys
import csv
import hashlib
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "reference"
TABLE = ROOT / "idcseg" / "dicom" / "data" / "structures.csv"
PRESETS = ROOT / "idcseg" / "dicom" / "data" / "label_presets.csv"
COLUMNS = [
    "name",
    "label",
    "category",
    "type",
    "type_modifier",
    "region",
    "region_modifier",
    "rgb",
    "aliases",
    "source",
]

ANATOMY = "SCT:91723000:Anatomical Structure"
LESION = "SCT:49755003:Morphologically Abnormal Structure"
TISSUE = "SCT:85756007:Tissue"
LEFT = "SCT:7771000:Left"
RIGHT = "SCT:24028007:Right"
MEANING_FIXES = {"Gluteus minius muscle": "Gluteus minimus muscle"}
REFERENCE_ALIASES = {
    "urinary_bladder": "bladder",
    "esophagus": "oesophagus",
    "small_bowel": "small intestine",
    "portal_vein_and_splenic_vein": "portal and splenic vein",
}
NOT_IN_DICOM = {"65985001": "S1 vertebra"}  # TotalSegmentator's own SNOMED mapping

# name, label, category, type value, (type modifier), (region value), (region modifier), aliases
# fmt: off
CURATED: list[tuple[str, str, str, str, str, str, str, str]] = [
    # TotalSegmentator v2 classes not in v1.5.6
    ("thyroid_gland", "Thyroid gland", ANATOMY, "69748006", "", "", "", "thyroid"),
    ("prostate", "Prostate", ANATOMY, "41216001", "", "", "", ""),
    ("kidney_cyst_left", "Left kidney cyst", LESION, "367643001", "", "64033007", LEFT, ""),
    ("kidney_cyst_right", "Right kidney cyst", LESION, "367643001", "", "64033007", RIGHT, ""),
    ("vertebrae_S1", "S1 vertebra", ANATOMY, "65985001", "", "", "", ""),
    ("heart", "Heart", ANATOMY, "80891009", "", "", "", ""),
    ("pulmonary_vein", "Pulmonary vein", ANATOMY, "122972007", "", "", "", ""),
    ("brachiocephalic_trunk", "Brachiocephalic trunk", ANATOMY, "12691009", "", "", "", ""),
    ("subclavian_artery_right", "Right subclavian artery", ANATOMY, "36765005", RIGHT, "", "", ""),
    ("subclavian_artery_left", "Left subclavian artery", ANATOMY, "36765005", LEFT, "", "", ""),
    ("common_carotid_artery_right", "Right common carotid artery", ANATOMY, "32062004", RIGHT, "", "", ""),
    ("common_carotid_artery_left", "Left common carotid artery", ANATOMY, "32062004", LEFT, "", "", ""),
    ("brachiocephalic_vein_left", "Left brachiocephalic vein", ANATOMY, "8887007", LEFT, "", "", ""),
    ("brachiocephalic_vein_right", "Right brachiocephalic vein", ANATOMY, "8887007", RIGHT, "", "", ""),
    ("atrial_appendage_left", "Left atrial appendage", ANATOMY, "33626005", "", "", "", ""),
    ("superior_vena_cava", "Superior vena cava", ANATOMY, "48345005", "", "", "", ""),
    ("spinal_cord", "Spinal cord", ANATOMY, "2748008", "", "", "", ""),
    ("skull", "Skull", ANATOMY, "89546000", "", "", "", ""),
    ("sternum", "Sternum", ANATOMY, "56873002", "", "", "", ""),
    ("costal_cartilages", "Costal cartilage", ANATOMY, "50016007", "", "", "", ""),
    # common organs and tissues
    ("lung", "Lung", ANATOMY, "39607008", "", "", "", "lungs"),
    ("lung_left", "Left lung", ANATOMY, "39607008", LEFT, "", "", ""),
    ("lung_right", "Right lung", ANATOMY, "39607008", RIGHT, "", "", ""),
    ("kidney", "Kidney", ANATOMY, "64033007", "", "", "", "kidneys"),
    ("adrenal_gland", "Adrenal gland", ANATOMY, "23451007", "", "", "", ""),
    ("brain_stem", "Brain stem", ANATOMY, "119238007", "", "", "", "brainstem"),
    ("cerebellum", "Cerebellum", ANATOMY, "113305005", "", "", "", ""),
    ("hippocampus", "Hippocampus", ANATOMY, "5366008", "", "", "", ""),
    ("white_matter", "White matter", ANATOMY, "389080008", "", "", "", ""),
    ("gray_matter", "Gray matter", ANATOMY, "389081007", "", "", "", "grey matter"),
    ("lateral_ventricle", "Lateral ventricle", ANATOMY, "66720007", "", "", "", ""),
    ("eye", "Eye", ANATOMY, "81745001", "", "", "", ""),
    ("eye_left", "Left eye", ANATOMY, "81745001", LEFT, "", "", ""),
    ("eye_right", "Right eye", ANATOMY, "81745001", RIGHT, "", "", ""),
    ("lens", "Lens", ANATOMY, "78076003", "", "", "", ""),
    ("optic_nerve", "Optic nerve", ANATOMY, "18234004", "", "", "", ""),
    ("optic_nerve_left", "Left optic nerve", ANATOMY, "18234004", LEFT, "", "", ""),
    ("optic_nerve_right", "Right optic nerve", ANATOMY, "18234004", RIGHT, "", "", ""),
    ("optic_chiasm", "Optic chiasm", ANATOMY, "244453006", "", "", "", ""),
    ("lacrimal_gland", "Lacrimal gland", ANATOMY, "13561001", "", "", "", ""),
    ("parotid_gland", "Parotid gland", ANATOMY, "45289007", "", "", "", ""),
    ("parotid_gland_left", "Left parotid gland", ANATOMY, "45289007", LEFT, "", "", ""),
    ("parotid_gland_right", "Right parotid gland", ANATOMY, "45289007", RIGHT, "", "", ""),
    ("submandibular_gland", "Submandibular gland", ANATOMY, "54019009", "", "", "", ""),
    ("submandibular_gland_left", "Left submandibular gland", ANATOMY, "54019009", LEFT, "", "", ""),
    ("submandibular_gland_right", "Right submandibular gland", ANATOMY, "54019009", RIGHT, "", "", ""),
    ("mandible", "Mandible", ANATOMY, "91609006", "", "", "", ""),
    ("oral_cavity", "Oral cavity", ANATOMY, "74262004", "", "", "", ""),
    ("tongue", "Tongue", ANATOMY, "21974007", "", "", "", ""),
    ("pharynx", "Pharynx", ANATOMY, "54066008", "", "", "", ""),
    ("larynx", "Larynx", ANATOMY, "4596009", "", "", "", ""),
    ("thymus", "Thymus", ANATOMY, "9875009", "", "", "", ""),
    ("bronchus", "Bronchus", ANATOMY, "955009", "", "", "", "bronchi"),
    ("breast", "Breast", ANATOMY, "76752008", "", "", "", ""),
    ("breast_left", "Left breast", ANATOMY, "76752008", LEFT, "", "", ""),
    ("breast_right", "Right breast", ANATOMY, "76752008", RIGHT, "", "", ""),
    ("rectum", "Rectum", ANATOMY, "34402009", "", "", "", ""),
    ("uterus", "Uterus", ANATOMY, "35039007", "", "", "", ""),
    ("ovary", "Ovary", ANATOMY, "15497006", "", "", "", ""),
    ("ureter", "Ureter", ANATOMY, "87953007", "", "", "", ""),
    ("urethra", "Urethra", ANATOMY, "13648007", "", "", "", ""),
    ("seminal_vesicle", "Seminal vesicle", ANATOMY, "64739004", "", "", "", ""),
    ("prostate_peripheral_zone", "Peripheral zone of the prostate", ANATOMY, "279706003", "", "", "", "peripheral zone"),
    ("prostate_transition_zone", "Transition zone of the prostate", ANATOMY, "399384005", "", "", "", "transition zone"),
    ("prostate_anterior_fibromuscular_stroma", "Anterior fibromuscular stroma of prostate", ANATOMY, "717025007", "", "", "", ""),
    ("prostatic_urethra", "Prostatic urethra", ANATOMY, "71553001", "", "", "", ""),
    ("portal_vein", "Portal vein", ANATOMY, "32764006", "", "", "", ""),
    ("splenic_vein", "Splenic vein", ANATOMY, "35819009", "", "", "", ""),
    ("abdominal_aorta", "Abdominal aorta", ANATOMY, "7832008", "", "", "", ""),
    ("thoracic_aorta", "Thoracic aorta", ANATOMY, "113262008", "", "", "", ""),
    ("internal_carotid_artery", "Internal carotid artery", ANATOMY, "86117002", "", "", "", ""),
    ("internal_jugular_vein", "Internal jugular vein", ANATOMY, "12123001", "", "", "", ""),
    ("blood_vessel", "Blood vessel", ANATOMY, "59820001", "", "", "", "vessel"),
    ("artery", "Artery", ANATOMY, "51114001", "", "", "", ""),
    ("vein", "Vein", ANATOMY, "29092000", "", "", "", ""),
    ("lymph_node", "Lymph node", ANATOMY, "59441001", "", "", "", "lymph nodes"),
    ("femur", "Femur", ANATOMY, "71341001", "", "", "", ""),
    ("humerus", "Humerus", ANATOMY, "85050009", "", "", "", ""),
    ("vertebra", "Vertebra", ANATOMY, "51282000", "", "", "", "vertebrae"),
    ("rib", "Rib", ANATOMY, "113197003", "", "", "", "ribs"),
    ("bone", "Bone", ANATOMY, "3138006", "", "", "", ""),
    ("skeletal_muscle", "Skeletal muscle", ANATOMY, "127954009", "", "", "", "muscle"),
    ("skin", "Skin", ANATOMY, "39937001", "", "", "", ""),
    ("body", "Entire body", ANATOMY, "38266002", "", "", "", "whole body, body outline"),
    ("subcutaneous_tissue", "Subcutaneous tissue", TISSUE, "71966008", "", "", "", "subcutaneous fat"),
    ("fat", "Fat", TISSUE, "55603005", "", "", "", ""),
    # lesions
    ("nodule", "Nodule", LESION, "27925004", "", "", "", ""),
    ("lung_nodule", "Lung nodule", LESION, "27925004", "", "39607008", "", "lung nodules, pulmonary nodule"),
    ("neoplasm", "Neoplasm", LESION, "108369006", "", "", "", "tumor, tumour"),
    ("lung_tumor", "Lung tumor", LESION, "108369006", "", "39607008", "", "lung tumour"),
    ("liver_tumor", "Liver tumor", LESION, "108369006", "", "10200004", "", "liver tumour"),
    ("kidney_tumor", "Kidney tumor", LESION, "108369006", "", "64033007", "", "kidney tumour"),
    ("brain_tumor", "Brain tumor", LESION, "108369006", "", "12738006", "", "brain tumour"),
    ("prostate_tumor", "Prostate tumor", LESION, "108369006", "", "41216001", "", "prostate tumour"),
    ("breast_tumor", "Breast tumor", LESION, "108369006", "", "76752008", "", "breast tumour"),
    ("primary_neoplasm", "Primary neoplasm", LESION, "372087000", "", "", "", "primary tumor, primary tumour"),
    ("secondary_neoplasm", "Secondary neoplasm", LESION, "14799000", "", "", "", "metastatic neoplasm"),
    ("metastasis", "Metastasis", LESION, "128462008", "", "", "", "metastases"),
    ("lesion", "Lesion", LESION, "52988006", "", "", "", "lesions"),
    ("liver_lesion", "Liver lesion", LESION, "52988006", "", "10200004", "", ""),
    ("lung_lesion", "Lung lesion", LESION, "52988006", "", "39607008", "", ""),
    ("mass", "Mass", LESION, "4147007", "", "", "", ""),
    ("cyst", "Cyst", LESION, "367643001", "", "", "", ""),
    ("kidney_cyst", "Kidney cyst", LESION, "367643001", "", "64033007", "", "renal cyst"),
    ("necrosis", "Necrosis", LESION, "6574001", "", "", "", ""),
    ("edema", "Edema", LESION, "79654002", "", "", "", "oedema"),
    ("hemorrhage", "Hemorrhage", LESION, "50960005", "", "", "", "haemorrhage, bleeding"),
    ("intracerebral_hemorrhage", "Intracerebral hemorrhage", LESION, "50960005", "", "12738006", "", "brain hemorrhage"),
    ("effusion", "Effusion", LESION, "41699000", "", "", "", ""),
    ("pleural_effusion", "Pleural effusion", LESION, "60046008", "", "", "", ""),
    ("pericardial_effusion", "Pericardial effusion", LESION, "41699000", "", "25489000", "", ""),
    ("embolus", "Embolus", LESION, "55584005", "", "", "", "embolism"),
    ("thrombus", "Thrombus", LESION, "396339007", "", "", "", ""),
    ("abscess", "Abscess", LESION, "44132006", "", "", "", ""),
]
# fmt: on


# TotalSegmentator v2's "total" task: label value i + 1 is TOTALSEGMENTATOR_V2[i] (its class_map)
TOTALSEGMENTATOR_V2 = [
    "spleen", "kidney_right", "kidney_left", "gallbladder", "liver", "stomach", "pancreas",
    "adrenal_gland_right", "adrenal_gland_left", "lung_upper_lobe_left", "lung_lower_lobe_left",
    "lung_upper_lobe_right", "lung_middle_lobe_right", "lung_lower_lobe_right", "esophagus",
    "trachea", "thyroid_gland", "small_bowel", "duodenum", "colon", "urinary_bladder", "prostate",
    "kidney_cyst_left", "kidney_cyst_right", "sacrum", "vertebrae_S1",
    *[f"vertebrae_L{i}" for i in range(5, 0, -1)],
    *[f"vertebrae_T{i}" for i in range(12, 0, -1)],
    *[f"vertebrae_C{i}" for i in range(7, 0, -1)],
    "heart", "aorta", "pulmonary_vein", "brachiocephalic_trunk", "subclavian_artery_right",
    "subclavian_artery_left", "common_carotid_artery_right", "common_carotid_artery_left",
    "brachiocephalic_vein_left", "brachiocephalic_vein_right", "atrial_appendage_left",
    "superior_vena_cava", "inferior_vena_cava", "portal_vein_and_splenic_vein",
    "iliac_artery_left", "iliac_artery_right", "iliac_vena_left", "iliac_vena_right",
    "humerus_left", "humerus_right", "scapula_left", "scapula_right", "clavicula_left",
    "clavicula_right", "femur_left", "femur_right", "hip_left", "hip_right", "spinal_cord",
    "gluteus_maximus_left", "gluteus_maximus_right", "gluteus_medius_left",
    "gluteus_medius_right", "gluteus_minimus_left", "gluteus_minimus_right", "autochthon_left",
    "autochthon_right", "iliopsoas_left", "iliopsoas_right", "brain", "skull",
    *[f"rib_left_{i}" for i in range(1, 13)],
    *[f"rib_right_{i}" for i in range(1, 13)],
    "sternum", "costal_cartilages",
]  # fmt: skip


def presets() -> str:
    """label_presets.csv: preset, value, name — the label maps models write."""
    rows = [("totalsegmentator", i, name) for i, name in enumerate(TOTALSEGMENTATOR_V2, 1)]
    with open(REFERENCE / "totalsegmentator_v1.5.6_segments.csv", newline="") as fh:
        for ref in csv.DictReader(fh):
            name = ref["SegmentDescription"].rsplit(":", 1)[1].strip()
            rows.append(("totalsegmentator-v1", int(ref["labelID"]), name))
    with open(REFERENCE / "nnunet_bpr_segments.csv", newline="") as fh:
        for ref in csv.DictReader(fh):
            rows.append(("nnunet-bpr", int(ref["labelID"]), ref["type_meaning"].lower()))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["preset", "value", "name"])
    writer.writerows(rows)
    return out.getvalue()


def _dicom_meanings() -> dict[str, list[tuple[str, list[int]]]]:
    from pydicom.sr._concepts_dict import concepts

    meanings: dict[str, list[tuple[str, list[int]]]] = {}
    for entries in concepts["SCT"].values():
        for value, (meaning, cids) in entries.items():
            meanings.setdefault(value, []).append((meaning, cids))
    return meanings


def _meaning(value: str, dicom: dict[str, list[tuple[str, list[int]]]], hint: str) -> str:
    """DICOM's meaning for SCT *value*: the one its segmentation context groups (CID 7150,
    7151: segmented property categories and types) use, else the one that reads like *hint*,
    else the shortest (never the '(body structure)' full name)."""
    if value in NOT_IN_DICOM:
        return NOT_IN_DICOM[value]
    short = [(m, cids) for m, cids in dicom[value] if not m.endswith(")")]

    def rank(entry: tuple[str, list[int]]) -> tuple[bool, bool, bool, int, str]:
        meaning, cids = entry
        return (
            not {7150, 7151} & set(cids),
            meaning.lower() not in hint.lower(),
            meaning[:1].islower(),
            len(meaning),
            meaning,
        )

    best = sorted(short, key=rank)[0][0]
    return best[:1].upper() + best[1:]


def _code(value: str, dicom: dict[str, list[str]], hint: str) -> str:
    return f"SCT:{value}:{_meaning(value, dicom, hint)}" if value else ""


def _colour(name: str) -> str:
    """A stable, distinguishable colour for a row without a published one."""
    digest = hashlib.sha256(name.encode()).digest()
    hue = digest[0] / 255
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.55 + digest[1] / 255 * 0.35, 0.85)
    return f"{round(red * 255)} {round(green * 255)} {round(blue * 255)}"


def _fix(text: str) -> str:
    for wrong, right in MEANING_FIXES.items():
        text = text.replace(wrong, right)
    return text


def _reference_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for filename, source in (
        ("totalsegmentator_v1.5.6_segments.csv", "TotalSegmentator 1.5.6 (IDC)"),
        ("nnunet_bpr_segments.csv", "nnU-Net BPR (IDC)"),
    ):
        with open(REFERENCE / filename, newline="") as fh:
            for ref in csv.DictReader(fh):
                description = ref["SegmentDescription"]
                if description:  # "TotalSegmentator 2 : kidney_right"
                    name = description.rsplit(":", 1)[1].strip()
                else:
                    name = ref["type_meaning"].lower().replace(" ", "_")
                if name in seen:
                    continue
                seen.add(name)

                def code(part: str, ref: dict[str, str] = ref) -> str:
                    if not ref[f"{part}_value"]:
                        return ""
                    meaning = _fix(ref[f"{part}_meaning"])
                    return f"{ref[f'{part}_scheme']}:{ref[f'{part}_value']}:{meaning}"

                rows.append(
                    {
                        "name": name,
                        "label": _fix(ref["SegmentLabel"] or ref["type_meaning"]),
                        "category": ANATOMY,
                        "type": code("type"),
                        "type_modifier": code("type_modifier"),
                        "region": code("region"),
                        "region_modifier": code("region_modifier"),
                        "rgb": ref["rgb"] or _colour(name),  # IDC gives face none
                        "aliases": REFERENCE_ALIASES.get(name, ""),
                        "source": source,
                    }
                )
    return rows


def build() -> str:
    """The table's CSV text."""
    dicom = _dicom_meanings()
    rows = _reference_rows()
    names = {row["name"] for row in rows}
    for name, label, category, kind, modifier, region, region_mod, aliases in CURATED:
        if name in names:  # nnU-Net BPR's "heart" is IDC's: keep its colour
            continue
        rows.append(
            {
                "name": name,
                "label": label,
                "category": category,
                "type": _code(kind, dicom, label),
                "type_modifier": modifier,
                "region": _code(region, dicom, label),
                "region_modifier": region_mod,
                "rgb": _colour(name),
                "aliases": aliases,
                "source": "TotalSegmentator 2" if name in _V2 else "idcseg (DICOM PS3.16 codes)",
            }
        )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


_V2 = {row[0] for row in CURATED[:20]}


def main() -> int:
    """Write the table, or with --check compare it."""
    outputs = {TABLE: build(), PRESETS: presets()}
    if sys.argv[1:] == ["--check"]:
        for path, text in outputs.items():
            if path.read_text() != text:
                print(
                    f"{path} is out of date: run python tools/build_structures.py", file=sys.stderr
                )
                return 1
        return 0
    for path, text in outputs.items():
        path.write_text(text)
        print(f"wrote {path}: {text.count(chr(10)) - 1} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
