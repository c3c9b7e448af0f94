"""The ``word2vec`` kind of job: word vectors trained on a dataset's own texts, and reading them back from a run.

:func:`word2vec_job` trains gensim's word2vec (:func:`core.models.word2vec.fit_word2vec`) on the
training texts of the dataset its config names (IMDB or any dataset added with ``data add``) and
its unlabelled texts where it has some (IMDB's 50,000 reviews), through the run's text pipeline,
and stores the vectors in the run's folder. :func:`load_vectors` reads a run's vectors back: what
the trainer's word2vec initialisation, the GMM-HMM and the Embeddings page use.

The test split is never read: the vectors see the training texts (less the validation texts carved
from them) and the unlabelled ones only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rnnlab.core.config import Word2VecRunConfig
from rnnlab.core.data.datasets import dataset_name, load_frames
from rnnlab.core.data.text import tokenize_corpus
from rnnlab.core.jobs.lifecycle import JobContext
from rnnlab.core.jobs.names import FINISHED, VECTORS_FILE, WORD2VEC_FILE
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.models.word2vec import WordVectors, export_word2vec, fit_word2vec
from rnnlab.core.paths import runs_dir as home_runs_dir

KIND = "word2vec"


def word2vec_job(ctx: JobContext, cfg: Word2VecRunConfig) -> None:
    """Train on the dataset's training and unlabelled texts into ``ctx.run``'s folder.

    ``cfg.data`` names the dataset; ``cfg.data.limit`` caps each split (training and unlabelled) at
    that many texts. Writes ``vectors.npy``, ``words.json``, ``word2vec.json`` (settings, loss per
    epoch, timings, the texts read) and one metrics record per epoch. gensim trains without the
    GIL, so the lifecycle's heartbeat thread keeps beating through epochs that outlast the store's
    crash timeout.
    """
    run, w = ctx.run, cfg.word2vec
    name = dataset_name(cfg.data.dataset)
    t0 = time.perf_counter()
    ctx.progress(phase=f"loading {name}")
    frames = load_frames(cfg.data)
    texts = frames["train"]["text"].tolist() + frames["unsup"]["text"].tolist()
    ctx.say(f"preprocessing {len(frames['train'])} training and {len(frames['unsup'])} unlabelled texts of {name}")
    ctx.progress(phase=f"preprocessing {len(texts)} texts")
    sentences = tokenize_corpus(texts, cfg.text)
    prep_time = time.perf_counter() - t0
    ctx.check_cancel()
    run.cut_metrics(-1)

    def on_epoch(epoch: int, loss: float) -> None:
        ctx.say(f"epoch {epoch}/{w.epochs}: loss {loss:.4g}")
        ctx.progress(phase="training", epoch=epoch, epochs=w.epochs)
        run.append_metrics([{"kind": "epoch", "epoch": epoch - 1, "loss": loss, "wall_time": time.time()}])
        ctx.check_cancel()

    ctx.say(f"training {w.algo} word2vec (dim {w.dim}, {w.epochs} epochs)")
    vectors, info = fit_word2vec(sentences, w, on_epoch)
    vectors.save(run.path)
    info.update({"dataset": name, "reviews_train": len(frames["train"]), "reviews_unsup": len(frames["unsup"]),
                 "preprocess_time_s": prep_time})
    run.write_json(WORD2VEC_FILE, info)


def default_runs_dir() -> Path:
    """``$RNNLAB_RUNS_DIR`` (set for launched jobs) or ``$RNNLAB_HOME/runs``."""
    env = os.environ.get("RNNLAB_RUNS_DIR")
    return Path(env) if env else home_runs_dir()


def load_vectors(run_id: str, runs_dir: str | os.PathLike | None = None) -> WordVectors:
    """The vectors of a stored ``word2vec`` run (trained or imported)."""
    run = RunStore(runs_dir or default_runs_dir()).get(run_id)
    if run.kind != KIND:
        raise ValueError(f"run {run.id} is a {run.kind!r} run, not a word2vec run")
    if not run.file(VECTORS_FILE).is_file():
        raise ValueError(f"word2vec run {run.id} has no vectors (status: {run.status().get('state')})")
    return WordVectors.load(run.path)


def vectors_runs(store: RunStore, dataset: str | None = None) -> list[str]:
    """The finished word2vec runs with vectors that suit ``dataset`` (``None`` or ``imdb``: IMDB): those trained on
    it, newest first, then every imported one (vectors from elsewhere belong to no dataset), newest first."""
    want = dataset_name(dataset)
    own, imported = [], []
    for run in store.list():
        try:
            if run.kind != KIND or run.status().get("state") != FINISHED or not run.file(VECTORS_FILE).is_file():
                continue
            if run.config_dict().get("imported"):
                imported.append(run.id)
            elif dataset_name(run.job_config().data.dataset) == want:
                own.append(run.id)
        except (OSError, ValueError):
            continue
    return own + imported


def export_vectors_run(run_id: str, path: str | os.PathLike, *, binary: bool = False,
                       runs_dir: str | os.PathLike | None = None) -> Path:
    """The vectors of the ``word2vec`` run ``run_id`` written to ``path`` in the word2vec format."""
    return export_word2vec(load_vectors(run_id, runs_dir), path, binary=binary)
