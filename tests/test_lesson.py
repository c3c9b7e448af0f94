"""bench/lesson.py on a fake run (no IMDB): the gradient ratios, the flags it passes, the tables it writes."""

import csv
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lesson():
    spec = importlib.util.spec_from_file_location("bench_lesson", ROOT / "bench" / "lesson.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_gradients(path: Path, decay: float = 0.5, lengths=(120, 120, 60, 30), records: int = 2) -> Path:
    """A ``gradients.npz`` as the recorder writes it: ``||dL/dh_{T-k}|| = decay**k`` up to each review's length."""
    k = np.arange(max(lengths))
    dh = np.full((records, 1, 1, len(lengths), len(k)), np.nan, dtype=np.float32)
    for b, n in enumerate(lengths):
        dh[:, 0, 0, b, :n] = decay ** k[:n]
        dh[0, 0, 0, b, :n] = 1.0  # an earlier recording with no decay: the last one is read
    kind = np.array(["init"] + ["epoch"] * (records - 1))
    np.savez(path, step=np.arange(records), epoch=np.arange(records), kind=kind,
             seconds=np.zeros(records), lengths=np.array(lengths), labels=np.zeros(len(lengths), dtype=np.int64),
             dh=dh, meta=np.array(json.dumps({"cell": "rnn"})))
    return path


def test_gradient_ratios_read_the_last_recording_per_distance(lesson, tmp_path):
    r = lesson.gradient_ratios(fake_gradients(tmp_path / "gradients.npz"))
    assert r["k10_mean"] == pytest.approx(0.5**10, rel=1e-5) and r["k10_median"] == pytest.approx(0.5**10, rel=1e-5)
    assert r["k50_median"] == pytest.approx(0.5**50, rel=1e-4)  # the two reviews longer than 50
    assert r["k100_mean"] == pytest.approx(0.5**100, rel=1e-3)
    short = lesson.gradient_ratios(fake_gradients(tmp_path / "short.npz", lengths=(40, 30)))
    assert math.isnan(short["k50_mean"]) and math.isnan(short["k100_median"])  # no review reaches k


def test_ratios_format_short_and_mark_what_no_review_reaches(lesson):
    assert lesson.fmt_ratio(0.27) == "0.27"
    assert lesson.fmt_ratio(5.8e-5) == "5.8e-05"
    assert lesson.fmt_ratio(0.0) == "0"
    assert lesson.fmt_ratio(float("nan")) == "-" and lesson.fmt_ratio("") == "-"


def test_overrides_become_the_train_commands_flags(lesson):
    sets = lesson.parse_sets(["limit=5000", "lr=0.002", "keep_negations=true", "tbptt=none", "truncate=post"])
    assert sets == {"limit": 5000, "lr": 0.002, "keep_negations": True, "tbptt": None, "truncate": "post"}
    assert lesson.cli_flags(sets) == ["--limit", "5000", "--lr", "0.002", "--keep-negations", "--tbptt", "none",
                                      "--truncate", "post"]
    assert lesson.cli_flags({"bidirectional": False}) == ["--no-bidirectional"]
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        lesson.parse_sets(["epochs"])


def test_a_run_becomes_a_row_and_the_tables_accumulate(lesson, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        cell = cmd[cmd.index("--model") + 1]
        run_id = f"run-{cell}"
        (runs / run_id).mkdir(parents=True)
        fake_gradients(runs / run_id / "gradients.npz", decay={"rnn": 0.5, "lstm": 0.9, "gru": 0.95}[cell])
        out = {"run_id": run_id, "kind": "rnn", "state": "finished",
               "test_metrics": {"accuracy": 0.75, "f1": 0.74, "n": 5000, "train_size": 5000, "train_time_s": 12.3}}
        return subprocess.CompletedProcess(cmd, 0, stdout=json.dumps(out), stderr="")

    monkeypatch.setattr(lesson.subprocess, "run", fake_run)
    said = []
    rows = lesson.run_lesson("lesson", {"epochs": 1}, [0], ["rnn", "lstm", "gru"], tag="t", runs_dir=runs,
                             say=said.append)
    assert [r["cell"] for r in rows] == ["rnn", "lstm", "gru"]
    assert all("--record-gradients" in c and "--json" in c and c[c.index("--epochs") + 1] == "1" for c in calls)
    assert rows[0]["k50_median"] < 1e-12 < rows[1]["k50_median"]  # the fake RNN's gradient vanishes
    assert any("all 3 cells" in s for s in said)

    out = tmp_path / "lesson"
    lesson.write_tables(rows, out)
    csv_path, md_path = lesson.write_tables(rows[:1], out)  # a second setting appends
    with open(csv_path, newline="") as f:
        saved = list(csv.DictReader(f))
    assert len(saved) == 4 and saved[0]["cell"] == "rnn" and float(saved[1]["accuracy"]) == 0.75
    md = md_path.read_text()
    assert md.count("| t | ") == 4 and "k = 100" in md
    assert "lesson epochs=1" in md


def test_a_failed_run_is_reported_with_its_error(lesson, tmp_path, monkeypatch):
    def fake_run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 2, stdout=json.dumps({"error": "no dataset"}), stderr="")

    monkeypatch.setattr(lesson.subprocess, "run", fake_run)
    with pytest.raises(RuntimeError, match="no dataset"):
        lesson.train_one("rnn", "lesson", {}, 0, tmp_path, None)


def test_without_the_dataset_it_skips_with_a_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RNNLAB_IMDB"}
    env["RNNLAB_HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "lesson.py"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0 and "skipped" in proc.stdout and "RNNLAB_IMDB" in proc.stdout
    assert not (tmp_path / "out").exists()
