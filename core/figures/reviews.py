"""Figures of the IMDB reviews (the Data page): reviews per split and label, their lengths, their most frequent words.

What it is: pure builders from counts and pandas frames (as ``core.data.imdb`` and ``core.data.text``
measure them) to Plotly figures in the shared look of :mod:`core.figures.style`. Histograms are binned
here, so a figure (and its CSV) holds counts, not 100,000 raw values.

What it is not: reading or measuring the dataset (``core.data``), the before/after view of a
preprocessing stage (HTML, ``dashboard.markup``), Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.figures.style import HEIGHT, LABEL_COLOURS, empty_figure, run_colour, style


def dataset_counts(counts: Mapping[str, Mapping[str, int]]) -> go.Figure:
    """Reviews per split, one bar per label: ``counts[split][label]`` as in ``core.data.imdb.dataset_status``."""
    fig = go.Figure()
    splits = [s for s in ("train", "test", "unsup") if s in counts] + [s for s in counts if s not in
                                                                       ("train", "test", "unsup")]
    labels = sorted({lab for s in splits for lab in counts[s]}, key=lambda x: ("neg", "pos", "unlabelled").index(x)
                    if x in ("neg", "pos", "unlabelled") else 9)
    for lab in labels:
        fig.add_trace(go.Bar(name=lab, x=splits, y=[counts[s].get(lab, 0) for s in splits],
                             marker_color=LABEL_COLOURS.get(lab)))
    fig.update_layout(barmode="group")
    return style(fig, "Reviews per split and label", "split", "reviews")


def length_histogram(lengths: pd.DataFrame, bins: int = 50, max_len: int | None = None,
                     unit: str = "words") -> go.Figure:
    """Overlaid histograms of review lengths, one per ``group`` (columns ``group``, ``length``).

    Bins are shared by every group and computed here, so the figure (and its CSV) holds counts,
    not 100,000 raw values. The long tail beyond the 99.5th percentile is folded into the last
    bin. ``max_len`` draws the truncation length as a vertical line.
    """
    if lengths.empty:
        return empty_figure("no reviews", "Review length")
    values = lengths["length"].to_numpy(dtype=float)
    top = max(float(np.quantile(values, 0.995)), 1.0)
    edges = np.linspace(0.0, top, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for i, (group, part) in enumerate(lengths.groupby("group", sort=True)):
        counts, _ = np.histogram(np.clip(part["length"].to_numpy(dtype=float), 0, top), bins=edges)
        colour = LABEL_COLOURS.get(str(group), run_colour(i))
        fig.add_trace(go.Bar(name=str(group), x=centres, y=counts, width=edges[1] - edges[0], opacity=0.6,
                             marker_color=colour))
    fig.update_layout(barmode="overlay")
    if max_len is not None and max_len <= top:  # a line beyond every review would only squash the bars
        fig.add_vline(x=max_len, line_dash="dash", line_color="#444",
                      annotation_text=f"max_len {max_len}", annotation_position="top right")
    return style(fig, f"Review length ({unit})", unit, "reviews")


def word_frequency(freqs: pd.DataFrame, top: int = 20) -> go.Figure:
    """The ``top`` most frequent words of each ``group``, side by side (columns ``group, word, count``)."""
    if freqs.empty:
        return empty_figure("no words", "Most frequent words")
    groups = sorted(freqs["group"].unique(), key=str)
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[str(g) for g in groups],
                        horizontal_spacing=0.12)
    for i, g in enumerate(groups):
        part = freqs[freqs["group"] == g].nlargest(top, "count").iloc[::-1]  # largest at the top
        fig.add_trace(go.Bar(name=str(g), x=part["count"], y=part["word"], orientation="h",
                             marker_color=LABEL_COLOURS.get(str(g), run_colour(i)), showlegend=False),
                      row=1, col=i + 1)
    return style(fig, "Most frequent words", height=max(HEIGHT, 18 * top + 80))
