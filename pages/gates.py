"""Gates: one text of the chosen dataset, token by token, inside two models trained on it -- every gate and state,
the running probability, and which words the prediction leaned on (saliency)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/gates.py`)
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from rnnlab.core.analysis.attribution import DEFAULT_STEPS, MAX_STEPS, Attribution, attribute  # noqa: E402
from rnnlab.core.analysis.cache import text_key  # noqa: E402
from rnnlab.core.analysis.introspect import Introspection, introspect  # noqa: E402
from rnnlab.core.analysis.neurons import (  # noqa: E402
    PATTERNS,
    WORD_CHARS_MAX,
    WORDS_MAX,
    NeuronSearchConfig,
    PatternReport,
    Unit,
    UnitReport,
    pattern_units,
    unit_contexts,
)
from rnnlab.core.analysis.predict import MAX_TEXT_CHARS, load_run  # noqa: E402
from rnnlab.core.config import TEXT_TASK  # noqa: E402
from rnnlab.core.data.text import reading  # noqa: E402
from rnnlab.core.figures import gates  # noqa: E402
from rnnlab.core.jobs.names import CANCELLED, CONFIG_FILE, FINISHED, WEIGHTS_FILE  # noqa: E402
from rnnlab.core.jobs.store import Run  # noqa: E402
from rnnlab.dashboard import forms, lessons, markup, state, widgets  # noqa: E402

DEFAULT_TEXT = ("I expected a dull remake, but the film surprised me: the cast is wonderful and the story, "
                "although slow at first, becomes gripping. Not perfect, still highly recommended.")
MAX_UNITS = 64  # units drawn per gate: enough to see patterns, few enough to hover
SORTS = {"none": "unit number", "variance": "variance over the text",
         "correlation": "correlation with the running probability"}
SEARCHES = {"unit": "a unit: where it is highest and lowest", "pattern": "a word pattern: the units that track it"}
OWN_WORDS = "words"  # the pattern picker's last choice: a word list typed in
SEARCH_FIELDS = {"unit": ("sample", "top", "window", "whole_split"),
                 "pattern": ("sample", "top", "contexts", "window", "whole_split")}
SEARCH_LABELS = {"unit": {"sample": "test texts read", "top": "contexts listed (each end)"},
                 "pattern": {"sample": "test texts read", "top": "units listed", "contexts": "contexts per unit"}}


def run_introspection(run: Run, text: str) -> Introspection:
    """The introspection of ``text`` under ``run``, cached until the run's weights change (shared: never modify it).

    Kept in a cache bounded in bytes (``state.CACHE_BUDGETS``), keyed by a digest of the text.
    """
    key = (str(run.path), state.run_stamp(run, WEIGHTS_FILE, CONFIG_FILE), text_key(text))
    return state.cached("gates.introspection", key, lambda: introspect(run, text),
                        spinner="Running the text through the model…")




def run_attribution(run: Run, text: str, steps: int) -> Attribution:
    """Integrated gradients and gradient x input of ``text`` under ``run``, cached as the introspection is (shared).

    In the introspection's byte budget: an attribution is a few arrays of one number per token beside it.
    """
    key = ("attribution", str(run.path), state.run_stamp(run, WEIGHTS_FILE, CONFIG_FILE), text_key(text), steps)
    return state.cached("gates.introspection", key, lambda: attribute(run, text, steps=steps),
                        spinner="Integrating the gradients from the baseline to the text…")


def show_attribution(run: Run, label: str, text: str, col: int) -> None:
    """Which words decided: integrated gradients beside gradient x input, with the completeness check."""
    st.markdown("**Which words decided** — integrated gradients: each word's share of the logit's change from a "
                "text of as many `<unk>` (unknown words) to this one; beside it gradient x input, the same at one "
                "point.")
    steps = st.number_input("Integration steps (first try)", 1, MAX_STEPS, DEFAULT_STEPS,
                            key=f"gates_attribution_steps_{col}",
                            help="points on the path from the baseline to the text: more narrow the completeness "
                                 "gap; each costs a forward and backward pass over the text. While the check "
                                 "fails, the steps double, within the text's budget")
    try:
        res = run_attribution(run, text, int(steps))
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        st.error(f"Cannot attribute {label}'s prediction: {e}", icon=":material/error:")
        return
    check = res.completeness()
    st.caption(("✓ " if res.complete else "⚠ ") + check[0].upper() + check[1:] + ".")
    st.html(markup.attribution_html(res.word_attributions(), res.toward, res.against))
    st.markdown("**Gradient x input** — ∂logit/∂e_t · e_t summed over the embedding: no completeness, and blind "
                "where a gate has saturated.")
    st.html(markup.attribution_html(res.word_attributions("gradient_x_input"), res.toward, res.against))
    values = {"integrated gradients": res.integrated_gradients, "gradient x input": res.gradient_x_input}
    state.show_chart(gates.token_values_figure(res.tokens, values, title=f"{label}: attribution per token",
                                               y=f"towards {res.toward} (logit)"),
                     f"attribution_{run.id}", key=f"attribution_{col}")


def neuron_search(run: Run, kind: str, what: Unit | str | tuple[str, ...], states: tuple[str, ...] | None,
                  cfg: NeuronSearchConfig) -> UnitReport | PatternReport:
    """A unit's contexts (``kind`` "unit") or the units that track a pattern over the test split, cached as the
    introspection is until the run's weights change (shared: never modify it). A report is a few dozen contexts."""
    key = ("neurons", str(run.path), state.run_stamp(run, WEIGHTS_FILE, CONFIG_FILE), kind, what, states, cfg)

    def compute() -> UnitReport | PatternReport:
        if kind == "unit":
            return unit_contexts(run, what, cfg)
        return pattern_units(run, what if isinstance(what, str) else list(what), cfg, states=states)

    return state.cached("gates.introspection", key, compute,
                        spinner=f"Reading up to {cfg.sample:,} test texts through the model…")


