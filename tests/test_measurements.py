"""Measurements end to end on the embedded engine: ingest of TID 1500 SRs (rows, replacement,
skipping, failures, Ctrl-C), links to segments, the filters of `idcseg measurements`,
`find --with-measurements`, the Python API, bad input, and stores made by an older idcseg."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

import idcseg
from idcseg.local import ingest as ingest_mod
from idcseg.local.ingest import IngestInterrupted, ingest
from idcseg.local.store import Store
from tests.srfactory import edited
from tests.srref import expected_report

TABLES = {
    "groups": "measurement_groups",
    "quantitative": "quantitative_measurements",
    "qualitative": "qualitative_measurements",
}


def query(sql: str, params: Any = None) -> list[dict[str, Any]]:
    con = duckdb.connect(str(Store().path), read_only=True)
    try:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def canonical(rows: list[dict[str, Any]]) -> list[str]:
    """Rows as sorted JSON texts (a multiset, order-free)."""
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def stored(table: str, sop: str | None = None) -> list[dict[str, Any]]:
    if sop is None:
        return query(f"SELECT * FROM {table}")
    return query(f"SELECT * FROM {table} WHERE SOPInstanceUID = ?", [sop])


@pytest.fixture
def world(sr_world, tmp_path: Path) -> Any:
    """A private copy of the SR world's files (tests change them)."""
    folder = tmp_path / "files"
    shutil.copytree(sr_world.folder, folder)
    sr_world_copy = type(sr_world)(
        folder,
        sr_world.ct,
        folder / sr_world.seg.relative_to(sr_world.folder),
        {k: folder / v.relative_to(sr_world.folder) for k, v in sr_world.reports.items()},
        {k: folder / v.relative_to(sr_world.folder) for k, v in sr_world.others.items()},
        {k: folder / v.relative_to(sr_world.folder) for k, v in sr_world.variants.items()},
        sr_world.tracking_uids,
    )
    return sr_world_copy


@pytest.fixture
def ingested(world) -> Any:
    """The SEG and the four reports stored."""
    report = ingest([world.seg, *world.reports.values()], progress=False)
    assert report.ok, report.failures
    return world


# --- ingest ---------------------------------------------------------------------------------


def test_every_stored_value_matches_the_files(ingested) -> None:
    for path in ingested.reports.values():
        expected = expected_report(path)
        sop = expected["groups"][0]["SOPInstanceUID"]
        for key, table in TABLES.items():
            assert canonical(stored(table, sop)) == canonical(expected[key]), (path.name, table)
    counts = {t: len(stored(t)) for t in TABLES.values()}
    assert counts == {
        "measurement_groups": 5,
        "quantitative_measurements": 6 + 2 + 1 + 1,
        "qualitative_measurements": 8 + 1 + 1 + 1,
    }
    instances = query("SELECT SOPInstanceUID, origin FROM instances")
    assert len(instances) == 5 and {i["origin"] for i in instances} == {"file"}
    assert query("SELECT count(*) AS n FROM local_series")[0]["n"] == 1  # the SEG's series only


def test_report_counts_measurements(world) -> None:
    report = ingest([world.seg, *world.reports.values()], progress=False)
    assert (report.files_ingested, report.segments_written) == (5, 2)
    assert report.measurements_written == 14 + 3 + 2 + 2
    assert "21 measurements" in report.summary()


def test_unchanged_reports_are_skipped_and_force_replaces(ingested) -> None:
    again = ingest([ingested.folder / "sr"], progress=False)
    assert (again.files_unchanged, again.files_ingested) == (4, 0)
    forced = ingest([ingested.folder / "sr"], progress=False, force=True)
    assert forced.files_ingested == 4
    assert len(stored("quantitative_measurements")) == 10  # replaced, not duplicated
    assert len(stored("measurement_groups")) == 5


def test_a_changed_report_is_read_again(ingested) -> None:
    path = ingested.reports["unlinked"]
    old_sop = expected_report(path)["groups"][0]["SOPInstanceUID"]

    def bigger(ds):
        group = ds.ContentSequence[-1].ContentSequence[0]
        for item in group.ContentSequence:
            if item.ValueType == "NUM":
                item.MeasuredValueSequence[0].NumericValue = "2.5"

    edited(path, path, bigger)  # same path, new SOPInstanceUID, new value
    report = ingest([ingested.folder / "sr"], progress=False)
    assert report.files_ingested == 1
    assert stored("quantitative_measurements", old_sop) == []  # the path's earlier rows went
    new = expected_report(path)["quantitative"]
    assert canonical(stored("quantitative_measurements", new[0]["SOPInstanceUID"])) == canonical(
        new
    )


