"""Per-organization LLM budgets in Redis that concurrent workers cannot overspend.

A call first *reserves* its estimated cost in every bucket it draws on (the organization's
total and its share for the provider, per UTC day and month); one Lua script checks
``limit - spent - reserved >= estimate`` in all of them and reserves in all or none. After the
call the reservation is *settled* (replaced by the real cost) or *released* (a failure that
cost nothing). Each reservation also sits in a sorted set scored by its expiry, so the
reservation of a worker that died is dropped by the next script that touches the bucket.

A bucket whose hash Redis does not have (a new period, or Redis lost, flushed or replaced) is
*seeded* from the ledger before the first reservation in it: what ``ai_screening_log`` holds
for the organization (and provider) in that UTC day or month is added to its ``spent``, so a
lost Redis does not restart a budget at zero. The script seeds a bucket only while it is still
unseeded, so workers racing to seed it count the ledger once. Calls in flight when Redis was
lost are the unavoidable gap: one that settles after the loss counts (settling adds its cost to
``spent``), twice if its ledger row is also written before the seeding (errs toward refusing),
but one that settled before the loss (or in the second AOF ``everysec`` can lose) and reaches
the ledger only after the seeding is not counted.

Amounts are integers of 1e-8 USD (the ledger's scale), exact in Lua's doubles up to $90M.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import redis

from core.db import Pool, lazy_pool
from screening.ledger import spent_usd

Period = Literal["day", "month"]
PERIODS: tuple[Period, ...] = ("day", "month")
ALL_PROVIDERS = "*"
_UNIT = Decimal("0.00000001")
_KEY_TTL_S = {"day": 3 * 86_400, "month": 40 * 86_400}

# KEYS: per bucket a hash (spent, reserved, r:<id> -> amount) and a zset (id -> expiry ms).
# A hash is seeded once it has a ``reserved`` field: only the reserve script creates that field
# (settling into a lost hash creates ``spent`` alone), so hashes older than seeding count too.
# ARGV: now_ms, expires_ms, id, amount, then one limit per bucket (-1 = unlimited), then one
# key TTL per bucket, then one seed per bucket (the ledger's spent; -1 = not looked up).
# Returns 0 when reserved, the 1-based index of the first full bucket, or the list of the
# unseeded buckets whose seed was not given (then nothing was written).
_PURGE = """
local function purge(h, z, now)
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, id in ipairs(gone) do
    local amount = redis.call('HGET', h, 'r:' .. id)
    if amount then  -- else the hash was lost: do not recreate it looking seeded
      redis.call('HDEL', h, 'r:' .. id)
      redis.call('HINCRBY', h, 'reserved', -tonumber(amount))
    end
    redis.call('ZREM', z, id)
  end
end
"""
_RESERVE = (
    _PURGE
    + """
local now, expires, id, amount = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local n = #KEYS / 2
local unknown = {}
for i = 1, n do
  local seed = tonumber(ARGV[4 + 2 * n + i])
  if seed < 0 and redis.call('HEXISTS', KEYS[2 * i - 1], 'reserved') == 0 then
    table.insert(unknown, i)
  end
end
if #unknown > 0 then return unknown end
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('HEXISTS', h, 'reserved') == 0 then
    -- Add, not set: calls settled since the hash was lost are in ``spent`` already.
    redis.call('HINCRBY', h, 'spent', tonumber(ARGV[4 + 2 * n + i]))
    redis.call('HSET', h, 'reserved', 0)
    redis.call('EXPIRE', h, tonumber(ARGV[4 + n + i]))
  end
  purge(h, z, now)
  local limit = tonumber(ARGV[4 + i])
  if limit >= 0 then
    local spent = tonumber(redis.call('HGET', h, 'spent') or '0')
    local reserved = tonumber(redis.call('HGET', h, 'reserved') or '0')
    if limit - spent - reserved < amount then return i end
  end
end
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('HINCRBY', h, 'reserved', amount)
  redis.call('HSET', h, 'r:' .. id, amount)
  redis.call('ZADD', z, expires, id)
  local ttl = tonumber(ARGV[4 + n + i])
  redis.call('EXPIRE', h, ttl)
  redis.call('EXPIRE', z, ttl)
