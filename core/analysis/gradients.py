"""Gradients through time: per-step gradient norms on a fixed probe batch, recorded while training.

The fused cuDNN / oneDNN kernels give no gradient for the hidden state of an intermediate step,
so the recording runs the model's transparent twin (:meth:`~core.models.rnn.SentimentRNN.forward_transparent`)
on the same weights. For every review ``b`` of a fixed probe batch, with ``L_b`` its own loss
(the objective without averaging), one backward pass gives:

* ``dh``: ``||dL_b / dh_t||`` for every step ``t``, layer and direction -- the *total* derivative
  (through every later step, the layer above and the classifier), from a zero leaf added to each
  step's state by the ``state_hook`` (O(T); slicing views of one ``(B, T, H)`` leaf would cost O(T^2)).
  ``h`` is the part of the state that carries the cell's memory (``Cell.memory``): for the LRU its complex
  state ``x`` (``||dL/d(Re x_t, Im x_t)||``, carried back from the gradient reaching each output ``y_t``),
  because its output ``y_t`` feeds no later step: the gradient reaching ``y_t`` itself is zero before the
  read-out step under a last-state read-out, and says nothing about time;
* ``dx``: ``||dL_b / dx_t||``, the gradient reaching each input embedding (or real-valued input);
* ``jac``: the spectral norm of the per-step state Jacobian ``||ds_t / ds_{t-1}||_2``, estimated by
  ``power_iters`` power iterations on ``J^T J`` (forward- and reverse-mode products, never the
  matrix), or its exact Frobenius norm (``jacobian="frobenius"``). The state ``s`` is the cell's
  (:mod:`core.models.cells`): ``h`` for the RNN, GRU, minGRU and minLSTM, ``(h, c)`` for the LSTM,
  ``(y, Re x, Im x)`` for the LRU: gradients flow back through the cell too, so ``dh_t/dh_{t-1}`` alone
  would miss the LSTM's additive path (and, for the LRU, all of it: its output ``y_t`` is read by no later
  step, so its Jacobian's ``y`` columns are zero);
* ``jac_prod``: the running product of ``jac`` from the read-out step backwards,
  ``prod_{j<k} ||J_{T-j}||``, the product term of the seed's eq. 6 -- an upper bound on
  ``||ds_T / ds_{T-k}||``, often a loose one: it multiplies each step's largest stretch as if
  every step stretched the same direction. Under truncated BPTT the Jacobian across a cut is zero
  for backpropagation, so the product drops to 0 there (``jac`` keeps the cell's own norm);
* ``jac_product_norm``: the norm of the Jacobian product itself, ``||ds_T / ds_{T-k}||`` (the same
  norm as ``jac``), the per-step Jacobians multiplied out (:func:`product_norms`); at ``k = 0`` the
  identity's norm (1, or ``sqrt(S)`` for Frobenius), from ``k = 1`` on at most ``jac_prod``. It costs
  ``O(S^3)`` a step, so it is computed for the ``product_texts`` longest probe texts only (NaN for the rest).

For a cell whose state matrix's eigenvalues are parameters (the LRU's ``λ``), each recording also keeps them
(``eig_modulus``, ``eig_phase``): how they move over training is what sets such a cell's memory.

Everything is aligned by distance ``k`` from the read-out step (``k = 0`` is the step the
classifier reads; the forward direction and ``dx``: ``k = T - t`` counted from each review's last
token; a backward direction: from each review's first token), so reviews of different lengths
line up; positions beyond a review's length are NaN and padding never enters. Per-review arrays
are kept with the mean and quantiles across the probe batch. Under a pooling read-out
(``ModelConfig.readout`` ``mean``, ``max``, ``mean_max``) ``k`` still counts from the last token, but the
classifier reads every step: ``dL/dh_t`` then has a direct part at each step besides what flows back
from the end.

:class:`GradientRecorder` is a :class:`~core.training.trainer.Trainer` callback that records at
initialisation, every ``every`` optimiser steps and at the end of every epoch, and rewrites one
``.npz`` (no pickles) atomically after each recording; :func:`load_gradients` reads it back and
:func:`product_curves` sets the Jacobian product's norm beside its bound, over the same texts.
Recording never changes training: it runs in eval mode (no dropout, so no draw from the global
RNG), takes gradients with ``torch.autograd.grad`` (parameters' ``.grad`` untouched), draws its
power-iteration vectors from a private generator and restores the module's train/eval mode.

Not here: the trainer's per-step global gradient norms (``core.training.trainer``, in ``metrics.jsonl``),
plotting (the dashboard).
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from rnnlab.core import atomic

JACOBIAN_NORMS = ("spectral", "frobenius")
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
PER_STEP = ("dh", "dx", "jac", "jac_prod", "jac_product_norm")  # the aligned per-review arrays, also summarised
EIGENVALUES = ("eig_modulus", "eig_phase")  # per recording, layer and direction: |λ| and arg λ (the LRU's)
JACOBIAN_CHUNK = 64  # steps whose closed-form Jacobians product_norms holds at once: B x 64 x S x S floats
PRODUCT_TEXTS = 8  # probe texts whose Jacobian product is multiplied out: O(S^3) a step, where the rest is O(S^2)
PAD_ID = 1  # core.data.text.PAD_ID: <pad>, whose embedding is the zero vector


class LossFn(Protocol):
    """What the recorder differentiates: anything with ``loss(out, y, reduction="none") -> (B,)``."""

    def loss(self, out: Tensor, y: Tensor, reduction: str = "none") -> Tensor: ...


@dataclass
class ProbeGradients:
    """One recording of the probe batch. ``L`` layers, ``D`` directions, ``B`` reviews, ``K`` distances.

    ``dh``, ``jac``, ``jac_prod``, ``jac_product_norm``: ``(L, D, B, K)``; ``dx``: ``(B, K)``; ``loss``:
    ``(B,)``. Index ``k`` is the distance from the read-out step; NaN where ``k >= length``. The three
    Jacobian arrays are None when recorded without Jacobians (``jac_product_norm`` also in files
    written before it was recorded).
    """

    dh: np.ndarray
    dx: np.ndarray
    loss: np.ndarray
    jac: np.ndarray | None = None
    jac_prod: np.ndarray | None = None
    jac_product_norm: np.ndarray | None = None
    # (L, D, S): |λ| and arg λ of the state matrix's eigenvalues, for a cell that has them as parameters (the LRU)
    eig_modulus: np.ndarray | None = None
    eig_phase: np.ndarray | None = None


# ---------------------------------------------------------------------------------- alignment

def read_out_span(lengths: Tensor, width: int, front_padded: bool) -> tuple[Tensor, Tensor]:
    """``(first, last)``: each review's first and last real position ``(B,)`` in a batch of ``width`` steps."""
    if front_padded:
        return width - lengths, torch.full_like(lengths, width - 1)
    return torch.zeros_like(lengths), lengths - 1


