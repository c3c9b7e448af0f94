"""Studies on the synthetic memory tasks: the memory horizon and exploding gradients.

* :func:`memory_horizon` trains RNN, LSTM and GRU for each sequence length ``T`` in a list on
  the adding or temporal-order problem (:mod:`core.tasks.synthetic`) and reports which still learn.
* :func:`explosion_configs` names runs that make a vanilla RNN's gradients explode, and the same
  with clipping; :func:`explosion_summary` reads their per-step gradient norms back.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from core.config import CELLS, RunConfig, preset
from core.device import flush_denormals
from core.tasks.synthetic import ORDER_MIN_LEN, prepare_synthetic, success_of, task_metrics, task_shape

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
    from core.analysis.gradients import GradientRecorder, decay_ratios, load_gradients
    from core.models.rnn import SentimentRNN
    from core.training.trainer import Trainer

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
    from core import atomic
    from core.jobs.store import RunStore

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
