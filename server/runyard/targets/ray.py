"""The `ray` target: each run is a job on an existing Ray cluster, through the job
submission API of the cluster's dashboard (`address: http://head:8265`).

Runyard speaks that API over HTTP itself (`RayCluster`), so it never imports `ray`:

- `GET /api/version`: reachable, and Ray's version (`runyard target test` too);
  `GET /api/v0/nodes`: the live nodes and their resources.
- The run's snapshot goes up as the job's `working_dir`, the way Ray's own
  `JobSubmissionClient` uploads one: a zip named by its content (`_ray_pkg_<sha1>.zip`),
  `GET /api/packages/gcs/<name>` to see whether the cluster has it (it also pins it for
  a while), else `PUT` of the zip's bytes; the job's runtime env then names
  `gcs://<name>`. The same snapshot is uploaded once, whatever number of runs use it.
- `POST /api/jobs/` submits the job with the submission id `runyard-<run id>` (so a new
  supervisor finds it again after the old one died: the target is reattachable),
  the runtime env, and the run's resources: the target's `num_cpus` (default 1),
  `num_gpus`, `memory` and custom `resources`, which the cluster reserves for the job's
  entrypoint. A request no live node could ever hold is refused here, before
  submitting, rather than left pending on the cluster.
- `GET /api/jobs/<id>` (status), `GET /api/jobs/<id>/logs` (the whole log, read on
  from where the last read ended: `ray-log.offset` in the run's folder),
  `POST /api/jobs/<id>/stop` (cancel: Ray sends SIGTERM to the job's processes, SIGKILL
  3 s later).

**The environment** is Ray's runtime env: `pip` gets the requirements of the run's
dependency file (the job's `requirements`, else what `core.envs.find_spec` finds: a
requirements.txt, pyproject's dependencies, a conda or MLflow file read as PyPI
requirements, or the lock a rerun pins), with the target's `index_url` as an
`--index-url` line. Ray builds a virtual environment on the worker over the cluster's
own Python (so `ray` stays importable) and caches it by those requirements. With no
dependency file the job runs in the cluster's Python as is. `env` (the target's, then
the job's) goes into the runtime env's `env_vars`.

**Live logs and metrics come back on one channel, the job's log.** The entrypoint is a
small wrapper shipped in the package (`_runyard/entry.py`, standard library only,
Python 3.8+), which runs the script as a child with Runyard's tracking client first on
its path (`_runyard/lib`, a copy of the run's `lib`) and `RUNYARD_TRACKING_URI`
`stream://stderr`: tracking records go out framed on stderr (`tracking.wire`), which
the wrapper passes on into the job's log with stdout, as UTF-8 (a byte that is not
becomes `\\xff`: Ray serves the log as UTF-8 and answers an error for the whole log
otherwise). The supervisor's follower reads the log on
as it grows, splits it with `wire.FrameReader`: the text goes to the run's log, the
records to the run's tracking file, which the supervisor ingests as for any run. No
port of this machine has to be reachable from the cluster, and nothing is lost when
the connection drops: the log is read again from the saved offset.

**Outputs** come back on the same log: when the script ends (or is stopped: the
wrapper catches SIGTERM, lets the script end and packs what it wrote within Ray's
3 s), the wrapper zips `outputs/` (and the TensorBoard folder, when it lies outside
it), regular files only, and prints the zip base64-encoded on lines marked
`\\x1erunyard-outputs:` (`+` more follows, `.` the last), which the follower collects
and never writes to the run's log. (Ray unpacks one working dir per package, shared by
the jobs of one snapshot: the wrapper runs each run in a copy of its own, in the
worker's temporary folder, removed at the end, so runs never write into each other's
`outputs/`.) `finish` unpacks it into the working copy, entry by
entry, refusing any path that would lead out of its folder, for the supervisor to keep
as the run's outputs. Outputs bigger than `MAX_OUTPUTS_MIB` (the log is read whole)
are not brought back: the log says so, and how to keep them elsewhere.

**TensorBoard event files written anywhere** in the run's copy (`runs/exp1/`,
`lightning_logs/version_0/`), unless the job names a folder other than `logs`, come
back live, on the same log: every `LIVE_EVENTS_SECONDS` while the script runs (less
often when a look is slow: `common.EVENT_FILES_COST_RATIO`), the wrapper lists them
with the scanner of `remote/tbfiles.py` (put into its text: never through a link,
`common.EVENT_FILES_PRUNED` folders, the outputs, `logs/` and `_runyard/` not entered),
leaves out the snapshot's (those in the shared working dir), and, only where a file
grew, prints the bytes it gained on lines marked `\\x1erunyard-events:`, each
`[path, offset, base64]` (a null for the bytes: the file is shorter than what was
sent, rewritten, and no longer followed), read with `tbfiles`' `open_real` (folder by
folder, `O_NOFOLLOW`), at most `LIVE_EVENTS_LOOK_BYTES` a look and
`common.MAX_EVENT_FILES_MIB` in all. Such a line is printed only at the start of a line
of the log (a line the script has not ended waits up to `LIVE_EVENTS_MID_LINE_WAIT`),
and once more, until nothing grew, when the script has ended. The follower (`JobLog`)
appends each line's bytes at its offset to the file's copy in the working copy by
`common.EventFilesBack`'s rules (a path that leads out, through a link, or to a file
that is there already is refused and said; only at the offset where the copy ends, so a
line read again after a take-over is never appended twice; each file's progress in the
run folder), where the supervisor imports their scalars while the run runs, as for a
local run (`runner.tbimport`, which keeps its place in each file: no point twice). The
outputs' zip then holds only their list (`_runyard_events.json`: path, size, link
target, whether all of it came): a link named like an event file is named in the
run's log, a file the limit kept back (in whole or part) too, and nothing that came
live is written again. `logs/` comes back whole at the end only, with the outputs.

**Status.** Ray's `SUCCEEDED` is exit code 0; `FAILED` with the entrypoint's exit
code is that code (the wrapper exits with 128 + N for a script ended by signal N);
`FAILED` without one (the runtime env could not be built, the job could not start) and
`STOPPED` that Runyard did not ask for get their own words (`RayExecution.exit_reason`,
with Ray's message). A job that waits for resources is said once in the log. A cluster
that stops answering mid-run is retried (`common.follow_until_lost`): the run is
`lost` after `LOST_AFTER` seconds, or at once when the cluster no longer knows the job.
An unreachable address or a job the cluster refuses fails the run before it starts,
with the address, Ray's answer and the fix.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import json
import os
import posixpath
import re
import threading
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runyard.core.errors import RunyardError, UsageError
from runyard.targets import common
from runyard.targets import remote as remote_programs
from runyard.targets.base import Check, RunContext, RunLost
from runyard.targets.exits import shell_exit_reason

CONNECT_TIMEOUT = 10.0
UPLOAD_TIMEOUT = 300.0
POLL_SECONDS = 0.5
PENDING_NOTE_AFTER = 10.0  # seconds a job may wait for the cluster before the log says so
MAX_PACKAGE_BYTES = 500 * 1024 * 1024  # Ray's package store takes a little less than 512 MiB
MAX_OUTPUTS_MIB = 256
PACKAGE_PREFIX = "_ray_pkg_"
SUBMISSION_PREFIX = "runyard-"
OUTPUTS_MARK = b"\x1erunyard-outputs:"
# What the event files written anywhere else gained, sent while the script runs.
EVENTS_MARK = b"\x1erunyard-events:"
LIVE_EVENTS_SECONDS = 2.5  # the wrapper looks this often (or less: `EVENT_FILES_COST_RATIO`)
LIVE_EVENTS_LOOK_BYTES = 8 << 20  # at most this much a look (the rest: the next one)
LIVE_EVENTS_LINE_BYTES = 48 << 10  # bytes of a file on one line of the log (64 KiB in base64)
LIVE_EVENTS_MID_LINE_WAIT = 10.0  # seconds a look waits for the script to end its line
# Where the outputs' zip holds the event files written anywhere else, and their list.
EVENTS_PREFIX = "_runyard_events/"
EVENTS_LIST = "_runyard_events.json"
CURSOR_FILE = "ray-log.offset"
ENTRY = "_runyard/entry.py"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
_NOT_SHIPPED = frozenset({"__pycache__", "node_modules", ".git"})
_ENV_MARKERS = ("pyvenv.cfg", "conda-meta")
_SIZE = re.compile(r"^([0-9]+)([bkmgBKMG]?)$")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_INCLUDE = re.compile(r"^(?:-r\s*|--requirement(?:\s+|=))(\S.*)$")

START_FIX = (
    "start the cluster's head with its dashboard (ray start --head --dashboard-host 0.0.0.0; "
    "the job API listens on the dashboard's port, 8265 by default), or fix `address:` in "
    "the target file"
)


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class RayOptions:
    """A `ray` target's fields (`raw`: the target file's data as is)."""

    raw: dict[str, Any]
    address: str = ""
    num_cpus: float = 1
    num_gpus: float = 0
    memory: int | None = None  # bytes
    resources: dict[str, float] = field(default_factory=dict)
    index_url: str | None = None

    @classmethod
    def from_target(cls, raw: dict[str, Any]) -> RayOptions:
        cpus = raw.get("num_cpus")
        return cls(
            raw=dict(raw),
            address=str(raw.get("address") or "").rstrip("/"),
            num_cpus=1 if cpus is None else float(cpus),
            num_gpus=float(raw.get("num_gpus") or 0),
            memory=parse_size(raw["memory"]) if raw.get("memory") else None,
            resources={str(k): float(v) for k, v in (raw.get("resources") or {}).items()},
            index_url=str(raw["index_url"]) if raw.get("index_url") else None,
        )

    def entrypoint_resources(self) -> dict[str, Any]:
        """The fields of a job submission that reserve the run's resources."""
        out: dict[str, Any] = {"entrypoint_num_cpus": self.num_cpus}
        if self.num_gpus:
            out["entrypoint_num_gpus"] = self.num_gpus
        if self.memory:
            out["entrypoint_memory"] = self.memory
        if self.resources:
            out["entrypoint_resources"] = dict(self.resources)
        return out

    def wanted(self) -> dict[str, float]:
        """The run's request in Ray's resource names."""
        out = {"CPU": self.num_cpus, "GPU": self.num_gpus, **self.resources}
        if self.memory:
            out["memory"] = float(self.memory)
        return {k: v for k, v in out.items() if v}


