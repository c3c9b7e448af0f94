"""A dataset is an input of every job kind: training, word2vec, the GMM-HMM, evaluate, the seed experiment, sweeps.

Everything here runs on small datasets the tests write themselves (a 200-row CSV of product reviews, a
3-class topic CSV, IMDB-shaped archives of a few reviews) with no IMDB archive anywhere: a job on
another dataset must never need IMDB.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from rnnlab.core.__main__ import main
from rnnlab.core.analysis.evaluate import evaluate_run
from rnnlab.core.analysis.introspect import introspect
from rnnlab.core.analysis.predict import predict_runs
from rnnlab.core.config import (
    PRESETS,
    DataConfig,
    ExperimentConfig,
    HMMConfig,
    HMMRunConfig,
    TextConfig,
    Word2VecConfig,
    Word2VecRunConfig,
    default_min_count,
    default_val_size,
    preset,
)
from rnnlab.core.data import sources
from rnnlab.core.data.datasets import (
    DatasetInfo,
    DoesNotFit,
    dataset_info,
    largest_val_size,
    load_frames,
    resolve_config,
    resolve_data,
)
from rnnlab.core.jobs import estimate, lifecycle
from rnnlab.core.jobs.labels import describe
from rnnlab.core.jobs.names import FINISHED
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.jobs.vectors import resolve_vectors
from rnnlab.core.jobs.word2vec import load_vectors
from rnnlab.core.report.experiment import report_folder
from rnnlab.core.sweep.job import place_runs
from rnnlab.core.sweep.spec import parse_spec, plan

POSITIVE = ["wonderful", "great", "delightful", "superb", "charming", "brilliant", "lovely", "excellent"]
NEGATIVE = ["awful", "terrible", "dreadful", "boring", "horrible", "poor", "bland", "disappointing"]
FILLER = ["phone", "battery", "screen", "camera", "case", "charger", "works", "price", "shipping", "gizmotron"]
TOPICS = {"sports": ["football", "goal", "team", "score", "player", "coach"],
          "cooking": ["recipe", "oven", "flour", "bake", "sauce", "garlic"],
          "weather": ["rain", "cloud", "storm", "sunny", "wind", "snow"]}
TEXT = TextConfig(remove_stopwords=False)  # these texts hold no stop words worth removing
SMALL_W2V = Word2VecConfig(dim=8, min_count=1, epochs=2)
SMALL_HMM = HMMConfig(states=2, mix=1, dim=2, n_iter=5, restarts=1)


def product_rows(n: int = 200, seed: int = 0, unsup: int = 0) -> list[list[str]]:
    """``n`` labelled one-line product reviews (half each) and ``unsup`` unlabelled ones saying 'zorblax'."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.choices(FILLER, k=6) + rng.choices(POSITIVE if label == "pos" else NEGATIVE, k=3)
        rng.shuffle(words)
        rows.append([" ".join(words), label, ""])
    rows += [[f"zorblax {rng.choice(FILLER)} zorblax", "", "unsup"] for _ in range(unsup)]
    return rows


