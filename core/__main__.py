"""The command line: ``python -m core <command>``, also installed as ``rnnlab <command>`` (core.console).

Commands that start a job (each creates a run and runs it here, or with ``--background`` launches it
as its own process; ``--dry-run`` prints the resolved config and creates nothing): ``train`` (also
``--resume RUN_ID``; ``--config FILE.toml`` reads its settings from a TOML file, ``--print-config`` writes one:
:mod:`core.config_file`), ``hmm``, ``embeddings train``, ``memory-horizon``, ``explode``, ``experiment``,
``data download|install``. ``job RUN_ID`` runs a stored run's job (what launched jobs execute).
Commands that read: ``runs`` (list, ``--cancel``, ``--delete``), ``data info``, ``predict`` and
``introspect`` (the text as an argument, ``--file PATH`` or ``-`` for standard input), ``embeddings neighbours``.
``app`` starts the dashboard (``rnnlab app [streamlit args]``).
Each prints a clear one-line error (exit status 1) for bad input instead of a traceback.

Every command takes ``--json``: its result (the run id(s) and what it prints today) as one JSON document on
stdout, progress and notes on stderr; an error is ``{"error": "..."}`` on stdout with a non-zero exit status,
a usage error included. Text a user supplied (run names, class names, words, texts) reaches the terminal through
:func:`terminal_text`, without the escape sequences and control characters a terminal would act on (JSON escapes
them itself); a reader that goes away (``| head``) ends the command quietly (:func:`stdout_closed`).
``--version`` prints ``core.__version__``. The parser is one ``_add_<command>`` function per subcommand, listed
in ``COMMANDS``. Building it imports nothing heavy (no torch, numpy, pandas, ...), so ``--help`` answers at once:
each command imports what it needs when it runs (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from rnnlab.core import __version__
from rnnlab.core.cliargs import add_config_arguments, config_from_args, overrides_from_args
from rnnlab.core.config import (
    SHOWN_ITEMS,
    TEXT_TASK,
    DataConfig,
    DataJobConfig,
    ExperimentConfig,
    ExplosionConfig,
    HMMRunConfig,
    HorizonConfig,
    RunConfig,
    Word2VecRunConfig,
    config_to_dict,
    first_few,
)
from rnnlab.core.jobs.names import CANCELLED, DAMAGED, DATA_FILE, FINISHED, JOB_LOG, WORD2VEC_FILE

HMM_SKIP = ("data.limit",)  # `hmm --limit` is the HMM's own limit (HMMConfig.limit)


# What a terminal acts on instead of showing (colours, cursor moves, a cleared screen, the window's title, links,
# the clipboard): ESC sequences and their 8-bit C1 forms. A string sequence is removed with its payload up to its
# terminator; an unterminated one loses its ESC and shows the rest as text.
TERMINAL_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: parameters, intermediates, one final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c)"  # OSC, DCS, SOS, PM, APC: up to BEL or ST
    r"|\x1b[ -/]*[0-~]?",  # every other escape, a lone ESC included
    re.DOTALL)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1
PIPE_CLOSED_STATUS = 128 + getattr(signal, "SIGPIPE", 13)  # what a shell shows for a command a closed pipe ended


def terminal_text(text: Any, *, lines: bool = False) -> str:
    """``text`` as the terminal should show it: without escape sequences and control characters.

    For anything a user supplied that a human-readable line prints (a run's name or label, a class name, a
    word, a note, an error that quotes a file). ``lines``: keep newlines and tabs (a message of several
    lines); otherwise each becomes a space, so one field cannot start a line of its own.
    """
    clean = CONTROL_CHARACTERS.sub("", TERMINAL_SEQUENCES.sub("", str(text)))
    return clean if lines else clean.replace("\n", " ").replace("\t", " ")


def shortened(value: Any, n: int = SHOWN_ITEMS) -> Any:
    """``value`` with every list and dict cut to its first ``n`` entries and a count of the rest, at every depth.

    For human-readable lines (``--json`` prints everything): the counts of a 999-class dataset are a line
    of a few hundred characters, not of 25 KB.
    """
    if isinstance(value, dict):
        out = {k: shortened(v, n) for k, v in list(value.items())[:n]}
        return {**out, "...": f"{len(value) - n:,} more"} if len(value) > n else out
    if isinstance(value, list | tuple):
        out = [shortened(v, n) for v in value[:n]]
        return [*out, f"... {len(value) - n:,} more"] if len(value) > n else out
    return value


def _print_json(obj: Any) -> None:
    # json.dumps escapes every control character (ensure_ascii: all of non-ASCII too): nothing raw reaches a terminal
    print(json.dumps(obj, indent=2, default=str))


def _length_stats(data: Any) -> dict[str, float]:
    """Token counts per split under the seed's pipeline, of the whole splits (no validation rows carved out)."""
    import numpy as np

    from rnnlab.core.config import TextConfig
    from rnnlab.core.data.corpus import load_corpus

    corpus = load_corpus(replace(data, val_size=0), TextConfig())
    out = {}
    for name, split in corpus.splits.items():
        lens = split.lengths()
        if not len(lens):
            continue
        out[name] = {"mean": float(lens.mean()), "median": float(np.median(lens)),
                     "p95": float(np.percentile(lens, 95)), "max": int(lens.max()),
                     "truncated_at_max_len": int((lens >= TextConfig().max_len).sum())}
    return out


def _say(msg: str) -> None:
    print(terminal_text(msg, lines=True), file=sys.stderr, flush=True)


def _store(args: argparse.Namespace):
    from rnnlab.core.jobs.store import RunStore

    return RunStore(getattr(args, "runs_dir", None))


def _start(kind: str, cfg: Any, args: argparse.Namespace, *, label: str | None = None,
           options: dict[str, Any] | None = None, track: tuple[Any, ...] = ()):
    """Create the run and run its job here, or launch it (``--background``); None for ``--dry-run``."""
    from rnnlab.core.data.datasets import resolve_config
    from rnnlab.core.data.imdb import DataError
    from rnnlab.core.jobs import lifecycle

    if getattr(args, "dry_run", False):  # the config as the run would hold it: fitted to its dataset
        try:
            cfg = resolve_config(cfg)
        except DataError as e:  # nothing is created: say what a real run would refuse, show the rest
            _say(f"note: {e} The settings that depend on the dataset (val_size) stay unresolved.")
        _print_json({"kind": kind, **config_to_dict(cfg)})
        return None
    store = _store(args)
    if getattr(args, "background", False):
        run = lifecycle.submit(kind, cfg, store, label=label, lane="data" if kind == "data" else "train", track=track)
        _say(f"queued {kind} run {run.id}: `python -m core runs` shows its state; its output goes to "
             f"{run.file(JOB_LOG)}")
        _print_id(args, run)
        return None
    # refused here, before any folder, if it cannot fit
    run = lifecycle.create(kind, cfg, store, label=label, track=track)
    _say(f"{kind} run {run.id}")
    return lifecycle.run_job(run, store, lane="train" if getattr(args, "queue", False) else None, say=_say,
                             options=options)


