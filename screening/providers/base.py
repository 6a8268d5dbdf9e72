"""What every LLM provider adapter offers, and the errors it raises.

Token usage is normalised once here so prices never need to know a provider's conventions:

* ``input_tokens`` - input read without any cache (OpenAI ``prompt_tokens`` minus cached and
  cache-write tokens; Anthropic ``input_tokens``; Ollama ``prompt_eval_count``);
* ``cached_tokens`` - input read from the provider's prompt cache (OpenAI
  ``prompt_tokens_details.cached_tokens``; Anthropic ``cache_read_input_tokens``);
* ``cache_write_tokens`` - input written to the cache (Anthropic
  ``cache_creation_input_tokens``, billed above the input rate; OpenAI
  ``prompt_tokens_details.cache_write_tokens``);
* ``output_tokens`` - generated tokens, reasoning included.

The four counts are disjoint: their sum is everything the provider billed.
"""

from __future__ import annotations

import copy
import email.utils
import functools
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import ValidationError

from core.settings import Settings, get_settings
from screening.prompt import Prompt
from screening.result import LlmAnswer

ProviderName = Literal["ollama", "anthropic", "openai"]

ANSWER_NAME = "screening_answer"
"""Name of the answer schema (OpenAI ``json_schema.name``, Anthropic tool name)."""

_FIELD_HINTS = {
    "score": "Fit of the candidate for the job, 0 (none) to 100 (perfect).",
    "reasoning": "At most three sentences citing résumé evidence.",
    "matched_skills": "Criteria skills the résumé shows.",
    "missing_skills": "Must-have criteria skills the résumé does not show.",
    "recommendation": "advance, review or reject.",
}


