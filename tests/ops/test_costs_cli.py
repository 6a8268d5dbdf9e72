"""``pvara costs report`` prints the ledger's numbers as a table (or CSV)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from core.settings import Settings
from ops.cli import main
from tests.ledger_rows import insert_ledger_rows


def test_costs_report_prints_a_table(
    services_up: Settings, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = insert_ledger_rows(db)

    code = main(
        [
            "costs",
            "report",
            "--from",
            "2025-01-05",
            "--to",
            "2025-01-06",
            "--group-by",
            "provider",
            "--organization",
            str(ledger.organization_id),
            "--per-day",
            "1000",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("provider"))
    assert "cost_per_application" in header
    openai = next(line for line in lines if line.startswith("openai "))
    assert openai.split()[1:5] == ["2", "2", "2", "1"]  # apps, paid apps, calls, failed
    total = next(line for line in lines if line.startswith("total "))
    assert total.split()[1:4] == ["4", "3", "8"]
    assert "0.016" in total
    assert "applications reaching a priced model: 75.00%" in out
    assert "total        $980.25/month" in out


def test_costs_report_as_csv(
    services_up: Settings, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = insert_ledger_rows(db)

    main(
        [
            "costs",
            "report",
            "--from",
            "2025-01-05",
            "--to",
            "2025-01-06",
            "--group-by",
            "job",
            "--organization",
            str(ledger.organization_id),
            "--format",
            "csv",
        ]
    )

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("job,applications,paid_applications")
    assert {line.split(",")[0] for line in lines[1:]} == {
        str(ledger.standard_job),
        str(ledger.senior_job),
        "total",
    }
