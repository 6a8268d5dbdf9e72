"""`pvara demo --llm ollama`: the demo with the real model in the cascade, next to local only.

The comparison is rendered from ledger figures (fast); the demo itself runs the real server
and model (slow: ``make test-ollama``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal

import pytest

from core.settings import Settings
from ops.demo_llm import RunFigures, render_comparison


def _run(**changes: object) -> RunFigures:
    base = RunFigures(
        applications=4,
        by_scorer={"local:pvara-local-v1": 4},
        degraded=0,
        calls=0,
        failed_calls=0,
        prompt_tokens=0,
        completion_tokens=0,
        latencies_ms=[],
        cost_usd=Decimal(0),
        vcpu_hours=Decimal(0),
        submit_to_scored_ms=[900.0, 1000.0, 1100.0, 1200.0],
    )
    return RunFigures(**{**base.__dict__, **changes})


def test_the_comparison_puts_the_model_run_next_to_the_local_one() -> None:
    local = _run()
    routed = _run(
        by_scorer={"local:pvara-local-v1": 2, "ollama:m": 2},
        calls=3,
        failed_calls=1,
        prompt_tokens=2500,
        completion_tokens=240,
        latencies_ms=[20_000, 30_000, 41_000],
        cost_usd=Decimal("0.0012"),
        vcpu_hours=Decimal("0.024"),
        submit_to_scored_ms=[1000.0, 1100.0, 35_000.0, 52_000.0],
    )

    text = render_comparison(local, routed, "m")
    rows = {line[2:30].strip(): line[30:].split() for line in text.splitlines()[2:]}

    assert text.splitlines()[0].startswith("== The LLM tier: local only vs.")
    assert rows["model calls (failed)"] == ["0", "(0)", "3", "(1)"]
    assert rows["prompt / completion tokens"] == ["-", "2500", "/", "240"]
    assert rows["model latency"] == ["-", "p50", "30.0s", "max", "41.0s"]
    assert rows["cost per application"] == ["$0.00000000", "$0.00030000"]
    assert rows["self-hosted CPU time"] == ["0.00000", "vCPU-h", "0.02400", "vCPU-h"]
    assert routed.cost_per_application == Decimal("0.0003")


@pytest.mark.slow
@pytest.mark.ollama
@pytest.mark.timeout(2400)
@pytest.mark.skipif(
    os.environ.get("PVARA_TEST_OLLAMA") != "1",
    reason="runs the real model: `make test-ollama` (PVARA_TEST_OLLAMA=1)",
)
def test_demo_with_ollama_routes_the_uncertain_band_and_prints_real_tokens_and_cost(
    services_up: Settings,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo", "--llm", "ollama", "--concurrency", "4"],
        capture_output=True,
        text=True,
        timeout=2300,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "nothing lost" in out
    assert "model: " in out  # the progress line while the model works
    (table,) = re.findall(r"== The LLM tier.*?(?=\n\n)", out, re.DOTALL)
    calls = re.search(r"model calls \(failed\)\s+0 \(0\)\s+(\d+) \((\d+)\)", table)
    tokens = re.search(r"prompt / completion tokens\s+-\s+(\d+) / (\d+)", table)
    cost = re.search(r"cost per application\s+\$0\.0+\s+\$(\d+\.\d+)", table)
    assert calls and tokens and cost, table
    answered = int(calls.group(1)) - int(calls.group(2))
    assert int(calls.group(1)) >= 1  # the sample's uncertain band went to the model
    if answered:
        assert int(tokens.group(1)) > 0 and int(tokens.group(2)) > 0
        assert Decimal(cost.group(1)) > 0
    assert re.search(r"model latency\s+-\s+p50 \d+\.\ds\s+max \d+\.\ds", table), table
