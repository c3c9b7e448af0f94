"""Checkpoints every epoch and resuming from them: bit for bit on the CPU, safetensors only, validated."""

from __future__ import annotations

import pickle
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from rnnlab.core.analysis.gradients import GradientRecorder
from rnnlab.core.config import ModelConfig, RunConfig, TrainConfig
from rnnlab.core.data.batching import Batch
from rnnlab.core.models.checkpoint import (
    CheckpointError,
    TrainingState,
    load_training_state,
    read_weights,
    save_training_state,
    save_weights,
)
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.tasks import prepare_task
from rnnlab.core.training.checkpointing import BEST, LAST, Checkpointer, resume_point
from rnnlab.core.training.trainer import Trainer, TrainResult

pytestmark = pytest.mark.usefixtures("one_thread")

CELLS = ("rnn", "lstm", "gru")
TIMINGS = ("epoch_time_s", "samples_per_s", "wall_time")  # the only fields of an epoch record that may differ
STEPS_PER_EPOCH = 4


# ---------------------------------------------------------------------------------- toy runs

def token_batches(n: int = 60, batch: int = 10, seed: int = 0) -> list[Batch]:
    """Label 1 sequences hold token 2, label 0 ones token 3, amid noise tokens."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, 20, (n, 8), generator=g)
    y = (torch.rand(n, generator=g) > 0.5).float()
    x[:, 5] = torch.where(y > 0, 2, 3)
    return [Batch(x[i:i + batch], torch.full((batch,), 8), y[i:i + batch], torch.arange(i, i + batch))
            for i in range(0, n, batch)]


def probe() -> Batch:
    lengths = torch.tensor([8, 5, 3, 7])
    tokens = torch.randint(4, 20, (4, 8), generator=torch.Generator().manual_seed(1))
    tokens[torch.arange(8)[None, :] >= lengths[:, None]] = 1
    return Batch(tokens, lengths, torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.arange(4))


def make_trainer(cell: str, callbacks=(), *, epochs: int = 4, init_seed: int = 0, embedding_dropout: float = 0.0,
                 **train_options) -> Trainer:
    """Two stacked layers with dropout between and after them: every training step draws from the global RNG."""
    torch.manual_seed(init_seed)
    model = SentimentRNN(ModelConfig(cell=cell, vocab_size=20, embedding_dim=6, hidden_size=5, num_layers=2,
                                     dropout=0.3, embedding_dropout=embedding_dropout))
    data = token_batches()

    def train_batches(epoch: int) -> list[Batch]:  # shuffled, seeded by the epoch as the real tasks are
        order = torch.randperm(STEPS_PER_EPOCH, generator=torch.Generator().manual_seed(epoch))
        return [data[i] for i in order.tolist()]

    cfg = TrainConfig(epochs=epochs, batch_size=10, lr=1e-2, **train_options)
    return Trainer(model, cfg, train_batches, lambda: data[STEPS_PER_EPOCH:], callbacks=callbacks,
                   steps_per_epoch=STEPS_PER_EPOCH)


class Crash(Exception):
    """Stands for ``kill -9``: nothing of the run after it happens."""


class CrashAtStep:
    def __init__(self, step: int):
        self.step = step

    def on_batch_end(self, trainer: Trainer, rec: dict) -> None:
        if trainer.step == self.step:
            raise Crash


class CrashAfterCheckpoint(Checkpointer):
    """Dies right after writing the checkpoint of epoch ``epoch``, before later callbacks see that epoch's end."""

    def __init__(self, folder: Path, epoch: int):
        super().__init__(folder)
        self.epoch = epoch

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        super().on_epoch_end(trainer, record)
        if trainer.epoch == self.epoch:
            raise Crash


def resume(trainer: Trainer, folder: Path) -> TrainResult:
    trainer.load_state_dict(load_training_state(folder / LAST))
    return trainer.fit()


def scripted_val_losses(trainer: Trainer, losses: list[float]) -> None:
    """Validation losses chosen by the test, so which epoch is best is known."""
    trainer.evaluate = lambda batches: {"loss": losses[trainer.epoch]}


# ---------------------------------------------------------------------------------- comparisons

def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


def assert_same_optimizer(a: dict, b: dict) -> None:
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for index in a["state"]:
        assert_same_tensors(a["state"][index], b["state"][index])


