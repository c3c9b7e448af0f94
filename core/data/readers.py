"""The rows of a dataset source, read with bounds checked before anything is allocated.

What it is: the readers behind ``data add`` (:mod:`core.data.sources`), one per kind of source --
CSV and TSV (:func:`read_table_source`), JSONL, Parquet, a folder saved by Hugging Face ``datasets``,
and a folder of one sub-folder of ``.txt`` files per class (:func:`read_folder_source`) -- each
giving ``(split or None, id, label or None, text)`` per row. Every reader is bounded before it
allocates: CSV and JSONL are streamed a line at a time, each line read with a bound; a JSONL line's
nesting is counted before ``json.loads`` recurses; Parquet is bounded by its metadata (uncompressed
sizes, dictionary page headers) and read a batch at a time, each batch's value sizes checked before
it becomes Python; a Hugging Face folder's JSON files are bounded, every data file its ``state.json``
names must lie inside the folder, and its Arrow batches' decompressed sizes are read from their
metadata (pyarrow exposes none of it: a small reader of the IPC format's flatbuffers does) before
anything is decompressed; a source must be a regular file (never a FIFO or a device), and a class
folder's link that leads outside it is refused.

What it is not: classes, splits and the cache (:mod:`core.data.sources`), tokenising
(:mod:`core.data.text`). Every error is a :class:`SourceError` (or an
:class:`~core.data.imdb.OverLimit`) naming the file, the line or row, and the bound.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import stat
import struct
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rnnlab.core.config import first_few
from rnnlab.core.data.imdb import MAX_REVIEW_BYTES, DataError, OverLimit

UNSUP = "unsup"  # unlabelled texts: their label is -1 (word2vec reads them; no classifier does)
SPLIT_NAMES = {"train": "train", "validation": "val", "val": "val", "valid": "val", "dev": "val", "test": "test",
               "unsup": "unsup", "unsupervised": "unsup", "unlabelled": "unsup", "unlabeled": "unsup"}
HF_SPLIT = "__split__"  # the key under which a Hugging Face DatasetDict's split name reaches the table reader
MAX_TEXT_BYTES = MAX_REVIEW_BYTES  # one text
MAX_SOURCE_BYTES = 512 * 2**20  # the file, or all .txt files of a folder together
MAX_ROWS = 1_000_000
# one line of a CSV or JSONL file, or one CSV row over several lines: a text at its cap escaped (JSON's \uXXXX
# takes up to 4x), and the row's other fields
MAX_LINE_BYTES = 4 * MAX_TEXT_BYTES
MAX_JSON_DEPTH = 32  # arrays and objects open at once in one JSONL line (a row's cells are strings and numbers)
MAX_HF_JSON_BYTES = 4 * 2**20  # dataset_dict.json, state.json, dataset_info.json of a Hugging Face folder
PARQUET_ROW_BYTES = 32  # per row, what a Parquet column chunk holds besides its values (lengths, levels, headers)
BATCH_ROWS = 1024  # rows of a Parquet or Arrow source turned into Python at a time, once their sizes are checked
BATCH_BYTES = 64 * 2**20  # what one Parquet batch may decode to, at most, before its sizes are checked
DICTIONARY_PAGE_BYTES = 2 * 2**20  # a Parquet dictionary page over this is read as stored (writers keep to ~1 MiB)


class SourceError(DataError):
    """The source cannot be read as a labelled text dataset; the message names the file, row or column."""




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


def _open_regular(path: Path) -> BinaryIO:
    """Open a source file for reading: a regular file of at most :data:`MAX_SOURCE_BYTES`, or a clear refusal.

    A FIFO or a device (``/dev/zero`` behind a ``.csv`` symlink) is refused before it is opened, and
    it is opened without blocking, so a FIFO swapped in after the check cannot hang the read.
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(f"{path} is not a regular file (a folder, FIFO or device): give a file or a folder of "
                              "class folders")
        if st.st_size > MAX_SOURCE_BYTES:
            raise OverLimit(f"{path} is {st.st_size:,} bytes; nothing over {MAX_SOURCE_BYTES:,} bytes "
                            "(MAX_SOURCE_BYTES) is read")
        f = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from e
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        f.close()
        raise SourceError(f"{path} is not a regular file once opened: give a file or a folder of class folders")
    return f


def _decode(data: bytes, where: str, offset: int = 0, line: int = 1) -> str:
    """``data`` as UTF-8 text; a refusal names the first bad byte, its offset in the file and its line."""
    try:
        return data.decode("utf-8-sig" if offset == 0 else "utf-8")
    except UnicodeDecodeError as e:
        line += data[:e.start].count(b"\n")
        raise SourceError(f"{where} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {offset + e.start} (line "
                          f"{line}); save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)") from None


