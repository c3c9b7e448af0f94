"""The GMM-HMM baseline: Baum-Welch per class, the guards around hmmlearn, the ``hmm`` job and its run, the CLI."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_reviews, write_imdb_archive
from fixtures_runs import use_home

from rnnlab.core.analysis.predict import load_hmm_run
from rnnlab.core.config import DataConfig, HMMConfig, HMMRunConfig, TextConfig, Word2VecConfig, Word2VecRunConfig
from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.store import RunNotFound, RunStore
from rnnlab.core.jobs.vectors import resolve_vectors
from rnnlab.core.models.hmm import (
    HMMClassifier,
    HMMFitError,
    _fix_distribution,
    _floor_covars,
    _monitor_class,
    fit_class_model,
)

SMALL = HMMConfig(states=2, mix=1, dim=2, n_iter=15, restarts=2)


def markov_sequences(stay: float, n: int, length: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Two-state chains emitting N((+-2, 0), I): ``stay`` is the chance of keeping the state."""
    means = np.array([[-2.0, 0.0], [2.0, 0.0]])
    out = []
    for _ in range(n):
        s, xs = int(rng.integers(2)), []
        for _ in range(length):
            xs.append(means[s] + rng.normal(size=2))
            s = s if rng.random() < stay else 1 - s
        out.append(np.array(xs))
    return out


def two_class_problem(seed: int, n: int = 20) -> tuple[list[np.ndarray], np.ndarray]:
    """Same emissions, different dynamics: class 0 stays in its state, class 1 keeps switching."""
    rng = np.random.default_rng(seed)
    seqs = markov_sequences(0.9, n, 25, rng) + markov_sequences(0.1, n, 25, rng)
    return seqs, np.array([0] * n + [1] * n)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_the_classifier_solves_a_two_class_sequence_problem_with_rising_likelihood(covariance_type):
    cfg = HMMConfig(states=2, mix=1, n_iter=15, restarts=2, covariance_type=covariance_type)
    train, y_train = two_class_problem(seed=0)
    test, y_test = two_class_problem(seed=1)
    calls = []
    clf = HMMClassifier(cfg).fit(train, y_train, on_iteration=lambda *a: calls.append(a))
    accuracy = float((clf.predict(test) == y_test).mean())
    assert accuracy >= 0.9  # chance is 0.5; only the transition structure tells the classes apart
    for fitted in clf.fits.values():
        assert len(fitted.restarts) == 2 and all(r["ok"] for r in fitted.restarts)
        for r in fitted.restarts:
            ll = np.array(r["log_likelihood"])
            assert len(ll) >= 2 and (np.diff(ll) >= -1e-6 * np.abs(ll[1:])).all(), ll
        best = max(fitted.restarts, key=lambda r: r["final_log_likelihood"])
        assert fitted.best_restart == best["restart"]
    # every iteration was reported as it happened (the run's heartbeat)
    for c, fitted in clf.fits.items():
        for r in fitted.restarts:
            reported = [(it, ll) for cc, rr, it, ll in calls if (cc, rr) == (c, r["restart"])]
            assert reported == list(enumerate(r["log_likelihood"], start=1))


def test_viterbi_gives_one_state_per_token_under_each_class_model():
    train, y = two_class_problem(seed=2, n=10)
    clf = HMMClassifier(HMMConfig(states=2, mix=1, n_iter=10, restarts=1)).fit(train, y)
    states = clf.viterbi(train[0])
    assert set(states) == {0, 1} and all(len(s) == len(train[0]) for s in states.values())
    assert all(set(np.unique(s)) <= {0, 1} for s in states.values())
    # a sticky chain under the sticky model: few state changes
    assert np.count_nonzero(np.diff(states[0])) < len(train[0]) / 3
    assert {len(s) for s in clf.viterbi(np.zeros((0, 2))).values()} == {0}