def _print_id(args: argparse.Namespace, run: Any) -> None:
    """A run just launched or queued: its id (with ``--json``: its id, kind and state)."""
    if getattr(args, "json", False):
        _print_json({"run_id": run.id, "kind": run.kind, "state": run.status()["state"]})
    else:
        print(run.id)


def _finish(args: argparse.Namespace, run: Any, text: Any = None, **results: Any) -> int:
    """Print the run's id (or ``text``), or with ``--json`` its id, state and ``results``; say how it ended.

    The exit status: 0 finished or cancelled, 1 otherwise."""
    if getattr(args, "json", False):
        _print_json({"run_id": run.id, "kind": run.kind, "state": run.status()["state"], **results})
    else:
        print(run.id if text is None else terminal_text(text))
    return _ended(run)


def _ended(run: Any) -> int:
    """Say how the run ended; the exit status (0 finished or cancelled, 1 otherwise)."""
    state = run.status()["state"]
    _say(f"{state}: {run.id}")
    return 0 if state in (FINISHED, CANCELLED) else 1


def cmd_data(args: argparse.Namespace) -> int:
    from rnnlab.core.data import imdb as data
    from rnnlab.core.data import sources

    def show(info: Any) -> None:
        if args.json:
            _print_json(info)
        else:
            for k, v in info.items():  # json.dumps escapes control characters in class names; a string is cleaned
                shown = json.dumps(shortened(v), default=str) if isinstance(v, dict | list) else terminal_text(v)
                print(f"{k}: {shown}")

    if args.action == "add":
        if not args.archive or not args.name:
            raise ValueError("usage: python -m core data add PATH --name NAME [--text-col C] [--label-col C] "
                             "[--split-col C] [--sep SEP]")
        show(sources.add_dataset(args.archive, args.name, text_col=args.text_col, label_col=args.label_col,
                                 split_col=args.split_col, sep=args.sep))
        return 0
    if args.action == "list":
        rows = sources.list_datasets()
        if args.json:
            _print_json(rows)
        else:
            for r in rows:
                counts = {s: sum(c.values()) for s, c in (r.get("counts") or {}).items()}
                classes = first_few(r.get("classes") or [], str, sep=",")  # 1,000 classes would fill a screen
                what = r.get("error") or f"{r.get('format')}  classes={classes}  {counts}"
                print(terminal_text(f"{r['name']}: {what}"))  # class names come from the user's file
        return 0
    if args.action == "info" and not sources.is_imdb(args.dataset):
        info = sources.dataset_info(args.dataset)
        if not args.no_stats:  # the seed pipeline's token counts, per split
            info["token_lengths_seed_pipeline"] = _length_stats(DataConfig(dataset=args.dataset))
        show(info)
        return 0
    if args.action in ("download", "install"):
        if args.action == "install" and not args.archive:
            raise ValueError("usage: python -m core data install ARCHIVE")
        cfg = DataJobConfig(action=args.action, archive=args.archive, move=args.move)
        run = _start("data", cfg, args, label=f"data-{args.action}")
        if run is None:
            return 0
        path = run.read_json(DATA_FILE)["path"]
        return _finish(args, run, path, path=path)
    info = data.data_info(args.imdb)
    if not args.no_stats:
        info["token_lengths_seed_pipeline"] = _length_stats(DataConfig(imdb_path=args.imdb))
    show(info)
    return 0


def _train_config(args: argparse.Namespace) -> RunConfig:
    """The preset named by ``--preset`` (or the ``--config`` file), with the file's fields, then every field the
    command line set: a flag beside ``--config`` overrides the file."""
    from rnnlab.core.config_file import read_config_file, run_config

    values = read_config_file(args.config) if getattr(args, "config", None) else {}
    return run_config({**values, **overrides_from_args(args, RunConfig)})


def _print_config(args: argparse.Namespace) -> int:
    """``train --print-config``: the resolved settings as a TOML file that ``--config`` reads back (``--resume``: the
    stored run's)."""
    from rnnlab.core.config_file import config_file_text

    if args.resume:
        run = _store(args).get(args.resume)
        cfg = run.job_config()
        if not isinstance(cfg, RunConfig):
            raise ValueError(f"run {run.id} is a {run.kind} run; --print-config prints a training run's settings")
    else:
        cfg = _train_config(args)
    text = config_file_text(cfg)  # every string in it escaped: no control character reaches the terminal
    if args.json:
        _print_json({"toml": text})
    else:
        print(text, end="")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume and args.config:
        raise ValueError("--config starts a new run: a resumed run keeps the settings it was created with")
    if args.print_config:
        return _print_config(args)
    from rnnlab.core.jobs import lifecycle

    track = _checked_targets(args)
    if args.resume:
        store = _store(args)
        run = store.get(args.resume)
        if args.dry_run:
            _print_json({"kind": run.kind, **config_to_dict(run.job_config())})
            return 0
        run = lifecycle.resume(run, store, background=args.background, say=_say)
        if args.background:
            _print_id(args, run)
            return 0
    else:
        cfg, ended = _vectors_first(args, _train_config(args))
        if ended is not None:
            return ended
        if not args.dry_run and not args.background:
            on = cfg.train.task if cfg.train.task != TEXT_TASK else (cfg.data.dataset or "imdb")
            _say(f"training {cfg.model.cell} on {on} ({cfg.train.preset} preset)")
        run = _start("rnn", cfg, args, options={"progress_bar": True}, track=track)
        if run is None:
            return 0
    tm = run.test_metrics() or {}
    if tm.get("f1") is not None:
        _say(f"test accuracy {tm['accuracy']:.4f}  F1 {tm['f1']:.4f}  train time {tm['train_time_s']:.1f}s")
    elif tm.get("success") is not None:  # a synthetic task (core.tasks.synthetic)
        figure = f"MSE {tm['mse']:.4f}" if "mse" in tm else f"accuracy {tm['accuracy']:.4f}"
        _say(f"test {figure}  success {tm['success']}  train time {tm['train_time_s']:.1f}s")
    return _finish(args, run, test_metrics=run.test_metrics())


