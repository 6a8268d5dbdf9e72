"""Dramatiq worker pools: parse, score, shortlist, notify, maintenance."""
