"""The seed report's comparison end to end, on IMDB or any dataset: ``python -m core experiment seed``.

Trains RNN, LSTM and GRU with the chosen preset over one or more seeds (gradients recorded),
the ablations on the LSTM (the seed's stop words against ``keep_negations``, fixed padding
against length buckets, random against word2vec-initialised embeddings), fits the GMM-HMM baseline, runs the
memory-horizon experiment, and writes a report folder: ``report.md``, CSV tables and PNG
figures drawn by the same Plotly builders the dashboard uses.

Resumable: a finished run whose configuration equals the one wanted is reused, so rerunning
the command only does what is missing. :func:`experiment_seconds` estimates the whole before it starts.
Not here: the training itself (``core.jobs.rnn``), the figures (``core.figures``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnlab.core.analysis.gradients import load_gradients
from rnnlab.core.analysis.horizon import horizon_rows
from rnnlab.core.config import (
    DataConfig,
    ExperimentConfig,
    HMMConfig,
    HMMRunConfig,
    HorizonConfig,
    RunConfig,
    TextConfig,
    Word2VecConfig,
    Word2VecRunConfig,
    preset,
)
from rnnlab.core.data.datasets import config_dataset, dataset_name
from rnnlab.core.device import describe_device
from rnnlab.core.figures import static
from rnnlab.core.jobs.estimate import (
    Estimate,
    hmm_seconds,
    horizon_seconds,
    plural,
    training_seconds,
    word2vec_seconds,
)
from rnnlab.core.jobs.names import FINISHED, GRADIENTS_FILE, REPORT_DIR, WORD2VEC_FILE
from rnnlab.core.jobs.store import Run, RunStore
from rnnlab.core.jobs.vectors import resolve_vectors, with_vectors
from rnnlab.core.sweep.job import execute_runs
from rnnlab.core.tasks.synthetic import ADDING_SUCCESS_MSE

WORD2VEC_GROUP = "embeddings: word2vec init"


def _overrides(ec: ExperimentConfig) -> dict[str, Any]:
    o = {"epochs": ec.epochs, "limit": ec.limit, "val_size": ec.val_size, "hidden_size": ec.hidden_size,
         "device": ec.device, "threads": ec.threads, "imdb_path": ec.imdb_path, "bf16": ec.bf16 or None,
         "dataset": config_dataset(ec.dataset)}
    return {k: v for k, v in o.items() if v is not None}


def planned_runs(ec: ExperimentConfig, word2vec_run: str | None = None) -> list[tuple[str, RunConfig]]:
    """(group, config) of every RNN run the experiment needs (the word2vec arm needs its vectors' run)."""
    plan = []
    for seed in ec.seeds:
        for cell in ec.cells:
            plan.append(("main", preset(ec.preset, cell=cell, seed=seed, record_gradients=True, **_overrides(ec))))
    if not ec.ablations:
        return plan
    for base in _ablation_bases(ec):
        plan.append(("batching: bucket", base))
        plan.append(("batching: fixed 500", replace(base, train=replace(base.train, batching="fixed"))))
        plan.append(("stop words: keep negations", replace(base, text=replace(base.text, keep_negations=True))))
    return plan + (word2vec_runs(ec, word2vec_run) if word2vec_run else [])


def word2vec_runs(ec: ExperimentConfig, word2vec_run: str) -> list[tuple[str, RunConfig]]:
    """The word2vec-initialisation arm: the ablations' reference LSTM started from ``word2vec_run``'s vectors."""
    return [(WORD2VEC_GROUP, replace(base, train=replace(base.train, embeddings=word2vec_run)))
            for base in _ablation_bases(ec)]


def _ablation_bases(ec: ExperimentConfig) -> list[RunConfig]:
    """The ablations' reference: the ``fast`` LSTM, one per ablation seed."""
    seeds = ec.seeds if ec.ablation_seeds is None else ec.ablation_seeds
    return [preset("fast", cell="lstm", seed=seed, **_overrides(ec)) for seed in seeds]


# -- the estimate, before anything starts ------------------------------------------------------------------------
def experiment_seconds(ec: ExperimentConfig, store: RunStore) -> Estimate:
    """The seed experiment's wall time: the sum of its trainings, word2vec, the GMM-HMM and the memory-horizon
    study; a part that a finished run already holds is reused and costs nothing."""
    parts: list[tuple[str, float]] = []
    unknown: list[str] = []
    reused = 0

    def add(name: str, kind: str, cfg: Any, est: Estimate) -> None:
        nonlocal reused
        if store.find_finished(kind, cfg) is not None:
            reused += 1
            return
        if est.seconds is None:
            unknown.extend(est.unknown or (name,))
        else:
            parts.append((name, est.seconds))

    plan = planned_runs(ec)
    if ec.ablations and ec.word2vec:  # the arm's LSTMs train as fast as their base: the vectors' id does not matter
        plan += word2vec_runs(ec, "pending")
    trainings = 0.0
    for _, cfg in plan:
        est = training_seconds(cfg, store)
        if store.find_finished("rnn", cfg) is not None:
            reused += 1
        elif est.seconds is None:
            unknown.append(f"{cfg.model.cell.upper()} training")
        else:
            trainings += est.seconds
    if trainings:
        parts.append((plural(len(plan), "training"), trainings))
    if ec.ablations and ec.word2vec:
        w2v = Word2VecRunConfig(data=experiment_data(ec), text=TextConfig(),
                                word2vec=Word2VecConfig(algo=ec.word2vec_algo))
        add("word2vec", "word2vec", w2v, word2vec_seconds(w2v, store))
    if ec.hmm:
        limit = ec.hmm_limit if ec.limit is None else min(ec.hmm_limit or ec.limit, ec.limit)
        h = HMMRunConfig(data=experiment_data(ec), text=TextConfig(), hmm=HMMConfig(limit=limit))
        parts.append(("GMM-HMM", hmm_seconds(h, store).seconds or 0.0))
    if ec.horizon:
        hz = HorizonConfig(lengths=ec.horizon_lengths, steps=ec.horizon_steps, device=ec.device)
        est = horizon_seconds(hz, store)
        if est.seconds is None:
            unknown.append("the memory-horizon study")
        else:
            parts.append(("memory horizon", est.seconds))
    unknown = list(dict.fromkeys(unknown))
    total = sum(s for _, s in parts)
    basis = "the sum of its parts, each measured from finished runs of its kind"
    if reused:
        basis += f"; {plural(reused, 'part')} already done here and reused"
    if unknown:
        basis += f"; not measured yet, so not counted: {', '.join(unknown)}"
    return Estimate(total if parts else None, basis + ".", tuple(parts), tuple(unknown))


def _row(group: str, run: Run) -> dict[str, Any]:
    cfg, tm = run.config(), run.test_metrics() or {}
    return {"group": group, "run_id": run.id, "model": cfg.model.cell, "preset": cfg.train.preset,
            "batching": cfg.train.batching, "keep_negations": cfg.text.keep_negations, "seed": cfg.train.seed,
            "accuracy": tm.get("accuracy"), "precision": tm.get("precision"), "recall": tm.get("recall"),
            "f1": tm.get("f1"), "roc_auc": tm.get("roc_auc"), "train_time_s": tm.get("train_time_s"),
            "samples_per_s": tm.get("train_samples_per_s"), "wall_time_s": tm.get("wall_time_s"),
            "device": tm.get("device"), "bf16": cfg.train.bf16, "params_pytorch": tm.get("params_recurrent_pytorch"),
            "params_seed_formula": tm.get("params_recurrent_seed_formula")}


def summarise(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean and standard deviation over seeds, with the number of runs behind each row."""
    metrics = ["accuracy", "precision", "recall", "f1", "roc_auc", "train_time_s", "samples_per_s"]
    g = rows.groupby(by, sort=False)
    out = g[metrics].mean().add_suffix("_mean")
    std = g[metrics].std(ddof=1).fillna(0.0).add_suffix("_std")
    out = out.join(std)
    out["runs"] = g.size()
    return out.reset_index()


def _png(fig: Any, path: Path) -> str:
    """Write a PNG and an SVG beside it (same name) with kaleido; a missing browser leaves the report usable.

    Returns the PNG's name, which the report shows, or why it was not rendered (the CSV beside
    the report still holds the figure's data). An SVG that fails alone costs only the SVG.
    """
    try:
        path.write_bytes(fig.to_image(format="png", width=900, height=500, scale=1))
    except Exception as e:  # kaleido needs a Chrome: say so, with the fix, instead of failing the report
        return f"(figure not rendered: {static.problem_line(e)})"
    try:
        path.with_suffix(".svg").write_bytes(fig.to_image(format="svg", width=900, height=500))
    except Exception:  # the PNG is what the report links; the vector copy is a bonus
        path.with_suffix(".svg").unlink(missing_ok=True)
    return path.name


def _summary_md(summary: pd.DataFrame, key: str) -> str:
    """A summary as a readable table: ``mean ± std`` per metric (the CSV keeps them apart)."""
    cols = {"accuracy": ("accuracy", "{:.4f}"), "precision": ("precision", "{:.4f}"), "recall": ("recall", "{:.4f}"),
            "f1": ("F1", "{:.4f}"), "roc_auc": ("ROC-AUC", "{:.4f}"), "train_time_s": ("training time (s)", "{:.1f}"),
            "samples_per_s": ("samples/s", "{:.0f}")}
    table = pd.DataFrame({key: summary[key], "runs": summary["runs"]})
    for metric, (name, fmt) in cols.items():
        if f"{metric}_mean" in summary:
            table[name] = [f"{fmt.format(m)} ± {fmt.format(sd)}" if pd.notna(m) else "-"
                           for m, sd in zip(summary[f"{metric}_mean"], summary[f"{metric}_std"], strict=True)]
    return _md_table(table)


def _md_table(df: pd.DataFrame, floatfmt: str = "{:.4f}") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = [floatfmt.format(v) if isinstance(v, float) and not np.isnan(v) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)




def experiment_job(ctx: Any, ec: ExperimentConfig) -> None:
    """Do (or reuse) every run as a child run, then write the report into ``<run>/report/`` (the ``experiment`` kind).

    Each training, the word2vec vectors, the GMM-HMM fit and the memory-horizon study is an
    ordinary run of its kind, started inside this job (:meth:`~core.jobs.lifecycle.JobContext.child`)
    and reused when a finished run has exactly the same resolved config, so an interrupted
    experiment resumes where it stopped.
    """
    out = ctx.run.path / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    done = _train_all(ctx, planned_runs(ec), ec)
    w2v = None
    if ec.ablations and ec.word2vec:  # after the other runs: its vectors may be training elsewhere meanwhile
        w2v = _word2vec(ctx, ec)
        done += _train_all(ctx, word2vec_runs(ec, w2v["run_id"]), ec)
    rows = pd.DataFrame([_row(g, r) for g, r in done])
    rows.to_csv(out / "runs.csv", index=False)
    main = rows[rows.group == "main"]
    main_summary = summarise(main, ["model"])
    main_summary.to_csv(out / "results.csv", index=False)
    ablation = rows[rows.group != "main"]
    ablation_summary = summarise(ablation, ["group"]) if len(ablation) else pd.DataFrame()
    if len(ablation_summary):
        ablation_summary.to_csv(out / "ablations.csv", index=False)

    hmm_row = _hmm(ctx, ec, w2v["run_id"] if w2v else None) if ec.hmm else None
    horizon, horizon_run = _horizon(ctx, ec) if ec.horizon else (None, None)
    ctx.progress(phase="writing the report")
    figures = _figures(main, done, horizon, out)
    # the run time behind the report, whichever invocation trained each run
    behind = [r for _, r in done] + [ctx.store.get(x["run_id"]) for x in (w2v, hmm_row) if x] + \
        ([horizon_run] if horizon_run else [])
    timing = {"elapsed_s": time.time() - t0, "runs": len(behind), "run_time_s": sum(map(_run_seconds, behind))}
    _write_report(ec, out, main, main_summary, ablation_summary, hmm_row, horizon, figures, timing, w2v)


def report_folder(run: Run) -> Path:
    """Where an experiment run keeps its report (``report.md`` with CSV and PNG files beside it)."""
    return run.path / REPORT_DIR


def _train_all(ctx: Any, plan: list[tuple[str, RunConfig]], ec: ExperimentConfig) -> list[tuple[str, Run]]:
    """Train (or reuse) every planned run: one after another as child runs of this job, or with ``ec.parallel``
    at once through the sweep's executor (each in its own process, or a Ray task: :mod:`core.sweep.executors`)."""
    if ec.executor == "local" and ec.parallel == 1:
        done: list[tuple[str, Run]] = []
        for i, (group, cfg) in enumerate(plan):
            ctx.progress(phase=f"run {i + 1} of {len(plan)}: {cfg.model.cell} ({group}, seed {cfg.train.seed})")
            done.append((group, ctx.child("rnn", cfg)))
        return done
    ctx.progress(phase=f"{len(plan)} runs, {ec.parallel} at a time ({ec.executor})")
    placed = execute_runs(ctx, [cfg for _, cfg in plan], label=None, executor_name=ec.executor,
                          parallel=ec.parallel, address=ec.address)
    unfinished = [(run.id, run.status().get("state")) for run, _ in placed if run.status().get("state") != FINISHED]
    if unfinished:
        raise RuntimeError(f"{len(unfinished)} of the experiment's trainings did not finish: "
                           + ", ".join(f"{i} ({s})" for i, s in unfinished))
    return [(group, run) for (group, _), (run, _) in zip(plan, placed, strict=True)]


def experiment_data(ec: ExperimentConfig) -> DataConfig:
    """The data of the experiment's word2vec and GMM-HMM runs (its trainings' are the same)."""
    return DataConfig(imdb_path=ec.imdb_path, limit=ec.limit, val_size=ec.val_size, dataset=config_dataset(ec.dataset))


def _word2vec(ctx: Any, ec: ExperimentConfig) -> dict[str, Any]:
    """A finished word2vec run on this data (reused), else a new one; its id and training time."""
    ctx.progress(phase=f"word2vec ({ec.word2vec_algo})")
    cfg = Word2VecRunConfig(data=experiment_data(ec), text=TextConfig(), word2vec=Word2VecConfig(algo=ec.word2vec_algo))
    run = ctx.child("word2vec", cfg, label=f"word2vec-{ec.word2vec_algo}")
    info = run.read_json(WORD2VEC_FILE) if run.file(WORD2VEC_FILE).is_file() else {}
    return {"run_id": run.id, "algo": ec.word2vec_algo, "train_time_s": info.get("train_time_s")}


def _hmm(ctx: Any, ec: ExperimentConfig, word2vec_run: str | None) -> dict[str, Any]:
    """The GMM-HMM with exactly this experiment's settings (states, mixtures, size, data), reused or fitted."""
    limit = ec.hmm_limit if ec.limit is None else min(ec.hmm_limit or ec.limit, ec.limit)
    cfg = HMMRunConfig(data=experiment_data(ec), text=TextConfig(), hmm=HMMConfig(limit=limit, embeddings=word2vec_run))
    cfg, w2v_first = resolve_vectors(cfg, ctx.store)
    if w2v_first is not None:
        w2v = ctx.child("word2vec", w2v_first, label="word2vec-skipgram")
        cfg = with_vectors(cfg, w2v.id)
    ctx.progress(phase="GMM-HMM")
    run = ctx.child("hmm", cfg, label="gmmhmm")
    tm = run.test_metrics() or {}
    return {"run_id": run.id, "accuracy": tm.get("accuracy"), "f1": tm.get("f1"), "roc_auc": tm.get("roc_auc"),
            "fit_time_s": tm.get("fit_time_s"), "train_size": tm.get("train_size")}


def _horizon(ctx: Any, ec: ExperimentConfig) -> tuple[pd.DataFrame, Run]:
    ctx.progress(phase="memory horizon")
    settings = HorizonConfig(lengths=ec.horizon_lengths, steps=ec.horizon_steps, device=ec.device)
    run = ctx.child("memory-horizon", settings, label=f"memory-horizon-{settings.task}")
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "history"} for r in horizon_rows(run)])
    return table, run


