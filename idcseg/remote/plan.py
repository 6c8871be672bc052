"""What a download will fetch, before it fetches anything.

:func:`make_plan` turns a selection — series filters (as ``idcseg series``), SeriesInstanceUIDs
(``--series``, ``--from FILE``, a DataFrame) or the lines of an s5cmd manifest — into one
:class:`SeriesPlan` per series: where its objects are (``s3://<aws_bucket>/<crdc_series_uuid>/``),
the folder they go to (the ``--layout``), how many files and bytes IDC's index says it has; with
``with_source``, the image series each SEG segments (:mod:`idcseg.remote.sources`) too. Then the
totals, what the folder already holds (by its ledger), and the free disk space.

The index is the embedded one (the idc-index-data wheel): the same series ``idcseg series``
shows. Series it does not know are an error naming them (exit code 2), before anything is
written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import IdcsegError, UsageError
from ..present.progress import human_bytes
from ..query import spec
from .bucket import ObjectInfo
from .layout import Layout
from .resume import Ledger

SEG_SOP_CLASSES = spec.SEG_SOP_CLASSES["any"]


@dataclass
class SeriesPlan:
    """One series to download."""

    uid: str
    bucket: str
    uuid: str
    folder: PurePosixPath
    facts: dict[str, Any]
    role: str = "selected"  # or "source" (an image series a selected SEG segments)
    source_of: list[str] = field(default_factory=list)
    files: int | None = None  # instanceCount in the index
    size: int | None = None  # bytes, from series_size_MB
    only: frozenset[str] | None = None  # object keys (an instance-level manifest); None: all

    @property
    def prefix(self) -> str:
        """The key prefix of the series' objects."""
        return f"{self.uuid.strip('/')}/"

    @property
    def url(self) -> str:
        """``s3://bucket/uuid/*``, as manifests write it."""
        return f"s3://{self.bucket}/{self.prefix}*"

    @property
    def expected_size(self) -> int:
        """Bytes to expect: the series' size, or for an instance-level manifest its share of it
        (the index has no per-file sizes: the series' mean file size times the files named)."""
        size = self.size or 0
        if self.only is None or not self.files:
            return size
        return -(-size * min(len(self.only), self.files) // self.files)

    @property
    def is_seg(self) -> bool:
        """True for DICOM Segmentation series."""
        return self.facts.get("SOPClassUID") in SEG_SOP_CLASSES


@dataclass
class Plan:
    """Every series of a download, and what is known before it starts."""

    output: Path
    layout: Layout
    series: list[SeriesPlan]
    unresolved: list[tuple[str, str]] = field(default_factory=list)  # (SEG, why no source)
    listings: dict[tuple[str, str], list[ObjectInfo]] = field(default_factory=dict)
    present_files: int = 0
    present_bytes: int = 0
    free_bytes: int | None = None
    index_release: str = ""
    source_hows: dict[str, int] = field(default_factory=dict)
    source_reads: tuple[int, int] = (0, 0)  # SEG headers read, objects searched for instances

    @property
    def files(self) -> int:
        """Files of all series, by the index (instance-level manifests: their lines)."""
        return sum(len(s.only) if s.only is not None else (s.files or 0) for s in self.series)

    @property
    def size(self) -> int:
        """Bytes of all series, by the index (instance-level manifests: their files' share)."""
        return sum(s.expected_size for s in self.series)

    @property
    def needed(self) -> int:
        """Bytes still to fetch: the total less what the folder's ledger holds."""
        return max(0, self.size - self.present_bytes)

    def lines(self) -> list[str]:
        """The plan as a few lines of text."""
        segs = sum(1 for s in self.series if s.is_seg)
        sources = sum(1 for s in self.series if s.role == "source")
        kinds = [f"{segs} SEG"] if segs else []
        if sources:
            kinds.append(f"{sources} source image")
        others = len(self.series) - segs - sources
        if others and kinds:
            kinds.append(f"{others} other")
        what = f" ({', '.join(kinds)})" if kinds else ""
        out = [
            f"plan: {_n(len(self.series), 'series')}{what}, {_n(self.files, 'file')}, "
            f"{human_bytes(self.size)} by {self.index_release or 'the'} index"
        ]
        have = f"{_n(self.present_files, 'file')} ({human_bytes(self.present_bytes)})"
        free = human_bytes(self.free_bytes) if self.free_bytes is not None else "unknown"
        out.append(
            f"  in {self.output}: {have} already; to fetch ≈ {human_bytes(self.needed)}; "
            f"free space {free}"
        )
        if self.source_hows:
            hows = ", ".join(f"{n} from {how}" for how, n in sorted(self.source_hows.items()))
            headers, searched = self.source_reads
            cost = f" ({_n(headers, 'SEG header')} read" if headers else ""
            if searched:
                cost += f", {_n(searched, 'object')} searched"
            out.append(f"  sources of SEGs: {hows}{cost + ')' if cost else ''}")
        if self.unresolved:
            out.append(f"  {_n(len(self.unresolved), 'SEG series')} without a resolvable source:")
            for uid, why in self.unresolved[:20]:
                out.append(f"    {uid}: {why}")
            if len(self.unresolved) > 20:
                out.append(f"    … and {len(self.unresolved) - 20} more")
        return out

    def check_space(self, force: bool = False) -> None:
        """Refuse (exit 1) when the download would not fit, unless *force*."""
        if force or self.free_bytes is None or self.needed <= self.free_bytes:
            return
        raise IdcsegError(
            f"the download needs ≈ {human_bytes(self.needed)} but {self.output} has "
            f"{human_bytes(self.free_bytes)} free; free some space, choose another --output, "
            "or use --force"
        )


def _n(count: int, word: str) -> str:
    plural = word if word.endswith("series") else word + "s"
    return f"{count:,} {word if count == 1 else plural}"


# --- the selection ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestItem:
    """One line of an s5cmd manifest: a series folder, or one object of it."""

    bucket: str
    uuid: str
    key: str | None  # None: every object of the series
    line: int


def read_uid_file(path: Path) -> list[str]:
    """The SeriesInstanceUIDs of a CSV, TSV or parquet file with a ``SeriesInstanceUID``
    column (e.g. ``idcseg series --format csv`` output), or of a text file with one per line."""
    path = Path(path)
    where = f"--from {path}"
    if not path.is_file():
        raise UsageError(f"{where}: no such file")
    try:
        with path.open("rb") as fp:
            start = fp.read(4)
        if start == b"PAR1":
            return _uids(_parquet_column(path, where), where)
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"{where}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{where}: neither a CSV/TSV, a parquet nor a text file") from None
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if first and all(_is_uid(v) for v in first.replace(",", " ").split()):
        return _uids((v for line in lines for v in line.replace(",", " ").split()), where)
    import csv

    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader, [])
    if "SeriesInstanceUID" not in header:
        raise UsageError(f"{where}: no SeriesInstanceUID column (it has: {', '.join(header[:12])})")
    column = header.index("SeriesInstanceUID")
    return _uids((row[column] for row in reader if len(row) > column), where)