def _track_target(text: str) -> Any:
    """``--track``'s type: one target parsed (:mod:`core.jobs.targets`, standard library only), its error shown."""
    from rnnlab.core.jobs.targets import parse_target

    try:
        return parse_target(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _checked_targets(args: argparse.Namespace) -> tuple[Any, ...]:
    """``--track``'s targets, each checked before the run is made (package, folder, store, server: one line)."""
    track = tuple(dict.fromkeys(args.track or ()))
    if args.resume and track:
        raise ValueError("--track is given when a run starts: a resumed run is tracked where it was started")
    if track and not args.dry_run:
        from rnnlab.core.jobs.targets import MAX_TARGETS
        from rnnlab.core.report.tracking import check_targets

        if len(track) > MAX_TARGETS:
            raise ValueError(f"{len(track)} --track targets; at most {MAX_TARGETS}")
        check_targets(track, {_store(args).root})
    return track


def cmd_job(args: argparse.Namespace) -> int:
    """Run a stored run's job in this process: what ``core.jobs.lifecycle.launch`` starts."""
    from rnnlab.core.jobs import lifecycle

    store = _store(args)
    run = store.get(args.run_id)
    lifecycle.install_sigterm_handler()
    if not lifecycle.follow_launcher():  # a sweep's worker whose sweep ended while it started: nothing to do
        raise ValueError(f"run {run.id}: the job that launched it has ended, so it was not started")
    # run_job refuses, before writing anything, a run another process owns or one that is not queued
    _say(f"{run.kind} run {run.id} (pid {os.getpid()})")
    lifecycle.run_job(run, store, lane=args.lane, resume=args.resume, say=_say)
    if args.json:
        return _finish(args, run)
    return _ended(run)


def cmd_runs(args: argparse.Namespace) -> int:
    from rnnlab.core.jobs.store import RunStore

    store = RunStore(args.runs_dir)
    if args.cancel:
        from rnnlab.core.jobs import lifecycle

        run = store.get(args.cancel, prefix=args.prefix)
        why = lifecycle.cancel_refusal(run)
        if why:  # an ended run: say so, write nothing
            raise ValueError(why)
        signalled = lifecycle.cancel(run, force=args.force)
        if args.json:
            _print_json({"run_id": run.id, "cancel_requested": True, "sigterm_sent": bool(signalled)})
        else:
            print(f"asked {run.id} to stop" + (" (and sent SIGTERM to its process)" if signalled else ""))
        return 0
    if args.delete:
        run = store.delete(store.get(args.delete, prefix=args.prefix).id)
        if args.json:
            _print_json({"run_id": run.id, "deleted": True})
        else:
            print(f"deleted {run.id}")
        return 0
    if args.name or args.note or args.hide or args.unhide:  # annotations.json: every run found first, then written
        if set(args.hide or ()) & set(args.unhide or ()):
            raise ValueError("a run cannot be hidden and shown at once: --hide and --unhide name the same run")
        edits: list[tuple[Any, dict[str, Any]]] = []
        for flag, field in ((args.name, "name"), (args.note, "note")):
            if flag:
                edits.append((store.get(flag[0], prefix=args.prefix), {field: flag[1]}))
        edits += [(store.get(rid, prefix=args.prefix), {"hidden": True}) for rid in args.hide or ()]
        edits += [(store.get(rid, prefix=args.prefix), {"hidden": False}) for rid in args.unhide or ()]
        for run, change in edits:  # a name or note that does not fit is refused before anything is written
            run.annotated(**change)
        done = []
        for run, change in edits:
            ann = run.annotate(**change)
            done.append({"run_id": run.id, **ann.to_dict()})
            if not args.json:
                what = ", ".join(f"{k} {terminal_text(v)!r}" if k != "hidden" else ("hidden" if v else "shown")
                                 for k, v in change.items())
                print(f"{run.id}: {what}")
        if args.json:
            _print_json(done)
        return 0
    rows = store.summaries()  # a damaged run is a row with status "damaged" and the file and reason in "error"
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"no runs in {store.root}: train one with `python -m core train --model lstm`")
        return 0
    print(f"{'run':44} {'kind':14} {'model':8} {'status':9} {'test acc':>8} {'F1':>6} {'train s':>8}")
    for r in rows:
        acc = f"{r['test_accuracy']:.4f}" if r["test_accuracy"] is not None else "-"
        f1 = f"{r['f1']:.3f}" if r["f1"] is not None else "-"
        tt = f"{r['train_time_s']:.1f}" if r["train_time_s"] is not None else "-"
        # a run's name (in its label) is the user's text, and a damaged run's files may hold anything
        line = (f"{r['run_id']:44} {str(r['kind']):14} {str(r['model'])[:8]:8} {str(r['status']):9} {acc:>8} "
                f"{f1:>6} {tt:>8}  {r['label']}" + (f" [{r['quality']}]" if r["quality"] not in (None, "ok") else "")
                + (" (hidden)" if r["hidden"] else ""))
        print(terminal_text(line))
        if r["status"] == DAMAGED:
            print(terminal_text(f"    damaged: {r['error']} (`python -m core runs --delete {r['run_id']}` removes it)"))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from rnnlab.core.analysis.predict import predict_runs, read_text

    runs = [r for r in (args.runs or "").split(",") if r]
    given = [a for a in (args.run_id, args.text) if a is not None]
    # the text is the last argument, unless --file gives it; an argument before it names a run. With --runs
    # a lone argument is the text, so `--runs A,B --file F X` gives the text twice.
    if args.file is not None and len(given) > (0 if runs else 1):
        raise ValueError(f"the text is given twice, as an argument ({given[-1][:40]!r}) and with --file: give one")
    if args.file is None and not given:
        raise ValueError("no text: give it as an argument, with --file PATH, or as - to read standard input")
    source = args.file if args.file is not None else given.pop()
    run_ids = runs + given
    if not run_ids:
        raise ValueError("name a run: `python -m core predict RUN_ID \"text\"` or --runs A,B,C")
    text, notes = read_text(source) if args.file is not None or source == "-" else (source, [])
    for note in notes:
        _say(f"note: {note}")
    results = predict_runs(run_ids, text, runs_dir=args.runs_dir)
    if args.json:
        _print_json(results)
        return 0
    for r in results:
        note = " (truncated)" if r.get("truncated") else ""
        # several classes: the probability of the predicted one; two: of the second class (IMDB: positive)
        classes = r.get("classes") or ["negative", "positive"]
        which = f"p({r['label']})" if len(classes) > 2 else f"p({classes[1]})"
        print(terminal_text(f"{r['run_id']}: {r['label']}  {which}={r['probability']:.4f}  tokens={r['n_tokens']}"
                            f"{note}"))  # the class names are the dataset's, as its file wrote them
    return 0


def cmd_embeddings(args: argparse.Namespace) -> int:
    from rnnlab.core.jobs.word2vec import load_vectors

    if args.action == "train":
        cfg = config_from_args(args, Word2VecRunConfig)
        run = _start("word2vec", cfg, args, label=f"word2vec-{cfg.word2vec.algo}")
        if run is None:
            return 0
        info = run.read_json(WORD2VEC_FILE) if run.file(WORD2VEC_FILE).is_file() else {}
        if info:
            _say(f"{info['vocab_size']} words, {info['corpus_tokens']} tokens, trained in "
                 f"{info['train_time_s']:.1f}s")
        return _finish(args, run, word2vec=info or None)
    if args.action == "import":  # a word2vec-format file becomes a finished word2vec run
        from rnnlab.core.jobs.imports import import_vectors_run

        if not args.run_id:
            raise ValueError("usage: python -m core embeddings import PATH [--binary]")
        run = import_vectors_run(args.run_id, _store(args), binary=True if args.binary else None)
        _say(f"imported {run.read_json(WORD2VEC_FILE).get('vocab_size')} vectors as run {run.id}")
        return _finish(args, run)
    if args.action == "export":
        from rnnlab.core.jobs.word2vec import export_vectors_run

        if not args.run_id or not args.word:
            raise ValueError("usage: python -m core embeddings export RUN_ID PATH [--binary]")
        path = export_vectors_run(args.run_id, args.word, binary=args.binary, runs_dir=args.runs_dir)
        if args.json:
            _print_json({"run_id": args.run_id, "path": str(path), "binary": args.binary})
        else:
            print(terminal_text(path))
        return 0
    if not args.run_id or not args.word:
        raise ValueError("usage: python -m core embeddings neighbours RUN_ID WORD")
    wv = load_vectors(args.run_id, args.runs_dir)
    pairs = wv.neighbours(args.word.lower(), args.k)
    if args.json:
        _print_json([{"word": w, "similarity": s} for w, s in pairs])
    else:
        for w, s in pairs:  # an imported vector file's words are anyone's bytes
            print(f"{s:.4f}  {terminal_text(w)}")
    return 0


