"""The chaos benchmark's matrix, shortened for the test suite: ``pvara up`` on a sandbox of
its own, every process killed, every backing service killed and restarted, a frozen broker, a
wedged bridge and poison, with nobody restarting anything but the services it killed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import FAULTS, ChaosConfig, run_chaos
from core.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def test_the_platform_heals_itself_under_every_fault_and_loses_nothing(
    services_up: Settings, tmp_path: Path
) -> None:
    config = ChaosConfig(
        applications=120,
        clients=4,
        rate=2.5,
        faults=FAULTS,
        first_fault_after_s=8,
        fault_gap_s=4,
        outage_s=3,
        freeze_s=3,
        api_poison=5,
        kafka_poison=6,
        drain_timeout_s=600,
        # Wedged processes are found sooner than the default minute (the rest is shipped).
        env={"PVARA_LIVENESS_TIMEOUT_S": "20"},
        keep_log=tmp_path / "up.log",
    )
    report = run_chaos(config, services_up, log=lambda _: None)
    summary = "\n".join(report.lines())
    assert report.lost == 0, summary
    assert report.stuck == 0, summary
    assert report.duplicate_rows == report.duplicate_scores == 0, summary
    assert report.kafka_poison_dead_lettered == report.kafka_poison, summary
    assert report.api_poison_refused == report.api_poison, summary
    assert report.orphans == [], summary
    assert report.server_errors_5xx == 0, summary
    assert report.drain_after_last_fault_s is not None, summary
    assert all(f.detail != "NOT" for f in report.faults), summary  # the wedge was found
    restarts = report.supervisor_restarts
    assert restarts["api"] >= 1 and restarts["scheduler"] >= 1, summary
    assert restarts["bridge"] >= 2 and restarts["pools"] >= 2, summary  # kill + wedge; 2 pools
    assert report.ok(), summary
