"""Labelled text datasets beyond IMDB: a source is read once into a Parquet cache and registered by name.

What it is: a dataset is rows of text + label (+ an optional split and id). Two kinds of source:

* a table file -- CSV, TSV, JSONL or Parquet (told by its suffix; ``sep`` overrides the CSV
  delimiter) -- with named text and label columns and an optional split column whose values are
  ``train``, ``validation``/``val``/``valid``/``dev``, ``test`` or ``unsup``/``unsupervised``/
  ``unlabelled`` (texts without a label: word2vec reads them, as it reads IMDB's 50,000);
* a folder of one sub-folder per class holding ``.txt`` files (the aclImdb shape generalised),
  optionally under ``train/`` and ``test/`` (and ``val/``) folders, and ``unsup/`` holding unlabelled
  ``.txt`` files;
* a folder written by Hugging Face ``datasets`` (``save_to_disk``: a ``Dataset`` or a ``DatasetDict``
  whose train / validation / test / unsupervised splits are used, others skipped), read with
  ``datasets.load_from_disk`` -- an optional dependency (``pip install datasets``). ``ClassLabel``
  labels keep their names.

Labels may be strings or integers, two classes or more; they become integers ``0..K-1`` in the
order of the sorted class names (numerically when every label is an integer). A source without
splits gets a seeded, stratified train/test split (:data:`TEST_FRACTION`); validation is carved
from train by ``DataConfig.val_size`` as for IMDB (:func:`split_dataset`).

Each source is parsed once into ``data_dir()/cache/dataset-<name>-<fingerprint>.parquet`` with
the columns ``split`` ('train', 'val', 'test', 'unsup'), ``id`` (the row's number in the source),
``label`` (int64 0..K-1; -1 for an unlabelled text) and ``text``; the class names and counts are in the
file's metadata. Named datasets are small JSON files under ``$RNNLAB_HOME/datasets/``
(:func:`add_dataset`, :func:`list_datasets`). ``imdb`` is the built-in name (:mod:`core.data.imdb`),
never registered here.

Bad input (every error is a :class:`~core.data.imdb.DataError` naming the file, row or column; no
cache or registry file is written for a source that fails; writes are atomic): what the readers
refuse (:mod:`core.data.readers`: a missing column, an empty text or label, a ragged CSV row, bytes
that are not UTF-8, an unknown split value, a source or text over its bound, a file that is not a
regular one, a link leading out of a folder), and here a single class, over :data:`MAX_CLASSES`
classes, or no train or test rows. A killed upload's staged file is removed once
:data:`~core.data.imdb.STALE_TMP_S` old.

What it is not: reading a source's rows within bounds (``core.data.readers``), tokenising
(``core.data.text``), encoding (``core.data.corpus``), the IMDB archive reader (``core.data.imdb``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rnnlab.core import atomic
from rnnlab.core.config import BUILTIN_DATASET, DataConfig, default_val_size, first_few
from rnnlab.core.data.imdb import (
    META_KEY,
    DataError,
    DatasetNotFound,
    OverLimit,
    balanced_take,
    dataset_status,
    remove_stale_files,
    write_cache,
)
from rnnlab.core.data.readers import (  # noqa: F401 - MAX_TEXT_BYTES re-exported: the bound a dataset's texts have
    MAX_SOURCE_BYTES,
    MAX_TEXT_BYTES,
    UNSUP,
    SourceError,
    detect_format,
    read_folder_source,
    read_table_source,
)
from rnnlab.core.paths import data_dir, rnnlab_home

BUILTIN = BUILTIN_DATASET
NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"
FORMATS = ("csv", "tsv", "jsonl", "parquet", "folder", "hf")
SPLITS = ("train", "val", "test", "unsup")  # row order of the cache
UNLABELLED = "unlabelled"  # how the counts name them
TEST_FRACTION = 0.2  # of each class, held out as test when the source has no splits
SPLIT_SEED = 0  # that split's seed: fixed, so a dataset's test split never moves

MAX_CLASSES = 1000
CACHE_VERSION = 2  # 2: sources are read with the bounds above (a cache parsed before them is parsed again)
_SCHEMA = pa.schema([("split", pa.string()), ("id", pa.int64()), ("label", pa.int64()), ("text", pa.large_string())])


# --------------------------------------------------------------------------- names and registry


def datasets_dir() -> Path:
    """Where named datasets are registered: ``$RNNLAB_HOME/datasets``."""
    return rnnlab_home() / "datasets"


def is_imdb(name: str | None) -> bool:
    return name is None or name == BUILTIN


def check_name(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"dataset name {name!r}: use 1-64 letters, digits, '-' or '_'")
    return name


def _entry_path(name: str) -> Path:
    return datasets_dir() / f"{check_name(name)}.json"


def read_entry(name: str) -> dict[str, Any]:
    """The registry entry of ``name``, validated; :class:`DatasetNotFound` if it is not registered."""
    path = _entry_path(name)
    if not path.is_file():
        known = ", ".join([BUILTIN, *(e["name"] for e in _entries())])
        raise DatasetNotFound(f"no dataset named {name!r} (known: {known}); add one with "
                              "`python -m core data add PATH --name NAME`")
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(entry, dict):
            raise ValueError("not a JSON object")
        for key, kind in (("name", str), ("source", str), ("format", str), ("classes", list), ("options", dict)):
            if not isinstance(entry.get(key), kind):
                raise ValueError(f"{key!r} missing or not a {kind.__name__}")
        if entry["format"] not in FORMATS or entry["name"] != name:
            raise ValueError("unknown format or a different name")
        if len(entry["classes"]) < 2 or not all(isinstance(c, str) for c in entry["classes"]):
            raise ValueError("'classes' must be two or more strings")
    except (OSError, ValueError) as e:
        raise DataError(f"the dataset entry {path} is damaged: {e}; add the dataset again") from e
    return entry


def _entries() -> list[dict[str, Any]]:
    out = []
    for path in sorted(datasets_dir().glob("*.json")):
        try:
            out.append(read_entry(path.stem))
        except (DataError, ValueError) as e:
            out.append({"name": path.stem, "error": str(e)})
    return out


def _class_order(labels: list[str]) -> list[str]:
    names = sorted(set(labels))
    if all(re.fullmatch(r"-?\d+", x) for x in names):
        names.sort(key=int)
    return names


def _stratified_test(labels: np.ndarray, k: int) -> np.ndarray:
    """A seeded mask of rows held out as test: ``TEST_FRACTION`` of each class (at least one when it has two)."""
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.zeros(len(labels), dtype=bool)
    for c in range(k):
        pos = np.flatnonzero(labels == c)
        n = int(round(len(pos) * TEST_FRACTION))
        n = min(max(n, 1 if len(pos) > 1 else 0), len(pos) - 1)
        test[rng.permutation(pos)[:n]] = True
    return test


def parse_source(path: Path, fmt: str, options: dict[str, Any]) -> tuple[pa.Table, dict[str, Any]]:
    """The cache table and its metadata (classes, counts) of a source; raises :class:`SourceError`."""
    if fmt == "folder":
        rows = read_folder_source(path)
    else:
        rows = read_table_source(path, fmt, options.get("text_col") or "text", options.get("label_col") or "label",
                                  options.get("split_col"), options.get("sep"))
    if not rows:
        raise SourceError(f"{path} holds no rows")
    classes = _class_order([r[2] for r in rows if r[2] is not None])
    if not classes:
        raise SourceError(f"{path}: no labelled rows (only unlabelled ones)")
    if len(classes) < 2:
        raise SourceError(f"{path}: every row has the label {classes[0]!r}; a classifier needs two classes or more")
    if len(classes) > MAX_CLASSES:
        raise OverLimit(f"{path}: {len(classes):,} classes, more than {MAX_CLASSES} (MAX_CLASSES): is the label "
                        "column the right one?")
    code = {c: i for i, c in enumerate(classes)}
    labels = np.array([-1 if r[2] is None else code[r[2]] for r in rows], dtype=np.int64)
    splits = np.array([r[0] or "" for r in rows], dtype=object)
    if not any(r[0] for r in rows):
        splits = np.where(_stratified_test(labels, len(classes)), "test", "train").astype(object)
    for need in ("train", "test"):
        if not (splits == need).any():
            raise SourceError(f"{path}: no {need} rows (the split column or folders must give both train and test)")
    order = np.lexsort((np.array([r[1] for r in rows]), labels, [SPLITS.index(s) for s in splits]))
    table = pa.table({"split": pa.array(splits[order].tolist(), pa.string()),
                      "id": pa.array(np.array([r[1] for r in rows], dtype=np.int64)[order]),
                      "label": pa.array(labels[order]),
                      "text": pa.array([rows[i][3] for i in order], pa.large_string())}, schema=_SCHEMA)
    counts = {s: {c: int(((splits == s) & (labels == i)).sum()) for i, c in enumerate(classes)}
              for s in SPLITS if s != UNSUP and (splits == s).any()}
    if (splits == UNSUP).any():
        counts[UNSUP] = {UNLABELLED: int((splits == UNSUP).sum())}
    return table, {"classes": classes, "counts": counts, "total": len(rows)}


# --------------------------------------------------------------------------- caching


def _fingerprint(source: Path, fmt: str, options: dict[str, Any]) -> str:
    """Changes with the source's contents (path, size and mtime of the file or of every .txt file) and options."""
    h = hashlib.sha256(json.dumps([CACHE_VERSION, str(source), fmt, options], sort_keys=True).encode())
    try:
        if fmt in ("folder", "hf"):
            for dirpath, dirnames, filenames in os.walk(source):
                dirnames.sort()
                for name in sorted(filenames):
                    st = os.stat(os.path.join(dirpath, name))
                    h.update(f"\0{os.path.relpath(os.path.join(dirpath, name), source)}\0{st.st_size}"
                             f"\0{st.st_mtime_ns}".encode())
        else:
            st = source.stat()
            h.update(f"\0{st.st_size}\0{st.st_mtime_ns}".encode())
    except OSError as e:
        raise DataError(f"cannot read {e.filename or source}: {e.strerror or e}") from e
    return h.hexdigest()[:16]


