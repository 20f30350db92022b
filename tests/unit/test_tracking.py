"""The tracking client (``import runyard``), exercised in real child processes.

Each test writes a small script, runs it with the environment the runner sets
(``RUNYARD_RUN_ID``, ``RUNYARD_TRACKING_URI``, ``RUNYARD_OUTPUTS``) and reads the
tracking file back.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from runyard.tracking.wire import decode_points

SERVER = Path(__file__).resolve().parents[2] / "server"
NOTICE = "runyard: not inside a run; metrics are not recorded"


def _env(tmp_path: Path | None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RUNYARD_") and k not in ("PYTHONPATH", "PYTHONSTARTUP")
    }
    env["PYTHONPATH"] = str(SERVER)
    if tmp_path is not None:
        env["RUNYARD_RUN_ID"] = "run-123"
        env["RUNYARD_TRACKING_URI"] = (tmp_path / "tracking.jsonl").as_uri()
        env["RUNYARD_OUTPUTS"] = str(tmp_path / "outputs")
    env.update(extra)
    return env


def _run(
    script: str,
    env: dict[str, str],
    cwd: Path,
    *,
    args: tuple[str, ...] = (),
    python: tuple[str, ...] = (sys.executable,),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    path = cwd / "child_script.py"
    path.write_text(textwrap.dedent(script), encoding="utf-8")
    return subprocess.run(
        [*python, str(path), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    data = (tmp_path / "tracking.jsonl").read_bytes()
    assert data == b"" or data.endswith(b"\n"), "the file must hold whole lines only"
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def _points(records: list[dict[str, Any]]) -> list[list[Any]]:
    return [list(point) for rec in records for point in decode_points(rec)]


# A child script's way to try a call: `attempt(fn, *args, **kwargs)` is None when the
# call is accepted, else [the error's type name, its message].
ATTEMPT = """\
import json
import runyard

