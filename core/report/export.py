"""Stored runs exported to TensorBoard event files or an MLflow tracking store.

``export_runs(runs, "tensorboard", DIR)`` writes one subfolder of ``DIR`` per run (named by its id);
``export_runs(runs, "mlflow", URI)`` makes one MLflow run per RNN Lab run in an experiment (``rnnlab``
by default) of the tracking store at ``URI`` (``sqlite:///path/mlflow.db``, ``file:/path/mlruns`` or a
folder). Both carry the same content, read once per run by :func:`read_run` and written through the writers that
live tracking (``train --track``, :mod:`core.report.tracking`) uses while a run trains
(:mod:`core.report.writers`: the names, types and summaries are described there once):

- the hyperparameters: the run's resolved config (``config.json`` through its kind's dataclass),
  flattened to dotted keys (``train.lr``, ``model.cell``), plus ``kind``; TensorBoard's HParams get them
  typed (booleans stay booleans, a None is left out), MLflow as text;
- the run's label as the run list shows it (its user's name first), its name and note (``runs --name/--note``):
  MLflow's run name and tags, TensorBoard's text ``rnnlab/run``;
- the series: per optimiser step ``step/loss``, ``step/grad_norm``,
  ``step/group_grad_norm/<group>`` (not under ``step/grad_norm/``: a folder store keeps each
  metric as a file named by its tag) and ``step/clipped`` (0 or 1), against the step; per epoch
  ``epoch/train_loss``, ``epoch/val_loss``, ``epoch/train_accuracy``, ``epoch/val_accuracy``,
  ``epoch/epoch_time_s``, ``epoch/samples_per_s`` (word2vec: ``epoch/loss``), against the epoch;
  a GMM-HMM's Baum-Welch ``em/log_likelihood/class_<c>`` and ``em/log_likelihood_per_token/class_<c>``
  against the iteration; and, for a run that recorded gradients, one decay curve per recording,
  ``gradient_decay/<i>_<kind>_step_<step>`` (with ``/layer<l>_<fw|bw>`` for deeper or bidirectional
  models): the median over the probe reviews of ``||dL/dh_{T-k}|| / ||dL/dh_T||`` against ``k``
  (:func:`core.analysis.gradients.decay_ratios`);
- the best weights (``model.safetensors``), one histogram per parameter (``weights/<name>``) at the best epoch:
  the run folder keeps no weights of the other epochs (a live tracking writes them every epoch, gradients too);
- the test metrics, ``test/<name>`` (the numbers of ``test_metrics.json``), which are also the
  HParams plugin's metrics in TensorBoard with the epoch series.

Every point carries the run's own time, not the export's: the ``wall_time`` each step and epoch record of
``metrics.jsonl`` holds (every training writes one since they carry it); the test metrics the run's end; a
gradient recording the time of the step it followed. A run trained before records carried ``wall_time`` gets
times derived from its start (``status.json``'s ``started``) and its epochs' ``epoch_time_s``
(:func:`record_times`: epochs end to end, steps spread over their epoch; GMM-HMM iterations spread from the
start to the end), said in a note.

MLflow also gets tags (``rnnlab.kind``, ``rnnlab.run_id``, ``rnnlab.label``, ``rnnlab.name``, ``rnnlab.note``,
``rnnlab.state``, ``mlflow.note.content``), the run folder as artifacts, without ``checkpoint/`` unless asked
(``with_checkpoints=True``, ``--with-checkpoints``): the training states there are for resuming, 3-5 times the
weights' size, and ``model.safetensors`` already holds the best weights; and a finished run that classifies
text (an RNN's, a GMM-HMM's) is logged as the MLflow model ``model`` of its MLflow run
(:func:`log_mlflow_model`, through :func:`core.report.mlflow_model.log_run_model`; skipped, with one line,
when that fails). Exporting a run again replaces its earlier export or live tracking: the TensorBoard
subfolder is rewritten, the earlier MLflow run (found by its ``rnnlab.run_id`` tag) is deleted.

An export writes only what it owns, and every target is checked before anything is written
(:class:`ExportRefused`, one line): never into a run store or any folder inside it (resolved through
symlinks); a TensorBoard subfolder that already exists is replaced only when it is this project's
export of that run (its :data:`EXPORT_MARKER` names the run, and it holds nothing else but event
files), else the whole export is refused; a ``sqlite:`` target must be an SQLite database (or a new or
empty file) in an existing folder; an MLflow server must answer within ``timeout_s``
(:data:`MLFLOW_TIMEOUT_S`), and each request of the export is bounded by it, tried
1 + :data:`MLFLOW_RETRIES` times (MLflow's own settings, set for the export only).

A damaged run is skipped with a message and the others exported: one the run list shows as damaged
(:meth:`~core.jobs.store.Run.summary`, the same judgment), one whose weights (and, with
``with_checkpoints``, training states) no longer match the digest written with them (read in full
here, unlike the list: :func:`core.models.checkpoint.verify_digest`), or one with another file that
fails its checks (:class:`~core.jobs.files.DamagedRun`). ``tensorboard`` and ``mlflow`` (``mlflow-skinny``, with
``sqlalchemy`` and ``alembic`` for a ``sqlite:`` store) are optional: they are imported only when written to,
and a missing one is one line naming the package to install. The ``export`` command's body is
:func:`cmd_export`; its arguments, and the settings they show, are :mod:`core.report.export_args` (no torch there,
so the CLI's parser builds at once).
Not here: reading runs (``core.jobs.store``), the seed report (``core.report.experiment``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from rnnlab.core.analysis.gradients import load_gradients
from rnnlab.core.config import TEXT_TASK
from rnnlab.core.jobs.files import DamagedRun
from rnnlab.core.jobs.names import CHECKPOINT_DIR, DAMAGED, FINISHED, GRADIENTS_FILE, WEIGHTS_FILE
from rnnlab.core.jobs.store import Run, RunStore
from rnnlab.core.models.checkpoint import CheckpointError, read_weights, verify_digest
from rnnlab.core.paths import runs_dir
from rnnlab.core.report.export_args import DEFAULT_EXPERIMENT, FORMATS, MLFLOW_RETRIES, MLFLOW_TIMEOUT_S
from rnnlab.core.report.writers import (  # noqa: F401 - flatten_config, param_text, MissingDependency: the export's vocabulary
    Histogram,
    MissingDependency,
    MlflowWriter,
    RunInfo,
    Scalar,
    TensorBoardWriter,
    decay_scalars,
    decay_tag,
    flatten_config,
    mlflow_client,
    mlflow_experiment,
    mlflow_runs_of,
    number,
    param_text,
    parameter_histograms,
    record_scalars,
    require,
    run_info,
    test_scalars,
)

SKIPPED_BY_DEFAULT = (CHECKPOINT_DIR,)  # run-folder entries left out of MLflow's artifacts unless asked
MODEL_KINDS = ("rnn", "hmm")  # the kinds of run an MLflow export also logs as a model (core.report.mlflow_model)
EXPORT_MARKER = "rnnlab-export.json"  # in each TensorBoard run folder written here: the run it is the export of
EVENT_FILE_PREFIX = "events.out.tfevents."  # TensorBoard's event files, the only other files such a folder holds
MLFLOW_MAX_TIMEOUT_S = 600
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file

Say = Callable[[str], None]


def _silent(msg: str) -> None:
    """The default ``say``: messages go only into the returned summary."""


class ExportRefused(ValueError):
    """A target the export must not write to, or cannot: refused before anything is written; the message says why."""


# ---------------------------------------------------------------------------------- what a run exports
@dataclass
class RunExport:
    """Everything one run exports, read and checked before anything is written."""

    info: RunInfo  # its id, kind, label, name, note and typed config
    state: str
    finished: float | None
    scalars: list[Scalar]  # the step, epoch and EM records' and the decay curves', each at its wall time
    histograms: list[Histogram]  # the best weights', at the best epoch
    test: list[Scalar]  # test/<name>
    notes: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.info.run_id

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def metric_tags(self) -> list[str]:
        """What the HParams plugin lists as the run's metrics: its epoch series and test figures."""
        return list(dict.fromkeys(s.tag for s in (*self.scalars, *self.test) if s.tag.startswith(("epoch/", "test/"))))


