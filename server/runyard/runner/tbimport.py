"""Imports the scalars a run writes as TensorBoard event files into the store.

A run that logs with TensorBoard (Keras' `TensorBoard` callback, `tf.summary`,
PyTorch's or tensorboardX's `SummaryWriter`) writes event files
(``events.out.tfevents.*``) under a folder of its working copy, `logs/` unless the job
names another (`tensorboard_dir`). `TensorBoardImporter` watches that folder and all
below it, reads each event file incrementally with TensorBoard's own record reader
(which keeps its place in the file, and stops before a record still being written, to
read it whole next time) and turns every scalar into a metric point of the run:

- the key is the event file's folder, relative to the watched one, joined with the
  tag: `train/epoch_loss`, `validation/epoch_accuracy`; just the tag for files at the
  top (`loss`);
- scalars are `simple_value`s (TF1, tensorboardX, PyTorch) and one-element numeric
  tensors of the `scalars` plugin (TF2, Keras, `tensorboard.summary.Writer`);
  histograms, images, text, graphs and the rest are left to TensorBoard.

`tensorboard` is imported only when event files are found, and then without
TensorFlow (TensorBoard's TensorFlow stand-in reads the files even where TensorFlow is
installed). Without `tensorboard` the files are still found and kept with the run, and
one `[runyard]` log line says how to get them imported.

**Event files anywhere in the working copy.** Writers pick their own folders: PyTorch's
`SummaryWriter()` writes to `runs/<date>_<host>/`, Lightning to
`lightning_logs/version_N/`, a script to whatever it names. Unless the job names a
folder other than `logs` (then the files are there, and only there), the supervisor
also has a `WorkingCopyImporter` find event files written anywhere else in the working
copy (the watched folder is left to `TensorBoardImporter`), with a cheap scan: `os.scandir` on real folders only, never
through a link, skipping folders that hold no run's event files (`.git`,
`__pycache__`, `node_modules`, virtual environments: `PRUNED`); at most every
`SCAN_SECONDS`, or less often when a scan is slow (`SCAN_COST_RATIO` times what the
last one took), and once more at the end. Files found are read on every poll in
between. Event files the snapshot brought along are not the run's, as above.

On the Docker, SSH and Ray targets the run's working copy is on another machine: there
the event files come back into the working copy here (`logs/` whole when the run ends,
the others by `targets.common.EventFilesBack`, which lists them there with the same
pruned folders and no link followed: on Docker and SSH while the run runs, appending
what each file gained, `common.LiveEventFiles`; on Ray the same bytes come on the
job's log), and both
importers read them as they arrive, by the same rules.

Naming: an event file's *run folder* is its folder relative to the working copy
(`runs/exp1`, `lightning_logs/version_0`). The first scan that finds event files fixes
the rule: when they all lie in one run folder, and the watched folder has none, that
folder's scalars keep their bare tags (`loss`); otherwise, and for every run folder
found later, tags are prefixed by the run folder (`runs/exp1/loss`,
`lightning_logs/version_0/loss`). A name once given is kept for the whole run, so a
series is never split between two keys. At the end the files are copied (never moved)
into the kept folder under their run folder (`tensorboard/runs/exp1/...`).

**A take-over goes on where the dead supervisor stopped.** The supervisor saves each
importer's place (`state()`, in `<run dir>/tensorboard-import.json`) once it has made
it (the files skipped as not the run's) and after each poll that stored points: for
each file the number of records read, the names given to run folders, the keys and
the count imported. A new supervisor that takes the run over makes its importers
with `resume=` that state instead of `skip_existing`: the files skipped stay skipped
(not every file there now, which would leave out the run's own), each file's first
records (those already imported) are read past without a point, and the names stay.
Points stored by a supervisor killed before it saved its place are imported again
(at most one poll's worth).

**Bad files.** A record that fails its checksum makes the file corrupt: the scalars
before it are imported, the rest of that file is skipped, and one warning in the run's
log names the file; a file that still ends in an incomplete record when the run has
ended, or holds records that are not events, gets one warning too. The run goes on
either way: nothing read from event files decides its outcome.

Links are never followed out of the working copy. Only real files (by `lstat`) inside
real folders are event files: a link below the watched folder, to a folder or a file,
is not followed, not read and not kept with the run (one log line names it). When the
watched folder itself is a link, or a folder between it and the working copy is one
(a committed `logs -> /some/shared/folder`), nothing there is the run's: no file is
read, moved, copied or deleted, and one log line names the link and says how to get
the files imported. Keeping moves the folder (a rename moves links, never what they
point to), then deletes only real files it finds again below the kept folder, and
removes the links it carried along, so TensorBoard never reads through them later.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import stat
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runyard.core.store import Store
from runyard.targets import common

# Where the supervisor keeps a run's TensorBoard files: `.runyard/state/runs/<id>/...`
KEPT_FOLDER = "tensorboard"
# The folder of the working copy watched when the job names none.
DEFAULT_DIR = common.TENSORBOARD_DIR
_STUB_MARKER = "tensorboard.compat.notf"  # importable: TensorBoard uses its TF stand-in
_BATCH = 50_000  # points per store transaction
SCAN_SECONDS = 5.0  # the working copy is scanned for new event files at most this often
SCAN_COST_RATIO = 20.0  # ... and never more than 1/20th of the time
# Folders of a working copy that hold no run's event files: never scanned (one list with
# the remote targets' scanners, in `targets.common`).
PRUNED = common.EVENT_FILES_PRUNED

Point = tuple[str, int, float, float]  # key, step, wall time, value


is_event_file = common.is_event_file  # (TensorBoard's own test)


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def _scan(root: Path) -> tuple[list[Path], list[Path]]:
    """The real event files under `root` (recursively, never through a link), sorted,
    and the links found on the way (not followed); nothing when `root` is a link or not
    a folder."""
    files: list[Path] = []
    links: list[Path] = []
    if _is_link(root):
        return files, links
    for folder, dirs, names in os.walk(root):  # (never descends into a linked folder)
        base = Path(folder)
        linked = {name for name in dirs if _is_link(base / name)}
        links.extend(base / name for name in sorted(linked))
        dirs[:] = sorted(set(dirs) - linked)
        for name in sorted(names):
            path = base / name
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue  # (gone since)
            if stat.S_ISLNK(mode):
                links.append(path)
            elif stat.S_ISREG(mode) and is_event_file(name):
                files.append(path)
    return files, links


def event_files(root: Path) -> list[Path]:
    """The real event files under `root` (recursively), sorted; never through a link
    (none when `root` itself is one); [] when it is not a folder."""
    return _scan(root)[0]


def _link_refused(root: Path, within: Path) -> tuple[Path, bool] | None:
    """The first link on the way from `within` down to `root` (`root` included), and
    whether it leads out of `within`; None when there is none. `root` must lie in
    `within`."""
    try:
        parts = root.relative_to(within).parts
    except ValueError:
        return root, True
    path = within
    for part in parts:
        path = path / part
        if _is_link(path):
            try:
                out = not path.resolve().is_relative_to(within.resolve())
            except (OSError, RuntimeError):  # (a loop)
                out = True
            return path, out
    return None


def _working_copy(root: Path, label: str | None) -> Path:
    """The working copy `root` lies in, when the caller did not say: `root` less the
    parts of `label` when `label` is a relative path `root` ends with, else its parent."""
    parts = Path(label).parts if label else ()
    relative = bool(parts) and not Path(label or "").is_absolute() and ".." not in parts
    if relative and root.parts[-len(parts) :] == parts and len(root.parts) > len(parts):
        return root.parents[len(parts) - 1]
    return root.parent


@dataclass
class _TB:
    """The parts of TensorBoard the importer uses, imported on first need."""

    loader: Any  # RawEventFileLoader
    event_pb2: Any
    scalar_class: int  # summary_pb2.DATA_CLASS_SCALAR
    make_ndarray: Callable[[Any], Any]
    data_loss: type[BaseException]  # what its record reader raises on a bad record


def _import_tensorboard() -> _TB:
    """TensorBoard's event reader, made to use its TensorFlow stand-in: `tensorboard.
    compat.tf` imports TensorFlow when it can, unless `tensorboard.compat.notf` exists.
    Raises ImportError (or whatever a broken installation raises)."""
    added = False
    if "tensorflow" not in sys.modules and _STUB_MARKER not in sys.modules:
        sys.modules[_STUB_MARKER] = types.ModuleType(_STUB_MARKER)
        added = True
    try:
        loader_mod = importlib.import_module(
            "tensorboard.backend.event_processing.event_file_loader"
        )
        event_pb2 = importlib.import_module("tensorboard.compat.proto.event_pb2")
        summary_pb2 = importlib.import_module("tensorboard.compat.proto.summary_pb2")
        tensor_util = importlib.import_module("tensorboard.util.tensor_util")
    except BaseException:
        if added:
            sys.modules.pop(_STUB_MARKER, None)
        raise
    return _TB(
        loader=loader_mod.RawEventFileLoader,
        event_pb2=event_pb2,
        scalar_class=int(summary_pb2.DATA_CLASS_SCALAR),
        make_ndarray=tensor_util.make_ndarray,
        data_loss=loader_mod.tf.errors.DataLossError,
    )


@dataclass
class _EventFile:
    path: Path
    prefix: str  # the file's folder relative to the root, "" at the root
    loader: Any  # keeps its place in the file
    records: int = 0  # records read so far
    bad: int = 0  # records that were not Event protos
    corrupt: bool = False  # a record failed its checksum: the rest is skipped
    incomplete: bool = False  # the last read stopped at a record not yet whole
    skip: int = 0  # the first records, imported before a take-over (`resume`)


class TensorBoardImporter:
    """Reads new scalar points from the event files under `root`, call after call.

    With `skip_existing`, event files already there when it is made (ones the project's
    snapshot brought along) are not the run's: they are never read, and `run_files`
    leaves them out. `log` gets one line when event files are found but TensorBoard is
    not installed (or cannot be imported), one for each file that cannot be read, and
    one for each link it will not follow; `label` names the folder in those lines
    (default: its name). `within` is the run's working copy, which links may not lead
    out of; by default the folder `label` is relative to (`root` less `label`'s parts)
    when `label` is the end of `root`, else `root`'s parent.
    """

    def __init__(
        self,
        root: Path,
        *,
        log: Callable[[str], None] | None = None,
        skip_existing: bool = False,
        label: str | None = None,
        within: Path | None = None,
        resume: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.label = label or root.name  # how messages name the folder
        self.within = within or _working_copy(root, label)
        self.log = log
        self.bad_records = 0  # records that were not Event protos (skipped)
        self.imported = 0  # points read so far
        self.keys: set[str] = set()  # keys of the points read so far
        self.unavailable: str | None = None  # why TensorBoard could not be imported
        self._skipped = set(event_files(root)) if skip_existing and resume is None else set()
        self._files: dict[Path, _EventFile] = {}
        self._read_before: dict[Path, int] = {}  # records a dead supervisor read (`resume`)
        if resume is not None:
            self._resume(resume)
        self._plugins: dict[str, str] = {}  # key -> the plugin its first value names
        self._failed: set[Path] = set()
        self._told: set[Path] = set()  # links already named in the log
        self._tb: _TB | None = None

    def run_files(self) -> list[Path]:
        """The run's event files now under `root` (not those skipped), sorted: real files
        only, none when `root` is (or lies under) a link; links met are named in the log."""
        if self._refused():
            return []
        files, links = _scan(self.root)
        for link in links:
            if link not in self._told:
                self._told.add(link)
                self._say(
                    f"{self._rel(link)} is a link{self._to(link)}: not followed, "
                    "not imported and not kept with the run"
                )
        return [p for p in files if p not in self._skipped]

    def read(self, *, final: bool = False) -> list[Point]:
        """Every scalar point written since the last call, file by file, in file order.
        With `final` (the run has ended), a file left with an incomplete record is said."""
        if self.unavailable is not None:
            return []
        paths = self._paths(final)
        if not paths:
            return []
        tb = self._tensorboard()
        if tb is None:
            return []
        points: list[Point] = []
        for path in paths:
            try:
                self._read_file(tb, path, points, final)
            except Exception as exc:  # vanished, unreadable: tried again next time, from
                if path not in self._failed:  # where its reader stands (no point twice)
                    self._failed.add(path)
                    self._say(f"could not read the TensorBoard event file {self._rel(path)}: {exc}")
        self.imported += len(points)
        return points

    def poll(self, store: Store, run_id: str, *, final: bool = False) -> int:
        """Add the points written since the last call to the run's metrics; returns how
        many were added."""
        points = self.read(final=final)
        for i in range(0, len(points), _BATCH):
            store.add_metrics(run_id, points[i : i + _BATCH])
        return len(points)

    def keep(self, dest: Path, *, copy: bool = False) -> int:
        """Keep the run's event files in `dest` (replaced): the whole watched folder is
        moved there, less the files skipped; with `copy`, only the run's event files
        are copied (the folder stays, as when it lies in the outputs folder). Returns
        how many event files were kept; 0 (and nothing done) when there are none."""
        files = self.run_files()
        if not files:
            return 0
        self._files.clear()  # (their paths change)
        shutil.rmtree(dest, ignore_errors=True)
        if copy:
            for path in files:
                target = dest / path.relative_to(self.root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self.root), str(dest))
            # Found again below `dest`, through real folders only: never a file elsewhere.
            kept, links = _scan(dest)
            real = set(kept)
            for path in self._skipped:
                moved = dest / path.relative_to(self.root)
                if moved in real:
                    moved.unlink(missing_ok=True)
            for link in links:  # (the link itself, never what it points to)
                with contextlib.suppress(OSError):
                    os.unlink(link)
        return len(files)

    def state(self) -> dict[str, Any]:
        """Where this importer stands, as JSON data for `resume=` (module docstring):
        paths relative to `root`."""
        files = dict(self._read_before)
        files.update({path: max(f.records, f.skip) for path, f in self._files.items()})
        return {
            "skipped": sorted(self._relative(p) for p in self._skipped),
            "files": {self._relative(p): n for p, n in sorted(files.items())},
            "keys": sorted(self.keys),
            "imported": self.imported,
        }

    # ---- internals ---------------------------------------------------------------------

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _resume(self, state: dict[str, Any]) -> None:
        """Stand where `state()` said (a dead supervisor's importer)."""
        self._skipped = {self.root / str(p) for p in state.get("skipped", [])}
        self._read_before = {
            self.root / str(p): int(n) for p, n in dict(state.get("files", {})).items()
        }
        self.keys = {str(k) for k in state.get("keys", [])}
        self.imported = int(state.get("imported", 0))

    def _paths(self, final: bool) -> list[Path]:
        """The files to read now."""
        return self.run_files()

    def _prefix(self, path: Path) -> str:
        """What the keys of the file's scalars start with: its folder below `root`."""
        rel = path.parent.relative_to(self.root).as_posix()
        return "" if rel == "." else rel + "/"

    def _say(self, line: str) -> None:
        if self.log is not None:
            self.log(line)

    def _rel(self, path: Path) -> str:
        """How messages name a path: below `root`, as `label/...`."""
        try:
            rel = path.relative_to(self.root).as_posix()
        except ValueError:
            try:
                return path.relative_to(self.within).as_posix()
            except ValueError:
                return str(path)
        return self.label if rel == "." else f"{self.label}/{rel}"

    def _to(self, link: Path) -> str:
        try:
            return f" (to {os.readlink(link)})"
        except OSError:
            return ""

    def _refused(self) -> bool:
        """Whether `root` is a link or lies under one (one log line says so, once)."""
        found = _link_refused(self.root, self.within)
        if found is None:
            return False
        link, out = found
        if link not in self._told:
            self._told.add(link)
            where = " out of the working copy" if out else ""
            name = self._rel(link)
            self._say(
                f"{name} is a link{where}{self._to(link)}: TensorBoard event files there "
                "are not imported or kept with the run, and nothing there is moved or "
                f"deleted; make {name} a real folder of the project to have them imported"
            )
        return True

    def _tensorboard(self) -> _TB | None:
        if self._tb is None:
            try:
                self._tb = _import_tensorboard()
            except Exception as exc:
                if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith(
                    "tensorboard"
                ):
                    why = "tensorboard is not installed"
                else:
                    why = f"tensorboard could not be imported ({type(exc).__name__}: {exc})"
                self.unavailable = why
                self._say(
                    f"TensorBoard event files were found in {self.label}/ but {why}: "
                    f"`pip install tensorboard` into Runyard's environment ({sys.executable}) "
                    "to import their scalars as metrics"
                )
                return None
        return self._tb

    def _read_file(self, tb: _TB, path: Path, points: list[Point], final: bool = False) -> None:
        state = self._files.get(path)
        if state is None:
            state = _EventFile(path, self._prefix(path), tb.loader(str(path)))
            self._files[path] = state
            # records a dead supervisor imported (`resume`): read past, without a point
            state.skip = self._read_before.pop(path, 0)
        if state.corrupt:
            return
        parse = tb.event_pb2.Event.FromString
        bad_before = state.bad
        for raw in self._records(tb, state):
            state.records += 1
            if state.records <= state.skip:
                continue
            try:
                event = parse(raw)
            except Exception:
                self.bad_records += 1
                state.bad += 1
                continue
            if not event.HasField("summary"):
                continue
            step, wall = int(event.step), float(event.wall_time)
            for value in event.summary.value:
                key = state.prefix + value.tag
                number = self._scalar(tb, key, value)
                if number is not None:
                    points.append((key, step, wall, number))
                    self.keys.add(key)
        name = self._rel(path)
        if state.bad and not bad_before:
            self._say(
                f"warning: the TensorBoard event file {name} holds records that are not "
                "TensorBoard events: they are skipped"
            )
        if state.corrupt:
            self._say(
                f"warning: the TensorBoard event file {name} is corrupt (record "
                f"{state.records + 1} fails its checksum): the scalars before it were "
                "imported, the rest of the file is skipped; the run goes on"
            )
        elif final and state.incomplete:
            self._say(
                f"warning: the TensorBoard event file {name} ends in an incomplete record "
                "(its writer did not finish it): the scalars before it were imported"
            )

    def _records(self, tb: _TB, state: _EventFile) -> Iterator[bytes]:
        """The file's new records, through TensorBoard's reader; notes on `state` a
        record that fails its checksum (`corrupt`) or is not whole yet (`incomplete`),
        which TensorBoard's `Load` would pass over in silence."""
        iterator = getattr(state.loader, "_iterator", None)
        if iterator is None:  # (a TensorBoard whose loader keeps no iterator)
            yield from state.loader.Load()
            return
        state.incomplete = False
        while True:
            try:
                raw = next(iterator)
            except StopIteration:
                return
            except tb.data_loss as exc:
                if "truncated" in str(exc).lower():
                    state.incomplete = True  # (read again whole next time)
                else:
                    state.corrupt = True
                return
            yield raw

    def _scalar(self, tb: _TB, key: str, value: Any) -> float | None:
        """The value's number when it is a scalar, else None."""
        has_metadata = value.HasField("metadata")
        plugin = value.metadata.plugin_data.plugin_name if has_metadata else ""
        if plugin:
            self._plugins.setdefault(key, plugin)  # the first value's metadata names the series
        plugin = self._plugins.get(key, "")
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            return float(value.simple_value)
        if kind != "tensor":
            return None
        if plugin != "scalars" and not (
            has_metadata and value.metadata.data_class == tb.scalar_class
        ):
            return None
        try:
            array = tb.make_ndarray(value.tensor)
        except Exception:
            return None
        if array.size != 1 or array.dtype.kind not in "fiu":
            return None
        return float(array.reshape(()).item())


def _scan_anywhere(root: Path, exclude: Path | None) -> tuple[list[Path], list[Path]]:
    """The real event files in real folders under `root` (never through a link, never in
    `exclude` or a `PRUNED` folder), sorted, and the links named like event files met
    on the way (not followed). Nothing when `root` is a link."""
    files: list[Path] = []
    links: list[Path] = []
    if _is_link(root):
        return files, links
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # (gone since, or unreadable)
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    if is_event_file(entry.name):
                        links.append(path)
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name not in PRUNED and path != exclude:
                        pending.append(path)
                elif entry.is_file(follow_symlinks=False) and is_event_file(entry.name):
                    files.append(path)
            except OSError:
                continue
    return sorted(files), sorted(links)


class WorkingCopyImporter(TensorBoardImporter):
    """Reads new scalar points from event files written anywhere in the working copy
    `workdir` but in `exclude` (the watched folder, which `watched` reads): found by a
    scan at most every `SCAN_SECONDS` (`rescan` asks for one at the next read), named
    as the module docstring says. `keep` copies them into the kept folder, each under
    its run folder, beside what `watched` kept there."""

    def __init__(
        self,
        workdir: Path,
        *,
        exclude: Path | None = None,
        watched: TensorBoardImporter | None = None,
        log: Callable[[str], None] | None = None,
        skip_existing: bool = False,
        resume: dict[str, Any] | None = None,
    ) -> None:
        self.exclude = exclude
        self.watched = watched
        self.scans = 0  # scans done so far
        self.scan_seconds = 0.0  # what the last one took
        self._next_scan = 0.0
        self._found: list[Path] = []
        self._prefixes: dict[Path, str] = {}  # run folder -> its keys' prefix, once given
        super().__init__(workdir, log=log, label=".", within=workdir, resume=resume)
        if skip_existing and resume is None:
            self._skipped = set(self._scan())

    def state(self) -> dict[str, Any]:
        state = super().state()
        state["prefixes"] = {
            (folder.relative_to(self.root).as_posix()): prefix
            for folder, prefix in sorted(self._prefixes.items())
        }
        return state

    def rescan(self) -> None:
        """Scan again at the next read, however soon."""
        self._next_scan = 0.0

    def folders(self) -> list[str]:
        """The run folders of the event files found so far, relative to the working copy."""
        return sorted({self._folder(p) for p in self._found})

    def run_files(self) -> list[Path]:
        self._found = [p for p in self._scan() if p not in self._skipped]
        self._name_folders()
        return list(self._found)

    def keep(self, dest: Path, *, copy: bool = True) -> int:
        """Copy the run's event files into `dest`, each under its run folder; what is
        there already (the watched folder's files) stays. Returns how many were copied."""
        files = self.run_files()
        for path in files:
            target = dest / path.relative_to(self.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        return len(files)

    # ---- internals ---------------------------------------------------------------------

    def _paths(self, final: bool) -> list[Path]:
        now = time.monotonic()
        if final or now >= self._next_scan:
            self.run_files()
            self._next_scan = time.monotonic() + max(
                SCAN_SECONDS, SCAN_COST_RATIO * self.scan_seconds
            )
        return list(self._found)

    def _scan(self) -> list[Path]:
        started = time.monotonic()
        files, links = _scan_anywhere(self.root, self.exclude)
        self.scan_seconds = time.monotonic() - started
        self.scans += 1
        for link in links:
            if link not in self._told:
                self._told.add(link)
                self._say(
                    f"{self._rel(link)} is a link{self._to(link)}: not followed, "
                    "not imported and not kept with the run"
                )
        return files

    def _resume(self, state: dict[str, Any]) -> None:
        super()._resume(state)
        self._prefixes = {
            self.root / str(f): str(p) for f, p in dict(state.get("prefixes", {})).items()
        }

    def _folder(self, path: Path) -> str:
        return path.parent.relative_to(self.root).as_posix()

    def _name_folders(self) -> None:
        """Give each new run folder its keys' prefix (the module docstring's rule)."""
        new = sorted({p.parent for p in self._found} - set(self._prefixes))
        if not new:
            return
        first = not self._prefixes
        watched_has_files = self.watched is not None and bool(
            self.watched.keys or self.watched.run_files()
        )
        sole = first and len(new) == 1 and not watched_has_files
        for folder in new:
            rel = folder.relative_to(self.root).as_posix()
            self._prefixes[folder] = "" if sole or rel == "." else rel + "/"

    def _prefix(self, path: Path) -> str:
        if path.parent not in self._prefixes:
            self._name_folders()
        return self._prefixes.get(path.parent, "")

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)
