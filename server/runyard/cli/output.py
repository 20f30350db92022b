"""Human output for the CLI: tables, durations, times, numbers.

Numbers, sizes and the missing-value mark (``—``) follow the one rule of
`runyard.core.formatting`, shared with the language server and mirrored in the
extension; durations keep the CLI's own short form (``4.2s``, ``3m05s``, ``2h01m``).

Text that came from a run (param, tag and metric names and values, experiment and job
names, reasons) goes through `printable` before it reaches a terminal: control characters
(C0, DEL, C1) become visible escapes such as ``\\x1b``, so a name holding an ANSI escape
sequence cannot recolour, move the cursor, retitle or clear the user's terminal
(`printable` lives in `runyard.core.text`, for messages the runner builds too). JSON
output keeps the text exact (JSON escapes control characters itself).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from runyard.core.formatting import NO_VALUE as NO_VALUE
from runyard.core.formatting import fmt_duration as fmt_duration
from runyard.core.formatting import fmt_size as fmt_size
from runyard.core.formatting import fmt_value as fmt_value
from runyard.core.text import printable as printable


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return NO_VALUE
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _clean(cell: object) -> str:
    return printable(str(cell).replace("\n", " ").replace("\t", " "))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[_clean(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.upper().ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def info(message: str) -> None:
    """Progress and notes go to stderr, so stdout stays clean for ids, tables and logs."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
