"""Estimates of a job's wall time from finished runs, the reference fallback, and the test-set wording."""

import json

import pytest

from rnnlab.core.config import (
    DataConfig,
    ExperimentConfig,
    HMMConfig,
    HMMRunConfig,
    Word2VecConfig,
    Word2VecRunConfig,
    preset,
)
from rnnlab.core.jobs import estimate
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.report import experiment


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


def finished(store, cfg, kind, test_metrics=None, **files):
    """A finished run of ``kind`` holding these test metrics and JSON files, written directly."""
    run = store.create(cfg, kind=kind)
    run.update_status(state="finished", started=1.0, finished=2.0)
    if test_metrics is not None:
        run.write_json("test_metrics.json", test_metrics)
    for name, obj in files.items():
        run.write_json(name.replace("_json", ".json"), obj)
    return run


def hmm_run(store, *, fit=10.0, train=100, test=200, per_s=250.0, wall=None, limit=None, **hmm):
    cfg = HMMRunConfig(data=DataConfig(limit=limit, val_size=2500), hmm=HMMConfig(**hmm))  # resolved, as stored
    val = min(2500, limit or 2500)
    wall = fit + (test + val) / per_s + 5.0 if wall is None else wall  # 5 s preparing
    return finished(store, cfg, "hmm", {"accuracy": 0.6, "fit_time_s": fit, "train_size": train, "test_size": test,
                                        "n": test, "inference_samples_per_s": per_s, "wall_time_s": wall})


