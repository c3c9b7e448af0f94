"""The one lifecycle every job shares: queued -> running -> finished | failed | cancelled.

Every piece of background work (an RNN training, a GMM-HMM fit, word2vec, the memory-horizon
study, the seed experiment, a data install) is a run (``core.jobs.store``) of some *kind*
(``core.jobs.kinds``). :func:`run_job` runs any of them in this process:

1. it claims the run -- takes its lock (:meth:`~core.jobs.store.Run.owned`: one owner at a time; a
   second process is refused before it writes anything), refuses a run that is not ``queued`` (a
   finished or imported run is never trained again; a crashed one goes through :func:`resume`),
   removes the temporaries of writes a crash cut short, and records its
   :class:`~core.jobs.process.ProcessId` in ``status.json`` -- and starts a heartbeat thread that
   lives as long as the job (queue wait, data preparation and the test pass included), so a reader
   can always tell a live job from a crashed one;
2. it waits for its turn in the run's lane when asked to (strict launch order, ``core.jobs.queue``);
3. it calls the kind's job function with a :class:`JobContext` (progress, cancel checks, child
   runs, resume) and records how it ended: ``finished``, ``cancelled`` (a cancel request, Ctrl-C
   or SIGTERM) or ``failed`` with the error text (and the traceback in ``error.log``).

``launch`` starts ``python -m core job RUN_ID`` detached, the one way any job leaves the process
that asked for it, and hands it the run's lock; a job launched from inside another job (a sweep's
or a study's workers) ends with the job that launched it. ``cancel`` asks a job to stop, says so
when there is nothing to stop, and never signals a process that is not the run's; ``resume`` hands
a crashed or cancelled run back to its kind to continue. Pages only read runs: they never keep a
process handle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import rnnlab
from rnnlab.core.data.datasets import resolve_config
from rnnlab.core.device import CORES_ENV
from rnnlab.core.jobs import queue
from rnnlab.core.jobs.files import DamagedRun
from rnnlab.core.jobs.kinds import Cancelled, job_kind
from rnnlab.core.jobs.names import (
    ACTIVE,
    CANCEL_FILE,
    CANCELLED,
    CRASHED,
    ENDED,
    ERROR_LOG,
    FAILED,
    FINISHED,
    JOB_LOG,
    QUEUED,
    RUNNING,
)
from rnnlab.core.jobs.process import PARENT_ENV, ProcessId, alive, end_with_parent, handed_over, terminate
from rnnlab.core.jobs.store import ONE_OWNER, Run, RunStore
from rnnlab.core.jobs.targets import TrackTarget

TRACKED_KINDS = ("rnn",)  # the kinds whose job can be tracked live (``--track``): the trainings

HEARTBEAT_EVERY_S = 5.0
# the folder that holds the rnnlab package (the checkout, or site-packages in an installed copy): launched jobs
# start there and Ray's workers get it as PYTHONPATH, so `python -m rnnlab.core` finds this copy with nothing
# installed, and nothing called core or dashboard lands on their path
REPO_ROOT = Path(rnnlab.__file__).resolve().parent.parent
_RUNNING_HERE = threading.local()  # .depth: jobs this thread runs now; a launch from inside one starts a worker


class JobContext:
    """What a job function gets: its run and store, progress reporting, cancel checks, child runs.

    Status writes from the job and from the heartbeat thread go through one lock, so a beat never
    writes back a status older than the one the job just wrote.
    """

    def __init__(self, run: Run, store: RunStore, *, resume: bool = False, say: Callable[[str], None] | None = None,
                 parent: JobContext | None = None, lock: threading.Lock | None = None,
                 owner: ProcessId | None = None):
        self.run = run
        self.store = store
        self.resume = resume
        self.parent = parent
        self.owner = owner  # the process that owns the run: every write says so again, so a stray claim cannot stick
        self._say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._lock = lock or threading.Lock()

    # -- status -------------------------------------------------------------------------
    def update(self, **fields: Any) -> None:
        """Merge ``fields`` into the run's status (and refresh its heartbeat)."""
        with self._lock:
            self.run.update_status(**self._owned(fields))

    def progress(self, **fields: Any) -> None:
        """Merge ``fields`` into ``status.progress`` (phase, epoch, done/total...): what pages show."""
        with self._lock:
            st = self.run.stored_status()
            prog = st.get("progress") if isinstance(st.get("progress"), dict) else {}
            self.run.update_status(**self._owned({"progress": {**prog, **fields}}))

    def _owned(self, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields`` with the owner's identity, for the job's own writes (a bare heartbeat only beats)."""
        return fields if self.owner is None or not fields else {"process": self.owner.to_dict(), **fields}

    def say(self, msg: str) -> None:
        """A line for the job's log (the terminal, or ``job.log`` of a launched job)."""
        self._say(msg)

    # -- cancel -------------------------------------------------------------------------
    @property
    def cancel_requested(self) -> bool:
        return self.run.cancel_requested or (self.parent is not None and self.parent.cancel_requested)

    def check_cancel(self) -> None:
        """Raise :class:`Cancelled` when someone asked this job (or the job that started it) to stop."""
        if self.cancel_requested:
            raise Cancelled("cancelled on request")

    # -- child runs ---------------------------------------------------------------------
    def child(self, kind: str, cfg: Any, *, label: str | None = None, reuse: bool = True) -> Run:
        """Run a job of ``kind`` inside this one (a study's trainings): reused when a finished run has ``cfg``
        (fitted to its dataset first, as :func:`create` does).

        The child is an ordinary run with its own lifecycle and heartbeat; cancelling this job
        cancels the child too.
        """
        cfg = resolve_config(cfg)
        if reuse:
            done = self.store.find_finished(kind, cfg)
            if done is not None:
                self.say(f"reusing {kind} run {done.id}")
                return done
        self.check_cancel()
        child = create(kind, cfg, self.store, label=label)
        self.say(f"{kind} run {child.id}")
        return run_job(child, self.store, say=self._say, parent=self)


def _heartbeat(ctx: JobContext, stop: threading.Event, every_s: float) -> None:
    while not stop.wait(every_s):
        try:
            ctx.update()
        except OSError:  # a full disk or a deleted folder must not kill the job from this thread
            pass


@contextmanager
def _heartbeat_thread(ctx: JobContext, every_s: float = HEARTBEAT_EVERY_S):
    stop = threading.Event()
    thread = threading.Thread(target=_heartbeat, args=(ctx, stop, every_s), daemon=True, name=f"heartbeat {ctx.run.id}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def create(kind: str, cfg: Any, store: RunStore, *, label: str | None = None,
           extra: dict[str, Any] | None = None, track: Iterable[TrackTarget] = ()) -> Run:
    """A new run of ``kind`` for ``cfg``, its data part fitted to its dataset first
    (:func:`core.data.datasets.resolve_config`): the one way a job's run is made.

    A setting the dataset cannot satisfy (a validation split larger than its training rows, a limit
    below its classes) or a dataset that cannot be found raises here, before any folder exists, so a
    refused config never leaves a failed run behind; the run's ``config.json`` says what the job uses.
    ``track``: where a training is tracked live (:mod:`core.jobs.targets`), kept in its ``status.json``, not its
    config: a launch option, not part of what makes two runs the same configuration.
    """
    track = tuple(track)
    if track and kind not in TRACKED_KINDS:
        raise ValueError(f"only trainings ({', '.join(TRACKED_KINDS)} runs) are tracked live, not {kind} runs")
    run = store.create(resolve_config(cfg), kind=kind, label=label, extra=extra)
    if track:
        run.update_status(track=[str(t) for t in track])
    return run


def claim(run: Run, proc: ProcessId | None = None) -> None:
    """Record ``proc`` (default: this process) as the run's owner, keeping it ``queued``.

    The record only: what makes it exclusive is the run's lock, held by whoever runs or launches the
    job (:meth:`~core.jobs.store.Run.owned`); a sweep records itself so its queued runs read as its own.
    """
    proc = proc or ProcessId.current()
    run.update_status(state=QUEUED, process=proc.to_dict(), queued_at=time.time())


def run_job(run: Run, store: RunStore | None = None, *, lane: str | None = None, resume: bool = False,
            say: Callable[[str], None] | None = None, parent: JobContext | None = None,
            heartbeat_s: float = HEARTBEAT_EVERY_S, options: dict[str, Any] | None = None) -> Run:
    """Run ``run``'s job in this process, from claim to its final state; returns the run.

    The claim comes first: the run's lock (:class:`~core.jobs.store.RunBusy` when another process
    runs it) and a ``queued`` run (:func:`not_startable` says why not otherwise); a refused run is
    left exactly as it was. ``lane``: wait for the runs launched before this one in the same lane
    (one job at a time per lane, in launch order). ``resume``: continue a crashed or cancelled run
    (kinds that support it). A failure is recorded (state ``failed``, ``error``, ``error.log``) and
    re-raised; a cancel (request, Ctrl-C, SIGTERM) ends the run ``cancelled`` and returns normally,
    except that Ctrl-C is re-raised so a terminal user's interrupt still stops the command.
    ``options`` go to the kind's job function as keyword arguments (the trainer's extra callbacks,
    a progress bar).
    """
    store = store or RunStore(run.path.parent)
    kind = job_kind(run.kind)
    if resume and not kind.resumable:
        raise ValueError(f"{run.kind} runs cannot be resumed: start a new one")
    _refuse(not_startable(run, resume=resume, handed_over=True))  # a run that may never start: not even locked
    with run.owned() as hold:
        _refuse(not_startable(run, resume=resume, handed_over=hold.inherited))  # again, now that it is ours
        run.remove_partial_writes()  # a crashed writer's temporaries: nobody else writes here now
        ctx = JobContext(run, store, resume=resume, say=say, parent=parent, owner=ProcessId.current())
        with ctx._lock:
            run.update_status(state=QUEUED, process=ctx.owner.to_dict(), error=None,
                              **({"resumed_at": time.time()} if resume else {}))
        _RUNNING_HERE.depth = getattr(_RUNNING_HERE, "depth", 0) + 1
        try:
            interrupted = _run_claimed(ctx, kind, lane, heartbeat_s, options)
        finally:
            _RUNNING_HERE.depth -= 1
    if interrupted:
        raise KeyboardInterrupt
    return run


def _run_claimed(ctx: JobContext, kind: Any, lane: str | None, heartbeat_s: float,
                 options: dict[str, Any] | None) -> bool:
    """The job of a claimed run, with its heartbeat, to its recorded end; whether Ctrl-C ended it."""
    run, store = ctx.run, ctx.store
    interrupted = False
    with _heartbeat_thread(ctx, heartbeat_s):
        try:
            waiting = (queue.turn(store, run, lane, on_wait=lambda ahead: ctx.progress(phase=QUEUED, ahead=ahead))
                       if lane else nullcontext())
            with waiting:
                ctx.check_cancel()
                ctx.update(state=RUNNING, started=time.time(), progress={"phase": "starting"})
                kind.run(ctx, run.job_config(), **(options or {}))
            # a job that did all its work has finished, even if a cancel request arrived after its last check
            ctx.update(state=FINISHED, finished=time.time(), progress={"phase": FINISHED})
        except (Cancelled, KeyboardInterrupt) as e:
            interrupted = isinstance(e, KeyboardInterrupt)
            ctx.update(state=CANCELLED, finished=time.time(),
                       error="interrupted" if interrupted else None, progress={"phase": CANCELLED})
        except BaseException as e:
            ctx.update(state=FAILED, error=f"{type(e).__name__}: {e}", finished=time.time(),
                       progress={"phase": FAILED})
            try:
                run.file(ERROR_LOG).write_text(traceback.format_exc(), encoding="utf-8")
            except OSError:
                pass
            raise
    return interrupted


def not_startable(run: Run, *, resume: bool = False, handed_over: bool = False) -> str | None:
    """Why ``run``'s job may not start now, as one line; None when it may.

    Only a ``queued`` run starts: a finished or imported run is never trained again (nor its files
    truncated), and one that started before continues only through :func:`resume`. A run another
    live process has claimed (a sweep that will launch it) is left to it, unless that process
    handed its lock over (``handed_over``: this is the job it launched).
    """
    try:
        st = run.status()
    except DamagedRun as e:
        return f"{e}; a run whose status cannot be read is not started (delete it)"
    state, stored = st.get("state"), st.get("stored_state", st.get("state"))
    hint = (f"continue it with `python -m core train --resume {run.id}`" if job_kind(run.kind).resumable
            else "start a new run")
    if st.get("imported"):
        return f"run {run.id} was imported, not trained here: it is never trained (its weights stay as imported)"
    if stored != QUEUED:
        if state == FINISHED:
            return f"run {run.id} has finished: a finished run is never trained again (start a new run)"
        if state == RUNNING:
            return f"run {run.id} is already being run by {run.owner_text()}; {ONE_OWNER}"
        return f"run {run.id} is {state}, not queued: {hint}"
    if not resume and st.get("started") is not None:
        return f"run {run.id} started once already and holds that training's files: {hint}"
    proc = ProcessId.from_dict(st.get("process"))
    if not handed_over and state != CRASHED and proc is not None and proc != ProcessId.current():
        return f"run {run.id} is claimed by {run.owner_text()}, which will start it (a sweep, a launcher); {ONE_OWNER}"
    return None


# -- launching, cancelling, resuming ------------------------------------------------------------------------
def launch(run: Run, store: RunStore | None = None, *, lane: str | None = "train", resume: bool = False,
           cores: int | None = None) -> Run:
    """Start ``python -m rnnlab.core job RUN_ID`` detached: the run's job in its own OS process.

    The launcher claims the run first (its lock; a run that may not start is refused here, as the
    job itself would refuse it) and hands the lock to the child, so the run is never unowned in
    between. The run takes its place in ``lane``'s queue *now* (strict launch order) and the child's
    identity is recorded at once, so a child that dies before its first word shows as crashed.
    Launched from inside a job (a sweep's or a study's workers), the child ends with this process.
    The child's output goes to the run's ``job.log``. ``cores``: how many CPU cores the job may keep busy
    (``$RNNLAB_CORES``, :func:`core.device.job_cores`), for a launcher that runs several jobs at once.
    """
    store = store or RunStore(run.path.parent)
    _refuse(not_startable(run, resume=resume, handed_over=True))
    with run.owned() as hold:
        _refuse(not_startable(run, resume=resume))
        if lane:
            queue.enter(store, run, lane)
        cmd = [sys.executable, "-m", "rnnlab.core", "job", run.id, "--runs-dir", str(store.root)]
        if lane:
            cmd += ["--lane", lane]
        if resume:
            cmd.append("--resume")
        env = {k: v for k, v in os.environ.items() if k != PARENT_ENV}
        env.update(RNNLAB_RUNS_DIR=str(store.root), **handed_over(hold))
        if cores is not None:
            env[CORES_ENV] = str(max(1, int(cores)))
        if getattr(_RUNNING_HERE, "depth", 0):  # a job's worker: it must not outlive the job that waits for it
            env[PARENT_ENV] = str(os.getpid())
        with open(run.file(JOB_LOG), "a") as log:
            try:
                proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                                        pass_fds=(hold.fd,))
            except OSError as e:
                run.update_status(state=FAILED, error=f"could not start the job: {e}", finished=time.time())
                if lane:
                    queue.leave(store, run, lane)
                raise
        claim(run, ProcessId.of(proc.pid))
    return run


