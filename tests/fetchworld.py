"""The world ``fetch-segments`` tests run in: IDC-like buckets on a local S3, and a small index.

:func:`build` writes multi-MB SEGs with highdicom (40 frames of 512×512, 1–10 MB each), uploads
them to bucket ``idc-open-data`` of a local moto server under IDC's key layout
``<crdc_series_uuid>/<crdc_instance_uuid>.dcm``, and writes a stand-in ``idc_index_data`` package
whose ``idc_index.parquet`` has IDC's 31 columns and one row per test series (collection
``fetch_test``), pointing at the bucket. Beside the "multi" SEG's study are three SR series: a
TID 1500 report on its segments, an SR of another template, and a report of another analysis
result (not to be fetched with the SEG's measurements). Put its folder first on ``PYTHONPATH`` (or patch
``index_dir``) and the embedded engine selects the test series as it would IDC's.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pydicom
from pydicom.uid import generate_uid

from tests import segfactory
from tests.s3server import FaultProxy, LocalS3

BUCKET = "idc-open-data"
COLLECTION = "fetch_test"


@dataclass
class Series:
    """One series in the bucket, and the local copies of its objects."""

    name: str
    uid: str
    uuid: str
    files: list[Path] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    header: Path | None = None  # a file to describe the series by when it has no objects

    @property
    def target(self) -> tuple[str, str, str]:
        """``(SeriesInstanceUID, bucket, crdc_series_uuid)``."""
        return (self.uid, BUCKET, self.uuid)


@dataclass
class World:
    """Everything the tests share: servers, series, the stand-in index."""

    s3: LocalS3
    proxy: FaultProxy
    series: dict[str, Series]
    index_root: Path  # holds the stand-in idc_index_data package

    @property
    def index_dir(self) -> Path:
        """The stand-in package folder (what ``idcseg.local.store.index_dir()`` returns)."""
        return self.index_root / "idc_index_data"

    @property
    def endpoint(self) -> str:
        """Where clients go: the fault proxy."""
        return self.proxy.endpoint

    def targets(self, *names: str) -> list[tuple[str, str, str]]:
        """Targets of the named series."""
        return [self.series[n].target for n in names]

    def stop(self) -> None:
        """Stop the proxy and the S3 server."""
        self.proxy.stop()
        self.s3.stop()


# the SEG series of the index (collection fetch_test); "ct" is IDC's oddity: Modality SEG, CT
# images; "bad" and "faulty" are only given as targets
INDEXED = ("multi", "labelmap", "legacy", "frac")
# SR series in the index, in the "multi" SEG's study (SR_ANALYSIS: their analysis_result_id)
REPORTS = ("multi_sr", "other_template_sr", "foreign_sr")
SR_ANALYSIS = {"foreign_sr": "someone_elses_analysis"}


def build(folder: Path) -> World:
    """Make the SEGs, start the servers, upload, and write the stand-in index."""
    ct = segfactory.make_ct_series(folder / "ct", n_slices=40, size=512)
    cases = {case.name: case for case in segfactory.CASES}
    made = folder / "made"
    first = {
        name: segfactory.make_seg(cases[case], ct, made / f"{name}.dcm")
        for name, case in (
            ("multi", "binary_multi"),
            ("labelmap", "labelmap"),
            ("legacy", "legacy_srt"),
            ("frac", "fractional"),
            ("minimal", "minimal"),
        )
    }
    s3 = LocalS3()
    s3.public_bucket(BUCKET)
    proxy = FaultProxy((s3.host, s3.port))
    series: dict[str, Series] = {}

    def add(name: str, files: list[Path], uid: str | None = None) -> Series:
        one = Series(
            name,
            uid or str(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID),
            str(uuid.uuid4()),
        )
        for path in files:
            key = f"{one.uuid}/{uuid.uuid4()}.dcm"
            s3.put(BUCKET, key, path)
            one.files.append(path)
            one.keys.append(key)
        series[name] = one
        return one

    def clones(src: Path, name: str, n: int) -> list[Path]:
        uid = generate_uid()
        return [
            segfactory.clone_seg(src, folder / name / f"{i}.dcm", series_instance_uid=uid)
            for i in range(n)
        ]

    add("multi", clones(first["multi"], "multi", 2))
    for name in ("labelmap", "legacy", "frac"):
        add(name, [first[name]])
    add("ct", sorted((folder / "ct").glob("*.dcm"))[:3])
    # a series holding a good SEG, an object that is not DICOM, and a SEG cut inside its header
    bad = folder / "bad"
    bad.mkdir()
    good = clones(first["minimal"], "bad-good", 1)[0]
    (bad / "notdicom.dcm").write_bytes(b"this is not a DICOM file\n" * 400)
    (bad / "cut.dcm").write_bytes(good.read_bytes()[:3000])
    bad_uid = str(pydicom.dcmread(good, stop_before_pixels=True).SeriesInstanceUID)
    add("bad", [good, bad / "notdicom.dcm", bad / "cut.dcm"], uid=bad_uid)
    add("faulty", clones(first["legacy"], "faulty", 5))
    _add_reports(folder / "sr", series["multi"].files[0], add)
    root = folder / "index"
    _write_index(root / "idc_index_data", series)
    return World(s3, proxy, series, root)


def _add_reports(folder: Path, seg_file: Path, add) -> None:  # noqa: ANN001
    """The SR series beside the "multi" SEG (see the module docstring)."""
    from tests import srfactory
    from tests.srfactory import ML, MM3, VOLUME, VOLUME_SCT, Group

    seg = pydicom.dcmread(seg_file, stop_before_pixels=True)
    report = srfactory.make_report(
        folder / "multi_sr.dcm",
        seg,
        [
            Group(1, measurements=[(VOLUME, 1523.5, MM3)],
                  evaluations=[(srfactory.MALIGNANCY, srfactory.MALIGNANCY_SCORES[3])]),
            Group(2, measurements=[(VOLUME_SCT, 0.15, ML)], tracking_id="Kidney L",
                  tracking_uid=generate_uid()),
        ],
    )  # fmt: skip
    add("multi_sr", [report])

    def other_template(ds: pydicom.Dataset) -> None:
        ds.SeriesInstanceUID = generate_uid()
        ds.ContentTemplateSequence[0].TemplateIdentifier = "2000"

    add("other_template_sr", [srfactory.edited(report, folder / "other.dcm", other_template)])

    def foreign(ds: pydicom.Dataset) -> None:
        ds.SeriesInstanceUID = generate_uid()

    add("foreign_sr", [srfactory.edited(report, folder / "foreign.dcm", foreign)])


def _write_index(
    package: Path, series: dict[str, Series], names: tuple[str, ...] = (*INDEXED, "ct", *REPORTS)
) -> None:
    """A stand-in idc_index_data package: IDC's real schema, rows for the test series *names*
    (collection ``fetch_test``)."""
    from idcseg.local.store import index_dir

    real = index_dir()  # the installed wheel's folder
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from pathlib import Path\n"
        "IDC_INDEX_PARQUET_FILEPATH = Path(__file__).parent / 'idc_index.parquet'\n"
    )
    for name in ("collections_index.parquet", "analysis_results_index.parquet"):
        shutil.copy(real / name, package / name)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE idx AS SELECT * FROM read_parquet($p) LIMIT 0",
        {"p": str(real / "idc_index.parquet")},
    )
    for name in names:
        one = series[name]
        ds = pydicom.dcmread(one.files[0] if one.files else one.header, stop_before_pixels=True)
        con.execute(
            "INSERT INTO idx BY NAME SELECT $collection AS collection_id, $patient AS PatientID, "
            "$series AS SeriesInstanceUID, $study AS StudyInstanceUID, $modality AS Modality, "
            "$sop AS SOPClassUID, $description AS SeriesDescription, $count AS instanceCount, "
            "$size AS series_size_MB, 'CC BY 4.0' AS license_short_name, $bucket AS aws_bucket, "
            "$uuid AS crdc_series_uuid, $url AS series_aws_url, $analysis AS analysis_result_id",
            {
                "collection": COLLECTION,
                "modality": "SR" if name in REPORTS else "SEG",
                "analysis": SR_ANALYSIS.get(name),
                "patient": str(ds.PatientID),
                "series": one.uid,
                "study": str(ds.StudyInstanceUID),
                "sop": str(ds.SOPClassUID),
                "description": f"fetch test {name}",
                "count": len(one.files),
                "size": sum(p.stat().st_size for p in one.files) / 1e6 if one.files else 0.0,
                "bucket": BUCKET,
                "uuid": one.uuid,
                "url": f"s3://{BUCKET}/{one.uuid}/*",
            },
        )
    con.execute("COPY idx TO $p (FORMAT parquet)", {"p": str(package / "idc_index.parquet")})
    con.close()
