"""Long-range memory tasks generated on the fly: the adding problem and the temporal-order problem.

Both come from Hochreiter & Schmidhuber (1997, "Long short-term memory", experiments 4 and 6a)
and need no download: every sequence is drawn from a seeded ``torch.Generator``, so a seed
gives the same data on every machine. Each task is a :class:`~core.tasks.TaskData`, selectable
wherever the IMDB task is (``--task adding|order``):

* **adding** (regression, :class:`~core.train.Objective` ``"mse"``): inputs ``(B, T, 2)``; channel
  0 holds values drawn uniformly from ``[0, 1]``, channel 1 marks exactly two steps with 1, one
  in the first half of the sequence and one in the second. The target is the sum of the two
  marked values. Predicting the mean (1.0) scores MSE ``Var(U1 + U2) = 2/12 = 0.167``; the task
  counts as solved at MSE below :data:`ADDING_SUCCESS_MSE` (0.04) on held-out sequences.
* **order** (4-class classification, objective ``"ce"``): a sequence of ``T`` one-hot symbols over
  :data:`ORDER_SYMBOLS`: a begin marker ``B`` at step 0, an end marker ``E`` at ``T-1``, random
  distractors ``a b c d`` elsewhere, except two relevant symbols (``X`` or ``Y``) at a step in
  ``[0.1 T, 0.2 T]`` and one in ``[0.5 T, 0.6 T]``. The class is their order: ``XX, XY, YX, YY``
  (chance 25%); solved at held-out accuracy :data:`ORDER_SUCCESS_ACCURACY` (95%) or more.

Training draws fresh sequences for every batch (epoch ``e`` of seed ``s`` is always the same
stream); validation, test and the gradient-probe batch are fixed held-out sets. A synthetic run
has ``TrainConfig.train_steps`` optimiser steps spread over ``TrainConfig.epochs`` epochs (each
epoch ends with a validation pass, the points where the best weights are chosen). The models
train without dropout here, as in the original experiments.

Also here: :func:`memory_horizon` (train RNN, LSTM and GRU for each ``T`` in a list and report
which ones still learn) and :func:`explosion_configs` (named runs that make a vanilla RNN's
gradients explode, and the same with clipping). Not here: the per-step gradient recording
itself (``core.gradients``), the IMDB task (``core.tasks``).
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from .batching import Batch
from .config import CELLS, RunConfig, preset
from .device import flush_denormals
from .train import Objective

SYNTHETIC_TASKS = ("adding", "order")
ADDING_INPUTS = 2
ADDING_SUCCESS_MSE = 0.04
ADDING_MEAN_PREDICTOR_MSE = 2 / 12  # Var(U1 + U2) for two independent U(0, 1)
ORDER_SYMBOLS = ("a", "b", "c", "d", "X", "Y", "B", "E")  # distractors, the two relevant symbols, markers
ORDER_CLASSES = 4  # XX, XY, YX, YY
ORDER_SUCCESS_ACCURACY = 0.95
ORDER_MIN_LEN = 6  # room for B, E and two relevant symbols at distinct steps

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
    if seq_len < ORDER_MIN_LEN:
        raise ValueError(f"the temporal-order problem needs seq_len >= {ORDER_MIN_LEN}, got {seq_len}")
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


GENERATORS: dict[str, Callable[[int, int, torch.Generator | None], tuple[torch.Tensor, torch.Tensor]]] = {
    "adding": adding_problem, "order": temporal_order}


def task_shape(task: str) -> tuple[int, int, str]:
    """``(input_size, output_size, objective name)`` of a synthetic task."""
    if task == "adding":
        return ADDING_INPUTS, 1, "mse"
    if task == "order":
        return len(ORDER_SYMBOLS), ORDER_CLASSES, "ce"
    raise ValueError(f"unknown synthetic task {task!r}; expected one of {SYNTHETIC_TASKS}")


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
    return {"accuracy": acc, "success": bool(acc >= ORDER_SUCCESS_ACCURACY),
            "success_threshold_accuracy": ORDER_SUCCESS_ACCURACY, "chance_accuracy": 1 / ORDER_CLASSES, "n": n}


def success_of(task: str, metric: float) -> bool:
    """Whether a held-out MSE (adding) or accuracy (order) counts as solved."""
    return metric < ADDING_SUCCESS_MSE if task == "adding" else metric >= ORDER_SUCCESS_ACCURACY


# ---------------------------------------------------------------------------------- the task

def prepare_synthetic(cfg: RunConfig):
    """The :class:`~core.tasks.TaskData` of ``cfg.train.task`` (``adding`` or ``order``)."""
    from .tasks import TaskData

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


# ---------------------------------------------------------------------------------- memory horizon

HORIZON_LENGTHS = (10, 25, 50, 100, 200)
HORIZON_COLUMNS = ("task", "model", "seq_len", "success", "test_metric", "final_loss", "final_train_loss",
                   "steps_to_success", "steps", "train_time_s", "grad_ratio_first_step", "gradients")


@dataclass(frozen=True)
class HorizonSettings:
    """One memory-horizon experiment: which models and lengths, and the training budget of each."""

    task: str = "adding"
    models: tuple[str, ...] = CELLS
    lengths: tuple[int, ...] = HORIZON_LENGTHS
    steps: int = 2000  # optimiser steps per (model, T): the budget
    evals: int = 20  # held-out evaluations spread over the budget (steps-to-success resolution)
    stop_on_success: bool = True  # stop a (model, T) at its first successful evaluation
    lr: float = 1e-2  # Adam; 1e-3 leaves even the LSTM on the adding plateau for thousands of steps
    hidden_size: int = 50
    batch_size: int = 50
    clip_norm: float | None = 5.0
    tbptt: int | None = None  # truncated BPTT: no gradient flows back further than this many steps
    seed: int = 0
    record_gradients: bool = True
    probe_size: int = 64
    gradient_records: int = 4  # evaluations at which the probe's gradients are recorded (plus init, end)

    def __post_init__(self) -> None:
        task_shape(self.task)
        unknown = set(self.models) - set(CELLS)
        if unknown:
            raise ValueError(f"unknown models {sorted(unknown)}; expected some of {CELLS}")
        if not self.models or not self.lengths or self.steps < 1 or self.evals < 1:
            raise ValueError("need at least one model, one length, steps >= 1 and evals >= 1")
        if self.task == "order" and min(self.lengths) < ORDER_MIN_LEN:
            raise ValueError(f"the temporal-order problem needs lengths >= {ORDER_MIN_LEN}")
        if self.task == "adding" and min(self.lengths) < 2:
            raise ValueError("the adding problem needs lengths >= 2")

    def run_config(self, model: str, seq_len: int) -> RunConfig:
        return preset("seed", cell=model, task=self.task, seq_len=seq_len, train_steps=self.steps,
                      epochs=min(self.evals, self.steps), lr=self.lr, hidden_size=self.hidden_size,
                      batch_size=self.batch_size, clip_norm=self.clip_norm, seed=self.seed,
                      probe_size=self.probe_size, tbptt=self.tbptt)


class _SuccessWatch:
    """Trainer callback: note the first evaluation that meets the task's criterion; optionally stop there."""

    def __init__(self, task: str, stop: bool):
        self.task, self.stop = task, stop
        self.step: int | None = None
        self.history: list[dict[str, Any]] = []

    def on_epoch_end(self, trainer: Any, rec: dict[str, Any]) -> None:
        metric = rec["val_loss"] if self.task == "adding" else rec.get("val_accuracy")
        self.history.append({"step": rec["step"], "val_loss": rec["val_loss"], "val_metric": metric})
        if metric is not None and math.isfinite(metric) and success_of(self.task, metric) and self.step is None:
            self.step = rec["step"]
            if self.stop:
                trainer.stop_requested = True


