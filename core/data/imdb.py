"""IMDB acquisition: find, download, parse and cache the Large Movie Review Dataset v1.0.

What it does: finds the dataset (a path the caller gives, ``$RNNLAB_IMDB``, the project's cache
folder, else -- only when allowed -- a download of the official archive), parses it once into a
columnar Parquet cache and loads it as a :class:`pandas.DataFrame` with the columns

    split   str    'train', 'test' or 'unsup'
    id      int64  the review's number in its folder (``<id>_<rating>.txt``)
    rating  int64  the IMDB star rating, 1-10; 0 for unlabelled reviews
    label   int64  1 positive, 0 negative, -1 unlabelled
    text    str    the review as written (HTML such as ``<br />`` included)

with rows sorted by (split in the order train, test, unsup; label; id). :func:`split_frame`
then carves a seeded, label-balanced validation split from train so that the official test
split is touched only for final numbers.

What it does not do: tokenising or cleaning text (``core.data.text``), batching, training.

Sources. An archive (``aclImdb_v1.tar.gz``) is read as one gzip stream with :mod:`tarfile` in
streaming mode and never extracted, so nothing is written from it (no tar-slip). A folder is
the extracted ``aclImdb/`` (or the folder holding ``aclImdb/`` or ``aclImdb_v1.tar.gz``). A local
archive is accepted by its layout; the published checksum is checked only for a file
:func:`download_imdb` fetched itself.

Bad input, decided once here (every error is a :class:`DataError` with a one-paragraph message;
nothing is cached from a source that failed):

* truncated or corrupt archive (gzip, CRC or tar errors): :class:`CorruptArchive`;
* archive member with an absolute path or a ``..`` component: :class:`UnsafeArchive` -- the
  whole archive is refused, since it is not the official one and nothing in it can be trusted;
* links, devices and other non-regular archive members, and in a folder anything in a review
  folder that is not a readable file (sub-folders, dangling links): skipped and counted
  (``skipped``); a folder's symbolic links to files are followed, since the folder was chosen;
* files outside the layout (``imdb.vocab``, ``README``, ``*.feat``, ``urls_*.txt``, stray files
  in the review folders): ignored (``ignored`` counts the ones inside review folders);
* a folder without the layout, or a source with no train or no test reviews of either label:
  :class:`BadLayout`, naming what is missing;
* a review that is not valid UTF-8: decoded with ``errors='replace'`` (U+FFFD) and counted
  (``replaced_utf8``);
* an empty review: kept as ``''`` and counted (``empty``);
* a long review (a 5 MB one included) is kept whole;
* a review file whose name gives an id of :data:`MAX_REVIEW_ID` or more, or a rating outside its
  folder's range (pos 7-10, neg 1-4, unsup 0, as the dataset's README states): skipped, counted
  (``bad_names``) and warned about with an example -- never kept under a label it contradicts;
* the same review twice (a re-appended tar member): the last copy wins (``duplicates``);
* a path that does not exist: :class:`DatasetNotFound`; a file that is neither a gzip archive
  nor a folder: :class:`NotAnArchive`.

Bounds (decompression bombs, absurd folders). Every source is read as a stream against the
limits below, chosen at about three times what the official archive holds (measured: 100,016
members; 126 MiB of review text in 100,000 files, the longest 14,282 bytes; ~300 MB of tar
stream, 84 MB compressed). Going over one stops the read at once with :class:`OverLimit`
(a :class:`BadLayout`) naming the limit: the archive on disk over :data:`MAX_ARCHIVE_FILE_BYTES`,
its tar stream over :data:`MAX_ARCHIVE_BYTES`, more than :data:`MAX_MEMBERS` members (or entries
in a folder's review folders), one review over :data:`MAX_REVIEW_BYTES` (refused from its header,
before it is read), all reviews together over :data:`MAX_REVIEWS_BYTES`, one pax or GNU
long-name header over :data:`MAX_HEADER_BYTES`. Each review is held once, as the bytes read,
until Arrow copies it (validating its UTF-8) into the table, chunk by chunk, freeing the bytes as
it goes; so a read stays within :data:`MEMORY_BUDGET_BYTES` of peak memory, imports included
(``bench/bench_archive_memory.py`` measures it).

The counts above travel with the frame (``df.attrs['stats']``) and in the cache's metadata. The
cache is checked against its own data each time it is read (types, no nulls, labels, ratings, ids,
order, and the counts per split and label recomputed from the columns); a cache that fails is
parsed again from the source and replaced, never used.
"""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import json
import os
import re
import secrets
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rnnlab.core.config import DataConfig, default_val_size
from rnnlab.core.paths import data_dir

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_SIZE = 84_125_825
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
FOLDER_NAME = "aclImdb"
ENV_VAR = "RNNLAB_IMDB"

SPLITS = ("train", "test", "unsup")  # also the row order of the frame
COLUMNS = ("split", "id", "rating", "label", "text")
LABEL_NAMES = {1: "pos", 0: "neg", -1: "unlabelled"}
# the ratings each label may have (the dataset's README: pos >= 7, neg <= 4 of 10; unsup 0)
RATINGS = {1: range(7, 11), 0: range(1, 5), -1: range(0, 1)}

# Bounds on a source, about three times what the official archive holds (see the docstring).
MAX_ARCHIVE_FILE_BYTES = 256 * 2**20  # the .tar.gz on disk or uploaded (official: 84 MB)
MAX_ARCHIVE_BYTES = 2**30  # its uncompressed tar stream (official: ~300 MB)
MAX_MEMBERS = 300_000  # tar members, or entries in a folder's review folders (official: 100,016)
MAX_REVIEW_BYTES = 8 * 2**20  # one review (official: at most 14,282 bytes; a 5 MB one is still read)
MAX_REVIEWS_BYTES = 384 * 2**20  # all reviews together, held once in memory (official: 126 MiB)
MAX_HEADER_BYTES = 2**20  # one pax or GNU long-name header, which tarfile reads whole (official: none)
MAX_REVIEW_ID = 10**7  # a review id is below this (official: 0 to 49,999)
# Peak memory (RSS) of a process that reads any source, its ~110 MB of imports included: the
# review bytes (at most MAX_REVIEWS_BYTES) held once, plus one Arrow chunk and a Parquet row group.
MEMORY_BUDGET_BYTES = 768 * 2**20
GZIP_MAGIC = b"\x1f\x8b"
UPLOAD_PREFIX = ".upload-"  # staged uploads: data_dir()/.upload-<hex>.tar.gz
STALE_UPLOAD_S = 600.0  # a staged upload no install refers to is removed once this old

