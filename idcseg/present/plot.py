"""Bar charts of counts: ``facets``, ``summary`` and any frame with a label and a count column.

>>> import idcseg
>>> idcseg.plot_counts(idcseg.facets(by="structure"))                  # doctest: +SKIP
>>> counts = idcseg.summary(by="analysis_result")                      # doctest: +SKIP
>>> idcseg.plot_counts(counts, "analysis_result_id", "series_count")   # doctest: +SKIP

matplotlib is an optional dependency (``pip install "idcseg[plot]"``), imported only when a chart
is drawn. Figures are made without pyplot, so drawing one changes no global state, needs no GUI
backend and is shown once (not twice) when a notebook cell returns it.
"""

from __future__ import annotations

import functools
import io
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IdcsegError, UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Face colour of every bar (Okabe–Ito blue: readable for colour-blind readers, on white and grey).
BAR_COLOR = "#0072B2"
#: Colour of the count labels and category names.
TEXT_COLOR = "#222222"
#: Label shown for a missing (NULL) category, e.g. segments without an anatomic region.
MISSING_LABEL = "(none)"
#: File types :func:`save_figure` writes.
PLOT_SUFFIXES = (".png", ".svg")

MISSING_MATPLOTLIB = 'plots need matplotlib: install idcseg[plot] (pip install "idcseg[plot]")'
_MAX_LABEL = 48


def require_matplotlib() -> None:
    """Raise a one-line :class:`~idcseg.errors.IdcsegError` when matplotlib is not installed."""
    from importlib.util import find_spec

    if find_spec("matplotlib") is None:
        raise IdcsegError(MISSING_MATPLOTLIB)


@functools.cache
def _figure_class() -> type[Figure]:
    """A Figure that shows itself as a PNG in notebooks, with or without pyplot."""
    from matplotlib.figure import Figure

    class CountsFigure(Figure):
        """A bar chart of counts (a :class:`matplotlib.figure.Figure`)."""

        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=100)
            return buffer.getvalue()

    return CountsFigure


def _column(frame: Any, name: str, role: str) -> list[Any]:
    """The values of column *name* of a DataFrame or a mapping of column → values."""
    columns = list(frame.columns) if hasattr(frame, "columns") else list(frame)
    if name not in columns:
        shown = ", ".join(map(str, columns)) or "none"
        raise UsageError(f"no {role} column {name!r} (columns: {shown})")
    values = frame[name]
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas.NA (raises: ambiguous) handled below
    except (TypeError, ValueError):
        return True


def _label(value: Any) -> str:
    text = MISSING_LABEL if _is_missing(value) else " ".join(str(value).split())
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def _number(value: Any, name: str) -> float:
    if _is_missing(value):
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"count column {name!r} holds a non-number: {value!r}") from None
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise UsageError(f"count column {name!r} holds {value!r}; counts must be finite and ≥ 0")
    return number


def _format_count(number: float) -> str:
    return f"{number:,.0f}" if number == int(number) else f"{number:,.3g}"


def bars(
    frame: Any, value: str = "value", count: str = "segment_count", top: int | None = 20
) -> tuple[list[tuple[str, float]], int]:
    """The ``(label, count)`` pairs :func:`plot_counts` draws, largest first, and the row total.

    Missing labels read ``(none)``; labels that occur twice (e.g. one meaning under a SNOMED-CT
    and a SNOMED-RT code in ``facets``) get their ``code`` column appended when there is one.
    Ties keep the frame's order.
    """
    if top is not None and top < 1:
        raise UsageError(f"top must be at least 1, not {top}")
    labels = [_label(v) for v in _column(frame, value, "value")]
    counts = [_number(v, count) for v in _column(frame, count, "count")]
    has_code = "code" in (list(frame.columns) if hasattr(frame, "columns") else list(frame))
    if has_code and len(set(labels)) < len(labels):
        codes = _column(frame, "code", "code")
        times = Counter(labels)
        labels = [
            f"{label} ({code})" if times[label] > 1 and not _is_missing(code) else label
            for label, code in zip(labels, codes, strict=True)
        ]
    pairs = sorted(zip(labels, counts, strict=True), key=lambda pair: -pair[1])
    return (pairs if top is None else pairs[:top]), len(pairs)


