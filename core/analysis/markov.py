"""Finite Markov chains: the small amount of maths behind the seed report's eq. 49-50.

A chain on ``n`` states is a row-stochastic matrix ``P`` (``P[i, j]`` = probability of moving from
state ``i`` to state ``j``) and a row vector of state probabilities ``pi_t``, which evolves as
``pi_{t+1} = pi_t P`` (eq. 49). A stationary distribution solves ``pi = pi P`` (eq. 50).

What a chain does in the long run follows from its structure, computed here exactly for small
chains: the communicating classes, which of them are closed (no probability leaves), and the
period of each class. Each closed class carries exactly one stationary distribution, so the chain
has a unique one iff it has exactly one closed class; ``pi_t`` then converges to it from every
start iff that class is aperiodic. With several closed classes the long-run distribution depends
on the start (the probability of ending up in each class).

Pure numpy. Not here: hidden Markov models (``core.models.hmm``), anything about plotting.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np

_TOL = 1e-12


def normalize_rows(matrix: np.ndarray) -> tuple[np.ndarray, bool]:
    """A row-stochastic copy of ``matrix`` and whether any row had to be rescaled.

    Raises ``ValueError`` for a matrix that is not square, has a negative or non-finite entry, or
    a row of zeros (no transition to rescale).
    """
    p = np.asarray(matrix, dtype=float)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] == 0:
        raise ValueError(f"a transition matrix must be square and non-empty, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("transition probabilities must be finite and non-negative")
    sums = p.sum(axis=1)
    if np.any(sums <= 0):
        raise ValueError(f"row(s) {np.flatnonzero(sums <= 0).tolist()} sum to zero: every state needs a transition")
    changed = bool(np.any(np.abs(sums - 1.0) > 1e-9))
    return p / sums[:, None], changed


def normalize_distribution(dist: np.ndarray) -> tuple[np.ndarray, bool]:
    """``dist`` rescaled to sum to one, and whether it had to be; ``ValueError`` if impossible."""
    d = np.asarray(dist, dtype=float).ravel()
    if not np.all(np.isfinite(d)) or np.any(d < 0) or d.sum() <= 0:
        raise ValueError("a distribution must be non-negative, finite and not all zero")
    return d / d.sum(), bool(abs(d.sum() - 1.0) > 1e-9)


def distribution_over_steps(initial: np.ndarray, transition: np.ndarray, steps: int) -> np.ndarray:
    """``(steps + 1, n)`` array whose row ``t`` is ``pi_t = pi_0 P^t`` (eq. 49 iterated)."""
    if steps < 0:
        raise ValueError("steps must be non-negative")
    p = np.asarray(transition, dtype=float)
    out = np.empty((steps + 1, p.shape[0]))
    out[0] = np.asarray(initial, dtype=float)
    for t in range(steps):
        out[t + 1] = out[t] @ p  # (n,) @ (n, n): a row vector times P
    return out


def _reachability(p: np.ndarray) -> np.ndarray:
    """``(n, n)`` bool: ``R[i, j]`` iff ``j`` can be reached from ``i`` in zero or more steps."""
    n = p.shape[0]
    reach = (p > _TOL) | np.eye(n, dtype=bool)
    for _ in range(max(1, int(np.ceil(np.log2(n))) + 1)):  # repeated squaring of the adjacency relation
        reach = reach | ((reach.astype(int) @ reach.astype(int)) > 0)
    return reach


def _period(p: np.ndarray, members: list[int]) -> int:
    """Period of a communicating class: the gcd of ``level[u] + 1 - level[v]`` over its edges ``u -> v``."""
    inside = set(members)
    level = {members[0]: 0}
    frontier = [members[0]]
    while frontier:  # breadth-first levels from one member, inside the class only
        nxt = []
        for u in frontier:
            for v in np.flatnonzero(p[u] > _TOL):
                if int(v) in inside and int(v) not in level:
                    level[int(v)] = level[u] + 1
                    nxt.append(int(v))
        frontier = nxt
    d = 0
    for u in members:
        for v in np.flatnonzero(p[u] > _TOL):
            if int(v) in inside:
                d = gcd(d, level[u] + 1 - level[int(v)])
    return d


@dataclass(frozen=True)
class ChainStructure:
    """The long-run structure of a chain; see :func:`analyse_chain`."""

    classes: tuple[tuple[int, ...], ...]  # communicating classes, each sorted, ordered by first state
    closed: tuple[bool, ...]  # per class: no probability leaves it (recurrent)
    periods: tuple[int, ...]  # per class: gcd of its cycle lengths (1 = aperiodic)

    @property
    def closed_classes(self) -> list[tuple[int, ...]]:
        return [c for c, closed in zip(self.classes, self.closed, strict=True) if closed]

    @property
    def irreducible(self) -> bool:
        return len(self.classes) == 1

    @property
    def unique_stationary(self) -> bool:
        """Exactly one closed class: ``pi = pi P`` has one solution (zero on transient states)."""
        return len(self.closed_classes) == 1

    @property
    def converges_from_any_start(self) -> bool:
        """Unique stationary distribution and its class aperiodic: ``pi_t -> pi`` for every ``pi_0``."""
        return self.unique_stationary and all(
            d == 1 for d, closed in zip(self.periods, self.closed, strict=True) if closed)


def analyse_chain(transition: np.ndarray) -> ChainStructure:
    """Communicating classes of a row-stochastic ``transition`` matrix, which are closed, and their periods."""
    p = np.asarray(transition, dtype=float)
    reach = _reachability(p)
    mutual = reach & reach.T
    classes: list[tuple[int, ...]] = []
    seen: set[int] = set()
    for i in range(p.shape[0]):
        if i not in seen:
            members = tuple(int(j) for j in np.flatnonzero(mutual[i]))
            classes.append(members)
            seen.update(members)
    closed = tuple(bool(p[np.ix_(c, c)].sum(axis=1).min() > 1 - 1e-9) for c in classes)
    periods = tuple(_period(p, list(c)) for c in classes)
    return ChainStructure(tuple(classes), closed, periods)


def _class_stationary(p: np.ndarray, members: tuple[int, ...]) -> np.ndarray:
    """The stationary distribution of the chain restricted to one closed class, as an ``(n,)`` vector."""
    sub = p[np.ix_(members, members)]
    k = len(members)
    # pi (P - I) = 0 with sum(pi) = 1: k + 1 equations, one redundant, solved by least squares
    a = np.vstack([sub.T - np.eye(k), np.ones((1, k))])
    b = np.zeros(k + 1)
    b[-1] = 1.0
    sol = np.linalg.lstsq(a, b, rcond=None)[0]
    sol = np.clip(sol, 0.0, None)
    out = np.zeros(p.shape[0])
    out[list(members)] = sol / sol.sum()
    return out


def stationary_distributions(transition: np.ndarray) -> list[np.ndarray]:
    """One stationary distribution per closed class; every stationary distribution is a mixture of them."""
    p = np.asarray(transition, dtype=float)
    return [_class_stationary(p, c) for c in analyse_chain(p).closed_classes]


def stationary_distribution(transition: np.ndarray) -> np.ndarray:
    """The unique ``pi`` with ``pi = pi P`` and ``sum(pi) = 1`` (eq. 50).

    Raises ``ValueError`` when the chain has several closed classes (no unique solution).
    """
    dists = stationary_distributions(transition)
    if len(dists) != 1:
        raise ValueError(f"the chain has {len(dists)} closed classes: its stationary distribution is not unique")
    return dists[0]


def absorption_probabilities(transition: np.ndarray) -> np.ndarray:
    """``(n, c)``: probability that the chain started in state ``i`` ends up in closed class ``k``."""
    p = np.asarray(transition, dtype=float)
    structure = analyse_chain(p)
    closed = structure.closed_classes
    n = p.shape[0]
    out = np.zeros((n, len(closed)))
    recurrent = [s for c in closed for s in c]
    transient = [s for s in range(n) if s not in set(recurrent)]
    for k, c in enumerate(closed):
        out[list(c), k] = 1.0
    if transient:
        # h = Q h + R 1_c over the transient states: h = (I - Q)^{-1} R 1_c
        q = p[np.ix_(transient, transient)]
        into = np.stack([p[np.ix_(transient, list(c))].sum(axis=1) for c in closed], axis=1)  # (|T|, c)
        out[transient] = np.linalg.solve(np.eye(len(transient)) - q, into)
    return out


def long_run_distribution(initial: np.ndarray, transition: np.ndarray) -> np.ndarray:
    """The time-average ``lim (1/N) sum_{t<N} pi_t`` from ``initial``: always exists.

    It is the limit of ``pi_t`` itself when every closed class the chain can reach is aperiodic.
    """
    p = np.asarray(transition, dtype=float)
    pi0 = np.asarray(initial, dtype=float)
    weights = pi0 @ absorption_probabilities(p)  # (c,): probability of ending in each closed class
    dists = stationary_distributions(p)
    return sum((w * d for w, d in zip(weights, dists, strict=True)), start=np.zeros(p.shape[0]))


def total_variation(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance ``0.5 * sum |a - b|`` between two distributions."""
    return 0.5 * float(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).sum())
