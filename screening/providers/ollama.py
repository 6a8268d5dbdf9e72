"""Self-hosted models through Ollama's ``/api/chat`` with a JSON-schema ``format``.

The SDK is imported on first use: a deployment without a host never pays its import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from screening.prompt import Prompt
from screening.providers.base import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RepairingAdapter,
    Reply,
    Usage,
    bounded_answer_schema,
    failure_for_status,
    repair_request,
)

if TYPE_CHECKING:
    import ollama

_Conversation = list[dict[str, Any]]


class OllamaProvider(RepairingAdapter[_Conversation, "ollama.ChatResponse", "ollama.Client"]):
    """Screens through ``ollama.Client.chat``; host from PVARA_OLLAMA_HOST or OLLAMA_HOST, or
    the local server when PVARA_OLLAMA=local.

    The answer is constrained by :func:`bounded_answer_schema` (Ollama compiles it to a
    grammar) and validated all the same.

    Ollama reports no cache reads (``prompt_eval_count`` counts only the tokens it evaluated),
    so ``cached_tokens`` is always 0, and its errors carry no headers, so a 429 has no
    ``retry_after_s``.
    """

    provider = "ollama"
    missing = "no host (PVARA_OLLAMA_HOST or OLLAMA_HOST, or PVARA_OLLAMA=local)"

    @property
    def available(self) -> bool:
        return bool(self._settings.effective_ollama_host)

    def _make_client(self) -> ollama.Client:
        import ollama

        # Without a timeout the ollama client waits forever.
        return ollama.Client(
            host=self._settings.effective_ollama_host, timeout=self._settings.llm_timeout_s
        )

    def _start(self, prompt: Prompt) -> _Conversation:
        return [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]

    def _send(
        self, conversation: _Conversation, *, model: str, max_tokens: int, temperature: float
    ) -> Reply[ollama.ChatResponse]:
        import ollama

        client = self._sdk()
        try:
            response = client.chat(
                model=model,
                messages=conversation,
                format=bounded_answer_schema(),
                options={"temperature": temperature, "num_predict": max_tokens},
                stream=False,
            )
        except ollama.ResponseError as exc:
            raise failure_for_status(exc.status_code, f"ollama: {exc.error}") from exc
        except ConnectionError as exc:  # what the client raises for httpx.ConnectError
            raise ProviderUnavailable(f"ollama: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"ollama: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"ollama: {exc!r}") from exc

        return Reply(
            payload=response.message.content,
            usage=Usage(
                input_tokens=response.prompt_eval_count or 0,
                output_tokens=response.eval_count or 0,
            ),
            model=response.model or model,
            finish_reason=response.done_reason,
            raw=response,
        )

    def _repair(
        self, conversation: _Conversation, reply: Reply[ollama.ChatResponse], error: str
    ) -> _Conversation:
        previous = reply.payload if isinstance(reply.payload, str) else ""
        return [
            *conversation,
            {"role": "assistant", "content": previous},
            {"role": "user", "content": repair_request(error)},
        ]
