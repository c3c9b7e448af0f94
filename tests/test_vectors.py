"""Which word2vec run a job reads (core.jobs.vectors): ``embeddings = "auto"`` (the ``best`` preset's) finds vectors
trained on the same texts through the same preprocessing at the embedding's size, or has them trained first --
by the command line, the Train page and a sweep alike -- on IMDB and on a dataset of one's own."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_any_dataset import gadgets, product_rows, write_csv  # noqa: F401 - fixtures
from test_page_launch import start
from test_pages import fake_launch, home, ok, open_page, sleeper, text  # noqa: F401 - fixtures

from rnnlab.core.__main__ import main
from rnnlab.core.config import (
    AUTO_VECTORS,
    DataConfig,
    TextConfig,
    Word2VecConfig,
    Word2VecRunConfig,
    preset,
)
from rnnlab.core.data import sources
from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.names import FINISHED
from rnnlab.core.jobs.rnn import auto_vectors
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.jobs.vectors import PIPELINE, find_vectors, resolve_vectors
from rnnlab.core.sweep.job import named_vectors


def vectors_run(store: RunStore, data: DataConfig, text: TextConfig, dim: int = 100, *, imported: bool = False):
    """A finished word2vec run as the store keeps one (config, status and a vectors file), without training it."""
    run = store.create(Word2VecRunConfig(data=data, text=text, word2vec=Word2VecConfig(dim=dim)), kind="word2vec")
    if imported:
        run.write_json("config.json", {**run.config_dict(), "imported": True})
    run.update_status(state=FINISHED)
    np.save(run.file("vectors.npy"), np.zeros((1, dim), dtype=np.float32))
    return run


def test_auto_finds_the_newest_run_on_the_same_texts_and_preprocessing_else_names_the_job_to_run_first(tmp_path):
    store = RunStore(tmp_path / "runs")
    cfg = preset("best", imdb_path="imdb.tar.gz", limit=300)
    assert cfg.train.embeddings == AUTO_VECTORS
    # nothing in the store: skip-gram on the run's own texts and preprocessing, at the embedding's size
    assert resolve_vectors(cfg, store) == (cfg, Word2VecRunConfig(data=cfg.data, text=cfg.text,
                                                                  word2vec=Word2VecConfig(dim=100)))
    # runs that differ in what the vectors saw are passed over
    vectors_run(store, cfg.data, replace(cfg.text, remove_stopwords=True))  # other tokens
    vectors_run(store, cfg.data, replace(cfg.text, remove_stopwords=True, keep_negations=False))
    vectors_run(store, replace(cfg.data, limit=None), cfg.text)  # other texts
    vectors_run(store, cfg.data, cfg.text, dim=50)  # another size
    vectors_run(store, cfg.data, cfg.text, imported=True)  # a file's vectors: no preprocessing to compare
    assert find_vectors(cfg, store) is None and resolve_vectors(cfg, store)[1] is not None
    # the vocabulary and length settings do not change the tokens: still a match; the newest wins
    older = vectors_run(store, cfg.data, replace(cfg.text, max_vocab=5, max_len=7))
    assert not cfg.text.remove_stopwords  # so negations are kept whatever keep_negations says: the same tokens
    assert find_vectors(replace(cfg, text=replace(cfg.text, keep_negations=False)), store) == older.id
    assert resolve_vectors(cfg, store) == (replace(cfg, train=replace(cfg.train, embeddings=older.id)), None)
    newer = vectors_run(store, cfg.data, cfg.text)
    assert auto_vectors(cfg, store) == newer.id
    # a run named is kept; one not in the store is refused; no vectors asked, nothing done
    named = replace(cfg, train=replace(cfg.train, embeddings=older.id))
    assert resolve_vectors(named, store) == (named, None)
    with pytest.raises(KeyError):
        resolve_vectors(replace(cfg, train=replace(cfg.train, embeddings="nope")), store)
    plain = preset("fast")
    assert resolve_vectors(plain, store) == (plain, None)
    assert set(PIPELINE) < {f for f in TextConfig.__dataclass_fields__}


def test_an_auto_run_launched_without_vectors_fails_saying_how_to_get_them(tmp_path):
    with pytest.raises(ValueError, match="embeddings = auto.*python -m core train"):
        auto_vectors(preset("best"), RunStore(tmp_path / "runs"))


def test_the_best_preset_trains_its_vectors_first_once_from_the_command_line_on_a_dataset_of_ones_own(gadgets):  # noqa: F811
    small = ["--dataset", gadgets, "--epochs", "1", "--hidden", "8", "--embedding-dim", "8", "--json"]
    assert main(["train", "--preset", "best", *small]) == 0
    store = RunStore()
    [w2v] = [r for r in store.list() if r.kind == "word2vec"]
    [run] = [r for r in store.list() if r.kind == "rnn"]
    cfg = run.config()
    assert w2v.status()["state"] == FINISHED and run.status()["state"] == FINISHED
    assert cfg.model.cell == "gru" and cfg.train.preset == "best" and cfg.train.embeddings == w2v.id
    w = w2v.job_config()
    assert w.data.dataset == gadgets and w.word2vec.dim == 8 and w.text == cfg.text  # the run's own pipeline
    assert run.read_json("embeddings.json")["run_id"] == w2v.id
    # again: the same vectors; other text settings: vectors of their own
    assert main(["train", "--preset", "best", "--model", "lstm", *small]) == 0
    assert len([r for r in store.list() if r.kind == "word2vec"]) == 1
    assert main(["train", "--preset", "best", "--stopwords", *small]) == 0
    assert len([r for r in store.list() if r.kind == "word2vec"]) == 2


def test_a_dry_run_of_the_best_preset_shows_the_vectors_it_would_train_first(rnnlab_home, capsys):
    assert main(["train", "--preset", "best", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert '"kind": "word2vec"' in captured.out and "training a skip-gram model first" in captured.err
    assert RunStore().list() == []


class SweepContext:
    """What named_vectors uses of a sweep's job context: the store, a voice, and child runs run here."""

    def __init__(self, store: RunStore):
        self.store, self.said, self.children = store, [], []

    def say(self, msg: str) -> None:
        self.said.append(msg)

    def child(self, kind: str, cfg, *, label: str | None = None):
        self.children.append(kind)
        return lifecycle.run_now(kind, cfg, self.store, label=label)


