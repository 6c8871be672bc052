"""IDC's published ``seg_index.parquet``: one row per DICOM SEG series, fetched into the store.

IDC publishes ``seg_index.parquet`` (~6 MB) with each ``idc-index-data`` release, but not inside
the wheel; the wheel carries only its schema (``seg_index_schema.json``). :func:`fetch` downloads
the file for the installed release, checks it (SHA-256 sidecar where the source publishes one,
the wheel's schema, at least one row) and only then moves it into place::

    $IDCSEG_HOME/seg_index/<version>/seg_index.parquet
    $IDCSEG_HOME/seg_index/<version>/meta.json     (source, sha256, bytes, rows, fetched_at)

A download is written to a temporary file beside them, so a half-downloaded or failed file is
never used and never replaces a good copy. :func:`path` returns the verified file or ``None``;
queries must not guess.

Only the standard library talks to the network (``urllib``); ``pyarrow`` reads the schema.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ..errors import IdcsegError, UsageError

URLS_ENV = "IDCSEG_INDEX_URLS"
TIMEOUT_ENV = "IDCSEG_INDEX_TIMEOUT"
DEFAULT_URLS: tuple[str, ...] = (
    "https://github.com/ImagingDataCommons/idc-index-data/releases/download/{version}/seg_index.parquet",
    "https://storage.googleapis.com/idc-index-data-artifacts/{version}/release_artifacts/seg_index.parquet",
)
DEFAULT_TIMEOUT = 30.0
FILE_NAME = "seg_index.parquet"
META_NAME = "meta.json"
SIDECAR_SUFFIX = ".sha256"

_CHUNK = 64 * 1024
_PART_SUFFIX = ".part"
_STALE_PART_SECONDS = 24 * 3600
_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")
# BigQuery type (mode) -> the Arrow types a parquet export may use for it
_STRINGS = ("string", "large_string", "string_view")
_ARROW_TYPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("STRING", "NULLABLE"): _STRINGS,
    ("STRING", "REQUIRED"): _STRINGS,
    ("INTEGER", "NULLABLE"): ("int64",),
    ("INTEGER", "REQUIRED"): ("int64",),
    ("STRING", "REPEATED"): tuple(
        f"{lst}<{s}>" for lst in ("list", "large_list", "list_view") for s in _STRINGS
    ),
}


class SourceError(IdcsegError):
    """One source could not provide a good file; the message names the URL and the reason."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class FetchError(IdcsegError):
    """Every source failed; ``failures`` holds each source's :class:`SourceError`."""

    def __init__(self, version: str, failures: Sequence[SourceError]) -> None:
        reasons = "; ".join(str(f) for f in failures)
        super().__init__(
            f"cannot fetch {FILE_NAME} for idc-index-data {version}: {reasons} (without a "
            f"network: copy the file here, then idcseg index fetch --url /PATH/{FILE_NAME})"
        )
        self.version = version
        self.failures = list(failures)


class _NoSidecar(Exception):
    """The source publishes no checksum sidecar (HTTP 404; a missing file for file:// URLs)."""


# --- where things are -------------------------------------------------------------------------


def root(folder: Path | str | None = None) -> Path:
    """The ``seg_index`` folder of the store (``$IDCSEG_HOME/seg_index`` by default)."""
    from ..local.store import Store

    return Store(folder).folder / "seg_index"


