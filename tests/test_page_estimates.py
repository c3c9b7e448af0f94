"""What the HMM, Embeddings, Report and Compare pages say before a launch and beside a comparison, under AppTest.

Before launching: the expected time, measured from the finished runs (or the reference rates), and
no hard-coded time claim. Beside a comparison: each run's test-set size and a plain warning when the
scores come from different test sets. On the Embeddings page: a warning when a run's corpus is too
small for its neighbours to mean much. No page shows a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_pages import chart, ok, text
from test_pages_inside import home, inside_home, launched, open_page  # noqa: F401 - fixtures

from rnnlab.core.jobs.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
OWN_PAGES = ["hmm.py", "embeddings.py", "report.py", "compare.py"]


def set_test_size(store: RunStore, run_id: str, n: int) -> None:
    """Pretend the run was scored on ``n`` test reviews (its test_metrics.json rewritten)."""
    run = store.get(run_id)
    tm = json.loads(run.file("test_metrics.json").read_text())
    tm.update(n=n, **({"test_size": n} if "test_size" in tm else {}))
    run.file("test_metrics.json").write_text(json.dumps(tm))


@pytest.mark.parametrize("page", OWN_PAGES)
def test_no_page_promises_a_time_it_did_not_measure(page):
    source = (ROOT / "pages" / page).read_text(encoding="utf-8")
    assert not re.search(r"(about|take[s]?|takes about) (a|one|\d+) minutes?", source), page


def estimate_caption(at) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Expected time"))


def test_hmm_page_shows_the_expected_time_before_the_fit_and_follows_the_settings(home):  # noqa: F811
    at = ok(open_page("hmm.py"))
    at.number_input(key="hmm_dim").set_value(2).run()  # the fixture's vectors have 8 dimensions
    first = estimate_caption(ok(at))
    # the dataset's own sizes: the tiny archive's 12 test reviews, its 11 training reviews (one held out)
    assert "1 finished GMM-HMM run" in first and "scoring" in first and "12 test" in first and "11 reviews" in first
    at.number_input(key="hmm_limit").set_value(4).run()
    second = estimate_caption(ok(at))
    assert second != first and "4 reviews of imdb" in second
    assert "about a minute" not in text(at)


def test_hmm_page_says_why_there_is_no_estimate_for_more_dimensions_than_the_vectors_have(home):  # noqa: F811
    at = ok(open_page("hmm.py"))
    assert at.number_input(key="hmm_dim").value == 12  # the config's default, above the fixture's 8 dimensions
    assert "no estimate: hmm.dim=12 is more than the 8 dimensions" in estimate_caption(at)


def test_hmm_page_estimate_falls_back_to_the_reference_without_fits(home):  # noqa: F811
    RunStore(home.home / "runs").delete(home.ids["hmm"])
    at = ok(open_page("hmm.py"))
    at.number_input(key="hmm_dim").set_value(2).run()
    assert "reference rate measured on another machine" in estimate_caption(ok(at))


def test_hmm_page_says_when_the_scores_beside_the_rnns_come_from_different_test_sets(home):  # noqa: F811
    at = ok(open_page("hmm.py"))
    assert not any("different test sets" in w.value for w in at.warning)  # the tiny runs share one test split
    set_test_size(RunStore(home.home / "runs"), home.ids["hmm"], 25_000)
    at = ok(open_page("hmm.py"))
    warning = next(w.value for w in at.warning if "different test sets" in w.value)
    assert "on 25,000 reviews" in warning and "gmmhmm" in warning
    bars = [str(x) for x in chart(at, "Test metrics")["data"][0]["x"]]
    assert any(x.startswith("gmmhmm") and x.endswith("25,000 test") for x in bars)


def test_hmm_fit_still_queues_the_fit_with_the_live_settings(home, launched):  # noqa: F811
    at = ok(open_page("hmm.py"))
    at.number_input(key="hmm_states").set_value(3)
    at.number_input(key="hmm_limit").set_value(200)
    at.number_input(key="hmm_dim").set_value(2)
    at.get("form_submit_button")[0].click().run()
    ok(at)
    (fit,) = [x["run"] for x in launched]
    assert fit.job_config().hmm.states == 3 and fit.job_config().hmm.limit == 200


def test_embeddings_page_shows_the_expected_time_and_warns_about_a_small_corpus(home):  # noqa: F811
    at = ok(open_page("embeddings.py"))
    guess = estimate_caption(at)
    # the dataset's own sizes: the tiny archive's 11 training reviews (one held out) and 4 unlabelled ones
    assert "finished skipgram word2vec run" in guess and "15 reviews of imdb" in guess
    at.number_input(key="w2v_limit").set_value(2).run()  # two per split
    assert "4 reviews of imdb" in estimate_caption(ok(at))
    warning = next(w.value for w in at.warning if "tokens" in w.value)
    assert "under the 1,000,000" in warning and "“good” and “terrible”" in warning


def test_embeddings_page_does_not_warn_about_a_big_corpus(home):  # noqa: F811
    run = RunStore(home.home / "runs").get(home.ids["word2vec"])
    info = json.loads(run.file("word2vec.json").read_text())
    run.file("word2vec.json").write_text(json.dumps({**info, "corpus_tokens": 5_000_000}))
    at = ok(open_page("embeddings.py"))
    assert not any("word2vec's neighbours mean little" in w.value for w in at.warning)


def test_report_page_shows_the_experiment_expected_time_before_it_is_generated(home):  # noqa: F811
    at = ok(open_page("report.py"))
    guess = next(c.value for c in at.caption if c.value.startswith("Expected time"))
    assert "sum of its parts" in guess and "memory horizon" in guess
    at.checkbox[0].uncheck().run()  # no memory horizon
    assert "memory horizon" not in next(c.value for c in ok(at).caption if c.value.startswith("Expected time"))
    assert "14 minutes" not in text(at)


def test_report_page_with_seeds_that_are_not_numbers_shows_no_estimate_and_no_traceback(home):  # noqa: F811
    at = ok(open_page("report.py"))
    at.text_input[0].set_value("0, one").run()
    assert not any(c.value.startswith("Expected time") for c in ok(at).caption)


def test_compare_page_lists_test_sizes_and_says_when_test_sets_differ(home):  # noqa: F811
    at = ok(open_page("compare.py"))
    table = next(d.value for d in at.dataframe if "test_size" in d.value.columns)
    assert (table[table["status"] == "finished"]["test_size"] == 12).all()  # the tiny archive's test split
    assert not any("different test sets" in w.value for w in at.warning)
    store = RunStore(home.home / "runs")
    set_test_size(store, home.ids["lstm"], 2_000)
    at = ok(open_page("compare.py"))
    at.toggle(key="compare_show_all").set_value(True).run()  # the tiny LSTM and GRU are degenerate: draw them
    warning = next(w.value for w in at.warning if "different test sets" in w.value)
    assert "on 2,000 reviews" in warning
