"""The ``idcseg`` command line. ``main()`` is the console-script entry point."""

from __future__ import annotations

import os
import sys

from .app import app

# Command modules register themselves on `app` when imported.
from . import explore, fetch, index, measurements, segments, sync  # noqa: E402,F401  isort: skip


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: user errors become one line on stderr and a non-zero exit code."""
    import typer

    from ..errors import IdcsegError

    try:  # typer ≥ 0.20 vendors click
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover - older typer with click installed
        from click import ClickException

    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="idcseg", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("idcseg: interrupted", file=sys.stderr)
        code = 130
    except ClickException as exc:
        message = exc.format_message()
        if message:  # a bare `idcseg` has printed its help and has nothing to add
            print(f"idcseg: error: {message}", file=sys.stderr)
        code = exc.exit_code
    except IdcsegError as exc:
        print(f"idcseg: error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except BrokenPipeError:
        sys.stderr.close()
        code = 0
    except Exception as exc:  # a bug: one line, and the traceback on request
        if os.environ.get("IDCSEG_DEBUG"):
            raise
        print(
            f"idcseg: internal error: {type(exc).__name__}: {exc} "
            "(set IDCSEG_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        code = 70
    sys.exit(code if isinstance(code, int) else 0)
