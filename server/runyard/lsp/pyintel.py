"""Fast, forgiving facts about a Python source file, for the language server.

The language server calls :func:`runnable` and :func:`metric_calls` on every
edit, so they must be cheap and must never raise.

Speed: ``ast.parse`` of a 1,000-line file alone takes several milliseconds
(and as long again when it fails), so the file is cut into top-level
statements ("chunks" start at lines with code at column 0, except comments,
closing brackets, strings, ``else``/``elif``/``except``/``finally``, the line
after a decorator, and lines inside triple-quoted strings) and each is parsed on
its own, with the facts cached by the chunk's text. An edit then re-parses
only the chunk it touched. A chunk that fails as if cut short (an unclosed
bracket or triple-quoted string, a trailing backslash) is retried merged with
the chunks after it, so an unusual layout only costs speed, not correctness.

Broken code: chunks that still do not parse (the usual state of the one
being typed in) are skipped, so the other chunks keep their results.

Positions are 0-based lines and 0-based characters counted in Python ``str``
characters (code points); ``ast`` reports columns in UTF-8 bytes, converted
here. Line breaks are ``\\n``, ``\\r\\n`` and ``\\r``, as both Python and LSP
count them. LSP's default position encoding is UTF-16, which differs from
code points only after characters outside the BMP (e.g. emoji); converting
that is the caller's job.

Standard library only; no LSP types.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["MetricCall", "RunnableInfo", "metric_calls", "runnable"]


@dataclass(frozen=True)
class RunnableInfo:
    """Where to put the "Submit to ..." code lens of a runnable file."""

    line: int
    reason: str  # "main-guard" | "top-level-code"


@dataclass(frozen=True)
class MetricCall:
    """A literal metric name in a Runyard ``log_metric(s)`` call.

    ``line`` / ``character`` is the position just after the name's string
    literal (after its closing quote), where an inlay hint goes.
    """

    name: str
    line: int
    character: int


def runnable(text: str) -> RunnableInfo | None:
    """Where the file looks runnable as a script, or ``None`` if it does not.

    The ``if __name__ == "__main__":`` line if there is one at top level
    (reason ``"main-guard"``); else the first line of the first top-level
    statement that does more than import, define, document or bind constants
    (reason ``"top-level-code"``); else ``None``.
    """
    try:
        with _lock:
            document = _document(text)
        for offset, chunk in document.chunks:
            if chunk.main_guard is not None:
                return RunnableInfo(offset + chunk.main_guard, "main-guard")
        for offset, chunk in document.chunks:
            if chunk.first_code is not None:
                return RunnableInfo(offset + chunk.first_code, "top-level-code")
        return None
    except Exception:  # pragma: no cover - belt and braces: never raise
        return None


def metric_calls(text: str) -> list[MetricCall]:
    """The literal metric names logged through Runyard's tracking API, in order.

    Recognises ``log_metric("k", ...)`` / ``log_metric(key="k", ...)`` and
    ``log_metrics({"k": ..., ...})`` / ``log_metrics(metrics={...})`` reached
    through ``import runyard`` (also ``runyard.tracking``, and aliases made
    with ``as``) or ``from runyard[.tracking] import log_metric[ as name]``
    (or ``*``). Names that are not plain string literals (f-strings,
    variables, ``**spread``) are skipped. Imports count wherever they are in
    the file (scopes are not tracked).
    """
    # Cheap exit: without an import of runyard there is nothing to find.
    if "runyard" not in text:
        return []
    try:
        with _lock:
            return _metric_calls(_document(text))
    except Exception:  # pragma: no cover - belt and braces: never raise
        return []


# --------------------------------------------------------------------------- chunks


class _Chunk:
    """Facts about one chunk (lines relative to its first line); no AST kept."""

    __slots__ = (
        "_found",
        "_placed",
        "first_code",
        "imports",
        "incomplete",
        "main_guard",
        "ok",
        "text",
    )

    def __init__(self, text: str, tree: ast.Module | None, incomplete: bool) -> None:
        self.text = text
        self.ok = tree is not None
        self.incomplete = incomplete  # fails as if cut short: more text may fix it
        self.main_guard: int | None = None
        self.first_code: int | None = None
        # Memos of metric_calls: per aliases, and per (aliases, first line, BOM).
        self._found: tuple[_Aliases, list[tuple[int, int, str]]] | None = None
        self._placed: tuple[_Aliases, int, bool, list[MetricCall]] | None = None
        self.imports = _collect_imports(tree, text)
        if tree is None:
            return
        for stmt in tree.body:
            if isinstance(stmt, ast.If) and _is_main_test(stmt.test):
                self.main_guard = stmt.lineno - 1
                break
        for stmt in tree.body:
            if not _is_declarative(stmt):
                self.first_code = stmt.lineno - 1
                break

    def metric_calls(self, document: _Document, offset: int, aliases: _Aliases) -> list[MetricCall]:
        """This chunk's metric calls given the file's aliases, placed at ``offset``."""
        placed = self._placed
        if placed is not None and placed[:3] == (aliases, offset, document.bom):
            return placed[3]
        found = self._found
        if found is None or found[0] != aliases:
            names = _find_metric_names(self.text, document.trees.get(self.text), aliases)
            found = self._found = (aliases, names)
        shift = 1 if document.bom and offset == 0 else 0
        calls = [
            MetricCall(name, offset + line, column + (shift if line == 0 else 0))
            for line, column, name in found[1]
        ]
        self._placed = (aliases, offset, document.bom, calls)
        return calls


def _parse(text: str) -> tuple[ast.Module | None, bool]:
    """``ast.parse`` that never raises or warns; and whether a failure looks cut short."""
    try:
        with warnings.catch_warnings():
            # Invalid escape sequences etc. warn at compile time; stay quiet.
            warnings.simplefilter("ignore")
            return ast.parse(text), False
    except SyntaxError as exc:
        message = str(exc.msg)
        return None, any(hint in message for hint in _INCOMPLETE_HINTS)
    except (ValueError, RecursionError, MemoryError, OverflowError):
        return None, False


# SyntaxError messages of a statement that more lines might complete.
_INCOMPLETE_HINTS = ("never closed", "unterminated triple-quoted", "unexpected EOF")
# Lines that may start a top-level statement: code at column 0 (not a closing
# bracket or a string: those mostly continue a statement).
_CODE_LINE = re.compile(r"^[^\s#)\]}'\"]", re.MULTILINE)
_CONTINUATION = re.compile(r"(?:else|elif|except|finally)\b")
# Triple quotes and comments, found fast; then a line's tokens, for a closer look.
_TRIPLE_OR_COMMENT = re.compile(r"\"\"\"|'''|#")
_TRIPLE = re.compile(r"\"\"\"|'''")
_LINE_TOKEN = re.compile(r"""(?P<triple>"{3}|'{3})|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|#""")
_LINE_BREAK = re.compile(r"\r\n?")
_BOM = "\ufeff"

