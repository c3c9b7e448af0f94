"""Training jobs: run one in this process, or launch it in its own OS process.

``execute`` does a whole run: prepare the task's data, build the model, train it with the
callbacks that write the run folder (metrics, heartbeat, progress, cancel), evaluate the best
checkpoint on the test split and store everything. Whatever happens, the status file ends as
finished, failed (with the error text) or cancelled, and nothing already written is lost.

``launch`` starts ``python -m core train --run-id ...`` detached from the caller, so the
dashboard's script thread never trains, and reloads or other tabs neither stop a job nor
start it twice. Launched jobs queue on a lock file and train one at a time.

``launch_data_job`` does the same for the dataset (download, or install an uploaded archive),
reporting through a :class:`ProgressFile` that ``read_progress`` reads.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core import atomic
from core.config import RunConfig
from core.device import flush_denormals, resolve_device
from core.jobs.store import Run, RunStore
from core.training.trainer import Trainer, TrainResult, classification_metrics


class RunWriter:
    """Trainer callback: metrics.jsonl, status heartbeat and progress, cancel requests."""

    def __init__(self, run: Run, steps_per_epoch: int, flush_every_s: float = 1.0):
        self.run = run
        self.steps_per_epoch = steps_per_epoch
        self.flush_every_s = flush_every_s
        self.pending: list[dict[str, Any]] = []
        self.last_flush = 0.0

    def _flush(self, trainer: Trainer, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last_flush < self.flush_every_s:
            return
        self.run.append_metrics(self.pending)
        self.pending = []
        self.last_flush = now
        self.run.update_status(progress={"epoch": trainer.epoch, "epochs": trainer.cfg.epochs,
                                         "step": trainer.step,
                                         "batch": trainer.step - trainer.epoch * self.steps_per_epoch,
                                         "batches": self.steps_per_epoch})
        if self.run.cancel_requested:
            trainer.stop_requested = True

    def on_batch_end(self, trainer: Trainer, rec: dict[str, Any]) -> None:
        self.pending.append(rec)
        self._flush(trainer)

    def on_epoch_end(self, trainer: Trainer, rec: dict[str, Any]) -> None:
        self.pending.append(rec)
        self._flush(trainer, force=True)

    def on_train_end(self, trainer: Trainer, result: TrainResult) -> None:
        self._flush(trainer, force=True)


class ProgressBar:
    """Trainer callback: a tqdm bar per epoch on the terminal."""

    def __init__(self, steps_per_epoch: int):
        self.steps_per_epoch = steps_per_epoch
        self.bar = None

    def on_batch_end(self, trainer: Trainer, rec: dict[str, Any]) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=self.steps_per_epoch, desc=f"epoch {trainer.epoch + 1}/{trainer.cfg.epochs}",
                            unit="batch", leave=True, file=sys.stderr)
        self.bar.update(1)
        if rec.get("loss") is not None:
            self.bar.set_postfix(loss=f"{rec['loss']:.4f}", refresh=False)

    def on_epoch_end(self, trainer: Trainer, rec: dict[str, Any]) -> None:
        if self.bar is not None:
            acc = rec.get("val_accuracy")
            self.bar.set_postfix(val_loss=f"{rec['val_loss']:.4f}", val_acc=f"{acc:.3f}" if acc else "-")
            self.bar.close()
            self.bar = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _ticket_holder_alive(ticket: Path) -> bool:
    """Whether the process that took ``ticket`` still runs (not merely a later process with its pid)."""
    try:
        asked_ns, pid = (int(x) for x in ticket.name.split("-", 1))
    except ValueError:
        return False
    if not _alive(pid):
        return False
    started = _process_start(pid)
    # a process that started after the ticket was taken only reused the pid (boot time has 1 s resolution)
    return started is None or started <= asked_ns / 1e9 + 2.0


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (Unix time), from /proc on Linux; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])  # field 22, starttime, in clock ticks after boot
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _head_of_queue(queue: Path) -> Path | None:
    """The oldest ticket whose process still lives; tickets of processes that died are removed."""
    for ticket in sorted(queue.iterdir()):
        if _ticket_holder_alive(ticket):
            return ticket
        ticket.unlink(missing_ok=True)
    return None


@contextmanager
def queue_slot(store: RunStore, poll_s: float = 0.2):
    """Hold the store's training lock: launched jobs train one at a time, in arrival order.

    ``flock`` alone wakes waiters in no particular order, so each job first takes a ticket (a
    file named by the time it asked and its pid) and only keeps the lock when its ticket is the
    oldest one whose process is alive: three models queued from the dashboard train in the
    order they were queued, and a job killed while waiting never blocks the ones behind it.
    """
    queue = store.root / ".queue"
    queue.mkdir(parents=True, exist_ok=True)
    ticket = queue / f"{time.time_ns():020d}-{os.getpid()}"
    ticket.touch()
    try:
        with open(store.root / ".train.lock", "w") as f:
            while True:
                fcntl.flock(f, fcntl.LOCK_EX)
                if _head_of_queue(queue) in (ticket, None):
                    break
                fcntl.flock(f, fcntl.LOCK_UN)  # not our turn: let the older job take it
                time.sleep(poll_s)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
    finally:
        ticket.unlink(missing_ok=True)


def _count_batches(batches_fn, epoch: int = 0) -> int:
    b = batches_fn(epoch)
    return len(b) if hasattr(b, "__len__") else sum(1 for _ in batches_fn(epoch))


def execute(cfg: RunConfig, store: RunStore | None = None, run: Run | None = None, *,
            progress: bool = False, queued: bool = False, extra_callbacks: list[Any] | None = None) -> Run:
    """Train and evaluate one run end to end, writing everything into its run folder."""
    store = store or RunStore()
    run = run or store.create(cfg)
    run.update_status(state="queued", pid=os.getpid(), host=os.uname().nodename)
    try:
        with flush_denormals(cfg.train.flush_denormals):
            if queued:
                with queue_slot(store):
                    _execute(cfg, run, progress, extra_callbacks or [])
            else:
                _execute(cfg, run, progress, extra_callbacks or [])
    except KeyboardInterrupt:
        run.update_status(state="cancelled", error="interrupted", finished=time.time())
        raise
    except Exception as e:  # the run records any failure; the caller decides how to show it
        run.update_status(state="failed", error=f"{type(e).__name__}: {e}", finished=time.time())
        (run.path / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
        raise
    return run


def _execute(cfg: RunConfig, run: Run, progress: bool, extra_callbacks: list[Any]) -> None:
    from core.models.rnn import SentimentRNN, param_counts
    from core.tasks import prepare_task

    if run.cancel_requested:
        run.update_status(state="cancelled", finished=time.time())
        return
    t0 = time.time()
    run.update_status(state="running", started=t0, progress={"phase": "preparing data"})
    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    torch.manual_seed(t.seed)
    np.random.seed(t.seed)
    device = resolve_device(t.device)
    task = prepare_task(cfg, progress=lambda msg: run.update_status(progress={"phase": msg}), device=device)
    model_cfg = task.model_cfg
    run.write_json("model_config.json", model_cfg.__dict__)
    if task.vocab is not None:
        task.vocab.save(run.file("vocab.json"))
    torch.manual_seed(t.seed)  # the same initial weights whatever data preparation consumed
    model = SentimentRNN(model_cfg)
    if t.embeddings:
        from core.models.word2vec import init_embedding_layer

        # how many of the vocabulary's words got a vector: part of the run's record
        run.write_json("embeddings.json", init_embedding_layer(model, task.vocab, t.embeddings,
                                                               freeze=t.freeze_embeddings))
    steps_per_epoch = _count_batches(task.train_batches)
    callbacks: list[Any] = [RunWriter(run, steps_per_epoch)]
    if progress:
        callbacks.append(ProgressBar(steps_per_epoch))
    if t.record_gradients and task.probe is not None:
        from core.analysis.gradients import GradientRecorder

        callbacks.append(GradientRecorder(run.file("gradients.npz"), task.probe, every=t.probe_every,
                                          use_lengths=task.use_lengths))
    callbacks += extra_callbacks
    trainer = Trainer(model, t, task.train_batches, task.val_batches, objective=task.objective, device=device,
                      callbacks=callbacks, use_lengths=task.use_lengths)
    run.update_status(progress={"phase": "training", "epoch": 0, "epochs": t.epochs, "batch": 0,
                                "batches": steps_per_epoch})
    result = trainer.fit()

    from core.models.checkpoint import save_weights

    save_weights(model.cpu(), run.file("model.safetensors"))
    model.to(device)
    run.update_status(progress={"phase": "testing"})
    t_inf = time.perf_counter()
    out, y, test_loss = trainer.predict(task.test_batches())
    inf_time = time.perf_counter() - t_inf
    counts = param_counts(model_cfg)
    metrics: dict[str, Any] = {"loss": test_loss}
    if task.objective.name == "bce":
        metrics.update(classification_metrics(out, y))
    else:
        metrics.update(task.objective_metrics(out, y) if getattr(task, "objective_metrics", None) else {"n": len(y)})
    metrics.update({
        "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
        "epoch_times_s": [e["epoch_time_s"] for e in result.epochs], "train_time_s": result.train_time_s,
        "wall_time_s": time.time() - t0, "train_samples_per_s": result.samples_seen / max(result.train_time_s, 1e-9),
        "inference_samples_per_s": len(y) / max(inf_time, 1e-9), "steps": result.steps,
        "skipped_steps": result.skipped_steps, "device": str(device), "torch_threads": torch.get_num_threads(),
        "params_recurrent_pytorch": counts.get("recurrent_pytorch"),
        "params_recurrent_seed_formula": counts.get("recurrent_seed_formula"),
        "params_total": counts.get("total"), "train_size": task.train_size, "stopped_early": result.stopped,
    })
    run.write_json("test_metrics.json", metrics)
    state = "cancelled" if result.stopped else "finished"
    run.update_status(state=state, finished=time.time(), progress={"phase": state})


def launch(cfg: RunConfig, store: RunStore | None = None, *, label: str | None = None) -> Run:
    """Create a queued run and train it in a detached ``python -m core train`` process."""
    store = store or RunStore()
    run = store.create(cfg, label=label)
    log = open(run.file("train.log"), "w")  # noqa: SIM115 - handed to the child process
    env = dict(os.environ, RNNLAB_RUNS_DIR=str(store.root))
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "train", "--run-id", run.id, "--runs-dir", str(store.root), "--queue"],
        cwd=Path(__file__).resolve().parents[2], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, env=env)
    log.close()
    run.update_status(state="queued", pid=proc.pid, host=os.uname().nodename)
    return run


def cancel(run: Run) -> None:
    """Ask a queued or running job to stop; it finishes the current step and saves as cancelled."""
    run.request_cancel()
    st = run.status()
    if st.get("state") == "queued" and st.get("pid"):
        # a queued job holds no results yet: stopping its process loses nothing
        try:
            os.killpg(os.getpgid(st["pid"]), 15)
        except (ProcessLookupError, PermissionError):
            pass
        run.update_status(state="cancelled", finished=time.time())



# -- data jobs: download or install the IMDB archive in the background ------------------------------------
DATA_ACTIONS = ("download", "install")


class ProgressFile:
    """A small JSON status a background job rewrites (atomically, at most every ``every_s``) for pollers."""

    def __init__(self, path: str | os.PathLike, every_s: float = 0.5, **fields: Any):
        self.path = Path(path)
        self.every_s = every_s
        self.last = 0.0
        self.fields: dict[str, Any] = {"pid": os.getpid(), "host": os.uname().nodename, **fields}

    def update(self, force: bool = False, **fields: Any) -> None:
        self.fields.update(fields)
        now = time.time()
        if force or now - self.last >= self.every_s:
            self.last = now
            atomic.write_json(self.path, {**self.fields, "heartbeat": now})

    def bytes_done(self, done: int, total: int) -> None:
        """A ``core.data.imdb.Progress`` callback: bytes done of bytes expected."""
        self.update(done=done, total=total)


def _lock_path(progress_file: str | os.PathLike) -> Path:
    return Path(f"{progress_file}.lock")


def _lock_held(lock: Path) -> bool:
    if not lock.exists():
        return False
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def read_progress(progress_file: str | os.PathLike) -> dict[str, Any] | None:
    """A data job's last reported state; ``crashed`` when it says it is busy but its process is gone.

    The launched process holds a lock on ``<progress_file>.lock`` from the moment it is forked
    until it exits, so a busy state without the lock held means the process died (or its
    command line was refused); its output is in ``<progress_file>`` with the suffix ``.log``.
    """
    try:
        st = json.loads(Path(progress_file).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if st.get("state") in ("starting", "running") and not _lock_held(_lock_path(progress_file)):
        st.update(state="crashed", error=st.get("error") or "the job stopped without finishing")
    return st


def launch_data_job(action: str, progress_file: str | os.PathLike, archive: str | os.PathLike | None = None,
                    *, move: bool = False) -> dict[str, Any]:
    """Start ``python -m core data ACTION --progress-file F`` detached; at most one at a time.

    ``action`` is "download" (the official archive) or "install" (validate ``archive`` and copy it
    into the cache; ``move`` renames a staged upload instead). The child inherits a lock on
    ``<F>.lock`` that it holds until it exits: while it is held no second job starts and the
    running job's status is returned instead, whichever tab or user asked.
    """
    if action not in DATA_ACTIONS:
        raise ValueError(f"unknown data action {action!r}; expected one of {DATA_ACTIONS}")
    if action == "install" and archive is None:
        raise ValueError("install needs the archive to install")
    progress_file = Path(progress_file)
    progress_file.parent.mkdir(parents=True, exist_ok=True)
    lock = open(_lock_path(progress_file), "a")  # noqa: SIM115 - handed to the child process
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_progress(progress_file) or {"action": action, "state": "running"}
        status = {"action": action, "state": "starting", "pid": None, "host": os.uname().nodename,
                  "heartbeat": time.time()}
        atomic.write_json(progress_file, status)
        cmd = [sys.executable, "-m", "core", "data", action, *([str(archive)] if archive is not None else []),
               "--progress-file", str(progress_file)]
        if move:
            cmd.append("--move")
        try:
            with open(progress_file.with_suffix(".log"), "w") as log:
                proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[2], stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                        pass_fds=(lock.fileno(),))
        except OSError as e:
            status.update(state="failed", error=f"could not start the {action} job: {e}")
            atomic.write_json(progress_file, status)
            return status
        return {**status, "pid": proc.pid}
    finally:
        lock.close()  # the child keeps its inherited copy of the lock


def launch_cli(args: list[str], store: RunStore | None = None, *, name: str = "job") -> tuple[subprocess.Popen, Path]:
    """Start ``python -m core ARGS`` detached, logging to ``<runs>/.jobs/<name>-<time>.log``.

    For long jobs that are not trainings (an HMM fit, word2vec, the memory-horizon experiment):
    the caller keeps the process handle to poll and the log to show.
    """
    store = store or RunStore()
    logs = store.root / ".jobs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "core", *args, "--runs-dir", str(store.root)],
                                cwd=Path(__file__).resolve().parents[2], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env=dict(os.environ, RNNLAB_RUNS_DIR=str(store.root)))
    return proc, log_path

