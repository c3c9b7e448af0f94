"""Command-line flags generated from the configs' field metadata (:mod:`core.config`).

What it is: :func:`add_config_arguments` adds one flag per field of a config (``--hidden-size``
for ``hidden_size``, plus the field's older spelling such as ``--hidden``), typed, with the
choices, the help text, the default and the allowed range; :func:`overrides_from_args` reads back
only the fields the user set. Bools are ``--x/--no-x``; an optional field takes ``none`` or ``off``
(and ``0`` where 0 lies just outside its range, as with ``--clip 0``); a tuple is comma-separated.

What it is not: the commands (``core.__main__``) or the checks of values against their bounds
(the configs do that when they are built, with one message for the CLI and the dashboard alike).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from rnnlab.core.config import allowed, split_optional, type_hints

NONE_WORDS = ("none", "off")
C = TypeVar("C")


def _parse(kind: Any, optional: bool, meta: Any) -> Callable[[str], Any]:
    """The argparse ``type`` of a field: text -> value (None, a number, a string, a tuple)."""
    many = typing.get_origin(kind) is tuple
    item = typing.get_args(kind)[0] if many else kind
    zero_is_off = optional and meta.get("min") == 0 and meta.get("min_open")

    def parse(text: str) -> Any:
        if optional and text.strip().lower() in NONE_WORDS:
            return None
        value = tuple(item(t.strip()) for t in text.split(",") if t.strip()) if many else item(text)
        return None if zero_is_off and value == 0 else value

    parse.__name__ = item.__name__  # argparse names it in "invalid int value: 'x'"
    return parse


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _fields(cls: type, skip: Iterable[str], prefix: str) -> Iterator[tuple[dataclasses.Field, bool, Any]]:
    """(field, optional, type) of each field not in ``skip`` (``name`` or ``section.name``)."""
    for f in dataclasses.fields(cls):
        if f.name not in skip and prefix + f.name not in skip:
            yield (f, *split_optional(type_hints(cls)[f.name]))


def add_config_arguments(parser: argparse.ArgumentParser | Any, cls: type, *, skip: Iterable[str] = (),
                         prefix: str = "") -> None:
    """One flag per field of ``cls`` (recursing into sub-configs, one argument group each), none for
    the fields in ``skip`` (``name`` or ``section.name``) or set by the code. Flags left out of a
    command line leave no attribute on the namespace."""
    for f, optional, kind in _fields(cls, tuple(skip), prefix):
        meta = f.metadata
        if meta.get("internal"):
            continue
        if dataclasses.is_dataclass(kind):
            group = parser.add_argument_group(f"{f.name}: {meta['help']}") if hasattr(parser, "parse_args") else parser
            add_config_arguments(group, kind, skip=skip, prefix=f"{prefix}{f.name}.")
            continue
        names = [f"--{f.name.replace('_', '-')}"] + ([meta["flag"]] if meta.get("flag") else [])
        accepts = allowed(f, type_hints(cls)[f.name]).replace("None or ", "none or ")
        accepts = "" if kind is bool or accepts.endswith("a str") else f"; {accepts}"
        text = f"{meta['help']} (default: {_shown(f.default)}{accepts})"
        common = {"dest": f.name, "default": argparse.SUPPRESS, "help": text.replace("%", "%%")}
        if kind is bool:  # --x / --no-x (and --no-<older spelling>)
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, **common)
            continue
        plain_choices = kind is str and not optional and not meta.get("pattern")
        parser.add_argument(*names, type=_parse(kind, optional, meta),
                            choices=meta.get("choices") if plain_choices else None, **common)


def overrides_from_args(args: argparse.Namespace, cls: type, *, skip: Iterable[str] = (),
                        prefix: str = "") -> dict[str, Any]:
    """``{field: value}`` for the fields of ``cls`` (and its sub-configs, flattened) given on the command line."""
    out = {}
    for f, _, kind in _fields(cls, tuple(skip), prefix):
        if dataclasses.is_dataclass(kind):
            out.update(overrides_from_args(args, kind, skip=skip, prefix=f"{prefix}{f.name}."))
        elif hasattr(args, f.name):
            out[f.name] = getattr(args, f.name)
    return out


def config_from_args(args: argparse.Namespace, cls: type[C], *, skip: Iterable[str] = (), prefix: str = "") -> C:
    """``cls`` built from its defaults and the flags given (sub-configs included); the config checks the values."""
    kwargs = {}
    for f, _, kind in _fields(cls, tuple(skip), prefix):
        if dataclasses.is_dataclass(kind):
            kwargs[f.name] = config_from_args(args, kind, skip=skip, prefix=f"{prefix}{f.name}.")
        elif hasattr(args, f.name):
            kwargs[f.name] = getattr(args, f.name)
    return cls(**kwargs)
