"""Agreement of the local screener with human rankings (vacancy-resume-matching data set).

For each of the annotated CVs, the five vacancies are ranked by the local screener's score and
compared with each annotator's ranking (Spearman's rho, NDCG@3, NDCG@5 with relevance
6 - human rank), averaged over CVs; the annotators are compared with each other the same way.
A word-overlap ranking and a random ranking (exact expectation) are the baselines.

    .venv/bin/python bench/screening_eval.py [--dataset PATH]

The data set is read in place (never copied): 5_vacancies.csv, CV/<n>.docx and the
annotations file. The annotations file describes each array both as "vacancies ranked from
best (place 1 in the array) to worst" — values are vacancy numbers — while the brief reads the
values as ranks; both readings are reported (``--layout``).
"""

from __future__ import annotations

import argparse
import ast
import csv
import itertools
import math
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from screening.criteria import Criteria
from screening.local import LocalScreener

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "vacancy-resume-matching"
N_VACANCIES = 5

Ranking = dict[int, float]  # vacancy index (0-based) -> human rank (1 = best)


# ------------------------------------------------------------------------- data set ---


def read_docx(path: Path) -> str:
    """Paragraphs and table rows of a .docx, in document order, one per line."""
    document = docx.Document(str(path))
    lines: list[str] = []
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append(Paragraph(child, document).text)
        elif tag == "tbl":
            for row in Table(child, document).rows:
                cells = list(dict.fromkeys(cell.text.strip() for cell in row.cells))
                lines.append(" | ".join(c for c in cells if c))
    return "\n".join(lines)


def read_vacancies(dataset: Path) -> list[tuple[str, str]]:
    """``(title, description)`` of the five vacancies, in file order."""
    with (dataset / "5_vacancies.csv").open(newline="", encoding="utf-8") as fh:
        return [(row["job_title"], row["job_description"]) for row in csv.DictReader(fh)]


def read_annotations(dataset: Path) -> dict[str, list[list[int]]]:
    """``{"annotator 1": [[...5 ints...] per CV], ...}`` from the annotations text file."""
    path = next(dataset.glob("annotations*.txt"))
    text = path.read_text(encoding="utf-8")
    result: dict[str, list[list[int]]] = {}
    for match in re.finditer(r"ANNOTATOR_(\d+)_RANKINGS\s*=\s*(\[.*?\]\s*\])", text, re.S):
        literal = re.sub(r"#[^\n]*", "", match[2])
        result[f"annotator {match[1]}"] = ast.literal_eval(literal)
    return result


