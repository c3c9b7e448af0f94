"""Word2vec embeddings (the seed's section 2.2.8): train, store, look up, initialise a model with them.

* :func:`fit_word2vec` trains gensim's ``Word2Vec`` (CBOW or skip-gram) on token lists and
  returns plain :class:`WordVectors` (a word list and a float32 matrix): nothing of gensim
  escapes this module, and nothing is pickled.
* :meth:`WordVectors.save` and :meth:`WordVectors.load` store them as ``vectors.npy`` (loaded with
  ``allow_pickle=False``) and ``words.json``; the ``word2vec`` job (:mod:`core.jobs.word2vec`) trains
  them on a dataset's texts into a run folder.
* :func:`init_embedding_layer` copies the vectors into a :class:`~core.models.rnn.SentimentRNN`'s
  embedding layer, row by row through the model's vocabulary, frozen or trainable.
* :meth:`WordVectors.neighbours` and :meth:`WordVectors.projection_2d` (PCA) feed the dashboard.
* :func:`export_word2vec` and :func:`import_word2vec` write and read the word2vec text and binary
  formats (gensim's ``save_word2vec_format`` / ``load_word2vec_format``), within bounds checked
  before anything is allocated (:mod:`core.jobs.imports` stores such a file as a ``word2vec`` run).

What it is not: reading or writing run folders (``core.jobs``), choosing the texts (the job does).
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

from rnnlab.core import atomic
from rnnlab.core.config import EMBEDDING_MAX, VOCAB_MAX, Word2VecConfig, default_min_count
from rnnlab.core.data.text import PAD_ID

MAX_WORDS_FILE_BYTES = 64 * 2**20  # words.json of 500,000 words is ~10 MB
MAX_WORD2VEC_FILE_BYTES = 2**30  # a word2vec file read at most (GloVe's 400,000 x 300 text file is ~1.0e9 bytes)
MAX_WORD2VEC_HEADER_BYTES = 64  # "<words> <dims>\n"
# one word, in bytes: the word2vec C tool keeps words under 100 bytes (MAX_STRING) and GloVe's under 1,000
# (MAX_STRING_LENGTH); 4 KiB leaves room for tools that do not truncate. gensim's binary reader copies its
# 100 KB chunk again for every chunk a word spans, so a 200 MB word took minutes: it never sees one now
MAX_WORD_BYTES = 4096
MAX_VALUE_CHARS = 64  # one value of a text file ("-1.2345678901234567e-308" is 24)
SCAN_CHUNK_BYTES = 2**20  # what the word scan of a binary file reads at a time
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".lz4", ".zst", ".zip")  # gensim's reader would inflate these


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
    min_count = cfg.min_count if cfg.min_count is not None else default_min_count(len(sentences))
    too_small = (f"no word occurs min_count={min_count} times in the {len(sentences):,} texts: the corpus is too "
                 f"small for it; lower min_count")
    log = EpochLog()
    t0 = time.perf_counter()
    try:
        model = Word2Vec(sentences=sentences, vector_size=cfg.dim, window=cfg.window, min_count=min_count,
                         sg=1 if cfg.algo == "skipgram" else 0, negative=cfg.negative, sample=cfg.sample,
                         epochs=cfg.epochs, workers=cfg.workers, seed=cfg.seed, compute_loss=True, callbacks=[log])
    except RuntimeError as e:  # gensim's "you must first build vocabulary": no word kept
        if "vocabulary" in str(e):
            raise ValueError(too_small) from None
        raise
    train_time = time.perf_counter() - t0
    kv = model.wv
    if len(kv.index_to_key) == 0:
        raise ValueError(too_small)
    words = list(kv.index_to_key)  # most frequent first (sorted_vocab)
    counts = [int(kv.get_vecattr(w, "count")) for w in words]
    vectors = WordVectors(words, np.array(kv.vectors, dtype=np.float32), counts)
    info = {"loss_per_epoch": log.losses, "epoch_times_s": log.times, "train_time_s": train_time,
            "min_count": min_count, "vocab_size": len(words), "corpus_tokens": int(sum(len(s) for s in sentences)),
            "sentences": len(sentences)}
    return vectors, info


# -- initialising a model's embedding ------------------------------------------------------------------
def init_embedding_layer(model: Any, vocab: Any, wv: WordVectors, freeze: bool = False) -> dict[str, Any]:
    """Copy word2vec vectors into ``model.embedding``, row by row through ``vocab``.

    Rows of words that have a vector get it; the others (and ``<unk>``) keep their random
    initialisation, rescaled to the vectors' standard deviation so both kinds of row start on
    one scale; ``<pad>`` stays zero. ``freeze`` stops the layer training (the trainer only
    optimises parameters that require gradients).
    Returns ``{"found", "missing", "coverage", "frozen"}``; coverage is the share of
    the vocabulary's words (specials excluded) that got a vector.
    """
    import torch

    emb = getattr(model, "embedding", None)
    if emb is None:
        raise ValueError("this model has no embedding layer (real-valued inputs)")
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
    return {"found": len(ids), "missing": words - len(ids), "coverage": len(ids) / words if words else 0.0,
            "frozen": freeze}


# -- the word2vec exchange format (text and binary) -------------------------------------------------
class Word2VecFormatError(ValueError):
    """A file that is not a word2vec file RNN Lab accepts: says which file and why."""


def export_word2vec(wv: WordVectors, path: str | os.PathLike, binary: bool = False) -> Path:
    """Write ``wv`` in the word2vec format: text (``"<words> <dims>"``, then ``word v1 ... vd`` per line) or binary.

    The words keep their order (most frequent first). A word holding whitespace cannot be written
    in this format and is refused, as are non-finite values. Written to a temporary name and
    renamed into place; returns the path.
    """
    from gensim.models import KeyedVectors

    path = Path(path)
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        raise ValueError(f"{path.name}: write an uncompressed file (compressed word2vec files are not read back)")
    if not len(wv):
        raise ValueError("no word vectors to export")
    bad = next((w for w in wv.words if not w or any(c.isspace() for c in w)), None)
    if bad is not None:
        raise ValueError(f"the word {bad!r} is empty or holds whitespace: the word2vec format cannot store it")
    if not np.isfinite(wv.vectors).all():
        row = int(np.flatnonzero(~np.isfinite(wv.vectors).all(axis=1))[0])
        raise ValueError(f"the vector of {wv.words[row]!r} holds a NaN or an infinity")
    kv = KeyedVectors(vector_size=wv.dim, dtype=np.float32)
    kv.add_vectors(wv.words, wv.vectors)
    kv.allocate_vecattrs(attrs=["count"], types=[np.int64])  # gensim writes by falling count: keep our order
    kv.expandos["count"][:] = np.arange(len(wv), 0, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(path) as tmp:  # the temporary name ends in .tmp: gensim writes it uncompressed
        kv.save_word2vec_format(str(tmp), binary=binary, write_header=True)
    return path


def _read_header(path: Path) -> tuple[int, int, int]:
    """``(words, dims, header bytes)`` from the first line, each within RNN Lab's bounds."""
    with open(path, "rb") as f:
        head = f.read(MAX_WORD2VEC_HEADER_BYTES)
    end = head.find(b"\n")
    fields = head[:end].split() if end >= 0 else []
    if len(fields) != 2 or not all(x.isdigit() for x in fields):
        shown = head[:end if end >= 0 else 40].decode("utf-8", "replace")
        raise Word2VecFormatError(f"{path.name}: the first line must be '<words> <dimensions>' (two whole numbers), "
                                  f"not {shown!r}: not a word2vec file (a GloVe file has no header line)")
    words, dims = int(fields[0]), int(fields[1])
    if not 1 <= words <= VOCAB_MAX:
        raise Word2VecFormatError(f"{path.name}: its header declares {words:,} words; RNN Lab reads 1 to "
                                  f"{VOCAB_MAX:,}")
    if not 1 <= dims <= EMBEDDING_MAX:
        raise Word2VecFormatError(f"{path.name}: its header declares {dims:,} dimensions; RNN Lab reads 1 to "
                                  f"{EMBEDDING_MAX:,}")
    return words, dims, end + 1


