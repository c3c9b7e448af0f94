"""The seed report's comparison end to end: ``python -m core experiment seed``.

Trains RNN, LSTM and GRU with the chosen preset over one or more seeds (gradients recorded),
the preprocessing and batching ablations on the LSTM (the seed's stop words against
``keep_negations``, fixed padding against length buckets), fits the GMM-HMM baseline, runs the
memory-horizon experiment, and writes a report folder: ``report.md``, CSV tables and PNG
figures drawn by the same Plotly builders the dashboard uses.

Resumable: a finished run whose configuration equals the one wanted is reused, so rerunning
the command only does what is missing. Not here: the training itself (``core.jobs``), the
figures (``dashboard.charts``, ``dashboard.inside``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import CELLS, RunConfig, preset
from .runs import Run, RunStore


@dataclass(frozen=True)
class ExperimentConfig:
    preset: str = "seed"  # preset of the main comparison
    seeds: tuple[int, ...] = (0,)  # one run per cell type and seed; mean and spread over seeds
    cells: tuple[str, ...] = CELLS
    epochs: int | None = None  # None = the preset's (5)
    limit: int | None = None  # reviews per split (smoke runs)
    val_size: int | None = None
    hidden_size: int | None = None
    device: str = "auto"
    threads: int | None = 1
    imdb_path: str | None = None
    ablations: bool = True  # LSTM: keep_negations, and fixed vs bucketed batches
    hmm: bool = True
    hmm_limit: int | None = 4000  # training reviews of the GMM-HMM (Baum-Welch is slow in hmmlearn)
    horizon: bool = True
    horizon_lengths: tuple[int, ...] = (10, 25, 50, 100, 200)
    horizon_steps: int = 2000


def _overrides(ec: ExperimentConfig) -> dict[str, Any]:
    o = {"epochs": ec.epochs, "limit": ec.limit, "val_size": ec.val_size, "hidden_size": ec.hidden_size,
         "device": ec.device, "threads": ec.threads, "imdb_path": ec.imdb_path}
    return {k: v for k, v in o.items() if v is not None}


def planned_runs(ec: ExperimentConfig) -> list[tuple[str, RunConfig]]:
    """(group, config) of every RNN run the experiment needs."""
    plan = []
    for seed in ec.seeds:
        for cell in ec.cells:
            plan.append(("main", preset(ec.preset, cell=cell, seed=seed, record_gradients=True, **_overrides(ec))))
        if ec.ablations:
            base = preset("fast", cell="lstm", seed=seed, **_overrides(ec))
            plan.append(("batching: bucket", base))
            plan.append(("batching: fixed 500", replace(base, train=replace(base.train, batching="fixed"))))
            plan.append(("stop words: keep negations", replace(base, text=replace(base.text, keep_negations=True))))
    return plan


def find_finished(store: RunStore, cfg: RunConfig) -> Run | None:
    """A finished run with exactly this configuration, if one exists (makes the command resumable)."""
    want = cfg.to_dict()
    for run in store.list():
        try:
            if run.kind == "rnn" and run.status().get("state") == "finished" and run.config().to_dict() == want:
                return run
        except (OSError, ValueError):
            continue
    return None


def _row(group: str, run: Run) -> dict[str, Any]:
    cfg, tm = run.config(), run.test_metrics() or {}
    return {"group": group, "run_id": run.id, "model": cfg.model.cell, "preset": cfg.train.preset,
            "batching": cfg.train.batching, "keep_negations": cfg.text.keep_negations, "seed": cfg.train.seed,
            "accuracy": tm.get("accuracy"), "precision": tm.get("precision"), "recall": tm.get("recall"),
            "f1": tm.get("f1"), "roc_auc": tm.get("roc_auc"), "train_time_s": tm.get("train_time_s"),
            "samples_per_s": tm.get("train_samples_per_s"), "params_pytorch": tm.get("params_recurrent_pytorch"),
            "params_seed_formula": tm.get("params_recurrent_seed_formula")}


def summarise(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean and standard deviation over seeds, with the number of runs behind each row."""
    metrics = ["accuracy", "f1", "roc_auc", "train_time_s", "samples_per_s"]
    g = rows.groupby(by, sort=False)
    out = g[metrics].mean().add_suffix("_mean")
    std = g[metrics].std(ddof=1).fillna(0.0).add_suffix("_std")
    out = out.join(std)
    out["runs"] = g.size()
    return out.reset_index()


