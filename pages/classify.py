"""Classify: type or paste a text and see the verdict of every model trained on the chosen dataset at once -- the
RNNs (on IMDB or any dataset added with `data add`, named by its own classes) and the GMM-HMM -- with every word and
what each model read of it, and what a keep-negations pipeline would read instead."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/classify.py`)
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from rnnlab.core.analysis.attribution import DEFAULT_STEPS, Attribution, attribute  # noqa: E402
from rnnlab.core.analysis.cache import text_key  # noqa: E402
from rnnlab.core.analysis.predict import MAX_TEXT_CHARS, classify, load_run  # noqa: E402
from rnnlab.core.config import TEXT_TASK, TextConfig  # noqa: E402
from rnnlab.core.data.text import StopwordsUnavailable, WordFate, reading  # noqa: E402
from rnnlab.core.figures import classification  # noqa: E402
from rnnlab.core.jobs.names import CANCELLED, CONFIG_FILE, FINISHED, WEIGHTS_FILE  # noqa: E402
from rnnlab.core.jobs.store import Run  # noqa: E402
from rnnlab.dashboard import lessons, markup, state  # noqa: E402

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


def run_attribution(run: Run, text: str) -> Attribution:
    """Integrated gradients and gradient x input of ``text`` under ``run``, cached as the Gates page caches them."""
    key = ("attribution", str(run.path), state.run_stamp(run, WEIGHTS_FILE, CONFIG_FILE), text_key(text),
           DEFAULT_STEPS)
    return state.cached("gates.introspection", key, lambda: attribute(run, text, steps=DEFAULT_STEPS),
                        spinner="Integrating the gradients from the baseline to the text…")


def show_attribution(run: Run, text: str) -> None:
    """Which words decided this model's verdict (integrated gradients, and gradient x input beside them)."""
    try:
        res = run_attribution(run, text)
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        st.caption(f"Which words decided cannot be shown: {e}")
        return
    check = res.completeness()
    st.markdown("**Which words decided** (integrated gradients from a text of as many `<unk>`)")
    st.caption(("✓ " if res.complete else "⚠ ") + check[0].upper() + check[1:] + ".")
    st.html(markup.attribution_html(res.word_attributions(), res.toward, res.against))
    st.caption("Gradient x input, the same at one point of the path (no completeness):")
    st.html(markup.attribution_html(res.word_attributions("gradient_x_input"), res.toward, res.against))


st.title("Classify")
lessons.show("classify.py")
table = state.summaries()
dataset = state.choose_dataset(table, key="classify_dataset")
st.caption(f"Every finished model trained on {state.dataset_label(dataset)} reads the same text through its own "
           "preprocessing and vocabulary.")

state.damaged_notice(table)
# the dataset's text-classification runs and GMM-HMMs
usable = table[table["status"].isin([FINISHED, CANCELLED]) & (
    ((table["kind"] == "rnn") & (table["task"] == TEXT_TASK)) | (table["kind"] == "hmm"))]
usable = state.of_dataset(usable, dataset)
if usable.empty:
    st.info(f"No trained model on {state.dataset_label(dataset)} yet. Train an RNN, LSTM or GRU on it on the "
            "**Train** page (datasets of your own are added on the Overview page), or fit the GMM-HMM on the **HMM** "
            "page; every finished one answers here. Or choose another dataset above.", icon=":material/info:")
    state.page_link("train.py", "Train", ":material/model_training:")
    st.stop()

st.session_state.setdefault(TEXT, EXAMPLES["Rave"])
row = st.container(horizontal=True, gap="small")
row.caption("Examples:", width="content")
for name in EXAMPLES:
    row.button(name, key=f"classify_example_{name}", on_click=set_text, args=(name,), type="tertiary")
text = st.text_area("Text", key=TEXT, height=140, max_chars=MAX_TEXT_CHARS)