class _Lines:
    """The lines of a UTF-8 source file (line ends kept, as the csv module wants them), each read with a bound.

    A line over :data:`MAX_LINE_BYTES` characters is refused from a read of that many, never read
    whole; so is a file past :data:`MAX_SOURCE_BYTES` (a file of ``/proc`` says it is empty).
    :meth:`mark` starts a record: the lines read since are bounded together, for a CSV row spread
    over lines. Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (as the csv module reads them).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = io.TextIOWrapper(_open_regular(path), encoding="utf-8-sig", newline="")
        self.number = 0  # of the last line read, from 1
        self.read = 0  # characters read so far
        self.marked = 0  # where the current record started

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.text.close()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            line = self.text.readline(MAX_LINE_BYTES + 1)
        except UnicodeDecodeError:
            raise _not_utf8(self.path) from None
        if not line:
            raise StopIteration
        self.number += 1
        where = f"{self.path}, line {self.number}"
        if len(line) > MAX_LINE_BYTES:
            raise OverLimit(f"{where} is over {MAX_LINE_BYTES:,} characters (MAX_LINE_BYTES: a text may hold "
                            f"{MAX_TEXT_BYTES:,} bytes, MAX_TEXT_BYTES); nothing more of it was read")
        self.read += len(line)
        if self.read > MAX_SOURCE_BYTES:
            raise OverLimit(f"{self.path} is over {MAX_SOURCE_BYTES:,} bytes (MAX_SOURCE_BYTES)")
        if self.read - self.marked > MAX_LINE_BYTES:
            raise OverLimit(f"{where}: the row that ends here is over {MAX_LINE_BYTES:,} characters "
                            "(MAX_LINE_BYTES)")
        return line

    def mark(self) -> None:
        self.marked = self.read


def _not_utf8(path: Path) -> SourceError:
    """The refusal of a file that is not UTF-8, naming its first bad byte, found again by a bounded scan."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with _open_regular(path) as f:
        while chunk := f.read(2**20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                at = e.start - len(decoder.getstate()[0])  # the decoder's pending bytes come first in e.object
                bad = e.object[e.start]
                line += e.object[:e.start].count(b"\n")
                return SourceError(f"{path} is not UTF-8 text: byte 0x{bad:02x} at offset {offset + at} (line "
                                   f"{line}); save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")
            offset += len(chunk)
            line += chunk.count(b"\n")
    return SourceError(f"{path} is not UTF-8 text: save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")


@contextmanager
def _csv_field_limit(chars: int) -> Iterator[None]:
    """The csv module's field limit (131,072 characters by default, below the text cap) while a source is read."""
    old = csv.field_size_limit(chars)  # process-wide: every reader here sets the same value
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _csv_row(reader: Any, lines: _Lines) -> list[str] | None:
    """The next row of ``reader``, None at the end; csv's errors become a refusal naming the line."""
    lines.mark()
    try:
        return next(reader, None)
    except csv.Error as e:
        if "field larger than field limit" in str(e):
            raise OverLimit(f"{lines.path}, line {lines.number}: a field is over {MAX_TEXT_BYTES:,} characters "
                            "(MAX_TEXT_BYTES)") from None
        raise SourceError(f"{lines.path}, line {lines.number}: not valid CSV ({e})") from None


@contextmanager
def _records_csv(path: Path, sep: str) -> Iterator[tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]]:
    """The header and the rows (line number, {column: cell}) of a CSV or TSV file, streamed."""
    with _csv_field_limit(MAX_TEXT_BYTES), _Lines(path) as lines:
        reader = csv.reader(lines, delimiter=sep, strict=True)
        header = _csv_row(reader, lines)
        if header is None:
            raise SourceError(f"{path} is empty: expected a header row naming the columns")
        header = [h.strip() for h in header]
        yield header, _csv_rows(reader, lines, header, sep)


def _csv_rows(reader: Any, lines: _Lines, header: list[str], sep: str) -> Iterator[tuple[int, dict[str, Any]]]:
    count = 0
    while (row := _csv_row(reader, lines)) is not None:
        if not row:  # a blank line
            continue
        if len(row) != len(header):
            raise SourceError(f"{lines.path}, line {reader.line_num}: {len(row)} fields, but the header has "
                              f"{len(header)} (a ragged row: check the separator {sep!r} and the quoting)")
        count += 1
        if count > MAX_ROWS:
            raise OverLimit(f"{lines.path} has more than {MAX_ROWS:,} rows (MAX_ROWS)")
        yield reader.line_num, dict(zip(header, row, strict=True))


