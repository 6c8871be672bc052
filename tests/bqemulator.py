"""A real local BigQuery emulator for idcseg's tests: set-up, start/stop, client, IDC data.

idcseg's BigQuery engine talks to BigQuery with ``google-cloud-bigquery``.  To test that path
without Google, tests start `bqemulator <https://pypi.org/project/bqemulator/>`_ (BigQuery's
REST API on 127.0.0.1, backed by DuckDB) and point the real client at it.

bqemulator 1.4.0 pins ``sqlglot<30.12`` while idcseg needs ``sqlglot>=30.30``, so the emulator
lives in its own virtualenv and runs as a subprocess:

* :func:`ensure_emulator_python` returns an interpreter that can run it:
  ``$IDCSEG_BQEMULATOR_PYTHON`` if set, else a virtualenv it creates once under
  ``~/.cache/idcseg-test/bqemulator-venv`` (``$IDCSEG_BQEMULATOR_VENV`` overrides the path)
  with ``pip install -r tests/requirements-bqemulator.txt``.  Failure raises
  :class:`EmulatorUnavailable`; the pytest fixtures turn that into a skip (or a failure
  when ``IDCSEG_REQUIRE_BQEMULATOR=1``).
* :class:`BQEmulator` starts ``tests/_bqemulator_launcher.py`` in that interpreter: ports
  chosen by the kernel on 127.0.0.1, a temporary data dir, no DuckDB extension downloads,
  loopback-only sockets.  It waits for readiness, reports start-up time and RSS, makes
  clients and stops the process cleanly.
* :func:`offline_google_env` is the environment that keeps google-auth from probing the GCE
  metadata server (and HTTP proxies from seeing loopback traffic); :func:`loopback_only`
  makes any other socket use in the test process fail loudly.
* :func:`segmentations_schema`, :func:`dicom_all_schema`, :func:`create_idc_dataset` and
  :func:`load_idc_fixture` recreate IDC's ``bigquery-public-data.idc_vNN`` tables (nested
  RECORDs included) from rows given as Python dicts, so IDC SQL runs verbatim.

Run ``python -m tests.bqemulator setup`` to build the virtualenv ahead of a test run, or
``python -m tests.bqemulator serve`` for an emulator with IDC fixture data to poke at.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import bigquery

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-bqemulator.txt"
LAUNCHER = HERE / "_bqemulator_launcher.py"

ENV_PYTHON = "IDCSEG_BQEMULATOR_PYTHON"
"""Path of an existing interpreter that can ``import bqemulator`` (skips venv creation)."""
ENV_VENV = "IDCSEG_BQEMULATOR_VENV"
"""Where to create the emulator virtualenv (default ``~/.cache/idcseg-test/bqemulator-venv``)."""
ENV_REQUIRE = "IDCSEG_REQUIRE_BQEMULATOR"
"""Set to ``1`` to fail, not skip, BigQuery-path tests when the emulator cannot be set up."""

PUBLIC_PROJECT = "bigquery-public-data"
DEFAULT_CLIENT_PROJECT = "idcseg-test"
CLOSED_LOCAL_PORT = "127.0.0.1:9"
"""The discard port on loopback: nothing listens there, so a stray probe fails at once."""

_MARKER = ".idcseg-bqemulator.json"


class EmulatorUnavailable(RuntimeError):
    """The emulator's interpreter could not be found or installed (e.g. PyPI unreachable)."""


class EmulatorStartError(RuntimeError):
    """The emulator process exited or did not become ready in time."""


# --------------------------------------------------------------------------------------------
# Environment for the test process
# --------------------------------------------------------------------------------------------


def offline_google_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the variables that keep Google client libraries on this machine.

    * ``NO_GCE_CHECK`` stops google-auth from probing the GCE metadata server when it looks
      for default credentials; ``GCE_METADATA_HOST`` / ``GCE_METADATA_IP`` point any probe
      that still happens at a closed loopback port.
    * ``NO_PROXY`` / ``no_proxy`` gain ``127.0.0.1,localhost`` so that ``requests`` never
      routes emulator traffic through an HTTP proxy set in the environment.
    * ``GOOGLE_CLOUD_PROJECT`` is fixed so nothing asks gcloud for a project.

    *environ* (default ``os.environ``) is only read, to extend existing ``NO_PROXY`` values.
    """
    env = os.environ if environ is None else environ
    values = {
        "NO_GCE_CHECK": "True",
        "GCE_METADATA_HOST": CLOSED_LOCAL_PORT,
        "GCE_METADATA_IP": CLOSED_LOCAL_PORT,
        "GOOGLE_CLOUD_PROJECT": DEFAULT_CLIENT_PROJECT,
    }
    for name in ("NO_PROXY", "no_proxy"):
        current = [p for p in env.get(name, "").split(",") if p.strip()]
        for host in ("127.0.0.1", "localhost"):
            if host not in current:
                current.append(host)
        values[name] = ",".join(current)
    return values


def apply_offline_google_env(
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str | None]:
    """Write :func:`offline_google_env` into *environ* (default ``os.environ``).

    Also removes ``GOOGLE_APPLICATION_CREDENTIALS`` and ``BIGQUERY_EMULATOR_HOST`` so a
    developer's own settings cannot redirect a test.  Returns the previous values of every
    variable touched (``None`` marks "was unset"), for :func:`restore_env`.
    """
    env = os.environ if environ is None else environ
    values = offline_google_env(env)
    touched = [*values, "GOOGLE_APPLICATION_CREDENTIALS", "BIGQUERY_EMULATOR_HOST"]
    previous = {name: env.get(name) for name in touched}
    env.update(values)
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    env.pop("BIGQUERY_EMULATOR_HOST", None)
    return previous


def restore_env(
    previous: Mapping[str, str | None], environ: MutableMapping[str, str] | None = None
) -> None:
    """Undo :func:`apply_offline_google_env` given the mapping it returned."""
    env = os.environ if environ is None else environ
    for name, value in previous.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value


def _is_loopback(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Within the block, a socket connect or name lookup off 127.0.0.1/::1 raises ``OSError``.

    A cheap proof, in the test process, that a test talks to nothing but the emulator (the
    emulator process installs the same guard on itself).  Restores ``socket`` afterwards.
    """
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise OSError(f"test guard: connection to {address!r} refused (loopback only)")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise socket.gaierror(f"test guard: name lookup of {host!r} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo


# --------------------------------------------------------------------------------------------
# The emulator's interpreter
# --------------------------------------------------------------------------------------------


def default_venv_dir() -> Path:
    """``$IDCSEG_BQEMULATOR_VENV`` or ``<XDG cache>/idcseg-test/bqemulator-venv``."""
    explicit = os.environ.get(ENV_VENV)
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "idcseg-test" / "bqemulator-venv"


def _venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _probe(python: Path) -> str:
    """Return bqemulator's version as seen by *python*, or raise :class:`EmulatorUnavailable`."""
    code = "import numpy, bqemulator; print(bqemulator.__version__)"
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", code], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmulatorUnavailable(f"cannot run {python}: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise EmulatorUnavailable(f"{python} cannot import bqemulator: {tail[0]}")
    return done.stdout.strip()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock (POSIX); serialises venv creation across pytest workers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock, creation is rare anyway
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_emulator_python(
    venv_dir: Path | None = None,
    *,
    requirements: Path = REQUIREMENTS,
    pip_timeout: float = 900.0,
) -> Path:
    """Return an interpreter that runs bqemulator, creating its virtualenv when needed.

    ``$IDCSEG_BQEMULATOR_PYTHON`` wins when set (it is checked, never modified).  Otherwise
    the virtualenv at *venv_dir* (default :func:`default_venv_dir`) is reused when its marker
    file records the current *requirements* hash, and rebuilt from scratch when not (a
    non-empty directory that is not a virtualenv is never deleted).  A first build installs
    ~80 packages (~500 MB on disk) in ~20-45 s; later calls cost one marker read.

    Raises :class:`EmulatorUnavailable` with pip's last lines when installation fails.
    """
    explicit = os.environ.get(ENV_PYTHON)
    if explicit:
        python = Path(explicit).expanduser()
        _probe(python)
        return python

    venv_dir = (venv_dir or default_venv_dir()).expanduser()
    python = _venv_python(venv_dir)
    wanted = {
        "requirements_sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(),
        "python": ".".join(map(str, sys.version_info[:2])),
    }
    with _file_lock(venv_dir.with_name(venv_dir.name + ".lock")):
        marker = venv_dir / _MARKER
        with contextlib.suppress(OSError, ValueError):
            recorded = json.loads(marker.read_text(encoding="utf-8"))
            if python.exists() and {k: recorded.get(k) for k in wanted} == wanted:
                return python

        if venv_dir.exists() and any(venv_dir.iterdir()) and not (venv_dir / "pyvenv.cfg").exists():
            raise EmulatorUnavailable(
                f"{venv_dir} exists and is not a virtualenv; not replacing it"
            )
        shutil.rmtree(venv_dir, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(venv_dir)],
            [
                str(python), "-m", "pip", "install", "--disable-pip-version-check",
                "--quiet", "--timeout", "30", "--retries", "1", "-r", str(requirements),
            ],
        ]  # fmt: skip
        for cmd in steps:
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=pip_timeout)
            except (OSError, subprocess.TimeoutExpired) as exc:
                shutil.rmtree(venv_dir, ignore_errors=True)
                raise EmulatorUnavailable(f"{' '.join(cmd[:4])} failed: {exc}") from exc
            if done.returncode != 0:
                shutil.rmtree(venv_dir, ignore_errors=True)
                lines = [
                    line
                    for line in (done.stderr + done.stdout).splitlines()
                    if line.strip() and not line.startswith("WARNING: Location")
                ]
                raise EmulatorUnavailable(
                    f"could not set up the bqemulator virtualenv at {venv_dir} "
                    f"({' '.join(cmd[2:4])} exited {done.returncode}): " + " | ".join(lines[-3:])
                )
        version = _probe(python)
        marker.write_text(json.dumps({**wanted, "bqemulator": version}), encoding="utf-8")
    return python


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


