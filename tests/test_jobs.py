"""Whole RNN runs: trained end to end, failure and cancel records, the launched process, the CLI."""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnlab.core.analysis.predict import predict_runs
from rnnlab.core.config import ModelConfig, preset
from rnnlab.core.data.imdb import DatasetNotFound
from rnnlab.core.jobs.lifecycle import run_job, run_now, submit
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.models.checkpoint import CheckpointError, load_model, read_weights

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(epochs=1, hidden_size=8, embedding_dim=8, max_len=40, batch_size=4, val_size=2, threads=1)


@pytest.fixture
def store(rnnlab_home):
    return RunStore(rnnlab_home / "runs")


@pytest.mark.parametrize("preset_name", ["seed", "fast"])
def test_a_run_trains_evaluates_and_stores_everything(store, tiny_imdb_archive, preset_name):
    cfg = preset(preset_name, cell="gru", imdb_path=str(tiny_imdb_archive), **TINY)
    run = run_now("rnn", cfg, store)
    assert run.status()["state"] == "finished"
    names = {p.name for p in run.path.iterdir()}
    assert {"config.json", "status.json", "metrics.jsonl", "model.safetensors", "vocab.json",
            "test_metrics.json", "checkpoint"} <= names
    assert "model_config.json" not in names  # one config record: the model's vocabulary size is vocab.json's
    tm = run.test_metrics()
    assert tm["n"] == 6 and 0 <= tm["accuracy"] <= 1 and len(tm["confusion_matrix"]) == 2
    assert tm["params_recurrent_seed_formula"] == 3 * (8 + 8 + 1) * 8
    assert tm["params_recurrent_pytorch"] == 3 * (8 + 8 + 2) * 8
    steps = run.metrics("step")
    assert steps and all("grad_norm" in s for s in steps)
    assert len(run.metrics("epoch")) == 1
    # weights reload without pickle and predict like the stored model
    model = load_model(run.model_config(), run.file("model.safetensors"))
    assert isinstance(model, torch.nn.Module)
    [pred] = predict_runs([run.id], "a pos film <br /> really", runs_dir=store.root)
    assert 0.0 <= pred["probability"] <= 1.0 and pred["label"] in ("positive", "negative")


def test_a_failing_run_is_recorded_as_failed_with_its_error(store, tmp_path):
    run = store.create(preset("fast", imdb_path=str(tmp_path / "nowhere.tar.gz"), **TINY))  # made, then its data gone
    with pytest.raises(DatasetNotFound):
        run_job(run, store)
    [run] = store.list()
    st = run.status()
    assert st["state"] == "failed" and "nowhere" in st["error"]
    assert "Traceback" in run.file("error.log").read_text()


def test_a_config_whose_dataset_is_missing_is_refused_before_a_run_is_made(store, tmp_path):
    with pytest.raises(DatasetNotFound, match="nowhere"):
        run_now("rnn", preset("fast", imdb_path=str(tmp_path / "nowhere.tar.gz"), **TINY), store)
    assert store.list() == []


def test_a_cancel_requested_before_start_ends_cancelled(store, tiny_imdb_archive):
    cfg = preset("fast", imdb_path=str(tiny_imdb_archive), **TINY)
    run = store.create(cfg)
    run.request_cancel()
    run_job(run, store)
    assert run.status()["state"] == "cancelled"


def test_cancel_mid_training_keeps_what_was_learned(store, tiny_imdb_archive):
    cfg = preset("fast", imdb_path=str(tiny_imdb_archive), **{**TINY, "epochs": 50, "batch_size": 1})
    run = store.create(cfg)

    class CancelSoon:
        def on_batch_end(self, trainer, rec):
            if trainer.step == 3:
                run.request_cancel()

    run_job(run, store, options={"extra_callbacks": [CancelSoon()]})
    assert run.status()["state"] == "cancelled"
    assert run.file("model.safetensors").is_file() and run.test_metrics()["stopped_early"]
    assert len(run.metrics("epoch")) == 1


