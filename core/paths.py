"""Where RNN Lab keeps its files: one home folder (``RNNLAB_HOME``) holding caches and runs."""

from __future__ import annotations

import os
from pathlib import Path


def rnnlab_home() -> Path:
    """The project's home: ``$RNNLAB_HOME``, else ``~/.cache/rnnlab``."""
    env = os.environ.get("RNNLAB_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rnnlab"


def data_dir() -> Path:
    """Downloaded archives and parsed Parquet caches live here."""
    return rnnlab_home() / "data"


def runs_dir() -> Path:
    """One sub-folder per run (see ``core.jobs.store``)."""
    return rnnlab_home() / "runs"
