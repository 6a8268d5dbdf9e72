"""A child process that dies with its parent, even when the parent is SIGKILLed (Linux).

Used by the Dramatiq worker processes (their parent is the pool's main process) and by every
child of ``pvara up`` (their parent is the supervisor), so no orphan keeps consuming beside a
restarted replacement.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel for ``sig`` when this process's parent dies (``PR_SET_PDEATHSIG``);
    if ``parent_pid`` is already gone (it died before the request took effect), send it now.
    Returns False where the request is not supported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)
    return True
