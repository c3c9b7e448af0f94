"""Runs: every run in one table (its label, name, note, quality, state, accuracy) to name, annotate, hide, show
again or delete, one or many at a time.

What it is not: starting or watching jobs (the Train page) or comparing results (the Compare page). Names,
notes and the hidden flag live in each run's ``annotations.json`` (``core.jobs.store.Run.annotate``); a run
that is queued or running is never deleted.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for standalone runs

import pandas as pd
import streamlit as st

from rnnlab.core.jobs.files import MAX_NAME_CHARS, MAX_NOTE_CHARS
from rnnlab.core.jobs.names import FAILED, QUEUED, RUNNING
from rnnlab.core.jobs.store import RunNotFound
from rnnlab.dashboard import state

FLASH = "runs.flash"  # [(level, text)] said once, after the action that produced them
ACTIVE = (QUEUED, RUNNING)
QUALITY_MARKS = {"ok": "ok", "near chance": "≈ chance", "degenerate": "degenerate", FAILED: FAILED}
COLUMNS = {  # column -> (heading, width)
    "label": ("run", "large"), "name": ("name", "medium"), "note": ("note", "medium"),
    "quality": ("quality", "small"), "status": ("status", "small"), "created": ("created", "small"),
    "test_accuracy": ("accuracy", "small"), "hidden": ("hidden", "small"), "run_id": ("run id", "medium"),
}


def plain(text: str) -> str:
    """``text`` (a name a user typed) shown as typed inside Markdown: its special characters escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$])", r"\\\1", str(text))


def flash(level: str, text: str) -> None:
    st.session_state.setdefault(FLASH, []).append((level, text))


def set_hidden(run_ids: list[str], hidden: bool) -> None:
    """Hide (or show again) each run; a run that cannot be changed is named with why."""
    done = 0
    for rid in run_ids:
        try:
            state.store().get(rid).annotate(hidden=hidden)
            done += 1
        except (RunNotFound, ValueError, OSError) as e:
            flash("error", f"`{rid}`: {e}")
    if done:
        flash("success", f"{done} run{'s' * (done > 1)} {'hidden' if hidden else 'shown again'}.")


def delete(run_ids: list[str]) -> None:
    """Delete each run (the store refuses queued and running ones, with why)."""
    done = 0
    for rid in run_ids:
        try:
            state.store().delete(rid)
            done += 1
        except (RunNotFound, ValueError, OSError) as e:
            flash("error", f"Not deleted: {e}")
    if done:
        flash("success", f"{done} run{'s' * (done > 1)} deleted.")
    st.session_state["runs_delete_sure"] = False


def save(run_id: str) -> None:
    """Write the name and note typed for ``run_id``."""
    ss = st.session_state
    try:
        state.store().get(run_id).annotate(name=ss.get(f"runs_name.{run_id}", ""),
                                           note=ss.get(f"runs_note.{run_id}", ""))
    except (RunNotFound, ValueError, OSError) as e:
        flash("error", f"Not saved: {e}")
    else:
        flash("success", "Name and note saved.")


st.title("Runs")
table = state.summaries()
if table.empty:
    st.info("No runs yet. Train a model on the **Train** page: every training, fit and download appears here, to "
            "name, annotate, hide or delete.", icon=":material/info:")
    state.page_link("train.py", "Train", ":material/model_training:")
    st.stop()
state.damaged_notice(table)
for r in table[table["annotation_warning"].notna()].itertuples():
    st.warning(f"`{r.run_id}`: {r.annotation_warning}. Saving a name or note replaces the file.",
               icon=":material/edit_off:")

hidden = table["hidden"].fillna(False).astype(bool)
show_hidden = st.toggle("Show hidden runs", key="runs_show_hidden",
                        help="hidden runs are left out of the charts; their files stay")
view = table if show_hidden else table[~hidden]
if not show_hidden and hidden.any():
    st.caption(f"{int(hidden.sum())} hidden run{'s' * int(hidden.sum() > 1)} not listed: **Show hidden runs** "
               "lists them.")

