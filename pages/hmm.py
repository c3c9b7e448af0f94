"""HMM: the GMM-HMM baseline on the chosen dataset -- fit one (in its own process), its Baum-Welch log-likelihood,
its transition matrices and their stationary distributions, a text's tokens by Viterbi state, and its scores beside
the RNNs'."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/hmm.py`)
    sys.path.insert(0, str(ROOT))

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from rnnlab.core.analysis import markov  # noqa: E402
from rnnlab.core.analysis.predict import MAX_TEXT_CHARS, classify, load_run  # noqa: E402
from rnnlab.core.config import TEXT_TASK, HMMConfig, HMMRunConfig, TextConfig  # noqa: E402
from rnnlab.core.figures import comparison, hmm  # noqa: E402
from rnnlab.core.jobs import estimate  # noqa: E402
from rnnlab.core.jobs.names import CANCELLED, FINISHED, HMM_ARRAYS_FILE, METRICS_FILE, QUEUED, RUNNING  # noqa: E402
from rnnlab.core.jobs.store import Run  # noqa: E402
from rnnlab.core.jobs.vectors import resolve_vectors, with_vectors  # noqa: E402
from rnnlab.core.jobs.word2vec import vectors_runs  # noqa: E402
from rnnlab.dashboard import forms, lessons, markup, state, widgets  # noqa: E402

POLL_S = 2.0
JOB = "hmm.job"  # session key: the id of the run launched from this page
EXAMPLE = "A wonderful, moving film with a brilliant cast. The plot drags in the middle, but the ending is superb."
MAIN = ("states", "mix", "limit", "dim", "n_iter")  # the fit's settings shown up front; the others under More


def fit_config(h: HMMConfig, dataset: str) -> tuple[HMMRunConfig, Any]:
    """The fit's config on ``dataset`` with the word2vec run it reads, and the word2vec job to run first when there
    is none."""
    cfg = HMMRunConfig(data=state.data_config(dataset), text=TextConfig(), hmm=h)
    return resolve_vectors(cfg, state.store())


def launch_fit(h: HMMConfig, dataset: str) -> None:
    """Queue the fit as a run of its own process (after the word2vec run it needs, if there is none yet); a
    setting the dataset cannot fit is refused with the reason, and nothing is queued."""
    try:
        cfg, w2v_first = fit_config(h, dataset)
        if w2v_first is not None:  # queued first: the fit, queued after it, reads its vectors
            w2v = state.submit_job("hmm.word2vec", "word2vec", w2v_first, label="word2vec-skipgram")
            cfg = with_vectors(cfg, w2v.id)
        state.submit_job(JOB, "hmm", cfg, label="gmmhmm")
    except (*state.LAUNCH_ERRORS, KeyError) as e:  # KeyError: the chosen word2vec run was deleted meanwhile
        st.error(f"Not started: {e}", icon=":material/error:")


@st.cache_data(show_spinner=False, ttl=30, max_entries=64)
def fit_estimate(h: HMMConfig, dataset: str, imdb_path: str | None, root: str) -> estimate.Estimate:
    """How long the fit (and the word2vec run before it, if any) will take, from the finished runs' rates."""
    cfg, w2v_first = fit_config(h, dataset)
    fit = estimate.hmm_seconds(cfg, state.store())
    if w2v_first is None:
        return fit
    w2v = estimate.word2vec_seconds(w2v_first, state.store())
    return estimate.Estimate((fit.seconds or 0.0) + (w2v.seconds or 0.0), f"{fit.basis} Word2vec first: {w2v.basis}",
                             (("word2vec vectors first", w2v.seconds or 0.0), *fit.parts))


