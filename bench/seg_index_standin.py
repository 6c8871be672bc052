"""A stand-in for IDC's ``seg_index.parquet``: real SEG series UIDs, synthetic segment meanings.

IDC publishes ``seg_index.parquet`` (one row per DICOM SEG series; ~6 MB) with each
idc-index-data release, outside the wheel. This sandbox cannot download it, so the benchmarks
build a stand-in once and cache it under ``bench/out/seg_index_standin/`` (git-ignored):

* **the wheel's exact schema** (``seg_index_schema.json``: column names, order and types;
  REPEATED STRING as ``list<string>``), rows ordered as IDC's ``seg_index.sql`` orders them
  (SegmentationType DESC, AlgorithmType, AlgorithmName);
* **one row per SEG series of the real index**: every series of the wheel's ``idc_index.parquet``
  with SOPClassUID Segmentation Storage (``…66.4``) or Label Map Segmentation Storage
  (``…66.7``), 193,283 in idc-index-data 25.0.5, with its real SeriesInstanceUID;
  ``segmented_SeriesInstanceUID`` is a real image series (CT/MR/SM/PT first) of the same study,
  chosen deterministically (NULL for ~1 % of series, and where the study has none);
* **synthetic segments**, aggregated per series exactly as ``seg_index.sql`` does (distinct
  sorted meanings; AlgorithmType/AlgorithmName comma-joined distinct sorted values;
  total_segments = number of segments). The segments are plausible but invented, chosen
  deterministically from the series' analysis result, collection and SeriesDescription:
  ``totalsegmentator_ct_segmentations`` → AUTOMATIC "TotalSegmentator v1.5.6" with a per-series
  subset of the 104 segments of ``reference/totalsegmentator_v1.5.6_segments.csv``;
  ``nnu_net_bpr_annotations`` → ``reference/nnunet_bpr_segments.csv``; LIDC-IDRI → MANUAL or
  SEMIAUTOMATIC Nodule; BAMF AIMI → AUTOMATIC ("AI segmentation") or AUTOMATIC plus
  SEMIAUTOMATIC ("radiologist … corrected") organs and tumours named in the description; the
  rest from ``reference/early_idc_distinct_category_type_region.csv`` and keywords.

Counts and answers measured on it (e.g. how many series have Liver) are therefore NOT IDC's;
only the shape, size and UIDs are realistic. The parquet carries this note in its schema
metadata (``idcseg_bench_stand_in``).

    python bench/seg_index_standin.py            # build (or reuse) the cached file; print a summary
    python bench/seg_index_standin.py --force    # build again
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out" / "seg_index_standin"
REFERENCE = BENCH.parent.parent / "shared" / "reference"
# Bump when the recipe changes: a cached file built by another recipe is rebuilt.
RECIPE = "5"
NOTE = (
    "STAND-IN for IDC's seg_index.parquet built by idcseg bench/seg_index_standin.py: real SEG "
    "SeriesInstanceUIDs and segmented series of the idc-index-data wheel, SYNTHETIC segments "
    "(types, categories, regions, algorithms, counts)"
)
SEG_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")

AS = "Anatomical Structure"
MAS = "Morphologically Altered Structure"
AUTO, SEMI, MANUAL = "AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"

# one segment: (category, type, region, algorithm type, algorithm name)
Segment = tuple[str | None, str | None, str | None, str | None, str | None]


def reference_dir(explicit: Path | None = None) -> Path:
    """``shared/reference`` beside the checkout (``../shared/reference``)."""
    for candidate in (explicit, REFERENCE, Path("/work/shared/reference")):
        if candidate is not None and (candidate / "totalsegmentator_v1.5.6_segments.csv").is_file():
            return candidate
    raise SystemExit(
        "cannot find shared/reference/totalsegmentator_v1.5.6_segments.csv (give --reference)"
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _none(text: str) -> str | None:
    return text or None


def _rng(uid: str) -> random.Random:
    """A generator seeded by the series UID: the same choices on every machine and run."""
    return random.Random(int.from_bytes(hashlib.blake2b(uid.encode(), digest_size=8).digest()))


class Recipe:
    """Synthetic segments for one SEG series, from its analysis result, collection, description."""

    def __init__(self, reference: Path) -> None:
        self.totalseg: list[tuple[Segment, tuple[float, float]]] = [
            (
                (
                    _none(r["category_meaning"]),
                    _none(r["type_meaning"]),
                    _none(r["region_meaning"]),
                    r["SegmentAlgorithmType"],
                    r["SegmentAlgorithmName"],
                ),
                _extent(r["SegmentDescription"].rsplit(":", 1)[-1].strip()),
            )
            for r in _rows(reference / "totalsegmentator_v1.5.6_segments.csv")
        ]
        self.nnunet: list[Segment] = [
            (
                _none(r["category_meaning"]),
                _none(r["type_meaning"]),
                _none(r["region_meaning"]),
                r["SegmentAlgorithmType"],
                r["SegmentAlgorithmName"],
            )
            for r in _rows(reference / "nnunet_bpr_segments.csv")
        ]
        self.early: list[tuple[str | None, str | None, str | None]] = [
            (
                _none(r["SegmentedPropertyCategory_CodeMeaning"]),
                _none(r["SegmentedPropertyType_CodeMeaning"]),
                _none(r["AnatomicRegion_CodeMeaning"]),
            )
            for r in _rows(reference / "early_idc_distinct_category_type_region.csv")
        ]
        self.by_analysis: dict[str, Callable[[random.Random, str, str], list[Segment]]] = {
            "totalsegmentator_ct_segmentations": self._totalseg,
            "nnu_net_bpr_annotations": self._nnunet,
            "dicom_lidc_idri_nodules": self._lidc,
            "lidc_annot_nlst501": self._nlst_nodules,
            "nlstseg": self._lung_tumour("NLSTSeg"),
            "qin_lungct_seg": self._qin_lung,
            "qiba_volct_1b": self._lung_tumour("QIBA VolCT reader"),
            "rider_lungct_seg": self._lung_tumour("RIDER lung CT reader"),
            "bamf_aimi_annotations": self._bamf,
            "eay131_tumor_annotations": self._eay131,
            "prostate_mri_us_biopsy_dicom_annotations": self._prostate_biopsy,
            "prostatex_seg_zones": self._prostate_zones,
            "prostatex_seg_hires": self._prostate_zones,
            "pancreas_ct_seg": lambda rng, c, d: [(AS, "Pancreas", None, MANUAL, None)],
            "rcc_aid": self._rcc,
            "tcga_sbu_til_maps": lambda rng, c, d: [
                ("Tissue", "Tissue", None, AUTO, "Stony Brook Inception-V4 TIL")
            ],
            "pan_cancer_nuclei_seg_dicom": lambda rng, c, d: [
                ("Tissue", "Tissue", "Tissue", AUTO, "Pan-cancer nuclei segmentation")
            ],
        }

    def segmentation_type(self, sop_class: str, analysis: str) -> str:
        if sop_class.endswith(".66.7"):
            return "LABELMAP"
        if analysis == "tcga_sbu_til_maps":
            return "FRACTIONAL"
        return "BINARY"

    def segments(self, uid: str, analysis: str, collection: str, description: str) -> list[Segment]:
        rng = _rng(uid)
        make = self.by_analysis.get(analysis, self._other)
        return make(rng, collection, description) or [(None, None, None, None, None)]

    # --- per analysis result ------------------------------------------------------------------

    def _totalseg(self, rng: random.Random, collection: str, description: str) -> list[Segment]:
        # a chest CT's field of view: from the lower neck to the upper abdomen
        top, bottom = 14 + 12 * rng.random(), 50 + 22 * rng.random()
        chosen = []
        for segment, (start, end) in self.totalseg:
            seen = min(end, bottom) - max(start, top)
            if seen <= 0:
                continue
            share = seen / (end - start)
            if share < 0.3 and rng.random() < 0.5:  # cut by the edge of the scan: often missed
                continue
            if rng.random() < 0.03:  # not found
                continue
            chosen.append(segment)
        return chosen or [self.totalseg[0][0]]

    def _nnunet(self, rng: random.Random, collection: str, description: str) -> list[Segment]:
        chosen = [s for s in self.nnunet if rng.random() < 0.9]
        return chosen or [rng.choice(self.nnunet)]

    def _lidc(self, rng: random.Random, collection: str, description: str) -> list[Segment]:
        if rng.random() < 0.7:
            return [(MAS, "Nodule", "Lung", MANUAL, None)]
        return [(MAS, "Nodule", "Lung", SEMI, "LIDC nodule outline tool")]

    def _nlst_nodules(self, rng: random.Random, collection: str, description: str) -> list[Segment]:
        return [(MAS, "Nodule", "Lung", MANUAL, None)] * rng.randint(1, 3)

    def _lung_tumour(self, name: str) -> Callable[[random.Random, str, str], list[Segment]]:
        def make(rng: random.Random, collection: str, description: str) -> list[Segment]:
            kind = SEMI if rng.random() < 0.6 else MANUAL
            return [(MAS, "Neoplasm, Primary", "Lung", kind, name if kind == SEMI else None)]

        return make

    def _qin_lung(self, rng: random.Random, collection: str, description: str) -> list[Segment]:
        alg = re.search(r"alg\d+", description or "")
        name = f"QIN CT challenge {alg.group(0)}" if alg else "QIN CT challenge"
        return [(MAS, "Neoplasm, Primary", "Lung", SEMI, name)]

    _BAMF: tuple[tuple[str, list[tuple[str, str, str | None]]], ...] = (
        ("lung and nodule", [(AS, "Lung", None), (MAS, "Nodule", "Lung")]),
        ("lung and fdg tumor", [(AS, "Lung", None), (MAS, "Neoplasm", "Lung")]),
        ("liver-tumor", [(AS, "Liver", None), (MAS, "Neoplasm", "Liver")]),
        ("liver", [(AS, "Liver", None)]),
        (
            "kidney tumor cyst",
            [(AS, "Kidney", None), (MAS, "Neoplasm", "Kidney"), (MAS, "Cyst", "Kidney")],
        ),
        ("kidney", [(AS, "Kidney", None)]),
        ("prostate", [(AS, "Prostate", None)]),
        ("breast", [("Tissue", "Breast", "Breast"), (MAS, "Neoplasm", "Breast")]),
        (
            "brain",
            [
                (MAS, "Edema", "Brain"),
                (MAS, "Enhancing Lesion", "Brain"),
                (MAS, "Necrosis", "Brain"),
            ],
        ),
    )

    def _bamf(self, rng: random.Random, collection: str, description: str) -> list[Segment]:
        text = (description or "").lower()
        parts = next((p for key, p in self._BAMF if key in text), [(AS, "Tissue", None)])
        name = "BAMF AIMI model"
        if "corrected" in text:  # the organ as the model drew it, the lesions edited by a reader
            return [(c, t, r, AUTO if i == 0 else SEMI, name) for i, (c, t, r) in enumerate(parts)]
        return [(c, t, r, AUTO, name) for c, t, r in parts]

    def _eay131(self, rng: random.Random, collection: str, description: str) -> list[Segment]:
        match = re.match(r"^[^,]*,\s*(.*?)\s*-\s*\d+\s*$", description or "")
        site = match.group(1).capitalize() if match else None
        return [(MAS, "Neoplasm", site, MANUAL, None)]

    def _prostate_biopsy(
        self, rng: random.Random, collection: str, description: str
    ) -> list[Segment]:
        if "lesion" in (description or "").lower():
            return [(MAS, "Lesion", "Peripheral zone of the prostate", MANUAL, None)]
        return [(AS, "Prostate", None, SEMI, "Prostate MRI contouring tool")]

    def _prostate_zones(
        self, rng: random.Random, collection: str, description: str
    ) -> list[Segment]:
        zones = [
            "Peripheral zone of the prostate",
            "Transition zone of prostate",
            "Anterior fibromuscular stroma of prostate",
            "Prostatic Urethra",
        ]
        return [(AS, z, None, MANUAL, None) for z in zones if rng.random() < 0.85] or [
            (AS, "Prostate", None, MANUAL, None)
        ]

    def _rcc(self, rng: random.Random, collection: str, description: str) -> list[Segment]:
        return [
            (AS, "Kidney", None, MANUAL, None),
            (MAS, "Mass", "Kidney", MANUAL, None),
            (MAS, "Cyst", "Kidney", MANUAL, None),
        ][: rng.randint(1, 3)]

    _OTHER: tuple[tuple[str, list[tuple[str, str, str | None]], str], ...] = (
        ("liver", [(AS, "Liver", None)], MANUAL),
        ("hcc_tace", [(AS, "Liver", None), (MAS, "Neoplasm", "Liver")], MANUAL),
        ("colorectal_liver", [(AS, "Liver", None), (MAS, "Neoplasm, Secondary", "Liver")], SEMI),
        ("kits", [(AS, "Kidney", None), (MAS, "Neoplasm, Primary", "Kidney")], MANUAL),
        ("breast", [("Tissue", "Breast", "Breast"), (MAS, "Neoplasm, Primary", "Breast")], SEMI),
        ("ispy", [("Tissue", "Breast", "Breast"), (MAS, "Neoplasm, Primary", "Breast")], SEMI),
        ("acrin_6698", [(MAS, "Neoplasm, Primary", "Breast")], MANUAL),
        ("lymph", [(AS, "Lymph node", None)], MANUAL),
        ("remind", [(MAS, "Neoplasm, Primary", "Brain")], MANUAL),
        (
            "nsclc_radiomics",
            [
                (MAS, "Neoplasm, Primary", "Lung"),
                (AS, "Lung", None),
                (AS, "Heart", None),
                (AS, "Esophagus", None),
                (AS, "Spinal cord", None),
            ],
            MANUAL,
        ),
        ("lung", [(MAS, "Neoplasm, Primary", "Lung")], SEMI),
        (
            "prostate",
            [(AS, "Prostate", None), (MAS, "Lesion", "Peripheral zone of the prostate")],
            MANUAL,
        ),
        ("spine", [(AS, "Spinal cord", None), (MAS, "Neoplasm, Secondary", None)], MANUAL),
        ("myeloma", [(MAS, "Neoplasm", None)], MANUAL),
        ("adrenal", [(MAS, "Neoplasm, Primary", "Adrenal gland")], MANUAL),
        ("pet", [(MAS, "Neoplasm", "Entire body")], SEMI),
    )

    def _other(self, rng: random.Random, collection: str, description: str) -> list[Segment]:
        text = f"{collection} {description or ''}".lower()
        for key, parts, kind in self._OTHER:
            if key in text:
                chosen = [p for i, p in enumerate(parts) if i == 0 or rng.random() < 0.7]
                name = None if kind == MANUAL else "Semi-automatic contouring tool"
                return [(c, t, r, kind, name) for c, t, r in chosen]
        picks = rng.sample(self.early, rng.randint(1, 3))
        draw = rng.random()
        kind = AUTO if draw < 0.15 else SEMI if draw < 0.45 else MANUAL
        name = None if kind == MANUAL else f"{kind.lower()} segmentation tool"
        return [(c, t, r, kind, name) for c, t, r in picks]


# Rough craniocaudal extent (0 = top of the head, 100 = upper thighs) of each TotalSegmentator
# class, so that a synthetic chest CT holds the structures a chest CT's field of view would.
_EXTENTS: dict[str, tuple[float, float]] = {
    "brain": (0, 8), "face": (2, 14), "trachea": (18, 40), "esophagus": (18, 58),
    "clavicula": (26, 30), "scapula": (26, 44), "humerus": (26, 50),
    "lung_upper_lobe": (27, 47), "lung_middle_lobe": (38, 52), "lung_lower_lobe": (35, 58),
    "pulmonary_artery": (36, 42), "heart": (38, 54), "aorta": (30, 75),
    "inferior_vena_cava": (50, 78), "liver": (50, 68), "spleen": (54, 64), "stomach": (52, 66),
    "gallbladder": (60, 66), "adrenal_gland": (58, 63), "pancreas": (60, 66), "kidney": (60, 72),
    "portal_vein_and_splenic_vein": (58, 66), "duodenum": (62, 70), "small_bowel": (66, 90),
    "colon": (62, 95), "autochthon": (30, 85), "iliopsoas": (68, 95), "iliac": (76, 86),
    "hip": (80, 96), "sacrum": (80, 90), "gluteus": (82, 100), "femur": (94, 100),
    "urinary_bladder": (90, 98),
}  # fmt: skip


def _extent(name: str) -> tuple[float, float]:
    """Extent of a TotalSegmentator class (``liver``, ``vertebrae_T7``, ``rib_left_3``...)."""
    if m := re.fullmatch(r"vertebrae_([CTL])(\d+)", name):
        level = {"C": 9 + 2, "T": 24 + 3, "L": 60 + 4}[m.group(1)]
        step = {"C": 2, "T": 3, "L": 4}[m.group(1)]
        centre = level + step * (int(m.group(2)) - 1)
        return centre - 1.5, centre + 1.5
    if m := re.fullmatch(r"rib_(left|right)_(\d+)", name):
        k = int(m.group(2))
        return 27 + 2.5 * k, 35 + 2.5 * k
    for key, extent in _EXTENTS.items():
        if name.startswith(key):
            return extent
    raise ValueError(f"no extent for TotalSegmentator class {name!r}")


def _unresolved(uid: str) -> bool:
    """~1 % of series whose referenced image is "not in IDC" (segmented_SeriesInstanceUID NULL)."""
    return hashlib.blake2b(f"segmented {uid}".encode(), digest_size=2).digest()[0] % 100 == 0


def _agg(values: list[str | None]) -> list[str]:
    return sorted({v for v in values if v is not None})


def _series(index_parquet: Path) -> list[tuple[Any, ...]]:
    """Every SEG series of the wheel's index with a segmented image series of its study."""
    import duckdb

    con = duckdb.connect()
    sop = ", ".join(f"'{u}'" for u in SEG_SOP_CLASSES)
    return con.execute(
        f"""
        WITH idx AS (SELECT * FROM read_parquet(?)),
        seg AS (
          SELECT SeriesInstanceUID, StudyInstanceUID, SOPClassUID,
                 COALESCE(analysis_result_id, '') AS analysis,
                 collection_id, COALESCE(SeriesDescription, '') AS description
          FROM idx WHERE SOPClassUID IN ({sop})
        ),
        images AS (
          SELECT StudyInstanceUID, SeriesInstanceUID,
                 CASE WHEN Modality IN ('CT', 'MR', 'SM', 'PT') THEN 0 ELSE 1 END AS rank
          FROM idx
          WHERE Modality IN ('CT', 'MR', 'SM', 'PT', 'MG', 'US', 'CR', 'DX', 'NM', 'OT')
            AND SOPClassUID NOT IN ({sop})
            AND StudyInstanceUID IN (SELECT StudyInstanceUID FROM seg)
        ),
        picked AS (
          SELECT seg.SeriesInstanceUID,
                 arg_min(images.SeriesInstanceUID,
                         (images.rank, md5(seg.SeriesInstanceUID || images.SeriesInstanceUID)))
                   AS segmented
          FROM seg JOIN images USING (StudyInstanceUID)
          GROUP BY seg.SeriesInstanceUID
        )
        SELECT seg.SeriesInstanceUID, seg.SOPClassUID, seg.analysis, seg.collection_id,
               seg.description,
               picked.segmented
        FROM seg LEFT JOIN picked USING (SeriesInstanceUID)
        """,
        [str(index_parquet)],
    ).fetchall()


