"""Which process a run belongs to: its pid *and* its start time *and* its host.

A pid alone is not an identity: after the process ends (or the machine reboots) the kernel
hands the same number to an unrelated process, and signalling it would hit a stranger. So a
run records :class:`ProcessId` (pid, start time read from ``/proc``, host name) and everything
that asks "is the run's process still there?" or signals it goes through :func:`alive` and
:func:`terminate`, which match all three first. Not here: what a run does (``core.jobs.lifecycle``).
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# /proc gives the start time in clock ticks after boot (10 ms); boot time itself is whole seconds,
# so two readings of one process may differ by up to ~1 s
START_TOLERANCE_S = 1.5


def host_name() -> str:
    return socket.gethostname()


def start_time(pid: int) -> float | None:
    """When process ``pid`` started (Unix time), from /proc on Linux; None when it does not exist.

    A zombie (ended, not yet reaped by its parent: a job whose launcher never waits for it) has
    ended: None too.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] in ("Z", "X"):  # field 3, the state: zombie or dead
            return None
        ticks = int(fields[19])  # field 22, starttime, in clock ticks after boot
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


@dataclass(frozen=True)
class ProcessId:
    """A process as a run records it."""

    pid: int
    start: float | None  # Unix time; None where /proc is not available
    host: str

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        """The process ``pid`` on this machine, as it is now."""
        return cls(pid, start_time(pid), host_name())

    @classmethod
    def current(cls) -> ProcessId:
        return cls.of(os.getpid())

    @classmethod
    def from_dict(cls, d: Any) -> ProcessId | None:
        """The identity stored in a status file, or None when it is missing or malformed."""
        if not isinstance(d, dict):
            return None
        pid, start, host = d.get("pid"), d.get("start"), d.get("host")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not isinstance(host, str):
            return None
        if start is not None and not isinstance(start, int | float):
            return None
        return cls(pid, None if start is None else float(start), host)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def local(self) -> bool:
        return self.host == host_name()


def alive(proc: ProcessId | None) -> bool | None:
    """Whether ``proc`` still runs: True, False, or None when it cannot be told (another host).

    A pid that exists but started at another time is a different process: not alive.
    """
    if proc is None:
        return False
    if not proc.local:
        return None
    now = start_time(proc.pid)
    if now is None:
        try:  # no /proc (macOS): the pid is all there is to check
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return proc.start is None
        return proc.start is None
    return proc.start is not None and abs(now - proc.start) <= START_TOLERANCE_S


def terminate(proc: ProcessId | None, sig: int = signal.SIGTERM) -> bool:
    """Send ``sig`` to ``proc``'s process group, only if ``proc`` is exactly the process now running.

    Returns whether a signal was sent. A pid that was reused, a process on another host or one
    that already ended is never signalled.
    """
    if not alive(proc):
        return False
    try:
        pgid = os.getpgid(proc.pid)
        # a job started by core.jobs.launch leads its own session; otherwise only the process itself
        if pgid == proc.pid:
            os.killpg(pgid, sig)
        else:
            os.kill(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
