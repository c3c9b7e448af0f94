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
* a long review (a 5 MB one included) is kept whole; only a file over
  :data:`MAX_REVIEW_BYTES` (far beyond any real review, e.g. a decompression bomb) is refused
  with :class:`BadLayout`;
* the same review twice (a re-appended tar member): the last copy wins (``duplicates``);
* a path that does not exist: :class:`DatasetNotFound`; a file that is neither a gzip archive
  nor a folder: :class:`NotAnArchive`.

The counts above travel with the frame (``df.attrs['stats']``) and in the cache's metadata.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import secrets
import shutil
import tarfile
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.config import DataConfig
from core.paths import data_dir

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_SIZE = 84_125_825
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
FOLDER_NAME = "aclImdb"
ENV_VAR = "RNNLAB_IMDB"

SPLITS = ("train", "test", "unsup")  # also the row order of the frame
COLUMNS = ("split", "id", "rating", "label", "text")
LABEL_NAMES = {1: "pos", 0: "neg", -1: "unlabelled"}
MAX_REVIEW_BYTES = 64 * 2**20  # the longest real review is ~14 kB; this only stops absurd files

CACHE_VERSION = 1  # bump when the parsed columns change: old caches are then ignored
_META_KEY = b"rnnlab.imdb"
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
    """The path is a file but not a gzip-compressed tar archive."""


class CorruptArchive(DataError):
    """The archive is truncated or damaged (gzip, CRC or tar errors)."""


class UnsafeArchive(CorruptArchive):
    """The archive holds a member with an absolute path or a ``..`` component."""


class BadLayout(DataError):
    """The folder or archive does not hold the aclImdb layout (what is missing is named)."""


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
    if magic != b"\x1f\x8b":
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


@dataclass
class _Parsed:
    """Raw columns as read, in source order; ``text`` still bytes."""

    split: list[str] = field(default_factory=list)
    id: list[int] = field(default_factory=list)
    rating: list[int] = field(default_factory=list)
    label: list[int] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    skipped: int = 0  # archive: links, devices...; folder: sub-folders, dangling links, devices
    ignored: int = 0  # files in a review folder not named <id>_<rating>.txt

    def add(self, key: _Key, data: bytes) -> None:
        split, label, rid, rating = key
        self.split.append(split)
        self.label.append(label)
        self.id.append(rid)
        self.rating.append(rating)
        self.raw.append(data)


def _classify(parts: list[str]) -> _Key | Literal[False] | None:
    """The key of a review path; None outside the review folders; False for a stray file in one."""
    if len(parts) < 3:
        return None
    where = _LAYOUT.get((parts[-3], parts[-2]))
    if where is None:
        return None
    m = _REVIEW_FILE.fullmatch(parts[-1])
    if m is None:
        return False
    return where[0], where[1], int(m.group(1)), int(m.group(2))


def _is_unsafe(name: str) -> bool:
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return True
    return ".." in re.split(r"[\\/]", name)


def _too_large(where: str, size: int) -> BadLayout:
    return BadLayout(
        f"{where} is {size} bytes; IMDB reviews are a few kB and nothing over {MAX_REVIEW_BYTES} bytes "
        "is read. This is not the IMDB dataset."
    )


def _parse_archive(path: Path) -> _Parsed:
    """One pass over the gzip stream; member data is read only for reviews."""
    parsed = _Parsed()
    try:
        raw_file = path.open("rb")
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from e
    # gzip.GzipFile (not tarfile's own "r|gz") so the gzip CRC and length are verified: a
    # damaged archive then fails instead of yielding silently altered reviews.
    with raw_file, gzip.GzipFile(fileobj=raw_file, mode="rb") as gz:
        try:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for member in tar:
                    _read_member(tar, member, parsed, path)
            while gz.read(_CHUNK):  # drain the tar padding so the gzip trailer is checked
                pass
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
    key = _classify([p for p in name.split("/") if p not in ("", ".")])
    if key is None:
        return
    if key is False:
        parsed.ignored += 1
        return
    if member.size > MAX_REVIEW_BYTES:
        raise _too_large(f"{path}: member {name!r}", member.size)
    f = tar.extractfile(member)
    assert f is not None  # regular members always have data
    parsed.add(key, f.read())


def _review_files(root: Path) -> Iterator[tuple[_Key | Literal[False] | None, os.DirEntry[str]]]:
    """Every file in the review folders of an aclImdb folder, in name order, classified."""
    for a, b in _LAYOUT:
        folder = root / a / b
        if not folder.is_dir():
            continue
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            yield _classify([a, b, entry.name]), entry