_MAX_MERGED_LINES = 200
_MAX_CACHED_CHARS = 4_000_000  # chunk texts kept (a few MB); least recently used go first

# Module state, guarded by _lock: the server may call from several threads.
_lock = threading.Lock()
_chunk_cache: OrderedDict[str, _Chunk] = OrderedDict()
_cached_chars = 0


class _Document:
    """A source split into parsed chunks, with each chunk's first line.

    ``trees`` holds the ASTs parsed for this document (until the next one
    replaces it), so ``metric_calls`` right after ``runnable`` does not parse
    again; chunks cached for later documents keep only small facts, which
    keeps the garbage collector's work small.
    """

    __slots__ = ("bom", "chunks", "text", "trees")

    def __init__(self, text: str) -> None:
        self.text = text
        self.trees: dict[str, ast.Module] = {}
        source = text
        self.bom = source.startswith(_BOM)  # ``ast`` rejects it; it shifts line 0
        if self.bom:
            source = source[1:]
        if "\r" in source:  # same lines, same columns; only "\n" from here on
            source = _LINE_BREAK.sub("\n", source)
        self.chunks: list[tuple[int, _Chunk]] = self._split(source)

    def _chunk(self, text: str) -> _Chunk:
        global _cached_chars
        chunk = _chunk_cache.get(text)
        if chunk is not None:
            _chunk_cache.move_to_end(text)
            return chunk
        tree, incomplete = _parse(text)
        if tree is not None:
            self.trees[text] = tree
        chunk = _chunk_cache[text] = _Chunk(text, tree, incomplete)
        _cached_chars += len(text)
        while _cached_chars > _MAX_CACHED_CHARS and len(_chunk_cache) > 1:
            _cached_chars -= len(_chunk_cache.popitem(last=False)[0])
        return chunk

    def _split(self, source: str) -> list[tuple[int, _Chunk]]:
        """Parsed chunks of ``source`` with their first lines; unparsable ones left out."""
        starts = _chunk_starts(source)
        ends = [*starts[1:], len(source)]
        lines = [0]
        for start, end in zip(starts, ends, strict=False):
            lines.append(lines[-1] + source.count("\n", start, end))
        chunks: list[tuple[int, _Chunk]] = []
        count = len(starts)
        i = 0
        while i < count:
            chunk = self._chunk(source[starts[i] : ends[i]])
            last = i
            if not chunk.ok and chunk.incomplete:
                # Cut short (a bracket or string spanning column-0 lines?): merge
                # with 1, 3, 7, ... following chunks until it parses.
                step = 1
                while not chunk.ok and chunk.incomplete and last < count - 1:
                    last = min(i + step, count - 1)
                    if lines[last + 1] - lines[i] > _MAX_MERGED_LINES:
                        break
                    chunk = self._chunk(source[starts[i] : ends[last]])
                    step = step * 2 + 1
                if not chunk.ok:
                    last = i
            if chunk.ok:
                chunks.append((lines[i], chunk))
            i = last + 1
        return chunks


