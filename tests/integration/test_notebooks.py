"""Notebooks as runs, end to end with a real Jupyter kernel: `runyard submit NB.ipynb
-p NAME=VALUE` on the local target (parameters injected after the `parameters` cell,
each cell in the log with its output, `runyard.log_*` from a cell recorded, the executed
notebook in outputs, a failing cell and a dying kernel fail the run with their number
and why), bad notebooks refused before anything is recorded, and the same notebook on
a Docker target (records relayed from the kernel through the container's stderr) and
an ssh target. The run's environment gets nbclient, nbformat and ipykernel from the
package index the environments use. Under CI=true a missing engine or sshd fails."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.helpers import commit_all, run_logs, runyard, show_run, submit_run, wait_run

pytestmark = pytest.mark.integration


def _cell(source: str, tags: list[str] | None = None, kind: str = "code") -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "metadata": {"tags": tags or []}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _notebook(*cells: dict[str, Any]) -> str:
    """nbformat 4.4 (no cell ids), with a kernel only its author's machine had."""
    spec = {"name": "conda-env-analysis-py", "display_name": "analysis", "language": "python"}
    return json.dumps(
        {"cells": list(cells), "metadata": {"kernelspec": spec}, "nbformat": 4, "nbformat_minor": 4}
    )


ANALYSIS = _notebook(
    _cell("# Analysis\nA notebook made elsewhere.", kind="markdown"),
    _cell("lr = 0.5\nepochs = 3\nlabel = 'default'", ["parameters"]),
    _cell(
        "import os, sys\nimport runyard\nimport six\n"
        "print('lr', repr(lr), type(lr).__name__, 'label', repr(label))\n"
        "print('a warning to stderr', file=sys.stderr)"
    ),
    _cell(
        "for step in range(epochs):\n"
        "    runyard.log_metric('loss', lr / (step + 1), step=step)\n"
        "    print('step', step, flush=True)\n"
        "lr * 100"
    ),
)
FAILING = _notebook(
    _cell("x = 41", ["parameters"]),
    _cell("import runyard\nrunyard.log_metric('before', 1.0)\nprint('cell two ran')"),
    _cell("y = x + 1\nraise ValueError(f'bad value {y}')"),
    _cell("print('never printed')"),
)
DYING = _notebook(
    _cell("print('alive', flush=True)"),
    _cell("import os\nos._exit(7)"),
    _cell("print('never printed')"),
)


@pytest.fixture
def proj(project: Path) -> Path:
    (project / "analysis.ipynb").write_text(ANALYSIS)
    (project / "failing.ipynb").write_text(FAILING)
    (project / "dying.ipynb").write_text(DYING)
    (project / "requirements.txt").write_text("six\n")
    commit_all(project, "notebooks")
    return project


def _executed(proj: Path, run_id: str, name: str) -> dict[str, Any]:
    path = proj / ".runyard/state/runs" / run_id / "outputs" / name
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def _source(cell: dict[str, Any]) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _texts(cell: dict[str, Any]) -> str:
    out = []
    for output in cell.get("outputs", []):
        text = output.get("text") or output.get("data", {}).get("text/plain") or ""
        out.append(text if isinstance(text, str) else "".join(text))
    return "".join(out)


