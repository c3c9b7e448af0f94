"""What a run is called and how far its results can be trusted: pure functions of its config, figures and state.

What it is: :func:`run_label`, a human label for a run from its resolved config (``lstm · fast ·
2,000 reviews · 3 ep · keep negations · w2v · 8ec553``: the cell, the preset, the reviews it saw,
its epochs, the options that differ from its preset's defaults and the end of its id, with the
name a user gave it first); :func:`quality`, a verdict on its test figures (``failed``,
``degenerate``, ``near chance`` or ``ok``) and :func:`chance_band`, the accuracies a classifier that
guesses reaches on a test set of a given size.

What it is not: reading run files (``core.jobs.files``, ``core.jobs.store``) or drawing anything.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from rnnlab.core.config import (
    BUILTIN_DATASET,
    SYNTHETIC,
    TEXT,
    TEXT_TASK,
    DataJobConfig,
    ExperimentConfig,
    HMMConfig,
    HMMRunConfig,
    HorizonConfig,
    RunConfig,
    TextConfig,
    Word2VecConfig,
    Word2VecRunConfig,
    preset,
)
from rnnlab.core.jobs.names import CANCELLED, CRASHED, DAMAGED, FAILED, FINISHED

SEP = " · "
IMDB_NOUN = "reviews"  # what one of IMDB's texts is called
MAX_OPTIONS = 6  # options named in a label; more are counted ("+2 more")

# the qualities, from worst to best; None: nothing to judge yet (queued, running, never evaluated). The worst
# is named as the state it mostly comes from: FAILED.
DEGENERATE, NEAR_CHANCE, OK = "degenerate", "near chance", "ok"
QUALITIES = (FAILED, DEGENERATE, NEAR_CHANCE, OK)
HIDDEN_BY_DEFAULT = (FAILED, DEGENERATE)  # what charts leave out unless asked
CHANCE_SE = 2.0  # "near chance": within this many binomial standard errors of 1/K

# fields a label never names: shown otherwise (cell, preset, task, reviews, epochs, dataset), set by the
# code, or about the machine rather than the model
# (val_size, min_count: a run's config holds them resolved, from the dataset's size, whether the user chose them)
NOT_OPTIONS = {"cell", "preset", "task", "epochs", "limit", "dataset", "imdb_path", "device", "threads",
               "vocab_size", "output_size", "input_size", "flush_denormals", "train_steps", "seq_len", "val_size",
               "min_count"}
# how an option reads in a label: booleans (when on, when off), other values a prefix
SWITCHES = {
    "keep_negations": ("keep negations", "negations dropped"), "remove_stopwords": ("stop words removed",
                                                                                      "stop words kept"),
    "lowercase": ("lowercased", "cased"), "expand_abbreviations": ("abbreviations expanded", "abbreviations kept"),
    "strip_html": ("HTML stripped", "HTML kept"), "remove_non_alnum": ("punctuation removed", "punctuation kept"),
    "strip_whitespace": ("whitespace collapsed", "whitespace kept"), "bidirectional": ("bidirectional", "one-way"),
    "record_gradients": ("gradients", "no gradients"), "freeze_embeddings": ("frozen w2v", "tuned w2v"),
    "bf16": ("bf16", "fp32"),
}
PREFIXES = {"hidden_size": "h", "embedding_dim": "emb ", "num_layers": "layers ", "dropout": "dropout ",
            "lr": "lr ", "batch_size": "batch ", "max_len": "len ", "max_vocab": "vocab ", "min_freq": "min freq ",
            "clip_norm": "clip ", "tbptt": "tbptt ", "truncate": "cut ", "val_size": "val ",
            "split_seed": "split seed ", "seed": "seed ", "recurrent_init_radius": "radius ",
            "probe_every": "probe every ", "probe_size": "probe ", "embedding_dropout": "emb dropout ",
            "weight_decay": "wd ", "embedding_lr_scale": "emb lr x"}
READOUT_WORDS = {"last": "last-state read-out", "mean": "mean pool", "max": "max pool", "mean_max": "mean+max pool"}
NONE_READS = {"clip_norm": "no clip", "max_vocab": "all words", "tbptt": "full BPTT",
              "recurrent_init_radius": "default init", "embeddings": "random embeddings"}


def short_id(run_id: str) -> str:
    """The random end of a run id (``8ec553`` of ``20261201-124605-931-lstm-8ec553``)."""
    return run_id.rsplit("-", 1)[-1]


def _number(x: Any) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}" if abs(x) >= 10_000 else str(x)
    return f"{x:g}"


def option_text(name: str, value: Any) -> str:
    """How one option reads in a label: ``keep negations``, ``h128``, ``no clip``, ``bucket``."""
    if name in SWITCHES and isinstance(value, bool):
        return SWITCHES[name][0 if value else 1]
    if value is None:
        return NONE_READS.get(name, f"{name.replace('_', ' ')} none")
    if name == "embeddings":
        return "w2v"
    if name in ("batching", "optimizer"):
        return str(value)
    if name == "lr_schedule":
        return f"{value} lr" if value != "constant" else "constant lr"
    if name == "readout":
        return READOUT_WORDS.get(value, f"read-out {value}")
    if isinstance(value, tuple | list):
        value = ",".join(_number(v) for v in value)
    else:
        value = _number(value)
    return f"{PREFIXES.get(name, name.replace('_', ' ') + ' ')}{value}"


def _flat(cfg: Any) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Every leaf field of a (nested) config dataclass: name -> (value, metadata)."""
    out: dict[str, tuple[Any, dict[str, Any]]] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_flat(value))
        else:
            out[f.name] = (value, dict(f.metadata))
    return out


