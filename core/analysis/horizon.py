"""Studies on the synthetic memory tasks: the memory horizon and exploding gradients.

* :func:`horizon_job` trains RNN, LSTM and GRU for each sequence length ``T`` in a list on
  the adding, temporal-order or copy task (:mod:`core.tasks.synthetic`) and reports which still learn.
* :func:`explosion_configs` names runs that make a vanilla RNN's gradients explode, and the same
  with clipping; :func:`explosion_summary` reads their per-step gradient norms back.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from rnnlab.core import atomic
from rnnlab.core.analysis.gradients import GradientRecorder, decay_ratios, load_gradients
from rnnlab.core.config import ExplosionConfig, HorizonConfig, RunConfig, preset
from rnnlab.core.device import flush_denormals, resolve_device
from rnnlab.core.jobs.names import RESULTS_FILE
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.tasks.synthetic import prepare_synthetic, success_of, task_metrics
from rnnlab.core.training.trainer import Trainer

# ---------------------------------------------------------------------------------- memory horizon

HORIZON_COLUMNS = ("task", "model", "seq_len", "success", "test_metric", "final_loss", "final_train_loss",
                   "steps_to_success", "steps", "train_time_s", "grad_ratio_first_step", "gradients")


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


class _CancelWatch:
    """Trainer callback: stop at the next step once ``cancelled()`` says so."""

    def __init__(self, cancelled: Callable[[], bool]):
        self.cancelled = cancelled

    def on_batch_end(self, trainer: Any, rec: dict[str, Any]) -> None:
        if self.cancelled():
            trainer.stop_requested = True


def train_one(settings: HorizonConfig, model: str, seq_len: int, gradients_path: str | None = None,
              device: str = "cpu", cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Train one (model, T) of a memory-horizon experiment and return its row of results.

    ``cancelled``: polled every step; when it turns true training stops and :class:`Cancelled` is raised.
    """

    cfg = settings.run_config(model, seq_len)
    task = prepare_synthetic(cfg)
    torch.manual_seed(settings.seed)
    net = SentimentRNN(task.model_cfg)
    watch = _SuccessWatch(settings.task, settings.stop_on_success)
    callbacks: list[Any] = [watch]  # before the recorder: it records at the evaluation that stops training
    if cancelled is not None:
        callbacks.append(_CancelWatch(cancelled))
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


def horizon_job(ctx: Any, settings: HorizonConfig) -> None:
    """Train every model at every length into ``ctx.run``'s folder (the ``memory-horizon`` kind).

    The folder holds ``results.json`` (settings and rows, rewritten after each (model, T), so a
    reader sees partial results), ``results.csv`` and ``gradients/<model>-T<T>.npz``. Denormal
    floats are flushed to zero meanwhile: a vanishing gradient at T = 200 is otherwise computed
    in denormal arithmetic, many times slower on a CPU. A cancel stops the (model, T) in progress.
    """

    run = ctx.run
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = str(resolve_device(settings.device))
    rows: list[dict[str, Any]] = []
    pairs = [(m, n) for n in settings.lengths for m in settings.models]
    with flush_denormals():
        for i, (model, seq_len) in enumerate(pairs):
            ctx.check_cancel()
            ctx.progress(phase=f"{model} T={seq_len}", done=i, total=len(pairs))
            ctx.say(f"[{i + 1}/{len(pairs)}] {model} T={seq_len}")
            grad_path = None
            if settings.record_gradients:
                (run.path / "gradients").mkdir(exist_ok=True)
                grad_path = str(run.path / "gradients" / f"{model}-T{seq_len}.npz")
            row = train_one(settings, model, seq_len, grad_path, device, cancelled=lambda: ctx.cancel_requested)
            ctx.check_cancel()  # a (model, T) cut short is not a result
            rows.append(row)
            run.write_json(RESULTS_FILE, {"settings": asdict(settings), "rows": rows})
            atomic.write_text(run.file("results.csv"), results_csv(rows))
    ctx.progress(done=len(pairs), total=len(pairs))


def horizon_rows(run: Any) -> list[dict[str, Any]]:
    """A memory-horizon run's result rows (as many as it finished)."""
    try:
        body = run.read_json(RESULTS_FILE)
    except (OSError, ValueError):
        return []
    rows = body.get("rows", []) if isinstance(body, dict) else body
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


# ---------------------------------------------------------------------------------- exploding gradients

