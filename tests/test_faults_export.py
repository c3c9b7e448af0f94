"""Exports that could destroy a run or hang, and weights that changed after they were written: one test per case.

An export writes only what it owns: never into the run store (or a folder inside it, through symlinks), never
over a folder it did not write; a target that cannot work (a file that is not a database, a folder, a server
that refuses or stays silent) is refused within seconds, in one line, before anything is written. A weights
file carries the SHA-256 of its tensors; a flipped bit makes the run damaged wherever its model is loaded or
exported. The runs here are built without training (a model's initial weights saved as a finished run).
"""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from rnnlab.core.__main__ import main
from rnnlab.core.analysis.predict import predict_runs
from rnnlab.core.config import preset
from rnnlab.core.data.text import Vocabulary
from rnnlab.core.jobs.files import DamagedRun
from rnnlab.core.jobs.store import Run, RunStore
from rnnlab.core.models.checkpoint import (
    CheckpointError,
    TrainingState,
    load_model,
    load_training_state,
    read_training_header,
    read_weights,
    save_training_state,
    save_weights,
)
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.report import export
from rnnlab.core.report.export import ExportRefused, export_runs

WORDS = ["<unk>", "<pad>", "good", "bad", "film"]


# -- runs, files and servers ----------------------------------------------------------------------------------------
def finished_run(store: RunStore, cell: str = "gru") -> Run:
    """A finished text run with weights, a vocabulary, metrics and test metrics (initial weights: no training).

    It keeps stop words: reading NLTK's list costs its import (seconds), and nothing here is about them.
    """
    cfg = preset("seed", cell=cell, hidden_size=4, embedding_dim=3, remove_stopwords=False)
    run = store.create(cfg)
    voc = Vocabulary(WORDS, [0, 0, 3, 2, 1], 6, 3)
    voc.save(run.file("vocab.json"))
    save_weights(SentimentRNN(replace(cfg.model, vocab_size=len(voc))), run.file("model.safetensors"))
    run.append_metrics([{"kind": "epoch", "epoch": 0, "step": 1, "train_loss": 0.69, "val_loss": 0.7}])
    run.write_json("test_metrics.json", {"accuracy": 0.75})
    run.write_status({"state": "finished", "process": None, "finished": time.time()})
    return run


@pytest.fixture
def store(rnnlab_home) -> RunStore:
    return RunStore(rnnlab_home / "runs")


@pytest.fixture
def run(store) -> Run:
    return finished_run(store)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def flip_bit(path: Path, tensor: str, bit: int = 30) -> None:
    """Flip one bit of the first value of ``tensor`` in a safetensors file (bit 30 of a float32: its exponent's top)."""
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    begin = json.loads(data[8:8 + n])[tensor]["data_offsets"][0]
    data[8 + n + begin + bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


def cli(capsys, *argv: str) -> tuple[int, str]:
    """Run the CLI in this process: its exit status and what it said on stderr (never a traceback)."""
    capsys.readouterr()
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def closed_port() -> int:
    """A local port nothing listens on: a connection there is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A local server that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def stalling_server() -> Iterator[tuple[str, list[str]]]:
    """A local server that answers its health check, then never answers an MLflow request; lists what it was asked."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    asked: list[str] = []
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:  # closed: the test is over
                return
            line = conn.recv(65536).split(b"\r\n")[0].decode()
            asked.append(line)
            if " /health " in line:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}", asked
    srv.close()
    for conn in held:
        conn.close()


# -- TensorBoard: never into the store, never over what it did not write ----------------------------------------------
def test_exporting_to_tensorboard_into_the_run_store_is_refused_and_the_run_kept(store, run, capsys):
    pytest.importorskip("tensorboard")
    before = snapshot(run.path)
    code, err = cli(capsys, "export", run.id, "--to", "tensorboard", str(store.root))
    assert code == 1 and "is the run store" in err and len(err.strip().splitlines()) == 1
    assert snapshot(run.path) == before and [r.id for r in store.list()] == [run.id]


def test_exporting_into_a_folder_inside_the_store_through_a_symlink_is_refused(store, run, tmp_path):
    pytest.importorskip("tensorboard")
    (tmp_path / "link").symlink_to(run.path)
    with pytest.raises(ExportRefused, match=f"is inside the run store {store.root.resolve()}"):
        export_runs([run], "tensorboard", str(tmp_path / "link" / "tb"))
    assert not (run.path / "tb").exists() and sorted(p.name for p in store.root.iterdir()) == [run.id]


def test_a_symlink_where_a_runs_export_would_go_is_refused_and_left_alone(store, run, tmp_path):
    pytest.importorskip("tensorboard")
    other = finished_run(store, "lstm")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / run.id).symlink_to(elsewhere)
    with pytest.raises(ExportRefused, match="is a symbolic link") as info:
        export_runs([other, run], "tensorboard", str(tmp_path / "tb"))
    assert "rmtree" not in str(info.value) and "nothing exported" in str(info.value)
    assert (elsewhere / "keep.txt").read_text() == "mine" and (tmp_path / "tb" / run.id).is_symlink()
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == [run.id]  # the other run waited too


