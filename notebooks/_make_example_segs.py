"""Small DICOM SEG files for the idcseg notebooks, made on the spot with idcseg's example
builders (:mod:`idcseg.examples`: pydicom and highdicom).

Nothing is downloaded. A tiny CT series is derived from pydicom's bundled ``CT_small.dcm``
(3 slices, new UIDs) and highdicom writes standard Segmentation objects that reference it.

:func:`make_examples` writes five SEGs into a folder, as if you had downloaded them:

- ``lidc_nodule_001.dcm`` and ``lidc_nodule_il057.dcm`` — **stand-ins for two real IDC series**
  of ``dicom_lidc_idri_nodules`` (patient LIDC-IDRI-0001): they carry those series' study, series
  and source-CT identifiers, so idcseg recognises them as IDC's and their viewer links open the
  real segmentations. Their masks and SOP instance UIDs are made up. Like the real files, written
  by dcmqi in 2019, they code "Nodule" in legacy SNOMED-RT (``SRT:M-03010``).
- ``ai_nodules.dcm`` — an AI nodule detector's output on a local CT (not in IDC): two nodules
  coded in SNOMED-CT (``SCT:27925004``), in the left and the right lung, drawn as small balls
  (:func:`nodule_balls`).
- ``organs_totalsegmentator.dcm`` — automatic organ masks (liver, spleen, kidneys and lungs with
  laterality), coded as TotalSegmentator's DICOM output codes them.
- ``tumor_manual.dcm`` — a manually drawn liver tumour.

:func:`make_nodule_reports` writes what a nodule study holds besides its SEGs: DICOM SR
measurement reports (TID 1500), modelled on IDC's LIDC-IDRI ones — per nodule and reader a
volume, a diameter and a surface area (UCUM units) and the nine LIDC ratings, malignancy among
them. Four readers rate eight nodules of a local CT (``nodules.dcm``), and one reader each of the
two IDC stand-in SEGs. The numbers are made up (seeded, so every run is the same): bigger
nodules tend to get higher malignancy ratings, as in LIDC.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np

from idcseg.examples import (
    DIAMETER,
    MM,
    MM2,
    MM3,
    SURFACE_AREA,
    VOLUME,
    Code,
    lidc_ratings,
    make_ct,
    make_measurement_report,
    make_seg,
    measurement_group,
    segment,
)

# Real IDC identifiers (IDC v25 index): LIDC-IDRI-0001, its CT series and two nodule SEGs.
LIDC_PATIENT = "LIDC-IDRI-0001"
LIDC_STUDY = "1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178"
LIDC_CT_SERIES = "1.3.6.1.4.1.14519.5.2.1.6279.6001.179049373636438705059720603192"
LIDC_NODULE_SEGS = {
    "lidc_nodule_001": "1.2.276.0.7230010.3.1.3.0.89314.1553284067.990548",
    "lidc_nodule_il057": "1.2.276.0.7230010.3.1.3.0.89316.1553284071.471973",
}

SRT_MORPH_ALTERED: Code = ("M-01000", "SRT", "Morphologically Altered Structure")
SRT_NODULE: Code = ("M-03010", "SRT", "Nodule")
SRT_LUNG: Code = ("T-28000", "SRT", "Lung")
MORPH_ALTERED: Code = ("49755003", "SCT", "Morphologically Altered Structure")
ANATOMICAL_STRUCTURE: Code = ("123037004", "SCT", "Anatomical Structure")
NODULE: Code = ("27925004", "SCT", "Nodule")
NEOPLASM: Code = ("108369006", "SCT", "Neoplasm")
LUNG: Code = ("39607008", "SCT", "Lung")
LIVER: Code = ("10200004", "SCT", "Liver")
SPLEEN: Code = ("78961009", "SCT", "Spleen")
KIDNEY: Code = ("64033007", "SCT", "Kidney")
LEFT: Code = ("7771000", "SCT", "Left")
RIGHT: Code = ("24028007", "SCT", "Right")


#: Centres (row, column) and radii (pixels, mid slice) of the two demo nodules, on CT_small.
NODULES = (((24, 113), 6), ((22, 13), 5))  # in the left (image right) and right lung


def nodule_balls(n_slices: int, rows: int, columns: int) -> np.ndarray:
    """Two balls, ``(slices, rows, columns, 2)`` bool: largest on the middle slice."""
    r, c = np.ogrid[:rows, :columns]
    pixels = np.zeros((n_slices, rows, columns, len(NODULES)), dtype=bool)
    middle = (n_slices - 1) / 2
    for k, ((row, column), radius) in enumerate(NODULES):
        for z in range(n_slices):
            size = radius * max(0.0, 1 - ((z - middle) / (n_slices / 2 + 0.5)) ** 2) ** 0.5
            pixels[z, :, :, k] = (r - row) ** 2 + (c - column) ** 2 <= size**2
    return pixels


def make_examples(folder: str | Path) -> dict[str, Path]:
    """Write the example SEGs (and their CT) under *folder*; return ``{name: SEG file}``."""
    folder = Path(folder)
    segs = folder / "segs"
    written: dict[str, Path] = {}

    lidc_ct = make_ct(
        folder / "ct" / "lidc", LIDC_PATIENT, study_uid=LIDC_STUDY, series_uid=LIDC_CT_SERIES
    )
    for n, (name, series_uid) in enumerate(LIDC_NODULE_SEGS.items(), start=1):
        nodule = segment(
            1,
            "Nodule 1",
            SRT_MORPH_ALTERED,
            SRT_NODULE,
            anatomy=SRT_LUNG,
            tracking_id=f"Nodule 1 - reader {n}",
        )
        written[name] = make_seg(
            lidc_ct,
            segs / f"{name}.dcm",
            [nodule],
            description=f"Segmentation of Nodule 1 - reader {n} (stand-in)",
            series_uid=series_uid,
        )

    local_ct = make_ct(folder / "ct" / "demo", "DEMO-0001")
    written["ai_nodules"] = make_seg(
        local_ct,
        segs / "ai_nodules.dcm",
        [
            segment(
                number,
                f"Nodule {number}",
                MORPH_ALTERED,
                NODULE,
                algorithm="demo-nodule-detector",
                algorithm_type="AUTOMATIC",
                anatomy=LUNG,
                laterality=side,
                laterality_of="anatomy",
                tracking_id=f"Nodule {number}",
            )
            for number, side in ((1, LEFT), (2, RIGHT))
        ],
        description="AI nodule detection",
        pixels=nodule_balls(len(local_ct), int(local_ct[0].Rows), int(local_ct[0].Columns)),
    )
    organs = [
        ("liver", LIVER, None),
        ("spleen", SPLEEN, None),
        ("kidney_left", KIDNEY, LEFT),
        ("kidney_right", KIDNEY, RIGHT),
        ("lung_left", LUNG, LEFT),
        ("lung_right", LUNG, RIGHT),
    ]
    written["organs_totalsegmentator"] = make_seg(
        local_ct,
        segs / "organs_totalsegmentator.dcm",
        [
            segment(
                number,
                label,
                ANATOMICAL_STRUCTURE,
                structure,
                algorithm="TotalSegmentator",
                algorithm_type="AUTOMATIC",
                laterality=side,
            )
            for number, (label, structure, side) in enumerate(organs, start=1)
        ],
        description="TotalSegmentator organs",
    )
    written["tumor_manual"] = make_seg(
        local_ct,
        segs / "tumor_manual.dcm",
        [segment(1, "Liver tumor", MORPH_ALTERED, NEOPLASM, anatomy=LIVER)],
        description="Liver tumor, manual",
    )
    return written


READERS = ("Reader^A", "Reader^B", "Reader^C", "Reader^D")


def _nodule_group(seg, number: int, diameter: float, score: int, rng: random.Random):
    """A measurement group: the nodule's size as one reader measured it, and its ratings."""
    measured = diameter * rng.uniform(0.9, 1.1)
    volume = math.pi / 6 * measured**3
    area = math.pi * measured**2
    return measurement_group(
        seg,
        number,
        measurements=[
            (VOLUME, round(volume, 1), MM3),
            (DIAMETER, round(measured, 2), MM),
            (SURFACE_AREA, round(area, 1), MM2),
        ],
        evaluations=lidc_ratings(
            subtlety=rng.randint(2, 5),
            internal_structure=1,
            calcification=6 if score >= 3 else rng.choice((1, 3, 6)),
            sphericity=rng.choice((3, 4, 5)),
            margin=rng.randint(2, 5),
            lobulation=rng.randint(1, 3),
            spiculation=min(5, max(1, score - rng.randint(0, 2))),
            texture=5,
            malignancy=score,
        ),
    )


