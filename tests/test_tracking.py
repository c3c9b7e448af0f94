"""Live tracking (core/report/tracking.py, ``train --track``), read back with TensorBoard's and MLflow's own readers.

One tiny training (the adding task, hidden size 4, 3 epochs of 3 steps, gradients recorded) is tracked to
TensorBoard and to an MLflow SQLite store at once: its points carry the steps' own wall times, spread over the
training; its histograms come every epoch, its hparams typed; its MLflow run bears its label, name and note; and
it holds the records an export of the same run writes afterwards. A target that breaks partway (its MLflow run
deleted) or is refused at the start (a server that does not answer) is said once and the training finishes.
The targets are a launch option, kept in ``status.json``: a tracked run is the same configuration as an untracked
one. The syntax is bounded (:mod:`core.jobs.targets`); the CLI, the sweep spec and the Train page refuse a bad
target before any run exists.
"""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures_tracking import assert_typed_hparams, events, fresh_mlflow_db, hparams_plugin, mlflow_run_of
from test_pages import fake_launch, home, sleeper  # noqa: F401 - fixtures

from rnnlab.core.__main__ import main
from rnnlab.core.config import config_to_dict, preset
from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.jobs.targets import MAX_TARGETS, TrackTarget, parse_target, parse_targets
from rnnlab.core.models.checkpoint import read_weights
from rnnlab.core.report.export import export_runs
from rnnlab.core.report.writers import flatten_config

pytest.importorskip("tensorboard")

EPOCHS = 3
TINY = preset("fast", task="adding", seq_len=8, train_steps=9, epochs=EPOCHS, batch_size=50, hidden_size=4,
              record_gradients=True, probe_every=2, probe_size=8, threads=1)


class SeenWhileTraining:
    """Trainer callback: at the start of the last epoch's end, what the TensorBoard folder and MLflow already hold."""

    def __init__(self, folder: Path, uri: str, run_id: str):
        self.folder, self.uri, self.run_id, self.seen = folder, uri, run_id, None

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == EPOCHS - 1:  # runs before the tracker's own on_epoch_end (extra callbacks come first)
            from mlflow import MlflowClient

            ea = events(self.folder)
            mlflow_id = mlflow_run_of(self.uri, self.run_id).info.run_id
            self.seen = {"epochs": [e.step for e in ea.Scalars("epoch/val_loss")],
                         "histograms": sorted({h.step for h in ea.Histograms("weights/fc.weight")}),
                         "mlflow_epochs": sorted(h.step for h in MlflowClient(tracking_uri=self.uri)
                                                 .get_metric_history(mlflow_id, "epoch/val_loss"))}


