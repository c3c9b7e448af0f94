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

from rnnlab.core.figures import layout
from rnnlab.core.figures.style import HEIGHT, LABEL_COLOURS, empty_figure, integer_axis, panel_grid, run_colour, style


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
    integer_axis(fig, "y", [c for tr in fig.data for c in tr.y])  # counts: never "1.5 reviews"
    if max_len is not None and max_len <= top:  # a line beyond every review would only squash the bars
        fig.add_vline(x=max_len, line_dash="dash", line_color="#444",
                      annotation_text=f"max_len {max_len}", annotation_position="top right")
    return style(fig, f"Review length ({unit})", unit, "reviews")


def word_frequency(freqs: pd.DataFrame, top: int = 20, width: int = layout.NARROW) -> go.Figure:
    """The ``top`` most frequent words of each ``group``, side by side (columns ``group, word, count``).

    As many groups side by side as fit ``width`` (three at most), the others in further rows; each
    group's name fitted over its panel.
    """
    if freqs.empty:
        return empty_figure("no words", "Most frequent words")
    groups = sorted(freqs["group"].unique(), key=str)
    parts = [freqs[freqs["group"] == g].nlargest(top, "count").iloc[::-1] for g in groups]  # largest at the top
    words = max((layout.text_width(str(w)) for part in parts for w in part["word"]), default=0.0) + layout.TICK_PAD
    count = max(layout.text_width(f"{int(c):,}") for c in freqs["count"])
    fig, cols, height = panel_grid([str(g) for g in groups], width=width, panel_height=max(HEIGHT - 80, 14 * top),
                                   least_width=words + 2 * count, left=words, between=words + 12,
                                   below=layout.text_height("0") + layout.TICK_PAD)
    for i, (g, part) in enumerate(zip(groups, parts, strict=True)):
        fig.add_trace(go.Bar(name=str(g), x=part["count"], y=part["word"], orientation="h",
                             marker_color=LABEL_COLOURS.get(str(g), run_colour(i)), showlegend=False),
                      row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(nticks=4)  # a few counts under each narrow panel, level, never crowded into a turn
    return style(fig, "Most frequent words", height=int(height), width=width)
