"""Notebooks as runs: reading a notebook, its parameters, and where they go.

`runyard submit analysis.ipynb -p lr=0.1` runs the notebook with a real Jupyter kernel
in the run's environment (`runyard_notebook_runner`, shipped beside this client into
every run). This module is what both sides need and the standard library can do:

- `read_notebook`: the file as nbformat 4 JSON, checked enough to run (a list of cells,
  each with a type and a source, at least one code cell). The submitter calls it before
  anything is recorded, so a bad file is an error naming the file and what is wrong
  with it (the line and column of broken JSON, the cell and field of a bad cell); the
  runner calls it again on the snapshot.
- `parse_parameters`: the `-p NAME=VALUE` (typed) and `-r NAME=VALUE` (kept as text)
  arguments of a notebook run. Values are typed as papermill's command line types
  them: `True`/`true` and `False`/`false` are booleans, `None` is None, then an int, a
  float, else the text as it is.
- `inject`: papermill's convention. The values go into a new code cell, tagged
  `injected-parameters`, right after the first code cell tagged `parameters` (whose
  assignments are the defaults they override), or first in the notebook when no cell
  has that tag. A cell injected by an earlier run (an executed notebook submitted
  again) is replaced. `injection_warnings` says when a name is not set by the
  parameters cell, or there is none: the value is injected all the same.

Python 3.8 and the standard library alone, like the rest of this folder.
"""

from __future__ import annotations

import ast
import json
import keyword
import math
import os
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any

    Parameters = list[tuple[str, Any]]

SUFFIX = ".ipynb"
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
INJECTED_HEADER = "# Parameters (injected by runyard submit)"


class NotebookError(ValueError):
    """A notebook that cannot run, or parameters that cannot be given to it; the
    message names the file (and the cell, field or argument) and the fix."""


def is_notebook(path: str) -> bool:
    """Whether `path` names a notebook (by its suffix, as Jupyter does)."""
    return path.lower().endswith(SUFFIX)


def read_notebook(path: str, shown: str | None = None) -> dict[str, Any]:
    """The notebook at `path` as a dict, checked to be nbformat 4 with at least one
    code cell; NotebookError (naming `shown`, else `path`) otherwise."""
    name = shown or path
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise NotebookError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError(
            f"{name}: is not a notebook: byte {exc.start} is not UTF-8 "
            "(a notebook is JSON text in UTF-8)"
        ) from None
    try:
        nb = json.loads(text)
    except ValueError as exc:
        where = ""
        if isinstance(exc, json.JSONDecodeError):
            where = f"line {exc.lineno}, column {exc.colno}: "
            exc_text = exc.msg
        else:  # pragma: no cover - json raises JSONDecodeError
            exc_text = str(exc)
        raise NotebookError(
            f"{name}: is not a notebook: not valid JSON ({where}{exc_text}); "
            "open it in Jupyter or fix the file"
        ) from None
    check_notebook(nb, name)
    return nb  # type: ignore[no-any-return]