def align(values: Tensor, first: Tensor, last: Tensor, backward: bool = False) -> Tensor:
    """``(B, T)`` values by position -> ``(B, K)`` by distance ``k`` from the read-out step, NaN beyond.

    Forward: ``k = last - t``; backward direction: ``k = t - first``. ``K`` is the longest review.
    """
    span = last - first + 1  # (B,) real steps per review
    k = torch.arange(int(span.max()), device=values.device)  # (K,)
    t = first[:, None] + k if backward else last[:, None] - k  # (B, K) positions
    valid = k[None, :] < span[:, None]
    out = values.gather(1, t.clamp(0, values.shape[1] - 1))
    return out.masked_fill(~valid, float("nan"))


def running_product(jac: Tensor, cut: Tensor | None = None) -> Tensor:
    """``prod_{j<k} jac[:, j]`` for each ``k`` (1 at ``k = 0``); a factor 0 where ``cut`` is True.

    ``jac``: ``(B, K)`` aligned per-step norms (NaN beyond a review). The product at ``k`` bounds the
    norm of the Jacobian from the state ``k`` steps before the read-out to the read-out state.
    """
    factors = jac if cut is None else torch.where(cut, torch.zeros_like(jac), jac)
    shifted = torch.cat([torch.ones_like(jac[:, :1]), factors[:, :-1]], dim=1)  # (B, K): J_{T-j} for j < k
    out = torch.cumprod(torch.where(torch.isnan(shifted), torch.ones_like(shifted), shifted), dim=1)
    return out.masked_fill(torch.isnan(jac), float("nan"))


# ---------------------------------------------------------------------------------- Jacobians

def _state_step(model: Any, layer: int, direction: int) -> Callable[[Tensor, Tensor], Tensor]:
    """``(x_t (N, n), s_{t-1} (N, S)) -> s_t (N, S)``: one cell step on flat states (LSTM: ``s = [h, c]``).

    The flat layout is the model's cell's (``model.cell_def``).
    """
    cell = model.cell_def

    def step(x_t: Tensor, s: Tensor) -> Tensor:
        new, _ = model.cell_step(layer, direction, x_t, cell.split(s))
        return cell.flatten(new)

    return step


def _step_jacobians(model: Any, layer: int, direction: int, x: Tensor, s: Tensor) -> Tensor | None:
    """``(N, S, S)``: the model's step Jacobians in closed form at flat states ``s``, or None where it has none."""
    closed_form = getattr(model, "step_jacobians", None)
    return None if closed_form is None else closed_form(layer, direction, x, model.cell_def.split(s))


