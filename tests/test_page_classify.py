"""The Classify page under AppTest: every word with what each model read of it (a dropped "not" shown), the
keep-negations comparison, and the runs of the chosen dataset only: IMDB's, or a three-class dataset's named by
their classes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures_runs import use_home
from streamlit.testing.v1 import AppTest
from test_datasets import WORDS, sentences, write_csv

ROOT = Path(__file__).resolve().parent.parent
TOPICS = sorted(WORDS)  # cooking, sports, weather


@pytest.fixture(scope="module")
def topics_home(trained_home, tmp_path_factory) -> Path:
    """A copy of the trained home with a dataset of three topics registered and an LSTM trained on it."""
    from rnnlab.core.config import preset
    from rnnlab.core.data.sources import add_dataset
    from rnnlab.core.jobs.lifecycle import run_now
    from rnnlab.core.jobs.store import RunStore

    root = tmp_path_factory.mktemp("classify")
    home = root / "home"
    shutil.copytree(trained_home.home, home)
    rows = [[s, cls] for cls in TOPICS for s in sentences(cls)]
    csv = write_csv(root / "topics.csv", rows)
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home, trained_home.archive)
        add_dataset(csv, "topics", text_col="sentence", label_col="topic")
        cfg = preset("fast", cell="lstm", dataset="topics", epochs=1, hidden_size=8, embedding_dim=8, max_len=40,
                     val_size=6, threads=1)
        run_now("rnn", cfg, RunStore(home / "runs"))
    return home


@pytest.fixture
def home(topics_home, trained_home, tmp_path, monkeypatch) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(topics_home, copy)
    use_home(monkeypatch, copy, trained_home.archive)
    return copy


def open_page(dataset: str | None = None) -> AppTest:
    """The page, showing ``dataset`` (as if chosen on another page; None: the page's default, IMDB)."""
    from rnnlab.dashboard import state

    at = AppTest.from_file(str(ROOT / "pages" / "classify.py"), default_timeout=90)
    if dataset:
        at.session_state[state.DATASET] = dataset
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def html(at: AppTest) -> str:
    return " ".join(h.proto.body for h in at.get("html"))


def table(at: AppTest):
    return next(d.value for d in at.dataframe if "confidence" in d.value.columns)


def test_the_imdb_runs_answer_by_default_and_the_three_class_run_only_when_its_dataset_is_chosen(home):
    imdb = table(open_page())
    assert len(imdb) == 3 and set(imdb["label"]) <= {"negative", "positive"}  # the topics run is not asked
    assert ((imdb["confidence"] >= 0.5) & (imdb["confidence"] <= 1)).all()
    at = open_page("topics")
    assert at.selectbox(key="classify_dataset").value == "topics"
    topics = table(at)
    assert len(topics) == 1 and topics["label"].iloc[0] in TOPICS
    assert 1 / 3 <= topics["confidence"].iloc[0] <= 1
    per_class = next(d.value for d in at.dataframe if "weather" in d.value.columns)
    assert list(per_class.columns) == ["run", *TOPICS] and per_class[TOPICS].sum(axis=1).iloc[0] == pytest.approx(1)


def test_the_chart_names_each_colour_and_shows_the_predicted_class_of_a_three_class_run(home):
    import json

    at = open_page("topics")
    [fig] = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert fig["layout"]["title"]["text"].startswith("P(predicted class)")
    legend = {tr["name"] for tr in fig["data"] if tr.get("showlegend") is not False}
    assert "lstm" in legend and not {"rnn", "gru"} & legend and "P(positive)" not in legend
    [fig] = [json.loads(c.proto.spec) for c in open_page("imdb").get("plotly_chart")]
    assert fig["layout"]["title"]["text"].startswith("P(positive)")
    assert {"rnn", "lstm", "gru"} <= {tr["name"] for tr in fig["data"] if tr.get("showlegend") is not False}


def test_a_dropped_negation_is_shown_with_its_reason_and_keep_negations_reads_it(home):
    at = open_page()
    at.text_area(key="classify_text").input("not good at all, the plot was boring").run()
    assert not at.exception
    body = html(at)
    assert ">not</span>" in body and "not: stop word: dropped" in body
    assert "stop word: dropped" in body  # the legend
    assert "also reads" not in body
    at.toggle(key="classify_negations").set_value(True).run()
    assert not at.exception
    body = html(at)
    assert "keep negations on also reads: <b>not</b>" in body


def test_the_reading_is_escaped(home):
    at = open_page()
    at.text_area(key="classify_text").input("<script>alert(1)</script> great film").run()
    assert not at.exception
    body = html(at)
    assert "<script>" not in body and "&lt;script&gt;" in body