def _parse_folder(root: Path) -> _Parsed:
    parsed = _Parsed()
    try:
        for key, entry in _review_files(root):
            # is_file follows symlinks: the user chose this folder to be read; sub-folders,
            # dangling links and special files are skipped like non-regular archive members
            if not entry.is_file():
                parsed.skipped += 1
                continue
            if key is False or key is None:
                parsed.ignored += 1
                continue
            size = entry.stat().st_size
            if size > MAX_REVIEW_BYTES:
                raise _too_large(entry.path, size)
            with open(entry.path, "rb") as f:
                parsed.add(key, f.read())
    except OSError as e:  # permission denied, a file removed while reading, ...
        raise DataError(f"cannot read {e.filename or root}: {e.strerror or e}") from e
    return parsed


def _decode(raw: Iterable[bytes]) -> tuple[list[str], int]:
    """UTF-8 text of each review; invalid bytes become U+FFFD and such reviews are counted."""
    texts: list[str] = []
    replaced = 0
    for b in raw:
        try:
            texts.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(b.decode("utf-8", errors="replace"))
            replaced += 1
    return texts, replaced


def _build_table(parsed: _Parsed, source: Path) -> tuple[pa.Table, dict[str, Any]]:
    """Sorted, de-duplicated Arrow table and its statistics; raises BadLayout on missing classes."""
    split_code = np.array([SPLITS.index(s) for s in parsed.split], dtype=np.int64)
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
    texts, replaced = _decode(parsed.raw[i] for i in order)
    table = pa.table(
        {
            "split": pa.array([SPLITS[c] for c in split_code[order]], pa.string()),
            "id": pa.array(rid[order], pa.int64()),
            "rating": pa.array(np.array(parsed.rating, dtype=np.int64)[order], pa.int64()),
            "label": pa.array(label[order], pa.int64()),
            "text": pa.array(texts, pa.string()),
        }
    )
    counts = _counts(split_code[order], label[order])
    missing = [f"{s}/{name}" for s in ("train", "test") for name in ("pos", "neg") if not counts[s].get(name)]
    if missing:
        raise BadLayout(
            f"{source} holds no {', '.join(missing)} reviews "
            "(expected aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt); it is not the IMDB dataset."
        )
    stats = {
        "replaced_utf8": replaced,
        "empty": sum(1 for t in texts if not t),
        "skipped": parsed.skipped,
        "ignored": parsed.ignored,
        "duplicates": int(len(last_of_run) - last_of_run.sum()),
    }
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
            for a, b in _LAYOUT:
                folder = source / a / b
                if not folder.is_dir():
                    continue
                with os.scandir(folder) as it:
                    # lstat: a dangling link must not fail here (the parser ignores it)
                    listing = sorted((e.name, e.stat(follow_symlinks=e.is_file())) for e in it)
                h.update(f"\0{a}/{b}".encode())
                for name, st in listing:
                    h.update(f"\0{name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
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


def _write_cache(table: pa.Table, target: Path, meta: dict[str, Any]) -> None:
    """Write to a temporary name and rename; remove older caches of the same source."""
    target.parent.mkdir(parents=True, exist_ok=True)
    table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    tmp = _tmp_path(target)
    try:
        pq.write_table(table, tmp, compression="snappy")
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


def _read_meta(cache: Path) -> dict[str, Any] | None:
    try:
        meta = pq.read_schema(cache).metadata or {}
        return json.loads(meta[_META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None


def _read_cache(cache: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """The cached frame and metadata; None if the file is missing, damaged or foreign."""
    if not cache.is_file():
        return None
    try:
        table = pq.read_table(cache)
        meta = json.loads((table.schema.metadata or {})[_META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None
    if tuple(table.column_names) != COLUMNS or meta.get("version") != CACHE_VERSION:
        return None
    return table.to_pandas(), meta


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
    hit = _read_cache(cache)
    if hit is not None:
        df, meta = hit
    else:
        parsed = _parse_archive(source) if kind == "archive" else _parse_folder(source)
        table, meta = _build_table(parsed, source)
        del parsed  # the raw bytes: ~140 MB for the full dataset
        meta = {"version": CACHE_VERSION, "source": str(source), "kind": kind, **meta}
        try:
            _write_cache(table, cache, meta)
        except OSError as e:  # a read-only home still gets its data, just not cached
            warnings.warn(f"could not write the IMDB cache {cache}: {e}", RuntimeWarning, stacklevel=2)
        df = table.to_pandas()
    df.attrs.update(
        source=str(source), kind=kind, cache=str(cache), counts=meta["counts"], stats=meta["stats"]
    )
    return df


def install_archive(
    source: str | os.PathLike[str] | bytes | Any,
    dest_dir: Path | None = None,
    *,
    move: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Validate an archive and make it the cached copy ``dest_dir/aclImdb_v1.tar.gz``.

    ``source`` is the archive's bytes (an upload), a binary file object, or a path (copied;
    renamed instead with ``move``, for a staged upload on the same filesystem). It goes to a
    temporary name beside the target and is parsed in full -- gzip checksum, member paths, the
    aclImdb layout with train and test reviews of both labels -- before it is renamed into place,
    so a bad file never replaces a good archive and is removed on any failure. The parsed reviews
    are cached on the way, so the first load after installing is a cache hit. ``progress(phase)``
    is told "copying" and "validating". Raises :class:`NotAnArchive`, :class:`CorruptArchive`,
    :class:`UnsafeArchive`, :class:`BadLayout`, :class:`DatasetNotFound` or :class:`DataError`.
    Note that ``$RNNLAB_IMDB``, when set, still takes precedence over the cached archive.
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else data_dir()
    target = dest_dir / ARCHIVE_NAME
    tmp = _tmp_path(target)
    say = progress or (lambda phase: None)
    what = "the uploaded archive" if not isinstance(source, str | os.PathLike) else str(source)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        say("copying")
        if isinstance(source, bytes | bytearray | memoryview):
            tmp.write_bytes(source)
        elif hasattr(source, "read"):
            with tmp.open("xb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
        else:
            src = Path(source).expanduser()
            if not src.is_file():
                raise DatasetNotFound(f"{src} is not a file; expected {ARCHIVE_NAME}.")
            moved = False
            if move:
                with suppress(OSError):  # another filesystem: copy instead
                    os.replace(src, tmp)
                    moved = True
            if not moved:
                shutil.copyfile(src, tmp)
        with tmp.open("rb") as f:
            if f.read(2) != b"\x1f\x8b":
                raise NotAnArchive(f"{what} is not a .tar.gz archive (it is not gzip-compressed); "
                                   f"expected the official {ARCHIVE_NAME}.")
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
        _write_cache(table, cache_path(source_path), meta)
    except OSError as e:
        warnings.warn(f"could not write the IMDB cache: {e}", RuntimeWarning, stacklevel=2)
    return target


def _balanced_take(df: pd.DataFrame, n: int, rng: np.random.Generator) -> np.ndarray:
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

    'val' is ``cfg.val_size`` reviews carved from train, half of each label (the odd one
    negative), chosen with ``cfg.split_seed``; 'train' is the rest. 'test' is the official test
    split untouched. With ``cfg.limit`` every frame is then cut to at most that many reviews,
    balanced by label and seeded, so a limited 'val' is a subset of the full one. Rows are
    sorted by (label, id); the split column of 'val' still reads 'train'. The result depends
    only on the reviews and ``cfg``, not on the input's row order.
    """
    if cfg.val_size < 0:
        raise ValueError(f"val_size must be >= 0, got {cfg.val_size}")
    if cfg.limit is not None and cfg.limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {cfg.limit}")
    # sort first so the result does not depend on the input's row order
    df = df.sort_values(["split", "label", "id"], kind="stable", ignore_index=True)
    train = df[df["split"] == "train"].reset_index(drop=True)
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
    val_pos = _balanced_take(train, cfg.val_size, rng) if cfg.val_size else np.array([], dtype=np.int64)
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
                out[name] = frame.iloc[_balanced_take(frame, cfg.limit, sub_rng)]
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
    (bool), ``cache`` (path or None), ``counts`` (per split and label, from the cache) or None,
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
    meta = _read_meta(cache) if cache.is_file() else None
    if meta is not None and meta.get("version") == CACHE_VERSION:
        status.update(cached=True, counts=meta.get("counts"))
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


def data_job(ctx: Any, cfg: Any) -> None:
    """Download the official archive or install one into the cache (the ``data`` kind of job).

    ``cfg`` is a :class:`~core.config.DataJobConfig`. Progress (bytes, or the phase of the
    validation) goes to the run's status; the installed path to ``data.json``. A staged upload
    (``cfg.move``) is removed whatever happens, so nothing is left behind.
    """
    try:
        if cfg.action == "download":
            path = download_imdb(progress=lambda done, total: ctx.progress(phase="downloading", done=done, total=total))
        else:
            if not cfg.archive:
                raise ValueError("install needs the archive to install")
            path = install_archive(cfg.archive, move=cfg.move, progress=lambda phase: ctx.progress(phase=phase))
    finally:
        if cfg.move and cfg.archive:
            Path(cfg.archive).unlink(missing_ok=True)
    ctx.run.write_json("data.json", {"action": cfg.action, "path": str(path)})
    ctx.say(f"{'installed' if cfg.action == 'install' else 'downloaded'} to {path}")
