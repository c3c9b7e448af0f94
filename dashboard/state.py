"""What the pages share that needs Streamlit: cached loaders, session-state keys, charts with exports.

What it is: loaders over the run store and the dataset, cached with ``st.cache_data`` keyed by
the files' modification times and sizes (an unchanged file is never read twice, a changed one
always is), so a page stays fast with many runs and a poll sees fresh numbers;
``st.cache_resource`` only for read-only shared objects (the reviews frame, the device line,
the PNG exporter); the ``st.session_state`` keys the pages use; the dataset every page shows, one at
a time (:func:`choose_dataset`: a picker on each page whose choice holds on all of them, and
:func:`of_dataset` to keep a run table's rows on it); launching runs, with what a refused launch
raises (:data:`LAUNCH_ERRORS`) said on the page (:func:`launch_job`); :func:`show_chart`, which
draws a Plotly figure with a CSV download of its data and PNG and SVG downloads.

What it is not: training, fitting or writing run files (``core``), chart building
(``core.figures``), the forms (``dashboard.forms`` and ``dashboard.widgets``), page layout (``pages/``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from rnnlab.core.config import BUILTIN_DATASET, TEXT_TASK, DataConfig
from rnnlab.core.data.datasets import config_dataset, dataset_info, resolve_config
from rnnlab.core.data.imdb import DataError
from rnnlab.core.data.sources import list_datasets
from rnnlab.core.figures import static as static_images
from rnnlab.core.figures.style import figure_csv, table_csv
from rnnlab.core.jobs import labels
from rnnlab.core.jobs.names import (
    ANNOTATIONS_FILE,
    CANCELLED,
    CONFIG_FILE,
    CRASHED,
    DAMAGED,
    EVALUATIONS_FILE,
    FAILED,
    FINISHED,
    JOB_LOG,
    METRICS_FILE,
    QUEUED,
    RUNNING,
    STATUS_FILE,
    TEST_METRICS_FILE,
    VOCAB_FILE,
    WEIGHTS_FILE,
)
from rnnlab.core.jobs.store import DamagedRun, Run, RunStore

ROOT = Path(__file__).resolve().parent.parent
# what the Train and Compare pages call each task
TASK_NAMES = {TEXT_TASK: "text classification", "adding": "adding problem (synthetic)",
              "order": "temporal order (synthetic)", "copy": "copy (synthetic)"}

# -- session-state keys ---------------------------------------------------------------------------------------
DATASET_PATH = "rnnlab.dataset_path"  # IMDB path confirmed on the Overview page; None: $RNNLAB_IMDB / cache
DATASET = "rnnlab.dataset"  # the dataset every page shows (one at a time), chosen on any of them, kept across pages
LAUNCHED = "rnnlab.launched"  # ids of the runs started from this browser session, newest last
LAUNCH_NONCE = "rnnlab.launch_nonce"  # changes after every launch: a stale second click is ignored
LAST_LAUNCH = "rnnlab.last_launch"  # (time, config dicts, run ids) of the last launch: the same again soon is asked
REPEAT_LAUNCH = "rnnlab.repeat_launch"  # (configs, ids launched before, when) held back until the user says yes
# the very same configs launched again within this many seconds are held back and asked about: Enter pressed in a
# number box, or a second click, must not queue a second identical set of runs without a word
RELAUNCH_WINDOW_S = 30.0
# what a launch raises when it is refused before any run exists: a setting the dataset cannot fit (DoesNotFit, a
# ValueError), any other bad setting (ValueError), a dataset that cannot be found (DataError), an unwritable store
LAUNCH_ERRORS = (ValueError, DataError, OSError)


def dataset_path() -> str | None:
    """The dataset path the user gave on the Overview page, if any (else the environment or cache decide)."""
    return st.session_state.get(DATASET_PATH) or None


def store() -> RunStore:
    """The run store under ``$RNNLAB_HOME/runs`` (read at every call, so tests can point it elsewhere)."""
    return RunStore()


def init_launch_nonce() -> str:
    """The nonce the Start button's callback is bound to (made once per browser tab)."""
    return st.session_state.setdefault(LAUNCH_NONCE, secrets.token_hex(8))


VECTORS_FIRST = "launch.vectors_first"  # the word2vec runs the last launch queued before its trainings


