"""Every dataset reached one way, by name: IMDB (built in) and every dataset added with ``data add``.

What it is: the one door the jobs go through to a dataset. :func:`dataset_info` tells a dataset's
classes and sizes cheaply (from the registry entry, or IMDB's parsed cache, or IMDB's published
sizes when it has not been parsed yet), without reading a text; :func:`load_frames` gives the
``train`` / ``val`` / ``test`` / ``unsup`` frames a job reads (``unsup``: unlabelled texts, empty for a
dataset that has none); :func:`resolve_data` fits a :class:`~core.config.DataConfig` to the dataset
before a run is created -- the validation split becomes a number (by default a share of the
training rows, :func:`core.config.default_val_size`, so IMDB keeps its 2,500) and a setting
that cannot fit is refused with :class:`DoesNotFit`, naming the value that would.

What it is not: parsing a source (``core.data.imdb`` reads the IMDB archive, ``core.data.sources``
the other formats), tokenising (``core.data.text``), encoding (``core.data.corpus``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from rnnlab.core.config import TEXT_TASK, DataConfig, default_min_count, default_val_size, first_few
from rnnlab.core.data import imdb, sources

BUILTIN = sources.BUILTIN  # "imdb"
IMDB_CLASSES = ("negative", "positive")  # label 0, label 1
# IMDB's published sizes (the dataset's README), used before its archive has been parsed once
IMDB_SIZES = {"train": (12_500, 12_500), "test": 25_000, "unsup": 50_000}


class DoesNotFit(ValueError):
    """A data setting the dataset cannot satisfy; the message names the value that would fit."""


def dataset_name(name: str | None) -> str:
    """The dataset's name as runs show it: ``imdb`` for IMDB (``None`` in a config)."""
    return BUILTIN if sources.is_imdb(name) else name


