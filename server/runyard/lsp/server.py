"""The Runyard language server: one pygls server, assembled from feature modules.

Each feature module (named in `runyard.lsp.features`, one module per noun) has a
``register(server)`` function that `create_server` (or, for the custom requests, the
warm-up once ``initialize`` is answered) calls; this file holds what they
share: settings pulled with ``workspace/configuration``, finding the project a request
is about, running blocking work off the event loop, and turning Runyard's errors into
JSON-RPC errors. Starting it imports pygls and nothing heavy:
git, YAML and the schema validator load on first use.

Every request gets an answer. pygls drops a request whose message it cannot turn into
its params type (it logs and moves on, and the client waits for ever); `RunyardProtocol`
answers such a request with -32602 instead. Custom requests may leave their params out
(see `convert`); bad params, lone surrogates included, are -32602 naming the field;
anything else that escapes a handler is pygls's -32603.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlparse

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcMethodNotFound
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from runyard import __version__
from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.core.project import Project, find_project
from runyard.lsp.convert import structure_params, unstructure, wire_converter

if TYPE_CHECKING:
    from runyard.lsp import protocol

log = logging.getLogger("runyard.lsp")

T = TypeVar("T")

#: JSON-RPC error codes for Runyard's own errors (the range servers may use).
ERROR_RUNYARD = -32010  # something went wrong; the message says what and what to do
ERROR_USAGE = -32011  # bad input from the user (unknown name, file outside the project)
ERROR_NOT_FOUND = -32012  # a run, target, job or file that does not exist


class RunyardRpcError(JsonRpcException):
    CODE = ERROR_RUNYARD


def rpc_error(exc: RunyardError) -> RunyardRpcError:
    code = ERROR_RUNYARD
    if isinstance(exc, NotFoundError):
        code = ERROR_NOT_FOUND
    elif isinstance(exc, UsageError):
        code = ERROR_USAGE
    message = exc.message + (f" Next: {exc.hint}" if exc.hint else "")
    data = {"message": exc.message, "hint": exc.hint}
    return RunyardRpcError(message=message, code=code, data=data)


def uri_to_path(uri_or_path: str) -> Path:
    if uri_or_path.startswith("file:"):
        return Path(unquote(urlparse(uri_or_path).path))
    return Path(uri_or_path)


def to_utf16(line: str, column: int) -> int:
    """A column counted in code points (Python's str index) as LSP counts it: in UTF-16
    code units, where characters beyond the BMP (emoji) take two."""
    if line.isascii():
        return column
    return column + sum(1 for ch in line[:column] if ord(ch) > 0xFFFF)


def from_utf16(line: str, column: int) -> int:
    """An LSP column (UTF-16 code units) as a Python str index."""
    if line.isascii():
        return column
    units = 0
    for index, ch in enumerate(line):
        if units >= column:
            return index
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line)


def line_at(text: str, line: int) -> str:
    lines = text.split("\n")
    return lines[line] if 0 <= line < len(lines) else ""


def path_to_uri(path: Path) -> str:
    return path.resolve().as_uri()


@attrs.define
class _UnreadableRequest:
    """A request whose message pygls could not read; answered with `error`."""

    id: int | str
    method: str
    error: JsonRpcException


class RunyardProtocol(LanguageServerProtocol):
    """pygls's protocol, except that a request it cannot read (params that do not fit
    the method's type, for LSP's own methods) is answered with -32602, not dropped."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            msg_id, method = data.get("id"), data.get("method")
            if not isinstance(method, str) or not isinstance(msg_id, int | str):
                raise
            cause = exc.__cause__ or exc
            reason = str(cause).strip() or type(cause).__name__
            error = JsonRpcInvalidParams(message=f"{method}: cannot read the params ({reason})")
            return _UnreadableRequest(msg_id, method, error)

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _UnreadableRequest):
            log.warning("answering an unreadable %s request: %s", message.method, message.error)
            self._send_response(message.id, error=message.error.to_response_error())
            return
        super().handle_message(message)
        if getattr(message, "method", None) == types.INITIALIZE:
            server = self._server
            if isinstance(server, RunyardServer):
                server.warm_up()

    def _get_handler(self, feature_name: str) -> Any:
        try:
            return super()._get_handler(feature_name)
        except JsonRpcMethodNotFound:
            # a request of the views that came before the warm-up registered them
            server = self._server
            if not (isinstance(server, RunyardServer) and server.register_requests()):
                raise
        return super()._get_handler(feature_name)


class RunyardServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "runyard",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            converter_factory=wire_converter,
            protocol_cls=RunyardProtocol,
        )
        self._settings: protocol.Settings | None = None
        self._requests_registered = False
        self.blocking_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="runyard-io")
        self.feeds: dict[Path, Any] = {}  # project root -> live.LiveFeed
        self.on_settings_changed: list[Callable[[], Awaitable[None]]] = []
        self.on_config_changed: list[Callable[[], Awaitable[None]]] = []
        self.background: set[asyncio.Future[Any]] = set()
        #: starts the live feed of a project the server meets (set by the lifecycle feature)
        self.follow: Callable[[Project], None] | None = None
        self._settings_ready: asyncio.Event | None = None
        self._warm: Future[None] | None = None

    @property
    def settings(self) -> protocol.Settings:
        """The client's ``runyard`` settings (the defaults until they are pulled)."""
        if self._settings is None:
            from runyard.lsp.protocol import Settings

            self._settings = Settings()
        return self._settings

    @settings.setter
    def settings(self, value: protocol.Settings) -> None:
        self._settings = value

    def register_requests(self) -> bool:
        """Register the custom requests' features (`features.REQUEST_FEATURES`), which
        imports them and the protocol's types, unless done already; True if done now."""
        if self._requests_registered:
            return False
        self._requests_registered = True
        from runyard.lsp.features import REQUEST_FEATURES, load

        for feature in load(REQUEST_FEATURES):
            feature.register(self)
        return True

    def warm_up(self) -> None:
        """Once `initialize` is answered, import on the I/O pool, while the client sets
        itself up and the settings are asked for: the custom requests' features (then
        registered on the event loop; a request that comes sooner registers them
        itself), and, in a workspace that holds a Runyard project, what the views'
        first requests (server info, the targets and runs lists) import. Requests on the
        pool start after it."""
        if self._warm is not None:
            return
        from runyard.lsp.features import REQUEST_FEATURES

        first = [f"runyard.lsp.features.{name}" for name in REQUEST_FEATURES]
        then: list[str] = []
        projects = self.projects()
        if projects:
            then += FIRST_VIEWS_MODULES
            if any(not p.state_dir.is_dir() for p in projects):
                then += CONFIG_CHECK_MODULES  # no cache of checked files: the list checks them
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # not serving (a test driving the protocol by hand)
            loop = None
            self.register_requests()

        def work() -> None:
            _import_modules(first)
            if loop is not None:
                loop.call_soon_threadsafe(self.register_requests)
            _import_modules(then)

        self._warm = self.blocking_pool.submit(work)

    def settings_ready(self) -> asyncio.Event:
        if self._settings_ready is None:
            self._settings_ready = asyncio.Event()
        return self._settings_ready

    async def ready(self) -> None:
        """Wait (briefly) for the first settings, so early requests see them."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settings_ready().wait(), 3)

    def spawn(self, work: Awaitable[Any]) -> None:
        """Run `work` in the background, keeping a reference until it is done."""
        future = asyncio.ensure_future(work)
        self.background.add(future)
        future.add_done_callback(self.background.discard)

    # ---- projects -----------------------------------------------------------------------

    def workspace_roots(self) -> list[Path]:
        roots: list[Path] = []
        try:
            folders = list(self.workspace.folders.values())
        except RuntimeError:  # not initialized yet
            return roots
        for folder in folders:
            roots.append(uri_to_path(folder.uri))
        root_uri = self.workspace.root_uri
        if not roots and root_uri:
            roots.append(uri_to_path(root_uri))
        return roots

    def projects(self) -> list[Project]:
        """Runyard projects in the workspace: each folder that is (or is inside) one."""
        found: list[Project] = []
        for root in self.workspace_roots():
            project = project_at(root)
            if project is not None and project not in found:
                found.append(project)
        return found

    def project_for(self, where: str | None) -> Project:
        """The project a request names (a folder or file inside it), or the workspace's."""
        if where:
            path = uri_to_path(where)
            project = project_at(path)
            if project is None:
                raise UsageError(
                    f"{path} is not inside a Runyard project.",
                    hint="initialize one with runyard/project/init or `runyard init`",
                )
        else:
            projects = self.projects()
            if not projects:
                raise UsageError(
                    "No Runyard project in this workspace.",
                    hint="initialize one with runyard/project/init or `runyard init`",
                )
            project = projects[0]
        if project.root not in self.feeds and self.follow is not None:
            self.follow(project)  # made with `runyard init` after the server started
        return project

    # ---- blocking work ------------------------------------------------------------------

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the I/O pool, never on the event loop (once the warm-up's
        imports are done: two threads importing the same modules at once can see each
        other's half-run modules)."""
        warm = self._warm
        if warm is not None and not warm.done():
            await asyncio.wrap_future(warm)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.blocking_pool, functools.partial(fn, *args))

    # ---- settings -----------------------------------------------------------------------

    async def pull_settings(self) -> None:
        try:
            await self._pull_settings()
        finally:
            self.settings_ready().set()

    async def _pull_settings(self) -> None:
        caps = self.client_capabilities.workspace
        if not (caps and caps.configuration):
            return
        try:
            result = await self.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="runyard")])
            )
        except Exception as exc:
            log.warning("could not read settings: %s", exc)
            return
        raw = result[0] if result else None
        settings = parse_settings(raw)
        if settings != self.settings:
            self.settings = settings
            for callback in self.on_settings_changed:
                await callback()


