"""Score assembly: components, weights, disqualifiers, recommendation and confidence.

The score (0–100) is the weighted mean of the components that apply to the job; one that does
not apply is left out and the others re-weighted:

==============  ======  =====================================================================
component       weight  value (0..1)
==============  ======  =====================================================================
must-have       40      weighted mean credit of the must-have skills (see ``skills``); for
                        skills read from a description, 1 - (1 - mean)² (such lists are long)
nice-to-have    10      the same over nice-to-have skills
occupation      20      the closest title held vs the job's occupation (``occupations``);
                        10 when the occupation is only inferred from the skills
relevance       15      BM25 of the résumé for the job's words, over its ceiling, ×1.5, ≤ 1
experience      10      min(1, total years / min_experience_years), 0.3 if nothing is dated
education       10      1 at or above the required level, 0.5 one below, 0.25 unknown
location        10      1 if any preferred location (e.g. "Remote") appears, else 0
==============  ======  =====================================================================

The weights are set a priori (what a recruiter weighs first: the skills asked, then whether
the candidate has done this job, then the rest), never fitted to graded data. A matched
disqualifier caps the score at 20 and rejects. Scores are rounded to 0.1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from screening.criteria import Criteria
from screening.index import TaxonomyIndex
from screening.local import reasons as why
from screening.local.job import JobProfile
from screening.local.occupations import OccupationFit, candidate_titles, occupation_fit
from screening.local.relevance import Relevance, relevance
from screening.local.resume import Resume
from screening.local.skills import Credit, SkillEvidence, coverage, credit_for
from screening.result import Evidence, Recommendation, ScreeningResult

WEIGHTS = {
    "must": 40.0,
    "nice": 10.0,
    "occupation": 20.0,
    "relevance": 15.0,
    "experience": 10.0,
    "education": 10.0,
    "location": 10.0,
}
INFERRED_OCCUPATION_SHARE = 0.5  # of the occupation weight, when read from skills only
RELEVANCE_SCALE = 1.5  # most of the job's words, a few times each, is fully relevant
DISQUALIFIED_CAP = 20.0
FLAG_INJECTION = "possible_prompt_injection"


@dataclass(frozen=True, slots=True)
class Components:
    """The values and weights of the components that apply, plus what they rest on."""

    values: dict[str, float]
    weights: dict[str, float]
    must: list[Credit]
    nice: list[Credit]
    fit: OccupationFit | None

    @property
    def score(self) -> float:
        total = sum(self.weights.values())
        if not total:
            return 50.0
        return 100 * sum(self.weights[k] * v for k, v in self.values.items()) / total


def score(
    resume: Resume,
    evidence: SkillEvidence,
    profile: JobProfile,
    criteria: Criteria,
    index: TaxonomyIndex,
    *,
    injected: bool,
    weights: Mapping[str, float] | None = None,
) -> ScreeningResult:
    """The screening result of a read résumé against a job profile (``weights`` replace
    :data:`WEIGHTS`; a zero weight drops a component)."""
    base = WEIGHTS if weights is None else weights
    titles = candidate_titles(resume, index)
    title_lines: dict[int, frozenset[int]] = {}
    for hit in titles:
        title_lines[hit.line] = title_lines.get(hit.line, frozenset()) | hit.occupations
    must = [credit_for(r, evidence, title_lines) for r in profile.must]
    nice = [credit_for(r, evidence, title_lines) for r in profile.nice]

    values: dict[str, float] = {}
    applied: dict[str, float] = {}
    if must:
        mean = coverage(must)
        values["must"] = 1 - (1 - mean) ** 2 if profile.derived else mean
    if nice:
        values["nice"] = coverage(nice)
    fit = None
    if profile.occupation is not None:
        fit = occupation_fit(profile.occupation, titles, index)
        values["occupation"] = fit.fit
        if profile.occupation.source != "title":
            applied["occupation"] = base["occupation"] * INFERRED_OCCUPATION_SHARE
    found = relevance(profile.query, resume.tokens.stems, len(resume.tokens))
    if profile.query.terms:
        values["relevance"] = min(1.0, RELEVANCE_SCALE * found.value)
    if profile.min_years > 0:
        years = resume.total_years
        values["experience"] = 0.3 if years is None else min(1.0, years / profile.min_years)
    if profile.education:
        if resume.education >= profile.education:
            values["education"] = 1.0
        elif resume.education == profile.education - 1:
            values["education"] = 0.5
        else:
            values["education"] = 0.25 if resume.education == 0 else 0.0
    location_line = _first_line(resume, [p for _, p in profile.locations])
    if profile.locations:
        values["location"] = 1.0 if location_line is not None else 0.0
    for name in values:
        applied.setdefault(name, base.get(name, 0.0))
    kept = {k: v for k, v in values.items() if applied[k] > 0}
    parts = Components(kept, {k: applied[k] for k in kept}, must, nice, fit)

    total = parts.score
    disqualified = _disqualifications(profile, resume, evidence)
    if disqualified:
        total = min(total, DISQUALIFIED_CAP)
    total = round(total, 1)

    thresholds = criteria.filtering
    recommendation: Recommendation
    if disqualified or total < thresholds.min_score_threshold:
        recommendation = "reject"
    elif total >= thresholds.auto_advance_score:
        recommendation = "advance"
    else:
        recommendation = "review"

    flags: list[str] = []
    if injected:
        flags.append(FLAG_INJECTION)
        if recommendation == "advance":
            recommendation = "review"
    if disqualified:
        flags.append("disqualified")
    if profile.derived:
        flags.append("skills_from_job_description")
    if not resume.roles:
        flags.append("no_dated_experience")
    if resume.words < 120:
        flags.append("short_resume")

    evidence_list: list[Evidence] = []
    text = _reasoning(
        total,
        recommendation,
        parts,
        resume,
        evidence,
        profile,
        found,
        location_line,
        disqualified,
        injected,
        evidence_list,
    )
    confidence = _confidence(total, resume, evidence, profile, criteria, bool(disqualified))
    return ScreeningResult(
        score=total,
        reasoning=why.clip(text, 4000),
        matched_skills=[c.requirement.label for c in must + nice if c.found][:100],
        missing_skills=[c.requirement.label for c in must + nice if not c.found][:100],
        recommendation=recommendation,
        evidence=evidence_list[:50],
        confidence=confidence,
        flags=flags[:20],
    )


def _reasoning(
    total: float,
    recommendation: str,
    parts: Components,
    resume: Resume,
    evidence: SkillEvidence,
    profile: JobProfile,
    found: Relevance,
    location_line: int | None,
    disqualified: list[tuple[str, int | None]],
    injected: bool,
    out: list[Evidence],
) -> str:
    weight_sum = sum(parts.weights.values())

    def share(name: str) -> str:
        return why.points(parts.weights[name], parts.values[name], weight_sum)

    reasons = [f"Score {total:g}/100 ({recommendation})."]
    if parts.must and "must" in parts.values:
        reasons.append(why.skill_reasons("Must-have", parts.must, evidence, share("must"), out))
    if parts.nice and "nice" in parts.values:
        reasons.append(why.skill_reasons("Nice-to-have", parts.nice, evidence, share("nice"), out))
    if parts.fit is not None and "occupation" in parts.values:
        reasons.append(why.occupation_reason(parts.fit, profile, resume, share("occupation"), out))
    if "relevance" in parts.values:
        reasons.append(why.relevance_reason(found, share("relevance")))
    if "experience" in parts.values:
        reasons.append(why.experience_reason(resume, profile, share("experience"), out))
    elif resume.total_years is not None:
        source = "dated entries" if resume.roles else "the résumé's own claim"
        reasons.append(f"Experience (not asked): {resume.total_years:.1f} years from {source}.")
    if "education" in parts.values:
        reasons.append(why.education_reason(resume, profile, share("education"), out))
    if profile.locations:
        wanted = ", ".join(place for place, _ in profile.locations)
        if location_line is not None:
            line = resume.lines[location_line]
            reasons.append(f"Location {share('location')}: matches {wanted} — “{why.quote(line)}”.")
            why.add_evidence(out, line, f"location: {wanted}")
        else:
            reasons.append(f"Location {share('location')}: none of {wanted} found.")
    for factor, line_index in disqualified:
        quoted = ""
        if line_index is not None:
            line = resume.lines[line_index]
            quoted = f" — “{why.quote(line)}”"
            why.add_evidence(out, line, f"disqualifier: {factor}")
        reasons.append(f"Disqualified: {factor}{quoted}.")
    if injected:
        reasons.append("Text addressing an AI model was found and ignored; needs human review.")
    if profile.derived:
        reasons.append("Skills were read from the job description (no explicit criteria).")
    return " ".join(reasons)


def _first_line(resume: Resume, patterns: Sequence[re.Pattern[str]]) -> int | None:
    """The first line where any pattern matches."""
    found = [m.start() for m in (p.search(resume.text) for p in patterns) if m]
    return resume.line_of(min(found)) if found else None


def _disqualifications(
    profile: JobProfile, resume: Resume, evidence: SkillEvidence
) -> list[tuple[str, int | None]]:
    hits: list[tuple[str, int | None]] = []
    for rule in profile.disqualifiers:
        if rule.missing is not None:
            if not credit_for(rule.missing, evidence, {}).found:
                hits.append((rule.text, None))
        elif rule.below_years is not None:
            if resume.total_years is not None and resume.total_years < rule.below_years:
                hits.append((rule.text, None))
        elif rule.phrase is not None:
            line = _first_line(resume, [rule.phrase])
            if line is not None:
                hits.append((rule.text, line))
    return hits


def _confidence(
    total: float,
    resume: Resume,
    evidence: SkillEvidence,
    profile: JobProfile,
    criteria: Criteria,
    disqualified: bool,
) -> float:
    """How sure the local screener is: low for thin or ambiguous résumés and near thresholds."""
    length = min(1.0, max(0.2, (resume.words - 40) / 260))
    substance = 1.0
    if not resume.roles:
        substance -= 0.2
    if not evidence.concepts and not evidence.curated:
        substance -= 0.4
    if disqualified:
        margin = 1.0
    else:
        thresholds = (criteria.filtering.min_score_threshold, criteria.filtering.auto_advance_score)
        distance = min(abs(total - t) for t in thresholds)
        margin = 0.5 + 0.5 * min(1.0, distance / 10)
    derived = 0.85 if profile.derived else 1.0
    return round(max(0.0, min(1.0, length * substance * margin * derived)), 3)
