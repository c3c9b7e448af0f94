"""Word vectors in and out of the word2vec format: round trips, gensim's reader, bounds and damage, imported runs."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from rnnlab.core.config import EMBEDDING_MAX, VOCAB_MAX, ModelConfig
from rnnlab.core.data.text import Vocabulary
from rnnlab.core.jobs.imports import import_vectors_run
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.jobs.word2vec import export_vectors_run, load_vectors
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.models.word2vec import (
    Word2VecFormatError,
    WordVectors,
    export_word2vec,
    import_word2vec,
    init_embedding_layer,
    word2vec_text,
)

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "embeddings.py")
WORDS = ["good", "bad", "film", "café", "naïve", "plot"]


@pytest.fixture
def wv() -> WordVectors:
    rng = np.random.default_rng(0)
    return WordVectors(WORDS, rng.normal(size=(len(WORDS), 5)).astype(np.float32))


def text_file(path: Path, body: bytes) -> Path:
    path.write_bytes(body)
    return path


@pytest.fixture
def no_gensim_load(monkeypatch):
    """gensim's reader must never be reached: it allocates the whole matrix the header declares first."""
    def refuse(*_a, **_k):
        raise AssertionError("gensim's loader was called on a file the header check should have refused")
    monkeypatch.setattr(KeyedVectors, "load_word2vec_format", refuse)


# -- round trips ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("binary", [False, True])
def test_vectors_round_trip_through_the_word2vec_format(tmp_path, wv, binary):
    path = export_word2vec(wv, tmp_path / "vectors.w2v", binary=binary)
    back = import_word2vec(path)  # the format is told from the content
    assert back.words == wv.words
    np.testing.assert_allclose(back.vectors, wv.vectors, rtol=1e-6)
    again = import_word2vec(path, binary=binary)
    assert again.words == wv.words
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("binary", [False, True])
def test_gensims_own_loader_reads_what_we_export(tmp_path, wv, binary):
    path = export_word2vec(wv, tmp_path / "vectors.w2v", binary=binary)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert list(kv.index_to_key) == wv.words
    np.testing.assert_allclose(kv.vectors, wv.vectors, rtol=1e-6)


