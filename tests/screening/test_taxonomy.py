"""The skill taxonomy: aliases, word boundaries, ambiguous words, implications."""

from __future__ import annotations

import pytest

from screening.taxonomy import Taxonomy, default_taxonomy


def skills_in(text: str) -> list[str]:
    return [m.skill for m in default_taxonomy().find(text)]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("Postgres", "PostgreSQL"),
        ("postgresql", "PostgreSQL"),
        ("psql", "PostgreSQL"),
        ("k8s", "Kubernetes"),
        ("JS", "JavaScript"),
        ("React.js", "React"),
        ("ReactJS", "React"),
        ("Golang", "Go"),
        ("C#", "C#"),
        (".NET", ".NET"),
        ("MS SQL", "SQL Server"),
        ("SQL Server", "SQL Server"),
        ("ML", "Machine Learning"),
        ("machine-learning", "Machine Learning"),
        ("Node.js", "Node.js"),
        ("sklearn", "scikit-learn"),
        ("QuickBooks", "QuickBooks"),
        ("talent acquisition", "Recruitment"),
        ("Photoshop", "Adobe Photoshop"),
    ],
)
def test_aliases_resolve_to_canonical_skills(written: str, canonical: str) -> None:
    assert skills_in(f"Skills: {written}, Linux") == [canonical, "Linux"]


def test_java_is_not_found_inside_javascript() -> None:
    assert skills_in("JavaScript and TypeScript") == ["JavaScript", "TypeScript"]


def test_longest_alias_wins() -> None:
    assert skills_in("Spring Boot, SQL Server 2016, ASP.NET MVC") == [
        "Spring Boot",
        "SQL Server",
        "ASP.NET",
    ]


def test_go_is_found_in_lists_but_not_in_prose() -> None:
    assert "Go" in skills_in("Languages: Java, Go, Python")
    assert "Go" in skills_in("Senior Go developer")
    assert "Go" not in skills_in("Go to market strategy; let's go.")
    assert "Go" not in skills_in("We go beyond")


def test_single_letter_languages_need_a_list_context() -> None:
    assert skills_in("C, C++, R") == ["C", "C++", "R"]
    assert skills_in("Graded C in math; R&D budget") == []


def test_seasons_and_verbs_are_not_skills() -> None:
    assert skills_in("Spring 2019 semester") == []
    assert skills_in("doctors react to alerts and excel at triage") == []
    assert skills_in("React and Excel") == ["React", "Excel"]


def test_punctuated_names_match_at_word_boundaries() -> None:
    assert skills_in("C#/.NET, HTML5/CSS3, CI/CD, Unix/Linux") == [
        "C#",
        ".NET",
        "HTML",
        "CSS",
        "CI/CD",
        "Unix",
        "Linux",
    ]


def test_implied_skills_are_transitive() -> None:
    assert default_taxonomy().implied("Spring Boot") == {"Spring Boot", "Spring", "Java"}
    assert "SQL" in default_taxonomy().implied("PostgreSQL")


def test_canonical_accepts_names_typed_by_people() -> None:
    taxonomy = default_taxonomy()
    assert taxonomy.canonical("go") == "Go"
    assert taxonomy.canonical("  Postgres ") == "PostgreSQL"
    assert taxonomy.canonical("Basket weaving") is None


def test_taxonomy_covers_software_and_general_business_skills() -> None:
    taxonomy = default_taxonomy()
    categories = {skill.category for skill in taxonomy.skills.values()}
    assert len(taxonomy) >= 300
    assert {"language", "database", "devops", "finance", "hr", "sales", "design", "office"} <= (
        categories
    )


def test_an_alias_claimed_by_two_skills_is_rejected() -> None:
    with pytest.raises(ValueError, match="claimed by"):
        Taxonomy([{"name": "A", "aliases": ["x"]}, {"name": "B", "aliases": ["x"]}])


def test_implying_an_unknown_skill_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown skill"):
        Taxonomy([{"name": "A", "implies": ["Nope"]}])
