"""The run store: one folder per run under ``$RNNLAB_HOME/runs``; every kind of job is a run.

A run folder holds:

- ``config.json``: written once when the run is created: ``kind`` (``rnn``, ``hmm``, ``word2vec``,
  ``memory-horizon``, ``experiment``, ``data``), ``label``, ``created`` and the fields of the kind's
  config (``core.config.JOB_CONFIGS``), resolved: what the job will really use. The one figure
  only the data can give, an RNN's vocabulary size, is ``vocab.json``'s length (:meth:`Run.model_config`);
- ``status.json``: state (queued / running / finished / failed / cancelled), the process that
  owns the run (:class:`~core.jobs.process.ProcessId`: pid, start time, host), heartbeat,
  progress, error text, and the targets a training is tracked to live (``track``, a launch option kept out of
  ``config.json``: :mod:`core.jobs.targets`); written only by ``core.jobs.lifecycle`` (and the launcher);
- ``cancel``: present when someone asked the job to stop;
- ``metrics.jsonl``: one JSON record per optimiser step (``"kind": "step"``) and per epoch
  (``"kind": "epoch"``), appended while training; a torn last line after a crash is skipped;
- ``checkpoint/``: the last and best training states (RNN runs, every epoch; ``core.training``);
- ``model.safetensors`` and ``vocab.json``: the best weights (never pickled) and the vocabulary;
- ``test_metrics.json``: the final numbers on the test split;
- ``gradients.npz``, ``hmm.npz``, ``vectors.npy``, ``results.json`` ...: what each kind of job produces;
- ``annotations.json``: what a user wrote about the run (a name, a note, hidden or not), the one file
  that changes after the run ended (:meth:`Run.annotate`); a bad one is ignored, never "damaged".

- ``.owner.lock``: the lock the owning process holds while it runs the job (:meth:`Run.owned`): one
  owner at a time, released by the kernel when that process ends, however it ends.

A stored state of ``queued`` or ``running`` whose process is gone, or whose heartbeat is older than
:data:`HEARTBEAT_TIMEOUT_S` or further ahead of this machine's clock than :data:`HEARTBEAT_SKEW_S`
(whatever host wrote it), reads as ``crashed`` (:func:`crash_reason`).
Every file is read through its validating reader (``core.jobs.files``): a damaged one raises
:class:`~core.jobs.files.DamagedRun` ("run ID is damaged: FILE: why"); :meth:`RunStore.list` lists a
damaged run and :meth:`Run.summary` gives it a row with status ``damaged``, so one bad folder never
hides the others, and it can be deleted.
This module only stores and reads; running jobs lives in ``core.jobs.lifecycle``.
Every file another process reads is written atomically (``core.atomic``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab.core import atomic
from rnnlab.core.config import BUILTIN_DATASET, JOB_CONFIGS, TEXT_TASK, ModelConfig, RunConfig, config_to_dict
from rnnlab.core.jobs import files, labels
from rnnlab.core.jobs.files import META_KEYS, DamagedRun  # noqa: F401 - re-exported: the store's vocabulary
from rnnlab.core.jobs.names import (  # noqa: F401 - ACTIVE and STATES re-exported: the store's vocabulary
    ACTIVE,
    ANNOTATIONS_FILE,
    CANCEL_FILE,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    CRASHED,
    DAMAGED,
    EVALUATIONS_FILE,
    FINISHED,
    METRICS_FILE,
    OWNER_LOCK,
    QUEUED,
    STATES,
    STATUS_FILE,
    TEST_METRICS_FILE,
    UNKNOWN,
    VOCAB_FILE,
    WEIGHTS_FILE,
)
from rnnlab.core.jobs.process import Hold, LockHeld, ProcessId, alive, exclusive
from rnnlab.core.models.safetensors_header import HeaderError, read_safetensors_header
from rnnlab.core.paths import runs_dir
from rnnlab.core.training.checkpointing import remove_partial_writes

HEARTBEAT_TIMEOUT_S = 60.0  # an owned run silent this long reads as crashed, whatever host it names (12 missed beats)
HEARTBEAT_SKEW_S = 30.0  # a heartbeat further ahead of this machine's clock than this is stale too: a clock gone wrong
UNCLAIMED_TIMEOUT_S = 60.0  # a queued run that no process has claimed for this long never started
ONE_OWNER = "a run has one owner at a time, so nothing was changed"  # the end of every refusal to share a run
OWNER_EXIT_S = 3.0  # how long a claim waits for the lock of an owner that reads as gone (its exit finishing)
# files that processes other than the owner write into a run folder (the launcher's claim, a user's note, an
# evaluation): their temporaries are left to their writers unless older than this many seconds
SHARED_FILES = {STATUS_FILE: 60.0, ANNOTATIONS_FILE: 60.0, EVALUATIONS_FILE: 60.0}
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class RunNotFound(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class RunBusy(ValueError):
    """Another process owns the run (holds its lock): nothing was changed."""


def new_run_id(name: str, now_ns: int | None = None) -> str:
    """``YYYYMMDD-HHMMSS-mmm-NAME-xxxxxx``: sorts by creation time to the millisecond."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now_ns // 1_000_000_000))
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "run"
    return f"{stamp}-{(now_ns // 1_000_000) % 1000:03d}-{safe}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Run:
    """A handle on one run folder; cheap to create, reads lazily."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    # -- config -------------------------------------------------------------------------
    # Every reader below goes through core.jobs.files: a file that fails its checks raises DamagedRun.
    def config_dict(self) -> dict[str, Any]:
        """``config.json`` as stored, validated: the kind's config fields plus ``kind``, ``label``, ``created``."""
        return files.read_config(self.id, self.path / CONFIG_FILE)[0]

    @property
    def kind(self) -> str:
        """The run's kind, from ``config.json`` (only the kind is checked: a job whose config is
        otherwise damaged still reaches its lifecycle, which records the damage as its failure)."""
        return files.read_kind(self.id, self.path / CONFIG_FILE)

    def job_config(self) -> Any:
        """The run's config as its kind's dataclass (``core.config.JOB_CONFIGS``), validated."""
        return files.read_config(self.id, self.path / CONFIG_FILE)[1]

    def config_key(self) -> dict[str, Any]:
        """The run's config as :func:`~core.config.config_to_dict` gives it today: every field, those added since
        the run was made at their defaults, which are the values it trained with. What reuse compares."""
        return config_to_dict(self.job_config())

    def config(self) -> RunConfig:
        """An RNN run's :class:`~core.config.RunConfig`."""
        cfg = self.job_config()
        if not isinstance(cfg, RunConfig):
            raise ValueError(f"run {self.id} is a {self.kind!r} run, not a recurrent network's")
        return cfg

    def vocabulary(self) -> Any:
        """The run's :class:`~core.data.text.Vocabulary` (``vocab.json``), validated."""
        return files.read_vocabulary(self.id, self.path / VOCAB_FILE)

    def model_config(self) -> ModelConfig:
        """The model an RNN run trained: its config, with the vocabulary's size for text tasks.

        The vocabulary must fit the weights: as many words as the embedding in ``model.safetensors``
        has rows (read from its header only) when the run has weights.
        """
        from dataclasses import replace

        cfg = self.config()
        if cfg.model.input_size is not None:  # real-valued inputs: no vocabulary
            return cfg.model
        words = len(self.vocabulary())
        try:
            rows = read_safetensors_header(self.path / WEIGHTS_FILE).get("embedding.weight")
        except HeaderError:  # no weights yet, or damaged ones: loading them says so
            rows = None
        if rows is not None and rows.shape[:1] != (words,):
            raise files.DamagedRun(self.id, VOCAB_FILE, f"{words:,} entries, but the embedding in "
                                                          f"model.safetensors has {rows.shape[0]:,} rows")
        return replace(cfg.model, vocab_size=words)

    # -- status -------------------------------------------------------------------------
    def stored_status(self) -> dict[str, Any]:
        """status.json as written, validated; ``{}`` when missing or damaged.

        For the lifecycle, which owns the file and rewrites it (a damaged one is replaced by its
        next write); readers that show a run use :meth:`status`, which reports the damage.
        """
        try:
            return files.read_status(self.id, self.path / STATUS_FILE) or {}
        except files.DamagedRun:
            return {}

    def process(self) -> ProcessId | None:
        """The process that owns the run, as recorded (None before any process claimed it, or when damaged)."""
        return ProcessId.from_dict(self.stored_status().get("process"))

    def status(self) -> dict[str, Any]:
        """The stored status, with ``state`` turned into ``crashed`` when its process is gone.

        ``{"state": "unknown"}`` before any status was written; :class:`DamagedRun` for a damaged one.
        """
        st = files.read_status(self.id, self.path / STATUS_FILE)
        if st is None:
            return {"state": UNKNOWN}
        if st.get("state") in ACTIVE:
            why = crash_reason(st)
            if why:
                st["stored_state"] = st["state"]
                st["state"] = CRASHED
                st["error"] = st.get("error") or why
        return st

    def write_status(self, st: dict[str, Any]) -> dict[str, Any]:
        """Replace status.json (the lifecycle's job; stamps the heartbeat)."""
        st = {**st, "heartbeat": time.time()}
        atomic.write_json(self.path / STATUS_FILE, st)
        return st

    def update_status(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into status.json and refresh the heartbeat."""
        return self.write_status({**self.stored_status(), **fields})

    # -- ownership ----------------------------------------------------------------------
    @contextmanager
    def owned(self) -> Iterator[Hold]:
        """Own the run for the block: its lock, held by this process (this thread), or :class:`RunBusy`.

        What makes a claim exclusive: whoever writes the run's state or runs its job holds this. A
        lock handed over by a launcher is taken up; within one thread it nests (resume, then launch).
        """
        if not (self.path / CONFIG_FILE).is_file():  # no lock file may make a stray folder
            raise RunNotFound(f"no run {self.id!r} in {self.path.parent}")
        # a killed owner reads as gone a moment before the kernel has closed its files (the last of its threads
        # still exiting): wait that moment out, but refuse at once while the recorded owner lives
        wait_s = OWNER_EXIT_S if alive(self.process()) is False else 0.0
        try:
            with exclusive(self.path / OWNER_LOCK, wait_s) as hold:
                yield hold
        except LockHeld:
            raise RunBusy(f"run {self.id} is already being run by {self.owner_text()}; {ONE_OWNER}") from None

    def owner_text(self) -> str:
        """Who the status says owns the run, for a message."""
        proc = self.process()
        if proc is None:
            return "another process"
        return f"process {proc.pid}" + ("" if proc.local else f" on {proc.host}")

    def remove_partial_writes(self) -> list[Path]:
        """Remove what writes cut short by a crash left in the run folder (its own temporaries only).

        For the owner, before its job writes again: :mod:`core.atomic`'s temporaries and the
        safetensors library's, in the run folder and its subfolders; any other file stays.
        """
        removed = remove_partial_writes(self.path, shared=SHARED_FILES)
        for sub in sorted(p for p in self.path.iterdir() if p.is_dir() and not p.is_symlink()):
            removed += remove_partial_writes(sub, shared=SHARED_FILES if sub.name != CHECKPOINT_DIR else None)
        return removed

    # -- cancel -------------------------------------------------------------------------
    def request_cancel(self) -> None:
        (self.path / CANCEL_FILE).touch()

    @property
    def cancel_requested(self) -> bool:
        return (self.path / CANCEL_FILE).exists()

    # -- metrics ------------------------------------------------------------------------
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        """Append records to metrics.jsonl (one write, so a crash tears at most the last line)."""
        if not records:
            return
        lines = "".join(json.dumps(r, allow_nan=True) + "\n" for r in records)
        with open(self.path / METRICS_FILE, "a", encoding="utf-8") as f:
            f.write(lines)

    def metrics(self, kind: str | None = None) -> list[dict[str, Any]]:
        """All metric records (optionally of one kind); a torn, corrupt or mistyped line is skipped."""
        return self.metrics_read(kind).records

    def metrics_read(self, kind: str | None = None) -> files.MetricsRead:
        """The metric records with how many lines were skipped and why (:func:`core.jobs.files.read_metrics`)."""
        return files.read_metrics(self.id, self.path / METRICS_FILE, kind)

    def cut_metrics(self, last_epoch: int) -> int:
        """Keep only the records of epochs up to ``last_epoch`` (-1: none); returns how many were dropped.

        A resumed training continues after its last checkpointed epoch: the steps it logged after
        that checkpoint would otherwise appear twice. Bad lines go too. The file is rewritten atomically.
        """
        path = self.path / METRICS_FILE
        if not path.exists():
            return 0
        kept, dropped = [], 0
        for line, rec in files.metric_lines(path, max_bytes=float("inf")):  # all of it: the file is rewritten
            epoch = rec.get("epoch") if isinstance(rec, dict) else None
            if isinstance(rec, str) or (isinstance(epoch, int) and epoch > last_epoch):
                dropped += 1
            else:
                kept.append(line if line.endswith(b"\n") else line + b"\n")
        with atomic.atomic_path(path) as tmp:
            tmp.write_bytes(b"".join(kept))
        return dropped

    # -- annotations --------------------------------------------------------------------
    def annotations(self) -> files.Annotations:
        """The run's name, note and hidden flag (``annotations.json``); empty when it has none or a bad one."""
        return files.read_annotations(self.id, self.path / ANNOTATIONS_FILE)[0]

    def annotated(self, *, name: str | None = None, note: str | None = None,
                  hidden: bool | None = None) -> files.Annotations:
        """The run's annotations with these changes (None: keep), checked; nothing is written.

        The name's whitespace is collapsed to single spaces (one line, at most ``MAX_NAME_CHARS``
        characters), the note is stripped (at most ``MAX_NOTE_CHARS``); ``ValueError`` otherwise.
        """
        old = self.annotations()
        new = files.Annotations(name=old.name if name is None else " ".join(str(name).split()),
                                note=old.note if note is None else str(note).strip(),
                                hidden=old.hidden if hidden is None else bool(hidden))
        why = files.annotations_problem(new.to_dict())
        if why:
            raise ValueError(f"run {self.id}: {why}")
        return new

    def annotate(self, *, name: str | None = None, note: str | None = None,
                 hidden: bool | None = None) -> files.Annotations:
        """Change the run's name, note or hidden flag (None: keep it); returns the annotations as written.

        Checked as :meth:`annotated` says: a name or note that does not fit is refused with
        ``ValueError`` and nothing is written. A bad file is replaced. Written atomically: a reader
        sees the old annotations or the new ones.
        """
        new = self.annotated(name=name, note=note, hidden=hidden)
        if not (self.path / CONFIG_FILE).is_file():  # deleted meanwhile: do not make a stray folder
            raise RunNotFound(f"no run {self.id!r} in {self.path.parent}")
        atomic.write_json(self.path / ANNOTATIONS_FILE, new.to_dict())
        return new

    # -- results ------------------------------------------------------------------------
    def test_metrics(self) -> dict[str, Any] | None:
        """``test_metrics.json`` validated; None when the run has none (yet)."""
        return files.read_test_metrics(self.id, self.path / TEST_METRICS_FILE)

    def write_json(self, name: str, obj: Any) -> None:
        atomic.write_json(self.path / name, obj)

    def read_json(self, name: str) -> Any:
        """A JSON file of the run, checked against its schema (``core.jobs.files``); DamagedRun if it fails."""
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"{name!r} is not a file name of a run")
        return files.read_run_json(self.id, self.path / name)

    def file(self, name: str) -> Path:
        return self.path / name

    def summary(self) -> dict[str, Any]:
        """One row for tables: label, model, status, quality, headline test metrics and timings, name and note.

        ``label`` and ``quality`` come from :mod:`core.jobs.labels`; ``name``, ``note`` and ``hidden`` from
        ``annotations.json`` (a bad one is ignored, with why in ``annotation_warning``).
        Never raises for a damaged run: its row has ``status="damaged"`` and the file and reason in ``error``.
        Checked: config.json, status.json, test_metrics.json, and where the run has them vocab.json
        and the header of model.safetensors (intact, one embedding row per vocabulary entry).
        """
        try:
            cfg, job_cfg = files.read_config(self.id, self.path / CONFIG_FILE)
            st = self.status()
            stored_tm = self.test_metrics()
            self._check_model_files()
        except files.DamagedRun as e:
            return self._damaged_row(e)
        tm = stored_tm or {}
        model = cfg.get("model", {}) if isinstance(cfg.get("model"), dict) else {}
        train = cfg.get("train", {}) if isinstance(cfg.get("train"), dict) else {}
        kind = cfg.get("kind", "rnn")
        ann, warning = files.read_annotations(self.id, self.path / ANNOTATIONS_FILE)
        classes = tm.get("classes")
        return {
            "run_id": self.id,
            "dataset": run_dataset(cfg),
            "label": labels.run_label(self.id, kind, job_cfg, given=cfg.get("label"), name=ann.name or None,
                                      trained_on=_count(tm.get("train_size"))),
            "name": ann.name,
            "note": ann.note,
            "hidden": ann.hidden,
            "quality": labels.quality(st.get("state"), stored_tm, kind=kind, task=train.get("task", "imdb"),
                                      imported=bool(cfg.get("imported"))),
            "annotation_warning": warning,
            "classes": len(classes) if isinstance(classes, list) else None,
            "kind": kind,
            "model": cfg.get("label") or model.get("cell", "?"),
            "cell": model.get("cell"),
            "task": train.get("task"),
            "preset": train.get("preset"),
            "layers": model.get("num_layers"),
            "bidirectional": model.get("bidirectional"),
            "status": st.get("state"),
            "error": st.get("error"),
            "created": cfg.get("created"),
            "test_accuracy": tm.get("accuracy"),
            "precision": tm.get("precision"),
            "recall": tm.get("recall"),
            "f1": tm.get("f1"),
            "roc_auc": tm.get("roc_auc"),
            "train_time_s": tm.get("train_time_s"),
            "samples_per_s": tm.get("train_samples_per_s"),
            "inference_samples_per_s": tm.get("inference_samples_per_s"),
            "params_pytorch": tm.get("params_recurrent_pytorch"),
            "params_seed_formula": tm.get("params_recurrent_seed_formula"),
            "params_total": tm.get("params_total"),
        }

    def _check_model_files(self) -> None:
        """DamagedRun when the weights' header is unreadable or the vocabulary does not fit them (cheap: no tensors).

        The header only, never the digest written with the weights (``core.models.checkpoint.DIGEST_KEY``): the
        list reads every run, and hashing every run's weights each time would read them all from disk (a default
        LSTM's 8 MB: ~5 ms of SHA-256 each, warm). A flipped bit is told where the weights are loaded (predict,
        introspect, evaluate, the pages) or exported, and the run then reads as damaged there, with the reason.
        """
        weights, vocab = self.path / WEIGHTS_FILE, self.path / VOCAB_FILE
        if weights.exists():
            try:
                read_safetensors_header(weights)
            except HeaderError as e:
                raise files.DamagedRun(self.id, weights.name, str(e)) from None
        if vocab.exists():
            cfg = self.job_config()
            if isinstance(cfg, RunConfig) and cfg.model.input_size is None:
                self.model_config()  # the vocabulary, checked against the embedding's rows
            else:
                self.vocabulary()

    def _damaged_row(self, e: files.DamagedRun) -> dict[str, Any]:
        """The table row of a damaged run: what can still be told (its kind and label, if readable) and why."""
        try:
            meta = files.read_json_file(self.id, self.path / CONFIG_FILE)
            meta = meta if files.CONFIG_META(meta) is None else {}
        except files.DamagedRun:
            meta = {}
        row = dict.fromkeys(SUMMARY_KEYS)
        ann, warning = files.read_annotations(self.id, self.path / ANNOTATIONS_FILE)
        kind = meta.get("kind", "rnn" if meta else None)
        row.update(run_id=self.id, kind=kind, model=meta.get("label"), created=meta.get("created"), status=DAMAGED,
                   error=f"{e.file}: {e.reason}", name=ann.name, note=ann.note, hidden=ann.hidden,
                   annotation_warning=warning, quality=labels.quality(DAMAGED, None),
                   label=labels.run_label(self.id, kind, None, given=meta.get("label"), name=ann.name or None))
        return row


