"""Azure ML Workbench projects: `aml_config/` read into Runyard's targets and jobs.

A Workbench project keeps its run configuration in `aml_config/`: one `<name>.compute`
per compute target, one `<name>.runconfig` per run configuration (whose `Target` names
a compute), a conda env file and a Spark dependencies file. The mapping:

`*.compute` -> `.runyard/targets/<name>.yml`, by `type`:

- `local` -> a `local` target. `pythonLocation` is kept only when it is an absolute
  path (an interpreter you manage, used as is); `python` on PATH is dropped, since
  Runyard builds the run's environment from the job's dependency file.
- `docker`, `localdocker` -> a `docker` target on this machine's engine,
  `baseDockerImage` as its `base_image` (the run's environment is built on it), and
  `nvidiaDocker: true` as `gpus: all`.
- `remotedocker` -> a `docker` target whose engine is reached over SSH
  (`address: ssh://username@address`).
- `cluster` (an HDInsight Spark cluster) -> a `spark` target with `master: yarn` and
  `deploy_mode` from `yarnDeployMode`; this machine needs the cluster's Hadoop
  configuration (HADOOP_CONF_DIR), which is said.

A `password` is never copied into a target file (they are committed): the target logs
in with keys, and a note says how to set that up. `sharedVolumes` and
`nativeSharedDirectory` are dropped with a note (a run's project travels as a snapshot).

`*.runconfig` -> `.runyard/jobs/<name>.yml`:

- `ArgumentVector`: the script, then its arguments. Workbench puts `$file` first, the
  script given at submit time: the importer takes `script` from its caller
  (`runyard import aml-workbench --script train.py`), else the project's only `.py`
  file at the top, else the job is not written and the problem says so;
- `Target` -> `target` (when that compute was imported, or the project has it);
- `EnvironmentVariables` -> `env`; `Framework` `Python`/`PySpark` -> `framework`;
- `CondaDependenciesFile` -> the job's `requirements` (read by `core.envspecs`). The
  Workbench's own SDK packages (`azureml-*`, and the index lines that fetched them)
  are not on PyPI and are replaced by Runyard's `azureml.logging` shim, and pip options
  (the package indexes that fetched them) are not read from conda files: when the file
  has any, a copy without them is written to `.runyard/dependencies/<name>.yml` and
  the job names that copy; a note lists what was dropped;
- `SparkDependenciesFile` -> its `packages` (group:artifact:version), `repositories`
  and `configuration` go to the `spark` target the job runs on (`packages`,
  `spark.jars.repositories`, `conf`); for a job on any other target they are listed in
  a note;
- `PrepareEnvironment`, `TrackedRun`: dropped (Runyard always builds the environment
  and tracks the run); `UseSampling`, `DataSourceSettings`,
  `DataSourceSubstitutions` (Workbench's data preparation): dropped with a note.

Any other key is a problem naming the file and the key; the rest of the file is
imported.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from runyard.core.importers import (
    ImportPlan,
    PlannedFile,
    name_from,
    read_yaml,
    unknown_keys,
)

CONFIG = "aml_config"
COMPUTE_KEYS = (
    "type",
    "baseDockerImage",
    "address",
    "username",
    "password",
    "sharedVolumes",
    "nativeSharedDirectory",
    "nvidiaDocker",
    "pythonLocation",
    "yarnDeployMode",
)
RUNCONFIG_KEYS = (
    "ArgumentVector",
    "Target",
    "EnvironmentVariables",
    "Framework",
    "CondaDependenciesFile",
    "SparkDependenciesFile",
    "PrepareEnvironment",
    "TrackedRun",
    "UseSampling",
    "DataSourceSettings",
    "DataSourceSubstitutions",
)
SPARK_DEPENDENCY_KEYS = ("configuration", "repositories", "packages")
FILE_PLACEHOLDER = "$file"
FRAMEWORKS = {"python": "python", "pyspark": "pyspark"}
DEPENDENCIES_DIR = ".runyard/dependencies"


def is_workbench_package(spec: str) -> bool:
    """Whether a pip line of a conda file is the Workbench SDK (or the index it came
    from): `azureml-requirements`, `azureml-logging`, `azureml.dataprep`, `--index-url
    https://azuremldownloads...`."""
    text = spec.strip().lower()
    if text.startswith("-"):
        return "azureml" in text
    return text.startswith("azureml")


def _is_pip_option(spec: str) -> bool:
    """A pip option line (`--extra-index-url ...`), but for `-r FILE`, which is read."""
    text = spec.strip()
    return text.startswith("-") and not text.startswith(("-r", "--requirement"))


def plan(root: Path, *, script: str | None = None) -> ImportPlan:
    out = ImportPlan("aml-workbench")
    config = root / CONFIG
    if not config.is_dir():
        out.problem(CONFIG, None, "no aml_config/ folder here: not an Azure ML Workbench project")
        return out
    targets: dict[str, dict[str, Any]] = {}  # compute name -> target document
    for path in sorted(config.glob("*.compute")):
        rel = f"{CONFIG}/{path.name}"
        data = read_yaml(root, rel, out)
        if data is None:
            continue
        if not isinstance(data, dict):
            out.problem(rel, None, "expected a mapping of keys (type: ..., address: ...)")
            continue
        name = name_from(path.stem)
        target = _target(rel, name, data, out)
        if target is not None:
            targets[name] = target
    existing = {p.stem for p in (root / ".runyard" / "targets").glob("*.yml")}
    dependencies: dict[str, str] = {}  # conda file -> what jobs name (it, or a copy)
    for path in sorted(config.glob("*.runconfig")):
        rel = f"{CONFIG}/{path.name}"
        data = read_yaml(root, rel, out)
        if data is None:
            continue
        if not isinstance(data, dict):
            out.problem(rel, None, "expected a mapping of keys (ArgumentVector: ..., Target: ...)")
            continue
        job = _job(root, rel, data, out, script, targets, existing, dependencies)
        if job is not None:
            name = name_from(path.stem)
            out.files.append(PlannedFile(f".runyard/jobs/{name}.yml", "job", rel, data=job))
    for name, target in targets.items():
        source = target.pop("__source__")
        out.files.insert(
            0, PlannedFile(f".runyard/targets/{name}.yml", "target", source, data=target)
        )
    return out


# ---- .compute -> target ----------------------------------------------------------------


def _host(address: str) -> tuple[str, str | None]:
    """`host` and `port` of a Workbench address (`10.0.0.4`, `vm.example.com:2222`,
    `ssh://vm`)."""
    text = address.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.rstrip("/")
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port if port.isdigit() else None
    return text, None


def _target(rel: str, name: str, data: dict[str, Any], out: ImportPlan) -> dict[str, Any] | None:
    unknown_keys(data, COMPUTE_KEYS, rel, out)
    kind = str(data.get("type", "")).strip().lower()
    target: dict[str, Any] = {"__source__": rel}
    if "password" in data:
        user = data.get("username") or "USER"
        host = _host(str(data.get("address") or "HOST"))[0]
        out.note(
            rel,
            "password",
            "the password was not copied (target files are committed): log in with a "
            f"key instead, e.g. `ssh-keygen` then `ssh-copy-id {user}@{host}`",
        )
    for key in ("sharedVolumes", "nativeSharedDirectory"):
        if key in data:
            out.note(rel, key, f"{key} dropped: a run's project travels as a snapshot")
    if kind == "local":
        target["type"] = "local"
        python = data.get("pythonLocation")
        if isinstance(python, str) and python.startswith("/"):
            target["python"] = python
            out.note(
                rel,
                "pythonLocation",
                f"runs use {python} as it is: install the job's dependencies into it, or "
                "remove `python:` to have Runyard build the environment",
            )
        elif python is not None:
            out.note(
                rel,
                "pythonLocation",
                f"pythonLocation {python!r} dropped: Runyard builds each run's environment "
                "from the job's dependency file",
            )
    elif kind in ("docker", "localdocker", "remotedocker"):
        target["type"] = "docker"
        image = data.get("baseDockerImage")
        if not isinstance(image, str) or not image.strip():
            out.problem(rel, "baseDockerImage", "no baseDockerImage: the target was not imported")
            return None
        if kind == "remotedocker":
            address = data.get("address")
            if not isinstance(address, str) or not address.strip():
                out.problem(rel, "address", "a remotedocker compute needs an address: not imported")
                return None
            host, port = _host(address)
            user = data.get("username")
            login = f"{user}@{host}" if isinstance(user, str) and user else host
            target["address"] = f"ssh://{login}" + (f":{port}" if port else "")
            out.note(
                rel,
                "address",
                "the Docker engine is reached over SSH: accept its host key with "
                f"`runyard target trust {name}`",
            )
        target["base_image"] = image.strip()
        if image.strip().startswith("microsoft/"):
            out.note(
                rel,
                "baseDockerImage",
                f"{image} is a Workbench image: Runyard builds the run's environment on it "
                "with python3 -m venv and pip; pick an image that has them if it does not",
            )
        if data.get("nvidiaDocker") is True:
            target["gpus"] = "all"
    elif kind == "cluster":
        target["type"] = "spark"
        target["master"] = "yarn"
        mode = str(data.get("yarnDeployMode") or "client").strip().lower()
        if mode in ("client", "cluster"):
            target["deploy_mode"] = mode
        else:
            out.problem(rel, "yarnDeployMode", f"unknown yarnDeployMode {mode!r}: client used")
        where = data.get("address") or "the cluster"
        out.note(
            rel,
            "address",
            f"jobs are submitted to {where}'s YARN with spark-submit from this machine: set "
            "HADOOP_CONF_DIR in the target's env: to a copy of the cluster's Hadoop "
            "configuration (its SSH login is not used)",
        )
    else:
        out.problem(
            rel,
            "type",
            f"unknown compute type {data.get('type')!r}: expected local, docker, "
            "localdocker, remotedocker or cluster; not imported",
        )
        return None
    return target


# ---- .runconfig -> job -----------------------------------------------------------------


def _script(root: Path, rel: str, given: str | None, out: ImportPlan) -> str | None:
    """The script a `$file` runconfig runs: `given`, else the project's only top-level
    .py file."""
    if given:
        if not (root / given).is_file():
            out.problem(rel, "ArgumentVector", f"--script {given}: no such file in the project")
            return None
        return given
    scripts = sorted(p.name for p in root.glob("*.py") if p.is_file())
    if len(scripts) == 1:
        out.note(
            rel,
            "ArgumentVector",
            f"$file (the script given at submit time) taken as {scripts[0]}, the project's "
            "only script",
        )
        return scripts[0]
    listed = ", ".join(scripts) or "none"
    out.problem(
        rel,
        "ArgumentVector",
        f"$file is the script given at submit time and the project has several top-level "
        f"scripts ({listed}): not imported; run again with --script FILE",
    )
    return None


def _job(
    root: Path,
    rel: str,
    data: dict[str, Any],
    out: ImportPlan,
    script: str | None,
    targets: dict[str, dict[str, Any]],
    existing: set[str],
    dependencies: dict[str, str],
) -> dict[str, Any] | None:
    unknown_keys(data, RUNCONFIG_KEYS, rel, out)
    job: dict[str, Any] = {}
    argv = data.get("ArgumentVector") or [FILE_PLACEHOLDER]
    if not isinstance(argv, list) or not argv:
        out.problem(rel, "ArgumentVector", "expected a list: the script, then its arguments")
        return None
    first = str(argv[0])
    if first == FILE_PLACEHOLDER:
        found = _script(root, rel, script, out)
        if found is None:
            return None
        job["script"] = found
    else:
        if not (root / first).is_file():
            out.problem(rel, "ArgumentVector", f"{first}: no such file in the project")
            return None
        job["script"] = first
    if len(argv) > 1:
        job["args"] = [str(a) for a in argv[1:]]
    env = data.get("EnvironmentVariables")
    if isinstance(env, dict) and env:
        job["env"] = {str(k): "" if v is None else str(v) for k, v in env.items()}
    elif env not in (None, {}):
        out.problem(rel, "EnvironmentVariables", "expected a mapping NAME: value")
    framework = str(data.get("Framework") or "Python").strip().lower()
    if framework in FRAMEWORKS:
        if FRAMEWORKS[framework] != "python":
            job["framework"] = FRAMEWORKS[framework]
    else:
        out.problem(
            rel, "Framework", f"unknown Framework {data.get('Framework')!r}: Python or PySpark"
        )
    target_name = data.get("Target")
    target: dict[str, Any] | None = None
    if isinstance(target_name, str) and target_name:
        name = name_from(target_name)
        if name in targets or name in existing:
            job["target"] = name
            target = targets.get(name)
        else:
            out.problem(
                rel,
                "Target",
                f"no compute named {target_name} in aml_config/ or .runyard/targets/: the "
                "job runs on the default target",
            )
    conda = data.get("CondaDependenciesFile")
    if isinstance(conda, str) and conda:
        requirements = _dependencies(root, rel, conda, out, dependencies)
        if requirements:
            job["requirements"] = requirements
    spark = data.get("SparkDependenciesFile")
    if isinstance(spark, str) and spark:
        _spark_dependencies(root, rel, spark, target, out)
    if (
        data.get("UseSampling")
        or data.get("DataSourceSettings")
        or data.get("DataSourceSubstitutions")
    ):
        out.note(
            rel,
            "DataSourceSettings",
            "Workbench's data preparation settings (UseSampling, DataSourceSettings, "
            "DataSourceSubstitutions) were dropped: read the data in the script",
        )
    return job


def _dependencies(
    root: Path, rel: str, conda: str, out: ImportPlan, done: dict[str, str]
) -> str | None:
    """What the job's `requirements` names for the conda file `conda`: the file itself,
    or a copy without the Workbench SDK (planned once per file)."""
    conda = posixpath.normpath(conda.replace("\\", "/"))
    if conda in done:
        return done[conda]
    if conda.startswith(("/", "../")) or not (root / conda).is_file():
        out.problem(rel, "CondaDependenciesFile", f"{conda}: no such file in the project")
        return None
    data = read_yaml(root, conda, out)
    if not isinstance(data, dict):
        if data is not None:
            out.problem(conda, None, "expected a conda env file (name:, dependencies:)")
        return None
    dropped: list[str] = []
    options: list[str] = []  # pip options besides -r (package indexes)
    cleaned = dict(data)
    deps: list[Any] = []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            kept = []
            for spec in dep["pip"]:
                if is_workbench_package(str(spec)):
                    dropped.append(str(spec))
                elif _is_pip_option(str(spec)):
                    options.append(str(spec))
                else:
                    kept.append(spec)
            if kept:
                deps.append({**dep, "pip": kept})
        elif isinstance(dep, str) and is_workbench_package(dep):
            dropped.append(dep)
        else:
            deps.append(dep)
    if not dropped and not options:
        done[conda] = conda
        return conda
    if options:
        out.note(
            conda,
            "dependencies",
            f"pip options dropped ({', '.join(options)}): the file names packages only; a "
            "package index goes in the target's index_url",
        )
    import yaml

    cleaned["dependencies"] = deps
    copy = f"{DEPENDENCIES_DIR}/{Path(conda).stem}.yml"
    header = (
        f"# Written by `runyard import aml-workbench` from {conda}, without the Azure ML "
        "Workbench SDK\n# (Runyard's azureml.logging shim stands in for it): review it, "
        "then commit it.\n"
    )
    text = header + yaml.safe_dump(cleaned, sort_keys=False, allow_unicode=True, width=88)
    out.files.append(PlannedFile(copy, "dependencies", conda, text=text))
    names = ", ".join(s for s in dropped if not s.startswith("-"))
    if names:
        out.note(
            conda,
            "dependencies",
            f"Workbench SDK packages dropped ({names}; Runyard's azureml.logging shim "
            "replaces them)",
        )
    out.note(conda, None, f"the jobs use {copy}, a copy without what was dropped")
    done[conda] = copy
    return copy


def _spark_dependencies(
    root: Path, rel: str, spark: str, target: dict[str, Any] | None, out: ImportPlan
) -> None:
    spark = posixpath.normpath(spark.replace("\\", "/"))
    if spark.startswith(("/", "../")) or not (root / spark).is_file():
        out.problem(rel, "SparkDependenciesFile", f"{spark}: no such file in the project")
        return
    data = read_yaml(root, spark, out)
    if data is None:
        return
    if not isinstance(data, dict):
        out.problem(spark, None, "expected configuration:, repositories:, packages:")
        return
    unknown_keys(data, SPARK_DEPENDENCY_KEYS, spark, out)
    packages: list[str] = []
    for i, item in enumerate(data.get("packages") or []):
        if isinstance(item, dict) and all(item.get(k) for k in ("group", "artifact", "version")):
            packages.append(f"{item['group']}:{item['artifact']}:{item['version']}")
        else:
            out.problem(spark, f"packages[{i}]", "expected group:, artifact: and version:")
    repositories = [str(r) for r in data.get("repositories") or []]
    configuration = data.get("configuration") or {}
    conf = (
        {str(k): str(v) for k, v in configuration.items()}
        if isinstance(configuration, dict)
        else {}
    )
    if repositories:
        conf["spark.jars.repositories"] = ",".join(repositories)
    if not packages and not conf:
        return
    if target is not None and target.get("type") == "spark":
        if packages:
            target["packages"] = sorted(set(target.get("packages", [])) | set(packages))
        if conf:
            target["conf"] = {**target.get("conf", {}), **conf}
        return
    listed = ", ".join(packages) or "none"
    out.note(
        spark,
        "packages",
        f"Spark packages ({listed}) and settings apply to spark targets only: the job's "
        "target is not one (a pyspark job elsewhere starts Spark itself); add them to a "
        "spark target's packages:/conf: to use them",
    )
