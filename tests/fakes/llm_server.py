"""A scriptable fake of the OpenAI, Anthropic and Ollama HTTP APIs on a real local socket.

One threaded server answers all three wire protocols:

* OpenAI ``POST /v1/chat/completions`` (base URL ``server.openai_base_url``),
* Anthropic ``POST /v1/messages`` (base URL ``server.anthropic_base_url``),
* Ollama ``POST /api/chat``, non-streaming (host ``server.ollama_host``).

Each request takes the next behaviour from the script (``good`` with a default answer when
the script is empty) and is recorded, so a test can check what the SDK really sent::

    fake_llm.script(malformed_json(), good(ANSWER))
    call = provider.screen(prompt, model="gpt-5-mini", max_tokens=500, temperature=0)
    assert len(fake_llm.requests) == 2
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

DEFAULT_ANSWER: dict[str, Any] = {
    "score": 82,
    "reasoning": "Five years of Python and PostgreSQL; no Kubernetes.",
    "matched_skills": ["Python", "PostgreSQL"],
    "missing_skills": [],
    "recommendation": "review",
}

Kind = Literal["good", "malformed_json", "partial_answer", "status", "hang"]
Route = Literal["openai", "anthropic", "ollama"]
_ROUTES: dict[str, Route] = {
    "/v1/chat/completions": "openai",
    "/v1/messages": "anthropic",
    "/api/chat": "ollama",
}


@dataclass(frozen=True)
class Behaviour:
    """What the server does with one request; build it with the functions below."""

    kind: Kind
    answer: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_ANSWER))
    usage: Mapping[str, Any] | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def good(
    answer: Mapping[str, Any] | None = None, *, usage: Mapping[str, Any] | None = None
) -> Behaviour:
    """A valid answer. ``usage`` replaces the provider's raw usage block (its own field names)."""
    return Behaviour("good", answer=dict(answer or DEFAULT_ANSWER), usage=usage)


def malformed_json(*, usage: Mapping[str, Any] | None = None) -> Behaviour:
    """Broken JSON (Anthropic: a text reply that never calls the tool)."""
    return Behaviour("malformed_json", usage=usage)


def partial_answer(answer: Mapping[str, Any] | None = None) -> Behaviour:
    """Valid JSON with required fields missing (default: only ``score``)."""
    return Behaviour("partial_answer", answer=dict(answer or {"score": 70}))


def status(
    code: int, *, retry_after: str | float | None = None, retry_after_ms: int | None = None
) -> Behaviour:
    """An HTTP error in the provider's error format, with ``Retry-After`` if given."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return Behaviour("status", status=code, headers=headers)


def hang(seconds: float) -> Behaviour:
    """Answer only after ``seconds`` (or when the test ends), for client timeouts."""
    return Behaviour("hang", seconds=seconds)


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it (header names lower-case)."""

    route: Route | None
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 resets connections when 200 clients arrive at once.
    request_queue_size = 1024
    daemon_threads = True


