"""The seed experiment's three trainings (RNN, LSTM, GRU; 5 epochs) one after another against N at a time.

    RNNLAB_IMDB=/path/to/aclImdb_v1.tar.gz python bench/bench_sweep.py [--parallel 2] [--limit N] [--epochs 5]

Both modes run in this one invocation, each in a fresh private RNN Lab home (nothing is reused),
through `python -m core experiment seed --parallel 1` and `--parallel N` (the sweep's local
executor: each training in its own process, one torch thread each). Prints each mode's wall time,
the ratio, and each cell's test accuracy in both modes (equal: the same seeds train the same
models). The machines here are shared: compare the ratio, not the seconds. Add
``--device cuda`` on a GPU machine to pack the trainings on one GPU.

It also prints the bound: three runs that cannot be split, N at a time (N no more than the
cores), finish no sooner than the best assignment of the runs to N slots, each run taking the
time it took one after another (its wall time); with more runs at once than cores, the cores are
shared out, and the bound is the total spread over the cores. The measured ratio can only approach
the ratio its bound allows. ``--parallel 2,3`` measures both.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def best_makespan(times: list[float], slots: int) -> float:
    """The shortest finish of indivisible runs on ``slots`` identical slots (every assignment tried: a few runs)."""
    best = float("inf")
    for assignment in itertools.product(range(slots), repeat=len(times)):
        loads = [0.0] * slots
        for t, s in zip(times, assignment, strict=True):
            loads[s] += t
        best = min(best, max(loads))
    return best


def experiment(home: Path, parallel: int, args: argparse.Namespace) -> tuple[float, dict[str, float],
                                                                            dict[str, float]]:
    cmd = [sys.executable, "-m", "rnnlab.core", "experiment", "seed", "--preset", "fast", "--epochs", str(args.epochs),
           "--no-ablations", "--no-hmm", "--no-horizon", "--parallel", str(parallel), "--device", args.device,
           "--out", str(home / "report"), "--json"]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    env = {**os.environ, "RNNLAB_HOME": str(home)}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"the experiment failed ({' '.join(cmd)}):\n{out.stderr[-3000:]}")
    sys.path.insert(0, str(ROOT))
    from rnnlab.core.jobs.store import RunStore

    acc, took = {}, {}
    for run in RunStore(home / "runs").list():
        if run.kind == "rnn":
            tm = run.test_metrics() or {}
            acc[run.config().model.cell] = tm.get("accuracy")
            took[run.config().model.cell] = tm.get("wall_time_s")
    return wall, acc, took


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parallel", default="2",
                   help="trainings at once in the modes after the first, comma-separated (default 2; e.g. 2,3)")
    p.add_argument("--limit", type=int, help="reviews per split (default: the full splits)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = p.parse_args()
    if not os.environ.get("RNNLAB_IMDB"):
        sys.exit("set RNNLAB_IMDB to aclImdb_v1.tar.gz (or an extracted aclImdb/ folder) to run this benchmark")
    modes = [1, *(int(n) for n in args.parallel.split(",") if int(n) > 1)]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="rnnlab-bench-sweep-") as tmp:
        for parallel in modes:
            home = Path(tmp) / f"p{parallel}"
            wall, acc, took = experiment(home, parallel, args)
            rows[parallel] = {"wall_s": round(wall, 1), "accuracy": acc,
                              "run_wall_s": {c: round(t, 1) for c, t in took.items() if t}}
            print(f"parallel {parallel}: {wall:.1f} s  " + "  ".join(f"{c} {a:.4f}" for c, a in sorted(acc.items()))
                  + "  (each run's process: " + ", ".join(f"{c} {t:.0f} s" for c, t in sorted(took.items()) if t)
                  + ")", flush=True)
    alone = list(rows[1]["run_wall_s"].values())
    ratios, bounds = {}, {}
    for parallel in modes[1:]:
        ratios[parallel] = round(rows[1]["wall_s"] / rows[parallel]["wall_s"], 2)
        print(f"one after another / {parallel} at a time: {ratios[parallel]:.2f}x "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        cores = os.cpu_count() or 1
        if alone:
            # whole runs on `parallel` slots; with more runs at once than cores, the cores are shared out
            # among them, and the bound is the work spread evenly over the cores (or the longest run)
            bound = (best_makespan(alone, parallel) if parallel <= cores else max(max(alone), sum(alone) / cores))
            bounds[parallel] = round(sum(alone) / bound, 2)
            print(f"  bound: these runs, each as long as alone, finish no sooner than {bound:.0f} s "
                  f"{parallel} at a time on {cores} cores: {bounds[parallel]:.2f}x of their {sum(alone):.0f} s")
    print(json.dumps({"limit": args.limit, "epochs": args.epochs, "device": args.device, "modes": rows,
                      "ratios": ratios, "bound_ratios": bounds}))


if __name__ == "__main__":
    main()