def follow_launcher() -> bool:
    """In a launched job: end with the job that launched it, if one did (a sweep's worker); False when that
    launcher has ended already, and the job must not start."""
    parent = os.environ.pop(PARENT_ENV, "")
    return not parent.isdigit() or end_with_parent(int(parent))


def submit(kind: str, cfg: Any, store: RunStore | None = None, *, label: str | None = None,
           lane: str | None = "train", track: Iterable[TrackTarget] = ()) -> Run:
    """Create a run of ``kind`` for ``cfg`` and launch it: what the pages call."""
    store = store or RunStore()
    return launch(create(kind, cfg, store, label=label, track=track), store, lane=lane)


def run_now(kind: str, cfg: Any, store: RunStore | None = None, *, label: str | None = None,
            lane: str | None = None, say: Callable[[str], None] | None = None,
            options: dict[str, Any] | None = None, track: Iterable[TrackTarget] = ()) -> Run:
    """Create a run of ``kind`` for ``cfg`` and run it in this process: what the CLI's commands call."""
    store = store or RunStore()
    return run_job(create(kind, cfg, store, label=label, track=track), store, lane=lane, say=say, options=options)


_NOTHING_TO_CANCEL = {FINISHED: "has finished", FAILED: "has failed", CANCELLED: "was cancelled already",
                      CRASHED: "has crashed (its process is gone: resume or delete it)"}