def resolve_version(version: str | None = None) -> str:
    """*version*, or the installed idc-index-data version; checked to be a safe folder name."""
    if version is None:
        from ..local.store import index_version

        version = index_version()
    if not _VERSION_RE.match(version) or ".." in version:
        raise UsageError(f"not a valid idc-index-data version: {version!r}")
    return version


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / META_NAME).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def check(
    version: str | None = None, *, folder: Path | str | None = None
) -> tuple[Path | None, str | None]:
    """``(file, None)`` when a verified seg_index is stored for *version*, ``(None, None)`` when
    none is, and ``(None, problem)`` when one is there but damaged (truncated, edited, its
    ``meta.json`` garbled or missing).

    The file must have the size and SHA-256 recorded in ``meta.json``; the checksum is computed
    only when the file's modification time is not the one recorded at installation.
    """
    where = root(folder) / resolve_version(version)
    file = where / FILE_NAME
    meta_file = where / META_NAME
    try:
        size = file.stat()
    except OSError:
        size = None
    if size is None and not meta_file.exists():
        return None, None
    meta = _read_meta(where)
    if meta is None:
        return None, f"its {META_NAME} is unreadable"
    if size is None:
        return None, f"{FILE_NAME} is missing"
    if meta.get("version") != where.name:
        return None, f"its {META_NAME} is for version {meta.get('version')!r}"
    if meta.get("bytes") != size.st_size:
        return None, f"{FILE_NAME} has {size.st_size:,} bytes, {meta.get('bytes')!r} were fetched"
    if meta.get("mtime_ns") != size.st_mtime_ns:
        digest = _sha256(file)
        if digest != meta.get("sha256"):
            shown = f" (sha256 {digest[:12]}…)" if digest else ""
            return None, f"{FILE_NAME} was changed since it was fetched{shown}"
        _remember_mtime(meta_file, meta, size.st_mtime_ns)  # next time: no hash needed
    return file, None


def _remember_mtime(meta_file: Path, meta: dict[str, Any], mtime_ns: int) -> None:
    """Record the modification time of a file whose checksum was just verified (a copy
    fetched by an earlier version, or touched): later checks then skip hashing it."""
    tmp = meta_file.with_name(f".{META_NAME}.{os.getpid()}{_PART_SUFFIX}")
    try:
        tmp.write_text(json.dumps({**meta, "mtime_ns": mtime_ns}, indent=2) + "\n")
        os.replace(tmp, meta_file)
    except OSError:
        tmp.unlink(missing_ok=True)


def _sha256(file: Path) -> str | None:
    import hashlib

    digest = hashlib.sha256()
    try:
        with file.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def path(version: str | None = None, *, folder: Path | str | None = None) -> Path | None:
    """The verified ``seg_index.parquet`` for *version* (default: the installed idc-index-data).

    Returns ``None`` unless :func:`fetch` completed for that version and the file is as fetched
    (see :func:`check`, which also says what is wrong with a damaged copy). Cheap (two stats and
    a small JSON read), so queries may call it every time.
    """
    return check(version, folder=folder)[0]


def verified(
    version: str | None = None, *, folder: Path | str | None = None, refetch: bool = True
) -> Path | None:
    """The verified seg_index, ``None`` when none is stored; a damaged copy is fetched again.

    A damaged copy (see :func:`check`) is never read as if absent, which would change answers:
    one line on stderr says so, and it is fetched again (*refetch*) or an :class:`IdcsegError`
    says what to do.
    """
    file, problem = check(version, folder=folder)
    if problem is None:
        return file
    where = root(folder) / resolve_version(version)
    todo = (
        f"fetch it again (idcseg index fetch --force; offline: --url /PATH/{FILE_NAME}) "
        f"or delete {where} to query without it"
    )
    if not refetch:
        raise IdcsegError(f"IDC's seg_index in {where} is damaged ({problem}); {todo}")
    print(
        f"idcseg: IDC's seg_index in {where} is damaged ({problem}); fetching it again",
        file=sys.stderr,
    )
    try:
        return fetch(version, folder=folder, force=True)
    except IdcsegError as exc:
        raise IdcsegError(
            f"IDC's seg_index in {where} is damaged ({problem}) and could not be fetched again "
            f"({exc}); {todo}"
        ) from None