def record_times(records: list[dict[str, Any]], start: float | None, end: float | None) -> list[float | None]:
    """Each record's wall time: its own ``wall_time`` (every step and epoch record of a training since they carry
    one); for an older run's, derived from the run's start and its epochs' ``epoch_time_s``: the epochs laid end
    to end from the start, each step at its share of its epoch's time, each epoch at its end (validation not
    counted: derived times run a little early), and records without timings (a GMM-HMM's EM iterations) spread
    evenly from the start to the end (``end`` None: all at the start). None where the run has no start."""
    durations = {r.get("epoch"): float(r["epoch_time_s"]) for r in records
                 if r.get("kind") == "epoch" and number(r.get("epoch_time_s")) is not None}
    begins: dict[int, float] = {}
    if start is not None:
        t = start
        for epoch in sorted(e for e in durations if isinstance(e, int)):
            begins[epoch], t = t, t + durations[epoch]
    steps = Counter(r.get("epoch") for r in records if r.get("kind") == "step")

    def derivable(r: dict[str, Any]) -> bool:
        return r.get("kind") in ("step", "epoch") and r.get("epoch") in begins

    untimed = [i for i, r in enumerate(records) if number(r.get("wall_time")) is None and not derivable(r)]
    place = {i: (n + 1) / (len(untimed) + 1) for n, i in enumerate(untimed)}
    span = end - start if start is not None and end is not None and end >= start else 0.0
    out: list[float | None] = []
    seen: Counter = Counter()
    for i, r in enumerate(records):
        own = number(r.get("wall_time"))
        if own is not None or start is None:
            out.append(own)
        elif derivable(r):
            epoch = r["epoch"]
            seen[epoch] += r["kind"] == "step"
            share = 1.0 if r["kind"] == "epoch" else seen[epoch] / steps[epoch]
            out.append(begins[epoch] + share * durations[epoch])
        else:
            out.append(start + place[i] * span)
    return out


