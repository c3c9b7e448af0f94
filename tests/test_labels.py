"""Run labels and quality verdicts (core.jobs.labels): pure functions of a config, test figures and a state."""

from __future__ import annotations

import math

import pytest

from rnnlab.core.config import (
    DataJobConfig,
    ExperimentConfig,
    HMMConfig,
    HMMRunConfig,
    HorizonConfig,
    Word2VecConfig,
    Word2VecRunConfig,
    preset,
)
from rnnlab.core.jobs.labels import chance_band, describe, predicted_classes, quality, run_label, short_id

RUN_ID = "20261201-124605-931-lstm-8ec553"


def test_an_rnn_label_names_cell_preset_reviews_epochs_and_the_options_off_the_preset():
    cfg = preset("fast", cell="lstm", limit=2000, epochs=3, keep_negations=True, embeddings="some-w2v-run")
    assert run_label(RUN_ID, "rnn", cfg) == "lstm · fast · 2,000 reviews · 3 ep · keep negations · w2v · 8ec553"


def test_the_preset_defaults_are_not_options():
    # fast = seed with bucketed batches and one thread: neither is news for a fast run
    assert describe("rnn", preset("fast", cell="gru")) == "gru · fast · all reviews · 5 ep"
    assert describe("rnn", preset("seed", cell="gru", batching="bucket")) == "gru · seed · all reviews · 5 ep · bucket"


@pytest.mark.parametrize(("readout", "words"), [("mean", "mean pool"), ("max", "max pool"),
                                               ("mean_max", "mean+max pool")])
def test_a_pooling_read_out_is_named_and_the_default_last_state_is_not(readout, words):
    assert describe("rnn", preset("fast", cell="gru", readout=readout)) == f"gru · fast · all reviews · 5 ep · {words}"
    assert "read-out" not in describe("rnn", preset("fast", cell="gru", readout="last"))


def test_the_machine_settings_are_not_options():
    assert describe("rnn", preset("seed", device="cpu", threads=4, flush_denormals=False)) == \
        "lstm · seed · all reviews · 5 ep"


def test_a_user_name_comes_first_and_the_given_label_leads_the_description():
    cfg = preset("seed", cell="rnn")
    assert run_label(RUN_ID, "rnn", cfg, name="baseline").startswith("baseline · rnn · seed · ")
    assert run_label(RUN_ID, "rnn", cfg, given="explode-vanishing").startswith("explode-vanishing · rnn · seed")


def test_another_dataset_and_a_synthetic_task_are_named():
    assert describe("rnn", preset("seed", dataset="news", limit=500)) == "lstm · seed · news · up to 500 texts · 5 ep"
    assert describe("rnn", preset("seed", dataset="news", limit=500), trained_on=120).startswith(
        "lstm · seed · news · 120 texts")
    synthetic = describe("rnn", preset("seed", cell="gru", task="adding", seq_len=100, train_steps=300))
    assert synthetic == "gru · adding · seed · T 100 · 300 steps"  # no reviews, no epochs, no text options


def test_text_options_are_left_out_of_a_synthetic_label():
    assert "negations" not in describe("rnn", preset("seed", task="order", keep_negations=True))


def test_many_options_are_counted_after_the_first_few():
    cfg = preset("seed", hidden_size=8, embedding_dim=8, max_len=40, batch_size=4, dropout=0.2, lr=0.01, seed=3)
    assert describe("rnn", cfg).endswith("· +1 more")


@pytest.mark.parametrize("kind, cfg, given, want", [
    ("hmm", HMMRunConfig(hmm=HMMConfig(limit=4000)), "gmmhmm", "gmmhmm · 4 states · 2 mix · 4,000 reviews"),
    ("word2vec", Word2VecRunConfig(word2vec=Word2VecConfig(algo="cbow")), "word2vec-cbow",
     "word2vec-cbow · 100d · 5 ep · all reviews"),
    ("memory-horizon", HorizonConfig(task="order", lengths=(10, 50)), None,
     "memory horizon · order · rnn,lstm,gru · T 10–50 · 2,000 steps"),
    ("experiment", ExperimentConfig(seeds=(0, 1), limit=100), None,
     "seed experiment · seed · seeds 0,1 · preset epochs · 100 reviews"),
    ("data", DataJobConfig(action="install", archive="/tmp/up/aclImdb_v1.tar.gz"), None,
     "data · install · aclImdb_v1.tar.gz"),
])
def test_every_kind_gets_a_label(kind, cfg, given, want):
    assert describe(kind, cfg, given) == want


