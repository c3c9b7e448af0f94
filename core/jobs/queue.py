"""Lanes of launched jobs: one job at a time per lane, strictly in the order they were launched.

A lane is a folder of tickets under ``<runs>/.queue/<lane>/``, one per waiting or running run,
named ``<launch time in ns>-<run id>``: the launcher takes the ticket *before* it starts the job's
process, so the order is the order of the launches, not of the processes' start-up (three runs
launched in one second train in that order). A job runs when its ticket is the oldest one whose
run is still alive; tickets of runs whose process is gone (crashed, killed, cancelled while
waiting) or whose heartbeat went stale (any host: older than the store's bound, or from the future)
are removed by whoever finds them, so a dead job never blocks the ones behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rnnlab.core.jobs.kinds import Cancelled
from rnnlab.core.jobs.names import QUEUED, RUNNING
from rnnlab.core.jobs.store import Run, RunStore, crash_reason

POLL_S = 0.2
UNCLAIMED_GRACE_S = 30.0  # a ticket whose run has no process yet: the launcher is still starting it


def _lane(store: RunStore, lane: str) -> Path:
    if not lane.replace("-", "").isalnum():
        raise ValueError(f"invalid lane name {lane!r}")
    return store.root / ".queue" / lane


def _ticket(store: RunStore, run: Run, lane: str) -> Path | None:
    folder = _lane(store, lane)
    if folder.is_dir():
        for t in folder.iterdir():
            if t.name.split("-", 1)[-1] == run.id:
                return t
    return None


def enter(store: RunStore, run: Run, lane: str) -> Path:
    """Take ``run``'s place at the end of ``lane`` (idempotent)."""
    existing = _ticket(store, run, lane)
    if existing is not None:
        return existing
    folder = _lane(store, lane)
    folder.mkdir(parents=True, exist_ok=True)
    ticket = folder / f"{time.time_ns():020d}-{run.id}"
    ticket.touch()
    return ticket


def leave(store: RunStore, run: Run, lane: str) -> None:
    t = _ticket(store, run, lane)
    if t is not None:
        t.unlink(missing_ok=True)


def _holder_alive(store: RunStore, ticket: Path) -> bool:
    """Whether the ticket's run still waits or runs: its status read as the store reads it (a run of any host
    whose heartbeat went stale, or lies in the future, has crashed and gives its place up)."""
    run_id = ticket.name.split("-", 1)[-1]
    run = Run(store.root / run_id)
    if not run.path.is_dir():
        return False
    st = run.stored_status()
    if st.get("state") not in (QUEUED, RUNNING):
        return False
    if crash_reason(st) is not None:
        return False
    if run.process() is None:  # launched a moment ago: its process is being started
        try:
            return time.time() - ticket.stat().st_mtime < UNCLAIMED_GRACE_S
        except OSError:
            return False
    return True


def head(store: RunStore, lane: str) -> str | None:
    """The id of the run whose turn it is in ``lane``; dead tickets are swept on the way."""
    folder = _lane(store, lane)
    if not folder.is_dir():
        return None
    for ticket in sorted(folder.iterdir()):
        if _holder_alive(store, ticket):
            return ticket.name.split("-", 1)[-1]
        ticket.unlink(missing_ok=True)
    return None


def position(store: RunStore, run: Run, lane: str) -> int | None:
    """How many live runs are ahead of ``run`` in ``lane`` (None when it holds no ticket)."""
    mine = _ticket(store, run, lane)
    if mine is None:
        return None
    return sum(1 for t in sorted(_lane(store, lane).iterdir()) if t.name < mine.name and _holder_alive(store, t))


@contextmanager
def turn(store: RunStore, run: Run, lane: str, *, on_wait: Callable[[int | None], None] | None = None,
         poll_s: float = POLL_S) -> Iterator[None]:
    """Wait until it is ``run``'s turn in ``lane``, hold it for the block, then give it up.

    A run that holds no ticket (run in the foreground, not launched) takes one now. While it
    waits, ``on_wait(runs ahead)`` hears of every change of its place, and a cancel request
    ends the wait with :class:`~core.jobs.kinds.Cancelled`.
    """
    enter(store, run, lane)
    told = -1
    try:
        while head(store, lane) != run.id:
            if run.cancel_requested:
                raise Cancelled("cancelled while queued")
            if _ticket(store, run, lane) is None:  # swept while its status was unreadable: queue again
                enter(store, run, lane)
            ahead = position(store, run, lane)
            if on_wait is not None and ahead != told:
                on_wait(ahead)
                told = ahead
            time.sleep(poll_s)
        yield
    finally:
        leave(store, run, lane)
