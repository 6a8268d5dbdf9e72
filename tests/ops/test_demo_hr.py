"""The demo's HR step says what moved in the shortlist when the criteria tightened, and why."""

from __future__ import annotations

from typing import Any

from ops.demo_hr import render_moves


def entry(app: str, rank: int, score: float, missing: list[str], years: float) -> dict[str, Any]:
    return {
        "application_id": app,
        "rank": rank,
        "score": score,
        "candidate_name": f"Candidate {app}",
        "skills_missing": missing,
        "reasoning": f"Experience 9/10: {years} years from dated entries (asked 5).",
    }


def test_moves_name_the_new_must_have_and_the_years() -> None:
    before = {
        "criteria_version": 1,
        "entries": [entry("a", 1, 95.0, [], 4.7), entry("b", 2, 93.0, [], 8.0)],
    }
    after = {
        "criteria_version": 2,
        "entries": [entry("b", 1, 92.0, [], 8.0), entry("c", 2, 90.0, [], 6.0)],
    }
    left = {
        "a": {
            "score": 70.0,
            "skills_missing": ["Kubernetes"],
            "ai_reasoning": {
                "reasoning": "Experience 9/10: 4.7 years from dated entries (asked 5)."
            },
        }
    }
    text = render_moves(before, after, left)
    assert "changed: True" in text
    assert "#2 → #1" in text and "has Kubernetes; 8 years ≥ 5 asked" in text
    assert "new → #2" in text
    assert "#1 → out" in text and "no Kubernetes (now a must-have); 4.7 years < 5 asked" in text


def test_an_unchanged_shortlist_says_so() -> None:
    same = {"criteria_version": 1, "entries": [entry("a", 1, 95.0, [], 6.0)]}
    assert "(no change)" in render_moves(same, same, {})
    assert "changed: False" in render_moves(same, same, {})