def test_a_run_whose_config_cannot_be_read_is_told_by_its_kind_or_given_label():
    assert run_label(RUN_ID, "rnn", None) == "rnn · 8ec553"
    assert run_label(RUN_ID, "rnn", None, given="mine") == "mine · 8ec553"
    assert run_label(RUN_ID, None, None) == "run · 8ec553"


def test_two_runs_that_differ_only_by_id_or_seed_keep_distinct_labels():
    a, b = "20261201-000000-000-lstm-aaaaaa", "20261201-000000-000-lstm-bbbbbb"
    assert run_label(a, "rnn", preset("seed")) != run_label(b, "rnn", preset("seed"))
    assert short_id(a) == "aaaaaa"
    assert run_label(a, "rnn", preset("seed", seed=1)) != run_label(a, "rnn", preset("seed", seed=2))


# -- quality -------------------------------------------------------------------------------------------------------
GOOD = {"accuracy": 0.85, "roc_auc": 0.9, "n": 1000, "confusion_matrix": [[420, 80], [70, 430]]}


@pytest.mark.parametrize("state", ["failed", "crashed", "damaged"])
def test_a_run_that_did_not_end_well_is_failed(state):
    assert quality(state, GOOD) == "failed"


@pytest.mark.parametrize("state", ["queued", "running", "unknown", None])
def test_a_run_still_going_has_no_verdict(state):
    assert quality(state, None) is None


def test_a_good_run_is_ok():
    assert quality("finished", GOOD) == "ok"


@pytest.mark.parametrize("change", [
    {"accuracy": None}, {"accuracy": 0.0}, {"accuracy": math.nan}, {"roc_auc": None},
    {"confusion_matrix": [[0, 500], [0, 500]]},  # one class predicted for every review
])
def test_a_finished_run_without_usable_figures_is_degenerate(change):
    assert quality("finished", {**GOOD, **change}) == "degenerate"


def test_a_finished_run_without_test_figures_is_degenerate_unless_imported():
    assert quality("finished", None) == "degenerate"
    assert quality("finished", None, imported=True) is None


def test_a_multiclass_run_needs_no_roc_auc_but_more_than_one_predicted_class():
    tm = {"accuracy": 0.6, "roc_auc": None, "n": 900, "classes": ["a", "b", "c"],
          "class_confusion_matrix": [[200, 50, 50], [50, 200, 50], [60, 100, 140]]}
    assert quality("finished", tm) == "ok"
    single = {**tm, "class_confusion_matrix": [[300, 0, 0], [300, 0, 0], [300, 0, 0]], "accuracy": 1 / 3}
    assert quality("finished", single) == "degenerate"


def test_near_chance_depends_on_the_number_of_test_examples():
    # two classes: chance 0.5, one standard error sqrt(0.25 / n): 0.05 for n = 100, 0.005 for n = 10,000
    assert chance_band(0.5, 100) == pytest.approx((0.4, 0.6))
    assert quality("finished", {**GOOD, "accuracy": 0.58, "n": 100}) == "near chance"
    assert quality("finished", {**GOOD, "accuracy": 0.58, "n": 10_000}) == "ok"
    assert quality("finished", {**GOOD, "accuracy": 0.42, "n": 100}) == "near chance"  # a band on both sides


def test_near_chance_uses_one_over_k_or_the_tasks_own_chance():
    three = {"accuracy": 0.36, "n": 300, "classes": ["a", "b", "c"], "class_confusion_matrix": [[1, 1, 0]] * 3}
    assert quality("finished", three) == "near chance"  # 1/3 +- 2 * 0.027
    assert quality("finished", {**three, "accuracy": 0.5}) == "ok"
    order = {"accuracy": 0.27, "n": 1000, "chance_accuracy": 0.25}
    assert quality("finished", order, task="order") == "near chance"
    assert quality("finished", {**order, "accuracy": 0.9}, task="order") == "ok"


def test_a_regression_is_judged_by_its_mse_and_other_kinds_once_finished():
    assert quality("finished", {"mse": 0.01}, task="adding") == "ok"
    assert quality("finished", {"mse": None}, task="adding") == "degenerate"
    assert quality("finished", None, kind="word2vec") == "ok"
    assert quality("failed", None, kind="word2vec") == "failed"


def test_predicted_classes_counts_the_columns_used():
    assert predicted_classes([[3, 0], [2, 0]]) == 1
    assert predicted_classes([[3, 1], [2, 4]]) == 2
    assert predicted_classes(None) is None
