"""Figures of what a model computes while it reads one review: its gates and states token by token,
the running P(positive), and per-token values such as saliency.

What it is: pure builders from the per-token arrays of ``core.analysis.introspect`` to Plotly figures.

What it is not: running the model step by step (``core.analysis.introspect``), the review's words
shaded by saliency (HTML, ``dashboard.markup``), Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from rnnlab.core.figures import layout
from rnnlab.core.figures.style import (
    BOTTOM,
    GAP,
    GREY,
    HEIGHT,
    NEGATIVE,
    POSITIVE,
    USUAL_TOP,
    empty_figure,
    run_colour,
    style,
)

STATE_NAMES = {"input_gate": "input gate i", "forget_gate": "forget gate f", "output_gate": "output gate o",
               "candidate": "candidate g / n", "cell": "cell state c", "hidden": "hidden state h",
               "reset_gate": "reset gate r", "update_gate": "update gate z"}
STATE_SCALES = {"candidate": (-1, 1), "hidden": (-1, 1), "cell": (None, None)}  # gates lie in [0, 1]
UNIT_ORDERS = ("none", "variance", "correlation")
TOKEN_ROOM = 90  # px: the longest a token is written under a panel (the hover has it whole)


def unit_order(values: np.ndarray, by: str = "none", probability: Sequence[float] | None = None) -> np.ndarray:
    """The order to draw the units of ``values`` ``(T, H)`` in: indices into ``H``, the first drawn on top.

    ``by``: ``"none"`` (0, 1, 2, ...), ``"variance"`` (the units that change most over the review
    first) or ``"correlation"`` (by the Pearson correlation of each unit with ``probability``
    ``(T,)``, the running P(class): the units that rise with it first, those that fall with it
    last; a unit that never changes counts as 0). Ties keep the units' own order.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"values must be (T, H), not shape {v.shape}")
    units = np.arange(v.shape[1])
    if by == "none":
        return units
    if by == "variance":
        spread = np.nan_to_num(np.nanvar(v, axis=0) if len(v) else np.zeros(v.shape[1]), nan=0.0)
        return units[np.argsort(-spread, kind="stable")]
    if by == "correlation":
        if probability is None:
            raise ValueError("sorting by correlation needs the running probability")
        p = np.asarray(probability, dtype=float)
        if p.shape != (v.shape[0],):
            raise ValueError(f"probability has shape {p.shape}, values have {v.shape[0]} tokens")
        dv, dp = v - v.mean(axis=0), p - p.mean()
        with np.errstate(all="ignore"):
            corr = (dv * dp[:, None]).sum(axis=0) / np.sqrt((dv ** 2).sum(axis=0) * (dp ** 2).sum())
        return units[np.argsort(-np.nan_to_num(corr, nan=0.0), kind="stable")]
    raise ValueError(f"unknown unit order {by!r}; expected one of {UNIT_ORDERS}")


def _colour_bar(name: str, lo: float | None, hi: float | None, y: float, length: float) -> dict:
    """The colour bar of one panel, beside it: the state's range (a gate 0..1, tanh -1..1, the cell open)."""
    ticks = {"tickvals": [lo, (lo + hi) / 2, hi]} if lo is not None and hi is not None else {}
    return {"title": {"text": name, "side": "right"}, "y": y, "len": length, "yanchor": "middle",
            "thickness": 12, **ticks}


