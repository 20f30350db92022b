"""Tests for runyard.lsp.pyintel: runnable-file detection and metric-call finding."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import textwrap
from pathlib import Path

import pytest

import runyard
from runyard.lsp import pyintel
from runyard.lsp.pyintel import MetricCall, RunnableInfo, metric_calls, runnable


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def after(text: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """(line, character) just after the ``occurrence``-th ``needle`` in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(needle, start + 1)
    end = start + len(needle)
    line = text.count("\n", 0, end)
    character = end - (text.rfind("\n", 0, end) + 1)
    return line, character


def names(text: str) -> list[str]:
    return [call.name for call in metric_calls(text)]


# --------------------------------------------------------------------------- runnable


def test_main_guard() -> None:
    text = src(
        """
        import sys

        def main() -> None:
            print(sys.argv)

        if __name__ == "__main__":
            main()
        """
    )
    assert runnable(text) == RunnableInfo(line=5, reason="main-guard")


def test_main_guard_single_quotes_and_reversed() -> None:
    assert runnable("if '__main__' == __name__:\n    pass\n") == RunnableInfo(0, "main-guard")


def test_main_guard_wins_over_earlier_top_level_code() -> None:
    text = src(
        """
        import runyard
        setup()
        if __name__ == "__main__":
            run()
        """
    )
    assert runnable(text) == RunnableInfo(2, "main-guard")


def test_nested_main_guard_is_not_a_main_guard() -> None:
    text = src(
        """
        def f():
            if __name__ == "__main__":
                pass
        """
    )
    assert runnable(text) is None


def test_top_level_code() -> None:
    text = src(
        '''
        """Train a model."""
        from __future__ import annotations

        import torch

        LR = 3e-4
        SIZES = (1, 2, -3)
        __all__ = ["train"]
        NAME: str = "x"

        def train() -> None: ...

        class Model: ...

        model = Model()
        train()
        '''
    )
    assert runnable(text) == RunnableInfo(line=14, reason="top-level-code")


def test_top_level_code_multiline_statement_reports_first_line() -> None:
    text = "import os\nprint(\n    os.getcwd(),\n)\n"
    assert runnable(text) == RunnableInfo(1, "top-level-code")


@pytest.mark.parametrize(
    "statement",
    [
        "for i in range(3):\n    pass",
        "with open('f') as fh:\n    pass",
        "x = compute()",
        "x = [i for i in range(3)]",
        "x = f'{y}'",
        "assert x",
        "del x",
    ],
)
def test_top_level_code_kinds(statement: str) -> None:
    assert runnable("import os\n" + statement + "\n") == RunnableInfo(1, "top-level-code")


def test_library_module_is_not_runnable() -> None:
    text = src(
        '''
        """A library."""
        from __future__ import annotations

        import os
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from collections.abc import Iterator

        try:
            import tomllib
        except ImportError:
            tomllib = None

        VERSION = "1.0"
        MASK = 1 << 4
        Alias = os.PathLike
        Vec = list[float]
        count: int

        @decorator
        def helper(x: int) -> int:
            return x

        class Thing:
            def method(self) -> None:
                print("not top level")

        async def fetch() -> None: ...
        '''
    )
    assert runnable(text) is None


def test_empty_and_docstring_only_are_not_runnable() -> None:
    assert runnable("") is None
    assert runnable('"""Only a docstring."""\n') is None


@pytest.mark.parametrize(
    "text",
    [
        "def f(:\n",
        "if __name__ == '__main__'\n    main()\n",
        "x = (\n",
        "print('unterminated\n",
        "\tif x:\n  y\n",
        "a\x00b",
        "x = " + "(" * 500 + ")" * 500,
        "x = " + "+".join(["1"] * 20000),
        "\ufeff",
    ],
)
def test_broken_code_does_not_raise(text: str) -> None:
    runnable(text)
    metric_calls("import runyard\nrunyard.log_metric('a', 1)\n" + text)


def test_syntax_error_in_whole_file_gives_empty_results() -> None:
    assert runnable("def broken(:\n") is None
    assert metric_calls("import runyard\nrunyard.log_metric('loss', 1 +)\n") == []


