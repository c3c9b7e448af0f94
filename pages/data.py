"""Data: browse any dataset (IMDB or one added with `python -m core data add`) by split and class, its lengths and
most frequent words, and one text through each preprocessing stage down to every word the model reads."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for standalone runs

import numpy as np
import pandas as pd
import streamlit as st

from rnnlab.core.config import TextConfig
from rnnlab.core.data.imdb import LABEL_NAMES
from rnnlab.core.data.text import STAGES, StopwordsUnavailable, preprocess_stages, reading
from rnnlab.core.figures import reviews
from rnnlab.dashboard import lessons, markup, state

PAGE_SIZE = 25
PREVIEW_CHARS = 160
IMDB = "imdb"
SPLIT_ORDER = ("train", "val", "test", "unsup")


# -- named datasets: cached loaders (IMDB's are in dashboard.state) -----------------------------------------------
@st.cache_resource(show_spinner="Loading the dataset…", max_entries=2)
def named_frame(name: str, cache: str) -> pd.DataFrame:
    """A registered dataset's frame (shared, read-only), cached per name and cache file (its source's state)."""
    from rnnlab.core.data.sources import load_dataset

    return load_dataset(name)


@st.cache_data(show_spinner="Measuring the texts…", max_entries=4)
def named_lengths(name: str, cache: str) -> pd.DataFrame:
    """Words per text before preprocessing (whitespace-separated pieces): columns split, label, length."""
    import pyarrow as pa
    import pyarrow.compute as pc

    df = named_frame(name, cache)
    words = pc.count_substring_regex(pa.array(df["text"], pa.large_string()), r"\S+").to_numpy()
    names = dict(enumerate(df.attrs["classes"]))
    return pd.DataFrame({"split": df["split"].to_numpy(), "label": df["label"].map(names).to_numpy(),
                         "length": words})


@st.cache_data(show_spinner="Counting words…", max_entries=16)
def named_word_counts(name: str, cache: str, split: str, sample: int, text_cfg: dict) -> pd.DataFrame:
    """Token counts per class over a seeded sample of ``sample`` texts of ``split`` after preprocessing."""
    from collections import Counter

    from rnnlab.core.data.text import tokenize_corpus

    df = named_frame(name, cache)
    part = df[df["split"] == split]
    if len(part) > sample:
        part = part.sample(sample, random_state=0)
    cfg, rows = TextConfig(**text_cfg), []
    for label, group in part.groupby("label"):
        counts = Counter(t for toks in tokenize_corpus(group["text"].tolist(), cfg, workers=1) for t in toks)
        rows += [{"group": df.attrs["classes"][int(label)], "word": w, "count": c} for w, c in counts.most_common(50)]
    return pd.DataFrame(rows, columns=["group", "word", "count"])


def registered() -> list[dict]:
    """Every dataset added with `data add` (a damaged entry carries its ``error``)."""
    from rnnlab.core.data.sources import BUILTIN, list_datasets

    try:
        return [d for d in list_datasets() if d.get("name") != BUILTIN]
    except Exception as e:  # an unreadable datasets folder must not hide IMDB
        st.warning(f"The added datasets could not be listed: {e}", icon=":material/warning:")
        return []


st.title("Data")
lessons.show("data.py")
status = state.dataset_status()
added = {d["name"]: d for d in registered()}
choices = ([IMDB] if status["found"] else []) + list(added)
if not choices:
    st.warning("No IMDB dataset yet, so there are no reviews to show. The Overview page offers three ways to get "
               "it: a path, an upload of the archive, or a download. A dataset of your own can be added with "
               "`python -m core data add PATH --name NAME`.", icon=":material/warning:")
    state.page_link("overview.py", "Overview", ":material/home:")
    st.stop()


def describe(name: str) -> str:
    if name == IMDB:
        return "IMDB (movie reviews: neg / pos)"
    entry = added[name]
    if entry.get("error"):
        return f"{name} (damaged)"
    return f"{name} ({len(entry.get('classes') or [])} classes: {', '.join(entry.get('classes') or [])[:60]})"


dataset = state.choose_dataset(state.summaries(), key="data_dataset", options=choices, format_func=describe,
                               help="the dataset this page browses, and the one every page shows")
if not status["found"]:
    st.caption("IMDB is not installed: the Overview page gets it.")

first_read = dataset == IMDB and not status.get("counts")  # not parsed yet: this visit reads the whole archive
started = time.perf_counter()
first_note = st.empty()
if first_read:
    first_note.info(f"First visit: the archive's reviews are read into a cache, once ({state.FIRST_READ}). Later "
                    "visits read the cache.", icon=":material/hourglass_top:")
if dataset == IMDB:
    df = state.reviews(status)
    class_names = dict(LABEL_NAMES)  # 1 -> pos, 0 -> neg, -1 -> unlabelled
    has_rating = True
    st.caption(f"{len(df):,} reviews from `{status['source']}`")
else:
    from rnnlab.core.data.sources import cache_path, read_entry

    if added[dataset].get("error"):
        st.error(f"The dataset **{dataset}** cannot be shown: {added[dataset]['error']}", icon=":material/error:")
        st.stop()
    try:
        cache = str(cache_path(read_entry(dataset)))
        df = named_frame(dataset, cache)
    except Exception as e:  # a moved, changed or damaged source: say so, never a traceback
        st.error(f"The dataset **{dataset}** cannot be loaded: {e}", icon=":material/error:")
        st.stop()
    class_names = dict(enumerate(df.attrs["classes"]))
    has_rating = False
    st.caption(f"{len(df):,} texts in {len(class_names)} classes from `{df.attrs['source']}`")

# -- browse ---------------------------------------------------------------------------------------------
st.header("Browse")
present = set(df["split"].unique())
splits = [s for s in SPLIT_ORDER if s in present] or ["train"]
c1, c2, c3 = st.columns([1, 1, 2])
split = c1.selectbox("Split", splits, key="data_split")
if dataset == IMDB:
    labels = ["all", "pos", "neg"] if split != "unsup" else ["all"]
else:
    labels = ["all", *class_names.values()]
label = c2.selectbox("Class", labels, key="data_label")
needle = c3.text_input("Containing", key="data_filter", placeholder="a word or phrase (case-insensitive)")

# positions of the matching rows, not a copy of them: copying a split's texts (12,500 to 50,000 reviews) cost up to
# a second a render, and only one page of them is shown
mask = (df["split"] == split).to_numpy()
if label != "all":
    mask = mask & (df["label"] == {name: i for i, name in class_names.items()}[label]).to_numpy()
rows = np.flatnonzero(mask)
if needle.strip():
    rows = rows[df["text"].iloc[rows].str.contains(needle.strip(), case=False, regex=False).to_numpy(dtype=bool)]
pages = max(1, -(-len(rows) // PAGE_SIZE))
c1, c2 = st.columns([1, 3])
page = c1.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1, key="data_page")
c2.caption(f"{len(rows):,} texts match")
shown = df.iloc[rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]]
columns = {"id": shown["id"].to_numpy()}
if has_rating:
    columns["rating"] = shown["rating"].to_numpy()
columns |= {"label": shown["label"].map(class_names).to_numpy(), "words": shown["text"].str.count(r"\S+").to_numpy(),
            "review": shown["text"].str.slice(0, PREVIEW_CHARS).to_numpy()}
st.dataframe(pd.DataFrame(columns), hide_index=True, key="data_reviews",
             column_config={"review": st.column_config.TextColumn("text (start)", width="large")})

# -- lengths and words ------------------------------------------------------------------------------------
st.header("Lengths and words")
if dataset == IMDB:
    lengths = state.review_lengths(status["source"], Path(status["cache"]).name)
else:
    lengths = named_lengths(dataset, cache)
part = lengths[lengths["split"] == split].rename(columns={"label": "group"})
c1, c2 = st.columns(2)
with c1:
    state.show_chart(reviews.length_histogram(part, max_len=TextConfig().max_len), f"review_lengths_{split}")
    st.caption("Words before preprocessing. The seed truncates each text to `max_len` tokens *after* "
               "preprocessing, which removes roughly half of the words (stop words, punctuation).")
with c2:
    # measured on IMDB's training reviews, 2-core CPU with other work running: 500 in 0.17 s, 5,000 in 1.8 s
    sample = st.select_slider("Texts sampled for the word counts", [250, 500, 1000, 2000, 5000], value=500,
                              key="data_sample", help="preprocessing took 0.3-0.4 ms per review when measured "
                                                      "(5,000: about 2 s, once; then cached)")
    top = st.slider("Words shown", 5, 40, 20, key="data_top")
    keep_neg = st.toggle("Keep negations", key="data_freq_negations",
                         help="keep not / no / nor and the n't forms despite the stop-word list")

    def counts(text_cfg: TextConfig) -> pd.DataFrame:
        if dataset == IMDB:
            return state.word_counts(status["source"], Path(status["cache"]).name, split, sample, asdict(text_cfg))
        return named_word_counts(dataset, cache, split, sample, asdict(text_cfg))

    try:
        freqs = counts(TextConfig(keep_negations=keep_neg))
    except StopwordsUnavailable:
        freqs = counts(TextConfig(remove_stopwords=False))
        st.warning("NLTK's stop-word list is not installed: counting without removing stop words.")
    state.show_chart(reviews.word_frequency(freqs, top=top), f"word_frequency_{split}")

# -- preprocessing ----------------------------------------------------------------------------------------
st.header("Preprocessing, stage by stage")
source = st.radio("Text", ["a text from the table", "my own text"], horizontal=True, key="data_text_source")
if source == "my own text":
    text = st.text_area("Your text", key="data_own_text",
                        value="I didn't like it... u <b>won't</b> either :( The plot isn't bad, tho!")
elif shown.empty:
    text = ""
    st.info("No text matches the filter above.")
else:
    def headline(i: int) -> str:
        where = f"{shown['rating'].iloc[i]}★" if has_rating else class_names.get(int(shown["label"].iloc[i]), "?")
        return f"id {shown['id'].iloc[i]} · {where} · {shown['text'].iloc[i][:70]}…"

    pick = st.selectbox("Text", list(range(len(shown))), key="data_pick", format_func=headline)
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
    cfg = replace(cfg, remove_stopwords=False)
    stages = preprocess_stages(text, cfg)

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
fates = reading(text, cfg)
st.caption(f"Every word of the text, and what a model of this pipeline reads of it (max_len {cfg.max_len}, "
           f"{cfg.truncate}-truncation; {markup.reading_summary(fates)}). Hover a word for the token it became; "
           "Classify also marks the words a run's vocabulary does not know.")
st.html(markup.reading_legend_html())
st.html(markup.reading_html(fates))
if st.toggle("Compare with keep negations", key="data_compare_negations",
             help="the same text with keep negations switched: which words would be read"):
    flipped = replace(cfg, keep_negations=not cfg.keep_negations)
    st.html(markup.comparison_html(fates, reading(text, flipped),
                                   f"these stages (keep negations {'on' if cfg.keep_negations else 'off'})",
                                   f"keep negations {'on' if flipped.keep_negations else 'off'}"))

if first_read:  # what this first visit took, read from the clock: the note above said what to expect
    first_note.caption(f"This first visit took {time.perf_counter() - started:.0f} s, most of it reading the archive "
                       "into its cache; later visits read the cache.")