def attempt(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return None
"""


def _attempts(script: str, tmp_path: Path) -> dict[str, Any]:
    """Run `script`, which fills a dict `results` with `attempt(...)`s, in a run's
    environment after ATTEMPT; the `results` it ended with."""
    body = ATTEMPT + textwrap.dedent(script) + "print(json.dumps(results))\n"
    proc = _ok(_run(body, _env(tmp_path), tmp_path))
    results: dict[str, Any] = json.loads(proc.stdout)
    return results


def _merged(records: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rec in records:
        out.update(rec.get(kind, {}))
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_end_to_end_metrics_params_tags_artifacts(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\x00" * 1234)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "a.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "ckpt" / "sub").mkdir()
    (tmp_path / "ckpt" / "sub" / "b.txt").write_text("world!", encoding="utf-8")
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "already.txt").write_text("x" * 7, encoding="utf-8")
    script = """
        import math, sys
        import runyard

        class Tensor0d:  # what a 0-d tensor looks like to float()
            def __float__(self):
                return 2.5

        class F(float):
            pass

        print(runyard.active_run_id())
        runyard.log_metric("loss", 0.5, step=0)
        runyard.log_metric("loss", float("nan"), step=1)
        runyard.log_metric("loss", float("inf"), step=2)
        runyard.log_metric("loss", float("-inf"), step=3)
        runyard.log_metric("train/accuracy ü 🚀", 0.1 + 0.2)
        runyard.log_metric("train/accuracy ü 🚀", 1e-310, step=None)
        runyard.log_metric("count", 7, step=10)
        runyard.log_metric("flag", True, step=11)
        runyard.log_metric("tensor", Tensor0d(), step=12)
        runyard.log_metric("sub", F(1.25), step=13)
        runyard.log_metric("big", 2**60, step=2**40)
        runyard.log_metric("neg zero", -0.0, step=0)
        runyard.log_metrics({"a": 1.5, "b/c d": float("nan")}, step=5)
        runyard.log_metrics({"a": 2})
        runyard.log_param("lr", 3e-4)
        runyard.log_params({"optimizer": "adam", "none": None, "layers": [1, 2]})
        runyard.log_param("lr", 1e-3)  # the last value wins
        runyard.set_tag("stage", "dev")
        runyard.set_tag("ünï/côde", 5)
        runyard.log_artifact("model.bin")
        runyard.log_artifact("ckpt")
        runyard.log_artifact(sys.argv[1] + "/outputs/already.txt")
        runyard.log_metric("last", -1.0, step=99)
    """
    proc = _ok(_run(script, _env(tmp_path), tmp_path, args=(str(tmp_path),)))
    assert proc.stdout.strip() == "run-123"
    assert proc.stderr == ""

    records = _records(tmp_path)
    points = _points(records)
    expected: list[tuple[str, float, int | None]] = [
        ("loss", 0.5, 0),
        ("loss", math.nan, 1),
        ("loss", math.inf, 2),
        ("loss", -math.inf, 3),
        ("train/accuracy ü 🚀", 0.1 + 0.2, None),
        ("train/accuracy ü 🚀", 1e-310, None),
        ("count", 7.0, 10),
        ("flag", 1.0, 11),
        ("tensor", 2.5, 12),
        ("sub", 1.25, 13),
        ("big", float(2**60), 2**40),
        ("neg zero", -0.0, 0),
        ("a", 1.5, 5),
        ("b/c d", math.nan, 5),
        ("a", 2.0, None),
        ("last", -1.0, 99),
    ]
    assert len(points) == len(expected)
    for point, (key, value, step) in zip(points, expected, strict=True):
        assert point[0] == key
        assert isinstance(point[1], float) and _same(point[1], value), (point, value)
        assert point[2] == step
        assert isinstance(point[3], int) and point[3] > 1_500_000_000 * 10**9
    assert math.copysign(1.0, points[11][1]) == -1.0  # -0.0 kept
    times = [p[3] for p in points]
    assert times == sorted(times)
    assert points[12][3] == points[13][3], "log_metrics stamps one time for the batch"

    assert _merged(records, "p") == {
        "lr": "0.001",
        "optimizer": "adam",
        "none": "None",
        "layers": "[1, 2]",
    }
    assert _merged(records, "t") == {"stage": "dev", "ünï/côde": "5"}
    artifacts = [a for rec in records for a in rec.get("a", [])]
    assert artifacts == [
        {"path": "model.bin", "size": 1234},
        {"path": "ckpt", "size": 11},
        {"path": "already.txt", "size": 7},
    ]
    outputs = tmp_path / "outputs"
    assert (outputs / "model.bin").read_bytes() == b"\x00" * 1234
    assert (outputs / "ckpt" / "sub" / "b.txt").read_text(encoding="utf-8") == "world!"
    assert (tmp_path / "model.bin").exists(), "log_artifact copies, never moves"


def test_outside_a_run_every_call_is_a_noop_with_one_notice(tmp_path: Path) -> None:
    script = """
        import runyard
        assert runyard.active_run_id() is None
        for _ in range(3):
            runyard.log_metric("loss", 1.0, step=1)
            runyard.log_metric(123, "not a number", step="x")  # never fails outside a run
            runyard.log_metrics({"a": 1})
            runyard.log_metrics(None)
            runyard.log_param("p", 1)
            runyard.log_params({"q": 2})
            runyard.set_tag("t", "v")
            runyard.log_artifact("/no/such/file")
            runyard.flush()
        assert runyard.active_run_id() is None
        print("done")
    """
    proc = _ok(_run(script, _env(None), tmp_path))
    assert proc.stdout.strip() == "done"
    assert proc.stderr.count(NOTICE) == 1
    assert proc.stderr.strip() == NOTICE
    assert not (tmp_path / "tracking.jsonl").exists()

    quiet = _ok(_run(script, _env(None, RUNYARD_QUIET="1"), tmp_path))
    assert quiet.stderr == ""


def test_unsupported_tracking_uri_warns_once_and_records_nothing(tmp_path: Path) -> None:
    script = """
        import runyard
        runyard.log_metric("loss", 1.0)
        runyard.log_param("p", 1)
        runyard.flush()
        print(runyard.active_run_id())
    """
    env = _env(tmp_path, RUNYARD_TRACKING_URI="http://localhost:5000/api")
    proc = _ok(_run(script, env, tmp_path))
    assert proc.stdout.strip() == "None"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unsupported" in lines[0] and "http://" in lines[0]
    assert not (tmp_path / "tracking.jsonl").exists()


def test_bad_keys_and_values_raise_clear_errors(tmp_path: Path) -> None:
    script = """
        results = {
            "int key": attempt(runyard.log_metric, 1, 1.0),
            "empty key": attempt(runyard.log_metric, "", 1.0),
            "str value": attempt(runyard.log_metric, "loss", "0.5"),
            "object value": attempt(runyard.log_metric, "loss", object()),
            "list value": attempt(runyard.log_metric, "loss", [1.0, 2.0]),
            "float step": attempt(runyard.log_metric, "loss", 1.0, step=1.5),
            "bool step": attempt(runyard.log_metric, "loss", 1.0, step=True),
            "bad in batch": attempt(runyard.log_metrics, {"ok": 1.0, "bad": "x"}),
            "non-str key in batch": attempt(runyard.log_metrics, {("t",): 1.0}),
            "batch not a dict": attempt(runyard.log_metrics, [("a", 1.0)]),
            "param key": attempt(runyard.log_param, None, 1),
            "tag key": attempt(runyard.set_tag, 3, "x"),
            "missing artifact": attempt(runyard.log_artifact, "no_such_file.bin"),
        }
        runyard.log_metric("fine", 1.0, step=0)
    """
    results = _attempts(script, tmp_path)
    assert results["int key"][0] == "TypeError" and "must be a str" in results["int key"][1]
    assert results["empty key"][0] == "ValueError"
    for case in ("str value", "object value", "list value"):
        kind, message = results[case]
        assert kind == "TypeError", case
        assert "'loss'" in message and "number" in message, message
    for case in ("float step", "bool step"):
        kind, message = results[case]
        assert kind == "TypeError" and "step" in message and "'loss'" in message, message
    assert results["bad in batch"][0] == "TypeError" and "'bad'" in results["bad in batch"][1]
    assert results["non-str key in batch"][0] == "TypeError"
    assert results["batch not a dict"][0] == "TypeError"
    assert results["param key"][0] == "TypeError"
    assert results["tag key"][0] == "TypeError"
    kind, message = results["missing artifact"]
    assert kind == "FileNotFoundError" and "no_such_file.bin" in message
    # Nothing from the failed calls was recorded, not even the good half of a batch.
    assert _points(_records(tmp_path)) == [["fine", 1.0, 0, _points(_records(tmp_path))[0][3]]]


def test_a_200k_point_burst_is_fully_written_at_exit(tmp_path: Path) -> None:
    script = """
        import runyard
        log = runyard.log_metric
        for i in range(200_000):
            log("loss", i * 0.5, step=i)
        runyard.log_metric("tail", float("nan"))
        # no flush(): the atexit hook must write everything
    """
    _ok(_run(script, _env(tmp_path), tmp_path))
    records = _records(tmp_path)
    points = _points(records)
    assert len(points) == 200_001
    assert all(rec["mc"]["n"] <= 100_000 for rec in records if "mc" in rec)
    for i in range(200_000):
        key, value, step, _ = points[i]
        if key != "loss" or value != i * 0.5 or step != i:
            pytest.fail(f"point {i} is {points[i]!r}")
    assert points[-1][0] == "tail" and math.isnan(points[-1][1]) and points[-1][2] is None


def test_a_tailing_reader_sees_points_while_the_run_goes_on(tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    script = f"""
        import os, time
        import runyard
        runyard.log_metric("live", 42.0, step=7)
        deadline = time.monotonic() + 60
        while not os.path.exists({str(stop)!r}) and time.monotonic() < deadline:
            time.sleep(0.02)
        runyard.log_metric("after", 1.0, step=8)
    """
    path = tmp_path / "child_script.py"
    path.write_text(textwrap.dedent(script), encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, str(path)],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        tracking = tmp_path / "tracking.jsonl"
        seen: list[list[Any]] = []
        deadline = time.monotonic() + 30  # generous upper bound; expected within ~0.2 s
        while time.monotonic() < deadline and not seen:
            if tracking.exists():
                data = tracking.read_bytes()
                whole = data[: data.rfind(b"\n") + 1].decode("utf-8")
                seen = [
                    list(p) for line in whole.splitlines() for p in decode_points(json.loads(line))
                ]
            time.sleep(0.02)
        assert child.poll() is None, "the child must still be running"
        assert [p[:3] for p in seen] == [["live", 42.0, 7]]
    finally:
        stop.touch()
        _out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert [p[:3] for p in _points(_records(tmp_path))] == [["live", 42.0, 7], ["after", 1.0, 8]]


def test_many_threads_lose_no_points(tmp_path: Path) -> None:
    script = """
        import threading
        import runyard

        def work(t):
            for i in range(20_000):
                runyard.log_metric(f"thread{t}", float(i), step=i)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    """
    _ok(_run(script, _env(tmp_path), tmp_path))
    points = _points(_records(tmp_path))
    assert len(points) == 80_000
    for t in range(4):
        mine = [p for p in points if p[0] == f"thread{t}"]
        assert [p[2] for p in mine] == list(range(20_000)), "each thread's order is kept"
        assert [p[1] for p in mine] == [float(i) for i in range(20_000)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_writes_only_its_own_points(tmp_path: Path) -> None:
    script = """
        import os
        import runyard
        runyard.log_metric("parent", 1.0, step=0)  # still buffered at the fork
        pid = os.fork()
        if pid == 0:
            runyard.log_metric("child", 2.0, step=0)
            runyard.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        runyard.log_metric("parent", 3.0, step=1)
    """
    _ok(_run(script, _env(tmp_path), tmp_path))
    points = sorted(p[:3] for p in _points(_records(tmp_path)))
    assert points == [["child", 2.0, 0], ["parent", 1.0, 0], ["parent", 3.0, 1]]


def _shim(tmp_path: Path) -> Path:
    """What the runner does for run environments without Runyard installed."""
    shim = tmp_path / "shim"
    (shim / "runyard").mkdir(parents=True)
    shutil.copy2(SERVER / "runyard" / "__init__.py", shim / "runyard" / "__init__.py")
    shutil.copytree(
        SERVER / "runyard" / "tracking",
        shim / "runyard" / "tracking",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return shim


def test_import_runyard_needs_only_the_standard_library(tmp_path: Path) -> None:
    shim = _shim(tmp_path)
    # -S: no site-packages at all, only the standard library and the shim.
    env = _env(tmp_path, PYTHONPATH=str(shim))
    script = """
        import sys
        before = set(sys.modules)
        import runyard
        new = sorted(set(sys.modules) - before)
        import runyard.tracking.keras  # must not import keras
        assert "keras" not in sys.modules and "tensorflow" not in sys.modules
        print(runyard.__version__)
        print(runyard.__file__)
        print("\\n".join(new))
    """
    proc = _ok(_run(script, env, tmp_path, python=(sys.executable, "-S", "-X", "importtime")))
    version, location, *new_modules = proc.stdout.split()
    assert version == "0.1.0"
    assert Path(location).is_relative_to(shim)
    stdlib = sys.stdlib_module_names
    imported = [line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line]
    imported = [name for name in imported if name and name != "imported package"]
    for name in [*new_modules, *imported]:
        top = name.split(".")[0]
        assert top in stdlib or top == "runyard", f"import runyard pulled in {name}"
    for heavy in ("yaml", "git", "jsonschema", "keras", "tensorflow", "numpy", "json", "typing"):
        assert heavy not in new_modules, f"import runyard imported {heavy}"


def test_import_runyard_from_the_installed_package_stays_light(tmp_path: Path) -> None:
    script = """
        import sys
        import runyard
        runyard.log_metric("x", 1.0)
        print(" ".join(sorted(sys.modules)))
    """
    proc = _ok(_run(script, _env(None, RUNYARD_QUIET="1"), tmp_path))
    modules = set(proc.stdout.split())
    assert "runyard" in modules
    assert not modules & {"yaml", "git", "jsonschema", "runyard.core", "runyard.cli"}


FAKE_KERAS_INIT = """
from keras import callbacks
"""

FAKE_KERAS_CALLBACKS = """
class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass
"""


def test_keras_callback_with_a_fake_keras(tmp_path: Path) -> None:
    # keras is not installed here: a tiny stand-in package with the same
    # `keras.callbacks.Callback` base class exercises the lazy import and hooks.
    fake = tmp_path / "fake"
    (fake / "keras").mkdir(parents=True)
    (fake / "keras" / "__init__.py").write_text(FAKE_KERAS_INIT, encoding="utf-8")
    (fake / "keras" / "callbacks.py").write_text(FAKE_KERAS_CALLBACKS, encoding="utf-8")
    script = """
        import sys
        import runyard.tracking.keras as rk
        assert "keras" not in sys.modules, "importing the module must not import keras"
        from runyard.tracking.keras import Callback
        assert "keras" in sys.modules
        import keras
        assert issubclass(Callback, keras.callbacks.Callback)
        assert rk.Callback is Callback

        class Scalar:  # a 0-d tensor
            def __init__(self, v):
                self.v = v
            def __float__(self):
                return float(self.v)

        cb = Callback(batch_every=2)
        for epoch in range(2):
            for batch in range(3):
                cb.on_train_batch_end(batch, {"loss": Scalar(epoch * 3 + batch), "size": 32})
            cb.on_epoch_end(epoch, {"loss": 0.5 / (epoch + 1), "val_loss": 0.75, "name": "x"})
        cb.on_train_end()
        plain = Callback()
        plain.on_train_batch_end(0, {"loss": 1.0})
        for bad in (0, -1, 1.5, True):
            try:
                Callback(batch_every=bad)
            except (TypeError, ValueError):
                pass
            else:
                raise AssertionError(bad)
        print("ok")
    """
    env = _env(tmp_path, PYTHONPATH=os.pathsep.join([str(SERVER), str(fake)]))
    proc = _ok(_run(script, env, tmp_path))
    assert proc.stdout.strip() == "ok"
    points = [p[:3] for p in _points(_records(tmp_path))]
    assert points == [
        ["batch/loss", 1.0, 2],
        ["batch/size", 32.0, 2],
        ["loss", 0.5, 0],
        ["val_loss", 0.75, 0],
        ["batch/loss", 3.0, 4],
        ["batch/size", 32.0, 4],
        ["batch/loss", 5.0, 6],
        ["batch/size", 32.0, 6],
        ["loss", 0.25, 1],
        ["val_loss", 0.75, 1],
    ]


def test_keras_callback_without_keras_says_what_to_install(tmp_path: Path) -> None:
    shim = _shim(tmp_path)
    script = """
        import runyard.tracking.keras as rk
        try:
            rk.Callback
        except ImportError as exc:
            print(exc)
        else:
            raise AssertionError("expected ImportError")
    """
    env = _env(tmp_path, PYTHONPATH=str(shim))
    proc = _ok(_run(script, env, tmp_path, python=(sys.executable, "-S")))
    assert "keras" in proc.stdout and "tensorflow" in proc.stdout
