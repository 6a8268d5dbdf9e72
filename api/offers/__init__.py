"""Offers: create, accept, decline, expire (lazily on read; swept by the scheduler)."""
