"""Stored runs exported to TensorBoard event files or an MLflow tracking store.

``export_runs(runs, "tensorboard", DIR)`` writes one subfolder of ``DIR`` per run (named by its id);
``export_runs(runs, "mlflow", URI)`` makes one MLflow run per RNN Lab run in an experiment (``rnnlab``
by default) of the tracking store at ``URI`` (``sqlite:///path/mlflow.db``, ``file:/path/mlruns`` or a
folder). Both carry the same content, read once per run by :func:`read_run`:

- the hyperparameters: the run's resolved config (``config.json`` through its kind's dataclass),
  flattened to dotted keys (``train.lr``, ``model.cell``), plus ``kind``;
- the series, each a list of ``(step, value)``: per optimiser step ``step/loss``, ``step/grad_norm``,
  ``step/group_grad_norm/<group>`` (not under ``step/grad_norm/``: a folder store keeps each
  metric as a file named by its tag) and ``step/clipped`` (0 or 1), against the step; per epoch
  ``epoch/train_loss``, ``epoch/val_loss``, ``epoch/train_accuracy``, ``epoch/val_accuracy``,
  ``epoch/epoch_time_s``, ``epoch/samples_per_s`` (word2vec: ``epoch/loss``), against the epoch;
  a GMM-HMM's Baum-Welch ``em/log_likelihood/class_<c>`` and ``em/log_likelihood_per_token/class_<c>``
  against the iteration; and, for a run that recorded gradients, one decay curve per recording,
  ``gradient_decay/<i>_<kind>_step_<step>`` (with ``/layer<l>_<fw|bw>`` for deeper or bidirectional
  models): the median over the probe reviews of ``||dL/dh_{T-k}|| / ||dL/dh_T||`` against ``k``
  (:func:`core.analysis.gradients.decay_ratios`);
- the test metrics, ``test/<name>`` (the numbers of ``test_metrics.json``), which are also the
  HParams plugin's metrics in TensorBoard.

MLflow also gets tags (``rnnlab.kind``, ``rnnlab.run_id``, ``rnnlab.label``, ``rnnlab.state``) and the
run folder as artifacts, without ``checkpoint/`` unless asked (``with_checkpoints=True``,
``--with-checkpoints``): the training states there are for resuming, 3-5 times the weights'
size, and ``model.safetensors`` already holds the best weights. Exporting a run again replaces its
earlier export: the TensorBoard subfolder is rewritten, the earlier MLflow run (found by its
``rnnlab.run_id`` tag) is deleted.

A damaged run (a file that fails its checks, :class:`~core.jobs.files.DamagedRun`) is skipped with
a message; the others are exported. ``tensorboard`` and ``mlflow`` (``mlflow-skinny``, with
``sqlalchemy`` and ``alembic`` for a ``sqlite:`` store) are optional: they are imported here only,
and a missing one is one line naming the package to install. The ``export`` command's arguments and
body are :func:`add_export_arguments` and :func:`cmd_export`; the CLI registers them.
Not here: reading runs (``core.jobs.store``), the seed report (``core.report.experiment``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import config_to_dict
from core.jobs.files import DamagedRun
from core.jobs.names import CANCELLED, CRASHED, FAILED, FINISHED, GRADIENTS_FILE
from core.jobs.store import Run, RunStore

FORMATS = ("tensorboard", "mlflow")
DEFAULT_EXPERIMENT = "rnnlab"
EPOCH_FIELDS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "epoch_time_s", "samples_per_s", "loss")
EM_FIELDS = ("log_likelihood", "log_likelihood_per_token")
SKIPPED_BY_DEFAULT = ("checkpoint",)  # run-folder entries left out of MLflow's artifacts unless asked
MLFLOW_BATCH = 1000  # MLflow's limit on metrics per log_batch call
MLFLOW_PARAMS_BATCH = 100  # ... and on params per call
MLFLOW_PARAM_LENGTH = 6000  # MLflow 2.x / 3.x; older releases allowed 500 (read from mlflow when it says)

Say = Callable[[str], None]
Series = dict[str, list[tuple[int, float]]]


def _silent(msg: str) -> None:
    """The default ``say``: messages go only into the returned summary."""


class MissingDependency(ImportError):
    """An optional package the export needs is not installed; the message names it."""


def _require(module: str, package: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(f"{what} needs the {package!r} package: pip install {package}") from None


# ---------------------------------------------------------------------------------- what a run exports
@dataclass
class RunExport:
    """Everything one run exports, read and checked before anything is written."""

    run_id: str
    kind: str
    label: str | None
    state: str
    created: float | None
    finished: float | None
    params: dict[str, Any]  # the flattened resolved config, plus "kind"
    series: Series  # tag -> [(step, value)] in the order recorded
    test: dict[str, float]  # test/<name> -> value
    notes: list[str] = field(default_factory=list)


def flatten_config(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}``; lists stay values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_config(v, f"{key}."))
        else:
            out[key] = v
    return out


def param_text(v: Any) -> str:
    """A hyperparameter as text (MLflow's params are strings; TensorBoard's non-numeric hparams too)."""
    return json.dumps(v) if isinstance(v, list | tuple | dict) else str(v)


def _number(v: Any) -> float | None:
    """A metric value as a float: numbers and booleans (0 or 1); None for anything else."""
    if isinstance(v, bool):
        return float(v)
    return float(v) if isinstance(v, int | float) else None


def metric_series(records: Iterable[dict[str, Any]]) -> Series:
    """The step, epoch and EM series of ``metrics.jsonl``'s records (missing values left out)."""
    series: Series = {}

    def add(tag: str, step: Any, value: Any) -> None:
        x = _number(value)
        if x is not None and isinstance(step, int):
            series.setdefault(tag, []).append((step, x))

    for r in records:
        kind = r.get("kind")
        if kind == "step":
            add("step/loss", r.get("step"), r.get("loss"))
            add("step/grad_norm", r.get("step"), r.get("grad_norm"))
            for group, norm in (r.get("norms") or {}).items():
                add(f"step/group_grad_norm/{group}", r.get("step"), norm)
            add("step/clipped", r.get("step"), r.get("clipped"))
        elif kind == "epoch":
            for name in EPOCH_FIELDS:
                add(f"epoch/{name}", r.get("epoch"), r.get(name))
        elif kind == "em":
            for name in EM_FIELDS:
                add(f"em/{name}/class_{r.get('class')}", r.get("iteration"), r.get(name))
    return series