def parse_size(value: Any) -> int:
    """`2g`, `512m`, `1024` (bytes) as bytes."""
    m = _SIZE.match(str(value).strip())
    if not m:
        raise UsageError(
            f"The target's memory {value!r} is not a size.",
            hint="write `memory:` like 512m or 4g in the target file",
        )
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def _mib(n: float) -> str:
    return f"{n / 1024**2:.0f} MiB" if n < 1024**3 else f"{n / 1024**3:.1f} GiB"


def _amount(name: str, value: float) -> str:
    if name in ("memory", "object_store_memory"):
        return f"{_mib(value)} memory"
    count = f"{value:g}"
    return f"{count} {name}{'s' if name in ('CPU', 'GPU') and value != 1 else ''}"


# --------------------------------------------------------------------------- the cluster


class ClusterUnreachable(RunyardError):
    """The cluster's dashboard did not answer (connection refused, a timeout, a name
    that does not resolve)."""


class ClusterRefused(RunyardError):
    """The cluster answered a request with an error status."""

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class RayCluster:
    """The job submission API of one cluster's dashboard, over plain HTTP."""

    def __init__(self, address: str, headers: dict[str, str] | None = None) -> None:
        self.address = address.rstrip("/")
        self.headers = dict(headers or {})

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        content_type: str | None = None,
        timeout: float = CONNECT_TIMEOUT,
        ok: tuple[int, ...] = (200,),
    ) -> tuple[int, bytes]:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(
            self.address + path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            text = exc.read()
            if exc.code in ok:
                return exc.code, text
            raise ClusterRefused(
                f"The Ray cluster at {self.address} answered {method} {path} with "
                f"{exc.code}: {_last_line(text)}",
                exc.code,
            ) from exc
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ClusterUnreachable(
                f"The Ray cluster at {self.address} did not answer ({reason}).",
                hint=START_FIX,
            ) from exc

    def _json(self, method: str, path: str, payload: Any = None, **kw: Any) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        ctype = None if payload is None else "application/json"
        _status, text = self._request(method, path, body, content_type=ctype, **kw)
        try:
            return json.loads(text or b"null")
        except ValueError as exc:
            raise ClusterRefused(
                f"{self.address}{path} did not answer with JSON: is it a Ray dashboard?",
                200,
                hint="`address:` must be the dashboard's address (port 8265 by default)",
            ) from exc

    def version(self) -> dict[str, Any]:
        data = self._json("GET", "/api/version")
        if not isinstance(data, dict) or "ray_version" not in data:
            raise ClusterRefused(
                f"{self.address} answered /api/version without a Ray version: is it a Ray "
                "dashboard?",
                200,
                hint="`address:` must be the dashboard's address (port 8265 by default)",
            )
        return data

    def nodes(self) -> list[dict[str, Any]]:
        """The cluster's live nodes (the state API), each with `resources_total`."""
        data = self._json("GET", "/api/v0/nodes?limit=1000")
        result = ((data or {}).get("data") or {}).get("result") or {}
        rows = result.get("result") if isinstance(result, dict) else None
        return [n for n in rows or [] if isinstance(n, dict) and n.get("state") == "ALIVE"]

    def has_package(self, name: str) -> bool:
        status, _ = self._request("GET", f"/api/packages/gcs/{name}", ok=(200, 404))
        return status == 200

    def upload_package(self, name: str, data: bytes) -> None:
        self._request(
            "PUT",
            f"/api/packages/gcs/{name}",
            data,
            content_type="application/octet-stream",
            timeout=UPLOAD_TIMEOUT,
        )

    def submit(self, payload: dict[str, Any]) -> str:
        answer = self._json("POST", "/api/jobs/", payload, timeout=60.0)
        return str((answer or {}).get("submission_id") or payload["submission_id"])

    def job(self, submission_id: str) -> dict[str, Any] | None:
        """The job's details; None when the cluster does not know it."""
        status, text = self._request("GET", f"/api/jobs/{submission_id}", ok=(200, 404))
        if status == 404:
            return None
        data = json.loads(text)
        return data if isinstance(data, dict) else None

    def logs(self, submission_id: str) -> str:
        data = self._json("GET", f"/api/jobs/{submission_id}/logs", timeout=60.0)
        return str((data or {}).get("logs") or "")

    def stop(self, submission_id: str) -> bool:
        data = self._json("POST", f"/api/jobs/{submission_id}/stop")
        return bool((data or {}).get("stopped"))


_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): \S")


