"""Train: choose cell types, a preset, a task and any hyperparameter; start; watch the runs learn; cancel; resume.

Training never runs here: every run is a ``python -m core job`` process started by
``core.jobs.lifecycle.launch`` (queued in launch order, one at a time), so reloading the page, closing the tab or
another user's visit neither stops it nor starts it twice. This page only polls the run store.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for standalone runs

import streamlit as st

from rnnlab.core.config import AUTO_VECTORS, BUILTIN_DATASET, CELLS, CLASSIC_CELLS, PRESETS, TASKS, TEXT_TASK, preset
from rnnlab.core.data.sources import list_datasets
from rnnlab.core.data.text import stopwords_found
from rnnlab.core.figures import training
from rnnlab.core.jobs import lifecycle as jobs
from rnnlab.core.jobs.estimate import duration, plural, training_seconds, word2vec_seconds
from rnnlab.core.jobs.names import CANCELLED, CRASHED, DAMAGED, ERROR_LOG, FAILED, FINISHED, JOB_LOG, QUEUED, RUNNING
from rnnlab.core.jobs.store import DamagedRun, RunNotFound
from rnnlab.core.jobs.targets import MAX_TARGET_CHARS, MAX_TARGETS, parse_targets
from rnnlab.core.jobs.vectors import resolve_vectors
from rnnlab.core.jobs.word2vec import vectors_runs
from rnnlab.dashboard import forms, lessons, state, widgets

POLL_S = 1.5  # seconds between progress polls while something trains
PRESET_HELP = ("`lesson` (the default): `fast` on at most 7,000 texts per split for 3 epochs, gradients recorded: "
               "on IMDB the gated cells clearly beat the RNN in about 2 minutes for all three on a 2-core CPU. "
               "`seed`: the seed report's settings (every text padded or cut to 500 tokens). "
               "`fast`: the same model over length-bucketed batches, one CPU thread: much faster on a CPU. "
               "`best`: `fast` with the settings the `best` preset's study chose (GRU, stop words and negations "
               "kept, word2vec embeddings trained first when there are none and then moved at a tenth of the "
               "learning rate); 0.908 on IMDB's test reviews, see the README's results.")
NOTE = "train.note"  # the outcome of the last start, shown once
TRACK_HELP = ("Optional: log the runs live while they train, to TensorBoard (`tensorboard:/path/tb`: events in "
              "`/path/tb/RUN_ID`) or MLflow (`mlflow:sqlite:///path/mlflow.db`, `mlflow:file:/path/mlruns`, "
              "`mlflow:http://HOST:5000`); both at once separated by a comma. The same as `python -m core train "
              "--track`; checked before anything starts.")


def form_prefix(preset_name: str, task: str) -> str:
    # the preset and task are part of the keys: switching either resets the form to its defaults
    return f"hp.{preset_name}.{task}."


def embeddings_key(preset_name: str, task: str) -> str:
    # per preset, as the form's fields: `best` starts from `auto`, the others from random embeddings
    return form_prefix(preset_name, task) + "embeddings"


def chosen_embeddings(preset_name: str, task: str) -> str | None:
    """The word2vec run the form's embeddings box names (before it is first drawn: the preset's own choice)."""
    own = preset(preset_name).train.embeddings
    return st.session_state.get(embeddings_key(preset_name, task), own if own == AUTO_VECTORS else "") or None


def vectors_choice(run_id: str) -> str:
    if not run_id:
        return "no (random initialisation)"
    return "auto (the newest on the same texts and settings, trained first if none)" if run_id == AUTO_VECTORS \
        else run_id


def form_values(fields: list[forms.Field], preset_name: str, task: str) -> dict[str, Any]:
    """What the form holds now, as config values."""
    return forms.parse_values(fields, widgets.field_values(fields, form_prefix(preset_name, task)))


def track_targets() -> tuple[Any, ...]:
    """The "Track to" field's targets, parsed and checked (package, folder, store, server); ``ValueError`` or
    ``ImportError`` (a package to install) with one line otherwise."""
    track = parse_targets(st.session_state.get("train_track") or "")
    if track:
        from rnnlab.core.report.tracking import check_targets  # only when asked: it imports the trackers' writers

        check_targets(track, {state.store().root})
    return track


def launch(preset_name: str, task: str, nonce: str) -> None:
    """The Start button's callback: build one config per cell type and launch them (once per click)."""
    ss = st.session_state
    if nonce != ss.get(state.LAUNCH_NONCE):  # a second click on a form already submitted: not worth parsing
        return
    try:
        track = track_targets()
    except (ValueError, ImportError) as e:
        ss[NOTE] = ("error", f"Not started: {e}")
        return
    fields = forms.form_fields(preset(preset_name, task=task), task)
    try:
        cfgs = forms.configs_from_form(preset_name, list(ss.get("train_cells", [])), task,
                                       form_values(fields, preset_name, task), imdb_path=state.dataset_path(),
                                       dataset=ss.get("train_dataset"),
                                       embeddings=chosen_embeddings(preset_name, task))
    except (TypeError, ValueError) as e:
        ss[NOTE] = ("error", f"Not started: {e}")
        return
    if cfgs[0].train.task == TEXT_TASK and cfgs[0].text.remove_stopwords and stopwords_found() is None:
        ss[NOTE] = ("error", "Not started: NLTK's English stop-word list is not installed, and these settings remove "
                             "stop words. Download it on the Overview page (one click), or untick *remove "
                             "stopwords* under More settings.")
        return
    try:
        ids = state.launch_once(cfgs, nonce, track=track)
    except state.LAUNCH_ERRORS as e:  # a setting the dataset cannot fit, a dataset gone: refused, no run made
        ss[NOTE] = ("error", f"Not started: {e}")
        return
    started(ids)


