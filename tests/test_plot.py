"""Bar charts: ``idcseg.plot_counts`` and ``idcseg facets --plot``, checked on the images.

PNG files are opened with Pillow and read as pixels: a vertical scan line just right of where
the bars start crosses each bar once, so the runs of the bar colour along it are the bars; a
horizontal line through the middle of each run gives that bar's length, which must be
proportional to its count. SVG files are parsed as XML: each bar is a ``<path>`` filled with
the bar colour inside a group ``idcseg-bar-N``; its path data gives its width. Labels are checked
as text in the SVG (text is kept as text) and on the figure's axes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageColor

import idcseg
from idcseg.present.plot import BAR_COLOR, MISSING_MATPLOTLIB, bars, save_figure
from tests.conftest import run_cli
from tests.test_seg_index_series import served  # noqa: F401  (fixture: seg_index on 127.0.0.1)

SVG = "{http://www.w3.org/2000/svg}"


# --- reading the images -------------------------------------------------------------------------


def runs(line: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-d boolean array (end exclusive)."""
    padded = np.concatenate([[False], line, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def png_bars(path: Path) -> list[tuple[int, int]]:
    """The bars of a PNG chart, top to bottom, as (vertical centre, length in pixels)."""
    with Image.open(path) as img:
        assert img.format == "PNG"
        pixels = np.asarray(img.convert("RGB")).astype(int)
    colour = np.array(ImageColor.getrgb(BAR_COLOR))
    mask = (np.abs(pixels - colour) <= 2).all(axis=2)  # bar interiors are drawn in exactly it
    columns = np.flatnonzero(mask.any(axis=0))
    if columns.size == 0:
        return []
    left = int(columns.min())
    found = []
    for top, bottom in runs(mask[:, left + 2]):  # the vertical scan line
        assert bottom - top >= 8, f"a bar only {bottom - top} px high is not readable"
        middle = (top + bottom) // 2
        starts = [(a, b) for a, b in runs(mask[middle]) if a <= left + 1]
        assert len(starts) == 1, "each bar starts at the axis"
        found.append((middle, starts[0][1] - starts[0][0]))
    return found


def svg_bars(path: Path) -> list[tuple[str, float]]:
    """The bars of an SVG chart in drawing order, as (group id, width)."""
    root = ET.parse(path).getroot()
    found = []
    for group in root.iter(f"{SVG}g"):
        gid = group.get("id", "")
        if not gid.startswith("idcseg-bar-"):
            continue
        (shape,) = group.iter(f"{SVG}path")
        assert f"fill: {BAR_COLOR.lower()}" in shape.get("style", "").lower()
        xs = [float(x) for x in re.findall(r"[ML]\s*([-\d.]+)\s+[-\d.]+", shape.get("d", ""))]
        found.append((gid, max(xs) - min(xs)))
    # nothing else in the picture is painted in the bar colour
    painted = [
        e
        for e in root.iter(f"{SVG}path")
        if f"fill: {BAR_COLOR.lower()}" in e.get("style", "").lower()
    ]
    assert len(painted) == len(found)
    return found


def svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def assert_proportional(lengths: list[float], counts: list[float], slack: float = 2.5) -> None:
    """Bar lengths follow the counts: each within *slack* pixels of its share of the longest."""
    longest, peak = max(lengths), max(counts)
    for length, count in zip(lengths, counts, strict=True):
        assert abs(length - longest * count / peak) <= slack, (lengths, counts)


def ticks(fig: Any) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_yticklabels()]


# --- plot_counts --------------------------------------------------------------------------------

COUNTS = pd.DataFrame(
    {
        "value": ["Lung", "Liver", "Nodule", "Kidney", "Heart"],
        "code": ["SCT:39607008", "SCT:10200004", "SCT:27925004", "SCT:64033007", "SCT:80891009"],
        "segment_count": pd.array([40, 120, 75, 12, 75], dtype="Int64"),
        "series_count": pd.array([4, 12, 9, 2, 3], dtype="Int64"),
    }
)
EXPECTED = [("Liver", 120), ("Nodule", 75), ("Heart", 75), ("Lung", 40), ("Kidney", 12)]


def test_png_has_one_bar_per_category_sorted_and_proportional(tmp_path: Path) -> None:
    fig = idcseg.plot_counts(COUNTS, title="Segments per structure")
    assert ticks(fig) == [label for label, _ in EXPECTED]
    assert fig.axes[0].get_title(loc="left") == "Segments per structure"
    shown = [t.get_text() for t in fig.axes[0].texts]
    assert shown == ["120", "75", "75", "40", "12"]  # every bar labelled with its count
    path = save_figure(fig, tmp_path / "counts.png")
    with Image.open(path) as img:
        width, height = img.size
    assert 400 <= width <= 1400 and 150 <= height <= 900
    found = png_bars(path)
    assert len(found) == len(EXPECTED)
    assert [y for y, _ in found] == sorted(y for y, _ in found)  # drawn top to bottom
    assert_proportional([n for _, n in found], [c for _, c in EXPECTED])
    gaps = np.diff([y for y, _ in found])
    assert gaps.max() - gaps.min() <= 1  # evenly spaced


def test_svg_bars_widths_and_text(tmp_path: Path) -> None:
    path = save_figure(idcseg.plot_counts(COUNTS), tmp_path / "counts.svg")
    found = svg_bars(path)
    assert [gid for gid, _ in found] == [f"idcseg-bar-{i}" for i in range(len(EXPECTED))]
    assert_proportional([w for _, w in found], [c for _, c in EXPECTED], slack=0.01)
    texts = svg_texts(path)
    for label, count in EXPECTED:
        assert label in texts and str(count) in texts
    assert "segment_count by value" in texts  # the default title
    again = save_figure(idcseg.plot_counts(COUNTS), tmp_path / "again.svg")
    assert again.read_bytes() == path.read_bytes()  # no date, no random ids


def test_top_keeps_the_largest_and_says_so(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"collection_id": [f"c{i:02d}" for i in range(25)], "series_count": range(10, 35)}
    )
    fig = idcseg.plot_counts(frame, value="collection_id", count="series_count", title="SEGs")
    assert fig.axes[0].get_title(loc="left") == "SEGs (top 20 of 25)"
    assert ticks(fig) == [f"c{i:02d}" for i in range(24, 4, -1)]
    found = png_bars(save_figure(fig, tmp_path / "top.png"))
    assert len(found) == 20
    assert_proportional([n for _, n in found], list(range(34, 14, -1)))
    everything = idcseg.plot_counts(frame, value="collection_id", count="series_count", top=None)
    assert len(png_bars(save_figure(everything, tmp_path / "all.png"))) == 25


