"""Completion and hover for target, job and sweep files, for the language server.

`.runyard/targets/<name>.yml` is kind "target", `.runyard/jobs/<name>.yml` kind "job",
`.runyard/sweeps/<name>.yml` kind "sweep".
Everything here is plain functions over the document's text, returning plain dataclasses
(no LSP types). Positions are LSP-style: 0-based line and 0-based character, the
character being an index into the line's Python string.

The analysis is line-based (the cursor's line, its indentation, and the other top-level
`key:` lines), so it works while the user types: on a half-written key (`scr`), an empty
value (`target: `), or with a syntax error anywhere else in the document. Only top-level
keys are completed; nested mappings (`env`) get no key completion.

Speed: called on every keystroke. Schema lookups are cached, the project's file list is
cached for a couple of seconds, and nothing here imports jsonschema; PyYAML only to check
whether a file or target name needs quotes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from runyard.core.config import (
    Kind,
    job_names,
    load_schema,
    project_files,
    schema_properties,
    target_names,
)
from runyard.core.project import Project

CompletionKind = Literal["field", "value", "target", "file", "job"]

_KINDS = ("target", "job", "sweep")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A top-level `key:` (plain or quoted key), followed by a space, a tab or the line's end.
_KEY_LINE = re.compile(
    r"""(?P<indent>[ ]*)(?P<key>"[^"]*"|'[^']*'|[^\s#'"?:,\[\]{}&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?)"""
    r"""[ \t]*:(?=[ \t]|$)"""
)
_PARTIAL_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_KEY_CHAR = re.compile(r"[A-Za-z0-9_.-]")
_FILES_TTL = 2.0
_FILES_CACHE_MAX = 16
_MAX_FILE_ITEMS = 500

# What a job's file fields may name: (suffixes, exact names).
_FILE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "script": ((".py",), ()),
    "requirements": ((".txt",), ("pyproject.toml",)),
}


@dataclass(frozen=True)
class TextRange:
    """A range of the document: 0-based lines and characters, the end exclusive."""

    line: int
    character: int
    end_line: int
    end_character: int


@dataclass
class Completion:
    """One completion item. `range`, when set, is the text the item replaces (the
    partial key or value around the cursor); `insert_text` goes in its place."""

    label: str
    kind: CompletionKind
    detail: str | None
    documentation: str | None
    insert_text: str
    sort_text: str | None
    range: TextRange | None = None


@dataclass
class HoverInfo:
    """Markdown to show, and the range it is about (0-based, end exclusive)."""

    markdown: str
    line: int
    character: int
    end_line: int
    end_character: int


# --------------------------------------------------------------------------- schema, cached


@lru_cache(maxsize=32)
def _props(kind: Kind, target_type: str | None) -> dict[str, dict[str, Any]]:
    """The fields a document may have at the top level, in schema order. A target with
    no type (or a type the schema does not know) gets the common fields only."""
    if kind == "target":
        common = dict(load_schema(kind).get("properties", {}))
        if target_type is None or target_type not in _type_descriptions():
            return common
        return schema_properties(kind, target_type)
    return schema_properties(kind)


@lru_cache(maxsize=4)
def _all_props(kind: Kind) -> dict[str, dict[str, Any]]:
    """Every field a document of `kind` may have, whatever a target's type."""
    return schema_properties(kind)


@lru_cache(maxsize=1)
def _type_descriptions() -> dict[str, str]:
    """Target type -> its description (the `type` description of its schema branch)."""
    schema = load_schema("target")
    common = schema.get("properties", {}).get("type", {}).get("description", "")
    out: dict[str, str] = {}
    for branch in schema.get("allOf", []):
        const = branch.get("if", {}).get("properties", {}).get("type", {}).get("const")
        if isinstance(const, str):
            then = branch.get("then", {}).get("properties", {}).get("type", {})
            out[const] = str(then.get("description") or common)
    for value in schema.get("properties", {}).get("type", {}).get("enum", []):
        if isinstance(value, str):
            out.setdefault(value, str(common))
    return out