def cache_path(entry: dict[str, Any]) -> Path:
    """The Parquet cache of a registered dataset in its source's current state (it may not exist yet)."""
    source = Path(entry["source"])
    if not source.exists():
        raise DatasetNotFound(f"the source of dataset {entry['name']!r}, {source}, does not exist any more; "
                              "add the dataset again")
    return _cache_file(entry["name"], _fingerprint(source, entry["format"], entry["options"]))


def _cache_file(name: str, fingerprint: str) -> Path:
    return data_dir() / "cache" / f"dataset-{name}-{fingerprint}.parquet"


def _read_cache(path: Path) -> tuple[pa.Table, dict[str, Any]] | None:
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[META_KEY])
        table = table.replace_schema_metadata(None)
        if table.schema != _SCHEMA:
            raise ValueError("unexpected columns")
        k = len(meta["classes"])
        labels = table.column("label").to_numpy()
        if len(labels) != meta["total"] or (len(labels) and (labels.min() < -1 or labels.max() >= k)):
            raise ValueError("labels or row count do not match the metadata")
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException) as e:
        warnings.warn(f"the dataset cache {path} is not usable ({e}); parsing the source again", RuntimeWarning,
                      stacklevel=3)
        return None
    return table, meta


def _frame(table: pa.Table, meta: dict[str, Any], entry: dict[str, Any], cache: Path) -> pd.DataFrame:
    df = table.to_pandas()
    df["rating"] = np.zeros(len(df), dtype=np.int64)  # the IMDB frame's column; no ratings here
    df.attrs.update(name=entry["name"], source=entry["source"], kind=entry["format"], cache=str(cache),
                    classes=list(meta["classes"]), counts=meta["counts"])
    return df


