"""How long a job will take, estimated before it is launched, from the throughput of finished runs.

Each estimate is measured, never promised: the rates (seconds per training review, per test review
scored, per word2vec token, per training sample) come from the finished runs of the same kind in the
run store; when the store has none, from reference rates measured once on a 2-core CPU (the
``REFERENCE_*`` constants, with how they were measured), and the estimate says so. An :class:`Estimate`
holds the seconds, the sentence that says where they come from and the parts they add up from.

This module also words how the test sets behind a comparison differ (:func:`test_set_note`), so a
chart never puts scores from different test sets side by side without saying so.

It reads runs (every number read back is checked: a missing, non-finite, negative or absurd one
leaves that run out) and writes nothing; it is not the run store, and it launches nothing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rnnlab.core.config import (
    BUILTIN_DATASET,
    TEXT_TASK,
    DataConfig,
    HMMConfig,
    HMMRunConfig,
    HorizonConfig,
    RunConfig,
    Word2VecConfig,
    Word2VecRunConfig,
    default_val_size,
)
from rnnlab.core.data.datasets import (
    IMDB_CLASSES,
    IMDB_SIZES,
    DatasetInfo,
    dataset_info,
    dataset_name,
    largest_val_size,
)
from rnnlab.core.data.imdb import DataError
from rnnlab.core.jobs.names import FINISHED, RESULTS_FILE, WORD2VEC_FILE

MAX_RUNS = 20  # the newest finished runs of a kind measured: recent enough to be this machine's speed
MAX_SECONDS = 30 * 86_400.0  # a run that reports more than a month, or a rate implying it, is not believed
MAX_COUNT = 10**10  # reviews, tokens, samples

# Reference rates, used only when the store holds no finished run of the kind. Measured on 1 December 2026
# on this project's shared 2-core development machine (other work running beside it, so rates varied by up
# to 2x between runs), on the real IMDB archive with the default settings, the median of the runs:
# `python -m core hmm --limit 100 --test-limit 200`, `--limit 200 --test-limit 400` and `--limit 200
# --test-limit 2000` (M=4, k=2, 3 restarts, 20 iterations, 12 PCA dimensions; fitting 0.11-0.21 s per
# training review, scoring 2.8-3.7 ms per review); `python -m core embeddings train --limit 500`, `2000` and
# `5000` (skip-gram, dim 100, window 5, 5 epochs: 6.6-7.3 µs per token and epoch; 10,000 reviews read and
# preprocessed in 4.2-7.5 s), `--algo cbow --limit 5000` for CBOW (2.2 µs per token and epoch).
REFERENCE_HMM_FIT_S_PER_REVIEW = 0.12  # fitting, per training review at the defaults (HMM_WORK)
REFERENCE_HMM_SCORE_S_PER_REVIEW = 0.0035  # scoring one test or validation review with both class models
REFERENCE_HMM_PREPARE_S = 15.0  # reading and encoding the corpus (the first fit builds its cache), the vectors
REFERENCE_W2V_S_PER_TOKEN_EPOCH = {"skipgram": 7.0e-6, "cbow": 2.2e-6}  # at the defaults (W2V_WORK)
REFERENCE_W2V_PREPARE_S = 2.0  # loading the parsed reviews
REFERENCE_W2V_PREPARE_S_PER_REVIEW = 0.0002  # preprocessing one review (two processes)
REFERENCE_TOKENS_PER_REVIEW = 122.0  # after the default preprocessing (stop words removed)
# Training samples per second of the default model (hidden 50, embeddings 100, batches of 50, 500 tokens,
# one thread) on the full IMDB training split: README "Results: the `fast` preset" (5 epochs each, same
# machine); the test pass and the preparation from `python -m core train --model lstm --preset fast
# --limit 1000 --epochs 1` on 1 December 2026 (850 training samples and 2,376 test reviews per second, 9 s
# besides training and testing, the encoded corpus already cached).
# The modern cells: the LSTM's rates times their rate over the LSTM's in `python bench/modern_speed.py` on
# 7 December 2026 (README "Modern cells"): at T = 100 for bucketed batches (IMDB's reviews, stop words removed,
# are about 120 tokens), and the mean of T = 300 and 1,000 for the fixed 500 tokens.
REFERENCE_RNN_SAMPLES_PER_S = {"fixed": {"rnn": 407.0, "lstm": 113.0, "gru": 70.0,
                                         "mingru": 61.0, "minlstm": 52.0, "lru": 66.0},
                               "bucket": {"rnn": 817.0, "lstm": 614.0, "gru": 506.0,
                                          "mingru": 301.0, "minlstm": 276.0, "lru": 448.0}}
REFERENCE_RNN_TEST_SPEEDUP = 2.8  # test reviews per second over training samples per second (no backward pass)
REFERENCE_RNN_PREPARE_S = 10.0  # reading and encoding the corpus, building the model
REFERENCE_RNN_SIZES = {"hidden_size": 50, "embedding_dim": 100, "num_layers": 1, "bidirectional": False,
                       "batch_size": 50, "max_len": 500, "tbptt": None}
# The memory-horizon study's training, per optimiser step and time step: `python -m core memory-horizon
# --lengths 10,50 --steps 100 --no-stop-on-success` (RNN, LSTM and GRU, hidden 50, batches of 50) on
# 1 December 2026: 6.8 s of training for 18,000 step x time steps.
REFERENCE_HORIZON_S_PER_STEP_T = 0.00038
REFERENCE_NOTE = "a reference rate measured on another machine (a 2-core CPU)"

HMM_WORK = 4 * 2 * 3 * 20  # states x mix x restarts x iterations at the defaults: the unit of fitting work


@dataclass(frozen=True)
class Estimate:
    """A job's expected wall time: ``seconds`` (None when nothing can be measured), where it comes from
    (``basis``, one or two sentences), the ``parts`` it adds up from (name, seconds) and, where the basis
    leaves it out, the ``work`` it times (``21,000 samples of imdb: ...``; shared by the runs of one form)."""

    seconds: float | None
    basis: str
    parts: tuple[tuple[str, float], ...] = field(default=())
    unknown: tuple[str, ...] = field(default=())  # parts that nothing measured: the total leaves them out
    work: str = ""

    def text(self) -> str:
        """``about 4 min 40 s (fitting 1 min, scoring 3 min 40 s)``; ``unknown`` when nothing measured it."""
        if self.seconds is None:
            return "unknown"
        parts = f" ({', '.join(f'{n} {duration(s)}' for n, s in self.parts)})" if len(self.parts) > 1 else ""
        more = f", plus {', '.join(self.unknown)} (not measured yet)" if self.unknown else ""
        return f"about {duration(self.seconds)}{parts}{more}"


def duration(seconds: float) -> str:
    """Seconds as a person reads them: ``40 s``, ``4 min 40 s``, ``2 h 5 min``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{m} min {r} s" if r and m < 10 else f"{round(s / 60)} min"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


