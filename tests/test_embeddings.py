"""Word2vec: training on token lists, storage without pickle, look-ups, and initialising a model with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import tiny_reviews, write_imdb_archive
from fixtures_runs import tiny_config, use_home

from rnnlab.core.config import DataConfig, ModelConfig, TextConfig, Word2VecConfig, Word2VecRunConfig
from rnnlab.core.data.text import Vocabulary
from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.store import Run, RunStore
from rnnlab.core.jobs.word2vec import load_vectors
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.models.word2vec import (
    WordVectors,
    fit_word2vec,
    init_embedding_layer,
)

TOPIC_A = ["apple", "banana", "cherry", "grape", "melon"]
TOPIC_B = ["piston", "engine", "gearbox", "clutch", "turbo"]


def topic_corpus(n: int = 300, seed: int = 0) -> list[list[str]]:
    """Sentences drawn from one topic each: words of a topic co-occur, words of different topics never do."""
    rng = np.random.default_rng(seed)
    return [list(rng.choice(TOPIC_A if i % 2 else TOPIC_B, size=8)) for i in range(n)]


@pytest.mark.parametrize("algo", ["cbow", "skipgram"])
def test_words_that_co_occur_end_up_nearer_than_words_that_never_do(algo):
    wv, info = fit_word2vec(topic_corpus(), Word2VecConfig(algo=algo, dim=16, min_count=1, epochs=20, window=3))
    within = np.mean([wv.similarity(a, b) for group in (TOPIC_A, TOPIC_B) for a in group for b in group if a != b])
    across = np.mean([wv.similarity(a, b) for a in TOPIC_A for b in TOPIC_B])
    assert within > across + 0.2
    # each word's nearest neighbours are its own topic's words
    for word, group in (("apple", TOPIC_A), ("engine", TOPIC_B)):
        assert {w for w, _ in wv.neighbours(word, 4)} == set(group) - {word}
    assert info["vocab_size"] == 10 and len(info["loss_per_epoch"]) == 20


def test_neighbours_are_sorted_and_exclude_the_word_itself():
    rng = np.random.default_rng(0)
    wv = WordVectors([f"w{i}" for i in range(30)], rng.normal(size=(30, 5)))
    pairs = wv.neighbours("w3", 7)
    sims = [s for _, s in pairs]
    assert len(pairs) == 7 and "w3" not in [w for w, _ in pairs] and sims == sorted(sims, reverse=True)
    unit = wv.vectors / np.linalg.norm(wv.vectors, axis=1, keepdims=True)
    expected = np.argsort(-(unit @ unit[3]))[1:8]
    assert [w for w, _ in pairs] == [f"w{i}" for i in expected]
    with pytest.raises(KeyError, match="no vector"):
        wv.neighbours("absent")


def test_projection_2d_is_the_principal_plane_of_the_chosen_words():
    rng = np.random.default_rng(1)
    # the points vary mostly along two known directions
    basis = np.linalg.qr(rng.normal(size=(6, 6)))[0][:, :2]
    vecs = rng.normal(size=(50, 2)) * [10.0, 5.0] @ basis.T + rng.normal(size=(50, 6)) * 0.01
    wv = WordVectors([f"w{i}" for i in range(50)], vecs, counts=list(range(50, 0, -1)))
    p = wv.projection_2d(top=20)
    assert p["words"] == wv.words[:20] and len(p["x"]) == 20 and p["counts"] == list(range(50, 30, -1))
    assert sum(p["explained_variance_ratio"]) > 0.99
    chosen = wv.projection_2d(words=["w5", "nope", "w7"])
    assert chosen["words"] == ["w5", "w7"]


def test_vectors_round_trip_through_npy_and_json_without_pickle(tmp_path):
    wv = WordVectors(["a", "b", "ü"], np.arange(6, dtype=np.float32).reshape(3, 2), [3, 2, 1])
    wv.save(tmp_path)
    assert np.load(tmp_path / "vectors.npy", allow_pickle=False).shape == (3, 2)
    back = WordVectors.load(tmp_path)
    assert back.words == wv.words and back.counts == wv.counts and np.array_equal(back.vectors, wv.vectors)
    (tmp_path / "words.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not an RNN Lab"):
        WordVectors.load(tmp_path)


def _vocab(words):
    return Vocabulary(["<unk>", "<pad>", *words], [0, 0, *range(len(words), 0, -1)])


@pytest.mark.parametrize("freeze", [False, True])
def test_init_embedding_layer_copies_vectors_through_the_vocabulary(freeze):
    wv = WordVectors(["film", "great", "bad"], np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.float32))
    vocab = _vocab(["great", "plot", "film"])  # "plot" has no vector; "bad" is not in the vocabulary
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(cell="gru", vocab_size=len(vocab), embedding_dim=3, hidden_size=4))
    stats = init_embedding_layer(model, vocab, wv, freeze=freeze)
    w = model.embedding.weight.detach()
    assert torch.equal(w[vocab.stoi["great"]], torch.tensor([4.0, 5, 6]))
    assert torch.equal(w[vocab.stoi["film"]], torch.tensor([1.0, 2, 3]))
    assert torch.count_nonzero(w[1]) == 0  # <pad> stays zero
    assert torch.count_nonzero(w[vocab.stoi["plot"]]) > 0  # no vector: keeps a (rescaled) random row
    assert stats["found"] == 2 and stats["missing"] == 1 and stats["coverage"] == pytest.approx(2 / 3)
    assert model.embedding.weight.requires_grad is (not freeze)


def test_init_embedding_layer_refuses_vectors_of_another_size():
    wv = WordVectors(["film"], np.ones((1, 5)))
    model = SentimentRNN(ModelConfig(vocab_size=3, embedding_dim=4, hidden_size=2))
    with pytest.raises(ValueError, match="--embedding-dim 5"):
        init_embedding_layer(model, _vocab(["film"]), wv)


TINY_W2V = Word2VecConfig(dim=8, min_count=1, epochs=3)


@pytest.fixture(scope="module")
def w2v_home(tmp_path_factory):
    """A tiny archive and a home holding a word2vec run trained on it (dim 8, the tiny models' size)."""
    root = tmp_path_factory.mktemp("w2v")
    archive = write_imdb_archive(root / "aclImdb_v1.tar.gz", tiny_reviews(per_class=6, unsup=6))
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, root / "home")
        data = DataConfig(imdb_path=str(archive), val_size=2)
        text = TextConfig()
        run = lifecycle.run_now("word2vec", Word2VecRunConfig(data=data, text=text, word2vec=TINY_W2V),
                                RunStore(root / "home" / "runs"), label="word2vec-skipgram")
    return root, archive, run.id