def _last_line(text: bytes | str) -> str:
    """What an answer or a message says in one line: its last `SomeError: ...` line (Ray
    answers with a traceback), else its last line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip() != "."]
    errors = [ln for ln in lines if _ERROR_LINE.match(ln)]
    return (errors or lines or ["no message"])[-1][:500]


def summary(message: str) -> str:
    """Ray's message on a job, in one or two lines: its first line, and the error its
    traceback ends with."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else "no message"
    last = _last_line(message)
    return lines[0] if last == lines[0] else f"{lines[0]} ... {last}"


def cluster_for(options: RayOptions) -> RayCluster:
    if not options.address.startswith(("http://", "https://")):
        raise UsageError(
            f"The target's address {options.address!r} is not the http:// address of a Ray "
            "dashboard.",
            hint="set `address:` in the target file like http://ray-head:8265 (the job API is "
            "the dashboard's; a ray:// client address does not take jobs)",
        )
    return RayCluster(options.address)


def largest_fit(nodes: list[dict[str, Any]], wanted: dict[str, float]) -> str | None:
    """None when one live node has every resource the run asks for; else what is short,
    in words ("1 GPU: the most any node has is 0")."""
    if not wanted:
        return None
    if not nodes:
        return "the cluster has no live node"
    for node in nodes:
        total = node.get("resources_total") or {}
        if all(float(total.get(k, 0)) >= v for k, v in wanted.items()):
            return None
    for name, value in wanted.items():
        most = max(float((n.get("resources_total") or {}).get(name, 0)) for n in nodes)
        if most < value:
            return f"{_amount(name, value)}: the most any node has is {_amount(name, most)}"
    return "those resources together (no one node has them all)"


# --------------------------------------------------------------------------- the package