def _vectors_first(args: argparse.Namespace, cfg: Any) -> tuple[Any, int | None]:
    """``cfg`` with the word2vec run it reads named (:func:`core.jobs.vectors.resolve_vectors`), training the
    vectors first when the store has none (queued first in the background); the second value is the exit code
    when the command ends here (a dry run, or vectors that did not finish)."""
    from rnnlab.core.jobs.vectors import resolve_vectors, with_vectors

    cfg, w2v_first = resolve_vectors(cfg, _store(args))
    if w2v_first is None:
        return cfg, None
    _say("no suitable word2vec run found: training a skip-gram model first")
    if args.dry_run:
        _print_json({"kind": "word2vec", **config_to_dict(w2v_first)})
        return cfg, 0
    if args.background:
        from rnnlab.core.jobs import lifecycle

        w2v = lifecycle.submit("word2vec", w2v_first, _store(args), label="word2vec-skipgram")
    else:
        w2v = _start("word2vec", w2v_first, args, label="word2vec-skipgram")
        if w2v.status()["state"] != FINISHED:
            return cfg, _finish(args, w2v) if args.json else _ended(w2v)
    return with_vectors(cfg, w2v.id), None


def cmd_hmm(args: argparse.Namespace) -> int:
    cfg, ended = _vectors_first(args, config_from_args(args, HMMRunConfig, skip=HMM_SKIP))
    if ended is not None:
        return ended
    run = _start("hmm", cfg, args, label="gmmhmm")
    if run is None:
        return 0
    tm = run.test_metrics() or {}
    if tm:
        _say(f"test accuracy {tm['accuracy']:.4f}  F1 {tm['f1']:.4f}  fit time {tm['fit_time_s']:.1f}s  "
             f"({tm['train_size']} of {tm['train_size_available']} training texts)")
    return _finish(args, run, test_metrics=run.test_metrics(), embeddings=cfg.hmm.embeddings)


def _one_text(args: argparse.Namespace) -> str:
    """The one text of ``introspect`` and ``attribute``: the argument, ``--file PATH`` or ``-`` (standard input);
    what reading it noted (a cut, a replaced byte) goes to stderr."""
    from rnnlab.core.analysis.predict import read_text

    if (args.text is None) == (args.file is None):
        raise ValueError("give the text exactly once: as an argument, with --file PATH, or as - for standard input"
                         if args.text is None else "the text is given twice, as an argument and with --file: give one")
    source = args.file if args.file is not None else args.text
    text, notes = read_text(source) if args.file is not None or source == "-" else (source, [])
    for note in notes:
        _say(f"note: {note}")
    return text


def cmd_introspect(args: argparse.Namespace) -> int:
    from rnnlab.core.analysis.introspect import introspect

    text = _one_text(args)
    out = introspect(args.run_id, text, runs_dir=args.runs_dir)
    if args.json:
        _print_json(out.to_dict())
        return 0
    print(terminal_text(f"{out.run_id} ({out.cell}): {out.label}  p({out.probability_of})={out.probability:.4f}  "
                        f"{len(out.tokens)} tokens  {out.elapsed_ms:.1f} ms"))
    for note in out.notes:
        print(terminal_text(f"  note: {note}"))
    print(f"{'token':20} {'p so far':>13} {'saliency':>9}")
    for i, tok in enumerate(out.tokens):  # the words of the user's text, echoed back
        mark = " (unknown)" if out.unknown[i] else ""
        print(f"{terminal_text(tok)[:20]:20} {out.running_probability[i]:13.4f} {out.saliency[i]:9.4f}{mark}")
    dropped = [f"{w.word} ({w.fate})" for w in out.words if w.fate not in ("kept", "unknown")]
    if dropped:
        print(terminal_text("not read: " + ", ".join(dropped)))
    return 0


def cmd_attribute(args: argparse.Namespace) -> int:
    from rnnlab.core.analysis.attribution import attribute

    text = _one_text(args)
    out = attribute(args.run_id, text, steps=args.steps, baseline=args.baseline, refine=not args.no_refine,
                    runs_dir=args.runs_dir)
    if args.json:
        _print_json(out.to_dict())
        return 0
    print(terminal_text(f"{out.run_id} ({out.cell}): {out.label} ({out.probability:.4f})  {len(out.tokens)} tokens  "
                        f"{out.elapsed_ms:.1f} ms; positive values push towards {out.toward}"))
    print(f"completeness: {out.completeness()}")
    for note in out.notes:
        print(terminal_text(f"  note: {note}"))
    print(f"{'token':20} {'integrated grad':>15} {'grad x input':>13}")
    for i, tok in enumerate(out.tokens):  # the words of the user's text, echoed back
        mark = " (unknown)" if out.unknown[i] else ""
        print(f"{terminal_text(tok)[:20]:20} {out.integrated_gradients[i]:15.4f} {out.gradient_x_input[i]:13.4f}{mark}")
    return 0


def cmd_neurons(args: argparse.Namespace) -> int:
    from rnnlab.core.analysis.neurons import NeuronSearchConfig, pattern_units, unit_contexts

    given = {k: getattr(args, k) for k in ("sample", "top", "contexts", "window") if getattr(args, k) is not None}
    cfg = NeuronSearchConfig(**given, whole_split=args.whole_split)  # checks the bounds
    if args.unit is not None:
        if args.states is not None:
            raise ValueError("--states goes with --pattern or --words: a unit names its own state (L:D:U:STATE)")
        out = unit_contexts(args.run_id, args.unit, cfg, runs_dir=args.runs_dir)
    else:
        pattern = args.pattern if args.pattern is not None else args.words.split(",")
        states = None if args.states is None else [s.strip() for s in args.states.split(",") if s.strip()]
        out = pattern_units(args.run_id, pattern, cfg, states=states, runs_dir=args.runs_dir)
    if args.json:
        _print_json(out.to_dict())
        return 0
    read = f"{out.texts:,} of {out.split_texts:,} test texts, {out.tokens:,} tokens, {out.elapsed_s:.1f} s"
    if args.unit is not None:
        print(terminal_text(f"{out.run_id} unit {out.unit} ({read}): mean {out.mean:.4f}, std {out.std:.4f}"))
    else:
        print(terminal_text(f"{out.run_id}: units that track {out.pattern} ({read}; {out.matches:,} tokens match: "
                            f"{', '.join(out.words[:12])}{' ...' if len(out.words) > 12 else ''})"))
    for note in out.notes:
        print(terminal_text(f"  note: {note}"))

    def show(contexts: list[Any], indent: str) -> None:
        for c in contexts:  # the dataset's words and class names: cleaned for the terminal
            print(terminal_text(f"{indent}{c.activation:8.4f}  {c.label[:12]:12}  text {c.text:<6} {c.snippet()}"))

    if args.unit is not None:
        for title, contexts in (("highest", out.highest), ("lowest", out.lowest)):
            print(f"{title} (one token per text):")
            show(contexts, "  ")
        return 0
    print(f"{'unit':24} {'r':>8} {'mean at match':>14} {'elsewhere':>10}")
    for u in out.units:
        print(f"{str(u.unit):24} {u.r:8.4f} {u.mean_match:14.4f} {u.mean_other:10.4f}")
        show(u.contexts, "    ")
    return 0


