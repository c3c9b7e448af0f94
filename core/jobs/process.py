"""Which process a run belongs to: its pid, start time, command line and host; and the lock that makes it the one.

A pid alone is not an identity: after the process ends (or the machine reboots) the kernel
hands the same number to an unrelated process, and signalling it would hit a stranger. So a
run records :class:`ProcessId` (pid, start time read from ``/proc``, a hash of its command line,
host name) and everything that asks "is the run's process still there?" or signals it goes
through :func:`alive` and :func:`terminate`, which match them all first: a ``sleep`` that happens
to have the recorded pid and start time is still not the run's ``python -m core job RUN_ID``.

A record says who owns a run; :func:`exclusive` makes sure only one does. It holds an exclusive
``flock`` on a file for as long as the block lasts; the kernel drops the lock when the holder's
last descriptor of it closes, so a process killed with -9 leaves nothing to clean up. A launcher
hands its lock to the job it starts (the child inherits the open file, :data:`LOCK_FD_ENV` names
it), so a run is never unowned between launch and start. :func:`end_with_parent` lets a sweep's
worker end with the sweep that started it.

Not here: what a run does (``core.jobs.lifecycle``), where its lock file lies (``core.jobs.store``).
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# /proc gives the start time in clock ticks after boot (10 ms); boot time itself is whole seconds,
# so two readings of one process may differ by up to ~1 s
START_TOLERANCE_S = 1.5
LOCK_FD_ENV = "RNNLAB_LOCK_FD"  # a launched job's inherited lock: the number of the descriptor it holds
PARENT_ENV = "RNNLAB_PARENT_PID"  # a launched worker ends when the process with this pid (its launcher) ends
PARENT_POLL_S = 1.0  # how often a worker without prctl looks whether its launcher still lives
LOCK_POLL_S = 0.02  # how often a waiting claim tries the lock again
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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


def command_hash(pid: int) -> str | None:
    """A short hash of process ``pid``'s command line (``/proc/PID/cmdline``); None where it cannot be read.

    What tells a run's ``python -m core job RUN_ID`` (or the process that claimed it) from an
    unrelated process that got the same pid at the same start time.
    """
    raw = _command_line(pid)
    return _hash(raw) if raw else None


def _command_line(pid: int) -> bytes | None:
    """``/proc/PID/cmdline``: None when the process is gone (or there is no /proc); empty while it exits."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def _hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class ProcessId:
    """A process as a run records it."""

    pid: int
    start: float | None  # Unix time; None where /proc is not available
    host: str
    cmd: str | None = None  # command_hash(pid); None where /proc is not available, or in a record made before it

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        """The process ``pid`` on this machine, as it is now."""
        return cls(pid, start_time(pid), host_name(), command_hash(pid))

    @classmethod
    def current(cls) -> ProcessId:
        return cls.of(os.getpid())

    @classmethod
    def from_dict(cls, d: Any) -> ProcessId | None:
        """The identity stored in a status file, or None when it is missing or malformed."""
        if not isinstance(d, dict):
            return None
        pid, start, host, cmd = d.get("pid"), d.get("start"), d.get("host"), d.get("cmd")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not isinstance(host, str):
            return None
        if start is not None and (not isinstance(start, int | float) or isinstance(start, bool)):
            return None
        if cmd is not None and not isinstance(cmd, str):
            return None
        return cls(pid, None if start is None else float(start), host, cmd)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def local(self) -> bool:
        return self.host == host_name()


def alive(proc: ProcessId | None) -> bool | None:
    """Whether ``proc`` still runs: True, False, or None when it cannot be told (another host).

    A pid that exists but started at another time, or runs another command line, is a different
    process: not alive.
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
    if proc.start is None or abs(now - proc.start) > START_TOLERANCE_S:
        return False
    raw = _command_line(proc.pid)
    if raw == b"":  # exiting: its memory is gone, its files (a run's lock) not yet; gone once it is a zombie
        return True
    return raw is not None and (proc.cmd is None or _hash(raw) == proc.cmd)


def terminate(proc: ProcessId | None, sig: int = signal.SIGTERM) -> bool:
    """Send ``sig`` to ``proc``'s process group, only if ``proc`` is exactly the process now running.

    Returns whether a signal was sent. A pid that was reused, a process running another command
    line, one on another host, one that already ended, or a record without a command line to
    match (made before they were recorded) is never signalled.
    """
    if proc is None or proc.cmd is None or not alive(proc):
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


# -- the lock: one owner ----------------------------------------------------------------------------------------
class LockHeld(RuntimeError):
    """Another process (or another thread of this one) holds the lock."""


@dataclass
class Hold:
    """This process's hold of one lock file."""

    fd: int  # the open file the lock belongs to
    thread: int  # the thread that took it: re-entrant there only
    inherited: bool  # handed over by the process that launched this one
    depth: int = 1


