"""Lexical relevance: BM25 of the résumé for the job's own words.

The query is the job's title, criteria and description (stems, stopwords dropped, each
word's count capped); the idf comes from the taxonomy's texts (ESCO and O*NET labels and
descriptions), so one résumé is scored without a candidate pool and the same résumé always
gets the same value. The sum is divided by its ceiling (every query word present without
limit), giving 0..1; the strongest contributing words are kept for the reasoning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from screening.index import TaxonomyIndex
from screening.phrases import STOPWORDS, Tokens

K1 = 1.2
B = 0.75
AVERAGE_WORDS = 600.0  # a typical one- to two-page résumé
MAX_QUERY_COUNT = 3


@dataclass(frozen=True, slots=True)
class Query:
    """The job's words with their query weights and idf."""

    terms: dict[str, tuple[float, float]]  # stem -> (query weight, idf)
    words: dict[str, str]  # stem -> a written form, for the reasoning

    @property
    def ceiling(self) -> float:
        return sum(q * idf * (K1 + 1) for q, idf in self.terms.values())


@dataclass(frozen=True, slots=True)
class Relevance:
    """The normalised BM25 (0..1) and the words that gave most of it."""

    value: float
    top_words: tuple[str, ...]


def build_query(index: TaxonomyIndex, texts: Iterable[str]) -> Query:
    """The query for a job's texts."""
    counts: Counter[str] = Counter()
    written: dict[str, str] = {}
    for text in texts:
        tokens = Tokens.of(text)
        for stem, start, end in zip(tokens.stems, tokens.starts, tokens.ends, strict=True):
            if stem in STOPWORDS or len(stem) < 2 or stem.isdigit():
                continue
            counts[stem] += 1
            written.setdefault(stem, text[start:end])
    terms = {
        stem: (float(min(count, MAX_QUERY_COUNT)), index.idf(stem))
        for stem, count in sorted(counts.items())
    }
    return Query(terms, written)


def relevance(query: Query, resume_stems: Iterable[str], length: int) -> Relevance:
    """BM25 of a résumé (its stems and word count) for ``query``, over its ceiling."""
    if not query.terms:
        return Relevance(0.0, ())
    frequency = Counter(s for s in resume_stems if s in query.terms)
    norm = K1 * (1 - B + B * length / AVERAGE_WORDS)
    parts: list[tuple[float, str]] = []
    for stem, tf in frequency.items():
        weight, idf = query.terms[stem]
        parts.append((weight * idf * tf * (K1 + 1) / (tf + norm), stem))
    total = sum(p for p, _ in parts)
    ceiling = query.ceiling
    parts.sort(key=lambda p: (-p[0], p[1]))
    top = tuple(query.words.get(stem, stem) for _, stem in parts[:6])
    return Relevance(total / ceiling if ceiling else 0.0, top)
