"""Text from outside (file names, names and values a run logged) made safe to show.

`printable` turns every control character (C0, DEL, C1) into a visible escape such as
``\\x1b``, so a name holding an ANSI escape sequence cannot recolour, move the cursor,
retitle or clear a terminal, and a newline in it cannot break a message in two. The CLI
prints such text through it (`runyard.cli.output`), and so do messages the runner builds
for both faces (the untracked-secrets warning of `runyard.runner.runs.submit`).
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(code, f"\\x{code:02x}")


def printable(text: object) -> str:
    """`text` with every control character shown as a visible escape (ESC as ``\\x1b``,
    a newline as ``\\n``): safe to print to a terminal on one line."""
    return _CONTROL.sub(_escape, str(text))
