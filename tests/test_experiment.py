"""`python -m core experiment seed`, limited to tiny data: the report's files and tables, and resuming."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import tiny_reviews, write_imdb_archive

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--limit", "16", "--val-size", "4", "--epochs", "1", "--hidden", "4", "--horizon-lengths", "5,10",
        "--horizon-steps", "20", "--hmm-limit", "16"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("experiment")
    archive = write_imdb_archive(tmp / "aclImdb_v1.tar.gz", tiny_reviews(per_class=8, unsup=10))
    env = {**os.environ, "RNNLAB_HOME": str(tmp / "home"), "NLTK_DATA": os.environ.get("NLTK_DATA", "")}
    out = tmp / "report"

    def run():
        return subprocess.run([sys.executable, "-m", "core", "experiment", "seed", "--imdb", str(archive), "--out",
                               str(out), *ARGS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    return run, out


def test_the_limited_experiment_writes_the_report_and_its_tables(experiment):
    run, out = experiment
    p = run()
    assert p.returncode == 0, p.stderr[-3000:]
    names = {f.name for f in out.iterdir()}
    assert {"report.md", "results.csv", "runs.csv", "ablations.csv", "memory_horizon.csv",
            "gradient_decay.csv"} <= names
    results = pd.read_csv(out / "results.csv")
    assert list(results["model"]) == ["rnn", "lstm", "gru"] and (results["runs"] == 1).all()
    assert results["accuracy_mean"].between(0, 1).all()
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["group"]) == {"main", "batching: bucket", "batching: fixed 500", "stop words: keep negations",
                                  "embeddings: word2vec init"}
    # the word2vec arm is initialised from the vectors the experiment trained, named in the report
    ablations = pd.read_csv(out / "ablations.csv")
    assert "embeddings: word2vec init" in set(ablations["group"])
    horizon = pd.read_csv(out / "memory_horizon.csv")
    assert len(horizon) == 6 and set(horizon["seq_len"]) == {5, 10}
    report = (out / "report.md").read_text()
    for heading in ("Accuracy, F1 and training time", "GMM-HMM baseline", "How the gradient decays",
                    "Ablations", "Memory horizon"):
        assert heading in report
    # every table row of the report's main table is a model of results.csv
    assert all(f"| {m} |" in report for m in results["model"])
    assert "Word2vec vectors: run `" in report
    # 7 RNN runs (3 cells, 4 ablation arms), the word2vec vectors, the HMM and the memory-horizon run
    assert "the 10 runs behind this report took" in report
    assert "on CPU, 1 thread per run" in report  # where the runs trained, not this process's settings


def test_rerunning_the_experiment_reuses_every_finished_run(experiment):
    run, out = experiment
    p = run()
    assert p.returncode == 0, p.stderr[-3000:]
    assert "training " not in p.stderr
    # the RNN runs, the word2vec vectors, the HMM and the memory-horizon run
    assert p.stderr.count("reusing") >= 7 + 3
    assert "reusing word2vec run" in p.stderr


def test_without_plotly_the_report_keeps_its_tables_and_says_the_figures_are_missing(tmp_path, monkeypatch):
    import dashboard
    from core.report.experiment import _figure, _figures

    monkeypatch.setitem(sys.modules, "dashboard.charts", None)  # importing it now raises ImportError
    monkeypatch.delattr(dashboard, "charts", raising=False)  # also when an earlier test imported it
    main = pd.DataFrame({"model": ["rnn"], "seed": [0], "accuracy": [0.5], "f1": [0.5], "roc_auc": [0.5]})
    horizon = pd.DataFrame({"model": ["rnn"], "seq_len": [10], "test_metric": [0.1], "success": [False]})
    figs = _figures(main, [], horizon, tmp_path)
    assert set(figs) == {"metrics", "horizon"} and all("not rendered" in v for v in figs.values())
    assert (tmp_path / "memory_horizon.csv").is_file() and not list(tmp_path.glob("*.png"))
    assert _figure("memory horizon", figs["horizon"]).startswith("*memory horizon: (figure not rendered")
