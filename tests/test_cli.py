"""The command line as a user meets it: outputs, formats and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

LIDC = ["--analysis-result", "dicom_lidc_idri_nodules"]


def test_series_table_on_a_terminal(cli) -> None:  # noqa: ANN001
    run = cli("series", *LIDC, "--limit", "3")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].split()[:3] == ["collection_id", "analysis_result_id", "PatientID"]
    assert len(lines) == 2 + 3 + 1 and lines[-1] == "(3 rows)"
    assert "https://viewer.imaging.datacommons.cancer.gov/v3/viewer/?StudyInstanceUIDs=" in lines[2]


def test_a_long_table_on_a_terminal_is_a_preview(cli, index_db) -> None:  # noqa: ANN001
    from idcseg.present.output import PREVIEW_ROWS
    from tests.conftest import SEG_SOP_CLASSES, run_cli_on_a_terminal

    (total,) = index_db.execute(
        "SELECT COUNT(*) FROM idx WHERE SOPClassUID IN $c", {"c": list(SEG_SOP_CLASSES)}
    ).fetchone()
    run = run_cli_on_a_terminal("series")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert len(lines) == 2 + PREVIEW_ROWS + 2
    assert lines[-2].startswith(f"(showing {PREVIEW_ROWS} of {total:,} rows")
    assert lines[-1].startswith("(all rows: --output FILE")
    piped = cli("series", "--format", "csv")  # not a terminal: every row
    assert len(piped.out.splitlines()) == 1 + total
    asked = run_cli_on_a_terminal("series", "--limit", str(PREVIEW_ROWS + 5))
    assert len(asked.out.splitlines()) == 2 + PREVIEW_ROWS + 5 + 2  # --limit N shows N rows
    assert asked.out.splitlines()[-2].startswith(f"(showing {PREVIEW_ROWS + 5} rows and ")


def test_json_and_jsonl_are_valid_with_uids_as_strings(cli, index_db) -> None:  # noqa: ANN001
    run = cli("series", *LIDC, "--limit", "5", "--format", "json")
    records = json.loads(run.out)
    assert len(records) == 5
    for record in records:
        assert isinstance(record["SeriesInstanceUID"], str)
        assert isinstance(record["StudyInstanceUID"], str)
        assert isinstance(record["instanceCount"], int)
    lines = cli("series", *LIDC, "--limit", "5", "--format", "jsonl").out.splitlines()
    assert [json.loads(line) for line in lines] == records


def test_csv_and_parquet_files(cli, tmp_path: Path) -> None:  # noqa: ANN001
    out_csv, out_pq = tmp_path / "s.csv", tmp_path / "s.parquet"
    assert (
        cli("series", "-c", "lidc_idri", "--limit", "7", "-f", "csv", "-o", str(out_csv)).code == 0
    )
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(rows) == 7 and rows[0]["collection_id"] == "lidc_idri"
    assert (
        cli("series", "-c", "lidc_idri", "--limit", "7", "-f", "parquet", "-o", str(out_pq)).code
        == 0
    )
    table = pq.read_table(out_pq)
    assert table.num_rows == 7
    assert table.column("SeriesInstanceUID").to_pylist() == [r["SeriesInstanceUID"] for r in rows]
    assert not list(tmp_path.glob(".*tmp"))


def test_random_prints_reproducible_viewer_links(cli) -> None:  # noqa: ANN001
    first = cli("random", "-n", "3", "--seed", "7", "-c", "lidc_idri")
    again = cli("random", "-n", "3", "--seed", "7", "-c", "lidc_idri")
    assert first.code == 0 and first.out == again.out
    links = first.out.splitlines()
    assert len(links) == len(set(links)) == 3
    assert all(
        u.startswith("https://viewer.imaging.datacommons.cancer.gov/v3/viewer/?StudyInstanceUIDs=")
        for u in links
    )
    unseeded = cli("random", "-c", "lidc_idri")
    assert unseeded.code == 0 and "--seed" in unseeded.err


def test_summary_and_info(cli) -> None:  # noqa: ANN001
    run = cli("summary", "--by", "analysis_result", "--limit", "2", "-f", "json")
    top = json.loads(run.out)
    assert top[0]["analysis_result_id"] == "totalsegmentator_ct_segmentations"
    info = json.loads(cli("info", "-f", "json").out)
    assert info["idc_release"] == "idc_v25" and info["seg_series"] == 193283
    assert info["store"].startswith(os.environ["IDCSEG_HOME"])


def test_url_command(cli, index_db) -> None:  # noqa: ANN001
    study, seg = index_db.execute(
        "SELECT StudyInstanceUID, SeriesInstanceUID FROM idx WHERE collection_id = 'lidc_idri' "
        "AND Modality = 'SEG' ORDER BY 1, 2 LIMIT 1"
    ).fetchone()
    base = "https://viewer.imaging.datacommons.cancer.gov"
    assert cli("url", study).out == f"{base}/v3/viewer/?StudyInstanceUIDs={study}\n"
    assert (
        cli("url", study, seg, "--viewer", "ohif_v2").out
        == f"{base}/viewer/{study}?SeriesInstanceUID={seg}\n"
    )
    table = cli("url", study, seg, "-f", "json")
    assert json.loads(table.out)[0]["ohif_v3_url"].endswith(f"&initialSeriesInstanceUID={seg}")
    seg_link = cli("url", study, seg, "--viewer", "seg")
    assert (
        seg_link.out
        == f"{base}/v3/viewer/?StudyInstanceUIDs={study}&initialSeriesInstanceUID={seg}\n"
    )
    unknown_source = cli("url", study, seg, "--viewer", "seg_v2")
    assert unknown_source.code == 1 and "segmented series is known" in unknown_source.err


def test_sql_prints_bigquery_sql_with_parameters(cli) -> None:  # noqa: ANN001
    run = cli("sql", "series", "--collection", "lidc_idri", "--limit", "10", "--idc-version", "25")
    assert run.code == 0
    assert "`bigquery-public-data.idc_v25.dicom_all`" in run.out
    assert "LOWER(collection_id) IN UNNEST(@collection)" in run.out
    assert '--   @collection ARRAY<STRING> = ["lidc_idri"]' in run.out
    assert "--   @limit INT64 = 10" in run.out
    v20 = cli("sql", "find", "--idc-version", "20").out  # v13–v23: ARRAY<STRING> names
    assert "seg.SegmentAlgorithmName[SAFE_OFFSET(0)] AS SegmentAlgorithmName" in v20
    payload = json.loads(cli("sql", "summary", "-f", "json").out)
    assert (
        payload["sql"].startswith("-- summary.sql")
        and payload["parameters"][0]["name"] == "sop_class_uids"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["series", "--limit", "-1"], "--limit must be a whole number"),
        (["series", "--limit", "many"], "Invalid value for '--limit'"),
        (["series", "--sop-class", "rtstruct"], "unknown --sop-class"),
        (["series", "--study", "1.2.3'; DROP TABLE x"], "not a DICOM StudyInstanceUID"),
        (["series", "--format", "xml"], "unknown --format"),
        (["series", "--idc-version", "25; DROP"], "not an IDC release"),
        (["series", "--engine", "sqlite"], "unknown engine"),
        (["series", "-o", "/nonexistent-dir/x.csv"], "does not exist"),
        (["series", "--format", "parquet"], "needs --output"),
        (["url", "1.2.3.4"], "not in the IDC index"),
        (["url", "1.2.x"], "not a DICOM StudyInstanceUID"),
        (["random", "-n", "0"], "-n must be"),
        (["summary", "--by", "modality"], "unknown --by"),
        (["sql", "nosuch"], "no template"),
        (["series", "--bogus"], "No such option"),
        (["series", "--series", ""], "empty filter value"),
        (["series", "--description", "  "], "empty --description"),
        (["series", "--source", "elsewhere"], "unknown --source"),
        (["find", "--viewer", "ohif_v4"], "unknown --viewer"),
        (["url", "1.2.3", "--viewer", "seg_v3"], "unknown --viewer"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(cli, args: list[str], message: str) -> None:  # noqa: ANN001
    run = cli(*args)
    assert run.code != 0
    assert "Traceback" not in run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("idcseg: error: ") and message in lines[0], (
        run.err
    )


def test_unwritable_output_is_refused_and_existing_file_kept(cli, tmp_path: Path) -> None:  # noqa: ANN001
    # /proc takes no new files, even for root: the temporary file cannot be made
    run = cli("series", "--limit", "1", "-f", "csv", "-o", "/proc/idcseg-test.csv")
    assert run.code == 2 and run.err.startswith("idcseg: error: cannot write /proc/idcseg-test.csv")
    # a run that fails leaves an existing output untouched, and leaves no temporary file
    target = tmp_path / "keep.csv"
    target.write_text("precious\n")
    bad = cli("series", "--study", "not-a-uid", "-f", "csv", "-o", str(target))
    assert bad.code == 2 and target.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]


def test_output_through_a_symlink_writes_its_target(cli, tmp_path: Path) -> None:  # noqa: ANN001
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert cli("series", "-c", "lidc_idri", "--limit", "1", "-f", "csv", "-o", str(link)).code == 0
    assert link.is_symlink() and target.read_text().startswith("collection_id,")


def test_sql_values_in_filters_match_nothing(cli) -> None:  # noqa: ANN001
    run = cli("series", "--collection", "lidc_idri' OR 1=1; --", "-f", "json")
    assert json.loads(run.out) == []  # matched nothing; and there is no such collection:
    assert run.code == 2 and 'no collection "lidc_idri\' or 1=1; --"' in run.err
    assert "(did you mean 'lidc_idri'?)" in run.err
    run = cli("series", "--description", "x' OR 1=1; --", "-f", "json")
    assert run.code == 0 and json.loads(run.out) == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_unknown_collection_leaves_an_existing_output_as_it_was(
    cli, tmp_path: Path, fmt: str
) -> None:  # noqa: ANN001
    kept = tmp_path / f"kept.{fmt}"
    kept.write_bytes(b"yesterday's answer\n")
    run = cli("series", "-c", "lidc-idr", "-f", fmt, "-o", str(kept))
    assert run.code == 2 and "(did you mean 'lidc_idri'?)" in run.err
    assert kept.read_bytes() == b"yesterday's answer\n"
    assert [p.name for p in tmp_path.iterdir()] == [kept.name]


def test_version(cli) -> None:  # noqa: ANN001
    from idcseg import __version__
    from idcseg.local.store import index_version

    run = cli("--version")
    assert (
        run.code == 0
        and run.out == f"idcseg {__version__} (IDC index: idc-index-data {index_version()})\n"
    )


def test_help_teaches(cli) -> None:  # noqa: ANN001
    run = cli("series", "--help")
    assert run.code == 0 and "Examples:" in run.out and "--analysis-result" in run.out
    bare = cli()
    assert bare.code == 2 and "series" in bare.out and "Traceback" not in bare.err


def test_cli_does_not_import_pandas_or_bigquery(cli) -> None:  # noqa: ANN001
    code = (
        "import sys, runpy; sys.argv=['idcseg','series','--limit','1','-f','json'];"
        "\ntry: runpy.run_module('idcseg', run_name='__main__')"
        "\nexcept SystemExit: pass"
        "\nheavy=('pandas','google.cloud.bigquery','numpy','highdicom','nibabel','nrrd')"
        "\nbad=[m for m in heavy if m in sys.modules]"
        "\nprint('HEAVY', bad)"
    )
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ
    )
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_python_dash_m_and_console_script_agree(cli) -> None:  # noqa: ANN001
    import shutil
    import subprocess

    exe = shutil.which("idcseg")
    if exe is None:
        pytest.skip("console script not on PATH")
    a = subprocess.run(
        [exe, "summary", "--limit", "2", "-f", "csv"], capture_output=True, text=True
    )
    assert a.stdout == cli("summary", "--limit", "2", "-f", "csv").out


def test_sql_prints_every_template(cli) -> None:  # noqa: ANN001
    from idcseg.query.render import template_names

    for name in template_names():
        args = ["sql", name, "--study", "1.2.3", "--series", "1.2.4"]
        run = cli(*args)
        assert run.code == 0, (name, run.err)
        assert run.out.startswith(f"-- {name}.sql")


# --- a table on a terminal: readable columns, counts --------------------------------------


def test_a_wide_table_on_a_terminal_shows_readable_columns(cli) -> None:  # noqa: ANN001
    from tests.conftest import run_cli_on_a_terminal

    every = cli("series", *LIDC, "--limit", "5", "-f", "csv").out.splitlines()[0].split(",")
    assert len(every) >= 19  # files and other formats keep every column
    run = run_cli_on_a_terminal("series", *LIDC, "--limit", "5")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    header = lines[0].split()
    assert header[:2] == ["source", "collection_id"] or header[:2] == [
        "collection_id", "analysis_result_id"
    ]  # fmt: skip
    assert "PatientID" in header and header[-1] == "viewer_url"
    assert "StudyInstanceUID" not in header
    assert "SegmentationType" not in header  # empty in every row (no seg_index stored)
    assert lines[-2] == f"(showing 5 rows and {len(header)} of {len(every)} columns)"
    assert lines[-1] == "(every column: --wide; some: --columns A,B)"
    assert max(map(len, lines[:-2])) < 400  # was ~680 with every column
    wide = run_cli_on_a_terminal("series", *LIDC, "--limit", "5", "--wide")
    assert wide.out.splitlines()[0].split() == every and wide.out.endswith("(5 rows)\n")
    piped = cli("series", *LIDC, "--limit", "5")  # a table, not on a terminal: every column
    assert piped.out.splitlines()[0].split() == every


def test_a_table_that_fits_keeps_every_column(cli) -> None:  # noqa: ANN001
    from tests.conftest import run_cli_on_a_terminal

    every = cli("summary", "--limit", "3", "-f", "csv").out.splitlines()[0].split(",")
    run = run_cli_on_a_terminal("summary", "--limit", "3")
    assert run.out.splitlines()[0].split() == every
    assert {"collection_id", "series_count", "size_MB"} <= set(every)
    assert run.out.endswith("(3 rows)\n")


def test_columns_choose_columns_in_every_format(cli) -> None:  # noqa: ANN001
    from tests.conftest import run_cli_on_a_terminal

    want = ["PatientID", "SeriesInstanceUID"]
    run = cli(
        "series", *LIDC, "--limit", "2", "-f", "csv", "--columns", "PatientID,seriesinstanceuid"
    )
    assert run.code == 0, run.err
    assert run.out.splitlines()[0] == ",".join(want) and len(run.out.splitlines()) == 3
    js = json.loads(cli("series", *LIDC, "--limit", "2", "-f", "json", "--columns", "PatientID",
                        "--columns", "SeriesInstanceUID").out)  # fmt: skip
    assert [list(r) for r in js] == [want, want]
    term = run_cli_on_a_terminal("series", *LIDC, "--limit", "2", "--columns", "PatientID")
    assert term.out.splitlines()[0] == "PatientID" and term.out.endswith("(2 rows)\n")
    bad = cli("series", *LIDC, "--limit", "2", "--columns", "PatientId,viewr_url")
    assert bad.code == 2 and bad.out == ""
    assert bad.err.startswith("idcseg: error: no column 'viewr_url' in this result (did you mean "
                              "'viewer_url'?); its columns: collection_id,")  # fmt: skip
    both = cli("series", "--columns", "PatientID", "--wide")
    assert both.code == 2 and "give one of them" in both.err


def test_an_empty_store_says_how_to_get_segments(cli) -> None:  # noqa: ANN001
    for args in (["find", "--structure", "Nodule"], ["facets"]):
        run = cli(*args)
        assert run.code == 0 and run.out.endswith("(0 rows)\n"), run.err
        assert "holds no segments yet" in run.err
        for way in ("idcseg ingest", "idcseg fetch-segments", "idcseg sync"):
            assert way in run.err


def test_a_store_with_segments_does_not_say_it_is_empty(cli, tmp_path: Path) -> None:  # noqa: ANN001
    from idcseg.examples import write_example_segs

    write_example_segs(tmp_path / "segs")
    assert cli("ingest", str(tmp_path / "segs")).code == 0
    run = cli("find", "--structure", "no such structure")
    assert run.code == 0 and run.out.endswith("(0 rows)\n") and run.err == ""


def test_series_without_seg_index_says_once_why_columns_are_empty(cli) -> None:  # noqa: ANN001
    first = cli("series", *LIDC, "--limit", "1", "-f", "csv")
    assert first.code == 0
    row = next(csv.DictReader(io.StringIO(first.out)))
    assert row["SegmentationType"] == row["segmented_Modality"] == ""
    assert "come from IDC's seg_index, which is not stored yet" in first.err
    assert "idcseg index fetch" in first.err and len(first.err.splitlines()) == 1
    again = cli("series", *LIDC, "--limit", "1", "-f", "csv")
    assert again.code == 0 and again.err == ""
