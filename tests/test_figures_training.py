"""core.figures.training: one run's loss, accuracy and gradient-norm curves per optimiser step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from rnnlab.core.figures import training
from rnnlab.core.figures.style import figure_data


def by_name(fig: go.Figure, name: str):
    [tr] = [t for t in fig.data if t.name == name]
    return tr


def steps_frame(n: int = 120, clipped_every: int = 10) -> pd.DataFrame:
    step = np.arange(n)
    return pd.DataFrame({"step": step, "loss": 0.7 * np.exp(-step / 50) + 0.05, "grad_norm": 1 + (step % 7),
                         "clipped": step % clipped_every == 0, "accuracy": np.linspace(0.5, 0.9, n)})


def epochs_frame() -> pd.DataFrame:
    return pd.DataFrame({"epoch": [0, 1], "step": [60, 120], "train_loss": [0.6, 0.4], "val_loss": [0.65, 0.5],
                         "train_accuracy": [0.6, 0.8], "val_accuracy": [0.62, 0.75]})


def test_loss_curves_draw_every_step_smoothed_and_the_validation_loss_per_epoch():
    fig = training.loss_curves(steps_frame(), epochs_frame())
    raw, smooth, val = (by_name(fig, n) for n in ("batch loss", "batch loss (smoothed)", "validation loss"))
    assert len(raw.y) == len(smooth.y) == 120
    assert np.std(np.diff(smooth.y)) <= np.std(np.diff(raw.y))
    assert list(val.x) == [60, 120] and list(val.y) == [0.65, 0.5]


def test_accuracy_curves_say_why_they_are_empty_for_a_regression_task():
    steps = steps_frame().assign(accuracy=np.nan)
    fig = training.accuracy_curves(steps, None)
    assert not fig.data and "no accuracy" in fig.layout.annotations[0].text


def test_grad_norm_curve_marks_exactly_the_clipped_steps_and_the_threshold_on_a_log_axis():
    steps = steps_frame(clipped_every=10)
    fig = training.grad_norm_curve(steps, clip_norm=5.0)
    assert list(by_name(fig, "clipped").x) == list(range(0, 120, 10))
    assert set(by_name(fig, "clip threshold 5").y) == {5.0}
    assert fig.layout.yaxis.type == "log"


@pytest.mark.parametrize("build", [
    lambda: training.loss_curves(pd.DataFrame(columns=["step", "loss"]), None),
    lambda: training.grad_norm_curve(pd.DataFrame(columns=["step", "grad_norm"]), 5.0),
], ids=["loss", "grad_norm"])
def test_every_chart_says_there_is_nothing_yet_instead_of_failing(build):
    fig = build()
    assert not fig.data
    assert fig.layout.annotations and fig.layout.annotations[0].text.startswith("no ")
    assert figure_data(fig).empty
