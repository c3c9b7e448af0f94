"""Gradients: how far back the training signal reaches -- ||dL/dh_t|| through time and training, cell against cell
(the classic RNN, LSTM, GRU and the modern minGRU, minLSTM, LRU), the Jacobian products behind it, the LRU's
eigenvalues, per-parameter gradient norms and clipping, exploding gradients, and which model still learns at which
sequence length."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/gradients.py`)
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from rnnlab.core.analysis import horizon  # noqa: E402
from rnnlab.core.analysis.gradients import GradientRecording, decay_ratios, load_gradients, product_curves  # noqa: E402
from rnnlab.core.config import CELLS, HorizonConfig  # noqa: E402
from rnnlab.core.figures import gradients  # noqa: E402
from rnnlab.core.figures.style import cell_colour, format_number, log_axis  # noqa: E402
from rnnlab.core.jobs.estimate import horizon_seconds  # noqa: E402
from rnnlab.core.jobs.names import (  # noqa: E402
    CANCELLED,
    FINISHED,
    GRADIENTS_FILE,
    METRICS_FILE,
    QUEUED,
    RESULTS_FILE,
    RUNNING,
)
from rnnlab.core.jobs.store import DamagedRun, Run  # noqa: E402
from rnnlab.core.tasks import synthetic  # noqa: E402
from rnnlab.dashboard import forms, lessons, state, widgets  # noqa: E402

MAX_DEFAULT = 6  # runs drawn together by default: one per cell type
PROBE_ROWS = 24  # probe texts (or sequences) in the heatmap by default (the user may show them all)
HEAT_ROWS = {"reviews": "each probe text, at the moment chosen", "recordings": "each recording (probe mean)"}
HORIZON_MAIN = ("task", "models", "lengths", "steps")  # the study's settings shown up front; the others under More
POLL_S = 2.0
EXPLODE_NOTE = "gradients.explode_note"
HORIZON_JOB = "gradients.horizon_job"  # session key: {"proc": Popen, "log": path, "started": time, "args": [...]}


@st.cache_data(show_spinner="Reading the gradient recordings…", max_entries=32)
def _recording(path: str, stamp: tuple) -> GradientRecording:
    return load_gradients(Path(path) / GRADIENTS_FILE)


def recording(run: Run) -> GradientRecording:
    """The run's gradients.npz, read again only when the file changes (it grows while the run trains)."""
    return _recording(str(run.path), state.run_stamp(run, GRADIENTS_FILE))


@st.cache_data(show_spinner=False, max_entries=64)
def _norms(path: str, stamp: tuple) -> pd.DataFrame:
    return gradients.step_norms_frame(Run(Path(path)).metrics("step"))


def step_norms(run: Run) -> pd.DataFrame:
    try:
        return _norms(str(run.path), state.run_stamp(run, METRICS_FILE))
    except DamagedRun as e:  # an unreadable metrics.jsonl: the notice, and no curve
        state.damaged_notice(e)
        return gradients.step_norms_frame([])


@st.cache_data(show_spinner=False, max_entries=16)
def _horizon(path: str, stamp: tuple) -> tuple[dict, pd.DataFrame]:
    if not (Path(path) / RESULTS_FILE).is_file():  # no (model, T) finished yet
        return {}, pd.DataFrame()
    body = Run(Path(path)).read_json(RESULTS_FILE)  # validated: DamagedRun otherwise
    rows = [{k: v for k, v in r.items() if k != "history"} for r in body["rows"]]
    return body["settings"], pd.DataFrame(rows)


def horizon_results(run: Run) -> tuple[dict, pd.DataFrame]:
    """The settings and result rows of a memory-horizon run (partial while it runs; none when damaged)."""
    try:
        return _horizon(str(run.path), state.run_stamp(run, RESULTS_FILE))
    except DamagedRun as e:
        state.damaged_notice(e)
        return {}, pd.DataFrame()


def horizon_config(raw: dict) -> HorizonConfig:
    """The study the form describes, its lengths in increasing order; ``ValueError`` says what is wrong."""
    values = forms.parse_values(forms.config_fields(HorizonConfig), raw)
    values["lengths"] = tuple(sorted(set(values["lengths"] or ())))
    return HorizonConfig(**values)


