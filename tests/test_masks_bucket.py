"""Masks of IDC series straight from the bucket: header first, then only the wanted frames.

A local S3 (moto on 127.0.0.1) behind the fault-injecting proxy of ``tests/s3server.py`` holds a
multi-segment sparse SEG under IDC's key layout; a stand-in IDC index (``tests/fetchworld.py``)
maps its SeriesInstanceUID to it. Every request the proxy logs is checked: which bytes were
asked for, and that no other segment's frames were read.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import numpy as np
import pydicom
import pytest

import idcseg
from idcseg.dicom.segfile import SegFile
from idcseg.errors import IdcsegError
from tests import fetchworld, segfactory
from tests.s3server import FaultProxy, LocalS3

BUCKET = fetchworld.BUCKET
SEGMENTS = 12


class World:
    """The SEG, its local copy, the servers and the stand-in index."""

    def __init__(self, folder: Path) -> None:
        ct = segfactory.volume_ct(folder / "ct", "axial", n_slices=30, size=(512, 512))
        rng = np.random.default_rng(8)
        pixels = np.zeros((30, 512, 512, SEGMENTS), dtype=bool)
        for k in range(SEGMENTS):  # each segment on 6 slices: 72 frames, 2.4 MB
            first = int(rng.integers(0, 24))
            pixels[first : first + 6, 30 * k : 30 * k + 40, 30:200, k] = True
        self.pixels = pixels
        self.ct = ct
        segments = [
            segfactory.Seg(k + 1, f"organ {k + 1}", segfactory.ANATOMICAL_STRUCTURE,
                           segfactory.KIDNEY if k % 2 else segfactory.LIVER, "AUTOMATIC", "TS")
            for k in range(SEGMENTS)
        ]  # fmt: skip
        self.seg = segfactory.seg_of_arrays(ct, folder / "seg.dcm", pixels, segments)
        self.uid = str(pydicom.dcmread(self.seg, stop_before_pixels=True).SeriesInstanceUID)
        self.s3 = LocalS3()
        self.s3.public_bucket(BUCKET)
        self.proxy = FaultProxy((self.s3.host, self.s3.port))
        one = fetchworld.Series("masks", self.uid, str(uuid.uuid4()))
        one.keys.append(f"{one.uuid}/{uuid.uuid4()}.dcm")
        one.files.append(self.seg)
        self.s3.put(BUCKET, one.keys[0], self.seg)
        self.key = one.keys[0]
        empty = fetchworld.Series("empty", "1.2.3.4.5.6.7.8", str(uuid.uuid4()), header=self.seg)
        self.index_root = folder / "index"
        fetchworld._write_index(
            self.index_root / "idc_index_data", {"masks": one, "empty": empty}, ("masks", "empty")
        )
        self.size = self.seg.stat().st_size

    def stop(self) -> None:
        self.proxy.stop()
        self.s3.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    built = World(tmp_path_factory.mktemp("masks-bucket"))
    yield built
    built.stop()


@pytest.fixture
def proxy(world):
    world.proxy.reset()
    yield world.proxy
    world.proxy.reset()


@pytest.fixture
def idc(world, monkeypatch: pytest.MonkeyPatch):
    """This process's embedded engine reads the stand-in index; the bucket is the proxy."""
    import idcseg.local.store as store_module
    import idcseg.query.engines.duckdb as engine_module

    monkeypatch.setattr(store_module, "index_dir", lambda: world.index_root / "idc_index_data")
    monkeypatch.setattr(engine_module, "index_dir", lambda: world.index_root / "idc_index_data")
    monkeypatch.setenv("IDCSEG_S3_ENDPOINT", world.proxy.endpoint)
    return world


def ranges_read(proxy: FaultProxy, key: str) -> list[tuple[int, int]]:
    """``[start, stop)`` of every ranged GET of *key* the proxy answered."""
    found = []
    for entry in proxy.log:
        if entry.path.endswith(key) and entry.range:
            a, b = re.fullmatch(r"bytes=(\d+)-(\d+)", entry.range).groups()
            found.append((int(a), int(b) + 1))
    return found


def frame_bytes(world: World, number: int) -> list[tuple[int, int]]:
    with SegFile.open(world.seg) as seg:
        return [seg.table.frame_range(int(i)) for i in seg.segments[number].frames]