def _first_word_end(path: Path, start: int) -> None:
    """Refuse a file whose first word runs past :data:`MAX_WORD_BYTES`, from a bounded read, before its format is told.

    Both formats start an entry with ``word`` and a space; a longer first word would otherwise pass
    for raw float bytes and send a text file to gensim's binary reader.
    """
    with open(path, "rb") as f:
        f.seek(start)
        head = f.read(MAX_WORD_BYTES + 2)  # the word, its space, and a line break the C tool may put first
    if len(head) == MAX_WORD_BYTES + 2 and head.find(b" ") < 0:
        raise Word2VecFormatError(f"{path.name}: its first word runs past {MAX_WORD_BYTES:,} bytes (MAX_WORD_BYTES) "
                                  f"with no space after it: not a word2vec file")


def _looks_binary(path: Path, start: int, dims: int) -> bool:
    """Whether the first entry after the header is raw float32 bytes rather than ``word v1 ... vd`` text."""
    with open(path, "rb") as f:
        f.seek(start)
        line = f.readline(4096 + 40 * dims)
    try:
        parts = line.decode("utf-8").rstrip().split(" ")
        if len(parts) != dims + 1:
            return True
        [float(x) for x in parts[1:]]
    except (UnicodeDecodeError, ValueError):
        return True
    return False


