"""A run's records written to TensorBoard or MLflow: the one writer behind both the export and live tracking.

What it is: the records as the two tools hold them -- :class:`Scalar` (a tag's value at a step, with the wall
time it was recorded) and :class:`Histogram` (a tensor's values at a step) -- made by :func:`record_scalars` from
one ``metrics.jsonl`` record (an optimiser step, an epoch, a Baum-Welch iteration), by :func:`decay_scalars` from
one gradient recording, by :func:`parameter_histograms` from a model's weights or gradients and by
:func:`test_scalars` from the test metrics; what a run is called and configured with (:class:`RunInfo`,
:func:`run_info`); and one writer per tool with the same shape, ``start(info)``, ``scalars(...)``,
``histograms(...)``, ``flush()``, ``end(info, state, ...)``, ``close()``:

- :class:`TensorBoardWriter`: event files in one folder, every point at its own wall time. The config goes to the
  HParams plugin *typed*: numbers as numbers, booleans as booleans, text as text, lists as JSON text, and a field
  that is None is left out (HParams has no null: its cell stays empty); the session starts at the run's start,
  ends with its state (finished: success, failed: failure, cancelled: unknown, TensorBoard having no word for
  it), and the experiment summary written at the end names the metrics (``epoch/...``, ``test/...``). The run's
  label, name and note are a text summary (``rnnlab/run``).
- :class:`MlflowWriter`: one MLflow run, named by the run's label, with its points batched (:data:`MLFLOW_BATCH`
  a call) at their own timestamps. MLflow keeps params as text (``str()``, as ``mlflow.log_params`` does; lists
  as JSON), tags ``rnnlab.kind``, ``rnnlab.run_id``, ``rnnlab.label``, ``rnnlab.name``, ``rnnlab.note``,
  ``rnnlab.state`` and ``mlflow.note.content`` (the note, MLflow's own description field). MLflow has no
  histograms: a histogram is logged as four metrics, ``<tag>/mean``, ``<tag>/std``, ``<tag>/min`` and
  ``<tag>/max``, at its step.

:mod:`core.report.export` feeds a writer a stored run's records afterwards; :mod:`core.report.tracking` feeds one
the trainer's records as they come. ``tensorboard`` and ``mlflow`` are optional: imported only when a writer is
made (:func:`require`: a missing one is one line naming the package to install).
What it is not: reading runs and checking where a writer may write (``core.report.export``), the trainer callback
(``core.report.tracking``).
"""

from __future__ import annotations

import importlib
import itertools
import json
import math
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.core.analysis.gradients import decay_ratios
from rnnlab.core.config import config_to_dict
from rnnlab.core.jobs.names import CANCELLED, CRASHED, FAILED, FINISHED
from rnnlab.core.jobs.store import Run

EPOCH_FIELDS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "epoch_time_s", "samples_per_s", "loss")
EM_FIELDS = ("log_likelihood", "log_likelihood_per_token")
HISTOGRAM_STATS = ("mean", "std", "min", "max")  # what MLflow, which has no histograms, gets of one
RUN_TEXT_TAG = "rnnlab/run"  # TensorBoard's text summary of the run's label, name and note
MLFLOW_BATCH = 1000  # MLflow's limit on metrics per log_batch call
MLFLOW_PARAMS_BATCH = 100  # ... and on params per call
MLFLOW_PARAM_LENGTH = 6000  # MLflow 2.x / 3.x; older releases allowed 500 (read from mlflow when it says)
MLFLOW_STATUS = {FINISHED: "FINISHED", CANCELLED: "KILLED", FAILED: "FAILED", CRASHED: "FAILED"}
HPARAMS_STATUS = {FINISHED: "STATUS_SUCCESS", FAILED: "STATUS_FAILURE", CRASHED: "STATUS_FAILURE"}  # else UNKNOWN


class MissingDependency(ImportError):
    """An optional package a writer needs is not installed; the message names it."""


def require(module: str, package: str, what: str) -> Any:
    """``module`` imported, or :class:`MissingDependency` naming ``package`` to install for ``what``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(f"{what} needs the {package!r} package: pip install {package}") from None


# ---------------------------------------------------------------------------------- the records
@dataclass(frozen=True)
class Scalar:
    """A tag's value at a step, recorded at ``wall_time`` (Unix seconds; None: when it is written)."""

    tag: str
    step: int
    value: float
    wall_time: float | None = None


@dataclass(frozen=True)
class Histogram:
    """A tensor's finite values at a step, recorded at ``wall_time``."""

    tag: str
    step: int
    values: np.ndarray
    wall_time: float | None = None


