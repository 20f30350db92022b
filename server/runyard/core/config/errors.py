"""`ConfigError`: one problem in a target, job or project settings file, with its place.

Every problem in a file is a `ConfigError` that names the file, line, column and field,
says what is wrong and what is expected. `checks.validate_document` gives all of them at
once (for the language server); the loaders raise the first one (`raise_first`), with the
others in `related`. A `ConfigError` is a `UsageError`, so both faces show it as a message
with a hint, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

from runyard.core.errors import UsageError
from runyard.core.project import RUNYARD_DIR
from runyard.core.yamlpos import Span


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def display_path(path: Path) -> str:
    """`path` from the project root (the folder holding `.runyard/`), for messages."""
    parts = path.parts
    if RUNYARD_DIR in parts:
        index = len(parts) - 1 - parts[::-1].index(RUNYARD_DIR)
        return Path(*parts[index:]).as_posix()
    return path.as_posix()


class ConfigError(UsageError):
    """A problem in a target, job or project settings file.

    ``str(err)`` is ``<file>:<line>:<col>: field 'a.b': <what is wrong>. <what is
    expected>.`` plus the hint; the file is relative to the project root. Lines and
    columns are 1-based; ``line`` is None for problems with the file as a whole (its
    name, its encoding when no position is known). ``end_line``/``end_column`` (exclusive)
    mark the end of the offending text, for editors. ``problem``/``expected`` are the two
    halves of the message without the location; ``detail`` is both with the field.
    ``related`` holds the file's other problems when a loader raised the first one.
    """

    def __init__(
        self,
        file: Path,
        problem: str,
        expected: str | None = None,
        *,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        hint: str | None = None,
        end_line: int | None = None,
        end_column: int | None = None,
        display: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column if column is not None or line is None else 1
        self.end_line = end_line if end_line is not None else line
        self.end_column = end_column
        if end_column is None and self.column is not None:
            self.end_column = self.column + 1
        self.field = field
        self.problem = problem
        self.expected = expected
        self.display = display or display_path(file)
        self.related: list[ConfigError] = []
        where = self.display
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        super().__init__(f"{where}: {self.detail}", hint)

    @property
    def detail(self) -> str:
        text = f"field '{self.field}': " if self.field else ""
        text += _sentence(self.problem)
        if self.expected:
            text += " " + _sentence(self.expected)
        return text

    @classmethod
    def at(
        cls,
        file: Path,
        span: Span | None,
        problem: str,
        expected: str | None = None,
        *,
        field: str | None = None,
        hint: str | None = None,
        display: str | None = None,
    ) -> ConfigError:
        if span is None:
            return cls(file, problem, expected, field=field, hint=hint, display=display)
        return cls(
            file,
            problem,
            expected,
            line=span.line,
            column=span.column,
            end_line=span.end_line,
            end_column=span.end_column,
            field=field,
            hint=hint,
            display=display,
        )


def raise_first(errors: list[ConfigError]) -> None:
    if errors:
        first = errors[0]
        first.related = errors[1:]
        raise first
