"""The trainer: the seed report's loop, observable through callbacks.

Adam, a loss computed from logits (binary cross-entropy for sentiment), gradient-norm
clipping, ``train()``/``eval()`` modes, per-epoch train and validation loss and accuracy,
the best weights kept by validation loss. Every optimiser step records the global gradient
norm before clipping, whether it was clipped, and per-group norms (embedding, input-hidden,
hidden-hidden, output); a non-finite loss or gradient skips the step and is counted. Every step and
epoch record carries ``wall_time``, the Unix time it ended (the epoch's after its validation pass):
what a run's exports and live trackers plot against.

The whole training state (weights, best weights, optimiser, RNG states, the records so far) comes
out of :meth:`Trainer.state_dict` and goes back in with :meth:`Trainer.load_state_dict`; ``fit``
then continues with the next epoch and, on the CPU, ends with exactly the weights an
uninterrupted run ends with. Writing it to disk is ``core.training.checkpointing``'s job.

The trainer knows nothing about run folders, gradient recording or the dashboard: those
observe it through callbacks (minGPT style), see ``core.training.job`` and ``core.analysis.gradients``.
It is not the place for data loading either: it is handed functions that yield batches.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.core.config import TrainConfig
from rnnlab.core.models.checkpoint import RESULT_KEYS, CheckpointError, TrainingState


class BatchLike(Protocol):
    tokens: torch.Tensor  # (B, T) token ids, or (B, T, D) real-valued inputs
    lengths: torch.Tensor  # (B,)
    labels: torch.Tensor  # (B,) or (B, K)


@dataclass(frozen=True)
class Objective:
    """What is minimised and how a prediction is scored, per task."""

    # "bce" (binary classification from one logit), "mse" (regression) or "ce" (classes from (B, K) logits)
    name: str = "bce"

    def __post_init__(self) -> None:
        if self.name not in ("bce", "mse", "ce"):
            raise ValueError(f"unknown objective {self.name!r}; expected 'bce', 'mse' or 'ce'")

    @property
    def classifies(self) -> bool:
        """Whether predictions have an accuracy (bce, ce)."""
        return self.name != "mse"

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The batch mean (``reduction="none"``: one loss per example)."""
        if self.name == "bce":
            # from logits: log-sum-exp inside, no overflow for large |logit|
            return F.binary_cross_entropy_with_logits(out.float(), y.float(), reduction=reduction)
        if self.name == "ce":
            return F.cross_entropy(out.float(), y.long(), reduction=reduction)
        return F.mse_loss(out.float(), y.float(), reduction=reduction)

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> int | None:
        n = self.correct_count(out, y)
        return None if n is None else int(n)

    def correct_count(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Correct predictions as a 0-d tensor on ``out``'s device (no host synchronisation)."""
        if self.name == "bce":
            return ((out > 0).float() == y).sum()
        if self.name == "ce":
            return (out.argmax(dim=-1) == y.long()).sum()
        return None


def lr_factor(schedule: str, step: int, total: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based) of ``total``, as a fraction of the configured one.

    ``constant``: 1. ``linear``: from 1 down to ``1/total`` at the last step. ``cosine``: half a cosine
    from 1 to near 0 (``(1 + cos(pi * step / total)) / 2``). Neither reaches 0 within the run, so
    every step still learns.
    """
    if schedule == "constant":
        return 1.0
    frac = min(max(step, 0), total) / max(total, 1)
    if schedule == "linear":
        return 1.0 - frac
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * frac))
    raise ValueError(f"unknown lr_schedule {schedule!r}")


def param_groups(model: nn.Module) -> dict[str, list[torch.nn.Parameter]]:
    """Group parameters by role for per-group gradient norms: the embedding, the recurrent layer's weights that read
    the input and those that read the state (the cell says which: :meth:`~core.models.cells.Cell.reads_state`), and
    the output layer."""
    groups: dict[str, list[torch.nn.Parameter]] = {"embedding": [], "input_hidden": [], "hidden_hidden": [],
                                                   "output": []}
    cell = getattr(model, "cell_def", None)
    for name, p in model.named_parameters():
        if "embedding" in name:
            groups["embedding"].append(p)
        elif name.startswith("rnn.") and cell is not None:
            groups["hidden_hidden" if cell.reads_state(name.removeprefix("rnn.")) else "input_hidden"].append(p)
        elif "_ih" in name:
            groups["input_hidden"].append(p)
        elif "_hh" in name:
            groups["hidden_hidden"].append(p)
        else:
            groups["output"].append(p)
    return groups


def _group_norms(groups: dict[str, list[torch.nn.Parameter]]) -> dict[str, torch.Tensor]:
    """Gradient norm per group, as 0-d tensors (read them in one transfer, see ``_train_step``)."""
    out = {}
    for g, params in groups.items():
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            out[g] = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(x) for x in grads]))
    return out


@dataclass
class TrainResult:
    epochs: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    train_time_s: float = 0.0
    samples_seen: int = 0
    steps: int = 0
    skipped_steps: int = 0
    stopped: bool = False  # a callback asked to stop (cancel)


class Trainer:
    """Train ``model`` on batches from ``train_batches(epoch)``, select by ``val_batches()``.

    Callbacks are objects with any of ``on_train_start(trainer)``, ``on_batch_end(trainer,
    record)``, ``on_epoch_end(trainer, record)``, ``on_train_end(trainer, result)``; setting
    ``trainer.stop_requested = True`` ends training after the current step. During
    ``on_epoch_end``, ``trainer.epoch_complete`` says whether the epoch ran all its batches (False
    when a stop request cut it short) and ``trainer.epochs_done`` counts the complete epochs.
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig, train_batches: Callable[[int], Iterable[Any]],
                 val_batches: Callable[[], Iterable[Any]], *, objective: Objective | None = None,
                 device: torch.device | str = "cpu", callbacks: Iterable[Any] = (),
                 use_lengths: bool | None = None, steps_per_epoch: int | None = None):
        self.model = model.to(device)
        self.cfg = cfg
        self.device = torch.device(device)
        self.train_batches = train_batches
        self.val_batches = val_batches
        self.objective = objective or Objective()
        self.callbacks = list(callbacks)
        # fixed batches are front-padded and read at T-1; bucketed ones at each review's last token
        self.use_lengths = (cfg.batching == "bucket") if use_lengths is None else use_lengths
        self.steps_per_epoch = steps_per_epoch
        params: list[Any] = [p for p in model.parameters() if p.requires_grad]
        embedding = {id(p) for p in param_groups(model)["embedding"]}
        if cfg.embedding_lr_scale != 1.0 and any(id(p) in embedding for p in params):
            # two groups: the rest at lr, the word vectors at their share of it (a key of its own, which the
            # schedule reads; a run at the seed's 1.0 keeps the one group, and its optimiser state, as before)
            params = [{"params": [p for p in params if id(p) not in embedding]},
                      {"params": [p for p in params if id(p) in embedding], "lr": cfg.lr * cfg.embedding_lr_scale,
                       "lr_scale": cfg.embedding_lr_scale}]
        if cfg.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            # fused Adam: one pass over all parameters instead of several operators per tensor (on the CPU:
            # the Adam step of a `fast` IMDB LSTM went from 17 % of a training step to 4 %, by the torch profiler)
            self.optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                              fused=self.device.type in ("cuda", "cpu"))
        if cfg.lr_schedule != "constant" and steps_per_epoch is None:
            raise ValueError(f"lr_schedule {cfg.lr_schedule!r} needs steps_per_epoch (the run's length in steps)")
        self.groups = param_groups(model)
        self.step = 0
        self.epoch = 0
        self.epochs_done = 0  # complete epochs; fit() continues with epoch index epochs_done
        self.epoch_complete = False
        self.stop_requested = False
        self.result = TrainResult()

    # -- one batch ----------------------------------------------------------------------
    def forward(self, batch: Any) -> torch.Tensor:
        x = batch.tokens.to(self.device, non_blocking=True)
        lengths = batch.lengths.to(self.device) if self.use_lengths else None
        kwargs = {"tbptt": self.cfg.tbptt} if self.cfg.tbptt else {}
        if self.cfg.bf16 and self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                return self.model(x, lengths, **kwargs)
        return self.model(x, lengths, **kwargs)

    def _train_step(self, batch: Any) -> dict[str, Any]:
        self.model.train()
        y = batch.labels.to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        out = self.forward(batch)
        loss = self.objective.loss(out, y)
        rec: dict[str, Any] = {"kind": "step", "step": self.step, "epoch": self.epoch, "batch_size": len(y)}
        # a non-finite loss gives non-finite gradients, so the check below skips that step too
        loss.backward()
        norms = _group_norms(self.groups)
        params = [p for g in self.groups.values() for p in g if p.grad is not None]
        # clip_grad_norm_ returns the norm *before* clipping; inf max_norm measures without clipping
        max_norm = self.cfg.clip_norm if self.cfg.clip_norm else math.inf
        total = torch.nn.utils.clip_grad_norm_(params, max_norm)
        correct = self.objective.correct_count(out.detach(), y)
        # one device-to-host transfer per step: on a GPU each float() would wait for the device
        scalars = [loss.detach(), total, *norms.values()] + ([correct] if correct is not None else [])
        values = torch.stack([v.float().to(self.device) for v in scalars]).tolist()
        loss_v, total_v = values[0], values[1]
        if not math.isfinite(loss_v):
            self.optimizer.zero_grad(set_to_none=True)
            rec.update(loss=loss_v, grad_norm=None, clipped=False, skipped=True, reason="non-finite loss")
            return rec
        rec.update(loss=loss_v, grad_norm=total_v, norms=dict(zip(norms, values[2:2 + len(norms)], strict=True)))
        if not math.isfinite(total_v):
            self.optimizer.zero_grad(set_to_none=True)
            rec.update(clipped=False, skipped=True, reason="non-finite gradient")
            return rec
        rec.update(clipped=bool(self.cfg.clip_norm and total_v > self.cfg.clip_norm), skipped=False)
        if self.cfg.lr_schedule != "constant":
            # a function of the global step alone, so a resumed run continues the same curve
            lr = self.cfg.lr * lr_factor(self.cfg.lr_schedule, self.step, self.cfg.epochs * self.steps_per_epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            rec["lr"] = lr
        self.optimizer.step()
        if correct is not None:
            rec["correct"] = int(values[-1])
        return rec

    # -- evaluation ---------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, batches: Iterable[Any]) -> tuple[np.ndarray, np.ndarray, float]:
        """Model outputs and targets over ``batches`` in eval mode, and the loss."""
        self.model.eval()
        outs, ys, loss_sum, n = [], [], 0.0, 0
        for batch in batches:
            y = batch.labels.to(self.device)
            out = self.forward(batch).float()
            loss_sum += float(self.objective.loss(out, y)) * len(y)
            n += len(y)
            outs.append(out.cpu())
            ys.append(y.cpu())
        if not n:
            return np.zeros(0), np.zeros(0), math.nan
        return torch.cat(outs).numpy(), torch.cat(ys).numpy(), loss_sum / n

    def evaluate(self, batches: Iterable[Any]) -> dict[str, float]:
        out, y, loss = self.predict(batches)
        rec = {"loss": loss}
        if self.objective.name == "bce" and len(y):
            rec["accuracy"] = float(((out > 0) == (y > 0.5)).mean())
        elif self.objective.name == "ce" and len(y):
            rec["accuracy"] = float((out.argmax(axis=-1) == y).mean())
        return rec

    # -- the loop -----------------------------------------------------------------------
    def _emit(self, event: str, *args: Any) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, event, None)
            if fn is not None:
                fn(self, *args)

    def fit(self) -> TrainResult:
        """Train the remaining epochs (all of them, unless restored by :meth:`load_state_dict`)."""
        result = self.result
        self._emit("on_train_start")
        for epoch in range(self.epochs_done, self.cfg.epochs):
            self.epoch = epoch
            t0 = time.perf_counter()
            loss_sum, correct, seen, skipped = 0.0, 0, 0, 0
            for batch in self.train_batches(epoch):
                rec = self._train_step(batch)
                rec["wall_time"] = time.time()  # when the step ended (Unix seconds): what trackers plot against
                self.step += 1
                result.steps += 1
                if rec["skipped"]:
                    skipped += 1
                else:
                    loss_sum += rec["loss"] * rec["batch_size"]
                    correct += rec.get("correct", 0)
                    seen += rec["batch_size"]
                self._emit("on_batch_end", rec)
                if self.stop_requested:
                    break
            # a stop requested at the last batch also counts as cut short: resuming redoes the epoch
            complete = not self.stop_requested
            train_time = time.perf_counter() - t0
            val = self.evaluate(self.val_batches())
            ep = {"kind": "epoch", "epoch": epoch, "step": self.step, "train_loss": loss_sum / max(seen, 1),
                  "val_loss": val["loss"], "epoch_time_s": train_time, "skipped_steps": skipped,
                  "samples": seen, "samples_per_s": seen / max(train_time, 1e-9), "wall_time": time.time()}
            if self.objective.classifies:
                ep["train_accuracy"] = correct / max(seen, 1)
                ep["val_accuracy"] = val.get("accuracy")
            result.epochs.append(ep)
            result.samples_seen += seen
            result.skipped_steps += skipped
            result.train_time_s += train_time
            improved = math.isfinite(val["loss"]) and val["loss"] < result.best_val_loss
            if improved or result.best_state is None:
                result.best_val_loss = val["loss"] if math.isfinite(val["loss"]) else result.best_val_loss
                result.best_epoch = epoch
                result.best_state = copy.deepcopy(self.model.state_dict())
            ep["best"] = result.best_epoch == epoch
            self.epoch_complete = complete
            if complete:
                self.epochs_done = epoch + 1
            self._emit("on_epoch_end", ep)
            if self.stop_requested:
                result.stopped = True
                break
        if result.best_state is not None:
            self.model.load_state_dict(result.best_state)
        self._emit("on_train_end", result)
        return result

    # -- the whole training state -------------------------------------------------------
    def state_dict(self) -> TrainingState:
        """A snapshot (CPU copies) of everything :meth:`fit` needs to continue after ``epochs_done`` epochs.

        Meant for an epoch's end (``on_epoch_end`` with ``epoch_complete``, as
        ``core.training.checkpointing.Checkpointer`` takes it) or before ``fit``: the weights of a
        half-done epoch would be resumed as if the epoch were complete. The global RNG states are
        taken as they are now, so a callback that draws from them after this one is not replayed.
        """
        r = self.result
        optimizer = _cpu_copy(self.optimizer.state_dict())
        # the groups as the file holds them (JSON has no tuples), so a state equals its saved copy
        optimizer["param_groups"] = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()}
                                     for g in optimizer["param_groups"]]
        return TrainingState(
            epoch=self.epochs_done - 1, step=self.step, model=_cpu_copy(self.model.state_dict()),
            best_model=_cpu_copy(r.best_state) if r.best_state is not None else None, optimizer=optimizer,
            result=copy.deepcopy({k: getattr(r, k) for k in RESULT_KEYS}), **rng_states())

    def load_state_dict(self, state: TrainingState) -> None:
        """Restore a :meth:`state_dict` of a trainer of the same model; ``fit`` then starts at ``state.epoch + 1``.

        Raises :class:`~core.models.checkpoint.CheckpointError` when the weights or the optimiser's
        parameter groups do not fit this trainer's model. The optimiser keeps this trainer's
        implementation flags (``fused``, ``foreach``, ...: they depend on the device, not on the run).
        """
        _check_fits(state.model, self.model.state_dict(), "weights")
        if state.best_model is not None:
            _check_fits(state.best_model, self.model.state_dict(), "best weights")
        saved_groups = state.optimizer["param_groups"]
        groups = self.optimizer.param_groups
        if [len(g["params"]) for g in saved_groups] != [len(g["params"]) for g in groups]:
            raise CheckpointError("the optimiser state does not fit this model's parameters")
        self.model.load_state_dict(state.model)
        optimizer = {"state": state.optimizer["state"],
                     "param_groups": [_like_group(saved, now) for saved, now in zip(saved_groups, groups, strict=True)]}
        self.optimizer.load_state_dict(optimizer)
        result = TrainResult(**copy.deepcopy({k: state.result[k] for k in RESULT_KEYS}))
        if state.best_model is not None:  # the trainer keeps its best weights where the model lives
            result.best_state = {k: v.to(self.device, copy=True) for k, v in state.best_model.items()}
        self.result = result
        self.step = state.step
        self.epochs_done = state.epoch + 1
        self.epoch = max(state.epoch, 0)
        self.stop_requested = False
        set_rng_states(state)


