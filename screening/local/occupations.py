"""Occupations: the job's, inferred from its title or skills, and the candidate's, from the
titles they held, compared through ISCO-08 groups.

A title found in a résumé ("Senior Tax Accountant", "Sous Chef") names ESCO/O*NET
occupations, each in an ISCO-08 unit group. Two unit groups are as close as the length of
their common code prefix: same unit group 1, same minor group 0.6, same sub-major group 0.35,
same major group 0.1. A title counts for what it is, where it is held: the headline and a
current role fully, older roles less (the same recency as skills).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from screening.index import TaxonomyIndex
from screening.local.resume import Resume
from screening.phrases import Tokens
from screening.phrases import words as _words

PREFIX_CLOSENESS = {4: 1.0, 3: 0.6, 2: 0.35, 1: 0.1, 0: 0.0}
MAX_TITLE_WORDS = 8  # a longer line is prose, not a title
TITLE_SHARE = 0.5  # titles must make up this much of a line's words for it to be a title
MAX_ROLE_TITLE_OFFSET = 8  # lines after a role's dates where its title may stand
INFERRED_OCCUPATIONS = 5


@dataclass(frozen=True, slots=True)
class JobOccupation:
    """The job's occupation: ISCO unit groups with weights, and where it was read."""

    groups: dict[str, float]
    labels: tuple[str, ...]
    source: str  # title | skills

    def closeness(self, code: str) -> float:
        """How close an ISCO unit group is to the job's: the best of the job's groups, each
        counted by its weight relative to the job's main group."""
        if not code:
            return 0.0
        top = max(self.groups.values())
        return max(
            weight / top * PREFIX_CLOSENESS[_common_prefix(code, group)]
            for group, weight in self.groups.items()
        )


@dataclass(frozen=True, slots=True)
class TitleHit:
    """A title in the résumé: its line, the occupations it names, how much it counts."""

    line: int
    occupations: frozenset[int]
    weight: float


@dataclass(frozen=True, slots=True)
class OccupationFit:
    """How close the candidate's titles come to the job's occupation (0..1)."""

    fit: float
    line: int | None
    closeness: float
    label: str


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return min(n, 4)


def occupation_from_text(index: TaxonomyIndex, text: str) -> JobOccupation | None:
    """The occupation a job title (or a title-like phrase) names, if the index knows it."""
    tokens = Tokens.of(text)
    groups: dict[str, float] = defaultdict(float)
    labels: list[str] = []
    for hit in index.title_table.find(tokens, index.title_phrases):
        occupations = [index.occupation(o) for o in index.occupations_for(hit.key)]
        coded = [o for o in occupations if o.code]
        for occupation in coded:
            groups[occupation.code] += 1 / len(coded)
        if coded:
            labels.append(text[hit.start : hit.end])
    return _normalised(groups, labels, "title")


def occupation_from_skills(index: TaxonomyIndex, concepts: Iterable[int]) -> JobOccupation | None:
    """The occupations whose essential skills the job's skills are (rarer skills count more)."""
    votes: dict[int, float] = defaultdict(float)
    for concept in set(concepts):
        holders = index.occupations_with(concept)
        for occupation in holders:
            votes[occupation] += 1 / math.log2(2 + len(holders))
    if not votes:
        return None
    top = sorted(votes, key=lambda o: (-votes[o], o))[:INFERRED_OCCUPATIONS]
    groups: dict[str, float] = defaultdict(float)
    for occupation in top:
        code = index.occupation(occupation).code
        if code:
            groups[code] += votes[occupation]
    return _normalised(groups, [index.occupation(o).label for o in top[:3]], "skills")


def _normalised(groups: dict[str, float], labels: list[str], source: str) -> JobOccupation | None:
    total = sum(groups.values())
    if not total:
        return None
    return JobOccupation(
        {code: w / total for code, w in sorted(groups.items())}, tuple(labels), source
    )


_SEGMENT_RE = re.compile(r"\s[—–-]\s|[,|·()\t]|\s(?:at|@)\s", re.IGNORECASE)


def candidate_titles(resume: Resume, index: TaxonomyIndex) -> list[TitleHit]:
    """Titles on title-like lines: the headline, and short lines at the top of a role.

    A line is cut into segments at commas, dashes and "at" ("Senior Tax Accountant, Acme —
    2019 – present"); a segment is a title when it is short, does not end a sentence, and
    titles make up at least half of its words.
    """
    by_line: dict[int, list[tuple[int, int, frozenset[int]]]] = defaultdict(list)
    for hit in index.title_table.find(resume.tokens, index.title_phrases):
        line = resume.token_lines[hit.first]
        occupations = frozenset(index.occupations_for(hit.key))
        by_line[line].append((hit.start, hit.last - hit.first, occupations))
    hits: list[TitleHit] = []
    for line, found in sorted(by_line.items()):
        text = resume.lines[line].rstrip()
        if text.endswith(".") or resume.words_on(line) > 3 * MAX_TITLE_WORDS:
            continue
        weight = _title_weight(resume, line)
        if not weight:
            continue
        base = resume.starts[line]
        cuts = [0, *(m.end() for m in _SEGMENT_RE.finditer(text)), len(text) + 1]
        for left, right in itertools.pairwise(cuts):
            inside = [(n, occ) for start, n, occ in found if left <= start - base < right]
            if not inside:
                continue
            words = len(_words(text[left:right]))
            if words <= MAX_TITLE_WORDS and sum(n for n, _ in inside) >= TITLE_SHARE * words:
                hits.extend(TitleHit(line, occ, weight) for _, occ in inside)
    return hits


def _title_weight(resume: Resume, line: int) -> float:
    section = resume.sections[line]
    if section == "headline":
        return 1.0
    role = resume.role_of_line.get(line)
    if role is not None and line - role.line <= MAX_ROLE_TITLE_OFFSET:
        ago = role.years_ago(resume.now)
        return max(0.75, 1 - 0.03 * max(0.0, ago - 1))
    if section in ("work", "summary"):
        return 0.6
    return 0.0


def occupation_fit(
    job: JobOccupation, titles: list[TitleHit], index: TaxonomyIndex
) -> OccupationFit:
    """The best title's weight × its closeness to the job's occupation.

    A title that names several occupations counts the mean of its closest and its average
    reading, so an ambiguous title ("consultant") says less than a precise one ("tax
    accountant").
    """
    best = OccupationFit(0.0, None, 0.0, "")
    cache: dict[frozenset[int], tuple[float, str]] = {}
    by_code: dict[str, float] = {}

    def near(code: str) -> float:
        found = by_code.get(code)
        if found is None:
            found = by_code[code] = job.closeness(code)
        return found

    for hit in titles:
        scored = cache.get(hit.occupations)
        if scored is None:
            occupations = [index.occupation(o) for o in sorted(hit.occupations)]
            values = [near(o.code) for o in occupations]
            # Between the best reading and the mean one: an ambiguous title counts less.
            mean = (max(values) + sum(values) / len(values)) / 2 if values else 0.0
            top = max(occupations, key=lambda o: near(o.code)) if occupations else None
            scored = cache[hit.occupations] = (mean, top.label if top else "")
        closeness, label = scored
        if hit.weight * closeness > best.fit + 1e-9:
            best = OccupationFit(hit.weight * closeness, hit.line, closeness, label)
    return best
