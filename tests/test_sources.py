"""Your own SEGs beside IDC's: the ``source`` column and filter, and the series filters of
``find`` and ``facets`` (``--body-part``, ``--sop-class``), on the embedded engine.

The world is IDC's real series index (the idc-index-data wheel) plus the highdicom SEGs of
``tests/segfactory.py`` ingested into this test's store: SEGs IDC does not have. Expected rows
come from pydicom reads of the files (``tests/dicomref.py``) and an independent DuckDB view of
the index (``index_db``).
"""

from __future__ import annotations

import json
from typing import Any

import pydicom
import pytest

import idcseg
from tests import dicomref, segfactory

SEG_CLASSES = "('1.2.840.10008.5.1.4.1.1.66.4', '1.2.840.10008.5.1.4.1.1.66.7')"


@pytest.fixture(scope="module")
def own_store(corpus: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store holding the corpus, plus a copy of its label map whose file says BodyPartExamined
    ABDOMEN (made once; the tests only read it).

    Returns ``{"home": folder, "series": {case: SeriesInstanceUID}, "rows": expected
    non-background rows}``.
    """
    home = tmp_path_factory.mktemp("own-segs")
    abdomen = segfactory.clone_seg(
        corpus.segs["labelmap"],
        home / "abdomen" / "labelmap_abdomen.dcm",
        edit=lambda ds: setattr(ds, "BodyPartExamined", "ABDOMEN"),
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IDCSEG_HOME", str(home / "store"))
        idcseg.ingest([corpus.folder / "seg", abdomen], progress=False)
    paths = {**corpus.segs, "labelmap_abdomen": abdomen}
    series = {
        case: pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID
        for case, p in paths.items()
    }
    rows = [
        row
        for path in paths.values()
        for row in dicomref.expected_rows(path)
        if not (row["SegmentNumber"] == 0 and row["SegmentedPropertyType"]["CodeValue"] == "125040")
    ]
    return {"home": home / "store", "series": series, "rows": rows}


@pytest.fixture
def own(own_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """This test reads the store of :func:`own_store`."""
    monkeypatch.setenv("IDCSEG_HOME", str(own_store["home"]))
    return own_store


def test_own_segs_are_labelled_local_and_filtered(own: dict[str, Any], index_db: Any) -> None:
    mine = set(own["series"].values())
    local = idcseg.series(source="local")
    assert set(local.SeriesInstanceUID) == mine and set(local.source) == {"local"}
    assert local.viewer_url.isna().all()  # IDC does not host them: no viewer link
    (idc_count,) = index_db.execute(
        f"SELECT COUNT(DISTINCT SeriesInstanceUID) FROM idx WHERE SOPClassUID IN {SEG_CLASSES}"
    ).fetchone()
    idc = idcseg.summary(source="idc")
    assert set(idc.source) == {"idc"} and idc.series_count.sum() == idc_count
    everything = idcseg.summary()
    (group,) = everything[everything.source == "local"].itertuples()
    assert group.series_count == len(mine) and group.Index == len(everything) - 1  # last
    assert everything.series_count.sum() == idc_count + len(mine)
    # a description shared by IDC's and your SEGs: every row says where it is from
    described = idcseg.series(description="test SEG")
    assert set(described[described.source == "local"].SeriesInstanceUID) <= mine
    assert not set(idcseg.series(description="test SEG", source="idc").SeriesInstanceUID) & mine


def test_find_and_facets_take_the_source_filter(own: dict[str, Any]) -> None:
    everything = idcseg.find()
    assert set(everything.source) == {"local"} and len(everything) == len(own["rows"])
    assert idcseg.find(source="idc").empty
    assert idcseg.find(source="local").equals(everything)
    per_series = idcseg.find(per="series", source="local")
    assert set(per_series.SeriesInstanceUID) == set(own["series"].values())
    assert set(per_series.source) == {"local"}
    assert idcseg.facets("structure", source="idc").empty


@pytest.mark.parametrize(
    ("filters", "cases"),
    [
        ({"sop_class": "labelmap"}, {"labelmap", "labelmap_abdomen"}),
        ({"sop_class": "binary"}, {"binary_multi", "fractional", "legacy_srt", "minimal"}),
        ({"body_part": "abdomen"}, {"labelmap_abdomen"}),  # the SEG's own, any case
        ({"body_part": "ABDOMEN", "sop_class": "binary"}, set()),
        ({"body_part": "CHEST"}, set()),
    ],
)
def test_find_takes_body_part_and_sop_class(
    own: dict[str, Any], filters: dict[str, str], cases: set[str]
) -> None:
    wanted = {own["series"][c] for c in cases}
    expected = {
        (r["SOPInstanceUID"], r["SegmentNumber"])
        for r in own["rows"]
        if r["SeriesInstanceUID"] in wanted
    }
    frame = idcseg.find(**filters)
    assert set(zip(frame.SOPInstanceUID, frame.SegmentNumber, strict=True)) == expected
    facets = idcseg.facets("structure", **filters)
    assert facets.segment_count.sum() == len(expected)


def test_cli_find_with_series_filters_and_a_labelled_summary(own: dict[str, Any], cli: Any) -> None:
    run = cli(
        "find",
        "--body-part",
        "ABDOMEN",
        "--sop-class",
        "labelmap",
        "--source",
        "local",
        "-f",
        "json",
    )
    assert run.code == 0, run.err
    rows = json.loads(run.out)
    assert {r["SeriesInstanceUID"] for r in rows} == {own["series"]["labelmap_abdomen"]}
    assert {r["source"] for r in rows} == {"local"}
    summary = cli("summary", "-f", "csv")
    header, *lines = summary.out.splitlines()
    assert header.startswith("source,collection_id,series_count")
    assert lines[-1].startswith("local,,6,")  # your SEGs: a group of their own, labelled, last
    facets = cli("facets", "--by", "structure", "--sop-class", "labelmap", "-f", "json")
    assert {r["value"] for r in json.loads(facets.out)} == {"Lung"}
