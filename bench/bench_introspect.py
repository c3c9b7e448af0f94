"""Latency of live classification and of introspection, per cell type, on the CPU.

Usage: ``python bench/bench_introspect.py [--runs A,B,C] [--reviews N] [--threads 1] [--dry-run]``.

Targets (the project's): p95 latency of ``core.analysis.predict`` <= 50 ms per review per model, and
``core.analysis.introspect.introspect`` <= 50 ms for a 500-token review per model.

Models. Without ``--runs``: the seed's model (embedding 100 over a 20,000-word vocabulary,
hidden 50, one layer) with random weights, for each cell and both batchings (``seed``: the
review front-padded to 500 tokens; ``fast``: the review's own length); latency does not depend
on the weights. With ``--runs``: those stored runs (RNN and ``hmm`` runs).

Reviews. The IMDB test split when the dataset is at hand (``$RNNLAB_IMDB`` or the cache),
else synthetic reviews: Zipf-distributed words with log-normal lengths (median 110 tokens after
preprocessing, like IMDB). The 500-token review for introspection is the real review whose
preprocessed length is nearest 500 (cut to 500), or 500 synthetic words.

Reported: for predict, p50 / p95 / max over the reviews of one ``classify`` call per model,
and of one call per model for every model at once; for introspection, the median and p95 over
repeats. Each model is warmed up first. Wall-clock times are what a user waits; on a machine
that other processes load they stretch with the load, so the process's CPU time
(``time.process_time``) is printed beside them: the cost of the work itself. The load average
is printed first. ``--dry-run`` runs a tiny version.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnlab.core.analysis.introspect import introspect  # noqa: E402
from rnnlab.core.analysis.predict import LoadedRun, classify, load_run  # noqa: E402
from rnnlab.core.config import preset  # noqa: E402
from rnnlab.core.data.text import Vocabulary, preprocess  # noqa: E402
from rnnlab.core.jobs.store import RunStore  # noqa: E402
from rnnlab.core.models.rnn import SentimentRNN  # noqa: E402


def synthetic(n: int, vocab: Vocabulary, rng: np.random.Generator) -> list[str]:
    words = np.array(vocab.itos[2:])
    ranks = np.minimum(rng.zipf(1.3, size=200_000), len(words)) - 1
    lens = np.clip(np.round(rng.lognormal(np.log(110), 0.65, n)), 1, 900).astype(int)
    out, pos = [], 0
    for k in lens:
        if pos + k > len(ranks):
            pos = 0
        out.append(" ".join(words[ranks[pos:pos + k]]) + " <br /><br />")
        pos += k
    return out


def real_reviews(n: int, rng: np.random.Generator) -> list[str] | None:
    try:
        from rnnlab.core.data.imdb import load_imdb

        df = load_imdb(None)
    except Exception:  # no dataset at hand: the caller falls back to synthetic reviews
        return None
    test = df[df["split"] == "test"]["text"].to_numpy()
    return list(rng.choice(test, size=min(n, len(test)), replace=False))


def review_of_500(texts: list[str], cfg, vocab: Vocabulary) -> str:
    lens = [len(preprocess(t, cfg)) for t in texts]
    best = int(np.argmin([abs(n - 500) if n <= 600 else 10_000 for n in lens]))
    if lens[best] >= 450:
        return texts[best]
    return " ".join(vocab.itos[2:502])


def pct(xs: list[float]) -> str:
    a = np.array(xs)
    return f"p50 {np.percentile(a, 50):6.1f}  p95 {np.percentile(a, 95):6.1f}  max {a.max():6.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", help="comma-separated stored run ids (default: random-weight seed models)")
    ap.add_argument("--runs-dir")
    ap.add_argument("--reviews", type=int, default=300, help="reviews for the predict latency")
    ap.add_argument("--repeat", type=int, default=20, help="introspection repeats")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n_reviews, repeat = (10, 2) if args.dry_run else (args.reviews, args.repeat)

    models: list[tuple[str, object]] = []
    if args.runs:
        store = RunStore(args.runs_dir)
        for rid in args.runs.split(","):
            run = store.get(rid)
            models.append((f"{run.id}", load_run(run)))
    else:
        vocab = Vocabulary(["<unk>", "<pad>", *(f"w{i}" for i in range(20000))], [0, 0, *range(20000, 0, -1)])
        size = dict(hidden_size=8, embedding_dim=8, max_len=60) if args.dry_run else {}
        for cell in ("rnn", "lstm", "gru"):
            for name in ("seed", "fast"):
                cfg = preset(name, cell=cell, vocab_size=len(vocab), **size)
                torch.manual_seed(0)
                models.append((f"{cell:4} {name}", LoadedRun(f"{cell}-{name}", cfg, SentimentRNN(cfg.model).eval(),
                                                             vocab)))
    texts = real_reviews(n_reviews, rng)
    source = "IMDB test reviews"
    if texts is None:
        some = next(m for _, m in models)
        texts = synthetic(n_reviews, some.vocab, rng)
        source = "synthetic reviews"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{len(texts)} {source}; torch threads {torch.get_num_threads()}; load average {load:.2f} "
          f"on {os.cpu_count()} cores")
    print("\n== predict: one classify() per review and model (ms)")
    for label, m in models:
        classify(m, texts[0])  # warm-up
        lat = []
        c0 = time.process_time()
        for t in texts:
            t0 = time.perf_counter()
            classify(m, t)
            lat.append((time.perf_counter() - t0) * 1e3)
        cpu = (time.process_time() - c0) * 1e3 / len(texts)
        print(f"{label:32} wall: {pct(lat)}   cpu: mean {cpu:6.1f}")
    print(f"\n== predict: every model at once ({len(models)} models) per review (ms)")
    lat = []
    for t in texts:
        t0 = time.perf_counter()
        for _, m in models:
            classify(m, t)
        lat.append((time.perf_counter() - t0) * 1e3)
    print(f"{'all':32} {pct(lat)}  = {np.percentile(lat, 95) / len(models):.1f} per model at p95")

    print("\n== introspect: a 500-token review (ms)")
    for label, m in models:
        if not isinstance(m, LoadedRun):
            continue
        text = review_of_500(texts, m.cfg.text, m.vocab)
        out = introspect(m, text)  # warm-up
        times = []
        c0 = time.process_time()
        for _ in range(repeat):
            t0 = time.perf_counter()
            introspect(m, text)
            times.append((time.perf_counter() - t0) * 1e3)
        cpu = (time.process_time() - c0) * 1e3 / repeat  # the CPU clock ticks coarsely: average it
        print(f"{label:32} tokens {len(out.tokens):3}  wall: median {np.median(times):6.1f}  "
              f"p95 {np.percentile(times, 95):6.1f}  min {min(times):6.1f}   cpu: mean {cpu:6.1f}")


if __name__ == "__main__":
    main()
