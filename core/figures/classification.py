"""The Classify page's figure: every model's probability that a text is positive, with the 0.5 boundary.

What it is not: running the models (``core.analysis.predict``), the tokens each model read (HTML,
``dashboard.markup``), Streamlit.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.figures.style import cell_colour, empty_figure, style


def probability_bars(results: pd.DataFrame, title: str = "P(positive) from every model") -> go.Figure:
    """One horizontal bar per model (columns ``run``, ``model``, ``probability``) with the 0.5 boundary."""
    if results.empty:
        return empty_figure("no model to ask", title)
    fig = go.Figure()
    colours = [cell_colour(m, i) for i, m in enumerate(results["model"])]
    fig.add_trace(go.Bar(name="P(positive)", y=results["run"], x=results["probability"], orientation="h",
                         marker_color=colours, text=[f"{p:.3f}" for p in results["probability"]],
                         textposition="outside", hovertemplate="%{y}<br>P(positive)=%{x:.4f}<extra></extra>"))
    fig.add_trace(go.Scatter(name="decision boundary 0.5", x=[0.5, 0.5], y=[results["run"].iloc[0],
                                                                             results["run"].iloc[-1]],
                             mode="lines", line={"color": "#444", "dash": "dash"}))
    fig.update_xaxes(range=[0, 1.12])
    fig.update_yaxes(autorange="reversed", type="category")
    return style(fig, title, "P(positive)", None, height=max(220, 60 + 38 * len(results)))
