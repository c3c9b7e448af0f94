"""core.figures.hmm: the GMM-HMM's EM curves, transition matrices and stationary distributions."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from rnnlab.core.figures import hmm


def test_em_frame_and_curves_give_one_line_per_class_model():
    recs = [{"kind": "em", "class": c, "iteration": i, "log_likelihood": -10.0 + i, "log_likelihood_per_token":
             -1.0 + i / 10} for c in (0, 1) for i in range(3)] + [{"kind": "epoch"}]
    frame = hmm.em_frame(recs)
    assert len(frame) == 6 and set(frame["model"]) == {"negative", "positive"}
    fig = hmm.em_curves(frame)
    assert [tr.name for tr in fig.data] == ["negative model", "positive model"]
    assert list(fig.data[0].x) == [1, 2, 3]
    named = hmm.em_frame(recs + [{"kind": "em", "class": 2, "iteration": 0, "log_likelihood": -9.0,
                                  "log_likelihood_per_token": -0.9}], classes=("cooking", "sports", "weather"))
    assert set(named["model"]) == {"cooking", "sports", "weather"}  # a dataset's own class names


def test_transition_heatmaps_and_stationary_bars_show_each_class_model():
    p = np.array([[0.9, 0.1], [0.5, 0.5]])
    fig = hmm.transition_heatmaps({"negative": p, "positive": p.T / p.T.sum(1, keepdims=True)})
    assert len(fig.data) == 2 and list(fig.data[0].x) == ["s0", "s1"]
    assert_allclose(np.asarray(fig.data[0].z), p)
    bars = hmm.stationary_bars({"negative": np.array([5 / 6, 1 / 6])})
    assert_allclose(np.asarray(bars.data[0].y, dtype=float), [5 / 6, 1 / 6])
