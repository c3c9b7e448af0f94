"""The command line's import and export commands: word2vec files in and out, runs to TensorBoard."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab.core.__main__ import main
from rnnlab.core.jobs.store import RunStore


def write_vectors(path, words=("good", "bad", "film"), dim=4):
    rng = np.random.default_rng(0)
    rows = [f"{w} " + " ".join(f"{v:.6f}" for v in rng.normal(size=dim)) for w in words]
    path.write_text(f"{len(words)} {dim}\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_embeddings_import_then_export_round_trips_through_the_cli(rnnlab_home, tmp_path, capsys):
    src = write_vectors(tmp_path / "vectors.txt")
    assert main(["embeddings", "import", str(src), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    run = RunStore(rnnlab_home / "runs").get(out["run_id"])
    assert out["kind"] == "word2vec" and out["state"] == "finished"
    dest = tmp_path / "out.bin"
    assert main(["embeddings", "export", run.id, str(dest), "--binary"]) == 0
    capsys.readouterr()
    assert main(["embeddings", "import", str(dest), "--binary", "--json"]) == 0
    again = RunStore(rnnlab_home / "runs").get(json.loads(capsys.readouterr().out)["run_id"])
    a, b = np.load(run.file("vectors.npy")), np.load(again.file("vectors.npy"))
    assert np.allclose(a, b) and run.read_json("words.json")["words"] == again.read_json("words.json")["words"]


def test_embeddings_import_of_a_truncated_file_creates_no_run(rnnlab_home, tmp_path, capsys):
    src = write_vectors(tmp_path / "vectors.txt")
    src.write_text(src.read_text()[:-20])
    assert main(["embeddings", "import", str(src)]) == 1
    err = capsys.readouterr().err
    assert "vectors.txt" in err and "Traceback" not in err
    assert RunStore(rnnlab_home / "runs").list() == []


def test_export_is_a_command_and_names_a_missing_run(rnnlab_home, tmp_path, capsys):
    assert main(["export", "20990101-000000-000-lstm-abcdef", "--to", "tensorboard", str(tmp_path / "tb")]) == 1
    assert "no run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "tensorboard" in capsys.readouterr().out