_ENTRY_TEMPLATE = r'''"""Runyard's entrypoint for a run on Ray: runs the script with Runyard's tracking
client on its path, then sends the outputs back on the job's log (see runyard.targets.ray)."""
from __future__ import annotations

import base64, codecs, io, json, os, select, shutil, signal, stat, subprocess, sys, tempfile, time, zipfile

MARK = "\x1erunyard-outputs:"
EVENTS_MARK = "%(events_mark)s"
EVENTS_LIST = "%(events_list)s"
LIVE_SECONDS = %(live_seconds)s
LIVE_COST_RATIO = %(live_cost_ratio)s
LIVE_LOOK_BYTES = %(live_look_bytes)s
LIVE_LINE_BYTES = %(live_line_bytes)s
LIVE_MID_LINE_WAIT = %(live_mid_line_wait)s
# Ray unpacks one working dir per package, shared by every job of that snapshot: each
# run works in a copy of its own, so runs never write into each other's outputs.
shared = os.getcwd()
here = tempfile.mkdtemp(prefix="runyard-%s-" % os.environ.get("RUNYARD_RUN_ID", "run"))
shutil.copytree(shared, here, symlinks=True, dirs_exist_ok=True)
os.chdir(here)
conf = json.loads(os.environ.pop("RUNYARD_RAY_ENTRY", "{}"))
outputs = os.path.join(here, conf.get("outputs", "outputs"))
lib = os.path.join(here, "_runyard", "lib")
env = dict(os.environ)
env["PYTHONPATH"] = os.pathsep.join(p for p in (lib, here, env.get("PYTHONPATH")) if p)
env["RUNYARD_TRACKING_URI"] = "stream://stderr"
env["RUNYARD_OUTPUTS"] = outputs
env["PYTHONUNBUFFERED"] = "1"
try:
    os.makedirs(outputs, exist_ok=True)
except OSError:
    pass
stopping = []


def on_term(signum, frame):
    stopping.append(signum)
    try:
        child.send_signal(signum)
    except Exception:
        pass


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
# The script's output passes through here on its way to the job's log, as UTF-8: Ray
# reads the log as UTF-8 and answers nothing for a log with one byte that is not.
child = subprocess.Popen(
    [sys.executable] + sys.argv[1:], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
)
decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")
source = child.stdout.fileno()


at_line_start = [True]  # whether the last character written ended a line


def put(text):
    if text:
        at_line_start[0] = text[-1] in "\r\n"
    data = text.encode("utf-8")
    while data:
        data = data[os.write(1, data) :]


def end_line():
    """A line of Runyard's own starts a line of the log: after the script's unfinished
    line, a line break."""
    if not at_line_start[0]:
        put("\n")


# {scan}


# TensorBoard event files written anywhere else in this copy come back while the script
# runs: every LIVE_SECONDS (or LIVE_COST_RATIO times what a look took), what each file
# gained goes out on lines marked EVENTS_MARK, `[path, offset, base64 of the bytes]` (a
# null for the bytes: the file is shorter than what was sent, rewritten), at most
# LIVE_LOOK_BYTES a look and the events' limit in all. Only at the start of a line of
# the log (a line the script has not finished waits, LIVE_MID_LINE_WAIT at most).
events = conf.get("events")
sent = {}  # path -> bytes of it sent
dropped = {}  # path -> why it is no longer sent ("rewritten", "limit")
room = [events["limit"] if events else 0]


def send_events(most):
    """Send what the event files gained, at most `most` bytes; the bytes sent."""
    moved = 0
    for rel, size, link in scan(here, events["mark"], set(events["pruned"]), set(events["skip"])):
        if link is not None or rel in dropped or moved >= most:
            continue
        have = sent.get(rel)
        if have is None:
            if size == 0 or os.path.lexists(os.path.join(shared, rel)):
                continue  # (nothing yet; or the snapshot brought it along: not the run's)
            if size > room[0]:
                dropped[rel] = "limit"
                continue
            have = sent[rel] = 0
        if size < have:
            dropped[rel] = "rewritten"
            put(EVENTS_MARK + json.dumps([rel, have, None]) + "\n")
            continue
        if size - have > room[0]:
            dropped[rel] = "limit"
            continue
        count = min(size - have, most - moved)
        if count <= 0:
            continue
        fd = open_real(here, rel)
        if fd is None:
            continue  # (a link swapped in on the way, or gone)
        try:
            os.lseek(fd, have, os.SEEK_SET)
            while count > 0:
                data = os.read(fd, min(count, LIVE_LINE_BYTES))
                if not data:
                    break
                text = base64.b64encode(data).decode("ascii")
                put(EVENTS_MARK + json.dumps([rel, have, text]) + "\n")
                have += len(data)
                count -= len(data)
                moved += len(data)
                room[0] -= len(data)
                sent[rel] = have
        finally:
            os.close(fd)
    return moved


next_look = time.monotonic() + LIVE_SECONDS
live_failed = []
while True:
    ready = select.select([source], [], [], 0.5)[0]
    chunk = os.read(source, 65536) if ready else b""
    if chunk:
        put(decoder.decode(chunk))
    elif ready or child.poll() is not None:
        break  # (the end of the output, or a script that ended, whatever holds the pipe)
    now = time.monotonic()
    if events and not live_failed and now >= next_look:
        if not at_line_start[0] and now < next_look + LIVE_MID_LINE_WAIT:
            continue
        end_line()
        try:
            send_events(LIVE_LOOK_BYTES)
        except Exception as exc:
            live_failed.append(exc)
            put("runyard: TensorBoard event files are not sent while the script runs (%r): "
                "they come back when it ends\n" % (exc,))
        next_look = time.monotonic() + max(LIVE_SECONDS, LIVE_COST_RATIO * (time.monotonic() - now))
put(decoder.decode(b"", True))
code = child.wait()
if events:
    end_line()
    try:
        while send_events(LIVE_LOOK_BYTES):
            pass
    except Exception as exc:
        put("runyard: TensorBoard event files could not be sent: %r\n" % (exc,))


def event_files():
    """TensorBoard event files written anywhere else in this copy: [path, size, link
    target or None, whether all its bytes were sent on the EVENTS_MARK lines], the
    snapshot's left out."""
    if not events:
        return []
    listed = []
    for rel, size, link in scan(here, events["mark"], set(events["pruned"]), set(events["skip"])):
        if link is None and rel not in sent and os.path.lexists(os.path.join(shared, rel)):
            continue  # (the snapshot brought it along: not the run's)
        whole = link is None and (dropped.get(rel) == "rewritten" or sent.get(rel, -1) == size)
        if link is None and size == 0 and rel not in sent:
            continue  # (empty: nothing to import)
        listed.append([rel, size, link, whole])
    return listed


def pack():
    buf = io.BytesIO()
    total = 0
    limit = conf.get("limit_mib", 256) * 1024 * 1024
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in conf.get("folders", ["outputs"]):
            top = os.path.join(here, rel)
            for root, dirs, files in os.walk(top):
                dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(root, d)))
                for name in sorted(files):
                    path = os.path.join(root, name)
                    if os.path.islink(path) or not os.path.isfile(path):
                        continue
                    total += os.path.getsize(path)
                    if total > limit:
                        return None, total
                    zf.write(path, os.path.relpath(path, here).replace(os.sep, "/"))
        listed = event_files()
        if listed:  # (their bytes came on the EVENTS_MARK lines: only the list)
            zf.writestr(EVENTS_LIST, json.dumps(listed))
    return buf.getvalue(), total


try:
    data, total = pack()
    if data is None:
        sys.stderr.write(
            "runyard: outputs not brought back: more than %d MiB (a Ray run brings back at "
            "most that through its log); save large files to storage the cluster shares\n"
            % conf.get("limit_mib", 256)
        )
    else:
        text = base64.b64encode(data).decode("ascii")
        step = 8192
        chunks = [text[i : i + step] for i in range(0, len(text), step)] or [""]
        end_line()
        put("".join(
            MARK + ("." if i == len(chunks) - 1 else "+") + c + "\n" for i, c in enumerate(chunks)
        ))
except Exception as exc:
    sys.stderr.write("runyard: outputs could not be packed: %r\n" % (exc,))
os.chdir(shared)
shutil.rmtree(here, ignore_errors=True)
sys.exit(code if code >= 0 else 128 - code)
'''


