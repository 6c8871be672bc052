"""Series-level questions on the real IDC v25 index, cross-checked with independent SQL."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

import idcseg
from idcseg.query.engines.duckdb import DuckDBEngine
from idcseg.query.spec import SeriesFilter, random_query, series_query

SEG = "SOPClassUID IN ('1.2.840.10008.5.1.4.1.1.66.4', '1.2.840.10008.5.1.4.1.1.66.7')"


def test_index_is_idc_v25(index_db) -> None:  # noqa: ANN001
    (count,) = index_db.execute(f"SELECT COUNT(*) FROM idx WHERE {SEG}").fetchone()
    assert count == 193283  # 193,154 Segmentation Storage + 129 Label Map (12 'SEG' are CT)
    assert DuckDBEngine().release == "idc_v25"


@pytest.mark.parametrize(
    ("filters", "where"),
    [
        ({}, "TRUE"),
        (
            {"analysis_result": "DICOM_LIDC_IDRI_NODULES"},
            "analysis_result_id = 'dicom_lidc_idri_nodules'",
        ),
        (
            {"collection": ["lidc_idri", "QIN_LUNG_CT"]},
            "collection_id IN ('lidc_idri', 'qin_lung_ct')",
        ),
        ({"sop_class": "labelmap"}, "SOPClassUID = '1.2.840.10008.5.1.4.1.1.66.7'"),
        (
            {"sop_class": "binary", "collection": "nlst", "description": "LUNG"},
            "SOPClassUID = '1.2.840.10008.5.1.4.1.1.66.4' AND collection_id = 'nlst' "
            "AND lower(SeriesDescription) LIKE '%lung%'",
        ),
        (
            {"body_part": "chest", "collection": "lidc_idri"},
            "upper(BodyPartExamined) = 'CHEST' AND collection_id = 'lidc_idri'",
        ),
        ({"patient": "LIDC-IDRI-0001"}, "PatientID = 'LIDC-IDRI-0001'"),
    ],
)
def test_series_match_an_independent_query(index_db, filters: dict, where: str) -> None:  # noqa: ANN001
    expected = {
        r[0]
        for r in index_db.execute(
            f"SELECT SeriesInstanceUID FROM idx WHERE {SEG} AND {where}"
        ).fetchall()
    }
    frame = idcseg.series(**filters)
    assert set(frame["SeriesInstanceUID"]) == expected
    assert frame["SeriesInstanceUID"].is_unique


def test_series_columns_and_values(index_db) -> None:  # noqa: ANN001
    frame = idcseg.series(analysis_result="dicom_lidc_idri_nodules", limit=5)
    assert list(frame.columns) == [
        "collection_id",
        "analysis_result_id",
        "PatientID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPClassUID",
        "SeriesDescription",
        "BodyPartExamined",
        "SegmentationType",
        "total_segments",
        "AlgorithmType",
        "AlgorithmName",
        "segmented_SeriesInstanceUID",
        "segmented_Modality",
        "instanceCount",
        "series_size_MB",
        "license_short_name",
        "source_DOI",
        "source",
        "viewer_url",
    ]
    assert len(frame) == 5
    assert set(frame.source) == {"idc"}
    row = frame.iloc[0]
    ref = index_db.execute(
        "SELECT instanceCount, series_size_MB, license_short_name, source_DOI, StudyInstanceUID "
        "FROM idx WHERE SeriesInstanceUID = ?",
        [row.SeriesInstanceUID],
    ).fetchone()
    assert (row.instanceCount, row.series_size_MB, row.license_short_name, row.source_DOI) == ref[
        :4
    ]
    assert row.viewer_url == (
        "https://viewer.imaging.datacommons.cancer.gov/v3/viewer/?StudyInstanceUIDs="
        f"{ref[4]}&initialSeriesInstanceUID={row.SeriesInstanceUID}"
    )
    # sorted, so limits are stable
    keys = list(
        zip(
            frame.collection_id,
            frame.PatientID,
            frame.StudyInstanceUID,
            frame.SeriesInstanceUID,
            strict=True,
        )
    )
    assert keys == sorted(keys)


def test_slide_microscopy_segs_link_to_slim(index_db) -> None:  # noqa: ANN001
    frame = idcseg.series(analysis_result="tcga_sbu_til_maps", limit=3)
    assert len(frame) == 3
    for row in frame.itertuples():
        assert row.viewer_url == (
            "https://viewer.imaging.datacommons.cancer.gov/slim/studies/"
            f"{row.StudyInstanceUID}/series/{row.SeriesInstanceUID}"
        )


def test_summary_counts_match(index_db) -> None:  # noqa: ANN001
    expected = index_db.execute(
        f"SELECT collection_id, COUNT(*), COUNT(DISTINCT StudyInstanceUID), "
        f"COUNT(DISTINCT PatientID) FROM idx WHERE {SEG} GROUP BY 1"
    ).fetchall()
    frame = idcseg.summary()
    got = {
        (r.collection_id, r.series_count, r.study_count, r.patient_count)
        for r in frame.itertuples()
    }
    assert got == set(expected)
    assert list(frame.series_count) == sorted(frame.series_count, reverse=True)
    by_result = idcseg.summary(by="analysis_result", collection="nlst")
    assert by_result.series_count.sum() == sum(r[1] for r in expected if r[0] == "nlst")


def test_random_is_seeded_distinct_and_matches_md5_order(index_db) -> None:  # noqa: ANN001
    studies = [
        r[0]
        for r in index_db.execute(
            f"SELECT DISTINCT StudyInstanceUID FROM idx WHERE {SEG} AND collection_id = 'lidc_idri'"
        ).fetchall()
    ]
    expected = sorted(studies, key=lambda s: (hashlib.md5(f"42{s}".encode()).hexdigest(), s))[:4]
    frame = idcseg.random_studies(n=4, seed=42, collection="lidc_idri")
    assert list(frame.StudyInstanceUID) == expected
    other = idcseg.random_studies(n=4, seed=43, collection="lidc_idri")
    assert list(other.StudyInstanceUID) != expected
    assert frame.StudyInstanceUID.is_unique


def test_injection_values_match_nothing() -> None:
    engine = DuckDBEngine()
    for hostile in ["x'; DROP TABLE t; --", "lidc_idri' OR '1'='1", "`", "ü" * 5000, ";"]:
        f = SeriesFilter.build(collection=hostile, description=hostile)
        assert engine.run(series_query(f)).rows() == []
        assert engine.run(random_query(SeriesFilter.build(patient=hostile), n=2)).rows() == []
    # and the index is still there
    assert engine.run(series_query(SeriesFilter.build(collection="lidc_idri"), 1)).rows()


@pytest.mark.parametrize(
    "bad", [{"study": "1.2.x"}, {"series": "1.2'"}, {"sop_class": "rt"}, {"study": "1." * 40}]
)
def test_bad_filters_are_refused(bad: dict) -> None:
    with pytest.raises(idcseg.UsageError):
        idcseg.series(**bad)


def test_viewer_urls_for_study_and_series(index_db) -> None:  # noqa: ANN001
    study, seg = index_db.execute(
        f"SELECT StudyInstanceUID, SeriesInstanceUID FROM idx WHERE {SEG} "
        "AND collection_id = 'lidc_idri' ORDER BY 1, 2 LIMIT 1"
    ).fetchone()
    base = "https://viewer.imaging.datacommons.cancer.gov"
    study_row = idcseg.viewer_urls(study).iloc[0]
    assert study_row.ohif_v3_url == f"{base}/v3/viewer/?StudyInstanceUIDs={study}"
    assert study_row.ohif_v2_url == f"{base}/viewer/{study}"
    assert study_row.viewer == "ohif_v3" and study_row.viewer_url == study_row.ohif_v3_url
    row = idcseg.viewer_urls(study, [seg]).iloc[0]
    assert (
        row.ohif_v3_url
        == f"{base}/v3/viewer/?StudyInstanceUIDs={study}&initialSeriesInstanceUID={seg}"
    )
    assert row.ohif_v2_url == f"{base}/viewer/{study}?SeriesInstanceUID={seg}"
    assert row.Modality == "SEG" and bool(row.in_study)
    assert pd.isna(row.slim_url)
    # a SEG over its source: OHIF v3 as IDC links it since v24; the v2 form needs the source
    assert row.seg_viewer_url == row.ohif_v3_url
    assert pd.isna(row.segmented_SeriesInstanceUID) and pd.isna(row.seg_ohif_v2_url)
    (image,) = index_db.execute(
        "SELECT SeriesInstanceUID FROM idx WHERE StudyInstanceUID = ? AND Modality = 'CT'", [study]
    ).fetchone()
    assert pd.isna(idcseg.viewer_urls(study, [image]).iloc[0].seg_viewer_url)  # not a SEG


def test_viewer_urls_pick_slim_for_slide_microscopy(index_db) -> None:  # noqa: ANN001
    study, series = index_db.execute(
        "SELECT StudyInstanceUID, SeriesInstanceUID FROM idx WHERE Modality = 'SM' ORDER BY 1 LIMIT 1"
    ).fetchone()
    row = idcseg.viewer_urls(study, [series]).iloc[0]
    slim = f"https://viewer.imaging.datacommons.cancer.gov/slim/studies/{study}/series/{series}"
    assert row.viewer == "slim" and row.viewer_url == slim and row.slim_url == slim
