"""dashboard.inside: the figure and HTML builders of the Gradients, Gates, Classify, HMM and Embeddings pages,
on small synthetic arrays, without Streamlit."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from dashboard import inside
from dashboard.charts import CELL_COLOURS, figure_data


def is_empty(fig) -> bool:
    return not fig.data and bool(fig.layout.annotations)


# -- gradients ------------------------------------------------------------------------------------------------
def test_gradient_heatmap_colours_by_log10_and_keeps_the_values_for_the_hover():
    values = np.array([[1.0, 0.1, 0.01], [2.0, 1.0, np.nan]])
    fig = inside.gradient_heatmap(values, [0, 50])
    tr = fig.data[0]
    assert_allclose(np.asarray(tr.z, dtype=float), [[0, -1, -2], [math.log10(2), 0, np.nan]])
    assert_allclose(np.asarray(tr.customdata, dtype=float), values)
    assert list(tr.y) == ["0", "50"] and list(tr.x) == [0, 1, 2]


@pytest.mark.parametrize("values", [np.zeros((0, 4)), np.full((2, 3), np.nan), np.zeros((2, 3))])
def test_gradient_heatmap_without_a_usable_value_says_so(values):
    assert is_empty(inside.gradient_heatmap(values, [0, 1][:len(values)]))


def test_decay_lines_use_a_log_axis_cell_colours_and_optional_normalisation():
    curves = {"a": np.array([2.0, 1.0, 0.5]), "b": np.array([4.0, 4.0, 0.0])}
    fig = inside.decay_lines(curves, cells={"a": "rnn", "b": "gru"}, normalise=True)
    assert fig.layout.yaxis.type == "log"
    assert [tr.line.color for tr in fig.data] == [CELL_COLOURS["rnn"], CELL_COLOURS["gru"]]
    assert_allclose(np.asarray(fig.data[0].y, dtype=float), [1.0, 0.5, 0.25])
    assert np.isnan(np.asarray(fig.data[1].y, dtype=float)[2])  # zero cannot sit on a log axis


def test_decay_lines_without_finite_curves_is_an_empty_figure():
    assert is_empty(inside.decay_lines({"a": np.array([np.nan, np.nan])}))


@pytest.mark.parametrize("moment, expected", [(0.0, 0), (1.0, 4), (0.5, 2), (-3, 0), (7, 4)])
def test_recording_index_maps_training_progress_to_a_recording(moment, expected):
    assert inside.recording_index([0, 10, 20, 30, 40], moment) == expected


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
    frame = inside.step_norms_frame(step_records())
    assert list(frame["step"]) == [0, 1, 2]
    assert_allclose(frame["hidden_hidden"], [0.8, 8.0, np.nan])
    assert list(frame["clipped"]) == [False, True, False] and list(frame["skipped"]) == [False, False, True]


def test_group_norm_curves_draw_each_group_the_clip_threshold_and_the_clipped_and_skipped_steps():
    fig = inside.group_norm_curves(inside.step_norms_frame(step_records()), clip_norm=5.0)
    names = [tr.name for tr in fig.data]
    assert {"embedding", "input-hidden", "hidden-hidden", "output", "global (before clipping)"} <= set(names)
    assert "clipped (1)" in names and "skipped, non-finite (1)" in names
    clip = fig.data[names.index("clip threshold 5")]
    assert list(clip.y) == [5.0, 5.0] and list(clip.x) == [0, 2]
    assert fig.layout.yaxis.type == "log"
    exported = figure_data(fig)  # the threshold travels with the CSV
    assert (exported["trace"] == "clip threshold 5").sum() == 2


def test_group_norm_curves_without_steps_is_an_empty_figure():
    assert is_empty(inside.group_norm_curves(inside.step_norms_frame([])))


def test_explosion_figure_overlays_runs_with_their_own_thresholds():
    frame = inside.step_norms_frame(step_records())
    fig = inside.explosion_figure({"no clip": frame, "clip 1": frame}, {"no clip": None, "clip 1": 1.0})
    names = [tr.name for tr in fig.data]
    assert names.count("clip 1: clip 1") == 1 and not any(n.startswith("no clip: clip") for n in names)
    assert "no clip: non-finite steps" in names


def test_horizon_figure_fills_solved_points_and_leaves_failed_ones_hollow():
    table = pd.DataFrame({"cell": ["rnn", "rnn", "lstm", "lstm"], "seq_len": [10, 100, 10, 100],
                          "metric": [0.01, 0.16, 0.01, 0.02], "success": [True, False, True, True]})
    fig = inside.horizon_figure(table, threshold=0.04, higher_is_better=False)
    rnn = next(tr for tr in fig.data if tr.name == "RNN")
    assert list(rnn.marker.color) == [CELL_COLOURS["rnn"], "white"]
    assert fig.layout.xaxis.type == "log"
    assert any(tr.name == "solved < 0.04" for tr in fig.data)
    assert is_empty(inside.horizon_figure(table.iloc[0:0]))


# -- gates ----------------------------------------------------------------------------------------------------
def test_gates_figure_has_a_heatmap_per_state_over_the_tokens_and_the_running_probability_under_it():
    tokens = ["great", "film", "great"]
    states = {"forget_gate": np.random.default_rng(0).random((3, 5)), "hidden": np.zeros((3, 5))}
    fig = inside.gates_figure(tokens, states, [0.4, 0.6, 0.9], max_units=4)
    heat = [tr for tr in fig.data if tr.type == "heatmap"]
    assert [tr.name for tr in heat] == ["forget_gate", "hidden"]
    assert np.asarray(heat[0].z).shape == (4, 3)  # units up (cut to 4), tokens across
    assert_allclose(np.asarray(heat[0].z), states["forget_gate"][:, :4].T)
    assert (heat[0].zmin, heat[0].zmax) == (0, 1) and (heat[1].zmin, heat[1].zmax) == (-1, 1)
    prob = next(tr for tr in fig.data if tr.name == "running P(positive)")
    assert_allclose(np.asarray(prob.y, dtype=float), [0.4, 0.6, 0.9])
    assert list(fig.layout.xaxis3.ticktext) == tokens  # repeated tokens keep their own positions


def test_gates_figure_of_nothing_is_empty():
    assert is_empty(inside.gates_figure([], {}, []))


def test_word_saliency_takes_the_largest_saliency_of_a_words_tokens():
    words = [SimpleNamespace(word="great!", fate="kept", positions=(0, 1)),
             SimpleNamespace(word="the", fate="stopword", positions=()),
             SimpleNamespace(word="film", fate="unknown", positions=(2,))]
    assert inside.word_saliency(words, [0.2, 0.7, 0.1]) == [("great!", "kept", pytest.approx(0.7)),
                                                            ("the", "stopword", None),
                                                            ("film", "unknown", pytest.approx(0.1))]


def test_saliency_html_escapes_text_shades_by_saliency_and_greys_what_the_model_did_not_read():
    out = inside.saliency_html([("<b>good</b>", "kept", 1.0), ("ok", "kept", 0.0), ("the", "stopword", None),
                                ("zzz", "unknown", 0.3)])
    assert "<b>good</b>" not in out and "&lt;b&gt;good&lt;/b&gt;" in out
    assert "rgba(255,127,14,0.93)" in out and "rgba(255,127,14,0.08)" in out
    assert "removed: stop word" in out and "line-through" in out
    assert "read as &lt;unk&gt;" in out


def test_tokens_html_marks_unknown_tokens_and_handles_no_tokens():
    out = inside.tokens_html(["good", "<script>"], [False, True])
    assert "&lt;script&gt;" in out and "<script>" not in out and out.count("line-through") == 1
    assert "no tokens" in inside.tokens_html([], [])


# -- classify -------------------------------------------------------------------------------------------------
def test_probability_bars_draw_one_bar_per_model_and_the_decision_boundary():
    res = pd.DataFrame({"run": ["lstm · a", "gmmhmm · b"], "model": ["lstm", "gmmhmm"], "probability": [0.9, 0.3]})
    fig = inside.probability_bars(res)
    assert list(fig.data[0].y) == ["lstm · a", "gmmhmm · b"] and list(fig.data[0].x) == [0.9, 0.3]
    assert fig.data[0].marker.color[0] == CELL_COLOURS["lstm"]
    assert list(fig.data[1].x) == [0.5, 0.5]


# -- hmm ------------------------------------------------------------------------------------------------------
def test_em_frame_and_curves_give_one_line_per_class_model():
    recs = [{"kind": "em", "class": c, "iteration": i, "log_likelihood": -10.0 + i, "log_likelihood_per_token":
             -1.0 + i / 10} for c in (0, 1) for i in range(3)] + [{"kind": "epoch"}]
    frame = inside.em_frame(recs)
    assert len(frame) == 6 and set(frame["model"]) == {"negative", "positive"}
    fig = inside.em_curves(frame)
    assert [tr.name for tr in fig.data] == ["negative model", "positive model"]
    assert list(fig.data[0].x) == [1, 2, 3]


def test_transition_heatmaps_and_stationary_bars_show_each_class_model():
    p = np.array([[0.9, 0.1], [0.5, 0.5]])
    fig = inside.transition_heatmaps({"negative": p, "positive": p.T / p.T.sum(1, keepdims=True)})
    assert len(fig.data) == 2 and list(fig.data[0].x) == ["s0", "s1"]
    assert_allclose(np.asarray(fig.data[0].z), p)
    bars = inside.stationary_bars({"negative": np.array([5 / 6, 1 / 6])})
    assert_allclose(np.asarray(bars.data[0].y, dtype=float), [5 / 6, 1 / 6])


def test_viterbi_html_colours_scored_tokens_by_state_and_greys_the_others():
    out = inside.viterbi_html(["good", "xyz", "film"], [1, 0], [True, False, True])
    assert 'title="state s1"' in out and 'title="state s0"' in out
    assert out.index("state s1") < out.index("no word vector") < out.index("state s0")
    assert inside.state_colour(1) in out


def test_cost_bars_use_a_log_axis_and_skip_runs_without_a_timing():
    table = pd.DataFrame({"run": ["a", "b"], "cell": ["lstm", "hmm"], "train_time_s": [12.0, None]})
    fig = inside.cost_bars(table)
    assert list(fig.data[0].x) == ["a"] and fig.layout.yaxis.type == "log"
    assert is_empty(inside.cost_bars(table.iloc[0:0]))


# -- word2vec -------------------------------------------------------------------------------------------------
def test_neighbour_bars_keep_the_order_nearest_on_top():
    fig = inside.neighbour_bars([("great", 0.9), ("fine", 0.5)], "good")
    assert list(fig.data[0].y) == ["great", "fine"] and fig.layout.yaxis.autorange == "reversed"
    assert "good" in fig.layout.title.text


def test_projection_figure_highlights_the_chosen_words():
    proj = {"words": ["good", "bad", "film"], "x": [1.0, -1.0, 0.0], "y": [0.0, 0.0, 1.0],
            "explained_variance_ratio": [0.6, 0.3]}
    fig = inside.projection_figure(proj, highlight=["bad"], labels=0)
    chosen = next(tr for tr in fig.data if tr.name == "chosen words")
    assert list(chosen.text) == ["bad"] and list(chosen.x) == [-1.0]
    others = next(tr for tr in fig.data if tr.name == "words")
    assert list(others.hovertext) == ["good", "film"] and list(others.text) == ["", ""]
    assert "60%" in fig.layout.xaxis.title.text
    assert is_empty(inside.projection_figure({"words": []}))


def test_loss_per_epoch_counts_epochs_from_one():
    fig = inside.loss_per_epoch([3.0, 2.0])
    assert list(fig.data[0].x) == [1, 2]
    assert is_empty(inside.loss_per_epoch([]))
