"""Damaged run folders and hostile imports: one test per case.

Every run file is read through one validating reader (``core.jobs.files``). For each malformed
file: ``python -m core runs`` (through ``core.__main__.main``) still lists the good runs and names
the damaged one's file and reason, ``--json`` too; every reader of ``Run`` raises nothing but
``DamagedRun``; the damaged run can be deleted and the good runs' files are untouched. Imports
are checked, header against config against vocabulary, before anything is built: every mismatch
is reported at once and a config claiming a huge model beside small weights costs no memory.
The runs here are built without training (a model's initial weights saved as a finished run): milliseconds.
"""

from __future__ import annotations

import json
import os
import struct
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest

from rnnlab.core.__main__ import main
from rnnlab.core.config import preset
from rnnlab.core.data.text import Vocabulary
from rnnlab.core.jobs import lifecycle, queue
from rnnlab.core.jobs.files import DamagedRun
from rnnlab.core.jobs.imports import import_run
from rnnlab.core.jobs.store import Run, RunStore
from rnnlab.core.models.checkpoint import CheckpointError, load_model, save_weights
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.models.safetensors_header import TensorInfo, read_safetensors_header

WORDS = ["<unk>", "<pad>", "good", "bad", "film"]


# -- a store of finished runs ---------------------------------------------------------------------------------------
def finished_run(store: RunStore, cell: str = "gru", label: str | None = None) -> Run:
    """A finished text run with weights, a vocabulary, metrics and test metrics (initial weights: no training)."""
    cfg = preset("seed", cell=cell, hidden_size=4, embedding_dim=3)
    run = store.create(cfg, label=label)
    voc = Vocabulary(WORDS, [0, 0, 3, 2, 1], 6, 3)
    voc.save(run.file("vocab.json"))
    save_weights(SentimentRNN(replace(cfg.model, vocab_size=len(voc))), run.file("model.safetensors"))
    run.append_metrics([{"kind": "step", "step": 0, "epoch": 0, "loss": 0.69, "grad_norm": 1.0, "clipped": False,
                         "skipped": False, "batch_size": 4, "correct": 2},
                        {"kind": "epoch", "epoch": 0, "step": 1, "train_loss": 0.69, "val_loss": 0.7}])
    run.write_json("test_metrics.json", {"accuracy": 0.75, "f1": 0.7, "train_time_s": 1.5,
                                         "confusion_matrix": [[1, 1], [0, 2]], "roc": {"fpr": [0, 1], "tpr": [0, 1]}})
    run.write_status({"state": "finished", "process": None, "finished": time.time()})
    return run


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def good(store) -> list[Run]:
    return [finished_run(store, "lstm", "good-lstm"), finished_run(store, "rnn", "good-rnn")]


@pytest.fixture
def victim(store, good) -> Run:
    return finished_run(store, "gru", "victim")


def snapshot(runs: list[Run]) -> dict[str, bytes]:
    return {f"{r.id}/{p.name}": p.read_bytes() for r in runs for p in sorted(r.path.iterdir()) if p.is_file()}


def edit_json(run: Run, name: str, change) -> None:
    path = run.file(name)
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def readers(run: Run) -> list:
    """Every reader of a run, as a call."""
    names = ("config.json", "status.json", "test_metrics.json", "vocab.json", "results.json", "hmm.json",
             "word2vec.json", "embeddings.json", "data.json")
    return [run.config_dict, lambda: run.kind, run.job_config, run.config, run.model_config, run.vocabulary,
            run.stored_status, run.process, run.status, run.test_metrics, run.metrics, run.metrics_read, run.summary,
            *[(lambda n=n: run.read_json(n)) for n in names]]


def listing(store: RunStore, capsys, *extra: str) -> str:
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(store.root), *extra]) == 0
    return capsys.readouterr().out