class Annotate:
    """Trainer callback: the user names the run and writes a note while it trains (``runs --name/--note``)."""

    def __init__(self, run):
        self.run = run

    def on_train_start(self, trainer):
        self.run.annotate(name="live one", note="tracked as it trained")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One tiny training tracked to TensorBoard and MLflow at once: (run, TensorBoard folder, MLflow URI, said,
    what the TensorBoard folder held before the last epoch ended)."""
    root = tmp_path_factory.mktemp("tracked")
    store = RunStore(root / "runs")
    uri = fresh_mlflow_db(tmp_path_factory, root)
    run = lifecycle.create("rnn", TINY, store, track=parse_targets([f"tensorboard:{root / 'tb'}", f"mlflow:{uri}"]))
    said: list[str] = []
    seen = SeenWhileTraining(root / "tb" / run.id, uri, run.id)
    lifecycle.run_job(run, store, say=said.append, options={"extra_callbacks": [Annotate(run), seen]})
    return run, root / "tb" / run.id, uri, said, seen


def test_tensorboard_gets_each_step_at_its_own_wall_time_while_the_run_trains(tracked):
    run, folder, _, said, seen = tracked
    assert run.status()["state"] == "finished" and not [m for m in said if "stopped" in m or "not track" in m]
    # before the last epoch ended, the earlier epochs were already in the event file: written as it trained
    assert seen.seen == {"epochs": list(range(EPOCHS - 1)), "histograms": list(range(EPOCHS - 1)),
                         "mlflow_epochs": list(range(EPOCHS - 1))}
    ea = events(folder)
    steps = run.metrics("step")
    got = [(e.step, e.value, e.wall_time) for e in ea.Scalars("step/loss")]
    assert got == [(r["step"], pytest.approx(r["loss"], rel=1e-6), r["wall_time"]) for r in steps]
    times = [t for _, _, t in got]
    status = run.status()
    assert status["started"] < times[0] and times[-1] < status["finished"]
    assert all(a < b for a, b in zip(times, times[1:], strict=False))  # real times: each step after the last
    epochs = [(e.step, e.wall_time) for e in ea.Scalars("epoch/val_loss")]
    assert epochs == [(r["epoch"], r["wall_time"]) for r in run.metrics("epoch")]


def test_tensorboard_gets_weight_and_gradient_histograms_every_epoch_and_typed_hparams(tracked):
    run, folder, _, _, _ = tracked
    ea = events(folder)
    names = list(read_weights(run.file("model.safetensors")))
    for prefix in ("weights", "gradients"):
        for name in names:
            assert [h.step for h in ea.Histograms(f"{prefix}/{name}")] == list(range(EPOCHS)), (prefix, name)
    start = hparams_plugin(ea, "session_start_info")
    params = {**flatten_config(config_to_dict(run.job_config())), "kind": "rnn"}
    assert_typed_hparams(start.hparams, params)
    assert start.hparams["train.record_gradients"].bool_value is True  # a boolean, not the text "True"
    assert "data.limit" not in start.hparams and params["data.limit"] is None  # None: left out, not "None"
    assert hparams_plugin(ea, "session_end_info").status == 1  # STATUS_SUCCESS
    assert "test/mse" in {m.name.tag for m in hparams_plugin(ea, "experiment").metric_infos}
    text = ea.Tensors("rnnlab/run/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert "live one" in text and "tracked as it trained" in text


def test_the_live_records_are_the_ones_an_export_writes_afterwards(tracked, tmp_path):
    run, folder, _, _, _ = tracked
    export_runs([run], "tensorboard", str(tmp_path / "tb"))
    live, after = events(folder), events(tmp_path / "tb" / run.id)
    tags = [t for t in after.Tags()["scalars"] if not t.startswith("test/")]
    assert sum(t.startswith("gradient_decay/") for t in tags) >= EPOCHS  # one curve per recording
    assert sorted(tags) == sorted(t for t in live.Tags()["scalars"] if not t.startswith("test/"))
    for tag in tags:
        a, b = live.Scalars(tag), after.Scalars(tag)
        assert [(e.step, e.value) for e in a] == [(e.step, pytest.approx(e.value)) for e in b], tag
        if not tag.startswith("gradient_decay/"):
            assert [e.wall_time for e in a] == [e.wall_time for e in b], tag  # the run's own times, both ways
    assert {t for t in after.Tags()["scalars"] if t.startswith("test/")} == {
        t for t in live.Tags()["scalars"] if t.startswith("test/")}


def test_mlflow_gets_timestamps_that_follow_the_training_params_tags_and_the_runs_name(tracked):
    from mlflow import MlflowClient

    run, _, uri, _, _ = tracked
    m = mlflow_run_of(uri, run.id)
    client = MlflowClient(tracking_uri=uri)
    history = sorted(client.get_metric_history(m.info.run_id, "step/loss"), key=lambda h: h.step)
    stamps = [h.timestamp for h in history]
    assert stamps == [int(r["wall_time"] * 1000) for r in run.metrics("step")]
    # in order and spread over the training, not all at the run's start (MLflow keeps milliseconds: on a fast CPU
    # two steps of this tiny model may share one)
    assert stamps == sorted(stamps) and stamps[0] < stamps[-1]
    assert m.info.start_time <= stamps[0] and stamps[-1] <= m.info.end_time
    label = run.summary()["label"]
    assert label.startswith("live one") and m.info.run_name == label
    tags = m.data.tags
    assert (tags["rnnlab.label"], tags["rnnlab.name"], tags["rnnlab.note"], tags["mlflow.note.content"]) == (
        label, "live one", "tracked as it trained", "tracked as it trained")
    assert tags["rnnlab.run_id"] == run.id and tags["rnnlab.state"] == "finished" and m.info.status == "FINISHED"
    assert m.data.params["train.record_gradients"] == "True" and m.data.params["model.hidden_size"] == "4"
    # MLflow has no histograms: each parameter's summary, every epoch
    mean = client.get_metric_history(m.info.run_id, "gradients/fc.weight/mean")
    assert sorted(h.step for h in mean) == list(range(EPOCHS))
    assert m.data.metrics["test/mse"] == pytest.approx(run.test_metrics()["mse"])


def test_the_targets_are_kept_beside_the_run_not_in_its_configuration(tracked):
    run, _, _, _, _ = tracked
    assert run.stored_status()["track"][0].startswith("tensorboard:/")
    assert "track" not in json.loads(run.file("config.json").read_text())
    store = RunStore(run.path.parent)
    assert store.find_finished("rnn", TINY) == run  # an untracked launch of this configuration reuses it


# -- a target that fails ---------------------------------------------------------------------------------------------
class DeleteMlflowRun:
    """Trainer callback: at the first epoch's end, someone deletes the run's MLflow run (a store changed under it)."""

    def __init__(self, uri: str, run_of):
        self.uri, self.run_of = uri, run_of

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == 0:
            from mlflow import MlflowClient

            MlflowClient(tracking_uri=self.uri).delete_run(mlflow_run_of(self.uri, self.run_of().id).info.run_id)


def test_a_target_that_fails_mid_training_is_said_once_and_the_training_finishes(tmp_path_factory, tmp_path):
    store = RunStore(tmp_path / "runs")
    uri = fresh_mlflow_db(tmp_path_factory, tmp_path)
    run = lifecycle.create("rnn", TINY, store, track=parse_targets([f"mlflow:{uri}", f"tensorboard:{tmp_path}/tb"]))
    said: list[str] = []
    lifecycle.run_job(run, store, say=said.append, options={"extra_callbacks": [DeleteMlflowRun(uri, lambda: run)]})
    assert run.status()["state"] == "finished" and run.test_metrics()["steps"] == 9
    stopped = [m for m in said if "stopped" in m]
    assert len(stopped) == 1 and stopped[0].startswith(f"tracking to mlflow:{uri} stopped: ")
    assert f"python -m core export {run.id} --to mlflow" in stopped[0]
    # the other target went on to the end
    assert [e.step for e in events(tmp_path / "tb" / run.id).Scalars("epoch/val_loss")] == list(range(EPOCHS))


class StopAfterFirstEpoch:
    """Trainer callback: a cancel request at the first epoch's end (its checkpoint written first)."""

    def on_epoch_end(self, trainer, record):
        trainer.stop_requested = trainer.stop_requested or record["epoch"] == 0