def started(ids: list[str]) -> None:
    """Say which runs were queued (nothing when none was: a stale click, or a repeat the page now asks about)."""
    if ids:
        first = st.session_state.get(state.VECTORS_FIRST) or []
        before = (f"No word2vec run suited them, so word2vec vectors train first ({', '.join(first)}). "
                  if first else "")
        st.session_state[NOTE] = ("success", f"Started {len(ids)} run{'s' * (len(ids) > 1)}: {', '.join(ids)}. "
                                             f"{before}They train one at a time in the background; this page shows "
                                             "their progress.")


def launch_again(nonce: str) -> None:
    """The "Launch again" button's callback: the held-back repeat of the last launch, launched as the user asked."""
    repeat = st.session_state.pop(state.REPEAT_LAUNCH, None)
    if repeat is None:  # answered already (a second click on the same button)
        return
    try:
        started(state.launch_once(repeat[0], nonce, again=True, track=track_targets()))
    except (*state.LAUNCH_ERRORS, ImportError) as e:  # the dataset changed or went since the first launch
        st.session_state[NOTE] = ("error", f"Not started: {e}")


def ask_again() -> None:
    """Ask before queueing the same runs twice: the configs the last launch had, again within seconds."""
    repeat = st.session_state.get(state.REPEAT_LAUNCH)
    if not repeat:
        return
    cfgs, ids, when = repeat
    n = plural(len(cfgs), "run")
    st.warning(f"Not started yet: these settings are the same as those of the {n} started "
               f"{duration(time.time() - when)} ago ({', '.join(ids)}). Start {n} more with the very same settings?",
               icon=":material/content_copy:")
    c1, c2, _ = st.columns([1, 1, 3])
    c1.button("Launch again", key="train_again", on_click=launch_again, args=(st.session_state[state.LAUNCH_NONCE],))
    c2.button("No", key="train_not_again", on_click=st.session_state.pop, args=(state.REPEAT_LAUNCH, None))


def cancel(run_id: str) -> None:
    try:
        jobs.cancel(state.store().get(run_id))
    except RunNotFound:
        pass


def resume(run_id: str) -> None:
    """Continue a crashed or cancelled run from its last checkpoint, in the background."""
    try:
        jobs.resume(state.store().get(run_id), state.store())
    except (RunNotFound, ValueError) as e:
        st.session_state[NOTE] = ("error", f"Not resumed: {e}")
    else:
        st.session_state[state.LAUNCHED] = [*st.session_state.get(state.LAUNCHED, []), run_id]


@st.cache_data(show_spinner=False, max_entries=64)
def _estimate(cfgs: tuple[Any, ...], root: str, stamp: tuple) -> list[Any]:
    # stamp: the store's finished runs and the dataset's sizes (state.estimate_stamp), so a run that finishes or a
    # dataset parsed meanwhile gives a new estimate at the next rerun, never a stale one
    return [training_seconds(c, state.store()) for c in cfgs]


