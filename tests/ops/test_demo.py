"""`pvara demo` runs the main job end to end and exits 0 only when nothing was lost."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.settings import Settings


@pytest.mark.timeout(600)
def test_demo_processes_every_application_and_prints_the_summary(services_up: Settings) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo", "--count", "24", "--concurrency", "8"],
        capture_output=True,
        text=True,
        timeout=580,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "accepted    24" in out
    assert "nothing lost" in out
    assert "== Shortlist" in out
    assert "p99" in out
    mailed = out[out.index("e-mails delivered to the demo's SMTP server") :].splitlines()
    kinds = {line.split()[0]: int(line.split()[1]) for line in mailed[1:] if line.startswith("  ")}
    assert kinds["submission_confirmation"] == 24
    assert kinds["interview_invitation"] == 4  # two interviews, candidate and interviewer each
    assert kinds["interview_update"] == 2 and kinds["interview_cancellation"] == 2
    assert kinds["offer"] == 1
    assert kinds["shortlist_summary"] >= 1
