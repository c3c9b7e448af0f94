"""core.figures.embeddings: word2vec's nearest neighbours, word map and loss per epoch."""

from __future__ import annotations

from rnnlab.core.figures import embeddings


def is_empty(fig) -> bool:
    return not fig.data and bool(fig.layout.annotations)


def test_neighbour_bars_keep_the_order_nearest_on_top():
    fig = embeddings.neighbour_bars([("great", 0.9), ("fine", 0.5)], "good")
    assert list(fig.data[0].y) == ["great", "fine"] and fig.layout.yaxis.autorange == "reversed"
    assert "good" in fig.layout.title.text


def test_projection_figure_highlights_the_chosen_words():
    proj = {"words": ["good", "bad", "film"], "x": [1.0, -1.0, 0.0], "y": [0.0, 0.0, 1.0],
            "explained_variance_ratio": [0.6, 0.3]}
    fig = embeddings.projection_figure(proj, highlight=["bad"], labels=0)
    chosen = next(tr for tr in fig.data if tr.name == "chosen words")
    assert list(chosen.text) == ["bad"] and list(chosen.x) == [-1.0]
    others = next(tr for tr in fig.data if tr.name == "words")
    assert list(others.hovertext) == ["good", "film"] and list(others.text) == ["", ""]
    assert "60%" in fig.layout.xaxis.title.text
    assert is_empty(embeddings.projection_figure({"words": []}))


def test_loss_per_epoch_counts_epochs_from_one():
    fig = embeddings.loss_per_epoch([3.0, 2.0])
    assert list(fig.data[0].x) == [1, 2]
    assert is_empty(embeddings.loss_per_epoch([]))
