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
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from core.config import config_to_dict
from core.jobs.files import DamagedRun
from core.jobs.names import CANCELLED, CHECKPOINT_DIR, CRASHED, DAMAGED, FAILED, FINISHED, GRADIENTS_FILE, WEIGHTS_FILE
from core.jobs.store import Run, RunStore
from core.models.checkpoint import CheckpointError, verify_digest
from core.paths import runs_dir

FORMATS = ("tensorboard", "mlflow")
DEFAULT_EXPERIMENT = "rnnlab"
EPOCH_FIELDS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "epoch_time_s", "samples_per_s", "loss")
EM_FIELDS = ("log_likelihood", "log_likelihood_per_token")
SKIPPED_BY_DEFAULT = (CHECKPOINT_DIR,)  # run-folder entries left out of MLflow's artifacts unless asked
MLFLOW_BATCH = 1000  # MLflow's limit on metrics per log_batch call
MLFLOW_PARAMS_BATCH = 100  # ... and on params per call
MLFLOW_PARAM_LENGTH = 6000  # MLflow 2.x / 3.x; older releases allowed 500 (read from mlflow when it says)
EXPORT_MARKER = "rnnlab-export.json"  # in each TensorBoard run folder written here: the run it is the export of
EVENT_FILE_PREFIX = "events.out.tfevents."  # TensorBoard's event files, the only other files such a folder holds
MLFLOW_TIMEOUT_S = 15  # seconds an MLflow server has to accept a connection, and again to answer each request
MLFLOW_RETRIES = 2  # a failed request is tried again this many times, 0 s then 2 s apart (MLflow's default is
# 7 retries with growing pauses, ~4 minutes against a server that refuses, and 120 s per silent request)
MLFLOW_MAX_TIMEOUT_S = 600
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file

Say = Callable[[str], None]
Series = dict[str, list[tuple[int, float]]]


def _silent(msg: str) -> None:
    """The default ``say``: messages go only into the returned summary."""


class MissingDependency(ImportError):
    """An optional package the export needs is not installed; the message names it."""


class ExportRefused(ValueError):
    """A target the export must not write to, or cannot: refused before anything is written; the message says why."""


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
    return sum(len(v) for v in ex.series.values()) + len(ex.test)


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


def check_tensorboard_target(root: Path, runs: list[Run]) -> None:
    """Refuse, before anything is written, a folder in a run store, a file, or a run's subfolder the export does
    not own (:func:`why_not_replaceable`): nothing is ever removed that an export did not write."""
    refuse_inside_a_store(root, run_stores(runs), "the TensorBoard folder")
    if root.exists() and not root.is_dir():
        raise ExportRefused(f"the TensorBoard folder {root} is a file, not a folder")
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
def export_tensorboard(runs: list[Run], target: str, *, say: Say = _silent) -> dict[str, Any]:
    """One subfolder of ``target`` per run (its id): scalars, hparams with the test metrics, decay curves.

    Refused with :class:`ExportRefused` before anything is written when ``target`` is in a run store or a run's
    subfolder exists and is not this module's export of that run (:func:`check_tensorboard_target`). A run
    exported before has its subfolder replaced (written beside it, then renamed into place).
    """
    _require("tensorboard", "tensorboard", "exporting to TensorBoard")
    tb = _require("torch.utils.tensorboard", "tensorboard", "exporting to TensorBoard")
    from torch.utils.tensorboard.summary import hparams

    root = Path(target)
    check_tensorboard_target(root, runs)
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
            (tmp / EXPORT_MARKER).write_text(json.dumps({"format": "tensorboard", "run_id": run.id,
                                                         "exported": time.time()}), encoding="utf-8")
            dest = root / run.id
            _put_in_place(tmp, dest, run.id)
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
    requests = _require("requests", "requests", "exporting to an MLflow server")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # verify=False: a probe that sends nothing and trusts no answer
            requests.get(uri.rstrip("/") + "/health", timeout=timeout_s, verify=False, allow_redirects=False)
    except requests.exceptions.Timeout:
        raise ExportRefused(f"the MLflow server at {uri} did not answer within {timeout_s} s") from None
    except requests.exceptions.RequestException as e:
        raise ExportRefused(f"cannot reach the MLflow server at {uri}: {_root_cause(e)}") from None


def check_mlflow_target(uri: str, runs: list[Run], timeout_s: int) -> None:
    """Refuse, before MLflow opens it, a store that must not or cannot be written: one in a run store, a
    ``sqlite:`` target that is not a database (:func:`check_sqlite_target`), a server that does not answer."""
    stores = run_stores(runs)
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
    for run, ex in _read_all(runs, say, skipped, with_checkpoints):
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

    ``options``: ``experiment``, ``with_checkpoints`` and ``timeout_s`` for MLflow. Returns what was exported and
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
    parser.add_argument("--timeout", type=int, default=MLFLOW_TIMEOUT_S, metavar="SECONDS",
                        help=f"mlflow over HTTP: seconds a server has to connect and to answer each request "
                             f"(default {MLFLOW_TIMEOUT_S}; each request is tried {1 + MLFLOW_RETRIES} times)")
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