def test_summary_frame_from_the_real_index(tmp_path: Path) -> None:
    summary = idcseg.summary(by="analysis_result", limit=8)
    fig = idcseg.plot_counts(summary, value="analysis_result_id", count="series_count")
    expected = summary.sort_values("series_count", ascending=False, kind="stable")
    # SEG series outside any analysis result have no analysis_result_id: "(none)"
    assert ticks(fig) == expected["analysis_result_id"].fillna("(none)").tolist()
    found = svg_bars(save_figure(fig, tmp_path / "summary.svg"))
    assert len(found) == len(summary) == 8
    assert_proportional([w for _, w in found], expected["series_count"].tolist(), slack=0.01)


def test_missing_labels_duplicates_and_long_labels() -> None:
    frame = {
        "value": [None, "Left", "Left", "x" * 80],
        "code": [None, "SCT:7771000", "SRT:G-A101", None],
        "segment_count": [5, 4, 3, 1],
    }
    labels = [label for label, _ in bars(frame)[0]]
    assert labels[:3] == ["(none)", "Left (SCT:7771000)", "Left (SRT:G-A101)"]
    assert labels[3].endswith("…") and len(labels[3]) <= 48
    no_code = {"value": ["a", "a"], "segment_count": [1, 2]}
    assert bars(no_code)[0] == [("a", 2.0), ("a", 1.0)]  # two bars, not merged


