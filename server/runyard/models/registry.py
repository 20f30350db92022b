"""The model registry: files and folders from runs' outputs, registered as numbered
versions of a named model, with their lineage (run, snapshot commit, target,
environment).

Registered content is copied into a content-addressed store under
`.runyard/state/models/blobs/sha256/` (or `<artifact_root>/models/blobs/sha256/` when
`.runyard/config.yml` names a folder the team shares, so a teammate's model commands
open the same files), so deleting a run (or its folder) does not break
a model, and the same content registered twice is kept once. A file's digest is the
SHA-256 of its bytes; a folder's is the SHA-256 of a manifest listing its files in
sorted order, each as its relative POSIX path and the SHA-256 of its bytes (empty
folders inside it are not kept).

Shared by the CLI and the language server; knows nothing of either.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.core.project import Project
from runyard.core.store import ModelRecord, Store
from runyard.runner import runs

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_REF = re.compile(r"(?P<name>[^:@]+)(?::(?P<version>[^:@]*)|@(?P<alias>[^:@]*))?")
LATEST = "latest"  # `name@latest` is always the newest version; no alias may take it
_CHUNK = 1 << 20
_FOLDER_MANIFEST = b"runyard-model-folder-v1\n"
_SNIFF_BYTES = 1 << 20  # how much of a pickle is read to tell its framework


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, with where it came from."""

    name: str
    version: int
    digest: str  # "sha256:<hex>"
    size: int  # bytes (a folder: the sum of its files)
    kind: str  # "file" | "folder"
    framework: str | None
    run_id: str
    source_path: str  # relative to the run's outputs folder
    snapshot_commit: str | None
    target: str | None
    env_hash: str | None
    created: float
    tags: dict[str, str]
    aliases: tuple[str, ...]
    path: Path  # the read-only content in the content-addressed store

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def filename(self) -> str:
        """The name the content had in the run's outputs (the model's name for the
        whole outputs folder)."""
        base = PurePosixPath(self.source_path).name
        return base if base not in ("", ".") else self.name

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "digest": self.digest,
            "size": self.size,
            "kind": self.kind,
            "framework": self.framework,
            "run_id": self.run_id,
            "source_path": self.source_path,
            "snapshot_commit": self.snapshot_commit,
            "target": self.target,
            "env_hash": self.env_hash,
            "created": self.created,
            "tags": dict(self.tags),
            "aliases": list(self.aliases),
            "path": str(self.path),
        }


# ---- the content-addressed store ----------------------------------------------------


def models_dir(project: Project) -> Path:
    """The model store: under `.runyard/state`, or the team's shared artifact root
    (`artifact_root` in .runyard/config.yml, `core.artifacts`)."""
    from runyard.core.artifacts import artifact_root

    return artifact_root(project).models()


def blob_path(project: Project, digest: str) -> Path:
    algo, _, hexdigest = digest.partition(":")
    return models_dir(project) / "blobs" / algo / hexdigest


def _version(project: Project, record: ModelRecord) -> ModelVersion:
    return ModelVersion(
        name=record.name,
        version=record.version,
        digest=record.digest,
        size=record.size,
        kind=record.kind,
        framework=record.framework,
        run_id=record.run_id,
        source_path=record.source_path,
        snapshot_commit=record.snapshot_commit,
        target=record.target,
        env_hash=record.env_hash,
        created=record.created,
        tags=dict(record.tags),
        aliases=record.aliases,
        path=blob_path(project, record.digest),
    )