_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.S)  # possessive: linear even when unterminated
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[[ord("["), ord("{")]], _BRACKET_STEP[[ord("]"), ord("}")]] = 1, -1


def _json_too_deep(line: str) -> bool:
    """Whether arrays and objects nest deeper than :data:`MAX_JSON_DEPTH` in one JSON line, found without recursing.

    json.loads recurses once per level (100,000 levels end in a RecursionError); this counts the
    brackets and braces outside strings in chunks, in time linear in the line.
    """
    if line.count("[") + line.count("{") <= MAX_JSON_DEPTH:  # cannot nest deeper: the common case, at C speed
        return False
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", line)).encode("ascii")
    depth = 0
    for start in range(0, len(brackets), 2**20):
        steps = _BRACKET_STEP[np.frombuffer(brackets, np.uint8, min(2**20, len(brackets) - start), start)]
        levels = depth + np.cumsum(steps, dtype=np.int64)
        if levels.max() > MAX_JSON_DEPTH:
            return True
        depth = int(levels[-1])
    return False


@contextmanager
def _records_jsonl(path: Path) -> Iterator[tuple[None, Iterator[tuple[int, dict[str, Any]]]]]:
    """The rows (line number, object) of a JSONL file, streamed; no header (each object has its own keys)."""
    with _Lines(path) as lines:
        yield None, _jsonl_rows(lines)


def _jsonl_rows(lines: _Lines) -> Iterator[tuple[int, dict[str, Any]]]:
    count = 0
    for line in lines:
        if not line.strip():
            continue
        where = f"{lines.path}, line {lines.number}"
        if _json_too_deep(line):
            raise SourceError(f"{where}: arrays and objects nested more than {MAX_JSON_DEPTH} deep (MAX_JSON_DEPTH); "
                              "a row is an object of strings and numbers")
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as e:
            raise SourceError(f"{where}: not valid JSON ({e})") from None
        if not isinstance(obj, dict):
            raise SourceError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        count += 1
        if count > MAX_ROWS:
            raise OverLimit(f"{lines.path} has more than {MAX_ROWS:,} rows (MAX_ROWS)")
        yield lines.number, obj


# --------------------------------------------------------------------------- Arrow batches: sizes before values


class _ValueSizes:
    """Each value's size in bytes, of a string or binary column (dictionary-encoded or not), without decoding it.

    A dictionary-encoded column is measured through its dictionary: 200 rows pointing at one 8 MiB
    value take 1.6 GB once decoded, from a file of 1 KB. The last dictionary's sizes are kept (with
    the dictionary, so its memory cannot be reused): batches of one row group share it.
    """

    def __init__(self) -> None:
        self.dictionary: pa.Array | None = None
        self.sizes: np.ndarray | None = None

    def __call__(self, column: pa.Array) -> np.ndarray | None:
        """The sizes of ``column``'s values (0 for a null); None for a column of another type."""
        if pa.types.is_dictionary(column.type):
            sizes = self._dictionary_sizes(column.dictionary)
            if sizes is None:
                return None
            indices = pc.fill_null(column.indices, 0).to_numpy(zero_copy_only=False)
            return np.where(column.is_null().to_numpy(zero_copy_only=False), 0, sizes[indices]) if len(sizes) else \
                np.zeros(len(column), dtype=np.int64)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                or pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
            return None
        return pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False).astype(np.int64)

    def _dictionary_sizes(self, dictionary: pa.Array) -> np.ndarray | None:
        same = (self.dictionary is not None and len(self.dictionary) == len(dictionary)
                and self.dictionary.offset == dictionary.offset
                and [b.address if b else 0 for b in self.dictionary.buffers()]
                == [b.address if b else 0 for b in dictionary.buffers()])
        if not same:
            self.dictionary, self.sizes = dictionary, self(dictionary)
        return self.sizes


@dataclass
class _Spent:
    """How far a source's batches have come: rows turned into Python, and bytes of their variable-width values."""

    rows: int = 0
    bytes: int = 0


