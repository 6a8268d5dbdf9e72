"""A circuit breaker per LLM provider, shared by every worker through Redis.

Closed: calls pass; consecutive failures are counted. After ``failures`` of them (or a 429
with ``Retry-After``) the circuit *opens* until the cool-down (or the provider's
``Retry-After``, whichever is later) has passed. Then it is *half-open*: one caller at a time
gets a trial call (a lease as long as the cool-down); a success closes the circuit, a failure
opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import redis

State = Literal["closed", "open", "half-open"]

# KEYS: state hash (failures, open_until ms, probe_until ms). ARGV: now_ms, lease_ms.
# Returns 1 if the caller may call now.
_ALLOW = """
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until == 0 then return 1 end
if now < open_until then return 0 end
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if now < probe_until then return 0 end
redis.call('HSET', KEYS[1], 'probe_until', now + lease)
return 1
"""
# ARGV: now_ms, threshold, cooldown_ms, retry_after_ms (-1 = none), key ttl s.
_FAILURE = """
local now, threshold, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local retry_after = tonumber(ARGV[4])
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local until_ = 0
if failures >= threshold then until_ = now + cooldown end
if retry_after >= 0 and now + retry_after > until_ then until_ = now + retry_after end
if until_ > open_until then redis.call('HSET', KEYS[1], 'open_until', until_) end
redis.call('HDEL', KEYS[1], 'probe_until')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return failures
"""


class CircuitBreaker:
    """Shared per-provider circuits.

    Args:
        client: Redis.
        failures: consecutive failures that open a circuit.
        cooldown_s: how long it stays open before a trial call.
        namespace: key prefix (tests use their own).
        clock: seconds since the epoch (tests move it instead of sleeping).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        failures: int,
        cooldown_s: float,
        namespace: str = "pvara:llm",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._failures = failures
        self._cooldown_ms = int(cooldown_s * 1000)
        self._namespace = namespace
        self._clock = clock
        self._allow = client.register_script(_ALLOW)
        self._failure = client.register_script(_FAILURE)

    def allow(self, provider: str) -> bool:
        """Whether a call to ``provider`` may go out now (claims the half-open trial)."""
        return bool(self._allow(keys=[self._key(provider)], args=[self._now(), self._cooldown_ms]))

    def success(self, provider: str) -> None:
        """Close the circuit and forget the failures."""
        self._redis.delete(self._key(provider))

    def failure(self, provider: str, *, retry_after_s: float | None = None) -> None:
        """Count a failure; ``retry_after_s`` (a 429's ``Retry-After``) opens it at once."""
        retry_after = int(retry_after_s * 1000) if retry_after_s is not None else -1
        ttl_s = max(3600, (max(retry_after, self._cooldown_ms) // 1000) * 2)
        self._failure(
            keys=[self._key(provider)],
            args=[self._now(), self._failures, self._cooldown_ms, retry_after, ttl_s],
        )

    def state(self, provider: str) -> State:
        """The circuit's state now (without claiming a trial call)."""
        raw = self._redis.hget(self._key(provider), "open_until")
        open_until = int(raw or 0)
        if open_until == 0:
            return "closed"
        return "open" if self._now() < open_until else "half-open"

    def _key(self, provider: str) -> str:
        return f"{self._namespace}:breaker:{provider}"

    def _now(self) -> int:
        return int(self._clock() * 1000)
