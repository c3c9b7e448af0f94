"""Figures of the Theory page, and the numbers behind them: activations and their derivatives, the
vanishing (or exploding) product of per-step factors, the unrolled RNN, parameter counts per cell,
and a small Markov chain's state distribution over time.

What it is: pure numpy / pandas / Plotly functions -- a frame builder and a figure builder per
topic, the cell equations as LaTeX, and the verdict on whether a chain has a unique limit. The
Markov maths lives in ``core.analysis.markov`` and the real parameter counts in
``core.models.rnn.param_counts``; this module only arranges them into frames, figures and text.

What it is not: gradients measured in trained models (:mod:`core.figures.gradients`), widgets
(``pages/theory.py``), Streamlit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rnnlab.core.analysis.markov import ChainStructure
from rnnlab.core.config import MODERN_CELLS, ModelConfig
from rnnlab.core.figures.style import integer_axis, log_axis, style
from rnnlab.core.models.cells import cell_def
from rnnlab.core.models.rnn import param_counts

SIGMOID_PRIME_MAX = 0.25  # σ'(0) = σ(0)(1 - σ(0)) = 1/4, the largest value σ' takes
TANH_PRIME_MAX = 1.0  # tanh'(0) = 1
_LOG10_RANGE = 300.0  # float64 spans about 1e-308 .. 1e308; beyond it a product is shown as missing

# The cell equations as the project's models compute them (core.models.rnn, PyTorch's conventions).
EQUATIONS: dict[str, list[str]] = {
    "rnn": [r"h_t = \tanh(W x_t + U h_{t-1} + b)"],
    "lstm": [
        r"i_t = \sigma(W_i x_t + U_i h_{t-1} + b_i)",
        r"f_t = \sigma(W_f x_t + U_f h_{t-1} + b_f)",
        r"o_t = \sigma(W_o x_t + U_o h_{t-1} + b_o)",
        r"g_t = \tanh(W_g x_t + U_g h_{t-1} + b_g)",
        r"c_t = f_t \odot c_{t-1} + i_t \odot g_t",
        r"h_t = o_t \odot \tanh(c_t)",
    ],
    "gru": [
        r"r_t = \sigma(W_r x_t + U_r h_{t-1} + b_r)",
        r"z_t = \sigma(W_z x_t + U_z h_{t-1} + b_z)",
        r"n_t = \tanh\big(W_n x_t + b_{in} + r_t \odot (U_n h_{t-1} + b_{hn})\big)",
        r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}",
    ],
    # the modern cells (core.models.recurrences): gates and decays read x_t alone, so the state is linear in h_{t-1}
    "mingru": [
        r"z_t = \sigma(W_z x_t + b_z)",
        r"\tilde h_t = g(W_h x_t + b_h), \quad g(a) = a + \tfrac12 \ (a \ge 0), \ \sigma(a) \ (a < 0)",
        r"h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t",
        r"\partial h_t / \partial h_{t-1} = \operatorname{diag}(1 - z_t)",
    ],
    "minlstm": [
        r"f_t = \sigma(W_f x_t + b_f), \quad i_t = \sigma(W_i x_t + b_i)",
        r"\tilde h_t = g(W_h x_t + b_h)",
        r"f'_t = \frac{f_t}{f_t + i_t}, \quad i'_t = \frac{i_t}{f_t + i_t}",
        r"h_t = f'_t \odot h_{t-1} + i'_t \odot \tilde h_t",
        r"\partial h_t / \partial h_{t-1} = \operatorname{diag}(f'_t)",
    ],
    "lru": [
        r"\lambda_j = \exp\big(-e^{\nu_j} + i\, e^{\theta_j}\big), \quad |\lambda_j| = e^{-e^{\nu_j}} < 1",
        r"x_t = \lambda \odot x_{t-1} + \gamma \odot (B u_t), \quad \gamma_j = \sqrt{1 - |\lambda_j|^2} "
        r"\text{ at initialisation}",
        r"y_t = \operatorname{GELU}\big(\operatorname{Re}(C x_t) + D u_t\big)",
        r"\partial x_t / \partial x_{t-1} = \operatorname{diag}(\lambda), \quad "
        r"\partial x_T / \partial x_{T-k} = \operatorname{diag}(\lambda^k)",
    ],
}
CELL_NAMES = {"rnn": "RNN (tanh)", "gru": "GRU", "lstm": "LSTM", "mingru": "minGRU", "minlstm": "minLSTM",
              "lru": "LRU"}
# one layer and direction's parameters by formula (n inputs, m units): the seed's for the classic cells, with G
# gate blocks; a modern cell's own (core.models.cells.ScanCell.layer_params)
MODERN_FORMULAS = {"mingru": "2(n+1)m", "minlstm": "3(n+1)m", "lru": "3m+3mn+2m²"}


# ---- activations and the vanishing product ------------------------------------------------------

def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + e^{-x})``."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def sigmoid_prime(x: np.ndarray) -> np.ndarray:
    """``σ'(x) = σ(x) (1 - σ(x))``, at most 1/4 (at x = 0)."""
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh_prime(x: np.ndarray) -> np.ndarray:
    """``tanh'(x) = 1 - tanh(x)^2``, at most 1 (at x = 0)."""
    return 1.0 - np.tanh(np.asarray(x, dtype=float)) ** 2


