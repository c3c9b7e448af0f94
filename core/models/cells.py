"""Recurrent cells, each defined once: the classic tanh RNN, LSTM and GRU, and the modern minGRU, minLSTM and LRU.

A cell definition holds what every user of a cell needs to know about it, so that
:class:`~core.models.rnn.SentimentRNN`, gradient recording and introspection run any cell with no
branch on its name. Two kinds, with one set of hooks:

* :class:`Cell`, the classic cells, as PyTorch computes them: the layer module is PyTorch's own
  fused ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (cuDNN / oneDNN kernels, packed sequences), and one step
  is :attr:`Cell.pointwise` after two matrix products;
* :class:`ScanCell`, the modern cells of :mod:`core.models.recurrences` (minGRU, minLSTM, LRU): the
  layer module is a :class:`ScanStack` of those layers, run over a batch by their parallel scan and
  step by step by their step form, over the same parameters.

The hooks (``pytorch_rnn`` says which kind; :class:`~core.models.rnn.SentimentRNN` keeps the fused
modules' own strategies -- packing, directions run apart, per-block spectral radius -- for ``True``):

* :meth:`~Cell.build` ``(input_size, hidden_size, num_layers, bidirectional, dropout)`` -> the layer
  module (``SentimentRNN.rnn``), every layer and direction;
* :meth:`~Cell.run` ``(module, x (B, T, n), mask (B, T) | None, tbptt)`` -> ``(B, T, D*H)``: every step's
  output of the last layer (the fused / scan path); ``mask`` False steps carry the state;
* the transparent path, one step at a time: :meth:`~Cell.project` (the part of a step that reads only
  ``x_t``, computed for all steps at once), :meth:`~Cell.step_params` (what a step reads besides, per layer
  and direction) and :meth:`~Cell.recur` ``(projected x_t, state, *params) -> (new_state, gates)``;
* the state: ``h`` alone, ``(N, H)``, or a tuple whose first part is ``h``, each ``(N, H)`` (LSTM
  ``(h, c)``, LRU ``(y, Re x, Im x)``); the names those parts are recorded under
  (:attr:`~Cell.state_names`), the zero state, and a flat ``(N, S)`` form (:meth:`~Cell.flatten`,
  :meth:`~Cell.split`; LSTM ``[h, c]``, ``S = 2H``); :attr:`~Cell.recorded`, what the transparent path records;
* counts: :meth:`~Cell.param_shapes` (the module's tensors, from the sizes alone, for checking a
  checkpoint) and :meth:`~Cell.layer_params` (one layer and direction's count by formula);
* :attr:`~Cell.elementwise`: whether the state parts after ``h`` reach the next step element-wise (see below);
* :meth:`~Cell.eigenvalues`: the state matrix's eigenvalues where they are parameters (the LRU's), else None;
* :attr:`~Cell.memory`: the state parts that carry the cell's memory from step to step, whose total gradient
  ``||dL/dh_t||`` the gradient recorder measures: ``h`` itself, but for the LRU its complex state ``x`` (its output
  ``y_t`` feeds no later step, so the gradient reaching it says nothing about time).

Classic cells: a step is element-wise once ``wx = W_ih x_t + b_ih`` and ``uh = W_hh h_{t-1} + b_hh``
(``(N, G*H)`` each: ``G`` gate blocks in PyTorch's order, LSTM ``(i, f, g, o)``, GRU ``(r, z, n)``) are
known: unit ``j`` of the new state reads only unit ``j`` of every block of ``wx``, ``uh`` and the old
state. So its partial derivatives are ``(N, H)`` arrays, which :meth:`Cell.local_derivatives` computes
for many steps at once by autograd; introspection's fast route builds on them. Two contracts every
classic cell meets (``tests/test_cells.py`` checks both): the step is element-wise as above, and the
state parts after ``h`` (the LSTM's ``c``) enter it only element-wise and affinely, with coefficients
that do not depend on them (``c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t``): that lets introspection rebuild ``c``
from the fused ``h``.

Modern cells: the gates read ``x_t`` only, so the state follows a linear recurrence a scan solves (see
:mod:`core.models.recurrences`). minGRU and minLSTM have the state ``h`` alone (their output). The LRU's
recurrent state is complex and its output ``y_t = GELU(Re(C x_t) + D u_t)`` is not its state, so its cell
state is ``(y, Re x, Im x)``: ``y`` first (the ``hidden`` the next layer, the read-out and the transparent
path's hook see, carried at padding steps as the layer carries it) and the complex state as two real parts
(``state_real``, ``state_imag``, ``(N, H)`` each: the cells here keep the LRU's state size at ``H``). ``y_{t-1}``
itself feeds nothing, and ``y_t`` reads the state through the dense ``C``: the LRU is not element-wise.

Registry: :data:`CELLS_BY_NAME` and :func:`cell_def`; its names are :data:`core.config.CELLS`.

Not here: the model around the cells (:mod:`core.models.rnn`), the modern layers' equations and scans
(:mod:`core.models.recurrences`), what is recorded from them (:mod:`core.analysis.gradients`,
:mod:`core.analysis.introspect`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.core.models import cpu_kernel
from rnnlab.core.models.recurrences import LRU as LRULayer
from rnnlab.core.models.recurrences import MinGRU as MinGRULayer
from rnnlab.core.models.recurrences import MinLSTM as MinLSTMLayer
from rnnlab.core.models.recurrences import _Recurrence

# h for one-part states (RNN, GRU, minGRU, minLSTM), (h, c, ...) otherwise; each (N, H)
State = Tensor | tuple[Tensor, ...]
# (wx (N, G*H), uh (N, G*H), state) -> (new_state, gates): one step after the two matrix products
Pointwise = Callable[[Tensor, Tensor, State], tuple[State, dict[str, Tensor]]]


def _detach(state: State) -> State:
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def suffix(layer: int, direction: int) -> str:
    """PyTorch's name of one layer and direction: ``l0``, ``l0_reverse``, ..."""
    return f"l{layer}" + ("_reverse" if direction else "")


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