end
return 0
"""
)
# ARGV: now_ms, id, actual amount, then one key TTL per bucket. Removes the reservation (if it
# has not expired) and adds the actual amount to ``spent`` (even after expiry: the money was
# spent). A hash lost since the reservation is created again here, so it gets the key TTL the
# reserve script gives it (an existing hash keeps its own).
_SETTLE = (
    _PURGE
    + """
local now, id, actual = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local amount = redis.call('HGET', h, 'r:' .. id)
  if amount then
    redis.call('HDEL', h, 'r:' .. id)
    redis.call('HINCRBY', h, 'reserved', -tonumber(amount))
    redis.call('ZREM', z, id)
  end
  if actual > 0 then
    redis.call('HINCRBY', h, 'spent', actual)
    if redis.call('TTL', h) == -1 then redis.call('EXPIRE', h, tonumber(ARGV[3 + i])) end
  end
  purge(h, z, now)
end
return 0
"""
)


class BudgetExhausted(Exception):  # noqa: N818 - a state, like the provider errors
    """The estimate does not fit in ``bucket`` (e.g. ``org:openai:day``)."""

    def __init__(self, bucket: str, limit_usd: Decimal) -> None:
        super().__init__(f"budget exhausted: {bucket} limit ${limit_usd}")
        self.bucket = bucket
        self.limit_usd = limit_usd


@dataclass(frozen=True)
class Bucket:
    """One limit: an organization's spending on ``provider`` (or ``*``) in one period."""

    organization_id: uuid.UUID
    provider: str
    period: Period
    limit_usd: Decimal | None

    def label(self) -> str:
        return f"organization {self.provider} {self.period}"


@dataclass(frozen=True)
class Reservation:
    """A reserved estimate; pass it to :meth:`Budget.settle` or :meth:`Budget.release`."""

    id: str
    keys: tuple[str, ...]
    amount_usd: Decimal
    key_ttls_s: tuple[int, ...]
    """Per bucket (each a hash and a zset of ``keys``), the TTL its keys are given."""


@dataclass(frozen=True)
class BucketState:
    spent_usd: Decimal
    reserved_usd: Decimal


LimitSource = Callable[[uuid.UUID], Mapping[tuple[str, Period], Decimal]]
"""Per-organization limits by (provider or ``*``, period); missing = unlimited."""


