"""core.tasks.synthetic: the adding, temporal-order and copy generators, the task shape, runs, horizon, explosion."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlab.core.__main__ import main
from rnnlab.core.analysis.gradients import load_gradients
from rnnlab.core.analysis.horizon import explosion_configs, explosion_summary, horizon_rows
from rnnlab.core.config import HorizonConfig, preset
from rnnlab.core.jobs.lifecycle import run_now
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.tasks.synthetic import (
    ADDING_MEAN_PREDICTOR_MSE,
    COPY_INPUTS,
    ORDER_SYMBOLS,
    adding_problem,
    copy_task,
    prepare_synthetic,
    task_metrics,
    temporal_order,
)
from rnnlab.core.training.trainer import Objective

GENERATORS = {"adding": adding_problem, "order": temporal_order, "copy": copy_task}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("task", ["adding", "order", "copy"])
def test_generators_are_deterministic_given_the_seed(task):
    a, b, c = (GENERATORS[task](32, 20, gen(s)) for s in (1, 1, 2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("seq_len", [2, 3, 10, 51])
def test_adding_problem_marks_one_value_in_each_half_and_sums_them(seq_len):
    x, y = adding_problem(200, seq_len, gen(0))
    assert x.shape == (200, seq_len, 2) and y.shape == (200,) and x.dtype == y.dtype == torch.float32
    values, marks = x[..., 0], x[..., 1]
    assert torch.all((values >= 0) & (values < 1))
    assert torch.all(marks.sum(dim=1) == 2) and set(marks.unique().tolist()) <= {0.0, 1.0}
    half = seq_len // 2
    assert torch.all(marks[:, :half].sum(dim=1) == 1) and torch.all(marks[:, half:].sum(dim=1) == 1)
    torch.testing.assert_close(y, (values * marks).sum(dim=1))


def test_predicting_the_mean_on_the_adding_problem_scores_about_one_sixth():
    _, y = adding_problem(20000, 30, gen(3))
    mse = float(((y - 1.0) ** 2).mean())  # the mean target is 1
    assert ADDING_MEAN_PREDICTOR_MSE == pytest.approx(0.167, abs=1e-3)
    assert mse == pytest.approx(ADDING_MEAN_PREDICTOR_MSE, abs=0.005)
    assert task_metrics("adding", np.ones(len(y)), y.numpy())["success"] is False


@pytest.mark.parametrize("seq_len", [5, 12, 300])
def test_the_copy_task_shows_three_symbols_then_blanks_then_asks_for_them_back(seq_len):
    x, y = copy_task(500, seq_len, gen(4))
    assert x.shape == (500, seq_len, len(COPY_INPUTS)) and y.dtype == torch.int64
    assert torch.all(x.sum(dim=-1) == 1)  # one-hot
    sym = x.argmax(dim=-1)
    blank, recall = COPY_INPUTS.index("_"), COPY_INPUTS.index(":")
    assert torch.all(sym[:, :3] < 4) and torch.all(sym[:, 3:-1] == blank) and torch.all(sym[:, -1] == recall)
    # the class spells the three symbols in base 4, the first the most significant
    decoded = torch.stack([y // 16, y // 4 % 4, y % 4], dim=1)
    assert torch.equal(decoded, sym[:, :3])
    assert len(set(y.tolist())) > 60  # all 64 answers occur


def test_task_metrics_put_chance_at_one_over_the_tasks_classes():
    labels = np.arange(128) % 64
    logits = np.eye(64)[labels]
    assert task_metrics("copy", logits, labels)["chance_accuracy"] == pytest.approx(1 / 64)
    assert task_metrics("copy", logits, labels)["success"] is True
    assert task_metrics("order", np.eye(4)[labels % 4], labels % 4)["chance_accuracy"] == pytest.approx(0.25)


@pytest.mark.parametrize("seq_len", [6, 10, 50, 200])
def test_temporal_order_places_two_relevant_symbols_and_labels_their_order(seq_len):
    x, y = temporal_order(400, seq_len, gen(0))
    assert x.shape == (400, seq_len, len(ORDER_SYMBOLS)) and y.dtype == torch.int64
    assert torch.all(x.sum(dim=-1) == 1)  # one-hot
    sym = x.argmax(dim=-1)
    assert torch.all(sym[:, 0] == ORDER_SYMBOLS.index("B")) and torch.all(sym[:, -1] == ORDER_SYMBOLS.index("E"))
    relevant = (sym == ORDER_SYMBOLS.index("X")) | (sym == ORDER_SYMBOLS.index("Y"))
    assert torch.all(relevant.sum(dim=1) == 2)
    pos = relevant.nonzero()[:, 1].reshape(400, 2)  # (first, second) step of each sequence
    if seq_len >= 50:  # long enough for the windows to be the paper's [10%, 20%] and [50%, 60%]
        assert torch.all((pos[:, 0] >= 0.1 * seq_len - 1) & (pos[:, 0] <= 0.2 * seq_len))
        assert torch.all((pos[:, 1] >= 0.5 * seq_len - 1) & (pos[:, 1] <= 0.6 * seq_len))
    is_y = (sym.gather(1, pos) == ORDER_SYMBOLS.index("Y")).long()
    assert torch.equal(y, 2 * is_y[:, 0] + is_y[:, 1])  # XX 0, XY 1, YX 2, YY 3
    assert set(y.tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize(("task", "seq_len"), [("adding", 1), ("order", 5), ("copy", 4)])
def test_too_short_sequences_are_rejected(task, seq_len):
    with pytest.raises(ValueError, match="seq_len"):
        GENERATORS[task](4, seq_len, gen(0))


@pytest.mark.parametrize(("task", "inputs", "outputs", "objective"), [("adding", 2, 1, "mse"), ("order", 8, 4, "ce"),
                                                                          ("copy", 6, 64, "ce")])
def test_prepare_synthetic_gives_a_task_of_real_valued_sequences(task, inputs, outputs, objective):
    cfg = preset("seed", task=task, seq_len=12, train_steps=7, epochs=3, batch_size=5, probe_size=9)
    data = prepare_synthetic(cfg)
    assert data.model_cfg.input_size == inputs and data.model_cfg.output_size == outputs
    assert data.model_cfg.dropout == 0.0 and data.objective.name == objective and data.use_lengths is False
    epochs = [list(data.train_batches(e)) for e in range(3)]
    assert sum(len(e) for e in epochs) == 7 and [len(data.train_batches(e)) for e in range(3)] == [2, 2, 3]
    batch = epochs[0][0]
    assert batch.tokens.shape == (5, 12, inputs) and torch.all(batch.lengths == 12)
    again = next(iter(data.train_batches(0)))
    assert torch.equal(again.tokens, batch.tokens)  # an epoch is the same stream every time
    assert not torch.equal(epochs[1][0].tokens, batch.tokens)  # and the next epoch a new one
    val, test = next(iter(data.val_batches())), next(iter(data.test_batches()))
    assert not torch.equal(val.tokens, test.tokens)
    assert torch.equal(data.probe.tokens, val.tokens[:9])


def test_cross_entropy_objective_scores_classes_from_logits():
    out = torch.tensor([[2.0, 0.1, -1.0, 0.0], [0.0, 0.0, 3.0, 0.0], [1.0, 2.0, 0.0, 0.0]])
    y = torch.tensor([0, 2, 0])
    obj = Objective("ce")
    assert float(obj.loss(out, y)) == pytest.approx(float(F.cross_entropy(out, y)))
    torch.testing.assert_close(obj.loss(out, y, reduction="none"), F.cross_entropy(out, y, reduction="none"))
    assert obj.correct(out, y) == 2 and obj.classifies
    assert Objective("bce").loss(torch.zeros(2), torch.ones(2), reduction="none").shape == (2,)
    with pytest.raises(ValueError):
        Objective("hinge")


def test_task_metrics_apply_the_success_criteria():
    y = np.array([1.0, 0.5, 1.5])
    assert task_metrics("adding", y + 0.1, y)["success"] is True  # MSE 0.01 < 0.04
    assert task_metrics("adding", y + 0.3, y)["success"] is False  # MSE 0.09
    labels = np.arange(20) % 4
    logits = np.eye(4)[labels]
    assert task_metrics("order", logits, labels)["success"] is True
    logits[0] = np.eye(4)[(labels[0] + 1) % 4]  # 95% correct: still a success
    assert task_metrics("order", logits, labels)["accuracy"] == pytest.approx(0.95)
    assert task_metrics("order", logits, labels)["success"] is True
    logits[1] = np.eye(4)[(labels[1] + 1) % 4]
    assert task_metrics("order", logits, labels)["success"] is False


@pytest.mark.parametrize(("task", "metric"), [("adding", "mse"), ("order", "accuracy"), ("copy", "accuracy")])
def test_a_synthetic_run_stores_its_task_metrics_and_gradients(task, metric, tmp_path):
    cfg = preset("seed", cell="gru", task=task, seq_len=10, train_steps=6, epochs=2, record_gradients=True,
                 probe_every=2, probe_size=8)
    store = RunStore(tmp_path / "runs")
    run = run_now("rnn", cfg, store)
    assert run.status()["state"] == "finished"
    tm = run.test_metrics()
    assert metric in tm and isinstance(tm["success"], bool) and tm["n"] == 2000 and tm["steps"] == 6
    rec = load_gradients(run.file("gradients.npz"))
    assert rec.step.tolist() == [0, 2, 3, 4, 6] and rec["dh"].shape[-2:] == (8, 10)
    if task != "adding":
        assert all("val_accuracy" in e for e in run.metrics("epoch"))


def test_memory_horizon_trains_every_model_at_every_length_and_stores_the_table(tmp_path):
    settings = HorizonConfig(task="order", models=("rnn", "gru"), lengths=(6, 8), steps=60, evals=6, probe_size=8)
    run = run_now("memory-horizon", settings, RunStore(tmp_path / "runs"))
    rows = horizon_rows(run)
    assert [(r["model"], r["seq_len"]) for r in rows] == [("rnn", 6), ("gru", 6), ("rnn", 8), ("gru", 8)]
    stored = json.loads(run.file("results.json").read_text())
    assert stored["settings"]["models"] == ["rnn", "gru"] and len(stored["rows"]) == 4
    assert run.file("results.csv").read_text().splitlines()[0].startswith("task,model,seq_len,success")
    assert run.kind == "memory-horizon" and run.status()["state"] == "finished"
    for r in rows:
        assert load_gradients(r["gradients"]).kind[0] == "init"
        if r["steps_to_success"] is not None:  # stopped at the first successful evaluation
            assert r["steps"] == r["steps_to_success"] and r["history"][-1]["val_metric"] >= 0.95
        else:
            assert r["steps"] == 60
    assert any(r["success"] for r in rows)  # T = 6 temporal order is learnt within 60 steps


def test_memory_horizon_full_budget_keeps_training_after_success(tmp_path):
    settings = HorizonConfig(task="order", models=("gru",), lengths=(6,), steps=60, evals=6, stop_on_success=False,
                               record_gradients=False)
    rows = horizon_rows(run_now("memory-horizon", settings, RunStore(tmp_path / "runs")))
    assert rows[0]["steps"] == 60 and rows[0]["steps_to_success"] is not None and rows[0]["gradients"] is None


@pytest.mark.parametrize("bad", [{"models": ("tcn",)}, {"lengths": (4,), "task": "order"}, {"task": "echo"},
                                 {"lengths": (4,), "task": "copy"}, {"steps": 0}])
def test_memory_horizon_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        HorizonConfig(**bad)


class _AppliedSteps:
    """Trainer callback: the norm of the change each optimiser step actually made to the weights."""

    def on_train_start(self, trainer):
        self.before = [p.detach().clone() for p in trainer.model.parameters()]
        self.norms: list[float] = []

    def on_batch_end(self, trainer, rec):
        after = [p.detach().clone() for p in trainer.model.parameters()]
        self.norms.append(float(torch.cat([(a - b).flatten() for a, b in zip(after, self.before, strict=True)]).norm()))
        self.before = after


def test_explosion_configs_explode_unclipped_and_clipping_bounds_every_applied_step(tmp_path):
    # what explosion_configs' docstring argues holds by construction, with its margins
    from rnnlab.core.jobs.lifecycle import run_now

    configs = explosion_configs(steps=60)
    assert set(configs) == {"exploding", "clipped", "reference"}
    assert all(c.model.cell == "rnn" and c.train.optimizer == "sgd" for c in configs.values())
    assert configs["exploding"].model.recurrent_init_radius > 1 and configs["exploding"].train.clip_norm is None
    assert configs["clipped"].train.clip_norm == 1.0 and configs["reference"].model.recurrent_init_radius is None
    store = RunStore(tmp_path / "runs")
    summary, applied, records = {}, {}, {}
    for name, cfg in configs.items():
        watch = _AppliedSteps()
        run = run_now("rnn", cfg, store, say=lambda msg: None, options={"extra_callbacks": [watch]})
        summary[name], applied[name], records[name] = explosion_summary(run), watch.norms, run.metrics("step")
        assert summary[name]["status"] == "finished" and summary[name]["steps"] == len(applied[name]) == 60
    lr, clip = configs["clipped"].train.lr, configs["clipped"].train.clip_norm
    boom, tamed, ref = summary["exploding"], summary["clipped"], summary["reference"]

    # the gradient through 50 steps of the radius-4 recurrence, recorded before any clipping
    assert min(boom["grad_norm_first"], tamed["grad_norm_first"]) >= 1e4 * ref["grad_norm_max"]
    assert ref["skipped_non_finite"] == ref["clipped"] == 0
    # unclipped, the first step is the gradient itself: it throws the weights out, the loss overflows
    assert applied["exploding"][0] == pytest.approx(lr * boom["grad_norm_first"], rel=1e-3)
    assert boom["skipped_non_finite"] > 0 and boom["first_non_finite_step"] > 0 and boom["clipped"] == 0
    assert all(step == 0.0 for step, r in zip(applied["exploding"], records["exploding"], strict=True) if r["skipped"])

    # clipped: the same explosion is measured, every applied step is cut to lr * clip, none is lost
    assert tamed["skipped_non_finite"] == 0 and tamed["clipped"] > 0
    assert all(r["clipped"] == (r["grad_norm"] > clip) for r in records["clipped"])
    assert max(applied["clipped"]) <= lr * clip * (1 + 1e-3)
    assert max(applied["clipped"]) == pytest.approx(lr * clip, rel=1e-3)
    assert tamed["largest_update"] == pytest.approx(lr * clip) and boom["largest_update"] >= 1e4 * lr * clip
    assert np.isfinite(tamed["final_val_loss"]) and np.isfinite(tamed["test_mse"])


def test_cli_memory_horizon_prints_json_and_explode_runs(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    assert main(["memory-horizon", "--task", "adding", "--models", "rnn", "--lengths", "5", "--steps", "4",
                 "--evals", "2", "--no-gradients", "--json", "--runs-dir", runs]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"][0]["model"] == "rnn" and out["rows"][0]["steps"] == 4 and "history" not in out["rows"][0]
    assert main(["explode", "--configs", "clipped", "--steps", "3", "--seq-len", "20", "--radius", "4", "--json",
                 "--runs-dir", runs]) == 0
    summary = json.loads(capsys.readouterr().out)["clipped"]
    assert summary["steps"] == 3 and summary["clipped"] == 3
    assert main(["explode", "--configs", "nope", "--runs-dir", runs]) == 1
    capsys.readouterr()
    assert main(["train", "--task", "order", "--model", "gru", "--seq-len", "8", "--train-steps", "4", "--epochs", "1",
                 "--runs-dir", runs]) == 0
    assert "test accuracy" in capsys.readouterr().err


def test_memory_horizon_settings_reach_each_runs_config():
    cfg = HorizonConfig(task="order", steps=300, evals=7, lr=3e-3, tbptt=5, hidden_size=8).run_config("lstm", 40)
    t = cfg.train
    assert (cfg.model.cell, t.task, t.seq_len, t.train_steps, t.epochs, t.lr, t.tbptt) == ("lstm", "order", 40, 300, 7,
                                                                                          3e-3, 5)
    assert cfg.model.hidden_size == 8
