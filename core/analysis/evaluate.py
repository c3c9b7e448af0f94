"""Score a trained run on another dataset's test split: how far does a model travel?

:func:`evaluate_run` encodes the test texts of a dataset (IMDB, or one added with ``python -m core
data add``) exactly as the run's training batches were -- the run's text pipeline, vocabulary,
``max_len`` and batching -- and computes the same test metrics a run records, then stores them in
the run's ``evaluations.json`` under the dataset's name. A model trained on IMDB can so be measured
on other reviews, and an imported run gets the figures it lacks.

Classes are matched by name (IMDB's are ``negative`` and ``positive``); two binary datasets whose
names differ are matched by position (the first class to the first), and the result says so.

``short`` cuts every test text to its first N words or its first sentence (``core.data.short_text``)
before the run's pipeline reads it, to measure what a model, or a preprocessing choice, costs on
short text; the result is stored under a name that says what was cut (``imdb (first 20 words)``).
``limit`` scores a seeded sample of the texts, and the result says so. Every result records the
mean number of words of the texts the model was given.

Not here: loading the model (``core.analysis.predict``), the datasets (``core.data``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from rnnlab.core import atomic
from rnnlab.core.analysis.predict import LoadedRun, load_run
from rnnlab.core.config import DataConfig, first_few
from rnnlab.core.data.batching import encode_corpus, make_batches
from rnnlab.core.data.datasets import config_dataset, load_frames
from rnnlab.core.data.short_text import cut_name, cut_text, parse_short, word_count
from rnnlab.core.data.text import tokenize_corpus
from rnnlab.core.jobs.names import EVALUATIONS_FILE
from rnnlab.core.training.trainer import classification_metrics, multiclass_metrics

EVAL_BATCH = 250
LIMIT_MAX = 10_000_000  # --limit: texts scored at most (a sample of a larger split)
SAMPLE_SEED = 0  # --limit draws the same texts every time, so two runs are scored on the same sample


def _test_split(dataset: str, imdb_path: str | None, every: bool = False) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, integer labels and class names of ``dataset``'s test split (every labelled text with ``every``)."""
    frames = load_frames(DataConfig(dataset=config_dataset(dataset), imdb_path=imdb_path, val_size=0))
    parts = [frames[s] for s in (("train", "val", "test") if every else ("test",))]  # never the unlabelled texts
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return df["text"].tolist(), df["label"].to_numpy(dtype=np.int64), list(frames["test"].attrs["classes"])


def match_classes(run_classes: list[str], data_classes: list[str]) -> tuple[np.ndarray, str | None]:
    """``mapping[i]``: the run's class index for the dataset's class ``i``, and a note when matched by position."""
    if sorted(data_classes) == sorted(run_classes):
        return np.array([run_classes.index(c) for c in data_classes]), None
    if len(run_classes) == len(data_classes) == 2:
        note = (f"classes matched by position: {data_classes[0]!r} -> {run_classes[0]!r}, "
                f"{data_classes[1]!r} -> {run_classes[1]!r}")
        return np.array([0, 1]), note
    # both lists may be 1,000 long: name a few, and the classes that differ
    theirs, ours = set(run_classes), set(data_classes)
    lacks = [c for c in data_classes if c not in theirs]
    differ = (f"the run has no {first_few(lacks)}" if lacks else
              f"the dataset has no {first_few(c for c in run_classes if c not in ours)}")
    raise ValueError(f"the run's {len(run_classes):,} classes ({first_few(run_classes)}) do not match the dataset's "
                     f"{len(data_classes):,} ({first_few(data_classes)}): {differ}")


