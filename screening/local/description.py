"""Requirements read from a job described only in free text (title + description).

Skills are found two ways, the curated software aliases first (they override) and then the
ESCO/O*NET index (every occupation's skills, tools and technologies). Where a skill stands
decides its kind: in "required"/"must have" passages a must-have, in "preferred"/"nice to
have"/"a plus" passages a nice-to-have, in plain prose a must-have of half weight; benefits
and EEO boilerplate are ignored. "PHP, Python or Go" / "one of: …" lists become one either-of
requirement; "3+ years of Python" asks years. Generic skills weigh less than specific ones
(ESCO's transversal skills, tools), and a skill repeated weighs more.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from screening.index import TaxonomyIndex
from screening.local.education import EDUCATION_RE, level_of
from screening.local.resume import _YEARS_CLAIM_RE as YEARS_CLAIM_RE
from screening.phrases import Tokens
from screening.taxonomy import Taxonomy

# Job-description cues: where required, preferred and boilerplate passages begin.
CUE_RE = re.compile(
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
# ESCO reuse levels and O*NET kinds: how specific (so how telling) a skill is.
_REUSE_WEIGHT = {"transversal": 0.35, "cross-sector": 0.7}
_KIND_WEIGHT = {"tool": 0.6, "tool_group": 0.5, "tech_group": 0.6, "group": 0.5}
_REGION_WEIGHT = {"must": 1.0, "plain": 0.5, "nice": 1.0}
_COMMON_IDF = 4.0  # a one-word skill whose word is this common weighs proportionally less


@dataclass(frozen=True, slots=True)
class Found:
    """A skill found in a description: the names that satisfy it, where, and its weight."""

    names: tuple[str, ...]
    start: int
    end: int
    region: str  # must | nice | plain
    weight: float


@dataclass(frozen=True, slots=True)
class DescribedSkill:
    """A requirement read from a description, before resolution."""

    names: tuple[str, ...]  # either-of alternatives
    kind: str  # must | nice
    years: float
    weight: float


def find_skills(text: str, taxonomy: Taxonomy, index: TaxonomyIndex) -> list[Found]:
    """Every skill the description names outside boilerplate, left to right.

    Curated mentions win over index phrases that overlap them.
    """
    cues = cue_regions(text)
    cue_starts = [c[0] for c in cues]
    sentence_ends = [m.start() for m in _SENTENCE_END_RE.finditer(text)]

    spans: list[tuple[int, int, tuple[str, ...], float]] = []
    for mention in taxonomy.iter_mentions(text):
        category = _CATEGORY_WEIGHT.get(taxonomy.category(mention.skill), 1.0)
        spans.append((mention.start, mention.end, (mention.skill,), category))
    taken = [(s, e) for s, e, _, _ in spans]
    tokens = Tokens.of(text)
    for hit in index.skill_table.find(tokens, index.skill_phrases):
        if any(s < hit.end and hit.start < e for s, e in taken):
            continue
        concepts = [index.concept(c) for c in index.skills_for(hit.key)]
        weight = max(
            _KIND_WEIGHT.get(c.kind, 1.0) * _REUSE_WEIGHT.get(c.reuse, 1.0) for c in concepts
        )
        if " " not in hit.key:
            weight *= min(1.0, index.idf(tokens.stems[hit.first]) / _COMMON_IDF)
        spans.append((hit.start, hit.end, (text[hit.start : hit.end],), weight))
    spans.sort()

    found: list[Found] = []
    for start, end, names, weight in spans:
        cue = bisect.bisect_right(cue_starts, start) - 1
        region = cues[cue][1] if cue >= 0 else "plain"
        if region == "boiler":
            continue
        s_index = bisect.bisect_left(sentence_ends, start)
        s_end = sentence_ends[s_index] if s_index < len(sentence_ends) else len(text)
        if _SENTENCE_NICE_RE.search(text, start, min(s_end, end + 80)):
            region = "nice"
        found.append(Found(names, start, end, region, weight))
    return found


def skills_from_description(
    text: str, taxonomy: Taxonomy, index: TaxonomyIndex
) -> list[DescribedSkill]:
    """Must-have and nice-to-have skills read from free text (see the module docstring)."""
    located = find_skills(text, taxonomy, index)
    sentence_ends = [m.start() for m in _SENTENCE_END_RE.finditer(text)]
    year_claims = [(m.start(), float(m["n"])) for m in YEARS_CLAIM_RE.finditer(text)]

    # Group runs like "PHP, Python or Go" / "one of: Python, Perl, PHP" into either-of.
    groups: list[list[Found]] = []
    for item in located:
        if groups:
            previous = groups[-1][-1]
            gap = text[previous.end : item.start]
            if previous.region == item.region and len(gap) < 12 and _LIST_GAP_RE.match(gap):
                groups[-1].append(item)
                continue
        groups.append([item])

    tallies: dict[tuple[str, ...], _Tally] = {}
    for run in groups:
        first, last = run[0], run[-1]
        gaps = text[first.end : last.start]
        either = len(run) > 1 and (
            _OR_RE.search(gaps) is not None or _EITHER_RE.search(text, 0, first.start) is not None
        )
        units = (
            [(tuple(dict.fromkeys(n for r in run for n in r.names)), min(r.weight for r in run))]
            if either
            else [(r.names, r.weight) for r in run]
        )
        years = _years_before(year_claims, first.start, sentence_ends)
        for names, weight in units:
            tally = tallies.setdefault(tuple(n.lower() for n in names), _Tally(names))
            region_weight = weight * _REGION_WEIGHT[first.region]
            if first.region == "nice":
                tally.nice = max(tally.nice, region_weight)
            else:
                tally.must = max(tally.must, region_weight)
            tally.years = max(tally.years, years)
            tally.mentions += 1

    described = []
    for tally in tallies.values():
        # Repetition signals importance, with diminishing returns.
        boost = 1 + 0.25 * min(tally.mentions - 1, 2)
        kind = "must" if tally.must else "nice"
        weight = (tally.must or tally.nice) * boost
        described.append(DescribedSkill(tally.names, kind, tally.years, weight))
    return described


@dataclass(slots=True)
class _Tally:
    names: tuple[str, ...]
    must: float = 0.0
    nice: float = 0.0
    years: float = 0.0
    mentions: int = 0


def cue_regions(text: str) -> list[tuple[int, str]]:
    """Where required / preferred / boilerplate passages start, in order.

    Boilerplate runs to the end unless an explicit requirement heading follows: company names
    such as "NatGen Preferred" inside an "About us" passage do not reopen the requirements.
    """
    events = [(m.start(), m.lastgroup or "plain") for m in CUE_RE.finditer(text)]
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


def min_years(text: str) -> float:
    """The most years of experience the description asks ("at least 5 years of experience")."""
    found = [
        float(m["n"])
        for m in YEARS_CLAIM_RE.finditer(text)
        if re.match(r"\W*(?:of\s+)?(?:\w+\s+){0,3}experience", text[m.end() : m.end() + 60], re.I)
    ]
    return max(found) if found else 0.0


def education(text: str) -> int:
    """The education level a description asks outside its boilerplate and nice-to-haves."""
    cues = cue_regions(text)
    starts = [c[0] for c in cues]
    level = 0
    for match in EDUCATION_RE.finditer(text):
        cue = bisect.bisect_right(starts, match.start()) - 1
        region = cues[cue][1] if cue >= 0 else "plain"
        if region in ("must", "plain"):
            level = max(level, level_of(match))
    return level
