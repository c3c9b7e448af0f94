"""The ``rnn`` kind of job, a training run: prepare the task, train with callbacks that write the run folder, test.

:func:`train_job` is the ``rnn`` kind's job function (``core.jobs.kinds``); the lifecycle around
it (claim, heartbeat, queue, final state) is ``core.jobs.lifecycle``'s. What it writes:
``metrics.jsonl`` (every step and epoch, :class:`RunWriter`), ``checkpoint/last.safetensors`` and
``checkpoint/best.safetensors`` at every epoch's end (the whole training state: a crash loses at
most the epoch in progress), ``vocab.json``, ``model.safetensors`` (the best weights),
``gradients.npz`` when recording, ``classes.json`` (a text task's class names), ``embeddings.json``
for word2vec-initialised runs and ``test_metrics.json``. With ``ctx.resume`` it continues from ``checkpoint/last``, with
``metrics.jsonl`` cut back to that epoch, and ends with the weights an uninterrupted run has. A run launched with
``--track`` targets (kept in its ``status.json``) is also written to TensorBoard and MLflow as it trains
(:func:`live_tracking`).

Not here: the training loop (``core.training.trainer``), the data (``core.tasks``).
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from rnnlab.core.analysis.gradients import GradientRecorder
from rnnlab.core.config import AUTO_VECTORS, RunConfig
from rnnlab.core.device import flush_denormals, job_cores, resolve_device
from rnnlab.core.jobs.kinds import Cancelled
from rnnlab.core.jobs.lifecycle import JobContext
from rnnlab.core.jobs.names import (
    CHECKPOINT_DIR,
    CLASSES_FILE,
    EMBEDDINGS_FILE,
    GRADIENTS_FILE,
    TEST_METRICS_FILE,
    VOCAB_FILE,
    WEIGHTS_FILE,
)
from rnnlab.core.jobs.targets import stored_targets
from rnnlab.core.jobs.vectors import find_vectors
from rnnlab.core.jobs.word2vec import load_vectors
from rnnlab.core.models.checkpoint import save_weights
from rnnlab.core.models.rnn import SentimentRNN, param_counts
from rnnlab.core.models.word2vec import init_embedding_layer
from rnnlab.core.tasks import prepare_task
from rnnlab.core.training.checkpointing import LAST, Checkpointer, load_training_state
from rnnlab.core.training.trainer import Trainer, TrainResult, classification_metrics

# the live tracker's module (``train --track``), imported by name: see live_tracking
TRACKING = "rnnlab.core.report.tracking"

class RunWriter:
    """Trainer callback: metrics.jsonl, progress in the run's status, cancel requests."""

    def __init__(self, ctx: Any, steps_per_epoch: int, flush_every_s: float = 1.0):
        self.ctx = ctx
        self.steps_per_epoch = steps_per_epoch
        self.flush_every_s = flush_every_s
        self.pending: list[dict[str, Any]] = []
        self.last_flush = 0.0

    def _flush(self, trainer: Trainer, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last_flush < self.flush_every_s:
            return
        self.ctx.run.append_metrics(self.pending)
        self.pending = []
        self.last_flush = now
        self.ctx.progress(phase="training", epoch=trainer.epoch, epochs=trainer.cfg.epochs, step=trainer.step,
                          batch=trainer.step - trainer.epoch * self.steps_per_epoch, batches=self.steps_per_epoch)
        if self.ctx.cancel_requested:
            trainer.stop_requested = True

    def on_batch_end(self, trainer: Trainer, rec: dict[str, Any]) -> None:
        self.pending.append(rec)
        self._flush(trainer)

    def on_epoch_end(self, trainer: Trainer, rec: dict[str, Any]) -> None:
        self.pending.append(rec)
        self._flush(trainer, force=True)

    def on_train_end(self, trainer: Trainer, result: TrainResult) -> None:
        self._flush(trainer, force=True)


class ProgressBar:
    """Trainer callback: a tqdm bar per epoch on the terminal."""

    def __init__(self, steps_per_epoch: int):
        self.steps_per_epoch = steps_per_epoch
        self.bar = None

    def on_batch_end(self, trainer: Trainer, rec: dict[str, Any]) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=self.steps_per_epoch, desc=f"epoch {trainer.epoch + 1}/{trainer.cfg.epochs}",
                            unit="batch", leave=True, file=sys.stderr)
        self.bar.update(1)
        if rec.get("loss") is not None:
            self.bar.set_postfix(loss=f"{rec['loss']:.4f}", refresh=False)

    def on_epoch_end(self, trainer: Trainer, rec: dict[str, Any]) -> None:
        if self.bar is not None:
            acc = rec.get("val_accuracy")
            self.bar.set_postfix(val_loss=f"{rec['val_loss']:.4f}", val_acc=f"{acc:.3f}" if acc else "-")
            self.bar.close()
            self.bar = None


