"""The ``sweep`` kind of job: plan a grid of training runs, put them all in the store, execute them, tabulate.

What it is: :func:`sweep_job` parses the spec held in its :class:`~core.config.SweepConfig`, plans
it (:mod:`core.sweep.spec`), and for every point reuses a finished run with exactly that config,
or takes up an unfinished one left by an interrupted sweep (crashed, cancelled, failed or never
started), or creates a new one -- so every planned run is in the store, ``queued``, before the
first starts, and a sweep run again resumes. A run that another live process owns is never
duplicated: it is placed as it is and waited for. One sweep of a spec trains on a store at a time
(:func:`sole_driver`): a second waits for the first, then reuses its runs. The executor
(:mod:`core.sweep.executors`) runs the rest; as each ends, ``sweep/results.csv`` in the sweep's
run folder gains its row (the varied fields, the seed, the run's state and test figures, its
gradient decay at k = 10, 50, 100), and at the end ``sweep/summary.csv`` holds mean and standard
deviation over the seeds.

What it is not: the spec's grammar (``core.sweep.spec``), where runs execute (``core.sweep.executors``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from rnnlab.core import atomic
from rnnlab.core.analysis.gradients import decay_ratios, load_gradients
from rnnlab.core.config import RunConfig, SweepConfig, config_to_dict
from rnnlab.core.data.datasets import resolve_config
from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.estimate import training_seconds_each, word2vec_seconds
from rnnlab.core.jobs.files import META_KEYS
from rnnlab.core.jobs.names import CANCELLED, CRASHED, DAMAGED, FAILED, FINISHED, GRADIENTS_FILE, QUEUED, RUNNING
from rnnlab.core.jobs.process import LockHeld, exclusive
from rnnlab.core.jobs.store import Run, RunStore
from rnnlab.core.jobs.targets import TrackTarget
from rnnlab.core.jobs.vectors import resolve_vectors, with_vectors
from rnnlab.core.sweep.executors import executor, take_up
from rnnlab.core.sweep.spec import Point, SweepSpec, parse_spec, plan, plan_confirm

FOLDER = "sweep"
RESULTS = "results.csv"  # in FOLDER of a sweep's run, or beside spec.toml in a published study's folder
DECAY_KS = (10, 50, 100)
METRICS = ("accuracy", "f1", "roc_auc", "mse", "success", "train_time_s", "best_val_loss", "best_epoch")
SUMMARY_METRICS = (*METRICS, *(f"decay_k{k}" for k in DECAY_KS))
WAIT_POLL_S = 0.5  # how often a second sweep of one spec looks whether the first has ended


def _key(d: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in d.items() if k not in META_KEYS}, sort_keys=True)


def existing_runs(store: RunStore) -> dict[str, list[Run]]:
    """The store's training runs by resolved config (one pass over the store), newest first."""
    out: dict[str, list[Run]] = {}
    for run in store.list():
        try:
            d = run.config_dict()
            if d.get("kind", "rnn") != "rnn" or d.get("imported"):
                continue
            key = _key(run.config_key())  # every field, those added since the run was made at their defaults
        except (OSError, ValueError):
            continue
        out.setdefault(key, []).append(run)
    return out


