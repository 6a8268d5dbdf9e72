"""The container image: built with buildah on a local Debian base (debootstrap), then
``pvara --help`` and the API run inside it against the host's services until
``/health/ready`` answers. Slow (several minutes: base, locked wheels, layers on ``vfs``)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from ops.image import (
    Buildah,
    ImageError,
    build,
    local_base,
    pip_ca_file,
    require_tools,
    run_in_image,
)
from ops.processes import free_port
from ops.services._base import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def image(services_up: Settings) -> Iterator[tuple[Buildah, str]]:
    if os.geteuid() != 0 or (shutil.which("apt-get") is None and shutil.which("buildah") is None):
        pytest.skip("building an image needs root (buildah, debootstrap)")
    try:
        require_tools("buildah", "debootstrap")
    except ImageError as exc:
        pytest.skip(str(exc))
    buildah = Buildah(services_up.home / "containers")
    base = local_base(services_up, buildah)
    tag = f"pvara/pvara:test-{uuid.uuid4().hex[:8]}"
    build(buildah, tag, base=base, ca_file=pip_ca_file())
    try:
        yield buildah, tag
    finally:
        buildah.run("rmi", "--force", tag)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def container(image: tuple[Buildah, str]) -> Iterator[str]:
    """One working container of the image for the checks (each `from` copies it on vfs)."""
    buildah, tag = image
    name = buildah.run("from", "--pull-never", tag).strip()
    try:
        yield name
    finally:
        buildah.run("rm", name)


def _in(buildah: Buildah, container: str, *command: str) -> str:
    return buildah.run("run", "--isolation", "chroot", container, "--", *command)


def test_the_image_runs_pvara_as_a_non_root_user_without_build_tools(
    image: tuple[Buildah, str], container: str
) -> None:
    buildah, tag = image

    help_text = _in(buildah, container, "pvara", "--help")
    for role in ("api", "bridge", "worker", "scheduler", "migrate", "healthcheck"):
        assert role in help_text
    assert _in(buildah, container, "id", "-u").strip() == "10001"
    tools = _in(buildah, container, "sh", "-c", "command -v gcc cc make pip || true")
    assert tools.strip() == ""
    config = buildah.run(
        "inspect", "--type", "image", "--format", "{{.Docker.Config.Healthcheck}}", tag
    )
    assert "healthcheck" in config


def test_the_api_in_the_image_becomes_ready_against_the_hosts_services(
    image: tuple[Buildah, str], container: str, services_up: Settings, tmp_path: Path
) -> None:
    buildah, tag = image
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k.startswith("PVARA_")}
    env.update(
        {
            "PVARA_POSTGRES_PORT": str(services_up.postgres_port),
            "PVARA_REDIS_PORT": str(services_up.redis_port),
            "PVARA_KAFKA_PORT": str(services_up.kafka_port),
            "PVARA_API_HOST": "127.0.0.1",
            "PVARA_API_PORT": str(port),
            "PVARA_HOME": "/tmp/pvara",
        }
    )
    env.pop("PVARA_BLOB_DIR", None)
    log_path = tmp_path / "api-in-image.log"
    with log_path.open("wb") as log:
        proc = run_in_image(buildah, tag, ["pvara", "api"], env, log)
        try:
            url = f"http://127.0.0.1:{port}/health/ready"
            wait_until(lambda: _answers(url) or proc.poll() is not None, 180, 0.5)
            assert _answers(url), log_path.read_text(errors="replace")[-3000:]
            body = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).json()
            assert body, body
            probe = _in(
                buildah,
                container,
                "env",
                f"PVARA_API_PORT={port}",
                "pvara",
                "healthcheck",
                "--role",
                "api",
            )
            assert probe.startswith("healthy"), probe
        finally:
            proc.terminate()
            proc.wait(60)
