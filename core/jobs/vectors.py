"""Which word2vec run a job reads: the one its config names, one found in the store, or one to train first.

Two kinds of job read word2vec vectors: a training whose embedding layer starts from them
(``TrainConfig.embeddings``) and the GMM-HMM (``HMMConfig.embeddings``). :func:`resolve_vectors`
is the one place that turns what a config asks for into a run id before the job is created:

* a run id: kept, after checking that the run exists and its vectors fit (one dimension each);
* a training's :data:`~core.config.AUTO_VECTORS` (``"auto"``, what the ``best`` preset sets): the newest
  finished word2vec run trained on the same texts (dataset and ``limit``) through the same
  preprocessing (:data:`PIPELINE`) at the embedding's size -- vectors for exactly the tokens the
  run will see;
* a GMM-HMM's none: the newest finished word2vec run on the dataset, or an imported one.

When the store holds no such run, the second value returned is the skip-gram job to run first; the
caller (the CLI, a page, a sweep) runs or queues it before the job and names its run id in the
config (:func:`with_vectors`). A training whose ``auto`` reaches the job unresolved takes what
:func:`find_vectors` finds there, or stops with a message saying how to get vectors.

Not here: training the vectors (``core.jobs.word2vec``), loading them (``core.jobs.word2vec.load_vectors``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rnnlab.core.config import AUTO_VECTORS, HMMRunConfig, RunConfig, TextConfig, Word2VecConfig, Word2VecRunConfig
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.jobs.word2vec import vectors_runs

# the text settings that decide the tokens word2vec learns from (vocabulary and length limits do not)
PIPELINE = ("lowercase", "expand_abbreviations", "strip_html", "remove_non_alnum", "strip_whitespace",
            "remove_stopwords", "keep_negations")


def same_pipeline(a: TextConfig, b: TextConfig) -> bool:
    """Whether two text configs turn a text into the same tokens (:data:`PIPELINE`; with stop words kept, keeping
    negations changes nothing)."""
    def tokens(t: TextConfig) -> tuple:
        return tuple(getattr(t, k) if k != "keep_negations" or t.remove_stopwords else None for k in PIPELINE)

    return tokens(a) == tokens(b)


def find_vectors(cfg: RunConfig, store: RunStore) -> str | None:
    """The newest finished word2vec run that suits a training with ``embeddings = "auto"``, or None.

    It must be trained on the run's dataset and ``limit`` through the same :data:`PIPELINE`, with
    vectors of the embedding's size.
    """
    for run_id in vectors_runs(store, cfg.data.dataset):
        try:
            run = store.get(run_id)
            if run.config_dict().get("imported"):  # vectors from a file: no pipeline to compare
                continue
            w = run.job_config()
        except (OSError, ValueError, KeyError):
            continue
        if (w.data.limit == cfg.data.limit and w.word2vec.dim == cfg.model.embedding_dim
                and same_pipeline(w.text, cfg.text)):
            return run_id
    return None


def resolve_vectors(cfg: Any, store: RunStore) -> tuple[Any, Word2VecRunConfig | None]:
    """``cfg`` with the word2vec run it reads named, and the word2vec job to run first when there is none.

    ``cfg`` is a :class:`~core.config.RunConfig` or a :class:`~core.config.HMMRunConfig`; any other
    config, and a training without vectors, comes back unchanged. Raises ``KeyError`` for a named run
    that is not in the store and ``ValueError`` for vectors whose size does not fit.
    """
    if isinstance(cfg, HMMRunConfig):
        return _resolve_hmm(cfg, store)
    if not isinstance(cfg, RunConfig) or not cfg.train.embeddings:
        return cfg, None
    if cfg.train.embeddings != AUTO_VECTORS:
        store.get(cfg.train.embeddings)  # KeyError: named, but not here
        return cfg, None
    found = find_vectors(cfg, store)
    if found is not None:
        return with_vectors(cfg, found), None
    return cfg, Word2VecRunConfig(data=cfg.data, text=cfg.text,
                                  word2vec=Word2VecConfig(dim=cfg.model.embedding_dim))


def with_vectors(cfg: Any, run_id: str) -> Any:
    """``cfg`` reading the vectors of word2vec run ``run_id``."""
    if isinstance(cfg, HMMRunConfig):
        return replace(cfg, hmm=replace(cfg.hmm, embeddings=run_id))
    return replace(cfg, train=replace(cfg.train, embeddings=run_id))


def _resolve_hmm(cfg: HMMRunConfig, store: RunStore) -> tuple[HMMRunConfig, Word2VecRunConfig | None]:
    """The GMM-HMM's vectors: named, else the newest on its dataset (or imported), else skip-gram trained first
    on at most ``cfg.hmm.limit`` training and unlabelled texts."""
    if cfg.hmm.embeddings:
        run_id = store.get(cfg.hmm.embeddings).id
    else:
        found = vectors_runs(store, cfg.data.dataset)
        if not found:
            first = Word2VecRunConfig(data=replace(cfg.data, limit=cfg.hmm.limit), text=cfg.text)
            _check_dim(cfg, first.word2vec.dim, "the skip-gram vectors it would train first")
            return cfg, first
        run_id = found[0]
    _check_dim(cfg, store.get(run_id).job_config().word2vec.dim, f"word2vec run {run_id}")
    return with_vectors(cfg, run_id), None


def _check_dim(cfg: HMMRunConfig, dim: int, what: str) -> None:
    """The PCA keeps at most as many dimensions as the vectors have: refuse a larger ``hmm.dim`` before the fit."""
    if cfg.hmm.dim > dim:
        raise ValueError(f"hmm.dim={cfg.hmm.dim} is more than the {dim} dimensions of {what}; use {dim} or fewer")
