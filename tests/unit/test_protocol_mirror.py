"""extension/src/protocol.ts mirrors server/runyard/lsp/protocol.py: every method name,
every payload type and every field (camelCase), required where the server requires it."""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from runyard.lsp import protocol

TS = Path(__file__).resolve().parents[2] / "extension" / "src" / "protocol.ts"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def ts_interfaces(text: str) -> dict[str, dict[str, bool]]:
    """interface name -> {field: optional}, with inherited fields folded in."""
    raw: dict[str, tuple[list[str], dict[str, bool]]] = {}
    for m in re.finditer(
        r"export interface (\w+)(?: extends ([\w, ]+))? \{(.*?)\n\}", text, flags=re.S
    ):
        fields = {
            f.group(1): f.group(2) == "?"
            for f in re.finditer(r"^\s+(\w+)(\??):", m.group(3), flags=re.M)
        }
        bases = [b.strip() for b in (m.group(2) or "").split(",") if b.strip()]
        raw[m.group(1)] = (bases, fields)
    for m in re.finditer(r"export type (\w+) = Record<string, never>;", text):
        raw[m.group(1)] = ([], {})

    def resolve(name: str) -> dict[str, bool]:
        bases, fields = raw[name]
        out: dict[str, bool] = {}
        for b in bases:
            out.update(resolve(b))
        out.update(fields)
        return out

    return {name: resolve(name) for name in raw}


def test_every_method_name_is_mirrored() -> None:
    text = TS.read_text()
    consts = dict(re.findall(r'export const (\w+) = "(runyard/[^"]+)";', text))
    methods = {
        name: value
        for name, value in vars(protocol).items()
        if isinstance(value, str) and value.startswith("runyard/")
    }
    assert methods, "protocol.py declares no methods?"
    assert consts == methods
    # The typed request/notification tables name every method.
    for name in protocol.REQUESTS:
        assert f"[{_const(methods, name)}]: [" in text, name
    for name in protocol.NOTIFICATIONS:
        assert f"[{_const(methods, name)}]: " in text, name


def _const(methods: dict[str, str], value: str) -> str:
    return next(k for k, v in methods.items() if v == value)


def test_every_payload_type_and_field_is_mirrored() -> None:
    interfaces = ts_interfaces(TS.read_text())
    classes = {
        name: cls
        for name, cls in vars(protocol).items()
        if isinstance(cls, type) and attrs.has(cls) and cls.__module__ == protocol.__name__
    }
    assert len(classes) > 30
    for name, cls in classes.items():
        assert name in interfaces, f"protocol.ts lacks {name}"
        ts_fields = interfaces[name]
        py_fields = {camel(a.name): a.default is attrs.NOTHING for a in attrs.fields(cls)}
        assert set(ts_fields) == set(py_fields), f"{name}: {set(ts_fields) ^ set(py_fields)}"
        for field, required in py_fields.items():
            if required:
                assert not ts_fields[field], f"{name}.{field} is required by the server"
