"""The store's deployments are `Deployment` values: what is put is what is read back,
a put replaces the deployment of that name, and the JSON form keeps the keys (and their
order) that `runyard deployment ... --json` printed when records were dicts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from runyard.core.store import Deployment, Store


def _deployment(name: str, created: float, **over: Any) -> Deployment:
    dep = Deployment(
        name=name,
        model="net",
        version=2,
        target="dock",
        image="runyard-model/net:2",
        container_id="c1",
        host="127.0.0.1",
        port=8080,
        status="running",
        created=created,
        options={"digest": "sha256:ab", "image_id": "sha256:cd"},
    )
    return dataclasses.replace(dep, **over)


def test_a_deployment_reads_back_as_it_was_put_and_a_put_replaces_one_of_its_name(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "db") as store:
        first = _deployment("web", 10.0)
        store.put_deployment(first)
        assert store.get_deployment("web") == first
        again = _deployment("web", 20.0, version=3, port=None, options={})
        store.put_deployment(again)
        store.put_deployment(_deployment("api", 15.0, status="stopped", stopped=16.0))
        assert store.get_deployment("web") == again
        assert [d.name for d in store.list_deployments()] == ["web", "api"]
        assert [d.version for d in store.model_deployments("net")] == [3, 2]
        assert [d.name for d in store.model_deployments("net", 2)] == ["api"]
        store.update_deployment("web", status="stopped", stopped=30.0)
        stopped = store.get_deployment("web")
        assert stopped is not None and (stopped.status, stopped.stopped) == ("stopped", 30.0)
        assert store.get_deployment("nothing") is None
        with pytest.raises(ValueError, match="not deployment fields"):
            store.update_deployment("web", colour="red")


def test_a_deployment_is_frozen_and_its_json_keeps_the_record_keys_in_order() -> None:
    dep = _deployment("web", 10.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dep.status = "stopped"  # type: ignore[misc]
    assert dep.ref == "net:2"
    data = dep.to_json()
    assert list(data) == [
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
    ]
    assert data["options"] == {"digest": "sha256:ab", "image_id": "sha256:cd"}
    data["options"]["digest"] = "changed"
    assert dep.options["digest"] == "sha256:ab"