def _entry_source() -> str:
    """The entrypoint's text: the template with the event files' scanner of
    `remote/tbfiles.py` (one scanner for the ssh and ray targets) and the names of the
    event files' place in the outputs' zip."""
    scanner = remote_programs.source("tbfiles")
    body = scanner[scanner.index("def scan(") : scanner.index("\ndef main(")]
    body += scanner[scanner.index("def open_real(") : scanner.index("\ndef send_tail(")]
    text = _ENTRY_TEMPLATE.replace(
        "# {scan}\n", "# (from runyard/targets/remote/tbfiles.py)\n" + body
    )
    values = {
        "events_mark": repr(EVENTS_MARK.decode()),
        "events_list": repr(EVENTS_LIST),
        "live_seconds": repr(LIVE_EVENTS_SECONDS),
        "live_cost_ratio": repr(common.EVENT_FILES_COST_RATIO),
        "live_look_bytes": repr(LIVE_EVENTS_LOOK_BYTES),
        "live_line_bytes": repr(LIVE_EVENTS_LINE_BYTES),
        "live_mid_line_wait": repr(LIVE_EVENTS_MID_LINE_WAIT),
    }
    for name, value in values.items():
        text = text.replace(f'"%({name})s"', value).replace(f"%({name})s", value)
    return text


ENTRY_SOURCE = _entry_source()


def _walk_files(root: Path) -> list[tuple[Path, str]]:
    """The working copy's files to ship (path, name in the zip): `.git`, caches, virtual
    environments and links stay behind (a link could lead anywhere on this machine)."""
    found: list[tuple[Path, str]] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in _NOT_SHIPPED
            and not (here / d).is_symlink()
            and not any((here / d / marker).exists() for marker in _ENV_MARKERS)
        )
        for name in sorted(files):
            path = here / name
            if path.is_symlink() or not path.is_file():
                continue
            found.append((path, path.relative_to(root).as_posix()))
    return found


def build_package(workdir: Path, lib: Path) -> tuple[str, bytes]:
    """The run's working_dir as Ray takes it: (package name, zip bytes). The zip holds
    the snapshot at its top, `_runyard/lib` (the tracking client) and the entrypoint.
    Named by a hash of what it holds, so the same snapshot is uploaded once (what differs
    between runs, like the outputs folder, travels in the runtime env instead)."""
    entries: list[tuple[str, bytes]] = [(rel, p.read_bytes()) for p, rel in _walk_files(workdir)]
    if lib.is_dir():
        entries += [("_runyard/lib/" + rel, p.read_bytes()) for p, rel in _walk_files(lib)]
    entries.append((ENTRY, ENTRY_SOURCE.encode()))
    digest = hashlib.sha1()
    for rel, data in entries:
        digest.update(rel.encode() + b"\0" + hashlib.sha1(data).digest())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in entries:
            info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return f"{PACKAGE_PREFIX}{digest.hexdigest()}.zip", buf.getvalue()


def pip_requirements(ctx: RunContext, index_url: str | None) -> list[str]:
    """The runtime env's pip lines: the run's dependency file (see the module's text)."""
    from runyard.core import envs

    spec = envs.find_spec(ctx.workdir, ctx.spec.requirements)
    if spec.kind == "none":
        return []
    if spec.listed:
        lines = list(spec.requirements)
    else:
        lines = _requirement_lines(ctx.workdir, spec.path or "requirements.txt", 0)
    if spec.python:
        ctx.log(
            f"{spec.path} asks for Python {spec.python}: a Ray job runs in the cluster's own "
            "Python, with the packages added"
        )
    if lines and index_url:
        lines.insert(0, f"--index-url {index_url}")
    return lines


def _requirement_lines(workdir: Path, rel: str, depth: int) -> list[str]:
    """A requirements file's lines, with `-r FILE` replaced by FILE's (Ray installs them
    from a file of its own, where a relative include would not be found)."""
    path = workdir / rel
    out: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{rel}: could not be read ({exc}).", hint="fix the file") from exc
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        m = _INCLUDE.match(line)
        if m and depth < 5:
            inner = posixpath.normpath(posixpath.join(posixpath.dirname(rel), m.group(1)))
            out += _requirement_lines(workdir, inner, depth + 1)
        else:
            out.append(line)
    return out


# --------------------------------------------------------------------------- following


