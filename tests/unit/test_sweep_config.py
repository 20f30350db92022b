"""Sweep files (`.runyard/sweeps/<name>.yml`): loading with defaults, every space that
cannot be sampled and every unknown name reported with its file, line and field, and
the editor's completion and hover on them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runyard.core.config import (
    ConfigError,
    EarlyStopping,
    Param,
    load_sweep,
    param_argument,
    validate_document,
)
from runyard.core.errors import NotFoundError
from runyard.core.project import Project
from runyard.lsp import yamlintel
from runyard.lsp.features.config_files import config_kind


@pytest.fixture
def project(project: Project) -> Project:
    """A project with a script, a job running it and a second target."""
    (project.root / "train.py").write_text("print('train')\n")
    (project.jobs_dir / "train.yml").write_text("script: train.py\nargs: ['--epochs', '3']\n")
    (project.targets_dir / "gpu-box.yml").write_text("type: local\n")
    return project


def write_sweep(project: Project, text: str, name: str = "search") -> Path:
    path = project.runyard_dir / "sweeps" / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def sweep_error(project: Project, text: str) -> ConfigError:
    """The first error `load_sweep` raises for a sweep file holding `text`; it names
    that file."""
    path = write_sweep(project, text)
    with pytest.raises(ConfigError) as info:
        load_sweep(project, "search")
    assert info.value.file == path
    assert info.value.display == ".runyard/sweeps/search.yml"
    return info.value


GOOD = """\
job: train
space:
  lr: {loguniform: [0.0001, 0.1]}
  layers: {int: [1, 8], step: 2}
  optimizer: {choice: [adam, sgd]}
objective: {metric: val_loss}
max_trials: 12
"""


# --------------------------------------------------------------------------- loading


def test_a_sweep_loads_with_its_defaults(project: Project) -> None:
    write_sweep(project, GOOD)
    sweep = load_sweep(project, "search")
    assert sweep.job == "train" and sweep.script is None
    assert sweep.space == (
        Param("lr", "loguniform", low=0.0001, high=0.1),
        Param("layers", "int", low=1, high=8, step=2),
        Param("optimizer", "choice", values=("adam", "sgd")),
    )
    assert sweep.sampler == "tpe"
    assert (sweep.metric, sweep.direction) == ("val_loss", "minimize")
    assert sweep.max_trials == 12
    assert sweep.parallel == ((None, 1),)
    assert sweep.early_stopping == EarlyStopping(rule="none")
    assert sweep.space[1].listed() == [1, 3, 5, 7]


def test_a_space_of_grids_is_a_grid_sweep_of_every_combination(project: Project) -> None:
    write_sweep(
        project,
        """\
        script: train.py
        args: ["--fast"]
        space:
          lr: {grid: [0.1, 0.01, 0.001]}
          batch: {grid: [16, 32]}
        objective: {metric: acc, direction: maximize}
        parallel: {local: 2, gpu-box: 1}
        early_stopping: {rule: median, startup_trials: 2}
        """,
    )
    sweep = load_sweep(project, "search")
    assert sweep.sampler == "grid"
    assert sweep.max_trials == 6
    assert sweep.parallel == (("local", 2), ("gpu-box", 1))
    assert sweep.early_stopping == EarlyStopping(rule="median", startup_trials=2)
    assert sweep.arguments({"batch": 32, "lr": 0.001}) == ["--lr", "0.001", "--batch", "32"]


def test_parameters_reach_the_script_as_python_writes_them() -> None:
    assert [param_argument(v) for v in (0.001, 1e-05, 2.0, 32, True, False, "adam")] == [
        "0.001",
        "1e-05",
        "2.0",
        "32",
        "true",
        "false",
        "adam",
    ]


def test_an_unknown_sweep_lists_the_ones_there_are(project: Project) -> None:
    write_sweep(project, GOOD, name="lr-search")
    with pytest.raises(NotFoundError) as info:
        load_sweep(project, "lr-serch")
    assert "lr-search" in (info.value.hint or "")


# --------------------------------------------------------------------------- bad input


def test_an_empty_choice_cannot_be_sampled(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        job: train
        space:
          optimizer: {choice: []}
        objective: {metric: loss}
        max_trials: 3
        """,
    )
    assert (err.line, err.field) == (3, "space.optimizer.choice")
    assert "empty" in err.problem


