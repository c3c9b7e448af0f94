"""Tracked and exported runs read back with each tool's own reader, for tests/test_tracking.py and test_export.py.

TensorBoard's ``EventAccumulator`` (:func:`events`, :func:`hparams_plugin`) and MLflow's ``MlflowClient`` on an
SQLite store: :func:`fresh_mlflow_db` hands a test a fresh store, copied from one made once per session (making an
MLflow database runs its migrations: ~10 s on a 2-core machine).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest


def events(folder: Path) -> Any:
    """The event files of ``folder``, loaded whole (every point of every scalar, histogram and tensor)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0, "histograms": 0})
    ea.Reload()
    return ea


def hparams_plugin(ea: Any, what: str) -> Any:
    """The HParams plugin's ``session_start_info``, ``session_end_info`` or ``experiment`` of an event folder."""
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    return getattr(HParamsPluginData.FromString(ea.PluginTagToContent("hparams")[f"_hparams_/{what}"]), what)


def assert_typed_hparams(hparams: Any, params: dict[str, Any]) -> None:
    """``hparams`` (a session start's) hold ``params`` with their types: booleans as booleans, numbers as numbers,
    text as text, lists as JSON text; a None is left out."""
    assert set(hparams) == {k for k, v in params.items() if v is not None}
    for k, v in params.items():
        if v is None:
            continue
        got = hparams[k]
        if isinstance(v, bool):
            assert got.WhichOneof("kind") == "bool_value" and got.bool_value is v, k
        elif isinstance(v, int | float):
            assert got.WhichOneof("kind") == "number_value" and got.number_value == pytest.approx(v), k
        elif isinstance(v, str):
            assert got.WhichOneof("kind") == "string_value" and got.string_value == v, k
        else:
            assert json.loads(got.string_value) == list(v), k


def fresh_mlflow_db(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> str:
    """A fresh MLflow store of a test's own, ``sqlite:///TMP/mlflow.db``: a copy of an empty one whose tables are
    made once per session (in the session's temporary folder, shared by every test module)."""
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    from mlflow import MlflowClient

    template = tmp_path_factory.getbasetemp() / "mlflow-template" / "mlflow.db"
    if not template.is_file():
        template.parent.mkdir(exist_ok=True)
        MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()  # makes the tables
    db = tmp_path / "mlflow.db"
    shutil.copyfile(template, db)
    return f"sqlite:///{db}"


def mlflow_run_of(uri: str, run_id: str, experiment: str = "rnnlab") -> Any:
    """The one MLflow run of ``experiment`` tagged with the RNN Lab run ``run_id``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    (found,) = client.search_runs([exp.experiment_id], filter_string=f"tags.`rnnlab.run_id` = '{run_id}'")
    return found
