"""IMDB acquisition (core.data.imdb): sources, parsing, bad input, cache, validation split, download."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnlab.core.config import DataConfig
from rnnlab.core.data import imdb as data
from rnnlab.core.paths import data_dir

REAL_IMDB = os.environ.get("RNNLAB_IMDB")  # read before the fixtures below clear it


@pytest.fixture(autouse=True)
def _isolated_home(rnnlab_home: Path) -> Path:
    return rnnlab_home


def cache_files() -> list[Path]:
    """Everything in the cache folder, hidden temporary files included."""
    folder = data_dir() / "cache"
    return sorted(folder.iterdir()) if folder.exists() else []


def expected_rows(reviews: dict[str, bytes]) -> pd.DataFrame:
    """What load_imdb must return for a dict of member paths -> bytes, built independently."""
    rows = []
    for name, raw in reviews.items():
        folder, cls, fname = name.split("/")
        rid, rating = (int(x) for x in fname[: -len(".txt")].split("_"))
        split = "unsup" if cls == "unsup" else folder
        label = {"pos": 1, "neg": 0, "unsup": -1}[cls]
        rows.append((split, rid, rating, label, raw.decode("utf-8", errors="replace")))
    df = pd.DataFrame(rows, columns=list(data.COLUMNS))
    order = df["split"].map({"train": 0, "test": 1, "unsup": 2})
    return df.assign(_o=order).sort_values(["_o", "label", "id"]).drop(columns="_o").reset_index(drop=True)


def tar_info(
    name: str, data_: bytes = b"x", kind: bytes = tarfile.REGTYPE, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data_) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info


# --------------------------------------------------------------------------- parsing


def test_archive_loads_every_review_with_split_label_rating_and_text(tiny_imdb_archive, imdb_reviews):
    df = data.load_imdb(tiny_imdb_archive)

    assert tuple(df.columns) == data.COLUMNS
    assert [str(t) for t in df.dtypes[["id", "rating", "label"]]] == ["int64"] * 3
    pd.testing.assert_frame_equal(df, expected_rows(imdb_reviews()), check_dtype=False)
    assert df.attrs["counts"] == {
        "train": {"pos": 3, "neg": 3},
        "test": {"pos": 3, "neg": 3},
        "unsup": {"unlabelled": 4},
    }
    assert df.attrs["kind"] == "archive"
    assert df.attrs["stats"] == {"replaced_utf8": 0, "empty": 0, "skipped": 0, "ignored": 0, "duplicates": 0,
                                   "bad_names": 0}


@pytest.mark.parametrize("given", ["aclImdb folder", "parent folder", "folder holding the archive"])
def test_folder_sources_give_the_same_frame_as_the_archive(
    tmp_path, given, make_imdb_archive, make_imdb_folder
):
    archive_df = data.load_imdb(make_imdb_archive(tmp_path / "a.tar.gz"))
    if given == "folder holding the archive":
        path = tmp_path / "holder"
        path.mkdir()
        make_imdb_archive(path / data.ARCHIVE_NAME)
    else:
        folder = make_imdb_folder(tmp_path / "extracted")
        path = folder if given == "aclImdb folder" else folder.parent

    df = data.load_imdb(path)

    pd.testing.assert_frame_equal(df, archive_df)


def test_stray_files_in_review_folders_are_ignored_and_counted(tmp_path, make_imdb_archive, imdb_reviews):
    reviews = imdb_reviews()
    stray = {"train/pos/notes.md": b"x", "test/neg/7_2.txt.bak": b"y", "train/unsup/a_0.txt": b"z"}

    df = data.load_imdb(make_imdb_archive(tmp_path / "a.tar.gz", {**reviews, **stray}))

    pd.testing.assert_frame_equal(df, expected_rows(reviews), check_dtype=False)
    assert df.attrs["stats"]["ignored"] == 3


def test_duplicate_archive_member_keeps_the_last_copy(tmp_path, make_imdb_archive, imdb_reviews):
    again = b"second copy"
    archive = make_imdb_archive(
        tmp_path / "a.tar.gz", extra=[(tar_info("aclImdb/train/pos/0_7.txt", again), again)]
    )

    df = data.load_imdb(archive)

    row = df[(df.split == "train") & (df.label == 1) & (df.id == 0)]
    assert row["text"].tolist() == ["second copy"]
    assert len(df) == len(imdb_reviews())
    assert df.attrs["stats"]["duplicates"] == 1


@pytest.mark.parametrize("source", ["archive", "folder"])
def test_invalid_utf8_is_replaced_and_counted(
    tmp_path, source, imdb_reviews, make_imdb_archive, make_imdb_folder
):
    reviews = {**imdb_reviews(), "train/neg/0_1.txt": b"caf\xe9 was \xff awful"}
    path = (
        make_imdb_archive(tmp_path / "a.tar.gz", reviews)
        if source == "archive"
        else make_imdb_folder(tmp_path, reviews)
    )

    df = data.load_imdb(path)

    text = df[(df.split == "train") & (df.label == 0) & (df.id == 0)]["text"].item()
    assert text == "caf\ufffd was \ufffd awful"
    assert df.attrs["stats"]["replaced_utf8"] == 1


def test_empty_review_is_kept_as_empty_text(tmp_path, imdb_reviews, make_imdb_archive):
    reviews = {**imdb_reviews(), "test/pos/1_8.txt": b""}

    df = data.load_imdb(make_imdb_archive(tmp_path / "a.tar.gz", reviews))

    assert df[(df.split == "test") & (df.label == 1) & (df.id == 1)]["text"].tolist() == [""]
    assert df.attrs["stats"]["empty"] == 1


def test_five_megabyte_review_is_kept_whole(tmp_path, imdb_reviews, make_imdb_archive):
    long_text = ("a very long review " * 300_000)[: 5 * 2**20]
    reviews = {**imdb_reviews(), "train/pos/2_9.txt": long_text.encode()}

    df = data.load_imdb(make_imdb_archive(tmp_path / "a.tar.gz", reviews))

    assert df[(df.split == "train") & (df.label == 1) & (df.id == 2)]["text"].item() == long_text


@pytest.mark.parametrize("source", ["archive", "folder"])
def test_review_over_the_size_cap_is_refused(
    tmp_path, monkeypatch, source, imdb_reviews, make_imdb_archive, make_imdb_folder
):
    monkeypatch.setattr(data, "MAX_REVIEW_BYTES", 1000)
    reviews = {**imdb_reviews(), "train/pos/2_9.txt": b"z" * 1001}
    path = (
        make_imdb_archive(tmp_path / "a.tar.gz", reviews)
        if source == "archive"
        else make_imdb_folder(tmp_path, reviews)
    )

    with pytest.raises(data.BadLayout, match="1001 bytes"):
        data.load_imdb(path)
    assert cache_files() == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "aclImdb/train/pos/../../../12_9.txt",
        "/tmp/aclImdb/train/pos/99_9.txt",
        "aclImdb/../../outside/train/neg/5_1.txt",
    ],
)
def test_archive_with_unsafe_member_path_is_refused(tmp_path, name, make_imdb_archive):
    archive = make_imdb_archive(tmp_path / "a.tar.gz", extra=[(tar_info(name), b"x")])

    with pytest.raises(data.UnsafeArchive, match="unsafe path"):
        data.load_imdb(archive)
    assert cache_files() == []


@pytest.mark.parametrize(
    "kind, link",
    [
        (tarfile.SYMTYPE, "/etc/passwd"),
        (tarfile.LNKTYPE, "aclImdb/train/pos/0_7.txt"),
        (tarfile.FIFOTYPE, ""),
    ],
)
def test_links_and_special_members_are_skipped_and_counted(
    tmp_path, kind, link, make_imdb_archive, imdb_reviews
):
    member = tar_info("aclImdb/train/pos/99_9.txt", kind=kind, link=link)
    archive = make_imdb_archive(tmp_path / "a.tar.gz", extra=[(member, None)])

    df = data.load_imdb(archive)

    assert 99 not in df[df.split == "train"]["id"].tolist()
    assert len(df) == len(imdb_reviews())
    assert df.attrs["stats"]["skipped"] == 1


def test_folder_entries_that_are_not_files_are_skipped_and_counted(tmp_path, make_imdb_folder, imdb_reviews):
    folder = make_imdb_folder(tmp_path)
    (folder / "train" / "pos" / "50_9.txt").symlink_to(tmp_path / "nowhere.txt")
    (folder / "test" / "neg" / "51_1.txt").mkdir()

    df = data.load_imdb(folder)

    pd.testing.assert_frame_equal(df, expected_rows(imdb_reviews()), check_dtype=False)
    assert df.attrs["stats"]["skipped"] == 2


@pytest.mark.parametrize("damage", ["cut in half", "cut the gzip trailer", "flip a byte in the middle"])
def test_damaged_archive_is_corrupt_and_caches_nothing(tmp_path, damage, make_imdb_archive):
    good = make_imdb_archive(tmp_path / "good.tar.gz").read_bytes()
    if damage == "cut in half":
        bad = good[: len(good) // 2]
    elif damage == "cut the gzip trailer":
        bad = good[:-4]
    else:
        mid = len(good) // 2
        bad = good[:mid] + bytes([good[mid] ^ 0xFF]) + good[mid + 1 :]
    path = tmp_path / "bad.tar.gz"
    path.write_bytes(bad)

    with pytest.raises(data.CorruptArchive, match="truncated or corrupt"):
        data.load_imdb(path)
    assert cache_files() == []


@pytest.mark.parametrize("content", ["text", "zip"])
def test_file_that_is_not_a_tar_gz_is_refused(tmp_path, content):
    path = tmp_path / "reviews.dat"
    if content == "text":
        path.write_text("just some text\n")
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("aclImdb/train/pos/0_9.txt", "good")

    with pytest.raises(data.NotAnArchive, match="neither a .tar.gz archive"):
        data.load_imdb(path)


def test_gzip_file_that_is_not_a_tar_is_corrupt(tmp_path):
    path = tmp_path / "reviews.tar.gz"
    path.write_bytes(gzip.compress(b"not a tar archive at all" * 100))

    with pytest.raises(data.CorruptArchive):
        data.load_imdb(path)


@pytest.mark.parametrize("missing", ["test/neg", "train/pos"])
def test_folder_missing_a_review_folder_names_it(tmp_path, missing, imdb_reviews, make_imdb_folder):
    reviews = {k: v for k, v in imdb_reviews().items() if not k.startswith(missing + "/")}
    folder = make_imdb_folder(tmp_path, reviews)

    with pytest.raises(data.BadLayout, match=f"missing {missing}/"):
        data.load_imdb(folder)


def test_folder_with_no_dataset_in_it_is_bad_layout(tmp_path):
    (tmp_path / "empty").mkdir()

    with pytest.raises(data.BadLayout, match="neither an aclImdb/ folder"):
        data.load_imdb(tmp_path / "empty")


@pytest.mark.parametrize("drop", ["test", "train"])
def test_archive_without_train_or_test_reviews_is_bad_layout(tmp_path, drop, imdb_reviews, make_imdb_archive):
    reviews = {k: v for k, v in imdb_reviews().items() if not k.startswith(drop + "/")}
    archive = make_imdb_archive(tmp_path / "a.tar.gz", reviews)

    with pytest.raises(data.BadLayout, match=f"no {drop}/pos, {drop}/neg reviews"):
        data.load_imdb(archive)
    assert cache_files() == []


def test_every_data_error_is_a_data_error():
    for cls in (data.DatasetNotFound, data.NotAnArchive, data.CorruptArchive, data.UnsafeArchive):
        assert issubclass(cls, data.DataError)
    assert issubclass(data.BadLayout, data.DataError) and issubclass(data.DownloadError, data.DataError)


# --------------------------------------------------------------------------- locating


def test_sources_are_tried_in_order_argument_env_cache(tmp_path, monkeypatch, make_imdb_archive):
    given = make_imdb_archive(tmp_path / "given.tar.gz")
    env = make_imdb_archive(tmp_path / "env.tar.gz")
    data_dir().mkdir(parents=True)
    cached = make_imdb_archive(data_dir() / data.ARCHIVE_NAME)

    assert data.locate_imdb() == cached.resolve()
    monkeypatch.setenv("RNNLAB_IMDB", str(env))
    assert data.locate_imdb() == env.resolve()
    assert data.locate_imdb(given) == given.resolve()


@pytest.mark.parametrize("via", ["argument", "env"])
def test_wrong_path_is_an_error_not_a_fall_through(tmp_path, monkeypatch, via, make_imdb_archive):
    data_dir().mkdir(parents=True)
    make_imdb_archive(data_dir() / data.ARCHIVE_NAME)  # would be found if the wrong path were skipped
    wrong = tmp_path / "no-such-file.tar.gz"
    if via == "env":
        monkeypatch.setenv("RNNLAB_IMDB", str(wrong))

    with pytest.raises(data.DatasetNotFound, match="does not exist") as err:
        data.locate_imdb(wrong if via == "argument" else None)
    assert str(wrong) in str(err.value)


def test_missing_dataset_message_names_the_three_ways_to_supply_it():
    with pytest.raises(data.DatasetNotFound) as err:
        data.load_imdb()

    message = str(err.value)
    for hint in (
        "RNNLAB_IMDB",
        "--imdb PATH",
        "dashboard's dataset path field",
        str(data.default_archive_path()),
        "python -m core data download",
        "download button",
    ):
        assert hint in message


# --------------------------------------------------------------------------- cache


@pytest.mark.parametrize("source", ["archive", "folder"])
def test_second_load_reads_the_cache_without_parsing(
    tmp_path, monkeypatch, source, make_imdb_archive, make_imdb_folder
):
    path = make_imdb_archive(tmp_path / "a.tar.gz") if source == "archive" else make_imdb_folder(tmp_path)
    first = data.load_imdb(path)

    def no_parse(_path):
        raise AssertionError("parsed again despite a current cache")

    monkeypatch.setattr(data, "_parse_archive", no_parse)
    monkeypatch.setattr(data, "_parse_folder", no_parse)
    second = data.load_imdb(path)

    pd.testing.assert_frame_equal(second, first)
    assert second.attrs == first.attrs
    assert [p.suffix for p in cache_files()] == [".parquet"]


def test_changed_archive_is_parsed_again_and_the_old_cache_dropped(tmp_path, make_imdb_archive, imdb_reviews):
    archive = make_imdb_archive(tmp_path / "a.tar.gz")
    data.load_imdb(archive)
    old_cache = cache_files()
    changed = {**imdb_reviews(), "train/pos/0_7.txt": b"rewritten"}
    make_imdb_archive(archive, changed)
    st = archive.stat()
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a distinct mtime even on coarse clocks

    df = data.load_imdb(archive)

    assert df[(df.split == "train") & (df.label == 1) & (df.id == 0)]["text"].item() == "rewritten"
    assert len(cache_files()) == 1 and cache_files() != old_cache


def test_review_added_to_a_folder_is_seen(tmp_path, make_imdb_folder):
    folder = make_imdb_folder(tmp_path)
    before = data.load_imdb(folder)
    (folder / "test" / "neg" / "100_2.txt").write_text("new review")

    after = data.load_imdb(folder)

    assert len(after) == len(before) + 1
    assert after.attrs["counts"]["test"]["neg"] == before.attrs["counts"]["test"]["neg"] + 1


@pytest.mark.parametrize("failure", [OSError, RuntimeError])
def test_failed_cache_write_leaves_no_partial_file(monkeypatch, failure, tiny_imdb_archive, imdb_reviews):
    class HalfWriter(data.pq.ParquetWriter):
        def write_batch(self, batch, row_group_size=None):
            super().write_batch(batch, row_group_size)
            raise failure("disk full")

    monkeypatch.setattr(data.pq, "ParquetWriter", HalfWriter)
    if failure is OSError:  # a cache that cannot be written is not fatal: the data still loads
        with pytest.warns(RuntimeWarning, match="could not write the IMDB cache"):
            df = data.load_imdb(tiny_imdb_archive)
        assert len(df) == len(imdb_reviews())
    else:
        with pytest.raises(RuntimeError):
            data.load_imdb(tiny_imdb_archive)
    assert cache_files() == []


def test_damaged_cache_is_rebuilt(tiny_imdb_archive):
    first = data.load_imdb(tiny_imdb_archive)
    Path(first.attrs["cache"]).write_bytes(b"garbage")

    with pytest.warns(RuntimeWarning, match="not usable"):  # said, then rebuilt
        again = data.load_imdb(tiny_imdb_archive)

    pd.testing.assert_frame_equal(again, first)
    assert Path(again.attrs["cache"]).read_bytes()[:4] == b"PAR1"


# --------------------------------------------------------------------------- validation split


def synthetic_frame(train_per_label: int = 50, test_per_label: int = 20, unsup: int = 30) -> pd.DataFrame:
    rows = []
    for split, n in (("train", train_per_label), ("test", test_per_label)):
        for label, rating in ((1, 9), (0, 2)):
            rows += [(split, i, rating, label, f"{split}{label}-{i}") for i in range(n)]
    rows += [("unsup", i, 0, -1, f"u-{i}") for i in range(unsup)]
    return pd.DataFrame(rows, columns=list(data.COLUMNS))


def keys(df: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(df["label"], df["id"], strict=True))


@pytest.mark.parametrize("val_size", [0, 1, 10, 11, 98])
def test_validation_split_is_disjoint_balanced_and_sized(val_size):
    df = synthetic_frame()
    train_all = df[df.split == "train"]

    parts = data.split_frame(df, DataConfig(val_size=val_size))

    assert set(parts) == {"train", "val", "test", "unsup"}
    assert len(parts["val"]) == val_size
    assert len(parts["train"]) == len(train_all) - val_size
    assert not keys(parts["train"]) & keys(parts["val"])
    assert keys(parts["train"]) | keys(parts["val"]) == keys(train_all)
    counts = parts["val"]["label"].value_counts()
    assert counts.get(0, 0) == val_size - val_size // 2 and counts.get(1, 0) == val_size // 2
    official_test = df[df.split == "test"].sort_values(["label", "id"], ignore_index=True)
    pd.testing.assert_frame_equal(parts["test"], official_test)
    assert len(parts["unsup"]) == 30


def test_validation_split_depends_on_the_seed_only():
    df = synthetic_frame()
    shuffled = df.sample(frac=1.0, random_state=3)

    a = data.split_frame(df, DataConfig(val_size=20, split_seed=1))
    b = data.split_frame(shuffled, DataConfig(val_size=20, split_seed=1))
    c = data.split_frame(df, DataConfig(val_size=20, split_seed=2))

    pd.testing.assert_frame_equal(a["val"], b["val"])
    pd.testing.assert_frame_equal(a["train"], b["train"])
    assert keys(a["val"]) != keys(c["val"])


@pytest.mark.parametrize("limit", [2, 7, 10, 1000])  # 2: the smallest limit (one review of each label)
def test_limit_keeps_balanced_seeded_subsets_of_each_split(limit):
    df = synthetic_frame()
    full = data.split_frame(df, DataConfig(val_size=20))

    parts = data.split_frame(df, DataConfig(val_size=20, limit=limit))

    for name, frame in parts.items():
        assert len(frame) == min(limit, len(full[name]))
        assert keys(frame) <= keys(full[name])
        if name != "unsup" and len(frame) < len(full[name]):
            counts = frame["label"].value_counts()
            assert abs(counts.get(0, 0) - counts.get(1, 0)) <= 1
    again = data.split_frame(df, DataConfig(val_size=20, limit=limit))
    for name in parts:
        pd.testing.assert_frame_equal(parts[name], again[name])


def test_impossible_split_settings_are_rejected():
    with pytest.raises(ValueError):
        data.split_frame(synthetic_frame(), DataConfig(val_size=100))  # more than the training reviews
    for bad in ({"val_size": -1}, {"limit": -5}):  # refused by the config itself, before any data is read
        with pytest.raises(ValueError, match="DataConfig"):
            DataConfig(**bad)


def test_load_splits_follows_the_config(tiny_imdb_archive):
    parts = data.load_splits(DataConfig(imdb_path=str(tiny_imdb_archive), val_size=2, limit=3))

    assert {k: len(v) for k, v in parts.items()} == {"train": 3, "val": 2, "test": 3, "unsup": 3}


# --------------------------------------------------------------------------- download


def served(tmp_path: Path, make_imdb_archive) -> tuple[str, bytes]:
    """A file:// URL standing in for the official archive, and its bytes."""
    source = make_imdb_archive(tmp_path / "remote.tar.gz")
    return source.as_uri(), source.read_bytes()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_with_matching_checksum_is_renamed_into_place(tmp_path, make_imdb_archive, imdb_reviews):
    url, payload = served(tmp_path, make_imdb_archive)
    seen: list[tuple[int, int]] = []

    path = data.download_imdb(
        url=url,
        progress=lambda done, total: seen.append((done, total)),
        expected_sha256=hashlib.sha256(payload).hexdigest(),
        expected_size=len(payload),
    )

    assert path == data_dir() / data.ARCHIVE_NAME
    assert path.read_bytes() == payload
    assert leftovers(data_dir()) == [data.ARCHIVE_NAME]
    assert seen[0] == (0, len(payload)) and seen[-1] == (len(payload), len(payload))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(data.load_imdb()) == len(
        imdb_reviews()
    )  # the downloaded archive is then found in the cache folder