rs = state.store()
labels = dict(zip(usable["run_id"], usable["label"], strict=True))
state.reset_stale("classify_runs", list(labels), list(labels))  # runs of the dataset shown before: all of these
picked = st.multiselect("Models", list(labels), default=list(labels), key="classify_runs",
                        format_func=lambda r: f"{labels[r]} ({r})")
results, failures = [], []
for rid in picked:
    try:
        out = classify(load_run(rs.get(rid)), text)
    except (ValueError, KeyError, OSError, RuntimeError, TypeError) as e:  # DamagedRun is a ValueError
        failures.append(f"{labels[rid]}: {e}")
        continue
    binary = len(out.get("classes") or [0, 0]) == 2
    confidence = max(out["probability"], 1 - out["probability"]) if binary else out["probability"]
    results.append({**out, "run": labels[rid], "confidence": confidence})
for msg in failures:
    st.warning(f"Could not use {msg}", icon=":material/warning:")
if not results:
    st.info("Choose at least one model.")
    st.stop()

frame = pd.DataFrame(results)
state.show_chart(classification.probability_bars(frame), "classify_probabilities")
shown = frame[["run", "model", "label", "confidence", "n_tokens", "unknown_tokens", "truncated", "latency_ms"]]
st.dataframe(shown, hide_index=True, key="classify_table", column_config={
    "label": st.column_config.TextColumn("predicted class"),
    "confidence": st.column_config.ProgressColumn("P(predicted class)", min_value=0.0, max_value=1.0, format="%.3f"),
    "n_tokens": st.column_config.NumberColumn("tokens read"),
    "unknown_tokens": st.column_config.NumberColumn("unknown"),
    "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.1f")})
many = [r for r in results if len(r.get("classes") or []) > 2]
if many:
    st.caption("Every class's probability, for the models with more than two classes:")
    st.dataframe(pd.DataFrame([{"run": r["run"], **r["probabilities"]} for r in many]), hide_index=True,
                 key="classify_class_probabilities")
if (frame["kind"] == "hmm").any():
    st.caption("The GMM-HMM's 'probability' is the logistic of its per-token log-likelihood difference: a score "
               "(0.5 = undecided), not a calibrated probability.")

st.subheader("What each model read")
st.html(markup.reading_legend_html())
compare = st.toggle("Compare with keep negations", key="classify_negations",
                    help="the same text through each run's own pipeline with keep_negations switched: which words "
                         "would be read (no model is asked)")
attributions = st.toggle("Which words decided", value=True, key="classify_attribution",
                         help=f"per word, its share of each network's logit (integrated gradients, {DEFAULT_STEPS} "
                              "steps): one forward and backward pass per step over the text, per model")
for r in results:
    fates = [WordFate(**f) for f in r["reading"]]
    with st.expander(f"{r['run']} — {r['label']} ({r['confidence']:.3f}), {r['n_tokens']} tokens read"):
        st.caption(markup.reading_summary(fates) + ". Hover a word to see the token it became.")
        st.html(markup.reading_html(fates))
        for note in r.get("notes") or []:
            st.caption(f"⚠ {note}")
        if r["kind"] == "hmm":
            st.caption("Words marked unknown have no word2vec vector: the HMM skips them.")
        elif attributions:
            show_attribution(rs.get(r["run_id"]), text)
        if compare:
            cfg = TextConfig(**r["text_config"])
            flipped = replace(cfg, keep_negations=not cfg.keep_negations)
            own_name = f"this run's pipeline (keep negations {'on' if cfg.keep_negations else 'off'})"
            other_name = f"keep negations {'on' if flipped.keep_negations else 'off'}"
            try:
                own, other = reading(text[:MAX_TEXT_CHARS], cfg), reading(text[:MAX_TEXT_CHARS], flipped)
            except StopwordsUnavailable as e:
                st.warning(str(e))
            else:
                st.html(markup.comparison_html(own, other, own_name, other_name))