def _checked_rows(batches: Iterable[pa.RecordBatch], path: Path, spent: _Spent) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows (row number, {column: value}) of Arrow batches, each batch's value sizes checked before it is
    turned into Python: no value over :data:`MAX_TEXT_BYTES`, all of them together not over :data:`MAX_SOURCE_BYTES`."""
    measure = _ValueSizes()
    for batch in batches:
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            sizes = measure(column)
            if sizes is None or not len(sizes):
                continue
            if sizes.max() > MAX_TEXT_BYTES:
                i = int(sizes.argmax())
                raise OverLimit(f"{path}, row {spent.rows + i + 1}: the {name!r} value is {int(sizes[i]):,} bytes, "
                                f"over {MAX_TEXT_BYTES:,} (MAX_TEXT_BYTES)")
            spent.bytes += int(sizes.sum())
            if spent.bytes > MAX_SOURCE_BYTES:
                raise OverLimit(f"{path}: the columns read come to over {MAX_SOURCE_BYTES:,} bytes (MAX_SOURCE_BYTES) "
                                f"by row {spent.rows + len(sizes):,}")
        for row in batch.to_pylist():
            spent.rows += 1
            yield spent.rows, row


def _parquet_declared_bytes(meta: pq.FileMetaData, columns: list[str]) -> int:
    """What the row groups' metadata says ``columns`` take uncompressed (data and dictionary pages)."""
    total = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if chunk.path_in_schema.split(".")[0] in columns:
                total += chunk.total_uncompressed_size
    return total


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A Thrift compact varint at ``pos``: its value and the position after it."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 35:
            raise ValueError("a varint longer than an i32")


def _page_uncompressed_bytes(f: BinaryIO, offset: int) -> int:
    """The uncompressed size a Parquet page header declares (field 2 of the Thrift PageHeader at ``offset``).

    pyarrow exposes no page header; every writer opens it with its i32 fields 1-3 (type,
    uncompressed size, compressed size) in the compact protocol's short form, read here.
    """
    f.seek(offset)
    head, pos, field = f.read(64), 0, 0
    while True:
        kind, delta = head[pos] & 0x0F, head[pos] >> 4
        if kind != 5 or not delta:  # 5: an i32; a delta of 0: a long-form field id, which no writer uses here
            raise ValueError(f"an unexpected page header at byte {offset:,}")
        field += delta
        value, pos = _varint(head, pos + 1)
        if field == 2:
            return (value >> 1) ^ -(value & 1)  # zigzag


def _largest_dictionary_page(f: BinaryIO, group: pq.RowGroupMetaData, columns: list[str]) -> int:
    """The largest dictionary page, uncompressed, of ``columns`` in one row group (0 without one)."""
    largest = 0
    for c in range(group.num_columns):
        chunk = group.column(c)
        if chunk.has_dictionary_page and chunk.path_in_schema.split(".")[0] in columns:
            largest = max(largest, _page_uncompressed_bytes(f, chunk.dictionary_page_offset))
    return largest


@contextmanager
def _records_parquet(path: Path, wanted: list[str]) -> Iterator[tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]]:
    """The header and the rows of a Parquet file: bounded through its metadata, then read a batch at a time.

    Only the ``wanted`` columns are read. The metadata bounds what they take uncompressed, but a
    dictionary page's value reaches every row that points at it: see :func:`_parquet_batches`.
    """
    with _open_regular(path) as f:
        try:
            pfile = pq.ParquetFile(f)
            meta, schema = pfile.metadata, pfile.schema_arrow
        except (OSError, pa.ArrowException) as e:
            raise SourceError(f"cannot read {path} as Parquet: {e}") from e
        if meta.num_rows > MAX_ROWS:
            raise OverLimit(f"{path} has {meta.num_rows:,} rows, more than {MAX_ROWS:,} (MAX_ROWS)")
        columns = [c for c in dict.fromkeys(wanted) if c in schema.names]
        declared = _parquet_declared_bytes(meta, columns)
        if declared > MAX_SOURCE_BYTES + PARQUET_ROW_BYTES * meta.num_rows:
            raise OverLimit(f"{path}: its metadata says the columns {', '.join(map(repr, columns))} take {declared:,} "
                            f"bytes uncompressed, over {MAX_SOURCE_BYTES:,} (MAX_SOURCE_BYTES); nothing was read")
        variable = [c for c in columns if any(is_(schema.field(c).type) for is_ in (
            pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary))]
        yield schema.names, _parquet_rows(f, path, meta, columns, variable)


def _parquet_rows(f: BinaryIO, path: Path, meta: pq.FileMetaData, columns: list[str], variable: list[str]
                  ) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        yield from _checked_rows(_parquet_batches(f, meta, columns, variable), path, _Spent())
    except (OSError, ValueError, IndexError, pa.ArrowException) as e:
        if isinstance(e, DataError):
            raise
        raise SourceError(f"cannot read {path} as Parquet: {e}") from e


