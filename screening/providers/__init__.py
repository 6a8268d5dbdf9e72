"""LLM provider adapters over the official SDKs (Ollama, Anthropic, OpenAI).

Each adapter asks for a :class:`~screening.result.LlmAnswer`, validates it itself, repairs an
invalid answer once, and reports normalised :class:`Usage`. Failover between providers is the
router's job: the SDKs' own retries are off.
"""

from __future__ import annotations

from core.settings import Settings, get_settings
from screening.providers.anthropic import AnthropicProvider
from screening.providers.base import (
    InvalidAnswer,
    Provider,
    ProviderCall,
    ProviderError,
    ProviderFailure,
    ProviderName,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    Usage,
    answer_json_schema,
)
from screening.providers.ollama import OllamaProvider
from screening.providers.openai import OpenAIProvider

__all__ = [
    "AnthropicProvider",
    "InvalidAnswer",
    "OllamaProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderCall",
    "ProviderError",
    "ProviderFailure",
    "ProviderName",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "Usage",
    "all_providers",
    "answer_json_schema",
]


def all_providers(settings: Settings | None = None) -> dict[ProviderName, Provider]:
    """One adapter per provider, keyed by name (unavailable ones included)."""
    settings = settings or get_settings()
    return {
        "ollama": OllamaProvider(settings),
        "anthropic": AnthropicProvider(settings),
        "openai": OpenAIProvider(settings),
    }