def assert_damaged(store: RunStore, victim: Run, good: list[Run], capsys, file: str, why: str) -> None:
    """The CLI lists everything, the victim as damaged (file and reason); readers raise only DamagedRun; it deletes."""
    before = snapshot(good)
    out = listing(store, capsys)
    lines = out.splitlines()
    for run in good:
        assert any(run.id in line and "finished" in line for line in lines), out
    row = next(i for i, line in enumerate(lines) if line.startswith(victim.id))
    assert "damaged" in lines[row] and f"{file}: " in lines[row + 1] and why in lines[row + 1], out
    rows = {r["run_id"]: r for r in json.loads(listing(store, capsys, "--json"))}
    assert rows[victim.id]["status"] == "damaged" and rows[victim.id]["error"].startswith(f"{file}: ")
    assert all(rows[r.id]["status"] == "finished" for r in good)
    for read in readers(victim):
        try:
            read()
        except DamagedRun as e:
            assert str(e).startswith(f"run {victim.id} is damaged: ")
    capsys.readouterr()
    assert main(["runs", "--delete", victim.id, "--runs-dir", str(store.root)]) == 0
    assert f"deleted {victim.id}" in capsys.readouterr().out
    assert not victim.path.exists()
    assert {r.id for r in store.list()} == {r.id for r in good}
    assert snapshot(good) == before


def assert_only_damaged_run(read) -> DamagedRun:
    with pytest.raises(DamagedRun) as info:
        read()
    return info.value


# -- status.json ------------------------------------------------------------------------------------------------------
def test_status_holding_a_list_reads_as_damaged_and_the_others_still_list(store, good, victim, capsys):
    victim.file("status.json").write_text("[]")
    assert_damaged(store, victim, good, capsys, "status.json", "expected a JSON object, got list")


def test_status_holding_a_string_reads_as_damaged(store, good, victim, capsys):
    victim.file("status.json").write_text('"x"')
    assert_damaged(store, victim, good, capsys, "status.json", "expected a JSON object, got str")


def test_heartbeat_yesterday_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "status.json", lambda st: {**st, "heartbeat": "yesterday"})
    assert_damaged(store, victim, good, capsys, "status.json", "heartbeat: expected a number, got 'yesterday'")


def test_state_exploded_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "status.json", lambda st: {**st, "state": "exploded"})
    assert_damaged(store, victim, good, capsys, "status.json", "state: expected one of")


def test_process_with_pid_abc_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "status.json", lambda st: {**st, "process": {"pid": "abc", "start": 1.0, "host": "h"}})
    assert_damaged(store, victim, good, capsys, "status.json", "process: pid: expected an integer")


def test_progress_holding_a_list_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "status.json", lambda st: {**st, "progress": ["epoch", 3]})
    assert_damaged(store, victim, good, capsys, "status.json", "progress: expected a JSON object")


def test_status_with_invalid_utf8_reads_as_damaged(store, good, victim, capsys):
    victim.file("status.json").write_bytes(b'{"state": "fini\xffshed"}')
    assert_damaged(store, victim, good, capsys, "status.json", "not UTF-8 text")


def test_a_huge_sparse_status_is_refused_by_its_size_without_being_read(store, good, victim, capsys):
    with open(victim.file("status.json"), "wb") as f:
        f.truncate(2 * 2**30)  # 2 GB of holes: costs no disk, and must cost no memory either
    tracemalloc.start()
    try:
        err = assert_only_damaged_run(victim.status)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "more than the" in err.reason and peak < 5 * 2**20
    assert_damaged(store, victim, good, capsys, "status.json", "2,147,483,648 bytes")


def test_a_damaged_status_never_sends_a_signal_to_the_pid_it_names(store, good, victim, capsys):
    edit_json(victim, "status.json", lambda st: {**st, "state": "exploded",
                                                "process": {"pid": os.getpid(), "start": None, "host": "x"}})
    assert victim.process() is None  # nothing trusted from a damaged status
    assert lifecycle.cancel(victim, force=True) is False
    assert_damaged(store, victim, good, capsys, "status.json", "state: expected one of")


def test_a_damaged_status_does_not_crash_the_heartbeat_and_the_next_write_repairs_it(store, victim):
    victim.file("status.json").write_text('"x"')
    ctx = lifecycle.JobContext(victim, store)
    ctx.update()  # a heartbeat
    ctx.progress(phase="training", epoch=0)
    with pytest.raises(DamagedRun, match="missing state"):  # still no state: it reads as damaged, never invented
        victim.status()
    ctx.update(state="running", process=None)
    assert victim.status()["state"] == "running" and isinstance(victim.status()["heartbeat"], float)


def test_a_damaged_status_in_a_lane_does_not_stop_the_queue(store, victim):
    victim.file("status.json").write_text("[]")
    queue.enter(store, victim, "train")
    assert queue.head(store, "train") is None  # its ticket is swept like a dead run's, no exception


