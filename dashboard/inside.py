"""Figures and text views for the pages that look inside the models: Gradients, Gates, Classify, HMM, Embeddings.

What it is: pure functions from plain data (numpy arrays, pandas frames, dicts) to Plotly
figures, plus a few HTML builders for coloured token views (every piece of text escaped) and
the small frame reshapers the figures need. Everything here is tested without Streamlit
(``tests/test_inside.py``); the look (``style``, colours, empty figures) is shared with
:mod:`dashboard.charts`, so these pages look like the others and export the same way.

What it is not: loading runs or arrays (``core``: ``core.analysis.gradients.load_gradients``,
``core.analysis.introspect.introspect``, ``core.models.hmm.load_hmm_run``, ``core.models.word2vec.load_vectors``),
widgets and layout (``pages/``), computation a figure does not need.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import CELL_COLOURS, HEIGHT, PALETTE, empty_figure, run_colour, style

GROUPS = ("embedding", "input_hidden", "hidden_hidden", "output")  # core.training.trainer.param_groups
GROUP_COLOURS = {"embedding": "#2ca02c", "input_hidden": "#1f77b4", "hidden_hidden": "#d62728", "output": "#ff7f0e"}
GREY = "#9a9a9a"
TOKEN_STYLE = "border-radius:4px;padding:1px 4px;margin:1px;display:inline-block;line-height:1.6"
BOX_STYLE = ("font-family:ui-monospace,monospace;font-size:0.85rem;border:1px solid #ddd;border-radius:6px;"
             "padding:8px;max-height:16rem;overflow-y:auto")
FATE_NAMES = {"kept": "kept", "unknown": "read as <unk>", "stopword": "removed: stop word",
              "non_alnum": "removed: punctuation / symbols", "truncated": "cut by max_len"}


def _colour(cell: str | None, i: int) -> str:
    """The cell type's colour (the GMM-HMM's model name included), else the ``i``-th run colour."""
    return CELL_COLOURS.get("hmm" if cell == "gmmhmm" else str(cell), run_colour(i))


def _positive(values: np.ndarray) -> np.ndarray:
    """Values as float with non-finite and non-positive entries NaN: what a log axis can show."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


# ---- gradients through time ------------------------------------------------------------------------------
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
                                 line={"color": _colour((cells or {}).get(name), i), "width": 2}))
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
        colour = _colour(cell, i)
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


# ---- gates and states ------------------------------------------------------------------------------------
STATE_NAMES = {"input_gate": "input gate i", "forget_gate": "forget gate f", "output_gate": "output gate o",
               "candidate": "candidate g / n", "cell": "cell state c", "hidden": "hidden state h",
               "reset_gate": "reset gate r", "update_gate": "update gate z"}
STATE_SCALES = {"candidate": (-1, 1), "hidden": (-1, 1), "cell": (None, None)}  # gates lie in [0, 1]


