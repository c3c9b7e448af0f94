"""Time the text pipeline on IMDB and measure what fixed-length padding costs.

Usage: ``python bench/bench_text.py [PATH] [--limit N] [--dry-run]`` where PATH is the archive
or ``aclImdb/`` folder (default ``$RNNLAB_IMDB``). Needs NLTK's stop words (``NLTK_DATA``).

Prints, for the seed pipeline (``TextConfig()``):

* reviews/s tokenising all reviews (train, test, unsup) in one process and with a 2-worker pool;
* token-length statistics of the training split (mean, median, p95, max) with and without
  ``keep_negations``;
* the share of padding in the (B, T) grid a model computes over the training split:
  fixed front-padding to 500 versus length-bucketed batches (batch size 50).

``--dry-run`` runs the same steps on a small synthetic corpus (a smoke test, no dataset needed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnlab.core.config import TextConfig  # noqa: E402
from rnnlab.core.data.batching import (  # noqa: E402
    bucket_batches,
    encode_corpus,
    fixed_batches,
    lengths_of,
    padding_stats,
)
from rnnlab.core.data.text import Vocabulary, stopwords, tokenize_corpus  # noqa: E402


def read_imdb(path: str) -> tuple[list[str], list[str], np.ndarray]:
    """(split per review, text per review, labels) via ``core.data.imdb`` or, failing that, the archive."""
    try:
        from rnnlab.core.data.imdb import load_imdb
    except ImportError:
        load_imdb = None
    if load_imdb is not None:
        df = load_imdb(path)
        return df["split"].tolist(), df["text"].tolist(), df["label"].to_numpy()
    splits, texts, labels = [], [], []
    with tarfile.open(path, "r|gz") as tar:  # one pass over the gzip stream
        for m in tar:
            parts = m.name.split("/")
            review = len(parts) == 4 and parts[2] in ("pos", "neg", "unsup") and parts[3].endswith(".txt")
            if m.isfile() and review:
                splits.append(parts[1] if parts[2] != "unsup" else "unsup")
                texts.append(tar.extractfile(m).read().decode("utf-8"))
                labels.append({"pos": 1, "neg": 0, "unsup": -1}[parts[2]])
    return splits, texts, np.array(labels)


def synthetic(n: int, seed: int = 0) -> tuple[list[str], list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    words = ["the", "film", "was", "not", "good", "u", "r", "gr8", "don't", "plot", "<br />", "acting!"]
    texts = [" ".join(rng.choice(words, size=int(rng.lognormal(5, 0.7)))) for _ in range(n)]
    return ["train"] * n, texts, rng.integers(0, 2, size=n)


def length_line(name: str, lengths: np.ndarray) -> str:
    return (f"  {name:<22} mean {lengths.mean():7.1f}  median {np.median(lengths):6.0f}  "
            f"p95 {np.percentile(lengths, 95):6.0f}  max {lengths.max():6d}  "
            f"empty {int((lengths == 0).sum())}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=os.environ.get("RNNLAB_IMDB"),
                        help="archive or aclImdb/ folder")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N reviews")
    parser.add_argument("--dry-run", action="store_true", help="a small synthetic corpus instead of IMDB")
    args = parser.parse_args(argv)
    if args.dry_run:
        splits, texts, labels = synthetic(2000)
    elif not args.path:
        parser.error("give the dataset path or set RNNLAB_IMDB")
    else:
        t0 = time.perf_counter()
        splits, texts, labels = read_imdb(args.path)
        print(f"loaded {len(texts):,} reviews in {time.perf_counter() - t0:.1f} s")
    if args.limit:
        splits, texts, labels = splits[:args.limit], texts[:args.limit], labels[:args.limit]
    cfg = TextConfig()
    stopwords(cfg)  # load NLTK and the list before any timing
    print(f"CPU cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}")

    print(f"\ntokenising {len(texts):,} reviews (seed pipeline)")
    results = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        results[workers] = tokenize_corpus(texts, cfg, workers=workers)
        dt = time.perf_counter() - t0
        print(f"  workers={workers}: {dt:6.1f} s  {len(texts) / dt:8,.0f} reviews/s")
    assert results[1] == results[2], "the pool must give the same tokens"
    tokens = results[1]

    train = [i for i, s in enumerate(splits) if s == "train"]
    train_tokens = [tokens[i] for i in train]
    print(f"\ntoken lengths of the training split ({len(train):,} reviews), before truncation")
    print(length_line("seed pipeline", lengths_of(train_tokens)))
    kept = tokenize_corpus([texts[i] for i in train], TextConfig(keep_negations=True))
    print(length_line("keep_negations=True", lengths_of(kept)))
    raw = [t.split() for t in (texts[i] for i in train)]
    print(length_line("whitespace split only", lengths_of(raw)))

    t0 = time.perf_counter()
    vocab = Vocabulary.build(train_tokens, max_size=cfg.max_vocab, min_freq=cfg.min_freq)
    encoded = encode_corpus(train_tokens, vocab, cfg.max_len, cfg.truncate)
    print(f"\nvocabulary {len(vocab):,} entries, coverage {vocab.coverage:.1%}; "
          f"built and encoded in {time.perf_counter() - t0:.1f} s")
    y = (labels[train] > 0).astype(np.float32)
    lengths = lengths_of(encoded)
    print(f"  truncated to {cfg.max_len}: {int((lengths == cfg.max_len).sum()):,} reviews at the cap")

    print(f"\npadding over one epoch of the training split (batch size 50, max_len {cfg.max_len})")
    gen = torch.Generator().manual_seed(0)
    for name, batches in (("fixed (front, 500)", fixed_batches(encoded, y, 50, cfg.max_len, True, gen)),
                          ("bucket (x50 chunks)", bucket_batches(encoded, y, 50, True, gen))):
        t0 = time.perf_counter()
        stats = padding_stats(batches)
        dt = time.perf_counter() - t0
        print(f"  {name:<20} {stats.batches:5d} batches  {stats.slots:>11,} steps computed  "
              f"{stats.real_tokens:>10,} real  padding {stats.fraction:6.1%}  (batching {dt:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
