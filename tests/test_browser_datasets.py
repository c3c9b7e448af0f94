"""Your own data in a real browser: datasets added on the Overview, each trained on from the Train page's defaults.

A three-class CSV (180 rows) and a two-class folder of .txt files (200) are added by path on the
Overview page, then the three cells are trained on each from the Train page with its defaults (the
``lesson`` preset, nothing overridden: the validation split fits itself to the dataset; each run in
its own process). Overview, Compare and Gradients show the dataset chosen last on the Train page and
only its runs; switching the shared selector on one page switches them all (pages opened from the
sidebar: one browser session). The runs answer on the Classify page in their own class names, open on
the Gates page, and export to TensorBoard. Skipped like tests/test_browser.py (Chromium, playwright).
"""

from __future__ import annotations

import csv
import random
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import tiny_reviews, write_imdb_archive
from test_browser import chromium_page, goto, no_error_box, serve, settle, shoot, skip_reason

from rnnlab.core.jobs.store import RunStore

pytestmark = pytest.mark.browser
if skip_reason():
    pytest.skip(skip_reason(), allow_module_level=True)

TOPICS = {"sports": ["goal", "team", "match", "coach", "league"],
          "cooking": ["oven", "flour", "sauce", "garlic", "bake"],
          "weather": ["rain", "storm", "cloud", "snow", "wind"]}
TRAIN_TIMEOUT_S = 300  # six lesson-preset runs on ~200 texts, one after the other, on a busy 2-core machine


def sentences(cls: str, n: int, seed: int) -> list[str]:
    rng = random.Random(f"{cls}-{seed}")
    return [" ".join(rng.choice(TOPICS[cls]) for _ in range(6)) for _ in range(n)]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """A three-class CSV of 180 rows (split 80/20 when added) and a two-class folder of 200 texts (its own split)."""
    root = tmp_path_factory.mktemp("sources")
    table = root / "topics.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["sentence", "topic"])
        w.writerows([s, cls] for cls in TOPICS for s in sentences(cls, 60, 0))
    folder = root / "two"
    for split, n in (("train", 80), ("test", 20)):
        for cls in ("sports", "weather"):
            (folder / split / cls).mkdir(parents=True)
            for i, s in enumerate(sentences(cls, n, hash(split) % 5)):
                (folder / split / cls / f"{i}.txt").write_text(s, encoding="utf-8")
    return {"topics": table, "two": folder}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-datasets")
    archive = write_imdb_archive(root / "aclImdb_v1.tar.gz", tiny_reviews(per_class=6))
    with serve(root, root / "home", archive) as running:
        yield running


@pytest.fixture(scope="module")
def page(app):
    with chromium_page() as pg:
        yield pg


def type_into(pg, label: str, value: str) -> None:
    box = pg.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")
    settle(pg)