_IMPLEMENTATION_FLAGS = ("foreach", "fused", "capturable", "differentiable")


def _like_group(saved: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """A saved optimiser param group as this optimiser holds it: tuples again (JSON made them lists), own flags."""
    group = {k: tuple(v) if isinstance(now.get(k), tuple) and isinstance(v, list) else v for k, v in saved.items()}
    group.update({k: now[k] for k in _IMPLEMENTATION_FLAGS if k in now})
    return group


def _cpu_copy(obj: Any) -> Any:
    """``obj`` with every tensor replaced by a detached CPU copy (dicts and lists walked)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return obj


def _check_fits(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], what: str) -> None:
    if set(state) != set(expected):
        raise CheckpointError(f"the {what} do not fit this model: missing {sorted(set(expected) - set(state))[:5]}, "
                              f"unexpected {sorted(set(state) - set(expected))[:5]}")
    for k, v in expected.items():
        if state[k].shape != v.shape or state[k].dtype != v.dtype:
            raise CheckpointError(f"the {what} do not fit this model: {k} is {tuple(state[k].shape)} "
                                  f"{state[k].dtype}, the model has {tuple(v.shape)} {v.dtype}")


def rng_states() -> dict[str, Any]:
    """The global RNG states (torch CPU, CUDA when initialised, numpy, Python) as :class:`TrainingState` fields."""
    np_state = np.random.get_state(legacy=True)
    py_version, py_internal, py_gauss = random.getstate()
    # CUDA states only once CUDA is in use: asking earlier would start a CUDA context for a CPU run
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {"torch_rng": torch.get_rng_state(), "cuda_rng": list(cuda),
            "numpy_rng": [np_state[0], np_state[1].tolist(), *np_state[2:]],  # name, keys, pos, has_gauss, cached
            "python_rng": [py_version, list(py_internal), py_gauss]}


def set_rng_states(state: TrainingState) -> None:
    """Set the global RNGs to ``state``'s (CUDA devices beyond those present are ignored)."""
    torch.set_rng_state(state.torch_rng)
    if state.cuda_rng and torch.cuda.is_available():
        for i, s in enumerate(state.cuda_rng[:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, i)
    name, keys, pos, has_gauss, cached = state.numpy_rng
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state.python_rng
    random.setstate((version, tuple(internal), gauss))


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, ROC-AUC and the confusion matrix from logits."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score, roc_curve

    y = (labels > 0.5).astype(int)
    pred = (logits > 0).astype(int)
    p, r, f1, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    two_classes = len(np.unique(y)) == 2
    auc = float(roc_auc_score(y, logits)) if two_classes else None
    cm = confusion_matrix(y, pred, labels=[0, 1]).tolist()
    roc = None
    if two_classes:
        fpr, tpr, _ = roc_curve(y, logits)
        # keep the curve small: ~200 points is plenty to draw
        idx = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
        roc = {"fpr": fpr[idx].tolist(), "tpr": tpr[idx].tolist()}
    return {"accuracy": float((pred == y).mean()) if len(y) else None, "precision": float(p),
            "recall": float(r), "f1": float(f1), "roc_auc": auc, "confusion_matrix": cm, "roc": roc,
            "n": int(len(y))}


def multiclass_metrics(logits: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Accuracy, macro-averaged precision/recall/F1, one row per class and the KxK confusion matrix.

    ``logits``: (N, K); ``labels``: (N,) class indices. ``confusion_matrix[i][j]``: rows of class i
    predicted as class j.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    k = len(class_names)
    y = np.asarray(labels).astype(int)
    pred = np.asarray(logits).reshape(len(y), k).argmax(axis=-1) if len(y) else np.zeros(0, dtype=int)
    idx = list(range(k))
    p, r, f1, support = precision_recall_fscore_support(y, pred, labels=idx, average=None, zero_division=0)
    per_class = [{"class": name, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f1[i]),
                  "support": int(support[i])} for i, name in enumerate(class_names)]
    return {"accuracy": float((pred == y).mean()) if len(y) else None, "precision": float(np.mean(p)),
            "recall": float(np.mean(r)), "f1": float(np.mean(f1)), "average": "macro", "per_class": per_class,
            "confusion_matrix": confusion_matrix(y, pred, labels=idx).tolist(), "classes": list(class_names),
            "roc_auc": None, "roc": None, "n": int(len(y))}