def cmd_memory_horizon(args: argparse.Namespace) -> int:
    from rnnlab.core.analysis.horizon import horizon_rows

    settings = HorizonConfig(**overrides_from_args(args, HorizonConfig))
    run = _start("memory-horizon", settings, args, label=f"memory-horizon-{settings.task}")
    if run is None:
        return 0
    rows = horizon_rows(run)
    if args.json:
        _print_json({"run_id": run.id, "state": run.status()["state"], "settings": config_to_dict(settings),
                     "rows": [{k: v for k, v in r.items() if k != "history"} for r in rows]})
        return 0 if run.status()["state"] in (FINISHED, CANCELLED) else 1
    metric = "test MSE" if settings.task == "adding" else "test acc"
    print(f"{'model':6} {'T':>5} {'success':>8} {metric:>9} {'final loss':>10} {'steps to success':>16} "
          f"{'steps':>6} {'train s':>8}")
    for r in rows:
        to_success = r["steps_to_success"] if r["steps_to_success"] is not None else "-"
        print(f"{r['model']:6} {r['seq_len']:>5} {str(r['success']):>8} {r['test_metric']:>9.4f} "
              f"{r['final_loss']:>10.4f} {to_success!s:>16} {r['steps']:>6} {r['train_time_s']:>8.1f}")
    return _ended(run)


def cmd_explode(args: argparse.Namespace) -> int:
    import torch

    from rnnlab.core.analysis.horizon import explosion_configs, explosion_summary
    from rnnlab.core.jobs.lifecycle import run_now

    cfg = ExplosionConfig(**overrides_from_args(args, ExplosionConfig))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    configs = explosion_configs(cfg)
    names = [n for n in (args.configs.split(",") if args.configs else configs) if n]
    unknown = set(names) - set(configs)
    if unknown:
        raise ValueError(f"unknown configurations {sorted(unknown)}; expected some of {sorted(configs)}")
    store = _store(args)
    out = {}
    for name in names:
        out[name] = explosion_summary(run_now("rnn", configs[name], store, label=f"explode-{name}", say=_say))
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
    import shutil

    from rnnlab.core.report.experiment import report_folder

    ec = ExperimentConfig(**overrides_from_args(args, ExperimentConfig))
    run = _start("experiment", ec, args, label="experiment-seed")
    if run is None:
        return 0
    report = report_folder(run)
    if args.out and run.status()["state"] == FINISHED:  # a copy where the user wants it (docs/ in this repo)
        shutil.copytree(report, args.out, dirs_exist_ok=True)
        report = Path(args.out)
    return _finish(args, run, report / "report.md", report=str(report / "report.md"))


def cmd_sweep(args: argparse.Namespace) -> int:
    """Plan a sweep from its TOML spec; print the plan (``--dry-run``), or run it and print its summary."""
    from rnnlab.core.config import SweepConfig
    from rnnlab.core.sweep.job import estimate, read_results, summarise
    from rnnlab.core.sweep.spec import SpecError, parse_spec, plan, read_spec_file

    text = read_spec_file(args.spec)  # a regular file, read with the spec's size cap: never /dev/zero or a FIFO
    try:
        spec = parse_spec(text)
        points = plan(spec)
    except SpecError as e:  # the spec's own message names the key or the line: this names the file
        raise SpecError(f"{args.spec}: {e}") from None
    cfg = SweepConfig(**{**overrides_from_args(args, SweepConfig, skip=("spec",)), "spec": text})
    if args.dry_run:
        guess = estimate(points, _store(args), spec.confirm_size)
        rows = [p.as_dict() for p in points]
        if args.json:
            _print_json({"name": spec.name, "runs": spec.size, "plan": rows, "estimate": guess,
                         "confirm": {"top": spec.confirm_top, "seeds": list(spec.confirm_seeds),
                                     "runs": spec.confirm_size},
                         "config": config_to_dict(cfg)})
            return 0
        print(f"sweep {spec.name}: {len(points)} runs ({' x '.join(f'{len(v)} {k}' for k, v in spec.vary)} x "
              f"{len(spec.seeds)} seeds), preset {spec.preset}")
        for r in rows:
            print("  " + ", ".join(f"{k}={v}" for k, v in r.items()))
        if spec.confirm_top:
            print(f"then the best {spec.confirm_top} of these {spec.points} points by validation loss (mean over "
                  f"seeds {', '.join(map(str, spec.seeds))}) again with seeds {', '.join(map(str, spec.confirm_seeds))}"
                  f": {spec.confirm_size} more runs, {spec.size} in all")
        if guess["seconds"] is not None:
            more = f" and the {spec.confirm_size} confirmation runs as the grid's mean" if spec.confirm_size else ""
            print(f"estimated: {guess['seconds'] / 60:.1f} min of training for {guess['measured']} runs{more}, "
                  f"one at a time (the pace of finished runs like them, else reference rates measured on a 2-core "
                  f"CPU); "
                  f"{guess['unknown']} runs have no measured pace")
        else:
            print("estimated: unknown (no finished run like these, and no reference rate for their sizes)")
        if guess["vectors"]:
            took = guess["vectors_seconds"]
            print(f"first: {guess['vectors']} word2vec run(s) for the runs with embeddings = auto (none in the store "
                  f"suits them), {'time unknown' if took is None else f'about {took / 60:.1f} min'}")
        return 0
    run = _start("sweep", cfg, args, label=f"sweep-{spec.name}")
    if run is None:
        return 0
    results = read_results(run)
    summary = summarise(results, spec.varied) if results is not None else None
    if args.json:
        _print_json({"run_id": run.id, "kind": run.kind, "state": run.status()["state"],
                     "results": [] if results is None else json.loads(results.to_json(orient="records")),
                     "summary": [] if summary is None else json.loads(summary.to_json(orient="records"))})
    elif summary is not None:
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return _ended(run)


