"""Peak memory of reading the header of a Deflate-compressed SEG, idcseg against plain pydicom.

A deflated SEG (Deflated Explicit VR Little Endian) whose pixel data are zeros is ~1 MB on disk
per 512 MB of pixel data. Reading only its header should cost what reading any SEG header costs;
a reader that inflates the whole file first (pydicom does, even with ``stop_before_pixels``) needs
the inflated size and more. For each file, fresh processes of

  (a) ``idcseg describe FILE -f csv``                      (the segment table of the header), and
  (b) ``pydicom.dcmread(FILE, stop_before_pixels=True)``   (what a user would write instead),

run one at a time; each reports its own peak RSS (VmHWM of its memory, read at exit) and wall
time. The SEGs are made here with highdicom (tests/segfactory.py) and re-encoded deflated
(tests/deflated.py). Medians of ``-n`` runs.

    python bench/deflate_memory.py            # 3 runs each, 512 MB and 1 GB of pixel data
    python bench/deflate_memory.py -n 5 --sizes 256 1024 2048
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_MEASURED = """
import atexit, sys

def _hwm():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    sys.stderr.write("VmHWM " + peak + "\\n")

atexit.register(_hwm)
if sys.argv[1] == "idcseg":
    from idcseg.cli import main
    main(["describe", sys.argv[2], "-f", "csv"])
else:
    import pydicom
    ds = pydicom.dcmread(sys.argv[2], stop_before_pixels=True)
    print(len(ds.SegmentSequence), "segments")
"""


def measure(tool: str, path: Path) -> tuple[float, float, int]:
    """(wall s, peak RSS MiB, exit code) of one fresh process."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURED, tool, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    wall = time.perf_counter() - started
    peak = [line for line in proc.stderr.splitlines() if line.startswith("VmHWM ")]
    return wall, int(peak[-1].split()[1]) / 1024 if peak else float("nan"), proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=3, help="runs per tool and file")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[512, 1024], help="MB of zero pixel data"
    )
    args = parser.parse_args()
    from tests import segfactory
    from tests.deflated import write_deflated

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        seg = segfactory.make_all(work)["binary_multi"]
        files = {"uncompressed SEG": seg, "deflated, as made": write_deflated(seg, work / "d.dcm")}
        for mb in args.sizes:
            files[f"deflated, {mb} MB of pixels"] = write_deflated(
                seg, work / f"d{mb}.dcm", pixel_zeros=mb * 2**20
            )
        print(f"{'file':32} {'on disk':>10}  {'tool':8} {'wall s':>7} {'peak MiB':>9}  exit")
        for name, path in files.items():
            for tool in ("idcseg", "pydicom"):
                runs = [measure(tool, path) for _ in range(args.n)]
                wall = statistics.median(r[0] for r in runs)
                peak = statistics.median(r[1] for r in runs)
                codes = sorted({r[2] for r in runs})
                size = f"{path.stat().st_size / 1e3:,.0f} kB"
                print(f"{name:32} {size:>10}  {tool:8} {wall:7.2f} {peak:9.0f}  {codes}")


if __name__ == "__main__":
    main()