def gradient_decay_scalars(run_id: str, path: Path, step_times: dict[int, float | None]) -> list[Scalar]:
    """One decay curve per recording of ``gradients.npz`` (:func:`~core.report.writers.decay_scalars`), each at the
    wall time of the optimiser step it was recorded after (``step_times``: steps done -> wall time)."""
    try:
        rec = load_gradients(path)
        dh = rec["dh"]  # (R, L, D, B, K)
        if dh.ndim != 5 or len(rec.step) != dh.shape[0] or len(rec.kind) != dh.shape[0]:
            raise ValueError(f"dh has shape {dh.shape} for {len(rec.step)} recordings")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise DamagedRun(run_id, path.name, f"cannot be read ({e})") from None
    out = []
    for i in range(dh.shape[0]):
        step = int(rec.step[i])
        out += decay_scalars(decay_tag(i, str(rec.kind[i]), step), dh[i], step_times.get(step))
    return out


def check_as_listed(run: Run) -> None:
    """:class:`DamagedRun` when the run list shows ``run`` as damaged: an export skips what the list calls damaged,
    by the list's own judgment (:meth:`~core.jobs.store.Run.summary`), whatever checks it holds."""
    row = run.summary()
    if row["status"] == DAMAGED:
        file, _, reason = str(row["error"]).partition(": ")
        raise DamagedRun(run.id, file, reason)


def check_digests(run: Run, with_checkpoints: bool = False) -> None:
    """:class:`DamagedRun` when a weights file the export passes on (``model.safetensors``, and the training states
    of ``checkpoint/`` when they go too) changed after it was written: its digest, over every byte of it."""
    paths = [run.file(WEIGHTS_FILE)]
    if with_checkpoints:
        paths += sorted(run.file(CHECKPOINT_DIR).glob("*.safetensors"))
    for path in paths:
        if not path.is_file():
            continue
        try:
            verify_digest(path)
        except CheckpointError as e:
            name = path.relative_to(run.path).as_posix()
            raise DamagedRun(run.id, name, str(e).removeprefix(f"{path.name} ")) from None


def read_run(run: Run, *, with_checkpoints: bool = False) -> RunExport:
    """Read and check what ``run`` exports; :class:`DamagedRun` when the run list shows it damaged, when a weights
    file no longer matches its digest (``with_checkpoints``: its training states too) or when one of the files
    read here fails its checks."""
    check_as_listed(run)
    check_digests(run, with_checkpoints)
    info = run_info(run)
    status = run.status()
    tm = run.test_metrics() or {}
    read = run.metrics_read()
    notes = []
    if read.skipped:
        notes.append(f"metrics.jsonl: {read.skipped} bad line(s) skipped ({'; '.join(read.reasons[:3])})")
    finished = number(status.get(FINISHED))
    times = record_times(read.records, info.start_time, finished)
    if any(r.get("kind") in ("step", "epoch") and number(r.get("wall_time")) is None for r in read.records):
        notes.append("metrics.jsonl has no wall times (trained before records carried them): derived from the "
                     "run's start and its epoch times")
    scalars = [s for r, t in zip(read.records, times, strict=True) for s in record_scalars(r, t)]
    # a step's time is when it ended: a gradient recording after n steps is the n-th step's (index n - 1) time
    step_times: dict[int, float | None] = {0: info.start_time}
    step_times.update({r["step"] + 1: t for r, t in zip(read.records, times, strict=True)
                       if r.get("kind") == "step" and isinstance(r.get("step"), int)})
    grads = run.file(GRADIENTS_FILE)
    if grads.is_file():
        scalars += gradient_decay_scalars(run.id, grads, step_times)
    histograms = []
    weights = run.file(WEIGHTS_FILE)
    if weights.is_file():  # the best weights, at the best epoch: per-epoch weights live only in a live tracking
        best = tm.get("best_epoch") if isinstance(tm.get("best_epoch"), int) else 0
        when = next((t for r, t in zip(read.records, times, strict=True)
                     if r.get("kind") == "epoch" and r.get("epoch") == best), finished)
        try:
            histograms = parameter_histograms("weights", read_weights(weights).items(), max(best, 0), when)
        except CheckpointError as e:
            raise DamagedRun(run.id, WEIGHTS_FILE, str(e)) from None
    return RunExport(info=info, state=status["state"], finished=finished, scalars=scalars, histograms=histograms,
                     test=test_scalars(tm, finished), notes=notes)