def launch_once(cfgs: list[Any], nonce: str, *, again: bool = False, track: tuple[Any, ...] = ()) -> list[str]:
    """Launch one training job per config, unless this click was already served; the new run ids.

    A click is served once: the nonce it was rendered with must be the current one (it changes
    with every launch, so a second click queued on the same form does nothing). The very same
    resolved configs as the last launch, within :data:`RELAUNCH_WINDOW_S`, are not launched: they
    wait in :data:`REPEAT_LAUNCH` for the page to ask, and go with ``again=True`` once the user says
    so. ``track``: where the runs are tracked live (``core.jobs.targets``, checked by the page). Launched ids are
    added to ``LAUNCHED``. Training itself runs in ``python -m core job``
    processes (``core.jobs.lifecycle``). Every config is fitted to its dataset first
    (:func:`core.data.datasets.resolve_config`): one that cannot fit raises :data:`LAUNCH_ERRORS`
    before any run is created or the click is spent.
    """
    from rnnlab.core.jobs import lifecycle as jobs

    ss = st.session_state
    if nonce != ss.get(LAUNCH_NONCE):
        return []
    # fitted to their dataset before anything is recorded: a setting that cannot fit raises here, and no run exists
    cfgs = [resolve_config(c) for c in cfgs]
    dicts = [c.to_dict() for c in cfgs]
    last = ss.get(LAST_LAUNCH)
    ss.pop(REPEAT_LAUNCH, None)  # a new launch answers any question still open
    if not again and last and last[1] == dicts and time.time() - last[0] < RELAUNCH_WINDOW_S:
        ss[REPEAT_LAUNCH] = (cfgs, last[2], last[0])
        return []
    ss[LAUNCH_NONCE] = secrets.token_hex(8)  # before launching: a click arriving meanwhile is stale
    rs = store()
    cfgs = vectors_first(cfgs, rs)
    ids = [jobs.submit("rnn", cfg, rs, track=track).id for cfg in cfgs]
    ss[LAST_LAUNCH] = (time.time(), dicts, ids)
    ss[LAUNCHED] = [*ss.get(LAUNCHED, []), *ids]
    return ids


def vectors_first(cfgs: list[Any], rs: RunStore) -> list[Any]:
    """Each config with the word2vec run it reads named (``embeddings = "auto"``, :mod:`core.jobs.vectors`); where
    the store has none that suit, the vectors are queued first (one run per distinct need) in the lane the
    trainings queue in after them. The queued word2vec runs go to :data:`VECTORS_FIRST`."""
    from rnnlab.core.jobs import lifecycle as jobs
    from rnnlab.core.jobs.vectors import resolve_vectors, with_vectors

    out, firsts = [], {}
    for cfg in cfgs:
        cfg, first = resolve_vectors(cfg, rs)
        if first is not None:
            key = repr(first.to_dict())
            if key not in firsts:
                firsts[key] = jobs.submit("word2vec", first, rs, label="word2vec-skipgram").id
            cfg = with_vectors(cfg, firsts[key])
        out.append(cfg)
    st.session_state[VECTORS_FIRST] = list(firsts.values())
    return out


def page_link(page: str, label: str, icon: str | None = None) -> None:
    """A link to another page (``page``: its file in ``pages/``); plain text when the page runs on its own."""
    from streamlit.errors import StreamlitAPIException

    try:
        shipped = ROOT / "dashboard" / "shipped" / "pages"  # an installed copy keeps the pages here (see app.py)
        st.page_link(str((shipped if shipped.is_dir() else ROOT / "pages") / page), label=label, icon=icon)
    except (StreamlitAPIException, KeyError):  # no st.navigation: a page run alone, or under AppTest
        st.markdown(f"→ the **{label}** page")


# -- the run store ----------------------------------------------------------------------------------------
def _stamp(path: Path) -> tuple[int, int]:
    try:
        s = path.stat()
    except OSError:
        return (0, 0)
    return (s.st_mtime_ns, s.st_size)


def run_stamp(run: Run, *names: str) -> tuple[tuple[int, int], ...]:
    """Modification time and size of the run's files ``names`` (default: config, status, test metrics)."""
    names = names or (CONFIG_FILE, STATUS_FILE, TEST_METRICS_FILE)
    return tuple(_stamp(run.path / n) for n in names)


@st.cache_data(show_spinner=False, max_entries=1024)
def _summary(path: str, stamp: tuple) -> dict[str, Any]:
    return Run(Path(path)).summary()  # never raises: a damaged run's row has status "damaged"


# the files Run.summary() reads: a change to any of them makes the row be read again
SUMMARY_FILES = (CONFIG_FILE, STATUS_FILE, TEST_METRICS_FILE, VOCAB_FILE, WEIGHTS_FILE,
                 ANNOTATIONS_FILE)

SUMMARY_COLUMNS = ["run_id", "dataset", "label", "name", "note", "hidden", "quality", "annotation_warning", "classes",
                   "kind", "model", "cell", "task", "preset", "layers", "bidirectional", "status", "error", "created",
                   "test_accuracy", "precision", "recall", "f1", "roc_auc", "train_time_s", "samples_per_s",
                   "inference_samples_per_s", "params_seed_formula", "params_pytorch", "params_total"]


