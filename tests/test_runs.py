"""The run store: atomic status, torn metrics lines, crash detection, listing, deletion, names and notes."""

import json
import time

import pytest

from rnnlab.core.config import preset
from rnnlab.core.jobs.files import MAX_NAME_CHARS, MAX_NOTE_CHARS, Annotations, read_annotations
from rnnlab.core.jobs.process import ProcessId
from rnnlab.core.jobs.store import RunNotFound, RunStore


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


# -- annotations.json: a user's name, note and hidden flag -----------------------------------------------------------
def test_a_name_note_and_hidden_flag_round_trip_beside_an_unchanged_config(store):
    run = store.create(preset("seed"))
    config = run.file("config.json").read_bytes()
    assert run.annotations() == Annotations()
    run.annotate(name="  first   try\n", note="kept negations\nto see")
    run.annotate(hidden=True)
    assert run.annotations() == Annotations(name="first try", note="kept negations\nto see", hidden=True)
    assert run.file("config.json").read_bytes() == config  # written once, never again
    assert sorted(p.name for p in run.path.iterdir()) == ["annotations.json", "config.json", "status.json"]
    s = run.summary()
    assert (s["name"], s["note"], s["hidden"], s["annotation_warning"]) == ("first try", "kept negations\nto see",
                                                                           True, None)
    assert s["label"].startswith("first try · lstm · seed · ")


def test_a_name_or_note_too_long_is_refused_and_nothing_is_written(store):
    run = store.create(preset("seed"))
    run.annotate(name="kept")
    with pytest.raises(ValueError, match="name: 81 characters"):
        run.annotate(name="x" * (MAX_NAME_CHARS + 1))
    with pytest.raises(ValueError, match="note: 2,001 characters"):
        run.annotate(note="x" * (MAX_NOTE_CHARS + 1))
    assert run.annotations().name == "kept"
    assert run.annotate(name="x" * MAX_NAME_CHARS, note="y" * MAX_NOTE_CHARS).note == "y" * MAX_NOTE_CHARS


@pytest.mark.parametrize("content, why", [
    (b"{not json", "not valid JSON"),
    (b'["a list"]', "expected a JSON object"),
    (b'{"name": 3}', "name: expected a string"),
    (b'{"hidden": "yes"}', "hidden: expected true or false"),
    (json.dumps({"note": "x" * 2001}).encode(), "note: 2,001 characters"),
    (b"\xff\xfe", "not UTF-8"),
    (b" " * (64 * 1024 + 1), "more than the 65,536"),
])
def test_a_bad_annotations_file_is_ignored_with_a_warning_and_the_run_is_not_damaged(store, content, why):
    run = store.create(preset("seed"))
    run.write_json("test_metrics.json", {"accuracy": 0.8, "roc_auc": 0.9, "n": 100})
    run.update_status(state="finished")
    run.file("annotations.json").write_bytes(content)
    ann, warning = read_annotations(run.id, run.file("annotations.json"))
    assert ann == Annotations() and why in warning and "ignored" in warning
    s = run.summary()
    assert s["status"] == "finished" and s["test_accuracy"] == 0.8 and s["quality"] == "ok"
    assert why in s["annotation_warning"] and s["name"] == "" and s["hidden"] is False
    run.annotate(name="fixed")  # the next edit replaces the bad file
    assert run.summary()["annotation_warning"] is None and run.annotations().name == "fixed"


def test_a_damaged_run_keeps_its_name_and_reads_as_failed(store):
    run = store.create(preset("seed", cell="rnn"), label="mine")
    run.annotate(name="the odd one")
    run.file("status.json").write_text("[]")
    s = run.summary()
    assert (s["status"], s["quality"], s["name"]) == ("damaged", "failed", "the odd one")
    assert s["label"].startswith("the odd one · mine · ")


def test_annotating_a_deleted_run_makes_no_folder(store):
    run = store.create(preset("seed"))
    run.update_status(state="finished")
    store.delete(run.id)
    with pytest.raises(RunNotFound):
        run.annotate(name="late")
    assert not run.path.exists()


def test_summary_gives_a_label_and_a_quality(store):
    run = store.create(preset("fast", cell="gru", limit=2000, epochs=3))
    run.write_json("test_metrics.json", {"accuracy": 0.52, "roc_auc": 0.55, "n": 200,
                                         "confusion_matrix": [[60, 40], [56, 44]]})
    run.update_status(state="finished")
    s = run.summary()
    assert s["label"] == f"gru · fast · 2,000 reviews · 3 ep · {run.id[-6:]}"
    assert s["quality"] == "near chance"
