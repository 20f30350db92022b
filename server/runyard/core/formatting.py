"""How numbers read in text shown to the user, shared by both faces.

The CLI's tables and the language server's inlay hints show a metric value the same
way, so the rule lives below both of them (``cli`` and ``lsp`` never import each
other; the layer contracts in pyproject.toml are checked by ``scripts/lint.sh``).
Standard library only: importing it costs nothing at start-up.
"""

from __future__ import annotations

import math


def fmt_value(value: float | None) -> str:
    """A metric value for humans: ``-`` when missing, integers without a point,
    otherwise six significant digits (``NaN``, ``inf`` and ``-inf`` spelled out)."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"