def evaluations(run_ids: list[str], rs: RunStore | None = None) -> pd.DataFrame:
    """One row per (run, dataset) a run was evaluated on (``evaluations.json``); damaged files are left out."""
    rs = rs or store()
    rows = []
    for run_id in run_ids:
        try:
            run = rs.get(run_id)
            if not run.file(EVALUATIONS_FILE).is_file():
                continue
            body = run.read_json(EVALUATIONS_FILE)
        except (KeyError, OSError, ValueError):
            continue
        for dataset, m in (body.items() if isinstance(body, dict) else []):
            if isinstance(m, dict):
                # "dataset" is the stored name: "imdb", or "imdb (first 20 words)" for texts cut short
                rows.append({"run_id": run_id, "dataset": dataset, "reviews": m.get("n"),
                             "words_per_text": m.get("mean_words"), "accuracy": m.get("accuracy"), "f1": m.get("f1"),
                             "note": m.get("note") or ""})
    return pd.DataFrame(rows, columns=["run_id", "dataset", "reviews", "words_per_text", "accuracy", "f1", "note"])


CHANCE_MARK = " · ≈ chance"


def summaries(rs: RunStore | None = None) -> pd.DataFrame:
    """One row per run (``Run.summary()``), newest first.

    ``label`` is the run's human label (:func:`core.jobs.labels.run_label`: its name, cell, preset,
    reviews, epochs, the options that differ from the preset, the id's suffix; :data:`CHANCE_MARK` at
    the end of a run whose accuracy is near chance, so every page flags it); ``quality`` is
    :func:`core.jobs.labels.quality`'s verdict; ``name``, ``note`` and ``hidden`` are what a user wrote
    about it. Rows are cached per run until one of its files changes; the state of a queued or running
    run is read afresh every time, since it turns to ``crashed`` when its process disappears.
    """
    rs = rs or store()
    rows = []
    for run in rs.list():
        try:
            row = dict(_summary(str(run.path), run_stamp(run, *SUMMARY_FILES)))
        except (OSError, ValueError):  # a folder half-written by another process: skip it this time
            continue
        if row.get("status") in (QUEUED, RUNNING):
            try:
                live = run.status()
                row.update(status=live.get("state"), error=live.get("error"))
            except DamagedRun as e:  # damaged since it was cached
                row.update(status=DAMAGED, error=f"{e.file}: {e.reason}")
            if row["status"] not in (QUEUED, RUNNING):  # crashed: the cached verdict was "not yet"
                row["quality"] = labels.quality(row["status"], None)
        row["label"] = row.get("label") or labels.run_label(row["run_id"], row.get("kind"))
        if row.get("quality") == labels.NEAR_CHANCE:  # flagged wherever the run appears: pickers, legends, tables
            row["label"] += CHANCE_MARK
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def estimate_stamp(dataset: str | None, imdb_path: str | None = None, table: pd.DataFrame | None = None) -> tuple:
    """What an estimate depends on besides its configs, for a cache key: the ids of the store's finished runs (a run
    that finishes, or is deleted, makes it measured again) and the sizes of ``dataset`` (read again once its archive
    is parsed or its entry changes; a dataset that cannot be read: why). Cheap: rows cached, sizes read no text."""
    table = summaries() if table is None else table
    finished = tuple(sorted(table.loc[table["status"] == FINISHED, "run_id"])) if not table.empty else ()
    try:
        sizes: Any = dataset_info(dataset, imdb_path if config_dataset(dataset) is None else None)
    except (DataError, OSError, ValueError) as e:
        sizes = str(e)
    return finished, sizes


# -- the dataset the pages show --------------------------------------------------------------------------------
def _runs_datasets(table: pd.DataFrame | None) -> list[str]:
    """The datasets the runs of a :func:`summaries` table read, the newest run's first."""
    return [] if table is None or table.empty else list(dict.fromkeys(table["dataset"].dropna()))


def dataset_options(table: pd.DataFrame | None = None) -> list[str]:
    """The datasets a page may show, in a stable order: IMDB, every added one (as registered), then any dataset
    that only runs still name (its entry removed since). A run never reorders them."""
    try:
        known = [d["name"] for d in list_datasets() if not d.get("error")]
    except (OSError, ValueError):  # an unreadable datasets folder: IMDB and the runs' datasets are still offered
        known = []
    return list(dict.fromkeys([BUILTIN_DATASET, *known, *_runs_datasets(table)]))


def current_dataset(table: pd.DataFrame | None = None) -> str:
    """The dataset the pages show (:data:`DATASET`, chosen on any page); before any choice, IMDB when it has runs
    or no other dataset has, else the dataset of the newest run. A dataset that is gone (no entry, no run) is
    forgotten."""
    chosen = st.session_state.get(DATASET)
    if isinstance(chosen, str) and chosen and chosen in dataset_options(table):
        return chosen
    with_runs = _runs_datasets(table)
    return BUILTIN_DATASET if not with_runs or BUILTIN_DATASET in with_runs else with_runs[0]


