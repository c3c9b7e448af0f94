"""Exports of stored runs to TensorBoard and MLflow (core/report/export.py), read back with each library's reader."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import pytest
from fixtures_runs import use_home
from fixtures_tracking import assert_typed_hparams, events, fresh_mlflow_db, hparams_plugin

from rnnlab.core.analysis.gradients import decay_ratios, load_gradients
from rnnlab.core.config import HMMRunConfig, config_to_dict, preset
from rnnlab.core.jobs.store import RunNotFound, RunStore
from rnnlab.core.models.checkpoint import read_weights
from rnnlab.core.report.export import (
    MissingDependency,
    cmd_export,
    export_runs,
    flatten_config,
    param_text,
)
from rnnlab.core.report.export_args import add_export_arguments

pytest.importorskip("tensorboard")


@pytest.fixture(scope="module")
def home(trained_home, tmp_path_factory):
    """A copy of the trained home plus a run with recorded gradients and a fake HMM run with EM records."""
    from rnnlab.core.jobs.lifecycle import run_now

    root = tmp_path_factory.mktemp("export") / "home"
    shutil.copytree(trained_home.home, root)
    store = RunStore(root / "runs")
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, root)
        grad = run_now("rnn", preset("fast", task="adding", seq_len=8, train_steps=6, epochs=2, record_gradients=True,
                                     probe_every=2, probe_size=8), store)
    hmm = store.create(HMMRunConfig(), label="hmm-baseline")
    hmm.append_metrics([{"kind": "em", "class": c, "iteration": i, "log_likelihood": -100.0 + 10 * i + c,
                         "log_likelihood_per_token": -1.0 + 0.1 * i} for c in (0, 1) for i in range(3)])
    hmm.write_status({"state": "finished", "process": None})
    ids = {**{k: v for k, v in trained_home.run_ids.items()}, "grad": grad.id, "hmm": hmm.id}
    return root, store, ids


_scalars = events


@pytest.fixture
def mlflow_db(tmp_path_factory, tmp_path):
    return fresh_mlflow_db(tmp_path_factory, tmp_path)


def _expected_steps(run):
    recs = run.metrics("step")
    return {"step/loss": [(r["step"], r["loss"]) for r in recs],
            "step/grad_norm": [(r["step"], r["grad_norm"]) for r in recs],
            **{f"step/group_grad_norm/{g}": [(r["step"], r["norms"][g]) for r in recs] for g in recs[0]["norms"]},
            "step/clipped": [(r["step"], float(r["clipped"])) for r in recs]}


def _expected_params(run):
    return {**{k: param_text(v) for k, v in flatten_config(config_to_dict(run.job_config())).items()}, "kind": run.kind}


def test_tensorboard_export_holds_step_and_epoch_scalars_hparams_and_test_metrics(home, tmp_path):
    _, store, ids = home
    runs = [store.get(ids[c]) for c in ("rnn", "lstm", "gru")]
    out = export_runs(runs, "tensorboard", str(tmp_path / "tb"))
    assert [e["run_id"] for e in out["exported"]] == [r.id for r in runs] and out["skipped"] == []
    for run in runs:
        ea = _scalars(tmp_path / "tb" / run.id)
        tags = set(ea.Tags()["scalars"])
        for tag, points in _expected_steps(run).items():
            got = [(e.step, e.value) for e in ea.Scalars(tag)]
            assert [s for s, _ in got] == [s for s, _ in points]
            assert [v for _, v in got] == pytest.approx([v for _, v in points], rel=1e-6)
        # every point at the wall time its record carries, not the export's
        assert [e.wall_time for e in ea.Scalars("step/loss")] == [r["wall_time"] for r in run.metrics("step")]
        epochs = run.metrics("epoch")
        for name in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "epoch_time_s"):
            got = [(e.step, e.value, e.wall_time) for e in ea.Scalars(f"epoch/{name}")]
            assert got == [(r["epoch"], pytest.approx(r[name], rel=1e-6), r["wall_time"]) for r in epochs]
        tm = run.test_metrics()
        assert ea.Scalars("test/accuracy")[0].value == pytest.approx(tm["accuracy"], rel=1e-6)
        assert ea.Scalars("test/accuracy")[0].wall_time == run.status()["finished"]
        assert not any(t.startswith("gradient_decay/") for t in tags)
        # the best weights, one histogram per parameter, at the best epoch
        weights = {t for t in ea.Tags()["histograms"] if t.startswith("weights/")}
        assert weights == {f"weights/{k}" for k in read_weights(run.file("model.safetensors"))}
        assert {h.step for t in weights for h in ea.Histograms(t)} == {tm["best_epoch"]}
        start = hparams_plugin(ea, "session_start_info")
        assert_typed_hparams(start.hparams, {**flatten_config(config_to_dict(run.job_config())), "kind": "rnn"})
        assert start.hparams["train.bf16"].bool_value is False and start.start_time_secs == run.status()["started"]
        experiment = hparams_plugin(ea, "experiment")
        assert {"test/accuracy", "epoch/val_loss"} <= {m.name.tag for m in experiment.metric_infos}
        assert hparams_plugin(ea, "session_end_info").status == 1  # STATUS_SUCCESS
        assert run.summary()["label"] in ea.Tensors("rnnlab/run/text_summary")[0].tensor_proto.string_val[0].decode()


def test_a_run_without_wall_times_is_exported_at_times_derived_from_its_start_and_epoch_times(home, tmp_path):
    """Runs trained before records carried ``wall_time``: steps spread over their epoch, epochs laid end to end
    from the run's start by their ``epoch_time_s``, never all at one instant."""
    root, _, ids = home
    folder = tmp_path / "store" / ids["lstm"]  # a copy: the run store's own run stays as it is
    shutil.copytree(root / "runs" / ids["lstm"], folder)
    from rnnlab.core.jobs.store import Run

    run = Run(folder)
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    (folder / "metrics.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "wall_time"}) + "\n"
                                                  for r in lines))
    said: list[str] = []
    export_runs([run], "tensorboard", str(tmp_path / "tb"), say=said.append)
    assert any("derived from the run's start" in m for m in said)
    ea = events(tmp_path / "tb" / run.id)
    times = [e.wall_time for e in ea.Scalars("step/loss")]
    start, epoch = run.status()["started"], run.metrics("epoch")[0]
    assert len(times) >= 2 and all(a < b for a, b in zip(times, times[1:], strict=False))
    assert start < times[0] and times[-1] == pytest.approx(start + epoch["epoch_time_s"])
    assert ea.Scalars("epoch/val_loss")[0].wall_time == pytest.approx(start + epoch["epoch_time_s"])


