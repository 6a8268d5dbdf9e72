"""Every actor, for ``dramatiq tasks.workers`` (what ``pvara worker`` runs)."""

from tasks import email, maintenance, notify, parse, rebuild, score, shortlist
from tasks.broker import broker

__all__ = ["broker", "email", "maintenance", "notify", "parse", "rebuild", "score", "shortlist"]