def _count_batches(batches_fn, epoch: int = 0) -> int:
    b = batches_fn(epoch)
    return len(b) if hasattr(b, "__len__") else sum(1 for _ in batches_fn(epoch))


def dataset_change(run: Any, classes: Any, vocab: Any) -> str | None:
    """What the dataset gives now that differs from what ``run`` recorded when it trained: its class names
    (``classes.json``) or its vocabulary (``vocab.json``); None when both still match (or were never recorded)."""
    if classes and run.file(CLASSES_FILE).is_file():
        before = list(run.read_json(CLASSES_FILE))
        if before != list(classes):
            return (f"the run's classes are {', '.join(map(str, before))}; the dataset's are now "
                    f"{', '.join(map(str, classes))}")
    if vocab is not None and run.file(VOCAB_FILE).is_file():
        before = run.vocabulary()
        if before.itos != vocab.itos:
            other = sum(a != b for a, b in zip(before.itos, vocab.itos, strict=False))
            return (f"the run's vocabulary has {len(before):,} words; the dataset's gives {len(vocab):,} now"
                    + (f", {other:,} of them in other places" if other else ""))
    return None


def train_job(ctx: JobContext, cfg: RunConfig, *, extra_callbacks: list[Any] | None = None,
              progress_bar: bool = False) -> None:
    """Train and test the run ``ctx.run`` describes (the ``rnn`` kind); see the module docstring."""
    with flush_denormals(cfg.train.flush_denormals), live_tracking(ctx) as tracking:
        _train(ctx, cfg, [*(extra_callbacks or []), *tracking], progress_bar)


@contextmanager
def live_tracking(ctx: JobContext) -> Iterator[list[Any]]:
    """The trainer callbacks that track ``ctx.run`` live to the targets its status names (``[]`` for none), for
    the job's whole length: the tracking ends after the job wrote its weights and test metrics, with how it ended.

    The tracker lives with the exports it shares its writers with (:data:`TRACKING`), a layer above the jobs:
    it is imported by name, as ``core.jobs.kinds`` imports job functions, and only by a run that is tracked.
    """
    try:
        targets = stored_targets(ctx.run.stored_status())
    except ValueError as e:  # status.json's track list edited by hand: train, untracked, and say why
        ctx.say(f"not tracked: {e}")
        targets = ()
    try:
        tracking = importlib.import_module(TRACKING) if targets else None
    except ImportError as e:  # a broken install: the training goes on, untracked
        ctx.say(f"not tracked: {e}")
        tracking = None
    if tracking is None:
        yield []
        return
    with tracking.Tracker(ctx.run, targets, say=ctx.say) as tracker:
        yield [tracker]


def auto_vectors(cfg: RunConfig, store: Any) -> str:
    """The word2vec run that ``embeddings = "auto"`` reads when it reaches the job unnamed (launchers name it first,
    :func:`core.jobs.vectors.resolve_vectors`): the newest that suits, or a ValueError saying how to get one."""
    found = find_vectors(cfg, store)
    if found is None:
        raise ValueError("embeddings = auto, and no word2vec run of this store was trained on these texts with this "
                         "preprocessing at this embedding size: start the run with `python -m core train`, the Train "
                         "page or a sweep (each trains the vectors first), or train them with `python -m core "
                         "embeddings train` and the same text settings")
    return found


