"""Frozen dataclass configs: one per concern, crossing every module boundary.

What it is: every setting of every job, each described once. A field's ``metadata`` (see
:func:`param`) carries its help text, bounds, choices, extra command-line spelling, whether the
Train form shows it up front and the tasks it applies to; :mod:`core.cliargs` builds the command
line and :mod:`dashboard.forms` the Train form from it, and :func:`validate` (run by every config
on construction) checks every value against it.

A training run is described by a :class:`RunConfig` (data + text + model + train); the other jobs
by :data:`JOB_CONFIGS`. Configs serialise to plain JSON (``to_dict``/``from_dict``, unknown keys
refused) for the run store. The defaults are the seed report's settings; presets (``seed``,
``fast``, ``lesson``) only override fields.

What it is not: it does no work, reads no file and imports nothing heavier than the standard library.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from functools import cache
from typing import Any, TypeVar

CLASSIC_CELLS = ("rnn", "lstm", "gru")  # PyTorch's fused cells, the seed's comparison: the studies' default
MODERN_CELLS = ("mingru", "minlstm", "lru")  # linear recurrences run by a parallel scan (core.models.recurrences)
CELLS = (*CLASSIC_CELLS, *MODERN_CELLS)
# Text classification, on IMDB or on any dataset added with `data add` (DataConfig.dataset). The name is
# older than the other datasets; stored runs say it, so it stays.
TEXT_TASK = "imdb"
BUILTIN_DATASET = "imdb"  # the dataset a DataConfig's dataset None names; the others are added with `data add`
SYNTHETIC_TASKS = ("adding", "order", "copy")  # long-range memory tasks on generated sequences (core.tasks.synthetic)
TASKS = (TEXT_TASK, *SYNTHETIC_TASKS)
PRESETS = ("seed", "fast", "lesson", "best")
LR_SCHEDULES = ("constant", "linear", "cosine")
# TrainConfig.embeddings: the newest word2vec run on the same texts and preprocessing, trained first if none
# (core.jobs.vectors)
AUTO_VECTORS = "auto"
DEVICES = ("auto", "cpu", "cuda", "mps")  # and "cuda:N" (see DEVICE_PATTERN)
DEVICE_PATTERN = r"cuda:\d+"
COVARIANCE_TYPES = ("diag", "spherical", "full", "tied")
ALGOS = ("cbow", "skipgram")
# What the classifier reads from the last layer's states: the state at the last token (the seed's), or the mean,
# the max or both over the text's own steps (padding excluded). core.models.rnn computes them.
READOUTS = ("last", "mean", "max", "mean_max")
EXECUTORS = ("local", "ray")  # where a sweep's or an experiment's trainings run (core.sweep.executors)
HORIZON_LENGTHS = (10, 25, 50, 100, 200)
# each synthetic task's shortest sequence: the temporal-order problem needs room for B, E and two symbols at distinct
# steps, the copy task for its symbols, one blank and the recall marker (core.tasks.synthetic)
SYNTHETIC_MIN_LEN = {"adding": 2, "order": 6, "copy": 5}
SYNTHETIC_TITLES = {"adding": "the adding problem", "order": "the temporal-order problem", "copy": "the copy task"}
DATA_ACTIONS = ("download", "install")

# What a field applies to, for the Train form: the IMDB task only, or the synthetic tasks only.
TEXT, SYNTHETIC = "text", "synthetic"
# Upper bounds: generous above any sensible use, low enough that no single setting can exhaust a
# 24 GiB machine (a 500k-word vocabulary of 2048-wide vectors is 4 GiB, 16 GiB with Adam's state).
SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit
REVIEWS_MAX = 100_000  # IMDB has 25,000 reviews per labelled split and 50,000 unlabelled ones
# A limited split is a balanced sample, so it holds both labels only from two texts on; with one, the
# training split has one label and the test split the other (a run "finishes" at accuracy 0).
LIMIT_MIN = 2
VOCAB_MAX = 500_000
WIDTH_MAX = 4096  # hidden units, input features
EMBEDDING_MAX = 2048
BATCH_MAX = 4096
SEQ_MAX = 10_000  # time steps of a synthetic sequence
STEPS_MAX = 1_000_000  # optimiser steps
THREADS_MAX = 1024


def param(default: Any, help: str, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
          hi_open: bool = False, choices: tuple[str, ...] | None = None, pattern: str | None = None,
          flag: str | None = None, main: bool = False, applies: str | None = None, internal: bool = False) -> Any:
    """A dataclass field with its description in ``metadata``.

    ``help``: one line. ``lo``/``hi``: bounds, inclusive unless ``lo_open``/``hi_open`` (they apply
    to each item of a tuple). ``choices``: the values a string may take; ``pattern``: a regular
    expression for further accepted strings (``cuda:1``). ``flag``: an older command-line spelling
    kept beside ``--field-name``. ``main``: the Train form shows it up front. ``applies``: ``TEXT``
    or ``SYNTHETIC`` when it means something for those tasks only. ``internal``: set by the code,
    not by users (no flag, not in the form).
    """
    meta = {"help": help, "min": lo, "max": hi, "min_open": lo_open, "max_open": hi_open, "choices": choices,
            "pattern": pattern, "flag": flag, "main": main, "applies": applies, "internal": internal}
    return field(default=default, metadata=meta)


def part(cls: type, help: str) -> Any:
    """A field holding a sub-config (``RunConfig.model``), built from the sub-config's defaults."""
    return field(default_factory=cls, metadata={"help": help})


