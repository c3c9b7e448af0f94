"""How close training gets to this machine's compute bound: achieved FLOP/s against the CPU's GEMM peak.

What it measures, in one process (the machine is shared: only numbers from the same run are compared):

1. The float32 GEMM peak with ``torch.mm``: on one thread and on all cores, for a 256 x 256 x 256
   product and for the product one recurrent step of each cell makes, ``(B, E+H) @ (E+H, G*H)``
   (B = 50, E = 100, H = 50: LSTM ``(50 x 150) @ (150 x 200)``). FLOP = ``2*m*n*k``; best of
   ``--repeats``. The one-thread 256 x 256 rate (at ``--threads``) is *the bound* below.
2. The FLOPs one training epoch does, counted from the shapes and the real tokens of an IMDB sample
   (``--limit`` reviews per split, through the project's own pipeline and batches, ``core.tasks``):
   per time step of one review, forward, the input projection ``2*E*G*H``, the recurrent projection
   ``2*H*G*H`` and the element-wise gate work (a rough count, :data:`ELEMENTWISE_PER_UNIT` per
   hidden unit: bias adds, activations counted as 1 each, the state update); per review the output
   layer ``2*H*O``. G = 1 (rnn), 4 (lstm), 3 (gru).
   Convention: backward = 2 x forward (a product's gradient needs one product for the input and one
   for the weight), so a training step is 3 x forward. Not counted: the embedding lookup, the loss,
   dropout, gradient clipping and Adam (memory-bound work over ~2M embedding weights per step: it is
   part of the time, so it lowers the fractions).
   *computed* FLOPs count every ``(B, T)`` step of every batch, padding included (what the model
   really does: the ``seed`` preset pads each review to 500 tokens, ``fast`` to its batch's longest);
   *useful* FLOPs count only the real tokens.
3. The project's real training of one epoch for each cell x preset (``core.jobs.lifecycle.run_now``
   under a temporary ``RNNLAB_HOME``: the trainer with its run writer, on ``--threads`` threads,
   gradient recording off), timed by the trainer's own epoch clock (training steps only, not the
   validation pass).
4. A plain PyTorch loop in the seed's style (``bench_train.SeedStyleModel``: embedding ->
   ``nn.RNN``/``nn.LSTM``/``nn.GRU`` -> last state -> dropout -> linear; BCE with logits, Adam 1e-3,
   clipping at 5, the seed preset's fixed batches of 50 reviews padded to 500, flushed denormals),
   one epoch on the same sample, same threads.

How to read it: ``GFLOP/s`` is computed FLOPs / seconds; ``of bound`` is that over the bound (the
share of the machine's GEMM rate the training reaches), ``useful`` the same for useful FLOPs only
(padding costs time but does no useful work), ``of step`` the computed rate over the one-thread rate
of the cell's own step-sized product (small products run well below the 256 x 256 peak).
``vs plain`` is the project's samples/s over the plain loop's. Seconds: min and median over
``--repeats`` interleaved repeats; the rates use the min (the least disturbed by other processes).

    python bench/roofline.py [--limit 2000] [--cells rnn,lstm,gru] [--presets seed,fast] [--repeats 3]
                             [--threads 1] [--imdb PATH] [--json]

The ``lesson`` preset is ``fast`` with more reviews, 3 epochs and gradients recorded; with this
script's ``--limit``, one epoch and recording off it trains exactly ``fast``'s batches, so it is not
in the default list (``--presets seed,fast,lesson`` measures it anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/, also when imported from a test
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_train import SeedStyleModel  # noqa: E402  (bench/bench_train.py)

from rnnlab.core.config import CLASSIC_CELLS, LIMIT_MIN, PRESETS, preset  # noqa: E402
from rnnlab.core.data.batching import padding_stats  # noqa: E402
from rnnlab.core.jobs.lifecycle import run_now  # noqa: E402
from rnnlab.core.jobs.store import RunStore  # noqa: E402
from rnnlab.core.models.cells import cell_def  # noqa: E402
from rnnlab.core.tasks import prepare_task  # noqa: E402

DEFAULT_IMDB = "/work/shared/data/aclImdb_v1.tar.gz"
SQUARE = 256  # the peak's product: SQUARE x SQUARE x SQUARE
BACKWARD_FACTOR = 2  # backward ~ 2 x forward, so a training step ~ 3 x forward
# Rough element-wise FLOPs per hidden unit of one forward step (activations counted as 1):
# rnn: W_ih x + b_ih + W_hh h + b_hh (3 adds), tanh -> 4
# lstm: 4 gates x (3 adds + 1 activation) = 16, c = f*c + i*g (3), h = o*tanh(c) (2) -> 21
# gru: r, z: 2 x (3 adds + sigmoid) = 8; n = tanh(W_in x + b_in + r*(W_hn h + b_hn)): 5; h = (1-z)*n + z*h: 4 -> 17
ELEMENTWISE_PER_UNIT = {"rnn": 4, "lstm": 21, "gru": 17}


# -- counting (pure) -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepFlops:
    """Forward FLOPs of one time step of one review."""

    input: int  # W_ih x_t: 2*E*G*H
    recurrent: int  # W_hh h_{t-1}: 2*H*G*H
    elementwise: int  # gates and state update, roughly (ELEMENTWISE_PER_UNIT * H)

    @property
    def total(self) -> int:
        return self.input + self.recurrent + self.elementwise


def gemm_flops(m: int, n: int, k: int) -> int:
    """FLOPs of an ``(m, k) @ (k, n)`` product: one multiply and one add per term."""
    return 2 * m * n * k


def step_flops(cell: str, embedding_dim: int, hidden_size: int) -> StepFlops:
    """Forward FLOPs of one step of a one-layer, one-way ``cell`` reading ``embedding_dim`` features."""
    gates = cell_def(cell).blocks * hidden_size  # G*H
    return StepFlops(input=gemm_flops(1, gates, embedding_dim), recurrent=gemm_flops(1, gates, hidden_size),
                     elementwise=ELEMENTWISE_PER_UNIT[cell] * hidden_size)


def training_flops(cell: str, embedding_dim: int, hidden_size: int, output_size: int, steps: int,
                   reviews: int) -> int:
    """Forward + backward FLOPs of training over ``steps`` time steps (summed over reviews) of ``reviews`` reviews.

    ``(1 + BACKWARD_FACTOR) x`` the forward work: the steps, plus the output layer once per review.
    """
    forward = steps * step_flops(cell, embedding_dim, hidden_size).total + reviews * gemm_flops(1, output_size,
                                                                                               hidden_size)
    return (1 + BACKWARD_FACTOR) * forward


# -- measuring -------------------------------------------------------------------------------------------------------
def best_rate(fn: Callable[[], None], flops: float, repeats: int, min_seconds: float = 0.05) -> float:
    """Best GFLOP/s of ``fn`` (which does ``flops``) over ``repeats`` timings of at least ``min_seconds`` each."""
    fn()  # warm-up: allocation, oneDNN/BLAS set-up
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < min_seconds:
        fn()
        calls += 1
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = max(best, calls * flops / (time.perf_counter() - start) / 1e9)
    return best


def gemm_rate(m: int, n: int, k: int, threads: int, repeats: int) -> float:
    """Best float32 ``torch.mm`` GFLOP/s of ``(m, k) @ (k, n)`` on ``threads`` threads."""
    torch.set_num_threads(threads)
    a, b, out = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
    return best_rate(lambda: torch.mm(a, b, out=out), gemm_flops(m, n, k), repeats)


def project_epoch(cfg, store: RunStore) -> float:
    """Seconds of the first training epoch of a real run of ``cfg`` (the trainer's clock)."""
    return run_now("rnn", cfg, store).test_metrics()["epoch_times_s"][0]


def plain_epoch(cell: str, batches, vocab_size: int, threads: int) -> float:
    """Seconds of one epoch of the plain seed-style loop over ``batches`` (made inside the clock, as the trainer's)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = SeedStyleModel(cell, vocab_size).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    was_on = torch.set_flush_denormal(True)
    try:
        start = time.perf_counter()
        for b in batches():
            opt.zero_grad()
            loss_fn(model(b.tokens), b.labels).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        return time.perf_counter() - start
    finally:
        if was_on:
            torch.set_flush_denormal(False)


# -- the report ------------------------------------------------------------------------------------------------------
def row(cell: str, name: str, cfg, stats, reviews: int, seconds: list[float], bound: float, step_bound: float
        ) -> dict[str, float | int | str]:
    m = cfg.model
    useful = training_flops(cell, m.embedding_dim, m.hidden_size, m.output_size, stats.real_tokens, reviews)
    computed = training_flops(cell, m.embedding_dim, m.hidden_size, m.output_size, stats.slots, reviews)
    best = min(seconds)
    rate = computed / best / 1e9
    return {"cell": cell, "preset": name, "reviews": reviews, "tokens": stats.real_tokens, "steps": stats.slots,
            "useful_gflop": useful / 1e9, "computed_gflop": computed / 1e9, "seconds_min": best,
            "seconds_median": statistics.median(seconds), "samples_per_s": reviews / best, "gflop_per_s": rate,
            "of_bound": rate / bound, "useful_of_bound": useful / best / 1e9 / bound, "of_step": rate / step_bound}


HEADER = (f"{'cell':5s} {'preset':6s} {'tokens':>8s} {'steps':>8s} {'GFLOP use/comp':>15s} {'s min':>7s} "
          f"{'s med':>7s} {'samples/s':>9s} {'GFLOP/s':>8s} {'of bound':>8s} {'useful':>7s} {'of step':>7s} "
          f"{'vs plain':>8s}")


def show(r: dict) -> str:
    vs = f"{r['vs_plain']:7.2f}x" if "vs_plain" in r else f"{'':8s}"
    flops = f"{r['useful_gflop']:.1f}/{r['computed_gflop']:.1f}"
    return (f"{r['cell']:5s} {r['preset']:6s} {r['tokens']:8d} {r['steps']:8d} {flops:>15s} {r['seconds_min']:7.2f} "
            f"{r['seconds_median']:7.2f} {r['samples_per_s']:9.1f} {r['gflop_per_s']:8.2f} {r['of_bound']:8.1%} "
            f"{r['useful_of_bound']:7.1%} {r['of_step']:7.1%} {vs}")


def names(text: str, allowed: tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    wrong = [s for s in chosen if s not in allowed]
    if wrong or not chosen:
        parser.error(f"--{what}: expected some of {', '.join(allowed)}, got {text!r}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=2000, help="reviews per split (balanced, as DataConfig.limit)")
    # the classic cells: the roofline counts a step's W_ih and W_hh products (the modern cells have no W_hh)
    parser.add_argument("--cells", default=",".join(CLASSIC_CELLS), help="comma-separated cells")
    parser.add_argument("--presets", default="seed,fast", help=f"comma-separated, of {', '.join(PRESETS)}")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of every timing")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the trainings (and of the bound)")
    parser.add_argument("--imdb", default=os.environ.get("RNNLAB_IMDB", DEFAULT_IMDB), help="the IMDB archive")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    cells = names(args.cells, CLASSIC_CELLS, "cells", parser)
    presets = names(args.presets, PRESETS, "presets", parser)
    if not LIMIT_MIN <= args.limit <= 25_000:
        parser.error(f"--limit must lie in [{LIMIT_MIN}, 25000], got {args.limit}")
    if not 1 <= args.repeats <= 100 or not 1 <= args.threads <= 1024:
        parser.error("--repeats must lie in [1, 100] and --threads in [1, 1024]")
    if not Path(args.imdb).exists():
        parser.error(f"no IMDB archive at {args.imdb}: pass --imdb PATH or set RNNLAB_IMDB")
    say = (lambda *a: None) if args.json else print
    load_start = os.getloadavg()

    # 1. the GEMM peak
    cores = os.cpu_count() or 1
    thread_counts = sorted({1, args.threads, cores})
    seed_model = preset("seed").model
    e, h, batch = seed_model.embedding_dim, seed_model.hidden_size, preset("seed").train.batch_size
    plain_model = SeedStyleModel("rnn", 2)
    if (plain_model.emb.embedding_dim, plain_model.rnn.hidden_size) != (e, h):
        parser.error(f"the plain loop's model (bench_train.SeedStyleModel) is not the seed preset's E={e}, H={h}")
    shapes = {"square": (SQUARE, SQUARE, SQUARE)}
    shapes.update({f"{c}_step": (batch, cell_def(c).blocks * h, e + h) for c in CLASSIC_CELLS})
    peaks = {f"{name}@{n}": gemm_rate(*mnk, n, args.repeats) for n in thread_counts for name, mnk in shapes.items()}
    say(f"torch {torch.__version__}, {cores} CPUs, load average {load_start[0]:.2f} {load_start[1]:.2f} "
        f"{load_start[2]:.2f} at the start")
    say("float32 torch.mm GFLOP/s (best of repeats):")
    for name, (m, n, k) in shapes.items():
        rates = ", ".join(f"{n_threads} thread{'s' if n_threads > 1 else ''} {peaks[f'{name}@{n_threads}']:.3g}"
                          for n_threads in thread_counts)
        say(f"  {name:10s} ({m} x {k}) @ ({k} x {n}): {rates}")
    bound = peaks[f"square@{args.threads}"]

    rows: list[dict] = []
    user_home = os.environ.get("RNNLAB_HOME")
    with tempfile.TemporaryDirectory(prefix="rnnlab-roofline-") as home:
        os.environ["RNNLAB_HOME"] = home  # the corpus cache and the runs: never the user's store
        store = RunStore(Path(home) / "runs")

        def config(name: str, cell: str):
            return preset(name, cell, epochs=1, limit=args.limit, imdb_path=args.imdb, threads=args.threads,
                          record_gradients=False)

        # 2. the shapes and token counts of each preset's first epoch (the same batches the trainer sees)
        say(f"reading {args.limit} reviews per split from {args.imdb} ...")
        tasks = {name: prepare_task(config(name, "lstm")) for name in sorted({*presets, "seed"})}
        stats = {name: padding_stats(task.train_batches(0)) for name, task in tasks.items()}
        for name in presets:
            s = stats[name]
            say(f"  {name}: {tasks[name].train_size} training reviews, {s.batches} batches, {s.real_tokens} tokens, "
                f"{s.slots} steps computed ({s.fraction:.1%} padding)")

        # 3-4. the project's epochs and the plain loop's, interleaved
        seed_task = tasks["seed"]
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(args.repeats):
            say(f"repeat {r + 1}/{args.repeats} ...")
            for cell in cells:
                for name in presets:
                    times.setdefault((cell, name), []).append(project_epoch(config(name, cell), store))
                times.setdefault((cell, "plain"), []).append(
                    plain_epoch(cell, lambda: seed_task.train_batches(0), seed_task.model_cfg.vocab_size, args.threads))
    if user_home is None:
        del os.environ["RNNLAB_HOME"]
    else:
        os.environ["RNNLAB_HOME"] = user_home

    for cell in cells:
        step_bound = peaks[f"{cell}_step@{args.threads}"]
        plain = row(cell, "plain", preset("seed", cell), stats["seed"], seed_task.train_size, times[(cell, "plain")],
                    bound, step_bound)
        for name in presets:
            r = row(cell, name, preset(name, cell), stats[name], tasks[name].train_size, times[(cell, name)], bound,
                    step_bound)
            r["vs_plain"] = r["samples_per_s"] / plain["samples_per_s"]
            rows.append(r)
        rows.append(plain)
    load_end = os.getloadavg()
    if args.json:
        print(json.dumps({"torch": torch.__version__, "cpus": cores, "threads": args.threads, "limit": args.limit,
                          "load_start": load_start, "load_end": load_end, "gemm_gflop_per_s": peaks,
                          "bound_gflop_per_s": bound, "rows": rows}, indent=2))
        return 0
    plural = "s" if args.threads > 1 else ""
    print(f"\nbound: {bound:.1f} GFLOP/s ({SQUARE}^3 torch.mm, {args.threads} thread{plural}); "
          f"training FLOPs = 3 x forward; rates from the fastest of {args.repeats} repeats")
    print(HEADER)
    for r in rows:
        print(show(r))
    print(f"load average {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
