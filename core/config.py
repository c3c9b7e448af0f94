"""Frozen dataclass configs: one per concern, crossing every module boundary.

A run is fully described by a :class:`RunConfig` (data + text + model + train). Configs
serialise to plain JSON (``to_dict``/``from_dict``) for the run store; nothing here does work.
The defaults are the seed report's settings; presets (``seed``, ``fast``) only override fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, replace
from typing import Any

CELLS = ("rnn", "lstm", "gru")
TASKS = ("imdb", "adding", "order")
PRESETS = ("seed", "fast")


@dataclass(frozen=True)
class DataConfig:
    imdb_path: str | None = None  # archive or extracted aclImdb/ folder; None = env, cache, download
    val_size: int = 2500  # reviews carved from train (seeded) for checkpoint selection
    split_seed: int = 0  # seed of the train/validation split
    limit: int | None = None  # keep at most N reviews per split (smoke tests), balanced by label


@dataclass(frozen=True)
class TextConfig:
    lowercase: bool = True
    expand_abbreviations: bool = True  # chat abbreviations: "u" -> "you", "pls" -> "please"
    strip_html: bool = True  # IMDB reviews contain <br />
    remove_non_alnum: bool = True
    strip_whitespace: bool = True
    remove_stopwords: bool = True  # NLTK English list (the seed's choice)
    keep_negations: bool = False  # keep "not", "no", "nor" and the n't forms despite the list
    max_vocab: int | None = 20000  # most frequent training words kept; None = all
    min_freq: int = 2  # words seen fewer times in training map to <unk>
    max_len: int = 500  # tokens kept per review
    truncate: str = "pre"  # "pre" drops tokens at the start (the verdict is often last), "post" at the end


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "lstm"  # "rnn" (tanh), "lstm" or "gru"
    vocab_size: int = 2  # set from the vocabulary; 0 = <unk>, 1 = <pad>
    embedding_dim: int = 100
    hidden_size: int = 50
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.5  # after the recurrent layer (and between stacked layers)
    output_size: int = 1  # one logit for binary tasks; the adding problem also uses 1
    input_size: int | None = None  # set for real-valued inputs (synthetic tasks): no embedding
    recurrent_init_radius: float | None = None  # rescale W_hh to this spectral radius (explosion demo)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell type {self.cell!r}; expected one of {CELLS}")
        if self.num_layers < 1 or self.hidden_size < 1:
            raise ValueError("num_layers and hidden_size must be positive")


@dataclass(frozen=True)
class TrainConfig:
    task: str = "imdb"  # "imdb", "adding" or "order"
    preset: str = "seed"
    epochs: int = 5
    batch_size: int = 50
    lr: float = 1e-3  # Adam
    optimizer: str = "adam"  # "adam" or "sgd" (plain SGD: the exploding-gradient demonstration)
    clip_norm: float | None = 5.0  # global gradient-norm clipping; None = off
    batching: str = "fixed"  # "fixed": every review padded/cut to max_len at the front; "bucket": similar lengths
    seed: int = 0
    device: str = "auto"
    threads: int | None = None  # torch.set_num_threads on the CPU; None = leave as is
    flush_denormals: bool = True  # CPU: denormal floats -> 0 while training, several times faster (core.device)
    bf16: bool = False  # bf16 autocast (CUDA only)
    tbptt: int | None = None  # truncated BPTT: detach the state every N steps; None = full BPTT
    record_gradients: bool = False  # per-time-step gradient recording (core.analysis.gradients)
    probe_every: int = 100  # optimiser steps between gradient recordings
    probe_size: int = 64  # validation reviews in the fixed probe batch
    embeddings: str | None = None  # word2vec run id used to initialise the embedding layer
    freeze_embeddings: bool = False
    # synthetic tasks (core.tasks.synthetic)
    seq_len: int = 50  # sequence length T of the adding / temporal-order problem
    train_steps: int = 2000  # optimiser steps for a synthetic task (it has no epochs)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {TASKS}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected 'adam' or 'sgd'")
        if self.batching not in ("fixed", "bucket"):
            raise ValueError(f"unknown batching {self.batching!r}; expected 'fixed' or 'bucket'")


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys are rejected so typos never pass silently."""
        parts = {}
        for f in fields(cls):
            sub = d.get(f.name, {})
            sub_cls = {"data": DataConfig, "text": TextConfig, "model": ModelConfig, "train": TrainConfig}[f.name]
            known = {x.name for x in fields(sub_cls)}
            unknown = set(sub) - known
            if unknown:
                raise ValueError(f"unknown {f.name} config fields: {sorted(unknown)}")
            parts[f.name] = sub_cls(**sub)
        return cls(**parts)


def preset(name: str, cell: str = "lstm", **overrides: Any) -> RunConfig:
    """The named preset for a cell type, with any field overridden by name.

    ``seed``: the seed report's settings (fixed-length front padding to 500 tokens).
    ``fast``: the same model and optimiser over length-bucketed batches, the fastest
    measured settings (see ``bench/bench_train.py``).
    Overrides are given by field name (``epochs=1``, ``hidden_size=32``) and routed to
    whichever config owns the field.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {PRESETS}")
    cfg = RunConfig(model=ModelConfig(cell=cell), train=TrainConfig(preset=name))
    if name == "fast":
        cfg = replace(cfg, train=replace(cfg.train, batching="bucket", threads=1))
    return with_overrides(cfg, **overrides)


def with_overrides(cfg: RunConfig, **overrides: Any) -> RunConfig:
    """Return ``cfg`` with fields replaced by name, whichever sub-config holds them."""
    parts = {"data": cfg.data, "text": cfg.text, "model": cfg.model, "train": cfg.train}
    for key, value in overrides.items():
        owner = [p for p, sub in parts.items() if key in {f.name for f in fields(sub)}]
        if not owner:
            raise ValueError(f"unknown config field {key!r}")
        parts[owner[0]] = replace(parts[owner[0]], **{key: value})
    return RunConfig(**parts)