def make_nodule_reports(folder: str | Path) -> dict[str, Path]:
    """Write the SEG of eight nodules and the readers' reports (see the module docstring) under
    *folder*, after :func:`make_examples` wrote the IDC stand-ins there; return ``{name: file}``."""
    import pydicom

    folder = Path(folder)
    rng = random.Random(2024)
    ct = make_ct(folder / "ct" / "nodules", "DEMO-0002")
    diameters = [4.5, 6.0, 7.5, 9.0, 11.0, 14.0, 18.0, 24.0]
    seg_path = make_seg(
        ct,
        folder / "segs" / "nodules.dcm",
        [
            segment(k, f"Nodule {k}", MORPH_ALTERED, NODULE, anatomy=LUNG,
                    tracking_id=f"Nodule {k}")
            for k in range(1, len(diameters) + 1)
        ],
        description="Eight lung nodules",
    )  # fmt: skip
    seg = pydicom.dcmread(seg_path)
    written = {"nodules": seg_path}
    for reader in READERS:
        groups = []
        for k, diameter in enumerate(diameters, start=1):
            likely = 1 + (diameter - 4) / 5 + rng.gauss(0, 0.7)
            score = min(5, max(1, round(likely)))
            groups.append(_nodule_group(seg, k, diameter, score, rng))
        name = f"nodules_{reader[-1].lower()}"
        written[name] = make_measurement_report(
            folder / "reports" / f"{name}.dcm", seg, groups, observer=reader,
            description=f"Nodule ratings - {reader}",
        )  # fmt: skip
    for name, diameter, score in (("lidc_nodule_001", 10.0, 4), ("lidc_nodule_il057", 13.5, 5)):
        stand_in = pydicom.dcmread(folder / "segs" / f"{name}.dcm")
        written[f"{name}_report"] = make_measurement_report(
            folder / "reports" / f"{name}_report.dcm",
            stand_in,
            [_nodule_group(stand_in, 1, diameter, score, rng)],
            observer="Reader^LIDC",
            description="Nodule ratings (stand-in)",
        )
    return written
