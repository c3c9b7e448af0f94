"""A sweep's spec: a base preset, the fields to vary and the seeds, read from TOML and planned into run configs.

What it is: :func:`read_spec_file` reads a spec file (a regular file, with the size cap), :func:`parse_spec`
reads a spec (TOML text, bounded in size and nesting; every range's numbers finite and its count
bounded before a value is made) into a :class:`SweepSpec`, and
:func:`plan` expands it into the Cartesian product of the varied fields times the seeds, one
:class:`~core.config.RunConfig` per point, each built by :func:`core.config.preset` and so checked
by the config's own bounds. A spec::

    name = "edge-of-chaos"
    preset = "fast"                  # seed, fast, ...: the settings every run starts from
    seeds = [0, 1, 2]                # or {start = 0, stop = 2}

    [base]                           # fields every run sets (any RunConfig field, by name)
    task = "adding"
    train_steps = 1000

    [vary]                           # the grid: a list, or a range
    cell = ["rnn", "lstm", "gru"]
    recurrent_init_radius = [0.5, 1.0, 2.0]
    seq_len = {start = 10, stop = 80, num = 4, scale = "log"}   # 10, 20, 40, 80
    hidden_size = {start = 25, stop = 100, step = 25}            # 25, 50, 75, 100

    [confirm]                        # optional second stage: the best `top` points of the grid by
    top = 2                          # validation loss (mean over the seeds above) trained again
    seeds = [1, 2]                   # with these seeds; chosen on validation data, never on test

The confirmation stage screens a large grid cheaply (one seed per point) and spends more seeds
only where they matter; :func:`plan_confirm` plans it once the grid's runs have ended.

What it is not: running anything (``core.sweep.job``), choosing where runs go (``core.sweep.executors``).
"""

from __future__ import annotations

import itertools
import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core.config import PRESETS, SEED_MAX, DataConfig, ModelConfig, RunConfig, TextConfig, TrainConfig, preset

MAX_SPEC_BYTES = 64 * 1024
MAX_RUNS = 2000  # planned runs in one sweep: far above the studies, low enough to plan in a blink
MAX_VALUES = 100  # values of one varied field
MAX_SPEC_DEPTH = 8  # arrays and inline tables open at once (a spec needs 2: [vary] and a range's table)
MAX_RANGE_NUMBER = 1e15  # a range's start, stop and step, in size: far above any field's bounds, exact as a float
NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"
# the fields a spec may set or vary: every field of a training run's config except where its data comes from
RUN_FIELDS = {f.name for cls in (DataConfig, TextConfig, ModelConfig, TrainConfig) for f in fields(cls)} - {
    "imdb_path", "seed"}


class SpecError(ValueError):
    """The spec cannot be planned; the message names the key."""


@dataclass(frozen=True)
class SweepSpec:
    name: str
    preset: str
    seeds: tuple[int, ...]
    base: tuple[tuple[str, Any], ...]  # (field, value), in the spec's order
    vary: tuple[tuple[str, tuple[Any, ...]], ...]  # (field, values), in the spec's order
    confirm_top: int = 0  # points of the grid trained again with confirm_seeds (0: no confirmation stage)
    confirm_seeds: tuple[int, ...] = ()

    @property
    def varied(self) -> list[str]:
        return [name for name, _ in self.vary]

    @property
    def points(self) -> int:
        """Points of the grid (configurations, not counting seeds)."""
        return math.prod(len(v) for _, v in self.vary)

    @property
    def confirm_size(self) -> int:
        return self.confirm_top * len(self.confirm_seeds)

    @property
    def size(self) -> int:
        """Every run the sweep trains: the grid times its seeds, and the confirmation stage."""
        return self.points * len(self.seeds) + self.confirm_size


@dataclass(frozen=True)
class Point:
    """One planned run: the varied fields' values, its seed, its full config and its stage (grid or confirm)."""

    values: tuple[tuple[str, Any], ...]
    seed: int
    cfg: RunConfig
    stage: str = "grid"

    def as_dict(self) -> dict[str, Any]:
        return {**dict(self.values), "seed": self.seed}