def gates_figure(tokens: Sequence[str], states: Mapping[str, np.ndarray], running_probability: Sequence[float],
                 title: str = "Gates and states per token", max_units: int | None = None,
                 orders: Mapping[str, Sequence[int]] | None = None,
                 probability_name: str = "P(positive)") -> go.Figure:
    """One heatmap per gate or state (units up, tokens across), the running probability underneath.

    ``states``: name -> ``(T, H)`` values; ``running_probability`` ``(T,)``. Tokens may repeat, so
    the x axis is the position with the token as its tick label, on every panel; the hover gives
    token, unit and value. Each panel has a colour bar over its range (a sigmoid gate 0..1, the
    tanh candidate and hidden state -1..1, the LSTM's cell state its own). ``orders``: name ->
    the units in the order to draw them (:func:`unit_order`), first on top; unlisted states keep
    0, 1, 2, ... ``max_units`` keeps the first units of that order (the hover says which unit).
    """
    t = len(tokens)
    if not t or not states:
        return empty_figure("nothing to show", title)
    names = list(states)
    rows = len(names) + 1
    x = np.arange(t)
    tok = np.array(tokens, dtype=object)
    step = max(1, math.ceil(t / 60))  # at most ~60 labels; the hover names every token
    shown = [layout.fit(str(s), TOKEN_ROOM, max_lines=1) for s in tok[::step]]  # the hover has the whole token
    # between two panels: the upper one's token labels (turned by 60 degrees), then the lower one's title
    turned = max(layout.text_width(s) for s in shown) * math.sin(math.radians(60)) \
        + layout.text_height("x") * math.cos(math.radians(60)) + layout.TICK_PAD
    gap = turned + layout.text_height("x", layout.SUBPLOT_TITLE_FONT) + 2 * GAP
    panel = 190  # px per heatmap; the probability's panel is 0.8 of one
    plot = panel * (len(names) + 0.8) + gap * len(names)
    height = plot + USUAL_TOP + turned + BOTTOM
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=gap / plot,
                        subplot_titles=[STATE_NAMES.get(n, n) for n in names] + [f"running {probability_name}"],
                        row_heights=[1.0] * len(names) + [0.8])
    for r, name in enumerate(names, start=1):
        v = np.asarray(states[name], dtype=float)  # (T, H)
        order = np.asarray((orders or {}).get(name, np.arange(v.shape[1])), dtype=int)[:max_units]
        z = v[:, order].T  # (units drawn, T): a unit per row, in the chosen order
        lo, hi = STATE_SCALES.get(name, (0, 1))
        domain = fig.layout[f"yaxis{r if r > 1 else ''}"].domain
        fig.add_trace(go.Heatmap(name=name, z=z, x=x, y=[str(u) for u in order], zmin=lo, zmax=hi,
                                 colorscale="RdBu" if lo == -1 else ("Viridis" if lo is None else "Blues"),
                                 reversescale=lo == -1, customdata=np.broadcast_to(tok, z.shape),
                                 colorbar=_colour_bar(STATE_NAMES.get(name, name), lo, hi,
                                                      (domain[0] + domain[1]) / 2, domain[1] - domain[0]),
                                 hovertemplate="token %{customdata} (t=%{x})<br>unit %{y}<br>value "
                                               + name + "=%{z:.3f}<extra></extra>"),
                      row=r, col=1)
        fig.update_yaxes(title_text="unit", type="category", autorange="reversed", row=r, col=1)
    prob = np.asarray(running_probability, dtype=float)
    fig.add_trace(go.Scatter(name=f"running {probability_name}", x=x, y=prob, mode="lines+markers", customdata=tok,
                             line={"color": "#0072B2", "width": 2}, marker={"size": 4},
                             hovertemplate="token %{customdata} (t=%{x})<br>" + probability_name
                                           + "=%{y:.3f}<extra></extra>"),
                  row=rows, col=1)
    fig.add_trace(go.Scatter(name="0.5", x=[0, t - 1], y=[0.5, 0.5], mode="lines", showlegend=False,
                             line={"color": GREY, "dash": "dot", "width": 1}, hoverinfo="skip"), row=rows, col=1)
    fig.update_yaxes(range=[-0.02, 1.02], title_text="P", row=rows, col=1)
    fig.update_xaxes(tickvals=x[::step], ticktext=shown, tickangle=-60, showticklabels=True)
    fig.update_layout(showlegend=False)
    return style(fig, title, height=int(height))


def token_values_figure(tokens: Sequence[str], values: Mapping[str, Sequence[float]],
                        title: str = "Saliency per token", y: str = "|grad x input|") -> go.Figure:
    """Bars of one or more per-token values (saliency of one or two runs) over the tokens read."""
    if not tokens or not values:
        return empty_figure("nothing to show", title)
    fig = go.Figure()
    x = np.arange(len(tokens))
    for i, (name, v) in enumerate(values.items()):
        fig.add_trace(go.Bar(name=name, x=x, y=np.asarray(v, dtype=float), customdata=list(tokens),
                             marker_color=run_colour(i),
                             hovertemplate="%{customdata} (t=%{x})<br>%{y:.3g}<extra>" + name + "</extra>"))
    step = max(1, math.ceil(len(tokens) / 60))
    shown = [layout.fit(str(s), TOKEN_ROOM, max_lines=1) for s in list(tokens)[::step]]
    fig.update_xaxes(tickvals=x[::step], ticktext=shown, tickangle=-60)
    fig.update_layout(barmode="group")
    turned = max(layout.text_width(s) for s in shown) * math.sin(math.radians(60))
    return style(fig, title, None, y, height=int(HEIGHT + turned))


def unit_correlations_figure(units: Sequence[str], r: Sequence[float], title: str = "Units that track the pattern",
                             mean_match: Sequence[float] | None = None,
                             mean_other: Sequence[float] | None = None) -> go.Figure:
    """One bar per unit (``LAYER:DIRECTION:UNIT:STATE``, in the order given: strongest first) of its point-biserial
    correlation ``r`` with a pattern (``core.analysis.neurons.pattern_units``), on a fixed -1..1 scale: blue where
    the unit rises at the pattern's tokens, orange where it falls. The hover adds the two means when given."""
    if not units:
        return empty_figure("no unit to show", title)
    r = np.asarray(r, dtype=float)
    names = [str(u) for u in units]
    hover = "unit %{x}<br>r=%{y:.3f}"
    custom = None
    if mean_match is not None and mean_other is not None:
        custom = np.column_stack([np.asarray(mean_match, dtype=float), np.asarray(mean_other, dtype=float)])
        hover += "<br>mean at the pattern %{customdata[0]:.3f}, elsewhere %{customdata[1]:.3f}"
    fig = go.Figure(go.Bar(name="r", x=names, y=r, customdata=custom,
                           marker_color=[POSITIVE if v > 0 else NEGATIVE for v in r],
                           hovertemplate=hover + "<extra></extra>"))
    fig.add_hline(y=0, line={"color": GREY, "width": 1})
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_yaxes(range=[-1, 1])
    return style(fig, title, None, "r (point-biserial)")