def status(version: str | None = None, *, folder: Path | str | None = None) -> dict[str, Any]:
    """What the store holds for *version*: present, path, rows, bytes, sha256, source, age...

    Keys: ``present``, ``problem`` (what is wrong with a damaged copy, else ``None``),
    ``version``, ``path``, ``rows``, ``bytes``, ``sha256``, ``sha256_verified`` (a published
    checksum was checked), ``source``, ``fetched_at`` (ISO 8601, UTC), ``age_seconds``,
    ``other_versions`` (copies kept for other releases).
    """
    version = resolve_version(version)
    base = root(folder)
    file, problem = check(version, folder=folder)
    meta = _read_meta(base / version) if file is not None else None
    info: dict[str, Any] = {
        "present": file is not None,
        "problem": problem,
        "version": version,
        "path": str(file) if file is not None else None,
        "rows": None,
        "bytes": None,
        "sha256": None,
        "sha256_verified": None,
        "source": None,
        "fetched_at": None,
        "age_seconds": None,
    }
    if meta is not None:
        for key in ("rows", "bytes", "sha256", "sha256_verified", "source", "fetched_at"):
            info[key] = meta.get(key)
        try:
            fetched = datetime.fromisoformat(str(meta.get("fetched_at")))
            info["age_seconds"] = max(0, round((datetime.now(UTC) - fetched).total_seconds()))
        except (TypeError, ValueError):
            pass
    try:
        others = sorted(
            p.name
            for p in base.iterdir()
            if p.is_dir() and p.name != version and (p / FILE_NAME).is_file()
        )
    except OSError:
        others = []
    info["other_versions"] = others
    return info


# --- the wheel's schema -----------------------------------------------------------------------


def expected_columns() -> list[tuple[str, str, str]]:
    """``(name, type, mode)`` of each column, from the installed wheel's seg_index_schema.json."""
    from ..local.store import index_dir

    schema_file = index_dir() / "seg_index_schema.json"
    try:
        columns = json.loads(schema_file.read_text())["columns"]
        return [(c["name"], c["type"], c.get("mode") or "NULLABLE") for c in columns]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IdcsegError(f"cannot read the seg_index schema {schema_file}: {exc}") from None


def _arrow_type_name(arrow_type: Any) -> str:
    """``string``, ``int64``, ``list<string>``, ``large_list<large_string>``... (no field names)."""
    text = str(arrow_type)
    kind = text.split("<", 1)[0]
    if kind in ("list", "large_list", "list_view", "large_list_view"):
        return f"{kind}<{_arrow_type_name(arrow_type.value_type)}>"
    return text


def schema_differences(arrow_schema: Any, columns: Iterable[tuple[str, str, str]]) -> list[str]:
    """How *arrow_schema* differs from the BigQuery *columns*; empty when it matches.

    Column order does not matter. STRING may be Arrow ``string`` or ``large_string``, INTEGER
    ``int64``, REPEATED STRING a list of strings (any list flavour, any item field name).
    """
    found = {
        field.name: _arrow_type_name(field.type)
        for field in arrow_schema
        if not _PANDAS_INDEX.match(field.name)  # a stored pandas index is not a column
    }
    problems: list[str] = []
    wanted_names: set[str] = set()
    for name, bq_type, mode in columns:
        wanted_names.add(name)
        allowed = _ARROW_TYPES.get((bq_type.upper(), mode.upper()))
        label = f"{mode} {bq_type}" if mode.upper() == "REPEATED" else bq_type
        if name not in found:
            problems.append(f"missing column {name} ({label})")
        elif allowed is not None and found[name] not in allowed:
            problems.append(f"column {name} is {found[name]}, expected {label} ({allowed[0]})")
    problems.extend(
        f"unexpected column {name} ({kind})"
        for name, kind in found.items()
        if name not in wanted_names
    )
    return problems


# --- fetching ---------------------------------------------------------------------------------


def source_urls(urls: Iterable[str] | None = None, version: str | None = None) -> list[str]:
    """The URLs :func:`fetch` tries, in order, with ``{version}`` filled in.

    *urls* (templates) win; else ``$IDCSEG_INDEX_URLS`` (comma-separated); else IDC's GitHub
    release, then its Google Cloud Storage bucket. Only http, https and file URLs are accepted;
    a plain path to a local file is taken as a file URL.
    """
    version = resolve_version(version)
    if urls is None:
        env = os.environ.get(URLS_ENV, "")
        urls = [u for u in (p.strip() for p in env.split(",")) if u] or DEFAULT_URLS
    resolved = [_as_url(u.strip().replace("{version}", version)) for u in urls if u.strip()]
    if not resolved:
        raise UsageError("no source URL to fetch seg_index.parquet from")
    for url in resolved:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in ("http", "https", "file"):
            raise UsageError(f"not an http(s) or file URL, nor a file path: {url!r}")
    return resolved


