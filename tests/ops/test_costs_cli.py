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
    assert total.split()[-2:] == ["$0.02", "$0.0040"]  # money as money: cents, 4 decimals/app
    assert "E-" not in out
    assert "applications reaching a priced model: 75.00%" in out
    projection = out[out.index("Monthly projection") :].splitlines()
    assert projection[0].startswith("Monthly projection at 1,000 applications/day (30,000/month)")
    rows = {line.split()[0]: line.split() for line in projection[2:]}
    assert rows["openai"][1:5] == ["50.00%", "$0.0060", "15,000", "$90.00"]
    assert rows["anthropic"][1:5] == ["25.00%", "$0.0035", "7,500", "$26.25"]
    assert rows["ollama"][1:5] == ["25.00%", "$0.0005", "7,500", "$864.00"]
    assert "1 GPU(s) x $1.20/h x 720 h (needs 3.12 GPU h/month" in out
    assert rows["local"][1:5] == ["100.00%", "$0.0000", "30,000", "$0.00"]
    assert rows["total"][-1] == "$980.25"


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
    total = next(line for line in lines if line.startswith("total,")).split(",")
    assert total[-2:] == ["0.02", "0.0040"]  # cents; four decimals per application
    assert {line.split(",")[0] for line in lines[1:]} == {
        str(ledger.standard_job),
        str(ledger.senior_job),
        "total",
    }
