"""The one formatting rule (runyard.core.formatting) against the table of cases that the
extension's node test (extension/test/formatRule.test.ts) checks too, so the CLI, the
language server, the tree views and the webviews cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runyard.cli import output
from runyard.core.formatting import NO_VALUE, fmt_duration, fmt_size, fmt_value

CASES: dict[str, Any] = json.loads((Path(__file__).parent / "format_cases.json").read_text("utf-8"))


def test_metric_values_read_as_the_shared_table_says() -> None:
    wrong = []
    for case in CASES["values"]:
        value = float(case["float"]) if "float" in case else case["value"]
        if fmt_value(value) != case["text"]:
            wrong.append((case, fmt_value(value)))
    assert not wrong


def test_sizes_read_as_the_shared_table_says() -> None:
    wrong = [(c, fmt_size(c["bytes"])) for c in CASES["sizes"] if fmt_size(c["bytes"]) != c["text"]]
    assert not wrong


def test_durations_read_as_the_shared_table_says() -> None:
    wrong = [
        (c, fmt_duration(c["seconds"]))
        for c in CASES["durations"]
        if fmt_duration(c["seconds"]) != c["text"]
    ]
    assert not wrong
    assert fmt_duration(float("nan")) == NO_VALUE


def test_a_missing_value_is_one_mark_in_every_cli_cell() -> None:
    assert CASES["missing"] == NO_VALUE
    assert output.fmt_value(None) == output.fmt_duration(None) == output.fmt_time(None) == NO_VALUE
    assert output.fmt_size(None) == NO_VALUE


def test_a_tie_rounds_away_from_zero_as_javascript_does_not_to_even_as_python_does() -> None:
    assert f"{12344.5:.0f}" == "12344" and fmt_value(12344.5) == "12345"
    assert f"{1.25:.1f}" == "1.2" and fmt_size(1280) == "1.3 KiB"
