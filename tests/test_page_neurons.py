"""Which units track what, on the Gates page under AppTest: a unit's contexts and a pattern's units equal the core's
search, each context's token outlined, and a pattern the run never reads refused with the reason, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_runs import tiny_config
from streamlit.testing.v1 import AppTest
from test_pages import charts, ok, rows, text

from rnnlab.core.analysis.neurons import NeuronSearchConfig, pattern_units, unit_contexts
from rnnlab.core.jobs.lifecycle import run_now
from rnnlab.core.jobs.store import RunStore
from rnnlab.dashboard import markup

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def home(trained_copy) -> Path:
    """A copy of the suite's tiny trained runs (default pipeline: stop words and punctuation removed)."""
    return trained_copy


def open_gates() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "gates.py"), default_timeout=90)
    at.session_state["gates_text"] = "pos film"
    return ok(at.run())


def html(at: AppTest) -> str:
    return " ".join(str(h.proto.body) for h in at.get("html"))


def test_a_units_highest_and_lowest_contexts_are_the_searchs_with_their_tokens_outlined(home, trained_home):
    # a stacked bidirectional LSTM: the layer and direction are picked, the cell state rebuilt
    cfg = tiny_config("lstm", trained_home.archive, num_layers=2, bidirectional=True)
    rid = run_now("rnn", cfg, RunStore(home / "runs")).id
    at = open_gates()
    assert "Which units track what" in text(at)
    before = html(at).count(markup.PEAK_STYLE)
    at.selectbox(key="gates_neurons_run").set_value(rid).run()
    at.radio(key="gates_neurons_mode").set_value("unit").run()
    at.selectbox(key="gates_neurons_layer").set_value(3).run()  # layer 2, backward
    at.selectbox(key="gates_neurons_state_lstm").set_value("cell")
    at.number_input(key="gates_neurons_unit").set_value(3)
    at.number_input(key="gates_neurons_top").set_value(4)
    ok(at.button(key="gates_neurons_go").click().run())
    expected = unit_contexts(rid, "1:1:3:cell", NeuronSearchConfig(top=4), runs_dir=home / "runs")
    assert "unit `1:1:3:cell`" in text(at) and "12 of 12 test reviews" in text(at)
    assert html(at).count(markup.PEAK_STYLE) - before == 8  # 4 highest, 4 lowest
    table = rows(at, "context")
    assert table["activation"].tolist() == pytest.approx([c.activation for c in expected.highest + expected.lowest])
    assert table["context"].tolist() == [c.snippet() for c in expected.highest + expected.lowest]
    at.number_input(key="gates_neurons_unit").set_value(5).run()  # the inputs change; the results shown stay
    assert "unit `1:1:3:cell`" in text(ok(at))


def test_a_pattern_the_run_never_reads_is_refused_and_a_word_list_finds_the_searchs_units(home, trained_home):
    rid = trained_home.run_ids["gru"]
    at = open_gates()
    at.selectbox(key="gates_neurons_run").set_value(rid).run()
    at.radio(key="gates_neurons_mode").set_value("pattern").run()
    at.selectbox(key="gates_neurons_pattern").set_value("but")
    ok(at.button(key="gates_neurons_go").click().run())
    [error] = [e.value for e in at.error if "Cannot search" in e.value]
    assert "stop word: but" in error
    at.selectbox(key="gates_neurons_pattern").set_value("words").run()
    at.text_input(key="gates_neurons_words").input("film, pos, zorblax")
    at.multiselect(key="gates_neurons_states_gru").set_value(["update_gate", "hidden"])
    ok(at.button(key="gates_neurons_go").click().run())
    assert not [e for e in at.error if "Cannot search" in e.value]
    expected = pattern_units(rid, ["film", "pos", "zorblax"], NeuronSearchConfig(), states=["update_gate", "hidden"],
                             runs_dir=home / "runs")
    [fig] = [c for c in charts(at) if "units that track" in c["layout"]["title"]["text"].replace("<br>", " ")]
    assert fig["layout"]["title"]["text"].replace("<br>", " ").endswith("units that track film,pos")
    assert list(fig["data"][0]["x"]) == [str(u.unit) for u in expected.units]
    assert fig["data"][0]["y"] == pytest.approx([u.r for u in expected.units])
    assert rows(at, "mean_match")["r"].tolist() == pytest.approx([u.r for u in expected.units])
    assert any("zorblax" in c.value for c in at.caption)  # the word the model never reads, said so