class FakeLlmServer:
    """The fake; use as a context manager or call :meth:`start` and :meth:`close`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._script: deque[Behaviour] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._httpd = _Server((host, port), _handler_for(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fake-llm", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def ollama_host(self) -> str:
        return self.url

    def start(self) -> FakeLlmServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLlmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, in order."""
        with self._lock:
            self._script.extend(behaviours)

    def reset(self) -> None:
        """Forget the script and the recorded requests; release hanging requests."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._release.set()
            self._release = threading.Event()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def _next(self, request: RecordedRequest) -> tuple[Behaviour, threading.Event]:
        with self._lock:
            self._requests.append(request)
            behaviour = self._script.popleft() if self._script else good()
            return behaviour, self._release


def _handler_for(server: FakeLlmServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = raw.decode("utf-8", "replace")
            route = _ROUTES.get(self.path.split("?", 1)[0])
            request = RecordedRequest(
                route,
                "POST",
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            behaviour, release = server._next(request)
            if route is None:
                self._send(404, {"error": f"no route {self.path}"}, {})
                return
            if behaviour.kind == "hang":
                release.wait(behaviour.seconds)
                behaviour = good()
            code, payload, headers = _render(
                route, behaviour, body if isinstance(body, dict) else {}
            )
            self._send(code, payload, headers)

        def _send(self, code: int, payload: Any, headers: Mapping[str, str]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _render(
    route: Route, behaviour: Behaviour, body: Mapping[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    if behaviour.kind == "status":
        return behaviour.status, _error_body(route, behaviour.status), dict(behaviour.headers)
    model = str(body.get("model", "unknown-model"))
    if behaviour.kind == "malformed_json":
        text = '{"score": 80, "reasoning": "Strong Python'
    else:
        text = json.dumps(behaviour.answer)
    renderers = {"openai": _openai, "anthropic": _anthropic, "ollama": _ollama}
    return 200, renderers[route](behaviour, model, text, body), _request_id_header(route)


def _openai(behaviour: Behaviour, model: str, text: str, body: Mapping[str, Any]) -> Any:
    usage = behaviour.usage or {
        "prompt_tokens": 1200,
        "completion_tokens": 90,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    }
    usage = {
        "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"],
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        **usage,
    }
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{model}-2025-08-07" if model.startswith("gpt-5") else model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": None,
    }


def _anthropic(behaviour: Behaviour, model: str, text: str, body: Mapping[str, Any]) -> Any:
    usage = behaviour.usage or {
        "input_tokens": 1500,
        "output_tokens": 120,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    usage = {"service_tier": "standard", **usage}
    tool_name = (body.get("tool_choice") or {}).get("name", "answer")
    content: list[dict[str, Any]]
    if behaviour.kind == "malformed_json":
        content = [{"type": "text", "text": text}]
        stop_reason = "end_turn"
    else:
        content = [
            {
                "type": "tool_use",
                "id": f"toolu_01{secrets.token_hex(11)}",
                "name": tool_name,
                "input": dict(behaviour.answer),
            }
        ]
        stop_reason = "tool_use"
    return {
        "id": f"msg_01{secrets.token_hex(11)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _ollama(behaviour: Behaviour, model: str, text: str, body: Mapping[str, Any]) -> Any:
    usage = behaviour.usage or {"prompt_eval_count": 1400, "eval_count": 110}
    return {
        "model": model,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "message": {"role": "assistant", "content": text},
        "done_reason": "stop",
        "done": True,
        "total_duration": 4_935_886_791,
        "load_duration": 534_986_708,
        "prompt_eval_duration": 107_345_000,
        "eval_duration": 4_289_000_000,
        **usage,
    }


def _error_body(route: Route, code: int) -> Any:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:  # 529 and other non-standard codes
        phrase = "Overloaded" if code == 529 else "Error"
    if route == "openai":
        kind, error_code = (
            ("requests", "rate_limit_exceeded") if code == 429 else ("server_error", None)
        )
        return {"error": {"message": phrase, "type": kind, "param": None, "code": error_code}}
    if route == "anthropic":
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(code, "api_error")
        return {
            "type": "error",
            "error": {"type": kind, "message": phrase},
            "request_id": f"req_011C{secrets.token_hex(10)}",
        }
    return {"error": phrase.lower()}


def _request_id_header(route: Route) -> dict[str, str]:
    if route == "openai":
        return {"x-request-id": f"req_{secrets.token_hex(16)}", "openai-processing-ms": "412"}
    if route == "anthropic":
        return {"request-id": f"req_011C{secrets.token_hex(10)}"}
    return {}


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeLlmServer]:
    """The fake server, started once per test module."""
    with FakeLlmServer() as server:
        yield server


@pytest.fixture
def fake_llm(llm_server: FakeLlmServer) -> Iterator[FakeLlmServer]:
    """The module's fake server with an empty script and no recorded requests."""
    llm_server.reset()
    yield llm_server
    llm_server.reset()  # releases a request still hanging
