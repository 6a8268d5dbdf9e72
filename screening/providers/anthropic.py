"""Anthropic Messages API; the answer is the input of a tool the model is forced to call.

The SDK is imported on first use: a deployment without a key never pays its import time.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

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
    import anthropic
    from anthropic.types import Message, MessageParam, ToolParam

_Conversation = tuple[str, list["MessageParam"]]
"""The system text and the turns."""

# The installed SDK has no ``temperature`` argument and models from Opus 4.7 on answer 400
# to it; older families still honour it, so it goes in ``extra_body`` for those only.
_TEMPERATURE_MODELS = re.compile(
    r"claude-3[-.]|claude-(?:opus|sonnet|haiku)-4(?:-[0-6])?(?:-\d{8})?$"
)


def accepts_temperature(model: str) -> bool:
    """Whether ``model`` still accepts a ``temperature`` (Claude 3 and 4.0-4.6)."""
    return _TEMPERATURE_MODELS.match(model) is not None


class AnthropicProvider(RepairingAdapter[_Conversation, "Message", "anthropic.Anthropic"]):
    """Screens through ``client.messages.create``; key from ANTHROPIC_API_KEY.

    The system message carries ``cache_control``, so the per-job prefix (tool, rules, job,
    criteria) is read from cache for the second and later applicants of a job once it is
    longer than the model's minimum cacheable length.
    """

    provider = "anthropic"
    missing = "no API key (ANTHROPIC_API_KEY)"

    @property
    def available(self) -> bool:
        key = self._settings.anthropic_api_key
        return key is not None and bool(key.get_secret_value())

    def _make_client(self) -> anthropic.Anthropic:
        import anthropic

        key = self._settings.anthropic_api_key
        assert key is not None
        return anthropic.Anthropic(
            api_key=key.get_secret_value(),
            base_url=self._settings.anthropic_base_url,
            timeout=self._settings.llm_timeout_s,
            max_retries=0,
        )

    def _start(self, prompt: Prompt) -> _Conversation:
        return prompt.system, [{"role": "user", "content": prompt.user}]

    def _send(
        self, conversation: _Conversation, *, model: str, max_tokens: int, temperature: float
    ) -> Reply[Message]:
        import anthropic

        client = self._sdk()
        system, messages = conversation
        tool: ToolParam = {
            "name": ANSWER_NAME,
            "description": "Record the screening answer for this candidate.",
            "input_schema": answer_json_schema(),
        }
        extra: dict[str, Any] = {"temperature": temperature} if accepts_temperature(model) else {}
        try:
            message = client.messages.create(
                model=model,
                max_tokens=max_tokens,
                system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
                messages=messages,
                tools=[tool],
                tool_choice={"type": "tool", "name": ANSWER_NAME},
                extra_body=extra or None,
            )
        except anthropic.APITimeoutError as exc:
            raise ProviderTimeout(f"anthropic: {exc}") from exc
        except anthropic.APIConnectionError as exc:
            raise ProviderUnavailable(f"anthropic: {exc}") from exc
        except anthropic.APIStatusError as exc:
            raise failure_for_status(
                exc.status_code, f"anthropic: {exc.message}", exc.response.headers
            ) from exc
        except anthropic.AnthropicError as exc:
            raise ProviderError(f"anthropic: {exc}") from exc

        call = next(
            (b for b in message.content if b.type == "tool_use" and b.name == ANSWER_NAME), None
        )
        return Reply(
            payload=call.input if call is not None else None,
            usage=_usage(message),
            model=message.model,
            finish_reason=message.stop_reason,
            raw=message,
            problem=None
            if call is not None
            else f"the answer did not call the {ANSWER_NAME} tool (stop: {message.stop_reason})",
        )

    def _repair(
        self, conversation: _Conversation, reply: Reply[Message], error: str
    ) -> _Conversation:
        blocks: list[Any] = []
        tool_use_ids: list[str] = []
        for block in reply.raw.content:
            if block.type == "text" and block.text:
                blocks.append({"type": "text", "text": block.text})
            elif block.type == "tool_use":
                blocks.append(
                    {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
                )
                tool_use_ids.append(block.id)
        # Every tool_use must be answered by a tool_result in the next user turn.
        follow_up: MessageParam = {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_use_id,
                    "is_error": True,
                    "content": repair_request(error),
                }
                for tool_use_id in tool_use_ids
            ]
            or repair_request(error),
        }
        # An empty assistant turn is rejected by the API; consecutive user turns are merged.
        previous: list[MessageParam] = [{"role": "assistant", "content": blocks}] if blocks else []
        system, messages = conversation
        return system, [*messages, *previous, follow_up]


def _usage(message: Message) -> Usage:
    """``input_tokens`` already excludes cache reads and cache writes."""
    usage = message.usage
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cache_read_input_tokens or 0,
        cache_write_tokens=usage.cache_creation_input_tokens or 0,
    )
