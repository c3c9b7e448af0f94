"""Embeddings: train word2vec on the chosen dataset (CBOW or skip-gram, in its own process), import published vectors
(word2vec format) or open a stored run (trained on that dataset, or imported); a word's nearest neighbours, a 2D map
of chosen words, and the vectors as a word2vec file."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/embeddings.py`)
    sys.path.insert(0, str(ROOT))

import re  # noqa: E402
import tempfile  # noqa: E402

import streamlit as st  # noqa: E402

from rnnlab.core.config import BUILTIN_DATASET, DataConfig, TextConfig, Word2VecConfig, Word2VecRunConfig  # noqa: E402
from rnnlab.core.figures import embeddings  # noqa: E402
from rnnlab.core.jobs import estimate  # noqa: E402
from rnnlab.core.jobs.imports import import_vectors_run  # noqa: E402
from rnnlab.core.jobs.names import QUEUED, RUNNING, VECTORS_FILE, WORD2VEC_FILE, WORDS_FILE  # noqa: E402
from rnnlab.core.jobs.store import DamagedRun  # noqa: E402
from rnnlab.core.jobs.word2vec import load_vectors, vectors_runs  # noqa: E402
from rnnlab.core.models.word2vec import WordVectors, word2vec_text  # noqa: E402
from rnnlab.dashboard import forms, lessons, state, widgets  # noqa: E402

POLL_S = 2.0
JOB = "embeddings.job"  # session key: the id of the run launched from this page
DEFAULT_WORDS = "good, great, excellent, wonderful, bad, awful, terrible, boring, actor, actress, plot, story"
UPLOAD_MAX_MB = 512  # a word2vec upload at most (GloVe's 400,000 x 100 text file is ~160 MB)


SMALL_CORPUS_TOKENS = 1_000_000  # below this, neighbours mostly reflect frequency and shared contexts
MAIN = ("algo", "dim", "epochs", "window", "min_count", "limit")  # shown up front; the others under More settings


def form_fields() -> list[forms.Field]:
    """The training form: every word2vec setting, and the dataset's limit (texts per split)."""
    return (forms.config_fields(Word2VecConfig, section="word2vec")
            + forms.config_fields(DataConfig, forms.STARTING["word2vec"], section="data", names=["limit"]))


def training_config(values: dict, dataset: str) -> Word2VecRunConfig:
    """The word2vec job the form describes on ``dataset``; ``ValueError`` says what is wrong."""
    values = forms.parse_values(form_fields(), values)
    limit = values.pop("limit")
    return Word2VecRunConfig(data=state.data_config(dataset, limit=limit), text=TextConfig(),
                             word2vec=Word2VecConfig(**values))


def launch_training(cfg: Word2VecRunConfig) -> None:
    """Queue word2vec training as a run of its own process (or say why not); the page only polls the run store."""
    state.launch_job(JOB, "word2vec", cfg, label=f"word2vec-{cfg.word2vec.algo}")


@st.cache_data(show_spinner=False, ttl=30, max_entries=64)
def training_estimate(cfg: Word2VecRunConfig, root: str) -> estimate.Estimate:
    """How long the training will take, from the finished word2vec runs' rates (or the reference ones)."""
    return estimate.word2vec_seconds(cfg, state.store())


def small_corpus_warning(info: dict) -> str | None:
    """Why the neighbours of a run trained on few tokens should not be read as meaning; None for a big corpus
    or an imported run (its corpus is not known here)."""
    tokens = info.get("corpus_tokens")
    if not isinstance(tokens, int) or tokens >= SMALL_CORPUS_TOKENS:
        return None
    return (f"These vectors were trained on {tokens:,} tokens, under the {SMALL_CORPUS_TOKENS:,} below which "
            "word2vec's neighbours mean little: on a small corpus they mostly reflect how frequent words are and "
            "which contexts they share, so opposites such as “good” and “terrible”, used in the same places, "
            "come out close. Train on more texts (an empty limit reads all of them) before reading meaning "
            "into them.")


