"""The GMM-HMM baseline (the seed's section 2.2.7): one hidden Markov model per class.

Each review becomes a sequence of per-token vectors (word2vec vectors, :mod:`core.models.word2vec`,
projected on their first ``d`` principal axes). For each class an ``hmmlearn.hmm.GMMHMM``
(``M`` hidden states, a ``k``-component Gaussian mixture per state) is fitted with Baum-Welch;
a text goes to the class whose model gives the largest *length-normalised* log-likelihood
(log-likelihood per token, so long and short texts are compared on one scale). With two classes
the decision value ``logit = ll_1 / T - ll_0 / T`` plays the role of an RNN's logit; with K the
per-token log-likelihoods play the role of its K logits. Viterbi decoding gives each token's
hidden state under each class model.

hmmlearn's known failure modes are guarded against:

* covariances that collapse to zero or stop being positive definite: after every M-step the
  variances are floored at ``min_covar`` (full / tied covariances get ``min_covar`` added to
  eigenvalues below it);
* NaN or all-zero rows in the start, transition or mixture-weight probabilities (a state that
  is never visited): such rows are reset to uniform after every M-step, and a restart whose
  parameters are still not finite counts as failed;
* early "convergence" on a *falling* log-likelihood: hmmlearn stops when the gain is below
  ``tol``, and a loss is such a gain. Here only a gain in ``[0, tol)`` stops; a fall is
  recorded (``drops``) and the iterations go on.

The log-likelihood of every iteration of every restart is kept; the restart with the best
final log-likelihood wins; :class:`HMMFitError` is raised when every restart fails.

What it is not: the ``hmm`` kind of job that fits it on a dataset and stores it in a run
(:mod:`core.jobs.hmm`), nor reading a stored run back (:mod:`core.analysis.predict`);
:func:`classify_text` serves live classification with a loaded one.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnlab.core import atomic
from rnnlab.core.config import HMMConfig, TextConfig

MAX_CLASSES = 1000  # class models in one classifier (core.data.sources.MAX_CLASSES)


class HMMFitError(RuntimeError):
    """Every restart of a class model failed."""


# -- hmmlearn, guarded ----------------------------------------------------------------------------
def _monitor_class() -> type:
    from hmmlearn.base import ConvergenceMonitor

    class FullHistoryMonitor(ConvergenceMonitor):
        """Keeps every iteration's log-likelihood; converges only on a small *gain*."""

        def __init__(self, tol: float, n_iter: int, verbose: bool,
                     on_iteration: Callable[[int, float], None] | None = None):
            super().__init__(tol, n_iter, verbose)
            self.history = deque()  # unbounded: every iteration
            self.drops: list[tuple[int, float]] = []  # (iteration, fall) where the log-likelihood fell
            self.on_iteration = on_iteration

        def report(self, log_prob: float) -> None:
            if self.history and log_prob < self.history[-1]:
                self.drops.append((self.iter, float(self.history[-1] - log_prob)))
            self.history.append(float(log_prob))
            self.iter += 1
            if self.on_iteration is not None:
                self.on_iteration(self.iter, float(log_prob))

        @property
        def converged(self) -> bool:
            if self.iter >= self.n_iter:
                return True
            if len(self.history) < 2:
                return False
            gain = self.history[-1] - self.history[-2]
            return 0 <= gain < self.tol  # a fall is not convergence

    return FullHistoryMonitor


def _guarded_class() -> type:
    from hmmlearn.hmm import GMMHMM

    class GuardedGMMHMM(GMMHMM):
        """GMMHMM whose M-step leaves valid distributions and positive-definite covariances."""

        def _do_mstep(self, stats: dict[str, Any]) -> None:
            super()._do_mstep(stats)
            self.startprob_ = _fix_distribution(self.startprob_)
            self.transmat_ = _fix_distribution(self.transmat_)
            self.weights_ = _fix_distribution(self.weights_)
            self.covars_ = _floor_covars(self.covars_, self.covariance_type, self.min_covar)

    return GuardedGMMHMM