def test_a_folder_the_export_did_not_write_is_refused_and_kept(run, tmp_path):
    pytest.importorskip("tensorboard")
    dest = tmp_path / "tb" / run.id
    dest.mkdir(parents=True)
    (dest / "notes.txt").write_text("my notes")
    with pytest.raises(ExportRefused, match=f"is not RNN Lab's export of run {run.id}"):
        export_runs([run], "tensorboard", str(tmp_path / "tb"))
    assert snapshot(dest) == {"notes.txt": b"my notes"}


def test_an_earlier_export_holding_a_users_file_is_refused_and_kept(run, tmp_path):
    pytest.importorskip("tensorboard")
    export_runs([run], "tensorboard", str(tmp_path / "tb"))
    (tmp_path / "tb" / run.id / "analysis.ipynb").write_text("{}")
    before = snapshot(tmp_path / "tb")
    with pytest.raises(ExportRefused, match=r"holds files an export did not write \(analysis.ipynb\)"):
        export_runs([run], "tensorboard", str(tmp_path / "tb"))
    assert snapshot(tmp_path / "tb") == before


def test_an_earlier_export_of_the_same_run_is_replaced(run, tmp_path):
    pytest.importorskip("tensorboard")
    export_runs([run], "tensorboard", str(tmp_path / "tb"))
    first = snapshot(tmp_path / "tb" / run.id)
    export_runs([run], "tensorboard", str(tmp_path / "tb"))
    again = snapshot(tmp_path / "tb" / run.id)
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == [run.id]  # no temporary or old folder left
    assert len(again) == 2 and export.EXPORT_MARKER in again and again.keys() != first.keys()  # a new event file