def _text_line_cap(dims: int) -> int:
    """The longest line a text file may hold: a word of :data:`MAX_WORD_BYTES`, ``dims`` values and the spaces."""
    return MAX_WORD_BYTES + dims * (MAX_VALUE_CHARS + 1) + 2


def _check_text_lines(path: Path, start: int, words: int, dims: int) -> None:
    """One pass over a text file: each of the ``words`` lines a UTF-8 word and ``dims`` values, nothing after.

    Each line is read with a bound (:func:`_text_line_cap`): a longer one is refused unread.
    """
    cap = _text_line_cap(dims)
    with open(path, "rb") as f:
        f.seek(start)
        for i in range(words):
            line = f.readline(cap + 1)
            where = f"{path.name}, line {i + 2:,}"
            if not line:
                raise Word2VecFormatError(f"{path.name} is truncated: its header declares {words:,} words but it ends "
                                          f"after {i:,}")
            word_end = line.find(b" ", 0, MAX_WORD_BYTES + 1)
            if word_end < 0 and len(line) > MAX_WORD_BYTES:
                raise Word2VecFormatError(f"{where}: the word runs past {MAX_WORD_BYTES:,} bytes (MAX_WORD_BYTES)")
            if len(line) > cap:
                raise Word2VecFormatError(f"{where}: the line runs past {cap:,} bytes: {dims} values take at most "
                                          f"{MAX_VALUE_CHARS} characters each")
            parts = line.rstrip().split(b" ")
            try:
                parts[0].decode("utf-8")
            except UnicodeDecodeError:
                raise Word2VecFormatError(f"{where}: the word {parts[0][:40]!r} is not UTF-8") from None
            if len(parts) - 1 != dims:
                raise Word2VecFormatError(f"{where}: {len(parts) - 1} values where the header declares {dims} "
                                          f"dimensions" + (" (is the file truncated?)" if not line.endswith(b"\n")
                                                           else ""))
            if not line.endswith(b"\n"):  # every writer ends each line: a last value may have lost digits
                raise Word2VecFormatError(f"{where}: the file ends inside this line: it is truncated (if it is "
                                          f"complete, end its last line with a line break)")
        if f.read(4096).strip():
            raise Word2VecFormatError(f"{path.name} holds more lines than the {words:,} words its header declares")


def _check_binary_words(path: Path, start: int, words: int, dims: int) -> None:
    """One pass over a binary file's words, each within :data:`MAX_WORD_BYTES`, read in bounded chunks.

    An entry is ``word``, a space and ``4 * dims`` bytes (the C tool puts a line break before the
    next word, which gensim skips); the vectors are stepped over, never read here.
    """
    window = MAX_WORD_BYTES + 2  # the word, its space, and one line break before it
    with open(path, "rb") as f:
        buf, buf_at, entry = b"", start, start  # the chunk in hand, its offset in the file, the next entry's
        for i in range(words):
            rel = entry - buf_at
            if rel < 0 or rel + window > len(buf):  # the entry's word may run past the chunk: read from it on
                f.seek(entry)
                buf, buf_at, rel = f.read(max(SCAN_CHUNK_BYTES, window)), entry, 0
            space = buf.find(b" ", rel, rel + window)
            if space < 0:
                if rel + window > len(buf):
                    raise Word2VecFormatError(f"{path.name} is truncated: it ends inside word {i + 1:,} of the "
                                              f"{words:,} its header declares")
                raise Word2VecFormatError(f"{path.name}: word {i + 1:,} (at byte {entry:,}) runs past "
                                          f"{MAX_WORD_BYTES:,} bytes (MAX_WORD_BYTES)")
            entry = buf_at + space + 1 + 4 * dims


