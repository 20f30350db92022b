"""The model registry's tables: model versions with their lineage, and aliases.

A version row records what was registered (digest, size, file or folder, framework) and
where it came from (the run, the path in its outputs, the run's snapshot commit, target
and environment hash). Version numbers are taken inside the registering transaction
(`add_model_version`), so two registrations of one name never share a number. An alias
names one version of a model; pointing it at another moves it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runyard.core.store.engine import Tables, Where


@dataclass
class ModelRecord:
    """A row of `model_versions`, with the aliases that point at it."""

    name: str
    version: int
    digest: str
    size: int
    kind: str  # "file" | "folder"
    framework: str | None
    run_id: str
    source_path: str
    snapshot_commit: str | None
    target: str | None
    env_hash: str | None
    created: float
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


MODEL_COLUMNS = (
    "name, version, digest, size, kind, framework, run_id, source_path, snapshot_commit, "
    "target, env_hash, created, tags"
)


def model_from_row(row: Sequence[Any], aliases: tuple[str, ...]) -> ModelRecord:
    return ModelRecord(
        name=row[0],
        version=row[1],
        digest=row[2],
        size=row[3],
        kind=row[4],
        framework=row[5],
        run_id=row[6],
        source_path=row[7],
        snapshot_commit=row[8],
        target=row[9],
        env_hash=row[10],
        created=row[11],
        tags=json.loads(row[12] or "{}"),
        aliases=aliases,
    )


class ModelTables(Tables):
    """`Store`'s model registry calls."""

    def add_model_version(self, record: ModelRecord) -> int:
        """Record a new version of `record.name` (its `version` is ignored: the next number
        is taken inside the transaction) and point its aliases at it, moving them from
        other versions. Returns the version number."""
        with self._tx() as db:
            version = int(
                db.execute(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?",
                    (record.name,),
                ).fetchone()[0]
            )
            db.execute(
                f"INSERT INTO model_versions ({MODEL_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.name,
                    version,
                    record.digest,
                    record.size,
                    record.kind,
                    record.framework,
                    record.run_id,
                    record.source_path,
                    record.snapshot_commit,
                    record.target,
                    record.env_hash,
                    record.created,
                    json.dumps(record.tags, sort_keys=True),
                ),
            )
            db.executemany(
                "INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?) "
                "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                [(record.name, alias, version) for alias in record.aliases],
            )
        return version

    def model_versions(
        self, name: str | None = None, version: int | None = None
    ) -> list[ModelRecord]:
        """Versions of every model (or of `name`, or the one `version` of it), by name
        and then version."""
        where = Where().equal("name", name).equal("version", version)
        rows = self._read(
            f"SELECT {MODEL_COLUMNS} FROM model_versions{where} ORDER BY name, version",
            where.args,
        )
        aliases: dict[tuple[str, int], list[str]] = {}
        alias_cond = " WHERE name = ?" if name is not None else ""
        for a_name, alias, a_version in self._read(
            f"SELECT name, alias, version FROM model_aliases{alias_cond} ORDER BY alias",
            [name] if name is not None else [],
        ):
            aliases.setdefault((a_name, a_version), []).append(alias)
        return [model_from_row(r, tuple(aliases.get((r[0], r[1]), ()))) for r in rows]

    def model_names(self) -> list[str]:
        rows = self._read("SELECT DISTINCT name FROM model_versions ORDER BY name")
        return [r[0] for r in rows]

    def model_aliases(self, name: str) -> dict[str, int]:
        rows = self._read(
            "SELECT alias, version FROM model_aliases WHERE name = ? ORDER BY alias", (name,)
        )
        return {r[0]: r[1] for r in rows}

    def set_model_alias(self, name: str, alias: str, version: int) -> None:
        """Point `alias` of model `name` at `version`, moving it if it pointed elsewhere."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?) "
                "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                (name, alias, version),
            )

    def remove_model_alias(self, name: str, alias: str) -> bool:
        """False when model `name` had no such alias."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM model_aliases WHERE name = ? AND alias = ?", (name, alias)
            )
            return cur.rowcount > 0