def _fix_distribution(p: np.ndarray) -> np.ndarray:
    """Rows that are not finite or sum to zero become uniform; the others are renormalised."""
    p = np.array(p, dtype=float)
    rows = p.reshape(-1, p.shape[-1])
    bad = ~np.isfinite(rows).all(axis=1) | (rows.sum(axis=1) <= 0)
    rows[bad] = 1.0 / rows.shape[1]
    rows /= rows.sum(axis=1, keepdims=True)
    return rows.reshape(p.shape)


def _floor_covars(c: np.ndarray, kind: str, floor: float) -> np.ndarray:
    c = np.array(c, dtype=float)
    if kind in ("diag", "spherical"):
        return np.maximum(c, floor)  # NaN stays NaN and fails the finiteness check
    # full (M, k, d, d) / tied (M, d, d): symmetrise, lift eigenvalues below the floor
    flat = c.reshape(-1, c.shape[-2], c.shape[-1])
    out = np.empty_like(flat)
    for i, m in enumerate(flat):
        m = (m + m.T) / 2
        if not np.isfinite(m).all():
            out[i] = m
            continue
        w, v = np.linalg.eigh(m)
        out[i] = (v * np.maximum(w, floor)) @ v.T
    return out.reshape(c.shape)


def _finite(model: Any) -> bool:
    return all(np.isfinite(getattr(model, a)).all() for a in ("startprob_", "transmat_", "weights_", "means_",
                                                                "covars_"))


@dataclass
class ClassModel:
    """One fitted class model and the record of its fit."""

    model: Any  # the fitted hmmlearn GMMHMM
    restarts: list[dict[str, Any]] = field(default_factory=list)  # one record per restart
    best_restart: int = -1
    fit_time_s: float = 0.0