# -- validation and JSON, for every config ---------------------------------------------------------------------
@cache
def type_hints(cls: type) -> dict[str, Any]:
    """The resolved annotation of each field of a config class."""
    return typing.get_type_hints(cls)


def split_optional(hint: Any) -> tuple[bool, Any]:
    """``int | None`` -> (True, int); ``int`` -> (False, int)."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return len(args) < len(typing.get_args(hint)), args[0]
    return False, hint


def _is_type(value: Any, kind: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not to us
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind)


def _number(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


# -- values in messages: a long list is summarised, so an error about 999 classes is still one readable line ------
SHOWN_ITEMS = 5  # the items of a long list a message names before it counts the rest
SHOWN_CHARS = 60  # the characters of one item a message shows


def first_few(items: Iterable[Any], show: Callable[[Any], str] = repr, n: int = SHOWN_ITEMS, sep: str = ", ") -> str:
    """The first ``n`` items, each cut to :data:`SHOWN_CHARS`, then how many more: a list for an error message.

    ``['neg', 'pos']`` -> ``"'neg', 'pos'"``; 999 class names -> ``"'c000', 'c001', 'c002', 'c003', 'c004' and 994
    more"``. For the messages that name the classes, columns or values of a user's data or settings.
    """
    items = list(items)
    shown = sep.join(t if len(t := show(x)) <= SHOWN_CHARS else t[:SHOWN_CHARS - 1] + "…" for x in items[:n])
    return shown if len(items) <= n else f"{shown} and {len(items) - n:,} more"


def shown_value(value: Any) -> str:
    """``value`` as a message shows it: a tuple or list by its first few items (:func:`first_few`), else its repr,
    cut to :data:`SHOWN_CHARS`."""
    if isinstance(value, tuple | list):
        return f"({first_few(value)})" if isinstance(value, tuple) else f"[{first_few(value)}]"
    return first_few([value])


def allowed(f: dataclasses.Field, hint: Any) -> str:
    """What a field accepts, in words: ``an int in [1, 4096]``, ``None or one of 'pre', 'post'``."""
    meta, (optional, kind) = f.metadata, split_optional(hint)
    many = typing.get_origin(kind) is tuple
    item = typing.get_args(kind)[0] if many else kind
    text = getattr(item, "__name__", str(item))
    text = f"an {text}" if text[0] in "aeiou" else f"a {text}"
    if meta.get("choices"):
        text = "one of " + ", ".join(repr(c) for c in meta["choices"])
        if meta.get("pattern"):
            text += f" or a string matching {meta['pattern']}"
    elif meta.get("min") is not None or meta.get("max") is not None:
        lo = "-inf" if meta.get("min") is None else _number(meta["min"])
        hi = "inf" if meta.get("max") is None else _number(meta["max"])
        text += f" in {'(' if meta.get('min_open') else '['}{lo}, {hi}{')' if meta.get('max_open') else ']'}"
    if many:
        text = f"a non-empty tuple, each item {text}"
    return f"None or {text}" if optional else text


def _item_ok(value: Any, kind: Any, meta: Any) -> bool:
    if not _is_type(value, kind):
        return False
    choices, pattern = meta.get("choices"), meta.get("pattern")
    if choices is not None or pattern is not None:
        return value in (choices or ()) or bool(pattern and re.fullmatch(pattern, value))
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and not (value > lo if meta.get("min_open") else value >= lo):
        return False
    return hi is None or (value < hi if meta.get("max_open") else value <= hi)


def _first_wrong(value: Any, kind: Any, meta: Any) -> str:
    """`` (item i: v)`` for the first wrong item of a tuple field's value; "" when there is none to point at."""
    if typing.get_origin(kind) is not tuple or not isinstance(value, tuple):
        return ""
    item = typing.get_args(kind)[0]
    return next((f" (item {i}: {shown_value(v)})" for i, v in enumerate(value) if not _item_ok(v, item, meta)), "")


