"""Errors a user can act on. The CLI prints them as one line; the API raises them.

Exit codes of the command line (and ``exit_code`` of each error):

=====  ==========================================================================
0      done
1      could not be done (:class:`IdcsegError`): a damaged store, a full disk, no network...
2      bad input (:class:`UsageError`): an unknown option value, a malformed UID...
3      the store is busy: another process holds it (:class:`StoreBusyError`), or another
       download writes to the same folder
4      a BigQuery query would scan more than the cost cap
130    interrupted (Ctrl-C)
=====  ==========================================================================
"""

from __future__ import annotations


class IdcsegError(Exception):
    """Something the user asked for cannot be done; the message says what and why."""

    exit_code = 1


class UsageError(IdcsegError):
    """Bad input: an unknown option value, a malformed UID, an invalid identifier."""

    exit_code = 2


class StoreBusyError(IdcsegError):
    """The local store is held by another process that is writing to it."""

    exit_code = 3


def did_you_mean(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """``" (did you mean 'x'?)"`` for the choices closest to *value* (any case), or ``""``:
    those that contain it (``lidc`` → ``lidc_idri``), else the most similar."""
    import difflib

    lowered = {c.lower(): c for c in choices}
    word = value.lower()
    close = [c for c in lowered if word in c][:2] if len(word) >= 3 else []
    close = close or difflib.get_close_matches(word, list(lowered), n=2, cutoff=0.7)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?)"


class StoreDamagedError(IdcsegError):
    """The local store file cannot be read; the message says how to start afresh."""

    exit_code = 1


def printable(text: object) -> str:
    """*text* with control characters and undecodable bytes escaped, so a file name cannot
    break a one-line message or the terminal (``\\n``, ``\\x1b``; a byte that was not UTF-8,
    carried as a surrogate escape, as ``\\xff``)."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's escape of a non-UTF-8 byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or 0xD800 <= code <= 0xDFFF:
            out.append(repr(ch)[1:-1] if code < 0x80 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