def estimate_text(cfgs: list[Any], ests: list[Any]) -> str:
    """One total and what it times, then each run's own figure and where it comes from (each cell is measured on
    finished runs of its own)."""
    known = [e.seconds for e in ests if e.seconds is not None]
    unknown = [c.model.cell.upper() for c, e in zip(cfgs, ests, strict=True) if e.seconds is None]
    work = "; ".join(dict.fromkeys(e.work for e in ests if e.work))  # one form: the same data and epochs for each
    if not known:
        head = "Expected time: unknown"
    else:
        head = (f"Expected time{', one after another' if len(known) > 1 else ''}: about {duration(sum(known))}"
                + (f", plus the {' and '.join(unknown)} (nothing to measure {'it' if len(unknown) == 1 else 'them'}"
                   " by yet)" if unknown else ""))
    head += f"; {'each run' if len(cfgs) > 1 else 'it'} trains on {work}." if work else "."
    lines = [f"{c.model.cell.upper()}: {'unknown' if e.seconds is None else 'about ' + duration(e.seconds)}. "
             f"{e.basis[:1].upper()}{e.basis[1:]}" for c, e in zip(cfgs, ests, strict=True)]
    return "  \n".join([head, *lines])  # a Markdown line break between the runs


def show_estimate(preset_name: str, cells: tuple[str, ...], task: str, dataset: str, fields: list[Any]) -> None:
    """The expected time of the runs the form would start (its settings now), from the pace of finished runs."""
    try:
        cfgs = forms.configs_from_form(preset_name, list(cells), task, form_values(fields, preset_name, task),
                                       imdb_path=state.dataset_path(), dataset=dataset,
                                       embeddings=chosen_embeddings(preset_name, task))
    except (TypeError, ValueError):
        return  # the form says what is wrong when started
    stamp = state.estimate_stamp(cfgs[0].data.dataset, cfgs[0].data.imdb_path)
    text = estimate_text(cfgs, _estimate(tuple(cfgs), str(state.store().root), stamp))
    vectors = _vectors_estimate(cfgs[0], str(state.store().root), stamp)
    if vectors is not None:  # `auto` embeddings and no word2vec run that suits: trained first
        text += ("  \nFirst, word2vec vectors for these texts and settings: "
                 + ("unknown" if vectors.seconds is None else "about " + duration(vectors.seconds)) + ". "
                 + vectors.basis)
    st.caption(text)


@st.cache_data(show_spinner=False, max_entries=64)
def _vectors_estimate(cfg: Any, root: str, stamp: tuple) -> Any:
    """How long the word2vec run that ``cfg`` needs first would take; None when it needs none."""
    try:
        first = resolve_vectors(cfg, state.store())[1]
    except (KeyError, ValueError):
        return None
    return None if first is None else word2vec_seconds(first, state.store())


# -- the form ---------------------------------------------------------------------------------------------
st.title("Train")
lessons.show("train.py")
state.init_launch_nonce()
status = state.dataset_status()

c1, c2, c3 = st.columns([2, 1, 1])
cells = c1.multiselect("Cell types (one run each)", CELLS, default=list(CLASSIC_CELLS), key="train_cells")
preset_name = c2.selectbox("Preset", PRESETS, index=PRESETS.index("lesson"), key="train_preset", help=PRESET_HELP)
task = c3.selectbox("Task", TASKS, key="train_task", format_func=state.TASK_NAMES.get)

dataset = BUILTIN_DATASET
if task == TEXT_TASK:
    named = {d["name"]: d for d in list_datasets() if not d.get("builtin") and not d.get("error")}

    def describe(name: str) -> str:
        if name == BUILTIN_DATASET:
            return "IMDB movie reviews (positive / negative)"
        classes = named[name]["classes"]
        return f"{name} ({', '.join(classes[:6])}{' …' if len(classes) > 6 else ''})"

    dataset = state.choose_dataset(state.summaries(), key="train_dataset", options=[BUILTIN_DATASET, *named],
                                   format_func=describe,
                                   help="the dataset to train on, and the one every page shows; add your own on the "
                                        "Overview page, or with `python -m core data add`")
can_start, why_not = bool(cells), "" if cells else "Choose at least one cell type."
if task == TEXT_TASK and dataset == BUILTIN_DATASET and not status["found"]:
    can_start, why_not = False, ("The IMDB dataset is not available: get it on the Overview page (path, upload or "
                                 "download), or train on a synthetic task, which needs no data.")
if why_not:
    st.warning(why_not, icon=":material/warning:")

