"""How well the local screener ranks candidates like HR does: FERR development split.

    .venv/bin/python bench/screening_eval.py [--datasets DIR] [--reference-date 2018-12-01]

30 real job postings, 7–10 real résumé PDFs each, every résumé graded 1–7 by one HR
professional for that job (15 raters, two jobs each). Each job's skill list is given to the
screener as its must-have skills (no years, no education, no title: the postings' text is not
published). Résumés are extracted with the project's own extractor (``ingest.extract``), as
production does; the text is cached under ``$PVARA_HOME/cache/ferr-text`` by file hash.

Per job, the scores are compared with the grades: Spearman's rho (tie-corrected) and NDCG@5
with gain 2^(grade-1) - 1, ties in a ranker's scores broken against it (worst grade first).
Reported: the mean over jobs ± its standard error, beside baselines computed in the same run
on the same texts — random order (expectation over 1,000 seeded shuffles), TF-IDF cosine and
Okapi BM25 of the skill list against each résumé (idf over the 232 résumés) — and the share of
distinct scores within each job. Ablations rerun the screener with one component alone.

Nothing here is fitted to the grades: the screener's weights are set a priori (see
``screening/local/scoring.py``), so there is no cross-validation to do; the numbers are
what the shipped screener does.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from core.settings import get_settings
from ingest.extract import ExtractionError, ExtractionLimits, extract_text
from screening.criteria import Criteria
from screening.local import WEIGHTS, LocalScreener

PDF = "application/pdf"
SHUFFLES = 1000
_WORD = re.compile(r"[a-z0-9]+")


# ------------------------------------------------------------------------- data set ---


@dataclass(frozen=True)
class Job:
    job_id: str
    rater: str
    skills: list[str]
    grades: dict[str, int]  # resume id -> grade


def dataset_dir(explicit: Path | None) -> Path:
    """The FERR folder, or exit with a clear message when it cannot be found."""
    folder = explicit or get_settings().effective_datasets_dir / "ferr-dev"
    if not (folder / "labels.csv").is_file():
        sys.exit(f"FERR dev not found at {folder}: set PVARA_DATASETS_DIR or pass --datasets")
    return folder


def read_jobs(folder: Path) -> list[Job]:
    skills = json.loads((folder / "job_skills.json").read_text(encoding="utf-8"))
    grades: dict[str, dict[str, int]] = defaultdict(dict)
    raters: dict[str, str] = {}
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            grades[row["job_id"]][row["resume_id"]] = int(row["grade"])
            raters[row["job_id"]] = row["rater_id"]
    return [Job(j, raters[j], skills[j], grades[j]) for j in sorted(grades)]


def extract_all(folder: Path, ids: Sequence[str]) -> dict[str, str]:
    """Résumé texts by id, through the project's extractor (cached by file hash)."""
    cache = get_settings().home / "cache" / "ferr-text"
    cache.mkdir(parents=True, exist_ok=True)
    limits = ExtractionLimits(time_limit_s=300)

    def one(resume_id: str) -> tuple[str, str]:
        data = (folder / "resumes" / f"{resume_id}.pdf").read_bytes()
        cached = cache / f"{hashlib.sha256(data).hexdigest()}.txt"
        if cached.is_file():
            return resume_id, cached.read_text(encoding="utf-8")
        try:
            text = extract_text(data, PDF, limits).text
        except ExtractionError as exc:
            print(f"  {resume_id}: not extracted ({exc.code}); scored as empty", file=sys.stderr)
            text = ""
        cached.write_text(text, encoding="utf-8")
        return resume_id, text

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, ids))


# -------------------------------------------------------------------------- metrics ---


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ascending, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho with tie correction (Pearson on average ranks); 0 if undefined."""
    ra, rb = average_ranks(a), average_ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else 0.0


def gain(grade: int) -> float:
    return 2.0 ** (grade - 1) - 1


def ndcg_at(scores: Sequence[float], grades: Sequence[int], k: int = 5) -> float:
    """NDCG@k of ranking by score, ties broken against the ranker (worst grade first)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], grades[i]))
    dcg = sum(gain(grades[i]) / math.log2(r + 2) for r, i in enumerate(order[:k]))
    ideal = sorted(grades, reverse=True)
    best = sum(gain(g) / math.log2(r + 2) for r, g in enumerate(ideal[:k]))
    return dcg / best if best else 0.0


