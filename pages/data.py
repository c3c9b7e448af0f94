"""Data: browse the reviews, their lengths and most frequent words, and one review through each preprocessing stage."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for standalone runs

import pandas as pd
import streamlit as st

from core.config import TextConfig
from core.data.imdb import LABEL_NAMES
from core.data.text import STAGES, StopwordsUnavailable, preprocess_stages
from core.figures import reviews
from dashboard import markup, state

PAGE_SIZE = 25
PREVIEW_CHARS = 160

st.title("Data")
status = state.dataset_status()
if not status["found"]:
    st.warning("No IMDB dataset yet, so there are no reviews to show. The Overview page offers three ways to get "
               "it: a path, an upload of the archive, or a download.", icon=":material/warning:")
    state.page_link("overview.py", "Overview", ":material/home:")
    st.stop()

df = state.reviews(status)
st.caption(f"{len(df):,} reviews from `{status['source']}`")

# -- browse ---------------------------------------------------------------------------------------------
st.header("Browse")
c1, c2, c3 = st.columns([1, 1, 2])
split = c1.selectbox("Split", ["train", "test", "unsup"], key="data_split")
labels = ["all", "pos", "neg"] if split != "unsup" else ["all"]
label = c2.selectbox("Label", labels, key="data_label")
needle = c3.text_input("Containing", key="data_filter", placeholder="a word or phrase (case-insensitive)")

view = df[df["split"] == split]
if label != "all":
    view = view[view["label"] == {"pos": 1, "neg": 0}[label]]
if needle.strip():
    view = view[view["text"].str.contains(needle.strip(), case=False, regex=False)]
pages = max(1, -(-len(view) // PAGE_SIZE))
c1, c2 = st.columns([1, 3])
page = c1.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1, key="data_page")
c2.caption(f"{len(view):,} reviews match")
shown = view.iloc[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
table = pd.DataFrame({"id": shown["id"].to_numpy(), "rating": shown["rating"].to_numpy(),
                      "label": shown["label"].map(LABEL_NAMES).to_numpy(),
                      "words": shown["text"].str.count(r"\S+").to_numpy(),
                      "review": shown["text"].str.slice(0, PREVIEW_CHARS).to_numpy()})
st.dataframe(table, hide_index=True, key="data_reviews",
             column_config={"review": st.column_config.TextColumn("review (start)", width="large")})

# -- lengths and words ------------------------------------------------------------------------------------
st.header("Lengths and words")
lengths = state.review_lengths(status["source"], Path(status["cache"]).name)
part = lengths[lengths["split"] == split].rename(columns={"label": "group"})
c1, c2 = st.columns(2)
with c1:
    state.show_chart(reviews.length_histogram(part, max_len=TextConfig().max_len), f"review_lengths_{split}")
    st.caption("Words before preprocessing. The seed truncates each review to `max_len` tokens *after* "
               "preprocessing, which removes roughly half of the words (stop words, punctuation).")
with c2:
    sample = st.select_slider("Reviews sampled for the word counts", [250, 500, 1000, 2000, 5000], value=500,
                              key="data_sample", help="preprocessing takes about 1.5 ms per review")
    top = st.slider("Words shown", 5, 40, 20, key="data_top")
    keep_neg = st.toggle("Keep negations", key="data_freq_negations",
                         help="keep not / no / nor and the n't forms despite the stop-word list")
    try:
        freqs = state.word_counts(status["source"], Path(status["cache"]).name, split, sample,
                                  asdict(TextConfig(keep_negations=keep_neg)))
    except StopwordsUnavailable:
        freqs = state.word_counts(status["source"], Path(status["cache"]).name, split, sample,
                                  asdict(TextConfig(remove_stopwords=False)))
        st.warning("NLTK's stop-word list is not installed: counting without removing stop words.")
    state.show_chart(reviews.word_frequency(freqs, top=top), f"word_frequency_{split}")

# -- preprocessing ----------------------------------------------------------------------------------------
st.header("Preprocessing, stage by stage")
source = st.radio("Text", ["a review from the table", "my own text"], horizontal=True, key="data_text_source")
if source == "my own text":
    text = st.text_area("Your text", key="data_own_text",
                        value="I didn't like it... u <b>won't</b> either :( The plot isn't bad, tho!")
elif shown.empty:
    text = ""
    st.info("No review matches the filter above.")
else:
    options = list(range(len(shown)))
    pick = st.selectbox("Review", options, key="data_pick",
                        format_func=lambda i: f"id {shown['id'].iloc[i]} · {shown['rating'].iloc[i]}★ · "
                                              f"{shown['text'].iloc[i][:70]}…")
    text = shown["text"].iloc[pick]

c1, c2 = st.columns([5, 1])
on = c1.pills("Stages", STAGES, selection_mode="multi", default=[s for s in STAGES if getattr(TextConfig(), s)],
              format_func=lambda s: s.replace("_", " "), key="data_stages_on")
keep_negations = c2.checkbox("keep negations", value=False, key="data_keep_negations")
flags = {s: s in (on or []) for s in STAGES}
cfg = TextConfig(**flags, keep_negations=keep_negations)
try:
    stages = preprocess_stages(text, cfg)
except StopwordsUnavailable as e:
    st.warning(f"{e}")
    stages = preprocess_stages(text, TextConfig(**{**flags, "remove_stopwords": False}))

rows = [{"stage": name, "words after": len(after.split()), "change": markup.diff_summary(before, after)}
        for (_, before), (name, after) in zip(stages, stages[1:], strict=False)]
st.dataframe(pd.DataFrame(rows, columns=["stage", "words after", "change"]), hide_index=True, key="data_stages",
             column_config={"change": st.column_config.TextColumn(width="large")})
pairs = list(zip(stages, stages[1:], strict=False))
removed = [len(before.split()) - len(after.split()) for (_, before), (_, after) in pairs]
busiest = max(range(len(removed)), key=removed.__getitem__) if removed else -1  # opened: the stage that removed most
for i, ((_, before), (name, after)) in enumerate(pairs):
    with st.expander(f"{name.replace('_', ' ')} — {markup.diff_summary(before, after, top=6)}", expanded=i == busiest):
        b, a = markup.stage_markup(before, after)
        c1, c2 = st.columns(2)
        c1.caption("before (removed or rewritten words struck through)")
        c1.html(b)
        c2.caption("after (new words in green)")
        c2.html(a)
tokens = stages[-1][1].split()
st.markdown(f"**{len(tokens)} tokens** go to the vocabulary: " + (" ".join(f"`{t}`" for t in tokens[:200])
                                                                  + (" …" if len(tokens) > 200 else "")))
