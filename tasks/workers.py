"""Every actor, for ``dramatiq tasks.workers`` (what ``pvara worker`` runs)."""

from tasks import maintenance, notify, parse, rebuild, score, shortlist
from tasks.broker import broker

__all__ = ["broker", "maintenance", "notify", "parse", "rebuild", "score", "shortlist"]