shown = pd.DataFrame({
    "label": view["label"], "name": view["name"].fillna(""), "note": view["note"].fillna(""),
    "quality": view["quality"].map(QUALITY_MARKS), "status": view["status"],
    "created": pd.to_datetime(pd.to_numeric(view["created"], errors="coerce"), unit="s", utc=True),
    "test_accuracy": pd.to_numeric(view["test_accuracy"], errors="coerce"),
    "hidden": view["hidden"].fillna(False).astype(bool), "run_id": view["run_id"],
}).reset_index(drop=True)
ids = shown["run_id"].tolist()
# The selection is kept by position: the table's key changes with the runs it lists, so a selection never
# outlives the rows it was made on (after a delete, or a run appearing, nothing stays selected by accident).
key = "runs_table." + hashlib.sha1("\n".join(ids).encode()).hexdigest()[:12]
config = {c: st.column_config.Column(h, width=w) for c, (h, w) in COLUMNS.items()}
config["test_accuracy"] = st.column_config.NumberColumn("accuracy", format="%.4f", width="small")
config["created"] = st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm", width="small")
event = st.dataframe(shown, hide_index=True, key=key, on_select="rerun", selection_mode="multi-row",
                     column_config=config, column_order=list(COLUMNS) if show_hidden else
                     [c for c in COLUMNS if c != "hidden"])
selected = [ids[i] for i in event.selection.rows if 0 <= i < len(ids)]
st.caption("Select runs with the boxes on the left of the table to hide, show or delete them; select one to name "
           "it or write a note. ≈ chance: an accuracy within two binomial standard errors of guessing on its test "
           "set; degenerate: no accuracy, or one class predicted for every review.")

for level, text in st.session_state.pop(FLASH, []):
    {"error": st.error, "success": st.success}.get(level, st.info)(text)

rows = view.set_index("run_id")
buttons = st.container(horizontal=True, gap="small")
buttons.button("Hide", key="runs_hide", icon=":material/visibility_off:", disabled=not selected,
               help="leave the selected runs out of the charts (their files stay)", on_click=set_hidden,
               args=(selected, True))
buttons.button("Show again", key="runs_unhide", icon=":material/visibility:", disabled=not selected,
               on_click=set_hidden, args=(selected, False))

# -- name and note --------------------------------------------------------------------------------------------
if len(selected) == 1:
    rid = selected[0]
    row = rows.loc[rid]
    with st.form(f"runs_edit.{rid}", border=True):
        st.markdown(f"**{plain(row['label'])}** (`{rid}`)")
        st.text_input("Name", value=row["name"] if isinstance(row["name"], str) else "", max_chars=MAX_NAME_CHARS,
                      key=f"runs_name.{rid}", help="shown first in the run's label, on every page; empty: no name")
        st.text_area("Note", value=row["note"] if isinstance(row["note"], str) else "", max_chars=MAX_NOTE_CHARS,
                     key=f"runs_note.{rid}",
                     help="what you tried and what you saw")
        st.form_submit_button("Save", key="runs_save", icon=":material/save:", on_click=save, args=(rid,))

# -- delete -----------------------------------------------------------------------------------------------------
if selected:
    busy = [rid for rid in selected if rows.loc[rid, "status"] in ACTIVE]
    doomed = [rid for rid in selected if rid not in busy]
    with st.container(border=True):
        if busy:
            st.warning("Not deleted while queued or running, cancel first (on the Train page, or `python -m core "
                       "runs --cancel RUN_ID`): " + ", ".join(f"{plain(rows.loc[r, 'label'])} ({rows.loc[r, 'status']})"
                                                             for r in busy), icon=":material/block:")
        n = len(doomed)
        sure = st.checkbox(f"I understand the files of the {n} selected run{'s' * (n != 1)} that can be deleted "
                           "are deleted for good", key="runs_delete_sure", disabled=not doomed)
        st.button(f"Delete {n} run{'s' * (n != 1)}", key="runs_delete", type="primary", icon=":material/delete:",
                  disabled=not (doomed and sure), on_click=delete, args=(doomed,))