def _parquet_batches(f: BinaryIO, meta: pq.FileMetaData, columns: list[str], variable: list[str]
                     ) -> Iterator[pa.RecordBatch]:
    """The batches of ``columns``, row group by row group, each decoding a bounded number of bytes.

    A row can decode to no more than its row group's largest dictionary page. Writers keep those
    pages to about 1 MiB (pyarrow and parquet-mr fall back to plain pages beyond): such a group
    is read in batches of :data:`BATCH_BYTES` / that page's rows. A larger page (a 1 KB file's one
    8 MiB value behind 200 rows) is read as dictionaries, each value measured before any is copied.
    """
    plain = pq.ParquetFile(f, metadata=meta)
    as_stored = pq.ParquetFile(f, metadata=meta, read_dictionary=variable)
    for g in range(meta.num_row_groups):
        largest = _largest_dictionary_page(f, meta.row_group(g), variable)
        if largest > DICTIONARY_PAGE_BYTES:
            yield from as_stored.iter_batches(batch_size=BATCH_ROWS, row_groups=[g], columns=columns,
                                              use_threads=False)
        else:
            rows = max(1, min(BATCH_ROWS, BATCH_BYTES // max(largest, 1)))
            yield from plain.iter_batches(batch_size=rows, row_groups=[g], columns=columns, use_threads=False)


# --------------------------------------------------------------------------- Hugging Face save_to_disk folders


def _small_json(path: Path, root: Path) -> Any:
    """One of a Hugging Face folder's JSON files: inside ``root``, regular, at most MAX_HF_JSON_BYTES, flat enough."""
    if not _inside(path, root):
        raise SourceError(f"{path} leads outside {root}: a Hugging Face folder's files must be inside it")
    try:
        if not path.is_file():
            raise SourceError(f"{root} is not a complete Hugging Face folder: {path.name} is missing")
        size = path.stat().st_size
        if size > MAX_HF_JSON_BYTES:
            raise OverLimit(f"{path} is {size:,} bytes, over {MAX_HF_JSON_BYTES:,} (MAX_HF_JSON_BYTES)")
        with _open_regular(path) as f:
            text = _decode(f.read(MAX_HF_JSON_BYTES + 1), str(path))
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from e
    if _json_too_deep(text):
        raise SourceError(f"{path}: nested more than {MAX_JSON_DEPTH} deep (MAX_JSON_DEPTH)")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise SourceError(f"{path} is not valid JSON: {e}") from None


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, its links followed, lies inside the folder ``root``."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def _hf_splits(root: Path) -> list[tuple[str | None, Path]]:
    """The (split name, folder) pairs ``datasets.load_from_disk`` reads: the folder itself for one Dataset (None)."""
    if (root / "state.json").is_file() and (root / "dataset_info.json").is_file():  # load_from_disk's own order
        return [(None, root)]
    listed = _small_json(root / "dataset_dict.json", root)
    splits = listed.get("splits") if isinstance(listed, dict) else None
    if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
        raise SourceError(f"{root / 'dataset_dict.json'}: 'splits' must be a list of split names")
    for name in splits:
        if not re.fullmatch(r"[\w.-]+", name) or name in (".", "..") or not _inside(root / name, root):
            raise SourceError(f"{root / 'dataset_dict.json'}: the split {name!r} is not a folder inside {root}")
    return [(name, root / name) for name in splits]


def _hf_data_files(folder: Path, root: Path) -> list[Path]:
    """The Arrow files ``state.json`` names for one split, each a regular file inside ``root``."""
    state = _small_json(folder / "state.json", root)
    _small_json(folder / "dataset_info.json", root)  # load_from_disk parses it too: bounded first
    entries = state.get("_data_files") if isinstance(state, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("filename"), str)
                                                for e in entries):
        raise SourceError(f"{folder / 'state.json'}: '_data_files' must be a list of {{\"filename\": ...}}")
    files = []
    for entry in entries:
        file = folder / entry["filename"]
        if not _inside(file, root):
            raise SourceError(f"{folder / 'state.json'} names {entry['filename']!r}, which leads outside {root}: "
                              "every data file must be inside the folder")
        if not file.is_file():
            raise SourceError(f"{folder / 'state.json'} names {entry['filename']!r}, which is not a file")
        files.append(file)
    return files


# A few fields of the Arrow IPC message metadata (a flatbuffer; pyarrow exposes none of them), by slot:
_MESSAGE_HEADER_TYPE, _MESSAGE_HEADER = 1, 2  # Message: header_type (ubyte), header (a union's table)
_DICTIONARY_BATCH, _RECORD_BATCH = 2, 3  # the union's types
_DICTIONARY_DATA = 1  # DictionaryBatch: data (a RecordBatch)
_BATCH_BUFFERS, _BATCH_COMPRESSION = 2, 3  # RecordBatch: buffers [Buffer{offset, length}], compression


def _fb_field(meta: bytes, table: int, slot: int) -> int | None:
    """Where field ``slot`` of the flatbuffer table at ``table`` is stored; None when absent (its default)."""
    vtable = table - struct.unpack_from("<i", meta, table)[0]
    size = struct.unpack_from("<H", meta, vtable)[0]
    if 4 + 2 * slot + 2 > size:
        return None
    at = struct.unpack_from("<H", meta, vtable + 4 + 2 * slot)[0]
    return table + at if at else None


def _fb_target(meta: bytes, at: int) -> int:
    """Where the offset stored at ``at`` points."""
    return at + struct.unpack_from("<I", meta, at)[0]


def _message_batch(meta: bytes) -> int | None:
    """The RecordBatch table of a record or dictionary batch message's metadata; None for another message."""
    root = _fb_target(meta, 0)
    kind_at, header_at = _fb_field(meta, root, _MESSAGE_HEADER_TYPE), _fb_field(meta, root, _MESSAGE_HEADER)
    kind = meta[kind_at] if kind_at is not None else 0
    if kind not in (_DICTIONARY_BATCH, _RECORD_BATCH) or header_at is None:
        return None
    batch = _fb_target(meta, header_at)
    if kind == _DICTIONARY_BATCH:
        data_at = _fb_field(meta, batch, _DICTIONARY_DATA)
        return None if data_at is None else _fb_target(meta, data_at)
    return batch


def _decoded_bytes(meta: bytes, body: memoryview) -> int:
    """The bytes a batch message's buffers take once read: a compressed buffer (LZ4 or ZSTD) starts with its
    decompressed length, which is read here without decompressing anything."""
    batch = _message_batch(meta)
    buffers_at = None if batch is None else _fb_field(meta, batch, _BATCH_BUFFERS)
    if buffers_at is None:
        return 0
    compressed = _fb_field(meta, batch, _BATCH_COMPRESSION) is not None
    vector = _fb_target(meta, buffers_at)
    count = struct.unpack_from("<I", meta, vector)[0]
    if vector + 4 + 16 * count > len(meta):
        raise ValueError(f"{count:,} buffers do not fit the message's metadata")
    total = 0
    for i in range(count):
        offset, length = struct.unpack_from("<qq", meta, vector + 4 + 16 * i)
        if not compressed or length < 8:
            total += length
            continue
        (size,) = struct.unpack_from("<q", body, offset)
        if size < -1:
            raise ValueError(f"a buffer claims {size:,} bytes")
        total += length - 8 if size == -1 else size  # -1: stored uncompressed
    return total


def _arrow_decoded_bytes(file: Path, budget: int) -> int:
    """What the batches of an Arrow stream file take once read, from its messages' metadata; refused over ``budget``.

    The file is memory-mapped and only the metadata (and the 8 bytes before each compressed
    buffer) is touched: a 77 KB file of ZSTD buffers declaring 800 MB is refused unread.
    """
    total = 0
    try:
        with pa.memory_map(str(file)) as source:
            reader = pa.ipc.MessageReader.open_stream(source)
            while True:
                try:
                    message = reader.read_next_message()
                except StopIteration:
                    break
                body = memoryview(message.body) if message.body is not None else memoryview(b"")
                total += _decoded_bytes(message.metadata.to_pybytes(), body)
                if total > budget:
                    raise OverLimit(f"{file}: its batches take over {budget:,} bytes once decompressed (the rest "
                                    f"of MAX_SOURCE_BYTES, {MAX_SOURCE_BYTES:,}, for the folder); nothing was "
                                    "decompressed")
    except (OSError, ValueError, IndexError, struct.error, pa.ArrowException) as e:
        if isinstance(e, OverLimit):
            raise
        raise SourceError(f"cannot read {file} as a Hugging Face dataset's Arrow file: {e}") from e
    return total


def _check_hf_folder(root: Path) -> None:
    """Everything ``load_from_disk`` would open, checked first: JSON files bounded, data files inside the folder,
    regular, and within :data:`MAX_SOURCE_BYTES` once decompressed."""
    left = MAX_SOURCE_BYTES
    for _, folder in _hf_splits(root):
        for file in _hf_data_files(folder, root):
            left -= _arrow_decoded_bytes(file, left)


@contextmanager
def _records_hf(path: Path, wanted: list[str], label_col: str
                ) -> Iterator[tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]]:
    """The header and rows of a folder saved by Hugging Face ``datasets``; a DatasetDict's split under :data:`HF_SPLIT`.

    The folder is checked (:func:`_check_hf_folder`) before ``datasets.load_from_disk`` opens it;
    the rows are then read from its Arrow tables a batch at a time, their sizes checked first.
    """
    size = _folder_bytes(path)
    if size > MAX_SOURCE_BYTES:
        raise OverLimit(f"{path} holds {size:,} bytes; nothing over {MAX_SOURCE_BYTES:,} bytes (MAX_SOURCE_BYTES) "
                        "is read")
    try:
        import datasets
    except ImportError:
        raise SourceError(f"{path} was saved by Hugging Face datasets; reading it needs that optional package: "
                          "`pip install datasets`") from None
    _check_hf_folder(path)
    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError, KeyError, TypeError, RecursionError, pa.ArrowException) as e:
        raise SourceError(f"cannot read {path} as a Hugging Face dataset: {e}") from e
    parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    parts = [(name, ds) for name, ds in parts if name is None or name.lower() in SPLIT_NAMES]
    if not parts:
        raise SourceError(f"{path}: none of its splits ({', '.join(loaded)}) is train, validation or test")
    if sum(ds.num_rows for _, ds in parts) > MAX_ROWS:
        raise OverLimit(f"{path} has more than {MAX_ROWS:,} rows (MAX_ROWS)")
    header = list(parts[0][1].column_names) + ([HF_SPLIT] if parts[0][0] is not None else [])
    yield header, _hf_rows(parts, wanted, label_col, path, datasets.ClassLabel)


