"""Turning wire JSON into the attrs types of `protocol` and back.

Field names are camelCase on the wire. Structuring is strict (no "5" for an int, no
"false" for a bool, no unknown fields) and every problem names the field it is about,
so a client sees ``params.runIds[1]: expected a string, got 5`` instead of a traceback.

Params left out of a request (JSON-RPC allows it) are the empty object: a method whose
params are all optional just runs, one that needs a field says which is missing. A
string anywhere in the params that holds a lone surrogate (``"\\ud800"`` is valid JSON
but not text: it cannot become UTF-8, a file name or a database value) is refused by
name before anything uses it, and so is a NUL character in a string field (free-form
JSON, like a deployment's payload, may hold one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar, cast

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

T = TypeVar("T")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class FieldError(ValueError):
    """A value of the wrong JSON type."""


def _strict(expected: str, check: Any) -> Any:
    def hook(value: Any, _type: Any) -> Any:
        if not check(value):
            raise FieldError(f"expected {expected}, got {_type_name(value)}")
        return value

    return hook


def _string(value: Any, _type: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(f"expected a string, got {_type_name(value)}")
    if "\x00" in value:
        raise FieldError("the string holds a NUL character (\\u0000), which no name or path can")
    return value


def _float(value: Any, _type: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(f"expected a number, got {_type_name(value)}")
    return float(value)


def _any(value: Any, _type: Any) -> Any:
    return value


def _scalar_union(value: Any, _type: Any) -> str | int | None:
    if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
        out: str | int | None = value
        return out
    raise FieldError(f"expected a string or a number, got {_type_name(value)}")


def _dict_any(value: Any, _type: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(f"expected an object, got {_type_name(value)}")
    return value


def _list_factory(type_: Any, conv: cattrs.Converter) -> Any:
    args = getattr(type_, "__args__", None)
    item = args[0] if args else Any

    def hook(value: Any, _type: Any) -> list[Any]:
        if not isinstance(value, list):
            raise FieldError(f"expected an array, got {_type_name(value)}")
        out = []
        for index, element in enumerate(value):
            try:
                out.append(conv.structure(element, item))
            except Exception as exc:
                raise cattrs.IterableValidationError(
                    "invalid item", [_indexed(exc, index, item)], type_
                ) from None
        return out

    return hook


def _indexed(exc: Exception, index: int, item: Any) -> Exception:
    from cattrs.errors import IterableValidationNote

    exc.__notes__ = [
        *getattr(exc, "__notes__", []),
        IterableValidationNote(f"Structuring item {index}", index, item),
    ]
    return exc


def _format(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, FieldError):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _json_float(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


def make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(str, _string)
    conv.register_structure_hook(
        int, _strict("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
    )
    conv.register_structure_hook(bool, _strict("a boolean", lambda v: isinstance(v, bool)))
    conv.register_structure_hook(float, _float)
    conv.register_structure_hook_func(lambda t: t is Any, _any)
    conv.register_structure_hook_func(lambda t: t == str | int | None, _scalar_union)
    conv.register_structure_hook_func(lambda t: t == dict[str, Any], _dict_any)
    conv.register_unstructure_hook(float, _json_float)
    conv.register_structure_hook_factory(
        lambda t: getattr(t, "__origin__", None) is list, lambda t: _list_factory(t, conv)
    )

    def structure_factory(cls: type[Any]) -> Any:
        renames: dict[str, Any] = {
            a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)
        }
        return make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, **renames)

    def unstructure_factory(cls: type[Any]) -> Any:
        renames: dict[str, Any] = {
            a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, conv, **renames)

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


CONVERTER = make_converter()

_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")


def _camel_path(path: str) -> str:
    return _PATH_PART.sub(lambda m: "." + camel(m.group(1)), path)


def _message(line: str) -> str:
    """cattrs says ``<problem> @ $.field``; we say ``params.field: <problem>``."""
    problem, _, where = line.rpartition(" @ ")
    if not problem:
        return line
    where = _camel_path(where.replace("$", "params", 1))
    problem = problem.replace("required field missing", "is required but missing")
    problem = problem.replace("invalid value for type, expected", "expected")
    return f"{where}: {problem}"


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def surrogate_error(data: Any, where: str = "params") -> str | None:
    """A message naming the first string in `data` (keys included) that holds a lone
    surrogate, or None. Walks without recursion: params may nest deeply."""
    stack: list[tuple[Any, str]] = [(data, where)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if _has_surrogate(value):
                code = next(ord(c) for c in value if 0xD800 <= ord(c) <= 0xDFFF)
                return (
                    f"{path}: the string holds a lone surrogate (U+{code:04X}), which is"
                    " not text; send the character as a UTF-16 pair or leave it out"
                )
        elif isinstance(value, dict):
            items = list(value.items())
            for key, item in reversed(items):
                name = str(key)
                if _has_surrogate(name):
                    return surrogate_error(name, f"{path} (a key)")
                stack.append((item, f"{path}.{name}"))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(value))))
    return None


def structure_params(data: Any, cls: type[T]) -> T:
    """`data` as an instance of `cls`, or a ValueError whose message names each bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"params: expected an object, got {_type_name(data)}")
    problem = surrogate_error(data)
    if problem:
        raise ValueError(problem)
    try:
        return CONVERTER.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        messages = [
            _message(m) for m in cattrs.transform_error(exc, path="$", format_exception=_format)
        ]
        raise ValueError("; ".join(messages) or "params are not valid") from None
    except (FieldError, TypeError, ValueError) as exc:
        raise ValueError(f"params: {exc}") from None


def unstructure(value: Any) -> Any:
    return CONVERTER.unstructure(value)


def _keep_json(obj: dict[str, Any], cls: type[Any]) -> Any:
    return cls(**obj)


def _keep_json_params(obj: dict[str, Any], cls: type[Any]) -> Any:
    """A request or notification; `params` may be left out (JSON-RPC allows it), which
    pygls's own hook refuses, dropping the request unanswered."""
    return cls(**{"params": None, **obj})


def wire_converter() -> cattrs.Converter:
    """pygls's converter, except that params and results of methods it does not know
    (ours) stay plain JSON: pygls would turn them into named tuples, renaming keys that
    are not identifiers (metric names like ``val/acc``, run ids) and dropping one called
    ``type_name``."""
    from pygls.protocol import default_converter
    from pygls.protocol.json_rpc import (
        JsonRPCNotification,
        JsonRPCRequestMessage,
        JsonRPCResponseMessage,
    )

    conv: cattrs.Converter = default_converter()  # type: ignore[no-untyped-call]
    conv.register_structure_hook(JsonRPCResponseMessage, _keep_json)
    for cls in (JsonRPCRequestMessage, JsonRPCNotification):
        conv.register_structure_hook(cls, _keep_json_params)
    return conv


def from_fields(cls: type[T], source: object, **given: Any) -> T:
    """The protocol type `cls` with each field taken from the same-named attribute of
    `source` (a core dataclass), unless `given` names it. Sequences become lists and
    mappings dicts (copies: a reply never shares state with the core value). Every field
    must come from one of the two: a missing attribute is an error, not a default, so a
    field added to the protocol cannot silently go out empty."""
    values: dict[str, Any] = {}
    for f in attrs.fields(cast(Any, cls)):
        if f.name in given:
            values[f.name] = given[f.name]
            continue
        value = getattr(source, f.name)
        if isinstance(value, tuple | list):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        values[f.name] = value
    return cls(**values)
