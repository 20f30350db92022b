"""How numbers, sizes and missing values read in text shown to the user: one rule for
the CLI, the language server and (mirrored in ``extension/src/format.ts``) the tree
views and webviews.

The rule:

- a missing value is ``NO_VALUE`` (an em dash, ``—``), everywhere;
- a metric value: an integer (below 1e15) as it is; ``NaN``, ``inf``, ``-inf`` spelled
  out; otherwise 4 significant digits (never fewer than the digits before the point),
  trailing zeros dropped, and the exponent form (``1.5e-7``, ``2.346e+9``) when the
  value rounds to below 1e-6 or to 1e6 and above;
- a size in bytes: ``512 B``, then binary units with one decimal (``1.5 KiB``,
  ``2.0 MiB``, ``3.1 GiB``, ``1.0 TiB``).

A duration (the CLI's form, ``fmt_duration``): ``12.3s``, ``4m05s``, ``2h03m``. Rounding is half away from
zero on the exact binary value, which is what JavaScript's ``toFixed`` and
``toExponential`` do, so both sides print the same digits for the same double (Python's
``format`` rounds ties to even). A table of cases, ``tests/unit/format_cases.json``, is
checked by a Python unit test and by a node test, so the two cannot drift.

The CLI's tables and the language server's inlay hints both use it, so the rule lives
below both of them (``cli`` and ``lsp`` never import each other; the layer contracts in
pyproject.toml are checked by ``scripts/lint.sh``). Standard library only, and only
``math``: importing it costs nothing at start-up.
"""

from __future__ import annotations

import math

NO_VALUE = "—"
"""Shown for a value that is missing."""

_DIGITS = 4
_SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB")


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator (both >= 0) rounded to an integer, ties away from zero."""
    whole, rest = divmod(numerator, denominator)
    return whole + (2 * rest >= denominator)


def _fixed(value: float, decimals: int) -> str:
    """`value` with `decimals` digits after the point, like JavaScript's ``toFixed``."""
    p, q = abs(value).as_integer_ratio()
    digits = str(_half_up(p * 10**decimals, q)).rjust(decimals + 1, "0")
    text = f"{digits[:-decimals]}.{digits[-decimals:]}" if decimals else digits
    return ("-" if value < 0 and text.strip("0.") else "") + text


def _significant(value: float) -> tuple[int, int]:
    """|value| (finite, not 0) rounded to `_DIGITS` significant digits, as the integer
    mantissa m (10**(_DIGITS-1) <= m < 10**_DIGITS) and exponent e: m * 10**(e-_DIGITS+1)."""
    p, q = abs(value).as_integer_ratio()
    exp = math.floor(math.log10(abs(value)))

    def at_least(e: int) -> bool:  # |value| >= 10**e, exactly
        return bool(p * 10 ** max(0, -e) >= q * 10 ** max(0, e))

    while not at_least(exp):
        exp -= 1
    while at_least(exp + 1):
        exp += 1
    shift = _DIGITS - 1 - exp
    mantissa = _half_up(p * 10 ** max(0, shift), q * 10 ** max(0, -shift))
    if mantissa == 10**_DIGITS:
        mantissa, exp = 10 ** (_DIGITS - 1), exp + 1
    return mantissa, exp


def fmt_value(value: float | None) -> str:
    """A metric value for humans, by the rule above: ``—`` when missing, ``3``,
    ``0.1235``, ``12346``, ``1.5e-7``, ``NaN``, ``inf``."""
    if value is None:
        return NO_VALUE
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    mantissa, exp = _significant(value)
    if exp >= 6 or exp < -6:
        digits = str(mantissa)
        head = f"{digits[0]}.{digits[1:]}".rstrip("0").rstrip(".")
        return f"{'-' if value < 0 else ''}{head}e{'+' if exp >= 0 else '-'}{abs(exp)}"
    text = _fixed(value, max(0, _DIGITS - 1 - exp))
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_size(size: float | None) -> str:
    """A size in bytes for humans: ``512 B``, ``1.5 KiB``, ``2.0 MiB`` (``—`` when
    missing or negative)."""
    if size is None or not math.isfinite(size) or size < 0:
        return NO_VALUE
    if size < 1024:
        return f"{int(size)} B"
    value = size / 1024
    unit = 0
    while value >= 1024 and unit < len(_SIZE_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{_fixed(value, 1)} {_SIZE_UNITS[unit]}"


def fmt_duration(seconds: float | None) -> str:
    """A duration as the CLI shows it: tenths of a second below a minute, then minutes
    and seconds, then hours and minutes."""
    if seconds is None or not math.isfinite(seconds):
        return NO_VALUE
    if seconds < 60:
        return f"{_fixed(seconds, 1)}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
