"""core.figures.classification: every model's P(positive) with the decision boundary."""

from __future__ import annotations

import pandas as pd

from core.figures import classification
from core.figures.style import CELL_COLOURS


def test_probability_bars_draw_one_bar_per_model_and_the_decision_boundary():
    res = pd.DataFrame({"run": ["lstm · a", "gmmhmm · b"], "model": ["lstm", "gmmhmm"], "probability": [0.9, 0.3]})
    fig = classification.probability_bars(res)
    assert list(fig.data[0].y) == ["lstm · a", "gmmhmm · b"] and list(fig.data[0].x) == [0.9, 0.3]
    assert fig.data[0].marker.color[0] == CELL_COLOURS["lstm"]
    assert list(fig.data[1].x) == [0.5, 0.5]
