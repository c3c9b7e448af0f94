"""The Classify page's figure: every model's probability for one text, coloured by model under a named legend.

Runs of one two-class dataset (IMDB: negative / positive) share one axis, P(second class), with
the 0.5 decision boundary. Runs with more classes, or of datasets with different class names, are
drawn on the probability of the class each predicts (named beside its bar), with the chance level
1/K of each run marked.

What it is not: running the models (``core.analysis.predict``), the tokens each model read (HTML,
``dashboard.markup``), Streamlit.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from rnnlab.core.figures.style import GREY, USUAL_TOP, bar_labels, category_labels, cell_colour, empty_figure, style

BINARY = ["negative", "positive"]  # IMDB's classes, for a row without its own


def _classes(row: Any) -> list[str]:
    classes = row.get("classes") if hasattr(row, "get") else None
    return list(classes) if isinstance(classes, list | tuple) and len(classes) >= 2 else BINARY


def probability_bars(results: pd.DataFrame, title: str | None = None) -> go.Figure:
    """One horizontal bar per model (columns ``run``, ``model``, ``probability``; optional ``label``, ``classes``).

    ``probability`` is p(second class) for a two-class run and the predicted class's probability
    for a K-class one (as ``core.analysis.predict.classify`` returns them). Each colour (one per
    model) is named in the legend.
    """
    if results.empty:
        return empty_figure("no model to ask", title or "P(positive) from every model")
    rows = [r for _, r in results.iterrows()]
    classes = [_classes(r) for r in rows]
    binary = all(c == classes[0] for c in classes) and len(classes[0]) == 2
    probs = [float(r["probability"]) for r in rows]
    if binary:
        what = f"P({classes[0][1]})"
        x, text = probs, [f"{p:.3f}" for p in probs]
    else:
        what = "P(predicted class)"
        x = [max(p, 1 - p) if len(c) == 2 else p for p, c in zip(probs, classes, strict=True)]
        labels = [str(r.get("label", "")) for r in rows]
        text = [f"{p:.3f} {lab}" for p, lab in zip(x, labels, strict=True)]
    title = title or f"{what} from every model"
    colours = [cell_colour(r["model"], i) for i, r in enumerate(rows)]
    runs = [r["run"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(name=what, y=runs, x=x, orientation="h", marker_color=colours, text=text,
                         textposition="outside", showlegend=False,
                         hovertemplate="%{y}<br>" + what + "=%{x:.4f}<extra></extra>"))
    named: dict[str, str] = {}
    for r, c in zip(rows, colours, strict=True):
        named.setdefault(str(r["model"]), c)
    for model, c in named.items():  # legend entries only: the colour of each model
        fig.add_trace(go.Bar(name=model, y=[None], x=[None], orientation="h", marker_color=c, hoverinfo="skip"))
    if binary:
        fig.add_trace(go.Scatter(name="decision boundary 0.5", x=[0.5, 0.5], y=[runs[0], runs[-1]], mode="lines",
                                 line={"color": "#444", "dash": "dash"}))
    else:
        fig.add_trace(go.Scatter(name="chance (1 / classes)", x=[1 / len(c) for c in classes], y=runs,
                                 mode="markers", marker={"symbol": "line-ns-open", "size": 18, "color": GREY,
                                                         "line": {"width": 2}}))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(barmode="overlay")
    plot = max(120, 40 + 38 * len(results))  # px of bars, one line of 38 px per model
    height = int(plot + USUAL_TOP + 60)  # under it the probability axis's labels and title
    category_labels(fig, "y", runs, height=height)  # long run names fitted beside their bars; whole on hover
    style(fig, title, what, None, height=height)
    return bar_labels(fig, upto=1.0)  # each probability written beyond its bar, with the room it needs