class JobLog:
    """The job's log, read on from an offset: text to the run's log, tracking records
    to the run's tracking file, the outputs' lines kept aside, the event files' lines
    appended to their files in the working copy (`events`)."""

    def __init__(self, ctx: RunContext) -> None:
        from runyard.tracking.wire import FrameReader

        self.ctx = ctx
        self.cursor_path = ctx.run_dir / CURSOR_FILE
        self.offset = common.read_cursor(self.cursor_path)
        self.reader = FrameReader()
        self.tracking = ctx.run_dir / "tracking.jsonl"
        self.pending = ""
        self.outputs: list[bytes] = []
        self.outputs_done = False
        self._events: common.EventFilesBack | None = None
        self.events_moved = 0  # bytes of event files appended here
        self.events_lines = 0
        self._events_bad = False

    @property
    def events(self) -> common.EventFilesBack:
        """Where the event files' bytes land, by `common.EventFilesBack`'s rules (what
        came before, by an earlier supervisor, is known from its state in the run folder)."""
        if self._events is None:
            self._events = common.EventFilesBack(self.ctx)
        return self._events

    def _event_line(self, body: bytes) -> None:
        """One `EVENTS_MARK` line: `[path, offset, base64]` appended at `offset` of the
        file's copy here, only where that copy ends (a line read again after a take-over
        is not appended twice); a null for the bytes: rewritten there, no longer followed."""
        back = self.events
        try:
            rel, offset, text = json.loads(body)
            rel, offset = str(rel), int(offset)
            data = None if text is None else base64.b64decode(str(text), validate=True)
        except (ValueError, TypeError, binascii.Error):
            if not self._events_bad:
                self._events_bad = True
                self.ctx.log(
                    "a line of TensorBoard event file bytes in the job's log was unreadable"
                )
            return
        if not back.enabled:
            return
        if data is None:
            back.append(rel, offset, io.BytesIO(), -1)
            return
        rel = posixpath.normpath(rel)
        if offset == 0 and rel not in back.following:
            back.start_following(rel, len(data), None)
        moved = back.append(rel, offset, io.BytesIO(data), len(data))
        self.events_moved += moved
        self.events_lines += moved > 0

    def feed(self, text: str, final: bool = False) -> None:
        if len(text) < self.offset:  # (a log that shrank: read it from its start)
            self.offset = 0
        new = text[self.offset :]
        if not new and not final:
            return
        self.offset = len(text)
        text = self.pending + new
        cut = len(text) if final else text.rfind("\n") + 1
        self.pending = text[cut:]
        lines = text[:cut].encode("utf-8", "surrogateescape").splitlines(keepends=True)
        rest: list[bytes] = []
        for line in lines:
            if line.startswith(OUTPUTS_MARK):
                body = line[len(OUTPUTS_MARK) :].rstrip(b"\r\n")
                if body[:1] == b"+" and self.outputs_done:
                    self.outputs, self.outputs_done = [], False
                self.outputs.append(body[1:])
                self.outputs_done = body[:1] == b"."
            elif line.startswith(EVENTS_MARK):
                self._event_line(line[len(EVENTS_MARK) :].rstrip(b"\r\n"))
            else:
                rest.append(line)
        log, records = self.reader.feed(b"".join(rest), final=final)
        if log:
            with contextlib.suppress(OSError):
                view = memoryview(log)
                while view:
                    view = view[os.write(self.ctx.log_fd, view) :]
        if records:
            with self.tracking.open("ab") as f:
                f.write(b"".join(records))
        common.write_cursor(self.cursor_path, self.offset - len(self.pending))

    def outputs_zip(self) -> bytes | None:
        if not self.outputs_done:
            return None
        try:
            return base64.b64decode(b"".join(self.outputs), validate=True)
        except (binascii.Error, ValueError):
            return None


class RayExecution(common.FollowedExecution):
    """A job on the cluster, followed by a thread of its own (status, then the log)."""

    def __init__(self, cluster: RayCluster, submission_id: str, ctx: RunContext) -> None:
        super().__init__()
        self.cluster = cluster
        self.submission_id = submission_id
        self.ctx = ctx
        self.log = JobLog(ctx)
        self.status: str | None = None
        self.message = ""
        self.driver_exit_code: int | None = None
        self.canceling = False
        self._pending_since: float | None = None
        self._pending_said = False
        self._log_refused = False
        self._thread = threading.Thread(target=self._follow, name="ray-job", daemon=True)
        self._thread.start()

    def _where(self) -> str:
        return f"the Ray cluster at {self.cluster.address}"

    def _step(self) -> bool:
        info = self.cluster.job(self.submission_id)
        if info is None:
            raise RunLost(
                f"{self._where()} no longer knows the job {self.submission_id} (was the "
                "cluster restarted?)"
            )
        status = str(info.get("status") or "")
        self.message = str(info.get("message") or "")
        if status == "PENDING":
            now = time.monotonic()
            self._pending_since = self._pending_since or now
            if not self._pending_said and now - self._pending_since > PENDING_NOTE_AFTER:
                self._pending_said = True
                self.ctx.log(
                    f"the job has been pending on the cluster for {PENDING_NOTE_AFTER:g}s "
                    f"(its runtime env being built, or resources not free yet); Ray says: "
                    f"{summary(self.message)}"
                )
        terminal = status in TERMINAL
        try:
            text = self.cluster.logs(self.submission_id)
        except ClusterRefused as exc:  # (it answers, but not with the log: said once)
            text = ""
            if not self._log_refused:
                self._log_refused = True
                self.ctx.log(f"the job's log could not be read: {exc.message}")
        else:
            self.log.feed(text, final=terminal)
        if not terminal:
            time.sleep(POLL_SECONDS if len(text) < 4_000_000 else POLL_SECONDS * 4)
            return False
        self.status = status
        code = info.get("driver_exit_code")
        self.driver_exit_code = int(code) if isinstance(code, int) else None
        if status == "SUCCEEDED":
            self.code = 0
        elif status == "STOPPED":
            self.code = 143 if self.driver_exit_code in (None, 0) else self.driver_exit_code
        else:
            self.code = self.driver_exit_code if self.driver_exit_code not in (None, 0) else 1
            if self.driver_exit_code in (None, 0) and self.message:
                self.ctx.log(f"the Ray cluster says: {self.message.rstrip()}")
        return True

    def _follow(self) -> None:
        try:
            self.error = common.follow_until_lost(
                self._step,
                lambda: _answers(self.cluster),
                self.ctx.log,
                self._where,
                detail=True,
                reconnected="{where} answers again",
            )
        except Exception as exc:  # (a bug must end the run, not hang it)
            self.error = RunyardError(f"following the Ray job failed: {exc!r}")
        self.done.set()

    def exit_reason(self, code: int) -> str:
        if self.status == "STOPPED" and not self.canceling:
            return "the job was stopped on the Ray cluster (ray job stop, or the dashboard)"
        if self.status == "FAILED" and self.driver_exit_code in (None, 0):
            return f"the Ray cluster could not run the job: {summary(self.message)}"
        return shell_exit_reason(code)

    def terminate(self) -> None:
        self.canceling = True
        self._stop()

    def kill(self) -> None:
        self.canceling = True
        self._stop()  # (Ray itself kills the job's processes 3 s after the stop)

    def _stop(self) -> None:
        try:
            self.cluster.stop(self.submission_id)
            self.ctx.log(f"asked {self._where()} to stop the job {self.submission_id}")
        except RunyardError as exc:
            self.ctx.log(f"could not ask the cluster to stop the job: {exc.message}")


