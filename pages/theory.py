"""Theory: the seed report's background made interactive -- vanishing gradients, the cells and their
parameter counts, and a Markov chain converging to its stationary distribution."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/theory.py`)
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from rnnlab.core.analysis import markov  # noqa: E402
from rnnlab.core.figures import theory  # noqa: E402
from rnnlab.core.figures.style import format_log10, format_number  # noqa: E402
from rnnlab.dashboard import state  # noqa: E402


def chart(fig, data: pd.DataFrame, name: str) -> None:
    """A Plotly chart with the downloads every chart has: its data (CSV), PNG and SVG."""
    state.show_chart(fig, f"theory_{name}", key=f"theory_{name}", data=data)


st.title("Theory")
st.caption("The background of the seed report, interactive. Every chart exports its data (CSV) and its picture "
           "(PNG, SVG).")

# ---- vanishing and exploding gradients ----------------------------------------------------------
st.header("Why gradients vanish (or explode)")
st.markdown(
    r"Back-propagation through time multiplies one Jacobian per step (the seed's eq. 6): "
    r"$\frac{\partial h_T}{\partial h_t} = \prod_{k=t+1}^{T} \frac{\partial h_k}{\partial h_{k-1}}$. "
    r"For a scalar RNN $h_k = f(w h_{k-1} + \dots)$ each factor is $|w|\, f'(a_k)$. "
    r"Since $\sigma' \le 1/4$, a sigmoid chain with $|w| < 4$ shrinks geometrically; "
    r"$\tanh' \le 1$ is kinder, but any factor below 1 still vanishes and above 1 explodes.")
c1, c2, c3, c4 = st.columns(4)
activation = c1.radio("Activation f", ["sigmoid", "tanh"], horizontal=True, key="theory_activation")
weight = c2.slider("Recurrent weight |w|", 0.1, 8.0, 1.0, 0.1, key="theory_weight")
pre = c3.slider("Pre-activation a", -6.0, 6.0, 0.0, 0.1, key="theory_pre")
steps = c4.slider("Sequence length T", 1, 200, 50, key="theory_steps")
factor = theory.step_factor(weight, pre, activation)
m1, m2, m3 = st.columns(3)
m1.metric("Per-step factor |w|·f'(a)", format_number(factor, 4))
products = theory.gradient_product_frame(weight, pre, steps, activation)
final_log = float(products["log10_chosen"].iloc[-1])
m2.metric(f"Product over T = {steps} steps", format_log10(final_log),
          help="(|w|·f'(a))^T, written from its log10, so it is exact even beyond float64's range")
m3.metric("Regime", "vanishing" if factor < 1 else "exploding" if factor > 1 else "neutral")
left, right = st.columns(2)
with left:
    acts = theory.activation_frame()
    chart(theory.activation_figure(acts, pre), acts, "activations")
with right:
    chart(theory.gradient_product_figure(products, activation), products, "gradient_product")

# ---- the cells ----------------------------------------------------------------------------------
st.header("The unrolled RNN and its gated cells")
unroll = st.slider("Steps to unroll", 2, 8, 4, key="theory_unroll")
nodes, edges = theory.unrolled_rnn_frame(unroll)
chart(theory.unrolled_rnn_figure(nodes, edges), edges, "unrolled_rnn")

eq_col, calc_col = st.columns([3, 2])
with eq_col:
    order = ("rnn", "lstm", "gru", "mingru", "minlstm", "lru")
    for cell, tab in zip(order, st.tabs([theory.CELL_NAMES[c].removesuffix(" (tanh)") for c in order]), strict=True):
        with tab:
            for line in theory.EQUATIONS[cell]:
                st.latex(line)
            if cell == "gru":
                st.info(
                    "Two conventions. **Reset gate:** the seed's eq. 77 resets the state before the product, "
                    r"$U_h (r_t \odot h_{t-1})$; PyTorch (cuDNN's variant), and so this project, resets after it, "
                    r"$r_t \odot (U_n h_{t-1} + b_{hn})$ -- a different function, not a reparametrisation. "
                    "**Update gate:** the seed's eq. 37 and eq. 78 disagree; PyTorch uses eq. 78's, where "
                    r"$z_t$ multiplies the old state: $z_t \to 1$ keeps the memory. Eq. 37's "
                    r"$h_t = z_t \odot n_t + (1 - z_t) \odot h_{t-1}$ is the same model with $z \to 1 - z$.")
            if cell == "lstm":
                st.caption("PyTorch stacks the gates as (i, f, g, o); every bias is b_i* + b_h* (two vectors).")
            if cell in ("mingru", "minlstm"):
                st.caption("Feng et al. 2024, *Were RNNs All We Needed?*: the GRU and LSTM with every gate reading "
                           r"$x_t$ alone. The state is then linear in $h_{t-1}$, $h_t = a_t \odot h_{t-1} + b_t$, "
                           "so all steps are computed at once by a parallel scan (in log space, for stability), "
                           "and the gradient k steps back is the product of the decays $a_t$, with no tanh "
                           "between them. minGRU's $z_t$ weighs the *new* candidate (the paper's convention), "
                           "the GRU's the old state.")
            if cell == "lru":
                st.caption("Orvieto et al. 2023, *Resurrecting Recurrent Neural Networks for Long Sequences*: a "
                           "diagonal complex linear recurrence. The exponential parametrisation keeps every "
                           r"$|\lambda_j| < 1$ throughout training; the ring initialisation draws $|\lambda_j|$ "
                           r"between $r_{min} = 0.9$ and $r_{max} = 0.999$, memory time scales "
                           r"$1/(1 - |\lambda_j|)$ of 10 to 1,000 steps; $\gamma$ keeps the state's size as "
                           r"$|\lambda| \to 1$. The Gradients page draws each run's $\lambda$ over training.")
with calc_col:
    st.subheader("Parameter count")
    n = st.number_input("Input size n (embedding dim)", 1, 1024, 100, key="theory_n")
    m = st.number_input("Hidden size m", 1, 1024, 50, key="theory_m")
    layers = st.number_input("Layers", 1, 4, 1, key="theory_layers")
    bidirectional = st.checkbox("Bidirectional", key="theory_bidirectional")
    counts = theory.param_count_frame(int(n), int(m), int(layers), bidirectional)
    st.dataframe(counts[["cell", "seed_formula_1_layer", "seed_formula", "pytorch_formula_1_layer",
                         "pytorch_actual", "extra_bias_params"]], hide_index=True)
    st.caption("The seed counts one bias per gate; PyTorch keeps b_ih and b_hh, so G·m more per layer and "
               "direction. Later layers read D·m inputs. 'pytorch_actual' counts the model this project builds. "
               "The modern cells have no recurrent matrix and one bias per projection: both formulas are their "
               "own (the LRU's λ, γ: 3m; B and C complex: 2mn and 2m²; D: mn).")
chart(theory.param_count_figure(counts), counts, "param_counts")

# ---- a Markov chain -----------------------------------------------------------------------------
st.header("A Markov chain and its stationary distribution")
st.markdown(r"The distribution over states evolves as $\pi_{t+1} = \pi_t P$ (eq. 49); "
            r"a stationary distribution solves $\pi = \pi P$ (eq. 50).")
k = st.number_input("States", 2, 6, 3, key="theory_states")
states = [f"s{i}" for i in range(int(k))]
# a lazy walk around a cycle with some mixing: irreducible and aperiodic, rows summing to one
default_p = 0.5 * np.eye(int(k)) + 0.3 * np.roll(np.eye(int(k)), 1, axis=1) + 0.2 / int(k)
ed1, ed2 = st.columns([3, 1])
with ed1:
    st.caption("Transition matrix P (row i: from state i)")
    p_edit = st.data_editor(pd.DataFrame(default_p, index=states, columns=states), key=f"theory_p_{k}")
with ed2:
    st.caption("Initial distribution π₀")
    pi_edit = st.data_editor(pd.DataFrame({"π₀": np.eye(int(k))[0]}, index=states), key=f"theory_pi0_{k}")
markov_steps = st.slider("Steps", 1, 100, 25, key="theory_markov_steps")
try:
    p, p_changed = markov.normalize_rows(p_edit.to_numpy(dtype=float))
    pi0, pi_changed = markov.normalize_distribution(pi_edit.to_numpy(dtype=float))
except ValueError as err:
    st.error(f"Cannot use this chain: {err}")
    st.stop()
if p_changed:
    st.warning("The rows of P did not sum to 1: each row was divided by its sum.")
if pi_changed:
    st.warning("π₀ did not sum to 1: it was rescaled.")
structure = markov.analyse_chain(p)
level, message = theory.chain_verdict(structure, states)
getattr(st, level)(message)
history = markov.distribution_over_steps(pi0, p, int(markov_steps))
reference = markov.long_run_distribution(pi0, p)
ref_name = "stationary π" if structure.unique_stationary else "long-run limit"
frame = theory.markov_frame(history, states)
export = frame.pivot(index="step", columns="state", values="probability").reset_index()
for s, v in zip(states, reference, strict=True):
    export[f"{ref_name} {s}"] = v
chart(theory.markov_figure(frame, reference, ref_name), export, "markov")
st.caption(f"Distance to {ref_name} after {markov_steps} steps (total variation): "
           f"{format_number(markov.total_variation(history[-1], reference))}")
