"""The GMM-HMM baseline (the seed's section 2.2.7): one hidden Markov model per class.

Each review becomes a sequence of per-token vectors (word2vec vectors, :mod:`core.models.word2vec`,
projected on their first ``d`` principal axes). For each class an ``hmmlearn.hmm.GMMHMM``
(``M`` hidden states, a ``k``-component Gaussian mixture per state) is fitted with Baum-Welch;
a review goes to the class whose model gives the larger *length-normalised* log-likelihood
(log-likelihood per token, so long and short reviews are compared on one scale). The
decision value ``logit = ll_pos / T - ll_neg / T`` plays the role of an RNN's logit, so the
test metrics come from :func:`core.training.trainer.classification_metrics` like every other run's.
Viterbi decoding gives each token's hidden state under either model.

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

:func:`hmm_job` does the IMDB experiment as a run of kind ``hmm`` (parameters
in ``hmm.npz``, loaded with ``allow_pickle=False``, plus ``hmm.json`` and the run's
``vocab.json``); :func:`load_hmm_run` and :func:`classify_text` serve live classification.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from core.config import HMMConfig, HMMRunConfig, TextConfig, Word2VecRunConfig

CLASSES = (0, 1)  # negative, positive


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
    """One GMM-HMM per class; decides by the larger log-likelihood per token."""

    def __init__(self, cfg: HMMConfig, models: dict[int, Any] | None = None):
        self.cfg = cfg
        self.models: dict[int, Any] = dict(models or {})
        self.fits: dict[int, ClassModel] = {}

    def fit(self, seqs: Sequence[np.ndarray], labels: Sequence[int], say: Callable[[str], None] | None = None,
            on_iteration: Callable[[int, int, int, float], None] | None = None) -> HMMClassifier:
        """Fit one model per class; ``on_iteration(class, restart, iteration, log_likelihood)``."""
        labels = np.asarray(labels).astype(int)
        for c in CLASSES:
            if say:
                say(f"class {c}: fitting on {int((labels == c).sum())} sequences")
            hook = None if on_iteration is None else (lambda r, it, ll, c=c: on_iteration(c, r, it, ll))
            fitted = fit_class_model([s for s, y in zip(seqs, labels, strict=True) if y == c], self.cfg,
                                     seed=self.cfg.seed * 10 + c, say=say, on_iteration=hook)
            self.fits[c] = fitted
            self.models[c] = fitted.model
        return self

    def log_likelihoods(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        """``(N, 2)`` log-likelihood per token under each class model; 0 for an empty sequence."""
        out = np.zeros((len(seqs), len(CLASSES)))
        for j, c in enumerate(CLASSES):
            m = self.models[c]
            for i, s in enumerate(seqs):
                if len(s):
                    out[i, j] = m.score(np.asarray(s, dtype=float)) / len(s)
        return out

    def decision(self, seqs: Sequence[np.ndarray], progress: Callable[[int, int], None] | None = None,
                 chunk: int = 500) -> np.ndarray:
        """``(N,)`` positive-minus-negative log-likelihood per token: > 0 means positive.

        ``progress(done, total)`` is called after every ``chunk`` sequences.
        """
        out = np.zeros(len(seqs))
        for start in range(0, len(seqs), chunk):
            ll = self.log_likelihoods(seqs[start:start + chunk])
            out[start:start + chunk] = ll[:, 1] - ll[:, 0]
            if progress is not None:
                progress(min(start + chunk, len(seqs)), len(seqs))
        return out

    def predict(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        return (self.decision(seqs) > 0).astype(int)

    def viterbi(self, seq: np.ndarray) -> dict[int, np.ndarray]:
        """Each class model's most likely hidden state per token (empty for an empty sequence)."""
        if not len(seq):
            return {c: np.zeros(0, dtype=int) for c in CLASSES}
        return {c: self.models[c].decode(np.asarray(seq, dtype=float), algorithm="viterbi")[1] for c in CLASSES}

    # -- parameters as plain arrays (no pickle) ---------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f"class{c}_{name.rstrip('_')}": np.asarray(getattr(self.models[c], name))
                for c in CLASSES for name in PARAM_NAMES}

    @classmethod
    def from_arrays(cls, cfg: HMMConfig, arrays: dict[str, np.ndarray]) -> HMMClassifier:
        Model = _guarded_class()
        models = {}
        for c in CLASSES:
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


