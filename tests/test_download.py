"""``idcseg download``, ``manifest`` and ``cite`` against a local S3 (moto on 127.0.0.1).

The world (``downloadworld.py``): real IDC v25 series from the wheel's index — LIDC-IDRI-0001's
CT and its four SEG series, LIDC-IDRI-0002's CT — whose objects sit under their real
``crdc_series_uuid`` prefixes, behind a fault-injecting proxy. The files are small ones made at
test time with the series' real UIDs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import idcseg
from idcseg.errors import IdcsegError, UsageError
from idcseg.remote.layout import DEFAULT_LAYOUT, parse_layout, safe_part
from idcseg.remote.manifest import parse_manifest
from idcseg.remote.resume import STATE_DIR, FolderLock, Ledger
from tests import downloadworld
from tests.conftest import REPO
from tests.smallfs import can_mount, resize, small_filesystem

SEGS = ("seg_series", "seg_labelmap", "seg_instance", "seg_none")


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory):
    """Servers and data, built once per session."""
    built = downloadworld.build(tmp_path_factory.mktemp("download-world"))
    yield built
    built.stop()


@pytest.fixture
def proxy(world):
    """The fault proxy, clean before and after each test."""
    world.proxy.reset()
    yield world.proxy
    world.proxy.reset()


def run(world, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """``python -m idcseg ARGS`` with the local S3 as endpoint."""
    proc = subprocess.run(
        [sys.executable, "-m", "idcseg", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "IDCSEG_S3_ENDPOINT": world.endpoint, **(env or {})},
        cwd=cwd or REPO,
        timeout=180,
    )
    return proc


def series_args(world, *names: str) -> list[str]:
    return [a for n in names for a in ("--series", world.series[n].uid)]


def tree(root: Path) -> dict[str, bytes]:
    """Every data file under *root* (relative POSIX path → bytes), without idcseg's own and
    without the temporary files of a killed run."""
    out = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if rel.endswith(".idcseg-part"):
            continue
        if path.is_file() and not rel.startswith(STATE_DIR) and "/" in rel:
            out[rel] = path.read_bytes()
    return out


def expected(world, *names: str) -> dict[str, bytes]:
    """What the default layout should hold for the named series."""
    out = {}
    for name in names:
        series = world.series[name]
        for key in series.keys:
            file = f"{series.sop[key]}.dcm" if key in series.sop else key.rsplit("/", 1)[1]
            out[f"{series.folder}/{file}"] = series.data[key]
    return out


def object_gets(log, key: str) -> list:
    """Requests for object *key* (not listings)."""
    return [e for e in log if e.path.split("?")[0].endswith(key)]


def parts(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.idcseg-part")]


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("idcseg: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


# --- downloads --------------------------------------------------------------------------------


def test_series_land_in_the_layout_named_by_sop_instance_uid(world, proxy, tmp_path) -> None:
    out = tmp_path / "out"
    done = run(world, "download", *series_args(world, "seg_series"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert tree(out) == expected(world, "seg_series")
    assert "plan: 1 series (1 SEG), 1 file" in done.stderr
    assert "downloaded 1 file (" in done.stderr
    licences = list(csv.DictReader(io.StringIO((out / "LICENSES.csv").read_text())))
    assert licences == [
        {
            "collection_id": "lidc_idri",
            "analysis_result_id": "dicom_lidc_idri_nodules",
            "source_DOI": "10.7937/tcia.2018.h7umfurq",
            "license_short_name": "CC BY 3.0",
            "license_long_name": "Creative Commons Attribution 3.0 Unported License",
            "license_url": "https://creativecommons.org/licenses/by/3.0/",
            "series_count": "1",
        }
    ]
    citations = (out / "CITATIONS.txt").read_text()
    assert "[10.7937/tcia.2018.h7umfurq]" in citations and "Fedorov, A., Hancock" in citations
    assert "&amp;" not in citations and "<i>" not in citations
    assert "10.1148/rg.230180" in citations  # IDC itself
    assert not parts(out)


def test_with_source_resolves_each_way_and_names_what_it_cannot(world, proxy, tmp_path) -> None:
    frame = idcseg.download(
        [world.series[n].uid for n in SEGS],
        output=tmp_path / "out",
        with_source=True,
        endpoint=world.endpoint,
        progress=False,
    )
    ct = world.series["ct"]
    assert tree(tmp_path / "out") == expected(world, *SEGS, "ct")
    by_uid = frame.set_index("SeriesInstanceUID")
    assert by_uid.loc[ct.uid, "role"] == "source"
    assert set(by_uid.loc[ct.uid, "source_of"].split(",")) == {
        world.series[n].uid for n in ("seg_series", "seg_labelmap", "seg_instance")
    }
    for name in ("seg_series", "seg_labelmap", "seg_instance"):
        assert by_uid.loc[world.series[name].uid, "source_series"] == ct.uid
    none = world.series["seg_none"].uid
    assert "names no source" in by_uid.loc[none, "source_note"]
    assert (frame["status"] == "complete").all(), frame[["status", "error"]]
    assert "1 SEG series without a resolvable source" in frame.attrs["summary"]
    # each CT object is downloaded once (the instance search read only first bytes of them)
    for key in ct.keys:
        whole = [e for e in object_gets(proxy.log, key) if e.range is None]
        assert len(whole) == 1
    # the SEG headers were read with range requests before their download
    seg_key = world.series["seg_series"].keys[0]
    assert any(e.range for e in object_gets(proxy.log, seg_key))


def test_with_source_known_from_the_store_reads_no_header(world, proxy, tmp_path) -> None:
    seg = world.series["seg_series"]
    path = tmp_path / "seg.dcm"
    path.write_bytes(seg.data[seg.keys[0]])
    assert idcseg.ingest(path).ok
    frame = idcseg.download(
        [seg.uid], tmp_path / "out", with_source=True, endpoint=world.endpoint, progress=False
    )
    assert set(frame["SeriesInstanceUID"]) == {seg.uid, world.series["ct"].uid}
    assert not any(e.range for e in object_gets(proxy.log, seg.keys[0]))


def test_rerun_skips_complete_files_with_listings_only(world, proxy, tmp_path) -> None:
    out = tmp_path / "out"
    names = ("seg_series", "seg_labelmap", "ct")
    args = ["download", *series_args(world, *names), "-o", str(out)]
    assert run(world, *args).returncode == 0
    proxy.reset()
    again = run(world, *args)
    assert again.returncode == 0, again.stderr
    assert "downloaded 0 files" in again.stderr and "already present 7" in again.stderr
    assert all("list-type=2" in e.path for e in proxy.log), [e.path for e in proxy.log]
    assert tree(out) == expected(world, *names)


def test_files_from_s5cmd_are_checked_by_md5_then_kept(world, proxy, tmp_path) -> None:
    out = tmp_path / "out"
    ct = world.series["ct"]
    folder = out / ct.folder
    folder.mkdir(parents=True)
    for key in ct.keys:  # as `s5cmd cp s3://…/uuid/* folder/` leaves them
        (folder / key.rsplit("/", 1)[1]).write_bytes(ct.data[key])
    bad = folder / ct.keys[0].rsplit("/", 1)[1]
    bad.write_bytes(b"x" * len(ct.data[ct.keys[0]]))  # right size, wrong bytes
    frame = idcseg.download([ct.uid], out, endpoint=world.endpoint, progress=False)
    row = frame.iloc[0]
    assert (row["present"], row["downloaded"]) == (len(ct.keys) - 1, 1)
    # the wrong file was fetched again (named by its SOPInstanceUID now)
    assert (folder / f"{ct.sop[ct.keys[0]]}.dcm").read_bytes() == ct.data[ct.keys[0]]


def test_changed_object_is_fetched_again(world, proxy, tmp_path) -> None:
    out = tmp_path / "out"
    blobs = world.series["blobs"]
    assert (
        idcseg.download([blobs.uid], out, endpoint=world.endpoint, progress=False)["status"]
        .eq("complete")
        .all()
    )
    key, old = blobs.keys[0], blobs.data[blobs.keys[0]]
    try:
        world.put(blobs, key, os.urandom(len(old) + 10))
        frame = idcseg.download([blobs.uid], out, endpoint=world.endpoint, progress=False)
        assert (frame.loc[0, "downloaded"], frame.loc[0, "present"]) == (1, len(blobs.keys) - 1)
        assert tree(out) == expected(world, "blobs")
    finally:
        world.put(blobs, key, old)


def test_object_changing_mid_download_is_read_again_whole(world, proxy, tmp_path) -> None:
    blobs = world.series["blobs"]
    key, old = blobs.keys[1], blobs.data[blobs.keys[1]]
    new = os.urandom(len(old))
    # the first answer is cut short; before the client asks for the rest, the object changes
    proxy.add(key, "short200", after=lambda: world.put(blobs, key, new))
    try:
        frame = idcseg.download([blobs.uid], tmp_path / "o", endpoint=world.endpoint)
        assert frame.loc[0, "status"] == "complete"
        name = key.rsplit("/", 1)[1]
        assert (tmp_path / "o" / blobs.folder / name).read_bytes() == new
        gets = object_gets(proxy.log, key)
        assert gets[0].fault == "short200"
        assert gets[1].if_match and gets[1].range  # the rest, pinned to the first version
        assert gets[2].range is None and gets[2].if_match is None  # 412: from the start
    finally:
        world.put(blobs, key, old)


def test_faults_are_retried_and_short_bodies_continued(world, proxy, tmp_path) -> None:
    ct = world.series["ct"]
    k = ct.keys
    proxy.add(k[0], "503", times=2)
    proxy.add(k[1], "reset")
    proxy.add(k[2], "truncate")
    proxy.add(k[3], "short200")
    proxy.add(k[3], "short206")
    proxy.add(k[4], "500")
    out = tmp_path / "out"
    done = run(world, "download", *series_args(world, "ct"), "-o", str(out), "--attempts", "4")
    assert done.returncode == 0, done.stderr
    assert tree(out) == expected(world, "ct")
    assert [e.fault for e in object_gets(proxy.log, k[3])][:2] == ["short200", "short206"]
    assert len(object_gets(proxy.log, k[3])) == 3  # half, a quarter, the rest


def test_persistent_failure_is_reported_and_a_rerun_completes(world, proxy, tmp_path) -> None:
    ct = world.series["ct"]
    proxy.add(ct.keys[0], "503", times=None)
    out = tmp_path / "out"
    args = ["download", *series_args(world, "ct"), "-o", str(out), "--attempts", "2"]
    failed = run(world, *args)
    assert failed.returncode == 1
    assert "failed: 1 (1 HTTP 503); run again to retry them" in failed.stderr
    assert not parts(out)
    proxy.reset()
    done = run(world, *args)
    assert done.returncode == 0, done.stderr
    assert "downloaded 1 file (" in done.stderr
    assert tree(out) == expected(world, "ct")


def _start(world, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "idcseg",
            "download",
            *series_args(world, "blobs"),
            "-o",
            str(out),
            "-j",
            "2",
            *extra,
        ],
        env={**os.environ, "IDCSEG_S3_ENDPOINT": world.endpoint},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_files(out: Path, n: int, proc: subprocess.Popen) -> None:
    ledger = out / STATE_DIR / "ledger.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ledger.exists() and len(ledger.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the download did not get going")


@pytest.mark.parametrize("how", ["kill", "ctrl-c"])
def test_stopped_run_keeps_finished_files_and_a_rerun_completes(world, proxy, tmp_path, how):
    blobs = world.series["blobs"]
    for key in blobs.keys[2:]:
        proxy.add(key, "slow", times=1, delay=2.0)
    out = tmp_path / "out"
    proc = _start(world, out)
    _wait_for_files(out, 2, proc)
    proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    if how == "ctrl-c":
        assert proc.returncode == 130, err
        assert "interrupted: run the same command again to continue" in err
        assert not parts(out)  # in-flight files cleaned up
    # whatever is there under a final name is complete
    want = expected(world, "blobs")
    have = tree(out)
    assert have and all(want[name] == data for name, data in have.items())
    done = run(world, *["download", *series_args(world, "blobs"), "-o", str(out)])
    assert done.returncode == 0, done.stderr
    assert tree(out) == want
    assert not parts(out)
    assert len(Ledger(out).load().entries) == len(blobs.keys)


def test_progress_bar_and_plain_summary(world, proxy, tmp_path) -> None:
    def stderr(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "idcseg", "download", *series_args(world, "ct"), *args],
            capture_output=True,
            env={**os.environ, "IDCSEG_S3_ENDPOINT": world.endpoint},
            cwd=REPO,
            timeout=120,
        )
        assert proc.returncode == 0
        return proc.stderr.decode()  # bytes: \r stays \r

    bar = stderr("-o", str(tmp_path / "a"), "--progress")
    assert "\r[" in bar and "ETA" in bar and "files 5/5  series 1/1" in bar
    plain = stderr("-o", str(tmp_path / "b"))
    assert "\r" not in plain
    assert plain.splitlines()[-1].startswith("downloaded 5 files")


def test_files_already_there_do_not_count_in_the_rate() -> None:
    import time

    from idcseg.present.progress import TransferProgress, human_bytes

    bar = TransferProgress(enabled=False)
    first = bar.render(0, 10**9, 0, 100, 0, 10, moved=0)
    time.sleep(0.05)
    # a resume: 900 MB recognised as complete at once, nothing transferred yet
    line = bar.render(900 * 10**6, 10**9, 90, 100, 9, 10, moved=0)
    assert f"{human_bytes(0)}/s  ETA --:--" in line and " 90%" in line, (first, line)
    time.sleep(0.05)
    moving = bar.render(950 * 10**6, 10**9, 95, 100, 9, 10, moved=50 * 10**6)
    assert "ETA --:--" not in moving and f"{human_bytes(0)}/s" not in moving


def test_dry_run_prints_the_plan_and_writes_nothing(world, proxy, tmp_path) -> None:
    out = tmp_path / "never"
    done = run(
        world,
        "download",
        *series_args(world, "seg_series"),
        "--with-source",
        "-o",
        str(out),
        "--dry-run",
    )
    assert done.returncode == 0, done.stderr
    assert "plan: 2 series (1 SEG, 1 source image)" in done.stdout
    assert "free space" in done.stdout
    rows = [line.split("\t") for line in done.stdout.splitlines() if "\t" in line]
    assert rows[0] == ["role", "SeriesInstanceUID", "files", "size_MB", "folder"]
    assert {r[0] for r in rows[1:]} == {"selected", "source"}
    assert not out.exists()
    # only the SEG's header was read (ranged), no object was downloaded
    assert all(e.range or "list-type" in e.path for e in proxy.log)


needs_mount = pytest.mark.skipif(not can_mount(), reason="mounting a small tmpfs needs root")


@needs_mount
def test_refuses_what_does_not_fit_unless_forced(world, proxy, tmp_path) -> None:
    with small_filesystem(tmp_path / "small", size_kb=64) as small:
        out = small / "out"
        refused = run(world, "download", *series_args(world, "ct"), "-o", str(out))
        assert refused.returncode == 1
        assert "needs ≈ 70.0 MB but" in one_error_line(refused.stderr)
        assert not out.exists()


@needs_mount
def test_full_disk_stops_with_one_line_and_keeps_whole_files(world, proxy, tmp_path) -> None:
    with small_filesystem(tmp_path / "small", size_kb=400) as small:  # ENOSPC when full
        out = small / "out"
        done = run(world, "download", *series_args(world, "blobs"), "-o", str(out), "--force")
        assert done.returncode == 1, done.stderr
        assert "the disk holding" in one_error_line(done.stderr)
        assert "is full" in done.stderr
        want = expected(world, "blobs")
        have = tree(out)
        assert 0 < len(have) < len(want)
        assert all(want[name] == data for name, data in have.items())
        assert not parts(out)
        # the ledger vouches only for whole files (its own lines may not have fitted)
        for entry in Ledger(out).load().entries.values():
            assert (out / entry.path).stat().st_size == entry.size
        # with room again, a rerun keeps what is there (checked by MD5) and fetches the rest
        resize(small, size_kb=4096)
        again = run(world, "download", *series_args(world, "blobs"), "-o", str(out), "--force")
        assert again.returncode == 0, again.stderr
        assert f"already present {len(have)} " in again.stderr
        assert tree(out) == want


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layout", "{collection_id}/{Nope}"], "unknown field {Nope}"),
        (["--layout", "../{PatientID}"], "may not climb out"),
        (["--layout", "{PatientID}/{SeriesInstanceUID.__class__}"], "unknown field"),
        (["--series", "1.2.3.4.5.6.7.8.9"], "not in IDC's index: 1.2.3.4.5.6.7.8.9"),
        (["--series", "1.2.x"], "not a DICOM SeriesInstanceUID"),
        (["-j", "0"], "-j/--concurrency must be a whole number"),
        (["--timeout", "nan"], "--timeout must be a number of seconds > 0, not nan"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(world, proxy, tmp_path, args, message):
    out = tmp_path / "out"
    base = series_args(world, "seg_series") if "--series" not in args else []
    done = run(world, "download", *base, *args, "-o", str(out))
    assert done.returncode == 2, done.stderr
    assert message in one_error_line(done.stderr)
    assert "Traceback" not in done.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("command", ["download", "manifest", "cite"])
def test_a_selection_of_nothing_is_an_error_not_an_empty_result(world, tmp_path, command):
    out = tmp_path / "out"
    target = [] if command == "cite" else ["-o", str(out)]
    typo = run(world, command, "--collection", "lidc", *target)  # LIDC-IDRI is lidc_idri
    assert typo.returncode == 2, typo.stderr
    assert "no collection 'lidc' in this IDC release (did you mean 'lidc_idri'?)" in one_error_line(
        typo.stderr
    )
    none = run(world, command, "--collection", "lidc_idri", "--patient", "NOBODY", *target)
    assert none.returncode == 1, none.stderr
    assert "no SEG series match these filters" in one_error_line(none.stderr)
    assert not out.exists() and typo.stdout == none.stdout == ""


def test_unwritable_or_odd_output(world, proxy, tmp_path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    done = run(world, "download", *series_args(world, "seg_series"), "-o", str(afile))
    assert done.returncode == 2 and "not a folder" in one_error_line(done.stderr)
    if os.geteuid() == 0:  # root writes anywhere: a read-only file system then
        if not can_mount():
            pytest.skip("cannot mount a tmpfs here")
        with small_filesystem(tmp_path / "ro", size_kb=10_000) as ro:
            subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
            done = run(world, "download", *series_args(world, "seg_series"), "-o", str(ro / "x"))
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        done = run(world, "download", *series_args(world, "seg_series"), "-o", str(ro / "x"))
    assert done.returncode == 2, done.stderr
    assert "cannot make the folder" in one_error_line(done.stderr)


def test_another_download_into_the_same_folder_is_refused(world, proxy, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out):
        done = run(world, "download", *series_args(world, "seg_series"), "-o", str(out))
    assert done.returncode == 3
    assert "another idcseg download is writing to" in one_error_line(done.stderr)


def test_unreachable_bucket_stops_with_one_line(world, tmp_path) -> None:
    done = run(
        world,
        "download",
        *series_args(world, "seg_series", "seg_labelmap", "seg_instance", "ct"),
        "-o",
        str(tmp_path / "out"),
        "--attempts",
        "1",
        env={"IDCSEG_S3_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert done.returncode == 1, done.stderr
    assert "cannot reach the bucket" in one_error_line(done.stderr)
    headers = run(
        world,
        "download",
        *series_args(world, "seg_series", "seg_labelmap"),
        "--with-source",
        "-o",
        str(tmp_path / "out"),
        "--attempts",
        "1",
        env={"IDCSEG_S3_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert headers.returncode == 1, headers.stderr
    assert "cannot reach the bucket to read SEG headers" in one_error_line(headers.stderr)


# --- selections: --from, manifests ------------------------------------------------------------


def test_from_a_series_csv_and_parquet(world, proxy, tmp_path, cli) -> None:
    names = ("seg_series", "seg_labelmap")
    for fmt in ("csv", "parquet"):
        listing = tmp_path / f"picked.{fmt}"
        made = cli("series", *series_args(world, *names), "-f", fmt, "-o", str(listing))
        assert made.code == 0, made.err
        out = tmp_path / f"out-{fmt}"
        done = run(world, "download", "--from", str(listing), "-o", str(out))
        assert done.returncode == 0, done.stderr
        assert tree(out) == expected(world, *names)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("a,b\n1,2\n")
    bad = run(world, "download", "--from", str(nocol), "-o", str(tmp_path / "x"))
    assert bad.returncode == 2 and "no SeriesInstanceUID column" in one_error_line(bad.stderr)


def test_portal_manifest_aws_gcs_and_instance_lines(world, proxy, tmp_path) -> None:
    ct, seg, blobs = world.series["ct"], world.series["seg_series"], world.series["blobs"]
    manifest = tmp_path / "cohort_aws.s5cmd"
    manifest.write_text(
        "# To download the files in this manifest, first install s5cmd (https://github.com/peak/s5cmd),\n"
        "# then run the following command:\n"
        "# s5cmd --no-sign-request --endpoint-url https://s3.amazonaws.com run cohort_aws.s5cmd\n"
        f"cp s3://idc-open-data/{ct.uuid}/* .\n"
        f"cp s3://public-datasets-idc/{seg.uuid}/* .\n"
        "\n"
        f"cp s3://idc-open-data/{blobs.keys[0]} ./somewhere/\n"
    )
    out = tmp_path / "out"
    done = run(world, "download", "--manifest", str(manifest), "-o", str(out))
    assert done.returncode == 0, done.stderr
    want = expected(world, "ct", "seg_series")
    name = blobs.keys[0].rsplit("/", 1)[1]
    want[f"{blobs.folder}/{name}"] = blobs.data[blobs.keys[0]]
    assert tree(out) == want


def test_instance_lines_count_their_share_of_the_series_size(tmp_path) -> None:
    from pathlib import PurePosixPath

    from idcseg.remote.layout import parse_layout
    from idcseg.remote.plan import Plan, SeriesPlan

    def series(only):
        return SeriesPlan(
            "1.2.3", "idc-open-data", "u", PurePosixPath("f"), {}, files=200, size=100_000_000,
            only=only,
        )  # fmt: skip

    whole, two = series(None), series(frozenset({"u/a.dcm", "u/b.dcm"}))
    assert whole.expected_size == 100_000_000 and two.expected_size == 1_000_000
    plan = Plan(tmp_path, parse_layout("{SeriesInstanceUID}"), [two])
    assert (plan.files, plan.size) == (2, 1_000_000)  # a 2-file manifest needs ~1 MB, not 100


def test_malformed_manifest_is_refused_before_anything(world, proxy, tmp_path) -> None:
    manifest = tmp_path / "m.s5cmd"
    manifest.write_text(
        f"cp s3://idc-open-data/{world.series['ct'].uuid}/* .\n# fine\nrm s3://idc-open-data/x .\n"
    )
    out = tmp_path / "out"
    done = run(world, "download", "--manifest", str(manifest), "-o", str(out))
    assert done.returncode == 2
    assert "line 3" in one_error_line(done.stderr)
    assert not out.exists() and not proxy.log


def test_manifest_round_trip_and_s5cmd_agrees(world, proxy, tmp_path) -> None:
    import shutil

    made = run(
        world,
        "manifest",
        *series_args(world, "seg_series"),
        "--with-source",
        "-o",
        str(tmp_path / "m.s5cmd"),
    )
    assert made.returncode == 0, made.stderr
    text = (tmp_path / "m.s5cmd").read_text()
    ct, seg = world.series["ct"], world.series["seg_series"]
    assert f'cp s3://idc-open-data/{seg.uuid}/* "{seg.folder}/"' in text
    assert f'cp s3://idc-open-data/{ct.uuid}/* "{ct.folder}/"' in text
    ours = tmp_path / "ours"
    done = run(world, "download", "--manifest", str(tmp_path / "m.s5cmd"), "-o", str(ours))
    assert done.returncode == 0, done.stderr
    assert tree(ours) == expected(world, "seg_series", "ct")
    s5cmd = shutil.which("s5cmd")
    if s5cmd is None:
        pytest.skip("s5cmd is not installed")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    subprocess.run(
        [
            s5cmd,
            "--endpoint-url",
            world.endpoint,
            "--no-sign-request",
            "run",
            str(tmp_path / "m.s5cmd"),
        ],
        cwd=theirs,
        check=True,
        capture_output=True,
    )
    by_folder = {}
    for rel, data in tree(theirs).items():
        by_folder.setdefault(rel.rsplit("/", 1)[0], set()).add(data)
    mine = {}
    for rel, data in tree(ours).items():
        mine.setdefault(rel.rsplit("/", 1)[0], set()).add(data)
    assert by_folder == mine  # the same folders with the same bytes (s5cmd keeps object names)
    # a download into s5cmd's folder recognises every file (MD5 against the ETag)
    frame = idcseg.download([seg.uid, ct.uid], theirs, endpoint=world.endpoint, progress=False)
    assert frame["downloaded"].sum() == 0 and frame["present"].sum() == 1 + len(ct.keys)


# --- layouts ----------------------------------------------------------------------------------


def test_layout_values_never_climb_or_split() -> None:
    layout = parse_layout("{collection_id}/{PatientID}_x/{SeriesDescription}")
    folder = layout.folder(
        {"collection_id": "..", "PatientID": "a/b\\c", "SeriesDescription": "ok\x00\n:*?"}
    )
    assert folder.parts == ("__", "a_b_c_x", "ok_____")
    assert parse_layout("").folder({}).as_posix() == "."
    assert safe_part(None) == "unknown" and safe_part("  ") == "unknown"
    long = safe_part("é" * 200)
    assert len(long.encode()) <= 120 and long != safe_part("é" * 201)
    assert parse_layout(DEFAULT_LAYOUT).fields == (
        "collection_id",
        "PatientID",
        "StudyInstanceUID",
        "Modality",
        "SeriesInstanceUID",
    )
    for bad in ("/abs/{PatientID}", "{a}", "{PatientID", "x}/y", "C:/x"):
        with pytest.raises(UsageError):
            parse_layout(bad)


def test_custom_layout(world, proxy, tmp_path) -> None:
    frame = idcseg.download(
        [world.series["ct"].uid],
        tmp_path,
        layout="{PatientID}/{Modality}-{SeriesNumber}",
        endpoint=world.endpoint,
        progress=False,
    )
    folder = Path(frame.loc[0, "folder"])
    assert folder.relative_to(tmp_path).as_posix().startswith("LIDC-IDRI-0001/CT-")
    assert len(list(folder.glob("*.dcm"))) == len(world.series["ct"].keys)


# --- manifests and the ledger, as units -------------------------------------------------------


def test_manifest_parsing() -> None:
    uuid = "6079cc3b-4b0f-41ec-bdbb-c6e754e88229"
    items = parse_manifest(
        f"# comment\n\ncp s3://idc-open-data/{uuid}/* .\n"
        f'sync --size-only s3://idc-open-data/{uuid.upper()}/* "a dir/with \\"quotes\\""\n'
        f"s3://public-datasets-idc/{uuid}/1b4f.dcm\n"
        f"cp s3://idc-open-data/{uuid}/x.dcm ./y/  # trailing comment\n"
    )
    assert [(i.bucket, i.uuid, i.key, i.line) for i in items] == [
        ("idc-open-data", uuid, None, 3),
        ("idc-open-data", uuid, None, 4),
        ("public-datasets-idc", uuid, f"{uuid}/1b4f.dcm", 5),
        ("idc-open-data", uuid, f"{uuid}/x.dcm", 6),
    ]
    for text, why in (
        ("cp s3://idc-open-data/not-a-uuid/* .", "line 1"),
        ('cp "s3://idc-open-data/x .', "unbalanced quotes"),
        ("mv s3://a/b c", "expected `cp"),
        ("# only comments\n", "names no series"),
        (f"cp s3://idc-open-data/{uuid}/a/b.dcm .", "the source must be"),
    ):
        with pytest.raises(UsageError, match=why):
            parse_manifest(text)


def test_ledger_survives_a_torn_line(tmp_path) -> None:
    from idcseg.remote.resume import Entry

    ledger = Ledger(tmp_path).load()
    ledger.record(Entry("s3://b/k1", "e1", 3, "a/k1", 1, "1.2"))
    ledger.close()
    with open(ledger.path, "ab") as fp:
        fp.write(b'{"url": "s3://b/k2", "et')  # a kill while writing
    again = Ledger(tmp_path).load()
    assert set(again.entries) == {"s3://b/k1"} and again.torn == 1
    again.record(Entry("s3://b/k3", "e3", 3, "a/k3", 1, "1.2"))
    again.close()
    third = Ledger(tmp_path).load()
    assert set(third.entries) == {"s3://b/k1", "s3://b/k3"}
    third.compact()
    assert len(ledger.path.read_text().splitlines()) == 2


def test_ledger_is_rewritten_only_when_it_holds_stale_lines(tmp_path) -> None:
    from idcseg.remote.resume import Entry

    ledger = Ledger(tmp_path).load()
    for i in range(3):
        ledger.record(Entry(f"s3://b/k{i}", "e", 3, f"a/k{i}", 1, "1.2"))
    ledger.close()
    before = ledger.path.stat()
    Ledger(tmp_path).load().compact()  # one line per file already: left as it is
    assert ledger.path.stat().st_ino == before.st_ino
    again = Ledger(tmp_path).load()
    again.record(Entry("s3://b/k1", "e2", 4, "a/k1", 2, "1.2"))  # the object changed
    again.compact()
    lines = ledger.path.read_text().splitlines()
    assert len(lines) == 3 and '"etag":"e2"' in lines[1]
    assert ledger.path.stat().st_ino != before.st_ino


# --- citations --------------------------------------------------------------------------------


def test_cite_offline(world, cli) -> None:
    done = cli("cite", *series_args(world, "seg_series", "ct"))
    assert done.code == 0, done.err
    assert (
        "[10.7937/tcia.2018.h7umfurq] lidc_idri / dicom_lidc_idri_nodules — CC BY 3.0" in done.out
    )
    assert "[10.7937/k9/tcia.2015.lo9ql9sx] lidc_idri — CC BY 3.0" in done.out
    rows = [
        json.loads(line)
        for line in cli("cite", *series_args(world, "ct"), "-f", "jsonl").out.splitlines()
    ]
    assert [(r["source_DOI"], r["series_count"]) for r in rows] == [
        ("10.7937/k9/tcia.2015.lo9ql9sx", 1)
    ]


class _Resolver:
    """A stand-in for doi.org: BibTeX or APA by the Accept header."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                accept = self.headers.get("Accept", "")
                seen.append((self.path, accept))
                doi = self.path.lstrip("/")
                if "x-bibtex" in accept:
                    body = f"@misc{{ref, doi = {{{doi}}}}}"
                elif "style=apa" in accept:
                    body = f"Someone (2020). Something. https://doi.org/{doi}"
                else:
                    self.send_response(406)
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_cite_formatted_by_the_doi_resolver(world, cli, monkeypatch, tmp_path) -> None:
    resolver = _Resolver()
    try:
        monkeypatch.setenv("IDCSEG_DOI_RESOLVER", resolver.url)
        done = cli("cite", *series_args(world, "seg_series"), "--format", "bibtex")
        assert done.code == 0, done.err
        assert "@misc{ref, doi = {10.7937/tcia.2018.h7umfurq}}" in done.out
        assert "@misc{ref, doi = {10.1148/rg.230180}}" in done.out
        assert ("/10.7937/tcia.2018.h7umfurq", "application/x-bibtex") in resolver.seen
        apa = cli(
            "cite", *series_args(world, "seg_series"), "-f", "apa", "-o", str(tmp_path / "r.txt")
        )
        assert apa.code == 0 and "Someone (2020)" in (tmp_path / "r.txt").read_text()
    finally:
        resolver.close()
    monkeypatch.setenv("IDCSEG_DOI_RESOLVER", "http://127.0.0.1:9")
    offline = cli("cite", *series_args(world, "seg_series"), "--format", "bibtex")
    assert offline.code == 1
    assert "cannot reach the DOI resolver http://127.0.0.1:9" in one_error_line(offline.err)


