"""core.figures.reviews: the Data page's figures draw the counts they are given and say when there is nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from rnnlab.core.figures import reviews
from rnnlab.core.figures.style import figure_data


def by_name(fig: go.Figure, name: str):
    [tr] = [t for t in fig.data if t.name == name]
    return tr


def test_dataset_counts_draws_one_bar_per_label_with_its_counts():
    counts = {"train": {"neg": 12500, "pos": 12500}, "test": {"neg": 12500, "pos": 12500},
              "unsup": {"unlabelled": 50000}}
    fig = reviews.dataset_counts(counts)
    assert [t.name for t in fig.data] == ["neg", "pos", "unlabelled"]
    assert list(by_name(fig, "unlabelled").y) == [0, 0, 50000]
    assert list(by_name(fig, "pos").x) == ["train", "test", "unsup"]


def test_length_histogram_counts_every_review_once_with_shared_bins():
    rng = np.random.default_rng(0)
    lengths = pd.DataFrame({"group": ["neg"] * 300 + ["pos"] * 200,
                            "length": np.concatenate([rng.integers(10, 900, 300), rng.integers(10, 2500, 200)])})
    fig = reviews.length_histogram(lengths, bins=40, max_len=500)
    neg, pos = by_name(fig, "neg"), by_name(fig, "pos")
    assert sum(neg.y) == 300 and sum(pos.y) == 200  # the tail is folded into the last bin, not dropped
    assert list(neg.x) == list(pos.x) and len(neg.x) == 40
    assert [s.x0 for s in fig.layout.shapes] == [500]


def test_length_histogram_leaves_out_a_max_len_line_beyond_every_review():
    lengths = pd.DataFrame({"group": ["pos"] * 5, "length": [8, 9, 10, 11, 12]})
    fig = reviews.length_histogram(lengths, max_len=500)
    assert not fig.layout.shapes
    assert max(by_name(fig, "pos").x) < 20  # the bars are not squashed against a far-away line


def test_word_frequency_shows_the_top_words_of_each_group_largest_on_top():
    freqs = pd.DataFrame({"group": ["pos"] * 4 + ["neg"] * 3,
                          "word": ["great", "film", "good", "fun", "bad", "film", "awful"],
                          "count": [40, 30, 20, 10, 50, 25, 5]})
    fig = reviews.word_frequency(freqs, top=3)
    neg, pos = fig.data  # groups in sorted order
    assert list(pos.y) == ["good", "film", "great"] and list(pos.x) == [20, 30, 40]
    assert list(neg.y) == ["awful", "film", "bad"]


@pytest.mark.parametrize("build", [
    lambda: reviews.length_histogram(pd.DataFrame(columns=["group", "length"])),
    lambda: reviews.word_frequency(pd.DataFrame(columns=["group", "word", "count"])),
], ids=["lengths", "words"])
def test_every_chart_says_there_is_nothing_yet_instead_of_failing(build):
    fig = build()
    assert not fig.data
    assert fig.layout.annotations and fig.layout.annotations[0].text.startswith("no ")
    assert figure_data(fig).empty
