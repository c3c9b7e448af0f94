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
    track = ["tensorboard:/data/tb"] # optional: every run tracked live, as `train --track` (absolute paths)

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
from dataclasses import dataclass
from typing import Any

from rnnlab.core.config import PRESETS, SEED_MAX, RunConfig
from rnnlab.core.config_file import RUN_FIELDS, from_toml, run_config
from rnnlab.core.jobs.targets import TrackTarget, parse_targets
from rnnlab.core.tomlfile import MAX_TOML_BYTES, TomlError, parse_toml, read_toml_file

MAX_SPEC_BYTES = MAX_TOML_BYTES
MAX_RUNS = 2000  # planned runs in one sweep: far above the studies, low enough to plan in a blink
MAX_VALUES = 100  # values of one varied field
MAX_RANGE_NUMBER = 1e15  # a range's start, stop and step, in size: far above any field's bounds, exact as a float
NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"
# the fields a spec may set or vary (a config file's vocabulary, core.config_file): every field of a training run's
# config except where its data comes from and the seed (given by `seeds`)
SPEC_FIELDS = RUN_FIELDS - {"imdb_path", "seed"}


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
    track: tuple[TrackTarget, ...] = ()  # where each run is tracked live (a launch option: not part of its config)

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


def _track(v: Any) -> tuple[TrackTarget, ...]:
    """``track``: one target or a list of them (``tensorboard:DIR``, ``mlflow:URI``), absolute: the sweep's job reads
    the spec again in another folder."""
    if v is None:
        return ()
    if not isinstance(v, str | list) or (isinstance(v, list) and not all(isinstance(t, str) for t in v)):
        raise SpecError('track: a target or a list of them ("tensorboard:/path/tb", "mlflow:sqlite:///path/mlflow.db")')
    try:
        return parse_targets([v] if isinstance(v, str) else v, relative=False)
    except ValueError as e:
        raise SpecError(f"track: {e}") from None


def _field(where: str, key: str) -> str:
    if key not in SPEC_FIELDS:
        hint = " (seeds are given by `seeds`)" if key == "seed" else ""
        raise SpecError(f"{where}.{key}: not a field of a training run{hint}; see `python -m core train --help`")
    return key


def read_spec_file(path: str | os.PathLike[str]) -> str:
    """The text of a spec file: a regular file of at most :data:`MAX_SPEC_BYTES`, read with that bound
    (:func:`core.tomlfile.read_toml_file`). Raises :class:`SpecError` naming the path."""
    try:
        return read_toml_file(path, "spec")
    except TomlError as e:
        raise SpecError(str(e)) from None


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
    try:
        d = parse_toml(text)  # its nesting bounded before tomllib recurses
    except TomlError as e:
        raise SpecError(str(e)) from None
    unknown = set(d) - {"name", "preset", "seeds", "base", "vary", "confirm", "description", "track"}
    if unknown:
        raise SpecError(f"unknown keys {sorted(unknown)}; a spec has name, preset, seeds, track, [base], [vary] and "
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
                     confirm_top=top, confirm_seeds=more, track=_track(d.get("track")))
    if top > spec.points:
        raise SpecError(f"confirm.top: {top}, but the grid has {spec.points} points")
    both = set(dict(spec.base)) & set(spec.varied)
    if both:
        raise SpecError(f"{sorted(both)} are both in [base] and [vary]")
    if spec.size > MAX_RUNS:
        raise SpecError(f"the grid has {spec.size:,} runs; at most {MAX_RUNS:,} in one sweep")
    return spec


def _point(spec: SweepSpec, values: tuple[tuple[str, Any], ...], seed: int, stage: str) -> Point:
    # as in a config file: "" stands for none (e.g. no word2vec initialisation)
    try:
        cfg = run_config({**from_toml({**dict(spec.base), **dict(values)}), "seed": seed}, spec.preset)
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
