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

from core.figures.style import GREY, empty_figure, run_colour, style

STATE_NAMES = {"input_gate": "input gate i", "forget_gate": "forget gate f", "output_gate": "output gate o",
               "candidate": "candidate g / n", "cell": "cell state c", "hidden": "hidden state h",
               "reset_gate": "reset gate r", "update_gate": "update gate z"}
STATE_SCALES = {"candidate": (-1, 1), "hidden": (-1, 1), "cell": (None, None)}  # gates lie in [0, 1]
UNIT_ORDERS = ("none", "variance", "correlation")


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
    panel, gap = 190, 110  # px per heatmap; room between panels for the token labels and the next title
    height = panel * len(names) + 160 + gap * len(names)
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=gap / height,
                        subplot_titles=[STATE_NAMES.get(n, n) for n in names] + [f"running {probability_name}"],
                        row_heights=[1.0] * len(names) + [0.8])
    x = np.arange(t)
    tok = np.array(tokens, dtype=object)
    step = max(1, math.ceil(t / 60))  # at most ~60 labels; the hover names every token
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
    fig.update_xaxes(tickvals=x[::step], ticktext=[str(s) for s in tok[::step]], tickangle=-60, showticklabels=True)
    fig.update_layout(showlegend=False)
    return style(fig, title, height=height)


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
    fig.update_xaxes(tickvals=x[::step], ticktext=list(tokens)[::step], tickangle=-60)
    fig.update_layout(barmode="group")
    return style(fig, title, None, y)
