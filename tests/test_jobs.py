"""Whole runs: execute end to end, failure and cancel records, the launched process, the CLI."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core.analysis.predict import predict_runs
from core.config import ModelConfig, preset
from core.jobs.lifecycle import cancel, execute, launch
from core.jobs.store import RunStore
from core.models.checkpoint import CheckpointError, load_model, read_weights

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(epochs=1, hidden_size=8, embedding_dim=8, max_len=40, batch_size=4, val_size=2, threads=1)


@pytest.fixture
def store(rnnlab_home):
    return RunStore(rnnlab_home / "runs")


@pytest.mark.parametrize("preset_name", ["seed", "fast"])
def test_execute_trains_evaluates_and_stores_a_run(store, tiny_imdb_archive, preset_name):
    cfg = preset(preset_name, cell="gru", imdb_path=str(tiny_imdb_archive), **TINY)
    run = execute(cfg, store)
    assert run.status()["state"] == "finished"
    names = {p.name for p in run.path.iterdir()}
    assert {"config.json", "status.json", "metrics.jsonl", "model.safetensors", "vocab.json",
            "test_metrics.json", "model_config.json"} <= names
    tm = run.test_metrics()
    assert tm["n"] == 6 and 0 <= tm["accuracy"] <= 1 and len(tm["confusion_matrix"]) == 2
    assert tm["params_recurrent_seed_formula"] == 3 * (8 + 8 + 1) * 8
    assert tm["params_recurrent_pytorch"] == 3 * (8 + 8 + 2) * 8
    steps = run.metrics("step")
    assert steps and all("grad_norm" in s for s in steps)
    assert len(run.metrics("epoch")) == 1
    # weights reload without pickle and predict like the stored model
    model = load_model(ModelConfig(**run.read_json("model_config.json")), run.file("model.safetensors"))
    assert isinstance(model, torch.nn.Module)
    [pred] = predict_runs([run.id], "a pos film <br /> really", runs_dir=store.root)
    assert 0.0 <= pred["probability"] <= 1.0 and pred["label"] in ("positive", "negative")


def test_a_failing_run_is_recorded_as_failed_with_its_error(store, tmp_path):
    cfg = preset("fast", imdb_path=str(tmp_path / "nowhere.tar.gz"), **TINY)
    with pytest.raises(Exception):  # noqa: B017 - the error type is the data module's
        execute(cfg, store)
    [run] = store.list()
    st = run.status()
    assert st["state"] == "failed" and "nowhere" in st["error"]
    assert "Traceback" in run.file("error.log").read_text()


def test_a_cancel_requested_before_start_ends_cancelled(store, tiny_imdb_archive):
    cfg = preset("fast", imdb_path=str(tiny_imdb_archive), **TINY)
    run = store.create(cfg)
    run.request_cancel()
    execute(cfg, store, run)
    assert run.status()["state"] == "cancelled"


def test_cancel_mid_training_keeps_what_was_learned(store, tiny_imdb_archive):
    cfg = preset("fast", imdb_path=str(tiny_imdb_archive), **{**TINY, "epochs": 50, "batch_size": 1})
    run = store.create(cfg)

    class CancelSoon:
        def on_batch_end(self, trainer, rec):
            if trainer.step == 3:
                run.request_cancel()

    execute(cfg, store, run, extra_callbacks=[CancelSoon()])
    assert run.status()["state"] == "cancelled"
    assert run.file("model.safetensors").is_file() and run.test_metrics()["stopped_early"]
    assert len(run.metrics("epoch")) == 1


def test_launch_trains_in_its_own_process(store, tiny_imdb_archive):
    cfg = preset("fast", cell="rnn", imdb_path=str(tiny_imdb_archive), **TINY)
    run = launch(cfg, store)
    assert run.status()["pid"] != os.getpid()
    deadline = time.time() + 120
    while run.status()["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    assert run.status()["state"] == "finished", run.file("train.log").read_text()


def test_cancel_of_a_queued_launch_stops_it(store, tiny_imdb_archive):
    cfg = preset("fast", imdb_path=str(tiny_imdb_archive), **TINY)
    store.root.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(store.root / ".train.lock", "w") as lock:  # another training holds the slot
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = launch(cfg, store)
        time.sleep(1.0)
        assert run.status()["state"] == "queued"
        cancel(run)
        assert run.status()["state"] == "cancelled"


QUEUE_JOB = """
import sys, time
from core.jobs.lifecycle import queue_slot
from core.jobs.store import RunStore
with queue_slot(RunStore(sys.argv[1]), poll_s=0.02):
    with open(sys.argv[2], "a") as f:
        f.write(sys.argv[3] + "\\n")
    time.sleep(float(sys.argv[4]))