# -- reading runs, with bounds ------------------------------------------------------------------------------------
def _num(d: Any, key: str, lo: float = 0.0, hi: float = MAX_COUNT, *, positive: bool = False) -> float | None:
    """``d[key]`` as a float when it is a finite number in [lo, hi] (> 0 with ``positive``); None otherwise."""
    v = d.get(key) if isinstance(d, dict) else None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    if v < lo or v > hi or (positive and v <= 0):
        return None
    return float(v)


def _finished(store: Any, kind: str, same: Callable[[dict[str, Any]], bool] | None = None
              ) -> list[tuple[dict[str, Any], dict[str, Any], Any]]:
    """(config dict, test metrics, run) of the newest finished runs of ``kind`` (imported ones left out), only those
    whose config dict ``same`` accepts: the newest ``MAX_RUNS`` of them, however many other runs are newer.

    A run that cannot be read is skipped: an estimate never fails because of one damaged folder.
    """
    out = []
    try:
        runs = store.list()
    except (OSError, ValueError):
        return []
    for run in runs:
        if len(out) >= MAX_RUNS:
            break
        try:
            cfg = run.config_dict()
            if cfg.get("kind", "rnn") != kind or cfg.get("imported") or (same is not None and not same(cfg)):
                continue
            if run.status().get("state") != FINISHED:
                continue
            out.append((cfg, run.test_metrics() or {}, run))
        except (OSError, ValueError, KeyError, TypeError):  # DamagedRun is a ValueError
            continue
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fixed_and_rate(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(fixed seconds, seconds per item) of the least-squares line through (items, seconds) points, both >= 0.

    Preparing data costs a fixed part (loading the cache) plus a part per review: a rate taken from a
    small run alone would charge the fixed part to each of its few reviews. With one size only, the
    line goes through the origin. None without points.
    """
    pts = [(x, y) for x, y in points if x > 0 and y >= 0]
    if not pts:
        return None
    xs = [x for x, _ in pts]
    if len(set(xs)) < 2:
        return 0.0, sum(y for _, y in pts) / sum(xs)
    mx, my = statistics.fmean(xs), statistics.fmean(y for _, y in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x in xs)
    if slope <= 0:  # noise swamps the per-item part: charge the mean to the fixed part
        return my, 0.0
    fixed = my - slope * mx
    if fixed < 0:  # the line through the origin instead
        return 0.0, sum(x * y for x, y in pts) / sum(x * x for x in xs)
    return fixed, slope


def _sub(cfg: dict[str, Any], part: str) -> dict[str, Any]:
    v = cfg.get(part)
    return v if isinstance(v, dict) else {}


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# -- sizes of the splits --------------------------------------------------------------------------------------------
def _capped(n: int, *limits: int | None) -> int:
    return min([n] + [x for x in limits if x is not None])


@dataclass(frozen=True)
class Sizes:
    """The rows a job on a dataset reads, as an estimate needs them: how many, and what one is called."""

    train: int  # training rows less the validation rows, cut to the limit
    val: int
    test: int
    unsup: int  # unlabelled texts (word2vec reads them)
    noun: str  # "reviews" (IMDB) or "texts"
    dataset: str
    counted: bool = True  # False: IMDB's published sizes (its archive has not been read here yet)

    def of(self) -> str:
        """``of imdb``, saying when the sizes are IMDB's published ones rather than counted here."""
        return f"of {self.dataset}" + ("" if self.counted else " (IMDB's published sizes: its archive has not been "
                                                               "read here yet)")


def split_sizes(data: DataConfig, test_limit: int | None = None) -> Sizes:
    """How many texts of each split a job with ``data`` reads, from the dataset's own counts
    (:func:`core.data.datasets.dataset_info`: cheap, no text read). IMDB not found yet counts as its
    published sizes (it is the one dataset whose sizes are known before it is here); another dataset that
    cannot be read raises :class:`~core.data.imdb.DataError`, and the estimates say they have none."""
    try:
        info = dataset_info(data.dataset, data.imdb_path)
    except DataError:
        if dataset_name(data.dataset) != BUILTIN_DATASET:
            raise
        info = DatasetInfo(BUILTIN_DATASET, IMDB_CLASSES, IMDB_SIZES["train"], IMDB_SIZES["test"], 0,
                           IMDB_SIZES["unsup"], counted=False)
    if info.val:
        val = info.val
        train = info.train_rows
    else:
        val = data.val_size if data.val_size is not None else min(default_val_size(info.train_rows),
                                                                   largest_val_size(info.train))
        train = max(0, info.train_rows - val)
    return Sizes(max(1, _capped(train, data.limit)), _capped(val, data.limit),
                 _capped(info.test, data.limit, test_limit), _capped(info.unsup, data.limit), info.noun, info.name,
                 info.counted)


# -- the GMM-HMM -----------------------------------------------------------------------------------------------------
def _hmm_work(h: dict[str, Any] | HMMConfig) -> float:
    """Fitting work per training review relative to the defaults: states x mix x restarts x iterations."""
    get = h.get if isinstance(h, dict) else (lambda k, d=None: getattr(h, k, d))
    vals = [get(k) for k in ("states", "mix", "restarts", "n_iter")]
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10_000 for v in vals):
        return 0.0
    return math.prod(vals) / HMM_WORK


