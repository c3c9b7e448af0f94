"""core.figures.gates: gates and states per token and per-token values, on small synthetic arrays."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from core.figures import gates


def is_empty(fig) -> bool:
    return not fig.data and bool(fig.layout.annotations)


def test_gates_figure_has_a_heatmap_per_state_over_the_tokens_and_the_running_probability_under_it():
    tokens = ["great", "film", "great"]
    states = {"forget_gate": np.random.default_rng(0).random((3, 5)), "hidden": np.zeros((3, 5))}
    fig = gates.gates_figure(tokens, states, [0.4, 0.6, 0.9], max_units=4)
    heat = [tr for tr in fig.data if tr.type == "heatmap"]
    assert [tr.name for tr in heat] == ["forget_gate", "hidden"]
    assert np.asarray(heat[0].z).shape == (4, 3)  # units up (cut to 4), tokens across
    assert_allclose(np.asarray(heat[0].z), states["forget_gate"][:, :4].T)
    assert (heat[0].zmin, heat[0].zmax) == (0, 1) and (heat[1].zmin, heat[1].zmax) == (-1, 1)
    prob = next(tr for tr in fig.data if tr.name == "running P(positive)")
    assert_allclose(np.asarray(prob.y, dtype=float), [0.4, 0.6, 0.9])
    assert list(fig.layout.xaxis3.ticktext) == tokens  # repeated tokens keep their own positions


def test_gates_figure_of_nothing_is_empty():
    assert is_empty(gates.gates_figure([], {}, []))


def test_token_values_figure_draws_one_bar_series_per_run_over_the_tokens():
    fig = gates.token_values_figure(["a", "b", "a"], {"lstm": [0.1, 0.5, 0.2], "gru": [0.3, 0.0, 0.9]})
    assert [tr.name for tr in fig.data] == ["lstm", "gru"]
    assert_allclose(np.asarray(fig.data[1].y, dtype=float), [0.3, 0.0, 0.9])
    assert list(fig.data[0].customdata) == ["a", "b", "a"]
    assert is_empty(gates.token_values_figure([], {}))
