"""Interviews: scheduling with conflict detection, rescheduling, cancelling, feedback."""