def choose(pg, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label``, by its open button (a box still focused from the last
    pick may take a second press to open)."""
    box = pg.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    for _ in range(4):
        box.get_by_role("button", name="Open").click()
        time.sleep(0.3)
        if box.get_by_role("combobox").get_attribute("aria-expanded") == "true":
            break
    pg.get_by_role("option", name=re.compile(re.escape(option))).first.click()
    settle(pg)


def add_dataset(pg, app, name: str, path: Path, text_col: str = "", label_col: str = "") -> None:
    goto(pg, app, "")
    if not pg.get_by_label("Name", exact=True).is_visible():
        pg.get_by_text("Add a dataset").click()
    type_into(pg, "Name", name)
    type_into(pg, "Text column", text_col)
    type_into(pg, "Label column", label_col)
    type_into(pg, "Path", str(path))
    pg.get_by_role("button", name="Add", exact=True).click()
    pg.get_by_text(f"Added {name}").first.wait_for()
    no_error_box(pg, f"overview after adding {name}")


def nav(pg, path: str) -> None:
    """Open a page from the sidebar (``path``: its URL path, "" for the Overview): the same browser session (a new
    URL would start a new one), so the choices made on other pages hold."""
    before = heading(pg)
    want = f"/{path}".rstrip("/")
    link = pg.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]').first
    # a click that lands while a polling page (Train) reruns can be dropped by the app, and on a loaded machine the new
    # page's script may start after a quiet moment: click again until the URL names the page and its title is drawn
    # (the old page's text alone is no sign: Train redraws itself meanwhile)
    deadline = time.time() + 90
    while time.time() < deadline:
        link.click()
        until = min(deadline, time.time() + 20)
        while time.time() < until:
            arrived = urlparse(pg.url).path.rstrip("/").endswith(want) if want else urlparse(pg.url).path in ("", "/")
            if arrived and heading(pg) not in ("", before):
                settle(pg)
                return
            time.sleep(0.2)
    raise AssertionError(f"the sidebar link to /{path} did not open its page: still {pg.url}, {heading(pg)!r}")


def heading(pg) -> str:
    """The page's title (its first heading), or "" while none is drawn."""
    h1 = pg.locator('[data-testid="stMain"] h1')
    return h1.first.inner_text() if h1.count() else ""


def train_with_the_defaults(pg, dataset: str) -> None:
    """Choose ``dataset`` on the Train page and start its defaults: the lesson preset, all three cells."""
    choose(pg, "Dataset", dataset)
    pg.get_by_role("button", name="Start training").click()
    pg.get_by_text("Started 3 runs").first.wait_for()
    settle(pg)


def main_text(pg) -> str:
    return pg.locator('[data-testid="stMain"]').inner_text()


def shows_only(pg, where: str, mine: list, others: list) -> None:
    """The page names every run of ``mine`` (by id) and none of ``others``."""
    no_error_box(pg, where)
    body = main_text(pg)
    assert all(r.id in body for r in mine), (where, [r.id for r in mine], body[:3000])
    assert not [r.id for r in others if r.id in body], (where, body[:3000])


def finished(store: RunStore, n: int) -> list:
    deadline = time.time() + TRAIN_TIMEOUT_S
    while time.time() < deadline:
        runs = store.list()
        if len(runs) == n and all(r.status().get("state") not in ("queued", "running") for r in runs):
            break
        time.sleep(0.5)
    runs = store.list()
    assert [r.status()["state"] for r in runs] == ["finished"] * n, [r.status() for r in runs]
    return runs


def test_each_dataset_trains_with_the_train_pages_defaults_and_the_pages_show_the_chosen_ones_runs(app, page, sources,
                                                                                                    tmp_path):
    add_dataset(page, app, "topics", sources["topics"], "sentence", "topic")
    add_dataset(page, app, "two", sources["two"])
    assert sorted(p.name for p in (app["home"] / "datasets").iterdir()) == ["topics.json", "two.json"]
    shoot(page, "overview_datasets")

    # -- the Train page's defaults on each dataset, one after the other ---------------------------------------------
    store = RunStore(app["home"] / "runs")
    nav(page, "train")
    train_with_the_defaults(page, "topics")
    finished(store, 3)
    page.get_by_text("Nothing is training now.").first.wait_for(timeout=30_000)  # the page stopped polling: pick again
    settle(page)
    train_with_the_defaults(page, "two")  # chosen last: the dataset every page now shows
    runs = finished(store, 6)
    by_dataset = {name: [r for r in runs if r.config().data.dataset == name] for name in ("topics", "two")}
    for name, mine in by_dataset.items():
        assert sorted(r.config().model.cell for r in mine) == ["gru", "lstm", "rnn"], name
        assert {(r.config().train.preset, r.config().data.limit) for r in mine} == {("lesson", 7000)}
    # the validation split fitted to each dataset: 10 % of its training texts
    assert {r.config().data.val_size for r in by_dataset["topics"]} == {14}
    assert {r.config().data.val_size for r in by_dataset["two"]} == {16}
    tm = {name: mine[0].read_json("test_metrics.json") for name, mine in by_dataset.items()}
    assert tm["topics"]["classes"] == ["cooking", "sports", "weather"] and len(tm["topics"]["per_class"]) == 3
    assert tm["two"]["n"] == 40
    page.get_by_text("Finished: test accuracy").first.wait_for(timeout=30_000)
    no_error_box(page, "train after training")

    # -- Overview, Compare and Gradients show the dataset chosen on the Train page, and only its runs ----------------
    two, topics = by_dataset["two"], by_dataset["topics"]
    nav(page, "")
    assert "Latest on two" in main_text(page)
    shows_only(page, "overview (two)", [two[0]], topics)  # the latest run, by id
    nav(page, "compare")
    page.get_by_text("Show hidden, failed and degenerate runs", exact=True).first.click()  # tiny runs: maybe degenerate
    settle(page)
    shows_only(page, "compare (two)", two, topics)
    shoot(page, "compare_two")
    nav(page, "gradients")
    shows_only(page, "gradients (two)", two, topics)  # the lesson preset records gradients: one run per cell
    # ... switch the shared selector here, and every page follows
    choose(page, "Dataset", "topics")
    shows_only(page, "gradients (topics)", topics, two)
    shoot(page, "gradients_topics")
    nav(page, "compare")
    shows_only(page, "compare (topics)", topics, two)
    nav(page, "")
    assert "Latest on topics" in main_text(page)
    shows_only(page, "overview (topics)", [topics[0]], two)

    # Classify answers in the chosen dataset's own class names
    nav(page, "classify")
    no_error_box(page, "classify")
    body = main_text(page)
    assert re.search(r"\b(cooking|sports|weather)\b", body), body[:2000]
    assert not [r.id for r in two if r.id in body]
    shoot(page, "classify_datasets")

    # Gates opens with a run of the chosen dataset
    nav(page, "gates")
    no_error_box(page, "gates")

    # and the runs travel: TensorBoard's own reader sees what was exported
    pytest.importorskip("tensorboard", reason="the optional tensorboard package is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rnnlab.core.report.export import export_tensorboard

    out = tmp_path / "tb"
    export_tensorboard([topics[0]], str(out))
    acc = EventAccumulator(str(next(p.parent for p in out.rglob("events.out.tfevents.*"))))
    acc.Reload()
    assert acc.Tags()["scalars"]