@lru_cache(maxsize=4)
def _groups(kind: Kind) -> tuple[frozenset[str], tuple[frozenset[str], ...]]:
    """(required fields, groups of fields of which exactly one is set), from the
    schema's `required` and `oneOf: [{required: [a]}, {required: [b]}]`."""
    schema = load_schema(kind)
    required = frozenset(str(name) for name in schema.get("required", []))
    groups = []
    alternatives = schema.get("oneOf", [])
    if alternatives and all(
        isinstance(alt, Mapping) and set(alt) == {"required"} for alt in alternatives
    ):
        groups.append(frozenset(str(name) for alt in alternatives for name in alt["required"]))
    return required, tuple(groups)


def _yaml_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return json.dumps(value)


_TYPE_WORDS = {
    "string": "string",
    "boolean": "true/false",
    "number": "number",
    "integer": "whole number",
    "array": "list",
    "object": "mapping",
}


def _type_text(schema: Mapping[str, Any]) -> str | None:
    """The kind of value a field takes, in a few words (None for enums and constants)."""
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        parts = []
        for alt in alternatives:
            if isinstance(alt, Mapping):
                if "const" in alt:
                    parts.append(f"`{_yaml_text(alt['const'])}`")
                else:
                    text = _type_text(alt)
                    if text:
                        parts.append(text)
        return " or ".join(parts) or None
    kind = schema.get("type")
    if not isinstance(kind, str):
        return None
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, Mapping) and items.get("type") == "string":
            return "list of strings"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, Mapping) and values.get("type") == "string":
            return "mapping of NAME: string"
    return _TYPE_WORDS.get(kind, kind)


def _choices(schema: Mapping[str, Any]) -> list[Any]:
    """The values a field may take when it has a fixed set (enum, const, boolean)."""
    out: list[Any] = []
    if "enum" in schema:
        out.extend(schema["enum"])
    if "const" in schema:
        out.append(schema["const"])
    if schema.get("type") == "boolean":
        out.extend([True, False])
    for alt in schema.get("anyOf") or schema.get("oneOf") or []:
        if isinstance(alt, Mapping):
            out.extend(v for v in _choices(alt) if v not in out)
    return out


@lru_cache(maxsize=128)
def _field_markdown(kind: Kind, target_type: str | None, key: str) -> str | None:
    schema = _props(kind, target_type).get(key) or _all_props(kind).get(key)
    if schema is None:
        return None
    parts = [f"**{key}**"]
    description = schema.get("description")
    if isinstance(description, str) and description:
        parts.append(description)
    facts = []
    type_text = _type_text(schema)
    if type_text:
        facts.append(f"Type: {type_text}")
    values = [v for v in _choices(schema) if not isinstance(v, bool)]
    if "enum" in schema and values:
        facts.append("Values: " + ", ".join(f"`{_yaml_text(v)}`" for v in values))
    if "default" in schema:
        facts.append(f"Default: `{_yaml_text(schema['default'])}`")
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        shown = ", ".join(f"`{_yaml_text(e)}`" for e in examples)
        facts.append(f"Example{'s' if len(examples) > 1 else ''}: {shown}")
    if facts:
        parts.append(" · ".join(facts))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- the text