_last_document: _Document | None = None


def _document(text: str) -> _Document:
    """The analysis of ``text``; both public calls on one text share it (hold _lock)."""
    global _last_document
    document = _last_document
    if document is None or document.text != text:
        _last_document = None  # let its trees go before parsing anew
        document = _last_document = _Document(text)
    return document


def _chunk_starts(source: str) -> list[int]:
    """Offsets of the lines that start top-level statements (and 0)."""
    strings = _triple_quoted_spans(source)
    starts = [0]
    span = 0
    after_decorator = False
    for match in _CODE_LINE.finditer(source):
        position = match.start()
        while span < len(strings) and strings[span][1] <= position:
            span += 1
        if span < len(strings) and strings[span][0] < position:
            continue  # inside a triple-quoted string
        if position == 0:
            after_decorator = source.startswith("@")
            continue
        decorated, after_decorator = after_decorator, source.startswith("@", position)
        if decorated or _CONTINUATION.match(source, position):
            continue
        starts.append(position)
    return starts


def _triple_quoted_spans(source: str) -> list[tuple[int, int]]:
    """(start, end) of the triple-quoted strings in ``source``.

    A fast search finds triple quotes and comments; a line holding a triple
    quote is then scanned properly (one-line strings and comments skipped),
    so three quotes inside a one-line string or a comment do not count.
    Lines continued with a backslash and nested f-string quotes can still
    fool it (the merging in ``_split`` covers for that).
    """
    spans: list[tuple[int, int]] = []
    position = 0
    size = len(source)
    while True:
        found = _TRIPLE_OR_COMMENT.search(source, position)
        if found is None:
            return spans
        line_end = source.find("\n", found.end())
        if line_end < 0:
            line_end = size
        if found.group() == "#" and not _TRIPLE.search(source, found.end(), line_end):
            position = line_end  # a comment, and no triple quote after it
            continue
        # Scan the line (from where code resumes) for what the quote really is.
        start = max(position, source.rfind("\n", 0, found.start()) + 1)
        position = line_end
        for token in _LINE_TOKEN.finditer(source, start, line_end):
            quote = token.group("triple")
            if quote is None:
                if token.group() == "#":
                    break
                continue
            end = _string_end(source, quote, token.end())
            spans.append((token.start(), end))
            position = end
            break


