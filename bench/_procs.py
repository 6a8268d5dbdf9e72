"""CPU time and memory of process trees, read from /proc (Linux), for the benchmarks."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_CLK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces.
    return raw[raw.rindex(")") + 2 :].split()


def ppids() -> dict[int, int]:
    """Every live process and its parent."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                found[int(entry)] = int(fields[1])
    return found


def tree(root: int, parents: dict[int, int] | None = None) -> list[int]:
    """``root`` and every live descendant."""
    parents = ppids() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in parents or pid == root:
            out.append(pid)
            stack.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system time of ``pids``, including their reaped children's."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the name.
            total += sum(int(v) for v in fields[11:15])
    return total / _CLK


def tree_cpu(root: int) -> float:
    return cpu_seconds(tree(root))


def rss_mb(pid: int) -> float:
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return resident * _PAGE / 2**20


def command_of(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in argv if a]
    words = [w.rsplit("/", 1)[-1] if w.startswith("/") else w for w in words]
    return " ".join(words)[:60]