def _lines(text: str) -> list[str]:
    return _LINE_BREAK.split(text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(("#", "%")) and stripped not in ("---", "...")


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def _value_token(line: str, start: int) -> tuple[int, int]:
    """The value written at `start` of `line`: (start, end), without a trailing
    comment or spaces; a quoted value includes its quotes (or runs to the line's end
    when not closed yet)."""
    if start >= len(line):
        return start, start
    quote = line[start]
    if quote in "'\"":
        i = start + 1
        while i < len(line):
            if quote == '"' and line[i] == "\\":
                i += 2
                continue
            if line[i] == quote:
                if quote == "'" and line[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                return start, i + 1
            i += 1
        return start, len(line)
    end = len(line)
    comment = re.search(r"[ \t]#", line[start:])
    if comment:
        end = start + comment.start()
    if line[start] == "#":
        end = start
    return start, len(line[:end].rstrip(" \t"))


@dataclass
class _KeyLine:
    key: str  # without quotes
    start: int  # of the key token
    end: int  # of the key token
    colon_end: int  # just after the colon
    value_start: int  # after the colon and the spaces that follow it


def _key_line(line: str) -> _KeyLine | None:
    match = _KEY_LINE.match(line)
    if match is None:
        return None
    token = match.group("key")
    start = match.start("key")
    gap = len(line) - match.end() - len(line[match.end() :].lstrip(" \t"))
    return _KeyLine(_unquote(token), start, start + len(token), match.end(), match.end() + gap)


class _Document:
    """What the lines other than the cursor's tell: the top-level indentation, the
    top-level keys already there and the target's type."""

    def __init__(self, lines: list[str], skip: int | None) -> None:
        content = [(i, line) for i, line in enumerate(lines) if i != skip and _is_content(line)]
        self.top_indent = min((_indent(line) for _, line in content), default=0)
        self.keys: set[str] = set()
        self.type: str | None = None
        for _, line in content:
            if _indent(line) != self.top_indent:
                continue
            found = _key_line(line)
            if found is None:
                continue
            self.keys.add(found.key)
            if found.key == "type":
                start, end = _value_token(line, found.value_start)
                value = _unquote(line[start:end]).strip()
                self.type = value or None


def _needs_quotes(value: str) -> bool:
    """Whether YAML would not read `value` written plainly as this very string."""
    if not re.fullmatch(r"[A-Za-z0-9_./][^#:]*", value) or value != value.strip():
        return True
    from yaml import ScalarNode
    from yaml.resolver import Resolver

    resolver: Any = Resolver()
    return bool(resolver.resolve(ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str")


def _matches(partial: str, label: str) -> bool:
    """`partial` typed so far fits `label`: its letters in order, the first one
    starting the label or one of its path parts."""
    if not partial:
        return True
    low, text = partial.lower(), label.lower()
    if text.startswith(low) or text.rsplit("/", 1)[-1].startswith(low):
        return True
    if text[0] != low[0]:
        return False
    it = iter(text)
    return all(char in it for char in low)


# --------------------------------------------------------------------------- project files

_files_cache: dict[tuple[str, str], tuple[float, list[str]]] = {}


def _files(project: Project, field: str) -> list[str]:
    key = (str(project.root), field)
    now = time.monotonic()
    cached = _files_cache.get(key)
    if cached is not None and now - cached[0] < _FILES_TTL:
        return cached[1]
    suffixes, names = _FILE_FIELDS[field]
    files = project_files(project, suffixes, names)
    if len(_files_cache) >= _FILES_CACHE_MAX:
        _files_cache.clear()
    _files_cache[key] = (now, files)
    return files


def clear_caches() -> None:
    """Forget the cached project file lists (for tests, or when files change)."""
    _files_cache.clear()


# --------------------------------------------------------------------------- completion


def _key_completions(
    kind: Kind,
    doc: _Document,
    line: int,
    start: int,
    end: int,
    partial: str,
    colon_follows: bool,
) -> list[Completion]:
    props = _props(kind, doc.type)
    required, groups = _groups(kind)
    taken = set(doc.keys)
    for group in groups:
        if group & doc.keys:
            taken |= group
    out = []
    for index, (key, schema) in enumerate(props.items()):
        if key in taken or not _matches(partial, key):
            continue
        needed = key in required or any(key in group for group in groups)
        description = schema.get("description")
        out.append(
            Completion(
                label=key,
                kind="field",
                detail=_type_text(schema)
                or (", ".join(_yaml_text(v) for v in _choices(schema)) or None),
                documentation=description if isinstance(description, str) else None,
                insert_text=key if colon_follows else f"{key}: ",
                sort_text=f"{0 if needed else 1}{index:03d}",
                range=TextRange(line, start, line, end),
            )
        )
    return out


def _value_completions(
    kind: Kind,
    doc: _Document,
    key: str,
    project: Project | None,
) -> list[tuple[str, CompletionKind, str | None, str | None, bool]]:
    """(value, kind, detail, documentation, is a name that may need quotes) for `key`."""
    if kind == "job" and key == "target":
        if project is None:
            return []
        return [(name, "target", "target", None, True) for name in target_names(project)]
    if kind == "sweep" and key == "job":
        if project is None:
            return []
        return [(name, "job", "job", None, True) for name in job_names(project)]
    if (kind == "job" and key in _FILE_FIELDS) or (kind == "sweep" and key == "script"):
        if project is None:
            return []
        files = _files(project, key)
        if key == "requirements":  # dependency files first, then other .txt files

            def rank(path: str) -> bool:
                name = path.rsplit("/", 1)[-1]
                return not (name == "pyproject.toml" or "requirements" in name)

            files = sorted(files, key=rank)
        return [(path, "file", None, None, True) for path in files]
    schema = _props(kind, doc.type).get(key) or _all_props(kind).get(key)
    if schema is None:
        return []
    descriptions = _type_descriptions() if kind == "target" and key == "type" else {}
    return [
        (_yaml_text(value), "value", key, descriptions.get(value), False)
        for value in _choices(schema)
    ]


def complete(
    text: str,
    kind: Kind,
    line: int,
    character: int,
    project: Project | None = None,
    *,
    target_type: str | None = None,
) -> list[Completion]:
    """Completions at (`line`, `character`) of `text`, a document of `kind`.

    At a top-level key position (an empty line, or a partial key): the fields not
    already set (for targets, those of the document's `type`, or of `target_type`
    when given; with no type, the common ones, `type` first). At a value position
    (after `key: `): enum values, true/false, target names for a job's `target`, job
    names for a sweep's `job`, and project files for a job's or a sweep's `script`
    (.py) and a job's `requirements` (*.txt, pyproject.toml), filtered by what is
    typed. [] elsewhere."""
    if kind not in _KINDS:
        return []
    lines = _lines(text)
    if not 0 <= line < len(lines):
        return []
    current = lines[line]
    character = max(0, min(character, len(current)))
    doc = _Document(lines, skip=line)
    if target_type is not None:
        doc.type = target_type
    before = current[:character]
    indent = character if before.strip() == "" else _indent(current)
    if indent > doc.top_indent:
        return []  # inside a nested value: no completion there

    typed = before[indent:]
    if typed == "" or _PARTIAL_KEY.fullmatch(typed):
        end = character
        while end < len(current) and _KEY_CHAR.match(current[end]):
            end += 1
        after = current[end:].lstrip(" \t")
        if after and not after.startswith(("#", ":")):
            return []
        return _key_completions(
            kind, doc, line, indent, end, typed, colon_follows=after.startswith(":")
        )

    found = _key_line(current)
    if found is None or found.colon_end > character:
        return []
    if character < found.value_start and found.value_start < len(current):
        return []  # in the spaces before a value
    start, end = _value_token(current, found.value_start)
    if character > end or (start < end and current[start] in "[{|>&*!"):
        return []
    quote = current[start] if start < end and current[start] in "'\"" else ""
    replace_start = start + len(quote)
    replace_end = end
    if quote and end - start >= 2 and current[end - 1] == quote and character < end:
        replace_end = end - 1
    if start == end:  # no value yet: insert at the cursor
        replace_start = replace_end = character
    partial = current[replace_start:character]
    lead = " " if not quote and replace_start == found.colon_end else ""

    out = []
    for index, (value, item_kind, detail, documentation, is_name) in enumerate(
        _value_completions(kind, doc, found.key, project)
    ):
        if not _matches(partial, value):
            continue
        insert = value
        if is_name and not quote and _needs_quotes(value):
            insert = json.dumps(value)
        out.append(
            Completion(
                label=value,
                kind=item_kind,
                detail=detail,
                documentation=documentation,
                insert_text=lead + insert,
                sort_text=f"{index:05d}",
                range=TextRange(line, replace_start, line, replace_end),
            )
        )
        if len(out) >= _MAX_FILE_ITEMS:
            break
    return out


# --------------------------------------------------------------------------- hover


def hover(text: str, kind: Kind, line: int, character: int) -> HoverInfo | None:
    """What the top-level field under (`line`, `character`) is: `**key**`, its
    description, type, values, default and examples; the range is the key. On a
    target's `type` value: that type's description, the range being the value. None
    elsewhere (blank space, comments, nested values, unknown fields)."""
    if kind not in _KINDS:
        return None
    lines = _lines(text)
    if not 0 <= line < len(lines):
        return None
    current = lines[line]
    doc = _Document(lines, skip=None)
    if _indent(current) != doc.top_indent:
        return None
    found = _key_line(current)
    if found is None:
        return None
    start, end = _value_token(current, found.value_start)
    on_key = found.start <= character < found.colon_end
    on_value = start <= character < end
    if not on_key and not on_value:
        return None
    if on_value and kind == "target" and found.key == "type":
        value = _unquote(current[start:end]).strip()
        description = _type_descriptions().get(value)
        if description is not None:
            return HoverInfo(f"**{value}** (target type)\n\n{description}", line, start, line, end)
    markdown = _field_markdown(kind, doc.type, found.key)
    if markdown is None:
        return None
    return HoverInfo(markdown, line, found.start, line, found.end)