def write_csv(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("text", "label")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(r[:len(header)] for r in rows)
    return path


@pytest.fixture
def gadgets(rnnlab_home, tmp_path) -> str:
    """A 200-row CSV of product reviews, added as ``gadgets`` (a seeded 80/20 split: 160 training rows)."""
    sources.add_dataset(write_csv(tmp_path / "gadgets.csv", product_rows()), "gadgets")
    return "gadgets"


@pytest.fixture
def topics(rnnlab_home, tmp_path) -> str:
    """A 3-class CSV of one-line topic sentences, added as ``topics``."""
    rng = random.Random(3)
    rows = [[" ".join(rng.choices(words, k=5)), cls] for cls, words in TOPICS.items() for _ in range(40)]
    sources.add_dataset(write_csv(tmp_path / "topics.csv", rows), "topics")
    return "topics"


# -- fitting a config to its dataset -------------------------------------------------------------------------------
def test_the_validation_split_is_a_share_of_the_training_rows_capped_so_imdb_keeps_its_2500():
    assert default_val_size(22_500 + 2_500) == 2500  # IMDB's 25,000 training reviews: the seed's number
    assert default_val_size(160) == 16 and default_val_size(1_000_000) == 2500


@pytest.mark.parametrize("per_class", [(1, 50), (3, 3, 3), (80, 80), (2, 100, 7)])
def test_the_largest_validation_split_leaves_each_class_a_training_row(per_class):
    most = largest_val_size(per_class)
    k = len(per_class)

    def need(val: int) -> list[int]:
        return [val // k + (1 if c < val % k else 0) for c in range(k)]

    assert all(n == 0 or n < have for n, have in zip(need(most), per_class, strict=True))
    assert any(0 < n >= have for n, have in zip(need(most + 1), per_class, strict=True))


def test_a_config_is_fitted_to_its_dataset_and_a_misfit_is_refused_with_the_value_that_fits(gadgets):
    fitted = resolve_data(DataConfig(dataset=gadgets))
    assert fitted.val_size == 16  # 10% of 160 training rows
    assert resolve_data(fitted) == fitted  # a fitted config fits
    with pytest.raises(DoesNotFit, match=r"val_size=2500 does not fit dataset gadgets: its 160 training texts "
                                         r"\(neg 80, pos 80\) leave room for at most 158 .* default, 16"):
        resolve_data(DataConfig(dataset=gadgets, val_size=2500))


def test_a_limit_below_the_classes_is_refused_with_the_limit_that_fits(topics):
    with pytest.raises(DoesNotFit, match="limit=2 is below the 3 classes of dataset topics.* limit of 3 or more"):
        resolve_data(DataConfig(dataset=topics, limit=2))
    assert resolve_data(DataConfig(dataset=topics, limit=3)).limit == 3


def test_a_dataset_with_its_own_validation_split_keeps_it(rnnlab_home, tmp_path):
    rows = [[r[0], r[1], split] for r, split in zip(product_rows(60), ["train"] * 40 + ["validation"] * 10
                                                     + ["test"] * 10, strict=True)]
    sources.add_dataset(write_csv(tmp_path / "own.csv", rows, ("text", "label", "split")), "own", split_col="split")
    assert resolve_data(DataConfig(dataset="own")).val_size == 10
    assert resolve_data(DataConfig(dataset="own", val_size=3)).val_size == 10  # what the job will really use
    assert len(load_frames(resolve_data(DataConfig(dataset="own")))["val"]) == 10


def test_every_preset_fits_a_200_row_dataset_without_an_override(gadgets):
    for name in PRESETS:
        cfg = resolve_config(preset(name, dataset=gadgets))
        assert cfg.data.val_size == 16, name
        frames = load_frames(cfg.data)
        assert len(frames["train"]) == 144 and len(frames["val"]) == 16 and len(frames["test"]) == 40


def test_a_synthetic_task_reads_no_dataset_and_is_left_unresolved():
    cfg = preset("seed", task="adding", seq_len=10)
    assert resolve_config(cfg) == cfg


def test_a_refused_config_leaves_no_run_behind_from_the_api_and_the_command_line(gadgets, capsys):
    store = RunStore()
    with pytest.raises(DoesNotFit):
        lifecycle.run_now("rnn", preset("fast", dataset=gadgets, val_size=500), store)
    assert main(["train", "--model", "gru", "--dataset", gadgets, "--val-size", "500"]) == 1
    err = capsys.readouterr().err
    assert "val_size=500 does not fit dataset gadgets" in err and "the default, 16" in err and "Traceback" not in err
    assert store.list() == []


# -- training, with the defaults -----------------------------------------------------------------------------------
def test_the_lesson_preset_trains_a_200_row_csv_from_the_command_line_and_says_so(gadgets, capsys):
    assert main(["train", "--model", "gru", "--preset", "lesson", "--dataset", gadgets, "--json"]) == 0
    err = capsys.readouterr().err
    assert "training gru on gadgets (lesson preset)" in err
    [run] = RunStore().list()
    cfg, tm = run.config(), run.test_metrics()
    assert run.status()["state"] == FINISHED and cfg.data.dataset == gadgets and cfg.data.val_size == 16
    assert tm["train_size"] == 144 and tm["n"] == 40 and tm["classes"] == ["neg", "pos"]
    assert run.summary()["dataset"] == gadgets
    assert run.summary()["label"].startswith("gru · lesson · gadgets · 144 texts · 3 ep")


def test_a_label_counts_the_texts_a_run_read_not_its_limit():
    cfg = preset("lesson", dataset="gadgets")
    assert describe("rnn", cfg).startswith("lstm · lesson · gadgets · up to 7,000 texts · 3 ep")
    assert describe("rnn", cfg, trained_on=144).startswith("lstm · lesson · gadgets · 144 texts · 3 ep")
    assert describe("rnn", preset("lesson")).startswith("lstm · lesson · 7,000 reviews · 3 ep")  # IMDB's: exact


# -- word2vec ------------------------------------------------------------------------------------------------------
def test_word2vec_trains_on_the_datasets_own_texts_and_its_unlabelled_ones_with_no_imdb_anywhere(rnnlab_home,
                                                                                                  tmp_path):
    rows = product_rows(60, unsup=12)
    # the labelled rows get the seeded split; the unlabelled ones are marked unsup in the split column
    labelled = [[t, lab, "train" if i < 48 else "test"] for i, (t, lab, _) in enumerate(rows[:60])]
    sources.add_dataset(write_csv(tmp_path / "g.csv", labelled + rows[60:], ("text", "label", "split")), "withunsup",
                        split_col="split")
    assert dataset_info("withunsup").unsup == 12
    store = RunStore()
    run = lifecycle.run_now("word2vec", Word2VecRunConfig(data=DataConfig(dataset="withunsup"), text=TEXT,
                                                          word2vec=SMALL_W2V), store)
    assert run.status()["state"] == FINISHED
    info = run.read_json("word2vec.json")
    assert info["dataset"] == "withunsup" and info["reviews_unsup"] == 12
    wv = load_vectors(run.id, store.root)
    assert "gizmotron" in wv and "zorblax" in wv  # words IMDB lacks; the second only in the unlabelled rows
    assert run.summary()["dataset"] == "withunsup"


def test_embeddings_train_on_a_small_dataset_with_the_default_min_count_fitted_to_it(gadgets, capsys):
    assert main(["embeddings", "train", "--dataset", gadgets, "--dim", "8", "--epochs", "1", "--no-stopwords"]) == 0
    [run] = RunStore().list()
    cfg = run.job_config()
    assert cfg.data.dataset == gadgets and cfg.word2vec.min_count == 1  # 160 texts: every word kept
    assert "gizmotron" in load_vectors(run.id) and run.read_json("word2vec.json")["min_count"] == 1
    assert default_min_count(22_500 + 50_000) == 5 and default_min_count(999) == 1  # IMDB keeps gensim's 5


# -- the GMM-HMM -----------------------------------------------------------------------------------------------------
def test_the_gmm_hmm_fits_one_model_per_class_on_a_three_class_dataset_and_answers_in_its_names(topics):
    store = RunStore()
    w2v = lifecycle.run_now("word2vec", Word2VecRunConfig(data=DataConfig(dataset=topics), text=TEXT,
                                                          word2vec=SMALL_W2V), store)
    cfg, first = resolve_vectors(HMMRunConfig(data=DataConfig(dataset=topics), text=TEXT, hmm=SMALL_HMM), store)
    assert first is None and cfg.hmm.embeddings == w2v.id
    run = lifecycle.run_now("hmm", cfg, store)
    tm = run.test_metrics()
    assert run.status()["state"] == FINISHED and tm["classes"] == ["cooking", "sports", "weather"]
    assert np.array(tm["class_confusion_matrix"]).shape == (3, 3) and tm["accuracy"] > 0.5
    [answer] = predict_runs([run.id], "football goal team coach", store.root)
    assert answer["label"] == "sports" and set(answer["probabilities"]) == set(tm["classes"])
    assert set(answer["viterbi_states"]) == set(tm["classes"])


def test_the_gmm_hmm_reads_only_vectors_of_its_own_dataset_or_imported_ones(gadgets, topics):
    store = RunStore()
    lifecycle.run_now("word2vec", Word2VecRunConfig(data=DataConfig(dataset=topics), text=TEXT, word2vec=SMALL_W2V),
                      store)
    cfg, first = resolve_vectors(HMMRunConfig(data=DataConfig(dataset=gadgets), text=TEXT, hmm=SMALL_HMM), store)
    assert cfg.hmm.embeddings is None and first is not None and first.data.dataset == gadgets


# -- evaluate, the seed experiment, sweeps, estimates ---------------------------------------------------------------
def test_a_run_is_evaluated_on_another_dataset_with_the_same_classes(gadgets, tmp_path):
    sources.add_dataset(write_csv(tmp_path / "more.csv", product_rows(40, seed=5)), "more")
    store = RunStore()
    run = lifecycle.run_now("rnn", preset("fast", cell="gru", dataset=gadgets, epochs=1, hidden_size=8,
                                          embedding_dim=8, remove_stopwords=False), store)
    metrics = evaluate_run(run, "more")
    assert metrics["dataset"] == "more" and metrics["n"] == 8 and metrics["classes"] == ["neg", "pos"]
    assert run.read_json("evaluations.json")["more"]["n"] == 8


def test_the_seed_experiment_runs_on_a_named_dataset_and_its_report_says_so(gadgets):
    ec = ExperimentConfig(dataset=gadgets, preset="fast", cells=("gru",), epochs=1, hidden_size=8, ablations=False,
                          word2vec=False, hmm=False, horizon=False)
    run = lifecycle.run_now("experiment", ec, RunStore())
    assert run.status()["state"] == FINISHED
    children = [r for r in RunStore().list() if r.kind == "rnn"]
    assert children and all(r.config().data.dataset == gadgets for r in children)
    report = (report_folder(run) / "report.md").read_text()
    assert "comparison on gadgets" in report and "the full gadgets splits" in report


def test_a_sweep_on_a_named_dataset_places_fitted_runs(gadgets):
    spec = parse_spec('name = "g"\npreset = "fast"\nseeds = [0]\n[base]\ndataset = "gadgets"\nepochs = 1\n'
                      '[vary]\ncell = ["gru", "lstm"]\n')
    points = plan(spec)
    assert all(p.cfg.data.dataset == gadgets and p.cfg.data.val_size is None for p in points)
    placed = place_runs([p.cfg for p in points], RunStore(), "g")
    assert [r.config().data.val_size for r, _ in placed] == [16, 16]


def test_estimates_come_from_the_datasets_own_size(gadgets):
    sizes = estimate.split_sizes(resolve_data(DataConfig(dataset=gadgets)))
    assert (sizes.train, sizes.val, sizes.test, sizes.unsup, sizes.noun) == (144, 16, 40, 0, "texts")
    est = estimate.training_seconds(preset("fast", dataset=gadgets), RunStore())
    assert est.work == "720 samples of gadgets: 144 training texts x 5 epochs, then 40 test texts"
    imdb = estimate.split_sizes(DataConfig(limit=7000))  # no IMDB here: its published sizes
    assert (imdb.train, imdb.test, imdb.noun) == (7000, 7000, "reviews")


def test_dataset_info_counts_without_reading_a_text(gadgets):
    info = dataset_info(gadgets)
    assert info == DatasetInfo("gadgets", ("neg", "pos"), (80, 80), 40, 0, 0)


def test_a_gmm_hmm_that_cannot_fit_its_dataset_or_its_vectors_is_refused_before_a_run_is_made(topics):
    store = RunStore()
    with pytest.raises(DoesNotFit, match="hmm.limit=2 is below the 3 classes of dataset topics"):
        lifecycle.run_now("hmm", HMMRunConfig(data=DataConfig(dataset=topics), hmm=HMMConfig(limit=2)), store)
    w2v = lifecycle.run_now("word2vec", Word2VecRunConfig(data=DataConfig(dataset=topics), text=TEXT,
                                                          word2vec=SMALL_W2V), store)
    with pytest.raises(ValueError, match=f"hmm.dim=12 is more than the 8 dimensions of word2vec run {w2v.id}; use 8"):
        resolve_vectors(HMMRunConfig(data=DataConfig(dataset=topics), hmm=HMMConfig(dim=12)), store)
    assert [r.kind for r in store.list()] == ["word2vec"]


def test_introspection_of_a_three_class_run_follows_its_predicted_class_on_both_paths(topics):
    store = RunStore()
    run = lifecycle.run_now("rnn", preset("fast", cell="lstm", dataset=topics, epochs=2, hidden_size=8,
                                          embedding_dim=8, remove_stopwords=False), store)
    fast = introspect(run.id, "football goal team coach", runs_dir=store.root)
    slow = introspect(run.id, "football goal team coach", runs_dir=store.root, fast=False)
    [answer] = predict_runs([run.id], "football goal team coach", store.root)
    assert fast.label == slow.label == fast.probability_of == answer["label"]
    assert fast.probability == pytest.approx(answer["probability"], abs=1e-5)
    assert fast.running_probability[-1] == pytest.approx(fast.probability, abs=1e-5)
    np.testing.assert_allclose(fast.saliency, slow.saliency, rtol=1e-4, atol=1e-6)


def test_an_estimate_on_a_dataset_that_cannot_be_read_is_unknown_and_says_why(rnnlab_home):
    est = estimate.training_seconds(preset("fast", dataset="nowhere"), RunStore())
    assert est.seconds is None and "no dataset named 'nowhere'" in est.basis
    assert estimate.word2vec_seconds(Word2VecRunConfig(data=DataConfig(dataset="nowhere")), RunStore()).seconds is None
