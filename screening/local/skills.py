"""Skill evidence in a résumé, and how well it meets each requirement.

Every mention is weighed by where it stands (see :data:`SECTION_STRENGTH`): used in a dated
role counts most, and less the longer ago the role ended; named in a summary or headline a
little less; merely listed under "Skills" less again. A requirement's credit (0..1) is the
best of:

* **direct**: the requirement itself (its words, a curated alias, an index concept it names,
  or a synonym title) at its strongest mention, raised a little by repeated mentions and
  scaled by the years asked when the job asks for years;
* **related**: a concept near it in the ESCO hierarchy, or one whose label contains it, at
  that concept's strength times the closeness (0.4–0.7);
* **curated parts**: what a curated skill builds on (LAMP ← Linux, PHP, MySQL), 0.4 × share;
* **partial**: most of its rarer words written together on one line, at most 0.5.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass

from screening.index import TaxonomyIndex
from screening.local.dates import merged_months
from screening.local.requirements import IMPLIED_CREDIT, Alternative, Requirement
from screening.local.resume import Resume, claim_for
from screening.phrases import PhraseTable
from screening.taxonomy import Taxonomy

SECTION_STRENGTH = {
    "work": 0.8,  # in the experience part but not under a dated role
    "headline": 0.85,
    "summary": 0.8,
    "skills": 0.7,
    "other": 0.6,
    "education": 0.5,
}
ROLE_STRENGTH = 1.0
RECENCY_FLOOR = 0.75  # a role that ended 9+ years ago still beats a bare list (0.7)
RECENCY_PER_YEAR = 0.03
UNDATED_YEARS_CREDIT = 0.75
PARTIAL_CREDIT = 0.5
TENURE_SHARE = 0.1
TENURE_YEARS = 5.0
REPEAT_BONUS = 0.15  # most of it reached at four mentions on different lines


@dataclass(frozen=True, slots=True)
class Credit:
    """How a requirement was met: credit 0..1, the route, the line quoted, years found."""

    requirement: Requirement
    credit: float
    route: str = ""  # direct | title | related | parts | partial | "" (missing)
    via: str = ""  # what matched, when not the requirement itself
    line: int | None = None
    years: float | None = None
    found: bool = False  # written in the résumé itself (or as a title held), whatever scored


class SkillEvidence:
    """The skills, titles and words found in one résumé, and their strength per line."""

    def __init__(
        self,
        resume: Resume,
        index: TaxonomyIndex,
        taxonomy: Taxonomy,
        literals: PhraseTable,
        literal_keys: Container[str],
        job_words: frozenset[str],
    ) -> None:
        self.resume = resume
        self._index = index
        tokens, token_lines = resume.tokens, resume.token_lines
        self.concepts: dict[int, list[int]] = defaultdict(list)
        for hit in index.skill_table.find(tokens, index.skill_phrases):
            line = token_lines[hit.first]
            for concept in index.skills_for(hit.key):
                self.concepts[concept].append(line)
        self.literals: dict[str, list[int]] = defaultdict(list)
        for hit in literals.find(tokens, literal_keys):
            self.literals[hit.key].append(token_lines[hit.first])
        self.curated: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for mention in taxonomy.iter_mentions(resume.text):
            line = resume.line_of(mention.start)
            column = mention.start - resume.starts[line]
            for name in taxonomy.implied(mention.skill):
                self.curated[name].append((line, column))
        self.word_lines: dict[str, set[int]] = defaultdict(set)
        for stem, line in zip(tokens.stems, token_lines, strict=True):
            if stem in job_words:
                self.word_lines[stem].add(line)
        self._strength: dict[int, float] = {}

    def label(self, concept: int) -> str:
        """A concept's label, for the reasoning."""
        return self._index.concept(concept).label

    def strength(self, line: int) -> float:
        """How much a mention on this line counts (section and, in a role, recency)."""
        found = self._strength.get(line)
        if found is None:
            role = self.resume.role_of_line.get(line)
            if role is not None:
                ago = role.years_ago(self.resume.now)
                recency = max(RECENCY_FLOOR, 1 - RECENCY_PER_YEAR * max(0.0, ago - 1))
                found = ROLE_STRENGTH * recency
            else:
                found = SECTION_STRENGTH.get(self.resume.sections[line], 0.6)
            self._strength[line] = found
        return found

    def best_line(self, lines: Iterable[int]) -> tuple[float, int | None, int]:
        """The strongest line, its strength and how many distinct lines there are."""
        distinct = set(lines)
        if not distinct:
            return 0.0, None, 0
        line = max(distinct, key=lambda i: (self.strength(i), -i))
        return self.strength(line), line, len(distinct)

    def years(self, lines: Iterable[int]) -> float | None:
        """Years of use: the months of the roles these lines are in, or years claimed."""
        intervals = []
        for line in set(lines):
            role = self.resume.role_of_line.get(line)
            if role is not None:
                intervals.append((role.first_month, role.last_month))
        dated = merged_months(intervals) / 12 if intervals else 0.0
        return dated if dated > 0 else None


