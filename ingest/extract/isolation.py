"""The sandbox: résumé parsers run in a pool of pre-started, bounded processes.

A :class:`Sandbox` keeps ``size`` parser processes ready. Each takes one file at a time over a
pipe and, for that file only, lowers its own limits: the address space (``RLIMIT_AS``) to the
file's memory limit, and the CPU time (``RLIMIT_CPU``) to what it has used so far plus the
file's time limit and a second (a backstop that holds even if the caller dies mid-parse). The
caller waits at most the wall-clock limit. A parser that overruns, runs out of memory or dies
is killed and a fresh one takes its place; every parser is also replaced after
``recycle_after`` files, or sooner once its address space has grown past half the memory
limit, so a heap fragmented or state left behind by one résumé never builds up. A parse costs
a pipe round trip instead of a process start (~20 ms of fork plus the child's set-up, 280-410
ms of wall time per file under load when it was one child per file).

Parsers are forked from a ``forkserver`` that imports pypdf and lxml once: forking the caller
would copy a Dramatiq worker's threads' held locks and its whole address space into the
child. The main script of the calling process must therefore be import-safe (``if __name__
== "__main__"``), as for any forkserver use of multiprocessing: the server imports it once.
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any

from ingest.extract.model import ExtractionError, ExtractionLimits, Payload

log = logging.getLogger(__name__)

#: Modules every parser process starts with (imported once, in the fork server).
PRELOAD = ("__main__", "ingest.extract.pdf", "ingest.extract.docx", "pypdf", "lxml.etree")

_Outcome = tuple[Any, ...]


@functools.cache
def _context() -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    assert isinstance(ctx, ForkServerContext)
    # "__main__" makes the server import the caller's main script once (guarded code does not
    # run), instead of every child re-running it as multiprocessing otherwise does.
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


# multiprocessing's bookkeeping of children (start, join, close) is not thread-safe.
_process_lock = threading.Lock()


class _NotDeliveredError(Exception):
    """The file never reached the parser (it had died while idle): safe to send again."""


class _Parser:
    """One parser process and the caller's end of its pipe."""

    def __init__(self) -> None:
        ctx = _context()
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process: BaseProcess = ctx.Process(
            target=_serve, args=(child_conn,), name="pvara-parser", daemon=True
        )
        with _process_lock:
            self.process.start()
        child_conn.close()
        self.files = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive()

    def call(
        self, fn: Callable[..., Payload], args: tuple[Any, ...], limits: ExtractionLimits
    ) -> _Outcome:
        """Send one file; returns the child's outcome or raises :class:`ExtractionError`
        (the parser is then dead or must be killed)."""
        self.files += 1
        deadline = time.monotonic() + limits.time_limit_s
        try:
            self.conn.send((fn, args, limits.memory_limit_bytes, limits.time_limit_s))
            # The parser acknowledges the file before it starts on it: a parser that was
            # already dead never got it, and the file may go to another one.
            if not self.conn.poll(limits.time_limit_s):
                raise ExtractionError("timeout", "the parser did not take the file in time")
            self.conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise _NotDeliveredError from exc
        if not self.conn.poll(max(0.0, deadline - time.monotonic())):
            raise ExtractionError(
                "timeout", f"parsing took longer than {limits.time_limit_s:g} s and was stopped"
            )
        try:
            outcome: _Outcome = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            if self.process.exitcode == -signal.SIGXCPU:
                raise ExtractionError("timeout", "parsing ran out of CPU time") from None
            raise ExtractionError(
                "parser_crashed", f"the parser died (exit code {self.process.exitcode})"
            ) from None
        return outcome

    def stop(self) -> None:
        """Kill the process (whatever it is doing) and wait for it."""
        with _process_lock:
            if self.process.is_alive():
                self.process.kill()
            self.process.join()
            self.process.close()
        self.conn.close()


