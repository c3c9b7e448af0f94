"""Sweep figures (core.figures.sweep): each figure against a varied field, parallel coordinates, the decay phase."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from core.figures import sweep

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


def test_the_decay_phase_diagram_is_log10_of_the_ratio_blank_where_there_is_none():
    fig = sweep.decay_phase(SUMMARY, "recurrent_init_radius", "seq_len", k=10)
    rnn, gru = fig.data
    assert list(rnn.z[0]) == pytest.approx([-5.0, 3.0]) and rnn.zmid == 0
    assert gru.z[0][0] == pytest.approx(-1.0) and math.isnan(gru.z[0][1])
    assert rnn.zmax == pytest.approx(5.0) and rnn.zmin == pytest.approx(-5.0)  # one symmetric scale for all panels
    assert "No gradient decay at k=100" in sweep.decay_phase(SUMMARY, "recurrent_init_radius", "seq_len", k=100) \
        .layout.annotations[0].text


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
