"""One owner per run: the run lifecycle's faults, one test per case.

A run is claimed by an exclusive lock on its folder, held by the process that runs its job; a
second ``job`` for it is refused before it writes anything, and only a queued run starts (a
finished or imported run is never trained again). One sweep of a spec trains on a store at a
time, a run another process owns is waited for rather than trained twice, and a sweep's workers
end with it. A process is its pid, start time *and* command line before it is signalled; a
heartbeat too old or from the future is stale whatever host wrote it. Cancelling an ended run
says so and writes nothing; a changed dataset stops a resume before it overwrites anything; and
what a kill -9 leaves mid-write is removed when the run next starts.

Processes started here are killed in ``finally`` blocks, whatever the outcome.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures_runs import wait_for

from rnnlab.core.__main__ import main
from rnnlab.core.config import DataJobConfig, SweepConfig, preset
from rnnlab.core.data import sources
from rnnlab.core.data.text import Vocabulary
from rnnlab.core.jobs import kinds, lifecycle, queue
from rnnlab.core.jobs.process import ProcessId, alive, start_time
from rnnlab.core.jobs.store import Run, RunStore
from rnnlab.core.models.checkpoint import save_weights
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.sweep import executors
from rnnlab.core.sweep.job import place_runs, read_plan
from rnnlab.core.sweep.spec import parse_spec, plan

ROOT = Path(__file__).resolve().parent.parent
ADDING = dict(task="adding", seq_len=6, batch_size=8, hidden_size=4, threads=1)
SPEC = """
name = "owners"
preset = "fast"
seeds = [0, 1]

[base]
task = "adding"
train_steps = {steps}
epochs = {epochs}
batch_size = 8
hidden_size = 4
seq_len = 6
probe_size = 8
threads = 1

