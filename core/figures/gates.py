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


def gates_figure(tokens: Sequence[str], states: Mapping[str, np.ndarray], running_probability: Sequence[float],
                 title: str = "Gates and states per token", max_units: int | None = None) -> go.Figure:
    """One heatmap per gate or state (units up, tokens across), the running P(positive) underneath.

    ``states``: name -> ``(T, H)`` values; ``running_probability`` ``(T,)``. Tokens may repeat, so
    the x axis is the position with the token as its tick label; the hover gives token, unit, value.
    ``max_units`` keeps the first units of a wide state (the hover says how many there are).
    """
    t = len(tokens)
    if not t or not states:
        return empty_figure("nothing to show", title)
    names = list(states)
    rows = len(names) + 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        subplot_titles=[STATE_NAMES.get(n, n) for n in names] + ["running P(positive)"],
                        row_heights=[1.0] * len(names) + [0.8])
    x = np.arange(t)
    tok = np.array(tokens, dtype=object)
    for r, name in enumerate(names, start=1):
        v = np.asarray(states[name], dtype=float)[:, :max_units]  # (T, H)
        lo, hi = STATE_SCALES.get(name, (0, 1))
        z = v.T  # (H, T): a unit per row
        fig.add_trace(go.Heatmap(name=name, z=z, x=x, y=np.arange(z.shape[0]), zmin=lo, zmax=hi,
                                 colorscale="RdBu" if lo == -1 else ("Viridis" if lo is None else "Blues"),
                                 reversescale=lo == -1, customdata=np.broadcast_to(tok, z.shape),
                                 showscale=False,
                                 hovertemplate="%{customdata} (t=%{x})<br>unit %{y}<br>" + name
                                               + "=%{z:.3f}<extra></extra>"),
                      row=r, col=1)
        fig.update_yaxes(title_text="unit", row=r, col=1)
    prob = np.asarray(running_probability, dtype=float)
    fig.add_trace(go.Scatter(name="running P(positive)", x=x, y=prob, mode="lines+markers", customdata=tok,
                             line={"color": "#2ca02c", "width": 2}, marker={"size": 4},
                             hovertemplate="%{customdata} (t=%{x})<br>P(positive)=%{y:.3f}<extra></extra>"),
                  row=rows, col=1)
    fig.add_trace(go.Scatter(name="0.5", x=[0, t - 1], y=[0.5, 0.5], mode="lines", showlegend=False,
                             line={"color": GREY, "dash": "dot", "width": 1}, hoverinfo="skip"), row=rows, col=1)
    fig.update_yaxes(range=[-0.02, 1.02], title_text="P", row=rows, col=1)
    step = max(1, math.ceil(t / 60))  # at most ~60 labels; the hover names every token
    fig.update_xaxes(tickvals=x[::step], ticktext=[str(s) for s in tok[::step]], tickangle=-60, row=rows, col=1)
    fig.update_layout(showlegend=False)
    return style(fig, title, height=170 * len(names) + 200)


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
