"""Liveness files: refreshed while every loop turns, stale once one stops or a check objects."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.liveness import Liveness, age_s
from tests.pipeline import wait_for


def _age_back(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_file_is_refreshed_while_every_loop_turns(tmp_path: Path) -> None:
    live = Liveness(tmp_path / "live" / "bridge", timeout_s=30)
    assert age_s(live.path) is None
    live.progress("consumer")
    assert age_s(live.path) is not None and live.problem() is None
    _age_back(live.path, 100)
    live._touched = 0.0  # the once-a-second throttle: next progress writes
    live.progress("consumer")
    age = age_s(live.path)
    assert age is not None and age < 5


def test_a_loop_that_stops_turning_stops_the_refresh_and_names_itself(tmp_path: Path) -> None:
    live = Liveness(tmp_path / "bridge", timeout_s=0.5)
    live.progress("consumer")
    live.progress("outbox")
    problem = wait_for(live.problem, 10, "the outbox loop to go stale")
    assert "has not gone round" in problem
    _age_back(live.path, 100)
    live._touched = 0.0
    live.progress("consumer")  # only one loop turns: the file stays stale
    age = age_s(live.path)
    assert age is not None and age > 90


def test_a_check_that_objects_stops_the_refresh_until_it_is_removed(tmp_path: Path) -> None:
    live = Liveness(tmp_path / "api", timeout_s=30)
    remove = live.add_check(lambda: "the producer is stuck")
    live.progress("event-loop")
    assert age_s(live.path) is None
    assert live.problem() == "the producer is stuck"
    remove()
    live._touched = 0.0
    live.progress("event-loop")
    assert age_s(live.path) is not None and live.problem() is None
