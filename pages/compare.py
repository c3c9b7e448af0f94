"""Compare: a table of runs with their test metrics and costs, overlaid curves, confusion matrices, ROC curves;
delete runs, export the table, import a run trained elsewhere.

Hidden runs (the Runs page, ``runs --hide``) are left out, and failed or degenerate ones are listed but
not drawn, unless the "show" toggle says otherwise; near-chance runs are marked "≈ chance"."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for standalone runs

import pandas as pd
import streamlit as st

from rnnlab.core.config import BUILTIN_DATASET, SYNTHETIC_TASKS, TEXT_TASK
from rnnlab.core.figures import comparison
from rnnlab.core.figures.style import table_csv
from rnnlab.core.jobs.estimate import run_test_set, test_set_note
from rnnlab.core.jobs.imports import import_run
from rnnlab.core.jobs.names import (
    CANCELLED,
    CONFIG_FILE,
    DAMAGED,
    FAILED,
    FINISHED,
    QUEUED,
    RUNNING,
    VOCAB_FILE,
    WEIGHTS_FILE,
)
from rnnlab.core.jobs.store import RunNotFound
from rnnlab.core.models.checkpoint import CheckpointError
from rnnlab.dashboard import lessons, state

MAX_DEFAULT = 6  # runs drawn by default: enough to compare, few enough to read
COLUMNS = {  # summary column -> table heading, number format, width
    "label": ("run", None, "large"), "quality": ("quality", None, "small"), "status": ("status", None, "small"),
    "test_accuracy": ("accuracy", "%.4f", "small"), "precision": ("precision", "%.4f", "small"),
    "recall": ("recall", "%.4f", "small"), "f1": ("F1", "%.4f", "small"), "roc_auc": ("ROC-AUC", "%.4f", "small"),
    "mse": ("test MSE", "%.4f", "small"), "success": ("solved", None, "small"),
    "test_size": ("test size", "%d", "small"),
    "train_time_s": ("train s", "%.1f", "small"), "samples_per_s": ("samples/s", "%.0f", "small"),
    "params_seed_formula": ("rec. params (seed)", "%d", "small"),
    "params_pytorch": ("rec. params (PyTorch)", "%d", "small"), "params_total": ("all params", "%d", "small"),
    "task": ("task", None, "small"), "preset": ("preset", None, "small"), "layers": ("layers", None, "small"),
    "bidirectional": ("bidir.", None, "small"), "name": ("name", None, "medium"), "note": ("note", None, "medium"),
    "run_id": ("run id", None, "medium"),
}
SHOWN = ["label", "quality", "status", "test_accuracy", "f1", "roc_auc", "mse", "success", "test_size", "train_time_s",
         "params_seed_formula", "params_pytorch"]  # the columns shown at first: they fit a laptop's screen
QUALITY_MARKS = {"ok": "ok", "near chance": "≈ chance", "degenerate": "degenerate", FAILED: FAILED}
EPOCH_METRICS = ["val_accuracy", "val_loss", "train_loss", "train_accuracy", "epoch_time_s", "samples_per_s"]
# test figures beyond the summary's
SYNTHETIC_COLUMNS = {"adding": ["mse", "success"], "order": ["success"], "copy": ["success"]}
BAR_METRICS = {TEXT_TASK: ("test_accuracy", "f1", "roc_auc"), "adding": ("mse",), "order": ("test_accuracy",),
               "copy": ("test_accuracy",)}


def import_form() -> None:
    st.markdown("A run trained elsewhere: its `config.json`, `model.safetensors` and `vocab.json`. The weights must "
                "be safetensors (never a pickle) and fit the model the config and vocabulary describe; everything is "
                "checked before the run appears.")
    c1, c2, c3 = st.columns(3)
    cfg = c1.file_uploader(CONFIG_FILE, type=["json"], key="import_config")
    weights = c2.file_uploader(WEIGHTS_FILE, type=["safetensors"], key="import_weights")
    vocab = c3.file_uploader(VOCAB_FILE, type=["json"], key="import_vocab")
    label = st.text_input("Name (optional: letters, digits, - and _)", key="import_label")
    if st.button("Import", key="import_run", disabled=not (cfg and weights and vocab), icon=":material/upload:"):
        try:
            run = import_run(state.store(), cfg.getvalue(), weights.getvalue(), vocab.getvalue(),
                             label=label.strip() or None)
        except CheckpointError as e:
            st.error(f"Not imported: {e}")
        else:
            st.success(f"Imported as `{run.id}`. It has no test metrics until evaluated.")


def test_size(run_id: str, status: str) -> int | None:
    """How many test texts (or sequences) the run's scores come from; None when it does not say."""
    if status == DAMAGED:
        return None
    try:
        tm = state.test_metrics(state.store().get(run_id)) or {}
    except RunNotFound:  # deleted since the table was read
        return None
    return tm.get("n", tm.get("test_size"))