def choose_dataset(table: pd.DataFrame | None = None, *, key: str, label: str = "Dataset",
                   options: list[str] | None = None, format_func: Any = None, container: Any = None,
                   help: str | None = None) -> str:
    """A dataset picker whose choice holds on every page (:data:`DATASET`); the chosen dataset's name.

    Each page draws its own widget (``key``: unique on the page) and shows what was chosen on any
    other page; choosing here changes it for all of them. The first default (see
    :func:`current_dataset`) is kept for the session, so a run on another dataset never pushes this
    one's runs out of view. ``options``: a page's own list (the Train page offers the datasets it can
    train on); when the current dataset is not among them the first is shown and the choice made
    elsewhere is left alone until the user picks here.
    """
    options = list(options) if options is not None else dataset_options(table)
    chosen = current_dataset(table)
    shown = chosen if chosen in options else options[0]
    if st.session_state.get(key) != shown:
        st.session_state[key] = shown  # another page changed the choice since this one last drew

    def remember() -> None:
        st.session_state[DATASET] = st.session_state[key]

    where = container if container is not None else st
    picked = where.selectbox(label, options, key=key, on_change=remember, format_func=format_func or dataset_label,
                             help=help or "the dataset this page shows; the choice holds on every page")
    if chosen in options:
        st.session_state[DATASET] = picked  # the first default, kept: a newer run elsewhere does not move it
    return picked


def reset_stale(key: str, options: list[Any], default: Any) -> None:
    """Put the widget ``key`` back to ``default`` when it holds something no longer among ``options`` (a run picked
    while another dataset was shown, or deleted since). Called before the widget is drawn; a multiselect is reset
    when any of its picks is gone. Set, not forgotten: the browser then shows the default too."""
    ss = st.session_state
    if key not in ss:
        return
    value = ss[key]
    picks = value if isinstance(value, list | tuple) else [value]
    if any(v not in options for v in picks if v is not None):
        ss[key] = default


def dataset_label(name: str) -> str:
    """How a dataset reads in a picker: IMDB by its full name, another by its own."""
    return "IMDB movie reviews" if name == BUILTIN_DATASET else name


def dataset_noun(name: str | None, one: bool = False) -> str:
    """What a dataset's rows are called in a sentence: IMDB's are reviews, another's texts (``one``: singular)."""
    noun = "review" if name in (None, BUILTIN_DATASET) else "text"
    return noun if one else noun + "s"


def data_config(dataset: str, **fields: Any) -> DataConfig:
    """The data part of a job on ``dataset``: IMDB stored as none (found through the path given on the Overview
    page, ``$RNNLAB_IMDB`` or the cache), another dataset by its name; ``fields``: the rest (``limit``...)."""
    named = config_dataset(dataset)
    return DataConfig(dataset=named, imdb_path=None if named else dataset_path(), **fields)


def dataset_problem(name: str) -> str | None:
    """Why ``name`` cannot be read now (IMDB not found, an added dataset's entry gone or damaged), in a sentence;
    None when it can. Cheap: sizes only, no text is read."""
    try:
        dataset_info(name, dataset_path() if config_dataset(name) is None else None)
    except (DataError, OSError, ValueError) as e:
        return f"The dataset {dataset_label(name)} is not available: {str(e).rstrip('.')}."
    return None