def run_dataset(cfg: dict[str, Any]) -> str | None:
    """The dataset a run read, by name (``imdb`` for IMDB), from its stored config; None for a run that reads none
    (a synthetic task, a memory-horizon study, a data job, a sweep) or vectors imported from elsewhere."""
    kind = cfg.get("kind", "rnn")
    if kind == "experiment":
        part = cfg
    elif kind in ("rnn", "hmm", "word2vec") and not (kind == "word2vec" and cfg.get("imported")):
        train = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
        if train.get("task", TEXT_TASK) != TEXT_TASK:
            return None
        part = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    else:
        return None
    name = part.get("dataset")
    return name if isinstance(name, str) and name else BUILTIN_DATASET


def crash_reason(st: dict[str, Any]) -> str | None:
    """Why a stored status of ``queued`` or ``running`` no longer means a live job; None while it does.

    Its process is gone (pid, start time and command line no longer match); or its heartbeat,
    whatever host wrote it, is older than :data:`HEARTBEAT_TIMEOUT_S` or further ahead of this
    machine's clock than :data:`HEARTBEAT_SKEW_S`; or no process ever claimed it.
    """
    proc = ProcessId.from_dict(st.get("process"))
    beat = st.get("heartbeat")
    silent = time.time() - float(beat) if isinstance(beat, int | float) else float("inf")
    writer = "" if proc is None or proc.local else f" from {proc.host}"
    if silent < -HEARTBEAT_SKEW_S:  # a beat from the future never ages: it would read as live forever
        return (f"its heartbeat{writer} is {-silent:.0f} s ahead of this machine's clock (more than "
                f"{HEARTBEAT_SKEW_S:.0f} s): a wrong clock, so it cannot tell whether the job still runs")
    if proc is None:
        if silent > UNCLAIMED_TIMEOUT_S:
            return "no process ever took this run (it was never started, or its launch failed)"
        return None
    if alive(proc) is False:
        return "the job's process stopped without finishing (crashed or killed)"
    if silent > HEARTBEAT_TIMEOUT_S:
        return f"no heartbeat{writer} for {silent:.0f} s"
    return None