def explosion_configs(cfg: ExplosionConfig | None = None, **fields: Any) -> dict[str, RunConfig]:
    """Named runs of a vanilla RNN on the adding problem whose gradients explode, with and without clipping.

    ``cfg`` (or its fields by name: ``steps``, ``seq_len``, ``radius``, ``clip``, ``lr``) is an
    :class:`~core.config.ExplosionConfig`, its defaults the ones argued below.

    All three train with plain SGD (``lr``), where an update is the gradient itself: the case
    clipping exists for. (Adam divides each update by a running RMS of past gradients, so its
    steps stay bounded whatever the gradient's norm; clipping then changes little -- measured
    in docs/gradients.md.)

    ``exploding``: recurrent weights initialised at spectral radius ``radius``, no clipping.
    ``clipped``: the same, with the global gradient norm clipped to ``clip``. ``reference``: the
    same model at the default initialisation, no clipping. Each step's ``grad_norm`` in
    ``metrics.jsonl`` is the global norm *before* clipping; ``clipped`` says whether it was cut,
    so the applied SGD step has norm ``lr * min(grad_norm, clip)``. A step whose loss or gradient
    is not finite is skipped (the weights do not move) and counted; the run still finishes.
    Gradients through time are recorded (``gradients.npz``) five times.

    Why the defaults (radius 4, T = 50, lr 0.05, 50 units, seed 0) explode on any machine:

    1. At spectral radius 4 the tanh recurrence is chaotic: each step back multiplies the
       gradient by about ``4 * sqrt(E[tanh'(z)^2]) = 1.54`` (mean-field value for gain 4), so
       the first step's global norm is ~1.54^50 = 3e9 times a one-step gradient's. Measured
       (seeds 0-39, AVX-512, AVX2 and SSE4.2 kernels, 1 and 2 threads): 3e6 to 5e9, the
       reference's 3-5. Rounding moves it by percents (seed 0: 7.8e7 and 8.4e7), never by decades.
    2. The first unclipped update, ``lr`` times that norm (over 1e5), is thousands of times the
       weights' own norm (26): every pre-activation lands far outside tanh's range, tanh rounds
       to exactly +-1 in float32 and its derivative ``1 - tanh^2`` to exactly 0. No gradient
       reaches the recurrent layer again; the final states are fixed +-1 patterns, nearly
       parallel to each other (the update is a sum of outer products whose left factors are the
       few most amplified backward directions).
    3. What is left is least squares on fixed features ``[s; 1]`` by plain SGD, which diverges
       once ``lr > 1 / lambda``, lambda the largest eigenvalue of their second-moment matrix:
       +-1 patterns give up to ``H + 1 = 51`` (measured at least 43 in the runs of 1.), against
       ``1 / lr = 20``. The output's error then grows ``|1 - 2 lr lambda| >= 3.3`` times a step
       and the loss overflows float32 within about 40 steps (measured: first non-finite step
       22-38 in those runs).

    So the exploding run's first pre-clip norm is at least 1e4 times the reference's largest,
    and it has non-finite, skipped steps within 60 steps. The clipped run applies steps of norm
    at most ``lr * clip`` (its weights move at most ``steps * lr * clip`` in all) and loses no
    step; clipping bounds the damage, it does not repair the initialisation (docs/gradients.md).
    """
    c = replace(cfg or ExplosionConfig(), **fields)
    common = {"task": "adding", "seq_len": c.seq_len, "train_steps": c.steps, "epochs": 1, "record_gradients": True,
              "probe_every": max(c.steps // 5, 1), "optimizer": "sgd", "lr": c.lr, "threads": c.threads or 1}
    return {
        "exploding": preset("seed", cell="rnn", recurrent_init_radius=c.radius, clip_norm=None, **common),
        "clipped": preset("seed", cell="rnn", recurrent_init_radius=c.radius, clip_norm=c.clip, **common),
        "reference": preset("seed", cell="rnn", clip_norm=None, **common),
    }


def explosion_summary(run: Any) -> dict[str, Any]:
    """Per-step gradient statistics of a finished run: spikes, clipped and skipped steps, final figures.

    Every ``grad_norm_*`` is a global norm *before* clipping, as the trainer records it.
    ``largest_update``: for plain SGD, the largest applied step, ``lr * min(grad_norm, clip)``
    over the steps that were not skipped (None for other optimisers).
    """
    steps = run.metrics("step")
    norms = np.array([s["grad_norm"] if s.get("grad_norm") is not None else np.nan for s in steps], dtype=float)
    finite = norms[np.isfinite(norms)]
    applied = norms[[not s.get("skipped") for s in steps]] if steps else norms
    skipped = [s.get("step", i) for i, s in enumerate(steps) if s.get("skipped")]
    try:
        t = run.config().train
    except (OSError, ValueError):  # a damaged config: the figures from metrics.jsonl still stand
        t = None
    largest = None
    if t is not None and t.optimizer == "sgd" and len(applied):
        largest = float(t.lr * np.minimum(applied, t.clip_norm or math.inf).max())
    tm = run.test_metrics() or {}
    epochs = run.metrics("epoch")
    return {"run_id": run.id, "steps": len(steps),
            "skipped_non_finite": len(skipped), "first_non_finite_step": skipped[0] if skipped else None,
            "clipped": int(sum(bool(s.get("clipped")) for s in steps)),
            "grad_norm_first": float(norms[0]) if len(norms) and np.isfinite(norms[0]) else None,
            "grad_norm_median": float(np.median(finite)) if len(finite) else None,
            "grad_norm_max": float(finite.max()) if len(finite) else None,
            "largest_update": largest,
            "final_val_loss": epochs[-1]["val_loss"] if epochs else None, "test_mse": tm.get("mse"),
            "status": run.status().get("state")}