def test_the_word2vec_job_stores_a_word2vec_run_from_train_and_unlabelled_reviews(w2v_home):
    root, archive, run_id = w2v_home
    store = RunStore(root / "home" / "runs")
    run = store.get(run_id)
    st = run.status()
    assert run.kind == "word2vec" and st["state"] == "finished" and st["progress"] == {"phase": "finished"}
    assert run.config_dict()["label"] == "word2vec-skipgram"
    assert run.job_config() == Word2VecRunConfig(data=DataConfig(imdb_path=str(archive), val_size=2),
                                                 text=TextConfig(),
                                                 word2vec=TINY_W2V)
    info = run.read_json("word2vec.json")
    assert info["reviews_train"] == 10 and info["reviews_unsup"] == 6  # 12 training reviews less 2 for validation
    # one metrics record per epoch, with gensim's loss of that epoch
    epochs = run.metrics("epoch")
    assert [r["epoch"] for r in epochs] == [0, 1, 2] and [r["loss"] for r in epochs] == info["loss_per_epoch"]
    wv = load_vectors(run_id, store.root)
    assert wv.dim == 8 and "unlabelled" in wv  # a word only the unlabelled reviews hold
    assert "test" not in wv  # the test split is never read
    assert not list(run.path.glob("*.pkl")) and not list(run.path.glob("*.model"))
    # the run is found again by its config: what makes a study reuse it instead of training anew
    assert store.find_finished("word2vec", run.job_config()) == run


def test_a_frozen_word2vec_embedding_survives_training(w2v_home, monkeypatch, one_thread):
    root, archive, run_id = w2v_home
    use_home(monkeypatch, root / "home")
    store = RunStore(root / "home" / "runs")
    cfg = tiny_config("lstm", archive, embeddings=run_id, freeze_embeddings=True)
    run = lifecycle.run_now("rnn", cfg, store)
    assert run.status()["state"] == "finished"
    record = run.read_json("embeddings.json")
    assert record["run_id"] == run_id and record["frozen"] and 0 < record["coverage"] <= 1
    from safetensors.torch import load_file

    weights = load_file(str(run.file("model.safetensors")))["embedding.weight"]
    vocab = Vocabulary.load(run.file("vocab.json"))
    assert run.model_config().vocab_size == len(vocab) == weights.shape[0]
    wv = load_vectors(run_id, store.root)
    rows = [i for i, w in enumerate(vocab.itos) if i > 1 and w in wv]
    assert rows
    for i in rows:
        np.testing.assert_array_equal(weights[i].numpy(), wv.vector(vocab.itos[i]))


