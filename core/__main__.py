"""The command line: ``python -m core <command>``.

Commands: ``data info|download|install``, ``train``, ``runs``, ``predict``, ``embeddings train|neighbours``, ``hmm``,
``introspect``, ``memory-horizon``, ``explode``.
Each prints a clear one-line error (exit status 1) for bad input instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from core.config import CELLS, PRESETS, TASKS, preset


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _length_stats(path: str | None) -> dict[str, float]:
    import numpy as np

    from core.config import DataConfig, TextConfig
    from core.data.corpus import load_corpus

    # statistics of the whole official splits: no validation reviews carved out
    corpus = load_corpus(DataConfig(imdb_path=path, val_size=0), TextConfig())
    out = {}
    for name, split in corpus.splits.items():
        lens = split.lengths()
        if not len(lens):
            continue
        out[name] = {"mean": float(lens.mean()), "median": float(np.median(lens)),
                     "p95": float(np.percentile(lens, 95)), "max": int(lens.max()),
                     "truncated_at_max_len": int((lens >= TextConfig().max_len).sum())}
    return out


def cmd_data(args: argparse.Namespace) -> int:
    from core.data import imdb as data

    if args.action in ("download", "install"):
        return _data_job(args)
    info = data.data_info(args.imdb)
    if not args.no_stats:
        info["token_lengths_seed_pipeline"] = _length_stats(args.imdb)
    if args.json:
        _print_json(info)
    else:
        for k, v in info.items():
            print(f"{k}: {json.dumps(v, default=str) if isinstance(v, dict | list) else v}")
    return 0


def _data_job(args: argparse.Namespace) -> int:
    """``data download`` / ``data install ARCHIVE``, reporting to ``--progress-file`` when given."""
    from core.data import imdb as data
    from core.jobs.lifecycle import ProgressFile

    pf = ProgressFile(args.progress_file, action=args.action) if args.progress_file else None
    if pf is not None:
        pf.update(force=True, state="running", phase=args.action, done=0, total=0, error=None)
    try:
        if args.action == "download":
            path = data.download_imdb(progress=pf.bytes_done if pf is not None else None)
        else:
            if not args.archive:
                raise ValueError("usage: python -m core data install ARCHIVE")
            say = (lambda phase: pf.update(force=True, phase=phase)) if pf is not None else None
            path = data.install_archive(args.archive, move=args.move, progress=say)
    except BaseException as e:
        if pf is not None:
            pf.update(force=True, state="failed", error=str(e) or type(e).__name__)
        raise
    if pf is not None:
        pf.update(force=True, state="finished", phase="done", path=str(path))
    print(f"{'installed' if args.action == 'install' else 'downloaded'} to {path}")
    return 0


def _train_config(args: argparse.Namespace):
    overrides = {k: v for k, v in {
        "epochs": args.epochs, "limit": args.limit, "val_size": args.val_size, "num_layers": args.layers,
        "device": args.device,
        "imdb_path": args.imdb, "task": args.task, "seed": args.seed, "batch_size": args.batch_size,
        "lr": args.lr, "hidden_size": args.hidden, "embedding_dim": args.embedding_dim,
        "max_len": args.max_len, "batching": args.batching, "tbptt": args.tbptt,
        "probe_every": args.probe_every, "seq_len": args.seq_len, "train_steps": args.train_steps,
        "embeddings": args.embeddings, "threads": args.threads,
        "recurrent_init_radius": args.init_radius, "optimizer": args.optimizer,
    }.items() if v is not None}
    for flag in ("bidirectional", "record_gradients", "keep_negations", "bf16", "freeze_embeddings"):
        if getattr(args, flag):
            overrides[flag] = True
    if args.no_stopwords:
        overrides["remove_stopwords"] = False
    if args.no_flush_denormals:
        overrides["flush_denormals"] = False
    if args.clip is not None:
        overrides["clip_norm"] = args.clip if args.clip > 0 else None
    return preset(args.preset, cell=args.model, **overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from core.jobs.lifecycle import execute
    from core.jobs.store import RunStore

    store = RunStore(args.runs_dir)
    if args.run_id:  # a job created (and configured) by `launch`
        run = store.get(args.run_id)
        cfg = run.config()
    else:
        cfg = _train_config(args)
        run = store.create(cfg)
    if args.dry_run:
        _print_json(cfg.to_dict())
        return 0
    print(f"run {run.id}: training {cfg.model.cell} on {cfg.train.task} ({cfg.train.preset} preset)",
          file=sys.stderr)
    execute(cfg, store, run, progress=True, queued=args.queue)
    tm = run.test_metrics() or {}
    status = run.status()["state"]
    if tm.get("f1") is not None:
        print(f"test accuracy {tm['accuracy']:.4f}  F1 {tm['f1']:.4f}  train time {tm['train_time_s']:.1f}s",
              file=sys.stderr)
    elif tm.get("success") is not None:  # a synthetic task (core.tasks.synthetic)
        figure = f"MSE {tm['mse']:.4f}" if "mse" in tm else f"accuracy {tm['accuracy']:.4f}"
        print(f"test {figure}  success {tm['success']}  train time {tm['train_time_s']:.1f}s", file=sys.stderr)
    print(f"{status}: {run.id}", file=sys.stderr)
    print(run.id)
    return 0 if status in ("finished", "cancelled") else 1


def cmd_runs(args: argparse.Namespace) -> int:
    from core.jobs.store import RunStore

    store = RunStore(args.runs_dir)
    if args.delete:
        store.delete(args.delete)
        print(f"deleted {args.delete}")
        return 0
    rows = store.summaries()
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"no runs in {store.root}: train one with `python -m core train --model lstm`")
        return 0
    print(f"{'run':40} {'model':6} {'status':9} {'test acc':>8} {'F1':>6} {'train s':>8}")
    for r in rows:
        acc = f"{r['test_accuracy']:.4f}" if r["test_accuracy"] is not None else "-"
        f1 = f"{r['f1']:.3f}" if r["f1"] is not None else "-"
        tt = f"{r['train_time_s']:.1f}" if r["train_time_s"] is not None else "-"
        print(f"{r['run_id']:40} {str(r['model']):6} {str(r['status']):9} {acc:>8} {f1:>6} {tt:>8}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from core.analysis.predict import predict_runs

    run_ids = [r for r in (args.runs or "").split(",") if r] + ([args.run_id] if args.run_id else [])
    if not run_ids:
        raise ValueError("name a run: `python -m core predict RUN_ID \"text\"` or --runs A,B,C")
    results = predict_runs(run_ids, args.text, runs_dir=args.runs_dir)
    if args.json:
        _print_json(results)
        return 0
    for r in results:
        note = " (truncated)" if r.get("truncated") else ""
        print(f"{r['run_id']}: {r['label']}  p(positive)={r['probability']:.4f}  tokens={r['n_tokens']}{note}")
    return 0


def cmd_embeddings(args: argparse.Namespace) -> int:
    from core.models.word2vec import Word2VecConfig, load_vectors, train_word2vec

    if args.action == "train":
        from core.config import DataConfig, TextConfig
        from core.jobs.store import RunStore

        w2v = {k: v for k, v in {"algo": args.algo, "dim": args.dim, "epochs": args.epochs, "window": args.window,
                                 "min_count": args.min_count, "seed": args.seed}.items() if v is not None}
        data = DataConfig(imdb_path=args.imdb, limit=args.limit,
                          **({"val_size": args.val_size} if args.val_size is not None else {}))
        run = train_word2vec(Word2VecConfig(**w2v), data, TextConfig(),
                             store=RunStore(args.runs_dir) if args.runs_dir else None,
                             say=lambda msg: print(msg, file=sys.stderr))
        info = run.read_json("word2vec.json")
        print(f"{info['vocab_size']} words, {info['corpus_tokens']} tokens, trained in {info['train_time_s']:.1f}s",
              file=sys.stderr)
        print(run.id)
        return 0
    if not args.run_id or not args.word:
        raise ValueError("usage: python -m core embeddings neighbours RUN_ID WORD")
    wv = load_vectors(args.run_id, args.runs_dir)
    pairs = wv.neighbours(args.word.lower(), args.k)
    if args.json:
        _print_json([{"word": w, "similarity": s} for w, s in pairs])
    else:
        for w, s in pairs:
            print(f"{s:.4f}  {w}")
    return 0


def cmd_hmm(args: argparse.Namespace) -> int:
    from core.config import DataConfig, TextConfig
    from core.jobs.store import RunStore
    from core.models.hmm import HMMConfig, train_hmm_run

    hcfg = {k: v for k, v in {"states": args.states, "mix": args.mix, "dim": args.dim,
                              "covariance_type": args.covariance, "n_iter": args.iter, "restarts": args.restarts,
                              "limit": args.limit, "test_limit": args.test_limit, "seed": args.seed,
                              "embeddings": args.embeddings}.items() if v is not None}
    data = DataConfig(imdb_path=args.imdb, **({"val_size": args.val_size} if args.val_size is not None else {}))
    run = train_hmm_run(HMMConfig(**hcfg), data, TextConfig(),
                        store=RunStore(args.runs_dir) if args.runs_dir else None,
                        say=lambda msg: print(msg, file=sys.stderr))
    tm = run.test_metrics() or {}
    print(f"test accuracy {tm['accuracy']:.4f}  F1 {tm['f1']:.4f}  fit time {tm['fit_time_s']:.1f}s  "
          f"({tm['train_size']} of {tm['train_size_available']} training reviews)", file=sys.stderr)
    print(run.id)
    return 0


def cmd_introspect(args: argparse.Namespace) -> int:
    from core.analysis.introspect import introspect

    out = introspect(args.run_id, args.text, runs_dir=args.runs_dir)
    if args.json:
        _print_json(out.to_dict())
        return 0
    print(f"{out.run_id} ({out.cell}): {out.label}  p(positive)={out.probability:.4f}  "
          f"{len(out.tokens)} tokens  {out.elapsed_ms:.1f} ms")
    for note in out.notes:
        print(f"  note: {note}")
    print(f"{'token':20} {'p(pos) so far':>13} {'saliency':>9}")
    for i, tok in enumerate(out.tokens):
        mark = " (unknown)" if out.unknown[i] else ""
        print(f"{tok[:20]:20} {out.running_probability[i]:13.4f} {out.saliency[i]:9.4f}{mark}")
    dropped = [f"{w.word} ({w.fate})" for w in out.words if w.fate not in ("kept", "unknown")]
    if dropped:
        print("not read: " + ", ".join(dropped))
    return 0


def cmd_memory_horizon(args: argparse.Namespace) -> int:
    import torch

    from core.analysis.horizon import HorizonSettings, memory_horizon
    from core.jobs.store import RunStore

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = HorizonSettings(
        task=args.task, models=tuple(m for m in args.models.split(",") if m),
        lengths=tuple(int(n) for n in args.lengths.split(",") if n), steps=args.steps, evals=args.evals,
        stop_on_success=not args.full_budget, lr=args.lr, hidden_size=args.hidden, seed=args.seed,
        record_gradients=not args.no_gradients, tbptt=args.tbptt)
    run, rows = memory_horizon(settings, RunStore(args.runs_dir), device=args.device,
                               progress=None if args.json else (lambda msg: print(msg, file=sys.stderr)))
    if args.json:
        _print_json({"run_id": run.id, "settings": run.config_dict().get("memory_horizon"),
                     "rows": [{k: v for k, v in r.items() if k != "history"} for r in rows]})
        return 0
    metric = "test MSE" if settings.task == "adding" else "test acc"
    print(f"{'model':6} {'T':>5} {'success':>8} {metric:>9} {'final loss':>10} {'steps to success':>16} "
          f"{'steps':>6} {'train s':>8}")
    for r in rows:
        to_success = r["steps_to_success"] if r["steps_to_success"] is not None else "-"
        print(f"{r['model']:6} {r['seq_len']:>5} {str(r['success']):>8} {r['test_metric']:>9.4f} "
              f"{r['final_loss']:>10.4f} {to_success!s:>16} {r['steps']:>6} {r['train_time_s']:>8.1f}")
    print(f"stored in run {run.id}", file=sys.stderr)
    return 0


def cmd_explode(args: argparse.Namespace) -> int:
    import torch

    from core.analysis.horizon import explosion_configs, explosion_summary
    from core.jobs.lifecycle import execute
    from core.jobs.store import RunStore

    if args.threads:
        torch.set_num_threads(args.threads)
    configs = explosion_configs(steps=args.steps, seq_len=args.seq_len, radius=args.radius, clip=args.clip,
                                lr=args.lr)
    names = [n for n in (args.configs.split(",") if args.configs else configs) if n]
    unknown = set(names) - set(configs)
    if unknown:
        raise ValueError(f"unknown configurations {sorted(unknown)}; expected some of {sorted(configs)}")
    store = RunStore(args.runs_dir)
    out = {}
    for name in names:
        run = store.create(configs[name], label=f"explode-{name}")
        execute(configs[name], store, run)
        out[name] = explosion_summary(run)
    if args.json:
        _print_json(out)
        return 0
    print(f"{'config':10} {'steps':>5} {'skipped':>7} {'clipped':>7} {'median |g|':>11} {'max |g|':>10} "
          f"{'test MSE':>8}  run")
    for name, s in out.items():
        med = f"{s['grad_norm_median']:.3g}" if s["grad_norm_median"] is not None else "-"
        mx = f"{s['grad_norm_max']:.3g}" if s["grad_norm_max"] is not None else "-"
        mse = f"{s['test_mse']:.4g}" if s["test_mse"] is not None else "-"
        print(f"{name:10} {s['steps']:>5} {s['skipped_non_finite']:>7} {s['clipped']:>7} {med:>11} {mx:>10} "
              f"{mse:>8}  {s['run_id']}")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from core.jobs.store import RunStore
    from core.report.experiment import ExperimentConfig, run_experiment

    ec = ExperimentConfig(
        preset=args.preset, seeds=tuple(int(x) for x in args.seeds.split(",") if x), epochs=args.epochs,
        ablation_seeds=tuple(int(x) for x in args.ablation_seeds.split(",") if x) if args.ablation_seeds else None,
        limit=args.limit, val_size=args.val_size, hidden_size=args.hidden, device=args.device, imdb_path=args.imdb,
        ablations=not args.no_ablations, word2vec=not args.no_word2vec, word2vec_algo=args.word2vec_algo,
        bf16=args.bf16, hmm=not args.no_hmm, hmm_limit=args.hmm_limit, horizon=not args.no_horizon,
        horizon_lengths=tuple(int(x) for x in args.horizon_lengths.split(",") if x),
        horizon_steps=args.horizon_steps)
    report = run_experiment(ec, args.out, RunStore(args.runs_dir),
                            say=lambda msg: print(msg, file=sys.stderr))
    print(report)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="RNN Lab: recurrent networks on IMDB reviews")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="the IMDB dataset: info, download, install an archive into the cache")
    d.add_argument("action", choices=["info", "download", "install"])
    d.add_argument("archive", nargs="?", help="install: an aclImdb_v1.tar.gz to validate and copy into the cache")
    d.add_argument("--progress-file", help="download/install: keep a JSON progress file for pollers (the dashboard)")
    d.add_argument("--move", action="store_true", help=argparse.SUPPRESS)  # install a staged upload by renaming it
    d.add_argument("--imdb", help="aclImdb_v1.tar.gz or an extracted aclImdb/ folder (else $RNNLAB_IMDB, cache)")
    d.add_argument("--json", action="store_true")
    d.add_argument("--no-stats", action="store_true", help="skip the token-length statistics (no preprocessing)")
    d.set_defaults(func=cmd_data)

    t = sub.add_parser("train", help="train one model and evaluate it on the test split")
    t.add_argument("--model", choices=CELLS, default="lstm")
    t.add_argument("--preset", choices=PRESETS, default="seed")
    t.add_argument("--task", choices=TASKS)
    t.add_argument("--epochs", type=int)
    t.add_argument("--limit", type=int, help="at most N reviews per split (smoke tests)")
    t.add_argument("--val-size", type=int, help="training reviews held out for checkpoint selection")
    t.add_argument("--layers", type=int)
    t.add_argument("--bidirectional", action="store_true")
    t.add_argument("--hidden", type=int)
    t.add_argument("--embedding-dim", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--clip", type=float, help="gradient-norm clipping threshold; 0 turns clipping off")
    t.add_argument("--optimizer", choices=["adam", "sgd"], help="Adam (default) or plain SGD")
    t.add_argument("--max-len", type=int)
    t.add_argument("--batching", choices=["fixed", "bucket"])
    t.add_argument("--keep-negations", action="store_true", help="keep not/no/nor and n't despite the stop list")
    t.add_argument("--no-stopwords", action="store_true", help="switch stop-word removal off")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="auto, cpu, cuda, cuda:1, mps")
    t.add_argument("--threads", type=int, help="torch threads on the CPU")
    t.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    t.add_argument("--no-flush-denormals", action="store_true",
                   help="compute denormal floats exactly on the CPU (several times slower)")
    t.add_argument("--tbptt", type=int, help="truncated BPTT: detach the state every N steps")
    t.add_argument("--record-gradients", action="store_true")
    t.add_argument("--probe-every", type=int)
    t.add_argument("--seq-len", type=int, help="sequence length of a synthetic task")
    t.add_argument("--train-steps", type=int, help="optimiser steps of a synthetic task")
    t.add_argument("--init-radius", type=float, help="initial spectral radius of the recurrent weights")
    t.add_argument("--embeddings", help="word2vec run id to initialise the embedding layer")
    t.add_argument("--freeze-embeddings", action="store_true")
    t.add_argument("--imdb", help="aclImdb_v1.tar.gz or an extracted aclImdb/ folder")
    t.add_argument("--runs-dir", help="where runs are stored (default $RNNLAB_HOME/runs)")
    t.add_argument("--run-id", help=argparse.SUPPRESS)  # train a run `launch` created
    t.add_argument("--queue", action="store_true", help="wait for other queued trainings to finish first")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("runs", help="list runs")
    r.add_argument("--json", action="store_true")
    r.add_argument("--delete", metavar="RUN_ID")
    r.add_argument("--runs-dir")
    r.set_defaults(func=cmd_runs)

    pr = sub.add_parser("predict", help="classify a text with one or several runs")
    pr.add_argument("run_id", nargs="?")
    pr.add_argument("text")
    pr.add_argument("--runs", help="comma-separated run ids")
    pr.add_argument("--json", action="store_true")
    pr.add_argument("--runs-dir")
    pr.set_defaults(func=cmd_predict)

    em = sub.add_parser("embeddings", help="word2vec: train vectors, list a word's nearest neighbours")
    em.add_argument("action", choices=["train", "neighbours"])
    em.add_argument("run_id", nargs="?", help="neighbours: the word2vec run")
    em.add_argument("word", nargs="?", help="neighbours: the word")
    em.add_argument("--algo", choices=["cbow", "skipgram"])
    em.add_argument("--dim", type=int, help="vector size (default 100, the models' embedding size)")
    em.add_argument("--epochs", type=int)
    em.add_argument("--window", type=int)
    em.add_argument("--min-count", type=int)
    em.add_argument("--seed", type=int)
    em.add_argument("--limit", type=int, help="at most N training and N unlabelled reviews")
    em.add_argument("--val-size", type=int, help="training reviews held out (as for RNN runs; never read here)")
    em.add_argument("-k", type=int, default=10, help="neighbours: how many")
    em.add_argument("--json", action="store_true")
    em.add_argument("--imdb", help="aclImdb_v1.tar.gz or an extracted aclImdb/ folder")
    em.add_argument("--runs-dir")
    em.set_defaults(func=cmd_embeddings)

    hm = sub.add_parser("hmm", help="fit the GMM-HMM baseline (one GMMHMM per class) and evaluate it")
    hm.add_argument("--states", type=int, help="hidden states M per class model (default 4)")
    hm.add_argument("--mix", type=int, help="Gaussian components k per state (default 2)")
    hm.add_argument("--dim", type=int, help="PCA dimensions of the word2vec vectors (default 12)")
    hm.add_argument("--covariance", choices=["diag", "spherical", "full", "tied"])
    hm.add_argument("--iter", type=int, help="Baum-Welch iterations at most (default 20)")
    hm.add_argument("--restarts", type=int, help="random initialisations; the best is kept (default 3)")
    hm.add_argument("--limit", type=int, help="at most N training reviews (balanced); default all")
    hm.add_argument("--test-limit", type=int, help="at most N test reviews (balanced); default all")
    hm.add_argument("--val-size", type=int, help="training reviews held out, as for the RNN runs (default 2500)")
    hm.add_argument("--seed", type=int)
    hm.add_argument("--embeddings", help="word2vec run id (default: the newest; trained if there is none)")
    hm.add_argument("--imdb", help="aclImdb_v1.tar.gz or an extracted aclImdb/ folder")
    hm.add_argument("--runs-dir")
    hm.set_defaults(func=cmd_hmm)

    ins = sub.add_parser("introspect", help="per token: running probability, saliency (--json: every gate)")
    ins.add_argument("run_id")
    ins.add_argument("text")
    ins.add_argument("--json", action="store_true", help="everything, gates and states included")
    ins.add_argument("--runs-dir")
    ins.set_defaults(func=cmd_introspect)
    mh = sub.add_parser("memory-horizon", help="train RNN, LSTM and GRU on a long-range memory task for each length")
    mh.add_argument("--task", choices=["adding", "order"], default="adding")
    mh.add_argument("--models", default="rnn,lstm,gru", help="comma-separated cell types")
    mh.add_argument("--lengths", default="10,25,50,100,200", help="comma-separated sequence lengths T")
    mh.add_argument("--steps", type=int, default=2000, help="optimiser steps per model and length (the budget)")
    mh.add_argument("--evals", type=int, default=20, help="held-out evaluations over the budget")
    mh.add_argument("--full-budget", action="store_true", help="keep training after the first success")
    mh.add_argument("--lr", type=float, default=1e-2)
    mh.add_argument("--hidden", type=int, default=50)
    mh.add_argument("--seed", type=int, default=0)
    mh.add_argument("--tbptt", type=int, help="truncated BPTT: detach the state every N steps")
    mh.add_argument("--no-gradients", action="store_true", help="skip the gradient recordings")
    mh.add_argument("--threads", type=int, help="torch threads on the CPU")
    mh.add_argument("--device", default="cpu")
    mh.add_argument("--json", action="store_true")
    mh.add_argument("--runs-dir")
    mh.set_defaults(func=cmd_memory_horizon)

    ex = sub.add_parser("explode", help="exploding gradients of a vanilla RNN on the adding problem, and clipping")
    ex.add_argument("--configs", help="comma-separated: exploding, clipped, reference (default all)")
    ex.add_argument("--steps", type=int, default=300)
    ex.add_argument("--seq-len", type=int, default=50)
    ex.add_argument("--radius", type=float, default=2.0, help="initial spectral radius of the recurrent weights")
    ex.add_argument("--clip", type=float, default=1.0, help="the clipped configuration's threshold")
    ex.add_argument("--lr", type=float, default=0.05, help="plain SGD's learning rate")
    ex.add_argument("--threads", type=int, help="torch threads on the CPU")
    ex.add_argument("--json", action="store_true")
    ex.add_argument("--runs-dir")
    ex.set_defaults(func=cmd_explode)

    xp = sub.add_parser("experiment", help="the seed report's comparison end to end, with a report")
    xp.add_argument("name", choices=["seed"])
    xp.add_argument("--preset", choices=PRESETS, default="seed")
    xp.add_argument("--seeds", default="0", help="comma-separated training seeds")
    xp.add_argument("--ablation-seeds", help="seeds of the LSTM ablations (default: --seeds)")
    xp.add_argument("--epochs", type=int)
    xp.add_argument("--limit", type=int, help="at most N reviews per split (smoke runs)")
    xp.add_argument("--val-size", type=int)
    xp.add_argument("--hidden", type=int)
    xp.add_argument("--device", default="auto")
    xp.add_argument("--imdb")
    xp.add_argument("--out", default="docs/experiment", help="report folder")
    xp.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    xp.add_argument("--no-ablations", action="store_true")
    xp.add_argument("--no-word2vec", action="store_true", help="leave out the word2vec-initialisation arm")
    xp.add_argument("--word2vec-algo", choices=["skipgram", "cbow"], default="skipgram")
    xp.add_argument("--no-hmm", action="store_true")
    xp.add_argument("--hmm-limit", type=int, default=4000)
    xp.add_argument("--no-horizon", action="store_true")
    xp.add_argument("--horizon-lengths", default="10,25,50,100,200")
    xp.add_argument("--horizon-steps", type=int, default=2000)
    xp.add_argument("--runs-dir")
    xp.set_defaults(func=cmd_experiment)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # bad input ends in one clear line; RNNLAB_DEBUG=1 shows the traceback
        if os.environ.get("RNNLAB_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
