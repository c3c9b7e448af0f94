"""Where RNN Lab keeps its files: one home folder (``RNNLAB_HOME``) holding caches and runs, and the files it
ships (the sweep studies and their published results) in a checkout or an installed copy."""

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


# the files shipped beside the code: where a checkout keeps them (from its top) and a wheel (inside ``core``)
CHECKOUT = {"studies": ("studies",), "published": ("docs", "sweeps")}
INSTALLED = {"studies": ("studies",), "published": ("studies", "published")}


def shipped(name: str) -> Path:
    """A folder of files the project ships beside its code, in a checkout or in an installed copy.

    ``studies``: the sweep studies (``*.toml``); ``published``: their results as measured for the README
    (a folder per study with ``spec.toml`` and ``results.csv``). A checkout keeps them at its top
    (``studies/``, ``docs/sweeps/``); a wheel carries them inside the package, as ``rnnlab/core/studies/``
    and ``rnnlab/core/studies/published/`` (pyproject.toml maps them there). The folder may be missing: callers
    list nothing.
    """
    if name not in CHECKOUT:
        raise ValueError(f"nothing shipped is called {name!r}: one of {', '.join(CHECKOUT)}")
    package = Path(__file__).resolve().parent  # the installed package's folder (rnnlab/core), or the checkout's core/
    installed = package.joinpath(*INSTALLED[name])
    return installed if installed.is_dir() else package.parent.joinpath(*CHECKOUT[name])