def test_a_seg_replaced_by_a_report_at_the_same_path_loses_its_segments(ingested) -> None:
    seg_sop = query("SELECT DISTINCT SOPInstanceUID AS s FROM segmentations")[0]["s"]
    shutil.copy(ingested.reports["reader1"], ingested.seg)
    ingest([ingested.seg], progress=False, force=True)
    assert query("SELECT count(*) AS n FROM segmentations WHERE SOPInstanceUID = ?", [seg_sop]) == [
        {"n": 0}
    ]


def test_other_templates_are_skipped_and_bad_reports_fail(world, cli) -> None:
    report = ingest([world.others["not_tid1500"], world.others["truncated"]], progress=False)
    assert report.failure_kinds == {"NotMeasurementReport": 1, "Truncated": 1}
    assert [p for p, _ in report.errors] == [str(world.others["truncated"])]
    assert report.skipped("NotMeasurementReport")[0][0] == str(world.others["not_tid1500"])
    assert "1 skipped (not DICOM SEG or TID 1500 SR)" in report.summary()

    run = cli("ingest", str(world.others["not_tid1500"]))
    assert run.code == 0
    assert f"skipped {world.others['not_tid1500']}: a Comprehensive 3D SR document with " in run.err
    run = cli("ingest", str(world.folder / "bad"))
    assert run.code == 1
    assert f"failed {world.others['truncated']}: the file ends too early" in run.err
    assert "Traceback" not in run.err


@pytest.fixture
def many_reports(world, tmp_path: Path) -> Path:
    """Nine copies of reader1 (new SOPInstanceUIDs)."""
    folder = tmp_path / "many"
    for i in range(9):
        edited(world.reports["reader1"], folder / f"sr_{i}.dcm", lambda ds: None)
    return folder


def test_ctrl_c_keeps_whole_batches_of_reports(many_reports, monkeypatch) -> None:
    real = ingest_mod._parse_file
    calls: list[str] = []

    def interrupted_at_six(path: str):
        calls.append(path)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(ingest_mod, "_parse_file", interrupted_at_six)
    with pytest.raises(IngestInterrupted) as info:
        ingest([many_reports], progress=False, batch_size=2)
    assert info.value.report.files_ingested == 4
    assert len(stored("measurement_groups")) == 8  # two groups each, whole instances only
    assert len(stored("quantitative_measurements")) == 24
    monkeypatch.setattr(ingest_mod, "_parse_file", real)
    rerun = ingest([many_reports], progress=False, batch_size=2)
    assert (rerun.files_unchanged, rerun.files_ingested) == (4, 5)
    assert len(stored("quantitative_measurements")) == 54


def _older_store() -> None:
    """A store made before the measurement tables existed (those tables dropped)."""
    store = Store()
    store.ensure()
    con = duckdb.connect(str(store.path))
    for table in TABLES.values():
        con.execute(f"DROP TABLE {table}")
    con.close()


def test_an_older_store_gains_the_tables_from_its_first_writer(world, capsys) -> None:
    _older_store()
    report = ingest([world.seg, world.reports["reader1"]], progress=False)
    assert report.ok
    assert "lacked tables measurement_groups" in capsys.readouterr().err
    assert len(stored("quantitative_measurements")) == 6
    assert len(stored("segmentations")) == 2


def test_an_older_store_gains_the_tables_from_its_first_reader(world) -> None:
    ingest([world.seg], progress=False)
    _older_store()
    assert len(idcseg.measurements()) == 0
    assert len(idcseg.find()) == 2  # the rows it had are kept
    assert {t: len(stored(t)) for t in TABLES.values()} == dict.fromkeys(TABLES.values(), 0)


# --- queries ------------------------------------------------------------------------------------


def by(frame: Any, **where: Any) -> Any:
    mask = None
    for column, value in where.items():
        hit = frame[column] == value
        mask = hit if mask is None else mask & hit
    return frame[mask.fillna(False)]


