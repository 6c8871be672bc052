"""Result frames as HTML in notebooks: viewer URLs become clickable links.

>>> import idcseg
>>> idcseg.links(idcseg.series(collection="lidc_idri", limit=5))   # doctest: +SKIP

Every value is HTML-escaped (cells, column names, index, caption); only ``http://`` and
``https://`` URLs become links, so a hostile value can neither break the table nor run script.
pandas is imported when a table is rendered, never by ``import idcseg``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

_SCHEMES = ("https://", "http://")


def url_columns(frame: pd.DataFrame) -> list[str]:
    """The columns holding viewer links: ``viewer_url`` and every ``*_url`` column."""
    return [c for c in frame.columns if isinstance(c, str) and c.lower().endswith("url")]


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN; pandas.NA raises and lands below
    except (TypeError, ValueError):
        return True


def link(url: Any, text: str | None = None) -> str:
    """One ``<a href>`` for *url* (opening in a new tab), or its escaped text if not http(s).

    *text* is the link's text (default: the URL itself). Missing values give ``""``.
    """
    if _missing(url):
        return ""
    value = str(url)
    shown = html.escape(value if text is None else text)
    if not value.strip().lower().startswith(_SCHEMES):
        return html.escape(value)
    return (
        f'<a href="{html.escape(value.strip(), quote=True)}" target="_blank" '
        f'rel="noopener noreferrer" title="{html.escape(value, quote=True)}">{shown}</a>'
    )


def _escape_cell(value: Any) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


def links(
    frame: pd.DataFrame,
    columns: Iterable[str] | None = None,
    text: str | None = "open",
    max_rows: int | None = 50,
) -> Styler:
    """Show *frame* with its viewer URLs as clickable links (a pandas ``Styler``).

    Args:
        frame: any DataFrame, e.g. from :func:`idcseg.series`, :func:`idcseg.find`,
            :func:`idcseg.random_studies` or :func:`idcseg.viewer_urls`.
        columns: the columns to turn into links; by default every column whose name ends in
            ``url`` (``viewer_url``, ``ohif_v3_url``, ``seg_viewer_url``, ...).
        text: the text of each link (default ``"open"``, keeping tables narrow; the URL shows
            as the link's tooltip). ``None`` shows the URL itself.
        max_rows: show only the first *max_rows* rows (``None``: all), with a caption saying
            how many rows the frame has. Tables of thousands of rows make heavy notebooks.

    Returns:
        A :class:`pandas.io.formats.style.Styler`: a notebook renders it as an HTML table;
        ``.to_html()`` gives the HTML. The frame itself is not changed.

    Raises:
        idcseg.UsageError: a column in *columns* is not in *frame*.
    """
    chosen = url_columns(frame) if columns is None else list(columns)
    missing = [c for c in chosen if c not in frame.columns]
    if missing:
        raise UsageError(f"no column {missing[0]!r} to make links of")
    if max_rows is not None and max_rows < 0:
        raise UsageError(f"max_rows must be at least 0, not {max_rows}")
    shown = frame if max_rows is None else frame.head(max_rows)
    styler = shown.style
    others = [c for c in shown.columns if c not in chosen]
    if others:
        styler = styler.format(_escape_cell, subset=others)
    if chosen:
        styler = styler.format(lambda url: link(url, text), subset=chosen)
    styler = styler.format_index(_escape_cell, axis=0).format_index(_escape_cell, axis=1)
    if len(shown) < len(frame):
        styler = styler.set_caption(
            html.escape(
                f"first {len(shown)} of {len(frame)} rows (links(frame, max_rows=None) shows all)"
            )
        )
    return styler.set_table_attributes('class="idcseg-links"')