def launch_horizon(cfg: HorizonConfig) -> None:
    """Queue the study as a run of its own process (or say why not); the page only polls the run store."""
    state.launch_job(HORIZON_JOB, "memory-horizon", cfg, label=f"memory-horizon-{cfg.task}")


def start_explosion() -> None:
    """The demonstration button's callback (before the script runs, so the new runs are listed at once)."""
    from rnnlab.core.jobs import lifecycle as jobs

    rs = state.store()
    ids = [jobs.submit("rnn", cfg, rs, label=f"explode-{name}").id for name, cfg in horizon.explosion_configs().items()]
    st.session_state["grad_explode_runs"] = ids
    st.session_state[EXPLODE_NOTE] = f"Started {len(ids)} runs: {', '.join(ids)}. They are drawn below as they train."


def heat_rows(rec: GradientRecording, rows_by: str, moment: float, layer: int, direction: int,
              count: int) -> tuple[np.ndarray, list, str, str, str]:
    """What one run's heatmap draws: ``(values (rows, K), row labels, row axis title, title, blank meaning)``.

    A recording without the per-text arrays (``dh``) falls back to one row per recording.
    """
    if rows_by == "reviews" and "dh" in rec.arrays:
        i = gradients.recording_index(rec.step, moment)
        values, names = gradients.probe_rows(rec["dh"][i, layer, direction], rec.lengths, count)
        return (values, names, "probe text", f"||dL/dh_t|| per probe text at step {int(rec.step[i])}",
                "beyond the text's length (no token that far back)")
    return (rec["dh_mean"][:, layer, direction], [int(s) for s in rec.step], "optimiser step",
            "mean ||dL/dh_t|| over the probe batch", "no probe text is that long")


def log10_range(*arrays) -> tuple[float, float] | None:
    """The ``(min, max)`` of ``log10`` over the positive finite values of ``arrays``: one colour scale for all."""
    v = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays else np.zeros(0)
    v = v[np.isfinite(v) & (v > 0)]
    return (float(np.log10(v.min())), float(np.log10(v.max()))) if len(v) else None


def clip_of(run: Run) -> float | None:
    return (run.config_dict().get("train") or {}).get("clip_norm")


# what a pooling read-out reads (ModelConfig.readout; "last", the seed's, needs no word)
POOLED = {"mean": "the mean over its steps", "max": "the max over its steps",
          "mean_max": "the mean and the max over its steps"}


def memory_note(label: str, rec: GradientRecording) -> str:
    """One sentence for a run whose cell's memory is not its output h (the LRU; "" for the others)."""
    parts = rec.meta.get("dh_of") or ["hidden"]
    if parts == ["hidden"]:
        return ""
    return (f" For {label}, h_t in these charts is its memory ({', '.join(parts)}): its output y_t feeds no later "
            "step, so the gradient through time is that of its state.")


def pooled_note(label: str, run: Run) -> str:
    """One sentence for a run whose classifier pools its states ("" for the last-state read-out)."""
    readout = (run.config_dict().get("model") or {}).get("readout")  # absent in older runs: "last"
    if readout not in POOLED:
        return ""
    return (f" {label} reads out {POOLED[readout]}: each step gets gradient directly from the loss, so "
            "dL/dh_t does not only flow back from the end.")


st.title("Gradients")
lessons.show("gradients.py")
st.caption("Back-propagation through time multiplies one Jacobian per step (the seed's eq. 6): how much of the "
           "loss's gradient reaches a token k steps before the end decides what a model can learn from it.")

table = state.summaries()
state.damaged_notice(table)
dataset = state.choose_dataset(table, key="grad_dataset")
# the chosen dataset's trainings, then those of the synthetic tasks (which read no dataset: the explosion
# demonstration's among them); a run on another dataset is never offered
rnn = table[(table["kind"] == "rnn") & table["status"].isin([FINISHED, CANCELLED, RUNNING, QUEUED])]
rnn = pd.concat([state.of_dataset(rnn, dataset), rnn[rnn["task"].isin(synthetic.SYNTHETIC_TASKS)]])
rnn = rnn.sort_values("status", key=lambda s: s.eq(QUEUED), kind="stable")  # runs with data first
if rnn.empty:
    st.info(f"No runs on {state.dataset_label(dataset)} yet. Train the three models on the **Train** page with "
            "**record gradients** ticked (on this dataset, or on the synthetic adding / order task, which needs "
            "no dataset); their gradients through time appear here while they train.", icon=":material/info:")
    state.page_link("train.py", "Train", ":material/model_training:")
