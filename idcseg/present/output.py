"""Writing results: a readable table on a terminal, or csv / json / jsonl / parquet.

Works from a :class:`~idcseg.query.engines.Result` without building a DataFrame (pandas costs ~0.5 s
to import); parquet goes through pyarrow. Files are written to a temporary name and renamed, so
an interrupted write never leaves a half file behind.
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from ..errors import IdcsegError, UsageError, did_you_mean

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
PREVIEW_ROWS = 40  # a table on a terminal shows this many rows of a longer result

# A table on a terminal wider than the terminal shows these columns (those the result has, in
# its order); `--wide` shows every column, `--columns` chooses. Files, pipes and the other
# formats keep every column.
READABLE_COLUMNS = frozenset(
    {
        "source",
        "collection_id",
        "analysis_result_id",
        "PatientID",
        "SeriesDescription",
        "BodyPartExamined",
        "SegmentationType",
        "total_segments",
        "AlgorithmType",
        "segmented_Modality",
        "series_size_MB",
        "size_MB",
        "SegmentNumber",
        "SegmentLabel",
        "structure",
        "anatomy",
        "modifier",
        "SegmentAlgorithmType",
        "segment_count",
        "structures",
        "algorithm_types",
        "value",
        "units",
        "value_meaning",
        "finding",
        "finding_site",
        "kind",
        "quantity",
        "derivation",
        "code",
        "series_count",
        "study_count",
        "patient_count",
        "viewer_url",
    }
)


@dataclass(frozen=True)
class Display:
    """Which columns a table shows: *columns* chosen by name, or *wide* for all of them.

    *also* names columns a narrow terminal shows beside :data:`READABLE_COLUMNS` (e.g. the
    measurement columns ``find --with-measurements`` adds)."""

    columns: tuple[str, ...] = ()
    wide: bool = False
    also: tuple[str, ...] = ()

    @classmethod
    def build(cls, columns: list[str] | str | None = None, wide: bool = False) -> Display:
        """From ``--columns A,B`` (repeatable, comma-separated) and ``--wide``."""
        if isinstance(columns, str):
            columns = [columns]
        names = tuple(n.strip() for text in columns or () for n in text.split(",") if n.strip())
        if columns and not names:
            raise UsageError("--columns needs column names, e.g. --columns PatientID,viewer_url")
        if names and wide:
            raise UsageError("--columns and --wide choose columns both: give one of them")
        return cls(names, wide)

    def chosen(self, columns: list[str]) -> list[int] | None:
        """Positions of the chosen columns in *columns*, or None when none were chosen."""
        if not self.columns:
            return None
        by_name = {c.lower(): i for i, c in enumerate(columns)}
        missing = [n for n in self.columns if n.lower() not in by_name]
        if missing:
            raise UsageError(
                f"no column {missing[0]!r} in this result{did_you_mean(missing[0], columns)}; "
                f"its columns: {', '.join(columns)}"
            )
        return [by_name[n.lower()] for n in self.columns]


def readable(
    columns: list[str], rows: list[tuple[Any, ...]], width: int, also: Iterable[str] = ()
) -> list[int] | None:
    """The columns a terminal *width* characters wide shows of a table too wide for it: the
    :data:`READABLE_COLUMNS` it has and those named in *also*, less those empty in every row
    shown. None when every column fits, or when that would leave no column or all of them."""
    if max(map(len, format_table(columns, rows).splitlines())) <= width:
        return None
    wanted = READABLE_COLUMNS.union(also)
    keep = [i for i, c in enumerate(columns) if c in wanted and any(_cell(row[i]) for row in rows)]
    return keep if 0 < len(keep) < len(columns) else None


def check_target(fmt: str, output: Path | None) -> None:
    """Refuse an unknown format or an unwritable --output before any query runs."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "parquet" and output is None:
        raise UsageError("--format parquet needs --output FILE")
    if output is None:
        return
    folder = output.parent if str(output.parent) else Path(".")
    if output.is_dir():
        raise UsageError(f"cannot write {output}: it is a folder")
    if not folder.is_dir():
        raise UsageError(f"cannot write {output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise UsageError(f"cannot write {output}: permission denied")


def _plain(value: Any) -> Any:
    """A JSON-ready value: strings stay strings (UIDs), NaN becomes null."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


_JSON_NATIVE = ("string", "int", "bool")  # result column kinds json encodes as they come


def _json_records(columns: list[str], result: Any) -> Iterator[str]:
    """Each row as a JSON object. Only columns that may hold NaN, Decimal, dates or nested
    values go through :func:`_plain`; strings and integers go to the C encoder as they are
    (a third of the time on 100,000-row results)."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    kinds = getattr(result, "kinds", None) or {}
    convert = [i for i, c in enumerate(columns) if kinds.get(c) not in _JSON_NATIVE]
    for batch in _batches(result):
        for row in batch:
            if convert:
                row = list(row)
                for i in convert:
                    row[i] = _plain(row[i])
            yield encode(dict(zip(columns, row, strict=True)))


def _cell(value: Any, exact: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if exact:  # csv: every digit, like json
            return repr(value)
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(_plain(value), ensure_ascii=False)
    return str(value)


def _csv_cell(value: Any) -> Any:
    """A CSV field: strings and integers as they are (the csv module writes them), the rest
    through :func:`_cell` with every digit (a third of the time on wide results)."""
    kind = type(value)
    if kind is str or kind is int:
        return value
    if value is None:
        return ""
    return _cell(value, exact=True)


def format_table(columns: list[str], rows: list[tuple[Any, ...]], max_width: int = 60) -> str:
    """Aligned plain-text columns; long cells are cut with '…' except URLs and UIDs."""
    cells = [[_cell(v) for v in row] for row in rows]
    keep = [c.lower().endswith(("url", "uid", "uids", "_series")) for c in columns]
    for row in cells:
        for i, text in enumerate(row):
            if not keep[i] and len(text) > max_width:
                row[i] = text[: max_width - 1] + "…"
    widths = [len(c) for c in columns]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _batches(result: Any) -> Iterator[list[tuple[Any, ...]]]:
    """Rows in batches: a result that can stream (DuckDB) is never held whole in memory."""
    stream = getattr(result, "batches", None)
    if stream is not None:
        yield from stream()
    else:
        yield result.rows()


def _head(result: Any, n: int) -> tuple[list[tuple[Any, ...]], int]:
    """The first *n* rows of *result*, and how many rows it has in all.

    A streaming result (DuckDB) converts only those rows to Python values and counts the rest
    without converting them.
    """
    if hasattr(result, "head"):
        rows = result.head(n + 1)
        total = len(rows) + (result.count_rest() if len(rows) > n else 0)
    else:
        rows = result.rows()
        total = len(rows)
    return rows[:n], total


def _project(
    columns: list[str], rows: list[tuple[Any, ...]], keep: list[int] | None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    if keep is None:
        return columns, rows
    return [columns[i] for i in keep], [tuple(row[i] for i in keep) for row in rows]


def _write_table(
    columns: list[str],
    result: Any,
    out: IO[str],
    preview: int | None,
    display: Display,
    width: int | None = None,
) -> int:
    """An aligned table (widths need every row shown); *preview* rows at most, with a note.

    On a terminal *width* characters wide, a table wider than it shows the readable columns
    unless *display* says which (or all) to show.
    """
    if preview is None:
        rows = [row for batch in _batches(result) for row in batch]
        total = len(rows)
    else:
        rows, total = _head(result, preview)
    keep = display.chosen(columns)
    if keep is None and width is not None and not display.wide:
        keep = readable(columns, rows, width, display.also)
    shown_columns, shown_rows = _project(columns, rows, keep)
    out.write(format_table(shown_columns, shown_rows))
    hidden = len(columns) - len(shown_columns) if keep is not None and not display.columns else 0
    more = total > len(rows)
    if more or hidden:
        shown = f"{len(rows):,} of {total:,} rows" if more else f"{total:,} rows"
        if hidden:
            shown += f" and {len(shown_columns)} of {len(columns)} columns"
        out.write(f"(showing {shown})\n")
        hints = []
        if more:
            hints.append("all rows: --output FILE, --format csv|json|jsonl|parquet or a pipe")
            hints.append("fewer: --limit N")
        if hidden:
            hints.append("every column: --wide; some: --columns A,B")
        out.write(f"({'; '.join(hints)})\n")
    else:
        out.write(f"({total:,} row{'s' if total != 1 else ''})\n")
    return len(rows)


class _Projected:
    """*result* with only the columns at *keep* (for ``--columns``), streaming as it does."""

    def __init__(self, result: Any, keep: list[int]) -> None:
        self._result, self._keep = result, keep
        self.columns = [result.columns[i] for i in keep]
        kinds = getattr(result, "kinds", None)
        if kinds:
            self.kinds = {c: kinds.get(c) for c in self.columns}

    def _cut(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [tuple(row[i] for i in self._keep) for row in rows]

    def rows(self) -> list[tuple[Any, ...]]:
        return self._cut(self._result.rows())

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        for batch in _batches(self._result):
            yield self._cut(batch)

    def to_arrow(self) -> Any:
        return self._result.to_arrow().select(self._keep)


def _write_text(
    columns: list[str],
    result: Any,
    fmt: str,
    out: IO[str],
    preview: int | None = None,
    display: Display | None = None,
    width: int | None = None,
) -> int:
    display = display or Display()
    if fmt == "table":  # for people
        return _write_table(columns, result, out, preview, display, width)
    keep = display.chosen(columns)
    if keep is not None:
        result = _Projected(result, keep)
        columns = result.columns
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
    elif fmt == "json":
        out.write("[")
    if fmt in ("json", "jsonl"):
        for record in _json_records(columns, result):
            if fmt == "json":
                out.write(f"{',' if count else ''}\n {record}")
            else:
                out.write(record + "\n")
            count += 1
    else:
        for batch in _batches(result):
            writer.writerows([_csv_cell(v) for v in row] for row in batch)
            count += len(batch)
    if fmt == "json":
        out.write("\n]\n" if count else "]\n")
    return count


def _write_error(path: Path, exc: OSError) -> IdcsegError:
    """A full disk or device is "could not be done" (exit 1); a path that cannot be written
    (permissions, no such folder, not a regular place for files) is bad input (exit 2)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
        return IdcsegError(f"cannot write {path}: {exc.strerror}")
    return UsageError(f"cannot write {path}: {exc.strerror}")


@contextmanager
def _atomic(path: Path, mode: str):  # noqa: ANN202
    """Write *path* whole or not at all: a temporary file renamed over it. A symlink is followed;
    a FIFO, device or other special file is written in place (renaming would replace it).

    The temporary file is created exclusively under an unpredictable name in the target's
    folder (never through a symlink planted there) and given the replaced file's permissions,
    or a new file's under the umask (:mod:`idcseg.files`).
    """
    from ..files import temp_beside

    target = path.resolve() if path.is_symlink() else path
    text_options = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
    if target.exists() and not target.is_file():
        try:
            with open(target, mode, **text_options) as fh:
                yield fh
        except OSError as exc:
            raise _write_error(path, exc) from None
        return
    tmp: Path | None = None
    try:
        fd, tmp = temp_beside(target)
        with os.fdopen(fd, mode, **text_options) as fh:
            yield fh
        os.replace(tmp, target)
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_text(text: str, output: Path | None) -> None:
    """Write plain text (e.g. a list of links) to *output* (atomically) or stdout."""
    if output is None:
        sys.stdout.write(text)
        return
    check_target("csv", output)
    with _atomic(output, "w") as fh:
        fh.write(text)


def write_result(
    result: Any,
    fmt: str = "table",
    output: Path | None = None,
    *,
    preview: bool = False,
    display: Display | None = None,
    when_empty: Callable[[], None] | None = None,
) -> int:
    """Write *result* as *fmt* to *output* (or stdout); return the number of rows written.

    With *preview*, a table written to a terminal shows the first :data:`PREVIEW_ROWS` rows
    and says how many there are; a pipe, a file or another format gets every row. A table on a
    terminal too wide for it shows its readable columns (:data:`READABLE_COLUMNS`) and says
    so; *display* chooses columns (any format) or asks for all of them. *when_empty* is called
    when there were no rows, before an *output* file replaces the old one: what it raises
    leaves the file as it was.
    """
    fmt = fmt.lower()
    display = display or Display()
    check_target(fmt, output)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        keep = display.chosen(result.columns)
        table = (result if keep is None else _Projected(result, keep)).to_arrow()
        assert output is not None
        with _atomic(output, "wb") as fh:
            pq.write_table(table, fh)
            _check_empty(table.num_rows, when_empty)
        return table.num_rows
    if output is None:
        terminal = fmt == "table" and sys.stdout.isatty()
        shown = PREVIEW_ROWS if preview and terminal else None
        width = shutil.get_terminal_size().columns if terminal else None
        count = _write_text(result.columns, result, fmt, sys.stdout, shown, display, width)
        return _check_empty(count, when_empty)
    with _atomic(output, "w") as fh:
        count = _write_text(result.columns, result, fmt, fh, display=display)
        return _check_empty(count, when_empty)


def _check_empty(count: int, when_empty: Callable[[], None] | None) -> int:
    if count == 0 and when_empty is not None:
        when_empty()
    return count


class Rows:
    """Rows already in Python, in the shape :func:`write_result` expects."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.columns, self._rows = columns, rows

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows."""
        return self._rows

    def to_arrow(self) -> Any:
        """The rows as a pyarrow Table (for parquet output)."""
        import pyarrow as pa

        return pa.Table.from_pylist([dict(zip(self.columns, r, strict=True)) for r in self._rows])
