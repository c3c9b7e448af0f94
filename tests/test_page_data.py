"""The Data page under AppTest: a dataset added with `data add` browsed by split and class name, its lengths and
words; a damaged entry explained, never a traceback; every word of a text with what the model reads of it and
the keep-negations comparison."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fixtures_runs import use_home
from streamlit.testing.v1 import AppTest
from test_datasets import WORDS, sentences, write_csv

ROOT = Path(__file__).resolve().parent.parent
TOPICS = sorted(WORDS)  # cooking, sports, weather


def add_topics(home_dir: Path, tmp: Path) -> None:
    from rnnlab.core.data.sources import add_dataset

    rows = [[s, cls] for cls in TOPICS for s in sentences(cls)]
    add_dataset(write_csv(tmp / "topics.csv", rows), "topics", text_col="sentence", label_col="topic")


@pytest.fixture
def topics_only(rnnlab_home, tmp_path, monkeypatch) -> Path:
    """A home with no IMDB and one three-class dataset added."""
    use_home(monkeypatch, rnnlab_home)
    add_topics(rnnlab_home, tmp_path)
    return rnnlab_home


@pytest.fixture
def both(trained_home, tmp_path, monkeypatch) -> Path:
    """The tiny IMDB archive and the three-class dataset."""
    home = tmp_path / "home"
    shutil.copytree(trained_home.home, home)
    use_home(monkeypatch, home, trained_home.archive)
    add_topics(home, tmp_path)
    return home


def open_page() -> AppTest:
    return ok(AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=60).run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def reviews(at: AppTest):
    return next(d.value for d in at.dataframe if "review" in d.value.columns)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def html(at: AppTest) -> str:
    return " ".join(h.proto.body for h in at.get("html"))


def test_a_named_dataset_is_browsed_by_split_and_class_name_without_a_rating(topics_only):
    at = open_page()
    assert at.selectbox(key="data_dataset").options == ["topics (3 classes: cooking, sports, weather)"]
    table = reviews(at)
    assert "rating" not in table.columns and set(table["label"]) <= set(TOPICS) and len(table) == 25
    assert at.selectbox(key="data_split").options == ["train", "test"]
    assert at.selectbox(key="data_label").options == ["all", *TOPICS]
    at.selectbox(key="data_label").select("weather").run()
    assert set(reviews(ok(at))["label"]) == {"weather"}
    at.selectbox(key="data_split").select("test").run()
    assert len(reviews(ok(at))) == 6  # 20 % of each class is held out
    titles = [(c["layout"].get("title") or {}).get("text", "") for c in charts(at)]
    assert any(t.startswith("Review length") for t in titles) and any(t.startswith("Most frequent") for t in titles)
    words = next(c for c in charts(at) if (c["layout"].get("title") or {}).get("text", "").startswith("Most frequent"))
    assert {a["text"] for a in words["layout"]["annotations"]} >= set(TOPICS)  # one panel per class


def test_imdb_and_added_datasets_are_offered_and_imdb_keeps_its_ratings(both):
    at = open_page()
    assert [o.split(" ")[0] for o in at.selectbox(key="data_dataset").options] == ["IMDB", "topics"]
    assert "rating" in reviews(at).columns and at.selectbox(key="data_label").options == ["all", "pos", "neg"]
    at.selectbox(key="data_dataset").set_value("topics").run()
    assert "rating" not in reviews(ok(at)).columns


def test_a_damaged_dataset_entry_is_explained_not_a_traceback(topics_only):
    (topics_only / "datasets" / "broken.json").write_text("{not json", encoding="utf-8")
    at = open_page()
    at.selectbox(key="data_dataset").set_value("broken").run()
    ok(at)
    assert any("broken" in e.value and "damaged" in e.value for e in at.error)


def test_a_dataset_whose_source_vanished_is_explained_not_a_traceback(topics_only, tmp_path):
    (tmp_path / "topics.csv").unlink()
    at = open_page()
    assert any("cannot be loaded" in e.value and "does not exist" in e.value for e in at.error)


def test_every_word_is_shown_with_why_it_is_not_read_and_keep_negations_is_compared(topics_only):
    at = open_page()
    at.radio(key="data_text_source").set_value("my own text").run()
    at.text_area(key="data_own_text").input("not good at all, the <b>plot</b> was boring").run()
    body = html(ok(at))
    assert "**3 tokens**" in "\n".join(m.value for m in at.markdown)
    assert 'title="not: stop word: dropped"' in body and 'title="removed: HTML or punctuation"' in body
    assert "&lt;b&gt;" in body and "<b>plot" not in body
    at.toggle(key="data_compare_negations").set_value(True).run()
    assert "keep negations on also reads: <b>not</b>" in html(ok(at))


def test_the_first_visit_says_what_reading_the_archive_took_and_later_visits_say_nothing(rnnlab_home, monkeypatch,
                                                                                         tiny_imdb_archive):
    use_home(monkeypatch, rnnlab_home, tiny_imdb_archive)  # found, never read: this visit parses it
    at = open_page()
    [took] = [c.value for c in at.caption if c.value.startswith("This first visit took")]
    assert re.fullmatch(r"This first visit took \d+ s, most of it reading the archive into its cache; later visits "
                        r"read the cache\.", took)
    assert not any(i.value.startswith("First visit") for i in at.info)  # what to expect made way for what it took
    at = open_page()  # the cache is there now
    assert not any("first visit" in e.value.lower() for e in [*at.caption, *at.info])
    assert len(reviews(at)) == 6  # the tiny archive's training split, read from the cache
