"""A résumé as the screener reads it: lines, sections, dated roles, years and education.

Sections are recognised by their headings ("Experience", "Skills", "Summary", "Education" …);
the lines before the first heading are the headline (name, current title). A dated role is a
date range in the experience part (or anywhere outside education), and it covers the lines up
to the next date range or heading: what is written there was done in that role, at that time.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass, field

from screening.local.dates import YEAR_HINT_RE, DateRange, find_ranges, merged_months
from screening.local.education import DEGREE_WORDS_RE, EDUCATION_RE, level_of
from screening.phrases import Tokens

Section = str  # headline | summary | skills | work | education | other

_HEADINGS: tuple[tuple[Section, re.Pattern[str]], ...] = (
    (
        "education",
        re.compile(
            r"^\W*(?:education|academic|qualifications?\s+and\s+education|courses|certifications?"
            r"|training|professional\s+development|studies|licen[cs]es?)\b",
            re.I,
        ),
    ),
    (
        "work",
        re.compile(
            r"^\W*(?:(?:professional|work|employment|relevant|career|industry)\s+)?"
            r"(?:experience|history|employment|career)\b",
            re.I,
        ),
    ),
    (
        "skills",
        re.compile(
            r"^\W*(?:(?:core|key|technical|professional|relevant|computer|additional)\s+)*"
            r"(?:skills?|highlights|skill\s+highlights|qualifications|competenc\w+|expertise"
            r"|areas\s+of\s+expertise|proficienc\w+|strengths|tools|technologies)\b",
            re.I,
        ),
    ),
    (
        "summary",
        re.compile(
            r"^\W*(?:(?:professional|executive|career|personal)\s+)?"
            r"(?:summary|profile|objective|overview|about(?:\s+me)?)\b",
            re.I,
        ),
    ),
    (
        "other",
        re.compile(
            r"^\W*(?:accomplishments|achievements|projects|languages|personal|contact|interests"
            r"|hobbies|references|awards|honors|publications|military|affiliations|volunteer"
            r"|additional\s+information|activities|memberships)\b",
            re.I,
        ),
    ),
)
_MAX_HEADING_WORDS = 4


@dataclass(frozen=True, slots=True)
class Role:
    """A dated entry: the lines it covers and the months it spans."""

    first_line: int  # the line of the date range
    last_line: int  # exclusive
    first_month: int
    last_month: int
    line: int  # where the range is written (for quotes)

    def years_ago(self, now: int) -> float:
        """How long ago the role ended (0 for a current one)."""
        return max(0, now - self.last_month) / 12


@dataclass(slots=True)
class Resume:
    """The facts read from a résumé text (see the module docstring)."""

    text: str
    lines: list[str]
    starts: list[int]  # offset of each line in text
    sections: list[Section]  # per line
    roles: list[Role]
    role_of_line: dict[int, Role]
    tokens: Tokens
    token_lines: list[int]  # line of each token
    total_years: float | None
    education: int
    education_line: int | None
    now: int
    words: int = 0
    claims: dict[int, list[tuple[int, int, float]]] = field(default_factory=dict)

    def words_on(self, line: int) -> int:
        """How many words a line holds."""
        first = bisect.bisect_left(self.token_lines, line)
        return bisect.bisect_right(self.token_lines, line, first) - first

    def line_of(self, offset: int) -> int:
        """The line holding a character offset."""
        return bisect.bisect_right(self.starts, offset) - 1

    def column_of(self, offset: int) -> int:
        """The offset's column within its line."""
        return offset - self.starts[self.line_of(offset)]


_YEARS_CLAIM_RE = re.compile(
    r"(?P<n>\d{1,2}(?:\.\d)?)\s*\+?\s*(?:-\s*\d{1,2}\s*)?(?:years?|yrs?)(?:'|’)?(?!\w)", re.I
)
_TOTAL_CLAIM_RE = re.compile(
    r"(?P<n>\d{1,2}(?:\.\d)?)\s*\+?\s*(?:years?|yrs?)(?:'|’)?\s+(?:of\s+)?(?:total\s+|overall\s+|"
    r"proven\s+|professional\s+|industry\s+|work\s+|hands-on\s+|relevant\s+)*experience",
    re.I,
)


