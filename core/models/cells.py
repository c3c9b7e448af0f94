"""Recurrent cells: the tanh RNN, the LSTM and the GRU, each defined once, as PyTorch computes them.

A :class:`Cell` holds what every user of a cell needs to know about it:

* its equations, :attr:`Cell.pointwise`: the element-wise part of one step, given the two matrix
  products every PyTorch cell starts from, ``wx = W_ih x_t + b_ih`` and ``uh = W_hh h_{t-1} + b_hh``
  (``(N, G*H)`` each: ``G`` gate blocks in PyTorch's order, LSTM ``(i, f, g, o)``, GRU ``(r, z, n)``).
  :meth:`Cell.step` adds the products: ``(x_t, state, w_ih, w_hh, b_ih, b_hh) -> (new_state, gates)``;
* the names of its gates, in the order the transparent path records them, and its ``G`` blocks;
* its state: ``h`` alone, ``(N, H)``, or a tuple whose first part is ``h`` (LSTM ``(h, c)``); the
  names those parts are recorded under (:attr:`Cell.state_names`), the zero state, and a flat
  ``(N, S)`` form (:meth:`Cell.flatten`, :meth:`Cell.split`; LSTM ``[h, c]``, ``S = 2H``);
* the fused module that holds its weights and runs the fast path (``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``).

A step is element-wise once ``wx`` and ``uh`` are known: unit ``j`` of the new state reads only unit
``j`` of every block of ``wx``, ``uh`` and the old state. So its partial derivatives are ``(N, H)``
arrays, which :meth:`Cell.local_derivatives` computes for many steps at once by autograd. Gradient
recording and introspection build on them, and on the state layout, without per-cell code. Two
contracts every cell here meets and those users rely on (``tests/test_cells.py`` checks both):
the step is element-wise as above, and the state parts after ``h`` (the LSTM's ``c``) enter it
only element-wise and affinely, with coefficients that do not depend on them
(``c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t``): that lets introspection rebuild ``c`` from the fused ``h``.

Registry: :data:`CELLS_BY_NAME` and :func:`cell_def`; its names are :data:`core.config.CELLS`.

Not here: the model around the cells (:mod:`core.models.rnn`), what is recorded from them
(:mod:`core.analysis.gradients`, :mod:`core.analysis.introspect`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# h for one-part states (RNN, GRU), (h, c, ...) otherwise; each (N, H)
State = Tensor | tuple[Tensor, ...]
# (wx (N, G*H), uh (N, G*H), state) -> (new_state, gates): one step after the two matrix products
Pointwise = Callable[[Tensor, Tensor, State], tuple[State, dict[str, Tensor]]]


@dataclass(frozen=True)
class StepDerivatives:
    """One step at ``N`` points (rows) at once: its value and its element-wise partial derivatives.

    ``K`` state parts (``h`` first), ``G`` gate blocks, ``H`` units. Entry ``[n, k, ..., j]`` is
    the derivative of unit ``j`` of new part ``k`` with respect to unit ``j`` of an input.
    """

    state: tuple[Tensor, ...]  # K new parts, each (N, H)
    gates: dict[str, Tensor]  # each (N, H)
    wx: Tensor  # (N, K, G, H): d new part k / d wx, block by block
    uh: Tensor  # (N, K, G, H): d new part k / d uh
    prev: Tensor  # (N, K, K, H): d new part k / d old part k'


@dataclass(frozen=True)
class Cell:
    """One recurrent cell type. See the module docstring for the contracts ``pointwise`` meets."""

    name: str
    blocks: int  # G: stacked gate blocks in W_ih / W_hh, (G*H, .)
    gates: tuple[str, ...]  # gate names, in the order the step returns them
    pointwise: Pointwise
    fused: Callable[..., nn.RNNBase]  # (input_size, hidden_size, **kwargs) -> the module holding the weights
    state_names: tuple[str, ...] = ("hidden",)  # the state's parts as recorded; h first

    def __post_init__(self) -> None:
        if self.blocks < 1 or not self.state_names or self.state_names[0] != "hidden":
            raise ValueError(f"cell {self.name!r}: needs >= 1 gate block and a state whose first part is 'hidden'")

    @property
    def recorded(self) -> tuple[str, ...]:
        """What the transparent path records per step, in order: the gates, the other state parts, ``hidden``."""
        return (*self.gates, *self.state_names[1:], "hidden")

    # ------------------------------------------------------------------ the step

    def step(self, x_t: Tensor, state: State, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor
             ) -> tuple[State, dict[str, Tensor]]:
        """One step: ``x_t`` (N, n), ``state`` parts (N, H), ``w_ih`` (G*H, n), ``w_hh`` (G*H, H), biases (G*H,)."""
        return self.recur(F.linear(x_t, w_ih, b_ih), state, w_hh, b_hh)

    def recur(self, wx: Tensor, state: State, w_hh: Tensor, b_hh: Tensor) -> tuple[State, dict[str, Tensor]]:
        """One step from the input projection ``wx = W_ih x_t + b_ih`` (N, G*H), computed ahead for all steps."""
        return self.pointwise(wx, F.linear(self.hidden(state), w_hh, b_hh), state)

    def local_derivatives(self, wx: Tensor, uh: Tensor, state: State) -> StepDerivatives:
        """The step at ``N`` points and its element-wise partials (one backward pass per state part).

        Exact because the step is element-wise: with a cotangent of ones on new part ``k``, the
        gradient reaching unit ``j`` of an input is the derivative of unit ``j`` of part ``k`` alone.
        """
        with torch.enable_grad():
            inputs = [wx.detach().requires_grad_(True), uh.detach().requires_grad_(True),
                      *(p.detach().requires_grad_(True) for p in self.parts(state))]
            new, gates = self.pointwise(inputs[0], inputs[1], self.join(inputs[2:]))
            new = self.parts(new)
            rows = []  # rows[k]: d new part k / d (wx, uh, old parts...)
            for part in new:
                grads = torch.autograd.grad(part, inputs, torch.ones_like(part), retain_graph=True,
                                            allow_unused=True) if part.requires_grad else [None] * len(inputs)
                rows.append([torch.zeros_like(a) if g is None else g for g, a in zip(grads, inputs, strict=True)])
        n, hidden = wx.shape[0], self.hidden(state).shape[-1]
        by_block = (n, len(new), self.blocks, hidden)
        return StepDerivatives(
            state=tuple(p.detach() for p in new), gates={k: v.detach() for k, v in gates.items()},
            wx=torch.stack([r[0] for r in rows], dim=1).view(by_block),
            uh=torch.stack([r[1] for r in rows], dim=1).view(by_block),
            prev=torch.stack([torch.stack(r[2:], dim=1) for r in rows], dim=1))

    # ------------------------------------------------------------------ the state

    def parts(self, state: State) -> tuple[Tensor, ...]:
        """The state as a tuple of its parts, ``h`` first."""
        return state if isinstance(state, tuple) else (state,)

    def join(self, parts: Sequence[Tensor]) -> State:
        """The inverse of :meth:`parts`: ``h`` alone for a one-part state, else a tuple."""
        return parts[0] if len(self.state_names) == 1 else tuple(parts)

    def hidden(self, state: State) -> Tensor:
        return self.parts(state)[0]

    def with_hidden(self, state: State, h: Tensor) -> State:
        """``state`` with ``h`` replaced (the transparent path's state hook)."""
        return self.join((h, *self.parts(state)[1:]))

    def zero_state(self, zero: Tensor) -> State:
        """The initial state, every part ``zero`` (N, H)."""
        return self.join((zero,) * len(self.state_names))

    def flatten(self, state: State) -> Tensor:
        """``(N, S)``: the parts side by side (LSTM ``[h, c]``); ``h`` itself for a one-part state."""
        parts = self.parts(state)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def split(self, flat: Tensor) -> State:
        """The inverse of :meth:`flatten`."""
        return self.join(flat.chunk(len(self.state_names), dim=-1))


# ---------------------------------------------------------------------------------- the equations
# σ the logistic function, ⊙ element-wise; W input, U recurrent weights. Every bias b_* is PyTorch's
# b_i* + b_h*: two vectors, one inside wx and one inside uh.

def _rnn(wx: Tensor, uh: Tensor, h: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Vanilla RNN (seed eq. 62), ``h_t = tanh(W x_t + U h_{t-1} + b)``."""
    return torch.tanh(wx + uh), {}  # (N, H)


def _lstm(wx: Tensor, uh: Tensor, state: tuple[Tensor, Tensor]) -> tuple[tuple[Tensor, Tensor], dict[str, Tensor]]:
    """LSTM (seed eq. 66-71). The gates read ``h_{t-1}`` only (through ``uh``), never ``c_{t-1}``."""
    _, c = state  # (N, H)
    a_i, a_f, a_g, a_o = (wx + uh).chunk(4, dim=-1)  # (N, H) each, PyTorch's order (i, f, g, o)
    i = torch.sigmoid(a_i)  # input gate   i_t = σ(W_i x_t + U_i h_{t-1} + b_i)
    f = torch.sigmoid(a_f)  # forget gate  f_t = σ(W_f x_t + U_f h_{t-1} + b_f)
    o = torch.sigmoid(a_o)  # output gate  o_t = σ(W_o x_t + U_o h_{t-1} + b_o)
    g = torch.tanh(a_g)  # candidate       g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)
    c = f * c + i * g  # cell              c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h = o * torch.tanh(c)  # hidden        h_t = o_t ⊙ tanh(c_t)
    return (h, c), {"input_gate": i, "forget_gate": f, "output_gate": o, "candidate": g}


def _gru(wx: Tensor, uh: Tensor, h: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """GRU (seed eq. 75-78), as PyTorch (cuDNN's variant) computes it.

    Two notes. (1) The seed's eq. 77 resets the state *before* the product, ``U_n (r_t ⊙ h_{t-1})``;
    PyTorch resets *after* it, ``r_t ⊙ (U_n h_{t-1} + b_hn)``. We follow PyTorch so the fused and
    transparent paths share one set of weights; the two are different functions, not a
    reparametrisation. (2) The seed's eq. 37 and eq. 78 use opposite update-gate conventions. We
    (PyTorch) use eq. 78's: ``z_t`` multiplies the *old* state, so ``z_t -> 1`` keeps the memory and
    ``z_t -> 0`` overwrites it with ``n_t``; eq. 37's ``h_t = z_t ⊙ n_t + (1 - z_t) ⊙ h_{t-1}`` is
    the same model with ``z`` replaced by ``1 - z``.
    """
    x_r, x_z, x_n = wx.chunk(3, dim=-1)  # (N, H) each, order (r, z, n); W x_t + b_i*
    h_r, h_z, h_n = uh.chunk(3, dim=-1)  # U h_{t-1} + b_h*
    r = torch.sigmoid(x_r + h_r)  # reset gate   r_t = σ(W_r x_t + U_r h_{t-1} + b_r)
    z = torch.sigmoid(x_z + h_z)  # update gate  z_t = σ(W_z x_t + U_z h_{t-1} + b_z)
    n = torch.tanh(x_n + r * h_n)  # candidate   n_t = tanh(W_n x_t + b_in + r_t ⊙ (U_n h_{t-1} + b_hn))
    h = (1 - z) * n + z * h  # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}: z keeps the old state
    return h, {"reset_gate": r, "update_gate": z, "candidate": n}


RNN = Cell("rnn", blocks=1, gates=(), pointwise=_rnn, fused=partial(nn.RNN, nonlinearity="tanh"))
LSTM = Cell("lstm", blocks=4, gates=("input_gate", "forget_gate", "output_gate", "candidate"), pointwise=_lstm,
            fused=nn.LSTM, state_names=("hidden", "cell"))
GRU = Cell("gru", blocks=3, gates=("reset_gate", "update_gate", "candidate"), pointwise=_gru, fused=nn.GRU)

CELLS_BY_NAME: dict[str, Cell] = {c.name: c for c in (RNN, LSTM, GRU)}


def cell_def(name: str) -> Cell:
    """The cell called ``name``; ValueError for an unknown one."""
    try:
        return CELLS_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown cell type {name!r}; expected one of {tuple(CELLS_BY_NAME)}") from None