def _check_analysis_run(proj: Path, run_id: str, env: dict[str, str] | None = None) -> None:
    """What every target must give for `analysis.ipynb -p lr=0.2 -p label=x`."""
    run = wait_run(proj, run_id, env=env, timeout=600)
    log = run_logs(proj, run_id, env=env)
    assert run["status"] == "completed", (run["reason"], log)
    argv = ["-m", "runyard_notebook_runner", "analysis.ipynb", "-p", "lr=0.2", "-p", "label=x"]
    assert run["command"][1:] == argv
    # per-cell progress, with the cells' stdout and stderr
    assert "[cell 1/3] lr = 0.5" in log
    assert "[parameters] lr = 0.2, label = 'x' (injected)" in log
    assert "[cell 2/3] import os, sys" in log
    assert "[cell 3/3] for step in range(epochs):" in log
    assert "lr 0.2 float label 'x'" in log
    assert "a warning to stderr" in log
    assert log.index("[cell 3/3]") < log.index("step 2") < log.index("runyard: ran analysis.ipynb")
    # the cells' runyard.log_metric calls and the parameters are recorded
    assert run["params"] == {"lr": "0.2", "label": "x"}
    summary = {m["key"]: m for m in run["metrics_summary"]}
    assert summary["loss"]["count"] == 3 and summary["loss"]["last"] == pytest.approx(0.2 / 3)
    # the executed notebook is kept in outputs, with the injected cell and the outputs
    assert {a["path"] for a in run["artifacts"]} == {"analysis.ipynb"}
    nb = _executed(proj, run_id, "analysis.ipynb")
    cells = nb["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "code", "code", "code", "code"]
    assert "parameters" in cells[1]["metadata"]["tags"]
    assert cells[2]["metadata"]["tags"] == ["injected-parameters"]
    assert _source(cells[2]).splitlines()[1:] == ["lr = 0.2", "label = 'x'"]
    assert "lr 0.2 float" in _texts(cells[3])
    assert "20.0" in _texts(cells[4]) and "step 2" in _texts(cells[4])
    assert [c["execution_count"] for c in cells[1:]] == [1, 2, 3, 4]


def test_local_notebook_run_injects_parameters_logs_cells_records_metrics_and_keeps_it(
    proj: Path,
) -> None:
    submitted = runyard(
        proj, "submit", "-d", "analysis.ipynb", "-p", "lr=0.2", "-p", "label=x", check=True
    )
    run_id = submitted.stdout.split()[0]
    _check_analysis_run(proj, run_id)
    # the environment was the project's requirements with a kernel added
    packages = show_run(proj, run_id)["lock"]["packages"]
    assert {"six", "nbclient", "nbformat", "ipykernel"} <= set(packages)


def test_a_parameter_the_parameters_cell_does_not_set_is_injected_with_a_warning(
    proj: Path,
) -> None:
    (proj / "plain.ipynb").write_text(_notebook(_cell("print('seed is', seed)")))
    commit_all(proj, "plain")
    submitted = runyard(proj, "submit", "-d", "plain.ipynb", "-p", "seed=7", check=True)
    assert "plain.ipynb has no code cell tagged `parameters`: seed is injected" in (
        submitted.stderr
    )
    run_id = submitted.stdout.split()[0]
    run = wait_run(proj, run_id, timeout=600)
    assert run["status"] == "completed", run["reason"]
    assert "seed is 7" in run_logs(proj, run_id)
    first = _executed(proj, run_id, "plain.ipynb")["cells"][0]
    assert first["metadata"]["tags"] == ["injected-parameters"]
    assert _source(first).endswith("seed = 7")
    warned = runyard(proj, "submit", "-d", "analysis.ipynb", "-p", "epochs=1", "-p", "nope=1")
    assert "nope is not set in the `parameters` cell (code cell 1)" in warned.stderr
    assert "epochs" not in warned.stderr.split("warning:")[-1]
    wait_run(proj, warned.stdout.split()[0], timeout=600)


def test_a_notebook_of_a_conda_project_runs_and_reruns_in_its_environment(project: Path) -> None:
    """The project's spec is a conda env file: the notebook's environment keeps its
    packages and the interpreter it asks for (as MLflow's python_env.yaml) with a kernel
    added; a rerun builds from the run's lock, which holds the kernel too."""
    import sys

    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    (project / "environment.yml").write_text(
        f"name: analysis\ndependencies:\n  - python={version}\n  - six\n  - pip:\n    - packaging\n"
    )
    (project / "analysis.ipynb").write_text(ANALYSIS)
    commit_all(project, "conda project")
    run_id = submit_run(project, "analysis.ipynb", "-p", "epochs=1")
    run = wait_run(project, run_id, timeout=600)
    assert run["status"] == "completed", (run["reason"], run_logs(project, run_id))
    assert "from .runyard-notebook/python_env.yaml" in run_logs(project, run_id)
    assert {"six", "packaging", "ipykernel"} <= set(run["lock"]["packages"])
    again = runyard(project, "runs", "rerun", "-d", run_id, check=True).stdout.split()[0]
    rerun = wait_run(project, again, timeout=600)
    assert rerun["status"] == "completed", (rerun["reason"], run_logs(project, again))
    assert rerun["params"] == {"epochs": "1"}
    assert rerun["lock"]["packages"] == run["lock"]["packages"]


def test_a_failing_cell_fails_the_run_with_its_number_and_traceback(proj: Path) -> None:
    run_id = submit_run(proj, "failing.ipynb", "-p", "x=1")
    run = wait_run(proj, run_id, timeout=600)
    log = run_logs(proj, run_id)
    assert run["status"] == "failed", log
    assert run["exit_code"] == 1
    assert "failed at cell 3 of 4 (y = x + 1)" in run["reason"]
    assert "outputs/failing.ipynb" in run["reason"]
    assert "ValueError: bad value 2" in log
    assert "raise ValueError(f'bad value {y}')" in log  # the traceback, with the line
    assert "\x1b[" not in log  # without the terminal's colour codes
    assert "cell two ran" in log and "never printed" not in log
    assert show_run(proj, run_id)["metrics"] == {"before": 1.0}
    cells = _executed(proj, run_id, "failing.ipynb")["cells"]
    errors = [o for o in cells[3]["outputs"] if o["output_type"] == "error"]
    assert errors and errors[0]["ename"] == "ValueError"
    assert cells[4]["execution_count"] is None  # the cells after it did not run


def test_a_dying_kernel_fails_the_run_with_a_clear_reason(proj: Path) -> None:
    run_id = submit_run(proj, "dying.ipynb")
    run = wait_run(proj, run_id, timeout=600)
    log = run_logs(proj, run_id)
    assert run["status"] == "failed", log
    assert "the kernel died at cell 2 of 3 (import os)" in run["reason"]
    assert "alive" in log and "never printed" not in log
    assert "alive" in _texts(_executed(proj, run_id, "dying.ipynb")["cells"][0])


def test_a_canceled_notebook_run_stops_its_kernel_and_keeps_what_ran(proj: Path) -> None:
    (proj / "slow.ipynb").write_text(
        _notebook(
            _cell("import os, time\nprint('kernel pid', os.getpid(), flush=True)"),
            _cell("for i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.2)"),
        )
    )
    commit_all(proj, "slow")
    run_id = submit_run(proj, "slow.ipynb")
    log = helpers.until(
        lambda: (text := run_logs(proj, run_id)) and "tick 3" in text and text,
        timeout=600,
        what="the slow cell ticking",
    )
    pid = int(log.split("kernel pid ")[1].split()[0])
    runyard(proj, "runs", "cancel", run_id, check=True)
    run = wait_run(proj, run_id, timeout=120)
    assert run["status"] == "canceled", run
    assert "stopped at cell 2 of 2" in run_logs(proj, run_id)
    helpers.until(lambda: not Path(f"/proc/{pid}").exists(), timeout=30, what="the kernel gone")
    cells = _executed(proj, run_id, "slow.ipynb")["cells"]
    assert "kernel pid" in _texts(cells[0])


def test_bad_notebooks_and_parameters_are_refused_before_anything_is_recorded(
    proj: Path,
) -> None:
    (proj / "broken.ipynb").write_text('{"cells": [\n  {"cell_type": "code" "source": ""}]}')
    (proj / "prose.ipynb").write_text(_notebook(_cell("just words", kind="markdown")))
    (proj / "old.ipynb").write_text(json.dumps({"nbformat": 3, "worksheets": []}))
    (proj / "badcell.ipynb").write_text(
        _notebook(_cell("x = 1"), {"cell_type": "code", "source": 5, "metadata": {}})
    )
    commit_all(proj, "bad notebooks")
    cases = {
        ("broken.ipynb",): "broken.ipynb: is not a notebook: not valid JSON (line 2, column",
        ("prose.ipynb",): "prose.ipynb: has no code cells, so there is nothing to run",
        ("old.ipynb",): "old.ipynb: is nbformat 3",
        ("badcell.ipynb",): "badcell.ipynb: cell 2 (of 2): field `source` must be text",
        ("analysis.ipynb", "--lr", "1"): "'--lr' is not a parameter",
        ("analysis.ipynb", "-p", "lr"): "-p 'lr': give NAME=VALUE",
        ("analysis.ipynb", "-p", "class=1"): "'class' is not a Python variable name",
        ("analysis.ipynb", "-p"): "-p needs NAME=VALUE after it",
        ("analysis.ipynb", "-p", "lr=1", "--target", "x"): "--target comes after the notebook",
    }
    for args, said in cases.items():
        proc = runyard(proj, "submit", "-d", *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert said in proc.stderr, (args, proc.stderr)
    listed = runyard(proj, "runs", "list", "--json", check=True)
    assert json.loads(listed.stdout) == [], "a refused notebook recorded a run"


def test_notebook_run_on_docker_relays_the_kernels_records(proj: Path, engine: Any) -> None:
    options = helpers.docker_target_options()
    runyard(proj, "target", "add", "dock", "--type", "docker", *options, check=True)
    run_id = submit_run(
        proj, "--target", "dock", "analysis.ipynb", "-p", "lr=0.2", "-p", "label=x", timeout=600
    )
    _check_analysis_run(proj, run_id)


def test_notebook_run_on_an_ssh_target(
    proj: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = helpers.ssh_user(tmp_path / "home")
    workdir = tmp_path_factory.mktemp("remote") / "runyard"
    # the remote interpreter is this one, whose uv package the probe finds: the kernel's
    # packages are installed there with uv (a pip build there: test_env_shared_remote.py)
    helpers.add_ssh_target(proj, env, workdir, "--python", sys.executable)
    run_id = submit_run(
        proj, "--target", "vm", "analysis.ipynb", "-p", "lr=0.2", "-p", "label=x",
        env=env, timeout=600,
    )  # fmt: skip
    _check_analysis_run(proj, run_id, env=env)


def test_the_notebook_runner_keeps_to_python_3_8_and_the_kernels_packages() -> None:
    """The runner is shipped into runs like the tracking client, but imports nbclient
    (which the run's environment gets) and, on a Spark target, pyspark: the same checks as the tracking client's, with
    Jupyter's packages allowed besides the standard library."""
    import ast
    import sys

    import runyard
    from tests.unit.test_shipped_code_runs_on_python_3_8 import _RunTimeTyping

    path = Path(runyard.__file__).parent / "runner" / "notebook_runner.py"
    tree = ast.parse(path.read_text("utf-8"), feature_version=(3, 8))
    imported = {
        (node.names[0].name if isinstance(node, ast.Import) else str(node.module)).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
    }
    allowed = set(sys.stdlib_module_names) | {"__future__", "runyard"}
    # pyspark: only as a Spark application's driver, whose environment has it
    assert imported - allowed == {"nbclient", "nbformat", "jupyter_client", "pyspark"}
    visitor = _RunTimeTyping()
    visitor.visit(tree)
    assert visitor.found == []


async def test_a_notebook_submitted_over_lsp_runs_and_its_details_list_the_executed_notebook(
    proj: Path,
) -> None:
    from pygls.exceptions import JsonRpcException

    from tests.integration.lsp_session import Session

    async with Session(proj) as lsp:
        params = {"script": (proj / "analysis.ipynb").as_uri(), "args": ["-p", "epochs=2"]}
        run = await lsp.request("runyard/runs/submit", params)
        await lsp.wait_status(run["id"], "completed", timeout=600)
        assert "[cell 3/3] for step in range(epochs):" in lsp.log_text(run["id"])
        details = await lsp.request("runyard/runs/get", {"runId": run["id"]})
        assert [a["path"] for a in details["artifacts"]] == ["analysis.ipynb"]
        executed = Path(details["outputsDir"]) / "analysis.ipynb"
        assert "epochs = 2" in _source(json.loads(executed.read_text())["cells"][2])
        (proj / "broken.ipynb").write_text("{not json")
        with pytest.raises(JsonRpcException) as err:
            await lsp.request("runyard/runs/submit", {"script": "broken.ipynb"})
        assert "broken.ipynb: is not a notebook: not valid JSON" in err.value.message


def test_parameters_are_typed_as_papermill_types_them_and_injected_once() -> None:
    """The pieces the submitter and the runner share (standard library only)."""
    from runyard.tracking import notebooks

    args = ["-p", "a=True", "-p", "b=false", "-pc=None", "-p", "d=7", "--parameter=e=1e3"]
    args += ["-p", "f=nan", "-p", "g=a b", "-r", "h=7", "-p", "i=", "-p", "d=8"]
    params = notebooks.parse_parameters(args)
    assert params == [
        ("a", True), ("b", False), ("c", None), ("e", 1000.0), ("f", params[4][1]),
        ("g", "a b"), ("h", "7"), ("i", ""), ("d", 8),
    ]  # fmt: skip
    source = notebooks.render(params)
    scope: dict[str, Any] = {}
    exec(source, scope)  # the injected cell gives the values back
    assert scope["f"] != scope["f"] and scope["d"] == 8 and scope["h"] == "7"
    nb = json.loads(ANALYSIS)
    once, at = notebooks.inject(nb, [("lr", 0.3)])
    assert at == 2 and notebooks.tags_of(once["cells"][2]) == ["injected-parameters"]
    twice, _ = notebooks.inject(once, [("lr", 0.4)])  # an executed notebook submitted again
    injected = [c for c in twice["cells"] if "injected-parameters" in notebooks.tags_of(c)]
    assert [notebooks.source_of(c).splitlines()[-1] for c in injected] == ["lr = 0.4"]
    with_ids = dict(nb, nbformat_minor=5)
    assert notebooks.inject(with_ids, [("lr", 1)])[0]["cells"][2]["id"] == "injected-parameters"
    magic = "%matplotlib inline\nlr: float = 0.1\n(a, b) = 1, 2\nn += 1"
    assert sorted(notebooks.assigned_names(magic) or []) == ["a", "b", "lr", "n"]


def test_a_notebook_saved_without_cell_ids_runs_without_nbformat_s_warning(proj: Path) -> None:
    data = json.loads(_notebook(_cell("x = 1", ["parameters"]), _cell("print('x is', x)")))
    data["nbformat_minor"] = 5  # cell ids are asked for from 4.5, and this one has none
    (proj / "noids.ipynb").write_text(json.dumps(data))
    run = wait_run(proj, submit_run(proj, "noids.ipynb", "-p", "x=2"), timeout=600)
    log = run_logs(proj, run["id"])
    assert run["status"] == "completed", log
    assert "x is 2" in log and "MissingIDFieldWarning" not in log
    ids = [cell.get("id") for cell in _executed(proj, run["id"], "noids.ipynb")["cells"]]
    assert all(ids) and len(set(ids)) == len(ids)
