"""Figures of gradients through time: how the gradient decays with the distance from the read-out,
its norm per parameter group and step, runs whose gradients explode, and how far back each cell
still learns (the memory horizon).

What it is: pure builders from what ``core.analysis.gradients`` records and from the step records
of ``metrics.jsonl`` to Plotly figures (log axes: gradients span many decades), plus the small
reshapers they need (:func:`step_norms_frame`, :func:`recording_index`).

What it is not: recording or loading gradients (``core.analysis.gradients``), running the
memory-horizon study (``core.analysis.horizon``), the scalar products of the Theory page
(:mod:`core.figures.theory`), Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.figures.style import HEIGHT, cell_colour, empty_figure, run_colour, style

GROUPS = ("embedding", "input_hidden", "hidden_hidden", "output")  # core.training.trainer.param_groups
GROUP_COLOURS = {"embedding": "#2ca02c", "input_hidden": "#1f77b4", "hidden_hidden": "#d62728", "output": "#ff7f0e"}


def _positive(values: np.ndarray) -> np.ndarray:
    """Values as float with non-finite and non-positive entries NaN: what a log axis can show."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def gradient_heatmap(values: np.ndarray, steps: Sequence[int], name: str = "||dL/dh_t||",
                     title: str = "Gradient norm over distance from the end and training") -> go.Figure:
    """``log10`` of a per-distance quantity ``values`` ``(R, K)`` (one row per recording) as a heatmap.

    x: ``k = T - t``, steps from the read-out step; y: the optimiser step of each recording.
    The colour is ``log10`` (gradients span many decades); the hover shows the value itself.
    """
    v = _positive(np.atleast_2d(values))
    if v.size == 0 or np.isnan(v).all():
        return empty_figure("no gradient recorded", title)
    with np.errstate(all="ignore"):
        z = np.log10(v)
    k = np.arange(v.shape[1])
    labels = [str(s) for s in steps]
    fig = go.Figure(go.Heatmap(name=name, z=z, x=k, y=labels, customdata=v, colorscale="Viridis",
                               colorbar={"title": {"text": "log10"}},
                               hovertemplate="k=%{x}<br>step %{y}<br>" + name + "=%{customdata:.3g}<extra></extra>"))
    fig.update_yaxes(type="category")
    return style(fig, title, "k = T - t (steps before the read-out)", "optimiser step", height=HEIGHT + 40)


def decay_lines(curves: Mapping[str, np.ndarray], *, cells: Mapping[str, str] | None = None, normalise: bool = False,
                title: str = "Gradient against distance from the end", y: str = "||dL/dh_{T-k}||") -> go.Figure:
    """One log-scale line per curve ``(K,)`` against ``k``; ``normalise`` divides each by its value at ``k = 0``.

    ``cells`` maps a curve's name to its cell type, which picks the colour (RNN red, LSTM blue,
    GRU green) so the cells read alike on every chart.
    """
    fig = go.Figure()
    for i, (name, values) in enumerate(curves.items()):
        v = _positive(values)
        if normalise and len(v) and np.isfinite(v[0]):
            v = v / v[0]
        if not np.isfinite(v).any():
            continue
        fig.add_trace(go.Scatter(name=name, x=np.arange(len(v)), y=v, mode="lines",
                                 line={"color": cell_colour((cells or {}).get(name), i), "width": 2}))
    if not fig.data:
        return empty_figure("no gradient recorded", title)
    fig.update_yaxes(type="log", exponentformat="power")
    return style(fig, title, "k = T - t (steps before the read-out)", y + (" / value at k=0" if normalise else ""))


def recording_index(steps: Sequence[int], moment: float) -> int:
    """The recording closest to ``moment`` (0 = the first, 1 = the last) of training."""
    n = len(steps)
    if n == 0:
        raise ValueError("no recordings")
    return int(round(min(max(moment, 0.0), 1.0) * (n - 1)))


def step_norms_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """metrics.jsonl step records -> one row per step: ``step, grad_norm, clipped, skipped`` and a column per group."""
    rows = []
    for r in records:
        if r.get("kind", "step") != "step":
            continue
        row = {"step": r.get("step"), "grad_norm": r.get("grad_norm"), "clipped": bool(r.get("clipped")),
               "skipped": bool(r.get("skipped"))}
        row.update({g: (r.get("norms") or {}).get(g) for g in GROUPS})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["step", "grad_norm", "clipped", "skipped", *GROUPS])
    for c in ("grad_norm", *GROUPS):
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return frame