def w2v_run(store, *, reviews=1000, tokens=100_000, train_s=5.0, prep_s=4.0, algo="skipgram", epochs=5):
    cfg = Word2VecRunConfig(word2vec=Word2VecConfig(algo=algo, epochs=epochs))
    return finished(store, cfg, "word2vec", word2vec_json={
        "train_time_s": train_s, "corpus_tokens": tokens, "sentences": reviews, "reviews_train": reviews // 2,
        "reviews_unsup": reviews - reviews // 2, "preprocess_time_s": prep_s, "vocab_size": 100})


# -- the GMM-HMM ------------------------------------------------------------------------------------------------------
def test_hmm_estimate_separates_fitting_per_training_review_from_scoring_the_whole_test_split(store):
    hmm_run(store, fit=10.0, train=100, per_s=250.0)
    est = estimate.hmm_seconds(HMMRunConfig(hmm=HMMConfig(limit=200)), store)
    parts = dict(est.parts)
    assert parts["fitting"] == pytest.approx(200 * 0.1)
    assert parts["scoring"] == pytest.approx((25_000 + 2_500) / 250.0)  # the whole test split and validation
    assert parts["preparing"] == pytest.approx(5.0)
    assert est.seconds == pytest.approx(sum(parts.values()))
    assert "1 finished GMM-HMM run" in est.basis and "25,000 test" in est.basis
    assert "reference" not in est.basis


def test_hmm_fitting_scales_with_states_times_components_and_scoring_with_the_test_limit(store):
    hmm_run(store, fit=10.0, train=100, per_s=100.0)
    small = estimate.hmm_seconds(HMMRunConfig(hmm=HMMConfig(limit=100, test_limit=500)), store)
    big = estimate.hmm_seconds(HMMRunConfig(hmm=HMMConfig(limit=100, states=8, mix=4, test_limit=500)), store)
    assert dict(big.parts)["fitting"] == pytest.approx(4 * dict(small.parts)["fitting"])
    assert dict(small.parts)["scoring"] == pytest.approx((500 + 2500) / 100.0)


def test_hmm_rates_are_the_median_of_the_runs(store):
    for fit in (10.0, 20.0, 90.0):
        hmm_run(store, fit=fit, train=100)
    rates, n = estimate.hmm_rates(store)
    assert n == 3 and rates["fit"] == pytest.approx(0.2)


def test_hmm_without_finished_runs_falls_back_to_the_reference_rates_and_says_so(store):
    hmm_run(store).update_status(state="failed")  # not finished: not measured
    est = estimate.hmm_seconds(HMMRunConfig(hmm=HMMConfig(limit=200)), store)
    parts = dict(est.parts)
    assert parts["fitting"] == pytest.approx(200 * estimate.REFERENCE_HMM_FIT_S_PER_REVIEW)
    assert parts["scoring"] == pytest.approx(27_500 * estimate.REFERENCE_HMM_SCORE_S_PER_REVIEW)
    assert "reference rate measured on another machine" in est.basis


@pytest.mark.parametrize("bad", [{"fit_time_s": -3.0}, {"fit_time_s": 1e12}, {"train_size": 0},
                                 {"inference_samples_per_s": 0}, {"train_size": "many"}, {"fit_time_s": None}])
def test_hmm_runs_with_bad_numbers_are_ignored(store, bad):
    run = hmm_run(store)
    tm = json.loads(run.file("test_metrics.json").read_text())
    run.file("test_metrics.json").write_text(json.dumps({**tm, **bad}))
    assert estimate.hmm_rates(store) == ({}, 0)


def test_a_damaged_run_is_ignored_and_the_others_are_measured(store):
    hmm_run(store, fit=10.0)
    broken = hmm_run(store, fit=99.0)
    broken.file("test_metrics.json").write_text("{not json")
    broken2 = hmm_run(store, fit=99.0)
    broken2.file("config.json").write_text('{"kind": "hmm", "hmm": {"states": "x"}}')
    rates, n = estimate.hmm_rates(store)
    assert n == 1 and rates["fit"] == pytest.approx(0.1)


def test_infinite_numbers_in_a_run_are_ignored(store):
    run = hmm_run(store)
    text = run.file("test_metrics.json").read_text().replace('"fit_time_s": 10.0', '"fit_time_s": Infinity')
    run.file("test_metrics.json").write_text(text)
    assert estimate.hmm_rates(store) == ({}, 0)


# -- word2vec ---------------------------------------------------------------------------------------------------------
def test_word2vec_estimate_counts_tokens_epochs_and_preprocessing(store):
    w2v_run(store, reviews=1000, tokens=100_000, train_s=5.0, prep_s=3.0)
    w2v_run(store, reviews=3000, tokens=300_000, train_s=15.0, prep_s=5.0)
    est = estimate.word2vec_seconds(Word2VecRunConfig(data=DataConfig(limit=5000)), store)
    parts = dict(est.parts)
    tokens = 10_000 * 100  # 5,000 training and 5,000 unlabelled reviews of 100 tokens
    assert parts["training"] == pytest.approx(tokens * 5 * 1e-5)
    assert parts["preprocessing"] == pytest.approx(2.0 + 10_000 * 0.001)  # the fixed part, then per review
    assert "2 finished skipgram word2vec runs" in est.basis


def test_word2vec_measures_only_runs_of_the_same_algorithm_and_falls_back(store):
    w2v_run(store, algo="cbow")
    est = estimate.word2vec_seconds(Word2VecRunConfig(), store)
    assert "reference rate" in est.basis
    reviews = 22_500 + 50_000
    assert dict(est.parts)["training"] == pytest.approx(
        reviews * estimate.REFERENCE_TOKENS_PER_REVIEW * 5 * estimate.REFERENCE_W2V_S_PER_TOKEN_EPOCH["skipgram"])


def test_word2vec_training_scales_with_dimensions_and_epochs(store):
    w2v_run(store)
    one = dict(estimate.word2vec_seconds(Word2VecRunConfig(), store).parts)["training"]
    more = Word2VecRunConfig(word2vec=Word2VecConfig(dim=200, epochs=10))
    assert dict(estimate.word2vec_seconds(more, store).parts)["training"] == pytest.approx(4 * one)


def test_fixed_and_rate_fits_a_line_and_stays_non_negative():
    assert estimate.fixed_and_rate([(1000, 3.0), (3000, 5.0)]) == pytest.approx((2.0, 0.001))
    assert estimate.fixed_and_rate([(1000, 3.0)]) == pytest.approx((0.0, 0.003))
    assert estimate.fixed_and_rate([(1000, 6.0), (3000, 5.0)]) == pytest.approx((5.5, 0.0))  # noise: all fixed
    assert estimate.fixed_and_rate([(1000, 1.0), (2000, 4.0)])[0] == 0.0  # never a negative fixed part
    assert estimate.fixed_and_rate([]) is None


# -- RNN trainings and the experiment -----------------------------------------------------------------------------
def test_training_estimate_uses_runs_of_the_same_cell_and_sizes_only(store):
    cfg = preset("fast", cell="gru", limit=1000, epochs=2)
    finished(store, cfg, "rnn", {"accuracy": 0.7, "train_samples_per_s": 100.0, "train_time_s": 20.0,
                                 "inference_samples_per_s": 500.0, "n": 1000, "wall_time_s": 30.0})
    finished(store, preset("fast", cell="gru", hidden_size=200), "rnn",
             {"accuracy": 0.7, "train_samples_per_s": 1.0, "train_time_s": 20.0})  # another size: not used
    est = estimate.training_seconds(preset("fast", cell="gru", limit=2000, epochs=3), store)
    parts = dict(est.parts)
    assert parts["training"] == pytest.approx(2000 * 3 / 100.0)
    assert parts["testing"] == pytest.approx(2000 / 500.0)
    assert parts["preparing"] == pytest.approx(30.0 - 20.0 - 2.0)
    assert "1 finished GRU" in est.basis


def test_training_falls_back_to_the_reference_for_the_default_sizes_only(store):
    est = estimate.training_seconds(preset("fast", cell="lstm", limit=5000, epochs=3), store)
    assert dict(est.parts)["training"] == pytest.approx(5000 * 3 / 614.0)  # 5,000 of the 22,500 training reviews
    assert "reference" in est.basis
    odd = estimate.training_seconds(preset("fast", hidden_size=64), store)
    assert odd.seconds is None and odd.text() == "unknown"
    both = estimate.training_seconds(preset("fast", cell="lstm", limit=5000, epochs=3, bidirectional=True), store)
    assert dict(both.parts)["training"] == pytest.approx(2 * 5000 * 3 / 614.0)  # two directions, twice the work


GRU_PACE = {"accuracy": 0.7, "train_samples_per_s": 100.0, "train_time_s": 20.0, "inference_samples_per_s": 500.0,
            "n": 1000, "wall_time_s": 30.0}


def test_training_measures_its_own_sizes_however_many_other_runs_finished_since(store, monkeypatch):
    monkeypatch.setattr(estimate, "MAX_RUNS", 2)
    finished(store, preset("fast", cell="gru", limit=1000), "rnn", GRU_PACE)
    for _ in range(3):  # newer runs of another size: more than MAX_RUNS of them
        finished(store, preset("fast", cell="gru", hidden_size=200), "rnn", {**GRU_PACE, "train_samples_per_s": 1.0})
    est = estimate.training_seconds(preset("fast", cell="gru", limit=2000), store)
    assert "from 1 finished GRU" in est.basis and "100 training samples per second" in est.basis


def test_training_on_one_dataset_is_not_measured_by_runs_on_another(store):
    finished(store, preset("fast", cell="gru", limit=1000, dataset="topics"), "rnn", GRU_PACE)
    est = estimate.training_seconds(preset("fast", cell="gru", limit=1000), store)  # IMDB: its texts are longer
    assert "No GRU (imdb, hidden 50, bucket batches) run" in est.basis and "reference rate" in est.basis


def test_training_says_what_it_times_and_when_the_sizes_are_imdbs_published_ones(store, rnnlab_home):
    est = estimate.training_seconds(preset("fast", cell="lstm", limit=5000, epochs=3), store)  # no archive here
    assert est.work.startswith("15,000 samples of imdb (IMDB's published sizes: its archive has not been read here")
    assert "5,000 training reviews (the limit) x 3 epochs, then 5,000 test reviews" in est.work
    synthetic = estimate.training_seconds(preset("fast", cell="gru", task="adding", hidden_size=8), store)
    assert "imdb" not in synthetic.basis + synthetic.work and synthetic.work.endswith("steps of 50")


def test_experiment_estimate_is_the_sum_of_its_parts(store):
    ec = ExperimentConfig(preset="fast", limit=1000, epochs=1)
    est = experiment.experiment_seconds(ec, store)
    parts = dict(est.parts)
    assert est.seconds == pytest.approx(sum(parts.values()))
    assert set(parts) == {"7 trainings", "word2vec", "GMM-HMM", "memory horizon"} and est.unknown == ()
    without = experiment.experiment_seconds(ExperimentConfig(preset="fast", limit=1000, epochs=1, hmm=False), store)
    assert without.seconds == pytest.approx(est.seconds - parts["GMM-HMM"])


def test_experiment_names_the_parts_nothing_measured_and_leaves_them_out(store):
    est = experiment.experiment_seconds(ExperimentConfig(preset="fast", hidden_size=64, horizon=False), store)
    assert set(dict(est.parts)) == {"word2vec", "GMM-HMM"}
    assert set(est.unknown) == {"LSTM training", "RNN training", "GRU training"}
    assert "not measured yet, so not counted" in est.basis and "(not measured yet)" in est.text()


def test_horizon_estimate_from_a_finished_study_covers_the_whole_budget(store):
    from rnnlab.core.config import HorizonConfig

    rows = [{"model": m, "seq_len": t, "success": True, "test_metric": 0.01, "steps": 100,
             "grad_ratio_first_step": 1.0, "train_time_s": 0.001 * 100 * t} for m in ("rnn", "gru") for t in (10, 20)]
    finished(store, HorizonConfig(), "memory-horizon", results_json={"settings": {}, "rows": rows})
    est = estimate.horizon_seconds(HorizonConfig(models=("lstm",), lengths=(50,), steps=1000), store)
    assert est.seconds == pytest.approx(0.001 * 1000 * 50) and "1 finished memory-horizon study" in est.basis
    assert "reference" in estimate.horizon_seconds(HorizonConfig(), RunStore(store.root / "empty")).basis


def test_experiment_counts_nothing_for_a_training_already_done(store):
    ec = ExperimentConfig(preset="fast", limit=1000, epochs=1, ablations=False, hmm=False, horizon=False,
                          cells=("lstm",))
    before = experiment.experiment_seconds(ec, store)
    from rnnlab.core.report.experiment import planned_runs

    finished(store, planned_runs(ec)[0][1], "rnn", {"accuracy": 0.7})
    after = experiment.experiment_seconds(ec, store)
    assert before.seconds > 0 and after.seconds is None and "reused" in after.basis


def test_duration_reads_like_a_person_would_say_it():
    assert estimate.duration(42.4) == "42 s"
    assert estimate.duration(280) == "4 min 40 s"
    assert estimate.duration(1500) == "25 min"
    assert estimate.duration(7500) == "2 h 5 min"
    est = estimate.Estimate(280.0, "b", (("fitting", 58.0), ("scoring", 222.0)))
    assert est.text() == "about 4 min 40 s (fitting 58 s, scoring 3 min 42 s)"


# -- which test set a score comes from ---------------------------------------------------------------------------------
def test_test_set_note_is_silent_when_every_run_shares_one_test_set():
    ts = estimate.TestSet("imdb", 25_000, "the whole split")
    assert estimate.test_set_note({"LSTM": ts, "GRU": ts}) is None


def test_test_set_note_names_the_sizes_when_they_differ():
    rnn = estimate.test_set({"kind": "rnn", "data": {"limit": 2000}}, {"n": 2000})
    hmm = estimate.test_set({"kind": "hmm", "data": {}, "hmm": {"test_limit": None}}, {"n": 25_000})
    note = estimate.test_set_note({"LSTM": rnn, "GRU": rnn, "gmmhmm": hmm})
    assert note.startswith("These scores come from different test sets: LSTM and GRU on 2,000 reviews; "
                           "gmmhmm on 25,000 reviews")


def test_test_set_note_tells_samples_of_one_size_apart_and_datasets_apart():
    a = estimate.test_set({"kind": "rnn", "data": {"limit": 500}}, {"n": 500})
    b = estimate.test_set({"kind": "hmm", "data": {}, "hmm": {"test_limit": 500, "seed": 0}}, {"n": 500})
    note = estimate.test_set_note({"LSTM": a, "gmmhmm": b})
    assert "limit 500" in note and "GMM-HMM sample of 500" in note
    c = estimate.test_set({"kind": "rnn", "data": {"dataset": "sst2"}}, {"n": 500})
    assert "of sst2" in estimate.test_set_note({"LSTM": a, "other": c})


def test_test_set_reads_bad_numbers_as_unknown():
    ts = estimate.test_set({"kind": "rnn", "data": {"limit": -4}}, {"n": float("inf")})
    assert ts == estimate.TestSet("imdb", None, "the whole split")


def test_run_test_set_reads_a_stored_run_and_is_none_for_a_gone_or_damaged_one(store):
    run = finished(store, preset("fast", limit=300), "rnn", {"accuracy": 0.7, "n": 300})
    assert estimate.run_test_set(store, run.id) == estimate.TestSet("imdb", 300, "limit 300 (split seed 0)")
    assert estimate.run_test_set(store, "20260101-000000-000-gone-abcdef") is None
    run.file("config.json").write_text("[1, 2]")
    assert estimate.run_test_set(store, run.id) is None
