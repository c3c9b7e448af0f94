"""Sweep figures (core.figures.sweep): each figure against a varied field, parallel coordinates, the decay phase."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnlab.core.figures import sweep

SUMMARY = pd.DataFrame({
    "cell": ["rnn", "rnn", "gru", "gru"], "recurrent_init_radius": [0.5, 3.0, 0.5, 3.0], "seq_len": [50] * 4,
    "accuracy_mean": [0.5, 0.6, 0.7, 0.8], "accuracy_std": [0.01, 0.02, 0.0, 0.1],
    "mse_mean": [1.0, 0.1, 0.01, 0.001], "mse_std": [0.0] * 4,
    "decay_k10_mean": [1e-5, 1e3, 0.1, None], "decay_k10_std": [0.0] * 4})


def test_a_metric_against_a_field_has_one_line_per_group_with_the_seeds_spread():
    fig = sweep.metric_vs_field(SUMMARY, "recurrent_init_radius", "accuracy", by="cell")
    assert [t.name for t in fig.data] == ["cell = rnn", "cell = gru"]
    assert list(fig.data[1].y) == [0.7, 0.8] and list(fig.data[1].error_y.array) == [0.0, 0.1]
    assert fig.layout.yaxis.type != "log"
    assert sweep.metric_vs_field(SUMMARY, "recurrent_init_radius", "mse").layout.yaxis.type == "log"
    assert "No test MSE" in sweep.metric_vs_field(SUMMARY.drop(columns=["mse_mean"]), "seq_len", "mse").layout \
        .annotations[0].text


def title(fig) -> str:
    return fig.layout.title.text.replace("<br>", " ")


def notes(fig) -> str:
    return " ".join(a.text.replace("<br>", " ") for a in fig.layout.annotations)


def test_the_decay_phase_diagram_is_log10_of_the_ratio_blank_where_there_is_none():
    fig = sweep.decay_phase(SUMMARY, "recurrent_init_radius", "seq_len", k=10)
    rnn, gru = fig.data
    assert list(rnn.z[0]) == pytest.approx([-5.0, 3.0]) and list(rnn.text[0]) == ["1.0e-05", "1,000"]
    assert gru.z[0][0] == pytest.approx(-1.0) and math.isnan(gru.z[0][1])
    assert rnn.zmin == gru.zmin == pytest.approx(-5.0) and rnn.zmax == gru.zmax == pytest.approx(3.0)  # one scale
    assert "blank: no value" in notes(fig)
    assert "No gradient decay at k=100" in sweep.decay_phase(SUMMARY, "recurrent_init_radius", "seq_len", k=100) \
        .layout.annotations[0].text


def test_the_phase_colours_are_white_at_a_ratio_of_one_and_each_side_darkens_to_its_own_extreme():
    scale = sweep.phase_colours(-12.0, 0.1)  # shrinking to 1e-12 beside growing by x1.26
    positions = [p for p, _ in scale]
    assert positions[0] == 0 and positions[-1] == 1 and positions == sorted(positions)
    assert dict((c, p) for p, c in scale)[sweep.UNCHANGED] == pytest.approx(12 / 12.1)  # white where log10 = 0
    assert scale[0][1] == sweep.SHRINKS[-1] and scale[-1][1] == sweep.GROWS[-1]  # the darkest at each extreme
    assert [c for _, c in sweep.phase_colours(-3.0, 0.0)] == [*reversed(sweep.SHRINKS), sweep.UNCHANGED]
    assert [c for _, c in sweep.phase_colours(0.0, 2.0)] == [sweep.UNCHANGED, *sweep.GROWS]


def test_a_small_growth_beside_a_deep_vanishing_is_drawn_red_and_the_title_gives_both_extremes():
    summary = SUMMARY.assign(decay_k10_mean=[1e-12, 1.26, 0.5, 1e-3])
    fig = sweep.decay_phase(summary, "recurrent_init_radius", "seq_len", k=10)
    rnn = fig.data[0]
    growth = rnn.z[0][1]
    assert growth == pytest.approx(math.log10(1.26)) and growth == pytest.approx(rnn.zmax)  # the reddest cell
    assert "red grows (up to 1.3)" in title(fig) and "blue vanishes (down to 1.0e-12)" in title(fig)


def test_where_no_setting_grows_the_title_says_so_and_promises_no_red():
    summary = SUMMARY.assign(decay_k10_mean=[1e-5, 0.2, 0.1, 0.9])
    fig = sweep.decay_phase(summary, "recurrent_init_radius", "seq_len", k=10)
    assert "no setting here grows" in title(fig) and "red" not in title(fig)
    assert all(tr.zmax == 0 for tr in fig.data) and fig.data[0].colorscale[-1][1] == sweep.UNCHANGED


def edge_of_chaos_like() -> pd.DataFrame:
    """Two cells x two radii x lengths 25, 100: k=50 reaches only T=100 and shrinks everywhere; k=10 both ways."""
    rows = []
    for cell, k10, k50 in (("rnn", 0.05, 1e-9), ("gru", 1.3, 0.5)):
        for radius in (0.5, 3.0):
            for seq_len in (25, 100):
                rows.append({"cell": cell, "recurrent_init_radius": radius, "seq_len": seq_len,
                             "decay_k10_mean": k10 * radius, "decay_k50_mean": k50 if seq_len > 50 else None})
    return pd.DataFrame(rows)


def test_lengths_no_run_could_look_k_steps_back_from_are_left_out_and_named():
    fig = sweep.decay_phase(edge_of_chaos_like(), "recurrent_init_radius", "seq_len", k=50)
    assert all(list(tr.y) == ["100"] for tr in fig.data)  # no blank row for T = 25
    assert "left out: seq len = 25: no run there reached k=50 steps back" in notes(fig)
    assert "blank" not in notes(fig)


def test_an_underflowed_ratio_is_written_as_such_at_the_bottom_of_the_scale():
    summary = SUMMARY.assign(decay_k10_mean=[0.0, 10.0, 0.01, 1.0])
    rnn = (fig := sweep.decay_phase(summary, "recurrent_init_radius", "seq_len", k=10)).data[0]
    assert rnn.text[0][0] == "0 (underflow)" and rnn.z[0][0] == rnn.zmin == pytest.approx(-2.0)
    assert "0 (underflow)" in notes(fig)


def test_the_phase_diagram_opens_at_a_k_where_the_gradient_both_shrinks_and_grows():
    summary = edge_of_chaos_like()
    assert sweep.phase_default_k(summary, [10, 50], "recurrent_init_radius", "seq_len") == 10
    flipped = summary.assign(decay_k10_mean=0.1, decay_k50_mean=summary["decay_k50_mean"] * 1e9)  # rnn 1, gru 5e8
    flipped.loc[flipped["cell"] == "rnn", "decay_k50_mean"] = 0.5
    assert sweep.phase_default_k(flipped, [10, 50], "recurrent_init_radius", "seq_len") == 50
    one_sided = summary.assign(decay_k10_mean=0.1, decay_k50_mean=0.2)  # both shrink, in as many cells
    assert sweep.phase_default_k(one_sided, [10, 50], "recurrent_init_radius", "seq_len") == 50  # ties: farther
    assert sweep.phase_default_k(summary.assign(decay_k10_mean=0.1), [10, 50], "recurrent_init_radius",
                                 "seq_len") == 10  # neither has both: the one with more cells


def test_the_published_edge_of_chaos_study_opens_on_a_diagram_with_both_colours_and_no_blank_row():
    summary = pd.read_csv(Path(__file__).resolve().parent.parent / "docs" / "sweeps" / "edge-of-chaos" / "summary.csv")
    ks = [k for k in (10, 50, 100) if f"decay_k{k}_mean" in summary and summary[f"decay_k{k}_mean"].notna().any()]
    k = sweep.phase_default_k(summary, ks, "recurrent_init_radius", "seq_len")
    fig = sweep.decay_phase(summary, "recurrent_init_radius", "seq_len", k=k)
    z = np.concatenate([np.asarray(tr.z, dtype=float).ravel() for tr in fig.data])
    assert (z > 0).any() and (z < 0).any() and not np.isnan(z).any()
    assert "red grows" in title(fig) and "blue vanishes" in title(fig)


def test_parallel_coordinates_draw_finished_runs_with_categories_as_ticks():
    results = pd.DataFrame({"cell": ["rnn", "gru", "gru"], "hidden_size": [4, 8, 8], "seed": [0, 0, 1],
                            "state": ["finished", "finished", "failed"], "accuracy": [0.5, 0.9, None]})
    fig = sweep.parallel_coordinates(results, ["cell", "hidden_size"], "accuracy")
    dims = fig.data[0].dimensions
    assert [d.label for d in dims] == ["cell", "hidden size", "seed", "test accuracy"]
    assert list(dims[0].ticktext) == ["gru", "rnn"] and list(dims[0].values) == [1, 0]
    assert list(dims[-1].values) == [0.5, 0.9]  # the failed run is left out


def test_parallel_coordinates_name_an_empty_value_none():
    # embeddings = ["", "w2v-run"] in a spec: the empty value (no word2vec) reads back from CSV as missing
    results = pd.DataFrame({"embeddings": [None, "w2v-run", None], "seed": [0, 0, 1],
                            "state": ["finished"] * 3, "accuracy": [0.8, 0.9, 0.85]})
    dims = sweep.parallel_coordinates(results, ["embeddings"], "accuracy").data[0].dimensions
    assert list(dims[0].ticktext) == ["none", "w2v-run"] and list(dims[0].values) == [0, 1, 0]
