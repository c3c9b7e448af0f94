"""Bringing things in from outside: an uploaded IMDB archive, a background data job, an imported run."""

from __future__ import annotations

import fcntl
import io
import json
import pickle
import tarfile
import time
from pathlib import Path

import pytest
import torch

from core.data import imdb as data
from core.jobs import lifecycle as jobs
from core.jobs.store import RunStore
from core.models.checkpoint import CheckpointError, import_run


# -- install_archive ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("as_", ["bytes", "file", "path", "moved path"])
def test_a_valid_archive_is_installed_into_the_cache_and_parsed_on_the_way(rnnlab_home, tiny_imdb_archive, as_):
    raw = tiny_imdb_archive.read_bytes()
    source = {"bytes": raw, "file": io.BytesIO(raw), "path": str(tiny_imdb_archive),
              "moved path": str(tiny_imdb_archive)}[as_]
    phases = []
    target = data.install_archive(source, move=as_ == "moved path", progress=phases.append)
    assert target == data.default_archive_path() and target.read_bytes() == raw
    assert phases == ["copying", "validating"]
    assert tiny_imdb_archive.exists() == (as_ != "moved path")
    status = data.dataset_status()
    assert status["found"] and status["cached"] and status["counts"]["train"] == {"neg": 3, "pos": 3}
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def bad_archive(case: str, tmp_path: Path, make_imdb_archive, imdb_reviews) -> bytes:
    if case == "not gzip":
        return b"PK\x03\x04 a zip file"
    if case == "truncated":
        good = make_imdb_archive(tmp_path / "good.tar.gz").read_bytes()
        return good[: len(good) // 2]
    if case == "no test reviews":
        reviews = {k: v for k, v in imdb_reviews().items() if not k.startswith("test/")}
        return make_imdb_archive(tmp_path / "no_test.tar.gz", reviews).read_bytes()
    evil = tarfile.TarInfo("../escape.txt")
    evil.size = 1
    return make_imdb_archive(tmp_path / "unsafe.tar.gz", extra=[(evil, b"x")]).read_bytes()


@pytest.mark.parametrize("case, error", [("not gzip", data.NotAnArchive), ("truncated", data.CorruptArchive),
                                         ("no test reviews", data.BadLayout), ("unsafe member", data.UnsafeArchive)])
def test_a_bad_upload_never_replaces_the_installed_archive(rnnlab_home, tmp_path, make_imdb_archive, imdb_reviews,
                                                           tiny_imdb_archive, case, error):
    installed = data.install_archive(tiny_imdb_archive.read_bytes())
    before = installed.read_bytes()
    with pytest.raises(error) as e:
        data.install_archive(bad_archive(case, tmp_path, make_imdb_archive, imdb_reviews))
    assert installed.read_bytes() == before
    assert ".tmp" not in str(e.value)  # the message names the upload, not a temporary file
    assert not [p for p in installed.parent.iterdir() if p.name.endswith(".tmp")]


# -- background data jobs --------------------------------------------------------------------------------------
def wait_for(progress_file: Path, states=("finished", "failed", "crashed"), timeout: float = 60.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = jobs.read_progress(progress_file)
        if st and st.get("state") in states:
            return st
        time.sleep(0.2)
    raise AssertionError(f"data job still {jobs.read_progress(progress_file)} after {timeout}s")


def test_an_install_job_runs_in_the_background_and_reports_through_its_progress_file(rnnlab_home, tiny_imdb_archive):
    pf = rnnlab_home / "data" / "acquire.json"
    started = jobs.launch_data_job("install", pf, tiny_imdb_archive)
    assert started["state"] == "starting" and started["pid"]
    st = wait_for(pf)
    assert st["state"] == "finished", st
    assert st["action"] == "install" and Path(st["path"]) == data.default_archive_path()
    assert data.dataset_status()["found"]


def test_a_second_data_job_is_not_started_while_one_runs(rnnlab_home, tmp_path):
    pf = rnnlab_home / "data" / "acquire.json"
    pf.parent.mkdir(parents=True, exist_ok=True)
    lock = open(f"{pf}.lock", "a")  # what a running job holds (flock is per open file, so this acts as another process)
    pf.write_text(json.dumps({"action": "download", "state": "running", "done": 10, "total": 100,
                              "heartbeat": time.time()}))
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        again = jobs.launch_data_job("install", pf, tmp_path / "x.tar.gz")
        assert again["action"] == "download" and again["state"] == "running"
        assert jobs.read_progress(pf)["state"] == "running"
    finally:
        lock.close()
    # the lock is gone but the file still says running: the job died
    assert jobs.read_progress(pf)["state"] == "crashed"


def test_a_failing_install_job_reports_its_error(rnnlab_home, tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not an archive at all")
    pf = rnnlab_home / "data" / "acquire.json"
    jobs.launch_data_job("install", pf, bogus)
    st = wait_for(pf)
    assert st["state"] == "failed" and "gzip" in st["error"]


@pytest.mark.parametrize("outcome", ["finished", "failed"])
def test_the_cli_download_keeps_its_progress_file_up_to_date(rnnlab_home, tmp_path, monkeypatch, outcome):
    from core.__main__ import main

    pf = tmp_path / "dl.json"
    seen = []

    def fake_download(progress=None, **_):  # tests never reach the network
        for done in (0, 50, 100):
            progress(done, 100)
            seen.append(json.loads(pf.read_text())["state"])
        if outcome == "failed":
            raise data.DownloadError("download broke off after 100 bytes")
        return tmp_path / "aclImdb_v1.tar.gz"

    monkeypatch.setattr(data, "download_imdb", fake_download)
    code = main(["data", "download", "--progress-file", str(pf)])
    st = json.loads(pf.read_text())
    assert seen == ["running"] * 3 and st["action"] == "download" and st["state"] == outcome
    if outcome == "finished":
        assert code == 0 and st["path"].endswith("aclImdb_v1.tar.gz")
    else:
        assert code == 1 and "broke off" in st["error"]


# -- import_run ----------------------------------------------------------------------------------------------
@pytest.fixture
def trained(trained_home):
    """config.json, model.safetensors and vocab.json of a tiny trained LSTM."""
    run = RunStore(trained_home.home / "runs").get(trained_home.run_ids["lstm"])
    return {n: run.file(n).read_bytes() for n in ("config.json", "model.safetensors", "vocab.json")}


def test_an_imported_run_is_validated_listed_as_finished_and_classifies(rnnlab_home, trained):
    store = RunStore(rnnlab_home / "runs")
    run = import_run(store, trained["config.json"], trained["model.safetensors"], trained["vocab.json"],
                     label="from-colab")
    assert [r.id for r in store.list()] == [run.id] and "from-colab" in run.id
    st = run.status()
    assert st["state"] == "finished" and st["imported"]
    from core.analysis.predict import predict_runs

    [pred] = predict_runs([run.id], "a pos film", runs_dir=store.root)
    assert 0 <= pred["probability"] <= 1
    assert not list(rnnlab_home.glob(".import-*"))


def pickled(state) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def without_a_tensor(weights: bytes) -> bytes:
    from safetensors.torch import load, save

    state = load(weights)
    state.pop(next(k for k in state if "weight_hh" in k))
    return save(state)


@pytest.mark.parametrize("case, message", [
    ("pickled weights", "pickle"),
    ("weights missing a tensor", "does not match the config"),
    ("vocabulary of another size", "config expects"),
    ("unknown config field", "unknown"),
    ("synthetic task", "only text"),
    ("not json", "not valid JSON"),
    ("not a vocabulary", "vocabulary"),
])
def test_an_import_that_does_not_fit_is_refused_and_leaves_nothing(rnnlab_home, trained, case, message):
    cfg, weights, vocab = trained["config.json"], trained["model.safetensors"], trained["vocab.json"]
    body, voc = json.loads(cfg), json.loads(vocab)
    if case == "pickled weights":
        weights = pickled({"x": torch.zeros(1)})
        assert weights[:2] == b"PK" or weights[:1] == pickle.PROTO
    elif case == "weights missing a tensor":
        weights = without_a_tensor(weights)
    elif case == "vocabulary of another size":
        vocab = json.dumps({**voc, "itos": voc["itos"] + ["extra"], "counts": voc["counts"] + [1]})
    elif case == "unknown config field":
        cfg = json.dumps({**body, "model": {**body["model"], "hiden_size": 8}})
    elif case == "synthetic task":
        cfg = json.dumps({**body, "train": {**body["train"], "task": "adding"}})
    elif case == "not json":
        cfg = b"\x80\x04 not json"
    elif case == "not a vocabulary":
        vocab = json.dumps({"itos": ["a"]})
    store = RunStore(rnnlab_home / "runs")
    with pytest.raises(CheckpointError, match=message):
        import_run(store, cfg, weights, vocab)
    assert store.list() == [] and not list(rnnlab_home.glob(".import-*"))