def _hf_rows(parts: list[tuple[str | None, Any]], wanted: list[str], label_col: str, path: Path,
             class_label: type) -> Iterator[tuple[int, dict[str, Any]]]:
    spent = _Spent()  # over every split: rows numbered on, bytes counted together
    for name, ds in parts:
        feature = ds.features.get(label_col)
        names = feature.names if isinstance(feature, class_label) else None
        table = ds.data.table  # the Arrow table, as mapped: no format applied, nothing decoded yet
        columns = [c for c in dict.fromkeys(wanted) if c in table.column_names]
        try:
            for n, row in _checked_rows(table.select(columns).to_batches(max_chunksize=BATCH_ROWS), path, spent):
                if names is not None and isinstance(row.get(label_col), int) and 0 <= row[label_col] < len(names):
                    row[label_col] = names[row[label_col]]
                if name is not None:
                    row[HF_SPLIT] = name
                yield n, row
        except pa.ArrowException as e:
            raise SourceError(f"cannot read {path} as a Hugging Face dataset: {e}") from e


def _folder_bytes(root: Path) -> int:
    try:
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)
    except OSError as e:
        raise SourceError(f"cannot read {e.filename or root}: {e.strerror or e}") from e


def _records(path: Path, fmt: str, wanted: list[str], label_col: str, sep: str | None
             ) -> AbstractContextManager[tuple[list[str] | None, Iterator[tuple[int, dict[str, Any]]]]]:
    """The header (None for JSONL, whose objects each have their own keys) and the streamed rows of a table source."""
    if fmt in ("csv", "tsv"):
        return _records_csv(path, sep or ("\t" if fmt == "tsv" else ","))
    if fmt == "jsonl":
        return _records_jsonl(path)
    if fmt == "hf":
        return _records_hf(path, wanted, label_col)
    return _records_parquet(path, wanted)


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