def hmm_rates(store: Any) -> tuple[dict[str, float], int]:
    """Median fitting, scoring and preparation rates of the finished GMM-HMM runs, and how many were measured."""
    fit, score, prep = [], [], []
    for cfg, tm, _ in _finished(store, "hmm"):
        work = _hmm_work(_sub(cfg, "hmm"))
        fit_s = _num(tm, "fit_time_s", hi=MAX_SECONDS, positive=True)
        n_train = _num(tm, "train_size", 1)
        n_test = _num(tm, "test_size", 1)
        per_s = _num(tm, "inference_samples_per_s", hi=1e7, positive=True)
        if not (work and fit_s and n_train and n_test and per_s):
            continue
        fit.append(fit_s / (n_train * work))
        score.append(1.0 / per_s)
        wall = _num(tm, "wall_time_s", hi=MAX_SECONDS)
        data = _sub(cfg, "data")
        val = _capped(int(_num(data, "val_size") or 0), int(_num(data, "limit", 1) or MAX_COUNT))
        if wall is not None:
            prep.append(max(0.0, wall - fit_s - (n_test + val) / per_s))
    if not fit:
        return {}, 0
    return {"fit": _median(fit), "score": _median(score), "prepare": _median(prep) or 0.0}, len(fit)


def _classes(data: DataConfig) -> int:
    try:
        return len(dataset_info(data.dataset, data.imdb_path).classes)
    except (DataError, OSError, ValueError):
        return 2


