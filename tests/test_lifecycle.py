"""core.jobs: one lifecycle for every kind of job -- claim, heartbeat, queue order, cancel, crash, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fixtures_runs import wait_for
from safetensors.torch import load_file

from rnnlab.core.config import DataJobConfig, HorizonConfig, preset
from rnnlab.core.jobs import kinds, lifecycle, queue
from rnnlab.core.jobs.process import ProcessId, alive, start_time, terminate
from rnnlab.core.jobs.store import Run, RunNotFound, RunStore, new_run_id

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(hidden_size=8, embedding_dim=8, max_len=40, batch_size=4, val_size=2, threads=1)
HORIZON = HorizonConfig(models=("rnn",), lengths=(4,), steps=4, evals=2, probe_size=4, record_gradients=False)


@pytest.fixture
def store(rnnlab_home):
    return RunStore(rnnlab_home / "runs")


def slow_job(ctx, cfg, *, seconds: float = 0.5, fail: bool = False) -> None:
    """A job for these tests: wait, checking for cancels, then succeed or fail."""
    end = time.time() + seconds
    while time.time() < end:
        ctx.check_cancel()
        time.sleep(0.01)
    if fail:
        raise RuntimeError("the job broke")
    ctx.run.write_json("done.json", {"ok": True})


@pytest.fixture
def test_kind(monkeypatch):
    """The ``data`` kind pointed at :func:`slow_job` (a job that needs no dataset)."""
    monkeypatch.setitem(kinds.KINDS, "data", kinds.JobKind("data", "test_lifecycle:slow_job"))
    return DataJobConfig(action="download")


# -- run ids and the store -------------------------------------------------------------------------------
def test_run_ids_sort_by_creation_time_to_the_millisecond():
    t = 1_765_000_000_123_456_789
    ids = [new_run_id("lstm", t), new_run_id("lstm", t + 1_000_000), new_run_id("lstm", t + 999_000_000)]
    assert ids == sorted(ids)
    assert "-123-lstm-" in ids[0] and "-124-lstm-" in ids[1]


def test_runs_created_in_one_second_list_newest_first(store, test_kind):
    runs = [store.create(test_kind) for _ in range(5)]
    assert [r.id for r in store.list()] == [r.id for r in reversed(runs)]


def test_get_takes_exact_ids_and_prefixes_only_when_asked(store, test_kind):
    run = store.create(test_kind)
    assert store.get(run.id) == run
    with pytest.raises(RunNotFound):
        store.get(run.id[:8])
    assert store.get(run.id[:8], prefix=True) == run
    store.create(test_kind)
    with pytest.raises(RunNotFound, match="starts 2 run ids"):
        store.get(run.id[:8], prefix=True)
    for bad in ("../x", "", ".queue", "a/b"):
        with pytest.raises(RunNotFound):
            store.get(bad)


def test_a_run_stores_one_config_that_reads_back_as_its_kinds_dataclass(store):
    cfg = preset("fast", cell="gru", task="adding", seq_len=6, train_steps=3, epochs=1)
    run = store.create(cfg)
    assert run.kind == "rnn" and run.job_config() == cfg
    assert not run.file("model_config.json").exists()
    run = store.create(HORIZON, kind="memory-horizon")
    assert run.job_config() == HORIZON


# -- the lifecycle in this process ------------------------------------------------------------------------
def test_run_job_claims_beats_and_finishes(store, test_kind):
    run = store.create(test_kind)
    assert run.status()["state"] == "queued" and run.process() is None
    lifecycle.run_job(run, store, heartbeat_s=0.05, options={"seconds": 0.5})
    st = run.status()
    assert st["state"] == "finished" and run.file("done.json").is_file()
    assert ProcessId.from_dict(st["process"]) == ProcessId.current()
    assert st["started"] <= st["finished"]


def test_the_heartbeat_thread_beats_while_the_job_works(store, test_kind, monkeypatch):
    run = store.create(test_kind)
    seen = set()
    real = Run.update_status

    def spy(self, **fields):
        out = real(self, **fields)
        if not fields:
            seen.add(round(out["heartbeat"], 3))
        return out

    monkeypatch.setattr(Run, "update_status", spy)
    lifecycle.run_job(run, store, heartbeat_s=0.05, options={"seconds": 0.6})
    assert len(seen) >= 3  # beats with no news at all: the thread, not the job


def test_a_failing_job_is_recorded_failed_with_its_error_and_traceback(store, test_kind):
    run = store.create(test_kind)
    with pytest.raises(RuntimeError, match="the job broke"):
        lifecycle.run_job(run, store, options={"seconds": 0.0, "fail": True})
    st = run.status()
    assert st["state"] == "failed" and "RuntimeError: the job broke" in st["error"]
    assert "Traceback" in run.file("error.log").read_text()


def test_a_cancel_before_the_start_ends_the_run_cancelled(store, test_kind):
    run = store.create(test_kind)
    lifecycle.cancel(run)
    lifecycle.run_job(run, store)
    assert run.status()["state"] == "cancelled" and not run.file("done.json").exists()


def test_a_cancel_during_the_job_ends_it_cancelled(store, test_kind):
    import threading

    run = store.create(test_kind)
    threading.Timer(0.2, lifecycle.cancel, args=(run,)).start()
    t0 = time.time()
    lifecycle.run_job(run, store, options={"seconds": 30})
    assert run.status()["state"] == "cancelled" and time.time() - t0 < 10


def test_ctrl_c_ends_the_run_cancelled_and_still_interrupts(store, monkeypatch, test_kind):
    def interrupted(ctx, cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(kinds.JobKind, "run", property(lambda self: interrupted))
    run = store.create(test_kind)
    with pytest.raises(KeyboardInterrupt):
        lifecycle.run_job(run, store)
    assert run.status()["state"] == "cancelled"


def test_a_child_run_is_reused_when_a_finished_one_has_the_same_config(store, test_kind):
    parent = store.create(test_kind)
    ctx = lifecycle.JobContext(parent, store)
    first = ctx.child("memory-horizon", HORIZON)
    assert first.status()["state"] == "finished"
    assert ctx.child("memory-horizon", HORIZON) == first
    other = ctx.child("memory-horizon", HorizonConfig(**{**HORIZON.__dict__, "seed": 1}))
    assert other != first


# -- process identity: never signal a stranger ------------------------------------------------------------
def test_a_reused_pid_is_not_the_runs_process():
    me = ProcessId.current()
    assert alive(me) is True
    impostor = ProcessId(me.pid, me.start - 3600, me.host)  # same pid, started an hour earlier: another process
    assert alive(impostor) is False
    assert alive(ProcessId(me.pid, me.start, "another-host")) is None


def test_cancel_never_signals_a_process_whose_start_time_differs(store, test_kind):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        # until it has exec'd: before, /proc/PID/cmdline is empty or the parent's, and the identity would differ
        wait_for(lambda: start_time(sleeper.pid) and b"time.sleep" in Path(f"/proc/{sleeper.pid}/cmdline").read_bytes())
        real = ProcessId.of(sleeper.pid)
        run = store.create(test_kind)
        run.update_status(state="queued", process={**real.to_dict(), "start": real.start - 500})  # a stale record
        assert run.status()["state"] == "crashed"
        assert lifecycle.cancel(run, force=True) is False
        assert terminate(ProcessId(sleeper.pid, real.start - 500, real.host)) is False
        time.sleep(0.2)
        assert sleeper.poll() is None  # the unrelated process still runs
        assert terminate(real) is True  # the exact process may be signalled
        sleeper.wait(timeout=10)
    finally:
        sleeper.kill()


def test_a_run_whose_process_is_gone_reads_crashed_and_can_be_deleted(store, test_kind):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    proc = ProcessId.of(dead.pid)
    dead.wait()
    run = store.create(test_kind)
    run.update_status(state="running", process=proc.to_dict())
    st = run.status()
    assert st["state"] == "crashed" and st["stored_state"] == "running" and "stopped" in st["error"]
    store.delete(run.id)
    assert not run.path.exists()


def test_a_queued_run_no_process_ever_took_reads_crashed_after_a_while(store, test_kind, monkeypatch):
    run = store.create(test_kind)
    assert run.status()["state"] == "queued"
    from rnnlab.core.jobs import store as store_module

    monkeypatch.setattr(store_module, "UNCLAIMED_TIMEOUT_S", -1.0)
    assert run.status()["state"] == "crashed"


def test_a_live_run_cannot_be_deleted(store, test_kind):
    run = store.create(test_kind)
    lifecycle.claim(run)
    with pytest.raises(ValueError, match="cancel it before deleting"):
        store.delete(run.id)


# -- the queue: strict launch order ----------------------------------------------------------------------
def test_tickets_taken_in_one_second_keep_their_order_and_dead_ones_are_swept(store, test_kind):
    runs = [store.create(test_kind) for _ in range(3)]
    for r in runs:
        queue.enter(store, r, "train")
        lifecycle.claim(r)
    assert queue.head(store, "train") == runs[0].id
    assert [queue.position(store, r, "train") for r in runs] == [0, 1, 2]
    gone = {"pid": 2**22 + 12345, "start": 1.0, "host": ProcessId.current().host}
    runs[0].update_status(state="running", process=gone)
    assert queue.head(store, "train") == runs[1].id  # the dead head's ticket is removed
    assert queue.position(store, runs[2], "train") == 1


def test_launched_jobs_run_one_at_a_time_in_launch_order(store):
    """Three runs launched within one second start in that order, each after the previous one ended."""
    configs = [HorizonConfig(**{**HORIZON.__dict__, "seed": s}) for s in range(3)]
    runs = [lifecycle.submit("memory-horizon", c, store) for c in configs]
    for r in runs:
        wait_for(lambda r=r: r.status()["state"] in ("finished", "failed", "crashed"), timeout_s=180)
    sts = [r.status() for r in runs]
    assert [s["state"] for s in sts] == ["finished"] * 3, [r.file("job.log").read_text() for r in runs]
    assert sts[0]["started"] < sts[0]["finished"] <= sts[1]["started"] < sts[1]["finished"] <= sts[2]["started"]


def test_a_queued_launch_leaves_the_queue_when_cancelled(store, test_kind):
    blocker = store.create(test_kind)
    queue.enter(store, blocker, "train")
    lifecycle.claim(blocker)  # alive: this process
    run = lifecycle.submit("memory-horizon", HORIZON, store)
    wait_for(lambda: (run.status().get("progress") or {}).get("phase") == "queued", timeout_s=60)
    lifecycle.cancel(run)
    wait_for(lambda: run.status()["state"] == "cancelled", timeout_s=30)
    assert not run.file("results.json").exists()
    queue.leave(store, blocker, "train")


def test_a_launched_job_that_is_killed_reads_crashed(store):
    run = lifecycle.submit("memory-horizon", HorizonConfig(**{**HORIZON.__dict__, "steps": 100000, "evals": 2}),
                           store)
    wait_for(lambda: run.status()["state"] == "running", timeout_s=60)
    os.killpg(run.process().pid, signal.SIGKILL)
    wait_for(lambda: run.status()["state"] == "crashed", timeout_s=30)
    assert queue.head(store, "train") is None


def test_a_forced_cancel_stops_a_running_job_cleanly(store):
    run = lifecycle.submit("memory-horizon", HorizonConfig(**{**HORIZON.__dict__, "steps": 100000, "evals": 2}),
                           store)
    wait_for(lambda: run.status()["state"] == "running", timeout_s=60)
    assert lifecycle.cancel(run, force=True) is True
    wait_for(lambda: run.status()["state"] == "cancelled", timeout_s=30)


# -- resume: kill -9 in the last epoch loses at most that epoch ----------------------------------------------
RESUME = dict(TINY, epochs=6, batch_size=1, dropout=0.5, seed=3)


def _weights(run: Run) -> dict[str, torch.Tensor]:
    return load_file(str(run.file("model.safetensors")))


def test_kill_9_in_the_last_epoch_then_resume_equals_the_uninterrupted_run(store, tiny_imdb_archive):
    cfg = preset("fast", cell="lstm", imdb_path=str(tiny_imdb_archive), **RESUME)
    reference = lifecycle.run_now("rnn", cfg, store)
    assert reference.status()["state"] == "finished"

    run = lifecycle.submit("rnn", cfg, store)
    last = run.file("checkpoint") / "last.safetensors"

    def in_last_epoch() -> bool:
        from rnnlab.core.training.checkpointing import resume_point

        point = resume_point(run.file("checkpoint"))
        return point is not None and point.epoch >= cfg.train.epochs - 2

    wait_for(in_last_epoch, timeout_s=120, poll_s=0.01)
    os.killpg(run.process().pid, signal.SIGKILL)
    wait_for(lambda: run.status()["state"] == "crashed", timeout_s=30)
    assert last.is_file()
    lifecycle.resume(run, store, background=False)
    assert run.status()["state"] == "finished"
    ref, got = _weights(reference), _weights(run)
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
    steps = [(r["epoch"], r["step"]) for r in run.metrics("step")]
    assert len(steps) == len(set(steps)) == len(reference.metrics("step"))  # no step appears twice
    assert [e["epoch"] for e in run.metrics("epoch")] == list(range(cfg.train.epochs))
    assert run.test_metrics()["resumed"] is True
    assert run.test_metrics()["accuracy"] == reference.test_metrics()["accuracy"]


def test_a_finished_run_and_kinds_without_checkpoints_are_not_resumed(store, test_kind):
    run = store.create(test_kind)
    lifecycle.run_job(run, store, options={"seconds": 0})
    with pytest.raises(ValueError, match="finished"):
        lifecycle.resume(run, store)
    run.update_status(state="failed")
    with pytest.raises(ValueError, match="cannot be resumed"):
        lifecycle.resume(run, store)


def test_a_shorter_run_is_the_longer_runs_first_epochs(store, tiny_imdb_archive):
    """What lets a study leave the number of epochs out of its grid (studies/best-at-seed-size.toml): with
    the same seed, a 3-epoch run passes through the 5-epoch run's first three epochs exactly, and each
    keeps the epoch of lowest validation loss among those it trained."""
    runs = {n: lifecycle.run_now("rnn", preset("fast", cell="gru", imdb_path=str(tiny_imdb_archive),
                                               **dict(RESUME, epochs=n)), store) for n in (3, 5)}
    short, long = ([{k: v for k, v in e.items() if k not in ("epoch_time_s", "samples_per_s", "wall_time")}
                    for e in runs[n].metrics("epoch")] for n in (3, 5))
    assert len(short) == 3 and len(long) == 5
    assert [{k: v for k, v in e.items() if k != "best"} for e in short] == [
        {k: v for k, v in e.items() if k != "best"} for e in long[:3]]
    val = [e["val_loss"] for e in long]
    assert runs[3].test_metrics()["best_epoch"] == min(range(3), key=val.__getitem__)
    assert runs[5].test_metrics()["best_epoch"] == min(range(5), key=val.__getitem__)


@pytest.mark.parametrize(("cores", "background"), [("1", False), ("2", True)])
def test_a_job_records_gradients_beside_its_training_only_on_a_core_of_its_own(store, monkeypatch, cores,
                                                                                 background):
    """A sweep running two one-thread jobs on two cores gives each one core: no recording thread beside it."""
    from rnnlab.core.jobs import rnn as rnn_job

    seen = []

    class Recorder(rnn_job.GradientRecorder):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs["background"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(rnn_job, "GradientRecorder", Recorder)
    monkeypatch.setattr("rnnlab.core.device.os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setenv("RNNLAB_CORES", cores)
    cfg = preset("fast", cell="gru", task="adding", seq_len=6, train_steps=3, epochs=1, record_gradients=True,
                 threads=1)
    run = lifecycle.run_now("rnn", cfg, store)
    assert run.status()["state"] == "finished" and run.file("gradients.npz").is_file()
    assert seen == [background]


def test_job_cores_reads_the_launchers_share_within_the_machine(monkeypatch):
    from rnnlab.core.device import job_cores

    monkeypatch.setattr("rnnlab.core.device.os.sched_getaffinity", lambda pid: set(range(4)), raising=False)
    for given, want in (("", 4), ("2", 2), ("64", 4), ("0", 1), ("two", 4)):
        monkeypatch.setenv("RNNLAB_CORES", given)
        assert job_cores() == want, given


def test_launch_hands_the_job_its_share_of_the_cores(store, monkeypatch):
    envs = []

    class Popen:
        def __init__(self, cmd, **kwargs):
            envs.append(kwargs["env"])
            self.pid = os.getpid()  # a live process: the claim reads it

    monkeypatch.setattr(lifecycle.subprocess, "Popen", Popen)
    monkeypatch.setenv("RNNLAB_CORES", "7")  # a launcher's own share is not what its children get
    for cores in (None, 1):
        lifecycle.launch(lifecycle.create("memory-horizon", HORIZON, store), store, lane=None, cores=cores)
    assert envs[0]["RNNLAB_CORES"] == "7" and envs[1]["RNNLAB_CORES"] == "1"
