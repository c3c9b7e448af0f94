"""The look every RNN Lab figure shares, and the export of any figure as a table.

What it is: the colours (per cell type, per label, per run), the common layout (:func:`style`),
the blank figure that says why it is blank (:func:`empty_figure`), a run's legend name, and
:func:`figure_data` / :func:`figure_csv`, which turn any figure back into the table its CSV
export holds, so no figure builder writes its own export. Every topic module beside this one
reuses ``style``, ``run_colour`` and ``CELL_COLOURS``, so every page and the report look alike.

What it is not: any particular chart (one module per topic beside this one), Streamlit, reading
runs or files.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

CELL_COLOURS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c", "hmm": "#9467bd"}
LABEL_COLOURS = {"neg": "#d62728", "pos": "#2ca02c", "unlabelled": "#7f7f7f"}
# distinct colours for runs drawn together (Plotly's qualitative "D3" set, reordered for contrast)
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f")
GREY = "#9a9a9a"  # what is shown but not the point: reference lines, tokens a model did not read
HEIGHT = 360  # px: two charts fit side by side on a laptop screen


def run_colour(i: int) -> str:
    """The colour of the ``i``-th run drawn in one chart."""
    return PALETTE[i % len(PALETTE)]


def cell_colour(cell: str | None, i: int) -> str:
    """The cell type's colour (the GMM-HMM's model name included), else the ``i``-th run colour."""
    return CELL_COLOURS.get("hmm" if cell == "gmmhmm" else str(cell), run_colour(i))


def run_label(run_id: str, model: str | None = None) -> str:
    """A short legend name for a run: ``lstm · 3f2a1c`` (the model and the id's random suffix)."""
    suffix = run_id.rsplit("-", 1)[-1]
    return f"{model} · {suffix}" if model else run_id


def _legend_lines(fig: go.Figure, width_px: int = 520) -> int:
    """Rough number of lines a horizontal legend takes (~7 px per character, 40 px per entry's symbol)."""
    names = [tr.name for tr in fig.data if tr.name and tr.showlegend is not False]
    if not names:
        return 0
    lines, used = 1, 0
    for name in names:
        w = 40 + 7 * len(name)
        if used and used + w > width_px:
            lines, used = lines + 1, 0
        used += w
    return lines


def style(fig: go.Figure, title: str | None = None, x: str | None = None, y: str | None = None,
          height: int = HEIGHT) -> go.Figure:
    """The common look: title at the top, the legend between it and the plot, compact margins."""
    legend = _legend_lines(fig)
    top = (34 if title else 8) + 22 * legend
    fig.update_layout(title={"text": title, "y": 1.0, "yref": "container", "yanchor": "top", "pad": {"t": 10}}
                      if title else None,
                      height=height + 22 * max(legend - 1, 0), margin={"l": 10, "r": 10, "t": top + 10, "b": 10},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
                      template="plotly_white")
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return fig


def empty_figure(message: str, title: str | None = None) -> go.Figure:
    """A blank chart that says why it is blank (no data yet)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#7f7f7f"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, title)


def _values(v: Any) -> list[Any] | None:
    if v is None:
        return None
    return list(np.asarray(v).ravel()) if not isinstance(v, str) else [v]


def figure_data(fig: go.Figure) -> pd.DataFrame:
    """The numbers a figure draws, one row per point: ``trace, x, y`` (and ``z`` for heatmaps).

    This is what a chart's CSV export holds, so every chart can be exported without each
    builder writing its own export. Heatmaps are unrolled to one row per cell.
    """
    frames = []
    for i, tr in enumerate(fig.data):
        name = tr.name if getattr(tr, "name", None) else f"trace {i}"
        z = getattr(tr, "z", None)
        if z is not None:
            z = np.asarray(z)
            xs = _values(tr.x) or list(range(z.shape[1]))
            ys = _values(tr.y) or list(range(z.shape[0]))
            rows = [{"trace": name, "x": xs[c], "y": ys[r], "z": z[r, c]}
                    for r in range(z.shape[0]) for c in range(z.shape[1])]
            frames.append(pd.DataFrame(rows))
            continue
        xs, ys = _values(getattr(tr, "x", None)), _values(getattr(tr, "y", None))
        if xs is None and ys is None:
            continue
        n = len(xs if xs is not None else ys)
        frames.append(pd.DataFrame({"trace": [name] * n, "x": xs if xs is not None else list(range(n)),
                                    "y": ys if ys is not None else [None] * n}))
    if not frames:
        return pd.DataFrame(columns=["trace", "x", "y"])
    return pd.concat(frames, ignore_index=True)


def figure_csv(fig: go.Figure) -> bytes:
    """:func:`figure_data` as UTF-8 CSV bytes (for a download button)."""
    return figure_data(fig).to_csv(index=False).encode("utf-8")