def cmd_app(args: argparse.Namespace) -> int:
    """Start the dashboard (``streamlit run dashboard/app.py`` with the project's Streamlit config)."""
    import shlex

    from rnnlab.core.app import app_command, run_app

    if args.dry_run:
        command = app_command(args.streamlit_args)
        if args.json:
            _print_json({"command": command})
        else:
            print(terminal_text(shlex.join(command)))
        return 0
    return run_app(args.streamlit_args)


# ------------------------------------------------------------------------------------------------ the parser
JSON_HELP = "print the result as one JSON document on stdout (errors as {\"error\": ...})"
RUNS_DIR_HELP = "where runs are stored (default $RNNLAB_HOME/runs)"
TEXT_HELP = "the text; - reads it from standard input (UTF-8, 1 MB at most)"
FILE_HELP = "read the text from a UTF-8 text file (1 MB at most)"


class CLIError(Exception):
    """A command line the parser refuses (argparse's usage error), raised instead of exiting."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser


class CLIParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors :func:`main` reports (as JSON with ``--json``)."""

    def error(self, message: str):
        raise CLIError(self, message)


def _json_flag(p: argparse.ArgumentParser, help: str = JSON_HELP) -> None:
    p.add_argument("--json", action="store_true", help=help)


def _job_flags(p: argparse.ArgumentParser) -> None:
    """The flags every command that starts a job shares."""
    p.add_argument("--background", action="store_true",
                   help="launch the job as its own process (queued behind the jobs launched before it) and return")
    p.add_argument("--queue", action="store_true",
                   help="run here, but wait for the jobs launched before it to finish first")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit; nothing is created")
    p.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    _json_flag(p)


def _add_data(sub: Any) -> None:
    d = sub.add_parser("data", help="datasets: IMDB's info, download and install; add, list and describe others")
    d.add_argument("action", choices=["info", "download", "install", "add", "list"], help="what to do: %(choices)s")
    d.add_argument("archive", nargs="?", metavar="PATH",
                   help="install: an aclImdb_v1.tar.gz to validate and copy into the cache; add: a CSV, TSV, JSONL "
                        "or Parquet file, a folder of one sub-folder of .txt files per class, or a folder saved by "
                        "Hugging Face datasets (save_to_disk; needs `pip install datasets`)")
    d.add_argument("--name", help="add: the dataset's name (letters, digits, -, _)")
    d.add_argument("--dataset", help="info: a dataset added with `data add` (default: imdb)")
    d.add_argument("--text-col", help="add: the text column (default: text)")
    d.add_argument("--label-col", help="add: the label column, strings or integers (default: label)")
    d.add_argument("--split-col", help="add: a column of train / validation (val) / test (default: a seeded "
                                       "stratified 80/20 train/test split)")
    d.add_argument("--sep", help="add: the CSV field separator, one character or TAB (default: by suffix)")
    d.add_argument("--move", action="store_true", help=argparse.SUPPRESS)  # install a staged upload by renaming it
    d.add_argument("--imdb", help="aclImdb_v1.tar.gz or an extracted aclImdb/ folder (else $RNNLAB_IMDB, cache)")
    d.add_argument("--no-stats", action="store_true", help="skip the token-length statistics (no preprocessing)")
    _job_flags(d)
    d.set_defaults(func=cmd_data)


def _add_train(sub: Any) -> None:
    t = sub.add_parser("train", help="train one model and evaluate it on the test split",
                       description="Train one model and evaluate it on the test split. Its settings: a preset, a "
                                   "config file (--config) and flags; a flag given beside --config overrides the "
                                   "file's value.")
    t.add_argument("--config", metavar="FILE.toml",
                   help="read the run's settings from a TOML file: any field below by name, flat, as in a sweep "
                        "spec's [base] (preset = \"fast\", hidden_size = 64; \"\" = none); flags given beside it "
                        "override its values. --print-config writes one")
    t.add_argument("--print-config", action="store_true",
                   help="print the resolved settings as a TOML file that --config reads back, and exit; nothing is "
                        "created (with --resume: the stored run's settings)")
    add_config_arguments(t, RunConfig)
    t.add_argument("--resume", metavar="RUN_ID",
                   help="continue a crashed, failed or cancelled run after its last complete epoch")
    t.add_argument("--track", action="append", type=_track_target, metavar="TRACKER:WHERE",
                   help="log the run live while it trains: tensorboard:DIR (events in DIR/RUN_ID) or mlflow:URI "
                        "(sqlite:///path/mlflow.db, file:/path/mlruns, a folder, http://HOST:5000); repeat for both")
    _job_flags(t)
    t.set_defaults(func=cmd_train)


def _add_job(sub: Any) -> None:
    j = sub.add_parser("job", help="run a stored run's job in this process (what launched jobs execute)")
    j.add_argument("run_id", help="the run whose job to run")
    j.add_argument("--lane", help="wait for the jobs launched before it in this lane (train, data)")
    j.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    j.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    _json_flag(j)
    j.set_defaults(func=cmd_job)


def _add_runs(sub: Any) -> None:
    r = sub.add_parser("runs", help="list runs (every kind of job); cancel, delete, name, annotate or hide them")
    _json_flag(r, "print the runs (or what --cancel/--delete did, or the annotations written) as JSON on stdout")
    r.add_argument("--cancel", metavar="RUN_ID", help="ask a queued or running job to stop")
    r.add_argument("--force", action="store_true",
                   help="--cancel: also send SIGTERM, only to the run's own process (same pid and start time)")
    r.add_argument("--delete", metavar="RUN_ID", help="delete a run that is not queued or running")
    r.add_argument("--name", nargs=2, metavar=("RUN_ID", "TEXT"),
                   help="name a run (one line, 80 characters at most; \"\" removes the name): shown first in its label")
    r.add_argument("--note", nargs=2, metavar=("RUN_ID", "TEXT"),
                   help="write a note about a run (2,000 characters at most; \"\" removes it)")
    r.add_argument("--hide", nargs="+", metavar="RUN_ID", help="hide runs from the charts (their files stay)")
    r.add_argument("--unhide", nargs="+", metavar="RUN_ID", help="show hidden runs again")
    r.add_argument("--prefix", action="store_true", help="--cancel/--delete/--name/--note/--hide/--unhide: accept a "
                                                         "unique start of a run id")
    r.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    r.set_defaults(func=cmd_runs)


def _add_predict(sub: Any) -> None:
    pr = sub.add_parser("predict", help="classify a text with one or several runs")
    pr.add_argument("run_id", nargs="?", help="the run that classifies (or --runs)")
    pr.add_argument("text", nargs="?", help=TEXT_HELP)
    pr.add_argument("--file", metavar="PATH", help=FILE_HELP)
    pr.add_argument("--runs", help="comma-separated run ids")
    _json_flag(pr)
    pr.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    pr.set_defaults(func=cmd_predict)


EMBEDDINGS_ACTIONS = ["train", "neighbours", "import", "export"]


