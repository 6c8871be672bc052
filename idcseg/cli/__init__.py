"""The ``idcseg`` command line. ``main()`` is the console-script entry point.

Exit codes: 0 done, 1 could not be done, 2 bad input, 3 store busy, 4 BigQuery cost cap,
130 interrupted (see :mod:`idcseg.errors`). Anything else is a bug: it is reported as an
internal error (70) in one line, with the traceback on ``IDCSEG_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

from .app import app

# Command modules register themselves on `app` when imported.
from . import download, explore, fetch, index, makeseg, masks, measurements, segments, sync  # noqa: E402,F401  isort: skip

_DISK_FULL = (28, 122, 27)  # ENOSPC, EDQUOT, EFBIG


def _error(message: object) -> None:
    from ..errors import printable

    print(f"idcseg: error: {printable(message)}", file=sys.stderr)


def _check_arguments(args: list[str]) -> None:
    """Refuse an argument that is not valid UTF-8 (the shell passed bytes idcseg cannot store
    or match) with bad input's exit code, naming it with the bytes escaped."""
    from ..errors import UsageError, printable

    for position, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(
                f"argument {position} is not valid UTF-8: {printable(arg)} (idcseg takes UTF-8 "
                "text; rename a file with such a name, or set a UTF-8 locale)"
            ) from None


def _silence_stdout() -> None:
    """After stdout failed (a full disk, /dev/full), send what is still buffered nowhere, so
    the interpreter's last flush cannot fail again and change the exit code."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: user errors become one line on stderr and a documented exit code."""
    import typer

    from ..errors import IdcsegError

    try:  # typer ≥ 0.20 vendors click
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover - older typer with click installed
        from click import ClickException

    args = sys.argv[1:] if argv is None else list(argv)
    command = typer.main.get_command(app)
    try:
        _check_arguments(args)
        code = command.main(args=args, prog_name="idcseg", standalone_mode=False)
        if sys.stdout is not None:
            sys.stdout.flush()  # a full disk or device under stdout fails here, not at exit
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("idcseg: interrupted", file=sys.stderr)
        code = 130
    except ClickException as exc:
        message = exc.format_message()
        if message:  # a bare `idcseg` has printed its help and has nothing to add
            _error(message)
        code = exc.exit_code
    except IdcsegError as exc:
        _error(exc)
        code = exc.exit_code
    except BrokenPipeError:
        sys.stderr.close()
        code = 0
    except OSError as exc:  # mostly writing the output: a full disk, /dev/full, an I/O error
        advice = "; free some space and run again" if exc.errno in _DISK_FULL else ""
        if exc.filename is None:
            _silence_stdout()
            _error(f"cannot write the output: {exc.strerror or exc}{advice}")
        else:
            _error(f"{exc.filename}: {exc.strerror or exc}{advice}")
        code = 1
    except Exception as exc:  # a bug: one line, and the traceback on request
        if os.environ.get("IDCSEG_DEBUG"):
            raise
        from ..errors import printable

        print(
            f"idcseg: internal error: {type(exc).__name__}: {printable(exc)} "
            "(set IDCSEG_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        code = 70
    sys.exit(code if isinstance(code, int) else 0)
