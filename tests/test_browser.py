"""The whole app in a real browser: `streamlit run dashboard/app.py` driven by Playwright and Chromium.

What AppTest cannot see: the navigation between pages, the frontend rendering every element
without an error box, and a training started from the Train page that runs in its own process,
finishes and shows up on the Compare page. A screenshot of every page goes to
``test-artifacts/screenshots/``. (The README's screenshots come from real runs:
tests/test_browser_lesson.py retakes them with ``RNNLAB_DOCS_SCREENSHOTS=1``.)

Skipped, with the reason, when Chromium (``/usr/bin/chromium``) or the ``playwright`` package is
missing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import tiny_reviews, write_imdb_archive
from fixtures_runs import nltk_data

from rnnlab.core.jobs.process import terminate
from rnnlab.core.jobs.store import RunStore

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "screenshots"
WIDTH = 1400
TRAIN_TIMEOUT_S = 120  # three tiny runs, one after the other, on a busy 2-core machine


def skip_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright)"
    return None


if skip_reason():
    pytest.skip(skip_reason(), allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app on a free local port, with a fresh home and the tiny IMDB archive; stopped afterwards."""
    root = tmp_path_factory.mktemp("browser")
    archive = write_imdb_archive(root / "aclImdb_v1.tar.gz", tiny_reviews(per_class=6))
    with serve(root, root / "home", archive) as running:
        yield running


@pytest.fixture(scope="module")
def damaged_app(trained_home, tmp_path_factory):
    """The app over a copy of the trained home with a damaged copy of its runs beside them (one file each)."""
    from test_pages_damaged import add_damaged_runs

    root = tmp_path_factory.mktemp("browser-damaged")
    home = root / "home"
    shutil.copytree(trained_home.home, home)
    damaged = add_damaged_runs(home, trained_home.run_ids)
    with serve(root, home, trained_home.archive) as running:
        yield {**running, "damaged": damaged}