[vary]
cell = {cells}
"""


# -- helpers --------------------------------------------------------------------------------------------------------
@pytest.fixture
def store(rnnlab_home) -> RunStore:
    return RunStore(rnnlab_home / "runs")


def slow_job(ctx, cfg, *, seconds: float = 0.5) -> None:
    """A job for these tests: wait, checking for cancels."""
    end = time.time() + seconds
    while time.time() < end:
        ctx.check_cancel()
        time.sleep(0.01)
    ctx.run.write_json("done.json", {"ok": True})


@pytest.fixture
def test_kind(monkeypatch) -> DataJobConfig:
    """The ``data`` kind pointed at :func:`slow_job` (in this process only)."""
    monkeypatch.setitem(kinds.KINDS, "data", kinds.JobKind("data", "test_faults_lifecycle:slow_job"))
    return DataJobConfig(action="download")


def finished_run(store: RunStore, **status) -> Run:
    """A finished text run with weights, a vocabulary and metrics (initial weights: no training)."""
    cfg = preset("seed", cell="gru", hidden_size=4, embedding_dim=3)
    run = store.create(cfg)
    voc = Vocabulary(["<unk>", "<pad>", "good", "bad"], [0, 0, 2, 1], 3, 2)
    voc.save(run.file("vocab.json"))
    save_weights(SentimentRNN(replace(cfg.model, vocab_size=len(voc))), run.file("model.safetensors"))
    run.append_metrics([{"kind": "step", "step": i, "epoch": 0, "loss": 0.69} for i in range(3)]
                       + [{"kind": "epoch", "epoch": 0, "step": 3, "train_loss": 0.69, "val_loss": 0.7}])
    run.write_json("test_metrics.json", {"accuracy": 0.75})
    run.write_status({"state": "finished", "process": None, "finished": time.time(), **status})
    return run


def files_of(run: Run, *, but: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {str(p.relative_to(run.path)): p.read_bytes() for p in sorted(run.path.rglob("*"))
            if p.is_file() and p.name not in but}


def dead_process() -> ProcessId:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    proc = ProcessId.of(p.pid)
    p.wait()
    return proc


def cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnnlab.core", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def kill(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)


def fails(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# -- one owner: a second job is refused before it writes --------------------------------------------------------------
def test_two_job_processes_for_one_queued_run_train_it_once(store):
    run = lifecycle.create("rnn", preset("fast", cell="gru", epochs=2, train_steps=300, **ADDING), store)
    first, second = cli("job", run.id, "--runs-dir", str(store.root)), cli("job", run.id, "--runs-dir", str(store.root))
    try:
        outs = {p: p.communicate(timeout=120) for p in (first, second)}
    finally:
        kill(first, second)
    codes = sorted(p.returncode for p in (first, second))
    loser = first if first.returncode else second
    assert codes == [0, 1], outs
    assert "already being run by process" in outs[loser][1] or "has finished" in outs[loser][1], outs[loser][1]
    assert "Traceback" not in outs[loser][1]
    steps = [(r["epoch"], r["step"]) for r in run.metrics("step")]
    assert [e["epoch"] for e in run.metrics("epoch")] == [0, 1]
    assert len(steps) == len(set(steps)) == 300  # no step trained twice
    assert run.status()["state"] == "finished" and run.process().pid == (second if loser is first else first).pid


def test_a_second_job_while_the_first_runs_exits_with_a_clear_line_and_changes_nothing(store, test_kind):
    run = store.create(test_kind)
    job = threading.Thread(target=lifecycle.run_job, args=(run, store), kwargs={"options": {"seconds": 60}})
    job.start()
    try:
        wait_for(lambda: run.status()["state"] == "running", what="the first job to run")
        before = files_of(run, but=("status.json",))
        second = subprocess.run([sys.executable, "-m", "rnnlab.core", "job", run.id, "--runs-dir", str(store.root)],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert f"run {run.id} is already being run by process {os.getpid()}" in second.stderr
        assert files_of(run, but=("status.json",)) == before
        assert run.process() == ProcessId.current() and run.status()["state"] == "running"
    finally:
        lifecycle.cancel(run)
        job.join(timeout=30)
    assert run.status()["state"] == "cancelled"


def test_job_on_a_finished_run_is_refused_and_its_history_kept(store, capsys):
    run = finished_run(store)
    before = files_of(run)
    err = fails(capsys, "job", run.id, "--runs-dir", str(store.root))
    assert f"run {run.id} has finished: a finished run is never trained again" in err
    assert files_of(run) == before  # metrics.jsonl not truncated, status not rewritten


def test_job_on_an_imported_run_is_refused_and_its_weights_kept(store, capsys):
    run = finished_run(store, imported=True)
    before = files_of(run)
    err = fails(capsys, "job", run.id, "--runs-dir", str(store.root))
    assert f"run {run.id} was imported, not trained here" in err
    assert files_of(run) == before


def test_job_on_a_crashed_run_is_refused_and_points_to_resume(store, capsys):
    run = finished_run(store)
    run.update_status(state="running", started=time.time(), process=dead_process().to_dict())
    assert run.status()["state"] == "crashed"
    before = files_of(run)
    err = fails(capsys, "job", run.id, "--runs-dir", str(store.root))
    assert f"run {run.id} is crashed, not queued: continue it with `python -m core train --resume {run.id}`" in err
    assert files_of(run) == before


# -- sweeps: one driver per spec, no twin runs, workers end with their driver ---------------------------------------
def test_two_sweeps_of_one_spec_started_together_train_each_run_once(store, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(steps=12, epochs=2, cells='["rnn", "gru"]'))
    args = ("sweep", str(spec), "--parallel", "2", "--runs-dir", str(store.root))
    drivers = [cli(*args), cli(*args)]
    try:
        outs = [p.communicate(timeout=240) for p in drivers]
    finally:
        kill(*drivers)
    assert [p.returncode for p in drivers] == [0, 0], outs
    assert any("another sweep of this spec is running" in err for _, err in outs), outs
    trained = [r for r in store.list() if r.kind == "rnn"]
    assert len(trained) == 4 and all(r.status()["state"] == "finished" for r in trained)  # 4 runs, not 8
    for r in trained:
        steps = [(m["epoch"], m["step"]) for m in r.metrics("step")]
        assert len(steps) == len(set(steps)) == 12
    sweeps = [r for r in store.list() if r.kind == "sweep"]
    assert [sorted(p["run_id"] for p in read_plan(s)) for s in sweeps] == [sorted(r.id for r in trained)] * 2


def test_killing_a_sweep_driver_stops_its_workers_and_a_restart_takes_their_runs_up(store, tmp_path):
    text = SPEC.format(steps=1_000_000, epochs=50, cells='["gru"]')
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    driver = cli("sweep", str(spec), "--parallel", "2", "--runs-dir", str(store.root))
    workers: list[ProcessId] = []
    try:
        def training() -> list[Run]:
            runs = [r for r in store.list() if r.kind == "rnn"]
            return runs if len(runs) == 2 and all(r.status()["state"] == "running" for r in runs) else []

        runs = wait_for(training, timeout_s=120, what="both workers to train")
        workers = [r.process() for r in runs]
        assert all(alive(w) for w in workers) and {w.pid for w in workers}.isdisjoint({driver.pid})
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        wait_for(lambda: not any(alive(w) for w in workers), timeout_s=20, what="the workers to stop")
        assert {r.status()["state"] for r in runs} == {"cancelled"}
        placed = place_runs([p.cfg for p in plan(parse_spec(text))], store, "sweep-owners")  # what a restart does
        assert sorted(r.id for r, _ in placed) == sorted(r.id for r in runs) and len(store.list()) == 3
        assert all(r.status()["state"] == "queued" and r.process() == ProcessId.current() for r, _ in placed)
    finally:
        kill(driver)
        for w in workers:
            if alive(w):
                os.kill(w.pid, signal.SIGKILL)


def test_a_sweep_waits_for_a_run_another_process_trains_instead_of_training_a_twin(store, monkeypatch):
    text = SPEC.format(steps=12, epochs=2, cells='["gru"]').replace("seeds = [0, 1]", "seeds = [0]")
    [point] = plan(parse_spec(text))
    sleeper = subprocess.Popen(["sleep", "120"], start_new_session=True)  # stands in for another sweep's worker
    try:
        wait_for(lambda: start_time(sleeper.pid), what="the sleeper to start")
        other = lifecycle.create("rnn", point.cfg, store)
        other.update_status(state="running", started=time.time(), process=ProcessId.of(sleeper.pid).to_dict())
        [(run, reused)] = place_runs([point.cfg], store, "sweep-owners")
        assert run == other and not reused and len(store.list()) == 1  # no twin made
        launched, ended = [], []
        monkeypatch.setattr(lifecycle, "launch", lambda run, *a, **k: launched.append(run))
        sweep = store.create(SweepConfig(spec=text), kind="sweep")
        ctx = lifecycle.JobContext(sweep, store, say=lambda msg: None)
        execute = threading.Thread(target=executors.LocalExecutor(parallel=1).execute,
                                   args=(ctx, [run], lambda r, note: ended.append(note)))
        execute.start()
        time.sleep(1.5)
        assert launched == [] and ended == [] and run.process().pid == sleeper.pid  # waited for, not trained
        other.update_status(state="finished", finished=time.time())  # the other process finished it
        execute.join(timeout=30)
        assert launched == [] and ended == ["trained by another process"]
    finally:
        sleeper.kill()
        sleeper.wait()


# -- process identity: never signal a stranger ----------------------------------------------------------------------
def test_a_status_naming_a_live_strangers_pid_and_start_time_never_gets_it_killed(store, test_kind, capsys):
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        wait_for(lambda: start_time(sleeper.pid), what="the sleeper to start")
        stranger = ProcessId.of(sleeper.pid)
        run = store.create(test_kind)
        # its exact pid and start time, as a status file written before command lines were recorded, or copied
        run.update_status(state="running", process={"pid": stranger.pid, "start": stranger.start,
                                                    "host": stranger.host})
        capsys.readouterr()
        main(["runs", "--cancel", run.id, "--force", "--runs-dir", str(store.root)])
        # another command line recorded for that pid and start time: not the run's process
        run.update_status(process={**stranger.to_dict(), "cmd": "0123456789abcdef"})
        assert run.status()["state"] == "crashed"
        main(["runs", "--cancel", run.id, "--force", "--runs-dir", str(store.root)])
        time.sleep(0.3)
        assert sleeper.poll() is None  # the sleep still runs
        assert "sent SIGTERM" not in capsys.readouterr().out
    finally:
        sleeper.kill()
        sleeper.wait()


# -- heartbeats: stale whatever host wrote them ----------------------------------------------------------------------
def test_a_heartbeat_from_the_future_reads_crashed_so_the_run_can_be_resumed_or_deleted(store, monkeypatch, capsys):
    run = finished_run(store)
    run.update_status(state="running", started=time.time(),
                      process={"pid": 4242, "start": 1.0, "host": "another-host", "cmd": "0123456789abcdef"})
    st = json.loads(run.file("status.json").read_text())
    run.file("status.json").write_text(json.dumps({**st, "heartbeat": time.time() + 3600}))
    st = run.status()
    assert st["state"] == "crashed" and "ahead of this machine's clock" in st["error"]
    assert "has crashed" in fails(capsys, "runs", "--cancel", run.id, "--runs-dir", str(store.root))
    launched = []
    monkeypatch.setattr(lifecycle, "launch", lambda run, *a, **k: launched.append(k) or run)
    lifecycle.resume(run, store)
    assert launched == [{"lane": "train", "resume": True}]
    run.update_status(state="cancelled")
    assert main(["runs", "--delete", run.id, "--runs-dir", str(store.root)]) == 0 and not run.path.exists()


def test_a_crashed_run_of_another_host_holding_a_ticket_does_not_block_the_queue(store, test_kind):
    stale = store.create(test_kind)
    queue.enter(store, stale, "train")
    stale.update_status(state="running", process={"pid": 4242, "start": 1.0, "host": "another-host"})
    st = json.loads(stale.file("status.json").read_text())
    stale.file("status.json").write_text(json.dumps({**st, "heartbeat": time.time() - 7200}))
    run = store.create(test_kind)
    job = threading.Thread(target=lifecycle.run_job, args=(run, store), kwargs={"lane": "train",
                                                                               "options": {"seconds": 0.1}})
    job.start()
    job.join(timeout=10)
    if job.is_alive():  # blocked behind the stale ticket: end the wait, then fail
        lifecycle.cancel(run)
        job.join(timeout=30)
    assert run.status()["state"] == "finished"
    assert stale.status()["state"] == "crashed" and queue.head(store, "train") is None  # its ticket was swept


def test_a_live_job_whose_heartbeat_went_stale_reads_crashed_but_cannot_be_deleted_under_it(store, test_kind):
    run = store.create(test_kind)
    job = threading.Thread(target=lifecycle.run_job, args=(run, store),
                           kwargs={"heartbeat_s": 3600, "options": {"seconds": 60}})  # a hung heartbeat
    job.start()
    try:
        wait_for(lambda: run.status()["state"] == "running", what="the job to run")
        st = json.loads(run.file("status.json").read_text())
        run.file("status.json").write_text(json.dumps({**st, "heartbeat": time.time() - 120}))
        assert run.status()["state"] == "crashed"
        with pytest.raises(ValueError, match="already being run by process"):
            store.delete(run.id)
        assert run.path.is_dir() and job.is_alive()
    finally:
        lifecycle.cancel(run)  # crashed to readers, yet its process lives: it can still be stopped
        job.join(timeout=30)
    assert run.status()["state"] == "cancelled"


# -- cancel: an ended run says so ---------------------------------------------------------------------------------
def test_cancelling_a_finished_run_says_so_and_writes_nothing(store, capsys):
    run = finished_run(store)
    before = files_of(run)
    err = fails(capsys, "runs", "--cancel", run.id, "--runs-dir", str(store.root))
    assert f"run {run.id} has finished: there is nothing to cancel" in err
    assert files_of(run) == before and not run.file("cancel").exists()


# -- resume: a changed dataset is refused before anything is overwritten ---------------------------------------------
def _write_dataset(path: Path, classes: tuple[str, ...]) -> Path:
    words = {"pos": "good great fine", "neg": "bad awful poor", "mixed": "so so meh"}
    rows = [f"{words[c]} {i} item,{c}" for i in range(24) for c in classes]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def test_resuming_after_the_dataset_changed_its_classes_is_refused_naming_them(store, tmp_path, capsys):
    sources.add_dataset(_write_dataset(tmp_path / "shop.csv", ("neg", "pos")), "shop")
    cfg = preset("fast", cell="gru", dataset="shop", epochs=2, hidden_size=4, embedding_dim=4, max_len=20,
                 batch_size=8, threads=1, remove_stopwords=False)
    run = lifecycle.run_now("rnn", cfg, store)
    run.update_status(state="running", process=dead_process().to_dict())  # killed in its last epoch
    before = files_of(run, but=("status.json",))
    sources.add_dataset(_write_dataset(tmp_path / "shop3.csv", ("neg", "pos", "mixed")), "shop")  # re-added
    err = fails(capsys, "train", "--resume", run.id, "--runs-dir", str(store.root))
    assert f"run {run.id} cannot be resumed: dataset shop changed since it trained" in err
    assert "the run's classes are neg, pos; the dataset's are now" in err and "mixed" in err
    assert files_of(run, but=("status.json", "job.log", "error.log")) == before  # classes.json, vocab.json kept


# -- interrupted writes: their temporaries go when the run next starts ------------------------------------------------
def test_temporaries_of_writes_killed_mid_way_are_removed_when_the_run_starts_and_nothing_else(store, test_kind):
    run = store.create(test_kind)
    ckpt = run.file("checkpoint")
    ckpt.mkdir()
    (ckpt / "last.safetensors").write_bytes(b"the last complete epoch")
    writer = ("import os, sys; from rnnlab.core import atomic\n"
              "with atomic.atomic_path(sys.argv[1]) as tmp:\n"
              "    tmp.write_bytes(b'x' * 1000)\n"
              "    os.kill(os.getpid(), 9)\n")
    for target in (ckpt / "last.safetensors", run.file("model.safetensors")):  # kill -9 mid-write, for real
        subprocess.run([sys.executable, "-c", writer, str(target)], cwd=ROOT, timeout=60)
    (ckpt / ".tmpQ3xZ9a").write_bytes(b"y" * 1000)  # what safetensors' own writer leaves (Rust's tempfile name)
    keep = {ckpt / "notes.tmp", run.file(".tmp-mine"), run.file("keep.tmpABCDEF"), ckpt / ".tmpTOOLONG1"}
    for p in keep:
        p.write_text("not a temporary of ours")
    left = {*ckpt.glob(".last.safetensors.*.tmp"), *run.path.glob(".model.safetensors.*.tmp"), ckpt / ".tmpQ3xZ9a"}
    assert len(left) == 3 and all(p.is_file() for p in left)
    lifecycle.run_job(run, store, options={"seconds": 0})
    assert not any(p.exists() for p in left)
    assert all(p.exists() for p in keep) and (ckpt / "last.safetensors").read_bytes() == b"the last complete epoch"
