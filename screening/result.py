"""What a screening produces, whichever screener or model produced it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Recommendation = Literal["advance", "review", "reject"]


class Evidence(BaseModel):
    """A résumé line the screener relied on, and what it showed."""

    line: str = Field(max_length=400)
    supports: str = Field(max_length=200)


class ScreeningResult(BaseModel):
    """A 0–100 score with its reasons. The same model validates every LLM answer."""

    score: Annotated[float, Field(ge=0, le=100)]
    reasoning: str = Field(max_length=4000)
    matched_skills: list[str] = Field(default_factory=list, max_length=100)
    missing_skills: list[str] = Field(default_factory=list, max_length=100)
    recommendation: Recommendation
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)
    confidence: Annotated[float, Field(ge=0, le=1)] = 1.0
    flags: list[str] = Field(default_factory=list, max_length=20)


class LlmAnswer(BaseModel):
    """The structured answer asked of an LLM (a subset of :class:`ScreeningResult`)."""

    score: Annotated[float, Field(ge=0, le=100)]
    reasoning: str = Field(max_length=4000)
    matched_skills: list[str] = Field(max_length=100)
    missing_skills: list[str] = Field(max_length=100)
    recommendation: Recommendation
