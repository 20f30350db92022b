"""Fixtures for the end-to-end tests: the packaged extension installed into a real VS Code
(code-server), one browser page on a real Runyard project, shared by a module's tests.

Outside CI a missing code-server, Chromium, playwright or a vsix that does not build
skips these tests with the reason; under CI (CI=1/true/yes) it fails them.
On a failure the page's screenshot, the browser console and the extension's output
channels go to build/e2e-screenshots/<test>-*; the console and output channels of the
whole module also go there at its end (<module>-console.txt, <module>-runyard-output.txt).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.e2e import harness
from tests.e2e.harness import CodeServer, Workbench
from tests.helpers import IN_CI


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"end-to-end setup missing (CI needs it): {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def vsix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension package: RUNYARD_VSIX, or built once per session; a copy, so a
    rebuild in the checkout meanwhile cannot change it under the tests."""
    try:
        harness.check_playwright()
        harness.check_code_server()
        harness.chromium()
        built = harness.build_vsix()
    except harness.Unavailable as exc:
        _unavailable(str(exc))
    return Path(shutil.copy2(built, tmp_path_factory.mktemp("vsix") / built.name))


@pytest.fixture(scope="session")
def code_server(vsix: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodeServer]:
    try:
        python = harness.server_python()
    except harness.Unavailable as exc:
        _unavailable(str(exc))
    server = CodeServer(home=tmp_path_factory.mktemp("code-server"), vsix=vsix, python=python)
    with server.serving():
        yield server


@pytest.fixture(scope="session")
def browser(code_server: CodeServer) -> Iterator[Any]:
    with harness.launched_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def workbench(
    request: pytest.FixtureRequest,
    code_server: CodeServer,
    browser: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workbench]:
    """A code-server window on a fresh project: a git repository with train.py (logs
    params and `loss`/`accuracy` over 30 steps, writes outputs/), xss.py (a metric whose
    name is markup) and wait.py (runs until canceled), made a Runyard project by
    `runyard init`."""
    folder = harness.make_project(
        tmp_path_factory.mktemp("e2e") / "proj",
        {"train.py": harness.train_py(0.1), "xss.py": harness.XSS_PY, "wait.py": harness.WAIT_PY},
    )
    name = request.module.__name__.rsplit(".", 1)[-1]
    with harness.window(browser, code_server, folder, show=False, logs=name) as wb:
        yield wb


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        wb = getattr(item, "funcargs", {}).get("workbench")
        if isinstance(wb, Workbench):
            saved = wb.save_evidence(item.name)
            report.sections.append(
                ("e2e evidence", "\n".join(str(p.relative_to(harness.REPO)) for p in saved))
            )
            report.sections.append(("e2e notifications", wb.notifications_text))
            with contextlib.suppress(Exception):
                report.sections.append(("e2e logs", wb.log_tail()))
    return report
