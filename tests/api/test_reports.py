"""GET /api/v1/reports/llm-costs: the ledger's numbers as JSON or CSV, finance and admin only."""

from __future__ import annotations

import csv
import io
import re
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from api.security import KeyRing
from core.settings import Settings
from tests.ledger_rows import insert_ledger_rows

URL = "/api/v1/reports/llm-costs"
WINDOW = {"from": "2025-01-05", "to": "2025-01-06"}


def _headers(settings: Settings, organization_id: uuid.UUID, role: str) -> dict[str, str]:
    token, _ = KeyRing.from_settings(settings).issue(
        user_id=uuid.uuid4(),
        organization_id=organization_id,
        role=role,
        family_id=uuid.uuid4(),
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def finance(services_up: Settings, db: psycopg.Connection[Any]) -> tuple[uuid.UUID, dict[str, str]]:
    insert_ledger_rows(db)  # another organization's spending, never in the report
    ledger = insert_ledger_rows(db)
    return ledger.organization_id, _headers(services_up, ledger.organization_id, "finance")


def test_report_by_provider_matches_the_ledger_rows(
    client: TestClient[Any], finance: tuple[uuid.UUID, dict[str, str]]
) -> None:
    organization_id, headers = finance

    response = client.get(URL, params={**WINDOW, "group_by": "provider"}, headers=headers)

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["organization_id"] == str(organization_id)
    rows = {r["key"]: r for r in report["rows"]}
    assert sorted(rows) == ["anthropic", "local", "ollama", "openai"]
    assert (rows["openai"]["calls"], rows["openai"]["failed_calls"]) == (2, 1)
    assert Decimal(rows["openai"]["cost_usd"]) == Decimal("0.012")
    assert (rows["local"]["applications"], rows["local"]["calls"]) == (4, 4)
    total = report["total"]
    assert (total["applications"], total["paid_applications"], total["calls"]) == (4, 3, 8)
    assert Decimal(total["cost_usd"]) == Decimal("0.016")
    assert Decimal(total["cost_per_application"]) == Decimal("0.004")
    assert Decimal(report["paid_share"]) == Decimal("0.75")


def test_projection_scales_observed_cost_and_adds_the_ollama_gpus(
    client: TestClient[Any], finance: tuple[uuid.UUID, dict[str, str]]
) -> None:
    _, headers = finance

    report = client.get(URL, params={**WINDOW, "per_day": 1000}, headers=headers).json()

    p = {k: Decimal(str(v)) for k, v in report["projection"].items() if k != "providers"}
    # API: $0.0155 over 4 applications = $0.003875 each, x 1000/day x 30 days
    assert p["api_cost_per_application"] == Decimal("0.003875")
    assert p["api_usd_per_month"] == Decimal("116.25")
    # Ollama: $0.0005 / 4 x 30,000 = $3.75 of GPU time = 3.125 h; one GPU kept running
    assert p["ollama_gpu_hours_needed_per_month"] == Decimal("3.12")
    assert (p["ollama_gpus_configured"], p["ollama_gpus_needed"]) == (Decimal(1), Decimal(1))
    assert p["ollama_usd_per_month"] == Decimal("864.00")  # 1 x $1.20 x 720 h
    assert p["total_usd_per_month"] == Decimal("980.25")


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _is_uuid_or_day(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f-]{36}|\d{4}-\d\d-\d\d.*", text))


def test_json_money_is_never_in_scientific_notation_and_the_projection_has_a_row_per_provider(
    client: TestClient[Any], finance: tuple[uuid.UUID, dict[str, str]]
) -> None:
    _, headers = finance

    response = client.get(URL, params={**WINDOW, "per_day": 1000}, headers=headers)

    report = response.json()
    numbers = [v for v in _strings(report) if re.match(r"-?\d", v) and not _is_uuid_or_day(v)]
    assert numbers and all(re.fullmatch(r"-?\d+(\.\d+)?", v) for v in numbers), numbers
    local = next(r for r in report["rows"] if r["key"] == "local")
    assert local["cost_usd"] == "0.00000000"
    rows = {r["provider"]: r for r in report["projection"]["providers"]}
    assert sorted(rows) == ["anthropic", "local", "ollama", "openai"]
    assert Decimal(rows["openai"]["share_of_applications"]) == Decimal("0.5")
    assert Decimal(rows["openai"]["cost_per_application"]) == Decimal("0.006")
    assert Decimal(rows["openai"]["usd_per_month"]) == Decimal("90.00")
    ollama = rows["ollama"]
    assert (ollama["self_hosted"], ollama["compute"], ollama["units_billed"]) == (True, "GPU", 1)
    assert Decimal(ollama["hours_per_month"]) == Decimal("3.12")
    assert Decimal(ollama["usd_per_month"]) == Decimal("864.00")
    assert sum(Decimal(r["usd_per_month"]) for r in rows.values()) == Decimal("980.25")


def test_the_csv_variant_is_in_the_openapi_document(client: TestClient[Any]) -> None:
    schema = client.get("/schema/openapi.json").json()

    ok = schema["paths"]["/api/v1/reports/llm-costs"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "text/csv"}
    assert ok["content"]["text/csv"]["schema"]["type"] == "string"
    assert "cost_per_application" in ok["content"]["text/csv"]["example"]


def test_report_by_day_and_by_job(
    client: TestClient[Any], finance: tuple[uuid.UUID, dict[str, str]]
) -> None:
    _, headers = finance

    days = client.get(URL, params={**WINDOW, "group_by": "day"}, headers=headers).json()
    tiers = client.get(URL, params={**WINDOW, "group_by": "tier"}, headers=headers).json()

    assert {r["key"]: Decimal(r["cost_usd"]) for r in days["rows"]} == {
        "2025-01-05": Decimal("0.0005"),
        "2025-01-06": Decimal("0.0155"),
    }
    assert {r["key"]: r["applications"] for r in tiers["rows"]} == {"senior": 2, "standard": 2}


def test_csv_has_a_row_per_group_and_the_total(
    client: TestClient[Any], finance: tuple[uuid.UUID, dict[str, str]]
) -> None:
    _, headers = finance

    response = client.get(
        URL, params={**WINDOW, "group_by": "model"}, headers={**headers, "Accept": "text/csv"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_model = {r["model"]: r for r in rows}
    assert set(by_model) == {
        "anthropic:claude-sonnet-4-5",
        "local:pvara-local-v1",
        "ollama:llama3.1:8b",
        "openai:gpt-5",
        "total",
    }
    # Money in plain decimals for spreadsheets: to the cent, per application to 4 places.
    assert by_model["openai:gpt-5"]["cost_usd"] == "0.01"
    assert by_model["openai:gpt-5"]["cost_per_application"] == "0.0060"
    assert by_model["local:pvara-local-v1"]["cost_usd"] == "0.00"
    assert by_model["total"]["cost_usd"] == "0.02"
    assert by_model["total"]["applications"] == "4"


@pytest.mark.parametrize("role", ["hr", "interviewer", "ops"])
def test_only_finance_and_admin_may_read_costs(
    client: TestClient[Any], services_up: Settings, role: str
) -> None:
    headers = _headers(services_up, uuid.uuid4(), role)

    assert client.get(URL, headers=headers).status_code == 403


def test_admin_may_read_costs(client: TestClient[Any], services_up: Settings) -> None:
    response = client.get(URL, headers=_headers(services_up, uuid.uuid4(), "admin"))

    assert response.status_code == 200
    assert response.json()["total"]["calls"] == 0
