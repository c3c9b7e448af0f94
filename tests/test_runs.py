"""The run store: atomic status, torn metrics lines, crash detection, listing and deletion."""

import json
import time

import pytest

from core.config import preset
from core.jobs.process import ProcessId
from core.jobs.store import RunNotFound, RunStore


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


def test_create_writes_config_and_queued_status(store):
    run = store.create(preset("seed", cell="gru"))
    assert run.config() == preset("seed", cell="gru")
    assert run.status()["state"] == "queued"
    assert [r.id for r in store.list()] == [run.id]


def test_a_torn_last_metrics_line_is_skipped(store):
    run = store.create(preset("seed"))
    run.append_metrics([{"kind": "step", "step": 0, "loss": 0.7}, {"kind": "epoch", "epoch": 0}])
    with open(run.file("metrics.jsonl"), "a") as f:
        f.write('{"kind": "step", "step": 1, "lo')  # the process died mid-write
    assert [r["kind"] for r in run.metrics()] == ["step", "epoch"]
    assert len(run.metrics("step")) == 1


def test_a_running_run_whose_process_is_gone_shows_as_crashed(store):
    run = store.create(preset("seed"))
    run.update_status(state="running", process={"pid": 2**22 + 12345, "start": 1.0, "host": ProcessId.current().host})
    st = run.status()
    assert st["state"] == "crashed" and "stopped" in st["error"]


def test_a_running_run_with_a_stale_heartbeat_shows_as_crashed(store):
    run = store.create(preset("seed"))
    run.update_status(state="running", process={**ProcessId.current().to_dict(), "host": "another-host"})
    st = json.loads(run.file("status.json").read_text())
    st["heartbeat"] = time.time() - 3600
    run.file("status.json").write_text(json.dumps(st))
    assert run.status()["state"] == "crashed"
    run.update_status(state="running")  # a fresh heartbeat: alive again
    assert run.status()["state"] == "running"


def test_status_writes_leave_no_temporary_files(store):
    run = store.create(preset("seed"))
    for i in range(5):
        run.update_status(progress={"step": i})
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "status.json"]


def test_get_accepts_a_unique_prefix_when_asked_and_refuses_path_tricks(store):
    run = store.create(preset("seed"))
    assert store.get(run.id[:-2], prefix=True).id == run.id
    with pytest.raises(RunNotFound):
        store.get(run.id[:-2])
    for bad in ["../x", "/etc", "", ".hidden"]:
        with pytest.raises(RunNotFound):
            store.get(bad)


def test_delete_removes_a_finished_run_but_not_a_running_one(store):
    run = store.create(preset("seed"))
    run.update_status(state="running", process=ProcessId.current().to_dict())
    with pytest.raises(ValueError, match="cancel"):
        store.delete(run.id)
    run.update_status(state="finished")
    store.delete(run.id)
    assert store.list() == []


def test_summary_reads_test_metrics(store):
    run = store.create(preset("seed", cell="rnn"))
    run.write_json("test_metrics.json", {"accuracy": 0.7, "f1": 0.69, "train_time_s": 12.0})
    s = run.summary()
    assert (s["model"], s["test_accuracy"], s["f1"], s["train_time_s"]) == ("rnn", 0.7, 0.69, 12.0)


def test_cut_metrics_keeps_the_epochs_up_to_a_checkpoint(store):
    run = store.create(preset("seed"))
    recs = [{"kind": "step", "epoch": e, "step": 2 * e + i} for e in range(3) for i in range(2)]
    run.append_metrics(recs + [{"kind": "epoch", "epoch": e} for e in range(3)])
    with open(run.file("metrics.jsonl"), "a") as f:
        f.write('{"kind": "step", "ep')  # torn by a kill
    assert run.cut_metrics(1) == 4  # epoch 2's two steps and its record, and the torn line
    assert [(r["kind"], r["epoch"]) for r in run.metrics()] == [("step", 0), ("step", 0), ("step", 1), ("step", 1),
                                                                ("epoch", 0), ("epoch", 1)]
    assert run.cut_metrics(-1) == 6 and run.metrics() == []


def test_summary_of_a_damaged_run_keeps_what_can_be_read_and_names_the_file(store):
    run = store.create(preset("seed", cell="rnn"), label="mine")
    run.file("status.json").write_text('{"state": "finished", "heartbeat": "yesterday"}')
    s = run.summary()
    assert (s["status"], s["kind"], s["model"]) == ("damaged", "rnn", "mine")
    assert s["error"] == "status.json: heartbeat: expected a number, got 'yesterday'"
    assert set(s) == set(store.create(preset("seed")).summary())  # the same columns as any row


def test_list_skips_stray_files_and_folders_without_a_config(store):
    run = store.create(preset("seed"))
    (store.root / "notes.txt").write_text("x")
    (store.root / "half-made").mkdir()
    assert [r.id for r in store.list()] == [run.id]