def of_dataset(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The rows of a :func:`summaries` table of runs on ``dataset``."""
    return table[table["dataset"] == dataset] if not table.empty else table


def chartable(table: pd.DataFrame, show_all: bool = False) -> pd.DataFrame:
    """The rows of a :func:`summaries` table that charts draw by default: not hidden, not failed, not degenerate.

    ``show_all``: every row. Near-chance runs stay (flag them instead: their numbers are real, only weak).
    """
    if show_all or table.empty:
        return table
    keep = ~table["hidden"].fillna(False).astype(bool) & ~table["quality"].isin(labels.HIDDEN_BY_DEFAULT)
    return table[keep]


@st.cache_data(show_spinner=False, max_entries=256)
def _metric_frames(path: str, stamp: tuple) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    read = Run(Path(path)).metrics_read()
    return (*_frames(read.records), read.skipped)


def _frames(records: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    steps = pd.DataFrame([r for r in records if r.get("kind") == "step"],
                         columns=["step", "epoch", "loss", "grad_norm", "clipped", "skipped", "correct", "batch_size"])
    steps["accuracy"] = pd.to_numeric(steps["correct"], errors="coerce") / pd.to_numeric(steps["batch_size"],
                                                                                       errors="coerce")
    epochs = pd.DataFrame([r for r in records if r.get("kind") == "epoch"],
                          columns=["epoch", "step", "train_loss", "val_loss", "train_accuracy", "val_accuracy",
                                   "epoch_time_s", "samples_per_s", "best"])
    return steps, epochs


def metric_frames(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(steps, epochs)`` of a run's metrics.jsonl as frames (``steps`` gains a batch ``accuracy``).

    Lines that are not valid records are skipped, with a caption saying how many; an unreadable
    file shows the damage notice and gives empty frames.
    """
    try:
        steps, epochs, skipped = _metric_frames(str(run.path), run_stamp(run, METRICS_FILE))
    except DamagedRun as e:
        damaged_notice(e)
        (steps, epochs), skipped = _frames([]), 0
    if skipped:
        st.caption(f"`{run.id}`: {skipped} unreadable line{'s' * (skipped > 1)} of metrics.jsonl skipped.")
    return steps, epochs


@st.cache_data(show_spinner=False, max_entries=256)
def _test_metrics(path: str, stamp: tuple) -> dict[str, Any] | None:
    return Run(Path(path)).test_metrics()


def test_metrics(run: Run) -> dict[str, Any] | None:
    """The run's test_metrics.json, validated; None when it has none, or (with the damage notice) a damaged one."""
    try:
        return _test_metrics(str(run.path), run_stamp(run, TEST_METRICS_FILE))
    except DamagedRun as e:
        damaged_notice(e)
        return None


def damaged_notice(damage: pd.DataFrame | DamagedRun | None, *, limit: int = 5) -> None:
    """A small warning naming each damaged run (its id, the file and why); nothing when there is none.

    ``damage``: a :func:`summaries` table (its rows with status ``damaged``) or one :class:`DamagedRun`.
    The rest of the page carries on: a damaged run is listed, never opened.
    """
    if damage is None:
        return
    if isinstance(damage, DamagedRun):
        lines = [f"`{damage.run_id}`: {damage.file}: {damage.reason}"]
    else:
        rows = damage[damage["status"] == DAMAGED]
        lines = [f"`{r.run_id}`: {r.error}" for r in rows.itertuples()]
    if not lines:
        return
    more = len(lines) - limit
    st.warning(f"{'This run is' if len(lines) == 1 else 'These runs are'} damaged and cannot be opened "
               "(delete them on the Compare page or with `python -m core runs --delete RUN_ID`):\n\n"
               + "\n".join(f"- {line}" for line in lines[:limit]) + (f"\n- and {more} more" if more > 0 else ""),
               icon=":material/report:")


def read_tail(path: Path, max_chars: int = 6000) -> str:
    """The end of a text file (a log), or "" when it does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_chars))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


# -- the dataset ------------------------------------------------------------------------------------------
def dataset_status() -> dict[str, Any]:
    """``core.data.imdb.dataset_status`` for the dataset path given in this browser (cheap: never a parse)."""
    from rnnlab.core.data.imdb import dataset_status as status

    return status(dataset_path())


# What the first read of the full IMDB archive into its cache takes, as the pages say it. Measured on 7 December 2026
# on this project's 2-core machine with other work running beside it (load average 6-9): the Data page's first visit
# under AppTest, the Overview rendered before it as a user would, 9, 17, 18, 19, 22 and 27 s (the parse itself 10.6 s
# of it, bench/bench_data.py, and 5.1-5.5 s when the machine was idle, README); a first visit from the cache 2.6-3.6 s.
FIRST_READ = "about 10-30 s on a 2-core CPU, the longer the more other work runs beside it"


@st.cache_resource(show_spinner="Loading the reviews…", max_entries=2)
def _reviews(source: str, cache_name: str) -> pd.DataFrame:
    from rnnlab.core.data.imdb import load_imdb

    return load_imdb(source)


def reviews(status: dict[str, Any]) -> pd.DataFrame:
    """All reviews of a found dataset (shared, read-only: never modify the frame)."""
    return _reviews(status["source"], Path(status["cache"]).name)


@st.cache_data(show_spinner="Measuring the reviews…", max_entries=4)
def review_lengths(source: str, cache_name: str) -> pd.DataFrame:
    """Words per review before preprocessing: columns split, label, length.

    A word count is the number of spaces plus one, counted by Arrow in C++: ~20x faster than a
    regular expression over 100,000 reviews and within 0.02 words of it on average (IMDB
    separates words by single spaces almost everywhere).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from rnnlab.core.data.imdb import LABEL_NAMES

    df = _reviews(source, cache_name)
    words = pc.add(pc.count_substring(pa.array(df["text"], pa.string()), " "), 1).to_numpy()
    return pd.DataFrame({"split": df["split"].to_numpy(), "label": df["label"].map(LABEL_NAMES).to_numpy(),
                         "length": words})


@st.cache_data(show_spinner="Counting words…", max_entries=16)
def word_counts(source: str, cache_name: str, split: str, sample: int, text_cfg: dict[str, Any]) -> pd.DataFrame:
    """Token counts per label over a seeded sample of ``sample`` reviews of ``split`` after preprocessing."""
    from collections import Counter

    from rnnlab.core.config import TextConfig
    from rnnlab.core.data.imdb import LABEL_NAMES
    from rnnlab.core.data.text import tokenize_corpus

    df = _reviews(source, cache_name)
    part = df[df["split"] == split]
    if len(part) > sample:
        part = part.sample(sample, random_state=0)
    rows = []
    cfg = TextConfig(**text_cfg)
    for label, group in part.groupby("label"):
        counts = Counter(t for toks in tokenize_corpus(group["text"].tolist(), cfg, workers=1) for t in toks)
        rows += [{"group": LABEL_NAMES.get(int(label), str(label)), "word": w, "count": c}
                 for w, c in counts.most_common(50)]
    return pd.DataFrame(rows, columns=["group", "word", "count"])


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=2)
def _dataset_frame(name: str, cache_name: str) -> pd.DataFrame:
    from rnnlab.core.data.sources import load_dataset

    return load_dataset(name)