def test_a_range_whose_low_is_above_its_high_cannot_be_sampled(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        job: train
        space:
          dropout: {uniform: [0.5, 0.1]}
        objective: {metric: loss}
        max_trials: 3
        """,
    )
    assert (err.line, err.field) == (3, "space.dropout.uniform")
    assert "low (0.5) is above high (0.1)" in err.problem
    assert err.hint == "swap them: `uniform: [0.1, 0.5]`"


@pytest.mark.parametrize("low", ["0", "-0.1"])
def test_a_log_range_from_zero_or_below_cannot_be_sampled(project: Project, low: str) -> None:
    err = sweep_error(
        project,
        f"""\
        job: train
        space:
          lr: {{loguniform: [{low}, 0.1]}}
        objective: {{metric: loss}}
        max_trials: 3
        """,
    )
    assert (err.line, err.field) == (3, "space.lr.loguniform[0]")
    assert "log scale" in err.problem and "uniform" in (err.hint or "")


def test_an_int_range_upside_down_and_a_step_on_a_float_range(project: Project) -> None:
    write_sweep(
        project,
        """\
        job: train
        space:
          layers: {int: [8, 1]}
          dropout: {uniform: [0.1, 0.5], step: 2}
        objective: {metric: loss}
        max_trials: 3
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_sweep(project, "search")
    found = [(e.line, e.field) for e in (info.value, *info.value.related)]
    assert found == [(3, "space.layers.int"), (4, "space.dropout.step")]


def test_a_value_listed_twice_is_reported_where_it_repeats(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        job: train
        space:
          batch: {grid: [16, 32, "16"]}
        objective: {metric: loss}
        """,
    )
    assert (err.line, err.field) == (3, "space.batch.grid[2]")
    assert "listed twice" in err.problem


def test_a_parameter_needs_exactly_one_way_to_draw_it(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        job: train
        space:
          lr: {step: 2}
        objective: {metric: loss}
        max_trials: 3
        """,
    )
    assert (err.line, err.field) == (3, "space.lr")
    assert "choice" in err.problem and "loguniform" in err.problem


def test_the_grid_sampler_refuses_a_continuous_range(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        job: train
        sampler: grid
        space:
          lr: {loguniform: [0.001, 0.1]}
        objective: {metric: loss}
        """,
    )
    assert (err.line, err.field) == (4, "space.lr.loguniform")
    assert "sampler: tpe" in (err.hint or "")


def test_a_sampler_with_no_end_needs_max_trials(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        job: train
        sampler: random
        space:
          lr: {uniform: [0.001, 0.1]}
        objective: {metric: loss}
        """,
    )
    assert (err.line, err.field) == (2, "sampler")
    assert "max_trials" in err.problem


def test_an_unknown_job_is_named_with_the_jobs_there_are(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        job: trian
        space:
          lr: {choice: [0.1]}
        objective: {metric: loss}
        max_trials: 3
        """,
    )
    assert (err.line, err.column, err.field) == (1, 6, "job")
    assert "no job named 'trian'" in err.problem
    assert "Did you mean 'train'?" in (err.expected or "")


def test_an_unknown_target_in_parallel_points_at_its_key(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        job: train
        space:
          lr: {choice: [0.1]}
        objective: {metric: loss}
        max_trials: 3
        parallel:
          local: 2
          gpu-bx: 4
        """,
    )
    assert (err.line, err.column, err.field) == (8, 3, "parallel.gpu-bx")
    assert "no target named 'gpu-bx'" in err.problem and "gpu-box" in (err.expected or "")


def test_a_missing_script_and_both_job_and_script(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        script: trian.py
        space:
          lr: {choice: [0.1]}
        objective: {metric: loss}
        max_trials: 3
        """,
    )
    assert (err.line, err.field) == (1, "script")
    assert "train.py" in (err.expected or "")
    err = sweep_error(
        project,
        """\
        job: train
        space:
          lr: {choice: [0.1]}
        objective: {metric: loss}
        max_trials: 3
        script: train.py
        """,
    )
    assert (err.line, err.field) == (6, "script")
    assert "both 'job' and 'script' are set" in err.problem


def test_a_setting_of_another_early_stopping_rule(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        job: train
        space:
          lr: {choice: [0.1, 0.2]}
        objective: {metric: loss}
        max_trials: 3
        early_stopping:
          rule: median
          reduction_factor: 3
        """,
    )
    assert (err.line, err.field) == (8, "early_stopping.reduction_factor")
    assert "hyperband" in err.problem


def test_an_objective_without_a_metric(project: Project) -> None:
    err = sweep_error(
        project,
        """\
        job: train
        space:
          lr: {choice: [0.1, 0.2]}
        objective: {direction: maximize}
        max_trials: 3
        """,
    )
    assert (err.line, err.field) == (4, "objective.metric")
    assert err.problem == "required but missing"


# --------------------------------------------------------------------------- the editor


def test_the_editor_knows_sweep_files(project: Project) -> None:
    path = project.runyard_dir / "sweeps" / "search.yml"
    assert config_kind(path) == "sweep"
    assert config_kind(project.runyard_dir / "sweeps" / "notes.txt") is None
    bad = "job: train\nspace:\n  lr: {choice: []}\nobjective: {metric: loss}\nmax_trials: 2\n"
    errors = validate_document(bad, "sweep", path, project=project)
    assert [(e.line, e.field) for e in errors] == [(3, "space.lr.choice")]


def test_completion_offers_sweep_fields_jobs_samplers_and_scripts(project: Project) -> None:
    yamlintel.clear_caches()

    def labels(text: str) -> list[str]:
        lines = text.split("\n")
        items = yamlintel.complete(text, "sweep", len(lines) - 1, len(lines[-1]), project)
        return [item.label for item in items]

    assert {"job", "script", "space", "sampler", "objective", "max_trials", "parallel"} <= set(
        labels("")
    )
    assert labels("job: ") == ["train"]
    assert labels("sampler: ") == ["grid", "random", "tpe"]
    assert labels("early_stopping: ") == ["none", "median", "hyperband"]
    assert labels("script: tr") == ["train.py"]
    assert "job" not in labels("script: train.py\n")  # one of job and script


def test_hover_explains_how_parameters_reach_the_script() -> None:
    info = yamlintel.hover("space:\n  lr: {choice: [1]}\n", "sweep", 0, 2)
    assert info is not None
    assert "--name value" in info.markdown
