"""Figures of gradients through time: how the gradient decays with the distance from the read-out,
the norm of the Jacobian product beside the product of the norms that bounds it, its norm per
parameter group and step, runs whose gradients explode, how far back each cell
still learns (the memory horizon), and the LRU's eigenvalues with the memory time scales they set.

What it is: pure builders from what ``core.analysis.gradients`` records and from the step records
of ``metrics.jsonl`` to Plotly figures (log axes: gradients span many decades), the small
reshapers they need (:func:`step_norms_frame`, :func:`recording_index`, :func:`probe_rows`), and
the text that says what the exploding-gradient runs shown actually did (:func:`explosion_text`).

What it is not: recording or loading gradients (``core.analysis.gradients``), running the
memory-horizon study (``core.analysis.horizon``), the scalar products of the Theory page
(:mod:`core.figures.theory`), Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rnnlab.core.figures.style import (
    GREY,
    HEIGHT,
    cell_colour,
    empty_figure,
    format_number,
    integer_axis,
    log_axis,
    run_colour,
    style,
)

GROUPS = ("embedding", "input_hidden", "hidden_hidden", "output")  # core.training.trainer.param_groups
GROUP_COLOURS = {"embedding": "#009E73", "input_hidden": "#0072B2", "hidden_hidden": "#D55E00", "output": "#E69F00"}
UNDERFLOW_COLOUR = GREY  # a gradient that is exactly 0: too small for float32, drawn apart from "no value"


def _positive(values: np.ndarray) -> np.ndarray:
    """Values as float with non-finite and non-positive entries NaN: what a log axis can show."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def gradient_heatmap(values: np.ndarray, rows: Sequence[Any], name: str = "||dL/dh_t||",
                     title: str = "Gradient norm over distance from the end and training",
                     row_title: str = "optimiser step", blank: str = "no probe review is that long",
                     zrange: tuple[float, float] | None = None) -> go.Figure:
    """``log10`` of a per-distance quantity ``values`` ``(R, K)`` as a heatmap, one row per entry of ``rows``.

    x: ``k = T - t``, steps from the read-out step; y: ``rows`` (the optimiser step of each
    recording, or one probe review each), the first at the bottom. The colour is ``log10``
    (gradients span many decades); the hover shows the value itself. Two kinds of cell have no
    colour on that scale and the chart says which is which: NaN (``blank``: e.g. beyond the
    review's length) stays white; an exact 0 (an underflow: the gradient fell below float32's
    smallest number) is drawn in a grey of its own. ``zrange``: the colour scale's ``(min, max)``
    in ``log10``, to compare two runs' heatmaps on one scale.
    """
    raw = np.asarray(np.atleast_2d(values), dtype=float)
    v = _positive(raw)
    if v.size == 0 or np.isnan(v).all():
        zeros = raw.size and (raw == 0).any()
        return empty_figure("every recorded gradient underflowed to 0" if zeros else "no gradient recorded", title)
    with np.errstate(all="ignore"):
        z = np.log10(v)
    k = np.arange(v.shape[1])
    labels = [str(r) for r in rows]
    scale = {"zmin": zrange[0], "zmax": zrange[1]} if zrange else {}
    fig = go.Figure(go.Heatmap(name=name, z=z, x=k, y=labels, customdata=v, colorscale="Viridis", **scale,
                               colorbar={"title": {"text": "log10"}},
                               hovertemplate="k=%{x}<br>" + row_title + " %{y}<br>" + name
                                             + "=%{customdata:.3g}<extra></extra>"))
    underflow = raw == 0
    notes = []
    if np.isnan(raw).any():
        notes.append(f"white: {blank}")
    if underflow.any():
        fig.add_trace(go.Heatmap(name="underflow (exactly 0)", z=np.where(underflow, 1.0, np.nan), x=k, y=labels,
                                 colorscale=[[0, UNDERFLOW_COLOUR], [1, UNDERFLOW_COLOUR]], showscale=False,
                                 hovertemplate="k=%{x}<br>" + row_title + " %{y}<br>" + name
                                               + " underflowed to exactly 0<extra></extra>"))
        notes.append("grey: underflow, exactly 0 (below float32's smallest number)")
    if notes:
        fig.add_annotation(text="<br>".join(notes), showarrow=False, xref="paper", yref="paper", x=0, y=0,
                           yshift=-52, xanchor="left", yanchor="top", font={"size": 12, "color": "#555"})
    step = max(1, math.ceil(len(labels) / 25))  # at most ~25 row labels; the hover names every row
    fig.update_yaxes(type="category", range=[-0.5, len(labels) - 0.5], tickvals=labels[::step])
    fig.update_xaxes(range=[-0.5, v.shape[1] - 0.5])
    integer_axis(fig, "x", k)  # k counts steps: never 0.5
    style(fig, title, "k = T - t (steps before the read-out)", row_title,
          height=HEIGHT + 40 + (6 * len(labels) if len(labels) > 12 else 0))
    fig.update_layout(margin={"b": 64 + 16 * len(notes) if notes else 10})
    return fig