def dataset_frame(name: str) -> pd.DataFrame:
    """Every row of a dataset added with ``data add`` (shared, read-only), cached until its parsed cache changes;
    ``attrs`` holds its ``classes`` and ``source``. Raises ``DataError`` when it cannot be loaded."""
    from rnnlab.core.data.sources import cache_path, read_entry

    return _dataset_frame(name, cache_path(read_entry(name)).name)


@st.cache_data(show_spinner=False, max_entries=4)
def _test_texts(name: str, stamp: str) -> pd.DataFrame:
    if config_dataset(name) is None:
        from rnnlab.core.data.imdb import LABEL_NAMES

        status = dataset_status()
        df, names = _reviews(status["source"], Path(status["cache"]).name), LABEL_NAMES
    else:
        df = dataset_frame(name)
        names = dict(enumerate(df.attrs["classes"]))
    part = df[df["split"] == "test"]
    return pd.DataFrame({"text": part["text"].to_numpy(), "label": part["label"].map(names).to_numpy()})


def test_texts(name: str) -> pd.DataFrame:
    """The test split of a dataset (columns ``text`` and ``label``, the class's name); empty when the dataset
    cannot be read (IMDB not found, an added dataset gone)."""
    try:
        if config_dataset(name) is None:
            status = dataset_status()
            if not status["found"]:
                return pd.DataFrame(columns=["text", "label"])
            return _test_texts(name, f"{status['source']}:{Path(status['cache']).name}")
        from rnnlab.core.data.sources import cache_path, read_entry

        return _test_texts(name, cache_path(read_entry(name)).name)
    except (DataError, OSError, ValueError, KeyError):
        return pd.DataFrame(columns=["text", "label"])


# -- caches bounded in bytes ------------------------------------------------------------------------------
# Budgets of the process-wide caches of results computed from live text, all sessions together. One
# introspection weighs 0.1-3 MB: a long review is analysed only up to 8 words per token the model reads
# (core.analysis.introspect.analysed_text), and its states are max_len x hidden per gate.
CACHE_BUDGETS = {"gates.introspection": 64 * 2**20}


@st.cache_resource(show_spinner=False)
def byte_cache(name: str) -> Any:
    """The process-wide :class:`core.analysis.cache.ByteLRU` called ``name``, of ``CACHE_BUDGETS[name]`` bytes.

    For results whose size depends on the input (a review's introspection): ``st.cache_data`` bounds
    only the number of entries, and copies each value out on every hit.
    """
    from rnnlab.core.analysis.cache import ByteLRU

    return ByteLRU(CACHE_BUDGETS[name])


def cached(name: str, key: Any, compute: Any, spinner: str | None = None) -> Any:
    """``compute()``, kept in :func:`byte_cache` ``name`` under ``key`` (shared: never modify it).

    ``spinner`` is shown while it computes. Exceptions are not cached.
    """
    cache = byte_cache(name)
    missing = object()
    value = cache.get(key, missing)
    if value is missing:
        with st.spinner(spinner) if spinner else contextlib.nullcontext():
            value = cache.put(key, compute())
    return value


# -- the machine ------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def device_line() -> str:
    """``CUDA GPU: <name>`` or ``CPU (n threads)``: what a run with device "auto" trains on."""
    from rnnlab.core.device import describe_device

    return describe_device("auto")


# -- charts with their exports ----------------------------------------------------------------------------
_PNG_LOCK = threading.Lock()