ACTIVATION_PRIME = {"sigmoid": sigmoid_prime, "tanh": tanh_prime}


def activation_frame(x_min: float = -6.0, x_max: float = 6.0, points: int = 481) -> pd.DataFrame:
    """Columns ``x, sigmoid, sigmoid_prime, tanh, tanh_prime`` on an even grid."""
    x = np.linspace(x_min, x_max, points)
    return pd.DataFrame({"x": x, "sigmoid": sigmoid(x), "sigmoid_prime": sigmoid_prime(x),
                         "tanh": np.tanh(x), "tanh_prime": tanh_prime(x)})


def activation_figure(frame: pd.DataFrame, preactivation: float | None = None) -> go.Figure:
    """σ, σ', tanh, tanh' with σ' 's bound 1/4 dashed; a dotted line at ``preactivation`` if given."""
    fig = go.Figure()
    styles = {"sigmoid": ("σ(x)", "#1f77b4", "solid"), "sigmoid_prime": ("σ'(x)", "#1f77b4", "dash"),
              "tanh": ("tanh(x)", "#d62728", "solid"), "tanh_prime": ("tanh'(x)", "#d62728", "dash")}
    for col, (name, color, dash) in styles.items():
        fig.add_trace(go.Scatter(x=frame["x"], y=frame[col], name=name, mode="lines",
                                 line={"color": color, "dash": dash}))
    fig.add_hline(y=SIGMOID_PRIME_MAX, line={"color": "grey", "dash": "dot"},
                  annotation_text="σ' ≤ 1/4", annotation_position="top left")
    if preactivation is not None:
        fig.add_vline(x=preactivation, line={"color": "black", "dash": "dot"}, annotation_text="a")
    return style(fig, "Activations and their derivatives", "pre-activation x", "value")


def step_factor(weight: float, preactivation: float, activation: str = "sigmoid") -> float:
    """One step's factor ``|w| · f'(a)`` of ``∂h_k/∂h_{k-1}`` for a scalar RNN ``h_k = f(w h_{k-1} + ...)``."""
    if activation not in ACTIVATION_PRIME:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATION_PRIME)}")
    return abs(weight) * float(ACTIVATION_PRIME[activation](preactivation))


def gradient_product_frame(weight: float, preactivation: float, steps: int,
                           activation: str = "sigmoid") -> pd.DataFrame:
    """``|∂h_T/∂h_{T-k}| = Π_{j=1..k} factor`` for ``k = 0..steps`` (the seed's eq. 6, scalar case).

    Columns: ``k`` (steps back), ``log10_<name>`` and ``<name>`` for ``name`` in ``chosen``
    (``|w| f'(a)``), ``sigmoid_bound`` (``|w| / 4``, the largest a sigmoid step can give) and
    ``tanh_bound`` (``|w|``). Products beyond float64's range are NaN; their logs stay exact.
    """
    if steps < 0:
        raise ValueError("steps must be non-negative")
    k = np.arange(steps + 1)
    factors = {"chosen": step_factor(weight, preactivation, activation),
               "sigmoid_bound": abs(weight) * SIGMOID_PRIME_MAX, "tanh_bound": abs(weight) * TANH_PRIME_MAX}
    data: dict[str, np.ndarray] = {"k": k}
    for name, f in factors.items():
        with np.errstate(divide="ignore"):
            log10 = k * np.log10(f) if f > 0 else np.where(k == 0, 0.0, -np.inf)
        data[f"log10_{name}"] = log10
        data[name] = np.where(np.abs(log10) <= _LOG10_RANGE, 10.0 ** np.clip(log10, -_LOG10_RANGE, _LOG10_RANGE),
                              np.nan)
    return pd.DataFrame(data)