def probe_rows(dh: np.ndarray, lengths: Sequence[int], count: int) -> tuple[np.ndarray, list[str]]:
    """``count`` probe reviews of one recording's ``dh`` ``(B, K)`` to draw, spread over their lengths.

    Returns the rows ``(count, K)`` ordered from the shortest review to the longest (so the longest
    is at the top of a heatmap) and a label for each: ``"#3 · T=120"`` (the review's index in the
    probe and its length). All of them when ``count`` is at least the probe's size.
    """
    dh = np.atleast_2d(np.asarray(dh, dtype=float))
    lens = np.asarray(lengths, dtype=int)
    n = len(lens)
    if n == 0 or count < 1:
        return dh[:0], []
    by_length = np.argsort(lens, kind="stable")
    picks = by_length if count >= n else by_length[np.unique(np.round(np.linspace(0, n - 1, count)).astype(int))]
    return dh[picks], [f"#{int(b)} · T={int(lens[b])}" for b in picks]


def decay_lines(curves: Mapping[str, np.ndarray], *, cells: Mapping[str, str] | None = None, normalise: bool = False,
                title: str = "Gradient against distance from the end", y: str = "||dL/dh_{T-k}||") -> go.Figure:
    """One log-scale line per curve ``(K,)`` against ``k``; ``normalise`` divides each by its value at ``k = 0``.

    ``cells`` maps a curve's name to its cell type, which picks the colour (RNN vermilion, LSTM blue,
    GRU bluish green) so the cells read alike on every chart.
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
    log_axis(fig, "y", values=np.concatenate([np.asarray(tr.y, dtype=float) for tr in fig.data]))
    return style(fig, title, "k = T - t (steps before the read-out)", y + (" / value at k=0" if normalise else ""))


NORM_NAMES = {"spectral": "spectral norm ||·||₂", "frobenius": "Frobenius norm ||·||_F"}
PRODUCT_NORM = "norm of the product"  # ||∂s_T/∂s_{T-k}||, the Jacobians multiplied out
PRODUCT_BOUND = "upper bound: product of the norms"  # Π_j ||∂s_t/∂s_{t-1}||, the seed's eq. 6


def jacobian_product_lines(curves: Mapping[str, tuple[np.ndarray | None, np.ndarray]], *,
                           cells: Mapping[str, str] | None = None, norm: str = "spectral",
                           title: str = "Jacobian product ∂s_T/∂s_{T-k}: its norm (solid) and the upper bound of "
                                        "eq. 6, the product of the norms (dashed)") -> go.Figure:
    """Per run, the norm of the Jacobian product itself (solid) and the product of the per-step norms (dashed).

    ``curves``: run name -> ``(product's norm (K,) or None, bound (K,))``, both against ``k`` (None: the
    recording holds the bound alone, which is then drawn alone). The two share the run's colour and one
    legend entry (the title says which line is which; each trace keeps its full name for the hover and the
    CSV), on one log axis: the bound multiplies each step's largest stretch as if every step stretched the
    same direction, so it can climb decades above the product it bounds, and a reader must never take one
    for the other. ``norm``: ``"spectral"`` or ``"frobenius"``, named on the y axis.
    """
    fig = go.Figure()
    for i, (name, (product, bound)) in enumerate(curves.items()):
        colour = cell_colour((cells or {}).get(name), i)
        listed = False  # one legend entry per run: its first line drawn
        for values, what, dash in ((product, PRODUCT_NORM, "solid"), (bound, PRODUCT_BOUND, "dash")):
            v = _positive(values) if values is not None else np.zeros(0)
            if not np.isfinite(v).any():
                continue
            fig.add_trace(go.Scatter(name=f"{name}: {what}", x=np.arange(len(v)), y=v, mode="lines", legendgroup=name,
                                     showlegend=not listed,
                                     line={"color": colour, "width": 2 if dash == "solid" else 1.5, "dash": dash},
                                     hovertemplate="k=%{x}<br>%{y:.3g}<extra>" + f"{name}: {what}</extra>"))
            listed = True
    if not fig.data:
        return empty_figure("no Jacobian recorded", title)
    log_axis(fig, "y", values=np.concatenate([np.asarray(tr.y, dtype=float) for tr in fig.data]))
    return style(fig, title, "k = T - t (steps before the read-out)",
                 f"||∂s_T/∂s_{{T-k}}||, {NORM_NAMES.get(norm, norm)}")


def jacobian_product_text(curves: Mapping[str, tuple[np.ndarray | None, np.ndarray]]) -> list[str]:
    """One sentence per run of :func:`jacobian_product_lines`, from its numbers: where the two curves go.

    For ``k >= 1`` (``k = 0`` is the identity): the range of the product's norm and the bound's largest value, so
    the page says in numbers how far the bound lies above what it bounds. A run with the bound alone says so.
    """
    out = []
    for name, (product, bound) in curves.items():
        b = _positive(bound)[1:]
        if np.isposinf(np.asarray(bound, dtype=float)[1:]).any():  # a float32 product of norms past 3.4e38
            top, ratio = f"beyond {format_number(float(np.finfo(np.float32).max))}, float32's largest number", None
        elif np.isfinite(b).any():
            top, ratio = format_number(np.nanmax(b)), np.nanmax(b)
        else:
            top, ratio = None, None
        p = _positive(product)[1:] if product is not None else np.zeros(0)
        if not np.isfinite(p).any():
            out.append(f"**{name}**: only the bound was recorded" + (f" (up to {top})." if top else "."))
            continue
        k_max = int(np.nanargmax(p)) + 1
        text = (f"**{name}**: the norm of the product stays between {format_number(np.nanmin(p))} and "
                f"{format_number(np.nanmax(p))} (largest at k = {k_max})")
        if top is not None:
            times = ratio / np.nanmax(p) if ratio is not None else 0.0
            text += f"; the bound reaches {top}" + (f" ({format_number(times)} times as much)" if times >= 10 else "")
        out.append(text + ".")
    return out


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
    log_axis(fig, "y", values=frame[["grad_norm", *[g for g in GROUPS if g in frame]]].to_numpy(dtype=float))
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
        fig.add_trace(go.Scatter(name=name + (" (before clipping)" if (clip_norms or {}).get(name) else ""),
                                 x=frame["step"], y=_positive(frame["grad_norm"]), mode="lines",
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
    log_axis(fig, "y", values=np.concatenate([np.asarray(tr.y, dtype=float) for tr in fig.data]))
    return style(fig, title, "optimiser step", "global gradient norm before clipping (log scale)")


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
    if lengths[-1] / max(lengths[0], 1) > 8:  # ticks at the measured lengths only, never minor ones
        log_axis(fig, "x", ticks=lengths)
    else:
        fig.update_xaxes(tickvals=lengths, ticktext=[str(int(n)) for n in lengths])
    return style(fig, title, "sequence length T", y or metric)


def explosion_text(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """One sentence per run shown in :func:`explosion_figure`, each from that run's measured numbers.

    ``runs``: per run, ``name``, ``steps`` (optimiser steps recorded), ``skipped_non_finite``
    (steps whose loss or gradient was not finite, skipped), ``first_non_finite_step``,
    ``grad_norm_first`` and ``grad_norm_max`` (global norms before clipping, finite steps only),
    ``clip_norm`` (None: no clipping) and ``clipped`` (steps whose norm was cut). Nothing is said
    that the numbers do not show: whether steps were lost, how far the norm rose and whether the
    curve drawn lies above the clip line because it is the norm *before* clipping.
    """
    out = []
    for r in runs:
        name, steps = str(r.get("name", "run")), int(r.get("steps") or 0)
        if not steps:
            out.append(f"**{name}**: no optimiser step recorded yet.")
            continue
        parts = []
        peak, first = r.get("grad_norm_max"), r.get("grad_norm_first")
        if peak is not None:
            rise = (f", {format_number(peak / first)} times its first step's {format_number(first)}"
                    if first and first > 0 and peak / first >= 10 else "")
            parts.append(f"its global gradient norm peaked at {format_number(peak)}{rise}")
        lost = int(r.get("skipped_non_finite") or 0)
        if lost:
            at = r.get("first_non_finite_step")
            parts.append(f"{lost} of {steps} steps had a non-finite loss or gradient and were skipped (lost)"
                         + (f", the first at step {at}" if at is not None else ""))
        else:
            parts.append(f"all {steps} steps had a finite gradient: none was lost")
        clip = r.get("clip_norm")
        if clip:
            n_clip = int(r.get("clipped") or 0)
            above = (" The curve is the norm before clipping, so it lies above the dashed clip line wherever a "
                     f"step was cut; the update itself used a gradient of norm {format_number(clip)}."
                     if n_clip else "")
            parts.append(f"clipping at {format_number(clip)} cut {n_clip} of {steps} steps.{above}")
        else:
            parts.append("no clipping.")
        text = "; ".join(parts)
        out.append(f"**{name}**: {text[0].upper()}{text[1:]}" if text else f"**{name}**")
    return out


# ---------------------------------------------------------------------------------- the LRU's eigenvalues

def time_scales(moduli: np.ndarray) -> np.ndarray:
    """``1 / (1 - |λ|)``: the steps over which a state component keeps ``1 - 1/e`` of its memory; inf at ``|λ| = 1``."""
    m = np.asarray(moduli, dtype=float)
    with np.errstate(divide="ignore"):
        return 1.0 / (1.0 - m)


def eigenvalue_plane(moduli: np.ndarray, phases: np.ndarray, steps: Sequence[int], record: int = -1, *,
                     colour: str | None = None, title: str = "Eigenvalues λ in the complex plane") -> go.Figure:
    """The eigenvalues at initialisation (grey rings) and at recording ``record`` (filled), inside the unit circle.

    ``moduli``, ``phases`` ``(R, S)``: ``|λ|`` and ``arg λ`` of ``S`` eigenvalues at ``R`` recordings; ``steps``
    ``(R,)``: their optimiser steps. A point near the circle is a slow mode (long memory), one near the centre a
    fast one; its angle is how fast it rotates.
    """
    moduli, phases = np.asarray(moduli, dtype=float), np.asarray(phases, dtype=float)
    if moduli.ndim != 2 or not moduli.size:
        return empty_figure("no eigenvalue recorded", title)
    angle = np.linspace(0, 2 * np.pi, 181)
    fig = go.Figure(go.Scatter(name="|λ| = 1", x=np.cos(angle), y=np.sin(angle), mode="lines",
                               line={"color": GREY, "width": 1}, hoverinfo="skip"))
    record = record % len(moduli)
    shown = [0] if record == 0 else [0, record]
    for i in shown:
        z = moduli[i] * np.exp(1j * phases[i])
        first = i == 0
        fig.add_trace(go.Scatter(
            name=f"initialisation (step {int(steps[i])})" if first else f"step {int(steps[i])}",
            x=z.real, y=z.imag, mode="markers",
            marker={"size": 7, "color": "rgba(0,0,0,0)" if first else colour or run_colour(0),
                    "line": {"color": GREY if first else colour or run_colour(0), "width": 1.5}},
            customdata=np.stack([moduli[i], time_scales(moduli[i])], axis=-1),
            hovertemplate="|λ| = %{customdata[0]:.4f}<br>time scale %{customdata[1]:.3g} steps<extra></extra>"))
    fig.update_xaxes(range=[-1.08, 1.08], zeroline=True)
    fig.update_yaxes(range=[-1.08, 1.08], zeroline=True, scaleanchor="x", scaleratio=1)
    return style(fig, title, "Re λ", "Im λ")


def eigenvalue_timescales(moduli: np.ndarray, steps: Sequence[int], *, colour: str | None = None,
                          title: str = "Memory time scale 1 / (1 - |λ|) of each eigenvalue") -> go.Figure:
    """Each eigenvalue's time scale ``1 / (1 - |λ_j|)`` over training (thin lines) and their median (thick), log scale.

    ``moduli`` ``(R, S)`` at the recordings' optimiser ``steps`` ``(R,)``.
    """
    moduli = np.asarray(moduli, dtype=float)
    if moduli.ndim != 2 or not moduli.size:
        return empty_figure("no eigenvalue recorded", title)
    scales = time_scales(moduli)  # (R, S)
    x = [int(s) for s in steps]
    colour = colour or run_colour(0)
    fig = go.Figure()
    for j in range(scales.shape[1]):
        fig.add_trace(go.Scatter(name="each eigenvalue" if j == 0 else f"λ_{j}", legendgroup="each", x=x,
                                 y=scales[:, j], mode="lines", showlegend=j == 0, opacity=0.35,
                                 line={"color": colour, "width": 1}, meta=f"λ_{j}"))
    fig.add_trace(go.Scatter(name="median", x=x, y=np.median(scales, axis=1), mode="lines+markers",
                             line={"color": "#000000", "width": 3}))
    log_axis(fig, "y", values=scales[np.isfinite(scales)])
    return style(fig, title, "optimiser step", "steps (log scale)")


def eigenvalue_text(moduli: np.ndarray, steps: Sequence[int], record: int = -1) -> str:
    """One sentence: the time scales' range and median at initialisation and at recording ``record``."""
    moduli = np.asarray(moduli, dtype=float)
    if moduli.ndim != 2 or not moduli.size:
        return ""

    def span(i: int) -> str:
        s = time_scales(moduli[i])
        return (f"{format_number(float(np.min(s)), 3)} to {format_number(float(np.max(s)), 3)} steps "
                f"(median {format_number(float(np.median(s)), 3)})")

    record = record % len(moduli)
    first = f"At initialisation (step {int(steps[0])}) the time scales 1 / (1 - |λ|) run from {span(0)}"
    if record == 0:
        return first + "."
    return first + f"; at step {int(steps[record])}, from {span(record)}."
