"""/metrics speaks Prometheus: route templates, pool numbers, task timings, LLM spend, budgets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core.settings import Settings
from ops.web import create_ops_app, issue_ops_token
from tasks.middleware import FAILURES_KEY, TASKS_KEY, PoolStats


@pytest.fixture(scope="module")
def client(services_up: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_ops_app(services_up)) as test_client:
        yield test_client


def _samples(client: TestClient[Any]) -> dict[str, list[tuple[dict[str, str], float]]]:
    operator = issue_ops_token(client.app.state.security.settings)
    response = client.get("/metrics", headers={"Authorization": f"Bearer {operator}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _value(samples: list[tuple[dict[str, str], float]], **labels: str) -> float | None:
    for got, value in samples:
        if all(got.get(k) == v for k, v in labels.items()):
            return value
    return None


def test_http_latency_is_labelled_by_route_template_not_raw_path(
    client: TestClient[Any], services_up: Settings
) -> None:
    token = issue_ops_token(services_up)
    message_id = str(uuid.uuid4())
    response = client.get(
        f"/api/v1/ops/deadletters/parse/{message_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404
    samples = _samples(client)["pvara_http_request_duration_seconds_count"]
    routes = {labels["route"] for labels, _ in samples}
    assert "/api/v1/ops/deadletters/{queue}/{message_id}" in routes
    assert not any(message_id in route for route in routes)
    assert _value(samples, route="/api/v1/ops/deadletters/{queue}/{message_id}", status="404") == 1


def test_every_pool_has_depth_in_flight_and_dead_gauges_and_kafka_lag_is_per_partition(
    client: TestClient[Any], redis_client: redis.Redis, services_up: Settings
) -> None:
    samples = _samples(client)
    for pool in ("parse", "score", "shortlist", "notify", "maintenance"):
        for name in ("pvara_queue_depth", "pvara_queue_in_flight", "pvara_queue_dead_letters"):
            assert _value(samples[name], pool=pool) is not None, (name, pool)
    lag = samples["pvara_kafka_consumer_lag"]
    partitions = {labels["partition"] for labels, _ in lag}
    assert partitions == {str(p) for p in range(services_up.submitted_partitions)}
    assert {labels["group"] for labels, _ in lag} == {services_up.bridge_group}


def test_task_durations_and_failures_recorded_by_workers_are_exported_per_actor(
    client: TestClient[Any], redis_client: redis.Redis, services_up: Settings
) -> None:
    actor = f"test_actor_{uuid.uuid4().hex[:8]}"
    stats = PoolStats(services_up)
    stats.record("score", actor, 0.02)
    stats.record("score", actor, 0.7, ValueError("provider timed out"))
    stats.flush()
    try:
        samples = _samples(client)
        assert _value(samples["pvara_task_duration_seconds_count"], actor=actor) == 2
        assert _value(samples["pvara_task_duration_seconds_bucket"], actor=actor, le="0.025") == 1
        assert _value(samples["pvara_task_duration_seconds_bucket"], actor=actor, le="1.0") == 2
        assert _value(samples["pvara_task_failures_total"], actor=actor, pool="score") == 1
    finally:
        fields = [f for f in redis_client.hkeys(TASKS_KEY) if f.decode().startswith(actor)]
        redis_client.hdel(TASKS_KEY, *fields)
        for entry in redis_client.lrange(FAILURES_KEY, 0, -1):
            if actor.encode() in entry:
                redis_client.lrem(FAILURES_KEY, 0, entry)


def test_llm_tokens_cost_and_budget_remaining_are_exported(
    services_up: Settings, redis_client: redis.Redis, db: psycopg.Connection[Any]
) -> None:
    provider = f"test-{uuid.uuid4().hex[:8]}"
    scope = f"test-{uuid.uuid4().hex[:8]}"
    db.execute(
        "INSERT INTO ai_screening_log (organization_id, application_id, job_id, provider,"
        " llm_model, prompt_tokens, completion_tokens, cost_usd) VALUES (%s, %s, %s, %s,"
        " 'm', 1200, 300, 0.0125)",
        (uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), provider),
    )
    redis_client.set(f"pvara:budget:{scope}", "42.5")
    try:
        # The collector caches LLM usage for a few seconds; a fresh app reads it now.
        with TestClient(app=create_ops_app(services_up)) as fresh:
            samples = _samples(fresh)
        assert _value(samples["pvara_llm_tokens_total"], provider=provider, kind="prompt") == 1200
        assert _value(samples["pvara_llm_cost_usd_total"], provider=provider) == 0.0125
        assert _value(samples["pvara_llm_budget_remaining_usd"], scope=scope) == 42.5
    finally:
        redis_client.delete(f"pvara:budget:{scope}")
        db.execute("DELETE FROM ai_screening_log WHERE provider = %s", (provider,))
