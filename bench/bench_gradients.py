"""Time what gradient recording adds to training: a 1-epoch run with ``GradientRecorder`` on vs off.

Usage: ``python bench/bench_gradients.py [--cells rnn,lstm,gru] [--reviews N] [--every 100] [--repeat R]
[--threads 1] [--dry-run]``.

The run is the ``fast`` preset's: embedding 100 over a 20,000-word vocabulary, hidden 50, batch 50,
length-bucketed batches read at each review's last token, Adam, clipping at 5, one thread, one
epoch over ``--reviews`` training reviews (default 22,500: the IMDB training split less the 2,500
validation reviews, 450 optimiser steps) and a validation pass over 2,500 reviews. Review lengths
are log-normal with median 110 tokens (sigma 0.65, cut to [1, 500]): IMDB reviews after stop-word
removal; token ids are random (speed does not depend on them). Recording uses the defaults: a
64-review probe, every 100 optimiser steps, at initialisation and at the end of the epoch, spectral
Jacobian norms by 8 power iterations -- so 6 recordings in a 450-step epoch.

Off and on runs alternate (``--repeat`` pairs, first order flipped every pair) on the same batches
from the same initial weights, so a burst of load from other processes hurts both alike; the
reported ratio is wall time on / off per pair, and the best pair. On a machine shared with other
jobs that ratio carries the noise of two separate runs, so the time spent inside the recorder's
callbacks (recording and rewriting the file) over the off run's wall time is reported too: the
same overhead measured within one run. Also: seconds per recording, the ``gradients.npz`` size
and the time to load it (what the dashboard pays).
``--dry-run`` runs a tiny version in seconds (a smoke test).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lengths import BATCH, MAX_LEN, VOCAB, review_lengths  # noqa: E402  (bench/lengths.py)

from rnnlab.core.analysis.gradients import GradientRecorder, load_gradients  # noqa: E402
from rnnlab.core.config import ModelConfig, TrainConfig  # noqa: E402
from rnnlab.core.data.batching import bucket_batches  # noqa: E402
from rnnlab.core.models.rnn import SentimentRNN  # noqa: E402
from rnnlab.core.training.trainer import Objective, Trainer  # noqa: E402


def corpus(n: int, max_len: int, rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    lengths = review_lengths(n, max_len, rng)
    return [rng.integers(2, VOCAB, k) for k in lengths], rng.integers(0, 2, n).astype(np.float32)


class TimedRecorder(GradientRecorder):
    """The recorder, with the wall time of all its trainer callbacks (recording and writing the file) summed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.callback_s = 0.0

    def _timed(self, fn, *args) -> None:
        t0 = time.perf_counter()
        fn(*args)
        self.callback_s += time.perf_counter() - t0

    def on_train_start(self, trainer) -> None:
        self._timed(super().on_train_start, trainer)

    def on_batch_end(self, trainer, rec) -> None:
        self._timed(super().on_batch_end, trainer, rec)

    def on_epoch_end(self, trainer, rec) -> None:
        self._timed(super().on_epoch_end, trainer, rec)


