"""Chart builders for the dashboard: pure functions from data to a Plotly figure.

What it is: one function per chart, taking plain data (numbers, dicts, pandas frames) and
returning a :class:`plotly.graph_objects.Figure`, plus :func:`figure_data`, which turns any
figure back into the table its CSV export holds. Tested without Streamlit
(``tests/test_charts.py``).

What it is not: no Streamlit, no file or run-store reading (``dashboard.state`` loads data and
shows figures with their PNG/CSV exports), no computation a chart does not need.

Layout: what every chart shares (colours, run labels, the common look, export) first, then one section
per page -- data, training, comparison. A new page adds its own section at the end and reuses
``style``, ``run_colour`` and ``CELL_COLOURS`` so every page looks alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# -- shared --------------------------------------------------------------------------------------------
CELL_COLOURS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c", "hmm": "#9467bd"}
LABEL_COLOURS = {"neg": "#d62728", "pos": "#2ca02c", "unlabelled": "#7f7f7f"}
# distinct colours for runs drawn together (Plotly's qualitative "D3" set, reordered for contrast)
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f")
HEIGHT = 360  # px: two charts fit side by side on a laptop screen


def run_colour(i: int) -> str:
    """The colour of the ``i``-th run drawn in one chart."""
    return PALETTE[i % len(PALETTE)]


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


# -- data page ----------------------------------------------------------------------------------------
def dataset_counts(counts: Mapping[str, Mapping[str, int]]) -> go.Figure:
    """Reviews per split, one bar per label: ``counts[split][label]`` as in ``core.data.imdb.dataset_status``."""
    fig = go.Figure()
    splits = [s for s in ("train", "test", "unsup") if s in counts] + [s for s in counts if s not in
                                                                       ("train", "test", "unsup")]
    labels = sorted({lab for s in splits for lab in counts[s]}, key=lambda x: ("neg", "pos", "unlabelled").index(x)
                    if x in ("neg", "pos", "unlabelled") else 9)
    for lab in labels:
        fig.add_trace(go.Bar(name=lab, x=splits, y=[counts[s].get(lab, 0) for s in splits],
                             marker_color=LABEL_COLOURS.get(lab)))
    fig.update_layout(barmode="group")
    return style(fig, "Reviews per split and label", "split", "reviews")


def length_histogram(lengths: pd.DataFrame, bins: int = 50, max_len: int | None = None,
                     unit: str = "words") -> go.Figure:
    """Overlaid histograms of review lengths, one per ``group`` (columns ``group``, ``length``).

    Bins are shared by every group and computed here, so the figure (and its CSV) holds counts,
    not 100,000 raw values. The long tail beyond the 99.5th percentile is folded into the last
    bin. ``max_len`` draws the truncation length as a vertical line.
    """
    if lengths.empty:
        return empty_figure("no reviews", "Review length")
    values = lengths["length"].to_numpy(dtype=float)
    top = max(float(np.quantile(values, 0.995)), 1.0)
    edges = np.linspace(0.0, top, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for i, (group, part) in enumerate(lengths.groupby("group", sort=True)):
        counts, _ = np.histogram(np.clip(part["length"].to_numpy(dtype=float), 0, top), bins=edges)
        colour = LABEL_COLOURS.get(str(group), run_colour(i))
        fig.add_trace(go.Bar(name=str(group), x=centres, y=counts, width=edges[1] - edges[0], opacity=0.6,
                             marker_color=colour))
    fig.update_layout(barmode="overlay")
    if max_len is not None and max_len <= top:  # a line beyond every review would only squash the bars
        fig.add_vline(x=max_len, line_dash="dash", line_color="#444",
                      annotation_text=f"max_len {max_len}", annotation_position="top right")
    return style(fig, f"Review length ({unit})", unit, "reviews")


def word_frequency(freqs: pd.DataFrame, top: int = 20) -> go.Figure:
    """The ``top`` most frequent words of each ``group``, side by side (columns ``group, word, count``)."""
    if freqs.empty:
        return empty_figure("no words", "Most frequent words")
    groups = sorted(freqs["group"].unique(), key=str)
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[str(g) for g in groups],
                        horizontal_spacing=0.12)
    for i, g in enumerate(groups):
        part = freqs[freqs["group"] == g].nlargest(top, "count").iloc[::-1]  # largest at the top
        fig.add_trace(go.Bar(name=str(g), x=part["count"], y=part["word"], orientation="h",
                             marker_color=LABEL_COLOURS.get(str(g), run_colour(i)), showlegend=False),
                      row=1, col=i + 1)
    return style(fig, "Most frequent words", height=max(HEIGHT, 18 * top + 80))


# -- training (live progress of one run) --------------------------------------------------------------
def _smooth(y: pd.Series, points: int = 25) -> pd.Series:
    """A trailing moving average over 1/``points`` of the series: the trend through batch noise."""
    window = max(1, len(y) // points)
    return y.rolling(window, min_periods=1).mean()


def loss_curves(steps: pd.DataFrame, epochs: pd.DataFrame | None = None) -> go.Figure:
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
    return style(fig, "Loss", "optimiser step", "loss")


def accuracy_curves(steps: pd.DataFrame, epochs: pd.DataFrame | None = None) -> go.Figure:
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
    return style(fig, "Accuracy", "optimiser step", "accuracy")


def grad_norm_curve(steps: pd.DataFrame, clip_norm: float | None = None) -> go.Figure:
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
    fig.update_yaxes(type="log")
    return style(fig, "Gradient norm per step (before clipping)", "optimiser step", "gradient norm (log scale)")


# -- comparison of runs -------------------------------------------------------------------------------
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
    fig.update_xaxes(dtick=1)
    return style(fig, f"{name.capitalize()} per epoch", "epoch", name)


def metric_bars(table: pd.DataFrame, metrics: Sequence[str] = ("test_accuracy", "f1", "roc_auc")) -> go.Figure:
    """Grouped bars: one group per run (column ``run``), one bar per metric."""
    present = [m for m in metrics if m in table and table[m].notna().any()]
    if table.empty or not present:
        return empty_figure("no test metrics yet", "Test metrics")
    fig = go.Figure()
    for i, m in enumerate(present):
        fig.add_trace(go.Bar(name=METRIC_NAMES.get(m, m), x=table["run"], y=table[m], marker_color=run_colour(i),
                             text=[f"{v:.3f}" if pd.notna(v) else "" for v in table[m]], textposition="outside"))
    fig.update_layout(barmode="group")
    top = max(1.0, float(table[present].max().max()))  # scores end at 1; an MSE may not
    fig.update_yaxes(range=[0, top * 1.1])
    return style(fig, "Test metrics", "run", "score")


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
                                 text=[f"{int(v):,}" if pd.notna(v) else "" for v in table[col]],
                                 textposition="outside"))
    fig.update_layout(barmode="group")
    return style(fig, "Recurrent parameters", "run", "parameters")


def confusion_matrices(matrices: Mapping[str, Sequence[Sequence[float]]], normalise: bool = False,
                       per_row: int = 4) -> go.Figure:
    """One annotated 2x2 heatmap per run: rows the true label, columns the predicted one.

    ``matrices``: run name -> ``[[tn, fp], [fn, tp]]`` (``test_metrics.json``'s
    ``confusion_matrix``). ``normalise`` divides each row by its total (the recall per class).
    """
    if not matrices:
        return empty_figure("no confusion matrices yet", "Confusion matrices")
    names = list(matrices)
    cols = min(per_row, len(names))
    rows = (len(names) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, horizontal_spacing=0.08,
                        vertical_spacing=0.18 if rows > 1 else 0.1)
    labels = ["neg", "pos"]
    for i, name in enumerate(names):
        cm = np.asarray(matrices[name], dtype=float)
        z = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalise else cm
        text = [[f"{v:.2f}" if normalise else f"{int(v)}" for v in row] for row in z]
        fig.add_trace(go.Heatmap(name=name, z=z, x=[f"pred {lab}" for lab in labels],
                                 y=[f"true {lab}" for lab in labels], text=text, texttemplate="%{text}",
                                 colorscale="Blues", showscale=False, zmin=0, zmax=1 if normalise else None),
                      row=i // cols + 1, col=i % cols + 1)
    fig.update_yaxes(autorange="reversed")
    for c in range(2, cols + 1):  # the true labels only once per row, left of the first matrix
        fig.update_yaxes(showticklabels=False, col=c)
    title = "Confusion matrices" + (" (row-normalised)" if normalise else "")
    return style(fig, title, height=max(HEIGHT, 260 * rows + 60))


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