CACHE_VERSION = 2  # bump when the parsed columns change: old caches are then ignored
META_KEY = b"rnnlab.imdb"
_CHUNK = 1 << 20

# (folder, sub-folder) -> (split, label); any leading folders (normally "aclImdb/") are allowed
_LAYOUT = {
    ("train", "pos"): ("train", 1),
    ("train", "neg"): ("train", 0),
    ("test", "pos"): ("test", 1),
    ("test", "neg"): ("test", 0),
    ("train", "unsup"): ("unsup", -1),
}
_REQUIRED = [k for k, (split, _) in _LAYOUT.items() if split != "unsup"]
_REVIEW_FILE = re.compile(r"(\d+)_(\d+)\.txt")

Progress = Callable[[int, int], None]  # (bytes done, bytes expected; 0 when unknown)


class DataError(Exception):
    """The dataset cannot be found, fetched or read; the message says why and what to do."""


class DatasetNotFound(DataError):
    """No dataset at the given path, in the environment or in the cache folder."""


class NotAnArchive(DataError):
    """The path is not a gzip-compressed tar archive (or, to install, not a file at all)."""


class CorruptArchive(DataError):
    """The archive is truncated or damaged (gzip, CRC or tar errors)."""


class UnsafeArchive(CorruptArchive):
    """The archive holds a member with an absolute path or a ``..`` component."""


class BadLayout(DataError):
    """The folder or archive does not hold the aclImdb layout (what is missing is named)."""


class OverLimit(BadLayout):
    """The source goes over one of the reader's bounds (``MAX_...``, named in the message)."""


class DownloadError(DataError):
    """The download failed or did not match the published size or checksum."""


# --------------------------------------------------------------------------- locating


def default_archive_path() -> Path:
    """Where a downloaded (or hand-placed) archive lives: ``data_dir()/aclImdb_v1.tar.gz``."""
    return data_dir() / ARCHIVE_NAME


def _how_to_supply() -> str:
    return (
        "Supply the IMDB dataset (aclImdb_v1.tar.gz or its extracted aclImdb/ folder) in one of three ways: "
        f"(1) set {ENV_VAR}=PATH, pass --imdb PATH, or fill in the dashboard's dataset path field; "
        f"(2) put the archive at {default_archive_path()}; "
        "(3) download it (84 MB): `python -m core data download` or the dashboard's download button."
    )


def locate_imdb(path: str | os.PathLike[str] | None = None) -> Path:
    """The dataset source to read: an archive file or an extracted ``aclImdb`` folder.

    Looked for in order: ``path``; ``$RNNLAB_IMDB``; ``data_dir()/aclImdb_v1.tar.gz``. A path
    that is given but wrong is an error (it never silently falls through to the next source).
    A folder may be ``aclImdb/`` itself, its parent, or a folder holding ``aclImdb_v1.tar.gz``.
    Raises :class:`DatasetNotFound`, :class:`NotAnArchive` or :class:`BadLayout`.
    """
    if path is not None and str(path) != "":
        return _resolve_source(Path(path).expanduser(), "the given path")
    env = os.environ.get(ENV_VAR, "")
    if env:
        return _resolve_source(Path(env).expanduser(), f"${ENV_VAR}")
    cached = default_archive_path()
    if cached.is_file():
        return _resolve_source(cached, "the cache folder")
    raise DatasetNotFound("IMDB dataset not found. " + _how_to_supply())


def _resolve_source(path: Path, origin: str) -> Path:
    if not path.exists():
        raise DatasetNotFound(f"{path} ({origin}) does not exist. " + _how_to_supply())
    path = path.resolve()
    if path.is_dir():
        return _resolve_folder(path, origin)
    if not path.is_file():
        raise NotAnArchive(f"{path} ({origin}) is neither a file nor a folder.")
    try:
        with path.open("rb") as f:
            magic = f.read(2)
    except OSError as e:
        raise DataError(f"cannot read {path} ({origin}): {e.strerror or e}") from e
    if magic != GZIP_MAGIC:
        raise NotAnArchive(
            f"{path} ({origin}) is neither a .tar.gz archive (it is not gzip-compressed) nor a folder. "
            "Expected the official aclImdb_v1.tar.gz or its extracted aclImdb/ folder."
        )
    return path


def _resolve_folder(path: Path, origin: str) -> Path:
    if (path / FOLDER_NAME).is_dir():
        path = path / FOLDER_NAME
    elif not (path / "train").is_dir() and not (path / "test").is_dir():
        if (path / ARCHIVE_NAME).is_file():
            return _resolve_source(path / ARCHIVE_NAME, origin)
        raise BadLayout(
            f"{path} ({origin}) holds neither an aclImdb/ folder, nor train/ and test/ folders, "
            f"nor {ARCHIVE_NAME}."
        )
    missing = [f"{a}/{b}/" for a, b in _REQUIRED if not (path / a / b).is_dir()]
    if missing:
        raise BadLayout(
            f"{path} ({origin}) is not an aclImdb folder: missing {', '.join(missing)} "
            "(expected {train,test}/{pos,neg}/<id>_<rating>.txt and train/unsup/<id>_0.txt)."
        )
    return path


# --------------------------------------------------------------------------- downloading