def schema_columns(index_folder: Path) -> list[dict[str, str]]:
    return json.loads((index_folder / "seg_index_schema.json").read_text())["columns"]


def build(target: Path, index_folder: Path, reference: Path) -> dict[str, Any]:
    """Write the stand-in to *target*; return a summary (rows, bytes, a few counts)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    recipe = Recipe(reference)
    rows = []
    for uid, sop_class, analysis, collection, description, segmented in _series(
        index_folder / "idc_index.parquet"
    ):
        segments = recipe.segments(uid, analysis, collection, description)
        real = [s for s in segments if any(v is not None for v in s)]
        types = _agg([s[3] for s in segments])
        names = _agg([s[4] for s in segments])
        rows.append(
            {
                "SeriesInstanceUID": uid,
                "SegmentationType": recipe.segmentation_type(sop_class, analysis),
                "total_segments": len(real),
                "AlgorithmType": ",".join(types) or None,
                "AlgorithmName": ",".join(names) or None,
                "segmented_SeriesInstanceUID": None if _unresolved(uid) else segmented,
                "SegmentedPropertyCategory_CodeMeanings": _agg([s[0] for s in segments]),
                "SegmentedPropertyType_CodeMeanings": _agg([s[1] for s in segments]),
                "AnatomicRegion_CodeMeanings": _agg([s[2] for s in segments]),
            }
        )
    # IDC's order: SegmentationType DESC, AlgorithmType, AlgorithmName (NULLs first, as BigQuery
    # sorts them), then SeriesInstanceUID so the file is the same on every build
    rows.sort(
        key=lambda r: (
            r["AlgorithmType"] is not None,
            r["AlgorithmType"] or "",
            r["AlgorithmName"] is not None,
            r["AlgorithmName"] or "",
            r["SeriesInstanceUID"],
        )
    )
    rows.sort(key=lambda r: r["SegmentationType"], reverse=True)  # stable
    # Written as idc-index-data's release scripts write their parquet files: pandas-3 strings
    # (large_string, as in the wheel's idc_index.parquet), ZSTD, the release stamped in the
    # schema metadata (idc_index_data_version, copied from the wheel's idc_index.parquet), and
    # a "<sha256>  seg_index.parquet" sidecar.
    arrow_types = {
        ("STRING", "NULLABLE"): pa.large_string(),
        ("INTEGER", "NULLABLE"): pa.int64(),
        ("STRING", "REPEATED"): pa.list_(pa.large_string()),
    }
    stamp = (pq.read_schema(index_folder / "idc_index.parquet").metadata or {}).get(
        b"idc_index_data_version"
    )
    columns = schema_columns(index_folder)
    schema = pa.schema(
        [
            pa.field(c["name"], arrow_types[(c["type"], c.get("mode") or "NULLABLE")])
            for c in columns
        ],
        metadata={
            **({b"idc_index_data_version": stamp} if stamp else {}),
            b"idcseg_bench_stand_in": NOTE.encode(),
        },
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    pq.write_table(table, part, compression="zstd")
    digest = hashlib.sha256(part.read_bytes()).hexdigest()
    part.replace(target)
    target.with_name(target.name + ".sha256").write_text(f"{digest}  {target.name}\n")
    liver_auto = sum(
        1
        for r in rows
        if "liver" in (m.lower() for m in r["SegmentedPropertyType_CodeMeanings"])
        and "AUTOMATIC" in (r["AlgorithmType"] or "").split(",")
    )
    return {
        "sha256": digest,
        "rows": len(rows),
        "bytes": target.stat().st_size,
        "build_s": round(time.perf_counter() - t0, 1),
        "with_segmented_series": sum(r["segmented_SeriesInstanceUID"] is not None for r in rows),
        "liver_automatic_rows": liver_auto,
        "segmentation_types": {
            k: sum(r["SegmentationType"] == k for r in rows)
            for k in sorted({r["SegmentationType"] for r in rows})
        },
    }


def ensure(
    index_folder: Path | None = None, reference: Path | None = None, force: bool = False
) -> tuple[Path, dict[str, Any]]:
    """The cached stand-in for the installed idc-index-data (built if missing or stale)."""
    from importlib.metadata import version

    if index_folder is None:
        import idc_index_data

        index_folder = Path(idc_index_data.__file__).resolve().parent
    wheel = version("idc-index-data")
    target = OUT / wheel / "seg_index.parquet"
    info_file = target.with_name("standin.json")
    if not force and target.is_file() and info_file.is_file():
        info = json.loads(info_file.read_text())
        if info.get("recipe") == RECIPE and info.get("bytes") == target.stat().st_size:
            return target, {**info, "cached": True}
    info = build(target, index_folder, reference_dir(reference))
    info = {"recipe": RECIPE, "idc_index_data": wheel, "note": NOTE, **info}
    info_file.write_text(json.dumps(info, indent=1) + "\n")
    return target, {**info, "cached": False}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="build again even if cached")
    parser.add_argument("--reference", type=Path, help="folder of the reference CSVs")
    args = parser.parse_args(argv)
    path, info = ensure(reference=args.reference, force=args.force)
    print(NOTE)
    print(path)
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