def _read_all(runs: list[Run], say: Say, skipped: list[dict[str, str]],
              with_checkpoints: bool = False) -> list[tuple[Run, RunExport]]:
    """Each run's export, read and checked; a damaged run is said, recorded in ``skipped`` and left out."""
    out = []
    for run in runs:
        try:
            out.append((run, read_run(run, with_checkpoints=with_checkpoints)))
        except DamagedRun as e:
            say(f"skipped {run.id}: {e}")
            skipped.append({"run_id": run.id, "reason": str(e)})
            continue
        for note in out[-1][1].notes:
            say(f"{run.id}: {note}")
    return out


def _points(ex: RunExport) -> int:
    return len(ex.scalars) + len(ex.test)


# ---------------------------------------------------------------------------------- where an export may write
def run_stores(runs: list[Run]) -> set[Path]:
    """The run stores an export never writes into, resolved: the folders holding ``runs``, and the default store."""
    return {p.resolve() for p in (*(run.path.parent for run in runs), runs_dir())}


def refuse_inside_a_store(target: Path, stores: set[Path], what: str) -> None:
    """:class:`ExportRefused` when ``target`` (resolved through symlinks) is a run store or lies inside one: an export
    there would mix with the runs or replace one (a run's id is the name of its export's folder)."""
    where = target.resolve()
    for store in sorted(stores):
        if where == store or store in where.parents:
            where_it_is = "is the run store" if where == store else f"is inside the run store {store}"
            raise ExportRefused(f"{what} {target} {where_it_is}: an export never writes into the run store; "
                                f"choose a folder outside it")


def _marked_run(marker: Path) -> str | None:
    """The run id an :data:`EXPORT_MARKER` file names; None when it is not one this module wrote."""
    try:
        with open(marker, "rb") as f:
            data = json.loads(f.read(4097)[:4096])
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and data.get("format") == "tensorboard" and isinstance(data.get("run_id"), str)
    return data["run_id"] if ok else None


def why_not_replaceable(dest: Path, run_id: str) -> str | None:
    """Why the export of ``run_id`` may not take the place of ``dest``; None when it may: nothing there, an empty
    folder, or this module's earlier export of that very run (the marker names it) holding nothing else."""
    if dest.is_symlink():
        return f"{dest} is a symbolic link"
    if not dest.exists():
        return None
    if not dest.is_dir():
        return f"{dest} is a file"
    entries = sorted(dest.iterdir())
    if not entries:
        return None
    if _marked_run(dest / EXPORT_MARKER) != run_id:
        return f"{dest} is not RNN Lab's export of run {run_id} (no {EXPORT_MARKER} naming it)"
    others = [p.name for p in entries if p.name != EXPORT_MARKER and not (
        p.name.startswith(EVENT_FILE_PREFIX) and p.is_file() and not p.is_symlink())]
    if others:
        return f"{dest} holds files an export did not write ({', '.join(others[:3])})"
    return None


