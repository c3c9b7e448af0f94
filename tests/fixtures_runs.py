"""A run store of tiny trained runs for the dashboard's tests, built once per test run.

:func:`build_trained_home` writes a tiny IMDB archive and an RNN Lab home holding an RNN, an
LSTM and a GRU, each trained for one epoch (hidden size 8) on that archive with
``core.jobs.lifecycle.run_now``, plus one failed run. Tests copy the home before changing anything in it
(``tests/conftest.py``'s ``trained_home`` fixture hands out the original).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import tiny_reviews, write_imdb_archive

# where this repository's development machines keep NLTK's corpora; $NLTK_DATA wins when set
TINY = dict(epochs=1, hidden_size=8, embedding_dim=8, max_len=40, batch_size=4, val_size=2, threads=1)


@dataclass(frozen=True)
class TrainedHome:
    home: Path  # an RNNLAB_HOME: runs/ and data/ (the parsed and encoded caches)
    archive: Path  # the tiny aclImdb_v1.tar.gz the runs were trained on
    run_ids: dict[str, str]  # "rnn", "lstm", "gru", "failed" -> run id


def nltk_data() -> str | None:
    """The NLTK data folder the suite uses: ``$NLTK_DATA``, a session copy of tests/data/nltk_data (conftest.py)."""
    return os.environ.get("NLTK_DATA")


def use_home(mp: pytest.MonkeyPatch, home: Path, imdb: Path | None = None) -> None:
    """Point RNN Lab at ``home`` with ``imdb`` as its dataset (or none), and NLTK at the stop-word list."""
    mp.setenv("RNNLAB_HOME", str(home))
    if imdb is None:
        mp.delenv("RNNLAB_IMDB", raising=False)
    else:
        mp.setenv("RNNLAB_IMDB", str(imdb))
    mp.delenv("RNNLAB_RUNS_DIR", raising=False)  # else launched-job settings would redirect the run store
    if nltk_data():
        mp.setenv("NLTK_DATA", nltk_data())


def tiny_config(cell: str, archive: Path, preset_name: str = "fast", **overrides):
    from rnnlab.core.config import preset

    # without NLTK's list the stop-word stage cannot run: train without it rather than fail
    stop = {} if nltk_data() else {"remove_stopwords": False}
    return preset(preset_name, cell=cell, imdb_path=str(archive), **{**TINY, **stop, **overrides})


def build_trained_home(root: Path) -> TrainedHome:
    from rnnlab.core.config import CLASSIC_CELLS
    from rnnlab.core.jobs.lifecycle import run_job, run_now
    from rnnlab.core.jobs.store import RunStore

    archive = write_imdb_archive(root / "aclImdb_v1.tar.gz", tiny_reviews(per_class=6, unsup=4))
    home = root / "home"
    ids: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home)
        store = RunStore(home / "runs")
        for i, cell in enumerate(CLASSIC_CELLS):
            run = run_now("rnn", tiny_config(cell, archive, "seed" if i == 0 else "fast"), store)
            ids[cell] = run.id
        bad = tiny_config("gru", root / "missing.tar.gz")
        failed = store.create(bad)
        with pytest.raises(Exception):  # noqa: B017 - any failure is recorded the same way
            run_job(failed, store)
        ids["failed"] = failed.id
    return TrainedHome(home, archive, ids)


def wait_for(predicate: Callable[[], Any], timeout_s: float = 60.0, poll_s: float = 0.05, what: str = "it") -> Any:
    """``predicate()``'s first true value, polled every ``poll_s``; AssertionError after ``timeout_s``."""
    end = time.time() + timeout_s
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")
