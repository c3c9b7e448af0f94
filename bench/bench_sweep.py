"""The seed experiment's three trainings (RNN, LSTM, GRU; 5 epochs) one after another against N at a time.

    RNNLAB_IMDB=/path/to/aclImdb_v1.tar.gz python bench/bench_sweep.py [--parallel 2] [--limit N] [--epochs 5]

Both modes run in this one invocation, each in a fresh private RNN Lab home (nothing is reused),
through `python -m core experiment seed --parallel 1` and `--parallel N` (the sweep's local
executor: each training in its own process, one torch thread each). Prints each mode's wall time,
the ratio, and each cell's test accuracy in both modes (equal: the same seeds train the same
models). The machines here are shared: compare the ratio, not the seconds. Add
``--device cuda`` on a GPU machine to pack the trainings on one GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def experiment(home: Path, parallel: int, args: argparse.Namespace) -> tuple[float, dict[str, float]]:
    cmd = [sys.executable, "-m", "core", "experiment", "seed", "--preset", "fast", "--epochs", str(args.epochs),
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
    from core.jobs.store import RunStore

    acc = {}
    for run in RunStore(home / "runs").list():
        if run.kind == "rnn":
            acc[run.config().model.cell] = (run.test_metrics() or {}).get("accuracy")
    return wall, acc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parallel", type=int, default=2, help="trainings at once in the second mode (default 2)")
    p.add_argument("--limit", type=int, help="reviews per split (default: the full splits)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = p.parse_args()
    if not os.environ.get("RNNLAB_IMDB"):
        sys.exit("set RNNLAB_IMDB to aclImdb_v1.tar.gz (or an extracted aclImdb/ folder) to run this benchmark")
    rows = {}
    with tempfile.TemporaryDirectory(prefix="rnnlab-bench-sweep-") as tmp:
        for parallel in (1, args.parallel):
            home = Path(tmp) / f"p{parallel}"
            wall, acc = experiment(home, parallel, args)
            rows[parallel] = {"wall_s": round(wall, 1), "accuracy": acc}
            print(f"parallel {parallel}: {wall:.1f} s  " + "  ".join(f"{c} {a:.4f}" for c, a in sorted(acc.items())),
                  flush=True)
    ratio = rows[1]["wall_s"] / rows[args.parallel]["wall_s"]
    print(f"one after another / {args.parallel} at a time: {ratio:.2f}x "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(json.dumps({"limit": args.limit, "epochs": args.epochs, "device": args.device, "modes": rows,
                      "ratio": round(ratio, 2)}))


if __name__ == "__main__":
    main()
