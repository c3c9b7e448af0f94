"""The command line: ``python -m core <command>``.

Commands: ``data info|download``, ``train``, ``runs``, ``predict``. Each prints a clear
one-line error (exit status 1) for bad input instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .config import CELLS, PRESETS, TASKS, preset


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _length_stats(path: str | None) -> dict[str, float]:
    import numpy as np

    from .config import DataConfig, TextConfig
    from .corpus import load_corpus

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
    from . import data

    if args.action == "download":
        path = data.download_imdb()
        print(f"downloaded to {path}")
        return 0
    info = data.data_info(args.imdb)
    if not args.no_stats:
        info["token_lengths_seed_pipeline"] = _length_stats(args.imdb)
    if args.json:
        _print_json(info)
    else:
        for k, v in info.items():
            print(f"{k}: {json.dumps(v, default=str) if isinstance(v, dict | list) else v}")
    return 0


def _train_config(args: argparse.Namespace):
    overrides = {k: v for k, v in {
        "epochs": args.epochs, "limit": args.limit, "val_size": args.val_size, "num_layers": args.layers, "device": args.device,
        "imdb_path": args.imdb, "task": args.task, "seed": args.seed, "batch_size": args.batch_size,
        "lr": args.lr, "hidden_size": args.hidden, "embedding_dim": args.embedding_dim,
        "max_len": args.max_len, "batching": args.batching, "tbptt": args.tbptt,
        "probe_every": args.probe_every, "seq_len": args.seq_len, "train_steps": args.train_steps,
        "embeddings": args.embeddings, "threads": args.threads,
        "recurrent_init_radius": args.init_radius,
    }.items() if v is not None}
    for flag in ("bidirectional", "record_gradients", "keep_negations", "bf16", "freeze_embeddings"):
        if getattr(args, flag):
            overrides[flag] = True
    if args.no_stopwords:
        overrides["remove_stopwords"] = False
    if args.clip is not None:
        overrides["clip_norm"] = args.clip if args.clip > 0 else None
    return preset(args.preset, cell=args.model, **overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from .jobs import execute
    from .runs import RunStore

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
    if tm.get("accuracy") is not None:
        print(f"test accuracy {tm['accuracy']:.4f}  F1 {tm['f1']:.4f}  train time {tm['train_time_s']:.1f}s",
              file=sys.stderr)
    print(f"{status}: {run.id}", file=sys.stderr)
    print(run.id)
    return 0 if status in ("finished", "cancelled") else 1


def cmd_runs(args: argparse.Namespace) -> int:
    from .runs import RunStore

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
    from .predict import predict_runs

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="RNN Lab: recurrent networks on IMDB reviews")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="the IMDB dataset: info, download")
    d.add_argument("action", choices=["info", "download"])
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
    t.add_argument("--max-len", type=int)
    t.add_argument("--batching", choices=["fixed", "bucket"])
    t.add_argument("--keep-negations", action="store_true", help="keep not/no/nor and n't despite the stop list")
    t.add_argument("--no-stopwords", action="store_true", help="switch stop-word removal off")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="auto, cpu, cuda, cuda:1, mps")
    t.add_argument("--threads", type=int, help="torch threads on the CPU")
    t.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
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