_HOLDS: dict[str, Hold] = {}
_HOLDS_GUARD = threading.Lock()


@contextmanager
def exclusive(path: str | os.PathLike, wait_s: float = 0.0) -> Iterator[Hold]:
    """Hold the exclusive lock on ``path`` (made if missing) for the block; :class:`LockHeld` when another has it
    (still, after ``wait_s`` seconds of trying).

    Re-entrant in the thread that holds it (resuming a run launches it: one claim). A lock handed
    over by the launcher (:data:`LOCK_FD_ENV`) is taken up. Given up by closing the file, never by
    unlocking it: a child launched meanwhile shares the open file and keeps the lock.
    """
    key = os.path.abspath(path)
    with _HOLDS_GUARD:
        hold = _HOLDS.get(key)
        if hold is not None:
            if hold.thread != threading.get_ident():
                raise LockHeld(f"{key} is held by another thread of this process")
            hold.depth += 1
    if hold is None:  # the kernel arbitrates between threads too: each opens the file anew
        fd, inherited = _inherited(key), True
        if fd is None:
            fd, inherited = _take(key, wait_s), False
        with _HOLDS_GUARD:
            hold = _HOLDS[key] = Hold(fd, threading.get_ident(), inherited)
    try:
        yield hold
    finally:
        with _HOLDS_GUARD:
            hold.depth -= 1
            if hold.depth == 0:
                del _HOLDS[key]
                os.close(hold.fd)


def _take(path: str, wait_s: float = 0.0) -> int:
    """Open ``path`` and lock it, trying for ``wait_s`` seconds; the descriptor, or :class:`LockHeld`."""
    deadline = time.monotonic() + wait_s
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise LockHeld(f"{path} is held by another process") from None
            time.sleep(LOCK_POLL_S)
            continue
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            return fd
        os.close(fd)  # the file was replaced between open and lock: lock the one that is there now


def _same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _inherited(path: str) -> int | None:
    """The descriptor of ``path``'s lock that this process's launcher handed over (:data:`LOCK_FD_ENV`), if any."""
    value = os.environ.get(LOCK_FD_ENV, "")
    if not value.isdigit() or not _same_file(int(value), path):
        return None
    fd = int(value)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the same open file: already ours, this only confirms it
    except OSError:
        return None
    os.set_inheritable(fd, False)  # ours alone from now on: a process this one launches gets it only if handed it
    del os.environ[LOCK_FD_ENV]
    return fd


def handed_over(hold: Hold) -> dict[str, str]:
    """The environment that hands ``hold``'s lock to a child started with ``pass_fds=(hold.fd,)``."""
    return {LOCK_FD_ENV: str(hold.fd)}


# -- a worker ends with its launcher ----------------------------------------------------------------------------
def end_with_parent(parent: int, sig: int = signal.SIGTERM) -> bool:
    """Have this process get ``sig`` when its launcher ``parent`` ends; False when it has ended already.

    Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``, set through ctypes) where there is one;
    elsewhere a daemon thread that looks every :data:`PARENT_POLL_S` seconds. The kernel signals when
    the launcher's *thread* that started this process ends: a sweep launches from its job's thread.
    """
    if not _parent_death_signal(sig):
        threading.Thread(target=_watch_parent, args=(parent, sig), daemon=True, name="watch launcher").start()
    return os.getppid() == parent  # checked after arming: a launcher that ended just before is seen too


def _parent_death_signal(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def _watch_parent(parent: int, sig: int) -> None:
    stop = threading.Event()
    while not stop.wait(PARENT_POLL_S):
        if os.getppid() != parent:  # re-parented: the launcher has ended
            os.kill(os.getpid(), sig)
            return