def number(v: Any) -> float | None:
    """A metric value as a float: numbers and booleans (0 or 1); None for anything else."""
    if isinstance(v, bool):
        return float(v)
    return float(v) if isinstance(v, int | float) else None


def record_scalars(r: dict[str, Any], wall_time: float | None = None) -> list[Scalar]:
    """The scalars of one ``metrics.jsonl`` record at its ``wall_time`` (or the one given), missing values left out:
    a step's ``step/loss``, ``step/grad_norm``, ``step/group_grad_norm/<group>`` and ``step/clipped`` (0 or 1)
    against the step, an epoch's ``epoch/<field>`` against the epoch, a GMM-HMM's EM iteration
    ``em/<field>/class_<c>`` against the iteration."""
    t = wall_time if wall_time is not None else number(r.get("wall_time"))
    out: list[Scalar] = []

    def add(tag: str, step: Any, value: Any) -> None:
        x = number(value)
        if x is not None and isinstance(step, int) and not isinstance(step, bool):
            out.append(Scalar(tag, step, x, t))

    kind = r.get("kind")
    if kind == "step":
        add("step/loss", r.get("step"), r.get("loss"))
        add("step/grad_norm", r.get("step"), r.get("grad_norm"))
        norms = r.get("norms") if isinstance(r.get("norms"), dict) else {}
        for group, norm in norms.items():  # not under step/grad_norm/: a folder store keeps each tag as a file
            add(f"step/group_grad_norm/{group}", r.get("step"), norm)
        add("step/clipped", r.get("step"), r.get("clipped"))
    elif kind == "epoch":
        for name in EPOCH_FIELDS:
            add(f"epoch/{name}", r.get("epoch"), r.get(name))
    elif kind == "em":
        for name in EM_FIELDS:
            add(f"em/{name}/class_{r.get('class')}", r.get("iteration"), r.get(name))
    return out


def decay_tag(index: int, kind: str, step: int) -> str:
    """The tag of a run's ``index``-th gradient recording, made at ``step`` (``kind``: init, step or epoch)."""
    return f"gradient_decay/{index:03d}_{kind}_step_{step}"


def decay_scalars(base: str, dh: np.ndarray, wall_time: float | None = None) -> list[Scalar]:
    """One gradient recording's decay curves under ``base``: the median over the probe reviews of
    ``||dL/dh_{T-k}|| / ||dL/dh_T||`` against ``k`` (:func:`core.analysis.gradients.decay_ratios`), one curve per
    layer and direction (``base/layer<l>_<fw|bw>`` for deeper or bidirectional models). ``dh``: ``(L, D, B, K)``."""
    layers, directions, _, width = dh.shape
    recording = {"dh": dh[None]}  # the one array decay_ratios reads, as a file of one recording holds it
    out = []
    for layer in range(layers):
        for direction in range(directions):
            tag = base if layers * directions == 1 else f"{base}/layer{layer}_{'bw' if direction else 'fw'}"
            ratios = decay_ratios(recording, range(width), record=0, layer=layer, direction=direction)
            out += [Scalar(tag, k, r["median"], wall_time) for k, r in ratios.items() if math.isfinite(r["median"])]
    return out


def parameter_histograms(prefix: str, tensors: Iterable[tuple[str, Any]], step: int,
                         wall_time: float | None = None) -> list[Histogram]:
    """``<prefix>/<name>`` histograms of named tensors (torch or numpy; non-finite values left out) at ``step``."""
    out = []
    for name, x in tensors:
        if x is None:
            continue
        values = np.asarray(x.detach().float().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size:
            out.append(Histogram(f"{prefix}/{name}", step, values, wall_time))
    return out


def histogram_scalars(h: Histogram) -> list[Scalar]:
    """What MLflow, which has no histograms, gets of one: ``<tag>/mean``, ``/std``, ``/min`` and ``/max``."""
    stats = (h.values.mean(), h.values.std(), h.values.min(), h.values.max())
    return [Scalar(f"{h.tag}/{name}", h.step, float(v), h.wall_time) for name, v in zip(HISTOGRAM_STATS, stats,
                                                                                            strict=True)]


def test_scalars(test_metrics: dict[str, Any] | None, wall_time: float | None = None) -> list[Scalar]:
    """``test/<name>`` at step 0 for every number of ``test_metrics.json`` (lists and texts left out)."""
    return [Scalar(f"test/{k}", 0, x, wall_time) for k, v in (test_metrics or {}).items()
            if (x := number(v)) is not None]


# ---------------------------------------------------------------------------------- what a run is
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
    """A hyperparameter as MLflow keeps it: text, as ``mlflow.log_params`` writes it (lists and dicts as JSON)."""
    return json.dumps(v) if isinstance(v, list | tuple | dict) else str(v)


def typed_hparams(params: dict[str, Any]) -> dict[str, bool | float | str]:
    """The hyperparameters as TensorBoard's HParams plugin types them: booleans stay booleans, numbers numbers,
    text text, lists and dicts JSON text; a None is left out (HParams has no null: the run's cell stays empty)."""
    out: dict[str, bool | float | str] = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool | str):
            out[k] = v
        elif isinstance(v, int | float):
            out[k] = float(v)
        else:
            out[k] = param_text(v)
    return out