def read_table_source(path: Path, fmt: str, text_col: str, label_col: str, split_col: str | None,
                       sep: str | None) -> list[tuple[str | None, int, str, str]]:
    """(split or None, id, label, text) per row, read row by row: each text is checked as it arrives."""
    wanted = [text_col, label_col] + ([split_col] if split_col else [])
    row_word = "line" if fmt in ("csv", "tsv", "jsonl") else "row"
    with _records(path, fmt, wanted, label_col, sep) as (header, rows):
        if fmt == "hf":
            split_col = split_col or (HF_SPLIT if HF_SPLIT in header else None)
        if header is not None:
            _check_columns(path, header, text_col, label_col, split_col)
        out, total = [], 0
        for n, row in rows:
            where = f"{path}, {row_word} {n}"
            if header is None:  # JSONL: each object has its own keys
                _check_columns(where, list(row), text_col, label_col, split_col, "field")
            text = _cell(row.get(text_col), f"text ({text_col!r})", where)
            if text is None:
                raise SourceError(f"{where}: the text column {text_col!r} is empty")
            size = len(text.encode("utf-8"))
            if size > MAX_TEXT_BYTES:
                raise OverLimit(f"{where}: the text is {size:,} bytes, over {MAX_TEXT_BYTES:,} (MAX_TEXT_BYTES)")
            total += size
            if total > MAX_SOURCE_BYTES:
                raise OverLimit(f"{path}: the texts come to over {MAX_SOURCE_BYTES:,} bytes (MAX_SOURCE_BYTES)")
            out.append(_labelled(row, n, text, label_col, split_col, where))
    return out