def _as_url(source: str) -> str:
    """*source* as a URL: a path to a local file (``/mnt/x/seg_index.parquet``,
    ``~/seg_index.parquet``, ``./seg_index.parquet``) becomes a ``file://`` URL."""
    if "://" in source or source.lower().startswith(("http:", "https:", "file:")):
        return source
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", source) and not Path(source).exists():
        return source  # another scheme (s3:, gs:): refused by the caller
    return Path(source).expanduser().absolute().as_uri()


def _timeout(timeout: float | None) -> float:
    if timeout is None:
        raw = os.environ.get(TIMEOUT_ENV)
        if not raw:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(raw)
        except ValueError:
            raise UsageError(f"{TIMEOUT_ENV} is not a number of seconds: {raw!r}") from None
    if not timeout > 0:
        raise UsageError(f"the timeout must be a positive number of seconds, not {timeout}")
    return timeout


def _request(url: str) -> Any:
    import urllib.request

    from .. import __version__

    return urllib.request.Request(url, headers={"User-Agent": f"idcseg/{__version__}"})


def _describe(exc: BaseException, timeout: float) -> str:
    """A short reason for a network failure: ``HTTP 404 Not Found``, ``timed out after 30 s``..."""
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason or ''}".rstrip()
    if isinstance(exc, urllib.error.URLError):
        if not isinstance(exc.reason, BaseException):
            return str(exc.reason)
        exc = exc.reason
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return f"timed out after {timeout:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _DiskError(Exception):
    """Writing the temporary file failed (not the source's fault)."""


@dataclass
class _Download:
    url: str  # the URL asked for
    final_url: str  # after redirects
    bytes: int
    sha256: str


class _Progress:
    """``bytes / total`` on stderr: a rewritten line on a terminal, else a start and an end line."""

    def __init__(self, url: str, total: int | None, stream: IO[str] | None) -> None:
        self.url, self.total, self.stream = url, total, stream
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self.last = 0.0
        if stream is not None:
            size = f" ({_mb(total)})" if total else ""
            stream.write(f"idcseg: downloading {url}{size}\n")
            stream.flush()

    def update(self, done: int, final: bool = False) -> None:
        if self.stream is None or not (self.tty or final):
            return
        now = time.monotonic()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        if self.total:
            text = f"{_mb(done)} / {_mb(self.total)} ({100 * done // self.total}%)"
        else:
            text = _mb(done)
        end = "\n" if final else ""
        self.stream.write(f"\ridcseg:   {text}   {end}" if self.tty else f"idcseg:   {text}\n")
        self.stream.flush()

    def abort(self) -> None:
        if self.stream is not None and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _download(url: str, target: Path, timeout: float, stream: IO[str] | None) -> _Download:
    """Write *url*'s body to *target*; raise :class:`SourceError` unless it arrived whole."""
    import hashlib
    import http.client
    import urllib.request

    digest = hashlib.sha256()
    done = 0
    total: int | None = None
    cut_short = False
    progress: _Progress | None = None
    try:
        with (
            urllib.request.urlopen(_request(url), timeout=timeout) as response,
            target.open("wb") as out,
        ):
            final_url = response.geturl() or url
            length = (response.headers.get("Content-Length") or "").strip()
            total = int(length) if length.isdigit() else None
            progress = _Progress(url, total, stream)
            read = getattr(response, "read1", response.read)  # whatever has arrived, up to _CHUNK
            while True:
                try:
                    chunk = read(_CHUNK)
                except http.client.IncompleteRead as exc:  # keep what came, then judge it
                    chunk, cut_short = exc.partial, True
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise _DiskError(f"cannot write {target}: {exc.strerror or exc}") from None
                digest.update(chunk)
                done += len(chunk)
                if cut_short or not chunk or (total is not None and done >= total):
                    break
                progress.update(done)
    except _DiskError as exc:
        if progress is not None:
            progress.abort()
        raise IdcsegError(str(exc)) from None
    except Exception as exc:  # network, timeout, HTTP status
        if progress is not None:
            progress.abort()
        reason = _describe(exc, timeout)
        if done:
            reason = f"{reason} after {done} bytes"
        raise SourceError(url, reason) from None
    assert progress is not None  # set once the response arrived
    if total is not None and done < total:
        progress.abort()
        raise SourceError(
            url, f"truncated download: {done} of {total} bytes (Content-Length) arrived"
        )
    if cut_short:
        progress.abort()
        raise SourceError(url, f"truncated download: the body ended early after {done} bytes")
    progress.update(done, final=True)
    return _Download(url=url, final_url=final_url, bytes=done, sha256=digest.hexdigest())


