"""Your own data with the defaults, end to end: the forty product reviews of docs/own-data/products.csv.

Runs, as a user would, in a fresh RNN Lab home (no IMDB archive needed):

1. ``data add docs/own-data/products.csv --name products --text-col review --label-col sentiment``;
2. ``train --dataset products`` with the command line's defaults (the seed preset, an LSTM), then the
   Train page's defaults (the ``lesson`` preset, all three cells);
3. ``embeddings train --dataset products`` and ``hmm --dataset products`` with their defaults;

and writes what each run reports to docs/own-data/runs.md (the README's own-data table is checked
against it by tests/test_docs.py). Usage: ``python bench/own_data.py [--out docs/own-data]``.
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
CSV = ROOT / "docs" / "own-data" / "products.csv"


def core(home: Path, *args: str) -> dict:
    """``python -m core ARGS --json`` in ``home``; its JSON answer (raises with its stderr if it failed)."""
    env = {**os.environ, "RNNLAB_HOME": str(home)}
    env.pop("RNNLAB_IMDB", None)  # another dataset never needs IMDB
    p = subprocess.run([sys.executable, "-m", "rnnlab.core", *args, "--json"], cwd=ROOT, env=env, capture_output=True,
                       text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"python -m core {' '.join(args)} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "own-data"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="rnnlab-own-data-") as tmp:
        home = Path(tmp)
        added = core(home, "data", "add", str(CSV), "--name", "products", "--text-col", "review", "--label-col",
                     "sentiment")
        print(f"added: {added['counts']}", file=sys.stderr)
        jobs = [("train (command line defaults: seed preset)", ["train", "--dataset", "products"])]
        jobs += [(f"train --preset lesson --model {c} (the Train page's defaults)",
                  ["train", "--dataset", "products", "--preset", "lesson", "--model", c])
                 for c in ("rnn", "lstm", "gru")]
        jobs += [("embeddings train", ["embeddings", "train", "--dataset", "products"]),
                 ("hmm", ["hmm", "--dataset", "products"])]
        for what, cmd in jobs:
            t0 = time.perf_counter()
            out = core(home, *cmd)
            wall = time.perf_counter() - t0
            tm = out.get("test_metrics") or {}
            w2v = out.get("word2vec") or {}
            rows.append({"command": what, "state": out["state"], "train_texts": tm.get("train_size"),
                         "test_texts": tm.get("n", tm.get("test_size")), "accuracy": tm.get("accuracy"),
                         "words_with_vectors": w2v.get("vocab_size"), "wall_s": wall, "run_id": out["run_id"]})
            print(f"{what}: {out['state']} accuracy={tm.get('accuracy')} ({wall:.0f} s)", file=sys.stderr)
        runs = {r["run_id"]: r for r in core(home, "runs")}
        for row in rows:
            row["label"], row["quality"] = runs[row["run_id"]]["label"], runs[row["run_id"]]["quality"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Your own data with the defaults: forty product reviews", "",
             f"`python bench/own_data.py` on {time.strftime('%Y-%m-%d')}: {CSV.relative_to(ROOT)} added as "
             "`products` (a seeded, stratified 80/20 split: 32 training texts, 8 test texts; 10% of the training "
             "texts held out for validation), then each command with its defaults. No IMDB archive was present.", "",
             "| command | run | state | quality | training texts | test texts | accuracy | words with vectors "
             "| wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = f"{r['accuracy']:.3f}" if r["accuracy"] is not None else "-"
        lines.append(f"| {r['command']} | {r['label']} | {r['state']} | {r['quality'] or '-'} | "
                     f"{r['train_texts'] or '-'} | "
                     f"{r['test_texts'] or '-'} | {acc} | {r['words_with_vectors'] or '-'} | {r['wall_s']:.0f} |")
    (out / "runs.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(out / "runs.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