def place_runs(cfgs: list[RunConfig], store: RunStore, label: str | None,
               track: tuple[TrackTarget, ...] = ()) -> list[tuple[Run, bool]]:
    """``(run, reused)`` for every config: a finished run reused, a live one waited for, an unfinished one taken
    up, or a new one. ``track``: where the runs trained here are tracked live (:mod:`core.jobs.targets`), kept
    in the status of each run made or taken up here, never in its config (a finished run is reused either way).

    A run that another live process owns (another sweep's worker, or a sweep that claimed it) is
    placed as it is, never duplicated: the executor waits for it and takes it up only if it ends
    unfinished. Each run taken up or made here is claimed by this process, so it reads ``queued``
    until an executor starts it.
    """
    known = existing_runs(store)
    taken: set[str] = set()
    out = []
    cfgs = [resolve_config(cfg) for cfg in cfgs]  # as lifecycle.create would: fitted to the dataset, compared so
    for cfg in cfgs:
        runs = [r for r in known.get(_key(config_to_dict(cfg)), []) if r.id not in taken]
        states = {r.id: _state(r) for r in runs}
        by_state = {state: [r for r in runs if states[r.id] == state] for state in set(states.values())}
        if by_state.get(FINISHED):
            run, reused = by_state[FINISHED][0], True
        elif by_state.get(RUNNING) or by_state.get(QUEUED):  # a live owner has it: wait for it, never train a twin
            run, reused = (by_state.get(RUNNING) or by_state[QUEUED])[0], False
        else:
            idle = [r for r in runs if states[r.id] in (CRASHED, CANCELLED, FAILED, "queued-idle")]
            run = next((r for r in idle if take_up(r)), None)
            if run is not None and track:  # taken up: it trains again here, tracked as this sweep says
                run.update_status(track=[str(t) for t in track])
            if run is None and idle:  # each is being resumed by another process this moment: wait for it
                run = idle[0]
            if run is None:
                run = lifecycle.create("rnn", cfg, store, label=label, track=track)
                lifecycle.claim(run)
            reused = False
        taken.add(run.id)
        out.append((run, reused))
    return out


def named_vectors(ctx: Any, cfgs: list[RunConfig]) -> list[RunConfig]:
    """Each config with the word2vec run it reads named (``embeddings = "auto"``: :mod:`core.jobs.vectors`), the
    vectors trained first, once, inside this job where the store has none that suit."""
    out = []
    for cfg in cfgs:
        cfg, first = resolve_vectors(cfg, ctx.store)
        if first is not None:  # a child run: reused by the next config that needs the same vectors
            ctx.say("no suitable word2vec run found: training a skip-gram model first")
            w2v = ctx.child("word2vec", first, label="word2vec-skipgram")
            if w2v.status().get("state") != FINISHED:
                raise ValueError(f"the word2vec run {w2v.id} the trainings need did not finish")
            cfg = with_vectors(cfg, w2v.id)
        out.append(cfg)
    return out


def execute_runs(ctx: Any, cfgs: list[RunConfig], *, label: str | None, executor_name: str = "local",
                 parallel: int | None = None, address: str | None = None, retries: int = 1,
                 done: Callable[[Run, str], None] | None = None) -> list[tuple[Run, bool]]:
    """Place every config in the store (:func:`place_runs`) and execute those not reused; ``(run, reused)`` each.

    What the sweep and the experiment share: ``done(run, note)`` hears of each run as it ends.
    """
    placed = place_runs(named_vectors(ctx, cfgs), ctx.store, label)
    todo = [r for r, reused in placed if not reused]
    if todo:
        executor(executor_name, parallel=parallel, address=address, retries=retries).execute(
            ctx, todo, done or (lambda run, note: None))
    return [(ctx.store.get(r.id), reused) for r, reused in placed]


def _state(run: Run) -> str:
    try:
        st = run.status()
    except ValueError:
        return DAMAGED
    if st.get("state") == QUEUED and not st.get("process"):
        return "queued-idle"  # created by a sweep that stopped before claiming it
    return str(st.get("state"))


def run_row(point: Point, run: Run, note: str = "", reused: bool = False) -> dict[str, Any]:
    """One line of ``results.csv``: the point, the run's state and test figures, its gradient decay."""
    row: dict[str, Any] = {**point.as_dict(), "stage": point.stage, "run_id": run.id, "reused": reused, "note": note}
    try:
        row["state"] = run.status().get("state")
        tm = run.test_metrics() or {}
    except (OSError, ValueError):
        row["state"], tm = DAMAGED, {}
    for m in METRICS:
        v = tm.get(m)
        row[m] = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else (
            float(v) if isinstance(v, bool) else None)
    row.update(_decay(run))
    return row


def _decay(run: Run) -> dict[str, float | None]:
    """The median ``||dL/dh_{T-k}|| / ||dL/dh_T||`` over the probe at the end of training, at each k."""
    out: dict[str, float | None] = {f"decay_k{k}": None for k in DECAY_KS}
    path = run.file(GRADIENTS_FILE)
    if not path.is_file():
        return out
    try:
        ratios = decay_ratios(load_gradients(path), DECAY_KS)
    except (OSError, ValueError, KeyError, IndexError):
        return out
    for k, r in ratios.items():
        v = r.get("median")
        out[f"decay_k{k}"] = v if isinstance(v, float) and math.isfinite(v) else None
    return out


