"""Faults at the command line: out-of-bounds settings, wrong ids, impossible requests. One test per case.

Each must end in one clear line naming what was wrong (exit status 1, or argparse's 2 for a flag it
cannot parse), without a traceback, and create, change or delete nothing.
"""

from __future__ import annotations

import pytest

from rnnlab.core.__main__ import main
from rnnlab.core.config import HorizonConfig, preset
from rnnlab.core.jobs.lifecycle import claim
from rnnlab.core.jobs.store import RunStore


@pytest.fixture
def store(rnnlab_home):
    return RunStore(rnnlab_home / "runs")


def fails(capsys, *argv: str, code: int = 1) -> str:
    """Run the CLI in this process; assert it failed cleanly and return what it said."""
    try:
        got = main(list(argv))
    except SystemExit as e:  # argparse refuses a flag it cannot parse
        got = e.code
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err and err.strip()
    return err


def nothing_created(store: RunStore) -> bool:
    return store.list() == []


def test_a_hidden_size_beyond_the_bound_is_refused_before_any_run_exists(capsys, store):
    err = fails(capsys, "train", "--hidden-size", "8000", "--epochs", "1")
    assert "ModelConfig.hidden_size = 8000" in err and "4096" in err and nothing_created(store)


def test_a_hundred_thousand_layers_are_refused_at_once(capsys, store):
    err = fails(capsys, "train", "--num-layers", "100000")
    assert "num_layers" in err and nothing_created(store)


def test_a_dropout_of_five_is_refused(capsys, store):
    err = fails(capsys, "train", "--dropout", "5")
    assert "dropout" in err and nothing_created(store)


def test_zero_epochs_are_refused(capsys, store):
    assert "epochs" in fails(capsys, "train", "--epochs", "0") and nothing_created(store)


def test_a_negative_learning_rate_is_refused(capsys, store):
    assert "lr" in fails(capsys, "train", "--lr", "-1") and nothing_created(store)


def test_a_billion_token_max_len_is_refused(capsys, store):
    assert "max_len" in fails(capsys, "train", "--max-len", str(10**9)) and nothing_created(store)


def test_a_batch_of_zero_is_refused(capsys, store):
    assert "batch_size" in fails(capsys, "train", "--batch-size", "0") and nothing_created(store)


def test_a_limit_of_zero_reviews_is_refused(capsys, store):
    assert "limit" in fails(capsys, "train", "--limit", "0") and nothing_created(store)


def test_an_unknown_device_is_refused(capsys, store):
    assert "device" in fails(capsys, "train", "--device", "tpu") and nothing_created(store)


def test_an_unknown_cell_type_is_refused_by_the_parser(capsys, store):
    assert "invalid choice" in fails(capsys, "train", "--model", "transformer", code=2) and nothing_created(store)


def test_a_word_where_a_number_belongs_is_refused_by_the_parser(capsys, store):
    assert "invalid" in fails(capsys, "train", "--hidden-size", "fifty", code=2) and nothing_created(store)


def test_an_hmm_with_no_states_is_refused(capsys, store):
    assert "HMMConfig.states" in fails(capsys, "hmm", "--states", "0") and nothing_created(store)


def test_word2vec_vectors_of_a_hundred_thousand_dimensions_are_refused(capsys, store):
    assert "dim" in fails(capsys, "embeddings", "train", "--dim", "100000") and nothing_created(store)


def test_a_memory_horizon_of_length_one_is_refused(capsys, store):
    assert "lengths" in fails(capsys, "memory-horizon", "--lengths", "1") and nothing_created(store)


def test_a_negative_experiment_seed_is_refused(capsys, store):
    assert "seeds" in fails(capsys, "experiment", "seed", "--seeds", "-1") and nothing_created(store)


def test_deleting_a_path_outside_the_store_is_refused(capsys, store, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    assert "invalid run id" in fails(capsys, "runs", "--delete", "../precious")
    assert (outside / "config.json").is_file()


def test_deleting_a_running_run_is_refused_and_keeps_it(capsys, store):
    run = store.create(HorizonConfig())
    claim(run)  # owned by this live process
    run.update_status(state="running")
    assert "cancel it before deleting" in fails(capsys, "runs", "--delete", run.id)
    assert run.path.is_dir()


def test_deleting_by_a_prefix_without_asking_for_prefixes_deletes_nothing(capsys, store):
    run = store.create(HorizonConfig())
    run.update_status(state="finished")
    assert "no run" in fails(capsys, "runs", "--delete", run.id[:2])
    assert run.path.is_dir()


def test_a_prefix_that_matches_two_runs_deletes_neither(capsys, store):
    a, b = store.create(HorizonConfig()), store.create(HorizonConfig())
    for r in (a, b):
        r.update_status(state="finished")
    assert "starts 2 run ids" in fails(capsys, "runs", "--delete", a.id[:8], "--prefix")
    assert a.path.is_dir() and b.path.is_dir()


def test_running_the_job_of_an_unknown_run_is_refused(capsys, store):
    assert "no run" in fails(capsys, "job", "20990101-000000-000-lstm-abcdef")


def test_resuming_a_finished_run_is_refused(capsys, store):
    run = store.create(preset("fast"))
    run.update_status(state="finished")
    assert "nothing to resume" in fails(capsys, "train", "--resume", run.id)


def test_resuming_a_run_that_still_runs_is_refused(capsys, store):
    run = store.create(preset("fast"))
    claim(run)
    run.update_status(state="running")
    assert "only a crashed, failed or cancelled run" in fails(capsys, "train", "--resume", run.id)
    assert run.status()["state"] == "running"


def test_resuming_a_kind_without_checkpoints_is_refused(capsys, store):
    run = store.create(HorizonConfig())
    run.update_status(state="failed")
    assert "cannot be resumed" in fails(capsys, "train", "--resume", run.id)


def test_predicting_with_a_run_that_has_no_weights_yet_says_so(capsys, store):
    run = store.create(preset("fast"))
    assert "no trained weights" in fails(capsys, "predict", run.id, "a fine film")


def test_predicting_with_a_study_run_says_it_does_not_classify(capsys, store):
    run = store.create(HorizonConfig())
    run.update_status(state="finished")
    assert "does not classify" in fails(capsys, "predict", run.id, "a fine film")
