"""Hostile and clumsy data input, one test per case: bombs, bad names, a tampered cache, bad installs and uploads.

Each test names what the user (or an attacker) did and what happens, and checks the message that
says so and that nothing was lost or left behind. The crafted archives are small on disk: long runs
of zeros are gzip-compressed once and the gzip members concatenated.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from rnnlab.core.config import DataJobConfig
from rnnlab.core.data import imdb as data
from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.process import ProcessId
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.paths import data_dir

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20


@pytest.fixture(autouse=True)
def _isolated_home(rnnlab_home: Path) -> Path:
    return rnnlab_home


def cache_files() -> list[Path]:
    folder = data_dir() / "cache"
    return sorted(folder.iterdir()) if folder.exists() else []


def leftovers() -> list[Path]:
    """Temporary and staged files in the data folder: there must never be any after a failure."""
    folder = data_dir()
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(data.UPLOAD_PREFIX)] \
        if folder.exists() else []


# -------------------------------------------------------------------------------- crafted archives
class Bomb:
    """A .tar.gz written as concatenated gzip members: headers, small data, and long runs of zeros."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parts: list[bytes] = []
        self.zeros: dict[int, bytes] = {}

    def member(self, name: str, data: bytes | None = None, size: int | None = None) -> Bomb:
        info = tarfile.TarInfo(f"aclImdb/{name}")
        info.size = len(data) if data is not None else size
        self.parts.append(gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT), compresslevel=1))
        if data is not None:
            self.parts.append(gzip.compress(data + b"\0" * (-len(data) % 512), compresslevel=1))
        else:
            if size not in self.zeros:
                self.zeros[size] = gzip.compress(b"\0" * (size + -size % 512), compresslevel=6)
            self.parts.append(self.zeros[size])
        return self

    def labelled(self) -> Bomb:
        """One review of each labelled class, so nothing is refused for a missing class."""
        for split in ("train", "test"):
            self.member(f"{split}/pos/0_9.txt", b"a fine film").member(f"{split}/neg/0_2.txt", b"a dull film")
        return self

    def write(self) -> Path:
        self.path.write_bytes(b"".join(self.parts) + gzip.compress(b"\0" * 1024))
        return self.path