def credit_for(requirement: Requirement, evidence: SkillEvidence, titles: TitleLines) -> Credit:
    """The credit a résumé earns for one requirement (see the module docstring)."""
    best = Credit(requirement, 0.0)
    found = False
    for alternative in requirement.alternatives:
        for candidate in _routes(requirement, alternative, evidence, titles):
            found |= candidate.route in ("direct", "title")
            if candidate.credit > best.credit + 1e-9:
                best = candidate
    return dataclasses.replace(best, found=found) if found else best


# Candidate titles found by the occupation module: line -> occupations named there.
TitleLines = Mapping[int, frozenset[int]]


def _routes(
    requirement: Requirement, alternative: Alternative, evidence: SkillEvidence, titles: TitleLines
) -> Iterable[Credit]:
    lines: list[int] = []
    for key in alternative.keys:
        lines.extend(evidence.literals.get(key, ()))
    claimed = 0.0
    if alternative.curated:
        for at, column in evidence.curated.get(alternative.curated, ()):
            lines.append(at)
            claimed = max(claimed, claim_for(evidence.resume.claims.get(at, []), column))
    for concept in alternative.concepts:
        lines.extend(evidence.concepts.get(concept, ()))
    if lines:
        strength, line, count = evidence.best_line(lines)
        credit = strength * (1 - REPEAT_BONUS + REPEAT_BONUS * min(1.0, (count - 1) / 3))
        years = evidence.years(lines)
        if claimed and (years is None or claimed > years):
            years = claimed
        if requirement.years > 0:
            if years is None:
                credit *= UNDATED_YEARS_CREDIT
            else:
                credit *= 0.5 + 0.5 * min(1.0, years / requirement.years)
        else:
            # Unasked, years of use still tell: up to a tenth more, full at five years.
            credit *= 1 - TENURE_SHARE + TENURE_SHARE * min(1.0, (years or 0.0) / TENURE_YEARS)
        yield Credit(requirement, credit, "direct", "", line, years)

    if alternative.occupations:
        title_lines = [i for i, occ in titles.items() if occ & alternative.occupations]
        if title_lines:
            strength, line, _ = evidence.best_line(title_lines)
            via = evidence.resume.lines[line].strip() if line is not None else ""
            yield Credit(requirement, strength, "title", via, line)

    best_related: tuple[float, int, int | None] = (0.0, -1, None)
    for concept, closeness in alternative.related.items():
        found = evidence.concepts.get(concept)
        if found:
            strength, line, _ = evidence.best_line(found)
            if closeness * strength > best_related[0]:
                best_related = (closeness * strength, concept, line)
    if best_related[1] >= 0:
        label = evidence.label(best_related[1])
        yield Credit(requirement, best_related[0], "related", label, best_related[2])

    if alternative.implied:
        present = [p for p in alternative.implied if p in evidence.curated]
        if present:
            share = len(present) / len(alternative.implied)
            line = evidence.curated[present[0]][0][0]
            yield Credit(requirement, IMPLIED_CREDIT * share, "parts", ", ".join(present), line)

    if len(alternative.words) >= 2:
        total = sum(w for _, w in alternative.words)
        per_line: dict[int, float] = defaultdict(float)
        for stem, weight in alternative.words:
            for line in evidence.word_lines.get(stem, ()):
                per_line[line] += weight
        if per_line and total:
            line = max(per_line, key=lambda i: (per_line[i] * evidence.strength(i), -i))
            share = per_line[line] / total
            if share >= 0.5:
                credit = PARTIAL_CREDIT * share * share * evidence.strength(line)
                yield Credit(requirement, credit, "partial", "", line)


def coverage(credits: Iterable[Credit]) -> float:
    """The weighted mean credit of a list of requirements."""
    items = list(credits)
    total = sum(c.requirement.weight for c in items)
    return sum(c.requirement.weight * c.credit for c in items) / total if total else 0.0
