"""`python -m core experiment seed`, limited to tiny data: the experiment run, its report and tables, and reuse."""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import tiny_reviews, write_imdb_archive

from rnnlab.core.jobs.store import RunStore
from rnnlab.core.report.experiment import report_folder

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--limit", "16", "--val-size", "4", "--epochs", "1", "--hidden", "4", "--horizon-lengths", "5,10",
        "--horizon-steps", "20", "--hmm-limit", "16"]


def run_experiment(archive: Path, home: Path, out: Path, *more: str) -> subprocess.CompletedProcess:
    """`python -m core experiment seed` on ``archive`` with ``home`` as RNNLAB_HOME, the report copied to ``out``."""
    env = {**os.environ, "RNNLAB_HOME": str(home)}
    env.pop("RNNLAB_RUNS_DIR", None)
    return subprocess.run([sys.executable, "-m", "rnnlab.core", "experiment", "seed", "--imdb", str(archive), "--out",
                           str(out), *ARGS, *more], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@dataclass(frozen=True)
class Seeded:
    archive: Path
    home: Path  # the RNNLAB_HOME the first run filled
    out: Path  # its --out copy of the report
    process: subprocess.CompletedProcess  # the first run, as it finished


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Seeded:
    """The experiment run once, in a fresh home, for the whole module (its trainings are the expensive part).

    Never changed afterwards, so every test sees the first run whatever ran before it: a test that runs the
    experiment again does so in a copy of the home (``rerun``).
    """
    tmp = tmp_path_factory.mktemp("experiment")
    archive = write_imdb_archive(tmp / "aclImdb_v1.tar.gz", tiny_reviews(per_class=8, unsup=10))
    home, out = tmp / "home", tmp / "report"
    return Seeded(archive, home, out, run_experiment(archive, home, out))


@pytest.fixture
def rerun(seeded, tmp_path):
    """``(run, store)``: ``run(*more)`` runs the experiment again over a copy of the seeded home, ``store`` its runs."""
    assert seeded.process.returncode == 0, "the first run failed:\n" + seeded.process.stderr[-3000:]
    home = tmp_path / "home"
    shutil.copytree(seeded.home, home)

    def run(*more):
        return run_experiment(seeded.archive, home, tmp_path / "report", *more)

    return run, RunStore(home / "runs")


def test_the_limited_experiment_writes_the_report_and_its_tables(seeded):
    p, out, store = seeded.process, seeded.out, RunStore(seeded.home / "runs")
    assert p.returncode == 0, p.stderr[-3000:]
    # the experiment is a run of its own; every training, the vectors, the HMM and the study are its children
    [xp] = [r for r in store.list() if r.kind == "experiment"]
    assert xp.status()["state"] == "finished" and xp.config_dict()["label"] == "experiment-seed"
    assert xp.job_config().limit == 16 and xp.job_config().horizon_lengths == (5, 10)
    kinds = sorted(r.kind for r in store.list())
    assert kinds == ["experiment", "hmm", "memory-horizon"] + ["rnn"] * 7 + ["word2vec"]
    assert all(r.status()["state"] == "finished" for r in store.list())
    # the report lives in the run's report/ folder; --out holds a copy of it
    folder = report_folder(xp)
    assert p.stdout.strip().splitlines()[-1] == str(out / "report.md")
    names = {f.name for f in out.iterdir()}
    assert {f.name for f in folder.iterdir()} == names
    assert {"report.md", "results.csv", "runs.csv", "ablations.csv", "memory_horizon.csv",
            "gradient_decay.csv"} <= names
    assert (folder / "report.md").read_text() == (out / "report.md").read_text()
    results = pd.read_csv(out / "results.csv")
    assert list(results["model"]) == ["rnn", "lstm", "gru"] and (results["runs"] == 1).all()
    assert results["accuracy_mean"].between(0, 1).all()
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["group"]) == {"main", "batching: bucket", "batching: fixed 500", "stop words: keep negations",
                                  "embeddings: word2vec init"}
    assert set(runs["run_id"]) == {r.id for r in store.list() if r.kind == "rnn"}
    # the word2vec arm is initialised from the vectors the experiment trained, named in the report,
    # and the GMM-HMM read the same vectors
    [w2v] = [r for r in store.list() if r.kind == "word2vec"]
    [hmm] = [r for r in store.list() if r.kind == "hmm"]
    arm = runs[runs["group"] == "embeddings: word2vec init"]["run_id"]
    assert [store.get(r).config().train.embeddings for r in arm] == [w2v.id]
    assert hmm.job_config().hmm.embeddings == w2v.id and hmm.job_config().hmm.limit == 16
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
    assert f"Word2vec vectors: run `{w2v.id}`" in report
    # 7 RNN runs (3 cells, 4 ablation arms), the word2vec vectors, the HMM and the memory-horizon run
    assert "the 10 runs behind this report took" in report
    assert "on CPU, 1 thread per run" in report  # where the runs trained, not this process's settings


