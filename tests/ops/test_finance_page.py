"""The /finance page in real headless Chromium against a real API process: spend by day,
provider mix and the monthly projection from the ledger, opened with a finance-role token."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path
from typing import Any

import psycopg

from api.security import SecurityState
from core.settings import Settings
from ops.browser import Browser
from tests.ledger_rows import insert_ledger_rows
from tests.ops.test_dashboard import api_url, chromium  # noqa: F401 (fixtures)

QUERY = "from=2025-01-05&to=2025-01-08&per_day=1000"


def _token(settings: Settings, organization_id: uuid.UUID, role: str) -> str:
    token, _ = SecurityState.create(settings).keys.issue(
        user_id=uuid.uuid4(), organization_id=organization_id, role=role, family_id=uuid.uuid4()
    )
    return token


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return width, height


def test_the_finance_page_charts_spend_by_day_and_projects_the_month(
    chromium: str,  # noqa: F811
    api_url: str,  # noqa: F811
    services_up: Settings,
    db: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    ledger = insert_ledger_rows(db)
    token = _token(services_up, ledger.organization_id, "finance")

    with Browser() as browser:
        browser.navigate(f"{api_url}/finance?{QUERY}#token={token}")
        browser.wait_for("document.body.dataset.loaded === '1'", 30)

        bars = browser.evaluate(
            "[...document.querySelectorAll('#chart rect.day')]"
            ".map(b => [b.dataset.day, b.dataset.usd, b.getBBox().height])"
        )
        mix = browser.evaluate(
            "[...document.querySelectorAll('#mix tbody tr')].map(r => r.dataset.provider)"
        )
        monthly = browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#projection tbody tr')]"
            ".map(r => [r.dataset.provider, r.querySelector('.monthly').textContent]))"
        )
        total = browser.evaluate("document.querySelector('#projection-total').textContent")
        kpi = browser.evaluate("document.querySelector('#kpi-spend').textContent")
        ollama = browser.evaluate(
            "document.querySelector('#projection tr[data-provider=ollama]').textContent"
        )
        shot = browser.screenshot(tmp_path / "finance.png")

    assert [(day, usd) for day, usd, _ in bars] == [
        ("2025-01-05", "0.00050000"),
        ("2025-01-06", "0.01550000"),
        ("2025-01-07", "0.00000000"),
        ("2025-01-08", "0.00000000"),
    ]
    heights = [h for _, _, h in bars]
    assert heights[1] > heights[0] > 0 and heights[2] == heights[3] == 0
    assert sorted(mix) == ["anthropic", "local", "ollama", "openai"]
    assert monthly == {
        "anthropic": "$26.25",
        "local": "$0.00",
        "ollama": "$864.00",
        "openai": "$90.00",
    }
    assert total == "$980.25"
    assert kpi == "$0.02"
    assert "1 GPU × $1.20/h × 720 h" in ollama
    assert shot.stat().st_size > 10_000
    assert _png_size(shot)[0] == 1440


def test_the_page_asks_for_a_finance_token(
    chromium: str,  # noqa: F811
    api_url: str,  # noqa: F811
    services_up: Settings,
) -> None:
    with Browser() as browser:
        browser.navigate(f"{api_url}/finance#token={_token(services_up, uuid.uuid4(), 'hr')}")
        status = browser.wait_for(
            "!document.querySelector('#login').hidden"
            " && document.querySelector('#status').textContent",
            30,
        )

    assert status == "this token lacks the finance role"
