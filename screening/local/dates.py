"""Dates and date ranges as résumés write them ("Jan 2019 – present", "07/2015 to 05/2017").

Months are counted as integers, ``year * 12 + month - 1``; a year without a month counts from
mid-year (July).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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
_DATE = rf"(?:{_MONTH}[ \t,']*{_YEAR}|\d{{1,2}}\s*[/.]\s*{_YEAR}|{_YEAR})"
_PRESENT = r"(?:present|current(?:ly)?|now|today|to\s+date|date|ongoing|till\s+now)"
# Separators may span line breaks: PDF extraction often puts "to" on a line of its own.
RANGE_RE = re.compile(
    rf"(?<![\w/.])(?P<start>{_DATE})\s*(?:-|–|—|−|~|to|until|till|through|thru)\s*"
    rf"(?P<end>{_DATE}|{_PRESENT}|\d\d(?![\w/.]))(?![\w/])"
    rf"|\b(?:since|from)\s+(?P<since>{_DATE})(?!\s*(?:-|–|—|to|until)\s*\w)",
    re.IGNORECASE,
)
YEAR_HINT_RE = re.compile(_YEAR)
_DATE_PARTS_RE = re.compile(rf"(?P<month>{_MONTH}|\d{{1,2}})?[\s,'/.]*(?P<year>{_YEAR})", re.I)
_TWO_DIGITS_RE = re.compile(r"\d\d")


@dataclass(frozen=True, slots=True)
class DateRange:
    """A date range found in a text: where it was written and the months it covers."""

    start: int  # character offsets
    end: int
    first_month: int
    last_month: int

    @property
    def months(self) -> int:
        return self.last_month - self.first_month


def month_of(year: int, month: int) -> int:
    """The month number of a calendar month."""
    return year * 12 + month - 1


def find_ranges(text: str, now: int) -> Iterator[DateRange]:
    """Every plausible date range in ``text`` (future starts and reversed ranges dropped)."""
    if not YEAR_HINT_RE.search(text):
        return
    for match in RANGE_RE.finditer(text):
        months = _parse_range(match, now)
        if months is not None:
            yield DateRange(match.start(), match.end(), *months)


def _parse_range(match: re.Match[str], now: int) -> tuple[int, int] | None:
    if match["since"]:
        start, end = parse_date(match["since"]), now
    else:
        start = parse_date(match["start"])
        if start is None:
            return None
        raw_end = match["end"]
        if _TWO_DIGITS_RE.fullmatch(raw_end):
            end = (start // 12 // 100 * 100 + int(raw_end)) * 12 + 6
        else:
            parsed = parse_date(raw_end)
            end = now if parsed is None else parsed
    if start is None or start > now or end < start:
        return None
    return start, min(end, now)


def parse_date(text: str) -> int | None:
    """The month number of a written date ("Mar 2019", "03/2019", "2019"), else None."""
    match = _DATE_PARTS_RE.search(text)
    if match is None:
        return None
    year = int(match["year"])
    raw = (match["month"] or "").lower().rstrip(".")
    month = _MONTHS.get(raw[:3], 7)
    if raw.isdigit():
        month = int(raw) if 1 <= int(raw) <= 12 else 7
    return month_of(year, month)


def merged_months(intervals: Iterable[tuple[int, int]]) -> int:
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