# -- config.json ------------------------------------------------------------------------------------------------------
def test_config_holding_a_list_reads_as_damaged(store, good, victim, capsys):
    victim.file("config.json").write_text("[]")
    assert_damaged(store, victim, good, capsys, "config.json", "expected a JSON object, got list")


def test_config_of_an_unknown_kind_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "config.json", lambda c: {**c, "kind": "bitcoin-miner"})
    assert_damaged(store, victim, good, capsys, "config.json", "kind: expected one of")


def test_config_with_hidden_size_8000_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "config.json", lambda c: {**c, "model": {**c["model"], "hidden_size": 8000}})
    assert_damaged(store, victim, good, capsys, "config.json", "ModelConfig.hidden_size = 8000")


def test_config_with_dropout_5_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "config.json", lambda c: {**c, "model": {**c["model"], "dropout": 5}})
    assert_damaged(store, victim, good, capsys, "config.json", "ModelConfig.dropout = 5")


def test_config_with_100000_layers_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "config.json", lambda c: {**c, "model": {**c["model"], "num_layers": 100000}})
    assert_damaged(store, victim, good, capsys, "config.json", "ModelConfig.num_layers = 100000")


def test_config_missing_its_sections_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "config.json", lambda c: {k: c[k] for k in ("kind", "label", "created")})
    assert_damaged(store, victim, good, capsys, "config.json", "data: missing")


def test_config_with_several_bad_fields_names_them_all(store, good, victim, capsys):
    edit_json(victim, "config.json", lambda c: {**c, "model": {**c["model"], "dropout": 5, "cell": "transformer"},
                                                "train": {**c["train"], "lr": "fast"}})
    err = assert_only_damaged_run(victim.config)
    assert all(f in err.reason for f in ("dropout", "cell", "lr"))
    assert_damaged(store, victim, good, capsys, "config.json", "ModelConfig.cell")


def test_config_nested_a_million_deep_reads_as_damaged(store, good, victim, capsys):
    victim.file("config.json").write_text("[" * 500_000 + "]" * 500_000)
    assert_damaged(store, victim, good, capsys, "config.json", "nested too deeply")


def test_a_job_whose_config_is_damaged_fails_with_the_damage_named(store, victim):
    edit_json(victim, "config.json", lambda c: {**c, "model": {**c["model"], "dropout": 5}})
    victim.write_status({"state": "queued", "process": None})
    with pytest.raises(DamagedRun):
        lifecycle.run_job(victim, store, heartbeat_s=60)
    st = victim.status()
    assert st["state"] == "failed" and "is damaged: config.json: ModelConfig.dropout = 5" in st["error"]


# -- test_metrics.json ------------------------------------------------------------------------------------------------
def test_test_metrics_holding_a_list_reads_as_damaged(store, good, victim, capsys):
    victim.file("test_metrics.json").write_text("[]")
    assert_damaged(store, victim, good, capsys, "test_metrics.json", "expected a JSON object, got list")


def test_test_metrics_holding_strings_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "test_metrics.json", lambda tm: {**tm, "accuracy": "very high"})
    assert_damaged(store, victim, good, capsys, "test_metrics.json", "accuracy: expected a number")


def test_test_metrics_with_a_3x3_confusion_matrix_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "test_metrics.json", lambda tm: {**tm, "confusion_matrix": [[1, 2, 3]] * 3})
    assert_damaged(store, victim, good, capsys, "test_metrics.json", "confusion_matrix: expected [[tn, fp]")


# -- metrics.jsonl: a log, whose bad lines are skipped and counted ----------------------------------------------------
def assert_one_line_skipped(store: RunStore, victim: Run, capsys, why: str) -> None:
    read = victim.metrics_read()
    assert read.skipped == 1 and why in read.reasons[0]
    assert [r["kind"] for r in read.records] == ["step", "epoch", "step"]  # the good lines, before and after
    out = listing(store, capsys)
    assert next(line for line in out.splitlines() if line.startswith(victim.id)).split()[3] == "finished"


def append_bad_line(run: Run, line: bytes) -> None:
    with open(run.file("metrics.jsonl"), "ab") as f:
        f.write(line + b"\n" + json.dumps({"kind": "step", "step": 1, "epoch": 0, "loss": 0.6}).encode() + b"\n")