def _concat(seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    seqs = [np.asarray(s, dtype=float) for s in seqs if len(s)]
    if not seqs:
        raise ValueError("no non-empty sequence to fit")
    return np.concatenate(seqs), np.array([len(s) for s in seqs])


def fit_class_model(seqs: Sequence[np.ndarray], cfg: HMMConfig, seed: int = 0,
                    say: Callable[[str], None] | None = None,
                    on_iteration: Callable[[int, int, float], None] | None = None) -> ClassModel:
    """Baum-Welch on ``seqs`` (each ``(T_i, d)``) from ``cfg.restarts`` initialisations; the best wins.

    ``on_iteration(restart, iteration, log_likelihood)`` is called after every EM iteration.
    Raises :class:`HMMFitError` (with every restart's reason) when none of them succeeds.
    """
    import warnings

    from threadpoolctl import threadpool_limits

    X, lengths = _concat(seqs)
    n_frames = len(X)
    Model, Monitor = _guarded_class(), _monitor_class()
    records: list[dict[str, Any]] = []
    best: tuple[float, int, Any] | None = None
    t_all = time.perf_counter()
    for r in range(cfg.restarts):
        rs = seed * 1000 + r
        np.random.seed(rs)  # GMMHMM's initialisation also draws from numpy's global generator
        model = Model(n_components=cfg.states, n_mix=cfg.mix, covariance_type=cfg.covariance_type,
                      min_covar=cfg.min_covar, n_iter=cfg.n_iter, tol=cfg.tol * n_frames, random_state=rs)
        hook = None if on_iteration is None else (lambda it, ll, r=r: on_iteration(r, it, ll))
        model.monitor_ = Monitor(cfg.tol * n_frames, cfg.n_iter, False, hook)
        rec: dict[str, Any] = {"restart": r, "random_state": rs}
        t0 = time.perf_counter()
        try:
            # one thread: KMeans (the initialisation) otherwise spins OpenMP threads that a busy
            # machine cannot serve, and Baum-Welch itself is a sequential numpy loop
            with warnings.catch_warnings(), np.errstate(all="ignore"), threadpool_limits(limits=1):
                warnings.simplefilter("ignore")  # KMeans / degenerate-solution chatter; failures raise below
                model.fit(X, lengths)
                if not _finite(model):
                    raise FloatingPointError("parameters are not finite after fitting")
                final = float(model.score(X, lengths))
            if not math.isfinite(final):
                raise FloatingPointError(f"final log-likelihood is {final}")
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as e:
            rec.update(ok=False, error=f"{type(e).__name__}: {e}",
                       log_likelihood=[float(v) for v in model.monitor_.history],
                       fit_time_s=time.perf_counter() - t0)
            records.append(rec)
            if say:
                say(f"  restart {r}: failed ({rec['error']})")
            continue
        hist = [float(v) for v in model.monitor_.history]
        rec.update(ok=True, log_likelihood=hist, final_log_likelihood=final,
                   final_log_likelihood_per_token=final / n_frames, iterations=len(hist),
                   converged=len(hist) < cfg.n_iter, drops=[list(d) for d in model.monitor_.drops],
                   fit_time_s=time.perf_counter() - t0)
        records.append(rec)
        if say:
            say(f"  restart {r}: {len(hist)} iterations, log-likelihood/token {final / n_frames:.4f}"
                + (f", {len(rec['drops'])} falls" if rec["drops"] else "") + f" ({rec['fit_time_s']:.1f}s)")
        if best is None or final > best[0]:
            best = (final, r, model)
    if best is None:
        raise HMMFitError("every restart failed: " + "; ".join(f"restart {x['restart']}: {x['error']}"
                                                              for x in records))
    return ClassModel(best[2], records, best[1], time.perf_counter() - t_all)


# -- the classifier -------------------------------------------------------------------------------
PARAM_NAMES = ("startprob_", "transmat_", "weights_", "means_", "covars_")


class HMMClassifier:
    """One GMM-HMM per class (classes ``0 .. K-1``); decides by the largest log-likelihood per token."""

    def __init__(self, cfg: HMMConfig, models: dict[int, Any] | None = None):
        self.cfg = cfg
        self.models: dict[int, Any] = dict(models or {})
        self.fits: dict[int, ClassModel] = {}

    @property
    def classes(self) -> list[int]:
        return sorted(self.models)

    def fit(self, seqs: Sequence[np.ndarray], labels: Sequence[int], n_classes: int | None = None,
            say: Callable[[str], None] | None = None,
            on_iteration: Callable[[int, int, int, float], None] | None = None) -> HMMClassifier:
        """Fit one model per class ``0 .. n_classes - 1`` (default: the largest label + 1);
        ``on_iteration(class, restart, iteration, log_likelihood)``. A class without a sequence raises ValueError."""
        labels = np.asarray(labels).astype(int)
        k = n_classes if n_classes is not None else int(labels.max()) + 1 if len(labels) else 0
        if k < 2:
            raise ValueError(f"a classifier needs two classes or more, got {k}")
        for c in range(k):
            if say:
                say(f"class {c}: fitting on {int((labels == c).sum())} sequences")
            hook = None if on_iteration is None else (lambda r, it, ll, c=c: on_iteration(c, r, it, ll))
            fitted = fit_class_model([s for s, y in zip(seqs, labels, strict=True) if y == c], self.cfg,
                                     seed=self.cfg.seed * 10 + c, say=say, on_iteration=hook)
            self.fits[c] = fitted
            self.models[c] = fitted.model
        return self

    def log_likelihoods(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        """``(N, K)`` log-likelihood per token under each class model; 0 for an empty sequence."""
        out = np.zeros((len(seqs), len(self.models)))
        for j, c in enumerate(self.classes):
            m = self.models[c]
            for i, s in enumerate(seqs):
                if len(s):
                    out[i, j] = m.score(np.asarray(s, dtype=float)) / len(s)
        return out

    def scores(self, seqs: Sequence[np.ndarray], progress: Callable[[int, int], None] | None = None,
               chunk: int = 500) -> np.ndarray:
        """:meth:`log_likelihoods` in chunks, ``progress(done, total)`` after each."""
        out = np.zeros((len(seqs), len(self.models)))
        for start in range(0, len(seqs), chunk):
            out[start:start + chunk] = self.log_likelihoods(seqs[start:start + chunk])
            if progress is not None:
                progress(min(start + chunk, len(seqs)), len(seqs))
        return out

    def decision(self, seqs: Sequence[np.ndarray], progress: Callable[[int, int], None] | None = None,
                 chunk: int = 500) -> np.ndarray:
        """Two classes: ``(N,)`` class-1-minus-class-0 log-likelihood per token (> 0 means class 1);
        more: the ``(N, K)`` log-likelihoods per token themselves."""
        ll = self.scores(seqs, progress, chunk)
        return ll[:, 1] - ll[:, 0] if ll.shape[1] == 2 else ll

    def predict(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        return self.log_likelihoods(seqs).argmax(axis=1)

    def viterbi(self, seq: np.ndarray) -> dict[int, np.ndarray]:
        """Each class model's most likely hidden state per token (empty for an empty sequence)."""
        if not len(seq):
            return {c: np.zeros(0, dtype=int) for c in self.classes}
        return {c: self.models[c].decode(np.asarray(seq, dtype=float), algorithm="viterbi")[1] for c in self.classes}

    # -- parameters as plain arrays (no pickle) ---------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f"class{c}_{name.rstrip('_')}": np.asarray(getattr(self.models[c], name))
                for c in self.classes for name in PARAM_NAMES}

    @classmethod
    def from_arrays(cls, cfg: HMMConfig, arrays: dict[str, np.ndarray]) -> HMMClassifier:
        """The classifier :meth:`to_arrays` wrote: one model per ``class<c>_*`` group, ``c`` from 0 up."""
        k = 0
        while f"class{k}_startprob" in arrays:
            k += 1
        if not 2 <= k <= MAX_CLASSES:
            raise ValueError(f"the parameters hold {k} class models; expected 2 to {MAX_CLASSES}")
        Model = _guarded_class()
        models = {}
        for c in range(k):
            m = Model(n_components=cfg.states, n_mix=cfg.mix, covariance_type=cfg.covariance_type,
                      min_covar=cfg.min_covar)
            for name in PARAM_NAMES:
                setattr(m, name, np.asarray(arrays[f"class{c}_{name.rstrip('_')}"], dtype=float))
            m.n_features = m.means_.shape[-1]
            m._check()  # shapes and sums: a tampered file fails here, not at scoring time
            models[c] = m
        return cls(cfg, models)


# -- word vectors -> token vectors ----------------------------------------------------------------
def token_vectors(vocab: Any, wv: Any, dim: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Per vocabulary id: the word's vector on its first ``dim`` principal axes, and whether it has one.

    The axes come from the vectors of the vocabulary's words weighted by their training counts
    (the distribution of the training tokens). Returns ``(table (V, dim) float32, has (V,) bool,
    info)`` with the explained variance in ``info``.
    """
    ids = np.array([i for i, w in enumerate(vocab.itos) if i > 1 and w in wv], dtype=np.int64)
    if not len(ids):
        raise ValueError("no word of the vocabulary has a word2vec vector")
    vecs = np.stack([wv.vector(vocab.itos[i]) for i in ids]).astype(np.float64)  # (n, D)
    counts = np.array([max(vocab.counts[i], 1) for i in ids], dtype=np.float64)
    w = counts / counts.sum()
    mean = w @ vecs
    centred = vecs - mean
    cov = (centred * w[:, None]).T @ centred  # (D, D) token-weighted covariance
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1][:dim]
    axes = evecs[:, order]  # (D, dim)
    table = np.zeros((len(vocab), dim), dtype=np.float32)
    table[ids] = (centred @ axes).astype(np.float32)
    has = np.zeros(len(vocab), dtype=bool)
    has[ids] = True
    ratio = evals[order] / evals.sum() if evals.sum() > 0 else np.zeros(len(order))
    return table, has, {"explained_variance": float(ratio.sum()), "words_with_vectors": int(len(ids))}


def sequences(ids_list: Sequence[np.ndarray], table: np.ndarray, has: np.ndarray) -> list[np.ndarray]:
    """Each review's token vectors ``(T_i, d)``, tokens without a vector left out."""
    return [table[ids[has[ids]]] for ids in ids_list]


def balanced_sample(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of at most ``n`` items spread evenly over the labels (seeded), in their original order."""
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    take = []
    for i, c in enumerate(classes):
        quota = n // len(classes) + (1 if i < n % len(classes) else 0)
        idx = np.flatnonzero(labels == c)
        take.append(rng.choice(idx, size=min(quota, len(idx)), replace=False))
    return np.sort(np.concatenate(take))


def best_threshold(decision: np.ndarray, labels: np.ndarray) -> float:
    """The threshold on ``decision`` (predict positive above it) with the best accuracy on ``labels``."""
    order = np.argsort(decision)
    d, y = decision[order], labels[order]
    # threshold between d[i-1] and d[i]: the first i are called negative
    correct = (y == 0).cumsum() - (y == 0) + (y[::-1] == 1).cumsum()[::-1]  # for i = 0 .. n-1
    cuts = np.concatenate([[d[0] - 1.0], (d[:-1] + d[1:]) / 2])
    i = int(np.argmax(correct))
    return float(cuts[i])


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` of plain numeric arrays, written atomically (read back with ``allow_pickle=False``)."""
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})


# -- classifying text with a fitted run ---------------------------------------------------------------
@dataclass
class LoadedHMM:
    run_id: str
    cfg: HMMConfig
    text: TextConfig
    classifier: HMMClassifier
    vocab: Any
    table: np.ndarray  # (V, d) token vectors
    has: np.ndarray  # (V,) bool
    classes: list[str]  # the class names, in label order (IMDB: negative, positive)


def classify_text(lh: LoadedHMM, tokens: Sequence[str]) -> dict[str, Any]:
    """Decision, probabilities and each token's Viterbi state, for already preprocessed ``tokens``.

    ``probabilities``: the softmax of the per-token log-likelihoods, one per class, and ``label`` the
    most likely class; with two classes ``logit`` is their difference and ``probability`` the second
    class's (its logistic function). Monotone scores (equal: undecided), not calibrated probabilities.
    """
    ids = np.array(lh.vocab.encode(tokens), dtype=np.int64)
    used = lh.has[ids] if len(ids) else np.zeros(0, dtype=bool)
    seq = lh.table[ids[used]] if len(ids) else np.zeros((0, lh.table.shape[1]), dtype=np.float32)
    ll = lh.classifier.log_likelihoods([seq])[0]  # (K,)
    states = lh.classifier.viterbi(seq)
    shifted = np.exp(ll - ll.max())
    probs = shifted / shifted.sum()
    # two classes: the second when its score is at least the first's (an RNN's p >= 0.5), as a tie must go somewhere
    best = (1 if ll[1] >= ll[0] else 0) if len(ll) == 2 else int(np.argmax(ll))
    logit = float(ll[1] - ll[0]) if len(ll) == 2 else float(ll[best])
    names = lh.classes
    return {"logit": logit, "probability": float(probs[1] if len(ll) == 2 else probs[best]),
            "label": names[best], "probabilities": {n: float(q) for n, q in zip(names, probs, strict=True)},
            "used": used.tolist(),
            "log_likelihood_per_token": {n: float(v) for n, v in zip(names, ll, strict=True)},
            "viterbi_states": {names[c]: states[c].tolist() for c in range(len(names))}}