def without_timings(epochs: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in TIMINGS} for e in epochs]


def assert_same_result(a: TrainResult, b: TrainResult) -> None:
    assert without_timings(a.epochs) == without_timings(b.epochs)
    for k in ("best_epoch", "best_val_loss", "samples_seen", "steps", "skipped_steps", "stopped"):
        assert getattr(a, k) == getattr(b, k), k
    assert_same_tensors(a.best_state, b.best_state)


def assert_same_state(a: TrainingState, b: TrainingState) -> None:
    assert (a.epoch, a.step) == (b.epoch, b.step)
    assert_same_tensors(a.model, b.model)
    assert_same_tensors(a.best_model, b.best_model)
    assert_same_optimizer(a.optimizer, b.optimizer)
    assert torch.equal(a.torch_rng, b.torch_rng)
    assert a.numpy_rng == b.numpy_rng and a.python_rng == b.python_rng
    assert without_timings(a.result["epochs"]) == without_timings(b.result["epochs"])
    assert {k: v for k, v in a.result.items() if k not in ("epochs", "train_time_s")} == \
        {k: v for k, v in b.result.items() if k not in ("epochs", "train_time_s")}


def assert_same_gradients(a: Path, b: Path) -> None:
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        assert sorted(za.files) == sorted(zb.files)
        for k in za.files:
            if k != "seconds":  # how long each recording took
                np.testing.assert_array_equal(za[k], zb[k], err_msg=k, strict=True)


# ---------------------------------------------------------------------------------- resuming

@pytest.mark.parametrize("cell", CELLS)
def test_a_run_killed_mid_epoch_resumes_to_exactly_the_uninterrupted_run(cell, tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"

    def callbacks(folder: Path) -> list:
        # every 3 steps: a recording at step 9, after the checkpoint at step 8, which the resume drops
        return [GradientRecorder(folder / "gradients.npz", probe(), every=3), Checkpointer(folder / "ckpt")]

    uninterrupted = make_trainer(cell, callbacks(whole))
    expected = uninterrupted.fit()

    with pytest.raises(Crash):
        make_trainer(cell, [*callbacks(cut), CrashAtStep(2 * STEPS_PER_EPOCH + 2)]).fit()
    point = resume_point(cut / "ckpt")
    assert (point.epoch, point.step) == (1, 2 * STEPS_PER_EPOCH)

    resumed = make_trainer(cell, callbacks(cut), init_seed=123)  # other initial weights, then the checkpoint's
    result = resume(resumed, cut / "ckpt")

    assert len(result.epochs) == 4 and result.steps == 4 * STEPS_PER_EPOCH
    assert_same_result(expected, result)
    assert_same_tensors(uninterrupted.model.state_dict(), resumed.model.state_dict())
    assert_same_optimizer(uninterrupted.optimizer.state_dict(), resumed.optimizer.state_dict())
    # the last states: the weights of the last epoch (not the best ones), the moments, the RNG streams
    assert_same_state(load_training_state(whole / "ckpt" / LAST), load_training_state(cut / "ckpt" / LAST))
    assert_same_gradients(whole / "gradients.npz", cut / "gradients.npz")


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_a_decaying_learning_rate_with_regularisation_resumes_bit_for_bit(schedule, tmp_path):
    # the schedule is a function of the step, so the resumed run must land on the same curve
    options = dict(embedding_dropout=0.2, lr_schedule=schedule, weight_decay=1e-3, embedding_lr_scale=0.3)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    lrs: list[float] = []
    uninterrupted = make_trainer("gru", [Checkpointer(whole), Recorder(lrs)], **options)
    expected = uninterrupted.fit()
    with pytest.raises(Crash):
        make_trainer("gru", [Checkpointer(cut), CrashAtStep(2 * STEPS_PER_EPOCH + 1)], **options).fit()
    resumed = make_trainer("gru", [Checkpointer(cut)], init_seed=5, **options)
    assert_same_result(expected, resume(resumed, cut))
    assert_same_tensors(uninterrupted.model.state_dict(), resumed.model.state_dict())
    assert_same_optimizer(uninterrupted.optimizer.state_dict(), resumed.optimizer.state_dict())
    # the rate falls at every step from the configured one, and ends near zero
    total = 4 * STEPS_PER_EPOCH
    assert len(lrs) == total and lrs[0] == pytest.approx(1e-2)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False)) and lrs[-1] < 1e-2 / total + 1e-12
    # and each option changes the training (none is ignored)
    plain = make_trainer("gru").fit()
    for name in options:
        one = make_trainer("gru", **{name: options[name]}).fit()
        assert one.epochs[-1]["train_loss"] != plain.epochs[-1]["train_loss"], name