def test_a_submitted_run_trains_in_its_own_process(store, tiny_imdb_archive):
    cfg = preset("fast", cell="rnn", imdb_path=str(tiny_imdb_archive), **TINY)
    run = submit("rnn", cfg, store)
    assert run.process().pid != os.getpid()
    deadline = time.time() + 120
    while run.status()["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    assert run.status()["state"] == "finished", run.file("job.log").read_text()


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rnnlab.core", *args], cwd=ROOT, capture_output=True, text=True,
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
    from rnnlab.core.models.checkpoint import save_weights
    from rnnlab.core.models.rnn import SentimentRNN

    path = tmp_path / "m.safetensors"
    save_weights(SentimentRNN(ModelConfig(cell="gru", vocab_size=10, hidden_size=4)), path)
    with pytest.raises(CheckpointError, match="expects"):
        load_model(ModelConfig(cell="gru", vocab_size=10, hidden_size=5), path)
    with pytest.raises(CheckpointError, match="expects"):  # an LSTM has 4 gate blocks, a GRU 3
        load_model(ModelConfig(cell="lstm", vocab_size=10, hidden_size=4), path)
    with pytest.raises(CheckpointError, match="missing"):
        load_model(ModelConfig(cell="gru", vocab_size=10, hidden_size=4, num_layers=2), path)


def test_help_lists_every_command():
    from rnnlab.core.__main__ import build_parser

    p = _cli("--help")
    assert p.returncode == 0
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands.choices:
        assert name in p.stdout
    wanted = {"train", "job", "runs", "hmm", "embeddings", "memory-horizon", "experiment", "data", "explode"}
    assert wanted <= set(commands.choices)


def test_train_dry_run_prints_the_config_and_creates_no_run(rnnlab_home):
    p = _cli("train", "--model", "gru", "--hidden-size", "12", "--dry-run")
    assert p.returncode == 0, p.stderr
    cfg = json.loads(p.stdout)
    assert cfg["kind"] == "rnn" and cfg["model"]["cell"] == "gru" and cfg["model"]["hidden_size"] == 12
    assert RunStore(rnnlab_home / "runs").list() == []


def test_embeddings_are_read_from_the_runs_dir_given(rnnlab_home, tiny_imdb_archive, tmp_path):
    from rnnlab.core.config import DataConfig, TextConfig, Word2VecConfig, Word2VecRunConfig

    elsewhere = RunStore(tmp_path / "elsewhere")
    w2v = run_now("word2vec", Word2VecRunConfig(data=DataConfig(imdb_path=str(tiny_imdb_archive), val_size=2),
                                                text=TextConfig(), word2vec=Word2VecConfig(dim=8, min_count=1,
                                                                                           epochs=1)), elsewhere)
    p = _cli("train", "--model", "gru", "--limit", "6", "--val-size", "2", "--epochs", "1", "--hidden", "8",
             "--embedding-dim", "8", "--imdb", str(tiny_imdb_archive), "--threads", "1", "--embeddings", w2v.id,
             "--runs-dir", str(elsewhere.root))
    assert p.returncode == 0, p.stderr
    run = elsewhere.get(p.stdout.strip().splitlines()[-1])
    assert run.read_json("embeddings.json")["found"] > 0
    assert RunStore(rnnlab_home / "runs").list() == []  # nothing went to the default store


def test_a_finished_run_is_reused_only_for_exactly_its_config(store):
    from rnnlab.core.config import HMMConfig, HMMRunConfig

    cfg = HMMRunConfig(hmm=HMMConfig(states=2, limit=100, embeddings="w2v"))
    run = store.create(cfg)
    run.update_status(state="finished")
    assert store.find_finished("hmm", cfg) == run
    for other in (HMMConfig(states=3, limit=100, embeddings="w2v"), HMMConfig(states=2, mix=3, limit=100,
                                                                               embeddings="w2v"),
                  HMMConfig(states=2, limit=200, embeddings="w2v")):
        assert store.find_finished("hmm", HMMRunConfig(hmm=other)) is None
    assert store.find_finished("hmm", HMMRunConfig(data=cfg.data.__class__(limit=50), hmm=cfg.hmm)) is None


def test_runs_cancel_and_delete_take_exact_ids(rnnlab_home):
    from rnnlab.core.config import HorizonConfig

    store = RunStore(rnnlab_home / "runs")
    run = store.create(HorizonConfig(models=("rnn",), lengths=(4,), steps=2, evals=1))
    run.update_status(state="finished")
    p = _cli("runs", "--delete", run.id[:6])
    assert p.returncode == 1 and "no run" in p.stderr and run.path.exists()
    p = _cli("runs", "--delete", run.id[:6], "--prefix")
    assert p.returncode == 0 and run.id in p.stdout and not run.path.exists()
    run = store.create(HorizonConfig(models=("rnn",), lengths=(4,), steps=2, evals=1))
    p = _cli("runs", "--cancel", run.id)
    assert p.returncode == 0 and run.cancel_requested


def test_a_background_job_from_the_cli_is_a_run_listed_by_runs(rnnlab_home):
    p = _cli("memory-horizon", "--models", "rnn", "--lengths", "4", "--steps", "2", "--evals", "1", "--background")
    assert p.returncode == 0, p.stderr
    run = RunStore(rnnlab_home / "runs").get(p.stdout.strip().splitlines()[-1])
    deadline = time.time() + 120
    while run.status()["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.2)
    assert run.status()["state"] == "finished", run.file("job.log").read_text()
    rows = json.loads(_cli("runs", "--json").stdout)
    assert [(r["run_id"], r["kind"], r["status"]) for r in rows] == [(run.id, "memory-horizon", "finished")]


# -- runs --name / --note / --hide / --unhide ---------------------------------------------------------------------
def _runs_json(capsys, *args) -> tuple[int, object]:
    from rnnlab.core.__main__ import main

    capsys.readouterr()
    code = main(["runs", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_runs_names_notes_hides_and_unhides_runs(rnnlab_home, capsys):
    store = RunStore(rnnlab_home / "runs")
    a, b = store.create(preset("seed")), store.create(preset("fast", cell="gru"))
    code, out = _runs_json(capsys, "--name", a.id, "baseline", "--note", a.id, "seed preset, all reviews")
    assert code == 0 and out == [{"run_id": a.id, "name": "baseline", "note": "", "hidden": False},
                                 {"run_id": a.id, "name": "baseline", "note": "seed preset, all reviews",
                                  "hidden": False}]
    code, out = _runs_json(capsys, "--hide", a.id, b.id[:-2], "--prefix")
    assert code == 0 and [(r["run_id"], r["hidden"]) for r in out] == [(a.id, True), (b.id, True)]
    code, rows = _runs_json(capsys)
    row = next(r for r in rows if r["run_id"] == a.id)
    assert row["hidden"] and row["name"] == "baseline" and row["label"].startswith("baseline · lstm · seed")
    code, out = _runs_json(capsys, "--unhide", b.id)
    assert code == 0 and out[0]["hidden"] is False and store.get(a.id).annotations().hidden


def test_runs_annotation_errors_are_json_and_change_nothing(rnnlab_home, capsys):
    store = RunStore(rnnlab_home / "runs")
    run = store.create(preset("seed"))
    code, out = _runs_json(capsys, "--hide", run.id, "20990101-000000-000-lstm-abcdef")
    assert code == 1 and "no run" in out["error"] and not run.annotations().hidden  # every run is found first
    code, out = _runs_json(capsys, "--name", run.id, "x" * 81)
    assert code == 1 and "80" in out["error"] and not run.file("annotations.json").exists()
    code, out = _runs_json(capsys, "--hide", run.id, "--unhide", run.id)
    assert code == 1 and "at once" in out["error"]
    code, out = _runs_json(capsys, "--name", run.id)  # TEXT missing: a usage error
    assert code == 2 and "expected 2 arguments" in out["error"]


def test_runs_lists_the_label_and_quality_in_text(rnnlab_home, capsys):
    from rnnlab.core.__main__ import main

    run = RunStore(rnnlab_home / "runs").create(preset("seed"))
    run.update_status(state="finished")
    assert main(["runs", "--name", run.id, "my run"]) == 0
    assert main(["runs", "--hide", run.id]) == 0
    capsys.readouterr()
    assert main(["runs"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(run.id))
    assert "my run · lstm · seed" in line and "[degenerate]" in line and "(hidden)" in line


def test_a_run_made_before_a_field_existed_is_reused_as_the_field_at_its_default(store, tiny_imdb_archive):
    from rnnlab.core.config import preset
    from rnnlab.core.data.datasets import resolve_config
    from rnnlab.core.sweep.job import place_runs

    cfg = resolve_config(preset("fast", imdb_path=str(tiny_imdb_archive), val_size=2))
    run = store.create(cfg)
    # config.json as a version without the newer fields wrote it: it trained as their defaults do today
    old = dict(run.config_dict())
    old["model"] = {k: v for k, v in old["model"].items() if k != "embedding_dropout"}
    newer = ("lr_schedule", "weight_decay", "embedding_lr_scale")
    old["train"] = {k: v for k, v in old["train"].items() if k not in newer}
    run.write_json("config.json", old)
    run.update_status(state="finished")
    assert store.find_finished("rnn", cfg) == run
    [(placed, reused)] = place_runs([cfg], store, "again")
    assert (placed.id, reused) == (run.id, True)
    # a config that sets one of them otherwise is another run
    other = resolve_config(preset("fast", imdb_path=str(tiny_imdb_archive), val_size=2, lr_schedule="cosine"))
    assert store.find_finished("rnn", other) is None