def test_links_by_reference_by_tracking_uid_and_none(ingested) -> None:
    frame = idcseg.measurements()
    assert len(frame) == 10 + 11
    seg = expected_report(ingested.reports["reader1"])["groups"][0]["segmentationInstanceUID"]
    reader1 = frame[
        frame.sr_SOPInstanceUID
        == expected_report(ingested.reports["reader1"])["groups"][0]["SOPInstanceUID"]
    ]
    assert set(reader1.link) == {"segment"}
    assert set(reader1.SOPInstanceUID) == {seg}
    pairs = zip(reader1.measurementGroup_number, reader1.SegmentNumber, strict=True)
    assert set(pairs) == {(0, 1), (1, 2)}
    assert set(reader1.SegmentLabel) == {"Nodule 1", "Nodule 2"}

    tracking = by(frame, trackingIdentifier="Nodule 1 - reader 2")
    assert len(tracking) == 3 and set(tracking.link) == {"tracking_uid"}
    assert set(tracking.SOPInstanceUID) == {seg} and set(tracking.SegmentNumber) == {1}
    assert set(tracking.trackingUniqueIdentifier) == {ingested.tracking_uids[1]}

    unlinked = frame[frame.link.isna()]
    assert len(unlinked) == 4  # the unlinked report and its UTF-8 copy: one volume, one rating each
    assert unlinked.SOPInstanceUID.isna().all() and unlinked.SegmentNumber.isna().all()
    assert unlinked.structure.isna().all() and unlinked.SegmentLabel.isna().all()
    assert set(unlinked.PatientID) == {"IDCSEG-TEST-1"}  # from the SR


def test_info_counts_measurements_without_a_segment(ingested, cli) -> None:
    run = cli("info", "--format", "json")
    facts = json.loads(run.out)
    assert (facts["measurement_groups"], facts["measurements"]) == (5, 21)
    assert facts["measurements_without_segment"] == 4
    text = cli("info").out
    assert "measurements_without_segment  4" in text
    assert "SR measurements whose SEG segment is not in the store" in text


def test_value_columns(ingested) -> None:
    frame = idcseg.measurements()
    volume = by(frame, quantity="Volume", SegmentNumber=1, link="segment")
    assert volume.iloc[0][["value", "units", "kind", "quantity_code"]].tolist() == [
        523.6,
        "mm3",
        "quantitative",
        "SRT:G-D705",
    ]
    diameter = by(frame, quantity="Diameter", SegmentNumber=1, link="segment").iloc[0]
    assert (diameter.value, diameter.units, diameter.derivation) == (10.25, "mm", "Maximum")
    rating = by(frame, quantity="Malignancy", SegmentNumber=2).iloc[0]
    assert rating.value_meaning == "2 out of 5 (Moderately Unlikely for Cancer)"
    assert rating.value_code == "99LIDCQIICR:902" and rating.kind == "qualitative"
    assert (rating.finding, rating.finding_site) == ("Nodule", "Lung")
    assert str(frame.value.dtype) == "Float64" and str(frame.SegmentNumber.dtype) == "Int64"


VOLUMES = {523.6, 0.25, 610.0, 1.2}  # mm3, ml (SCT code), mm3 (reader 2), ml (unlinked, twice)


def test_quantity_by_meaning_or_code_with_snomed_twins(ingested) -> None:
    for term in ("Volume", "volume", "SRT:G-D705", "SCT:118565006"):
        frame = idcseg.measurements(quantity=term)
        assert set(frame.value) == VOLUMES and len(frame) == 5, term
        assert set(frame.kind) == {"quantitative"}
    assert len(idcseg.measurements(quantity=["Volume", "Diameter"])) == 5 + 3
    assert len(idcseg.measurements(quantity="Malignancy")) == 5  # 2 + 1 + 1 + 1
    assert len(idcseg.measurements(quantity="no such thing")) == 0


