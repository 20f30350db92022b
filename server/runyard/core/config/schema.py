"""The JSON Schemas of target and job files, and how to say in words what they expect.

The schemas are package data in `core/schemas/` (`target.schema.json`,
`job.schema.json`); the language server's completion and hover read their fields and
descriptions (`schema_properties`), the checks validate against them. They are read once
and shared; jsonschema is imported only when a document is validated (`schema_validator`),
so a command that loads only known-valid files never imports it (see `cache`).

`describe` and `expected_words` turn a value and a schema into the two halves of a
message ("got 'x' (a string)", "Expected a whole number of at least 1"); `suggest`
finds the closest choice for "did you mean".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.core.config.settings import NAME_PATTERN, Kind

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

SCHEMA_DIR = Path(__file__).parent.parent / "schemas"

# Values written into a line of a Dockerfile or pip.conf (`index_url`, a docker target's
# `python` and `base_image`): a line break would start a new instruction there. A
# lookahead, not `$`: Python's `$` also matches before a final line break (`|` blocks).
ONE_LINE = r"^(?![\s\S]*[\r\n])"


_PATTERN_HELP = {
    NAME_PATTERN: "a name that starts with a letter or digit and uses only letters, digits, "
    "'_', '.' and '-'",
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$": "a dotted module name, like "
    "mypackage.train",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name: letters, digits and '_', "
    "not starting with a digit",
    r"^(?![\s\S]*[\r\n])[A-Za-z][A-Za-z0-9+.-]*://": "a URL, like "
    "https://packages.example.com/simple",
    ONE_LINE: "a value on one line",
    r"^[0-9]+[bkmgBKMG]?$": "a size, like 512m or 2g",
    r"^([Cc][Aa][Pp]_)?[A-Za-z_]+$": "a Linux capability name, like SYS_PTRACE",
    r"^(local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?|spark://[^\s/]+|yarn|k8s://\S+)$": "a "
    "Spark master: local[N], local[*], spark://host:port, yarn or k8s://https://host:port",
    r"^[^:\s,]+:[^:\s,]+:[^:\s,]+$": "Maven coordinates, groupId:artifactId:version",
    r"^https?://": "an http:// or https:// address, like http://spark-master:8080",
    r"^https?://[^\s/]+(/\S*)?$": "the http:// address of a Ray dashboard, like "
    "http://ray-head:8265 (not a ray:// client address)",
    r"^[A-Za-z_][A-Za-z0-9_.:/-]*$": "a Ray resource name, like accelerator_a100",
}


_schema_bytes: dict[str, bytes] = {}
_schemas: dict[str, dict[str, Any]] = {}
_validators: dict[str, Validator] = {}


def schema_path(kind: Kind) -> Path:
    """The JSON Schema file for `kind` (shipped with the package)."""
    return SCHEMA_DIR / f"{kind}.schema.json"


def read_schema_bytes(kind: Kind) -> bytes:
    if kind not in _schema_bytes:
        _schema_bytes[kind] = schema_path(kind).read_bytes()
    return _schema_bytes[kind]


def load_schema(kind: Kind) -> dict[str, Any]:
    """The parsed JSON Schema for `kind`. Shared: do not change it."""
    if kind not in _schemas:
        schema = json.loads(read_schema_bytes(kind))
        assert isinstance(schema, dict)
        _schemas[kind] = schema
    return _schemas[kind]


def schema_properties(kind: Kind, target_type: str | None = None) -> dict[str, dict[str, Any]]:
    """The fields a document of `kind` may have, name -> property schema (each with a
    `description`). For targets the fields of `target_type`'s branch (`allOf` ->
    `if type == X` -> `then`) come after the common ones; with no type, those of every
    branch."""
    schema = load_schema(kind)
    merged: dict[str, dict[str, Any]] = dict(schema.get("properties", {}))
    for branch in schema.get("allOf", []):
        condition = branch.get("if", {}).get("properties", {}).get("type", {})
        if target_type is not None and condition.get("const") != target_type:
            continue
        for key, value in branch.get("then", {}).get("properties", {}).items():
            merged.setdefault(key, value)
    return merged


def schema_validator(kind: Kind) -> Validator:
    if kind not in _validators:
        from jsonschema import Draft202012Validator

        _validators[kind] = Draft202012Validator(load_schema(kind))
    return _validators[kind]


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    return json.dumps(value)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: Any, raw: str | None = None) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        written = raw or str(value).lower()
        return f"{written} (a true/false value)"
    if isinstance(value, (int, float)):
        return f"{raw or value} (a number)"
    if isinstance(value, str):
        return f"'{_short(value)}' (a string)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)  # pragma: no cover - YAML gives no other types


def expected_words(schema: Any) -> str:
    """What a value must look like, in words, from its schema."""
    if not isinstance(schema, Mapping):
        return "a valid value"
    if "const" in schema:
        return _quote(schema["const"])
    if "enum" in schema:
        choices = [_quote(v) for v in schema["enum"]]
        return choices[0] if len(choices) == 1 else "one of: " + ", ".join(choices)
    pattern = schema.get("pattern")
    if pattern and schema.get("type", "string") == "string":
        return _PATTERN_HELP.get(pattern, f"a string matching {pattern}")
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return " or ".join(expected_words(alt) for alt in alternatives)
    kind = schema.get("type")
    if kind == "string":
        return "a non-empty string" if schema.get("minLength") else "a string"
    if kind == "integer" or kind == "number":
        text = "a whole number" if kind == "integer" else "a number"
        if "minimum" in schema:
            text += f" of at least {schema['minimum']}"
        if "exclusiveMinimum" in schema:
            text += f" greater than {schema['exclusiveMinimum']}"
        return text
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, Mapping) and items.get("type") == "string":
            return "a list of strings"
        return "a list"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, Mapping) and values.get("type") == "string":
            return "a mapping of names to strings (NAME: value)"
        return "a mapping"
    return "a valid value"


def suggest(word: str, choices: Iterable[str]) -> str | None:
    import difflib

    options = list(choices)
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return close[0] if close else None
