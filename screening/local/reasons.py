"""The reasoning text and evidence list of a local screening: every point quoted."""

from __future__ import annotations

from collections.abc import Sequence

from screening.local.education import LEVEL_NAMES
from screening.local.job import JobProfile
from screening.local.occupations import OccupationFit
from screening.local.relevance import Relevance
from screening.local.resume import Resume
from screening.local.skills import Credit, SkillEvidence
from screening.result import Evidence

MAX_LISTED = 10


def add_evidence(evidence: list[Evidence], line: str, supports: str) -> None:
    """Record a quoted résumé line once per thing it supports."""
    line, supports = clip(line.strip(), 400), clip(supports, 200)
    if line and not any(e.line == line and e.supports == supports for e in evidence):
        evidence.append(Evidence.model_construct(line=line, supports=supports))


def quote(line: str, limit: int = 120) -> str:
    """A résumé line as quoted in the reasoning."""
    return clip(" ".join(line.split()), limit)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def points(weight: float, value: float, total_weight: float) -> str:
    """A component's contribution to the 0–100 score, e.g. "31.2/40"."""
    scale = 100 / total_weight if total_weight else 0.0
    return f"{weight * value * scale:.1f}/{weight * scale:.0f}"


def _where(evidence: SkillEvidence, line: int) -> str:
    resume = evidence.resume
    role = resume.role_of_line.get(line)
    if role is not None:
        first, last = role.first_month // 12, role.last_month // 12
        span = f"{first}" if first == last else f"{first}–{last}"
        if role.last_month >= resume.now:
            span = f"{first}–present"
        return f"in a role {span}"
    return {
        "headline": "in the headline",
        "summary": "in the summary",
        "skills": "listed in skills",
        "work": "in the experience section",
        "education": "in education",
    }.get(resume.sections[line], "mentioned")


def skill_reasons(
    kind: str,
    credits: Sequence[Credit],
    evidence: SkillEvidence,
    share: str,
    out: list[Evidence],
) -> str:
    """One sentence for a list of requirements: what met each, where, quoted."""
    resume = evidence.resume
    met = sorted(
        (c for c in credits if c.credit > 0), key=lambda c: (-c.credit, c.requirement.label)
    )
    parts = []
    for c in met[:MAX_LISTED]:
        line = resume.lines[c.line] if c.line is not None else ""
        how = {
            "direct": "",
            "title": f" (as title “{quote(c.via, 60)}”)",
            "related": f" (related: {c.via})",
            "parts": f" (partly, from {c.via})",
            "partial": " (partly, its words)",
        }[c.route]
        years = f", {c.years:.1f} yrs" if c.years else ""
        asked = f" (asked {c.requirement.years:g})" if c.requirement.years else ""
        where = _where(evidence, c.line) if c.line is not None else ""
        parts.append(
            f"{c.requirement.label}{how} {c.credit:.2f}, {where}{years}{asked}: “{quote(line)}”"
        )
        if line:
            add_evidence(out, line, f"{c.requirement.label}{how}{years}")
    missing = [c.requirement.label for c in credits if c.credit <= 0]
    found = sum(1 for c in credits if c.found)
    text = f"{kind} {share} ({found}/{len(credits)} met"
    partly = sum(1 for c in credits if c.credit > 0 and not c.found)
    text += f", {partly} partly)" if partly else ")"
    if parts:
        text += " — " + "; ".join(parts)
    if len(met) > MAX_LISTED:
        text += f"; and {len(met) - MAX_LISTED} more"
    if missing:
        text += ". Missing: " + ", ".join(missing[:15])
    return text + "."


def occupation_reason(
    fit: OccupationFit, profile: JobProfile, resume: Resume, share: str, out: list[Evidence]
) -> str:
    """The occupation component: the job's occupation and the closest title held."""
    job = profile.occupation
    assert job is not None
    named = ", ".join(job.labels[:3]) or "?"
    source = f"job title “{named}”" if job.source == "title" else f"skills (like {named})"
    groups = ", ".join(f"ISCO {g}" for g in list(job.groups)[:3])
    if fit.line is None:
        return f"Occupation fit {share}: job read from {source} ({groups}); no close title found."
    line = resume.lines[fit.line]
    add_evidence(out, line, f"title close to the job's occupation ({fit.closeness:.2f})")
    return (
        f"Occupation fit {share}: job read from {source} ({groups}); closest title "
        f"“{quote(line, 80)}” ≈ {fit.label} (closeness {fit.closeness:.2f})."
    )


def relevance_reason(found: Relevance, share: str) -> str:
    """The lexical component: BM25 and the words that gave most of it."""
    words = ", ".join(found.top_words) or "none"
    return f"Relevance {share}: BM25 {found.value:.2f} of the job's words (most: {words})."


def experience_reason(resume: Resume, profile: JobProfile, share: str, out: list[Evidence]) -> str:
    """Total years, quoted from the dated roles."""
    if resume.total_years is None:
        return f"Experience {share}: no dated entries found (asked {profile.min_years:g})."
    quotes = [resume.lines[r.line] for r in resume.roles[:3]]
    for line in quotes:
        add_evidence(out, line, "dated experience")
    source = "dated entries" if resume.roles else "the résumé's own claim"
    quoted = "; ".join(f"“{quote(q)}”" for q in quotes)
    return (
        f"Experience {share}: {resume.total_years:.1f} years from {source} "
        f"(asked {profile.min_years:g}). {quoted}"
    ).strip()


def education_reason(resume: Resume, profile: JobProfile, share: str, out: list[Evidence]) -> str:
    """The highest degree found against the one asked."""
    if resume.education_line is None:
        return f"Education {share}: none found (asked {profile.education_text})."
    line = resume.lines[resume.education_line]
    add_evidence(out, line, f"education: {LEVEL_NAMES[resume.education]}")
    return (
        f"Education {share}: {LEVEL_NAMES[resume.education]} (asked {profile.education_text}) "
        f"— “{quote(line)}”."
    )
