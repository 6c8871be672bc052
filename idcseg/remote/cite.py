"""Licences and citations of a selection: offline from IDC's index, formatted online by DOI.

Every IDC series carries its ``source_DOI`` and ``license_short_name``; IDC's collection index
(and its analysis-results index) gives each source's title, licence URL and the citation IDC
asks for (``sql/citations.sql``). :func:`sources_of` collects them for a set of series, offline.
:func:`write_licences` writes ``LICENSES.csv`` and ``CITATIONS.txt`` into a download folder.

:func:`formatted` asks a DOI resolver for formatted references (BibTeX, APA) by content
negotiation (``Accept: application/x-bibtex`` …), the one step that needs the network;
``IDCSEG_DOI_RESOLVER`` points it at another resolver than ``https://doi.org``.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import IdcsegError, UsageError
from ..query import spec

DOI_RESOLVER_ENV = "IDCSEG_DOI_RESOLVER"
DEFAULT_RESOLVER = "https://doi.org"
ACCEPT = {
    "bibtex": "application/x-bibtex",
    "apa": "text/x-bibliography; style=apa; locale=en-US",
}
IDC_DOI = "10.1148/rg.230180"
IDC_REFERENCE = (
    "Fedorov, A., et al. (2023). National Cancer Institute Imaging Data Commons: Toward "
    "Transparency, Reproducibility, and Scalability in Imaging Artificial Intelligence. "
    "RadioGraphics. https://doi.org/10.1148/rg.230180"
)
LICENSES_FILE = "LICENSES.csv"
CITATIONS_FILE = "CITATIONS.txt"


@dataclass(frozen=True)
class SourceRow:
    """One source of a selection (a row of ``sql/citations.sql``)."""

    collection_id: str | None
    analysis_result_id: str | None
    source_DOI: str | None
    license_short_name: str | None
    series_count: int
    title: str | None
    license_long_name: str | None
    license_url: str | None
    citation: str | None

    @property
    def reference(self) -> str:
        """IDC's citation as plain text, or the DOI link when IDC has none."""
        if self.citation:
            return clean(self.citation)
        return f"https://doi.org/{self.source_DOI}" if self.source_DOI else ""


COLUMNS = [f.name for f in fields(SourceRow)]


def clean(text: str) -> str:
    """IDC's citation text as plain text: HTML entities decoded, tags and line breaks gone."""
    text = re.sub(r"<[^>]+>", "", html.unescape(text))
    return re.sub(r"\s+", " ", text).strip()


def sources_of(engine: Any, series: Iterable[str]) -> list[SourceRow]:
    """The sources (DOI, licence, citation) of *series*, merged over chunks of UIDs."""
    uids = list(dict.fromkeys(series))
    merged: dict[tuple[Any, ...], SourceRow] = {}
    for start in range(0, len(uids), 50_000):
        result = engine.run(spec.citations_query(uids[start : start + 50_000]))
        for values in result.rows():
            row = SourceRow(*values)
            key = astuple(row)[:4]
            if key in merged:
                old = merged[key]
                row = SourceRow(*key, old.series_count + row.series_count, *astuple(row)[5:])
            merged[key] = row
    return sorted(
        merged.values(),
        key=lambda r: (r.collection_id or "", r.analysis_result_id or "", r.source_DOI or ""),
    )


def dois(rows: Sequence[SourceRow]) -> list[str]:
    """The distinct DOIs of *rows*, in order."""
    return list(dict.fromkeys(r.source_DOI.lower() for r in rows if r.source_DOI))


def licences_csv(rows: Sequence[SourceRow]) -> str:
    """``LICENSES.csv``: one row per collection, analysis result, DOI and licence."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = (
        "collection_id",
        "analysis_result_id",
        "source_DOI",
        "license_short_name",
        "license_long_name",
        "license_url",
        "series_count",
    )
    writer.writerow(names)
    for row in rows:
        writer.writerow([getattr(row, n) if getattr(row, n) is not None else "" for n in names])
    return out.getvalue()


def citations_text(rows: Sequence[SourceRow], release: str = "") -> str:
    """``CITATIONS.txt``: how to cite each source of the data, then IDC itself."""
    where = f" ({release})" if release else ""
    lines = [
        f"Data from NCI Imaging Data Commons{where}. Please cite each source below, as its "
        "licence asks (see LICENSES.csv), and Imaging Data Commons itself.",
        "",
    ]
    seen: set[str] = set()
    for row in rows:
        doi = (row.source_DOI or "").lower()
        if doi in seen:
            continue
        seen.add(doi)
        what = " / ".join(p for p in (row.collection_id, row.analysis_result_id) if p)
        lines.append(f"[{doi or 'no DOI'}] {what} — {row.license_short_name or 'licence unknown'}")
        lines.append(f"    {row.reference}")
        lines.append("")
    lines.append(f"[{IDC_DOI}] Imaging Data Commons")
    lines.append(f"    {IDC_REFERENCE}")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write *text* to *path* through a temporary file in the same folder, then rename: a
    failure (a full disk) leaves the old file, or none, never half of one."""
    from ..files import temp_beside

    fd, tmp = temp_beside(Path(path))
    try:
        with open(fd, "w", encoding="utf-8") as fp:
            fp.write(text)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_licences(folder: Path, rows: Sequence[SourceRow], release: str = "") -> None:
    """Write ``LICENSES.csv`` and ``CITATIONS.txt`` of *rows* (:func:`sources_of`) into *folder*."""
    write_atomically(Path(folder) / LICENSES_FILE, licences_csv(rows))
    write_atomically(Path(folder) / CITATIONS_FILE, citations_text(rows, release))


def resolver(base: str | None = None) -> str:
    """The DOI resolver: *base*, else ``$IDCSEG_DOI_RESOLVER``, else https://doi.org."""
    value = (base or os.environ.get(DOI_RESOLVER_ENV) or DEFAULT_RESOLVER).rstrip("/")
    if not re.match(r"https?://[^/]+", value):
        raise UsageError(f"not a DOI resolver URL: {value!r} (expected http(s)://host)")
    return value


def formatted(
    doi_list: Sequence[str], fmt: str, *, base: str | None = None, timeout: float = 20.0
) -> list[str]:
    """Formatted references for *doi_list* from the DOI resolver (content negotiation).

    Raises :class:`~idcseg.errors.IdcsegError` naming the DOI and the cause when the resolver
    cannot be reached or refuses (the offline text needs no network: ``idcseg cite``).
    """
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    if fmt not in ACCEPT:
        raise UsageError(f"unknown citation format {fmt!r} (choose from {', '.join(ACCEPT)})")
    root = resolver(base)
    out = []
    for doi in doi_list:
        url = f"{root}/{quote(doi, safe='/')}"
        request = urllib.request.Request(
            url, headers={"Accept": ACCEPT[fmt], "User-Agent": "idcseg-cite"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode("utf-8", errors="replace").strip()
        except urllib.error.HTTPError as exc:
            raise IdcsegError(
                f"the DOI resolver {root} answered HTTP {exc.code} for {doi}; formatted "
                "references need it (`idcseg cite` without --format bibtex/apa works offline)"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise IdcsegError(
                f"cannot reach the DOI resolver {root} for {doi} ({reason}); formatted "
                "references need the network (`idcseg cite` without --format bibtex/apa "
                "works offline)"
            ) from None
        if not text:
            raise IdcsegError(f"the DOI resolver {root} sent nothing for {doi}")
        out.append(text)
    return out
