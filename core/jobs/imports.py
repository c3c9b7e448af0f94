"""Runs made elsewhere, imported: a text classifier's files, or word vectors in the word2vec format.

:func:`import_run` adds an RNN run trained elsewhere from its ``config.json``, ``model.safetensors``
and ``vocab.json``; :func:`import_vectors_run` stores a word2vec-format file as a finished ``word2vec``
run. Both check everything before anything is written (a pickle is refused before anything parses
it; sizes, shapes and bounds are checked from headers), assemble the run beside the store and rename
it in complete, so a half-imported run is never listed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rnnlab.core.config import TEXT_TASK, RunConfig, Word2VecConfig, Word2VecRunConfig, config_from_dict
from rnnlab.core.data.text import Vocabulary, vocabulary_problem
from rnnlab.core.jobs.files import config_problems
from rnnlab.core.jobs.names import CONFIG_FILE, FINISHED, VOCAB_FILE, WEIGHTS_FILE, WORD2VEC_FILE
from rnnlab.core.jobs.store import Run, RunStore, new_run_id
from rnnlab.core.models.checkpoint import CheckpointError, load_model, weights_problems
from rnnlab.core.models.safetensors_header import MAX_SAFETENSORS_HEADER_BYTES, HeaderError, parse_safetensors_header
from rnnlab.core.models.word2vec import read_word2vec_file

# -- a text classifier trained elsewhere -------------------------------------------------------------------------
MAX_IMPORT_JSON_BYTES = 64 * 2**20  # a 20,000-word vocabulary is ~1 MB; this only stops absurd files


def _json_upload(data: bytes | str, name: str) -> dict:
    if len(data) > MAX_IMPORT_JSON_BYTES:
        raise CheckpointError(f"{name} is {len(data)} bytes: far too large for an RNN Lab {name}")
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{name} is not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"{name} must hold a JSON object")
    return obj


def _import_problems(config: bytes | str, weights: bytes, vocab: bytes | str) -> tuple[list[str], Any, Any]:
    """Everything wrong with an upload, checked without building anything: (problems, run config, vocabulary).

    The config against its fields' bounds, the vocabulary's shape, the weights' header (names,
    shapes, dtypes, no tensor data) against the shapes the config implies and the vocabulary's length.
    """
    problems: list[str] = []
    cfg = voc = header = None
    try:
        body = _json_upload(config, CONFIG_FILE)
        sections = {k: v for k, v in body.items() if k in ("data", "text", "model", "train")}
        found = config_problems(RunConfig, sections, sections_required=False)
        problems += [f"config.json: {p}" for p in found]
        if not found:
            cfg = config_from_dict(RunConfig, sections)
            if cfg.train.task != TEXT_TASK:
                problems.append(f"config.json: only text (imdb) runs can be imported; this one was trained on "
                                f"{cfg.train.task!r}")
                cfg = None
    except CheckpointError as e:
        problems.append(str(e))
    try:
        d = _json_upload(vocab, VOCAB_FILE)
        why = vocabulary_problem(d)
        if why:
            problems.append(f"vocab.json is not an RNN Lab vocabulary: {why}")
        else:
            voc = Vocabulary.from_dict(d)
    except CheckpointError as e:
        problems.append(str(e))
    try:
        header = parse_safetensors_header(bytes(weights[:8 + MAX_SAFETENSORS_HEADER_BYTES]), len(weights))
    except HeaderError as e:
        problems.append(f"model.safetensors is not a valid safetensors file: {e}")
    emb = header.get("embedding.weight") if header is not None else None
    if emb is not None and voc is not None and emb.shape[:1] != (len(voc),):
        problems.append(f"vocab.json has {len(voc):,} entries, but the embedding in model.safetensors has "
                        f"{emb.shape[0]:,} rows (the config expects one row per entry)")
    if header is not None and cfg is not None:
        # what the model really is: a text classifier with one logit. Its embedding's rows are judged
        # against the vocabulary above; here every other dimension against the config.
        rows = emb.shape[0] if emb is not None and len(emb.shape) == 2 else (len(voc) if voc is not None else 2)
        try:
            model_cfg = replace(cfg.model, input_size=None, output_size=1, vocab_size=rows)
        except ValueError as e:
            problems.append(f"model.safetensors: an embedding of {rows:,} rows: {e}")
        else:
            problems += [f"model.safetensors: {p}" for p in weights_problems(model_cfg, header)]
    return problems, cfg, voc


def import_run(store: RunStore, config: bytes | str, weights: bytes, vocab: bytes | str, *,
               label: str | None = None) -> Run:
    """Add a run trained elsewhere from its ``config.json``, ``model.safetensors`` and ``vocab.json``.

    Everything is validated before anything is built or written, and every problem is reported
    at once: the config must be an RNN Lab run config (unknown fields refused, every value within
    its bounds) of a text task, the vocabulary an RNN Lab vocabulary, and the weights safetensors
    (never a pickle) whose header declares exactly the tensors the config and vocabulary imply
    (names, shapes, dtypes; read without the tensor data); then the weights are loaded into the
    model and must be finite. The folder is assembled beside the store and renamed into it, so a
    half-imported run is never listed. The run is ``finished`` with ``imported: true`` and has no
    test metrics until evaluated. Raises :class:`CheckpointError` listing what does not fit.
    """
    if label is not None and not label.replace("-", "").replace("_", "").isalnum():
        raise CheckpointError(f"label {label!r} may hold only letters, digits, '-' and '_'")
    head = bytes(weights[:9])  # refuse a pickle before anything parses it (see _refuse_pickle)
    if head[8:9] != b"{" and (head[:2] == b"PK" or head[:1] == b"\x80"):
        raise CheckpointError("model.safetensors is a pickle/torch.save file; only safetensors checkpoints "
                              "are accepted")
    problems, cfg, voc = _import_problems(config, weights, vocab)
    if problems:
        raise CheckpointError("cannot import: " + "; ".join(problems))
    cfg = replace(cfg, model=replace(cfg.model, input_size=None, output_size=1))
    model_cfg = replace(cfg.model, vocab_size=len(voc))

    store.root.mkdir(parents=True, exist_ok=True)
    now = time.time_ns()
    run_id = new_run_id(label or cfg.model.cell, now)
    staging = store.root.parent / f".import-{run_id}"
    staging.mkdir(parents=True)
    try:
        (staging / WEIGHTS_FILE).write_bytes(weights)
        load_model(model_cfg, staging / WEIGHTS_FILE)  # the tensors themselves: finite, as declared
        run = Run(staging)
        voc.save(run.file(VOCAB_FILE))
        run.write_status({"state": FINISHED, "process": None, "imported": True, FINISHED: time.time()})
        run.write_json(CONFIG_FILE, {**cfg.to_dict(), "kind": "rnn", "label": label, "created": now / 1e9,
                                       "imported": True})
        target = store.root / run_id
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Run(target)


# -- word vectors in the word2vec format ----------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def import_vectors_run(path: str | os.PathLike, store: RunStore, *, label: str | None = None,
                       binary: bool | None = None, source: str | None = None) -> Run:
    """Store the word2vec file at ``path`` as a finished ``word2vec`` run of ``store`` (a ``RunStore``); returns it.

    The file is read and checked first (:func:`core.models.word2vec.import_word2vec`): a bad file creates nothing. The
    run is made by :meth:`~core.jobs.store.RunStore.create` (its config a
    :class:`~core.config.Word2VecRunConfig` whose ``dim`` is the vectors' and ``min_count`` 1:
    every word of the file has a vector; ``imported: true``) in a folder beside the store and
    renamed into it complete, so no half-imported run is ever listed. It holds ``vectors.npy``,
    ``words.json`` and ``word2vec.json``, which says where the vectors came from (``source``:
    file name, format, size, SHA-256; ``source`` overrides the name shown, e.g. an upload's).
    The Train page, the HMM and the Embeddings page then use it like a trained run.
    """
    if label is not None and not label.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"label {label!r} may hold only letters, digits, '-' and '_'")
    path = Path(path)
    wv, was_binary = read_word2vec_file(path, binary)
    cfg = Word2VecRunConfig(word2vec=Word2VecConfig(dim=wv.dim, min_count=1))
    store.root.mkdir(parents=True, exist_ok=True)
    staging = RunStore(store.root.parent / f".import-word2vec-{secrets.token_hex(4)}")
    try:
        run = staging.create(cfg, label=label or "word2vec-imported", extra={"imported": True})
        wv.save(run.path)
        run.write_json(WORD2VEC_FILE, {
            "imported": True, "vocab_size": len(wv), "dim": wv.dim,
            "source": {"file": source or path.name, "format": "word2vec binary" if was_binary else "word2vec text",
                       "bytes": path.stat().st_size, "sha256": file_sha256(path)}})
        run.write_status({"state": FINISHED, "process": None, "imported": True, FINISHED: time.time()})
        target = store.root / run.id
        run.path.rename(target)
    finally:
        shutil.rmtree(staging.root, ignore_errors=True)
    return Run(target)
