"""Live tracking: a training's records written to TensorBoard and MLflow while it trains (``train --track``).

What it is: :class:`Tracker`, the trainer callback a tracked run's job adds to its others (``core.jobs.rnn``, for
a run whose ``status.json`` names targets: :mod:`core.jobs.targets`), and :func:`check_targets`, what a launcher
checks before it makes a tracked run. The tracker writes through the writers the export uses
(:mod:`core.report.writers`), so a tracked run and its export hold the same records, at the same wall times:

- at the start of training: the run's typed hparams and its label, name and note (TensorBoard: the HParams
  session and the text ``rnnlab/run``; MLflow: params, tags, and the run named by its label);
- every optimiser step: ``step/loss``, ``step/grad_norm``, ``step/group_grad_norm/<group>``, ``step/clipped``,
  at the step's own wall time (MLflow's points are sent in batches, every :data:`FLUSH_EVERY_S` and at each
  epoch's end; TensorBoard's event file is flushed as often);
- every epoch: ``epoch/<field>``; a histogram of every parameter (``weights/<name>``) and of its gradient at the
  epoch's last step, after clipping (``gradients/<name>``), against the epoch -- MLflow, which has no
  histograms, gets each one's mean, std, min and max (``weights/<name>/mean``...); and for a run that records
  gradients, the decay curve of each recording made since (``gradient_decay/...``, as the export names them);
- when the job ends (after it wrote ``model.safetensors`` and ``test_metrics.json``: the trainer's
  ``on_train_end`` comes before both): ``test/<name>``, the HParams experiment and the session's end, the name,
  note and label as they are then, MLflow's state (FINISHED, KILLED for cancelled, FAILED), and for a finished
  text classifier its MLflow model (:func:`core.report.export.log_mlflow_model`).

A TensorBoard target ``DIR`` gets ``DIR/RUN_ID``, marked as the export of that run, so ``export --to tensorboard
DIR`` later replaces it with the same records; an MLflow target gets a run in the experiment ``rnnlab``, tagged
with the run's id. A resumed training continues both: TensorBoard drops the points after the resumed step as
the new ones arrive (it does so for any step that goes back), MLflow's run is found by its tag and keeps the
points of the steps trained twice (those after the last checkpoint), the second ones later in time.

Tracking never stops the training. A target that is refused at the start (:func:`check_targets`: a package
missing, a folder that cannot be written, a database that is not MLflow's, a server that does not answer) or
fails later (a full disk, a server gone: each MLflow request bounded as the export bounds it) is said once, on
the job's output (the terminal, or ``job.log``), and that target is dropped; the run's own records are
untouched, and ``python -m core export`` writes them there later.

What it is not: the target syntax (``core.jobs.targets``), the writers (``core.report.writers``), the export of
stored runs (``core.report.export``).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rnnlab.core.analysis.gradients import GradientRecorder
from rnnlab.core.jobs.kinds import Cancelled
from rnnlab.core.jobs.names import CANCELLED, FAILED, FINISHED
from rnnlab.core.jobs.store import Run
from rnnlab.core.jobs.targets import TrackTarget
from rnnlab.core.paths import runs_dir
from rnnlab.core.report.export import (
    ExportRefused,
    artifact_location,
    check_mlflow_target,
    check_tensorboard_target,
    log_mlflow_model,
    mark_export,
    mlflow_environ,
    one_line,
    scoped_environ,
    why_not_replaceable,
)
from rnnlab.core.report.export_args import DEFAULT_EXPERIMENT, MLFLOW_TIMEOUT_S
from rnnlab.core.report.writers import (
    MissingDependency,
    MlflowWriter,
    RunInfo,
    TensorBoardWriter,
    decay_scalars,
    decay_tag,
    mlflow_client,
    mlflow_experiment,
    mlflow_runs_of,
    parameter_histograms,
    record_scalars,
    run_info,
    test_scalars,
)

FLUSH_EVERY_S = 5.0  # seconds between MLflow batches (and TensorBoard flushes) within an epoch
# the packages each tracker needs, as (module, package to install)
PACKAGES = {"tensorboard": (("tensorboard", "tensorboard"),),
            "mlflow": (("mlflow", "mlflow-skinny"),)}
SQLITE_PACKAGES = (("sqlalchemy", "sqlalchemy"), ("alembic", "alembic"))

Say = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _shielded(event: Callable[..., None]) -> Callable[..., None]:
    """A trainer event of the :class:`Tracker` that never raises into the trainer: an error of its own (not a
    target's, which :meth:`Tracker._guarded` handles) stops all tracking, said once."""
    @functools.wraps(event)
    def shielded(self: Tracker, *args: Any) -> None:
        try:
            event(self, *args)
        except Exception as e:  # noqa: BLE001 - the training goes on, whatever the tracking met
            for target, writer in list(self.writers):
                self._guarded(target, writer, writer.close)
            self.writers = []
            self.say(f"tracking stopped: {one_line(e)}; the training goes on")
    return shielded


def check_targets(targets: tuple[TrackTarget, ...], stores: set[Path] | tuple[Path, ...] = (), *,
                  timeout_s: int = MLFLOW_TIMEOUT_S) -> None:
    """Refuse, with one line naming the target (:class:`~core.report.export.ExportRefused`, or
    :class:`~core.report.writers.MissingDependency` naming the package), a target a run could not be tracked to:
    its package not installed (looked up, not imported), a folder in a run store (``stores`` and the default one)
    or one that cannot be written, a ``sqlite:`` file that is no MLflow database, a server that does not answer
    within ``timeout_s``. What the export checks, before a launcher makes the run."""
    stores = {Path(p).resolve() for p in (*stores, runs_dir())}
    for target in targets:
        needs = PACKAGES[target.tracker] + (SQLITE_PACKAGES if target.where.startswith("sqlite:") else ())
        for module, package in needs:
            if importlib.util.find_spec(module) is None:
                raise MissingDependency(f"--track {target}: tracking to {target.tracker} needs the {package!r} "
                                        f"package: pip install {package}")
        try:
            if target.tracker == "tensorboard":
                check_tensorboard_target(Path(target.where), [], stores)
            else:
                check_mlflow_target(target.where, [], timeout_s, stores)
        except ExportRefused as e:
            raise ExportRefused(f"--track {target}: {e}") from None


class Tracker:
    """Trainer callback: ``run``'s records written to ``targets`` as it trains (see the module docstring).

    A context manager around the job: leaving it ends the tracked runs with how the job ended (finished,
    cancelled by :class:`~core.jobs.kinds.Cancelled` or Ctrl-C, failed by any other error), after the job wrote
    its weights and test metrics. Every failure of a target is said once (``say``) and drops that target; none
    ever reaches the trainer.
    """

    def __init__(self, run: Run, targets: tuple[TrackTarget, ...], *, say: Say = _stderr,
                 experiment: str = DEFAULT_EXPERIMENT, timeout_s: int = MLFLOW_TIMEOUT_S,
                 flush_every_s: float = FLUSH_EVERY_S):
        self.run = run
        self.targets = targets
        self.say = say
        self.experiment = experiment
        self.timeout_s = timeout_s
        self.flush_every_s = flush_every_s
        self.writers: list[tuple[TrackTarget, TensorBoardWriter | MlflowWriter]] = []
        self.info: RunInfo | None = None
        self._env = ExitStack()
        self._last_flush = 0.0
        self._recorder: GradientRecorder | None = None
        self._recorded = 0  # gradient recordings written so far
        self._recorded_at: dict[int, float] = {}  # recording index -> when it was first seen
        self._epoch_tags: dict[str, None] = {}  # the epoch series written: the HParams experiment's metrics

    # -- the job around it ----------------------------------------------------------------------------------------
    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> bool:
        state = FINISHED if kind is None else CANCELLED if issubclass(kind, Cancelled | KeyboardInterrupt) else FAILED
        try:
            self.end(state)
        except Exception as e:  # noqa: BLE001 - the job's own outcome stands, whatever the tracking's end met
            self.say(f"tracking ended with an error: {one_line(e)}")
        return False

    # -- trainer events -------------------------------------------------------------------------------------------
    @_shielded
    def on_train_start(self, trainer: Any) -> None:
        resumed = trainer.epochs_done > 0
        try:
            self.info = run_info(self.run)
        except ValueError as e:  # a damaged run file: nothing to name the tracked run by
            self.say(f"not tracked: {one_line(e)}; the training goes on")
            return
        for target in self.targets:
            writer = self._open(target, resumed)
            if writer is not None:
                self.writers.append((target, writer))
        self._each(lambda w: w.start(self.info))
        self._recorder = next((cb for cb in trainer.callbacks if isinstance(cb, GradientRecorder)), None)
        if self._recorder is not None:  # resumed: the recordings before the resumed step were tracked then
            self._recorded = sum(1 for c in self._recorder.coords if c["step"] < trainer.step)
        self._note_recordings()
        self._last_flush = time.monotonic()

    @_shielded
    def on_batch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if not self.writers:
            return
        scalars = record_scalars(record)
        self._each(lambda w: w.scalars(scalars))
        self._note_recordings()
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self._flush()

    @_shielded
    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if not self.writers:
            return
        epoch, when = record["epoch"], record.get("wall_time")
        scalars = record_scalars(record)
        self._epoch_tags.update(dict.fromkeys(s.tag for s in scalars))
        params = list(trainer.model.named_parameters())
        histograms = (parameter_histograms("weights", ((n, p.data) for n, p in params), epoch, when)
                      + parameter_histograms("gradients", ((n, p.grad) for n, p in params), epoch, when))
        scalars += self._new_decay_curves()
        self._each(lambda w: (w.scalars(scalars), w.histograms(histograms)))
        self._flush()

    @_shielded
    def on_train_end(self, trainer: Any, result: Any) -> None:
        if self.writers:
            decays = self._new_decay_curves()
            self._each(lambda w: w.scalars(decays))
            self._flush()

    # -- the end --------------------------------------------------------------------------------------------------
    def end(self, state: str) -> None:
        """Close every target with the run's ``state``: its test metrics (when it has them), its name as it is now,
        the HParams end, MLflow's state, and a finished run's MLflow model."""
        try:
            if self.writers:
                now = time.time()
                info = self.info
                try:
                    info = run_info(self.run)  # renamed or annotated meanwhile: the end says so
                    test = test_scalars(self.run.test_metrics(), now) if state in (FINISHED, CANCELLED) else []
                except ValueError as e:
                    self.say(f"tracking: {one_line(e)}")
                    test = []
                metrics = [*self._epoch_tags, *(s.tag for s in test)]
                self._each(lambda w: w.scalars(test))
                for target, writer in list(self.writers):
                    if isinstance(writer, MlflowWriter) and state == FINISHED:
                        self._guarded(target, writer, writer.wait)
                        if self._live(writer):  # the model goes into an MLflow run that still runs
                            log_mlflow_model(self.run, target.where, writer.run_id, self.say)
                self._each(lambda w: w.end(info, state, metrics, now))
                for target, writer in list(self.writers):
                    self._guarded(target, writer, writer.close)
                    if self._live(writer):
                        self.say(f"tracked to {target}" + (f" (MLflow run {writer.run_id})"
                                                           if isinstance(writer, MlflowWriter) else ""))
        finally:
            self.writers = []
            self._env.close()

    # -- the targets ----------------------------------------------------------------------------------------------
    def _open(self, target: TrackTarget, resumed: bool) -> TensorBoardWriter | MlflowWriter | None:
        """The writer of ``target``, checked first (:func:`check_targets`); None, said once, when it cannot be."""
        try:
            check_targets((target,), {self.run.path.parent}, timeout_s=self.timeout_s)
            if target.tracker == "tensorboard":
                folder = Path(target.where) / self.run.id
                why = why_not_replaceable(folder, self.run.id)  # a resumed run's own folder is continued
                if why:
                    raise ExportRefused(why)
                folder.mkdir(parents=True, exist_ok=True)
                mark_export(folder, self.run.id, live=True)
                return TensorBoardWriter(folder, flush_secs=max(1, round(self.flush_every_s)))
            self._env.enter_context(scoped_environ(mlflow_environ(target.where, self.timeout_s)))
            client = mlflow_client(target.where)
            exp_id = mlflow_experiment(client, self.experiment, artifact_location(target.where))
            earlier = mlflow_runs_of(client, exp_id, self.run.id) if resumed else []
            return MlflowWriter(client, exp_id, self.info, mlflow_run_id=earlier[0].info.run_id if earlier else None,
                                background=True)
        except Exception as e:  # noqa: BLE001 - whatever the tool raises, the training goes on without it
            self.say(f"not tracking to {target}: {one_line(e)}; the training goes on")
            return None

    def _each(self, action: Callable[[Any], Any]) -> None:
        for target, writer in list(self.writers):
            self._guarded(target, writer, lambda w=writer: action(w))

    def _guarded(self, target: TrackTarget, writer: Any, action: Callable[[], Any]) -> None:
        """Run ``action`` on one target's writer; a failure is said once and drops that target."""
        try:
            action()
        except Exception as e:  # noqa: BLE001 - a full disk, a server gone, a store replaced: the training goes on
            self.writers = [(t, w) for t, w in self.writers if w is not writer]
            self.say(f"tracking to {target} stopped: {one_line(e)}; the training goes on (`python -m core export "
                     f"{self.run.id} --to {target.tracker} {target.where}` writes its records there later)")
            try:
                writer.close()
            except Exception:  # noqa: BLE001, S110 - closing a writer that failed may fail the same way
                pass

    def _live(self, writer: Any) -> bool:
        """Whether ``writer``'s target is still tracked (no failure dropped it)."""
        return any(w is writer for _, w in self.writers)

    def _flush(self) -> None:
        self._each(lambda w: w.flush())
        self._last_flush = time.monotonic()

    # -- gradient recordings --------------------------------------------------------------------------------------
    def _note_recordings(self) -> None:
        """Remember when each new gradient recording was made (it is written at the epoch's end, once its kind is
        settled: the recorder may turn a step's recording into the epoch's)."""
        if self._recorder is not None:
            for i in range(self._recorded, len(self._recorder.records)):
                self._recorded_at.setdefault(i, time.time())

    def _new_decay_curves(self) -> list[Any]:
        if self._recorder is None:
            return []
        self._note_recordings()
        out = []
        for i in range(self._recorded, len(self._recorder.records)):
            coords = self._recorder.coords[i]
            out += decay_scalars(decay_tag(i, coords["kind"], coords["step"]), self._recorder.records[i].dh,
                                 self._recorded_at.get(i))
        self._recorded = len(self._recorder.records)
        return out
