"""The language server's cache of the code attrs and cattrs generate as it starts
(`runyard.lsp.codecache`): a second start compiles almost nothing, and what the cache
gives is exactly what `compile` would have made for the same caller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runyard.lsp.codecache import CodeCache

SERVER_ROOT = Path(__file__).resolve().parents[2] / "server"

START = """
import json, sys
from runyard.lsp import codecache
cache = codecache.install(sys.argv[1])
from lsprotocol import types
from runyard.lsp.server import create_server
create_server()
a, b = types.Position(line=1, character=2), types.Position(line=1, character=2)
report = {
    "compiled": cache.compiled,
    "used": len(cache.used),
    "facts": [a == b, repr(a), a != types.Position(line=1, character=3)],
}
cache.save()
print(json.dumps(report))
"""


def _start(path: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(SERVER_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", START, str(path)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    report: dict[str, object] = json.loads(out.stdout)
    return report


def test_a_second_start_takes_the_generated_code_from_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "code.marshal"
    first = _start(path)
    assert isinstance(first["compiled"], int) and first["compiled"] > 500
    size = path.stat().st_size
    second = _start(path)
    # attrs puts a random number in a frozen class's __hash__: a few are new each time
    assert isinstance(second["compiled"], int) and second["compiled"] <= 5
    assert second["used"] == first["used"]
    assert second["facts"] == first["facts"] == [True, "1:2", True]
    # the file holds what one start used, not every start's
    _start(path)
    assert path.stat().st_size < size * 1.05


def _compiled_here(cache: CodeCache, source: str) -> tuple[object, object]:
    """(through the cache, by `compile`), both called from this module (which has
    `from __future__ import annotations`)."""
    return cache.compile(source, "<generated>", "exec"), compile(source, "<generated>", "exec")


SOURCE = "def f(x: int) -> List[int]:\n    return [x]\n"


def test_the_cache_gives_what_compile_makes_for_the_same_caller(tmp_path: Path) -> None:
    path = tmp_path / "code.marshal"
    cache = CodeCache(str(path))
    cached, plain = _compiled_here(cache, SOURCE)
    assert cached == plain and cache.compiled == 1
    # a caller without the future import: annotations evaluated, as compile would
    scope: dict[str, object] = {"cache": cache, "SOURCE": SOURCE}
    caller = (
        "a = cache.compile(SOURCE, '<generated>', 'exec')\n"
        "b = compile(SOURCE, '<generated>', 'exec')\n"
    )
    exec(compile(caller, "<caller>", "exec", dont_inherit=True), scope)
    assert scope["a"] == scope["b"] != plain
    assert cache.compiled == 2
    cache.save()
    again = CodeCache(str(path))
    assert _compiled_here(again, SOURCE)[0] == plain and again.compiled == 0
    namespace: dict[str, object] = {}
    exec(again.compile(SOURCE, "<generated>", "exec"), namespace)
    assert namespace["f"].__annotations__ == {"x": "int", "return": "List[int]"}


def test_an_unreadable_or_foreign_cache_is_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "code.marshal"
    for junk in (b"", b"not a cache at all", b"\x00\x00\r\n" + b"\xff" * 64):
        path.write_bytes(junk)
        cache = CodeCache(str(path))
        assert cache.known == {}
        assert _compiled_here(cache, SOURCE)[0] == _compiled_here(cache, SOURCE)[1]
        cache.save()
        assert CodeCache(str(path)).known.keys() == cache.used.keys()


def test_a_cache_that_cannot_be_written_changes_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("in the way\n")
    cache = CodeCache(str(blocked / "runyard" / "code.marshal"))
    assert _compiled_here(cache, SOURCE)[0] is not None
    cache.save()  # a file where its folder would be: nothing written, no error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_process_that_has_a_cache_installed_keeps_using_it(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from runyard.lsp import codecache\n"
        "first = codecache.install(sys.argv[1])\n"
        "import lsprotocol.types\n"
        "first.save()\n"
        "again = codecache.install()\n"  # as a server forked by the warm server does
        "print(again is first, again.compiled)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SERVER_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "code.marshal")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "0"]