def import_upload(upload, fmt: str) -> None:
    """Check the upload's size, write it to a private temporary file and store it as a finished word2vec run."""
    if upload.size > UPLOAD_MAX_MB * 2**20:
        st.error(f"{upload.name}: {upload.size / 2**20:,.0f} MB, more than the {UPLOAD_MAX_MB} MB an upload may have",
                 icon=":material/error:")
        return
    label = "word2vec-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", Path(upload.name).stem).strip("-")[:40] or "imported")
    with tempfile.TemporaryDirectory(prefix="rnnlab-w2v-upload-") as tmp:
        path = Path(tmp) / "vectors.w2v"  # a neutral name: never taken for a compressed file
        path.write_bytes(upload.getbuffer())
        try:
            run = import_vectors_run(path, state.store(), label=label, binary={"detect": None, "text": False,
                                                                                "binary": True}[fmt],
                                     source=upload.name)
        except ValueError as e:
            st.error(f"Cannot import {upload.name}: {e}", icon=":material/error:")
            return
    st.session_state["w2v_run"] = run.id  # the run selected below
    st.success(f"Imported {upload.name} as run {run.id}.", icon=":material/check_circle:")


@st.cache_resource(show_spinner="Loading the vectors…", max_entries=4)
def _vectors(run_id: str, runs_dir: str, stamp: tuple) -> WordVectors:
    return load_vectors(run_id, runs_dir)  # shared and read-only: never modified by a page


st.title("Embeddings")
lessons.show("embeddings.py")
table = state.summaries()
dataset = state.choose_dataset(table, key="w2v_dataset")
noun = state.dataset_noun(dataset)
st.caption(f"word2vec vectors learned from the training and unlabelled {noun} of {state.dataset_label(dataset)} "
           "(never the test split), and vectors imported from elsewhere. A run here can initialise an RNN's "
           "embedding layer on the Train page.")

# -- train -----------------------------------------------------------------------------------------------------------
problem = state.dataset_problem(dataset)
with st.expander("Train word2vec", expanded=False):
    # live widgets, not inside the form: the estimate below follows them before anything is launched
    raw = widgets.draw_fields(form_fields(), "w2v_", main=MAIN, columns=6, labels={"limit": f"{noun} per split"})
    try:
        w2v_cfg = training_config(raw, dataset)
        guess = training_estimate(w2v_cfg, str(state.store().root))
    except (OSError, ValueError) as e:  # settings no config accepts: the launch says why
        w2v_cfg, guess = None, estimate.Estimate(None, f"no estimate: {e}")
    st.caption(f"Expected time: **{guess.text()}**; {guess.basis}")
    with st.form("w2v_form", border=False):
        job = state.page_job(JOB, "word2vec")
        running = job is not None and job.status().get("state") in (QUEUED, RUNNING)
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:",
                                          disabled=problem is not None or running)
    if submitted:
        if w2v_cfg is None:
            st.error(f"Not started: {guess.basis.removeprefix('no estimate: ')}", icon=":material/error:")
        else:
            launch_training(w2v_cfg)
    if problem:
        st.warning(f"{problem} Get it on the Overview page to train vectors.", icon=":material/warning:")
state.follow_job(JOB, "word2vec", "Word2vec training", poll_s=POLL_S)

with st.expander("Import vectors (word2vec format)", expanded=False):
    st.caption("Published vectors in the word2vec text or binary format (a first line `<words> <dimensions>`): "
               f"at most {UPLOAD_MAX_MB} MB, 500,000 words and 2,048 dimensions. They become a word2vec run that "
               "can initialise an RNN's embeddings (Train) and feed the GMM-HMM.")
    c1, c2 = st.columns([3, 1])
    upload = c1.file_uploader("word2vec file", key="w2v_import_file", max_upload_size=UPLOAD_MAX_MB)
    fmt = c2.radio("Format", ["detect", "text", "binary"], key="w2v_import_format")
    if st.button("Import", key="w2v_import", disabled=upload is None, icon=":material/upload:"):
        import_upload(upload, fmt)

