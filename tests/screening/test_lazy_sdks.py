"""Worker start-up does not pay for LLM SDKs that no configured provider uses."""

from __future__ import annotations

import subprocess
import sys

SDKS = ("openai", "anthropic", "ollama")


def test_importing_the_workers_loads_no_llm_sdk() -> None:
    code = (
        "import sys, tasks.workers, screening.engine; "
        f"print(','.join(m for m in {SDKS!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_a_provider_loads_its_sdk_when_it_builds_its_client() -> None:
    code = (
        "import sys; from pydantic import SecretStr; from core.settings import Settings; "
        "from screening.providers import OpenAIProvider; "
        "p = OpenAIProvider(Settings(openai_api_key=SecretStr('sk-test'))); p._sdk(); "
        "print('openai' in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "True"