@dataclass(frozen=True)
class RunInfo:
    """What a tracked or exported run is called and configured with."""

    run_id: str
    kind: str
    label: str  # what the run is shown by: the user's name first (core.jobs.labels.run_label), never empty
    name: str  # the user's name for it ("" when none)
    note: str  # the user's note ("" when none)
    params: dict[str, Any]  # the resolved config flattened to dotted keys, plus "kind", with their JSON types
    start_time: float | None  # when its training started (Unix seconds), else when it was created

    @property
    def tags(self) -> dict[str, str]:
        """MLflow's tags of the run (its state is set when it ends)."""
        return {"rnnlab.kind": self.kind, "rnnlab.run_id": self.run_id, "rnnlab.label": self.label,
                "rnnlab.name": self.name, "rnnlab.note": self.note, "mlflow.note.content": self.note}

    @property
    def text(self) -> str:
        """TensorBoard's text summary of the run (Markdown)."""
        lines = [f"**{self.label}**", "", f"run `{self.run_id}` ({self.kind})"]
        if self.name:
            lines.append(f"name: {self.name}")
        if self.note:
            lines += ["", self.note]
        return "  \n".join(lines)


def run_info(run: Run) -> RunInfo:
    """``run``'s :class:`RunInfo`, read through its validating readers (:class:`~core.jobs.files.DamagedRun` if
    one fails): its label as the run list shows it, its user's name and note, its config, its start."""
    meta = run.config_dict()
    kind = meta.get("kind", "rnn")
    row = run.summary()
    status = run.stored_status()
    start = next((t for t in (status.get("started"), meta.get("created")) if number(t) is not None), None)
    return RunInfo(run_id=run.id, kind=kind, label=str(row.get("label") or run.id), name=row.get("name") or "",
                   note=row.get("note") or "", params={**flatten_config(config_to_dict(run.job_config())),
                                                       "kind": kind},
                   start_time=start)


# ---------------------------------------------------------------------------------- TensorBoard
class TensorBoardWriter:
    """Event files in ``folder``: scalars, histograms, the typed hparams and the run's text, each at its wall time.

    ``flush_secs``: how often the event file is flushed while it is open (TensorBoard's own default is 120 s; a
    live run flushes more often so that its board follows it).
    """

    def __init__(self, folder: str | Path, *, flush_secs: int = 120):
        require("tensorboard", "tensorboard", "TensorBoard")
        tb = require("torch.utils.tensorboard", "tensorboard", "TensorBoard")
        self.writer = tb.SummaryWriter(log_dir=str(folder), flush_secs=flush_secs)
        self._params: dict[str, bool | float | str] = {}
        self._text = ""

    def start(self, info: RunInfo) -> None:
        self._params, self._text = typed_hparams(info.params), info.text
        self._summary(_session_start(self._params, info.start_time), info.start_time)
        self.writer.add_text(RUN_TEXT_TAG, info.text, global_step=0, walltime=info.start_time)

    def scalars(self, scalars: Iterable[Scalar]) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        # one event per record (its scalars share a step and a time), not one per tag: a seventh of add_scalar's cost
        for (step, wall_time), group in itertools.groupby(scalars, key=lambda s: (s.step, s.wall_time)):
            summary = Summary(value=[Summary.Value(tag=s.tag, simple_value=s.value) for s in group])
            self._summary(summary, wall_time, step)

    def histograms(self, histograms: Iterable[Histogram]) -> None:
        for h in histograms:
            self.writer.add_histogram(h.tag, h.values, global_step=h.step, walltime=h.wall_time)

    def flush(self) -> None:
        self.writer.flush()

    def end(self, info: RunInfo, state: str, metrics: Iterable[str], end_time: float | None = None) -> None:
        """The experiment summary (the hparams' types, the metrics by tag) and the session's end with ``state``."""
        self._summary(_experiment(self._params or typed_hparams(info.params), metrics), end_time)
        self._summary(_session_end(state, end_time), end_time)
        if info.text != self._text:  # named or annotated while it trained: the text says so now
            self.writer.add_text(RUN_TEXT_TAG, info.text, global_step=1, walltime=end_time)

    def close(self) -> None:
        self.writer.close()

    def _summary(self, summary: Any, wall_time: float | None, step: int | None = None) -> None:
        # add_hparams would write into a subfolder of its own: the summaries go into this folder's event file
        self.writer._get_file_writer().add_summary(summary, step, wall_time)  # noqa: SLF001


