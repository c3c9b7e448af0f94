"""Tasks a model can be trained on, behind one shape: :class:`TaskData`.

``imdb`` is sentiment classification of movie reviews; the synthetic long-range memory tasks
(``adding``, ``order``) live in ``core.synthetic`` and return the same shape, so the trainer,
the job runner and the dashboard treat every task alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import torch

from .config import RunConfig
from .train import Objective


@dataclass
class TaskData:
    model_cfg: Any  # core.config.ModelConfig completed for this task (vocab size, input size)
    train_batches: Callable[[int], Iterable[Any]]  # epoch -> batches (shuffled, seeded)
    val_batches: Callable[[], Iterable[Any]]
    test_batches: Callable[[], Iterable[Any]]
    objective: Objective
    train_size: int
    vocab: Any = None  # core.text.Vocabulary for text tasks
    probe: Any = None  # a fixed batch of validation examples for gradient recording
    use_lengths: bool = False  # read each sequence's state at its own last token
    # (outputs, targets) -> test figures for tasks that are not binary classification (core.synthetic)
    objective_metrics: Callable[[Any, Any], dict[str, Any]] | None = None


def prepare_imdb(cfg: RunConfig, progress: Callable[[str], None] | None = None,
                 device: torch.device | str = "cpu") -> TaskData:
    """IMDB batches; on a GPU the whole encoded corpus is uploaded once and batches are cut there."""
    from .batching import DeviceSplit, bucket_batches, make_batches
    from .corpus import load_corpus

    corpus = load_corpus(cfg.data, cfg.text, progress)
    tr, va, te = (corpus.splits[s] for s in ("train", "val", "test"))
    t, bs = cfg.train, cfg.train.batch_size
    eval_bs = max(bs, 250)  # no gradients at evaluation: bigger batches are faster

    def gen(epoch: int) -> torch.Generator:
        return torch.Generator().manual_seed(t.seed * 1000 + epoch)

    def batcher(split, batch_size: int, shuffle: bool) -> Callable[[int], Iterable[Any]]:
        """epoch -> the split's batches; off the CPU the split is uploaded once and batches are cut there."""
        if torch.device(device).type != "cpu":
            resident = DeviceSplit(split.ids, split.labels, device)  # uploaded once
            return lambda epoch: resident.batches(t.batching, batch_size, cfg.text.max_len, shuffle, gen(epoch))
        return lambda epoch: make_batches(t.batching, split.ids, split.labels, batch_size, cfg.text.max_len, shuffle,
                                          gen(epoch))

    train, val, test = batcher(tr, bs, True), batcher(va, eval_bs, False), batcher(te, eval_bs, False)

    probe = None
    if len(va):
        probe_idx = torch.randperm(len(va), generator=torch.Generator().manual_seed(12345))[: t.probe_size]
        ids = [va.ids[i] for i in probe_idx.tolist()]
        probe = next(iter(bucket_batches(ids, va.labels[probe_idx.numpy()], len(ids), shuffle=False)))
    model_cfg = replace(cfg.model, vocab_size=len(corpus.vocab), input_size=None, output_size=1)
    return TaskData(model_cfg=model_cfg, train_batches=train, val_batches=lambda: val(0), test_batches=lambda: test(0),
                    objective=Objective("bce"), train_size=len(tr), vocab=corpus.vocab, probe=probe,
                    use_lengths=t.batching == "bucket")


def prepare_task(cfg: RunConfig, progress: Callable[[str], None] | None = None,
                 device: torch.device | str = "cpu") -> TaskData:
    """The data, batching and objective of ``cfg.train.task`` (IMDB data resident on ``device``)."""
    if cfg.train.task == "imdb":
        return prepare_imdb(cfg, progress, device)
    from .synthetic import prepare_synthetic

    return prepare_synthetic(cfg)