def download_imdb(
    dest_dir: Path | None = None,
    url: str = IMDB_URL,
    progress: Progress | None = None,
    expected_sha256: str | None = IMDB_SHA256,
    expected_size: int | None = IMDB_SIZE,
    opener: Callable[[str], Any] | None = None,
) -> Path:
    """Download the archive to ``dest_dir/aclImdb_v1.tar.gz`` (default ``data_dir()``).

    The bytes go to a temporary name in ``dest_dir`` and are renamed into place only when the
    download is complete and matches ``expected_size`` and ``expected_sha256`` (``None`` skips a
    check); on any failure the partial file is removed. ``progress(done, total)`` is called as
    bytes arrive (``total`` is 0 when unknown); without it a tqdm bar is drawn on a terminal.
    ``opener(url)`` returns a readable response (default :func:`urllib.request.urlopen`), so
    tests and mirrors can inject their own. Raises :class:`DownloadError`.
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else data_dir()
    target = dest_dir / ARCHIVE_NAME
    open_url = opener if opener is not None else (lambda u: urllib.request.urlopen(u, timeout=60))
    tmp = _tmp_path(target)
    bar = None
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        with tmp.open("xb") as out:
            try:
                response = open_url(url)
            except (urllib.error.URLError, OSError, ValueError) as e:
                raise DownloadError(f"could not download {url}: {_reason(e)}. " + _how_to_supply()) from e
            with response:
                total = _content_length(response) or expected_size or 0
                if progress is None:
                    bar, progress = _tqdm_progress(total)
                sha, done = hashlib.sha256(), 0
                progress(0, total)
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, EOFError) as e:  # connection reset, timeout, IncompleteRead
                        raise DownloadError(
                            f"download of {url} broke off after {done} bytes: {_reason(e)}"
                        ) from e
                    if not chunk:
                        break
                    out.write(chunk)
                    sha.update(chunk)
                    done += len(chunk)
                    progress(done, total)
                    if expected_size is not None and done > expected_size:
                        raise DownloadError(
                            f"download of {url} is larger than the expected {expected_size} bytes; discarded."
                        )
        if expected_size is not None and done != expected_size:
            raise DownloadError(f"download of {url} is {done} bytes, expected {expected_size}; discarded.")
        digest = sha.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256.lower():
            raise DownloadError(
                f"checksum mismatch for {url}: sha256 {digest}, expected {expected_sha256}; discarded."
            )
        os.replace(tmp, target)
    except BaseException as e:
        with suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):  # the network's OSErrors are DownloadErrors by now: this is local
            raise DownloadError(f"could not save the download in {dest_dir}: {e.strerror or e}") from e
        raise
    finally:
        if bar is not None:
            bar.close()
    return target


def _tmp_path(target: Path) -> Path:
    """A fresh hidden name beside ``target``; the file gets the usual permissions (not mkstemp's 0600)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _reason(e: BaseException) -> str:
    return str(getattr(e, "reason", None) or e) or type(e).__name__


def _content_length(response: Any) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _tqdm_progress(total: int) -> tuple[Any, Progress]:
    from tqdm import tqdm

    # disable=None: drawn on a terminal, silent when stderr is a pipe or a log
    bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=ARCHIVE_NAME, disable=None)

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    return bar, update


# --------------------------------------------------------------------------- parsing


_Key = tuple[str, int, int, int]  # (split, label, id, rating)
_HEADER_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                 tarfile.SOLARIS_XHDTYPE)
# Arrow copies the reviews, and the cache is written and read, a chunk at a time: at most this
# many reviews or (give or take one review) bytes, so only one chunk is ever held twice
_ROWS_PER_CHUNK = 8192
_CHUNK_BYTES = 32 * 2**20


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


@dataclass
class _Parsed:
    """Reviews as read, in source order: keys in columns, each review's bytes held once.

    ``add`` enforces the per-source bounds as reviews arrive, so a bomb stops at the limit.
    """

    where: str  # the source, for messages
    split_code: list[int] = field(default_factory=list)
    id: list[int] = field(default_factory=list)
    rating: list[int] = field(default_factory=list)
    label: list[int] = field(default_factory=list)
    raw: list[bytes | None] = field(default_factory=list)  # None once copied into Arrow
    review_bytes: int = 0
    skipped: int = 0  # archive: links, devices...; folder: sub-folders, dangling links, devices
    ignored: int = 0  # files in a review folder not named <id>_<rating>.txt
    bad_names: list[str] = field(default_factory=list)  # review files with an id or rating out of range

    def add(self, key: _Key, data: bytes) -> None:
        self.review_bytes += len(data)
        if self.review_bytes > MAX_REVIEWS_BYTES:
            raise OverLimit(
                f"{self.where}: its reviews add up to more than {_mib(MAX_REVIEWS_BYTES)} (MAX_REVIEWS_BYTES; "
                "the official archive holds 126 MiB of reviews). Refused: this is not the IMDB dataset."
            )
        split, label, rid, rating = key
        self.split_code.append(SPLITS.index(split))
        self.label.append(label)
        self.id.append(rid)
        self.rating.append(rating)
        self.raw.append(data)


def _classify(parts: list[str]) -> _Key | Literal[False] | None:
    """The key of a review path; None outside the review folders; False for a stray file in one.

    The id and rating are returned as parsed, possibly out of range: :func:`_bad_name` judges them.
    A number too long to be an id or a rating becomes -1, so no huge integer is ever built.
    """
    if len(parts) < 3:
        return None
    where = _LAYOUT.get((parts[-3], parts[-2]))
    if where is None:
        return None
    m = _REVIEW_FILE.fullmatch(parts[-1])
    if m is None:
        return False
    rid, rating = (int(g) if len(g) <= 9 else -1 for g in m.groups())
    return where[0], where[1], rid, rating


def _bad_name(key: _Key) -> str | None:
    """Why a review file's id or rating cannot be right, or None."""
    split, label, rid, rating = key
    folder = "train/unsup" if label == -1 else f"{split}/{LABEL_NAMES[label]}"
    if not 0 <= rid < MAX_REVIEW_ID:
        return f"its id is not a number below {MAX_REVIEW_ID:,} (MAX_REVIEW_ID)"
    allowed = RATINGS[label]
    if rating not in allowed:
        return f"{folder} reviews are rated {allowed.start}-{allowed.stop - 1}, not {rating}"
    return None


def _admit(parsed: _Parsed, key: _Key | Literal[False] | None, name: str) -> _Key | None:
    """The key of a review to read; None (counted where it should be) for anything else."""
    if key is None:
        return None
    if key is False:
        parsed.ignored += 1
        return None
    why = _bad_name(key)
    if why is not None:
        parsed.bad_names.append(f"{name}: {why}")
        return None
    return key


def _is_unsafe(name: str) -> bool:
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return True
    return ".." in re.split(r"[\\/]", name)


def _too_large(where: str, size: int) -> OverLimit:
    return OverLimit(
        f"{where} is {size} bytes; IMDB reviews are a few kB and nothing over {MAX_REVIEW_BYTES} bytes "
        "(MAX_REVIEW_BYTES) is read. This is not the IMDB dataset."
    )


def _too_many(where: str) -> OverLimit:
    return OverLimit(
        f"{where} holds more than {MAX_MEMBERS:,} entries (MAX_MEMBERS; the official archive has 100,016). "
        "Refused: this is not the IMDB dataset."
    )


class _BoundedStream:
    """``read()`` of a decompressed stream that refuses to yield more than MAX_ARCHIVE_BYTES in all.

    tarfile skips the members it is not asked for by reading through them, so this is what stops
    an archive whose gzip expands without end (gigabytes of zeros are a few MB compressed).
    """

    def __init__(self, f: Any, path: Path) -> None:
        self._f, self._path = f, path
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size if size is not None and size >= 0 else _CHUNK)
        self.done += len(data)
        if self.done > MAX_ARCHIVE_BYTES:
            raise OverLimit(
                f"{self._path} expands to more than {_mib(MAX_ARCHIVE_BYTES)} (MAX_ARCHIVE_BYTES; the official archive "
                "expands to ~300 MB). Refused: a decompression bomb, or not the IMDB dataset."
            )
        return data


