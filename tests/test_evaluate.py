"""core.analysis.evaluate: a trained run scored on another dataset's test split, stored in the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnlab.core.__main__ import main
from rnnlab.core.analysis.evaluate import match_classes
from rnnlab.core.config import preset
from rnnlab.core.jobs.lifecycle import run_now
from rnnlab.core.jobs.store import RunStore

TINY = dict(epochs=2, hidden_size=8, embedding_dim=8, max_len=40, batch_size=4, val_size=2, threads=1)


@pytest.fixture
def imdb_run(rnnlab_home, tiny_imdb_archive):
    store = RunStore(rnnlab_home / "runs")
    return run_now("rnn", preset("fast", cell="gru", imdb_path=str(tiny_imdb_archive), **TINY), store)


def reviews_csv(path, pos="pos", neg="neg", n=8):
    rows = [f"a {neg} film review {i}, rated badly,{neg}" for i in range(n)]
    rows += [f"a {pos} film review {i}, rated well,{pos}" for i in range(n)]
    path.write_text("text,label\n" + "\n".join(f'"{r.rsplit(",", 1)[0]}",{r.rsplit(",", 1)[1]}' for r in rows) + "\n")
    return path


def test_a_run_evaluated_on_its_own_test_split_scores_what_it_recorded(imdb_run, tiny_imdb_archive, capsys):
    assert main(["evaluate", imdb_run.id, "--dataset", "imdb", "--imdb", str(tiny_imdb_archive), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    recorded = imdb_run.test_metrics()
    assert out["n"] == recorded["n"] and out["accuracy"] == pytest.approx(recorded["accuracy"])
    assert out["confusion_matrix"] == recorded["confusion_matrix"]
    assert imdb_run.read_json("evaluations.json")["imdb"]["accuracy"] == out["accuracy"]


def test_an_imdb_run_is_evaluated_on_another_review_dataset_and_keeps_both_scores(imdb_run, tiny_imdb_archive,
                                                                                tmp_path, capsys):
    assert main(["data", "add", str(reviews_csv(tmp_path / "other.csv", "positive", "negative")), "--name",
                 "other"]) == 0
    assert main(["evaluate", imdb_run.id, "--dataset", "imdb", "--imdb", str(tiny_imdb_archive)]) == 0
    capsys.readouterr()
    assert main(["evaluate", imdb_run.id, "--dataset", "other", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    stored = imdb_run.read_json("evaluations.json")
    assert set(stored) == {"imdb", "other"} and stored["other"]["accuracy"] == out["accuracy"]
    assert out["n"] == 4 and "note" not in out  # 20 % of 16 reviews held out as test; the names matched


def test_binary_classes_with_other_names_are_matched_by_position_and_said(imdb_run, tmp_path, capsys):
    assert main(["data", "add", str(reviews_csv(tmp_path / "stars.csv", "5 stars", "1 star")), "--name",
                 "stars"]) == 0
    capsys.readouterr()
    assert main(["evaluate", imdb_run.id, "--dataset", "stars"]) == 0
    assert "matched by position" in capsys.readouterr().err
    assert "matched by position" in imdb_run.read_json("evaluations.json")["stars"]["note"]


def test_classes_that_cannot_be_matched_are_refused():
    assert match_classes(["negative", "positive"], ["positive", "negative"])[0].tolist() == [1, 0]
    with pytest.raises(ValueError, match="do not match"):
        match_classes(["negative", "positive"], ["a", "b", "c"])


def test_evaluating_a_run_without_weights_says_so(rnnlab_home, capsys):
    run = RunStore(rnnlab_home / "runs").create(preset("fast"))
    assert main(["evaluate", run.id, "--dataset", "imdb"]) == 1
    assert "no trained weights" in capsys.readouterr().err


def test_the_compare_page_lists_each_runs_scores_on_other_datasets(imdb_run, tiny_imdb_archive, monkeypatch,
                                                                    rnnlab_home):
    from streamlit.testing.v1 import AppTest

    assert main(["evaluate", imdb_run.id, "--dataset", "imdb", "--imdb", str(tiny_imdb_archive)]) == 0
    page = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "compare.py"),
                             default_timeout=60).run()
    assert not page.exception
    [frame] = [d.value for d in page.dataframe if "dataset" in d.value.columns]
    assert frame["run_id"].tolist() == [imdb_run.id] and frame["dataset"].tolist() == ["imdb"]


def test_an_imdb_model_is_scored_on_every_product_review_with_all(imdb_run, tmp_path, capsys):
    from fixtures_reviews import NEGATIVE, POSITIVE, write_product_reviews

    assert main(["data", "add", str(write_product_reviews(tmp_path / "products.csv")), "--name", "products",
                 "--text-col", "review", "--label-col", "sentiment"]) == 0
    capsys.readouterr()
    assert main(["evaluate", imdb_run.id, "--dataset", "products", "--json"]) == 0
    test_only = json.loads(capsys.readouterr().out)
    assert main(["evaluate", imdb_run.id, "--dataset", "products", "--all", "--json"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert test_only["n"] == 8 and test_only["split"] == "test"  # 20 % held out of 40
    assert every["n"] == len(POSITIVE) + len(NEGATIVE) == 40 and every["split"] == "all"
    assert sum(map(sum, every["confusion_matrix"])) == 40 and "note" not in every  # negative/positive by name
    assert imdb_run.read_json("evaluations.json")["products"]["n"] == 40  # the latest scoring is kept
