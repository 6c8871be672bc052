"""The highdicom side of ``bench/masks.py``: what a user writes without idcseg.

    python bench/masks_highdicom.py SEG OUT_DIR

``highdicom.seg.segread`` the file, then for each segment ``get_volume(segment_numbers=[n])``
and nibabel's ``nib.save`` of a ``.nii.gz`` (the volume's LPS affine turned into NIfTI's RAS
for axes column, row, slice) — a plain loop, one segment in memory at a time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np


def main(seg_path: str, out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    seg = hd.seg.segread(seg_path)
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    for number in seg.segment_numbers:
        volume = seg.get_volume(segment_numbers=[number])
        array = volume.array[..., 0]  # (slices, rows, columns)
        affine = flip @ volume.affine[:, [2, 1, 0, 3]]  # axes (column, row, slice), RAS
        image = nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), affine)
        nib.save(image, folder / f"{number}.nii.gz")


if __name__ == "__main__":
    main(*sys.argv[1:3])
