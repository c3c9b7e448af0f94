"""Live classification with several runs at once: edge cases, truncation, the HMM run, the CLI, bad checkpoints."""

from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
import pytest
import torch
from fixtures_runs import nltk_data
from test_hmm import build_hmm_home

from rnnlab.core.analysis.predict import MAX_TEXT_CHARS, encode_text, load_run, predict_runs
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.models.checkpoint import CheckpointError

MAX_LEN = 40  # the tiny runs' max_len (tests/fixtures_runs.py)


@pytest.fixture(scope="module")
def hmm_home(tmp_path_factory):
    return build_hmm_home(tmp_path_factory.mktemp("predict-hmm"))


@pytest.fixture(autouse=True)
def _stop_words(monkeypatch):
    if nltk_data():
        monkeypatch.setenv("NLTK_DATA", nltk_data())


def _rnn_ids(trained_home) -> list[str]:
    return [trained_home.run_ids[c] for c in ("rnn", "lstm", "gru")]


EDGE_CASES = {
    "empty": ("", "no tokens left"),
    "stop words only": ("the and of it was is", "no tokens left"),
    "unknown words only": ("zorblax quuxify flimflam", "every token is unknown"),
    "html": ("<b>A pos film</b><br /><br /><i>train</i>", None),
    "emoji": ("😀🎬 pos film 👍👍", None),
    "non-english": ("Это был ужасный фильм, 本当に最悪", "every token is unknown"),
    "too long": (" ".join(["pos film"] * 60), "longer than the model's limit"),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_every_edge_case_gets_an_answer_from_every_run(trained_home, hmm_home, case):
    text, note = EDGE_CASES[case]
    results = predict_runs(_rnn_ids(trained_home), text, runs_dir=trained_home.home / "runs")
    assert [r["run_id"] for r in results] == _rnn_ids(trained_home)
    results += predict_runs([hmm_home.hmm_id], text, runs_dir=hmm_home.home / "runs")
    for r in results:
        assert 0.0 <= r["probability"] <= 1.0 and math.isfinite(r["logit"])
        assert r["label"] == ("positive" if r["probability"] >= 0.5 else "negative")
        assert r["n_tokens"] == len(r["tokens"]) == len(r["unknown"]) <= MAX_LEN
        if note:
            assert any(note in n for n in r["notes"]), r["notes"]
        else:
            assert not r["notes"] and "pos" in r["tokens"]
        assert "<" not in "".join(r["tokens"]) and "😀" not in "".join(r["tokens"])


def test_a_long_text_is_cut_the_way_the_run_was_trained(trained_home):
    text = "film " * 10 + "pos " * 50 + "review"  # 61 tokens; the runs keep the last 40 ("pre")
    [r] = predict_runs([trained_home.run_ids["lstm"]], text, runs_dir=trained_home.home / "runs")
    assert r["truncated"] and r["n_raw_tokens"] == 61 and r["n_tokens"] == MAX_LEN
    assert r["tokens"] == ["pos"] * 39 + ["review"]
    [short] = predict_runs([trained_home.run_ids["lstm"]], "pos review", runs_dir=trained_home.home / "runs")
    assert not short["truncated"]


def test_a_text_beyond_the_character_limit_is_clipped_and_reported(trained_home):
    [r] = predict_runs([trained_home.run_ids["gru"]], "pos " * (MAX_TEXT_CHARS // 4 + 10),
                       runs_dir=trained_home.home / "runs")
    assert r["truncated"] and any("characters" in n for n in r["notes"])


@pytest.mark.parametrize("cell", ["rnn", "gru"])  # rnn: the seed preset (fixed batches); gru: fast (bucketed)
def test_the_input_is_built_as_the_training_batches_were(trained_home, cell):
    run = RunStore(trained_home.home / "runs").get(trained_home.run_ids[cell])
    lr = load_run(run)
    enc = encode_text(lr, "pos film, pos review.")
    assert enc.tokens == ["pos", "film", "pos", "review"]
    if lr.cfg.train.batching == "fixed":
        assert enc.x.shape == (1, MAX_LEN) and enc.padding == MAX_LEN - 4 and enc.lengths is None
        assert (enc.x[0, :enc.padding] == 1).all()  # <pad> in front
    else:
        assert enc.x.shape == (1, 4) and enc.padding == 0 and enc.lengths.tolist() == [4]
    assert enc.x[0, -4:].tolist() == lr.vocab.encode(enc.tokens)
    # the same logit as the model on the batch the training code would build
    from rnnlab.core.data.batching import make_batches

    batch = next(make_batches(lr.cfg.train.batching, [enc.ids], [1.0], 1, MAX_LEN))
    with torch.no_grad():
        expected = float(lr.model(batch.tokens, batch.lengths if lr.cfg.train.batching == "bucket" else None))
    [r] = predict_runs([run.id], "pos film, pos review.", runs_dir=run.path.parent)
    assert r["logit"] == pytest.approx(expected, abs=1e-6)


def test_rnn_and_hmm_runs_answer_together(trained_home, hmm_home, tmp_path):
    # one store holding both kinds: copy the runs side by side
    runs = tmp_path / "runs"
    for home, rid in [(trained_home.home, trained_home.run_ids["lstm"]), (hmm_home.home, hmm_home.hmm_id)]:
        shutil.copytree(home / "runs" / rid, runs / rid)
    results = predict_runs([trained_home.run_ids["lstm"], hmm_home.hmm_id], "pos film <br /> 😀", runs_dir=runs)
    assert [r["kind"] for r in results] == ["rnn", "hmm"]
    for r in results:
        assert r["tokens"] == ["pos", "film"] and 0 <= r["probability"] <= 1
    assert len(results[1]["viterbi_states"]["negative"]) == 2
    [empty] = predict_runs([hmm_home.hmm_id], "", runs_dir=runs)
    assert empty["probability"] == 0.5 and any("no tokens" in n for n in empty["notes"])


def test_a_run_that_cannot_classify_text_is_refused_clearly(hmm_home):
    with pytest.raises(ValueError, match="word2vec.*does not classify text"):
        predict_runs([hmm_home.word2vec_id], "pos", runs_dir=hmm_home.home / "runs")


def test_a_pickle_renamed_safetensors_is_refused_with_a_clear_error(trained_home, tmp_path):
    rid = trained_home.run_ids["gru"]
    shutil.copytree(trained_home.home / "runs" / rid, tmp_path / "runs" / rid)
    weights = tmp_path / "runs" / rid / "model.safetensors"
    # what an attacker would ship: torch.save's pickle (which could run code when unpickled)
    torch.save({"rnn.weight_ih_l0": torch.zeros(3), "payload": os.system}, weights)
    with pytest.raises(CheckpointError, match="pickle.*only safetensors"):
        predict_runs([rid], "pos film", runs_dir=tmp_path / "runs")
    weights.write_bytes(b"\x00" * 20)  # neither pickle nor safetensors
    os.utime(weights, (1, 1))  # a new mtime: the cached model is not reused
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        predict_runs([rid], "pos film", runs_dir=tmp_path / "runs")


def test_cli_predict_with_several_runs(trained_home, hmm_home, tmp_path, capsys):
    from rnnlab.core.__main__ import main

    runs = tmp_path / "runs"
    ids = [trained_home.run_ids["rnn"], trained_home.run_ids["gru"], hmm_home.hmm_id]
    for home, rid in zip([trained_home.home, trained_home.home, hmm_home.home], ids, strict=True):
        shutil.copytree(home / "runs" / rid, runs / rid)
    assert main(["predict", "--runs", ",".join(ids), "a pos film!", "--json", "--runs-dir", str(runs)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in out] == ids and [r["kind"] for r in out] == ["rnn", "rnn", "hmm"]
    assert all(np.isfinite(r["probability"]) for r in out)
    assert main(["predict", "--runs", ",".join(ids[:2]), "a pos film!", "--runs-dir", str(runs)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ids[:2] and all("p(positive)=" in line for line in lines)
    assert main(["predict", "--runs", f"{ids[0]},nope", "x", "--runs-dir", str(runs)]) == 1
    err = capsys.readouterr().err
    assert "no run 'nope'" in err and "Traceback" not in err


READING_TEXTS = ["not a pos film at all, zzzunknown <br /> 😀", "", "the and of", "pos " * 60 + "neg film",
                 "idk, it's a pos film w/o neg parts!"]


@pytest.mark.parametrize("text", READING_TEXTS)
def test_every_answer_reads_every_word_and_its_read_words_are_the_tokens_the_model_read(trained_home, hmm_home,
                                                                                        tmp_path, text):
    runs = tmp_path / "runs"
    ids = [trained_home.run_ids["lstm"], trained_home.run_ids["rnn"], hmm_home.hmm_id]
    for home, rid in zip([trained_home.home, trained_home.home, hmm_home.home], ids, strict=True):
        shutil.copytree(home / "runs" / rid, runs / rid)
    for r in predict_runs(ids, text, runs_dir=runs):
        fates = r["reading"]
        words = [w for _, w in dict.fromkeys((f["index"], f["word"]) for f in fates)]
        assert "".join("".join(words).split()) == "".join(text.split())  # every word of the text, in order
        read = [f["token"] for f in fates if f["reason"] in (None, "unknown")]
        assert read == r["tokens"], r["kind"]
        unknown = [f["reason"] == "unknown" for f in fates if f["reason"] in (None, "unknown")]
        assert unknown == r["unknown"]
        assert r["text_config"]["max_len"] == r["max_len"]
    json.dumps(r)  # the answer stays JSON for the command line


def test_a_negation_is_in_the_reading_as_a_stop_word(trained_home):
    [r] = predict_runs([trained_home.run_ids["gru"]], "not good at all", runs_dir=trained_home.home / "runs")
    assert [(f["word"], f["reason"]) for f in r["reading"]][0] == ("not", "stop word")
    assert "not" not in r["tokens"]


def test_a_truncated_text_marks_the_words_cut_the_run_s_way(trained_home):
    [r] = predict_runs([trained_home.run_ids["lstm"]], " ".join(f"pos{i}" for i in range(MAX_LEN + 5)),
                       runs_dir=trained_home.home / "runs")
    reasons = [f["reason"] for f in r["reading"]]
    assert reasons.count("truncated") == 5
    cut_first = r["text_config"]["truncate"] == "pre"
    assert (reasons[:5] if cut_first else reasons[-5:]) == ["truncated"] * 5