def test_min_max_in_stored_units_or_converted(ingested) -> None:
    stated = idcseg.measurements(quantity="Volume", min=500)
    assert sorted(stated.value) == [523.6, 610.0]  # 0.25 ml and 1.2 ml are smaller numbers
    mm3 = idcseg.measurements(quantity="Volume", min="500", unit="mm3")
    assert sorted(mm3.value) == [523.6, 610.0, 1200.0, 1200.0] and set(mm3.units) == {"mm3"}
    ml = idcseg.measurements(quantity="Volume", max=0.6, unit="ml")
    assert sorted(ml.value) == [0.25, 0.5236]  # converted, rounded to 9 decimals
    cm = idcseg.measurements(quantity="Diameter", min=1, max=1.05, unit="cm")
    assert sorted(cm.value) == [1.025]
    # a unit of another kind leaves everything out
    assert len(idcseg.measurements(quantity="Volume", unit="mm")) == 0


def test_evaluations(ingested) -> None:
    def volumes(*terms: str) -> list[float]:
        return sorted(idcseg.measurements(quantity="Volume", evaluation=list(terms)).value)

    assert volumes("Malignancy~suspicious") == [523.6, 610.0]
    assert volumes("malignancy=99LIDCQIICR:905") == [610.0]
    assert volumes("RadLex:RID36042=5 out of 5 (highly suspicious for cancer)") == [610.0]
    # one concept twice: either value; two concepts: both
    assert volumes("Malignancy=99LIDCQIICR:904", "Malignancy=99LIDCQIICR:902") == [0.25, 523.6]
    assert volumes("Malignancy~suspicious", "Calcification=Absent") == [523.6]
    assert volumes("Calcification=absent", "Subtlety score~obvious") == [523.6]
    assert volumes("Malignancy=Absent") == []
    ratings = idcseg.measurements(evaluation="Malignancy~suspicious", kind="qualitative")
    assert set(ratings.quantity) >= {"Malignancy", "Subtlety score", "Calcification"}
    assert len(ratings) == 5 + 1


def test_segment_and_series_filters_keep_linked_rows(ingested) -> None:
    nodules = idcseg.measurements(structure="Nodule")
    assert len(nodules) == 21 - 4 and nodules.link.notna().all()
    assert len(idcseg.measurements(structure="Liver")) == 0
    assert len(idcseg.measurements(collection="lidc_idri")) == 0  # the test SEG is in no collection
    seg_series = (
        ingested.seg
        and expected_report(ingested.reports["reader1"])["groups"][0]["segmentationSeriesUID"]
    )
    assert len(idcseg.measurements(series=seg_series)) == 17
    assert len(idcseg.measurements(limit=3)) == 3
    # --source: the test SEG is your own (IDC does not host it)
    mine = idcseg.measurements(source="local")
    assert len(mine) == 17 and set(mine.source) == {"local"}
    assert len(idcseg.measurements(source="idc")) == 0


def test_find_with_measurements(ingested, cli) -> None:
    frame = idcseg.find(with_measurements=True)
    assert list(frame.SegmentLabel) == ["Nodule 1", "Nodule 2"]
    added = list(frame.columns[list(frame.columns).index("viewer_url") + 1 :])
    assert added == [
        "Attenuation Coefficient (Mean) [[hnsf'U]]",
        "Diameter (Maximum) [mm]",
        "Diameter [mm]",
        "Surface Area [mm2]",
        "Volume [ml]",
        "Volume [mm3]",
        "Calcification",
        "Impression",
        "Malignancy",
        "Subtlety score",
        "Texture",
        "measurement_groups",
    ]
    one, two = frame.iloc[0], frame.iloc[1]
    assert one["Volume [mm3]"] in (523.6, 610.0)  # reader 1 or reader 2, whichever SR sorts first
    assert one["measurement_groups"] == 2 and two["measurement_groups"] == 1
    assert two["Volume [ml]"] == 0.25 and pd_isna(one["Volume [ml]"])
    assert two["Malignancy"] == "2 out of 5 (Moderately Unlikely for Cancer)"
    assert str(frame["Volume [mm3]"].dtype) == "Float64"
    assert str(frame["Malignancy"].dtype) == "string"

    run = cli("find", "--with-measurements", "--format", "csv")
    assert run.code == 0, run.err
    header = run.out.splitlines()[0].split(",")
    assert header[-12:] == [c if "," not in c else c for c in added]
    assert run.out.splitlines()[2].endswith(",1")
    assert ",0.25," in run.out.splitlines()[2]