# -- damaged runs are skipped, with exit status 1 ---------------------------------------------------------------------
def test_a_run_listed_as_damaged_is_skipped_with_exit_1(store, run, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    good = finished_run(store, "lstm")
    data = run.file("model.safetensors").read_bytes()
    run.file("model.safetensors").write_bytes(data[: len(data) // 2])
    code, err = cli(capsys, "export", run.id, good.id, "--to", "tensorboard", str(tmp_path / "tb"))
    assert code == 1 and f"skipped {run.id}: run {run.id} is damaged: model.safetensors: truncated" in err
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == [good.id]


def test_a_run_whose_weights_changed_is_skipped_by_the_export(run, tmp_path):
    pytest.importorskip("tensorboard")
    flip_bit(run.file("model.safetensors"), "fc.weight")
    out = export_runs([run], "tensorboard", str(tmp_path / "tb"))
    assert out["exported"] == [] and out["skipped"][0]["run_id"] == run.id
    assert "model.safetensors: changed after it was written" in out["skipped"][0]["reason"]


# -- MLflow: a target that cannot work is refused within seconds ------------------------------------------------------
def test_an_mlflow_server_that_refuses_fails_within_seconds(run):
    pytest.importorskip("requests")
    t0 = time.perf_counter()
    with pytest.raises(ExportRefused, match="cannot reach the MLflow server at .*: Connection refused"):
        export_runs([run], "mlflow", f"http://127.0.0.1:{closed_port()}/")
    assert time.perf_counter() - t0 < 5  # before: 250 s of retries


def test_an_mlflow_server_that_never_answers_fails_within_the_timeout(run, silent_server):
    pytest.importorskip("requests")
    t0 = time.perf_counter()
    with pytest.raises(ExportRefused, match="did not answer within 1 s"):
        export_runs([run], "mlflow", silent_server, timeout_s=1)
    assert 1 <= time.perf_counter() - t0 < 5  # before: no answer in 300 s


def test_an_mlflow_server_that_stops_answering_is_tried_a_bounded_number_of_times(run, stalling_server, monkeypatch):
    pytest.importorskip("mlflow")
    uri, asked = stalling_server
    monkeypatch.setattr(export, "MLFLOW_RETRIES", 1)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")  # the user's own setting, for their other work
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    from mlflow.exceptions import MlflowException

    t0 = time.perf_counter()
    with pytest.raises(MlflowException, match="timed out"):
        export_runs([run], "mlflow", uri, timeout_s=1)
    assert time.perf_counter() - t0 < 15  # 2 tries of 1 s; before: 8 tries of 120 s, minutes apart
    api = [line for line in asked if "/health" not in line]
    assert len(api) == 2  # tried 1 + MLFLOW_RETRIES times, not 1 + 7
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "7" and "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ


def test_a_sqlite_target_that_is_not_a_database_is_refused_at_once(run, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database")
    t0 = time.perf_counter()
    with pytest.raises(ExportRefused, match=f"{notes} is not an SQLite database"):
        export_runs([run], "mlflow", f"sqlite:///{notes}")
    assert time.perf_counter() - t0 < 2 and notes.read_text() == "not a database"


def test_a_sqlite_target_that_is_a_folder_is_refused_at_once(run, tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(ExportRefused, match=f"{tmp_path} is a folder, not an SQLite database file"):
        export_runs([run], "mlflow", f"sqlite:///{tmp_path}")
    assert time.perf_counter() - t0 < 2  # before: 105 s, then SQLAlchemy's "(Background on this error ...)"


def test_a_damaged_sqlite_database_is_refused_at_once(run, tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)  # the right first bytes, then nothing SQLite can read
    with pytest.raises(ExportRefused, match=r"cannot be read as an SQLite database \(file is not a database\)"):
        export_runs([run], "mlflow", f"sqlite:///{db}")


def test_another_applications_sqlite_database_is_refused_and_left_alone(run, tmp_path):
    db = tmp_path / "notes.db"
    with closing(sqlite3.connect(db)) as con:
        con.execute("CREATE TABLE notes (text)")
        con.commit()
    before = db.read_bytes()
    with pytest.raises(ExportRefused, match=r"another application's database \(it holds notes and no MLflow tables\)"):
        export_runs([run], "mlflow", f"sqlite:///{db}")
    assert db.read_bytes() == before  # MLflow would have added its tables to it


def test_an_mlflow_database_in_the_run_store_is_refused(store, run):
    with pytest.raises(ExportRefused, match="the MLflow database .* is inside the run store"):
        export_runs([run], "mlflow", f"sqlite:///{store.root / 'mlflow.db'}")
    assert sorted(p.name for p in store.root.iterdir()) == [run.id]


# -- weights: a digest written with them, checked on load -------------------------------------------------------------
def test_a_flipped_exponent_bit_makes_the_run_damaged_where_its_model_is_loaded(store, run):
    assert predict_runs([run.id], "good film", runs_dir=store.root)[0]["probability"] < 0.99
    flip_bit(run.file("model.safetensors"), "fc.weight")  # its first weight becomes ~1e38: every answer changes
    with pytest.raises(DamagedRun) as info:
        predict_runs([run.id], "good film", runs_dir=store.root)
    assert str(info.value).startswith(f"run {run.id} is damaged: model.safetensors: changed after it was written")
    assert isinstance(info.value, CheckpointError)  # what a caller of a load already catches


def test_load_model_and_read_weights_refuse_a_flipped_bit_naming_the_file(tmp_path):
    cfg = replace(preset("seed", cell="lstm", hidden_size=4, embedding_dim=3).model, vocab_size=len(WORDS))
    path = tmp_path / "model.safetensors"
    save_weights(SentimentRNN(cfg), path)
    flip_bit(path, "rnn.weight_hh_l0", bit=3)  # a low mantissa bit: a change no finiteness check would see
    for load in (lambda: load_model(cfg, path), lambda: read_weights(path)):
        with pytest.raises(CheckpointError, match="model.safetensors changed after it was written"):
            load()


def test_weights_written_before_digests_still_load(tmp_path):
    cfg = replace(preset("seed", cell="gru", hidden_size=4, embedding_dim=3).model, vocab_size=len(WORDS))
    model = SentimentRNN(cfg)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))  # no metadata, as before
    loaded = load_model(cfg, path)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_a_flipped_bit_in_a_training_state_is_refused_on_resume(tmp_path):
    model = SentimentRNN(replace(preset("seed", cell="gru", hidden_size=4, embedding_dim=3).model, vocab_size=5))
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # Adam's state after one step, written out (building an optimiser costs a second of imports)
    optimizer = {"state": {i: {"step": torch.tensor(1.0), "exp_avg": torch.rand_like(v),
                               "exp_avg_sq": torch.rand_like(v)} for i, v in enumerate(weights.values())},
                 "param_groups": [{"params": list(range(len(weights))), "lr": 1e-3}]}
    np_rng = np.random.get_state()
    py_rng = random.getstate()
    state = TrainingState(epoch=0, step=1, model=weights, best_model=None, optimizer=optimizer,
                          result={"epochs": [], "best_epoch": 0, "best_val_loss": 0.7, "samples_seen": 1, "steps": 1,
                                  "skipped_steps": 0, "train_time_s": 0.1},
                          torch_rng=torch.get_rng_state(), numpy_rng=[np_rng[0], np_rng[1].tolist(), *np_rng[2:]],
                          python_rng=[py_rng[0], list(py_rng[1]), py_rng[2]])
    path = tmp_path / "last.safetensors"
    save_training_state(path, state)
    assert load_training_state(path).step == 1
    flip_bit(path, "optimizer.0.exp_avg", bit=5)
    with pytest.raises(CheckpointError, match="last.safetensors changed after it was written"):
        load_training_state(path)
    assert read_training_header(path)["epoch"] == 0  # the header alone still reads: it cannot tell
