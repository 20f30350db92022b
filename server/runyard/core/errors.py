"""Errors a user can hit: each says what happened and what to do next."""

from __future__ import annotations


class RunyardError(Exception):
    """An error shown to the user as one clear message, never a traceback.

    ``hint`` is the next step, printed on its own line after the message.
    ``exit_code`` is what the CLI exits with (2 for bad input, 1 otherwise).
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(RunyardError):
    """Bad input from the user: an unknown name, a missing file, a bad argument."""

    exit_code = 2


class NotFoundError(UsageError):
    """A run, target, job or file that does not exist."""
