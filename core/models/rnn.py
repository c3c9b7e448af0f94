"""Sentiment classifiers: embedding -> recurrent layers (RNN, LSTM, GRU, minGRU, minLSTM, LRU) -> dropout -> linear,
in two execution paths.

:class:`SentimentRNN` owns one layer module that holds every recurrent weight, built by its cell's
definition (:mod:`core.models.cells`): PyTorch's fused ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` for the
classic cells, a :class:`~core.models.cells.ScanStack` of :mod:`core.models.recurrences` layers for the
modern ones. It runs it in two ways over the *same* parameters:

* :meth:`SentimentRNN.forward` -- the fast path, used for training and evaluation: the fused kernels
  (cuDNN / oneDNN) of a classic cell, the parallel scan of a modern one. Fixed-length front-padded
  batches (``lengths=None``) read the state at ``T-1``; end-padded, length-bucketed batches read each
  review's state at its own last token.
* :meth:`SentimentRNN.forward_transparent` -- a step-by-step Python loop over the cell's own
  equations (one definition per cell) that can return every gate and state at every step, or let a
  hook touch each step's hidden state (per-step gradients). Slow; for analysis only.

What the output layer reads (``cfg.readout``, :meth:`SentimentRNN.read_out`): the last layer's state at
the last token (``last``, the seed's), or the mean (``mean``), the maximum (``max``) or both side by side
(``mean_max``, twice the features) of its states over each review's own steps -- ``<pad>`` steps, at the
front (fixed batches) or at the end (bucketed ones), are left out. A bidirectional model pools both
directions' states at every step. With pooling every step reaches the loss directly, not only through
the recurrence from the last one.

The tests pin the two paths to the same logits and parameter gradients (float32: 1e-5 relative,
float64: 1e-10), for every read-out. Also here: :func:`param_counts` (PyTorch's counts against the
seed's formulas; a modern cell's against its own) and the spectral-radius initialisation of the recurrent
matrices (exploding-gradient demo).

Not here: the cells' equations (``core.models.cells``, ``core.models.recurrences``), training
(``core.training.trainer``), gradient recording (``core.analysis.gradients``), batching (``core.data.batching``),
loading pretrained embeddings.

Conventions. Token ids: 0 = ``<unk>``, 1 = ``<pad>`` (the embedding's ``padding_idx``: a zero
vector that never trains). ``B`` batch, ``T`` time, ``H`` hidden size, ``D`` directions (1 or 2),
``G`` gate blocks per classic cell (RNN 1, GRU 3, LSTM 4). PyTorch's stacked gate order is LSTM
``(i, f, g, o)`` and GRU ``(r, z, n)``. "Fused" below names the fast path of any cell, scan included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.core.config import READOUTS, ModelConfig
from rnnlab.core.data.text import PAD_ID
from rnnlab.core.models import cpu_kernel
from rnnlab.core.models.cells import State, _detach, cell_def

# Default of ``SentimentRNN.packed`` for unidirectional models on end-padded batches: run the fused
# module on the padded batch and gather at lengths-1 (False) or pack the batch (True).
# bench/bench_fused.py (2-core CPU, emb 100, hidden 50, batch 50, bucketed IMDB-like lengths, train step):
# padded-and-gather ran 1.3-2.8x faster than packing for every cell at 1 and 2 threads: on the CPU a
# padded batch goes to oneDNN's fused RNN kernel (aten::mkldnn_rnn_layer), a packed one to PyTorch's
# generic loop of one small matrix product per time step.
PACKED_DEFAULT = False

# (layer, direction, t, h_t) -> replacement for h_t; see SentimentRNN.forward_transparent
StateHook = Callable[[int, int, int, Tensor], Tensor]
# h for RNN/GRU/minGRU/minLSTM, (h, c) for LSTM, (y, Re x, Im x) for the LRU; each (B, H)
CellState = State


@dataclass
class TransparentOutput:
    """What :meth:`SentimentRNN.forward_transparent` returns.

    ``states[(layer, direction)]`` (direction 0 forward, 1 backward), only with ``return_states``:
    a dict of ``(B, T, H)`` tensors in the original time order for both directions, keyed by the
    cell's :attr:`~core.models.cells.Cell.recorded` names -- LSTM ``input_gate, forget_gate,
    output_gate, candidate, cell, hidden``; GRU ``reset_gate, update_gate, candidate, hidden``;
    RNN ``hidden``. ``hidden`` is the state after the hook.
    At padding positions (``mask`` False) the states are the carried ones (forward: the state at
    the last real token; backward: the zero initial state) and the gates are what the cell
    computed there but did not apply: mask them out before plotting.
    """

    logits: Tensor  # (B,) when output_size == 1 else (B, output_size)
    features: Tensor  # (B, D*H), mean_max (B, 2*D*H): the read-out, fed to dropout + linear
    outputs: Tensor  # (B, T, D*H): the last layer's hidden states (see running_logits)
    mask: Tensor | None = None  # (B, T) bool, True at real tokens; None without lengths
    states: dict[tuple[int, int], dict[str, Tensor]] | None = None


DENSE_MODES = ("LSTM", "GRU", "RNN_TANH", "RNN_RELU")  # the fused modules whose directions can run apart


def readout_blocks(readout: str) -> int:
    """How many ``D*H`` blocks of features a read-out gives the output layer: 2 for ``mean_max``, else 1."""
    if readout not in READOUTS:
        raise ValueError(f"unknown read-out {readout!r}; expected one of {READOUTS}")
    return 2 if readout == "mean_max" else 1


def pool(outputs: Tensor, mask: Tensor | None, readout: str) -> Tensor:
    """``(B, T, F)`` states -> ``(B, F)`` (``mean``, ``max``) or ``(B, 2F)`` (``mean_max``: the mean, then the max)
    over the steps where ``mask`` ``(B, T)`` is True (None: every step). A row without such a step pools to zeros."""
    m = torch.ones_like(outputs[..., :1], dtype=torch.bool) if mask is None else mask[..., None]  # (B, T, 1)
    count = m.sum(1)  # (B, 1) real steps
    parts = []
    if readout in ("mean", "mean_max"):
        parts.append((outputs * m).sum(1) / count.clamp(min=1))
    if readout in ("max", "mean_max"):  # -inf at padding so it never wins; amax spreads a tie's gradient
        parts.append(outputs.masked_fill(~m, float("-inf")).amax(1).masked_fill(count == 0, 0))
    return torch.cat(parts, dim=-1)


def running_pool(outputs: Tensor, mask: Tensor | None, readout: str) -> Tensor:
    """:func:`pool` of the steps up to each ``t``: ``(B, T, F)`` -> ``(B, T, F or 2F)``.

    Zeros before a row's first real step; step ``T-1`` equals :func:`pool` of the whole row.
    """
    m = torch.ones_like(outputs[..., :1], dtype=torch.bool) if mask is None else mask[..., None]  # (B, T, 1)
    count = m.cumsum(1)  # (B, T, 1) real steps so far
    parts = []
    if readout in ("mean", "mean_max"):
        parts.append((outputs * m).cumsum(1) / count.clamp(min=1))
    if readout in ("max", "mean_max"):
        parts.append(outputs.masked_fill(~m, float("-inf")).cummax(1).values.masked_fill(count == 0, 0))
    return torch.cat(parts, dim=-1)


def _as_lengths(lengths: Tensor | Sequence[int], batch: int, steps: int) -> Tensor:
    """Validated (B,) int64 lengths on the CPU (pack_padded_sequence wants them there anyway)."""
    lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()  # a sync point on GPU: one tiny copy
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
    lo, hi = (int(lengths.min()), int(lengths.max())) if batch else (1, steps)
    if lo < 1 or hi > steps:
        raise ValueError(f"lengths must lie in [1, {steps}], got [{lo}, {hi}]")
    return lengths


class SentimentRNN(nn.Module):
    """Embedding (or real-valued inputs) -> recurrent layer(s) -> dropout -> linear -> logits.

    Parameters
    ----------
    cfg : ModelConfig
        ``cell`` (``rnn`` tanh, ``lstm``, ``gru``; ``mingru``, ``minlstm``, ``lru``), sizes, ``num_layers``
        (stacked, with dropout ``cfg.dropout`` between layers as ``nn.LSTM`` applies it), ``bidirectional`` (features:
        the forward state at the last real token concatenated with the backward state after
        reading back to the first token, ``2H``), ``readout`` (``last`` as just said, or pooling
        over the own steps: see :meth:`read_out`), ``input_size`` (no embedding: inputs are
        ``(B, T, input_size)`` floats), ``recurrent_init_radius`` (see :meth:`rescale_recurrent`).

    Attributes
    ----------
    cell_def : core.models.cells.Cell or core.models.cells.ScanCell
        The cell's definition: it builds and runs ``rnn``, and gives its equations, gates and state layout
        to the transparent path.
    embedding : nn.Embedding or None
    rnn : nn.RNN | nn.LSTM | nn.GRU | core.models.cells.ScanStack
        Owns every recurrent weight. Classic cells: PyTorch's fused module (``batch_first=True``), whose
        ``weight_ih_l{k}[_reverse]``, ``weight_hh_l...``, ``bias_ih_l...``, ``bias_hh_l...`` the transparent
        path reads; modern cells: one layer per layer and direction, ``rnn.l{k}[_reverse]``.
    fc : nn.Linear
    packed : bool
        Classic cells, unidirectional models on end-padded batches: pack the batch (True) or run on the
        padded batch and gather at ``lengths - 1`` (False, :data:`PACKED_DEFAULT`). Bidirectional models
        start the backward direction at each review's own last token: one-layer classic ones on the CPU
        run each direction apart over the dense batch, the other classic ones pack, modern ones scan each
        row reversed within its length (see :meth:`encode`). Modern cells never pack.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cell_def = cell_def(cfg.cell)  # ValueError for an unknown name (a hand-built config may have one)
        self.cfg = cfg
        self.cell = cfg.cell
        self.hidden_size = cfg.hidden_size
        self.num_layers = cfg.num_layers
        self.num_directions = 2 if cfg.bidirectional else 1
        self.readout = cfg.readout
        if cfg.input_size is None:
            # <pad> is a zero vector that gets no gradient
            self.embedding: nn.Embedding | None = nn.Embedding(cfg.vocab_size, cfg.embedding_dim,
                                                               padding_idx=PAD_ID)
            n_in = cfg.embedding_dim
        else:
            self.embedding = None
            n_in = cfg.input_size
        # dropout between stacked layers only, as nn.LSTM applies it
        self.rnn = self.cell_def.build(n_in, cfg.hidden_size, cfg.num_layers, cfg.bidirectional, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(readout_blocks(cfg.readout) * self.num_directions * cfg.hidden_size, cfg.output_size)
        self.packed = PACKED_DEFAULT
        if cfg.recurrent_init_radius is not None:
            self.rescale_recurrent(cfg.recurrent_init_radius)

    # ------------------------------------------------------------------ parameters

    def weights(self, layer: int, direction: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(W_ih (G*H, n), W_hh (G*H, H), b_ih (G*H,), b_hh (G*H,))`` of one layer and direction (classic cells).

        ValueError for a modern cell: its weights are its layers' own (``self.rnn[suffix]``), with no ``W_hh``.
        """
        if not self.cell_def.pytorch_rnn:
            raise ValueError(f"a {self.cell} has no W_ih / W_hh: its layers are the modules self.rnn['l0'], ...")
        return self.cell_def.weights(self.rnn, layer, direction)

    @torch.no_grad()
    def rescale_recurrent(self, radius: float) -> None:
        """Scale every recurrent matrix to spectral radius ``radius``, **per gate block**.

        ``W_hh`` is ``(G*H, H)``: G square blocks, one per gate (LSTM i, f, g, o; GRU r, z, n; the
        RNN's single U). The stacked matrix is not square and has no spectral radius, so each
        ``H x H`` block ``U`` becomes ``U * radius / max|eig(U)|``, in every layer and direction.
        With a vanilla RNN a radius well above 1 makes gradients through time explode. A modern cell has
        no ``W_hh``: ValueError.
        """
        self.cell_def.rescale_recurrent(self.rnn, radius, self.num_layers, self.num_directions)

    # ------------------------------------------------------------------ fused path

    def embed(self, x: Tensor) -> Tensor:
        """Token ids ``(B, T)`` -> ``(B, T, E)`` (with ``cfg.embedding_dropout`` while training); real-valued
        inputs ``(B, T, input_size)`` pass through."""
        if self.embedding is None:
            if x.dim() != 3:
                raise ValueError(f"expected (B, T, input_size) float inputs, got shape {tuple(x.shape)}")
            return x
        if x.dim() != 2:
            raise ValueError(f"expected (B, T) token ids, got shape {tuple(x.shape)}")
        emb = self.embedding(x)
        # only when asked: a dropout of rate 0 would still be a call, and runs without it stay as they were
        if self.cfg.embedding_dropout > 0:
            emb = F.dropout(emb, self.cfg.embedding_dropout, self.training)
        return emb

    def head(self, features: Tensor) -> Tensor:
        """Dropout + linear on the read-out's features -> logits ``(B,)`` or ``(B, output_size)``."""
        logits = self.fc(self.drop(features))
        return logits.squeeze(-1) if self.cfg.output_size == 1 else logits

    def own_steps(self, x: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor | None:
        """``(B, T)`` bool, True at each review's own steps: before ``lengths`` (end padding), else not ``<pad>``
        (fixed batches' front padding); None for real-valued inputs without lengths (every step counts)."""
        steps = x.shape[1]
        if lengths is not None:
            lens = _as_lengths(lengths, x.shape[0], steps).to(x.device)
            return torch.arange(steps, device=x.device)[None, :] < lens[:, None]
        return x != PAD_ID if self.embedding is not None else None

    def read_out(self, outputs: Tensor, lengths: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """The features the output layer reads, from the last layer's states ``outputs`` ``(B, T, D*H)``.

        ``last``: the forward half at ``lengths - 1`` (None: at ``T - 1``) beside the backward half
        at position 0 -- ``(B, D*H)``. ``mean`` / ``max`` / ``mean_max``: :func:`pool` over the steps
        where ``mask`` (:meth:`own_steps`; broadcast over the batch) is True -- ``(B, D*H)``,
        ``mean_max`` ``(B, 2*D*H)``. ``outputs`` need only be right at the steps read.
        """
        if self.readout != "last":
            return pool(outputs, None if mask is None else mask.expand(outputs.shape[:2]), self.readout)
        h = self.hidden_size
        if lengths is None:
            fwd = outputs[:, -1, :h]
        else:
            rows = torch.arange(outputs.shape[0], device=outputs.device)
            fwd = outputs[rows, lengths.to(outputs.device) - 1, :h]
        return fwd if self.num_directions == 1 else torch.cat([fwd, outputs[:, 0, h:]], dim=-1)

    def running_logits(self, outputs: Tensor, mask: Tensor | None = None) -> Tensor:
        """The output layer (no dropout) applied at every step: ``(B, T, D*H)`` -> ``(B, T[, O])``.

        With ``outputs`` from :class:`TransparentOutput` and a unidirectional model, step ``t``
        gives the logit the classifier would output had the review ended at ``t`` (the running
        sentiment probability is its sigmoid): the state at ``t`` (``last``), or the pool of the
        states of the own steps up to ``t`` (``mask`` as in :meth:`read_out`; :func:`running_pool`).
        For bidirectional models the backward half at ``t`` has read the review's future, so the
        curve is not a running prediction.
        """
        if self.readout != "last":
            outputs = running_pool(outputs, None if mask is None else mask.expand(outputs.shape[:2]), self.readout)
        logits = self.fc(outputs)
        return logits.squeeze(-1) if self.cfg.output_size == 1 else logits

    def forward(self, x: Tensor, lengths: Tensor | Sequence[int] | None = None, *,
                packed: bool | None = None, tbptt: int | None = None) -> Tensor:
        """Logits via the fused module. See :meth:`encode` for the arguments."""
        return self.head(self.encode(x, lengths, packed=packed, tbptt=tbptt))

    def encode(self, x: Tensor, lengths: Tensor | Sequence[int] | None = None, *,
               packed: bool | None = None, tbptt: int | None = None) -> Tensor:
        """The read-out's features (before dropout) via the fused module: ``(B, D*H)``, ``mean_max`` ``(B, 2*D*H)``.

        Parameters
        ----------
        x : (B, T) token ids, or (B, T, input_size) floats
        lengths : (B,) real tokens per row, or None
            None: fixed-length (front-padded) batches; read position ``T-1`` (backward: position 0).
            Given: end-padded batches; read each row at ``lengths - 1``.
        packed : bool or None
            Unidirectional models with ``lengths``: pack the batch instead of gathering from the
            padded run (same values). None uses ``self.packed``. Bidirectional models with
            ``lengths`` pack, except one-layer ones on the CPU unless ``packed`` is True: there
            each direction runs over the dense batch (:meth:`_directions_apart`, same values,
            several times faster than a packed bidirectional run on a CPU).
        tbptt : int or None
            Truncated BPTT: run the fused module on chunks of ``tbptt`` steps and detach the
            carried state between chunks, so no gradient flows back further than the start of
            the chunk holding the step that is read. Unidirectional models only (ValueError).

        A pooling read-out (``cfg.readout`` not ``last``) needs the states of every step: the same
        runs, returning every step's output (a packed one unpacked), pooled by :meth:`read_out`.

        A modern cell (not ``cell_def.pytorch_rnn``) never packs (``packed`` is ignored): its scan runs over
        the padded batch, a backward direction over each row reversed within its length.
        """
        emb = self.embed(x)  # (B, T, n)
        batch, steps = emb.shape[:2]
        lens = None if lengths is None else _as_lengths(lengths, batch, steps)
        pooled = self.readout != "last"
        if tbptt is not None:
            out = self._run_tbptt(emb, tbptt)  # (B, T, H)
        elif (lens is not None and self.num_directions == 2 and self.num_layers == 1 and packed is not True
              and emb.device.type == "cpu" and getattr(self.rnn, "mode", None) in DENSE_MODES):
            out = self._directions_apart(emb, lens)  # (B, T, 2H)
        elif (lens is not None and self.cell_def.pytorch_rnn
              and (self.num_directions == 2 or (self.packed if packed is None else packed))):
            seq = pack_padded_sequence(emb, lens, batch_first=True, enforce_sorted=False)
            out_packed, h_n = self.rnn(seq)
            if pooled:  # every step's state, zero at the padding (which the pool leaves out)
                out = pad_packed_sequence(out_packed, batch_first=True, total_length=steps)[0]
            else:
                h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # LSTM: (h_n, c_n)
                # h_n: (L*D, B, H) in the batch's original order (unsorted by the module); the last
                # layer's forward state is at the last real token, its backward one after position 0
                return torch.cat(list(h_n[-self.num_directions:]), dim=-1)
        else:
            # forward states before a row's length never saw its end padding: only a backward direction needs the
            # mask (a classic cell gets here with end padding in one direction only)
            own = None if lens is None or self.num_directions == 1 else self.own_steps(x, lens)
            out = self.layer_outputs(emb, own)  # (B, T, D*H)
        # forward states at t < length never saw the end padding: each row is read at its last token;
        # a backward direction is read at 0 (front-padded: after the padding; end-padded: the runs above)
        return self.read_out(out, lens, self.own_steps(x, lens) if pooled else None)

    def _directions_apart(self, emb: Tensor, lens: Tensor) -> Tensor:
        """A one-layer bidirectional model's ``(B, T, 2H)`` states from end-padded rows, each direction run densely.

        Why: on a CPU a packed bidirectional run is several times slower than two dense one-way
        runs (measured: LSTM 5x, GRU 3x at hidden 50, batches of 50). The forward direction runs
        over the rows as they are (its states before each row's length never saw the padding); the
        backward direction runs, as a forward recurrence with the module's ``_reverse`` weights, over
        each row reversed within its length (padding left at the end), and its states are put back
        in the original order, so position 0 holds the state after reading back to the first token.
        The same values as packing at every real step (padding steps hold junk), with the same
        parameters, so checkpoints and every other path are untouched.
        """
        batch, steps, width = emb.shape
        at = torch.arange(steps)[None, :]
        n = lens[:, None]
        backwards = torch.where(at < n, n - 1 - at, at)  # (B, T): each row's real tokens in reverse order
        reversed_rows = emb.gather(1, backwards[..., None].expand(-1, -1, width))
        states = []
        h0 = emb.new_zeros(1, batch, self.hidden_size)
        mode = self.rnn.mode
        for direction, x in ((0, emb), (1, reversed_rows)):
            weights = list(self.weights(0, direction))
            if cpu_kernel.preferred(mode, x, weights[1]):
                out = cpu_kernel.recurrence(mode, x, *weights)
            elif mode == "LSTM":
                out = torch.lstm(x, (h0, h0), weights, True, 1, 0.0, self.training, False, True)[0]
            elif mode == "GRU":
                out = torch.gru(x, h0, weights, True, 1, 0.0, self.training, False, True)[0]
            else:
                run = torch.rnn_tanh if mode == "RNN_TANH" else torch.rnn_relu
                out = run(x, h0, weights, True, 1, 0.0, self.training, False, True)[0]
            # the reversal within each length is its own inverse: it puts the backward states back in order
            states.append(out if direction == 0 else out.gather(1, backwards[..., None].expand(-1, -1, out.shape[-1])))
        return torch.cat(states, dim=-1)

    def layer_outputs(self, emb: Tensor, mask: Tensor | None = None) -> Tensor:
        """Every step's output of the last layer, ``(B, T, D*H)``, from the inputs ``emb`` ``(B, T, n)`` by the
        fast path (the fused module, or the scan), every step read (``mask`` ``(B, T)``: end padding, carried)."""
        return self.cell_def.run(self.rnn, emb, mask)

    def _run_tbptt(self, emb: Tensor, tbptt: int) -> Tensor:
        if self.num_directions != 1:
            raise ValueError("truncated BPTT is only supported for unidirectional models")
        if tbptt < 1:
            raise ValueError(f"tbptt must be >= 1, got {tbptt}")
        return self.cell_def.run(self.rnn, emb, tbptt=tbptt)  # (B, T, H): chunks, the state detached between them

    # ------------------------------------------------------------------ transparent path

    def cell_step(self, layer: int, direction: int, x_t: Tensor, state: CellState
                  ) -> tuple[CellState, dict[str, Tensor]]:
        """One step of one layer and direction: ``(new_state, gates)``, as the fused module computes it.

        ``x_t`` is that layer's input ``(B, n)`` (the embedding for layer 0, else the previous
        layer's ``(B, D*H)`` output); ``state`` is ``h`` (RNN, GRU, minGRU, minLSTM), ``(h, c)``
        (LSTM) or ``(y, Re x, Im x)`` (LRU), each ``(B, H)``. ``gates``: ``self.cell_def.gates`` -- LSTM
        ``input_gate, forget_gate, output_gate, candidate``; GRU ``reset_gate, update_gate,
        candidate``; minGRU ``update_gate, candidate``; minLSTM ``forget_gate, input_gate,
        candidate``; RNN and LRU none. Differentiable in all arguments, so ``torch.func.jacrev`` of
        it gives the per-step Jacobian ``dh_t / dh_{t-1}``; it broadcasts over leading dimensions.
        """
        cell = self.cell_def
        return self._step(cell.project(self.rnn, layer, direction, x_t), state,
                          *cell.step_params(self.rnn, layer, direction))

    def step_jacobians(self, layer: int, direction: int, x_t: Tensor, state: CellState) -> Tensor | None:
        """``(N, S, S)``: the Jacobians ``ds_t / ds_{t-1}`` of :meth:`cell_step` at ``N`` points, in closed form
        (:meth:`~core.models.cells.Cell.step_jacobians`); None where there is none: a modern cell, or a subclass that
        replaces :meth:`_step` (its Jacobians are then autograd's, from :meth:`cell_step`)."""
        if not self.cell_def.pytorch_rnn or type(self)._step is not SentimentRNN._step:
            return None
        return self.cell_def.step_jacobians(self.rnn, layer, direction, x_t, state)

    def _step(self, wx: Tensor, state: CellState, *params: Any) -> tuple[CellState, dict[str, Tensor]]:
        """The cell's equations; ``wx`` the step's projected input (classic cells ``W x_t + b_i`` for all gate
        blocks, ``(B, G*H)``; modern ones ``x_t`` itself), ``params`` the cell's ``step_params`` (``W_hh, b_hh``).

        Both paths step through here (:meth:`cell_step` and :meth:`forward_transparent`), so a
        subclass can replace the cell in one place.
        """
        return self.cell_def.recur(wx, state, *params)

    def forward_transparent(self, x: Tensor, lengths: Tensor | Sequence[int] | None = None, *,
                            return_states: bool = False, state_hook: StateHook | None = None,
                            tbptt: int | None = None) -> TransparentOutput:
        """The same model as :meth:`forward`, one explicit step at a time.

        Equations (``σ`` the logistic function, ``⊙`` elementwise; ``W`` input, ``U`` recurrent),
        written out once in :mod:`core.models.cells` (with the GRU's two conventions):

        * RNN (seed eq. 62): ``h_t = tanh(W x_t + U h_{t-1} + b)``.
        * LSTM (eq. 66-71): ``i_t, f_t, o_t = σ(W_* x_t + U_* h_{t-1} + b_*)``, candidate
          ``g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)``, ``c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t``,
          ``h_t = o_t ⊙ tanh(c_t)``.
        * GRU (eq. 75-78): ``r_t, z_t = σ(W_* x_t + U_* h_{t-1} + b_*)``, candidate
          ``n_t = tanh(W_n x_t + b_in + r_t ⊙ (U_n h_{t-1} + b_hn))`` (PyTorch resets after the
          product, the seed's eq. 77 before it), ``h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}``.
        * minGRU, minLSTM, LRU: the step forms of :mod:`core.models.recurrences` (gates that read
          ``x_t`` only; the LRU's complex state carried as its real and imaginary parts).

        Parameters
        ----------
        x, lengths
            As in :meth:`encode`. Without ``lengths`` all ``T`` steps are processed, as the fused
            module does. With ``lengths`` (end-padded), steps ``t >= length`` are masked: the
            state is carried over unchanged, so the forward direction ends at the state of the
            last real token. The backward direction walks ``t = T-1 .. 0`` with the same mask, so
            it stays at its zero initial state through the padding and starts at each review's own
            last token -- the same computation as reversing each row within its length and
            running from ``h_0 = 0`` (which is what the packed fused path does), without moving
            any data, so ``t`` is always the original position.
        return_states
            Fill :attr:`TransparentOutput.states` with every gate and state at every step.
        state_hook
            ``(layer, direction, t, h_t) -> h_t'`` called on each step's new hidden state
            ``(B, H)``, **after** the padding mask is applied, before ``h_t`` is used by the next
            step, the next layer and the classifier; its return value replaces ``h_t``. Adding a
            zero leaf there and calling ``backward`` gives the total derivative ``dL/dh_t``.
            It is called at padding steps too (where ``h_t`` is the carried state); those
            states never reach the loss, so their gradients are zero.
        tbptt
            Detach the carried state before every step ``t`` that is a multiple of ``tbptt``
            (``t > 0``): the same cut as the fused path's chunks. Unidirectional models only.
        """
        if tbptt is not None and self.num_directions != 1:
            raise ValueError("truncated BPTT is only supported for unidirectional models")
        if tbptt is not None and tbptt < 1:
            raise ValueError(f"tbptt must be >= 1, got {tbptt}")
        emb = self.embed(x)  # (B, T, n)
        batch, steps = emb.shape[:2]
        mask = None
        if lengths is not None:
            lens = _as_lengths(lengths, batch, steps).to(emb.device)
            mask = torch.arange(steps, device=emb.device)[None, :] < lens[:, None]  # (B, T)
        states: dict[tuple[int, int], dict[str, Tensor]] | None = {} if return_states else None
        layer_input = emb
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                hidden, record = self._run_direction(layer, direction, layer_input, mask, state_hook, tbptt,
                                                     return_states)
                outs.append(hidden)
                if states is not None:
                    states[(layer, direction)] = record
            layer_output = torch.cat(outs, dim=-1)  # (B, T, D*H)
            if layer < self.num_layers - 1:
                # between stacked layers, exactly where nn.RNN/LSTM/GRU put their dropout
                layer_input = F.dropout(layer_output, self.rnn.dropout, self.training)
        # the read-out: mean / max pool every own step (front <pad> steps excluded), "last" reads as encode() does
        features = self.read_out(layer_output, None if mask is None else lens,
                                 mask if self.readout == "last" else self.own_steps(x, lengths))
        return TransparentOutput(logits=self.head(features), features=features, outputs=layer_output,
                                 mask=mask, states=states)

    def _run_direction(self, layer: int, direction: int, inputs: Tensor, mask: Tensor | None,
                       state_hook: StateHook | None, tbptt: int | None, record: bool
                       ) -> tuple[Tensor, dict[str, Tensor]]:
        """One layer and direction over all steps: hidden ``(B, T, H)`` and the recorded states."""
        cell = self.cell_def
        batch, steps = inputs.shape[:2]
        wx = cell.project(self.rnn, layer, direction, inputs)  # (B, T, G*H): what reads x_t alone, all steps at once
        params = cell.step_params(self.rnn, layer, direction)
        zero = wx.new_zeros(batch, self.hidden_size)
        state = cell.zero_state(zero)
        hidden: list[Tensor] = [zero] * steps
        rec: dict[str, list[Tensor]] = {}
        times = range(steps) if direction == 0 else range(steps - 1, -1, -1)
        for k, t in enumerate(times):
            if tbptt is not None and k > 0 and k % tbptt == 0:
                state = _detach(state)
            new, gates = self._step(wx[:, t], state, *params)
            if mask is not None:
                m = mask[:, t, None]  # (B, 1): padding steps carry the old state over
                new = cell.join([torch.where(m, a, b) for a, b in zip(cell.parts(new), cell.parts(state), strict=True)])
            h_t = cell.hidden(new)
            if state_hook is not None:
                h_t = state_hook(layer, direction, t, h_t)
                new = cell.with_hidden(new, h_t)
            state = new
            hidden[t] = h_t
            if record:  # in cell.recorded's order: the gates, the other state parts, hidden
                carried = zip(cell.state_names[1:], cell.parts(new)[1:], strict=True)
                for key, value in {**gates, **dict(carried), "hidden": h_t}.items():
                    rec.setdefault(key, [zero] * steps)[t] = value
        return torch.stack(hidden, dim=1), {key: torch.stack(v, dim=1) for key, v in rec.items()}


def param_counts(cfg: ModelConfig) -> dict[str, int]:
    """Parameter counts of the model ``cfg`` describes: actual, and by formula.

    Actual counts of a freshly built :class:`SentimentRNN`: ``embedding``, ``recurrent_pytorch``
    (the fused module), ``output`` (the linear layer) and ``total``. By formula:
    ``recurrent_seed_formula`` and ``recurrent_pytorch_formula``. For one unidirectional layer with input
    size ``n`` and hidden size ``m`` the seed counts ``G (n + m + 1) m`` (G = 4 LSTM, 3 GRU,
    1 RNN: a weight matrix per gate on the input and on the state, and one bias); PyTorch keeps
    two bias vectors per gate (``b_ih`` and ``b_hh``), so it has ``G (n + m + 2) m``, i.e.
    ``G m`` more. Generalised: every layer and direction has its own cell; layer 1 reads ``n``
    inputs, later layers read the ``D m`` outputs below, so a formula is the sum over layers
    ``k`` of ``D G (n_k + m + b) m`` with ``b`` = 1 (seed) or 2 (PyTorch). The embedding count
    includes the ``<pad>`` row, which never trains. A modern cell has no seed counterpart: both formulas
    are its own (:meth:`~core.models.cells.ScanCell.layer_params`; minGRU ``2 (n + 1) m``, minLSTM
    ``3 (n + 1) m``, LRU ``3 m + 3 m n + 2 m²``), summed the same way; ``recurrent_pytorch`` counts its layers.
    """
    model = SentimentRNN(cfg)
    cell, m, d = cell_def(cfg.cell), cfg.hidden_size, 2 if cfg.bidirectional else 1
    n = cfg.input_size if cfg.input_size is not None else cfg.embedding_dim
    inputs = [n] + [d * m] * (cfg.num_layers - 1)

    def formula(biases: int) -> int:
        return sum(d * cell.layer_params(n_k, m, biases) for n_k in inputs)

    def count(module: nn.Module | None) -> int:
        return 0 if module is None else sum(p.numel() for p in module.parameters())

    return {"embedding": count(model.embedding), "recurrent_pytorch": count(model.rnn),
            "output": count(model.fc), "total": count(model),
            "recurrent_seed_formula": formula(1), "recurrent_pytorch_formula": formula(2)}
