"""Figures that put runs side by side: per-epoch curves, test metrics, parameter counts, confusion
matrices (2x2 per run, or one K-class matrix), ROC curves and training cost.

What it is: pure builders from one table row (or mapping entry) per run to Plotly figures, one
colour per run (or per cell type). Drawn by the Compare and HMM pages and by the seed report
(``core.report.experiment``).

What it is not: collecting the runs' results (``core.jobs.store``, ``dashboard.state``), the live
curves of one run in training (:mod:`core.figures.training`), Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rnnlab.core.figures import layout
from rnnlab.core.figures.style import (
    HEIGHT,
    bar_labels,
    category_labels,
    cell_colour,
    empty_figure,
    format_number,
    integer_axis,
    log_axis,
    panel_grid,
    run_colour,
    style,
)

METRIC_NAMES = {
    "val_accuracy": "validation accuracy", "val_loss": "validation loss", "train_loss": "training loss",
    "train_accuracy": "training accuracy", "test_accuracy": "test accuracy", "precision": "precision",
    "recall": "recall", "f1": "F1", "roc_auc": "ROC-AUC", "epoch_time_s": "epoch time (s)",
    "samples_per_s": "samples/s", "mse": "test MSE",
}


def epoch_curves(epochs: pd.DataFrame, metric: str) -> go.Figure:
    """One line per run of ``metric`` against the epoch (columns ``run``, ``epoch``, ``metric``).

    ``epoch`` is 0-based as stored; the axis shows epochs from 1.
    """
    name = METRIC_NAMES.get(metric, metric)
    if epochs.empty or metric not in epochs or epochs[metric].isna().all():
        return empty_figure(f"no {name} recorded", f"{name.capitalize()} per epoch")
    fig = go.Figure()
    for i, (run, part) in enumerate(epochs.groupby("run", sort=False)):
        part = part.sort_values("epoch")
        fig.add_trace(go.Scatter(name=str(run), x=part["epoch"] + 1, y=part[metric], mode="lines+markers",
                                 line={"color": run_colour(i), "width": 2}))
    integer_axis(fig, "x", epochs["epoch"] + 1)
    return style(fig, f"{name.capitalize()} per epoch", "epoch", name)


def metric_bars(table: pd.DataFrame, metrics: Sequence[str] = ("test_accuracy", "f1", "roc_auc")) -> go.Figure:
    """Grouped bars: one group per run (column ``run``), one bar per metric."""
    present = [m for m in metrics if m in table and table[m].notna().any()]
    if table.empty or not present:
        return empty_figure("no test metrics yet", "Test metrics")
    fig = go.Figure()
    for i, m in enumerate(present):
        fig.add_trace(go.Bar(name=METRIC_NAMES.get(m, m), x=table["run"], y=table[m], marker_color=run_colour(i),
                             text=[f"{v:.3f}" if pd.notna(v) else "" for v in table[m]]))
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.08)
    below = category_labels(fig, "x", table["run"])
    style(fig, "Test metrics", "run", "score", height=HEIGHT + below)
    return bar_labels(fig, upto=1.0)  # scores end at 1; an MSE may not


def params_bars(table: pd.DataFrame) -> go.Figure:
    """Recurrent parameters per run: the seed report's formula beside PyTorch's count.

    Columns ``run``, ``params_seed_formula``, ``params_pytorch``. PyTorch keeps two bias
    vectors per gate where the formula counts one, so its bars are higher by ``G * m`` per cell.
    """
    cols = [("params_seed_formula", "seed formula G(n+m+1)m", "#ff7f0e"),
            ("params_pytorch", "PyTorch count", "#1f77b4")]
    if table.empty or not any(c in table and table[c].notna().any() for c, _, _ in cols):
        return empty_figure("no parameter counts yet", "Recurrent parameters")
    fig = go.Figure()
    for col, name, colour in cols:
        if col in table:
            fig.add_trace(go.Bar(name=name, x=table["run"], y=table[col], marker_color=colour,
                                 text=[f"{int(v):,}" if pd.notna(v) else "" for v in table[col]]))
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.08)
    below = category_labels(fig, "x", table["run"])
    style(fig, "Recurrent parameters", "run", "parameters", height=HEIGHT + below)
    return bar_labels(fig)  # each count written whole ("30,200"), upright over its own bar


def confusion_matrices(matrices: Mapping[str, Sequence[Sequence[float]]], normalise: bool = False,
                       per_row: int = 3, width: int = layout.NARROW) -> go.Figure:
    """One annotated 2x2 heatmap per run: rows the true label, columns the predicted one.

    ``matrices``: run name -> ``[[tn, fp], [fn, tp]]`` (``test_metrics.json``'s
    ``confusion_matrix``). ``normalise`` divides each row by its total (the recall per class).
    Each matrix has its run's name over it, fitted to its column (two lines, shortened in the middle
    where need be: the full name is in the hover); as many matrices side by side as fit ``width``
    (at most ``per_row``), the others in further rows.
    """
    if not matrices:
        return empty_figure("no confusion matrices yet", "Confusion matrices")
    names = list(matrices)
    labels = ["neg", "pos"]
    x, y = [f"pred {lab}" for lab in labels], [f"true {lab}" for lab in labels]
    left = max(layout.text_width(t) for t in y) + layout.TICK_PAD
    below = layout.text_height(x[0]) + layout.TICK_PAD
    fig, cols, height = panel_grid(names, width=width, panel_height=170, most=per_row, least_width=150,
                                   left=left, between=16, below=below)
    for i, name in enumerate(names):
        cm = np.asarray(matrices[name], dtype=float)
        z = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalise else cm
        text = [[f"{v:.2f}" if normalise else f"{int(v):,}" for v in row] for row in z]
        fig.add_trace(go.Heatmap(name=name, z=z, x=x, y=y, text=text, texttemplate="%{text}",
                                 colorscale="Blues", showscale=False, zmin=0, zmax=1 if normalise else None,
                                 hovertemplate=f"{name}<br>%{{y}}, %{{x}}: %{{text}}<extra></extra>"),
                      row=i // cols + 1, col=i % cols + 1)
    fig.update_yaxes(autorange="reversed")
    for c in range(2, cols + 1):  # the true labels only once per row, left of the first matrix
        fig.update_yaxes(showticklabels=False, col=c)
    title = "Confusion matrices" + (" (row-normalised)" if normalise else "")
    return style(fig, title, height=int(height), width=width)


def confusion_matrix(matrix: Sequence[Sequence[float]], class_names: Sequence[str], title: str | None = None,
                     normalise: bool = False) -> go.Figure:
    """One K x K confusion matrix: rows the true class, columns the predicted one, class names on both axes.

    Every cell is written as its count and its share of the row (the true class's total), e.g.
    ``"40 (80%)"``. ``normalise`` colours by that share (so rare classes are not washed out) instead
    of the count. Works for any K >= 2.
    """
    cm = np.asarray(matrix, dtype=float)
    names = [str(c) for c in class_names]
    title = title or ("Confusion matrix" + (" (row-normalised)" if normalise else ""))
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        return empty_figure("no confusion matrix yet", title)
    if len(names) != cm.shape[0]:
        raise ValueError(f"{len(names)} class names for a {cm.shape[0]} x {cm.shape[1]} matrix")
    totals = cm.sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        share = np.where(totals > 0, cm / np.where(totals > 0, totals, 1), 0.0)
    text = [[f"{int(round(c)):,}<br>({p:.0%})" for c, p in zip(row, prow, strict=True)]
            for row, prow in zip(cm, share, strict=True)]
    z = share if normalise else cm
    k = len(names)
    fig = go.Figure(go.Heatmap(name="confusion", z=z, x=[f"{n}" for n in names], y=[f"{n}" for n in names],
                               text=text, texttemplate="%{text}", colorscale="Blues", zmin=0,
                               zmax=1 if normalise else max(float(cm.max()), 1.0),
                               colorbar={"title": {"text": "row share" if normalise else "reviews"}},
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>"))
    fig.update_xaxes(title_text="predicted class", side="bottom")
    fig.update_yaxes(title_text="true class", autorange="reversed")
    below = category_labels(fig, "x", names)
    category_labels(fig, "y", names, height=max(HEIGHT, 80 + 60 * k), room=0.25 * layout.NARROW)  # a colour bar too
    return style(fig, title, height=max(HEIGHT, 80 + 60 * k) + int(below))


def roc_curves(rocs: Mapping[str, Mapping[str, Any]]) -> go.Figure:
    """ROC curves overlaid, one per run (``{"fpr": [...], "tpr": [...], "auc": float}``), with chance."""
    if not rocs:
        return empty_figure("no ROC curves yet", "ROC curves")
    fig = go.Figure()
    fig.add_trace(go.Scatter(name="chance", x=[0, 1], y=[0, 1], mode="lines",
                             line={"color": "#bbbbbb", "dash": "dash"}))
    for i, (name, roc) in enumerate(rocs.items()):
        auc = roc.get("auc")
        label = f"{name} (AUC {auc:.3f})" if auc is not None else name
        fig.add_trace(go.Scatter(name=label, x=roc["fpr"], y=roc["tpr"], mode="lines",
                                 line={"color": run_colour(i), "width": 2}))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02], scaleanchor="x", scaleratio=1)
    return style(fig, "ROC curves (test split)", "false positive rate", "true positive rate")


def cost_bars(table: pd.DataFrame, column: str = "train_time_s", title: str = "Training (fit) time",
              y: str = "seconds (log scale)") -> go.Figure:
    """One bar per run (columns ``run``, ``cell``, ``column``), coloured by cell type, on a log axis."""
    part = table.dropna(subset=[column]) if column in table else table.iloc[0:0]
    if part.empty:
        return empty_figure("no timings yet", title)
    fig = go.Figure(go.Bar(name=column, x=part["run"], y=part[column],
                           marker_color=[cell_colour(c, i) for i, c in enumerate(part["cell"])],
                           text=[format_number(v, 3) for v in part[column]]))
    below = category_labels(fig, "x", part["run"])
    log_axis(fig, "y", values=part[column])  # log first: bar_labels sizes a log axis in decades
    style(fig, title, "run", y, height=HEIGHT + below)
    bar_labels(fig)  # the range: from half a decade under the least bar to room over the tallest for its label
    low, high = fig.layout.yaxis.range or (None, None)
    if low is not None:  # ticks over the whole range shown: 0.158 .. 0.165 alone holds no power of ten
        log_axis(fig, "y", values=[10.0 ** low, 10.0 ** high])
        fig.update_yaxes(range=[low, high])
    else:
        log_axis(fig, "y", values=part[column])
    return fig