defaults = preset(preset_name, cell=cells[0] if cells else "lstm", task=task)
fields = forms.form_fields(defaults, task)
show_estimate(preset_name, tuple(cells), task, dataset, fields)
# live widgets, not a form: the estimate above follows every setting before anything is launched
with st.container(border=True):
    st.markdown(f"**Hyperparameters** — defaults are the `{preset_name}` preset's. Empty boxes mean *none*: off "
                "(tbptt: full backpropagation)"
                + (f", all (limit: every {state.dataset_noun(dataset, one=True)}) or fitted to the dataset (val "
                   "size: 10% of its training rows, at most 2,500)." if task == TEXT_TASK else "."))
    main = [f.name for f in fields if f.main]
    widgets.draw_fields(fields, form_prefix(preset_name, task), main=main, more=None)
    if task == TEXT_TASK:
        w2v = [AUTO_VECTORS, *vectors_runs(state.store(), dataset)]
        emb_key = embeddings_key(preset_name, task)
        own = defaults.train.embeddings if defaults.train.embeddings == AUTO_VECTORS else ""
        st.session_state.setdefault(emb_key, own)
        state.reset_stale(emb_key, ["", *w2v], own)  # vectors of the dataset chosen before
        st.selectbox("Initialise the embeddings from a word2vec run", [""] + w2v, key=emb_key,
                     format_func=vectors_choice,
                     help=f"vectors trained on {state.dataset_label(dataset)}, or imported; *auto* takes the newest "
                          "run trained on the same texts with the same text settings, and trains one first (about "
                          "10 minutes on IMDB) when there is none")
    widgets.draw_fields([f for f in fields if not f.main], form_prefix(preset_name, task), main=[],
                        more="More settings")
    st.text_input("Track to", key="train_track", placeholder="tensorboard:/path/tb, mlflow:sqlite:///path/mlflow.db",
                  max_chars=MAX_TARGETS * (MAX_TARGET_CHARS + 1), help=TRACK_HELP)
    st.button("Start training", key="train_start", type="primary", icon=":material/play_arrow:",
              disabled=not can_start, on_click=launch,
              args=(preset_name, task, st.session_state[state.LAUNCH_NONCE]))

note = st.session_state.pop(NOTE, None)
if note:
    (st.success if note[0] == "success" else st.error)(note[1])
ask_again()


# -- progress ---------------------------------------------------------------------------------------------
def run_line(row: Any) -> None:
    """One run: its state and, while it trains, its epoch and batch bars."""
    run = state.store().get(row.run_id)
    st_ = run.status()
    prog = st_.get("progress") or {}
    c1, c2 = st.columns([5, 1])
    with c1:
        st.markdown(f"**{row.label}** · {row.task} · {row.preset} · `{row.run_id}` · *{st_.get('state')}*"
                    + (f" — {prog['phase']}" if prog.get("phase") and st_.get("state") == RUNNING else ""))
        if st_.get("state") == RUNNING and prog.get("epochs"):
            epoch, epochs = int(prog.get("epoch", 0)), int(prog["epochs"])
            st.progress(min(epoch / epochs, 1.0), text=f"epoch {min(epoch + 1, epochs)} of {epochs}")
            batches = int(prog.get("batches") or 0)
            if batches:
                batch = int(prog.get("batch", 0))
                st.progress(min(batch / batches, 1.0), text=f"batch {batch} of {batches}")
        elif st_.get("state") == QUEUED:
            ahead = prog.get("ahead")
            st.caption("waiting for the runs ahead of it to finish" + (f" ({ahead} ahead)" if ahead else ""))
        elif st_.get("state") in (CRASHED, CANCELLED, FAILED) and run.file("checkpoint").is_dir():
            st.caption("Resume continues from the end of its last complete epoch.")
    with c2:
        if st_.get("state") in (QUEUED, RUNNING):
            st.button("Cancel", key=f"cancel.{row.run_id}", on_click=cancel, args=(row.run_id,),
                      icon=":material/stop:")
        elif st_.get("state") in (CRASHED, CANCELLED, FAILED) and run.file("checkpoint").is_dir():
            st.button("Resume", key=f"resume.{row.run_id}", on_click=resume, args=(row.run_id,),
                      icon=":material/play_arrow:")


def headline(tm: dict[str, Any]) -> str:
    """The test figures a run has: accuracy and F1 (IMDB), MSE (adding), whether a synthetic task was solved."""
    parts = [f"{name} {tm[key]:.4f}" for key, name in (("accuracy", "test accuracy"), ("f1", "F1"), ("mse", "test MSE"))
             if isinstance(tm.get(key), int | float)]
    if "success" in tm:
        parts.append("solved" if tm["success"] else "not solved")
    if tm.get("train_time_s") is not None:
        parts.append(f"trained in {tm['train_time_s']:.1f} s")
    return ", ".join(parts) or "no test figures"