@pytest.mark.parametrize("mismatch", ["sha256", "size smaller", "size larger"])
def test_download_that_does_not_match_is_discarded(tmp_path, mismatch, make_imdb_archive):
    url, payload = served(tmp_path, make_imdb_archive)
    sha = hashlib.sha256(payload).hexdigest()
    expected = {
        "sha256": (hashlib.sha256(b"other").hexdigest(), len(payload)),
        "size smaller": (sha, len(payload) - 1),
        "size larger": (sha, len(payload) + 1),
    }[mismatch]

    with pytest.raises(data.DownloadError, match="discarded"):
        data.download_imdb(
            url=url, progress=lambda d, t: None, expected_sha256=expected[0], expected_size=expected[1]
        )
    assert leftovers(data_dir()) == []


class BrokenStream(io.BytesIO):
    """A response that delivers one chunk and then loses the connection."""

    headers = {"Content-Length": str(3 * 2**20)}

    def read(self, n=-1):
        if self.tell() > 0:
            raise ConnectionResetError("connection reset by peer")
        return super().read(n)


@pytest.mark.parametrize("failure", ["unreachable", "broken off"])
def test_network_failure_is_a_download_error_and_leaves_nothing(failure):
    def opener(url):
        if failure == "unreachable":
            raise urllib.error.URLError("no route to host")
        return BrokenStream(b"\x1f\x8b" + b"\0" * (2 * 2**20))

    with pytest.raises(data.DownloadError, match="no route to host|broke off"):
        data.download_imdb(opener=opener, progress=lambda d, t: None)
    assert leftovers(data_dir()) == []


