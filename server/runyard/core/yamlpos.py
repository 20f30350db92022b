"""Position-aware YAML loading: plain data plus where each key and value sits in the text.

Used to point errors in target and job files at the exact line and column, and later
by the language server to find the field under the cursor. PyYAML is imported only when
a document is parsed.

Conversion rules (the same for every caller, so cached validation results stay true):

- mapping keys are always strings: the key's text as written (`yes:` is the key "yes");
  a key that is not a plain scalar (a list, a mapping) is a problem;
- a duplicate key is a problem at the second key; the first value is kept;
- merge keys (`<<: *anchor`) are supported;
- dates and timestamps stay strings (the text as written);
- any other scalar is what PyYAML's safe loader makes of it (int, float, bool, None, str).

Aliases are capped. An alias (`*name`) is one node in the composed graph, but the data
made from it is a copy of everything it names, and so is everything that walks the
data afterwards (schema validation, the position table, JSON for the cache): a
300-byte "billion laughs" file of nine aliases of nine aliases ... stands for 43
million values. So the composer counts, in document order, how many values each alias
adds (the expanded size of the node it names, known because that node is complete) and
stops at the alias that takes the total past `ALIAS_NODE_LIMIT` (100,000) with a fatal
problem at that alias's line. Plain values are never counted: a long file costs what
its text costs. An alias inside the node it names (`&a [*a]`) is a loop, reported by
the converter; since such a node looks small while it is still being composed, the
converter also counts the values it makes and stops past the document's own nodes
plus the same limit, so a loop cannot smuggle a bomb past the composer's count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

PathKey = tuple[str | int, ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_KEEP_TEXT_TAGS = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}

#: How many values aliases (`*name`) may add to a document once expanded. Far beyond
#: any real target or job file; far below what makes loading slow (an alias bomb).
ALIAS_NODE_LIMIT = 100_000

_ALIAS_LIMIT_PROBLEM = (
    f"aliases (*name) make this file stand for more than {ALIAS_NODE_LIMIT:,} values "
    "once expanded (an alias bomb?)"
)
_ALIAS_LIMIT_EXPECTED = (
    "Use fewer aliases of anchors (&name) that themselves hold aliases, or write the "
    f"values out: aliases may add at most {ALIAS_NODE_LIMIT:,} values to a file"
)


@dataclass(frozen=True)
class Span:
    """A range of the text. Lines and columns are 1-based; the end is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class NodeSpans:
    """Where a value sits, and its key when it is a mapping value."""

    value: Span
    key: Span | None = None
    raw: str | None = None  # a scalar's text as written, e.g. "yes" for a value read as True


@dataclass(frozen=True)
class YamlProblem:
    """Something wrong with the YAML itself (not with what the fields mean)."""

    span: Span
    problem: str
    expected: str | None = None
    path: PathKey = ()
    fatal: bool = False  # the document could not be read at all


@dataclass
class ParsedYaml:
    data: Any = None  # None when the document is empty (or could not be read)
    empty: bool = True
    spans: dict[PathKey, NodeSpans] = field(default_factory=dict)
    problems: list[YamlProblem] = field(default_factory=list)

    @property
    def fatal(self) -> bool:
        return any(p.fatal for p in self.problems)


