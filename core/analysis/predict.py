"""Live classification: any text, one or several stored runs at once (RNN runs and the GMM-HMM).

A text goes through the run's own preprocessing and vocabulary and is encoded exactly as the
run's training batches were (:mod:`core.data.batching`: cut to ``max_len`` the run's way, an empty
review read as one ``<unk>``, front-padded to ``max_len`` for the seed's fixed batches or read
at its own last token for bucketed ones), then scored. Edge cases are answered, not crashed
on: an empty text, stop words only, unknown words only (the model then sees only ``<unk>``),
HTML, emoji, other languages, and texts longer than ``max_len`` (truncated the way the run was
trained, and reported). Each answer carries the tokens the model read, notes on any of these, and
every word of the text with what became of it (``reading``: ``core.data.text.reading`` as dicts --
read, or a stop word, unknown, cut by ``max_len``, removed), so a dropped "not" is seen, not lost.

Bounds. A text is read up to ``MAX_TEXT_CHARS`` characters (the rest is ignored, and reported);
:func:`read_text` reads a file or standard input for the command line under the same number as a
byte cap, never loading more than one byte past it, and refuses what is not UTF-8 text. Loaded runs
are cached until their weights change, within ``MODEL_CACHE_BYTES`` (:class:`core.analysis.cache.ByteLRU`).

Not here: training, introspection of gates and states (:mod:`core.analysis.introspect`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from rnnlab.core.analysis.cache import ByteLRU
from rnnlab.core.config import TEXT_TASK, ModelConfig, RunConfig, TextConfig
from rnnlab.core.data.batching import bucket_batches, encode_corpus, fixed_batches
from rnnlab.core.data.datasets import IMDB_CLASSES, dataset_classes
from rnnlab.core.data.text import UNKNOWN, preprocess, reading
from rnnlab.core.jobs.names import CLASSES_FILE, HMM_ARRAYS_FILE, WEIGHTS_FILE
from rnnlab.core.jobs.store import DamagedRun, Run, RunStore
from rnnlab.core.models.checkpoint import CheckpointError, load_model
from rnnlab.core.models.hmm import HMMClassifier, LoadedHMM, classify_text

MAX_TEXT_CHARS = 1_000_000  # longer input is cut before preprocessing (and reported); read_text's byte cap
# loaded models and vocabularies kept in memory (least recently used dropped first): a default LSTM
# (20,000 words of 100 dimensions) weighs ~10 MB with its vocabulary, so this holds about 25 of them
MODEL_CACHE_BYTES = 256 * 2**20


@dataclass
class LoadedRun:
    run_id: str
    cfg: RunConfig
    model: torch.nn.Module
    vocab: Any  # core.data.text.Vocabulary
    classes: list[str] = field(default_factory=lambda: list(IMDB_CLASSES))  # in label order (IMDB's by default)


@dataclass
class EncodedText:
    """One text as a run's model reads it."""

    tokens: list[str]  # the tokens the model reads, in order (after truncation); [] if none survived
    ids: np.ndarray  # (T,) int64 vocabulary ids of ``tokens``; [0] (one <unk>) for an empty text
    x: torch.Tensor  # (1, T_in) model input: ids, front-padded to max_len for fixed batching
    lengths: torch.Tensor | None  # (1,) for bucketed runs (read at the last token), None for fixed ones
    n_raw_tokens: int  # tokens after preprocessing, before truncation
    truncated: bool  # tokens were cut to max_len
    clipped_chars: bool  # the text was longer than MAX_TEXT_CHARS and was cut before preprocessing
    padding: int  # <pad> steps in front of the first real token (fixed batching)


_MODELS = ByteLRU(MODEL_CACHE_BYTES)


def _load(path: str) -> Any:
    run = Run(Path(path))
    if run.kind == "hmm":
        return load_hmm_run(run)
    if run.kind != "rnn":
        raise ValueError(f"run {run.id} is a {run.kind!r} run: it does not classify text")
    cfg = run.config()
    if cfg.train.task != TEXT_TASK:
        raise ValueError(f"run {run.id} was trained on the {cfg.train.task!r} task, not on text")
    if not run.file(WEIGHTS_FILE).is_file():
        raise ValueError(f"run {run.id} has no trained weights yet (status: {run.status().get('state')})")
    classes = run_classes(run, cfg.data.dataset)
    # the stored config says one output; a K-class run trained K
    model_cfg = replace(run.model_config(), output_size=1 if len(classes) == 2 else len(classes))
    return LoadedRun(run.id, cfg, _run_model(run, model_cfg), run.vocabulary(), classes)