def _number(where: str, x: Any) -> int | float:
    """A range's start, stop or step: a finite number of at most :data:`MAX_RANGE_NUMBER` in size."""
    if not isinstance(x, int | float) or isinstance(x, bool):
        raise SpecError(f"{where}: a number, not {x!r}")
    # compared before any arithmetic: a float infinity or NaN, or an integer too large for a float, never reaches it
    if (isinstance(x, float) and not math.isfinite(x)) or abs(x) > MAX_RANGE_NUMBER:
        raise SpecError(f"{where}: {x!r} is not a finite number of at most {MAX_RANGE_NUMBER:.0e} in size")
    return x


def _range(where: str, r: dict[str, Any]) -> tuple[Any, ...]:
    """``{start, stop, step}`` (inclusive) or ``{start, stop, num[, scale = "linear" | "log"]}``."""
    unknown = set(r) - {"start", "stop", "step", "num", "scale", "values"}
    if unknown:
        raise SpecError(f"{where}: unknown keys {sorted(unknown)} (a range has start, stop and step or num)")
    if "values" in r:
        return _values(where, r["values"])
    if "start" not in r or "stop" not in r:
        raise SpecError(f"{where}: a range needs numbers start and stop")
    start, stop = _number(f"{where}.start", r["start"]), _number(f"{where}.stop", r["stop"])
    ints = isinstance(start, int) and isinstance(stop, int)
    vals = _spaced(where, r, start, stop, ints) if "num" in r else _stepped(where, r, start, stop, ints)
    return _values(where, list(dict.fromkeys(vals)))


def _spaced(where: str, r: dict[str, Any], start: int | float, stop: int | float, ints: bool) -> list[Any]:
    """``num`` values from ``start`` to ``stop``, evenly spaced on a linear or a log scale."""
    num, scale = r["num"], r.get("scale", "linear")
    if not isinstance(num, int) or isinstance(num, bool) or not 1 <= num <= MAX_VALUES:
        raise SpecError(f"{where}.num: an integer from 1 to {MAX_VALUES}")
    if scale not in ("linear", "log"):
        raise SpecError(f"{where}.scale: scale must be linear or log")
    t = [i / (num - 1) if num > 1 else 0.0 for i in range(num)]
    if scale == "log":
        if start <= 0 or stop <= 0:
            raise SpecError(f"{where}: a log range needs start and stop above 0")
        ratio = stop / start
        if math.isfinite(ratio):
            vals = [start * ratio ** x for x in t]
        else:  # 1e15 / 5e-324 overflows to infinity: go through the logarithms, which stay small
            lo, hi = math.log(start), math.log(stop)
            vals = [math.exp(lo + (hi - lo) * x) for x in t]
    else:
        vals = [start + (stop - start) * x for x in t]
    return [round(v) if ints else round(v, 12) for v in vals]


def _stepped(where: str, r: dict[str, Any], start: int | float, stop: int | float, ints: bool) -> list[Any]:
    """``start``, ``start + step``, ... up to ``stop``: the count bounded before any value is made."""
    step = _number(f"{where}.step", r.get("step", 1))
    if step <= 0:
        raise SpecError(f"{where}.step: a number above 0, not {step!r}")
    exact = ints and isinstance(step, int)
    # a float quotient is finite here (start, stop and step are), but a tiny step makes it huge or infinite:
    # the count is bounded before it becomes an integer, and long before any value is made
    steps = (stop - start) // step if exact else (stop - start) / step
    n = (steps if exact else math.floor(steps + 1e-9)) + 1 if math.isfinite(steps) and steps <= MAX_VALUES else None
    if n is None or not 1 <= n <= MAX_VALUES:
        count = f"over {MAX_VALUES}" if n is None or n > MAX_VALUES else "no"
        raise SpecError(f"{where}: from {start!r} to {stop!r} in steps of {step!r} makes {count} values; 1 to "
                        f"{MAX_VALUES} allowed")
    vals = [start + i * step for i in range(n)]
    return [v if exact else round(float(v), 12) for v in vals]


