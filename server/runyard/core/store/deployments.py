"""Deployments: a model version served by a container, and the telemetry samples read
from each running service.

A deployment is recorded once its service answers (`put_deployment`, replacing an
earlier one of the same name) and changes status as it is refreshed or stopped
(`update_deployment`). Telemetry samples are counts since the service started; a sample
equal to the newest one only moves that one's time, so an idle deployment sampled on
every listing does not grow the table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from runyard.core.store.engine import Tables


class DeploymentTables(Tables):
    """`Store`'s deployment calls."""

    def model_deployments(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Deployments of model `name` (of one version, or all), newest first."""
        sql = (
            "SELECT name, model, version, target, status, host, port, created, stopped "
            "FROM deployments WHERE model = ?"
        )
        args: list[Any] = [name]
        if version is not None:
            sql += " AND version = ?"
            args.append(version)
        rows = self._read(sql + " ORDER BY created DESC", args)
        keys = (
            "name",
            "model",
            "version",
            "target",
            "status",
            "host",
            "port",
            "created",
            "stopped",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    _DEPLOYMENT_KEYS = (
        "name",
        "model",
        "version",
        "target",
        "image",
        "container_id",
        "host",
        "port",
        "status",
        "created",
        "stopped",
        "options",
    )

    def _deployment(self, row: Sequence[Any]) -> dict[str, Any]:
        out = dict(zip(self._DEPLOYMENT_KEYS, row, strict=True))
        out["options"] = json.loads(out["options"] or "{}")
        return out

    def put_deployment(self, deployment: dict[str, Any]) -> None:
        """Record a deployment (keys as in `get_deployment`), replacing one of that name."""
        row = {k: deployment.get(k) for k in self._DEPLOYMENT_KEYS}
        row["options"] = json.dumps(row["options"] or {})
        with self._tx() as db:  # a replace, as two portable statements
            db.execute("DELETE FROM deployments WHERE name = ?", (row["name"],))
            db.execute(
                f"INSERT INTO deployments ({', '.join(self._DEPLOYMENT_KEYS)}) "
                f"VALUES ({', '.join('?' * len(self._DEPLOYMENT_KEYS))})",
                [row[k] for k in self._DEPLOYMENT_KEYS],
            )

    def get_deployment(self, name: str) -> dict[str, Any] | None:
        rows = self._read(
            f"SELECT {', '.join(self._DEPLOYMENT_KEYS)} FROM deployments WHERE name = ?", (name,)
        )
        return self._deployment(rows[0]) if rows else None

    def list_deployments(self) -> list[dict[str, Any]]:
        """Every deployment, newest first."""
        rows = self._read(
            f"SELECT {', '.join(self._DEPLOYMENT_KEYS)} FROM deployments ORDER BY created DESC"
        )
        return [self._deployment(r) for r in rows]

    def update_deployment(self, name: str, **fields: Any) -> None:
        bad = set(fields) - set(self._DEPLOYMENT_KEYS[1:])
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