class Budget:
    """Reserve, settle and release LLM spending against per-organization limits.

    Args:
        client: Redis.
        limits: the organization's limits (see :class:`BudgetLimits`).
        reservation_ttl_s: a reservation not settled by then is dropped.
        namespace: key prefix (tests use their own).
        clock: seconds since the epoch (tests move it instead of sleeping).
        pool: PostgreSQL (or a function making it on first use) to seed lost buckets from the
            ledger; ``None``: a lost bucket starts again at zero.
    """

    def __init__(
        self,
        client: redis.Redis,
        limits: LimitSource,
        *,
        reservation_ttl_s: float,
        namespace: str = "pvara:llm",
        clock: Callable[[], float] = time.time,
        pool: Pool | Callable[[], Pool] | None = None,
    ) -> None:
        self._redis = client
        self._limits = limits
        self._ttl_ms = int(reservation_ttl_s * 1000)
        self._namespace = namespace
        self._clock = clock
        self._pool = lazy_pool(pool) if pool is not None else None
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)

    def buckets(self, organization_id: uuid.UUID, provider: str) -> list[Bucket]:
        """The buckets a call to ``provider`` draws on, with their limits."""
        limits = self._limits(organization_id)
        return [
            Bucket(organization_id, scope, period, limits.get((scope, period)))
            for period in PERIODS
            for scope in (ALL_PROVIDERS, provider)
        ]

    def reserve(
        self, organization_id: uuid.UUID, provider: str, estimate_usd: Decimal
    ) -> Reservation:
        """Reserve ``estimate_usd`` in every bucket of ``provider``, or in none.

        One Redis round trip; a bucket not yet seeded costs one more and a ledger query.

        Raises:
            BudgetExhausted: some bucket has less than the estimate left.
            psycopg.Error: an unseeded bucket's ledger could not be read (nothing reserved).
        """
        buckets = self.buckets(organization_id, provider)
        clock = self._clock()
        at = datetime.fromtimestamp(clock, UTC)
        keys = self._keys(buckets, at)
        reservation_id = uuid.uuid4().hex
        now = int(clock * 1000)
        argv: list[Any] = [now, now + self._ttl_ms, reservation_id, _units(estimate_usd)]
        argv += [_units(b.limit_usd) if b.limit_usd is not None else -1 for b in buckets]
        key_ttls = tuple(_KEY_TTL_S[b.period] for b in buckets)
        argv += key_ttls
        seeds = [-1 if self._pool is not None else 0] * len(buckets)
        while isinstance(result := self._reserve(keys=list(keys), args=argv + seeds), list):
            # Each round looks up at least one more seed, so this ends.
            unseeded = [int(i) - 1 for i in result]
            spent = self._ledger_spent([buckets[i] for i in unseeded], at)
            for i, units in zip(unseeded, spent, strict=True):
                seeds[i] = units
        full = int(result)
        if full:
            bucket = buckets[full - 1]
            assert bucket.limit_usd is not None
            raise BudgetExhausted(bucket.label(), bucket.limit_usd)
        return Reservation(reservation_id, keys, estimate_usd, key_ttls)

    def settle(self, reservation: Reservation, actual_usd: Decimal) -> None:
        """Replace the reservation by what the call really cost."""
        now = int(self._clock() * 1000)
        args: list[Any] = [now, reservation.id, _units(actual_usd), *reservation.key_ttls_s]
        self._settle(keys=list(reservation.keys), args=args)

    def release(self, reservation: Reservation) -> None:
        """Drop the reservation of a call that cost nothing."""
        self.settle(reservation, Decimal(0))

    def state(self, bucket: Bucket) -> BucketState:
        """Spent and reserved amounts of one bucket now (expired reservations excluded)."""
        hash_key, zset_key = self._keys([bucket], datetime.fromtimestamp(self._clock(), UTC))
        now = int(self._clock() * 1000)
        # Purges only (nothing is settled, so no key is created).
        self._settle(keys=[hash_key, zset_key], args=[now, "-", 0, _KEY_TTL_S[bucket.period]])
        spent, reserved = self._redis.hmget(hash_key, ["spent", "reserved"])
        return BucketState(_usd(spent), _usd(reserved))

    def _ledger_spent(self, buckets: Sequence[Bucket], at: datetime) -> list[int]:
        """What the ledger holds for each bucket in its period around ``at``, in units."""
        assert self._pool is not None  # only unseeded buckets get here, and only with a pool
        with self._pool().connection() as conn:
            return [
                _units(
                    spent_usd(
                        conn,
                        b.organization_id,
                        None if b.provider == ALL_PROVIDERS else b.provider,
                        *_period(b.period, at),
                    )
                )
                for b in buckets
            ]

    def _keys(self, buckets: list[Bucket], at: datetime) -> tuple[str, ...]:
        keys: list[str] = []
        for b in buckets:
            stamp = at.strftime("%Y-%m-%d" if b.period == "day" else "%Y-%m")
            # The hash tag keeps an organization's buckets in one Redis Cluster slot.
            base = f"{self._namespace}:budget:{{{b.organization_id}}}:{b.provider}:{stamp}"
            keys += [base, f"{base}:expiry"]
        return tuple(keys)


def _period(period: Period, at: datetime) -> tuple[datetime, datetime]:
    """The UTC day or month holding ``at`` (the bucket its key names), as ``[start, end)``."""
    if period == "day":
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)


def _units(usd: Decimal) -> int:
    return int((usd / _UNIT).to_integral_value())


def _usd(raw: Any) -> Decimal:
    return Decimal(int(raw or 0)) * _UNIT