def to_ranks(row: Sequence[int], layout: str) -> Ranking | None:
    """A human row as vacancy -> rank; None when the row is not a valid ranking."""
    if len(row) != N_VACANCIES:
        return None
    if layout == "ranks":  # row[v] is the rank of vacancy v (ties allowed)
        return {v: float(rank) for v, rank in enumerate(row)}
    # "order": row[place] is the vacancy at that place; duplicates make it invalid
    if sorted(row) != list(range(1, N_VACANCIES + 1)):
        return None
    return {vacancy - 1: float(place) for place, vacancy in enumerate(row, start=1)}


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


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho with tie correction (Pearson on average ranks); None if undefined."""
    ra, rb = average_ranks(a), average_ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else None


def ndcg(order: Sequence[int], relevance: Ranking, k: int) -> float:
    """NDCG@k of a ranked list of vacancies, linear gain."""
    dcg = sum(relevance[v] / math.log2(i + 2) for i, v in enumerate(order[:k]))
    ideal = sorted(relevance.values(), reverse=True)
    best = sum(r / math.log2(i + 2) for i, r in enumerate(ideal[:k]))
    return dcg / best if best else 0.0


def relevance_of(ranks: Ranking) -> Ranking:
    return {v: N_VACANCIES + 1 - r for v, r in ranks.items()}


def order_by(scores: Sequence[float]) -> list[int]:
    """Vacancies by descending score (ties: file order)."""
    return sorted(range(len(scores)), key=lambda v: (-scores[v], v))


@dataclass
class Agreement:
    rho: list[float]
    ndcg3: list[float]
    ndcg5: list[float]

    def cell(self, values: list[float]) -> str:
        if not values:
            return "   –         "
        mean = statistics.fmean(values)
        err = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
        return f"{mean:+.3f} ±{err:.3f}"


def agreement(scores_per_cv: dict[int, list[float]], truth: dict[int, Ranking]) -> Agreement:
    """Mean agreement of per-CV vacancy scores (higher = better) with a human ranking."""
    result = Agreement([], [], [])
    for cv, ranks in truth.items():
        scores = scores_per_cv[cv]
        relevance = relevance_of(ranks)
        rel = [relevance[v] for v in range(N_VACANCIES)]
        rho = spearman(scores, rel)
        if rho is not None:
            result.rho.append(rho)
        order = order_by(scores)
        result.ndcg3.append(ndcg(order, relevance, 3))
        result.ndcg5.append(ndcg(order, relevance, 5))
    return result


def random_expectation(truth: dict[int, Ranking]) -> Agreement:
    """Exact expected NDCG of a uniformly random ranking (Spearman expectation is 0)."""
    result = Agreement([], [], [])
    for ranks in truth.values():
        relevance = relevance_of(ranks)
        perms = list(itertools.permutations(range(N_VACANCIES)))
        result.ndcg3.append(statistics.fmean(ndcg(p, relevance, 3) for p in perms))
        result.ndcg5.append(statistics.fmean(ndcg(p, relevance, 5) for p in perms))
        result.rho.append(0.0)
    return result


def centred_in_job(scores_per_cv: dict[int, list[float]]) -> dict[int, list[float]]:
    """Each score replaced by its rank among all CVs for the same vacancy (job-level effect out).

    A ranker that prefers one vacancy for every CV loses that preference here; what is left is
    how it orders vacancies *for this CV relative to the other CVs*.
    """
    cvs = sorted(scores_per_cv)
    result = {cv: [0.0] * N_VACANCIES for cv in cvs}
    for v in range(N_VACANCIES):
        ranks = average_ranks([scores_per_cv[cv][v] for cv in cvs])
        for cv, rank in zip(cvs, ranks, strict=True):
            result[cv][v] = rank
    return result


def best_constant_order(
    truth: dict[str, dict[int, Ranking]],
) -> tuple[tuple[int, ...], dict[str, float]]:
    """The one vacancy order, the same for every CV, that agrees best with the worst-served judge.

    A CV-blind ranker: it reads nothing of the CVs, so whatever it scores is a preference between
    the vacancies themselves.
    """
    best: tuple[float, tuple[int, ...], dict[str, float]] | None = None
    for order in itertools.permutations(range(N_VACANCIES)):
        place = {v: i for i, v in enumerate(order)}
        rhos: dict[str, float] = {}
        for judge, ranks in truth.items():
            scores = {cv: [-float(place[v]) for v in range(N_VACANCIES)] for cv in ranks}
            rhos[judge] = statistics.fmean(agreement(scores, ranks).rho)
        if best is None or min(rhos.values()) > best[0]:
            best = (min(rhos.values()), order, rhos)
    assert best is not None
    return best[1], best[2]


def within_vacancy(scores_per_cv: dict[int, list[float]], truth: dict[int, Ranking]) -> float:
    """Mean over vacancies of Spearman(score of CV for v, human relevance of v for CV)."""
    rhos = []
    for v in range(N_VACANCIES):
        cvs = sorted(truth)
        rho = spearman(
            [scores_per_cv[cv][v] for cv in cvs], [relevance_of(truth[cv])[v] for cv in cvs]
        )
        if rho is not None:
            rhos.append(rho)
    return statistics.fmean(rhos) if rhos else float("nan")


# ------------------------------------------------------------------------- rankers ---


_WORD = re.compile(r"[a-z][a-z0-9+#.]*[a-z0-9+#]|[a-z]")


def word_overlap(cv: str, vacancy: str) -> float:
    """Baseline: Jaccard overlap of the two texts' word sets."""
    a, b = set(_WORD.findall(cv.lower())), set(_WORD.findall(vacancy.lower()))
    return len(a & b) / len(a | b) if a | b else 0.0


def score_all(
    cvs: dict[int, str], vacancies: Sequence[str], scorer: Callable[[str, str], float]
) -> dict[int, list[float]]:
    return {n: [scorer(text, v) for v in vacancies] for n, text in cvs.items()}


# ---------------------------------------------------------------------------- main ---


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument(
        "--reference-date",
        type=date.fromisoformat,
        default=date(2022, 6, 1),
        help="what 'present' means in the CVs' date ranges (default: 2022-06-01, "
        "after the latest date written in the CVs)",
    )
    parser.add_argument("--layout", choices=["ranks", "order", "both"], default="both")
    args = parser.parse_args(argv)

    dataset: Path = args.dataset
    if not (dataset / "5_vacancies.csv").exists():
        print(f"data set not found at {dataset}", file=sys.stderr)
        return 2
    vacancies = read_vacancies(dataset)
    descriptions = [f"{title}\n{text}" for title, text in vacancies]
    annotations = read_annotations(dataset)
    annotated = sorted({i + 1 for rows in annotations.values() for i in range(len(rows))})
    cvs = {n: read_docx(dataset / "CV" / f"{n}.docx") for n in annotated}

    screener = LocalScreener(reference_date=args.reference_date)
    criteria = Criteria()
    started = time.perf_counter()
    ours = score_all(cvs, descriptions, lambda cv, v: screener.screen(cv, criteria, v).score)
    elapsed = time.perf_counter() - started
    overlap = score_all(cvs, descriptions, word_overlap)

    print(f"data set: {dataset}")
    print(
        f"CVs: {len(cvs)} annotated; vacancies: {len(vacancies)}; reference date: "
        f"{args.reference_date}; local screener: {len(cvs) * len(vacancies)} screenings "
        f"in {elapsed * 1000:.0f} ms"
    )
    print("vacancies: " + "; ".join(f"{i + 1}={t}" for i, (t, _) in enumerate(vacancies)))

    layouts = ["ranks", "order"] if args.layout == "both" else [args.layout]
    for layout in layouts:
        report(layout, annotations, ours, overlap)
    return 0