def gradient_product_figure(frame: pd.DataFrame, activation: str = "sigmoid") -> go.Figure:
    """The products of :func:`gradient_product_frame` against ``k`` on a log axis."""
    f_name = "σ'" if activation == "sigmoid" else "tanh'"
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=frame["k"], y=frame["chosen"], name=f"(|w|·{f_name}(a))^k", mode="lines",
                             line={"color": "black", "width": 3}))
    fig.add_trace(go.Scatter(x=frame["k"], y=frame["sigmoid_bound"], name="σ bound (|w|/4)^k", mode="lines",
                             line={"color": "#1f77b4", "dash": "dash"}))
    fig.add_trace(go.Scatter(x=frame["k"], y=frame["tanh_bound"], name="tanh bound |w|^k", mode="lines",
                             line={"color": "#d62728", "dash": "dash"}))
    fig.add_hline(y=1.0, line={"color": "grey", "dash": "dot"})
    log_axis(fig, "y", values=frame[["chosen", "sigmoid_bound", "tanh_bound"]].to_numpy())
    integer_axis(fig, "x", frame["k"])
    return style(fig, "|∂h_T/∂h_{T-k}| = Π factors: vanishing below 1, exploding above",
                 "k = T - t (steps back)", "gradient factor product")


# ---- the unrolled RNN ---------------------------------------------------------------------------

def unrolled_rnn_frame(steps: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes ``(node, x, y)`` and edges ``(source, target, label)`` of an RNN unrolled over ``steps``."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    nodes = [("h_0", 0.0, 1.0)]
    edges = []
    for t in range(1, steps + 1):
        nodes += [(f"x_{t}", float(t), 0.0), (f"h_{t}", float(t), 1.0)]
        edges += [(f"x_{t}", f"h_{t}", "W"), (f"h_{t - 1}", f"h_{t}", "U")]
    nodes.append(("y", float(steps), 2.0))
    edges.append((f"h_{steps}", "y", "V"))
    return (pd.DataFrame(nodes, columns=["node", "x", "y"]),
            pd.DataFrame(edges, columns=["source", "target", "label"]))


def unrolled_rnn_figure(nodes: pd.DataFrame, edges: pd.DataFrame) -> go.Figure:
    """The unrolled chain ``x_t -> h_t -> ... -> y`` drawn with arrows; weights shared across steps."""
    pos = {r.node: (r.x, r.y) for r in nodes.itertuples()}
    fig = go.Figure()
    for e in edges.itertuples():
        (x0, y0), (x1, y1) = pos[e.source], pos[e.target]
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                           showarrow=True, arrowhead=2, arrowsize=1.2, standoff=18, startstandoff=18)
        fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=e.label, showarrow=False,
                           xshift=-10 if x0 == x1 else 0, yshift=10 if y0 == y1 else 0, font={"color": "grey"})
    kind = nodes["node"].str[0].map({"x": "#2ca02c", "h": "#1f77b4", "y": "#ff7f0e"})
    labels = [f"{n[0]}<sub>{n[2:]}</sub>" if "_" in n else n for n in nodes["node"]]
    fig.add_trace(go.Scatter(x=nodes["x"], y=nodes["y"], mode="markers+text", text=labels, hoverinfo="text",
                             marker={"size": 34, "color": kind, "line": {"color": "white", "width": 2}},
                             textfont={"color": "white", "size": 14}, showlegend=False))
    fig.update_xaxes(visible=False, range=[-0.5, nodes["x"].max() + 0.5])
    fig.update_yaxes(visible=False, range=[-0.5, 2.5])
    style(fig, "Unrolled RNN: the same W, U at every step; gradients flow back along the h chain", height=320)
    fig.update_layout(plot_bgcolor="rgba(0,0,0,0)")
    return fig


# ---- parameter counts ---------------------------------------------------------------------------

