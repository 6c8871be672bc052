"""``idcseg.links``: viewer URLs as clickable links, every value escaped.

The HTML is read back with the standard library's parser: links are collected with their
``href`` (unescaped by the parser) and compared with the frame's values; hostile values must
come back as text, never as tags or attributes.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
import pytest

import idcseg
from idcseg.present.display import link

LIDC_STUDY = "1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178"
LIDC_SEG = "1.2.276.0.7230010.3.1.3.0.89314.1553284067.990548"


class Page(HTMLParser):
    """Tags, links (href, text) and the text of every cell of an HTML table."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.cells: list[str] = []
        self.caption = ""
        self._href: str | None = None
        self._cell: list[str] | None = None
        self._in_caption = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self._href = dict(attrs)["href"]
            self.links.append((self._href or "", ""))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None
        elif tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)
        if self._cell is not None:
            self._cell.append(data)
        if self._in_caption:
            self.caption += data


def test_viewer_urls_become_links_to_exactly_those_urls() -> None:
    frame = idcseg.viewer_urls(LIDC_STUDY, [LIDC_SEG])
    page = Page(idcseg.links(frame).to_html())
    urls = [
        frame.at[0, c] for c in frame.columns if c.endswith("url") and not pd.isna(frame.at[0, c])
    ]
    assert len(urls) >= 3  # viewer_url, ohif_v3_url, ohif_v2_url
    assert [href for href, _ in page.links] == urls
    assert {text for _, text in page.links} == {"open"}
    assert LIDC_SEG in page.cells  # other columns shown as they are


def test_text_none_shows_the_url() -> None:
    frame = idcseg.random_studies(n=2, seed=42)
    page = Page(idcseg.links(frame, text=None).to_html())
    assert page.links == [(u, u) for u in frame["viewer_url"]]


def test_hostile_values_are_escaped_everywhere() -> None:
    evil = '<script>alert("x")</script>'
    frame = pd.DataFrame(
        {
            evil: ["a & b", evil],
            "viewer_url": ['https://example.org/?a=1&b="><img src=x onerror=alert(1)>', None],
            "other_url": ["javascript:alert(1)", "  HTTPS://example.org/ok  "],
        },
        index=[evil, "<b>row</b>"],
    )
    html = idcseg.links(frame).to_html()
    page = Page(html)
    assert "script" not in page.tags and "img" not in page.tags and "b" not in page.tags
    assert page.links == [
        ('https://example.org/?a=1&b="><img src=x onerror=alert(1)>', "open"),
        ("HTTPS://example.org/ok", "open"),
    ]
    assert evil in page.cells and "a & b" in page.cells and "<b>row</b>" in page.cells
    assert "javascript:alert(1)" in page.cells  # shown as text, not a link


def test_missing_urls_are_empty_cells() -> None:
    frame = pd.DataFrame({"viewer_url": pd.array([None, "https://a.b/c"], dtype="string")})
    page = Page(idcseg.links(frame).to_html())
    assert page.links == [("https://a.b/c", "open")]
    assert link(pd.NA) == link(None) == link(float("nan")) == ""


def test_max_rows_and_caption() -> None:
    frame = pd.DataFrame({"viewer_url": [f"https://a.b/{i}" for i in range(60)]})
    page = Page(idcseg.links(frame).to_html())
    assert len(page.links) == 50
    assert page.caption.startswith("first 50 of 60 rows")
    assert len(Page(idcseg.links(frame, max_rows=None).to_html()).links) == 60
    assert Page(idcseg.links(frame.head(3)).to_html()).caption == ""


def test_chosen_columns_and_unknown_column() -> None:
    frame = pd.DataFrame({"viewer_url": ["https://a.b/1"], "page": ["https://a.b/2"]})
    page = Page(idcseg.links(frame, columns=["page"]).to_html())
    assert page.links == [("https://a.b/2", "open")]
    assert "https://a.b/1" in page.cells
    with pytest.raises(idcseg.UsageError, match="no column 'nope'"):
        idcseg.links(frame, columns=["nope"])


def test_frame_is_not_changed() -> None:
    frame = pd.DataFrame({"viewer_url": ["https://a.b/1"], "n": [1.5]})
    before = frame.copy()
    idcseg.links(frame).to_html()
    pd.testing.assert_frame_equal(frame, before)
