"""The kinds of job a run can be, and where each kind's work is done.

A kind names its config dataclass (``core.config.JOB_CONFIGS``) and its job function, a plain
``fn(ctx, cfg)``: the trainings, the GMM-HMM, word2vec and data installs in ``core.jobs`` beside the
lifecycle (``core.jobs.rnn``, ``core.jobs.hmm``...), the studies elsewhere (``core.analysis.horizon``
trains on generated data; the seed experiment and sweeps run other jobs). The function gets a
:class:`~core.jobs.lifecycle.JobContext`: it reports progress, checks for cancel requests
(``ctx.check_cancel()`` raises :class:`Cancelled`), writes its results into ``ctx.run``'s folder and
returns; the lifecycle does the rest. Adding a kind of job is one line here and one entry in
``JOB_CONFIGS``. The functions are named as strings, imported when a job of the kind runs: a kind
may live above this module (a sweep runs trainings), and a command that runs none imports none.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Cancelled(Exception):
    """Raised inside a job when a cancel was requested; the run ends ``cancelled``."""


@dataclass(frozen=True)
class JobKind:
    name: str
    target: str  # "module:function", imported when a job of this kind runs (keeps imports light)
    resumable: bool = False  # continues from its last checkpoint after a crash or cancel
    description: str = ""

    @property
    def run(self) -> Callable[[Any, Any], None]:
        module, fn = self.target.split(":")
        return getattr(importlib.import_module(module), fn)


KINDS = {k.name: k for k in (
    JobKind("rnn", "rnnlab.core.jobs.rnn:train_job", resumable=True, description="train and test a recurrent network"),
    JobKind("hmm", "rnnlab.core.jobs.hmm:hmm_job", description="fit and test the GMM-HMM baseline"),
    JobKind("word2vec", "rnnlab.core.jobs.word2vec:word2vec_job", description="train word2vec vectors"),
    JobKind("memory-horizon", "rnnlab.core.analysis.horizon:horizon_job",
            description="train each cell on a long-range memory task at each length"),
    JobKind("experiment", "rnnlab.core.report.experiment:experiment_job",
            description="the seed comparison end to end, with its report"),
    JobKind("data", "rnnlab.core.jobs.data:data_job", description="download or install the IMDB archive"),
    JobKind("sweep", "rnnlab.core.sweep.job:sweep_job",
            description="a grid of training runs, here or on a Ray cluster"),
)}


def job_kind(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown kind of job {name!r}; expected one of {sorted(KINDS)}") from None
