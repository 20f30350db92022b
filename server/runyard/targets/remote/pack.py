"""Writes a tar stream (stdout) of the paths argv[2:] under the folder argv[1], those
that exist: the run's outputs (and TensorBoard folder) on their way back. Links are
sent as links, never followed (the ssh target leaves those leading out behind), and a
path with a link on its way (`a` of `a/b`) is not sent at all."""

from __future__ import annotations

import os
import sys
import tarfile


def through_link(rel: str) -> bool:
    parts = rel.split("/")
    return any(os.path.islink("/".join(parts[:i])) for i in range(1, len(parts)))


def main() -> None:
    os.chdir(sys.argv[1])
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as tar:
        for rel in sys.argv[2:]:
            if os.path.lexists(rel) and not through_link(rel):
                tar.add(rel)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
