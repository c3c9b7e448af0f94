"""The Train page's form without Streamlit: which config fields it offers, and the runs it describes.

What it is: :func:`form_fields` lists the hyperparameters of ``core.config`` a user may set for a
task -- kind of widget, default (the chosen preset's), help text, bounds, choices, whether it is
shown up front -- all read from the fields' metadata (``core.config.param``); and
:func:`configs_from_form` turns the filled form into one :class:`~core.config.RunConfig` per
selected cell type.

What it is not: widgets (``pages/train.py`` draws them), validation beyond the configs' own
(``core.config`` raises ``ValueError`` for a bad value), launching (``core.jobs.lifecycle``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from core.config import (
    SYNTHETIC,
    TEXT,
    DataConfig,
    ModelConfig,
    RunConfig,
    TextConfig,
    TrainConfig,
    preset,
    split_optional,
    type_hints,
)

SECTIONS = {"data": DataConfig, "text": TextConfig, "model": ModelConfig, "train": TrainConfig}
# the page draws these itself (cell types, task, preset, dataset and IMDB path, word2vec run)
ON_THE_PAGE = frozenset({"cell", "task", "preset", "imdb_path", "dataset", "embeddings"})
# ... and the code sets these (``internal`` in their metadata)
HIDDEN = ON_THE_PAGE | {f.name for cls in SECTIONS.values() for f in fields(cls) if f.metadata.get("internal")}
# up front, the fields users change most: the training loop's first, then the model's, the text's, the data's
MAIN_ORDER = ("train", "model", "text", "data")


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
    maximum: float | None = None
    main: bool = False  # shown up front rather than under "more settings"


def _applies(applies: str | None, task: str) -> bool:
    """Whether a field whose metadata says ``applies`` means something for ``task``."""
    text = task == "imdb"
    return applies is None or (applies == TEXT and text) or (applies == SYNTHETIC and not text)


def _field(section: str, f: Any, hint: Any, default: Any) -> Field:
    meta, (optional, kind) = f.metadata, split_optional(hint)
    if meta.get("choices"):
        widget = "choice"
    else:
        widget = {bool: "bool", int: "int", float: "float"}.get(kind, "text")
    return Field(section, f.name, widget, default, optional, tuple(meta.get("choices") or ()), meta["help"],
                 meta.get("min"), meta.get("max"), bool(meta.get("main")))


def form_fields(cfg: RunConfig, task: str = "imdb") -> list[Field]:
    """The fields a user may set for ``task``, with ``cfg``'s values as defaults: the main ones first."""
    out = []
    for section, cls in SECTIONS.items():
        hints = type_hints(cls)
        for f in fields(cls):
            if f.name not in HIDDEN and _applies(f.metadata.get("applies"), task):
                out.append(_field(section, f, hints[f.name], getattr(getattr(cfg, section), f.name)))
    # the main fields section by section (MAIN_ORDER), the others in config order
    return sorted(out, key=lambda f: MAIN_ORDER.index(f.section) if f.main else len(MAIN_ORDER))


def configs_from_form(preset_name: str, cells: list[str], task: str, values: dict[str, Any], *,
                      imdb_path: str | None = None, dataset: str | None = None,
                      embeddings: str | None = None) -> list[RunConfig]:
    """One config per cell type: the preset, overridden by every value of the form.

    ``values`` maps field names (as in :func:`form_fields`) to the form's values; a value equal
    to the preset's is harmless. Raises ``ValueError`` for an unknown field, cell, task or
    preset, and when no cell type is chosen.
    """
    if not cells:
        raise ValueError("choose at least one cell type")
    extra: dict[str, Any] = {"task": task}
    if task == "imdb":
        named = dataset not in (None, "", "imdb")  # IMDB is the text task's default dataset
        extra.update(imdb_path=None if named else imdb_path or None, dataset=dataset if named else None,
                     embeddings=embeddings or None)
    return [preset(preset_name, cell=cell, **{**values, **extra}) for cell in cells]