def summarise(results: pd.DataFrame, varied: list[str]) -> pd.DataFrame:
    """Mean and standard deviation over seeds of every figure, per point of the grid (finished runs only)."""
    done = results[results["state"] == FINISHED]
    metrics = [m for m in SUMMARY_METRICS if m in done and done[m].notna().any()]
    if done.empty or not metrics:
        return pd.DataFrame(columns=[*varied, "runs"])
    by = varied or (lambda _: "all")
    g = done.groupby(by, sort=False, dropna=False)
    out = g[metrics].mean().add_suffix("_mean").join(g[metrics].std(ddof=1).add_suffix("_std"))
    out["runs"] = g.size()
    return out.reset_index() if varied else out.reset_index(drop=True)


def best_points(grid: list[tuple[tuple[tuple[str, Any], ...], dict[str, Any]]],
                top: int) -> list[tuple[tuple[str, Any], ...]]:
    """The ``top`` grid points with the lowest validation loss, mean over their seeds, best first.

    ``grid`` pairs each run's point (its varied fields' values) with its results row. Validation
    loss is what each run already chose its checkpoint by, so choosing points by it keeps the test
    set out of every decision. A point any of whose runs did not finish is not chosen.
    """
    losses: dict[tuple[tuple[str, Any], ...], list[float | None]] = {}
    for values, row in grid:
        v = row.get("best_val_loss")
        ok = row.get("state") == FINISHED and isinstance(v, int | float) and math.isfinite(v)
        losses.setdefault(values, []).append(float(v) if ok else None)
    scores = [(sum(ls) / len(ls), values) for values, ls in losses.items() if None not in ls]
    scores.sort(key=lambda s: s[0])
    return [values for _, values in scores[:top]]


def results_path(run: Run) -> Path:
    return run.path / FOLDER / RESULTS


MAX_TABLE_BYTES = 32 * 2**20  # results.csv / plan.json of the largest sweep (MAX_RUNS rows) stay far under


def _small_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size <= MAX_TABLE_BYTES
    except OSError:
        return False


def read_results(run: Run) -> pd.DataFrame | None:
    """A sweep run's ``results.csv`` (empty values of its varied fields named, :func:`named_none`); None
    before the first run ended, or when the file is damaged or too big."""
    table = _read_table(results_path(run))
    if table is None:
        return None
    try:
        varied = spec_of(run).varied
    except (OSError, ValueError, AttributeError):
        varied = []
    return named_none(table, varied)


def named_none(results: pd.DataFrame, varied: list[str]) -> pd.DataFrame:
    """``results`` with the empty value of each varied field (``""`` in a spec: none, e.g. no word2vec
    run, which a CSV reads back as missing) written ``"none"``, so tables and figures can name it."""
    out = results.copy()
    for f in varied:
        missing = out[f].isna() if f in out else None
        if missing is not None and missing.any() and (missing.all() or not pd.api.types.is_numeric_dtype(out[f])):
            out[f] = out[f].astype(object).where(out[f].notna(), "none")
    return out


def _read_table(path: Path) -> pd.DataFrame | None:
    if not _small_file(path):
        return None
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    return table if {"run_id", "state"} <= set(table.columns) else None


def published(root: Path) -> dict[str, Path]:
    """Studies whose results are published under ``root`` (``docs/sweeps``): name -> folder with spec and results."""
    if not root.is_dir():
        return {}
    return {d.name: d for d in sorted(root.iterdir())
            if d.is_dir() and (d / "spec.toml").is_file() and (d / RESULTS).is_file()}


def read_published(folder: Path) -> tuple[SweepSpec, pd.DataFrame]:
    """A published study's spec and results (as a sweep's folder has them); ValueError naming what is wrong."""
    path = folder / "spec.toml"
    try:
        if path.stat().st_size > MAX_TABLE_BYTES:
            raise ValueError(f"{path}: too big for a spec")
        spec = parse_spec(path.read_bytes())
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror or e}") from None
    table = _read_table(folder / RESULTS)
    if table is None:
        raise ValueError(f"{folder / RESULTS}: missing, too big, or not a sweep's results table")
    return spec, named_none(table, spec.varied)


