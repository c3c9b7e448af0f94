"""Print the table of ``bench/gpu_check.sh``: wall time and samples/s per model, from runs.csv files.

Usage: python bench/gpu_table.py OUT/seed/runs.csv OUT/fast/runs.csv ...   (also writes OUT/gpu_table.md
next to the first file's folder). Reads only pandas and the CSVs ``python -m core experiment`` writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

COLUMNS = ["arm", "model", "batching", "bf16", "accuracy", "f1", "train_time_s", "wall_time_s", "samples_per_s"]


def table(paths: list[Path]) -> pd.DataFrame:
    """One row per run of every runs.csv, named by its experiment folder (the arm)."""
    frames = []
    for path in paths:
        df = pd.read_csv(path)
        frames.append(df.assign(arm=path.parent.name))
    df = pd.concat(frames, ignore_index=True)
    return df[[c for c in COLUMNS if c in df]]


def markdown(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    for r in df.itertuples(index=False):
        cells = [f"{v:.4f}" if col in ("accuracy", "f1") else f"{v:.1f}" if isinstance(v, float) else str(v)
                 for col, v in zip(df.columns, r, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    totals = df.groupby("arm", sort=False)["train_time_s"].sum()
    lines += ["", "Training time of the three models together: "
              + ", ".join(f"{arm} {t:.1f} s" for arm, t in totals.items())]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv if Path(a).is_file()]
    if not paths:
        print("no runs.csv found: no experiment finished", file=sys.stderr)
        return 1
    text = markdown(table(paths))
    print(text)
    (paths[0].parent.parent / "gpu_table.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
