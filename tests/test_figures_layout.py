"""Every chart reads right at any count of runs and any length of label: nothing drawn on top of anything else.

Each public figure builder of ``core.figures`` is listed in :data:`BUILDERS` (a new one fails
:func:`test_every_public_figure_builder_is_checked_here` until it is) and drawn with 1, 3 and 8 runs under long
run labels, as ``core.jobs.labels.run_label`` writes them. The checks measure the figure with the text model of
:mod:`core.figures.layout` at the narrowest width it is drawn at (the builder's ``width``, else
:data:`core.figures.layout.NARROW`): the title's lines fit, the top margin holds the title, the legend and the
subplot titles one under the other, subplot titles neither overlap nor repeat, every axis labels at least two
ticks over the range it shows (whole numbers only where its values are whole), bar labels have the room they
need, and parallel coordinates keep their axis names under the title and their tick labels on the figure.
:func:`test_the_text_model_holds_against_what_chromium_draws` checks the model once against a real rendering.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import pkgutil
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import rnnlab.core.figures
from rnnlab.core.config import ModelConfig, RunConfig, TextConfig, TrainConfig
from rnnlab.core.figures import (
    classification,
    comparison,
    embeddings,
    gates,
    gradients,
    hmm,
    layout,
    reviews,
    style,
    sweep,
    theory,
    training,
)
from rnnlab.core.jobs import labels as run_labels

COUNTS = (1, 3, 8)
CELLS = ("rnn", "lstm", "gru")


# -- the data: n runs under long labels ----------------------------------------------------------------------------
@functools.cache
def long_labels(n: int) -> list[str]:
    """``n`` labels as the project writes them for runs with many changed options (they differ at the end)."""
    out = []
    for i in range(n):
        cell = CELLS[i % 3]
        cfg = RunConfig(model=ModelConfig(cell=cell, embedding_dim=64 + i, hidden_size=128, num_layers=2,
                                          bidirectional=True),
                        train=TrainConfig(lr=0.003, batch_size=32, clip_norm=1.0, seed=i),
                        text=TextConfig(max_len=250, keep_negations=True))
        out.append(run_labels.run_label(f"20260101-120000-{cell}-{i:03d}ec{i:01d}", "rnn", cfg,
                                        name="sentiment baseline"))
    return out


def rng(n: int) -> np.random.Generator:
    return np.random.default_rng(100 + n)


def epochs_of(n: int, epochs: int = 5) -> pd.DataFrame:
    r = rng(n)
    return pd.concat([pd.DataFrame({"run": lab, "epoch": range(epochs), "step": [60 * (e + 1) for e in range(epochs)],
                                    "val_accuracy": np.sort(r.uniform(0.5, 0.9, epochs)),
                                    "val_loss": np.sort(r.uniform(0.3, 0.7, epochs))[::-1]})
                      for lab in long_labels(n)], ignore_index=True)


def runs_table(n: int) -> pd.DataFrame:
    r = rng(n)
    return pd.DataFrame({"run": long_labels(n), "cell": [CELLS[i % 3] for i in range(n)],
                         "test_accuracy": r.uniform(0.58, 0.9, n), "f1": r.uniform(0.58, 0.9, n),
                         "roc_auc": r.uniform(0.6, 0.95, n),
                         "params_seed_formula": [30_200 + 1000 * i for i in range(n)],
                         "params_pytorch": [30_400 + 1000 * i for i in range(n)],
                         # a narrow range (0.158 .. 0.165) where powers of ten label nothing, and a wide one
                         "train_time_s": np.linspace(0.158, 0.165, n) if n <= 3 else np.geomspace(0.5, 3000, n)})


def steps_frame(n: int) -> pd.DataFrame:
    count = 40 * n
    r = rng(n)
    return pd.DataFrame({"step": np.arange(count), "loss": r.uniform(0.3, 0.7, count),
                         "accuracy": r.uniform(0.5, 0.9, count), "grad_norm": r.uniform(0.5, 20, count),
                         "clipped": np.arange(count) % 7 == 0})


def step_records(n: int) -> list[dict]:
    r = rng(n)
    return [{"kind": "step", "step": s, "grad_norm": float(r.uniform(1, 50)), "clipped": s % 5 == 0,
             "skipped": s == 3, "norms": {g: float(r.uniform(0.01, 10)) for g in gradients.GROUPS}}
            for s in range(10 * n + 2)]


def tokens(n: int) -> list[str]:
    words = ["the", "film", "was", "unforgettable", "and", "extraordinarily", "moving", "though", "slow"]
    return [words[i % len(words)] for i in range(6 * n)]


def class_names(n: int) -> list[str]:
    names = ["negative", "positive", "science and technology", "world news", "sports", "business and finance",
             "entertainment", "health and medicine"]
    return names[:max(n, 2)]


def parcoords_results(n: int) -> pd.DataFrame:
    runs = 3 * n
    return pd.DataFrame({"cell": [CELLS[i % 3] for i in range(runs)],
                         "recurrent_init_radius": [0.5 + (i % 4) for i in range(runs)],
                         "learning_rate": [0.001 * 10 ** (i % 3) for i in range(runs)],
                         "hidden_size": [32 * (1 + i % 2) for i in range(runs)],
                         "seed": [i % max(n, 2) for i in range(runs)], "state": ["finished"] * runs,
                         "mse": np.linspace(0.158, 0.165, runs)})


def sweep_summary(n: int) -> pd.DataFrame:
    rows = [{"cell": c, "recurrent_init_radius": r, "seq_len": 50 * (1 + j),
             "accuracy_mean": 0.6 + 0.01 * j, "accuracy_std": 0.01,
             "mse_mean": 0.158 + 0.001 * j, "mse_std": 0.001, "decay_k10_mean": 10.0 ** (j - 3), "decay_k10_std": 0.0}
            for c in CELLS[:max(1, min(n, 3))] for j, r in enumerate([0.5, 1.0, 3.0][:max(n, 2)])]
    return pd.DataFrame(rows)


def markov(n: int) -> go.Figure:
    states = [f"state {chr(65 + i)}" for i in range(max(n, 2))]
    k = len(states)
    history = np.full((12, k), 1.0 / k)
    history[0] = np.eye(k)[0]
    return theory.markov_figure(theory.markov_frame(history, states), np.full(k, 1.0 / k))


# every public builder: how to draw it for n runs (the registry the completeness test compares with the modules)
BUILDERS: dict[str, Callable[[int], go.Figure]] = {
    "classification.probability_bars": lambda n: classification.probability_bars(pd.DataFrame(
        {"run": long_labels(n), "model": [CELLS[i % 3] for i in range(n)], "probability": rng(n).uniform(0, 1, n)})),
    "comparison.epoch_curves": lambda n: comparison.epoch_curves(epochs_of(n), "val_accuracy"),
    "comparison.metric_bars": lambda n: comparison.metric_bars(runs_table(n)),
    "comparison.params_bars": lambda n: comparison.params_bars(runs_table(n)),
    "comparison.confusion_matrices": lambda n: comparison.confusion_matrices(
        {lab: [[12_345 + i, 155], [1_020, 11_480 - i]] for i, lab in enumerate(long_labels(n))}),
    "comparison.confusion_matrix": lambda n: comparison.confusion_matrix(
        np.arange(len(class_names(n)) ** 2).reshape(len(class_names(n)), -1) * 37, class_names(n),
        title=f"{long_labels(1)[0]}: confusion matrix"),
    "comparison.roc_curves": lambda n: comparison.roc_curves(
        {lab: {"fpr": [0, 0.2, 1], "tpr": [0, 0.7 + 0.01 * i, 1], "auc": 0.8} for i, lab in enumerate(long_labels(n))}),
    "comparison.cost_bars": lambda n: comparison.cost_bars(runs_table(n)),
    "embeddings.neighbour_bars": lambda n: embeddings.neighbour_bars(
        [(f"neighbourhood{i}", 0.9 - 0.05 * i) for i in range(n + 2)], "extraordinarily"),
    "embeddings.projection_figure": lambda n: embeddings.projection_figure(
        {"words": [f"word{i}" for i in range(10 * n)], "x": rng(n).normal(size=10 * n),
         "y": rng(n).normal(size=10 * n), "explained_variance_ratio": [0.31, 0.12]}, highlight=["word0"]),
    "embeddings.loss_per_epoch": lambda n: embeddings.loss_per_epoch(list(np.linspace(3.04, 2.07, n))),
    "gates.gates_figure": lambda n: gates.gates_figure(
        tokens(n), {s: rng(n).uniform(0, 1, (6 * n, 8)) for s in list(gates.STATE_NAMES)[:min(n, 6)]},
        rng(n).uniform(0, 1, 6 * n), title=f"{long_labels(1)[0]}: gates and states per token"),
    "gates.token_values_figure": lambda n: gates.token_values_figure(
        tokens(n), {lab: rng(n).normal(size=6 * n) for lab in long_labels(min(n, 2))},
        title=f"{long_labels(1)[0]}: attribution per token", y="towards positive (logit)"),
    "gates.unit_correlations_figure": lambda n: gates.unit_correlations_figure(
        [f"{i % 2}:0:{i}:{'hidden' if i % 2 else 'cell'}" for i in range(3 * n)], np.linspace(0.8, -0.6, 3 * n),
        title=f"{long_labels(1)[0]}: units that track the pattern", mean_match=np.full(3 * n, 0.5),
        mean_other=np.full(3 * n, 0.1)),
    "gradients.gradient_heatmap": lambda n: gradients.gradient_heatmap(
        rng(n).uniform(1e-6, 1, (3 * n, 2 + n)), [f"#{i} · T={10 * i}" for i in range(3 * n)],
        title=f"{long_labels(1)[0]}: mean ||dL/dh_t|| over the probe batch"),
    "gradients.decay_lines": lambda n: gradients.decay_lines(
        {lab: np.geomspace(1, 1e-3 * (i + 1), 20) for i, lab in enumerate(long_labels(n))},
        cells={lab: CELLS[i % 3] for i, lab in enumerate(long_labels(n))}),
    "gradients.jacobian_product_lines": lambda n: gradients.jacobian_product_lines(
        {lab: (np.geomspace(1, 1e-3, 20), np.geomspace(1, 1e30 * (i + 1), 20)) for i, lab in enumerate(long_labels(n))},
        cells={lab: CELLS[i % 3] for i, lab in enumerate(long_labels(n))}),
    "gradients.group_norm_curves": lambda n: gradients.group_norm_curves(
        gradients.step_norms_frame(step_records(n)), clip_norm=5.0),
    "gradients.explosion_figure": lambda n: gradients.explosion_figure(
        {lab: gradients.step_norms_frame(step_records(n)) for lab in long_labels(n)},
        {lab: 5.0 for lab in long_labels(n)}),
    "gradients.horizon_figure": lambda n: gradients.horizon_figure(pd.DataFrame(
        [{"cell": c, "seq_len": t, "metric": 0.9 - t / 1000, "success": t < 100}
         for c in CELLS for t in [10 * 2 ** j for j in range(n + 1)]]), threshold=0.8),
    "gradients.eigenvalue_plane": lambda n: gradients.eigenvalue_plane(
        rng(n).uniform(0.9, 0.999, (n + 1, 10 * n)), rng(n).uniform(-np.pi, np.pi, (n + 1, 10 * n)),
        [100 * i for i in range(n + 1)], title=f"{long_labels(1)[0]}: λ in the complex plane"),
    "gradients.eigenvalue_timescales": lambda n: gradients.eigenvalue_timescales(
        rng(n).uniform(0.9, 0.999, (n + 1, 10 * n)), [100 * i for i in range(n + 1)],
        title=f"{long_labels(1)[0]}: memory time scale 1 / (1 - |λ|) over training"),
    "hmm.em_curves": lambda n: hmm.em_curves(hmm.em_frame(
        [{"kind": "em", "class": c, "iteration": i, "log_likelihood_per_token": -7.03 + 0.1 * i}
         for c in range(2) for i in range(n)])),
    "hmm.transition_heatmaps": lambda n: hmm.transition_heatmaps(
        {name: np.full((4, 4), 0.25) for name in class_names(n)}),
    "hmm.stationary_bars": lambda n: hmm.stationary_bars({name: np.full(4, 0.25) for name in class_names(n)}),
    "reviews.dataset_counts": lambda n: reviews.dataset_counts(
        {"train": {"neg": 12_500, "pos": 12_500}, "test": {"neg": 12_500, "pos": 12_500},
         "unsup": {"unlabelled": 50_000}}),
    "reviews.length_histogram": lambda n: reviews.length_histogram(pd.DataFrame(
        {"group": [class_names(n)[i % max(n, 2)] for i in range(200)], "length": rng(n).integers(10, 900, 200)}),
        max_len=500),
    "reviews.word_frequency": lambda n: reviews.word_frequency(pd.DataFrame(
        [{"group": g, "word": f"word{j}", "count": 1000 - j} for g in class_names(n) for j in range(20)])),
    "style.empty_figure": lambda n: style.empty_figure("no runs yet: train one on the Train page " * n,
                                                       f"{long_labels(1)[0]}: nothing to draw"),
    "sweep.metric_vs_field": lambda n: sweep.metric_vs_field(sweep_summary(n), "recurrent_init_radius", "mse",
                                                             by="cell"),
    "sweep.parallel_coordinates": lambda n: sweep.parallel_coordinates(
        parcoords_results(n), ["cell", "recurrent_init_radius", "learning_rate", "hidden_size"], "mse"),
    "sweep.decay_phase": lambda n: sweep.decay_phase(sweep_summary(n), "recurrent_init_radius", "seq_len", k=10),
    "theory.activation_figure": lambda n: theory.activation_figure(theory.activation_frame(), preactivation=0.5 * n),
    "theory.gradient_product_figure": lambda n: theory.gradient_product_figure(
        theory.gradient_product_frame(1.5 * n, 0.3, 10 * n, "sigmoid"), "sigmoid"),
    "theory.unrolled_rnn_figure": lambda n: theory.unrolled_rnn_figure(*theory.unrolled_rnn_frame(n + 1)),
    "theory.param_count_figure": lambda n: theory.param_count_figure(theory.param_count_frame(100 * n, 50 * n)),
    "theory.markov_figure": markov,
    "training.loss_curves": lambda n: training.loss_curves(steps_frame(n), pd.DataFrame(
        {"step": [40 * (e + 1) for e in range(n)], "train_loss": [0.5] * n, "val_loss": [0.55] * n})),
    "training.accuracy_curves": lambda n: training.accuracy_curves(steps_frame(n), pd.DataFrame(
        {"step": [40 * (e + 1) for e in range(n)], "train_accuracy": [0.7] * n, "val_accuracy": [0.68] * n})),
    "training.grad_norm_curve": lambda n: training.grad_norm_curve(steps_frame(n), clip_norm=5.0),
}


def public_builders() -> set[str]:
    """``module.function`` of every public function of ``core.figures`` that draws a figure from data.

    A builder returns a ``go.Figure`` and does not take one first (``style``, ``log_axis`` and the like
    dress a figure someone else built).
    """
    found = set()
    for info in pkgutil.iter_modules(rnnlab.core.figures.__path__):
        module = importlib.import_module(f"rnnlab.core.figures.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module.__name__:
                continue
            sig = inspect.signature(fn)
            params = list(sig.parameters.values())
            if sig.return_annotation in ("go.Figure", go.Figure) and not (
                    params and params[0].annotation in ("go.Figure", go.Figure)):
                found.add(f"{info.name}.{name}")
    return found


def width_of(key: str) -> int:
    """The width a builder fits its text to: its ``width`` argument's default, else the narrowest chart's."""
    module, name = key.split(".")
    builder = getattr(importlib.import_module(f"rnnlab.core.figures.{module}"), name)
    param = inspect.signature(builder).parameters.get("width")
    return int(param.default) if param is not None and param.default is not inspect.Parameter.empty \
        else layout.NARROW


# -- what is checked ----------------------------------------------------------------------------------------------
def title_of(fig: go.Figure) -> str:
    return (fig.layout.title.text or "") if fig.layout.title is not None else ""


def title_bottom(fig: go.Figure) -> float:
    text = title_of(fig)
    size = fig.layout.title.font.size or layout.TITLE_FONT if text else layout.TITLE_FONT
    return layout.TITLE_PAD + layout.text_height(text, size) if text else 0.0


def title_problems(fig: go.Figure, width: int) -> list[str]:
    room = width - 2 * style.SIDE
    size = fig.layout.title.font.size or layout.TITLE_FONT
    return [f"title line {line!r} takes {layout.text_width(line, size):.0f} px of {room}"
            for line in layout.lines(title_of(fig)) if layout.text_width(line, size) > room]


def legend_bottom(fig: go.Figure, width: int) -> tuple[float, list[str]]:
    """Where the legend ends (px from the top; the title's bottom without one), and what is wrong with it."""
    problems = []
    top = title_bottom(fig)
    entries = style.legend_entries(fig)
    names = [str(tr.name or "") for tr in entries]
    room = style.legend_room(fig, width)
    if not entries:
        return top, problems
    if len(set(names)) < len(names):
        problems.append(f"legend names repeat: {names}")
    problems += [f"legend name {n!r} is wider than {room} px" for n in names
                 if layout.LEGEND_ENTRY + layout.text_width(n) > room]
    legend = fig.layout.legend
    if legend.yref != "container" or legend.yanchor != "top":
        return top, problems + ["the legend is not placed under the title (style())"]
    start = (1 - legend.y) * fig.layout.height
    if start < top - 0.5:
        problems.append(f"the legend starts at {start:.0f} px, over the title ending at {top:.0f} px")
    return start + layout.legend_height(names, room, groups=[tr.legendgroup for tr in entries]), problems


def subplot_titles(fig: go.Figure) -> list[go.layout.Annotation]:
    return [a for a in fig.layout.annotations if a.xref == "paper" and a.yref == "paper" and not a.showarrow
            and a.yanchor == "bottom" and a.xanchor == "center"]


def top_problems(fig: go.Figure, width: int) -> list[str]:
    bottom, problems = legend_bottom(fig, width)
    above = style.top_annotations_height(fig)
    parcoords = [tr for tr in fig.data if tr.type == "parcoords"]
    if parcoords:
        above = max(above, layout.PARCOORDS_LABEL + (parcoords[0].labelfont.size or 10))
    need = bottom + above
    if fig.layout.margin.t is None or fig.layout.margin.t < need - 0.5:
        problems.append(f"top margin {fig.layout.margin.t} px < {need:.0f} px (title, legend, text over the plot)")
    return problems


def subplot_title_problems(fig: go.Figure, width: int) -> list[str]:
    titles = subplot_titles(fig)
    if not titles:
        return []
    problems = []
    texts = [a.text for a in titles]
    if len(set(texts)) < len(texts):
        problems.append(f"subplot titles repeat: {texts}")
    box = layout.plot_box(fig, width)
    boxes = [layout.annotation_box(fig, a, box) for a in titles]
    for a, b in zip(titles, boxes, strict=True):
        if b.left < -0.5 or b.right > width + 0.5:
            problems.append(f"subplot title {a.text!r} runs off the figure ({b.left:.0f}..{b.right:.0f} of {width})")
        if a.y < 0.999:  # under another row: between that row's x labels and its own plot
            rows_above = [layout.layout_axis(fig, n) for n in layout.axis_names(fig) if n[0] == "y"
                          and layout.layout_axis(fig, n).domain is not None
                          and layout.layout_axis(fig, n).domain[0] > a.y + 1e-6]
            if rows_above:
                low = min(rows_above, key=lambda ax: ax.domain[0])
                x_name = "xaxis" + (low.anchor or "x")[1:]
                _, row_bottom = layout.paper_to_px(box, 0, low.domain[0])
                x_axis = layout.layout_axis(fig, x_name)
                length = box.width * ((x_axis.domain[1] - x_axis.domain[0]) if x_axis.domain is not None else 1.0)
                labels = layout.axis_room(fig, x_name, length)
                if b.top < row_bottom + labels - 0.5:
                    problems.append(f"subplot title {a.text!r} (top {b.top:.0f} px) is over the row above and its "
                                    f"labels (down to {row_bottom + labels:.0f} px)")
    for (a, b), (c, d) in combinations(zip(texts, boxes, strict=True), 2):
        if b.overlaps(d):
            problems.append(f"subplot titles {a!r} and {c!r} overlap")
    return problems


def tick_problems(fig: go.Figure) -> list[str]:
    problems = []
    for name in layout.axis_names(fig):
        axis = layout.layout_axis(fig, name)
        values = layout.axis_values(fig, name)
        if axis.visible is False or axis.showticklabels is False or not values:
            continue
        kind = layout.axis_kind(axis, values)
        ticks = layout.labelled_ticks(axis, values)
        distinct = len(set(map(str, values)))
        if len(ticks) < (min(2, distinct) if kind == "category" else 2):
            problems.append(f"{name} ({kind}) labels {len(ticks)} tick(s) over its range: {ticks}")
        numbers = [float(v) for v in values if isinstance(v, int | float | np.number) and not isinstance(v, bool)]
        finite = [v for v in numbers if math.isfinite(v)]
        if kind == "linear" and finite and len(numbers) == len(values) and all(v == int(v) for v in finite):
            fine = layout.labelled_ticks(axis, values, finest=True)
            if any(t != int(t) for t in fine):
                problems.append(f"{name} has whole numbers but may be ticked between them: {fine[:6]}")
    return problems


def bar_label_problems(fig: go.Figure, width: int) -> list[str]:
    problems = []
    box = layout.plot_box(fig, width)
    for tr in fig.data:
        if tr.type != "bar" or tr.text is None or not len(tr.text) or tr.textposition in ("inside", "none"):
            continue
        horizontal = tr.orientation == "h"
        axis = layout.layout_axis(fig, "xaxis" if horizontal else "yaxis")
        if tr.cliponaxis is not False:
            problems.append(f"bar labels of {tr.name!r} are clipped at the plot's edge (cliponaxis)")
        if axis.range is None:
            problems.append(f"bar labels of {tr.name!r}: the value axis has no range made to hold them")
            continue
        size = tr.textfont.size if tr.textfont is not None and tr.textfont.size else layout.FONT
        along = box.width if horizontal else box.height
        lo, hi = axis.range
        for v, text in zip(tr.x if horizontal else tr.y, tr.text, strict=True):
            if v is None or not str(text):
                continue
            extent = layout.text_width(str(text), size) if horizontal or tr.textangle in (-90, 90) \
                else layout.text_height(str(text), size)
            pos = math.log10(v) if axis.type == "log" else float(v)
            room = ((hi - pos) if pos >= 0 or axis.type == "log" else (pos - lo)) / (hi - lo) * along
            if room < extent:
                problems.append(f"bar label {text!r} needs {extent:.0f} px beyond its bar, has {room:.0f}")
    return problems


def plot_area_problems(fig: go.Figure, width: int) -> list[str]:
    if not layout.axis_names(fig):
        return []
    box = layout.plot_box(fig, width)
    problems = []
    if box.width < 0.4 * width:
        problems.append(f"the axes' labels leave the plot {box.width:.0f} px of {width}")
    if box.height < 100:
        problems.append(f"the plot is {box.height:.0f} px high")
    return problems


def parcoords_problems(fig: go.Figure, width: int) -> list[str]:
    problems = []
    for tr in fig.data:
        if tr.type != "parcoords":
            continue
        dims = list(tr.dimensions)
        margin = fig.layout.margin
        plot_w = width - margin.l - margin.r - layout.colour_bar_room(fig)
        spacing = plot_w / max(len(dims) - 1, 1)
        size = tr.labelfont.size or 10
        tick_size = tr.tickfont.size or 10
        names = [d.label for d in dims]
        if len(set(names)) < len(names):
            problems.append(f"axis names repeat: {names}")
        for i, d in enumerate(dims):
            w = layout.text_width(d.label, size)
            if "<br>" in d.label or w > spacing - 8:
                problems.append(f"axis name {d.label!r} ({w:.0f} px) does not fit between axes {spacing:.0f} px apart")
            if i == 0 and w / 2 > margin.l:
                problems.append(f"the first axis name {d.label!r} runs off the left edge")
            if i == len(dims) - 1 and w / 2 > margin.r:
                problems.append(f"the last axis name {d.label!r} runs off the right edge")
            values = [float(v) for v in d.values]
            if d.tickvals is None:
                problems.append(f"axis {d.label!r} leaves its ticks to Plotly (0.5 on a whole-number axis)")
                continue
            texts = list(d.ticktext) if d.ticktext is not None else [str(t) for t in d.tickvals]
            lo, hi = (min(d.range), max(d.range)) if d.range is not None else (min(values), max(values))
            shown = [t for t in d.tickvals if lo - 1e-9 <= float(t) <= hi + 1e-9]
            if len(shown) < min(2, len(set(values))):
                problems.append(f"axis {d.label!r} labels {shown} over {lo}..{hi}")
            if values and all(v == int(v) for v in values) and any(float(t) != int(t) for t in d.tickvals):
                problems.append(f"axis {d.label!r} of whole numbers is ticked at {list(d.tickvals)}")
            if i == 0:
                widest = max((layout.text_width(str(t), tick_size) for t in texts), default=0)
                if widest + layout.PARCOORDS_TICK > margin.l:
                    problems.append(f"the first axis's tick labels ({widest:.0f} px) run off the left edge")
        need_b = layout.PARCOORDS_EXTENT + layout.LINE * (tr.rangefont.size or 10)
        if margin.b < need_b:
            problems.append(f"bottom margin {margin.b} px < {need_b:.0f} px for the axes' lower range labels")
    return problems


def problems(fig: go.Figure, width: int) -> list[str]:
    return (title_problems(fig, width) + top_problems(fig, width) + subplot_title_problems(fig, width)
            + tick_problems(fig) + bar_label_problems(fig, width) + plot_area_problems(fig, width)
            + parcoords_problems(fig, width))


# -- the tests ----------------------------------------------------------------------------------------------------
def test_every_public_figure_builder_is_checked_here():
    found = public_builders()
    assert found - set(BUILDERS) == set(), "a figure builder no layout check draws: add it to BUILDERS"
    assert set(BUILDERS) - found == set(), "BUILDERS lists a builder that no longer exists"


@pytest.mark.parametrize("n", COUNTS)
@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_every_chart_reads_right_with_any_number_of_runs_under_long_labels(key, n):
    fig = BUILDERS[key](n)
    assert isinstance(fig, go.Figure)
    assert problems(fig, width_of(key)) == []


def test_the_checks_catch_what_users_saw():
    """The defects reported (titles over each other, a cut title, labels between whole numbers, a log axis
    without a number, clipped bar labels) each fail the checks: the test above can fail."""
    crowded = go.Figure([go.Heatmap(z=[[1]], xaxis=f"x{i}" if i > 1 else "x") for i in (1, 2, 3)])
    crowded.update_layout(annotations=[{"text": "lstm · seed · all reviews · 5 ep", "x": x, "y": 1, "xref": "paper",
                                        "yref": "paper", "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                        "font": {"size": 16}} for x in (0.15, 0.5, 0.85)],
                          xaxis={"domain": [0, 0.3]}, xaxis2={"domain": [0.35, 0.65]}, xaxis3={"domain": [0.7, 1]})
    style.style(crowded, "Confusion matrices")
    assert any("overlap" in p for p in subplot_title_problems(crowded, layout.NARROW))

    cut = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]))
    cut.update_layout(title={"text": f"{long_labels(1)[0]}: attribution per token"})
    assert title_problems(cut, layout.NARROW)

    seeds = go.Figure(go.Scatter(x=[0, 1, 2], y=[0.5, 0.6, 0.7]))
    assert any("between them" in p for p in tick_problems(seeds))
    narrow_log = go.Figure(go.Scatter(x=[1, 2], y=[0.158, 0.165]))
    narrow_log.update_yaxes(type="log", tickmode="linear", tick0=0, dtick=1)
    assert any("yaxis (log) labels 0" in p for p in tick_problems(narrow_log))
    assert not tick_problems(style.log_axis(go.Figure(go.Scatter(x=[1.5, 2.5], y=[0.158, 0.165])), "y",
                                            values=[0.158, 0.165]))

    bars = go.Figure(go.Bar(x=["a", "b"], y=[30_200, 30_400], text=["30,200", "30,400"], textposition="outside",
                            textangle=-90))
    bars.update_yaxes(range=[0, 33_000])
    style.style(bars, "Recurrent parameters")
    assert any("needs" in p for p in bar_label_problems(bars, layout.NARROW))


