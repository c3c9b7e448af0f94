"""The run store: one folder per run under ``$RNNLAB_HOME/runs``; every kind of job is a run.

A run folder holds:

- ``config.json``: written once when the run is created: ``kind`` (``rnn``, ``hmm``, ``word2vec``,
  ``memory-horizon``, ``experiment``, ``data``), ``label``, ``created`` and the fields of the kind's
  config (``core.config.JOB_CONFIGS``), resolved: what the job will really use. The one figure
  only the data can give, an RNN's vocabulary size, is ``vocab.json``'s length (:meth:`Run.model_config`);
- ``status.json``: state (queued / running / finished / failed / cancelled), the process that
  owns the run (:class:`~core.jobs.process.ProcessId`: pid, start time, host), heartbeat,
  progress, error text; written only by ``core.jobs.lifecycle`` (and the launcher);
- ``cancel``: present when someone asked the job to stop;
- ``metrics.jsonl``: one JSON record per optimiser step (``"kind": "step"``) and per epoch
  (``"kind": "epoch"``), appended while training; a torn last line after a crash is skipped;
- ``checkpoint/``: the last and best training states (RNN runs, every epoch; ``core.training``);
- ``model.safetensors`` and ``vocab.json``: the best weights (never pickled) and the vocabulary;
- ``test_metrics.json``: the final numbers on the test split;
- ``gradients.npz``, ``hmm.npz``, ``vectors.npy``, ``results.json`` ...: what each kind of job produces.

A stored state of ``queued`` or ``running`` whose process is gone reads as ``crashed``.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import atomic
from core.config import JOB_CONFIGS, ModelConfig, RunConfig, config_from_dict
from core.jobs.process import ProcessId, alive
from core.paths import runs_dir

STATES = ("queued", "running", "finished", "failed", "cancelled")
ACTIVE = ("queued", "running")
HEARTBEAT_TIMEOUT_S = 60.0  # a run on another host silent for this long is shown as crashed
UNCLAIMED_TIMEOUT_S = 60.0  # a queued run that no process has claimed for this long never started
META_KEYS = ("kind", "label", "created", "imported")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class RunNotFound(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


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
    def config_dict(self) -> dict[str, Any]:
        """``config.json`` as stored: the kind's config fields plus ``kind``, ``label``, ``created``."""
        d = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        if not isinstance(d, dict):
            raise ValueError(f"run {self.id}: config.json does not hold a JSON object")
        if "memory_horizon" in d and d.get("kind") == "memory-horizon":  # the first layout of these runs
            d = {**d.pop("memory_horizon"), **d}
        return d

    @property
    def kind(self) -> str:
        return str(self.config_dict().get("kind", "rnn"))

    def job_config(self) -> Any:
        """The run's config as its kind's dataclass (``core.config.JOB_CONFIGS``), validated."""
        d = self.config_dict()
        kind = d.get("kind", "rnn")
        if kind not in JOB_CONFIGS:
            raise ValueError(f"run {self.id} is of an unknown kind {kind!r}")
        return config_from_dict(JOB_CONFIGS[kind], {k: v for k, v in d.items() if k not in META_KEYS})

    def config(self) -> RunConfig:
        """An RNN run's :class:`~core.config.RunConfig`."""
        cfg = self.job_config()
        if not isinstance(cfg, RunConfig):
            raise ValueError(f"run {self.id} is a {self.kind!r} run, not a recurrent network's")
        return cfg

    def model_config(self) -> ModelConfig:
        """The model an RNN run trained: its config, with the vocabulary's size for text tasks."""
        from dataclasses import replace

        cfg = self.config()
        if cfg.model.input_size is not None:  # real-valued inputs: no vocabulary
            return cfg.model
        from core.data.text import Vocabulary

        return replace(cfg.model, vocab_size=len(Vocabulary.load(self.file("vocab.json"))))

    # -- status -------------------------------------------------------------------------
    def stored_status(self) -> dict[str, Any]:
        """status.json as written (``{}`` when missing or unreadable)."""
        try:
            st = json.loads((self.path / "status.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return st if isinstance(st, dict) else {}

    def process(self) -> ProcessId | None:
        """The process that owns the run, as recorded (None before any process claimed it)."""
        return ProcessId.from_dict(self.stored_status().get("process"))

    def status(self) -> dict[str, Any]:
        """The stored status, with ``state`` turned into ``crashed`` when its process is gone."""
        st = self.stored_status()
        if not st:
            return {"state": "unknown"}
        if st.get("state") in ACTIVE:
            why = self._why_crashed(st)
            if why:
                st["stored_state"] = st["state"]
                st["state"] = "crashed"
                st["error"] = st.get("error") or why
        return st

    @staticmethod
    def _why_crashed(st: dict[str, Any]) -> str | None:
        proc = ProcessId.from_dict(st.get("process"))
        beat = st.get("heartbeat")
        silent = time.time() - float(beat) if isinstance(beat, int | float) else float("inf")
        if proc is None:
            if silent > UNCLAIMED_TIMEOUT_S:
                return "no process ever took this run (it was never started, or its launch failed)"
            return None
        state = alive(proc)
        if state is False:
            return "the job's process stopped without finishing (crashed or killed)"
        if state is None and silent > HEARTBEAT_TIMEOUT_S:  # another host: only the heartbeat tells
            return f"no heartbeat from {proc.host} for {silent:.0f} s"
        return None

    def write_status(self, st: dict[str, Any]) -> dict[str, Any]:
        """Replace status.json (the lifecycle's job; stamps the heartbeat)."""
        st = {**st, "heartbeat": time.time()}
        atomic.write_json(self.path / "status.json", st)
        return st

    def update_status(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into status.json and refresh the heartbeat."""
        return self.write_status({**self.stored_status(), **fields})

    # -- cancel -------------------------------------------------------------------------
    def request_cancel(self) -> None:
        (self.path / "cancel").touch()

    @property
    def cancel_requested(self) -> bool:
        return (self.path / "cancel").exists()

    # -- metrics ------------------------------------------------------------------------
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        """Append records to metrics.jsonl (one write, so a crash tears at most the last line)."""
        if not records:
            return
        lines = "".join(json.dumps(r, allow_nan=True) + "\n" for r in records)
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(lines)

    def metrics(self, kind: str | None = None) -> list[dict[str, Any]]:
        """All metric records (optionally of one kind); a torn or corrupt line is skipped."""
        out = []
        try:
            with open(self.path / "metrics.jsonl", encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(rec, dict) and (kind is None or rec.get("kind") == kind):
                        out.append(rec)
        except FileNotFoundError:
            pass
        return out

    def cut_metrics(self, last_epoch: int) -> int:
        """Keep only the records of epochs up to ``last_epoch`` (-1: none); returns how many were dropped.

        A resumed training continues after its last checkpointed epoch: the steps it logged after
        that checkpoint would otherwise appear twice. The file is rewritten atomically.
        """
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return 0
        kept, dropped = [], 0
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:  # a torn last line
                    dropped += 1
                    continue
                epoch = rec.get("epoch") if isinstance(rec, dict) else None
                if isinstance(epoch, int) and epoch > last_epoch:
                    dropped += 1
                else:
                    kept.append(line if line.endswith("\n") else line + "\n")
        atomic.write_text(path, "".join(kept))
        return dropped

    # -- results ------------------------------------------------------------------------
    def test_metrics(self) -> dict[str, Any] | None:
        try:
            tm = json.loads((self.path / "test_metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return tm if isinstance(tm, dict) else None

    def write_json(self, name: str, obj: Any) -> None:
        atomic.write_json(self.path / name, obj)

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def file(self, name: str) -> Path:
        return self.path / name

    def summary(self) -> dict[str, Any]:
        """One row for tables: model, status, headline test metrics and timings."""
        cfg = self.config_dict()
        st = self.status()
        tm = self.test_metrics() or {}
        model = cfg.get("model", {}) if isinstance(cfg.get("model"), dict) else {}
        train = cfg.get("train", {}) if isinstance(cfg.get("train"), dict) else {}
        return {
            "run_id": self.id,
            "kind": cfg.get("kind", "rnn"),
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


def _created(run: Run) -> float:
    try:
        c = run.config_dict().get("created")
    except (OSError, ValueError):
        return 0.0
    return float(c) if isinstance(c, int | float) else 0.0


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
        from core.config import config_to_dict

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
        run.write_json("config.json", body)
        run.write_status({"state": "queued", "process": None})
        return run

    def list(self) -> list[Run]:
        """Runs with a config, newest first (by creation time, to the nanosecond)."""
        if not self.root.is_dir():
            return []
        runs = [Run(p) for p in self.root.iterdir() if not p.name.startswith(".") and (p / "config.json").is_file()]
        return sorted(runs, key=lambda r: (_created(r), r.id), reverse=True)

    def get(self, run_id: str, *, prefix: bool = False) -> Run:
        """The run with exactly this id; ``prefix=True`` also accepts a unique start of one."""
        # A run id is a folder name: refuse anything that could walk out of the store.
        if not isinstance(run_id, str) or not _ID_RE.match(run_id) or ".." in run_id:
            raise RunNotFound(f"invalid run id {run_id!r}")
        path = self.root / run_id
        if (path / "config.json").is_file():
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
        """A finished run of ``kind`` whose resolved config equals ``cfg`` (what makes reruns resume)."""
        from core.config import config_to_dict

        want = config_to_dict(cfg)
        for run in self.list():
            try:
                d = run.config_dict()
                if (d.get("kind", "rnn") == kind and run.status().get("state") == "finished"
                        and {k: v for k, v in d.items() if k not in META_KEYS} == want):
                    return run
            except (OSError, ValueError):
                continue
        return None

    def delete(self, run_id: str) -> Run:
        """Delete a run that no live process owns (finished, failed, cancelled, crashed)."""
        run = self.get(run_id)
        state = run.status().get("state")
        if state in ACTIVE:
            raise ValueError(f"run {run.id} is {state}: cancel it before deleting")
        shutil.rmtree(run.path)
        return run

    def summaries(self) -> list[dict[str, Any]]:
        return [r.summary() for r in self.list()]