def changed_options(cfg: Any, base: Any) -> list[str]:
    """The options of ``cfg`` that differ from ``base`` (same class), as label words, in field order.

    Only fields that apply to the run's task are named (a text option means nothing to a synthetic task).
    """
    synthetic = isinstance(cfg, RunConfig) and cfg.train.task != TEXT_TASK
    ours, theirs = _flat(cfg), _flat(base)
    words = []
    for name, (value, meta) in ours.items():
        if name in NOT_OPTIONS or meta.get("internal") or value == theirs.get(name, (value,))[0]:
            continue
        if meta.get("applies") == (TEXT if synthetic else SYNTHETIC):
            continue
        words.append(option_text(name, value))
    return words


def _options(words: list[str]) -> list[str]:
    more = len(words) - MAX_OPTIONS
    return words[:MAX_OPTIONS] + ([f"+{more} more"] if more > 0 else [])


def describe(kind: str, cfg: Any, given: str | None = None, trained_on: int | None = None) -> str:
    """What a run is, from its kind and resolved config (without the id's suffix or a user's name).

    ``given``: the label the run was created with (``explode-vanishing``, ``gmmhmm``), which leads;
    ``cfg``: the kind's config dataclass, or None when it cannot be read (only the kind is told);
    ``trained_on``: how many training texts the run read (its test metrics' ``train_size``), when known.
    A dataset other than IMDB is named, and the texts counted as the run read them: a limit of 7,000
    on a dataset of 160 training texts reads "160 texts" once the run has said so, "up to 7,000 texts" before.
    """
    if isinstance(cfg, RunConfig):
        return SEP.join(([given] if given else []) + _describe_rnn(cfg, trained_on))
    head = given or {"hmm": "GMM-HMM", "memory-horizon": "memory horizon", "experiment": "seed experiment"}.get(
        kind, kind)
    parts: list[str] = []
    if isinstance(cfg, HMMRunConfig):
        h, d = cfg.hmm, cfg.data
        parts = [f"{h.states} states", f"{h.mix} mix", *_dataset(d.dataset),
                 _count(h.limit or d.limit, d.dataset, trained_on),
                 *_options(changed_options(h, HMMConfig(limit=h.limit, states=h.states, mix=h.mix))
                           + changed_options(cfg.text, TextConfig()))]
    elif isinstance(cfg, Word2VecRunConfig):
        w, d = cfg.word2vec, cfg.data
        parts = [w.algo, f"{w.dim}d", f"{w.epochs} ep", *_dataset(d.dataset), _count(d.limit, d.dataset),
                 *_options(changed_options(w, Word2VecConfig(algo=w.algo, dim=w.dim, epochs=w.epochs))
                           + changed_options(cfg.text, TextConfig()))]
    elif isinstance(cfg, HorizonConfig):
        lengths = f"T {min(cfg.lengths)}–{max(cfg.lengths)}" if len(cfg.lengths) > 1 else f"T {cfg.lengths[0]}"
        parts = [cfg.task, ",".join(cfg.models), lengths, f"{cfg.steps:,} steps"]
    elif isinstance(cfg, ExperimentConfig):
        parts = [cfg.preset, *_dataset(cfg.dataset), "seed" + "s" * (len(cfg.seeds) > 1) + " "
                 + ",".join(map(str, cfg.seeds)), f"{cfg.epochs} ep" if cfg.epochs else "preset epochs",
                 _count(cfg.limit, cfg.dataset)]
    elif isinstance(cfg, DataJobConfig):
        parts = [cfg.action] + ([cfg.archive.replace("\\", "/").rsplit("/", 1)[-1]] if cfg.archive else [])
    if given and parts and parts[0] in given:  # "word2vec-skipgram · skipgram": said once
        parts = parts[1:]
    return SEP.join([head, *parts])


def _is_imdb(dataset: str | None) -> bool:
    return dataset in (None, BUILTIN_DATASET)


def _dataset(dataset: str | None) -> list[str]:
    """The dataset's name, for a run on another dataset than IMDB (IMDB goes without saying)."""
    return [] if _is_imdb(dataset) else [dataset]