def gradient_decay_series(run_id: str, path: Path) -> Series:
    """One decay curve per recording of ``gradients.npz``: median ``||dL/dh_{T-k}|| / ||dL/dh_T||`` against ``k``."""
    from core.analysis.gradients import decay_ratios, load_gradients  # here: the CLI's parser imports this module

    try:
        rec = load_gradients(path)
        dh = rec["dh"]  # (R, L, D, B, K)
        if dh.ndim != 5 or len(rec.step) != dh.shape[0] or len(rec.kind) != dh.shape[0]:
            raise ValueError(f"dh has shape {dh.shape} for {len(rec.step)} recordings")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise DamagedRun(run_id, path.name, f"cannot be read ({e})") from None
    n_rec, layers, directions, _, width = dh.shape
    series: Series = {}
    for i in range(n_rec):
        base = f"gradient_decay/{i:03d}_{rec.kind[i]}_step_{int(rec.step[i])}"
        for layer in range(layers):
            for direction in range(directions):
                tag = base if layers * directions == 1 else f"{base}/layer{layer}_{'bw' if direction else 'fw'}"
                ratios = decay_ratios(rec, range(width), record=i, layer=layer, direction=direction)
                points = [(k, r["median"]) for k, r in ratios.items() if math.isfinite(r["median"])]
                if points:
                    series[tag] = points
    return series


def read_run(run: Run) -> RunExport:
    """Read and check what ``run`` exports; :class:`DamagedRun` when one of its files fails its checks."""

    meta = run.config_dict()
    cfg = run.job_config()
    status = run.status()
    tm = run.test_metrics() or {}
    read = run.metrics_read()
    series = metric_series(read.records)
    notes = []
    if read.skipped:
        notes.append(f"metrics.jsonl: {read.skipped} bad line(s) skipped ({'; '.join(read.reasons[:3])})")
    grads = run.file(GRADIENTS_FILE)
    if grads.is_file():
        series.update(gradient_decay_series(run.id, grads))
    test = {f"test/{k}": x for k, v in tm.items() if (x := _number(v)) is not None}
    params = {**flatten_config(config_to_dict(cfg)), "kind": meta.get("kind", "rnn")}
    return RunExport(run_id=run.id, kind=meta.get("kind", "rnn"), label=meta.get("label"), state=status["state"],
                     created=meta.get("created"), finished=status.get(FINISHED), params=params, series=series,
                     test=test, notes=notes)


def _read_all(runs: list[Run], say: Say, skipped: list[dict[str, str]]) -> list[tuple[Run, RunExport]]:
    out = []
    for run in runs:
        try:
            out.append((run, read_run(run)))
        except DamagedRun as e:
            say(f"skipped {run.id}: {e}")
            skipped.append({"run_id": run.id, "reason": str(e)})
            continue
        for note in out[-1][1].notes:
            say(f"{run.id}: {note}")
    return out


def _points(ex: RunExport) -> int:
    return sum(len(v) for v in ex.series.values()) + len(ex.test)


