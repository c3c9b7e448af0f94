"""The run store: one folder per run under ``$RNNLAB_HOME/runs``.

A run folder holds:

- ``config.json``: the :class:`~core.config.RunConfig` (plus ``kind``: ``rnn`` or ``hmm``);
- ``status.json``: state (queued / running / finished / failed / cancelled), pid, heartbeat,
  progress, error text;
- ``metrics.jsonl``: one JSON record per optimiser step (``"kind": "step"``) and per epoch
  (``"kind": "epoch"``), appended while training; a torn last line after a crash is skipped;
- ``model.safetensors`` and ``vocab.json``: the best checkpoint (weights never pickled);
- ``test_metrics.json``: the final numbers on the official test split;
- ``gradients.npz`` and other artefacts written by analysis modules.

This module only stores and reads; training lives in ``core.training.trainer`` and ``core.jobs.lifecycle``.
Every file another process reads is written atomically (``core.atomic``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import atomic
from core.config import RunConfig
from core.paths import runs_dir

STATES = ("queued", "running", "finished", "failed", "cancelled")
HEARTBEAT_TIMEOUT_S = 60.0  # a running run silent for this long is shown as crashed


class RunNotFound(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Run:
    """A handle on one run folder; cheap to create, reads lazily."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    # -- config -------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return json.loads((self.path / "config.json").read_text(encoding="utf-8"))

    def config(self) -> RunConfig:
        d = self.config_dict()
        return RunConfig.from_dict({k: v for k, v in d.items() if k in ("data", "text", "model", "train")})

    @property
    def kind(self) -> str:
        return self.config_dict().get("kind", "rnn")

    # -- status -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The stored status, with ``state`` turned into ``crashed`` when the process is gone."""
        try:
            st = json.loads((self.path / "status.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {"state": "unknown"}
        if st.get("state") in ("running", "queued"):
            silent_for = time.time() - float(st.get("heartbeat", 0))
            same_host = st.get("host") == os.uname().nodename
            dead = same_host and not _pid_alive(st.get("pid"))
            if dead or (st.get("state") == "running" and silent_for > HEARTBEAT_TIMEOUT_S):
                st["stored_state"] = st["state"]
                st["state"] = "crashed"
                st.setdefault("error", "the training process stopped without finishing (crashed or killed)")
        return st

    def update_status(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into status.json and refresh the heartbeat."""
        try:
            st = json.loads((self.path / "status.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            st = {}
        st.update(fields)
        st["heartbeat"] = time.time()
        atomic.write_json(self.path / "status.json", st)
        return st

    @contextmanager
    def failure_recorded(self) -> Iterator[None]:
        """Mark the run failed, with the error text, if the block raises; the error propagates."""
        try:
            yield
        except BaseException as e:
            self.update_status(state="failed", error=f"{type(e).__name__}: {e}", finished=time.time())
            raise

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
            with open(self.path / "metrics.jsonl", encoding="utf-8") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if kind is None or rec.get("kind") == kind:
                        out.append(rec)
        except FileNotFoundError:
            pass
        return out

    # -- results ------------------------------------------------------------------------
    def test_metrics(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / "test_metrics.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

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
        model = cfg.get("model", {})
        train = cfg.get("train", {})
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


class RunStore:
    """The folder of runs: create, list, get, delete."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else runs_dir()

    def create(self, cfg: RunConfig | None, *, kind: str = "rnn", label: str | None = None,
               extra: dict[str, Any] | None = None) -> Run:
        """Make a new run folder holding config.json and a ``queued`` status."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = label or (cfg.model.cell if cfg is not None else kind)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_id = f"{stamp}-{name}-{secrets.token_hex(3)}"
        path = self.root / run_id
        path.mkdir()
        run = Run(path)
        body = cfg.to_dict() if cfg is not None else {}
        body.update({"kind": kind, "label": label, "created": time.time()})
        body.update(extra or {})
        run.write_json("config.json", body)
        run.update_status(state="queued", pid=os.getpid(), host=os.uname().nodename)
        return run

    def list(self) -> list[Run]:
        """Runs with a config, newest first."""
        if not self.root.is_dir():
            return []
        runs = [Run(p) for p in self.root.iterdir() if (p / "config.json").is_file()]
        return sorted(runs, key=lambda r: r.id, reverse=True)

    def get(self, run_id: str) -> Run:
        # A run id is a folder name: refuse anything that could walk out of the store.
        if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
            raise RunNotFound(f"invalid run id {run_id!r}")
        path = self.root / run_id
        if not (path / "config.json").is_file():
            matches = [r for r in self.list() if r.id.startswith(run_id)]
            if len(matches) == 1:
                return matches[0]
            raise RunNotFound(f"no run {run_id!r} in {self.root}")
        return Run(path)

    def delete(self, run_id: str) -> None:
        run = self.get(run_id)
        if run.status().get("state") in ("running", "queued"):
            raise ValueError(f"run {run.id} is {run.status()['state']}: cancel it before deleting")
        shutil.rmtree(run.path)

    def summaries(self) -> list[dict[str, Any]]:
        return [r.summary() for r in self.list()]
