"""The embedded local screener: deterministic, offline, explainable.

``LocalScreener().screen(resume_text, criteria, job_description)`` reads the résumé as text,
finds skills through the taxonomy, dates experience from the entries' date ranges, reads the
highest degree, and scores against the job's criteria. Every point of the score can be traced
to a quoted résumé line (``evidence``).

Score (0–100), the weighted mean of the components that apply to the job:

==============  ======  =====================================================================
component       weight  credit (0..1)
==============  ======  =====================================================================
must-have       50      Σ weight·credit / Σ weight over must-have skills; a skill found earns
                        0.5 + 0.5·min(1, years/required) when years are asked and dated,
                        0.75 when it is found but undated, 1 when no years are asked
nice-to-have    15      the same over nice-to-have skills
experience      15      min(1, total years / min_experience_years), 0.3 if nothing is dated
education       10      1 at or above the required level, 0.5 one level below, 0.25 unknown
location        10      1 if any preferred location (e.g. "Remote") appears, else 0
==============  ======  =====================================================================

A component the job does not ask for is left out and the others re-weighted. A matched
disqualifier caps the score at 20 and rejects. Disqualifiers are read in three shapes:
"No <skill> experience" (disqualifies when the skill is missing), "Less than N years"
(disqualifies below N years in total), and anything else as a literal phrase looked up in the
résumé (so "Currently employed at competitor" only fires if those words are written; name the
competitor instead).

When the criteria list no skills, they are taken from ``job_description``: skills in
"required"/"must have" passages are must-haves, in "preferred"/"nice to have"/"a plus"
passages nice-to-haves, "PHP, Python or Go" / "one of: …" lists become one either-of
requirement, and benefits/EEO boilerplate is ignored.

Résumé text is data: a line (paragraph) holding a phrase that addresses a model (see
:mod:`screening.injection`) is blanked before scoring, so it can neither add nor remove points,
and the result is flagged ``possible_prompt_injection`` (an "advance" becomes "review").
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from screening.criteria import Criteria, Skill
from screening.injection import injection_spans, normalize_text
from screening.result import Evidence, Recommendation, ScreeningResult
from screening.taxonomy import Taxonomy, default_taxonomy, normalize_alias

MODEL_VERSION = "pvara-local-v1"

WEIGHTS = {"must": 50.0, "nice": 15.0, "experience": 15.0, "education": 10.0, "location": 10.0}
DISQUALIFIED_CAP = 20.0
UNDATED_SKILL_CREDIT = 0.75
RELATED_SKILL_CREDIT = 0.4
FLAG_INJECTION = "possible_prompt_injection"

# Education levels, comparable as integers.
HIGH_SCHOOL, ASSOCIATE, BACHELOR, MASTER, DOCTORATE = 1, 2, 3, 4, 5
LEVEL_NAMES = {
    0: "unknown",
    HIGH_SCHOOL: "high school",
    ASSOCIATE: "associate/diploma",
    BACHELOR: "bachelor's",
    MASTER: "master's",
    DOCTORATE: "doctorate",
}

# ---------------------------------------------------------------------------- patterns ---

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_YEAR = r"(?:19[5-9]\d|20\d\d)"
_DATE = rf"(?:{_MONTH}[\s,']*{_YEAR}|\d{{1,2}}\s*[/.]\s*{_YEAR}|{_YEAR})"
_PRESENT = r"(?:present|current(?:ly)?|now|today|to\s+date|date|ongoing|till\s+now)"
_RANGE_RE = re.compile(
    rf"(?<![\w/.])(?P<start>{_DATE})\s*(?:-|–|—|−|~|to|until|till|through|thru)\s*"
    rf"(?P<end>{_DATE}|{_PRESENT}|\d\d(?![\w/.]))(?![\w/])"
    rf"|\b(?:since|from)\s+(?P<since>{_DATE})(?!\s*(?:-|–|—|to|until)\s*\w)",
    re.IGNORECASE,
)
_YEAR_HINT_RE = re.compile(_YEAR)
_DATE_PARTS_RE = re.compile(rf"(?P<month>{_MONTH}|\d{{1,2}})?[\s,'/.]*(?P<year>{_YEAR})", re.I)

_YEARS_CLAIM_RE = re.compile(
    r"(?P<n>\d{1,2}(?:\.\d)?)\s*\+?\s*(?:-\s*\d{1,2}\s*)?(?:years?|yrs?)(?:'|’)?(?!\w)", re.I
)
_TOTAL_CLAIM_RE = re.compile(
    r"(?P<n>\d{1,2}(?:\.\d)?)\s*\+?\s*(?:years?|yrs?)(?:'|’)?\s+(?:of\s+)?(?:total\s+|overall\s+|"
    r"proven\s+|professional\s+|industry\s+|work\s+|hands-on\s+|relevant\s+)*experience",
    re.I,
)

_EDUCATION_RE = re.compile(
    # Every alternative starts a word; checking that first skips most positions quickly.
    r"(?<![a-z0-9])(?=[a-z])(?:"
    r"(?=[pd])(?P<d5>\b(?:ph\.?\s?d\b\.?|d\.?\s?phil\b|doctor\s+of\s+\w+|doctorate|doctoral\s+degree))"
    r"|(?=[hsgamf])(?P<d1>\b(?:high[\s-]school(?:\s+diploma)?|secondary\s+school|ged\b|general\s+education"
    r"\s+(?:degree|diploma)|a[\s-]levels?\b|matric(?:ulation)?\b|hssc\b|f\.?\s?sc\b))"
    r"|(?=[ml])(?P<d4>\b(?:master(?:'s|’s|s)?\s+(?:degree|of|in)\b|master(?:'s|’s)|masters\b"
    r"|m\.?\s?sc\b\.?|m\.s\.|m\.a\.|m\.?\s?tech\b|m\.?\s?eng\b|m\.e\.|m\.?b\.?a\b\.?|mca\b"
    r"|m\.?\s?phil\b|llm\b|(?-i:MS|MA|ME)(?=\s*(?:in|of)\s|\s*[,(/]|\s+degree"
    r"|\s+(?-i:(?!Office|SQL|Excel|Word|Access|Project|Teams|Dynamics|Visio|Azure|Windows"
    r"|Power|Outlook|Exchange|SharePoint|Visual|Paint|Edge)[A-Z][a-z]))))"
    r"|(?=[bul])(?P<d3>\b(?:bachelor(?:'s|’s|s)?\b|b\.?\s?sc\b\.?|b\.s\.|b\.a\.|b\.?\s?tech\b|b\.?\s?eng\b"
    r"|b\.e\.|bba\b|bca\b|b\.?\s?com\b|llb\b|undergraduate\s+degree|undergrad\b|baccalaureate"
    r"|(?-i:BS|BA|BE)(?=\s*(?:in|of)\s|\s*[,(/]|\s+degree|\s*$|\s+(?-i:[A-Z][a-z]))))"
    r"|(?=[adh])(?P<d2>\b(?:associate(?:'s|’s)?\s+(?:degree|of\s+(?:arts|science|applied))|a\.a\.s?\."
    r"|a\.s\.|diploma\b|hnd\b|higher\s+national\s+diploma)))",
    re.IGNORECASE | re.MULTILINE,
)
_DEGREE_WORDS_RE = re.compile(
    r"\b(?:degree|university|college|institute|school|academy|bootcamp|course|courses"
    r"|diploma|bachelor|master|graduated|graduation|faculty|studies|student|certificat\w*)\b"
    r"|\b(?:b\.?sc|m\.?sc|ph\.?d|mba)\b",
    re.IGNORECASE,
)
_HEADER_EDU_RE = re.compile(
    r"^\W*(?:education|academic|qualifications?|courses|certifications?|training"
    r"|professional\s+development|studies)\b",
    re.IGNORECASE,
)
_HEADER_WORK_RE = re.compile(
    r"^\W*(?:(?:professional|work|employment|relevant|career|industry)\s+)?"
    r"(?:experience|history|employment|career)\b",
    re.IGNORECASE,
)
_HEADER_OTHER_RE = re.compile(
    r"^\W*(?:skills|technical\s+skills|summary|profile|projects|languages|personal|contact"
    r"|about|interests|hobbies|references|awards|publications|military)\b",
    re.IGNORECASE,
)

# Job-description cues: where required, preferred and boilerplate passages begin.
_CUE_RE = re.compile(
    r"(?P<must>\b(?:minimum\s+(?:required\s+)?(?:skills|qualifications|requirements)"
    r"|required\s+(?:skills|experience|qualifications)|basic\s+qualifications|requirements"
    r"|must\s+have|skills\s+required|what\s+you\s+need|you\s+(?:will\s+)?need|qualifications"
    r"|required:|you\s+will\s+need|we\s+expect)\b)"
    # Duties describe the work, not what the candidate must bring.
    r"|(?P<plain>\b(?:responsibilities|duties|what\s+you(?:'ll|\s+will)\s+(?:be\s+)?do(?:ing)?"
    r"|day[\s-]to[\s-]day|in\s+this\s+role\s+you)\b)"
    r"|(?P<nice>\b(?:(?:nice[\s-]to[\s-]haves?|preferred|desired|desirable|optional|bonus"
    r"|additional|good\s+to\s+have)(?:\s+(?:qualifications|skills|experience|requirements))?"
    r"|not\s+required|a\s+plus|secondary\s+skills|would\s+be\s+(?:great|nice))\b)"
    r"|(?P<boiler>\b(?:what'?s\s+in\s+it\s+for\s+you|benefits\s+package|we\s+offer|perks"
    r"|equal\s+opportunity|eoe\b|about\s+(?:us|the\s+company)|(?-i:About\s+[A-Z][\w&]+\s+[A-Z])"
    r"|your\s+right\s+to\s+work|in\s+addition\s+to\s+a\s+phenomenal|companies\s+and\s+partners"
    r"|401k|paid\s+time\s+off|vacation/pto|is\s+headquartered|is\s+proud\s+to\s+be"
    r"|copyright)\b)",
    re.IGNORECASE,
)
_PARAGRAPH_RE = re.compile(r"\n(?![ \t]*(?:[-*•·–]|\d+[.)]))")
_SENTENCE_NICE_RE = re.compile(
    r"\b(?:(?:is|are|would\s+be)\s+(?:a\s+|an\s+)?(?:plus|bonus|preferred|desired|desirable"
    r"|advantage|advantageous|nice\s+to\s+have)|a\s+plus|an\s+advantage|is\s+optional"
    r"|not\s+required|preferred\s+but)\b",
    re.I,
)
_SENTENCE_END_RE = re.compile(r"[.!?;](?=\s)|\n|\s[-*•]\s")
_LIST_GAP_RE = re.compile(
    r"^[\s,;/&()]*(?:(?:and\s*/\s*or|or|and|as\s+well\s+as|plus|&)[\s,;/()]*)?$", re.IGNORECASE
)
_EITHER_RE = re.compile(
    r"\b(?:one\s+of|any\s+of|either|such\s+as|e\.g\.?|for\s+example|like)\W*"
    r"(?:the\s+(?:above|following)\W*(?:or\W*)?)?$",
    re.IGNORECASE,
)
_OR_RE = re.compile(r"\bor\b", re.IGNORECASE)
_NO_SKILL_RE = re.compile(
    r"^\s*(?:no|without|lacks?|lacking|missing)\s+(?P<what>.+?)"
    r"(?:\s+(?:experience|skills?|knowledge|background|exposure|certification))?\s*$",
    re.IGNORECASE,
)
_TOO_JUNIOR_RE = re.compile(
    r"^\s*(?:less\s+than|under|fewer\s+than|below)\s+(?P<n>\d+(?:\.\d+)?)\s+years?\b", re.I
)

_CATEGORY_WEIGHT = {
    "soft": 0.25,
    "spoken_language": 0.3,
    "data_format": 0.5,
    "tool": 0.6,
    "role_area": 0.6,
    "practice": 0.7,
    "methodology": 0.7,
    "architecture": 0.8,
    "certification": 0.8,
    "clearance": 0.8,
}
_REGION_WEIGHT = {"must": 1.0, "plain": 0.5, "nice": 1.0}
_MAX_PROFILES = 512


# ------------------------------------------------------------------------------- model ---


@dataclass(frozen=True, slots=True)
class _Requirement:
    label: str
    alternatives: tuple[str, ...]  # canonical skills, or "lit:<phrase>" for unknown ones
    years: float = 0.0
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class _Disqualifier:
    text: str
    missing: _Requirement | None = None
    below_years: float | None = None
    phrase: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class _JobProfile:
    must: tuple[_Requirement, ...]
    nice: tuple[_Requirement, ...]
    min_years: float
    education: int
    education_text: str
    locations: tuple[tuple[str, re.Pattern[str]], ...]
    disqualifiers: tuple[_Disqualifier, ...]
    literals: tuple[tuple[str, re.Pattern[str]], ...]
    derived: bool


@dataclass(slots=True)
class _SkillFact:
    first_line: int
    dated_line: int | None = None
    intervals: list[tuple[int, int]] = field(default_factory=list)
    claimed_years: float = 0.0

    def years(self) -> float | None:
        dated = _merged_months(self.intervals) / 12 if self.intervals else 0.0
        best = max(dated, self.claimed_years)
        return best if best > 0 else None

    def evidence_line(self) -> int:
        return self.dated_line if self.dated_line is not None else self.first_line


@dataclass(slots=True)
class _Resume:
    text: str
    starts: list[int]  # offset of each line in text
    lines: list[str]
    skills: dict[str, _SkillFact]
    total_years: float | None
    dated_lines: list[int]
    education: int
    education_line: int | None
    words: int


@dataclass(slots=True)
class _Credit:
    requirement: _Requirement
    credit: float
    skill: str | None = None
    years: float | None = None
    line: int | None = None


# ---------------------------------------------------------------------------- screener ---


class LocalScreener:
    """Scores a résumé against a job's criteria without any network or model.

    Args:
        taxonomy: the skill taxonomy (default: the shipped one).
        reference_date: the date "present"/"now" means in date ranges (default: today).
            Pass one for reproducible results.
    """

    def __init__(
        self, taxonomy: Taxonomy | None = None, reference_date: date | None = None
    ) -> None:
        self._taxonomy = taxonomy or default_taxonomy()
        self._reference_date = reference_date
        self._profiles: dict[tuple[str, str | None], _JobProfile] = {}

    @property
    def model_version(self) -> str:
        """Identifies this screener in results and logs (``ai_model_version``)."""
        return MODEL_VERSION

    def screen(
        self, resume_text: str, criteria: Criteria, job_description: str | None = None
    ) -> ScreeningResult:
        """Score ``resume_text`` (already extracted text) against ``criteria``.

        ``job_description`` supplies the skills when the criteria list none.
        """
        text = normalize_text(resume_text).replace("\r\n", "\n").replace("\r", "\n")
        spans = injection_spans(text)
        if spans:
            text = _blank_lines(text, spans)
        profile = self._profile(criteria, job_description)
        resume = self._read_resume(text, profile)
        return _score(resume, profile, criteria, injected=bool(spans), taxonomy=self._taxonomy)

    # ----------------------------------------------------------------------- the job ---

    def _profile(self, criteria: Criteria, job_description: str | None) -> _JobProfile:
        key = (criteria.model_dump_json(), job_description)
        profile = self._profiles.get(key)
        if profile is None:
            if len(self._profiles) >= _MAX_PROFILES:
                self._profiles.clear()
            profile = self._build_profile(criteria, job_description)
            self._profiles[key] = profile
        return profile

    def _build_profile(self, criteria: Criteria, job_description: str | None) -> _JobProfile:
        rules = criteria.screening_criteria
        literals: dict[str, re.Pattern[str]] = {}
        must = tuple(self._requirement(s, literals) for s in rules.must_have_skills)
        nice = tuple(self._requirement(s, literals) for s in rules.nice_to_have_skills)
        min_years = float(rules.min_experience_years)
        education = _education_level(rules.required_education or "", requirement=True)
        education_text = rules.required_education or ""
        derived = False
        if not must and not nice and job_description:
            derived = True
            must, nice = _requirements_from_description(job_description, self._taxonomy)
            if not min_years:
                min_years = _min_years_from_description(job_description)
            if not education:
                education = _description_education(job_description)
                education_text = LEVEL_NAMES[education] if education else ""
        disqualifiers = tuple(
            self._disqualifier(text, literals) for text in rules.disqualifying_factors
        )
        locations = tuple((place, _phrase_pattern(place)) for place in rules.location_preference)
        return _JobProfile(
            must=must,
            nice=nice,
            min_years=min_years,
            education=education,
            education_text=education_text,
            locations=locations,
            disqualifiers=disqualifiers,
            literals=tuple(literals.items()),
            derived=derived,
        )

    def _requirement(self, skill: Skill, literals: dict[str, re.Pattern[str]]) -> _Requirement:
        names = [n.strip() for n in re.split(r"\s+or\s+|\s*\|\s*", skill.name) if n.strip()]
        alternatives = tuple(self._resolve(name, literals) for name in names or [skill.name])
        return _Requirement(label=skill.name, alternatives=alternatives, years=float(skill.years))

    def _resolve(self, name: str, literals: dict[str, re.Pattern[str]]) -> str:
        canonical = self._taxonomy.canonical(name)
        if canonical is None:
            mentions = self._taxonomy.find(name)
            if len(mentions) == 1 and len(mentions[0].text) >= len(name.strip()) - 2:
                canonical = mentions[0].skill
        if canonical is not None:
            return canonical
        key = "lit:" + normalize_alias(name)
        literals[key] = _phrase_pattern(name)
        return key

    def _disqualifier(self, text: str, literals: dict[str, re.Pattern[str]]) -> _Disqualifier:
        junior = _TOO_JUNIOR_RE.match(text)
        if junior:
            return _Disqualifier(text, below_years=float(junior["n"]))
        missing = _NO_SKILL_RE.match(text)
        if missing:
            what = missing["what"]
            requirement = _Requirement(what, (self._resolve(what, literals),))
            return _Disqualifier(text, missing=requirement)
        return _Disqualifier(text, phrase=_phrase_pattern(text))

    # -------------------------------------------------------------------- the résumé ---

    def _read_resume(self, text: str, profile: _JobProfile) -> _Resume:
        lines = text.split("\n")
        starts = [0, *itertools.accumulate(len(line) + 1 for line in lines[:-1])]
        today = self._reference_date or date.today()
        now = today.year * 12 + today.month - 1

        block_of_line, work_intervals, dated_lines = _experience_blocks(lines, now)
        claims = _years_claims(lines)

        skills: dict[str, _SkillFact] = {}
        mentions: list[tuple[str, int, int]] = []  # (skill, line, column)
        for mention in self._taxonomy.iter_mentions(text):
            index = bisect.bisect_right(starts, mention.start) - 1
            mentions.append((mention.skill, index, mention.start - starts[index]))
        for key, pattern in profile.literals:
            for match in pattern.finditer(text):
                index = bisect.bisect_right(starts, match.start()) - 1
                mentions.append((key, index, match.start() - starts[index]))

        for skill, index, column in mentions:
            interval = block_of_line.get(index)
            claimed = _claim_for(claims.get(index, ()), column)
            names: Iterable[str] = (
                (skill,) if skill.startswith("lit:") else self._taxonomy.implied(skill)
            )
            for name in names:
                fact = skills.get(name)
                if fact is None:
                    fact = skills[name] = _SkillFact(first_line=index)
                if interval is not None:
                    fact.intervals.append(interval)
                    if fact.dated_line is None:
                        fact.dated_line = index
                if claimed > fact.claimed_years:
                    fact.claimed_years = claimed

        total: float | None = None
        if work_intervals:
            total = _merged_months(work_intervals) / 12
        else:
            claimed_totals = [float(m["n"]) for m in _TOTAL_CLAIM_RE.finditer(text)]
            total = max(claimed_totals) if claimed_totals else None

        education, education_line = 0, None
        for match in _EDUCATION_RE.finditer(text):
            level = int((match.lastgroup or "d0")[1:])
            if level > education:
                education = level
                education_line = bisect.bisect_right(starts, match.start()) - 1

        return _Resume(
            text=text,
            starts=starts,
            lines=lines,
            skills=skills,
            total_years=total,
            dated_lines=dated_lines,
            education=education,
            education_line=education_line,
            words=len(text.split()),
        )


# ----------------------------------------------------------------------------- scoring ---


def _score(
    resume: _Resume,
    profile: _JobProfile,
    criteria: Criteria,
    *,
    injected: bool,
    taxonomy: Taxonomy,
) -> ScreeningResult:
    must = [_credit(r, resume, taxonomy) for r in profile.must]
    nice = [_credit(r, resume, taxonomy) for r in profile.nice]
    parts: dict[str, float] = {}
    if must:
        coverage = _coverage(must)
        # Lists read from a description are long and include incidental mentions.
        parts["must"] = 1 - (1 - coverage) ** 2 if profile.derived else coverage
    if nice:
        parts["nice"] = _coverage(nice)
    if profile.min_years > 0:
        if resume.total_years is None:
            parts["experience"] = 0.3
        else:
            parts["experience"] = min(1.0, resume.total_years / profile.min_years)
    if profile.education:
        if resume.education >= profile.education:
            parts["education"] = 1.0
        elif resume.education == profile.education - 1:
            parts["education"] = 0.5
        else:
            parts["education"] = 0.25 if resume.education == 0 else 0.0
    location_line = _first_line(resume, [p for _, p in profile.locations])
    if profile.locations:
        parts["location"] = 1.0 if location_line is not None else 0.0

    weight = sum(WEIGHTS[k] for k in parts)
    score = 100 * sum(WEIGHTS[k] * v for k, v in parts.items()) / weight if weight else 50.0

    disqualified = _disqualifications(profile, resume)
    if disqualified:
        score = min(score, DISQUALIFIED_CAP)
    score = round(score, 1)

    thresholds = criteria.filtering
    recommendation: Recommendation
    if disqualified or score < thresholds.min_score_threshold:
        recommendation = "reject"
    elif score >= thresholds.auto_advance_score:
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
    if not resume.dated_lines:
        flags.append("no_dated_experience")
    if resume.words < 120:
        flags.append("short_resume")

    evidence: list[Evidence] = []
    reasons = [f"Score {score:g}/100 ({recommendation})."]
    reasons += _skill_reasons("Must-have", must, resume, evidence)
    reasons += _skill_reasons("Nice-to-have", nice, resume, evidence)
    reasons += _experience_reasons(resume, profile, evidence)
    reasons += _education_reasons(resume, profile, evidence)
    if profile.locations:
        wanted = ", ".join(place for place, _ in profile.locations)
        if location_line is not None:
            quote = _quote(resume.lines[location_line])
            reasons.append(f"Location: matches {wanted} — “{quote}”.")
            _add_evidence(evidence, resume.lines[location_line], f"location: {wanted}")
        else:
            reasons.append(f"Location: none of {wanted} found.")
    for factor, line in disqualified:
        quote = f" — “{_quote(resume.lines[line])}”" if line is not None else ""
        reasons.append(f"Disqualified: {factor}{quote}.")
        if line is not None:
            _add_evidence(evidence, resume.lines[line], f"disqualifier: {factor}")
    if injected:
        reasons.append("Text addressing an AI model was found and ignored; needs human review.")
    if profile.derived:
        reasons.append("Skills were read from the job description (no explicit criteria).")

    confidence = _confidence(score, resume, profile, criteria, bool(disqualified), taxonomy)
    return ScreeningResult(
        score=score,
        reasoning=_clip(" ".join(reasons), 4000),
        matched_skills=[c.requirement.label for c in must + nice if c.skill][:100],
        missing_skills=[c.requirement.label for c in must + nice if not c.skill][:100],
        recommendation=recommendation,
        evidence=evidence[:50],
        confidence=confidence,
        flags=flags[:20],
    )


def _credit(requirement: _Requirement, resume: _Resume, taxonomy: Taxonomy) -> _Credit:
    best = _Credit(requirement, 0.0)
    for name in requirement.alternatives:
        fact = resume.skills.get(name)
        if fact is None:
            related = _related_credit(name, resume, taxonomy)
            if related > best.credit:
                best = _Credit(requirement, related)
            continue
        years = fact.years()
        if requirement.years <= 0:
            credit = 1.0
        elif years is None:
            credit = UNDATED_SKILL_CREDIT
        else:
            credit = 0.5 + 0.5 * min(1.0, years / requirement.years)
        if credit > best.credit:
            best = _Credit(requirement, credit, name, years, fact.evidence_line())
    return best


def _related_credit(name: str, resume: _Resume, taxonomy: Taxonomy) -> float:
    """Partial credit for a missing skill from what it builds on (LAMP ← Linux, PHP, MySQL)."""
    parts = taxonomy.implied(name) - {name}
    if not parts:
        return 0.0
    return RELATED_SKILL_CREDIT * sum(p in resume.skills for p in parts) / len(parts)


def _coverage(credits: Sequence[_Credit]) -> float:
    total = sum(c.requirement.weight for c in credits)
    return sum(c.requirement.weight * c.credit for c in credits) / total if total else 0.0


def _disqualifications(profile: _JobProfile, resume: _Resume) -> list[tuple[str, int | None]]:
    hits: list[tuple[str, int | None]] = []
    for rule in profile.disqualifiers:
        if rule.missing is not None:
            if rule.missing.alternatives[0] not in resume.skills:
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
    score: float,
    resume: _Resume,
    profile: _JobProfile,
    criteria: Criteria,
    disqualified: bool,
    taxonomy: Taxonomy,
) -> float:
    """How sure the local screener is: low for thin or ambiguous résumés and near thresholds."""
    length = min(1.0, max(0.2, (resume.words - 40) / 260))
    substance = 1.0
    if not resume.dated_lines:
        substance -= 0.2
    if not any(taxonomy.category(s) != "soft" for s in resume.skills):
        substance -= 0.4
    if disqualified:
        margin = 1.0
    else:
        thresholds = (criteria.filtering.min_score_threshold, criteria.filtering.auto_advance_score)
        distance = min(abs(score - t) for t in thresholds)
        margin = 0.5 + 0.5 * min(1.0, distance / 10)
    derived = 0.85 if profile.derived else 1.0
    return round(max(0.0, min(1.0, length * substance * margin * derived)), 3)


# ---------------------------------------------------------------------------- reasons ---


def _skill_reasons(
    kind: str, credits: Sequence[_Credit], resume: _Resume, evidence: list[Evidence]
) -> list[str]:
    if not credits:
        return []
    matched = [c for c in credits if c.skill]
    parts = []
    for c in matched[:12]:
        years = f", {c.years:.1f} yrs" if c.years else ""
        asked = f" (asked {c.requirement.years:g})" if c.requirement.years else ""
        via = f" via {c.skill}" if c.skill and c.skill != c.requirement.label else ""
        line = resume.lines[c.line] if c.line is not None else ""
        parts.append(f"{c.requirement.label}{via}{years}{asked}: “{_quote(line)}”")
        if line:
            _add_evidence(evidence, line, f"{c.requirement.label}{years}")
    missing = [c.requirement.label for c in credits if not c.skill]
    text = f"{kind}: {len(matched)}/{len(credits)} found"
    if parts:
        text += " — " + "; ".join(parts)
    if len(matched) > 12:
        text += f"; and {len(matched) - 12} more"
    if missing:
        text += ". Missing: " + ", ".join(missing[:15])
    return [text + "."]


def _experience_reasons(
    resume: _Resume, profile: _JobProfile, evidence: list[Evidence]
) -> list[str]:
    if resume.total_years is None:
        return ["Experience: no dated entries found."] if profile.min_years else []
    quotes = [resume.lines[i] for i in resume.dated_lines[:3]]
    for line in quotes:
        _add_evidence(evidence, line, "dated experience")
    source = "dated entries" if resume.dated_lines else "the résumé's own claim"
    asked = f" (asked {profile.min_years:g})" if profile.min_years else ""
    quoted = "; ".join(f"“{_quote(q)}”" for q in quotes)
    return [f"Experience: {resume.total_years:.1f} years from {source}{asked}. {quoted}".strip()]


def _education_reasons(
    resume: _Resume, profile: _JobProfile, evidence: list[Evidence]
) -> list[str]:
    if resume.education_line is None:
        return (
            [f"Education: none found (asked {profile.education_text})."]
            if profile.education
            else []
        )
    line = resume.lines[resume.education_line]
    _add_evidence(evidence, line, f"education: {LEVEL_NAMES[resume.education]}")
    asked = f" (asked {profile.education_text})" if profile.education else ""
    return [f"Education: {LEVEL_NAMES[resume.education]}{asked} — “{_quote(line)}”."]


def _add_evidence(evidence: list[Evidence], line: str, supports: str) -> None:
    line, supports = _clip(line.strip(), 400), _clip(supports, 200)
    if not any(e.line == line and e.supports == supports for e in evidence):
        evidence.append(Evidence.model_construct(line=line, supports=supports))


def _quote(line: str, limit: int = 140) -> str:
    return _clip(" ".join(line.split()), limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------- résumé facts ---


def _experience_blocks(
    lines: Sequence[str], now: int
) -> tuple[dict[int, tuple[int, int]], list[tuple[int, int]], list[int]]:
    """Work date ranges, and the lines each one covers (until the next dated line/header).

    Ranges on education lines or under an education header are not work experience.
    Month numbers are ``year*12 + month-1``; a year without a month counts from mid-year.
    """
    block_of_line: dict[int, tuple[int, int]] = {}
    intervals: list[tuple[int, int]] = []
    dated: list[int] = []
    section = "other"
    current: tuple[int, int] | None = None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if len(stripped.split()) <= 4 and not _YEAR_HINT_RE.search(stripped):
            if _HEADER_EDU_RE.match(stripped):
                section, current = "education", None
                continue
            if _HEADER_WORK_RE.match(stripped):
                section, current = "work", None
                continue
            if _HEADER_OTHER_RE.match(stripped):
                section, current = "other", None
                continue
        ranges = []
        if _YEAR_HINT_RE.search(line):
            found = (_parse_range(m, now) for m in _RANGE_RE.finditer(line))
            ranges = [r for r in found if r]
        if ranges:
            if section == "education" or _DEGREE_WORDS_RE.search(line):
                current = None
                continue
            current = (min(r[0] for r in ranges), max(r[1] for r in ranges))
            intervals.extend(ranges)
            dated.append(index)
        if current is not None:
            block_of_line[index] = current
    return block_of_line, intervals, dated


def _parse_range(match: re.Match[str], now: int) -> tuple[int, int] | None:
    if match["since"]:
        start, end = _parse_date(match["since"]), now
    else:
        start = _parse_date(match["start"])
        if start is None:
            return None
        raw_end = match["end"]
        if re.fullmatch(r"\d\d", raw_end):
            end = (start // 12 // 100 * 100 + int(raw_end)) * 12 + 6
        else:
            parsed = _parse_date(raw_end)
            end = now if parsed is None else parsed
    if start is None or start > now or end < start:
        return None
    return start, min(end, now)


def _parse_date(text: str) -> int | None:
    match = _DATE_PARTS_RE.search(text)
    if match is None:
        return None
    year = int(match["year"])
    raw = (match["month"] or "").lower().rstrip(".")
    month = _MONTHS.get(raw[:3], 7)
    if raw.isdigit():
        month = int(raw) if 1 <= int(raw) <= 12 else 7
    return year * 12 + month - 1


def _merged_months(intervals: Iterable[tuple[int, int]]) -> int:
    """Months covered by the union of ``[start, end)`` intervals (overlaps counted once)."""
    total = 0
    current: tuple[int, int] | None = None
    for start, end in sorted(intervals):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += current[1] - current[0]
    return total


def _years_claims(lines: Sequence[str]) -> dict[int, list[tuple[int, int, float]]]:
    claims: dict[int, list[tuple[int, int, float]]] = {}
    for index, line in enumerate(lines):
        if "year" in line.lower() or "yr" in line.lower():
            found = [(m.start(), m.end(), float(m["n"])) for m in _YEARS_CLAIM_RE.finditer(line)]
            if found:
                claims[index] = found
    return claims


def _claim_for(claims: Sequence[tuple[int, int, float]], column: int) -> float:
    """Years stated next to a skill: "4 years in Java", "Python (3 yrs)"."""
    best = 0.0
    for start, end, years in claims:
        if 0 <= column - end <= 25 or 0 <= start - column <= 30:
            best = max(best, years)
    return best


def _education_level(text: str, *, requirement: bool = False) -> int:
    level = 0
    for match in _EDUCATION_RE.finditer(text):
        group = match.lastgroup or ""
        level = max(level, int(group[1:]))
    if level == 0 and requirement and re.search(r"\bdegree\b", text, re.I):
        level = BACHELOR
    return level


def _first_line(resume: _Resume, patterns: Sequence[re.Pattern[str]]) -> int | None:
    """The index of the first line where any pattern matches."""
    found = [m.start() for m in (p.search(resume.text) for p in patterns) if m]
    return bisect.bisect_right(resume.starts, min(found)) - 1 if found else None


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in phrase.split()]
    return re.compile(r"(?<!\w)" + r"[\s\-]+".join(words) + r"(?!\w)", re.IGNORECASE)


def _blank_lines(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Replace every line holding an injection with spaces (offsets and line count kept)."""
    chars = list(text)
    for start, end in spans:
        left = text.rfind("\n", 0, start) + 1
        right = text.find("\n", end)
        for i in range(left, right if right >= 0 else len(text)):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