class Sandbox:
    """A pool of ``size`` parser processes; thread-safe. See the module docstring.

    Args:
        size: parser processes kept (callers beyond that wait for one to be free).
        recycle_after: files a parser handles before it is replaced.
    """

    def __init__(self, size: int = 2, *, recycle_after: int = 500) -> None:
        if size < 1 or recycle_after < 1:
            raise ValueError("size and recycle_after must be at least 1")
        self.size = size
        self.recycle_after = recycle_after
        self._free = threading.Semaphore(size)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._idle: list[_Parser] = []
        self._starting = 0  # replacements being started in the background
        self._closed = False
        self.started = 0  # parser processes started so far (for tests and metrics)
        self.replaced = 0  # of which replaced after a failure, overrun or recycling

    def start(self) -> None:
        """Start the missing parsers now, so the first files find them ready."""
        with self._lock:
            missing = self.size - len(self._idle)
        for _ in range(missing):
            self._give_back(self._new())

    def run(
        self, fn: Callable[..., Payload], args: tuple[Any, ...], limits: ExtractionLimits
    ) -> Payload:
        """``fn(*args)`` in a parser within ``limits``; its ExtractionError is re-raised.

        Raises:
            ExtractionError: the parser's own, or ``timeout``, ``memory_limit`` or
                ``parser_crashed`` (that parser is then replaced).
        """
        with self._free:
            for attempt in (1, 2):
                parser = self._take()
                try:
                    outcome = parser.call(fn, args, limits)
                except _NotDeliveredError:
                    self._discard(parser)
                    if attempt == 2:
                        raise ExtractionError(
                            "parser_crashed", "no parser process could be started"
                        ) from None
                    continue
                except BaseException:
                    self._discard(parser)
                    raise
                break
            if outcome[0] == "error":
                # A parser that hit a limit may have been left in any state: replace it.
                if outcome[1] == "memory_limit":
                    self._discard(parser)
                else:
                    self._release(parser, outcome, limits)
                raise ExtractionError(outcome[1], outcome[2])
            self._release(parser, outcome, limits)
            result: Payload = outcome[1]
            return result

    def close(self) -> None:
        """Stop every idle parser; later calls start none."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._changed.notify_all()
        for parser in idle:
            parser.stop()

    def pids(self) -> list[int]:
        """The idle parsers' process ids."""
        with self._lock:
            return [p.pid for p in self._idle if p.pid is not None]

    # ------------------------------------------------------------------------------------

    def _new(self) -> _Parser:
        parser = _Parser()
        with self._lock:
            self.started += 1
        return parser

    def _take(self) -> _Parser:
        with self._changed:
            # A replacement on its way is worth waiting for rather than starting another.
            self._changed.wait_for(lambda: self._idle or not self._starting or self._closed, 30)
            if self._closed:
                raise ExtractionError("parser_crashed", "the sandbox is closed")
            parser = self._idle.pop() if self._idle else None
        if parser is not None and not parser.alive():
            log.warning("parser process found dead; replacing it", extra={"pid": parser.pid})
            self._stop(parser)
            parser = None
        return parser or self._new()

    def _release(self, parser: _Parser, outcome: _Outcome, limits: ExtractionLimits) -> None:
        address_space = outcome[-1] if isinstance(outcome[-1], int) else 0
        if parser.files >= self.recycle_after or address_space > limits.memory_limit_bytes // 2:
            self._discard(parser)
        else:
            self._give_back(parser)

    def _give_back(self, parser: _Parser) -> None:
        with self._changed:
            if not self._closed and len(self._idle) < self.size:
                self._idle.append(parser)
                self._changed.notify()
                return
        self._stop(parser)

    def _discard(self, parser: _Parser) -> None:
        """Kill ``parser`` and start its replacement in the background."""
        self._stop(parser)
        with self._lock:
            if self._closed:
                return
            self.replaced += 1
            self._starting += 1
        threading.Thread(target=self._replace, name="pvara-parser-start", daemon=True).start()

    def _replace(self) -> None:
        try:
            self._give_back(self._new())
        except Exception:  # the next call starts one itself
            log.exception("could not start a replacement parser process")
        finally:
            with self._changed:
                self._starting -= 1
                self._changed.notify_all()

    @staticmethod
    def _stop(parser: _Parser) -> None:
        try:
            parser.stop()
        except (OSError, ValueError):
            log.debug("stopping a parser process failed", exc_info=True)


# --- the parser process ----------------------------------------------------------------------


def _serve(conn: Connection) -> None:
    """A parser process: one file at a time until the caller closes the pipe."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Malformed files make pypdf log a warning per broken object; that is not news.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    _, hard_as = resource.getrlimit(resource.RLIMIT_AS)
    _, hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)
    while True:
        try:
            fn, args, memory_limit, time_limit_s = conn.recv()
            conn.send_bytes(b"1")
        except (EOFError, OSError):
            return
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_limit = math.ceil(usage.ru_utime + usage.ru_stime + time_limit_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (_cap(cpu_limit, hard_cpu), hard_cpu))
        resource.setrlimit(resource.RLIMIT_AS, (_cap(memory_limit, hard_as), hard_as))
        outcome: _Outcome
        try:
            outcome = ("ok", fn(*args))
        except ExtractionError as exc:
            outcome = ("error", exc.code, exc.message)
        except MemoryError:
            outcome = ("error", "memory_limit", "parsing needed more memory than allowed")
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (hard_as, hard_as))
            resource.setrlimit(resource.RLIMIT_CPU, (hard_cpu, hard_cpu))
        try:
            conn.send((*outcome, _address_space()))
        except MemoryError:
            conn.send(("error", "memory_limit", "parsing needed more memory than allowed", 0))
        except BrokenPipeError:
            return  # the worker that asked was killed: nobody to answer (and no stray traceback)


def _cap(limit: int, hard: int) -> int:
    return limit if hard == resource.RLIM_INFINITY else min(limit, hard)


def _address_space() -> int:
    try:
        with open(f"/proc/{os.getpid()}/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# --- the process's sandbox ---------------------------------------------------------------------

_default_lock = threading.Lock()
_default: Sandbox | None = None


def use_sandbox(sandbox: Sandbox | None) -> Sandbox | None:
    """Parse through ``sandbox`` from now on (``None``: a default one on next use); returns
    the one it replaces, which the caller may close."""
    global _default
    with _default_lock:
        previous, _default = _default, sandbox
    return previous


def default_sandbox() -> Sandbox:
    """The process's sandbox (made on first use with ``PVARA_PARSE_SANDBOX_*`` settings)."""
    global _default
    with _default_lock:
        if _default is None:
            from core.settings import get_settings

            settings = get_settings()
            _default = Sandbox(
                settings.parse_sandbox_size or 2, recycle_after=settings.parse_sandbox_recycle_after
            )
        return _default


def run_isolated(
    fn: Callable[..., Payload], args: tuple[Any, ...], limits: ExtractionLimits
) -> Payload:
    """``fn(*args)`` in the process's sandbox within ``limits`` (see :meth:`Sandbox.run`)."""
    return default_sandbox().run(fn, args, limits)
