"""Local screener throughput: applications per second on one core.

    .venv/bin/python bench/screening_throughput.py [--resumes 400] [--seconds 3]

Generates varied ~1-page résumé texts deterministically (seeded), then times, on one core and
in the same run: a baseline that only lower-cases and tokenises each text, the local screener
with the seed's explicit criteria, the local screener reading the skills from a job
description, and the local screener for a non-software job (an accountant's skill list).
Rates are given per wall-clock second and per CPU second of this process (the latter is what
"per core" means on a shared machine), and as a ratio to the baseline.

Memory: the resident set of this process after importing what a ``score`` worker imports
(the baseline), after loading the ESCO/O*NET index (timed), and its peak after the runs.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import date

from screening.criteria import EXAMPLE_CRITERIA, Criteria
from screening.index import default_index
from screening.local import LocalScreener
from screening.taxonomy import default_taxonomy

_TOKEN = re.compile(r"\w+")

_FIRST = ["Amina", "Bilal", "Chen", "Dana", "Elif", "Farah", "Goran", "Hina", "Ivan", "Jo"]
_LAST = ["Khan", "Levi", "Moreau", "Novak", "Okafor", "Patel", "Qureshi", "Rossi", "Silva"]
_CITIES = ["Lahore", "Karachi", "Islamabad", "New York", "Berlin", "Remote", "Tel Aviv"]
_TITLES = [
    "Software Engineer",
    "Backend Developer",
    "Data Analyst",
    "DevOps Engineer",
    "Accountant",
    "Sales Executive",
    "HR Officer",
    "Graphic Designer",
    "Project Manager",
    "Full Stack Developer",
]
_COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella", "Stark Ltd", "Wayne Tech", "Hooli"]
_VERBS = ["Built", "Designed", "Maintained", "Led", "Improved", "Automated", "Delivered"]
_OBJECTS = [
    "a billing service used by 2M customers",
    "internal reporting dashboards for the finance team",
    "the onboarding flow, cutting drop-off by 18%",
    "nightly data pipelines and their monitoring",
    "customer-facing APIs with strict latency targets",
    "a migration from on-premise servers to the cloud",
    "quarterly budgets and variance reports",
    "recruitment campaigns for engineering roles",
]
_DEGREES = [
    "BS Computer Science",
    "B.Sc. in Information Technology",
    "Master of Business Administration (MBA)",
    "M.Sc. Data Science",
    "BBA Finance",
    "High school diploma",
    "PhD in Physics",
]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_FILLER = (
    "Worked closely with product owners and stakeholders to refine requirements, wrote "
    "documentation, reviewed pull requests and mentored two junior colleagues."
)

JOB_DESCRIPTION = (
    "Backend Software Developer. Minimum Required Skills: Python, PostgreSQL, REST APIs, "
    "Docker. What you need: at least 3 years of experience with PHP, Python or Go; AWS "
    "(EC2, S3); CI/CD; Agile. Nice to have: Kubernetes, Kafka, React. Bachelor's degree in "
    "Computer Science. We offer a competitive salary and benefits package."
)


def synthetic_resumes(count: int, seed: int = 7) -> list[str]:
    """``count`` varied one-page résumés (deterministic for a given seed)."""
    rng = random.Random(seed)
    skills = sorted(default_taxonomy().skills)
    resumes = []
    for _ in range(count):
        lines = [
            f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            f"{rng.choice(_TITLES)} · {rng.choice(_CITIES)} · email hidden · phone hidden",
            "SUMMARY",
            f"{rng.randint(1, 15)}+ years of experience. {_FILLER}",
            "SKILLS",
            ", ".join(rng.sample(skills, rng.randint(8, 18))),
            "EXPERIENCE",
        ]
        year = 2025
        for _ in range(rng.randint(2, 4)):
            start = year - rng.randint(1, 4)
            end = "Present" if year == 2025 else f"{rng.choice(_MONTHS)} {year}"
            lines.append(
                f"{rng.choice(_TITLES)}, {rng.choice(_COMPANIES)} — "
                f"{rng.choice(_MONTHS)} {start} – {end}"
            )
            for _ in range(rng.randint(3, 5)):
                used = ", ".join(rng.sample(skills, rng.randint(1, 3)))
                lines.append(f"• {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} using {used}.")
            lines.append(_FILLER)
            year = start
        lines += [
            "EDUCATION",
            f"{rng.choice(_DEGREES)}, University of the Punjab, {year - rng.randint(0, 3)}",
            "LANGUAGES",
            "English, Urdu",
        ]
        resumes.append("\n".join(lines))
    return resumes


ACCOUNTANT = Criteria.model_validate(
    {
        "screening_criteria": {
            "must_have_skills": [
                {"name": n}
                for n in (
                    "Accountant",
                    "bookkeeping",
                    "reconciliation",
                    "financial statements",
                    "sales tax",
                    "payroll",
                )
            ]
        }
    }
)


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set (or its peak, ``VmHWM``) in MiB, from /proc."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(
    work: Callable[[str], object], texts: Sequence[str], seconds: float
) -> tuple[float, float]:
    """Texts processed per wall second and per CPU second, looping for about ``seconds``."""
    for text in texts[:20]:
        work(text)  # warm caches (criteria profile, regex compilation)
    done = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while True:
        for text in texts:
            work(text)
        done += len(texts)
        wall = time.perf_counter() - wall0
        if wall >= seconds:
            break
    cpu = time.process_time() - cpu0
    return done / wall, done / cpu


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resumes", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import tasks.score  # noqa: F401  (what a score worker has loaded before screening)

    worker_rss = rss_mb()
    cpu0 = time.process_time()
    default_index()
    load_cpu = time.process_time() - cpu0
    index_rss = rss_mb()
    texts = synthetic_resumes(args.resumes, args.seed)
    words = [len(t.split()) for t in texts]
    screener = LocalScreener(reference_date=date(2025, 6, 1))
    explicit = Criteria.model_validate(EXAMPLE_CRITERIA)
    from_description = Criteria()

    runs: list[tuple[str, Callable[[str], object]]] = [
        ("baseline: lower() + tokenise", lambda t: _TOKEN.findall(t.lower())),
        ("local screener, explicit criteria", lambda t: screener.screen(t, explicit)),
        (
            "local screener, skills from description",
            lambda t: screener.screen(t, from_description, JOB_DESCRIPTION),
        ),
        ("local screener, accountant skill list", lambda t: screener.screen(t, ACCOUNTANT)),
    ]
    print(
        f"{len(texts)} synthetic résumés (seed {args.seed}), words: median "
        f"{statistics.median(words):.0f}, min {min(words)}, max {max(words)}; one core"
    )
    header = f"{'run':<42}{'apps/s (wall)':>15}{'apps/s/core (CPU)':>19}{'vs baseline':>13}"
    print(header)
    print("-" * len(header))
    baseline_cpu = 0.0
    for name, work in runs:
        per_wall, per_cpu = measure(work, texts, args.seconds)
        if not baseline_cpu:
            baseline_cpu = per_cpu
        print(f"{name:<42}{per_wall:>15,.0f}{per_cpu:>19,.0f}{per_cpu / baseline_cpu:>12.4f}x")
    print()
    print(f"RSS after the score worker's imports (baseline): {worker_rss:6.1f} MiB")
    print(
        f"RSS with the ESCO/O*NET index loaded:           {index_rss:6.1f} MiB "
        f"(+{index_rss - worker_rss:.1f}; loaded in {load_cpu:.2f} s CPU)"
    )
    print(f"peak RSS after all runs:                         {rss_mb('VmHWM'):6.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
