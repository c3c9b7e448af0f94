"""Overview: where the dataset stands (and three ways to get it), the compute device, the runs so far."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for standalone runs

import streamlit as st

from rnnlab.core.data.imdb import ARCHIVE_NAME, ENV_VAR, IMDB_SIZE
from rnnlab.core.data.sources import SPLITS, list_datasets
from rnnlab.core.data.text import StopwordsUnavailable, download_stopwords, stopwords_found
from rnnlab.core.figures import reviews
from rnnlab.core.jobs.names import CRASHED, DAMAGED, DATA_FILE, FAILED, FINISHED, QUEUED, RUNNING
from rnnlab.core.jobs.store import DamagedRun
from rnnlab.core.paths import data_dir
from rnnlab.dashboard import state

JOB = "overview.data_job"  # session key: the id of the download / install run started here


def data_job() -> object | None:
    """The newest download or install run (a run of kind ``data``), whoever started it; never a damaged one."""
    table = state.summaries()
    found = table[(table["kind"] == "data") & (table["status"] != DAMAGED)]["run_id"]
    return state.page_job(JOB, "data") or (state.store().get(found.iloc[0]) if len(found) else None)


def job_busy(run) -> bool:
    return run is not None and run.status().get("state") in (QUEUED, RUNNING)


def show_job(run) -> None:
    """The last download or install: a progress bar while it runs, its outcome after."""
    if run is None:
        return
    try:
        st_ = run.status()
        cfg = run.config_dict()
        where = run.read_json(DATA_FILE).get("path", "") if run.file(DATA_FILE).is_file() else ""
    except DamagedRun as e:
        state.damaged_notice(e)
        return
    action, state_ = cfg.get("action", "data job"), st_.get("state")
    prog = st_.get("progress") if isinstance(st_.get("progress"), dict) else {}
    if state_ in (QUEUED, RUNNING):
        done, total = prog.get("done") or 0, prog.get("total") or 0
        if action == "download" and isinstance(total, int) and total and isinstance(done, int):
            st.progress(min(done / total, 1.0), text=f"Downloading {done / 2**20:.1f} of {total / 2**20:.1f} MB")
        else:
            st.progress(0.0 if state_ == QUEUED else 0.5, text=f"{action}: {prog.get('phase') or state_}…")
    elif state_ == FINISHED:
        st.success(f"{action.capitalize()} finished: {where}", icon=":material/check_circle:")
    elif state_ in (FAILED, CRASHED):
        st.error(f"{action.capitalize()} failed: {st_.get('error') or 'no reason recorded'}", icon=":material/error:")


@st.fragment(run_every=1.0)
def poll_job() -> None:
    run = data_job()
    show_job(run)
    if not job_busy(run):
        st.rerun()  # the dataset changed (or the job failed): redraw the whole page once


def start_job(action: str, archive: Path | None = None, move: bool = False) -> bool:
    """Queue a download or install as a run (one data job at a time, in order); False, said why, if it failed."""
    from rnnlab.core.config import DataJobConfig

    cfg = DataJobConfig(action=action, archive=None if archive is None else str(archive), move=move)
    try:
        state.submit_job(JOB, "data", cfg, label=f"data-{action}", lane="data")
    except (OSError, ValueError) as e:  # the run store cannot be written, the job process cannot start
        st.error(f"Could not start the {action}: {e}", icon=":material/error:")
        return False
    return True


def active_data_runs() -> list[tuple[object, str]]:
    """(run, state) of the queued or running downloads and installs, whoever started them (read now, not cached)."""
    active = []
    for run in state.store().list():
        try:
            if run.kind == "data" and (state_ := run.status().get("state")) in (QUEUED, RUNNING):
                active.append((run, state_))
        except (OSError, ValueError):  # a damaged run is listed (and explained) with the runs below
            continue
    return active


def refused_while_busy() -> bool:
    """Say so, and return True, when a download or install is already queued or running: one at a time."""
    busy = active_data_runs()
    if busy:
        run, state_ = busy[0]
        st.warning(f"A download or install is already {state_} (run `{run.id}`): one data job at a time. "
                   "Nothing was started; try again when it has ended.", icon=":material/hourglass_top:")
    return bool(busy)


def copy_archive(path: str) -> None:
    """Check the path (exists, a file, gzip, size) now, then queue its install: a copy into the cache."""
    from rnnlab.core.data.imdb import DataError, check_archive_file

    try:
        archive = check_archive_file(path)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return
    if start_job("install", archive):
        st.rerun()


def install_upload(upload) -> None:
    """Check the upload (gzip, size) before it is written, stage it, and queue the install that moves it in.

    The install job removes the staged file whatever happens; if the job cannot even start, it is removed here.
    """
    from rnnlab.core.data.imdb import DataError, stage_upload

    try:
        staged = stage_upload(upload.getbuffer())
    except DataError as e:
        st.error(f"{upload.name}: {e}", icon=":material/error:")
        return
    if not start_job("install", staged, move=True):
        staged.unlink(missing_ok=True)
        return
    st.rerun()


def remove_stale_uploads() -> None:
    """Staged uploads that no queued or running install will use (one cancelled while queued, say)."""
    from rnnlab.core.data.imdb import UPLOAD_PREFIX
    from rnnlab.core.data.imdb import remove_stale_uploads as remove

    if not any(data_dir().glob(f"{UPLOAD_PREFIX}*")):  # the usual case: no need to read the run store
        return
    keep = []
    for run, _ in active_data_runs():
        try:
            keep.append(run.config_dict().get("archive") or "")
        except (OSError, ValueError):
            continue
    remove(keep)


ADDED = "overview.dataset_added"  # the outcome of the last "Add", shown once after the rerun


def add_dataset(path: str | None, upload, name: str, options: dict[str, str | None]) -> None:
    """Parse and register a dataset from a path or an upload; say what came of it (never a traceback)."""
    from rnnlab.core.data import sources
    from rnnlab.core.data.imdb import DataError

    try:
        with st.spinner("Reading the dataset (parsed once into a cache)…"):
            if upload is not None:
                entry = sources.add_uploaded_dataset(upload.getbuffer(), upload.name, name, **options)
            else:
                entry = sources.add_dataset(path, name, **options)
    except (DataError, ValueError, OSError) as e:
        st.error(f"Not added: {e}", icon=":material/error:")
        return
    counts = ", ".join(f"{split} {sum(c.values()):,}" for split, c in entry["counts"].items())
    st.session_state[ADDED] = (f"Added **{entry['name']}**: {len(entry['classes'])} classes "
                               f"({', '.join(entry['classes'][:8])}{' …' if len(entry['classes']) > 8 else ''}); "
                               f"{counts}. Choose it under *Dataset* on the Train page or any page that shows runs.")
    st.rerun()


st.title("RNN Lab")
st.markdown("Train a vanilla **RNN**, an **LSTM** and a **GRU** on IMDB movie reviews or a labelled dataset of "
            "your own, watch them learn, and compare them. Three steps: get the data (below), train on the "
            "**Train** page, compare on the **Compare** page. The pages show one dataset at a time, chosen on any "
            "of them. The synthetic tasks (`adding`, `order`) need no data at all.")

# -- dataset ----------------------------------------------------------------------------------------------
st.header("Dataset")
status = state.dataset_status()
job = data_job()

if status["found"]:
    where = "folder" if status["kind"] == "folder" else "archive"
    st.success(f"IMDB found ({where}): `{status['source']}`", icon=":material/check_circle:")
    if status["counts"]:
        c1, c2 = st.columns([1, 1])
        with c1:
            state.show_chart(reviews.dataset_counts(status["counts"]), "dataset_counts")
        with c2:
            total = sum(sum(v.values()) for v in status["counts"].values())
            st.metric("Reviews", f"{total:,}")
            st.caption(f"Parsed once into `{status['cache']}`; later loads read this cache.")
    else:
        st.info("Not parsed yet: the first load (Data page, or the first training run) parses it into a cache "
                f"(the Data page's first visit: {state.FIRST_READ}).")
else:
    st.warning("The IMDB dataset is not available yet. The synthetic tasks still train; to train on reviews, "
               "get the data in one of the three ways below.", icon=":material/warning:")
    with st.expander("Why it was not found"):
        st.write(status["error"])

if state.dataset_path():
    c1, c2 = st.columns([4, 1])
    c1.caption(f"This browser session uses the path `{state.dataset_path()}`.")
    if c2.button("Forget this path", key="forget_path"):
        st.session_state.pop(state.DATASET_PATH, None)
        st.rerun()

if job_busy(job):
    poll_job()
else:
    show_job(job)

with st.expander("Get the dataset" if status["found"] else "Get the dataset: three ways", expanded=not status["found"]):
    if job_busy(job):  # the buttons below are disabled meanwhile: say why, so a click is not silently lost
        st.warning(f"A download or install is already {job.status().get('state')} (run `{job.id}`): one data job "
                   "at a time, so the buttons below wait until it has ended.", icon=":material/hourglass_top:")
    tab_path, tab_upload, tab_download = st.tabs(["1 · A path on this machine", "2 · Upload the archive",
                                                  "3 · Download it"])
    with tab_path:
        st.markdown(f"The official `{ARCHIVE_NAME}` or its extracted `aclImdb/` folder, on the machine that runs "
                    f"the app. To make it permanent, set `{ENV_VAR}` before starting the app, or copy the archive "
                    "into the cache folder.")
        path = st.text_input("Dataset path", key="path_input", placeholder="/data/aclImdb_v1.tar.gz")
        c1, c2 = st.columns(2)
        if c1.button("Use this path", key="use_path", disabled=not path):
            from rnnlab.core.data.imdb import dataset_status

            checked = dataset_status(path.strip())
            if checked["found"]:
                st.session_state[state.DATASET_PATH] = path.strip()
                st.rerun()
            st.error(checked["error"])
        if c2.button("Copy the archive into the cache", key="copy_path", disabled=not path or job_busy(job),
                     help="validates the archive and copies it to the cache folder (a folder cannot be copied)"):
            if not refused_while_busy():
                copy_archive(path.strip())
    with tab_upload:
        st.markdown(f"Upload `{ARCHIVE_NAME}` (84 MB). It is checked in full (gzip checksum, member paths, the "
                    f"aclImdb layout) before it replaces anything, then kept in `{data_dir()}`.")
        upload = st.file_uploader("Archive", type=["gz", "tgz"], key="archive_upload")
        if st.button("Install the uploaded archive", key="install_upload", disabled=upload is None or job_busy(job)):
            if not refused_while_busy():
                install_upload(upload)
        remove_stale_uploads()
    with tab_download:
        st.markdown(f"Fetch the official archive from Stanford ({IMDB_SIZE / 1e6:.0f} MB) into `{data_dir()}`. "
                    "It runs in the background; the size and checksum are verified before it is used.")
        if st.button("Download", key="download", disabled=job_busy(job), icon=":material/download:"):
            if not refused_while_busy() and start_job("download"):
                st.rerun()

# -- other datasets ---------------------------------------------------------------------------------------
st.header("Other datasets")
st.caption("Any labelled text: a CSV / TSV / JSONL / Parquet file with a text and a label column (two classes or "
           "more), a folder of one sub-folder of .txt files per class, or a folder saved by Hugging Face "
           "`datasets`. Each is parsed once into a cache; every page then works on it like on IMDB.")
others = [d for d in list_datasets() if not d.get("builtin")]
for d in (d for d in others if d.get("error")):
    st.warning(f"Dataset `{d['name']}`: {d['error']}", icon=":material/warning:")
good = [d for d in others if not d.get("error")]
if good:
    st.dataframe([{"name": d["name"], "format": d["format"], "classes": ", ".join(d["classes"]),
                   **{split: sum((d.get("counts") or {}).get(split, {}).values()) for split in SPLITS},
                   "source": d["source"]} for d in good], hide_index=True, key="datasets_table")
if (added := st.session_state.pop(ADDED, None)):
    st.success(added, icon=":material/check_circle:")
with st.expander("Add a dataset", expanded=not good):
    c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 1])
    name = c1.text_input("Name", key="ds_name", max_chars=64, placeholder="letters, digits, - or _")
    options = {"text_col": c2.text_input("Text column", key="ds_text_col", placeholder="text") or None,
               "label_col": c3.text_input("Label column", key="ds_label_col", placeholder="label") or None,
               "split_col": c4.text_input("Split column", key="ds_split_col", placeholder="(none)",
                                          help="train / validation / test per row; none: a seeded, stratified "
                                               "80/20 train/test split") or None,
               "sep": c5.text_input("Separator", key="ds_sep", placeholder="by suffix", max_chars=3,
                                    help="a CSV's field separator: one character, or TAB") or None}
    st.caption("The columns apply to table files; leave them empty for a class folder.")
    tab_path, tab_upload = st.tabs(["A path on this machine", "Upload a file"])
    with tab_path:
        ds_path = st.text_input("Path", key="ds_path", placeholder="/data/reviews.csv or /data/reviews/")
        if st.button("Add", key="ds_add_path", disabled=not (ds_path.strip() and name.strip())):
            add_dataset(ds_path.strip(), None, name.strip(), options)
    with tab_upload:
        ds_upload = st.file_uploader("File", type=["csv", "tsv", "jsonl", "parquet"], key="ds_upload")
        if st.button("Add the upload", key="ds_add_upload", disabled=ds_upload is None or not name.strip()):
            add_dataset(None, ds_upload, name.strip(), options)

# -- device -----------------------------------------------------------------------------------------------
st.header("Device")
st.write(f"Runs with device `auto` train on: **{state.device_line()}**")

# -- setup ------------------------------------------------------------------------------------------------
st.header("Stop words")
found = stopwords_found()
if found:
    st.caption(f"NLTK's English stop-word list (the seed's preprocessing removes these words): `{found}`")
else:
    st.warning("NLTK's English stop-word list is not installed. The seed's preprocessing removes stop words, so "
               "training with the default settings would stop at once. Download the list (30 KB) here, or run "
               "`python -m nltk.downloader stopwords`; or train without removing stop words (Train page, *More "
               "settings*).", icon=":material/warning:")
    if st.button("Download the stop-word list", key="download_stopwords", icon=":material/download:"):
        try:
            with st.spinner("Downloading NLTK's stop-word list…"):
                where = download_stopwords()
        except StopwordsUnavailable as e:
            st.error(str(e), icon=":material/error:")
        else:
            st.success(f"Installed: `{where}`", icon=":material/check_circle:")

# -- runs -------------------------------------------------------------------------------------------------
st.header("Runs")
table = state.summaries()
state.damaged_notice(table)
if table.empty:
    st.info("No runs yet. Train the three models on the **Train** page (its default `lesson` preset took about two "
            "minutes for all three on IMDB on a 2-core CPU when measured), then compare them on the **Compare** "
            "page.", icon=":material/info:")
    state.page_link("train.py", "Train", ":material/model_training:")
else:
    dataset = state.choose_dataset(table, key="overview_dataset", label="Runs on the dataset")
    view = state.of_dataset(table, dataset)
    elsewhere = len(table) - len(view)
    if elsewhere:
        st.caption(f"{elsewhere} other run{'s' * (elsewhere > 1)} (other datasets, synthetic tasks, studies, data "
                   "jobs) are counted under their own dataset, or on the **Runs** page.")
    if view.empty:
        st.info(f"No runs on {state.dataset_label(dataset)} yet: train on it on the **Train** page, or choose "
                "another dataset above.", icon=":material/info:")
    else:
        counts = view["status"].value_counts()
        cols = st.columns(4)
        cols[0].metric("Runs", len(view))
        cols[1].metric("Finished", int(counts.get(FINISHED, 0)))
        cols[2].metric("Queued or running", int(counts.get(QUEUED, 0) + counts.get(RUNNING, 0)))
        cols[3].metric("Failed", int(counts.get(FAILED, 0) + counts.get(CRASHED, 0)))
        done = view[(view["status"] == FINISHED) & view["test_accuracy"].notna()]
        if not done.empty:
            best = done.sort_values("test_accuracy", ascending=False).groupby(["kind", "model"], sort=False).head(1)
            st.subheader(f"Best test accuracy per model on {state.dataset_label(dataset)}")
            st.dataframe(best[["model", "preset", "test_accuracy", "f1", "train_time_s", "run_id"]],
                         hide_index=True, key="best_runs",
                         column_config={"test_accuracy": st.column_config.NumberColumn("test accuracy", format="%.4f"),
                                        "f1": st.column_config.NumberColumn("F1", format="%.4f"),
                                        "train_time_s": st.column_config.NumberColumn("train time (s)",
                                                                                      format="%.1f")})
        st.caption(f"Latest on {state.dataset_label(dataset)}: `{view['run_id'].iloc[0]}` ({view['status'].iloc[0]}), "
                   f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(view['created'].fillna(0).iloc[0]))}")
    c1, c2 = st.columns(2)
    with c1:
        state.page_link("train.py", "Train more", ":material/model_training:")
    with c2:
        state.page_link("compare.py", "Compare runs", ":material/compare:")
