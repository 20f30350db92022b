"""The code Runyard ships to where runs run (the tracking client `runyard/tracking`,
copied into every run and imported by the user's interpreter; the ssh target's remote
programs `targets/remote/`; `core/pip_sources.py` and `core/freeze.py`, run in the
run's environment) may meet a Python as old as 3.8, so it evaluates no Python 3.9/3.10
typing at run time, and imports the standard library alone: no `tuple[...]`/`list[...]` subscripts of builtins
and no `X | None` outside annotations (which `from __future__ import annotations` keeps
as strings) and `if TYPE_CHECKING:` blocks. Parsing with Python 3.8's grammar alone
does not catch these: they are valid syntax that fails only when run."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import runyard

SERVER = Path(runyard.__file__).parent
SHIPPED = [
    *sorted((SERVER / "tracking").rglob("*.py")),
    *sorted((SERVER / "targets" / "remote").glob("*.py")),
    SERVER / "core" / "pip_sources.py",
    SERVER / "core" / "freeze.py",
]
BUILTIN_GENERICS = {"tuple", "list", "dict", "set", "frozenset", "type"}
# Beyond the standard library: runyard (the tracking client, shipped beside it) and uv
# (probed for on an ssh host, optional).
ALLOWED = set(sys.stdlib_module_names) | {"__future__", "runyard", "uv"}
# Files without annotations to keep as strings (a hook, packages' __init__.py).
NO_ANNOTATIONS = {"site_hook.py", "__init__.py"}


class _RunTimeTyping(ast.NodeVisitor):
    """Collects run-time uses of 3.9+ typing, skipping annotations and TYPE_CHECKING."""

    def __init__(self) -> None:
        self.found: list[int] = []

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:  # its annotation is a string
        return

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for stmt in [*node.decorator_list, *node.body]:
            self.visit(stmt)
        self.visit(node.args)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_arguments(self, node: ast.arguments) -> None:
        for default in [*node.defaults, *(d for d in node.kw_defaults if d is not None)]:
            self.visit(default)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in BUILTIN_GENERICS:
            self.found.append(node.lineno)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        sides = (node.left, node.right)
        if isinstance(node.op, ast.BitOr) and any(
            isinstance(s, ast.Constant) and s.value is None for s in sides
        ):
            self.found.append(node.lineno)
        self.generic_visit(node)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(SERVER)))
def test_code_shipped_to_runs_is_python_3_8_with_the_standard_library_only(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"), feature_version=(3, 8))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= ALLOWED, imported - ALLOWED
    if path.name not in NO_ANNOTATIONS:
        assert "__future__" in imported  # its annotations stay strings on Python 3.8


def test_code_shipped_to_runs_evaluates_no_python_3_10_typing_when_it_runs() -> None:
    assert len(SHIPPED) >= 10 and all(p.is_file() for p in SHIPPED), SHIPPED
    found = {}
    for path in SHIPPED:
        visitor = _RunTimeTyping()
        visitor.visit(ast.parse(path.read_text("utf-8"), feature_version=(3, 8)))
        if visitor.found:
            found[str(path.relative_to(SERVER))] = visitor.found
    assert not found, f"run-time 3.9+ typing (file: lines): {found}"


def test_the_check_finds_what_python_3_8_cannot_run() -> None:
    visitor = _RunTimeTyping()
    visitor.visit(ast.parse("Point = tuple[str, int | None]\n"))
    assert visitor.found == [1, 1]
    visitor = _RunTimeTyping()
    visitor.visit(
        ast.parse(
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    P = tuple[int, int]\n"
            "def f(x: list[int] | None = None) -> dict[str, int]:\n    y: list[int] = []\n"
        )
    )
    assert visitor.found == []
