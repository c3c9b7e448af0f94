"""Where a sweep's runs execute: on this machine, N at a time in their own processes, or as tasks on a Ray cluster.

What it is: two executors with one method, ``execute(ctx, runs, done)``, which runs every given
run (already created in the store, ``queued``) to its end and calls ``done(run, note)`` for each
as it ends. Both run each run with the one job runner (:func:`core.jobs.lifecycle.run_job`):

* :class:`LocalExecutor` launches ``python -m core job RUN_ID`` (:func:`core.jobs.lifecycle.launch`,
  no queue lane) for up to ``parallel`` runs at once: by default one per core for one-thread
  runs, or three per GPU when the runs train on CUDA (a small recurrent network leaves a GPU
  mostly idle; packing keeps it busy). A run whose process dies is resumed from its last
  checkpoint up to ``retries`` times, then left ``crashed``. The workers end with the sweep's
  process (a kill -9 of the sweep included: Linux's parent-death signal), so a restarted sweep
  never finds them training beside it.
* :class:`RayExecutor` submits each run as a Ray task declaring its CPUs (its torch threads) and
  a fraction of a GPU, so a cluster of any size schedules them. No shared filesystem is needed:
  the task gets the run's ``config.json`` (plus the word2vec run it initialises from, if any),
  trains it in a scratch store on the worker, and returns the run folder as a tar archive, which
  the driver unpacks beside the store and renames into place. A task whose worker dies is
  submitted again up to ``retries`` times, then the run is marked failed as crashed, saying so.
  A submitted run reads ``queued`` until a worker starts it: the worker reports its start and
  then its progress (epoch, phase) through a Ray queue, which the driver copies into the run's
  status, so the dashboard follows a run on a cluster as it follows one here. The driver holds a
  run's lock while a worker trains it, so nothing here starts it meanwhile.

Both keep the heartbeats of the runs they have claimed but not started yet (:class:`Beats`), and
neither ever starts a run that another live process owns: such a run (another sweep's worker, a
run resumed by hand) is waited for, done when it finishes there, and taken up (:func:`take_up`)
if it ends crashed or cancelled -- one training per run, however many sweeps overlap.

What it is not: planning (``core.sweep.spec``), the sweep's results (``core.sweep.job``).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rnnlab.core.device import CORES_ENV, machine_cores
from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.estimate import training_seconds_each
from rnnlab.core.jobs.kinds import Cancelled, job_kind
from rnnlab.core.jobs.names import CANCEL_FILE, CANCELLED, CONFIG_FILE, CRASHED, FAILED, FINISHED, QUEUED, RUNNING
from rnnlab.core.jobs.process import ProcessId
from rnnlab.core.jobs.store import Run, RunBusy, RunStore

POLL_S = 0.5
REPORT_S = 2.0  # how often a Ray worker reports its run's progress to the driver
START_POLL_S = 0.1  # how soon it tells the driver its run has started
RUNS_PER_GPU = 3
MAX_FOLDER_BYTES = 2 * 2**30  # a run folder coming back from a worker (a checkpoint of a huge model stays under)
Done = Callable[[Run, str], None]  # (run, note): note says "" or how it was retried / why it crashed


def cpu_count() -> int:
    """The cores the local executor shares out (:func:`core.device.machine_cores`)."""
    return machine_cores()


def _threads(run: Run) -> int:
    return int((run.config_dict().get("train") or {}).get("threads") or 1)


def _on_gpu(run: Run) -> bool:
    device = str((run.config_dict().get("train") or {}).get("device") or "cpu")
    if device.startswith("cuda"):
        return True
    if device == "auto":
        try:
            import torch

            return torch.cuda.is_available()
        except ImportError:
            return False
    return False


def default_parallel(runs: list[Run]) -> int:
    """One run per core (per ``threads`` cores), or :data:`RUNS_PER_GPU` per GPU when they train on CUDA."""
    if runs and _on_gpu(runs[0]):
        import torch

        return max(1, RUNS_PER_GPU * torch.cuda.device_count())
    return max(1, cpu_count() // max(1, max((_threads(r) for r in runs), default=1)))


def longest_first(runs: list[Run], store: RunStore) -> list[Run]:
    """The runs in order of their expected training time, longest first (those with no estimate last).

    N at a time, the longest-first order finishes the whole set soonest (a long run started last
    would run alone at the end): the seed experiment's GRU, LSTM and RNN on two cores finish in
    about the LSTM's and the RNN's time together instead of the RNN's and the GRU's.
    """
    try:
        seconds = training_seconds_each([run.config() for run in runs], store)
    except (OSError, ValueError, TypeError):  # a config that cannot be read: keep the plan's order
        return list(runs)
    order = sorted(range(len(runs)), key=lambda i: seconds[i] or 0.0, reverse=True)  # stable for equal estimates
    return [runs[i] for i in order]


def owned_elsewhere(run: Run) -> bool:
    """Whether another live process owns ``run`` now (a worker of another sweep, or a sweep that claimed it)."""
    try:
        st = run.status()
    except (OSError, ValueError):
        return False
    proc = ProcessId.from_dict(st.get("process"))
    return st.get("state") in (QUEUED, RUNNING) and proc is not None and proc != ProcessId.current()


def take_up(run: Run) -> bool:
    """Claim an unfinished run (crashed, cancelled, failed, or queued by nobody) for this process, its cancel
    request and error cleared; False when it is not unfinished, or another process holds it this moment."""
    try:
        with run.owned():
            st = run.status()
            idle = st.get("state") == QUEUED and not st.get("process")
            if not idle and st.get("state") not in (CRASHED, CANCELLED, FAILED):
                return False
            run.file(CANCEL_FILE).unlink(missing_ok=True)
            run.update_status(state=QUEUED, process=None, error=None, finished=None)
            lifecycle.claim(run)
    except (OSError, ValueError):  # RunBusy (someone resumes it), a damaged status: not ours to take
        return False
    return True


def _started_before(run: Run) -> bool:
    """Whether the run trained before (a run taken up): it continues from its checkpoint."""
    return run.stored_status().get("started") is not None


class Beats:
    """The heartbeats of the runs a sweep has claimed but no worker runs yet: they must not read as crashed."""

    def __init__(self, every_s: float = lifecycle.HEARTBEAT_EVERY_S):
        self.every_s = every_s
        self.last: dict[str, float] = {}

    def beat(self, runs: Any) -> None:
        """Refresh each of ``runs`` this process still owns whose last beat is ``every_s`` old."""
        now, me = time.time(), ProcessId.current()
        for run in runs:
            if now - self.last.get(run.id, 0.0) < self.every_s:
                continue
            self.last[run.id] = now
            try:
                if run.process() == me and run.stored_status().get("state") in (QUEUED, RUNNING):
                    run.update_status()
            except OSError:  # a full disk: the next round
                continue


def collect_waiting(waiting: dict[str, Run], pending: list[Run], tries: dict[str, int], retries: int,
                    done: Done) -> None:
    """Of the runs other processes owned, those that have ended: done when finished, else taken up (back to
    ``pending``, at most ``retries + 1`` times each)."""
    for run_id, run in list(waiting.items()):
        if owned_elsewhere(run):
            continue
        del waiting[run_id]
        state = run.status().get("state")
        tries[run_id] = tries.get(run_id, 0) + 1
        if state == FINISHED:
            done(run, "trained by another process")
        elif tries[run_id] > retries + 1:
            done(run, f"{state} in another process; not taken up again")
        elif state == QUEUED or take_up(run):
            pending.insert(0, run)
        else:  # held by another process this moment (resuming it): look again
            waiting[run_id] = run


class LocalExecutor:
    """Up to ``parallel`` runs at once on this machine, each in its own ``python -m core job`` process.

    A run that another live process owns is waited for, never launched twice: it is done when it
    finishes there, and taken up (continued from its checkpoint) if it ends crashed or cancelled.
    The workers end with this process (:func:`core.jobs.lifecycle.launch` from inside a job).
    """

    name = "local"

    def __init__(self, parallel: int | None = None, retries: int = 1):
        self.parallel = parallel
        self.retries = retries
        self.cores: int | None = None  # each job's share of the cores, set when the runs start

    def execute(self, ctx: Any, runs: list[Run], done: Done) -> None:
        pending, active, waiting, tries = longest_first(runs, ctx.store), {}, {}, {}
        parallel = self.parallel or default_parallel(runs)
        self.cores = max(1, cpu_count() // parallel)  # each job's share of the cores (its torch threads and more)
        beats = Beats()
        ctx.say(f"local executor: {len(runs)} runs, {parallel} at a time")
        try:
            while pending or active or waiting:
                ctx.check_cancel()
                beats.beat(pending)
                while pending and len(active) < parallel:
                    run = pending.pop(0)
                    if self._start(ctx, run, self.cores):
                        active[run.id] = run
                    else:
                        waiting[run.id] = run
                collect_waiting(waiting, pending, tries, self.retries, done)
                self._collect_active(ctx, active, waiting, tries, done)
                time.sleep(POLL_S)
        except (Cancelled, KeyboardInterrupt):
            for run in active.values():
                lifecycle.cancel(run)
            raise

    @staticmethod
    def _start(ctx: Any, run: Run, cores: int) -> bool:
        """Launch ``run``'s job on ``cores`` cores; False when another process owns it (it is then waited for)."""
        if owned_elsewhere(run):
            return False
        try:
            lifecycle.launch(run, ctx.store, lane=None, resume=_started_before(run), cores=cores)
        except ValueError:  # RunBusy, or claimed by another sweep meanwhile: its owner trains it
            return False
        return True

    def _collect_active(self, ctx: Any, active: dict[str, Run], waiting: dict[str, Run], tries: dict[str, int],
                        done: Done) -> None:
        """Runs launched here that have ended: done, or resumed after a crash up to ``retries`` times."""
        for run_id, run in list(active.items()):
            state = run.status().get("state")
            if state in (QUEUED, RUNNING):
                continue
            del active[run_id]
            n = tries.get(run_id, 0)
            if state == CRASHED and n < self.retries:
                tries[run_id] = n + 1
                ctx.say(f"run {run_id} crashed: retry {n + 1} of {self.retries}")
                try:
                    if job_kind(run.kind).resumable:
                        lifecycle.resume(run, ctx.store, lane=None)  # from its last checkpoint
                    else:
                        run.update_status(state=QUEUED, process=None, error=None, started=None)
                        lifecycle.launch(run, ctx.store, lane=None, cores=self.cores)
                except ValueError:  # another process took it up meanwhile: wait for it there
                    waiting[run_id] = run
                    continue
                active[run_id] = run
                continue
            done(run, _retried(n) if state != CRASHED else f"crashed {n + 1} times, not retried again")


