"""Candidate submissions and their status."""
