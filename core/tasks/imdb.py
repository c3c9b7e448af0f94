"""The text classification task: IMDB sentiment, or a dataset added with ``data add`` (``DataConfig.dataset``),
its encoded corpus cut into batches (on the GPU when there is one). Two classes train one logit with the binary
objective; K > 2 classes train K logits with cross-entropy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import torch

from rnnlab.core.config import RunConfig
from rnnlab.core.data.batching import DeviceSplit, bucket_batches, make_batches
from rnnlab.core.data.corpus import load_corpus
from rnnlab.core.tasks.base import TaskData
from rnnlab.core.training.trainer import Objective, multiclass_metrics


def prepare_imdb(cfg: RunConfig, progress: Callable[[str], None] | None = None,
                 device: torch.device | str = "cpu") -> TaskData:
    """Text batches; on a GPU the whole encoded corpus is uploaded once and batches are cut there."""
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
    classes = corpus.classes
    k = len(classes)
    # two classes: one logit and the binary objective, as for IMDB; more: one logit per class
    model_cfg = replace(cfg.model, vocab_size=len(corpus.vocab), input_size=None, output_size=1 if k == 2 else k)
    metrics = None
    if k > 2:
        metrics = lambda out, y: multiclass_metrics(out, y, classes)  # noqa: E731
    return TaskData(model_cfg=model_cfg, train_batches=train, val_batches=lambda: val(0), test_batches=lambda: test(0),
                    objective=Objective("bce" if k == 2 else "ce"), train_size=len(tr), vocab=corpus.vocab,
                    probe=probe, use_lengths=t.batching == "bucket", objective_metrics=metrics, classes=classes)