def validate(cfg: Any) -> None:
    """Check every field of a config against its annotation and metadata; ``ValueError`` names what is wrong.

    Types: a bool is not an int, an int is a float; None only where the annotation allows it; a
    tuple field holds at least one item, each checked. Then bounds and choices.
    """
    cls = type(cfg)
    for f in fields(cls):
        value, hint = getattr(cfg, f.name), type_hints(cls)[f.name]
        optional, kind = split_optional(hint)
        if value is None:
            ok = optional
        elif dataclasses.is_dataclass(kind):
            ok = isinstance(value, kind)
        elif typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            ok = isinstance(value, tuple) and bool(value) and all(_item_ok(v, item, f.metadata) for v in value)
        else:
            ok = _item_ok(value, kind, f.metadata)
        if not ok:  # a long tuple is named by its first items and the first one that is wrong
            raise ValueError(f"{cls.__name__}.{f.name} = {shown_value(value)}{_first_wrong(value, kind, f.metadata)}: "
                             f"expected {allowed(f, hint)}")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A config as plain JSON-ready data: nested configs become dicts, tuples lists."""
    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return [plain(x) for x in v] if isinstance(v, tuple | list) else v
    return plain(dataclasses.asdict(cfg))


C = TypeVar("C")


def config_from_dict(cls: type[C], d: Any) -> C:
    """Inverse of :func:`config_to_dict`: nested configs from dicts, tuples from JSON lists, missing keys
    from the defaults. Unknown keys are refused so a typo never passes silently; the values are checked
    by the config itself (``ValueError``)."""
    if not isinstance(d, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(d).__name__}")
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {first_few(sorted(unknown))}")
    kwargs = {}
    for name, value in d.items():
        kind = split_optional(type_hints(cls)[name])[1]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = config_from_dict(kind, value)
        elif typing.get_origin(kind) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


class _Config:
    """What every config shares: validation on construction and the JSON form."""

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        return config_from_dict(cls, d)


# -- a training run ---------------------------------------------------------------------------------------------
VAL_SHARE = 0.1  # of the training rows, held out for checkpoint selection when DataConfig.val_size is none
VAL_MAX = 2500  # ... at most: IMDB's 25,000 training reviews give the seed's 2,500


def default_val_size(train_rows: int) -> int:
    """The validation rows carved from ``train_rows`` training rows when ``DataConfig.val_size`` is none."""
    return min(VAL_MAX, round(VAL_SHARE * train_rows))


SMALL_CORPUS = 1000  # texts: word2vec keeps every word of a smaller corpus (default_min_count)


def default_min_count(texts: int) -> int:
    """word2vec's ``min_count`` when none is given: gensim's 5, or 1 on a corpus of under :data:`SMALL_CORPUS` texts."""
    return 1 if texts < SMALL_CORPUS else 5


@dataclass(frozen=True)
class DataConfig(_Config):
    imdb_path: str | None = param(None, "aclImdb_v1.tar.gz or an extracted aclImdb/ folder; none = $RNNLAB_IMDB, "
                                        "the cache, a download", flag="--imdb", applies=TEXT)
    val_size: int | None = param(None, "training rows held out (seeded) to choose the best checkpoint; none = 10% "
                                       "of them, at most 2,500 (IMDB: 2,500); a dataset's own validation split "
                                       "is kept", lo=0, hi=REVIEWS_MAX, main=True, applies=TEXT)
    split_seed: int = param(0, "seed of the train/validation split", lo=0, hi=SEED_MAX, applies=TEXT)
    limit: int | None = param(None, "at most N texts per split, balanced by class (at least one of each class); "
                                    "none = all", lo=LIMIT_MIN, hi=REVIEWS_MAX, main=True, applies=TEXT)
    dataset: str | None = param(None, "a dataset added with `data add` (core.data.sources); none or 'imdb' = IMDB",
                                pattern=r"[A-Za-z0-9_-]{1,64}", applies=TEXT)


@dataclass(frozen=True)
class TextConfig(_Config):
    lowercase: bool = param(True, "lowercase every text first", applies=TEXT)
    expand_abbreviations: bool = param(True, 'expand chat abbreviations: "u" -> "you", "pls" -> "please"',
                                       applies=TEXT)
    strip_html: bool = param(True, "remove HTML tags (IMDB reviews contain <br />)", applies=TEXT)
    remove_non_alnum: bool = param(True, "punctuation and emoji become spaces", applies=TEXT)
    strip_whitespace: bool = param(True, "collapse runs of whitespace", applies=TEXT)
    remove_stopwords: bool = param(True, "drop NLTK's English stop words (the seed's choice)", flag="--stopwords",
                                   applies=TEXT)
    keep_negations: bool = param(False, 'keep "not", "no", "nor" and the n\'t forms despite the stop list',
                                 main=True, applies=TEXT)
    max_vocab: int | None = param(20000, "most frequent training words kept; none = all", lo=1, hi=VOCAB_MAX,
                                  applies=TEXT)
    min_freq: int = param(2, "words seen fewer times in training map to <unk>", lo=1, hi=REVIEWS_MAX, applies=TEXT)
    max_len: int = param(500, "tokens kept per text", lo=1, hi=20_000, applies=TEXT)
    truncate: str = param("pre", 'which end of a long text is cut: "pre" the start (the verdict is often last), '
                                 '"post" the end', choices=("pre", "post"), applies=TEXT)


@dataclass(frozen=True)
class ModelConfig(_Config):
    cell: str = param("lstm", "recurrent cell: rnn (tanh), lstm, gru, or a modern one run by a parallel scan: mingru, "
                              "minlstm, lru", choices=CELLS, flag="--model")
    vocab_size: int = param(2, "words in the vocabulary, set from it (0 = <unk>, 1 = <pad>)", lo=2, hi=VOCAB_MAX + 2,
                            internal=True)
    embedding_dim: int = param(100, "size of each word vector", lo=1, hi=EMBEDDING_MAX, main=True, applies=TEXT)
    hidden_size: int = param(50, "units in the recurrent state h", lo=1, hi=WIDTH_MAX, flag="--hidden", main=True)
    num_layers: int = param(1, "stacked recurrent layers", lo=1, hi=16, flag="--layers", main=True)
    bidirectional: bool = param(False, "also read each sequence backwards", main=True)
    readout: str = param("last", "what the output layer reads: the state at the last token, or the mean, the max or "
                                 "both (mean_max: twice the features) over the text's own steps",
                         choices=READOUTS)
    dropout: float = param(0.5, "dropout after the recurrent layer (and between stacked layers)", lo=0, hi=1,
                           hi_open=True)
    embedding_dropout: float = param(0.0, "dropout on the word vectors before the recurrent layer (the seed has "
                                           "none)", lo=0, hi=1, hi_open=True, applies=TEXT)
    output_size: int = param(1, "outputs: one logit for binary tasks, one value for the adding problem", lo=1,
                             hi=WIDTH_MAX, internal=True)
    input_size: int | None = param(None, "features per step of real-valued inputs (synthetic tasks: no embedding)",
                                   lo=1, hi=WIDTH_MAX, internal=True)
    recurrent_init_radius: float | None = param(None, "rescale W_hh to this spectral radius at initialisation "
                                                      "(the explosion demo); none = PyTorch's initialisation",
                                                lo=0, lo_open=True, hi=100, flag="--init-radius")

    def __post_init__(self) -> None:
        validate(self)
        if self.recurrent_init_radius is not None and self.cell not in CLASSIC_CELLS:
            raise ValueError(f"ModelConfig.recurrent_init_radius = {self.recurrent_init_radius!r}: a {self.cell} has "
                             "no recurrent matrix W_hh to rescale (it is for the classic cells: "
                             f"{', '.join(CLASSIC_CELLS)})")


@dataclass(frozen=True)
class TrainConfig(_Config):
    task: str = param(TEXT_TASK, "imdb: text classification (IMDB or DataConfig.dataset), or a synthetic memory "
                                 "task: adding, order, copy", choices=TASKS)
    preset: str = param("seed", "the preset the other settings start from", choices=PRESETS)
    epochs: int = param(5, "passes over the training split (a synthetic task: evaluations over its steps)", lo=1,
                        hi=1000, main=True)
    batch_size: int = param(50, "texts (or sequences) per optimiser step", lo=1, hi=BATCH_MAX, main=True)
    lr: float = param(1e-3, "learning rate", lo=0, lo_open=True, hi=10, main=True)
    lr_schedule: str = param("constant", "learning rate over the run: constant (the seed's), or decayed to zero "
                                         "step by step, linearly or along a half cosine", choices=LR_SCHEDULES)
    embedding_lr_scale: float = param(1.0, "the embedding layer's learning rate as a share of lr: below 1 the word "
                                           "vectors move more slowly than the rest (the seed: 1, the same)", lo=0,
                                      hi=1, applies=TEXT)
    weight_decay: float = param(0.0, "L2 penalty the optimiser adds to every gradient (the seed has none)", lo=0,
                                hi=1)
    optimizer: str = param("adam", "adam, or plain sgd (the exploding-gradient demonstration)", choices=("adam", "sgd"))
    clip_norm: float | None = param(5.0, "global gradient-norm clipping threshold; none (or 0) = off", lo=0,
                                    lo_open=True, hi=1e6, flag="--clip")
    batching: str = param("fixed", '"fixed": every text padded/cut to max_len at the front; "bucket": batches of '
                                   "similar lengths", choices=("fixed", "bucket"), applies=TEXT)
    seed: int = param(0, "seed of the initial weights and the shuffling", lo=0, hi=SEED_MAX)
    device: str = param("auto", "auto picks CUDA, then Apple MPS, then the CPU; or cpu, cuda, cuda:N, mps",
                        choices=DEVICES, pattern=DEVICE_PATTERN)
    threads: int | None = param(None, "torch threads on the CPU; none = leave as is", lo=1, hi=THREADS_MAX)
    flush_denormals: bool = param(True, "CPU: flush denormal floats to zero while training (several times faster)")
    bf16: bool = param(False, "bf16 autocast (CUDA only)")
    tbptt: int | None = param(None, "truncated BPTT: detach the state every N steps; none = full backpropagation",
                              lo=1, hi=100_000, main=True)
    record_gradients: bool = param(False, "record per-time-step gradient norms (core.analysis.gradients)", main=True)
    probe_every: int = param(100, "optimiser steps between gradient recordings", lo=1, hi=STEPS_MAX)
    probe_size: int = param(64, "validation texts (or sequences) in the fixed probe batch", lo=1, hi=BATCH_MAX)
    embeddings: str | None = param(None, "word2vec run whose vectors initialise the embedding layer; auto = the "
                                         "newest on the same texts and preprocessing, trained first if there is none",
                                   applies=TEXT)
    freeze_embeddings: bool = param(False, "keep the word2vec vectors fixed during training", applies=TEXT)
    seq_len: int = param(50, "sequence length T of the synthetic task (adding, temporal order, copy)", lo=2,
                         hi=SEQ_MAX, main=True, applies=SYNTHETIC)
    train_steps: int = param(2000, "optimiser steps of a synthetic task (it has no epochs)", lo=1, hi=STEPS_MAX,
                             main=True, applies=SYNTHETIC)


@dataclass(frozen=True)
class RunConfig(_Config):
    data: DataConfig = part(DataConfig, "the dataset and its split")
    text: TextConfig = part(TextConfig, "the preprocessing pipeline and the vocabulary")
    model: ModelConfig = part(ModelConfig, "the recurrent network")
    train: TrainConfig = part(TrainConfig, "the task, the optimiser and the training loop")


# The ``lesson`` preset's settings over ``fast``: reviews per split (the test split too, so its accuracy is
# measured on 7,000 reviews), passes, and the gradient recording the Gradients page draws.
LESSON = types.MappingProxyType({"limit": 7000, "epochs": 3, "record_gradients": True})


# The ``best`` preset's settings over ``fast``: the best the seed's model size (one layer, embedding 100, hidden
# 50, 5 epochs) reached on IMDB in studies/best-1-text.toml .. best-7-validation.toml, chosen by validation loss
# (docs/sweeps/best-*/). Its vectors: the newest word2vec run on the same texts and preprocessing, trained first
# when there is none, then trained at a tenth of the learning rate (stage 5, chosen on 5,000 validation reviews by
# stage 7).
# Measured 2026-12-07 over seeds 0, 1, 2 on IMDB's 25,000 test reviews: 0.9080 +- 0.0008 (fast GRU: 0.859 +- 0.001).
BEST = types.MappingProxyType({"cell": "gru", "readout": "last", "remove_stopwords": False, "keep_negations": True,
                               "max_vocab": 50_000, "max_len": 1000, "dropout": 0.3, "embeddings": AUTO_VECTORS,
                               "embedding_lr_scale": 0.1})


def preset(name: str, cell: str | None = None, **overrides: Any) -> RunConfig:
    """The named preset for a cell type (none: the preset's own, else ``lstm``), with any field overridden by name.

    ``seed``: the seed report's settings (fixed-length front padding to 500 tokens).
    ``fast``: the same model and optimiser over length-bucketed batches, the fastest
    measured settings (see ``bench/bench_train.py``).
    ``lesson``: ``fast`` on 7,000 reviews per split (balanced; the test split too), 3 epochs,
    gradients recorded (:data:`LESSON`): the cheapest measured setting under which the gated
    cells clearly beat the vanilla RNN and the recorded gradients show why. Measured on
    2026-12-01 with ``bench/lesson.py`` on a shared 2-core CPU (load 1.9-3.3), seeds 0, 1, 2:
    test accuracy RNN 0.676 / 0.697 / 0.701, LSTM 0.786 / 0.793 / 0.773, GRU 0.782 / 0.789 /
    0.793; the three cells one after another in 98-122 s of wall time (46-50 s on a quiet 2-core CPU on
    2026-12-08, after the CPU kernel, fused Adam and background recording; README, "Speed"); the median ratio
    ``||dL/dh_{T-50}|| / ||dL/dh_T||`` after training 3e-7 to 1.3e-4 (RNN) against 0.017-0.034
    (LSTM) and 0.036-0.067 (GRU), at k = 100 2e-15 to 5e-7 against 2e-4 to 8e-3. Every setting
    tried is in ``docs/lesson/``.
    ``best``: ``fast`` with the settings of :data:`BEST`, found by the committed study
    ``studies/best-*.toml`` (seven stages of screening, then confirmation, by validation loss); its cell
    is the GRU unless one is given, and a text task's embeddings start from word2vec vectors (``auto``).
    Overrides are given by field name (``epochs=1``, ``hidden_size=32``) and routed to
    whichever config owns the field.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {PRESETS}")
    own = dict(BEST) if name == "best" else {}
    cfg = RunConfig(model=ModelConfig(cell=cell or own.pop("cell", "lstm")), train=TrainConfig(preset=name))
    own.pop("cell", None)
    if name in ("fast", "lesson", "best"):
        cfg = replace(cfg, train=replace(cfg.train, batching="bucket", threads=1))
    if name == "lesson":
        cfg = with_overrides(cfg, **LESSON)
    cfg = with_overrides(cfg, **{**own, **overrides})
    if cfg.train.task != TEXT_TASK and "embeddings" not in overrides and cfg.train.embeddings == AUTO_VECTORS:
        cfg = replace(cfg, train=replace(cfg.train, embeddings=None))  # a synthetic task has no words to embed
    return cfg


def with_overrides(cfg: RunConfig, **overrides: Any) -> RunConfig:
    """Return ``cfg`` with fields replaced by name, whichever sub-config holds them."""
    parts = {"data": cfg.data, "text": cfg.text, "model": cfg.model, "train": cfg.train}
    for key, value in overrides.items():
        owner = [p for p, sub in parts.items() if key in {f.name for f in fields(sub)}]
        if not owner:
            raise ValueError(f"unknown config field {key!r}")
        parts[owner[0]] = replace(parts[owner[0]], **{key: value})
    return RunConfig(**parts)


# -- the GMM-HMM baseline, word2vec, the memory-horizon study, the seed experiment, data jobs ---------------------
@dataclass(frozen=True)
class HMMConfig(_Config):
    """One GMM-HMM per class (:mod:`core.models.hmm`)."""

    states: int = param(4, "hidden states M per class model", lo=1, hi=256)
    mix: int = param(2, "Gaussian components k per state", lo=1, hi=64)
    dim: int = param(12, "PCA dimensions d of the word2vec vectors", lo=1, hi=EMBEDDING_MAX)
    covariance_type: str = param("diag", "covariance of each Gaussian", choices=COVARIANCE_TYPES, flag="--covariance")
    n_iter: int = param(20, "Baum-Welch iterations at most", lo=1, hi=10_000, flag="--iter")
    tol: float = param(1e-4, "stop when the log-likelihood per token gains less than this", lo=0, hi=100)
    restarts: int = param(3, "fits from different random initialisations; the best is kept", lo=1, hi=100)
    min_covar: float = param(1e-3, "floor of every variance", lo=0, lo_open=True, hi=100)
    seed: int = param(0, "seed of the initialisations and the text sample", lo=0, hi=SEED_MAX)
    limit: int | None = param(None, "at most N training texts (balanced by class); none = all", lo=1,
                              hi=REVIEWS_MAX)
    test_limit: int | None = param(None, "at most N test texts (balanced by class); none = the whole split", lo=1,
                                   hi=REVIEWS_MAX)
    embeddings: str | None = param(None, "the word2vec run whose vectors are used; none = the newest (trained if "
                                         "there is none)")


@dataclass(frozen=True)
class Word2VecConfig(_Config):
    """gensim ``Word2Vec`` settings (its defaults, except ``epochs``, ``workers`` and ``seed``)."""

    algo: str = param("skipgram", "cbow (sg=0) or skipgram (sg=1)", choices=ALGOS)
    dim: int = param(100, "vector size (the seed's embedding size, so the vectors fit embedding_dim)", lo=1,
                     hi=EMBEDDING_MAX)
    window: int = param(5, "context words on each side", lo=1, hi=100)
    min_count: int | None = param(None, "words seen fewer times get no vector; none = 5 (gensim's), or 1 for a corpus "
                                        "of under 1,000 texts, where few words occur five times", lo=1,
                                  hi=REVIEWS_MAX)
    negative: int = param(5, "negative samples per positive pair", lo=1, hi=100)
    sample: float = param(1e-3, "down-sampling threshold of frequent words", lo=0, hi=1)
    epochs: int = param(5, "passes over the texts", lo=1, hi=1000)
    workers: int = param(1, "training threads (one: reproducible vectors, and the machine is shared)", lo=1,
                         hi=THREADS_MAX)
    seed: int = param(0, "seed of the initial vectors and the sampling", lo=0, hi=SEED_MAX)


@dataclass(frozen=True)
class HorizonConfig(_Config):
    """One memory-horizon experiment: which models and lengths, and the training budget of each."""

    task: str = param("adding", "the synthetic memory task", choices=SYNTHETIC_TASKS)
    models: tuple[str, ...] = param(CLASSIC_CELLS, "cell types, comma-separated", choices=CELLS)
    lengths: tuple[int, ...] = param(HORIZON_LENGTHS, "sequence lengths T, comma-separated", lo=2, hi=SEQ_MAX)
    steps: int = param(2000, "optimiser steps per model and length (the budget)", lo=1, hi=STEPS_MAX)
    evals: int = param(20, "held-out evaluations spread over the budget (steps-to-success resolution)", lo=1,
                       hi=10_000)
    stop_on_success: bool = param(True, "stop a (model, T) at its first successful evaluation")
    lr: float = param(1e-2, "Adam's learning rate (1e-3 leaves even the LSTM on the adding plateau for thousands "
                            "of steps)", lo=0, lo_open=True, hi=10)
    hidden_size: int = param(50, "units in the recurrent state h", lo=1, hi=WIDTH_MAX, flag="--hidden")
    batch_size: int = param(50, "sequences per optimiser step", lo=1, hi=BATCH_MAX)
    clip_norm: float | None = param(5.0, "global gradient-norm clipping threshold; none (or 0) = off", lo=0,
                                    lo_open=True, hi=1e6, flag="--clip")
    tbptt: int | None = param(None, "truncated BPTT: no gradient flows back further than this many steps; "
                                    "none = full backpropagation", lo=1, hi=SEQ_MAX)
    seed: int = param(0, "seed of the initial weights and the sequences", lo=0, hi=SEED_MAX)
    record_gradients: bool = param(True, "record per-time-step gradient norms of a probe batch",
                                   flag="--gradients")
    probe_size: int = param(64, "sequences in the fixed probe batch", lo=1, hi=BATCH_MAX)
    gradient_records: int = param(4, "evaluations at which the probe's gradients are recorded (plus init, end)",
                                  lo=1, hi=10_000)
    device: str = param("cpu", "auto picks CUDA, then Apple MPS, then the CPU; or cpu, cuda, cuda:N, mps",
                        choices=DEVICES, pattern=DEVICE_PATTERN)
    threads: int | None = param(None, "torch threads on the CPU; none = leave as is", lo=1, hi=THREADS_MAX)

    def __post_init__(self) -> None:
        validate(self)
        shortest = SYNTHETIC_MIN_LEN[self.task]
        if min(self.lengths) < shortest:
            raise ValueError(f"HorizonConfig.lengths = {self.lengths!r}: {SYNTHETIC_TITLES[self.task]} needs "
                             f"lengths >= {shortest}")

    def run_config(self, model: str, seq_len: int) -> RunConfig:
        return preset("seed", cell=model, task=self.task, seq_len=seq_len, train_steps=self.steps,
                      epochs=min(self.evals, self.steps), lr=self.lr, hidden_size=self.hidden_size,
                      batch_size=self.batch_size, clip_norm=self.clip_norm, seed=self.seed,
                      probe_size=self.probe_size, tbptt=self.tbptt)


@dataclass(frozen=True)
class ExplosionConfig(_Config):
    """The exploding-gradient demonstration: a vanilla RNN on the adding problem with plain SGD, three ways
    (:func:`core.analysis.horizon.explosion_configs`). Its defaults explode on any machine (the reasons there)."""

    steps: int = param(300, "optimiser steps of each run", lo=1, hi=STEPS_MAX)
    seq_len: int = param(50, "sequence length T of the adding problem", lo=2, hi=SEQ_MAX)
    radius: float = param(4.0, "initial spectral radius of the recurrent weights (exploding and clipped runs)", lo=0,
                          lo_open=True, hi=100)
    clip: float = param(1.0, "the clipped run's gradient-norm threshold", lo=0, lo_open=True, hi=1e6)
    lr: float = param(0.05, "plain SGD's learning rate", lo=0, lo_open=True, hi=10)
    threads: int | None = param(None, "torch threads on the CPU; none = leave as is", lo=1, hi=THREADS_MAX)


@dataclass(frozen=True)
class ExperimentConfig(_Config):
    """The seed report's comparison end to end (:mod:`core.report.experiment`)."""

    preset: str = param("seed", "preset of the main comparison", choices=PRESETS)
    seeds: tuple[int, ...] = param((0,), "training seeds, comma-separated: one run per cell type and seed", lo=0,
                                   hi=SEED_MAX)
    ablation_seeds: tuple[int, ...] | None = param(None, "seeds of the LSTM ablations, comma-separated; none = seeds",
                                                   lo=0, hi=SEED_MAX)
    cells: tuple[str, ...] = param(CLASSIC_CELLS, "cell types of the main comparison, comma-separated",
                                 choices=CELLS)
    epochs: int | None = param(None, "passes over the training split; none = the preset's", lo=1, hi=1000)
    limit: int | None = param(None, "at most N texts per split (at least one of each class); none = all",
                              lo=LIMIT_MIN, hi=REVIEWS_MAX)
    val_size: int | None = param(None, "training texts held out for checkpoint selection; none = 10% of them, at "
                                       "most 2,500", lo=0, hi=REVIEWS_MAX)
    hidden_size: int | None = param(None, "units in the recurrent state h; none = the preset's", lo=1, hi=WIDTH_MAX,
                                    flag="--hidden")
    device: str = param("auto", "auto picks CUDA, then Apple MPS, then the CPU; or cpu, cuda, cuda:N, mps",
                        choices=DEVICES, pattern=DEVICE_PATTERN)
    threads: int | None = param(1, "torch threads on the CPU; none = leave as is", lo=1, hi=THREADS_MAX)
    bf16: bool = param(False, "bf16 autocast on a CUDA GPU")
    imdb_path: str | None = param(None, "aclImdb_v1.tar.gz or an extracted aclImdb/ folder; none = $RNNLAB_IMDB, "
                                        "the cache, a download", flag="--imdb")
    dataset: str | None = param(None, "a dataset added with `data add`; none or 'imdb' = IMDB",
                                pattern=r"[A-Za-z0-9_-]{1,64}")
    ablations: bool = param(True, "LSTM ablations: keep_negations, fixed vs bucketed batches, word2vec init")
    word2vec: bool = param(True, "train (or reuse) word2vec vectors for the initialisation arm")
    word2vec_algo: str = param("skipgram", "word2vec algorithm of the initialisation arm", choices=ALGOS)
    hmm: bool = param(True, "fit the GMM-HMM baseline")
    hmm_limit: int | None = param(4000, "training texts of the GMM-HMM (Baum-Welch is slow in hmmlearn); "
                                        "none = all", lo=1, hi=REVIEWS_MAX)
    horizon: bool = param(True, "run the memory-horizon experiment")
    horizon_lengths: tuple[int, ...] = param(HORIZON_LENGTHS, "memory-horizon sequence lengths T, comma-separated",
                                             lo=2, hi=SEQ_MAX)
    horizon_steps: int = param(2000, "memory-horizon optimiser steps per model and length", lo=1, hi=STEPS_MAX)
    executor: str = param("local", "where the trainings run: local (here) or ray (a Ray cluster)",
                          choices=EXECUTORS)
    parallel: int = param(1, "trainings at once; 1 = one after another in this process, more = each in its own "
                             "process (or Ray task)", lo=1, hi=1024)
    address: str | None = param(None, "ray: the cluster to join (host:port or auto); none = start a local one")


@dataclass(frozen=True)
class HMMRunConfig(_Config):
    data: DataConfig = part(DataConfig, "the dataset and its split")
    text: TextConfig = part(TextConfig, "the preprocessing pipeline")
    hmm: HMMConfig = part(HMMConfig, "the GMM-HMM")


@dataclass(frozen=True)
class Word2VecRunConfig(_Config):
    data: DataConfig = part(DataConfig, "the dataset and its split")
    text: TextConfig = part(TextConfig, "the preprocessing pipeline")
    word2vec: Word2VecConfig = part(Word2VecConfig, "gensim's Word2Vec")


@dataclass(frozen=True)
class DataJobConfig(_Config):
    """Fetch the IMDB archive, or install one into the cache (:mod:`core.data.imdb`)."""

    action: str = param("download", "download the official archive, or install one", choices=DATA_ACTIONS)
    archive: str | None = param(None, "install: an aclImdb_v1.tar.gz to validate and copy into the cache")
    move: bool = param(False, "install: move the archive (a staged upload) rather than copy it")

    def __post_init__(self) -> None:
        validate(self)
        if self.action == "install" and not self.archive:
            raise ValueError("DataJobConfig.archive = None: an install needs an archive")


@dataclass(frozen=True)
class SweepConfig(_Config):
    """A grid of training runs executed here or on a Ray cluster (:mod:`core.sweep`)."""

    spec: str = param("", "the sweep's spec, TOML text (core.sweep.spec): name, preset, seeds, [base], [vary]")
    executor: str = param("local", "local: N runs at once in their own processes here; ray: Ray tasks on a cluster",
                          choices=EXECUTORS)
    address: str | None = param(None, "ray: the cluster to join (host:port or auto); none = start a local one")
    parallel: int | None = param(None, "runs at once; none = one per core (local, or three per GPU) or one per "
                                       "cluster CPU (ray)", lo=1, hi=1024)
    retries: int = param(1, "times a run whose process or worker died is tried again", lo=0, hi=10)


# the config that describes a job of each kind (a run's ``kind`` in the run store)
JOB_CONFIGS: dict[str, type] = {"rnn": RunConfig, "hmm": HMMRunConfig, "word2vec": Word2VecRunConfig,
                                "memory-horizon": HorizonConfig, "experiment": ExperimentConfig,
                                "data": DataJobConfig, "sweep": SweepConfig}
