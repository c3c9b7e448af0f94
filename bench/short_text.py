"""How runs read short, plain text: IMDB's test reviews whole, cut to their first N words and to their first
sentence, and the 40 product reviews of docs/own-data/products.csv, for runs grouped by preset.

Each score is ``evaluate RUN`` (``core.analysis.evaluate.evaluate_run``, stored in the run's
evaluations.json; a score stored there for the same texts is read back, not computed again); the
whole-review figure is the run's own test accuracy. One table row per preset: mean ± std over its runs
(its seeds), and the median training time.

    python bench/short_text.py --runs seed=ID --runs fast=ID1,ID2,ID3 --runs best=ID4,ID5,ID6 \\
        [--words 20] [--limit N] [--out docs/best/short-text.md]

The products dataset must be in the store (``python -m core data add docs/own-data/products.csv --name
products --text-col review --label-col sentiment``); without it that column is left out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: its rnnlab package

from rnnlab.core.analysis.evaluate import evaluate_run, evaluation_name
from rnnlab.core.data.sources import list_datasets
from rnnlab.core.jobs.names import EVALUATIONS_FILE
from rnnlab.core.jobs.store import RunStore


def scored(run, dataset: str, *, short=None, limit=None, every=False) -> dict:
    """The run's evaluation: the stored one when it scored the same texts (the whole split, or the same sample
    size), else ``evaluate_run`` now (which stores it)."""
    try:
        stored = run.read_json(EVALUATIONS_FILE) if run.file(EVALUATIONS_FILE).is_file() else {}
    except ValueError:
        stored = {}
    old = stored.get(evaluation_name(dataset, short)) if isinstance(stored, dict) else None
    if isinstance(old, dict) and old.get("split") == ("all" if every else "test") and (
            (limit is None and "sample" not in old) or (limit is not None and old.get("n") == limit)):
        return old
    return evaluate_run(run, dataset, short=short, limit=limit, every=every)


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f} (1 run)"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", action="append", required=True, help="PRESET=ID[,ID...]: the runs of one row")
    ap.add_argument("--words", type=int, default=20, help="the first N words of each review")
    ap.add_argument("--limit", type=int, default=None, help="a seeded sample of N test reviews (default: all)")
    ap.add_argument("--out", type=Path, default=None, help="also write the table (Markdown) here")
    args = ap.parse_args()
    store = RunStore()
    products = any(d["name"] == "products" for d in list_datasets())
    cuts: list[tuple[str, dict]] = [(f"first {args.words} words", {"short": args.words, "limit": args.limit}),
                                    ("first sentence", {"short": "sentence", "limit": args.limit})]
    header = ["preset", "runs", "IMDB test (whole)", *(f"IMDB {c}" for c, _ in cuts)]
    header += ["products (40)"] if products else []
    header += ["training time"]
    rows = []
    for spec in args.runs:
        name, _, ids = spec.partition("=")
        runs = [store.get(i) for i in ids.split(",") if i]
        cols: dict[str, list[float]] = {h: [] for h in header[2:]}
        words: dict[str, list[float]] = {}
        for run in runs:
            tm = run.test_metrics() or {}
            cols["IMDB test (whole)"].append(tm["accuracy"])
            cols["training time"].append(tm["train_time_s"])
            for cut, kw in cuts:
                t0 = time.perf_counter()
                res = scored(run, "imdb", **kw)
                cols[f"IMDB {cut}"].append(res["accuracy"])
                words.setdefault(cut, []).append(res.get("mean_words", float("nan")))
                print(f"{name} {run.id} {cut}: {res['accuracy']:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            if products:
                cols["products (40)"].append(scored(run, "products", every=True)["accuracy"])
        cells = [mean_std(v) for k, v in cols.items() if k != "training time"]
        rows.append([name, str(len(runs)), *cells, f"{statistics.median(cols['training time']):.0f} s"])
        lengths = ", ".join(f"{c} {statistics.mean(w):.1f}" for c, w in words.items())
        print(f"{name}: mean words per cut review: {lengths}")
    table = "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                       *("| " + " | ".join(r) + " |" for r in rows)])
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
