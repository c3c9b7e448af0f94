"""Readers that allocate before they check, and what a file can smuggle in: one test per case.

Dataset sources (CSV, JSONL, Parquet, Hugging Face folders, class folders), sweep specs and
word2vec files. Each bomb is small on disk (a sparse file, a dictionary page, ZSTD-compressed Arrow
buffers) and is read in a fresh process under an address-space cap and a time limit, so that a
regression fails fast instead of swapping or hanging this machine; its peak resident memory (the
imports included) must stay within :data:`core.data.imdb.MEMORY_BUDGET_BYTES`.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from rnnlab.core.data import imdb, sources
from rnnlab.core.sweep.spec import SpecError, parse_spec, read_spec_file

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20
AS_CAP = 5 * 2**29  # 2.5 GiB of address space: the imports map ~1.6 GB; a read that allocates gigabytes fails
BUDGET = imdb.MEMORY_BUDGET_BYTES

needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc")

# A child process: its outcome, its peak resident memory (VmHWM, imports included) and its seconds, as JSON.
PRELUDE = """
import json, sys, time
def report(outcome, start):
    hwm = [int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]
    print(json.dumps({"outcome": outcome, "peak": hwm, "seconds": time.perf_counter() - start}))
"""
ADD_DATASET = PRELUDE + """
from rnnlab.core.data import sources
start = time.perf_counter()
try:
    sources.add_dataset(sys.argv[1], "bomb", text_col="text", label_col="label")
    outcome = "added"
except sources.DataError as e:
    outcome = f"{type(e).__name__}: {e}"
report(outcome, start)
"""
IMPORT_VECTORS = PRELUDE + """
from rnnlab.core.models.word2vec import Word2VecFormatError, import_word2vec
start = time.perf_counter()
try:
    import_word2vec(sys.argv[1])
    outcome = "imported"
except Word2VecFormatError as e:
    outcome = f"{type(e).__name__}: {e}"
report(outcome, start)
"""


def _cap_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_CAP, AS_CAP))


def bounded(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (a Python) from the repository under the address-space cap and a time limit."""
    return subprocess.run(argv, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=timeout,
                           preexec_fn=_cap_address_space)


def child(code: str, *args: str, timeout: float = 60) -> dict:
    """``code`` (a PRELUDE script) in a fresh bounded process: what it reported."""
    out = bounded([sys.executable, "-c", code, *args], timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("text", "label"))
        w.writerows(rows)
    return path


def labelled(n: int = 4) -> list[tuple[str, str]]:
    """``n`` short texts of each of two classes: enough for the seeded train/test split."""
    return [(f"{cls} text number {i}", cls) for cls in ("pos", "neg") for i in range(n)]


def sparse(path: Path, head: bytes, size: int) -> Path:
    """``head`` and then zero bytes up to ``size``: a file of that size that takes no room on disk."""
    with path.open("wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def save_hf(path: Path, rows: dict[str, list[tuple[str, str]]]) -> Path:
    datasets = pytest.importorskip("datasets", reason="the optional Hugging Face `datasets` package is not installed")
    parts = {split: datasets.Dataset.from_dict({"text": [t for t, _ in r], "label": [y for _, y in r]})
             for split, r in rows.items()}
    datasets.DatasetDict(parts).save_to_disk(str(path))
    return path


def leftovers(home: Path) -> list[Path]:
    """What a refused source must not leave: a cache, a registry entry."""
    return [p for p in home.rglob("*") if p.is_file()] if home.exists() else []


# -------------------------------------------------------------------------------- dataset sources: bombs
@needs_proc
def test_a_1kb_parquet_of_200_dictionary_encoded_8mib_texts_is_refused_within_the_memory_budget(rnnlab_home,
                                                                                                 tmp_path):
    text = pa.DictionaryArray.from_arrays(pa.array([0] * 200, pa.int32()), pa.array(["a" * (8 * MiB)]))
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"text": text, "label": pa.array(["x", "y"] * 100)}), path, compression="zstd")
    assert path.stat().st_size < 4096  # 1.6 GB of text once decoded

    r = child(ADD_DATASET, str(path))

    assert r["outcome"].startswith("OverLimit") and "MAX_SOURCE_BYTES" in r["outcome"], r["outcome"]
    assert r["peak"] < BUDGET / 2 and r["seconds"] < 5, r
    assert leftovers(rnnlab_home) == []