rs = state.store()
labels = {r.run_id: f"{r.label} · {r.dataset if isinstance(r.dataset, str) else r.task}" for r in rnn.itertuples()}
cells = dict(zip(rnn["run_id"], rnn["cell"], strict=True))
on_dataset = set(state.of_dataset(rnn, dataset)["run_id"])

# -- gradients through time ------------------------------------------------------------------------------------------
st.header("Through time")
recorded = [rid for rid in rnn["run_id"] if rs.get(rid).file(GRADIENTS_FILE).is_file()]
if not rnn.empty and not recorded:
    st.info("None of these runs recorded its gradients through time: tick **record gradients** on the Train page "
            "(the probe batch is recorded every `probe_every` steps).", icon=":material/info:")
if recorded:
    # by default one run per cell type, the chosen dataset's newest (the synthetic tasks' when it recorded none)
    preferred = [r for r in recorded if r in on_dataset] or recorded
    present = {cells[r] for r in preferred}
    default = [next(r for r in preferred if cells[r] == c) for c in CELLS if c in present][:MAX_DEFAULT]
    default = default or preferred[:1]
    state.reset_stale("grad_runs", recorded, default)  # runs of the dataset shown before: the default
    picked = st.multiselect("Runs", recorded, default=default, key="grad_runs",
                            format_func=lambda r: f"{labels[r]} ({r})")
    recs = {}
    for rid in picked:
        try:
            recs[rid] = recording(rs.get(rid))
        except (OSError, ValueError, KeyError) as e:  # a file from an older version, or damaged
            st.warning(f"Cannot read the gradients of {labels[rid]}: {e}", icon=":material/warning:")
    if recs:
        c1, c2 = st.columns([4, 1])
        moment = c1.slider("Moment of training", 0.0, 1.0, 1.0, 0.05, key="grad_moment",
                           help="0: the initial weights, 1: the last recording")
        normalise = c2.toggle("Relative to k = 0", key="grad_normalise",
                              help="divide each curve by its value at the read-out step")
        # stacked or bidirectional runs: pick the layer and direction (those every picked run has)
        n_layers = min(r["dh_mean"].shape[1] for r in recs.values())
        n_dirs = min(r["dh_mean"].shape[2] for r in recs.values())
        layer = direction = 0
        if n_layers > 1 or n_dirs > 1:
            c4, c5 = st.columns(2)
            layer = c4.selectbox("Layer", range(n_layers), format_func=lambda i: f"layer {i + 1}", key="grad_layer")
            direction = c5.selectbox("Direction", range(n_dirs), key="grad_direction",
                                     format_func=lambda i: ("forward", "backward")[i])
        h1, h2, h3, h4 = st.columns([2, 2, 2, 1])
        state.reset_stale("grad_heat_run", list(recs), list(recs)[0])
        heat_run = h1.selectbox("Heatmap of", list(recs), key="grad_heat_run", format_func=lambda r: labels[r])
        state.reset_stale("grad_heat_second", [None] + [r for r in recs if r != heat_run], None)
        second = h2.selectbox("Beside it", [None] + [r for r in recs if r != heat_run], key="grad_heat_second",
                              format_func=lambda r: "nothing" if r is None else labels[r],
                              help="a second run's heatmap on the same colour scale (pick it under Runs first)")
        rows_by = h3.selectbox("Rows", list(HEAT_ROWS), key="grad_heat_rows", format_func=HEAT_ROWS.get)
        shown = [heat_run] + ([second] if second else [])
        probe_size = max(len(recs[r].lengths) for r in shown)
        count = h4.number_input("Probe texts", 1, max(probe_size, 1), min(PROBE_ROWS, max(probe_size, 1)),
                                key="grad_heat_count", disabled=rows_by != "reviews",
                                help=f"probe texts (or sequences) drawn, spread from the shortest to the longest "
                                     f"(all: {probe_size})")
        heats = {rid: heat_rows(recs[rid], rows_by, moment, layer, direction, int(count)) for rid in shown}
        scale = log10_range(*(h[0] for h in heats.values()))
        for i, (rid, col) in enumerate(zip(shown, st.columns(len(shown)), strict=True)):
            values, rows, row_title, what, blank = heats[rid]
            with col:
                state.show_chart(gradients.gradient_heatmap(values, rows, title=f"{labels[rid]}: {what}",
                                                            row_title=row_title, blank=blank, zrange=scale),
                                 f"gradient_heatmap_{rid}", key=f"grad_heatmap_{i}")
        st.caption("Colour: log10 of the gradient norm (yellow large, purple small"
                   + (", one scale for both runs" if second else "") + "). White: no value -- "
                   + ("beyond that text's length: a text of T tokens has no token k ≥ T steps back. "
                      if rows_by == "reviews" else "no probe text is that long. ")
                   + "Grey: the gradient underflowed to exactly 0 (below float32's smallest number), a real "
                     "vanishing, not a missing value.")
        curves, products, at, texts, kinds = {}, {}, {}, set(), set()
        for rid, r in recs.items():
            i = gradients.recording_index(r.step, moment)
            name = f"{labels[rid]} @ step {int(r.step[i])}"
            at[rid] = i
            cells[name] = cells[rid]
            curves[name] = r["dh_mean"][i, layer, direction]
            product = product_curves(r, record=i, layer=layer, direction=direction)
            if product is not None:  # the product's norm and its bound over the same texts
                products[name] = (product.norm, product.bound)
                texts.add(product.texts)
                kinds.add(product.kind)
            elif "jac_prod_mean" in r.arrays:  # a recording from before the product's norm was kept: the bound
                products[name] = (None, r["jac_prod_mean"][i, layer, direction])
                kinds.add(r.meta.get("jacobian_norm") or "spectral")
        norm = next(iter(kinds)) if len(kinds) == 1 else "each run's own norm (" + ", ".join(sorted(kinds)) + ")"
        left, right = st.columns(2)
        with left:
            state.show_chart(gradients.decay_lines(curves, cells=cells, normalise=normalise,
                                                   title="||dL/dh_t|| against distance from the end"),
                             "gradient_decay", key="grad_decay")
        with right:
            state.show_chart(gradients.jacobian_product_lines(products, cells=cells, norm=norm),
                             "jacobian_product", key="grad_jacobian")
        which = gradients.NORM_NAMES.get(norm, norm)
        over = (f"the {next(iter(texts))} longest probe texts" if len(texts) == 1
                else "each run's longest probe texts" if texts else "the probe texts")
        st.caption("Left: means over the probe texts that reach each distance (fewer and fewer at large k)."
                   + "".join(pooled_note(labels[rid], rs.get(rid)) + memory_note(labels[rid], r)
                             for rid, r in recs.items()) + " "
                   f"Right, solid: the norm of the Jacobian product itself, ||∂s_T/∂s_{{T-k}}|| ({which}), the "
                   "per-step Jacobians multiplied out: how much back-propagation can stretch or shrink a gradient "
                   "over k steps. Dashed: the product of the per-step norms, Π ||∂s_t/∂s_{t-1}|| (the seed's eq. 6), "
                   "an upper bound on it that counts every step's largest stretch as if each step stretched the same "
                   "direction: a high dashed curve is a loose bound, not an exploding gradient. Both are means over "
                   f"{over}; the LSTM's state "
                   "includes its cell; at k = 0 the product is the identity"
                   + (", whose Frobenius norm √S lies above the bound's 1." if "frobenius" in kinds else "."))
        for line in gradients.jacobian_product_text(products):
            st.markdown(line)
        ratios = [{"run": labels[rid], "k": k,
                   "median ||dL/dh_{T-k}|| / ||dL/dh_T||": format_number(v["median"], 2, zero="underflow"),
                   "probe texts": v["n"]}
                  for rid, r in recs.items() for k, v in decay_ratios(r, (10, 50, 100), record=at[rid], layer=layer,
                                                                   direction=direction).items()
                  if v["n"]]  # only the distances some probe text reaches
        if ratios:
            st.dataframe(pd.DataFrame(ratios), hide_index=True, key="grad_ratios")

        # -- the modern cells: a linear recurrence whose memory its eigenvalues set --------------------------------
        st.subheader("Modern cells: memory set by eigenvalues")
        lessons.show("gradients.py#modern-cells")
        spectral = [rid for rid, r in recs.items() if "eig_modulus" in r.arrays]
        if not spectral:
            st.caption("None of the runs shown records eigenvalues: an LRU run (cell `lru`, record gradients ticked) "
                       "records its λ with every gradient recording. minGRU and minLSTM compute their decay from "
                       "each input, so they have none: compare their gradient share above instead.")
        else:
            state.reset_stale("grad_eig_run", spectral, spectral[0])
            eid = st.selectbox("Eigenvalues of", spectral, key="grad_eig_run", format_func=lambda r: labels[r])
            r = recs[eid]
            moduli, phases = r["eig_modulus"][:, layer, direction], r["eig_phase"][:, layer, direction]
            colour = cell_colour(cells[eid], 0)
            left, right = st.columns(2)
            with left:
                state.show_chart(gradients.eigenvalue_plane(moduli, phases, r.step, at[eid], colour=colour,
                                                            title=f"{labels[eid]}: λ in the complex plane"),
                                 f"eigenvalues_{eid}", key="grad_eig_plane")
            with right:
                state.show_chart(gradients.eigenvalue_timescales(moduli, r.step, colour=colour,
                                                                 title=f"{labels[eid]}: memory time scale "
                                                                       "1 / (1 - |λ|) over training"),
                                 f"eigenvalue_timescales_{eid}", key="grad_eig_scales")
            st.caption(gradients.eigenvalue_text(moduli, r.step, at[eid]) + " The state's component j is multiplied "
                       "by λ_j at every step, so after k steps |λ_j|^k of it is left: the LRU's gradient through "
                       "time is that product too, with no nonlinearity in between. Left: the moment chosen above "
                       "(filled) against initialisation (rings).")