def delete(run_ids: list[str]) -> None:
    errors = []
    for rid in run_ids:
        try:
            state.store().delete(rid)
        except (RunNotFound, ValueError, OSError) as e:
            errors.append(f"{rid}: {e}")
    ss = st.session_state
    ss["compare.delete_errors"] = errors
    ss["compare_delete"], ss["compare_delete_sure"] = [], False
    for key in [k for k in ss if str(k).startswith("compare_runs.")]:  # a deleted run must not stay selected
        ss[key] = [r for r in ss[key] if r not in run_ids]


st.title("Compare")
lessons.show("compare.py")
table = state.summaries()
state.damaged_notice(table)
# the runs that classify (studies and data jobs are not models), and damaged runs, to delete them
models = table[table["kind"].isin(["rnn", "hmm"]) | (table["status"] == DAMAGED)]
if models.empty:
    st.info("No runs to compare yet. Train the three models on the **Train** page (or import a run below); they "
            "appear here as soon as they start.", icon=":material/info:")
    state.page_link("train.py", "Train", ":material/model_training:")
    with st.expander("Import a run"):
        import_form()
    st.stop()

# one dataset at a time (the choice every page shares); the synthetic tasks, which read none, each on their own
synthetic = [t for t in SYNTHETIC_TASKS if (models["task"] == t).any()]
c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
task = (c1.selectbox("Task", [TEXT_TASK, *synthetic], key="compare_task", format_func=state.TASK_NAMES.get,
                     help="text classification: the runs on the dataset chosen beside it; a synthetic task's runs "
                          "read no dataset") if synthetic else TEXT_TASK)
dataset = state.choose_dataset(table, key="compare_dataset", container=c2) if task == TEXT_TASK else None
show_all = c3.toggle("Show hidden, failed and degenerate runs", key="compare_show_all",
                     help="off: runs hidden on the Runs page are left out, and failed runs and degenerate ones "
                          "(no accuracy, or one predicted class for every text) are listed but not drawn")
scoped = models[models["task"] == task]
scoped = state.of_dataset(scoped, dataset) if dataset else scoped
view = scoped
what = state.dataset_label(dataset) if dataset else state.TASK_NAMES[task]
noun = state.dataset_noun(dataset) if dataset else "sequences"
scope = task + ("" if dataset in (None, BUILTIN_DATASET) else f".{dataset}")  # widget keys per dataset and task
hidden = view["hidden"].fillna(False).astype(bool)
if not show_all:
    view = view[~hidden]
rs = state.store()
# how many test texts (or sequences) each score comes from: scores on different test sets are not alike
view = view.assign(test_size=[test_size(rid, status) for rid, status in zip(view["run_id"], view["status"],
                                                                            strict=True)])
if task in SYNTHETIC_COLUMNS:  # the synthetic tasks' own test figures
    extra = [state.test_metrics(rs.get(rid)) or {} for rid in view["run_id"]]
    view = view.assign(**{c: [tm.get(c) for tm in extra] for c in SYNTHETIC_COLUMNS[task]})
