"""Every chart exports SVG: the dashboard's download (``figure_svg``, a button by each chart) and the report's files.

Rendering needs kaleido and a Chromium (Debian's /usr/bin/chromium here and in CI); where kaleido cannot
render, the tests that need a picture are skipped with the reason, the others still run.
"""

from __future__ import annotations

import functools
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from rnnlab.core.report import experiment
from rnnlab.dashboard import state

PAGES = Path(__file__).resolve().parent.parent / "pages"
SVG_TAG = "{http://www.w3.org/2000/svg}svg"


def small_figure() -> go.Figure:
    fig = go.Figure(go.Bar(x=["rnn", "lstm", "gru"], y=[0.71, 0.86, 0.87], name="accuracy"))
    fig.update_layout(title="Test accuracy", height=300)
    return fig


@functools.cache
def kaleido_problem() -> str | None:
    """Why kaleido cannot render here (None when it can)."""
    try:
        small_figure().to_image(format="svg", width=200, height=150)
    except Exception as e:  # no kaleido, no Chromium, a Chromium that will not start
        return f"{type(e).__name__}: {e}"
    return None


@pytest.fixture
def renders():
    why = kaleido_problem()
    if why:
        warnings.warn(f"kaleido cannot render figures here, SVG/PNG rendering untested: {why}", stacklevel=1)
        pytest.skip(f"KALEIDO CANNOT RENDER (needs Chromium, e.g. Debian's /usr/bin/chromium): {why}")


def parse_svg(data: bytes) -> ET.Element:
    head = data.lstrip()[:5]
    assert head.startswith(b"<svg") or head.startswith(b"<?xml"), data[:80]
    root = ET.fromstring(data)
    assert root.tag == SVG_TAG
    return root


# -- the dashboard's export ---------------------------------------------------------------------------------------
def test_figure_svg_returns_an_svg_document_of_the_figure(renders):
    data = state.figure_svg(small_figure())
    root = parse_svg(data)
    assert root.get("width") == "1100" and root.get("height") == "300"  # the figure's own height
    assert b"Test accuracy" in data and b"lstm" in data


def test_figure_png_still_returns_a_png(renders):
    assert state.figure_png(small_figure()).startswith(b"\x89PNG\r\n\x1a\n")


def download_labels(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


@pytest.mark.parametrize("page", ["theory.py"])
def test_every_chart_on_a_page_has_csv_png_and_svg_downloads(monkeypatch, page):
    monkeypatch.setattr(state, "png_export_available", lambda: True)  # the buttons, whatever is installed
    at = AppTest.from_file(str(PAGES / page), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    n = len(at.get("plotly_chart"))
    labels = download_labels(at)
    assert n >= 1 and labels.count("CSV") == n and labels.count("PNG") == n and labels.count("SVG") == n
    svg = [b for b in at.get("download_button") if b.proto.label == "SVG"]
    assert all(b.key.startswith("svg.") for b in svg)


def test_the_image_buttons_appear_only_where_kaleido_can_run(monkeypatch):
    monkeypatch.setattr(state, "png_export_available", lambda: False)
    at = AppTest.from_file(str(PAGES / "theory.py"), default_timeout=60).run()
    assert not at.exception
    labels = download_labels(at)
    assert "SVG" not in labels and "PNG" not in labels and labels.count("CSV") == len(at.get("plotly_chart"))


def test_the_svg_button_is_offered_here_when_kaleido_renders(renders):
    assert state.png_export_available()
    at = AppTest.from_file(str(PAGES / "theory.py"), default_timeout=60).run()
    assert not at.exception
    assert download_labels(at).count("SVG") == len(at.get("plotly_chart"))


def test_no_page_draws_a_chart_without_the_shared_exports():
    """A page drawing ``st.plotly_chart`` itself would lose the PNG and SVG downloads: every chart goes through
    ``dashboard.state.show_chart``."""
    offenders = [p.name for p in PAGES.glob("*.py") if "plotly_chart(" in p.read_text(encoding="utf-8")]
    assert offenders == []


# -- the seed report ---------------------------------------------------------------------------------------------
def test_the_report_writes_an_svg_beside_each_png(tmp_path, renders):
    name = experiment._png(small_figure(), tmp_path / "test_metrics.png")
    assert name == "test_metrics.png"
    assert (tmp_path / "test_metrics.png").read_bytes().startswith(b"\x89PNG")
    parse_svg((tmp_path / "test_metrics.svg").read_bytes())


class Unrenderable:
    """A figure whose rendering fails for the formats in ``fail`` (a missing or broken browser)."""

    def __init__(self, fail: tuple[str, ...]):
        self.fail = fail

    def to_image(self, format=None, **kw):  # noqa: A002 - plotly's own argument name
        if format in self.fail:
            raise RuntimeError("no Chromium")
        return b"<svg xmlns='http://www.w3.org/2000/svg'/>" if format == "svg" else b"\x89PNG\r\n\x1a\n"


def test_a_missing_browser_leaves_the_report_usable_without_either_picture(tmp_path):
    why = experiment._png(Unrenderable(("png", "svg")), tmp_path / "fig.png")
    assert why == "(figure not rendered: kaleido could not render it (RuntimeError: no Chromium))"
    assert list(tmp_path.iterdir()) == []


def test_an_svg_that_fails_alone_costs_only_the_svg(tmp_path):
    assert experiment._png(Unrenderable(("svg",)), tmp_path / "fig.png") == "fig.png"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
