"""The lesson path on the real IMDB dataset, in a real browser: what a student does in their first hour.

Train the three cells from the Train page with its default settings (the ``lesson`` preset), see
them finish without reloading, then Compare, Gradients, Gates with a negated review, and Classify.
Asserts the gated cells beat the vanilla RNN, that Compare's confusion matrices carry distinct titles
that do not overlap, that the negation the model never read is shown with its reason, that Gates
shows which words decided (with the completeness check) and answers a neuron search for a unit and
for a word pattern, and that no page shows an error. With ``RNNLAB_DOCS_SCREENSHOTS=1`` it retakes the
README's screenshots of those pages from these runs.

Needs the real dataset: ``RNNLAB_IMDB`` pointing at aclImdb_v1.tar.gz (or the aclImdb/ folder);
skipped, saying so, without it, and like tests/test_browser.py without Chromium or playwright.
It trains for a few minutes (the lesson budget).
"""

from __future__ import annotations

import os
import time
from itertools import combinations
from pathlib import Path

import pytest
from test_browser import assert_drawn, chromium_page, goto, no_error_box, serve, settle, shoot, skip_reason

from rnnlab.core.jobs.store import RunStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REAL = os.environ.get("RNNLAB_IMDB", "")
if skip_reason():
    pytest.skip(skip_reason(), allow_module_level=True)
if not REAL or not Path(REAL).exists() or (Path(REAL).is_file() and Path(REAL).stat().st_size < 50 * 2**20):
    pytest.skip("the lesson path needs the real IMDB dataset: set RNNLAB_IMDB to aclImdb_v1.tar.gz (84 MB) or the "
                "extracted aclImdb/ folder", allow_module_level=True)

TRAIN_TIMEOUT_S = 20 * 60  # the lesson budget is ~5 minutes on a 2-core CPU; a loaded CI machine gets room
NEGATED = "This film is not good at all. The plot was not funny and the acting was boring."


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-lesson")
    with serve(root, root / "home", Path(REAL)) as running:
        yield running


@pytest.fixture(scope="module")
def page(app):
    with chromium_page(60_000) as pg:
        yield pg


def subplot_titles(page, title: str) -> list[dict]:
    """The subplot titles (Plotly annotations) of the chart whose title starts with ``title``: text, box, and
    whether the box lies within the chart's own."""
    return page.evaluate("""title => {
        const plot = [...document.querySelectorAll('.js-plotly-plot')].find(
            p => (p.querySelector('.gtitle')?.textContent || '').startsWith(title));
        if (!plot) return [];
        const box = plot.getBoundingClientRect();
        return [...plot.querySelectorAll('.annotation-text')].filter(a => a.textContent.trim()).map(a => {
            const r = a.getBoundingClientRect();
            return {text: a.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                    inside: r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1};
        });
    }""", title)


def overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def test_the_lesson_path_on_real_reviews(app, page):
    # -- train the three cells with the Train page's defaults --------------------------------------------------
    goto(page, app, "train")
    no_error_box(page, "train")
    assert page.get_by_label("limit", exact=True).input_value() == "7000"  # the lesson preset's, untouched
    assert page.get_by_label("epochs", exact=True).input_value() == "3"
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Started 3 runs").wait_for()
    store = RunStore(app["home"] / "runs")
    deadline = time.time() + TRAIN_TIMEOUT_S
    while time.time() < deadline:
        runs = store.list()
        if len(runs) == 3 and all(r.status()["state"] not in ("queued", "running") for r in runs):
            break
        time.sleep(2)
    runs = store.list()
    assert [r.status()["state"] for r in runs] == ["finished"] * 3, [r.status() for r in runs]
    assert {r.config().train.preset for r in runs} == {"lesson"}
    accuracy = {r.config().model.cell: r.test_metrics()["accuracy"] for r in runs}
    assert min(accuracy["lstm"], accuracy["gru"]) > accuracy["rnn"], accuracy  # the gates' effect
    # the page saw them finish by itself: no reload
    page.get_by_text("Finished: test accuracy").first.wait_for(timeout=60_000)
    settle(page)
    no_error_box(page, "train after training")
    shoot(page, "train", docs=True)

    # -- compare them ----------------------------------------------------------------------------------------------
    goto(page, app, "compare")
    no_error_box(page, "compare")
    page.get_by_text("ROC curves (test split)").wait_for()
    assert_drawn(page, runs)  # none is degenerate at the lesson budget: all three drawn without asking
    titles = subplot_titles(page, "Confusion matrices")
    assert len(titles) == 3 and len({t["text"] for t in titles}) == 3, titles  # one title per model, distinct
    assert all(run.id.rsplit("-", 1)[-1] in " ".join(t["text"] for t in titles) for run in runs), titles
    for a, b in combinations(titles, 2):
        assert not overlap(a, b), (a, b)  # legible: no title drawn over another
    assert all(t["inside"] for t in titles), titles  # and none cut at the figure's edge
    shoot(page, "compare", docs=True)

    # -- the gradients through time --------------------------------------------------------------------------------
    goto(page, app, "gradients")
    no_error_box(page, "gradients")
    assert page.get_by_text("What to look for").count()
    shoot(page, "gradients", docs=True)

    # -- a negated review, token by token --------------------------------------------------------------------------
    goto(page, app, "gates")
    box = page.get_by_label("Text", exact=True)
    box.fill(NEGATED)
    box.press("Control+Enter")
    settle(page, timeout=60)
    no_error_box(page, "gates")
    page.get_by_text("What the model read").first.wait_for()
    reading = page.locator('[data-testid="stHtml"]').all_inner_texts()
    assert any("not" in r for r in reading)  # the dropped negation is on the page, not only the kept words
    # which words decided: both models' integrated gradients, each with its completeness check
    page.get_by_text("Which words decided").first.wait_for()
    checks = page.get_by_text("integrated gradients sum to").all_inner_texts()
    assert len(checks) == 2 and all("gap" in c and "tolerance" in c for c in checks), checks
    assert any(c.lstrip().startswith("✓") for c in checks), checks  # at least one of the two integrals completes
    # which units track what: the first model's unit 0, then the units that track two words typed in
    search = page.locator(".st-key-gates_neurons_go button")
    search.click()
    settle(page, timeout=180)
    no_error_box(page, "gates: a unit's contexts")
    page.get_by_text("Highest", exact=False).first.wait_for()
    assert page.locator('[data-testid="stHtml"] span[title^="activation"]').count() > 0  # each context's token
    page.get_by_text("a word pattern: the units that track it").click()
    settle(page)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Pattern").click()
    page.get_by_role("option", name="your own words").click()
    settle(page)
    search.click()
    settle(page, timeout=180)
    no_error_box(page, "gates: a pattern's units")
    page.get_by_text("the units that track").first.wait_for()
    assert page.get_by_text("r = ").count() > 0  # each unit listed with its correlation
    shoot(page, "gates", docs=True)

    # -- every model on the same review ----------------------------------------------------------------------------
    goto(page, app, "classify")
    page.get_by_role("button", name="Negation", exact=True).click()
    settle(page, timeout=60)
    no_error_box(page, "classify")
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert all(run.id.rsplit("-", 1)[-1] in body for run in runs), body[:3000]
    shoot(page, "classify", docs=True)

    # -- where it started: the dataset, and its reviews stage by stage --------------------------------------------
    for path, name in (("", "overview"), ("data", "data"), ("theory", "theory")):
        goto(page, app, path)
        no_error_box(page, name)
        shoot(page, name, docs=True)
