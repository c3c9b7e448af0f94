"""The Train page's form without Streamlit: which config fields it offers, and the runs it describes.

What it is: :func:`form_fields` lists the hyperparameters of ``core.config`` a user may set for a
task -- kind of widget, default (the chosen preset's), help text taken from the comment beside
the field in ``core/config.py`` -- and :func:`configs_from_form` turns the filled form into one
:class:`~core.config.RunConfig` per selected cell type.

What it is not: widgets (``pages/train.py`` draws them), validation beyond the configs' own
(``core.config`` raises ``ValueError`` for a bad value), launching (``core.jobs.lifecycle``).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from core.config import DataConfig, ModelConfig, RunConfig, TextConfig, TrainConfig, preset

SECTIONS = {"data": DataConfig, "text": TextConfig, "model": ModelConfig, "train": TrainConfig}

# set elsewhere on the page (cell types, task, preset, dataset path, word2vec run) or by the code
HIDDEN = frozenset({"cell", "vocab_size", "output_size", "input_size", "task", "preset", "imdb_path",
                    "embeddings"})
# fields that only mean something for the IMDB task, and only for the synthetic ones
TEXT_ONLY = frozenset({f.name for f in fields(DataConfig)} | {f.name for f in fields(TextConfig)}
                      | {"embedding_dim", "batching", "freeze_embeddings"})
SYNTHETIC_ONLY = frozenset({"seq_len", "train_steps"})
# the options the Train page shows up front; everything else sits under "more settings"
MAIN = ("epochs", "batch_size", "lr", "hidden_size", "embedding_dim", "num_layers", "bidirectional",
        "record_gradients", "tbptt", "keep_negations", "limit", "val_size", "seq_len", "train_steps")
CHOICES = {"batching": ("fixed", "bucket"), "truncate": ("pre", "post"), "device": ("auto", "cpu", "cuda", "mps")}
MINIMUM = {"epochs": 1, "batch_size": 1, "hidden_size": 1, "num_layers": 1, "embedding_dim": 1, "limit": 1,
           "val_size": 0, "tbptt": 1, "max_len": 1, "min_freq": 1, "max_vocab": 1, "probe_every": 1,
           "probe_size": 1, "seq_len": 2, "train_steps": 1, "threads": 1, "dropout": 0.0, "lr": 0.0,
           "clip_norm": 0.0, "recurrent_init_radius": 0.0}

# help for the fields whose line in core/config.py carries no comment
HELP = {"lowercase": "lowercase every review first", "remove_non_alnum": "punctuation and emoji become spaces",
        "strip_whitespace": "collapse runs of whitespace", "embedding_dim": "size of each word vector",
        "hidden_size": "units in the recurrent state h", "num_layers": "stacked recurrent layers",
        "bidirectional": "also read each review backwards", "epochs": "passes over the training split",
        "batch_size": "reviews (or sequences) per optimiser step", "seed": "seed of initial weights and shuffling",
        "device": "auto picks CUDA, then Apple MPS, then the CPU",
        "freeze_embeddings": "keep word2vec vectors fixed during training"}


@dataclass(frozen=True)
class Field:
    """One hyperparameter as the form shows it."""

    section: str  # "data", "text", "model" or "train": the config that owns the field
    name: str
    kind: str  # "bool", "int", "float", "choice" or "text"
    default: Any  # the preset's value
    optional: bool  # None is allowed: an empty box means "off" / "all"
    choices: tuple[str, ...] = ()
    help: str = ""
    minimum: float | None = None
    main: bool = False  # shown up front rather than under "more settings"


@cache
def field_help(cls: type) -> dict[str, str]:
    """The comment beside each field in a config class's source: ``name: type = value  # comment``."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out = {}
    for m in re.finditer(r"^\s+(\w+): [^=\n]+=[^#\n]*#\s*(.+)$", source, re.MULTILINE):
        out[m.group(1)] = m.group(2).strip()
    return out


def _kind(type_text: str, name: str) -> tuple[str, bool]:
    optional = "None" in type_text
    base = type_text.replace("| None", "").replace("None |", "").strip()
    if name in CHOICES:
        return "choice", optional
    return {"bool": "bool", "int": "int", "float": "float"}.get(base, "text"), optional


def form_fields(cfg: RunConfig, task: str = "imdb") -> list[Field]:
    """The fields a user may set for ``task``, with ``cfg``'s values as defaults: ``MAIN`` ones first."""
    out = []
    for section, cls in SECTIONS.items():
        helps = field_help(cls)
        values = getattr(cfg, section)
        for f in fields(cls):
            if f.name in HIDDEN:
                continue
            if task == "imdb" and f.name in SYNTHETIC_ONLY:
                continue
            if task != "imdb" and f.name in TEXT_ONLY:
                continue
            kind, optional = _kind(str(f.type), f.name)
            out.append(Field(section, f.name, kind, getattr(values, f.name), optional, CHOICES.get(f.name, ()),
                             helps.get(f.name) or HELP.get(f.name, ""), MINIMUM.get(f.name), f.name in MAIN))
    # the main fields in the order of MAIN (most changed first), the others in config order
    return sorted(out, key=lambda f: MAIN.index(f.name) if f.main else len(MAIN))


def configs_from_form(preset_name: str, cells: list[str], task: str, values: dict[str, Any], *,
                      imdb_path: str | None = None, embeddings: str | None = None) -> list[RunConfig]:
    """One config per cell type: the preset, overridden by every value of the form.

    ``values`` maps field names (as in :func:`form_fields`) to the form's values; a value equal
    to the preset's is harmless. Raises ``ValueError`` for an unknown field, cell, task or
    preset, and when no cell type is chosen.
    """
    if not cells:
        raise ValueError("choose at least one cell type")
    extra: dict[str, Any] = {"task": task}
    if task == "imdb":
        extra.update(imdb_path=imdb_path or None, embeddings=embeddings or None)
    return [preset(preset_name, cell=cell, **{**values, **extra}) for cell in cells]