@pytest.mark.parametrize(("low", "high"), [(0.158, 0.165), (0.2, 0.9), (3.0, 7.0), (1e-7, 3e-7), (0.5, 50.0)])
def test_a_narrow_log_range_is_labelled_with_at_least_two_plain_numbers(low, high):
    fig = style.log_axis(go.Figure(go.Scatter(x=[1.5, 2.5], y=[low, high])), "y", values=[low, high])
    ticks = layout.labelled_ticks(fig.layout.yaxis, [low, high])
    assert len(ticks) >= 2 and all(low <= t <= high for t in ticks)
    if fig.layout.yaxis.ticktext is not None:  # written in full, each distinct
        assert len(set(fig.layout.yaxis.ticktext)) == len(fig.layout.yaxis.ticktext)


def test_fit_keeps_labels_distinct_within_their_width_and_says_where_it_cut():
    names = long_labels(8)
    fitted = layout.fit_all(names, 150, layout.FONT, max_lines=2)
    assert len(set(fitted)) == 8
    assert all(len(layout.lines(f)) <= 2 and layout.text_width(f) <= 150 for f in fitted)
    assert all(f.endswith(n[-6:]) for f, n in zip(fitted, names, strict=True))  # the id's end survives
    assert "…" in fitted[0] and layout.fit("lstm · 8ec553", 150) == "lstm · 8ec553"


