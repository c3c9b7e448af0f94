"""The one shape every task hands the trainer: :class:`TaskData`.

``imdb`` is text classification (IMDB or a dataset added with ``data add``); the synthetic long-range memory tasks
(``adding``, ``order``, ``copy``) live in ``core.tasks.synthetic`` and return the same shape, so the trainer,
the job runner and the dashboard treat every task alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rnnlab.core.training.trainer import Objective


@dataclass
class TaskData:
    model_cfg: Any  # core.config.ModelConfig completed for this task (vocab size, input size)
    train_batches: Callable[[int], Iterable[Any]]  # epoch -> batches (shuffled, seeded)
    val_batches: Callable[[], Iterable[Any]]
    test_batches: Callable[[], Iterable[Any]]
    objective: Objective
    train_size: int
    vocab: Any = None  # core.data.text.Vocabulary for text tasks
    probe: Any = None  # a fixed batch of validation examples for gradient recording
    use_lengths: bool = False  # read each sequence's state at its own last token
    # (outputs, targets) -> test figures for tasks that are not binary classification (core.tasks.synthetic)
    objective_metrics: Callable[[Any, Any], dict[str, Any]] | None = None
    classes: list[str] | None = None  # a text task's class names, in label order; None for the synthetic tasks
