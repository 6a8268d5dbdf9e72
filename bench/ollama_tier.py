"""The Ollama tier on this machine: latency, token counts, throughput, validity and cost.

    .venv/bin/python bench/ollama_tier.py [--resumes 4] [--max-tokens 500] [--json PATH]

Brings up the local Ollama server (``pvara services up --with ollama``; built the first time)
and screens the same sample résumés, with the seed's criteria, in the same run:

* **local** - the local screener (the baseline every paid step is compared with);
* **bounded** - the bundled model through the official SDK with the schema PVARA sends
  (``bounded_answer_schema``: integer score with bounds, bounded strings and lists, reasoning
  last);
* **strict** - the same model with the OpenAI-style schema (``answer_json_schema``: a
  ``number`` score, unbounded strings), the variant the field notes saw fail;
* **bounded-2t** - as *bounded*, on two threads instead of the Modelfile's one
  (``PVARA_OLLAMA_THREADS``), to show what the thread count does on shared cores.

Per call: wall-clock latency, the server's prompt and completion token counts and durations
(so prefill and decode tokens per second, the figures the price table's CPU entry uses),
whether the answer validates (and why not), and its cost at the table's CPU-hour rate. One
warm-up call first loads the model (its load time is reported, not counted).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ollama

from core.settings import Settings
from ops.samples import generate_samples
from ops.services.ollama import LOCAL_MODEL, OllamaService
from ops.services.ollama_build import cpu_level
from screening.criteria import EXAMPLE_CRITERIA, Criteria
from screening.local import LocalScreener
from screening.prices import load_prices
from screening.prompt import build_prompt
from screening.providers import InvalidAnswer, Usage
from screening.providers.base import answer_json_schema, bounded_answer_schema, validate_answer

JOB_TITLE = "Backend Engineer (Python)"
JOB_DESCRIPTION = "Build and run Python services on PostgreSQL; containers and Kubernetes a plus."
# variant: (schema, num_thread override or None for the Modelfile's)
VARIANTS = {
    "bounded": (bounded_answer_schema, None),
    "strict": (answer_json_schema, None),
    "bounded-2t": (bounded_answer_schema, 2),
}


@dataclass
class Call:
    variant: str
    resume: int
    latency_s: float
    prompt_tokens: int
    completion_tokens: int
    prefill_tok_s: float
    decode_tok_s: float
    done_reason: str | None
    valid: bool
    problem: str
    cost_usd: str


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resumes", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=500)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--json", type=Path, help="write every call here")
    args = parser.parse_args()

    settings = Settings(ollama="local", ollama_host=None)
    service = OllamaService(settings)
    started = time.monotonic()
    status = service.up()
    print(
        f"server {status.address} version={status.detail.get('version')} build={cpu_level()[0]}"
        f" (up in {time.monotonic() - started:.0f} s), model {LOCAL_MODEL}"
    )
    client = ollama.Client(host=status.address, timeout=args.timeout_s)
    prices = load_prices(settings)
    rules = Criteria.model_validate(EXAMPLE_CRITERIA)
    texts = [s.text for s in generate_samples(args.resumes)]

    local_s = []
    screener = LocalScreener()
    for text in texts:
        t0 = time.perf_counter()
        screener.screen(text, rules, JOB_DESCRIPTION)
        local_s.append(time.perf_counter() - t0)

    warm = _chat(client, texts[0], rules, bounded_answer_schema(), args.max_tokens, None)
    print(f"warm-up: {warm['latency_s']:.1f} s (model load {warm['load_s']:.1f} s)\n")

    calls: list[Call] = []
    for index, text in enumerate(texts):
        for variant, (schema, threads) in VARIANTS.items():  # alternate: drift hits all alike
            raw = _chat(client, text, rules, schema(), args.max_tokens, threads)
            usage = Usage(raw["prompt_tokens"], raw["completion_tokens"])
            valid, problem = True, ""
            try:
                validate_answer(raw["content"])
            except InvalidAnswer as exc:
                valid, problem = False, str(exc)[:120]
            call = Call(
                variant=variant,
                resume=index,
                latency_s=raw["latency_s"],
                prompt_tokens=raw["prompt_tokens"],
                completion_tokens=raw["completion_tokens"],
                prefill_tok_s=raw["prefill_tok_s"],
                decode_tok_s=raw["decode_tok_s"],
                done_reason=raw["done_reason"],
                valid=valid,
                problem=problem,
                cost_usd=str(prices.cost_usd("ollama", LOCAL_MODEL, usage)),
            )
            calls.append(call)
            print(
                f"  {variant:<10} résumé {index}: {call.latency_s:6.1f} s  "
                f"{call.prompt_tokens:>5} + {call.completion_tokens:>4} tokens  "
                f"prefill {call.prefill_tok_s:6.1f}/s decode {call.decode_tok_s:5.1f}/s  "
                f"{call.done_reason:<6} {'valid' if valid else 'INVALID ' + problem}",
                flush=True,
            )

    local_ms = statistics.median(local_s) * 1000
    print(f"\nlocal screener: median {local_ms:.1f} ms per résumé (baseline)")
    for variant in VARIANTS:
        mine = [c for c in calls if c.variant == variant]
        latency = statistics.median(c.latency_s for c in mine)
        cost = statistics.median(Decimal(c.cost_usd) for c in mine)
        print(
            f"{variant:<10} valid {sum(c.valid for c in mine)}/{len(mine)}  "
            f"latency median {latency:.1f} s (x{latency * 1000 / local_ms:,.0f} the local "
            f"screener)  prompt {statistics.median(c.prompt_tokens for c in mine):.0f} / "
            f"completion {statistics.median(c.completion_tokens for c in mine):.0f} tokens  "
            f"prefill {statistics.median(c.prefill_tok_s for c in mine):.0f}/s  "
            f"decode {statistics.median(c.decode_tok_s for c in mine):.1f}/s  "
            f"cost median ${cost:.8f}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(c) for c in calls], indent=2))
    return 0


def _chat(
    client: ollama.Client,
    text: str,
    rules: Criteria,
    schema: dict[str, Any],
    max_tokens: int,
    threads: int | None,
) -> dict[str, Any]:
    prompt = build_prompt(
        rules, job_title=JOB_TITLE, job_description=JOB_DESCRIPTION, resume_text=text
    )
    t0 = time.perf_counter()
    response = client.chat(
        model=LOCAL_MODEL,
        messages=[
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
        format=schema,
        options={
            "temperature": 0,
            "num_predict": max_tokens,
            **({"num_thread": threads} if threads else {}),
        },
        stream=False,
    )
    latency = time.perf_counter() - t0
    prompt_s = (response.prompt_eval_duration or 0) / 1e9
    eval_s = (response.eval_duration or 0) / 1e9
    prompt_tokens = response.prompt_eval_count or 0
    completion_tokens = response.eval_count or 0
    return {
        "content": response.message.content,
        "latency_s": latency,
        "load_s": (response.load_duration or 0) / 1e9,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "prefill_tok_s": prompt_tokens / prompt_s if prompt_s else 0.0,
        "decode_tok_s": completion_tokens / eval_s if eval_s else 0.0,
        "done_reason": response.done_reason,
    }


if __name__ == "__main__":
    sys.exit(main())
