"""Encoding token lists to ids, and fixed (front-padded) versus length-bucketed batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.core.data.batching import (
    Batch,
    DeviceSplit,
    bucket_batches,
    encode_corpus,
    fixed_batches,
    lengths_of,
    make_batches,
    padding_stats,
)
from rnnlab.core.data.text import PAD_ID, UNK_ID, Vocabulary


@pytest.fixture
def vocab() -> Vocabulary:
    return Vocabulary.build([["a", "b", "c", "d", "e"]] * 2 + [["a", "b"]], max_size=None, min_freq=1)


def skewed_corpus(n: int, seed: int = 0, max_len: int = 500) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` reviews with long-tailed lengths (like IMDB's), ids >= 2, and 0/1 labels."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(mean=4.5, sigma=0.7, size=n).astype(int), 1, max_len)
    encoded = [rng.integers(2, 100, size=n_tok).astype(np.int64) for n_tok in lengths]
    return encoded, rng.integers(0, 2, size=n).astype(np.float32)


# -- encode_corpus ---------------------------------------------------------------------------------
def test_encode_corpus_maps_words_to_ids_and_unknown_words_to_unk(vocab: Vocabulary) -> None:
    out = encode_corpus([["a", "zzz", "c"], ["e"]], vocab, max_len=10, truncate="pre")
    assert [x.tolist() for x in out] == [[vocab.stoi["a"], UNK_ID, vocab.stoi["c"]], [vocab.stoi["e"]]]
    assert all(x.dtype == np.int64 for x in out)


def test_encode_corpus_turns_empty_reviews_into_one_unk(vocab: Vocabulary) -> None:
    out = encode_corpus([[], ["a"], [], [], ["b", "c"], []], vocab, max_len=5, truncate="pre")
    a, b, c = vocab.stoi["a"], vocab.stoi["b"], vocab.stoi["c"]
    assert [x.tolist() for x in out] == [[UNK_ID], [a], [UNK_ID], [UNK_ID], [b, c], [UNK_ID]]


@pytest.mark.parametrize(("truncate", "expected"), [("pre", ["c", "d", "e"]), ("post", ["a", "b", "c"])])
def test_encode_corpus_truncates_at_the_chosen_end(vocab: Vocabulary, truncate: str,
                                                   expected: list[str]) -> None:
    out = encode_corpus([["a", "b", "c", "d", "e"], ["a", "b"]], vocab, max_len=3, truncate=truncate)
    assert vocab.decode(out[0]) == expected
    assert vocab.decode(out[1]) == ["a", "b"]


def test_encode_corpus_without_max_len_keeps_everything(vocab: Vocabulary) -> None:
    tokens = ["a", "b"] * 400
    assert len(encode_corpus([tokens], vocab, max_len=None)[0]) == 800


@pytest.mark.parametrize(("max_len", "truncate"), [(10, "middle"), (0, "pre")])
def test_encode_corpus_rejects_bad_settings(vocab: Vocabulary, max_len: int, truncate: str) -> None:
    with pytest.raises(ValueError):
        encode_corpus([["a"]], vocab, max_len=max_len, truncate=truncate)


def test_encode_corpus_of_no_reviews_is_empty(vocab: Vocabulary) -> None:
    assert encode_corpus([], vocab, max_len=5) == []


# -- fixed batches ---------------------------------------------------------------------------------
def test_fixed_batches_pad_every_review_at_the_front_to_max_len() -> None:
    encoded, labels = skewed_corpus(23, max_len=40)
    batches = list(fixed_batches(encoded, labels, batch_size=5, max_len=40))
    assert [b.tokens.shape for b in batches] == [(5, 40)] * 4 + [(3, 40)]
    for b in batches:
        assert b.tokens.dtype == torch.int64 and b.lengths.dtype == torch.int64
        assert b.labels.dtype == torch.float32 and b.index.dtype == torch.int64
        assert (b.tokens[:, -1] != PAD_ID).all()  # the last step is always a real token
        for row, length, i in zip(b.tokens, b.lengths, b.index, strict=True):
            n = int(length)
            assert n == len(encoded[i])
            assert (row[:40 - n] == PAD_ID).all()
            assert row[40 - n:].tolist() == encoded[i].tolist()
        assert b.labels.tolist() == labels[b.index.numpy()].tolist()
    assert torch.cat([b.index for b in batches]).tolist() == list(range(23))


def test_fixed_batches_shuffle_is_a_seeded_permutation() -> None:
    encoded, labels = skewed_corpus(50, max_len=60)

    def order(seed: int) -> list[int]:
        gen = torch.Generator().manual_seed(seed)
        batches = fixed_batches(encoded, labels, 8, 60, shuffle=True, generator=gen)
        return torch.cat([b.index for b in batches]).tolist()

    assert sorted(order(0)) == list(range(50))
    assert order(0) == order(0)
    assert order(0) != order(1)


def test_fixed_batches_refuse_reviews_longer_than_max_len() -> None:
    with pytest.raises(ValueError, match="max_len"):
        list(fixed_batches([np.arange(2, 12)], [1.0], batch_size=1, max_len=5))


def test_batches_refuse_labels_that_do_not_match_the_reviews() -> None:
    with pytest.raises(ValueError):
        list(fixed_batches([np.array([2]), np.array([3])], [1.0], batch_size=1, max_len=5))


# -- bucket batches --------------------------------------------------------------------------------
def bucket_pass(encoded: list[np.ndarray], labels: np.ndarray, seed: int, batch_size: int = 16,
                multiplier: int = 4) -> list[Batch]:
    gen = torch.Generator().manual_seed(seed)
    return list(bucket_batches(encoded, labels, batch_size, shuffle=True, generator=gen,
                               bucket_size_multiplier=multiplier))


def test_bucket_batches_hold_every_review_exactly_once_end_padded() -> None:
    encoded, labels = skewed_corpus(301)
    batches = bucket_pass(encoded, labels, seed=0)
    seen = torch.cat([b.index for b in batches]).tolist()
    assert sorted(seen) == list(range(301))
    for b in batches:
        assert b.tokens.shape[1] == int(b.lengths.max())  # no column of padding only
        assert b.lengths.tolist() == sorted(b.lengths.tolist(), reverse=True)
        for row, length, i in zip(b.tokens, b.lengths, b.index, strict=True):
            n = int(length)
            assert row[:n].tolist() == encoded[i].tolist()
            assert (row[n:] == PAD_ID).all()
        assert b.labels.tolist() == labels[b.index.numpy()].tolist()


def test_bucket_batches_pad_far_less_than_fixed_batches_on_skewed_lengths() -> None:
    encoded, labels = skewed_corpus(2000)
    fixed = padding_stats(fixed_batches(encoded, labels, 50, max_len=500))
    gen = torch.Generator().manual_seed(0)
    bucket = padding_stats(bucket_batches(encoded, labels, 50, shuffle=True, generator=gen))
    assert fixed.real_tokens == bucket.real_tokens == int(lengths_of(encoded).sum())
    assert fixed.fraction > 0.5
    assert bucket.fraction < 0.1
    assert bucket.slots < fixed.slots / 3


def test_bucket_batches_are_deterministic_for_a_seed_and_differ_across_seeds() -> None:
    encoded, labels = skewed_corpus(300)

    def order(seed: int) -> list[list[int]]:
        return [b.index.tolist() for b in bucket_pass(encoded, labels, seed)]

    assert order(3) == order(3)
    assert order(3) != order(4)
    assert sorted(sum(order(4), [])) == list(range(300))


def test_bucket_batches_shuffle_the_order_of_batches_not_only_their_reviews() -> None:
    encoded, labels = skewed_corpus(400)
    # one chunk holds the whole corpus: sorted by length, so only the batch shuffle breaks the order
    gen = torch.Generator().manual_seed(0)
    batches = bucket_batches(encoded, labels, 20, shuffle=True, generator=gen, bucket_size_multiplier=100)
    longest = [int(b.lengths.max()) for b in batches]
    assert longest != sorted(longest, reverse=True)
    unshuffled = [int(b.lengths.max()) for b in bucket_batches(encoded, labels, 20, shuffle=False,
                                                                bucket_size_multiplier=100)]
    assert unshuffled == sorted(unshuffled, reverse=True)
    assert sorted(longest) == sorted(unshuffled)


def test_bucket_batches_without_shuffle_follow_dataset_chunks() -> None:
    encoded, labels = skewed_corpus(40)
    batches = list(bucket_batches(encoded, labels, 10, shuffle=False, bucket_size_multiplier=2))
    first_chunk = torch.cat([b.index for b in batches[:2]]).tolist()
    assert sorted(first_chunk) == list(range(20))
    again = bucket_batches(encoded, labels, 10, shuffle=False, bucket_size_multiplier=2)
    assert [b.index.tolist() for b in batches] == [b.index.tolist() for b in again]


# -- helpers ---------------------------------------------------------------------------------------
def test_padding_stats_counts_real_and_computed_steps() -> None:
    encoded = [np.array([2, 3, 4]), np.array([5]), np.array([6, 7])]
    stats = padding_stats(fixed_batches(encoded, [0, 1, 0], batch_size=2, max_len=4))
    # batches of 2 and 1 reviews, 4 steps each: 12 slots for 6 real tokens
    assert (stats.batches, stats.real_tokens, stats.slots) == (2, 6, 12)
    assert stats.fraction == pytest.approx(0.5)


@pytest.mark.parametrize("mode", ["fixed", "bucket"])
def test_make_batches_dispatches_on_the_config_name(mode: str) -> None:
    encoded, labels = skewed_corpus(30, max_len=500)
    batches = list(make_batches(mode, encoded, labels, batch_size=8, max_len=500))
    for b in batches:
        assert b.tokens.shape[1] == (500 if mode == "fixed" else int(b.lengths.max()))
    assert sorted(torch.cat([b.index for b in batches]).tolist()) == list(range(30))


def test_make_batches_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError, match="unknown batching"):
        make_batches("sorted", [np.array([2])], [1.0], batch_size=1, max_len=5)


def test_batch_to_moves_every_field() -> None:
    b = next(fixed_batches([np.array([2, 3])], [1.0], batch_size=1, max_len=3))
    moved = b.to("cpu")
    assert isinstance(moved, Batch)
    assert all(torch.equal(x, y) for x, y in zip(moved, b, strict=True))


def batches_equal(a: list[Batch], b: list[Batch]) -> bool:
    return len(a) == len(b) and all(
        all(torch.equal(x.cpu(), y.cpu()) for x, y in zip(p, q, strict=True)) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("mode", ["fixed", "bucket"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_device_split_cuts_exactly_the_batches_of_make_batches(mode: str, shuffle: bool) -> None:
    encoded, labels = skewed_corpus(203, max_len=60)
    encoded[5] = np.array([0])  # a one-token review
    split = DeviceSplit(encoded, labels, "cpu")
    want = list(make_batches(mode, encoded, labels, 16, 60, shuffle, torch.Generator().manual_seed(3)))
    got = list(split.batches(mode, 16, 60, shuffle, torch.Generator().manual_seed(3)))
    assert batches_equal(got, want)
    assert got[0].tokens.dtype == torch.int64 and got[0].labels.dtype == torch.float32


def test_device_split_refuses_what_the_cpu_batchers_refuse() -> None:
    encoded, labels = skewed_corpus(10, max_len=60)
    with pytest.raises(ValueError, match="labels"):
        DeviceSplit(encoded, labels[:-1], "cpu")
    split = DeviceSplit(encoded, labels, "cpu")
    with pytest.raises(ValueError, match="max_len"):
        list(split.batches("fixed", 4, 5))
    with pytest.raises(ValueError, match="batch_size"):
        list(split.batches("bucket", 0, 60))
    with pytest.raises(ValueError, match="unknown batching"):
        list(split.batches("sorted", 4, 60))