def test_api_dry_run_and_bad_selection(world, tmp_path) -> None:
    frame = idcseg.download(
        {"series": [world.series["seg_series"].uid]},
        tmp_path / "never",
        with_source=True,
        dry_run=True,
        endpoint=world.endpoint,
    )
    assert list(frame["status"]) == ["planned", "planned"]
    assert set(frame["role"]) == {"selected", "source"}
    assert "plan: 2 series" in frame.attrs["summary"]
    assert not (tmp_path / "never").exists()
    with pytest.raises(UsageError):
        idcseg.download(None, tmp_path)  # no selection
    with pytest.raises(IdcsegError):
        idcseg.download(["1.2.3.4.5.6.7.8.9"], tmp_path)


def test_sop_instance_uid_from_the_first_bytes(tmp_path) -> None:
    import pydicom
    from pydicom.data import get_testdata_file

    from idcseg.dicom.uids import sop_instance_uid

    path = get_testdata_file("CT_small.dcm")
    data = Path(path).read_bytes()
    want = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
    assert sop_instance_uid(data[:4096]) == want
    # no MediaStorageSOPInstanceUID in the meta group: read from the data set instead
    ds = pydicom.dcmread(path)
    del ds.file_meta.MediaStorageSOPInstanceUID
    ds.save_as(tmp_path / "no_meta_uid.dcm", enforce_file_format=False)
    assert sop_instance_uid((tmp_path / "no_meta_uid.dcm").read_bytes()[:4096]) == want
    assert sop_instance_uid(b"not dicom" * 100) is None
    assert sop_instance_uid(data[:140]) is None  # ends inside the meta group