def check_notebook(nb: Any, name: str) -> None:
    """NotebookError unless `nb` (parsed JSON) is an nbformat 4 notebook with a code cell."""
    if not isinstance(nb, dict):
        raise NotebookError(
            f"{name}: is not a notebook: the JSON is a {type(nb).__name__}, "
            "not an object with `cells`"
        )
    major = nb.get("nbformat")
    if major != 4:
        if isinstance(major, int) and not isinstance(major, bool) and major < 4:
            raise NotebookError(
                f"{name}: is nbformat {major}, which runs cannot execute; open and save it in "
                "Jupyter to upgrade it to nbformat 4"
            )
        raise NotebookError(
            f"{name}: field `nbformat` is {json.dumps(major)}, not 4 "
            "(only nbformat 4 notebooks run)"
        )
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise NotebookError(f"{name}: field `cells` is missing or not a list")
    code = 0
    for i, cell in enumerate(cells):
        where = f"{name}: cell {i + 1} (of {len(cells)})"
        if not isinstance(cell, dict):
            raise NotebookError(f"{where} is not an object")
        kind = cell.get("cell_type")
        if not isinstance(kind, str):
            raise NotebookError(f"{where}: field `cell_type` is missing or not text")
        source = cell.get("source")
        if not (
            isinstance(source, str)
            or (isinstance(source, list) and all(isinstance(s, str) for s in source))
        ):
            raise NotebookError(f"{where}: field `source` must be text or a list of lines of text")
        metadata = cell.get("metadata", {})
        tags = metadata.get("tags", []) if isinstance(metadata, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise NotebookError(f"{where}: field `metadata.tags` must be a list of text")
        if kind == "code":
            code += 1
    if code == 0:
        raise NotebookError(
            f"{name}: has no code cells, so there is nothing to run; add a code cell"
        )


def source_of(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def tags_of(cell: dict[str, Any]) -> list[str]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return list(tags) if isinstance(tags, list) else []


def code_cells(nb: dict[str, Any]) -> list[int]:
    """The indexes of the notebook's code cells."""
    return [i for i, c in enumerate(nb["cells"]) if c.get("cell_type") == "code"]


def parameters_cell(nb: dict[str, Any]) -> int | None:
    """The index of the first code cell tagged `parameters`, None when there is none."""
    for i in code_cells(nb):
        if PARAMETERS_TAG in tags_of(nb["cells"][i]):
            return i
    return None


def first_line(source: str, width: int = 60) -> str:
    """The first line of a cell's source that says something, shortened for a log."""
    for line in source.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= width else line[: width - 3] + "..."
    return "(empty)"


# ------------------------------------------------------------------ parameters

_FLAGS = {"-p": True, "--parameter": True, "-r": False, "--raw-parameter": False}


def typed(value: str) -> Any:
    """A `-p` value as papermill's command line types it (see the module docstring)."""
    if value in ("True", "true"):
        return True
    if value in ("False", "false"):
        return False
    if value == "None":
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def parse_parameters(args: list[str], shown: str = "the notebook") -> Parameters:
    """`-p NAME=VALUE` / `-r NAME=VALUE` arguments as (name, value) pairs, in order (a
    name given twice keeps its last value); NotebookError naming the bad argument."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        flag, _, inline = arg.partition("=") if arg.startswith("--") else (arg[:2], "", arg[2:])
        if flag not in _FLAGS:
            raise NotebookError(
                f"{shown}: {arg!r} is not a parameter; a notebook takes `-p NAME=VALUE` (the value "
                "typed) or `-r NAME=VALUE` (kept as text), e.g. `-p lr=0.1`"
            )
        if inline:
            item = inline
            i += 1
        elif i + 1 < len(args):
            item = args[i + 1]
            i += 2
        else:
            raise NotebookError(f"{shown}: {arg} needs NAME=VALUE after it")
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq:
            raise NotebookError(f"{shown}: {flag} {item!r}: give NAME=VALUE, e.g. `-p lr=0.1`")
        if not name.isidentifier() or keyword.iskeyword(name):
            raise NotebookError(f"{shown}: {flag} {item!r}: {name!r} is not a Python variable name")
        out.pop(name, None)
        out[name] = typed(value) if _FLAGS[flag] else value
    return list(out.items())


def python_literal(value: Any) -> str:
    """`value` as Python source that gives it back."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({repr(value)!r})"
    return repr(value)


def render(params: Parameters) -> str:
    """The source of the injected cell."""
    return "\n".join([INJECTED_HEADER] + [f"{k} = {python_literal(v)}" for k, v in params])


def assigned_names(source: str) -> list[str] | None:
    """The names a cell assigns at its top level (None when it is not plain Python,
    e.g. it uses magics that cannot be read without IPython)."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return None
    names: list[str] = []
    for node in tree.body:
        targets: list[Any] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        while targets:
            target = targets.pop()
            if isinstance(target, ast.Name):
                names.append(target.id)
            elif isinstance(target, (ast.Tuple, ast.List)):
                targets.extend(target.elts)
    return names


def injection_warnings(nb: dict[str, Any], params: Parameters, shown: str) -> list[str]:
    """What to tell the user about where `params` go (nothing when every name is one
    the parameters cell sets)."""
    if not params:
        return []
    at = parameters_cell(nb)
    names = ", ".join(k for k, _ in params)
    if at is None:
        verb = "is" if len(params) == 1 else "are"
        return [
            f"{shown} has no code cell tagged `parameters`: {names} {verb} injected in a "
            "new first cell (tag the cell holding the defaults `parameters` to inject after it)"
        ]
    assigned = assigned_names(source_of(nb["cells"][at]))
    if assigned is None:
        return []
    unknown = [k for k, _ in params if k not in assigned]
    if not unknown:
        return []
    verb = "is" if len(unknown) == 1 else "are"
    number = code_cells(nb).index(at) + 1
    return [
        f"{shown}: {', '.join(unknown)} {verb} not set in the `parameters` cell "
        f"(code cell {number}); injected all the same"
    ]


def inject(nb: dict[str, Any], params: Parameters) -> tuple[dict[str, Any], int | None]:
    """A copy of `nb` with `params` in a new cell (see the module docstring), and that
    cell's index (None when there are no parameters: the notebook as it is, less any
    cell an earlier run injected)."""
    cells = [c for c in nb["cells"] if INJECTED_TAG not in tags_of(c)]
    out = dict(nb)
    out["cells"] = cells
    if not params:
        return out, None
    at = parameters_cell(out)
    index = 0 if at is None else at + 1
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": [INJECTED_TAG]},
        "outputs": [],
        "source": render(params),
    }
    if nb.get("nbformat_minor", 0) >= 5:  # cell ids: unique, [a-zA-Z0-9-_]{1,64}
        taken = {c.get("id") for c in cells}
        cell_id = INJECTED_TAG
        while cell_id in taken:
            cell_id = f"{INJECTED_TAG}-{os.urandom(3).hex()}"
        cell["id"] = cell_id
    cells.insert(index, cell)
    return out, index


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def plain(text: str) -> str:
    """`text` without terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)