def png_export_available() -> bool:
    """PNG and SVG buttons are offered when kaleido and a Chrome for it to drive (found as kaleido finds it) are."""
    return static_images.unavailable() is None


@st.cache_resource(show_spinner=False)
def _png_server() -> bool:
    """Start kaleido's browser once per process: a PNG then takes ~0.3 s instead of ~4 s."""
    try:
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
        return True
    except Exception:  # no server: each export starts its own browser (slower, still works)
        return False


def _figure_image(fig: Any, fmt: str, **size: Any) -> bytes:
    """``fig`` rendered by kaleido through the process's shared browser (one export at a time)."""
    import warnings

    _png_server()
    with _PNG_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fig.to_image(format=fmt, width=1100, height=fig.layout.height or 450, **size)


def figure_png(fig: Any) -> bytes:
    """The figure as a PNG (rendered server-side by kaleido; only when a user asks for it)."""
    return _figure_image(fig, "png", scale=2)


def figure_svg(fig: Any) -> bytes:
    """The figure as an SVG document (vector: scales for print and slides; rendered like :func:`figure_png`)."""
    return _figure_image(fig, "svg")


def chart_config(name: str) -> dict[str, Any]:
    """Plotly's settings for a chart: its camera button saves an SVG named ``name``, drawn by the browser."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": "svg", "filename": name}}


def show_chart(fig: Any, name: str, *, key: str | None = None, data: pd.DataFrame | None = None) -> None:
    """Draw ``fig`` with downloads of its data (CSV) and of the picture (PNG and SVG).

    ``data``: the table behind the figure when the page has it (the CSV is then that table);
    otherwise the CSV is read from the figure's traces. Plotly's own toolbar saves an SVG named
    after ``name``, drawn by the browser (camera icon, :func:`chart_config`): it needs nothing on the
    server. The PNG and SVG buttons are rendered on the server by kaleido, offered where it has a Chrome;
    elsewhere a line says how to get one. Every download is generated only when clicked, so they cost
    nothing when the page draws.
    """
    key = key or name
    st.plotly_chart(fig, key=f"chart.{key}", config=chart_config(name))
    row = st.container(horizontal=True, gap="small")
    # every CSV goes through table_csv: a class or run name like =HYPERLINK(...) must stay text in a spreadsheet
    csv = (lambda: table_csv(data)) if data is not None else (lambda: figure_csv(fig))
    row.download_button("CSV", data=csv, file_name=f"{name}.csv", mime="text/csv",
                        key=f"csv.{key}", on_click="ignore", icon=":material/download:", type="tertiary")
    if not png_export_available():  # the browser still draws the SVG: say so, and what the server lacks
        why = static_images.unavailable() or static_images.NO_CHROME
        row.caption(f"The camera icon over the chart saves it as an SVG; no PNG here: {why}.")
    else:
        row.download_button("PNG", data=lambda: figure_png(fig), file_name=f"{name}.png", mime="image/png",
                            key=f"png.{key}", on_click="ignore", icon=":material/image:", type="tertiary")
        row.download_button("SVG", data=lambda: figure_svg(fig), file_name=f"{name}.svg", mime="image/svg+xml",
                            key=f"svg.{key}", on_click="ignore", icon=":material/draw:", type="tertiary")


# -- background jobs: every page polls runs only --------------------------------------------------------------
JOB_STATES = {QUEUED: ("Waiting for its turn", ":material/schedule:"),
              RUNNING: ("Running", ":material/hourglass_top:"),
              FINISHED: ("Finished", ":material/check_circle:"),
              FAILED: ("Failed", ":material/error:"),
              CANCELLED: ("Cancelled", ":material/cancel:"),
              CRASHED: ("Crashed: its process is gone", ":material/report:")}


def submit_job(key: str, kind: str, cfg: Any, *, label: str | None = None, lane: str | None = "train") -> Run:
    """Launch a run of ``kind`` in its own process and remember it as this page's job (``key``).

    Raises :data:`LAUNCH_ERRORS` (a setting the dataset cannot fit, a dataset that cannot be found, a run
    store that cannot be written) before any run exists; :func:`launch_job` says so on the page instead.
    """
    from rnnlab.core.jobs import lifecycle

    run = lifecycle.submit(kind, cfg, store(), label=label, lane=lane)
    st.session_state[key] = run.id
    return run


def launch_job(key: str, kind: str, cfg: Any, *, label: str | None = None, lane: str | None = "train") -> Run | None:
    """:func:`submit_job`, or ``None`` with the reason shown (``st.error``, never a traceback) when it is refused."""
    try:
        return submit_job(key, kind, cfg, label=label, lane=lane)
    except LAUNCH_ERRORS as e:
        st.error(f"Not started: {e}", icon=":material/error:")
        return None


def page_job(key: str, kind: str) -> Run | None:
    """The run this page follows: the one launched from it in this session, else the newest active run of ``kind``.

    Found in the store every time, so a reload or another tab sees the same job.
    A damaged run is never followed: its notice is shown instead (once, for the session's own job).
    """
    rs = store()
    run_id = st.session_state.get(key)
    if run_id:
        try:
            run = rs.get(run_id)
            run.kind, run.status()  # both readable, or DamagedRun
            return run
        except KeyError:
            st.session_state.pop(key, None)
        except DamagedRun as e:
            st.session_state.pop(key, None)
            damaged_notice(e)
    for run in rs.list():
        try:
            if run.kind == kind and run.status().get("state") in (QUEUED, RUNNING):
                return run
        except (OSError, ValueError):  # a damaged run (DamagedRun is a ValueError) is not followed
            continue
    return None


def _progress_text(st_: dict[str, Any]) -> str:
    prog = st_.get("progress") if isinstance(st_.get("progress"), dict) else {}
    parts = []
    if prog.get("phase"):
        parts.append(str(prog["phase"]))
    if prog.get("ahead"):
        parts.append(f"{prog['ahead']} job{'s' * (prog['ahead'] > 1)} ahead")
    if isinstance(prog.get("epoch"), int) and isinstance(prog.get("epochs"), int):
        parts.append(f"epoch {prog['epoch'] + 1} of {prog['epochs']}")
    if isinstance(prog.get("done"), int) and isinstance(prog.get("total"), int) and prog["total"]:
        parts.append(f"{prog['done']} of {prog['total']}")
    return " · ".join(parts)


def job_panel(run: Run, what: str, *, key: str) -> str:
    """One run's state with its progress, error, log tail, and Cancel / Resume buttons; returns the state."""
    from rnnlab.core.jobs import lifecycle
    from rnnlab.core.jobs.kinds import job_kind

    st_ = run.status()
    state_ = st_.get("state", "unknown")
    title, icon = JOB_STATES.get(state_, (state_, ":material/help:"))
    started = st_.get("started")
    elapsed = (st_.get(FINISHED) or time.time()) - started if isinstance(started, int | float) else None
    line = f"**{what}** (`{run.id}`): {title}" + (f" · {elapsed:.0f} s" if elapsed is not None else "")
    detail = _progress_text(st_) if state_ in (QUEUED, RUNNING) else ""
    box = {FINISHED: st.success, FAILED: st.error, CRASHED: st.error}.get(state_, st.info)
    box(line + (f" — {detail}" if detail else "") + (f"\n\n{st_['error']}" if st_.get("error") else ""), icon=icon)
    buttons = st.container(horizontal=True, gap="small")
    if state_ in (QUEUED, RUNNING):
        if buttons.button("Cancel", key=f"{key}.cancel.{run.id}", icon=":material/stop:"):
            lifecycle.cancel(run)
            st.toast("Asked the job to stop: it stops at its next check.")
    elif state_ in (CRASHED, CANCELLED, FAILED) and job_kind(run.kind).resumable:
        if buttons.button("Resume", key=f"{key}.resume.{run.id}", icon=":material/play_arrow:",
                          help="continue from its last checkpoint (the end of its last complete epoch)"):
            lifecycle.resume(run, store())
    log = read_tail(run.file(JOB_LOG), 3000)
    if log:
        with st.expander("Console output", expanded=state_ in (FAILED, CRASHED)):
            st.code(log, language=None)
    return state_


def follow_job(key: str, kind: str, what: str, *, poll_s: float = 2.0) -> Run | None:
    """:func:`job_panel` for this page's job, polled while it is queued or running.

    When the job ends the whole page runs again, so everything below it shows the new results
    (no manual reload).
    """
    run = page_job(key, kind)
    if run is None:
        return None
    try:
        live = run.status().get("state") in (QUEUED, RUNNING)
    except DamagedRun as e:  # damaged since page_job looked
        damaged_notice(e)
        return None

    def panel() -> None:
        try:
            state_ = job_panel(run, what, key=key)
        except DamagedRun as e:  # damaged while it was polled
            damaged_notice(e)
            return
        if live and state_ not in (QUEUED, RUNNING):
            st.rerun(scope="app")

    (st.fragment(run_every=poll_s) if live else st.fragment)(panel)()
    return run


def select_new_result(select_key: str, job_key: str, kind: str, options: list[str]) -> None:
    """Select this page's job's run in the selectbox ``select_key`` once it is among ``options`` (finished).

    Called before the selectbox is drawn: the run a page just made is the one it shows, while a
    later choice by the user holds (the selection is made once per job).
    """
    run = page_job(job_key, kind)
    seen = f"{select_key}.followed"
    if run is not None and run.id in options and st.session_state.get(seen) != run.id:
        st.session_state[select_key] = run.id
        st.session_state[seen] = run.id