def test_download_that_cannot_be_saved_is_a_download_error(tmp_path, make_imdb_archive):
    url, payload = served(tmp_path, make_imdb_archive)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the download folder should be")

    with pytest.raises(data.DownloadError, match="could not save"):
        data.download_imdb(blocker / "sub", url=url, progress=lambda d, t: None, expected_sha256=None)


def test_load_downloads_only_when_allowed_and_nothing_is_found(monkeypatch, make_imdb_archive, imdb_reviews):
    calls = []

    def fake_download(progress=None):
        calls.append(progress)
        data_dir().mkdir(parents=True, exist_ok=True)
        return make_imdb_archive(data_dir() / data.ARCHIVE_NAME)

    monkeypatch.setattr(data, "download_imdb", fake_download)
    with pytest.raises(data.DatasetNotFound):
        data.load_imdb(download=False)
    assert calls == []

    df = data.load_imdb(download=True, progress=print)

    assert calls == [print] and len(df) == len(imdb_reviews())
    with pytest.raises(data.DatasetNotFound):  # a wrong explicit path is never "fixed" by a download
        data.load_imdb("/no/such/aclImdb", download=True)
    assert len(calls) == 1


# --------------------------------------------------------------------------- status and info


def test_status_of_a_missing_dataset_does_not_raise():
    status = data.dataset_status()

    assert status["found"] is False and status["cached"] is False
    assert "RNNLAB_IMDB" in status["error"]
    assert status["archive_path"] == str(data.default_archive_path())


