"""Limits on JSON bodies, checked on the raw bytes before any parser sees them.

Python's and msgspec's decoders recurse per nesting level and turn huge integers into Python
ints: a body nested a thousand deep, or a number of thousands of digits, ended in a
RecursionError or a ValueError deep inside a parser (a 500). :class:`JsonLimitsMiddleware`
answers such bodies with 400 ``json_too_deep`` or ``number_too_large`` instead; the scans are
regular-expression passes over the bytes, so they cost microseconds on ordinary bodies.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from itertools import accumulate

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send

from api.errors import ProblemError

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_SIGNS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
# A number with a positive exponent; from about 1e308 on a float is infinity. (Tiny ones just
# round to zero, harmlessly.)
_EXPONENT = re.compile(rb"-?[0-9.]+[eE]\+?([0-9]+)")
_LARGE_EXPONENT = 300

_SKIPPED = ("multipart/", "application/x-www-form-urlencoded")
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


@lru_cache(maxsize=8)
def _long_number(max_chars: int) -> re.Pattern[bytes]:
    return re.compile(rb"[0-9.eE+-]{%d,}" % (max_chars + 1))


def check_json(body: bytes, *, max_depth: int, max_number_chars: int) -> None:
    """Raise 400 ``json_too_deep`` or ``number_too_large`` if ``body`` breaks a limit.

    Malformed JSON passes: the parser behind reports it with its own error.
    """
    outside = _STRING.sub(b'""', body)  # what is left is structure, numbers and literals
    if _long_number(max_number_chars).search(outside):
        raise ProblemError(
            400,
            "number_too_large",
            f"A number in the body is longer than {max_number_chars} characters.",
        )
    for match in _EXPONENT.finditer(outside):
        if int(match[1][:6]) >= _LARGE_EXPONENT and math.isinf(float(match[0])):
            raise ProblemError(400, "number_too_large", "A number is beyond a float's range.")
    brackets = outside.translate(None, _NOT_BRACKET)
    if brackets.count(b"[") + brackets.count(b"{") <= max_depth:
        return
    # Openers as +1 and closers as -1 (signed bytes): the deepest running sum is the depth.
    if max(accumulate(memoryview(brackets.translate(_SIGNS)).cast("b"))) > max_depth:
        raise ProblemError(
            400, "json_too_deep", f"The body is nested deeper than {max_depth} levels."
        )


class JsonLimitsMiddleware(ASGIMiddleware):
    """Reads a request's body (within ``max_body`` bytes), checks it with :func:`check_json`
    and hands the same bytes on. Multipart and form bodies are left to their parsers."""

    scopes = ("http",)  # type: ignore[assignment]

    def __init__(self, *, max_depth: int, max_number_chars: int, max_body: int) -> None:
        self.max_depth = max_depth
        self.max_number_chars = max_number_chars
        self.max_body = max_body

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        content_type = ""
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                content_type = value.decode("latin-1").lower()
        if scope.get("method", "GET") in _BODILESS or content_type.startswith(_SKIPPED):
            await next_app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await next_app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise ProblemError(413, "payload_too_large", "The body exceeds the limit.")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            check_json(body, max_depth=self.max_depth, max_number_chars=self.max_number_chars)
        request: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
        await next_app(scope, _replay([request], None, receive), send)


def _replay(
    messages: list[ReceiveMessage], last: ReceiveMessage | None, receive: Receive
) -> Receive:
    pending = [*messages, *([last] if last is not None else [])]

    async def replayed() -> ReceiveMessage:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed  # type: ignore[return-value]
