"""The world ``idcseg download`` tests run in: real IDC series, stand-in files, a local S3.

Series are chosen from the installed idc-index-data wheel (IDC v25): the CT study of
LIDC-IDRI-0001 with its four SEG series, and the CT study of LIDC-IDRI-0002. Their objects are
uploaded to bucket ``idc-open-data`` of a moto server on 127.0.0.1 under the series' real
``crdc_series_uuid`` prefixes, in IDC's key layout ``<crdc_series_uuid>/<uuid>.dcm`` — but the
files are small ones made here: a few CT slices (pydicom) with the real patient, study and
series UIDs, and highdicom SEGs of them with the real SEG SeriesInstanceUIDs, so idcseg's
embedded engine finds them exactly as it finds IDC's. The SEGs differ in how they name what they
segment:

- ``seg_series`` (a BINARY SEG): ReferencedSeriesSequence → the CT series;
- ``seg_labelmap`` (a LABELMAP SEG): the same;
- ``seg_instance``: only SourceImageSequence (instances), as some old writers did;
- ``seg_none``: no reference at all (cannot be resolved).

``blobs`` is the CT series of LIDC-IDRI-0002 holding eight 100 kB objects that are not DICOM
(named after their objects, then), for the full-disk test. A fault proxy sits in front.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pydicom

from tests import segfactory
from tests.s3server import FaultProxy, LocalS3

BUCKET = "idc-open-data"
CT_SLICES = 5


@dataclass
class Series:
    """One real IDC series and the objects the test bucket holds for it."""

    name: str
    uid: str
    uuid: str
    study: str
    patient: str
    modality: str
    keys: list[str] = field(default_factory=list)
    data: dict[str, bytes] = field(default_factory=dict)  # key -> bytes
    sop: dict[str, str] = field(default_factory=dict)  # key -> SOPInstanceUID (DICOM only)

    @property
    def folder(self) -> str:
        """The default layout's folder of this series."""
        return f"lidc_idri/{self.patient}/{self.study}/{self.modality}_{self.uid}"


@dataclass
class World:
    """Servers and series."""

    s3: LocalS3
    proxy: FaultProxy
    series: dict[str, Series]

    @property
    def endpoint(self) -> str:
        """Where clients go: the fault proxy."""
        return self.proxy.endpoint

    def put(self, series: Series, key: str, data: bytes) -> None:
        """Store (or replace) one object."""
        self.s3.put(BUCKET, key, data)
        series.data[key] = data

    def stop(self) -> None:
        """Stop the proxy and the server."""
        self.proxy.stop()
        self.s3.stop()


def _index_rows(patient: str) -> list[tuple[str, str, str, str]]:
    """(SeriesInstanceUID, crdc_series_uuid, StudyInstanceUID, Modality) of a patient's CT and
    SEG series in the wheel's index, SEGs in UID order."""
    import idc_index_data

    con = duckdb.connect()
    try:
        return con.execute(
            "SELECT SeriesInstanceUID, crdc_series_uuid, StudyInstanceUID, Modality "
            "FROM read_parquet($p) WHERE PatientID = $patient AND Modality IN ('CT', 'SEG') "
            "ORDER BY Modality, SeriesInstanceUID",
            {"p": str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH), "patient": patient},
        ).fetchall()
    finally:
        con.close()


def build(folder: Path) -> World:
    """Make the files, start the servers, upload."""
    s3 = LocalS3()
    s3.public_bucket(BUCKET)
    proxy = FaultProxy((s3.host, s3.port))
    world = World(s3, proxy, {})

    rows = _index_rows("LIDC-IDRI-0001")
    ct_row = next(r for r in rows if r[3] == "CT")
    seg_rows = [r for r in rows if r[3] == "SEG" and r[2] == ct_row[2]]
    assert len(seg_rows) >= 4, seg_rows

    def series(name: str, row: tuple[str, str, str, str], patient: str) -> Series:
        one = Series(name, row[0], row[1], row[2], patient, row[3])
        world.series[name] = one
        return one

    ct = series("ct", ct_row, "LIDC-IDRI-0001")
    slices = segfactory.make_ct_series(folder / "ct", n_slices=CT_SLICES)
    for ds in slices:
        ds.PatientID = ct.patient
        ds.StudyInstanceUID = ct.study
        ds.SeriesInstanceUID = ct.uid
        path = folder / "ct" / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        key = f"{ct.uuid}/{uuid.uuid4()}.dcm"
        world.put(ct, key, path.read_bytes())
        ct.keys.append(key)
        ct.sop[key] = str(ds.SOPInstanceUID)
    cases = {case.name: case for case in segfactory.CASES}
    for name, case, row in (
        ("seg_series", "binary_multi", seg_rows[0]),
        ("seg_labelmap", "labelmap", seg_rows[1]),
        ("seg_instance", "legacy_srt", seg_rows[2]),
        ("seg_none", "minimal", seg_rows[3]),
    ):
        seg = series(name, row, "LIDC-IDRI-0001")
        path = segfactory.make_seg(
            cases[case], slices, folder / f"{name}.dcm", series_instance_uid=seg.uid
        )
        data = path.read_bytes()
        key = f"{seg.uuid}/{uuid.uuid4()}.dcm"
        world.put(seg, key, data)
        seg.keys.append(key)
        seg.sop[key] = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)

    other = _index_rows("LIDC-IDRI-0002")
    blobs = series("blobs", next(r for r in other if r[3] == "CT"), "LIDC-IDRI-0002")
    for i in range(8):
        key = f"{blobs.uuid}/{uuid.uuid4()}.dcm"
        world.put(blobs, key, os.urandom(100_000) + bytes([i]))
        blobs.keys.append(key)
    return world
