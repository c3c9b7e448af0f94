"""Token ids for each review, and the two ways of cutting a split into padded batches.

* :func:`encode_corpus`: token lists -> one int64 array of vocabulary ids per review, cut to
  ``max_len``. An empty review (everything removed by preprocessing) becomes a single
  ``<unk>`` (id 0), so every review has length >= 1 and a model always reads a real step.
* :func:`fixed_batches`: the seed's scheme. Every review is padded at the *front* to exactly
  ``max_len`` with ``<pad>`` (id 1), so position ``T-1`` is always the review's last real token
  and a model may read its final state there.
* :func:`bucket_batches`: reviews of similar length share a batch, padded at the *end* to the
  batch's longest review; a model reads each review's state at ``lengths - 1`` (or packs the
  batch). Far less padding, hence far less compute (see :func:`padding_stats`).

Both yield :class:`Batch` tuples on the CPU. :class:`DeviceSplit` holds a whole encoded split
on a device (a GPU) and cuts the same batches there, so no token crosses the bus after the
first upload. Not here: tokenising (``core.data.text``), caching the encoded corpus (``core.data.corpus``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple

import numpy as np
import torch

from rnnlab.core.data.text import PAD_ID, UNK_ID, Vocabulary

TRUNCATE = ("pre", "post")


class Batch(NamedTuple):
    tokens: torch.Tensor  # (B, T) int64 token ids, padded with PAD_ID
    lengths: torch.Tensor  # (B,) int64 real tokens per review, 1 <= length <= T
    labels: torch.Tensor  # (B,) float32 0/1, for BCE-with-logits
    index: torch.Tensor  # (B,) int64 positions of the reviews in the encoded split

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return Batch(*(t.to(device, non_blocking=non_blocking) for t in self))


def encode_corpus(token_lists: Sequence[Sequence[str]], vocab: Vocabulary, max_len: int | None,
                  truncate: str = "pre") -> list[np.ndarray]:
    """One int64 id array per review; unknown words -> 0, empty reviews -> ``[0]``.

    ``truncate="pre"`` keeps the last ``max_len`` tokens (drops the start: the verdict is often
    at the end), ``"post"`` keeps the first ``max_len``. ``max_len=None`` keeps everything.
    The arrays are views into one shared buffer (a single lookup pass over all tokens).
    """
    if truncate not in TRUNCATE:
        raise ValueError(f"unknown truncate {truncate!r}; expected one of {TRUNCATE}")
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be >= 1 or None, got {max_len}")
    cut: list[Sequence[str]] = []
    for tokens in token_lists:
        if max_len is not None and len(tokens) > max_len:
            tokens = tokens[-max_len:] if truncate == "pre" else tokens[:max_len]
        cut.append(tokens)
    lengths = np.fromiter((len(t) for t in cut), dtype=np.int64, count=len(cut))
    get = vocab.stoi.get
    flat = np.fromiter((get(w, UNK_ID) for w in chain.from_iterable(cut)), dtype=np.int64,
                       count=int(lengths.sum()))
    # an empty review reads as one <unk>: insert a 0 where its (empty) slice would be
    empty = np.flatnonzero(lengths == 0)
    if len(empty):
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        flat = np.insert(flat, starts[empty], UNK_ID)
        lengths[empty] = 1
    return np.split(flat, np.cumsum(lengths)[:-1]) if len(cut) else []


def lengths_of(encoded: Sequence[np.ndarray]) -> np.ndarray:
    """(N,) int64 lengths of the encoded reviews."""
    return np.fromiter((len(x) for x in encoded), dtype=np.int64, count=len(encoded))


Labels = Sequence[float] | np.ndarray


def _check(encoded: Sequence[np.ndarray], labels: Labels, batch_size: int) -> np.ndarray:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    labels = np.asarray(labels, dtype=np.float32)
    if labels.shape != (len(encoded),):
        raise ValueError(f"{len(encoded)} reviews but labels of shape {labels.shape}")
    return labels


def _order(n: int, shuffle: bool, generator: torch.Generator | None) -> np.ndarray:
    if not shuffle:
        return np.arange(n)
    return torch.randperm(n, generator=generator).numpy()


def _pad(encoded: Sequence[np.ndarray], labels: np.ndarray, idx: np.ndarray, lengths: np.ndarray, width: int,
         front: bool) -> Batch:
    lens = lengths[idx]  # (B,)
    cols = np.arange(width)  # (T,)
    # where the real tokens go: the last lens[i] columns (front padding) or the first ones
    mask = cols >= (width - lens)[:, None] if front else cols < lens[:, None]  # (B, T)
    tokens = np.full((len(idx), width), PAD_ID, dtype=np.int64)
    # boolean assignment fills row by row, left to right: the order of the concatenated reviews
    tokens[mask] = np.concatenate([encoded[i] for i in idx])
    return Batch(torch.from_numpy(tokens), torch.from_numpy(lens.copy()), torch.from_numpy(labels[idx]),
                 torch.from_numpy(idx.astype(np.int64)))


def fixed_batches(encoded: Sequence[np.ndarray], labels: Labels, batch_size: int, max_len: int,
                  shuffle: bool = False, generator: torch.Generator | None = None) -> Iterator[Batch]:
    """The seed's batches: ``(B, max_len)``, every review front-padded with ``<pad>``.

    The last column always holds each review's last real token. ``lengths`` are the real
    lengths. Reviews longer than ``max_len`` are an error (encode with the same ``max_len``).
    The last batch may be smaller. ``shuffle`` draws the order from ``generator``.
    """
    labels = _check(encoded, labels, batch_size)
    lengths = lengths_of(encoded)
    for idx, width, front in batch_plan("fixed", lengths, batch_size, max_len, shuffle, generator):
        yield _pad(encoded, labels, idx, lengths, width, front)


def bucket_order(lengths: np.ndarray, batch_size: int, shuffle: bool = True,
                 generator: torch.Generator | None = None,
                 bucket_size_multiplier: int = 50) -> list[np.ndarray]:
    """The reviews of each bucketed batch, as index arrays (every review exactly once).

    The (shuffled) order is cut into chunks of ``batch_size * bucket_size_multiplier``; each
    chunk is sorted by decreasing length (stable, so equal lengths keep the shuffled order) and
    cut into batches; then the order of all batches is shuffled. Within a batch, lengths
    therefore decrease, as ``pack_padded_sequence(enforce_sorted=True)`` wants.
    """
    if bucket_size_multiplier < 1:
        raise ValueError(f"bucket_size_multiplier must be >= 1, got {bucket_size_multiplier}")
    order = _order(len(lengths), shuffle, generator)
    chunk = batch_size * bucket_size_multiplier
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    if shuffle:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def bucket_batches(encoded: Sequence[np.ndarray], labels: Labels, batch_size: int,
                   shuffle: bool = True, generator: torch.Generator | None = None,
                   bucket_size_multiplier: int = 50) -> Iterator[Batch]:
    """Length-bucketed batches, end-padded with ``<pad>`` to the batch's longest review.

    Read a review's final state at ``lengths - 1``. Every review appears exactly once per pass;
    the same ``generator`` seed gives the same batches. See :func:`bucket_order`.
    """
    labels = _check(encoded, labels, batch_size)
    lengths = lengths_of(encoded)
    for idx, width, front in batch_plan("bucket", lengths, batch_size, 0, shuffle, generator, bucket_size_multiplier):
        yield _pad(encoded, labels, idx, lengths, width, front)


def batch_plan(mode: str, lengths: np.ndarray, batch_size: int, max_len: int, shuffle: bool = False,
               generator: torch.Generator | None = None,
               bucket_size_multiplier: int = 50) -> Iterator[tuple[np.ndarray, int, bool]]:
    """``(reviews, width, front-padded)`` of each batch of a pass, before any padding is done.

    ``fixed``: the (shuffled) order cut into batches of ``max_len`` columns, front-padded;
    ``bucket``: :func:`bucket_order`'s batches, each as wide as its longest review, end-padded.
    The CPU batchers and :class:`DeviceSplit` pad these same plans, so both cut identical batches.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if mode == "fixed":
        if len(lengths) and lengths.max() > max_len:
            raise ValueError(f"a review has {lengths.max()} tokens > max_len={max_len}; "
                             "encode the corpus with the same max_len first")
        order = _order(len(lengths), shuffle, generator)
        for start in range(0, len(order), batch_size):
            yield order[start:start + batch_size], max_len, True
    elif mode == "bucket":
        for idx in bucket_order(lengths, batch_size, shuffle, generator, bucket_size_multiplier):
            yield idx, int(lengths[idx].max()), False
    else:
        raise ValueError(f"unknown batching {mode!r}; expected 'fixed' or 'bucket'")