def report(
    layout: str,
    annotations: dict[str, list[list[int]]],
    ours: dict[int, list[float]],
    overlap: dict[int, list[float]],
) -> None:
    truth: dict[str, dict[int, Ranking]] = {}
    skipped: dict[str, list[int]] = {}
    for name, rows in annotations.items():
        truth[name], skipped[name] = {}, []
        for cv, row in enumerate(rows, start=1):
            ranks = to_ranks(row, layout)
            if ranks is None:
                skipped[name].append(cv)
            else:
                truth[name][cv] = ranks

    reading = (
        "values are ranks of vacancies 1..5 (ties kept)"
        if layout == "ranks"
        else "values are vacancy numbers from best to worst (rows with a repeated vacancy skipped)"
    )
    print(f"\n== layout '{layout}': {reading}")
    for name, cvs in skipped.items():
        if cvs:
            print(f"   {name}: skipped CVs {cvs}")
    names = list(truth)
    header = f"{'ranker':<26}{'vs':<13}{'n':>3}  {'Spearman':>13}  {'NDCG@3':>13}  {'NDCG@5':>13}"
    print(header)
    print("-" * len(header))
    for judge in names:
        table: list[tuple[str, Agreement]] = [
            ("local screener", agreement(ours, truth[judge])),
            ("word overlap (baseline)", agreement(overlap, truth[judge])),
            ("random (expected)", random_expectation(truth[judge])),
        ]
        for other in names:
            if other == judge:
                continue
            common = {cv: r for cv, r in truth[judge].items() if cv in truth[other]}
            # The other annotator as a ranker: lower rank = better, so negate.
            as_scores = {cv: [-truth[other][cv][v] for v in range(N_VACANCIES)] for cv in common}
            table.append((other, agreement(as_scores, common)))
            table.append((f"local, same {len(common)} CVs", agreement(ours, common)))
        for label, result in table:
            print(
                f"{label:<26}{judge:<13}{len(result.ndcg3):>3}  {result.cell(result.rho)}  "
                f"{result.cell(result.ndcg3)}  {result.cell(result.ndcg5)}"
            )
        print()
    print("   within each vacancy (how PVARA uses scores: ranking CVs for one job) — Spearman")
    print("   over CVs between a ranker's score and the judge's relevance, mean of 5 vacancies:")
    for judge in names:
        cells = [
            ("local", within_vacancy(ours, truth[judge])),
            ("word overlap", within_vacancy(overlap, truth[judge])),
        ]
        for other in names:
            if other != judge:
                common = {cv: r for cv, r in truth[judge].items() if cv in truth[other]}
                as_scores = {
                    cv: [-truth[other][cv][v] for v in range(N_VACANCIES)] for cv in common
                }
                cells.append((other, within_vacancy(as_scores, common)))
        print(f"   vs {judge}: " + ", ".join(f"{label} {rho:+.3f}" for label, rho in cells))
    print()
    print("   job-level effect removed (each score replaced by its rank among the CVs for that")
    print("   vacancy, then vacancies ranked per CV as above) — Spearman, mean over CVs:")
    for judge in names:
        centred: list[tuple[str, Agreement]] = [
            ("local", agreement(centred_in_job(ours), truth[judge])),
            ("word overlap", agreement(centred_in_job(overlap), truth[judge])),
        ]
        for other in names:
            if other != judge:
                common = {cv: r for cv, r in truth[judge].items() if cv in truth[other]}
                as_scores = {
                    cv: [-truth[other][cv][v] for v in range(N_VACANCIES)] for cv in common
                }
                centred.append((other, agreement(centred_in_job(as_scores), common)))
        print(
            f"   vs {judge}: "
            + ", ".join(f"{label} {statistics.fmean(a.rho):+.3f}" for label, a in centred)
        )
    order, rhos = best_constant_order(truth)
    print()
    print(
        "   best CV-blind ranker (one vacancy order for every CV: "
        + " > ".join(str(v + 1) for v in order)
        + "): "
        + ", ".join(f"vs {judge} {rho:+.3f}" for judge, rho in rhos.items())
    )
    print()
    for name in names:
        means = [statistics.fmean(r[v] for r in truth[name].values()) for v in range(N_VACANCIES)]
        print(
            f"   mean rank given to vacancies 1..5 by {name}: "
            + ", ".join(f"{m:.2f}" for m in means)
        )
    our_means = [
        statistics.fmean(average_ranks([-s for s in ours[cv]])[v] for cv in truth[names[0]])
        for v in range(N_VACANCIES)
    ]
    print(
        "   mean rank given to vacancies 1..5 by the local screener: "
        + ", ".join(f"{m:.2f}" for m in our_means)
    )


if __name__ == "__main__":
    raise SystemExit(main())
