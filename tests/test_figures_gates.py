"""core.figures.gates: gates and states per token and per-token values, on small synthetic arrays."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from rnnlab.core.figures import gates


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


def two_states_figure(**kw):
    tokens = ["not", "a", "good", "film"]
    states = {"input_gate": np.random.default_rng(1).random((4, 6)), "candidate": np.zeros((4, 6))}
    return tokens, gates.gates_figure(tokens, states, [0.5, 0.4, 0.7, 0.8], **kw)


def test_every_gate_panel_has_a_colour_bar_over_its_range_beside_it():
    _, fig = two_states_figure()
    gate, cand = (tr for tr in fig.data if tr.type == "heatmap")
    assert gate.showscale is not False and cand.showscale is not False
    assert list(gate.colorbar.tickvals) == [0, 0.5, 1] and list(cand.colorbar.tickvals) == [-1, 0, 1]
    assert gate.colorbar.y > cand.colorbar.y  # each bar beside its own panel, top to bottom
    assert gate.colorbar.title.text == "input gate i"


def test_every_panel_labels_its_x_axis_with_the_tokens():
    tokens, fig = two_states_figure()
    for name in ("xaxis", "xaxis2", "xaxis3"):
        axis = fig.layout[name]
        assert list(axis.ticktext) == tokens and axis.showticklabels is True, name


def test_the_hover_names_the_token_the_unit_and_the_value():
    _, fig = two_states_figure()
    for tr in fig.data:
        if tr.type == "heatmap":
            assert "token %{customdata}" in tr.hovertemplate and "unit %{y}" in tr.hovertemplate
            assert "=%{z:.3f}" in tr.hovertemplate and "value" in tr.hovertemplate


def test_gates_figure_draws_the_units_in_the_order_given_first_on_top():
    tokens = ["a", "b"]
    v = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    fig = gates.gates_figure(tokens, {"forget_gate": v}, [0.5, 0.6], orders={"forget_gate": [2, 0, 1]}, max_units=2)
    heat = fig.data[0]
    assert list(heat.y) == ["2", "0"]  # the first two of the order, labelled with their own unit numbers
    assert_allclose(np.asarray(heat.z), v[:, [2, 0]].T)
    assert fig.layout.yaxis.autorange == "reversed"


def test_unit_order_none_keeps_the_units_and_variance_puts_the_busiest_first():
    v = np.array([[0.0, 0.5, 0.0], [0.0, 0.5, 1.0], [0.0, 0.6, 0.0]])  # unit 2 varies most, unit 0 not at all
    assert gates.unit_order(v).tolist() == [0, 1, 2]
    assert gates.unit_order(v, "variance").tolist() == [2, 1, 0]


def test_unit_order_by_correlation_puts_units_rising_with_the_probability_first_and_falling_ones_last():
    p = np.array([0.1, 0.5, 0.9])
    v = np.stack([-p, np.ones(3), 2 * p, p + np.array([0.0, 0.3, 0.0])], axis=1)  # -1, constant, +1, ~+0.5
    assert gates.unit_order(v, "correlation", p).tolist() == [2, 3, 1, 0]


@pytest.mark.parametrize("by, probability", [("correlation", None), ("alphabet", None), ("correlation", [0.1])])
def test_unit_order_refuses_what_it_cannot_do(by, probability):
    with pytest.raises(ValueError):
        gates.unit_order(np.zeros((3, 2)), by, probability)


def test_gates_figure_of_nothing_is_empty():
    assert is_empty(gates.gates_figure([], {}, []))


def test_token_values_figure_draws_one_bar_series_per_run_over_the_tokens():
    fig = gates.token_values_figure(["a", "b", "a"], {"lstm": [0.1, 0.5, 0.2], "gru": [0.3, 0.0, 0.9]})
    assert [tr.name for tr in fig.data] == ["lstm", "gru"]
    assert_allclose(np.asarray(fig.data[1].y, dtype=float), [0.3, 0.0, 0.9])
    assert list(fig.data[0].customdata) == ["a", "b", "a"]
    assert is_empty(gates.token_values_figure([], {}))


def test_unit_correlations_figure_draws_a_bar_per_unit_in_order_coloured_by_sign_on_a_fixed_scale():
    from rnnlab.core.figures.style import NEGATIVE, POSITIVE

    fig = gates.unit_correlations_figure(["0:0:3:hidden", "0:1:0:cell"], [0.42, -0.3], mean_match=[0.5, 0.1],
                                         mean_other=[0.1, 0.4])
    [bar] = fig.data
    assert list(bar.x) == ["0:0:3:hidden", "0:1:0:cell"]
    assert_allclose(np.asarray(bar.y, dtype=float), [0.42, -0.3])
    assert list(bar.marker.color) == [POSITIVE, NEGATIVE]
    assert_allclose(np.asarray(bar.customdata, dtype=float), [[0.5, 0.1], [0.1, 0.4]])
    assert tuple(fig.layout.yaxis.range) == (-1, 1)
    assert is_empty(gates.unit_correlations_figure([], []))
