"""What a new user types: TCIA's collection names, misspelled names and filters, and the Python
API answering as the command line does."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

import idcseg
from idcseg.query.spec import TEMPLATES, SeriesFilter, idc_name, series_query

SEG = "SOPClassUID IN ('1.2.840.10008.5.1.4.1.1.66.4', '1.2.840.10008.5.1.4.1.1.66.7')"


@pytest.mark.parametrize(
    ("spelling", "collection"),
    [("LIDC-IDRI", "lidc_idri"), ("lidc_idri", "lidc_idri"), ("QIN LUNG CT", "qin_lung_ct"),
     ("Prostate-MRI-US-Biopsy", "prostate_mri_us_biopsy")],
)  # fmt: skip
def test_tcia_spellings_of_a_collection(index_db: Any, spelling: str, collection: str) -> None:
    (want,) = index_db.execute(
        f"SELECT COUNT(*) FROM idx WHERE {SEG} AND collection_id = $c", {"c": collection}
    ).fetchone()
    assert want > 0
    got = idcseg.summary(collection=spelling)
    assert got.collection_id.tolist() == [collection] and got.series_count.tolist() == [want]


def test_names_travel_as_parameters() -> None:
    sql, params = idcseg.sql(
        "series", collection="LIDC-IDRI", analysis_result="DICOM-LIDC-IDRI-Nodules"
    )
    assert "lidc" not in sql.lower()
    assert params["collection"] == ["lidc-idri", "lidc_idri"]
    assert params["analysis_result"] == ["dicom-lidc-idri-nodules", "dicom_lidc_idri_nodules"]
    assert idc_name("  TCGA--BRCA ") == "tcga_brca"
    hostile = "x'; DROP TABLE t; --"
    assert series_query(SeriesFilter.build(collection=hostile)).params["collection"] == [
        hostile.lower(), "x_drop_table_t"
    ]  # fmt: skip


def test_an_unknown_collection_suggests_close_names(cli: Any) -> None:
    with pytest.raises(idcseg.UsageError, match=r"no collection 'lidc' in this IDC release "
                       r"\(did you mean 'lidc_idri'\?\)"):  # fmt: skip
        idcseg.series(collection="lidc")
    run = cli("series", "--analysis-result", "dicom_lidc_nodules", "-f", "csv")
    assert run.code == 2
    assert run.err == (
        "idcseg: error: no analysis result 'dicom_lidc_nodules' in this IDC release (did you "
        "mean 'dicom_lidc_idri_nodules'?); `idcseg summary --by analysis_result` lists them "
        "(--analysis-result takes any case, and TCIA's spelling: LIDC-IDRI = lidc_idri)\n"
    )
    url = cli("random", "--collection", "nlts", "--seed", "1")
    assert url.code == 2 and "did you mean 'nlst'?" in url.err


def test_a_known_collection_that_matches_nothing_is_no_error(cli: Any) -> None:
    assert idcseg.series(collection="lidc_idri", sop_class="labelmap").empty
    run = cli("series", "--collection", "lidc_idri", "--sop-class", "labelmap", "-f", "csv")
    assert run.code == 0 and len(run.out.splitlines()) == 1 and run.err == ""


# --- the Python API as the command line ----------------------------------------------------------


def test_viewer_urls_of_an_unknown_study_is_an_error_as_on_the_cli(index_db: Any, cli: Any) -> None:
    with pytest.raises(idcseg.IdcsegError, match="study 1.2.3 is not in the IDC index"):
        idcseg.viewer_urls("1.2.3")
    assert cli("url", "1.2.3").err == "idcseg: error: study 1.2.3 is not in the IDC index\n"
    study, other = index_db.execute(
        f"SELECT MIN(StudyInstanceUID), MAX(StudyInstanceUID) FROM idx WHERE {SEG} "
        "AND collection_id = 'lidc_idri'"
    ).fetchone()
    (series,) = index_db.execute(
        "SELECT MIN(SeriesInstanceUID) FROM idx WHERE StudyInstanceUID = $s", {"s": other}
    ).fetchone()
    with pytest.raises(idcseg.IdcsegError, match=f"series {series} is not in study {study}"):
        idcseg.viewer_urls(study, series)


def test_sql_knows_every_template_the_cli_knows(cli: Any) -> None:
    for name in TEMPLATES:
        options = (
            {"study": "1.2.3", "series": "1.2.4"} if name not in ("find", "facets", "sync") else {}
        )
        text, params = idcseg.sql(name, **options)
        run = cli(
            "sql", name, *(a for k, v in options.items() for a in (f"--{k}", v)), "-f", "json"
        )
        assert run.code == 0, run.err
        assert json.loads(run.out)["sql"] == text, name
        assert {p["name"]: p["value"] for p in json.loads(run.out)["parameters"]} == params
    sql, params = idcseg.sql("find", structure="Nodule", modifier="Left", collection="LIDC-IDRI")
    assert params["modifier_meanings"] == ["left"] and "@collection" in sql
    with pytest.raises(idcseg.UsageError, match=r"no template 'serie' \(did you mean 'series' or"):
        idcseg.sql("serie")


def test_a_misspelled_filter_names_the_filters_and_the_closest() -> None:
    with pytest.raises(idcseg.UsageError) as e:
        idcseg.series(colection="lidc_idri")
    assert str(e.value).startswith("unknown filter 'colection' (did you mean 'collection'?); "
                                   "the filters are: collection, analysis_result, patient")  # fmt: skip
    assert "got an unexpected keyword" not in str(e.value)
    with pytest.raises(
        idcseg.UsageError, match=r"unknown filter 'modifer' \(did you mean 'modifier'\?\)"
    ):
        idcseg.find(modifer="Left")
    with pytest.raises(idcseg.UsageError, match="unknown filter 'modifier'"):
        idcseg.series(modifier="Left")  # a segment filter: not for series


def test_describe_gives_the_clis_table_with_nullable_dtypes(corpus: Any, cli: Any) -> None:
    path = corpus.segs["binary_multi"]
    frame = idcseg.describe(path)
    shown = json.loads(cli("describe", str(path), "-f", "json").out)
    assert list(frame.columns) == list(shown[0])
    assert str(frame.SegmentNumber.dtype) == "Int64"
    assert all(str(frame[c].dtype) == "string" for c in frame.columns if c != "SegmentNumber")
    as_records = [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict("records")
    ]
    assert as_records == shown
    assert not any(isinstance(v, dict) for row in as_records for v in row.values())
