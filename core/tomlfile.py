"""Short TOML files: read with bounds, and values written back as TOML. Sweep specs and config files use it.

What it is: :func:`read_toml_file` reads a regular file of at most :data:`MAX_TOML_BYTES` (never a FIFO, a device
or a file of ``/proc``); :func:`parse_toml` parses TOML text with its nesting bounded before :mod:`tomllib`
recurses; every failure of either is one :class:`TomlError` line. :func:`toml_value` writes one value (a bool,
an int, a float, a string, or a tuple or list of them) as TOML reads it back: Python ships a TOML reader but no
writer, and a config's values need no more than these few lines.

What it is not: what the keys mean (:mod:`core.sweep.spec`, :mod:`core.config_file`). Standard library only.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

MAX_TOML_BYTES = 64 * 1024
MAX_TOML_DEPTH = 8  # arrays and inline tables open at once (a sweep spec needs 2: [vary] and a range's table)
# what a TOML basic string must escape: the quote, the backslash and the control characters but tab
ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


class TomlError(ValueError):
    """A TOML file or text that cannot be read; the message says why in one line."""


def read_toml_file(path: str | os.PathLike[str], what: str = "spec") -> str:
    """The text of a TOML file: a regular file of at most :data:`MAX_TOML_BYTES`, read with that bound.

    A FIFO, a device (``/dev/zero``, even behind a symlink) or a file of ``/proc`` or ``/sys`` is
    refused before it is opened; it is opened without blocking (a FIFO swapped in after the check
    cannot hang the read) and checked again once open. ``what`` names the file in messages ("spec",
    "config file"). Raises :class:`TomlError` naming the path.
    """
    path, short = Path(path), f"a {what} is a short TOML file"
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise TomlError(f"{path}: not a regular file (a folder, FIFO or device); {short}")
        if Path(os.path.realpath(path)).parts[1:2] in (("proc",), ("sys",)):
            raise TomlError(f"{path}: a file of /proc or /sys, not a {what}")
        if st.st_size > MAX_TOML_BYTES:
            raise TomlError(f"{path}: {st.st_size:,} bytes, over {MAX_TOML_BYTES:,}; {short}")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise TomlError(f"{path}: not a regular file once opened; {short}")
            data = f.read(MAX_TOML_BYTES + 1)
    except OSError as e:
        raise TomlError(f"cannot read the {what} {path}: {e.strerror or e}") from None
    if len(data) > MAX_TOML_BYTES:
        raise TomlError(f"{path}: over {MAX_TOML_BYTES:,} bytes; {short}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TomlError(f"{path}: not UTF-8 text (byte {e.start})") from None


def parse_toml(text: str) -> dict[str, Any]:
    """The TOML document, its nesting bounded before tomllib recurses; every failure a :class:`TomlError`."""
    deep = _deepest_line(text)
    if deep is not None:
        raise TomlError(f"line {deep}: arrays and tables nested more than {MAX_TOML_DEPTH} deep")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TomlError(f"not valid TOML: {e}") from None
    except ValueError as e:  # an integer literal of more than 4,300 digits: int() refuses it inside tomllib
        raise TomlError(f"not valid TOML: {e}") from None
    except RecursionError:  # the scan above keeps this from happening; should it not, still one clear line
        raise TomlError(f"arrays and tables nested too deep (more than {MAX_TOML_DEPTH})") from None


def _deepest_line(text: str) -> int | None:
    """The line where arrays and inline tables first nest deeper than :data:`MAX_TOML_DEPTH`; None if they never do.

    tomllib parses nested arrays and inline tables by recursion, so 20,000 ``[`` end in a
    RecursionError: this scan counts the brackets and braces outside strings and comments first,
    without recursing (TOML's four kinds of string: basic and multi-line basic ones with escapes,
    literal and multi-line literal ones without).
    """
    if text.count("[") + text.count("{") <= MAX_TOML_DEPTH:  # cannot nest deeper: nothing to scan
        return None
    depth, line, i, n = 0, 1, 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            i, line = _skip_string(text, i, line)
            continue
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "\n":
            line += 1
        elif c in "[{":
            depth += 1
            if depth > MAX_TOML_DEPTH:
                return line
        elif c in "]}":
            depth -= 1
        i += 1
    return None


def _skip_string(text: str, i: int, line: int) -> tuple[int, int]:
    """The index just past the TOML string starting at ``text[i]``, and the line it ends on."""
    quote = text[i]
    multi = text.startswith(quote * 3, i)
    i += 3 if multi else 1
    while i < len(text):
        c = text[i]
        if c == "\\" and quote == '"':  # an escape: the next character is part of the string
            line += text[i + 1:i + 2] == "\n"
            i += 2
            continue
        if c == "\n":
            if not multi:  # a one-line string ends here (tomllib refuses it)
                return i, line
            line += 1
        elif c == quote and not multi:
            return i + 1, line
        elif c == quote and text.startswith(quote * 3, i):
            run = len(text[i:i + 5]) - len(text[i:i + 5].lstrip(quote))  # up to 2 quotes end the content first
            return i + run, line
        i += 1
    return i, line


def toml_value(value: Any) -> str:
    """``value`` as TOML writes it: ``true``, ``3``, ``0.001``, ``"a \\"b\\""``, ``[1, 2]``.

    A float is written by ``repr``, whose forms (``1e-05``, ``inf``, ``nan``) are TOML's and read back to
    the same float. A string is a basic string: the quote, the backslash and the control characters but
    tab escaped (C1's too, which a terminal acts on), everything else as it is (the file is UTF-8). TOML
    has no null: the caller decides what stands for None.
    """
    if isinstance(value, bool):  # before int: True is an int to Python
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):  # an undecodable byte of a file name, kept by Python
            raise ValueError(f"{value!r}: a lone surrogate, which no TOML (nor UTF-8) file can hold")
        return '"' + "".join(ESCAPES.get(c) or (f"\\u{ord(c):04x}" if _control(c) else c) for c in value) + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__} {value!r}")


def _control(c: str) -> bool:
    """A control character: C0 but tab (TOML may not hold them as they are), DEL, and C1 (a terminal acts on them)."""
    return (c < " " and c != "\t") or "\x7f" <= c <= "\x9f"
