"""Peak memory and time of the readers of dataset sources, sweep specs and word2vec files, against crafted inputs.

Each case runs in a fresh Python process (``--child``) that imports the reader, reads one input
with its own empty ``RNNLAB_HOME`` and reports its peak resident memory (``VmHWM``, imports
included, as :data:`core.data.imdb.MEMORY_BUDGET_BYTES` counts it), the time and the outcome,
under an address-space cap (a reader that allocates gigabytes fails with a MemoryError rather
than swapping) and a time limit. The inputs are built here in a temporary folder: the bombs are
small on disk (a Parquet dictionary page, ZSTD-compressed Arrow buffers); the one-line CSV and
JSONL files are written whole (500 MiB each, removed at the end).

What it is not: a test (``tests/test_faults_readers.py`` pins the refusals); the figures are printed.

    python bench/bench_readers_memory.py             # every case
    python bench/bench_readers_memory.py --skip-large  # without the 500 MiB files and the 200 MB words
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_archive_memory import peak_rss  # noqa: E402 - one measure of peak memory for both benches

from rnnlab.core.data import imdb  # noqa: E402

MiB = 2**20
AS_CAP = 4 * 2**30  # address space of a child: imports map ~1.6 GB; a regression fails here instead of swapping
TIMEOUT_S = 300


# -------------------------------------------------------------------------------- building inputs
def two_classes(n: int = 4) -> list[tuple[str, str]]:
    return [(f"{cls} text number {i}", cls) for cls in ("pos", "neg") for i in range(n)]


def parquet_dictionary_bomb(folder: Path) -> Path:
    """200 rows pointing at one 8 MiB value of a ZSTD-compressed dictionary page: 1.6 GB of text in ~1 KB."""
    text = pa.DictionaryArray.from_arrays(pa.array([0] * 200, pa.int32()), pa.array(["a" * (8 * MiB)]))
    path = folder / "dictionary.parquet"
    pq.write_table(pa.table({"text": text, "label": pa.array(["x", "y"] * 100)}), path, compression="zstd")
    return path


def parquet_plain_bomb(folder: Path, n: int = 70) -> Path:
    """``n`` plain 8 MiB texts, ZSTD-compressed, one row group each: the metadata says ``n`` x 8 MiB."""
    one = pa.table({"text": pa.array(["b" * (8 * MiB)]), "label": pa.array(["x"])})
    path = folder / "plain.parquet"
    with pq.ParquetWriter(path, one.schema, compression="zstd", compression_level=1, use_dictionary=False,
                          write_statistics=False) as w:
        for _ in range(n):
            w.write_table(one)
    return path


def hf_compressed_bomb(folder: Path) -> Path:
    """A folder saved by ``datasets`` whose train split's Arrow file holds 100 ZSTD-compressed 8 MiB texts."""
    import datasets

    path = folder / "hf"
    parts = {split: datasets.Dataset.from_dict({"text": [t for t, _ in rows], "label": [y for _, y in rows]})
             for split, rows in (("train", two_classes()), ("test", two_classes(1)))}
    datasets.DatasetDict(parts).save_to_disk(str(path))
    [arrow] = (path / "train").glob("*.arrow")
    schema = pa.schema([("text", pa.string()), ("label", pa.string())])
    batch = pa.record_batch([pa.array(["a" * (8 * MiB)]), pa.array(["pos"])], schema=schema)
    with pa.OSFile(str(arrow), "wb") as f, pa.ipc.new_stream(f, schema, options=pa.ipc.IpcWriteOptions(
            compression="zstd")) as w:
        for _ in range(100):
            w.write_batch(batch)
    return path


def one_line(folder: Path, name: str, head: bytes, tail: bytes, size: int = 500 * MiB) -> Path:
    """``head``, ``size`` bytes of one word's letters, ``tail``: a file of one (long) line."""
    path = folder / name
    chunk = b"a" * MiB
    with path.open("wb") as f:
        f.write(head)
        for _ in range(size // MiB):
            f.write(chunk)
        f.write(tail)
    return path


def csv_of_long_text(folder: Path) -> Path:
    """Eight short texts and one of 240 KB (over the csv module's default field limit of 131,072 characters)."""
    path = folder / "long-text.csv"
    rows = [("word " * 48_000, "pos"), *two_classes()]
    path.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows), encoding="utf-8")
    return path


