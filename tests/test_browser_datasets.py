"""Your own data in a real browser: datasets added on the Overview, an LSTM trained on each from the Train page.

A three-class CSV and a two-class folder of .txt files are added by path on the Overview page,
then an LSTM is trained on each from the Train page (each run in its own process), and the
trained runs answer on the Classify page in their own class names, are read token by token on
the Gates page, and export to TensorBoard. Skipped like tests/test_browser.py (Chromium,
playwright, NLTK's stop words).
"""

from __future__ import annotations

import csv
import random
import re
import time
from pathlib import Path

import pytest
from conftest import tiny_reviews, write_imdb_archive
from test_browser import chromium_page, goto, no_error_box, serve, settle, shoot, skip_reason

from core.jobs.store import RunStore

pytestmark = pytest.mark.browser
if skip_reason():
    pytest.skip(skip_reason(), allow_module_level=True)

TOPICS = {"sports": ["goal", "team", "match", "coach", "league"],
          "cooking": ["oven", "flour", "sauce", "garlic", "bake"],
          "weather": ["rain", "storm", "cloud", "snow", "wind"]}
TRAIN_TIMEOUT_S = 120


def sentences(cls: str, n: int, seed: int) -> list[str]:
    rng = random.Random(f"{cls}-{seed}")
    return [" ".join(rng.choice(TOPICS[cls]) for _ in range(6)) for _ in range(n)]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    table = root / "topics.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["sentence", "topic"])
        w.writerows([s, cls] for cls in TOPICS for s in sentences(cls, 25, 0))
    folder = root / "two"
    for split, n in (("train", 20), ("test", 6)):
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
    pg.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
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
    pg.get_by_text(f"Added {name}").wait_for()
    no_error_box(pg, f"overview after adding {name}")


def train_lstm(pg, app, dataset: str) -> None:
    goto(pg, app, "train")
    choose(pg, "Dataset", dataset)
    for cell in ("rnn", "gru"):
        pg.locator(f'button[aria-label="Remove {cell}"]').first.click()
        settle(pg)
    for label, value in (("epochs", "3"), ("hidden size", "16"), ("embedding dim", "16"), ("batch size", "8"),
                         ("val size", "6")):
        type_into(pg, label, value)
    pg.get_by_role("button", name="Start training").click()
    pg.get_by_text("Started 1 run").wait_for()


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


def test_an_lstm_trains_on_a_three_class_csv_and_a_class_folder_from_the_browser(app, page, sources, tmp_path):
    add_dataset(page, app, "topics", sources["topics"], "sentence", "topic")
    add_dataset(page, app, "two", sources["two"])
    assert sorted(p.name for p in (app["home"] / "datasets").iterdir()) == ["topics.json", "two.json"]
    shoot(page, "overview_datasets")

    store = RunStore(app["home"] / "runs")
    train_lstm(page, app, "topics")
    finished(store, 1)
    train_lstm(page, app, "two")
    runs = finished(store, 2)
    by_dataset = {r.config().data.dataset: r for r in runs}
    assert set(by_dataset) == {"topics", "two"}
    assert all(r.config().model.cell == "lstm" for r in runs)
    tm = {name: r.read_json("test_metrics.json") for name, r in by_dataset.items()}
    assert tm["topics"]["classes"] == ["cooking", "sports", "weather"] and len(tm["topics"]["per_class"]) == 3
    assert tm["two"]["n"] == 12
    page.get_by_text("Finished: test accuracy").first.wait_for(timeout=30_000)
    no_error_box(page, "train after training")

    # Classify answers in each dataset's own class names
    goto(page, app, "classify")
    no_error_box(page, "classify")
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert re.search(r"\b(cooking|sports|weather)\b", body), body[:2000]
    shoot(page, "classify_datasets")

    # Gates reads the text token by token with a run of either dataset
    goto(page, app, "gates")
    no_error_box(page, "gates")

    # and the runs travel: TensorBoard's own reader sees what was exported
    pytest.importorskip("tensorboard", reason="the optional tensorboard package is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from core.report.export import export_tensorboard

    out = tmp_path / "tb"
    export_tensorboard([by_dataset["topics"]], str(out))
    acc = EventAccumulator(str(next(p.parent for p in out.rglob("events.out.tfevents.*"))))
    acc.Reload()
    assert acc.Tags()["scalars"]
