"""Figures of the word2vec embeddings: a word's nearest neighbours, a 2D map of the vocabulary and
the training loss per epoch.

What it is not: training, loading or projecting the vectors (``core.models.word2vec``), Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from rnnlab.core.figures.style import HEIGHT, bar_labels, category_labels, empty_figure, integer_axis, style


def neighbour_bars(pairs: Sequence[tuple[str, float]], word: str) -> go.Figure:
    """The nearest neighbours of ``word`` as horizontal bars of cosine similarity, nearest on top."""
    title = f"Nearest neighbours of “{word}”"
    if not pairs:
        return empty_figure("no neighbours", title)
    words = [w for w, _ in pairs]
    sims = [s for _, s in pairs]
    fig = go.Figure(go.Bar(name="cosine similarity", x=sims, y=words, orientation="h", marker_color="#1f77b4",
                           text=[f"{s:.3f}" for s in sims], textposition="outside"))
    fig.update_yaxes(autorange="reversed")
    height = max(HEIGHT, 40 + 26 * len(pairs))
    category_labels(fig, "y", words, height=height)
    style(fig, title, "cosine similarity", None, height=height)
    return bar_labels(fig)  # each similarity written beyond its bar (left of a negative one), whole


def projection_figure(proj: Mapping[str, Any], highlight: Sequence[str] = (), title: str = "Word map (PCA to 2D)",
                      labels: int = 60) -> go.Figure:
    """The words of ``proj`` (``core.models.word2vec.WordVectors.projection_2d``) as points in the plane.

    ``highlight`` words are drawn larger in red; the first ``labels`` words (and every highlighted
    one) carry their text, the rest show it on hover.
    """
    words = list(proj.get("words") or [])
    if not words:
        return empty_figure("no words with a vector", title)
    x, y = np.asarray(proj["x"], dtype=float), np.asarray(proj["y"], dtype=float)
    hi = set(highlight)
    mask = np.array([w in hi for w in words])
    text = [w if (i < labels or w in hi) else "" for i, w in enumerate(words)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(name="words", x=x[~mask], y=y[~mask], mode="markers+text",
                             text=[t for t, m in zip(text, mask, strict=True) if not m],
                             hovertext=[w for w, m in zip(words, mask, strict=True) if not m], hoverinfo="text",
                             textposition="top center", marker={"size": 6, "color": "#1f77b4", "opacity": 0.7},
                             textfont={"size": 10}))
    if mask.any():
        fig.add_trace(go.Scatter(name="chosen words", x=x[mask], y=y[mask], mode="markers+text",
                                 text=[w for w, m in zip(words, mask, strict=True) if m], hoverinfo="text",
                                 textposition="top center", marker={"size": 11, "color": "#d62728"},
                                 textfont={"size": 13, "color": "#d62728"}))
    ratio = list(proj.get("explained_variance_ratio") or [0.0, 0.0]) + [0.0, 0.0]
    return style(fig, title, f"PC 1 ({ratio[0]:.0%} of the variance)", f"PC 2 ({ratio[1]:.0%})", height=520)


def loss_per_epoch(losses: Sequence[float], title: str = "word2vec training loss per epoch") -> go.Figure:
    """The word2vec loss after each epoch, epochs counted from 1."""
    if not losses:
        return empty_figure("no epochs recorded", title)
    fig = go.Figure(go.Scatter(name="loss", x=np.arange(1, len(losses) + 1), y=list(losses), mode="lines+markers"))
    integer_axis(fig, "x", np.arange(1, len(losses) + 1))
    return style(fig, title, "epoch", "loss")