def test_tensorboard_export_has_one_decay_curve_per_gradient_recording(home, tmp_path):
    _, store, ids = home
    run = store.get(ids["grad"])
    export_runs([run], "tensorboard", str(tmp_path / "tb"))
    ea = _scalars(tmp_path / "tb" / run.id)
    curves = sorted(t for t in ea.Tags()["scalars"] if t.startswith("gradient_decay/"))
    rec = load_gradients(run.file("gradients.npz"))
    assert len(curves) == len(rec.step) >= 3
    last = [(e.step, e.value) for e in ea.Scalars(curves[-1])]
    width = rec["dh"].shape[-1]
    want = decay_ratios(rec, range(width), record=len(rec.step) - 1)
    assert [k for k, _ in last] == list(range(width))
    assert [v for _, v in last] == pytest.approx([want[k]["median"] for k in range(width)], rel=1e-6)
    assert last[0][1] == pytest.approx(1.0)


def test_tensorboard_export_of_an_hmm_run_has_its_em_curves_and_reexport_replaces(home, tmp_path):
    _, store, ids = home
    run = store.get(ids["hmm"])
    export_runs([run], "tensorboard", str(tmp_path / "tb"))
    export_runs([run], "tensorboard", str(tmp_path / "tb"))  # again: the folder is replaced, not appended to
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == [run.id]
    ea = _scalars(tmp_path / "tb" / run.id)
    got = [(e.step, e.value) for e in ea.Scalars("em/log_likelihood/class_1")]
    assert got == [(0, -99.0), (1, -89.0), (2, -79.0)]
    assert "em/log_likelihood_per_token/class_0" in ea.Tags()["scalars"]