if view.empty and not hidden.any():
    st.info(f"No runs on {what} yet: train some on the **Train** page, or choose another dataset above.",
            icon=":material/info:")

# -- the table ------------------------------------------------------------------------------------------------
not_here = {"precision", "recall", "f1", "roc_auc"} | ({"test_accuracy"} if task == "adding" else set())
available = [c for c in COLUMNS if c in view and (task == TEXT_TASK or c not in not_here)]
picked_columns = st.multiselect("Columns", available, default=[c for c in SHOWN if c in available],
                                key=f"compare_columns.{task}", format_func=lambda c: COLUMNS[c][0])
shown = view[available].assign(quality=view["quality"].map(QUALITY_MARKS))
st.dataframe(shown, hide_index=True, key="compare_table", column_order=picked_columns or ["label"],
             column_config={c: (st.column_config.NumberColumn(h, format=f, width=w) if f
                                else st.column_config.Column(h, width=w)) for c, (h, f, w) in COLUMNS.items()})
notes = []
if not show_all and hidden.any():
    notes.append(f"{int(hidden.sum())} hidden run{'s' * int(hidden.sum() > 1)} not listed.")
if (shown["quality"] == "≈ chance").any():
    notes.append("≈ chance: the accuracy lies within two binomial standard errors of guessing (1/K for K classes) "
                 "on this test set: it shows no learning yet.")
st.caption(" ".join(notes + ["Recurrent parameters: the seed report counts one bias per gate, G(n+m+1)m; PyTorch "
                             f"keeps two (b_ih and b_hh), G(n+m+2)m. Samples/s: training {noun} per second."]))
st.download_button("Export the table (CSV)", data=table_csv(view), file_name="runs.csv",
                   mime="text/csv", key="compare_csv", icon=":material/download:", on_click="ignore")

# -- scores on other datasets (python -m core evaluate) -----------------------------------------------------------
scores = state.evaluations(view["run_id"].tolist())
if not scores.empty:
    st.subheader("Scores on other datasets")
    st.caption("`python -m core evaluate RUN --dataset NAME`: each run's test metrics on another dataset's test "
               "split, with the run's own preprocessing and vocabulary. The test sets differ from row to row. "
               "`--short N` (or `--short sentence`) cuts each text to its first N words (its first sentence) first: "
               "the row's dataset says so, and words_per_text is the mean length of the texts the model was given.")
    st.dataframe(scores, hide_index=True, key="compare_evaluations",
                 column_config={**{c: st.column_config.NumberColumn(c, format="%.4f") for c in ("accuracy", "f1")},
                                "words_per_text": st.column_config.NumberColumn("words_per_text", format="%.1f")})

# -- charts -----------------------------------------------------------------------------------------------------
finished = view[view["status"].isin([FINISHED, CANCELLED])]
done = state.chartable(finished, show_all)
left_out = finished["quality"].isin([FAILED, "degenerate"]) & ~finished["run_id"].isin(done["run_id"])
if finished.empty:
    st.info(f"No finished run on {what} yet: the charts appear when one finishes (progress on the Train page).")
elif done.empty:
    st.info(f"Every finished run on {what} is degenerate (no accuracy, or one class predicted for every text): "
            "turn on **Show hidden, failed and degenerate runs** to draw them anyway.", icon=":material/info:")