def _png(fig: Any, path: Path) -> str:
    """Write a PNG with kaleido; a missing browser leaves the report usable (CSV beside it)."""
    try:
        path.write_bytes(fig.to_image(format="png", width=900, height=500, scale=1))
        return path.name
    except Exception as e:  # kaleido needs Chromium: say so in the report instead of failing it
        return f"(figure not rendered: {type(e).__name__})"


def _md_table(df: pd.DataFrame, floatfmt: str = "{:.4f}") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = [floatfmt.format(v) if isinstance(v, float) and not np.isnan(v) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_experiment(ec: ExperimentConfig, out: str | Path, store: RunStore | None = None,
                   say: Callable[[str], None] = print) -> Path:
    """Do (or reuse) every run, then write ``out/report.md`` with its tables and figures."""
    from tqdm import tqdm

    from .jobs import execute

    store = store or RunStore()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    plan = planned_runs(ec)
    done: list[tuple[str, Run]] = []
    for group, cfg in tqdm(plan, desc="runs", unit="run"):
        run = find_finished(store, cfg)
        if run is None:
            say(f"training {cfg.model.cell} ({group}, seed {cfg.train.seed})")
            run = execute(cfg, store, progress=True)
        else:
            say(f"reusing {run.id} ({group})")
        done.append((group, run))
    rows = pd.DataFrame([_row(g, r) for g, r in done])
    rows.to_csv(out / "runs.csv", index=False)
    main = rows[rows.group == "main"]
    main_summary = summarise(main, ["model"])
    main_summary.to_csv(out / "results.csv", index=False)
    ablation = rows[rows.group != "main"]
    ablation_summary = summarise(ablation, ["group"]) if len(ablation) else pd.DataFrame()
    if len(ablation_summary):
        ablation_summary.to_csv(out / "ablations.csv", index=False)

    hmm_row = _hmm(ec, store, say) if ec.hmm else None
    horizon = _horizon(ec, store, say) if ec.horizon else None
    figures = _figures(main, done, horizon, out)
    _write_report(ec, out, main, main_summary, ablation_summary, hmm_row, horizon, figures, time.time() - t0)
    return out / "report.md"


def _hmm(ec: ExperimentConfig, store: RunStore, say: Callable[[str], None]) -> dict[str, Any] | None:
    from .config import DataConfig, TextConfig
    from .hmm import HMMConfig, train_hmm_run

    hcfg = HMMConfig(limit=ec.hmm_limit if ec.limit is None else min(ec.hmm_limit or ec.limit, ec.limit))
    for run in store.list():
        if run.kind == "hmm" and run.status().get("state") == "finished" and run.test_metrics():
            say(f"reusing GMM-HMM run {run.id}")
            break
    else:
        data = DataConfig(imdb_path=ec.imdb_path, limit=ec.limit,
                          **({"val_size": ec.val_size} if ec.val_size is not None else {}))
        run = train_hmm_run(hcfg, data, TextConfig(), store=store, say=say)
    tm = run.test_metrics() or {}
    return {"run_id": run.id, "accuracy": tm.get("accuracy"), "f1": tm.get("f1"), "roc_auc": tm.get("roc_auc"),
            "fit_time_s": tm.get("fit_time_s"), "train_size": tm.get("train_size")}


def _horizon(ec: ExperimentConfig, store: RunStore, say: Callable[[str], None]) -> pd.DataFrame:
    from .synthetic import HorizonSettings, memory_horizon

    settings = HorizonSettings(lengths=ec.horizon_lengths, steps=ec.horizon_steps)
    for run in store.list():
        if run.kind == "memory-horizon" and run.status().get("state") == "finished" and \
                run.config_dict().get("memory_horizon", {}).get("lengths") == list(ec.horizon_lengths) and \
                run.config_dict().get("memory_horizon", {}).get("steps") == ec.horizon_steps:
            say(f"reusing memory-horizon run {run.id}")
            rows = run.read_json("results.json")
            rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
            break
    else:
        _, rows = memory_horizon(settings, store, progress=say)
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "history"} for r in rows])
    return table