def hmm_seconds(cfg: HMMRunConfig, store: Any) -> Estimate:
    """The wall time of a GMM-HMM fit: fitting (per training text, times states x mix x restarts x iterations),
    scoring (per test and validation text, per class model: the whole test split unless limited) and preparation."""
    rates, n = hmm_rates(store)
    if n:
        source = f"from {plural(n, 'finished GMM-HMM run')}"
    else:
        rates = {"fit": REFERENCE_HMM_FIT_S_PER_REVIEW, "score": REFERENCE_HMM_SCORE_S_PER_REVIEW,
                 "prepare": REFERENCE_HMM_PREPARE_S}
        source = f"No GMM-HMM has finished here yet: {REFERENCE_NOTE}"
    h = cfg.hmm
    try:
        sizes = split_sizes(cfg.data, h.test_limit)
    except DataError as e:
        return Estimate(None, f"No estimate: {e}", unknown=("the GMM-HMM",))
    n_train, n_test, n_val, noun = _capped(sizes.train, h.limit), sizes.test, sizes.val, sizes.noun
    work = _hmm_work(h)
    # fitting: one model per class (the rates were measured on two classes, each fitted on its share of the texts);
    # scoring: every text under every class model
    classes = _classes(cfg.data)
    fitting = n_train * work * rates["fit"]
    scoring = (n_test + n_val) * rates["score"] * classes / 2
    parts = (("fitting", fitting), ("scoring", scoring), ("preparing", rates["prepare"]))
    basis = (f"{source}: {rates['fit']:.3g} s per training text fitting (at M=4, k=2, 3 restarts, 20 iterations; "
             f"this fit: {n_train:,} {noun} {sizes.of()}, {work:.3g}x that work), {rates['score'] * 1000:.3g} "
             f"ms per text scoring with two class models ({n_test:,} test + {n_val:,} validation {noun}, "
             f"{classes} class models).")
    return Estimate(fitting + scoring + rates["prepare"], basis, parts)


# -- word2vec ----------------------------------------------------------------------------------------------------------
def _w2v_work(w: dict[str, Any] | Word2VecConfig) -> float:
    """Training work per token and epoch relative to the defaults: dim x (negative + 1), x window for skip-gram
    (each word predicts every context word), which CBOW averages into one prediction."""
    get = w.get if isinstance(w, dict) else (lambda k, d=None: getattr(w, k, d))
    dim, neg, win, algo = get("dim"), get("negative"), get("window"), get("algo")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10_000 for v in (dim, neg, win)):
        return 0.0
    return dim * (neg + 1) * (win if algo == "skipgram" else 1) / (100 * 6 * (5 if algo == "skipgram" else 1))


def word2vec_rates(store: Any, algo: str) -> tuple[dict[str, float], int]:
    """The finished word2vec runs of ``algo``: median training seconds per token-epoch (at the defaults, see
    :func:`_w2v_work`), preprocessing as fixed seconds plus seconds per review, tokens per review; and how many."""
    train, prep, tokens = [], [], []
    for cfg, _, run in _finished(store, "word2vec"):
        w = _sub(cfg, "word2vec")
        if w.get("algo") != algo:
            continue
        try:
            info = run.read_json(WORD2VEC_FILE)
        except (OSError, ValueError):
            continue
        t = _num(info, "train_time_s", hi=MAX_SECONDS, positive=True)
        corpus = _num(info, "corpus_tokens", 1)
        epochs = _num(w, "epochs", 1, 1000)
        work = _w2v_work(w)
        if not (t and corpus and epochs and work):
            continue
        train.append(t / (corpus * epochs * work))
        reviews = (_num(info, "reviews_train") or 0) + (_num(info, "reviews_unsup") or 0)
        sentences = _num(info, "sentences", 1)
        p = _num(info, "preprocess_time_s", hi=MAX_SECONDS)
        if reviews and p is not None:
            prep.append((reviews, p))
        if sentences:
            tokens.append(corpus / sentences)
    if not train:
        return {}, 0
    fixed, per_review = fixed_and_rate(prep) or (REFERENCE_W2V_PREPARE_S, REFERENCE_W2V_PREPARE_S_PER_REVIEW)
    return {"train": _median(train), "prepare_fixed": fixed, "prepare": per_review,
            "tokens": _median(tokens) or REFERENCE_TOKENS_PER_REVIEW}, len(train)


