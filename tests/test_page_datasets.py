"""Datasets beyond IMDB on the pages: added on the Overview (by path or upload), chosen on the Train page."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from fixtures_runs import nltk_data
from test_pages import fake_launches, ok, open_page, sleeping_process, text

from rnnlab.core.data import sources

TOPICS = {"sports": ["goal", "team", "match", "coach"], "cooking": ["oven", "flour", "sauce", "garlic"],
          "weather": ["rain", "storm", "cloud", "snow"]}


@pytest.fixture(autouse=True)
def stopwords_available(monkeypatch):
    if nltk_data():
        monkeypatch.setenv("NLTK_DATA", nltk_data())


@pytest.fixture
def topics_csv(tmp_path: Path) -> Path:
    rng = random.Random(0)
    path = tmp_path / "topics.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["sentence", "topic"])
        for cls, words in TOPICS.items():
            for _ in range(20):
                w.writerow([" ".join(rng.choice(words) for _ in range(5)), cls])
    return path


def fill(at, name: str, text_col: str = "", label_col: str = ""):
    at.text_input(key="ds_name").set_value(name)
    at.text_input(key="ds_text_col").set_value(text_col)
    at.text_input(key="ds_label_col").set_value(label_col)
    return at


def test_a_dataset_added_by_path_on_the_overview_is_listed_with_its_classes(rnnlab_home, topics_csv):
    at = ok(open_page("overview.py"))
    fill(at, "topics", "sentence", "topic").text_input(key="ds_path").set_value(str(topics_csv)).run()
    ok(at.button(key="ds_add_path").click().run())
    assert "Added **topics**: 3 classes (cooking, sports, weather)" in text(at)
    [table] = [d.value for d in at.dataframe if "classes" in d.value.columns]
    row = table.iloc[0]
    assert (row["name"], row["format"], row["classes"]) == ("topics", "csv", "cooking, sports, weather")
    assert row["train"] + row["test"] == 60 and row["test"] == 12
    assert sources.read_entry("topics")["source"] == str(topics_csv.resolve())


def test_a_wrong_path_or_column_is_said_plainly_and_adds_nothing(rnnlab_home, topics_csv, tmp_path):
    at = ok(open_page("overview.py"))
    fill(at, "topics").text_input(key="ds_path").set_value(str(topics_csv)).run()  # default columns text, label
    ok(at.button(key="ds_add_path").click().run())
    assert any("Not added" in e.value and "no text column 'text'" in e.value for e in at.error)
    at.text_input(key="ds_path").set_value(str(tmp_path / "missing.csv")).run()
    ok(at.button(key="ds_add_path").click().run())
    assert any("does not exist" in e.value for e in at.error)
    fill(at, "../x", "sentence", "topic").text_input(key="ds_path").set_value(str(topics_csv)).run()
    ok(at.button(key="ds_add_path").click().run())
    assert any("dataset name" in e.value for e in at.error)
    assert not (rnnlab_home / "datasets").exists() or not any((rnnlab_home / "datasets").iterdir())


def test_a_damaged_dataset_entry_is_named_not_raised(rnnlab_home, topics_csv):
    sources.add_dataset(topics_csv, "topics", text_col="sentence", label_col="topic")
    (rnnlab_home / "datasets" / "topics.json").write_text("{not json")
    at = ok(open_page("overview.py"))
    assert any("topics" in w.value and "damaged" in w.value for w in at.warning)


def test_the_train_page_trains_on_a_chosen_dataset(rnnlab_home, topics_csv, monkeypatch):
    sources.add_dataset(topics_csv, "topics", text_col="sentence", label_col="topic")
    with sleeping_process() as pid:
        launched = fake_launches(monkeypatch, pid)
        at = ok(open_page("train.py"))
        box = at.selectbox(key="train_dataset")
        assert box.options[0].startswith("IMDB") and "topics (cooking, sports, weather)" in box.options
        assert "IMDB dataset is not available" in text(at)  # no IMDB in this home ...
        ok(box.select("topics").run())
        assert "IMDB dataset is not available" not in text(at)  # ... but this dataset needs none
        at.multiselect(key="train_cells").set_value(["lstm"])
        preset = at.selectbox(key="train_preset").value
        at.number_input(key=f"hp.{preset}.imdb.val_size").set_value(6)
        submit = next(b for b in at.button if b.proto.label == "Start training")
        ok(submit.click().run())
        [job] = launched
        cfg = job["run"].config()
        assert (cfg.data.dataset, cfg.data.imdb_path, cfg.model.cell, cfg.data.val_size) == ("topics", None, "lstm", 6)