def gates_figure(tokens: Sequence[str], states: Mapping[str, np.ndarray], running_probability: Sequence[float],
                 title: str = "Gates and states per token", max_units: int | None = None) -> go.Figure:
    """One heatmap per gate or state (units up, tokens across), the running P(positive) underneath.

    ``states``: name -> ``(T, H)`` values; ``running_probability`` ``(T,)``. Tokens may repeat, so
    the x axis is the position with the token as its tick label; the hover gives token, unit, value.
    ``max_units`` keeps the first units of a wide state (the hover says how many there are).
    """
    t = len(tokens)
    if not t or not states:
        return empty_figure("nothing to show", title)
    names = list(states)
    rows = len(names) + 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        subplot_titles=[STATE_NAMES.get(n, n) for n in names] + ["running P(positive)"],
                        row_heights=[1.0] * len(names) + [0.8])
    x = np.arange(t)
    tok = np.array(tokens, dtype=object)
    for r, name in enumerate(names, start=1):
        v = np.asarray(states[name], dtype=float)[:, :max_units]  # (T, H)
        lo, hi = STATE_SCALES.get(name, (0, 1))
        z = v.T  # (H, T): a unit per row
        fig.add_trace(go.Heatmap(name=name, z=z, x=x, y=np.arange(z.shape[0]), zmin=lo, zmax=hi,
                                 colorscale="RdBu" if lo == -1 else ("Viridis" if lo is None else "Blues"),
                                 reversescale=lo == -1, customdata=np.broadcast_to(tok, z.shape),
                                 showscale=False,
                                 hovertemplate="%{customdata} (t=%{x})<br>unit %{y}<br>" + name
                                               + "=%{z:.3f}<extra></extra>"),
                      row=r, col=1)
        fig.update_yaxes(title_text="unit", row=r, col=1)
    prob = np.asarray(running_probability, dtype=float)
    fig.add_trace(go.Scatter(name="running P(positive)", x=x, y=prob, mode="lines+markers", customdata=tok,
                             line={"color": "#2ca02c", "width": 2}, marker={"size": 4},
                             hovertemplate="%{customdata} (t=%{x})<br>P(positive)=%{y:.3f}<extra></extra>"),
                  row=rows, col=1)
    fig.add_trace(go.Scatter(name="0.5", x=[0, t - 1], y=[0.5, 0.5], mode="lines", showlegend=False,
                             line={"color": GREY, "dash": "dot", "width": 1}, hoverinfo="skip"), row=rows, col=1)
    fig.update_yaxes(range=[-0.02, 1.02], title_text="P", row=rows, col=1)
    step = max(1, math.ceil(t / 60))  # at most ~60 labels; the hover names every token
    fig.update_xaxes(tickvals=x[::step], ticktext=[str(s) for s in tok[::step]], tickangle=-60, row=rows, col=1)
    fig.update_layout(showlegend=False)
    return style(fig, title, height=170 * len(names) + 200)


def token_values_figure(tokens: Sequence[str], values: Mapping[str, Sequence[float]],
                        title: str = "Saliency per token", y: str = "|grad x input|") -> go.Figure:
    """Bars of one or more per-token values (saliency of one or two runs) over the tokens read."""
    if not tokens or not values:
        return empty_figure("nothing to show", title)
    fig = go.Figure()
    x = np.arange(len(tokens))
    for i, (name, v) in enumerate(values.items()):
        fig.add_trace(go.Bar(name=name, x=x, y=np.asarray(v, dtype=float), customdata=list(tokens),
                             marker_color=run_colour(i),
                             hovertemplate="%{customdata} (t=%{x})<br>%{y:.3g}<extra>" + name + "</extra>"))
    step = max(1, math.ceil(len(tokens) / 60))
    fig.update_xaxes(tickvals=x[::step], ticktext=list(tokens)[::step], tickangle=-60)
    fig.update_layout(barmode="group")
    return style(fig, title, None, y)


def word_saliency(words: Sequence[Any], saliency: Sequence[float]) -> list[tuple[str, str, float | None]]:
    """``(word, fate, saliency)`` per raw word: the largest saliency of the tokens it became, None if none read."""
    sal = np.asarray(saliency, dtype=float)
    out = []
    for w in words:
        pos = [p for p in getattr(w, "positions", ()) if 0 <= p < len(sal)]
        out.append((w.word, w.fate, float(sal[pos].max()) if pos else None))
    return out


def _rgba(weight: float) -> str:
    """An orange highlight whose opacity grows with ``weight`` in [0, 1]."""
    return f"rgba(255,127,14,{0.08 + 0.85 * min(max(weight, 0.0), 1.0):.2f})"