def train_one(settings: HorizonSettings, model: str, seq_len: int, gradients_path: str | None = None,
              device: str = "cpu") -> dict[str, Any]:
    """Train one (model, T) of a memory-horizon experiment and return its row of results."""
    from .gradients import GradientRecorder, decay_ratios, load_gradients
    from .models import SentimentRNN
    from .train import Trainer

    cfg = settings.run_config(model, seq_len)
    task = prepare_synthetic(cfg)
    torch.manual_seed(settings.seed)
    net = SentimentRNN(task.model_cfg)
    watch = _SuccessWatch(settings.task, settings.stop_on_success)
    callbacks: list[Any] = [watch]  # before the recorder: it records at the evaluation that stops training
    epochs = cfg.train.epochs
    if gradients_path is not None:
        callbacks.append(GradientRecorder(gradients_path, task.probe, every=0, use_lengths=False,
                                          epoch_every=max(epochs // max(settings.gradient_records, 1), 1)))
    trainer = Trainer(net, cfg.train, task.train_batches, task.val_batches, objective=task.objective,
                      device=device, callbacks=callbacks, use_lengths=False)
    result = trainer.fit()  # leaves the best weights (by held-out loss) in place
    out, y, _ = trainer.predict(task.test_batches())
    test = task_metrics(settings.task, out, y)
    last = result.epochs[-1] if result.epochs else {}
    row = {"task": settings.task, "model": model, "seq_len": seq_len, "success": test["success"],
           "test_metric": test["mse"] if settings.task == "adding" else test["accuracy"],
           "final_loss": last.get("val_loss"), "final_train_loss": last.get("train_loss"),
           "steps_to_success": watch.step, "steps": result.steps, "train_time_s": result.train_time_s,
           "skipped_steps": result.skipped_steps, "history": watch.history, "grad_ratio_first_step": None,
           "gradients": None}
    if gradients_path is not None:
        rec = load_gradients(gradients_path)
        # ||dL/dh_1|| / ||dL/dh_T|| at init and at the end: how much gradient reaches the first step
        row["grad_ratio_first_step"] = decay_ratios(rec, [seq_len - 1])[seq_len - 1]["median"]
        row["grad_ratio_first_step_init"] = decay_ratios(rec, [seq_len - 1], record=0)[seq_len - 1]["median"]
        row["gradients"] = str(gradients_path)
    return row


def results_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The results table as CSV (one row per model and length; the per-evaluation history left out)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(HORIZON_COLUMNS) + ["skipped_steps", "grad_ratio_first_step_init"],
                            extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in writer.fieldnames})
    return buf.getvalue()


def memory_horizon(settings: HorizonSettings, store: Any = None, *, device: str = "cpu",
                   progress: Callable[[str], None] | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """Train every model at every length; store and return the results: ``(run, rows)``.

    The run folder (``kind`` ``memory-horizon``) holds ``results.json`` (settings and rows,
    rewritten after each (model, T), so a reader sees partial results), ``results.csv`` and
    ``gradients/<model>-T<T>.npz``. Denormal floats are flushed to zero meanwhile: a vanishing
    gradient at T = 200 is otherwise computed in denormal arithmetic, many times slower on a CPU.
    """
    from . import atomic
    from .runs import RunStore

    store = store or RunStore()
    run = store.create(None, kind="memory-horizon", label=f"memory-horizon-{settings.task}",
                       extra={"memory_horizon": asdict(settings)})
    run.update_status(state="running", started=time.time())
    rows: list[dict[str, Any]] = []
    pairs = [(m, n) for n in settings.lengths for m in settings.models]
    with flush_denormals():
        try:
            for i, (model, seq_len) in enumerate(pairs):
                run.update_status(progress={"phase": f"{model} T={seq_len}", "done": i, "total": len(pairs)})
                if progress:
                    progress(f"[{i + 1}/{len(pairs)}] {model} T={seq_len}")
                grad_path = None
                if settings.record_gradients:
                    (run.path / "gradients").mkdir(exist_ok=True)
                    grad_path = str(run.path / "gradients" / f"{model}-T{seq_len}.npz")
                rows.append(train_one(settings, model, seq_len, grad_path, device))
                run.write_json("results.json", {"settings": asdict(settings), "rows": rows})
                atomic.write_text(run.file("results.csv"), results_csv(rows))
                if run.cancel_requested:
                    run.update_status(state="cancelled", finished=time.time())
                    return run, rows
        except Exception as e:
            run.update_status(state="failed", error=f"{type(e).__name__}: {e}", finished=time.time())
            raise
    run.update_status(state="finished", finished=time.time(), progress={"done": len(pairs), "total": len(pairs)})
    return run, rows


# ---------------------------------------------------------------------------------- exploding gradients

def explosion_configs(steps: int = 300, seq_len: int = 50, radius: float = 2.0, clip: float = 1.0,
                      lr: float = 0.05) -> dict[str, RunConfig]:
    """Named runs of a vanilla RNN on the adding problem whose gradients explode, with and without clipping.

    All three train with plain SGD (``lr``), where an update is the gradient itself: the case
    clipping exists for. (Adam divides each update by a running RMS of past gradients, so its
    steps stay bounded whatever the gradient's norm; clipping then changes little -- measured
    in docs/gradients.md.)

    ``exploding``: recurrent weights initialised at spectral radius ``radius`` (above 1), no
    clipping: the per-step global gradient norms in ``metrics.jsonl`` spike, an update the size
    of the gradient throws the weights out, and every step whose loss or gradient is no longer
    finite is skipped and counted -- the run still finishes. ``clipped``: the same with the
    global norm clipped to ``clip``. ``reference``: the same model at the default
    initialisation, no clipping. Gradients through time are recorded (``gradients.npz``) five times.
    """
    common = {"task": "adding", "seq_len": seq_len, "train_steps": steps, "epochs": 1, "record_gradients": True,
              "probe_every": max(steps // 5, 1), "optimizer": "sgd", "lr": lr, "threads": 1}
    return {
        "exploding": preset("seed", cell="rnn", recurrent_init_radius=radius, clip_norm=None, **common),
        "clipped": preset("seed", cell="rnn", recurrent_init_radius=radius, clip_norm=clip, **common),
        "reference": preset("seed", cell="rnn", clip_norm=None, **common),
    }


def explosion_summary(run: Any) -> dict[str, Any]:
    """Per-step gradient statistics of a finished run: spikes, clipped and skipped steps, final figures."""
    steps = run.metrics("step")
    norms = np.array([s["grad_norm"] if s.get("grad_norm") is not None else np.nan for s in steps], dtype=float)
    finite = norms[np.isfinite(norms)]
    tm = run.test_metrics() or {}
    epochs = run.metrics("epoch")
    return {"run_id": run.id, "steps": len(steps),
            "skipped_non_finite": int(sum(bool(s.get("skipped")) for s in steps)),
            "clipped": int(sum(bool(s.get("clipped")) for s in steps)),
            "grad_norm_median": float(np.median(finite)) if len(finite) else None,
            "grad_norm_max": float(finite.max()) if len(finite) else None,
            "final_val_loss": epochs[-1]["val_loss"] if epochs else None, "test_mse": tm.get("mse"),
            "status": run.status().get("state")}