def load_dataset(name: str) -> pd.DataFrame:
    """A registered dataset as a frame (columns split, id, label, text, rating), from its cache when current.

    ``df.attrs`` holds ``name``, ``source``, ``kind``, ``cache``, ``classes`` and ``counts``. A source
    that changed since it was added is parsed again (and must still have the classes it had).
    """
    entry = read_entry(name)
    cache = cache_path(entry)
    hit = _read_cache(cache)
    if hit is None:
        table, meta = parse_source(Path(entry["source"]), entry["format"], entry["options"])
        if meta["classes"] != entry["classes"]:
            was, now = entry["classes"], meta["classes"]  # name what changed: the lists may be 1,000 long
            had, has = set(was), set(now)
            new, gone = [c for c in now if c not in had], [c for c in was if c not in has]
            raise SourceError(f"the source of dataset {name!r} now has {len(now):,} classes, not {len(was):,} (new: "
                              f"{first_few(new) or 'none'}; gone: {first_few(gone) or 'none'}); add it again (under a "
                              "new name to keep older runs readable)")
        _store_cache(table, cache, meta)
        hit = table, meta
    return _frame(*hit, entry, cache)


def _store_cache(table: pa.Table, cache: Path, meta: dict[str, Any]) -> None:
    try:
        write_cache(table, cache, {"version": CACHE_VERSION, **meta})  # atomic; removes older caches of the name
    except OSError as e:
        warnings.warn(f"could not write the dataset cache {cache}: {e}", RuntimeWarning, stacklevel=3)


