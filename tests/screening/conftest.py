"""Fixtures of the screening tests."""

from tests.fakes.llm_server import fake_llm, llm_server

__all__ = ["fake_llm", "llm_server"]