def plot_counts(
    frame: Any,
    value: str = "value",
    count: str = "segment_count",
    title: str | None = None,
    top: int | None = 20,
) -> Figure:
    """A horizontal bar chart of *count* per *value*, largest at the top, each bar labelled.

    Args:
        frame: a pandas DataFrame, e.g. from :func:`idcseg.facets` (columns ``value``,
            ``segment_count``, ``series_count``) or :func:`idcseg.summary` (``collection_id``,
            ``series_count``, ...); or any mapping of column name → values.
        value: the column naming each bar. Missing values are drawn as ``(none)``.
        count: the column giving each bar's length (non-negative numbers).
        title: the chart's title; by default ``"<count> by <value>"``. ``" (top N of M)"`` is
            appended when rows were left out.
        top: draw only the *top* largest counts (``None``: all rows).

    Returns:
        A :class:`matplotlib.figure.Figure`, made without pyplot: a notebook shows it (once) as
        a PNG; save it with ``fig.savefig("counts.png")`` or :func:`save_figure`.

    Raises:
        idcseg.UsageError: a column is missing or a count is not a non-negative number.
        idcseg.IdcsegError: matplotlib is not installed (``pip install "idcseg[plot]"``).
    """
    pairs, total = bars(frame, value, count, top)
    require_matplotlib()
    heading = title if title is not None else f"{count} by {value}"
    if len(pairs) < total:
        heading += f" (top {len(pairs)} of {total})"
    longest = max((len(label) for label, _ in pairs), default=10)
    width = min(12.0, 6.0 + 0.07 * longest)
    height = 1.3 + 0.34 * max(len(pairs), 1)
    fig = _figure_class()(figsize=(width, height), dpi=100, layout="constrained", facecolor="white")
    ax = fig.add_subplot()
    ax.set_title(heading, loc="left", fontsize=12, color=TEXT_COLOR)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color("#888888")
    ax.tick_params(axis="x", bottom=False, labelbottom=False)
    ax.tick_params(axis="y", length=0, labelsize=10, labelcolor=TEXT_COLOR)
    if not pairs:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no rows", ha="center", va="center", transform=ax.transAxes)
        return fig
    positions = list(range(len(pairs)))
    values = [n for _, n in pairs]
    drawn = ax.barh(positions, values, height=0.7, color=BAR_COLOR, linewidth=0)
    for i, patch in enumerate(drawn.patches):
        patch.set_gid(f"idcseg-bar-{i}")
    ax.set_yticks(positions, [label for label, _ in pairs])
    ax.set_ylim(len(pairs) - 0.5, -0.5)  # largest at the top
    peak = max(values) or 1.0
    ax.set_xlim(0, peak * 1.15)  # room for the count labels
    ax.bar_label(
        drawn,
        labels=[_format_count(n) for n in values],
        padding=3,
        fontsize=9,
        color=TEXT_COLOR,
    )
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write *fig* to *path* (``.png`` or ``.svg``, chosen by the suffix); return the path.

    SVG keeps its text as text (searchable, selectable) and carries no date, so the same chart
    gives the same file. The file is written under a temporary name and renamed.
    """
    import os

    from matplotlib import rc_context

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise UsageError(f"cannot plot to {target}: the name must end in .png or .svg")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    metadata: dict[str, Any] = {"Date": None} if suffix == ".svg" else {}
    try:
        with rc_context({"svg.fonttype": "none", "svg.hashsalt": "idcseg"}):
            fig.savefig(tmp, format=suffix[1:], dpi=100, metadata=metadata)
        os.replace(tmp, target)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def plot_rows(
    columns: Iterable[str],
    rows: Iterable[tuple[Any, ...]],
    value: str,
    count: str,
    title: str | None = None,
    top: int | None = 20,
) -> Figure:
    """:func:`plot_counts` from plain rows (the CLI's results), without building a DataFrame."""
    names = list(columns)
    data: Mapping[str, list[Any]] = {name: [] for name in names}
    for row in rows:
        for name, cell in zip(names, row, strict=True):
            data[name].append(cell)
    return plot_counts(data, value=value, count=count, title=title, top=top)