def test_metrics_line_42_is_skipped_and_counted(store, victim, capsys):
    append_bad_line(victim, b"42")
    assert_one_line_skipped(store, victim, capsys, "expected a JSON object")


def test_metrics_line_with_invalid_utf8_is_skipped_and_counted(store, victim, capsys):
    append_bad_line(victim, b'{"kind": "step", "step": 1, "reason": "\xff\xfe"}')
    assert_one_line_skipped(store, victim, capsys, "not UTF-8")


def test_metrics_line_with_a_mistyped_field_is_skipped_and_counted(store, victim, capsys):
    append_bad_line(victim, b'{"kind": "step", "step": "one", "loss": 0.5}')
    assert_one_line_skipped(store, victim, capsys, "step: expected an integer")


def test_a_50_mb_metrics_line_is_skipped_without_holding_it(store, victim, capsys):
    append_bad_line(victim, b'{"kind": "step", "reason": "' + b"x" * (50 * 2**20) + b'"}')
    tracemalloc.start()
    try:
        read = victim.metrics_read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak
    assert read.skipped == 1 and "longer than" in read.reasons[0]
    assert_one_line_skipped(store, victim, capsys, "longer than")
    assert victim.cut_metrics(0) == 1 and victim.metrics_read().skipped == 0  # a resume drops it


# -- vocab.json and model.safetensors ---------------------------------------------------------------------------------
def test_vocab_with_lists_where_words_belong_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "vocab.json", lambda v: {**v, "itos": ["<unk>", "<pad>", ["good"], "bad", "film"]})
    assert_damaged(store, victim, good, capsys, "vocab.json", "itos: item 2: expected a string")


def test_vocab_longer_than_the_embedding_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "vocab.json", lambda v: {**v, "itos": v["itos"] + ["extra"], "counts": v["counts"] + [1]})
    assert_damaged(store, victim, good, capsys, "vocab.json", "6 entries, but the embedding in model.safetensors "
                                                              "has 5 rows")


def test_vocab_with_counts_of_another_length_reads_as_damaged(store, good, victim, capsys):
    edit_json(victim, "vocab.json", lambda v: {**v, "counts": [0, 0]})
    assert_damaged(store, victim, good, capsys, "vocab.json", "5 words but 2 counts")


