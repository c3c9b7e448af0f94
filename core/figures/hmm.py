"""Figures of the GMM-HMM baseline: Baum-Welch's log-likelihood per iteration, and each class
model's transition matrix and stationary distribution.

What it is: pure builders from an hmm run's ``em`` metric records and the fitted matrices to
Plotly figures; one colour per class (IMDB's negative orange and positive blue: told apart by
colour-blind readers too; another dataset's classes take the run colours).

What it is not: fitting or loading the models (``core.models.hmm``), the Markov-chain maths
(``core.analysis.markov``), the tokens coloured by Viterbi state (HTML, ``dashboard.markup``),
the HMM's cost beside the RNNs' (:mod:`core.figures.comparison`), Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rnnlab.core.figures import layout
from rnnlab.core.figures.style import (
    NEGATIVE,
    POSITIVE,
    bar_labels,
    empty_figure,
    integer_axis,
    panel_grid,
    run_colour,
    style,
)

IMDB_CLASSES = ("negative", "positive")  # a run stored before runs kept their class names is IMDB's
CLASS_COLOURS = {"negative": NEGATIVE, "positive": POSITIVE}  # IMDB's; other classes take the run colours


def _class_name(c: Any, classes: Sequence[str]) -> str:
    """Class ``c`` (its index, as a record stores it) by name; an index out of range, or a name, as it is."""
    if isinstance(c, str) and c.isdigit():
        c = int(c)
    return classes[c] if isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(classes) else str(c)


def em_frame(records: Sequence[Mapping[str, Any]], classes: Sequence[str] = IMDB_CLASSES) -> pd.DataFrame:
    """An hmm run's ``"em"`` metric records -> columns ``model, iteration, log_likelihood_per_token``, each class
    model named by ``classes`` (the run's class names, in label order)."""
    rows = [{"model": _class_name(r.get("class"), classes), "iteration": r.get("iteration"),
             "log_likelihood": r.get("log_likelihood"), "log_likelihood_per_token": r.get("log_likelihood_per_token")}
            for r in records if r.get("kind") == "em"]
    return pd.DataFrame(rows, columns=["model", "iteration", "log_likelihood", "log_likelihood_per_token"])


def em_curves(frame: pd.DataFrame, title: str = "Baum-Welch: log-likelihood per iteration") -> go.Figure:
    """Log-likelihood per token against the EM iteration, one line per class model."""
    if frame.empty:
        return empty_figure("no iterations recorded", title)
    fig = go.Figure()
    for i, (model, part) in enumerate(frame.groupby("model", sort=True)):
        fig.add_trace(go.Scatter(name=f"{model} model", x=part["iteration"] + 1, y=part["log_likelihood_per_token"],
                                 mode="lines+markers", line={"color": CLASS_COLOURS.get(model, run_colour(i))}))
    integer_axis(fig, "x", frame["iteration"] + 1)
    return style(fig, title, "iteration", "log-likelihood per token")


def transition_heatmaps(matrices: Mapping[str, np.ndarray], title: str = "Transition matrices",
                        width: int = layout.NARROW) -> go.Figure:
    """One annotated heatmap per class model: row i is the distribution of the next state from state i.

    As many side by side as fit ``width`` (three at most), each under its class model's name fitted to
    its column; the colour bar (0..1, shared) beside the last.
    """
    if not matrices:
        return empty_figure("no model", title)
    names = list(matrices)
    states = max(np.asarray(p).shape[0] for p in matrices.values())
    labels = [f"s{i}" for i in range(states)]
    tick = max(layout.text_width(lab) for lab in labels) + layout.TICK_PAD
    axis_title = layout.text_height("to", layout.AXIS_TITLE_FONT) + layout.TITLE_STANDOFF
    cell = layout.text_width("0.25") + 2  # px a cell needs for its probability
    fig, cols, height = panel_grid([f"{n} model" for n in names], width=width, panel_height=180,
                                   least_width=max(100.0, cell * states), left=tick + axis_title,
                                   right=layout.COLORBAR_PAD + layout.COLORBAR + layout.COLORBAR_LABELS,
                                   between=tick + 8, below=layout.text_height(labels[0]) + layout.TICK_PAD + axis_title)
    for i, name in enumerate(names):
        p = np.asarray(matrices[name], dtype=float)
        state_labels = [f"s{j}" for j in range(p.shape[0])]
        fig.add_trace(go.Heatmap(name=name, z=p, x=state_labels, y=state_labels, zmin=0, zmax=1, colorscale="Blues",
                                 showscale=i == len(names) - 1, text=[[f"{v:.2f}" for v in row] for row in p],
                                 texttemplate="%{text}",
                                 hovertemplate="from %{y} to %{x}: %{z:.3f}<extra>" + name + "</extra>"),
                      row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(title_text="to")
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(title_text="from", col=1)
    return style(fig, title, height=int(height), width=width)


def stationary_bars(dists: Mapping[str, np.ndarray], title: str = "Stationary distributions π = πP") -> go.Figure:
    """Grouped bars: each class model's stationary distribution over its hidden states."""
    if not dists:
        return empty_figure("no model", title)
    fig = go.Figure()
    for i, (name, pi) in enumerate(dists.items()):
        pi = np.asarray(pi, dtype=float)
        fig.add_trace(go.Bar(name=f"{name} model", x=[f"s{j}" for j in range(len(pi))], y=pi,
                             marker_color=CLASS_COLOURS.get(name, run_colour(i)),
                             text=[f"{v:.2f}" for v in pi], textposition="outside"))
    fig.update_layout(barmode="group")
    style(fig, title, "hidden state", "probability")
    return bar_labels(fig, upto=1.0)  # each probability written over its bar, with the room it needs
