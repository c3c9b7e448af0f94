"""A learner's first comparison: RNN, LSTM and GRU on IMDB at one setting, with the gradients that explain it.

Trains the three cell types one after another (or ``--parallel 2`` at a time) through the command line,
``python -m core train --record-gradients --json``, so every run is an ordinary run in the store, and
prints per cell: test accuracy, F1, the test split's size, the run's wall time (process start to
exit, data loading included), and ``||dL/dh_{T-k}|| / ||dL/dh_T||`` at k = 10, 50, 100 from the run's
``gradients.npz`` (the last recording, after training; mean over the probe reviews that reach k,
median in brackets, :func:`core.analysis.gradients.decay_ratios`). Then the total wall time of the
three and the machine's load. Each row is appended to ``docs/lesson/runs.csv`` and the markdown
table ``docs/lesson/runs.md`` is rewritten from it.

    python bench/lesson.py [--preset lesson] [--set epochs=3 --set limit=5000 ...] [--seeds 0,1]
                           [--cells rnn,lstm,gru] [--parallel 1|2] [--tag NAME] [--out docs/lesson]

Needs the IMDB archive: ``$RNNLAB_IMDB`` or ``--imdb``; without one it says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rnnlab.core.analysis.gradients import decay_ratios, load_gradients  # noqa: E402
from rnnlab.core.config import CELLS, CLASSIC_CELLS  # noqa: E402

KS = (10, 50, 100)
COLUMNS = ("tag", "preset", "settings", "cell", "seed", "parallel", "accuracy", "f1", "test_n", "train_n",
           "train_s", "wall_s", "total_wall_s", "load1", *(f"k{k}_mean" for k in KS), *(f"k{k}_median" for k in KS),
           "run_id", "date")


def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"1e-3"`` -> 0.001, ``"true"`` -> True, ``"none"`` -> None; anything else stays a string."""
    low = text.strip().lower()
    if low in ("none", "off", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """``["epochs=3", "limit=5000"]`` -> ``{"epochs": 3, "limit": 5000}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects FIELD=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value)
    return out


def cli_flags(overrides: dict[str, Any]) -> list[str]:
    """Config overrides as ``python -m core train`` flags: ``--max-len 200``, ``--keep-negations``, ``--limit none``."""
    flags: list[str] = []
    for key, value in overrides.items():
        name = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(name if value else "--no-" + key.replace("_", "-"))
        else:
            flags += [name, "none" if value is None else str(value)]
    return flags


def settings_text(overrides: dict[str, Any]) -> str:
    """The overrides in one short line for the table: ``epochs=3 limit=5000``."""
    return " ".join(f"{k}={v}" for k, v in overrides.items())


def gradient_ratios(npz: str | Path, ks: Sequence[int] = KS) -> dict[str, float]:
    """``k<k>_mean`` and ``k<k>_median`` of the last recording of a ``gradients.npz`` (NaN where no probe review
    reaches ``k``)."""
    ratios = decay_ratios(load_gradients(npz), ks)
    out: dict[str, float] = {}
    for k in ks:
        out[f"k{k}_mean"] = ratios[k]["mean"]
        out[f"k{k}_median"] = ratios[k]["median"]
    return out


def fmt_ratio(x: Any) -> str:
    """A gradient ratio in a few characters: ``0.27``, ``5.8e-05``, ``0`` (flushed to zero), ``-`` (not reached)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "-"
    if math.isnan(x):
        return "-"
    if x == 0:
        return "0"
    return f"{x:.2g}" if x >= 0.01 else f"{x:.1e}"


def fmt_row(row: dict[str, Any], ks: Sequence[int] = KS) -> list[str]:
    """One table row: cell, settings, accuracy, F1, times, load and the ratios as ``mean (median)``."""
    ratios = [f"{fmt_ratio(row.get(f'k{k}_mean'))} ({fmt_ratio(row.get(f'k{k}_median'))})" for k in ks]
    return [str(row.get("tag", "")), str(row.get("cell", "")).upper() if row.get("cell") != "lstm" else "LSTM",
            f"{row.get('preset', '')} {row.get('settings', '')}".strip(), str(row.get("seed", "")),
            str(row.get("parallel", "")), f"{float(row['accuracy']):.4f}", f"{float(row['f1']):.4f}",
            str(row.get("test_n", "")), f"{float(row['wall_s']):.0f}", f"{float(row['total_wall_s']):.0f}",
            f"{float(row['load1']):.2f}", *ratios]


def markdown_table(rows: Sequence[dict[str, Any]], ks: Sequence[int] = KS) -> str:
    """Every measured row as a markdown table (ratios: mean over the probe reviews, median in brackets)."""
    head = ["tag", "cell", "settings", "seed", "parallel", "test acc.", "F1", "test n", "wall s", "3 cells wall s",
            "load (1 min)", *(f"k = {k}" for k in ks)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(fmt_row(r, ks)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def read_rows(csv_path: str | Path) -> list[dict[str, Any]]:
    path = Path(csv_path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_tables(rows: Sequence[dict[str, Any]], out_dir: str | Path) -> tuple[Path, Path]:
    """Append ``rows`` to ``out_dir/runs.csv`` and rewrite ``out_dir/runs.md`` from the whole CSV."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "runs.csv", out / "runs.md"
    new = not csv_path.exists()
    with open(csv_path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})
    title = ("# The lesson comparison: every measured setting\n\n"
             "Written by `bench/lesson.py`. Wall times are per run, process start to exit (data loading "
             "included); `3 cells wall s` is the three cells of one seed together. The machine has 2 CPU cores "
             "shared with other work, so times are upper bounds; `load (1 min)` is the load average at the end "
             "of each run. Gradient ratios are `||dL/dh_{T-k}|| / ||dL/dh_T||` after training, mean over the "
             "64 probe reviews that reach `k` (median in brackets); `0` is below float32's range (flushed).\n\n")
    md_path.write_text(title + markdown_table(read_rows(csv_path)))
    return csv_path, md_path


def train_one(cell: str, preset_name: str, overrides: dict[str, Any], seed: int, runs_dir: Path | None,
              imdb: str | None) -> dict[str, Any]:
    """One ``python -m core train ... --json`` run; its test metrics, wall time and gradient ratios."""
    cmd = [sys.executable, "-m", "rnnlab.core", "train", "--model", cell, "--preset", preset_name, "--seed", str(seed),
           "--record-gradients", "--json", *cli_flags(overrides)]
    if runs_dir is not None:
        cmd += ["--runs-dir", str(runs_dir)]
    if imdb:
        cmd += ["--imdb", imdb]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        result = {"error": (proc.stderr or proc.stdout).strip()[-2000:]}
    if proc.returncode or "error" in result or result.get("state") != "finished":
        raise RuntimeError(f"{cell} seed {seed} failed (exit {proc.returncode}): {result.get('error', result)}")
    tm = result["test_metrics"]
    if runs_dir is None:
        from rnnlab.core.paths import runs_dir as default_runs_dir

        runs_dir = default_runs_dir()
    row = {"cell": cell, "seed": seed, "accuracy": tm["accuracy"], "f1": tm["f1"], "test_n": tm.get("n"),
           "train_n": tm.get("train_size"), "train_s": round(tm.get("train_time_s", float("nan")), 1),
           "wall_s": round(wall, 1), "load1": round(os.getloadavg()[0], 2), "run_id": result["run_id"]}
    row.update(gradient_ratios(Path(runs_dir) / result["run_id"] / "gradients.npz"))
    return row


def run_lesson(preset_name: str, overrides: dict[str, Any], seeds: Sequence[int], cells: Sequence[str],
               parallel: int = 1, tag: str = "", runs_dir: Path | None = None, imdb: str | None = None,
               say=print) -> list[dict[str, Any]]:
    """Train every cell for every seed; one row per run (the seed's total wall time on each of its rows)."""
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            jobs = [pool.submit(train_one, c, preset_name, overrides, seed, runs_dir, imdb) for c in cells]
            seed_rows = [j.result() for j in jobs]
        total = round(time.perf_counter() - t0, 1)
        for r in seed_rows:
            r.update(tag=tag, preset=preset_name, settings=settings_text(overrides), parallel=parallel,
                     total_wall_s=total, date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M"))
            say(f"{r['cell']:>4} seed {seed}: accuracy {r['accuracy']:.4f}  F1 {r['f1']:.4f}  "
                f"(test n {r['test_n']})  wall {r['wall_s']:.0f} s  ratio k=" +
                "  ".join(f"{k}: {fmt_ratio(r[f'k{k}_mean'])} ({fmt_ratio(r[f'k{k}_median'])})" for k in KS))
        say(f"seed {seed}: all {len(cells)} cells in {total:.0f} s wall (load {os.getloadavg()[0]:.2f})")
        rows += seed_rows
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="lesson", help="the preset the runs start from (default: lesson)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (repeatable): --set epochs=3 --set limit=5000")
    p.add_argument("--seeds", default="0", help="training seeds, comma-separated (default: 0)")
    p.add_argument("--cells", default=",".join(CLASSIC_CELLS),
                   help="cell types, comma-separated (default: rnn,lstm,gru)")
    p.add_argument("--parallel", type=int, default=1, choices=(1, 2), help="runs at once (default: 1)")
    p.add_argument("--tag", default="", help="a name for this setting in the table")
    p.add_argument("--out", default=str(ROOT / "docs" / "lesson"), help="folder of runs.csv and runs.md")
    p.add_argument("--runs-dir", default=None, help="where runs are stored (default $RNNLAB_HOME/runs)")
    p.add_argument("--imdb", default=None, help="aclImdb_v1.tar.gz (default: $RNNLAB_IMDB)")
    args = p.parse_args(argv)
    imdb = args.imdb or os.environ.get("RNNLAB_IMDB")
    if not imdb:
        print("skipped: bench/lesson.py trains on the real IMDB reviews; set RNNLAB_IMDB to aclImdb_v1.tar.gz "
              "(or pass --imdb PATH)")
        return 0
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = sorted(set(cells) - set(CELLS))
    if unknown:
        p.error(f"unknown cell types {unknown}; expected some of {CELLS}")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    overrides = parse_sets(args.set)
    rows = run_lesson(args.preset, overrides, seeds, cells, parallel=args.parallel, tag=args.tag,
                      runs_dir=Path(args.runs_dir) if args.runs_dir else None, imdb=args.imdb)
    csv_path, md_path = write_tables(rows, args.out)
    print(f"table: {md_path} (and {csv_path.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
