"""``idcseg index``: fetch IDC's published seg_index.parquet into the store, and report on it."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from .app import app

index_app = typer.Typer(
    name="index",
    help="IDC's seg_index.parquet (one row per SEG series): fetch it into the store, show status.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(index_app, name="index")


@index_app.command("fetch")
def fetch(
    url: Annotated[
        list[str] | None,
        typer.Option(
            "--url",
            help="Source URL or local file path, '{version}' standing for the idc-index-data "
            "version; repeat to give fallbacks, tried in order (default: $IDCSEG_INDEX_URLS, "
            "else IDC's GitHub release, then its Cloud Storage bucket).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Download again even if a verified copy is present.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Seconds to wait to connect and for each read (default: "
            "$IDCSEG_INDEX_TIMEOUT, else 30).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Download IDC's seg_index.parquet for the installed idc-index-data and verify it.

    The file is checked (SHA-256 sidecar where the source publishes one, the wheel's schema, at
    least one row) before it replaces anything. Prints the file's path on stdout.

    \b
    Examples:
      idcseg index fetch
      idcseg index fetch --force --url https://mirror.example/{version}/seg_index.parquet
      idcseg index fetch --url ~/Downloads/seg_index.parquet
    """
    from ..remote import segindex

    version = segindex.resolve_version(None)
    present, problem = segindex.check(version)
    if problem is not None and not quiet:
        print(f"idcseg: the stored seg_index {version} is damaged ({problem})", file=sys.stderr)
    if present is not None and not force:
        if not quiet:
            print(
                f"idcseg: seg_index {version} is already present (--force fetches it again)",
                file=sys.stderr,
            )
        print(present)
        return
    target = segindex.fetch(version, urls=url, progress=not quiet, force=True, timeout=timeout)
    if not quiet:
        info = segindex.status(version)
        check = "sha256 verified" if info["sha256_verified"] else "no published checksum"
        print(
            f"idcseg: seg_index {version}: {info['rows']:,} rows, {info['bytes']:,} bytes, "
            f"{check}, from {info['source']}",
            file=sys.stderr,
        )
    print(target)


def _age(seconds: int | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@index_app.command("status")
def status(
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
) -> None:
    """Whether seg_index.parquet is present for the installed idc-index-data, and its details.

    \b
    Examples:
      idcseg index status
      idcseg index status -f json
    """
    from ..errors import UsageError
    from ..remote import segindex

    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    info: dict[str, Any] = segindex.status()
    info["duckdb_copies"] = _copies(info["path"])
    if fmt == "json":
        print(json.dumps(info, indent=2))
        return
    if not info["present"]:
        state = f"damaged: {info['problem']}" if info["problem"] else "not present"
        lines = [
            f"seg_index {info['version']}: {state} (run: idcseg index fetch)",
            f"folder     {segindex.root()}",
        ]
    else:
        verified = info["sha256_verified"]
        check = "matches the source's .sha256" if verified else "no published checksum"
        lines = [
            f"seg_index {info['version']}: present",
            f"path       {info['path']}",
            f"rows       {info['rows']:,}",
            f"bytes      {info['bytes']:,}",
            f"sha256     {info['sha256']} ({check})",
            f"source     {info['source']}",
            f"fetched    {info['fetched_at']} ({_age(info['age_seconds'])} ago)",
        ]
    if info["other_versions"]:
        lines.append(f"also kept  {', '.join(info['other_versions'])}")
    for name, copy in info["duckdb_copies"].items():
        if copy["made"]:
            state = copy["path"]
        elif copy["problem"]:
            state = f"cannot be made ({copy['problem']}): queries read the parquet file in place"
        else:
            state = "not made yet (the next query makes it)"
        lines.append(f"{name} DuckDB copy: {state}")
    print("\n".join(lines))


def _copies(seg_index: str | None) -> dict[str, dict[str, Any]]:
    """The DuckDB copies queries read (idcseg.local.prepared): path, whether made, why not."""
    from pathlib import Path

    from ..local import prepared
    from ..local.store import index_dir

    series = index_dir() / "idc_index.parquet"
    paths = {"idc_index": prepared.copy_path("idc_index", series)}
    if seg_index is not None:
        paths["seg_index"] = prepared.copy_path("seg_index", Path(seg_index), series)
    return {
        name: {"path": str(p), "made": p.is_file(), "problem": prepared.problem(p)}
        for name, p in paths.items()
    }