def check_tensorboard_target(root: Path, runs: list[Run], stores: set[Path] | None = None) -> None:
    """Refuse, before anything is written, a folder in a run store (``stores``, else :func:`run_stores`), a file,
    a folder that cannot be written (or made), or a run's subfolder the export does not own
    (:func:`why_not_replaceable`): nothing is ever removed that an export did not write."""
    refuse_inside_a_store(root, run_stores(runs) if stores is None else stores, "the TensorBoard folder")
    if root.exists() and not root.is_dir():
        raise ExportRefused(f"the TensorBoard folder {root} is a file, not a folder")
    made_in = next((p for p in (root, *root.absolute().parents) if p.exists()), root.anchor)
    where = "" if made_in == root else f" (it would be made in {made_in})"
    if not Path(made_in).is_dir():
        raise ExportRefused(f"the TensorBoard folder {root} cannot be made: {made_in} is a file")
    if not os.access(made_in, os.W_OK | os.X_OK):
        raise ExportRefused(f"the TensorBoard folder {root} cannot be written{where}: permission denied")
    problems = list(dict.fromkeys(why for run in runs if (why := why_not_replaceable(root / run.id, run.id))))
    if problems:
        raise ExportRefused("nothing exported: " + "; ".join(problems) + ". An export replaces only its own "
                            "earlier export of the same run: move these away or export to another folder")


def _put_in_place(tmp: Path, dest: Path, run_id: str) -> None:
    """Rename the finished export ``tmp`` to ``dest``; an earlier export there, checked again to be this run's,
    is moved aside first and removed only once the new one is in place."""
    why = why_not_replaceable(dest, run_id)
    if why:  # changed since the command began
        raise ExportRefused(f"nothing exported for run {run_id}: {why}")
    old = dest.with_name(f".{dest.name}.old-{secrets.token_hex(4)}") if dest.exists() else None
    if old is not None:
        dest.rename(old)
    tmp.rename(dest)
    if old is not None:
        shutil.rmtree(old)


# ---------------------------------------------------------------------------------- TensorBoard
def mark_export(folder: Path, run_id: str, *, live: bool = False) -> None:
    """Write the :data:`EXPORT_MARKER` that makes ``folder`` this module's export of ``run_id`` (``live``: written
    while the run trained, :mod:`core.report.tracking`), so that a later export of the run may replace it."""
    (folder / EXPORT_MARKER).write_text(json.dumps({"format": "tensorboard", "run_id": run_id, "live": live,
                                                    "exported": time.time()}), encoding="utf-8")


def write_export(writer: TensorBoardWriter | MlflowWriter, ex: RunExport,
                 before_end: Callable[[], None] = lambda: None) -> None:
    """Everything ``ex`` holds, through ``writer``: what a live tracking writes as the run trains, at once;
    ``before_end`` runs before the run is ended (MLflow's artifacts and model go into a run still running)."""
    writer.start(ex.info)
    writer.scalars(ex.scalars)
    writer.histograms(ex.histograms)
    writer.scalars(ex.test)
    before_end()
    writer.end(ex.info, ex.state, ex.metric_tags, ex.finished)


def export_tensorboard(runs: list[Run], target: str, *, say: Say = _silent) -> dict[str, Any]:
    """One subfolder of ``target`` per run (its id): scalars, histograms, typed hparams, decay curves, test metrics.

    Refused with :class:`ExportRefused` before anything is written when ``target`` is in a run store or a run's
    subfolder exists and is not this module's export of that run (:func:`check_tensorboard_target`). A run
    exported before (or tracked live) has its subfolder replaced (written beside it, then renamed into place).
    """
    require("tensorboard", "tensorboard", "exporting to TensorBoard")
    require("torch.utils.tensorboard", "tensorboard", "exporting to TensorBoard")
    root = Path(target)
    check_tensorboard_target(root, runs)
    root.mkdir(parents=True, exist_ok=True)
    skipped: list[dict[str, str]] = []
    exported = []
    for run, ex in _read_all(runs, say, skipped):
        tmp = Path(tempfile.mkdtemp(prefix=f".{run.id}.", dir=root))
        try:
            writer = TensorBoardWriter(tmp)
            try:
                write_export(writer, ex)
            finally:
                writer.close()
            mark_export(tmp, run.id)
            dest = root / run.id
            _put_in_place(tmp, dest, run.id)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        say(f"exported {run.id} ({ex.kind}, {ex.state}) to {dest}")
        exported.append({"run_id": run.id, "kind": ex.kind, "state": ex.state, "where": str(dest),
                         "tags": len({s.tag for s in (*ex.scalars, *ex.test)}) + len(ex.histograms),
                         "points": _points(ex)})
    return {"to": "tensorboard", "target": str(root), "exported": exported, "skipped": skipped}


