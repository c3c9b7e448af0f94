"""core.figures.gradients: gradients through time, per parameter group, exploding, and the memory horizon,
on small synthetic arrays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from rnnlab.core.figures import gradients
from rnnlab.core.figures.style import CELL_COLOURS, figure_data


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
    fig = gradients.gradient_heatmap(values, [0, 1][:len(values)])
    assert is_empty(fig)
    if values.size and not np.isnan(values).any():
        assert "underflowed" in fig.layout.annotations[0].text


def test_gradient_heatmap_names_white_and_draws_underflow_in_a_colour_of_its_own():
    values = np.array([[1.0, 0.0, np.nan], [0.5, 0.01, 0.0]])  # NaN: beyond the review; 0: underflow
    fig = gradients.gradient_heatmap(values, ["#0 · T=2", "#1 · T=3"], row_title="probe review",
                                     blank="beyond the review's length")
    main, under = fig.data
    assert np.isnan(np.asarray(main.z, dtype=float)[0, 1])  # 0 has no log10: not on the colour scale
    assert_allclose(np.asarray(under.z, dtype=float), [[np.nan, 1, np.nan], [np.nan, np.nan, 1]])
    assert under.name == "underflow (exactly 0)" and under.colorscale[0][1] == gradients.UNDERFLOW_COLOUR
    assert under.showscale is False and "exactly 0" in under.hovertemplate
    note = fig.layout.annotations[0].text
    assert "white: beyond the review's length" in note and "grey: underflow" in note


def test_gradient_heatmap_says_nothing_about_white_or_grey_when_there_is_none():
    fig = gradients.gradient_heatmap(np.array([[1.0, 0.5]]), [0])
    assert len(fig.data) == 1 and not fig.layout.annotations


def test_gradient_heatmap_rows_start_at_the_data_and_share_a_given_colour_scale():
    fig = gradients.gradient_heatmap(np.array([[1.0, 0.1]] * 3), [0, 20, 40], zrange=(-8.0, 1.0))
    assert tuple(fig.layout.yaxis.range) == (-0.5, 2.5) and fig.layout.yaxis.type == "category"
    assert tuple(fig.layout.xaxis.range) == (-0.5, 1.5)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-8.0, 1.0)


def test_probe_rows_spread_the_chosen_reviews_over_their_lengths_longest_last():
    lengths = [5, 2, 9, 7, 3]
    dh = np.arange(5 * 9, dtype=float).reshape(5, 9)
    rows, names = gradients.probe_rows(dh, lengths, 3)
    assert names == ["#1 · T=2", "#0 · T=5", "#2 · T=9"]  # shortest, middle, longest
    assert_allclose(rows, dh[[1, 0, 2]])
    every, names = gradients.probe_rows(dh, lengths, 50)  # more than the probe holds: all of them
    assert len(names) == 5 and names[-1] == "#2 · T=9"
    assert gradients.probe_rows(dh, lengths, 0)[1] == []


def test_decay_lines_use_a_log_axis_cell_colours_and_optional_normalisation():
    curves = {"a": np.array([2.0, 1.0, 0.5]), "b": np.array([4.0, 4.0, 0.0])}
    fig = gradients.decay_lines(curves, cells={"a": "rnn", "b": "gru"}, normalise=True)
    assert fig.layout.yaxis.type == "log"
    assert [tr.line.color for tr in fig.data] == [CELL_COLOURS["rnn"], CELL_COLOURS["gru"]]
    assert_allclose(np.asarray(fig.data[0].y, dtype=float), [1.0, 0.5, 0.25])
    assert np.isnan(np.asarray(fig.data[1].y, dtype=float)[2])  # zero cannot sit on a log axis


def test_decay_lines_without_finite_curves_is_an_empty_figure():
    assert is_empty(gradients.decay_lines({"a": np.array([np.nan, np.nan])}))


def test_jacobian_product_lines_draw_the_products_norm_solid_and_the_bound_dashed_in_one_colour():
    k = np.arange(5.0)
    curves = {"lstm run": (0.5 ** k, 3.0 ** k), "rnn run": (None, 2.0 ** k)}  # the RNN's file holds the bound alone
    fig = gradients.jacobian_product_lines(curves, cells={"lstm run": "lstm", "rnn run": "rnn"}, norm="spectral")
    assert [(tr.name, tr.line.dash) for tr in fig.data] == [
        (f"lstm run: {gradients.PRODUCT_NORM}", "solid"), (f"lstm run: {gradients.PRODUCT_BOUND}", "dash"),
        (f"rnn run: {gradients.PRODUCT_BOUND}", "dash")]
    assert [tr.line.color for tr in fig.data] == [CELL_COLOURS["lstm"]] * 2 + [CELL_COLOURS["rnn"]]
    assert fig.data[0].legendgroup == fig.data[1].legendgroup == "lstm run"
    assert [tr.showlegend for tr in fig.data] == [True, False, True]  # one entry per run; the title says the dashes
    assert_allclose(np.asarray(fig.data[0].y, dtype=float), 0.5 ** k)
    assert_allclose(np.asarray(fig.data[1].y, dtype=float), 3.0 ** k)
    assert fig.layout.yaxis.type == "log" and "spectral norm" in fig.layout.yaxis.title.text
    title = fig.layout.title.text.replace("<br>", " ")
    assert "Jacobian product" in title and "bound" in title
    assert "Frobenius" in gradients.jacobian_product_lines(curves, norm="frobenius").layout.yaxis.title.text
    assert is_empty(gradients.jacobian_product_lines({"a": (np.array([np.nan]), np.array([np.nan]))}))
    assert is_empty(gradients.jacobian_product_lines({}))


def test_jacobian_product_text_says_in_numbers_how_far_the_bound_lies_above_the_product():
    k = np.arange(4.0)
    lines = gradients.jacobian_product_text({
        "lstm": (np.array([1.0, 0.9, 0.2, 0.05]), 40.0 ** k),  # k = 0 (the identity) is left out
        "gru": (np.array([1.0, 0.5, 0.4, 0.3]), np.array([1.0, 0.6, 0.45, 0.35])),
        "old": (None, 2.0 ** k),
        "huge": (np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1e30, np.inf, np.inf], dtype=np.float32))})
    assert lines[0] == ("**lstm**: the norm of the product stays between 0.05 and 0.9 (largest at k = 1); "
                        "the bound reaches 64,000 (71,111 times as much).")
    assert lines[1] == "**gru**: the norm of the product stays between 0.3 and 0.5 (largest at k = 1); the bound " \
                       "reaches 0.6."  # within 10 times: no ratio
    assert lines[2] == "**old**: only the bound was recorded (up to 8)."
    assert "the bound reaches beyond 3.4e+38" in lines[3] and "times" not in lines[3]


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


def explosion_run(**overrides) -> dict:
    run = {"name": "explode-exploding", "steps": 300, "skipped_non_finite": 0, "first_non_finite_step": None,
           "clipped": 0, "grad_norm_first": 4.0, "grad_norm_max": 4.9e7, "clip_norm": None}
    return {**run, **overrides}


def test_explosion_text_says_no_step_was_lost_when_none_was():
    (line,) = gradients.explosion_text([explosion_run()])
    assert "4.9e+07" in line and "all 300 steps had a finite gradient: none was lost" in line
    assert "skipped" not in line and "lost)" not in line and "no clipping" in line


def test_explosion_text_counts_the_lost_steps_when_some_were():
    (line,) = gradients.explosion_text([explosion_run(skipped_non_finite=12, first_non_finite_step=40)])
    assert "12 of 300 steps had a non-finite loss or gradient and were skipped (lost), the first at step 40" in line
    assert "none was lost" not in line


def test_explosion_text_says_the_clipped_runs_curve_is_before_clipping():
    clipped, untouched = gradients.explosion_text([
        explosion_run(name="explode-clipped", clip_norm=1.0, clipped=297, grad_norm_max=85.0),
        explosion_run(name="explode-reference", clip_norm=1.0, clipped=0, grad_norm_max=0.6, grad_norm_first=0.5)])
    assert "clipping at 1 cut 297 of 300 steps" in clipped and "before clipping" in clipped
    assert "peaked at 85" in clipped
    assert "cut 0 of 300 steps" in untouched and "before clipping" not in untouched
    assert "times its first" not in untouched  # 0.6 against 0.5 is no rise worth a sentence


def test_explosion_text_of_a_run_without_steps_says_so():
    assert gradients.explosion_text([explosion_run(steps=0)]) == ["**explode-exploding**: no optimiser step recorded "
                                                                  "yet."]


def test_eigenvalue_charts_place_each_lambda_by_modulus_and_phase_and_its_time_scale():
    from rnnlab.core.figures import gradients as fg

    moduli = np.array([[0.9, 0.99, 0.5], [0.95, 0.999, 0.5]])
    phases = np.array([[0.0, np.pi / 2, -np.pi / 2], [0.1, np.pi / 2, np.pi]])
    np.testing.assert_allclose(fg.time_scales(moduli[1]), [20.0, 1000.0, 2.0])
    plane = fg.eigenvalue_plane(moduli, phases, [0, 40])
    start, end = plane.data[1], plane.data[2]
    np.testing.assert_allclose(np.hypot(start.x, start.y), moduli[0])
    np.testing.assert_allclose(np.arctan2(end.y, end.x), phases[1])
    assert end.name == "step 40" and start.name == "initialisation (step 0)"
    scales = fg.eigenvalue_timescales(moduli, [0, 40])
    data = figure_data(scales)
    np.testing.assert_allclose(data[data["trace"] == "median"]["y"], [10.0, 20.0])
    assert scales.layout.yaxis.type == "log"
    assert fg.eigenvalue_text(moduli, [0, 40]).endswith("at step 40, from 2 to 1,000 steps (median 20).")
    assert fg.eigenvalue_plane(np.zeros((0, 3)), np.zeros((0, 3)), []).layout.annotations  # says why it is blank
