"""Gates: one text of the chosen dataset, token by token, inside two models trained on it -- every gate and state,
the running probability, and which words the prediction leaned on (saliency)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/gates.py`)
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core.analysis.cache import text_key  # noqa: E402
from core.analysis.introspect import Introspection, introspect  # noqa: E402
from core.analysis.predict import MAX_TEXT_CHARS, load_run  # noqa: E402
from core.config import TEXT_TASK  # noqa: E402
from core.data.text import reading  # noqa: E402
from core.figures import gates  # noqa: E402
from core.jobs.names import CANCELLED, CONFIG_FILE, FINISHED, WEIGHTS_FILE  # noqa: E402
from core.jobs.store import Run  # noqa: E402
from dashboard import lessons, markup, state  # noqa: E402

DEFAULT_TEXT = ("I expected a dull remake, but the film surprised me: the cast is wonderful and the story, "
                "although slow at first, becomes gripping. Not perfect, still highly recommended.")
MAX_UNITS = 64  # units drawn per gate: enough to see patterns, few enough to hover
SORTS = {"none": "unit number", "variance": "variance over the text",
         "correlation": "correlation with the running probability"}


def run_introspection(run: Run, text: str) -> Introspection:
    """The introspection of ``text`` under ``run``, cached until the run's weights change (shared: never modify it).

    Kept in a cache bounded in bytes (``state.CACHE_BUDGETS``), keyed by a digest of the text.
    """
    key = (str(run.path), state.run_stamp(run, WEIGHTS_FILE, CONFIG_FILE), text_key(text))
    return state.cached("gates.introspection", key, lambda: introspect(run, text),
                        spinner="Running the text through the model…")




def show_reading(run: Run, text: str) -> None:
    """Every word of the text, marked with why the model did not read it (stop word, unknown, truncated, removed)."""
    try:
        lr = load_run(run)
        fates = reading(text, lr.cfg.text, lr.vocab.stoi)
    except (ValueError, KeyError, OSError, RuntimeError, AttributeError) as e:  # StopwordsUnavailable included
        st.caption(f"What the model read cannot be shown: {e}")
        return
    st.markdown("**What the model read** — " + markup.reading_summary(fates))
    st.html(markup.reading_legend_html() + markup.reading_html(fates))


def show_run(run_id: str, label: str, text: str, col: int) -> None:
    run = state.store().get(run_id)
    try:
        res = run_introspection(run, text)
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        st.error(f"Cannot look inside {label}: {e}", icon=":material/error:")
        return
    st.metric(f"{label} says", f"{res.label} ({res.probability:.3f})",
              help=f"P({res.probability_of}) after the last token: the sigmoid of a two-class model's logit, a "
                   "K-class model's softmax share of the class it predicts")
    for note in res.notes:
        st.caption(f"⚠ {note}")
    layer, direction = 0, 0
    if res.num_layers > 1 or res.num_directions > 1:
        keys = [(ly, d) for ly in range(res.num_layers) for d in range(res.num_directions)]
        layer, direction = st.selectbox("Layer", keys, key=f"gates_layer_{col}",
                                        format_func=lambda k: f"layer {k[0] + 1}" + (" (backward)" if k[1] else ""))
    names = res.state_names
    chosen = st.multiselect("Gates and states", names, default=names, key=f"gates_states_{col}_{res.cell}",
                            format_func=lambda n: gates.STATE_NAMES.get(n, n))
    sort = st.selectbox("Sort units by", list(SORTS), key=f"gates_sort_{col}", format_func=SORTS.get,
                        help="variance: the units that change most over this text on top; correlation: the units "
                             "that rise with the running probability on top, those that fall with it at the bottom")
    states = {n: res.state(n, layer, direction) for n in chosen}
    orders = {n: gates.unit_order(v, sort, res.running_probability) for n, v in states.items()}
    fig = gates.gates_figure(res.tokens, states, res.running_probability, max_units=MAX_UNITS, orders=orders,
                             title=f"{label}: gates and states per token")
    state.show_chart(fig, f"gates_{run_id}", key=f"gates_{col}")
    if res.hidden_size > MAX_UNITS:
        st.caption(f"The first {MAX_UNITS} of {res.hidden_size} units (by {SORTS[sort]}) are drawn.")
    st.caption("Colour bars: a sigmoid gate runs from 0 (closed) to 1 (open); the tanh candidate and hidden state "
               "from -1 to 1; the LSTM's cell state is unbounded. Hover a cell for its token, unit and value.")
    show_reading(run, text)
    st.markdown("**Saliency** — |∂logit/∂e_t · e_t| per word; grey words never reached the model "
                "(stop words, punctuation, cut by max_len) or reached it only as `<unk>` (hover for which).")
    st.html(markup.saliency_html(markup.word_saliency(res.words, res.saliency)))
    state.show_chart(gates.token_values_figure(res.tokens, {label: res.saliency}, title=f"{label}: saliency"),
                     f"saliency_{run_id}", key=f"saliency_{col}")


st.title("Gates")
lessons.show("gates.py")
table = state.summaries()
dataset = state.choose_dataset(table, key="gates_dataset")
one = state.dataset_noun(dataset, one=True)
st.caption(f"Pick a {one}, then two models trained on {state.dataset_label(dataset)}: each reads it token by token. "
           "Every chart exports as PNG and CSV.")

state.damaged_notice(table)
usable = table[(table["kind"] == "rnn") & (table["task"] == TEXT_TASK) & table["status"].isin([FINISHED, CANCELLED])]
usable = state.of_dataset(usable, dataset)
if usable.empty:
    st.info(f"No trained model on {state.dataset_label(dataset)} yet. Train an RNN, LSTM or GRU on it on the "
            "**Train** page (or choose another dataset above); a finished run can be opened here, e.g. an LSTM and a "
            "GRU side by side on the same text.", icon=":material/info:")
    state.page_link("train.py", "Train", ":material/model_training:")
    st.stop()

# -- the text -----------------------------------------------------------------------------------------------------
tests = state.test_texts(dataset)
sources = [f"Type a {one}"] + ([f"A test {one}"] if not tests.empty else [])
source = st.radio(one.capitalize(), sources, horizontal=True, key="gates_source")
if source != sources[0]:
    i = st.number_input(f"Test {one} (0 – {len(tests) - 1})", 0, len(tests) - 1, 0, key="gates_review")
    text = str(tests["text"].iloc[int(i)])
    st.caption(f"True label: **{tests['label'].iloc[int(i)]}**")
    with st.expander(f"The {one}"):
        st.text(text)
else:
    if tests.empty:
        st.caption(f"The dataset is not available, so test {one}s cannot be picked; type any text.")
    text = st.text_area("Text", DEFAULT_TEXT, key="gates_text", height=110, max_chars=MAX_TEXT_CHARS)

# -- two runs side by side ----------------------------------------------------------------------------------------
labels = dict(zip(usable["run_id"], usable["label"], strict=True))
ids = list(labels)
by_cell = {c: usable[usable["cell"] == c]["run_id"].tolist() for c in ("lstm", "gru", "rnn")}
first = (by_cell["lstm"] or ids)[0]
second = next((r for r in by_cell["gru"] + by_cell["rnn"] + ids if r != first), None)
cols = st.columns(2 if second else 1)
for col, default in enumerate([first, second][:len(cols)]):
    with cols[col]:
        state.reset_stale(f"gates_run_{col}", ids, default)  # a run of the dataset shown before
        rid = st.selectbox("Model", ids, index=ids.index(default), key=f"gates_run_{col}",
                           format_func=lambda r: f"{labels[r]} ({r})")
        show_run(rid, labels[rid], text, col)
