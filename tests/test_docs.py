"""The committed reports and the README agree: the README's tables are the reports' numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXPERIMENT = ROOT / "docs" / "experiment"
GPU = ROOT / "docs" / "gpu"
ABLATIONS = {"batching: bucket": "LSTM, length buckets", "batching: fixed 500": "LSTM, fixed padding to 500",
             "stop words: keep negations": "LSTM, keep negations", "embeddings: word2vec init": "LSTM, word2vec init"}


def readme_row(label: str) -> list[str]:
    """The cells of the README table row whose first cell starts with ``label``."""
    rows = [line for line in README.splitlines() if line.startswith(f"| {label}")]
    assert rows, f"no README row for {label!r}"
    return [c.strip() for c in rows[0].strip("|").split("|")]


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_the_readme_experiment_table_is_the_committed_report(model):
    r = pd.read_csv(EXPERIMENT / "results.csv").set_index("model").loc[model]
    cells = readme_row(f"{model.upper()} | {int(r['runs'])} |")
    for metric, cell in zip(("accuracy", "f1", "roc_auc"), cells[2:5], strict=True):
        assert cell == f"{r[f'{metric}_mean']:.3f} ± {r[f'{metric}_std']:.3f}", metric
    assert cells[5] == f"{r['train_time_s_mean']:.0f} s"


@pytest.mark.parametrize("group", list(ABLATIONS))
def test_the_readme_ablation_rows_are_the_committed_report(group):
    r = pd.read_csv(EXPERIMENT / "ablations.csv").set_index("group").loc[group]
    cells = readme_row(ABLATIONS[group])
    assert cells[1] == str(int(r["runs"]))
    assert [c.strip("*") for c in cells[2:5]] == [f"{r[m + '_mean']:.3f} ± {r[m + '_std']:.3f}"
                                                  for m in ("accuracy", "f1", "roc_auc")]


def test_every_figure_and_table_the_report_links_is_committed():
    report = (EXPERIMENT / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+)\)", report)
    assert {"test_metrics.png", "gradient_decay.png", "memory_horizon.png", "runs.csv"} <= set(links)
    assert all((EXPERIMENT / link).is_file() for link in links)
    assert "the full IMDB splits" in report


def test_the_readme_gpu_table_is_the_committed_gpu_check():
    runs = pd.read_csv(GPU / "seed" / "runs.csv")
    for r in runs.itertuples():
        cells = readme_row(f"seed | {r.model.upper()} ")
        assert cells[2:4] == [f"{r.accuracy:.4f}", f"{r.f1:.4f}"]
        assert cells[4] == f"{r.train_time_s:.1f} s"
    assert "NVIDIA H200" in (GPU / "gpu_check.log").read_text(encoding="utf-8")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_readme_lesson_table_is_the_committed_measurement(cell):
    runs = pd.read_csv(ROOT / "docs" / "lesson" / "runs.csv")
    chosen = runs[(runs["tag"] == "L7k-e3") & (runs["cell"] == cell)].sort_values("seed")
    assert list(chosen["seed"]) == [0, 1, 2] and set(chosen["test_n"]) == {7000}
    cells = readme_row(f"lesson {cell.upper()} ")
    assert cells[1] == " / ".join(f"{a:.3f}" for a in chosen["accuracy"])
    assert cells[2] == " / ".join(f"{v:.2g}" if v >= 0.01 else f"{v:.1e}".replace("e-0", "e-")
                                  for v in chosen["k50_median"])


def test_the_lesson_preset_is_what_was_measured():
    from rnnlab.core.config import preset

    runs = pd.read_csv(ROOT / "docs" / "lesson" / "runs.csv")
    measured = runs[runs["tag"] == "L7k-e3"].iloc[0]
    cfg = preset("lesson")
    assert measured["settings"] == f"limit={cfg.data.limit} epochs={cfg.train.epochs}" and cfg.train.record_gradients


def test_the_readme_best_at_seed_size_table_is_the_published_study():
    from rnnlab.core.sweep.job import named_none
    from rnnlab.core.sweep.spec import parse_spec, plan

    folder = ROOT / "docs" / "sweeps" / "best-at-seed-size"
    spec = parse_spec((folder / "spec.toml").read_bytes())
    results = pd.read_csv(folder / "results.csv")
    assert len(results) == len(plan(spec)) == 48 and (results["state"] == "finished").all()
    summary = named_none(pd.read_csv(folder / "summary.csv"), spec.varied)
    assert len(summary) == 16 and set(summary["runs"]) == {3}
    for r in summary.itertuples():
        cells = readme_row(f"{r.cell.upper()} | {'random' if r.embeddings == 'none' else 'word2vec'} | "
                           f"{'kept' if r.keep_negations else 'dropped'} | "
                           f"{'both ways' if r.bidirectional else 'one way'} |")
        assert cells[4:7] == [f"{r.accuracy_mean:.3f} ± {r.accuracy_std:.3f}", f"{r.f1_mean:.3f} ± {r.f1_std:.3f}",
                              f"{r.roc_auc_mean:.3f} ± {r.roc_auc_std:.3f}"]
        assert cells[7] == f"{r.train_time_s_mean:.0f} s" and cells[8] == f"{r.best_epoch_mean + 1:.1f}"


def test_the_readme_own_data_table_is_the_committed_measurement():
    measured = (ROOT / "docs" / "own-data" / "runs.md").read_text(encoding="utf-8")
    rows = [line for line in measured.splitlines() if line.startswith("| ")]
    assert len(rows) >= 7  # the header and six commands
    missing = [row for row in rows if row not in README.splitlines()]
    assert not missing, "README rows that differ from docs/own-data/runs.md:\n" + "\n".join(missing)


def test_the_readme_best_preset_table_is_the_committed_measurement():
    measured = (ROOT / "docs" / "best" / "short-text.md").read_text(encoding="utf-8")
    rows = [line for line in measured.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| seed", "| fast", "| best"]  # after the header
    missing = [row for row in rows if row not in README.splitlines()]
    assert not missing, "README rows that differ from docs/best/short-text.md:\n" + "\n".join(missing)


def test_the_committed_product_reviews_are_the_test_fixture(tmp_path):
    from fixtures_reviews import write_product_reviews

    assert (ROOT / "docs" / "own-data" / "products.csv").read_bytes() == \
        write_product_reviews(tmp_path / "products.csv").read_bytes()


@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru", "minlstm", "lru"])
def test_the_readme_modern_cells_imdb_table_is_the_published_study(cell):
    from rnnlab.core.sweep.spec import parse_spec, plan

    folder = ROOT / "docs" / "sweeps" / "modern-cells-imdb"
    spec = parse_spec((folder / "spec.toml").read_bytes())
    results = pd.read_csv(folder / "results.csv")
    assert len(results) == len(plan(spec)) == 15 and (results["state"] == "finished").all()
    r = pd.read_csv(folder / "summary.csv").set_index("cell").loc[cell]
    cells = readme_row(f"`{cell}` |")
    assert cells[1:5] == [f"{r.accuracy_mean:.3f} ± {r.accuracy_std:.3f}", f"{r.f1_mean:.3f}",
                          f"{r.best_epoch_mean + 1:.1f}", f"{r.train_time_s_mean:.0f} s"]
    # the share of the gradient k steps back, to the two figures written
    for cell_text, value in zip(cells[5:8], (r.decay_k10_mean, r.decay_k50_mean, r.decay_k100_mean), strict=True):
        assert float(cell_text.split()[0].strip("*")) == pytest.approx(value, rel=0.05)
