"""Which image series each SEG segments (for ``idcseg download --with-source``).

For each SEG series, the first answer wins:

1. ``seg_index``: IDC's seg_index (or the segment rows of the local store) names the
   ``segmented_SeriesInstanceUID`` — no request at all.
2. ``header``: the SEG's header, read with HTTP Range requests from its first object (only the
   bytes before the per-frame data: :func:`idcseg.remote.fetch.read_object_header`), names it
   in ReferencedSeriesSequence.
3. ``instance``: the header names only a source instance (ReferencedInstanceSequence,
   ReferencedImageSequence or SourceImageSequence): the image series of the SEG's study are
   searched for it, fewest instances first, reading the first bytes of each object
   (SOPInstanceUID sits at the start of a file), at most :data:`MAX_OBJECTS_SEARCHED` objects
   per study.

A SEG none of these resolves — or whose source IDC's index does not hold — is reported with the
reason, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..dicom import segheader
from ..dicom.uids import sop_instance_uid
from ..errors import IdcsegError
from .bucket import ObjectInfo, S3Error

MAX_OBJECTS_SEARCHED = 2000
UNREACHABLE = "cannot reach the bucket: "
INSTANCE_PREFIX = 16 * 1024


@dataclass(frozen=True)
class SegToResolve:
    """A SEG series whose source is wanted, and where its objects are."""

    uid: str
    study: str | None
    bucket: str
    uuid: str
    known: str | None = None  # segmented_SeriesInstanceUID from seg_index / the store


@dataclass(frozen=True)
class Source:
    """The answer for one SEG: its source series (or ``None``), how it was found or why not."""

    seg: str
    series: str | None
    how: str  # "seg_index", "header", "instance" or "none"
    why: str | None = None


@dataclass
class Resolution:
    """Sources of a set of SEGs, and the listings read on the way (the download reuses them)."""

    sources: dict[str, Source] = field(default_factory=dict)
    listings: dict[tuple[str, str], list[ObjectInfo]] = field(default_factory=dict)
    header_reads: int = 0
    objects_searched: int = 0

    @property
    def unresolved(self) -> list[Source]:
        """The SEGs without a source series."""
        return [s for s in self.sources.values() if s.series is None]


def resolve_sources(
    segs: list[SegToResolve],
    client: Any,
    study_series: Callable[[list[str]], list[dict[str, Any]]],
    *,
    concurrency: int = 8,
) -> Resolution:
    """Find the source series of each SEG in *segs* (see the module docstring).

    *client* reads the bucket (:class:`~idcseg.remote.transfer.ObjectClient` or anything with
    its ``list_objects`` and ``get_range``); *study_series(studies)* returns the image series
    of those studies as rows with SeriesInstanceUID, StudyInstanceUID, aws_bucket and
    crdc_series_uuid, fewest instances first (``sql/study_series.sql``).
    """
    result = Resolution()
    todo = []
    for seg in segs:
        if seg.known:
            result.sources[seg.uid] = Source(seg.uid, seg.known, "seg_index")
        else:
            todo.append(seg)
    if not todo:
        return result
    # the first alone: a bucket that cannot be reached at all is one error, not one per SEG
    first = _from_header(todo[0], client, result)
    if first[2] and first[2].startswith(UNREACHABLE) and not result.listings:
        raise IdcsegError(
            f"cannot reach the bucket to read SEG headers for --with-source "
            f"({first[2].removeprefix(UNREACHABLE)}); check the network, or IDCSEG_S3_ENDPOINT"
        )
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        headers = [first, *pool.map(lambda s: _from_header(s, client, result), todo[1:])]
    by_instance: list[tuple[SegToResolve, str]] = []
    for seg, (series, instance, why) in zip(todo, headers, strict=True):
        if series:
            result.sources[seg.uid] = Source(seg.uid, series, "header")
        elif instance:
            by_instance.append((seg, instance))
        else:
            result.sources[seg.uid] = Source(seg.uid, None, "none", why)
    if by_instance:
        _search_studies(by_instance, client, study_series, result, concurrency)
    return result


def _from_header(
    seg: SegToResolve, client: Any, result: Resolution
) -> tuple[str | None, str | None, str | None]:
    """(referenced series, referenced instance, why neither) from the SEG's first object."""
    from .fetch import read_object_header

    prefix = f"{seg.uuid.strip('/')}/"
    try:
        objects = client.list_objects(seg.bucket, prefix)
    except S3Error as exc:
        if exc.status is None:
            return None, None, f"{UNREACHABLE}{exc.kind}"
        return None, None, f"cannot list the SEG's objects ({exc.kind})"
    result.listings[(seg.bucket, prefix)] = objects
    if not objects:
        return None, None, "the SEG series has no objects in the bucket"
    first = min(objects, key=lambda o: o.key)
    try:
        with segheader.quiet():
            ds, _, _, _ = read_object_header(client, seg.bucket, first.key, first.size)
    except S3Error as exc:
        return None, None, f"cannot read the SEG's header ({exc.kind})"
    except segheader.SegReadError as exc:
        return None, None, f"unreadable SEG header ({exc.reason})"
    result.header_reads += 1
    series = segheader.referenced_series(ds)
    if series:
        return series, None, None
    instance = segheader.referenced_instance(ds)
    if instance:
        return None, instance, None
    return None, None, "the SEG's header names no source series or instance"


