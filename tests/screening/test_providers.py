"""Each provider adapter, through its official SDK, against the fake wire protocols."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from core.settings import Settings
from screening.criteria import EXAMPLE_CRITERIA, Criteria
from screening.prices import PriceTable
from screening.prompt import Prompt, build_prompt
from screening.providers import (
    AnthropicProvider,
    InvalidAnswer,
    OllamaProvider,
    OpenAIProvider,
    Provider,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    Usage,
    all_providers,
    answer_json_schema,
)
from screening.providers.anthropic import accepts_temperature
from screening.providers.base import (
    GRAMMAR_MAX_REASONING_CHARS,
    GRAMMAR_MAX_SKILL_CHARS,
    GRAMMAR_MAX_SKILLS,
    bounded_answer_schema,
    retry_after_seconds,
    validate_answer,
)
from screening.result import LlmAnswer
from tests.fakes.llm_server import (
    DEFAULT_ANSWER,
    FakeLlmServer,
    RecordedRequest,
    good,
    hang,
    malformed_json,
    partial_answer,
    status,
)

# The SDK warns that claude-sonnet-4-5 reaches end-of-life on 2026-11-30; still priced and used.
pytestmark = pytest.mark.filterwarnings("ignore:The model 'claude-sonnet-4-5' is deprecated")

NONCE = "c0ffee0123456789"
PROMPT = build_prompt(
    Criteria.model_validate(EXAMPLE_CRITERIA),
    job_title="Backend Engineer",
    job_description="Build and run our Python APIs.",
    resume_text="Jane Doe. Five years of Python and PostgreSQL.",
    nonce=NONCE,
)


def settings_for(server: FakeLlmServer, *, timeout_s: float = 10.0) -> Settings:
    return Settings(
        openai_api_key=SecretStr("sk-test"),
        openai_base_url=server.openai_base_url,
        anthropic_api_key=SecretStr("sk-ant-test"),
        anthropic_base_url=server.anthropic_base_url,
        ollama_host=server.ollama_host,
        llm_timeout_s=timeout_s,
    )


@dataclass(frozen=True)
class Case:
    """How one provider is built and where its requests keep each part of the prompt."""

    name: str
    model: str
    build: Callable[[Settings], Provider]
    system: Callable[[RecordedRequest], str]
    user: Callable[[RecordedRequest], str]
    schema: Callable[[RecordedRequest], Any]
    last_turn: Callable[[RecordedRequest], str]
    answer_schema: Callable[[], dict[str, Any]] = answer_json_schema
    """The schema it asks for (Ollama's grammar needs a bounded one)."""

    def screen(self, settings: Settings, prompt: Prompt = PROMPT) -> Any:
        return self.build(settings).screen(
            prompt, model=self.model, max_tokens=500, temperature=0.2
        )


def _anthropic_last_turn(request: RecordedRequest) -> str:
    content = request.body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(str(block.get("content", block.get("text", ""))) for block in content)


OPENAI = Case(
    "openai",
    "gpt-5-mini",
    OpenAIProvider,
    system=lambda r: r.body["messages"][0]["content"],
    user=lambda r: r.body["messages"][1]["content"],
    schema=lambda r: r.body["response_format"]["json_schema"]["schema"],
    last_turn=lambda r: r.body["messages"][-1]["content"],
)
ANTHROPIC = Case(
    "anthropic",
    "claude-sonnet-4-5",
    AnthropicProvider,
    system=lambda r: r.body["system"][0]["text"],
    user=lambda r: r.body["messages"][0]["content"],
    schema=lambda r: r.body["tools"][0]["input_schema"],
    last_turn=_anthropic_last_turn,
)
OLLAMA = Case(
    "ollama",
    "llama3.1:8b",
    OllamaProvider,
    system=lambda r: r.body["messages"][0]["content"],
    user=lambda r: r.body["messages"][1]["content"],
    schema=lambda r: r.body["format"],
    last_turn=lambda r: r.body["messages"][-1]["content"],
    answer_schema=bounded_answer_schema,
)
CASES = [pytest.param(c, id=c.name) for c in (OPENAI, ANTHROPIC, OLLAMA)]


# --- every provider ----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_good_answer_is_validated_and_returned(case: Case, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(good(DEFAULT_ANSWER))

    call = case.screen(settings_for(fake_llm))

    assert call.answer == LlmAnswer.model_validate(DEFAULT_ANSWER)
    assert call.provider == case.name
    assert call.attempts == 1
    assert call.model.startswith(case.model)
    assert call.finish_reason in ("stop", "tool_use")
    assert call.latency_ms >= 0
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("case", CASES)
def test_request_fences_the_resume_and_sends_the_answer_schema(
    case: Case, fake_llm: FakeLlmServer
) -> None:
    case.screen(settings_for(fake_llm))

    [request] = fake_llm.requests
    assert request.route == case.name
    assert f"<resume-{NONCE}>\nJane Doe." in case.user(request)
    assert f"</resume-{NONCE}>" in case.user(request)
    assert "untrusted data" in case.system(request)
    assert "Jane Doe" not in case.system(request)
    assert case.schema(request) == case.answer_schema()


@pytest.mark.parametrize("case", CASES)
def test_malformed_json_is_retried_once_with_the_error(case: Case, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(malformed_json(), good())

    call = case.screen(settings_for(fake_llm))

    assert call.attempts == 2
    assert call.answer.score == DEFAULT_ANSWER["score"]
    first, second = fake_llm.requests
    assert "could not be used" not in str(first.body)
    assert "could not be used because" in case.last_turn(second)


@pytest.mark.parametrize("case", CASES)
def test_partial_answer_is_retried_with_the_missing_fields_named(
    case: Case, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(partial_answer({"score": 70}), good())

    call = case.screen(settings_for(fake_llm))

    assert call.attempts == 2
    repair = case.last_turn(fake_llm.requests[1])
    assert "recommendation: Field required" in repair
    assert "reasoning: Field required" in repair


@pytest.mark.parametrize("case", CASES)
def test_usage_of_a_repaired_answer_covers_both_attempts(
    case: Case, fake_llm: FakeLlmServer
) -> None:
    single = case.screen(settings_for(fake_llm)).usage
    fake_llm.reset()
    fake_llm.script(malformed_json(), good())

    repaired = case.screen(settings_for(fake_llm)).usage

    assert repaired == single + single


@pytest.mark.parametrize("case", CASES)
def test_two_invalid_answers_raise_invalid_answer(case: Case, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(malformed_json(), partial_answer())

    with pytest.raises(InvalidAnswer) as caught:
        case.screen(settings_for(fake_llm))

    assert len(fake_llm.requests) == 2
    assert caught.value.usage.output_tokens > 0  # both failed attempts are still paid for


@pytest.mark.parametrize("case", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
def test_429_raises_rate_limited_with_retry_after(case: Case, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(status(429, retry_after=7))

    with pytest.raises(ProviderRateLimited) as caught:
        case.screen(settings_for(fake_llm))

    assert caught.value.retry_after_s == 7.0
    assert len(fake_llm.requests) == 1  # the SDK's own retries are off


def test_ollama_429_is_rate_limited_without_retry_after(fake_llm: FakeLlmServer) -> None:
    # The ollama client drops response headers from its ResponseError.
    fake_llm.script(status(429, retry_after=7))

    with pytest.raises(ProviderRateLimited) as caught:
        OLLAMA.screen(settings_for(fake_llm))

    assert caught.value.retry_after_s is None


@pytest.mark.parametrize("case", CASES)
def test_500_raises_provider_error_without_sdk_retries(case: Case, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(status(500), good())

    with pytest.raises(ProviderError) as caught:
        case.screen(settings_for(fake_llm))

    assert caught.value.status == 500
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("case", CASES)
def test_failure_on_the_repair_attempt_reports_the_first_attempts_usage(
    case: Case, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(malformed_json(), status(503))

    with pytest.raises(ProviderError) as caught:
        case.screen(settings_for(fake_llm))

    assert caught.value.usage.output_tokens > 0


@pytest.mark.parametrize("case", CASES)
def test_server_slower_than_the_timeout_raises_provider_timeout(
    case: Case, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(hang(30))
    started = time.monotonic()

    with pytest.raises(ProviderTimeout):
        case.screen(settings_for(fake_llm, timeout_s=0.5))

    assert time.monotonic() - started < 5
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("case", CASES)
def test_unconfigured_provider_is_unavailable_and_sends_nothing(
    case: Case, fake_llm: FakeLlmServer
) -> None:
    settings = Settings(openai_api_key=None, anthropic_api_key=None, ollama_host=None)
    provider = case.build(settings)

    assert provider.name == case.name
    assert not provider.available
    with pytest.raises(ProviderUnavailable):
        case.screen(settings)
    assert fake_llm.requests == []


@pytest.mark.parametrize("case", CASES)
def test_unreachable_host_is_unavailable(case: Case) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        openai_api_key=SecretStr("k"),
        openai_base_url=f"{url}/v1",
        anthropic_api_key=SecretStr("k"),
        anthropic_base_url=url,
        ollama_host=url,
        llm_timeout_s=2,
    )

    with pytest.raises(ProviderUnavailable):
        case.screen(settings)


@pytest.mark.parametrize("code", [401, 403])
def test_refused_credentials_make_the_provider_unavailable(
    code: int, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(status(code))

    with pytest.raises(ProviderUnavailable):
        OPENAI.screen(settings_for(fake_llm))


def test_keys_and_host_come_from_the_conventional_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    monkeypatch.setenv("OLLAMA_HOST", "http://gpu-1:11434")
    monkeypatch.setenv("PVARA_OPENAI_API_KEY", "sk-pvara")

    settings = Settings()

    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-pvara"  # ours wins
    assert all(p.available for p in all_providers(settings).values())
    assert "sk-ant-env" not in repr(settings)


# --- token normalisation -----------------------------------------------------------------


def test_openai_cached_tokens_are_taken_out_of_prompt_tokens(fake_llm: FakeLlmServer) -> None:
    fake_llm.script(
        good(
            usage={
                "prompt_tokens": 2006,
                "completion_tokens": 300,
                "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            }
        )
    )

    call = OPENAI.screen(settings_for(fake_llm))

    assert call.usage == Usage(input_tokens=86, output_tokens=300, cached_tokens=1920)


def test_anthropic_cache_reads_and_writes_are_kept_apart_from_input(
    fake_llm: FakeLlmServer,
) -> None:
    fake_llm.script(
        good(
            usage={
                "input_tokens": 50,
                "output_tokens": 300,
                "cache_read_input_tokens": 1800,
                "cache_creation_input_tokens": 200,
            }
        )
    )

    call = ANTHROPIC.screen(settings_for(fake_llm))

    assert call.usage == Usage(
        input_tokens=50, output_tokens=300, cached_tokens=1800, cache_write_tokens=200
    )


def test_ollama_tokens_come_from_eval_counts(fake_llm: FakeLlmServer) -> None:
    fake_llm.script(good(usage={"prompt_eval_count": 900, "eval_count": 150}))

    call = OLLAMA.screen(settings_for(fake_llm))

    assert call.usage == Usage(input_tokens=900, output_tokens=150)


def test_a_call_is_priced_from_its_normalised_usage(fake_llm: FakeLlmServer) -> None:
    fake_llm.script(
        good(
            usage={
                "prompt_tokens": 2006,
                "completion_tokens": 300,
                "prompt_tokens_details": {"cached_tokens": 1920},
            }
        )
    )
    call = OPENAI.screen(settings_for(fake_llm))

    cost = PriceTable.load().cost_usd(call.provider, call.model, call.usage, call.latency_ms)

    assert call.model == "gpt-5-mini-2025-08-07"
    assert cost == Decimal("0.00066950")  # 86 x 0.25 + 300 x 2 + 1920 x 0.025, per million


# --- what each SDK put on the wire --------------------------------------------------------


def test_openai_asks_for_a_strict_json_schema(fake_llm: FakeLlmServer) -> None:
    OPENAI.screen(settings_for(fake_llm))

    [request] = fake_llm.requests
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["response_format"]["type"] == "json_schema"
    assert request.body["response_format"]["json_schema"]["strict"] is True
    assert request.body["response_format"]["json_schema"]["name"] == "screening_answer"
    assert request.body["max_completion_tokens"] == 500


@pytest.mark.parametrize(("model", "sent"), [("gpt-5-mini", False), ("gpt-4.1-mini", True)])
def test_openai_sends_temperature_only_to_models_that_accept_it(
    model: str, sent: bool, fake_llm: FakeLlmServer
) -> None:
    OpenAIProvider(settings_for(fake_llm)).screen(
        PROMPT, model=model, max_tokens=500, temperature=0.2
    )

    assert ("temperature" in fake_llm.requests[0].body) is sent


def test_anthropic_forces_the_answer_tool_and_caches_the_system_prefix(
    fake_llm: FakeLlmServer,
) -> None:
    ANTHROPIC.screen(settings_for(fake_llm))

    [request] = fake_llm.requests
    # This SDK version sends the API key as a bearer token, not x-api-key.
    assert request.headers["authorization"] == "Bearer sk-ant-test"
    assert "anthropic-version" in request.headers
    assert request.body["tool_choice"] == {"type": "tool", "name": "screening_answer"}
    assert request.body["tools"][0]["name"] == "screening_answer"
    assert request.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert request.body["max_tokens"] == 500
    assert request.body["temperature"] == 0.2


@pytest.mark.parametrize(
    ("model", "accepts"),
    [
        ("claude-sonnet-4-5", True),
        ("claude-sonnet-4-5-20250929", True),
        ("claude-haiku-4-5", True),
        ("claude-sonnet-4-20250514", True),
        ("claude-3-5-haiku-20241022", True),
        ("claude-opus-4-7", False),
        ("claude-sonnet-5", False),
    ],
)
def test_anthropic_temperature_goes_only_to_models_that_accept_it(
    model: str, accepts: bool
) -> None:
    assert accepts_temperature(model) is accepts


def test_anthropic_repair_answers_the_tool_call_with_an_error_result(
    fake_llm: FakeLlmServer,
) -> None:
    fake_llm.script(partial_answer(), good())

    ANTHROPIC.screen(settings_for(fake_llm))

    messages = fake_llm.requests[1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    tool_use = messages[1]["content"][0]
    tool_result = messages[2]["content"][0]
    assert tool_use["type"] == "tool_use"
    assert tool_use["input"] == {"score": 70}
    assert tool_result["type"] == "tool_result"
    assert tool_result["tool_use_id"] == tool_use["id"]
    assert tool_result["is_error"] is True


def test_ollama_sends_format_options_and_no_stream(fake_llm: FakeLlmServer) -> None:
    OLLAMA.screen(settings_for(fake_llm))

    [request] = fake_llm.requests
    assert request.body["stream"] is False
    assert request.body["format"] == bounded_answer_schema()
    assert request.body["options"] == {"temperature": 0.2, "num_predict": 500}


def test_the_grammar_schema_bounds_every_field_and_puts_reasoning_last() -> None:
    schema = bounded_answer_schema()
    properties = schema["properties"]

    # Properties are generated in order: a cut-off answer loses prose, not the score.
    assert list(properties) == [
        "score",
        "recommendation",
        "matched_skills",
        "missing_skills",
        "reasoning",
    ]
    assert schema["required"] == list(properties)
    assert schema["additionalProperties"] is False
    # Ollama's grammar keeps integer bounds; it dropped `maximum` on a number (field notes).
    assert properties["score"] == {
        "description": properties["score"]["description"],
        "type": "integer",
        "minimum": 0,
        "maximum": 100,
    }
    assert properties["recommendation"]["enum"] == ["advance", "review", "reject"]
    for name in ("matched_skills", "missing_skills"):
        assert properties[name]["maxItems"] == GRAMMAR_MAX_SKILLS
        assert properties[name]["items"]["maxLength"] == GRAMMAR_MAX_SKILL_CHARS
    assert properties["reasoning"]["maxLength"] == GRAMMAR_MAX_REASONING_CHARS


def test_anything_the_grammar_schema_allows_validates_as_an_answer() -> None:
    longest = {
        "score": 100,
        "recommendation": "advance",
        "matched_skills": ["s" * GRAMMAR_MAX_SKILL_CHARS] * GRAMMAR_MAX_SKILLS,
        "missing_skills": ["m" * GRAMMAR_MAX_SKILL_CHARS] * GRAMMAR_MAX_SKILLS,
        "reasoning": "r" * GRAMMAR_MAX_REASONING_CHARS,
    }

    assert validate_answer(longest).score == 100
    assert validate_answer({**longest, "score": 0}).score == 0


# --- helpers -----------------------------------------------------------------------------


def test_answer_schema_is_strict_mode_compatible() -> None:
    schema = answer_json_schema()

    assert schema["additionalProperties"] is False
    assert sorted(schema["required"]) == sorted(schema["properties"])
    assert schema["properties"]["recommendation"]["enum"] == ["advance", "review", "reject"]


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "12"}, 12.0),
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_each_of_its_forms(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_seconds(headers) == seconds
