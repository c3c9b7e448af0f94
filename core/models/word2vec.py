"""Word2vec embeddings (the seed's section 2.2.8): train, store, look up, initialise a model with them.

* :func:`fit_word2vec` trains gensim's ``Word2Vec`` (CBOW or skip-gram) on token lists and
  returns plain :class:`WordVectors` (a word list and a float32 matrix): nothing of gensim
  escapes this module, and nothing is pickled.
* :func:`word2vec_job` does it on the IMDB training and unlabelled reviews, with the run's
  text pipeline (:func:`core.data.text.tokenize_corpus`), and stores the result as a run of kind
  ``word2vec``: ``vectors.npy`` (loaded with ``allow_pickle=False``), ``words.json`` and
  ``word2vec.json`` (settings, loss per epoch, timings).
* :func:`init_embedding_layer` copies the vectors into a :class:`~core.models.rnn.SentimentRNN`'s
  embedding layer, row by row through the model's vocabulary, frozen or trainable.
* :meth:`WordVectors.neighbours` and :meth:`WordVectors.projection_2d` (PCA) feed the dashboard.

The test split is never read here: the vectors see the training reviews (less the validation
reviews carved from them) and the unlabelled ones only.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core import atomic
from core.config import Word2VecConfig, Word2VecRunConfig

MAX_WORDS_FILE_BYTES = 64 * 2**20  # words.json of 500,000 words is ~10 MB


@dataclass
class WordVectors:
    """Words and their vectors: ``vectors[i]`` belongs to ``words[i]``; most frequent first."""

    words: list[str]
    vectors: np.ndarray  # (V, d) float32
    counts: list[int] = field(default_factory=list)  # training count per word (may be empty)

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(f"{len(self.words)} words but vectors of shape {self.vectors.shape}")
        self.index = {w: i for i, w in enumerate(self.words)}
        self._unit: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def vector(self, word: str) -> np.ndarray:
        if word not in self.index:
            raise KeyError(f"{word!r} has no vector (not in the word2vec vocabulary)")
        return self.vectors[self.index[word]]

    @property
    def unit(self) -> np.ndarray:
        """Rows scaled to length 1 (zero rows stay zero), for cosine similarities."""
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.where(norms > 0, norms, 1.0)
        return self._unit

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.unit[self.index[a]] @ self.unit[self.index[b]]) if a in self and b in self else \
            self._missing(a, b)

    def _missing(self, *words: str) -> float:
        missing = [w for w in words if w not in self]
        raise KeyError(f"no vector for {', '.join(map(repr, missing))}")

    def neighbours(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words with the largest cosine similarity to ``word`` (itself excluded)."""
        if word not in self.index:
            raise KeyError(f"{word!r} has no vector (not in the word2vec vocabulary)")
        i = self.index[word]
        sims = self.unit @ self.unit[i]  # (V,)
        sims[i] = -np.inf
        k = min(k, len(self.words) - 1)
        top = np.argpartition(-sims, k)[:k] if k < len(sims) else np.arange(len(sims))
        top = top[np.argsort(-sims[top], kind="stable")][:k]
        return [(self.words[j], float(sims[j])) for j in top]

    def projection_2d(self, words: Sequence[str] | None = None, top: int = 500) -> dict[str, Any]:
        """A PCA projection to 2D: ``{"words", "x", "y", "counts", "explained_variance_ratio"}``.

        ``words`` (those with a vector) or else the ``top`` most frequent words. The principal
        axes are fitted on the words shown, so the picture spreads them as widely as it can.
        """
        chosen = [w for w in words if w in self.index] if words is not None else self.words[:top]
        if not chosen:
            return {"words": [], "x": [], "y": [], "counts": [], "explained_variance_ratio": [0.0, 0.0]}
        idx = np.array([self.index[w] for w in chosen])
        xy, ratio = pca(self.vectors[idx], 2)
        counts = [self.counts[i] for i in idx] if self.counts else []
        return {"words": chosen, "x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "counts": counts,
                "explained_variance_ratio": ratio.tolist()}

    # -- storage: npy + JSON, never pickle ------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(folder / "vectors.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, self.vectors, allow_pickle=False)
        atomic.write_text(folder / "words.json", json.dumps(
            {"format": "rnnlab-word-vectors", "version": 1, "words": self.words, "counts": self.counts},
            ensure_ascii=False))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> WordVectors:
        """Read ``words.json`` and ``vectors.npy`` back, checking they hold what :meth:`save` writes."""
        folder = Path(folder)
        words_file = folder / "words.json"
        if words_file.stat().st_size > MAX_WORDS_FILE_BYTES:
            raise ValueError(f"{words_file} is larger than {MAX_WORDS_FILE_BYTES // 2**20} MiB")
        try:
            meta = json.loads(words_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"{words_file} is not valid JSON: {e}") from e
        if not isinstance(meta, dict) or meta.get("format") != "rnnlab-word-vectors":
            raise ValueError(f"{words_file} is not an RNN Lab word-vector file")
        words, counts = meta.get("words"), meta.get("counts") or []
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"{words_file}: words must be a list of strings")
        if not isinstance(counts, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise ValueError(f"{words_file}: counts must be a list of integers")
        vectors = np.load(folder / "vectors.npy", allow_pickle=False, mmap_mode="r")
        if vectors.ndim != 2 or vectors.shape[0] != len(words) or vectors.dtype.kind != "f":
            raise ValueError(f"vectors.npy holds {vectors.dtype} {vectors.shape}: expected floats of shape "
                             f"({len(words)}, dim), one row per word of words.json")
        return cls(words, np.array(vectors, dtype=np.float32), counts)


def pca(x: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (N, D) projected on its ``d`` principal axes, and the variance share of each axis."""
    centred = x - x.mean(axis=0)
    # the SVD of the centred data: rows of vt are the principal axes, s**2 their variances
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    total = float((s ** 2).sum())
    ratio = (s[:d] ** 2) / total if total > 0 else np.zeros(min(d, len(s)))
    proj = centred @ vt[:d].T
    if proj.shape[1] < d:  # fewer points or features than axes asked for
        proj = np.pad(proj, ((0, 0), (0, d - proj.shape[1])))
        ratio = np.pad(ratio, (0, d - len(ratio)))
    return proj.astype(np.float32), ratio


# -- training -----------------------------------------------------------------------------------
def fit_word2vec(sentences: Sequence[Sequence[str]], cfg: Word2VecConfig = Word2VecConfig(),
                 progress: Callable[[int, float], None] | None = None) -> tuple[WordVectors, dict[str, Any]]:
    """Train word2vec on ``sentences`` (token lists); returns the vectors and a training log.

    The log holds ``loss_per_epoch`` (gensim's training loss of each epoch), ``epoch_times_s``,
    ``train_time_s``, ``vocab_size`` and ``corpus_tokens``.
    ``progress(epoch, loss)`` is called after each epoch.
    """
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochLog(CallbackAny2Vec):
        def __init__(self) -> None:
            self.losses: list[float] = []
            self.times: list[float] = []
            self.t0 = 0.0

        def on_epoch_begin(self, model: Any) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, model: Any) -> None:
            # gensim accumulates the loss over all epochs in a float32, where later epochs' small
            # increments are lost to rounding: read it and start it again at every epoch
            self.losses.append(float(model.get_latest_training_loss()))
            model.running_training_loss = 0.0
            self.times.append(time.perf_counter() - self.t0)
            if progress is not None:
                progress(len(self.losses), self.losses[-1])

    sentences = [list(s) for s in sentences if len(s)]
    if not sentences:
        raise ValueError("word2vec needs at least one non-empty sentence")
    log = EpochLog()
    t0 = time.perf_counter()
    model = Word2Vec(sentences=sentences, vector_size=cfg.dim, window=cfg.window, min_count=cfg.min_count,
                     sg=1 if cfg.algo == "skipgram" else 0, negative=cfg.negative, sample=cfg.sample,
                     epochs=cfg.epochs, workers=cfg.workers, seed=cfg.seed, compute_loss=True, callbacks=[log])
    train_time = time.perf_counter() - t0
    kv = model.wv
    if len(kv.index_to_key) == 0:
        raise ValueError(f"no word occurs min_count={cfg.min_count} times: the corpus is too small")
    words = list(kv.index_to_key)  # most frequent first (sorted_vocab)
    counts = [int(kv.get_vecattr(w, "count")) for w in words]
    vectors = WordVectors(words, np.array(kv.vectors, dtype=np.float32), counts)
    info = {"loss_per_epoch": log.losses, "epoch_times_s": log.times, "train_time_s": train_time,
            "vocab_size": len(words), "corpus_tokens": int(sum(len(s) for s in sentences)),
            "sentences": len(sentences)}
    return vectors, info


def word2vec_job(ctx: Any, cfg: Word2VecRunConfig) -> None:
    """Train on the IMDB training + unlabelled reviews into ``ctx.run``'s folder (the ``word2vec`` kind).

    ``cfg.data.limit`` caps each split (training and unlabelled) at that many reviews. Writes
    ``vectors.npy``, ``words.json``, ``word2vec.json`` (settings, loss per epoch, timings) and one
    metrics record per epoch. gensim trains without the GIL, so the lifecycle's heartbeat thread
    keeps beating through epochs that outlast the store's crash timeout.
    """
    from core.data.imdb import load_imdb, split_frame
    from core.data.text import tokenize_corpus

    run, w = ctx.run, cfg.word2vec
    t0 = time.perf_counter()
    ctx.progress(phase="loading IMDB")
    frames = split_frame(load_imdb(cfg.data.imdb_path), cfg.data)
    texts = frames["train"]["text"].tolist() + frames["unsup"]["text"].tolist()
    ctx.say(f"preprocessing {len(frames['train'])} training and {len(frames['unsup'])} unlabelled reviews")
    ctx.progress(phase=f"preprocessing {len(texts)} reviews")
    sentences = tokenize_corpus(texts, cfg.text)
    prep_time = time.perf_counter() - t0
    ctx.check_cancel()
    run.cut_metrics(-1)

    def on_epoch(epoch: int, loss: float) -> None:
        ctx.say(f"epoch {epoch}/{w.epochs}: loss {loss:.4g}")
        ctx.progress(phase="training", epoch=epoch, epochs=w.epochs)
        run.append_metrics([{"kind": "epoch", "epoch": epoch - 1, "loss": loss}])
        ctx.check_cancel()

    ctx.say(f"training {w.algo} word2vec (dim {w.dim}, {w.epochs} epochs)")
    vectors, info = fit_word2vec(sentences, w, on_epoch)
    vectors.save(run.path)
    info.update({"reviews_train": len(frames["train"]), "reviews_unsup": len(frames["unsup"]),
                 "preprocess_time_s": prep_time})
    run.write_json("word2vec.json", info)


# -- loading and using stored vectors ---------------------------------------------------------------
def default_runs_dir() -> Path:
    """``$RNNLAB_RUNS_DIR`` (set for launched jobs) or ``$RNNLAB_HOME/runs``."""
    from core.paths import runs_dir

    env = os.environ.get("RNNLAB_RUNS_DIR")
    return Path(env) if env else runs_dir()


def load_vectors(run_id: str, runs_dir: str | os.PathLike | None = None) -> WordVectors:
    """The vectors of a stored ``word2vec`` run."""
    from core.jobs.store import RunStore

    run = RunStore(runs_dir or default_runs_dir()).get(run_id)
    if run.kind != "word2vec":
        raise ValueError(f"run {run.id} is a {run.kind!r} run, not a word2vec run")
    if not run.file("vectors.npy").is_file():
        raise ValueError(f"word2vec run {run.id} has no vectors (status: {run.status().get('state')})")
    return WordVectors.load(run.path)


def init_embedding_layer(model: Any, vocab: Any, run_id: str | WordVectors, freeze: bool = False,
                         runs_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Copy word2vec vectors into ``model.embedding``, row by row through ``vocab``.

    Rows of words that have a vector get it; the others (and ``<unk>``) keep their random
    initialisation, rescaled to the vectors' standard deviation so both kinds of row start on
    one scale; ``<pad>`` stays zero. ``freeze`` stops the layer training (the trainer only
    optimises parameters that require gradients). ``run_id`` may also be :class:`WordVectors`.
    Returns ``{"found", "missing", "coverage", "run_id", "frozen"}``; coverage is the share of
    the vocabulary's words (specials excluded) that got a vector.
    """
    import torch

    from core.data.text import PAD_ID

    emb = getattr(model, "embedding", None)
    if emb is None:
        raise ValueError("this model has no embedding layer (real-valued inputs)")
    wv = run_id if isinstance(run_id, WordVectors) else load_vectors(run_id, runs_dir)
    rows, dim = emb.weight.shape
    if wv.dim != dim:
        raise ValueError(f"word2vec vectors have {wv.dim} dimensions but the model's embedding has {dim}: "
                         f"train with --embedding-dim {wv.dim}")
    if len(vocab) != rows:
        raise ValueError(f"vocabulary of {len(vocab)} words but an embedding of {rows} rows")
    ids = [i for i, w in enumerate(vocab.itos) if i > PAD_ID and w in wv]
    src = [wv.index[vocab.itos[i]] for i in ids]
    with torch.no_grad():
        w = emb.weight
        std = float(wv.vectors[src].std()) if src else float(wv.vectors.std())
        w.mul_(std / max(float(w[2:].std()) if rows > 3 else 1.0, 1e-12))
        if ids:
            w[torch.tensor(ids)] = torch.from_numpy(wv.vectors[src]).to(w.dtype)
        w[PAD_ID].zero_()
    emb.weight.requires_grad_(not freeze)
    words = max(rows - 2, 0)
    return {"run_id": run_id if isinstance(run_id, str) else None, "found": len(ids), "missing": words - len(ids),
            "coverage": len(ids) / words if words else 0.0, "frozen": freeze}
