"""s5cmd manifests: the download lists IDC's portal hands out, read and written.

A manifest is an s5cmd command file, one command per line, ``#`` starting a comment::

    # To download the files in this manifest, first install s5cmd …
    cp s3://idc-open-data/6079cc3b-4b0f-41ec-bdbb-c6e754e88229/* .
    cp s3://idc-open-data/a1e77e5c-299f-49ef-a659-f4484e0cedd2/1b4f….dcm ./some/folder/

:func:`parse_manifest` reads the portal's (AWS and Google Cloud bucket names alike), idc-index's
(destinations in double quotes, ``sync`` instead of ``cp``) and :func:`write_manifest`'s:
each line names a series folder (``s3://BUCKET/<crdc_series_uuid>/*``) or one object of it. The
destinations are not used: ``idcseg download --manifest`` puts files where ``--layout`` says. A
line that is none of these stops the whole manifest (one error naming the line), before anything
is downloaded.

:func:`write_manifest` writes one ``cp s3://BUCKET/UUID/* "FOLDER/"`` line per series, the folder
following the layout, so ``s5cmd run`` in the output folder builds the same tree (with the
objects' own file names).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from .plan import ManifestItem, SeriesPlan

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_SOURCE = re.compile(rf"s3://([a-z0-9][a-z0-9.\-]{{1,61}}[a-z0-9])/({_UUID})(?:/(\*|[^/*?]+)?)?")
COMMANDS = ("cp", "sync")
AWS_ENDPOINT = "https://s3.amazonaws.com"


def parse_manifest(text: str, name: str = "the manifest") -> list[ManifestItem]:
    """The series and objects a manifest names (see the module docstring).

    Raises :class:`~idcseg.errors.UsageError` at the first malformed line, or when the manifest
    names nothing.
    """
    items: list[ManifestItem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise _bad(name, number, raw, f"unbalanced quotes ({exc})") from None
        if not words:
            continue
        if words[0] in COMMANDS:
            args = [w for w in words[1:] if not w.startswith("-")]
            if len(args) not in (1, 2):
                raise _bad(name, number, raw, f"{words[0]} takes a source and a destination")
            source = args[0]
        elif len(words) == 1 and words[0].startswith("s3://"):
            source = words[0]  # a bare URL list
        else:
            raise _bad(name, number, raw, "expected `cp s3://BUCKET/SERIES_UUID/* DESTINATION`")
        match = _SOURCE.fullmatch(source)
        if match is None:
            raise _bad(
                name,
                number,
                raw,
                "the source must be s3://BUCKET/<crdc_series_uuid>/* or one object in it",
            )
        bucket, uuid, rest = match.group(1), match.group(2).lower(), match.group(3)
        key = None if rest in (None, "*") else f"{uuid}/{rest}"
        items.append(ManifestItem(bucket, uuid, key, number))
    if not items:
        raise UsageError(f"{name} names no series (no `cp s3://…` line)")
    return items


def read_manifest(path: Path) -> list[ManifestItem]:
    """:func:`parse_manifest` of a file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--manifest {path}: no such file") from None
    except UnicodeDecodeError:
        raise UsageError(f"--manifest {path}: not a text file") from None
    except OSError as exc:
        raise UsageError(f"--manifest {path}: cannot read it ({exc.strerror})") from None
    return parse_manifest(text, f"manifest {path}")


def _bad(name: str, number: int, raw: str, why: str) -> UsageError:
    shown = raw.strip()
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return UsageError(f"{name}, line {number}: {why}: {shown!r}")


def quoted(path: str) -> str:
    """A destination as s5cmd reads it: in double quotes, ``\\`` and ``"`` escaped."""
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_manifest(
    series: Sequence[SeriesPlan], header: Sequence[str] = (), name: str = "THIS_FILE"
) -> str:
    """An s5cmd manifest downloading *series* into their layout folders (relative paths);
    *name* is the manifest's file name, for the instructions in its header."""
    lines = [f"# {h}" for h in header]
    lines += [
        "# Download with idcseg (resumable, checked):",
        f"#   idcseg download --manifest {name} --output DIR",
        "# or with s5cmd, from the folder to download into:",
        f"#   s5cmd --no-sign-request --endpoint-url {AWS_ENDPOINT} run {name}",
    ]
    for item in series:
        folder = item.folder.as_posix().rstrip("/") + "/"
        if item.only is None:
            lines.append(f"cp {item.url} {quoted(folder)}")
        else:
            for key in sorted(item.only):
                lines.append(f"cp s3://{item.bucket}/{key} {quoted(folder)}")
    return "\n".join(lines) + "\n"
