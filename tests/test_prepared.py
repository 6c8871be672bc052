"""DuckDB-native copies of IDC's parquet indexes (idcseg.local.prepared) and the catalog that reads them.

The copies must hold exactly the parquet's rows, be made once and reused, never be attached
half-made, and give way to the parquet files in place when no copy can be made: with the same
answers. Meaning filters on a seg_index file match any spelling case-insensitively.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import idcseg
from idcseg.errors import IdcsegError
from idcseg.local import prepared
from idcseg.local.store import index_dir, index_version
from idcseg.query.engines.duckdb import DuckDBEngine
from idcseg.query.spec import SeriesFilter, summary_query
from idcseg.remote import segindex
from tests.conftest import seg_index_schema

SEG_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")


def test_series_index_copy_holds_every_row_and_column() -> None:
    parquet = index_dir() / "idc_index.parquet"
    copy = prepared.series_index(parquet, quiet=True)  # made by the session fixture
    con = duckdb.connect()
    con.execute(f"ATTACH '{copy}' AS c (READ_ONLY)")
    source = f"read_parquet('{parquet}')"
    assert (
        con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        == con.execute("DESCRIBE SELECT * FROM c.main.dicom_all").fetchall()
    )
    for left, right in ((source, "c.main.dicom_all"), ("c.main.dicom_all", source)):
        missing = con.execute(
            f"SELECT COUNT(*) FROM (SELECT * FROM {left} EXCEPT ALL SELECT * FROM {right})"
        ).fetchone()
        assert missing == (0,)
    rows = con.execute("SELECT COUNT(*) FROM c.main.dicom_all").fetchone()
    assert rows is not None and rows[0] == pq.ParquetFile(parquet).metadata.num_rows


def _small_index(folder: Path) -> Path:
    """A few real rows of the wheel's index (all its columns) as a parquet of their own."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "idc_index.parquet"
    duckdb.connect().execute(  # a connection of its own: the default one may hold a result
        f"COPY (SELECT * FROM read_parquet('{index_dir() / 'idc_index.parquet'}') "
        f"WHERE collection_id IN ('lidc_idri', 'qin_prostate_repeatability')) "
        f"TO '{target}' (FORMAT parquet)"
    )
    return target


def test_a_copy_is_made_once_and_a_changed_file_gets_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IDCSEG_CACHE", str(tmp_path / "cache"))
    parquet = _small_index(tmp_path / "world")
    first = prepared.series_index(parquet)
    assert "making a DuckDB copy" in capsys.readouterr().err
    made = first.stat().st_mtime_ns
    assert prepared.series_index(parquet) == first
    assert first.stat().st_mtime_ns == made and capsys.readouterr().err == ""
    os.utime(parquet, ns=(made + 10**9, made + 10**9))  # a new release of the same file
    second = prepared.series_index(parquet, quiet=True)
    assert second != first and second.is_file()
    copies = sorted(p.name for p in (tmp_path / "cache" / "prepared").glob("*.duckdb*"))
    # the new copy (and its size record) replaced the old one; no temporary files
    assert copies == [second.name, second.name + ".ok"]


def test_a_failed_copy_leaves_nothing_behind_and_is_not_retried_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDCSEG_CACHE", str(tmp_path / "cache"))
    broken = tmp_path / "idc_index.parquet"
    broken.write_bytes(b"PAR1 this is not a parquet file PAR1")
    with pytest.raises(IdcsegError, match="cannot make a DuckDB copy of .*idc_index.parquet") as e:
        prepared.series_index(broken, quiet=True)
    folder = tmp_path / "cache" / "prepared"
    assert not list(folder.glob("*.duckdb")) and not list(folder.glob(".*.tmp*"))
    target = prepared.copy_path("idc_index", broken)
    assert prepared.problem(target) == str(e.value).rsplit(": ", 1)[1]
    monkeypatch.setattr(prepared, "_make", lambda *a: pytest.fail("tried again at once"))
    with pytest.raises(IdcsegError, match="cannot make a DuckDB copy"):
        prepared.series_index(broken, quiet=True)
    monkeypatch.setattr(prepared, "RETRY_SECONDS", 0.0)  # a day later: tried again
    with pytest.raises(pytest.fail.Exception, match="tried again at once"):
        prepared.series_index(broken, quiet=True)