def _sidecar_digest(url: str, timeout: float) -> str:
    """The SHA-256 published at ``url + '.sha256'``; :class:`_NoSidecar` on HTTP 404."""
    import urllib.error
    import urllib.request

    sidecar = url + SIDECAR_SUFFIX
    try:
        with urllib.request.urlopen(_request(sidecar), timeout=timeout) as response:
            text = response.read(4096).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _NoSidecar from None
        raise SourceError(sidecar, f"checksum sidecar: {_describe(exc, timeout)}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, FileNotFoundError):  # a file:// mirror without a sidecar
            raise _NoSidecar from None
        raise SourceError(sidecar, f"checksum sidecar: {_describe(exc, timeout)}") from None
    except Exception as exc:
        raise SourceError(sidecar, f"checksum sidecar: {_describe(exc, timeout)}") from None
    token = text.split()[0] if text.split() else ""
    token = token.removeprefix("SHA256:").removeprefix("sha256:")
    if not _HEX64.match(token):
        shown = text.strip().splitlines()[0][:80] if text.strip() else "(empty)"
        raise SourceError(sidecar, f"not a SHA-256 checksum file: {shown!r}")
    return token.lower()


def _check_parquet(url: str, file: Path, version: str) -> int:
    """Schema, row count and readability of a downloaded file; return its row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(file)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(url, f"not a readable parquet file ({exc})") from None
    with parquet:
        problems = schema_differences(parquet.schema_arrow, expected_columns())
        if problems:
            differences = ", ".join(problems)
            raise SourceError(url, f"schema differs from the wheel's seg_index: {differences}")
        stamped = (parquet.schema_arrow.metadata or {}).get(b"idc_index_data_version")
        if stamped and _release(stamped.decode(errors="replace")) != _release(version):
            raise SourceError(
                url,
                f"file is stamped idc_index_data_version {stamped.decode(errors='replace')}, "
                f"expected {version}",
            )
        rows = parquet.metadata.num_rows
        if rows <= 0:
            raise SourceError(url, "the file has no rows")
        try:  # decode every page: a damaged file fails here, not in a later query
            for i in range(parquet.num_row_groups):
                parquet.read_row_group(i)
        except (pa.ArrowException, OSError) as exc:
            raise SourceError(url, f"damaged parquet file ({exc})") from None
    return int(rows)


def _release(version: str) -> tuple[str, ...]:
    """``25.0.5-0-gf08b112`` / ``25.0.5.post1`` -> ``('25', '0', '5')``."""
    return tuple(re.findall(r"\d+", version)[:3])


def _clean_stale_parts(base: Path) -> None:
    cutoff = time.time() - _STALE_PART_SECONDS
    try:
        for leftover in base.glob(f".*{_PART_SUFFIX}"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except OSError:
                pass
    except OSError:
        pass


def _try_source(url: str, base: Path, version: str, timeout: float, stream: IO[str] | None) -> Path:
    """Download, verify and install *url* as the seg_index of *version*."""
    import tempfile

    from ..files import default_mode

    fd, name = tempfile.mkstemp(prefix=".seg_index-", suffix=_PART_SUFFIX, dir=base)
    try:
        os.fchmod(fd, default_mode())  # installed as readable as any file the user makes
    finally:
        os.close(fd)
    part = Path(name)
    try:
        got = _download(url, part, timeout, stream)
        verified = False
        try:
            published = _sidecar_digest(got.url, timeout)
        except _NoSidecar:
            published = None
        if published is not None:
            if published != got.sha256:
                raise SourceError(
                    url,
                    f"checksum mismatch: the sidecar says sha256 {published}, "
                    f"the download has sha256 {got.sha256}",
                )
            verified = True
        rows = _check_parquet(url, part, version)
        meta = {
            "version": version,
            "source": url,
            "final_url": got.final_url,
            "sha256": got.sha256,
            "sha256_verified": verified,
            "bytes": got.bytes,
            "rows": rows,
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "mtime_ns": part.stat().st_mtime_ns,  # kept by the rename: unchanged since checked
        }
        return _install(part, meta, base / version)
    finally:
        part.unlink(missing_ok=True)


def _install(part: Path, meta: dict[str, Any], where: Path) -> Path:
    """Move a verified download into place with its meta.json.

    The old meta.json is moved aside first and the new one renamed in last (each step atomic),
    so :func:`path` never pairs a file with another file's meta; if the file cannot be moved
    into place, the old meta.json comes back and the old copy stays valid.
    """
    target = where / FILE_NAME
    meta_file = where / META_NAME
    stem = part.name.removesuffix(_PART_SUFFIX)
    meta_tmp = part.with_name(f"{stem}.meta{_PART_SUFFIX}")
    meta_old = part.with_name(f"{stem}.meta-old{_PART_SUFFIX}")
    try:
        where.mkdir(parents=True, exist_ok=True)
        meta_tmp.write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.replace(meta_file, meta_old)
            had_meta = True
        except FileNotFoundError:
            had_meta = False
        try:
            os.replace(part, target)
        except OSError:
            if had_meta:
                os.replace(meta_old, meta_file)
            raise
        os.replace(meta_tmp, meta_file)
    except OSError as exc:
        raise IdcsegError(f"cannot install {target}: {exc.strerror or exc}") from None
    finally:
        meta_tmp.unlink(missing_ok=True)
        meta_old.unlink(missing_ok=True)
    return target


def fetch(
    version: str | None = None,
    urls: Iterable[str] | None = None,
    progress: bool = True,
    force: bool = False,
    *,
    timeout: float | None = None,
    folder: Path | str | None = None,
) -> Path:
    """Download and verify IDC's ``seg_index.parquet`` into the store; return its path.

    *version* defaults to the installed idc-index-data version. *urls* are tried in order
    (templates with ``{version}``; see :func:`source_urls`). A copy that is already present is
    returned without any network access unless *force*. *timeout* (seconds; default
    ``$IDCSEG_INDEX_TIMEOUT`` or 30) bounds connecting and each read. *progress* writes
    ``bytes / total`` to stderr.

    Each source's file must arrive whole (no fewer bytes than Content-Length), match its
    ``.sha256`` sidecar where the source has one (HTTP 404 = none), have the wheel's seg_index
    schema and at least one row. Raises :class:`FetchError` (an :class:`IdcsegError`) naming each
    URL and its reason when no source gives a good file; an existing good copy is left as it was.
    """
    version = resolve_version(version)
    tried = source_urls(urls, version)
    seconds = _timeout(timeout)
    base = root(folder)
    existing = path(version, folder=folder)
    if existing is not None and not force:
        return existing
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IdcsegError(f"cannot create {base}: {exc.strerror or exc}") from None
    _clean_stale_parts(base)
    stream = sys.stderr if progress else None
    failures: list[SourceError] = []
    for url in tried:
        try:
            return _try_source(url, base, version, seconds, stream)
        except SourceError as exc:
            failures.append(exc)
            if stream is not None and url != tried[-1]:
                stream.write(f"idcseg: {exc}; trying the next source\n")
                stream.flush()
    raise FetchError(version, failures)
