"""A training run's settings as a TOML file: ``train --config FILE`` reads one, ``train --print-config`` writes one.

What it is: the vocabulary of a sweep spec's ``[base]`` table, flat: any field of a
:class:`~core.config.RunConfig` by name, ``preset`` naming the preset the others start from::

    preset = "fast"
    cell = "gru"
    hidden_size = 64
    limit = 2000
    clip_norm = ""        # TOML has no null: "" stands for none

:func:`run_config` builds a config from such values (a sweep's planner builds each of its runs with it
too), :func:`read_config_file` reads a file into them, checked by the config itself, and :func:`config_file_text`
writes a config as a file that reads back into an identical one.

What it is not: the checks of the values (the configs do them when they are built), the bounded TOML
reading (:mod:`core.tomlfile`). Standard library only.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from rnnlab.core.config import RunConfig, first_few, preset, type_hints
from rnnlab.core.tomlfile import TomlError, parse_toml, read_toml_file, toml_value

NONE = ""  # TOML has no null: an empty string stands for none (no field takes "" for a value)
FIRST = ("preset", "cell")  # written first: the preset the other settings start from, and the cell it is for
# every field of a training run's config, each named once across the sub-configs (with_overrides routes by name)
RUN_FIELDS = frozenset(f.name for part in fields(RunConfig) for f in fields(type_hints(RunConfig)[part.name]))


def from_toml(table: Mapping[str, Any]) -> dict[str, Any]:
    """A TOML table's values as the config takes them: :data:`NONE` becomes None."""
    return {k: None if v == NONE else v for k, v in table.items()}


def run_config(values: Mapping[str, Any], preset_name: str | None = None) -> RunConfig:
    """The preset ``preset_name`` (else ``values["preset"]``, else ``seed``) with ``values`` applied by field name.

    ``cell`` picks the cell type (none: the preset's own, the LSTM but for ``best``). Each value is checked by
    the config that owns the field: ``ValueError`` (or ``TypeError``, ``OverflowError``)
    names the field and what it accepts.
    """
    values = dict(values)
    name = values.pop("preset", "seed") if preset_name is None else preset_name
    return preset(name, cell=values.pop("cell", None), **values)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings of a config file, field -> value (none as None), each checked by the config.

    Raises ``ValueError`` in one line naming the file and the key: an unknown key, a table (the file is
    flat), a value of the wrong type or out of its field's bounds; :class:`~core.tomlfile.TomlError`
    for a file that cannot be read or is not TOML.
    """
    try:
        table = parse_toml(read_toml_file(path, "config file"))
    except TomlError as e:  # a file's own failures name it; the text's (not TOML, nested too deep) do not
        if str(path) in str(e):
            raise
        raise TomlError(f"{path}: {e}") from None
    tables = [k for k, v in table.items() if isinstance(v, dict)]
    if tables:
        raise ValueError(f"{path}: [{tables[0]}] is a table; a config file is flat, one `field = value` a line "
                         f"(`hidden_size = 64`, as `python -m core train --print-config` writes it)")
    unknown = sorted(set(table) - RUN_FIELDS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], RUN_FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close and len(unknown) == 1 else ""
        raise ValueError(f"{path}: {first_few(unknown)}: not a field of a training run{hint}; see "
                         "`python -m core train --help`")
    values = from_toml(table)
    try:
        run_config(values)  # each value checked here, so that a message about it names this file
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"{path}: {e}") from None
    return values


def config_file_text(cfg: RunConfig) -> str:
    """``cfg`` as a config file, every field a user sets with its help: :func:`read_config_file` reads it back.

    A field the code sets from the data (``vocab_size``, ``input_size``, ``output_size``) is written only when
    it differs from its default (a stored run's config), so that such a config reads back equal too.
    """
    lines = ["# RNN Lab: one training run. `python -m core train --config FILE` reads it; flags given beside",
             "# --config override its values. Any field of a run by name; \"\" stands for none (TOML has no null).", ""]
    parts = {part.name: (part, getattr(cfg, part.name)) for part in fields(cfg)}
    chosen = {f.name: (f, getattr(sub, f.name)) for _, sub in parts.values() for f in fields(sub)}
    lines += [_line(*chosen[name]) for name in FIRST]
    for part, sub in parts.values():
        lines += ["", f"# -- {part.name}: {part.metadata['help']}"]
        lines += [_line(f, getattr(sub, f.name)) for f in fields(sub) if f.name not in FIRST
                  and not (f.metadata.get("internal") and getattr(sub, f.name) == f.default)]
    return "\n".join(lines) + "\n"


def _line(f: Any, value: Any) -> str:
    return f"{f.name} = {toml_value(NONE if value is None else value)}  # {f.metadata['help']}"
