"""The notebooks in ``notebooks/``: stored without outputs, and each runs top to bottom.

Each notebook is copied (with its helper ``_make_example_segs.py``) into a temporary folder and
executed there by nbclient on the ``python3`` kernel of ipykernel, one timeout per cell. The
kernel imports this checkout's idcseg, finds no Google credentials (so the BigQuery cells are
skipped, and say so), and any accidental download is pointed at a closed local port. A failing
cell fails the test with the cell's traceback. The BigQuery cells of notebook 01 also run
against the local BigQuery emulator, as they would on Google with credentials.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.bqemulator import offline_google_env

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
EXPECTED = [
    "01_find_nodule_segmentations.ipynb",
    "02_viewer_urls_and_random_studies.ipynb",
    "03_segment_metadata_in_pandas.ipynb",
    "04_nodule_masks.ipynb",
    "05_nodule_ratings.ipynb",
    "06_download_a_cohort.ipynb",
]
OFFLINE = EXPECTED[:-1]  # 06 downloads: it runs against a local S3 (test_notebook_06_...)
CELL_TIMEOUT = 60  # seconds, per cell
NOTEBOOK_BUDGET = 60  # seconds, per notebook, kernel start included
CLOSED = "http://127.0.0.1:9"
VIEWER = '<a href="https://viewer.imaging.datacommons.cancer.gov/'


def code_cells(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_notebooks_are_there() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED
    assert (NOTEBOOKS / "_make_example_segs.py").is_file()


@pytest.mark.parametrize("name", EXPECTED)
def test_stored_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in code_cells(nb):
        assert cell.outputs == [], f"{name}: a cell is stored with outputs"
        assert cell.execution_count is None, f"{name}: a cell is stored with an execution count"
        assert not {"execution", "collapsed", "scrolled"} & set(cell.metadata)


@pytest.mark.parametrize("name", EXPECTED)
def test_store_is_a_temporary_folder_set_first(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cells = [c.source for c in code_cells(nb)]
    assert 'os.environ["IDCSEG_HOME"]' in cells[0] and "tempfile" in cells[0]
    assert "import idcseg" not in cells[0]  # the store is chosen before idcseg is imported
    assert "import idcseg" in cells[1]
    assert any(
        c.cell_type == "markdown" and "IDCSEG_HOME" in c.source and "temporary" in c.source
        for c in nb.cells
    ), "a markdown cell explains the temporary store"
    assert code_cells(nb)[-1].source.strip() == "workspace.cleanup()"
    assert not any("from tests" in c.source or "import tests" in c.source for c in nb.cells)


def kernel_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The kernel's environment: this checkout's idcseg, no Google credentials, no network."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_CLOUD_PROJECT",
            "IDCSEG_BIGQUERY_ENDPOINT",
            "IDCSEG_ENGINE",
            "BIGQUERY_EMULATOR_HOST",
        )
    }
    env.update(offline_google_env(env))
    env.pop("GOOGLE_CLOUD_PROJECT", None)
    (tmp / "gcloud").mkdir()
    (tmp / "tmp").mkdir()
    (tmp / "home").mkdir()
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            "CLOUDSDK_CONFIG": str(tmp / "gcloud"),  # no application default credentials
            "TMPDIR": str(tmp / "tmp"),  # the notebooks' temporary folders land here
            "IDCSEG_HOME": str(tmp / "home"),  # the notebooks must not use it
            "IDCSEG_INDEX_URLS": f"{CLOSED}/{{version}}/seg_index.parquet",
            "IDCSEG_S3_ENDPOINT": CLOSED,
        }
    )
    env.update(extra)
    return env


def run_notebook(name: str, tmp: Path, **extra_env: str) -> tuple[Any, float]:
    """Execute a copy of notebook *name* in *tmp*/work; return it (with outputs) and seconds."""
    work = tmp / "work"
    work.mkdir()
    for path in NOTEBOOKS.iterdir():
        if path.is_file() and path.suffix in (".ipynb", ".py"):
            shutil.copy(path, work)
    nb = nbformat.read(work / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
    )
    start = time.monotonic()
    try:
        client.execute(env=kernel_env(tmp, **extra_env))
    except CellExecutionError as exc:
        pytest.fail(f"{name}: a cell failed\n{exc}")
    return nb, time.monotonic() - start


def outputs(nb: Any, kind: str) -> list[Any]:
    return [o for c in code_cells(nb) for o in c.outputs if o.output_type == kind]


def text_of(nb: Any) -> str:
    return "".join(o.text for o in outputs(nb, "stream") if o.name == "stdout")


def html_of(nb: Any) -> str:
    found = outputs(nb, "execute_result") + outputs(nb, "display_data")
    return "".join(o.data.get("text/html", "") for o in found)


def check_ran_cleanly(name: str, nb: Any, seconds: float, tmp_path: Path) -> None:
    """Every cell ran in time, without errors or warnings, and the notebook cleaned up."""
    assert seconds < NOTEBOOK_BUDGET, f"{name} took {seconds:.0f} s"
    assert all(c.execution_count for c in code_cells(nb)), "every cell ran"
    assert outputs(nb, "error") == []
    stderr = [o.text for o in outputs(nb, "stream") if o.name == "stderr"]
    assert stderr == [], f"{name} printed warnings or errors: {stderr}"
    # the notebook's own temporary store was used and removed; the given one stayed empty
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list((tmp_path / "home").iterdir()) == []
    assert code_cells(nbformat.read(NOTEBOOKS / name, as_version=4))[0].outputs == []


@pytest.mark.parametrize("name", OFFLINE)
def test_notebook_runs_offline(name: str, tmp_path: Path) -> None:
    nb, seconds = run_notebook(name, tmp_path)
    check_ran_cleanly(name, nb, seconds, tmp_path)
    text, html = text_of(nb), html_of(nb)
    if name.startswith("01"):
        assert "6,859 SEG series in 883 studies of 875 patients" in text
        assert "BigQuery: not configured" in text
        assert text.count("skipped: BigQuery not configured") == 2
        assert html.count(VIEWER) >= 10  # series links and links to SEGs over their source
        assert "initialSeriesInstanceUID=1.2.276.0.7230010.3.1.3.0.89314.1553284067.990548" in html
    elif name.startswith("05"):
        assert "34 readings of 10 nodules" in text  # 4 readers x 8 nodules + 2 IDC stand-ins
        assert "8 readings of 4 nodules" in text  # malignancy >= 4 and > 500 mm3
        assert "skipped: BigQuery not configured" in text
        assert html.count(VIEWER) == 2  # the two IDC stand-ins among the suspicious nodules
        assert "initialSeriesInstanceUID=1.2.276.0.7230010.3.1.3.0.89314.1553284067.990548" in html
        assert len(images_of(nb)) == 1  # volume by malignancy rating
        plain = "".join(o.data.get("text/plain", "") for o in outputs(nb, "execute_result"))
        assert "Volume [mm3]" in plain and "Malignancy" in plain
    elif name.startswith("02"):
        assert "same seed, same studies: True" in text
        assert '<a href="https://viewer.imaging.datacommons.cancer.gov/slim/studies/' in html
        assert '<a href="https://viewer.imaging.datacommons.cancer.gov/viewer/' in html
        assert '<a href="https://viewer.imaging.datacommons.cancer.gov/v3/viewer/' in html
        # after the ingest, the SEG with its source in OHIF v2 (IDC's link before v24)
        assert "?seriesInstanceUID=1.2.276.0.7230010.3.1.3.0.89314.1553284067.990548," in html
    elif name.startswith("03"):
        assert len(images_of(nb)) == 4  # the charts show up, once each
    else:
        assert "6,859 nodule SEG series" in text
        assert len(images_of(nb)) == 1  # the preview, once
        voxels = int(example_nodules()[..., 0].sum())  # nodule 1 on the CT's grid:
        assert f"(3, 128, 128) uint8 voxels: {voxels}\n" in text  # every voxel it was made of
        assert (
            "01_Nodule_1.nii.gz SCT:27925004" in text
            and "grid: [3, 128, 128] reference series" in text
        )
        assert "(128, 128, 3) (column, row, slice)" in text
        assert html.count("SRT:M-03010") == 2 and html.count("SCT:27925004") >= 2  # stats frames
        # the masks back into a SEG through their segments.json: the same segments
        assert "nodules_again.dcm - 2 segments\nsame voxels: True\nsame codes: True\n" in text


def example_nodules() -> Any:
    """The nodule arrays ``_make_example_segs.py`` puts into its SEG (3 slices of 128×128)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("examples04", NOTEBOOKS / "_make_example_segs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.nodule_balls(3, 128, 128)


def images_of(nb: Any) -> list[Any]:
    return [
        o
        for o in outputs(nb, "execute_result") + outputs(nb, "display_data")
        if "image/png" in o.data
    ]


def test_notebook_01_bigquery_cells_on_the_emulator(
    bq_emulator: Any, bq_idc: Any, tmp_path: Path
) -> None:
    """With BigQuery configured (here: the local emulator), the BigQuery cells run and answer."""
    nb, _ = run_notebook(
        EXPECTED[0],
        tmp_path,
        IDCSEG_BIGQUERY_ENDPOINT=bq_emulator.endpoint,
        GOOGLE_CLOUD_PROJECT="idcseg-test",
    )
    text = text_of(nb)
    assert "BigQuery: configured" in text and "skipped" not in text
    # the emulator's IDC-shaped v25 world holds two LIDC nodule SEG series, one SRT-coded nodule
    assert "BigQuery: 2 nodule SEG series (embedded index: 6,859)" in text
    assert "BigQuery: 1 nodule segment(s) (limit 20)" in text
    assert "SRT:M-03010" in "".join(
        o.data.get("text/plain", "") for o in outputs(nb, "display_data")
    )


def test_notebook_05_bigquery_cell_on_the_emulator(
    bq_emulator: Any, bq_idc: Any, tmp_path: Path
) -> None:
    """With BigQuery configured (the local emulator), the last query reads IDC's tables."""
    nb, _ = run_notebook(
        "05_nodule_ratings.ipynb",
        tmp_path,
        IDCSEG_BIGQUERY_ENDPOINT=bq_emulator.endpoint,
        GOOGLE_CLOUD_PROJECT="idcseg-test",
    )
    text = text_of(nb)
    assert "skipped: BigQuery" not in text
    # the emulator's LIDC readers 1 and 2 rated the nodule 4 and 5, volumes 523.6 and 610 mm3
    assert "BigQuery: 2 readings (limit 20)" in text


def test_notebook_06_downloads_from_a_local_bucket(tmp_path: Path) -> None:
    """Notebook 06 downloads LIDC-IDRI-0001's four SEGs and the CT they segment from a local S3
    holding those real series' folders (tests/downloadworld.py), as it would from IDC's bucket."""
    from tests import downloadworld

    world = downloadworld.build(tmp_path / "world")
    try:
        nb, seconds = run_notebook(
            "06_download_a_cohort.ipynb", tmp_path, IDCSEG_S3_ENDPOINT=world.endpoint
        )
    finally:
        world.stop()
    check_ran_cleanly("06_download_a_cohort.ipynb", nb, seconds, tmp_path)
    text = text_of(nb)
    ct, segs = world.series["ct"], [world.series[n] for n in world.series if n.startswith("seg")]
    files = len(ct.keys) + len(segs)
    assert len(segs) == 4
    # the plan, then the download: 4 SEGs and the CT three of them name (one names nothing)
    assert "plan: 5 series (4 SEG, 1 source image)" in text
    assert "1.2.276.0.7230010.3.1.3.0.89358.1553284079.860324: the SEG's header names no" in text
    assert f"downloaded {files} files" in text
    assert f"downloaded again: 0 - already present: {files}" in text
    assert "CC BY 3.0" in text and "10.7937/k9/tcia.2015.lo9ql9sx" in text  # the CT's source
    assert f'cp s3://idc-open-data/{ct.uuid}/* "lidc_idri/LIDC-IDRI-0001/' in text
    assert "(exit 0)" in text and "(exit 1)" not in text
    plain = "".join(o.data.get("text/plain", "") for o in outputs(nb, "execute_result"))
    assert "voxel_count" in plain and "volume_ml" in plain, plain
    stats = plain[plain.index("SegmentNumber") :].splitlines()
    # the first SEG (segfactory's binary_multi) on the downloaded CT: 3 segments over 5 slices
    assert [line.split()[2] for line in stats[1:]] == ["Liver", "Kidney", "Kidney"], stats
    assert all(line.split()[-3] == "1500" and line.split()[-1] == "5" for line in stats[1:])
