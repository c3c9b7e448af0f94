"""core.figures.classification: every model's probability with the decision boundary, a legend naming each
colour, and runs of datasets with more than two classes."""

from __future__ import annotations

import pandas as pd

from rnnlab.core.figures import classification
from rnnlab.core.figures.style import CELL_COLOURS


def test_probability_bars_draw_one_bar_per_model_and_the_decision_boundary():
    res = pd.DataFrame({"run": ["lstm · a", "gmmhmm · b"], "model": ["lstm", "gmmhmm"], "probability": [0.9, 0.3]})
    fig = classification.probability_bars(res)
    assert list(fig.data[0].y) == ["lstm · a", "gmmhmm · b"] and list(fig.data[0].x) == [0.9, 0.3]
    assert fig.data[0].marker.color[0] == CELL_COLOURS["lstm"]
    boundary = next(tr for tr in fig.data if tr.name == "decision boundary 0.5")
    assert list(boundary.x) == [0.5, 0.5]
    assert fig.layout.title.text.startswith("P(positive)")


def test_the_legend_names_each_colour_after_its_model_not_p_positive():
    res = pd.DataFrame({"run": ["a", "b", "c"], "model": ["lstm", "gru", "lstm"], "probability": [0.9, 0.3, 0.6]})
    fig = classification.probability_bars(res)
    shown = [tr for tr in fig.data if tr.showlegend is not False]
    names = {tr.name: tr.marker.color for tr in shown if tr.type == "bar"}
    assert names == {"lstm": CELL_COLOURS["lstm"], "gru": CELL_COLOURS["gru"]}
    assert "P(positive)" not in [tr.name for tr in shown]


def test_runs_with_three_classes_are_drawn_on_the_predicted_class_with_its_name_and_the_chance_level():
    topics = ["cooking", "sports", "weather"]
    res = pd.DataFrame({"run": ["a", "b"], "model": ["lstm", "gru"], "probability": [0.7, 0.2],
                        "label": ["weather", "negative"], "classes": [topics, None]})
    fig = classification.probability_bars(res)
    assert fig.layout.title.text.startswith("P(predicted class)")
    assert list(fig.data[0].x) == [0.7, 0.8]  # the IMDB run predicts negative with 1 - 0.2
    assert "weather" in fig.data[0].text[0] and "negative" in fig.data[0].text[1]
    chance = next(tr for tr in fig.data if tr.name.startswith("chance"))
    assert list(chance.x) == [1 / 3, 1 / 2]


def test_two_class_runs_of_a_named_dataset_are_drawn_on_their_own_second_class():
    res = pd.DataFrame({"run": ["a"], "model": ["lstm"], "probability": [0.7], "label": ["sports"],
                        "classes": [["cooking", "sports"]]})
    assert classification.probability_bars(res).layout.title.text.startswith("P(sports)")
