"""Atomic file writes: write to a temporary name in the same folder, then rename into place.

Other processes (the dashboard, a second trainer) read run files while they are written; a
reader sees either the old file or the new one, never half of one. A writer killed with -9 leaves
its temporary behind: :func:`temporaries` finds exactly the names :func:`atomic_path` makes, so
whoever owns the folder next can remove them and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# what atomic_path names its temporaries: "." + the target's name + "." + mkstemp's 8 random characters + ".tmp"
TEMPORARY = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp makes the file 0600; a run's files are as readable as any file the user writes
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def temporaries(folder: str | os.PathLike) -> list[tuple[Path, str]]:
    """The temporaries :func:`atomic_path` left in ``folder`` (not below it): ``(path, target file name)`` each.

    A temporary outlives its write only when the writer was killed mid-write; any other file, a
    ``.tmp`` of another program's making included, does not match.
    """
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    found = []
    for name in names:
        m = TEMPORARY.match(name)
        path = Path(folder) / name
        if m and path.is_file() and not path.is_symlink():
            found.append((path, m.group("target")))
    return found


def remove_temporaries(folder: str | os.PathLike, *, shared: dict[str, float] | None = None) -> list[Path]:
    """Remove the temporaries of interrupted writes in ``folder``; returns the paths removed.

    For the caller that owns the folder: no write of its own is under way. ``shared`` names files
    that other processes may be writing at this moment (target name -> seconds): their temporaries
    go only once older than that, so a live writer never loses its temporary under its feet.
    """
    removed = []
    now = time.time()
    for path, target in temporaries(folder):
        try:
            if target in (shared or {}) and now - path.stat().st_mtime < shared[target]:
                continue
            path.unlink()
        except OSError:  # gone meanwhile, or not ours to remove: left as it is
            continue
        removed.append(path)
    return removed


def _umask() -> int:
    """The process's umask, read without changing it (Linux); 0o022 where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True))
