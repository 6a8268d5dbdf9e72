"""What a job asks for, resolved through the taxonomies.

A requirement ("book keeping", "Python", "accounts executive/accountant") becomes one or more
alternatives; each alternative is looked up three ways, all of which a résumé may satisfy:

* the curated software aliases (``data/skills.json``, the overrides: "k8s" is Kubernetes,
  "Go" only in lists);
* the ESCO/O*NET index: the concepts its phrase names (also written as one word:
  "book keeping" → "bookkeeping"), and the occupations when it is a job title ("accountant");
* its own words, as a literal stemmed phrase, and word by word for partial credit.

Concepts near a named one in the ESCO hierarchy (broader, narrower, siblings) and concepts
whose labels contain the phrase ("supply chain" → "supply chain management") earn related
credit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from screening.index import TaxonomyIndex
from screening.phrases import STOPWORDS, phrase_key, stems, words
from screening.taxonomy import Taxonomy

_SPLIT_RE = re.compile(r"\s+or\s+|\s*\|\s*|(?<=\w{2})\s*/\s*(?=\w{2})", re.IGNORECASE)
_CONTAINING_LIMIT = 24
CONTAINING_CREDIT = 0.7
IMPLIED_CREDIT = 0.4


@dataclass(frozen=True, slots=True)
class Alternative:
    """One way to satisfy a requirement."""

    label: str
    key: str  # stemmed phrase key (literal match)
    keys: tuple[str, ...]  # the key, and its words run together ("book keep" → "bookkeep")
    curated: str | None  # canonical curated skill
    concepts: frozenset[int]  # index concepts it names
    occupations: frozenset[int]  # index occupations, when it is a job title
    related: dict[int, float]  # nearby concepts → credit
    implied: frozenset[str]  # curated skills it builds on (Spring Boot → Java, Spring)
    words: tuple[tuple[str, float], ...]  # content stems and their idf


@dataclass(frozen=True, slots=True)
class Requirement:
    """A skill the job asks for, with the years asked and its weight among the others."""

    label: str
    alternatives: tuple[Alternative, ...]
    years: float = 0.0
    weight: float = 1.0

    @property
    def keys(self) -> tuple[str, ...]:
        """The literal phrase keys of its alternatives."""
        return tuple(dict.fromkeys(k for a in self.alternatives for k in a.keys))


class Resolver:
    """Resolves requirement names against the curated taxonomy and the index (cached)."""

    def __init__(self, taxonomy: Taxonomy, index: TaxonomyIndex) -> None:
        self._taxonomy = taxonomy
        self._index = index
        self._cache: dict[str, Alternative] = {}

    def requirement(self, name: str, years: float = 0.0, weight: float = 1.0) -> Requirement:
        """The requirement for a skill name as HR typed it."""
        names = [name]
        if self._curated(name) is None and not self._index.skills_for(phrase_key(name)):
            names = [n.strip() for n in _SPLIT_RE.split(name) if n.strip()] or [name]
        alternatives = tuple(self.alternative(n) for n in dict.fromkeys(names))
        return Requirement(name, alternatives, years, weight)

    def from_names(self, names: tuple[str, ...], years: float, weight: float) -> Requirement:
        """An either-of requirement read from a description (each name one alternative)."""
        label = " / ".join(names)
        return Requirement(label, tuple(self.alternative(n) for n in names), years, weight)

    def alternative(self, name: str) -> Alternative:
        """One alternative, resolved (see the module docstring)."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        index = self._index
        key = phrase_key(name)
        curated = self._curated(name)
        joined = phrase_key("".join(w for w, _, _ in words(name)))
        keys = tuple(k for k in ((key, joined) if " " in key else (key,)) if k)
        concepts = {c for k in keys for c in index.skills_for(k)}
        # A name that is a skill is a skill; one that only names occupations is a job title.
        occupations = frozenset() if concepts else frozenset(index.occupations_for(key))
        related: dict[int, float] = {}
        for concept in concepts:
            for near, credit in index.related(concept).items():
                if near not in concepts and credit > related.get(near, 0.0):
                    related[near] = credit
        if key:
            containing = sorted(index.skill_keys_containing(key), key=lambda k: (len(k), k))
            for phrase in containing[:_CONTAINING_LIMIT]:
                for concept in index.skills_for(phrase):
                    if concept not in concepts:
                        related[concept] = max(related.get(concept, 0.0), CONTAINING_CREDIT)
        implied = frozenset(self._taxonomy.implied(curated) - {curated}) if curated else frozenset()
        content = tuple(
            (stem, index.idf(stem))
            for stem in dict.fromkeys(stems(w for w, _, _ in words(name)))
            if stem and stem not in STOPWORDS
        )
        found = Alternative(
            name, key, keys, curated, frozenset(concepts), occupations, related, implied, content
        )
        if len(self._cache) < 50_000:
            self._cache[name] = found
        return found

    def _curated(self, name: str) -> str | None:
        canonical = self._taxonomy.canonical(name)
        if canonical is None:
            mentions = self._taxonomy.find(name)
            if len(mentions) == 1 and len(mentions[0].text) >= len(name.strip()) - 2:
                canonical = mentions[0].skill
        return canonical
