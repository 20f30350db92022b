"""Deployments: a model version served by a container, and the telemetry samples read
from each running service.

A deployment is recorded once its service answers (`put_deployment`, replacing an
earlier one of the same name) and changes status as it is refreshed or stopped
(`update_deployment`). Telemetry samples are counts since the service started; a sample
equal to the newest one only moves that one's time, so an idle deployment sampled on
every listing does not grow the table.

`Deployment` is a row of `deployments`, frozen: a changed deployment is a new value
(`dataclasses.replace`), and what the store holds changes only through its calls.
Telemetry samples are returned as dicts (time, requests, errors, p50_ms, p95_ms).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from runyard.core.store.engine import Tables


@dataclass(frozen=True)
class Deployment:
    """A row of `deployments`: a model version served by a container on a docker target."""

    name: str
    model: str
    version: int
    target: str
    image: str | None
    container_id: str | None
    host: str | None  # the address the service is published on (127.0.0.1 by default)
    port: int | None  # its port on the engine's machine
    status: str  # starting | running | stopped | exited | gone (unreachable: not stored)
    created: float
    stopped: float | None = None
    options: dict[str, Any] = field(default_factory=dict)  # digest, image_id

    @property
    def ref(self) -> str:
        """``model:version``."""
        return f"{self.model}:{self.version}"

    def to_json(self) -> dict[str, Any]:
        """Every field, in order, as JSON values."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {
            "options": dict(self.options)
        }


DEPLOYMENT_COLUMNS = tuple(f.name for f in fields(Deployment))


def deployment_from_row(row: Sequence[Any]) -> Deployment:
    values = dict(zip(DEPLOYMENT_COLUMNS, row, strict=True))
    values["options"] = json.loads(values["options"] or "{}")
    return Deployment(**values)


class DeploymentTables(Tables):
    """`Store`'s deployment calls."""

    def model_deployments(self, name: str, version: int | None = None) -> list[Deployment]:
        """Deployments of model `name` (of one version, or all), newest first."""
        sql = f"SELECT {', '.join(DEPLOYMENT_COLUMNS)} FROM deployments WHERE model = ?"
        args: list[Any] = [name]
        if version is not None:
            sql += " AND version = ?"
            args.append(version)
        rows = self._read(sql + " ORDER BY created DESC", args)
        return [deployment_from_row(r) for r in rows]

    def put_deployment(self, deployment: Deployment) -> None:
        """Record a deployment, replacing one of that name."""
        row = [*(getattr(deployment, k) for k in DEPLOYMENT_COLUMNS[:-1])]
        row.append(json.dumps(deployment.options or {}))
        with self._tx() as db:  # a replace, as two portable statements
            db.execute("DELETE FROM deployments WHERE name = ?", (deployment.name,))
            db.execute(
                f"INSERT INTO deployments ({', '.join(DEPLOYMENT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(DEPLOYMENT_COLUMNS))})",
                row,
            )

    def get_deployment(self, name: str) -> Deployment | None:
        rows = self._read(
            f"SELECT {', '.join(DEPLOYMENT_COLUMNS)} FROM deployments WHERE name = ?", (name,)
        )
        return deployment_from_row(rows[0]) if rows else None

    def list_deployments(self) -> list[Deployment]:
        """Every deployment, newest first."""
        rows = self._read(
            f"SELECT {', '.join(DEPLOYMENT_COLUMNS)} FROM deployments ORDER BY created DESC"
        )
        return [deployment_from_row(r) for r in rows]

    def update_deployment(self, name: str, **fields: Any) -> None:
        """Change fields of the recorded deployment `name` (any but its name)."""
        bad = set(fields) - set(DEPLOYMENT_COLUMNS[1:])
        if bad:
            raise ValueError(f"not deployment fields: {sorted(bad)}")
        if "options" in fields:
            fields["options"] = json.dumps(fields["options"] or {})
        with self._tx() as db:
            db.execute(
                f"UPDATE deployments SET {', '.join(f'{k} = ?' for k in fields)} WHERE name = ?",
                [*fields.values(), name],
            )

    def add_deployment_stats(
        self,
        name: str,
        when: float,
        requests: int,
        errors: int,
        p50_ms: float | None,
        p95_ms: float | None,
    ) -> None:
        """A telemetry sample read from the deployment's service (counts since it started).
        A sample equal to the newest one only moves that one's time: an idle deployment
        sampled on every listing does not grow the table."""
        with self._tx() as db:
            pos = self._engine.position
            last = db.execute(
                f"SELECT {pos}, requests, errors, p50_ms, p95_ms FROM deployment_stats "
                "WHERE deployment = ? ORDER BY time DESC LIMIT 1",
                (name,),
            ).fetchone()
            if last is not None and tuple(last)[1:] == (requests, errors, p50_ms, p95_ms):
                db.execute(f"UPDATE deployment_stats SET time = ? WHERE {pos} = ?", (when, last[0]))
                return
            db.execute(
                "INSERT INTO deployment_stats (deployment, time, requests, errors, p50_ms, p95_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, when, requests, errors, p50_ms, p95_ms),
            )

    def deployment_stats(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The deployment's telemetry samples, newest first."""
        sql = (
            "SELECT time, requests, errors, p50_ms, p95_ms FROM deployment_stats "
            "WHERE deployment = ? ORDER BY time DESC"
        )
        args: list[Any] = [name]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        keys = ("time", "requests", "errors", "p50_ms", "p95_ms")
        return [dict(zip(keys, r, strict=True)) for r in self._read(sql, args)]