def check_limit(limit: int | None) -> int | None:
    """``limit`` if it is None or a number of texts from 1 to :data:`LIMIT_MAX`; ValueError otherwise."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIMIT_MAX):
        raise ValueError(f"--limit takes a number of texts from 1 to {LIMIT_MAX:,}, not {str(limit)[:40]!r}")
    return limit


def evaluation_name(dataset: str, short: int | str | None = None) -> str:
    """The key of an evaluation in ``evaluations.json``: the dataset, and what was cut (``imdb (first sentence)``)."""
    return dataset if short is None else f"{dataset} ({cut_name(short)})"


def evaluate_run(run: Any, dataset: str, *, imdb_path: str | None = None, every: bool = False,
                 short: int | str | None = None, limit: int | None = None) -> dict[str, Any]:
    """The run's test metrics on ``dataset``'s test split (``every``: all its labelled texts, for a dataset kept
    for evaluation only), stored in the run's ``evaluations.json`` under :func:`evaluation_name`.

    ``short``: a number of words (1 to 1,000) or ``"sentence"``: each text is cut to its first words or its
    first sentence before the run's pipeline reads it. ``limit``: score a seeded sample of that many texts.
    """
    short = None if short is None else parse_short(short)
    limit = check_limit(limit)
    lr = load_run(run)
    if not isinstance(lr, LoadedRun):
        raise ValueError(f"run {run.id} is not a recurrent network's run: only those are evaluated here")
    t0 = time.perf_counter()
    texts, labels, data_classes = _test_split(dataset, imdb_path, every)
    if not texts:
        raise ValueError(f"dataset {dataset!r} has no texts to evaluate on")
    notes, total = [], len(texts)
    if limit is not None and limit < total:
        keep = np.sort(np.random.default_rng(SAMPLE_SEED).choice(total, size=limit, replace=False))
        texts, labels = [texts[i] for i in keep], labels[keep]
        notes.append(f"a seeded sample of {limit:,} of the {total:,} {'texts' if every else 'test texts'}")
    if short is not None:
        texts = [cut_text(t, short) for t in texts]
    run_classes = list(lr.classes)
    mapping, matched = match_classes(run_classes, data_classes)
    notes += [matched] if matched else []
    y = mapping[labels]
    cfg = lr.cfg
    encoded = encode_corpus(tokenize_corpus(texts, cfg.text), lr.vocab, cfg.text.max_len, cfg.text.truncate)
    use_lengths = cfg.train.batching == "bucket"
    outs, order = [], []
    lr.model.eval()
    with torch.no_grad():
        for batch in make_batches(cfg.train.batching, encoded, np.arange(len(y)), EVAL_BATCH, cfg.text.max_len):
            outs.append(lr.model(batch.tokens, batch.lengths if use_lengths else None).float())
            order.append(batch.labels.numpy())  # the batches carry each text's index as its "label"
    logits = torch.cat(outs).numpy()
    idx = np.concatenate(order).astype(np.int64)
    y = y[idx]
    if len(run_classes) == 2:
        metrics = classification_metrics(logits.reshape(-1), y.astype(np.float32))
    else:
        metrics = multiclass_metrics(logits, y, run_classes)
    name = evaluation_name(dataset, short)
    metrics.update({"name": name, "dataset": dataset, "split": "all" if every else "test", "n": int(len(y)),
                    "classes": data_classes, "cut": None if short is None else cut_name(short),
                    "mean_words": float(np.mean([word_count(t) for t in texts])),
                    "eval_time_s": time.perf_counter() - t0, "evaluated": time.time()})
    if limit is not None and limit < total:
        metrics["sample"] = {"of": total, "seed": SAMPLE_SEED}
    if notes:
        metrics["note"] = "; ".join(notes)
    path = run.file(EVALUATIONS_FILE)
    try:
        stored = run.read_json(EVALUATIONS_FILE) if path.is_file() else {}
    except ValueError:
        stored = {}
    stored = stored if isinstance(stored, dict) else {}
    stored[name] = {k: v for k, v in metrics.items() if k != "roc"}  # the curve stays out: a summary file
    atomic.write_json(path, stored)
    return metrics