def _hold(run: Run) -> ExitStack | None:
    """``run``'s lock, held until the returned stack is closed; None when another process owns the run."""
    if owned_elsewhere(run):
        return None
    stack = ExitStack()
    try:
        stack.enter_context(run.owned())
    except RunBusy:
        return None
    return stack


def _retried(n: int) -> str:
    return f"retried {n} time{'s' * (n != 1)} after a crash" if n else ""


# -- Ray ---------------------------------------------------------------------------------------------------------
def pack_folder(path: Path) -> bytes:
    """A run folder as a gzip'd tar (names relative to the folder; checkpoints included)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in sorted(path.rglob("*")):
            if f.is_file() and not f.is_symlink():
                tar.add(f, arcname=str(f.relative_to(path)), recursive=False)
    return buf.getvalue()


def unpack_folder(blob: bytes, dest: Path) -> None:
    """Unpack :func:`pack_folder`'s archive into the new folder ``dest``: regular files only, no path leaving it."""
    if len(blob) > MAX_FOLDER_BYTES:
        raise ValueError(f"the run folder is {len(blob):,} bytes packed; at most {MAX_FOLDER_BYTES:,}")
    dest.mkdir(parents=True)
    total = 0
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for m in tar.getmembers():
            target = (dest / m.name).resolve()
            if not m.isfile() or not target.is_relative_to(dest.resolve()):
                raise ValueError(f"unexpected member {m.name!r} in a returned run folder")
            total += m.size
            if total > MAX_FOLDER_BYTES:
                raise ValueError("the returned run folder unpacks to more than MAX_FOLDER_BYTES")
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def replace_folder(store: RunStore, run: Run, blob: bytes) -> None:
    """Put a run folder that came back from a worker in place of the queued one (two renames)."""
    incoming = store.root / f".incoming-{run.id}"
    old = store.root / f".replaced-{run.id}"
    shutil.rmtree(incoming, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    unpack_folder(blob, incoming)
    os.replace(run.path, old)
    os.replace(incoming, run.path)
    shutil.rmtree(old, ignore_errors=True)


def _report(run: Run, updates: Any, stop: threading.Event) -> None:
    """Put the scratch run's start and each new progress on ``updates`` until ``stop`` (best effort)."""
    started, last = False, None
    while True:
        ended = stop.wait(REPORT_S if started else START_POLL_S)  # the start is told at once, progress less often
        try:
            st = run.status()
            if not started and st.get("state") == RUNNING:
                started = True
                updates.put((run.id, "started", st.get("progress")))
            elif started and st.get("progress") != last:
                updates.put((run.id, "progress", st.get("progress")))
            last = st.get("progress")
        except Exception:  # noqa: BLE001 - a status read mid-write or a driver gone: the next round, or nothing
            pass
        if ended:
            return


def train_on_worker(payload: dict[str, Any], updates: Any = None) -> bytes:
    """A Ray task's body: the run in a scratch store of this worker, returned as :func:`pack_folder` bytes.

    ``updates`` (a ``ray.util.queue.Queue``) hears ``(run_id, "started" | "progress", progress)``.
    """
    import torch

    with tempfile.TemporaryDirectory(prefix="rnnlab-worker-") as tmp:
        store = RunStore(Path(tmp) / "runs")
        for run_id, blob in payload.get("needs", {}).items():  # e.g. the word2vec run it starts from
            unpack_folder(blob, store.root / run_id)
        run = Run(store.root / payload["run_id"])
        run.path.mkdir(parents=True)
        (run.path / CONFIG_FILE).write_bytes(payload["config"])
        run.write_status({"state": QUEUED, "process": None})
        threads = torch.get_num_threads()
        os.environ[CORES_ENV] = str(_threads(run))  # the CPUs Ray gave this task: nothing beside them
        stop = threading.Event()
        # `is not None`: a Ray queue has a length, so an empty one reads false
        reporter = (threading.Thread(target=_report, args=(run, updates, stop), daemon=True)
                    if updates is not None else None)
        if reporter is not None:
            reporter.start()
        try:
            lifecycle.run_job(run, store)
        except Exception:  # noqa: BLE001 - a failed run comes back failed, with its error.log
            pass
        finally:
            torch.set_num_threads(threads)
            stop.set()
            if reporter is not None:
                reporter.join(timeout=5)
        return pack_folder(run.path)


class RayExecutor:
    """Each run a Ray task (``ray`` from PyPI): on the cluster at ``address``, or on a local one started here."""

    name = "ray"

    def __init__(self, address: str | None = None, parallel: int | None = None, retries: int = 1):
        self.address = address
        self.parallel = parallel
        self.retries = retries

    def _connect(self) -> Any:
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: `pip install ray`") from None
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": str(lifecycle.REPO_ROOT)}})
        return ray

    def _payload(self, run: Run, store: RunStore) -> dict[str, Any]:
        needs = {}
        w2v = (run.config_dict().get("train") or {}).get("embeddings")
        if w2v:
            needs[w2v] = pack_folder(store.get(w2v).path)
        return {"run_id": run.id, "config": run.file(CONFIG_FILE).read_bytes(), "needs": needs}

    def execute(self, ctx: Any, runs: list[Run], done: Done) -> None:
        ray = self._connect()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        parallel = self.parallel or max(1, cpus)
        ctx.say(f"ray executor: {len(runs)} runs on a cluster of {cpus} CPUs, {parallel} at a time")
        task = ray.remote(train_on_worker)
        from ray.util.queue import Queue

        # zero CPUs: the queue must be placed even while every CPU of the cluster trains
        updates = Queue(actor_options={"num_cpus": 0})
        pending, in_flight, waiting, tries = longest_first(runs, ctx.store), {}, {}, {}
        holds: dict[str, ExitStack] = {}  # the lock of each run out on a worker: no one else may start it here
        beats = Beats()
        try:
            while pending or in_flight or waiting:
                ctx.check_cancel()
                beats.beat([*pending, *in_flight.values()])
                while pending and len(in_flight) < parallel:
                    run = pending.pop(0)
                    held = _hold(run)
                    if held is None:  # another process owns it: waited for
                        waiting[run.id] = run
                        continue
                    holds[run.id] = held
                    gpu = 1 / RUNS_PER_GPU if _on_gpu(run) else 0
                    ref = task.options(num_cpus=_threads(run), num_gpus=gpu, max_retries=0).remote(
                        self._payload(run, ctx.store), updates)
                    in_flight[ref] = run
                    # the driver owns the run while a worker trains it: it reads crashed if the driver dies
                    run.update_status(state=QUEUED, process=ProcessId.current().to_dict(),
                                      progress={"phase": "submitted to Ray, waiting for a worker"})
                if in_flight:
                    ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_S)
                else:  # only runs of other processes left: look again in a while
                    ready = []
                    time.sleep(POLL_S)
                self._copy_updates(updates, ctx.store)
                collect_waiting(waiting, pending, tries, self.retries, done)
                for ref in ready:
                    run = in_flight.pop(ref)
                    holds.pop(run.id).close()
                    n = tries.get(run.id, 0)
                    try:
                        blob = ray.get(ref)
                    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                            ray.exceptions.RayTaskError, ray.exceptions.ObjectLostError) as e:
                        if n < self.retries:
                            tries[run.id] = n + 1
                            ctx.say(f"run {run.id}: its worker died ({type(e).__name__}); retry {n + 1}")
                            pending.insert(0, run)
                            continue
                        run.update_status(state=FAILED, finished=time.time(), progress={"phase": CRASHED},
                                          error=f"crashed: its Ray worker died {n + 1} times ({type(e).__name__}); "
                                                "not retried again")
                        done(run, f"crashed {n + 1} times on Ray workers, not retried again")
                        continue
                    replace_folder(ctx.store, run, blob)
                    done(ctx.store.get(run.id), _retried(n))
        except (Cancelled, KeyboardInterrupt):
            for ref, run in in_flight.items():
                ray.cancel(ref, force=True)
                run.update_status(state=CANCELLED, finished=time.time(), progress={"phase": CANCELLED})
            raise
        finally:
            for held in holds.values():
                held.close()
            updates.shutdown()

    @staticmethod
    def _copy_updates(updates: Any, store: RunStore) -> None:
        """The workers' reports into the runs' status: running from the moment a worker starts, then its progress."""
        n = updates.qsize()
        for run_id, what, progress in updates.get_nowait_batch(n) if n else []:
            try:
                run = store.get(run_id)
                if run.status().get("state") not in (QUEUED, RUNNING):
                    continue  # a report that arrived after the run came back
                extra = {"state": RUNNING, "started": time.time()} if what == "started" else {}
                run.update_status(**extra, progress=progress if isinstance(progress, dict) else {})
            except (KeyError, OSError, ValueError):
                continue


def executor(name: str, *, parallel: int | None = None, address: str | None = None, retries: int = 1) -> Any:
    """The executor called ``name`` (``local`` or ``ray``)."""
    if name == "local":
        if address:
            raise ValueError("--address applies to the ray executor")
        return LocalExecutor(parallel, retries)
    if name == "ray":
        return RayExecutor(address, parallel, retries)
    raise ValueError(f"unknown executor {name!r}; expected local or ray")