@dataclass(frozen=True, slots=True)
class Usage:
    """Normalised token counts of one call (or the sum of a call and its repair)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """A validated answer and what it cost to get it.

    ``usage`` and ``latency_ms`` cover every attempt (a repaired answer is paid twice);
    ``model`` is the model the provider reports, ``finish_reason`` its raw stop reason.
    """

    provider: ProviderName
    answer: LlmAnswer
    usage: Usage
    latency_ms: int
    model: str
    finish_reason: str | None
    attempts: int


class ProviderFailure(Exception):  # noqa: N818 - same naming as its subclasses
    """Base of the provider errors; ``usage`` is what was spent before the failure."""

    def __init__(self, message: str, *, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage or Usage()


class ProviderUnavailable(ProviderFailure):
    """No key or host configured, the credentials were refused, or the host is unreachable."""


class ProviderRateLimited(ProviderFailure):
    """HTTP 429; ``retry_after_s`` from ``Retry-After`` (or ``retry-after-ms``) if sent."""

    def __init__(
        self, message: str, *, retry_after_s: float | None, usage: Usage | None = None
    ) -> None:
        super().__init__(message, usage=usage)
        self.retry_after_s = retry_after_s


class ProviderError(ProviderFailure):
    """The provider failed (5xx, or a 4xx other than 429/401/403); ``status`` if HTTP."""

    def __init__(self, message: str, *, status: int | None = None, usage: Usage | None = None):
        super().__init__(message, usage=usage)
        self.status = status


class ProviderTimeout(ProviderFailure):
    """The call did not complete within the configured timeout."""


class InvalidAnswer(ProviderFailure):
    """The answer did not validate, even after one repair attempt."""


@runtime_checkable
class Provider(Protocol):
    """An LLM that can screen one résumé."""

    @property
    def name(self) -> ProviderName: ...

    @property
    def available(self) -> bool:
        """False when no key/host is configured (then :meth:`screen` raises)."""
        ...

    def screen(
        self, prompt: Prompt, *, model: str, max_tokens: int, temperature: float
    ) -> ProviderCall:
        """Ask ``model`` for an :class:`LlmAnswer`.

        Raises:
            ProviderUnavailable, ProviderRateLimited, ProviderError, ProviderTimeout,
            InvalidAnswer.
        """
        ...


def answer_json_schema() -> dict[str, Any]:
    """JSON Schema of :class:`LlmAnswer` in the subset OpenAI's strict mode accepts.

    All properties required, no additional properties, no ``title`` or ``maxLength``
    (lengths are enforced when we validate the answer ourselves). A fresh copy each call.
    """
    return copy.deepcopy(_answer_schema())


@functools.cache
def _answer_schema() -> dict[str, Any]:
    schema = LlmAnswer.model_json_schema()
    properties: dict[str, Any] = {}
    for name, spec in schema["properties"].items():
        spec = {k: v for k, v in spec.items() if k not in ("title", "maxLength")}
        properties[name] = {"description": _FIELD_HINTS[name], **spec}
    return {
        "type": "object",
        "properties": properties,
        "required": list(schema["required"]),
        "additionalProperties": False,
    }


# Small enough that the longest answer the grammar allows (~1,000 characters, ~300 tokens)
# still ends before the seed's max_tokens of 500: an answer cut off there is invalid JSON.
GRAMMAR_MAX_SKILLS = 8
GRAMMAR_MAX_SKILL_CHARS = 40
GRAMMAR_MAX_REASONING_CHARS = 300


def bounded_answer_schema() -> dict[str, Any]:
    """The answer schema for grammar-constrained decoders (Ollama's ``format``).

    Such a decoder turns the schema into a grammar, which is only as strict as what it can
    express: a ``number`` loses its ``maximum`` (a real answer scored 150), an unbounded
    string lets a small model ramble past ``max_tokens``. So the score is an ``integer`` with
    bounds, every string and list is bounded, and ``reasoning`` comes last (properties are
    generated in order: a cut-off answer loses prose, not the score). Answers are validated
    against :class:`LlmAnswer` anyway. A fresh copy each call.
    """
    return copy.deepcopy(_bounded_schema())


@functools.cache
def _bounded_schema() -> dict[str, Any]:
    base = _answer_schema()["properties"]
    skills = {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": GRAMMAR_MAX_SKILL_CHARS},
        "maxItems": GRAMMAR_MAX_SKILLS,
    }
    properties = {
        "score": {
            "description": base["score"]["description"],
            "type": "integer",
            "minimum": 0,
            "maximum": 100,
        },
        "recommendation": base["recommendation"],
        "matched_skills": {"description": base["matched_skills"]["description"], **skills},
        "missing_skills": {"description": base["missing_skills"]["description"], **skills},
        "reasoning": {
            "description": base["reasoning"]["description"],
            "type": "string",
            "maxLength": GRAMMAR_MAX_REASONING_CHARS,
        },
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def validate_answer(payload: str | Mapping[str, Any] | None) -> LlmAnswer:
    """Validate a JSON text or an already decoded object.

    Raises:
        InvalidAnswer: with a short description of every problem (never the input values,
            which may echo résumé text).
    """
    if payload is None:
        raise InvalidAnswer("the answer was empty")
    try:
        if isinstance(payload, str):
            return LlmAnswer.model_validate_json(payload)
        return LlmAnswer.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise InvalidAnswer(f"the answer is invalid: {problems}") from None


def repair_request(error: str) -> str:
    """The follow-up message asking the model to correct an invalid answer."""
    return (
        f"Your previous answer could not be used because {error}. Answer again with only the "
        "structured answer: every field of the schema, correct types, nothing else."
    )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    millis = _seconds(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _seconds(value: str | None) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return max(number, 0.0) if number is not None and math.isfinite(number) else None


def failure_for_status(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> ProviderFailure:
    """The provider error for an HTTP error status."""
    if status == 429:
        return ProviderRateLimited(message, retry_after_s=retry_after_seconds(headers or {}))
    if status in (401, 403):
        return ProviderUnavailable(message)
    return ProviderError(message, status=status)


ReplyT = TypeVar("ReplyT")


@dataclass(frozen=True, slots=True)
class Reply(Generic[ReplyT]):
    """One provider response, as the repair loop needs it."""

    payload: str | Mapping[str, Any] | None
    usage: Usage
    model: str
    finish_reason: str | None
    raw: ReplyT
    problem: str | None = None
    """Why the reply holds no answer at all (a refusal, no tool call); skips validation."""


ConversationT = TypeVar("ConversationT")
ClientT = TypeVar("ClientT")


class RepairingAdapter(Generic[ConversationT, ReplyT, ClientT]):
    """Sends the prompt; an invalid answer is sent back once with the validation error.

    Holds the SDK client, built once on first use and only when the provider is configured.
    Subclasses set ``provider`` and ``missing`` (why it is unavailable) and implement
    :attr:`available`, :meth:`_make_client`, :meth:`_start`, :meth:`_send` (one HTTP call,
    SDK errors mapped to :class:`ProviderFailure`) and :meth:`_repair` (the conversation
    extended with the bad answer and the error).
    """

    provider: ProviderName
    missing: str

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings or get_settings()
        self._client: ClientT | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> ProviderName:
        return self.provider

    @property
    def available(self) -> bool:
        raise NotImplementedError

    def screen(
        self, prompt: Prompt, *, model: str, max_tokens: int, temperature: float
    ) -> ProviderCall:
        """Ask ``model`` for an answer; see :class:`Provider`."""
        return self._screen(
            self.provider, prompt, model=model, max_tokens=max_tokens, temperature=temperature
        )

    def _sdk(self) -> ClientT:
        # Never built unconfigured: SDKs fall back to keys and hosts found elsewhere.
        if not self.available:
            raise ProviderUnavailable(f"{self.provider}: {self.missing}")
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> ClientT:
        raise NotImplementedError

    def _start(self, prompt: Prompt) -> ConversationT:
        raise NotImplementedError

    def _send(
        self, conversation: ConversationT, *, model: str, max_tokens: int, temperature: float
    ) -> Reply[ReplyT]:
        raise NotImplementedError

    def _repair(
        self, conversation: ConversationT, reply: Reply[ReplyT], error: str
    ) -> ConversationT:
        raise NotImplementedError

    def _screen(
        self,
        provider: ProviderName,
        prompt: Prompt,
        *,
        model: str,
        max_tokens: int,
        temperature: float,
    ) -> ProviderCall:
        conversation = self._start(prompt)
        spent = Usage()
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                reply = self._send(
                    conversation, model=model, max_tokens=max_tokens, temperature=temperature
                )
            except ProviderFailure as exc:
                exc.usage = spent + exc.usage
                raise
            spent = spent + reply.usage
            try:
                if reply.problem is not None:
                    raise InvalidAnswer(reply.problem)
                answer = validate_answer(reply.payload)
            except InvalidAnswer as exc:
                if attempt == 2:
                    raise InvalidAnswer(str(exc), usage=spent) from None
                conversation = self._repair(conversation, reply, str(exc))
                continue
            return ProviderCall(
                provider=provider,
                answer=answer,
                usage=spent,
                latency_ms=round((time.perf_counter() - started) * 1000),
                model=reply.model or model,
                finish_reason=reply.finish_reason,
                attempts=attempt,
            )
        raise AssertionError("unreachable")  # pragma: no cover