def test_threads_share_one_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("IDCSEG_CACHE", str(tmp_path / "cache"))
    parquet = _small_index(tmp_path / "world")
    with ThreadPoolExecutor(3) as pool:
        made = list(pool.map(lambda _: prepared.series_index(parquet, quiet=True), range(3)))
    assert len(set(made)) == 1 and made[0].is_file()
    assert prepared.problem(made[0]) is None


def test_without_a_cache_the_parquet_files_are_read_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    native = idcseg.summary(by="analysis_result")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("IDCSEG_CACHE", str(blocker))
    run = cli("summary", "--by", "analysis_result", "--format", "json")
    assert run.code == 0, run.err
    assert "reading the parquet files in place" in run.err
    assert len(run.err.strip().splitlines()) == 1
    in_place = pd.DataFrame(json.loads(run.out))
    assert in_place.series_count.tolist() == native.series_count.tolist()

    def names(frame: pd.DataFrame) -> list[str | None]:
        return [None if pd.isna(v) else v for v in frame.analysis_result_id]

    assert names(in_place) == names(native)


def test_a_download_plan_reads_the_parquet_in_place_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any, index_db: duckdb.DuckDBPyConnection
) -> None:
    """Without a copy, a download's look-ups read the 1 M-row parquet file, whose one row group
    does not fit the 64 MB a download gives DuckDB with the copy: it plans all the same."""
    uid, files = index_db.execute(
        "SELECT SeriesInstanceUID, instanceCount FROM idx "
        "WHERE collection_id = 'lidc_idri' AND Modality = 'CT' ORDER BY 1 LIMIT 1"
    ).fetchone()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("IDCSEG_CACHE", str(blocker))
    out = tmp_path / "cohort"
    run = cli("download", "--series", uid, "-o", str(out), "--dry-run")
    assert run.code == 0, run.err
    assert "reading the parquet files in place" in run.err
    assert f"plan: 1 series, {files} files" in run.out
    assert not out.exists()


# --- meaning filters on a seg_index file -----------------------------------------------------