def dataset_classes(name: str | None) -> list[str]:
    """The class names of a dataset (IMDB: ``['negative', 'positive']``)."""
    return ["negative", "positive"] if is_imdb(name) else list(read_entry(name)["classes"])


# --------------------------------------------------------------------------- registering


def _check_new_name(name: str) -> None:
    check_name(name)
    if name == BUILTIN:
        raise ValueError(f"{BUILTIN!r} is the built-in IMDB dataset; choose another name")


def _source_options(fmt: str, text_col: str | None, label_col: str | None, split_col: str | None,
                    sep: str | None) -> dict[str, Any]:
    """The options a source of format ``fmt`` is parsed with (part of its fingerprint); ValueError if they misfit."""
    if sep is not None:
        sep = {"TAB": "\t", "\\t": "\t", "tab": "\t"}.get(sep, sep)
        if len(sep) != 1:
            raise ValueError(f"--sep must be one character (or TAB), got {sep!r}")
        if fmt not in ("csv", "tsv"):
            raise ValueError(f"--sep applies to CSV and TSV files, not to a {fmt} source")
    if fmt == "folder" and (text_col or label_col or split_col):
        raise ValueError("--text-col, --label-col and --split-col apply to table files, not to a class-folder source")
    return {} if fmt == "folder" else {"text_col": text_col or "text", "label_col": label_col or "label",
                                       "split_col": split_col, "sep": sep}


def add_dataset(path: str | os.PathLike[str], name: str, *, text_col: str | None = None, label_col: str | None = None,
                split_col: str | None = None, sep: str | None = None) -> dict[str, Any]:
    """Parse ``path`` into its cache and register it as ``name`` (replacing an entry of that name); the entry."""
    _check_new_name(name)
    source = Path(path).expanduser()
    if not source.exists():
        raise DatasetNotFound(f"{source} does not exist")
    source = source.resolve()
    fmt = detect_format(source)
    options = _source_options(fmt, text_col, label_col, split_col, sep)
    table, meta = parse_source(source, fmt, options)
    entry = {"name": name, "source": str(source), "format": fmt, "options": options, "classes": meta["classes"],
             "counts": meta["counts"], "total": meta["total"]}
    cache = _cache_file(name, _fingerprint(source, fmt, options))
    _store_cache(table, cache, meta)
    datasets_dir().mkdir(parents=True, exist_ok=True)
    atomic.write_json(_entry_path(name), entry)
    return {**entry, "cache": str(cache)}


UPLOAD_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
UPLOAD_STAGE_PREFIX = ".upload-"  # an upload being parsed: uploads_dir()/.upload-<name>.<pid>.<hex><suffix>
# the staged names, this version's and the earlier .upload-<name><suffix>: removed once STALE_TMP_S old
STAGED_UPLOAD_PATTERN = re.compile(rf"\.upload-{NAME_PATTERN}(\.\d+\.[0-9a-f]{{8}})?\.(csv|tsv|jsonl|parquet)")


def uploads_dir() -> Path:
    """Where uploaded dataset files are kept (their registry entries point here): ``data_dir()/datasets``."""
    return data_dir() / "datasets"


