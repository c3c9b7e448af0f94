"""Figures of a sweep: a figure against each varied field (mean +- std over seeds), every run on parallel
coordinates, and the phase diagram of the gradient's decay against two varied fields.

What it is: pure builders from a sweep's ``summary.csv`` (one row per point of the grid, ``<metric>_mean``
and ``<metric>_std`` columns) or ``results.csv`` (one row per run), as written by :mod:`core.sweep.job`.

What it is not: running or reading sweeps (``core.sweep``), Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.figures.style import HEIGHT, cell_colour, empty_figure, format_number, log_axis, run_colour, style
from core.jobs.names import FINISHED

NAMES = {"accuracy": "test accuracy", "f1": "F1", "roc_auc": "ROC-AUC", "mse": "test MSE",
         "success": "solved (share of seeds)", "train_time_s": "training time (s)",
         "best_val_loss": "validation loss", "best_epoch": "epoch kept (lowest validation loss; 0 = the first)",
         "decay_k10": "decay at k=10", "decay_k50": "decay at k=50", "decay_k100": "decay at k=100"}
NONE = "none"  # a varied field's empty value (e.g. no word2vec run): "" in the spec, blank in results.csv
LOG_METRICS = ("mse", "train_time_s", "decay_k10", "decay_k50", "decay_k100")


def metric_name(metric: str) -> str:
    return NAMES.get(metric, metric.replace("_", " "))


def metric_vs_field(summary: pd.DataFrame, field: str, metric: str, by: str | None = None) -> go.Figure:
    """``metric`` (mean, with the seeds' standard deviation as error bars) against ``field``; one line per ``by``.

    Other varied fields are averaged over (the points that share ``field`` and ``by``).
    """
    mean, std = f"{metric}_mean", f"{metric}_std"
    if summary.empty or mean not in summary or field not in summary or summary[mean].notna().sum() == 0:
        return empty_figure(f"No {metric_name(metric)} to draw yet")
    groups = [(None, summary)] if by is None or by not in summary else list(summary.groupby(by, sort=False))
    fig = go.Figure()
    for i, (name, part) in enumerate(groups):
        g = part.groupby(field, sort=True)
        y, err = g[mean].mean(), g[std].mean() if std in part else None
        colour = cell_colour(str(name), i) if by == "cell" else run_colour(i)
        fig.add_trace(go.Scatter(x=list(y.index), y=y.to_numpy(), mode="lines+markers",
                                 name=f"{by} = {name}" if name is not None else metric_name(metric),
                                 line={"color": colour},
                                 error_y={"type": "data", "array": err.fillna(0).to_numpy(), "visible": True}
                                 if err is not None else None))
    style(fig, f"{metric_name(metric)} against {field.replace('_', ' ')} (mean ± std over seeds)",
          x=field.replace("_", " "), y=metric_name(metric))
    if metric in LOG_METRICS and (summary[mean] > 0).any():
        log_axis(fig, "y", values=summary[mean])
    if pd.api.types.is_numeric_dtype(summary[field]):
        vals = sorted(summary[field].dropna().unique())
        if len(vals) > 2 and vals[0] > 0 and vals[-1] / vals[0] > 20:
            log_axis(fig, "x", ticks=vals)
    return fig


def parallel_coordinates(results: pd.DataFrame, fields: Sequence[str], metric: str) -> go.Figure:
    """Every finished run as a line through its varied fields' values to ``metric`` (coloured by it)."""
    done = results[results.get("state", pd.Series(dtype=str)) == FINISHED] if "state" in results else results
    if done.empty or metric not in done or done[metric].notna().sum() == 0:
        return empty_figure(f"No finished run with a {metric_name(metric)} yet")
    dims = []
    for f in [*fields, "seed"]:
        if f not in done:
            continue
        col = done[f]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            text = col.map(lambda v: NONE if pd.isna(v) or v == "" else str(v))
            labels = sorted(text.unique())
            code = {v: i for i, v in enumerate(labels)}
            dims.append({"label": f.replace("_", " "), "values": text.map(code).to_numpy(),
                         "tickvals": list(range(len(labels))), "ticktext": labels})
        else:
            dims.append({"label": f.replace("_", " "), "values": col.to_numpy(dtype=float)})
    values = done[metric].to_numpy(dtype=float)
    dims.append({"label": metric_name(metric), "values": values})
    fig = go.Figure(go.Parcoords(line={"color": values, "colorscale": "Viridis", "showscale": True,
                                       "colorbar": {"title": {"text": metric_name(metric)}}},
                                 dimensions=dims))
    return style(fig, f"Every run: its settings and its {metric_name(metric)}", height=HEIGHT + 40)


def decay_phase(summary: pd.DataFrame, x: str, y: str, k: int = 50, facet: str | None = "cell") -> go.Figure:
    """A phase diagram: log10 of the median ``||dL/dh_{T-k}|| / ||dL/dh_T||`` over the grid of ``x`` and ``y``.

    Below 0 the gradient vanishes on its way back k steps, above 0 it explodes; one panel per ``facet``
    value (the cell). Cells with no value (k beyond the sequence, or no recording) stay blank.
    """
    col = f"decay_k{k}_mean"
    if summary.empty or col not in summary or x not in summary or y not in summary or summary[col].notna().sum() == 0:
        return empty_figure(f"No gradient decay at k={k} to draw (the runs need sequences longer than k)")
    facets = [None] if facet is None or facet not in summary else list(dict.fromkeys(summary[facet]))
    fig = make_subplots(rows=1, cols=len(facets), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"{facet} = {f}" for f in facets] if facets != [None] else None)
    xs, ys = sorted(summary[x].dropna().unique()), sorted(summary[y].dropna().unique())
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(summary[col].astype(float).where(summary[col] > 0))
    bound = float(np.nanmax(np.abs(logs))) if np.isfinite(logs).any() else 1.0
    for i, f in enumerate(facets, 1):
        part = summary if f is None else summary[summary[facet] == f]
        z = np.full((len(ys), len(xs)), np.nan)
        text = np.full((len(ys), len(xs)), "", dtype=object)
        for (xv, yv), grp in part.groupby([x, y]):
            v = grp[col].astype(float).mean()
            if np.isfinite(v) and v > 0:
                z[ys.index(yv), xs.index(xv)] = np.log10(v)
                text[ys.index(yv), xs.index(xv)] = format_number(v)
        fig.add_trace(go.Heatmap(z=z, x=[str(v) for v in xs], y=[str(v) for v in ys], text=text,
                                 texttemplate="%{text}", colorscale="RdBu_r", zmid=0, zmin=-bound, zmax=bound,
                                 showscale=i == len(facets),
                                 colorbar={"title": {"text": "log10 ratio"}},
                                 hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>ratio %{{text}}<extra></extra>"),
                      row=1, col=i)
        fig.update_xaxes(title_text=x.replace("_", " "), type="category", row=1, col=i)
    fig.update_yaxes(title_text=y.replace("_", " "), type="category", row=1, col=1)
    return style(fig, f"Gradient after k={k} steps back, relative to the last step: blue vanishes, red explodes",
                 height=HEIGHT + 20)
