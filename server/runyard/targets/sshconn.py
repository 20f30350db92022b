"""SSH for the targets that reach another machine: host-key trust and clear errors,
shared by `ssh` targets and `docker` targets with an ``ssh://`` engine address.

Host keys are checked against ``~/.ssh/known_hosts``; an unknown key is refused until
the user accepts it explicitly (`runyard target trust`, after checking its
fingerprint). Secrets never come from target files: keys are files named by path, with
their passphrase (if any) from an environment variable, or held by an SSH agent.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runyard.core.errors import RunyardError, UsageError

CONNECT_TIMEOUT = 8.0  # seconds; every error the user can hit shows within 10 s


def paramiko_module(purpose: str) -> Any:
    """paramiko, needed only by targets reached over SSH; the packaged extension leaves
    it (and its compiled dependencies) out."""
    try:
        import paramiko
    except ImportError as exc:
        raise RunyardError(
            f"{purpose} needs the paramiko package, which the Python running Runyard "
            f"({sys.executable}) cannot import ({exc}).",
            hint=f"install it with `{sys.executable} -m pip install paramiko` (a running "
            "Runyard server sees it once restarted)",
        ) from None
    return paramiko


def known_hosts_path() -> Path:
    return Path.home() / ".ssh" / "known_hosts"


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: Any) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def unreachable_error(host: str, port: int, exc: BaseException, what: str = "") -> RunyardError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or "timed out"
    if isinstance(exc, socket.timeout | TimeoutError):
        reason = f"no answer within {CONNECT_TIMEOUT:.0f}s"
    return RunyardError(
        f"Cannot reach {host}:{port}{what} ({reason}).",
        hint="check that the machine is up and the address and port are right",
    )


def unknown_host_key_error(host: str, port: int, target: str = "TARGET") -> RunyardError:
    return RunyardError(
        f"The SSH host key of {host}:{port} is not known, so Runyard will not connect to it.",
        hint="check the key's fingerprint with the machine's owner, then accept it with "
        f"`runyard target trust {target}`",
    )


def changed_host_key_error(host: str, port: int) -> RunyardError:
    return RunyardError(
        f"The SSH host key of {host}:{port} does not match the one in "
        f"{known_hosts_path()}: the machine was reinstalled, or someone is intercepting "
        "the connection. Runyard will not connect to it.",
        hint="check with the machine's owner; if the new key is right, remove the old "
        f"line (`ssh-keygen -R '{known_hosts_name(host, port)}'`) and accept the new one "
        "with `runyard target trust TARGET`",
    )


def fetch_host_key(host: str, port: int) -> tuple[str, Any]:
    """(known_hosts name, key) that the SSH server at host:port presents."""
    paramiko = paramiko_module("Checking an SSH host key")
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise unreachable_error(host, port, exc) from None
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=CONNECT_TIMEOUT)
        key = transport.get_remote_server_key()
    except (paramiko.SSHException, OSError) as exc:
        raise RunyardError(f"{host}:{port} did not complete an SSH handshake: {exc}") from None
    finally:
        transport.close()
    return known_hosts_name(host, port), key


def trust_host_key(host: str, port: int, expected: str | None) -> tuple[str, str, bool]:
    """Record the host key of host:port in ~/.ssh/known_hosts when its fingerprint is
    `expected`. Returns (host, fingerprint, written); with `expected` None nothing is
    written, so the caller can show the fingerprint and ask first."""
    paramiko = paramiko_module("Trusting an SSH host key")
    name, key = fetch_host_key(host, port)
    found = fingerprint(key)
    if expected is None:
        return name, found, False
    if expected != found:
        raise RunyardError(
            f"The host key of {name} has fingerprint {found}, not {expected}; nothing was written.",
            hint="someone may be intercepting the connection; check with the machine's owner",
        )
    path = known_hosts_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = paramiko.HostKeys()
    if path.exists():
        keys.load(str(path))
    if keys.lookup(name) and keys.check(name, key):
        return name, found, False
    with path.open("a") as f:
        f.write(f"{name} {key.get_name()} {key.get_base64()}\n")
    return name, found, True


# --------------------------------------------------------------------------- logging in


@dataclass(frozen=True)
class Endpoint:
    """Where and how to log in: from an `ssh` target's fields, completed by
    ~/.ssh/config (User, Port, IdentityFile) where the target leaves them out."""

    host: str
    port: int
    user: str
    identity_file: str | None
    passphrase_env: str | None
    use_agent: bool
    target: str = "TARGET"  # the target's name, for hints

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def endpoint(options: dict[str, Any], target: str = "TARGET") -> Endpoint:
    host = str(options.get("host") or "")
    if not host:
        raise UsageError("The ssh target has no `host`.", hint="set `host:` in the target file")
    config: dict[str, Any] = {}
    config_path = Path.home() / ".ssh" / "config"
    if config_path.is_file():
        paramiko = paramiko_module("An ssh target")
        with contextlib.suppress(Exception):  # a broken ~/.ssh/config only loses defaults
            config = dict(paramiko.SSHConfig.from_path(str(config_path)).lookup(host))
    port = options.get("port") or config.get("port") or 22
    user = options.get("user") or config.get("user") or getpass.getuser()
    identity = options.get("identity_file")
    if not identity and config.get("identityfile"):
        found = [p for p in config["identityfile"] if Path(p).expanduser().is_file()]
        identity = found[0] if found else None
    return Endpoint(
        host=str(config.get("hostname") or host),
        port=int(port),
        user=str(user),
        identity_file=str(Path(str(identity)).expanduser()) if identity else None,
        passphrase_env=str(options["passphrase_env"]) if options.get("passphrase_env") else None,
        use_agent=options.get("use_agent") is not False,
        target=target,
    )


def login_refused_error(ep: Endpoint, detail: str = "") -> RunyardError:
    if ep.identity_file:
        how = f"with the key {ep.identity_file}"
        hint = (
            f"authorize that key for {ep.user} on {ep.host} (`ssh-copy-id -i "
            f"{ep.identity_file} -p {ep.port} {ep.user}@{ep.host}`), or fix `identity_file:` "
            "or `user:` in the target file"
        )
    else:
        how = "with your SSH agent's and default keys"
        hint = (
            "load your key into ssh-agent (`ssh-add`), or name it with `identity_file:` in "
            "the target file; check `user:`"
        )
    return RunyardError(
        f"SSH refused the login as {ep.user} at {ep.host}:{ep.port} {how}"
        + (f" ({detail})" if detail else "")
        + ".",
        hint=hint,
    )


def _passphrase(ep: Endpoint) -> str | None:
    if not ep.passphrase_env:
        return None
    value = os.environ.get(ep.passphrase_env)
    if value is None:
        raise UsageError(
            f"The environment variable {ep.passphrase_env} (the target's `passphrase_env`) "
            "is not set, so the key's passphrase is unknown.",
            hint=f"set {ep.passphrase_env} where Runyard runs, or load the key into ssh-agent "
            "(`ssh-add`) and remove `passphrase_env`",
        )
    return value


def connect(ep: Endpoint) -> Any:
    """A logged-in paramiko SSHClient; every failure as a clear RunyardError, within
    about CONNECT_TIMEOUT seconds."""
    paramiko = paramiko_module("An ssh target")
    if ep.identity_file and not Path(ep.identity_file).is_file():
        raise UsageError(
            f"The key file {ep.identity_file} (the target's `identity_file`) does not exist.",
            hint="fix `identity_file:` in the target file, or remove it to use ssh-agent",
        )
    passphrase = _passphrase(ep)
    client = paramiko.SSHClient()
    path = known_hosts_path()
    with contextlib.suppress(OSError):
        client.load_system_host_keys()  # /etc/ssh/ssh_known_hosts is not read by paramiko
        if path.is_file():
            client.load_host_keys(str(path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        sock = socket.create_connection((ep.host, ep.port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise unreachable_error(ep.host, ep.port, exc) from None
    try:
        client.connect(
            ep.host,
            port=ep.port,
            username=ep.user,
            key_filename=ep.identity_file,
            passphrase=passphrase,
            allow_agent=ep.use_agent,
            look_for_keys=ep.identity_file is None,
            timeout=CONNECT_TIMEOUT,
            banner_timeout=CONNECT_TIMEOUT,
            auth_timeout=CONNECT_TIMEOUT,
            channel_timeout=CONNECT_TIMEOUT,
            sock=sock,
        )
    except paramiko.BadHostKeyException:
        client.close()
        raise changed_host_key_error(ep.host, ep.port) from None
    except paramiko.PasswordRequiredException:
        client.close()
        raise RunyardError(
            f"The key {ep.identity_file} is protected by a passphrase Runyard was not given.",
            hint="load it into ssh-agent (`ssh-add`), or set `passphrase_env:` in the target "
            "to the name of an environment variable holding the passphrase",
        ) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        raise login_refused_error(ep, str(exc).rstrip(".")) from None
    except paramiko.SSHException as exc:
        client.close()
        text = str(exc)
        if "not found in known_hosts" in text:
            raise unknown_host_key_error(ep.host, ep.port, ep.target) from None
        if "private key file is encrypted" in text.lower() or "passphrase" in text.lower():
            raise RunyardError(
                f"The key {ep.identity_file} could not be read: {text}.",
                hint="check the passphrase in the variable named by `passphrase_env:`",
            ) from None
        raise RunyardError(
            f"SSH to {ep.host}:{ep.port} failed: {text}.",
            hint="check the target with `runyard target test`",
        ) from None
    except (OSError, EOFError) as exc:
        client.close()
        raise unreachable_error(ep.host, ep.port, exc, " over SSH") from None
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(5)
    return client