def test_a_sweep_trains_the_vectors_its_auto_runs_need_once_and_names_them_in_every_run(rnnlab_home, tmp_path):
    sources.add_dataset(write_csv(tmp_path / "g.csv", product_rows(80)), "g80")
    store = RunStore()
    cfgs = [preset("best", cell=c, dataset="g80", embedding_dim=8, epochs=1) for c in ("gru", "lstm")]
    ctx = SweepContext(store)
    named = named_vectors(ctx, cfgs)
    [w2v] = [r for r in store.list() if r.kind == "word2vec"]
    assert ctx.children == ["word2vec"] and [c.train.embeddings for c in named] == [w2v.id, w2v.id]
    assert named_vectors(ctx, cfgs) == named and ctx.children == ["word2vec"]  # found now: none trained again


def test_the_train_page_offers_best_with_auto_vectors_and_queues_them_before_the_trainings(home, fake_launch):  # noqa: F811
    at = ok(open_page("train.py"))
    at.selectbox(key="train_preset").set_value("best").run()
    assert at.selectbox(key="hp.best.imdb.embeddings").value == AUTO_VECTORS
    assert any("First, word2vec vectors for these texts and settings" in c.value for c in at.caption)
    at.multiselect(key="train_cells").set_value(["gru", "lstm"])
    at.number_input(key="hp.best.imdb.limit").set_value(40)
    at = start(at)
    kinds = [x["run"].kind for x in fake_launch]
    assert kinds == ["word2vec", "rnn", "rnn"] and {x["lane"] for x in fake_launch} == {"train"}
    w2v = fake_launch[0]["run"]
    assert all(x["run"].config().train.embeddings == w2v.id for x in fake_launch[1:])
    assert "word2vec vectors train first" in text(at) and w2v.id in text(at)


def test_a_sweeps_estimate_counts_the_vectors_it_would_train_first_once(gadgets, capsys):  # noqa: F811
    from rnnlab.core.sweep.job import estimate
    from rnnlab.core.sweep.spec import parse_spec, plan

    spec = parse_spec('name = "b"\npreset = "best"\nseeds = [0, 1]\n[base]\ndataset = "gadgets"\nembedding_dim = 8\n'
                      '[vary]\ncell = ["gru", "lstm"]\nremove_stopwords = [false, true]\n')
    store = RunStore()
    guess = estimate(plan(spec), store)
    assert guess["vectors"] == 2 and guess["vectors_seconds"] > 0  # one per preprocessing, not one per run
    cfg = plan(spec)[0].cfg
    vectors_run(store, cfg.data, cfg.text, dim=8)
    assert estimate(plan(spec), store)["vectors"] == 1