"""


def test_queued_jobs_get_the_training_slot_in_the_order_they_asked(store, tmp_path):
    log = tmp_path / "order.txt"

    def job(name: str, hold_s: float) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", QUEUE_JOB, str(store.root), str(log), name, str(hold_s)],
                                cwd=ROOT)

    holder = job("holder", 2.0)
    deadline = time.time() + 60
    while not (log.is_file() and log.read_text()) and time.time() < deadline:
        time.sleep(0.05)
    waiting = []
    for name in ("first", "second", "third"):  # each asks while the holder trains
        waiting.append(job(name, 0.1))
        time.sleep(0.4)
    for p in [holder, *waiting]:
        assert p.wait(timeout=120) == 0
    assert log.read_text().split() == ["holder", "first", "second", "third"]
    assert list((store.root / ".queue").iterdir()) == []  # every ticket handed back


def test_a_job_that_died_in_the_queue_does_not_block_it(store):
    from core.jobs.lifecycle import queue_slot

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    queue = store.root / ".queue"
    queue.mkdir(parents=True)
    (queue / f"{1:020d}-{dead.pid}").touch()  # its process is gone
    (queue / f"{2:020d}-{os.getpid()}").touch()  # a live pid, but that process started after the ticket
    t0 = time.time()
    with queue_slot(store, poll_s=0.01):
        waited = time.time() - t0
    assert waited < 5
    assert list(queue.iterdir()) == []


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_cli_train_then_runs_json_and_predict(rnnlab_home, tiny_imdb_archive):
    p = _cli("train", "--model", "gru", "--limit", "6", "--val-size", "2", "--epochs", "1", "--hidden", "8", "--imdb",
             str(tiny_imdb_archive), "--threads", "1")
    assert p.returncode == 0, p.stderr
    run_id = p.stdout.strip().splitlines()[-1]
    rows = json.loads(_cli("runs", "--json").stdout)
    assert [r["run_id"] for r in rows] == [run_id] and rows[0]["status"] == "finished"
    assert rows[0]["model"] == "gru" and rows[0]["test_accuracy"] is not None
    out = json.loads(_cli("predict", run_id, "a pos film", "--json").stdout)
    assert out[0]["run_id"] == run_id


def test_cli_data_info_reports_counts(rnnlab_home, tiny_imdb_archive):
    p = _cli("data", "info", "--imdb", str(tiny_imdb_archive), "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["counts"]["train"] == {"pos": 3, "neg": 3}
    assert info["token_lengths_seed_pipeline"]["train"]["max"] >= 1


@pytest.mark.parametrize("args, message", [
    (["data", "info", "--imdb", "/no/such/file.tar.gz"], "file.tar.gz"),
    (["predict", "no-such-run", "text"], "no run"),
])
def test_cli_bad_input_gives_one_clear_line(rnnlab_home, args, message):
    p = _cli(*args)
    assert p.returncode == 1
    assert message in p.stderr and "Traceback" not in p.stderr


def test_a_pickle_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, bad)
    with pytest.raises(CheckpointError, match="pickle"):
        read_weights(bad)


def test_a_checkpoint_that_does_not_fit_its_config_is_refused(tmp_path):
    from core.models.checkpoint import save_weights
    from core.models.rnn import SentimentRNN

    path = tmp_path / "m.safetensors"
    save_weights(SentimentRNN(ModelConfig(cell="gru", vocab_size=10, hidden_size=4)), path)
    with pytest.raises(CheckpointError, match="expects"):
        load_model(ModelConfig(cell="gru", vocab_size=10, hidden_size=5), path)
    with pytest.raises(CheckpointError, match="expects"):  # an LSTM has 4 gate blocks, a GRU 3
        load_model(ModelConfig(cell="lstm", vocab_size=10, hidden_size=4), path)
    with pytest.raises(CheckpointError, match="missing"):
        load_model(ModelConfig(cell="gru", vocab_size=10, hidden_size=4, num_layers=2), path)