def run_once(cell: str, train, val, probe, every: int, record: bool, out: Path, seed: int) -> dict:
    torch.manual_seed(seed)
    model = SentimentRNN(ModelConfig(cell=cell, vocab_size=VOCAB))
    cfg = TrainConfig(epochs=1, batch_size=BATCH, batching="bucket", threads=1, probe_every=every, seed=seed)
    callbacks = [TimedRecorder(out, probe, every=every, use_lengths=True)] if record else []

    def train_batches(epoch: int):
        return bucket_batches(*train, BATCH, generator=torch.Generator().manual_seed(seed * 1000 + epoch))

    def val_batches():
        return bucket_batches(*val, 250, shuffle=False)

    trainer = Trainer(model, cfg, train_batches, val_batches, objective=Objective("bce"), callbacks=callbacks,
                      use_lengths=True)
    t0 = time.perf_counter()
    result = trainer.fit()
    wall = time.perf_counter() - t0
    info = {"wall_s": wall, "steps": result.steps, "weights": trainer.model.state_dict()}
    if record:
        coords = callbacks[0].coords
        info.update(records=len(coords), record_s=float(np.mean([c["seconds"] for c in coords])),
                    record_total_s=callbacks[0].callback_s)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated cell types")
    parser.add_argument("--reviews", type=int, default=22500, help="training reviews (one epoch)")
    parser.add_argument("--val", type=int, default=2500, help="validation reviews")
    parser.add_argument("--every", type=int, default=100, help="optimiser steps between recordings")
    parser.add_argument("--probe", type=int, default=64, help="reviews in the probe batch")
    parser.add_argument("--repeat", type=int, default=1, help="off/on pairs per cell")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flush-denormal", action="store_true",
                        help="flush denormal floats to zero (as python -m core train does by default)")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes: a smoke test in seconds")
    args = parser.parse_args(argv)
    max_len = 40 if args.dry_run else MAX_LEN
    n_train, n_val, every = (4 * BATCH, 100, 2) if args.dry_run else (args.reviews, args.val, args.every)
    torch.set_num_threads(args.threads)
    flushed = args.flush_denormal and torch.set_flush_denormal(True)
    rng = np.random.default_rng(args.seed)
    train, val = corpus(n_train, max_len, rng), corpus(n_val, max_len, rng)
    probe = next(bucket_batches(*corpus(args.probe, max_len, rng), args.probe, shuffle=False))
    print(f"{n_train} training reviews ({-(-n_train // BATCH)} steps), {n_val} validation, probe of {args.probe} "
          f"(padded to {probe.tokens.shape[1]} steps), record every {every} steps; threads {args.threads}, "
          f"flush denormals {flushed}; torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        for cell in args.cells.split(","):
            out = Path(tmp) / f"{cell}.npz"
            ratios, shares = [], []
            warm = (train[0][:4 * BATCH], train[1][:4 * BATCH])  # oneDNN primitives, allocator, autograd
            run_once(cell, warm, (val[0][:BATCH], val[1][:BATCH]), probe, 2, True, out, args.seed)
            for rep in range(args.repeat):
                order = (False, True) if rep % 2 == 0 else (True, False)
                runs = {rec: run_once(cell, train, val, probe, every, rec, out, args.seed) for rec in order}
                off, on = runs[False], runs[True]
                same = all(torch.equal(a, b) for a, b in zip(off["weights"].values(), on["weights"].values(),
                                                             strict=True))
                ratios.append(on["wall_s"] / off["wall_s"])
                shares.append(on["record_total_s"] / off["wall_s"])
                print(f"{cell:5s} pair {rep + 1}: off {off['wall_s']:7.1f}s  on {on['wall_s']:7.1f}s  "
                      f"ratio {ratios[-1]:.3f}  ({on['records']} recordings, {on['record_s']:.2f}s each, "
                      f"{on['record_total_s']:.1f}s in the recorder with writing; same weights {same}; "
                      f"load {os.getloadavg()[0]:.2f})")
            t0 = time.perf_counter()
            rec = load_gradients(out)
            load_s = time.perf_counter() - t0
            size = out.stat().st_size
            summary.append((cell, min(ratios), float(np.median(ratios)), float(np.median(shares)), size, load_s,
                            rec["dh"].shape))
    # the wall-time ratio carries the noise of two separate runs; the recordings' own time over the
    # training time without them is the same overhead measured inside one run
    print("\ncell   best on/off  median on/off  recording time / off  npz size  load time  dh shape (R, L, D, B, K)")
    for cell, best, med, share, size, load_s, shape in summary:
        print(f"{cell:5s} {best:12.3f} {med:14.3f} {share:21.3f} {size / 1e6:7.2f}MB {load_s * 1000:8.1f}ms  {shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