def _parquet_column(path: Path, where: str) -> list[Any]:
    import duckdb

    con = duckdb.connect()
    try:
        names = [
            d[0]
            for d in con.execute(
                "SELECT * FROM read_parquet($p) LIMIT 0", {"p": str(path)}
            ).description
            or []
        ]
        if "SeriesInstanceUID" not in names:
            raise UsageError(
                f"{where}: no SeriesInstanceUID column (it has: {', '.join(names[:12])})"
            )
        rows = con.execute(
            'SELECT CAST("SeriesInstanceUID" AS VARCHAR) FROM read_parquet($p)', {"p": str(path)}
        ).fetchall()
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0]
        raise UsageError(f"{where}: not a readable parquet file ({message})") from None
    finally:
        con.close()
    return [r[0] for r in rows]


def _is_uid(text: str) -> bool:
    try:
        spec.validate_uid(text.strip())
        return True
    except UsageError:
        return False


def _uids(values: Iterable[Any], where: str) -> list[str]:
    out = []
    for value in values:
        if value is None or not str(value).strip():
            continue
        text = str(value).strip()
        try:
            out.append(spec.validate_uid(text, "SeriesInstanceUID"))
        except UsageError:
            raise UsageError(f"{where}: not a SeriesInstanceUID: {text[:80]!r}") from None
    if not out:
        raise UsageError(f"{where}: holds no SeriesInstanceUID")
    return list(dict.fromkeys(out))


def uids_of_frame(frame: Any) -> list[str]:
    """The SeriesInstanceUIDs of a DataFrame (its ``SeriesInstanceUID`` column)."""
    if "SeriesInstanceUID" not in getattr(frame, "columns", ()):
        raise UsageError("the frame has no SeriesInstanceUID column")
    return _uids(frame["SeriesInstanceUID"].tolist(), "the frame")


# --- from a selection to series plans ---------------------------------------------------------


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows()]