# -- per-parameter gradient norms ------------------------------------------------------------------------------------
st.header("Per-parameter gradient norms and clipping")
if not rnn.empty:
    state.reset_stale("grad_norm_run", list(labels), list(labels)[0])
    rid = st.selectbox("Run", list(labels), key="grad_norm_run", format_func=lambda r: f"{labels[r]} ({r})")
    run = rs.get(rid)
    frame = step_norms(run)
    clip = clip_of(run)
    state.show_chart(gradients.group_norm_curves(frame, clip,
                                                 title=f"{labels[rid]}: gradient norm per parameter group"),
                     f"group_norms_{rid}", key="grad_groups")
    if not frame.empty:
        n, n_clip, n_skip = len(frame), int(frame["clipped"].sum()), int(frame["skipped"].sum())
        st.caption(f"{n} steps: {n_clip} clipped ({n_clip / n:.0%}) at threshold {clip if clip else 'off'}, "
                   f"{n_skip} skipped for a non-finite gradient.")

# -- exploding gradients ---------------------------------------------------------------------------------------------
st.header("Exploding gradients")
st.markdown("A vanilla RNN whose recurrent weights start with a spectral radius above 1 multiplies the gradient "
            "at every step back, so its norm can grow by orders of magnitude; a step whose loss or gradient is not "
            "a finite number is skipped. Clipping rescales a gradient whose norm exceeds the threshold down to the "
            "threshold before the update. What the runs shown did is written under the chart, from their own "
            "records.")