def distinct_share(scores: Sequence[float]) -> float:
    return len(set(scores)) / len(scores) if scores else 0.0


# -------------------------------------------------------------------------- rankers ---

Ranker = Callable[[Job, list[str], Mapping[str, str]], list[float]]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class Corpus:
    """Document frequencies over all résumés, for the TF-IDF and BM25 baselines."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self.tokens = {rid: words(t) for rid, t in texts.items()}
        self.df: Counter[str] = Counter()
        for toks in self.tokens.values():
            self.df.update(set(toks))
        self.n = len(self.tokens)
        self.avgdl = statistics.fmean(len(t) for t in self.tokens.values()) or 1.0

    def idf(self, word: str) -> float:
        return math.log((1 + self.n) / (1 + self.df[word])) + 1

    def bm25_idf(self, word: str) -> float:
        df = self.df[word]
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))


def tfidf_ranker(corpus: Corpus) -> Ranker:
    def rank(job: Job, ids: list[str], texts: Mapping[str, str]) -> list[float]:
        query = Counter(words(" ".join(job.skills)))
        qv = {w: c * corpus.idf(w) for w, c in query.items()}
        qn = math.sqrt(sum(v * v for v in qv.values())) or 1.0
        out = []
        for rid in ids:
            counts = Counter(corpus.tokens[rid])
            dv = {w: c * corpus.idf(w) for w, c in counts.items()}
            dn = math.sqrt(sum(v * v for v in dv.values())) or 1.0
            out.append(sum(qv[w] * dv.get(w, 0.0) for w in qv) / (qn * dn))
        return out

    return rank


def bm25_ranker(corpus: Corpus, k1: float = 1.5, b: float = 0.75) -> Ranker:
    def rank(job: Job, ids: list[str], texts: Mapping[str, str]) -> list[float]:
        query = words(" ".join(job.skills))
        out = []
        for rid in ids:
            counts = Counter(corpus.tokens[rid])
            dl = len(corpus.tokens[rid])
            total = 0.0
            for w in query:
                tf = counts.get(w, 0)
                if tf:
                    norm = tf + k1 * (1 - b + b * dl / corpus.avgdl)
                    total += corpus.bm25_idf(w) * tf * (k1 + 1) / norm
            out.append(total)
        return out

    return rank


def local_ranker(screener: LocalScreener) -> Ranker:
    def rank(job: Job, ids: list[str], texts: Mapping[str, str]) -> list[float]:
        criteria = Criteria.model_validate(
            {"screening_criteria": {"must_have_skills": [{"name": s[:80]} for s in job.skills]}}
        )
        return [screener.screen(texts[rid], criteria, job_key=job.job_id).score for rid in ids]

    return rank


# --------------------------------------------------------------------------- report ---


@dataclass
class Row:
    name: str
    rho: list[float]
    ndcg: list[float]
    distinct: list[float]
    seconds: float = 0.0


def mean_se(values: Sequence[float]) -> str:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{mean:+.3f} ± {se:.3f}"


def evaluate(name: str, ranker: Ranker, jobs: Sequence[Job], texts: Mapping[str, str]) -> Row:
    row = Row(name, [], [], [])
    started = time.process_time()
    for job in jobs:
        ids = sorted(job.grades)
        grades = [job.grades[i] for i in ids]
        scores = ranker(job, ids, texts)
        row.rho.append(spearman(scores, grades))
        row.ndcg.append(ndcg_at(scores, grades))
        row.distinct.append(distinct_share(scores))
    row.seconds = time.process_time() - started
    return row


def random_row(jobs: Sequence[Job], seed: int) -> Row:
    rng = random.Random(seed)
    row = Row("random order (1,000 shuffles)", [], [], [])
    for job in jobs:
        grades = [job.grades[i] for i in sorted(job.grades)]
        rhos, ndcgs = [], []
        for _ in range(SHUFFLES):
            scores = [float(i) for i in range(len(grades))]
            rng.shuffle(scores)
            rhos.append(spearman(scores, grades))
            ndcgs.append(ndcg_at(scores, grades))
        row.rho.append(statistics.fmean(rhos))
        row.ndcg.append(statistics.fmean(ndcgs))
        row.distinct.append(1.0)
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=None, help="the ferr-dev folder")
    parser.add_argument(
        "--reference-date",
        type=date.fromisoformat,
        default=date(2018, 12, 1),
        help="what 'present' means: the collection's latest résumés date from 2018",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--per-job", action="store_true", help="print each job's figures")
    args = parser.parse_args(argv)

    folder = dataset_dir(args.datasets)
    jobs = read_jobs(folder)
    ids = sorted({rid for job in jobs for rid in job.grades})
    started = time.perf_counter()
    texts = extract_all(folder, ids)
    print(
        f"FERR dev: {len(jobs)} jobs, {len(ids)} résumés, "
        f"{sum(len(j.grades) for j in jobs)} grades by {len({j.rater for j in jobs})} raters; "
        f"text extracted in {time.perf_counter() - started:.0f} s (cached by hash)"
    )
    corpus = Corpus(texts)
    screener = LocalScreener(reference_date=args.reference_date)
    rows = [
        evaluate("local screener", local_ranker(screener), jobs, texts),
        random_row(jobs, args.seed),
        evaluate("TF-IDF cosine (skill list vs résumé)", tfidf_ranker(corpus), jobs, texts),
        evaluate("BM25 (skill list vs résumé)", bm25_ranker(corpus), jobs, texts),
    ]
    if not args.no_ablations:
        for component in ("must", "occupation", "relevance"):
            alone = {k: (v if k == component else 0.0) for k, v in WEIGHTS.items()}
            ablated = LocalScreener(reference_date=args.reference_date, weights=alone)
            rows.append(
                evaluate(f"  ablation: {component} only", local_ranker(ablated), jobs, texts)
            )

    header = (
        f"{'ranker':<40}{'Spearman (mean ± SE)':>22}{'NDCG@5 (mean ± SE)':>22}"
        f"{'distinct':>10}{'jobs ≥90%':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        big = [d for d, job in zip(row.distinct, jobs, strict=True) if len(job.grades) >= 8]
        share90 = sum(d >= 0.9 for d in big) / len(big) if big else 0.0
        print(
            f"{row.name:<40}{mean_se(row.rho):>22}{mean_se(row.ndcg):>22}"
            f"{statistics.fmean(row.distinct):>9.0%}{share90:>10.0%}"
        )
    local, _rand, _tfidf, bm25 = rows[:4]
    print()
    for metric in ("rho", "ndcg"):
        ours = statistics.fmean(getattr(local, metric))
        others = {r.name.split(" (")[0]: statistics.fmean(getattr(r, metric)) for r in rows[1:4]}
        beats = all(ours > v for v in others.values())
        print(
            f"{'Spearman' if metric == 'rho' else 'NDCG@5'}: local {ours:+.3f} vs "
            + ", ".join(f"{k} {v:+.3f}" for k, v in others.items())
            + f" — {'beats all baselines' if beats else 'does NOT beat every baseline'}"
        )
    wins = sum(a > b for a, b in zip(local.rho, bm25.rho, strict=True))
    print(f"jobs where the local screener's Spearman beats BM25's: {wins}/{len(jobs)}")
    per_screening = local.seconds / sum(len(j.grades) for j in jobs) * 1000
    print(f"local screener: {per_screening:.1f} ms CPU per screening (job profiles included)")
    if args.per_job:
        print()
        for job, rho, nd in zip(jobs, local.rho, local.ndcg, strict=True):
            print(f"  {job.job_id[:8]} rater {job.rater:>2}  rho {rho:+.2f}  ndcg {nd:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