def test_a_truncated_model_reads_as_damaged(store, good, victim, capsys):
    data = victim.file("model.safetensors").read_bytes()
    victim.file("model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(replace(victim.config().model, vocab_size=len(WORDS)), victim.file("model.safetensors"))
    assert_damaged(store, victim, good, capsys, "model.safetensors", "truncated")


def test_a_config_edited_to_hidden_4096_beside_small_weights_is_refused_before_a_model_is_built(store, victim):
    edit_json(victim, "config.json", lambda c: {**c, "model": {**c["model"], "hidden_size": 4096}})
    cfg = victim.model_config()  # valid on its own: within every bound, and the vocabulary fits the embedding
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as info:
            load_model(cfg, victim.file("model.safetensors"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, peak  # the model it describes would take ~200 MB
    assert "rnn.weight_hh_l0: the weights have (12, 4), the config expects (12288, 4096)" in str(info.value)
    assert "fc.weight" in str(info.value)  # every mismatch, not just the first


# -- the other JSON files, read where they are used -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["results.json", "hmm.json", "data.json"])
def test_a_result_file_holding_a_list_is_damaged_where_it_is_read(victim, name):
    victim.file(name).write_text("[]")
    err = assert_only_damaged_run(lambda: victim.read_json(name))
    assert err.file == name and "expected a JSON object" in err.reason


def test_word2vec_info_holding_strings_is_damaged_where_it_is_read(victim):
    victim.write_json("word2vec.json", {"vocab_size": "many", "train_time_s": 1.0})
    err = assert_only_damaged_run(lambda: victim.read_json("word2vec.json"))
    assert err.reason == "vocab_size: expected an integer, got 'many'"


def test_horizon_rows_of_a_damaged_results_file_are_none(victim):
    from rnnlab.core.analysis.horizon import horizon_rows

    victim.write_json("results.json", {"settings": {}, "rows": [{"model": "rnn", "seq_len": "long"}]})
    assert horizon_rows(victim) == []


def test_read_json_refuses_a_path_out_of_the_run(victim):
    with pytest.raises(ValueError, match="not a file name"):
        victim.read_json("../../etc/passwd")


# -- imports: everything checked before anything is built -------------------------------------------------------------
@pytest.fixture
def upload(tmp_path) -> dict[str, bytes]:
    """The three files of a small run trained elsewhere."""
    run = finished_run(RunStore(tmp_path / "elsewhere"), "lstm")
    return {n: run.file(n).read_bytes() for n in ("config.json", "model.safetensors", "vocab.json")}


def with_model(upload: dict[str, bytes], **fields) -> bytes:
    body = json.loads(upload["config.json"])
    return json.dumps({**body, "model": {**body["model"], **fields}}).encode()


def refused(tmp_path, config: bytes, weights: bytes, vocab: bytes) -> str:
    store = RunStore(tmp_path / "home" / "runs")
    with pytest.raises(CheckpointError) as info:
        import_run(store, config, weights, vocab)
    assert store.list() == [] and not list((tmp_path / "home").glob(".import-*"))
    return str(info.value)


def test_importing_a_config_with_hidden_size_8000_is_refused(tmp_path, upload):
    msg = refused(tmp_path, with_model(upload, hidden_size=8000), upload["model.safetensors"], upload["vocab.json"])
    assert "ModelConfig.hidden_size = 8000: expected an int in [1, 4096]" in msg


def test_importing_a_config_with_100000_layers_is_refused_at_once(tmp_path, upload):
    t0 = time.perf_counter()
    msg = refused(tmp_path, with_model(upload, num_layers=100000), upload["model.safetensors"], upload["vocab.json"])
    assert "ModelConfig.num_layers = 100000" in msg and time.perf_counter() - t0 < 2


def test_importing_a_config_with_dropout_5_is_refused(tmp_path, upload):
    msg = refused(tmp_path, with_model(upload, dropout=5), upload["model.safetensors"], upload["vocab.json"])
    assert "ModelConfig.dropout = 5" in msg


def test_importing_a_vocabulary_longer_than_the_embedding_is_refused(tmp_path, upload):
    voc = json.loads(upload["vocab.json"])
    vocab = json.dumps({**voc, "itos": voc["itos"] + ["extra"], "counts": voc["counts"] + [1]}).encode()
    msg = refused(tmp_path, upload["config.json"], upload["model.safetensors"], vocab)
    assert "vocab.json has 6 entries, but the embedding in model.safetensors has 5 rows" in msg


def test_importing_reports_every_mismatch_at_once(tmp_path, upload):
    voc = json.loads(upload["vocab.json"])
    vocab = json.dumps({**voc, "itos": ["<unk>", "<pad>", ["x"]], "counts": [0, 0, 1]}).encode()
    weights = upload["model.safetensors"][:-10]
    msg = refused(tmp_path, with_model(upload, hidden_size=8000, dropout=5), weights, vocab)
    for part in ("hidden_size = 8000", "dropout = 5", "vocab.json is not an RNN Lab vocabulary",
                 "model.safetensors is not a valid safetensors file: truncated"):
        assert part in msg, msg


def test_importing_weights_of_another_shape_lists_every_tensor_that_differs(tmp_path, upload):
    msg = refused(tmp_path, with_model(upload, hidden_size=16, embedding_dim=5), upload["model.safetensors"],
                  upload["vocab.json"])
    for name in ("embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "fc.weight"):
        assert f"tensor {name}:" in msg, msg


def test_importing_a_config_claiming_hidden_4096_with_tiny_weights_allocates_little(tmp_path, upload):
    config = with_model(upload, hidden_size=4096)
    tracemalloc.start()
    try:
        msg = refused(tmp_path, config, upload["model.safetensors"], upload["vocab.json"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, peak
    assert "the config expects (16384, 4096)" in msg


def test_importing_weights_whose_header_claims_a_gigabyte_is_refused(tmp_path, upload):
    weights = struct.pack("<Q", 2**30) + b"{" + b" " * 100
    msg = refused(tmp_path, upload["config.json"], weights, upload["vocab.json"])
    assert "its header claims 1,073,741,824 bytes" in msg


def test_a_safetensors_header_is_read_without_the_tensor_data(tmp_path, upload):
    path = Path(tmp_path / "w.safetensors")
    path.write_bytes(upload["model.safetensors"])
    header = read_safetensors_header(path)
    assert header["embedding.weight"] == TensorInfo("F32", (5, 3))
