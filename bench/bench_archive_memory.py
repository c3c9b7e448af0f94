"""Peak memory and time of reading IMDB sources, the official archive and crafted bombs, against the budget.

Each case runs in a fresh Python process (``--child``) that imports the reader, loads one source
with its own empty ``RNNLAB_HOME`` and reports its peak resident memory (``ru_maxrss``, imports
included, as :data:`core.data.imdb.MEMORY_BUDGET_BYTES` counts it), the time and the outcome. The
official archive comes from ``$RNNLAB_IMDB``; it is read twice (parse, then the cache). The bombs
are built here in a temporary folder, small on disk: gzip streams concatenated member by member,
the long runs of zeros compressed once and repeated.

What it is not: a test (``tests/test_faults_data.py`` pins the refusals); the figures are printed.

    python bench/bench_archive_memory.py            # every case
    python bench/bench_archive_memory.py --skip-official
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rnnlab.core.data import imdb  # noqa: E402

MiB = 2**20


# -------------------------------------------------------------------------------- building bombs
class GzipBuilder:
    """A .tar.gz written as concatenated gzip members (which gzip readers treat as one stream)."""

    def __init__(self, path: Path) -> None:
        self.out = path.open("wb")
        self.zeros: dict[int, bytes] = {}

    def header(self, name: str, size: int, kind: bytes = tarfile.REGTYPE) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.type = size, kind
        self.out.write(gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT), compresslevel=1))

    def data(self, payload: bytes) -> None:
        self.out.write(gzip.compress(payload + b"\0" * (-len(payload) % 512), compresslevel=1))

    def zero_data(self, size: int) -> None:
        """``size`` zero bytes and the tar padding: compressed once per size, then repeated."""
        if size not in self.zeros:
            self.zeros[size] = gzip.compress(b"\0" * (size + -size % 512), compresslevel=9)
        self.out.write(self.zeros[size])

    def review(self, name: str, text: bytes) -> None:
        self.header(f"aclImdb/{name}", len(text))
        self.data(text)

    def labelled_minimum(self) -> None:
        """One review of each labelled class, so that nothing is refused for a missing class."""
        for split in ("train", "test"):
            self.review(f"{split}/pos/0_9.txt", b"a fine film")
            self.review(f"{split}/neg/0_2.txt", b"a dull film")

    def close(self) -> Path:
        self.out.write(gzip.compress(b"\0" * 1024))  # the two empty blocks that end a tar
        self.out.close()
        return Path(self.out.name)


def bomb_big_members(path: Path, n: int = 100, size: int = 60 * MiB) -> Path:
    """The reported bomb: ``n`` reviews of ``size`` zero bytes each (6 GB from ~6 MB)."""
    b = GzipBuilder(path)
    b.labelled_minimum()
    for i in range(n):
        b.header(f"aclImdb/train/unsup/{1000 + i}_0.txt", size)
        b.zero_data(size)
    return b.close()


def bomb_many_reviews(path: Path, n: int, size: int = 7 * MiB) -> Path:
    """``n`` reviews just under the per-review cap: refused at MAX_REVIEWS_BYTES (or accepted, if under it)."""
    b = GzipBuilder(path)
    b.labelled_minimum()
    for i in range(n):
        b.header(f"aclImdb/train/unsup/{1000 + i}_0.txt", size)
        b.zero_data(size)
    return b.close()


def bomb_padding(path: Path, size: int = 4 * 2**30) -> Path:
    """One non-review member of ``size`` zeros (never read into memory): refused at MAX_ARCHIVE_BYTES."""
    b = GzipBuilder(path)
    b.labelled_minimum()
    chunk = 256 * MiB
    b.header("aclImdb/train/unsupBow.feat", size)
    for _ in range(size // chunk):
        b.zero_data(chunk)
    return b.close()


def bomb_members(path: Path, n: int) -> Path:
    """``n`` empty files outside the review folders: refused at MAX_MEMBERS."""
    b = GzipBuilder(path)
    b.labelled_minimum()
    blocks = bytearray()
    for i in range(n):
        info = tarfile.TarInfo(f"aclImdb/extra/{i}")
        blocks += info.tobuf(format=tarfile.USTAR_FORMAT)
    b.out.write(gzip.compress(bytes(blocks), compresslevel=1))
    return b.close()


# -------------------------------------------------------------------------------- measuring
def peak_rss() -> int:
    """This process's peak resident memory in bytes.

    ``VmHWM`` where Linux has it: unlike ``ru_maxrss`` it starts afresh at ``exec``, so a child
    does not inherit the peak of the parent it was forked from (here: the bomb builder).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def child(source: str) -> None:
    """Load ``source`` in this process and print one JSON line: outcome, seconds, peak RSS."""
    start = time.perf_counter()
    try:
        df = imdb.load_imdb(source)
        outcome = f"loaded {len(df):,} reviews"
    except imdb.DataError as e:
        outcome = f"refused: {type(e).__name__}: {str(e)[:160]}"
    seconds = time.perf_counter() - start
    print(json.dumps({"outcome": outcome, "seconds": seconds, "peak": peak_rss()}))


