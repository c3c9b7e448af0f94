"""core.figures.comparison: runs side by side -- epoch curves, test metrics, parameters, confusion, ROC, cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from rnnlab.core.figures import comparison, layout
from rnnlab.core.figures.style import figure_data


def traces(fig: go.Figure, kind: str | None = None) -> list:
    return [t for t in fig.data if kind is None or t.type == kind]


def is_empty(fig) -> bool:
    return not fig.data and bool(fig.layout.annotations)


def epochs_frame() -> pd.DataFrame:
    return pd.DataFrame({"epoch": [0, 1], "step": [60, 120], "train_loss": [0.6, 0.4], "val_loss": [0.65, 0.5],
                         "train_accuracy": [0.6, 0.8], "val_accuracy": [0.62, 0.75]})


def test_epoch_curves_draw_one_line_per_run_with_epochs_counted_from_one():
    epochs = pd.concat([epochs_frame().assign(run="lstm · a"),
                        epochs_frame().assign(run="gru · b", val_accuracy=[0.5, 0.7])])
    fig = comparison.epoch_curves(epochs, "val_accuracy")
    assert [t.name for t in fig.data] == ["lstm · a", "gru · b"]
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[1].y) == [0.5, 0.7]
    assert fig.data[0].line.color != fig.data[1].line.color


def test_metric_bars_skip_a_metric_no_run_has():
    table = pd.DataFrame({"run": ["a", "b"], "test_accuracy": [0.8, 0.85], "f1": [0.79, 0.86], "roc_auc": [None, None]})
    fig = comparison.metric_bars(table)
    assert [t.name for t in fig.data] == ["test accuracy", "F1"]
    assert list(fig.data[1].text) == ["0.790", "0.860"]


def test_metric_bars_write_each_label_upright_over_its_own_bar_with_room_above():
    table = pd.DataFrame({"run": ["a", "b", "c"], "test_accuracy": [0.593, 0.588, 0.9], "f1": [0.59, 0.6, 0.91]})
    fig = comparison.metric_bars(table)
    assert all(t.textposition == "outside" and t.textangle == -90 and t.cliponaxis is False for t in fig.data)
    assert fig.layout.barmode == "group"
    top = fig.layout.yaxis.range[1]  # headroom for the upright label of the tallest bar, measured in px
    assert (top - 0.91) / top * layout.plot_box(fig, layout.NARROW).height >= layout.text_width("0.910")


def test_a_single_bar_series_keeps_its_labels_level():
    table = pd.DataFrame({"run": ["a", "b"], "cell": ["lstm", "gru"], "train_time_s": [1.0, 2.0]})
    assert comparison.cost_bars(table).data[0].textangle == 0


@pytest.mark.parametrize("normalise", [False, True])
def test_confusion_matrix_of_two_classes_writes_counts_and_row_shares(normalise):
    fig = comparison.confusion_matrix([[40, 10], [5, 45]], ["negative", "positive"], normalise=normalise)
    (heat,) = traces(fig, "heatmap")
    assert list(heat.x) == ["negative", "positive"] and list(heat.y) == ["negative", "positive"]
    assert heat.text[0][0] == "40<br>(80%)" and heat.text[1][0] == "5<br>(10%)"
    z = np.asarray(heat.z, dtype=float)
    np.testing.assert_allclose(z, [[0.8, 0.2], [0.1, 0.9]] if normalise else [[40, 10], [5, 45]])
    assert fig.layout.xaxis.title.text == "predicted class" and fig.layout.yaxis.title.text == "true class"
    assert fig.layout.yaxis.autorange == "reversed"  # the first class at the top left


def test_confusion_matrix_of_three_classes_is_three_by_three_with_an_empty_row_at_zero_percent():
    cm = [[5, 1, 0], [0, 0, 0], [2, 2, 6]]
    fig = comparison.confusion_matrix(cm, ["neg", "neutral", "pos"], title="Three classes")
    (heat,) = traces(fig, "heatmap")
    assert np.asarray(heat.z).shape == (3, 3) and list(heat.y) == ["neg", "neutral", "pos"]
    assert list(heat.text[1]) == ["0<br>(0%)"] * 3 and heat.text[2][2] == "6<br>(60%)"
    assert fig.layout.title.text == "Three classes"
    assert heat.showscale is not False


def test_confusion_matrix_refuses_names_that_do_not_fit_and_says_when_there_is_nothing():
    with pytest.raises(ValueError):
        comparison.confusion_matrix([[1, 0], [0, 1]], ["a", "b", "c"])
    assert is_empty(comparison.confusion_matrix([], []))


def test_params_bars_put_the_seed_formula_beside_pytorchs_count():
    table = pd.DataFrame({"run": ["lstm"], "params_seed_formula": [4 * (100 + 50 + 1) * 50],
                          "params_pytorch": [4 * (100 + 50 + 2) * 50]})
    fig = comparison.params_bars(table)
    seed, torch_ = fig.data
    assert torch_.y[0] - seed.y[0] == 4 * 50  # one extra bias vector per gate


@pytest.mark.parametrize("normalise", [False, True])
def test_confusion_matrices_one_heatmap_per_run_rows_normalised_on_request(normalise):
    cms = {"a": [[40, 10], [5, 45]], "b": [[30, 20], [25, 25]], "c": [[1, 0], [0, 1]]}
    fig = comparison.confusion_matrices(cms, normalise=normalise)
    maps = traces(fig, "heatmap")
    assert [m.name for m in maps] == ["a", "b", "c"]
    z = np.asarray(maps[0].z)
    if normalise:
        np.testing.assert_allclose(z.sum(axis=1), [1.0, 1.0])
    else:
        assert z.tolist() == [[40, 10], [5, 45]]


def test_roc_curves_overlay_every_run_with_its_auc_and_the_chance_line():
    rocs = {"a": {"fpr": [0, 0.2, 1], "tpr": [0, 0.8, 1], "auc": 0.8}, "b": {"fpr": [0, 1], "tpr": [0, 1], "auc": None}}
    fig = comparison.roc_curves(rocs)
    assert [t.name for t in fig.data] == ["chance", "a (AUC 0.800)", "b"]
    assert list(fig.data[1].y) == [0, 0.8, 1]


def test_cost_bars_use_a_log_axis_and_skip_runs_without_a_timing():
    table = pd.DataFrame({"run": ["a", "b"], "cell": ["lstm", "hmm"], "train_time_s": [12.0, None]})
    fig = comparison.cost_bars(table)
    assert list(fig.data[0].x) == ["a"] and fig.layout.yaxis.type == "log"
    assert is_empty(comparison.cost_bars(table.iloc[0:0]))


@pytest.mark.parametrize("build", [
    lambda: comparison.epoch_curves(pd.DataFrame(columns=["run", "epoch", "val_loss"]), "val_loss"),
    lambda: comparison.metric_bars(pd.DataFrame(columns=["run", "test_accuracy"])),
    lambda: comparison.params_bars(pd.DataFrame(columns=["run"])),
    lambda: comparison.confusion_matrices({}),
    lambda: comparison.roc_curves({}),
], ids=["epochs", "metrics", "params", "confusion", "roc"])
def test_every_chart_says_there_is_nothing_yet_instead_of_failing(build):
    fig = build()
    assert not fig.data
    assert fig.layout.annotations and fig.layout.annotations[0].text.startswith("no ")
    assert figure_data(fig).empty