def saliency_html(items: Sequence[tuple[str, str, float | None]]) -> str:
    """The review's words, each read word shaded by its saliency (darkest = most salient, scaled to the max).

    Words preprocessing removed, cut, or read only as ``<unk>`` are grey (struck through when
    removed or cut); the tooltip says what happened to each word. All text is escaped.
    """
    finite = [s for _, _, s in items if s is not None and math.isfinite(s)]
    top = max(finite) if finite and max(finite) > 0 else 1.0
    parts = []
    for word, fate, s in items:
        w = html.escape(word)
        if fate == "kept" and s is not None:
            tip = html.escape(f"saliency {s:.3g}")
            parts.append(f'<span title="{tip}" style="{TOKEN_STYLE};background:{_rgba(s / top)}">{w}</span>')
        else:
            strike = ";text-decoration:line-through" if fate in ("stopword", "non_alnum", "truncated") else ""
            tip = html.escape(FATE_NAMES.get(fate, fate))
            parts.append(f'<span title="{tip}" style="{TOKEN_STYLE};color:{GREY}{strike}">{w}</span>')
    return f'<div style="{BOX_STYLE}">{" ".join(parts)}</div>'


def tokens_html(tokens: Sequence[str], unknown: Sequence[bool] | None = None) -> str:
    """The tokens a model read, as chips; those read only as ``<unk>`` greyed and struck through."""
    unknown = list(unknown or [False] * len(tokens))
    if not tokens:
        return f'<div style="{BOX_STYLE};color:{GREY}">(no tokens: the text was empty after preprocessing)</div>'
    parts = []
    for tok, unk in zip(tokens, unknown, strict=False):
        t = html.escape(tok)
        if unk:
            parts.append(f'<span title="unknown: read as &lt;unk&gt;" style="{TOKEN_STYLE};color:{GREY};'
                         f'text-decoration:line-through;background:#f2f2f2">{t}</span>')
        else:
            parts.append(f'<span style="{TOKEN_STYLE};background:#eef3fb">{t}</span>')
    return f'<div style="{BOX_STYLE}">{" ".join(parts)}</div>'


# ---- classification ----------------------------------------------------------------------------------------
def probability_bars(results: pd.DataFrame, title: str = "P(positive) from every model") -> go.Figure:
    """One horizontal bar per model (columns ``run``, ``model``, ``probability``) with the 0.5 boundary."""
    if results.empty:
        return empty_figure("no model to ask", title)
    fig = go.Figure()
    colours = [_colour(m, i) for i, m in enumerate(results["model"])]
    fig.add_trace(go.Bar(name="P(positive)", y=results["run"], x=results["probability"], orientation="h",
                         marker_color=colours, text=[f"{p:.3f}" for p in results["probability"]],
                         textposition="outside", hovertemplate="%{y}<br>P(positive)=%{x:.4f}<extra></extra>"))
    fig.add_trace(go.Scatter(name="decision boundary 0.5", x=[0.5, 0.5], y=[results["run"].iloc[0],
                                                                             results["run"].iloc[-1]],
                             mode="lines", line={"color": "#444", "dash": "dash"}))
    fig.update_xaxes(range=[0, 1.12])
    fig.update_yaxes(autorange="reversed", type="category")
    return style(fig, title, "P(positive)", None, height=max(220, 60 + 38 * len(results)))


# ---- the GMM-HMM ---------------------------------------------------------------------------------------------
CLASS_NAMES = {0: "negative", 1: "positive", "0": "negative", "1": "positive"}
CLASS_COLOURS = {"negative": "#d62728", "positive": "#2ca02c"}


def em_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """An hmm run's ``"em"`` metric records -> columns ``model, iteration, log_likelihood_per_token``."""
    rows = [{"model": CLASS_NAMES.get(r.get("class"), str(r.get("class"))), "iteration": r.get("iteration"),
             "log_likelihood": r.get("log_likelihood"), "log_likelihood_per_token": r.get("log_likelihood_per_token")}
            for r in records if r.get("kind") == "em"]
    return pd.DataFrame(rows, columns=["model", "iteration", "log_likelihood", "log_likelihood_per_token"])