def test_one_segment_reads_the_header_and_its_frames_only(idc, proxy) -> None:
    with idcseg.masks(idc.uid, segments=5) as m:
        volume = m[5]
        read = m.bytes_read
    with idcseg.masks(idc.seg, segments=5) as local:
        assert np.array_equal(volume, local[5])  # the same as from the file
    mine = frame_bytes(idc, 5)
    ranges = ranges_read(proxy, idc.key)
    prefix = ranges[0]
    assert prefix[0] == 0
    others = [r for n in range(1, SEGMENTS + 1) if n != 5 for r in frame_bytes(idc, n)]
    for a, b in ranges[1:]:
        assert any(a <= x and y <= b for x, y in mine), (a, b)  # holds a wanted frame
        beyond = [(x, y) for x, y in others if x < b and y > a and x >= prefix[1]]
        assert not beyond, f"bytes {a}-{b} read frames of other segments"
    assert sum(b - a for a, b in ranges) == read
    wanted = sum(b - a for a, b in mine)
    assert read <= prefix[1] + wanted + 64 * 1024
    assert read < idc.size / 4  # bench/masks.py: 100 MB SEGs


def test_all_segments_and_stats_from_the_bucket(idc, proxy) -> None:
    stats = idcseg.segment_stats(idc.uid)
    local = idcseg.segment_stats(idc.seg)
    assert stats.drop(columns="SOPInstanceUID").equals(local.drop(columns="SOPInstanceUID"))
    assert stats.voxel_count.tolist() == [int(idc.pixels[..., k].sum()) for k in range(SEGMENTS)]


@pytest.mark.parametrize("fault", ["503", "reset", "truncate", "short206", "norange"])
def test_faults_on_frame_reads_are_retried(idc, proxy, fault) -> None:
    from idcseg.remote import ranges

    with idcseg.masks(idc.uid, segments=[2, 7]) as m:
        proxy.add(idc.key, fault, times=2)  # the next two requests: the frames
        first, second = m[2], m[7]
    with idcseg.masks(idc.seg, segments=[2, 7]) as local:
        assert np.array_equal(first, local[2]) and np.array_equal(second, local[7])
    hit = [e for e in proxy.log if e.fault]
    assert len(hit) == 2 and ranges.GAP > 0


def test_an_unknown_series_and_an_empty_series_are_one_line(idc, proxy, cli) -> None:
    with pytest.raises(IdcsegError, match="not in IDC's index"):
        idcseg.masks("1.2.3.999")
    with pytest.raises(IdcsegError, match="no objects under s3://idc-open-data/"):
        idcseg.masks("1.2.3.4.5.6.7.8")


def test_a_bucket_that_fails_for_good(idc, proxy) -> None:
    proxy.add(idc.key, "503", times=None)
    with pytest.raises(IdcsegError, match="HTTP 503"):
        idcseg.masks(idc.uid, endpoint=idc.proxy.endpoint)


def test_cli_reports_the_share_of_the_file_read(idc, proxy, cli, tmp_path: Path) -> None:
    env = {
        "PYTHONPATH": os.pathsep.join([str(idc.index_root), os.environ.get("PYTHONPATH", "")]),
        "IDCSEG_S3_ENDPOINT": idc.proxy.endpoint,
    }
    out = tmp_path / "out"
    run = cli("masks", idc.uid, "-n", "3", "-o", str(out), "--format", "npz", env=env)
    assert run.code == 0, run.err
    with np.load(out / "03_organ_3.npz") as npz:
        mask = npz["mask"]
    with idcseg.masks(idc.seg, segments=3) as local:
        assert np.array_equal(mask, local[3])
    found = re.search(
        r"read ([\d.]+) (kB|MB) of ([\d.]+) MB \(([\d.]+)%\) from the bucket", run.err
    )
    assert found, run.err
    share = float(found.group(4))
    read = sum(b - a for a, b in ranges_read(proxy, idc.key))
    assert share == pytest.approx(100 * read / idc.size, abs=0.1)
    same = cli("masks", "--series", idc.uid, "-n", "3", "-o", str(tmp_path / "again"), env=env)
    assert same.code == 0, same.err