def test_monitor_treats_a_falling_likelihood_as_no_convergence():
    monitor = _monitor_class()(tol=0.5, n_iter=10, verbose=False)
    for ll in (-100.0, -50.0, -60.0):
        monitor.report(ll)
    assert not monitor.converged  # hmmlearn's own monitor would stop here: -10 < tol
    assert monitor.drops == [(2, 10.0)] and list(monitor.history) == [-100.0, -50.0, -60.0]
    monitor.report(-59.8)
    assert monitor.converged  # a small gain is convergence
    full = _monitor_class()(tol=0.0, n_iter=2, verbose=False)
    full.report(1.0)
    full.report(2.0)
    assert full.converged  # the iteration budget


def test_broken_distributions_and_covariances_are_repaired():
    p = _fix_distribution(np.array([[0.2, 0.8], [np.nan, 0.5], [0.0, 0.0]]))
    np.testing.assert_allclose(p, [[0.2, 0.8], [0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(_floor_covars(np.array([[[0.0, -1.0, 2.0]]]), "diag", 1e-3), [[[1e-3, 1e-3, 2.0]]])
    not_pd = np.array([[[[1.0, 2.0], [2.0, 1.0]]]])  # eigenvalues 3 and -1
    fixed = _floor_covars(not_pd, "full", 1e-3)
    assert np.linalg.eigvalsh(fixed[0, 0]).min() >= 1e-3 - 1e-12


def test_every_restart_failing_raises_a_clear_error():
    bad = [np.full((5, 2), np.nan), np.full((4, 2), np.nan)]
    with pytest.raises(HMMFitError, match="every restart failed.*restart 1"):
        fit_class_model(bad, HMMConfig(states=2, mix=1, restarts=2))
    with pytest.raises(ValueError, match="no non-empty sequence"):
        fit_class_model([np.zeros((0, 2))], SMALL)


def test_parameters_round_trip_as_plain_arrays():
    train, y = two_class_problem(seed=3, n=8)
    cfg = HMMConfig(states=2, mix=2, n_iter=5, restarts=1)
    clf = HMMClassifier(cfg).fit(train, y)
    arrays = clf.to_arrays()
    assert all(a.dtype != object for a in arrays.values())
    back = HMMClassifier.from_arrays(cfg, arrays)
    np.testing.assert_allclose(back.decision(train), clf.decision(train))
    arrays["class0_transmat"] = arrays["class0_transmat"] * 2  # rows no longer sum to 1
    with pytest.raises(ValueError, match="transmat_"):
        HMMClassifier.from_arrays(cfg, arrays)


def test_an_empty_sequence_is_undecided():
    train, y = two_class_problem(seed=4, n=8)
    clf = HMMClassifier(HMMConfig(states=2, mix=1, n_iter=5, restarts=1)).fit(train, y)
    assert clf.decision([np.zeros((0, 2))])[0] == 0.0


# -- the IMDB experiment on a tiny archive, as a run of kind "hmm" ---------------------------------------
@dataclass(frozen=True)
class HMMHome:
    home: Path
    archive: Path
    word2vec_id: str
    hmm_id: str


FIT = HMMConfig(states=2, mix=1, dim=2, n_iter=5, restarts=1)


def build_hmm_home(root: Path) -> HMMHome:
    """A tiny archive, a word2vec run and a GMM-HMM run fitted on its vectors (seconds)."""
    archive = write_imdb_archive(root / "aclImdb_v1.tar.gz", tiny_reviews(per_class=8, unsup=6))
    home = root / "home"
    data = DataConfig(imdb_path=str(archive), val_size=2)
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home)
        store = RunStore(home / "runs")
        # max_len 40 like the tiny RNN runs (tests/fixtures_runs.py), so long texts are cut alike
        text = TextConfig(max_len=40)
        w2v = lifecycle.run_now("word2vec", Word2VecRunConfig(data=data, text=text, word2vec=Word2VecConfig(
            dim=8, min_count=1, epochs=3)), store, label="word2vec-skipgram")
        cfg, first = resolve_vectors(HMMRunConfig(data=data, text=text, hmm=FIT), store)  # names w2v's run
        assert first is None
        run = lifecycle.run_now("hmm", cfg, store, label="gmmhmm")
    return HMMHome(home, archive, w2v.id, run.id)


@pytest.fixture(scope="module")
def hmm_home(tmp_path_factory) -> HMMHome:
    return build_hmm_home(tmp_path_factory.mktemp("hmm"))


def test_the_hmm_run_is_stored_like_an_rnn_run(hmm_home):
    from rnnlab.core.training.trainer import classification_metrics

    store = RunStore(hmm_home.home / "runs")
    run = store.get(hmm_home.hmm_id)
    st = run.status()
    assert run.kind == "hmm" and st["state"] == "finished" and st["progress"] == {"phase": "finished"}
    assert st["process"]["pid"] == os.getpid() and st["started"] <= st["finished"]  # fitted in this process
    cfg = run.config_dict()
    assert cfg["label"] == "gmmhmm" and cfg["hmm"]["states"] == 2 and cfg["hmm"]["embeddings"] == hmm_home.word2vec_id
    # the one config record reads back as the job's dataclass, resolved: it names the vectors the fit read
    job = run.job_config()
    assert job == HMMRunConfig(data=DataConfig(imdb_path=str(hmm_home.archive), val_size=2),
                               text=TextConfig(max_len=40),
                               hmm=replace(FIT, embeddings=hmm_home.word2vec_id))
    with pytest.raises(ValueError, match="not a recurrent network"):
        run.config()
    tm = run.test_metrics()
    expected = set(classification_metrics(np.array([1.0, -1.0]), np.array([1.0, 0.0])))
    assert expected <= set(tm) and {"fit_time_s", "train_time_s", "train_size", "subsampled"} <= set(tm)
    assert tm["n"] == 16 and tm["train_size"] == 14 and not tm["subsampled"]
    assert tm["word2vec_run"] == hmm_home.word2vec_id
    with np.load(run.file("hmm.npz"), allow_pickle=False) as z:
        assert "class1_means" in z.files and z["token_vectors"].shape[1] == 2
    em = run.metrics("em")
    assert {r["class"] for r in em} == {0, 1}
    fit = json.loads(run.file("hmm.json").read_text())
    assert fit["fits"]["0"]["restarts"][0]["log_likelihood"]
    row = next(r for r in store.summaries() if r["run_id"] == run.id)
    assert row["kind"] == "hmm" and row["model"] == "gmmhmm" and row["test_accuracy"] == tm["accuracy"]


def test_a_loaded_hmm_run_classifies_like_the_stored_one(hmm_home):
    from rnnlab.core.analysis.predict import classify

    run = RunStore(hmm_home.home / "runs").get(hmm_home.hmm_id)
    lh = load_hmm_run(run)
    out = classify(lh, "pos film, really pos review")
    assert out["kind"] == "hmm" and 0.0 <= out["probability"] <= 1.0
    assert out["tokens"] == ["pos", "film", "really", "pos", "review"]
    assert out["unknown"] == [False, False, True, False, False]  # "really" never occurs in the archive
    assert len(out["viterbi_states"]["positive"]) == 4


def _word2vec_run(store: RunStore, state: str, vectors: bool = True):
    run = store.create(Word2VecRunConfig(), kind="word2vec")
    run.update_status(state=state)
    if vectors:
        np.save(run.file("vectors.npy"), np.zeros((1, 2), dtype=np.float32))
    return run


def test_resolve_vectors_names_the_newest_finished_word2vec_run_or_the_one_to_train_first(tmp_path):
    store = RunStore(tmp_path / "runs")
    data, text = DataConfig(imdb_path="imdb.tar.gz", val_size=2), TextConfig(max_len=40)
    cfg = HMMRunConfig(data=data, text=text, hmm=HMMConfig(limit=30))
    # none in the store: the skip-gram job to run first, on as many reviews as the fit reads
    assert resolve_vectors(cfg, store) == (cfg, Word2VecRunConfig(data=replace(data, limit=30), text=text))
    older = _word2vec_run(store, "finished")
    _word2vec_run(store, "failed")
    _word2vec_run(store, "finished", vectors=False)
    resolved, first = resolve_vectors(cfg, store)
    assert first is None and resolved == replace(cfg, hmm=replace(cfg.hmm, embeddings=older.id))
    newer = _word2vec_run(store, "finished")
    assert resolve_vectors(cfg, store)[0].hmm.embeddings == newer.id
    named = replace(cfg, hmm=replace(cfg.hmm, embeddings=older.id))
    assert resolve_vectors(named, store) == (named, None)  # a run named by the user is kept
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        resolve_vectors(replace(cfg, hmm=replace(cfg.hmm, embeddings="nope")), store)


def test_an_hmm_job_without_word2vec_vectors_fails_clearly_and_is_recorded(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create(HMMRunConfig(), kind="hmm", label="gmmhmm")  # made without resolve_vectors naming vectors
    with pytest.raises(ValueError, match="needs a word2vec run"):
        lifecycle.run_job(run, store)
    [run] = store.list()
    st = run.status()
    assert run.kind == "hmm" and st["state"] == "failed" and "needs a word2vec run" in st["error"]
    assert "Traceback" in run.file("error.log").read_text() and not run.file("hmm.npz").exists()


def test_a_cancel_request_stops_the_fit_at_its_next_baum_welch_iteration(hmm_home, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(hmm_home.home, tmp_path / "home")
    use_home(monkeypatch, tmp_path / "home")
    store = RunStore(tmp_path / "home" / "runs")
    run = store.create(store.get(hmm_home.hmm_id).job_config(), kind="hmm", label="gmmhmm")
    seen = []
    real_fit = HMMClassifier.fit

    def fit_cancelled_at_iteration_2(self, seqs, labels, n_classes=None, say=None, on_iteration=None):
        def hook(c, r, it, ll):
            if it == 2:
                lifecycle.cancel(run)
            on_iteration(c, r, it, ll)
            seen.append(run.stored_status()["progress"])
        return real_fit(self, seqs, labels, n_classes, say=say, on_iteration=hook)

    monkeypatch.setattr(HMMClassifier, "fit", fit_cancelled_at_iteration_2)
    lifecycle.run_job(run, store)
    # every iteration reports its progress; the one after the request stops the job
    assert len(seen) == 1 and seen[0]["phase"] == "fitting"
    assert {k: seen[0][k] for k in ("class", "restart", "iteration", "iterations")} == \
        {"class": 0, "restart": 0, "iteration": 1, "iterations": 5}
    st = run.status()
    assert st["state"] == "cancelled" and st["progress"] == {"phase": "cancelled"} and not st.get("error")
    assert not run.file("hmm.npz").exists() and run.test_metrics() is None and run.metrics("em") == []


def test_cli_hmm_fits_and_runs_lists_it(tmp_path, capsys, monkeypatch):
    from rnnlab.core.__main__ import main

    archive = write_imdb_archive(tmp_path / "a.tar.gz", tiny_reviews(per_class=6, unsup=4))
    use_home(monkeypatch, tmp_path / "home")
    assert main(["hmm", "--states", "2", "--mix", "1", "--dim", "2", "--restarts", "1", "--iter", "3", "--limit", "6",
                 "--val-size", "2", "--imdb", str(archive)]) == 0
    out, err = capsys.readouterr()
    run_id = out.strip().splitlines()[-1]
    assert "test accuracy" in err
    assert main(["runs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    kinds = {r["run_id"]: r["kind"] for r in rows}
    assert kinds[run_id] == "hmm" and sorted(kinds.values()) == ["hmm", "word2vec"]
    # no word2vec run was there: one was trained first, on the fit's reviews, and the fit names it
    [w2v_id] = [r for r, k in kinds.items() if k == "word2vec"]
    store = RunStore(tmp_path / "home" / "runs")
    assert store.get(run_id).job_config().hmm.embeddings == w2v_id
    assert store.get(w2v_id).job_config().data.limit == 6 and store.get(w2v_id).status()["state"] == "finished"
    row = next(r for r in rows if r["run_id"] == run_id)
    assert row["model"] == "gmmhmm" and row["test_accuracy"] is not None
    assert json.loads((tmp_path / "home" / "runs" / run_id / "test_metrics.json").read_text())["subsampled"]
    assert main(["runs"]) == 0
    assert "gmmhmm" in capsys.readouterr().out