class Recorder:
    def __init__(self, lrs: list[float]):
        self.lrs = lrs

    def on_batch_end(self, trainer: Trainer, rec: dict) -> None:
        self.lrs.append(rec["lr"])


def test_a_schedule_without_the_run_length_is_refused():
    with pytest.raises(ValueError, match="steps_per_epoch"):
        Trainer(SentimentRNN(ModelConfig(vocab_size=20)), TrainConfig(lr_schedule="cosine"), lambda e: [], list)


@pytest.mark.parametrize(("every", "cell"), [(3, "lstm"), (4, "lstm"), (3, "lru")])
def test_the_gradient_file_resumes_even_when_the_kill_came_before_its_epoch_end(every, cell, tmp_path):
    # every=4: the recording at step 8 must still become the epoch's; every=3: the epoch's end must be recorded;
    # the LRU: its eigenvalues, kept with each recording, are continued too
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    make_trainer(cell, [Checkpointer(whole), GradientRecorder(whole / "g.npz", probe(), every=every)]).fit()
    with pytest.raises(Crash):
        make_trainer(cell, [CrashAfterCheckpoint(cut, epoch=1),
                            GradientRecorder(cut / "g.npz", probe(), every=every)]).fit()
    resume(make_trainer(cell, [Checkpointer(cut), GradientRecorder(cut / "g.npz", probe(), every=every)]), cut)
    assert_same_gradients(whole / "g.npz", cut / "g.npz")
    if cell == "lru":
        with np.load(cut / "g.npz") as z:
            assert z["eig_modulus"].shape[0] == z["step"].shape[0]


@pytest.mark.parametrize(("task", "cell"), [("adding", "rnn"), ("order", "gru")])
def test_a_synthetic_task_with_dropout_resumes_bit_for_bit(task, cell, tmp_path):
    cfg = RunConfig(model=ModelConfig(cell=cell, hidden_size=6),
                    train=TrainConfig(task=task, seq_len=8, train_steps=9, epochs=3, batch_size=16, lr=1e-2))
    data = prepare_task(cfg)
    # the task turns dropout off, as the original experiments did; on here, so the global RNG matters
    model_cfg = replace(data.model_cfg, num_layers=2, dropout=0.25)

    def trainer(folder: Path, init_seed: int, extra=()) -> Trainer:
        torch.manual_seed(init_seed)
        return Trainer(SentimentRNN(model_cfg), cfg.train, data.train_batches, data.val_batches,
                       objective=data.objective, callbacks=[Checkpointer(folder), *extra])

    uninterrupted = trainer(tmp_path / "whole", 0)
    expected = uninterrupted.fit()
    with pytest.raises(Crash):
        trainer(tmp_path / "cut", 0, [CrashAtStep(7)]).fit()  # epochs of 3 steps: killed in the third
    resumed = trainer(tmp_path / "cut", 7)
    result = resume(resumed, tmp_path / "cut")
    assert_same_result(expected, result)
    assert_same_tensors(uninterrupted.model.state_dict(), resumed.model.state_dict())
    assert_same_state(load_training_state(tmp_path / "whole" / LAST), load_training_state(tmp_path / "cut" / LAST))


def test_loading_a_state_restores_every_global_rng():
    trainer = make_trainer("gru")
    state = trainer.state_dict()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    trainer.load_state_dict(state)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1]) and expected[2] == got[2]