def _count(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) and x >= 0 else None


SUMMARY_KEYS = ("run_id", "dataset", "label", "name", "note", "hidden", "quality", "annotation_warning", "classes",
                "kind", "model", "cell", "task", "preset", "layers", "bidirectional", "status", "error", "created",
                "test_accuracy", "precision", "recall", "f1", "roc_auc", "train_time_s", "samples_per_s",
                "inference_samples_per_s", "params_pytorch", "params_seed_formula", "params_total")


def _created(run: Run) -> float:
    """When the run was created (its config's ``created``); 0 when that cannot be read."""
    try:
        d = files.read_json_file(run.id, run.path / CONFIG_FILE)
    except DamagedRun:
        return 0.0
    c = d.get("created") if isinstance(d, dict) else None
    return float(c) if isinstance(c, int | float) and not isinstance(c, bool) and abs(c) < 1e12 else 0.0


def _is_run_folder(path: Path) -> bool:
    try:
        return not path.name.startswith(".") and (path / CONFIG_FILE).is_file()
    except OSError:  # a folder we may not look into is still one we list: it reads as damaged
        return not path.name.startswith(".") and path.is_dir()


class RunStore:
    """The folder of runs: create, list, get, find, delete."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else runs_dir()

    def create(self, cfg: Any, *, kind: str | None = None, label: str | None = None,
               extra: dict[str, Any] | None = None) -> Run:
        """Make a new run folder holding its config.json (written once) and a ``queued`` status.

        ``cfg`` is the kind's config dataclass (``core.config.JOB_CONFIGS[kind]``); ``kind`` defaults
        to the one that class describes. No process owns the run yet: the launcher (or
        :func:`core.jobs.lifecycle.run_job`) claims it.
        """
        if kind is None:
            kind = next((k for k, cls in JOB_CONFIGS.items() if type(cfg) is cls), None)
            if kind is None:
                raise TypeError(f"{type(cfg).__name__} describes no kind of run")
        if kind not in JOB_CONFIGS:
            raise ValueError(f"unknown kind of run {kind!r}; expected one of {sorted(JOB_CONFIGS)}")
        if not isinstance(cfg, JOB_CONFIGS[kind]):
            raise TypeError(f"a {kind!r} run is described by a {JOB_CONFIGS[kind].__name__}, not {type(cfg).__name__}")
        self.root.mkdir(parents=True, exist_ok=True)
        now = time.time_ns()
        name = label or (cfg.model.cell if isinstance(cfg, RunConfig) else kind)
        path = self.root / new_run_id(name, now)
        path.mkdir()
        run = Run(path)
        body = {**config_to_dict(cfg), **(extra or {}), "kind": kind, "label": label, "created": now / 1e9}
        run.write_json(CONFIG_FILE, body)
        run.write_status({"state": QUEUED, "process": None})
        return run

    def list(self) -> list[Run]:
        """Runs with a config, newest first (by creation time, to the nanosecond).

        Never raises for one bad folder: a damaged run is listed (its readers say what is wrong).
        """
        if not self.root.is_dir():
            return []
        runs = [Run(p) for p in self.root.iterdir() if _is_run_folder(p)]
        return sorted(runs, key=lambda r: (_created(r), r.id), reverse=True)

    def get(self, run_id: str, *, prefix: bool = False) -> Run:
        """The run with exactly this id; ``prefix=True`` also accepts a unique start of one."""
        # A run id is a folder name: refuse anything that could walk out of the store.
        if not isinstance(run_id, str) or not _ID_RE.match(run_id) or ".." in run_id:
            raise RunNotFound(f"invalid run id {run_id!r}")
        path = self.root / run_id
        if (path / CONFIG_FILE).is_file():
            return Run(path)
        if prefix:
            matches = [r for r in self.list() if r.id.startswith(run_id)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise RunNotFound(f"{run_id!r} starts {len(matches)} run ids: give more of it "
                                  f"({', '.join(r.id for r in matches[:3])}...)")
        raise RunNotFound(f"no run {run_id!r} in {self.root}")

    def find_finished(self, kind: str, cfg: Any) -> Run | None:
        """A finished run of ``kind`` whose resolved config equals ``cfg`` (what makes reruns resume).

        Imported runs were not made from their config here, so they never stand in for a run that asks for one.
        """
        want = config_to_dict(cfg)
        for run in self.list():
            try:
                d = run.config_dict()
                if (d.get("kind", "rnn") == kind and not d.get("imported") and run.status().get("state") == FINISHED
                        and run.config_key() == want):
                    return run
            except (OSError, ValueError):
                continue
        return None

    def delete(self, run_id: str) -> Run:
        """Delete a run that no live process owns (finished, failed, cancelled, crashed, damaged).

        A run whose status.json is damaged names no process we could trust: it can be deleted, unless a
        process holds its lock (:class:`RunBusy`).
        """
        run = self.get(run_id)
        try:
            state = run.status().get("state")
        except DamagedRun:
            state = DAMAGED
        if state in ACTIVE:
            raise ValueError(f"run {run.id} is {state}: cancel it before deleting")
        with run.owned():  # never under a process that still holds it (a live job whose heartbeat went quiet)
            shutil.rmtree(run.path)
        return run

    def summaries(self) -> list[dict[str, Any]]:
        return [r.summary() for r in self.list()]