def _chunks(values: Sequence[str], size: int = 50_000) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def series_rows(engine: Any, uids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``sql/download_series.sql`` rows of *uids*, by SeriesInstanceUID."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(list(uids)):
        for row in _rows(engine.run(spec.download_series_query(chunk))):
            found[row["SeriesInstanceUID"]] = row
    return found


def known_sources(engine: Any, uids: Sequence[str]) -> dict[str, str | None]:
    """The segmented series IDC's seg_index (or the local store) names for SEG series *uids*."""
    known: dict[str, str | None] = {}
    for chunk in _chunks(list(uids)):
        f = spec.SeriesFilter.build(series=list(chunk))
        for row in _rows(engine.run(spec.series_query(f))):
            known[row["SeriesInstanceUID"]] = row.get("segmented_SeriesInstanceUID")
    return known


def selected_uids(
    engine: Any,
    series_filter: spec.SeriesFilter | None,
    uids: Sequence[str] | None,
    limit: int | None = None,
) -> tuple[list[str], dict[str, str | None] | None]:
    """The SeriesInstanceUIDs chosen, and (when a filter chose them) the segmented series
    seg_index knows for them (``None``: not looked up).

    *uids* are taken as given (any modality); a filter chooses SEG series as ``idcseg series``
    does (with ``--series``, among those UIDs).
    """
    if uids is not None and (series_filter is None or _only_series(series_filter)):
        chosen = list(dict.fromkeys(uids))
        return (chosen[:limit] if limit is not None else chosen), None
    if series_filter is None:
        raise UsageError("say which series to download: filters, --series, --from or --manifest")
    query = spec.series_query(series_filter, limit)
    rows = _rows(engine.run(query))
    if not rows:
        spec.explain_empty(engine, query)  # an unknown collection: exit 2, with the closest
        raise IdcsegError(
            "no SEG series match these filters, so there is nothing to take; `idcseg series` "
            "with the same filters shows what they match"
        )
    chosen = [r["SeriesInstanceUID"] for r in rows]
    return chosen, {r["SeriesInstanceUID"]: r.get("segmented_SeriesInstanceUID") for r in rows}


def _only_series(f: spec.SeriesFilter) -> bool:
    others = [on for name, on in f.flags().items() if name != "series"]
    return not any(others) and f.sop_class == "any"


def _plan_of(row: dict[str, Any], layout: Layout, role: str = "selected") -> SeriesPlan:
    size = row.get("series_size_MB")
    return SeriesPlan(
        uid=row["SeriesInstanceUID"],
        bucket=row["aws_bucket"],
        uuid=row["crdc_series_uuid"],
        folder=layout.folder(row),
        facts=row,
        role=role,
        files=row.get("instanceCount"),
        size=round(float(size) * 1e6) if size is not None else None,
    )


def _unknown(uids: Sequence[str], where: str) -> UsageError:
    shown = ", ".join(uids[:5]) + (f" … and {len(uids) - 5} more" if len(uids) > 5 else "")
    return UsageError(
        f"{len(uids)} of the series {where} {'is' if len(uids) == 1 else 'are'} not in IDC's "
        f"index: {shown} (check the UIDs; `idcseg series --series UID` shows what is known)"
    )


def make_plan(
    engine: Any,
    output: Path,
    layout: Layout,
    *,
    series_filter: spec.SeriesFilter | None = None,
    uids: Sequence[str] | None = None,
    manifest: list[ManifestItem] | None = None,
    with_source: bool = False,
    client: Any = None,
    limit: int | None = None,
    concurrency: int = 8,
) -> Plan:
    """Plan a download (see the module docstring). *client* (an
    :class:`~idcseg.remote.transfer.ObjectClient`) is needed only to read SEG headers for
    ``with_source``."""
    chosen_known: dict[str, str | None] | None = None
    if manifest is not None:
        plans = _manifest_plans(engine, manifest, layout)
        if limit is not None:
            plans = plans[:limit]
    else:
        chosen, chosen_known = selected_uids(engine, series_filter, uids, limit)
        rows = series_rows(engine, chosen)
        missing = [u for u in chosen if u not in rows]
        if missing:
            raise _unknown(missing, "asked for")
        nowhere = [
            u for u in chosen if not (rows[u].get("aws_bucket") and rows[u].get("crdc_series_uuid"))
        ]
        if nowhere:
            raise UsageError(
                f"{len(nowhere)} series have no files in IDC's buckets (SEGs you ingested "
                f"locally?): {', '.join(nowhere[:5])}"
            )
        plans = [_plan_of(rows[u], layout) for u in chosen]
    plan = Plan(output=output, layout=layout, series=plans)
    if with_source:
        if chosen_known is None:
            segs = [p.uid for p in plans if p.is_seg]
            chosen_known = known_sources(engine, segs) if segs else {}
        _add_sources(plan, engine, client, chosen_known, concurrency)
    _dedupe(plan)
    return plan


def _dedupe(plan: Plan) -> None:
    """One plan per series folder in the bucket (a source shared by SEGs comes once)."""
    seen: dict[tuple[str, str], SeriesPlan] = {}
    out = []
    for item in plan.series:
        key = (item.bucket, item.uuid)
        if key in seen:
            first = seen[key]
            first.source_of.extend(u for u in item.source_of if u not in first.source_of)
            if first.only is not None:
                first.only = None if item.only is None else first.only | item.only
            continue
        seen[key] = item
        out.append(item)
    plan.series = out


def _add_sources(
    plan: Plan,
    engine: Any,
    client: Any,
    known: dict[str, str | None],
    concurrency: int,
) -> None:
    from .sources import SegToResolve, resolve_sources

    segs = [
        SegToResolve(
            uid=p.uid,
            study=p.facts.get("StudyInstanceUID"),
            bucket=p.bucket,
            uuid=p.uuid,
            known=known.get(p.uid),
        )
        for p in plan.series
        if p.is_seg and p.role == "selected"
    ]
    if not segs:
        return

    def study_series(studies: list[str]) -> list[dict[str, Any]]:
        return _rows(engine.run(spec.study_series_query(studies)))

    if client is None and any(s.known is None for s in segs):
        from .transfer import ObjectClient

        client = ObjectClient()
    resolution = resolve_sources(segs, client, study_series, concurrency=concurrency)
    plan.listings.update(resolution.listings)
    plan.source_reads = (resolution.header_reads, resolution.objects_searched)
    wanted = sorted({s.series for s in resolution.sources.values() if s.series})
    rows = series_rows(engine, wanted) if wanted else {}
    for how in ("seg_index", "header", "instance"):
        count = sum(1 for s in resolution.sources.values() if s.how == how and s.series)
        if count:
            plan.source_hows[how] = count
    selected = {(p.bucket, p.uuid) for p in plan.series}
    by_uid: dict[str, SeriesPlan] = {}
    for seg in segs:
        source = resolution.sources[seg.uid]
        if source.series is None:
            plan.unresolved.append((seg.uid, source.why or "unknown"))
            continue
        row = rows.get(source.series)
        if row is None or not row.get("crdc_series_uuid"):
            plan.unresolved.append(
                (seg.uid, f"its source series {source.series} is not in IDC's index")
            )
            continue
        item = by_uid.get(source.series)
        if item is None:
            item = by_uid[source.series] = _plan_of(row, plan.layout, "source")
            if (item.bucket, item.uuid) not in selected:
                plan.series.append(item)
        item.source_of.append(seg.uid)


def _manifest_plans(engine: Any, items: list[ManifestItem], layout: Layout) -> list[SeriesPlan]:
    """Series plans for the lines of a manifest: series found by their folder (current or
    earlier IDC releases); an error names the folders no index knows."""
    uuids = list(dict.fromkeys(i.uuid for i in items))
    rows: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(uuids):
        for row in _rows(engine.run(spec.series_by_uuid_query(chunk))):
            rows.setdefault(row["crdc_series_uuid"], row)
    missing = [u for u in uuids if u not in rows]
    if missing:
        lines = sorted({i.line for i in items if i.uuid in set(missing)})
        raise UsageError(
            f"{len(missing)} series folder{'s' if len(missing) > 1 else ''} of the manifest "
            f"{'are' if len(missing) > 1 else 'is'} in no IDC index (line "
            f"{', '.join(map(str, lines[:5]))}{' …' if len(lines) > 5 else ''}): "
            f"{', '.join(missing[:3])}"
        )
    plans: dict[str, SeriesPlan] = {}
    for item in items:
        plan = plans.get(item.uuid)
        if plan is None:
            plan = plans[item.uuid] = _plan_of(rows[item.uuid], layout)
            plan.only = frozenset() if item.key is not None else None
        if item.key is None:
            plan.only = None
        elif plan.only is not None:
            plan.only = plan.only | {item.key}
    return list(plans.values())


def free_space(folder: Path) -> int | None:
    """Free bytes on the file system that holds *folder* (or its nearest existing parent)."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def fill_local_state(plan: Plan, ledger: Ledger) -> None:
    """What the folder already holds of the plan (by the ledger), and its free space."""
    series = {(p.bucket, p.prefix) for p in plan.series}
    files = size = 0
    for entry in ledger.entries.values():
        bucket, _, key = entry.url.removeprefix("s3://").partition("/")
        prefix = key.split("/", 1)[0] + "/"
        if (bucket, prefix) in series and os.path.exists(plan.output / entry.path):
            files += 1
            size += entry.size
    plan.present_files, plan.present_bytes = files, size
    plan.free_bytes = free_space(plan.output)