@needs_proc
def test_a_parquet_whose_metadata_declares_560mib_of_zstd_text_is_refused_unread(rnnlab_home, tmp_path):
    path = tmp_path / "plain.parquet"
    one = pa.table({"text": pa.array(["b" * (8 * MiB)]), "label": pa.array(["x"])})
    with pq.ParquetWriter(path, one.schema, compression="zstd", compression_level=1, use_dictionary=False,
                          write_statistics=False) as w:
        for _ in range(70):  # one row group per text: the writer holds 8 MiB, the file says 560 MiB
            w.write_table(one)
    assert path.stat().st_size < MiB

    r = child(ADD_DATASET, str(path))

    assert r["outcome"].startswith("OverLimit") and "metadata says" in r["outcome"], r["outcome"]
    assert r["peak"] < BUDGET / 2 and r["seconds"] < 5, r


@needs_proc
def test_a_hugging_face_folder_whose_77kb_arrow_file_holds_800mb_of_text_is_refused_unread(rnnlab_home, tmp_path):
    path = save_hf(tmp_path / "hf", {"train": labelled(), "test": labelled(1)})
    [arrow] = (path / "train").glob("*.arrow")
    schema = pa.schema([("text", pa.string()), ("label", pa.string())])
    batch = pa.record_batch([pa.array(["a" * (8 * MiB)]), pa.array(["pos"])], schema=schema)
    zstd = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.OSFile(str(arrow), "wb") as f, pa.ipc.new_stream(f, schema, options=zstd) as w:
        for _ in range(100):  # 100 batches of one 8 MiB text, each a few hundred bytes on disk
            w.write_batch(batch)
    assert arrow.stat().st_size < 200 * 1024

    r = child(ADD_DATASET, str(path))

    assert r["outcome"].startswith("OverLimit") and "once decompressed" in r["outcome"], r["outcome"]
    assert str(arrow) in r["outcome"] and r["peak"] < BUDGET / 2 and r["seconds"] < 10, r


@needs_proc
def test_a_500mib_one_line_csv_is_refused_from_a_bounded_read(rnnlab_home, tmp_path):
    path = sparse(tmp_path / "one-line.csv", b"text,label\n", 500 * MiB)

    r = child(ADD_DATASET, str(path))

    assert r["outcome"].startswith("OverLimit") and "line 2 is over" in r["outcome"], r["outcome"]
    assert "MAX_LINE_BYTES" in r["outcome"] and r["peak"] < BUDGET / 2 and r["seconds"] < 5, r


@needs_proc
def test_a_500mib_one_line_jsonl_is_refused_from_a_bounded_read(rnnlab_home, tmp_path):
    path = sparse(tmp_path / "one-line.jsonl", b'{"label": "x", "text": "', 500 * MiB)

    r = child(ADD_DATASET, str(path))

    assert r["outcome"].startswith("OverLimit") and "line 1 is over" in r["outcome"], r["outcome"]
    assert r["peak"] < BUDGET / 2 and r["seconds"] < 5, r


def test_a_csv_source_that_is_a_fifo_nobody_writes_to_is_refused_without_waiting(rnnlab_home, tmp_path):
    fifo = tmp_path / "stream.csv"
    os.mkfifo(fifo)

    r = child(ADD_DATASET, str(fifo), timeout=60)

    assert r["outcome"] == (f"SourceError: {fifo} is not a regular file (a folder, FIFO or device): give a file or a "
                            "folder of class folders"), r["outcome"]


# -------------------------------------------------------------------------------- dataset sources: the text cap
def test_a_csv_text_of_240kb_is_read_whole(rnnlab_home, tmp_path):
    long = "word " * 48_000  # 240 KB: over the csv module's default field limit of 131,072 characters
    path = write_csv(tmp_path / "long.csv", [(long, "pos"), *labelled()])

    sources.add_dataset(path, "long")

    texts = sources.load_dataset("long")["text"]
    assert long in set(texts) and len(texts) == 9


def test_a_csv_field_over_the_text_cap_is_refused_naming_the_line(rnnlab_home, tmp_path):
    path = write_csv(tmp_path / "huge-field.csv", [*labelled(), ("x" * (sources.MAX_TEXT_BYTES + 1), "pos")])

    with pytest.raises(sources.OverLimit, match=r"huge-field.csv, line 10: a field is over 8,388,608 characters"):
        sources.add_dataset(path, "huge")


def test_a_jsonl_label_nested_100000_deep_is_refused_naming_the_line(rnnlab_home, tmp_path):
    rows = [json.dumps({"text": t, "label": y}) for t, y in labelled()]
    rows.append('{"text": "a text", "label": ' + "[" * 100_000 + "]" * 100_000 + "}")
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    with pytest.raises(sources.SourceError, match=r"deep.jsonl, line 9: arrays and objects nested more than 32 deep"):
        sources.add_dataset(path, "deep")


def test_brackets_inside_jsonl_strings_are_text_not_nesting(rnnlab_home, tmp_path):
    rows = [json.dumps({"text": "[[{{" * 40 + t, "label": y}) for t, y in labelled()]
    path = tmp_path / "brackets.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    assert sources.add_dataset(path, "brackets")["total"] == 8