def _string_end(source: str, quote: str, position: int) -> int:
    """Where the triple-quoted string whose body starts at ``position`` ends."""
    while True:
        end = source.find(quote, position)
        if end < 0:
            return len(source)
        backslashes = 0
        while source[end - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return end + 3
        position = end + 1


# --------------------------------------------------------------------------- runnable


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and len(test.comparators) == 1
    ):
        return False
    left, right = test.left, test.comparators[0]
    return (_is_name(left, "__name__") and _is_str(right, "__main__")) or (
        _is_str(left, "__main__") and _is_name(right, "__name__")
    )


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_str(node: ast.expr, value: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == value


def _is_declarative(stmt: ast.stmt) -> bool:
    """True if a top-level statement only imports, defines or binds constants.

    Beyond the plain cases (imports, ``def``, ``class``, docstrings and other
    bare constants, ``pass``, assignments of constant expressions), an ``if``
    or ``try`` whose branches are all declarative counts too, so that
    ``if TYPE_CHECKING: import ...`` and ``try: import x / except ImportError:
    x = None`` keep a library module non-runnable.
    """
    stack: list[ast.stmt] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(
            node,
            ast.Import
            | ast.ImportFrom
            | ast.FunctionDef
            | ast.AsyncFunctionDef
            | ast.ClassDef
            | ast.Pass,
        ):
            continue
        if isinstance(node, ast.Expr):
            if not isinstance(node.value, ast.Constant):
                return False
        elif isinstance(node, ast.Assign | ast.AugAssign):
            if not _is_constant_expr(node.value):
                return False
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None and not _is_constant_expr(node.value):
                return False
        elif isinstance(node, ast.If):
            stack.extend(node.body)
            stack.extend(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            stack.extend(node.body)
            for handler in node.handlers:
                stack.extend(handler.body)
            stack.extend(node.orelse)
            stack.extend(node.finalbody)
        else:
            return False
    return True


_CONSTANT_NODES = (
    ast.Constant,
    ast.Name,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.UnaryOp,
    ast.BinOp,
    ast.BoolOp,
    ast.Compare,
    ast.Starred,
    ast.Load,
    ast.unaryop,
    ast.operator,
    ast.boolop,
    ast.cmpop,
)


def _is_constant_expr(expr: ast.expr) -> bool:
    """A literal-ish expression: constants, names, containers and operators.

    No calls, comprehensions, f-strings, lambdas or the like; so ``X = 3``,
    ``__all__ = ["a"]``, ``Alias = Other`` and ``Vec = list[float]`` count as
    constants, while ``data = load()`` does not. Iterative, so deep nesting
    cannot hit the recursion limit.
    """
    stack: list[ast.AST] = [expr]
    while stack:
        node = stack.pop()
        if not isinstance(node, _CONSTANT_NODES):
            return False
        stack.extend(ast.iter_child_nodes(node))
    return True


# --------------------------------------------------------------------------- metric calls

# Modules whose ``log_metric`` / ``log_metrics`` are Runyard's tracking calls.
_RUNYARD_MODULES = frozenset({"runyard", "runyard.tracking", "runyard.tracking.client"})
_LOG_METRIC = "log_metric"
_LOG_METRICS = "log_metrics"
_LOG_FUNCS = frozenset({_LOG_METRIC, _LOG_METRICS})


@dataclass(frozen=True)
class _Imports:
    modules: tuple[tuple[str, str], ...] = ()  # (local name, runyard module)
    funcs: tuple[tuple[str, str], ...] = ()  # (local name, "log_metric(s)")


_NO_IMPORTS = _Imports()


def _collect_imports(tree: ast.Module | None, text: str) -> _Imports:
    """How a chunk imports Runyard's tracking calls (walks only if it names runyard)."""
    if tree is None or "runyard" not in text:
        return _NO_IMPORTS
    modules: list[tuple[str, str]] = []
    funcs: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name != "runyard" and not alias.name.startswith("runyard."):
                    continue
                if alias.asname is not None:
                    modules.append((alias.asname, alias.name))
                else:  # ``import runyard.tracking`` binds ``runyard``
                    modules.append(("runyard", "runyard"))
        elif isinstance(node, ast.ImportFrom):
            module = node.module
            if node.level != 0 or module is None:
                continue
            if module in _RUNYARD_MODULES:
                for alias in node.names:
                    if alias.name in _LOG_FUNCS:
                        funcs.append((alias.asname or alias.name, alias.name))
                    elif alias.name == "*":
                        funcs += [(_LOG_METRIC, _LOG_METRIC), (_LOG_METRICS, _LOG_METRICS)]
            if module == "runyard" or module.startswith("runyard."):
                for alias in node.names:
                    submodule = f"{module}.{alias.name}"
                    if submodule in _RUNYARD_MODULES:
                        modules.append((alias.asname or alias.name, submodule))
    return _Imports(tuple(modules), tuple(funcs))


@dataclass(frozen=True)
class _Aliases:
    """What Runyard's tracking module and functions are called in a file."""

    modules: tuple[tuple[str, str], ...]  # sorted (local name, runyard module)
    funcs: tuple[tuple[str, str], ...]  # sorted (local name, "log_metric(s)")

    def wanted(self) -> frozenset[str]:
        """Last parts of the called names that may be Runyard's."""
        names = {local for local, _ in self.funcs}
        return frozenset(names | _LOG_FUNCS) if self.modules else frozenset(names)


def _metric_calls(document: _Document) -> list[MetricCall]:
    modules: dict[str, str] = {}
    funcs: dict[str, str] = {}
    for _, chunk in document.chunks:
        modules.update(chunk.imports.modules)
        funcs.update(chunk.imports.funcs)
    if not modules and not funcs:
        return []
    aliases = _Aliases(tuple(sorted(modules.items())), tuple(sorted(funcs.items())))
    results: list[MetricCall] = []
    for offset, chunk in document.chunks:
        results += chunk.metric_calls(document, offset, aliases)
    return results  # chunks and each chunk's calls are in source order


def _find_metric_names(
    text: str, tree: ast.Module | None, aliases: _Aliases
) -> list[tuple[int, int, str]]:
    """(line, character, name) after each metric-name literal in a chunk, in order."""
    wanted = aliases.wanted()
    if not any(name in text for name in wanted):
        return []  # spares parsing and walking chunks that cannot hold a match
    if tree is None:
        tree, _ = _parse(text)
        if tree is None:  # pragma: no cover - the chunk parsed before
            return []
    modules, funcs = dict(aliases.modules), dict(aliases.funcs)
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        kind = _resolve(node.func, modules, funcs)
        if kind is None:
            continue
        for literal, value in _metric_literals(node, kind):
            line = (literal.end_lineno or literal.lineno) - 1
            end = literal.end_col_offset
            column = literal.col_offset if end is None else end
            found.append((line, _character(text, line, column), value))
    found.sort()
    return found


def _resolve(func: ast.expr, modules: dict[str, str], funcs: dict[str, str]) -> str | None:
    """``"log_metric"`` / ``"log_metrics"`` if ``func`` names Runyard's, else None."""
    if isinstance(func, ast.Name):
        return funcs.get(func.id)
    if not isinstance(func, ast.Attribute) or func.attr not in _LOG_FUNCS:
        return None
    parts: list[str] = []
    value = func.value
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    if not isinstance(value, ast.Name):
        return None
    module = modules.get(value.id)
    if module is None:
        return None
    parts.append(module)
    return func.attr if ".".join(reversed(parts)) in _RUNYARD_MODULES else None


def _metric_literals(call: ast.Call, kind: str) -> list[tuple[ast.expr, str]]:
    """The string-literal metric names of a ``log_metric(s)`` call."""
    found: list[tuple[ast.expr, str]] = []
    if kind == _LOG_METRIC:
        arg = _argument(call, "key")
        name = _literal_str(arg)
        if arg is not None and name is not None:
            found.append((arg, name))
    else:
        arg = _argument(call, "metrics")
        if isinstance(arg, ast.Dict):
            for key in arg.keys:  # None for ``**spread``
                name = _literal_str(key)
                if key is not None and name is not None:
                    found.append((key, name))
    return found


def _argument(call: ast.Call, keyword: str) -> ast.expr | None:
    """The first parameter of a call, passed positionally or by ``keyword``."""
    if call.args:
        first = call.args[0]
        return None if isinstance(first, ast.Starred) else first
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return None


def _literal_str(node: ast.expr | None) -> str | None:
    """The value of a plain string literal, else None (f-strings are not)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _character(text: str, line: int, byte_column: int) -> int:
    """``ast``'s UTF-8 byte column on ``line`` of ``text`` as a character index."""
    if text.isascii():
        return byte_column
    lines = text.split("\n")
    if not 0 <= line < len(lines):
        return byte_column
    prefix = lines[line].encode("utf-8")[:byte_column]
    return len(prefix.decode("utf-8", errors="ignore"))
