"""Wire conversion of the custom LSP payloads: strict, camelCase, errors that name the field."""

from __future__ import annotations

import math

import pytest

from runyard.lsp import protocol as p
from runyard.lsp.convert import camel, structure_params, unstructure
from runyard.lsp.server import from_utf16, parse_settings, to_utf16


def test_camel_case_names() -> None:
    assert camel("run_ids") == "runIds"
    assert camel("work_done_token") == "workDoneToken"
    assert camel("project") == "project"


def test_structure_fills_defaults_and_renames() -> None:
    params = structure_params({"runIds": ["a"], "maxPoints": 10}, p.MetricSeriesParams)
    assert params == p.MetricSeriesParams(run_ids=["a"], max_points=10)
    assert structure_params(None, p.ProjectParams) == p.ProjectParams()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"runIds": ["a", 5]}, "params.runIds[1]: expected a string, got a number"),
        ({"runIds": "a"}, "params.runIds: expected an array, got a string"),
        ({}, "params.runIds: is required but missing"),
        ({"runIds": [], "bogus": 1}, "extra fields found (bogus)"),
        ({"runIds": [], "maxPoints": "5"}, "params.maxPoints: expected an integer, got a string"),
        ({"runIds": [], "maxPoints": True}, "params.maxPoints: expected an integer, got a boolean"),
        ({"runIds": [], "keys": [None]}, "params.keys[0]: expected a string, got null"),
        ([1], "params: expected an object, got an array"),
    ],
)
def test_bad_params_name_the_field(data: object, message: str) -> None:
    with pytest.raises(ValueError) as err:
        structure_params(data, p.MetricSeriesParams)
    assert message in str(err.value)


def test_bool_is_not_coerced_from_strings() -> None:
    with pytest.raises(ValueError, match=r"params.force: expected a boolean, got a string"):
        structure_params({"runId": "x", "force": "false"}, p.RunRestoreParams)


def test_token_may_be_string_or_integer() -> None:
    assert structure_params({"workDoneToken": 3}, p.RunSubmitParams).work_done_token == 3
    with pytest.raises(ValueError, match="workDoneToken"):
        structure_params({"workDoneToken": 1.5}, p.RunSubmitParams)


def test_unstructure_is_camel_case_and_json_safe() -> None:
    data = unstructure(
        p.MetricSeries(
            run_id="r",
            key="k",
            steps=[1, 2, 3],
            times=[1.0, 2.0, 3.0],
            values=[math.nan, math.inf, 2.0],
            total=3,
            downsampled=False,
        )
    )
    assert data["runId"] == "r"
    assert data["values"] == [None, None, 2.0]


def test_settings_keep_defaults_for_bad_values() -> None:
    assert parse_settings({"defaultTarget": "gpu", "liveIntervalMs": 10}) == p.Settings(
        default_target="gpu", live_interval_ms=50
    )
    assert parse_settings({"codeLens": "no"}) == p.Settings()
    assert parse_settings(None) == p.Settings()
    assert parse_settings({"somethingNew": 1, "inlayHints": False}).inlay_hints is False


def test_every_method_has_types_with_docstrings() -> None:
    for method, (params, result) in p.REQUESTS.items():
        assert method.startswith("runyard/")
        assert params.__doc__ and result.__doc__, method
    for method, note in p.NOTIFICATIONS.items():
        assert method.startswith("runyard/") and note.__doc__, method


def test_utf16_columns() -> None:
    line = "a = '😀' + 'é'  # x"
    emoji = line.index("😀")
    after = emoji + 1
    assert to_utf16(line, emoji) == emoji
    assert to_utf16(line, after) == after + 1
    assert from_utf16(line, to_utf16(line, after)) == after
    assert to_utf16("plain", 3) == 3 and from_utf16("plain", 3) == 3
