"""Dependency specs a project already has, read as PyPI requirements: conda env files
(`environment.yml`, `conda.yaml`, Azure ML Workbench's `aml_config/conda_dependencies.yml`),
MLflow's `python_env.yaml` and uv's `uv.lock`.

Conda itself is never used (its channels cannot be assumed reachable, and one installer
for every target keeps environments comparable). A conda file is resolved from PyPI:

- its `pip:` section is taken as it is;
- each conda package becomes its PyPI name: the same name for most, a small table for
  the ones that differ (`CONDA_TO_PYPI`: pytorch -> torch, py-xgboost -> xgboost, ...);
- channels (`conda-forge::numpy`, the `channels:` list) and build strings
  (`numpy=1.26=py311h...`, `numpy 1.26.4 py311_0`) are dropped, and conda's version
  syntax becomes pip's (`=1.26` -> `==1.26.*`, `1.26.4` -> `==1.26.4`);
- conda packages that are not Python packages but what pip's wheels bring with them
  (`NOT_FROM_PYPI`: cudatoolkit, mkl, openssl, ...) are dropped with a note;
- packages that have no PyPI counterpart at all (R packages, `UNMAPPABLE`) fail the read
  with an error that lists them, each with its line, and says how to fix the file;
- `python=X.Y` is kept as the interpreter the environment wants (`ReadSpec.python`); the
  backend honours it where such an interpreter exists and says which it used otherwise.

Every requirement keeps the line it came from, so an install that fails names the file
and the line. Reading never runs anything except `uv export` for a `uv.lock` (the lock
lists every platform's packages; only uv knows which of them this platform needs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from runyard.core.errors import UsageError

# The files looked for, in this order, after `requirements.txt` and `pyproject.toml`.
CONDA_FILES = (
    "environment.yml",
    "environment.yaml",
    "conda.yaml",
    "conda.yml",
    "aml_config/conda_dependencies.yml",
)
PYTHON_ENV_FILE = "python_env.yaml"
UV_LOCK = "uv.lock"

# conda names whose PyPI name differs
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-xgboost-gpu": "xgboost",
    "py-lightgbm": "lightgbm",
    "tensorflow-gpu": "tensorflow",
    "tensorflow-cpu": "tensorflow",
    "pyyaml": "PyYAML",
    "msgpack-python": "msgpack",
    "pillow-simd": "pillow",
    "pytables": "tables",
    "opencv": "opencv-python",
    "py-opencv": "opencv-python",
    "libopencv": "opencv-python",
    "matplotlib-base": "matplotlib",
    "typing_extensions": "typing-extensions",
    "ruamel_yaml": "ruamel.yaml",
    "mlflow-skinny": "mlflow-skinny",
    "azureml-defaults": "azureml-defaults",
}

# conda packages that are not Python distributions: libraries and tools that pip's
# wheels carry themselves or that an environment does not need from PyPI. Dropped.
NOT_FROM_PYPI = frozenset(
    {
        "pip", "setuptools", "wheel", "python_abi", "ca-certificates", "certifi-conda",
        "openssl", "libffi", "libgcc", "libgcc-ng", "libstdcxx-ng", "libgomp", "_libgcc_mutex",
        "_openmp_mutex", "ld_impl_linux-64", "libzlib", "zlib", "xz", "bzip2", "ncurses",
        "readline", "sqlite", "tk", "tzdata", "libuuid", "libnsl", "libxcrypt",
        "cudatoolkit", "cuda-toolkit", "cudnn", "nccl", "cuda-version", "pytorch-cuda",
        "cpuonly", "mkl", "mkl-service", "mkl_fft", "mkl_random", "intel-openmp", "blas",
        "libblas", "libcblas", "liblapack", "openblas", "libopenblas", "nomkl", "magma",
        "graphviz", "hdf5", "libprotobuf", "icu", "jpeg", "libpng", "freetype", "libuv",
        "yaml", "git",
    }
)  # fmt: skip

# conda packages with no PyPI counterpart: a conda file naming them cannot be resolved.
UNMAPPABLE_PREFIXES = ("r-", "rstudio")
UNMAPPABLE = frozenset({"r", "r-base", "r-essentials", "julia", "nodejs", "cmake-conda"})

_CHANNEL = re.compile(r"^[^:\s]+::")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
_PIP_OPS = ("==", ">=", "<=", "!=", "~=", ">", "<")


@dataclass(frozen=True)
class Requirement:
    """A pip requirement line, with the line of the file it came from (None: made up,
    e.g. from `uv export`) and what the file said there."""

    text: str
    line: int | None
    source: str


@dataclass(frozen=True)
class ReadSpec:
    """A dependency file read as PyPI requirements (see the module docstring).
    `kind` is "conda", "python_env" or "uv.lock"; `python` the interpreter version the
    file asks for ("3.8"), None when it says none; `notes` say what was left out."""

    kind: str
    path: str
    python: str | None
    requirements: tuple[Requirement, ...]
    notes: tuple[str, ...] = ()

    def lines(self) -> tuple[str, ...]:
        return tuple(r.text for r in self.requirements)


def find(workdir: Path) -> str | None:
    """The first of the files this module reads that `workdir` has (relative path)."""
    for rel in (PYTHON_ENV_FILE, *CONDA_FILES):
        if (workdir / rel).is_file():
            return rel
    return None


def handles(rel: str) -> bool:
    """Whether `rel` (a dependency file a job names) is one this module reads: a
    `uv.lock`, or any YAML file (MLflow's `python_env.yaml`, else a conda env file; a
    requirements file is never YAML)."""
    name = PurePosixPath(rel).name
    return name == UV_LOCK or name.endswith((".yml", ".yaml"))


def read(workdir: Path, rel: str) -> ReadSpec:
    """Read `rel` (relative to `workdir`) as PyPI requirements, with `-r FILE` lines
    replaced by FILE's requirements (relative to `rel`'s folder, inside `workdir`)."""
    name = PurePosixPath(rel).name
    if name == UV_LOCK:
        return read_uv_lock(workdir, rel)
    text = _text(workdir / rel, rel)
    spec = read_python_env(text, rel) if name == PYTHON_ENV_FILE else read_conda(text, rel)
    return replace(spec, requirements=_expanded(workdir, rel, spec.requirements, 0))


_INCLUDE = re.compile(r"^(?:-r\s*|--requirement(?:\s+|=))(\S.*)$")
MAX_INCLUDE_DEPTH = 5


def _expanded(
    workdir: Path, rel: str, requirements: tuple[Requirement, ...], depth: int
) -> tuple[Requirement, ...]:
    out: list[Requirement] = []
    for req in requirements:
        where = f"{rel}:{req.line}" if req.line else rel
        text = req.text.split(" #", 1)[0].strip()
        include = _INCLUDE.match(text)
        if include is None:
            if text.startswith("-"):
                raise UsageError(
                    f"{where}: {text!r}: pip options are not read from this file.",
                    hint="name packages only; a package index goes in the target's index_url",
                )
            if text:
                out.append(req)
            continue
        if depth >= MAX_INCLUDE_DEPTH:
            raise UsageError(f"{where}: requirement files include each other too deeply.")
        target = PurePosixPath(rel).parent / include.group(1).strip()
        path = (workdir / target).resolve()
        if not path.is_relative_to(workdir.resolve()) or not path.is_file():
            raise UsageError(
                f"{where}: {include.group(1).strip()!r} is not a file of the project.",
                hint="commit the file beside this one, or list its packages here",
            )
        included = tuple(
            Requirement(line.strip(), i, f"{target}:{i}")
            for i, line in enumerate(_text(path, str(target)).splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        )
        out.extend(_expanded(workdir, str(target), included, depth + 1))
    return tuple(out)


# --------------------------------------------------------------------------- conda


def _text(path: Path, rel: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{rel}: not UTF-8 text ({exc}).", hint="save the file as UTF-8") from exc
    except OSError as exc:
        raise UsageError(f"{rel}: cannot be read ({exc.strerror}).") from exc


def _parse(text: str, rel: str) -> tuple[dict[str, Any], Any]:
    from runyard.core.yamlpos import parse_yaml

    parsed = parse_yaml(text)
    fatal = [p for p in parsed.problems if p.fatal]
    if fatal:
        p = fatal[0]
        where = f"{rel}:{p.span.line}" if p.span else rel
        raise UsageError(f"{where}: {p.problem}.", hint="fix the YAML")
    if parsed.data is None:
        return {}, parsed
    if not isinstance(parsed.data, dict):
        raise UsageError(
            f"{rel}: the top level is not a mapping.",
            hint="a conda env file has `dependencies:` (and optionally `name:`, `channels:`)",
        )
    return parsed.data, parsed


def _line(parsed: Any, path: tuple[Any, ...]) -> int | None:
    found = parsed.spans.get(path) if parsed is not None else None
    return None if found is None else int(found.value.line)


def conda_to_pip(spec: str) -> tuple[str, str | None, str]:
    """A conda match spec as (PyPI name, pip version specifier or None, conda name).
    Raises ValueError for what cannot be read."""
    text = _CHANNEL.sub("", spec.strip())
    m = _NAME.match(text)
    if not m:
        raise ValueError("not a package name")
    conda_name = m.group(1)
    rest = text[m.end() :].strip()
    if "[" in rest:  # conda's bracket syntax, e.g. numpy[version='>=1.2']
        inner = re.search(r"version\s*=\s*['\"]?([^'\"\],]+)", rest)
        rest = inner.group(1) if inner else ""
    version: str | None = None
    if rest:
        if "|" in rest:
            raise ValueError("alternatives ('|') have no pip equivalent")
        if " " in rest and not rest.startswith((*_PIP_OPS, "=")):
            rest = rest.split()[0]  # "1.26.4 py311_0": the version, then a build string
        if rest.startswith("=="):
            rest = "==" + rest[2:].split("=")[0]
        elif rest.startswith("="):  # "=1.26" (and "=1.26=py311h..." with a build)
            wanted = rest[1:].split("=")[0]
            rest = "==" + (wanted if wanted.endswith("*") else wanted + ".*")
        elif not rest.startswith(_PIP_OPS):  # "1.26.4" (and "1.26.4=build")
            rest = "==" + rest.split("=")[0]
        version = ",".join(_pip_clause(c) for c in rest.replace(" ", "").split(","))
    name = CONDA_TO_PYPI.get(conda_name.lower(), conda_name)
    return name, version, conda_name


def _pip_clause(clause: str) -> str:
    clause = clause.strip()
    if clause.endswith("*") and not clause.endswith(".*"):
        clause = clause[:-1].rstrip(".") + ".*"  # conda "1.2*" is pip "1.2.*"
    if clause.endswith(".*") and not clause.startswith(("==", "!=")):
        clause = "==" + clause.lstrip("=")
    return clause


def _unmappable(conda_name: str) -> bool:
    low = conda_name.lower()
    return low in UNMAPPABLE or low.startswith(UNMAPPABLE_PREFIXES)


def read_conda(text: str, rel: str) -> ReadSpec:
    """A conda env file as PyPI requirements (see the module docstring)."""
    data, parsed = _parse(text, rel)
    deps = data.get("dependencies") or []
    if not isinstance(deps, list):
        raise UsageError(
            f"{rel}:{_line(parsed, ('dependencies',)) or 1}: field 'dependencies' must be a list.",
            hint="for example:\ndependencies:\n  - python=3.11\n  - numpy=1.26\n  - pip:\n"
            "    - requests",
        )
    python: str | None = None
    out: list[Requirement] = []
    dropped: list[str] = []
    bad: list[str] = []
    for i, item in enumerate(deps):
        line = _line(parsed, ("dependencies", i))
        where = f"{rel}:{line}" if line else rel
        if isinstance(item, dict) and "pip" in item:
            pips = item["pip"] or []
            if not isinstance(pips, list):
                raise UsageError(f"{where}: 'pip' must be a list of requirements.")
            for j, req in enumerate(pips):
                if not isinstance(req, str):
                    raise UsageError(f"{where}: pip requirement {j + 1} is not a string ({req!r}).")
                out.append(
                    Requirement(req.strip(), _line(parsed, ("dependencies", i, "pip", j)), req)
                )
            continue
        if not isinstance(item, str):
            raise UsageError(
                f"{where}: a dependency must be a package spec like numpy=1.26 (got {item!r}).",
                hint="list packages as strings, and pip packages under `- pip:`",
            )
        try:
            name, version, conda_name = conda_to_pip(item)
        except ValueError as exc:
            bad.append(f"{where}: {item!r} ({exc})")
            continue
        if conda_name.lower() == "python":
            python = _python_version(version)
            continue
        if _unmappable(conda_name):
            bad.append(f"{where}: {item!r} (a conda package with no PyPI counterpart)")
            continue
        if conda_name.lower() in NOT_FROM_PYPI:
            dropped.append(conda_name)
            continue
        out.append(Requirement(name + (version or ""), line, item))
    if bad:
        listed = "\n  ".join(bad)
        raise UsageError(
            f"{rel}: these conda packages cannot be installed from PyPI (Runyard does not "
            f"use conda):\n  {listed}",
            hint="remove them, or replace each with its PyPI name under `- pip:`",
        )
    notes = []
    if dropped:
        notes.append(
            f"{rel}: left out {', '.join(sorted(set(dropped)))} (conda packages that are "
            "not Python packages; pip's wheels bring what they need)"
        )
    if data.get("channels"):
        notes.append(f"{rel}: conda channels are not used; packages come from PyPI")
    return ReadSpec("conda", rel, python, tuple(out), tuple(notes))


def _python_version(version: str | None) -> str | None:
    """`==3.8.*` -> "3.8"; `>=3.8` -> None (a range asks for no particular interpreter)."""
    if not version or not version.startswith("==") or "," in version:
        return None
    return ".".join(version[2:].removesuffix(".*").split(".")[:2]) or None


# ---------------------------------------------------------------------- python_env


def read_python_env(text: str, rel: str) -> ReadSpec:
    """MLflow's `python_env.yaml`: `python:` and `dependencies:` (pip requirement lines,
    where `-r requirements.txt` is read relative to the file)."""
    data, parsed = _parse(text, rel)
    python = data.get("python")
    deps = data.get("dependencies") or []
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        line = _line(parsed, ("dependencies",)) or 1
        raise UsageError(
            f"{rel}:{line}: field 'dependencies' must be a list of pip requirements.",
            hint="for example:\ndependencies:\n  - -r requirements.txt\n  - mlflow",
        )
    out = [
        Requirement(d.strip(), _line(parsed, ("dependencies", i)), d) for i, d in enumerate(deps)
    ]
    version = str(python).strip() if python is not None else None
    if version:
        version = ".".join(version.split(".")[:2])
    return ReadSpec("python_env", rel, version or None, tuple(out))


# ------------------------------------------------------------------------- uv.lock


def _uv_binary() -> str | None:
    """uv (the one the `uv` package carries, else one on PATH), whichever installer
    builds environments: only uv reads its lock."""
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def read_uv_lock(workdir: Path, rel: str) -> ReadSpec:
    """`uv.lock`, as the pinned requirements `uv export` gives for this platform."""
    uv = _uv_binary()
    if uv is None:
        raise UsageError(
            f"{rel}: reading a uv.lock needs uv, which is not installed here.",
            hint="install uv (pip install uv), or name a requirements file in the job",
        )
    folder = (workdir / rel).parent
    proc = subprocess.run(
        [uv, "export", "--frozen", "--no-hashes", "--no-emit-project", "--format",
         "requirements-txt", "--no-header"],
        cwd=folder, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise UsageError(
            f"{rel}: uv could not read the lock ({detail[-1] if detail else 'no output'}).",
            hint="run `uv lock` beside pyproject.toml and commit both files",
        )
    out = []
    for raw in proc.stdout.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("-e "):
            continue
        out.append(Requirement(line, None, line))
    return ReadSpec("uv.lock", rel, None, tuple(out))