@contextmanager
def serve(root: Path, home: Path, archive: Path):
    """`streamlit run dashboard/app.py` over ``home`` on a free local port, for the block; its jobs stopped after."""
    port = free_port()
    env = {**os.environ, "RNNLAB_HOME": str(home), "RNNLAB_IMDB": str(archive), "NLTK_DATA": nltk_data()}
    log = open(root / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start: {(root / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield {"url": url, "home": home}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
        for run in RunStore(home / "runs").list():  # jobs run in their own process groups
            if run.summary()["status"] in ("queued", "running"):  # a damaged run has no process we trust
                terminate(run.process())  # only the run's own process: its pid *and* start time must match


@contextmanager
def chromium_page(timeout_ms: int = 30_000):
    """A page of a headless Chromium (Debian's, at CHROMIUM), closed after the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                                      "--disable-background-networking"])
        pg = browser.new_page(viewport={"width": WIDTH, "height": 900})
        pg.set_default_timeout(timeout_ms)
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def page(app):
    with chromium_page() as pg:
        yield pg


def settle(pg, quiet_s: float = 0.6, timeout: float = 30.0) -> None:
    """Wait until the script has finished running (no "running" widget) for ``quiet_s`` seconds."""
    pg.wait_for_selector('[data-testid="stMain"]')
    deadline, quiet_since = time.time() + timeout, None
    while time.time() < deadline:
        busy = pg.locator('[data-testid="stStatusWidget"]').count() > 0 or \
            pg.locator('[data-testid="stSkeleton"]').count() > 0
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= quiet_s:
            return
        time.sleep(0.2)


def no_error_box(pg, where: str) -> None:
    boxes = pg.locator('[data-testid="stException"]')
    assert boxes.count() == 0, f"{where}: {boxes.first.inner_text()[:1000]}"


def shoot(pg, name: str, docs: bool = False) -> None:
    """A screenshot of the whole page (Streamlit scrolls inside its main block, so grow the window to fit)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = pg.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    pg.set_viewport_size({"width": WIDTH, "height": min(int(height) + 20, 5000)})
    time.sleep(0.6)  # charts resize to the new window
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path))
    pg.set_viewport_size({"width": WIDTH, "height": 900})
    if docs and os.environ.get("RNNLAB_DOCS_SCREENSHOTS") == "1":
        from PIL import Image

        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        img = Image.open(path).convert("RGB")
        img = img.resize((img.width * 2 // 3, img.height * 2 // 3), Image.LANCZOS)
        # 256 colours by octree keep every chart colour and make the file ~5x smaller
        img.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(DOCS_SHOTS / f"{name}.png", optimize=True)


def assert_drawn(pg, runs) -> None:
    """Each run is in a chart legend on the page (legends end with the run id's suffix)."""
    legend = " ".join(pg.locator(".legendtext").evaluate_all("els => els.map(e => e.textContent)"))
    for run in runs:
        assert run.id.rsplit("-", 1)[-1] in legend, (run.id, legend)


def goto(pg, app, path: str) -> None:
    pg.goto(f"{app['url']}/{path}")
    settle(pg)


def test_every_page_opens_without_an_error_and_three_models_train_from_the_browser(app, page):
    # -- every page in the navigation opens cleanly ------------------------------------------------------
    goto(page, app, "")
    assert page.get_by_text("IMDB found").count() == 1
    no_error_box(page, "overview")
    links = page.locator('[data-testid="stSidebarNav"] a')
    paths = sorted({urlparse(links.nth(i).get_attribute("href")).path.strip("/") for i in range(links.count())})
    assert {"data", "train", "compare"} <= set(paths)
    for path in paths:
        goto(page, app, path)
        no_error_box(page, path)
        if path not in ("train", "compare"):
            shoot(page, path or "overview")
    goto(page, app, "")
    shoot(page, "overview")

    # -- train the three models ----------------------------------------------------------------------------
    goto(page, app, "train")
    for label, value in (("epochs", "1"), ("hidden size", "8"), ("embedding dim", "8"), ("batch size", "4"),
                         ("val size", "2")):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Started 3 runs").wait_for()
    store = RunStore(app["home"] / "runs")
    deadline = time.time() + TRAIN_TIMEOUT_S
    shot_while_training = False
    while time.time() < deadline:
        states = [r.status().get("state") for r in store.list()]
        if not shot_while_training and "running" in states and page.get_by_text("epoch 1 of 1").count():
            shoot(page, "train_running")
            shot_while_training = True
        if len(states) == 3 and all(s in ("finished", "failed", "crashed", "cancelled") for s in states):
            break
        time.sleep(0.5)
    runs = store.list()
    assert [r.status()["state"] for r in runs] == ["finished"] * 3, [r.status() for r in runs]
    assert sorted(r.config().model.cell for r in runs) == ["gru", "lstm", "rnn"]
    assert all(r.config().model.hidden_size == 8 and r.config().train.epochs == 1 for r in runs)
    # each in its own process, one after the other in the order they were launched
    sts = [r.status() for r in reversed(runs)]  # oldest first
    assert len({s["process"]["pid"] for s in sts}) == 3 and os.getpid() not in {s["process"]["pid"] for s in sts}
    assert all(a["finished"] <= b["started"] for a, b in pairwise(sts))
    page.get_by_text("Finished: test accuracy").first.wait_for(timeout=30_000)  # the page saw it end
    settle(page)
    no_error_box(page, "train after training")
    shoot(page, "train_tiny")

    # -- and compare them ----------------------------------------------------------------------------------------
    goto(page, app, "compare")
    no_error_box(page, "compare")
    # runs this small often answer one class for every review: degenerate, so not drawn until asked for
    # (the toggle comes first; a note under it names it too when every run is degenerate)
    page.get_by_text("Show hidden, failed and degenerate runs", exact=True).first.click()
    settle(page)
    page.get_by_text("ROC curves (test split)").wait_for()
    assert_drawn(page, runs)
    shoot(page, "compare_tiny")

    # -- every chart exports its data (CSV) and its picture (PNG) ------------------------------------------------
    with page.expect_download() as csv:
        page.get_by_role("button", name=re.compile(r"CSV$")).last.click()  # the ROC curves' (clear of the header)
    assert Path(csv.value.path()).read_text().startswith("trace,x,y")
    with page.expect_download(timeout=60_000) as png:  # the first PNG starts kaleido's browser
        page.get_by_role("button", name=re.compile(r"PNG$")).last.click()
    assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_page_opens_without_an_error_beside_damaged_runs(damaged_app, page):
    goto(page, damaged_app, "")
    page.get_by_text("damaged and cannot be opened").first.wait_for()  # the notice, at the end of the page
    no_error_box(page, "overview (damaged runs)")
    links = page.locator('[data-testid="stSidebarNav"] a')
    paths = sorted({urlparse(links.nth(i).get_attribute("href")).path.strip("/") for i in range(links.count())})
    assert {"train", "compare", "gradients", "gates"} <= set(paths)
    for path in paths:
        goto(page, damaged_app, path)
        if path in ("train", "compare", "gradients", "classify", "gates", "hmm", "embeddings", "report"):
            page.get_by_text("damaged and cannot be opened").first.wait_for()
            settle(page)
        no_error_box(page, f"{path} (damaged runs)")
    shoot(page, "compare_damaged")