def test_a_state_survives_the_file_unchanged(tmp_path):
    trainer = make_trainer("lstm", epochs=2)
    trainer.fit()
    state = trainer.state_dict()
    state.result["epochs"][0]["val_loss"] = float("nan")  # non-finite numbers survive the JSON header
    state.result["best_val_loss"] = float("inf")
    save_training_state(tmp_path / "s.safetensors", state)
    back = load_training_state(tmp_path / "s.safetensors")
    assert np.isnan(back.result["epochs"][0]["val_loss"]) and back.result["best_val_loss"] == np.inf
    back.result["epochs"][0]["val_loss"] = state.result["epochs"][0]["val_loss"] = None  # NaN != NaN
    assert_same_state(state, back)
    assert back.result["train_time_s"] == state.result["train_time_s"]
    assert [p.name for p in tmp_path.iterdir()] == ["s.safetensors"]  # no temporary file left behind


def test_a_checkpoint_whose_header_length_starts_like_a_pickle_still_loads(tmp_path):
    # the first byte of a safetensors file is its header length's lowest: 0x80 for 1 header size in 32
    trainer = make_trainer("rnn", epochs=1)
    trainer.fit()
    state, path = trainer.state_dict(), tmp_path / "s.safetensors"
    for n in range(300):
        state.result["epochs"][0]["note"] = "x" * n  # the header grows a byte at a time
        save_training_state(path, state)
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    assert load_training_state(path).result["epochs"][0]["note"] == "x" * n
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:len(data) // 2])  # damaged, it is still no pickle
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_training_state(tmp_path / "cut.safetensors")
    # and so do plain weights (model.safetensors)
    for n in range(300):
        save_file(state.model, str(path), metadata={"pad": "x" * n})
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    assert_same_tensors(read_weights(path), state.model)


def test_a_restored_trainer_starts_at_the_next_epoch(tmp_path):
    first = make_trainer("rnn", [Checkpointer(tmp_path)], epochs=2)
    first.fit()
    epochs_seen = []

    class Watch:
        def on_batch_end(self, trainer, rec):
            epochs_seen.append(rec["epoch"])

    later = make_trainer("rnn", [Watch()], epochs=3)
    result = resume(later, tmp_path)
    assert epochs_seen == [2] * STEPS_PER_EPOCH
    assert [e["epoch"] for e in result.epochs] == [0, 1, 2] and later.step == 3 * STEPS_PER_EPOCH


def test_a_state_of_another_model_is_refused():
    state = make_trainer("gru").state_dict()
    with pytest.raises(CheckpointError, match="do not fit"):
        make_trainer("lstm").load_state_dict(state)


# ---------------------------------------------------------------------------------- last and best