def test_broken_statement_does_not_hide_the_rest() -> None:
    # While typing, the statement being edited is broken; the others keep their results.
    text = src(
        """
        import runyard
        runyard.log_metric("before", 1)

        def broken(:
            runyard.log_metric("inside", 1)

        x = foo(
        runyard.log_metric("after", 1)
        if __name__ == "__main__":
            main()
        """
    )
    assert names(text) == ["before", "after"]
    assert runnable(text) == RunnableInfo(8, "main-guard")


def test_invalid_escape_does_not_warn() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runnable('x = "\\d"\nrun()\n') == RunnableInfo(1, "top-level-code")


def test_bom_is_tolerated() -> None:
    text = '\ufeffimport runyard\nrunyard.log_metric("a", 1)\n'
    assert runnable(text) == RunnableInfo(1, "top-level-code")
    assert metric_calls(text) == [MetricCall("a", *after(text, '"a"'))]
    one_line = '\ufeffimport runyard; runyard.log_metric("a", 1)'
    assert metric_calls(one_line) == [MetricCall("a", *after(one_line, '"a"'))]


# --------------------------------------------------------------------------- metric calls


def test_log_metric_positional() -> None:
    text = src(
        """
        import runyard

        for step in range(10):
            runyard.log_metric("loss", 0.1, step=step)
        """
    )
    assert metric_calls(text) == [MetricCall("loss", *after(text, '"loss"'))]
    assert metric_calls(text)[0].line == 3


def test_log_metric_keyword() -> None:
    text = "import runyard\nrunyard.log_metric(value=1.0, key='loss', step=3)\n"
    assert metric_calls(text) == [MetricCall("loss", *after(text, "'loss'"))]


def test_log_metrics_dict_literal_keys() -> None:
    text = src(
        """
        import runyard
        runyard.log_metrics({"acc": a, "val/acc": b, name: c, f"x/{i}": d, 3: e, **more})
        runyard.log_metrics(metrics={
            "loss": l,
        }, step=2)
        """
    )
    assert metric_calls(text) == [
        MetricCall("acc", *after(text, '"acc"')),
        MetricCall("val/acc", *after(text, '"val/acc"')),
        MetricCall("loss", *after(text, '"loss"')),
    ]


def test_log_metrics_non_dict_argument_is_skipped() -> None:
    assert metric_calls("import runyard\nrunyard.log_metrics(d)\n") == []


def test_non_literal_names_are_skipped() -> None:
    text = src(
        """
        import runyard
        runyard.log_metric(f"loss/{i}", 1)
        runyard.log_metric(name, 1)
        runyard.log_metric(b"bytes", 1)
        runyard.log_metric(*args)
        runyard.log_metric()
        runyard.log_metric("kept", 1)
        """
    )
    assert names(text) == ["kept"]


def test_implicit_concatenation_and_parentheses() -> None:
    text = 'import runyard\nrunyard.log_metric(("train/" "loss"), 1)\n'
    assert metric_calls(text) == [MetricCall("train/loss", *after(text, '"loss"'))]


def test_multiline_string_literal_end_position() -> None:
    text = 'import runyard\nrunyard.log_metric("""a\nb""", 1)\n'
    assert metric_calls(text) == [MetricCall("a\nb", 2, 4)]


def test_import_as_alias() -> None:
    text = "import runyard as ry\nry.log_metric('loss', 1)\nry.log_metrics({'acc': 1})\n"
    assert names(text) == ["loss", "acc"]


def test_from_import() -> None:
    text = src(
        """
        from runyard import log_metric, log_metrics
        log_metric("loss", 1)
        log_metrics({"acc": 2})
        """
    )
    assert names(text) == ["loss", "acc"]


def test_from_import_as() -> None:
    text = "from runyard import log_metric as lm\nlm('loss', 1)\nlog_metric('other', 1)\n"
    assert names(text) == ["loss"]


def test_from_tracking_import() -> None:
    text = "from runyard.tracking import log_metric\nlog_metric('loss', 1)\n"
    assert names(text) == ["loss"]


def test_star_import() -> None:
    text = "from runyard import *\nlog_metric('loss', 1)\n"
    assert names(text) == ["loss"]


def test_submodule_access() -> None:
    text = src(
        """
        import runyard.tracking
        import runyard.tracking as rt
        from runyard import tracking
        runyard.tracking.log_metric("a", 1)
        rt.log_metric("b", 1)
        tracking.log_metrics({"c": 1})
        runyard.log_metric("d", 1)
        runyard.other.log_metric("no", 1)
        """
    )
    assert names(text) == ["a", "b", "c", "d"]