def test_set_sizes(rows: pd.DataFrame, names: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Each run's label with its test-set size, and the sentence saying the test sets differ (None if alike)."""
    sets = {rid: estimate.run_test_set(state.store(), rid) for rid in rows["run_id"]}
    labels = {rid: names[rid] + (f" · {ts.size:,} test" if ts and ts.size else "") for rid, ts in sets.items()}
    return labels, estimate.test_set_note({names[rid]: ts for rid, ts in sets.items() if ts is not None})


@st.cache_resource(show_spinner=False, max_entries=8)
def _models(path: str, stamp: tuple) -> dict[str, np.ndarray]:
    """Each class model's transition matrix, by the class's name (the run's own classes, in label order)."""
    lh = load_run(Run(Path(path)))
    return {lh.classes[c]: np.asarray(m.transmat_, dtype=float) for c, m in sorted(lh.classifier.models.items())}


@st.cache_data(show_spinner=False, max_entries=32)
def _em(path: str, stamp: tuple, classes: tuple[str, ...]) -> pd.DataFrame:
    return hmm.em_frame(Run(Path(path)).metrics("em"), classes)  # each curve named by its class


def stationary(p: np.ndarray) -> np.ndarray | None:
    try:
        return markov.stationary_distribution(p)
    except ValueError:  # several closed classes: no unique π
        return None


st.title("HMM")
lessons.show("hmm.py")
table = state.summaries()
dataset = state.choose_dataset(table, key="hmm_dataset")
noun, one = state.dataset_noun(dataset), state.dataset_noun(dataset, one=True)
st.caption(f"One GMM-HMM per class (M hidden states, k Gaussians each) over word2vec vectors; a {one} goes to the "
           "class whose model explains it best per token.")

# -- fit one --------------------------------------------------------------------------------------------------------
problem = state.dataset_problem(dataset)
# live widgets, not inside a form: the estimate below follows them before anything is launched
fields = forms.config_fields(HMMConfig, forms.STARTING["hmm"], section="hmm", skip=("embeddings",))
raw = widgets.draw_fields(fields, "hmm_", main=MAIN, columns=5,
                          labels={"limit": f"training {noun} N", "n_iter": "iterations at most"})
vectors = vectors_runs(state.store(), dataset)
state.reset_stale("hmm_embeddings", ["", *vectors], "")  # another dataset's vectors: not offered for this one
embeddings = st.selectbox("word2vec vectors", ["", *vectors], key="hmm_embeddings",
                          format_func=lambda r: r or "the newest (trained first when there are none)",
                          help=f"vectors trained on {state.dataset_label(dataset)}, or imported (Embeddings page)")
try:
    h_cfg = HMMConfig(**forms.parse_values(fields, raw), embeddings=embeddings or None)
except ValueError as e:
    h_cfg, guess = None, estimate.Estimate(None, f"no estimate: {e}")
else:
    try:
        guess = fit_estimate(h_cfg, dataset, state.dataset_path(), str(state.store().root))
    except (OSError, ValueError, KeyError) as e:  # a word2vec run that vanished meanwhile: no estimate, still a form
        guess = estimate.Estimate(None, f"no estimate: {e}")
st.caption(f"Expected time: **{guess.text()}**; {guess.basis} Every fit scores the whole test split and the "
           f"validation {noun} of {state.dataset_label(dataset)}, whatever N is.")
with st.form("hmm_form", border=False):
    job = state.page_job(JOB, "hmm")
    running = job is not None and job.status().get("state") in (QUEUED, RUNNING)
    submitted = st.form_submit_button("Fit", type="primary", icon=":material/play_arrow:",
                                      disabled=problem is not None or running)
if submitted:
    if h_cfg is None:
        st.error(f"Not started: {guess.basis.removeprefix('no estimate: ')}", icon=":material/error:")
    else:
        launch_fit(h_cfg, dataset)
if problem:
    st.warning(f"{problem} Get it on the Overview page to fit a model.", icon=":material/warning:")
st.caption("Fitting runs in its own process (`python -m core hmm`); it uses the word2vec run chosen above (the newest "
           "trained on this dataset, or imported), or trains one first (see the Embeddings page). You may leave this "
           "page meanwhile.")
state.follow_job("hmm.word2vec", "word2vec", "Word2vec vectors for the fit", poll_s=POLL_S)
state.follow_job(JOB, "hmm", "GMM-HMM fit", poll_s=POLL_S)

# -- the fitted models ----------------------------------------------------------------------------------------------
table = state.summaries()
state.damaged_notice(table)
hmms = state.of_dataset(table[(table["kind"] == "hmm") & (table["status"] == FINISHED)], dataset)
if hmms.empty:
    st.info(f"No GMM-HMM fitted on {state.dataset_label(dataset)} yet. Choose M, k and N above (the expected time "
            "shows under them) and press **Fit**; or on the command line: `python -m core hmm --states 4 --mix 2 "
            "--limit 2000`.", icon=":material/info:")
    st.stop()

rs = state.store()
cfgs = {rid: rs.get(rid).config_dict().get("hmm", {}) for rid in hmms["run_id"]}
labels = {rid: f"gmmhmm M={c.get('states')} k={c.get('mix')} N={c.get('limit') or 'all'}" for rid, c in cfgs.items()}
state.reset_stale("hmm_run", list(labels), list(labels)[0])  # a model of the dataset shown before
state.select_new_result("hmm_run", JOB, "hmm", list(labels))
rid = st.selectbox("Model", list(labels), key="hmm_run", format_func=lambda r: f"{labels[r]} ({r})")
run = rs.get(rid)
stamp = state.run_stamp(run, HMM_ARRAYS_FILE, METRICS_FILE)
tm = state.test_metrics(run) or {}
c1, c2, c3, c4 = st.columns(4)
c1.metric("Test accuracy", f"{tm['accuracy']:.4f}" if tm.get("accuracy") is not None else "–")
c2.metric("F1", f"{tm['f1']:.4f}" if tm.get("f1") is not None else "–")
c3.metric("Fit time", f"{tm['fit_time_s']:.1f} s" if tm.get("fit_time_s") is not None else "–")
c4.metric(f"Training {noun}", tm.get("train_size", "–"))

try:
    mats = _models(str(run.path), stamp)
except (ValueError, KeyError, OSError, TypeError, IndexError) as e:  # a damaged run (DamagedRun is a ValueError) too
    st.error(f"Cannot load the model: {e}")
    st.stop()
left, right = st.columns(2)
with left:
    state.show_chart(hmm.em_curves(_em(str(run.path), stamp, tuple(mats))), f"hmm_em_{rid}", key="hmm_em")
with right:
    dists = {name: pi for name, p in mats.items() if (pi := stationary(p)) is not None}
    state.show_chart(hmm.stationary_bars(dists), f"hmm_stationary_{rid}", key="hmm_stationary")
    if len(dists) < len(mats):
        st.caption("A model whose chain has several closed classes has no unique stationary distribution.")
state.show_chart(hmm.transition_heatmaps(mats), f"hmm_transitions_{rid}", key="hmm_transitions")

# -- a text by Viterbi state ----------------------------------------------------------------------------------------
st.subheader(f"A {one}, token by token")
text = st.text_area(one.capitalize(), EXAMPLE, key="hmm_text", height=90, max_chars=MAX_TEXT_CHARS)
try:
    out = classify(load_run(run), text)
except (ValueError, KeyError, OSError, TypeError) as e:
    st.error(f"Cannot classify: {e}")
else:
    per_token = out["log_likelihood_per_token"]
    st.markdown(f"**{out['label']}** — log-likelihood per token: "
                + ", ".join(f"{name} model {value:.3f}" for name, value in per_token.items()))
    used = [not u for u in out["unknown"]]
    model_name = st.radio("Viterbi path under the", list(out["viterbi_states"]), horizontal=True, key="hmm_path",
                          format_func=lambda s: f"{s} model")
    st.html(markup.state_legend_html(len(next(iter(mats.values())))))
    st.html(markup.viterbi_html(out["tokens"], out["viterbi_states"][model_name], used))
    for note in out.get("notes") or []:
        st.caption(f"⚠ {note}")

# -- beside the RNNs ------------------------------------------------------------------------------------------------
st.subheader("Beside the RNNs")
others = table[table["status"].isin([FINISHED, CANCELLED]) & (table["dataset"] == dataset) & (
    ((table["kind"] == "rnn") & (table["task"] == TEXT_TASK)) | (table["run_id"] == rid))].copy()
names = {r: labels.get(r, lab) for r, lab in zip(others["run_id"], others["label"], strict=True)}
with_sizes, differ = test_set_sizes(others, names)
others["run"] = [with_sizes[r] for r in others["run_id"]]
others["cell"] = [c if k == "rnn" else "hmm" for c, k in zip(others["cell"], others["kind"], strict=True)]
if differ:
    st.warning(differ, icon=":material/warning:")
c1, c2 = st.columns(2)
with c1:
    state.show_chart(comparison.metric_bars(others, ("test_accuracy", "f1")), "hmm_vs_rnn_metrics",
                     key="hmm_vs_metrics")
with c2:
    state.show_chart(comparison.cost_bars(others, "train_time_s", "Training (fit) time"), "hmm_vs_rnn_time",
                     key="hmm_vs_time")
st.caption(f"Each bar's label gives the test {noun} its scores come from. Training sets differ unless chosen alike: "
           f"compare with RNNs trained on as many {noun} (`limit`).")