def test_the_text_format_has_a_header_and_one_line_per_word(tmp_path, wv):
    lines = export_word2vec(wv, tmp_path / "v.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{len(WORDS)} 5"
    assert [line.split(" ")[0] for line in lines[1:]] == WORDS and all(len(x.split(" ")) == 6 for x in lines[1:])
    assert word2vec_text(wv) == (tmp_path / "v.txt").read_bytes()


def test_a_file_written_by_gensim_itself_is_imported(tmp_path, wv):
    kv = KeyedVectors(vector_size=wv.dim)
    kv.add_vectors(wv.words, wv.vectors)
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    back = import_word2vec(tmp_path / "g.bin")
    assert back.words == wv.words


def test_a_binary_file_with_the_c_tools_line_ends_is_imported(tmp_path, wv):
    body = b"".join(w.encode() + b" " + v.astype("<f4").tobytes() + b"\n" for w, v in zip(wv.words, wv.vectors,
                                                                                             strict=True))
    back = import_word2vec(text_file(tmp_path / "c.bin", f"{len(wv)} {wv.dim}\n".encode() + body))
    assert back.words == wv.words
    np.testing.assert_allclose(back.vectors, wv.vectors)


@pytest.mark.parametrize("word", ["two words", "", "tab\there"])
def test_a_word_the_format_cannot_hold_is_refused_on_export(tmp_path, word):
    with pytest.raises(ValueError, match="whitespace"):
        export_word2vec(WordVectors(["ok", word], np.ones((2, 3))), tmp_path / "v.txt")
    assert not (tmp_path / "v.txt").exists()


def test_non_finite_vectors_are_refused_on_export(tmp_path):
    with pytest.raises(ValueError, match="'b'.*NaN"):
        export_word2vec(WordVectors(["a", "b"], np.array([[1.0, 2.0], [np.nan, 0.0]])), tmp_path / "v.txt")


# -- damaged and hostile files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("binary", [False, True])
def test_a_truncated_file_is_refused_as_truncated(tmp_path, wv, binary):
    raw = export_word2vec(wv, tmp_path / "full.w2v", binary=binary).read_bytes()
    for cut in (len(raw) - 3, len(raw) * 2 // 3):
        path = text_file(tmp_path / "cut.w2v", raw[:cut])
        with pytest.raises(Word2VecFormatError, match="truncated"):
            import_word2vec(path, binary=binary)


def test_a_text_file_missing_its_last_lines_is_refused(tmp_path, wv):
    raw = export_word2vec(wv, tmp_path / "full.txt").read_bytes()
    lines = raw.splitlines(keepends=True)
    path = text_file(tmp_path / "cut.txt", b"".join(lines[:-2]))
    with pytest.raises(Word2VecFormatError, match="truncated|header"):
        import_word2vec(path)


@pytest.mark.parametrize("binary", [False, True])
def test_a_header_claiming_a_billion_words_is_refused_before_anything_is_allocated(tmp_path, no_gensim_load,
                                                                                   binary):
    path = text_file(tmp_path / "huge.w2v", b"1000000000 300\nthe " + b"0 " * 299 + b"0\n")
    with pytest.raises(Word2VecFormatError, match=f"1,000,000,000 words; RNN Lab reads 1 to {VOCAB_MAX:,}"):
        import_word2vec(path, binary=binary)


def test_a_header_within_the_caps_but_larger_than_the_file_is_refused_before_allocating(tmp_path, no_gensim_load):
    path = text_file(tmp_path / "liar.w2v", b"400000 300\nthe " + b"0 " * 299 + b"0\n")
    with pytest.raises(Word2VecFormatError, match="truncated or its header is wrong"):
        import_word2vec(path)


def test_a_dimension_over_the_cap_is_refused(tmp_path, no_gensim_load):
    dims = EMBEDDING_MAX + 1
    path = text_file(tmp_path / "wide.txt", f"1 {dims}\nthe ".encode() + b"0 " * (dims - 1) + b"0\n")
    with pytest.raises(Word2VecFormatError, match=f"{dims:,} dimensions; RNN Lab reads 1 to {EMBEDDING_MAX:,}"):
        import_word2vec(path)


@pytest.mark.parametrize("first_line", [b"", b"hello world\n", b"3\n", b"3 4 5\n", b"-3 4\n", b"\x1f\x8b\x08\x00"])
def test_a_wrong_header_is_refused_with_what_it_should_be(tmp_path, first_line):
    path = text_file(tmp_path / "bad.txt", first_line + b"good 0.1 0.2 0.3 0.4\n")
    with pytest.raises(Word2VecFormatError, match="<words> <dimensions>"):
        import_word2vec(path)


def test_a_line_with_the_wrong_number_of_values_is_named(tmp_path):
    path = text_file(tmp_path / "dims.txt", b"2 3\ngood 0.1 0.2 0.3\nbad 0.1 0.2\n")
    with pytest.raises(Word2VecFormatError, match="line 3: 2 values where the header declares 3 dimensions"):
        import_word2vec(path)


def test_a_binary_file_whose_header_misstates_the_dimension_is_refused(tmp_path, wv):
    raw = export_word2vec(wv, tmp_path / "v.bin", binary=True).read_bytes()
    lied = raw.replace(f"{len(wv)} {wv.dim}\n".encode(), f"{len(wv)} {wv.dim - 1}\n".encode(), 1)
    with pytest.raises(Word2VecFormatError):
        import_word2vec(text_file(tmp_path / "lied.bin", lied), binary=True)


@pytest.mark.parametrize("value", [b"nan", b"inf", b"-inf"])
def test_non_finite_values_are_refused(tmp_path, value):
    path = text_file(tmp_path / "nan.txt", b"2 2\ngood 0.1 0.2\nbad 0.3 " + value + b"\n")
    with pytest.raises(Word2VecFormatError, match="'bad' holds a NaN or an infinity"):
        import_word2vec(path)


def test_non_finite_values_in_a_binary_file_are_refused(tmp_path):
    body = b"2 2\ngood " + struct.pack("<2f", 0.1, 0.2) + b"bad " + struct.pack("<2f", float("nan"), 0.0)
    with pytest.raises(Word2VecFormatError, match="NaN"):
        import_word2vec(text_file(tmp_path / "nan.bin", body), binary=True)


@pytest.mark.parametrize("binary", [False, True])
def test_a_word_that_is_not_utf8_is_refused(tmp_path, binary):
    if binary:
        body = b"1 2\ncaf\xe9 " + struct.pack("<2f", 0.1, 0.2)
    else:
        body = b"1 2\ncaf\xe9 0.1 0.2\n"
    with pytest.raises(Word2VecFormatError, match="not UTF-8"):
        import_word2vec(text_file(tmp_path / "latin1.w2v", body), binary=binary)


def test_a_value_that_is_not_a_number_is_refused(tmp_path):
    with pytest.raises(Word2VecFormatError, match="not a word2vec text file"):
        import_word2vec(text_file(tmp_path / "x.txt", b"1 2\ngood 0.1 zero\n"), binary=False)


def test_a_word_listed_twice_is_refused(tmp_path):
    with pytest.raises(Word2VecFormatError, match="appear twice"):
        import_word2vec(text_file(tmp_path / "dup.txt", b"2 2\ngood 0.1 0.2\ngood 0.3 0.4\n"))


def test_extra_lines_after_the_declared_words_are_refused(tmp_path):
    with pytest.raises(Word2VecFormatError, match="more lines than the 1 words"):
        import_word2vec(text_file(tmp_path / "more.txt", b"1 2\ngood 0.1 0.2\nbad 0.3 0.4\n"))


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path, wv, no_gensim_load):
    path = export_word2vec(wv, tmp_path / "v.txt")
    with pytest.raises(Word2VecFormatError, match="at most 100 bytes"):
        import_word2vec(path, max_bytes=100)


def test_a_compressed_file_is_refused_rather_than_inflated(tmp_path, no_gensim_load):
    with pytest.raises(Word2VecFormatError, match="decompress it first"):
        import_word2vec(text_file(tmp_path / "v.txt.gz", b"1 2\ngood 0.1 0.2\n"))


# -- an imported file becomes a word2vec run -----------------------------------------------------------------------
def test_import_creates_a_finished_word2vec_run_that_load_vectors_reads(tmp_path, wv):
    store = RunStore(tmp_path / "runs")
    path = export_word2vec(wv, tmp_path / "published.bin", binary=True)
    run = import_vectors_run(path, store, label="glove-tiny")
    assert run.kind == "word2vec" and run.status()["state"] == "finished"
    assert run.config_dict()["imported"] is True and run.config_dict()["label"] == "glove-tiny"
    assert run.job_config().word2vec.dim == wv.dim
    info = run.read_json("word2vec.json")  # validated against the run files' schema
    assert info["vocab_size"] == len(wv) and info["source"]["file"] == "published.bin"
    assert info["source"]["format"] == "word2vec binary" and len(info["source"]["sha256"]) == 64
    back = load_vectors(run.id, store.root)
    assert back.words == wv.words
    np.testing.assert_allclose(back.vectors, wv.vectors)
    assert [r.id for r in store.list()] == [run.id]
    assert [p.name for p in store.root.parent.iterdir() if p.name.startswith(".import")] == []
    row = next(r for r in store.summaries() if r["run_id"] == run.id)
    assert row["status"] == "finished" and row["kind"] == "word2vec"


def test_an_imported_run_initialises_a_models_embedding_layer(tmp_path, wv):
    store = RunStore(tmp_path / "runs")
    run = import_vectors_run(export_word2vec(wv, tmp_path / "v.txt"), store)
    vocab = Vocabulary(["<unk>", "<pad>", "film", "plot", "unseen"], [0, 0, 3, 2, 1])
    model = SentimentRNN(ModelConfig(cell="lstm", vocab_size=len(vocab), embedding_dim=wv.dim, hidden_size=4))
    stats = init_embedding_layer(model, vocab, load_vectors(run.id, store.root))
    assert stats["found"] == 2 and stats["missing"] == 1
    w = model.embedding.weight.detach()
    assert torch.allclose(w[vocab.stoi["film"]], torch.from_numpy(wv.vector("film")))


def test_a_bad_file_creates_no_run(tmp_path):
    store = RunStore(tmp_path / "runs")
    path = text_file(tmp_path / "bad.txt", b"2 2\ngood 0.1 0.2\n")
    with pytest.raises(Word2VecFormatError):
        import_vectors_run(path, store)
    assert store.list() == [] and not [p for p in tmp_path.iterdir() if p.name.startswith(".import")]


def test_an_imported_run_exports_again_to_the_same_vectors(tmp_path, wv):
    store = RunStore(tmp_path / "runs")
    run = import_vectors_run(export_word2vec(wv, tmp_path / "v.txt"), store)
    out = export_vectors_run(run.id, tmp_path / "again.txt", runs_dir=store.root)
    assert out.read_bytes() == (tmp_path / "v.txt").read_bytes()


# -- the Embeddings page ------------------------------------------------------------------------------------------
class FakeUpload:
    """What ``st.file_uploader`` returns, for AppTest (which cannot upload a file)."""

    def __init__(self, name: str, data: bytes):
        self.name, self.data, self.size = name, data, len(data)

    def getbuffer(self) -> memoryview:
        return memoryview(self.data)

    def getvalue(self) -> bytes:
        return self.data


def embeddings_page(monkeypatch, upload: FakeUpload | None = None) -> AppTest:
    monkeypatch.setattr(DeltaGenerator, "file_uploader", lambda self, *a, **k: upload)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_embeddings_page_imports_an_upload_as_a_run_and_offers_its_export(rnnlab_home, monkeypatch, tmp_path,
                                                                              wv):
    raw = export_word2vec(wv, tmp_path / "vectors.txt").read_bytes()
    at = embeddings_page(monkeypatch, FakeUpload("my vectors.txt", raw))
    assert any("No word2vec run on IMDB movie reviews yet" in i.value for i in at.info)
    at.button(key="w2v_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Imported my vectors.txt" in s.value for s in at.success)
    runs = RunStore(rnnlab_home / "runs").list()
    assert len(runs) == 1 and runs[0].config_dict()["label"] == "word2vec-my-vectors"
    assert at.selectbox(key="w2v_run").value == runs[0].id
    assert any("Imported from my vectors.txt (word2vec text)" in c.value for c in at.caption)
    export = [b for b in at.get("download_button") if b.proto.label == "Export (word2vec text format)"]
    assert len(export) == 1, [b.proto.label for b in at.get("download_button")]
    assert load_vectors(runs[0].id, rnnlab_home / "runs").words == wv.words


def test_the_embeddings_page_refuses_a_damaged_upload_and_creates_nothing(rnnlab_home, monkeypatch):
    at = embeddings_page(monkeypatch, FakeUpload("broken.txt", b"5 3\ngood 0.1 0.2 0.3\n"))
    at.button(key="w2v_import").click().run()
    assert not at.exception
    assert any("Cannot import broken.txt" in e.value and "truncated" in e.value for e in at.error)
    assert RunStore(rnnlab_home / "runs").list() == []


def test_the_embeddings_page_refuses_an_oversized_upload_before_writing_it(rnnlab_home, monkeypatch):
    upload = FakeUpload("huge.txt", b"1 2\ngood 0.1 0.2\n")
    upload.size = 10 * 2**30
    at = embeddings_page(monkeypatch, upload)
    at.button(key="w2v_import").click().run()
    assert any("more than the" in e.value for e in at.error)
    assert RunStore(rnnlab_home / "runs").list() == []
