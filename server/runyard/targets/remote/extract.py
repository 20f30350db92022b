"""Unpacks a run's tar stream (stdin) into argv[1] with every mode masked to the
owner's (0700/0600): the run folder holds spec.json with the run's environment
variables (secrets among them). Uses tarfile's data filter where the interpreter has
one (3.8.17+, 3.12)."""

from __future__ import annotations

import os
import sys
import tarfile


def private(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    member = tarfile.data_filter(member, path)
    if member.mode is not None:
        member = member.replace(mode=member.mode & 0o700, deep=False)
    return member


def main() -> None:
    os.umask(0o077)
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(sys.argv[1], filter=private)
        else:
            for member in tar:
                member.mode &= 0o700
                tar.extract(member, sys.argv[1])


if __name__ == "__main__":
    main()