# ---------------------------------------------------------------------------------- MLflow
def artifact_location(uri: str) -> str | None:
    """Where a new experiment in a ``sqlite:///path/db`` store keeps its artifacts: ``mlartifacts/`` beside the
    database (MLflow's default would be ``./mlruns`` in whatever folder the command runs in)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri[len(prefix):] in ("", ":memory:"):
        return None
    return (Path(uri[len(prefix):]).resolve().parent / "mlartifacts").as_uri()


def _is_file_store(uri: str) -> bool:
    return uri.startswith("file:") or "://" not in uri and not uri.startswith(("sqlite:", "databricks", "http"))


def _is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _file_store_path(uri: str) -> Path:
    """The folder of a folder store: a ``file:`` URI's path, or the path given."""
    return Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URI (query string dropped); None for an in-memory one."""
    rest = uri.removeprefix("sqlite:///").partition("?")[0] if uri.startswith("sqlite:///") else ""
    return None if rest in ("", ":memory:") else Path(rest)


def check_sqlite_target(uri: str, stores: set[Path]) -> None:
    """:class:`ExportRefused`, at once, for a ``sqlite:`` target that cannot work or is not the export's to write:
    in a run store, a folder, a file that is not an SQLite database or is a damaged one, another application's
    database, a missing folder, or one that cannot be written (MLflow would retry for minutes, or add its
    tables, and then print SQLAlchemy's error, which names none of these)."""
    db = _sqlite_path(uri)
    if db is None:
        return
    refuse_inside_a_store(db, stores, "the MLflow database")
    if db.is_dir():
        raise ExportRefused(f"{uri}: {db} is a folder, not an SQLite database file; name a file in it")
    if db.exists():
        try:
            with open(db, "rb") as f:
                head = f.read(len(SQLITE_MAGIC))
        except OSError as e:
            raise ExportRefused(f"{uri}: {db} cannot be read ({e.strerror or e})") from None
        if head and head != SQLITE_MAGIC:
            raise ExportRefused(f"{uri}: {db} is not an SQLite database (it does not start with 'SQLite format 3'); "
                                f"name a new file or an MLflow database")
        foreign = _foreign_tables(uri, db) if head else []
        if foreign:
            raise ExportRefused(f"{uri}: {db} is another application's database (it holds {', '.join(foreign[:3])} "
                                f"and no MLflow tables): MLflow would add its tables to it; name a new file")
        if not os.access(db, os.W_OK):
            raise ExportRefused(f"{uri}: {db} cannot be written (permission denied)")
    elif not db.parent.is_dir():
        raise ExportRefused(f"{uri}: the folder {db.parent} does not exist")
    if not os.access(db.parent, os.W_OK | os.X_OK):  # SQLite writes its journal beside the database
        raise ExportRefused(f"{uri}: the folder {db.parent} cannot be written (permission denied)")


def _foreign_tables(uri: str, db: Path) -> list[str]:
    """The tables of an SQLite database that is not MLflow's (it has tables, none named ``experiments``); [] for an
    MLflow database or an empty one. :class:`ExportRefused` for one SQLite cannot read (a damaged file)."""
    try:
        with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as con:
            tables = sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    except sqlite3.Error as e:
        raise ExportRefused(f"{uri}: {db} cannot be read as an SQLite database ({e})") from None
    return [] if not tables or "experiments" in tables else tables


def _root_cause(e: BaseException) -> str:
    """The innermost reason of a network error (``Connection refused``), not the layers of wrappers around it."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [e]
    while todo:
        x = todo.pop()
        if x is None or any(x is y for y in seen):
            continue
        seen.append(x)
        todo += [x.__cause__, x.__context__, *(a for a in (getattr(x, "reason", None), *x.args)
                                                 if isinstance(a, BaseException))]
    for x in reversed(seen):
        if isinstance(x, OSError) and x.strerror:
            return x.strerror
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def check_server_answers(uri: str, timeout_s: int) -> None:
    """:class:`ExportRefused` when the MLflow server at ``uri`` refuses connections or stays silent for
    ``timeout_s``: said within that time, before MLflow's own requests (and their retries) begin."""
    requests = require("requests", "requests", "an MLflow server")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # verify=False: a probe that sends nothing and trusts no answer
            requests.get(uri.rstrip("/") + "/health", timeout=timeout_s, verify=False, allow_redirects=False)
    except requests.exceptions.Timeout:
        raise ExportRefused(f"the MLflow server at {uri} did not answer within {timeout_s} s") from None
    except requests.exceptions.RequestException as e:
        raise ExportRefused(f"cannot reach the MLflow server at {uri}: {_root_cause(e)}") from None


def check_mlflow_target(uri: str, runs: list[Run], timeout_s: int, stores: set[Path] | None = None) -> None:
    """Refuse, before MLflow opens it, a store that must not or cannot be written: one in a run store (``stores``,
    else :func:`run_stores`), a ``sqlite:`` target that is not a database (:func:`check_sqlite_target`), a server
    that does not answer."""
    stores = run_stores(runs) if stores is None else stores
    if uri.startswith("sqlite:"):
        check_sqlite_target(uri, stores)
    elif _is_file_store(uri):
        refuse_inside_a_store(_file_store_path(uri), stores, "the MLflow folder store")
    elif _is_http(uri):
        check_server_answers(uri, timeout_s)


def mlflow_environ(uri: str, timeout_s: int) -> dict[str, str]:
    """MLflow's settings for one export: each HTTP request bounded by ``timeout_s`` (to connect, and to answer) and
    tried 1 + :data:`MLFLOW_RETRIES` times, 0 s then 2 s apart; and a folder store allowed (MLflow 3 refuses one
    unless ``MLFLOW_ALLOW_FILE_STORE=true``: reading it back needs the same setting), unless already set."""
    env = {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(MLFLOW_RETRIES),
           "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0"}
    if _is_file_store(uri) and not os.environ.get("MLFLOW_ALLOW_FILE_STORE"):
        env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    return env


@contextmanager
def scoped_environ(values: dict[str, str]) -> Iterator[None]:
    """Set ``values`` in the environment for the block only (MLflow reads its settings there at each request), and
    put back what was there before, so the process's later work sees its own settings."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def export_mlflow(runs: list[Run], target: str, *, experiment: str = DEFAULT_EXPERIMENT,
                  with_checkpoints: bool = False, timeout_s: int = MLFLOW_TIMEOUT_S,
                  say: Say = _silent) -> dict[str, Any]:
    """One MLflow run per run in ``experiment`` of the tracking store ``target``: params, metrics, tags, artifacts.

    The target is checked first (:func:`check_mlflow_target`: :class:`ExportRefused`, nothing written). An earlier
    export of the same run (an MLflow run of the experiment tagged with its id) is deleted first. MLflow's
    settings for the export (:func:`mlflow_environ`: HTTP timeouts and retries, a folder store allowed) hold
    for the export only.
    """
    if not (isinstance(timeout_s, int) and 1 <= timeout_s <= MLFLOW_MAX_TIMEOUT_S):
        raise ValueError(f"--timeout {timeout_s!r}: expected whole seconds in [1, {MLFLOW_MAX_TIMEOUT_S}]")
    check_mlflow_target(target, runs, timeout_s)
    with scoped_environ(mlflow_environ(target, timeout_s)):
        return _export_mlflow(runs, target, experiment=experiment, with_checkpoints=with_checkpoints, say=say)


def _export_mlflow(runs: list[Run], target: str, *, experiment: str, with_checkpoints: bool,
                   say: Say) -> dict[str, Any]:
    client = mlflow_client(target)
    exp_id = mlflow_experiment(client, experiment, artifact_location(target))
    skipped: list[dict[str, str]] = []
    exported = []
    for run, ex in _read_all(runs, say, skipped, with_checkpoints):
        for old in mlflow_runs_of(client, exp_id, run.id):
            client.delete_run(old.info.run_id)
            say(f"{run.id}: replaced its earlier export (MLflow run {old.info.run_id})")
        exported.append(_export_one(client, exp_id, run, ex, target, with_checkpoints, say))
    return {"to": "mlflow", "target": target, "experiment": experiment, "experiment_id": exp_id,
            "exported": exported, "skipped": skipped}


def _export_one(client: Any, exp_id: str, run: Run, ex: RunExport, target: str, with_checkpoints: bool,
                say: Say) -> dict[str, Any]:
    """One run as a new MLflow run of ``exp_id``: its records, its folder as artifacts, a finished one's model."""
    writer = MlflowWriter(client, exp_id, ex.info)
    extras: dict[str, Any] = {}

    def folder_and_model() -> None:  # into the MLflow run while it still runs
        writer.flush()
        extras["artifacts"] = log_run_folder(client, writer.run_id, run, with_checkpoints)
        extras["model"] = log_mlflow_model(run, target, writer.run_id, say) if ex.state == FINISHED else None

    write_export(writer, ex, before_end=folder_and_model)  # a queued or running run stays RUNNING
    if writer.truncated:
        say(f"{run.id}: params cut to MLflow's length (config.json has them whole): {', '.join(writer.truncated)}")
    say(f"exported {run.id} ({ex.kind}, {ex.state}) as MLflow run {writer.run_id}")
    return {"run_id": run.id, "kind": ex.kind, "state": ex.state, "mlflow_run_id": writer.run_id,
            "params": len(ex.info.params), "params_truncated": writer.truncated, "points": _points(ex),
            "artifacts": extras["artifacts"], "model_uri": extras["model"]}


def log_run_folder(client: Any, mlflow_run_id: str, run: Run, with_checkpoints: bool = False) -> int:
    """The run folder as the MLflow run's artifacts (``checkpoint/`` only ``with_checkpoints``); how many files."""
    count = 0
    for entry in sorted(run.path.iterdir()):
        if entry.name.startswith(".") or (entry.name in SKIPPED_BY_DEFAULT and not with_checkpoints):
            continue  # dot names: temporary files being written
        if entry.is_dir():
            client.log_artifacts(mlflow_run_id, str(entry), artifact_path=entry.name)
            count += sum(1 for p in entry.rglob("*") if p.is_file())
        elif entry.is_file():
            client.log_artifact(mlflow_run_id, str(entry))
            count += 1
    return count


def log_mlflow_model(run: Run, uri: str, mlflow_run_id: str, say: Say = _silent) -> str | None:
    """Log a text-classifying ``run`` (an RNN's, a GMM-HMM's) as the MLflow model ``model`` of the MLflow run
    ``mlflow_run_id`` in the store at ``uri`` (:func:`core.report.mlflow_model.log_run_model`, into that run made
    the active one for the call), and tag that run ``rnnlab.model_uri``; the model's URI. None for a run of
    another kind or task; None, with one line said, when logging fails (the series stay exported); None,
    silently, where this build has no ``core.report.mlflow_model``."""
    if run.kind not in MODEL_KINDS or (run.kind == "rnn" and run.config().train.task != TEXT_TASK):
        return None
    try:
        from rnnlab.core.report.mlflow_model import log_run_model
    except ImportError as e:  # MissingDependency too: mlflow's model flavour not installed
        if not (isinstance(e, ModuleNotFoundError) and e.name == "rnnlab.core.report.mlflow_model"):
            say(f"{run.id}: its MLflow model is not logged: {e}")
        return None
    import mlflow

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(run_id=mlflow_run_id):  # the active run log_run_model logs into
            model_uri = log_run_model(run)
        mlflow_client(uri).set_tag(mlflow_run_id, "rnnlab.model_uri", model_uri)
        return model_uri
    except Exception as e:  # noqa: BLE001 - MLflow's own errors included: the model is one more thing, never the export
        say(f"{run.id}: its MLflow model is not logged: {one_line(e)}")
        return None
    finally:
        mlflow.set_tracking_uri(before)


def one_line(e: BaseException, limit: int = 300) -> str:
    """An error as one bounded line (MLflow's errors span lines and embed whole server answers)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---------------------------------------------------------------------------------- entry points
def export_runs(runs: list[Run], to: str, target: str, *, say: Say = _silent, **options: Any) -> dict[str, Any]:
    """Export ``runs`` to ``to`` (``tensorboard``: a folder; ``mlflow``: a tracking URI) at ``target``.

    ``options``: ``experiment``, ``with_checkpoints`` and ``timeout_s`` for MLflow. Returns what was exported and
    what was skipped (``{"exported": [...], "skipped": [{"run_id", "reason"}], ...}``).
    """
    if to == "tensorboard":
        return export_tensorboard(runs, target, say=say, **options)
    if to == "mlflow":
        return export_mlflow(runs, target, say=say, **options)
    raise ValueError(f"unknown export format {to!r}; expected one of {FORMATS}")


def cmd_export(args: argparse.Namespace) -> int:
    """Export the named runs; 0 when all were exported, 1 when some were skipped as damaged.

    Every id is looked up before anything is written: an unknown one raises
    :class:`~core.jobs.store.RunNotFound` and nothing is exported.
    """

    to, target = args.to
    if to not in FORMATS:
        raise ValueError(f"unknown export format {to!r}; expected one of {FORMATS}")
    store = RunStore(args.runs_dir)
    runs = [store.get(run_id) for run_id in args.run_ids]
    options = {"experiment": args.experiment, "with_checkpoints": args.with_checkpoints,
               "timeout_s": args.timeout} if to == "mlflow" else {}

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result = export_runs(runs, to, target, say=say, **options)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{len(result['exported'])} run(s) exported to {to} at {target}"
              + (f", {len(result['skipped'])} skipped" if result["skipped"] else ""))
    return 1 if result["skipped"] else 0
