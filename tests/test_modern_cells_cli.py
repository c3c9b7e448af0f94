"""The modern cells (minGRU, minLSTM, LRU) end to end on the command line: trained on a tiny IMDB-shaped archive with
their gradients through time recorded, their checkpoint loaded back for a prediction, and introspected."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab.core.__main__ import main
from rnnlab.core.analysis.gradients import load_gradients
from rnnlab.core.jobs.names import GRADIENTS_FILE
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.models.cells import cell_def

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("cell", ["mingru", "minlstm", "lru"])
def test_a_modern_cell_trains_records_its_gradients_predicts_and_is_introspected(capsys, rnnlab_home,
                                                                                 tiny_imdb_archive, cell):
    code, trained = run_json(capsys, "train", "--model", cell, "--limit", "6", "--val-size", "2", "--epochs", "1",
                             "--hidden", "8", "--imdb", str(tiny_imdb_archive), "--threads", "1",
                             "--record-gradients", "--probe-size", "2")
    assert code == 0 and trained["state"] == "finished", trained
    run_id = trained["run_id"]
    assert trained["test_metrics"]["accuracy"] is not None
    grads = load_gradients(RunStore(rnnlab_home / "runs").get(run_id).path / GRADIENTS_FILE)
    assert len(grads.step) >= 2  # at initialisation and at the end at least
    for name in ("dh", "dx", "jac"):
        values = grads[name]
        assert np.isfinite(values[~np.isnan(values)]).all() and np.nanmax(values) > 0, name
    code, predicted = run_json(capsys, "predict", run_id, "a pos film")  # the checkpoint loads back
    assert code == 0 and 0 <= predicted[0]["probability"] <= 1
    code, looked = run_json(capsys, "introspect", run_id, "a pos film")
    assert code == 0 and looked["cell"] == cell
    states = looked["states"]["layer0"]
    assert tuple(states) == cell_def(cell).recorded
    assert all(len(v) == len(looked["tokens"]) and len(v[0]) == 8 for v in states.values())