def cancel_refusal(run: Run) -> str | None:
    """Why there is nothing to cancel in ``run`` (it has ended, or its status cannot be read); None if there is."""
    try:
        state = run.status().get("state")
    except DamagedRun as e:
        return f"{e}: nothing can be cancelled"
    if state == CRASHED and alive(run.process()):  # silent, yet its process lives (hung): it can still be stopped
        return None
    if state in ENDED:
        return f"run {run.id} {_NOTHING_TO_CANCEL[state]}: there is nothing to cancel"
    return None


def cancel(run: Run, *, force: bool = False) -> bool:
    """Ask the run's job to stop; returns whether a signal was sent.

    The job sees the request at its next check (every optimiser step, EM iteration, study item)
    and ends ``cancelled``, keeping what it saved. A job still waiting in its queue leaves it at
    once. ``force`` also sends SIGTERM -- only to the process recorded as the run's owner, and
    only if that exact process (pid, start time *and* command line) still runs. A run that has
    ended (:func:`cancel_refusal`) is left exactly as it is: nothing is written.
    """
    if cancel_refusal(run):
        return False
    run.request_cancel()
    return terminate(run.process()) if force else False


def resume(run: Run, store: RunStore | None = None, *, background: bool = True, lane: str | None = "train",
           say: Callable[[str], None] | None = None) -> Run:
    """Continue a crashed, failed or cancelled run from its last checkpoint (kinds that support it).

    The run is claimed (its lock) before anything is written, and stays claimed into the job it
    launches or runs: a run whose process still holds it is refused (:class:`~core.jobs.store.RunBusy`).
    """
    store = store or RunStore(run.path.parent)
    _refuse(not_resumable(run))
    with run.owned():
        _refuse(not_resumable(run))  # again, now that it is ours
        run.file(CANCEL_FILE).unlink(missing_ok=True)
        run.update_status(state=QUEUED, process=None, error=None, finished=None)
        if background:
            return launch(run, store, lane=lane, resume=True)
        return run_job(run, store, lane=lane, resume=True, say=say)


def not_resumable(run: Run) -> str | None:
    """Why ``run`` cannot be resumed, as one line; None when it can (crashed, failed or cancelled, of a kind that
    checkpoints)."""
    state = run.status().get("state")
    if state in ACTIVE:
        return f"run {run.id} is {state}: only a crashed, failed or cancelled run can be resumed"
    if state == FINISHED:
        return f"run {run.id} has finished: there is nothing to resume"
    if not job_kind(run.kind).resumable:
        return f"{run.kind} runs cannot be resumed: start a new one"
    return None


def _refuse(why: str | None) -> None:
    if why:
        raise ValueError(why)


def install_sigterm_handler() -> None:
    """Turn SIGTERM into :class:`Cancelled` in the main thread: a forced cancel still ends the run cleanly."""
    def handler(signum: int, frame: Any) -> None:
        raise Cancelled("stopped by SIGTERM")

    signal.signal(signal.SIGTERM, handler)
