"""The dated, versioned price table (``screening/data/prices.json``) and cost arithmetic.

API models are priced per million tokens; self-hosted (Ollama) models by the device time they
occupy - GPU-hours on a GPU node, vCPU-hours for a model served on CPUs - so local inference
never reads as free. :meth:`PriceTable.self_hosted_time` says how much device time a call
took (the finance report's self-hosted hours). All arithmetic is :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from core.settings import Settings, get_settings

MILLION = Decimal(1_000_000)
CHARS_PER_TOKEN = Decimal("3.5")
"""Résumé-style text averages ~4 characters per token; 3.5 over-counts on purpose."""
_USD_PLACES = Decimal("0.00000001")  # ai_screening_log.cost_usd is numeric(14,8)
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")


class TokenCounts(Protocol):
    """Normalised usage (see ``screening.providers.base.Usage``)."""

    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cached_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...


class UnknownPriceError(KeyError):
    """The table has no price for this provider and model."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenPrice(_Entry):
    """USD per million tokens."""

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cached_input: Decimal = Field(ge=0)
    cache_write: Decimal = Field(ge=0)


class _SelfHostedPrice(_Entry):
    """Device time a request occupies: from tokens and the assumed throughput, or latency."""

    prefill_tokens_per_s: Decimal = Field(gt=0)
    decode_tokens_per_s: Decimal = Field(gt=0)
    parallel_slots: int = Field(default=1, ge=1)
    basis: Literal["tokens", "latency"] = "tokens"

    @property
    def device(self) -> Literal["gpu", "cpu"]:
        raise NotImplementedError

    @property
    def units(self) -> int:
        """Billed units the server occupies while it works (GPUs or vCPUs)."""
        raise NotImplementedError

    @property
    def unit_hour_usd(self) -> Decimal:
        raise NotImplementedError


class GpuPrice(_SelfHostedPrice):
    """A self-hosted model on one GPU: the GPU-hour rate and assumed throughput."""

    gpu_hour_usd: Decimal = Field(ge=0)

    @property
    def device(self) -> Literal["gpu", "cpu"]:
        return "gpu"

    @property
    def units(self) -> int:
        return 1

    @property
    def unit_hour_usd(self) -> Decimal:
        return self.gpu_hour_usd


class CpuPrice(_SelfHostedPrice):
    """A self-hosted model served on CPUs: a vCPU-hour rate times the vCPUs it keeps busy."""

    cpu_hour_usd: Decimal = Field(ge=0)
    vcpus: int = Field(ge=1)

    @property
    def device(self) -> Literal["gpu", "cpu"]:
        return "cpu"

    @property
    def units(self) -> int:
        return self.vcpus

    @property
    def unit_hour_usd(self) -> Decimal:
        return self.cpu_hour_usd


@dataclass(frozen=True, slots=True)
class SelfHostedTime:
    """The device time one self-hosted call occupied, and its rate.

    ``seconds`` of the serving device (one GPU, or ``units`` vCPUs together); the cost is
    ``unit_hours × unit_hour_usd``.
    """

    device: Literal["gpu", "cpu"]
    seconds: Decimal
    units: int
    unit_hour_usd: Decimal

    @property
    def unit_hours(self) -> Decimal:
        """GPU-hours, or vCPU-hours."""
        return self.seconds * self.units / 3600

    @property
    def cost_usd(self) -> Decimal:
        return self.unit_hours * self.unit_hour_usd


