"""The price table and the cost of a call, per provider, cached tokens and GPU time included."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from core.settings import Settings
from screening.prices import (
    CpuPrice,
    GpuPrice,
    PriceTable,
    TokenPrice,
    UnknownPriceError,
    load_prices,
)
from screening.providers import Usage

TABLE = PriceTable.load()
LOCAL_MODEL = "pvara-smollm2:135m-q4_1"  # what `pvara services up --with ollama` imports


def test_the_newest_table_is_dated_and_versioned() -> None:
    assert TABLE.version == "2026-12-01.1"
    assert TABLE.effective_from.isoformat() == "2026-12-01"
    assert PriceTable.load(version="2026-12-01.1").version == TABLE.version


def test_an_older_version_still_prices_what_it_priced() -> None:
    old = PriceTable.load(version="2026-06-01.1")
    usage = Usage(input_tokens=1500, output_tokens=120)

    assert old.version == "2026-06-01.1"
    for provider, model in [
        ("anthropic", "claude-sonnet-4-5"),
        ("openai", "gpt-5-mini"),
        ("ollama", "llama3.1:8b"),
    ]:
        assert old.cost_usd(provider, model, usage) == TABLE.cost_usd(provider, model, usage)
    # The CPU-served model is new in 2026-12-01.1; the old table prices it as any local model.
    assert old.price("ollama", LOCAL_MODEL) == old.price("ollama", "*")


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(LookupError):
        PriceTable.load(version="1999-01-01.1")


@pytest.mark.parametrize(
    ("provider", "model", "prices"),
    [
        ("anthropic", "claude-sonnet-4-5", ("3", "15", "0.30")),
        ("anthropic", "claude-haiku-4-5", ("1", "5", "0.10")),
        ("openai", "gpt-5-mini", ("0.25", "2", "0.025")),
        ("openai", "gpt-5", ("1.25", "10", "0.125")),
    ],
)
def test_api_models_carry_their_list_prices(
    provider: str, model: str, prices: tuple[str, str, str]
) -> None:
    price = TABLE.price(provider, model)

    assert isinstance(price, TokenPrice)
    assert (price.input, price.output, price.cached_input) == tuple(Decimal(p) for p in prices)


def test_anthropic_cost_prices_cache_reads_and_writes_separately() -> None:
    usage = Usage(input_tokens=50, output_tokens=300, cached_tokens=1800, cache_write_tokens=200)

    cost = TABLE.cost_usd("anthropic", "claude-sonnet-4-5", usage, latency_ms=900)

    # 50 x 3 + 300 x 15 + 1800 x 0.30 + 200 x 3.75, per million
    assert cost == Decimal("0.00594000")


def test_haiku_is_a_third_of_sonnet_for_the_same_uncached_call() -> None:
    usage = Usage(input_tokens=1500, output_tokens=120)

    assert TABLE.cost_usd("anthropic", "claude-haiku-4-5", usage) == Decimal("0.00210000")
    assert TABLE.cost_usd("anthropic", "claude-sonnet-4-5", usage) == Decimal("0.00630000")


def test_openai_cost_prices_cached_tokens_at_the_cached_rate() -> None:
    usage = Usage(input_tokens=86, output_tokens=300, cached_tokens=1920)

    # 86 x 0.25 + 300 x 2 + 1920 x 0.025, per million
    assert TABLE.cost_usd("openai", "gpt-5-mini", usage) == Decimal("0.00066950")
    # 86 x 1.25 + 300 x 10 + 1920 x 0.125
    assert TABLE.cost_usd("openai", "gpt-5", usage) == Decimal("0.00334750")


def test_a_dated_model_id_is_priced_as_its_base_model() -> None:
    usage = Usage(input_tokens=1000, output_tokens=100)

    assert TABLE.cost_usd("openai", "gpt-5-mini-2025-08-07", usage) == TABLE.cost_usd(
        "openai", "gpt-5-mini", usage
    )
    assert TABLE.cost_usd("anthropic", "claude-sonnet-4-5-20250929", usage) == TABLE.cost_usd(
        "anthropic", "claude-sonnet-4-5", usage
    )


def test_ollama_is_charged_its_gpu_time_not_zero() -> None:
    # 2000 input tokens at 2000/s + 120 output tokens at 120/s = 2 GPU-seconds at $1.20/h
    cost = TABLE.cost_usd("ollama", "llama3.1:8b", Usage(2000, 120), latency_ms=60_000)

    assert cost == Decimal("0.00066667")


def test_ollama_cost_ignores_latency_by_default() -> None:
    usage = Usage(1400, 110)

    assert TABLE.cost_usd("ollama", "llama3.1:8b", usage, latency_ms=100) == TABLE.cost_usd(
        "ollama", "llama3.1:8b", usage, latency_ms=100_000
    )


def test_ollama_can_be_priced_by_latency_shared_among_parallel_slots() -> None:
    table = PriceTable.load(overrides={"ollama": {"llama3.1:8b": {"basis": "latency"}}})

    # 12 s of wall clock over 4 slots = 3 GPU-seconds at $1.20/h
    cost = table.cost_usd("ollama", "llama3.1:8b", Usage(1400, 110), latency_ms=12_000)

    assert cost == Decimal("0.00100000")


def test_a_cpu_served_model_is_charged_its_vcpu_hours_not_zero() -> None:
    price = TABLE.price("ollama", LOCAL_MODEL)
    assert isinstance(price, CpuPrice)
    usage = Usage(input_tokens=2000, output_tokens=150)

    cost = TABLE.cost_usd("ollama", LOCAL_MODEL, usage, latency_ms=60_000)

    seconds = Decimal(2000) / price.prefill_tokens_per_s + Decimal(150) / price.decode_tokens_per_s
    expected = seconds * price.vcpus * price.cpu_hour_usd / 3600
    assert cost == expected.quantize(Decimal("0.00000001"))
    assert cost > 0


def test_self_hosted_time_is_gpu_or_vcpu_hours_and_prices_the_call() -> None:
    usage = Usage(input_tokens=2000, output_tokens=120)

    gpu = TABLE.self_hosted_time("ollama", "llama3.1:8b", usage)
    cpu = TABLE.self_hosted_time("ollama", LOCAL_MODEL, usage)

    assert gpu is not None and cpu is not None
    # 2000 / 2000 + 120 / 120 = 2 GPU-seconds on one GPU
    assert (gpu.device, gpu.seconds, gpu.units) == ("gpu", Decimal(2), 1)
    assert gpu.unit_hours * 3600 == 2
    assert (cpu.device, cpu.units) == ("cpu", 1)  # one thread
    assert cpu.unit_hours == cpu.seconds / 3600  # vCPU-hours
    for used, model in ((gpu, "llama3.1:8b"), (cpu, LOCAL_MODEL)):
        assert used.cost_usd.quantize(Decimal("0.00000001")) == TABLE.cost_usd(
            "ollama", model, usage
        )
    assert TABLE.self_hosted_time("openai", "gpt-5-mini", usage) is None


def test_a_cpu_served_model_can_be_priced_by_latency() -> None:
    table = PriceTable.load(overrides={"ollama": {LOCAL_MODEL: {"basis": "latency"}}})

    # 72 s of wall clock on its one vCPU at $0.05 per vCPU-hour = $0.001
    cost = table.cost_usd("ollama", LOCAL_MODEL, Usage(0, 0), latency_ms=72_000)

    assert cost == Decimal("0.00100000")


def test_an_unlisted_local_model_gets_the_conservative_default() -> None:
    price = TABLE.price("ollama", "mistral-nemo:12b")

    assert isinstance(price, GpuPrice)
    assert price == TABLE.price("ollama", "*")
    assert TABLE.cost_usd("ollama", "mistral-nemo:12b", Usage(1000, 100)) > TABLE.cost_usd(
        "ollama", "llama3.1:8b", Usage(1000, 100)
    )


def test_an_unlisted_api_model_has_no_price() -> None:
    with pytest.raises(UnknownPriceError):
        TABLE.cost_usd("openai", "gpt-9-ultra", Usage(1, 1))
    with pytest.raises(UnknownPriceError):
        TABLE.price("mystery", "model")


def test_estimate_assumes_chars_over_3_5_uncached_input_and_full_output() -> None:
    # 35000 chars -> 10000 tokens + 150 overhead; 500 output tokens
    estimate = TABLE.estimate_usd("openai", "gpt-5-mini", prompt_chars=35_000, max_tokens=500)

    assert estimate == Decimal("0.00353750")  # 10150 x 0.25 + 500 x 2, per million


def test_estimate_is_an_upper_bound_of_a_typical_call() -> None:
    # A 14000-character prompt is ~3500 real tokens; the first call caches most of it.
    actual = TABLE.cost_usd("anthropic", "claude-sonnet-4-5", Usage(400, 300, cached_tokens=3100))
    estimate = TABLE.estimate_usd("anthropic", "claude-sonnet-4-5", 14_000, max_tokens=500)

    assert estimate > actual


def test_estimate_for_a_repair_covers_two_attempts() -> None:
    one = TABLE.estimate_usd("anthropic", "claude-haiku-4-5", 10_000, 500)
    two = TABLE.estimate_usd("anthropic", "claude-haiku-4-5", 10_000, 500, attempts=2)

    assert two > 2 * one  # the repair resends the first answer too


def test_estimate_rounds_up() -> None:
    estimate = TABLE.estimate_usd("ollama", "llama3.1:8b", prompt_chars=7, max_tokens=1)

    assert estimate > 0
    assert estimate == estimate.quantize(Decimal("0.00000001"))


def test_overrides_from_a_json_string_change_prices_and_the_version() -> None:
    table = PriceTable.load(overrides='{"openai": {"gpt-5-mini": {"input": "0.20"}}}')
    price = table.price("openai", "gpt-5-mini")

    assert isinstance(price, TokenPrice)
    assert price.input == Decimal("0.20")
    assert price.output == Decimal("2")  # untouched fields stay
    assert table.version.startswith("2026-12-01.1+")
    assert table.version != TABLE.version


def test_overrides_can_add_a_model_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    new = {"input": "2", "output": "8", "cached_input": "0.5", "cache_write": "2"}
    path.write_text(json.dumps({"openai": {"gpt-4.1": new}}))

    table = PriceTable.load(overrides=str(path))

    assert table.cost_usd("openai", "gpt-4.1", Usage(1_000_000, 0)) == Decimal("2")


def test_an_incomplete_new_model_in_the_overrides_is_refused() -> None:
    with pytest.raises(ValueError):
        PriceTable.load(overrides={"openai": {"gpt-4.1": {"input": "2"}}})


def test_overrides_come_from_pvara_price_table_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "PVARA_PRICE_TABLE_OVERRIDES", '{"anthropic": {"claude-haiku-4-5": {"output": "4"}}}'
    )

    table = load_prices(Settings())

    assert table.cost_usd("anthropic", "claude-haiku-4-5", Usage(0, 1_000_000)) == Decimal("4")


def test_no_overrides_keep_the_plain_version() -> None:
    assert load_prices(Settings(price_table_overrides=None)).version == TABLE.version