def word2vec_seconds(cfg: Word2VecRunConfig, store: Any) -> Estimate:
    """The wall time of word2vec training: preprocessing (fixed, plus per review) and training (per token and
    epoch, scaled by the dimensions, negative samples and, for skip-gram, the window)."""
    w = cfg.word2vec
    rates, n = word2vec_rates(store, w.algo)
    if n:
        source = f"from {plural(n, f'finished {w.algo} word2vec run')}"
    else:
        rates = {"train": REFERENCE_W2V_S_PER_TOKEN_EPOCH[w.algo], "prepare_fixed": REFERENCE_W2V_PREPARE_S,
                 "prepare": REFERENCE_W2V_PREPARE_S_PER_REVIEW, "tokens": REFERENCE_TOKENS_PER_REVIEW}
        source = f"No {w.algo} word2vec run has finished here yet: {REFERENCE_NOTE}"
    try:
        sizes = split_sizes(cfg.data)
    except DataError as e:
        return Estimate(None, f"No estimate: {e}", unknown=("word2vec",))
    texts = sizes.train + sizes.unsup
    tokens = texts * rates["tokens"]
    training = tokens * w.epochs * _w2v_work(w) * rates["train"]
    preparing = rates["prepare_fixed"] + texts * rates["prepare"]
    basis = (f"{source}: {rates['train'] * 1e6:.3g} µs per token and epoch at the default settings (this run: "
             f"about {tokens:,.0f} tokens from {texts:,} {sizes.noun} {sizes.of()}, {w.epochs} epochs), "
             f"preprocessing {rates['prepare_fixed']:.3g} s plus {rates['prepare'] * 1000:.2g} ms per text.")
    return Estimate(training + preparing, basis, (("preprocessing", preparing), ("training", training)))


# -- an RNN training ------------------------------------------------------------------------------------------------
def _rnn_key(d: dict[str, Any]) -> tuple:
    """What decides a training's speed: the task (for text, the dataset: its lengths set a bucketed batch's), the cell
    and its size, the batching, the length and the device."""
    m, t, x = _sub(d, "model"), _sub(d, "train"), _sub(d, "text")
    text = t.get("task") == TEXT_TASK
    dataset = _sub(d, "data").get("dataset") if text else None
    return (t.get("task"), dataset if isinstance(dataset, str) and dataset != BUILTIN_DATASET else None,
            m.get("cell"), m.get("hidden_size"), m.get("embedding_dim"), m.get("num_layers"), m.get("bidirectional"),
            t.get("batching"), t.get("batch_size"), t.get("device"), t.get("tbptt"),
            x.get("max_len") if text else t.get("seq_len"))


def _samples(cfg: RunConfig) -> tuple[int, int, str]:
    """(training samples over all epochs, test samples, what they are) of an RNN run: ``21,000 samples of imdb:
    7,000 training reviews (the limit) x 3 epochs``."""
    if cfg.train.task == TEXT_TASK:
        sizes = split_sizes(cfg.data)
        cut = " (the limit)" if cfg.data.limit is not None and sizes.train == cfg.data.limit else ""
        samples = sizes.train * cfg.train.epochs
        then = f", then {sizes.test:,} test {sizes.noun}" if sizes.test else ""
        what = (f"{samples:,} samples {sizes.of()}: {sizes.train:,} training {sizes.noun}{cut} x "
                f"{plural(cfg.train.epochs, 'epoch')}{then}")
        return samples, sizes.test, what
    samples = cfg.train.train_steps * cfg.train.batch_size
    return samples, 0, f"{samples:,} samples: {cfg.train.train_steps:,} steps of {cfg.train.batch_size}"


