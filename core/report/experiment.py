"""The seed report's comparison end to end: ``python -m core experiment seed``.

Trains RNN, LSTM and GRU with the chosen preset over one or more seeds (gradients recorded),
the ablations on the LSTM (the seed's stop words against ``keep_negations``, fixed padding
against length buckets, random against word2vec-initialised embeddings), fits the GMM-HMM baseline, runs the
memory-horizon experiment, and writes a report folder: ``report.md``, CSV tables and PNG
figures drawn by the same Plotly builders the dashboard uses.

Resumable: a finished run whose configuration equals the one wanted is reused, so rerunning
the command only does what is missing. Not here: the training itself (``core.jobs.lifecycle``), the
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

from core.config import CELLS, RunConfig, preset
from core.device import describe_device, resolve_device
from core.jobs.store import Run, RunStore


@dataclass(frozen=True)
class ExperimentConfig:
    preset: str = "seed"  # preset of the main comparison
    seeds: tuple[int, ...] = (0,)  # one run per cell type and seed; mean and spread over seeds
    ablation_seeds: tuple[int, ...] | None = None  # seeds of the LSTM ablations; None = ``seeds``
    cells: tuple[str, ...] = CELLS
    epochs: int | None = None  # None = the preset's (5)
    limit: int | None = None  # reviews per split (smoke runs)
    val_size: int | None = None
    hidden_size: int | None = None
    device: str = "auto"
    threads: int | None = 1
    bf16: bool = False  # bf16 autocast on a CUDA GPU
    imdb_path: str | None = None
    ablations: bool = True  # LSTM: keep_negations, fixed vs bucketed batches, word2vec init (if word2vec)
    word2vec: bool = True  # train (or reuse) word2vec vectors for the initialisation arm
    word2vec_algo: str = "skipgram"
    hmm: bool = True
    hmm_limit: int | None = 4000  # training reviews of the GMM-HMM (Baum-Welch is slow in hmmlearn)
    horizon: bool = True
    horizon_lengths: tuple[int, ...] = (10, 25, 50, 100, 200)
    horizon_steps: int = 2000


WORD2VEC_GROUP = "embeddings: word2vec init"


def _overrides(ec: ExperimentConfig) -> dict[str, Any]:
    o = {"epochs": ec.epochs, "limit": ec.limit, "val_size": ec.val_size, "hidden_size": ec.hidden_size,
         "device": ec.device, "threads": ec.threads, "imdb_path": ec.imdb_path, "bf16": ec.bf16 or None}
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
    """Write a PNG with kaleido; a missing browser leaves the report usable (CSV beside it)."""
    try:
        path.write_bytes(fig.to_image(format="png", width=900, height=500, scale=1))
        return path.name
    except Exception as e:  # kaleido needs Chromium: say so in the report instead of failing it
        return f"(figure not rendered: {type(e).__name__})"


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


def run_experiment(ec: ExperimentConfig, out: str | Path, store: RunStore | None = None,
                   say: Callable[[str], None] = print) -> Path:
    """Do (or reuse) every run, then write ``out/report.md`` with its tables and figures."""
    store = store or RunStore()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    done = _train_all(planned_runs(ec), store, say)
    w2v = None
    if ec.ablations and ec.word2vec:  # after the other runs: its vectors may be training elsewhere meanwhile
        w2v = _word2vec(ec, store, say)
        done += _train_all(word2vec_runs(ec, w2v["run_id"]), store, say)
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
    horizon, horizon_run = _horizon(ec, store, say) if ec.horizon else (None, None)
    figures = _figures(main, done, horizon, out)
    # the run time behind the report, whichever invocation trained each run
    behind = [r for _, r in done] + [store.get(x["run_id"]) for x in (w2v, hmm_row) if x] + \
        ([horizon_run] if horizon_run else [])
    timing = {"elapsed_s": time.time() - t0, "runs": len(behind), "run_time_s": sum(map(_run_seconds, behind))}
    _write_report(ec, out, main, main_summary, ablation_summary, hmm_row, horizon, figures, timing, w2v)
    return out / "report.md"


def _train_all(plan: list[tuple[str, RunConfig]], store: RunStore,
               say: Callable[[str], None]) -> list[tuple[str, Run]]:
    """Train (or reuse) every planned run, with a progress bar over the runs."""
    from tqdm import tqdm

    from core.jobs.lifecycle import execute

    done: list[tuple[str, Run]] = []
    for group, cfg in tqdm(plan, desc="runs", unit="run"):
        run = find_finished(store, cfg)
        if run is None:
            say(f"training {cfg.model.cell} ({group}, seed {cfg.train.seed})")
            run = execute(cfg, store, progress=True)
        else:
            say(f"reusing {run.id} ({group})")
        done.append((group, run))
    return done


def _word2vec(ec: ExperimentConfig, store: RunStore, say: Callable[[str], None]) -> dict[str, Any]:
    """A finished word2vec run on this data (reused), else a new one; its id and training time."""
    from dataclasses import asdict

    from core.config import DataConfig, TextConfig
    from core.models.word2vec import Word2VecConfig, train_word2vec

    wcfg = Word2VecConfig(algo=ec.word2vec_algo)
    data = DataConfig(imdb_path=ec.imdb_path, limit=ec.limit,
                      **({"val_size": ec.val_size} if ec.val_size is not None else {}))
    want = {"word2vec": asdict(wcfg), "data": asdict(data), "text": asdict(TextConfig())}
    run = _reusable(store, "word2vec", lambda r: all(r.config_dict().get(k) == v for k, v in want.items()))
    if run:
        say(f"reusing word2vec run {run.id}")
    else:
        say(f"training word2vec ({wcfg.algo}) on the training and unlabelled reviews")
        run = train_word2vec(wcfg, data, TextConfig(), store=store, say=say)
    info = run.read_json("word2vec.json") if run.file("word2vec.json").is_file() else {}
    return {"run_id": run.id, "algo": wcfg.algo, "train_time_s": info.get("train_time_s")}


def _hmm(ec: ExperimentConfig, store: RunStore, say: Callable[[str], None]) -> dict[str, Any] | None:
    from core.config import DataConfig, TextConfig
    from core.models.hmm import HMMConfig, train_hmm_run

    hcfg = HMMConfig(limit=ec.hmm_limit if ec.limit is None else min(ec.hmm_limit or ec.limit, ec.limit))
    run = _reusable(store, "hmm", lambda r: bool(r.test_metrics()))
    if run:
        say(f"reusing GMM-HMM run {run.id}")
    else:
        data = DataConfig(imdb_path=ec.imdb_path, limit=ec.limit,
                          **({"val_size": ec.val_size} if ec.val_size is not None else {}))
        run = train_hmm_run(hcfg, data, TextConfig(), store=store, say=say)
    tm = run.test_metrics() or {}
    return {"run_id": run.id, "accuracy": tm.get("accuracy"), "f1": tm.get("f1"), "roc_auc": tm.get("roc_auc"),
            "fit_time_s": tm.get("fit_time_s"), "train_size": tm.get("train_size")}


def _horizon(ec: ExperimentConfig, store: RunStore, say: Callable[[str], None]) -> tuple[pd.DataFrame, Run]:
    from core.analysis.horizon import HorizonSettings, memory_horizon

    settings = HorizonSettings(lengths=ec.horizon_lengths, steps=ec.horizon_steps)

    def same_settings(r: Run) -> bool:
        mh = r.config_dict().get("memory_horizon", {})
        return mh.get("lengths") == list(ec.horizon_lengths) and mh.get("steps") == ec.horizon_steps

    run = _reusable(store, "memory-horizon", same_settings)
    if run:
        say(f"reusing memory-horizon run {run.id}")
        rows = run.read_json("results.json")
        rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
    else:
        run, rows = memory_horizon(settings, store, device=str(resolve_device(ec.device)), progress=say)
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "history"} for r in rows])
    return table, run


def _reusable(store: RunStore, kind: str, wanted: Callable[[Run], bool]) -> Run | None:
    """A finished run of ``kind`` that ``wanted`` accepts, if the store holds one (what makes reruns resume)."""
    for run in store.list():
        if run.kind == kind and run.status().get("state") == "finished" and wanted(run):
            return run
    return None


def _run_seconds(run: Run) -> float:
    """How long a finished run took, start to finish (0 when its status lacks the times)."""
    st = run.status()
    started, finished = st.get("started"), st.get("finished")
    return float(finished - started) if started and finished else 0.0

def _figures(main: pd.DataFrame, done: list[tuple[str, Run]], horizon: pd.DataFrame | None,
             out: Path) -> dict[str, str]:
    from core.analysis.gradients import load_gradients

    try:
        from dashboard import charts, inside
    except ImportError as e:  # a training-only install (a GPU box without plotly): tables still written
        charts = inside = None
        missing = f"(figure not rendered: {e.name or 'plotting library'} not installed)"
    figs: dict[str, str] = {}
    table = main.assign(run=main["model"] + " s" + main["seed"].astype(str), test_accuracy=main["accuracy"])
    figs["metrics"] = _png(charts.metric_bars(table), out / "test_metrics.png") if charts else missing
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
        pd.DataFrame({k: pd.Series(v) for k, v in curves.items()}).rename_axis("k").to_csv(out / "gradient_decay.csv")
        figs["gradients"] = _png(inside.decay_lines(curves, cells=cells, normalise=True),
                                 out / "gradient_decay.png") if inside else missing
    if horizon is not None and len(horizon):
        horizon.to_csv(out / "memory_horizon.csv", index=False)
        if inside:
            from core.tasks.synthetic import ADDING_SUCCESS_MSE

            fig = inside.horizon_figure(horizon.rename(columns={"model": "cell"}), "test_metric", ADDING_SUCCESS_MSE,
                                        higher_is_better=False, y="test MSE",
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
    parts = [
        "# RNN Lab: the seed report's comparison",
        "",
        f"Produced by `python -m core experiment seed` in {timing['elapsed_s'] / 60:.1f} minutes (runs reused where "
        f"finished; the {timing['runs']} runs behind this report took {timing['run_time_s'] / 60:.1f} minutes "
        f"start to finish) on {_where(ec, main)}{' with bf16 autocast' if ec.bf16 else ''}. "
        f"Preset `{ec.preset}`; seeds {list(ec.seeds)}; "
        + (f"limit {ec.limit} reviews per split; " if ec.limit else "the full IMDB splits; ")
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
                  "||dL/dh_{T-k}|| / ||dL/dh_T||, mean over the probe reviews, at the end of training "
                  "([gradient_decay.csv](gradient_decay.csv)).", "",
                  _figure("gradient decay", figures["gradients"]), ""]
    if len(ablation_summary):
        parts += ["## Ablations (LSTM, `fast` preset)", "",
                  "`batching: bucket` is the reference: the `fast` preset as it is. `batching: fixed 500` pads "
                  "every review to 500 tokens as the seed does; `stop words: keep negations` keeps not/no/nor "
                  "and the n't forms; `embeddings: word2vec init` starts the embedding layer from word2vec "
                  "vectors trained on the training and unlabelled reviews.", "",
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