def watch(run_id: str) -> None:
    """Curves of one run, its outcome, its error if it failed."""
    run = state.store().get(run_id)
    st_ = run.status()
    steps, epochs = state.metric_frames(run)
    s = st_.get("state")
    if s == FINISHED:
        st.success(f"Finished: {headline(state.test_metrics(run) or {})}. Compare it on the Compare page.",
                   icon=":material/check_circle:")
    elif s in (FAILED, CRASHED):
        st.error(f"{s.capitalize()}: {st_.get('error') or 'no error recorded'}", icon=":material/error:")
        log = state.read_tail(run.file(ERROR_LOG)) or state.read_tail(run.file(JOB_LOG))
        if log:
            with st.expander("Error log", expanded=True):
                st.code(log, language=None)
    elif s == CANCELLED:
        st.info("Cancelled: the weights learned so far were kept and evaluated.", icon=":material/stop_circle:")
    c1, c2, c3 = st.columns(3)
    with c1:
        state.show_chart(training.loss_curves(steps, epochs), f"loss_{run_id}", key="watch_loss")
    with c2:
        state.show_chart(training.accuracy_curves(steps, epochs), f"accuracy_{run_id}", key="watch_accuracy")
    with c3:
        clip = (run.config_dict().get("train") or {}).get("clip_norm")
        state.show_chart(training.grad_norm_curve(steps, clip), f"grad_norm_{run_id}", key="watch_grad_norm")
    if s in (QUEUED, RUNNING):
        log = state.read_tail(run.file(JOB_LOG), 2000)
        if log:
            with st.expander("Console output"):
                st.code(log, language=None)


PINNED = "train_watch_pinned"  # the run training when the user chose what to watch ("" if none was)


def pin_watch(training: str) -> None:
    st.session_state[PINNED] = training  # the user chose a run: stop following the queue until the next run starts


def progress(live: bool) -> None:
    table = state.summaries()
    state.damaged_notice(table)
    table = table[table["kind"] == "rnn"]
    if table.empty:
        st.info("Nothing trained yet. Press **Start training**: with the `lesson` preset (the default: at most 7,000 "
                "texts per split, 3 epochs, gradients recorded) all three cells trained on IMDB in about 50 s on a "
                "quiet 2-core CPU when measured (`docs/lesson/`), and the LSTM and GRU beat the RNN by 7 to 11 points.",
                icon=":material/info:")
        return
    # the queue's order: the running run, then the queued ones as they were created
    active = table[table["status"].isin([QUEUED, RUNNING])].assign(waiting=lambda d: d["status"] == QUEUED)
    active = active.sort_values(["waiting", "created"])
    mine = st.session_state.get(state.LAUNCHED, [])
    recent = table[table["run_id"].isin(mine) & ~table["status"].isin([QUEUED, RUNNING, DAMAGED])]
    recent = recent.sort_values("created")
    if active.empty:
        st.caption("Nothing is training now.")
    for row in active.itertuples():
        run_line(row)
    for row in recent.itertuples():
        run_line(row)
    options = list(dict.fromkeys([*active["run_id"], *recent["run_id"].iloc[::-1], *table["run_id"]]))
    labels = dict(zip(table["run_id"], table["label"], strict=True))
    ss = st.session_state
    running = active[active["status"] == RUNNING]["run_id"]
    training = running.iloc[0] if len(running) else ""
    if ss.get(PINNED) != training or ss.get("train_watch") not in options:
        # follow the run that trains now (else the latest started here); a choice holds until the next run starts
        ss.pop(PINNED, None)
        ss["train_watch"] = options[0]
    watched = st.selectbox("Watch", options, key="train_watch", on_change=pin_watch, args=(training,),
                           format_func=lambda r: f"{labels.get(r, r)} · {r}")
    try:
        watch(watched)
    except RunNotFound:
        st.caption("That run was deleted.")
    except DamagedRun as e:
        state.damaged_notice(e)
    if live and active.empty:
        st.rerun()  # the last run ended: redraw the page once, without polling


st.header("Progress")
if state.summaries()["status"].isin([QUEUED, RUNNING]).any():
    st.fragment(run_every=POLL_S)(progress)(live=True)
else:
    st.fragment(progress)(live=False)
