"""Warm servers: a process that has a command's modules imported forks a child per
request, so the command starts without its interpreter importing them again.

Two commands use this: `runyard submit` (`cli/quick.py`: submits in a row) and the
language server (`lsp/warm.py`: the next editor window's server). Each is a `Kind`: a
name, a request tag, the environment variable that turns it off, its idle time, and the
environment variables that differ between two callers without meaning anything to it.

How a request goes:

- the caller (`call`, importing nothing heavy) connects to the kind's socket, named by a
  checksum of the user, the interpreter, this Runyard install and the environment (less
  the kind's volatile variables), in a folder of the user's own
  (`$XDG_RUNTIME_DIR/runyard-<uid>`, or under `$TMPDIR` or /tmp; mode 0700, checked
  before use);
- it sends one message: its length (4 bytes) and NUL-separated fields (the kind's tag,
  the folder, the umask, the arguments, the environment), with its file descriptors 0,
  1 and 2 attached (SCM_RIGHTS);
- the server checks the caller's uid (SO_PEERCRED), its environment (in full, less the
  volatile variables) and that none of the Runyard modules it imported changed on disk
  (an upgrade, an edit: it declines and leaves), then forks a child that takes the
  caller's descriptors, folder, umask and environment and runs the command's own `main`;
- replies are lines: `pid N` once the child runs (from then on the caller never falls
  back), `exit N` at its end, or `no REASON` when the server declines. The caller passes
  SIGINT, SIGTERM and SIGHUP on to the child and ends with its exit status. Where a kind
  `follows_caller`, the child also ends when its caller is gone (killed outright).

Where there is no server, or it declines, the caller has done nothing yet and runs the
plain command. A server leaves once no child of its is running and it has been idle for
the kind's idle time (or `<SWITCH>_IDLE` seconds), when its socket is no longer its own,
and when its code changed. Each child is one line in the server's log beside its socket
(`<socket>.log`, which starts with `server <pid>`).
"""

from __future__ import annotations

import os
import sys
import zlib

TYPE_CHECKING = False  # (not typing's: importing typing costs the caller some 10 ms)
if TYPE_CHECKING:
    import _socket
    import subprocess
    from collections.abc import Callable

ANSWER_SECONDS = 10.0  # a caller waits this long for its child's pid, then runs plainly
PACKAGE = os.path.dirname(os.path.abspath(__file__))  # this runyard package's folder


class Kind:
    """One command served warm."""

    def __init__(
        self,
        name: str,
        switch: str,
        idle_seconds: float,
        volatile: frozenset[str],
        volatile_prefixes: tuple[str, ...] = (),
        follows_caller: bool = False,
    ) -> None:
        self.name = name
        self.tag = f"runyard-{name}-1".encode()
        self.switch = switch
        self.idle_seconds = idle_seconds
        self.volatile_names = volatile
        self.volatile_prefixes = volatile_prefixes
        self.follows_caller = follows_caller

    def enabled(self) -> bool:
        return os.environ.get(self.switch, "1") != "0"

    def idle(self) -> float:
        try:
            return float(os.environ.get(self.switch + "_IDLE") or self.idle_seconds)
        except ValueError:  # (not a number: the default)
            return self.idle_seconds

    def volatile(self, name: str) -> bool:
        return name in self.volatile_names or name.startswith(self.volatile_prefixes)

    def lasting(self, environ: dict[str, str]) -> dict[str, str]:
        """The environment less what differs between two callers of the same kind."""
        return {k: v for k, v in environ.items() if not self.volatile(k)}

    def key(self, environ: dict[str, str]) -> str:
        """The checksum naming a server: the interpreter, this Runyard install and the
        lasting environment."""
        parts = [sys.executable, PACKAGE]
        parts += sorted(f"{k}={v}" for k, v in self.lasting(environ).items())
        return f"{zlib.crc32(chr(0).join(parts).encode('utf-8', 'surrogateescape')):08x}"

    def socket_path(self, create: bool = False) -> str | None:
        folder = _folder(create)
        if folder is None:
            return None
        return os.path.join(folder, f"{self.name}-{self.key(dict(os.environ))}.sock")