def _figures(main: pd.DataFrame, done: list[tuple[str, Run]], horizon: pd.DataFrame | None,
             out: Path) -> dict[str, str]:
    from dashboard import charts, inside

    from .gradients import load_gradients

    figs: dict[str, str] = {}
    table = main.assign(run=main["model"] + " s" + main["seed"].astype(str), test_accuracy=main["accuracy"])
    figs["metrics"] = _png(charts.metric_bars(table), out / "test_metrics.png")
    curves, cells = {}, {}
    for group, run in done:
        path = run.file("gradients.npz")
        if group != "main" or not path.is_file():
            continue
        rec = load_gradients(path)
        name = f"{run.config().model.cell} s{run.config().train.seed}"
        curves[name] = rec["dh_mean"][-1, 0, 0]
        cells[name] = run.config().model.cell
    if curves:
        fig = inside.decay_lines(curves, cells=cells, normalise=True)
        figs["gradients"] = _png(fig, out / "gradient_decay.png")
        pd.DataFrame({k: pd.Series(v) for k, v in curves.items()}).rename_axis("k").to_csv(out / "gradient_decay.csv")
    if horizon is not None and len(horizon):
        metric = "test_metric"
        t = horizon.rename(columns={"model": "cell", metric: "metric"})
        figs["horizon"] = _png(inside.horizon_figure(t), out / "memory_horizon.png")
        horizon.to_csv(out / "memory_horizon.csv", index=False)
    return figs


def _write_report(ec, out, main, main_summary, ablation_summary, hmm_row, horizon, figures, elapsed) -> None:
    parts = [
        "# RNN Lab: the seed report's comparison",
        "",
        f"Produced by `python -m core experiment seed` in {elapsed / 60:.1f} minutes (runs reused where finished). "
        f"Preset `{ec.preset}`; seeds {list(ec.seeds)}; "
        + (f"limit {ec.limit} reviews per split; " if ec.limit else "the full IMDB splits; ")
        + f"epochs {ec.epochs or 5}.",
        "",
        "## Accuracy, F1 and training time",
        "",
        "Mean over seeds (`_std`: standard deviation; `runs`: how many runs are behind each row).",
        "",
        _md_table(main_summary),
        "",
        f"![test metrics]({figures.get('metrics', '')})",
        "",
        "Every run: [runs.csv](runs.csv). Parameters (recurrent layer, PyTorch / seed formula): "
        + ", ".join(f"{r.model} {r.params_pytorch} / {r.params_seed_formula}"
                    for r in main.drop_duplicates("model").itertuples()),
        "",
    ]
    if hmm_row:
        parts += ["## GMM-HMM baseline", "", _md_table(pd.DataFrame([hmm_row])), ""]
    if "gradients" in figures:
        parts += ["## How the gradient decays through time", "",
                  "||dL/dh_{T-k}|| / ||dL/dh_T||, mean over the probe reviews, at the end of training.", "",
                  f"![gradient decay]({figures['gradients']})", ""]
    if len(ablation_summary):
        parts += ["## Ablations (LSTM, `fast` preset)", "", _md_table(ablation_summary), ""]
    if horizon is not None and len(horizon):
        cols = [c for c in ("model", "seq_len", "success", "test_metric", "final_loss", "steps_to_success")
                if c in horizon]
        parts += ["## Memory horizon (adding problem)", "", _md_table(horizon[cols]), "",
                  f"![memory horizon]({figures.get('horizon', '')})", ""]
    (out / "report.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