def _answers(cluster: RayCluster) -> bool:
    try:
        cluster.version()
    except RunyardError:
        return False
    return True


# --------------------------------------------------------------------------- backend


class RayBackend:
    def __init__(self) -> None:
        self.cluster: RayCluster | None = None
        self.pip: list[str] = []
        self.execution: RayExecution | None = None

    def prepare(self, ctx: RunContext) -> None:
        options = RayOptions.from_target(ctx.spec.target_options)
        cluster = cluster_for(options)
        version = cluster.version()
        ctx.log(f"Ray {version.get('ray_version')} at {cluster.address}")
        try:
            short = largest_fit(cluster.nodes(), options.wanted())
        except (ClusterRefused, ValueError):
            short = None  # (an older dashboard without the state API: Ray decides)
        if short:
            raise UsageError(
                f"The Ray cluster at {cluster.address} cannot run this job: it asks for {short}.",
                hint="lower `num_cpus`, `num_gpus`, `memory` or `resources` in the target file, "
                "or add a node that has them",
            )
        self.pip = pip_requirements(ctx, options.index_url)
        if self.pip:
            ctx.log(
                f"environment: Ray's runtime env with {len(self.pip)} pip requirement"
                f"{'s' * (len(self.pip) != 1)}, built on the cluster (cached there)"
            )
        self.cluster = cluster

    def _entry_conf(self, ctx: RunContext) -> dict[str, Any]:
        folders = [ctx.outputs]
        logs = common.tensorboard_folder(ctx.spec.tensorboard_dir, ctx.outputs)
        if logs is not None:
            folders.append(logs)
        conf: dict[str, Any] = {
            "outputs": ctx.outputs,
            "folders": folders,
            "limit_mib": MAX_OUTPUTS_MIB,
        }
        back = common.EventFilesBack(ctx)
        if back.enabled:  # event files written anywhere else in the working copy
            scan = back.scan_conf()
            scan["skip"] = [*back.skip, "_runyard"]
            conf["events"] = {**scan, "limit": common.MAX_EVENT_FILES_MIB << 20}
        return conf

    def payload(self, ctx: RunContext, package: str) -> dict[str, Any]:
        """The job submission (`POST /api/jobs/`)."""
        import shlex

        options = RayOptions.from_target(ctx.spec.target_options)
        env_vars = {**ctx.spec.user_env()}
        env_vars.update(
            {
                k: v
                for k, v in ctx.env.items()
                if k not in ("PYTHONPATH", "RUNYARD_TRACKING_URI", "RUNYARD_OUTPUTS")
            }
        )
        env_vars["RUNYARD_RAY_ENTRY"] = json.dumps(self._entry_conf(ctx))
        runtime_env: dict[str, Any] = {"working_dir": f"gcs://{package}", "env_vars": env_vars}
        if self.pip:
            runtime_env["pip"] = {"packages": list(self.pip), "pip_check": False}
        argv = ctx.spec.argv("python")[1:]
        return {
            "entrypoint": shlex.join(["python", "-u", ENTRY, *argv]),
            "submission_id": SUBMISSION_PREFIX + ctx.run_id,
            "runtime_env": runtime_env,
            "metadata": {"runyard.run_id": ctx.run_id, "runyard.target": ctx.spec.target},
            **options.entrypoint_resources(),
        }

    def start(self, ctx: RunContext) -> RayExecution:
        cluster = self.cluster
        if cluster is None:  # (prepare ran in this process: always set; kept for mypy)
            cluster = cluster_for(RayOptions.from_target(ctx.spec.target_options))
        name, data = build_package(ctx.workdir, ctx.run_dir / "lib")
        if len(data) >= MAX_PACKAGE_BYTES:
            raise UsageError(
                f"The run's snapshot is {_mib(len(data))} zipped; a Ray cluster takes a "
                f"working dir of less than {_mib(MAX_PACKAGE_BYTES)}.",
                hint="keep data sets out of the project (git-ignore them) and read them from "
                "storage the cluster shares",
            )
        if cluster.has_package(name):
            ctx.log(f"snapshot already on the cluster (gcs://{name})")
        else:
            cluster.upload_package(name, data)
            ctx.log(f"snapshot uploaded to the cluster: gcs://{name} ({_mib(len(data))})")
        payload = self.payload(ctx, name)
        try:
            submission_id = cluster.submit(payload)
        except ClusterRefused as exc:
            raise RunyardError(
                f"The Ray cluster at {cluster.address} refused the job: {exc.message.split(': ', 1)[-1]}",
                hint="see the cluster's dashboard log (dashboard.log) for more; check the "
                "target file's fields against the cluster",
            ) from exc
        ctx.set_tags({"ray.address": cluster.address, "ray.submission_id": submission_id})
        ctx.log(f"submitted as Ray job {submission_id}: {payload['entrypoint']}")
        self.execution = RayExecution(cluster, submission_id, ctx)
        return self.execution

    def attach(self, ctx: RunContext) -> RayExecution | None:
        options = RayOptions.from_target(ctx.spec.target_options)
        try:
            cluster = cluster_for(options)
            if cluster.job(SUBMISSION_PREFIX + ctx.run_id) is None:
                return None
        except RunyardError:
            return None
        self.cluster = cluster
        self.execution = RayExecution(cluster, SUBMISSION_PREFIX + ctx.run_id, ctx)
        return self.execution

    def finish(self, ctx: RunContext) -> Path | None:
        execution = self.execution
        data = execution.log.outputs_zip() if execution is not None else None
        out = ctx.workdir / ctx.outputs
        if execution is not None and execution.log.events_moved:
            moved = execution.log.events_moved
            ctx.log(
                f"TensorBoard event files: {_mib(moved) if moved >= 1 << 20 else f'{moved} bytes'} copied back through the "
                f"job's log while it ran ({execution.log.events_lines} line"
                f"{'s' * (execution.log.events_lines != 1)})"
            )
        if data is None:
            ran = execution is not None and execution.driver_exit_code is not None
            if ran or (execution is not None and execution.status == "SUCCEEDED"):
                ctx.log("no outputs came back from the Ray job")
            if execution is not None and execution.log.events_moved:
                execution.log.events.done()
            return out if out.is_dir() else None
        folders = self._entry_conf(ctx)["folders"]
        for rel in folders:
            if common.route_is_safe(ctx.workdir, rel, ctx.log, f"{rel}/"):
                common.clear_destination(ctx.workdir / rel)
        _unpack(data, ctx.workdir, folders, ctx.log)
        try:
            back = execution.log.events if execution is not None else common.EventFilesBack(ctx)
            _event_files_back(data, back)
        except Exception as exc:  # never the run's outcome, nor its outputs
            ctx.log(f"could not copy the TensorBoard event files back: {exc}")
        return out if out.is_dir() else None

    def check(self, options: dict[str, Any]) -> list[Check]:
        return check_ray(options)


