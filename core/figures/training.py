"""Figures of one training run as it goes: loss, accuracy and the gradient norm per optimiser step.

What it is: pure builders from a run's step and epoch frames (its ``metrics.jsonl`` as the dashboard
loads it) to Plotly figures, the noisy batch values beside a smoothed trend and each epoch's
validation numbers. The Train page draws the three side by side: each fits its text to a third of the
page (``width``).

What it is not: several runs side by side (:mod:`core.figures.comparison`), the gradient through
time or per parameter group (:mod:`core.figures.gradients`), reading the metrics file, Streamlit.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from rnnlab.core.figures import layout
from rnnlab.core.figures.style import empty_figure, log_axis, style


def _smooth(y: pd.Series, points: int = 25) -> pd.Series:
    """A trailing moving average over 1/``points`` of the series: the trend through batch noise."""
    window = max(1, len(y) // points)
    return y.rolling(window, min_periods=1).mean()


def loss_curves(steps: pd.DataFrame, epochs: pd.DataFrame | None = None, width: int = layout.THIRD) -> go.Figure:
    """Training loss per optimiser step (raw and smoothed) with each epoch's validation loss.

    ``steps``: columns ``step``, ``loss``; ``epochs``: ``step`` (the step the epoch ended at),
    ``train_loss``, ``val_loss``.
    """
    if steps.empty and (epochs is None or epochs.empty):
        return empty_figure("no steps yet", "Loss")
    fig = go.Figure()
    if not steps.empty:
        fig.add_trace(go.Scatter(name="batch loss", x=steps["step"], y=steps["loss"], mode="lines",
                                 line={"color": "#9ecae1", "width": 1}))
        fig.add_trace(go.Scatter(name="batch loss (smoothed)", x=steps["step"], y=_smooth(steps["loss"]),
                                 mode="lines", line={"color": "#1f77b4", "width": 2}))
    if epochs is not None and not epochs.empty:
        fig.add_trace(go.Scatter(name="validation loss", x=epochs["step"], y=epochs["val_loss"],
                                 mode="lines+markers", line={"color": "#d62728", "width": 2}))
    return style(fig, "Loss", "optimiser step", "loss", width=width)


def accuracy_curves(steps: pd.DataFrame, epochs: pd.DataFrame | None = None, width: int = layout.THIRD) -> go.Figure:
    """Batch accuracy per step (smoothed) with each epoch's training and validation accuracy.

    ``steps``: ``step``, ``accuracy`` (NaN for tasks without one); ``epochs``: ``step``,
    ``train_accuracy``, ``val_accuracy``.
    """
    has_steps = not steps.empty and "accuracy" in steps and steps["accuracy"].notna().any()
    has_epochs = epochs is not None and not epochs.empty and "val_accuracy" in epochs
    if not has_steps and not has_epochs:
        return empty_figure("no accuracy (yet, or not a classification task)", "Accuracy")
    fig = go.Figure()
    if has_steps:
        acc = steps.dropna(subset=["accuracy"])
        fig.add_trace(go.Scatter(name="batch accuracy (smoothed)", x=acc["step"], y=_smooth(acc["accuracy"]),
                                 mode="lines", line={"color": "#2ca02c", "width": 2}))
    if has_epochs:
        for col, colour in (("train_accuracy", "#ff7f0e"), ("val_accuracy", "#9467bd")):
            if col in epochs:
                fig.add_trace(go.Scatter(name=col.replace("_", " "), x=epochs["step"], y=epochs[col],
                                         mode="lines+markers", line={"color": colour, "width": 2}))
    fig.update_yaxes(range=[0, 1.02])
    return style(fig, "Accuracy", "optimiser step", "accuracy", width=width)


def grad_norm_curve(steps: pd.DataFrame, clip_norm: float | None = None, width: int = layout.THIRD) -> go.Figure:
    """The global gradient norm before clipping, per step (log scale); clipped steps marked.

    ``steps``: ``step``, ``grad_norm`` and optionally ``clipped`` (bool).
    """
    if steps.empty or "grad_norm" not in steps or steps["grad_norm"].isna().all():
        return empty_figure("no steps yet", "Gradient norm")
    fig = go.Figure()
    fig.add_trace(go.Scatter(name="gradient norm", x=steps["step"], y=steps["grad_norm"], mode="lines",
                             line={"color": "#8c564b", "width": 1.5}))
    if "clipped" in steps and steps["clipped"].fillna(False).astype(bool).any():
        hit = steps[steps["clipped"].fillna(False).astype(bool)]
        fig.add_trace(go.Scatter(name="clipped", x=hit["step"], y=hit["grad_norm"], mode="markers",
                                 marker={"color": "#d62728", "size": 5}))
    if clip_norm:  # a trace, not a shape: its position is then exported too, and log axes place it right
        x0, x1 = steps["step"].min(), steps["step"].max()
        fig.add_trace(go.Scatter(name=f"clip threshold {clip_norm:g}", x=[x0, x1], y=[clip_norm, clip_norm],
                                 mode="lines", line={"color": "#444", "dash": "dash", "width": 1}))
    log_axis(fig, "y", values=steps["grad_norm"])
    return style(fig, "Gradient norm per step (before clipping)", "optimiser step", "gradient norm (log scale)",
                 width=width)
