"""The embedded local screener: deterministic, offline, explainable.

``LocalScreener().screen(resume_text, criteria, job_description, job_title=...)`` reads the
résumé (sections, dated roles, titles, skills through the curated aliases and the ESCO/O*NET
index), builds or reuses the job's profile, and scores it (see :mod:`screening.local.scoring`
for the components and weights). Every component of the score is in the reasoning with the
résumé line it rests on.

Résumé text is data: a line holding a phrase that addresses a model (see
:mod:`screening.injection`) is blanked before scoring, so it can neither add nor remove points,
and the result is flagged ``possible_prompt_injection`` (an "advance" becomes "review").
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import date

from screening.criteria import Criteria
from screening.index import TaxonomyIndex, default_index
from screening.injection import injection_spans, normalize_text
from screening.local.dates import month_of
from screening.local.job import JobProfile, ProfileCache
from screening.local.resume import read_resume
from screening.local.scoring import score
from screening.local.skills import SkillEvidence
from screening.result import ScreeningResult
from screening.taxonomy import Taxonomy, default_taxonomy

MODEL_VERSION = "pvara-local-v1"


class LocalScreener:
    """Scores a résumé against a job's criteria without any network or model.

    Args:
        taxonomy: the curated software aliases (default: the shipped ones).
        index: the ESCO/O*NET index (default: the shipped one).
        reference_date: the date "present"/"now" means in date ranges (default: today).
            Pass one for reproducible results.
        weights: component weights replacing :data:`screening.local.scoring.WEIGHTS`
            (benchmark ablations; a zero weight drops the component).
    """

    def __init__(
        self,
        taxonomy: Taxonomy | None = None,
        reference_date: date | None = None,
        index: TaxonomyIndex | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self._taxonomy = taxonomy or default_taxonomy()
        self._index = index or default_index()
        self._reference_date = reference_date
        self._profiles = ProfileCache(self._taxonomy, self._index)
        self._weights = dict(weights) if weights is not None else None

    @property
    def model_version(self) -> str:
        """Identifies this screener in results and logs (``ai_model_version``)."""
        return MODEL_VERSION

    def profile(
        self,
        criteria: Criteria,
        job_description: str | None = None,
        job_title: str | None = None,
        job_key: Hashable | None = None,
    ) -> JobProfile:
        """The job's profile, built once and cached (by ``job_key`` when given, e.g.
        ``(job_id, criteria_version)``, else by the criteria, description and title)."""
        return self._profiles.get(criteria, job_description, job_title, job_key)

    def screen(
        self,
        resume_text: str,
        criteria: Criteria,
        job_description: str | None = None,
        *,
        job_title: str | None = None,
        job_key: Hashable | None = None,
    ) -> ScreeningResult:
        """Score ``resume_text`` (already extracted text) against a job.

        ``job_description`` supplies the skills when the criteria list none; ``job_title``
        (or the description's first line) names the job's occupation.
        """
        text = normalize_text(resume_text).replace("\r\n", "\n").replace("\r", "\n")
        spans = injection_spans(text)
        if spans:
            text = _blank_lines(text, spans)
        profile = self.profile(criteria, job_description, job_title, job_key)
        today = self._reference_date or date.today()
        resume = read_resume(text, month_of(today.year, today.month))
        evidence = SkillEvidence(
            resume,
            self._index,
            self._taxonomy,
            profile.literals,
            profile.literal_keys,
            profile.words,
        )
        return score(
            resume,
            evidence,
            profile,
            criteria,
            self._index,
            injected=bool(spans),
            weights=self._weights,
        )


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