def _values(where: str, v: Any) -> tuple[Any, ...]:
    if isinstance(v, dict):
        return _range(where, v)
    if not isinstance(v, list) or not v:
        raise SpecError(f"{where}: give a non-empty list of values or a range {{start, stop, step | num}}")
    if len(v) > MAX_VALUES:
        raise SpecError(f"{where}: {len(v)} values, more than {MAX_VALUES}")
    if any(isinstance(x, dict | list) for x in v):
        raise SpecError(f"{where}: values must be numbers, strings or booleans")
    return tuple(v)


def _seeds(key: str, v: Any) -> tuple[int, ...]:
    seeds = _values(key, v)
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= SEED_MAX for s in seeds):
        raise SpecError(f"{key}: integers from 0 to {SEED_MAX}")
    return tuple(dict.fromkeys(seeds))


def _confirm(d: Any, seeds: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """``(top, seeds)`` of the ``[confirm]`` table (``(0, ())`` without one)."""
    if d is None:
        return 0, ()
    if not isinstance(d, dict):
        raise SpecError("[confirm] must be a table with top and seeds")
    unknown = set(d) - {"top", "seeds"}
    if unknown:
        raise SpecError(f"confirm: unknown keys {sorted(unknown)}; [confirm] has top and seeds")
    top = d.get("top")
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise SpecError("confirm.top: the number of best points to train again, an integer of at least 1")
    more = _seeds("confirm.seeds", d.get("seeds"))
    again = sorted(set(more) & set(seeds))
    if again:
        raise SpecError(f"confirm.seeds: {again} already trained in the grid; give other seeds")
    return top, more


def _field(where: str, key: str) -> str:
    if key not in RUN_FIELDS:
        hint = " (seeds are given by `seeds`)" if key == "seed" else ""
        raise SpecError(f"{where}.{key}: not a field of a training run{hint}; see `python -m core train --help`")
    return key


def _deepest_line(text: str) -> int | None:
    """The line where arrays and inline tables first nest deeper than :data:`MAX_SPEC_DEPTH`; None if they never do.

    tomllib parses nested arrays and inline tables by recursion, so 20,000 ``[`` end in a
    RecursionError: this scan counts the brackets and braces outside strings and comments first,
    without recursing (TOML's four kinds of string: basic and multi-line basic ones with escapes,
    literal and multi-line literal ones without).
    """
    if text.count("[") + text.count("{") <= MAX_SPEC_DEPTH:  # cannot nest deeper: nothing to scan
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
            if depth > MAX_SPEC_DEPTH:
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


def read_spec_file(path: str | os.PathLike[str]) -> str:
    """The text of a spec file: a regular file of at most :data:`MAX_SPEC_BYTES`, read with that bound.

    A FIFO, a device (``/dev/zero``, even behind a symlink) or a file of ``/proc`` or ``/sys`` is
    refused before it is opened; it is opened without blocking (a FIFO swapped in after the check
    cannot hang the read) and checked again once open. Raises :class:`SpecError` naming the path.
    """
    path = Path(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise SpecError(f"{path}: not a regular file (a folder, FIFO or device); a spec is a short TOML file")
        if Path(os.path.realpath(path)).parts[1:2] in (("proc",), ("sys",)):
            raise SpecError(f"{path}: a file of /proc or /sys, not a spec")
        if st.st_size > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: {st.st_size:,} bytes, over {MAX_SPEC_BYTES:,}; a spec is a short TOML file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise SpecError(f"{path}: not a regular file once opened; a spec is a short TOML file")
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as e:
        raise SpecError(f"cannot read the spec {path}: {e.strerror or e}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: over {MAX_SPEC_BYTES:,} bytes; a spec is a short TOML file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not UTF-8 text (byte {e.start})") from None


def _toml(text: str) -> dict[str, Any]:
    """The TOML document, its nesting bounded before tomllib recurses; every failure a :class:`SpecError`."""
    deep = _deepest_line(text)
    if deep is not None:
        raise SpecError(f"line {deep}: arrays and tables nested more than {MAX_SPEC_DEPTH} deep; a spec needs 2")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"not valid TOML: {e}") from None
    except ValueError as e:  # an integer literal of more than 4,300 digits: int() refuses it inside tomllib
        raise SpecError(f"not valid TOML: {e}") from None
    except RecursionError:  # the scan above keeps this from happening; should it not, still one clear line
        raise SpecError(f"arrays and tables nested too deep (more than {MAX_SPEC_DEPTH}); a spec needs 2") from None


def parse_spec(text: str | bytes) -> SweepSpec:
    """A :class:`SweepSpec` from TOML text; :class:`SpecError` naming the key for anything wrong."""
    if isinstance(text, bytes):
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(f"the spec is {len(text):,} bytes; at most {MAX_SPEC_BYTES:,}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpecError(f"the spec is not UTF-8 text ({e})") from None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise SpecError(f"the spec is over {MAX_SPEC_BYTES:,} bytes")
    d = _toml(text)
    unknown = set(d) - {"name", "preset", "seeds", "base", "vary", "confirm", "description"}
    if unknown:
        raise SpecError(f"unknown keys {sorted(unknown)}; a spec has name, preset, seeds, [base], [vary] and "
                        "[confirm]")
    name = d.get("name")
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise SpecError("name: 1-64 letters, digits, '-' or '_'")
    pre = d.get("preset", "fast")
    if pre not in PRESETS:
        raise SpecError(f"preset: {pre!r} is not one of {', '.join(PRESETS)}")
    seeds = _seeds("seeds", d.get("seeds", [0]))
    top, more = _confirm(d.get("confirm"), seeds)
    base, vary = d.get("base", {}), d.get("vary", {})
    if not isinstance(base, dict) or not isinstance(vary, dict):
        raise SpecError("[base] and [vary] must be tables")
    spec = SweepSpec(name=name, preset=pre, seeds=seeds,
                     base=tuple((_field("base", k), v) for k, v in base.items()),
                     vary=tuple((_field("vary", k), _values(f"vary.{k}", v)) for k, v in vary.items()),
                     confirm_top=top, confirm_seeds=more)
    if top > spec.points:
        raise SpecError(f"confirm.top: {top}, but the grid has {spec.points} points")
    both = set(dict(spec.base)) & set(spec.varied)
    if both:
        raise SpecError(f"{sorted(both)} are both in [base] and [vary]")
    if spec.size > MAX_RUNS:
        raise SpecError(f"the grid has {spec.size:,} runs; at most {MAX_RUNS:,} in one sweep")
    return spec


def _point(spec: SweepSpec, values: tuple[tuple[str, Any], ...], seed: int, stage: str) -> Point:
    # TOML has no null: an empty string stands for "none" (e.g. no word2vec initialisation)
    fields_ = {k: None if v == "" else v for k, v in {**dict(spec.base), **dict(values)}.items()}
    fields_["seed"] = seed
    cell = fields_.pop("cell", "lstm")
    try:
        cfg = preset(spec.preset, cell=cell, **fields_)
    except (TypeError, ValueError, OverflowError) as e:  # OverflowError: an infinity where a field wants an int
        where = ", ".join(f"{k}={v!r}" for k, v in values) or "the base"
        raise SpecError(f"{where}: {e}") from None
    return Point(values, seed, cfg, stage)


def plan(spec: SweepSpec) -> list[Point]:
    """Every run of the grid, in grid order (the last varied field fastest, then the seed).

    Each config is the spec's preset with [base] and the point's values applied, so every value is
    checked against the config field's bounds; a value a field refuses raises :class:`SpecError`.
    The confirmation stage is not in it: :func:`plan_confirm` plans it from the grid's results.
    """
    names = spec.varied
    return [_point(spec, tuple(zip(names, combo, strict=True)), seed, "grid")
            for combo in itertools.product(*(v for _, v in spec.vary)) for seed in spec.seeds]


def plan_confirm(spec: SweepSpec, best: list[tuple[tuple[str, Any], ...]]) -> list[Point]:
    """The confirmation stage's runs: each of ``best`` (a grid point's values, best first) with every confirm seed."""
    return [_point(spec, values, seed, "confirm") for values in best[:spec.confirm_top]
            for seed in spec.confirm_seeds]
