"""Lists the TensorBoard event files a run wrote anywhere in its working copy (argv[1]):
JSON on stdout, ``[[path, size, link target or null], ...]`` sorted, paths relative to
the working copy. argv[2] is JSON: ``mark`` (in every event file's name), ``pruned``
(folder names never entered), ``skip`` (folders, relative paths, never entered: they
come back whole). Never follows a link: a folder link is not entered, a link named like
an event file is listed with its target (never read), for the ssh target to name it
in the run's log; `pack` then sends the real files chosen.

While a run runs (the ssh and docker targets' live copy, `common.LiveEventFiles`),
argv[2] also holds ``follow``: ``[[path, offset], ...]``, the files already coming back
and how much of each is there, and ``budget``: at most this many bytes in all. Then the
output is one JSON line ``{"files": listing}`` (no listing, ``null``, when ``list`` is
false), and, for each followed file that holds more than its offset, a JSON line
``[path, offset, n]`` followed by its next ``n`` bytes (``n`` is -1, with no bytes, when
the file is shorter than its offset: rewritten). Each followed file is opened
folder by folder from the working copy with ``O_NOFOLLOW`` (a link swapped in on the
way is not read) and must be a regular file."""

from __future__ import annotations

import json
import os
import stat
import sys
from typing import Any


def scan(root: str, mark: str, pruned: set[str], skip: set[str]) -> list[list[Any]]:
    found: list[list[Any]] = []
    pending = [""]
    while pending:
        rel = pending.pop()
        try:
            entries = list(os.scandir(os.path.join(root, rel) if rel else root))
        except OSError:
            continue  # (gone, or unreadable)
        for entry in entries:
            path = rel + "/" + entry.name if rel else entry.name
            try:
                if entry.is_symlink():
                    if mark in entry.name:
                        found.append([path, 0, os.readlink(entry.path)])
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name not in pruned and path not in skip:
                        pending.append(path)
                elif entry.is_file(follow_symlinks=False) and mark in entry.name:
                    found.append([path, entry.stat(follow_symlinks=False).st_size, None])
            except OSError:
                continue
    return sorted(found)


def main() -> None:
    root = sys.argv[1]
    conf = json.loads(sys.argv[2])
    real = not os.path.islink(root) and os.path.isdir(root)
    if "follow" not in conf:
        found: list[list[Any]] = []
        if real:
            found = scan(root, conf["mark"], set(conf["pruned"]), set(conf["skip"]))
        sys.stdout.write(json.dumps(found))
        sys.stdout.flush()
        return
    out = sys.stdout.buffer
    listing = None
    if conf.get("list", True):
        listing = scan(root, conf["mark"], set(conf["pruned"]), set(conf["skip"])) if real else []
    out.write(json.dumps({"files": listing}).encode() + b"\n")
    budget = int(conf["budget"])
    for rel, offset in conf["follow"] if real else []:
        if budget <= 0:
            break
        budget -= send_tail(out, root, rel, int(offset), budget)
    out.flush()


def open_real(root: str, rel: str) -> int | None:
    """A read-only descriptor of the regular file `rel` below `root`, reached through
    real folders only; None when a part of the way is a link, missing, or no folder."""
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | nofollow)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=fd)
            os.close(fd)
            fd = inner
        found = os.open(parts[-1], os.O_RDONLY | os.O_NONBLOCK | nofollow, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(found).st_mode):
        os.close(found)
        return None
    return found


def send_tail(out: Any, root: str, rel: str, offset: int, budget: int) -> int:
    """Write `rel`'s bytes past `offset` (at most `budget`), framed; how many were sent."""
    fd = open_real(root, rel)
    if fd is None:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size < offset:  # (rewritten: said to the target as a count below zero)
            out.write(json.dumps([rel, offset, -1]).encode() + b"\n")
            return 0
        count = min(size - offset, budget)
        if count <= 0:
            return 0
        os.lseek(fd, offset, os.SEEK_SET)
        chunks = []
        got = 0
        while got < count:
            chunk = os.read(fd, min(count - got, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    finally:
        os.close(fd)
    out.write(json.dumps([rel, offset, got]).encode() + b"\n")
    for chunk in chunks:
        out.write(chunk)
    return got


if __name__ == "__main__":
    main()
