"""Errors a user can act on. The CLI prints them as one line; the API raises them."""

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