def jsonl_deep_label(folder: Path) -> Path:
    path = folder / "deep.jsonl"
    rows = [json.dumps({"text": t, "label": y}) for t, y in two_classes()]
    rows.append('{"text": "a text", "label": ' + "[" * 100_000 + "]" * 100_000 + "}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def spec_link_to_dev_zero(folder: Path) -> Path:
    path = folder / "zeros.toml"
    path.symlink_to("/dev/zero")
    return path


def spec_fifo(folder: Path) -> Path:
    path = folder / "fifo.toml"
    os.mkfifo(path)
    return path


def spec_deep(folder: Path) -> Path:
    path = folder / "deep.toml"
    path.write_text('name = "deep"\n[vary]\nhidden_size = ' + "[" * 20_000 + "]" * 20_000 + "\n", encoding="utf-8")
    return path


def word2vec_long_word(folder: Path, size: int) -> Path:
    """A word2vec text file whose one word is ``size`` bytes long."""
    return one_line(folder, f"word-{size // MiB}MB.txt", b"1 1\n", b" 0.5\n", size)


def word2vec_binary_long_word(folder: Path, size: int) -> Path:
    """A word2vec binary file of two words, the second ``size`` bytes long."""
    vector = struct.pack("<2f", 1.0, 2.0)
    return one_line(folder, f"word-{size // MiB}MB.bin", b"2 2\nok " + vector + b"\n", b" " + vector + b"\n", size)


# -------------------------------------------------------------------------------- reading, in a child
def read_source(path: str) -> str:
    from rnnlab.core.data import sources

    entry = sources.add_dataset(path, "bench", text_col="text", label_col="label")
    return f"added: {entry['total']:,} rows"


def read_spec(path: str) -> str:
    from rnnlab.core.__main__ import main

    rc = main(["sweep", path, "--dry-run"])  # the command line's own path: errors print as `error: ...`
    return f"sweep --dry-run: exit status {rc}"


def read_vectors(path: str) -> str:
    from rnnlab.core.models.word2vec import import_word2vec

    return f"imported: {len(import_word2vec(path)):,} words"


READERS: dict[str, Callable[[str], str]] = {"source": read_source, "spec": read_spec, "vectors": read_vectors}
# what each reader imports on its first call: imported before the clock starts (the peak counts them)
IMPORTS = {"source": ("rnnlab.core.data.sources", "datasets"),
           "spec": ("rnnlab.core.__main__", "rnnlab.core.sweep.job"),
           "vectors": ("rnnlab.core.models.word2vec", "gensim.models")}


def child(kind: str, path: str) -> None:
    """Read ``path`` with the ``kind`` reader and print one JSON line: outcome, seconds, peak RSS."""
    import importlib

    for module in IMPORTS[kind]:
        importlib.import_module(module)
    start = time.perf_counter()
    try:
        outcome = READERS[kind](path)
    except (imdb.DataError, ValueError, OSError) as e:  # SpecError and Word2VecFormatError are ValueErrors
        outcome = f"refused: {type(e).__name__}: {e}"
    seconds = time.perf_counter() - start
    print(json.dumps({"outcome": outcome, "seconds": seconds, "peak": peak_rss()}))


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_CAP, AS_CAP))


def measure(kind: str, path: Path, home: Path) -> dict:
    env = {**os.environ, "RNNLAB_HOME": str(home)}
    env.pop(imdb.ENV_VAR, None)
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S, preexec_fn=_cap)
    except subprocess.TimeoutExpired:
        return {"outcome": f"still running after {TIMEOUT_S} s: stopped", "seconds": TIMEOUT_S, "peak": 0}
    if proc.returncode != 0:
        return {"outcome": f"crashed ({proc.returncode}): {proc.stderr.strip()[-300:]}", "seconds": 0.0, "peak": 0}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    printed = proc.stderr.strip().splitlines()  # the command line prints its refusal as `error: ...`
    if printed and printed[-1].startswith("error:"):
        result["outcome"] += f" ({printed[-1]})"
    return result


