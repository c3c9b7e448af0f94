"""Checkpoints of a training as it goes: a trainer callback that saves the whole state every epoch.

:class:`Checkpointer` writes ``last.safetensors`` at the end of every complete epoch and
``best.safetensors`` when that epoch is the best so far by validation loss, both in the format of
:func:`~core.models.checkpoint.save_training_state` (one safetensors file, no pickle, written
atomically). A run killed at any point loses at most the epoch in progress: build the same model
and trainer, ``trainer.load_state_dict(load_training_state(folder / LAST))`` and ``fit()``; on the
CPU the run then ends exactly as an uninterrupted one. :func:`resume_point` says which epoch and
step ``last`` holds, so the caller can cut its own logs back to it. A writer killed mid-save leaves
two temporaries per file (ours and the safetensors library's own); :func:`remove_partial_writes`
clears exactly those from a folder before a training starts there again.

Not here: the file format (``core.models.checkpoint``), run folders and their logs
(``core.training.job``), the trainer itself (``core.training.trainer``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab.core import atomic
from rnnlab.core.models.checkpoint import (
    CheckpointError,
    TrainingState,
    load_training_state,
    read_training_header,
    save_training_state,
)

__all__ = ["BEST", "LAST", "CheckpointError", "Checkpointer", "ResumePoint", "TrainingState", "load_training_state",
           "remove_partial_writes", "resume_point", "save_training_state"]

LAST = "last.safetensors"  # the state after the latest complete epoch
BEST = "best.safetensors"  # the state after the best epoch so far by validation loss
# safetensors (0.6+) writes a file through a temporary of its own beside it, named by Rust's tempfile crate:
# ".tmp" and six letters or digits, mode 0600. A kill mid-save leaves it (as large as the file) next to ours.
SAFETENSORS_TEMPORARY = re.compile(r"^\.tmp[A-Za-z0-9]{6}$")


class Checkpointer:
    """Trainer callback: save the training state to ``folder/last.safetensors`` at every complete epoch's end.

    When the epoch is the best so far (the trainer's ``record["best"]``), the same state also goes to
    ``folder/best.safetensors``. An epoch cut short by a stop request is not saved: ``last`` stays at
    the previous complete epoch. Put it after the callbacks that draw from the global RNGs at an
    epoch's end (none of RNN Lab's do), since the state is taken when it runs.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if not trainer.epoch_complete:
            return
        state = trainer.state_dict()
        save_training_state(self.folder / LAST, state)
        if record.get("best"):
            save_training_state(self.folder / BEST, state)


@dataclass(frozen=True)
class ResumePoint:
    """Where a checkpoint stands: training continues with epoch ``epoch + 1`` at global step ``step``.

    The trainer's records to keep are the step records with ``step < step`` (equivalently
    ``epoch <= epoch``) and the epoch records with ``epoch <= epoch``; later ones are redone.
    """

    path: Path
    epoch: int  # the last complete epoch (0-based)
    step: int  # optimiser steps taken by then


def resume_point(folder: str | Path) -> ResumePoint | None:
    """The epoch and step ``folder/last.safetensors`` holds; None when there is no such file.

    Reads only the file's header. Raises :class:`CheckpointError` when the file is there but is
    not a valid training state.
    """
    path = Path(folder) / LAST
    if not path.is_file():
        return None
    header = read_training_header(path)
    return ResumePoint(path=path, epoch=header["epoch"], step=header["step"])


def remove_partial_writes(folder: str | Path, *, shared: dict[str, float] | None = None) -> list[Path]:
    """Remove what interrupted saves left in ``folder``: :mod:`core.atomic`'s temporaries and safetensors' own.

    For the process that owns the folder, before it writes there again: no save of its own is under
    way. ``shared`` as :func:`core.atomic.remove_temporaries` takes it (files other processes write).
    Returns the paths removed; any other file is left alone.
    """
    removed = atomic.remove_temporaries(folder, shared=shared)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return removed
    for name in names:
        path = Path(folder) / name
        if SAFETENSORS_TEMPORARY.match(name) and path.is_file() and not path.is_symlink():
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed
