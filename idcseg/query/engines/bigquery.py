"""The BigQuery engine: IDC's tables in ``bigquery-public-data`` through google-cloud-bigquery.

Every query is rendered from the same templates as the embedded engine, its values bound as
query parameters. Before it runs, a dry run says how many bytes it will scan; a query over the
cap (``--max-bytes``) is refused with the estimate, and the job itself carries
``maximum_bytes_billed`` so BigQuery enforces the same cap. Results are cached locally as parquet.
This module is imported only when ``--engine bigquery`` is used.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from importlib.util import find_spec
from typing import Any

from ...errors import IdcsegError, UsageError
from ...local.store import Store
from .. import cost, render
from ..resultcache import ResultCache, cache_key
from ..spec import Query, parameter_type, validate_dataset
from . import normalise_frame, sql_kind

ENDPOINT_ENV = "IDCSEG_BIGQUERY_ENDPOINT"
PUBLIC_PROJECT = "bigquery-public-data"
SCHEMA_TABLES = ("segmentations", "dicom_all")
OPTIONAL_TABLES = (
    "dicom_metadata_curated",
    "measurement_groups",
    "quantitative_measurements",
    "qualitative_measurements",
)
"""Read when the release has them (IDC's curated BodyPartExamined, from v7; the TID 1500
measurement tables); absent is fine: templates that need one say so."""
COLUMNS_CACHE_VERSION = 2  # part of the cached file's name: bump when flatten_schema changes


class ConfigError(UsageError):
    """BigQuery cannot be reached as configured (credentials, project)."""


def _python(value: Any) -> Any:
    """A pandas/numpy cell as a plain Python value (missing → None)."""
    if value is None:
        return None
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return value.tolist()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class FrameResult:
    """Rows that arrived as a pandas DataFrame (from BigQuery or the result cache)."""

    def __init__(
        self,
        frame: Any,
        *,
        kinds: dict[str, str] | None = None,
        cached: bool = False,
        estimate: cost.Estimate | None = None,
    ):
        self.frame = normalise_frame(frame, kinds)
        self.cached = cached
        self.estimate = estimate
        self.columns: list[str] = [str(c) for c in frame.columns]

    def rows(self) -> list[tuple[Any, ...]]:
        """All rows as tuples of Python values."""
        return [
            tuple(_python(v) for v in row) for row in self.frame.itertuples(index=False, name=None)
        ]

    def to_pandas(self) -> Any:
        """All rows as a DataFrame with nullable dtypes."""
        return self.frame

    def to_arrow(self) -> Any:
        """All rows as a pyarrow Table."""
        import pyarrow as pa

        return pa.Table.from_pandas(self.to_pandas(), preserve_index=False)


def flatten_schema(fields: Any, prefix: str = "") -> set[str]:
    """Column paths of a BigQuery schema: ``SegmentedPropertyType.CodeValue`` and so on.

    A REPEATED field is listed twice, as ``path`` and ``path[]``: IDC v13–v23 hold
    ``segmentations.SegmentAlgorithmName`` as ``ARRAY<STRING>``, later releases as ``STRING``,
    and templates read it with ``repeated(table, column)``.
    """
    paths: set[str] = set()
    for field in fields:
        path = f"{prefix}{field.name}"
        paths.add(path)
        if getattr(field, "mode", None) == "REPEATED":
            paths.add(f"{path}[]")
        if getattr(field, "fields", None):
            paths |= flatten_schema(field.fields, f"{path}.")
    return paths


def _columns_from_json(text: str) -> dict[str, set[str]] | None:
    """Cached column paths, or ``None`` when the text is not a complete cache entry."""
    try:
        stored = json.loads(text)
    except ValueError:
        return None
    tables = (*SCHEMA_TABLES, *OPTIONAL_TABLES)
    if not isinstance(stored, dict) or set(stored) != set(tables):
        return None
    if not all(isinstance(v, list) and all(isinstance(c, str) for c in v) for v in stored.values()):
        return None
    if not all(stored[t] for t in SCHEMA_TABLES):
        return None
    return {k: set(v) for k, v in stored.items()}


class BigQueryEngine:
    """Run templates on Google BigQuery.

    Args:
        dataset: ``idc_current`` (default) or ``idc_vNN``; validated before any call.
        project: the Google Cloud project billed for queries (default: ``GOOGLE_CLOUD_PROJECT``
            or Application Default Credentials' project).
        client: a ready ``google.cloud.bigquery.Client`` (tests, notebooks); else one is made.
        max_bytes: refuse queries that would scan more (default 25 GB or ``$IDCSEG_MAX_BYTES``).
        cache: reuse results stored locally; ``refresh`` reruns and replaces them.
        store: where the cache lives (default: the local store folder).
    """

    name = "bigquery"

    def __init__(
        self,
        dataset: str | None = None,
        project: str | None = None,
        *,
        client: Any = None,
        max_bytes: int | str | None = None,
        cache: bool = True,
        refresh: bool = False,
        store: Store | None = None,
    ) -> None:
        self.dataset = validate_dataset(dataset)
        self.project = project
        self._client = client
        self.max_bytes = cost.parse_bytes(max_bytes) if max_bytes else cost.default_max_bytes()
        self.cache = cache
        self.refresh = refresh
        self.store = store or Store()
        self._columns: dict[str, set[str]] | None = None

    # -- connection -------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The BigQuery client (created on first use; clear errors for missing set-up)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import bigquery

        project = self.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        options: dict[str, Any] = {}
        endpoint = os.environ.get(ENDPOINT_ENV)
        if endpoint:  # a local emulator or proxy: no Google credentials involved
            from google.auth.credentials import AnonymousCredentials

            options = {
                "client_options": {"api_endpoint": endpoint},
                "credentials": AnonymousCredentials(),
            }
            project = project or "idcseg-local"
        try:
            return bigquery.Client(project=project, **options)
        except DefaultCredentialsError:
            raise ConfigError(
                "no Google Cloud credentials: run `gcloud auth application-default login` (or set "
                "GOOGLE_APPLICATION_CREDENTIALS to a key file), and pass --project or set "
                "GOOGLE_CLOUD_PROJECT"
            ) from None
        except OSError as exc:
            if "project" in str(exc).lower():
                raise ConfigError(
                    "no Google Cloud project to bill queries to: pass --project PROJECT or set "
                    "GOOGLE_CLOUD_PROJECT (IDC's tables are public; the project pays for scans)"
                ) from None
            raise

    def describe(self) -> dict[str, str]:
        """Project, dataset and cost cap."""
        return {
            "project": str(self.project or os.environ.get("GOOGLE_CLOUD_PROJECT") or "(default)"),
            "tables": f"{PUBLIC_PROJECT}.{self.dataset}",
            "max_bytes": cost.human(self.max_bytes),
        }

    # -- schema drift ---------------------------------------------------------------------

    def columns(self) -> dict[str, set[str]]:
        """Column paths of the IDC tables idcseg reads in this dataset (cached).

        Read from the tables' schemas (a free metadata call, no query bytes): ``segmentations``
        and ``dicom_all`` must exist; ``dicom_metadata_curated`` and the measurement tables map
        to an empty set where the release lacks them. Cached on disk, ``idc_current`` for a
        day, pinned releases for good.
        """
        if self._columns is not None:
            return self._columns
        name = f"columns-v{COLUMNS_CACHE_VERSION}-{self.dataset}.json"
        path = self.store.cache_dir / "bigquery" / name
        try:
            fresh = self.dataset != "idc_current" or time.time() - path.stat().st_mtime < 86400
            if fresh:
                stored = _columns_from_json(path.read_text())
                if stored is not None:
                    self._columns = stored
                    return stored
        except OSError:
            pass
        columns: dict[str, set[str]] = {}
        for table in (*SCHEMA_TABLES, *OPTIONAL_TABLES):
            try:
                schema = self.client.get_table(f"{PUBLIC_PROJECT}.{self.dataset}.{table}").schema
            except Exception as exc:  # NotFound, Forbidden, transport errors
                if type(exc).__name__ == "NotFound" and table in OPTIONAL_TABLES:
                    columns[table] = set()
                    continue
                if type(exc).__name__ == "NotFound":
                    raise IdcsegError(
                        f"{PUBLIC_PROJECT}.{self.dataset}.{table} does not exist "
                        "(is the IDC release right?)"
                    ) from None
                if isinstance(exc, IdcsegError):
                    raise
                raise IdcsegError(f"cannot read the schema of {table}: {exc}") from None
            columns[table] = flatten_schema(schema)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps({k: sorted(v) for k, v in columns.items()}))
            temporary.replace(path)
        except OSError:
            pass
        self._columns = columns
        return columns

    # -- queries ----------------------------------------------------------------------------

    def sql(self, query: Query) -> str:
        """The BigQuery SQL of *query* for this dataset's columns, as sent.

        Comment lines are dropped: template headers name @parameters, and some BigQuery front
        ends (emulators) count those as placeholders.
        """
        text = render.render(query, dataset=self.dataset, target="bigquery", columns=self.columns())
        return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))

    @staticmethod
    def parameters(query: Query) -> list[Any]:
        """*query*'s values as BigQuery query parameters (never SQL text)."""
        from google.cloud import bigquery

        out: list[Any] = []
        for name, value in query.params.items():
            kind = parameter_type(value)
            if kind.startswith("ARRAY<"):
                out.append(bigquery.ArrayQueryParameter(name, kind[6:-1], list(value)))
            else:
                out.append(bigquery.ScalarQueryParameter(name, kind, value))
        return out

    def estimate(self, query: Query) -> cost.Estimate:
        """Dry-run *query*: the bytes it would scan (nothing runs, nothing is billed)."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            dry_run=True, use_query_cache=False, query_parameters=self.parameters(query)
        )
        try:
            job = self.client.query(self.sql(query), job_config=config)
        except IdcsegError:
            raise
        except Exception as exc:
            raise cost.interpret_job_error(exc, None, self.max_bytes) from None
        return cost.estimate_from_job(job)

    def run(self, query: Query) -> FrameResult:
        """Run *query* under the cost cap (or return its cached result)."""
        sql = self.sql(query)
        key = cache_key(sql, dict(query.params), self.dataset, self.project)
        results = ResultCache(self.store.cache_dir / "bigquery" / "results")
        if self.cache and not self.refresh:
            frame = results.get(key, self.dataset)
            if frame is not None:
                return FrameResult(frame, cached=True)
        estimate = self.estimate(query)
        cost.check(estimate, self.max_bytes)
        frame, kinds = self._execute(sql, query, estimate)
        result = FrameResult(frame, kinds=kinds, estimate=estimate)
        if self.cache:
            results.put(key, result.frame)
        return result

    def _execute(
        self, sql: str, query: Query, estimate: cost.Estimate
    ) -> tuple[Any, dict[str, str]]:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=self.parameters(query), maximum_bytes_billed=self.max_bytes
        )
        try:
            job = self.client.query(sql, job_config=config)
            rows = job.result()
            storage = find_spec("google.cloud.bigquery_storage") is not None
            with warnings.catch_warnings():  # the client suggests pandas-gbq; this is the same API
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                frame = rows.to_dataframe(create_bqstorage_client=storage)
        except IdcsegError:
            raise
        except Exception as exc:
            raise cost.interpret_job_error(exc, estimate, self.max_bytes) from None
        frame = restore_column_names(frame, sql)
        kinds = {
            name: sql_kind(field.field_type) if field.mode != "REPEATED" else "other"
            for name, field in zip(frame.columns, rows.schema, strict=True)
        }
        return frame, kinds


def restore_column_names(frame: Any, sql: str) -> Any:
    """Give result columns the case the SQL asked for (some BigQuery front ends lower-case them)."""
    import sqlglot

    try:
        names = sqlglot.parse_one(sql, read="bigquery").named_selects
    except Exception:
        return frame
    by_lower = {n.lower(): n for n in names}
    renames = {
        c: by_lower[str(c).lower()]
        for c in frame.columns
        if str(c) not in names and str(c).lower() in by_lower
    }
    return frame.rename(columns=renames) if renames else frame