def group_norm_curves(frame: pd.DataFrame, clip_norm: float | None = None,
                      title: str = "Gradient norm per parameter group") -> go.Figure:
    """Per-group gradient norms and the global one per step (log scale), the clipping threshold dashed.

    Clipped steps are marked on the global norm; skipped steps (non-finite gradient) as crosses at the
    top of the plot, since they have no norm to draw.
    """
    if frame.empty or frame[["grad_norm", *[g for g in GROUPS if g in frame]]].isna().all().all():
        return empty_figure("no optimiser steps recorded", title)
    fig = go.Figure()
    for g in GROUPS:
        if g in frame and frame[g].notna().any():
            fig.add_trace(go.Scatter(name=g.replace("_", "-"), x=frame["step"], y=_positive(frame[g]), mode="lines",
                                     line={"color": GROUP_COLOURS[g], "width": 1.2}))
    fig.add_trace(go.Scatter(name="global (before clipping)", x=frame["step"], y=_positive(frame["grad_norm"]),
                             mode="lines", line={"color": "#444", "width": 2}))
    clipped = frame[frame["clipped"].fillna(False).astype(bool)]
    if not clipped.empty:
        fig.add_trace(go.Scatter(name=f"clipped ({len(clipped)})", x=clipped["step"], y=clipped["grad_norm"],
                                 mode="markers", marker={"color": "#d62728", "size": 5}))
    skipped = frame[frame["skipped"].fillna(False).astype(bool)]
    if not skipped.empty:
        top = np.nanmax(_positive(frame["grad_norm"])) if frame["grad_norm"].notna().any() else 1.0
        fig.add_trace(go.Scatter(name=f"skipped, non-finite ({len(skipped)})", x=skipped["step"],
                                 y=[top if np.isfinite(top) else 1.0] * len(skipped), mode="markers",
                                 marker={"color": "#d62728", "symbol": "x", "size": 8}))
    if clip_norm:  # a trace, not a shape: exported with the data, placed right on a log axis
        fig.add_trace(go.Scatter(name=f"clip threshold {clip_norm:g}", x=[frame["step"].min(), frame["step"].max()],
                                 y=[clip_norm, clip_norm], mode="lines",
                                 line={"color": "#000", "dash": "dash", "width": 1}))
    fig.update_yaxes(type="log", exponentformat="power")
    return style(fig, title, "optimiser step", "gradient norm (log scale)")


def explosion_figure(frames: Mapping[str, pd.DataFrame], clip_norms: Mapping[str, float | None] | None = None,
                     title: str = "Exploding gradients: the global norm per step") -> go.Figure:
    """The global gradient norm of several runs on one log axis (e.g. one without clipping, one with).

    ``frames``: run name -> :func:`step_norms_frame`; each run's clipping threshold dashed in its colour.
    """
    fig = go.Figure()
    for i, (name, frame) in enumerate(frames.items()):
        if frame.empty:
            continue
        colour = run_colour(i)
        fig.add_trace(go.Scatter(name=name, x=frame["step"], y=_positive(frame["grad_norm"]), mode="lines",
                                 line={"color": colour, "width": 1.5}))
        bad = frame[frame["skipped"].fillna(False).astype(bool)]
        if not bad.empty:
            fig.add_trace(go.Scatter(name=f"{name}: non-finite steps", x=bad["step"],
                                     y=[np.nanmax(_positive(frame["grad_norm"]))] * len(bad)
                                     if frame["grad_norm"].notna().any() else [1.0] * len(bad),
                                     mode="markers", marker={"color": colour, "symbol": "x", "size": 8}))
        clip = (clip_norms or {}).get(name)
        if clip:
            fig.add_trace(go.Scatter(name=f"{name}: clip {clip:g}", x=[frame["step"].min(), frame["step"].max()],
                                     y=[clip, clip], mode="lines", line={"color": colour, "dash": "dash", "width": 1}))
    if not fig.data:
        return empty_figure("no steps recorded yet" if frames else "choose runs to overlay", title)
    fig.update_yaxes(type="log", exponentformat="power")
    return style(fig, title, "optimiser step", "global gradient norm (log scale)")


def horizon_figure(table: pd.DataFrame, metric: str = "metric", threshold: float | None = None,
                   higher_is_better: bool = True, title: str = "Memory horizon: who still learns at length T",
                   y: str | None = None) -> go.Figure:
    """Held-out score against sequence length, one line per cell; solved points filled, failed ones hollow.

    ``table``: columns ``cell``, ``seq_len``, ``metric`` and ``success`` (bool). ``threshold``
    (the score that counts as solved) is drawn dashed.
    """
    if table.empty or metric not in table or table[metric].isna().all():
        return empty_figure("no results yet: run the experiment", title)
    fig = go.Figure()
    for i, (cell, part) in enumerate(table.sort_values("seq_len").groupby("cell", sort=False)):
        ok = part["success"].fillna(False).astype(bool).to_numpy() if "success" in part else np.zeros(len(part), bool)
        colour = cell_colour(cell, i)
        fig.add_trace(go.Scatter(name=str(cell).upper(), x=part["seq_len"], y=part[metric], mode="lines+markers",
                                 line={"color": colour, "width": 2},
                                 marker={"size": 10, "color": [colour if s else "white" for s in ok],
                                         "line": {"color": colour, "width": 2}},
                                 customdata=np.where(ok, "solved", "not solved"),
                                 hovertemplate="T=%{x}<br>" + metric + "=%{y:.4g}<br>%{customdata}<extra>"
                                               + str(cell) + "</extra>"))
    if threshold is not None:
        lo, hi = table["seq_len"].min(), table["seq_len"].max()
        fig.add_trace(go.Scatter(name=f"solved {'≥' if higher_is_better else '<'} {threshold:g}", x=[lo, hi],
                                 y=[threshold, threshold], mode="lines", line={"color": "#444", "dash": "dash"}))
    lengths = sorted(table["seq_len"].dropna().unique())
    # ticks at the measured lengths only: a log axis would otherwise label its minor ticks (2, 3, ... 9)
    fig.update_xaxes(type="log" if lengths[-1] / max(lengths[0], 1) > 8 else "linear", tickvals=lengths,
                     ticktext=[str(int(n)) for n in lengths])
    return style(fig, title, "sequence length T", y or metric)
