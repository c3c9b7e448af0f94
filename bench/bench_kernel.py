"""PyTorch's recurrent layers against the project's compiled CPU kernel (core.models.cpu_kernel), cell by cell.

One training pass (forward and backward, no optimiser) of the ``fast`` preset's model over the first epoch's
real IMDB batches (``--limit`` reviews per split, length-bucketed, batches of 50), each cell run both ways on
the same weights, interleaved, ``--repeats`` times; the fastest of the repeats per way, as milliseconds per
batch, and their ratio, on 1 thread and on all cores. It is the measurement behind
``core.models.cpu_kernel.PREFERRED``: the model runs a cell through the kernel where the kernel is faster.

    python bench/bench_kernel.py [--limit 2000] [--repeats 3] [--cells rnn,lstm,gru] [--imdb PATH]

Needs the IMDB archive (``$RNNLAB_IMDB`` or ``--imdb``) and a C compiler; without either it says so and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rnnlab.core.config import CLASSIC_CELLS, LIMIT_MIN, preset  # noqa: E402
from rnnlab.core.models import cpu_kernel  # noqa: E402
from rnnlab.core.models.rnn import SentimentRNN  # noqa: E402
from rnnlab.core.tasks import prepare_task  # noqa: E402

DEFAULT_IMDB = "/work/shared/data/aclImdb_v1.tar.gz"


def pass_ms(model: SentimentRNN, batches: list, kernel: bool) -> float:
    """Milliseconds per batch of one forward and backward pass over ``batches``, by the kernel or by PyTorch."""
    loss = torch.nn.BCEWithLogitsLoss()
    with cpu_kernel.preferring(cpu_kernel.KINDS if kernel else ()):
        start = time.perf_counter()
        for b in batches:
            loss(model(b.tokens, b.lengths), b.labels).backward()
        return (time.perf_counter() - start) / len(batches) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=2000, help="reviews per split")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the fastest is shown")
    parser.add_argument("--cells", default=",".join(CLASSIC_CELLS), help="comma-separated classic cells")
    parser.add_argument("--imdb", default=os.environ.get("RNNLAB_IMDB", DEFAULT_IMDB), help="the IMDB archive")
    args = parser.parse_args(argv)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    if not cells or any(c not in CLASSIC_CELLS for c in cells):
        parser.error(f"--cells: expected some of {', '.join(CLASSIC_CELLS)}, got {args.cells!r}")
    if not LIMIT_MIN <= args.limit <= 25_000 or not 1 <= args.repeats <= 100:
        parser.error(f"--limit must lie in [{LIMIT_MIN}, 25000] and --repeats in [1, 100]")
    if not Path(args.imdb).exists():
        print(f"no IMDB archive at {args.imdb}: pass --imdb PATH or set RNNLAB_IMDB")
        return 0
    if not cpu_kernel.available():
        print(f"the CPU kernel is not available: {cpu_kernel.unavailable_reason()}")
        return 0
    with tempfile.TemporaryDirectory(prefix="rnnlab-kernel-") as home:
        os.environ.setdefault("RNNLAB_HOME", home)  # the corpus cache: the user's own when set
        task = prepare_task(preset("fast", "lstm", epochs=1, limit=args.limit, imdb_path=args.imdb))
        batches = list(task.train_batches(0))
    torch.set_flush_denormal(True)  # as training does
    cores = os.cpu_count() or 1
    print(f"torch {torch.__version__}, {cores} CPUs; {len(batches)} batches of the fast preset "
          f"({sum(b.tokens.numel() for b in batches) / len(batches):.0f} token slots each); "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'cell':5s} {'threads':>7s} {'PyTorch ms':>10s} {'kernel ms':>9s} {'speed-up':>8s}")
    for threads in sorted({1, cores}):
        torch.set_num_threads(threads)
        for cell in cells:
            torch.manual_seed(0)
            model = SentimentRNN(replace(task.model_cfg, cell=cell)).train()
            times: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.repeats):
                for kernel in (False, True):
                    times[kernel].append(pass_ms(model, batches, kernel))
            ours, theirs = min(times[True]), min(times[False])
            print(f"{cell:5s} {threads:7d} {theirs:10.2f} {ours:9.2f} {theirs / ours:7.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