def training_seconds(cfg: RunConfig, store: Any) -> Estimate:
    """The wall time of an RNN training, from finished runs with the same task (dataset), cell, sizes, batching and
    device: training samples (texts x epochs) at their samples per second, and the test pass at their test rate."""
    try:
        samples, tests, sized = _samples(cfg)
    except DataError as e:  # a dataset that cannot be read: its size is unknown, and so is the time
        return Estimate(None, f"No estimate: {e}", unknown=(f"the {cfg.model.cell.upper()} training",))
    want = _rnn_key(cfg.to_dict())
    train, test, over = [], [], []
    for _, tm, _ in _finished(store, "rnn", lambda d: _rnn_key(d) == want):
        per_s = _num(tm, "train_samples_per_s", hi=1e8, positive=True)
        t = _num(tm, "train_time_s", hi=MAX_SECONDS, positive=True)
        if not (per_s and t):
            continue
        train.append(1.0 / per_s)
        inf = _num(tm, "inference_samples_per_s", hi=1e8, positive=True)
        n = _num(tm, "n", 1)
        if inf:
            test.append(1.0 / inf)
        wall = _num(tm, "wall_time_s", hi=MAX_SECONDS)
        if wall is not None:
            over.append(max(0.0, wall - t - ((n or 0) / inf if inf else 0.0)))
    on = dataset_name(cfg.data.dataset) if cfg.train.task == TEXT_TASK else cfg.train.task
    what = f"{cfg.model.cell.upper()} ({on}, hidden {cfg.model.hidden_size}, {cfg.train.batching} batches)"
    if train:
        source = f"from {plural(len(train), f'finished {what} run')}"
        per_sample, per_test, other = _median(train), _median(test) or 0.0, _median(over) or 0.0
    else:
        per_s = _reference_rnn_rate(cfg)
        if per_s is None:
            return Estimate(None, f"No {what} training with these sizes has finished here yet: nothing to measure "
                                  "from.", unknown=(f"the {cfg.model.cell.upper()} training",), work=sized)
        where = "" if cfg.train.task != TEXT_TASK or dataset_name(cfg.data.dataset) == BUILTIN_DATASET else " on IMDB"
        source = f"No {what} run with these sizes has finished here yet: {REFERENCE_NOTE}{where}"
        per_sample, per_test = 1.0 / per_s, 1.0 / (per_s * REFERENCE_RNN_TEST_SPEEDUP)
        other = REFERENCE_RNN_PREPARE_S
    training, testing = samples * per_sample, tests * per_test
    basis = f"{source}: {1 / per_sample:,.0f} training samples per second."
    return Estimate(training + testing + other, basis, (("training", training), ("testing", testing),
                                                        ("preparing", other)), work=sized)


def training_seconds_each(cfgs: list[RunConfig], store: Any) -> list[float | None]:
    """:func:`training_seconds` of each config, worked out once per config up to its seed (runs that differ only
    by their seed take as long), so a sweep of many seeds reads the store once per point, not once per run."""
    from dataclasses import replace

    seconds: dict[RunConfig, float | None] = {}
    out = []
    for cfg in cfgs:
        key = replace(cfg, train=replace(cfg.train, seed=0))
        if key not in seconds:
            seconds[key] = training_seconds(key, store).seconds
        out.append(seconds[key])
    return out


def _reference_rnn_rate(cfg: RunConfig) -> float | None:
    """The reference samples per second of ``cfg``'s cell and batching, only for the default sizes on a CPU.

    A bidirectional model is taken to train at half the rate (an assumption, said in the estimate's
    basis through REFERENCE_NOTE; its first finished run replaces it with a measurement).
    """
    sizes = {**{k: getattr(cfg.model, k) for k in ("hidden_size", "embedding_dim", "num_layers")},
             "bidirectional": False, "batch_size": cfg.train.batch_size, "max_len": cfg.text.max_len,
             "tbptt": cfg.train.tbptt}
    if cfg.train.task != TEXT_TASK or sizes != REFERENCE_RNN_SIZES or cfg.train.device not in ("auto", "cpu"):
        return None
    rate = REFERENCE_RNN_SAMPLES_PER_S.get(cfg.train.batching, {}).get(cfg.model.cell)
    # reading both directions runs the recurrence twice, and the recurrence is most of the step's time
    return rate / 2 if rate and cfg.model.bidirectional else rate


