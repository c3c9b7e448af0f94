"""What a model trains on, behind one shape (:class:`~core.tasks.base.TaskData`).

``imdb`` (:mod:`core.tasks.imdb`) is text classification, of IMDB's movie reviews or of any dataset
added with ``data add``; the synthetic long-range memory tasks ``adding``, ``order`` and ``copy``
(:mod:`core.tasks.synthetic`) return the same shape, so the trainer, the job runner and the dashboard
treat every task alike. Each task module imports only :mod:`core.tasks.base` of this package; this
module picks one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from rnnlab.core.config import TEXT_TASK, RunConfig
from rnnlab.core.tasks.base import TaskData
from rnnlab.core.tasks.imdb import prepare_imdb
from rnnlab.core.tasks.synthetic import prepare_synthetic


def prepare_task(cfg: RunConfig, progress: Callable[[str], None] | None = None,
                 device: torch.device | str = "cpu") -> TaskData:
    """The data, batching and objective of ``cfg.train.task`` (IMDB data resident on ``device``)."""
    if cfg.train.task == TEXT_TASK:
        return prepare_imdb(cfg, progress, device)
    return prepare_synthetic(cfg)
