"""Request params that are valid JSON but not text a name or path can hold: lone
surrogates anywhere, NUL characters in string fields; and params left out."""

from __future__ import annotations

import pytest

from runyard.lsp import protocol
from runyard.lsp.convert import structure_params


@pytest.mark.parametrize(
    ("params", "cls", "field"),
    [
        ({"runId": "a\ud800"}, protocol.RunParams, "params.runId"),
        ({"runIds": ["a", "\udfffb"]}, protocol.RunsCompareParams, "params.runIds[1]"),
        (
            {"runId": "r", "path": "p", "name": "m", "tags": {"\udc00": "v"}},
            protocol.ModelRegisterParams,
            "params.tags (a key)",
        ),
        (
            {"name": "d", "payload": {"rows": [[1, "\ud83d"]]}},
            protocol.DeploymentInvokeParams,
            "params.payload.rows[0][1]",
        ),
    ],
)
def test_a_lone_surrogate_anywhere_in_params_is_refused_naming_where(
    params: dict[str, object], cls: type[object], field: str
) -> None:
    with pytest.raises(ValueError, match="surrogate") as err:
        structure_params(params, cls)
    assert str(err.value).startswith(f"{field}: "), str(err.value)


def test_a_nul_character_in_a_string_field_is_refused_but_free_form_json_keeps_it() -> None:
    with pytest.raises(ValueError, match=r"params\.runIds\[1\]: .*NUL") as err:
        structure_params({"runIds": ["a", "b\x00"]}, protocol.RunsCompareParams)
    assert "\x00" not in str(err.value)
    invoke = structure_params(
        {"name": "d", "payload": {"t": "a\x00b"}}, protocol.DeploymentInvokeParams
    )
    assert invoke.payload == {"t": "a\x00b"}


def test_params_left_out_are_the_empty_object() -> None:
    assert structure_params(None, protocol.ProjectParams).project is None
    with pytest.raises(ValueError, match=r"params\.runId: is required but missing"):
        structure_params(None, protocol.RunParams)


def test_deeply_nested_params_are_checked_without_recursion() -> None:
    nested: object = "\ud800"
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(ValueError, match="surrogate"):
        structure_params({"name": "d", "payload": {"x": nested}}, protocol.DeploymentInvokeParams)
