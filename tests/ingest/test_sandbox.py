"""The warm sandbox: parser processes are reused, bounded per file, and replaced when a file
overruns a limit, kills them, or after N files; the next file always parses."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.extract import PDF, ExtractionError, ExtractionLimits, parser_for
from ingest.extract.isolation import Sandbox
from tests.ingest import hostile

LIMITS = ExtractionLimits(time_limit_s=5.0, memory_limit_bytes=256 * 1024 * 1024)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    made = Sandbox(1, recycle_after=1000)
    yield made
    made.close()


def _pid(sandbox: Sandbox) -> int:
    return int(sandbox.run(hostile.own_pid, (), LIMITS)[0])


def _parses_a_pdf(sandbox: Sandbox) -> None:
    text, pages, _, _ = sandbox.run(parser_for(PDF), (hostile.text_pdf(), LIMITS), LIMITS)
    assert text.splitlines() == hostile.VISIBLE_LINES
    assert pages == 1


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers signal 0 until reaped; its state says it is dead.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_prestarted_parsers_serve_file_after_file(sandbox: Sandbox) -> None:
    sandbox.start()
    ready = sandbox.pids()
    assert len(ready) == 1
    assert {_pid(sandbox) for _ in range(5)} == set(ready)
    _parses_a_pdf(sandbox)
    assert sandbox.started == 1


@pytest.mark.parametrize(
    ("bomb", "args", "limits", "code"),
    [
        (hostile.spin_forever, True, ExtractionLimits(time_limit_s=1.0), "timeout"),
        (hostile.allocate_forever, False, LIMITS, "memory_limit"),
        (hostile.crash, False, LIMITS, "parser_crashed"),
    ],
    ids=["endless-loop", "memory-bomb", "crash"],
)
def test_a_bomb_kills_and_replaces_its_parser_and_the_next_file_parses(
    sandbox: Sandbox,
    tmp_path: Path,
    bomb: Callable[..., hostile.Payload],
    args: bool,
    limits: ExtractionLimits,
    code: str,
) -> None:
    before = _pid(sandbox)
    with pytest.raises(ExtractionError) as caught:
        sandbox.run(bomb, (str(tmp_path / "pid"),) if args else (), limits)
    assert caught.value.code == code
    assert _gone(before)
    after = _pid(sandbox)
    assert after != before
    _parses_a_pdf(sandbox)
    assert sandbox.replaced == 1


def test_a_parser_is_recycled_after_its_quota_of_files() -> None:
    sandbox = Sandbox(1, recycle_after=3)
    try:
        first = [_pid(sandbox) for _ in range(3)]
        assert len(set(first)) == 1
        assert _pid(sandbox) != first[0]
        assert _gone(first[0])
    finally:
        sandbox.close()


def test_refusals_by_the_parser_keep_it(sandbox: Sandbox) -> None:
    before = _pid(sandbox)
    with pytest.raises(ExtractionError) as caught:
        sandbox.run(parser_for(PDF), (hostile.corrupt_pdf(), LIMITS), LIMITS)
    assert caught.value.code == "corrupt_pdf"
    assert _pid(sandbox) == before


def test_cpu_and_memory_limits_are_set_for_each_file(sandbox: Sandbox) -> None:
    # Each file gets its time limit (+1 s) counted from its own start, whatever the process
    # used before: a long-lived parser never runs out of CPU budget from earlier files.
    for memory in (256, 300, 256):
        limits = ExtractionLimits(time_limit_s=3.0, memory_limit_bytes=memory * 1024 * 1024)
        text = sandbox.run(hostile.limits_in_force, (0.3,), limits)[0]
        cpu_left, address_space = text.split()
        assert 3.0 < float(cpu_left) <= 5.0
        assert int(address_space) == memory * 1024 * 1024
    assert sandbox.started == 1


def test_a_parser_found_dead_while_idle_is_replaced(sandbox: Sandbox) -> None:
    before = _pid(sandbox)
    os.kill(before, signal.SIGKILL)
    after = _pid(sandbox)
    assert after != before
    _parses_a_pdf(sandbox)


def test_concurrent_callers_share_the_parsers() -> None:
    sandbox = Sandbox(2, recycle_after=1000)
    errors: list[BaseException] = []

    def parse() -> None:
        try:
            for _ in range(3):
                _parses_a_pdf(sandbox)
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=parse) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        assert sandbox.started == 2
    finally:
        sandbox.close()


def test_a_closed_sandbox_refuses_work(sandbox: Sandbox) -> None:
    _pid(sandbox)
    pids = sandbox.pids()
    sandbox.close()
    assert all(_gone(pid) for pid in pids)
    with pytest.raises(ExtractionError):
        _pid(sandbox)
