"""The chart builders: each draws the data it is given, handles the empty case, and exports what it draws."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import charts


def traces(fig: go.Figure, kind: str | None = None) -> list:
    return [t for t in fig.data if kind is None or t.type == kind]


def by_name(fig: go.Figure, name: str):
    [tr] = [t for t in fig.data if t.name == name]
    return tr


# -- shared ---------------------------------------------------------------------------------------------
def test_figure_data_has_one_row_per_drawn_point_and_round_trips_through_csv():
    fig = go.Figure([go.Scatter(name="a", x=[1, 2, 3], y=[0.5, 0.25, 0.125]), go.Bar(name="b", x=["p", "q"], y=[7, 9])])
    table = charts.figure_data(fig)
    assert list(table.columns) == ["trace", "x", "y"]
    assert table.groupby("trace").size().to_dict() == {"a": 3, "b": 2}
    back = pd.read_csv(io.BytesIO(charts.figure_csv(fig)))
    assert back[back["trace"] == "a"]["y"].tolist() == [0.5, 0.25, 0.125]
    assert back[back["trace"] == "b"]["x"].tolist() == ["p", "q"]


def test_figure_data_unrolls_a_heatmap_into_one_row_per_cell():
    fig = go.Figure(go.Heatmap(name="cm", z=[[1, 2], [3, 4]], x=["c0", "c1"], y=["r0", "r1"]))
    table = charts.figure_data(fig)
    assert len(table) == 4
    cell = table[(table["x"] == "c1") & (table["y"] == "r0")]
    assert cell["z"].item() == 2


def test_run_label_is_the_model_and_the_ids_random_suffix():
    assert charts.run_label("20260101-120000-lstm-3f2a1c", "lstm") == "lstm · 3f2a1c"
    assert charts.run_label("abc", None) == "abc"


def test_a_longer_legend_gets_more_room_above_the_plot():
    def fig_with(n: int) -> go.Figure:
        return charts.style(go.Figure([go.Scatter(name=f"a fairly long run name {i}", x=[0], y=[0])
                                       for i in range(n)]), "title")

    one, many = fig_with(1), fig_with(12)
    assert many.layout.margin.t > one.layout.margin.t
    assert many.layout.height > one.layout.height


# -- data page --------------------------------------------------------------------------------------------
def test_dataset_counts_draws_one_bar_per_label_with_its_counts():
    counts = {"train": {"neg": 12500, "pos": 12500}, "test": {"neg": 12500, "pos": 12500},
              "unsup": {"unlabelled": 50000}}
    fig = charts.dataset_counts(counts)
    assert [t.name for t in fig.data] == ["neg", "pos", "unlabelled"]
    assert list(by_name(fig, "unlabelled").y) == [0, 0, 50000]
    assert list(by_name(fig, "pos").x) == ["train", "test", "unsup"]


def test_length_histogram_counts_every_review_once_with_shared_bins():
    rng = np.random.default_rng(0)
    lengths = pd.DataFrame({"group": ["neg"] * 300 + ["pos"] * 200,
                            "length": np.concatenate([rng.integers(10, 900, 300), rng.integers(10, 2500, 200)])})
    fig = charts.length_histogram(lengths, bins=40, max_len=500)
    neg, pos = by_name(fig, "neg"), by_name(fig, "pos")
    assert sum(neg.y) == 300 and sum(pos.y) == 200  # the tail is folded into the last bin, not dropped
    assert list(neg.x) == list(pos.x) and len(neg.x) == 40
    assert [s.x0 for s in fig.layout.shapes] == [500]


def test_length_histogram_leaves_out_a_max_len_line_beyond_every_review():
    lengths = pd.DataFrame({"group": ["pos"] * 5, "length": [8, 9, 10, 11, 12]})
    fig = charts.length_histogram(lengths, max_len=500)
    assert not fig.layout.shapes
    assert max(by_name(fig, "pos").x) < 20  # the bars are not squashed against a far-away line


def test_word_frequency_shows_the_top_words_of_each_group_largest_on_top():
    freqs = pd.DataFrame({"group": ["pos"] * 4 + ["neg"] * 3,
                          "word": ["great", "film", "good", "fun", "bad", "film", "awful"],
                          "count": [40, 30, 20, 10, 50, 25, 5]})
    fig = charts.word_frequency(freqs, top=3)
    neg, pos = fig.data  # groups in sorted order
    assert list(pos.y) == ["good", "film", "great"] and list(pos.x) == [20, 30, 40]
    assert list(neg.y) == ["awful", "film", "bad"]


# -- training -----------------------------------------------------------------------------------------------
def steps_frame(n: int = 120, clipped_every: int = 10) -> pd.DataFrame:
    step = np.arange(n)
    return pd.DataFrame({"step": step, "loss": 0.7 * np.exp(-step / 50) + 0.05, "grad_norm": 1 + (step % 7),
                         "clipped": step % clipped_every == 0, "accuracy": np.linspace(0.5, 0.9, n)})


def epochs_frame() -> pd.DataFrame:
    return pd.DataFrame({"epoch": [0, 1], "step": [60, 120], "train_loss": [0.6, 0.4], "val_loss": [0.65, 0.5],
                         "train_accuracy": [0.6, 0.8], "val_accuracy": [0.62, 0.75]})


def test_loss_curves_draw_every_step_smoothed_and_the_validation_loss_per_epoch():
    fig = charts.loss_curves(steps_frame(), epochs_frame())
    raw, smooth, val = (by_name(fig, n) for n in ("batch loss", "batch loss (smoothed)", "validation loss"))
    assert len(raw.y) == len(smooth.y) == 120
    assert np.std(np.diff(smooth.y)) <= np.std(np.diff(raw.y))
    assert list(val.x) == [60, 120] and list(val.y) == [0.65, 0.5]


def test_accuracy_curves_say_why_they_are_empty_for_a_regression_task():
    steps = steps_frame().assign(accuracy=np.nan)
    fig = charts.accuracy_curves(steps, None)
    assert not fig.data and "no accuracy" in fig.layout.annotations[0].text


def test_grad_norm_curve_marks_exactly_the_clipped_steps_and_the_threshold_on_a_log_axis():
    steps = steps_frame(clipped_every=10)
    fig = charts.grad_norm_curve(steps, clip_norm=5.0)
    assert list(by_name(fig, "clipped").x) == list(range(0, 120, 10))
    assert set(by_name(fig, "clip threshold 5").y) == {5.0}
    assert fig.layout.yaxis.type == "log"


# -- comparison ----------------------------------------------------------------------------------------------
def test_epoch_curves_draw_one_line_per_run_with_epochs_counted_from_one():
    epochs = pd.concat([epochs_frame().assign(run="lstm · a"),
                        epochs_frame().assign(run="gru · b", val_accuracy=[0.5, 0.7])])
    fig = charts.epoch_curves(epochs, "val_accuracy")
    assert [t.name for t in fig.data] == ["lstm · a", "gru · b"]
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[1].y) == [0.5, 0.7]
    assert fig.data[0].line.color != fig.data[1].line.color


def test_metric_bars_skip_a_metric_no_run_has():
    table = pd.DataFrame({"run": ["a", "b"], "test_accuracy": [0.8, 0.85], "f1": [0.79, 0.86], "roc_auc": [None, None]})
    fig = charts.metric_bars(table)
    assert [t.name for t in fig.data] == ["test accuracy", "F1"]
    assert list(fig.data[1].text) == ["0.790", "0.860"]


def test_params_bars_put_the_seed_formula_beside_pytorchs_count():
    table = pd.DataFrame({"run": ["lstm"], "params_seed_formula": [4 * (100 + 50 + 1) * 50],
                          "params_pytorch": [4 * (100 + 50 + 2) * 50]})
    fig = charts.params_bars(table)
    seed, torch_ = fig.data
    assert torch_.y[0] - seed.y[0] == 4 * 50  # one extra bias vector per gate


@pytest.mark.parametrize("normalise", [False, True])
def test_confusion_matrices_one_heatmap_per_run_rows_normalised_on_request(normalise):
    cms = {"a": [[40, 10], [5, 45]], "b": [[30, 20], [25, 25]], "c": [[1, 0], [0, 1]]}
    fig = charts.confusion_matrices(cms, normalise=normalise)
    maps = traces(fig, "heatmap")
    assert [m.name for m in maps] == ["a", "b", "c"]
    z = np.asarray(maps[0].z)
    if normalise:
        np.testing.assert_allclose(z.sum(axis=1), [1.0, 1.0])
    else:
        assert z.tolist() == [[40, 10], [5, 45]]


def test_roc_curves_overlay_every_run_with_its_auc_and_the_chance_line():
    rocs = {"a": {"fpr": [0, 0.2, 1], "tpr": [0, 0.8, 1], "auc": 0.8}, "b": {"fpr": [0, 1], "tpr": [0, 1], "auc": None}}
    fig = charts.roc_curves(rocs)
    assert [t.name for t in fig.data] == ["chance", "a (AUC 0.800)", "b"]
    assert list(fig.data[1].y) == [0, 0.8, 1]


# -- nothing to draw ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda: charts.length_histogram(pd.DataFrame(columns=["group", "length"])),
    lambda: charts.word_frequency(pd.DataFrame(columns=["group", "word", "count"])),
    lambda: charts.loss_curves(pd.DataFrame(columns=["step", "loss"]), None),
    lambda: charts.grad_norm_curve(pd.DataFrame(columns=["step", "grad_norm"]), 5.0),
    lambda: charts.epoch_curves(pd.DataFrame(columns=["run", "epoch", "val_loss"]), "val_loss"),
    lambda: charts.metric_bars(pd.DataFrame(columns=["run", "test_accuracy"])),
    lambda: charts.params_bars(pd.DataFrame(columns=["run"])),
    lambda: charts.confusion_matrices({}),
    lambda: charts.roc_curves({}),
], ids=["lengths", "words", "loss", "grad_norm", "epochs", "metrics", "params", "confusion", "roc"])
def test_every_chart_says_there_is_nothing_yet_instead_of_failing(build):
    fig = build()
    assert not fig.data
    assert fig.layout.annotations and fig.layout.annotations[0].text.startswith("no ")
    assert charts.figure_data(fig).empty