def _run_seconds(run: Run) -> float:
    """How long a finished run took, start to finish (0 when its status lacks the times)."""
    st = run.status()
    started, finished = st.get("started"), st.get(FINISHED)
    return float(finished - started) if started and finished else 0.0

def _figures(main: pd.DataFrame, done: list[tuple[str, Run]], horizon: pd.DataFrame | None,
             out: Path) -> dict[str, str]:
    try:  # plotly is optional on a training-only install (a GPU box): the report keeps its tables without it
        from rnnlab.core.figures import comparison, gradients
    except ImportError as e:
        comparison = gradients = None
        missing = f"(figure not rendered: {e.name or 'plotting library'} not installed)"
    figs: dict[str, str] = {}
    table = main.assign(run=main["model"] + " s" + main["seed"].astype(str), test_accuracy=main["accuracy"])
    figs["metrics"] = _png(comparison.metric_bars(table), out / "test_metrics.png") if comparison else missing
    curves, cells = {}, {}
    for group, run in done:
        path = run.file(GRADIENTS_FILE)
        if group != "main" or not path.is_file():
            continue
        rec = load_gradients(path)
        name = f"{run.config().model.cell} s{run.config().train.seed}"
        curves[name] = rec["dh_mean"][-1, 0, 0]
        cells[name] = run.config().model.cell
    if curves:
        pd.DataFrame({k: pd.Series(v) for k, v in curves.items()}).rename_axis("k").to_csv(out / "gradient_decay.csv")
        figs["gradients"] = _png(gradients.decay_lines(curves, cells=cells, normalise=True),
                                 out / "gradient_decay.png") if gradients else missing
    if horizon is not None and len(horizon):
        horizon.to_csv(out / "memory_horizon.csv", index=False)
        if gradients:
            fig = gradients.horizon_figure(horizon.rename(columns={"model": "cell"}), "test_metric",
                                           ADDING_SUCCESS_MSE, higher_is_better=False, y="test MSE",
                                           title="Memory horizon (adding problem): held-out MSE")
            figs["horizon"] = _png(fig, out / "memory_horizon.png")
        else:
            figs["horizon"] = missing
    return figs