def test_find_with_measurements_on_a_terminal_shows_the_measurements(ingested) -> None:
    from tests.conftest import run_cli_on_a_terminal

    run = run_cli_on_a_terminal("find", "--with-measurements")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert "of 31 columns)" in lines[-2]  # too wide for the terminal: a choice of columns
    for shown in ("SegmentLabel", "source", "Volume [mm3]", "Malignancy", "Calcification"):
        assert shown in lines[0], shown
    assert "SOPInstanceUID" not in lines[0]
    assert "2 out of 5 (Moderately Unlikely for Cancer)" in run.out


def pd_isna(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_cli_measurements(ingested, cli) -> None:
    run = cli(
        "measurements", "--quantity", "Volume", "--min", "500", "--unit", "mm3",
        "-e", "Malignancy~suspicious", "--format", "jsonl",
    )  # fmt: skip
    assert run.code == 0, run.err
    rows = [json.loads(line) for line in run.out.splitlines()]
    assert sorted(r["value"] for r in rows) == [523.6, 610.0]
    assert {r["link"] for r in rows} == {"segment", "tracking_uid"}
    table = cli("measurements", "--kind", "qualitative", "--quantity", "Calcification")
    assert "Popcorn calcification sign" in table.out and "(2 rows)" in table.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--quantity", "Volume", "--min", "abc"],
            "--min must be a number (e.g. 500 or 0.5), not 'abc'",
        ),
        (["--quantity", "Volume", "--max", "nan"], "--max must be a finite number"),
        (["--min", "3"], "give exactly one --quantity"),
        (["--quantity", "Volume", "--unit", "furlong"], "unknown --unit 'furlong'"),
        (["--quantity", "Volume", "--min", "5", "--max", "1"], "--min 5 is larger than --max 1"),
        (["-e", "Malignancy"], "write CONCEPT=VALUE"),
        (["-e", "=4"], "write CONCEPT=VALUE"),
        (["--kind", "both"], "unknown --kind 'both'"),
        (["--kind", "qualitative", "--unit", "mm"], "apply to quantitative measurements"),
        (["--source", "elsewhere"], "unknown --source 'elsewhere'"),
        (["--weight", "3"], "No such option"),
    ],
)
def test_bad_input_is_one_line(cli, args: list[str], message: str) -> None:
    run = cli("measurements", *args)
    assert run.code == 2, run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("idcseg: error: ") and message in lines[0]


def test_an_empty_answer_says_why(cli, world) -> None:
    empty = cli("measurements", "--quantity", "Volume")  # nothing stored yet
    assert empty.code == 0 and "(0 rows)" in empty.out
    assert "holds no measurements yet" in empty.err and "--with-measurements" in empty.err
    report = ingest([world.seg, *world.reports.values()], progress=False)
    assert report.ok, report.failures
    whole = cli("measurements", "-e", "Malignancy=Moderately Unlikely")  # part of a meaning
    assert whole.code == 0 and "(0 rows)" in whole.out
    assert "matches a value's whole meaning" in whole.err
    assert "--evaluation 'Malignancy~Moderately Unlikely'" in whole.err
    part = cli("measurements", "-e", "Malignancy~Moderately Unlikely", "-f", "csv")
    assert part.code == 0 and len(part.out.splitlines()) > 1 and part.err == ""


def test_with_measurements_needs_segment_rows(cli) -> None:
    run = cli("find", "--with-measurements", "--per", "series")
    assert run.code == 2 and "use --per segment" in run.err
    with pytest.raises(idcseg.UsageError, match="per='segment'"):
        idcseg.find(per="series", with_measurements=True)


def test_python_bad_input(ingested) -> None:
    with pytest.raises(idcseg.UsageError, match="--min must be a number"):
        idcseg.measurements(quantity="Volume", min="lots")
    with pytest.raises(idcseg.UsageError, match="--min must be a number"):
        idcseg.measurements(quantity="Volume", min=True)
    with pytest.raises(idcseg.UsageError, match="unknown filter"):
        idcseg.measurements(colour="red")


def test_sql_prints_the_measurements_template(cli) -> None:
    run = cli("sql", "measurements", "--structure", "Nodule")
    assert run.code == 0
    assert "`bigquery-public-data.idc_current.quantitative_measurements`" in run.out
    assert "@structure_codes ARRAY<STRING>" in run.out