def test_import_inside_function() -> None:
    text = src(
        """
        def train():
            import runyard
            runyard.log_metric("loss", 1)
        """
    )
    assert names(text) == ["loss"]


def test_non_runyard_calls_are_ignored() -> None:
    text = src(
        """
        import mlflow
        import runyard
        from mlflow import log_metrics
        from other.runyard import log_metric as lm

        def log_metric(name, value):
            pass

        mlflow.log_metric("mlflow_loss", 1)
        log_metric("local_loss", 1)
        log_metrics({"mlflow_acc": 1})
        lm("other", 1)
        obj.runyard.log_metric("attr", 1)
        runyard.log_param("param", 1)
        runyard.log_metric("kept", 1)
        """
    )
    assert names(text) == ["kept"]


def test_local_log_metric_without_runyard_import() -> None:
    text = "def log_metric(k, v): ...\nlog_metric('loss', 1)  # runyard\n"
    assert metric_calls(text) == []


def test_no_runyard_import_is_empty() -> None:
    assert metric_calls("log_metric('loss', 1)\n") == []
    assert metric_calls("") == []


def test_non_ascii_positions() -> None:
    text = src(
        """
        import runyard
        x = "héllo"; runyard.log_metric("ñame/损失", 1)  # ünïcode
        runyard.log_metrics({"α": 1, "β😀": 2})
        """
    )
    calls = metric_calls(text)
    assert calls == [
        MetricCall("ñame/损失", *after(text, '"ñame/损失"')),
        MetricCall("α", *after(text, '"α"')),
        MetricCall("β😀", *after(text, '"β😀"')),
    ]
    # Character counts, not UTF-8 bytes.
    assert calls[0].character == len('x = "héllo"; runyard.log_metric("ñame/损失"')
    assert calls[2].character == len('runyard.log_metrics({"α": 1, "β😀"')


def test_non_ascii_with_crlf_and_cr_line_breaks() -> None:
    text = 'import runyard\r\n# é\rrunyard.log_metric("é", 1)\r\n'
    assert metric_calls(text) == [MetricCall("é", 2, len('runyard.log_metric("é"'))]


def test_form_feed_is_not_a_line_break() -> None:
    text = 'import runyard\n\x0crunyard.log_metric("é", 1)\n'
    assert metric_calls(text) == [MetricCall("é", 1, len('\x0crunyard.log_metric("é"'))]


# --------------------------------------------------------------------------- chunking


def test_column_zero_text_in_triple_quoted_strings() -> None:
    q3, a3 = '"' * 3, "'" * 3
    text = "\n".join(
        [
            f"{q3}Module docstring.",
            "",
            "import runyard",
            'runyard.log_metric("in docstring", 1)',
            'print("not code")',
            q3,
            "import runyard",
            "",
            "def f():",
            f"    {q3}Doc.",
            "",
            'runyard.log_metric("in function docstring", 1)',
            f"    {q3}",
            f"    s = {a3}",
            'runyard.log_metric("in string", 1)',
            f"{a3}  # a {q3} in a comment",
            '    runyard.log_metric("real", 1)',
            "",
        ]
    )
    assert names(text) == ["real"]
    assert runnable(text) is None


def test_black_style_layout() -> None:
    text = src(
        """
        import runyard


        @decorator(
            option=True,
        )
        # a comment between decorator and def
        @other
        def train(
            steps: int,
        ) -> None:
            for step in range(steps):
                runyard.log_metrics(
                    {
                        "loss": 1.0,
                    },
                    step=step,
                )


        try:
            import torch
        except ImportError:
            torch = None
        else:
            pass
        finally:
            pass

        if TORCH:
            pass
        elif OTHER:
            pass
        else:
            pass

        for i in ():
            pass
        else:
            runyard.log_metric("for-else", 1)
        """
    )
    assert names(text) == ["loss", "for-else"]
    assert runnable(text) == RunnableInfo(text.splitlines().index("for i in ():"), "top-level-code")


