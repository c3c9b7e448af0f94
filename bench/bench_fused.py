"""Time a CPU training step of the fused models: padded+gather vs packed, 1 vs 2 threads, fixed vs bucketed.

Usage: ``python bench/bench_fused.py [--cells lstm,gru,rnn] [--reviews N] [--repeat R] [--bidirectional]
[--dry-run]``.

A training step is forward + backward + gradient clipping + Adam, on the seed's model (embedding
100 over a 20,000-word vocabulary, hidden 50, batch 50). Review lengths are drawn from a
log-normal with median 110 tokens (sigma 0.65, cut to [1, 500]): IMDB reviews after stop-word
removal. Token ids are random (speed does not depend on them). Compared, for each cell:

* (a) length-bucketed batches (``core.data.batching.bucket_batches``): the fused module on the padded
  batch and a gather at ``lengths - 1`` vs a packed sequence;
* (b) ``torch.set_num_threads(1)`` vs ``2``;
* (c) the seed's fixed front padding to 500 tokens vs bucketed batches.

With ``--bidirectional`` the model reads both ways and (a) compares the model's default on the CPU
(each direction run apart over the dense batch, the backward one over each row reversed within
its length) with a packed sequence; (c) is left out.

Bucketed configurations time whole passes over the same batches (their lengths vary); fixed ones
time ``--fixed-steps`` steps (every batch is ``(50, 500)``). Configurations are interleaved and
each is reported at its best repeat (the worst is shown too: with 2 threads on a 2-core machine
that other processes also use, OpenMP threads wait on each other and a step can be many times
slower), so a burst of load from other processes hurts all alike.
The ratios printed at the end are the figures that choose ``SentimentRNN.packed`` and the
``fast`` preset's thread count. ``--dry-run`` runs a tiny version in seconds (a smoke test).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lengths import BATCH, MAX_LEN, VOCAB, review_lengths  # noqa: E402  (bench/lengths.py)

from rnnlab.core.config import ModelConfig  # noqa: E402
from rnnlab.core.data.batching import Batch, bucket_batches, fixed_batches  # noqa: E402
from rnnlab.core.models.rnn import SentimentRNN  # noqa: E402


def train_step(model: SentimentRNN, opt: torch.optim.Optimizer, batch: Batch, use_lengths: bool,
               packed: bool | None) -> None:
    opt.zero_grad(set_to_none=True)
    logits = model(batch.tokens, batch.lengths if use_lengths else None, packed=packed)
    F.binary_cross_entropy_with_logits(logits, batch.labels).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # the trainer's default clip_norm
    opt.step()


def train_pass(model: SentimentRNN, opt: torch.optim.Optimizer, batches: list[Batch], use_lengths: bool,
               packed: bool | None) -> None:
    for batch in batches:
        train_step(model, opt, batch, use_lengths, packed)


def describe(batching: str, packed: bool | None, max_len: int) -> str:
    if batching == "fixed":
        return f"fixed-{max_len} (read T-1)"
    return f"bucketed {'packed' if packed else 'directions apart' if packed is None else 'padded+gather'}"


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm,gru,rnn", help="comma-separated cell types")
    parser.add_argument("--reviews", type=int, default=300, help="reviews per bucketed pass")
    parser.add_argument("--fixed-steps", type=int, default=2, help="timed steps per fixed-padding config")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved repeats; the best is reported")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bidirectional", action="store_true",
                        help="both directions: the default (directions apart) against packing")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes: a smoke test in seconds")
    args = parser.parse_args(argv)
    max_len, reviews = (40, 2 * BATCH) if args.dry_run else (MAX_LEN, args.reviews)
    repeat = 1 if args.dry_run else args.repeat
    threads = [int(t) for t in args.threads.split(",")]
    cells = args.cells.split(",")

    rng = np.random.default_rng(args.seed)
    lengths = review_lengths(reviews, max_len, rng)
    encoded = [rng.integers(2, VOCAB, n) for n in lengths]
    labels = rng.integers(0, 2, reviews).astype(np.float32)
    gen = torch.Generator().manual_seed(args.seed)
    bucketed = list(bucket_batches(encoded, labels, BATCH, generator=gen))
    fixed = list(fixed_batches(encoded, labels, BATCH, max_len))[:args.fixed_steps]
    padded_tokens = sum(b.tokens.numel() for b in bucketed)
    print(f"{reviews} reviews, lengths median {np.median(lengths):.0f} mean {lengths.mean():.0f} "
          f"p90 {np.percentile(lengths, 90):.0f} max {lengths.max()}; bucketed: {len(bucketed)} batches, "
          f"padding {1 - lengths.sum() / padded_tokens:.1%}; fixed: ({BATCH}, {max_len}), "
          f"padding {1 - lengths.mean() / max_len:.1%}")
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")

    # (batching, packed) -> bucketed batches read at lengths-1 or packed; fixed batches read at T-1
    # (bidirectional: None = the model's default, each direction apart, against packing)
    variants = ([("bucket", None), ("bucket", True)] if args.bidirectional
                else [("bucket", False), ("bucket", True), ("fixed", False)])
    rates: dict[tuple[str, str, bool | None, int], float] = {}
    for cell in cells:
        torch.manual_seed(args.seed)
        model = SentimentRNN(ModelConfig(cell=cell, vocab_size=VOCAB, bidirectional=args.bidirectional)).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        configs = [(batching, packed, n) for n in threads for batching, packed in variants]
        best: dict[tuple[str, bool | None, int], float] = {}
        worst: dict[tuple[str, bool | None, int], float] = {}
        for batching, packed, n in configs:  # warm-up: allocator, oneDNN primitives, Adam state
            torch.set_num_threads(n)
            first = (bucketed if batching == "bucket" else fixed)[0]
            train_step(model, opt, first, batching == "bucket", packed)
        for _ in range(repeat):
            for batching, packed, n in configs:
                torch.set_num_threads(n)
                batches = bucketed if batching == "bucket" else fixed
                seconds = timed(lambda: train_pass(model, opt, batches, batching == "bucket", packed))  # noqa: B023
                samples_per_s = sum(len(b.labels) for b in batches) / seconds
                key = (batching, packed, n)
                best[key] = max(best.get(key, 0.0), samples_per_s)
                worst[key] = min(worst.get(key, float("inf")), samples_per_s)
        for (batching, packed, n), rate in best.items():
            rates[(cell, batching, packed, n)] = rate
            print(f"{cell:5s} {describe(batching, packed, max_len):24s} threads={n}: {rate:8.1f} samples/s "
                  f"(worst repeat {worst[(batching, packed, n)]:.1f})")

    print("\nratios (> 1: the first is faster)")
    for cell in cells:
        if args.bidirectional:
            for n in threads:
                r = rates[(cell, "bucket", None, n)] / rates[(cell, "bucket", True, n)]
                print(f"{cell:5s} threads={n}: {'bidirectional, directions apart / packed':44s} {r:6.2f}")
            continue
        for n in threads:
            r = rates[(cell, "bucket", False, n)] / rates[(cell, "bucket", True, n)]
            print(f"{cell:5s} threads={n}: {'bucketed padded+gather / packed':36s} {r:6.2f}")
            fastest = max(rates[(cell, "bucket", False, n)], rates[(cell, "bucket", True, n)])
            r = fastest / rates[(cell, "fixed", False, n)]
            print(f"{cell:5s} threads={n}: {f'bucketed (faster) / fixed-{max_len}':36s} {r:6.2f}")
        if len(threads) > 1:
            for batching, packed in variants:
                r = rates[(cell, batching, packed, threads[0])] / rates[(cell, batching, packed, threads[1])]
                kind = describe(batching, packed, max_len)
                print(f"{cell:5s} threads {threads[0]} / {threads[1]}, {kind:33s} {r:6.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
