"""What ``idcseg masks`` and ``idcseg stats`` read: SEG files, folders of them, or IDC SEG series.

:func:`resolve` sorts the SOURCE arguments into local files (a folder stands for every file under
it) and SeriesInstanceUIDs of IDC, refusing anything else with one line. :class:`SegSources`
then opens them one at a time (:class:`~idcseg.dicom.segfile.SegFile`): local files memory-mapped,
IDC series through the index and the anonymous bucket client, reading only headers until frames
are asked for. Files in folders that are not SEGs (the CT images beside them) are skipped and
counted; a SEG that cannot be read is reported with its reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from . import segheader
from .segfile import SegFile, open_path

_UID_CHARS = frozenset("0123456789.")


@dataclass(frozen=True)
class Source:
    """One thing to read: a local file (``path``) or an IDC series (``series``)."""

    path: Path | None = None
    series: str | None = None
    from_folder: bool = False

    @property
    def name(self) -> str:
        """The path or the UID, for messages."""
        return str(self.path) if self.path is not None else str(self.series)


def resolve(items: Sequence[str | os.PathLike[str]], series: Sequence[str] = ()) -> list[Source]:
    """Sort SOURCE arguments: existing files, folders (every file under them, sorted) and IDC
    SeriesInstanceUIDs (digits and dots); plus ``--series`` UIDs."""
    from ..query.spec import validate_uid

    found: list[Source] = []
    for item in items:
        path = Path(item)
        text = str(item)
        if path.is_file():
            found.append(Source(path=path))
        elif path.is_dir():
            files = sorted(
                Path(root) / name
                for root, dirs, names in os.walk(path)
                for name in names
                if not name.startswith(".")
            )
            found.extend(Source(path=f, from_folder=True) for f in files)
            if not files:
                raise UsageError(f"{text}: an empty folder")
        elif text and set(text) <= _UID_CHARS:
            found.append(Source(series=validate_uid(text, "SeriesInstanceUID")))
        else:
            raise UsageError(f"{text}: no such file or folder, and not a SeriesInstanceUID")
    for uid in series:
        found.append(Source(series=validate_uid(uid, "SeriesInstanceUID")))
    if not found:
        raise UsageError("say what to read: SEG files, folders, or IDC SeriesInstanceUIDs")
    return list(dict.fromkeys(found))


@dataclass
class Opened:
    """A SEG opened (``seg``), or why it could not be (``error``)."""

    source: Source
    seg: SegFile | None = None
    error: Exception | None = None
    location: str = ""


@dataclass
class SegSources:
    """Open the SEGs of *sources* one at a time.

    Args:
        sources: from :func:`resolve`.
        endpoint, timeout, attempts: the bucket client's (IDC series only).
        concurrency: parallel range requests per object.
    """

    sources: list[Source]
    endpoint: str | None = None
    timeout: float = 20.0
    attempts: int = 5
    concurrency: int = 8
    skipped: list[tuple[str, str]] = field(default_factory=list)
    remotes: list[Any] = field(default_factory=list)
    _client: Any = None

    @property
    def bytes_read(self) -> int:
        """Object bytes read from the bucket so far."""
        return sum(r.bytes_read for r in self.remotes)

    @property
    def bytes_total(self) -> int:
        """Total size of the bucket objects opened."""
        return sum(r.size for r in self.remotes)

    @property
    def requests(self) -> int:
        """Ranged GET requests so far (retries not counted)."""
        return sum(r.requests for r in self.remotes)

    def client(self) -> Any:
        """The anonymous S3 client (made on first use)."""
        if self._client is None:
            from ..remote.bucket import AnonymousS3

            self._client = AnonymousS3(self.endpoint, timeout=self.timeout, attempts=self.attempts)
        return self._client

    def close(self) -> None:
        """Close the bucket client's connections."""
        if self._client is not None:
            self._client.close()

    def __iter__(self) -> Iterator[Opened]:
        uids = [s.series for s in self.sources if s.series is not None]
        objects: dict[str, list[Any]] = {}
        if uids:
            from ..remote.objects import series_objects

            for obj in series_objects(list(dict.fromkeys(uids)), self.client()):
                objects.setdefault(obj.series_uid, []).append(obj)
        for source in self.sources:
            if source.path is not None:
                opened = self._open_file(source)
                if opened is not None:
                    yield opened
            else:
                assert source.series is not None
                for obj in objects.get(source.series, []):
                    yield self._open_object(source, obj)

    def _open_file(self, source: Source) -> Opened | None:
        assert source.path is not None
        try:
            return Opened(source, open_path(source.path), location=str(source.path))
        except (segheader.NotDicom, segheader.NotSegmentation) as exc:
            if source.from_folder:
                self.skipped.append((str(source.path), exc.reason))
                return None
            return Opened(source, error=exc, location=str(source.path))
        except segheader.SegReadError as exc:
            return Opened(source, error=exc, location=str(source.path))

    def _open_object(self, source: Source, obj: Any) -> Opened:
        from ..remote.bucket import S3Error
        from ..remote.ranges import ObjectBytes

        remote = ObjectBytes(
            self.client(), obj.bucket, obj.key, obj.size, concurrency=self.concurrency
        )
        self.remotes.append(remote)
        try:
            seg = SegFile.open_object(remote)
        except (segheader.SegReadError, S3Error) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            exc.args = (f"{remote.location}: {reason}",)
            return Opened(source, error=exc, location=remote.location)
        if seg.series_uid != source.series:
            error = segheader.Malformed(
                f"{remote.location} holds series {seg.series_uid}, not {source.series}"
            )
            return Opened(source, error=error, location=remote.location)
        return Opened(source, seg, location=remote.location)
