"""YAML that stands for far more than it says (alias bombs), and a seeded fuzz of the
target/job/settings loaders: reading a file must end promptly with the data or a
RunyardError naming the file, never another exception, a hang or gigabytes of memory."""

from __future__ import annotations

import random
import resource
from collections.abc import Callable
from pathlib import Path

import pytest

from runyard.core import config
from runyard.core.config import ConfigError, list_jobs, load_job, load_target, validate_document
from runyard.core.errors import RunyardError
from runyard.core.project import Project
from runyard.core.yamlpos import parse_yaml
from tests.fuzz_inputs import alias_bomb, fuzzed_text, seed_texts
from tests.helpers import runyard


def _limit_memory() -> None:
    """For the CLI child: 4 GiB of address space, so a bomb that expands fails fast
    instead of taking the machine's memory (the unpatched CLI took 4.5 GB)."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_cap() -> None:
    text = alias_bomb(levels=6)  # 9**6 = 531,441 strings from 200 bytes
    parsed = parse_yaml(text)
    assert parsed.fatal, "the bomb was expanded instead of refused"
    [problem] = parsed.problems
    assert "100,000" in problem.problem
    assert "alias" in problem.problem and problem.expected
    # the last level's line holds the alias that goes over the limit
    assert problem.span.line == 7, problem
    assert text.splitlines()[problem.span.line - 1].startswith("f:")


def test_a_job_file_with_an_alias_bomb_gets_an_error_naming_the_file_and_line(
    tmp_path: Path,
) -> None:
    project = Project(tmp_path)
    config.init_project(tmp_path)
    (tmp_path / "train.py").write_text("print('hi')\n")
    (project.jobs_dir / "bomb.yml").write_text(alias_bomb(levels=6))
    with pytest.raises(ConfigError) as err:
        load_job(project, "bomb")
    assert err.value.line == 7
    assert str(err.value).startswith(".runyard/jobs/bomb.yml:7:"), str(err.value)
    [listed] = list_jobs(project)
    assert isinstance(listed, ConfigError) and listed.line == 7
    errors = validate_document(alias_bomb(levels=6), "job", project.jobs_dir / "bomb.yml")
    assert [e.line for e in errors] == [7], [str(e) for e in errors]


def test_runyard_jobs_list_answers_a_300_byte_alias_bomb_with_an_error_naming_the_file(
    project: Project,
) -> None:
    (project.root / "train.py").write_text("print('hi')\n")
    bomb = alias_bomb()
    assert len(bomb.encode()) < 300
    (project.jobs_dir / "bomb.yml").write_text(bomb)
    # the timeout is the hang catch (the unpatched CLI ran for minutes), not a timing check
    proc = runyard(project.root, "jobs", "list", timeout=120, preexec_fn=_limit_memory)
    assert proc.returncode != 0, proc.stdout
    assert ".runyard/jobs/bomb.yml:" in proc.stderr + proc.stdout, proc.stderr
    assert "alias" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr


def test_aliases_and_merge_keys_that_expand_modestly_still_load(tmp_path: Path) -> None:
    project = Project(tmp_path)
    config.init_project(tmp_path)
    (tmp_path / "train.py").write_text("print('hi')\n")
    (project.jobs_dir / "train.yml").write_text(
        "script: train.py\nargs: [&lr '0.1', *lr, *lr]\nenv: &env {A: '1', B: '2'}\n"
    )
    job = load_job(project, "train")
    assert job.args == ["0.1", "0.1", "0.1"] and job.env == {"A": "1", "B": "2"}
    # 1,000 aliases of a 51-value list: 51,000 values, under the limit
    block = "[" + ", ".join(str(i) for i in range(50)) + "]"
    text = f"x: &x {{a: 1, b: {block}}}\ny: [{', '.join(['*x'] * 1000)}]\nz: {{<<: *x, c: 2}}\n"
    parsed = parse_yaml(text)
    assert not parsed.problems
    assert len(parsed.data["y"]) == 1000 and parsed.data["y"][999]["b"][49] == 49
    assert parsed.data["z"] == {"a": 1, "b": list(range(50)), "c": 2}


def test_a_recursive_alias_cannot_smuggle_a_bomb_past_the_cap() -> None:
    # `b` sits inside `a` and refers back to it, so when `b` is complete it looks tiny;
    # every later `*b` (outside `a`) expands all of `a` again: 9**3 * 300 values.
    big = "[" + ",".join(['"x"'] * 50) + "]"
    lines = [f"big: &big {big}", "a: &a [&b [*a], *big, *big, *big, *big, *big, *big]"]
    previous = "b"
    for level in range(1, 4):
        lines.append(f"c{level}: &c{level} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = f"c{level}"
    parsed = parse_yaml("\n".join(lines) + "\n")
    assert parsed.fatal, [p.problem for p in parsed.problems]
    assert any("100,000" in p.problem for p in parsed.problems)
    assert len(parsed.spans) <= 300_000


@pytest.mark.parametrize(
    "text", ["gpus: !!int\n", "gpus: !!int ''\n", "x: !!float ''\n", "x: !!bool maybe\n"]
)
def test_a_tagged_value_the_tag_cannot_read_is_a_problem_at_its_line_not_a_crash(
    text: str,
) -> None:
    # found by the fuzz below: PyYAML's own constructors raise IndexError and KeyError
    parsed = parse_yaml("script: train.py\n" + text)
    [problem] = parsed.problems
    assert problem.span.line == 2 and "cannot read the value" in problem.problem


# ---------------------------------------------------------------------- seeded fuzz


def test_loading_fuzzed_target_job_and_settings_files_raises_only_runyard_errors(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261206)
    project = Project(tmp_path)
    config.init_project(tmp_path)
    (tmp_path / "train.py").write_text("print('hi')\n")
    seeds = seed_texts()
    assert seeds, "the templates' target and job files seed the fuzz"
    files = {
        "job": project.jobs_dir / "fuzz.yml",
        "target": project.targets_dir / "fuzz.yml",
        "settings": project.runyard_dir / "config.yml",
    }
    loaders: dict[str, Callable[[], object]] = {
        "job": lambda: load_job(project, "fuzz"),
        "target": lambda: load_target(project, "fuzz"),
        "settings": lambda: config.default_target_name(project),
    }
    for i in range(1000):
        text = fuzzed_text(rng, seeds)
        what = f"input {i}: {text[:300]!r}"
        kind = rng.choice(["job", "target", "settings", "validate"])
        try:
            if kind == "validate":
                validate_document(
                    text, rng.choice(["job", "target"]), files["job"], project=project
                )
                continue
            raw = text.encode("utf-8", "surrogatepass")
            if rng.random() < 0.1:  # bytes that are not UTF-8 at all
                raw = raw[:50] + bytes([rng.randrange(0x80, 0x100)]) + raw[50:]
            files[kind].write_bytes(raw)
            try:
                loaders[kind]()
            except RunyardError as exc:
                assert "Traceback" not in str(exc), what
                if isinstance(exc, ConfigError):
                    assert exc.file == files[kind], (str(exc), what)
            finally:
                files[kind].unlink()
        except AssertionError:
            raise
        except Exception as exc:  # the failure being looked for
            raise AssertionError(f"{type(exc).__name__}: {exc} on {what}") from exc