# ------------------------------------------------------------------ job descriptions ---


def _requirements_from_description(
    text: str, taxonomy: Taxonomy
) -> tuple[tuple[_Requirement, ...], tuple[_Requirement, ...]]:
    """Must-have and nice-to-have requirements read from free text (see module docstring)."""
    cues = _cue_regions(text)
    cue_starts = [c[0] for c in cues]
    sentence_ends = [m.start() for m in _SENTENCE_END_RE.finditer(text)]
    year_claims = [(m.start(), float(m["n"])) for m in _YEARS_CLAIM_RE.finditer(text)]

    located: list[tuple[str, int, int, str]] = []  # (skill, start, end, region)
    for mention in taxonomy.iter_mentions(text):
        cue = bisect.bisect_right(cue_starts, mention.start) - 1
        region = cues[cue][1] if cue >= 0 else "plain"
        if region == "boiler":
            continue
        s_index = bisect.bisect_left(sentence_ends, mention.start)
        s_end = sentence_ends[s_index] if s_index < len(sentence_ends) else len(text)
        if _SENTENCE_NICE_RE.search(text, mention.start, min(s_end, mention.end + 80)):
            region = "nice"
        located.append((mention.skill, mention.start, mention.end, region))

    # Group runs like "PHP, Python or Go" / "one of: Python, Perl, PHP" into either-of.
    groups: list[list[tuple[str, int, int, str]]] = []
    for item in located:
        if groups:
            previous = groups[-1][-1]
            gap = text[previous[2] : item[1]]
            if previous[3] == item[3] and len(gap) < 12 and _LIST_GAP_RE.match(gap):
                groups[-1].append(item)
                continue
        groups.append([item])

    # alternatives -> [must weight, nice weight, years, mentions]
    weights: dict[tuple[str, ...], list[float]] = {}
    for run in groups:
        first, last = run[0], run[-1]
        gaps = text[first[2] : last[1]]
        either = len(run) > 1 and (
            _OR_RE.search(gaps) is not None or _EITHER_RE.search(text, 0, first[1]) is not None
        )
        units = [tuple(dict.fromkeys(r[0] for r in run))] if either else [(r[0],) for r in run]
        region = first[3]
        years = _years_before(year_claims, first[1], sentence_ends)
        for alternatives in units:
            category = min(_CATEGORY_WEIGHT.get(taxonomy.category(a), 1.0) for a in alternatives)
            entry = weights.setdefault(alternatives, [0.0, 0.0, 0.0, 0.0])
            slot = 1 if region == "nice" else 0
            entry[slot] = max(entry[slot], category * _REGION_WEIGHT[region])
            entry[2] = max(entry[2], years)
            entry[3] += 1

    must: list[_Requirement] = []
    nice: list[_Requirement] = []
    for alternatives, (must_weight, nice_weight, years, count) in weights.items():
        # Repetition signals importance, with diminishing returns.
        boost = 1 + 0.25 * min(count - 1, 2)
        label = " / ".join(alternatives)
        if must_weight:
            must.append(_Requirement(label, alternatives, years, must_weight * boost))
        else:
            nice.append(_Requirement(label, alternatives, years, nice_weight * boost))
    return tuple(must), tuple(nice)