def _train(ctx: JobContext, cfg: RunConfig, extra_callbacks: list[Any], progress_bar: bool) -> None:
    run, t = ctx.run, cfg.train
    t0 = time.time()
    ctx.progress(phase="preparing data")
    if t.threads:
        torch.set_num_threads(t.threads)
    torch.manual_seed(t.seed)
    np.random.seed(t.seed)
    device = resolve_device(t.device)
    task = prepare_task(cfg, progress=lambda msg: ctx.progress(phase=msg), device=device)
    ctx.check_cancel()
    model_cfg = task.model_cfg
    classes = task.classes  # the dataset's class names (None for the synthetic tasks)
    if ctx.resume:  # before a file of the run is written: a resumed run keeps the data it trained on
        changed = dataset_change(run, classes, task.vocab)
        if changed:
            on = cfg.data.dataset or "imdb"
            raise ValueError(f"run {run.id} cannot be resumed: dataset {on} changed since it trained ({changed}); "
                             "its files are as they were: restore the dataset, or start a new run")
    if classes:
        run.write_json(CLASSES_FILE, list(classes))  # what predict reads to name its answers
    if task.vocab is not None:
        task.vocab.save(run.file(VOCAB_FILE))
    torch.manual_seed(t.seed)  # the same initial weights whatever data preparation consumed
    model = SentimentRNN(model_cfg)
    state = None
    last = run.file(CHECKPOINT_DIR) / LAST
    if ctx.resume and last.is_file():
        state = load_training_state(last)
        dropped = run.cut_metrics(state.epoch)
        ctx.say(f"resuming after epoch {state.epoch + 1} of {t.epochs} ({dropped} later records dropped)")
    else:
        run.cut_metrics(-1)  # a rerun from scratch starts a fresh log
        if t.embeddings:
            vectors = auto_vectors(cfg, ctx.store) if t.embeddings == AUTO_VECTORS else t.embeddings
            # how many of the vocabulary's words got a vector: part of the run's record
            wv = load_vectors(vectors, ctx.store.root)
            run.write_json(EMBEDDINGS_FILE, {"run_id": vectors, **init_embedding_layer(
                model, task.vocab, wv, freeze=t.freeze_embeddings)})
    steps_per_epoch = _count_batches(task.train_batches)
    callbacks: list[Any] = [RunWriter(ctx, steps_per_epoch)]
    if progress_bar:
        callbacks.append(ProgressBar(steps_per_epoch))
    recorder = None
    if t.record_gradients and task.probe is not None:
        # on a CPU with a core the training leaves free (not one a job beside it trains on), recording runs there,
        # and its last recording beside the testing (finished below)
        spare_core = device.type == "cpu" and job_cores() > torch.get_num_threads()
        recorder = GradientRecorder(run.file(GRADIENTS_FILE), task.probe, every=t.probe_every,
                                    use_lengths=task.use_lengths, background=spare_core, keep_open=spare_core)
        callbacks.append(recorder)
    callbacks.append(Checkpointer(run.file(CHECKPOINT_DIR)))
    callbacks += extra_callbacks
    trainer = Trainer(model, t, task.train_batches, task.val_batches, objective=task.objective, device=device,
                      callbacks=callbacks, use_lengths=task.use_lengths,
                      steps_per_epoch=steps_per_epoch)
    if state is not None:
        trainer.load_state_dict(state)
    ctx.progress(phase="training", epoch=trainer.epoch, epochs=t.epochs, batch=0, batches=steps_per_epoch)
    result = trainer.fit()

    save_weights(model.cpu(), run.file(WEIGHTS_FILE))
    model.to(device)
    ctx.progress(phase="testing")
    t_inf = time.perf_counter()
    out, y, test_loss = trainer.predict(task.test_batches())
    if recorder is not None:
        recorder.finish()  # every recording written before the run is finished
    inf_time = time.perf_counter() - t_inf
    counts = param_counts(model_cfg)
    metrics: dict[str, Any] = {"loss": test_loss}
    if task.objective.name == "bce":
        metrics.update(classification_metrics(out, y))
    elif task.objective_metrics is not None:
        metrics.update(task.objective_metrics(out, y))
    else:
        metrics["n"] = len(y)
    if classes:
        metrics["classes"] = list(classes)
        if len(classes) > 2:  # the run store reads "confusion_matrix" as the binary [[tn, fp], [fn, tp]]
            metrics["class_confusion_matrix"] = metrics.pop("confusion_matrix")
    metrics.update({
        "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
        "epoch_times_s": [e["epoch_time_s"] for e in result.epochs], "train_time_s": result.train_time_s,
        "wall_time_s": time.time() - t0, "train_samples_per_s": result.samples_seen / max(result.train_time_s, 1e-9),
        "inference_samples_per_s": len(y) / max(inf_time, 1e-9), "steps": result.steps,
        "skipped_steps": result.skipped_steps, "device": str(device), "torch_threads": torch.get_num_threads(),
        "params_recurrent_pytorch": counts.get("recurrent_pytorch"),
        "params_recurrent_seed_formula": counts.get("recurrent_seed_formula"),
        "params_total": counts.get("total"), "train_size": task.train_size, "stopped_early": result.stopped,
        "resumed": state is not None,
    })
    run.write_json(TEST_METRICS_FILE, metrics)
    if result.stopped:  # the weights and test figures so far are kept; the run reads as cancelled
        raise Cancelled("cancelled during training")