def _search_studies(
    wanted: list[tuple[SegToResolve, str]],
    client: Any,
    study_series: Callable[[list[str]], list[dict[str, Any]]],
    result: Resolution,
    concurrency: int,
) -> None:
    """Find the series holding each wanted instance among the image series of its study."""
    studies = sorted({seg.study for seg, _ in wanted if seg.study})
    candidates: dict[str, list[dict[str, Any]]] = {}
    for row in study_series(studies) if studies else []:
        candidates.setdefault(row["StudyInstanceUID"], []).append(row)
    found: dict[str, str] = {}  # SOPInstanceUID -> SeriesInstanceUID, for all objects read
    searched: dict[str, int] = {}  # objects read per study
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for seg, instance in wanted:
            study = seg.study or ""
            for row in candidates.get(study, []):
                if instance in found or searched.get(study, 0) >= MAX_OBJECTS_SEARCHED:
                    break
                bucket, prefix = row["aws_bucket"], f"{row['crdc_series_uuid']}/"
                if (bucket, prefix) in result.listings:
                    continue  # this series was searched already
                try:
                    objects = client.list_objects(bucket, prefix)
                except S3Error:
                    continue
                result.listings[(bucket, prefix)] = objects
                room = MAX_OBJECTS_SEARCHED - searched.get(study, 0)
                objects = sorted(objects, key=lambda o: o.key)[:room]
                searched[study] = searched.get(study, 0) + len(objects)
                result.objects_searched += len(objects)
                for uid in pool.map(lambda o, b=bucket: _instance_uid(client, b, o), objects):
                    if uid:
                        found[uid] = row["SeriesInstanceUID"]
            if instance in found:
                result.sources[seg.uid] = Source(seg.uid, found[instance], "instance")
            elif not candidates.get(study):
                why = "its header names only an instance, and its study has no image series"
                result.sources[seg.uid] = Source(seg.uid, None, "none", why)
            else:
                why = (
                    f"its referenced instance {instance} is in none of the image series of its "
                    "study searched"
                )
                result.sources[seg.uid] = Source(seg.uid, None, "none", why)


def _instance_uid(client: Any, bucket: str, obj: ObjectInfo) -> str | None:
    try:
        data = client.get_range(bucket, obj.key, 0, min(obj.size, INSTANCE_PREFIX) - 1)
    except (S3Error, ValueError):
        return None
    return sop_instance_uid(data.data)
