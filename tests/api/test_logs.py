"""The API process logs JSON lines through the PII-masking formatter, like every process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx

from core.settings import Settings
from ops.processes import free_port, pvara_command
from tests.pipeline import wait_for


def test_the_api_process_writes_only_json_lines(services_up: Settings, tmp_path: object) -> None:
    port = free_port()
    env = {
        **os.environ,
        # Redis unreachable: every request is refused by the rate limiter, which logs it.
        "PVARA_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "PVARA_LOG_LEVEL": "INFO",
    }
    api = subprocess.Popen(
        pvara_command("api", "--port", str(port)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def answers() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2)
            except httpx.HTTPError:
                return None

        refused = wait_for(answers, 90, "the API to answer")
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        time.sleep(0.5)  # let the log line reach the pipe before the process is stopped
    finally:
        api.send_signal(signal.SIGTERM)
        out, err = api.communicate(timeout=30)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert lines, "the API logged nothing"
    entries = [json.loads(line) for line in lines]  # raises on any line that is not JSON
    messages = {entry["msg"] for entry in entries}
    assert "api started" in messages
    assert any(m.startswith("request limits cannot be checked") for m in messages)
    assert all({"ts", "level", "logger", "msg"} <= set(entry) for entry in entries)