def test_statement_with_column_zero_continuation_lines() -> None:
    text = src(
        """
        import runyard
        runyard.log_metrics({
        "a": 1,
        "b": 2,
        })
        total = 1 + \\
        2
        runyard.log_metric(
        "c", 1)
        """
    )
    assert metric_calls(text) == [
        MetricCall("a", 2, 3),
        MetricCall("b", 3, 3),
        MetricCall("c", 8, 3),
    ]
    assert runnable(text) == RunnableInfo(1, "top-level-code")


def _whole_file_runnable(text: str) -> RunnableInfo | None:
    """The reference: one chunk made of the whole file."""
    chunk = pyintel._Chunk(text, ast.parse(text), incomplete=False)
    if chunk.main_guard is not None:
        return RunnableInfo(chunk.main_guard, "main-guard")
    if chunk.first_code is not None:
        return RunnableInfo(chunk.first_code, "top-level-code")
    return None


def _whole_file_metric_calls(text: str) -> list[MetricCall]:
    tree = ast.parse(text)
    imports = pyintel._collect_imports(tree, text)
    aliases = pyintel._Aliases(tuple(sorted(imports.modules)), tuple(sorted(imports.funcs)))
    found = pyintel._find_metric_names(text, tree, aliases)
    return [MetricCall(name, line, column) for line, column, name in found]


def _real_sources() -> list[Path]:
    stdlib = [Path(module.__file__ or "") for module in (argparse, ast, dataclasses, textwrap)]
    return stdlib + sorted(Path(runyard.__file__).parent.rglob("*.py"))


@pytest.mark.parametrize("path", _real_sources(), ids=lambda path: path.name)
def test_chunked_results_match_whole_file_parse(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    try:
        ast.parse(text)
    except SyntaxError:  # pragma: no cover - a file being edited by someone else
        pytest.skip("does not parse right now")
    assert runnable(text) == _whole_file_runnable(text)
    assert metric_calls(text) == _whole_file_metric_calls(text)
    # Every line landed in a chunk that parses: none was cut off and dropped.
    chunks = pyintel._document(text).chunks
    assert len(chunks) > 1 or len(ast.parse(text).body) < 2
    assert sum(chunk.text.count("\n") for _, chunk in chunks) == text.count("\n")


def test_chunked_metric_calls_match_whole_file_parse() -> None:
    text = _big_file() + src(
        """
        import runyard.tracking as rt
        from runyard import log_metric as lm
        class Trainer:
            def step(self):
                rt.log_metric("ünï", 1); lm(key="k", value=2)
                runyard.log_metrics({"x": 1,
        "y": 2})
        """
    )
    calls = metric_calls(text)
    assert calls == _whole_file_metric_calls(text)
    assert [call.name for call in calls[-4:]] == ["ünï", "k", "x", "y"]


def test_edits_reuse_other_chunks() -> None:
    text = _big_file()
    before = metric_calls(text)
    edited = text.replace("step_7(", "step_7b(", 1)
    assert metric_calls(edited) == before
    inserted = text.replace("def step_7(", "\n\ndef step_7(", 1)
    shifted = metric_calls(inserted)
    assert [call.name for call in shifted] == [call.name for call in before]
    assert shifted == _whole_file_metric_calls(inserted)


# --------------------------------------------------------------------------- large files


def _big_file(lines: int = 1000) -> str:
    out = ['"""Big."""', "import runyard", "from runyard import log_metrics as lms", ""]
    i = 0
    while len(out) < lines - 2:
        out += [
            f"def step_{i}(x: int) -> int:",
            f"    runyard.log_metric('loss/{i}', x * {i}, step=x)",
            f"    lms({{'acc/{i}': x, 'é/{i}': 1}})",
            "    return x + 1",
            "",
        ]
        i += 1
    out += ['if __name__ == "__main__":', "    step_0(1)"]
    return "\n".join(out) + "\n"


def test_thousand_line_file() -> None:
    text = _big_file()
    assert text.count("\n") >= 1000
    info = runnable(text)
    assert info is not None and info.reason == "main-guard"
    assert text.splitlines()[info.line].startswith("if __name__")
    calls = metric_calls(text)
    functions = text.count("def step_")
    assert len(calls) == 3 * functions
    for call in calls[:6]:
        line = text.splitlines()[call.line]
        literal_end = line[: call.character]
        assert literal_end.endswith(f"{call.name}'")
