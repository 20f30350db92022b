"""The follower: sends what the run's two files gained since the given offsets, framed
as "<kind> <length>\\n<bytes>" (L: output, T: tracking records, H: heartbeat every 5 s,
X <code>: the run ended and all of both files was sent, G: the run is gone).
Arguments: the run's folder, the output offset, the tracking offset."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

out = sys.stdout.buffer


def send(kind: str, data: bytes = b"") -> None:
    out.write(f"{kind} {len(data)}\n".encode() + data)


def pump(files: list[list[Any]]) -> bool:
    moved = False
    for item in files:
        try:
            with open(item[1], "rb") as f:
                f.seek(item[2])
                data = f.read(1 << 20)
        except OSError:
            continue
        if data:
            send(item[0], data)
            item[2] += len(data)
            moved = True
    if moved:
        out.flush()
    return moved


def monitor_alive(run: str) -> bool | None:
    try:
        with open(os.path.join(run, "monitor.pid")) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def main() -> None:
    run, log_off, trk_off = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    files: list[list[Any]] = [
        ["L", os.path.join(run, "output.log"), log_off],
        ["T", os.path.join(run, "tracking.jsonl"), trk_off],
    ]
    exit_path = os.path.join(run, "exit")
    started = beat = time.time()
    while True:
        if not os.path.isdir(run):
            send("G")
            out.flush()
            break
        if os.path.exists(exit_path):
            while pump(files):
                pass
            with open(exit_path) as f:
                code = f.read().strip()
            out.write(f"X {code}\n".encode())
            out.flush()
            break
        if not pump(files):
            alive = monitor_alive(run)
            gone = alive is False or (alive is None and time.time() - started > 30)
            if gone and not os.path.exists(exit_path):
                time.sleep(0.5)
                if not os.path.exists(exit_path):
                    while pump(files):
                        pass
                    send("G")
                    out.flush()
                    break
            time.sleep(0.1)
        if time.time() - beat > 5:
            send("H")
            out.flush()
            beat = time.time()


if __name__ == "__main__":
    main()
