"""core.figures.theory: the Theory page's derivatives, gradient products, unrolled RNN, parameter counts
and Markov-chain figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from test_markov import random_stochastic

from rnnlab.core.analysis import markov
from rnnlab.core.config import ModelConfig
from rnnlab.core.figures import theory
from rnnlab.core.models.cells import cell_def
from rnnlab.core.models.rnn import param_counts

FUSED = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


@pytest.mark.parametrize("name, f, f_prime", [("sigmoid", theory.sigmoid, theory.sigmoid_prime),
                                              ("tanh", np.tanh, theory.tanh_prime)])
def test_derivatives_match_central_finite_differences(name, f, f_prime):
    x = np.linspace(-8, 8, 161)
    eps = 1e-5
    assert_allclose(f_prime(x), (f(x + eps) - f(x - eps)) / (2 * eps), atol=1e-9)
    frame = theory.activation_frame(-8, 8, 161)
    assert_allclose(frame[f"{name}_prime"], f_prime(x))


def test_derivative_maxima_are_the_quoted_bounds():
    frame = theory.activation_frame(-6, 6, 1201)  # includes x = 0
    assert frame["sigmoid_prime"].max() == pytest.approx(theory.SIGMOID_PRIME_MAX)
    assert frame["tanh_prime"].max() == pytest.approx(theory.TANH_PRIME_MAX)


@pytest.mark.parametrize("activation, torch_f", [("sigmoid", torch.sigmoid), ("tanh", torch.tanh)])
@pytest.mark.parametrize("weight, pre", [(1.0, 0.0), (-2.5, 1.3), (6.0, -3.0)])
def test_step_factor_is_the_autograd_jacobian_of_one_scalar_step(activation, torch_f, weight, pre):
    h_prev = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    bias = pre - weight * 0.7  # so that the step's pre-activation is `pre`
    (grad,) = torch.autograd.grad(torch_f(weight * h_prev + bias), h_prev)
    assert theory.step_factor(weight, pre, activation) == pytest.approx(abs(grad.item()), rel=1e-12)


def test_gradient_product_is_the_power_of_the_factor_and_its_log_survives_underflow():
    frame = theory.gradient_product_frame(weight=1.0, preactivation=0.0, steps=30, activation="sigmoid")
    assert_allclose(frame["chosen"], 0.25 ** np.arange(31), rtol=1e-12)
    assert_allclose(frame["tanh_bound"], 1.0)
    deep = theory.gradient_product_frame(weight=0.1, preactivation=6.0, steps=200, activation="sigmoid")
    factor = theory.step_factor(0.1, 6.0, "sigmoid")
    assert_allclose(deep["log10_chosen"], np.arange(201) * np.log10(factor))
    assert np.isnan(deep["chosen"].iloc[-1]) and np.isfinite(deep["log10_chosen"].iloc[-1])
    exploding = theory.gradient_product_frame(weight=8.0, preactivation=0.0, steps=100, activation="tanh")
    assert exploding["chosen"].is_monotonic_increasing and exploding["chosen"].iloc[-1] == pytest.approx(8.0 ** 100)


def test_gradient_product_figure_uses_a_log_axis():
    fig = theory.gradient_product_figure(theory.gradient_product_frame(2.0, 0.5, 10))
    assert fig.layout.yaxis.type == "log" and len(fig.data) == 3


@pytest.mark.parametrize("steps", [1, 4, 8])
def test_unrolled_rnn_links_every_input_to_its_state_and_the_last_state_to_y(steps):
    nodes, edges = theory.unrolled_rnn_frame(steps)
    assert len(nodes) == 2 * steps + 2 and len(edges) == 2 * steps + 1
    assert set(edges["source"]) | set(edges["target"]) <= set(nodes["node"])
    assert (f"h_{steps}", "y") in set(zip(edges["source"], edges["target"], strict=True))
    fig = theory.unrolled_rnn_figure(nodes, edges)
    assert len(fig.layout.annotations) == 2 * len(edges)


@pytest.mark.parametrize("n, m, layers, bidirectional", [(100, 50, 1, False), (7, 3, 1, True), (20, 10, 2, False),
                                                         (5, 4, 3, True)])
def test_param_calculator_matches_param_counts_and_the_real_pytorch_modules(n, m, layers, bidirectional):
    frame = theory.param_count_frame(n, m, layers, bidirectional).set_index("cell")
    for cell, module in FUSED.items():
        row = frame.loc[theory.CELL_NAMES[cell]]
        counts = param_counts(ModelConfig(cell=cell, vocab_size=2, embedding_dim=n, hidden_size=m,
                                          num_layers=layers, bidirectional=bidirectional))
        assert row["pytorch_actual"] == counts["recurrent_pytorch"]
        assert row["seed_formula"] == counts["recurrent_seed_formula"]
        real = module(n, m, num_layers=layers, bidirectional=bidirectional)
        assert row["pytorch_actual"] == sum(p.numel() for p in real.parameters())
        g, d = cell_def(cell).blocks, 2 if bidirectional else 1
        assert row["extra_bias_params"] == layers * d * g * m  # one more bias vector per gate, layer, direction
        if layers == 1 and not bidirectional:
            assert row["seed_formula"] == g * (n + m + 1) * m
            assert row["pytorch_actual"] == g * (n + m + 2) * m


def test_markov_figure_draws_each_state_and_its_dashed_reference():
    p = random_stochastic(3, np.random.default_rng(0))
    history = markov.distribution_over_steps(np.eye(3)[0], p, 10)
    frame = theory.markov_frame(history, ["a", "b", "c"])
    assert len(frame) == 33 and set(frame["state"]) == {"a", "b", "c"}
    fig = theory.markov_figure(frame, markov.stationary_distribution(p))
    dashed = [t for t in fig.data if t.line.dash == "dash"]
    assert len(fig.data) == 6 and len(dashed) == 3
    assert_allclose([t.y[0] for t in dashed], markov.stationary_distribution(p))


@pytest.mark.parametrize("p, level, phrase", [
    (np.array([[0.5, 0.5], [0.2, 0.8]]), "success", "converges"),
    (np.array([[0.0, 1.0], [1.0, 0.0]]), "warning", "period 2"),
    (np.eye(2), "warning", "2 closed classes"),
])
def test_chain_verdict_says_when_no_unique_limit_exists(p, level, phrase):
    got_level, message = theory.chain_verdict(markov.analyse_chain(p), ["s0", "s1"])
    assert got_level == level and phrase in message