def param_count_frame(n: int, m: int, layers: int = 1, bidirectional: bool = False) -> pd.DataFrame:
    """Recurrent parameter counts per cell: the seed's formula, PyTorch's formula and the real model.

    ``n`` input (embedding) size, ``m`` hidden size. The actual count comes from
    :func:`core.models.rnn.param_counts` on the model the project builds, so it cannot drift from it.
    """
    rows = []
    for cell in ("rnn", "gru", "lstm", *MODERN_CELLS):
        g = cell_def(cell).blocks
        counts = param_counts(ModelConfig(cell=cell, vocab_size=2, embedding_dim=n, hidden_size=m,
                                          num_layers=layers, bidirectional=bidirectional))
        prefix = "" if g == 1 else str(g)
        own = MODERN_FORMULAS.get(cell)  # a modern cell: no seed counterpart, both formulas are its own
        rows.append({"cell": CELL_NAMES[cell], "gate_blocks": g,
                     "seed_formula_1_layer": own or f"{prefix}(n+m+1)m",
                     "seed_formula": counts["recurrent_seed_formula"],
                     "pytorch_formula_1_layer": own or f"{prefix}(n+m+2)m",
                     "pytorch_formula": counts["recurrent_pytorch_formula"],
                     "pytorch_actual": counts["recurrent_pytorch"],
                     "extra_bias_params": counts["recurrent_pytorch"] - counts["recurrent_seed_formula"]})
    return pd.DataFrame(rows)


def param_count_figure(frame: pd.DataFrame) -> go.Figure:
    """Grouped bars: the seed's formula against PyTorch's actual count per cell."""
    fig = go.Figure([go.Bar(x=frame["cell"], y=frame["seed_formula"], name="by formula (the seed's: G(n+m+1)m)"),
                     go.Bar(x=frame["cell"], y=frame["pytorch_actual"], name="counted in the module built")])
    fig.update_layout(barmode="group")
    return style(fig, "Recurrent parameters", None, "parameters")


# ---- the Markov chain ---------------------------------------------------------------------------

def markov_frame(history: np.ndarray, states: list[str]) -> pd.DataFrame:
    """Long frame ``(step, state, probability)`` from a ``(steps + 1, n)`` history of distributions."""
    wide = pd.DataFrame(np.asarray(history), columns=states)
    wide.insert(0, "step", np.arange(len(wide)))
    return wide.melt(id_vars="step", var_name="state", value_name="probability")


def markov_figure(frame: pd.DataFrame, reference: np.ndarray | None = None,
                  reference_name: str = "stationary π") -> go.Figure:
    """π_t per state over the steps; ``reference`` (one value per state) as dashed lines of the same colour."""
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    fig = go.Figure()
    states = list(dict.fromkeys(frame["state"]))
    last = int(frame["step"].max())
    for i, s in enumerate(states):
        color = palette[i % len(palette)]
        part = frame[frame["state"] == s]
        fig.add_trace(go.Scatter(x=part["step"], y=part["probability"], name=f"π_t({s})", mode="lines+markers",
                                 line={"color": color}, marker={"size": 5}))
        if reference is not None:
            fig.add_trace(go.Scatter(x=[0, last], y=[reference[i]] * 2, name=f"{reference_name}({s})",
                                     mode="lines", line={"color": color, "dash": "dash"}))
    fig.update_yaxes(range=[-0.02, 1.02])
    integer_axis(fig, "x", frame["step"])
    return style(fig, "State distribution π_{t+1} = π_t P", "step t", "probability")


def chain_verdict(structure: ChainStructure, states: list[str]) -> tuple[str, str]:
    """``(level, message)`` saying whether π_t has a unique limit; level is ``success``, ``warning`` or ``info``."""
    def names(cls: tuple[int, ...]) -> str:
        return "{" + ", ".join(states[i] for i in cls) + "}"

    closed = structure.closed_classes
    if structure.converges_from_any_start:
        kind = "irreducible and aperiodic" if structure.irreducible else \
            f"one closed class {names(closed[0])}, aperiodic (the other states are transient)"
        return "success", f"The chain is {kind}: π_t converges to the unique stationary π from any start."
    if structure.unique_stationary:
        d = dict(zip(structure.classes, structure.periods, strict=True))[closed[0]]
        return "warning", (f"The closed class {names(closed[0])} has period {d}: π = π P has a unique solution, "
                           "but π_t cycles instead of converging (unless it starts at π). The dashed lines show π, "
                           "the time average of π_t.")
    listed = ", ".join(names(c) for c in closed)
    return "warning", (f"The chain is reducible with {len(closed)} closed classes ({listed}): π = π P has no unique "
                       "solution and the long run depends on where the chain starts. The dashed lines show the "
                       "time-averaged limit from this initial distribution.")
