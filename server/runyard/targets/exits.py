"""How a run's end reads in its failed status, in one set of words for every target.

An execution's exit code is negative when a signal ended the run's process (a local
run, an SSH run: the process's own status), and reads "killed by SIGKILL"; otherwise
"exited with code N". A backend whose codes mean more than that (a container exits
with 128 + N when signal N ended its init process) gives its execution an
`exit_reason` method (`WordsItsExit`), built on these words, which the supervisor uses
instead.
"""

from __future__ import annotations

import signal
from typing import Protocol, runtime_checkable


def signal_name(num: int) -> str:
    """SIGKILL for 9; "signal N" for a number no signal of this machine has."""
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def exit_reason(code: int) -> str:
    """The words for `code`: "killed by SIGKILL" for -9, "exited with code N" for N."""
    return f"killed by {signal_name(-code)}" if code < 0 else f"exited with code {code}"


def shell_exit_reason(code: int) -> str:
    """For codes that follow the shell's convention (128 + N: ended by signal N), as
    a container's: "killed by SIGKILL (exit code 137)"; other codes as `exit_reason`."""
    if 128 < code < 256 and (code - 128) in signal.valid_signals():
        return f"{exit_reason(128 - code)} (exit code {code})"
    return exit_reason(code)


@runtime_checkable
class WordsItsExit(Protocol):
    """An execution whose exit codes need their own words (see the module's text)."""

    def exit_reason(self, code: int) -> str:
        """The failed status's first words for a run that ended with `code` (not 0)."""
        ...