class DamagedWeights(DamagedRun, CheckpointError):
    """A run whose weights file fails its checks: the run is damaged (``run ID is damaged: model.safetensors: why``),
    and it is still the :class:`~core.models.checkpoint.CheckpointError` that callers of a load already catch."""


def _run_model(run: Run, model_cfg: ModelConfig) -> torch.nn.Module:
    """The run's model with its weights; a weights file that fails its checks (its digest included) makes the run
    damaged, named the way every damaged file is."""
    try:
        return load_model(model_cfg, run.file(WEIGHTS_FILE))
    except CheckpointError as e:
        raise DamagedWeights(run.id, WEIGHTS_FILE, str(e).removeprefix(f"{WEIGHTS_FILE} ")) from None


def run_classes(run: Run, dataset: str | None) -> list[str]:
    """The class names a text run (an RNN or a GMM-HMM) trained on: its ``classes.json`` (written by the job),
    else its dataset's (a run stored before every run kept its classes)."""
    if run.file(CLASSES_FILE).is_file():
        return run.read_json(CLASSES_FILE)  # checked: two or more distinct names (core.jobs.files)
    return dataset_classes(dataset)


def load_hmm_run(run: Run) -> LoadedHMM:
    """A fitted ``hmm`` run's classifier, vocabulary and token vectors (``hmm.npz`` read without pickle)."""
    if run.kind != "hmm":
        raise ValueError(f"run {run.id} is not an hmm run")
    if not run.file(HMM_ARRAYS_FILE).is_file():
        raise ValueError(f"hmm run {run.id} has no fitted parameters yet (status: {run.status().get('state')})")
    job = run.job_config()
    with np.load(run.file(HMM_ARRAYS_FILE), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    clf = HMMClassifier.from_arrays(job.hmm, arrays)
    classes = run_classes(run, job.data.dataset)
    if len(classes) != len(clf.models):
        raise ValueError(f"run {run.id} is damaged: {len(clf.models)} class models for {len(classes)} classes")
    return LoadedHMM(run.id, job.hmm, job.text, clf, run.vocabulary(), arrays["token_vectors"].astype(np.float32),
                     arrays["has_vector"].astype(bool), classes)


def _weights_file(run: Run) -> Path:
    return run.file(HMM_ARRAYS_FILE) if run.kind == "hmm" else run.file(WEIGHTS_FILE)


def load_run(run: Run) -> Any:
    """The run's model (:class:`LoadedRun`, or :class:`core.models.hmm.LoadedHMM` for an ``hmm`` run) and
    vocabulary, cached until its weights file changes."""
    weights = _weights_file(run)
    mtime = weights.stat().st_mtime_ns if weights.exists() else 0
    return _MODELS.get_or_compute((str(run.path), mtime), lambda: _load(str(run.path)))


def loaded_rnn(run: Any, runs_dir: Any = None, what: str = "introspection") -> LoadedRun:
    """A recurrent run's :class:`LoadedRun` from a run id (in ``runs_dir``), a :class:`Run` or a :class:`LoadedRun`;
    any other kind of run is refused, saying that ``what`` needs a recurrent network."""
    if isinstance(run, LoadedRun):
        return run
    if isinstance(run, str):
        run = RunStore(runs_dir).get(run)
    if not isinstance(run, Run):
        raise TypeError(f"expected a run id, Run or LoadedRun, got {type(run).__name__}")
    if run.kind != "rnn":
        raise ValueError(f"run {run.id} is a {run.kind!r} run: {what} needs a recurrent network")
    return load_run(run)


def _tokens(text: str, cfg: TextConfig) -> tuple[list[str], bool]:
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    return preprocess(text[:MAX_TEXT_CHARS], cfg), len(text) > MAX_TEXT_CHARS


def cut(tokens: list[str], cfg: TextConfig) -> list[str]:
    """``tokens`` cut to ``cfg.max_len`` the way the corpus was (``core.data.batching.encode_corpus``)."""
    if len(tokens) <= cfg.max_len:
        return tokens
    return tokens[-cfg.max_len:] if cfg.truncate == "pre" else tokens[:cfg.max_len]


def encode_text(lr: LoadedRun, text: str) -> EncodedText:
    """Tokens, ids and the model input for one text, exactly as the run's batches were built."""
    tcfg = lr.cfg.text
    raw, clipped = _tokens(text, tcfg)
    tokens = cut(raw, tcfg)
    [ids] = encode_corpus([tokens], lr.vocab, tcfg.max_len, tcfg.truncate)  # empty -> [0]
    if lr.cfg.train.batching == "fixed":  # the seed's front padding to exactly max_len
        batch = next(fixed_batches([ids], [0.0], 1, tcfg.max_len))
        lengths = None
    else:
        batch = next(bucket_batches([ids], [0.0], 1, shuffle=False))
        lengths = batch.lengths
    return EncodedText(tokens, ids, batch.tokens, lengths, len(raw), len(raw) > tcfg.max_len, clipped,
                       batch.tokens.shape[1] - len(ids))


def _reading(text: str, cfg: TextConfig, unknown: list[bool]) -> list[dict[str, Any]]:
    """``core.data.text.reading`` of ``text`` as the model read it, as dicts: its read tokens flagged in
    ``unknown`` (one flag per token the model read, in order) are marked unknown."""
    flags = iter(unknown)
    out = []
    for f in reading(text[:MAX_TEXT_CHARS], cfg):
        if f.read and next(flags, False):
            f = replace(f, reason=UNKNOWN)
        out.append(asdict(f))
    return out


def reading_notes(n_tokens: int, unknown: int, truncated: bool, n_raw: int, cfg: TextConfig, clipped: bool,
           what: str = "<unk>") -> list[str]:
    notes = []
    if not n_tokens:
        notes.append("no tokens left after preprocessing: the prediction reflects only the model's bias")
    elif unknown == n_tokens:
        notes.append(f"every token is unknown to the vocabulary: the model saw only {what}")
    elif unknown > n_tokens / 2:
        notes.append(f"{unknown} of {n_tokens} tokens are unknown to the vocabulary (is the text English?)")
    if truncated:
        notes.append(f"text longer than the model's limit: {n_raw} tokens, {cfg.max_len} kept "
                     f"({cfg.truncate}-truncation: the {'first' if cfg.truncate == 'pre' else 'last'} "
                     f"{n_raw - cfg.max_len} dropped)")
    if clipped:
        notes.append(f"text longer than {MAX_TEXT_CHARS} characters: the rest was ignored")
    return notes


@torch.no_grad()
def classify(lr: Any, text: str) -> dict[str, Any]:
    """Probability, label, the tokens used and the reading of every word, for one text and one loaded run.

    ``probability`` is p(label 1) for a two-class run (IMDB: p(positive)) and the predicted class's
    probability for a K-class one; ``classes`` and ``probabilities`` (one per class name) say the rest,
    and ``label`` is one of the class names.
    """
    t0 = time.perf_counter()
    if not isinstance(lr, LoadedRun):
        return _classify_hmm(lr, text, t0)
    enc = encode_text(lr, text)
    out = lr.model(enc.x, enc.lengths)
    names = list(lr.classes)
    if len(names) > 2:  # K logits: softmax over the classes
        probs = torch.softmax(out.reshape(-1).double(), dim=0).tolist()
        best = int(np.argmax(probs))
        prob, label, logit = probs[best], names[best], float(out.reshape(-1)[best])
        extra = {"probabilities": dict(zip(names, probs, strict=True)), "logits": [float(v) for v in out.reshape(-1)]}
    else:
        logit = float(out)
        prob = 1.0 / (1.0 + math.exp(-logit)) if logit >= 0 else math.exp(logit) / (1.0 + math.exp(logit))
        label = names[1] if prob >= 0.5 else names[0]
        extra = {"probabilities": {names[0]: 1.0 - prob, names[1]: prob}}
    extra["classes"] = names
    unknown = int((enc.ids == 0).sum()) if enc.tokens else 0
    flags = [bool(i == 0) for i in enc.ids] if enc.tokens else []
    return {"run_id": lr.run_id, "kind": "rnn", "model": lr.cfg.model.cell, "probability": prob,
            "label": label, "logit": logit, **extra, "tokens": enc.tokens,
            "unknown": flags, "reading": _reading(text, lr.cfg.text, flags), "text_config": asdict(lr.cfg.text),
            "n_tokens": len(enc.tokens), "unknown_tokens": unknown, "n_raw_tokens": enc.n_raw_tokens,
            "max_len": lr.cfg.text.max_len, "truncated": enc.truncated or enc.clipped_chars,
            "notes": reading_notes(len(enc.tokens), unknown, enc.truncated, enc.n_raw_tokens, lr.cfg.text,
                            enc.clipped_chars),
            "latency_ms": (time.perf_counter() - t0) * 1e3}


def _classify_hmm(lh: LoadedHMM, text: str, t0: float) -> dict[str, Any]:
    raw, clipped = _tokens(text, lh.text)
    tokens = cut(raw, lh.text)
    out = classify_text(lh, tokens)
    flags = [not u for u in out["used"]]
    unknown = sum(flags)
    notes = reading_notes(len(tokens), unknown, len(raw) > lh.text.max_len, len(raw), lh.text, clipped,
                   what="words without a vector: it has nothing to score")
    return {"run_id": lh.run_id, "kind": "hmm", "model": "gmmhmm", "probability": out["probability"],
            "label": out["label"], "logit": out["logit"], "classes": list(lh.classes),
            "probabilities": out["probabilities"], "tokens": tokens,
            "unknown": flags, "reading": _reading(text, lh.text, flags), "text_config": asdict(lh.text),
            "n_tokens": len(tokens), "unknown_tokens": unknown,
            "n_raw_tokens": len(raw), "max_len": lh.text.max_len, "truncated": len(raw) > lh.text.max_len or clipped,
            "notes": notes, "log_likelihood_per_token": out["log_likelihood_per_token"],
            "viterbi_states": out["viterbi_states"], "latency_ms": (time.perf_counter() - t0) * 1e3}


def predict_runs(run_ids: list[str], text: str, runs_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Classify ``text`` with every run in ``run_ids`` (RNN runs and ``hmm`` runs alike)."""
    store = RunStore(runs_dir)
    return [classify(load_run(store.get(rid)), text) for rid in run_ids]


# -- reading a text for the command line ------------------------------------------------------------------------
def read_text(source: str | os.PathLike, limit: int = MAX_TEXT_CHARS, stdin: BinaryIO | None = None
              ) -> tuple[str, list[str]]:
    """The UTF-8 text of the file ``source`` (``"-"``: standard input), and notes on what was cut.

    At most ``limit`` bytes are kept (one more is read, to know whether there was more); a longer
    input is cut at the last whole character before the cap, and a note says so. Raises
    ``ValueError`` with a message naming the problem for a missing file, a directory, an unreadable
    file and input that is not UTF-8 (refused rather than guessed: a wrong guess would classify
    garbled words without a word of warning). A UTF-8 byte-order mark is dropped.
    """
    name = "standard input" if str(source) == "-" else str(source)
    if str(source) == "-":
        stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise ValueError("no standard input to read the text from")
        data = stream.read(limit + 1)
    else:
        data = _read_file(Path(source), limit + 1)
    cut = len(data) > limit
    text = _decode(data[:limit], name, final=not cut)
    notes = []
    if cut:
        notes.append(f"{name} is longer than {limit:,} bytes: only its first {limit:,} were read")
    elif not text:
        notes.append(f"{name} is empty")
    return text, notes


def _read_file(path: Path, n: int) -> bytes:
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a text file")
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except PermissionError:
        raise ValueError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None


def _decode(data: bytes, name: str, final: bool) -> str:
    import codecs

    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise ValueError(f"{name} is UTF-16 text: save it as UTF-8 (e.g. `iconv -f utf-16 -t utf-8`)")
    # an incremental decoder holds back a character the byte cap cut in half instead of failing on it
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    try:
        return decoder.decode(data, final=final)
    except UnicodeDecodeError as e:
        at = e.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)  # the mark was skipped
        raise ValueError(f"{name} is not UTF-8 text (byte 0x{data[at]:02x} at offset {at}): is it a "
                         f"binary file? Save text as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)") from None
