"""core.figures.gradients: gradients through time, per parameter group, exploding, and the memory horizon,
on small synthetic arrays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from core.figures import gradients
from core.figures.style import CELL_COLOURS, figure_data


def is_empty(fig) -> bool:
    return not fig.data and bool(fig.layout.annotations)


def test_gradient_heatmap_colours_by_log10_and_keeps_the_values_for_the_hover():
    values = np.array([[1.0, 0.1, 0.01], [2.0, 1.0, np.nan]])
    fig = gradients.gradient_heatmap(values, [0, 50])
    tr = fig.data[0]
    assert_allclose(np.asarray(tr.z, dtype=float), [[0, -1, -2], [math.log10(2), 0, np.nan]])
    assert_allclose(np.asarray(tr.customdata, dtype=float), values)
    assert list(tr.y) == ["0", "50"] and list(tr.x) == [0, 1, 2]


@pytest.mark.parametrize("values", [np.zeros((0, 4)), np.full((2, 3), np.nan), np.zeros((2, 3))])
def test_gradient_heatmap_without_a_usable_value_says_so(values):
    assert is_empty(gradients.gradient_heatmap(values, [0, 1][:len(values)]))


def test_decay_lines_use_a_log_axis_cell_colours_and_optional_normalisation():
    curves = {"a": np.array([2.0, 1.0, 0.5]), "b": np.array([4.0, 4.0, 0.0])}
    fig = gradients.decay_lines(curves, cells={"a": "rnn", "b": "gru"}, normalise=True)
    assert fig.layout.yaxis.type == "log"
    assert [tr.line.color for tr in fig.data] == [CELL_COLOURS["rnn"], CELL_COLOURS["gru"]]
    assert_allclose(np.asarray(fig.data[0].y, dtype=float), [1.0, 0.5, 0.25])
    assert np.isnan(np.asarray(fig.data[1].y, dtype=float)[2])  # zero cannot sit on a log axis


def test_decay_lines_without_finite_curves_is_an_empty_figure():
    assert is_empty(gradients.decay_lines({"a": np.array([np.nan, np.nan])}))


@pytest.mark.parametrize("moment, expected", [(0.0, 0), (1.0, 4), (0.5, 2), (-3, 0), (7, 4)])
def test_recording_index_maps_training_progress_to_a_recording(moment, expected):
    assert gradients.recording_index([0, 10, 20, 30, 40], moment) == expected


def step_records():
    return [
        {"kind": "step", "step": 0, "grad_norm": 1.0, "clipped": False, "skipped": False,
         "norms": {"embedding": 0.1, "input_hidden": 0.5, "hidden_hidden": 0.8, "output": 0.2}},
        {"kind": "step", "step": 1, "grad_norm": 9.0, "clipped": True, "skipped": False,
         "norms": {"embedding": 0.1, "input_hidden": 3.0, "hidden_hidden": 8.0, "output": 0.2}},
        {"kind": "step", "step": 2, "grad_norm": None, "clipped": False, "skipped": True},
        {"kind": "epoch", "epoch": 0, "step": 3, "val_loss": 0.5},
    ]


def test_step_norms_frame_flattens_the_per_group_norms_and_drops_epoch_records():
    frame = gradients.step_norms_frame(step_records())
    assert list(frame["step"]) == [0, 1, 2]
    assert_allclose(frame["hidden_hidden"], [0.8, 8.0, np.nan])
    assert list(frame["clipped"]) == [False, True, False] and list(frame["skipped"]) == [False, False, True]


def test_group_norm_curves_draw_each_group_the_clip_threshold_and_the_clipped_and_skipped_steps():
    fig = gradients.group_norm_curves(gradients.step_norms_frame(step_records()), clip_norm=5.0)
    names = [tr.name for tr in fig.data]
    assert {"embedding", "input-hidden", "hidden-hidden", "output", "global (before clipping)"} <= set(names)
    assert "clipped (1)" in names and "skipped, non-finite (1)" in names
    clip = fig.data[names.index("clip threshold 5")]
    assert list(clip.y) == [5.0, 5.0] and list(clip.x) == [0, 2]
    assert fig.layout.yaxis.type == "log"
    exported = figure_data(fig)  # the threshold travels with the CSV
    assert (exported["trace"] == "clip threshold 5").sum() == 2


def test_group_norm_curves_without_steps_is_an_empty_figure():
    assert is_empty(gradients.group_norm_curves(gradients.step_norms_frame([])))


def test_explosion_figure_overlays_runs_with_their_own_thresholds():
    frame = gradients.step_norms_frame(step_records())
    fig = gradients.explosion_figure({"no clip": frame, "clip 1": frame}, {"no clip": None, "clip 1": 1.0})
    names = [tr.name for tr in fig.data]
    assert names.count("clip 1: clip 1") == 1 and not any(n.startswith("no clip: clip") for n in names)
    assert "no clip: non-finite steps" in names


def test_horizon_figure_fills_solved_points_and_leaves_failed_ones_hollow():
    table = pd.DataFrame({"cell": ["rnn", "rnn", "lstm", "lstm"], "seq_len": [10, 100, 10, 100],
                          "metric": [0.01, 0.16, 0.01, 0.02], "success": [True, False, True, True]})
    fig = gradients.horizon_figure(table, threshold=0.04, higher_is_better=False)
    rnn = next(tr for tr in fig.data if tr.name == "RNN")
    assert list(rnn.marker.color) == [CELL_COLOURS["rnn"], "white"]
    assert fig.layout.xaxis.type == "log"
    assert any(tr.name == "solved < 0.04" for tr in fig.data)
    assert is_empty(gradients.horizon_figure(table.iloc[0:0]))
