"""Code that attrs and cattrs generate while the server starts, kept from one start to
the next.

lsprotocol defines some 550 attrs classes. For each, attrs writes the class's methods
(`__init__`, `__eq__`, `__repr__`, ...) as source text and compiles it; cattrs does the
same for the converters the server builds. Compiling that text is about half of the
server's start (some 0.3 s of 0.6 s on a small machine), and the text is the same at
every start. So the server keeps the compiled code objects in a file of the user's cache
(`$XDG_CACHE_HOME/runyard/lsp-code-<interpreter>.marshal`, marshal: the interpreter's
own format, as in its `.pyc` files), keyed by a digest of everything `compile` was
given (the text, the file name it is shown under, the mode and the compiler flags), and
a start takes them from there instead of compiling again.

It changes nothing else: attrs and cattrs still make the classes, fill `linecache` and
`eval` the code; the cache only answers `compile`, and only for the same text compiled
the same way. A missing, unreadable or foreign file (another interpreter's bytecode
format) is an empty cache. After a start, the file is written again, holding exactly
what that start used, when it compiled anything new (attrs puts a random number in the
text of a frozen class's `__hash__`, so one entry is new at every start: the file stays
the size of one start's code).
"""

from __future__ import annotations

import builtins
import hashlib
import marshal
import os
import sys
from typing import Any

# the compiler flags of `from __future__ import ...`: `compile` takes them from its
# caller's module unless told (`dont_inherit`), and the cache passes them on
_FUTURE_FLAGS = 0
for _name in __import__("__future__").all_feature_names:
    _FUTURE_FLAGS |= getattr(__import__("__future__"), _name).compiler_flag

# the modules that compile what they generate (their module-level name `compile`)
_GENERATORS = ("attr._make", "cattrs.gen", "cattrs.gen.typeddicts")


def cache_file() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "runyard", f"lsp-code-{sys.implementation.cache_tag}.marshal")


class CodeCache:
    def __init__(self, path: str) -> None:
        import importlib.util

        self.path = path
        self.magic = importlib.util.MAGIC_NUMBER
        self.known: dict[bytes, Any] = {}
        self.used: dict[bytes, Any] = {}
        self.compiled = 0
        try:
            with open(path, "rb") as f:
                head = f.read(len(self.magic))
                data = f.read()
            if head == self.magic:
                loaded = marshal.loads(data)
                if isinstance(loaded, dict):
                    self.known = loaded
        except Exception:  # (any unreadable cache is an empty one)
            self.known = {}

    def compile(
        self,
        source: Any,
        filename: Any,
        mode: str,
        flags: int = 0,
        dont_inherit: bool = False,
        optimize: int = -1,
        **more: Any,
    ) -> Any:
        """`compile` as the calling module would have called it, from the cache where
        the same text was compiled the same way before."""
        if not dont_inherit:
            flags |= sys._getframe(1).f_code.co_flags & _FUTURE_FLAGS
        if more or optimize != -1 or not isinstance(source, str) or not isinstance(filename, str):
            return builtins.compile(source, filename, mode, flags, True, optimize, **more)
        key = hashlib.sha1(
            f"{flags}\0{mode}\0{filename}\0{source}".encode("utf-8", "surrogatepass")
        ).digest()
        code = self.known.get(key)
        if code is None:
            code = builtins.compile(source, filename, mode, flags, True)
            self.known[key] = code
            self.compiled += 1
        self.used[key] = code
        return code

    def save(self) -> None:
        """Keep what this start used, when it compiled anything new (never fails)."""
        if not self.compiled:
            return
        temporary = f"{self.path}.{os.getpid()}"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(temporary, "wb") as f:
                f.write(self.magic + marshal.dumps(self.used))
            os.replace(temporary, self.path)
        except (OSError, ValueError):
            try:  # noqa: SIM105 (the cache is an optimisation only)
                os.unlink(temporary)
            except OSError:
                pass
        self.compiled = 0


def install(path: str | None = None) -> CodeCache:
    """Answer attrs' and cattrs' `compile` from the cache at `path` (`cache_file()`):
    call before lsprotocol is imported. Returns the cache, to `save` once started. In a
    process that has one already (a server forked by the warm server), that one."""
    import importlib

    installed = getattr(getattr(sys.modules.get(_GENERATORS[0]), "compile", None), "__self__", None)
    if isinstance(installed, CodeCache) and path in (None, installed.path):
        return installed
    cache = CodeCache(path or cache_file())
    for name in _GENERATORS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.compile = cache.compile  # type: ignore[attr-defined]
    return cache