def make_batches(mode: str, encoded: Sequence[np.ndarray], labels: Labels, batch_size: int, max_len: int,
                 shuffle: bool = False, generator: torch.Generator | None = None) -> Iterator[Batch]:
    """``fixed_batches`` or ``bucket_batches`` by name (``TrainConfig.batching``)."""
    if mode == "fixed":
        return fixed_batches(encoded, labels, batch_size, max_len, shuffle, generator)
    if mode == "bucket":
        return bucket_batches(encoded, labels, batch_size, shuffle, generator)
    raise ValueError(f"unknown batching {mode!r}; expected 'fixed' or 'bucket'")


class DeviceSplit:
    """An encoded split resident on ``device``: one flat token vector, offsets, lengths, labels.

    :meth:`batches` yields exactly the batches of :func:`make_batches` (same order, same padding,
    same generator draws: the order is still drawn on the CPU) but pads them on the device by a
    gather, so a GPU trainer never waits for a host-to-device copy of tokens.
    """

    def __init__(self, encoded: Sequence[np.ndarray], labels: Labels, device: torch.device | str):
        self.device = torch.device(device)
        self.labels_np = _check(encoded, labels, 1)
        self.lengths_np = lengths_of(encoded)
        flat = np.concatenate(encoded) if len(encoded) else np.zeros(0, np.int64)
        self.flat = torch.as_tensor(flat, dtype=torch.int64).to(self.device)
        starts = np.concatenate([[0], np.cumsum(self.lengths_np)[:-1]]) if len(encoded) else np.zeros(0, np.int64)
        self.starts = torch.as_tensor(starts, dtype=torch.int64).to(self.device)
        self.lengths = torch.as_tensor(self.lengths_np).to(self.device)
        self.labels = torch.as_tensor(self.labels_np).to(self.device)

    def __len__(self) -> int:
        return len(self.lengths_np)

    def pad(self, idx: np.ndarray, width: int, front: bool) -> Batch:
        """The reviews ``idx`` as one ``(B, width)`` batch, padded at the front or the end."""
        index = torch.as_tensor(idx, dtype=torch.int64).to(self.device, non_blocking=True)
        lens, starts = self.lengths[index], self.starts[index]  # (B,)
        cols = torch.arange(width, device=self.device)  # (T,)
        # column c of row b holds token (c - offset_b) of its review, where offset_b is the padding before it
        pos = cols - (width - lens)[:, None] if front else cols.expand(len(index), -1)  # (B, T)
        real = (pos >= 0) & (pos < lens[:, None])
        # padding cells read some real token (clamped into range) and are then overwritten
        gathered = self.flat[(starts[:, None] + pos.clamp(min=0)).clamp(max=len(self.flat) - 1)]
        tokens = torch.where(real, gathered, torch.full_like(gathered, PAD_ID))
        return Batch(tokens, lens, self.labels[index], index)

    def batches(self, mode: str, batch_size: int, max_len: int, shuffle: bool = False,
                generator: torch.Generator | None = None) -> Iterator[Batch]:
        """``fixed`` or ``bucket`` batches, as :func:`make_batches` would cut them, on the device."""
        for idx, width, front in batch_plan(mode, self.lengths_np, batch_size, max_len, shuffle, generator):
            yield self.pad(idx, width, front)


@dataclass(frozen=True)
class PaddingStats:
    batches: int
    real_tokens: int  # sum of lengths
    slots: int  # sum of B * T: the time steps a model computes

    @property
    def fraction(self) -> float:
        """Share of the computed steps that are padding."""
        return 1.0 - self.real_tokens / self.slots if self.slots else 0.0


def padding_stats(batches: Iterable[Batch]) -> PaddingStats:
    """How much of the computed ``(B, T)`` grid is padding, over ``batches``."""
    n = real = slots = 0
    for b in batches:
        n += 1
        real += int(b.lengths.sum())
        slots += b.tokens.numel()
    return PaddingStats(n, real, slots)