def state_name(name: str) -> str:
    return gates.STATE_NAMES.get(name, name)


def search_inputs(kind: str, model: Any) -> tuple[Unit | str | tuple[str, ...], tuple[str, ...] | None]:
    """The unit, or the pattern and the states searched, as the widgets hold them."""
    recorded = list(model.cell_def.recorded)
    if kind == "unit":
        cols = st.columns(3)
        keys = [(ly, d) for ly in range(model.num_layers) for d in range(model.num_directions)]
        state.reset_stale("gates_neurons_layer", list(range(len(keys))), 0)  # by index: another run has fewer
        at = cols[0].selectbox("Layer", range(len(keys)), key="gates_neurons_layer", disabled=len(keys) == 1,
                               format_func=lambda i: f"layer {keys[i][0] + 1}" + (" (backward)" if keys[i][1] else ""))
        layer, direction = keys[at]
        state.reset_stale(f"gates_neurons_state_{model.cell}", recorded, "hidden")
        picked = cols[1].selectbox("Gate or state", recorded, index=recorded.index("hidden"), format_func=state_name,
                                   key=f"gates_neurons_state_{model.cell}")
        top = model.hidden_size - 1
        if st.session_state.get("gates_neurons_unit", 0) > top:  # a wider run was searched before
            st.session_state["gates_neurons_unit"] = top
        index = cols[2].number_input(f"Unit (0 – {top})", 0, top, 0, key="gates_neurons_unit")
        return Unit(layer, direction, int(index), picked), None
    cols = st.columns(2)
    choice = cols[0].selectbox("Pattern", [*PATTERNS, OWN_WORDS], key="gates_neurons_pattern",
                               format_func=lambda p: "your own words" if p == OWN_WORDS else p,
                               help="; ".join(f"{k}: {v}" for k, v in PATTERNS.items()) + "; your own words: "
                                    "any comma-separated list, each read through the run's pipeline")
    what: str | tuple[str, ...] = choice
    if choice == OWN_WORDS:
        typed = cols[1].text_input(f"Words, comma-separated (at most {WORDS_MAX})", "great, awful",
                                   key="gates_neurons_words", max_chars=WORDS_MAX * (WORD_CHARS_MAX + 2))
        what = tuple(w.strip() for w in typed.split(",") if w.strip())
    state.reset_stale(f"gates_neurons_states_{model.cell}", recorded, recorded)
    states = st.multiselect("Gates and states searched", recorded, default=recorded, format_func=state_name,
                            key=f"gates_neurons_states_{model.cell}")
    return what, tuple(states)


