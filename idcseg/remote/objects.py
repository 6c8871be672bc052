"""IDC SEG series → the SEG objects in IDC's public bucket, opened for reading masks.

A SeriesInstanceUID is looked up in the embedded index (bucket and ``crdc_series_uuid``, as
``fetch-segments`` does, :func:`idcseg.remote.fetch.index_targets`), its objects are listed
(anonymous ListObjectsV2), and each is opened with :meth:`SegFile.open_object
<idcseg.dicom.segfile.SegFile.open_object>`: its first bytes until the header and frame
descriptions are complete; frames are read later, by byte range, as they are asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import IdcsegError
from .bucket import AnonymousS3, S3Error
from .ranges import ObjectBytes


@dataclass(frozen=True)
class SeriesObject:
    """One object of an IDC series: where it is and how big."""

    series_uid: str
    bucket: str
    key: str
    size: int


def series_objects(uids: Sequence[str], client: AnonymousS3) -> list[SeriesObject]:
    """The bucket objects of IDC series *uids*, in order; an unknown series or an empty
    listing is an :class:`~idcseg.errors.IdcsegError` naming it."""
    from ..query.spec import SeriesFilter
    from .fetch import index_targets

    targets, missing = index_targets(SeriesFilter.build(series=list(uids)))
    if missing:
        uid, why = missing[0]
        raise IdcsegError(
            f"series {uid}: {why} (is it an IDC SEG series? `idcseg series --series UID`)"
        )
    found: list[SeriesObject] = []
    for target in targets:
        try:
            objects = client.list_objects(target.bucket, target.prefix)
        except S3Error as exc:
            raise IdcsegError(f"cannot list {target.url}: {exc}") from None
        if not objects:
            raise IdcsegError(f"series {target.series_uid}: no objects under {target.url}")
        for info in sorted(objects, key=lambda o: o.key):
            found.append(SeriesObject(str(target.series_uid), target.bucket, info.key, info.size))
    return found


def open_objects(
    objects: Sequence[SeriesObject], client: AnonymousS3, concurrency: int = 8
) -> Iterator[tuple[SeriesObject, ObjectBytes]]:
    """An :class:`~idcseg.remote.ranges.ObjectBytes` for each object (nothing read yet)."""
    for obj in objects:
        yield obj, ObjectBytes(client, obj.bucket, obj.key, obj.size, concurrency=concurrency)
