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
cache or registry file is written for a source that fails; writes are atomic): a missing column,
an empty text, an empty label cell (but for an unlabelled row), a single class, a ragged CSV row, bytes
that are not UTF-8, an unknown split value, one text over :data:`MAX_TEXT_BYTES`, a source over :data:`MAX_SOURCE_BYTES`
or :data:`MAX_ROWS`.

What it is not: tokenising (``core.data.text``), encoding (``core.data.corpus``), the IMDB archive
reader (``core.data.imdb``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core import atomic
from core.config import BUILTIN_DATASET, DataConfig, default_val_size
from core.data.imdb import (
    MAX_REVIEW_BYTES,
    META_KEY,
    DataError,
    DatasetNotFound,
    OverLimit,
    balanced_take,
    dataset_status,
    write_cache,
)
from core.paths import data_dir, rnnlab_home

BUILTIN = BUILTIN_DATASET
NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"
FORMATS = ("csv", "tsv", "jsonl", "parquet", "folder", "hf")
HF_SPLIT = "__split__"  # the key under which a Hugging Face DatasetDict's split name reaches the table reader
SPLIT_NAMES = {"train": "train", "validation": "val", "val": "val", "valid": "val", "dev": "val", "test": "test",
               "unsup": "unsup", "unsupervised": "unsup", "unlabelled": "unsup", "unlabeled": "unsup"}
SPLITS = ("train", "val", "test", "unsup")  # row order of the cache
UNSUP = "unsup"  # unlabelled texts: their label is -1 (word2vec reads them; no classifier does)
UNLABELLED = "unlabelled"  # how the counts name them
TEST_FRACTION = 0.2  # of each class, held out as test when the source has no splits
SPLIT_SEED = 0  # that split's seed: fixed, so a dataset's test split never moves

MAX_TEXT_BYTES = MAX_REVIEW_BYTES  # one text
MAX_SOURCE_BYTES = 512 * 2**20  # the file, or all .txt files of a folder together
MAX_ROWS = 1_000_000
MAX_CLASSES = 1000
CACHE_VERSION = 1
_SCHEMA = pa.schema([("split", pa.string()), ("id", pa.int64()), ("label", pa.int64()), ("text", pa.large_string())])


class SourceError(DataError):
    """The source cannot be read as a labelled text dataset; the message names the file, row or column."""


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


# --------------------------------------------------------------------------- reading a source


def detect_format(path: Path) -> str:
    if path.is_dir():
        # save_to_disk writes dataset_dict.json (a DatasetDict) or state.json (one Dataset)
        return "hf" if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file() else "folder"
    suffix = path.suffix.lower()
    kinds = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
             ".parquet": "parquet", ".pq": "parquet"}
    if suffix not in kinds:
        raise SourceError(f"{path}: cannot tell the format from its suffix {suffix!r}; expected a folder or one of "
                          ".csv, .tsv, .jsonl, .parquet")
    return kinds[suffix]


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_SOURCE_BYTES:
            raise OverLimit(f"{path} is {size:,} bytes; nothing over {MAX_SOURCE_BYTES:,} bytes (MAX_SOURCE_BYTES) "
                            "is read")
        with path.open("rb") as f:
            data = f.read(MAX_SOURCE_BYTES + 1)
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from e
    if len(data) > MAX_SOURCE_BYTES:
        raise OverLimit(f"{path} is over {MAX_SOURCE_BYTES:,} bytes (MAX_SOURCE_BYTES); nothing was read")
    return data


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise SourceError(f"{where} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} (line {line}); "
                          "save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)") from None


def _records_csv(path: Path, sep: str) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    text = _decode(_read_bytes(path), str(path))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise SourceError(f"{path} is empty: expected a header row naming the columns")
        header = [h.strip() for h in header]
        rows = []
        for row in reader:
            if not row:  # a blank line
                continue
            if len(row) != len(header):
                raise SourceError(f"{path}, line {reader.line_num}: {len(row)} fields, but the header has "
                                  f"{len(header)} (a ragged row: check the separator {sep!r} and the quoting)")
            rows.append((reader.line_num, row))
            if len(rows) > MAX_ROWS:
                raise OverLimit(f"{path} has more than {MAX_ROWS:,} rows (MAX_ROWS)")
    except csv.Error as e:
        raise SourceError(f"{path}, line {reader.line_num}: not valid CSV ({e})") from e
    return header, rows


