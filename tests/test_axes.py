"""Log axes and small numbers: every log axis is labelled at powers of ten only (never "5 6 7 8 9 1" minor
labels that make 0.5 read as 5), and numbers too small, underflowed or missing are written so a reader
cannot misread them."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from rnnlab.core.figures import comparison, gradients, style, theory, training

ROOT = Path(__file__).resolve().parent.parent


def log_axes(fig: go.Figure) -> list:
    """Every axis of ``fig`` whose type is log."""
    layout = fig.layout
    return [layout[name] for name in layout if re.fullmatch(r"[xy]axis\d*", name) and layout[name].type == "log"]


def labelled_at_powers_of_ten(axis) -> bool:
    """Only whole decades ticked (a whole number of them apart, written as powers), or exactly the given values."""
    if axis.tickmode == "array":
        return axis.tickvals is not None and len(axis.tickvals) == len(axis.ticktext)
    return (axis.tickmode == "linear" and axis.tick0 == 0 and float(axis.dtick).is_integer() and axis.dtick >= 1
            and axis.exponentformat == "power")


# -- the helper ---------------------------------------------------------------------------------------------------
def test_log_axis_ticks_every_decade_written_as_a_power_and_no_minor_labels():
    fig = style.log_axis(go.Figure(go.Scatter(x=[0, 1, 2], y=[0.5, 5.0, 50.0])), "y")
    axis = fig.layout.yaxis
    assert axis.type == "log" and axis.dtick == 1 and axis.tick0 == 0 and axis.tickmode == "linear"
    assert axis.exponentformat == "power" and axis.showexponent == "all"
    assert fig.layout.xaxis.type is None  # the other axis is left alone


def test_log_axis_spaces_the_labels_by_whole_decades_when_the_values_span_many():
    few = style.log_axis(go.Figure(), "y", values=[1e-6, 1.0])
    many = style.log_axis(go.Figure(), "y", values=[1e-120, np.nan, 0.0, 1.0])  # NaN and 0 are ignored
    assert few.layout.yaxis.dtick == 1
    assert many.layout.yaxis.dtick == 10  # 120 decades: 13 labels, each a power of ten


def test_log_axis_can_label_exactly_the_measured_values():
    fig = style.log_axis(go.Figure(), "x", ticks=[10, 25, 100])
    axis = fig.layout.xaxis
    assert axis.type == "log" and axis.tickmode == "array"
    assert list(axis.tickvals) == [10, 25, 100] and list(axis.ticktext) == ["10", "25", "100"]


def test_log_axis_reaches_one_subplot_and_refuses_an_unknown_axis():
    from plotly.subplots import make_subplots

    fig = style.log_axis(make_subplots(rows=1, cols=2), "y", col=2)
    assert fig.layout.yaxis2.type == "log" and fig.layout.yaxis.type != "log"
    with pytest.raises(ValueError):
        style.log_axis(go.Figure(), "z")


# -- every builder's log axes go through it -----------------------------------------------------------------------
def steps_frame() -> pd.DataFrame:
    return pd.DataFrame({"step": [0, 1, 2], "grad_norm": [0.5, 40.0, 3e4], "clipped": [False, True, True],
                         "skipped": [False, False, False], "embedding": [0.1, 0.2, 0.3],
                         "input_hidden": [0.2, 5.0, 9.0], "hidden_hidden": [0.4, 30.0, 3e4], "output": [0.1, 1, 2]})


LOG_FIGURES = {
    "training.grad_norm_curve": lambda: training.grad_norm_curve(steps_frame(), clip_norm=1.0),
    "comparison.cost_bars": lambda: comparison.cost_bars(pd.DataFrame({"run": ["a", "b"], "cell": ["rnn", "hmm"],
                                                                       "train_time_s": [0.5, 300.0]})),
    "gradients.decay_lines": lambda: gradients.decay_lines({"rnn": np.array([1.0, 0.1, 1e-9])}),
    "gradients.group_norm_curves": lambda: gradients.group_norm_curves(steps_frame(), 1.0),
    "gradients.explosion_figure": lambda: gradients.explosion_figure({"a": steps_frame()}, {"a": 1.0}),
    "gradients.horizon_figure": lambda: gradients.horizon_figure(pd.DataFrame(
        {"cell": ["rnn", "rnn"], "seq_len": [10, 200], "metric": [0.1, 0.2], "success": [True, False]})),
    "theory.gradient_product_figure": lambda: theory.gradient_product_figure(
        theory.gradient_product_frame(1.0, 0.0, 200)),
}


@pytest.mark.parametrize("name", list(LOG_FIGURES))
def test_every_log_axis_of_every_builder_is_labelled_at_powers_of_ten(name):
    fig = LOG_FIGURES[name]()
    axes = log_axes(fig)
    assert axes, f"{name} draws no log axis"
    assert all(labelled_at_powers_of_ten(a) for a in axes), [a.to_plotly_json() for a in axes]


def test_no_figure_module_or_the_gradients_page_sets_a_log_axis_by_hand():
    files = [p for p in (ROOT / "core" / "figures").glob("*.py") if p.name != "style.py"]
    files.append(ROOT / "pages" / "gradients.py")
    by_hand = [f"{p.name}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
               if re.search(r"""type\s*=\s*["']log["']|["']type["']\s*:\s*["']log["']""", line)]
    assert not by_hand, f"log axes not set with style.log_axis: {by_hand}"


# -- numbers ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x, expected", [
    (1e-18, "1.0e-18"), (-3e-7, "-3.0e-07"), (0.00012, "0.00012"), (0.734, "0.73"), (0.5, "0.5"), (1.0, "1"),
    (12.3, "12"), (12345, "12,345"), (4.9e7, "4.9e+07"), (math.inf, "∞"), (None, "—"), (math.nan, "—"),
])
def test_format_number_writes_tiny_and_huge_numbers_in_scientific_notation(x, expected):
    assert style.format_number(x) == expected


def test_format_number_names_an_exact_zero_as_the_caller_says():
    assert style.format_number(0.0) == "0"
    assert style.format_number(0.0, zero="underflow") == "underflow"
    assert style.format_number(np.float32(0.0), zero="underflow") == "underflow"
    assert style.format_number(1e-18, 3) == "1.00e-18"


@pytest.mark.parametrize("log10, expected", [
    (-30.1, "7.9e-31"), (-500.0, "1.0e-500"), (-1.0, "0.1"), (0.0, "1"), (7.2, "1.6e+07"), (-math.inf, "0"),
    (math.nan, "—"), (-30.00001, "1.0e-30"),
])
def test_format_log10_writes_a_power_of_ten_without_fractional_exponents(log10, expected):
    assert style.format_log10(log10) == expected
