"""Time and peak memory of a neuron search over IMDB's whole test split (25,000 reviews), on the CPU.

Usage::

    python bench/bench_neurons.py [--run RUN_ID] [--cell lstm] [--limit 2000] [--threads 1] [--dry-run]

The run. Without ``--run``: a ``fast``-preset run (embedding 100, hidden 50, one layer, length-bucketed
batches, ``max_len`` 500) trained for one epoch on ``--limit`` reviews per split, with ``keep_negations`` so
that the negations reach the model, in the store of ``$RNNLAB_HOME`` (its id is printed: ``--run`` reuses it).
Its weights do not change the cost of a search; its text pipeline and sizes do.

The searches (:mod:`core.analysis.neurons`), each with ``whole_split`` and a sample of
:data:`core.config.REVIEWS_MAX`, so every one of the 25,000 test reviews is read whatever the run's limit:

* a unit: ``0:0:0`` (the hidden state: the fused kernel alone) and ``0:0:0:cell`` (LSTM: the gates and
  the cell state rebuilt per batch), the 10 highest and lowest contexts;
* a pattern: ``negations`` over every state the cell records (LSTM: 6 x 50 = 300 units), the 10 strongest
  units with 5 contexts each; then the same over a sample of 2,000 reviews (the page's and the command's
  default sample).

Each search runs in a fresh Python process (``--child``), after the whole split's encoding has been
built once (``load_corpus`` caches it on disk: the first search pays tens of seconds of tokenising, the
others read it back; its time is printed apart). A child reports the wall time of the search, its CPU time
(``time.process_time``: on a machine other processes load, wall time stretches, CPU time much less), its
resident memory before the search (imports, torch, the loaded run) and its peak (``VmHWM``), so the
difference is what the search itself holds at its worst: the split's token ids, one batch's activations and
the tallies. The load average is printed first.

``--dry-run``: 200 reviews of the run's own test split instead of the whole one (a smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_archive_memory import peak_rss  # noqa: E402 - one measure of peak memory for every bench

MiB = 2**20
# name -> (kind, unit or pattern, texts read: None for the whole split, else a sample of the whole split)
SEARCHES = {"unit h": ("unit", "0:0:0", None), "unit c": ("unit", "0:0:0:cell", None),
            "pattern": ("pattern", "negations", None), "pattern 2k": ("pattern", "negations", 2000)}


def rss() -> int:
    """This process's resident memory now, in bytes (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def child(kind: str, spec: str, sample: int, run_id: str, dry: bool, threads: int) -> None:
    """One search in this fresh process; prints one JSON line of its figures."""
    import torch

    from rnnlab.core.analysis.neurons import NeuronSearchConfig, pattern_units, unit_contexts
    from rnnlab.core.analysis.predict import load_run
    from rnnlab.core.config import REVIEWS_MAX
    from rnnlab.core.jobs.store import RunStore

    torch.set_num_threads(threads)
    lr = load_run(RunStore().get(run_id))
    cfg = (NeuronSearchConfig(sample=200, whole_split=False) if dry else
           NeuronSearchConfig(sample=sample or REVIEWS_MAX, whole_split=True))
    before = rss()
    t0, c0 = time.perf_counter(), time.process_time()
    out = unit_contexts(lr, spec, cfg) if kind == "unit" else pattern_units(lr, spec, cfg)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    top = (f"highest {out.highest[0].activation:.3f} at {out.highest[0].snippet()!r}" if kind == "unit"
           else f"strongest {out.units[0].unit} r={out.units[0].r:+.3f}")
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "rss_before": before, "peak": peak_rss(), "texts": out.texts,
                      "tokens": out.tokens, "top": top}))


def train(cell: str, limit: int, threads: int) -> str:
    """A fast-preset run trained one epoch on ``limit`` reviews per split; its id."""
    from rnnlab.core.config import preset
    from rnnlab.core.jobs.lifecycle import run_now

    cfg = preset("fast", cell=cell, limit=limit, epochs=1, keep_negations=True, threads=threads)
    t0 = time.perf_counter()
    run = run_now("rnn", cfg, label=f"bench_neurons {cell}")
    print(f"trained run {run.id} ({cell}, fast preset, {limit:,} reviews per split, 1 epoch) in "
          f"{time.perf_counter() - t0:.0f} s")
    return run.id


def encode_whole_split(run_id: str) -> None:
    """Build (or read back) the whole split's encoding, so that every search reads it from the disk cache."""
    from rnnlab.core.data.corpus import load_corpus
    from rnnlab.core.jobs.store import RunStore

    cfg = RunStore().get(run_id).config()
    t0 = time.perf_counter()
    corpus = load_corpus(replace(cfg.data, limit=None), cfg.text)
    print(f"whole split encoded (or read from the cache) in {time.perf_counter() - t0:.1f} s: "
          f"{len(corpus.splits['test']):,} test texts, {int(corpus.splits['test'].lengths().sum()):,} tokens")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a stored rnn run to search (default: train one)")
    ap.add_argument("--cell", default="lstm", choices=("rnn", "lstm", "gru"))
    ap.add_argument("--limit", type=int, default=2000, help="reviews per split the run trains on (default 2000)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dry-run", action="store_true", help="200 reviews of the run's test split, not the whole one")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "SPEC", "SAMPLE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, spec, sample = args.child
        child(kind, spec, int(sample), args.run, args.dry_run, args.threads)
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; torch threads {args.threads}")
    run_id = args.run or train(args.cell, 100 if args.dry_run else args.limit, args.threads)
    if not args.dry_run:
        encode_whole_split(run_id)
    from rnnlab.core.jobs.store import RunStore

    cell = RunStore().get(run_id).config().model.cell
    print(f"{'search':10} {'texts':>7} {'tokens':>11} {'wall s':>7} {'cpu s':>7} {'RSS before':>11} {'peak':>9} "
          f"{'search':>8}  top")
    for name, (kind, spec, sample) in SEARCHES.items():
        if (name == "unit c" and cell != "lstm") or (sample and args.dry_run):
            continue
        cmd = [sys.executable, __file__, "--child", kind, spec, str(sample or 0), "--run", run_id,
               "--threads", str(args.threads)]
        proc = subprocess.run(cmd + (["--dry-run"] if args.dry_run else []), capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        if proc.returncode:
            print(f"{name}: failed\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        grown = (r["peak"] - r["rss_before"]) / MiB
        print(f"{name:10} {r['texts']:7,} {r['tokens']:11,} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} "
              f"{r['rss_before'] / MiB:8.0f} MiB {r['peak'] / MiB:5.0f} MiB {grown:4.0f} MiB  {r['top']}")


if __name__ == "__main__":
    main()
