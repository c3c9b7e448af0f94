"""The encoded corpus (IMDB, or a dataset added with ``data add``): texts -> tokens -> vocabulary ids, cached on disk.

Tokenising 75,000 reviews takes tens of seconds; every run with the same data and text
settings reuses the result. The cache key covers the source (its Parquet cache file), the
split settings and every text setting, so changing any of them re-encodes. Arrays are stored
as one concatenated int32 vector plus offsets per split (``.npz``): loading is instant.

Not here: parsing the archive (``core.data.imdb``), the pipeline itself (``core.data.text``), batching
(``core.data.batching``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnnlab.core import atomic
from rnnlab.core.config import DataConfig, TextConfig
from rnnlab.core.data.batching import encode_corpus
from rnnlab.core.data.datasets import dataset_name, load_frames, resolve_data, source_key
from rnnlab.core.data.text import PIPELINE_VERSION, Vocabulary, tokenize_corpus
from rnnlab.core.paths import data_dir

SPLITS = ("train", "val", "test")


@dataclass
class EncodedSplit:
    ids: list[np.ndarray]  # one int64 array of token ids per review
    labels: np.ndarray  # (N,) float32 class ids 0..K-1
    review_ids: np.ndarray  # (N,) the archive's review ids, to find the text again
    ratings: np.ndarray  # (N,) 1-10 stars

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.ids], dtype=np.int64)


@dataclass
class Corpus:
    vocab: Vocabulary
    splits: dict[str, EncodedSplit]
    key: str
    classes: list[str]  # the dataset's class names: label i is classes[i] (IMDB: negative, positive)


def _cache_key(source_key: str, data: DataConfig, text: TextConfig) -> str:
    # the Parquet cache's name already changes with the source's contents (core.data.imdb)
    d = {"source": source_key, "val_size": data.val_size, "split_seed": data.split_seed, "limit": data.limit,
         "text": asdict(text), "pipeline": PIPELINE_VERSION, "format": 2}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _save(path: Path, corpus: Corpus) -> None:
    arrays = {}
    for name, s in corpus.splits.items():
        lens = np.array([len(x) for x in s.ids], dtype=np.int64)
        arrays[f"{name}_flat"] = np.concatenate(s.ids).astype(np.int32) if len(s.ids) else np.zeros(0, np.int32)
        arrays[f"{name}_offsets"] = np.concatenate([[0], np.cumsum(lens)])
        arrays[f"{name}_labels"] = s.labels
        arrays[f"{name}_review_ids"] = s.review_ids
        arrays[f"{name}_ratings"] = s.ratings
    path.mkdir(parents=True, exist_ok=True)
    corpus.vocab.save(path / "vocab.json")
    atomic.write_json(path / "classes.json", corpus.classes)
    with atomic.atomic_path(path / "encoded.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _load(path: Path, key: str) -> Corpus:
    vocab = Vocabulary.load(path / "vocab.json")
    z = np.load(path / "encoded.npz", allow_pickle=False)
    splits = {}
    for name in SPLITS:
        flat, off = z[f"{name}_flat"].astype(np.int64), z[f"{name}_offsets"]
        ids = [flat[off[i]:off[i + 1]] for i in range(len(off) - 1)]
        splits[name] = EncodedSplit(ids, z[f"{name}_labels"], z[f"{name}_review_ids"], z[f"{name}_ratings"])
    classes = json.loads((path / "classes.json").read_text(encoding="utf-8"))
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise ValueError("classes.json is damaged")
    return Corpus(vocab, splits, key, classes)


def load_corpus(data: DataConfig, text: TextConfig, progress: Callable[[str], None] | None = None) -> Corpus:
    """Encoded train / val / test splits and the training vocabulary, from cache when possible.

    ``data`` names the dataset (:mod:`core.data.datasets`); a ``val_size`` of none is fitted to it first.
    """
    say = progress or (lambda msg: None)
    if data.val_size is None:
        data = resolve_data(data)
    key = _cache_key(source_key(data), data, text)
    path = data_dir() / "encoded" / key
    if (path / "encoded.npz").is_file() and (path / "vocab.json").is_file() and (path / "classes.json").is_file():
        try:
            return _load(path, key)
        except (OSError, ValueError, KeyError):
            say("encoded cache unreadable: rebuilding it")
    say(f"loading {dataset_name(data.dataset)}")
    frames = load_frames(data)
    classes = list(frames["train"].attrs["classes"])
    tokens = {}
    for name in SPLITS:
        say(f"preprocessing {name} ({len(frames[name])} texts)")
        tokens[name] = tokenize_corpus(frames[name]["text"].tolist(), text)
    # the vocabulary sees the training split only: validation and test words it never met map to <unk>
    vocab = Vocabulary.build(tokens["train"], max_size=text.max_vocab, min_freq=text.min_freq)
    splits = {}
    for name in SPLITS:
        df = frames[name]
        ids = encode_corpus(tokens[name], vocab, text.max_len, text.truncate)
        splits[name] = EncodedSplit(ids, df["label"].to_numpy(np.float32), df["id"].to_numpy(np.int64),
                                    df["rating"].to_numpy(np.int64))
    corpus = Corpus(vocab, splits, key, classes)
    _save(path, corpus)
    return corpus
