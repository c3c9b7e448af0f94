"""Figures of a sweep: a figure against each varied field (mean +- std over seeds), every run on parallel
coordinates, and the phase diagram of the gradient's decay against two varied fields.

What it is: pure builders from a sweep's ``summary.csv`` (one row per point of the grid, ``<metric>_mean``
and ``<metric>_std`` columns) or ``results.csv`` (one row per run), as written by :mod:`core.sweep.job`.

What it is not: running or reading sweeps (``core.sweep``), Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from rnnlab.core.figures import layout
from rnnlab.core.figures.style import (
    HEIGHT,
    SIDE,
    cell_colour,
    empty_figure,
    format_number,
    log_axis,
    plain_ticks,
    run_colour,
    style,
)
from rnnlab.core.jobs.names import FINISHED

NAMES = {"accuracy": "test accuracy", "f1": "F1", "roc_auc": "ROC-AUC", "mse": "test MSE",
         "success": "solved (share of seeds)", "train_time_s": "training time (s)",
         "best_val_loss": "validation loss", "best_epoch": "epoch kept (lowest validation loss; 0 = the first)",
         "decay_k10": "decay at k=10", "decay_k50": "decay at k=50", "decay_k100": "decay at k=100"}
NONE = "none"  # a varied field's empty value (e.g. no word2vec run): "" in the spec, blank in results.csv
PARCOORDS_SMALL = 10  # px: the tick and range labels of parallel coordinates (Plotly's 12 / 1.2)
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


def parallel_coordinates(results: pd.DataFrame, fields: Sequence[str], metric: str,
                         width: int = layout.WIDE) -> go.Figure:
    """Every finished run as a line through its varied fields' values to ``metric`` (coloured by it).

    Drawn across the page (``width``: the narrowest it is drawn at). Every axis is ticked at its
    values (at round steps where there are many; whole numbers such as seeds only at whole numbers)
    and named in one line fitted between its neighbours; the margins hold the title over the names,
    the first axis's tick labels and the range labels under the axes. The colour is the metric, read
    on the last axis.
    """
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
            dims.append({"label": f.replace("_", " "), "values": col.to_numpy(dtype=float),
                         **plain_ticks(col)})
    values = done[metric].to_numpy(dtype=float)
    dims.append({"label": metric_name(metric), "values": values, **plain_ticks(values)})
    for d in dims:  # one value alone: Plotly would draw the axis over nothing; give it a range around the value
        v = np.asarray(d["values"], dtype=float)
        v = v[np.isfinite(v)]
        if len(v) and v.min() == v.max():
            d["range"] = [float(v.min()) - 1, float(v.max()) + 1]
    size, small = layout.FONT, PARCOORDS_SMALL
    first_ticks = max((layout.text_width(str(t), small) for t in dims[0].get("ticktext", [])), default=0.0)
    slot = (width - 2 * SIDE) / len(dims)  # px per axis, half of one at each side
    names = layout.fit_all([d["label"] for d in dims], slot - 10, size, max_lines=1)
    left = max(SIDE + first_ticks + layout.PARCOORDS_TICK, layout.text_width(names[0], size) / 2 + 2)
    right = max(SIDE, layout.text_width(names[-1], size) / 2 + 2,
                layout.text_width(dims[-1]["ticktext"][-1] if dims[-1]["ticktext"] else "", small) / 2 + 2)
    for d, name in zip(dims, names, strict=True):
        d["label"] = name
    fig = go.Figure(go.Parcoords(line={"color": values, "colorscale": "Viridis", "showscale": False},
                                 dimensions=dims, labelfont={"size": size}, tickfont={"size": small},
                                 rangefont={"size": small}))
    style(fig, f"Every run: its settings and its {metric_name(metric)}", height=HEIGHT + 40, width=width,
          above=layout.PARCOORDS_LABEL + size)
    bottom = layout.PARCOORDS_EXTENT + layout.text_height("0", small) + 2  # the axes' lower range labels
    fig.update_layout(margin={"l": int(math.ceil(left)), "r": int(math.ceil(right)), "b": int(math.ceil(bottom))})
    return fig


# the two halves of ColorBrewer's RdBu, from white outwards: each side of a phase diagram darkens to its own extreme
SHRINKS = ("#d1e5f0", "#92c5de", "#4393c3", "#2166ac", "#053061")
GROWS = ("#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f")
UNCHANGED = "#f7f7f7"


def phase_colours(low: float, high: float) -> list[list]:
    """A colour scale over ``[low, high]`` (log10 of a ratio, ``low <= 0 <= high``): white at 0, blue below, red above.

    Each side darkens to its own extreme, so a growth of x1.2 beside a shrinking to 1e-12 still reads red rather
    than white (a scale symmetric about 0 would leave it all but white); the colour bar says the numbers.
    """
    if not high > low:
        return [[0.0, UNCHANGED], [1.0, UNCHANGED]]
    mid = -low / (high - low)  # where 0 falls
    blue = [[mid * i / len(SHRINKS), c] for i, c in enumerate(reversed(SHRINKS))] if low < 0 else []
    red = [[mid + (1 - mid) * (i + 1) / len(GROWS), c] for i, c in enumerate(GROWS)] if high > 0 else []
    return [*blue, [mid, UNCHANGED], *red]


def phase_cells(summary: pd.DataFrame, x: str, y: str, k: int) -> pd.Series:
    """The mean ratio at ``k`` per ``(x, y)`` cell with a value (other varied fields averaged over)."""
    col = f"decay_k{k}_mean"
    if summary.empty or col not in summary or x not in summary or y not in summary:
        return pd.Series(dtype=float)
    return summary.groupby([x, y])[col].mean().dropna()


def phase_default_k(summary: pd.DataFrame, ks: Sequence[int], x: str, y: str, facet: str | None = "cell") -> int:
    """The ``k`` of ``ks`` a phase diagram opens at: one where the gradient both shrinks and grows, if any.

    Among those (else all), the one with the most cells holding a value, then the largest ``k`` (the farthest
    look back). ``ks`` must not be empty.
    """
    def score(k: int) -> tuple[bool, int, int]:
        keys = [x, y] + ([facet] if facet and facet in summary else [])
        col = f"decay_k{k}_mean"
        cells = summary.groupby(keys)[col].mean().dropna() if col in summary and set(keys) <= set(summary) \
            else pd.Series(dtype=float)
        return bool((cells < 1).any() and (cells > 1).any()), len(cells), k

    return max(ks, key=score)


def decay_phase(summary: pd.DataFrame, x: str, y: str, k: int = 50, facet: str | None = "cell",
                width: int = layout.WIDE) -> go.Figure:
    """A phase diagram: log10 of the median ``||dL/dh_{T-k}|| / ||dL/dh_T||`` over the grid of ``x`` and ``y``.

    Below 0 the gradient shrinks on its way back k steps (blue), above 0 it grows (red), each side coloured to
    its own extreme (:func:`phase_colours`); one panel per ``facet`` value (the cell); every cell writes its
    ratio. The title says only what the cells show: how far they shrink and grow, or that none grows (or
    shrinks). A value of ``x`` or ``y`` where no run reached ``k`` steps back is left out and named under the
    chart (with the likely reason), as is a panel with no value and a ratio that underflowed to 0 (drawn
    in the deepest blue); a cell left blank among others has no value. Drawn across the page (``width``).
    """
    col = f"decay_k{k}_mean"
    if summary.empty or col not in summary or x not in summary or y not in summary or summary[col].notna().sum() == 0:
        return empty_figure(f"No gradient decay at k={k} to draw (the runs need sequences longer than k)")
    facets = [None] if facet is None or facet not in summary else list(dict.fromkeys(summary[facet]))
    has = summary[summary[col].notna()]
    xs, ys = sorted(has[x].dropna().unique()), sorted(has[y].dropna().unique())
    cells = {f: phase_cells(summary if f is None else summary[summary[facet] == f], x, y, k) for f in facets}
    values = pd.concat(list(cells.values())).astype(float)
    positive = values[values > 0]
    low = min(float(np.log10(positive.min())), 0.0) if len(positive) else -1.0
    high = max(float(np.log10(positive.max())), 0.0) if len(positive) else 0.0
    fig = make_subplots(rows=1, cols=len(facets), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"{facet} = {f}" for f in facets] if facets != [None] else None)
    blank = False
    for i, f in enumerate(facets, 1):
        z = np.full((len(ys), len(xs)), np.nan)
        text = np.full((len(ys), len(xs)), "", dtype=object)
        for (xv, yv), v in cells[f].items():
            r, c = ys.index(yv), xs.index(xv)
            z[r, c] = np.log10(v) if v > 0 else low  # an underflow: as far down as the scale goes
            text[r, c] = format_number(v, zero="0 (underflow)")
        blank = blank or bool(np.isnan(z).any() and not np.isnan(z).all())
        fig.add_trace(go.Heatmap(z=z, x=[str(v) for v in xs], y=[str(v) for v in ys], text=text,
                                 texttemplate="%{text}", colorscale=phase_colours(low, high), zmin=low, zmax=high,
                                 showscale=i == len(facets), colorbar={"title": {"text": "log10 ratio"}},
                                 hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>ratio %{{text}}<extra></extra>"),
                      row=1, col=i)
        fig.update_xaxes(title_text=x.replace("_", " "), type="category", row=1, col=i)
    fig.update_yaxes(title_text=y.replace("_", " "), type="category", row=1, col=1)
    notes = []
    for field, shown in ((y, ys), (x, xs)):
        left_out = [v for v in sorted(summary[field].dropna().unique()) if v not in shown]
        if left_out:
            notes.append(f"left out: {field.replace('_', ' ')} = {', '.join(format_number(v, 3) for v in left_out)}: "
                         f"no run there reached k={k} steps back (its sequences are no longer than k, "
                         "or it recorded no gradients)")
    notes += [f"{facet} = {f}: no value at k={k}" for f in facets if f is not None and cells[f].empty]
    if blank:
        notes.append("blank: no value")
    if (values == 0).any():
        notes.append("0 (underflow): the ratio fell below float32's smallest number")
    if notes:
        fig.add_annotation(text="<br>".join(notes), showarrow=False, xref="paper", yref="paper", x=0, y=0,
                           yshift=-52, xanchor="left", yanchor="top", font={"size": 12, "color": "#555"})
    grows, shrinks = values[values > 1], values[values < 1]
    what = (f"blue vanishes (down to {format_number(shrinks.min(), zero='0')}), "
            f"red grows (up to {format_number(grows.max())})" if len(grows) and len(shrinks)
            else "blue vanishes; no setting here grows" if len(shrinks)
            else f"red grows (up to {format_number(grows.max())}); no setting here vanishes" if len(grows)
            else "every ratio is 1")
    style(fig, f"Gradient after k={k} steps back, relative to the last step: {what}", height=HEIGHT + 20,
          width=width)
    if notes:
        fig.update_layout(margin={"b": 64 + 16 * len(notes)})
    return fig
