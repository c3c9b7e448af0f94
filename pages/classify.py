"""Classify: type or paste a review and see every trained model's verdict at once -- the RNNs and the GMM-HMM --
with the tokens each model actually read."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/classify.py`)
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from core.analysis.predict import MAX_TEXT_CHARS, classify, load_run  # noqa: E402
from core.figures import classification  # noqa: E402
from dashboard import markup, state  # noqa: E402

EXAMPLES = {
    "Rave": "One of the best films I have seen in years. The acting is superb, the story moving and the ending "
            "left me in tears. A masterpiece!",
    "Pan": "A boring, predictable mess. The dialogue is awful, the plot makes no sense and I wanted my two hours "
           "back. Avoid it.",
    "Mixed": "The first half is slow and the lead is wooden, but the last act is wonderful and almost makes up "
             "for it.",
    "Negation": "This is not a good movie. It is not funny and not moving.",
    "Not English": "Ce film est magnifique, je le recommande à tout le monde.",
}
TEXT = "classify_text"


def set_text(example: str) -> None:
    st.session_state[TEXT] = EXAMPLES[example]


st.title("Classify")
st.caption("Every finished model reads the same text through its own preprocessing and vocabulary.")

table = state.summaries()
state.damaged_notice(table)
usable = table[table["status"].isin(["finished", "cancelled"]) & (
    ((table["kind"] == "rnn") & (table["task"] == "imdb")) | (table["kind"] == "hmm"))]
if usable.empty:
    st.info("No trained sentiment model yet. Train an RNN, LSTM or GRU on the IMDB task on the **Train** page, or "
            "fit the GMM-HMM on the **HMM** page; every finished one answers here.", icon=":material/info:")
    state.page_link("train.py", "Train", ":material/model_training:")
    st.stop()

st.session_state.setdefault(TEXT, EXAMPLES["Rave"])
row = st.container(horizontal=True, gap="small")
row.caption("Examples:", width="content")
for name in EXAMPLES:
    row.button(name, key=f"classify_example_{name}", on_click=set_text, args=(name,), type="tertiary")
text = st.text_area("Review", key=TEXT, height=140, max_chars=MAX_TEXT_CHARS)

labels = dict(zip(usable["run_id"], usable["label"], strict=True))
picked = st.multiselect("Models", list(labels), default=list(labels), key="classify_runs",
                        format_func=lambda r: f"{labels[r]} ({r})")
rs = state.store()
results, failures = [], []
for rid in picked:
    try:
        out = classify(load_run(rs.get(rid)), text)
    except (ValueError, KeyError, OSError, RuntimeError, TypeError) as e:  # DamagedRun is a ValueError
        failures.append(f"{labels[rid]}: {e}")
        continue
    results.append({**out, "run": labels[rid]})
for msg in failures:
    st.warning(f"Could not use {msg}", icon=":material/warning:")
if not results:
    st.info("Choose at least one model.")
    st.stop()

frame = pd.DataFrame(results)
state.show_chart(classification.probability_bars(frame), "classify_probabilities")
shown = frame[["run", "model", "label", "probability", "n_tokens", "unknown_tokens", "truncated", "latency_ms"]]
st.dataframe(shown, hide_index=True, key="classify_table", column_config={
    "probability": st.column_config.ProgressColumn("P(positive)", min_value=0.0, max_value=1.0, format="%.3f"),
    "n_tokens": st.column_config.NumberColumn("tokens read"),
    "unknown_tokens": st.column_config.NumberColumn("unknown"),
    "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.1f")})
st.caption("The GMM-HMM's 'probability' is the logistic of its per-token log-likelihood difference: a score "
           "(0.5 = undecided), not a calibrated probability.")

st.subheader("What each model read")
for r in results:
    with st.expander(f"{r['run']} — {r['label']} ({r['probability']:.3f}), {r['n_tokens']} tokens"):
        st.html(markup.tokens_html(r["tokens"], r["unknown"]))
        for note in r.get("notes") or []:
            st.caption(f"⚠ {note}")
        if r["kind"] == "hmm":
            st.caption("Grey tokens have no word2vec vector: the HMM skips them.")