def test_rerunning_the_experiment_reuses_every_finished_run(rerun):
    run, store = rerun
    before = {r.id for r in store.list()}
    p = run()
    assert p.returncode == 0, p.stderr[-3000:]
    # nothing was trained again: the one new run is the second experiment itself
    [new] = [r for r in store.list() if r.id not in before]
    assert new.kind == "experiment" and new.status()["state"] == "finished"
    # the RNN runs, the word2vec vectors, the HMM and the memory-horizon run
    assert p.stderr.count("reusing") >= 7 + 3
    for kind in ("rnn", "word2vec", "hmm", "memory-horizon"):
        assert f"reusing {kind} run" in p.stderr
    assert (report_folder(new) / "report.md").is_file()


def test_an_hmm_of_other_settings_is_not_reused_but_the_rest_is(rerun):
    run, store = rerun
    [old_hmm] = [r for r in store.list() if r.kind == "hmm"]
    before = {r.id for r in store.list()}
    p = run("--hmm-limit", "8")
    assert p.returncode == 0, p.stderr[-3000:]
    new = [r for r in store.list() if r.id not in before]
    assert sorted(r.kind for r in new) == ["experiment", "hmm"]
    [hmm] = [r for r in new if r.kind == "hmm"]
    # the same vectors, another training set: a new fit, reported in place of the old one
    assert hmm.job_config() == replace(old_hmm.job_config(), hmm=replace(old_hmm.job_config().hmm, limit=8))
    assert hmm.test_metrics()["train_size"] == 8 and old_hmm.test_metrics()["train_size"] == 12
    assert "reusing hmm run" not in p.stderr and p.stderr.count("reusing") >= 7 + 2


def test_without_plotly_the_report_keeps_its_tables_and_says_the_figures_are_missing(tmp_path, monkeypatch):
    import rnnlab.core.figures
    from rnnlab.core.report.experiment import _figure, _figures

    monkeypatch.setitem(sys.modules, "rnnlab.core.figures.comparison", None)  # importing it now raises ImportError
    monkeypatch.delattr(rnnlab.core.figures, "comparison", raising=False)  # also when an earlier test imported it
    main = pd.DataFrame({"model": ["rnn"], "seed": [0], "accuracy": [0.5], "f1": [0.5], "roc_auc": [0.5]})
    horizon = pd.DataFrame({"model": ["rnn"], "seq_len": [10], "test_metric": [0.1], "success": [False]})
    figs = _figures(main, [], horizon, tmp_path)
    assert set(figs) == {"metrics", "horizon"} and all("not rendered" in v for v in figs.values())
    assert (tmp_path / "memory_horizon.csv").is_file() and not list(tmp_path.glob("*.png"))
    assert _figure("memory horizon", figs["horizon"]).startswith("*memory horizon: (figure not rendered")