def peak_memory_of_loading(source: Path) -> tuple[str, int]:
    """Load ``source`` in a fresh process: (its outcome, its peak resident memory in bytes, imports included)."""
    code = (
        "import sys, json\n"
        "from rnnlab.core.data import imdb\n"
        "try:\n"
        "    imdb.load_imdb(sys.argv[1]); outcome = 'loaded'\n"
        "except imdb.DataError as e:\n"
        "    outcome = f'{type(e).__name__}: {e}'\n"
        "hwm = [int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "print(json.dumps([outcome, hwm[0]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(source)], cwd=ROOT, env=dict(os.environ),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    outcome, peak = json.loads(out.stdout.strip().splitlines()[-1])
    return outcome, peak


needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc")


# -------------------------------------------------------------------------------- bombs and bounds
@needs_proc
def test_loading_an_archive_of_huge_members_is_refused_at_the_first_header_within_the_memory_budget(tmp_path):
    bomb = Bomb(tmp_path / "bomb.tar.gz").labelled()
    for i in range(10):  # the reported bomb: 10 x 60 MiB of reviews in a few hundred kB
        bomb.member(f"train/unsup/{100 + i}_0.txt", size=60 * MiB)
    path = bomb.write()
    assert path.stat().st_size < 2 * MiB

    outcome, peak = peak_memory_of_loading(path)

    assert outcome.startswith("OverLimit") and "MAX_REVIEW_BYTES" in outcome and "62914560 bytes" in outcome
    assert peak < data.MEMORY_BUDGET_BYTES / 2, f"peak {peak / MiB:.0f} MiB"
    assert cache_files() == []


@needs_proc
def test_loading_a_bomb_of_reviews_under_the_review_cap_stops_at_the_total_cap_within_the_memory_budget(tmp_path):
    bomb = Bomb(tmp_path / "bomb.tar.gz").labelled()
    for i in range(data.MAX_REVIEWS_BYTES // (7 * MiB) + 2):  # 7 MiB each: every one under MAX_REVIEW_BYTES
        bomb.member(f"train/unsup/{100 + i}_0.txt", size=7 * MiB)

    outcome, peak = peak_memory_of_loading(bomb.write())

    assert outcome.startswith("OverLimit") and "MAX_REVIEWS_BYTES" in outcome
    assert peak < data.MEMORY_BUDGET_BYTES, f"peak {peak / MiB:.0f} MiB"


def test_loading_an_archive_that_expands_past_the_stream_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_ARCHIVE_BYTES", 2 * MiB)
    path = Bomb(tmp_path / "bomb.tar.gz").labelled().member("train/unsupBow.feat", size=8 * MiB).write()

    with pytest.raises(data.OverLimit, match="MAX_ARCHIVE_BYTES") as e:
        data.load_imdb(path)
    assert str(path) in str(e.value) and cache_files() == []


def test_loading_an_archive_with_too_many_members_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_MEMBERS", 30)
    bomb = Bomb(tmp_path / "many.tar.gz").labelled()
    for i in range(40):
        bomb.member(f"extra/{i}.txt", b"")

    with pytest.raises(data.OverLimit, match=r"more than 30 entries \(MAX_MEMBERS"):
        data.load_imdb(bomb.write())
    assert cache_files() == []


def test_loading_a_folder_with_too_many_files_is_refused(tmp_path, monkeypatch, make_imdb_folder):
    monkeypatch.setattr(data, "MAX_MEMBERS", 30)
    folder = make_imdb_folder(tmp_path)
    for i in range(40):
        (folder / "train" / "unsup" / f"{100 + i}_0.txt").write_text("x")

    with pytest.raises(data.OverLimit, match="MAX_MEMBERS"):
        data.load_imdb(folder)
    assert cache_files() == []


def test_loading_an_archive_with_one_oversized_review_is_refused_without_reading_it(tmp_path):
    path = Bomb(tmp_path / "big.tar.gz").labelled().member("train/pos/5_9.txt", size=data.MAX_REVIEW_BYTES + 1) \
        .write()

    with pytest.raises(data.OverLimit, match=f"is {data.MAX_REVIEW_BYTES + 1} bytes.*MAX_REVIEW_BYTES"):
        data.load_imdb(path)
    assert cache_files() == []


def test_loading_reviews_that_add_up_past_the_total_limit_is_refused(tmp_path, monkeypatch, make_imdb_archive,
                                                                     imdb_reviews):
    monkeypatch.setattr(data, "MAX_REVIEWS_BYTES", 50_000)
    reviews = {**imdb_reviews(), **{f"train/unsup/{100 + i}_0.txt": b"w" * 10_000 for i in range(6)}}

    with pytest.raises(data.OverLimit, match="MAX_REVIEWS_BYTES"):
        data.load_imdb(make_imdb_archive(tmp_path / "a.tar.gz", reviews))
    assert cache_files() == []


def test_loading_an_archive_with_a_huge_extended_header_is_refused_before_it_is_read(tmp_path, monkeypatch,
                                                                                     make_imdb_archive):
    monkeypatch.setattr(data, "MAX_HEADER_BYTES", 4096)
    path = tmp_path / "pax.tar.gz"
    good = make_imdb_archive(tmp_path / "good.tar.gz")
    with tarfile.open(good) as src, tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as out:
        for member in src:
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("aclImdb/README2")
        info.pax_headers = {"comment": "x" * 10_000}
        out.addfile(info, io.BytesIO(b""))

    with pytest.raises(data.OverLimit, match="MAX_HEADER_BYTES") as e:
        data.load_imdb(path)
    assert str(path) in str(e.value)


# -------------------------------------------------------------------------------- ids and ratings
def load_with(tmp_path, make_imdb_archive, imdb_reviews, name: str):
    """Load the tiny archive plus one review file called ``name``; (frame, warnings raised)."""
    archive = make_imdb_archive(tmp_path / "a.tar.gz", {**imdb_reviews(), name: b"an extra review"})
    with pytest.warns(RuntimeWarning, match="skipped") as caught:
        df = data.load_imdb(archive)
    return df, " ".join(str(w.message) for w in caught)


def test_a_review_with_a_23_digit_id_is_skipped_and_counted_not_an_overflow(tmp_path, make_imdb_archive,
                                                                           imdb_reviews):
    df, warned = load_with(tmp_path, make_imdb_archive, imdb_reviews, "train/pos/12345678901234567890123_9.txt")

    assert len(df) == len(imdb_reviews()) and df.attrs["stats"]["bad_names"] == 1
    assert "12345678901234567890123_9.txt" in warned and "MAX_REVIEW_ID" in warned


def test_a_review_rated_0_is_skipped_and_counted(tmp_path, make_imdb_archive, imdb_reviews):
    df, warned = load_with(tmp_path, make_imdb_archive, imdb_reviews, "test/neg/50_0.txt")

    assert 50 not in df["id"].tolist() and df.attrs["stats"]["bad_names"] == 1
    assert "test/neg reviews are rated 1-4, not 0" in warned


def test_a_review_rated_11_is_skipped_and_counted(tmp_path, make_imdb_archive, imdb_reviews):
    df, warned = load_with(tmp_path, make_imdb_archive, imdb_reviews, "train/pos/50_11.txt")

    assert 50 not in df["id"].tolist() and df.attrs["stats"]["bad_names"] == 1
    assert "train/pos reviews are rated 7-10, not 11" in warned


def test_a_positive_review_rated_1_is_skipped_never_kept_as_positive(tmp_path, make_imdb_archive, imdb_reviews):
    df, warned = load_with(tmp_path, make_imdb_archive, imdb_reviews, "train/pos/50_1.txt")

    assert not ((df["label"] == 1) & (df["rating"] < 7)).any() and df.attrs["stats"]["bad_names"] == 1
    assert "train/pos reviews are rated 7-10, not 1" in warned


def test_an_unlabelled_review_with_a_rating_is_skipped_and_counted(tmp_path, make_imdb_archive, imdb_reviews):
    df, warned = load_with(tmp_path, make_imdb_archive, imdb_reviews, "train/unsup/50_8.txt")

    assert 50 not in df["id"].tolist() and "train/unsup reviews are rated 0-0, not 8" in warned


# -------------------------------------------------------------------------------- a tampered cache
def tamper_with_cache(archive: Path, change) -> tuple[object, Path]:
    """Load ``archive`` (writing its cache), then rewrite the cache with ``change(table)``, metadata kept."""
    first = data.load_imdb(archive)
    cache = Path(first.attrs["cache"])
    table = pq.read_table(cache)
    changed = change(table.replace_schema_metadata(None)).replace_schema_metadata(table.schema.metadata)
    pq.write_table(changed, cache)
    return first, cache


def reloads_from_the_source(first, cache: Path) -> None:
    """The next load warns, parses the archive again, and the cache holds the true data again."""
    with pytest.warns(RuntimeWarning, match="not usable") as caught:
        again = data.load_imdb(first.attrs["source"])
    assert f"the IMDB cache {cache}" in str(caught[0].message)
    import pandas as pd

    pd.testing.assert_frame_equal(again, first)
    assert data._read_cache(cache) is not None  # rebuilt: it passes its own checks now


def test_a_cache_with_two_labels_swapped_is_rebuilt_not_used(tiny_imdb_archive):
    def swap(table):  # one pos and one neg review of train trade labels: the counts still add up
        label = table.column("label").to_pylist()
        pos, neg = label.index(1), label.index(0)
        label[pos], label[neg] = 0, 1
        return table.set_column(3, "label", pa.array(label, pa.int64()))

    first, cache = tamper_with_cache(tiny_imdb_archive, swap)
    with pytest.raises(data.BadCache, match="rated outside"):
        data._read_cache(cache)
    reloads_from_the_source(first, cache)


def test_a_cache_with_missing_rows_is_rebuilt_not_used(tiny_imdb_archive):
    first, cache = tamper_with_cache(tiny_imdb_archive, lambda t: t.slice(1))
    with pytest.raises(data.BadCache, match="counts per split and label do not match"):
        data._read_cache(cache)
    reloads_from_the_source(first, cache)


def test_a_cache_with_a_null_review_is_rebuilt_not_used(tiny_imdb_archive):
    def null_text(table):
        text = table.column("text").to_pylist()
        text[2] = None
        return table.set_column(4, "text", pa.array(text, pa.large_string()))

    first, cache = tamper_with_cache(tiny_imdb_archive, null_text)
    with pytest.raises(data.BadCache, match="text hold nulls"):
        data._read_cache(cache)
    reloads_from_the_source(first, cache)


def test_a_cache_with_a_label_outside_minus_one_to_one_is_rebuilt_not_used(tiny_imdb_archive):
    def label_7(table):
        label = table.column("label").to_pylist()
        label[0] = 7
        return table.set_column(3, "label", pa.array(label, pa.int64()))

    first, cache = tamper_with_cache(tiny_imdb_archive, label_7)
    with pytest.raises(data.BadCache, match="other than -1, 0 and 1"):
        data._read_cache(cache)
    reloads_from_the_source(first, cache)


def test_the_status_of_a_tampered_cache_does_not_report_its_counts(tiny_imdb_archive):
    first, cache = tamper_with_cache(tiny_imdb_archive, lambda t: t.slice(1))

    status = data.dataset_status(tiny_imdb_archive)

    assert status["found"] and not status["cached"] and status["counts"] is None


# -------------------------------------------------------------------------------- installing an archive
@pytest.fixture
def no_copy(monkeypatch):
    """Every copy or move install_archive might make, recorded: a refused file must not get that far."""
    copies = []
    monkeypatch.setattr(data.shutil, "copyfile", lambda *a, **k: copies.append(a))
    monkeypatch.setattr(data.os, "replace", lambda *a, **k: copies.append(a))
    return copies


def test_installing_a_file_that_is_not_gzip_copies_nothing(tmp_path, no_copy):
    path = tmp_path / "notes.tar.gz"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 4096)

    with pytest.raises(data.NotAnArchive, match="not gzip-compressed"):
        data.install_archive(path)
    assert no_copy == [] and leftovers() == [] and path.read_bytes()[:2] == b"PK"


def test_installing_a_file_over_the_size_limit_copies_nothing(tmp_path, monkeypatch, no_copy, tiny_imdb_archive):
    monkeypatch.setattr(data, "MAX_ARCHIVE_FILE_BYTES", 100)

    with pytest.raises(data.OverLimit, match="MAX_ARCHIVE_FILE_BYTES"):
        data.install_archive(tiny_imdb_archive)
    assert no_copy == [] and leftovers() == [] and tiny_imdb_archive.exists()


def test_installing_an_endless_stream_stops_at_the_size_limit(monkeypatch):
    monkeypatch.setattr(data, "MAX_ARCHIVE_FILE_BYTES", 3 * MiB)

    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            b[:2] = b"\x1f\x8b"
            return len(b)

    with pytest.raises(data.OverLimit, match="more than .* bytes.*MAX_ARCHIVE_FILE_BYTES"):
        data.install_archive(io.BufferedReader(Endless()))
    assert leftovers() == [] and not data.default_archive_path().exists()


def test_installing_a_truncated_gzip_is_refused_and_leaves_nothing(tmp_path, tiny_imdb_archive):
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(tiny_imdb_archive.read_bytes()[:-100])

    with pytest.raises(data.CorruptArchive, match="truncated or corrupt") as e:
        data.install_archive(path)
    assert str(path) in str(e.value) and ".tmp" not in str(e.value)
    assert leftovers() == [] and not data.default_archive_path().exists() and path.exists()


def test_installing_a_path_that_does_not_exist_is_refused(tmp_path, no_copy):
    with pytest.raises(data.DatasetNotFound, match="nowhere.tar.gz does not exist"):
        data.install_archive(tmp_path / "nowhere.tar.gz")
    assert no_copy == [] and leftovers() == []


def test_installing_a_folder_is_refused_and_says_to_use_it_as_the_path(tmp_path, make_imdb_folder, no_copy):
    folder = make_imdb_folder(tmp_path)

    with pytest.raises(data.NotAnArchive, match="is a folder.*give its path as the dataset path"):
        data.install_archive(folder)
    assert no_copy == [] and leftovers() == [] and (folder / "train" / "pos").is_dir()


def test_installing_an_archive_with_a_path_traversal_member_is_refused(tmp_path, make_imdb_archive):
    evil = tarfile.TarInfo("aclImdb/../../etc/cron.d/evil")
    evil.size = 1
    path = make_imdb_archive(tmp_path / "evil.tar.gz", extra=[(evil, b"x")])

    with pytest.raises(data.UnsafeArchive, match="unsafe path"):
        data.install_archive(path)
    assert leftovers() == [] and not data.default_archive_path().exists()
    assert not (tmp_path.parent / "etc").exists()


def test_loading_an_archive_with_a_symlink_member_skips_it_and_follows_nothing(tmp_path, make_imdb_archive,
                                                                               imdb_reviews):
    link = tarfile.TarInfo("aclImdb/train/pos/77_9.txt")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    df = data.load_imdb(make_imdb_archive(tmp_path / "link.tar.gz", extra=[(link, None)]))

    assert 77 not in df["id"].tolist() and df.attrs["stats"]["skipped"] == 1
    assert not df["text"].str.contains("root:").any()


# -------------------------------------------------------------------------------- uploads and data jobs
def test_staging_an_upload_with_the_wrong_magic_writes_nothing():
    with pytest.raises(data.NotAnArchive, match="the uploaded archive is not a .tar.gz"):
        data.stage_upload(b"BZh91AY&SY not gzip")
    assert leftovers() == []


def test_staging_an_upload_over_the_size_limit_writes_nothing(monkeypatch, tiny_imdb_archive):
    monkeypatch.setattr(data, "MAX_ARCHIVE_FILE_BYTES", 100)

    with pytest.raises(data.OverLimit, match="MAX_ARCHIVE_FILE_BYTES"):
        data.stage_upload(tiny_imdb_archive.read_bytes())
    assert leftovers() == []


def test_a_staged_bomb_is_refused_by_its_install_job_and_removed(rnnlab_home, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_ARCHIVE_BYTES", 2 * MiB)
    bomb = Bomb(tmp_path / "bomb.tar.gz").labelled().member("train/unsupBow.feat", size=8 * MiB).write()
    staged = data.stage_upload(bomb.read_bytes())
    store = RunStore(rnnlab_home / "runs")

    with pytest.raises(data.OverLimit):
        lifecycle.run_now("data", DataJobConfig(action="install", archive=str(staged), move=True), store)
    [run] = store.list()
    assert run.status()["state"] == "failed" and "MAX_ARCHIVE_BYTES" in run.status()["error"]
    assert leftovers() == [] and not data.default_archive_path().exists()


def test_a_staged_upload_left_by_a_cancelled_install_is_removed_later_but_a_queued_ones_is_kept(tiny_imdb_archive):
    raw = tiny_imdb_archive.read_bytes()
    orphan, queued, fresh = (data.stage_upload(raw) for _ in range(3))
    old = time.time() - 2 * data.STALE_UPLOAD_S
    for path in (orphan, queued):
        os.utime(path, (old, old))

    removed = data.remove_stale_uploads([str(queued)])

    assert removed == [orphan] and not orphan.exists() and queued.exists() and fresh.exists()


def test_the_server_config_binds_the_dashboard_to_127_0_0_1():
    with (ROOT / ".streamlit" / "config.toml").open("rb") as f:
        assert tomllib.load(f)["server"]["address"] == "127.0.0.1"


# -------------------------------------------------------------------------------- the Overview page
@pytest.fixture
def sleeper():
    """A harmless process that stands in for a data job's process (a run it owns reads as queued)."""
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield proc.pid
    proc.kill()
    proc.wait()


def overview() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload_and_install(at: AppTest, content: bytes) -> AppTest:
    at.get("file_uploader")[0].upload("aclImdb_v1.tar.gz", content, "application/gzip")
    at.run()
    at.button(key="install_upload").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def messages(at: AppTest) -> str:
    return " ".join(e.value for e in [*at.error, *at.warning])


def test_uploading_a_file_with_the_wrong_magic_on_the_overview_says_so_and_stages_nothing(rnnlab_home):
    at = upload_and_install(overview(), b"PK\x03\x04 a zip, named .tar.gz")

    assert "aclImdb_v1.tar.gz: the uploaded archive is not a .tar.gz archive" in messages(at)
    assert leftovers() == [] and RunStore(rnnlab_home / "runs").list() == []


def test_an_upload_whose_job_cannot_start_is_removed_and_the_page_says_why(rnnlab_home, monkeypatch,
                                                                         tiny_imdb_archive):
    def no_process(*args, **kwargs):
        raise OSError("cannot fork: resource temporarily unavailable")

    monkeypatch.setattr(lifecycle, "launch", no_process)
    at = upload_and_install(overview(), tiny_imdb_archive.read_bytes())

    assert "Could not start the install: cannot fork" in messages(at)
    assert leftovers() == []


def queue_a_download_elsewhere(rnnlab_home: Path, pid: int):
    """What another browser tab does meanwhile: a download run, queued, owned by the live process ``pid``."""
    store = RunStore(rnnlab_home / "runs")
    other = store.create(DataJobConfig(action="download"), kind="data", label="data-download")
    lifecycle.claim(other, ProcessId.of(pid))
    return store, other


def test_a_second_install_while_one_is_queued_is_refused_with_a_message(rnnlab_home, sleeper, tiny_imdb_archive):
    at = overview()
    at.get("file_uploader")[0].upload("aclImdb_v1.tar.gz", tiny_imdb_archive.read_bytes(), "application/gzip")
    at.run()
    store, other = queue_a_download_elsewhere(rnnlab_home, sleeper)

    at.button(key="install_upload").click().run()

    assert not at.exception and f"already queued (run `{other.id}`)" in messages(at)
    assert at.button(key="install_upload").proto.disabled
    assert [r.id for r in store.list()] == [other.id] and leftovers() == []


def test_an_install_clicked_after_this_tabs_job_ended_but_while_another_is_queued_is_refused(
        rnnlab_home, sleeper, tiny_imdb_archive):
    at = overview()
    mine = RunStore(rnnlab_home / "runs").create(DataJobConfig(action="download"), kind="data")
    mine.update_status(state="failed", error="network down")
    at.session_state["overview.data_job"] = mine.id  # this tab follows its own ended job: the button is enabled
    at.get("file_uploader")[0].upload("aclImdb_v1.tar.gz", tiny_imdb_archive.read_bytes(), "application/gzip")
    at.run()
    assert not at.button(key="install_upload").proto.disabled
    store, other = queue_a_download_elsewhere(rnnlab_home, sleeper)

    at.button(key="install_upload").click().run()

    assert not at.exception and "Nothing was started" in messages(at) and other.id in messages(at)
    assert {r.id for r in store.list()} == {mine.id, other.id} and leftovers() == []


def test_copying_a_path_that_is_not_an_archive_from_the_overview_queues_nothing(rnnlab_home, tmp_path):
    bogus = tmp_path / "aclImdb_v1.tar.gz"
    bogus.write_text("not an archive")
    at = overview()
    at.text_input(key="path_input").input(str(bogus)).run()
    at.button(key="copy_path").click().run()

    assert not at.exception and "not gzip-compressed" in messages(at)
    assert RunStore(rnnlab_home / "runs").list() == [] and bogus.exists()