class _Provider(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    request_overhead_tokens: int = Field(default=0, ge=0)
    models: dict[str, TokenPrice | GpuPrice | CpuPrice]


class _Table(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str
    effective_from: date
    providers: dict[str, _Provider]


class PriceTable:
    """One version of the price table, possibly with local overrides applied."""

    def __init__(self, table: _Table, version: str) -> None:
        self._table = table
        self.version = version
        """The table's version, ``+<hash>`` when overrides changed it; record it with costs."""
        self.effective_from = table.effective_from

    @classmethod
    def load(
        cls,
        version: str | None = None,
        overrides: str | Path | Mapping[str, Any] | None = None,
        *,
        path: Path | None = None,
    ) -> PriceTable:
        """Load ``version`` (default: the newest) and apply ``overrides``.

        ``overrides`` is a mapping, a JSON document or a JSON file path (the value of
        ``PVARA_PRICE_TABLE_OVERRIDES``) shaped ``{provider: {model: {field: value}}}``;
        fields of an existing model may be given alone, a new model needs all of them.

        Raises:
            LookupError: no table has that version.
            ValueError: the table or the overrides are malformed.
        """
        document = _read_json(path) if path else _bundled()
        tables = document["tables"]
        if version is None:
            raw = max(tables, key=lambda t: (str(t["effective_from"]), str(t["version"])))
        else:
            matches = [t for t in tables if t["version"] == version]
            if not matches:
                raise LookupError(f"no price table version {version!r}")
            raw = matches[0]
        if overrides is None or overrides == "":
            table = _Table.model_validate(raw)
            return cls(table, table.version)
        patch = _overrides(overrides)
        table = _Table.model_validate(_apply(raw, patch))
        digest = hashlib.sha256(
            json.dumps(patch, sort_keys=True, default=str).encode()
        ).hexdigest()[:8]
        return cls(table, f"{table.version}+{digest}")

    def price(self, provider: str, model: str) -> TokenPrice | GpuPrice | CpuPrice:
        """The price entry of ``model`` (exact id, then without a date suffix, then ``*``).

        Raises:
            UnknownPriceError: neither the model nor a ``*`` default is listed.
        """
        entry = self._table.providers.get(provider)
        if entry is not None:
            for key in (model, _DATE_SUFFIX.sub("", model), "*"):
                if key in entry.models:
                    return entry.models[key]
        raise UnknownPriceError(f"no price for {provider}/{model} in table {self.version}")

    def cost_usd(
        self, provider: str, model: str, usage: TokenCounts, latency_ms: float = 0
    ) -> Decimal:
        """What a finished call cost, in USD (rounded half-even to 1e-8, the ledger's scale).

        A self-hosted model is charged its device time (:meth:`self_hosted_time`) at the
        table's GPU-hour or vCPU-hour rate.
        """
        price = self.price(provider, model)
        if isinstance(price, _SelfHostedPrice):
            cost = _device_time(price, usage, latency_ms).cost_usd
        else:
            cost = (
                usage.input_tokens * price.input
                + usage.cached_tokens * price.cached_input
                + usage.cache_write_tokens * price.cache_write
                + usage.output_tokens * price.output
            ) / MILLION
        return cost.quantize(_USD_PLACES, rounding=ROUND_HALF_EVEN)

    def self_hosted_time(
        self, provider: str, model: str, usage: TokenCounts, latency_ms: float = 0
    ) -> SelfHostedTime | None:
        """The device time a call of a self-hosted model occupied; ``None`` for an API model.

        ``basis=tokens``: input tokens / ``prefill_tokens_per_s`` + output tokens /
        ``decode_tokens_per_s``; ``basis=latency``: ``latency_ms`` shared among
        ``parallel_slots``.

        Raises:
            UnknownPriceError: the model has no price.
        """
        price = self.price(provider, model)
        if not isinstance(price, _SelfHostedPrice):
            return None
        return _device_time(price, usage, latency_ms)

    def estimate_usd(
        self, provider: str, model: str, prompt_chars: int, max_tokens: int, *, attempts: int = 1
    ) -> Decimal:
        """An upper bound for a budget reservation, rounded up to 1e-8.

        Input is ``prompt_chars / 3.5`` tokens plus the provider's request overhead, all
        uncached; output is the full ``max_tokens``. ``attempts=2`` covers a repaired answer
        (the repair resends the conversation plus the first answer).
        """
        price = self.price(provider, model)
        overhead = self._table.providers[provider].request_overhead_tokens
        prompt_tokens = math.ceil(Decimal(prompt_chars) / CHARS_PER_TOKEN) + overhead
        input_tokens = sum(prompt_tokens + n * max_tokens for n in range(attempts))
        output_tokens = attempts * max_tokens
        if isinstance(price, _SelfHostedPrice):
            # Latency-priced models are estimated from tokens too: latency is not known yet.
            seconds = _token_seconds(price, input_tokens, output_tokens)
            cost = seconds * price.units * price.unit_hour_usd / 3600
        else:
            cost = (input_tokens * price.input + output_tokens * price.output) / MILLION
        return cost.quantize(_USD_PLACES, rounding=ROUND_CEILING)


def load_prices(settings: Settings | None = None) -> PriceTable:
    """The newest table with the overrides of ``PVARA_PRICE_TABLE_OVERRIDES`` (if set)."""
    settings = settings or get_settings()
    return PriceTable.load(overrides=settings.price_table_overrides)


def _token_seconds(price: _SelfHostedPrice, input_tokens: int, output_tokens: int) -> Decimal:
    return input_tokens / price.prefill_tokens_per_s + output_tokens / price.decode_tokens_per_s


def _device_time(price: _SelfHostedPrice, usage: TokenCounts, latency_ms: float) -> SelfHostedTime:
    if price.basis == "latency":
        seconds = Decimal(str(latency_ms)) / 1000 / price.parallel_slots
    else:
        seconds = _token_seconds(
            price,
            usage.input_tokens + usage.cached_tokens + usage.cache_write_tokens,
            usage.output_tokens,
        )
    return SelfHostedTime(price.device, seconds, price.units, price.unit_hour_usd)


def _bundled() -> dict[str, Any]:
    text = resources.files("screening").joinpath("data/prices.json").read_text("utf-8")
    return _parse(text)


def _read_json(path: Path) -> dict[str, Any]:
    return _parse(path.read_text("utf-8"))


def _parse(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"price table is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError("price table JSON must be an object")
    return value


def _overrides(overrides: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(overrides, Mapping):
        return {str(k): v for k, v in overrides.items()}
    text = str(overrides).strip()
    if isinstance(overrides, Path) or not text.startswith("{"):
        return _read_json(Path(text))
    return _parse(text)


def _apply(raw: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the raw table with ``{provider: {model: {field: value}}}`` merged in."""
    table: dict[str, Any] = json.loads(json.dumps(raw, default=str))
    for provider, models in patch.items():
        if not isinstance(models, Mapping):
            raise ValueError(f"overrides for {provider!r} must map model ids to prices")
        target = table["providers"].setdefault(provider, {"models": {}})["models"]
        for model, fields in models.items():
            if not isinstance(fields, Mapping):
                raise ValueError(f"override for {provider}/{model} must be an object")
            target[model] = {**target.get(model, {}), **fields}
    return table
