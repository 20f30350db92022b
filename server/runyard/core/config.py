"""Targets and jobs: the YAML files under `.runyard/`, loaded into dataclasses.

- `.runyard/targets/<name>.yml`: where jobs run (schema: schemas/target.schema.json);
- `.runyard/jobs/<name>.yml`: saved run configurations (schema: schemas/job.schema.json);
- `.runyard/config.yml`: project settings; today only `default_target`.

Every problem in a file is a `ConfigError` that names the file, line, column and field,
says what is wrong and what is expected. `validate_document` gives all of them at once
(for the language server); the loaders raise the first one.

Speed: PyYAML and jsonschema are imported only when needed, and a file that validated
cleanly once is remembered (by hash) in `.runyard/state/cache/config-valid.json`, so
loading it again does not import jsonschema at all.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import posixpath
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from runyard.core.errors import NotFoundError, UsageError
from runyard.core.project import RUNYARD_DIR, Project
from runyard.core.yamlpos import (
    NodeSpans,
    ParsedYaml,
    PathKey,
    Span,
    format_path,
    parse_yaml,
    point,
)

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

Kind = Literal["target", "job"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NAME_RULE = "names start with a letter or digit and use only letters, digits, '_', '.' and '-'"
SCHEMA_DIR = Path(__file__).with_name("schemas")
CONFIG_FILE = "config.yml"
CACHE_FILE = "config-valid.json"
SUFFIXES = (".yml", ".yaml")

# Values written into a line of a Dockerfile or pip.conf (`index_url`, a docker target's
# `python` and `base_image`): a line break would start a new instruction there. A
# lookahead, not `$`: Python's `$` also matches before a final line break (`|` blocks).
ONE_LINE = r"^(?![\s\S]*[\r\n])"
_NAME_RE = re.compile(NAME_PATTERN)
# Bump when the checks below change, so results cached by an older version are not trusted.
_CACHE_VERSION = b"runyard-config-valid-1\0"
_CACHE_MAX = 1000
_BOM = b"\xef\xbb\xbf"

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
}

_LOCAL_TARGET = """\
# The local target runs jobs on this machine, each in a virtual environment built from the
# job's requirements; set `python: /path/to/python` to use an interpreter you manage instead.
type: local
"""


# --------------------------------------------------------------------------- errors


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _display_path(path: Path) -> str:
    """`path` from the project root (the folder holding `.runyard/`), for messages."""
    parts = path.parts
    if RUNYARD_DIR in parts:
        index = len(parts) - 1 - parts[::-1].index(RUNYARD_DIR)
        return Path(*parts[index:]).as_posix()
    return path.as_posix()


class ConfigError(UsageError):
    """A problem in a target, job or project settings file.

    ``str(err)`` is ``<file>:<line>:<col>: field 'a.b': <what is wrong>. <what is
    expected>.`` plus the hint; the file is relative to the project root. Lines and
    columns are 1-based; ``line`` is None for problems with the file as a whole (its
    name, its encoding when no position is known). ``end_line``/``end_column`` (exclusive)
    mark the end of the offending text, for editors. ``problem``/``expected`` are the two
    halves of the message without the location; ``detail`` is both with the field.
    ``related`` holds the file's other problems when a loader raised the first one.
    """

    def __init__(
        self,
        file: Path,
        problem: str,
        expected: str | None = None,
        *,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        hint: str | None = None,
        end_line: int | None = None,
        end_column: int | None = None,
        display: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column if column is not None or line is None else 1
        self.end_line = end_line if end_line is not None else line
        self.end_column = end_column
        if end_column is None and self.column is not None:
            self.end_column = self.column + 1
        self.field = field
        self.problem = problem
        self.expected = expected
        self.display = display or _display_path(file)
        self.related: list[ConfigError] = []
        where = self.display
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        super().__init__(f"{where}: {self.detail}", hint)

    @property
    def detail(self) -> str:
        text = f"field '{self.field}': " if self.field else ""
        text += _sentence(self.problem)
        if self.expected:
            text += " " + _sentence(self.expected)
        return text

    @classmethod
    def at(
        cls,
        file: Path,
        span: Span | None,
        problem: str,
        expected: str | None = None,
        *,
        field: str | None = None,
        hint: str | None = None,
        display: str | None = None,
    ) -> ConfigError:
        if span is None:
            return cls(file, problem, expected, field=field, hint=hint, display=display)
        return cls(
            file,
            problem,
            expected,
            line=span.line,
            column=span.column,
            end_line=span.end_line,
            end_column=span.end_column,
            field=field,
            hint=hint,
            display=display,
        )


def _raise_first(errors: list[ConfigError]) -> None:
    if errors:
        first = errors[0]
        first.related = errors[1:]
        raise first


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class TargetConfig:
    """A compute target, from `.runyard/targets/<name>.yml`. `raw` is the file's data as
    is (for target types that read fields of their own)."""

    name: str
    type: str
    path: Path
    raw: dict[str, Any]
    description: str | None = None
    python: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    system_site_packages: bool = False
    index_url: str | None = None
    cancel_grace_seconds: float = 10.0


@dataclass(frozen=True)
class JobConfig:
    """A run configuration, from `.runyard/jobs/<name>.yml` (`path` None when built
    in code). Exactly one of `script` and `module` is set for a job from a file."""

    name: str
    path: Path | None = None
    script: str | None = None
    module: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    experiment: str | None = None
    requirements: str | None = None
    framework: str = "python"
    gpus: int | str | None = None
    outputs: str = "outputs"
    description: str | None = None
    tensorboard_dir: str = "logs"


# --------------------------------------------------------------------------- schemas

_schema_bytes: dict[str, bytes] = {}
_schemas: dict[str, dict[str, Any]] = {}
_validators: dict[str, Validator] = {}


def schema_path(kind: Kind) -> Path:
    """The JSON Schema file for `kind` (shipped with the package)."""
    return SCHEMA_DIR / f"{kind}.schema.json"


def _read_schema_bytes(kind: Kind) -> bytes:
    if kind not in _schema_bytes:
        _schema_bytes[kind] = schema_path(kind).read_bytes()
    return _schema_bytes[kind]


def load_schema(kind: Kind) -> dict[str, Any]:
    """The parsed JSON Schema for `kind`. Shared: do not change it."""
    if kind not in _schemas:
        schema = json.loads(_read_schema_bytes(kind))
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


def _validator(kind: Kind) -> Validator:
    if kind not in _validators:
        from jsonschema import Draft202012Validator

        _validators[kind] = Draft202012Validator(load_schema(kind))
    return _validators[kind]


# --------------------------------------------------------------------------- describing values


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    return json.dumps(value)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(value: Any, raw: str | None = None) -> str:
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


def _expected(schema: Any) -> str:
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
        return " or ".join(_expected(alt) for alt in alternatives)
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


def _suggest(word: str, choices: Iterable[str]) -> str | None:
    import difflib

    options = list(choices)
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return close[0] if close else None


# --------------------------------------------------------------------------- validation


class _Context:
    """One document being checked: where its values are, and how to report."""

    def __init__(
        self, kind: Kind, file: Path, display: str, spans: dict[PathKey, NodeSpans], data: Any
    ) -> None:
        self.kind = kind
        self.file = file
        self.display = display
        self.spans = spans
        self.data = data

    def value_span(self, path: PathKey) -> Span | None:
        while True:
            found = self.spans.get(path)
            if found is not None:
                return found.value
            if not path:
                return None
            path = path[:-1]

    def key_span(self, path: PathKey) -> Span | None:
        found = self.spans.get(path)
        if found is not None and found.key is not None:
            return found.key
        return self.value_span(path)

    def start_span(self, path: PathKey) -> Span | None:
        span = self.value_span(path)
        return None if span is None else point(span.line, span.column)

    def raw(self, path: PathKey) -> str | None:
        found = self.spans.get(path)
        return None if found is None else found.raw

    def error(
        self,
        span: Span | None,
        path: PathKey,
        problem: str,
        expected: str | None = None,
        hint: str | None = None,
    ) -> ConfigError:
        return ConfigError.at(
            self.file,
            span,
            problem,
            expected,
            field=format_path(path) or None,
            hint=hint,
            display=self.display,
        )

    def what(self) -> str:
        if self.kind == "job":
            return "a job"
        kind = self.data.get("type") if isinstance(self.data, dict) else None
        return f"a {kind} target" if isinstance(kind, str) else "a target"


def _required_example(name: str, schema: Any) -> str:
    if isinstance(schema, Mapping):
        if "enum" in schema:
            return f"`{name}: {schema['enum'][0]}`"
        if "const" in schema:
            return f"`{name}: {schema['const']}`"
        examples = schema.get("examples")
        if examples and isinstance(examples[0], str):
            return f"`{name}: {examples[0]}`"
    return f"`{name}: ...`"


# Fields people may try for logging in: refused with a message of their own (secrets are
# named by reference only: an SSH agent, a key file, an environment variable).
SECRET_FIELDS = frozenset(
    {"password", "passwd", "passphrase", "key_passphrase", "private_key", "secret", "token"}
)


def _from_schema_error(err: ValidationError, ctx: _Context) -> list[ConfigError]:
    path: PathKey = tuple(err.absolute_path)
    schema: Mapping[str, Any] = err.schema if isinstance(err.schema, Mapping) else {}
    instance = err.instance
    validator = err.validator

    if validator == "additionalProperties" and isinstance(instance, dict):
        props = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        other: Kind = "target" if ctx.kind == "job" else "job"
        other_fields = set(schema_properties(other)) - set(props)
        out = []
        for key in instance:
            if key in props or any(re.search(p, key) for p in patterns):
                continue
            if ctx.kind == "target" and not path and key.lower() in SECRET_FIELDS:
                out.append(
                    ctx.error(
                        ctx.key_span((key,)),
                        (key,),
                        f"'{key}': secrets never go in target files (they are committed)",
                        "Remove it. Log in with your SSH agent (`ssh-add`), or name a key "
                        "file with identity_file and, for a passphrase, the environment "
                        "variable holding it with passphrase_env",
                    )
                )
                continue
            where = ctx.what() if not path else "here"
            hint = None
            suggestion = _suggest(key, props)
            if key in other_fields:
                hint = (
                    f"'{key}' is a field of {other} files (.runyard/{other}s/), not of {ctx.kind}s"
                )
            elif suggestion:
                hint = f"did you mean '{suggestion}'?"
            out.append(
                ctx.error(
                    ctx.key_span((*path, key)),
                    (*path, key),
                    "unknown field",
                    f"Valid fields for {where}: {', '.join(props)}",
                    hint,
                )
            )
        return out

    if validator == "required" and isinstance(instance, dict):
        props = schema.get("properties", {})
        required = err.validator_value if isinstance(err.validator_value, list) else []
        missing = [str(name) for name in required if name not in instance]
        return [
            ctx.error(
                ctx.start_span(path),
                (*path, name),
                "required but missing",
                f"Add {_required_example(name, props.get(name))}",
            )
            for name in missing
        ]

    if validator in ("oneOf", "anyOf"):
        alternatives = schema.get(str(validator), [])
        required_only = all(
            isinstance(alt, Mapping) and set(alt) == {"required"} for alt in alternatives
        )
        if required_only and isinstance(instance, dict):
            return _exactly_one(alternatives, instance, path, schema, ctx)
        return [
            ctx.error(
                ctx.value_span(path),
                path,
                f"got {_describe(instance, ctx.raw(path))}",
                f"Expected {_expected(schema)}",
            )
        ]

    if validator == "type":
        expected = f"Expected {_expected(schema)}"
        if instance is None:
            return [ctx.error(ctx.value_span(path), path, "the value is empty", expected)]
        if schema.get("type") == "string" and isinstance(instance, (bool, int, float)):
            raw = ctx.raw(path) or json.dumps(instance)
            read_as = "a true/false value" if isinstance(instance, bool) else "a number"
            expected += f'; YAML reads {raw} as {read_as}, so quote it: "{raw}"'
        return [
            ctx.error(
                ctx.value_span(path),
                path,
                f"got {_describe(instance, ctx.raw(path))}",
                expected,
            )
        ]

    if validator in ("enum", "const"):
        hint = None
        if isinstance(instance, str):
            choices = schema.get("enum") or [schema.get("const")]
            suggestion = _suggest(instance, [c for c in choices if isinstance(c, str)])
            if suggestion:
                hint = f"did you mean '{suggestion}'?"
        return [
            ctx.error(
                ctx.value_span(path),
                path,
                f"got {_describe(instance, ctx.raw(path))}",
                f"Expected {_expected(schema)}",
                hint,
            )
        ]

    if "propertyNames" in err.relative_schema_path and isinstance(instance, str):
        key_path = (*path, instance)
        return [
            ctx.error(
                ctx.key_span(key_path),
                key_path,
                f"'{instance}' is not a valid key here",
                f"Expected {_expected(schema)}",
            )
        ]

    if validator == "minLength" and instance == "":
        return [
            ctx.error(
                ctx.value_span(path), path, "the value is empty", f"Expected {_expected(schema)}"
            )
        ]

    if validator == "pattern" and isinstance(instance, str) and re.search(r"[\r\n]", instance):
        what = "the value" if schema.get("pattern") == ONE_LINE else _expected(schema) + ","
        return [
            ctx.error(
                ctx.value_span(path),
                path,
                "the value has a line break in it",
                f"Expected {what} on one line: it is written into a line of a Dockerfile or "
                "pip.conf, where a line break would start a new instruction",
                f"write `{format_path(path)}:` on one line (no `|` or `>` block, no \\n)",
            )
        ]

    if validator in (
        "pattern",
        "minLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
    ):
        return [
            ctx.error(
                ctx.value_span(path),
                path,
                f"got {_describe(instance, ctx.raw(path))}",
                f"Expected {_expected(schema)}",
            )
        ]

    return [ctx.error(ctx.value_span(path), path, err.message)]


def _exactly_one(
    alternatives: list[Any],
    instance: dict[str, Any],
    path: PathKey,
    schema: Mapping[str, Any],
    ctx: _Context,
) -> list[ConfigError]:
    """Exactly one of the `required` alternatives must be set (a job's script/module)."""
    names = [str(alt["required"][0]) for alt in alternatives]
    quoted = " or ".join(f"'{n}'" for n in names)
    present = [n for n in names if n in instance]
    if len(present) > 1:

        def position(name: str) -> tuple[int, int]:
            span = ctx.key_span((*path, name))
            return (span.line, span.column) if span else (0, 0)

        last = max(present, key=position)
        both = " and ".join(f"'{n}'" for n in present)
        return [
            ctx.error(
                ctx.key_span((*path, last)),
                (*path, last),
                f"both {both} are set",
                f"Set only one of {quoted}",
                f"{ctx.what()} runs either a script or a module; remove one of them"
                if set(present) == {"script", "module"}
                else None,
            )
        ]
    props = schema.get("properties", {})
    if any(k not in props and _suggest(k, names) for k in instance):
        return []  # a misspelled key ("scrpt") is reported as an unknown field, with the fix
    examples = " or ".join(_required_example(n, props.get(n)) for n in names)
    return [
        ctx.error(
            ctx.start_span(path),
            path,
            f"none of {quoted} is set"
            if len(names) > 2
            else f"neither {quoted.replace(' or ', ' nor ')} is set",
            f"Set exactly one of them, like {examples}",
        )
    ]


def _relative_path_problem(value: str) -> str | None:
    if value.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:[\\/]", value):
        return f"'{value}' is an absolute path"
    normal = posixpath.normpath(value.replace("\\", "/"))
    if normal == ".." or normal.startswith("../"):
        return f"'{value}' points outside the project folder"
    return None


def _semantic_errors(data: dict[str, Any], ctx: _Context) -> list[ConfigError]:
    """Checks JSON Schema cannot express."""
    out: list[ConfigError] = []
    if ctx.kind == "job":
        for key in ("script", "requirements", "outputs", "tensorboard_dir"):
            value = data.get(key)
            if isinstance(value, str) and value:
                problem = _relative_path_problem(value)
                if problem:
                    example = {"script": "train.py", "requirements": "requirements.txt"}
                    expected = (
                        f"Expected a path relative to the project folder, like {example[key]}"
                        if key in example
                        else "Expected a folder relative to the project folder, like "
                        + ("logs" if key == "tensorboard_dir" else "outputs")
                    )
                    out.append(ctx.error(ctx.value_span((key,)), (key,), problem, expected))
    else:
        grace = data.get("cancel_grace_seconds")
        if isinstance(grace, float) and not math.isfinite(grace):
            out.append(
                ctx.error(
                    ctx.value_span(("cancel_grace_seconds",)),
                    ("cancel_grace_seconds",),
                    f"got {_describe(grace, ctx.raw(('cancel_grace_seconds',)))}",
                    "Expected a finite number of seconds greater than 0",
                )
            )
        py_files = data.get("py_files")
        for i, value in enumerate(py_files if isinstance(py_files, list) else []):
            problem = _relative_path_problem(value) if isinstance(value, str) and value else None
            if problem:
                out.append(
                    ctx.error(
                        ctx.value_span(("py_files", i)),
                        ("py_files", i),
                        problem,
                        "Expected a file relative to the project folder, like libs/features.zip",
                    )
                )
    return out


# --------------------------------------------------------------------------- project references

# Folders never searched for project files: hidden ones (.git, .runyard, .venv, caches),
# these, and environments of any name (a folder holding pyvenv.cfg or conda-meta/).
_SKIP_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages", "venv"})
_ENV_MARKERS = frozenset({"pyvenv.cfg", "conda-meta"})
_FILES_LIMIT = 3000
_ADDRESS_SCHEMES = ("unix://", "tcp://", "ssh://")


def project_files(
    project: Project,
    suffixes: tuple[str, ...] = (),
    names: tuple[str, ...] = (),
    limit: int = _FILES_LIMIT,
) -> list[str]:
    """Files of the project whose name ends with one of `suffixes` or is one of `names`
    (every file when both are empty), as POSIX paths relative to the root, shallowest
    first. Skips hidden folders (.git, .runyard, .venv...), virtual environments,
    node_modules and __pycache__; looks at no more than `limit` entries. Never raises."""
    out: list[str] = []
    seen = 0
    queue: deque[tuple[Path, str]] = deque([(project.root, "")])
    while queue and seen < limit:
        folder, prefix = queue.popleft()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        if prefix and any(e.name in _ENV_MARKERS for e in entries):
            continue
        for entry in entries:
            seen += 1
            if seen > limit:
                break
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not name.startswith(".") and name not in _SKIP_FOLDERS:
                        queue.append((Path(entry.path), f"{prefix}{name}/"))
                elif entry.is_file() and (
                    (not suffixes and not names) or name.endswith(suffixes) or name in names
                ):
                    out.append(prefix + name)
            except OSError:
                continue
    return out


def _is_file(root: Path, value: str) -> bool | None:
    """True when `value` names a file under `root`, None when it is a folder."""
    try:
        path = root / value
        if path.is_file():
            return True
        return None if path.is_dir() else False
    except (OSError, ValueError):
        return False


def _missing_file(
    data: dict[str, Any],
    key: str,
    ctx: _Context,
    project: Project,
    files: tuple[tuple[str, ...], tuple[str, ...]],
    what: str,
) -> ConfigError | None:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip() or _relative_path_problem(value):
        return None  # not a string, empty or outside the project: reported by other checks
    found = _is_file(project.root, value)
    if found:
        return None
    if found is None:
        problem = f"'{value}' is a folder, not a file"
    else:
        problem = f"'{value}' does not exist in the project folder"
    suggestion = _suggest(value, project_files(project, *files))
    expected = (
        f"Did you mean '{suggestion}'?"
        if suggestion and suggestion != value
        else f"Expected {what}, relative to the project folder"
    )
    return ctx.error(ctx.value_span((key,)), (key,), problem, expected)


def _reference_errors(data: dict[str, Any], ctx: _Context, project: Project) -> list[ConfigError]:
    """Checks against the project's files: what a job names must exist. Only for
    `validate_document(..., project=)` (the editor): the loaders and their cache of valid
    documents do not depend on other files."""
    out: list[ConfigError] = []
    if ctx.kind == "job":
        script = _missing_file(
            data, "script", ctx, project, ((".py",), ()), "the path of a Python file"
        )
        requirements = _missing_file(
            data,
            "requirements",
            ctx,
            project,
            ((".txt",), ("pyproject.toml",)),
            "a requirements.txt-style file or a pyproject.toml",
        )
        out.extend(err for err in (script, requirements) if err is not None)
        target = data.get("target")
        if isinstance(target, str) and _NAME_RE.match(target):
            names = target_names(project)
            if target not in names:
                suggestion = _suggest(target, names)
                listed = ", ".join(names)
                if suggestion:
                    expected = f"Did you mean '{suggestion}'? The project's targets: {listed}"
                elif names:
                    expected = f"Expected one of the project's targets: {listed}"
                else:
                    expected = "The project has no targets yet"
                out.append(
                    ctx.error(
                        ctx.value_span(("target",)),
                        ("target",),
                        f"there is no target named '{target}' (no .runyard/targets/{target}.yml)",
                        expected,
                        f"add it with `runyard target add {target} --type local`",
                    )
                )
    else:
        address = data.get("address")
        if isinstance(address, str) and not address.startswith(_ADDRESS_SCHEMES):
            out.append(
                ctx.error(
                    ctx.value_span(("address",)),
                    ("address",),
                    f"got {_describe(address)}",
                    "Expected an address starting with unix://, tcp:// or ssh://, "
                    "like unix:///var/run/docker.sock",
                )
            )
    return out


def _sort(errors: list[ConfigError]) -> list[ConfigError]:
    seen: set[tuple[int, int, str]] = set()
    out = []
    for err in sorted(errors, key=lambda e: (e.line or 0, e.column or 0)):
        key = (err.line or 0, err.column or 0, str(err))
        if key not in seen:
            seen.add(key)
            out.append(err)
    return out


def _check_data(data: dict[str, Any], ctx: _Context) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for err in _validator(ctx.kind).iter_errors(data):
        errors.extend(_from_schema_error(err, ctx))
    errors.extend(_semantic_errors(data, ctx))
    return errors


def _check_parsed(
    parsed: ParsedYaml, kind: Kind, file: Path, display: str, *, schema: bool = True
) -> list[ConfigError]:
    ctx = _Context(kind, file, display, parsed.spans, parsed.data)
    errors = [
        ctx.error(p.span, p.path, p.problem, p.expected)
        if p.path
        else ConfigError.at(file, p.span, p.problem, p.expected, display=display)
        for p in parsed.problems
    ]
    if parsed.fatal:
        return _sort(errors)
    example = "type: local" if kind == "target" else "script: train.py"
    if parsed.empty:
        errors.append(
            ConfigError(
                file,
                "the file is empty",
                f"Expected {ctx.what()}'s fields, at least `{example}`",
                line=1,
                column=1,
                display=display,
            )
        )
        return _sort(errors)
    if not isinstance(parsed.data, dict):
        errors.append(
            ctx.error(
                ctx.value_span(()),
                (),
                f"the top level is {_describe(parsed.data, ctx.raw(()))}",
                f"Expected a mapping of fields, like `{example}`",
            )
        )
        return _sort(errors)
    if schema:
        errors.extend(_check_data(parsed.data, ctx))
    return _sort(errors)


def _name_error(kind: str, path: Path, display: str) -> ConfigError | None:
    if _NAME_RE.match(path.stem):
        return None
    return ConfigError(
        path,
        f"'{path.stem}' is not a valid {kind} name",
        f"Rename the file: {NAME_RULE}",
        display=display,
    )


def validate_document(
    text: str, kind: Kind, path: Path, *, project: Project | None = None
) -> list[ConfigError]:
    """All problems in `text`, the content of the target or job file `path` (which need
    not exist), each with its position; [] when it is valid. Never raises for bad input.

    With `project`, also what the document refers to: a job's `script` and
    `requirements` files and its `target` must exist in the project; a target's
    `address` must be a unix://, tcp:// or ssh:// address."""
    display = _display_path(path)
    errors: list[ConfigError] = []
    if path.suffix in SUFFIXES:
        name_error = _name_error(kind, path, display)
        if name_error:
            errors.append(name_error)
    parsed = parse_yaml(text)
    checked = _check_parsed(parsed, kind, path, display)
    if project is not None and not parsed.fatal and isinstance(parsed.data, dict):
        ctx = _Context(kind, path, display, parsed.spans, parsed.data)
        checked = _sort(checked + _reference_errors(parsed.data, ctx, project))
    errors.extend(checked)
    return errors


# --------------------------------------------------------------------------- reading files


def _read_bytes(path: Path, display: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            path,
            f"cannot read the file ({exc.strerror or exc})",
            "Check that it exists and can be read",
            display=display,
        ) from None


def _decode(raw: bytes, path: Path, display: str) -> str:
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = raw.count(b"\n", 0, start) + 1
        line_start = raw.rfind(b"\n", 0, start) + 1
        column = len(raw[line_start:start].decode("utf-8", "replace")) + 1
        raise ConfigError(
            path,
            f"the file is not UTF-8 text (byte 0x{raw[start]:02X} is not valid UTF-8)",
            "Save it with UTF-8 encoding",
            line=line,
            column=column,
            display=display,
        ) from None


class _ValidCache:
    """Documents that validated cleanly, by hash, with their parsed data, in the
    project's state folder: a known document needs neither jsonschema nor yaml.

    Reading or writing it never fails a command: problems just mean no caching."""

    def __init__(self, project: Project) -> None:
        self.state_dir = project.state_dir
        self.path = project.state_dir / "cache" / CACHE_FILE
        self._keys: dict[str, Any] | None = None
        self._dirty = False

    def _load(self) -> dict[str, Any]:
        if self._keys is None:
            self._keys = {}
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None
            if isinstance(data, dict):
                self._keys = {str(k): v for k, v in data.items() if isinstance(v, dict)}
        return self._keys

    @staticmethod
    def key(kind: Kind, document: bytes) -> str:
        digest = hashlib.sha256(_CACHE_VERSION)
        digest.update(_read_schema_bytes(kind))
        digest.update(document)
        return digest.hexdigest()

    def __contains__(self, key: str) -> bool:
        return key in self._load()

    def get(self, key: str) -> dict[str, Any] | None:
        data = self._load().get(key)
        return data if isinstance(data, dict) else None

    def add(self, key: str, data: dict[str, Any]) -> None:
        keys = self._load()
        if key not in keys:
            keys[key] = data
            self._dirty = True

    def save(self) -> None:
        if not self._dirty or self._keys is None:
            return
        self._dirty = False
        keys = self._keys
        if len(keys) > _CACHE_MAX:
            keys = dict(list(keys.items())[-_CACHE_MAX:])
        try:
            if not self.state_dir.is_dir():
                return
            self.path.parent.mkdir(exist_ok=True)
            tmp = self.path.with_name(f".{CACHE_FILE}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(keys), encoding="utf-8")
            os.replace(tmp, self.path)
        except (OSError, TypeError, ValueError):  # ValueError/TypeError: not JSON data
            pass


def _load_file(project: Project, kind: Kind, path: Path, cache: _ValidCache) -> dict[str, Any]:
    """The validated data of a target or job file; raises its first ConfigError."""
    display = project.relpath(path)
    raw = _read_bytes(path, display)
    text = _decode(raw, path, display)
    key = cache.key(kind, raw)
    known = cache.get(key)
    if known is not None:
        return known
    parsed = parse_yaml(text)
    errors = _check_parsed(parsed, kind, path, display, schema=True)
    _raise_first(errors)
    assert isinstance(parsed.data, dict)
    cache.add(key, parsed.data)
    return parsed.data


def _folder(project: Project, kind: Kind) -> Path:
    return project.targets_dir if kind == "target" else project.jobs_dir


def _files(project: Project, kind: Kind) -> list[Path]:
    folder = _folder(project, kind)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return sorted(
        (p for p in entries if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file()),
        key=lambda p: (p.stem, SUFFIXES.index(p.suffix)),
    )


def _find(project: Project, kind: Kind, name: str) -> Path | None:
    folder = _folder(project, kind)
    for suffix in SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def _names(project: Project, kind: Kind) -> list[str]:
    return sorted({p.stem for p in _files(project, kind) if _NAME_RE.match(p.stem)})


def target_names(project: Project) -> list[str]:
    """Names of the project's target files (without loading them)."""
    return _names(project, "target")


def job_names(project: Project) -> list[str]:
    """Names of the project's job files (without loading them)."""
    return _names(project, "job")


def _check_name(kind: Kind, name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UsageError(f"'{name}' is not a valid {kind} name.", hint=NAME_RULE)


def _not_found(project: Project, kind: Kind, name: str) -> NotFoundError:
    names = _names(project, kind)
    folder = project.relpath(_folder(project, kind))
    if names:
        hint = f"available {kind}s: {', '.join(names)}"
        suggestion = _suggest(name, names)
        if suggestion:
            hint = f"did you mean '{suggestion}'? ({hint})"
    elif kind == "target":
        hint = "there are no targets yet; `runyard init` creates the local one, `runyard target add` others"
    else:
        hint = f"there are no jobs yet; add a file {folder}/<name>.yml"
    return NotFoundError(f"There is no {kind} named '{name}' (no {folder}/{name}.yml).", hint)


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _target_config(name: str, path: Path, data: dict[str, Any]) -> TargetConfig:
    grace = data.get("cancel_grace_seconds", 10)
    return TargetConfig(
        name=name,
        type=str(data.get("type")),
        path=path,
        raw=data,
        description=_opt_str(data.get("description")),
        python=_opt_str(data.get("python")),
        env=_str_map(data.get("env")),
        system_site_packages=data.get("system_site_packages") is True,
        index_url=_opt_str(data.get("index_url")),
        cancel_grace_seconds=float(grace) if isinstance(grace, (int, float)) else 10.0,
    )


def default_requirements(project: Project) -> str | None:
    """The dependency file a job uses when it names none: requirements.txt, else
    pyproject.toml, when the project has one."""
    for candidate in ("requirements.txt", "pyproject.toml"):
        if (project.root / candidate).is_file():
            return candidate
    return None


def _job_config(project: Project, name: str, path: Path, data: dict[str, Any]) -> JobConfig:
    gpus = data.get("gpus")
    requirements = _opt_str(data.get("requirements"))
    return JobConfig(
        name=name,
        path=path,
        script=_opt_str(data.get("script")),
        module=_opt_str(data.get("module")),
        args=[str(a) for a in data.get("args") or []],
        env=_str_map(data.get("env")),
        target=_opt_str(data.get("target")),
        experiment=_opt_str(data.get("experiment")),
        requirements=requirements if requirements else default_requirements(project),
        framework=_opt_str(data.get("framework")) or "python",
        gpus=gpus if isinstance(gpus, (int, str)) and not isinstance(gpus, bool) else None,
        outputs=_opt_str(data.get("outputs")) or "outputs",
        description=_opt_str(data.get("description")),
        tensorboard_dir=_opt_str(data.get("tensorboard_dir")) or "logs",
    )


# --------------------------------------------------------------------------- public API


def init_project(folder: Path) -> tuple[Project, list[Path]]:
    """Make `folder` (created if missing) a Runyard project: `.runyard/targets/local.yml`,
    `.runyard/jobs/.gitkeep` and `.runyard/.gitignore` (ignoring `state/`). Existing
    files are left alone; returns the project and the files created."""
    root = folder.expanduser().resolve()
    project = Project(root)
    files = {
        project.targets_dir / "local.yml": _LOCAL_TARGET,
        project.jobs_dir / ".gitkeep": "",
        project.runyard_dir / ".gitignore": "state/\n",
    }
    created: list[Path] = []
    for path, content in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as fh:
                fh.write(content)
        except FileExistsError:
            if path.is_file():
                continue
            raise UsageError(
                f"Cannot create {path}: something that is not a file is in the way.",
                hint="move it away and run `runyard init` again",
            ) from None
        except OSError as exc:
            raise UsageError(
                f"Cannot create {path}: {exc.strerror or exc}.",
                hint="check the folder's permissions",
            ) from None
        created.append(path)
    return project, created


def _load_named(project: Project, kind: Kind, name: str) -> tuple[Path, dict[str, Any]]:
    _check_name(kind, name)
    path = _find(project, kind, name)
    if path is None:
        raise _not_found(project, kind, name)
    cache = _ValidCache(project)
    data = _load_file(project, kind, path, cache)
    cache.save()
    return path, data


def load_target(project: Project, name: str) -> TargetConfig:
    """The target `name`; NotFoundError (listing the targets) when there is none."""
    path, data = _load_named(project, "target", name)
    return _target_config(name, path, data)


def load_job(project: Project, name: str) -> JobConfig:
    """The job `name`; NotFoundError (listing the jobs) when there is none."""
    path, data = _load_named(project, "job", name)
    return _job_config(project, name, path, data)


def _list(project: Project, kind: Kind) -> list[tuple[str, Path, dict[str, Any]] | ConfigError]:
    cache = _ValidCache(project)
    out: list[tuple[str, Path, dict[str, Any]] | ConfigError] = []
    seen: dict[str, Path] = {}
    for path in _files(project, kind):
        display = project.relpath(path)
        name = path.stem
        if name in seen:
            out.append(
                ConfigError(
                    path,
                    f"the {kind} '{name}' is also defined in {project.relpath(seen[name])}",
                    f"Keep one file per {kind}",
                    display=display,
                )
            )
            continue
        seen[name] = path
        name_error = _name_error(kind, path, display)
        if name_error:
            out.append(name_error)
            continue
        try:
            out.append((name, path, _load_file(project, kind, path, cache)))
        except ConfigError as exc:
            out.append(exc)
    cache.save()
    return out


def list_targets(project: Project) -> list[TargetConfig | ConfigError]:
    """Every target file, loaded, sorted by name; a bad file is its ConfigError."""
    return [
        item if isinstance(item, ConfigError) else _target_config(*item)
        for item in _list(project, "target")
    ]


def list_jobs(project: Project) -> list[JobConfig | ConfigError]:
    """Every job file, loaded, sorted by name; a bad file is its ConfigError."""
    return [
        item if isinstance(item, ConfigError) else _job_config(project, *item)
        for item in _list(project, "job")
    ]


def _coerce(value: Any, schema: Any) -> Any:
    """A string option from the command line, as the type the schema wants."""
    if not isinstance(value, str) or not isinstance(schema, Mapping):
        return value
    kind = schema.get("type")
    text = value.strip().lower()
    if kind == "boolean":
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
    elif kind in ("integer", "number"):
        try:
            return int(text)
        except ValueError:
            pass
        if kind == "number":
            try:
                return float(text)
            except ValueError:
                pass
    return value


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(
            f"Cannot write {path}: {exc.strerror or exc}.", hint="check the folder's permissions"
        ) from None


def write_target(
    project: Project, name: str, type_: str, options: dict[str, Any], force: bool = False
) -> Path:
    """Write `.runyard/targets/<name>.yml` with `type: <type_>` and `options` (None values
    left out; strings given for boolean or number fields converted, as a command line
    gives them). Validated before anything is written; an existing target is replaced
    only with `force`. Returns the file's path."""
    _check_name("target", name)
    existing = _find(project, "target", name)
    if existing is not None and not force:
        raise UsageError(
            f"The target '{name}' already exists ({project.relpath(existing)}).",
            hint="choose another name, or replace it with --force",
        )
    props = schema_properties("target", type_)
    document: dict[str, Any] = {"type": type_}
    for key, value in options.items():
        if value is None or key == "type":
            continue
        document[key] = _coerce(value, props.get(key))
    path = project.targets_dir / f"{name}.yml"
    display = project.relpath(path)
    ctx = _Context("target", path, display, {}, document)
    _raise_first(_sort(_check_data(document, ctx)))

    import yaml

    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)
    _write_text(path, f"# Compute target '{name}' (type {type_}), written by Runyard.\n{body}")
    if existing is not None and existing != path:
        existing.unlink(missing_ok=True)
    return path


def remove_target(project: Project, name: str) -> Path:
    """Delete the target `name`'s file (and drop it as the default target). Returns the
    path removed."""
    _check_name("target", name)
    path = _find(project, "target", name)
    if path is None:
        raise _not_found(project, "target", name)
    try:
        path.unlink()
    except OSError as exc:
        raise UsageError(f"Cannot remove {path}: {exc.strerror or exc}.") from None
    try:
        settings, _ = _read_settings(project)
        if settings.get("default_target") == name:
            _write_default(project, None)
    except ConfigError:
        pass  # the target is gone; a broken settings file is reported when it is next read
    return path


def _settings_path(project: Project) -> Path:
    return project.runyard_dir / CONFIG_FILE


def _read_settings(project: Project) -> tuple[dict[str, Any], ParsedYaml | None]:
    """`.runyard/config.yml` as data ({} when missing or empty)."""
    path = _settings_path(project)
    if not path.is_file():
        return {}, None
    display = project.relpath(path)
    text = _decode(_read_bytes(path, display), path, display)
    parsed = parse_yaml(text)
    _raise_first(
        [
            ConfigError.at(path, p.span, p.problem, p.expected, display=display)
            for p in parsed.problems
        ]
    )
    if parsed.empty:
        return {}, parsed
    if not isinstance(parsed.data, dict):
        span = parsed.spans.get(())
        raise ConfigError.at(
            path,
            span.value if span else None,
            f"the top level is {_describe(parsed.data)}",
            "Expected a mapping of settings, like `default_target: local`",
            display=display,
        )
    return parsed.data, parsed


def default_target_name(project: Project) -> str:
    """The target runs use when none is given: `default_target` in `.runyard/config.yml`,
    else `local` when it exists, else the only target; UsageError otherwise."""
    settings, parsed = _read_settings(project)
    value = settings.get("default_target")
    if value is not None and parsed is not None:
        path = _settings_path(project)
        found = parsed.spans.get(("default_target",))
        span = found.value if found else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and found:
            value = found.raw
        names = _names(project, "target")
        if not isinstance(value, str) or not _NAME_RE.match(value):
            raise ConfigError.at(
                path,
                span,
                f"got {_describe(value)}",
                "Expected the name of a target in .runyard/targets/",
                field="default_target",
                display=project.relpath(path),
            )
        if _find(project, "target", value) is None:
            raise ConfigError.at(
                path,
                span,
                f"there is no target named '{value}'",
                f"Expected one of: {', '.join(names)}" if names else "Create the target first",
                field="default_target",
                display=project.relpath(path),
            )
        return value
    names = _names(project, "target")
    if "local" in names:
        return "local"
    if len(names) == 1:
        return names[0]
    if not names:
        raise UsageError(
            "This project has no targets.",
            hint="`runyard init` creates the local target; or `runyard target add NAME --type local`",
        )
    raise UsageError(
        f"This project has several targets ({', '.join(names)}) and no default.",
        hint="set one with `runyard target default NAME`, or pick one per run with --target",
    )


def _yaml_scalar(text: str) -> str:
    import yaml

    return text if yaml.safe_load(text) == text else json.dumps(text)


_DEFAULT_LINE = re.compile(r"^default_target[ \t]*:.*(?:\r?\n|$)", re.MULTILINE)


def _write_default(project: Project, name: str | None) -> None:
    """Set (or with None, drop) `default_target` in `.runyard/config.yml`, keeping the
    rest of the file (comments included) as it is."""
    path = _settings_path(project)
    settings, _ = _read_settings(project)  # refuses to edit a broken file
    display = project.relpath(path)
    text = _decode(_read_bytes(path, display), path, display) if path.is_file() else ""
    line = "" if name is None else f"default_target: {_yaml_scalar(name)}\n"
    if _DEFAULT_LINE.search(text):
        new = _DEFAULT_LINE.sub(lambda _: line, text, count=1)
    elif name is None:
        return
    else:
        if not text:
            text = "# Runyard project settings.\n"
        elif not text.endswith("\n"):
            text += "\n"
        new = text + line
    check = parse_yaml(new)
    ok = not check.problems and (check.empty or isinstance(check.data, dict))
    if ok:
        data = check.data if isinstance(check.data, dict) else {}
        ok = data.get("default_target") == name
    if not ok:  # the old entry spanned several lines: write the settings afresh
        import yaml

        settings = {k: v for k, v in settings.items() if k != "default_target"}
        if name is not None:
            settings["default_target"] = name
        new = "# Runyard project settings.\n" + (
            yaml.safe_dump(settings, sort_keys=False, allow_unicode=True) if settings else ""
        )
    _write_text(path, new)


def set_default_target(project: Project, name: str) -> None:
    """Make `name` (an existing target) the project's default, in `.runyard/config.yml`."""
    _check_name("target", name)
    if _find(project, "target", name) is None:
        raise _not_found(project, "target", name)
    _write_default(project, name)
