"""A sweep's spec: a base preset, the fields to vary and the seeds, read from TOML and planned into run configs.

What it is: :func:`parse_spec` reads a spec (TOML text, bounded) into a :class:`SweepSpec`, and
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
import re
import tomllib
from dataclasses import dataclass, fields
from typing import Any

from core.config import PRESETS, SEED_MAX, DataConfig, ModelConfig, RunConfig, TextConfig, TrainConfig, preset

MAX_SPEC_BYTES = 64 * 1024
MAX_RUNS = 2000  # planned runs in one sweep: far above the studies, low enough to plan in a blink
MAX_VALUES = 100  # values of one varied field
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


def _range(key: str, r: dict[str, Any]) -> tuple[Any, ...]:
    """``{start, stop, step}`` (inclusive) or ``{start, stop, num[, scale = "linear" | "log"]}``."""
    unknown = set(r) - {"start", "stop", "step", "num", "scale", "values"}
    if unknown:
        raise SpecError(f"vary.{key}: unknown keys {sorted(unknown)} (a range has start, stop and step or num)")
    if "values" in r:
        return _values(key, r["values"])
    start, stop = r.get("start"), r.get("stop")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (start, stop)):
        raise SpecError(f"vary.{key}: a range needs numbers start and stop")
    ints = isinstance(start, int) and isinstance(stop, int)
    if "num" in r:
        num, scale = r["num"], r.get("scale", "linear")
        if not isinstance(num, int) or not 1 <= num <= MAX_VALUES:
            raise SpecError(f"vary.{key}: num must be an integer from 1 to {MAX_VALUES}")
        if scale not in ("linear", "log"):
            raise SpecError(f"vary.{key}: scale must be linear or log")
        if scale == "log" and (start <= 0 or stop <= 0):
            raise SpecError(f"vary.{key}: a log range needs start and stop above 0")
        t = [i / (num - 1) if num > 1 else 0.0 for i in range(num)]
        vals = [start * (stop / start) ** x for x in t] if scale == "log" else [start + (stop - start) * x for x in t]
        vals = [round(v) if ints else round(v, 12) for v in vals]
    else:
        step = r.get("step", 1)
        if not isinstance(step, int | float) or isinstance(step, bool) or step <= 0:
            raise SpecError(f"vary.{key}: step must be a number above 0")
        n = math.floor((stop - start) / step + 1e-9) + 1
        if n < 1 or n > MAX_VALUES:
            raise SpecError(f"vary.{key}: the range has {max(n, 0)} values; 1 to {MAX_VALUES} allowed")
        vals = [start + i * step for i in range(n)]
        vals = [v if ints and isinstance(step, int) else round(float(v), 12) for v in vals]
    return _values(key, list(dict.fromkeys(vals)))


def _values(key: str, v: Any) -> tuple[Any, ...]:
    if isinstance(v, dict):
        return _range(key, v)
    if not isinstance(v, list) or not v:
        raise SpecError(f"vary.{key}: give a non-empty list of values or a range {{start, stop, step | num}}")
    if len(v) > MAX_VALUES:
        raise SpecError(f"vary.{key}: {len(v)} values, more than {MAX_VALUES}")
    if any(isinstance(x, dict | list) for x in v):
        raise SpecError(f"vary.{key}: values must be numbers, strings or booleans")
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


def parse_spec(text: str | bytes) -> SweepSpec:
    """A :class:`SweepSpec` from TOML text; :class:`SpecError` naming the key for anything wrong."""
    if isinstance(text, bytes):
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(f"the spec is {len(text):,} bytes; at most {MAX_SPEC_BYTES:,}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpecError(f"the spec is not UTF-8 text ({e})") from None
    if len(text.encode("utf-8")) > MAX_SPEC_BYTES:
        raise SpecError(f"the spec is over {MAX_SPEC_BYTES:,} bytes")
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"not valid TOML: {e}") from None
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
                     vary=tuple((_field("vary", k), _values(k, v)) for k, v in vary.items()),
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
    except (TypeError, ValueError) as e:
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
