"""Bringing things in from outside: an uploaded IMDB archive, a data job (a run of kind "data"), an imported run."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest
import torch

from rnnlab.core.config import DataJobConfig
from rnnlab.core.data import imdb as data
from rnnlab.core.jobs import lifecycle, queue
from rnnlab.core.jobs.imports import import_run
from rnnlab.core.jobs.process import ProcessId, start_time
from rnnlab.core.jobs.store import Run, RunStore
from rnnlab.core.models.checkpoint import CheckpointError
from rnnlab.core.paths import data_dir


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


# -- data jobs: runs of kind "data", one at a time in the "data" lane ------------------------------------------
def wait_for(predicate, timeout: float = 60.0, what=lambda: "a condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what()}")


def ended(run: Run, timeout: float = 120.0) -> dict:
    """The run's status once it has ended (finished, failed, cancelled or crashed)."""
    log = run.file("job.log")
    wait_for(lambda: run.status()["state"] not in ("queued", "running"), timeout,
             lambda: f"run {run.id} to end ({run.status()}); its log: {log.read_text() if log.exists() else ''}")
    return run.status()


def test_an_install_job_runs_in_its_own_process_and_records_where_it_installed(rnnlab_home, tiny_imdb_archive):
    store = RunStore(rnnlab_home / "runs")
    cfg = DataJobConfig(action="install", archive=str(tiny_imdb_archive))
    run = lifecycle.submit("data", cfg, store, label="data-install", lane="data")
    assert run.kind == "data" and run.job_config() == cfg
    assert run.process() is not None and run.process().pid != os.getpid()  # launched, not run here
    st = ended(run)
    assert st["state"] == "finished", (st, run.file("job.log").read_text())
    assert run.read_json("data.json") == {"action": "install", "path": str(data.default_archive_path())}
    assert data.dataset_status()["found"]
    assert tiny_imdb_archive.exists()  # copied: the user's own file is left where it was
    assert "installed to" in run.file("job.log").read_text()


def test_a_second_data_job_waits_for_the_running_one_and_a_dead_one_does_not_block_it(rnnlab_home,
                                                                                      tiny_imdb_archive):
    store = RunStore(rnnlab_home / "runs")
    sleeper = subprocess.Popen(["sleep", "120"], start_new_session=True)  # stands in for a running download
    try:
        wait_for(lambda: start_time(sleeper.pid), what=lambda: "the sleeper to start")
        download = store.create(DataJobConfig(action="download"), kind="data")
        queue.enter(store, download, "data")
        lifecycle.claim(download, ProcessId.of(sleeper.pid))
        download.update_status(state="running")
        install = store.create(DataJobConfig(action="install", archive=str(tiny_imdb_archive)), kind="data")
        job = threading.Thread(target=lifecycle.run_job, args=(install, store), kwargs={"lane": "data"})
        job.start()
        wait_for(lambda: (install.status().get("progress") or {}).get("ahead") == 1,
                 what=lambda: f"the install to queue ({install.status()})")
        time.sleep(0.5)
        assert install.status()["state"] == "queued" and not data.default_archive_path().exists()
        sleeper.kill()
        sleeper.wait()
        # its process is gone: the download reads as crashed and its place in the lane is given up
        assert download.status()["state"] == "crashed"
        job.join(timeout=60)
        assert not job.is_alive() and install.status()["state"] == "finished"
        assert data.dataset_status()["found"]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_failing_install_job_is_recorded_failed_with_its_error(rnnlab_home, tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not an archive at all")
    store = RunStore(rnnlab_home / "runs")
    with pytest.raises(data.NotAnArchive):
        lifecycle.run_now("data", DataJobConfig(action="install", archive=str(bogus)), store)
    [run] = store.list()
    st = run.status()
    assert st["state"] == "failed" and "gzip" in st["error"] and "Traceback" in run.file("error.log").read_text()
    assert not run.file("data.json").exists() and not data.default_archive_path().exists()
    assert bogus.exists()  # not a staged upload: never removed


@pytest.mark.parametrize("upload", ["valid", "not an archive"])
def test_a_staged_upload_is_removed_whether_its_install_succeeds_or_fails(rnnlab_home, tiny_imdb_archive, upload):
    raw = tiny_imdb_archive.read_bytes() if upload == "valid" else b"not an archive at all"
    data_dir().mkdir(parents=True, exist_ok=True)
    staged = data_dir() / ".upload-0123abcd.tar.gz"
    staged.write_bytes(raw)
    store = RunStore(rnnlab_home / "runs")
    cfg = DataJobConfig(action="install", archive=str(staged), move=True)
    if upload == "valid":
        run = lifecycle.run_now("data", cfg, store)
        assert run.status()["state"] == "finished" and data.default_archive_path().read_bytes() == raw
    else:
        with pytest.raises(data.NotAnArchive):
            lifecycle.run_now("data", cfg, store)
        assert store.list()[0].status()["state"] == "failed" and not data.default_archive_path().exists()
    assert not staged.exists()
    assert not [p for p in data_dir().iterdir() if p.name.startswith(".upload-") or p.name.endswith(".tmp")]


@pytest.mark.parametrize("via", ["run_now", "cli"])
@pytest.mark.parametrize("outcome", ["finished", "failed"])
def test_the_download_job_reports_its_bytes_in_the_runs_status(rnnlab_home, tmp_path, monkeypatch, capsys, outcome,
                                                               via):
    store = RunStore(rnnlab_home / "runs")
    seen = []

    def fake_download(progress=None, **_):  # tests never reach the network
        [run] = store.list()
        for done in (0, 50, 100):
            progress(done, 100)
            st = run.status()
            seen.append((st["state"], st["progress"]))
        if outcome == "failed":
            raise data.DownloadError("download broke off after 100 bytes")
        return tmp_path / "aclImdb_v1.tar.gz"

    monkeypatch.setattr(data, "download_imdb", fake_download)
    if via == "cli":
        from rnnlab.core.__main__ import main

        code = main(["data", "download"])
        out, err = capsys.readouterr()
        assert code == (0 if outcome == "finished" else 1)
        if outcome == "finished":
            assert out.strip() == str(tmp_path / "aclImdb_v1.tar.gz")
        else:
            assert "broke off" in err and "Traceback" not in err
    elif outcome == "finished":
        lifecycle.run_now("data", DataJobConfig(action="download"), store)
    else:
        with pytest.raises(data.DownloadError):
            lifecycle.run_now("data", DataJobConfig(action="download"), store)
    [run] = store.list()
    assert run.kind == "data" and run.job_config() == DataJobConfig(action="download")
    assert seen == [("running", {"phase": "downloading", "done": d, "total": 100}) for d in (0, 50, 100)]
    st = run.status()
    assert st["state"] == outcome
    if outcome == "finished":
        assert run.read_json("data.json") == {"action": "download", "path": str(tmp_path / "aclImdb_v1.tar.gz")}
    else:
        assert "broke off" in st["error"] and not run.file("data.json").exists()


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
    from rnnlab.core.analysis.predict import predict_runs

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