if not done.empty:
    if left_out.any():
        st.caption(f"Not drawn: {int(left_out.sum())} degenerate run{'s' * int(left_out.sum() > 1)} (no accuracy, or "
                   "one class predicted for every text); the toggle above draws them.")
    labels = dict(zip(done["run_id"], done["label"], strict=True))
    picked = st.multiselect("Runs to draw", list(labels), default=list(labels)[:MAX_DEFAULT],
                            key=f"compare_runs.{scope}" + (".all" if show_all else ""),
                            format_func=lambda r: f"{labels[r]} ({r})")  # a near-chance run's label says so
    chosen = done[done["run_id"].isin(picked)].assign(run=lambda d: d["label"])
    runs = {rid: rs.get(rid) for rid in picked}
    differ = test_set_note({labels[rid]: ts for rid in runs if (ts := run_test_set(rs, rid)) is not None})
    if differ:
        st.warning(differ, icon=":material/warning:")

    c1, c2 = st.columns(2)
    with c1:
        state.show_chart(comparison.metric_bars(chosen, BAR_METRICS.get(task, ("test_accuracy",))), "test_metrics")
    with c2:
        state.show_chart(comparison.params_bars(chosen), "recurrent_parameters")

    frames = []
    for rid, run in runs.items():
        _, epochs = state.metric_frames(run)
        if not epochs.empty:
            frames.append(epochs.assign(run=labels[rid]))
    epochs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "epoch"])
    metric = st.selectbox("Per-epoch curve", EPOCH_METRICS, key="compare_metric",
                          format_func=lambda m: comparison.METRIC_NAMES.get(m, m))
    state.show_chart(comparison.epoch_curves(epochs, metric), f"epoch_{metric}")

    tms = {labels[rid]: state.test_metrics(run) or {} for rid, run in runs.items()}
    cms = {name: tm["confusion_matrix"] for name, tm in tms.items() if tm.get("confusion_matrix")}
    rocs = {name: {**tm["roc"], "auc": tm.get("roc_auc")} for name, tm in tms.items() if tm.get("roc")}
    # more than two classes: test_metrics.json keeps the K x K matrix as class_confusion_matrix, with the names
    multi = {name: (tm["class_confusion_matrix"], tm["classes"]) for name, tm in tms.items()
             if isinstance(tm.get("class_confusion_matrix"), list) and isinstance(tm.get("classes"), list)
             and len(tm["classes"]) == len(tm["class_confusion_matrix"]) > 2}
    if cms or rocs or multi:
        normalise = st.toggle("Row-normalised", key="compare_normalise",
                              help="divide each row by its total: the recall of each class")
    if cms or rocs:
        c1, c2 = st.columns(2)
        with c1:
            state.show_chart(comparison.confusion_matrices(cms, normalise=normalise), "confusion_matrices")
        with c2:
            state.show_chart(comparison.roc_curves(rocs), "roc_curves")
    for i, (name, (matrix, classes)) in enumerate(multi.items()):
        try:
            fig = comparison.confusion_matrix(matrix, classes, title=f"{name}: confusion matrix", normalise=normalise)
        except ValueError as e:  # a matrix that does not fit its class names: say so, draw the rest
            st.warning(f"{name}: the confusion matrix cannot be drawn ({e})", icon=":material/warning:")
            continue
        state.show_chart(fig, f"confusion_matrix_{i}")

# -- manage -----------------------------------------------------------------------------------------------------
st.header("Manage runs")
state.page_link("runs.py", "Runs: name, annotate, hide or delete runs", ":material/list:")
with st.expander("Delete runs"):
    # this dataset's (or task's) runs, and the damaged ones, which read as none
    removable = pd.concat([scoped, models[models["status"] == DAMAGED]]).drop_duplicates("run_id")
    removable = removable[~removable["status"].isin([QUEUED, RUNNING])]
    names = dict(zip(removable["run_id"], removable["label"] + " · " + removable["status"].astype(str), strict=True))
    state.reset_stale("compare_delete", list(names), [])  # runs of the dataset shown before
    doomed = st.multiselect("Runs to delete", list(names), key="compare_delete",
                            format_func=lambda r: f"{names[r]} ({r})")
    sure = st.checkbox("I understand the selected runs' files are deleted for good", key="compare_delete_sure")
    st.button("Delete", key="compare_delete_button", disabled=not (doomed and sure), type="primary",
              icon=":material/delete:", on_click=delete, args=(list(doomed),))
    st.caption("A queued or running run is cancelled on the Train page before it can be deleted.")
    for err in st.session_state.pop("compare.delete_errors", []):
        st.error(err)
with st.expander("Import a run"):
    import_form()