st.button("Start the demonstration", key="grad_explode", icon=":material/play_arrow:", on_click=start_explosion,
          help="three runs of a vanilla RNN on the adding problem (T = 50, plain SGD): exploding, the same clipped, "
               "and a reference at the default initialisation; they train in the background, one at a time "
               "(progress on the Train page)")
if note := st.session_state.pop(EXPLODE_NOTE, None):
    st.success(note, icon=":material/check_circle:")
if not rnn.empty:
    default = [r for r in labels if str(labels[r]).startswith("explode-")]
    state.reset_stale("grad_explode_runs", list(labels), default[:3])
    overlay = st.multiselect("Runs to overlay", list(labels), default=default[:3], key="grad_explode_runs",
                             format_func=lambda r: f"{labels[r]} ({r})")
    frames = {labels[r]: step_norms(rs.get(r)) for r in overlay}
    clips = {labels[r]: clip_of(rs.get(r)) for r in overlay}
    state.show_chart(gradients.explosion_figure(frames, clips), "exploding_gradients", key="grad_explosion")
    if overlay:
        measured = {}
        for r in overlay:
            try:
                measured[r] = horizon.explosion_summary(rs.get(r))
            except DamagedRun as e:
                state.damaged_notice(e)
        for line in gradients.explosion_text([{"name": labels[r], **m, "clip_norm": clips[labels[r]]}
                                              for r, m in measured.items()]):
            st.markdown(line)
        if measured:
            summary = pd.DataFrame([{"run": labels[r], **m} for r, m in measured.items()])
            st.dataframe(summary.drop(columns=["run_id"]), hide_index=True, key="grad_explosion_table")