def _count(limit: int | None, dataset: str | None, trained_on: int | None = None) -> str:
    """The texts a run reads: IMDB's limit is exact (its splits are larger than any limit a run keeps); another
    dataset's is a cap until the run said how many it read."""
    if _is_imdb(dataset):
        return f"all {IMDB_NOUN}" if limit is None else f"{limit:,} {IMDB_NOUN}"
    if trained_on is not None and (limit is None or trained_on <= limit):
        return f"{trained_on:,} texts"
    return "all texts" if limit is None else f"up to {limit:,} texts"


def _describe_rnn(cfg: RunConfig, trained_on: int | None = None) -> list[str]:
    t, d = cfg.train, cfg.data
    base = preset(t.preset, cell=cfg.model.cell)
    if t.task != TEXT_TASK:
        core = [cfg.model.cell, t.task, t.preset, f"T {t.seq_len}", f"{t.train_steps:,} steps"]
    else:
        core = [cfg.model.cell, t.preset, *_dataset(d.dataset), _count(d.limit, d.dataset, trained_on),
                f"{t.epochs} ep"]
    return core + _options(changed_options(cfg, base))


def run_label(run_id: str, kind: str | None, cfg: Any = None, *, given: str | None = None,
              name: str | None = None, trained_on: int | None = None) -> str:
    """The label a run is shown by: the user's ``name`` first, then :func:`describe`, then the id's suffix.

    The suffix keeps two runs apart that differ only in what a label leaves out (a seed, nothing at all).
    """
    what = describe(kind or "run", cfg, given, trained_on) if kind or cfg is not None else (given or "run")
    return SEP.join([*([name] if name else []), what, short_id(run_id)])


# -- quality -----------------------------------------------------------------------------------------------------
def chance_band(chance: float, n: int, width: float = CHANCE_SE) -> tuple[float, float]:
    """The accuracies within ``width`` binomial standard errors of ``chance`` (1/K) on ``n`` test examples.

    A classifier that guesses scores in this band about 95% of the time (``width`` 2): one that
    scores in it has not shown it learned anything. Its half-width is ``width * sqrt(p (1 - p) / n)``.
    """
    se = math.sqrt(chance * (1 - chance) / n) if n > 0 else float("inf")
    return chance - width * se, chance + width * se


def predicted_classes(matrix: Sequence[Sequence[float]] | None) -> int | None:
    """How many classes a confusion matrix (rows: true, columns: predicted) shows predicted at least once."""
    if not matrix:
        return None
    try:
        return sum(1 for j in range(len(matrix[0])) if sum(row[j] for row in matrix) > 0)
    except (TypeError, IndexError):
        return None


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def quality(state: str | None, metrics: Mapping[str, Any] | None, *, kind: str | None = "rnn",
            task: str | None = TEXT_TASK, imported: bool = False) -> str | None:
    """How far a run's test figures can be trusted: ``failed``, ``degenerate``, ``near chance``, ``ok``, or None.

    - ``failed``: the run failed, crashed or is damaged;
    - ``degenerate``: it finished, but a classifier has no accuracy or one of 0.0, a binary one no
      ROC-AUC, or it predicts a single class for every test example; a regression (the adding
      task) has no finite MSE;
    - ``near chance``: its accuracy lies within :data:`CHANCE_SE` binomial standard errors of
      chance (1/K for K classes, or the task's own ``chance_accuracy``) for its number of test examples;
    - None: nothing to judge (queued, running, cancelled before any test, an import never evaluated),
      or a kind without test figures (word2vec, studies, data jobs), which is ``ok`` once finished.

    ``metrics``: ``test_metrics.json``'s content (``accuracy``, ``roc_auc``, ``n`` or ``test_size``,
    ``classes``, ``confusion_matrix`` or ``class_confusion_matrix``).
    """
    if state in (FAILED, CRASHED, DAMAGED):
        return FAILED
    if state not in (FINISHED, CANCELLED):
        return None
    if kind not in ("rnn", "hmm"):
        return OK if state == FINISHED else None
    if metrics is None:
        return None if imported or state == CANCELLED else DEGENERATE
    if task == "adding":
        return OK if _is_number(metrics.get("mse")) else DEGENERATE
    acc = metrics.get("accuracy")
    if not _is_number(acc) or acc == 0.0:
        return DEGENERATE
    names = metrics.get("classes")
    k = len(names) if isinstance(names, list) and len(names) >= 2 else 2
    if task == TEXT_TASK and k == 2 and not _is_number(metrics.get("roc_auc")):
        return DEGENERATE
    matrix = metrics.get("class_confusion_matrix") or metrics.get("confusion_matrix")
    if predicted_classes(matrix) == 1:
        return DEGENERATE
    n = next((metrics[key] for key in ("n", "test_size") if _is_number(metrics.get(key)) and metrics[key] > 0), None)
    chance = metrics.get("chance_accuracy")
    chance = chance if _is_number(chance) and 0 < chance < 1 else 1.0 / k
    if n is not None:
        low, high = chance_band(chance, int(n))
        if low <= acc <= high:
            return NEAR_CHANCE
    return OK