def test_a_resumed_run_continues_its_mlflow_run_and_tensorboard_folder(tmp_path_factory, tmp_path):
    from mlflow import MlflowClient

    store = RunStore(tmp_path / "runs")
    uri = fresh_mlflow_db(tmp_path_factory, tmp_path)
    run = lifecycle.create("rnn", replace(TINY, train=replace(TINY.train, record_gradients=False)), store,
                           track=parse_targets([f"mlflow:{uri}", f"tensorboard:{tmp_path}/tb"]))
    lifecycle.run_job(run, store, say=lambda m: None, options={"extra_callbacks": [StopAfterFirstEpoch()]})
    assert run.status()["state"] == "cancelled" and mlflow_run_of(uri, run.id).info.status == "KILLED"
    lifecycle.resume(run, store, background=False, say=lambda m: None)
    assert run.status()["state"] == "finished"
    m = mlflow_run_of(uri, run.id)  # one MLflow run still: continued, not a second one
    assert m.info.status == "FINISHED"
    history = MlflowClient(tracking_uri=uri).get_metric_history(m.info.run_id, "epoch/val_loss")
    assert sorted(h.step for h in history) == list(range(EPOCHS))
    ea = events(tmp_path / "tb" / run.id)
    assert [e.step for e in ea.Scalars("step/loss")] == list(range(9))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_target_refused_at_the_start_is_said_and_the_run_trains_untracked(tmp_path):
    pytest.importorskip("requests")
    store = RunStore(tmp_path / "runs")
    url = f"http://127.0.0.1:{closed_port()}"
    said: list[str] = []
    run = lifecycle.run_now("rnn", replace(TINY, train=replace(TINY.train, epochs=1, record_gradients=False)), store,
                            say=said.append, track=parse_targets([f"mlflow:{url}"]))
    assert run.status()["state"] == "finished"
    assert [m for m in said if "not tracking" in m] == [
        f"not tracking to mlflow:{url}: --track mlflow:{url}: cannot reach the MLflow server at {url}: "
        f"Connection refused; the training goes on"]


# -- where targets are given -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, why", [
    ("wandb:runs", "unknown tracking target"),
    ("tensorboard:", "say where"),
    ("tensorboard:s3://bucket/tb", "a local folder, not a URL"),
    ("mlflow:ftp://host/x", "not ftp:"),
    ("mlflow:sqlite://relative.db", "sqlite:///path"),
    ("mlflow:sqlite:///:memory:", "in-memory"),
    ("mlflow:http://user:secret@host:5000", "MLFLOW_TRACKING_PASSWORD"),
    ("tensorboard:tb\nrm -rf", "control characters"),
    ("tensorboard:" + "x" * 1000, "more than 1,000"),
])
def test_a_bad_target_is_one_line_naming_it(text, why):
    with pytest.raises(ValueError, match=why) as e:
        parse_target(text)
    assert "\n" not in str(e.value)