# -- the memory-horizon study -----------------------------------------------------------------
def horizon_seconds(cfg: HorizonConfig, store: Any) -> Estimate:
    """The memory-horizon study's wall time, from finished studies: seconds per optimiser step and time step."""
    rates = []
    for _, _, run in _finished(store, "memory-horizon"):
        try:
            rows = run.read_json(RESULTS_FILE).get("rows", [])
        except (OSError, ValueError, AttributeError):
            continue
        work = sum((_num(r, "steps") or 0) * (_num(r, "seq_len", 1) or 0) for r in rows)
        t = sum(_num(r, "train_time_s", hi=MAX_SECONDS) or 0 for r in rows)
        if work > 0 and t > 0:
            rates.append(t / work)
    if rates:
        rate, source = _median(rates), f"from {plural(len(rates), 'finished memory-horizon study')}"
    else:
        rate = REFERENCE_HORIZON_S_PER_STEP_T
        source = f"No memory-horizon study has finished here yet: {REFERENCE_NOTE}"
    # the whole budget: a model stops at its first success, so this is an upper bound
    work = len(cfg.models) * cfg.steps * sum(cfg.lengths)
    s = work * rate
    return Estimate(s, f"{source}: {rate * 1000:.2g} ms per optimiser step and time step, at most the whole budget "
                       f"({cfg.steps:,} steps per model and length).", (("memory horizon", s),))


# -- comparisons: which test set each score comes from ----------------------------------------------------------------
@dataclass(frozen=True)
class TestSet:
    """The test set a run was scored on: its dataset, its size and how it was sampled from the split."""

    dataset: str
    size: int | None  # reviews scored; None when the run does not say
    sample: str  # "the whole split", "limit 2,000 (split seed 0)", ...

    __test__ = False  # not a pytest test class


def test_set(cfg: dict[str, Any], tm: dict[str, Any] | None) -> TestSet:
    """The test set behind a run's scores, from its config dict and test metrics (``n``, or the GMM-HMM's
    ``test_size``); every number is checked."""
    data, tm = _sub(cfg, "data"), tm or {}
    task = _sub(cfg, "train").get("task")
    dataset = next((d for d in (data.get("dataset"), task) if isinstance(d, str) and d), "imdb")
    size = _num(tm, "n", 1) or _num(tm, "test_size", 1)
    limit = _num(data, "limit", 1)
    seed = _num(data, "split_seed")
    test_limit = _num(_sub(cfg, "hmm"), "test_limit", 1) if cfg.get("kind") == "hmm" else None
    sample = "the whole split"
    if limit is not None:
        sample = f"limit {limit:,.0f} (split seed {seed or 0:.0f})"
    if test_limit is not None and (limit is None or test_limit < limit):
        sample = f"a GMM-HMM sample of {test_limit:,.0f} (seed {_num(_sub(cfg, 'hmm'), 'seed') or 0:.0f})"
    return TestSet(dataset, int(size) if size is not None else None, sample)


def test_set_note(sets: dict[str, TestSet]) -> str | None:
    """One plain sentence when the scores of the runs named (label -> test set) come from different test sets;
    None when they share one. Runs on the same set are named together: "RNN runs on 2,000 reviews"."""
    if len(set(sets.values())) <= 1:
        return None
    groups: dict[TestSet, list[str]] = {}
    for name, ts in sets.items():
        groups.setdefault(ts, []).append(name)
    datasets = {ts.dataset for ts in groups}

    def describe(ts: TestSet, names: list[str]) -> str:
        who = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        noun = "reviews" if ts.dataset == BUILTIN_DATASET else "texts"
        size = f"{ts.size:,} {noun}" if ts.size is not None else f"an unknown number of {noun}"
        where = f" of {ts.dataset}" if len(datasets) > 1 else ""
        how = f", {ts.sample}" if len({t.size for t in groups}) == 1 else ""
        return f"{who} on {size}{where}{how}"

    return ("These scores come from different test sets: "
            + "; ".join(describe(ts, names) for ts, names in groups.items())
            + ". A difference between them may come from the test sets, not the models.")


def run_test_set(store: Any, run_id: str) -> TestSet | None:
    """The test set behind a stored run's scores; None when the run is gone or its files cannot be read."""
    try:
        run = store.get(run_id)
        return test_set(run.config_dict(), run.test_metrics())
    except (OSError, ValueError, KeyError):  # deleted meanwhile, or damaged (DamagedRun is a ValueError)
        return None