def _event_files_back(data: bytes, back: common.EventFilesBack) -> None:
    """The end of the event files' copy, by `common.EventFilesBack`'s rules, from the
    list the wrapper put in the outputs' zip: a file whose bytes came while the run ran
    (`JobLog`) is left as it is (its scalars are imported once), one the limit kept back
    in whole or part is said, a link is named. A zip that holds the files themselves
    (under `EVENTS_PREFIX`, from a wrapper that sent them only at the end) has them
    written where nothing came before."""
    if not back.enabled:
        return
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        try:
            listed = json.loads(archive.read(EVENTS_LIST))
        except KeyError:
            back.done()
            return  # (none were found)
        for rel, size, link, sent in listed:
            rel = posixpath.normpath(str(rel))
            if rel in back.stopped:
                continue  # (said when it stopped, or refused as it first came)
            if rel in back.following:
                if not sent:
                    back.left_behind(rel)
                continue
            if not back.wanted(rel):
                continue
            if link is not None:
                back.admit(rel, 0, str(link))
            elif not sent:
                back.left_behind(rel)
            elif back.admit(rel, int(size)):
                try:
                    info = archive.getinfo(EVENTS_PREFIX + rel)
                except KeyError:
                    continue  # (no bytes came: the file stayed empty)
                with archive.open(info) as src:
                    back.write_from(rel, src, info.file_size)
    back.done()


def _unpack(data: bytes, root: Path, folders: list[str], log: Any) -> None:
    """The outputs' zip into the working copy, entry by entry: a name that would lead out
    of its folder is left behind (and said); the rest is kept."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        log(f"the outputs that came back could not be read ({exc})")
        return
    with archive:
        for info in archive.infolist():
            if info.filename.startswith(EVENTS_PREFIX) or info.filename == EVENTS_LIST:
                continue  # (`_event_files_back`)
            name = posixpath.normpath(info.filename)
            top = next((f for f in folders if name.startswith(posixpath.normpath(f) + "/")), None)
            if top is None or name.startswith(("/", "../")) or "/../" in name or info.is_dir():
                if not info.is_dir():
                    log(f"{info.filename} was not copied back: its path leads out of {folders[0]}/")
                continue
            dest = root / name
            if any(p.is_symlink() for p in [dest, *dest.parents] if root in p.parents):
                log(f"{info.filename} was not copied back: a link is on its way")
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(dest, "wb") as f:
                while chunk := src.read(1 << 20):
                    f.write(chunk)


# --------------------------------------------------------------------------- target test


def check_ray(raw: dict[str, Any]) -> list[Check]:
    """`runyard target test` for a ray target: the dashboard answers (and its Ray
    version), the live nodes and their resources, and whether a run's request fits."""
    try:
        options = RayOptions.from_target(raw)
        cluster = cluster_for(options)
    except UsageError as exc:
        return [Check("cluster", False, exc.message, exc.hint)]
    try:
        version = cluster.version()
    except RunyardError as exc:
        return [
            Check("cluster", False, exc.message, exc.hint or START_FIX),
            Check("resources", False, "not checked: the cluster did not answer"),
        ]
    checks = [Check("cluster", True, f"{cluster.address} (Ray {version.get('ray_version')})")]
    try:
        nodes = cluster.nodes()
    except (RunyardError, ValueError) as exc:
        detail = getattr(exc, "message", str(exc))
        return [*checks, Check("resources", True, f"not checked: {detail}")]
    totals: dict[str, float] = {}
    for node in nodes:
        for key, value in (node.get("resources_total") or {}).items():
            if key in ("CPU", "GPU", "memory"):
                totals[key] = totals.get(key, 0.0) + float(value)
    have = ", ".join(
        _amount(k, totals.get(k, 0.0))
        for k in ("CPU", "GPU", "memory")
        if k != "GPU" or k in totals
    )
    count = f"{len(nodes)} live node{'s' * (len(nodes) != 1)}"
    short = largest_fit(nodes, options.wanted())
    wanted = ", ".join(_amount(k, v) for k, v in options.wanted().items()) or "nothing"
    if short:
        checks.append(
            Check(
                "resources",
                False,
                f"{count}: {have}; a run asks for {short}",
                "lower `num_cpus`, `num_gpus`, `memory` or `resources` in the target file, or "
                "add a node that has them",
            )
        )
    else:
        checks.append(Check("resources", True, f"{count}: {have}; a run asks for {wanted}"))
    return checks