class _StateLayout:
    """The state's layout, shared by both kinds of cell: needs ``gates`` and ``state_names``."""

    gates: tuple[str, ...]
    state_names: tuple[str, ...]

    @property
    def recorded(self) -> tuple[str, ...]:
        """What the transparent path records per step, in order: the gates, the other state parts, ``hidden``."""
        return (*self.gates, *self.state_names[1:], "hidden")

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

    def _check_state_names(self, name: str) -> None:
        if not self.state_names or self.state_names[0] != "hidden":
            raise ValueError(f"cell {name!r}: needs a state whose first part is 'hidden'")


@dataclass(frozen=True)
class Cell(_StateLayout):
    """One classic recurrent cell type, held by PyTorch's fused module. See the module docstring for its contracts."""

    name: str
    blocks: int  # G: stacked gate blocks in W_ih / W_hh, (G*H, .)
    gates: tuple[str, ...]  # gate names, in the order the step returns them
    pointwise: Pointwise
    fused: Callable[..., nn.RNNBase]  # (input_size, hidden_size, **kwargs) -> the module holding the weights
    state_names: tuple[str, ...] = ("hidden",)  # the state's parts as recorded; h first
    memory: tuple[str, ...] = ("hidden",)  # the parts whose gradient through time is recorded as "dh" (below)

    # the layer module is nn.RNN / nn.LSTM / nn.GRU: packed sequences, weight_ih_l{k}..., W_hh per gate block
    pytorch_rnn: ClassVar[bool] = True
    # the state parts after h enter a step element-wise (the contract above)
    elementwise: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.blocks < 1:
            raise ValueError(f"cell {self.name!r}: needs >= 1 gate block")
        self._check_state_names(self.name)

    # ------------------------------------------------------------------ the module

    def build(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
              dropout: float = 0.0) -> nn.RNNBase:
        """The fused module holding every layer and direction's weights (``batch_first``)."""
        return self.fused(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                          bidirectional=bidirectional,
                          dropout=dropout if num_layers > 1 else 0.0)  # nn.RNN warns on dropout with 1 layer

    def run(self, module: nn.RNNBase, x: Tensor, mask: Tensor | None = None, tbptt: int | None = None) -> Tensor:
        """Every step's output of the last layer, ``(B, T, D*H)``, from ``x`` ``(B, T, n)`` by the fused module.

        ``mask`` ``(B, T)``: end padding (True at each row's own steps, a prefix), run packed: the outputs at
        padding steps are zero. ``tbptt``: chunks of that many steps, the carried state detached between them
        (unidirectional only). :meth:`~core.models.rnn.SentimentRNN.encode` picks among faster strategies itself.
        """
        if mask is not None:
            lengths = mask.sum(1).cpu()
            out = module(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))[0]
            return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
        if tbptt is None:
            one_way = module.num_layers == 1 and not module.bidirectional and module.bias
            if one_way and cpu_kernel.preferred(module.mode, x, module.weight_hh_l0):  # the compiled CPU loop
                return cpu_kernel.recurrence(module.mode, x, *self.weights(module, 0, 0))
            return module(x)[0]
        state = None
        chunks = []
        for start in range(0, x.shape[1], tbptt):
            out, state = module(x[:, start:start + tbptt], state)
            chunks.append(out)
            state = _detach(state)  # the gradient stops at the chunk boundary
        return torch.cat(chunks, dim=1)  # (B, T, H)

    def weights(self, module: nn.RNNBase, layer: int, direction: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(W_ih (G*H, n), W_hh (G*H, H), b_ih (G*H,), b_hh (G*H,))`` of one layer and direction."""
        return tuple(getattr(module, f"{name}_{suffix(layer, direction)}")  # type: ignore[return-value]
                     for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def param_shapes(self, input_size: int, hidden_size: int, num_layers: int = 1,
                     bidirectional: bool = False) -> dict[str, tuple[int, ...]]:
        """The module's tensors by name (as in its ``state_dict``) and shape, from the sizes alone: per layer ``k``
        and direction ``weight_ih`` ``(G H, n_k)``, ``weight_hh`` ``(G H, H)``, ``bias_ih``/``bias_hh`` ``(G H,)``, with
        ``n_0 = input_size`` and ``n_k = D H`` above."""
        g, h, d = self.blocks, hidden_size, 2 if bidirectional else 1
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(num_layers):
            for direction in range(d):
                k = suffix(layer, direction)
                shapes[f"weight_ih_{k}"] = (g * h, input_size if layer == 0 else d * h)
                shapes[f"weight_hh_{k}"] = (g * h, h)
                shapes[f"bias_ih_{k}"] = (g * h,)
                shapes[f"bias_hh_{k}"] = (g * h,)
        return shapes

    def layer_params(self, input_size: int, hidden_size: int, biases: int = 2) -> int:
        """One layer and direction's parameters by formula: ``G (n + m + b) m``, ``b`` bias vectors per gate
        (PyTorch 2: ``b_ih`` and ``b_hh``; the seed's formula 1)."""
        return self.blocks * (input_size + hidden_size + biases) * hidden_size

    # ------------------------------------------------------------------ the step

    def project(self, module: nn.RNNBase, layer: int, direction: int, x: Tensor) -> Tensor:
        """``wx = W_ih x + b_ih``: ``(..., n)`` -> ``(..., G*H)``, all steps at once."""
        w_ih, _, b_ih, _ = self.weights(module, layer, direction)
        return F.linear(x, w_ih, b_ih)

    def step_params(self, module: nn.RNNBase, layer: int, direction: int) -> tuple[Tensor, Tensor]:
        """What :meth:`recur` reads besides ``wx`` and the state: ``(W_hh, b_hh)``."""
        _, w_hh, _, b_hh = self.weights(module, layer, direction)
        return w_hh, b_hh

    def step(self, x_t: Tensor, state: State, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor
             ) -> tuple[State, dict[str, Tensor]]:
        """One step: ``x_t`` (N, n), ``state`` parts (N, H), ``w_ih`` (G*H, n), ``w_hh`` (G*H, H), biases (G*H,)."""
        return self.recur(F.linear(x_t, w_ih, b_ih), state, w_hh, b_hh)

    def recur(self, wx: Tensor, state: State, w_hh: Tensor, b_hh: Tensor) -> tuple[State, dict[str, Tensor]]:
        """One step from the input projection ``wx = W_ih x_t + b_ih`` (N, G*H), computed ahead for all steps."""
        return self.pointwise(wx, F.linear(self.hidden(state), w_hh, b_hh), state)

    @torch.no_grad()
    def rescale_recurrent(self, module: nn.RNNBase, radius: float, num_layers: int, directions: int) -> None:
        """Scale every ``H x H`` gate block ``U`` of every ``W_hh`` to spectral radius ``radius``:
        ``U * radius / max|eig(U)|``."""
        for layer in range(num_layers):
            for direction in range(directions):
                w_hh = self.weights(module, layer, direction)[1]
                for block in w_hh.chunk(self.blocks):  # (H, H) views
                    rho = torch.linalg.eigvals(block.double()).abs().max()
                    if rho > 0:
                        block.mul_((radius / rho).to(block.dtype))

    def reads_state(self, name: str) -> bool:
        """Whether the module's tensor ``name`` (``weight_hh_l0``, ...) acts on the state (``W_hh``, ``b_hh``) rather
        than on the input: the trainer's per-group gradient norms."""
        return "_hh" in name

    def eigenvalues(self, module: nn.RNNBase, layer: int, direction: int) -> Tensor | None:
        """None: a classic cell's step is nonlinear in its state, so no eigenvalues set its memory (its per-step
        Jacobians, recorded with the gradients, do)."""
        return None

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

    def step_jacobians(self, module: nn.RNNBase, layer: int, direction: int, x: Tensor, state: State) -> Tensor:
        """``(N, S, S)``: each step's Jacobian ``ds_t / ds_{t-1}`` of the flat state (:meth:`flatten`), in closed form.

        Rows are the new state's units, columns the old one's. The step is element-wise once ``uh = W_hh h + b_hh``
        is known (the contract above), so with :meth:`local_derivatives`' ``(N, H)`` partials: the block of new part
        ``k`` against the old ``h`` is ``sum_g diag(d new_k / d uh_g) U_g + diag(d new_k / d h)``, ``U_g`` the
        ``(H, H)`` block ``g`` of ``W_hh``; against an old part after ``h`` it is ``diag(d new_k / d part)``.
        ``x``: the layer's inputs ``(N, n)``; ``state``: the state each step starts from.
        """
        w_hh, b_hh = self.step_params(module, layer, direction)
        hidden = w_hh.shape[1]
        with torch.no_grad():
            wx = self.project(module, layer, direction, x)
            uh = F.linear(self.hidden(state), w_hh, b_hh)
        d = self.local_derivatives(wx, uh, state)  # uh: (N, K, G, H), prev: (N, K, K, H)
        n, parts = d.uh.shape[:2]
        jac = torch.diag_embed(d.prev)  # (N, K, K, H, H): [n, k, m, i, j] = d new_k[i] / d old_m[j]
        jac[:, :, 0] += torch.einsum("nkgi,gij->nkij", d.uh, w_hh.detach().view(self.blocks, hidden, hidden))
        return jac.permute(0, 1, 3, 2, 4).reshape(n, parts * hidden, parts * hidden)


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



# ---------------------------------------------------------------------------------- the modern cells

class ScanStack(nn.ModuleDict):
    """Every layer and direction of a modern cell, one :mod:`core.models.recurrences` layer each, under
    PyTorch's names: ``l0``, ``l0_reverse``, ``l1``, ... Layer ``k > 0`` reads the ``D*H`` outputs below it,
    with dropout ``dropout`` between layers as ``nn.LSTM`` applies it (read by the cell's :meth:`ScanCell.run`
    and by the transparent path)."""

    def __init__(self, layer: Callable[[int, int], _Recurrence], input_size: int, hidden_size: int,
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0):
        d = 2 if bidirectional else 1
        super().__init__({suffix(k, j): layer(input_size if k == 0 else d * hidden_size, hidden_size)
                          for k in range(num_layers) for j in range(d)})
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.dropout = bidirectional, dropout if num_layers > 1 else 0.0

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, dropout={self.dropout}")


def _output_is_state(parts: tuple[Tensor, ...]) -> Tensor:
    """minGRU, minLSTM: the layer's state is its output ``h``, the cell's only part."""
    return parts[0]


def _complex_state(parts: tuple[Tensor, ...]) -> Tensor:
    """LRU: the cell's parts ``(y, Re x, Im x)`` -> the layer's complex state ``x`` ``(N, H)``."""
    return torch.complex(parts[1], parts[2])


@dataclass(frozen=True)
class ScanCell(_StateLayout):
    """One modern cell type: a :mod:`core.models.recurrences` layer per layer and direction (:class:`ScanStack`),
    run by its parallel scan (:meth:`run`) and by its step form (:meth:`recur`) over the same parameters.

    The cell's state parts are the layer's output ``h`` (``hidden``) and then the layer's own per-step
    quantities named ``state_names[1:]`` (which its ``step`` and its scan's gates return);
    ``layer_state`` turns the parts back into the state the layer's ``step`` takes.
    """

    name: str
    gates: tuple[str, ...]  # the layer's gates the transparent path records, in the layer's order
    layer: Callable[[int, int], _Recurrence]  # (input_size, hidden_size) -> one layer and direction
    count: Callable[[int, int], int]  # (input_size n, hidden_size m) -> that layer's parameters, by formula
    blocks: int  # H-wide input projections a step computes (the classic cells' gate blocks): a cost measure
    state_names: tuple[str, ...] = ("hidden",)
    layer_state: Callable[[tuple[Tensor, ...]], Tensor] = _output_is_state
    elementwise: bool = True  # the parts after h enter a step element-wise (no parts after h: True)
    state_params: tuple[str, ...] = ()  # the layer's tensors that act on the state (the rest read the input)
    memory: tuple[str, ...] = ("hidden",)  # the parts whose gradient through time is recorded as "dh" (below)
    # (layer, memory (N, H) complex, x_t (N, n)) -> h_t: the output a step emits from its memory, for a cell whose
    # memory is not h (the LRU), so the recorder adds the gradient reaching the memory through that same step's h
    emit: Callable[[_Recurrence, Tensor, Tensor], Tensor] | None = None

    pytorch_rnn: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._check_state_names(self.name)

    # ------------------------------------------------------------------ the module

    def build(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
              dropout: float = 0.0) -> ScanStack:
        return ScanStack(self.layer, input_size, hidden_size, num_layers, bidirectional, dropout)

    def run(self, module: ScanStack, x: Tensor, mask: Tensor | None = None, tbptt: int | None = None) -> Tensor:
        """Every step's output of the last layer, ``(B, T, D*H)``, from ``x`` ``(B, T, n)`` by the layers' scans.

        ``mask`` ``(B, T)`` bool, True at each row's own steps: a False step carries the state and output
        (None: every step is read, as the fused modules do). A backward direction scans each row reversed in
        time, so with end padding it starts at the row's own last token and keeps its zero state through the
        padding, as the transparent path does. ``tbptt``: chunks of that many steps, the state carried between
        them detached (unidirectional only).
        """
        d = 2 if module.bidirectional else 1
        if tbptt is not None and d != 1:
            raise ValueError("truncated BPTT is only supported for unidirectional models")
        for layer in range(module.num_layers):
            if layer:  # between stacked layers, where nn.LSTM puts its dropout
                x = F.dropout(x, module.dropout, module.training)
            outs = [self._scan(module[suffix(layer, 0)], x, mask, tbptt)]
            if d == 2:
                back = None if mask is None else mask.flip(1)
                outs.append(self._scan(module[suffix(layer, 1)], x.flip(1), back, None).flip(1))
            x = torch.cat(outs, dim=-1)  # (B, T, D*H)
        return x

    def _scan(self, rec: _Recurrence, x: Tensor, mask: Tensor | None, tbptt: int | None) -> Tensor:
        """One layer and direction over ``x`` ``(B, T, n)`` -> ``(B, T, H)``."""
        if tbptt is None:
            return rec(x, mask)
        state, chunks = None, []
        for start in range(0, x.shape[1], tbptt):
            out, gates = rec(x[:, start:start + tbptt], None if mask is None else mask[:, start:start + tbptt],
                             initial=state, return_gates=True)
            chunks.append(out)
            last = (out[:, -1], *(gates[n][:, -1] for n in self.state_names[1:]))
            state = self.layer_state(last).detach()  # the gradient stops at the chunk boundary
        return torch.cat(chunks, dim=1)

    def param_shapes(self, input_size: int, hidden_size: int, num_layers: int = 1,
                     bidirectional: bool = False) -> dict[str, tuple[int, ...]]:
        """The module's tensors by name (as in its ``state_dict``: ``l0.linear_z.weight``, ...) and shape: the module
        built on the meta device, so nothing is allocated and no random number drawn."""
        with torch.device("meta"):
            module = self.build(input_size, hidden_size, num_layers, bidirectional)
        return {name: tuple(t.shape) for name, t in module.state_dict().items()}

    def layer_params(self, input_size: int, hidden_size: int, biases: int = 2) -> int:
        """One layer and direction's parameters by formula (:attr:`count`; ``biases`` is the classic cells' seed /
        PyTorch distinction, which a modern cell does not have)."""
        return self.count(input_size, hidden_size)

    @torch.no_grad()
    def rescale_recurrent(self, module: ScanStack, radius: float, num_layers: int, directions: int) -> None:
        raise ValueError(f"a {self.name} has no recurrent matrix W_hh to rescale: recurrent_init_radius is for the "
                         "classic cells")

    def reads_state(self, name: str) -> bool:
        """Whether the module's tensor ``name`` (``l0.nu_log``, ...) acts on the state: the LRU's ``λ`` (``ν``, ``θ``)
        and what reads the state out (``C``); its ``γ``, ``B``, ``D`` and every minGRU / minLSTM weight read the
        input alone (:attr:`state_params`)."""
        return name.rpartition(".")[2] in self.state_params

    def emitted(self, module: ScanStack, layer: int, direction: int, memory: Sequence[Tensor], x_t: Tensor) -> Tensor:
        """``h_t`` ``(N, H)`` as that layer and direction's step emits it from its memory parts (:attr:`memory`, each
        ``(N, H)``) and its input ``x_t`` ``(N, n)``: the LRU's ``GELU(Re(C x_t) + D u_t)``."""
        if self.emit is None:
            raise ValueError(f"a {self.name}'s memory is its output h itself")
        return self.emit(module[suffix(layer, direction)], self.layer_state((None, *memory)), x_t)

    def eigenvalues(self, module: ScanStack, layer: int, direction: int) -> Tensor | None:
        """The eigenvalues of that layer and direction's state matrix, complex ``(S,)``, where they are parameters
        (the LRU's ``λ``: their moduli set how long the state remembers, ``1 / (1 - |λ|)`` steps); None for a cell
        whose decay is computed from each input (minGRU, minLSTM)."""
        return module[suffix(layer, direction)].eigenvalues()

    # ------------------------------------------------------------------ the step

    def project(self, module: ScanStack, layer: int, direction: int, x: Tensor) -> Tensor:
        """The step reads ``x_t`` itself (its projections are the layer's own, inside :meth:`recur`)."""
        return x

    def step_params(self, module: ScanStack, layer: int, direction: int) -> tuple[_Recurrence]:
        """The layer of that layer and direction."""
        return (module[suffix(layer, direction)],)

    def recur(self, x_t: Tensor, state: State, rec: _Recurrence) -> tuple[State, dict[str, Tensor]]:
        """One step of the layer's step form: ``x_t`` ``(N, n)``, state parts ``(N, H)`` -> ``(new_state, gates)``."""
        _, out, gates = rec.step(x_t, self.layer_state(self.parts(state)))
        new = (out, *(gates[n] for n in self.state_names[1:]))
        return self.join(new), {k: gates[k] for k in self.gates}


MINGRU = ScanCell("mingru", gates=MinGRULayer.gate_names, layer=MinGRULayer, count=lambda n, m: 2 * (n + 1) * m,
                  blocks=2)
MINLSTM = ScanCell("minlstm", gates=MinLSTMLayer.gate_names, layer=MinLSTMLayer, count=lambda n, m: 3 * (n + 1) * m,
                   blocks=3)
# λ (ν, θ, γ: 3m), B (re, im: 2mn), C (re, im: 2m²), D (mn); the state size N is the hidden size m
LRU = ScanCell("lru", gates=(), layer=LRULayer, count=lambda n, m: 3 * m + 3 * m * n + 2 * m * m, blocks=3,
               state_names=("hidden", "state_real", "state_imag"), layer_state=_complex_state, elementwise=False,
               state_params=("nu_log", "theta_log", "C_re", "C_im"), memory=("state_real", "state_imag"),
               emit=lambda layer, state, u: layer.readout(state, u))

AnyCell = Cell | ScanCell
CELLS_BY_NAME: dict[str, AnyCell] = {c.name: c for c in (RNN, LSTM, GRU, MINGRU, MINLSTM, LRU)}


def cell_def(name: str) -> AnyCell:
    """The cell called ``name``; ValueError for an unknown one."""
    try:
        return CELLS_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown cell type {name!r}; expected one of {tuple(CELLS_BY_NAME)}") from None