# ---------------------------------------------------------------------------------- TensorBoard
def export_tensorboard(runs: list[Run], target: str, *, say: Say = _silent) -> dict[str, Any]:
    """One subfolder of ``target`` per run (its id): scalars, hparams with the test metrics, decay curves.

    A run exported before has its subfolder replaced (written beside it, then renamed into place).
    """
    _require("tensorboard", "tensorboard", "exporting to TensorBoard")
    tb = _require("torch.utils.tensorboard", "tensorboard", "exporting to TensorBoard")
    from torch.utils.tensorboard.summary import hparams

    root = Path(target)
    root.mkdir(parents=True, exist_ok=True)
    skipped: list[dict[str, str]] = []
    exported = []
    for run, ex in _read_all(runs, say, skipped):
        tmp = Path(tempfile.mkdtemp(prefix=f".{run.id}.", dir=root))
        try:
            writer = tb.SummaryWriter(log_dir=str(tmp))
            try:
                for tag, points in ex.series.items():
                    for step, value in points:
                        writer.add_scalar(tag, value, global_step=step)
                hp = {k: v if _number(v) is not None and not isinstance(v, bool) else param_text(v)
                      for k, v in ex.params.items()}
                file_writer = writer._get_file_writer()  # noqa: SLF001 - add_hparams would write into a subfolder
                for summary in hparams(hp, dict(ex.test)):
                    file_writer.add_summary(summary)
                for tag, value in ex.test.items():
                    writer.add_scalar(tag, value, global_step=0)
            finally:
                writer.close()
            dest = root / run.id
            if dest.exists():
                shutil.rmtree(dest)
            tmp.rename(dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        say(f"exported {run.id} ({ex.kind}, {ex.state}) to {dest}")
        exported.append({"run_id": run.id, "kind": ex.kind, "state": ex.state, "where": str(dest),
                         "tags": len(ex.series) + len(ex.test), "points": _points(ex)})
    return {"to": "tensorboard", "target": str(root), "exported": exported, "skipped": skipped}


# ---------------------------------------------------------------------------------- MLflow
MLFLOW_STATUS = {FINISHED: "FINISHED", CANCELLED: "KILLED", FAILED: "FAILED", CRASHED: "FAILED"}


def _artifact_location(uri: str) -> str | None:
    """Where a new experiment in a ``sqlite:///path/db`` store keeps its artifacts: ``mlartifacts/`` beside the
    database (MLflow's default would be ``./mlruns`` in whatever folder the command runs in)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri[len(prefix):] in ("", ":memory:"):
        return None
    return (Path(uri[len(prefix):]).resolve().parent / "mlartifacts").as_uri()


def _chunks(items: list[Any], n: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _is_file_store(uri: str) -> bool:
    return uri.startswith("file:") or "://" not in uri and not uri.startswith(("sqlite:", "databricks", "http"))


@contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    """Let MLflow 3 open a folder store when the target names one (it refuses them unless
    ``MLFLOW_ALLOW_FILE_STORE=true``: the folder backend is in maintenance mode there)."""
    if not _is_file_store(uri) or os.environ.get("MLFLOW_ALLOW_FILE_STORE"):
        yield
        return
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


def export_mlflow(runs: list[Run], target: str, *, experiment: str = DEFAULT_EXPERIMENT,
                  with_checkpoints: bool = False, say: Say = _silent) -> dict[str, Any]:
    """One MLflow run per run in ``experiment`` of the tracking store ``target``: params, metrics, tags, artifacts.

    An earlier export of the same run (an MLflow run of the experiment tagged with its id) is deleted first.
    A folder store (``file:`` URI or a path) is opened with ``MLFLOW_ALLOW_FILE_STORE=true`` for the export:
    MLflow 3 refuses one otherwise (reading it back needs the same setting).
    """
    with _file_store_allowed(target):
        return _export_mlflow(runs, target, experiment=experiment, with_checkpoints=with_checkpoints, say=say)


def _export_mlflow(runs: list[Run], target: str, *, experiment: str, with_checkpoints: bool,
                   say: Say) -> dict[str, Any]:
    if target.startswith("sqlite:"):
        _require("sqlalchemy", "sqlalchemy", "an MLflow sqlite store")
        _require("alembic", "alembic", "an MLflow sqlite store")
    tracking = _require("mlflow.tracking", "mlflow-skinny", "exporting to MLflow")
    from mlflow.entities import Metric, Param

    try:
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH as limit
    except ImportError:
        limit = MLFLOW_PARAM_LENGTH
    client = tracking.MlflowClient(tracking_uri=target)
    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found else client.create_experiment(
        experiment, artifact_location=_artifact_location(target))
    skipped: list[dict[str, str]] = []
    exported = []
    for run, ex in _read_all(runs, say, skipped):
        for old in client.search_runs([exp_id], filter_string=f"tags.`rnnlab.run_id` = '{run.id}'"):
            client.delete_run(old.info.run_id)
            say(f"{run.id}: replaced its earlier export (MLflow run {old.info.run_id})")
        start_ms = int((ex.created or time.time()) * 1000)
        tags = {"rnnlab.kind": ex.kind, "rnnlab.run_id": run.id, "rnnlab.label": ex.label or "",
                "rnnlab.state": ex.state}
        mrun = client.create_run(exp_id, start_time=start_ms, tags=tags, run_name=ex.label or run.id)
        mid = mrun.info.run_id
        params, truncated = [], []
        for k, v in ex.params.items():
            text = param_text(v)
            if len(text) > limit:
                truncated.append(k)
                text = text[:limit - 3] + "..."
            params.append(Param(k, text))
        if truncated:
            say(f"{run.id}: params cut to MLflow's {limit} characters (config.json has them whole): "
                f"{', '.join(truncated)}")
            client.set_tag(mid, "rnnlab.params_truncated", ",".join(truncated)[:limit])
        for chunk in _chunks(params, MLFLOW_PARAMS_BATCH):
            client.log_batch(mid, params=chunk)
        metrics = [Metric(tag, value, start_ms, step) for tag, points in ex.series.items() for step, value in points]
        metrics += [Metric(tag, value, start_ms, 0) for tag, value in ex.test.items()]
        for chunk in _chunks(metrics, MLFLOW_BATCH):
            client.log_batch(mid, metrics=chunk)
        artifacts = 0
        for entry in sorted(run.path.iterdir()):
            if entry.name.startswith(".") or (entry.name in SKIPPED_BY_DEFAULT and not with_checkpoints):
                continue  # dot names: temporary files being written
            if entry.is_dir():
                client.log_artifacts(mid, str(entry), artifact_path=entry.name)
                artifacts += sum(1 for p in entry.rglob("*") if p.is_file())
            elif entry.is_file():
                client.log_artifact(mid, str(entry))
                artifacts += 1
        if ex.state in MLFLOW_STATUS:  # a queued or running run stays RUNNING: export it again when it ends
            end = ex.finished if ex.finished else None
            client.set_terminated(mid, MLFLOW_STATUS[ex.state], end_time=int(end * 1000) if end else None)
        say(f"exported {run.id} ({ex.kind}, {ex.state}) as MLflow run {mid}")
        exported.append({"run_id": run.id, "kind": ex.kind, "state": ex.state, "mlflow_run_id": mid,
                         "params": len(params), "params_truncated": truncated, "points": _points(ex),
                         "artifacts": artifacts})
    return {"to": "mlflow", "target": target, "experiment": experiment, "experiment_id": exp_id,
            "exported": exported, "skipped": skipped}


# ---------------------------------------------------------------------------------- entry points
def export_runs(runs: list[Run], to: str, target: str, *, say: Say = _silent, **options: Any) -> dict[str, Any]:
    """Export ``runs`` to ``to`` (``tensorboard``: a folder; ``mlflow``: a tracking URI) at ``target``.

    ``options``: ``experiment`` and ``with_checkpoints`` for MLflow. Returns what was exported and
    what was skipped (``{"exported": [...], "skipped": [{"run_id", "reason"}], ...}``).
    """
    if to == "tensorboard":
        return export_tensorboard(runs, target, say=say, **options)
    if to == "mlflow":
        return export_mlflow(runs, target, say=say, **options)
    raise ValueError(f"unknown export format {to!r}; expected one of {FORMATS}")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export`` command's arguments: ``RUN... --to tensorboard DIR | mlflow URI``."""
    parser.add_argument("run_ids", nargs="+", metavar="RUN", help="run ids to export")
    parser.add_argument("--to", nargs=2, required=True, metavar=("FORMAT", "TARGET"),
                        help="tensorboard DIR (one subfolder per run) or mlflow URI "
                             "(sqlite:///path/mlflow.db, file:/path/mlruns or a folder)")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                        help=f"mlflow: the experiment's name (default {DEFAULT_EXPERIMENT})")
    parser.add_argument("--with-checkpoints", action="store_true",
                        help="mlflow: also upload checkpoint/ (the training states for resuming)")
    parser.add_argument("--runs-dir", help="where runs are stored (default $RNNLAB_HOME/runs)")
    parser.add_argument("--json", action="store_true", help="print what was exported and skipped as JSON")


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
    options = {"experiment": args.experiment, "with_checkpoints": args.with_checkpoints} if to == "mlflow" else {}

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result = export_runs(runs, to, target, say=say, **options)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{len(result['exported'])} run(s) exported to {to} at {target}"
              + (f", {len(result['skipped'])} skipped" if result["skipped"] else ""))
    return 1 if result["skipped"] else 0