def make_client(endpoint: str, project: str = DEFAULT_CLIENT_PROJECT) -> bigquery.Client:
    """A real ``google.cloud.bigquery.Client`` for the emulator at *endpoint*.

    *project* is the project jobs run (are "billed") in; tables of any project, such as
    ``bigquery-public-data``, can still be read by their full name.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": endpoint},
    )


# --------------------------------------------------------------------------------------------
# The emulator process
# --------------------------------------------------------------------------------------------


def _rss_kib(pid: int) -> tuple[int | None, int | None]:
    """(current RSS, peak RSS) of *pid* in KiB from /proc, or ``(None, None)``."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found.get("VmRSS"), found.get("VmHWM")


@dataclass
class BQEmulator:
    """One bqemulator process on 127.0.0.1.  Use as a context manager or call start/stop.

    >>> with BQEmulator(ensure_emulator_python(), Path(tempfile.mkdtemp())) as emu:
    ...     client = emu.make_client("my-project")
    """

    python: Path
    work_dir: Path
    startup_timeout: float = 60.0
    log_level: str = "warning"

    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    rest_port: int | None = field(default=None, init=False)
    grpc_port: int | None = field(default=None, init=False)
    version: str | None = field(default=None, init=False)
    startup_seconds: float | None = field(default=None, init=False)
    """Wall time from spawning the interpreter until ``/readyz`` answered ok."""
    server_start_seconds: float | None = field(default=None, init=False)
    """Time the server itself took in ``EmulatorServer.start()`` (imports excluded)."""

    @property
    def data_dir(self) -> Path:
        """The emulator's DuckDB file and upload staging area."""
        return self.work_dir / "data"

    @property
    def log_path(self) -> Path:
        """stdout and stderr of the emulator process."""
        return self.work_dir / "bqemulator.log"

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: the ``api_endpoint`` for the BigQuery client."""
        if self.rest_port is None:
            raise RuntimeError("emulator not started")
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running emulator."""
        return self.process.pid if self.process else None

    def make_client(self, project: str = DEFAULT_CLIENT_PROJECT) -> bigquery.Client:
        """A real BigQuery client talking to this emulator (see :func:`make_client`)."""
        return make_client(self.endpoint, project)

    def rss_kib(self) -> tuple[int | None, int | None]:
        """(current, peak) resident set size of the emulator process in KiB (Linux only)."""
        return _rss_kib(self.pid) if self.pid else (None, None)

    def log_tail(self, lines: int = 30) -> str:
        """The last *lines* lines of the emulator's log."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BQEMU_")}
        env.update(offline_google_env(env))
        env["BQEMU_ENABLE_FORMAT_EXTENSIONS"] = "false"  # no `INSTALL avro` download
        env["BQEMU_TRACING_ENABLED"] = "false"
        return env

    def start(self) -> BQEmulator:
        """Spawn the emulator and block until ``/readyz`` reports ok."""
        if self.process is not None:
            raise RuntimeError("emulator already started")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        ready_file = self.work_dir / "ready.json"
        ready_file.unlink(missing_ok=True)
        cmd = [
            str(self.python), "-I", str(LAUNCHER),
            "--data-dir", str(self.data_dir),
            "--ready-file", str(ready_file),
            "--log-level", self.log_level,
            "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        began = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.work_dir,
                env=self._child_env(),
            )
        try:
            self._wait_ready(ready_file, began)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, ready_file: Path, began: float) -> None:
        assert self.process is not None
        deadline = began + self.startup_timeout
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            code = self.process.poll()
            if code is not None:
                raise EmulatorStartError(
                    f"bqemulator exited with {code} during start-up:\n{self.log_tail()}"
                )
            if self.rest_port is None and ready_file.exists():
                info = json.loads(ready_file.read_text(encoding="utf-8"))
                self.rest_port = int(info["rest_port"])
                self.grpc_port = int(info["grpc_port"])
                self.version = str(info["version"])
                self.server_start_seconds = float(info["start_seconds"])
            if self.rest_port is not None and self._ready(no_proxy):
                self.startup_seconds = time.perf_counter() - began
                return
            if time.perf_counter() > deadline:
                raise EmulatorStartError(
                    f"bqemulator not ready after {self.startup_timeout:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _ready(self, opener: urllib.request.OpenerDirector) -> bool:
        try:
            with opener.open(self.endpoint + "/readyz", timeout=2) as response:
                return bool(json.load(response).get("status") == "ok")
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the emulator, SIGKILL it after *timeout* s; return its exit code."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        return process.returncode

    def __enter__(self) -> BQEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# IDC tables: schemas
# --------------------------------------------------------------------------------------------

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SM_STORAGE = "1.2.840.10008.5.1.4.1.1.77.1.6"

# Schema eras of IDC's `segmentations` view, from the public ImagingDataCommons/etl_flow history
# (bq/generate_tables_and_views/derived_tables/BQ_Table_Building/derived_data_views/sql/
# segmentations.sql) and idc-index-data's seg_index.sql of each release:
#   v1–v12   no StudyInstanceUID, SeriesInstanceUID, SegmentAlgorithmName,
#            segmented_SeriesInstanceUID, viewer_url
#   v13–v23  those added; SegmentAlgorithmName is `unnested.SegmentAlgorithmName` of
#            dicom_metadata's REPEATED field, so ARRAY<STRING>; viewer_url is OHIF v2
#            (/viewer/{study}?seriesInstanceUID={seg},{source})
#   v24–     SegmentAlgorithmName[SAFE_OFFSET(0)] (STRING), SegmentationType added, viewer_url
#            OHIF v3 (/v3/viewer/?StudyInstanceUIDs={study}&initialSeriesInstanceUID={seg})
# The view unnests Segmentation Storage (...66.4) only; Label Map Segmentation Storage (...66.7,
# new in v25) is in dicom_all alone. `dicom_metadata_curated` (from v7) holds IDC's curated
# BodyPartExamined per SOPInstanceUID; idc-index-data builds idc_index's BodyPartExamined from it.
SEGMENTATIONS_V13_COLUMNS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SegmentAlgorithmName",
    "segmented_SeriesInstanceUID",
    "viewer_url",
)
"""Columns of ``segmentations`` that IDC added in v13 (absent in v1-v12)."""
SEGMENTATION_TYPE_SINCE = 24
"""``segmentations.SegmentationType`` exists from this IDC version on."""
ALGORITHM_NAME_STRING_SINCE = 24
"""``segmentations.SegmentAlgorithmName`` is STRING from this version on, ARRAY<STRING> before."""
VIEWER_V3_SINCE = 24
"""``segmentations.viewer_url`` is an OHIF v3 link from this version on, OHIF v2 before."""
CURATED_SERIES_UID_SINCE = 24
"""The fixture gives ``dicom_metadata_curated`` a SeriesInstanceUID from this version on (the
view's later SQL has it; when it appeared is not recorded): joins on it must stay unambiguous."""


def _code_fields(*extra: bigquery.SchemaField) -> list[bigquery.SchemaField]:
    from google.cloud.bigquery import SchemaField

    return [
        SchemaField("CodeValue", "STRING"),
        SchemaField("CodingSchemeDesignator", "STRING"),
        SchemaField("CodeMeaning", "STRING"),
        *extra,
    ]


def _code(name: str, mode: str = "NULLABLE", *extra: bigquery.SchemaField) -> bigquery.SchemaField:
    from google.cloud.bigquery import SchemaField

    return SchemaField(name, "RECORD", mode=mode, fields=_code_fields(*extra))


def segmentations_schema(version: int) -> list[bigquery.SchemaField]:
    """Schema of IDC's ``segmentations`` view (one row per segment) as of IDC *version*."""
    from google.cloud.bigquery import SchemaField

    def s(name: str, kind: str = "STRING") -> SchemaField:
        return SchemaField(name, kind)

    since13 = version >= 13
    fields: list[SchemaField | None] = [
        s("PatientID"),
        s("StudyInstanceUID") if since13 else None,
        s("SeriesInstanceUID") if since13 else None,
        s("SOPInstanceUID"),
        s("FrameOfReferenceUID"),
        s("SegmentationType") if version >= SEGMENTATION_TYPE_SINCE else None,
        _code("AnatomicRegion"),
        _code("AnatomicRegionModifier"),
        _code("SegmentedPropertyCategory"),
        _code(
            "SegmentedPropertyType",
            "NULLABLE",
            _code("AnatomicRegionModifierSequence", "REPEATED"),
            _code("SegmentedPropertyTypeModifierCodeSequence", "REPEATED"),
        ),
        s("SegmentAlgorithmType"),
        (
            None
            if not since13
            else SchemaField("SegmentAlgorithmName", "STRING", mode="REPEATED")
            if version < ALGORITHM_NAME_STRING_SINCE
            else s("SegmentAlgorithmName")
        ),
        s("SegmentNumber", "INTEGER"),
        s("TrackingUID"),
        s("TrackingID"),
        s("segmented_SeriesInstanceUID") if since13 else None,
        s("viewer_url") if since13 else None,
    ]
    return [f for f in fields if f is not None]


def dicom_metadata_curated_schema(version: int) -> list[bigquery.SchemaField]:
    """Schema of IDC's ``dicom_metadata_curated`` view (one row per instance)."""
    from google.cloud.bigquery import SchemaField

    return [
        *(
            [SchemaField("SeriesInstanceUID", "STRING")]
            if version >= CURATED_SERIES_UID_SINCE
            else []
        ),
        SchemaField("SOPInstanceUID", "STRING"),
        SchemaField("SliceThickness", "FLOAT64"),
        SchemaField("BodyPartExamined", "STRING"),
    ]


def dicom_all_schema() -> list[bigquery.SchemaField]:
    """The subset of IDC's ``dicom_all`` (one row per instance) that idcseg reads.

    ``Source_DOI`` is spelled as in IDC's ``dicom_all``; BigQuery resolves column names
    case-insensitively, so SQL may write ``source_DOI`` (as IDC's series index spells it).
    """
    from google.cloud.bigquery import SchemaField

    strings = [
        "collection_id", "analysis_result_id", "PatientID", "StudyInstanceUID",
        "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "Modality", "BodyPartExamined",
        "SeriesDescription", "Manufacturer", "Source_DOI", "license_short_name", "aws_bucket",
        "crdc_series_uuid", "series_aws_url", "crdc_instance_uuid", "FrameOfReferenceUID",
    ]  # fmt: skip
    segment = SchemaField(
        "SegmentSequence",
        "RECORD",
        mode="REPEATED",
        fields=[
            SchemaField("SegmentNumber", "INTEGER"),
            SchemaField("SegmentLabel", "STRING"),
            SchemaField("SegmentDescription", "STRING"),
            SchemaField("SegmentAlgorithmType", "STRING"),
            SchemaField("SegmentAlgorithmName", "STRING", mode="REPEATED"),
            _code("SegmentedPropertyCategoryCodeSequence", "REPEATED"),
            _code(
                "SegmentedPropertyTypeCodeSequence",
                "REPEATED",
                _code("SegmentedPropertyTypeModifierCodeSequence", "REPEATED"),
            ),
            _code(
                "AnatomicRegionSequence",
                "REPEATED",
                _code("AnatomicRegionModifierSequence", "REPEATED"),
            ),
            SchemaField("TrackingID", "STRING"),
            SchemaField("TrackingUID", "STRING"),
        ],
    )
    referenced = SchemaField(
        "ReferencedSeriesSequence",
        "RECORD",
        mode="REPEATED",
        fields=[SchemaField("SeriesInstanceUID", "STRING")],
    )
    return [
        *(SchemaField(name, "STRING") for name in strings),
        SchemaField("SegmentationType", "STRING"),
        SchemaField("instance_size", "INTEGER"),
        segment,
        referenced,
    ]


# --------------------------------------------------------------------------------------------
# IDC tables: loading rows
# --------------------------------------------------------------------------------------------


def insert_rows(
    client: bigquery.Client,
    table: bigquery.Table | str,
    rows: Sequence[Mapping[str, Any]],
    *,
    chunk: int = 1000,
) -> None:
    """Insert dict *rows* (nested dicts/lists for RECORD / REPEATED) with ``insertAll``.

    ``insert_rows_json`` is what works with bqemulator 1.4.0: rows are queryable at once and
    nested/repeated records round-trip.  ``load_table_from_json`` fails (the emulator rejects
    the client's multipart upload: "second part has unsupported Content-Type '*/*'").
    Row ids are omitted (``row_ids=[None]*n``): no de-duplication bookkeeping, and a retry
    after a timeout could only duplicate rows in a throwaway emulator.
    """
    for start in range(0, len(rows), chunk):
        part = [dict(r) for r in rows[start : start + chunk]]
        errors = client.insert_rows_json(table, part, row_ids=[None] * len(part))
        if errors:
            raise RuntimeError(f"insert into {table} failed: {errors[:3]}")


def create_idc_dataset(
    client: bigquery.Client,
    dataset: str,
    *,
    version: int,
    segmentations: Sequence[Mapping[str, Any]],
    dicom_all: Sequence[Mapping[str, Any]],
    dicom_metadata_curated: Sequence[Mapping[str, Any]] | None = None,
    measurements: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    project: str = PUBLIC_PROJECT,
) -> dict[str, bigquery.Table]:
    """Create ``project.dataset`` with IDC-shaped ``segmentations`` and ``dicom_all`` tables,
    ``dicom_metadata_curated`` when its rows are given, and the measurement tables
    (``measurement_groups``, ``quantitative_measurements``, ``qualitative_measurements``) when
    *measurements* maps their names to rows.

    Rows are dicts keyed by column name; keys that the *version*'s schema lacks are dropped and
    a value of a column the version holds REPEATED is wrapped in a list (so one set of rows
    serves every version).  Existing tables are replaced.  Returns the created tables by name.
    """
    from google.cloud import bigquery

    client.create_dataset(bigquery.Dataset(f"{project}.{dataset}"), exists_ok=True)
    tables: dict[str, bigquery.Table] = {}
    contents = [
        ("segmentations", segmentations_schema(version), segmentations),
        ("dicom_all", dicom_all_schema(), dicom_all),
    ]
    if dicom_metadata_curated is not None:
        contents.append(
            (
                "dicom_metadata_curated",
                dicom_metadata_curated_schema(version),
                dicom_metadata_curated,
            )
        )
    for name, rows in (measurements or {}).items():
        contents.append((name, MEASUREMENT_SCHEMAS[name](version), rows))
    for name, schema, rows in contents:
        table_id = f"{project}.{dataset}.{name}"
        client.delete_table(table_id, not_found_ok=True)
        table = client.create_table(bigquery.Table(table_id, schema=schema))
        insert_rows(client, table, [_fit(r, schema) for r in rows])
        tables[name] = table
    return tables


def _fit(row: Mapping[str, Any], schema: Sequence[bigquery.SchemaField]) -> dict[str, Any]:
    """*row* with the columns of *schema* only; scalars of REPEATED columns become lists."""
    out: dict[str, Any] = {}
    for column in schema:
        if column.name not in row:
            continue
        value = row[column.name]
        if column.mode == "REPEATED" and not isinstance(value, list):
            value = [] if value is None else [value]
        out[column.name] = value
    return out


# --------------------------------------------------------------------------------------------
# IDC fixture data
# --------------------------------------------------------------------------------------------

VIEWER = "https://viewer.imaging.datacommons.cancer.gov"


def code(value: str, scheme: str, meaning: str) -> dict[str, str]:
    """A DICOM code as IDC stores it: ``{CodeValue, CodingSchemeDesignator, CodeMeaning}``."""
    return {"CodeValue": value, "CodingSchemeDesignator": scheme, "CodeMeaning": meaning}


ANATOMICAL_STRUCTURE = code("123037004", "SCT", "Anatomical Structure")
MORPH_ALTERED = code("49755003", "SCT", "Morphologically Altered Structure")
MORPH_ABNORMAL_SRT = code("M-01000", "SRT", "Morphologically Altered Structure")
TISSUE = code("85756007", "SCT", "Tissue")
LUNG = code("39607008", "SCT", "Lung")
LUNG_SRT = code("T-28000", "SRT", "Lung")
LIVER = code("10200004", "SCT", "Liver")
KIDNEY = code("64033007", "SCT", "Kidney")
NODULE_SRT = code("M-03010", "SRT", "Nodule")
NEOPLASM = code("108369006", "SCT", "Neoplasm")
BREAST = code("76752008", "SCT", "Breast")
BACKGROUND = code("125040", "DCM", "Background")
LEFT = code("7771000", "SCT", "Left")
RIGHT = code("24028007", "SCT", "Right")

_OLD_ANALYSIS_IDS = {
    "totalsegmentator_ct_segmentations": "TotalSegmentator-CT-Segmentations",
    "dicom_lidc_idri_nodules": "DICOM-LIDC-IDRI-Nodules",
}


@dataclass(frozen=True)
class Segment:
    """One segment of a fixture SEG: enough to build both IDC tables' rows."""

    number: int
    label: str
    category: dict[str, str]
    type: dict[str, str]
    algorithm_type: str = "AUTOMATIC"
    algorithm_name: str | None = "TotalSegmentator"
    type_modifiers: tuple[dict[str, str], ...] = ()
    region: dict[str, str] | None = None
    region_modifier: dict[str, str] | None = None
    description: str | None = None
    tracking_id: str | None = None
    tracking_uid: str | None = None


@dataclass(frozen=True)
class Series:
    """One fixture series (image or SEG) with its instances and, for SEGs, its segments."""

    collection_id: str
    patient: str
    study: str
    uid: str
    modality: str
    sop_class: str
    instances: int = 1
    body_part: str | None = None
    """BodyPartExamined as IDC curates it (``dicom_metadata_curated``, idc_index)."""
    body_part_raw: str | None = None
    """BodyPartExamined as written in the files (``dicom_all``) where curation changed it."""
    description: str | None = None
    analysis_result_id: str | None = None
    segments: tuple[Segment, ...] = ()
    segmented_series: str | None = None
    segmentation_type: str | None = None
    license: str = "CC BY 4.0"
    manufacturer: str | None = None


def _uid(*parts: int) -> str:
    return "2.25." + ".".join(str(p) for p in parts)


def fixture_series() -> list[Series]:
    """A small IDC-like world covering the cases idcseg must get right.

    * nlst: a CT series and a TotalSegmentator SEG of it (lung with laterality modifier,
      liver, kidney; one segment without an algorithm name).
    * lidc_idri: a CT series and a legacy SEG with SRT codes (SEMIAUTOMATIC, tracking ids)
      whose description holds a quote, ``;`` and ``--``; plus a SEG whose source is unknown.
    * rcc_aid: a label-map SEG (SOP class ...66.7; segment 0 Background), present in
      ``dicom_all`` only, as in IDC's view; its files say BodyPartExamined ``ABD``, which IDC
      curates to ``ABDOMEN`` (the LIDC CT's ``Chest`` becomes ``CHEST``).
    * tcga_brca: a slide-microscopy study with a SEG (opens in Slim).
    * an odd series with Modality SEG but CT Image Storage (identify SEGs by SOP class).
    """
    ct1, seg1 = _uid(1, 1, 1), _uid(1, 1, 2)
    ct2, seg2, seg3 = _uid(2, 1, 1), _uid(2, 1, 2), _uid(2, 1, 3)
    ts = "totalsegmentator_ct_segmentations"
    return [
        Series("nlst", "100002", _uid(1, 1), ct1, "CT", CT_STORAGE, instances=3,
               body_part="CHEST", description="0OPAGELSPLUSD3602.512060.00.11.5",
               manufacturer="GE MEDICAL SYSTEMS", license="CC BY 4.0"),
        Series("nlst", "100002", _uid(1, 1), seg1, "SEG", SEG_STORAGE, body_part="CHEST",
               description="Segmentation", analysis_result_id=ts, segmented_series=ct1,
               segmentation_type="BINARY", manufacturer="QIICR", segments=(
                   Segment(1, "lung_left", ANATOMICAL_STRUCTURE, LUNG, type_modifiers=(LEFT,)),
                   Segment(2, "liver", ANATOMICAL_STRUCTURE, LIVER),
                   Segment(3, "kidney_right", ANATOMICAL_STRUCTURE, KIDNEY,
                           type_modifiers=(RIGHT,), algorithm_name=None),
               )),
        Series("lidc_idri", "LIDC-IDRI-0001", _uid(2, 1), ct2, "CT", CT_STORAGE, instances=2,
               body_part="CHEST", body_part_raw="Chest", description="Chest CT",
               license="CC BY 3.0"),
        Series("lidc_idri", "LIDC-IDRI-0001", _uid(2, 1), seg2, "SEG", SEG_STORAGE,
               body_part="CHEST", description="Radiologist's nodule; ROI -- reader 1",
               analysis_result_id="dicom_lidc_idri_nodules", segmented_series=ct2,
               segmentation_type="BINARY", license="CC BY 3.0", segments=(
                   Segment(1, "Nodule 1", MORPH_ABNORMAL_SRT, NODULE_SRT,
                           algorithm_type="SEMIAUTOMATIC", algorithm_name="Reader 1",
                           region=LUNG_SRT, tracking_id="Nodule 1 - Reader 1",
                           tracking_uid=_uid(2, 9, 1)),
               )),
        Series("lidc_idri", "LIDC-IDRI-0001", _uid(2, 1), seg3, "SEG", SEG_STORAGE,
               body_part=None, description="Ångström µ-nodule ✓",
               analysis_result_id="dicom_lidc_idri_nodules", segmented_series=None,
               segmentation_type="FRACTIONAL", license="CC BY 3.0", segments=(
                   Segment(1, "Nodule 2", MORPH_ALTERED, NEOPLASM, algorithm_type="MANUAL",
                           algorithm_name=None, region=LUNG, region_modifier=RIGHT),
               )),
        Series("rcc_aid", "RCC-1", _uid(3, 1), _uid(3, 1, 1), "CT", CT_STORAGE, instances=2,
               body_part="ABDOMEN", body_part_raw="ABD", description="Arterial"),
        Series("rcc_aid", "RCC-1", _uid(3, 1), _uid(3, 1, 2), "SEG", LABELMAP_SEG_STORAGE,
               body_part="ABDOMEN", body_part_raw="ABD", description="Kidney label map",
               segmented_series=_uid(3, 1, 1), segmentation_type="LABELMAP", segments=(
                   Segment(0, "Background", TISSUE, BACKGROUND, algorithm_name="nnU-Net"),
                   Segment(1, "Kidney", ANATOMICAL_STRUCTURE, KIDNEY, algorithm_name="nnU-Net"),
               )),
        Series("tcga_brca", "TCGA-A1-A0SB", _uid(4, 1), _uid(4, 1, 1), "SM", SM_STORAGE,
               instances=2, body_part="BREAST", description="Slide", license="CC BY 3.0"),
        Series("tcga_brca", "TCGA-A1-A0SB", _uid(4, 1), _uid(4, 1, 2), "SEG", SEG_STORAGE,
               description="Tumor", segmented_series=_uid(4, 1, 1), license="CC BY 3.0",
               segmentation_type="BINARY", segments=(
                   Segment(1, "Tumor", MORPH_ALTERED, NEOPLASM, region=BREAST,
                           algorithm_name="HoVer-Net"),
               )),
        Series("nlst", "100003", _uid(5, 1), _uid(5, 1, 1), "SEG", CT_STORAGE,
               body_part="CHEST", description="mislabelled CT"),
    ]  # fmt: skip


def _instance_uid(series: Series, n: int) -> str:
    return f"{series.uid}.{n + 1}"


def _crdc(uid: str) -> str:
    digest = hashlib.sha256(uid.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def dicom_all_rows(series: Iterable[Series], version: int = 25) -> list[dict[str, Any]]:
    """``dicom_all`` rows (one per instance) for *series*."""
    rows: list[dict[str, Any]] = []
    for s in series:
        analysis = s.analysis_result_id
        if analysis and version < 24:
            analysis = _OLD_ANALYSIS_IDS.get(analysis, analysis)
        crdc_series = _crdc(s.uid)
        bucket = "idc-open-data"
        for n in range(s.instances):
            sop = _instance_uid(s, n)
            rows.append(
                {
                    "collection_id": s.collection_id,
                    "analysis_result_id": analysis,
                    "PatientID": s.patient,
                    "StudyInstanceUID": s.study,
                    "SeriesInstanceUID": s.uid,
                    "SOPInstanceUID": sop,
                    "SOPClassUID": s.sop_class,
                    "Modality": s.modality,
                    "BodyPartExamined": s.body_part_raw or s.body_part,
                    "SeriesDescription": s.description,
                    "Manufacturer": s.manufacturer,
                    "Source_DOI": f"10.7937/fixture.{s.collection_id}",
                    "license_short_name": s.license,
                    "aws_bucket": bucket,
                    "crdc_series_uuid": crdc_series,
                    "series_aws_url": f"s3://{bucket}/{crdc_series}/",
                    "crdc_instance_uuid": _crdc(sop),
                    "instance_size": 500_000 + 1000 * n,
                    "SegmentSequence": [_segment_item(seg) for seg in s.segments],
                    "SegmentationType": s.segmentation_type,
                    "FrameOfReferenceUID": f"{s.study}.0",
                    "ReferencedSeriesSequence": (
                        [{"SeriesInstanceUID": s.segmented_series}] if s.segmented_series else []
                    ),
                }
            )
    return rows


def dicom_metadata_curated_rows(series: Iterable[Series]) -> list[dict[str, Any]]:
    """``dicom_metadata_curated`` rows (one per instance): IDC's curated BodyPartExamined."""
    return [
        {
            "SeriesInstanceUID": s.uid,
            "SOPInstanceUID": _instance_uid(s, n),
            "SliceThickness": 1.25 if s.modality == "CT" else None,
            "BodyPartExamined": s.body_part,
        }
        for s in series
        for n in range(s.instances)
    ]


def _segment_item(seg: Segment) -> dict[str, Any]:
    region = []
    if seg.region:
        modifiers = [seg.region_modifier] if seg.region_modifier else []
        region = [{**seg.region, "AnatomicRegionModifierSequence": modifiers}]
    return {
        "SegmentNumber": seg.number,
        "SegmentLabel": seg.label,
        "SegmentDescription": seg.description,
        "SegmentAlgorithmType": seg.algorithm_type,
        "SegmentAlgorithmName": [seg.algorithm_name] if seg.algorithm_name else [],
        "SegmentedPropertyCategoryCodeSequence": [seg.category],
        "SegmentedPropertyTypeCodeSequence": [
            {**seg.type, "SegmentedPropertyTypeModifierCodeSequence": list(seg.type_modifiers)}
        ],
        "AnatomicRegionSequence": region,
        "TrackingID": seg.tracking_id,
        "TrackingUID": seg.tracking_uid,
    }


def segmentations_rows(
    series: Iterable[Series], version: int = 25, *, labelmaps: bool = False
) -> list[dict[str, Any]]:
    """``segmentations`` rows (one per segment) as IDC's view of *version* derives them.

    Only SOP class ``...66.4`` instances appear (label maps are not in IDC's view), unless
    *labelmaps*: then label-map SEGs' rows are included too, as a view that covers them, or
    idcseg's store after ingesting the files, holds them. SegmentAlgorithmName is a list before
    v24 and viewer_url an OHIF v2 link. Rows carry every column of the newest schema;
    :func:`create_idc_dataset` drops what an older version lacks.
    """
    rows: list[dict[str, Any]] = []
    wanted = {SEG_STORAGE, LABELMAP_SEG_STORAGE} if labelmaps else {SEG_STORAGE}
    for s in series:
        if s.sop_class not in wanted:
            continue
        source = s.segmented_series
        if version >= VIEWER_V3_SINCE:
            viewer = (
                f"{VIEWER}/v3/viewer/?StudyInstanceUIDs={s.study}&initialSeriesInstanceUID={s.uid}"
            )
        else:
            viewer = f"{VIEWER}/viewer/{s.study}?seriesInstanceUID={s.uid},{source}"
        for seg in s.segments:
            name: Any = seg.algorithm_name
            if version < ALGORITHM_NAME_STRING_SINCE:
                name = [seg.algorithm_name] if seg.algorithm_name else []
            rows.append(
                {
                    "PatientID": s.patient,
                    "StudyInstanceUID": s.study,
                    "SeriesInstanceUID": s.uid,
                    "SOPInstanceUID": _instance_uid(s, 0),
                    "FrameOfReferenceUID": f"{s.study}.0",
                    "SegmentationType": s.segmentation_type,
                    "AnatomicRegion": seg.region,
                    "AnatomicRegionModifier": seg.region_modifier,
                    "SegmentedPropertyCategory": seg.category,
                    "SegmentedPropertyType": {
                        **seg.type,
                        "AnatomicRegionModifierSequence": [],
                        "SegmentedPropertyTypeModifierCodeSequence": list(seg.type_modifiers),
                    },
                    "SegmentAlgorithmType": seg.algorithm_type,
                    "SegmentAlgorithmName": name,
                    "SegmentNumber": seg.number,
                    "TrackingUID": seg.tracking_uid,
                    "TrackingID": seg.tracking_id,
                    "segmented_SeriesInstanceUID": source,
                    "viewer_url": viewer if source or version >= VIEWER_V3_SINCE else None,
                }
            )
    return rows


@dataclass(frozen=True)
class Era:
    """One IDC dataset of the fixture: its name, the release whose schema it has, and whether
    its ``segmentations`` view covers label maps (no published release's does; a later one may).
    """

    dataset: str
    version: int
    labelmaps_in_view: bool = False


IDC_ERAS = (
    Era("idc_v25", 25),
    Era("idc_v24", 24),
    Era("idc_v20", 20),
    Era("idc_v12", 12),
    Era("idc_current", 25, labelmaps_in_view=True),
)
"""The datasets :func:`load_idc_fixture` creates: one per schema era of ``segmentations``
(v12: v1–v12; v20: v13–v23; v24; v25, the first with label maps), and ``idc_current`` as a
release whose view also unnests label maps (idcseg must not count them twice)."""
IDC_FIXTURE_VERSIONS = tuple(sorted({e.version for e in IDC_ERAS}, reverse=True))


def load_idc_fixture(
    client: bigquery.Client,
    eras: Iterable[Era] = IDC_ERAS,
    series: Sequence[Series] | None = None,
) -> dict[str, dict[str, bigquery.Table]]:
    """Create ``bigquery-public-data.<era.dataset>`` for each of *eras* from :func:`fixture_series`.

    Returns ``{"idc_v25": {"segmentations": Table, "dicom_all": Table, ...}, ...}``; the
    measurement tables hold :func:`measurement_rows` of :func:`fixture_reports`.
    """
    chosen = list(fixture_series() if series is None else series)
    return {
        era.dataset: create_idc_dataset(
            client,
            era.dataset,
            version=era.version,
            segmentations=segmentations_rows(chosen, era.version, labelmaps=era.labelmaps_in_view),
            dicom_all=dicom_all_rows(chosen, era.version),
            dicom_metadata_curated=dicom_metadata_curated_rows(chosen),
            measurements=measurement_rows(fixture_reports()),
        )
        for era in eras
    }


# --------------------------------------------------------------------------------------------
# IDC's measurement tables (TID 1500 SRs)
# --------------------------------------------------------------------------------------------

MEASUREMENT_SERIES_SINCE = 13
"""From this fixture version on, the measurement tables carry the SR's SeriesInstanceUID and
the SEG's segmentationSeriesUID, and measurement_groups / quantitative_measurements hold
segmentationSegmentNumber as an INTEGER (before: REPEATED). qualitative_measurements keeps it
REPEATED and has no segmentationSeriesUID even in the newest schema IDC publishes. (The eras
follow the view SQL and schema JSON in ImagingDataCommons/etl_flow, derived_data_views; the
release numbers here are the fixture's, not IDC's exact ones.)"""


def _code4(name: str, mode: str = "NULLABLE") -> bigquery.SchemaField:
    """A code RECORD with CodingSchemeVersion, as IDC's measurement tables have most."""
    from google.cloud.bigquery import SchemaField

    return SchemaField(
        name,
        "RECORD",
        mode=mode,
        fields=[
            SchemaField("CodeValue", "STRING"),
            SchemaField("CodingSchemeDesignator", "STRING"),
            SchemaField("CodingSchemeVersion", "STRING"),
            SchemaField("CodeMeaning", "STRING"),
        ],
    )


def content_sequence_schema() -> bigquery.SchemaField:
    """``measurement_groups.contentSequence``: IDC's content tree of a Measurement Group, with
    its fields and irregular nesting level by level as IDC's schema JSON declares them."""
    from google.cloud.bigquery import SchemaField as F

    def strings(*names: str) -> list[F]:
        return [F(n, "STRING") for n in names]

    def measured(units: F) -> F:
        return F(
            "MeasuredValueSequence",
            "RECORD",
            "REPEATED",
            fields=[units, F("NumericValue", "STRING", "REPEATED")],
        )

    def refs(*extra: F) -> F:
        return F(
            "ReferencedSOPSequence",
            "RECORD",
            "REPEATED",
            fields=[*strings("ReferencedSOPClassUID", "ReferencedSOPInstanceUID"), *extra],
        )

    nested_refs = refs(F("ReferencedFrameNumber", "STRING", "REPEATED"), refs())
    level4 = F(
        "ContentSequence",
        "RECORD",
        "REPEATED",
        fields=[
            *strings("RelationshipType", "ValueType"),
            _code("ConceptNameCodeSequence", "REPEATED"),
            F("TextValue", "STRING"),
            _code("ConceptCodeSequence", "REPEATED"),
            F(
                "ContentSequence",
                "RECORD",
                "REPEATED",
                fields=[nested_refs, *strings("RelationshipType", "ValueType")],
            ),
            F("GraphicData", "FLOAT", "REPEATED"),
            F("GraphicType", "STRING"),
        ],
    )
    level3 = F(
        "ContentSequence",
        "RECORD",
        "REPEATED",
        fields=[
            *strings("RelationshipType", "ValueType"),
            _code("ConceptNameCodeSequence", "REPEATED"),
            F("ContinuityOfContent", "STRING"),
            _code("ConceptCodeSequence", "REPEATED"),
            refs(refs()),
            measured(_code4("MeasurementUnitsCodeSequence", "REPEATED")),
            level4,
        ],
    )
    level2 = F(
        "ContentSequence",
        "RECORD",
        "REPEATED",
        fields=[
            *strings("RelationshipType", "ValueType"),
            _code("ConceptNameCodeSequence", "REPEATED"),
            F("ContinuityOfContent", "STRING"),
            F("DateTime", "TIMESTAMP"),
            F("Time", "TIME"),
            *strings("UID", "TextValue"),
            _code("ConceptCodeSequence", "REPEATED"),
            measured(_code("MeasurementUnitsCodeSequence", "REPEATED")),
            level3,
        ],
    )
    level1 = F(
        "ContentSequence",
        "RECORD",
        "REPEATED",
        fields=[
            refs(F("ReferencedSegmentNumber", "INTEGER", "REPEATED")),
            *strings("RelationshipType", "ValueType"),
            _code("ConceptNameCodeSequence", "REPEATED"),
            F("ContinuityOfContent", "STRING"),
            F("Date", "DATE"),
            F("Time", "TIME"),
            *strings("UID", "TextValue"),
            _code4("ConceptCodeSequence", "REPEATED"),
            measured(_code4("MeasurementUnitsCodeSequence", "REPEATED")),
            level2,
        ],
    )
    return F("contentSequence", "RECORD", fields=[
        refs(F("ReferencedFrameNumber", "STRING", "REPEATED")),
        *strings("RelationshipType", "ValueType"),
        _code("ConceptNameCodeSequence", "REPEATED"), F("ContinuityOfContent", "STRING"),
        F("Date", "DATE"), *strings("UID", "TextValue"),
        _code("ConceptCodeSequence", "REPEATED"),
        measured(_code4("MeasurementUnitsCodeSequence", "REPEATED")),
        F("ContentTemplateSequence", "RECORD", "REPEATED",
          fields=strings("MappingResource", "MappingResourceUID", "TemplateIdentifier")),
        level1,
    ])  # fmt: skip


def _segment_number(version: int, table: str) -> bigquery.SchemaField:
    from google.cloud.bigquery import SchemaField

    repeated = table == "qualitative_measurements" or version < MEASUREMENT_SERIES_SINCE
    return SchemaField(
        "segmentationSegmentNumber", "INTEGER", mode="REPEATED" if repeated else "NULLABLE"
    )


def measurement_groups_schema(version: int) -> list[bigquery.SchemaField]:
    """IDC's ``measurement_groups`` (one row per TID 1500 Measurement Group)."""
    from google.cloud.bigquery import SchemaField

    new = version >= MEASUREMENT_SERIES_SINCE
    fields = [
        SchemaField("SOPInstanceUID", "STRING"),
        SchemaField("SeriesInstanceUID", "STRING") if new else None,
        SchemaField("measurementGroup_number", "INTEGER"),
        SchemaField("trackingUniqueIdentifier", "STRING"),
        SchemaField("trackingIdentifier", "STRING"),
        SchemaField("PatientID", "STRING"),
        SchemaField("SeriesDescription", "STRING"),
        _code4("finding"),
        _code4("findingSite"),
        SchemaField("sourceSegmentedSeriesUID", "STRING"),
        SchemaField("segmentationInstanceUID", "STRING"),
        SchemaField("segmentationSeriesUID", "STRING") if new else None,
        _segment_number(version, "measurement_groups"),
        content_sequence_schema(),
    ]
    return [f for f in fields if f is not None]


def _measurement_head(version: int, table: str) -> list[bigquery.SchemaField | None]:
    from google.cloud.bigquery import SchemaField

    new = version >= MEASUREMENT_SERIES_SINCE
    qualitative = table == "qualitative_measurements"
    return [
        SchemaField("PatientID", "STRING"),
        SchemaField("SOPInstanceUID", "STRING"),
        SchemaField("SeriesInstanceUID", "STRING") if new else None,
        SchemaField("SeriesDescription", "STRING") if new or not qualitative else None,
        SchemaField("measurementGroup_number", "INTEGER"),
        SchemaField("segmentationInstanceUID", "STRING"),
        SchemaField("segmentationSeriesUID", "STRING") if new and not qualitative else None,
        _segment_number(version, table),
        SchemaField("sourceSegmentedSeriesUID", "STRING"),
        SchemaField("trackingIdentifier", "STRING"),
        SchemaField("trackingUniqueIdentifier", "STRING"),
    ]


def quantitative_measurements_schema(version: int) -> list[bigquery.SchemaField]:
    """IDC's ``quantitative_measurements`` (one row per NUM item of a group)."""
    from google.cloud.bigquery import SchemaField

    fields = [
        *_measurement_head(version, "quantitative_measurements"),
        _code("Quantity"),
        _code("derivationModifier"),
        SchemaField("Value", "NUMERIC"),
        _code4("Units"),
        _code4("finding"),
        _code4("findingSite"),
        _code4("lateralityModifier"),
    ]
    return [f for f in fields if f is not None]


def qualitative_measurements_schema(version: int) -> list[bigquery.SchemaField]:
    """IDC's ``qualitative_measurements`` (one row per coded evaluation of a group)."""
    fields = [
        *_measurement_head(version, "qualitative_measurements"),
        _code("Quantity"),
        _code4("Value"),
        _code4("finding"),
        _code4("findingSite"),
    ]
    return [f for f in fields if f is not None]


MEASUREMENT_SCHEMAS = {
    "measurement_groups": measurement_groups_schema,
    "quantitative_measurements": quantitative_measurements_schema,
    "qualitative_measurements": qualitative_measurements_schema,
}


def code4(value: str, scheme: str, meaning: str) -> dict[str, str | None]:
    """A code with CodingSchemeVersion (NULL), as the measurement tables hold most codes."""
    return {**code(value, scheme, meaning), "CodingSchemeVersion": None}


NO_CODE = {"CodeValue": None, "CodingSchemeDesignator": None, "CodeMeaning": None}
"""IDC's views write an absent derivation or laterality as a STRUCT of NULLs."""
NODULE_FINDING = code4("M-03010", "SRT", "Nodule")
LUNG_SITE = code4("T-28000", "SRT", "Lung")
VOLUME_CODE = code("G-D705", "SRT", "Volume")
VOLUME_SCT = code("118565006", "SCT", "Volume")
DIAMETER_CODE = code("M-02550", "SRT", "Diameter")
MEAN_HU = code("112031", "DCM", "Attenuation Coefficient")
MALIGNANCY = code("RID36042", "RadLex", "Malignancy")
SUBTLETY = code("C45992", "NCIt", "Subtlety score")


def malignancy(score: int, meaning: str) -> dict[str, str | None]:
    return code4(f"90{score}", "99LIDCQIICR", f"{score} out of 5 ({meaning})")


@dataclass(frozen=True)
class MeasuredGroup:
    """One measurement group of a fixture SR."""

    segmentation: str | None  # SOPInstanceUID of the SEG named
    segmentation_series: str | None
    segment_number: int | None
    source_series: str | None
    tracking_id: str
    tracking_uid: str
    finding: dict[str, Any] = field(default_factory=lambda: NODULE_FINDING)
    finding_site: dict[str, Any] | None = field(default_factory=lambda: LUNG_SITE)
    laterality: dict[str, Any] | None = None
    # (quantity, value as text, units code, derivation or None)
    measurements: tuple[tuple[dict[str, Any], str, dict[str, Any], dict[str, Any] | None], ...] = ()
    evaluations: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = ()


@dataclass(frozen=True)
class Report:
    """One fixture TID 1500 SR."""

    patient: str
    series: str
    sop: str
    description: str
    groups: tuple[MeasuredGroup, ...]


def fixture_reports() -> list[Report]:
    """SRs on the fixture world's SEGs, the ways a measurement meets its segment:

    * LIDC-IDRI-0001 reader 1: the legacy nodule SEG's segment 1 by instance + number (volume,
      a diameter with a derivation, LIDC ratings), laterality Left.
    * reader 2: names a SEG instance no table holds, but the nodule's tracking UID.
    * TotalSegmentator on the nlst CT: two organs of its SEG (volumes in ml and mm3 — the
      SNOMED-CT Volume code —, a mean attenuation with derivation Mean).
    * an SR measuring a segment of an unknown SEG, with an unknown tracking UID.
    """
    seg2, ct2 = _instance_uid_of("2.25.2.1.2"), "2.25.2.1.1"
    seg1, ct1 = _instance_uid_of("2.25.1.1.2"), "2.25.1.1.1"
    mm3 = code4("mm3", "UCUM", "cubic millimeter")
    ml = code4("ml", "UCUM", "milliliter")
    mm = code4("mm", "UCUM", "millimeter")
    hu = code4("[hnsf'U]", "UCUM", "Hounsfield unit")
    maximum = code("R-404FB", "SRT", "Maximum")
    mean = code("R-00317", "SRT", "Mean")
    return [
        Report("LIDC-IDRI-0001", _uid(2, 8, 1), _uid(2, 8, 1, 1), "Reader 1", (
            MeasuredGroup(seg2, "2.25.2.1.2", 1, ct2, "Nodule 1 - Reader 1", _uid(2, 9, 1),
                          laterality=code4("7771000", "SCT", "Left"),
                          measurements=((VOLUME_CODE, "523.6", mm3, None),
                                        (DIAMETER_CODE, "10.25", mm, maximum)),
                          evaluations=((MALIGNANCY, malignancy(4, "Moderately Suspicious for Cancer")),
                                       (SUBTLETY, code4("105", "99LIDCQIICR", "5 out of 5 (Obvious)")))),
        )),
        Report("LIDC-IDRI-0001", _uid(2, 8, 2), _uid(2, 8, 2, 1), "Reader 2", (
            MeasuredGroup("2.25.9.9.9.1", "2.25.9.9.9", 1, ct2, "Nodule 1 - Reader 2", _uid(2, 9, 1),
                          measurements=((VOLUME_CODE, "610", mm3, None),),
                          evaluations=((MALIGNANCY, malignancy(5, "Highly Suspicious for Cancer")),)),
        )),
        Report("100002", _uid(1, 8, 1), _uid(1, 8, 1, 1), "TotalSegmentator measurements", (
            MeasuredGroup(seg1, "2.25.1.1.2", 1, ct1, "lung_left", _uid(1, 9, 1),
                          finding=code4("39607008", "SCT", "Lung"), finding_site=None,
                          measurements=((VOLUME_SCT, "2.5E3", ml, None),
                                        (MEAN_HU, "-812.25", hu, mean))),
            MeasuredGroup(seg1, "2.25.1.1.2", 2, ct1, "liver", _uid(1, 9, 2),
                          finding=code4("10200004", "SCT", "Liver"), finding_site=None,
                          measurements=((VOLUME_SCT, "1612000", mm3, None),
                                        (MEAN_HU, "55.5", hu, mean))),
        )),
        Report("LIDC-IDRI-0001", _uid(2, 8, 3), _uid(2, 8, 3, 1), "Reader 3", (
            MeasuredGroup("2.25.9.9.8.1", "2.25.9.9.8", 1, None, "Nodule X", _uid(2, 9, 99),
                          measurements=((VOLUME_CODE, "1.2", ml, None),),
                          evaluations=((MALIGNANCY, malignancy(3, "Indeterminate Likelihood")),)),
        )),
    ]  # fmt: skip


def _instance_uid_of(series_uid: str) -> str:
    return f"{series_uid}.1"


def measurement_rows(reports: Iterable[Report]) -> dict[str, list[dict[str, Any]]]:
    """IDC's three measurement tables' rows (newest columns; older ones dropped on load)."""
    groups: list[dict[str, Any]] = []
    quantitative: list[dict[str, Any]] = []
    qualitative: list[dict[str, Any]] = []
    for report in reports:
        for number, g in enumerate(report.groups):
            common = {
                "PatientID": report.patient,
                "SOPInstanceUID": report.sop,
                "SeriesInstanceUID": report.series,
                "SeriesDescription": report.description,
                "measurementGroup_number": number,
                "segmentationInstanceUID": g.segmentation,
                "segmentationSeriesUID": g.segmentation_series,
                "segmentationSegmentNumber": g.segment_number,
                "sourceSegmentedSeriesUID": g.source_series,
                "trackingIdentifier": g.tracking_id,
                "trackingUniqueIdentifier": g.tracking_uid,
            }
            groups.append(
                {
                    **common,
                    "finding": g.finding,
                    "findingSite": g.finding_site,
                    "contentSequence": _content(g),
                }
            )
            for quantity, value, units, derivation in g.measurements:
                quantitative.append(
                    {
                        **common,
                        "Quantity": quantity,
                        "derivationModifier": derivation or NO_CODE,
                        "Value": value,
                        "Units": units,
                        "finding": g.finding,
                        "findingSite": g.finding_site,
                        "lateralityModifier": g.laterality
                        or {**NO_CODE, "CodingSchemeVersion": None},
                    }
                )
            for concept, value in g.evaluations:
                qualitative.append(
                    {
                        **{k: v for k, v in common.items() if k != "segmentationSeriesUID"},
                        "Quantity": concept,
                        "Value": value,
                        "finding": g.finding,
                        "findingSite": g.finding_site,
                    }
                )
    return {
        "measurement_groups": groups,
        "quantitative_measurements": quantitative,
        "qualitative_measurements": qualitative,
    }


def _content(g: MeasuredGroup) -> dict[str, Any]:
    """The first two levels of a group's content tree, in IDC's field names."""
    items: list[dict[str, Any]] = [
        {"RelationshipType": "HAS OBS CONTEXT", "ValueType": "TEXT",
         "ConceptNameCodeSequence": [code("112039", "DCM", "Tracking Identifier")],
         "TextValue": g.tracking_id},
        {"RelationshipType": "HAS OBS CONTEXT", "ValueType": "UIDREF",
         "ConceptNameCodeSequence": [code("112040", "DCM", "Tracking Unique Identifier")],
         "UID": g.tracking_uid},
        {"RelationshipType": "CONTAINS", "ValueType": "CODE",
         "ConceptNameCodeSequence": [code("121071", "DCM", "Finding")],
         "ConceptCodeSequence": [g.finding]},
    ]  # fmt: skip
    if g.segmentation:
        items.append(
            {"RelationshipType": "CONTAINS", "ValueType": "IMAGE",
             "ConceptNameCodeSequence": [code("121191", "DCM", "Referenced Segment")],
             "ReferencedSOPSequence": [{"ReferencedSOPClassUID": SEG_STORAGE,
                                        "ReferencedSOPInstanceUID": g.segmentation,
                                        "ReferencedSegmentNumber": [g.segment_number]}]}
        )  # fmt: skip
    for quantity, value, units, _ in g.measurements:
        items.append(
            {"RelationshipType": "CONTAINS", "ValueType": "NUM",
             "ConceptNameCodeSequence": [quantity],
             "MeasuredValueSequence": [{"MeasurementUnitsCodeSequence": [units],
                                        "NumericValue": [value]}]}
        )  # fmt: skip
    return {
        "RelationshipType": "CONTAINS",
        "ValueType": "CONTAINER",
        "ConceptNameCodeSequence": [code("125007", "DCM", "Measurement Group")],
        "ContentSequence": items,
    }


# --------------------------------------------------------------------------------------------
# Command line: `python -m tests.bqemulator setup|serve`
# --------------------------------------------------------------------------------------------


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.bqemulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create or verify the emulator virtualenv, print its python")
    serve = sub.add_parser("serve", help="run an emulator with IDC fixture data until Ctrl-C")
    serve.add_argument("--empty", action="store_true", help="do not load IDC fixture data")
    args = parser.parse_args(argv)

    try:
        python = ensure_emulator_python()
    except EmulatorUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "setup":
        print(python)
        return 0

    apply_offline_google_env()
    with (
        tempfile.TemporaryDirectory(prefix="idcseg-bqemu-") as tmp,
        BQEmulator(python, Path(tmp)) as emu,
    ):
        if not args.empty:
            load_idc_fixture(emu.make_client())
        print(f"bqemulator {emu.version} at {emu.endpoint} (pid {emu.pid}); Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            while emu.process and emu.process.poll() is None:
                time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