def _folder(create: bool) -> str | None:
    """The user's own folder for warm servers' sockets, or None when there is none fit
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


def start(kind: Kind, module: str, *extra: str) -> subprocess.Popen[bytes] | None:
    """Start `kind`'s server, detached: `python -m MODULE serve SOCKET EXTRA...`, in the
    folder holding this runyard package (`-m` puts it first on sys.path), none of the
    user's; its process, or None where there is no fit folder for its socket. It is
    this process's child until it leaves: a caller that outlives it reaps it."""
    path = kind.socket_path(create=True)
    if path is None:
        return None
    import subprocess

    try:
        return subprocess.Popen(
            [sys.executable, "-m", module, "serve", path, *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            cwd=os.path.dirname(PACKAGE),
        )
    except OSError:
        return None


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


def call(kind: Kind, argv: list[str]) -> int | None:
    """Run the command with `argv` through this environment's server of `kind`: its exit
    status, or None when there is no server or it declined (nothing has been done then:
    run the plain command)."""
    import _socket

    path = kind.socket_path()
    if path is None:
        return None
    try:
        fields = [kind.tag, os.fsencode(os.getcwd())]
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
    """The served command's exit status, passing the signals a terminal sends on to it."""
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
        "runyard: error: the command ended without an exit status (its process was "
        "killed?)\n  see what it started: runyard runs list\n"
    )
    return 1


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
    def __init__(self, kind: Kind, path: str) -> None:
        self.kind = kind
        self.path = path
        self.idle = kind.idle()
        self.environ = kind.lasting(dict(os.environ))
        self.files = self._runyard_files()
        self.children: set[int] = set()
        # this server's own life only (a new one for the same socket starts it afresh)
        self.log = open(path + ".log", "w", buffering=1)  # noqa: SIM115 (the server's life)
        self.log.write(f"server {os.getpid()}\n")

    @staticmethod
    def _runyard_files() -> dict[str, int]:
        found = {}
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if file and file.startswith(PACKAGE):
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
                return f"{os.path.relpath(file, PACKAGE)} changed"
        return None

    def refusal(self, env: dict[str, str], cwd: bytes, peer_uid: int) -> str | None:
        if peer_uid != os.getuid():
            return "another user"
        if self.kind.lasting(env) != self.environ:
            return "another environment"
        if not os.path.isdir(cwd):
            return "no such folder"
        return self.stale()

    def reap(self) -> bool:
        """Collect the children that have ended; True when any had."""
        any_ended = False
        while self.children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return True
            if pid == 0:
                break
            self.children.discard(pid)
            any_ended = True
        return any_ended


def _peer_uid(conn: _socket.socket) -> int:
    import socket

    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    except (OSError, AttributeError):
        return -1
    return int.from_bytes(creds[4:8], sys.byteorder)


def _serve_one(
    server: _Server, listener: _socket.socket, conn: _socket.socket, run: Callable[[list[str]], int]
) -> bool:
    """Answer one request; False when the server must leave (its code changed)."""
    conn.settimeout(ANSWER_SECONDS / 2)  # (a caller that never sends holds no one up)
    body, fds = _recv_request(conn)
    conn.settimeout(None)
    try:
        fields = body.split(b"\0")
        if fields[0] != server.kind.tag or len(fds) != 3:
            conn.sendall(b"no unknown request\n")
            return True
        cwd, mask, count = fields[1], int(fields[2]), int(fields[3])
        argv = [os.fsdecode(a) for a in fields[4 : 4 + count]]
        env = dict(os.fsdecode(e).partition("=")[::2] for e in fields[4 + count :] if e)
        why = server.refusal(env, cwd, _peer_uid(conn))
        if why is not None:
            conn.sendall(f"no {why}\n".encode())
            return not why.endswith("changed")
        pid = os.fork()
        if pid == 0:
            listener.close()
            server.log.close()
            _child(server.kind, conn, fds, cwd, mask, argv, env, run)  # never returns
        server.children.add(pid)
        server.log.write(f"{pid} {' '.join(argv)}\n")
        return True
    finally:
        for fd in fds:
            os.close(fd)


def _follow(conn: _socket.socket) -> None:
    """End this process once its caller is gone (its end of the socket closed)."""
    import threading

    def watch() -> None:
        try:
            while conn.recv(1 << 10):
                pass
        except OSError:
            pass
        os._exit(1)

    threading.Thread(target=watch, name="runyard-caller", daemon=True).start()


def _child(
    kind: Kind,
    conn: _socket.socket,
    fds: list[int],
    cwd: bytes,
    mask: int,
    argv: list[str],
    env: dict[str, str],
    run: Callable[[list[str]], int],
) -> None:
    """The served command: the caller's descriptors, folder, umask and environment, then
    `run(argv)`; its exit status goes back to the caller."""
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
        conn.sendall(f"pid {os.getpid()}\n".encode())
        if kind.follows_caller:
            _follow(conn)
        try:
            code = run(argv)
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


def serve(kind: Kind, path: str, run: Callable[[list[str]], int]) -> int:
    """The server of `kind` on socket `path`, forking a child that calls `run(argv)` per
    request. The caller has imported what `run` needs, and started no thread."""
    import select
    import signal
    import socket
    import time

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    server = _Server(kind, path)
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
            if server.reap():
                last = time.monotonic()
            ready, _, _ = select.select([listener], [], [], 1.0)
            if not ready:
                try:
                    ours = os.stat(path).st_ino == mine
                except OSError:
                    ours = False
                if not ours:
                    return 0  # another server took the name, or the folder went
                if not server.children and time.monotonic() - last > server.idle:
                    break
                continue
            conn, _ = listener.accept()
            last = time.monotonic()
            try:
                if not _serve_one(server, listener, conn, run):
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
