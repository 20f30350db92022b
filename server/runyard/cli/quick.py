"""Warm submits: a small server that has the CLI imported, for `runyard submit` in a row.

Most of a plain `runyard submit`'s own time is its interpreter importing the CLI, the
snapshot, the store, the config checks and the supervisor (about 0.1 s of the 0.2 s
it adds to the script's start). When submits come in a row (a user iterating, a
script submitting many), the second plain submit within `REPEAT_WINDOW` seconds starts
a **submit server** for the next ones: a detached process that imports all of that
once and then, per submit, forks a child that runs the very same `cli.main.main` the
plain command runs, in the caller's folder, environment, umask and terminal (its
stdin, stdout and stderr are passed over the socket). The caller (this module's
`submit`, imported first by the `runyard` entry point with nothing heavy) waits for the
child's exit status and passes Ctrl-C (SIGINT), SIGTERM and SIGHUP on to it, so a
submit through the server behaves like a plain one: same output, same exit status,
Ctrl-C detaches from the run's log the same way.

Where it applies, and where it steps aside (the caller then runs the plain command,
having done nothing yet):

- only `runyard submit ...`, and not with `RUNYARD_SUBMIT_SERVER=0`;
- one server per user, Python interpreter, Runyard install and environment: the
  socket's name is a checksum of those (`_key`), and the server compares the caller's
  environment in full (less `_VOLATILE`) before it serves;
- the socket lives in a folder of the user's own (`$XDG_RUNTIME_DIR/runyard-<uid>`, or
  under `$TMPDIR` or /tmp), mode 0700, checked before use; the server also checks the
  caller's uid (SO_PEERCRED);
- a Runyard module the server imported that has changed on disk since (an upgrade, an
  edit) makes it decline and leave;
- it leaves after `RUNYARD_SUBMIT_SERVER_IDLE` seconds without a submit (default
  `IDLE_SECONDS`), and when its socket is no longer its own.

A request is one message: its length (4 bytes) and NUL-separated fields (a version
tag, the folder, the umask, the arguments, the environment), with the caller's file
descriptors 0, 1 and 2 attached (SCM_RIGHTS). Replies are lines: `pid N` once the
child runs (from then on the caller never falls back), `exit N` at its end, or `no
REASON` when the server declines. Each served submit is one line in the server's log
beside its socket (`<socket>.log`).
"""

from __future__ import annotations

import os
import sys
import zlib

TYPE_CHECKING = False  # (not typing's: importing typing costs the caller some 10 ms)
if TYPE_CHECKING:
    import _socket

TAG = b"runyard-submit-1"
REPEAT_WINDOW = 60.0  # seconds: a second plain submit within this starts a server
IDLE_SECONDS = 120.0
ANSWER_SECONDS = 10.0  # a caller waits this long for its child's pid, then runs plainly
# what differs between two commands of one shell without meaning anything to Runyard
_VOLATILE = frozenset({"_", "PWD", "OLDPWD", "SHLVL"})
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def enabled() -> bool:
    return os.environ.get("RUNYARD_SUBMIT_SERVER", "1") != "0"


