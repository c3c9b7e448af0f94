"""Long-range memory tasks generated on the fly: the adding problem, the temporal-order problem and the copy task.

The first two come from Hochreiter & Schmidhuber (1997, "Long short-term memory", experiments 4 and 6a), the
third from Arjovsky et al. (2016, "Unitary evolution recurrent neural networks"). None needs a download: every
sequence is drawn from a seeded ``torch.Generator``, so a seed gives the same data on every machine. Each task is
a :class:`~core.tasks.base.TaskData`, selectable wherever the IMDB task is (``--task adding|order|copy``):

* **adding** (regression, :class:`~core.training.trainer.Objective` ``"mse"``): inputs ``(B, T, 2)``; channel
  0 holds values drawn uniformly from ``[0, 1]``, channel 1 marks exactly two steps with 1, one
  in the first half of the sequence and one in the second. The target is the sum of the two
  marked values. Predicting the mean (1.0) scores MSE ``Var(U1 + U2) = 2/12 = 0.167``; the task
  counts as solved at MSE below :data:`ADDING_SUCCESS_MSE` (0.04) on held-out sequences.
* **order** (4-class classification, objective ``"ce"``): a sequence of ``T`` one-hot symbols over
  :data:`ORDER_SYMBOLS`: a begin marker ``B`` at step 0, an end marker ``E`` at ``T-1``, random
  distractors ``a b c d`` elsewhere, except two relevant symbols (``X`` or ``Y``) at a step in
  ``[0.1 T, 0.2 T]`` and one in ``[0.5 T, 0.6 T]``. The class is their order: ``XX, XY, YX, YY``
  (chance 25%); solved at held-out accuracy :data:`SUCCESS_ACCURACY` (95%) or more.
* **copy** (64-class classification, objective ``"ce"``): one-hot inputs over :data:`COPY_INPUTS`:
  :data:`COPY_LENGTH` symbols drawn from :data:`COPY_SYMBOLS` at steps 0-2, blanks ``_`` after them, and the
  recall marker ``:`` at ``T-1``, where the model must give back all three symbols, in order. The model has one
  read-out, so the answer is one class: the three symbols read as a base-4 number (``abc`` -> 0*16 + 1*4 + 2 = 6),
  the original task's per-step outputs joined (chance 1/64). Solved at held-out accuracy
  :data:`SUCCESS_ACCURACY`: every symbol recalled in 95% of the sequences. Unlike the other two, nothing
  else happens in between: the memory must hold the symbols unchanged through blanks, the first for ``T - 1``
  steps.

Training draws fresh sequences for every batch (epoch ``e`` of seed ``s`` is always the same
stream); validation, test and the gradient-probe batch are fixed held-out sets. A synthetic run
has ``TrainConfig.train_steps`` optimiser steps spread over ``TrainConfig.epochs`` epochs (each
epoch ends with a validation pass, the points where the best weights are chosen). The models
train without dropout here, as in the original experiments.

Not here: what is studied with these tasks (the memory horizon, exploding gradients:
:mod:`core.analysis.horizon`), the per-step gradient recording (:mod:`core.analysis.gradients`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from rnnlab.core.config import SYNTHETIC_MIN_LEN, SYNTHETIC_TASKS, RunConfig
from rnnlab.core.data.batching import Batch
from rnnlab.core.tasks.base import TaskData
from rnnlab.core.training.trainer import Objective

ADDING_INPUTS = 2
ADDING_SUCCESS_MSE = 0.04
ADDING_MEAN_PREDICTOR_MSE = 2 / 12  # Var(U1 + U2) for two independent U(0, 1)
ORDER_SYMBOLS = ("a", "b", "c", "d", "X", "Y", "B", "E")  # distractors, the two relevant symbols, markers
ORDER_CLASSES = 4  # XX, XY, YX, YY
SUCCESS_ACCURACY = 0.95  # a classification task (order, copy) is solved at this held-out accuracy
COPY_SYMBOLS = ("a", "b", "c", "d")
COPY_INPUTS = (*COPY_SYMBOLS, "_", ":")  # the symbols, the blank, the recall marker
COPY_LENGTH = 3  # symbols to remember
COPY_CLASSES = len(COPY_SYMBOLS) ** COPY_LENGTH

VAL_SIZE = 1000  # held-out sequences for checkpoint selection and steps-to-success
TEST_SIZE = 2000  # held-out sequences for the final figures
EVAL_BATCH = 500

# salt per stream, so train, validation and test never share a generator state
_STREAMS = {"train": 1, "val": 2, "test": 3}


# ---------------------------------------------------------------------------------- generators

def adding_problem(n: int, seq_len: int, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` adding-problem sequences: inputs ``(n, T, 2)`` float32 and targets ``(n,)`` float32."""
    if seq_len < 2:
        raise ValueError(f"the adding problem needs seq_len >= 2, got {seq_len}")
    half = seq_len // 2
    values = torch.rand(n, seq_len, generator=generator)  # (n, T)
    first = torch.randint(0, half, (n,), generator=generator)  # a step in the first half
    second = torch.randint(half, seq_len, (n,), generator=generator)  # and one in the second
    marks = torch.zeros(n, seq_len)
    rows = torch.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return torch.stack([values, marks], dim=-1), target