# -- the model against a real rendering ---------------------------------------------------------------------------
SVG = "{http://www.w3.org/2000/svg}"


def render(figures: list[tuple[go.Figure, int]], folder: Path) -> list[ET.Element]:
    """``figures`` drawn by Chromium as SVG, each at its width, in one browser (a start costs ~5 s)."""
    try:
        import kaleido

        kaleido.write_fig_from_object_sync(
            [{"fig": fig, "path": folder / f"{i}.svg",
              "opts": {"format": "svg", "width": width, "height": fig.layout.height}}
             for i, (fig, width) in enumerate(figures)])
    except Exception as e:  # no kaleido, or no Chromium to run it
        pytest.skip(f"KALEIDO CANNOT RENDER (needs Chromium, e.g. Debian's /usr/bin/chromium): {e}")
    return [ET.fromstring((folder / f"{i}.svg").read_bytes()) for i in range(len(figures))]


def absolute_translations(root: ET.Element) -> dict[ET.Element, tuple[float, float]]:
    """Each element's offset in px: the sum of the translate() transforms of it and its ancestors."""
    out: dict[ET.Element, tuple[float, float]] = {}

    def walk(el: ET.Element, x: float, y: float) -> None:
        for m in re.finditer(r"translate\(\s*([-\d.e]+)[ ,]*([-\d.e]*)\s*\)", el.get("transform") or ""):
            x, y = x + float(m.group(1)), y + float(m.group(2) or 0)
        out[el] = (x, y)
        for child in el:
            walk(child, x, y)

    walk(root, 0.0, 0.0)
    return out


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [el for el in root.iter(SVG + tag) if cls in (el.get("class") or "").split()]


