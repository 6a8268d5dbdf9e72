"""Education levels as written in résumés and job descriptions ("B.Sc.", "MBA", "PhD")."""

from __future__ import annotations

import re

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

EDUCATION_RE = re.compile(
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
DEGREE_WORDS_RE = re.compile(
    r"\b(?:degree|university|college|institute|school|academy|bootcamp|course|courses"
    r"|diploma|bachelor|master|graduated|graduation|faculty|studies|student|certificat\w*)\b"
    r"|\b(?:b\.?sc|m\.?sc|ph\.?d|mba)\b",
    re.IGNORECASE,
)
_DEGREE_RE = re.compile(r"\bdegree\b", re.IGNORECASE)


def education_level(text: str, *, requirement: bool = False) -> int:
    """The highest level named in ``text`` (0 when none); a requirement that only says
    "degree" means a bachelor's."""
    level = 0
    for match in EDUCATION_RE.finditer(text):
        level = max(level, level_of(match))
    if level == 0 and requirement and _DEGREE_RE.search(text):
        level = BACHELOR
    return level


def level_of(match: re.Match[str]) -> int:
    """The level an :data:`EDUCATION_RE` match names."""
    return int((match.lastgroup or "d0")[1:])
