"""Submit overhead on a docker target with a warm environment image.

Time from starting `runyard submit --target dock train.py` to the script's first line
on the terminal, against a bare `docker run --rm IMAGE python train.py` of the same
image and script (the script baked into a throwaway image, so both start the same
container). Prints medians and the difference (goal: under 1 s). Needs a running
Docker engine and the base image from scripts/docker-setup.sh. No assertions.

    .venv/bin/python tests/bench/bench_docker.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import tarfile
import tempfile
import time

# same folder: the same project and the same measurement
from bench_submit import RUNYARD, SCRIPT, bench_project, time_to_first_line

BASE_IMAGE = os.environ.get("RUNYARD_BASE_IMAGE", "runyard/python-base:bookworm")


def bare_image(client: object, env_image: str) -> str:
    """The environment image plus the script at /work/train.py, for the bare peer."""
    dockerfile = f"FROM {env_image}\nCOPY train.py /work/train.py\nWORKDIR /work\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile.encode()), ("train.py", SCRIPT.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    tag = "runyard-bench-bare:latest"
    client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True)  # type: ignore[attr-defined]
    return tag


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
        client.images.get(BASE_IMAGE)
    except Exception as exc:
        raise SystemExit(
            f"bench_docker: needs a Docker engine and {BASE_IMAGE} "
            f"(bash scripts/docker-setup.sh): {exc}"
        ) from None
    with tempfile.TemporaryDirectory() as tmp:
        root, env = bench_project(tmp)
        subprocess.run(
            [*RUNYARD, "target", "add", "dock", "--type", "docker", "--base-image", BASE_IMAGE],
            cwd=root,
            check=True,
            capture_output=True,
            env=env,
        )
        submit = [*RUNYARD, "submit", "--target", "dock", "train.py"]
        started = time.perf_counter()
        subprocess.run(submit, cwd=root, check=True, capture_output=True, env=env)
        print(f"first submit (builds the environment image): {time.perf_counter() - started:.1f} s")
        listed = subprocess.run(
            [*RUNYARD, "runs", "list", "--json"], cwd=root, check=True, capture_output=True, env=env
        )
        import json

        env_image = f"runyard-env:{json.loads(listed.stdout)[0]['env_hash']}"
        bare_tag = bare_image(client, env_image)
        bare = ["docker", "run", "--rm", bare_tag, "python", "train.py"]
        time_to_first_line(bare, root, env)  # warm
        time_to_first_line(submit, root, env)
        ours: list[float] = []
        peer: list[float] = []
        for _ in range(args.repeat):  # interleaved, so noise hits both alike
            peer.append(time_to_first_line(bare, root, env))
            ours.append(time_to_first_line(submit, root, env))
        client.images.remove(bare_tag, force=True)
    m_ours, m_peer = statistics.median(ours), statistics.median(peer)
    print(f"bare `docker run --rm` to first line: median {m_peer:.3f} s  (min {min(peer):.3f})")
    print(f"runyard submit (docker) to first line: median {m_ours:.3f} s  (min {min(ours):.3f})")
    print(f"overhead: {m_ours - m_peer:+.3f} s  (goal: under 1 s)  ratio {m_ours / m_peer:.2f}x")


if __name__ == "__main__":
    main()