def test_mlflow_sqlite_export_holds_params_metric_history_test_metrics_tags_and_artifacts(home, tmp_path, mlflow_db):
    from mlflow import MlflowClient

    _, store, ids = home
    runs = [store.get(ids[c]) for c in ("lstm", "grad", "failed")]
    uri = mlflow_db
    runs[0].annotate(name="baseline", note="before the fix")
    out = export_runs(runs, "mlflow", uri)
    assert out["skipped"] == [] and len(out["exported"]) == 3
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("rnnlab")
    assert exp.artifact_location == (tmp_path / "mlartifacts").as_uri()
    found = {r.data.tags["rnnlab.run_id"]: r for r in client.search_runs([exp.experiment_id])}
    assert set(found) == {r.id for r in runs}
    for run in runs:
        m = found[run.id]
        assert m.data.params == _expected_params(run)
        assert m.data.tags["rnnlab.kind"] == "rnn"
        label = run.summary()["label"]
        assert m.info.run_name == m.data.tags["rnnlab.label"] == label and label.startswith(run.summary()["name"])
        assert m.data.tags["rnnlab.state"] == run.status()["state"]
        names = {f.path for f in client.list_artifacts(m.info.run_id)}
        assert {"config.json", "status.json"} <= names and "checkpoint" not in names
        if run.id == ids["failed"]:
            assert m.info.status == "FAILED" and not m.data.metrics
            continue
        assert m.info.status == "FINISHED"
        assert {"metrics.jsonl", "model.safetensors", "test_metrics.json"} <= names
        for tag, points in _expected_steps(run).items():
            hist = sorted(client.get_metric_history(m.info.run_id, tag), key=lambda x: x.step)
            assert [(h.step, h.value) for h in hist] == [(s, pytest.approx(v)) for s, v in points]
        # each point at its record's time, to the millisecond: not all at the run's start
        stamps = [h.timestamp for h in sorted(client.get_metric_history(m.info.run_id, "step/loss"),
                                               key=lambda x: x.step)]
        assert stamps == [int(r["wall_time"] * 1000) for r in run.metrics("step")]
        hist = client.get_metric_history(m.info.run_id, "epoch/val_loss")
        assert sorted((h.step, h.value) for h in hist) == [(r["epoch"], r["val_loss"]) for r in run.metrics("epoch")]
        tm = run.test_metrics()
        assert m.data.metrics["test/loss"] == pytest.approx(tm["loss"])
    assert any(k.startswith("gradient_decay/") for k in found[ids["grad"]].data.metrics)
    named = found[runs[0].id].data.tags
    assert (named["rnnlab.name"], named["rnnlab.note"], named["mlflow.note.content"]) == (
        "baseline", "before the fix", "before the fix")
    assert "weights/fc.weight/mean" in found[runs[0].id].data.metrics  # MLflow has no histograms: their summary
    # the finished text classifier is also the MLflow model of its run (core.report.mlflow_model), tagged with it
    models = {e["run_id"]: e["model_uri"] for e in out["exported"]}
    assert models[runs[0].id] and named["rnnlab.model_uri"] == models[runs[0].id]
    assert models[ids["grad"]] is None and models[ids["failed"]] is None  # a synthetic task's, a failed one's
    # exporting again replaces the earlier MLflow run instead of adding a second one
    export_runs(runs[:1], "mlflow", uri)
    again = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags["rnnlab.run_id"] == runs[0].id]
    assert len(again) == 1 and again[0].info.run_id != found[runs[0].id].info.run_id


