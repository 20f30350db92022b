"""`runyard model package NAME:VERSION --score score.py`: a model as a Docker image
that serves it over HTTP.

The image is built on a docker target's engine, like a run's environment image (see
`runyard.targets.docker`): from the target's `base_image` (its CA bundle and package
index too), a venv with the source run's dependencies (its snapshot's dependency file)
plus FastAPI and uvicorn, and on top the model at ``/opt/runyard/model/<name>``, the
scoring script and `runyard.models.serve`. Images are tagged
``runyard-model/<name>:<version>``, labelled with the model's name, version and digest,
and reused while nothing that goes into them changed.

The build is the environment image's two-stage build with the model's layers on top: a
package index's credentials (in `index_url`) reach pip in the first stage only, never
the image's layers, history, config or labels (the reuse key holds a hash of them).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runyard.core import config, envs
from runyard.core.errors import RunyardError, UsageError
from runyard.core.project import Project
from runyard.core.store import Store
from runyard.models.registry import ModelVersion, resolve
from runyard.targets import docker as dockert

PACKAGE_FORMAT = "2"  # bump when the layout of model images changes
IMAGE_REPO = "runyard-model"
SERVE_PORT = 8080  # the port the service listens on inside the container
MODEL_DIR = "/opt/runyard/model"
SERVE_DIR = "/opt/runyard/serve"
SERVER_REQUIREMENTS = ("fastapi>=0.110,<1", "uvicorn>=0.29,<1")
LABEL_MODEL = "dev.runyard.model"
LABEL_VERSION = "dev.runyard.model.version"
LABEL_DIGEST = "dev.runyard.model.digest"
LABEL_PACKAGE = "dev.runyard.package"


@dataclass(frozen=True)
class Package:
    image: str  # the tag
    image_id: str
    model: ModelVersion
    target: str
    cached: bool


# ---- the scoring script ---------------------------------------------------------------


def check_score_script(path: Path) -> bytes:
    """The scoring script's bytes, once it parses and defines top-level `init` and `run`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"The scoring script {path} cannot be read ({exc.strerror or exc}).",
            hint="pass an existing file with --score, e.g. --score score.py",
        ) from None
    try:
        tree = ast.parse(data, filename=str(path))
    except SyntaxError as exc:
        raise UsageError(
            f"The scoring script {path} is not valid Python: {exc.msg} (line {exc.lineno}).",
            hint="fix the script; it needs init(model_path) and run(payload)",
        ) from None
    defined = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    missing = [n for n in ("init", "run") if n not in defined]
    if missing:
        raise UsageError(
            f"The scoring script {path} has no top-level "
            f"{' and no '.join(f'{n}()' for n in missing)} function.",
            hint="define init(model_path), called once with the model's path, and "
            "run(payload), called per request with the decoded JSON body",
        )
    for name in ("init", "run"):
        node = defined[name]
        if isinstance(node, ast.AsyncFunctionDef):
            raise UsageError(
                f"The scoring script {path} defines {name}() with `async def`.",
                hint=f"make {name}() a plain function",
            )
        if not node.args.args and not node.args.vararg:
            raise UsageError(
                f"The scoring script {path} defines {name}() without an argument "
                f"(line {node.lineno}).",
                hint="init(model_path) receives the model's path, run(payload) the request",
            )
    return data


# ---- targets and images -----------------------------------------------------------------


def docker_target(project: Project, name: str | None) -> config.TargetConfig:
    """The named (else the default) target, which must be a docker target."""
    target = config.load_target(project, name or config.default_target_name(project))
    if target.type != "docker":
        raise UsageError(
            f"The target {target.name!r} is a {target.type} target; models are packaged and "
            "deployed on docker targets.",
            hint="pass --target with a docker target (runyard target add NAME --type docker "
            "--base-image IMAGE)",
        )
    return target


def image_tag(model: ModelVersion) -> str:
    """``runyard-model/<name>:<version>``, the name made valid for Docker."""
    repo = re.sub(r"[^a-z0-9._-]+", "-", model.name.lower()).strip("._-") or "model"
    return f"{IMAGE_REPO}/{repo}:{model.version}"


def _requirements(project: Project, store: Store, model: ModelVersion) -> bytes:
    """The source run's dependency file from its snapshot, plus the web server."""
    from runyard.core import snapshot

    run = store.get_run(model.run_id)
    commit = model.snapshot_commit or run.snapshot_commit
    declared = run.options.get("requirements")
    text = b""
    if commit:
        with tempfile.TemporaryDirectory(prefix="runyard-deps-") as tmp:
            for rel in [declared] if declared else ["requirements.txt", "pyproject.toml"]:
                found = snapshot.read_snapshot_file(project, commit, str(rel))
                if found is not None:
                    dest = Path(tmp, str(rel))
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text(found)
            spec = envs.find_spec(Path(tmp), declared)
            if spec.kind != "none":
                text = dockert.requirements_text(spec)
    lines = text.decode("utf-8", "replace").rstrip("\n")
    return ((lines + "\n" if lines else "") + "\n".join(SERVER_REQUIREMENTS) + "\n").encode()


