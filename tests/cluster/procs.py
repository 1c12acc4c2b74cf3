"""Processes by pid: the descendants of a process, and a kill that cannot hit a reused pid.

A process group is how the cluster stops a component, but some descendants leave their
parent's group (Postgres backends and Airflow task processes start sessions of their own);
these are found through ``/proc`` beforehand and killed afterwards if still alive.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process, from ``/proc/<pid>/stat``."""
    try:
        # "pid (comm) state ppid ... starttime(22nd)": comm may hold spaces; split after ")"
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def descendants(roots: list[int]) -> list[tuple[int, int]]:
    """Every live descendant of the processes ``roots``, as (pid, start time) pairs."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found: list[tuple[int, int]] = []
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def kill_if_same(pid: int, started: int) -> None:
    """SIGKILL ``pid`` if it is still the process that started at ``started`` (no reuse)."""
    stat = _stat(pid)
    if stat is not None and stat[1] == started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
