"""The language server over stdio with hand-written JSON-RPC: a client that can send what
a typed client never would (a request without params, strings with lone surrogates,
params of any shape) and that sees every message the server writes.

Requests the server makes of the client are answered as VS Code would with no settings
(`workspace/configuration` gets one empty object per item; the rest get null)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

#: leave `params` out of a request or notification
MISSING: Any = object()


class RawServer:
    def __init__(self, root: Path, stderr: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.env = env
        self.stderr_path = stderr
        self.proc: asyncio.subprocess.Process | None = None
        self.answers: dict[int | str, asyncio.Future[dict[str, Any]]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.next_id = 0
        self._reader: asyncio.Task[None] | None = None
        self._stderr: Any = None

    async def start(self) -> dict[str, Any]:
        self._stderr = self.stderr_path.open("wb")
        env = dict(os.environ) if self.env is None else self.env
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runyard.lsp",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
            cwd=self.root,
            env=env,
            limit=64 << 20,
        )
        self._reader = asyncio.ensure_future(self._read())
        uri = self.root.as_uri()
        init = await self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": uri,
                "workspaceFolders": [{"uri": uri, "name": self.root.name}],
                "capabilities": {
                    "workspace": {"configuration": True, "workspaceFolders": True},
                    "textDocument": {"publishDiagnostics": {"versionSupport": True}},
                    "window": {"workDoneProgress": True},
                },
            },
        )
        assert "result" in init, init
        self.notify("initialized", {})
        return init

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def stderr_tail(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.alive():
            with contextlib.suppress(Exception):
                await self.request("shutdown", None, timeout=10)
                self.notify("exit", None)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
        if self._stderr is not None:
            self._stderr.close()

    def write(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        body = json.dumps(message).encode()  # ASCII: a lone surrogate goes as \ud800
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def send_request(self, method: str, params: Any = MISSING) -> asyncio.Future[dict[str, Any]]:
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not MISSING:
            message["params"] = params
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.answers[self.next_id] = future
        self.write(message)
        return future

    async def request(
        self, method: str, params: Any = MISSING, timeout: float = 60
    ) -> dict[str, Any]:
        """The whole response: a dict with "result" or "error"."""
        future = self.send_request(method, params)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no answer to {method} within {timeout}s (server alive: {self.alive()});"
                f" server log:\n{self.stderr_tail()}"
            ) from None

    def notify(self, method: str, params: Any = MISSING) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not MISSING:
            message["params"] = params
        self.write(message)

    async def wait_notification(
        self, method: str, match: Any, timeout: float = 60
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for note in reversed(self.notifications):
                if note["method"] == method and match(note.get("params")):
                    found: dict[str, Any] = note
                    return found
            if not self.alive():
                break
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"no {method} notification matched within {timeout}s (server alive:"
            f" {self.alive()}); server log:\n{self.stderr_tail()}"
        )

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        while True:
            length = None
            while True:
                line = await stdout.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None, "a message without Content-Length"
            message = json.loads(await stdout.readexactly(length))
            if "method" in message and "id" in message:
                self._answer_server_request(message)
            elif "method" in message:
                self.notifications.append(message)
            else:
                future = self.answers.pop(message.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(message)

    def _answer_server_request(self, message: dict[str, Any]) -> None:
        result: Any = None
        if message["method"] == "workspace/configuration":
            result = [{} for _ in message.get("params", {}).get("items", [])]
        self.write({"jsonrpc": "2.0", "id": message["id"], "result": result})