def test_a_run_that_is_not_a_finished_word2vec_run_has_no_vectors_to_load(tmp_path):
    store = RunStore(tmp_path / "runs")
    queued = store.create(Word2VecRunConfig(), kind="word2vec")
    with pytest.raises(ValueError, match="has no vectors \\(status: queued\\)"):
        load_vectors(queued.id, store.root)
    from rnnlab.core.config import HorizonConfig

    other = store.create(HorizonConfig(), kind="memory-horizon")
    with pytest.raises(ValueError, match="'memory-horizon' run, not a word2vec run"):
        load_vectors(other.id, store.root)


def test_cli_embeddings_train_and_neighbours(tmp_path, capsys, monkeypatch):
    from rnnlab.core.__main__ import main

    archive = write_imdb_archive(tmp_path / "a.tar.gz", tiny_reviews(per_class=4, unsup=4))
    use_home(monkeypatch, tmp_path / "home")
    assert main(["embeddings", "train", "--algo", "cbow", "--dim", "6", "--min-count", "1", "--epochs", "2",
                 "--val-size", "2", "--imdb", str(archive)]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    run = RunStore(tmp_path / "home" / "runs").get(run_id)
    assert run.kind == "word2vec" and run.status()["state"] == "finished"
    assert run.job_config().word2vec == Word2VecConfig(algo="cbow", dim=6, min_count=1, epochs=2)
    assert main(["embeddings", "neighbours", run_id, "Film", "-k", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and all(-1.0 <= r["similarity"] <= 1.0 for r in rows)
    assert main(["embeddings", "neighbours", run_id, "zzzunseen"]) == 1
    err = capsys.readouterr().err
    assert "no vector" in err and "Traceback" not in err


def test_the_lifecycle_heartbeat_keeps_a_long_word2vec_training_alive_and_stops_with_it(w2v_home, tmp_path,
                                                                                        monkeypatch):
    """gensim trains without the GIL: the heartbeat thread beats through a long epoch, then stops."""
    import time

    from rnnlab.core.jobs import word2vec  # the job calls fit_word2vec from here

    root, archive, _ = w2v_home
    use_home(monkeypatch, root / "home")
    store = RunStore(tmp_path / "runs")
    run = store.create(Word2VecRunConfig(data=DataConfig(imdb_path=str(archive), val_size=2),
                                         text=TextConfig(), word2vec=TINY_W2V),
                       kind="word2vec")
    real_fit = word2vec.fit_word2vec
    events = []  # ("job", progress written) or ("beat", progress kept), in the order they were written

    def slow_fit(sentences, cfg, progress=None):
        out = real_fit(sentences, cfg, progress)  # its epochs write progress: phase training, epoch i of 3
        time.sleep(0.3)  # a long last epoch
        return out

    real_update = Run.update_status

    def spy(self, **fields):
        st = real_update(self, **fields)
        if not fields:
            events.append(("beat", st.get("progress")))
        elif "progress" in fields:
            events.append(("job", fields["progress"]))
        return st

    monkeypatch.setattr(word2vec, "fit_word2vec", slow_fit)
    monkeypatch.setattr(Run, "update_status", spy)
    lifecycle.run_job(run, store, heartbeat_s=0.02)
    # beats with no news (the thread, not the job) kept coming through the last epoch
    last_epoch = {"phase": "training", "epoch": 3, "epochs": 3}
    assert sum(1 for what, prog in events if what == "beat" and prog == last_epoch) >= 3
    # no beat wrote back an older state: each kept the progress the job had written last
    written = None
    for what, prog in events:
        if what == "job":
            written = prog
        else:
            assert prog == written, events
    assert written == {"phase": "finished"}
    final = run.stored_status()
    time.sleep(0.1)
    assert run.stored_status() == final and final["state"] == "finished"  # the thread stopped: nothing overwrites it
