"""How well the screener's job-description reader finds skills: human gold spans.

    .venv/bin/python bench/skill_extraction.py [--datasets DIR]

Gold sets (read in place from ``<datasets>/skill-extraction``): Green et al. 2022 test set
(336 UK job-ad sentences, tag ``Skill``) and SkillSpan dev and test (Zhang et al. 2022;
``skill`` and ``knowledge`` spans, counted together, as the reader finds both).

Each sentence's tokens are joined by spaces and given to the reader that turns a job
description into requirements (:func:`screening.local.description.find_skills`: curated
aliases, then the ESCO/O*NET index, boilerplate dropped). Its spans are compared with the gold
spans three ways, micro-averaged over all sentences:

* **strict**: same first and last token;
* **overlap**: a predicted span shares a token with a gold span (each gold span counted once);
* **by normalised skill**: the sets of phrase keys (stems, see ``screening.phrases``) per
  sentence.

The baseline, run side by side, looks up exact labels only: ESCO preferred labels and O*NET
example names, lower-cased, longest first, no synonyms, no stemming.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import get_settings
from screening.index import default_index
from screening.local.description import find_skills
from screening.phrases import phrase_key
from screening.taxonomy import default_taxonomy

Span = tuple[int, int]  # first token, last token (inclusive)
MAX_LABEL_WORDS = 8


@dataclass(frozen=True)
class Sentence:
    tokens: list[str]
    gold: list[Span]


def bio_spans(tags: Sequence[str], kinds: Iterable[str] | None = None) -> list[Span]:
    """Spans of a BIO tag sequence (only the given entity kinds, when named)."""
    wanted = set(kinds) if kinds is not None else None
    spans: list[Span] = []
    start: int | None = None
    for i, tag in enumerate([*tags, "O"]):
        head, kind = tag[:1], tag[2:]  # "B-Skill" and plain "B" (SkillSpan) alike
        inside = head == "I" and start is not None
        if not inside and start is not None:
            spans.append((start, i - 1))
            start = None
        if head == "B" or (head == "I" and start is None):
            start = i if wanted is None or kind in wanted else None
    return spans


def read_green(folder: Path) -> list[Sentence]:
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for line in [*(folder / "testset.txt").read_text(encoding="utf-8").splitlines(), ""]:
        parts = line.split()
        if len(parts) >= 2:
            tokens.append(parts[0])
            tags.append(parts[-1])
        elif tokens:
            sentences.append(Sentence(tokens, bio_spans(tags, ["Skill"])))
            tokens, tags = [], []
    return sentences


def read_skillspan(path: Path) -> list[Sentence]:
    sentences = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        gold = bio_spans(row["tags_skill"]) + bio_spans(row["tags_knowledge"])
        sentences.append(Sentence(row["tokens"], sorted(set(gold))))
    return sentences


def offsets(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The tokens joined by spaces, and each token's character span."""
    spans, position = [], 0
    for token in tokens:
        spans.append((position, position + len(token)))
        position += len(token) + 1
    return " ".join(tokens), spans


def to_tokens(chars: Sequence[tuple[int, int]], start: int, end: int) -> Span | None:
    inside = [i for i, (s, e) in enumerate(chars) if s < end and start < e]
    return (inside[0], inside[-1]) if inside else None


Extractor = Callable[[str], list[tuple[int, int]]]


def reader() -> Extractor:
    taxonomy, index = default_taxonomy(), default_index()
    return lambda text: [(f.start, f.end) for f in find_skills(text, taxonomy, index)]


