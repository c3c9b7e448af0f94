"""HMM: the GMM-HMM baseline -- fit one (in its own process), its Baum-Welch log-likelihood, its transition
matrices and their stationary distributions, a review's tokens by Viterbi state, and its scores beside the RNNs'."""

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

from core.analysis import markov  # noqa: E402
from core.analysis.predict import MAX_TEXT_CHARS, classify, load_run  # noqa: E402
from core.config import DataConfig, HMMConfig, HMMRunConfig, TextConfig  # noqa: E402
from core.figures import comparison, hmm  # noqa: E402
from core.jobs import estimate  # noqa: E402
from core.jobs.hmm import resolve_embeddings  # noqa: E402
from core.jobs.names import CANCELLED, FINISHED, HMM_ARRAYS_FILE, METRICS_FILE, QUEUED, RUNNING  # noqa: E402
from core.jobs.store import Run  # noqa: E402
from dashboard import lessons, markup, state  # noqa: E402

POLL_S = 2.0
JOB = "hmm.job"  # session key: the id of the run launched from this page
EXAMPLE = "A wonderful, moving film with a brilliant cast. The plot drags in the middle, but the ending is superb."


def fit_config(states: int, mix: int, limit: int, dim: int, n_iter: int) -> tuple[HMMRunConfig, Any]:
    """The fit's config with the word2vec run it reads, and the word2vec job to run first when there is none."""
    cfg = HMMRunConfig(data=DataConfig(imdb_path=state.dataset_path()), text=TextConfig(),
                       hmm=HMMConfig(states=states, mix=mix, limit=limit, dim=dim, n_iter=n_iter))
    return resolve_embeddings(cfg, state.store())


def launch_fit(states: int, mix: int, limit: int, dim: int, n_iter: int) -> None:
    """Queue the fit as a run of its own process (after the word2vec run it needs, if there is none yet)."""
    from dataclasses import replace

    cfg, w2v_first = fit_config(states, mix, limit, dim, n_iter)
    if w2v_first is not None:  # queued first: the fit, queued after it, reads its vectors
        w2v = state.submit_job("hmm.word2vec", "word2vec", w2v_first, label="word2vec-skipgram")
        cfg = replace(cfg, hmm=replace(cfg.hmm, embeddings=w2v.id))
    state.submit_job(JOB, "hmm", cfg, label="gmmhmm")


@st.cache_data(show_spinner=False, ttl=30, max_entries=64)
def fit_estimate(states: int, mix: int, limit: int, dim: int, n_iter: int, root: str) -> estimate.Estimate:
    """How long the fit (and the word2vec run before it, if any) will take, from the finished runs' rates."""
    cfg, w2v_first = fit_config(states, mix, limit, dim, n_iter)
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
    lh = load_run(Run(Path(path)))
    return {hmm.CLASS_NAMES[c]: np.asarray(m.transmat_, dtype=float) for c, m in lh.classifier.models.items()}


@st.cache_data(show_spinner=False, max_entries=32)
def _em(path: str, stamp: tuple) -> pd.DataFrame:
    return hmm.em_frame(Run(Path(path)).metrics("em"))


def stationary(p: np.ndarray) -> np.ndarray | None:
    try:
        return markov.stationary_distribution(p)
    except ValueError:  # several closed classes: no unique π
        return None


st.title("HMM")
lessons.show("hmm.py")
st.caption("One GMM-HMM per class (M hidden states, k Gaussians each) over word2vec vectors; a review goes to the "
           "class whose model explains it better per token.")

# -- fit one --------------------------------------------------------------------------------------------------------
status = state.dataset_status()
# live widgets, not inside the form: the estimate below follows them before anything is launched
c1, c2, c3, c4, c5 = st.columns(5)
m = c1.number_input("States M", 1, 20, 4, key="hmm_states")
k = c2.number_input("Mixture components k", 1, 10, 2, key="hmm_mix")
n = c3.number_input("Training reviews N", 10, 25000, 2000, step=500, key="hmm_limit",
                    help="balanced by label; Baum-Welch is slow, start small")
d = c4.number_input("PCA dimensions", 1, 100, 12, key="hmm_dim")
it = c5.number_input("Iterations at most", 1, 200, 20, key="hmm_iter")
try:
    guess = fit_estimate(int(m), int(k), int(n), int(d), int(it), str(state.store().root))
except (OSError, ValueError, KeyError) as e:  # a word2vec run that vanished meanwhile: no estimate, still a form
    guess = estimate.Estimate(None, f"no estimate: {e}")
st.caption(f"Expected time: **{guess.text()}**; {guess.basis} Every fit scores the whole test split (25,000 IMDB "
           "reviews) and the validation reviews, whatever N is.")