def measure(source: Path | str, home: Path) -> dict:
    env = {**os.environ, "RNNLAB_HOME": str(home)}
    env.pop(imdb.ENV_VAR, None)
    proc = subprocess.run([sys.executable, __file__, "--child", str(source)], env=env, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        return {"outcome": f"crashed ({proc.returncode}): {proc.stderr.strip()[-300:]}", "seconds": 0.0, "peak": 0}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def baseline(home: Path) -> int:
    """Peak RSS of a process that only imports the reader (what every case pays before reading)."""
    out = subprocess.run([sys.executable, __file__, "--baseline"], env={**os.environ, "RNNLAB_HOME": str(home)},
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--skip-official", action="store_true", help="only the crafted bombs")
    args = ap.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    if args.baseline:
        print(peak_rss())
        return 0

    budget = imdb.MEMORY_BUDGET_BYTES
    official = os.environ.get(imdb.ENV_VAR, "")
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        tmp_path = Path(tmp)
        cases: list[tuple[str, Path | str, Path]] = []
        if official and not args.skip_official:
            home = tmp_path / "home-official"
            cases += [("official archive, parsed", official, home),
                      ("official archive, from the cache", official, home)]
        elif not args.skip_official:
            print(f"(${imdb.ENV_VAR} is not set: the official archive is skipped)")
        near = (imdb.MAX_REVIEWS_BYTES - MiB) // (7 * MiB)  # as many 7 MiB reviews as the total cap allows
        over = imdb.MAX_REVIEWS_BYTES // (7 * MiB) + 4
        builds = [
            ("bomb: 100 reviews of 60 MiB", bomb_big_members, {}),
            (f"bomb: {over} reviews of 7 MiB", bomb_many_reviews, {"n": over}),
            (f"near the limits: {near} reviews of 7 MiB (accepted)", bomb_many_reviews, {"n": near}),
            ("bomb: a 4 GiB non-review member", bomb_padding, {}),
            (f"bomb: {imdb.MAX_MEMBERS + 1000:,} members", bomb_members, {"n": imdb.MAX_MEMBERS + 1000}),
        ]
        for i, (name, build, kw) in enumerate(builds):
            path = build(tmp_path / f"bomb{i}.tar.gz", **kw)
            cases.append((f"{name} ({path.stat().st_size / MiB:.1f} MiB on disk)", path, tmp_path / f"home{i}"))

        base = baseline(tmp_path / "home-base")
        print(f"memory budget (MEMORY_BUDGET_BYTES): {budget / MiB:.0f} MiB peak RSS; "
              f"imports alone: {base / MiB:.0f} MiB\n")
        print(f"{'case':<66} {'peak MiB':>9} {'/budget':>8} {'seconds':>8}  outcome")
        worst = 0.0
        for name, source, home in cases:
            r = measure(source, home)
            ratio = r["peak"] / budget
            worst = max(worst, ratio)
            print(f"{name:<66} {r['peak'] / MiB:9.0f} {ratio:8.2f} {r['seconds']:8.2f}  {r['outcome']}")
    print(f"\nworst peak / budget: {worst:.2f} ({'within' if worst <= 1 else 'OVER'} the budget)")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