def test_targets_are_made_absolute_and_bounded_in_number(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_target("tensorboard:tb") == TrackTarget("tensorboard", str(tmp_path / "tb"))
    assert str(parse_target("mlflow:sqlite:///m.db")) == f"mlflow:sqlite:///{tmp_path / 'm.db'}"
    assert parse_target("mlflow:mlruns").where == str(tmp_path / "mlruns")
    assert parse_target("mlflow:http://host:5000").where == "http://host:5000"
    assert parse_targets("tensorboard:a, mlflow:b,tensorboard:a") == (parse_target("tensorboard:a"),
                                                                       parse_target("mlflow:b"))
    with pytest.raises(ValueError, match=f"at most {MAX_TARGETS}"):
        parse_targets([f"tensorboard:{i}" for i in range(MAX_TARGETS + 1)])
    with pytest.raises(ValueError, match="absolute path"):
        parse_target("tensorboard:tb", relative=False)


def test_the_cli_refuses_a_bad_target_before_any_run_exists(tmp_path, capsys):
    runs = tmp_path / "runs"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    base = ["train", "--task", "adding", "--runs-dir", str(runs)]
    with pytest.raises(SystemExit) as usage:
        main([*base, "--track", "wandb:x"])
    assert usage.value.code == 2
    assert "argument --track: unknown tracking target 'wandb:x'" in capsys.readouterr().err
    assert main([*base, "--track", f"tensorboard:{blocker}/tb"]) == 1
    assert f"--track tensorboard:{blocker}/tb: the TensorBoard folder" in capsys.readouterr().err
    assert main([*base, "--track", f"tensorboard:{runs}/tb"]) == 1
    assert "inside the run store" in capsys.readouterr().err
    assert not runs.exists() or not any(runs.iterdir())
    assert main(["train", "--resume", "nope", "--track", f"tensorboard:{tmp_path}/tb", "--runs-dir", str(runs)]) == 1
    assert "a resumed run is tracked where it was started" in capsys.readouterr().err


def test_a_missing_package_is_one_line_naming_it_before_any_run_exists(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # find_spec (and import) now say it is not there
    runs = tmp_path / "runs"
    assert main(["train", "--task", "adding", "--runs-dir", str(runs), "--track", f"mlflow:{tmp_path}/mlruns"]) == 1
    err = capsys.readouterr().err
    assert "tracking to mlflow needs the 'mlflow-skinny' package: pip install mlflow-skinny" in err
    assert len(err.strip().splitlines()) == 1 and not runs.exists()


def test_a_sweep_spec_tracks_each_run_it_places(tmp_path):
    from rnnlab.core.sweep.job import place_runs
    from rnnlab.core.sweep.spec import SpecError, parse_spec, plan

    spec = parse_spec(f'name = "t"\nseeds = [0, 1]\ntrack = ["tensorboard:{tmp_path}/tb"]\n[base]\ntask = "adding"\n')
    assert spec.track == (TrackTarget("tensorboard", f"{tmp_path}/tb"),)
    placed = place_runs([p.cfg for p in plan(spec)], RunStore(tmp_path / "runs"), "sweep-t", spec.track)
    assert [r.stored_status()["track"] for r, _ in placed] == [[f"tensorboard:{tmp_path}/tb"]] * 2
    for bad, why in [('track = "tensorboard:tb"', "absolute path"), ("track = 3", "a target or a list"),
                     ('track = ["wandb:x"]', "unknown tracking target")]:
        with pytest.raises(SpecError, match=f"track: .*{why}"):
            parse_spec(f'name = "t"\n{bad}\n')


def test_the_train_page_launches_tracked_runs_and_refuses_a_bad_target(home, fake_launch, tmp_path):  # noqa: F811
    from test_page_launch import small_form, start
    from test_pages import ok, open_page, text

    at = small_form(ok(open_page("train.py")))
    at.text_input(key="train_track").set_value("wandb:x")
    at = start(at)
    assert "Not started: unknown tracking target 'wandb:x'" in text(at) and fake_launch == []
    at.text_input(key="train_track").set_value(f"tensorboard:{tmp_path}/tb")
    at = start(at)
    assert len(fake_launch) == 2
    assert [x["run"].stored_status()["track"] for x in fake_launch] == [[f"tensorboard:{tmp_path}/tb"]] * 2