def _model_files(model: ModelVersion) -> dict[str, bytes]:
    """The model's content, keyed by its path in the build context (under model/)."""
    src = Path(model.path)
    if src.is_file():
        return {f"model/{model.filename}": src.read_bytes()}
    files: dict[str, bytes] = {}
    for folder, dirs, names in os.walk(src):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            rel = path.relative_to(src).as_posix()
            files[f"model/{model.filename}/{rel}"] = path.read_bytes()
    return files


def _dockerfile(env_part: str, model: ModelVersion) -> str:
    environment = {
        "RUNYARD_MODEL_PATH": f"{MODEL_DIR}/{model.filename}",
        "RUNYARD_SCORE": f"{SERVE_DIR}/score.py",
        "RUNYARD_MODEL": model.name,
        "RUNYARD_MODEL_VERSION": str(model.version),
        "RUNYARD_MODEL_DIGEST": model.digest,
        "PORT": str(SERVE_PORT),
    }
    lines = [
        env_part.rstrip("\n"),
        f"COPY model/ {MODEL_DIR}/",
        f"COPY score.py {SERVE_DIR}/score.py",
        f"COPY runyard_serve.py {SERVE_DIR}/runyard_serve.py",
        "ENV " + " ".join(f"{k}={json.dumps(v)}" for k, v in environment.items()),
        f"USER {dockert.RUN_USER}",
        f"WORKDIR {SERVE_DIR}",
        f"EXPOSE {SERVE_PORT}",
        f'CMD ["python", "{SERVE_DIR}/runyard_serve.py"]',
    ]
    return "\n".join(lines) + "\n"


def find_image(client: Any, model: ModelVersion) -> Any | None:
    """The newest image packaged for this model version on the engine, if any."""
    images = client.images.list(
        filters={
            "label": [
                f"{LABEL_MODEL}={model.name}",
                f"{LABEL_VERSION}={model.version}",
                f"{LABEL_DIGEST}={model.digest}",
            ]
        }
    )
    if not images:
        return None
    return max(images, key=lambda i: str(i.attrs.get("Created", "")))


def package(
    project: Project,
    store: Store,
    ref: str,
    score: Path,
    target_name: str | None,
    write: Callable[[bytes], None],
    log: Callable[[str], None],
) -> Package:
    """Build (or reuse) the serving image of model `ref` with the scoring script `score`."""
    import docker

    score_bytes = check_score_script(score)
    model = resolve(project, store, ref)
    if not Path(model.path).exists():
        raise RunyardError(
            f"The content of model {model.ref} is missing from the model store ({model.path}).",
            hint="register the model again from its run's outputs",
        )
    target = docker_target(project, target_name)
    options = dict(target.raw)
    if not options.get("base_image") and options.get("image"):
        options["base_image"] = options["image"]
    client = dockert.connect(options)
    where = dockert.describe(options.get("address"))
    with dockert.engine_errors(options, f"while packaging {model.ref}"):
        base = str(options.get("base_image") or "")
        base_id = dockert.base_image_id(client, options)
        requirements = _requirements(project, store, model)
        spec = envs.DependencySpec("requirements", "requirements.txt", (), requirements)
        ca = dockert.ca_bytes(options)
        python = str(options.get("python") or "python3")
        env_part = dockert.env_dockerfile(base, python, spec, options, ca is not None)
        serve_src = Path(__file__).with_name("serve.py").read_bytes()
        files: dict[str, bytes] = {
            "Dockerfile": _dockerfile(env_part, model).encode(),
            **dockert.env_context(spec, options, ca),
            "score.py": score_bytes,
            "runyard_serve.py": serve_src,
            **_model_files(model),
        }
        h = hashlib.sha256()
        for part in (PACKAGE_FORMAT, base_id, str(options.get("index_url") or "")):
            h.update(part.encode() + b"\0")
        for name in sorted(files):
            h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
        digest = h.hexdigest()[:16]
        tag = image_tag(model)
        labels = {
            dockert.LABEL_PROJECT: str(project.root),
            LABEL_MODEL: model.name,
            LABEL_VERSION: str(model.version),
            LABEL_DIGEST: model.digest,
            LABEL_PACKAGE: digest,
            "dev.runyard.base": base,
        }
        existing = client.images.list(filters={"label": f"{LABEL_PACKAGE}={digest}"})
        if existing:
            image = existing[0]
            image.tag(tag)
            log(f"model image {tag} (cached, {image.short_id}) on {where}")
            return Package(tag, str(image.id), model, target.name, cached=True)
        log(f"building model image {tag} on {where} from {base}")
        dockert.build_image(
            client,
            files,
            tag,
            labels,
            write,
            what=f"the image of model {model.ref}",
            hint="see the build output above; fix the source run's dependency file, the "
            "scoring script or the target's base image",
        )
        try:
            built = client.images.get(tag)
        except docker.errors.ImageNotFound:
            raise RunyardError(f"The engine at {where} did not keep the image {tag}.") from None
        log(f"model image {tag} ready ({built.short_id})")
        return Package(tag, str(built.id), model, target.name, cached=False)
