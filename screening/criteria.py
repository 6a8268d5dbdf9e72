"""A job's screening criteria: the seed's admin configuration as a validated model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

Proficiency = Literal["beginner", "intermediate", "advanced", "expert"]
Provider = Literal["local", "ollama", "anthropic", "openai"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Skill(_Model):
    """A skill the job asks for, with the years and proficiency expected."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    years: Annotated[float, Field(ge=0, le=50)] = 0
    proficiency: Proficiency | None = None


class ScreeningRules(_Model):
    must_have_skills: list[Skill] = Field(default_factory=list, max_length=50)
    nice_to_have_skills: list[Skill] = Field(default_factory=list, max_length=50)
    min_experience_years: Annotated[float, Field(ge=0, le=60)] = 0
    required_education: str | None = Field(default=None, max_length=120)
    location_preference: list[Annotated[str, Field(max_length=80)]] = Field(
        default_factory=list, max_length=20
    )
    disqualifying_factors: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=20
    )


class LlmConfig(_Model):
    """Preferred model for this job; the router may override it (tier, budget, health)."""

    provider: Provider = "local"
    model: str = Field(default="pvara-local-v1", max_length=100)
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.0
    max_tokens: Annotated[int, Field(ge=50, le=8000)] = 500


class Filtering(_Model):
    top_n_candidates: Annotated[int, Field(ge=1, le=1000)] = 10
    min_score_threshold: Annotated[float, Field(ge=0, le=100)] = 70
    auto_advance_score: Annotated[float, Field(ge=0, le=100)] = 85


class Notifications(_Model):
    notify_on_complete: bool = True
    webhook_url: HttpUrl | None = None
    # The pattern is the whole check, so the published schema says what is accepted.
    email_recipients: list[
        Annotated[str, Field(max_length=254, pattern=r"^[!-?A-~]{1,64}@[!-?A-~]+$")]
    ] = Field(default_factory=list, max_length=20)


class Criteria(_Model):
    """Everything HR configures for screening one job (the seed's JSONB document)."""

    screening_criteria: ScreeningRules = Field(default_factory=ScreeningRules)
    llm_config: LlmConfig = Field(default_factory=LlmConfig)
    filtering: Filtering = Field(default_factory=Filtering)
    notifications: Notifications = Field(default_factory=Notifications)


def criteria_json_schema() -> dict[str, Any]:
    """The published JSON Schema of :class:`Criteria`."""
    return Criteria.model_json_schema()


EXAMPLE_CRITERIA: dict[str, Any] = {
    "screening_criteria": {
        "must_have_skills": [
            {"name": "Python", "years": 2, "proficiency": "intermediate"},
            {"name": "PostgreSQL", "years": 1, "proficiency": "intermediate"},
        ],
        "nice_to_have_skills": [
            {"name": "Kubernetes", "years": 1},
            {"name": "Docker", "years": 2},
        ],
        "min_experience_years": 3,
        "required_education": "Bachelor's degree",
        "location_preference": ["Remote", "New York"],
        "disqualifying_factors": ["No Python experience", "Currently employed at competitor"],
    },
    "llm_config": {
        "provider": "ollama",
        "model": "llama3.1:8b",
        "temperature": 0.3,
        "max_tokens": 500,
    },
    "filtering": {"top_n_candidates": 10, "min_score_threshold": 70, "auto_advance_score": 85},
    "notifications": {
        "notify_on_complete": True,
        "webhook_url": "https://hr-system.example.com/webhook/screening-complete",
        "email_recipients": ["hr@company.com"],
    },
}
"""The seed's example configuration (with a current Ollama model)."""