def read_plan(run: Run) -> list[dict[str, Any]]:
    """The planned runs: ``[{"run_id", <varied fields>, "seed", "reused"}]``; [] before planning or if damaged."""
    path = run.path / FOLDER / "plan.json"
    if not _small_file(path):
        return []
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(body, list):
        return []
    return [r for r in body if isinstance(r, dict) and isinstance(r.get("run_id"), str)]


def spec_of(run: Run) -> SweepSpec:
    return parse_spec(run.job_config().spec)


@contextmanager
def sole_driver(ctx: Any, points: list[Point], poll_s: float = WAIT_POLL_S) -> Iterator[None]:
    """Be the only sweep placing and training these points on this store, for the block.

    A lock per planned grid (``<runs>/.sweeps/<digest>.lock``), held by the sweep's process: a second
    sweep of the same spec waits here (its status says so; a cancel ends the wait) until the first has
    ended, then reuses what it trained. The kernel drops the lock of a sweep killed with -9.
    """
    digest = hashlib.sha256(json.dumps(sorted(_key(config_to_dict(p.cfg)) for p in points)).encode()).hexdigest()
    folder = ctx.store.root / ".sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    held, told = ExitStack(), False
    while True:
        try:
            held.enter_context(exclusive(folder / f"{digest[:32]}.lock"))
            break
        except LockHeld:
            if not told:
                ctx.say("another sweep of this spec is running on this store: waiting for it to end, then reusing "
                        "its runs")
                ctx.progress(phase="waiting for another sweep of this spec")
                told = True
            ctx.check_cancel()
            time.sleep(poll_s)
    with held:
        yield


def sweep_job(ctx: Any, cfg: SweepConfig) -> None:
    """Plan, place, execute and tabulate the sweep (the ``sweep`` kind), as the only sweep of its spec here."""
    spec = parse_spec(cfg.spec)
    points = plan(spec)
    with sole_driver(ctx, points):
        _sweep(ctx, cfg, spec, points)


def _sweep(ctx: Any, cfg: SweepConfig, spec: SweepSpec, points: list[Point]) -> None:
    """Place, execute and tabulate the planned ``points`` (the grid, then the confirmation stage)."""
    out = ctx.run.path / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    placed: list[tuple[Point, Run, bool]] = []
    rows: dict[str, dict[str, Any]] = {}
    t0 = time.time()

    def write() -> None:
        order = [r.id for _, r, _ in placed if r.id in rows]
        table = pd.DataFrame([rows[i] for i in order])
        with atomic.atomic_path(out / "results.csv") as tmp:
            table.to_csv(tmp, index=False)
        ctx.progress(phase=f"{len(rows)} of {spec.size} runs done", done=len(rows), total=spec.size,
                     elapsed_s=time.time() - t0)

    def stage(stage_points: list[Point]) -> None:
        """Place, record in plan.json and execute one stage's runs (the grid, then the confirmation)."""
        new = [(p, run, reused) for p, (run, reused) in
               zip(stage_points, place_runs(named_vectors(ctx, [p.cfg for p in stage_points]), ctx.store,
                                            f"sweep-{spec.name}", spec.track), strict=True)]
        placed.extend(new)
        atomic.write_json(out / "plan.json", [{"run_id": r.id, **p.as_dict(), "stage": p.stage, "reused": reused}
                                              for p, r, reused in placed])
        by_id = {r.id: p for p, r, _ in new}
        rows.update({r.id: run_row(p, r, reused=True) for p, r, reused in new if reused})
        todo = [r for _, r, reused in new if not reused]
        what = "the confirmation's runs" if stage_points and stage_points[0].stage == "confirm" else "runs"
        ctx.say(f"sweep {spec.name}: {len(stage_points)} {what}, {len(stage_points) - len(todo)} reused, "
                f"{len(todo)} to run")

        def done(run: Run, note: str) -> None:
            rows[run.id] = run_row(by_id[run.id], run, note)
            write()

        write()
        if todo:
            executor(cfg.executor, parallel=cfg.parallel, address=cfg.address, retries=cfg.retries).execute(
                ctx, todo, done)

    stage(points)
    if spec.confirm_top:
        best = best_points([(p.values, rows[r.id]) for p, r, _ in placed], spec.confirm_top)
        ctx.say(f"sweep {spec.name}: the best {len(best)} of {spec.points} points by validation loss: "
                + "; ".join(", ".join(f"{k}={v}" for k, v in values) for values in best))
        if best:
            stage(plan_confirm(spec, best))
    table = pd.DataFrame([rows[r.id] for _, r, _ in placed])
    summary = summarise(table, spec.varied)
    with atomic.atomic_path(out / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False)
    failed = int((table["state"] != FINISHED).sum())
    ctx.say(f"sweep {spec.name}: {len(table) - failed} of {len(table)} runs finished in {time.time() - t0:.0f} s")