def test_mlflow_file_uri_export_and_the_experiment_option(home, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    _, store, ids = home
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    out = export_runs([store.get(ids["gru"])], "mlflow", uri, experiment="mine", with_checkpoints=True)
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # set for the export only
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads a folder store only with it
    client = MlflowClient(tracking_uri=uri)
    (m,) = client.search_runs([client.get_experiment_by_name("mine").experiment_id])
    assert m.data.tags["rnnlab.run_id"] == ids["gru"] == out["exported"][0]["run_id"]
    assert "checkpoint" in {f.path for f in client.list_artifacts(m.info.run_id)}


def test_an_unknown_run_id_stops_the_command_before_anything_is_written(home, tmp_path):
    root, _, ids = home
    parser = argparse.ArgumentParser()
    add_export_arguments(parser)
    args = parser.parse_args([ids["rnn"], "no-such-run", "--to", "tensorboard", str(tmp_path / "tb"),
                              "--runs-dir", str(root / "runs")])
    with pytest.raises(RunNotFound, match="no-such-run"):
        cmd_export(args)
    assert not (tmp_path / "tb").exists()


def test_a_damaged_run_is_skipped_with_a_message_and_the_others_exported(home, tmp_path, capsys):
    root, _, ids = home
    runs_dir = tmp_path / "runs"
    for key in ("rnn", "gru"):
        shutil.copytree(root / "runs" / ids[key], runs_dir / ids[key])
    (runs_dir / ids["gru"] / "test_metrics.json").write_text('{"accuracy": "high"}')
    parser = argparse.ArgumentParser()
    add_export_arguments(parser)
    args = parser.parse_args([ids["rnn"], ids["gru"], "--to", "tensorboard", str(tmp_path / "tb"),
                              "--runs-dir", str(runs_dir), "--json"])
    assert cmd_export(args) == 1
    captured = capsys.readouterr()
    assert f"skipped {ids['gru']}" in captured.err and "test_metrics.json" in captured.err
    assert [p.name for p in (tmp_path / "tb").iterdir()] == [ids["rnn"]]
    # damaged gradients: the whole run is skipped, named with its file
    said: list[str] = []
    grad = tmp_path / "store" / ids["grad"]  # in a store of its own: an export never writes into a run's store
    shutil.copytree(root / "runs" / ids["grad"], grad)
    (grad / "gradients.npz").write_bytes(b"not a zip")
    from rnnlab.core.jobs.store import Run

    out = export_runs([Run(grad)], "tensorboard", str(tmp_path / "tb2"), say=said.append)
    assert out["exported"] == [] and "gradients.npz" in out["skipped"][0]["reason"] and said


@pytest.mark.parametrize("to, module, package", [("tensorboard", "tensorboard", "tensorboard"),
                                                 ("mlflow", "mlflow", "mlflow-skinny")])
def test_a_missing_library_is_one_line_naming_the_package(home, tmp_path, monkeypatch, to, module, package):
    _, store, ids = home
    for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    if to == "tensorboard":
        monkeypatch.delitem(sys.modules, "torch.utils.tensorboard", raising=False)
    target = str(tmp_path / "out") if to == "tensorboard" else (tmp_path / "mlruns").as_uri()
    with pytest.raises(MissingDependency, match=f"pip install {package}") as e:
        export_runs([store.get(ids["rnn"])], to, target)
    assert "\n" not in str(e.value)


def test_an_unknown_format_is_refused(home, tmp_path):
    _, store, ids = home
    with pytest.raises(ValueError, match="unknown export format"):
        export_runs([store.get(ids["rnn"])], "wandb", str(tmp_path))