@pytest.mark.parametrize("bad", ["missing", "text file", "empty folder"])
def test_status_of_a_bad_path_reports_the_error(tmp_path, bad):
    path = tmp_path / bad
    if bad == "text file":
        path.write_text("hello")
    elif bad == "empty folder":
        path.mkdir()

    status = data.dataset_status(path)

    assert status["found"] is False and str(path) in status["error"]


def test_status_reports_source_and_counts_once_cached(tiny_imdb_archive):
    before = data.dataset_status(tiny_imdb_archive)
    data.load_imdb(tiny_imdb_archive)
    after = data.dataset_status(tiny_imdb_archive)

    assert (
        before["found"]
        and before["kind"] == "archive"
        and before["source"] == str(tiny_imdb_archive.resolve())
    )
    assert before["cached"] is False and before["counts"] is None
    assert after["cached"] is True and Path(after["cache"]).is_file()
    assert after["counts"]["unsup"] == {"unlabelled": 4} and after["counts"]["test"] == {"pos": 3, "neg": 3}


def test_data_info_reports_counts_and_paths(tmp_path, make_imdb_folder, imdb_reviews):
    folder = make_imdb_folder(tmp_path, imdb_reviews(per_class=2, unsup=5))

    info = data.data_info(tmp_path)

    assert info["kind"] == "folder" and info["source"] == str(folder.resolve())
    assert info["total"] == 13 and Path(info["cache"]).is_file()
    assert info["counts"] == {
        "train": {"pos": 2, "neg": 2},
        "test": {"pos": 2, "neg": 2},
        "unsup": {"unlabelled": 5},
    }


# --------------------------------------------------------------------------- the real dataset


def test_real_archive_has_the_published_counts_and_ratings():
    if not REAL_IMDB:
        pytest.skip("set RNNLAB_IMDB to the real aclImdb_v1.tar.gz (or aclImdb/ folder) to run this test")

    df = data.load_imdb(REAL_IMDB)

    counts = df.groupby(["split", "label"]).size().to_dict()
    assert counts == {
        ("train", 0): 12500,
        ("train", 1): 12500,
        ("test", 0): 12500,
        ("test", 1): 12500,
        ("unsup", -1): 50000,
    }
    ratings = df.groupby("label")["rating"].agg(["min", "max"])
    assert ratings.loc[1].tolist() == [7, 10] and ratings.loc[0].tolist() == [1, 4]
    assert ratings.loc[-1].tolist() == [0, 0]
    assert not df.duplicated(["split", "label", "id"]).any()
    assert np.all(df["text"].str.len() > 0)
