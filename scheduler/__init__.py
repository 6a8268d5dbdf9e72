"""Periodic jobs on cron expressions, run by exactly one leader (PostgreSQL advisory lock)."""

from scheduler.jobs import JOBS, Job, JobContext
from scheduler.leader import LeaderLock
from scheduler.runner import Scheduler

__all__ = ["JOBS", "Job", "JobContext", "LeaderLock", "Scheduler"]