def estimate(points: list[Point], store: RunStore, confirm_runs: int = 0) -> dict[str, Any]:
    """Seconds the planned runs would take one after another (:func:`core.jobs.estimate.training_seconds` each).

    ``confirm_runs`` (a spec's confirmation stage, whose points are not chosen yet) count as the
    grid's mean run each. ``{"seconds": float | None, "measured": points with an estimate,
    "unknown": points without, "confirm": confirm_runs, "vectors": word2vec runs to train first,
    "vectors_seconds": their estimate, or None}``; the vectors' seconds are not in ``seconds``.
    """
    known = [v for v in training_seconds_each([p.cfg for p in points], store) if v is not None]
    seconds = sum(known) * (1 + confirm_runs / len(known)) if known else None
    firsts = {}  # auto embeddings with no word2vec run that suits: trained first, once per distinct need
    for p in points:
        try:
            first = resolve_vectors(p.cfg, store)[1]
        except (KeyError, ValueError):  # a named run that is gone: the sweep says so when it runs
            continue
        if first is not None:
            firsts.setdefault(repr(config_to_dict(first)), first)
    w2v = [word2vec_seconds(f, store).seconds for f in firsts.values()]
    return {"seconds": seconds, "measured": len(known), "unknown": len(points) - len(known), "confirm": confirm_runs,
            "vectors": len(firsts), "vectors_seconds": sum(w2v) if w2v and None not in w2v else None}


def sweep_progress(run: Run, store: RunStore) -> dict[str, Any]:
    """Where a sweep stands: its planned runs counted by state (read live), and an ETA from the pace so far.

    ``{"total", "counts": {state: n}, "done", "elapsed_s", "eta_s"}``; ``eta_s`` is None until a run
    trained in this sweep has ended (reused runs say nothing about the pace). While the sweep runs,
    the runs its spec plans later (the confirmation stage) count as queued.
    """
    planned = read_plan(run)
    counts: dict[str, int] = {}
    trained_done = 0
    for p in planned:
        try:
            state = store.get(p["run_id"]).status().get("state", "unknown")
        except (KeyError, ValueError, OSError):
            state = "missing"
        counts[state] = counts.get(state, 0) + 1
        if state not in (QUEUED, RUNNING) and not p.get("reused"):
            trained_done += 1
    st = run.status()
    later = 0
    if st.get("state") in (QUEUED, RUNNING):  # runs not planned yet (the confirmation stage) wait like queued ones
        try:
            later = max(spec_of(run).size - len(planned), 0)
        except (OSError, ValueError, AttributeError):
            later = 0
    if later:
        counts[QUEUED] = counts.get(QUEUED, 0) + later
    started = st.get("started")
    elapsed = (st.get(FINISHED) or time.time()) - started if isinstance(started, int | float) else None
    remaining = counts.get(QUEUED, 0) + counts.get(RUNNING, 0)
    eta = elapsed / trained_done * remaining if elapsed and trained_done and remaining else (0.0 if not remaining
                                                                                             else None)
    total = len(planned) + later
    return {"total": total, "counts": counts, "done": total - remaining, "elapsed_s": elapsed, "eta_s": eta}
