"""The ESCO/O*NET index: phrases, titles, hierarchy, idf; and the phrase normalisation."""

from __future__ import annotations

from screening.index import default_index
from screening.phrases import PhraseTable, Tokens, phrase_key, stems


def labels(ids: tuple[int, ...]) -> set[str]:
    return {default_index().concept(i).label for i in ids}


def test_everyday_skill_words_name_esco_and_onet_concepts() -> None:
    index = default_index()
    assert "financial statements" in labels(index.skills_for(phrase_key("Financial Statements")))
    assert "Intuit QuickBooks" in labels(index.skills_for(phrase_key("QuickBooks")))
    assert "search engine optimisation" in labels(
        index.skills_for(phrase_key("search engine optimization"))
    )


def test_job_titles_name_occupations_in_isco_groups() -> None:
    index = default_index()
    chef = {index.occupation(o).code for o in index.occupations_for(phrase_key("sous chef"))}
    accountant = {index.occupation(o).code for o in index.occupations_for(phrase_key("Accountant"))}
    assert "3434" in chef  # ISCO 3434: chefs
    assert "2411" in accountant


def test_agent_nouns_are_not_their_activity() -> None:
    assert stems(["manager", "management"])[0] != stems(["management"])[0]
    assert phrase_key("Accountant") != phrase_key("accounts")
    assert phrase_key("experience") != phrase_key("experiment")
    assert phrase_key("managed budgets") == phrase_key("manage budget")


def test_related_concepts_come_from_the_hierarchy() -> None:
    index = default_index()
    (python,) = [c for c in index.skills_for("python") if index.concept(c).kind == "knowledge"]
    related = index.related(python)
    assert related and all(0 < v <= 0.6 for v in related.values())
    assert any(index.concept(c).kind in ("group", "knowledge") for c in related)


def test_the_longest_phrase_wins_and_hits_do_not_overlap() -> None:
    keys = {phrase_key("supply chain"): 1, phrase_key("supply chain management"): 2, "sale": 3}
    table = PhraseTable(keys)
    hits = table.find(Tokens.of("Led Supply-Chain Management and sales."), keys)
    assert [h.key for h in hits] == [phrase_key("supply chain management"), "sale"]


def test_rare_words_weigh_more_than_common_ones() -> None:
    index = default_index()
    assert index.idf("reconcili") > index.idf("manag")
