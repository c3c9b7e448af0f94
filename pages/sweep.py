"""Sweep: launch a grid of training runs from a TOML spec (a shipped study, an upload or your own), watch it
(queued, running, finished, failed, ETA) and read its results: each figure against each varied field over
seeds, every run on parallel coordinates, and the phase diagram of the gradient's decay."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/sweep.py`)
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from rnnlab.core.config import EXECUTORS, SweepConfig  # noqa: E402
from rnnlab.core.figures import sweep as figures  # noqa: E402
from rnnlab.core.figures.style import format_number  # noqa: E402
from rnnlab.core.jobs.names import CANCELLED, CRASHED, DAMAGED, FAILED, FINISHED, QUEUED, RUNNING  # noqa: E402
from rnnlab.core.jobs.store import DamagedRun  # noqa: E402
from rnnlab.core.paths import shipped  # noqa: E402
from rnnlab.core.sweep.job import (  # noqa: E402
    estimate,
    published,
    read_plan,
    read_published,
    read_results,
    summarise,
    sweep_progress,
)
from rnnlab.core.sweep.spec import MAX_SPEC_BYTES, SpecError, parse_spec, plan  # noqa: E402
from rnnlab.dashboard import state  # noqa: E402

JOB = "sweep.job"  # session key: the id of the sweep run launched from this page
POLL_S = 3.0
STUDIES = shipped("studies")  # in a checkout or an installed copy
PUBLISHED = shipped("published")  # the shipped studies' results, as measured for the README (docs/sweeps/)
DOCS = "docs:"  # prefix of a published study in the sweep selectbox
SPEC = "sweep_spec"


def studies() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(STUDIES.glob("*.toml"))} if STUDIES.is_dir() else {}


def load_study(name: str) -> None:
    st.session_state[SPEC] = studies().get(name, "")


@st.cache_data(show_spinner=False, ttl=30, max_entries=16)
def planned_estimate(text: str, root: str) -> dict:
    spec = parse_spec(text)
    return estimate(plan(spec), state.store(), spec.confirm_size)


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


st.title("Sweep")
st.caption("A grid of training runs: a base preset, the fields to vary and the seeds. Every run is an ordinary run "
           "(Compare, Gradients and Gates show it too); finished runs with the same settings are reused, so a sweep "
           "started again resumes. The same from the command line: `python -m core sweep SPEC.toml`.")

# -- the spec ---------------------------------------------------------------------------------------------------
shipped = studies()
st.session_state.setdefault(SPEC, next(iter(shipped.values()), ""))
with st.expander("Spec", expanded=True):
    c1, c2 = st.columns([1, 2])
    study = c1.selectbox("Start from a study", list(shipped), key="sweep_study", index=None,
                         placeholder="studies/*.toml")
    if study and c1.button("Load it", key="sweep_load"):
        load_study(study)
        st.rerun()
    upload = c2.file_uploader("…or upload a TOML spec", type=["toml"], key="sweep_upload")
    if upload is not None and c2.button("Use the upload", key="sweep_use_upload"):
        if upload.size > MAX_SPEC_BYTES:
            st.error(f"{upload.name}: over {MAX_SPEC_BYTES:,} bytes; a spec is a short TOML file")
        else:
            st.session_state[SPEC] = bytes(upload.getbuffer()).decode("utf-8", errors="replace")
            st.rerun()
    text = st.text_area("Spec (TOML)", key=SPEC, height=280, max_chars=MAX_SPEC_BYTES)

try:
    spec = parse_spec(text)
    points = plan(spec)
except SpecError as e:
    spec, points = None, []
    st.error(f"The spec cannot be planned: {e}", icon=":material/error:")

if spec is not None:
    guess = planned_estimate(text, str(state.store().root))
    st.markdown(f"**{spec.name}**: {len(points)} runs = "
                + " × ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in spec.vary)
                + f" × {len(spec.seeds)} seed{'s' * (len(spec.seeds) > 1)}, preset `{spec.preset}`"
                + (f"; then the best {spec.confirm_top} of the {spec.points} points by validation loss again with "
                   f"{len(spec.confirm_seeds)} more seed{'s' * (len(spec.confirm_seeds) > 1)} "
                   f"({spec.confirm_size} runs, {spec.size} in all; the test set decides nothing)"
                   if spec.confirm_top else "") + ". "
                + (f"Estimated training time one after another: {minutes(guess['seconds'])} for the "
                   f"{guess['measured']} runs whose cell and batching have finished runs to measure their pace "
                   f"by" + (f"; {guess['unknown']} without" if guess["unknown"] else "") + "."
                   if guess["seconds"] is not None else
                   "No estimate yet: no finished run of the same cell and batching to measure the pace by.")
                + (f" First, {guess['vectors']} word2vec run{'s' * (guess['vectors'] > 1)} for the runs whose "
                   "embeddings are `auto` (none in the store suits them)"
                   + (f", about {minutes(guess['vectors_seconds'])}." if guess["vectors_seconds"] is not None else ".")
                   if guess["vectors"] else ""))
    with st.form("sweep_form"):
        c1, c2, c3 = st.columns([1, 1, 2])
        executor = c1.selectbox("Executor", EXECUTORS, key="sweep_executor",
                                help="local: N runs at once in their own processes here; ray: Ray tasks on a "
                                     "cluster (`pip install ray`)")
        parallel = c2.number_input("Runs at once", 0, 1024, 0, key="sweep_parallel",
                                   help="0: one per core (three per GPU), or one per cluster CPU on Ray")
        address = c3.text_input("Ray cluster address", key="sweep_address", placeholder="none: a local Ray",
                                help="host:port of a running cluster's head, or auto")
        job = state.page_job(JOB, "sweep")
        busy = job is not None and job.status().get("state") in (QUEUED, RUNNING)
        go = st.form_submit_button("Start the sweep", type="primary", icon=":material/play_arrow:", disabled=busy)
    if go:
        try:
            cfg = SweepConfig(spec=text, executor=executor, parallel=int(parallel) or None,
                              address=address.strip() or None)
        except ValueError as e:
            st.error(f"Not started: {e}")
        else:
            state.submit_job(JOB, "sweep", cfg, label=f"sweep-{spec.name}", lane="sweep")

state.follow_job(JOB, "sweep", "Sweep", poll_s=POLL_S)

# -- a sweep's progress and results -----------------------------------------------------------------------------------
table = state.summaries()
state.damaged_notice(table)
sweeps = table[(table["kind"] == "sweep") & (table["status"] != DAMAGED)]
labels = dict(zip(sweeps["run_id"], sweeps["label"], strict=True))
docs = published(PUBLISHED)
labels.update({DOCS + name: f"{name}: the results measured for the README" for name in docs})
if not labels:
    st.info("No sweep yet. Load a study above (or write a spec) and press **Start the sweep**; "
            "`studies/edge-of-chaos.toml` trains on the synthetic adding problem and needs no dataset.",
            icon=":material/info:")
    st.stop()

state.select_new_result("sweep_run", JOB, "sweep", list(labels))
rid = st.selectbox("Sweep", list(labels), key="sweep_run",
                   format_func=lambda r: labels[r] if r.startswith(DOCS) else f"{labels[r]} ({r})")
if rid.startswith(DOCS):
    try:
        shown, results = read_published(docs[rid.removeprefix(DOCS)])
    except (KeyError, SpecError, ValueError) as e:
        st.error(f"Cannot read this study's published results: {e}")
        st.stop()
    st.caption(f"Read from `docs/sweeps/{rid.removeprefix(DOCS)}/` in the repository (the README's tables come "
               "from it): nothing here is trained. Load the study above and start it to make your own.")
else:
    run = state.store().get(rid)
    try:
        shown = parse_spec(run.job_config().spec)
        progress = sweep_progress(run, state.store())
    except (DamagedRun, SpecError, ValueError) as e:
        st.error(f"Cannot read this sweep: {e}")
        st.stop()
    counts = progress["counts"]
    cols = st.columns(5)
    cols[0].metric("Runs", progress["total"])
    cols[1].metric("Queued", counts.get(QUEUED, 0))
    cols[2].metric("Running", counts.get(RUNNING, 0))
    cols[3].metric("Finished", counts.get(FINISHED, 0))
    cols[4].metric("Failed or crashed", sum(counts.get(s, 0) for s in (FAILED, CRASHED, CANCELLED, "missing")))
    if progress["total"]:
        st.progress(progress["done"] / progress["total"],
                    text=f"{progress['done']} of {progress['total']} done · elapsed {minutes(progress['elapsed_s'])}"
                         + (f" · about {minutes(progress['eta_s'])} left" if progress["eta_s"] else ""))
    elif not read_plan(run):
        st.caption("Not planned yet: the sweep's job has not started.")
    results = read_results(run)

if results is None or results.empty:
    st.caption("Results appear here as runs end.")
    st.stop()
varied = [f for f in shown.varied if f in results]
summary = summarise(results, varied)
metrics = [m for m in figures.NAMES if f"{m}_mean" in summary and summary[f"{m}_mean"].notna().any()]

st.subheader("Mean ± std over seeds")
if shown.confirm_top:
    st.caption(f"Every point once per seed {', '.join(map(str, shown.seeds))}; the best {shown.confirm_top} by "
               f"validation loss again with seeds {', '.join(map(str, shown.confirm_seeds))} (their `runs` count "
               "says so). A point trained once has no spread to show.")
shown_summary = summary.copy()
for m in metrics:
    shown_summary[figures.metric_name(m)] = [
        "–" if pd.isna(a) else format_number(a, 3) if pd.isna(b) else f"{format_number(a, 3)} ± {format_number(b, 2)}"
        for a, b in zip(summary[f"{m}_mean"], summary[f"{m}_std"], strict=True)]
st.dataframe(shown_summary[[*varied, *(figures.metric_name(m) for m in metrics), "runs"]], hide_index=True,
             key="sweep_summary")

if metrics and varied:
    c1, c2, c3 = st.columns(3)
    metric = c1.selectbox("Figure", metrics, key="sweep_metric", format_func=figures.metric_name)
    field = c2.selectbox("Against", varied, key="sweep_field", index=min(1, len(varied) - 1))
    others = [f for f in varied if f != field]
    by = c3.selectbox("One line per", [None, *others], key="sweep_by", index=1 if others else 0,
                      format_func=lambda f: "(all together)" if f is None else f)
    state.show_chart(figures.metric_vs_field(summary, field, metric, by=by), f"sweep_{metric}_vs_{field}",
                     key="sweep_vs")
    state.show_chart(figures.parallel_coordinates(results, varied, metric), f"sweep_parallel_{metric}",
                     key="sweep_parallel")

decays = [k for k in (10, 50, 100) if f"decay_k{k}_mean" in summary and summary[f"decay_k{k}_mean"].notna().any()]
numeric = [f for f in varied if f != "cell" and pd.api.types.is_numeric_dtype(summary[f])]
if decays and len(numeric) >= 2:
    st.subheader("Vanishing and growing gradients")
    c1, c2, c3 = st.columns(3)
    x = c2.selectbox("Across", numeric, key="sweep_x",
                     index=numeric.index("recurrent_init_radius") if "recurrent_init_radius" in numeric else 0)
    y = c3.selectbox("Down", [f for f in numeric if f != x], key="sweep_y")
    k = c1.selectbox("k steps back", decays, key="sweep_k",  # opens where both sides show, if any k has both
                     index=decays.index(figures.phase_default_k(summary, decays, x, y)))
    state.show_chart(figures.decay_phase(summary, x, y, k=k), f"sweep_decay_k{k}", key="sweep_phase")
    st.caption("Each cell: the median over the probe texts of ||dL/dh_{T-k}|| / ||dL/dh_T|| at the end of "
               "training, averaged over seeds (the number written in it). Blue: the gradient shrinks on its way "
               "back (vanishing); red: it grows; white: unchanged. Each side of white darkens to its own extreme, "
               "so a small growth still shows: read how much from the number, not the shade. Settings that no run "
               "could look k steps back from are left out and named under the chart. See **Theory** for why.")
with st.expander("Every run"):
    st.dataframe(results, hide_index=True, key="sweep_results")
