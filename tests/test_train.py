"""The trainer: learning, clipping records, skipped non-finite steps, seeding, metrics, callbacks."""

import math

import numpy as np
import pytest
import torch

from rnnlab.core.config import ModelConfig, TrainConfig
from rnnlab.core.data.batching import Batch
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.training.trainer import Objective, Trainer, classification_metrics, param_groups


def toy_batches(n: int = 120, batch: int = 20, seed: int = 0):
    """Label 1 reviews contain token 2, label 0 reviews token 3, amid random noise tokens."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, 20, (n, 8), generator=g)
    y = (torch.rand(n, generator=g) > 0.5).float()
    x[:, 6] = torch.where(y > 0, 2, 3)
    return [Batch(x[i:i + batch], torch.full((len(x[i:i + batch]),), 8), y[i:i + batch], torch.arange(i, i + batch))
            for i in range(0, n, batch)]


def make_trainer(cell="gru", callbacks=(), **train):
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(cell=cell, vocab_size=20, embedding_dim=8, hidden_size=8, dropout=0.0))
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 20, "lr": 1e-2, **train})
    data = toy_batches()
    return Trainer(model, cfg, lambda epoch: data[:4], lambda: data[4:], callbacks=callbacks)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_training_learns_a_separable_toy_task(cell):
    result = make_trainer(cell, epochs=10).fit()
    assert result.epochs[-1]["val_accuracy"] > 0.9
    assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"]


def test_best_checkpoint_is_chosen_by_validation_loss_and_restored():
    tr = make_trainer(epochs=4)
    result = tr.fit()
    losses = [e["val_loss"] for e in result.epochs]
    assert result.best_epoch == int(np.argmin(losses))
    assert tr.evaluate(tr.val_batches())["loss"] == pytest.approx(min(losses), rel=1e-5)


def test_every_step_records_the_unclipped_norm_and_whether_it_was_clipped():
    records = []

    class Grab:
        def on_batch_end(self, trainer, rec):
            records.append(rec)

    make_trainer(callbacks=[Grab()], clip_norm=1e-3, epochs=1).fit()
    assert len(records) == 4
    for rec in records:
        assert rec["grad_norm"] > 1e-3 and rec["clipped"] and not rec["skipped"]
        assert set(rec["norms"]) == {"embedding", "input_hidden", "hidden_hidden", "output"}
        # the global norm is the norm of the group norms
        assert rec["grad_norm"] == pytest.approx(math.sqrt(sum(v ** 2 for v in rec["norms"].values())), rel=1e-4)


def test_a_non_finite_loss_skips_the_step_without_crashing():
    tr = make_trainer(epochs=1)
    real_forward = tr.forward
    calls = {"n": 0}

    def sometimes_nan(batch):
        calls["n"] += 1
        out = real_forward(batch)
        return out * float("nan") if calls["n"] == 2 else out

    tr.forward = sometimes_nan
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    result = tr.fit()
    assert result.skipped_steps == 1 and result.steps == 4
    assert all(torch.isfinite(v).all() for v in tr.model.state_dict().values())
    assert any(not torch.equal(before[k], v) for k, v in tr.model.state_dict().items())


def test_a_non_finite_gradient_skips_the_step():
    tr = make_trainer(epochs=1)
    tr.model.fc.weight.register_hook(lambda g: g * float("inf"))
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    result = tr.fit()
    assert result.skipped_steps == 4
    assert all(torch.equal(before[k], v) for k, v in tr.model.state_dict().items())


def test_training_is_reproducible_on_the_cpu():
    a, b = make_trainer(epochs=2), make_trainer(epochs=2)
    a.fit()
    b.fit()
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_a_callback_can_stop_training():
    class StopAfterTwo:
        def on_batch_end(self, trainer, rec):
            if trainer.step >= 2:
                trainer.stop_requested = True

    result = make_trainer(callbacks=[StopAfterTwo()], epochs=5).fit()
    assert result.stopped and result.steps == 2 and len(result.epochs) == 1


@pytest.mark.parametrize("cell", ["lstm", "mingru", "lru"])
def test_param_groups_cover_every_parameter_once_and_put_the_recurrent_layers_by_what_they_read(cell):
    model = SentimentRNN(ModelConfig(cell=cell, vocab_size=10, num_layers=2, bidirectional=True))
    groups = param_groups(model)
    grouped = [p for ps in groups.values() for p in ps]
    assert len(grouped) == len(list(model.parameters()))
    assert len({id(p) for p in grouped}) == len(grouped)
    names = {id(p): n for n, p in model.named_parameters()}
    by_group = {g: sorted(names[id(p)].split(".")[-1] for p in ps) for g, ps in groups.items()}
    assert by_group["output"] == ["bias", "weight"]  # the linear read-out alone
    reads_state = {"lstm": {"weight_hh_l0", "bias_hh_l0", "weight_hh_l0_reverse", "bias_hh_l0_reverse",
                            "weight_hh_l1", "bias_hh_l1", "weight_hh_l1_reverse", "bias_hh_l1_reverse"},
                   "mingru": set(),  # every weight reads x_t alone
                   "lru": {"nu_log", "theta_log", "C_re", "C_im"}}[cell]
    assert set(by_group["hidden_hidden"]) == reads_state


def test_classification_metrics_match_hand_counts():
    logits = np.array([2.0, -1.0, 0.5, -3.0, 1.0, -0.2])
    labels = np.array([1, 0, 0, 0, 1, 1], dtype=np.float32)
    m = classification_metrics(logits, labels)
    # predictions 1,0,1,0,1,0: TP=2 FP=1 TN=2 FN=1
    assert m["confusion_matrix"] == [[2, 1], [1, 2]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert 0.5 < m["roc_auc"] <= 1.0 and m["roc"]["fpr"][0] == 0.0


def test_mse_objective_has_no_accuracy():
    obj = Objective("mse")
    assert obj.correct(torch.zeros(3), torch.ones(3)) is None
    assert float(obj.loss(torch.zeros(3), torch.ones(3))) == pytest.approx(1.0)


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_learning_rate_schedules_start_at_the_configured_rate_and_fall_as_named(schedule):
    from rnnlab.core.training.trainer import lr_factor
    total = 10
    f = [lr_factor(schedule, s, total) for s in range(total)]
    assert f[0] == 1.0
    if schedule == "constant":
        assert set(f) == {1.0}
    else:
        assert all(a > b > 0 for a, b in zip(f, f[1:], strict=False))
        # linear halves at the middle step; cosine too, by symmetry
        assert lr_factor(schedule, total // 2, total) == pytest.approx(0.5)
        assert f[-1] == pytest.approx(0.1 if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * 0.9)))
    with pytest.raises(ValueError, match="unknown"):
        lr_factor("step", 1, total)

