"""Which words decided, on the Gates and Classify pages under AppTest: words coloured by integrated gradients and by
gradient x input, the completeness check stated, the per-token chart equal to the core's numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_pages import charts, ok, text, title_of

from rnnlab.core.analysis.attribution import DEFAULT_STEPS, attribute

ROOT = Path(__file__).resolve().parent.parent
TEXT = "pos film, best pos review ever!"


@pytest.fixture
def home(trained_copy) -> Path:
    """A copy of the suite's tiny trained runs (default pipeline: stop words and punctuation removed)."""
    return trained_copy


def open_page(name: str, text_key: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=90)
    at.session_state[text_key] = TEXT
    return ok(at.run())


def html(at: AppTest) -> str:
    return " ".join(str(h.proto.body) for h in at.get("html"))


def test_gates_page_colours_the_words_by_attribution_and_states_the_completeness_check(home, trained_home):
    at = open_page("gates.py", "gates_text")
    body = text(at)
    assert "Which words decided" in body and "Gradient x input" in body
    checks = [c.value for c in at.caption if "gradients sum to" in c.value]
    assert len(checks) == 2 and all(c.startswith("✓") and f"{DEFAULT_STEPS} steps" in c for c in checks)  # 2 runs
    page = html(at)
    assert page.count("towards positive</span>") == 4  # the key of both views, in both columns
    assert 'title="+' in page or 'title="-' in page  # each read word's value in its tooltip
    [fig] = [c for c in charts(at) if title_of(c).startswith("lstm") and "attribution per token" in title_of(c)]
    bars = {tr["name"]: tr["y"] for tr in fig["data"]}
    expected = attribute(trained_home.run_ids["lstm"], TEXT, runs_dir=home / "runs")
    assert bars["integrated gradients"] == pytest.approx(expected.integrated_gradients.tolist(), abs=1e-6)
    assert bars["gradient x input"] == pytest.approx(expected.gradient_x_input.tolist(), abs=1e-6)
    at.number_input(key="gates_attribution_steps_0").set_value(3).run()
    assert any("3 steps" in c.value for c in ok(at).caption)


def test_classify_page_shows_which_words_decided_for_every_network_and_can_hide_it(home):
    at = open_page("classify.py", "classify_text")
    checks = [c.value for c in at.caption if "gradients sum to" in c.value]
    assert len(checks) == 3 and all(c.startswith("✓") for c in checks)  # the tiny RNN, LSTM and GRU
    assert html(at).count("towards positive</span>") == 6  # integrated gradients and gradient x input, per run
    at.toggle(key="classify_attribution").set_value(False).run()
    assert "towards positive" not in html(ok(at))


def test_an_empty_text_is_attributed_without_an_error(home):
    at = AppTest.from_file(str(ROOT / "pages" / "gates.py"), default_timeout=90)
    at.session_state["gates_text"] = "!!! 😀"
    ok(at.run())  # the model reads one <unk>: the check still holds for it
    checks = [c.value for c in at.caption if "gradients sum to" in c.value]
    assert len(checks) == 2 and all(c.startswith("✓") for c in checks)