def exact_labels() -> Extractor:
    """Longest exact (lower-cased) ESCO/O*NET label at each token, no normalisation."""
    index = default_index()
    labels = set()
    for concept_id in range(len(index)):
        concept = index.concept(concept_id)
        if concept.kind not in ("group", "tech_group", "tool_group"):
            labels.add(concept.label.lower())
    longest = max(len(label.split()) for label in labels)

    def extract(text: str) -> list[tuple[int, int]]:
        words, position = [], 0
        for word in text.split(" "):
            words.append((word.lower(), position, position + len(word)))
            position += len(word) + 1
        found, i = [], 0
        while i < len(words):
            for n in range(min(longest, MAX_LABEL_WORDS, len(words) - i), 0, -1):
                if " ".join(w for w, _, _ in words[i : i + n]) in labels:
                    found.append((words[i][1], words[i + n - 1][2]))
                    i += n
                    break
            else:
                i += 1
        return found

    return extract


@dataclass
class Counts:
    strict: list[int] = field(default_factory=lambda: [0, 0, 0])  # tp, predicted, gold
    overlap: list[int] = field(default_factory=lambda: [0, 0, 0])
    normalised: list[int] = field(default_factory=lambda: [0, 0, 0])

    @staticmethod
    def prf(tp: int, predicted: int, gold: int) -> str:
        p = tp / predicted if predicted else 0.0
        r = tp / gold if gold else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return f"{p:5.2f} {r:5.2f} {f:5.2f}"


def score(sentences: Sequence[Sentence], extract: Extractor) -> Counts:
    counts = Counts()
    for sentence in sentences:
        text, chars = offsets(sentence.tokens)
        predicted = [t for s, e in extract(text) if (t := to_tokens(chars, s, e)) is not None]
        gold = sentence.gold
        strict = set(predicted) & set(gold)
        counts.strict[0] += len(strict)
        counts.strict[1] += len(set(predicted))
        counts.strict[2] += len(set(gold))
        hit_gold = {g for g in gold for p in predicted if p[0] <= g[1] and g[0] <= p[1]}
        hit_pred = {p for p in predicted for g in gold if p[0] <= g[1] and g[0] <= p[1]}
        counts.overlap[0] += len(hit_gold)
        counts.overlap[1] += len(set(predicted)) - len(hit_pred) + len(hit_gold)
        counts.overlap[2] += len(set(gold))

        def keys(spans: Iterable[Span], tokens: list[str] = sentence.tokens) -> set[str]:
            return {phrase_key(" ".join(tokens[a : b + 1])) for a, b in spans} - {""}

        k_pred, k_gold = keys(predicted), keys(gold)
        counts.normalised[0] += len(k_pred & k_gold)
        counts.normalised[1] += len(k_pred)
        counts.normalised[2] += len(k_gold)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=None, help="the skill-extraction folder")
    args = parser.parse_args(argv)
    folder = args.datasets or get_settings().effective_datasets_dir / "skill-extraction"
    if not (folder / "green-2022" / "testset.txt").is_file():
        sys.exit(f"skill-extraction gold sets not found at {folder}: set PVARA_DATASETS_DIR")
    sets = {
        "Green 2022 test (Skill)": read_green(folder / "green-2022"),
        "SkillSpan dev (skill+knowledge)": read_skillspan(folder / "skillspan" / "dev.json"),
        "SkillSpan test (skill+knowledge)": read_skillspan(folder / "skillspan" / "test.json"),
    }
    extractors = {"job-description reader": reader(), "exact-label lookup": exact_labels()}
    header = f"{'gold set':<34}{'extractor':<24}{'strict P R F1':>18}{'overlap P R F1':>18}"
    header += f"{'normalised P R F1':>20}"
    print(header)
    print("-" * len(header))
    for name, sentences in sets.items():
        gold = sum(len(s.gold) for s in sentences)
        for label, extract in extractors.items():
            started = time.process_time()
            counts = score(sentences, extract)
            seconds = time.process_time() - started
            print(
                f"{name:<34}{label:<24}{Counts.prf(*counts.strict):>18}"
                f"{Counts.prf(*counts.overlap):>18}{Counts.prf(*counts.normalised):>20}"
                f"   ({len(sentences)} sentences, {gold} gold spans, {seconds:.1f} s)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
