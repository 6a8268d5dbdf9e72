"""A job as the local screener scores against it, built once per job and cached.

The profile holds the resolved requirements (from the criteria, or read from the description
when the criteria list no skills), the job's occupation (from its title, else from a
requirement that is a title, else inferred from its skills), the BM25 query of its words, the
literal phrase table of its requirements, and the criteria's years, education, locations and
disqualifiers.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from screening.criteria import Criteria
from screening.index import TaxonomyIndex
from screening.local import description as described
from screening.local.education import LEVEL_NAMES, education_level
from screening.local.occupations import (
    JobOccupation,
    occupation_from_skills,
    occupation_from_text,
)
from screening.local.relevance import Query, build_query
from screening.local.requirements import Requirement, Resolver
from screening.phrases import PhraseTable
from screening.taxonomy import Taxonomy

MAX_PROFILES = 512
_TITLE_LINE_WORDS = 8

_NO_SKILL_RE = re.compile(
    r"^\s*(?:no|without|lacks?|lacking|missing)\s+(?P<what>.+?)"
    r"(?:\s+(?:experience|skills?|knowledge|background|exposure|certification))?\s*$",
    re.IGNORECASE,
)
_TOO_JUNIOR_RE = re.compile(
    r"^\s*(?:less\s+than|under|fewer\s+than|below)\s+(?P<n>\d+(?:\.\d+)?)\s+years?\b", re.I
)


@dataclass(frozen=True, slots=True)
class Disqualifier:
    """A disqualifying factor, read as a missing skill, too few years, or a phrase."""

    text: str
    missing: Requirement | None = None
    below_years: float | None = None
    phrase: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class JobProfile:
    """Everything about a job the scoring needs (see the module docstring)."""

    must: tuple[Requirement, ...]
    nice: tuple[Requirement, ...]
    min_years: float
    education: int
    education_text: str
    locations: tuple[tuple[str, re.Pattern[str]], ...]
    disqualifiers: tuple[Disqualifier, ...]
    occupation: JobOccupation | None
    query: Query
    literals: PhraseTable
    literal_keys: frozenset[str]
    words: frozenset[str]  # content stems of the requirements (partial credit)
    derived: bool


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A case-insensitive pattern for a phrase, spaces and hyphens interchangeable."""
    words = [re.escape(w) for w in phrase.split()]
    return re.compile(r"(?<!\w)" + r"[\s\-]+".join(words) + r"(?!\w)", re.IGNORECASE)


class ProfileCache:
    """Job profiles by key, least recently used dropped first (thread-safe)."""

    def __init__(self, taxonomy: Taxonomy, index: TaxonomyIndex) -> None:
        self._resolver = Resolver(taxonomy, index)
        self._taxonomy = taxonomy
        self._index = index
        self._profiles: OrderedDict[Hashable, JobProfile] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        criteria: Criteria,
        job_description: str | None,
        job_title: str | None,
        key: Hashable | None = None,
    ) -> JobProfile:
        """The profile for a job; ``key`` (e.g. job id and criteria version) skips hashing
        the criteria and description."""
        cache_key = (
            key if key is not None else (criteria.model_dump_json(), job_description, job_title)
        )
        with self._lock:
            profile = self._profiles.get(cache_key)
            if profile is not None:
                self._profiles.move_to_end(cache_key)
                return profile
        profile = self._build(criteria, job_description, job_title)
        with self._lock:
            self._profiles[cache_key] = profile
            while len(self._profiles) > MAX_PROFILES:
                self._profiles.popitem(last=False)
        return profile

    def _build(
        self, criteria: Criteria, job_description: str | None, job_title: str | None
    ) -> JobProfile:
        rules = criteria.screening_criteria
        resolver = self._resolver
        must = tuple(resolver.requirement(s.name, float(s.years)) for s in rules.must_have_skills)
        nice = tuple(
            resolver.requirement(s.name, float(s.years)) for s in rules.nice_to_have_skills
        )
        min_years = float(rules.min_experience_years)
        education = education_level(rules.required_education or "", requirement=True)
        education_text = rules.required_education or ""
        derived = False
        if not must and not nice and job_description:
            derived = True
            must, nice = self._from_description(job_description)
            if not min_years:
                min_years = described.min_years(job_description)
            if not education:
                education = described.education(job_description)
                education_text = LEVEL_NAMES[education] if education else ""
        disqualifiers = tuple(self._disqualifier(text) for text in rules.disqualifying_factors)
        locations = tuple((place, phrase_pattern(place)) for place in rules.location_preference)

        occupation = self._occupation(job_title, job_description, must + nice)
        texts = [job_title or "", *(r.label for r in must + nice)]
        if job_description:
            texts.append(job_description)
        literal_keys = frozenset(k for r in must + nice for k in r.keys) | frozenset(
            k for d in disqualifiers if d.missing for k in d.missing.keys
        )
        words = frozenset(w for r in must + nice for a in r.alternatives for w, _ in a.words)
        return JobProfile(
            must=must,
            nice=nice,
            min_years=min_years,
            education=education,
            education_text=education_text,
            locations=locations,
            disqualifiers=disqualifiers,
            occupation=occupation,
            query=build_query(self._index, texts),
            literals=PhraseTable(literal_keys),
            literal_keys=literal_keys,
            words=words,
            derived=derived,
        )

    def _from_description(
        self, text: str
    ) -> tuple[tuple[Requirement, ...], tuple[Requirement, ...]]:
        must: list[Requirement] = []
        nice: list[Requirement] = []
        for skill in described.skills_from_description(text, self._taxonomy, self._index):
            requirement = self._resolver.from_names(skill.names, skill.years, skill.weight)
            (must if skill.kind == "must" else nice).append(requirement)
        return tuple(must), tuple(nice)

    def _occupation(
        self,
        title: str | None,
        description: str | None,
        requirements: tuple[Requirement, ...],
    ) -> JobOccupation | None:
        index = self._index
        if title:
            found = occupation_from_text(index, title)
            if found is not None:
                return found
        titled = [a.label for r in requirements for a in r.alternatives if a.occupations]
        if titled:
            found = occupation_from_text(index, " ; ".join(titled))
            if found is not None:
                return found
        if description:
            first = description.strip().split("\n", 1)[0]
            head = re.split(r"[.!?:]\s", first, maxsplit=1)[0]
            if len(head.split()) <= _TITLE_LINE_WORDS:
                found = occupation_from_text(index, head)
                if found is not None:
                    return found
        concepts = [c for r in requirements for a in r.alternatives for c in a.concepts]
        return occupation_from_skills(index, concepts)

    def _disqualifier(self, text: str) -> Disqualifier:
        junior = _TOO_JUNIOR_RE.match(text)
        if junior:
            return Disqualifier(text, below_years=float(junior["n"]))
        missing = _NO_SKILL_RE.match(text)
        if missing:
            return Disqualifier(text, missing=self._resolver.requirement(missing["what"]))
        return Disqualifier(text, phrase=phrase_pattern(text))
