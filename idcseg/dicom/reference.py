"""The image series a SEG segments, read from a folder of DICOM files.

``idcseg masks --reference DIR`` puts masks on the grid of the segmented series (a CT, MR, PET
series of single-frame images): :class:`ReferenceFolder` reads the headers of every DICOM file
under DIR once (images only; SEGs and other objects beside them are skipped), groups them by
series, and :meth:`ReferenceFolder.series_for` picks the series a SEG references (its
ReferencedSeriesSequence), or the only series in its frame of reference. The series' grid is
:meth:`Grid.from_slices <idcseg.dicom.geometry.Grid.from_slices>`: it must be one complete,
regular stack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IdcsegError
from .geometry import GeometryError, Grid

_TAGS = [
    "SOPClassUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "Modality",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "SliceThickness",
    "SpacingBetweenSlices",
    "SeriesDescription",
]
_NOT_IMAGES = ("1.2.840.10008.5.1.4.1.1.66", "1.2.840.10008.5.1.4.1.1.88")  # SEG…, SR


@dataclass
class ImageSeries:
    """One image series of the folder, as a regular grid.

    ``files[k]`` is the file of slice *k* of :attr:`grid`.
    """

    series_uid: str
    frame_of_reference: str | None
    modality: str | None
    description: str | None
    grid: Grid
    files: list[Path]

    def image(self, k: int) -> np.ndarray:
        """Slice *k*'s pixels in modality units (RescaleSlope/Intercept applied), float32."""
        import pydicom

        ds = pydicom.dcmread(self.files[k])
        pixels = ds.pixel_array.astype(np.float32)
        slope = float(ds.get("RescaleSlope") or 1)
        intercept = float(ds.get("RescaleIntercept") or 0)
        return pixels * slope + intercept


class ReferenceFolder:
    """The image series under *folder* (read once; headers only)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise IdcsegError(f"--reference {folder}: not a folder")
        self._files: dict[str, list[tuple[Path, Any]]] = {}
        self._series: dict[str, ImageSeries] = {}
        self.skipped = 0
        self._read()
        if not self._files:
            raise IdcsegError(
                f"--reference {folder}: no DICOM images there (the segmented series' files)"
            )

    def _read(self) -> None:
        import pydicom
        from pydicom.errors import InvalidDicomError

        for root, dirs, names in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                path = Path(root) / name
                try:
                    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_TAGS)
                except (InvalidDicomError, OSError, ValueError, EOFError, TypeError):
                    self.skipped += 1
                    continue
                sop = str(ds.get("SOPClassUID") or "")
                uid = ds.get("SeriesInstanceUID")
                if not uid or sop.startswith(_NOT_IMAGES) or "ImagePositionPatient" not in ds:
                    self.skipped += 1
                    continue
                self._files.setdefault(str(uid), []).append((path, ds))

    @property
    def series_uids(self) -> list[str]:
        """SeriesInstanceUIDs of the image series found."""
        return sorted(self._files)

    def series(self, uid: str) -> ImageSeries:
        """The image series *uid* as a grid (:class:`GeometryError` if it is not a regular
        stack)."""
        if uid not in self._series:
            items = self._files[uid]
            if any(int(ds.get("NumberOfFrames") or 1) > 1 for _, ds in items):
                raise GeometryError(
                    f"--reference: series {uid} holds multi-frame images; idcseg reads "
                    "single-frame image series"
                )
            datasets = [ds for _, ds in items]
            grid = Grid.from_slices(datasets, what=f"reference series {uid}")
            order = np.round(
                grid.to_index(
                    np.array([[float(v) for v in ds.ImagePositionPatient] for ds in datasets])
                )[:, 0]
            ).astype(int)
            files: list[Path | None] = [None] * grid.shape[0]
            for (path, _), k in zip(items, order, strict=True):
                files[k] = path
            first = datasets[0]
            self._series[uid] = ImageSeries(
                uid,
                str(first.get("FrameOfReferenceUID") or "") or None,
                str(first.get("Modality") or "") or None,
                str(first.get("SeriesDescription") or "") or None,
                grid,
                files,  # type: ignore[arg-type]
            )
        return self._series[uid]

    def series_for(
        self, referenced: str | None, frame_of_reference: str | None, what: str
    ) -> ImageSeries:
        """The series a SEG segments: *referenced* if it is here; else the only series in
        *frame_of_reference*. *what* names the SEG in messages."""
        if referenced and referenced in self._files:
            return self.series(referenced)
        same_frame = [
            uid
            for uid, items in self._files.items()
            if frame_of_reference
            and str(items[0][1].get("FrameOfReferenceUID") or "") == frame_of_reference
        ]
        found = ", ".join(self.series_uids[:3]) + (" …" if len(self._files) > 3 else "")
        if referenced:
            raise GeometryError(
                f"{what} segments series {referenced}, which is not in {self.folder} "
                f"(it holds {found})"
            )
        if len(same_frame) == 1:
            return self.series(same_frame[0])
        raise GeometryError(
            f"{what} names no segmented series and {len(same_frame)} series of {self.folder} "
            f"share its frame of reference: give a folder holding only the segmented series"
        )
