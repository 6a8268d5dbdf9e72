"""The /ops dashboard in real headless Chromium against a real API process, and its JSON API."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from litestar.testing import TestClient

from api.security import SecurityState
from core.queue import PARSE, PARSE_APPLICATION, create_broker, enqueue
from core.settings import Settings
from ops import pools
from ops.browser import Browser, capture_dashboard, chromium_path
from ops.processes import Child, free_port, pvara_command, wait_for_http
from ops.web import create_ops_app, issue_ops_token
from tests.pipeline import wait_for


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed when missing."""
    if chromium_path() is None:
        if shutil.which("apt-get") is None:
            pytest.skip("no chromium and no apt-get to install it")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
            subprocess.run(install, env=env, capture_output=True, check=True)
    found = chromium_path()
    assert found is not None
    return found


@pytest.fixture(scope="module")
def api_url(services_up: Settings) -> Iterator[str]:
    """``pvara api`` (with the ops routes) as a real process."""
    port = free_port()
    child = Child(
        f"api-dashboard-{port}",
        pvara_command("api", "--port", str(port)),
        dict(os.environ),
        services_up.home / "test-logs",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_http(f"{base}/health/live", 60), f"API did not start; see {child.log_path}"
        yield base
    finally:
        child.stop()


def _dead_letter(client: redis.Redis, application_id: str) -> str:
    """A parse message that exhausted its retries, stored the way Dramatiq dead-letters it."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=PARSE,
        actor_name=PARSE_APPLICATION,
        args=(application_id,),
        kwargs={},
        options={
            "retries": 3,
            "traceback": "Traceback (most recent call last):\n"
            "ValueError: résumé storage unreachable",
        },
    )
    client.hset("dramatiq:parse.XQ.msgs", message.message_id, message.encode())
    client.zadd("dramatiq:parse.XQ", {message.message_id: int(time.time() * 1000)})
    return message.message_id


def _queued_with(client: redis.Redis, application_id: str) -> list[str]:
    """Ids of messages on the parse queue whose body names ``application_id``."""
    queued = client.lrange("dramatiq:parse", 0, -1)
    bodies = client.hmget("dramatiq:parse.msgs", queued) if queued else []
    return [
        m.decode()
        for m, body in zip(queued, bodies, strict=True)
        if body is not None and application_id.encode() in body
    ]


def _drop(client: redis.Redis, message_ids: list[str]) -> None:
    for message_id in message_ids:
        client.lrem("dramatiq:parse", 0, message_id)
        client.hdel("dramatiq:parse.msgs", message_id)


def test_dashboard_shows_real_queue_depth_and_its_replay_button_requeues_a_dead_message(
    chromium: str,
    api_url: str,
    services_up: Settings,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    broker = create_broker(services_up)
    waiting = [str(uuid.uuid4()) for _ in range(3)]
    queued_ids = [
        enqueue(broker, PARSE, PARSE_APPLICATION, a).options["redis_message_id"] for a in waiting
    ]
    application_id = str(uuid.uuid4())
    dead_id = _dead_letter(redis_client, application_id)
    replayed: list[str] = []
    try:
        with Browser() as browser:
            browser.navigate(f"{api_url}/ops#token={issue_ops_token(services_up)}")
            browser.wait_for("document.body.dataset.loaded === '1'", 30)

            depth_js = "document.querySelector('tr[data-pool=parse] .depth').textContent"

            def page_matches_redis() -> bool:
                return str(browser.evaluate(depth_js)) == str(redis_client.llen("dramatiq:parse"))

            # Three messages were just enqueued; unless a worker elsewhere drains them, the
            # page shows a non-zero depth equal to Redis's.
            wait_for(page_matches_redis, 15, "the page's parse depth to match Redis")

            button = f"tr[data-message-id='{dead_id}'] button[data-action=replay]"
            browser.wait_for(f'!!document.querySelector("{button}")', 15)
            browser.click(button)

            wait_for(
                lambda: redis_client.zscore("dramatiq:parse.XQ", dead_id) is None,
                10,
                "the message to leave the dead-letter queue",
            )
            replayed = wait_for(
                lambda: _queued_with(redis_client, application_id),
                10,
                "the replayed message on the parse queue",
            )
            assert redis_client.hget("dramatiq:parse.XQ.msgs", dead_id) is None
            browser.wait_for(f"!document.querySelector(\"tr[data-message-id='{dead_id}']\")", 10)
            browser.screenshot(tmp_path / "dashboard.png")
        assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    finally:
        redis_client.zrem("dramatiq:parse.XQ", dead_id)
        redis_client.hdel("dramatiq:parse.XQ.msgs", dead_id)
        _drop(redis_client, queued_ids + replayed)


def test_capture_dashboard_writes_a_png_of_the_live_page(
    chromium: str, api_url: str, services_up: Settings, tmp_path: Path
) -> None:
    path = capture_dashboard(
        services_up, api_url, issue_ops_token(services_up), tmp_path / "shot.png"
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _token(settings: Settings, role: str) -> str:
    token, _ = SecurityState.create(settings).keys.issue(
        user_id=uuid.uuid4(), organization_id=uuid.uuid4(), role=role, family_id=uuid.uuid4()
    )
    return token


def test_pools_need_a_platform_operator_and_scaling_through_them_is_validated(
    services_up: Settings, redis_client: redis.Redis
) -> None:
    group = f"test-{uuid.uuid4().hex[:8]}"
    try:
        with TestClient(app=create_ops_app(services_up)) as client:
            assert client.get("/api/v1/ops/pools").status_code == 401
            for role in ("hr", "ops", "admin"):  # an organization's roles: not the platform's
                headers = {"Authorization": f"Bearer {_token(services_up, role)}"}
                assert client.get("/api/v1/ops/pools", headers=headers).status_code == 403
            ops = {"Authorization": f"Bearer {_token(services_up, 'operator')}"}
            listed = client.get("/api/v1/ops/pools", headers=ops)
            assert listed.status_code == 200
            assert [row["pool"] for row in listed.json()][:2] == ["parse", "score"]
            scaled = client.put(
                "/api/v1/ops/pools",
                headers=ops,
                json={"desired": {"parse": 4, "score": 2}, "group": group},
            )
            assert scaled.status_code == 200
            assert scaled.json()["desired"]["parse"] == 4
            assert pools.desired(redis_client, services_up, group)["score"] == 2
            refused = client.put(
                "/api/v1/ops/pools", headers=ops, json={"desired": {"nope": 1}, "group": group}
            )
            assert refused.status_code == 422
            assert client.get("/ops").status_code == 200  # the shell holds no data
    finally:
        redis_client.delete(pools.desired_key(group))
