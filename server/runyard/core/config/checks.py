"""Checking a target, job or sweep document: the JSON Schema, the checks it cannot
express, and what the document refers to in the project.

- `check_parsed`: the problems of a parsed document (YAML problems from `yamlpos`, an
  empty file, a top level that is not a mapping, then `check_data`);
- `check_data`: the schema (each jsonschema error turned into a `ConfigError` on the
  offending key or value, with what is expected and, where one is close, "did you
  mean") and the semantic checks (paths inside the project, finite numbers, a job's
  `target` a name a file can have: on one line, short enough; a ray target's custom
  `resources` and `index_url`);
- `validate_document`: all of it for one document's text, for the language server, and
  with `project=` the references: a job's `script` and `requirements` files and its
  `target` must exist; a target's `address` must be a unix://, tcp:// or ssh:// address
  (a ray target's is its dashboard's http:// one, which the schema checks); a sweep's job or script and the targets of its `parallel` must exist. A sweep's own
  checks (its space can be sampled...) are in `sweeps`. The loaders leave the references
  out, so their cache of valid documents (`cache`)
  does not depend on other files.

Results are sorted by position and deduplicated.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from runyard.core.config.errors import ConfigError, display_path
from runyard.core.config.layout import SUFFIXES, project_files, target_names
from runyard.core.config.schema import (
    ONE_LINE,
    describe,
    expected_words,
    schema_properties,
    schema_validator,
    suggest,
)
from runyard.core.config.settings import NAME_RULE, Kind, is_name, name_too_long
from runyard.core.config.sweeps import reference_errors as sweep_reference_errors
from runyard.core.config.sweeps import semantic_errors as sweep_semantic_errors
from runyard.core.project import Project
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

    def at_value(
        self, path: PathKey, problem: str, expected: str | None = None, hint: str | None = None
    ) -> ConfigError:
        """An error about the value at `path` (placed on the nearest node that has one)."""
        return self.error(self.value_span(path), path, problem, expected, hint)

    def at_key(
        self, path: PathKey, problem: str, expected: str | None = None, hint: str | None = None
    ) -> ConfigError:
        """An error about the field at `path` itself (placed on its key)."""
        return self.error(self.key_span(path), path, problem, expected, hint)

    def got(
        self, path: PathKey, instance: Any, expected: str, hint: str | None = None
    ) -> ConfigError:
        """An error saying what the value at `path` is, as written, and what was expected."""
        return self.at_value(path, f"got {describe(instance, self.raw(path))}", expected, hint)

    def what(self) -> str:
        if self.kind in ("job", "sweep"):
            return f"a {self.kind}"
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
            suggestion = suggest(key, props)
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
        return [ctx.got(path, instance, f"Expected {expected_words(schema)}")]

    if validator == "type":
        expected = f"Expected {expected_words(schema)}"
        if instance is None:
            return [ctx.at_value(path, "the value is empty", expected)]
        if schema.get("type") == "string" and isinstance(instance, (bool, int, float)):
            raw = ctx.raw(path) or json.dumps(instance)
            read_as = "a true/false value" if isinstance(instance, bool) else "a number"
            expected += f'; YAML reads {raw} as {read_as}, so quote it: "{raw}"'
        return [ctx.got(path, instance, expected)]

    if validator in ("enum", "const"):
        hint = None
        if isinstance(instance, str):
            choices = schema.get("enum") or [schema.get("const")]
            suggestion = suggest(instance, [c for c in choices if isinstance(c, str)])
            if suggestion:
                hint = f"did you mean '{suggestion}'?"
        return [ctx.got(path, instance, f"Expected {expected_words(schema)}", hint)]

    if "propertyNames" in err.relative_schema_path and isinstance(instance, str):
        key_path = (*path, instance)
        return [
            ctx.error(
                ctx.key_span(key_path),
                key_path,
                f"'{instance}' is not a valid key here",
                f"Expected {expected_words(schema)}",
            )
        ]

    if validator == "minLength" and instance == "":
        return [ctx.at_value(path, "the value is empty", f"Expected {expected_words(schema)}")]

    if validator == "pattern" and isinstance(instance, str) and re.search(r"[\r\n]", instance):
        what = "the value" if schema.get("pattern") == ONE_LINE else expected_words(schema) + ","
        return [
            ctx.at_value(
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
        return [ctx.got(path, instance, f"Expected {expected_words(schema)}")]

    return [ctx.at_value(path, err.message)]


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
    if any(k not in props and suggest(k, names) for k in instance):
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
        target = data.get("target")
        too_long = name_too_long(target) if isinstance(target, str) else None
        if isinstance(target, str) and target.endswith("\n") and is_name(target[:-1]):
            # the schema's pattern lets it through (`$` matches before a final line break)
            out.append(
                ctx.at_value(
                    ("target",),
                    "the name ends with a line break",
                    "Expected the name of a target on one line",
                    "write `target:` on one line (no `|` or `>` block, no \\n)",
                )
            )
        elif too_long:
            out.append(
                ctx.at_value(
                    ("target",),
                    too_long,
                    "Expected the name of a target in .runyard/targets/ (its file name "
                    "without .yml)",
                )
            )
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
                    out.append(ctx.at_value((key,), problem, expected))
    elif ctx.kind == "sweep":
        script = data.get("script")
        problem = _relative_path_problem(script) if isinstance(script, str) and script else None
        if problem:
            out.append(
                ctx.at_value(
                    ("script",),
                    problem,
                    "Expected a path relative to the project folder, like train.py",
                )
            )
        out.extend(sweep_semantic_errors(data, ctx))
    else:
        grace = data.get("cancel_grace_seconds")
        if isinstance(grace, float) and not math.isfinite(grace):
            out.append(
                ctx.got(
                    ("cancel_grace_seconds",),
                    grace,
                    "Expected a finite number of seconds greater than 0",
                )
            )
        if data.get("type") == "ray":
            out.extend(_ray_errors(data, ctx))
        py_files = data.get("py_files")
        for i, value in enumerate(py_files if isinstance(py_files, list) else []):
            problem = _relative_path_problem(value) if isinstance(value, str) and value else None
            if problem:
                out.append(
                    ctx.at_value(
                        ("py_files", i),
                        problem,
                        "Expected a file relative to the project folder, like libs/features.zip",
                    )
                )
    return out


# Ray's own resource names, each with the field of a ray target that asks for it.
_RAY_RESOURCE_FIELDS = {
    "CPU": "num_cpus",
    "GPU": "num_gpus",
    "memory": "memory",
    "object_store_memory": None,
}


def _ray_errors(data: dict[str, Any], ctx: _Context) -> list[ConfigError]:
    """A ray target's fields the schema cannot judge: custom `resources` that are Ray's
    own, and an `index_url` with credentials (it travels in the job's runtime env, which
    anyone who can list the cluster's jobs reads)."""
    out: list[ConfigError] = []
    resources = data.get("resources")
    for name in resources if isinstance(resources, dict) else {}:
        if name in _RAY_RESOURCE_FIELDS:
            instead = _RAY_RESOURCE_FIELDS[name]
            out.append(
                ctx.at_key(
                    ("resources", name),
                    f"'{name}' is one of Ray's own resources, not a custom one",
                    "Expected a custom resource of the cluster, like accelerator_a100",
                    f"ask for it with `{instead}:` in the target file"
                    if instead
                    else "remove it: the object store is not reserved per job",
                )
            )
    index_url = data.get("index_url")
    if isinstance(index_url, str):
        netloc = urlsplit(index_url).netloc if "://" in index_url else ""
        if "@" in netloc:
            out.append(
                ctx.at_value(
                    ("index_url",),
                    "the address holds credentials, and a ray target sends it to the "
                    "cluster with every job, where anyone who can list the jobs reads it",
                    "Expected a package index address without user:token@",
                    "configure the index with its credentials in the pip.conf of the "
                    "cluster's nodes, and remove `index_url` (or give one without "
                    "credentials)",
                )
            )
    return out


_ADDRESS_SCHEMES = ("unix://", "tcp://", "ssh://")


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
    suggestion = suggest(value, project_files(project, *files))
    expected = (
        f"Did you mean '{suggestion}'?"
        if suggestion and suggestion != value
        else f"Expected {what}, relative to the project folder"
    )
    return ctx.at_value((key,), problem, expected)


def _reference_errors(data: dict[str, Any], ctx: _Context, project: Project) -> list[ConfigError]:
    """Checks against the project's files: what a job or a sweep names must exist. Only
    for `validate_document(..., project=)` (the editor, and `files.load_sweep`): the
    loaders of targets and jobs and their cache of valid documents do not depend on
    other files."""
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
        if isinstance(target, str) and is_name(target) and not name_too_long(target):
            names = target_names(project)
            if target not in names:
                suggestion = suggest(target, names)
                listed = ", ".join(names)
                if suggestion:
                    expected = f"Did you mean '{suggestion}'? The project's targets: {listed}"
                elif names:
                    expected = f"Expected one of the project's targets: {listed}"
                else:
                    expected = "The project has no targets yet"
                out.append(
                    ctx.at_value(
                        ("target",),
                        f"there is no target named '{target}' (no .runyard/targets/{target}.yml)",
                        expected,
                        f"add it with `runyard target add {target} --type local`",
                    )
                )
    elif ctx.kind == "sweep":
        script = _missing_file(
            data, "script", ctx, project, ((".py",), ()), "the path of a Python file"
        )
        out.extend([script] if script else [])
        out.extend(sweep_reference_errors(data, ctx, project))
    elif data.get("type") != "ray":  # (a ray target's address is its dashboard's http://)
        address = data.get("address")
        if isinstance(address, str) and not address.startswith(_ADDRESS_SCHEMES):
            out.append(
                ctx.at_value(
                    ("address",),
                    f"got {describe(address)}",
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


def data_errors(data: dict[str, Any], kind: Kind, file: Path, display: str) -> list[ConfigError]:
    """The problems of a document given as data (no positions: a document about to be
    written), sorted."""
    return _sort(_check_data(data, _Context(kind, file, display, {}, data)))


def _check_data(data: dict[str, Any], ctx: _Context) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for err in schema_validator(ctx.kind).iter_errors(data):
        errors.extend(_from_schema_error(err, ctx))
    errors.extend(_semantic_errors(data, ctx))
    return errors


def check_parsed(
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
    example = {"target": "type: local", "job": "script: train.py", "sweep": "job: train"}[kind]
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
            ctx.at_value(
                (),
                f"the top level is {describe(parsed.data, ctx.raw(()))}",
                f"Expected a mapping of fields, like `{example}`",
            )
        )
        return _sort(errors)
    if schema:
        errors.extend(_check_data(parsed.data, ctx))
    return _sort(errors)


def name_error(kind: str, path: Path, display: str) -> ConfigError | None:
    if is_name(path.stem):
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
    """All problems in `text`, the content of the target, job or sweep file `path` (which
    need not exist), each with its position; [] when it is valid. Never raises for bad
    input.

    With `project`, also what the document refers to: a job's `script` and
    `requirements` files and its `target` must exist in the project; a target's
    `address` must be a unix://, tcp:// or ssh:// address (but a ray target's, an
    http:// one); a sweep's `job` or `script`
    and the targets of its `parallel` must exist."""
    display = display_path(path)
    errors: list[ConfigError] = []
    if path.suffix in SUFFIXES:
        bad_name = name_error(kind, path, display)
        if bad_name:
            errors.append(bad_name)
    parsed = parse_yaml(text)
    checked = check_parsed(parsed, kind, path, display)
    if project is not None and not parsed.fatal and isinstance(parsed.data, dict):
        ctx = _Context(kind, path, display, parsed.spans, parsed.data)
        checked = _sort(checked + _reference_errors(parsed.data, ctx, project))
    errors.extend(checked)
    return errors