class _HeaderTooLarge(OverLimit):
    """Raised inside tarfile, where the archive's path is unknown: :func:`_parse_archive` adds it."""


class _SparseMember(UnsafeArchive):
    """Raised inside tarfile, where the archive's path is unknown: :func:`_parse_archive` adds it."""


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header that refuses, before tarfile reads it whole, an extended header over MAX_HEADER_BYTES.

    tarfile reads a pax or GNU long-name header's data into memory in one piece, so without this a
    single header could claim the whole stream. GNU sparse members (absent from the official
    archive, and parsed block by block into unbounded lists) are refused too.
    """

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _HEADER_TYPES and self.size > MAX_HEADER_BYTES:
            raise _HeaderTooLarge(
                f"it holds a {self.size:,}-byte extended tar header; nothing over {MAX_HEADER_BYTES:,} bytes "
                "(MAX_HEADER_BYTES) is read. Refused: this is not the official archive."
            )
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _SparseMember(f"it holds a GNU sparse member {self.name!r}, which the official archive does not.")
        return super()._proc_member(tarfile_)


def _parse_archive(path: Path) -> _Parsed:
    """One pass over the gzip stream, within the bounds; member data is read only for reviews."""
    parsed = _Parsed(str(path))
    try:
        raw_file = path.open("rb")
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from e
    # gzip.GzipFile (not tarfile's own "r|gz") so the gzip CRC and length are verified: a
    # damaged archive then fails instead of yielding silently altered reviews.
    with raw_file, gzip.GzipFile(fileobj=raw_file, mode="rb") as gz:
        stream = _BoundedStream(gz, path)
        try:
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo) as tar:
                members = 0
                while (member := tar.next()) is not None:
                    tar.members.clear()  # tarfile keeps every header it has seen; none is needed again
                    members += 1
                    if members > MAX_MEMBERS:
                        raise _too_many(str(path))
                    _read_member(tar, member, parsed, path)
            while stream.read(_CHUNK):  # drain the tar padding so the gzip trailer is checked
                pass
        except _HeaderTooLarge as e:  # raised inside tarfile, where the path is not known
            raise OverLimit(f"{path}: {e}") from None
        except _SparseMember as e:
            raise UnsafeArchive(f"{path}: {e}") from None
        except DataError:
            raise
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise CorruptArchive(
                f"{path} is truncated or corrupt ({type(e).__name__}: {e}). "
                f"Replace it with a fresh copy of {ARCHIVE_NAME}."
            ) from e
    return parsed


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, parsed: _Parsed, path: Path) -> None:
    name = member.name
    if _is_unsafe(name):
        raise UnsafeArchive(
            f"{path} holds a member with an unsafe path {name!r} (absolute or with '..'); "
            f"this is not the official {ARCHIVE_NAME} and it is not read."
        )
    if member.isdir():
        return
    if not member.isfile():
        parsed.skipped += 1
        return
    key = _admit(parsed, _classify([p for p in name.split("/") if p not in ("", ".")]), name)
    if key is None:
        return
    if member.size > MAX_REVIEW_BYTES:  # refused from the header: nothing of it is read
        raise _too_large(f"{path}: member {name!r}", member.size)
    f = tar.extractfile(member)
    assert f is not None  # regular members always have data
    parsed.add(key, f.read())


def _review_folders(root: Path) -> Iterator[tuple[str, str, list[os.DirEntry[str]]]]:
    """``(split, label, entries)`` of each review folder of an aclImdb folder, entries in name order.

    At most MAX_MEMBERS entries in all, counted before a huge listing is held, let alone sorted.
    """
    seen = 0
    for a, b in _LAYOUT:
        folder = root / a / b
        if not folder.is_dir():
            continue
        entries = []
        with os.scandir(folder) as it:
            for entry in it:
                seen += 1
                if seen > MAX_MEMBERS:
                    raise _too_many(str(root))
                entries.append(entry)
        entries.sort(key=lambda e: e.name)
        yield a, b, entries


def _review_files(root: Path) -> Iterator[tuple[_Key | Literal[False] | None, os.DirEntry[str]]]:
    """Every entry of the review folders of an aclImdb folder, in name order, classified."""
    for a, b, entries in _review_folders(root):
        for entry in entries:
            yield _classify([a, b, entry.name]), entry


def _parse_folder(root: Path) -> _Parsed:
    parsed = _Parsed(str(root))
    try:
        for key, entry in _review_files(root):
            # is_file follows symlinks: the user chose this folder to be read; sub-folders,
            # dangling links and special files are skipped like non-regular archive members
            if not entry.is_file():
                parsed.skipped += 1
                continue
            key = _admit(parsed, key if key is not None else False, entry.path)
            if key is None:
                continue
            size = entry.stat().st_size
            if size > MAX_REVIEW_BYTES:
                raise _too_large(entry.path, size)
            with open(entry.path, "rb") as f:
                data = f.read(MAX_REVIEW_BYTES + 1)  # bounded even if the file grew since its stat
            if len(data) > MAX_REVIEW_BYTES:
                raise _too_large(entry.path, len(data))
            parsed.add(key, data)
    except OSError as e:  # permission denied, a file removed while reading, ...
        raise DataError(f"cannot read {e.filename or root}: {e.strerror or e}") from e
    return parsed


def _text_chunk(raws: list[bytes]) -> tuple[pa.Array, int]:
    """One Arrow string array of ``raws`` (Arrow validates the UTF-8 as it copies) and how many were repaired.

    A review that is not valid UTF-8 is decoded with ``errors='replace'`` (U+FFFD) first.
    """
    try:
        return pa.array(raws, pa.large_string()), 0
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    fixed, replaced = [], 0
    for b in raws:
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            b = b.decode("utf-8", errors="replace").encode("utf-8")
            replaced += 1
        fixed.append(b)
    return pa.array(fixed, pa.large_string()), replaced


def _text_column(parsed: _Parsed, order: np.ndarray) -> tuple[pa.ChunkedArray, int, int]:
    """The reviews in ``order`` as one chunked column, freeing each one's bytes as it is copied.

    So the text is held once (plus one chunk) at any time. Returns the column, the number of
    reviews repaired as UTF-8 and the number of empty ones.
    """
    chunks, replaced, empty = [], 0, 0
    raws: list[bytes] = []
    size = 0
    for n, i in enumerate(order.tolist(), 1):
        data = parsed.raw[i]
        parsed.raw[i] = None
        assert data is not None  # each row is taken once
        raws.append(data)
        size += len(data)
        empty += not data
        if len(raws) == _ROWS_PER_CHUNK or size >= _CHUNK_BYTES or n == len(order):
            chunk, fixed = _text_chunk(raws)
            chunks.append(chunk)
            replaced += fixed
            raws, size = [], 0  # this chunk's bytes are freed here...
            _release_freed_memory()  # ...and given back, for Arrow's allocator to take
    parsed.raw.clear()  # the copies a duplicate replaced
    _release_freed_memory()
    return pa.chunked_array(chunks, pa.large_string()), replaced, empty


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def _release_freed_memory() -> None:
    """Return the memory of freed reviews to the system (glibc's ``malloc_trim``; a no-op elsewhere).

    The reviews' bytes live in glibc's heap and the table in Arrow's own allocator, which cannot
    reuse what glibc keeps: without this the freed bytes stay resident and the text is held twice
    at the peak (measured: 457 against 336 MiB for the official archive, 932 against 616 MiB for
    the largest archive the bounds accept).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _build_table(parsed: _Parsed, source: Path) -> tuple[pa.Table, dict[str, Any]]:
    """Sorted, de-duplicated Arrow table and its statistics; raises BadLayout on missing classes.

    The reviews' bytes are released from ``parsed`` as they are copied into the table.
    """
    split_code = np.array(parsed.split_code, dtype=np.int64)
    label = np.array(parsed.label, dtype=np.int64)
    rid = np.array(parsed.id, dtype=np.int64)
    # lexsort is stable: among copies of one review the source order survives, so keeping the
    # last of each run keeps the copy read last (tar semantics: a re-appended member wins)
    order = np.lexsort((rid, label, split_code))
    keys = np.stack([split_code[order], label[order], rid[order]], axis=1)  # (n, 3)
    last_of_run = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        last_of_run[:-1] = np.any(keys[1:] != keys[:-1], axis=1)
    order = order[last_of_run]
    counts = _counts(split_code[order], label[order])
    missing = [f"{s}/{name}" for s in ("train", "test") for name in ("pos", "neg") if not counts[s].get(name)]
    if missing:
        raise BadLayout(
            f"{source} holds no {', '.join(missing)} reviews "
            "(expected aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt); it is not the IMDB dataset."
        )
    text, replaced, empty = _text_column(parsed, order)
    table = pa.table(
        {
            "split": pa.array([SPLITS[c] for c in split_code[order]], pa.string()),
            "id": pa.array(rid[order], pa.int64()),
            "rating": pa.array(np.array(parsed.rating, dtype=np.int64)[order], pa.int64()),
            "label": pa.array(label[order], pa.int64()),
            "text": text,
        }
    )
    stats = {
        "replaced_utf8": replaced,
        "empty": empty,
        "skipped": parsed.skipped,
        "ignored": parsed.ignored,
        "duplicates": int(len(last_of_run) - last_of_run.sum()),
        "bad_names": len(parsed.bad_names),
    }
    if parsed.bad_names:
        warnings.warn(
            f"{source}: {len(parsed.bad_names)} review file(s) skipped because their name's id or rating "
            f"is out of range, e.g. {parsed.bad_names[0]}",
            RuntimeWarning,
            stacklevel=3,
        )
    return table, {"counts": counts, "stats": stats}


def _counts(split_code: np.ndarray, label: np.ndarray) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    for code, split in enumerate(SPLITS):
        in_split = label[split_code == code]
        for lab, name in LABEL_NAMES.items():
            n = int((in_split == lab).sum())
            if n:
                out[split][name] = n
    return out


# --------------------------------------------------------------------------- cache


def _cache_dir() -> Path:
    return data_dir() / "cache"


def _fingerprint(source: Path) -> str:
    """Changes whenever the source's contents can have changed (stat-based, no hashing).

    Archive: resolved path, size and mtime. Folder: the name, size and mtime of every entry of
    the review folders (~0.2 s for 100,000 files), so an edited, added or removed review counts.
    """
    h = hashlib.sha256(f"v{CACHE_VERSION}\0{source}".encode())
    try:
        if source.is_dir():
            for a, b, entries in _review_folders(source):
                h.update(f"\0{a}/{b}".encode())
                for e in entries:
                    st = e.stat(follow_symlinks=e.is_file())  # lstat: a dangling link must not fail here
                    h.update(f"\0{e.name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        else:
            st = source.stat()
            h.update(f"\0{st.st_size}\0{st.st_mtime_ns}".encode())
    except OSError as e:
        raise DataError(f"cannot read {e.filename or source}: {e.strerror or e}") from e
    return h.hexdigest()[:16]


def _source_tag(source: Path) -> str:
    return hashlib.sha256(str(source).encode()).hexdigest()[:10]


def cache_path(source: Path) -> Path:
    """The Parquet cache of a located source in its current state (it may not exist yet)."""
    return _cache_dir() / f"imdb-{_source_tag(source)}-{_fingerprint(source)}.parquet"


STALE_TMP_S = 3600.0  # a cache temporary nobody has written to for an hour belongs to a writer that was killed
CACHE_TMP_PATTERN = re.compile(r"\..+\.parquet\.\d+\.[0-9a-f]{8}\.tmp")  # _tmp_path's names for a .parquet cache


def remove_stale_files(folder: Path, pattern: re.Pattern[str], min_age_s: float = STALE_TMP_S) -> list[Path]:
    """Remove the files of ``folder`` whose whole name matches ``pattern`` and that are older than ``min_age_s``.

    For the temporaries a killed writer leaves behind (a ``data add`` killed while writing its
    cache left 3.5-14 MB for good): only our own temporary names, and only old ones, since a file
    being written right now is touched at every write. Returns the removed files.
    """
    removed, now = [], time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no folder yet, or not ours to list
        return removed
    for entry in entries:
        try:
            if not pattern.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < min_age_s:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


def write_cache(table: pa.Table, target: Path, meta: dict[str, Any]) -> None:
    """Write to a temporary name and rename; remove older caches of the same source, and stale temporaries."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_files(target.parent, CACHE_TMP_PATTERN)
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    tmp = _tmp_path(target)
    try:
        # one row group per chunk of the text column: the writer holds one chunk's pages, not the column's
        with pq.ParquetWriter(tmp, table.schema, compression="snappy") as writer:
            for batch in table.to_batches():
                writer.write_batch(batch, row_group_size=_ROWS_PER_CHUNK)
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    prefix = target.name.rsplit("-", 1)[0] + "-"
    for old in target.parent.glob(f"{prefix}*.parquet"):
        if old != target:
            with suppress(OSError):
                old.unlink()


_SCHEMA = pa.schema(
    [("split", pa.string()), ("id", pa.int64()), ("rating", pa.int64()), ("label", pa.int64()),
     ("text", pa.large_string())]  # large: what pandas' Arrow-backed strings hold, so they take it without a copy
)
_KEY_COLUMNS = ["split", "id", "rating", "label"]  # all but the text: what a status check reads


class BadCache(DataError):
    """A cache file that cannot be used as is (the message says why); it is parsed again from the source."""


def _read_cache(cache: Path, columns: list[str] | None = None) -> tuple[pa.Table, dict[str, Any]] | None:
    """The cached table (``columns`` of it, default all) and its metadata, checked against each other.

    None if there is no cache file; :class:`BadCache` if there is one that is damaged, foreign,
    over the bounds, or whose data contradicts itself or its metadata (see :func:`_check_cache`).
    """
    if not cache.is_file():
        return None
    try:
        if cache.stat().st_size > MAX_REVIEWS_BYTES + MAX_ARCHIVE_FILE_BYTES:
            raise BadCache(f"the file is {cache.stat().st_size:,} bytes, more than any IMDB cache")
        with pq.ParquetFile(cache, pre_buffer=False) as pfile:
            meta = _checked_cache_header(pfile)
            columns = columns or list(COLUMNS)
            # batch by batch on this thread: a threaded, pre-buffered read of the full dataset
            # peaked ~200 MB higher (measured) for the same table
            batches = pfile.iter_batches(batch_size=_ROWS_PER_CHUNK, columns=columns, use_threads=False)
            table = pa.Table.from_batches(list(batches), pa.schema([_SCHEMA.field(c) for c in columns]))
    except BadCache:
        raise
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException) as e:
        raise BadCache(f"it cannot be read ({type(e).__name__}: {e})") from e
    problem = _check_cache(table, meta)
    if problem:
        raise BadCache(problem)
    return table, meta


def _checked_cache_header(pfile: pq.ParquetFile) -> dict[str, Any]:
    """The cache's metadata, once its version, columns and claimed size are right (nothing big is read)."""
    schema = pfile.schema_arrow
    meta = json.loads((schema.metadata or {})[META_KEY])
    if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION:
        raise BadCache(f"it is not a version-{CACHE_VERSION} RNN Lab cache")
    if schema.remove_metadata() != _SCHEMA:
        raise BadCache(f"its columns are {schema.remove_metadata()}, expected {_SCHEMA}")
    md = pfile.metadata
    unpacked = sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
    if md.num_rows > MAX_MEMBERS or unpacked > 2 * MAX_REVIEWS_BYTES:
        raise BadCache(f"it claims {md.num_rows:,} rows and {unpacked:,} bytes, beyond the reader's bounds")
    return meta


def _check_cache(table: pa.Table, meta: dict[str, Any]) -> str | None:
    """What is wrong with a cached table, or None: it is checked against itself and its metadata.

    No nulls; splits in SPLITS, labels in {-1, 0, 1} and matching the split, ratings matching the
    labels, ids in range; rows sorted by (split, label, id) with no key twice; and the counts per
    split and label, recomputed from the columns, equal to the metadata's.
    """
    nulls = [name for name, col in zip(table.column_names, table.columns, strict=True) if col.null_count]
    if nulls:
        return f"column(s) {', '.join(nulls)} hold nulls"
    split = pc.index_in(table.column("split"), value_set=pa.array(SPLITS)).to_numpy(zero_copy_only=False)
    if np.isnan(split.astype(float)).any():
        return f"its split column holds values other than {', '.join(SPLITS)}"
    split = split.astype(np.int64)
    label = table.column("label").to_numpy()
    rating = table.column("rating").to_numpy()
    rid = table.column("id").to_numpy()
    if not np.isin(label, list(LABEL_NAMES)).all():
        return "its label column holds values other than -1, 0 and 1"
    if ((split == SPLITS.index("unsup")) != (label == -1)).any():
        return "labels and splits disagree (unsup reviews, and only they, are unlabelled)"
    for lab, allowed in RATINGS.items():
        r = rating[label == lab]
        if len(r) and (r.min() < allowed.start or r.max() >= allowed.stop):
            return f"{LABEL_NAMES[lab]} reviews rated outside {allowed.start}-{allowed.stop - 1} (labels flipped?)"
    if len(rid) and (rid.min() < 0 or rid.max() >= MAX_REVIEW_ID):
        return f"ids outside 0-{MAX_REVIEW_ID - 1:,}"
    keys = np.stack([split, label, rid], axis=1)  # (n, 3)
    if len(keys) > 1:
        diff = keys[1:] - keys[:-1]
        first = np.argmax(diff != 0, axis=1)  # the first column that differs between neighbours
        if not (diff[np.arange(len(diff)), first] > 0).all():
            return "its rows are not in (split, label, id) order, or a review is there twice"
    if "text" in table.column_names and len(table):
        longest = pc.max(pc.binary_length(table.column("text"))).as_py()
        if longest > MAX_REVIEW_BYTES:
            return f"a review of {longest:,} bytes, over MAX_REVIEW_BYTES"
    if _counts(split, label) != meta.get("counts") or not isinstance(meta.get("stats"), dict):
        return "its counts per split and label do not match its data"
    return None


# --------------------------------------------------------------------------- public loading


def load_imdb(
    path: str | os.PathLike[str] | None = None, download: bool = False, progress: Progress | None = None
) -> pd.DataFrame:
    """All 100,000 reviews as a frame (columns: see the module docstring).

    The source is found by :func:`locate_imdb`; when none is found and ``download`` is true the
    official archive is fetched by :func:`download_imdb` (``progress`` reports its bytes).
    The first load parses the source into a Parquet cache under ``data_dir()/cache``; later
    loads of an unchanged source read the cache. ``df.attrs`` holds ``source``, ``kind``
    ('archive' or 'folder'), ``cache``, ``counts`` and ``stats``. Raises :class:`DataError`.
    """
    try:
        source = locate_imdb(path)
    except DatasetNotFound:
        if not download or (path is not None and str(path) != "") or os.environ.get(ENV_VAR):
            raise  # a wrong explicit path is a mistake to fix, not a reason to download
        source = download_imdb(progress=progress)
    kind = "folder" if source.is_dir() else "archive"
    cache = cache_path(source)
    try:
        hit = _read_cache(cache)
    except BadCache as e:  # never used as is: parsed again below, and the file replaced
        warnings.warn(f"the IMDB cache {cache} is not usable ({e}); parsing {source} again", RuntimeWarning,
                      stacklevel=2)
        hit = None
    if hit is not None:
        table, meta = hit
    else:
        parsed = _parse_archive(source) if kind == "archive" else _parse_folder(source)
        table, meta = _build_table(parsed, source)  # frees the reviews' bytes as it copies them
        del parsed
        meta = {"version": CACHE_VERSION, "source": str(source), "kind": kind, **meta}
        try:
            write_cache(table, cache, meta)
        except OSError as e:  # a read-only home still gets its data, just not cached
            warnings.warn(f"could not write the IMDB cache {cache}: {e}", RuntimeWarning, stacklevel=2)
    df = table.to_pandas()  # pandas' Arrow-backed strings: the text is not copied again
    df.attrs.update(
        source=str(source), kind=kind, cache=str(cache), counts=meta["counts"], stats=meta["stats"]
    )
    return df


def _check_head(head: bytes, size: int, what: str) -> None:
    """Refuse, from its first two bytes and its size alone, a file that cannot be the archive."""
    if head[:2] != GZIP_MAGIC:
        raise NotAnArchive(
            f"{what} is not a .tar.gz archive (it is not gzip-compressed); expected the official {ARCHIVE_NAME}."
        )
    if size > MAX_ARCHIVE_FILE_BYTES:
        raise _file_too_large(what, f"{size:,} bytes")


def _file_too_large(what: str, size: str) -> OverLimit:
    return OverLimit(
        f"{what} is {size}; nothing over {MAX_ARCHIVE_FILE_BYTES:,} bytes (MAX_ARCHIVE_FILE_BYTES; "
        f"the official {ARCHIVE_NAME} is {IMDB_SIZE:,}) is installed."
    )


def check_archive_file(path: str | os.PathLike[str]) -> Path:
    """``path`` if it can be an archive to install: an existing file, gzip-compressed, not too large.

    Only its size and first two bytes are read, so this is cheap enough to call before queueing
    an install. Raises :class:`DatasetNotFound`, :class:`NotAnArchive` (a folder included: one is
    used where it is, never copied), :class:`OverLimit` or :class:`DataError`.
    """
    src = Path(path).expanduser()
    if not src.exists():
        raise DatasetNotFound(f"{src} does not exist; expected {ARCHIVE_NAME}.")
    if src.is_dir():
        raise NotAnArchive(
            f"{src} is a folder; only the archive file ({ARCHIVE_NAME}) can be installed. An extracted "
            "aclImdb/ folder is read where it is: give its path as the dataset path instead."
        )
    if not src.is_file():
        raise NotAnArchive(f"{src} is not a regular file; expected {ARCHIVE_NAME}.")
    try:
        size = src.stat().st_size
        with src.open("rb") as f:
            head = f.read(2)
    except OSError as e:
        raise DataError(f"cannot read {src}: {e.strerror or e}") from e
    _check_head(head, size, str(src))
    return src


def check_archive_bytes(content: bytes | bytearray | memoryview, what: str = "the uploaded archive") -> None:
    """Refuse an upload that cannot be the archive (magic bytes, size) before it is written anywhere."""
    view = memoryview(content)
    _check_head(bytes(view[:2]), view.nbytes, what)


def stage_upload(content: bytes | bytearray | memoryview, dest_dir: Path | None = None) -> Path:
    """Check an upload and write it to a fresh hidden ``.upload-*.tar.gz`` in ``dest_dir`` (default ``data_dir()``).

    What an install job then moves into place (``DataJobConfig(move=True)``), removing it whatever
    happens. Nothing is written for an upload that fails :func:`check_archive_bytes`, and a
    partial file is removed when the write fails. Raises :class:`NotAnArchive`, :class:`OverLimit`
    or :class:`DataError`.
    """
    check_archive_bytes(content)
    dest_dir = Path(dest_dir) if dest_dir is not None else data_dir()
    staged = dest_dir / f"{UPLOAD_PREFIX}{secrets.token_hex(8)}.tar.gz"
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        with staged.open("xb") as f:
            f.write(content)
    except OSError as e:
        staged.unlink(missing_ok=True)
        raise DataError(f"could not keep the upload in {dest_dir}: {e.strerror or e}") from e
    return staged


def remove_stale_uploads(
    keep: Iterable[str | os.PathLike[str]], dest_dir: Path | None = None, min_age_s: float = STALE_UPLOAD_S
) -> list[Path]:
    """Remove staged uploads no install will use; returns them.

    An install job removes its staged upload when it runs; one cancelled while queued, or whose
    process died, never does. Kept: the files in ``keep`` (the archives of queued and running
    installs) and any younger than ``min_age_s`` (an upload being staged right now).
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else data_dir()
    kept = {os.path.abspath(p) for p in keep}
    removed = []
    now = time.time()
    for path in dest_dir.glob(f"{UPLOAD_PREFIX}*.tar.gz"):
        try:
            if os.path.abspath(path) in kept or now - path.stat().st_mtime < min_age_s:
                continue
            path.unlink()
            removed.append(path)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


def _copy_bounded(source: Any, out: Any, what: str) -> None:
    """Copy a binary file object, refusing it (magic bytes, then size) as soon as it cannot be the archive."""
    head = source.read(2)
    _check_head(head, 0, what)
    out.write(head)
    done = len(head)
    while chunk := source.read(_CHUNK):
        done += len(chunk)
        if done > MAX_ARCHIVE_FILE_BYTES:
            raise _file_too_large(what, f"more than {done:,} bytes")
        out.write(chunk)


def install_archive(
    source: str | os.PathLike[str] | bytes | Any,
    dest_dir: Path | None = None,
    *,
    move: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Validate an archive and make it the cached copy ``dest_dir/aclImdb_v1.tar.gz``.

    ``source`` is the archive's bytes (an upload), a binary file object, or a path (copied;
    renamed instead with ``move``, for a staged upload on the same filesystem). Its first two
    bytes (gzip) and its size are checked before anything is copied; a folder is refused. It then
    goes to a temporary name beside the target and is parsed in full -- gzip checksum, member
    paths, the bounds, the aclImdb layout with train and test reviews of both labels -- before it
    is renamed into place, so a bad file never replaces a good archive and is removed on any
    failure. The parsed reviews are cached on the way, so the first load after installing is a
    cache hit. ``progress(phase)`` is told "copying" and "validating". Raises
    :class:`NotAnArchive`, :class:`OverLimit`, :class:`CorruptArchive`, :class:`UnsafeArchive`,
    :class:`BadLayout`, :class:`DatasetNotFound` or :class:`DataError`. Note that
    ``$RNNLAB_IMDB``, when set, still takes precedence over the cached archive.
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else data_dir()
    target = dest_dir / ARCHIVE_NAME
    tmp = _tmp_path(target)
    say = progress or (lambda phase: None)
    what = "the uploaded archive" if not isinstance(source, str | os.PathLike) else str(source)
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            check_archive_bytes(source, what)
        elif not hasattr(source, "read"):
            source = check_archive_file(source)
        dest_dir.mkdir(parents=True, exist_ok=True)
        say("copying")
        if isinstance(source, bytes | bytearray | memoryview):
            tmp.write_bytes(source)
        elif hasattr(source, "read"):
            with tmp.open("xb") as out:
                _copy_bounded(source, out, what)
        else:
            moved = False
            if move:
                with suppress(OSError):  # another filesystem: copy instead
                    os.replace(source, tmp)
                    moved = True
            if not moved:
                shutil.copyfile(source, tmp)
        say("validating")
        try:
            parsed = _parse_archive(tmp)
            table, meta = _build_table(parsed, tmp)
        except DataError as e:  # name what the user gave, not the temporary file
            raise type(e)(str(e).replace(str(tmp), what)) from e
        del parsed
        os.replace(tmp, target)
    except BaseException as e:
        with suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise DataError(f"could not install {what} in {dest_dir}: {e.strerror or e}") from e
        raise
    # the rename kept size and mtime, so this is the cache a later load_imdb() looks for
    source_path = target.resolve()
    meta = {"version": CACHE_VERSION, "source": str(source_path), "kind": "archive", **meta}
    try:
        write_cache(table, cache_path(source_path), meta)
    except OSError as e:
        warnings.warn(f"could not write the IMDB cache: {e}", RuntimeWarning, stacklevel=2)
    return target


def balanced_take(df: pd.DataFrame, n: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions of a seeded sample of ``n`` rows split evenly over labels (in label order)."""
    labels = np.sort(df["label"].unique())
    picks = []
    for i, lab in enumerate(labels):
        quota = n // len(labels) + (1 if i < n % len(labels) else 0)
        pos = np.flatnonzero(df["label"].to_numpy() == lab)
        picks.append(rng.permutation(pos)[:quota])
    return np.sort(np.concatenate(picks)) if picks else np.array([], dtype=np.int64)


def split_frame(df: pd.DataFrame, cfg: DataConfig) -> dict[str, pd.DataFrame]:
    """Frames 'train', 'val', 'test', 'unsup' from a :func:`load_imdb` frame.

    'val' is ``cfg.val_size`` reviews (none: :func:`~core.config.default_val_size` of them) carved
    from train, half of each label (the odd one negative), chosen with ``cfg.split_seed``; 'train' is
    the rest. 'test' is the official test split untouched. With ``cfg.limit`` every frame is then cut
    to at most that many reviews, balanced by label and seeded, so a limited 'val' is a subset of the
    full one. Rows are sorted by (label, id); the split column of 'val' still reads 'train'. The result
    depends only on the reviews and ``cfg``, not on the input's row order.
    """
    if cfg.val_size is not None and cfg.val_size < 0:
        raise ValueError(f"val_size must be >= 0, got {cfg.val_size}")
    if cfg.limit is not None and cfg.limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {cfg.limit}")
    # sort first so the result does not depend on the input's row order
    df = df.sort_values(["split", "label", "id"], kind="stable", ignore_index=True)
    train = df[df["split"] == "train"].reset_index(drop=True)
    if cfg.val_size is None:  # a share of the training reviews (IMDB's 25,000: the seed's 2,500)
        cfg = replace(cfg, val_size=default_val_size(len(train)))
    per_label = train["label"].value_counts()
    need = {0: cfg.val_size - cfg.val_size // 2, 1: cfg.val_size // 2}
    short = [
        f"{LABEL_NAMES[lab]}: {n} wanted, {per_label.get(lab, 0)} there"
        for lab, n in need.items()
        if n >= per_label.get(lab, 0) and n > 0
    ]
    if short:
        raise ValueError(f"val_size={cfg.val_size} leaves no training reviews ({'; '.join(short)})")
    rng = np.random.default_rng(cfg.split_seed)
    val_pos = balanced_take(train, cfg.val_size, rng) if cfg.val_size else np.array([], dtype=np.int64)
    in_val = np.zeros(len(train), dtype=bool)
    in_val[val_pos] = True
    out = {
        "train": train[~in_val],
        "val": train[in_val],
        "test": df[df["split"] == "test"],
        "unsup": df[df["split"] == "unsup"],
    }
    if cfg.limit is not None:
        for i, name in enumerate(out):
            frame = out[name]
            if len(frame) > cfg.limit:
                # one generator per split, so limiting one split never shifts another's sample
                sub_rng = np.random.default_rng([cfg.split_seed, i + 1])
                out[name] = frame.iloc[balanced_take(frame, cfg.limit, sub_rng)]
    result = {name: frame.reset_index(drop=True) for name, frame in out.items()}
    for frame in result.values():
        frame.attrs = dict(df.attrs)
    return result


def load_splits(
    cfg: DataConfig, download: bool = False, progress: Progress | None = None
) -> dict[str, pd.DataFrame]:
    """``split_frame(load_imdb(cfg.imdb_path, download, progress), cfg)``."""
    return split_frame(load_imdb(cfg.imdb_path, download=download, progress=progress), cfg)


def dataset_status(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Where the dataset stands, for the dashboard; never raises for a missing or bad dataset.

    Keys: ``found`` (bool), ``source`` and ``kind`` ('archive'/'folder') or None, ``cached``
    (bool: a cache that passes its checks, all but the text's), ``cache`` (path or None),
    ``counts`` (per split and label, from that cache) or None,
    ``archive_path`` (where a download goes), ``error`` (the message when not usable) or None.
    """
    status: dict[str, Any] = {
        "found": False,
        "source": None,
        "kind": None,
        "cached": False,
        "cache": None,
        "counts": None,
        "archive_path": str(default_archive_path()),
        "error": None,
    }
    try:
        source = locate_imdb(path)
        cache = cache_path(source)
    except (DataError, OSError) as e:
        status["error"] = str(e)
        return status
    status.update(
        found=True, source=str(source), kind="folder" if source.is_dir() else "archive", cache=str(cache)
    )
    try:  # every column but the text: checked as a load would check it, in a few milliseconds
        hit = _read_cache(cache, _KEY_COLUMNS)
    except BadCache:
        hit = None  # the next load parses the source again
    if hit is not None:
        status.update(cached=True, counts=hit[1]["counts"])
    return status


def data_info(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Counts per split and label, source and cache paths and parse statistics.

    Loads the dataset (from the cache when it is current); never downloads.
    Keys: ``source``, ``kind``, ``cache``, ``counts``, ``total``, ``stats``.
    """
    df = load_imdb(path)
    return {
        "source": df.attrs["source"],
        "kind": df.attrs["kind"],
        "cache": df.attrs["cache"],
        "counts": df.attrs["counts"],
        "total": len(df),
        "stats": df.attrs["stats"],
    }