def config_dataset(name: str | None) -> str | None:
    """The name as a :class:`~core.config.DataConfig` stores it: ``None`` for IMDB, so IMDB runs keep one config."""
    return None if sources.is_imdb(name) else name


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset holds, counted without reading its texts."""

    name: str
    classes: tuple[str, ...]  # in label order: label i is classes[i]
    train: tuple[int, ...]  # training rows per class (a given validation split not included)
    test: int  # test rows
    val: int  # rows of the source's own validation split; 0: the validation rows are carved from train
    unsup: int  # unlabelled texts (IMDB's 50,000 reviews; word2vec reads them too)
    counted: bool = True  # False: IMDB's published sizes (its archive has not been parsed here yet)

    @property
    def train_rows(self) -> int:
        return sum(self.train)

    @property
    def noun(self) -> str:
        """What one row is called: IMDB's are reviews, a dataset's are texts."""
        return "reviews" if self.name == BUILTIN else "texts"


def _imdb_info(path: str | os.PathLike[str] | None) -> DatasetInfo:
    status = imdb.dataset_status(path)
    if not status["found"]:
        raise imdb.DatasetNotFound(status["error"])
    counts = status.get("counts")
    if not counts:  # found, not parsed yet: the dataset's own published sizes
        return DatasetInfo(BUILTIN, IMDB_CLASSES, IMDB_SIZES["train"], IMDB_SIZES["test"], 0, IMDB_SIZES["unsup"],
                           counted=False)
    train = counts.get("train", {})
    return DatasetInfo(BUILTIN, IMDB_CLASSES, (int(train.get("neg", 0)), int(train.get("pos", 0))),
                       int(sum(counts.get("test", {}).values())), 0, int(sum(counts.get("unsup", {}).values())))


def dataset_info(name: str | None, imdb_path: str | os.PathLike[str] | None = None) -> DatasetInfo:
    """Classes and sizes of a dataset (``None`` or ``imdb``: IMDB, found through ``imdb_path``, the environment or
    the cache). Raises :class:`~core.data.imdb.DataError` when it cannot be found or its entry is damaged."""
    if sources.is_imdb(name):
        return _imdb_info(imdb_path)
    entry = sources.read_entry(name)
    classes = tuple(entry["classes"])
    counts = entry.get("counts") if isinstance(entry.get("counts"), dict) else {}

    def rows(split: str) -> dict[str, int]:
        part = counts.get(split)
        return {c: int(n) for c, n in part.items() if isinstance(n, int)} if isinstance(part, dict) else {}

    return DatasetInfo(name, classes, tuple(rows("train").get(c, 0) for c in classes), sum(rows("test").values()),
                       sum(rows("val").values()), sum(rows("unsup").values()))


def dataset_classes(name: str | None) -> list[str]:
    """The class names of a dataset, in label order (IMDB: negative, positive)."""
    return list(IMDB_CLASSES) if sources.is_imdb(name) else list(sources.read_entry(name)["classes"])


# -- the validation split, fitted to the dataset ---------------------------------------------------------------
def _fits(val: int, per_class: tuple[int, ...]) -> bool:
    """Whether carving ``val`` rows, spread evenly over the classes (the first ones take the remainder), leaves
    every class at least one training row (a class that gives none may have none)."""
    k = len(per_class)
    return all((need := val // k + (1 if c < val % k else 0)) == 0 or need < n for c, n in enumerate(per_class))


def largest_val_size(per_class: tuple[int, ...]) -> int:
    """The most validation rows the training rows (``per_class``, in label order) can give up."""
    lo, hi = 0, sum(per_class)  # feasibility falls as val grows: a binary search finds its edge
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if _fits(mid, per_class) else (lo, mid - 1)
    return lo


def resolve_data(data: DataConfig) -> DataConfig:
    """``data`` fitted to its dataset: ``val_size`` a number, every setting checked against the dataset's size.

    ``val_size`` None becomes :func:`default_val_size` of the training rows (at most what they can give
    up); a dataset with its own validation split keeps it (``val_size`` becomes its size). Raises
    :class:`DoesNotFit` for a ``val_size`` or ``limit`` the dataset cannot satisfy, naming the value that
    would; :class:`~core.data.imdb.DataError` when the dataset cannot be found.
    """
    info = dataset_info(data.dataset, data.imdb_path)
    k, what = len(info.classes), f"dataset {info.name}"
    if data.limit is not None and data.limit < k:
        raise DoesNotFit(f"limit={data.limit} is below the {k} classes of {what}: a limited split needs one row "
                         f"of each; use a limit of {k} or more")
    if info.val:
        return replace(data, val_size=info.val)  # the source's own validation split (core.data.sources)
    most = largest_val_size(info.train)
    if data.val_size is None:
        return replace(data, val_size=min(default_val_size(info.train_rows), most))
    if data.val_size > most:
        per_class = first_few(zip(info.classes, info.train, strict=True), lambda cn: f"{cn[0]} {cn[1]:,}")
        default = min(default_val_size(info.train_rows), most)
        raise DoesNotFit(f"val_size={data.val_size} does not fit {what}: its {info.train_rows:,} training "
                         f"{info.noun} ({per_class}) leave room for at most {most:,} validation {info.noun}; "
                         f"leave val_size unset for the default, {default:,}")
    return data


def resolve_config(cfg: Any) -> Any:
    """A job's config with its data part fitted to its dataset (:func:`resolve_data`); other configs unchanged.

    Every config with a ``data`` part is fitted (a training on a text, the GMM-HMM, word2vec); a training on
    a synthetic task reads no dataset and is left as it is. word2vec's ``min_count`` none becomes a number
    from the corpus's size; a GMM-HMM's text limits below the dataset's classes are refused.
    """
    data = getattr(cfg, "data", None)
    if not isinstance(data, DataConfig):
        return cfg
    train = getattr(cfg, "train", None)
    if train is not None and getattr(train, "task", None) not in (None, TEXT_TASK):
        return cfg
    fitted = resolve_data(data)
    info = dataset_info(data.dataset, data.imdb_path)
    w2v = getattr(cfg, "word2vec", None)  # word2vec keeps every word of a small corpus (core.config.default_min_count)
    if w2v is not None and w2v.min_count is None:
        texts = min(info.train_rows, data.limit or info.train_rows) + min(info.unsup, data.limit or info.unsup)
        cfg = replace(cfg, word2vec=replace(w2v, min_count=default_min_count(texts)))
    hmm = getattr(cfg, "hmm", None)  # the GMM-HMM samples its texts evenly over the classes: one of each at least
    if hmm is not None:
        k = len(info.classes)
        for name in ("limit", "test_limit"):
            value = getattr(hmm, name)
            if value is not None and value < k:
                raise DoesNotFit(f"hmm.{name}={value} is below the {k} classes of dataset "
                                 f"{dataset_name(data.dataset)}: the GMM-HMM needs texts of every class; use "
                                 f"{k} or more")
    return replace(cfg, data=fitted)


# -- reading ---------------------------------------------------------------------------------------------------
def load_frames(data: DataConfig) -> dict[str, pd.DataFrame]:
    """The dataset's ``train``, ``val``, ``test`` and ``unsup`` frames (columns split, id, rating, label, text).

    ``val`` is carved from train as ``data`` says (a resolved config: see :func:`resolve_data`); ``unsup``
    holds the unlabelled texts (IMDB's 50,000, a dataset's rows of split ``unsup``), cut to ``data.limit``
    like the others, and is empty for a dataset without any. ``frame.attrs`` holds ``name`` and ``classes``.
    """
    if data.val_size is None:
        data = resolve_data(data)
    if sources.is_imdb(data.dataset):
        frames = imdb.split_frame(imdb.load_imdb(data.imdb_path), data)
        classes = list(IMDB_CLASSES)
    else:
        df = sources.load_dataset(data.dataset)
        frames = sources.split_dataset(df, data)
        classes = list(df.attrs["classes"])
    for frame in frames.values():
        frame.attrs.update(name=dataset_name(data.dataset), classes=classes)
    return frames


def source_key(data: DataConfig) -> str:
    """A name that changes with the dataset's source and contents (its parsed cache file's name)."""
    if sources.is_imdb(data.dataset):
        return imdb.cache_path(imdb.locate_imdb(data.imdb_path)).name
    return sources.cache_path(sources.read_entry(data.dataset)).name
