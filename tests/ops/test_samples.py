"""Sample résumés: deterministic, varied, and readable back by the extractor."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from ingest.extract import extract_text, sniff_media_type
from ops.samples import DOCX, PDF, TEXT, SampleResume, generate_samples

_DATED_ENTRY = re.compile(
    r"^.+, .+ \((Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} – "
    r"((Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}|Present)\)$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def samples() -> list[SampleResume]:
    return generate_samples(100, seed=7)


def test_same_seed_gives_the_same_files() -> None:
    assert generate_samples(12, seed=3) == generate_samples(12, seed=3)
    assert generate_samples(12, seed=3) != generate_samples(12, seed=4)


def test_cnics_are_well_formed_and_unique(samples: list[SampleResume]) -> None:
    assert all(re.fullmatch(r"\d{5}-\d{7}-\d", s.cnic) for s in samples)
    assert len({s.cnic for s in samples}) == len(samples)


def test_emails_are_unique_and_on_reserved_domains(samples: list[SampleResume]) -> None:
    assert len({s.email for s in samples}) == len(samples)
    assert all(re.fullmatch(r"[a-z0-9.]+@example\.(com|org|net)", s.email) for s in samples)


def test_default_mix_is_mostly_pdf_and_docx(samples: list[SampleResume]) -> None:
    assert Counter(s.media_type for s in samples) == {PDF: 45, DOCX: 45, TEXT: 10}


def test_mix_is_configurable() -> None:
    only_text = generate_samples(5, mix={TEXT: 1.0})
    assert {s.media_type for s in only_text} == {TEXT}


def test_profiles_spread_from_strong_to_no_python(samples: list[SampleResume]) -> None:
    profiles = Counter(s.profile for s in samples)
    assert profiles == {"strong": 15, "middling": 50, "weak": 25, "no_python": 10}
    for sample in samples:
        has_python = "Python" in sample.skills
        assert has_python == (sample.profile != "no_python")
        if sample.profile == "strong":
            assert {"Python", "PostgreSQL", "Docker"} <= set(sample.skills)
            assert sample.years_experience >= 4.5
        if sample.profile == "weak":
            assert sample.years_experience < 3


def test_every_resume_has_dated_experience_entries(samples: list[SampleResume]) -> None:
    for sample in samples:
        assert _DATED_ENTRY.search(sample.text), sample.text


def test_files_are_real_and_extract_back_to_the_candidates_text(
    samples: list[SampleResume],
) -> None:
    for media_type in (PDF, DOCX, TEXT):
        for sample in [s for s in samples if s.media_type == media_type][:4]:
            assert sniff_media_type(sample.data, sample.filename, None) == media_type
            extracted = extract_text(sample.data, sample.media_type)
            assert sample.name in extracted.text
            assert sample.email in extracted.text
            for skill in sample.skills:
                assert skill in extracted.text, (sample.filename, skill)
            assert extracted.hidden_text == []
            assert _DATED_ENTRY.search(extracted.text), extracted.text