def test_empty_frame_draws_no_bars(tmp_path: Path) -> None:
    empty = COUNTS.iloc[0:0]
    fig = idcseg.plot_counts(empty)
    assert [t.get_text() for t in fig.axes[0].texts] == ["no rows"]
    assert png_bars(save_figure(fig, tmp_path / "empty.png")) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": "structure"}, "no value column 'structure'"),
        ({"count": "n"}, "no count column 'n'"),
        ({"top": 0}, "top must be at least 1"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(idcseg.UsageError, match=re.escape(message)):
        idcseg.plot_counts(COUNTS, **kwargs)


@pytest.mark.parametrize("bad", [-1, "many", float("inf")])
def test_bad_counts(bad: Any) -> None:
    with pytest.raises(idcseg.UsageError, match="count column 'segment_count'"):
        idcseg.plot_counts({"value": ["a"], "segment_count": [bad]})


def test_save_figure_refuses_other_suffixes(tmp_path: Path) -> None:
    with pytest.raises(idcseg.UsageError, match=r"must end in \.png or \.svg"):
        save_figure(idcseg.plot_counts(COUNTS), tmp_path / "chart.pdf")
    assert list(tmp_path.iterdir()) == []


def test_figures_are_made_without_pyplot() -> None:
    code = (
        "import sys, idcseg; assert 'matplotlib' not in sys.modules and 'pandas' not in sys.modules"
        "\nfrom matplotlib.figure import Figure"
        "\nfig = idcseg.plot_counts({'value': ['a'], 'segment_count': [1]})"
        "\nprint(isinstance(fig, Figure), 'matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_notebooks_show_the_figure_as_png(tmp_path: Path) -> None:
    """Without pyplot no inline backend is set up, so the figure renders itself."""
    png = idcseg.plot_counts(COUNTS)._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "repr.png").write_bytes(png)
    assert len(png_bars(tmp_path / "repr.png")) == len(EXPECTED)


def test_missing_matplotlib_is_one_clear_error() -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None"
        "\nimport idcseg"
        "\ntry: idcseg.plot_counts({'value': ['a'], 'segment_count': [1]})"
        "\nexcept idcseg.IdcsegError as exc: print('ERROR', exc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"ERROR {MISSING_MATPLOTLIB}"
    assert "install idcseg[plot]" in MISSING_MATPLOTLIB


# --- idcseg facets --plot -----------------------------------------------------------------------


@pytest.fixture
def ingested(corpus: Any) -> None:
    """The highdicom corpus in this test's store (isolated_home)."""
    report = idcseg.ingest(corpus.folder / "seg", progress=False)
    assert report.ok


def table_rows(out: str) -> list[list[str]]:
    lines = out.rstrip("\n").splitlines()
    assert re.fullmatch(r"\(\d+ rows?\)", lines[-1])
    return [re.split(r"\s{2,}", line.strip()) for line in lines[2:-1]]


def test_cli_facets_plot_png_prints_the_table_and_draws_its_rows(
    ingested: None, tmp_path: Path
) -> None:
    target = tmp_path / "structures.png"
    run = run_cli("facets", "--by", "structure", "--plot", str(target))
    assert run.code == 0, run.err
    assert run.err.strip().endswith(f"plot written to {target}")
    rows = table_rows(run.out)
    # Kidney, Lung and Neoplasm twice each; Liver and Nodule (legacy SRT code) once
    assert [(r[0], int(r[2])) for r in rows] == [
        ("Kidney", 2),
        ("Lung", 2),
        ("Neoplasm", 2),
        ("Liver", 1),
        ("Nodule", 1),
    ]
    found = png_bars(target)
    assert len(found) == len(rows) == 5
    assert_proportional([n for _, n in found], [int(r[2]) for r in rows])
    with Image.open(target) as img:
        assert img.size[0] >= 400 and img.size[1] >= 150


def test_cli_facets_plot_svg_with_csv(ingested: None, tmp_path: Path) -> None:
    target = tmp_path / "modifiers.svg"
    run = run_cli("facets", "--by", "modifier", "--plot", str(target), "--format", "csv")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "value,code,segment_count,series_count"
    counts = [int(line.split(",")[2]) for line in lines[1:]]
    assert counts == [3, 2, 2, 1]
    found = svg_bars(target)
    assert len(found) == len(counts)
    assert_proportional([w for _, w in found], counts, slack=0.01)
    texts = svg_texts(target)
    assert "Segments per modifier" in texts
    assert {"(none)", "Left (SCT:7771000)", "Right", "Left (SRT:G-A101)"} <= set(texts)


def test_cli_facets_plot_with_output_file(ingested: None, tmp_path: Path) -> None:
    out = tmp_path / "facets.json"
    target = tmp_path / "facets.png"
    run = run_cli("facets", "-f", "json", "-o", str(out), "--plot", str(target), "--limit", "2")
    assert run.code == 0, run.err
    assert run.out == ""
    assert len(png_bars(target)) == 2 == len(json.loads(out.read_text()))


def test_cli_facets_level_series_plots_series_counts(
    served: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    target = tmp_path / "series.svg"
    run = run_cli(
        "facets", "--level", "series", "--by", "structure", "-f", "csv", "--plot", str(target)
    )
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "value,series_count"
    rows = [line.rsplit(",", 1) for line in lines[1:]]
    found = svg_bars(target)
    assert len(found) == len(rows) >= 3
    assert_proportional([w for _, w in found], [int(n) for _, n in rows], slack=0.01)
    texts = svg_texts(target)
    assert "SEG series per structure" in texts
    assert {value for value, _ in rows} <= set(texts)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("chart.pdf", "the name must end in .png or .svg"),
        ("missing/chart.png", "does not exist"),
    ],
)
def test_cli_facets_plot_refuses_bad_targets_before_querying(
    tmp_path: Path, name: str, message: str
) -> None:
    run = run_cli("facets", "--plot", str(tmp_path / name))
    assert run.code == 2
    assert run.out == ""
    assert run.err.startswith("idcseg: error:") and message in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_cli_facets_plot_without_matplotlib(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None"
        "\nfrom idcseg.cli import main"
        f"\nmain(['facets', '--plot', {str(tmp_path / 'x.png')!r}])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.strip() == f"idcseg: error: {MISSING_MATPLOTLIB}"
    assert not (tmp_path / "x.png").exists()


def test_cli_without_plot_does_not_import_matplotlib() -> None:
    code = (
        "import sys; from idcseg.cli import main"
        "\ntry: main(['facets', '-f', 'json'])"
        "\nexcept SystemExit: pass"
        "\nprint('MPL', 'matplotlib' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ
    )
    assert proc.stdout.strip().endswith("MPL False"), proc.stdout + proc.stderr