class Snapshots:
    """The weights at every epoch's end, by epoch."""

    def __init__(self):
        self.weights: dict[int, dict[str, torch.Tensor]] = {}

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        self.weights[trainer.epoch] = {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_best_holds_the_best_epochs_weights_and_last_the_latest(tmp_path):
    snaps = Snapshots()
    trainer = make_trainer("gru", [snaps, Checkpointer(tmp_path)], epochs=4)
    scripted_val_losses(trainer, [0.5, 0.3, 0.4, 0.35])
    result = trainer.fit()
    best, last = load_training_state(tmp_path / BEST), load_training_state(tmp_path / LAST)
    assert result.best_epoch == best.epoch == 1 and last.epoch == 3
    assert_same_tensors(best.model, snaps.weights[1])
    assert_same_tensors(last.model, snaps.weights[3])
    assert_same_tensors(last.best_model, snaps.weights[1])
    assert not torch.equal(snaps.weights[1]["fc.weight"], snaps.weights[3]["fc.weight"])
    assert_same_tensors(trainer.model.state_dict(), snaps.weights[1])  # the trainer still ends on the best weights


def test_an_epoch_cut_short_by_a_stop_request_is_not_checkpointed(tmp_path):
    class StopAtStep:
        def on_batch_end(self, trainer, rec):
            if trainer.step == STEPS_PER_EPOCH + 2:
                trainer.stop_requested = True

    snaps = Snapshots()
    trainer = make_trainer("lstm", [snaps, Checkpointer(tmp_path), StopAtStep()])
    scripted_val_losses(trainer, [0.5, 0.1])  # the cut epoch would be the best: still not saved
    result = trainer.fit()
    assert result.stopped and len(result.epochs) == 2
    point = resume_point(tmp_path)
    assert (point.epoch, point.step) == (0, STEPS_PER_EPOCH)
    assert load_training_state(tmp_path / BEST).epoch == 0
    assert_same_tensors(load_training_state(tmp_path / LAST).model, snaps.weights[0])


def test_a_stop_requested_at_a_complete_epochs_end_is_checkpointed(tmp_path):
    class StopAtEpochEnd:  # as a run's writer does when it reads a cancel request at an epoch's end
        def on_epoch_end(self, trainer, rec):
            if trainer.epoch == 1:
                trainer.stop_requested = True

    result = make_trainer("rnn", [StopAtEpochEnd(), Checkpointer(tmp_path)]).fit()
    assert result.stopped
    point = resume_point(tmp_path)
    assert (point.epoch, point.step) == (1, 2 * STEPS_PER_EPOCH)


def test_a_folder_without_a_checkpoint_has_no_resume_point(tmp_path):
    assert resume_point(tmp_path) is None


# ---------------------------------------------------------------------------------- damaged and foreign files

@pytest.fixture
def saved_state(tmp_path: Path) -> Path:
    trainer = make_trainer("gru", [Checkpointer(tmp_path)], epochs=1)
    trainer.fit()
    return tmp_path / LAST


@pytest.mark.parametrize("keep", [0.5, 0.99, 100, 9, 3, 0])
def test_a_truncated_checkpoint_is_refused(saved_state, keep):
    data = saved_state.read_bytes()
    data = data[:int(len(data) * keep) if isinstance(keep, float) else keep]
    saved_state.write_bytes(data)
    # under 9 bytes the header length may start with 0x80, and the file reads as a pickle: refused too
    with pytest.raises(CheckpointError, match="not a valid safetensors" if len(data) >= 9 else None):
        load_training_state(saved_state)
    with pytest.raises(CheckpointError):
        resume_point(saved_state.parent)


def test_garbage_is_refused(tmp_path):
    path = tmp_path / LAST
    path.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_training_state(path)


def test_model_weights_are_not_a_training_state(tmp_path):
    path = tmp_path / "model.safetensors"
    save_weights(make_trainer("gru").model, path)
    with pytest.raises(CheckpointError, match="not an RNN Lab training state"):
        load_training_state(path)


def tampered(saved: Path, out: Path, **changes) -> Path:
    """``saved`` rewritten with some header fields changed (``None``: removed)."""
    import json

    from safetensors import safe_open

    with safe_open(str(saved), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    header = json.loads(meta["state"])
    for k, v in changes.items():
        if v is None:
            header.pop(k)
        else:
            header[k] = v
    save_file(tensors, str(out), metadata={**meta, "state": json.dumps(header)})
    return out


@pytest.mark.parametrize(("changes", "why"), [
    ({"version": 99}, "format version 99"),
    ({"epoch": -5}, "epoch"),
    ({"step": "7"}, "step"),
    ({"result": None}, "result"),
    ({"numpy_rng": [1, 2]}, "numpy"),
    ({"cuda_devices": 2}, "CUDA"),
])
def test_a_header_that_does_not_hang_together_is_refused(saved_state, tmp_path, changes, why):
    bad = tampered(saved_state, tmp_path / "bad.safetensors", **changes)
    with pytest.raises(CheckpointError, match=why):
        load_training_state(bad)


def test_a_header_that_is_not_json_is_refused(saved_state, tmp_path):
    from safetensors import safe_open

    with safe_open(str(saved_state), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={"format": "rnnlab.training_state", "state": "{"})
    with pytest.raises(CheckpointError, match="not JSON"):
        load_training_state(tmp_path / "bad.safetensors")


def test_a_torch_save_file_is_refused(saved_state):
    torch.save(make_trainer("gru").model.state_dict(), saved_state)
    with pytest.raises(CheckpointError, match="pickle"):
        load_training_state(saved_state)


class _Payload:
    """Unpickling this creates a file: the proof that nothing unpickled it."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (self.target.touch, ())


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_is_refused_without_being_unpickled(saved_state, tmp_path, protocol):
    canary = tmp_path / "unpickled"
    saved_state.write_bytes(pickle.dumps(_Payload(canary), protocol=protocol))
    with pytest.raises(CheckpointError, match="pickle"):
        load_training_state(saved_state)
    with pytest.raises(CheckpointError, match="pickle"):
        resume_point(saved_state.parent)
    assert not canary.exists()