def em_curves(frame: pd.DataFrame, title: str = "Baum-Welch: log-likelihood per iteration") -> go.Figure:
    """Log-likelihood per token against the EM iteration, one line per class model."""
    if frame.empty:
        return empty_figure("no iterations recorded", title)
    fig = go.Figure()
    for i, (model, part) in enumerate(frame.groupby("model", sort=True)):
        fig.add_trace(go.Scatter(name=f"{model} model", x=part["iteration"] + 1, y=part["log_likelihood_per_token"],
                                 mode="lines+markers", line={"color": CLASS_COLOURS.get(model, run_colour(i))}))
    return style(fig, title, "iteration", "log-likelihood per token")


def transition_heatmaps(matrices: Mapping[str, np.ndarray], title: str = "Transition matrices") -> go.Figure:
    """One annotated heatmap per class model: row i is the distribution of the next state from state i."""
    if not matrices:
        return empty_figure("no model", title)
    names = list(matrices)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[f"{n} model" for n in names],
                        horizontal_spacing=0.1)
    for c, name in enumerate(names, start=1):
        p = np.asarray(matrices[name], dtype=float)
        labels = [f"s{i}" for i in range(p.shape[0])]
        fig.add_trace(go.Heatmap(name=name, z=p, x=labels, y=labels, zmin=0, zmax=1, colorscale="Blues",
                                 showscale=c == len(names), text=[[f"{v:.2f}" for v in row] for row in p],
                                 texttemplate="%{text}",
                                 hovertemplate="from %{y} to %{x}: %{z:.3f}<extra>" + name + "</extra>"),
                      row=1, col=c)
        fig.update_xaxes(title_text="to", row=1, col=c)
    fig.update_yaxes(autorange="reversed", title_text="from")
    return style(fig, title)


def stationary_bars(dists: Mapping[str, np.ndarray], title: str = "Stationary distributions π = πP") -> go.Figure:
    """Grouped bars: each class model's stationary distribution over its hidden states."""
    if not dists:
        return empty_figure("no model", title)
    fig = go.Figure()
    for i, (name, pi) in enumerate(dists.items()):
        pi = np.asarray(pi, dtype=float)
        fig.add_trace(go.Bar(name=f"{name} model", x=[f"s{j}" for j in range(len(pi))], y=pi,
                             marker_color=CLASS_COLOURS.get(name, run_colour(i)),
                             text=[f"{v:.2f}" for v in pi], textposition="outside"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.1])
    return style(fig, title, "hidden state", "probability")


def state_colour(state: int) -> str:
    return PALETTE[int(state) % len(PALETTE)]


def viterbi_html(tokens: Sequence[str], states: Sequence[int], used: Sequence[bool]) -> str:
    """Tokens coloured by their Viterbi state; tokens without a word vector (not scored) greyed.

    ``states`` holds one state per *used* token, in order (the HMM only sees tokens with a vector).
    """
    if not tokens:
        return f'<div style="{BOX_STYLE};color:{GREY}">(no tokens)</div>'
    it = iter(states)
    parts = []
    for tok, u in zip(tokens, used, strict=False):
        t = html.escape(tok)
        s = next(it, None) if u else None
        if s is None:
            parts.append(f'<span title="no word vector: not scored" style="{TOKEN_STYLE};color:{GREY}">{t}</span>')
        else:
            parts.append(f'<span title="state s{s}" style="{TOKEN_STYLE};color:white;background:{state_colour(s)}">'
                         f'{t}<sub style="opacity:0.8">{s}</sub></span>')
    return f'<div style="{BOX_STYLE}">{" ".join(parts)}</div>'


def state_legend_html(n_states: int) -> str:
    chips = " ".join(f'<span style="{TOKEN_STYLE};color:white;background:{state_colour(s)}">s{s}</span>'
                     for s in range(n_states))
    return f"<div>{chips}</div>"


