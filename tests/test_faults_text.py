"""Hostile and clumsy text: long, empty, binary, misencoded, odd characters; from the command line and the pages.

Each test is one fault case: what the user did, and that the answer is a clear message (or a note)
within a bound -- bytes read, words analysed, seconds, megabytes, bytes cached.
"""

from __future__ import annotations

import io
import math
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from fixtures_runs import nltk_data, use_home

from rnnlab.core.__main__ import main
from rnnlab.core.analysis import predict
from rnnlab.core.analysis.cache import ByteLRU, size_of, text_key
from rnnlab.core.analysis.introspect import WORDS_PER_TOKEN, introspect
from rnnlab.core.analysis.predict import MAX_TEXT_CHARS, predict_runs, read_text

ROOT = Path(__file__).resolve().parent.parent
MAX_LEN = 40  # the tiny runs' max_len (tests/fixtures_runs.py)
MB = 2**20


@pytest.fixture(autouse=True)
def _stop_words(monkeypatch):
    if nltk_data():
        monkeypatch.setenv("NLTK_DATA", nltk_data())


@pytest.fixture
def runs(trained_home) -> Path:
    return trained_home.home / "runs"


@pytest.fixture
def lstm(trained_home) -> str:
    return trained_home.run_ids["lstm"]


def review_of(n_bytes: int) -> str:
    """A review of about ``n_bytes`` ASCII characters, in words the tiny runs know."""
    unit = "a pos film, rated 9. the best pos review! "
    return (unit * (n_bytes // len(unit) + 1))[:n_bytes]


class RecordingStream(io.BytesIO):
    """Standard input that remembers how many bytes each read asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, n: int | None = -1) -> bytes:
        self.asked.append(-1 if n is None else n)
        return super().read(n)


def fake_stdin(monkeypatch, data: bytes) -> RecordingStream:
    stream = RecordingStream(data)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(stream))
    return stream


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def predict_json(capsys, *argv: str) -> tuple[list[dict], str]:
    import json

    code, out, err = cli(capsys, "predict", *argv, "--json")
    assert code == 0, err
    return json.loads(out), err


# -- the command line: where the text comes from -----------------------------------------------------------------
def test_predict_with_a_1mb_review_in_a_file_answers_with_the_truncation_note(capsys, tmp_path, runs, lstm):
    path = tmp_path / "review.txt"
    path.write_text(review_of(MB), encoding="utf-8")
    [r], _ = predict_json(capsys, lstm, "--file", str(path), "--runs-dir", str(runs))
    assert r["truncated"] and r["n_tokens"] == MAX_LEN and 0.0 <= r["probability"] <= 1.0
    assert any("longer than the model's limit" in n for n in r["notes"])


def test_predict_with_a_1mb_review_on_stdin_answers_reading_at_most_the_cap(capsys, monkeypatch, runs, lstm):
    stream = fake_stdin(monkeypatch, review_of(MB).encode())
    [r], _ = predict_json(capsys, lstm, "-", "--runs-dir", str(runs))
    assert r["n_tokens"] == MAX_LEN and r["truncated"]
    assert stream.asked and all(0 < n <= MAX_TEXT_CHARS + 1 for n in stream.asked)


def test_introspect_with_a_review_on_stdin_prints_its_tokens(capsys, monkeypatch, runs, lstm):
    fake_stdin(monkeypatch, b"a pos film, the best pos review")
    code, out, _ = cli(capsys, "introspect", lstm, "-", "--runs-dir", str(runs))
    assert code == 0 and "p(positive)=" in out and "pos" in out


def test_predict_with_a_missing_file_says_no_such_file(capsys, tmp_path, runs, lstm):
    code, _, err = cli(capsys, "predict", lstm, "--file", str(tmp_path / "nope.txt"), "--runs-dir", str(runs))
    assert code == 1 and f"error: no such file: {tmp_path / 'nope.txt'}" in err


def test_predict_with_a_directory_says_it_is_a_directory(capsys, tmp_path, runs, lstm):
    code, _, err = cli(capsys, "predict", lstm, "--file", str(tmp_path), "--runs-dir", str(runs))
    assert code == 1 and f"{tmp_path} is a directory, not a text file" in err


def test_predict_with_invalid_utf8_is_refused_naming_the_byte(capsys, tmp_path, runs, lstm):
    path = tmp_path / "latin1.txt"
    path.write_bytes("a pos film, très bien".encode("latin-1"))
    code, _, err = cli(capsys, "predict", lstm, "--file", str(path), "--runs-dir", str(runs))
    assert code == 1 and "is not UTF-8 text (byte 0xe8 at offset 14)" in err and "iconv" in err


def test_predict_with_a_binary_file_is_refused(capsys, tmp_path, runs, lstm):
    path = tmp_path / "poster.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    code, _, err = cli(capsys, "introspect", lstm, "--file", str(path), "--runs-dir", str(runs))
    assert code == 1 and "is not UTF-8 text (byte 0x89 at offset 0): is it a binary file?" in err


def test_predict_with_a_utf16_file_is_refused_saying_utf16(capsys, tmp_path, runs, lstm):
    path = tmp_path / "windows.txt"
    path.write_bytes("a pos film".encode("utf-16"))  # with its byte-order mark, as Windows editors save it
    code, _, err = cli(capsys, "predict", lstm, "--file", str(path), "--runs-dir", str(runs))
    assert code == 1 and "is UTF-16 text: save it as UTF-8" in err


def test_predict_with_an_empty_file_answers_with_the_empty_notes(capsys, tmp_path, runs, lstm):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    [r], err = predict_json(capsys, lstm, "--file", str(path), "--runs-dir", str(runs))
    assert f"note: {path} is empty" in err
    assert r["n_tokens"] == 0 and any("no tokens left" in n for n in r["notes"])


def test_predict_with_text_and_file_together_is_refused(capsys, tmp_path, runs, lstm):
    path = tmp_path / "review.txt"
    path.write_text("a pos film")
    code, _, err = cli(capsys, "predict", lstm, "a neg film", "--file", str(path), "--runs-dir", str(runs))
    assert code == 1 and "the text is given twice" in err and "'a neg film'" in err


def test_introspect_with_text_and_file_together_is_refused(capsys, tmp_path, runs, lstm):
    path = tmp_path / "review.txt"
    path.write_text("a pos film")
    code, _, err = cli(capsys, "introspect", lstm, "a neg film", "--file", str(path), "--runs-dir", str(runs))
    assert code == 1 and "the text is given twice" in err


def test_introspect_without_any_text_says_how_to_give_one(capsys, runs, lstm):
    code, _, err = cli(capsys, "introspect", lstm, "--runs-dir", str(runs))
    assert code == 1 and "give the text exactly once" in err and "--file PATH" in err


def test_predict_with_a_5mb_file_reads_only_the_cap_and_says_so(capsys, tmp_path, runs, lstm):
    path = tmp_path / "huge.txt"
    path.write_text(review_of(5 * MB))
    [r], err = predict_json(capsys, lstm, "--file", str(path), "--runs-dir", str(runs))
    assert f"is longer than {MAX_TEXT_CHARS:,} bytes: only its first {MAX_TEXT_CHARS:,} were read" in err
    assert r["n_tokens"] == MAX_LEN
    text, notes = read_text(path)
    assert len(text) == MAX_TEXT_CHARS and len(notes) == 1


def test_a_file_cut_by_the_cap_inside_a_character_keeps_whole_characters(tmp_path):
    path = tmp_path / "accents.txt"
    path.write_bytes(b"x" + "é".encode() * MAX_TEXT_CHARS)  # the cap falls between the two bytes of an "é"
    text, notes = read_text(path)
    assert text == "x" + "é" * ((MAX_TEXT_CHARS - 1) // 2) and "only its first" in notes[0]


def test_stdin_of_5mb_is_read_with_one_bounded_read(monkeypatch):
    stream = RecordingStream(review_of(5 * MB).encode())
    text, notes = read_text("-", stdin=stream)
    assert stream.asked == [MAX_TEXT_CHARS + 1] and len(text) == MAX_TEXT_CHARS
    assert "standard input is longer than" in notes[0]


# -- introspection of long and odd texts --------------------------------------------------------------------------
def test_introspect_with_a_5mb_text_analyses_a_bounded_window_and_says_so(runs, lstm):
    text = review_of(5 * MB)
    out = introspect(lstm, text, runs_dir=runs)
    cap = WORDS_PER_TOKEN * MAX_LEN
    assert len(out.words) == cap and len(out.tokens) == MAX_LEN == len(out.saliency)
    assert any(n.startswith(f"long text: analysed the last {cap:,} of ") for n in out.notes)
    assert any(f"longer than {MAX_TEXT_CHARS:,} characters" in n for n in out.notes) and out.truncated
    [pred] = predict_runs([lstm], text, runs_dir=runs)  # the window holds the tokens a prediction reads
    assert out.tokens == pred["tokens"] and out.probability == pytest.approx(pred["probability"], abs=1e-6)


def test_introspect_with_a_1mb_text_stays_under_a_time_and_memory_bound(runs, lstm):
    text = review_of(MB)
    introspect(lstm, "a pos film", runs_dir=runs)  # the run is loaded (and cached) outside the bounds
    t0 = time.perf_counter()
    introspect(lstm, text, runs_dir=runs)
    elapsed = time.perf_counter() - t0
    tracemalloc.start()
    try:
        introspect(lstm, text, runs_dir=runs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # ~0.1 s and ~11 MB on the 2-core development machine; the whole text took 3-9 s and ~100 MB
    assert elapsed < 5.0 and peak < 50 * MB, (elapsed, peak / MB)


def test_introspect_with_one_1mb_word_reads_one_unknown_token(runs, lstm):
    out = introspect(lstm, "x" * MAX_TEXT_CHARS, runs_dir=runs)
    assert out.tokens == ["x" * MAX_TEXT_CHARS] and out.unknown.tolist() == [True] and len(out.words) == 1
    assert any("every token is unknown" in n for n in out.notes)


def test_an_empty_review_gets_an_answer_with_a_note(runs, lstm):
    out = introspect(lstm, "", runs_dir=runs)
    [pred] = predict_runs([lstm], "", runs_dir=runs)
    assert out.tokens == ["<unk>"] and out.words == [] and math.isfinite(out.probability)
    assert any("no tokens left" in n for n in out.notes) and any("no tokens left" in n for n in pred["notes"])


def test_a_review_of_only_stop_words_gets_an_answer_with_a_note(runs, lstm):
    out = introspect(lstm, "the and of it was is " * 50, runs_dir=runs)
    assert {w.fate for w in out.words} == {"stopword"} and any("no tokens left" in n for n in out.notes)


def test_a_review_of_only_unknown_words_gets_an_answer_with_a_note(runs, lstm):
    out = introspect(lstm, "zorblax quuxify flimflam", runs_dir=runs)
    assert out.unknown.all() and {w.fate for w in out.words} == {"unknown"}
    assert any("every token is unknown" in n for n in out.notes)


def test_a_review_of_only_punctuation_gets_an_answer_with_a_note(runs, lstm):
    out = introspect(lstm, "!!! ... ?!? --- :-) ;;", runs_dir=runs)
    assert {w.fate for w in out.words} == {"non_alnum"} and any("no tokens left" in n for n in out.notes)


def test_a_review_with_control_characters_and_nul_bytes_gets_an_answer(capsys, tmp_path, runs, lstm):
    path = tmp_path / "control.txt"
    path.write_bytes(b"a pos\x00 film\x01\x02 \x1b[31mbest\x1b[0m \x7f review\r\n\t\x0c")
    [r], _ = predict_json(capsys, lstm, "--file", str(path), "--runs-dir", str(runs))
    assert 0.0 <= r["probability"] <= 1.0 and "film" in r["tokens"] and all("\x00" not in t for t in r["tokens"])
    out = introspect(lstm, path.read_text(), runs_dir=runs)
    assert out.tokens == r["tokens"]


def test_a_right_to_left_and_emoji_review_gets_an_answer(runs, lstm):
    out = introspect(lstm, "מצוין ‏ممتاز‎ 😀👍🏽 pos film 🎬", runs_dir=runs)
    fates = {w.word: w.fate for w in out.words}
    assert fates["pos"] == "kept" and fates["מצוין"] == "unknown" and fates["😀👍🏽"] == "non_alnum"
    assert math.isfinite(out.probability)


def test_a_review_with_a_lone_surrogate_gets_an_answer(runs, lstm):
    text = "a pos film \ud800 best"  # what a broken clipboard can paste into a form
    assert text_key(text) != text_key("a pos film  best")
    assert "film" in introspect(lstm, text, runs_dir=runs).tokens


# -- caches bounded in bytes --------------------------------------------------------------------------------------
def test_a_cache_given_many_entries_stays_under_its_byte_budget():
    cache = ByteLRU(1 * MB)
    for i in range(200):
        cache.put(("text", i), np.zeros(100_000, dtype=np.uint8))  # ~100 KB each
        assert cache.nbytes <= 1 * MB
    assert 5 <= len(cache) <= 10 and ("text", 199) in cache and ("text", 0) not in cache
    assert cache.nbytes == sum(size_of(v) + size_of(k) for k, (v, _) in cache._items.items())


def test_a_cache_entry_larger_than_the_budget_is_returned_but_not_kept():
    cache = ByteLRU(1 * MB)
    cache.put("small", b"x" * 1000)
    big = np.zeros(2 * MB, dtype=np.uint8)
    assert cache.get_or_compute("big", lambda: big) is big
    assert "big" not in cache and "small" in cache and cache.nbytes < 1 * MB


def test_introspections_of_many_long_texts_stay_under_the_cache_budget(runs, lstm):
    from rnnlab.core.analysis.predict import load_run
    from rnnlab.core.jobs.store import RunStore

    lr = load_run(RunStore(runs).get(lstm))
    cache = ByteLRU(2 * MB)
    for i in range(30):
        text = f"review {i}: " + review_of(100_000)
        cache.get_or_compute(text_key(text), lambda text=text: introspect(lr, text))
        assert cache.nbytes <= 2 * MB
    assert len(cache) >= 2  # an introspection of a 100 KB text weighs well under 1 MB: several fit


def test_loading_many_runs_keeps_the_model_cache_under_its_budget(monkeypatch, trained_home, runs):
    from rnnlab.core.jobs.store import RunStore

    one = size_of(predict.load_run(RunStore(runs).get(trained_home.run_ids["lstm"])))
    monkeypatch.setattr(predict, "_MODELS", ByteLRU(int(1.5 * one)))
    for cell in ("rnn", "lstm", "gru", "rnn", "gru"):
        predict.load_run(RunStore(runs).get(trained_home.run_ids[cell]))
        assert predict._MODELS.nbytes <= 1.5 * one
    assert len(predict._MODELS) == 1


def test_the_gates_page_with_a_1mb_review_shows_the_cut_note_and_caches_within_budget(monkeypatch, trained_home):
    from streamlit.testing.v1 import AppTest

    use_home(monkeypatch, trained_home.home)
    at = AppTest.from_file(str(ROOT / "pages" / "gates.py"), default_timeout=60)
    at.run()
    for i in range(3):
        at.text_area(key="gates_text").set_value(f"take {i}: " + review_of(MB)).run()
        assert not at.exception
    assert any("long text: analysed the last" in c.value for c in at.caption)
    from rnnlab.dashboard import state

    cache = state.byte_cache("gates.introspection")  # process-wide: the page's runs filled it
    assert len(cache) >= 6 and cache.nbytes <= state.CACHE_BUDGETS["gates.introspection"]
    assert cache.nbytes < 6 * 3 * MB  # each introspection of a 1 MB review weighs little (once ~15 MB)
