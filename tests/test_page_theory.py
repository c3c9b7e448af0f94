"""pages/theory.py under streamlit's AppTest: it runs, draws its charts and follows its widgets."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "theory.py")


@pytest.fixture
def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly specs by figure title."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[spec["layout"]["title"]["text"]] = spec
    return out


def values(array: list | dict) -> np.ndarray:
    """A trace array from a Plotly spec: a list, or plotly's ``{"dtype", "bdata"}`` base64 encoding."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array, dtype=float)


def product_trace(at: AppTest) -> np.ndarray:
    spec = next(s for title, s in charts(at).items() if title.startswith("|∂h_T"))
    return values(spec["data"][0]["y"])


def test_theory_page_runs_with_its_charts_and_csv_downloads(page):
    assert len(page.get("plotly_chart")) == 5
    assert sum(b.proto.label == "CSV" for b in page.get("download_button")) == 5
    assert any("converges" in s.value for s in page.success)
    assert len(page.get("latex")) > 0
    # every cell's equations, the modern ones with the decay that carries their gradient back
    latex = " ".join(e.proto.body for e in page.get("latex"))
    assert all(eq in latex for eq in (r"c_t = f_t \odot c_{t-1}", r"\operatorname{diag}(1 - z_t)",
                                      r"\operatorname{diag}(f'_t)", r"\operatorname{diag}(\lambda^k)"))
    assert set(page.dataframe[0].value["cell"]) == {"RNN (tanh)", "LSTM", "GRU", "minGRU", "minLSTM", "LRU"}


def test_sequence_length_slider_changes_the_gradient_product_chart(page):
    before = product_trace(page)
    page.slider(key="theory_steps").set_value(120).run()
    assert not page.exception
    after = product_trace(page)
    assert len(before) == 51 and len(after) == 121


def test_weight_slider_moves_the_product_from_vanishing_to_exploding(page):
    assert product_trace(page)[-1] < 1  # |w| = 1, σ'(0) = 1/4
    page.radio(key="theory_activation").set_value("tanh")
    page.slider(key="theory_weight").set_value(2.0).run()
    assert not page.exception
    assert product_trace(page)[-1] > 1
    assert any(m.value == "exploding" for m in page.metric)


def test_layers_input_changes_the_parameter_table(page):
    before = page.dataframe[0].value["pytorch_actual"].tolist()
    page.number_input(key="theory_layers").set_value(2).run()
    assert not page.exception
    after = page.dataframe[0].value["pytorch_actual"].tolist()
    assert all(a > b for a, b in zip(after, before, strict=True))


def test_states_input_resizes_the_markov_chain(page):
    page.number_input(key="theory_states").set_value(5).run()
    assert not page.exception and not page.warning  # the default chain of any size is already stochastic
    spec = next(s for title, s in charts(page).items() if title.startswith("State distribution"))
    assert len(spec["data"]) == 10  # π_t and the dashed stationary line per state


def product_metric(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label.startswith("Product over T"))


def test_the_product_is_written_in_scientific_notation_never_as_a_fractional_power(page):
    assert product_metric(page) == "7.9e-31"  # (1/4)^50 = 10^-30.1
    page.slider(key="theory_steps").set_value(200).run()
    assert product_metric(page) == "3.9e-121"
    page.slider(key="theory_weight").set_value(0.1).run()  # (0.1/4)^200 = 10^-320.4: beyond float64, still written
    assert product_metric(page) == "3.9e-321"
    assert not any("10^" in str(m.value) for m in page.metric)