def _check_columns(where: Path | str, names: list[str], text_col: str, label_col: str, split_col: str | None,
                   word: str = "column") -> None:
    """Refuse a header (or a JSONL object) that lacks the text, label or split column, naming those it has."""
    wanted = [("text", text_col), ("label", label_col)] + ([("split", split_col)] if split_col else [])
    missing = [f"{role} {word} {col!r}" for role, col in wanted if col not in names]
    if missing:
        raise SourceError(f"{where}: no {' and no '.join(missing)}; its {word}s are {first_few(names)} "
                          "(choose them with --text-col, --label-col, --split-col)")  # a wide table: a few, counted


def _labelled(row: dict[str, Any], n: int, text: str, label_col: str, split_col: str | None, where: str
              ) -> tuple[str | None, int, str | None, str]:
    """One row's (split or None, id, label or None for an unlabelled text, text)."""
    split = None
    if split_col:
        split = _split_name(_cell(row.get(split_col), f"split ({split_col!r})", where), where, split_col)
    if split == UNSUP:  # an unlabelled text: whatever its label cell holds is not a class
        return split, n, None, text
    label = _cell(row.get(label_col), f"label ({label_col!r})", where)
    if label is None:
        raise SourceError(f"{where}: the label column {label_col!r} is empty")
    return split, n, label.strip(), text


def _split_name(value: str | None, where: str, col: str) -> str:
    name = SPLIT_NAMES.get((value or "").strip().lower())
    if name is None:
        raise SourceError(f"{where}: the split column {col!r} holds {value!r}; expected train, validation "
                          "(or val), test, or unsup (unlabelled texts)")
    return name


def read_folder_source(root: Path) -> list[tuple[str | None, int, str | None, str]]:
    """(split or None, id, label, text) per .txt file of ``root/[split/]<class>/`` (and of ``root/unsup/``,
    unlabelled: label None). A folder or file whose link leads outside ``root`` is refused, not followed."""
    subs = _subfolders(root, root)
    split_dirs = [p for p in subs if p.name.lower() in SPLIT_NAMES]
    if split_dirs and len(split_dirs) != len(subs):
        others = [p.name for p in subs if p not in split_dirs]
        raise SourceError(f"{root} mixes split folders ({', '.join(p.name for p in split_dirs)}) with other folders "
                          f"({first_few(others, str)}): put every class folder under train/ and test/, or none")
    groups = [(SPLIT_NAMES[p.name.lower()], p) for p in split_dirs] if split_dirs else [(None, root)]
    out, total, n = [], 0, 0
    for split, folder in groups:
        classes = _subfolders(folder, root)
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
                _refuse_escape(f, root, "file")
                size = _text_file_size(f)
                total += size
                if total > MAX_SOURCE_BYTES:
                    raise OverLimit(f"{root}: the .txt files come to over {MAX_SOURCE_BYTES:,} bytes "
                                    "(MAX_SOURCE_BYTES)")
                text = _read_text_file(f)
                out.append((split, n, None if split == UNSUP else cls.name, text))
    if not out:
        raise SourceError(f"{root} holds no .txt files in its class folders")
    return out


def _subfolders(folder: Path, root: Path) -> list[Path]:
    """The visible sub-folders of ``folder``, sorted; one whose link leads outside ``root`` is refused."""
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    for p in subs:
        _refuse_escape(p, root, "folder")
    return subs


def _refuse_escape(path: Path, root: Path, what: str) -> None:
    """Refuse a link inside the source folder that leads outside it: its target's text is not the dataset's."""
    if not _inside(path, root):
        raise SourceError(f"{path} is a link to {os.path.realpath(path)}, outside {root}: copy the {what} into the "
                          f"dataset folder, or remove the link")


def _text_file_size(f: Path) -> int:
    """A .txt file's size, refused over :data:`MAX_TEXT_BYTES` before it is read."""
    try:
        size = f.stat().st_size
    except OSError as e:
        raise SourceError(f"cannot read {f}: {e.strerror or e}") from e
    if size > MAX_TEXT_BYTES:
        raise OverLimit(f"{f} is {size:,} bytes, over {MAX_TEXT_BYTES:,} (MAX_TEXT_BYTES)")
    return size


def _read_text_file(f: Path) -> str:
    """One .txt file's text, from a regular file, read with the :data:`MAX_TEXT_BYTES` bound (it may have grown)."""
    with _open_regular(f) as file:
        try:
            data = file.read(MAX_TEXT_BYTES + 1)
        except OSError as e:
            raise SourceError(f"cannot read {f}: {e.strerror or e}") from e
    if len(data) > MAX_TEXT_BYTES:
        raise OverLimit(f"{f} is over {MAX_TEXT_BYTES:,} bytes (MAX_TEXT_BYTES)")
    text = _decode(data, str(f))
    if not text.strip():
        raise SourceError(f"{f} is empty: every text needs words")
    return text


