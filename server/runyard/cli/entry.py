"""The `runyard` console script (and `python -m runyard.cli`).

`runyard submit ...` first tries this environment's warm submit server (`quick`),
importing nothing heavy to do so; everything else, and a submit no server takes, is the
plain command line, `cli.main.main`. A plain submit may then start a server for the
next ones (`quick.after_plain_submit`: the second within a minute does).
"""

from __future__ import annotations

import sys

from runyard.cli import quick


def main() -> int:
    argv = sys.argv[1:]
    submitting = argv[:1] == ["submit"] and quick.enabled()
    if submitting:
        code = quick.submit(argv)
        if code is not None:
            return code
    from runyard.cli.main import main as plain

    code = plain(argv)
    if submitting:
        quick.after_plain_submit()
    return code


if __name__ == "__main__":
    sys.exit(main())