def _folder(create: bool) -> str | None:
    """The user's own folder for submit servers' sockets, or None when there is none fit
    (not ours, or open to others)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp"
    uid = os.getuid()
    folder = os.path.join(base, f"runyard-{uid}")
    try:
        if create and not os.path.isdir(folder):
            os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.lstat(folder)
    except OSError:
        return None
    if st.st_uid != uid or (st.st_mode & 0o077) or not os.path.isdir(folder):
        return None
    return folder


def _key(environ: dict[str, str]) -> str:
    """The checksum naming a server: the interpreter, this Runyard install and the
    environment (less `_VOLATILE`)."""
    parts = [sys.executable, _PACKAGE]
    parts += sorted(f"{k}={v}" for k, v in environ.items() if k not in _VOLATILE)
    return f"{zlib.crc32(chr(0).join(parts).encode('utf-8', 'surrogateescape')):08x}"


def socket_path(create: bool = False) -> str | None:
    folder = _folder(create)
    return None if folder is None else os.path.join(folder, f"submit-{_key(dict(os.environ))}.sock")


# ---------------------------------------------------------------- the caller's side


def _read_line(sock: _socket.socket) -> bytes:
    """One reply line (empty at the end of the stream)."""
    got = b""
    while not got.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        got += chunk
    return got


def submit(argv: list[str]) -> int | None:
    """Run `runyard submit` with `argv` (the words after `runyard`) through this
    environment's submit server: its exit status, or None when there is no server or it
    declined (nothing has been done then: run the plain command)."""
    import _socket

    path = socket_path()
    if path is None:
        return None
    try:
        fields = [TAG, os.fsencode(os.getcwd())]
    except OSError:  # (a folder deleted under the shell: the plain command says so)
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    mask = os.umask(0o022)
    os.umask(mask)
    fields += [str(mask).encode(), str(len(argv)).encode(), *map(os.fsencode, argv)]
    fields += [os.fsencode(f"{k}={v}") for k, v in os.environ.items()]
    body = b"\0".join(fields)
    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
    data = len(body).to_bytes(4, "big") + body
    try:
        sock.settimeout(ANSWER_SECONDS)  # (a server stuck elsewhere: the plain command)
        sock.connect(path)
        sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        if sent < len(data):
            sock.sendall(data[sent:])
        first = _read_line(sock)
    except OSError:
        sock.close()
        return None
    if not first.startswith(b"pid "):
        sock.close()
        return None
    sock.settimeout(None)
    return _wait(sock, int(first[4:]))


def _wait(sock: _socket.socket, child: int) -> int:
    """The served submit's exit status, passing the signals a terminal sends on to it."""
    # the C module: `signal` imports enum, some 5 ms
    import _signal  # type: ignore[import-not-found]

    sent: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        sent.append(signum)
        try:  # noqa: SIM105 (contextlib is not imported on this path)
            os.kill(child, signum)
        except OSError:
            pass

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        _signal.signal(getattr(_signal, name), forward)
    line = _read_line(sock)
    if line.startswith(b"exit "):
        return int(line[5:])
    if sent:
        return 128 + sent[-1]
    sys.stderr.write(
        "runyard: error: the submission ended without an exit status (its process was "
        "killed?)\n  see what it started: runyard runs list\n"
    )
    return 1


