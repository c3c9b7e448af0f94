"""Time every dashboard page with 20 runs in the store: Streamlit's AppTest, one page file at a time.

Usage: ``python bench/bench_pages.py [--imdb PATH] [--runs 20] [--repeat 5] [--check]``.

A temporary ``RNNLAB_HOME`` gets a run store of ``--runs`` runs: three tiny runs are trained for
real (``core.jobs.lifecycle.run_now``), then cloned, and each clone's ``metrics.jsonl`` is given the size of
a real 5-epoch IMDB run (450 steps per epoch) so that loading costs what it would. The dataset is
the tiny test archive unless ``--imdb`` names the real one.

For each page it reports the first render in this process (imports, cold caches) and the
median of ``--repeat`` further renders of a fresh AppTest (what a user sees on every visit and
rerun: Streamlit's caches are warm). Target: every warm render under 2 s on a 2-core CPU.
``--check`` exits with status 1 when a page misses it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PAGES = ("overview.py", "data.py", "train.py", "compare.py")
TARGET_S = 2.0
STEPS_PER_EPOCH, EPOCHS = 450, 5  # a seed-preset run on the full training split


def clone_runs(store_root: Path, n: int) -> None:
    """Copy the trained runs until there are ``n``, with real-sized metric files."""
    import secrets

    import numpy as np

    from rnnlab.core.jobs.store import Run

    originals = sorted(p for p in store_root.iterdir() if (p / "config.json").is_file())
    rng = np.random.default_rng(0)
    for i in range(n - len(originals)):
        src = originals[i % len(originals)]
        stamp, rest = src.name[:15], src.name[16:].rsplit("-", 1)[0]
        dst = store_root / f"{stamp}-{rest}-{secrets.token_hex(3)}"
        shutil.copytree(src, dst)
    for path in store_root.iterdir():
        if not (path / "test_metrics.json").is_file():
            continue
        run = Run(path)
        (path / "metrics.jsonl").unlink()
        recs = []
        for e in range(EPOCHS):
            for b in range(STEPS_PER_EPOCH):
                step = e * STEPS_PER_EPOCH + b
                recs.append({"kind": "step", "step": step, "epoch": e, "batch_size": 50,
                             "loss": float(0.7 * np.exp(-step / 800) + 0.05 * rng.random()),
                             "grad_norm": float(1 + rng.random()), "clipped": False, "skipped": False,
                             "correct": int(rng.integers(25, 50)),
                             "norms": {"embedding": 0.1, "input_hidden": 0.5, "hidden_hidden": 0.4, "output": 0.2}})
            recs.append({"kind": "epoch", "epoch": e, "step": (e + 1) * STEPS_PER_EPOCH, "train_loss": 0.5 - e / 20,
                         "val_loss": 0.55 - e / 25, "train_accuracy": 0.7 + e / 25, "val_accuracy": 0.68 + e / 30,
                         "epoch_time_s": 60.0, "samples": 22500, "samples_per_s": 375.0, "best": True})
        run.append_metrics(recs)
        tm = json.loads((path / "test_metrics.json").read_text())
        fpr = np.linspace(0, 1, 200)
        tm["roc"] = {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist()}
        tm["confusion_matrix"] = [[10800, 1700], [1900, 10600]]
        run.write_json("test_metrics.json", tm)


def build_home(home: Path, n_runs: int, imdb: str | None) -> str:
    from fixtures_runs import build_trained_home, nltk_data

    (home.parent / "trained").mkdir(parents=True)
    trained = build_trained_home(home.parent / "trained")
    shutil.copytree(trained.home, home)
    failed = home / "runs" / trained.run_ids["failed"]
    shutil.rmtree(failed)  # only finished runs are cloned; one failed run is kept separately
    clone_runs(home / "runs", n_runs - 1)
    shutil.copytree(trained.home / "runs" / trained.run_ids["failed"], failed)
    if nltk_data():
        os.environ["NLTK_DATA"] = nltk_data()
    return imdb or str(trained.archive)


def render(page: str) -> float:
    """Seconds for one AppTest run of a page file (a fresh session: no widget state)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=300)
    t0 = time.perf_counter()
    at.run()
    dt = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].value}")
    return dt


def time_pages(repeat: int) -> dict[str, tuple[float, list[float]]]:
    out = {}
    for page in PAGES:
        first = render(page)
        out[page] = (first, [render(page) for _ in range(repeat)])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb", help="the real aclImdb_v1.tar.gz or aclImdb/ folder (default: a tiny test archive)")
    parser.add_argument("--runs", type=int, default=20, help="runs in the store (one of them failed)")
    parser.add_argument("--repeat", type=int, default=5, help="warm renders per page (the median is reported)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if a warm render takes over {TARGET_S} s")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="rnnlab-bench-pages-"))
    home = tmp / "home"
    os.environ["RNNLAB_HOME"] = str(home)
    try:
        t0 = time.perf_counter()
        os.environ["RNNLAB_IMDB"] = build_home(home, args.runs, args.imdb)
        if args.imdb:
            from rnnlab.core.data.imdb import load_imdb

            load_imdb(args.imdb)  # the Parquet cache, as a user who has loaded the data once has it
        from rnnlab.core.jobs.store import RunStore

        n = len(RunStore().list())
        print(f"store       {n} runs ({EPOCHS} epochs x {STEPS_PER_EPOCH} steps of metrics each), "
              f"built in {time.perf_counter() - t0:.1f} s")
        print(f"dataset     {os.environ['RNNLAB_IMDB']}")
        results = time_pages(args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    missed = False
    print(f"{'page':12} {'first (s)':>10} {'warm median (s)':>16} {'warm max (s)':>13}")
    for page, (first, warm) in results.items():
        med = statistics.median(warm)
        ok = "ok" if med <= TARGET_S else "MISSED"
        missed |= med > TARGET_S
        print(f"{page:12} {first:10.2f} {med:16.2f} {max(warm):13.2f}  {ok}")
    print(f"target: warm render <= {TARGET_S:.0f} s per page")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
