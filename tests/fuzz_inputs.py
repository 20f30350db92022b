"""Seeded random inputs for the fuzz tests: YAML texts made by mutating the templates'
real target and job files, alias bombs, and JSON values for request params."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: the real target and job files the gallery's templates ship
SEED_FILES = sorted((REPO / "templates").glob("*/.runyard/*/*.yml"))

_ODD = [
    "\x00",
    "\ud800",
    "\udfff",
    "\ufeff",
    "\u202e",
    "\u2028",
    "\x85",
    "\t",
    "é",
    "😀",
    "\r",
    "\\",
    '"',
    "'",
    "&a",
    "*a",
    "*zz",
    "<<: *a",
    "!!python/object:os.system",
    "!!binary",
    "!!int",
    "!custom",
    "%YAML 1.1\n---\n",
    "---\n",
    "...\n",
    "? ",
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    "#",
    "|\n",
    ">-\n",
    "9" * 400,
    "1e999",
    "-.inf",
    ".nan",
    "0x" + "f" * 100,
    "2026-13-45",
    "2001-12-14t21:59:43.10-05:00",
    "~",
    "null",
    "yes",
    "0o777",
]


def alias_bomb(levels: int = 8, width: int = 9) -> str:
    """A "billion laughs" job file: each level is a list of `width` aliases of the level
    before, so the last level stands for width**levels strings in a few hundred bytes."""
    names = "abcdefghijklmnopqrstuvwxyz"
    lines = ["script: train.py", "a: &a [" + ",".join(["x"] * width) + "]"]
    for level in range(1, levels):
        name, previous = names[level], names[level - 1]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * width) + "]")
    return "\n".join(lines) + "\n"


def seed_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in SEED_FILES]


def mutate(rng: random.Random, text: str) -> str:
    """One random change to `text`: cut it, splice odd characters and YAML syntax in,
    nest it deeply, put an alias bomb or a looping alias in, or repeat a piece of it."""
    choice = rng.randrange(10)
    at = rng.randrange(len(text) + 1)
    if choice == 0:
        return text[:at]
    if choice in (1, 2):
        return text[:at] + rng.choice(_ODD) + text[at:]
    if choice == 3:
        junk = "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(1, 8)))
        return text[:at] + junk + text[at:]
    if choice == 4:
        depth = rng.choice([5, 50, 200, 600])
        nested = "[" * depth + "1" + "]" * depth if rng.random() < 0.5 else "{a: " * depth
        return text + f"deep: {nested}\n"
    if choice == 5:
        return alias_bomb(rng.randrange(2, 10), rng.randrange(2, 12)) + text
    if choice == 6:
        return text + f"args: &x [*x, {rng.choice(_ODD)!r}]\n"
    if choice == 7:
        end = min(len(text), at + 200)
        return text[:end] + text[at:end] * rng.randrange(2, 10) + text[end:]
    if choice == 8:
        indent = " " * rng.randrange(0, 9)
        key = rng.choice(["script", "args", "env", "type", "target", "gpus", "conf", "x"])
        value = rng.choice([*_ODD, "", "[]", "{}", "-1", "1.5", "true", "&a [*a]"])
        return text + f"{indent}{key}: {value}\n"
    lines = text.splitlines(keepends=True)
    rng.shuffle(lines)
    return "".join(lines)


def fuzzed_text(rng: random.Random, seeds: list[str]) -> str:
    text = rng.choice(seeds)
    for _ in range(rng.randrange(1, 4)):
        text = mutate(rng, text)
    return text[:20_000]


def json_value(rng: random.Random, depth: int = 0, strings: tuple[str, ...] = ()) -> Any:
    """A random JSON value: odd strings (lone surrogates, NUL, `strings`), huge numbers,
    deep nesting, wrong types."""
    kinds = 9 if depth < 4 else 6
    kind = rng.randrange(kinds)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, 2**63, -(2**64), 10**400, 7])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e308, 3.14])
    if kind in (4, 5):
        return rng.choice(
            [
                "",
                "x",
                "\ud800",
                "a\udfffb",
                "\x00",
                "😀",
                "../../etc",
                "nope",
                "m:1",
                "x" * 5000,
                "file://%ZZ",
                "\u202e",
                *strings,
            ]
        )
    if kind == 6:
        return [json_value(rng, depth + 1, strings) for _ in range(rng.randrange(0, 4))]
    if kind == 7:
        keys = ["project", "name", "runId", "x", "\ud800", "", "type", "folder"]
        return {
            rng.choice(keys): json_value(rng, depth + 1, strings)
            for _ in range(rng.randrange(0, 4))
        }
    nested: Any = 1
    for _ in range(rng.choice([10, 100, 500])):
        nested = [nested]
    return nested