# -- a trained run ---------------------------------------------------------------------------------------------------
table = state.summaries()
state.damaged_notice(table)
rs = state.store()
runs = table[(table["kind"] == "word2vec") & table["run_id"].isin(vectors_runs(rs, dataset))]  # trained on it, imported
if runs.empty:
    st.info(f"No word2vec run on {state.dataset_label(dataset)} yet. Open **Train word2vec** above (the expected "
            "time shows under the settings) and press **Train**, or on the command line: `python -m core embeddings "
            "train --limit 5000`; or import published vectors under **Import vectors** above.",
            icon=":material/info:")
    st.stop()

labels = dict(zip(runs["run_id"], runs["label"] + runs["dataset"].map(lambda d: "" if isinstance(d, str)
                                                                        else " · imported"), strict=True))
state.reset_stale("w2v_run", list(labels), list(labels)[0])  # vectors of the dataset shown before
state.select_new_result("w2v_run", JOB, "word2vec", list(labels))
rid = st.selectbox("word2vec run", list(labels), key="w2v_run", format_func=lambda r: f"{labels[r]} ({r})")
run = rs.get(rid)
try:
    wv = _vectors(rid, str(rs.root), state.run_stamp(run, VECTORS_FILE, WORDS_FILE))
except (ValueError, KeyError, OSError) as e:
    st.error(f"Cannot load the vectors: {e}")
    st.stop()
try:
    info = run.read_json(WORD2VEC_FILE)  # validated (core.jobs.files)
except DamagedRun as e:
    state.damaged_notice(e)
    info = {}
c1, c2, c3, c4 = st.columns(4)
c1.metric("Words", f"{len(wv):,}")
c2.metric("Dimensions", wv.dim)
c3.metric("Corpus tokens", f"{info['corpus_tokens']:,}" if info.get("corpus_tokens") else "–")
c4.metric("Training time", f"{info['train_time_s']:.1f} s" if info.get("train_time_s") is not None else "–")
if (small := small_corpus_warning(info)) is not None:
    st.warning(small, icon=":material/warning:")
source = info.get("source") if isinstance(info.get("source"), dict) else None
if source:
    st.caption(f"Imported from {source.get('file')} ({source.get('format')}).")
st.download_button("Export (word2vec text format)", data=lambda: word2vec_text(wv), file_name=f"{rid}.txt",
                   mime="text/plain", key="w2v_export", on_click="ignore", icon=":material/download:",
                   help="`<words> <dimensions>`, then one `word v1 … vd` line per word: gensim, fastText and the "
                        "word2vec tools read it")

left, right = st.columns(2)
with left:
    word = st.text_input("Word", "good" if "good" in wv else wv.words[0], key="w2v_word").strip().lower()
    k = st.slider("Neighbours", 3, 30, 10, key="w2v_k")
    if word in wv:
        state.show_chart(embeddings.neighbour_bars(wv.neighbours(word, k), word), f"neighbours_{word}", key="w2v_nn")
    else:
        near = [w for w in wv.words if w.startswith(word[:3])][:8] if word else []
        st.warning(f"“{word}” has no vector (too rare, removed by preprocessing, or never seen)."
                   + (f" Words like it: {', '.join(near)}." if near else ""), icon=":material/warning:")
with right:
    state.show_chart(embeddings.loss_per_epoch(info.get("loss_per_epoch") or []), f"w2v_loss_{rid}", key="w2v_loss")

st.subheader("A map of words")
imdb = dataset == BUILTIN_DATASET  # IMDB's words make a good first map; another dataset's most frequent ones do
chosen_text = st.text_input("Words to place (comma-separated)", DEFAULT_WORDS if imdb else "",
                            key="w2v_words" if imdb else f"w2v_words.{dataset}")
chosen = [w.strip().lower() for w in chosen_text.split(",") if w.strip()]
context = st.slider("Also show the most frequent words", 0, 500, 100, step=50, key="w2v_context",
                    help="the map's axes are fitted on every word shown")
missing = [w for w in chosen if w not in wv]
words = list(dict.fromkeys([w for w in chosen if w in wv] + wv.words[:context]))
proj = wv.projection_2d(words)
state.show_chart(embeddings.projection_figure(proj, highlight=chosen, labels=0 if context else len(words)),
                 f"word_map_{rid}", key="w2v_map")
if missing:
    st.caption(f"No vector for: {', '.join(missing)}")