def _cue_regions(text: str) -> list[tuple[int, str]]:
    """Where required / preferred / boilerplate passages start, in order.

    Boilerplate runs to the end unless an explicit requirement heading follows: company names
    such as "NatGen Preferred" inside an "About us" passage do not reopen the requirements.
    """
    events = [(m.start(), m.lastgroup or "plain") for m in _CUE_RE.finditer(text)]
    # A new paragraph (not a bullet under a heading) ends a required/preferred passage.
    events += [(m.start(), "newline") for m in _PARAGRAPH_RE.finditer(text)]
    regions: list[tuple[int, str]] = []
    current = "plain"
    for position, kind in sorted(events):
        if kind == "newline":
            if current in ("must", "nice"):
                kind = "plain"
            else:
                continue
        elif current == "boiler" and kind == "nice":
            continue
        regions.append((position, kind))
        current = kind
    return regions


def _years_before(
    claims: Sequence[tuple[int, float]], position: int, sentence_ends: Sequence[int]
) -> float:
    """Years asked for a skill: an "N+ years" phrase shortly before it in the same sentence."""
    s_index = bisect.bisect_left(sentence_ends, position)
    sentence_start = sentence_ends[s_index - 1] if s_index > 0 else 0
    best = 0.0
    for start, years in claims:
        if sentence_start <= start < position and position - start <= 60:
            best = max(best, years)
    return best


def _min_years_from_description(text: str) -> float:
    found = [
        float(m["n"])
        for m in _YEARS_CLAIM_RE.finditer(text)
        if re.match(r"\W*(?:of\s+)?(?:\w+\s+){0,3}experience", text[m.end() : m.end() + 60], re.I)
    ]
    return max(found) if found else 0.0


def _description_education(text: str) -> int:
    cues = _cue_regions(text)
    starts = [c[0] for c in cues]
    level = 0
    for match in _EDUCATION_RE.finditer(text):
        cue = bisect.bisect_right(starts, match.start()) - 1
        region = cues[cue][1] if cue >= 0 else "plain"
        if region in ("must", "plain"):
            level = max(level, int((match.lastgroup or "d0")[1:]))
    return level
