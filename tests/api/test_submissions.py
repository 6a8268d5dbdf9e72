"""The ingress: what is accepted (202 only after Kafka's ack) and every kind of bad input."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition
from litestar.testing import TestClient

from api.app import create_app
from core.domain import SubmittedApplication
from core.events import APPLICATIONS_SUBMITTED
from core.settings import Settings
from tests.conftest import OrgJob, create_org_and_job

PROBLEM = "application/problem+json"


def _fields(**overrides: Any) -> dict[str, Any]:
    cnic = f"{uuid.uuid4().int % 10**13:013d}"
    fields = {
        "candidate_cnic": cnic,
        "candidate_name": "Ayesha Khan",
        "candidate_email": "ayesha.khan@example.com",
        "resume_text": "Python developer since 2018. PostgreSQL, Docker.",
    }
    fields.update(overrides)
    return fields


def _url(job: OrgJob | uuid.UUID) -> str:
    job_id = job.job_id if isinstance(job, OrgJob) else job
    return f"/api/v1/jobs/{job_id}/applications"


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith(code)
    return body


def _read_record(settings: Settings, partition: int, offset: int) -> SubmittedApplication:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.effective_kafka_bootstrap, enable_auto_commit=False
    )
    try:
        tp = TopicPartition(APPLICATIONS_SUBMITTED, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        for _ in range(20):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.offset == offset:
                        return SubmittedApplication.model_validate_json(record.value)
        raise AssertionError("record not found in Kafka")
    finally:
        consumer.close()


def test_json_submission_is_acknowledged_by_kafka_before_202(
    client: TestClient, org_job: OrgJob, services_up: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    acked: list[Any] = []
    producer = client.app.state.api.producer
    original = producer.send

    async def recording_send(topic: str, value: bytes, key: bytes | None = None) -> Any:
        meta = await original(topic, value, key)
        acked.append(meta)
        return meta

    monkeypatch.setattr(producer, "send", recording_send)
    fields = _fields()
    response = client.post(_url(org_job), json=fields)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "submitted"
    assert body["status_url"].endswith(f"/api/v1/applications/{body['application_id']}")
    assert len(acked) == 1  # the answer came after the broker's acknowledgement
    record = _read_record(services_up, acked[0].partition, acked[0].offset)
    assert str(record.application_id) == body["application_id"]
    assert record.job_id == org_job.job_id
    assert record.resume.inline_text == fields["resume_text"]


def test_status_url_answers_while_the_application_is_still_in_kafka(
    client: TestClient, org_job: OrgJob
) -> None:
    created = client.post(_url(org_job), json=_fields()).json()
    status = client.get(
        f"/api/v1/applications/{created['application_id']}",
        headers={"X-Status-Token": created["status_token"]},
    )
    assert status.status_code == 200
    # "submitted" while only Kafka has it; "received" if a running bridge was quicker.
    assert status.json()["status"] in {"submitted", "received"}
    assert status.json()["job_id"] == str(org_job.job_id)


def test_resubmission_returns_the_same_application(
    client: TestClient, org_job: OrgJob, db: psycopg.Connection[Any]
) -> None:
    fields = _fields()
    first = client.post(_url(org_job), json=fields)
    dashed = fields["candidate_cnic"]
    dashed = f"{dashed[:5]}-{dashed[5:12]}-{dashed[12:]}"
    again = client.post(_url(org_job), json={**fields, "candidate_cnic": dashed})
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["application_id"] == first.json()["application_id"]
    assert again.json()["status"] == "submitted"


def test_same_candidate_for_another_job_is_another_application(
    client: TestClient, db: psycopg.Connection[Any], org_job: OrgJob
) -> None:
    other = create_org_and_job(db)
    fields = _fields()
    a = client.post(_url(org_job), json=fields).json()["application_id"]
    b = client.post(_url(other), json=fields).json()["application_id"]
    assert a != b


def test_multipart_with_a_pdf_is_accepted(client: TestClient, org_job: OrgJob) -> None:
    from ops.samples import generate_samples

    pdf = next(s for s in generate_samples(6) if s.media_type == "application/pdf")
    fields = _fields()
    del fields["resume_text"]
    response = client.post(
        _url(org_job), data=fields, files={"resume": ("cv.pdf", pdf.data, "application/pdf")}
    )
    assert response.status_code == 202, response.text


def test_malformed_json_is_400(client: TestClient, org_job: OrgJob) -> None:
    response = client.post(
        _url(org_job), content=b'{"candidate_cnic": ', headers={"content-type": "application/json"}
    )
    _problem(response, 400, "malformed_json")


def test_json_that_is_not_an_object_is_400(client: TestClient, org_job: OrgJob) -> None:
    response = client.post(_url(org_job), json=["not", "an", "object"])
    _problem(response, 400, "malformed_json")


def test_missing_and_invalid_fields_are_422_with_each_field_named(
    client: TestClient, org_job: OrgJob
) -> None:
    response = client.post(_url(org_job), json={"candidate_cnic": "12", "candidate_email": "nope"})
    body = _problem(response, 422, "validation_failed")
    named = {error["field"] for error in body["errors"]}
    assert {"candidate_cnic", "candidate_email", "candidate_name"} <= named


def test_missing_resume_is_422(client: TestClient, org_job: OrgJob) -> None:
    fields = _fields()
    del fields["resume_text"]
    _problem(client.post(_url(org_job), json=fields), 422, "resume_missing")


def test_unknown_job_is_404(client: TestClient, services_up: Settings) -> None:
    _problem(client.post(_url(uuid.uuid4()), json=_fields()), 404, "job_not_found")


def test_closed_job_is_409(client: TestClient, db: psycopg.Connection[Any]) -> None:
    closed = create_org_and_job(db, status="closed")
    _problem(client.post(_url(closed), json=_fields()), 409, "job_closed")


def test_file_over_the_limit_is_413(services_up: Settings, org_job: OrgJob) -> None:
    small = services_up.model_copy(update={"max_upload_bytes": 64 * 1024})
    fields = _fields()
    del fields["resume_text"]
    with TestClient(app=create_app(small)) as small_client:
        response = small_client.post(
            _url(org_job),
            data=fields,
            files={"resume": ("cv.pdf", b"%PDF-1.7\n" + b"0" * 100 * 1024, "application/pdf")},
        )
    _problem(response, 413, "file_too_large")


def test_body_far_over_the_limit_is_413(services_up: Settings, org_job: OrgJob) -> None:
    small = services_up.model_copy(update={"max_upload_bytes": 16 * 1024})
    with TestClient(app=create_app(small)) as small_client:
        response = small_client.post(
            _url(org_job),
            content=b"x" * (2 * 1024 * 1024),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM)


def test_unsupported_content_type_is_415(client: TestClient, org_job: OrgJob) -> None:
    response = client.post(
        _url(org_job), content=b"<xml/>", headers={"content-type": "application/xml"}
    )
    _problem(response, 415, "unsupported_media_type")


def test_unsupported_file_type_is_415(client: TestClient, org_job: OrgJob) -> None:
    fields = _fields()
    del fields["resume_text"]
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    response = client.post(
        _url(org_job), data=fields, files={"resume": ("cv.png", png, "image/png")}
    )
    _problem(response, 415, "unsupported_media_type")


def test_kafka_unavailable_is_503_with_retry_after_and_nothing_accepted(
    services_up: Settings, org_job: OrgJob
) -> None:
    from ops.processes import free_port

    dead = services_up.model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{free_port()}", "produce_timeout_s": 2.0}
    )
    fields = _fields()
    with TestClient(app=create_app(dead)) as dead_client:
        response = dead_client.post(_url(org_job), json=fields)
        body = _problem(response, 503, "queue_unavailable")
        assert response.headers["retry-after"].isdigit()
        assert "application_id" not in body
    # Nothing was accepted: the same submission is new once Kafka is back.
    with TestClient(app=create_app(services_up)) as ok_client:
        assert ok_client.post(_url(org_job), json=fields).status_code == 202


def test_unknown_application_status_is_404(client: TestClient) -> None:
    _problem(
        client.get(f"/api/v1/applications/{uuid.uuid4()}", headers={"X-Status-Token": "x" * 43}),
        404,
        "application_not_found",
    )


def test_health_live_and_ready(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": True, "redis": True, "kafka": True}


def test_ready_is_503_when_kafka_is_down(services_up: Settings) -> None:
    from ops.processes import free_port

    dead = services_up.model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{free_port()}", "produce_timeout_s": 1.0}
    )
    with TestClient(app=create_app(dead)) as dead_client:
        ready = dead_client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["kafka"] is False


def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


def test_problem_bodies_never_echo_personal_data(client: TestClient, org_job: OrgJob) -> None:
    response = client.post(_url(org_job), json={**_fields(), "candidate_email": "bad"})
    assert "ayesha" not in json.dumps(response.json()).lower()


_UNSTORABLE = {
    "nul": "Ayesha\x00Khan",
    "lone-surrogate": "Ayesha\ud800Khan",
}
_TEXT_FIELDS = ("candidate_cnic", "candidate_name", "candidate_email", "phone", "resume_text")
_TOO_LONG = {
    "candidate_cnic": "3" * 21,
    "candidate_name": "A" * 201,
    "candidate_email": "a" * 250 + "@example.com",
    "phone": "0" * 33,
    "resume_text": "word " * 40_001,
}


@pytest.mark.parametrize("field", _TEXT_FIELDS)
@pytest.mark.parametrize("kind", sorted(_UNSTORABLE))
def test_a_value_postgresql_cannot_store_is_400_invalid_value_in_every_field(
    client: TestClient, org_job: OrgJob, field: str, kind: str
) -> None:
    fields = _fields(**{"phone": "+92 300 1234567", field: _UNSTORABLE[kind]})
    # Sent as JSON text with \u escapes: json.loads turns them into the characters.
    body = json.dumps(fields).encode()
    response = client.post(
        _url(org_job), content=body, headers={"content-type": "application/json"}
    )
    problem = _problem(response, 400, "invalid_value")
    assert [e["field"] for e in problem["errors"]] == [field]
    assert "Ayesha" not in response.text  # the value is never echoed


@pytest.mark.parametrize("field", _TEXT_FIELDS)
def test_a_value_longer_than_its_field_is_400_invalid_value(
    client: TestClient, org_job: OrgJob, field: str
) -> None:
    response = client.post(_url(org_job), json=_fields(**{field: _TOO_LONG[field]}))
    problem = _problem(response, 400, "invalid_value")
    assert [e["field"] for e in problem["errors"]] == [field]


def test_a_nul_in_a_multipart_field_is_400_invalid_value(
    client: TestClient, org_job: OrgJob
) -> None:
    fields = _fields(candidate_email="x\x00@example.com")
    del fields["resume_text"]
    response = client.post(
        _url(org_job), data=fields, files={"resume": ("cv.txt", b"Python developer", "text/plain")}
    )
    problem = _problem(response, 400, "invalid_value")
    assert [e["field"] for e in problem["errors"]] == ["candidate_email"]


def test_values_at_their_limits_are_accepted(client: TestClient, org_job: OrgJob) -> None:
    fields = _fields(candidate_name="A" * 200, phone="0" * 32, resume_text="é" * 200_000)
    assert client.post(_url(org_job), json=fields).status_code == 202
