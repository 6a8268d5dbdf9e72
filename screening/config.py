"""Settings of the LLM providers, read once from the environment.

Keys and hosts come from the environment only, never from files or the database. Each accepts
our ``PVARA_`` name first and the provider's conventional name second (``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY``, ``OLLAMA_HOST``), so an existing deployment's variables just work.
A provider with no key (or, for Ollama, no host) is *unavailable*; the adapters then never
build an SDK client, so no SDK falls back to its own profile files or defaults.

Kept apart from ``core.settings`` until the lead merges it there.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LlmSettings(BaseSettings):
    """Provider endpoints, credentials, timeouts and the price-table override."""

    model_config = SettingsConfigDict(env_prefix="PVARA_", extra="ignore", populate_by_name=True)

    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PVARA_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="OpenAI API key; unset = the OpenAI provider is unavailable.",
    )
    openai_base_url: str = Field(
        default="https://api.openai.com/v1", description="OpenAI API base URL."
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PVARA_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
        description="Anthropic API key; unset = the Anthropic provider is unavailable.",
    )
    anthropic_base_url: str = Field(
        default="https://api.anthropic.com", description="Anthropic API base URL."
    )
    ollama_host: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PVARA_OLLAMA_HOST", "OLLAMA_HOST"),
        description="Ollama server URL, e.g. http://gpu-1:11434; unset = Ollama unavailable.",
    )
    llm_timeout_s: float = Field(
        default=60.0, gt=0, description="Timeout of one LLM HTTP call (connect/read/write)."
    )
    price_table_overrides: str | None = Field(
        default=None,
        description="Price-table overrides: a JSON document or the path of a JSON file.",
    )
    prompt_resume_max_chars: int = Field(
        default=24_000, ge=1_000, description="Résumé characters sent to an LLM; the rest is cut."
    )


def get_llm_settings() -> LlmSettings:
    """Read the settings from the environment (callers keep the instance)."""
    return LlmSettings()