def line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of the character at `index` of `text`."""
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    start = text.rfind("\n", 0, index) + 1
    return line, index - start + 1


def point(line: int, column: int) -> Span:
    return Span(line, column, line, column + 1)


def format_path(path: PathKey) -> str:
    """`("args", 0)` -> "args[0]"; `("env", "HOME")` -> "env.HOME"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _span(node: yaml.Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _mark_span(mark: Any, text: str) -> Span:
    if mark is None:
        return point(1, 1)
    line, column = int(mark.line) + 1, int(mark.column) + 1
    return point(line, column)


def _syntax_problem(exc: Exception, text: str) -> YamlProblem:
    import yaml

    if isinstance(exc, yaml.reader.ReaderError):
        line, column = line_column(text, exc.position)
        char = exc.character
        code = ord(char) if isinstance(char, str) else char
        shown = f"U+{code:04X}" if isinstance(code, int) else repr(code)
        return YamlProblem(
            point(line, column),
            f"the file contains a character YAML does not allow ({shown})",
            "Remove it or replace it with plain text",
            fatal=True,
        )
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        span = _mark_span(mark, text)
        expected = "Fix the YAML syntax"
        if "'\\t'" in problem or "\t" in problem:
            problem = "a tab character is used for indentation or spacing"
            expected = "YAML allows only spaces for indentation; replace the tab with spaces"
        elif exc.context and exc.problem and exc.context_mark is not None:
            ctx_line = exc.context_mark.line + 1
            problem = f"YAML syntax error: {problem} ({exc.context} on line {ctx_line})"
        else:
            problem = f"YAML syntax error: {problem}"
        if "expected a single document" in problem:
            problem = "the file holds more than one YAML document (a line with ---)"
            expected = "Keep one document per file"
        return YamlProblem(span, problem, expected, fatal=True)
    return YamlProblem(point(1, 1), f"YAML error: {exc}", "Fix the YAML syntax", fatal=True)


class _AliasLimit(Exception):
    """Aliases expanded past `ALIAS_NODE_LIMIT`; `span` is where it went over."""

    def __init__(self, span: Span, problem: str = _ALIAS_LIMIT_PROBLEM) -> None:
        super().__init__(problem)
        self.span = span
        self.problem = problem


@dataclass
class _AliasCount:
    """What the composer counted: nodes as written, and values that aliases add."""

    composed: int = 0
    added: int = 0
    sizes: dict[int, int] = field(default_factory=dict)  # id(node) -> expanded size


@functools.cache
def _loader_class() -> Callable[[str, _AliasCount], yaml.SafeLoader]:
    """PyYAML's safe loader, with a composer that counts what aliases add (made on
    first use: PyYAML is imported only when a document is parsed)."""
    import yaml
    from yaml.events import AliasEvent

    class CountingLoader(yaml.SafeLoader):
        def __init__(self, stream: str, count: _AliasCount) -> None:
            super().__init__(stream)
            self.count = count

        def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
            count = self.count
            if self.check_event(AliasEvent):
                event: Any = self.peek_event()  # type: ignore[no-untyped-call]
                node = super().compose_node(parent, index)
                # a node still being composed (an alias inside it) counts 1: a loop
                count.added += count.sizes.get(id(node), 1)
                if count.added > ALIAS_NODE_LIMIT:
                    start, end = event.start_mark, event.end_mark
                    span = Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1)
                    raise _AliasLimit(span)
                return node
            node = super().compose_node(parent, index)
            count.composed += 1
            size = 1
            sizes = count.sizes
            if isinstance(node, yaml.SequenceNode):
                size += sum(sizes.get(id(item), 1) for item in node.value)
            elif isinstance(node, yaml.MappingNode):
                size += sum(sizes.get(id(k), 1) + sizes.get(id(v), 1) for k, v in node.value)
            sizes[id(node)] = size
            return node

    return CountingLoader


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, result: ParsedYaml, budget: int) -> None:
        self.loader = loader
        self.result = result
        self.active: set[int] = set()
        self.budget = budget  # how many more values may be made (see the module doc)

    def problem(self, span: Span, path: PathKey, problem: str, expected: str | None) -> None:
        self.result.problems.append(YamlProblem(span, problem, expected, path))

    def convert(self, node: yaml.Node, path: PathKey, key: Span | None) -> Any:
        import yaml

        self.budget -= 1
        if self.budget < 0:
            raise _AliasLimit(
                _span(node),
                f"{_ALIAS_LIMIT_PROBLEM}; an alias inside the anchor it names repeats it",
            )
        raw = node.value if isinstance(node, yaml.ScalarNode) else None
        self.result.spans.setdefault(path, NodeSpans(_span(node), key, raw))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.problem(_span(node), path, "an alias refers to itself", "Remove the loop")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                self.check_tag(node, _MAP_TAG, path)
                return self.mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                self.check_tag(node, _SEQ_TAG, path)
                return [self.convert(item, (*path, i), None) for i, item in enumerate(node.value)]
        finally:
            self.active.discard(id(node))
        return None  # pragma: no cover - PyYAML has no other node kinds

    def check_tag(self, node: yaml.Node, tag: str, path: PathKey) -> None:
        if node.tag != tag:
            self.problem(
                _span(node),
                path,
                f"the YAML tag {node.tag} is not supported",
                "Remove the tag",
            )

    def scalar(self, node: yaml.ScalarNode, path: PathKey) -> Any:
        import yaml

        if node.tag in _KEEP_TEXT_TAGS:
            return node.value
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            self.problem(
                _span(node), path, f"the YAML tag {node.tag} is not supported", "Remove the tag"
            )
            return node.value
        except (ValueError, OverflowError, IndexError, KeyError):
            # PyYAML's constructors on text their tag cannot read: `!!int` with no
            # value (IndexError), `!!bool maybe` (KeyError), `!!int 0b` (ValueError)
            self.problem(_span(node), path, f"cannot read the value {node.value!r}", None)
            return node.value

    def mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        import yaml

        out: dict[str, Any] = {}
        seen: dict[str, Span] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            key_span = _span(key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(
                    key_span,
                    path,
                    "a key is a list or a mapping",
                    "Keys are plain names, like `script:`",
                )
                continue
            key = str(key_node.value)
            if key in seen:
                first = seen[key]
                self.problem(
                    key_span,
                    (*path, key),
                    f"duplicate key (first set on line {first.line})",
                    "Set each field once; remove one of them",
                )
                continue
            seen[key] = key_span
            out[key] = self.convert(value_node, (*path, key), key_span)
        for merge in merges:
            self.merge(merge, out, path)
        return out

    def merge(self, node: yaml.Node, out: dict[str, Any], path: PathKey) -> None:
        import yaml

        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.problem(
                    _span(source),
                    path,
                    "a merge key (<<) refers to something that is not a mapping",
                    "Merge only mappings: `<<: *anchor`",
                )
                continue
            if id(source) in self.active:
                self.problem(_span(source), path, "an alias refers to itself", "Remove the loop")
                continue
            self.active.add(id(source))
            try:
                merged = self.mapping(source, path)
            finally:
                self.active.discard(id(source))
            for key, value in merged.items():
                out.setdefault(key, value)


def parse_yaml(text: str) -> ParsedYaml:
    """Parse one YAML document into plain data, spans for every value and key, and the
    problems found. Never raises for bad input: syntax errors become a fatal problem at
    the parser's line and column."""
    import yaml

    result = ParsedYaml()
    try:
        count = _AliasCount()
        loader = _loader_class()(text, count)
        try:
            root = loader.get_single_node()
            if root is None:
                return result
            result.empty = False
            count.sizes.clear()  # the graph is complete; the converter counts on its own
            budget = count.composed + ALIAS_NODE_LIMIT
            result.data = _Converter(loader, result, budget).convert(root, (), None)
        finally:
            loader.dispose()
    except _AliasLimit as exc:
        result.data = None
        result.empty = False
        result.spans.clear()
        result.problems[:] = [YamlProblem(exc.span, exc.problem, _ALIAS_LIMIT_EXPECTED, fatal=True)]
    except yaml.YAMLError as exc:
        result.data = None
        result.empty = False
        result.problems.append(_syntax_problem(exc, text))
    except RecursionError:
        result.data = None
        result.empty = False
        result.problems.append(
            YamlProblem(point(1, 1), "the document is nested too deeply", None, fatal=True)
        )
    return result