def baseline(kind: str, home: Path, folder: Path) -> int:
    """Peak RSS of a process that imports the ``kind`` reader and reads a trivial input."""
    tiny = folder / "tiny.csv"
    tiny.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in two_classes()), encoding="utf-8")
    return measure(kind, tiny, home)["peak"]


def cases(folder: Path, skip_large: bool) -> list[tuple[str, str, Callable[[], Path]]]:
    """(what, reader kind, builder) of every case, in the order of the table."""
    out: list[tuple[str, str, Callable[[], Path]]] = [
        ("Parquet: 200 x 8 MiB behind one dictionary value (zstd)", "source",
         lambda: parquet_dictionary_bomb(folder)),
        ("Parquet: 70 plain 8 MiB texts (zstd), metadata says 560 MiB", "source", lambda: parquet_plain_bomb(folder)),
        ("HF folder: 100 x 8 MiB in ZSTD Arrow buffers", "source", lambda: hf_compressed_bomb(folder)),
    ]
    if not skip_large:
        out += [
            ("CSV: one line of 500 MiB", "source",
             lambda: one_line(folder, "one-line.csv", b"text,label\n", b",x\n")),
            ("JSONL: one line of 500 MiB", "source",
             lambda: one_line(folder, "one-line.jsonl", b'{"label": "x", "text": "', b'"}\n')),
        ]
    out += [
        ("CSV: a text of 240 KB (accepted)", "source", lambda: csv_of_long_text(folder)),
        ("JSONL: a label nested 100,000 deep", "source", lambda: jsonl_deep_label(folder)),
        ("sweep spec: a symlink to /dev/zero", "spec", lambda: spec_link_to_dev_zero(folder)),
        ("sweep spec: a FIFO nobody writes to", "spec", lambda: spec_fifo(folder)),
        ("sweep spec: arrays nested 20,000 deep", "spec", lambda: spec_deep(folder)),
    ]
    for size in (20, 60, 120, 200) if not skip_large else (20,):
        out.append((f"word2vec text file: one word of {size} MB", "vectors",
                    lambda size=size: word2vec_long_word(folder, size * MiB)))
    size = 20 if skip_large else 200
    out.append((f"word2vec binary file: a second word of {size} MB", "vectors",
                lambda: word2vec_binary_long_word(folder, size * MiB)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--skip-large", action="store_true", help="without the 500 MiB files and the long words")
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    budget = imdb.MEMORY_BUDGET_BYTES
    with tempfile.TemporaryDirectory(prefix="bench-readers-") as tmp:
        folder = Path(tmp)
        base = {kind: baseline(kind, folder / f"home-base-{kind}", folder) for kind in READERS}
        print(f"memory budget (MEMORY_BUDGET_BYTES): {budget / MiB:.0f} MiB peak RSS; imports and a trivial read: "
              + ", ".join(f"{kind} {peak / MiB:.0f} MiB" for kind, peak in base.items()) + "\n")
        print(f"{'case':<62} {'on disk':>9} {'peak MiB':>9} {'/budget':>8} {'seconds':>8}  outcome")
        worst = 0.0
        for i, (name, kind, build) in enumerate(cases(folder, args.skip_large)):
            path = build()
            disk = path.lstat().st_size if not path.is_dir() else sum(p.stat().st_size for p in path.rglob("*"))
            r = measure(kind, path, folder / f"home{i}")
            ratio = r["peak"] / budget
            worst = max(worst, ratio)
            shown = f"{disk / MiB:.1f} MiB" if disk >= MiB else f"{disk / 1024:.1f} KiB"
            print(f"{name:<62} {shown:>9} {r['peak'] / MiB:9.0f} {ratio:8.2f} {r['seconds']:8.2f}  "
                  f"{r['outcome'][:200]}", flush=True)
            if path.is_file() and not path.is_symlink() and disk > 16 * MiB:
                path.unlink()  # the 500 MiB files: one at a time on disk
    print(f"\nworst peak / budget: {worst:.2f} ({'within' if worst <= 1 else 'OVER'} the budget)")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
