"""The local screener ranks candidates of non-software jobs the way a recruiter would."""

from __future__ import annotations

from datetime import date

import pytest

from screening.criteria import Criteria
from screening.local import LocalScreener

REFERENCE = date(2024, 6, 1)

ACCOUNTANT_JOB = Criteria.model_validate(
    {
        "screening_criteria": {
            "must_have_skills": [
                {"name": n}
                for n in (
                    "accountant",
                    "bookkeeping",
                    "reconciliation",
                    "financial statements",
                    "sales tax",
                )
            ]
        }
    }
)

STRONG_ACCOUNTANT = """\
SENIOR ACCOUNTANT
Summary
Accountant with nine years in general ledger, month-end close and tax.
Experience
Senior Accountant, Hart & Co — Jan 2019 – present
• Prepared monthly financial statements and balance sheet reconciliations for 12 entities.
• Filed multi-state sales tax returns; kept the books (bookkeeping) for two subsidiaries.
Staff Accountant, Lumen Ltd — Mar 2015 – Dec 2018
• Bank reconciliation, accounts payable and bookkeeping in QuickBooks.
Education
B.Com Accounting, 2014
"""

LISTED_ACCOUNTANT = """\
ACCOUNTANT
Skills
Bookkeeping, reconciliation, financial statements, sales tax
Experience
Office Assistant, Lumen Ltd — Mar 2015 – Dec 2016
• Answered phones and filed documents.
"""

WEAK_CANDIDATE = """\
SALES ASSOCIATE
Experience
Sales Associate, Mega Mart — 2018 – present
• Greeted customers, restocked shelves and ran the till.
"""


@pytest.fixture(scope="module")
def screener() -> LocalScreener:
    return LocalScreener(reference_date=REFERENCE)


def test_a_strong_accountant_outranks_a_listed_one_who_outranks_a_weak_one(
    screener: LocalScreener,
) -> None:
    strong = screener.screen(STRONG_ACCOUNTANT, ACCOUNTANT_JOB)
    listed = screener.screen(LISTED_ACCOUNTANT, ACCOUNTANT_JOB)
    weak = screener.screen(WEAK_CANDIDATE, ACCOUNTANT_JOB)
    assert strong.score > listed.score + 5 > weak.score + 5
    assert "accountant" in strong.matched_skills
    assert "accountant" in weak.missing_skills


def test_skills_used_in_a_recent_dated_role_count_more_than_listed_or_old_ones(
    screener: LocalScreener,
) -> None:
    job = Criteria.model_validate(
        {"screening_criteria": {"must_have_skills": [{"name": "payroll"}]}}
    )
    recent = "Experience\nClerk, Acme — 2022 – present\n• Ran payroll for 300 staff.\n"
    old = "Experience\nClerk, Acme — 2008 – 2010\n• Ran payroll for 300 staff.\n"
    listed = "Skills\nPayroll\n"
    scores = [screener.screen(r, job).score for r in (recent, old, listed)]
    assert scores[0] > scores[1] > scores[2]


def test_related_skills_along_the_hierarchy_earn_partial_credit(
    screener: LocalScreener,
) -> None:
    job = Criteria.model_validate(
        {"screening_criteria": {"must_have_skills": [{"name": "supply chain"}]}}
    )
    related = screener.screen("Experience\nPlanner — 2021 – present\nSupply chain management", job)
    nothing = screener.screen("Experience\nPlanner — 2021 – present\nRan the front desk", job)
    assert related.score > nothing.score
    assert "supply chain" in related.reasoning


def test_the_job_title_is_compared_with_the_titles_held(screener: LocalScreener) -> None:
    job = Criteria.model_validate(
        {"screening_criteria": {"must_have_skills": [{"name": "customer service"}]}}
    )
    text = "{title}\nExperience\n{title}, Acme — 2020 – present\n• Customer service at the desk.\n"
    chef = screener.screen(text.format(title="Sous Chef"), job, job_title="Chef de partie")
    clerk = screener.screen(text.format(title="Bank Teller"), job, job_title="Chef de partie")
    assert chef.score > clerk.score
    assert "Occupation fit" in chef.reasoning


TEACHER_JOB = """\
Primary School Teacher
We are looking for a primary school teacher to plan lessons, manage the classroom and
assess pupils' progress. Required: lesson planning, classroom management, curriculum
development. A teaching certificate is a plus. We offer a pension and paid holidays.
"""


def test_a_teachers_job_described_in_free_text_is_read_through_the_taxonomy(
    screener: LocalScreener,
) -> None:
    teacher = """\
PRIMARY TEACHER
Experience
Class Teacher, Green Hill Primary School — 2017 – present
• Planned lessons and developed the year-3 curriculum; classroom management for 28 pupils.
• Assessed pupils' progress and met parents each term.
"""
    accountant = screener.screen(STRONG_ACCOUNTANT, Criteria(), TEACHER_JOB)
    result = screener.screen(teacher, Criteria(), TEACHER_JOB)
    assert "skills_from_job_description" in result.flags
    assert result.score > accountant.score + 20
    assert "Occupation fit" in result.reasoning
    assert any("lesson" in s.lower() or "classroom" in s.lower() for s in result.matched_skills)


def test_near_equal_candidates_get_distinct_scores(screener: LocalScreener) -> None:
    skills = ["bookkeeping", "reconciliation", "financial statements", "sales tax", "payroll"]
    variants = []
    for used in range(1, 5):
        for start in (2012, 2022):
            done = "; ".join(skills[:used])
            listed = ", ".join(skills[used:])
            variants.append(
                f"ACCOUNTANT\nSkills\n{listed}\nExperience\n"
                f"Accountant, Acme — {start} – present\n• {done} for the group.\n"
            )
    scores = [screener.screen(v, ACCOUNTANT_JOB).score for v in variants]
    assert len(set(scores)) == len(scores)


def test_every_component_is_in_the_reasoning_with_a_quote(screener: LocalScreener) -> None:
    result = screener.screen(STRONG_ACCOUNTANT, ACCOUNTANT_JOB, job_title="Accountant")
    for part in ("Must-have", "Occupation fit", "Relevance", "“"):
        assert part in result.reasoning
    assert result.evidence