def _records_jsonl(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    text = _decode(_read_bytes(path), str(path))
    rows, keys = [], {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise SourceError(f"{path}, line {n}: not valid JSON ({e})") from e
        if not isinstance(obj, dict):
            raise SourceError(f"{path}, line {n}: expected a JSON object, got {type(obj).__name__}")
        keys.update(dict.fromkeys(obj))
        rows.append((n, obj))
        if len(rows) > MAX_ROWS:
            raise OverLimit(f"{path} has more than {MAX_ROWS:,} rows (MAX_ROWS)")
    return list(keys), rows


def _records_parquet(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    try:
        size = path.stat().st_size
        if size > MAX_SOURCE_BYTES:
            raise OverLimit(f"{path} is {size:,} bytes; nothing over {MAX_SOURCE_BYTES:,} bytes (MAX_SOURCE_BYTES) "
                            "is read")
        meta = pq.read_metadata(path)
        if meta.num_rows > MAX_ROWS:
            raise OverLimit(f"{path} has {meta.num_rows:,} rows, more than {MAX_ROWS:,} (MAX_ROWS)")
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise SourceError(f"cannot read {path} as Parquet: {e}") from e
    return table.column_names, [(i + 1, r) for i, r in enumerate(table.to_pylist())]


def _folder_bytes(root: Path) -> int:
    try:
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)
    except OSError as e:
        raise SourceError(f"cannot read {e.filename or root}: {e.strerror or e}") from e


def _records_hf(path: Path, label_col: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The rows of a folder saved by Hugging Face ``datasets``; a DatasetDict's split name under :data:`HF_SPLIT`."""
    size = _folder_bytes(path)
    if size > MAX_SOURCE_BYTES:
        raise OverLimit(f"{path} holds {size:,} bytes; nothing over {MAX_SOURCE_BYTES:,} bytes (MAX_SOURCE_BYTES) "
                        "is read")
    try:
        import datasets
    except ImportError:
        raise SourceError(f"{path} was saved by Hugging Face datasets; reading it needs that optional package: "
                          "`pip install datasets`") from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as e:
        raise SourceError(f"cannot read {path} as a Hugging Face dataset: {e}") from e
    parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    parts = [(name, ds) for name, ds in parts if name is None or name.lower() in SPLIT_NAMES]
    if not parts:
        raise SourceError(f"{path}: none of its splits ({', '.join(loaded)}) is train, validation or test")
    if sum(ds.num_rows for _, ds in parts) > MAX_ROWS:
        raise OverLimit(f"{path} has more than {MAX_ROWS:,} rows (MAX_ROWS)")
    header, rows = list(parts[0][1].column_names), []
    for name, ds in parts:
        feature = ds.features.get(label_col)
        names = feature.names if isinstance(feature, datasets.ClassLabel) else None
        for row in ds.to_list():
            if names is not None and isinstance(row.get(label_col), int) and 0 <= row[label_col] < len(names):
                row[label_col] = names[row[label_col]]
            if name is not None:
                row[HF_SPLIT] = name
            rows.append((len(rows) + 1, row))
    if parts[0][0] is not None:
        header.append(HF_SPLIT)
    return header, rows


def _cell(value: Any, what: str, where: str) -> str | None:
    """A text or label cell as a string; None when empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | np.integer | float):
        raise SourceError(f"{where}: the {what} is a {type(value).__name__}; expected a string or an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise SourceError(f"{where}: the {what} {value!r} is not an integer or a string")
        value = int(value)
    value = str(value)
    return value if value.strip() else None


def _read_table_source(path: Path, fmt: str, text_col: str, label_col: str, split_col: str | None,
                       sep: str | None) -> list[tuple[str | None, int, str, str]]:
    """(split or None, id, label, text) per row."""
    if fmt in ("csv", "tsv"):
        header, raw = _records_csv(path, sep or ("\t" if fmt == "tsv" else ","))
        index = {c: i for i, c in enumerate(header)}
        rows = [(n, {c: r[i] for c, i in index.items()}) for n, r in raw]
        row_word = "line"
    elif fmt == "jsonl":
        header, rows = _records_jsonl(path)
        row_word = "line"
    elif fmt == "hf":
        header, rows = _records_hf(path, label_col)
        row_word = "row"
        split_col = split_col or (HF_SPLIT if HF_SPLIT in header else None)
    else:
        header, rows = _records_parquet(path)
        row_word = "row"
    wanted = [("text", text_col), ("label", label_col)] + ([("split", split_col)] if split_col else [])
    missing = [f"{role} column {col!r}" for role, col in wanted if col not in header]
    if missing:
        raise SourceError(f"{path}: no {' and no '.join(missing)}; its columns are {', '.join(map(repr, header))} "
                          "(choose them with --text-col, --label-col, --split-col)")
    out, total = [], 0
    for n, row in rows:
        where = f"{path}, {row_word} {n}"
        if text_col not in row or label_col not in row:  # JSONL: each object has its own keys
            raise SourceError(f"{where}: no {text_col!r} or {label_col!r} field")
        text = _cell(row.get(text_col), f"text ({text_col!r})", where)
        if text is None:
            raise SourceError(f"{where}: the text column {text_col!r} is empty")
        size = len(text.encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            raise OverLimit(f"{where}: the text is {size:,} bytes, over {MAX_TEXT_BYTES:,} (MAX_TEXT_BYTES)")
        total += size
        if total > MAX_SOURCE_BYTES:
            raise OverLimit(f"{path}: the texts come to over {MAX_SOURCE_BYTES:,} bytes (MAX_SOURCE_BYTES)")
        split = None
        if split_col:
            split = _split_name(_cell(row.get(split_col), f"split ({split_col!r})", where), where, split_col)
        if split == UNSUP:  # an unlabelled text: whatever its label cell holds is not a class
            out.append((split, n, None, text))
            continue
        label = _cell(row.get(label_col), f"label ({label_col!r})", where)
        if label is None:
            raise SourceError(f"{where}: the label column {label_col!r} is empty")
        out.append((split, n, label.strip(), text))
    return out


def _split_name(value: str | None, where: str, col: str) -> str:
    name = SPLIT_NAMES.get((value or "").strip().lower())
    if name is None:
        raise SourceError(f"{where}: the split column {col!r} holds {value!r}; expected train, validation "
                          "(or val), test, or unsup (unlabelled texts)")
    return name


def _read_folder_source(root: Path) -> list[tuple[str | None, int, str | None, str]]:
    """(split or None, id, label, text) per .txt file of ``root/[split/]<class>/`` (and of ``root/unsup/``,
    unlabelled: label None)."""
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_dirs = [p for p in subs if p.name.lower() in SPLIT_NAMES]
    if split_dirs and len(split_dirs) != len(subs):
        others = [p.name for p in subs if p not in split_dirs]
        raise SourceError(f"{root} mixes split folders ({', '.join(p.name for p in split_dirs)}) with other folders "
                          f"({', '.join(others)}): put every class folder under train/ and test/, or none")
    groups = [(SPLIT_NAMES[p.name.lower()], p) for p in split_dirs] if split_dirs else [(None, root)]
    out, total, n = [], 0, 0
    for split, folder in groups:
        classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if split == UNSUP:  # unlabelled texts: the .txt files of the folder itself, no classes
            classes = [folder]
        elif not classes:
            raise SourceError(f"{folder} holds no class folders (expected one sub-folder of .txt files per class)")
        for cls in classes:
            for f in sorted(cls.iterdir()):
                if f.suffix.lower() != ".txt" or not f.is_file():
                    continue
                n += 1
                if n > MAX_ROWS:
                    raise OverLimit(f"{root} holds more than {MAX_ROWS:,} .txt files (MAX_ROWS)")
                size = f.stat().st_size
                if size > MAX_TEXT_BYTES:
                    raise OverLimit(f"{f} is {size:,} bytes, over {MAX_TEXT_BYTES:,} (MAX_TEXT_BYTES)")
                total += size
                if total > MAX_SOURCE_BYTES:
                    raise OverLimit(f"{root}: the .txt files come to over {MAX_SOURCE_BYTES:,} bytes "
                                    "(MAX_SOURCE_BYTES)")
                try:
                    data = f.read_bytes()
                except OSError as e:
                    raise SourceError(f"cannot read {f}: {e.strerror or e}") from e
                text = _decode(data, str(f))
                if not text.strip():
                    raise SourceError(f"{f} is empty: every text needs words")
                out.append((split, n, None if split == UNSUP else cls.name, text))
    if not out:
        raise SourceError(f"{root} holds no .txt files in its class folders")
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
        rows = _read_folder_source(path)
    else:
        rows = _read_table_source(path, fmt, options.get("text_col") or "text", options.get("label_col") or "label",
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
            raise SourceError(f"the source of dataset {name!r} now has the classes {meta['classes']}, not "
                              f"{entry['classes']}; add it again (under a new name to keep older runs readable)")
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
    staged = uploads_dir() / f".upload-{name}{suffix}"
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
            raise ValueError(f"val_size={cfg.val_size} leaves no training rows ({'; '.join(short)})")
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