def _add_embeddings(sub: Any) -> None:
    em = sub.add_parser("embeddings", help="word2vec: train vectors, list a word's nearest neighbours, "
                                           "import or export vectors in the word2vec format")
    em.add_argument("action", choices=EMBEDDINGS_ACTIONS, help="what to do: %(choices)s")
    em.add_argument("run_id", nargs="?", help="neighbours, export: the word2vec run; import: the word2vec file")
    em.add_argument("word", nargs="?", help="neighbours: the word; export: the file to write")
    em.add_argument("--binary", action="store_true",
                    help="import, export: the binary word2vec format (import tells it from the file otherwise)")
    add_config_arguments(em, Word2VecRunConfig)  # train's settings
    em.add_argument("-k", type=int, default=10, help="neighbours: how many")
    _job_flags(em)
    em.set_defaults(func=cmd_embeddings)


def _add_hmm(sub: Any) -> None:
    hm = sub.add_parser("hmm", help="fit the GMM-HMM baseline (one GMMHMM per class) and evaluate it")
    add_config_arguments(hm, HMMRunConfig, skip=HMM_SKIP)
    _job_flags(hm)
    hm.set_defaults(func=cmd_hmm)


def _run_and_text(parser: argparse.ArgumentParser, run_help: str) -> None:
    """A run id and one text, as :func:`_one_text` reads it."""
    parser.add_argument("run_id", help=run_help)
    parser.add_argument("text", nargs="?", help=TEXT_HELP)
    parser.add_argument("--file", metavar="PATH", help=FILE_HELP)


def _add_introspect(sub: Any) -> None:
    ins = sub.add_parser("introspect", help="per token: running probability, saliency (--json: every gate)")
    _run_and_text(ins, "the run to look inside")
    _json_flag(ins, "everything, gates and states included, as JSON on stdout")
    ins.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    ins.set_defaults(func=cmd_introspect)


def _add_attribute(sub: Any) -> None:
    # the numbers are core.analysis.attribution's DEFAULT_STEPS, MAX_STEPS and BASELINES, which check them; written
    # out so that building the parser does not import torch (tests/test_attribution.py compares them)
    at = sub.add_parser("attribute", help="which words decided: per token, integrated gradients and gradient x "
                                          "input of the prediction, with the completeness check")
    _run_and_text(at, "the run whose prediction to explain")
    at.add_argument("--steps", type=int, default=50,
                    help="integration points (Gauss-Legendre) from the baseline to the text, first try: more narrow "
                         "the completeness gap, each costs a pass over the text (default: %(default)s; 1 to 200)")
    at.add_argument("--no-refine", action="store_true",
                    help="exactly --steps points: by default, while the completeness check fails, the steps double "
                         "(up to 100,000 token passes and 800 steps: 200 steps over 500 tokens)")
    at.add_argument("--baseline", choices=("unk", "pad"), default="unk",
                    help="every token's embedding replaced by <unk>'s learned vector or by <pad>'s zero one "
                         "(default: %(default)s)")
    _json_flag(at, "every token's and word's attributions and the completeness check as JSON on stdout")
    at.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    at.set_defaults(func=cmd_attribute)


def _add_neurons(sub: Any) -> None:
    # bounds and defaults are core.analysis.neurons.NeuronSearchConfig's, which checks them; written out so that
    # building the parser does not import torch (tests/test_neurons.py compares them)
    ne = sub.add_parser("neurons", help="which units track what, over the test split: a unit's top contexts, or the "
                                        "units that correlate with a word pattern")
    ne.add_argument("run_id", help="the trained run to search")
    what = ne.add_mutually_exclusive_group(required=True)
    what.add_argument("--unit", metavar="L:D:U[:STATE]",
                      help="a unit: layer, direction (0 forward, 1 backward) and unit, from 0, and a state the cell "
                           "records (default hidden; h, c, cell, input_gate, forget_gate, ...): where it is highest "
                           "and lowest")
    what.add_argument("--pattern", choices=("negations", "but", "exclamation"),
                      help="the units that correlate with these tokens (point-biserial r), searched on the tokens "
                           "the model reads: a pattern the run's pipeline removes is refused with the reason")
    what.add_argument("--words", metavar="W1,W2", help="as --pattern, for a comma-separated word list (200 at most)")
    ne.add_argument("--states", metavar="S1,S2",
                    help="--pattern, --words: the states searched (default every one the cell records)")
    ne.add_argument("--sample", type=int, help="test texts read, drawn at random with a fixed seed (default 2000; "
                                               "1 to 100000; all of them when the split has fewer)")
    ne.add_argument("--top", type=int, help="--unit: contexts listed, highest and lowest; --pattern: units listed "
                                            "(default 10; 1 to 100)")
    ne.add_argument("--contexts", type=int, help="--pattern, --words: contexts shown per unit (default 5; 1 to 50)")
    ne.add_argument("--window", type=int, help="tokens shown on each side of a context's token (default 5; 0 to 50)")
    ne.add_argument("--whole-split", action="store_true",
                    help="read the dataset's whole test split, not the part the run's --limit kept")
    _json_flag(ne, "the unit's contexts, or the units with their correlations and contexts, as JSON on stdout")
    ne.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    ne.set_defaults(func=cmd_neurons)


EVALUATE_CLASSES_SHOWN = 20  # evaluate's per-class lines (a dataset may have 1,000 classes)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rnnlab.core.analysis.evaluate import evaluate_run

    run = _store(args).get(args.run_id)
    metrics = evaluate_run(run, args.dataset, imdb_path=args.imdb, every=args.all, short=args.short, limit=args.limit)
    if args.json:
        _print_json({"run_id": run.id, **{k: v for k, v in metrics.items() if k != "roc"}})
        return 0
    if metrics.get("note"):
        _say(f"note: {metrics['note']}")
    which = "texts" if args.all else "test texts"
    print(terminal_text(f"{run.id} on {metrics['name']} ({metrics['n']:,} {which}, {metrics['mean_words']:.1f} words "
                        f"each on average): accuracy {metrics['accuracy']:.4f}  F1 {metrics['f1']:.4f}  (stored in "
                        "the run's evaluations.json)"))
    shown = (metrics.get("per_class") or [])[:EVALUATE_CLASSES_SHOWN]
    for c in shown:  # K classes: each one's figures (a binary run's precision and recall are in --json)
        print(terminal_text(f"  {c['class'][:40]:40} precision {c['precision']:.4f}  recall {c['recall']:.4f}  "
                            f"F1 {c['f1']:.4f}  ({c['support']:,} texts)"))
    if len(metrics.get("per_class") or []) > len(shown):
        print(f"  ... {len(metrics['per_class']) - len(shown):,} more classes (--json lists every one)")
    return 0


