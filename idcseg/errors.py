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


class StoreDamagedError(IdcsegError):
    """The local store file cannot be read; the message says how to start afresh."""

    exit_code = 1