def read_resume(text: str, now: int) -> Resume:
    """Read ``text`` (already normalised, ``\\n`` line ends) as of month ``now``."""
    lines = text.split("\n")
    starts = [0, *itertools.accumulate(len(line) + 1 for line in lines[:-1])]
    sections = _sections(lines)
    roles = _roles(text, lines, starts, sections, now)
    role_of_line = {i: role for role in roles for i in range(role.first_line, role.last_line)}

    if roles:
        total: float | None = merged_months((r.first_month, r.last_month) for r in roles) / 12
    else:
        claimed = [float(m["n"]) for m in _TOTAL_CLAIM_RE.finditer(text)]
        total = max(claimed) if claimed else None

    education, education_line = 0, None
    for match in EDUCATION_RE.finditer(text):
        level = level_of(match)
        if level > education:
            education = level
            education_line = bisect.bisect_right(starts, match.start()) - 1

    tokens = Tokens.of(text)
    token_lines = [bisect.bisect_right(starts, s) - 1 for s in tokens.starts]
    return Resume(
        text=text,
        lines=lines,
        starts=starts,
        sections=sections,
        roles=roles,
        role_of_line=role_of_line,
        tokens=tokens,
        token_lines=token_lines,
        total_years=total,
        education=education,
        education_line=education_line,
        now=now,
        words=len(tokens),
        claims=_years_claims(lines),
    )


def _sections(lines: list[str]) -> list[Section]:
    found: list[Section] = []
    current: Section = "headline"
    for line in lines:
        stripped = line.strip()
        short = stripped and len(stripped.split()) <= _MAX_HEADING_WORDS
        if short and not YEAR_HINT_RE.search(stripped):
            for name, pattern in _HEADINGS:
                if pattern.match(stripped):
                    current = name
                    break
        found.append(current)
    return found


def _roles(
    text: str, lines: list[str], starts: list[int], sections: list[Section], now: int
) -> list[Role]:
    """Dated roles: ranges outside education, each covering lines up to the next range."""
    dated: list[tuple[int, DateRange]] = []
    for found in find_ranges(text, now):
        line = bisect.bisect_right(starts, found.start) - 1
        if sections[line] == "education" or DEGREE_WORDS_RE.search(lines[line]):
            continue
        if dated and dated[-1][0] == line:
            continue  # one role per line: the first range written
        dated.append((line, found))
    roles = []
    for index, (line, found) in enumerate(dated):
        last = dated[index + 1][0] if index + 1 < len(dated) else len(lines)
        end = line + 1
        # A role ends at the next range, or where an education or skills section begins.
        while end < last and not (
            sections[end] != sections[line] and sections[end] in ("education", "skills")
        ):
            end += 1
        roles.append(Role(line, end, found.first_month, found.last_month, line))
    return roles


def _years_claims(lines: list[str]) -> dict[int, list[tuple[int, int, float]]]:
    claims: dict[int, list[tuple[int, int, float]]] = {}
    for index, line in enumerate(lines):
        lowered = line.lower()
        if "year" in lowered or "yr" in lowered:
            found = [(m.start(), m.end(), float(m["n"])) for m in _YEARS_CLAIM_RE.finditer(line)]
            if found:
                claims[index] = found
    return claims


def claim_for(claims: list[tuple[int, int, float]], column: int) -> float:
    """Years stated next to a skill: "4 years in Java", "Python (3 yrs)"."""
    best = 0.0
    for start, end, years in claims:
        if 0 <= column - end <= 25 or 0 <= start - column <= 30:
            best = max(best, years)
    return best