def jacobian_norms(step: Callable[[Tensor, Tensor], Tensor], x: Tensor, s: Tensor, *, norm: str = "spectral",
                   power_iters: int = 8, generator: torch.Generator | None = None) -> Tensor:
    """Per-row norms ``(N,)`` of ``J_i = d step(x, s)_i / d s_i``; rows are independent examples.

    ``spectral``: ``power_iters`` power iterations on ``J^T J`` from a random start (one vector for
    all rows, drawn from ``generator``, never the global RNG); the estimate ``||J v||`` with
    ``||v|| = 1`` approaches the largest singular value from below. ``frobenius``: exact, one
    product ``J e_i`` per state unit.
    The matrix is never formed: one forward pass, then ``J^T w`` by backpropagation and ``J v`` by
    differentiating ``J^T u`` (linear in ``u``) once more, both on the same retained graph.
    """
    if norm not in JACOBIAN_NORMS:
        raise ValueError(f"unknown Jacobian norm {norm!r}; expected one of {JACOBIAN_NORMS}")
    with torch.enable_grad():
        sp = s.detach().requires_grad_(True)
        out = step(x.detach(), sp)  # (N, S)
        u = torch.zeros_like(out, requires_grad=True)
        (jtu,) = torch.autograd.grad(out, sp, u, create_graph=True)  # J^T u as a function of u

    def jv(v: Tensor) -> Tensor:
        (g,) = torch.autograd.grad(jtu, u, v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(out) if g is None else g

    if norm == "frobenius":
        total = torch.zeros(s.shape[0], dtype=s.dtype, device=s.device)
        for i in range(s.shape[1]):
            e = torch.zeros_like(s)
            e[:, i] = 1.0
            total += jv(e).pow(2).sum(dim=-1)  # ||J e_i||^2: column i
        return total.sqrt().detach()
    tiny = torch.finfo(s.dtype).tiny
    # one start vector shared by every row: a row's estimate does not depend on the rest of the batch
    v = torch.randn(s.shape[1], generator=generator, dtype=s.dtype).to(s.device).expand_as(s)
    v = v / v.norm(dim=-1, keepdim=True).clamp_min(tiny)
    for _ in range(max(power_iters, 1)):
        (w,) = torch.autograd.grad(out, sp, jv(v), retain_graph=True)  # J^T J v
        v = w / w.norm(dim=-1, keepdim=True).clamp_min(tiny)
    return jv(v).norm(dim=-1).detach()


def product_norms(step: Callable[[Tensor, Tensor], Tensor], x: Tensor, prev: Tensor, first: Tensor, last: Tensor, *,
                  backward: bool = False, norm: str = "spectral", power_iters: int = 8, cut: Tensor | None = None,
                  generator: torch.Generator | None = None,
                  jacobians: Callable[[Tensor, Tensor], Tensor | None] | None = None) -> Tensor:
    """``(B, K)``: the norm of the Jacobian product itself, ``||ds_{t(0)} / ds_{t(k)}||``, NaN beyond a review.

    ``t(k)`` is the position ``k`` steps before the read-out (forward ``last - k``, backward direction
    ``first + k``), ``x`` ``(B, T, n)`` each step's input and ``prev`` ``(B, T, S)`` the state it starts
    from, ``step`` as :func:`jacobian_norms`'s; ``cut`` ``(B, K)`` (aligned, as :func:`running_product`'s):
    the product is 0 from a truncation point on. The norm is ``norm``'s, so the result sits under the
    product of the per-step norms (:func:`running_product` of :func:`jacobian_norms`) for ``k >= 1``; at
    ``k = 0`` the product is the identity (norm 1; Frobenius ``sqrt(S)``).

    How. The matrix ``A_k = ds_{t(0)} / ds_{t(k)}`` ``(S, S)`` per review is carried from ``A_0 = I`` by
    ``A_{k+1} = A_k J_{t(k)}``: its ``S`` rows are vector-Jacobian products through one step, one backward
    pass through ``S`` copies of the state (the step's input broadcast over them, so it is projected once;
    ``torch.func``'s ``vmap`` is no faster and its first call imports for a second), so no per-step matrix
    is stored; ``step`` must broadcast over a leading dimension, as the cells' equations do. After every
    step ``A`` is rescaled to Frobenius norm 1 and the scale's log kept in float64: the norm neither
    overflows nor underflows where a float32 number would. Frobenius: exact, the scale itself. Spectral:
    ``power_iters`` power iterations on ``A A^T`` at every ``k``, warm-started from the previous ``k``'s
    vector (the left singular vectors live in the read-out state's space, which every ``k`` shares, and
    settle as ``k`` grows), from a start drawn from ``generator``: an estimate from below, like
    :func:`jacobian_norms`'s (an eigen-decomposition at every ``k`` cost more than the rest of the recording).
    The cost is ``O(B K S^3)`` where the per-step norms cost ``O(B K S^2)``: the recorder multiplies out
    the products of a few probe texts only (``product_texts``).

    ``jacobians`` ``(x (N, n), s (N, S)) -> (N, S, S)`` (or None): the step Jacobians in closed form, as the classic
    cells have them (:meth:`~core.models.rnn.SentimentRNN.step_jacobians`): then they are computed for a chunk of
    steps at once and ``A J`` is one batched product a step, where the backward pass through ``S`` copies of the
    state cost several times more (the recorder's largest cost on an LSTM).
    """
    if norm not in JACOBIAN_NORMS:
        raise ValueError(f"unknown Jacobian norm {norm!r}; expected one of {JACOBIAN_NORMS}")
    batch, width, size = prev.shape
    span = last - first + 1  # (B,) real steps per review
    ks = torch.arange(int(span.max()) if batch else 0, device=prev.device)  # (K,)
    pos = (first[:, None] + ks if backward else last[:, None] - ks).clamp(0, width - 1)  # (B, K)
    rows = torch.arange(batch, device=prev.device)[:, None]
    xs, starts = x[rows, pos].detach(), prev[rows, pos].detach()  # (B, K, n), (B, K, S): step t(k)'s input, start
    tiny = torch.finfo(prev.dtype).tiny
    a = torch.eye(size, dtype=prev.dtype, device=prev.device).expand(batch, size, size) / math.sqrt(size)  # A_0 = I
    log_scale = torch.full((batch,), 0.5 * math.log(size), dtype=torch.float64, device=prev.device)
    u = torch.randn(size, generator=generator, dtype=prev.dtype).to(prev.device).expand(batch, size)
    u = u / u.norm(dim=-1, keepdim=True)  # (B, S): the estimate of A's top left singular vector
    out = torch.empty(batch, len(ks), dtype=torch.float64, device=prev.device)
    jac, c0 = None, 0  # closed-form Jacobians of steps c0, c0 + 1, ... (B, n, S, S), while `jacobians` gives them
    for k in range(len(ks)):
        if k:
            j = k - 1  # the step from s_{t(k)} to s_{t(k-1)}
            if jacobians is not None and (jac is None or j >= c0 + jac.shape[1]):
                c0, n = j, min(JACOBIAN_CHUNK, len(ks) - j)
                flat = jacobians(xs[:, j:j + n].reshape(batch * n, -1), starts[:, j:j + n].reshape(batch * n, size))
                jac = None if flat is None else flat.view(batch, n, size, size)
                jacobians = None if flat is None else jacobians  # none to be had: autograd's from here on
            if jac is not None:
                a = torch.bmm(a, jac[:, j - c0])  # (B, S, S): each row, (that row of A) J
            else:
                with torch.enable_grad():  # S copies of the state per review
                    sp = starts[:, j, None].expand(batch, size, size).clone().requires_grad_(True)  # (B, S, S)
                    new = step(xs[:, j, None], sp)  # the input (B, 1, n) broadcast: projected once per review
                    (a,) = torch.autograd.grad(new, sp, a)  # (B, S, S), each row: (that row of A) J
        if k:
            if cut is not None:
                a = torch.where(cut[:, k - 1, None, None], torch.zeros_like(a), a)
            scale = torch.linalg.matrix_norm(a)  # (B,) Frobenius; 0 once the product is 0
            a = a / scale.clamp_min(tiny)[:, None, None]
            log_scale = log_scale + torch.log(scale.double())
        if norm == "frobenius":
            out[:, k] = torch.exp(log_scale)  # ||A||_F = 1 after rescaling (0: the product is 0)
            continue
        gram = a @ a.transpose(-1, -2)  # (B, S, S) A A^T: eigenvalues in [0, 1], the top one >= 1/S
        for i in range(max(power_iters, 1)):
            u = (u[:, None, :] @ gram)[:, 0]  # u^T A A^T = (A A^T u)^T
            if i % 4 == 3:  # rescaled now and then only (fewer small operations); 4 steps stay far from underflow
                u = u / u.norm(dim=-1, keepdim=True).clamp_min(tiny)
        u = u / u.norm(dim=-1, keepdim=True).clamp_min(tiny)
        rayleigh = ((u[:, None, :] @ gram)[:, 0] * u).sum(-1).clamp_min(0.0)  # u^T A A^T u <= ||A||_2^2
        out[:, k] = torch.exp(log_scale) * rayleigh.double().sqrt()
    valid = ks[None, :] < span[:, None]
    return out.masked_fill(~valid, float("nan")).to(prev.dtype)


# ---------------------------------------------------------------------------------- one recording

def as_front_padded(inputs: Tensor, lengths: Tensor, pad_value: float = PAD_ID) -> Tensor:
    """End-padded ``(B, T[, n])`` -> the same reviews front-padded (the fixed batching's layout)."""
    width = inputs.shape[1]
    out = torch.full_like(inputs, pad_value)
    for b, n in enumerate(lengths.tolist()):
        out[b, width - n:] = inputs[b, :n]
    return out


def probe_gradients(model: Any, inputs: Tensor, lengths: Tensor, targets: Tensor, objective: LossFn, *,
                    use_lengths: bool, tbptt: int | None = None, jacobian: str | None = "spectral",
                    power_iters: int = 8, seed: int = 0, product_texts: int = PRODUCT_TEXTS) -> ProbeGradients:
    """Record the per-step gradients of one probe batch under the model's current weights.

    Parameters
    ----------
    model : SentimentRNN (or anything with its ``forward_transparent``, ``cell_step``, ``embed``)
    inputs : (B, T) token ids or (B, T, n) real-valued inputs, on the model's device
    lengths : (B,) real steps per review
    targets : (B,) labels or targets
    objective : computes one loss per review (``reduction="none"``); their sum is differentiated,
        so review ``b``'s gradients are those of its own loss
    use_lengths : True: ``inputs`` are end-padded and each review is read at ``lengths - 1``;
        False: ``inputs`` are front-padded (or unpadded) and read at ``T - 1``
    tbptt : cut the gradient every ``tbptt`` steps, as training does
    jacobian : "spectral", "frobenius" or None (skip the Jacobians)
    product_texts : the norm of the Jacobian product itself (:func:`product_norms`, ``O(S^3)`` a step) is
        computed for this many of the longest reviews (the first in the batch among equals); NaN for the others

    How. One backward pass from the summed loss to a zero leaf per step and layer gives every
    ``dL/dh_t``; it asks for nothing else, so autograd never runs the backward of the per-step
    input slices (each would allocate a whole ``(B, T, .)`` gradient: O(T^2)). The gradient
    reaching ``x_t`` is then the step's local vector-Jacobian product with the total derivative of
    its output state, ``(ds_t/dx_t)^T dL/ds_t``, all steps in one batch; the total derivatives of
    the state parts other than ``h`` (the LSTM's ``c``) are first carried back step by step (they
    have no consumer outside the recurrence, so they follow from ``dL/dh`` alone): element-wise for the
    classic cells, by one vector-Jacobian product per step for a cell that is not (the LRU).
    """
    was_training = model.training
    model.eval()  # no dropout: deterministic, and no draw from the global RNG
    try:
        rec = _probe_gradients(model, inputs, lengths.to(inputs.device), targets, objective, use_lengths, tbptt,
                               jacobian, power_iters, seed, product_texts)
    finally:
        model.train(was_training)
    eig = eigenvalues_of(model)
    return rec if eig is None else replace(rec, eig_modulus=np.abs(eig), eig_phase=np.angle(eig))


@torch.no_grad()
def eigenvalues_of(model: Any) -> np.ndarray | None:
    """``(L, D, S)`` complex: every layer and direction's state-matrix eigenvalues, for a cell whose eigenvalues are
    parameters (the LRU's ``λ``, :meth:`~core.models.cells.ScanCell.eigenvalues`); None for the others."""
    cell = model.cell_def
    values = [[cell.eigenvalues(model.rnn, layer, direction) for direction in range(model.num_directions)]
              for layer in range(model.num_layers)]
    if any(v is None for row in values for v in row):
        return None
    return np.stack([np.stack([v.detach().cpu().to(torch.complex128).numpy() for v in row]) for row in values])


def _probe_gradients(model: Any, inputs: Tensor, lengths: Tensor, targets: Tensor, objective: LossFn,
                     use_lengths: bool, tbptt: int | None, jacobian: str | None, power_iters: int,
                     seed: int, product_texts: int) -> ProbeGradients:
    batch, width = inputs.shape[:2]
    n_layers, n_dirs, cell = model.num_layers, model.num_directions, model.cell_def
    keys = [(ly, d) for ly in range(n_layers) for d in range(n_dirs)]
    leaves: dict[tuple[int, int], list[Tensor | None]] = {key: [None] * width for key in keys}

    def add_leaf(layer: int, direction: int, t: int, h: Tensor) -> Tensor:
        leaf = torch.zeros_like(h, requires_grad=True)  # (B, H): d loss / d leaf = total d loss / d h_t
        leaves[(layer, direction)][t] = leaf
        return h + leaf

    with torch.enable_grad():
        out = model.forward_transparent(inputs, lengths if use_lengths else None, return_states=True,
                                        state_hook=add_leaf, tbptt=tbptt)
        per_review = objective.loss(out.logits, targets, reduction="none")  # (B,)
        flat = [leaf for key in keys for leaf in leaves[key]]
        grads = torch.autograd.grad(per_review.sum(), flat, allow_unused=True)
    with torch.no_grad():
        emb = model.embed(inputs).detach()  # (B, T, n): what layer 0 reads
    g_h = {key: torch.stack([torch.zeros_like(leaf) if g is None else g
                             for g, leaf in zip(grads[i * width:(i + 1) * width], leaves[key], strict=True)], dim=1)
           for i, key in enumerate(keys)}  # (B, T, H) total dL/dh_t by position
    states = {key: {k: v.detach() for k, v in out.states[key].items()} for key in keys}
    mask = out.mask  # (B, T) or None

    first, last = read_out_span(lengths, width, front_padded=not use_lengths)
    positions = torch.arange(width, device=emb.device)
    real = (positions[None, :] >= first[:, None]) & (positions[None, :] <= last[:, None])  # (B, T)

    # the total dL/ds_t of the whole state: dL/dh_t and the other parts carried back from it, for layer 0 (the
    # inputs' gradient below) and for every layer of a cell whose memory is not h (the LRU)
    def layer_input(layer: int) -> Tensor:
        """``(B, T, n)``: what ``layer`` reads, the embeddings or every direction's outputs of the layer below."""
        return emb if layer == 0 else torch.cat([states[(layer - 1, e)]["hidden"] for e in range(n_dirs)], -1)

    memory_is_h = cell.memory == ("hidden",)
    g_s: dict[tuple[int, int], Tensor] = {}
    g_m: dict[tuple[int, int], Tensor] = {}  # the memory's total gradient, when the memory is not h (the LRU)
    for layer, d in [(0, e) for e in range(n_dirs)] if memory_is_h else keys:
        layer_in = layer_input(layer)
        step = _state_step(model, layer, d)
        prev = _previous_states(states[(layer, d)], cell.state_names, d)
        carried = _carried_grads(step, layer_in, prev, g_h[(layer, d)], mask, tbptt, d, elementwise=cell.elementwise)
        g_s[(layer, d)] = torch.cat([g_h[(layer, d)], carried], dim=-1)  # (B, T, S)
        if not memory_is_h:
            # dL/dm_t = what reaches m_t through the later steps (carried) + what reaches it through the h_t this
            # same step emits from it: (dh_t/dm_t)^T dL/dh_t, one batched product over every step
            memory = [states[(layer, d)][name] for name in cell.memory]
            later = carried.split(g_h[(layer, d)].shape[-1], dim=-1)  # the parts after h, (B, T, H) each
            through_later = torch.cat([later[cell.state_names.index(name) - 1] for name in cell.memory], dim=-1)
            emit = partial(cell.emitted, model.rnn, layer, d)
            g_m[(layer, d)] = through_later + _emitted_vjp(emit, memory, layer_in, g_h[(layer, d)])

    def memory_grad(key: tuple[int, int]) -> Tensor:
        """``(B, T)``: the norm of the total gradient of the parts that carry the memory (``h``, or the LRU's ``x``)."""
        return (g_h if memory_is_h else g_m)[key].norm(dim=-1)

    dh = torch.stack([torch.stack([align(memory_grad((ly, d)), first, last, backward=d == 1)
                                   for d in range(n_dirs)]) for ly in range(n_layers)])  # (L, D, B, K)

    # gradient reaching the inputs: sum over directions of (ds_t / dx_t)^T dL/ds_t at the real steps
    dx_by_t = torch.zeros_like(emb)
    for d in range(n_dirs):
        step = _state_step(model, 0, d)
        prev = _previous_states(states[(0, d)], cell.state_names, d)
        dx_by_t[real] += _input_vjp(step, emb[real], prev[real], g_s[(0, d)][real])
    dx = align(dx_by_t.norm(dim=-1), first, last)  # (B, K)

    jac = prod = product = None
    if jacobian:
        gen = torch.Generator().manual_seed(seed)
        cut = None
        if tbptt is not None:
            cut_t = (positions % tbptt == 0) & (positions > 0)  # where the carried state is detached
            cut = align(cut_t[None, :].expand(batch, -1).to(emb.dtype), first, last) == 1
        jac = torch.full_like(dh, float("nan"))
        prod = torch.full_like(dh, float("nan"))
        product = torch.full_like(dh, float("nan"))
        # the longest reviews, which reach every distance any review reaches
        picks = torch.argsort(last - first, descending=True, stable=True)[:max(product_texts, 0)]
        for layer, d in keys:
            layer_in = layer_input(layer)
            step = _state_step(model, layer, d)
            prev = _previous_states(states[(layer, d)], cell.state_names, d)
            norms = torch.full(real.shape, float("nan"), dtype=emb.dtype, device=emb.device)
            norms[real] = jacobian_norms(step, layer_in[real], prev[real], norm=jacobian, power_iters=power_iters,
                                         generator=gen)
            jac[layer, d] = align(norms, first, last, backward=d == 1)
            prod[layer, d] = running_product(jac[layer, d], cut)
            if len(picks):
                norms = product_norms(step, layer_in[picks], prev[picks], first[picks], last[picks], backward=d == 1,
                                      norm=jacobian, power_iters=power_iters, generator=gen,
                                      cut=None if cut is None else cut[picks],
                                      jacobians=partial(_step_jacobians, model, layer, d))
                product[layer, d, picks, :norms.shape[1]] = norms

    def as_np(a: Tensor | None) -> np.ndarray | None:
        return None if a is None else a.detach().cpu().numpy()  # the model's dtype

    return ProbeGradients(dh=as_np(dh), dx=as_np(dx), loss=as_np(per_review), jac=as_np(jac), jac_prod=as_np(prod),
                          jac_product_norm=as_np(product))


def _previous_states(rec: dict[str, Tensor], state_names: Sequence[str], direction: int) -> Tensor:
    """``(B, T, S)``: the state each step starts from (forward ``s_{t-1}``, backward ``s_{t+1}``; zeros first).

    ``state_names``: the recorded parts that make the state, in the flat order (``Cell.state_names``).
    """
    s = torch.cat([rec[name] for name in state_names], dim=-1)  # (B, T, S) after step t
    zero = torch.zeros_like(s[:, :1])
    return torch.cat([zero, s[:, :-1]], dim=1) if direction == 0 else torch.cat([s[:, 1:], zero], dim=1)


def _emitted_vjp(emit: Callable[[Sequence[Tensor], Tensor], Tensor], memory: Sequence[Tensor], x: Tensor,
                 g_h: Tensor) -> Tensor:
    """``(B, T, M*H)``: ``(dh_t/dm_t)^T dL/dh_t`` for every step at once, where ``h_t = emit(m_t, x_t)`` and ``m_t``
    is the memory's parts ``(B, T, H)`` each (the LRU's ``Re x_t``, ``Im x_t``)."""
    with torch.enable_grad():
        parts = [m.detach().requires_grad_(True) for m in memory]
        grads = torch.autograd.grad(emit(parts, x.detach()), parts, g_h)
    return torch.cat(grads, dim=-1)


def _input_vjp(step: Callable[[Tensor, Tensor], Tensor], x: Tensor, prev: Tensor, ds: Tensor) -> Tensor:
    """``(ds/dx)^T ds`` for a batch of independent steps ``(N, .)``."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (gx,) = torch.autograd.grad(step(x, prev.detach()), x, ds)
    return gx


def _carried_grads(step: Callable[[Tensor, Tensor], Tensor], x: Tensor, prev: Tensor, g_h: Tensor,
                   mask: Tensor | None, tbptt: int | None, direction: int, elementwise: bool = True) -> Tensor:
    """Total ``dL/dc_t`` ``(B, T, S - H)`` of the state parts after ``h`` (LSTM: ``c``), carried back step by step.

    ``c_t`` reaches the loss only through step ``t+1`` (in processing order), and enters it element-wise
    (``core.models.cells``), so ``dL/dc_t = sum_k dL/ds_{t+1}[k] ⊙ ds_{t+1}[k]/dc_t`` over the parts ``k``
    of the next state, whose ``h`` part is the total ``dL/dh_{t+1}`` we have; for the LSTM that is
    ``f_{t+1} ⊙ (dL/dc_{t+1} + dL/dh_{t+1} ⊙ o_{t+1} ⊙ (1 - tanh²(c_{t+1})))``. A padding step carries
    the state (and this derivative) over unchanged; a truncation point (the state detached before step
    ``k``) stops it. ``x`` ``(B, T, n)`` and ``prev`` ``(B, T, S)``: each step's input and starting state.
    Empty ``(B, T, 0)`` for a cell whose state is ``h`` alone. A cell whose later parts do not enter the
    next step element-wise (``elementwise`` False: the LRU, whose ``y_{t+1}`` reads ``x_t`` through the dense
    ``C``) gets the same recursion with each step's full vector-Jacobian product (:func:`_carried_grads_by_vjp`).
    """
    batch, width, hidden = g_h.shape
    parts = prev.shape[-1] // hidden
    if parts == 1:
        return g_h.new_zeros(batch, width, 0)
    if not elementwise:
        return _carried_grads_by_vjp(step, x, prev, g_h, mask, tbptt, direction)
    with torch.enable_grad():  # the element-wise partials d s_{t+1}[k] / d c_t of every step at once
        sp = prev.detach().reshape(batch * width, -1).requires_grad_(True)
        nxt = step(x.detach().reshape(batch * width, -1), sp)  # (B*T, S)
        slopes = torch.stack([torch.autograd.grad(part, sp, torch.ones_like(part), retain_graph=True)[0][:, hidden:]
                              for part in nxt.split(hidden, dim=-1)], dim=1)  # (B*T, K, S - H)
    slopes = slopes.reshape(batch, width, parts, parts - 1, hidden)
    dc = g_h.new_zeros(batch, parts - 1, hidden)  # dL/dc of the current step's output
    out = torch.empty(batch, width, parts - 1, hidden, dtype=g_h.dtype, device=g_h.device)
    for t, cut in _steps_back(width, direction, tbptt):
        out[:, t] = dc
        if cut:
            dc = torch.zeros_like(dc)
            continue
        ds = torch.cat([g_h[:, t, None], dc], dim=1)  # (B, K, H): dL/ds_t by part
        new = (ds[:, :, None] * slopes[:, t]).sum(dim=1)  # (B, K - 1, H)
        dc = new if mask is None else torch.where(mask[:, t, None, None], new, dc)  # padding: c carried over
    return out.reshape(batch, width, -1)


def _steps_back(width: int, direction: int, tbptt: int | None) -> Iterator[tuple[int, bool]]:
    """Each step ``t`` in reverse processing order, and whether truncated BPTT cuts the gradient before it (the
    step starts a chunk): what both ways of carrying ``dL/dc`` walk through."""
    for t in (range(width - 1, -1, -1) if direction == 0 else range(width)):
        k = t if direction == 0 else width - 1 - t  # processing index of step t
        yield t, tbptt is not None and k % tbptt == 0


def _carried_grads_by_vjp(step: Callable[[Tensor, Tensor], Tensor], x: Tensor, prev: Tensor, g_h: Tensor,
                          mask: Tensor | None, tbptt: int | None, direction: int) -> Tensor:
    """:func:`_carried_grads` for any step: ``dL/dc_t = [(ds_{t+1}/ds_t)^T dL/ds_{t+1}]_c``, one product a step.

    ``T`` small backward passes of a ``(B, S)`` step, where the element-wise route costs one batched pass.
    """
    batch, width, hidden = g_h.shape
    dc = g_h.new_zeros(batch, prev.shape[-1] - hidden)  # dL/dc of the current step's output
    out = torch.empty(batch, width, dc.shape[-1], dtype=g_h.dtype, device=g_h.device)
    for t, cut in _steps_back(width, direction, tbptt):
        out[:, t] = dc
        if cut:
            dc = torch.zeros_like(dc)
            continue
        with torch.enable_grad():
            sp = prev[:, t].detach().requires_grad_(True)  # (B, S): the state step t starts from
            (g,) = torch.autograd.grad(step(x[:, t].detach(), sp), sp, torch.cat([g_h[:, t], dc], dim=-1))
        new = g[:, hidden:]  # (B, S - H): what reaches the parts after h of the state before step t
        dc = new if mask is None else torch.where(mask[:, t, None], new, dc)  # padding: carried over
    return out


# ---------------------------------------------------------------------------------- summaries and storage

def summarise(values: np.ndarray, quantiles: Sequence[float] = QUANTILES) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(..., K)`` and quantiles ``(..., Q, K)`` across reviews (axis -2) of ``(..., B, K)``, ignoring NaN.

    The same figures as ``np.nanmean`` / ``np.nanquantile`` (linear interpolation), vectorised:
    numpy's ``nanquantile`` loops in Python over every (record, distance) slice. A distance that no
    review reaches (or only NaN, after a non-finite gradient) gives NaN.
    """
    valid = ~np.isnan(values)
    n = valid.sum(axis=-2)  # (..., K)
    with np.errstate(all="ignore"):
        mean = np.where(valid, values, 0).sum(axis=-2, dtype=np.float64) / n
        ordered = np.sort(values, axis=-2)  # NaN sorts last: the first n entries are the valid ones
        qs = []
        for q in quantiles:
            pos = q * np.maximum(n - 1, 0)
            lo = np.floor(pos).astype(np.int64)
            hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
            a = np.take_along_axis(ordered, lo[..., None, :], axis=-2)[..., 0, :]
            b = np.take_along_axis(ordered, hi[..., None, :], axis=-2)[..., 0, :]
            frac = pos - lo
            qs.append(np.where(n > 0, np.where(frac > 0, a + (b - a) * frac, a), np.nan))
    return mean.astype(np.float32), np.stack(qs, axis=-2).astype(np.float32)


@dataclass
class GradientRecording:
    """What :func:`load_gradients` returns: every recording of one run, stacked along axis 0 (``R``).

    ``step``, ``epoch`` ``(R,)``; ``kind`` ``(R,)`` ``init`` / ``step`` / ``epoch``; ``seconds`` the
    time each recording took; ``lengths``, ``labels`` ``(B,)`` of the probe; ``arrays``: per-review
    ``dh``, ``jac``, ``jac_prod``, ``jac_product_norm`` ``(R, L, D, B, K)``, ``dx`` ``(R, B, K)``, ``loss``
    ``(R, B)``, and for each of these but ``loss`` ``<name>_mean`` ``(R, [L, D,] K)`` and
    ``<name>_quantiles`` ``(R, [L, D,] Q, K)``; ``count`` ``(K,)`` reviews that reach each distance;
    ``meta`` the settings.
    """

    step: np.ndarray
    epoch: np.ndarray
    kind: np.ndarray
    seconds: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def load_gradients(path: str | Path) -> GradientRecording:
    """Read a ``gradients.npz`` written by :class:`GradientRecorder` (no pickles are loaded)."""
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    coords = ("step", "epoch", "kind", "seconds", "lengths", "labels")
    return GradientRecording(**{k: data.pop(k) for k in coords}, meta=json.loads(str(data.pop("meta"))),
                             arrays=data)


def decay_ratios(rec: GradientRecording, ks: Sequence[int] = (10, 50, 100), *, record: int = -1, layer: int = 0,
                 direction: int = 0) -> dict[int, dict[str, float]]:
    """``||dL/dh_{T-k}|| / ||dL/dh_T||`` per review at each ``k``, summarised over the probe reviews that reach it.

    Returns ``{k: {"mean", "median", "n"}}`` for one recording (default: the last).
    """
    dh = rec["dh"][record, layer, direction]  # (B, K)
    out = {}
    for k in ks:
        if k >= dh.shape[1]:
            out[k] = {"mean": float("nan"), "median": float("nan"), "n": 0}
            continue
        with np.errstate(all="ignore"):
            ratio = dh[:, k] / dh[:, 0]
        ratio = ratio[np.isfinite(ratio)]
        out[k] = {"mean": float(ratio.mean()) if len(ratio) else float("nan"),
                  "median": float(np.median(ratio)) if len(ratio) else float("nan"), "n": int(len(ratio))}
    return out


@dataclass(frozen=True)
class ProductCurves:
    """The Jacobian product of one recording against its bound, both averaged over the same probe texts.

    ``norm`` ``(K,)``: the mean norm of the product itself, ``||ds_T / ds_{T-k}||``; ``bound`` ``(K,)``: the mean
    product of the per-step norms (eq. 6) over the same texts; ``texts``: how many (the longest ones); ``kind``:
    the norm, ``"spectral"`` or ``"frobenius"``.
    """

    norm: np.ndarray
    bound: np.ndarray
    texts: int
    kind: str


def product_curves(rec: GradientRecording, *, record: int = -1, layer: int = 0,
                   direction: int = 0) -> ProductCurves | None:
    """The mean Jacobian product's norm and its bound over the texts it was multiplied out for; None without it.

    The recorded ``jac_prod_mean`` averages all probe texts, the product's norm only the longest few
    (``product_texts``): the bound is averaged again here over those few, so the two curves compare like with like.
    Spectral norms are power-iteration estimates from below, the per-step ones (one start each) less settled
    than the product's (warm-started along ``k``), so where the bound is tight its estimate can fall a little
    under the product's. The true bound is at least the true product's norm, which is at least its estimate:
    for ``k >= 1`` the larger of the two estimates is the better estimate of the bound, and is the one used.
    """
    if "jac_product_norm" not in rec.arrays or "jac_prod" not in rec.arrays:
        return None
    norm = rec["jac_product_norm"][record, layer, direction]  # (B, K)
    texts = ~np.isnan(norm).all(axis=-1)  # (B,) the texts multiplied out
    if not texts.any():
        return None
    bound = rec["jac_prod"][record, layer, direction][texts]
    with np.errstate(invalid="ignore"):
        bound[:, 1:] = np.fmax(bound[:, 1:], norm[texts][:, 1:])  # NaN stays NaN only where both are
    mean_norm, _ = summarise(norm[texts], quantiles=(0.5,))
    mean_bound, _ = summarise(bound, quantiles=(0.5,))
    return ProductCurves(norm=mean_norm, bound=mean_bound, texts=int(texts.sum()),
                         kind=str(rec.meta.get("jacobian_norm") or "spectral"))


class GradientRecorder:
    """Trainer callback: record :func:`probe_gradients` at init, every ``every`` steps and each epoch end.

    Parameters
    ----------
    path : the ``.npz`` to (re)write after every recording
    probe : a batch (``.tokens``, ``.lengths``, ``.labels``), end-padded or unpadded
    every : optimiser steps between recordings (0 or None: only at init and epoch ends)
    epoch_every : record at the end of every ``epoch_every``-th epoch (and always after the last
        one, or when training stops early); 0: never at epoch ends
    use_lengths : as the trainer: read each review at its own last token (True) or at ``T-1`` of
        front-padded inputs (False; an end-padded probe is front-padded here, to its own width)
    jacobian, power_iters, product_texts : see :func:`probe_gradients`
    background : record on a thread of its own, off the training's hot path: each recording reads a copy of
        the weights taken when it is due and runs beside the next training steps (on a CPU with a core the
        training leaves free, it costs the training almost nothing). Recordings stay in order; the file is the
        one recording in the foreground writes, but for ``seconds``; every recording due before an epoch's end
        is written before that epoch's end returns (so a checkpoint never runs ahead of the file), and all of
        them before the training's end does (with ``keep_open``, before :meth:`finish` returns: the last one
        then runs beside what the caller does after training, such as testing). An error while recording is
        raised there.

    A trainer restored from a checkpoint (``epochs_done > 0`` at ``on_train_start``) makes it
    continue the file already at ``path`` (:meth:`resume`) instead of recording at init.
    """

    def __init__(self, path: str | Path, probe: Any, *, every: int | None = 100, use_lengths: bool = False,
                 jacobian: str | None = "spectral", power_iters: int = 8, at_init: bool = True,
                 epoch_every: int = 1, product_texts: int = PRODUCT_TEXTS, background: bool = False,
                 keep_open: bool = False):
        if jacobian is not None and jacobian not in JACOBIAN_NORMS:
            raise ValueError(f"unknown Jacobian norm {jacobian!r}; expected one of {JACOBIAN_NORMS} or None")
        self.path = Path(path)
        self.every = every or 0
        self.use_lengths = use_lengths
        self.jacobian = jacobian
        self.power_iters = power_iters
        self.product_texts = product_texts
        self.at_init = at_init
        self.epoch_every = epoch_every
        lengths = torch.as_tensor(probe.lengths, dtype=torch.int64).cpu()
        inputs = probe.tokens.cpu()
        if not use_lengths and int(lengths.min()) < inputs.shape[1]:
            inputs = as_front_padded(inputs, lengths, PAD_ID if inputs.dim() == 2 else 0.0)
        self.inputs, self.lengths, self.labels = inputs, lengths, probe.labels.cpu()
        self.background = background
        self.keep_open = keep_open
        self._worker: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self.records: list[ProbeGradients] = []
        self.summaries: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []
        self.coords: list[dict[str, Any]] = []

    # -- trainer events -----------------------------------------------------------------
    def on_train_start(self, trainer: Any) -> None:
        if getattr(trainer, "epochs_done", 0):  # restored from a checkpoint: continue the file
            self.resume(trainer)
        elif self.at_init:
            self._record_soon(trainer, "init")

    def on_batch_end(self, trainer: Any, rec: dict[str, Any]) -> None:
        if self.every and trainer.step % self.every == 0:
            self._record_soon(trainer, "step")

    def on_epoch_end(self, trainer: Any, rec: dict[str, Any]) -> None:
        self.wait()  # every recording due so far is in the file before the epoch's checkpoint is written
        final = trainer.epoch == trainer.cfg.epochs - 1 or trainer.stop_requested
        if not self.epoch_every or ((trainer.epoch + 1) % self.epoch_every and not final):
            return
        if self.coords and self.coords[-1]["step"] == trainer.step:
            # the weights have not moved since that recording: mark it as this epoch's end instead
            self.coords[-1]["kind"] = "epoch"
            self.save(trainer)
            return
        self._record_soon(trainer, "epoch")

    def on_train_end(self, trainer: Any, result: Any) -> None:
        if not self.keep_open:
            self.finish()

    def finish(self) -> None:
        """Until every recording asked for is written (raising the first error one met); the thread is let go."""
        try:
            self.wait()
        finally:
            if self._worker is not None:
                self._worker.shutdown()
                self._worker = None

    # -- in the background --------------------------------------------------------------
    def _record_soon(self, trainer: Any, kind: str) -> None:
        """:meth:`record` now, or (``background``) on the recorder's thread, from a copy of the weights as they are."""
        if not self.background:
            self.record(trainer, kind)
            return
        if self._worker is None:
            # denormals are flushed per thread: the recording thread does what the training's does
            flush = bool(getattr(trainer.cfg, "flush_denormals", False)) and trainer.device.type == "cpu"
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="gradient-recorder",
                                              initializer=torch.set_flush_denormal, initargs=(flush,))
        model = copy.deepcopy(trainer.model)
        model.zero_grad(set_to_none=True)
        # what record() and save() read of a trainer, frozen at this step
        frozen = SimpleNamespace(model=model, device=trainer.device, objective=trainer.objective, cfg=trainer.cfg,
                                 step=trainer.step, epoch=trainer.epoch)
        self._pending.append(self._worker.submit(self.record, frozen, kind))

    def wait(self) -> None:
        """Until every recording asked for is done and written; raises the first error one of them met."""
        pending, self._pending = self._pending, []
        for job in pending:
            job.result()

    # -- resuming -----------------------------------------------------------------------
    def resume(self, trainer: Any) -> None:
        """Continue ``path`` from a trainer restored to the end of epoch ``trainer.epoch`` (step ``trainer.step``).

        Keeps the recordings up to that step and drops later ones (made after the checkpoint by the
        run that was interrupted), then does what the end of that epoch does (record, or mark the
        recording at that step as the epoch's end), in case the interruption came before it. The
        finished file then equals an uninterrupted run's, but for ``seconds``. Without a file it
        starts one. Raises ValueError when the file was recorded on another probe or settings.
        """
        if self.path.is_file():
            self._load(trainer.step)
            if self.records:
                self.save(trainer)
        self.on_epoch_end(trainer, {})

    def _load(self, step: int) -> None:
        old = load_gradients(self.path)
        same = (np.array_equal(old.lengths, self.lengths.numpy()) and np.array_equal(old.labels, self.labels.numpy())
                and old.meta.get("jacobian_norm") == self.jacobian and old.meta.get("use_lengths") == self.use_lengths)
        if not same:
            raise ValueError(f"{self.path} was recorded on another probe batch or with other settings; "
                             "it cannot be continued")
        names = [name for name in PER_STEP if name in old.arrays]
        for i in range(int((old.step <= step).sum())):  # recordings are in step order
            eig = {name: old[name][i] for name in EIGENVALUES if name in old.arrays}
            self.records.append(ProbeGradients(loss=old["loss"][i], **eig, **{name: old[name][i] for name in names}))
            self.summaries.append({name: (old[f"{name}_mean"][i], old[f"{name}_quantiles"][i]) for name in names})
            self.coords.append({"step": int(old.step[i]), "epoch": int(old.epoch[i]), "kind": str(old.kind[i]),
                                "seconds": float(old.seconds[i])})

    # -- recording ----------------------------------------------------------------------
    def record(self, trainer: Any, kind: str) -> ProbeGradients:
        t0 = time.perf_counter()
        device = trainer.device
        rec = probe_gradients(trainer.model, self.inputs.to(device), self.lengths.to(device), self.labels.to(device),
                              trainer.objective, use_lengths=self.use_lengths, tbptt=trainer.cfg.tbptt or None,
                              jacobian=self.jacobian, power_iters=self.power_iters,
                              product_texts=self.product_texts)
        self.records.append(rec)
        self.coords.append({"step": trainer.step, "epoch": trainer.epoch, "kind": kind,
                            "seconds": time.perf_counter() - t0})
        self.save(trainer)
        return rec

    def save(self, trainer: Any) -> None:
        model = trainer.model
        arrays: dict[str, np.ndarray] = {
            "step": np.array([c["step"] for c in self.coords], dtype=np.int64),
            "epoch": np.array([c["epoch"] for c in self.coords], dtype=np.int64),
            "kind": np.array([c["kind"] for c in self.coords], dtype="<U8"),
            "seconds": np.array([c["seconds"] for c in self.coords], dtype=np.float64),
            "lengths": self.lengths.numpy(), "labels": self.labels.numpy(),
            "loss": np.stack([r.loss for r in self.records]).astype(np.float32),
        }
        names = [n for n in PER_STEP if getattr(self.records[0], n) is not None]
        while len(self.summaries) < len(self.records):  # each recording is summarised once
            rec = self.records[len(self.summaries)]
            self.summaries.append({name: summarise(getattr(rec, name).astype(np.float32)) for name in names})
        for name in names:
            arrays[name] = np.stack([getattr(r, name) for r in self.records]).astype(np.float32)  # (R, [L, D,] B, K)
            arrays[f"{name}_mean"] = np.stack([sm[name][0] for sm in self.summaries])
            arrays[f"{name}_quantiles"] = np.stack([sm[name][1] for sm in self.summaries])
        for name in EIGENVALUES:  # (R, L, D, S): the LRU's λ at each recording
            if all(getattr(r, name) is not None for r in self.records):
                arrays[name] = np.stack([getattr(r, name) for r in self.records])
        arrays["count"] = (np.arange(self.records[0].dx.shape[-1])[None, :] < self.lengths.numpy()[:, None]).sum(0)
        meta = {"cell": model.cell, "dh_of": list(model.cell_def.memory), "num_layers": model.num_layers,
                "num_directions": model.num_directions,
                "hidden_size": model.hidden_size, "tbptt": trainer.cfg.tbptt, "jacobian_norm": self.jacobian,
                "power_iters": self.power_iters if self.jacobian == "spectral" else None,
                "product_texts": self.product_texts if self.jacobian else None,
                "use_lengths": self.use_lengths, "every": self.every, "quantiles": list(QUANTILES),
                "arrays": {"dh": "record, layer, direction, review, distance", "dx": "record, review, distance",
                           "jac": "record, layer, direction, review, distance",
                           "jac_prod": "record, layer, direction, review, distance",
                           "jac_product_norm": "record, layer, direction, review, distance", "loss": "record, review",
                           "eig_modulus": "record, layer, direction, eigenvalue (|λ|; LRU only)",
                           "eig_phase": "record, layer, direction, eigenvalue (arg λ in (-π, π]; LRU only)"},
                "distance": "k = steps from the read-out step (forward: from the last token; backward: the first)"}
        arrays["meta"] = np.array(json.dumps(meta))
        with atomic.atomic_path(self.path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