#: Imported by the warm-up (`RunyardServer.warm_up`): what answering the views' first
#: requests needs beyond the server itself (the store, the config files' loaders, the
#: targets' operations).
FIRST_VIEWS_MODULES = ("runyard.runner.operations", "runyard.core.config")
#: What checking a target file needs, imported by the warm-up only where the project has
#: no state folder: elsewhere its files may be in the cache of files that checked
#: cleanly (`runyard.core.config.cache`), read without them.
CONFIG_CHECK_MODULES = ("yaml", "jsonschema")


def _import_modules(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the request that needs it says what is wrong
            log.warning("warm-up: could not import %s: %s", name, exc)


def parse_settings(raw: Any) -> protocol.Settings:
    """Settings from the client, keeping the defaults for fields it left out or got
    wrong (a bad value is reported in the log, not fatal)."""
    from runyard.lsp import protocol

    if not isinstance(raw, dict):
        return protocol.Settings()
    known = {
        "defaultTarget",
        "pythonPath",
        "codeLens",
        "inlayHints",
        "liveIntervalMs",
    }
    clean = {k: v for k, v in raw.items() if k in known and v is not None}
    try:
        settings = structure_params(clean, protocol.Settings)
    except ValueError as exc:
        log.warning("ignoring bad runyard settings: %s", exc)
        return protocol.Settings()
    settings.live_interval_ms = max(50, min(settings.live_interval_ms, 5000))
    if settings.default_target == "":
        settings.default_target = None
    return settings


def project_at(path: Path) -> Project | None:
    """The project containing `path`, or None (also for a path no folder can have: a
    NUL character, a name too long for the file system)."""
    try:
        return find_project(path)
    except (UsageError, OSError, ValueError):
        return None


Handler = Callable[[RunyardServer, Any], Awaitable[Any]]


def request(server: RunyardServer, method: str) -> Callable[[Handler], Handler]:
    """Register a custom request: params are checked against the method's params type
    from `protocol.REQUESTS` (an error names the bad field), Runyard errors become
    JSON-RPC errors with the message and the next step, results go out camelCase."""
    from runyard.lsp import protocol

    params_type, _result_type = protocol.REQUESTS[method]

    def decorate(fn: Handler) -> Handler:
        async def handler(params: Any) -> Any:
            try:
                typed = structure_params(params, params_type)
            except ValueError as exc:
                raise JsonRpcInvalidParams(message=f"{method}: {exc}") from None
            await server.ready()
            try:
                result = await fn(server, typed)
            except RunyardError as exc:
                raise rpc_error(exc) from None
            return unstructure(result)

        server.feature(method)(handler)
        return fn

    return decorate


def create_server() -> RunyardServer:
    """The server with the features its capabilities come from (`features.AT_START`);
    the custom requests' features are registered once `initialize` is answered (see
    `RunyardServer.warm_up`): they and the protocol's types are not needed to answer it."""
    from runyard.lsp.features import AT_START, load

    server = RunyardServer()
    for feature in load(AT_START):
        feature.register(server)
    return server