def _balanced(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of at most ``n`` items, half of each label (seeded), in their original order."""
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    take = []
    for c, k in ((0, n - n // 2), (1, n // 2)):
        idx = np.flatnonzero(labels == c)
        take.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(take))


# -- the IMDB experiment, as a job ------------------------------------------------------------------------
def newest_word2vec(store: Any) -> str | None:
    """The newest finished word2vec run with vectors, if the store holds one."""
    for run in store.list():
        try:
            if (run.kind == "word2vec" and run.status().get("state") == "finished"
                    and run.file("vectors.npy").is_file()):
                return run.id
        except (OSError, ValueError):
            continue
    return None


def resolve_embeddings(cfg: HMMRunConfig, store: Any) -> tuple[HMMRunConfig, Word2VecRunConfig | None]:
    """``cfg`` with the word2vec run it will read named, and the word2vec job to run first if there is none.

    Without ``cfg.hmm.embeddings`` the newest finished word2vec run is used; when the store holds
    none, the second value is the skip-gram job to train first (on at most ``cfg.hmm.limit``
    training and unlabelled reviews), whose run id the caller puts into ``cfg.hmm.embeddings``.
    A run's config is resolved before it is created, so it says which vectors the fit read.
    """
    if cfg.hmm.embeddings:
        return replace(cfg, hmm=replace(cfg.hmm, embeddings=store.get(cfg.hmm.embeddings).id)), None
    newest = newest_word2vec(store)
    if newest is not None:
        return replace(cfg, hmm=replace(cfg.hmm, embeddings=newest)), None
    return cfg, Word2VecRunConfig(data=replace(cfg.data, limit=cfg.hmm.limit), text=cfg.text)


def hmm_job(ctx: Any, cfg: HMMRunConfig) -> None:
    """Fit the two class models on IMDB training reviews and evaluate on the test split (the ``hmm`` kind).

    The reviews are the encoded corpus the RNN runs use (:func:`core.data.corpus.load_corpus`: the
    same preprocessing, vocabulary and ``max_len``); the vectors are those of the word2vec run
    ``cfg.hmm.embeddings`` names (see :func:`resolve_embeddings`).
    """
    from core.data.corpus import load_corpus
    from core.models.word2vec import load_vectors
    from core.training.trainer import classification_metrics

    run, hcfg = ctx.run, cfg.hmm
    if not hcfg.embeddings:
        raise ValueError("the GMM-HMM needs a word2vec run (hmm.embeddings): train one first")
    t0 = time.time()
    ctx.progress(phase="preparing data")
    corpus = load_corpus(cfg.data, cfg.text, progress=ctx.say)
    vocab = corpus.vocab
    wv = load_vectors(hcfg.embeddings, ctx.store.root)
    table, has, pinfo = token_vectors(vocab, wv, hcfg.dim)
    tr, te = corpus.splits["train"], corpus.splits["test"]
    tr_idx = _balanced(tr.labels.astype(int), hcfg.limit, hcfg.seed)
    te_idx = _balanced(te.labels.astype(int), hcfg.test_limit, hcfg.seed + 1)
    train_seqs = sequences([tr.ids[i] for i in tr_idx], table, has)
    test_seqs = sequences([te.ids[i] for i in te_idx], table, has)
    y_train, y_test = tr.labels[tr_idx].astype(int), te.labels[te_idx]
    ctx.say(f"{len(train_seqs)} training reviews ({sum(map(len, train_seqs))} tokens with vectors), "
            f"{len(test_seqs)} test reviews; PCA to {hcfg.dim} dims keeps {pinfo['explained_variance']:.1%}")
    ctx.check_cancel()
    ctx.progress(phase="fitting")
    clf = HMMClassifier(hcfg)

    def beat(c: int, r: int, it: int, ll: float) -> None:  # every Baum-Welch iteration: progress and cancel
        ctx.progress(phase="fitting", **{"class": c}, restart=r, restarts=hcfg.restarts, iteration=it,
                     iterations=hcfg.n_iter, log_likelihood=ll)
        ctx.check_cancel()

    def scoring(what: str) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            ctx.progress(phase=what, done=done, total=total)
            ctx.check_cancel()
        return report

    t_fit, cpu_fit = time.perf_counter(), time.process_time()
    clf.fit(train_seqs, y_train, say=ctx.say, on_iteration=beat)
    fit_time, fit_cpu = time.perf_counter() - t_fit, time.process_time() - cpu_fit
    t_inf = time.perf_counter()
    logits = clf.decision(test_seqs, scoring("testing"))
    inf_time = time.perf_counter() - t_inf
    metrics = classification_metrics(logits, y_test)
    empty = int(sum(1 for s in test_seqs if not len(s)))
    # The rule above compares raw per-token likelihoods, so a class model that fits all text
    # better wins too often. How much a bias costs shows by moving the threshold to the one
    # that is best on the validation reviews (never the test ones): reported, not used.
    va = corpus.splits["val"]
    if len(va):
        val_dec = clf.decision(sequences(va.ids, table, has), scoring("validation threshold"))
        thr = best_threshold(val_dec, va.labels.astype(int))
        shifted = classification_metrics(logits - thr, y_test)
        metrics.update({"val_threshold": thr, "accuracy_at_val_threshold": shifted["accuracy"],
                        "f1_at_val_threshold": shifted["f1"]})
    metrics.update({
        "fit_time_s": fit_time, "train_time_s": fit_time, "fit_cpu_time_s": fit_cpu,
        "wall_time_s": time.time() - t0,
        "inference_samples_per_s": len(test_seqs) / max(inf_time, 1e-9),
        "train_size": int(len(train_seqs)), "train_size_available": int(len(tr)),
        "subsampled": bool(len(train_seqs) < len(tr)), "test_size": int(len(test_seqs)),
        "test_size_available": int(len(te)), "train_tokens": int(sum(map(len, train_seqs))),
        "test_reviews_without_vectors": empty, "pca_explained_variance": pinfo["explained_variance"],
        "states": hcfg.states, "mix": hcfg.mix, "dim": hcfg.dim, "covariance_type": hcfg.covariance_type,
        "word2vec_run": hcfg.embeddings,
    })
    vocab.save(run.file("vocab.json"))
    save_arrays(run.file("hmm.npz"), {**clf.to_arrays(), "token_vectors": table, "has_vector": has})
    run.write_json("hmm.json", {
        "config": asdict(hcfg), "pca": pinfo,
        "fits": {str(c): {"best_restart": f.best_restart, "fit_time_s": f.fit_time_s, "restarts": f.restarts}
                 for c, f in clf.fits.items()}})
    # one metrics record per Baum-Welch iteration of the kept restarts (the dashboard's training curve)
    recs = []
    for c, f in clf.fits.items():
        best = next(r for r in f.restarts if r["restart"] == f.best_restart)
        tokens = max(1, sum(len(s) for s, y in zip(train_seqs, y_train, strict=True) if y == c))
        recs += [{"kind": "em", "class": c, "iteration": i, "log_likelihood": ll,
                  "log_likelihood_per_token": ll / tokens} for i, ll in enumerate(best["log_likelihood"])]
    run.cut_metrics(-1)
    run.append_metrics(recs)
    run.write_json("test_metrics.json", metrics)


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
    from core import atomic

    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})


# -- loading a stored run and classifying text ------------------------------------------------------
@dataclass
class LoadedHMM:
    run_id: str
    cfg: HMMConfig
    text: TextConfig
    classifier: HMMClassifier
    vocab: Any
    table: np.ndarray  # (V, d) token vectors
    has: np.ndarray  # (V,) bool


def load_hmm_run(run: Any) -> LoadedHMM:
    if run.kind != "hmm":
        raise ValueError(f"run {run.id} is not an hmm run")
    if not run.file("hmm.npz").is_file():
        raise ValueError(f"hmm run {run.id} has no fitted parameters yet (status: {run.status().get('state')})")
    job = run.job_config()
    cfg = job.hmm
    with np.load(run.file("hmm.npz"), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    clf = HMMClassifier.from_arrays(cfg, arrays)
    return LoadedHMM(run.id, cfg, job.text, clf, run.vocabulary(),
                     arrays["token_vectors"].astype(np.float32), arrays["has_vector"].astype(bool))


def classify_text(lh: LoadedHMM, tokens: Sequence[str]) -> dict[str, Any]:
    """Decision, probability and each token's Viterbi state, for already preprocessed ``tokens``.

    ``probability`` is the logistic function of the per-token log-likelihood difference: a
    monotone score (0.5 = undecided), not a calibrated probability.
    """
    ids = np.array(lh.vocab.encode(tokens), dtype=np.int64)
    used = lh.has[ids] if len(ids) else np.zeros(0, dtype=bool)
    seq = lh.table[ids[used]] if len(ids) else np.zeros((0, lh.table.shape[1]), dtype=np.float32)
    ll = lh.classifier.log_likelihoods([seq])[0]
    logit = float(ll[1] - ll[0])
    states = lh.classifier.viterbi(seq)
    prob = 1.0 / (1.0 + math.exp(-logit)) if logit >= 0 else math.exp(logit) / (1.0 + math.exp(logit))
    return {"logit": logit, "probability": prob, "used": used.tolist(),
            "log_likelihood_per_token": {"negative": float(ll[0]), "positive": float(ll[1])},
            "viterbi_states": {"negative": states[0].tolist(), "positive": states[1].tolist()}}


def read_fit_record(run: Any) -> dict[str, Any]:
    """The stored ``hmm.json`` (config, PCA, every restart's log-likelihood per iteration)."""
    return run.read_json("hmm.json")  # checked against its schema (core.jobs.files)