def _hparams_summary(tag: str, **data: Any) -> Any:
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams.metadata import PLUGIN_DATA_VERSION, PLUGIN_NAME
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    content = HParamsPluginData(version=PLUGIN_DATA_VERSION, **data).SerializeToString()
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=content))
    return Summary(value=[Summary.Value(tag=tag, metadata=meta)])


def _session_start(params: dict[str, bool | float | str], start_time: float | None) -> Any:
    from tensorboard.plugins.hparams.metadata import SESSION_START_INFO_TAG
    from tensorboard.plugins.hparams.plugin_data_pb2 import SessionStartInfo

    ssi = SessionStartInfo(start_time_secs=start_time or time.time())
    for k, v in params.items():
        if isinstance(v, bool):  # before numbers: a bool is an int to Python
            ssi.hparams[k].bool_value = v
        elif isinstance(v, float):
            ssi.hparams[k].number_value = v
        else:
            ssi.hparams[k].string_value = v
    return _hparams_summary(SESSION_START_INFO_TAG, session_start_info=ssi)


def _experiment(params: dict[str, bool | float | str], metrics: Iterable[str]) -> Any:
    from tensorboard.plugins.hparams.api_pb2 import DataType, Experiment, HParamInfo, MetricInfo, MetricName
    from tensorboard.plugins.hparams.metadata import EXPERIMENT_TAG

    def kind(v: Any) -> int:
        name = "BOOL" if isinstance(v, bool) else "FLOAT64" if isinstance(v, float) else "STRING"
        return DataType.Value(f"DATA_TYPE_{name}")

    exp = Experiment(hparam_infos=[HParamInfo(name=k, type=kind(v)) for k, v in params.items()],
                     metric_infos=[MetricInfo(name=MetricName(tag=t)) for t in dict.fromkeys(metrics)])
    return _hparams_summary(EXPERIMENT_TAG, experiment=exp)


def _session_end(state: str, end_time: float | None) -> Any:
    from tensorboard.plugins.hparams.api_pb2 import Status
    from tensorboard.plugins.hparams.metadata import SESSION_END_INFO_TAG
    from tensorboard.plugins.hparams.plugin_data_pb2 import SessionEndInfo

    sei = SessionEndInfo(status=Status.Value(HPARAMS_STATUS.get(state, "STATUS_UNKNOWN")),
                         end_time_secs=end_time or time.time())
    return _hparams_summary(SESSION_END_INFO_TAG, session_end_info=sei)


# ---------------------------------------------------------------------------------- MLflow
def mlflow_client(uri: str) -> Any:
    """An ``MlflowClient`` for the tracking store at ``uri``; :class:`MissingDependency` naming what is missing."""
    if uri.startswith("sqlite:"):
        require("sqlalchemy", "sqlalchemy", "an MLflow sqlite store")
        require("alembic", "alembic", "an MLflow sqlite store")
    tracking = require("mlflow.tracking", "mlflow-skinny", "MLflow")
    return tracking.MlflowClient(tracking_uri=uri)


def mlflow_experiment(client: Any, name: str, artifact_location: str | None) -> str:
    """The id of the experiment ``name``, made (with ``artifact_location``) when the store has none."""
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name, artifact_location=artifact_location)


def mlflow_runs_of(client: Any, experiment_id: str, run_id: str) -> list[Any]:
    """The MLflow runs of ``experiment_id`` that hold the RNN Lab run ``run_id`` (its ``rnnlab.run_id`` tag)."""
    return client.search_runs([experiment_id], filter_string=f"tags.`rnnlab.run_id` = '{run_id}'")