@pytest.fixture
def spelled_seg_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A seg_index over four real SEG series of the wheel, spelling Liver three ways; fetched."""
    series = [
        uid
        for (uid,) in duckdb.execute(
            f"SELECT SeriesInstanceUID FROM read_parquet('{index_dir() / 'idc_index.parquet'}') "
            "WHERE SOPClassUID IN $c ORDER BY SeriesInstanceUID LIMIT 4",
            {"c": list(SEG_SOP_CLASSES)},
        ).fetchall()
    ]
    images = [  # a CT and an MR series of the wheel, as the segmented series
        duckdb.execute(
            f"SELECT MIN(SeriesInstanceUID) FROM read_parquet('{index_dir() / 'idc_index.parquet'}')"
            " WHERE Modality = $m AND BodyPartExamined = $b",
            {"m": modality, "b": body_part},
        ).fetchone()[0]
        for modality, body_part in (("CT", "CHEST"), ("MR", "PROSTATE"))
    ]
    spellings = [["Liver", "Spleen"], ["LIVER"], ["liver ", "Kidney"], ["Spleen"]]
    algorithms = ["AUTOMATIC", "SEMIAUTOMATIC", "AUTOMATIC,MANUAL", "AUTOMATIC"]
    segmented = [images[0], images[1], None, images[0]]
    rows = [
        {
            "SeriesInstanceUID": uid,
            "SegmentationType": "BINARY",
            "total_segments": len(types),
            "AlgorithmType": algorithm,
            "AlgorithmName": None,
            "segmented_SeriesInstanceUID": image,
            "SegmentedPropertyCategory_CodeMeanings": ["Anatomical Structure"],
            "SegmentedPropertyType_CodeMeanings": types,
            "AnatomicRegion_CodeMeanings": [],
        }
        for uid, types, algorithm, image in zip(
            series, spellings, algorithms, segmented, strict=True
        )
    ]
    folder = tmp_path / "mirror" / index_version()
    folder.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(rows, schema=seg_index_schema()), folder / "seg_index.parquet"
    )
    mirror = (tmp_path / "mirror").as_uri()
    monkeypatch.setenv("IDCSEG_INDEX_URLS", mirror + "/{version}/seg_index.parquet")
    segindex.fetch(progress=False)
    return series


def test_meaning_filters_match_every_spelling_on_the_file(spelled_seg_index: list[str]) -> None:
    a, b, c, d = spelled_seg_index
    for spelling in ("liver", "LIVER", "Liver"):
        assert set(idcseg.series(structure=spelling).SeriesInstanceUID) == {a, b}
    assert set(idcseg.series(structure=["liver", "kidney"]).SeriesInstanceUID) == {a, b, c}
    assert set(idcseg.series(structure="spleen").SeriesInstanceUID) == {a, d}
    assert set(idcseg.series(structure="Liver", algorithm_type="AUTOMATIC").SeriesInstanceUID) == {
        a
    }
    assert set(idcseg.series(algorithm_type="SEMIAUTOMATIC").SeriesInstanceUID) == {b}
    assert set(idcseg.series(algorithm_type="MANUAL").SeriesInstanceUID) == {c}
    assert idcseg.series(structure="Liv").empty  # a whole meaning, not a part of one


def test_segmented_series_facts_come_with_the_file(spelled_seg_index: list[str]) -> None:
    a, b, c, d = spelled_seg_index
    frame = idcseg.series(series=[a, b, c, d]).set_index("SeriesInstanceUID")
    assert (
        frame.loc[a, "segmented_Modality"] == "CT" and frame.loc[a, "BodyPartExamined"] == "CHEST"
    )
    assert frame.loc[b, "segmented_Modality"] == "MR"
    assert frame.loc[b, "BodyPartExamined"] == "PROSTATE"
    assert pd.isna(frame.loc[c, "segmented_Modality"])
    assert set(idcseg.series(source_modality="ct").SeriesInstanceUID) == {a, d}
    assert set(idcseg.series(source_modality="MR", structure="liver").SeriesInstanceUID) == {b}
    assert set(idcseg.series(body_part="chest", structure="spleen").SeriesInstanceUID) == {a, d}


def test_the_copy_and_the_file_in_place_answer_alike(
    spelled_seg_index: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    questions = [
        {"structure": "liver"},
        {"structure": ["spleen", "kidney"], "algorithm_type": "AUTOMATIC"},
        {"category": "anatomical structure", "min_segments": 2},
        {"source_modality": "CT"},
        {"body_part": "prostate", "structure": "liver"},
        {"series": spelled_seg_index},
    ]
    native = [idcseg.series(**q) for q in questions]
    blocker = tmp_path / "no-cache"
    blocker.write_text("")
    monkeypatch.setenv("IDCSEG_CACHE", str(blocker))
    engine = DuckDBEngine()
    for question, want in zip(questions, native, strict=True):
        got = idcseg.Explorer(engine).series(**question)
        pd.testing.assert_frame_equal(got, want)
    assert "reading the parquet files in place" in capsys.readouterr().err
    engine.close()
    shutil.rmtree(tmp_path / "mirror")


def test_index_status_names_the_copies(spelled_seg_index: list[str], cli: Any) -> None:
    before = json.loads(cli("index", "status", "-f", "json").out)["duckdb_copies"]
    assert before["idc_index"]["made"]  # by the session fixture
    assert not before["seg_index"]["made"] and before["seg_index"]["problem"] is None
    idcseg.series(structure="liver")
    after = json.loads(cli("index", "status", "-f", "json").out)["duckdb_copies"]
    assert after["idc_index"] == before["idc_index"]
    assert after["seg_index"]["made"] and Path(after["seg_index"]["path"]).is_file()
    text = cli("index", "status").out
    assert f"seg_index DuckDB copy: {after['seg_index']['path']}" in text


def test_index_status_says_when_no_copy_can_be_made(tmp_path: Path, cli: Any) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would go")
    run = cli("index", "status", env={"IDCSEG_CACHE": str(blocker)})
    assert f"idc_index DuckDB copy: cannot be made ({blocker} is not a writable folder)" in run.out


# --- damaged copies and interrupted builds ---------------------------------------------------


def test_a_truncated_copy_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IDCSEG_CACHE", str(tmp_path / "cache"))
    parquet = _small_index(tmp_path / "world")
    copy = prepared.series_index(parquet, quiet=True)
    size = copy.stat().st_size
    os.truncate(copy, size // 2)
    assert prepared.series_index(parquet) == copy
    err = capsys.readouterr().err
    assert f"the DuckDB copy {copy} is not the file that was made" in err
    assert f"({size // 2:,} bytes, expected {size:,}); making it again" in err
    assert copy.stat().st_size == size and prepared.unreadable(copy) is None


def test_a_copy_duckdb_cannot_open_is_made_again_by_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IDCSEG_CACHE", str(tmp_path / "cache"))
    world = tmp_path / "world"
    parquet = _small_index(world)
    first = DuckDBEngine(index_folder=world)
    want = first.run(summary_query(SeriesFilter.build())).rows()
    first.close()
    copy = prepared.copy_path("idc_index", parquet)
    with copy.open("r+b") as fh:  # same size, so only opening it shows the damage
        fh.write(b"garbage " * 512)
    assert prepared.unreadable(copy) is not None
    capsys.readouterr()
    engine = DuckDBEngine(index_folder=world)
    assert engine.run(summary_query(SeriesFilter.build())).rows() == want
    err = capsys.readouterr().err
    assert f"the DuckDB copy {copy} cannot be read (" in err and "making it again" in err
    assert "cannot open the store" not in err
    assert prepared.unreadable(copy) is None
    engine.close()


def test_a_damaged_copy_that_cannot_be_deleted_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDCSEG_CACHE", str(tmp_path / "cache"))
    parquet = _small_index(tmp_path / "world")
    copy = prepared.copy_path("idc_index", parquet)
    copy.mkdir(parents=True)  # something in its place that unlink() cannot remove
    (copy / "x").write_text("x")
    with pytest.raises(IdcsegError) as e:
        prepared.series_index(parquet, quiet=True)
    assert str(e.value).startswith(f"the DuckDB copy {copy} is damaged and cannot be deleted")
    assert str(e.value).endswith("delete it and run the command again")


def test_a_killed_build_leaves_nothing_for_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 during the first copy of the real index: the next build removes its files."""
    import signal
    import subprocess
    import sys
    import time

    cache = tmp_path / "cache"
    folder = cache / "prepared"
    code = (
        "from idcseg.local import prepared; from idcseg.local.store import index_dir; "
        "prepared.series_index(index_dir() / 'idc_index.parquet', quiet=True)"
    )
    env = {**os.environ, "IDCSEG_CACHE": str(cache)}
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while not list(folder.glob(".*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well into the build
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    left = list(folder.glob(".*.tmp*"))
    assert left, "the build was not interrupted"
    other = _small_index(tmp_path / "world")  # another copy, made in the same folder
    # (monkeypatch: the session's own IDCSEG_CACHE comes back after the test)
    monkeypatch.setenv("IDCSEG_CACHE", str(cache))
    prepared.series_index(other, quiet=True)
    assert not list(folder.glob(".*.tmp*")), "a killed build's files were left behind"


def test_progress_is_shown_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import pty
    import sys

    monkeypatch.setenv("IDCSEG_CACHE", str(tmp_path / "cache"))
    parquet = _small_index(tmp_path / "world")
    leader, follower = pty.openpty()
    terminal = io.TextIOWrapper(os.fdopen(follower, "wb", buffering=0), write_through=True)
    monkeypatch.setattr(sys, "stderr", terminal)
    prepared.series_index(parquet)
    terminal.flush()
    os.set_blocking(leader, False)
    shown = os.read(leader, 1 << 16).decode()
    os.close(leader)
    terminal.close()
    assert "\ridcseg: making a DuckDB copy of IDC's series index" in shown
    assert "idcseg: done in" in shown