def import_word2vec(path: str | os.PathLike, binary: bool | None = None, *,
                    max_bytes: int = MAX_WORD2VEC_FILE_BYTES) -> WordVectors:
    """Read a word2vec file (text or binary; ``binary=None``: told from its content) as :class:`WordVectors`.

    Checked before gensim allocates anything: the file's size (``max_bytes``), its header
    ``"<words> <dims>"`` (at most ``core.config.VOCAB_MAX`` words and ``EMBEDDING_MAX``
    dimensions), that the file is large enough to hold what the header declares, and every word
    within :data:`MAX_WORD_BYTES` (from bounded reads: gensim's binary reader is quadratic in a
    word's length); a text file's lines are checked too (UTF-8 words, ``dims`` values each, each
    line read with a bound). After reading: no word twice,
    every value finite, a binary file's bytes all accounted for. Nothing is unpickled. Every
    failure is a :class:`Word2VecFormatError` naming the file and what is wrong. The words keep
    the file's order; there are no counts (the format has none).
    """
    return read_word2vec_file(Path(path), binary, max_bytes)[0]


def read_word2vec_file(path: Path, binary: bool | None, max_bytes: int = MAX_WORD2VEC_FILE_BYTES
                       ) -> tuple[WordVectors, bool]:
    """:func:`import_word2vec`'s work: the vectors and whether the file was binary."""
    from gensim.models import KeyedVectors

    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        raise Word2VecFormatError(f"{path.name} looks compressed: decompress it first (the size of a compressed "
                                  f"file says nothing of what it holds)")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise Word2VecFormatError(f"cannot read {path}: {e.strerror or e}") from None
    if not path.is_file():
        raise Word2VecFormatError(f"{path} is not a file")
    if size > max_bytes:
        raise Word2VecFormatError(f"{path.name} has {size:,} bytes; RNN Lab reads word2vec files of at most "
                                  f"{max_bytes:,} bytes")
    words, dims, start = _read_header(path)
    _first_word_end(path, start)
    if binary is None:
        binary = _looks_binary(path, start, dims)
    # the least each entry takes: "w " + 4 bytes a value (binary), "w" + " 0" a value + a line end (text)
    least = start + words * (2 + 4 * dims) if binary else start + words * (2 + 2 * dims) - 1
    if size < least:
        raise Word2VecFormatError(f"{path.name} is truncated or its header is wrong: {words:,} words of {dims} "
                                  f"dimensions take at least {least:,} bytes in the {'binary' if binary else 'text'} "
                                  f"format, and the file has {size:,}")
    if binary:
        _check_binary_words(path, start, words, dims)
    else:
        _check_text_lines(path, start, words, dims)
    try:
        kv = KeyedVectors.load_word2vec_format(str(path), binary=binary, unicode_errors="strict")
    except EOFError:
        raise Word2VecFormatError(f"{path.name} is truncated: it ends before the {words:,} words of {dims} dimensions "
                                  f"its header declares") from None
    except UnicodeDecodeError as e:
        raise Word2VecFormatError(f"{path.name}: a word is not UTF-8 ({e.reason} at byte {e.start}): is the header's "
                                  f"dimension right?") from None
    except ValueError as e:
        raise Word2VecFormatError(f"{path.name}: not a word2vec {'binary' if binary else 'text'} file: {e}") from None
    found = [w for w in kv.index_to_key if isinstance(w, str)]  # gensim leaves a None where it skipped a repeat
    if len(found) != words or len(kv.vectors) != words:
        raise Word2VecFormatError(f"{path.name}: {words - len(found):,} of its {words:,} words appear twice")
    vectors = np.asarray(kv.vectors, dtype=np.float32)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise Word2VecFormatError(f"{path.name}: the vector of {found[bad]!r} holds a NaN or an infinity "
                                  f"({int((~finite).sum()):,} such words)")
    if binary:  # every byte is a word, its space, its vector, or a line end the C tool writes between entries
        used = start + sum(len(w.encode("utf-8")) + 1 + 4 * dims for w in found)
        if not 0 <= size - used <= words + 1:
            raise Word2VecFormatError(f"{path.name}: {size - used:,} bytes beyond {words:,} words of {dims} "
                                      f"dimensions: the header's word count or dimension is wrong")
    return WordVectors(found, vectors), binary


def word2vec_text(wv: WordVectors) -> bytes:
    """``wv`` in the word2vec text format, as bytes (a download button's data)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rnnlab-w2v-") as d:
        return export_word2vec(wv, Path(d) / "vectors.txt").read_bytes()
