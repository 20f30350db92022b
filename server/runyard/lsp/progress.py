"""LSP work-done progress for long requests (submitting a run, deploying a model), with
cancellation.

A request uses the token its client sent (``workDoneToken``) or, when the client can
show progress, asks the client to create one (`progress_token`). `WorkProgress` is
begun and ended on the event loop and reported from the thread doing the work
(`WorkProgress.report_threadsafe`); a client's cancel of the token sets
`WorkProgress.canceled`, which that work checks between its stages. Without a token
every call is a no-op, so callers never branch on whether the client shows progress.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

from lsprotocol import types

from runyard.lsp.server import RunyardServer


class WorkProgress:
    """Work-done progress of one long request (a submission, a deployment), begun and
    ended on the event loop and reported from the thread doing the work."""

    def __init__(
        self,
        server: RunyardServer,
        token: str | int | None,
        title: str = "Runyard: submitting run",
        first: str = "snapshot",
        cancellable: bool = True,
    ) -> None:
        self.server = server
        self.token = token
        self.title = title
        self.first = first
        self.cancellable = cancellable
        self.loop = asyncio.get_running_loop()
        self.canceled = threading.Event()

    def begin(self) -> None:
        if self.token is None:
            return
        self.server.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(
                title=self.title, message=self.first, cancellable=self.cancellable, percentage=0
            ),
        )
        future = self.server.work_done_progress.tokens.get(self.token)
        if future is not None:
            future.add_done_callback(lambda f: self.canceled.set() if f.cancelled() else None)

    def report(self, message: str, percentage: int) -> None:
        if self.token is None:
            return
        value = types.WorkDoneProgressReport(
            message=message, percentage=percentage, cancellable=self.cancellable
        )
        self.server.work_done_progress.report(self.token, value)

    def report_threadsafe(self, message: str, percentage: int) -> None:
        self.loop.call_soon_threadsafe(self.report, message, percentage)

    def end(self, message: str) -> None:
        if self.token is None:
            return
        self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        self.server.work_done_progress.tokens.pop(self.token, None)


async def progress_token(
    server: RunyardServer, given: str | int | None, what: str = "submit"
) -> str | int | None:
    """The token to report `what` under: the one the client sent, else a new one the
    client agreed to create; None when the client shows no progress or refused."""
    if given is not None:
        return given
    window = server.client_capabilities.window
    if not (window and window.work_done_progress):
        return None
    token = f"runyard-{what}-{uuid.uuid4().hex[:12]}"
    try:
        await server.work_done_progress.create_async(token)
    except Exception:
        return None
    return token