def _add_evaluate(sub: Any) -> None:
    ev = sub.add_parser("evaluate", help="score a trained run on another dataset's test split and store the metrics")
    ev.add_argument("run_id", help="the trained run")
    ev.add_argument("--dataset", required=True, help="imdb, or a dataset added with `data add`")
    ev.add_argument("--imdb", help="IMDB's aclImdb_v1.tar.gz or aclImdb/ folder (for --dataset imdb)")
    ev.add_argument("--all", action="store_true",
                    help="every labelled text of the dataset, not its test split only (a dataset kept for "
                         "evaluation)")
    ev.add_argument("--short", metavar="N|sentence",
                    help="cut each raw text to its first N words (1 to 1000) or its first sentence before the run "
                         "reads it: what the model, or its preprocessing, costs on short text; stored as "
                         "'DATASET (first N words)'")
    ev.add_argument("--limit", type=int, metavar="M",
                    help="score a seeded sample of M texts (a quick check on a large split); the result says so")
    _json_flag(ev, "the metrics as JSON on stdout")
    ev.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    ev.set_defaults(func=cmd_evaluate)


def _add_memory_horizon(sub: Any) -> None:
    mh = sub.add_parser("memory-horizon", help="train RNN, LSTM and GRU on a long-range memory task for each length")
    add_config_arguments(mh, HorizonConfig)
    mh.add_argument("--full-budget", dest="stop_on_success", action="store_false", default=argparse.SUPPRESS,
                    help="keep training after the first success (as --no-stop-on-success)")
    _job_flags(mh)
    mh.set_defaults(func=cmd_memory_horizon)


def _add_explode(sub: Any) -> None:
    ex = sub.add_parser("explode", help="exploding gradients of a vanilla RNN on the adding problem, and clipping")
    ex.add_argument("--configs", help="comma-separated: exploding, clipped, reference (default all)")
    add_config_arguments(ex, ExplosionConfig)
    _json_flag(ex)
    ex.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    ex.set_defaults(func=cmd_explode)


def _add_experiment(sub: Any) -> None:
    xp = sub.add_parser("experiment", help="the seed report's comparison end to end, with a report")
    xp.add_argument("name", choices=["seed"], help="the experiment: %(choices)s")
    add_config_arguments(xp, ExperimentConfig)
    xp.add_argument("--out", default="docs/experiment",
                    help="copy the finished report here (it also stays in the run's report/ folder)")
    _job_flags(xp)
    xp.set_defaults(func=cmd_experiment)


def _add_sweep(sub: Any) -> None:
    from rnnlab.core.config import SweepConfig

    sw = sub.add_parser("sweep", help="a grid of training runs from a TOML spec, here or on a Ray cluster",
                        description="Plan the spec's grid (varied fields x seeds) into runs, reuse finished runs with "
                                    "the same config (an interrupted sweep resumes), and execute the rest: "
                                    "`--executor local` N at a time in their own processes, `--executor ray` as "
                                    "Ray tasks. See studies/ for examples.")
    sw.add_argument("spec", metavar="SPEC.toml", help="the sweep's spec: name, preset, seeds, [base], [vary]")
    add_config_arguments(sw, SweepConfig, skip=("spec",))
    _job_flags(sw)
    sw.set_defaults(func=cmd_sweep)


def _add_app(sub: Any) -> None:
    ap = sub.add_parser("app", help="start the dashboard: streamlit run dashboard/app.py with the project's config",
                        description="Start the dashboard. Every argument not listed below goes to `streamlit run` "
                                    "(e.g. --server.port 8502); the project's Streamlit config (.streamlit/"
                                    "config.toml: server.address 127.0.0.1 and more) applies unless overridden.",
                        allow_abbrev=False)
    ap.add_argument("--dry-run", action="store_true", help="print the streamlit command line and exit; start nothing")
    _json_flag(ap, "with --dry-run: the command line as JSON on stdout")
    ap.set_defaults(func=cmd_app, streamlit_args=[])


def cmd_export(args: argparse.Namespace) -> int:
    from rnnlab.core.report.export import cmd_export as export

    return export(args)


def _add_export(sub: Any) -> None:
    from rnnlab.core.report.export_args import add_export_arguments  # not core.report.export: it imports torch

    ex = sub.add_parser("export", help="export runs to TensorBoard event files or MLflow (optional libraries)")
    add_export_arguments(ex)
    ex.set_defaults(func=cmd_export)


COMMANDS = [_add_data, _add_train, _add_job, _add_runs, _add_predict, _add_evaluate, _add_embeddings, _add_hmm,
            _add_introspect, _add_attribute, _add_neurons, _add_memory_horizon, _add_explode, _add_experiment,
            _add_sweep, _add_export, _add_app]
PASSES_UNKNOWN = {"app"}  # commands whose unknown arguments go elsewhere (to streamlit)


def build_parser(prog: str = "python -m core") -> argparse.ArgumentParser:
    p = CLIParser(prog=prog, description="RNN Lab: recurrent networks on IMDB reviews and your own text datasets")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return p


def _wants_json(argv: list[str]) -> bool:
    """``--json`` among the arguments (before a ``--`` that ends the options)."""
    args = argv[:argv.index("--")] if "--" in argv else argv
    return "--json" in args


def stdout_closed() -> int:
    """End a command whose reader went away (``| head``): quietly, with :data:`PIPE_CLOSED_STATUS`.

    Python ignores SIGPIPE, so a write to a closed pipe raises ``BrokenPipeError``; as Python's documentation
    advises, standard output is pointed at the null device, so the interpreter's own flush at exit has nowhere
    to fail either.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture): nothing is flushed at exit
        return PIPE_CLOSED_STATUS
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
    return PIPE_CLOSED_STATUS


def main(argv: list[str] | None = None, prog: str = "python -m core") -> int:
    """Run one command line (``python -m core`` and ``rnnlab``); its exit status."""
    try:
        try:
            return _run(argv, prog)
        finally:  # output still buffered meets a closed pipe here, inside this handler, not at the interpreter's exit
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        return stdout_closed()


def _run(argv: list[str] | None, prog: str) -> int:
    """Parse the command line and run its command; bad input ends in one clear line, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(argv)
    parser = build_parser(prog)
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown and args.command not in PASSES_UNKNOWN:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        if unknown:
            args.streamlit_args = unknown
    except CLIError as e:  # a usage error: argparse's usage and message, or {"error": ...} with --json
        e.parser.print_usage(sys.stderr)
        print(terminal_text(f"{e.parser.prog}: error: {e}", lines=True), file=sys.stderr)  # it quotes the arguments
        if as_json:
            _print_json({"error": f"{e.parser.prog}: {e}"})
            return 2
        raise SystemExit(2) from None
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        if as_json:
            _print_json({"error": "interrupted"})
        return 130
    except BrokenPipeError:  # the reader went away: not an error to report (main ends quietly)
        raise
    except Exception as e:  # bad input ends in one clear line; RNNLAB_DEBUG=1 shows the traceback
        if os.environ.get("RNNLAB_DEBUG"):
            raise
        print(f"error: {terminal_text(e, lines=True)}", file=sys.stderr)  # it may quote a file, a name, a text
        if as_json:
            _print_json({"error": str(e)})
        return 1


if __name__ == "__main__":  # `python -m core` in a checkout, `python -m rnnlab.core` anywhere: usage names the one used
    sys.exit(main(prog=f"python -m {__spec__.parent}" if __spec__ else "python -m core"))