def cost_bars(table: pd.DataFrame, column: str = "train_time_s", title: str = "Training (fit) time",
              y: str = "seconds (log scale)") -> go.Figure:
    """One bar per run (columns ``run``, ``cell``, ``column``), coloured by cell type, on a log axis."""
    part = table.dropna(subset=[column]) if column in table else table.iloc[0:0]
    if part.empty:
        return empty_figure("no timings yet", title)
    fig = go.Figure(go.Bar(name=column, x=part["run"], y=part[column],
                           marker_color=[_colour(c, i) for i, c in enumerate(part["cell"])],
                           text=[f"{v:.3g}" for v in part[column]], textposition="outside"))
    fig.update_yaxes(type="log")
    return style(fig, title, "run", y)


# ---- word2vec ------------------------------------------------------------------------------------------------
def neighbour_bars(pairs: Sequence[tuple[str, float]], word: str) -> go.Figure:
    """The nearest neighbours of ``word`` as horizontal bars of cosine similarity, nearest on top."""
    title = f"Nearest neighbours of “{word}”"
    if not pairs:
        return empty_figure("no neighbours", title)
    words = [w for w, _ in pairs]
    sims = [s for _, s in pairs]
    fig = go.Figure(go.Bar(name="cosine similarity", x=sims, y=words, orientation="h", marker_color="#1f77b4",
                           text=[f"{s:.3f}" for s in sims], textposition="outside"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[min(0.0, min(sims)) - 0.05, 1.1])
    return style(fig, title, "cosine similarity", None, height=max(HEIGHT, 40 + 26 * len(pairs)))


def projection_figure(proj: Mapping[str, Any], highlight: Sequence[str] = (), title: str = "Word map (PCA to 2D)",
                      labels: int = 60) -> go.Figure:
    """The words of ``proj`` (``core.models.word2vec.WordVectors.projection_2d``) as points in the plane.

    ``highlight`` words are drawn larger in red; the first ``labels`` words (and every highlighted
    one) carry their text, the rest show it on hover.
    """
    words = list(proj.get("words") or [])
    if not words:
        return empty_figure("no words with a vector", title)
    x, y = np.asarray(proj["x"], dtype=float), np.asarray(proj["y"], dtype=float)
    hi = set(highlight)
    mask = np.array([w in hi for w in words])
    text = [w if (i < labels or w in hi) else "" for i, w in enumerate(words)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(name="words", x=x[~mask], y=y[~mask], mode="markers+text",
                             text=[t for t, m in zip(text, mask, strict=True) if not m],
                             hovertext=[w for w, m in zip(words, mask, strict=True) if not m], hoverinfo="text",
                             textposition="top center", marker={"size": 6, "color": "#1f77b4", "opacity": 0.7},
                             textfont={"size": 10}))
    if mask.any():
        fig.add_trace(go.Scatter(name="chosen words", x=x[mask], y=y[mask], mode="markers+text",
                                 text=[w for w, m in zip(words, mask, strict=True) if m], hoverinfo="text",
                                 textposition="top center", marker={"size": 11, "color": "#d62728"},
                                 textfont={"size": 13, "color": "#d62728"}))
    ratio = list(proj.get("explained_variance_ratio") or [0.0, 0.0]) + [0.0, 0.0]
    return style(fig, title, f"PC 1 ({ratio[0]:.0%} of the variance)", f"PC 2 ({ratio[1]:.0%})", height=520)


def loss_per_epoch(losses: Sequence[float], title: str = "word2vec training loss per epoch") -> go.Figure:
    if not losses:
        return empty_figure("no epochs recorded", title)
    fig = go.Figure(go.Scatter(name="loss", x=np.arange(1, len(losses) + 1), y=list(losses), mode="lines+markers"))
    fig.update_xaxes(dtick=1)
    return style(fig, title, "epoch", "loss")


def nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Mean over axis -2 ignoring NaN, quietly (all-NaN columns stay NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return np.nanmean(np.asarray(values, dtype=float), axis=-2)
