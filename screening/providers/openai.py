"""OpenAI Chat Completions with a strict JSON-schema response format.

The SDK is imported on first use: a deployment without a key never pays its import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from screening.prompt import Prompt
from screening.providers.base import (
    ANSWER_NAME,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RepairingAdapter,
    Reply,
    Usage,
    answer_json_schema,
    failure_for_status,
    repair_request,
)

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
    from openai.types.shared_params import ResponseFormatJSONSchema

_Conversation = list["ChatCompletionMessageParam"]

# Reasoning models reject any temperature but the default (400 "Unsupported value").
_NO_TEMPERATURE_PREFIXES = ("gpt-5", "o1", "o3", "o4")


class OpenAIProvider(RepairingAdapter[_Conversation, "ChatCompletion", "openai.OpenAI"]):
    """Screens through ``client.chat.completions.create``; key from OPENAI_API_KEY."""

    provider = "openai"
    missing = "no API key (OPENAI_API_KEY)"

    @property
    def available(self) -> bool:
        key = self._settings.openai_api_key
        return key is not None and bool(key.get_secret_value())

    def _make_client(self) -> openai.OpenAI:
        import openai

        key = self._settings.openai_api_key
        assert key is not None
        return openai.OpenAI(
            api_key=key.get_secret_value(),
            base_url=self._settings.openai_base_url,
            timeout=self._settings.llm_timeout_s,
            max_retries=0,
        )

    def _start(self, prompt: Prompt) -> _Conversation:
        return [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]

    def _send(
        self, conversation: _Conversation, *, model: str, max_tokens: int, temperature: float
    ) -> Reply[ChatCompletion]:
        import openai

        client = self._sdk()
        response_format: ResponseFormatJSONSchema = {
            "type": "json_schema",
            "json_schema": {"name": ANSWER_NAME, "strict": True, "schema": answer_json_schema()},
        }
        try:
            completion = client.chat.completions.create(
                model=model,
                messages=conversation,
                max_completion_tokens=max_tokens,
                response_format=response_format,
                temperature=(
                    openai.omit if model.startswith(_NO_TEMPERATURE_PREFIXES) else temperature
                ),
            )
        except openai.APITimeoutError as exc:
            raise ProviderTimeout(f"openai: {exc}") from exc
        except openai.APIConnectionError as exc:
            raise ProviderUnavailable(f"openai: {exc}") from exc
        except openai.APIStatusError as exc:
            raise failure_for_status(
                exc.status_code, f"openai: {exc.message}", exc.response.headers
            ) from exc
        except openai.OpenAIError as exc:
            raise ProviderError(f"openai: {exc}") from exc

        if not completion.choices:
            return Reply(None, _usage(completion), completion.model, None, completion)
        choice = completion.choices[0]
        refusal = choice.message.refusal
        return Reply(
            payload=choice.message.content,
            usage=_usage(completion),
            model=completion.model,
            finish_reason=choice.finish_reason,
            raw=completion,
            problem=f"the model refused: {refusal}" if refusal else None,
        )

    def _repair(
        self, conversation: _Conversation, reply: Reply[ChatCompletion], error: str
    ) -> _Conversation:
        previous = reply.payload if isinstance(reply.payload, str) else ""
        return [
            *conversation,
            {"role": "assistant", "content": previous},
            {"role": "user", "content": repair_request(error)},
        ]


def _usage(completion: ChatCompletion) -> Usage:
    """``prompt_tokens`` includes the cached and cache-write tokens: subtract them."""
    usage = completion.usage
    if usage is None:
        return Usage()
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details else 0
    written = (details.cache_write_tokens or 0) if details else 0
    return Usage(
        input_tokens=max(usage.prompt_tokens - cached - written, 0),
        output_tokens=usage.completion_tokens,
        cached_tokens=cached,
        cache_write_tokens=written,
    )
