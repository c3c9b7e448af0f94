"""The pages' forms without Streamlit: which config fields a form offers, and the values it gives back.

What it is: :func:`config_fields` turns the fields of any config dataclass of ``core.config`` into
form fields (:class:`Field`) -- kind of widget, default, help text, bounds, choices -- all read from
the fields' metadata (``core.config.param``), so a form can never drift from what the config, and the
command line, accept. :func:`parse_values` turns what the widgets hold back into config values (a
comma-separated list into a tuple, an empty optional box into None). For the Train form,
:func:`form_fields` lists the hyperparameters of a task with a preset's values as defaults and
:func:`configs_from_form` makes one :class:`~core.config.RunConfig` per selected cell type.

What it is not: widgets (:mod:`dashboard.widgets` draws a list of fields), validation beyond the
configs' own (``core.config`` raises ``ValueError`` for a bad value), launching (``core.jobs.lifecycle``).
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from rnnlab.core.config import (
    SYNTHETIC,
    TEXT,
    DataConfig,
    ExperimentConfig,
    HMMConfig,
    HorizonConfig,
    ModelConfig,
    RunConfig,
    TextConfig,
    TrainConfig,
    preset,
    split_optional,
    type_hints,
)
from rnnlab.core.data.datasets import config_dataset

SECTIONS = {"data": DataConfig, "text": TextConfig, "model": ModelConfig, "train": TrainConfig}
# the Train page draws these itself (cell types, task, preset, dataset and IMDB path, word2vec run)
ON_THE_PAGE = frozenset({"cell", "task", "preset", "imdb_path", "dataset", "embeddings"})
# ... and the code sets these (``internal`` in their metadata)
HIDDEN = ON_THE_PAGE | {f.name for cls in SECTIONS.values() for f in fields(cls) if f.metadata.get("internal")}
# up front, the fields users change most: the training loop's first, then the model's, the text's, the data's
MAIN_ORDER = ("train", "model", "text", "data")
KINDS = ("bool", "int", "float", "choice", "text", "choices", "numbers")
# Where the HMM, Embeddings, memory-horizon and Report forms start: the configs' own defaults (what the command
# line starts from), except the few that would make a first click an hour's job on IMDB. Bounds, help and choices
# are the configs' either way; these are starting values, as the Train form starts from a preset's.
STARTING: dict[str, Any] = {
    # all 22,500 training reviews: about 50 min at the reference rates; 2,000: about 6 min, scoring included
    "hmm": HMMConfig(limit=2000),
    # all 25,000 training and 50,000 unlabelled reviews: about 5 min; 5,000 of each: well under a minute
    "word2vec": DataConfig(limit=5000),
    # lengths up to 200 and 2,000 steps: up to 15 min; up to 100 and 500 steps: a few minutes
    "horizon": HorizonConfig(steps=500, lengths=(10, 25, 50, 100)),
    # the seed preset on every review is hours on a CPU; the fast preset on 2,000 reviews a split, minutes
    "report": ExperimentConfig(preset="fast", limit=2000),
}


@dataclass(frozen=True)
class Field:
    """One config field as a form shows it.

    ``kind``: ``bool`` (a checkbox), ``int`` / ``float`` (a number box), ``choice`` (one of ``choices``),
    ``text``, ``choices`` (a tuple of some of ``choices``) or ``numbers`` (a tuple of numbers, typed
    comma-separated; ``number`` says of which type).
    """

    section: str  # the config that owns the field: "data", "text", "model", "train" (Train), "hmm", ...
    name: str
    kind: str
    default: Any  # the value the form starts from: the config's default (the Train form: the preset's)
    optional: bool  # None is allowed: an empty box means "off" / "all" / "the default"
    choices: tuple[str, ...] = ()
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    main: bool = False  # shown up front rather than under "more settings" (the metadata's ``main``)
    number: str = "int"  # the item type of a ``numbers`` field: "int" or "float"

    @property
    def label(self) -> str:
        """The widget's label: the field's name in words."""
        return self.name.replace("_", " ")

    @property
    def step(self) -> float:
        """A number box's step: 1 for an integer; for a float, the power of ten at or below its default (1e-4 for
        a tolerance of 1e-4, 0.1 for a dropout of 0.5)."""
        if self.kind == "int" or (self.kind == "numbers" and self.number == "int"):
            return 1
        x = self.default if isinstance(self.default, int | float) and self.default > 0 else self.minimum
        if not isinstance(x, int | float) or x <= 0:
            return 0.1
        return min(0.1, 10.0 ** math.floor(math.log10(x)))

    def text(self, value: Any) -> str:
        """How a ``numbers`` or ``text`` value reads in its text box: ``10, 25, 50``; "" for None."""
        if value is None:
            return ""
        if isinstance(value, tuple | list):
            return ", ".join(str(v) for v in value)
        return str(value)


def _field(section: str, f: Any, hint: Any, default: Any) -> Field:
    meta, (optional, kind) = f.metadata, split_optional(hint)
    number = "int"
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        widget = "choices" if meta.get("choices") else "numbers"
        number = "float" if item is float else "int"
    elif meta.get("choices"):
        widget = "choice"
    else:
        widget = {bool: "bool", int: "int", float: "float"}.get(kind, "text")
    return Field(section, f.name, widget, default, optional, tuple(meta.get("choices") or ()), meta["help"],
                 meta.get("min"), meta.get("max"), bool(meta.get("main")), number)


def config_fields(cls: type, defaults: Any | None = None, *, section: str = "", names: Iterable[str] | None = None,
                  skip: Iterable[str] = ()) -> list[Field]:
    """The fields of the config class ``cls`` as form fields, in the config's order.

    ``defaults``: an instance of ``cls`` whose values the form starts from (default: the class's own
    defaults). ``names``: only these fields, in this order; ``skip``: leave these out (what the page
    sets itself). Sub-configs and ``internal`` fields are never offered.
    """
    hints = type_hints(cls)
    by_name = {f.name: f for f in fields(cls)}
    chosen = list(names) if names is not None else list(by_name)
    unknown = [n for n in chosen if n not in by_name]
    if unknown:
        raise ValueError(f"{cls.__name__} has no field {unknown[0]!r}")
    leave = set(skip)
    out = []
    for name in chosen:
        f = by_name[name]
        if name in leave or f.metadata.get("internal") or "help" not in f.metadata or "min" not in f.metadata:
            continue  # a sub-config (``part``) has help only
        default = getattr(defaults, name) if defaults is not None else f.default
        out.append(_field(section or cls.__name__, f, hints[name], default))
    return out


def _number(text: str, number: str, name: str) -> int | float:
    try:
        return int(text) if number == "int" else float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not {'a whole number' if number == 'int' else 'a number'}") from None


def parse_value(f: Field, raw: Any) -> Any:
    """A widget's value as the config takes it: an empty optional box None, a comma-separated list a tuple.

    Raises ``ValueError`` naming the field for text that is not a list of numbers; bounds and choices
    are the config's to check.
    """
    if f.kind == "numbers":
        text = "" if raw is None else str(raw)
        items = [x for x in text.replace(";", ",").replace(" ", ",").split(",") if x]
        if not items:
            if f.optional:
                return None
            raise ValueError(f"{f.label}: give at least one number, comma-separated")
        return tuple(_number(x, f.number, f.label) for x in items)
    if f.kind == "choices":
        return tuple(raw or ()) or (None if f.optional else ())
    if f.kind == "text":
        text = "" if raw is None else str(raw).strip()
        return None if f.optional and not text else text
    if f.kind == "int" and isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return raw


def parse_values(fields_: Iterable[Field], raw: dict[str, Any]) -> dict[str, Any]:
    """:func:`parse_value` of every field, by name (a field missing from ``raw`` keeps its default)."""
    return {f.name: parse_value(f, raw.get(f.name, f.default)) for f in fields_}


# -- the Train form --------------------------------------------------------------------------------------------
def _applies(applies: str | None, task: str) -> bool:
    """Whether a field whose metadata says ``applies`` means something for ``task``."""
    text = task == "imdb"
    return applies is None or (applies == TEXT and text) or (applies == SYNTHETIC and not text)


def form_fields(cfg: RunConfig, task: str = "imdb") -> list[Field]:
    """The fields a user may set for ``task``, with ``cfg``'s values as defaults: the main ones first."""
    out = []
    for section, cls in SECTIONS.items():
        applies = [f.name for f in fields(cls) if _applies(f.metadata.get("applies"), task)]
        out += config_fields(cls, getattr(cfg, section), section=section, names=applies, skip=HIDDEN)
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
        named = config_dataset(dataset or None)  # None: IMDB, the text task's default dataset
        extra.update(imdb_path=None if named else imdb_path or None, dataset=named, embeddings=embeddings or None)
    return [preset(preset_name, cell=cell, **{**values, **extra}) for cell in cells]
