"""Time IMDB loading: a cold parse of the whole archive and a warm load from the Parquet cache.

Usage: ``python bench/bench_data.py [PATH] [--repeat N] [--check]`` where PATH is the archive or
``aclImdb/`` folder (default ``$RNNLAB_IMDB``). A fresh temporary ``RNNLAB_HOME`` makes the first
load truly cold; it is deleted afterwards. Targets: cold <= 60 s, warm <= 3 s (2-core CPU).
``--check`` exits with status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnlab.core.data import imdb as data  # noqa: E402

COLD_TARGET_S = 60.0
WARM_TARGET_S = 3.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "path", nargs="?", default=os.environ.get(data.ENV_VAR), help="archive or aclImdb/ folder"
    )
    parser.add_argument("--repeat", type=int, default=3, help="warm loads to time (the best is reported)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if not args.path:
        parser.error(f"give the dataset path or set {data.ENV_VAR}")

    home = tempfile.mkdtemp(prefix="rnnlab-bench-")
    os.environ["RNNLAB_HOME"] = home
    try:
        t0 = time.perf_counter()
        df = data.load_imdb(args.path)
        cold = time.perf_counter() - t0

        warm_times = []
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            warm_df = data.load_imdb(args.path)
            warm_times.append(time.perf_counter() - t0)
        warm = min(warm_times)
        assert len(warm_df) == len(df)
        cache_mb = Path(df.attrs["cache"]).stat().st_size / 2**20
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print(f"source      {df.attrs['source']} ({df.attrs['kind']})")
    print(f"reviews     {len(df):,}  {df.attrs['counts']}")
    print(f"stats       {df.attrs['stats']}")
    print(f"cache       {cache_mb:.1f} MiB Parquet")
    cold_ok = "ok" if cold <= COLD_TARGET_S else "MISSED"
    warm_ok = "ok" if warm <= WARM_TARGET_S else "MISSED"
    print(f"cold parse  {cold:6.2f} s  (target <= {COLD_TARGET_S:.0f} s)  {cold_ok}")
    runs = ", ".join(f"{t:.2f}" for t in warm_times)
    print(f"warm load   {warm:6.2f} s  (target <= {WARM_TARGET_S:.0f} s)  {warm_ok}  best of: {runs}")
    missed = cold > COLD_TARGET_S or warm > WARM_TARGET_S
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
