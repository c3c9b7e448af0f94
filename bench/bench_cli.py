"""How long the command line takes to answer, against how long importing torch takes, measured in one run.

    python bench/bench_cli.py [--repeats 9]

Runs each command line ``--repeats`` times in a fresh interpreter (after one untimed run that warms the disk
cache) and prints the median wall time of each: ``python -m core --help``, ``--version``, ``train --help``,
``train --print-config``, and ``python -c "import torch"``, with each one's share of torch's import. Building the
parser imports no heavy library (``tests/test_cli_startup.py`` checks that), so these answer in a fraction of
torch's import. The machines here are shared: compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python -m core --help": ["-m", "rnnlab.core", "--help"],
    "python -m core --version": ["-m", "rnnlab.core", "--version"],
    "python -m core train --help": ["-m", "rnnlab.core", "train", "--help"],
    "python -m core train --print-config": ["-m", "rnnlab.core", "train", "--print-config"],
    'python -c "import torch"': ["-c", "import torch"],
}


def wall_times(args: list[str], repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` runs of ``python ARGS`` in the checkout (one untimed run first)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        if i:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=9, help="timed runs of each command line (default 9)")
    args = p.parse_args()
    medians = {name: statistics.median(wall_times(argv, args.repeats)) for name, argv in COMMANDS.items()}
    torch_s = medians['python -c "import torch"']
    print(f"median wall time of {args.repeats} runs each (python {sys.version.split()[0]}, {os.cpu_count()} CPUs):")
    for name, seconds in medians.items():
        print(f"  {name:40} {seconds:6.3f} s  {seconds / torch_s:6.2f} x torch's import")


if __name__ == "__main__":
    main()