else:
    st.caption("Or on the command line: `python -m core explode`.")

# -- memory horizon --------------------------------------------------------------------------------------------------
st.header("Memory horizon")
st.markdown("Train the cells (RNN, LSTM and GRU by default, the modern ones too) on a long-range task at growing "
            "sequence lengths T: where does each stop learning? (Hochreiter & Schmidhuber's adding and "
            "temporal-order problems, Arjovsky et al.'s copy task; no dataset needed.) Each (model, T) trains until "
            "it first solves the task or its step budget runs out.")
horizon_fields = forms.config_fields(HorizonConfig, forms.STARTING["horizon"], section="memory horizon")
with st.form("horizon_form"):
    raw = widgets.draw_fields(horizon_fields, "horizon_", main=HORIZON_MAIN, labels={"steps": "steps per (model, T)"})
    job = state.page_job(HORIZON_JOB, "memory-horizon")
    busy = job is not None and job.status().get("state") in (QUEUED, RUNNING)
    go = st.form_submit_button("Run the experiment", type="primary", icon=":material/play_arrow:",
                               disabled=busy or not raw.get("models"))
try:  # the settings last applied (the form's values reach the page when it is submitted)
    h_cfg, problem = horizon_config(raw), None
    guess = horizon_seconds(h_cfg, state.store())
    st.caption(f"Expected time: at most {guess.text().removeprefix('about ')}. {guess.basis}")
except ValueError as e:
    h_cfg, problem = None, e  # said when the form is submitted
if go:
    if h_cfg is None:
        st.error(f"Not started: {problem}", icon=":material/error:")
    else:
        launch_horizon(h_cfg)
state.follow_job(HORIZON_JOB, "memory-horizon", "Memory-horizon study (results appear below as each (model, T) "
                 "finishes)", poll_s=POLL_S)

horizons = table[table["kind"] == "memory-horizon"]
if horizons.empty:
    # no second figure here: the expected time above is the one for the settings this page would run
    st.caption("No memory-horizon experiment yet: start one above, or `python -m core memory-horizon --steps 500` "
               "on the command line (`--dry-run` says what it would run).")
else:
    h_labels = dict(zip(horizons["run_id"], horizons["label"] + " · " + horizons["status"].astype(str), strict=True))
    hid = st.selectbox("Experiment", list(h_labels), key="horizon_run", format_func=lambda r: f"{h_labels[r]} ({r})")
    settings, results = horizon_results(rs.get(hid))
    if results.empty:
        st.info("No result yet: the first (model, T) is still training.", icon=":material/hourglass_top:")
    else:
        task = settings.get("task", "adding")
        adding = task == "adding"
        threshold = synthetic.ADDING_SUCCESS_MSE if adding else synthetic.SUCCESS_ACCURACY
        view = results.assign(cell=results["model"])
        left, right = st.columns(2)
        with left:
            state.show_chart(gradients.horizon_figure(view, "test_metric", threshold, higher_is_better=not adding,
                                                      title=f"Memory horizon ({task}): held-out "
                                                            + ("MSE" if adding else "accuracy"),
                                                   y="test MSE" if adding else "test accuracy"),
                             f"memory_horizon_{hid}", key="horizon_metric")
        with right:
            if view["grad_ratio_first_step"].notna().any():
                ratio = view.assign(success=True)  # no criterion here: every point filled
                fig = gradients.horizon_figure(ratio, "grad_ratio_first_step", y="median ratio (log scale)",
                                               title="Gradient reaching the first step: ||dL/dh_1|| / ||dL/dh_T||")
                log_axis(fig, "y", values=ratio["grad_ratio_first_step"])
                state.show_chart(fig, f"memory_horizon_gradient_{hid}", key="horizon_gradient")
        cols = [c for c in ("model", "seq_len", "success", "test_metric", "steps_to_success", "steps", "train_time_s",
                            "grad_ratio_first_step") if c in results]
        st.dataframe(results[cols], hide_index=True, key="horizon_table")