def _figure(alt: str, value: str | None) -> str:
    """Markdown for a figure: the image, or the reason it was not rendered."""
    if value and value.endswith(".png"):
        return f"![{alt}]({value})"
    return f"*{alt}: {value or 'figure not rendered'}; the CSV beside this report holds its data.*"


def _where(ec: ExperimentConfig, rows: pd.DataFrame) -> str:
    """Where the runs trained, from the runs themselves (reused runs may predate this invocation)."""
    devices = sorted({str(d) for d in rows.get("device", pd.Series(dtype=str)).dropna()})
    if devices == ["cpu"] and ec.threads:
        return f"CPU, {ec.threads} thread{'s' if ec.threads != 1 else ''} per run"
    if devices and all(d.startswith("cuda") for d in devices):
        try:
            return describe_device(devices[0])
        except ValueError:  # trained on a GPU this machine does not have
            return "CUDA GPU"
    return ", ".join(devices) or describe_device(ec.device)


def _write_report(ec, out, main, main_summary, ablation_summary, hmm_row, horizon, figures, timing,
                  w2v=None) -> None:
    name = dataset_name(ec.dataset)
    noun = "reviews" if name == "imdb" else "texts"
    parts = [
        f"# RNN Lab: the seed report's comparison on {name}",
        "",
        f"Produced by `python -m core experiment seed` in {timing['elapsed_s'] / 60:.1f} minutes (runs reused where "
        f"finished; the {timing['runs']} runs behind this report took {timing['run_time_s'] / 60:.1f} minutes "
        f"start to finish) on {_where(ec, main)}{' with bf16 autocast' if ec.bf16 else ''}. "
        f"Preset `{ec.preset}`; seeds {list(ec.seeds)}; "
        + (f"limit {ec.limit} {noun} per split of {name}; " if ec.limit else f"the full {name} splits; ")
        + f"epochs {ec.epochs or 5}.",
        "",
        "## Accuracy, F1 and training time",
        "",
        "Mean ± standard deviation over seeds (`runs`: how many runs are behind each row). "
        "Training time is the training loop (gradient recording included), samples/s its throughput.",
        "",
        _summary_md(main_summary, "model"),
        "",
        _figure("test metrics", figures.get("metrics")),
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
                  f"||dL/dh_{{T-k}}|| / ||dL/dh_T||, mean over the probe {noun}, at the end of training "
                  "([gradient_decay.csv](gradient_decay.csv)).", "",
                  _figure("gradient decay", figures["gradients"]), ""]
    if len(ablation_summary):
        parts += ["## Ablations (LSTM, `fast` preset)", "",
                  "`batching: bucket` is the reference: the `fast` preset as it is. `batching: fixed 500` pads "
                  f"every text to 500 tokens as the seed does; `stop words: keep negations` keeps not/no/nor "
                  "and the n't forms; `embeddings: word2vec init` starts the embedding layer from word2vec "
                  f"vectors trained on the training (and any unlabelled) {noun} of {name}.", "",
                  _summary_md(ablation_summary, "group"), ""]
        if w2v:
            t = w2v.get("train_time_s")
            parts += [f"Word2vec vectors: run `{w2v['run_id']}` ({w2v['algo']}"
                      + (f", trained in {t:.0f} s" if t else "") + ").", ""]
    if horizon is not None and len(horizon):
        cols = [c for c in ("model", "seq_len", "success", "test_metric", "final_loss", "steps_to_success")
                if c in horizon]
        parts += ["## Memory horizon (adding problem)", "", _md_table(horizon[cols]), "",
                  _figure("memory horizon", figures.get("horizon")), ""]
    (out / "report.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
