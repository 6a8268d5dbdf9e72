"""Depth of relevant experience: how much of a career the job's own work fills.

A recruiter reads two candidates who both name the job's skills and prefers the one who has
done that work for longer and writes about it at length. Two measures, each 0..1, averaged:

* **relevant years**: every dated role counts its years times how much of the job's words
  (the BM25 query: title, criteria, description, idf-weighted) its own lines hold, squared —
  a role holding half of the words' weight or more counts in full, one sharing a single word
  with the job hardly at all — and the sum saturates: 1 − e^(−years/5);
* **evidence lines**: the lines that write a word of the requested skills, each counted by
  its strength (a recent dated role most, a bare skills list least, see ``skills``),
  saturating as 1 − e^(−lines/20).

Nothing here needs a candidate pool: the same résumé always gets the same value.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from screening.local.relevance import Query
from screening.local.resume import Resume, Role
from screening.local.skills import SkillEvidence

FULL_MATCH_SHARE = 0.5  # a role holding this share of the job's word weight counts in full
YEARS_SCALE = 5.0  # relevant years at which the years measure reaches 1 − 1/e
LINES_SCALE = 20.0  # evidence lines at which the lines measure reaches 1 − 1/e


@dataclass(frozen=True, slots=True)
class Depth:
    """The depth value and what it rests on, for the reasoning."""

    value: float
    relevant_years: float
    evidence_lines: float
    best_role: Role | None  # the role adding most relevant years
    best_years: float


def depth(resume: Resume, evidence: SkillEvidence, query: Query) -> Depth:
    """The depth of relevant experience of a résumé for a job (see the module docstring)."""
    terms = query.terms
    mass = sum(weight * idf for weight, idf in terms.values())
    relevant = 0.0
    best_role: Role | None = None
    best_years = 0.0
    if mass > 0:
        stems, token_lines = resume.tokens.stems, resume.token_lines
        for role in resume.roles:
            first = bisect.bisect_left(token_lines, role.first_line)
            last = bisect.bisect_left(token_lines, role.last_line, first)
            held = {s for s in stems[first:last] if s in terms}
            share = sum(terms[s][0] * terms[s][1] for s in held) / mass
            years = (role.last_month - role.first_month) / 12  # [first, last) as in dates
            counted = max(0.0, years) * min(1.0, share / FULL_MATCH_SHARE) ** 2
            relevant += counted
            if counted > best_years + 1e-9:
                best_role, best_years = role, counted
    lines: set[int] = set()
    for found in evidence.word_lines.values():
        lines |= found
    weighted = sum(evidence.strength(line) for line in lines)
    value = ((1 - math.exp(-relevant / YEARS_SCALE)) + (1 - math.exp(-weighted / LINES_SCALE))) / 2
    return Depth(value, relevant, weighted, best_role, best_years)
