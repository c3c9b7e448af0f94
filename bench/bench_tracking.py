"""What live tracking (``train --track``) costs a training: the same run untracked, then tracked, timed in one process.

Trains one synthetic run (the adding task: no data to prepare, so the training is what is timed) three
ways, each on a fresh run store: untracked, tracked to TensorBoard, and tracked to TensorBoard and an MLflow
SQLite store at once (the store made before the clock starts: making its tables is MLflow's one-off cost, not
the training's), the three in turn ``--repeat`` times. Prints each case's shortest time (the least disturbed by
whatever else the machine runs) and its ratio to the untracked one; the training's own figure
(``train_time_s`` of ``test_metrics.json``) and the job's whole length (tracking's start and end included)
are both shown. What it is not: a test (``tests/test_tracking.py`` pins what is written); the figures are printed.

    python bench/bench_tracking.py                  # 4 epochs of 50 steps, hidden size 64
    python bench/bench_tracking.py --steps 200 --hidden 128
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rnnlab.core.config import preset  # noqa: E402
from rnnlab.core.jobs.lifecycle import run_now  # noqa: E402
from rnnlab.core.jobs.store import RunStore  # noqa: E402
from rnnlab.core.jobs.targets import parse_targets  # noqa: E402


def timed(cfg, folder: Path, track: list[str]) -> tuple[float, float]:
    """(the job's wall time, the trainer's train_time_s) of one run tracked to ``track``."""
    t0 = time.perf_counter()
    run = run_now("rnn", cfg, RunStore(folder / "runs"), say=lambda msg: None, track=parse_targets(track))
    return time.perf_counter() - t0, run.test_metrics()["train_time_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50, help="optimiser steps per epoch")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each case (the shortest is shown)")
    args = ap.parse_args()
    cfg = preset("fast", task="adding", seq_len=50, train_steps=args.steps * args.epochs, epochs=args.epochs,
                 hidden_size=args.hidden, batch_size=32, threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}").search_experiments()  # its tables, made now
        timed(cfg, root / "warm", [])  # imports and first-call costs, not counted
        cases = {"untracked": [], "tensorboard": [f"tensorboard:{root / 'tb'}"],
                 "tensorboard + mlflow": [f"tensorboard:{root / 'tb'}", f"mlflow:sqlite:///{root / 'mlflow.db'}"]}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for i in range(args.repeat):
            for name, track in cases.items():
                times[name].append(timed(cfg, root / f"{name.replace(' ', '')}-{i}", track))
        results = {name: (min(j for j, _ in t), min(r for _, r in t)) for name, t in times.items()}
    base_job, base_train = results["untracked"]
    print(f"{args.epochs} epochs x {args.steps} steps, hidden {args.hidden}, one thread, shortest of {args.repeat}")
    for name, (job, train) in results.items():
        print(f"{name:22s} job {job:6.2f} s ({job / base_job:4.2f}x)   training {train:6.2f} s "
              f"({train / base_train:4.2f}x)")


if __name__ == "__main__":
    main()