def test_fetch_segments_reads_headers_with_the_obstore_client_too(world, proxy, tmp_path) -> None:
    """``fetch_segments`` takes the obstore client (bench/header_fetch.py compares the two)."""
    from idcseg.local.ingest import ingest
    from idcseg.local.store import Store
    from idcseg.remote.fetch import fetch_segments
    from idcseg.remote.transfer import ObjectClient

    names = ("seg_series", "seg_labelmap")
    targets = [(world.series[n].uid, downloadworld.BUCKET, world.series[n].uuid) for n in names]
    fetched = Store(tmp_path / "fetched")
    report = fetch_segments(targets=targets, store=fetched, client=ObjectClient(world.endpoint))
    assert report.ok and report.files_stored == 2, report.summary()
    assert all(e.range for e in proxy.log if "list-type" not in e.path)  # headers only
    files = []
    for n in names:
        path = tmp_path / f"{n}.dcm"
        path.write_bytes(world.series[n].data[world.series[n].keys[0]])
        files.append(path)
    ingested = Store(tmp_path / "ingested")
    assert ingest(files, store=ingested).ok

    def rows(store: Store) -> list[tuple]:
        import duckdb

        con = duckdb.connect(str(store.path), read_only=True)
        try:
            return con.execute("SELECT * FROM segmentations ORDER BY ALL").fetchall()
        finally:
            con.close()

    assert rows(fetched) == rows(ingested) and rows(fetched)