def _copy_hashing(src: Path, dest: Path) -> tuple[str, int]:
    """Copy `src` to a new file `dest`; the hex SHA-256 and size of what was written."""
    digest = hashlib.sha256()
    size = 0
    with src.open("rb") as fin, dest.open("xb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    os.chmod(dest, 0o444)
    return digest.hexdigest(), size


def _folder_files(folder: Path, outputs: Path, shown: str) -> list[tuple[str, Path]]:
    """The files under `folder` as (relative POSIX path, path), sorted. Links may point
    at files inside the outputs folder (their content is copied); anything else is an
    error."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for d in dirnames:
            if (here / d).is_symlink():
                rel = (here / d).relative_to(folder).as_posix()
                raise UsageError(
                    f"{shown}/{rel} is a link to a folder; models cannot hold folder links.",
                    hint="copy the folder in place of the link, or register it on its own",
                )
        for f in filenames:
            path = here / f
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                _check_inside(path.resolve(), outputs, f"{shown}/{rel}")
            if not path.is_file():
                raise UsageError(
                    f"{shown}/{rel} is not a regular file (a broken link, a socket or a pipe).",
                    hint="remove it from the outputs, or register the files next to it",
                )
            found.append((rel, path))
    found.sort()
    return found


def _store_content(
    project: Project, source: Path, outputs: Path, shown: str
) -> tuple[str, int, str]:
    """Copy a file or folder into the content-addressed store: (digest, size, kind)."""
    blobs = models_dir(project) / "blobs" / "sha256"
    tmp_root = models_dir(project) / "tmp"
    try:
        blobs.mkdir(parents=True, exist_ok=True)
        tmp_root.mkdir(parents=True, exist_ok=True)
        tmp = tmp_root / f"{os.getpid()}-{os.urandom(4).hex()}"
        try:
            if source.is_dir():
                kind = "folder"
                tmp.mkdir()
                manifest = hashlib.sha256(_FOLDER_MANIFEST)
                size = 0
                for rel, path in _folder_files(source, outputs, shown):
                    dest = tmp / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    file_hex, file_size = _copy_hashing(path, dest)
                    manifest.update(f"{rel}\0{file_hex}\n".encode())
                    size += file_size
                hexdigest = manifest.hexdigest()
            else:
                kind = "file"
                hexdigest, size = _copy_hashing(source, tmp)
            final = blobs / hexdigest
            if final.exists():
                _remove(tmp)  # the same content is already stored
            else:
                try:
                    tmp.rename(final)
                except OSError:
                    if not final.exists():
                        raise
                    _remove(tmp)  # another process stored it first
        finally:
            if tmp.exists() or tmp.is_symlink():
                _remove(tmp)
    except OSError as exc:
        raise RunyardError(
            f"Could not copy {shown} into the model store {project.relpath(blobs)}: {exc}",
            hint="check the free space and permissions of .runyard/state",
        ) from exc
    return f"sha256:{hexdigest}", size, kind


def _remove(path: Path) -> None:
    # Stored files are read-only but their folders are not, so they can be removed.
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# ---- framework detection ------------------------------------------------------------

_EXTENSIONS = {
    ".keras": "keras",
    ".h5": "keras",
    ".hdf5": "keras",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".onnx": "onnx",
    ".tflite": "tflite",
    ".safetensors": "safetensors",
}
_PICKLES = (".joblib", ".pkl", ".pickle")
_PICKLED_MODULES = ((b"sklearn", "sklearn"), (b"xgboost", "xgboost"), (b"lightgbm", "lightgbm"))


def _file_framework(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if suffix in _PICKLES:
        # Pickles name the modules of their classes as plain strings, early on; a
        # compressed joblib file cannot be told cheaply and is left unknown.
        try:
            with path.open("rb") as f:
                head = f.read(_SNIFF_BYTES)
        except OSError:
            return None
        for needle, framework in _PICKLED_MODULES:
            if needle in head:
                return framework
    return None


def detect_framework(path: Path) -> str | None:
    """The framework a model file or folder was saved with, when it can be told."""
    if not path.is_dir():
        return _file_framework(path)
    if (path / "saved_model.pb").is_file():
        return "tensorflow"
    if (path / "MLmodel").is_file():
        return "mlflow"
    if (path / "config.json").is_file() and any(
        (path / f).is_file() for f in ("model.safetensors", "pytorch_model.bin", "tf_model.h5")
    ):
        return "transformers"
    found = {fw for f in path.rglob("*") if f.is_file() and (fw := _file_framework(f)) is not None}
    return found.pop() if len(found) == 1 else None


# ---- names and references -----------------------------------------------------------


def check_name(name: str, what: str = "model name") -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a valid {what}.",
            hint="use letters, digits, '-', '_' and '.', starting with a letter or digit "
            "(at most 128 characters)",
        )
    return name


def check_alias(alias: str) -> str:
    check_name(alias, "alias")
    if alias.isdigit():
        raise UsageError(
            f"The alias {alias!r} is a number, which would read as a version.",
            hint="pick a word, for example `production` or `staging`",
        )
    if alias == LATEST:
        raise UsageError(
            f"{LATEST!r} cannot be an alias: NAME@{LATEST} always means the newest version.",
            hint="pick another word, for example `production` or `staging`",
        )
    return alias


def parse_ref(ref: str) -> tuple[str, int | None, str | None]:
    """`name`, `name:VERSION` or `name@ALIAS` as (name, version, alias)."""
    text = ref.strip()
    match = _REF.fullmatch(text)
    if not match:
        raise UsageError(
            f"{ref!r} is not a model reference.",
            hint="write NAME (the newest version), NAME:VERSION or NAME@ALIAS",
        )
    name = check_name(match["name"])
    version: int | None = None
    if match["version"] is not None:
        if not match["version"].isdigit() or int(match["version"]) < 1:
            raise UsageError(
                f"{match['version']!r} in {ref!r} is not a version number.",
                hint=f"versions are 1, 2, 3...; for an alias write {name}@ALIAS",
            )
        version = int(match["version"])
    alias = match["alias"]
    if alias is not None and not alias:
        raise UsageError(
            f"{ref!r} names no alias after '@'.", hint=f"for example {name}@production"
        )
    return name, version, alias


def _records(store: Store, name: str) -> list[ModelRecord]:
    records = store.model_versions(name)
    if not records:
        known = store.model_names()
        hint = (
            f"registered models: {', '.join(known[:10])}{', ...' if len(known) > 10 else ''}"
            if known
            else "register one with `runyard model register RUN PATH --name NAME`"
        )
        raise NotFoundError(f"No model named {name!r} is registered.", hint=hint)
    return records


def resolve(project: Project, store: Store, ref: str) -> ModelVersion:
    """The version `ref` names: `name` (the newest), `name:3` or `name@production`."""
    name, version, alias = parse_ref(ref)
    records = _records(store, name)
    if version is not None:
        for record in records:
            if record.version == version:
                return _version(project, record)
        numbers = [r.version for r in records]
        raise NotFoundError(
            f"Model {name!r} has no version {version}.",
            hint=f"its versions are {_ranges(numbers)}; see `runyard model list {name}`",
        )
    if alias is not None and alias != LATEST:
        for record in records:
            if alias in record.aliases:
                return _version(project, record)
        aliases = sorted(a for r in records for a in r.aliases)
        hint = (
            f"its aliases are {', '.join(aliases)}"
            if aliases
            else f"it has none; set one with `runyard model alias {name}:VERSION {alias}`"
        )
        raise NotFoundError(f"Model {name!r} has no alias {alias!r}.", hint=hint)
    return _version(project, records[-1])


def _ranges(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"{numbers[0]} to {numbers[-1]}"
    return ", ".join(str(n) for n in numbers)


def list_models(project: Project, store: Store, name: str | None = None) -> list[ModelVersion]:
    """Every registered version (of one model when `name` is given), by name and version."""
    if name is not None:
        return [_version(project, r) for r in _records(store, check_name(name))]
    return [_version(project, r) for r in store.model_versions()]


# ---- registering ----------------------------------------------------------------------


def _check_inside(resolved: Path, outputs: Path, shown: str) -> None:
    try:
        resolved.relative_to(outputs)
    except ValueError:
        raise UsageError(
            f"{shown} leads outside the run's outputs folder (through a link).",
            hint="register only what the run wrote into its outputs folder",
        ) from None


def _source(project: Project, run_id: str, path: str) -> tuple[Path, Path, str]:
    """The checked source path: (its resolved path, the resolved outputs folder, the
    normalised path relative to the outputs folder)."""
    text = path.strip()
    if not text:
        raise UsageError(
            "No path was given.", hint="give a path relative to the run's outputs folder"
        )
    if "\0" in text:
        raise UsageError("The path contains a NUL byte.")
    if (
        os.path.isabs(text)
        or PurePosixPath(text).is_absolute()
        or PureWindowsPath(text).is_absolute()
        or text.startswith(("\\", "~"))
    ):
        raise UsageError(
            f"{path} is an absolute path; the path must be relative to the run's outputs folder.",
            hint=f"for example `model.keras` for .runyard/state/runs/{run_id}/outputs/model.keras",
        )
    parts = PurePosixPath(text).parts
    if ".." in parts or ".." in PureWindowsPath(text).parts:
        raise UsageError(
            f"{path} contains '..'; the path must stay inside the run's outputs folder.",
            hint="give a path relative to the run's outputs folder, without '..'",
        )
    rel = PurePosixPath(*parts).as_posix() if parts else "."
    outputs_dir = runs.outputs_dir(project, run_id)
    if not outputs_dir.is_dir():
        raise NotFoundError(
            f"Run {run_id} has no outputs folder, so it has nothing to register.",
            hint="a run's outputs are what it writes to outputs/ (or logs with "
            "runyard.log_artifact)",
        )
    outputs = outputs_dir.resolve()
    candidate = outputs_dir / rel
    if not candidate.exists() and not candidate.is_symlink():
        listed = sorted(p.name + ("/" if p.is_dir() else "") for p in outputs_dir.iterdir())
        hint = (
            f"its outputs hold: {', '.join(listed[:12])}{', ...' if len(listed) > 12 else ''}"
            if listed
            else "its outputs folder is empty"
        )
        raise NotFoundError(f"Run {run_id} has no output {rel!r}.", hint=hint)
    resolved = candidate.resolve()
    _check_inside(resolved, outputs, rel)
    if not resolved.exists():
        raise NotFoundError(f"The output {rel} of run {run_id} is a broken link.")
    if not (resolved.is_file() or resolved.is_dir()):
        raise UsageError(f"The output {rel} of run {run_id} is not a file or a folder.")
    return resolved, outputs, rel


def register(
    project: Project,
    store: Store,
    run_id: str,
    path: str,
    name: str,
    tags: dict[str, str] | None = None,
    aliases: list[str] | None = None,
) -> ModelVersion:
    """Register the file or folder `path` (relative to the run's outputs folder) of a
    finished run as the next version of model `name`."""
    check_name(name)
    alias_list = list(dict.fromkeys(check_alias(a) for a in aliases or []))
    tag_map = {str(k): str(v) for k, v in (tags or {}).items()}
    for key in tag_map:
        if not key.strip():
            raise UsageError("A tag has an empty key.", hint="write tags as KEY=VALUE")
    run = runs.get_run(project, store, run_id)
    if run.live:
        raise UsageError(
            f"Run {run.id} is still {run.status}; its outputs are not final yet.",
            hint=f"register it once it has ended (`runyard runs wait {run.id}`)",
        )
    source, outputs, rel = _source(project, run.id, path)
    framework = detect_framework(source)
    digest, size, kind = _store_content(project, source, outputs, rel)
    record = ModelRecord(
        name=name,
        version=0,
        digest=digest,
        size=size,
        kind=kind,
        framework=framework,
        run_id=run.id,
        source_path=rel,
        snapshot_commit=run.snapshot_commit,
        target=run.target,
        env_hash=run.env_hash,
        created=time.time(),
        tags=tag_map,
        aliases=tuple(alias_list),
    )
    version = store.add_model_version(record)
    return resolve(project, store, f"{name}:{version}")


# ---- aliases, download, lineage --------------------------------------------------------


def set_alias(project: Project, store: Store, ref: str, alias: str) -> ModelVersion:
    """Point `alias` at the version `ref` names, moving it from any other version."""
    check_alias(alias)
    model = resolve(project, store, ref)
    store.set_model_alias(model.name, alias, model.version)
    return resolve(project, store, model.ref)


def remove_alias(project: Project, store: Store, name: str, alias: str) -> None:
    check_name(name)
    _records(store, name)
    if not store.remove_model_alias(name, alias):
        aliases = sorted(store.model_aliases(name))
        raise NotFoundError(
            f"Model {name!r} has no alias {alias!r}.",
            hint=f"its aliases are {', '.join(aliases)}" if aliases else "it has no aliases",
        )


def download(project: Project, store: Store, ref: str, dest: Path) -> Path:
    """Copy the content of a version out to `dest` (into it, when `dest` is a folder);
    the path written. Never overwrites."""
    model = resolve(project, store, ref)
    if not model.path.exists():
        raise RunyardError(
            f"The content of {model.ref} ({model.digest}) is missing from the model store "
            f"{project.relpath(model.path.parent)}.",
            hint=f"register it again from run {model.run_id} if that run's outputs remain",
        )
    target = dest / model.filename if dest.is_dir() else dest
    if target.exists() or target.is_symlink():
        raise UsageError(
            f"{target} already exists; nothing was overwritten.",
            hint="give another destination, or move the existing one away",
        )
    if not target.parent.is_dir():
        raise NotFoundError(f"The folder {target.parent} does not exist.", hint="create it first")
    try:
        if model.kind == "folder":
            shutil.copytree(model.path, target, copy_function=shutil.copyfile)
        else:
            shutil.copyfile(model.path, target)
    except OSError as exc:
        raise RunyardError(f"Could not copy {model.ref} to {target}: {exc}") from exc
    return target
