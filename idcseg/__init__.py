"""idcseg — find DICOM Segmentations in NCI Imaging Data Commons.

Series and segments of IDC's DICOM SEG objects, with viewer links, as pandas DataFrames: offline
on IDC's own index (DuckDB, the default) or on Google BigQuery, from the same SQL templates.

>>> import idcseg
>>> idcseg.series(analysis_result="dicom_lidc_idri_nodules", limit=3)  # doctest: +SKIP
>>> idcseg.links(idcseg.random_studies(n=3, seed=42))  # doctest: +SKIP
>>> idcseg.plot_counts(idcseg.facets(by="structure"))  # doctest: +SKIP
>>> idcseg.masks("seg.dcm", reference="ct/").to_nifti("masks/")  # doctest: +SKIP
"""

from __future__ import annotations

from .api import (
    Explorer,
    Masks,
    describe,
    download,
    facets,
    find,
    ingest,
    make_seg,
    masks,
    measurements,
    random_studies,
    segment_stats,
    series,
    sql,
    structures,
    summary,
    viewer_urls,
)
from .errors import IdcsegError, StoreBusyError, UsageError
from .present.display import links
from .present.plot import plot_counts
from .query import spec
from .remote import segindex

__version__ = "0.1.0"

__all__ = [
    "Explorer",
    "IdcsegError",
    "Masks",
    "StoreBusyError",
    "UsageError",
    "describe",
    "download",
    "facets",
    "find",
    "ingest",
    "links",
    "make_seg",
    "masks",
    "measurements",
    "plot_counts",
    "random_studies",
    "segindex",
    "segment_stats",
    "spec",
    "series",
    "sql",
    "structures",
    "summary",
    "viewer_urls",
]
