"""The one renderer of the pages' forms: a list of :class:`dashboard.forms.Field` drawn as Streamlit widgets.

What it is: :func:`draw_field` (one widget per field kind: a checkbox, a number box bounded by the
field's metadata, a select box, a multiselect, a text box for a comma-separated list),
:func:`draw_fields` (the fields a page chose up front in columns, the others under "More settings")
and :func:`field_values` (what the widgets hold, read from the session: what a button's callback
needs, before the script draws them). Every form of the dashboard -- Train, HMM, Embeddings, the
memory horizon (Gradients), Report -- goes through here, so the bounds, defaults, help and choices a
user sees are the config's.

What it is not: which fields a form has (:mod:`dashboard.forms`, from ``core.config``), building or
launching the config (the pages, ``core.jobs.lifecycle``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st

from rnnlab.dashboard.forms import Field

MORE = "More settings"


def widget_key(prefix: str, f: Field) -> str:
    """The session key of ``f``'s widget on a form whose keys start with ``prefix``."""
    return f"{prefix}{f.name}"


def draw_field(f: Field, key: str, *, label: str | None = None, container: Any = None) -> Any:
    """``f``'s widget, its bounds, default, help and choices from the field; returns the widget's value.

    An optional number starts empty when its default is None (the placeholder says what empty means);
    a tuple of choices is a multiselect, a tuple of numbers a comma-separated text box.
    """
    where = container if container is not None else st
    label = label or f.label
    helptext = f.help or None
    if f.kind == "bool":
        return where.checkbox(label, value=bool(f.default), key=key, help=helptext)
    if f.kind == "choice":
        return where.selectbox(label, f.choices, index=f.choices.index(f.default) if f.default in f.choices else 0,
                               key=key, help=helptext)
    if f.kind == "choices":
        return where.multiselect(label, f.choices, default=[c for c in (f.default or ()) if c in f.choices],
                                 key=key, help=helptext)
    if f.kind in ("int", "float"):
        number = int if f.kind == "int" else float
        return where.number_input(label, value=None if f.default is None else number(f.default),
                                  min_value=None if f.minimum is None else number(f.minimum),
                                  max_value=None if f.maximum is None else number(f.maximum),
                                  step=number(f.step), key=key, help=helptext,
                                  format=None if f.kind == "int" else "%g",
                                  placeholder="none" if f.optional else None)
    if f.kind == "numbers":
        return where.text_input(label, value=f.text(f.default), key=key, help=helptext,
                                placeholder="none" if f.optional else "comma-separated")
    return where.text_input(label, value=f.text(f.default), key=key, help=helptext,
                            placeholder="none" if f.optional else None)


def draw_fields(fields: list[Field], prefix: str, *, main: Iterable[str] | None = None, columns: int = 4,
                more: str | None = MORE, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Draw ``fields``: the main ones up front, ``columns`` to a row, the others in an expander ``more``.

    ``main``: the names shown up front, in this order (the page's choice); None: the fields whose metadata
    says ``main``. ``more`` None: no expander, the other fields are not drawn (they keep their defaults).
    Fields of several config sections are grouped by section under ``more``. ``labels``: a page's own
    words for some fields. Returns every field's widget value (or default), by name.
    """
    labels = labels or {}
    by_name = {f.name: f for f in fields}
    up_front = [by_name[n] for n in main if n in by_name] if main is not None else [f for f in fields if f.main]
    rest = [f for f in fields if f not in up_front]
    values = {f.name: f.default for f in fields}

    def grid(chosen: list[Field]) -> None:
        cols = st.columns(columns)
        for i, f in enumerate(chosen):
            values[f.name] = draw_field(f, widget_key(prefix, f), label=labels.get(f.name), container=cols[i % columns])

    if up_front:
        grid(up_front)
    if rest and more:
        with st.expander(more):
            sections = list(dict.fromkeys(f.section for f in rest))
            for section in sections:
                if len(sections) > 1:
                    st.markdown(f"*{section}*")
                grid([f for f in rest if f.section == section])
    return values


def field_values(fields: list[Field], prefix: str) -> dict[str, Any]:
    """What the widgets of ``fields`` hold now (their defaults before they are drawn), by name: for a callback."""
    return {f.name: st.session_state.get(widget_key(prefix, f), f.default) for f in fields}