# -------------------------------------------------------------------------------- dataset sources: smuggling
def test_a_hugging_face_state_naming_a_file_outside_the_folder_is_refused(rnnlab_home, tmp_path):
    outside = save_hf(tmp_path / "outside", {"train": [("private words", "secret")] * 4, "test": labelled(1)})
    path = save_hf(tmp_path / "data" / "hf", {"train": labelled(), "test": labelled(1)})
    state = json.loads((path / "train" / "state.json").read_text())
    [private] = (outside / "train").glob("*.arrow")
    state["_data_files"] = [{"filename": os.path.relpath(private, path / "train")}]  # ../../../outside/train/...
    (path / "train" / "state.json").write_text(json.dumps(state))

    with pytest.raises(sources.SourceError, match=r"state.json names '\.\./.*', which leads outside"):
        sources.add_dataset(path, "hf")
    assert leftovers(rnnlab_home) == []


def test_a_class_folder_text_linked_outside_the_folder_is_refused(rnnlab_home, tmp_path):
    root = tmp_path / "reviews"
    for cls in ("pos", "neg"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            (root / cls / f"{i}.txt").write_text(f"{cls} words {i}", encoding="utf-8")
    secret = tmp_path / "private.txt"
    secret.write_text("a private file", encoding="utf-8")
    (root / "pos" / "3.txt").symlink_to(secret)

    with pytest.raises(sources.SourceError, match=r"pos/3.txt is a link to .*private.txt, outside .*reviews"):
        sources.add_dataset(root, "linked")
    assert leftovers(rnnlab_home) == []


def test_a_class_folder_text_linked_inside_the_folder_is_read(rnnlab_home, tmp_path):
    root = tmp_path / "reviews"
    for cls in ("pos", "neg"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            (root / cls / f"{i}.txt").write_text(f"{cls} words {i}", encoding="utf-8")
    (root / "pos" / "3.txt").symlink_to(root / "neg" / "0.txt")

    assert sources.add_dataset(root, "linked")["total"] == 7


# -------------------------------------------------------------------------------- leftovers of killed writers
def test_a_cache_temporary_left_by_a_killed_data_add_is_removed_at_the_next_cache_write(rnnlab_home, tmp_path):
    cache = imdb.data_dir() / "cache"
    cache.mkdir(parents=True)
    old = time.time() - 2 * imdb.STALE_TMP_S
    orphan = cache / ".dataset-a-0123456789abcdef.parquet.4242.deadbeef.tmp"  # what write_cache names its temporary
    young = cache / ".dataset-b-0123456789abcdef.parquet.4243.cafef00d.tmp"  # a write going on right now
    foreign = cache / "notes.tmp"  # not ours: never touched
    for path in (orphan, young, foreign):
        path.write_bytes(b"PAR1 half a cache")
    for path in (orphan, foreign):
        os.utime(path, (old, old))

    sources.add_dataset(write_csv(tmp_path / "small.csv", labelled()), "small")

    assert not orphan.exists() and young.exists() and foreign.exists()


def test_a_staged_upload_left_by_a_killed_upload_is_removed_at_the_next_upload(rnnlab_home, tmp_path):
    folder = sources.uploads_dir()
    folder.mkdir(parents=True)
    old = time.time() - 2 * imdb.STALE_TMP_S
    orphan, earlier = folder / ".upload-up.4242.deadbeef.csv", folder / ".upload-up.csv"  # this version's, the last
    for path in (orphan, earlier):
        path.write_bytes(b"text,label\n")
        os.utime(path, (old, old))
    content = write_csv(tmp_path / "small.csv", labelled()).read_bytes()

    sources.add_uploaded_dataset(content, "small.csv", "up")

    assert sorted(p.name for p in folder.iterdir()) == ["up.csv"]


# -------------------------------------------------------------------------------- sweep specs
def test_a_sweep_spec_linked_to_dev_zero_is_refused_unread(rnnlab_home, tmp_path):
    link = tmp_path / "zeros.toml"
    link.symlink_to("/dev/zero")

    out = bounded([sys.executable, "-m", "rnnlab.core", "sweep", str(link), "--dry-run"], timeout=60)

    assert out.returncode == 1 and out.stderr.strip() == (f"error: {link}: not a regular file (a folder, FIFO or "
                                                          "device); a spec is a short TOML file"), out.stderr[-500:]


def test_a_sweep_spec_that_is_a_fifo_nobody_writes_to_is_refused_without_waiting(rnnlab_home, tmp_path):
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)

    out = bounded([sys.executable, "-m", "rnnlab.core", "sweep", str(fifo), "--dry-run"], timeout=60)

    assert out.returncode == 1 and "spec.toml: not a regular file" in out.stderr, out.stderr[-500:]


def test_a_sweep_spec_read_from_proc_is_refused(tmp_path):
    link = tmp_path / "status.toml"
    link.symlink_to("/proc/self/status")
    with pytest.raises(SpecError, match="status.toml: a file of /proc or /sys"):
        read_spec_file(link)


def test_a_spec_nested_20000_arrays_deep_is_refused_naming_the_line():
    with pytest.raises(SpecError, match="line 3: arrays and tables nested more than 8 deep"):
        parse_spec('name = "x"\n[vary]\nhidden_size = ' + "[" * 20_000 + "]" * 20_000)


def test_brackets_in_spec_strings_and_comments_are_not_nesting():
    spec = parse_spec('name = "x"  # [[[[[[[[[[\ndescription = """[[[[[[[[[[\n{{{{{{{{{{"""\n[vary]\n'
                      "hidden_size = [8, 16]  # {{{{{{{{{{\n")
    assert spec.vary == (("hidden_size", (8, 16)),)


def test_arrays_after_a_string_ending_in_extra_quotes_are_counted_as_nesting():
    text = "'''a''''"  # the string "a'": its fourth quote is its own, not the start of another string
    with pytest.raises(SpecError, match="line 3: arrays and tables nested more than 8 deep"):
        parse_spec(f'name = "x"\n[vary]\nhidden_size = [ {text} , ' + "[" * 2000 + "]" * 2000 + " ]")


def test_a_range_with_step_5e_324_is_refused_naming_the_field():
    with pytest.raises(SpecError, match=r"vary.hidden_size: from 1 to 9 in steps of 5e-324 makes over 100 values"):
        parse_spec('name = "x"\n[vary]\nhidden_size = {start = 1, stop = 9, step = 5e-324}')


def test_a_range_starting_at_nan_is_refused_naming_the_field():
    with pytest.raises(SpecError, match=r"vary.hidden_size.start: nan is not a finite number"):
        parse_spec('name = "x"\n[vary]\nhidden_size = {start = nan, stop = 9, step = 1}')


def test_a_seeds_range_to_1e300_is_refused_naming_the_field():
    with pytest.raises(SpecError, match=r"^seeds.stop: 1e\+300 is not a finite number"):
        parse_spec('name = "x"\nseeds = {start = 0, stop = 1e300}')


def test_a_spec_integer_of_5000_digits_is_refused_as_invalid_toml():
    with pytest.raises(SpecError, match="not valid TOML: Exceeds the limit"):
        parse_spec('name = "x"\n[base]\nepochs = ' + "9" * 5000)


@pytest.mark.parametrize("typed, says", [
    ("hidden_size = {start = 1, stop = 9, step = 5e-324}", "makes over 100 values"),
    ("hidden_size = {start = nan, stop = 9, step = 1}", "vary.hidden_size.start: nan"),
    ("hidden_size = " + "[" * 20_000 + "]" * 20_000, "nested more than 8 deep"),
], ids=["step 5e-324", "start nan", "20,000 deep"])
def test_the_sweep_page_shows_a_typed_spec_it_cannot_plan_as_a_message(rnnlab_home, typed, says):
    at = AppTest.from_file(str(ROOT / "pages" / "sweep.py"), default_timeout=60).run()
    at.text_area(key="sweep_spec").set_value(f'name = "x"\n[vary]\n{typed}').run()

    assert not at.exception, [e.value for e in at.exception]
    assert any(says in e.value and e.value.startswith("The spec cannot be planned") for e in at.error)


# -------------------------------------------------------------------------------- word2vec files
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_importing_a_word2vec_file_whose_word_is_200mb_is_refused_in_a_second(tmp_path, binary):
    head = b"2 2\n" + (b"ok " + b"\x00\x00\x80?\x00\x00\x00@\n" if binary else b"ok 1.0 2.0\n")
    path = sparse(tmp_path / "vectors.w2v", head + b"w", 200 * MiB)  # the second word: 200 MB with no space

    r = child(IMPORT_VECTORS, str(path), timeout=60)

    assert r["outcome"].startswith("Word2VecFormatError") and "MAX_WORD_BYTES" in r["outcome"], r["outcome"]
    assert r["seconds"] < 2 and r["peak"] < BUDGET / 2, r


def test_importing_a_word2vec_file_whose_first_word_is_20mb_is_refused_before_its_format_is_told(tmp_path):
    path = sparse(tmp_path / "vectors.txt", b"1 1\n", 20 * MiB)

    r = child(IMPORT_VECTORS, str(path), timeout=60)

    assert r["outcome"].endswith("its first word runs past 4,096 bytes (MAX_WORD_BYTES) with no space after it: "
                                 "not a word2vec file"), r["outcome"]
    assert r["seconds"] < 2, r