def show_unit_report(rep: UnitReport, label: str, one: str) -> None:
    st.markdown(f"**{label}, unit `{rep.unit}`** ({state_name(rep.unit.state)}) over "
                f"{rep.texts:,} of {rep.split_texts:,} test {one}s, {rep.tokens:,} tokens ({rep.elapsed_s:.1f} s): "
                f"mean {rep.mean:.3f}, std {rep.std:.3f}")
    for note in rep.notes:
        st.caption(f"⚠ {note}")
    cols = st.columns(2)
    for col, (end, contexts) in zip(cols, (("Highest", rep.highest), ("Lowest", rep.lowest)), strict=True):
        with col:
            st.markdown(f"**{end}** — one token per {one}, outlined")
            st.html(markup.contexts_html(contexts))
    st.dataframe(pd.DataFrame(rep.rows()), hide_index=True)


def show_pattern_report(rep: PatternReport, label: str, one: str) -> None:
    shown = ", ".join(rep.words[:12]) + (" …" if len(rep.words) > 12 else "")
    st.markdown(f"**{label}: the units that track {rep.pattern}** over {rep.texts:,} of {rep.split_texts:,} test "
                f"{one}s, {rep.tokens:,} tokens, {rep.matches:,} of them matching ({shown}); {rep.elapsed_s:.1f} s")
    for note in rep.notes:
        st.caption(f"⚠ {note}")
    table = pd.DataFrame(rep.rows())
    fig = gates.unit_correlations_figure([u.unit for u in rep.units], [u.r for u in rep.units],
                                         title=f"{label}: units that track {rep.pattern}",
                                         mean_match=[u.mean_match for u in rep.units],
                                         mean_other=[u.mean_other for u in rep.units])
    state.show_chart(fig, f"neurons_{rep.run_id}", key="neurons", data=table)
    st.dataframe(table, hide_index=True)
    st.markdown("**Where each unit goes furthest** at the pattern's tokens (highest for r > 0, lowest for r < 0), "
                f"one token per {one}, outlined")
    for u in rep.units:
        st.markdown(f"`{u.unit}` r = {u.r:+.3f}")
        st.html(markup.contexts_html(u.contexts))


def show_neuron_search(ids: list[str], labels: dict[str, str], one: str) -> None:
    """Which units track what, as LSTMVis asks it of states: over a sample of the test split, a unit's highest and
    lowest tokens, or the units whose activation correlates most with a word pattern."""
    st.divider()
    st.subheader("Which units track what")
    st.caption(f"Over a sample of the test {one}s, read as the model reads them (after its preprocessing, cut to its "
               "max_len). Pick a unit to see the tokens where it is highest and lowest, or a word pattern to find "
               "the units whose activation rises or falls at it (r: the correlation of the activation with the "
               "token matching, over every token read). A search of 2,000 texts takes seconds.")
    state.reset_stale("gates_neurons_run", ids, ids[0])
    rid = st.selectbox("Model", ids, key="gates_neurons_run", format_func=lambda r: f"{labels[r]} ({r})")
    run = state.store().get(rid)
    try:
        model = load_run(run).model
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        st.error(f"Cannot search {labels[rid]}: {e}", icon=":material/error:")
        return
    kind = st.radio("Search for", list(SEARCHES), key="gates_neurons_mode", horizontal=True, format_func=SEARCHES.get)
    what, states = search_inputs(kind, model)
    names = SEARCH_FIELDS[kind]
    values = widgets.draw_fields(forms.config_fields(NeuronSearchConfig, names=names), "gates_neurons_", main=names,
                                 columns=len(names), more=None, labels=SEARCH_LABELS[kind])
    if st.button("Search", key="gates_neurons_go", icon=":material/search:"):
        st.session_state["gates_neurons_query"] = (rid, kind, what, states, values)
    query = st.session_state.get("gates_neurons_query")
    if not query or query[0] not in labels:
        return
    rid, kind, what, states, values = query
    try:
        cfg = NeuronSearchConfig(**values)
        rep = neuron_search(state.store().get(rid), kind, what, states, cfg)
    except (ValueError, KeyError, OSError, RuntimeError) as e:  # PatternUnavailable included: it says why
        st.error(f"Cannot search {labels[rid]}: {e}", icon=":material/error:")
        return
    if kind == "unit":
        show_unit_report(rep, labels[rid], one)
    else:
        show_pattern_report(rep, labels[rid], one)


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
    show_attribution(run, label, text, col)


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

# -- neuron search ------------------------------------------------------------------------------------------------
show_neuron_search(ids, labels, one)