def test_the_text_model_holds_against_what_chromium_draws(tmp_path: Path):
    """Rendered by Chromium (kaleido's SVG): the legend and the subplot titles sit under the title and over the
    plot where the model says and take no more room than it predicts; nothing pushed the top margin; the axis
    names of parallel coordinates lie under the title and on the figure."""
    curves = comparison.epoch_curves(epochs_of(8), "val_accuracy")
    bars = BUILDERS["classification.probability_bars"](3)  # long labels beside the plot: the legend wraps sooner
    grouped = style.style(go.Figure([go.Scatter(name=f"{lab}: {what}", legendgroup=lab, x=[0, 1], y=[i, i])
                                     for i, lab in enumerate(long_labels(3)) for what in ("norm", "bound")]),
                          "Legend groups")
    matrices = comparison.confusion_matrices({lab: [[12_345, 155], [1_020, 11_480]] for lab in long_labels(3)})
    pc = BUILDERS["sweep.parallel_coordinates"](3)
    pc_width = width_of("sweep.parallel_coordinates")
    long_title = BUILDERS["gates.token_values_figure"](3)  # a title of several lines
    *legends, matrices_svg, pc_svg, title_svg = render(
        [(curves, layout.NARROW), (bars, layout.NARROW), (grouped, layout.NARROW), (matrices, layout.NARROW),
         (pc, pc_width), (long_title, layout.NARROW)], tmp_path)

    [title] = by_class(title_svg, "text", "gtitle")
    size = float(re.search(r"font-size: ([\d.]+)px", title.get("style")).group(1))
    spans = list(title.iter(SVG + "tspan")) or [title]
    baselines = [float(t.get("y")) + float((t.get("dy") or "0em").rstrip("em")) * size for t in spans]
    assert len(baselines) == len(layout.lines(title_of(long_title))) >= 3
    assert baselines[0] - layout.CAP_SHIFT * size >= 0  # the first line whole, inside the figure
    assert baselines[-1] + 0.3 * size <= title_bottom(long_title)  # the last one over what the model keeps

    for fig, svg in zip((curves, bars, grouped), legends, strict=True):
        offsets = absolute_translations(svg)
        [legend] = by_class(svg, "g", "legend")
        [bg] = [el for el in legend if el.tag == SVG + "rect" and el.get("class") == "bg"]
        legend_top, legend_h = offsets[legend][1], float(bg.get("height"))
        model_bottom, _ = legend_bottom(fig, layout.NARROW)
        assert legend_top >= title_bottom(fig) - 1  # under the title
        assert legend_top + legend_h <= model_bottom + 1, title_of(fig)  # in no more rows than the model counts
        plot_top = min(offsets[el][1] for el in by_class(svg, "g", "overplot")[0])
        assert plot_top == pytest.approx(fig.layout.margin.t, abs=1)  # the margin was enough: nothing pushed it
        assert legend_top + legend_h <= plot_top

    offsets = absolute_translations(matrices_svg)
    real = []
    for g in by_class(matrices_svg, "g", "annotation"):
        rect = next(g.iter(SVG + "rect"))
        x, y = offsets[rect]
        x, y = x + float(rect.get("x") or 0), y + float(rect.get("y") or 0)
        real.append(layout.Box(x, y, x + float(rect.get("width")), y + float(rect.get("height"))))
    titles = subplot_titles(matrices)
    assert len(real) == len(titles) == 3
    model = [layout.annotation_box(matrices, a, layout.plot_box(matrices, layout.NARROW)) for a in titles]
    for r, m in zip(sorted(real, key=lambda b: (b.top, b.left)), sorted(model, key=lambda b: (b.top, b.left)),
                    strict=True):
        assert r.width - 3 <= m.width <= 1.4 * r.width + 4  # never narrower than Chromium draws it, nor much wider
        assert r.height - 3 <= m.height
        assert r.left >= 0 and r.right <= layout.NARROW and r.top >= title_bottom(matrices) - 1
    assert not any(a.overlaps(b) for a, b in combinations(real, 2))
    ticks = []  # the x tick labels as drawn: the titles of a lower row lie under those of the row above
    for g in [el for el in matrices_svg.iter(SVG + "g") if re.fullmatch(r"x\d*tick", el.get("class") or "")]:
        text = next(g.iter(SVG + "text"))
        (dx, dy), w = offsets[text], layout.text_width("".join(text.itertext()))
        x, y = dx + float(text.get("x") or 0), dy + float(text.get("y") or 0)
        ticks.append(layout.Box(x - w / 2, y - layout.FONT, x + w / 2, y + 0.3 * layout.FONT))
    assert len(ticks) == 2 * 3 and not any(t.overlaps(r) for t in ticks for r in real)

    offsets = absolute_translations(pc_svg)
    names = by_class(pc_svg, "text", "axis-title")
    assert len(names) == len(pc.data[0].dimensions)
    size = pc.data[0].labelfont.size
    for el in names:
        x, y = offsets[el]
        w = layout.text_width("".join(el.itertext()), size)
        assert y - size >= title_bottom(pc) - 1  # each axis name under the title
        assert x - w / 2 >= 0 and x + w / 2 <= pc_width  # and on the figure