def after_plain_submit() -> None:
    """Called after a plain `runyard submit`: the second within `REPEAT_WINDOW` seconds
    starts this environment's submit server (detached) for the next ones."""
    import time

    path = socket_path(create=True)
    if path is None:
        return
    stamp = path[: -len(".sock")] + ".last"
    try:
        recent = time.time() - os.stat(stamp).st_mtime < REPEAT_WINDOW
    except OSError:
        recent = False
    try:
        if not recent:
            with open(stamp, "w"):
                pass
            return
        os.unlink(stamp)
        import subprocess

        subprocess.Popen(
            [sys.executable, "-m", "runyard.cli.quick", "serve", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            # in the folder holding this runyard package (`-m` puts it first on sys.path),
            # none of the user's
            cwd=os.path.dirname(_PACKAGE),
        )
    except OSError:
        return


# ---------------------------------------------------------------- the server's side


def _recv_request(conn: _socket.socket) -> tuple[bytes, list[int]]:
    import array
    import socket

    fds = array.array("i")
    size = fds.itemsize * 3
    head, ancillary, _flags, _addr = conn.recvmsg(4, socket.CMSG_LEN(size))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    body = b""
    try:
        if len(head) != 4:
            raise OSError("short request")
        want = int.from_bytes(head, "big")
        while len(body) < want:
            chunk = conn.recv(min(1 << 16, want - len(body)))
            if not chunk:
                raise OSError("short request")
            body += chunk
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return body, list(fds)


class _Server:
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.idle = float(os.environ.get("RUNYARD_SUBMIT_SERVER_IDLE") or IDLE_SECONDS)
        except ValueError:  # (not a number: the default)
            self.idle = IDLE_SECONDS
        self.environ = {k: v for k, v in os.environ.items() if k not in _VOLATILE}
        self.files = self._runyard_files()
        # this server's own life only (a new one for the same socket starts it afresh)
        self.log = open(path + ".log", "w", buffering=1)  # noqa: SIM115 (the server's life)
        self.log.write(f"server {os.getpid()}\n")

    @staticmethod
    def _runyard_files() -> dict[str, int]:
        found = {}
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if file and file.startswith(_PACKAGE):
                try:
                    found[file] = os.stat(file).st_mtime_ns
                except OSError:
                    found[file] = -1
        return found

    def stale(self) -> str | None:
        for file, mtime in self.files.items():
            try:
                now = os.stat(file).st_mtime_ns
            except OSError:
                now = -1
            if now != mtime:
                return f"{os.path.relpath(file, _PACKAGE)} changed"
        return None

    def refusal(self, cwd: bytes, env: dict[str, str], peer_uid: int) -> str | None:
        if peer_uid != os.getuid():
            return "another user"
        if {k: v for k, v in env.items() if k not in _VOLATILE} != self.environ:
            return "another environment"
        if not os.path.isdir(cwd):
            return "no such folder"
        return self.stale()


def _peer_uid(conn: _socket.socket) -> int:
    import socket

    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    except (OSError, AttributeError):
        return -1
    return int.from_bytes(creds[4:8], sys.byteorder)


def _serve_one(server: _Server, listener: _socket.socket, conn: _socket.socket) -> bool:
    """Answer one request; False when the server must leave (its code changed)."""
    conn.settimeout(ANSWER_SECONDS / 2)  # (a caller that never sends holds no one up)
    body, fds = _recv_request(conn)
    conn.settimeout(None)
    try:
        fields = body.split(b"\0")
        if fields[0] != TAG or len(fds) != 3:
            conn.sendall(b"no unknown request\n")
            return True
        cwd, mask, count = fields[1], int(fields[2]), int(fields[3])
        argv = [os.fsdecode(a) for a in fields[4 : 4 + count]]
        env = dict(os.fsdecode(e).partition("=")[::2] for e in fields[4 + count :] if e)
        why = server.refusal(cwd, env, _peer_uid(conn))
        if why is not None:
            conn.sendall(f"no {why}\n".encode())
            return not why.endswith("changed")
        pid = os.fork()
        if pid == 0:
            listener.close()
            server.log.close()
            _child(conn, fds, cwd, mask, argv, env)  # never returns
        server.log.write(f"{pid} {' '.join(argv)}\n")
        return True
    finally:
        for fd in fds:
            os.close(fd)


def _child(
    conn: _socket.socket,
    fds: list[int],
    cwd: bytes,
    mask: int,
    argv: list[str],
    env: dict[str, str],
) -> None:
    """The served submit: the caller's terminal, folder, umask and environment, then the
    plain command's `main`; its exit status goes back to the caller."""
    import contextlib

    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.chdir(cwd)
        os.umask(mask)
        os.environ.clear()
        os.environ.update(env)
        out, err = sys.__stdout__, sys.__stderr__
        enc = out.encoding if out else "utf-8"
        # the caller's streams, for the rest of this process's life
        sys.stdin = open(0, encoding=enc, closefd=False)  # noqa: SIM115
        sys.stdout = open(  # noqa: SIM115
            1,
            "w",
            encoding=enc,
            errors=out.errors if out else "strict",
            closefd=False,
            buffering=1 if os.isatty(1) else -1,
        )
        sys.stderr = open(  # noqa: SIM115
            2,
            "w",
            encoding=enc,
            errors=err.errors if err else "backslashreplace",
            closefd=False,
            buffering=1,
        )
        sys.argv = ["runyard", *argv]
        conn.sendall(f"pid {os.getpid()}\n".encode())
        from runyard.cli.main import main

        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's --help and usage errors
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                sys.stderr.write(f"{exc.code}\n")
                code = 1
        except KeyboardInterrupt:
            code = 130
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        with contextlib.suppress(OSError):
            conn.sendall(f"exit {code}\n".encode())
        os._exit(code)


def serve(path: str) -> int:
    """The submit server on socket `path` (started by `after_plain_submit`)."""
    import select
    import signal
    import socket
    import time

    # what a submit imports, once for all the submits it serves
    import runyard.cli.common
    import runyard.cli.main
    import runyard.cli.submit
    import runyard.core.config
    import runyard.core.snapshot
    import runyard.runner.supervisor

    runyard.cli.main.parser_for("submit")

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    server = _Server(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    temporary = f"{path}.{os.getpid()}"
    try:
        listener.bind(temporary)
        listener.listen(16)
        os.rename(temporary, path)
        mine = os.stat(path).st_ino
    except OSError:
        listener.close()
        return 1
    last = time.monotonic()
    try:
        while True:
            while True:  # reap the children that have ended
                try:
                    pid, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
            ready, _, _ = select.select([listener], [], [], 1.0)
            if not ready:
                try:
                    ours = os.stat(path).st_ino == mine
                except OSError:
                    ours = False
                if not ours:
                    return 0  # another server took the name, or the folder went
                if time.monotonic() - last > server.idle:
                    break
                continue
            conn, _ = listener.accept()
            last = time.monotonic()
            try:
                if not _serve_one(server, listener, conn):
                    break
            except (OSError, ValueError, IndexError):
                pass
            finally:
                conn.close()
    finally:
        try:
            if os.stat(path).st_ino == mine:
                os.unlink(path)
        except OSError:
            pass
        listener.close()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and len(sys.argv) == 3:
        sys.exit(serve(sys.argv[2]))
    sys.exit("usage: python -m runyard.cli.quick serve SOCKET")