def add_uploaded_dataset(content: bytes | bytearray | memoryview, filename: str, name: str, *,
                         text_col: str | None = None, label_col: str | None = None, split_col: str | None = None,
                         sep: str | None = None) -> dict[str, Any]:
    """Keep an uploaded CSV / TSV / JSONL / Parquet file as ``uploads_dir()/<name><suffix>`` and add it as ``name``.

    The bytes are checked (size, suffix) and parsed from a hidden temporary file first: an upload
    that fails leaves neither a file nor a registry entry, and the file of an earlier dataset of
    the same name is replaced only once the new one has parsed. ``options`` are :func:`add_dataset`'s.
    """
    _check_new_name(name)
    suffix = Path(filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise SourceError(f"{filename}: upload a {', '.join(UPLOAD_SUFFIXES)} file (a class folder is added by path)")
    if len(content) > MAX_SOURCE_BYTES:
        raise OverLimit(f"{filename} is {len(content):,} bytes; nothing over {MAX_SOURCE_BYTES:,} bytes "
                        "(MAX_SOURCE_BYTES) is read")
    final = uploads_dir() / f"{name}{suffix}"
    # a name of its own (two uploads of one name never share it), the suffix last: the format is told by it
    staged = uploads_dir() / f"{UPLOAD_STAGE_PREFIX}{name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"
    remove_stale_files(uploads_dir(), STAGED_UPLOAD_PATTERN)  # left by an upload whose process was killed
    try:
        uploads_dir().mkdir(parents=True, exist_ok=True)
        staged.write_bytes(content)
        fmt = detect_format(staged)
        parse_source(staged, fmt, _source_options(fmt, text_col, label_col, split_col, sep))  # before any replace
        os.replace(staged, final)
    except OSError as e:
        raise SourceError(f"could not keep the upload in {uploads_dir()}: {e.strerror or e}") from e
    finally:
        staged.unlink(missing_ok=True)
    return add_dataset(final, name, text_col=text_col, label_col=label_col, split_col=split_col, sep=sep)


def list_datasets() -> list[dict[str, Any]]:
    """IMDB (when a source is found) and every registered dataset, with classes and counts."""
    out = []
    status = dataset_status()
    if status["found"]:
        counts = status["counts"]
        out.append({"name": BUILTIN, "source": status["source"], "format": status["kind"],
                    "classes": ["negative", "positive"], "counts": counts, "builtin": True})
    for entry in _entries():
        out.append({k: entry.get(k) for k in ("name", "source", "format", "classes", "counts", "total", "error")
                    if k in entry})
    return out


def dataset_info(name: str) -> dict[str, Any]:
    """Source, cache, classes, and counts per split and class of a registered dataset (loaded, never downloaded)."""
    df = load_dataset(name)
    return {"name": name, "source": df.attrs["source"], "kind": df.attrs["kind"], "cache": df.attrs["cache"],
            "classes": df.attrs["classes"], "counts": df.attrs["counts"], "total": len(df)}


# --------------------------------------------------------------------------- splitting


def split_dataset(df: pd.DataFrame, cfg: DataConfig) -> dict[str, pd.DataFrame]:
    """Frames 'train', 'val', 'test' and 'unsup' (unlabelled texts, often none) from a :func:`load_dataset` frame.

    A source with its own validation rows keeps them as 'val'; otherwise 'val' is ``cfg.val_size``
    rows carved from train, spread evenly over the classes, chosen with ``cfg.split_seed``. With
    ``cfg.limit`` each frame is then cut to at most that many rows, balanced and seeded.
    """
    if cfg.val_size is not None and cfg.val_size < 0:
        raise ValueError(f"val_size must be >= 0, got {cfg.val_size}")
    df = df.sort_values(["split", "label", "id"], kind="stable", ignore_index=True)
    train = df[df["split"] == "train"].reset_index(drop=True)
    if cfg.val_size is None:  # a share of the training rows (see core.data.datasets.resolve_data)
        cfg = replace(cfg, val_size=default_val_size(len(train)))
    given_val = df[df["split"] == "val"]
    if len(given_val):
        out = {"train": train, "val": given_val}
    else:
        k = len(df.attrs.get("classes") or []) or int(df["label"].max()) + 1
        per_label = train["label"].value_counts()
        need = {lab: cfg.val_size // k + (1 if lab < cfg.val_size % k else 0) for lab in range(k)}
        short = [f"{df.attrs['classes'][lab] if df.attrs.get('classes') else lab}: {n} wanted, "
                 f"{per_label.get(lab, 0)} there" for lab, n in need.items() if n and n >= per_label.get(lab, 0)]
        if short:
            raise ValueError(f"val_size={cfg.val_size} leaves no training rows ({first_few(short, str, sep='; ')})")
        rng = np.random.default_rng(cfg.split_seed)
        in_val = np.zeros(len(train), dtype=bool)
        if cfg.val_size:
            in_val[balanced_take(train, cfg.val_size, rng)] = True
        out = {"train": train[~in_val], "val": train[in_val]}
    out["test"] = df[df["split"] == "test"]
    out["unsup"] = df[df["split"] == "unsup"]  # unlabelled texts (word2vec reads them); none in most sources
    k_all = len(df.attrs.get("classes") or []) or int(df["label"].max()) + 1
    if cfg.limit is not None and cfg.limit < k_all:
        raise ValueError(f"limit={cfg.limit} is below the dataset's {k_all} classes: a limited split needs at least "
                         "one row of each")
    if cfg.limit is not None:
        for i, name in enumerate(out):
            if len(out[name]) > cfg.limit:
                sub_rng = np.random.default_rng([cfg.split_seed, i + 1])
                out[name] = out[name].iloc[balanced_take(out[name], cfg.limit, sub_rng)]
    result = {name: frame.reset_index(drop=True) for name, frame in out.items()}
    for frame in result.values():
        frame.attrs = dict(df.attrs)
    return result
