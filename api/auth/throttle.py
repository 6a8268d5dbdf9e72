"""Per-account login throttling with exponential backoff, whatever address the attempts use.

After ``login_free_failures`` failed logins of one e-mail address, the account waits
``login_backoff_s`` before the next attempt, twice that after the next failure, and so on up to
``login_backoff_max_s``; an attempt during the wait is answered 429 ``login_throttled`` (with
Retry-After) without the password being checked, and when the wait is over one attempt at a time
is let through. A success clears it. Unknown addresses are throttled the same way, so the answer
never tells whether an account exists. Keys hold a blind index of the address, not the address.
"""

from __future__ import annotations

import math

import redis.asyncio as aioredis

from api.errors import ProblemError
from core.pii_crypto import PiiCipher
from core.settings import Settings

_FAILS = "pvara:login:fails:{}"
_WAIT = "pvara:login:wait:{}"
_SLOT = "pvara:login:slot:{}"
_SLOT_S = 10  # one attempt at a time once a wait is over (argon2 takes well under this)


class LoginThrottle:
    """The throttle of one account (by e-mail address)."""

    def __init__(
        self, redis: aioredis.Redis, settings: Settings, pii: PiiCipher, email: str
    ) -> None:
        self.redis = redis
        self.settings = settings
        who = pii.blind_index("login", "email", email)
        self.fails_key = _FAILS.format(who)
        self.wait_key = _WAIT.format(who)
        self.slot_key = _SLOT.format(who)

    def backoff_s(self, failures: int) -> float:
        extra = failures - self.settings.login_free_failures
        if extra < 0:
            return 0.0
        wait = self.settings.login_backoff_s * 2 ** min(extra, 30)
        return float(min(wait, self.settings.login_backoff_max_s))

    async def admit(self) -> None:
        """Let this attempt go on, or raise 429 ``login_throttled``."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.fails_key)
            pipe.pttl(self.wait_key)
            raw_fails, wait_ms = await pipe.execute()
        failures = int(raw_fails or 0)
        if failures < self.settings.login_free_failures:
            return
        if wait_ms is not None and wait_ms > 0:
            raise _throttled(wait_ms / 1000)
        if not await self.redis.set(self.slot_key, "1", nx=True, ex=_SLOT_S):
            raise _throttled(1.0)

    async def failed(self) -> None:
        """Count a failure and start the wait it earns."""
        window = int(self.settings.login_backoff_max_s * 4)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(self.fails_key)
            pipe.expire(self.fails_key, window)
            pipe.delete(self.slot_key)
            failures, _, _ = await pipe.execute()
        wait = self.backoff_s(int(failures))
        if wait > 0:
            await self.redis.set(self.wait_key, "1", px=max(1, int(wait * 1000)))

    async def succeeded(self) -> None:
        await self.redis.delete(self.fails_key, self.wait_key, self.slot_key)


def _throttled(seconds: float) -> ProblemError:
    return ProblemError(
        429,
        "login_throttled",
        "Too many failed logins for this account; wait before trying again.",
        headers={"Retry-After": str(max(1, math.ceil(seconds)))},
    )