def _order_window(seq_len: int, lo: float, hi: float) -> tuple[int, int]:
    """Steps ``[a, b]`` (inclusive) covering ``[lo T, hi T]``, never on a marker step."""
    a = min(max(1, int(lo * seq_len)), seq_len - 2)
    b = min(max(a, int(hi * seq_len)), seq_len - 2)
    return a, b


def temporal_order(n: int, seq_len: int, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` temporal-order sequences: one-hot inputs ``(n, T, 8)`` float32 and classes ``(n,)`` int64."""
    if seq_len < SYNTHETIC_MIN_LEN["order"]:
        raise ValueError(f"the temporal-order problem needs seq_len >= {SYNTHETIC_MIN_LEN['order']}, got {seq_len}")
    sym = torch.randint(0, 4, (n, seq_len), generator=generator)  # distractors a..d
    sym[:, 0] = ORDER_SYMBOLS.index("B")
    sym[:, -1] = ORDER_SYMBOLS.index("E")
    (a1, b1), (a2, b2) = _order_window(seq_len, 0.1, 0.2), _order_window(seq_len, 0.5, 0.6)
    a2 = max(a2, b1 + 1)  # short sequences: the two windows must not overlap
    b2 = max(b2, a2)
    t1 = torch.randint(a1, b1 + 1, (n,), generator=generator)
    t2 = torch.randint(a2, b2 + 1, (n,), generator=generator)
    is_y = torch.randint(0, 2, (n, 2), generator=generator)  # 0 = X, 1 = Y
    rows = torch.arange(n)
    sym[rows, t1] = ORDER_SYMBOLS.index("X") + is_y[:, 0]
    sym[rows, t2] = ORDER_SYMBOLS.index("X") + is_y[:, 1]
    x = torch.nn.functional.one_hot(sym, len(ORDER_SYMBOLS)).float()
    return x, 2 * is_y[:, 0] + is_y[:, 1]


def copy_task(n: int, seq_len: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` copy-task sequences: one-hot inputs ``(n, T, 6)`` float32 and classes ``(n,)`` int64 (the symbols to
    recall as one base-4 number, the first the most significant)."""
    if seq_len < SYNTHETIC_MIN_LEN["copy"]:
        raise ValueError(f"the copy task needs seq_len >= {SYNTHETIC_MIN_LEN['copy']}, got {seq_len}")
    shown = torch.randint(0, len(COPY_SYMBOLS), (n, COPY_LENGTH), generator=generator)
    sym = torch.full((n, seq_len), COPY_INPUTS.index("_"), dtype=torch.int64)
    sym[:, :COPY_LENGTH] = shown
    sym[:, -1] = COPY_INPUTS.index(":")
    weights = len(COPY_SYMBOLS) ** torch.arange(COPY_LENGTH - 1, -1, -1)  # (16, 4, 1)
    x = torch.nn.functional.one_hot(sym, len(COPY_INPUTS)).float()
    return x, (shown * weights).sum(dim=1)


GENERATORS: dict[str, Callable[[int, int, torch.Generator | None], tuple[torch.Tensor, torch.Tensor]]] = {
    "adding": adding_problem, "order": temporal_order, "copy": copy_task}
# per task: (input size, outputs, objective); a classification task's outputs are its classes
SHAPES = {"adding": (ADDING_INPUTS, 1, "mse"), "order": (len(ORDER_SYMBOLS), ORDER_CLASSES, "ce"),
          "copy": (len(COPY_INPUTS), COPY_CLASSES, "ce")}


def task_shape(task: str) -> tuple[int, int, str]:
    """``(input_size, output_size, objective name)`` of a synthetic task."""
    if task not in SHAPES:
        raise ValueError(f"unknown synthetic task {task!r}; expected one of {SYNTHETIC_TASKS}")
    return SHAPES[task]


def _generator(seed: int, stream: str, epoch: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + _STREAMS[stream] * 10_007 + epoch)


def _batch(x: torch.Tensor, y: torch.Tensor) -> Batch:
    n, steps = x.shape[:2]
    return Batch(x, torch.full((n,), steps, dtype=torch.int64), y, torch.arange(n))


class SequenceStream:
    """``n_batches`` fresh batches drawn from one seeded generator; iterable again and again, with a length."""

    def __init__(self, task: str, n_batches: int, batch_size: int, seq_len: int, generator_seed: torch.Generator):
        self.task, self.n_batches, self.batch_size, self.seq_len = task, n_batches, batch_size, seq_len
        self.state = generator_seed.get_state()

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[Batch]:
        gen = torch.Generator()
        gen.set_state(self.state)
        for _ in range(self.n_batches):
            yield _batch(*GENERATORS[self.task](self.batch_size, self.seq_len, gen))


def held_out(task: str, seq_len: int, n: int, seed: int, stream: str = "val") -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed held-out set (``stream`` ``val`` or ``test``) of ``n`` sequences."""
    return GENERATORS[task](n, seq_len, _generator(seed, stream))


def steps_in_epoch(train_steps: int, epochs: int, epoch: int) -> int:
    """Optimiser steps of epoch ``epoch`` when ``train_steps`` are spread evenly over ``epochs``."""
    return train_steps * (epoch + 1) // epochs - train_steps * epoch // epochs


# ---------------------------------------------------------------------------------- metrics

def task_metrics(task: str, out: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Held-out figures of a synthetic task from model outputs: MSE or accuracy, and ``success``."""
    n = int(len(y))
    if task == "adding":
        mse = float(np.mean((np.asarray(out, dtype=np.float64) - y) ** 2)) if n else math.nan
        return {"mse": mse, "success": bool(mse < ADDING_SUCCESS_MSE), "success_threshold_mse": ADDING_SUCCESS_MSE,
                "mean_predictor_mse": float(np.var(y)) if n else math.nan, "n": n}
    acc = float((np.asarray(out).argmax(axis=-1) == y).mean()) if n else math.nan
    return {"accuracy": acc, "success": bool(acc >= SUCCESS_ACCURACY),
            "success_threshold_accuracy": SUCCESS_ACCURACY, "chance_accuracy": 1 / SHAPES[task][1], "n": n}


def success_of(task: str, metric: float) -> bool:
    """Whether a held-out MSE (adding) or accuracy (order, copy) counts as solved."""
    return metric < ADDING_SUCCESS_MSE if task == "adding" else metric >= SUCCESS_ACCURACY


# ---------------------------------------------------------------------------------- the task

def prepare_synthetic(cfg: RunConfig):
    """The :class:`~core.tasks.base.TaskData` of ``cfg.train.task`` (``adding``, ``order`` or ``copy``)."""
    t = cfg.train
    input_size, output_size, objective = task_shape(t.task)
    if t.train_steps < 1 or t.epochs < 1:
        raise ValueError("a synthetic task needs train_steps >= 1 and epochs >= 1")
    val = held_out(t.task, t.seq_len, VAL_SIZE, t.seed, "val")
    test = held_out(t.task, t.seq_len, TEST_SIZE, t.seed, "test")

    def fixed(data: tuple[torch.Tensor, torch.Tensor]) -> list[Batch]:
        x, y = data
        return [_batch(x[i:i + EVAL_BATCH], y[i:i + EVAL_BATCH]) for i in range(0, len(y), EVAL_BATCH)]

    val_batches, test_batches = fixed(val), fixed(test)

    def train_batches(epoch: int) -> SequenceStream:
        return SequenceStream(t.task, steps_in_epoch(t.train_steps, t.epochs, epoch), t.batch_size, t.seq_len,
                              _generator(t.seed, "train", epoch))

    n_probe = min(t.probe_size, VAL_SIZE)
    probe = _batch(val[0][:n_probe], val[1][:n_probe])
    model_cfg = replace(cfg.model, input_size=input_size, output_size=output_size, dropout=0.0)
    task = TaskData(model_cfg=model_cfg, train_batches=train_batches, val_batches=lambda: val_batches,
                    test_batches=lambda: test_batches, objective=Objective(objective),
                    train_size=t.train_steps * t.batch_size, probe=probe, use_lengths=False,
                    objective_metrics=lambda out, y: task_metrics(t.task, out, y))
    return task