with st.form("hmm_form", border=False):
    job = state.page_job(JOB, "hmm")
    running = job is not None and job.status().get("state") in (QUEUED, RUNNING)
    submitted = st.form_submit_button("Fit", type="primary", icon=":material/play_arrow:",
                                      disabled=not status["found"] or running)
if submitted:
    launch_fit(int(m), int(k), int(n), int(d), int(it))
if not status["found"]:
    st.warning("The IMDB dataset is not available: get it on the Overview page to fit a model.",
               icon=":material/warning:")
st.caption("Fitting runs in its own process (`python -m core hmm`); it uses the newest word2vec run, or trains one "
           "first (see the Embeddings page). You may leave this page meanwhile.")
state.follow_job("hmm.word2vec", "word2vec", "Word2vec vectors for the fit", poll_s=POLL_S)
state.follow_job(JOB, "hmm", "GMM-HMM fit", poll_s=POLL_S)

# -- the fitted models ----------------------------------------------------------------------------------------------
table = state.summaries()
state.damaged_notice(table)
hmms = table[(table["kind"] == "hmm") & (table["status"] == FINISHED)]
if hmms.empty:
    st.info("No GMM-HMM fitted yet. Choose M, k and N above (the expected time shows under them) and press **Fit**; "
            "or on the command line: `python -m core hmm --states 4 --mix 2 --limit 2000`.",
            icon=":material/info:")
    st.stop()

rs = state.store()
cfgs = {rid: rs.get(rid).config_dict().get("hmm", {}) for rid in hmms["run_id"]}
labels = {rid: f"gmmhmm M={c.get('states')} k={c.get('mix')} N={c.get('limit') or 'all'}" for rid, c in cfgs.items()}
state.select_new_result("hmm_run", JOB, "hmm", list(labels))
rid = st.selectbox("Model", list(labels), key="hmm_run", format_func=lambda r: f"{labels[r]} ({r})")
run = rs.get(rid)
stamp = state.run_stamp(run, HMM_ARRAYS_FILE, METRICS_FILE)
tm = state.test_metrics(run) or {}
c1, c2, c3, c4 = st.columns(4)
c1.metric("Test accuracy", f"{tm['accuracy']:.4f}" if tm.get("accuracy") is not None else "–")
c2.metric("F1", f"{tm['f1']:.4f}" if tm.get("f1") is not None else "–")
c3.metric("Fit time", f"{tm['fit_time_s']:.1f} s" if tm.get("fit_time_s") is not None else "–")
c4.metric("Training reviews", tm.get("train_size", "–"))

left, right = st.columns(2)
with left:
    state.show_chart(hmm.em_curves(_em(str(run.path), stamp)), f"hmm_em_{rid}", key="hmm_em")
try:
    mats = _models(str(run.path), stamp)
except (ValueError, KeyError, OSError, TypeError) as e:  # a damaged run (DamagedRun is a ValueError) too
    st.error(f"Cannot load the model: {e}")
    st.stop()
with right:
    dists = {name: pi for name, p in mats.items() if (pi := stationary(p)) is not None}
    state.show_chart(hmm.stationary_bars(dists), f"hmm_stationary_{rid}", key="hmm_stationary")
    if len(dists) < len(mats):
        st.caption("A model whose chain has several closed classes has no unique stationary distribution.")
state.show_chart(hmm.transition_heatmaps(mats), f"hmm_transitions_{rid}", key="hmm_transitions")

# -- a review by Viterbi state --------------------------------------------------------------------------------------
st.subheader("A review, token by token")
text = st.text_area("Review", EXAMPLE, key="hmm_text", height=90, max_chars=MAX_TEXT_CHARS)
try:
    out = classify(load_run(run), text)
except (ValueError, KeyError, OSError, TypeError) as e:
    st.error(f"Cannot classify: {e}")
else:
    st.markdown(f"**{out['label']}** — log-likelihood per token: negative model "
                f"{out['log_likelihood_per_token']['negative']:.3f}, positive model "
                f"{out['log_likelihood_per_token']['positive']:.3f}")
    used = [not u for u in out["unknown"]]
    model_name = st.radio("Viterbi path under the", ["positive", "negative"], horizontal=True, key="hmm_path",
                          format_func=lambda s: f"{s} model")
    st.html(markup.state_legend_html(len(next(iter(mats.values())))))
    st.html(markup.viterbi_html(out["tokens"], out["viterbi_states"][model_name], used))
    for note in out.get("notes") or []:
        st.caption(f"⚠ {note}")

# -- beside the RNNs ------------------------------------------------------------------------------------------------
st.subheader("Beside the RNNs")
others = table[table["status"].isin([FINISHED, CANCELLED]) & (
    ((table["kind"] == "rnn") & (table["task"] == "imdb")) | (table["run_id"] == rid))].copy()
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
st.caption("Each bar's label gives the test reviews its scores come from. Training sets differ unless chosen alike: "
           "compare with RNNs trained on as many reviews (`limit`).")
