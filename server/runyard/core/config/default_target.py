"""The project's default target, in `.runyard/config.yml` (project settings; today only
`default_target`).

`default_target_name` decides which target a run uses when none is given: the file's
`default_target`, else `local` when it exists, else the only target. A bad value (not a
name, too long to be a file name, no such target) is a `ConfigError` on the
`default_target` field. `set_default_target` and `forget_default`
edit the one line and keep the rest of the file (comments included) as it is; when the
old entry spans several lines the settings are written afresh. A broken settings file is
never edited.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from runyard.core.config.errors import ConfigError, raise_first
from runyard.core.config.layout import (
    check_name,
    decode,
    find,
    names_of,
    not_found,
    read_bytes,
    write_text,
)
from runyard.core.config.schema import describe
from runyard.core.config.settings import is_name, name_too_long
from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.core.yamlpos import ParsedYaml, parse_yaml

CONFIG_FILE = "config.yml"


def _settings_path(project: Project) -> Path:
    return project.runyard_dir / CONFIG_FILE


def _read_settings(project: Project) -> tuple[dict[str, Any], ParsedYaml | None]:
    """`.runyard/config.yml` as data ({} when missing or empty)."""
    path = _settings_path(project)
    if not path.is_file():
        return {}, None
    display = project.relpath(path)
    text = decode(read_bytes(path, display), path, display)
    parsed = parse_yaml(text)
    raise_first(
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
            f"the top level is {describe(parsed.data)}",
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
        names = names_of(project, "target")
        if not isinstance(value, str) or not is_name(value):
            raise ConfigError.at(
                path,
                span,
                f"got {describe(value)}",
                "Expected the name of a target in .runyard/targets/",
                field="default_target",
                display=project.relpath(path),
            )
        too_long = name_too_long(value)
        if too_long:
            raise ConfigError.at(
                path,
                span,
                too_long,
                "Expected the name of a target in .runyard/targets/ (its file name without .yml)",
                field="default_target",
                display=project.relpath(path),
            )
        if find(project, "target", value) is None:
            raise ConfigError.at(
                path,
                span,
                f"there is no target named '{value}'",
                f"Expected one of: {', '.join(names)}" if names else "Create the target first",
                field="default_target",
                display=project.relpath(path),
            )
        return value
    names = names_of(project, "target")
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
    text = decode(read_bytes(path, display), path, display) if path.is_file() else ""
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
    write_text(path, new)


def forget_default(project: Project, name: str) -> None:
    """Drop `name` (a target just removed) as the project's default, if it is. A broken
    settings file is left alone: it is reported when it is next read."""
    try:
        settings, _ = _read_settings(project)
        if settings.get("default_target") == name:
            _write_default(project, None)
    except ConfigError:
        pass


def set_default_target(project: Project, name: str) -> None:
    """Make `name` (an existing target) the project's default, in `.runyard/config.yml`."""
    check_name("target", name)
    if find(project, "target", name) is None:
        raise not_found(project, "target", name)
    _write_default(project, name)