class MlflowWriter:
    """One MLflow run: params and tags at the start, points batched at their own timestamps, the state at the end.

    ``mlflow_run_id``: an MLflow run to continue (a resumed training's); else one is made in ``experiment_id``,
    started at the run's start and named by its label. ``background``: batches are sent by a thread of their own
    (a live training does not wait for MLflow's store or server); a send that failed is raised by the next
    :meth:`flush` or by :meth:`end`, in the caller's thread, and nothing more is sent.
    """

    def __init__(self, client: Any, experiment_id: str, info: RunInfo, *, mlflow_run_id: str | None = None,
                 background: bool = False):
        from mlflow.entities import Metric, Param

        self._metric, self._param = Metric, Param
        self.client = client
        if mlflow_run_id is None:
            start_ms = int((info.start_time or time.time()) * 1000)
            mlflow_run_id = client.create_run(experiment_id, start_time=start_ms, tags=info.tags,
                                              run_name=info.label).info.run_id
        else:
            client.update_run(mlflow_run_id, status="RUNNING")
        self.run_id = mlflow_run_id
        self.pending: list[Any] = []
        self.truncated: list[str] = []  # params cut to MLflow's length
        self._failed: BaseException | None = None  # what the sending thread met
        self._batches: queue.Queue[list[Any] | None] | None = None
        if background:
            self._batches = queue.Queue()
            # the thread holds the queue itself: close() drops the writer's reference while the thread drains it
            threading.Thread(target=self._send_all, args=(self._batches,), daemon=True,
                             name=f"mlflow {mlflow_run_id}").start()

    def start(self, info: RunInfo) -> None:
        try:
            from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH as limit
        except ImportError:
            limit = MLFLOW_PARAM_LENGTH
        params = []
        for k, v in info.params.items():
            text = param_text(v)
            if len(text) > limit:
                self.truncated.append(k)
                text = text[:limit - 3] + "..."
            params.append(self._param(k, text))
        if self.truncated:
            self.client.set_tag(self.run_id, "rnnlab.params_truncated", ",".join(self.truncated)[:limit])
        for i in range(0, len(params), MLFLOW_PARAMS_BATCH):
            self.client.log_batch(self.run_id, params=params[i:i + MLFLOW_PARAMS_BATCH])

    def scalars(self, scalars: Iterable[Scalar]) -> None:
        for s in scalars:
            ms = int((s.wall_time if s.wall_time is not None else time.time()) * 1000)
            self.pending.append(self._metric(s.tag, s.value, ms, s.step))
        if len(self.pending) >= MLFLOW_BATCH:
            self.flush()

    def histograms(self, histograms: Iterable[Histogram]) -> None:
        self.scalars(s for h in histograms for s in histogram_scalars(h))

    def flush(self) -> None:
        """Send the pending points (with ``background``: hand them to the sending thread)."""
        self._raise_failure()
        while self.pending:
            chunk, self.pending = self.pending[:MLFLOW_BATCH], self.pending[MLFLOW_BATCH:]
            if self._batches is None:
                self.client.log_batch(self.run_id, metrics=chunk)
            else:
                self._batches.put(chunk)

    def wait(self) -> None:
        """Wait until every point handed over is sent; raise what a send met."""
        self.flush()
        if self._batches is not None:
            self._batches.join()
        self._raise_failure()

    def _send_all(self, batches: queue.Queue[list[Any] | None]) -> None:
        while (chunk := batches.get()) is not None:
            try:
                if self._failed is None:  # after a failure nothing more is sent: the caller drops this writer
                    self.client.log_batch(self.run_id, metrics=chunk)
            except Exception as e:  # noqa: BLE001 - raised again in the caller's thread
                self._failed = e
            finally:
                batches.task_done()
        batches.task_done()

    def _raise_failure(self) -> None:
        if self._failed is not None:
            raise self._failed

    def end(self, info: RunInfo, state: str, metrics: Iterable[str] = (), end_time: float | None = None) -> None:
        """The points still pending, the name and tags as they are now (a run renamed meanwhile), and the state:
        FINISHED, KILLED (cancelled) or FAILED; a queued or running one stays RUNNING."""
        self.wait()
        self.client.update_run(self.run_id, name=info.label)
        for k, v in {**info.tags, "rnnlab.state": state}.items():
            self.client.set_tag(self.run_id, k, v)
        if state in MLFLOW_STATUS:
            self.client.set_terminated(self.run_id, MLFLOW_STATUS[state],
                                       end_time=int(end_time * 1000) if end_time else None)

    def close(self) -> None:
        """Stop the sending thread (after what it holds; a stalled request is left to its timeout)."""
        self.pending = []
        if self._batches is not None:
            self._batches.put(None)
            self._batches = None
