"""core.analysis.markov: stationary distributions, chain structure (classes, periods), long-run limits."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from rnnlab.core.analysis import markov


def random_stochastic(n: int, rng: np.random.Generator, zero_fraction: float = 0.0) -> np.ndarray:
    p = rng.random((n, n))
    p[rng.random((n, n)) < zero_fraction] = 0.0
    p[np.arange(n), np.arange(n)] += 0.05  # a self-loop keeps each row non-zero and the chain aperiodic
    p[np.arange(n), (np.arange(n) + 1) % n] += 0.05  # a cycle through every state keeps it irreducible
    return p / p.sum(axis=1, keepdims=True)


def left_eigenvector_for_one(p: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(p.T)
    v = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return v / v.sum()


@pytest.mark.parametrize("n", [2, 3, 5, 8])
@pytest.mark.parametrize("zero_fraction", [0.0, 0.6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stationary_distribution_is_the_left_eigenvector_of_eigenvalue_one(n, zero_fraction, seed):
    p = random_stochastic(n, np.random.default_rng(seed), zero_fraction)
    pi = markov.stationary_distribution(p)
    assert_allclose(pi, left_eigenvector_for_one(p), atol=1e-10)
    assert_allclose(pi @ p, pi, atol=1e-12)
    assert pi.sum() == pytest.approx(1.0) and np.all(pi >= 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_aperiodic_irreducible_chain_converges_to_stationary_from_any_start(seed):
    rng = np.random.default_rng(seed)
    p = random_stochastic(4, rng, zero_fraction=0.5)
    structure = markov.analyse_chain(p)
    assert structure.irreducible and structure.periods == (1,) and structure.converges_from_any_start
    pi = markov.stationary_distribution(p)
    for start in (np.eye(4)[0], np.eye(4)[3], rng.dirichlet(np.ones(4))):
        history = markov.distribution_over_steps(start, p, 200)
        assert history.shape == (201, 4)
        assert_allclose(history[0], start)
        assert_allclose(history.sum(axis=1), 1.0)
        distances = [markov.total_variation(h, pi) for h in history]
        assert distances[-1] < 1e-8
        assert np.all(np.diff(distances) <= 1e-12)  # a Markov step never increases the TV distance to π
        assert_allclose(markov.long_run_distribution(start, p), pi, atol=1e-10)


def test_periodic_chain_has_unique_stationary_but_no_limit():
    p = np.roll(np.eye(3), 1, axis=1)  # s0 -> s1 -> s2 -> s0
    structure = markov.analyse_chain(p)
    assert structure.irreducible and structure.periods == (3,)
    assert structure.unique_stationary and not structure.converges_from_any_start
    assert_allclose(markov.stationary_distribution(p), np.full(3, 1 / 3))
    history = markov.distribution_over_steps(np.eye(3)[0], p, 6)
    assert_allclose(history[3], history[0]) and not np.allclose(history[1], history[0])


def test_bipartite_chain_has_period_two():
    p = np.array([[0, 0.5, 0.5, 0], [0.5, 0, 0, 0.5], [0.5, 0, 0, 0.5], [0, 0.5, 0.5, 0]])
    assert markov.analyse_chain(p).periods == (2,)
    assert markov.analyse_chain(0.5 * p + 0.5 * np.eye(4)).periods == (1,)  # a lazy chain is aperiodic


def test_reducible_chain_has_no_unique_stationary_and_its_long_run_depends_on_the_start():
    # s0 transient, {s1} absorbing, {s2, s3} a closed aperiodic class
    p = np.array([[0.2, 0.5, 0.3, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.4, 0.6], [0.0, 0.0, 0.7, 0.3]])
    structure = markov.analyse_chain(p)
    assert structure.classes == ((0,), (1,), (2, 3))
    assert structure.closed == (False, True, True)
    assert not structure.unique_stationary and not structure.converges_from_any_start
    with pytest.raises(ValueError, match="not unique"):
        markov.stationary_distribution(p)
    for d in markov.stationary_distributions(p):
        assert_allclose(d @ p, d, atol=1e-12)
    absorb = markov.absorption_probabilities(p)
    assert_allclose(absorb.sum(axis=1), 1.0)
    assert absorb[0, 0] == pytest.approx(0.5 / 0.8)
    for start in (np.eye(4)[0], np.eye(4)[1], np.array([0.5, 0.0, 0.5, 0.0])):
        limit = markov.distribution_over_steps(start, p, 400)[-1]  # every closed class aperiodic: π_t converges
        assert_allclose(markov.long_run_distribution(start, p), limit, atol=1e-10)
    assert not np.allclose(markov.long_run_distribution(np.eye(4)[1], p), markov.long_run_distribution(np.eye(4)[2], p))


def test_normalize_rows_rescales_and_says_so():
    p, changed = markov.normalize_rows(np.array([[1.0, 3.0], [2.0, 2.0]]))
    assert changed
    assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]])
    same, changed = markov.normalize_rows(p)
    assert not changed and np.array_equal(same, p)


@pytest.mark.parametrize("bad", [[[0.5, -0.5], [0.5, 0.5]], [[0.0, 0.0], [0.5, 0.5]], [[1.0, 0.0]],
                                 [[np.nan, 1.0], [0.5, 0.5]]])
def test_normalize_rows_rejects_matrices_that_cannot_be_a_chain(bad):
    with pytest.raises(ValueError):
        markov.normalize_rows(np.array(bad))


def test_normalize_distribution_rescales_and_rejects_zero():
    d, changed = markov.normalize_distribution(np.array([2.0, 2.0]))
    assert changed
    assert_allclose(d, [0.5, 0.5])
    with pytest.raises(ValueError):
        markov.normalize_distribution(np.zeros(3))
