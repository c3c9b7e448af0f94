"""Pictures of charts without a Chrome on the server: Plotly's camera button saves an SVG in the browser, and where
kaleido has no Chrome the page and the seed report say so in one plain line with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import kaleido
import plotly.graph_objects as go
import pytest
from kaleido.errors import BrowserFailedError, ChromeNotFoundError
from streamlit.testing.v1 import AppTest

from rnnlab.core.figures import static
from rnnlab.core.report import experiment
from rnnlab.dashboard import state

PAGES = Path(__file__).resolve().parent.parent / "pages"


def small_figure() -> go.Figure:
    return go.Figure(go.Bar(x=["rnn", "lstm"], y=[0.7, 0.86]), layout={"title": "Test accuracy", "height": 300})


def open_theory() -> AppTest:
    at = AppTest.from_file(str(PAGES / "theory.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at: AppTest) -> list[str]:
    return [str(c.value) for c in at.caption]


def test_every_chart_asks_plotly_for_an_svg_named_after_the_chart():
    at = open_theory()
    configs = [json.loads(c.proto.config) for c in at.get("plotly_chart")]
    assert len(configs) >= 2
    names = [c["toImageButtonOptions"]["filename"] for c in configs]
    assert all(c["toImageButtonOptions"]["format"] == "svg" for c in configs)
    assert len(set(names)) == len(names) and all(n.startswith("theory_") for n in names)
    csv = {b.key.removeprefix("csv.") for b in at.get("download_button") if b.proto.label == "CSV"}
    assert set(names) == csv  # one SVG per chart, named as the page names it (its key here)


def test_without_a_chrome_the_page_points_to_the_camera_and_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(static, "find_chrome", lambda: None)
    at = open_theory()
    labels = [b.proto.label for b in at.get("download_button")]
    assert "PNG" not in labels and "SVG" not in labels and labels.count("CSV") == len(at.get("plotly_chart"))
    said = [c for c in captions(at) if "camera icon" in c]
    assert len(said) == len(at.get("plotly_chart"))
    assert all("saves it as an SVG" in c and "kaleido's Chrome" in c and "plotly_get_chrome" in c for c in said)


def test_with_a_chrome_the_server_side_buttons_come_back_and_the_line_goes(monkeypatch, tmp_path):
    monkeypatch.setattr(static, "find_chrome", lambda: str(tmp_path / "chrome"))
    at = open_theory()
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels.count("PNG") == labels.count("SVG") == len(at.get("plotly_chart"))
    assert not [c for c in captions(at) if "camera icon" in c]


def test_a_browser_path_to_nothing_is_no_chrome(monkeypatch, tmp_path):
    from choreographer.browsers import Chromium

    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chrome"))
    if Chromium.find_browser(skip_local=False) != str(tmp_path / "no-chrome"):
        pytest.skip("kaleido's own Chrome download is installed here, and kaleido takes it before BROWSER_PATH")
    assert static.find_chrome() is None
    assert static.unavailable() == static.NO_CHROME and not state.png_export_available()
    (tmp_path / "no-chrome").write_text("")  # a file there: kaleido would try it
    assert static.find_chrome() == str(tmp_path / "no-chrome") and static.unavailable() is None


def test_without_kaleido_the_line_says_to_install_it(monkeypatch):
    real = static.importlib.util.find_spec
    monkeypatch.setattr(static.importlib.util, "find_spec", lambda name, *a: None if name == "kaleido" else
                        real(name, *a))
    assert static.unavailable() == static.NO_KALEIDO and 'pip install "kaleido>=1"' in static.NO_KALEIDO


@pytest.fixture
def kaleido_raises(monkeypatch):
    """kaleido's renderer raising ``error``, as it does on a machine without (or with a broken) Chrome."""

    def set_error(error: Exception) -> None:
        def render(*a, **k):
            raise error

        monkeypatch.setattr(kaleido, "calc_fig_sync", render)

    return set_error


def test_the_report_names_the_missing_chrome_and_the_fix_instead_of_an_exception(tmp_path, kaleido_raises):
    kaleido_raises(ChromeNotFoundError("Kaleido v1 and later requires Chrome to be installed."))
    with pytest.raises(RuntimeError, match="plotly_get_chrome"):  # what Plotly makes of it
        small_figure().to_image(format="png")
    why = experiment._png(small_figure(), tmp_path / "fig.png")
    assert why == f"(figure not rendered: {static.NO_CHROME})"
    assert "plotly_get_chrome" in why and "get_chrome_sync" in why and "RuntimeError" not in why
    line = experiment._figure("test metrics", why)
    assert "\n" not in line and line.endswith("the CSV beside this report holds its data.*")
    assert list(tmp_path.iterdir()) == []


def test_a_chrome_that_will_not_start_is_named_with_its_first_line(tmp_path, kaleido_raises):
    kaleido_raises(BrowserFailedError("The browser seemed to close immediately after starting.\nlogs: ..."))
    why = experiment._png(small_figure(), tmp_path / "fig.png")
    assert why == ("(figure not rendered: kaleido could not render it (BrowserFailedError: The browser seemed to "
                   "close immediately after starting.))")
    assert static.problem_line(ChromeNotFoundError("Browser not found.")) == static.NO_CHROME  # kaleido's own error
