"""Modern recurrent layers whose recurrence is linear in the state: minGRU, minLSTM and the LRU.

Each layer runs the same function two ways over the same parameters:

* ``mode="scan"`` -- the parallel form, for training: every step's state at once by a parallel
  scan over time (``O(T)`` work in ``O(log T)`` or cumulative-sum depth, no Python loop over ``t``);
* ``mode="step"`` -- a Python loop over :meth:`~_Recurrence.step`, one step at a time, written with the
  plain (not log-space) equations. Slow; for introspection, and as the reference the scan is tested against.

Why a scan works here: in all three layers the gates and the input term read ``x_t`` only, never
``h_{t-1}``, so the state obeys a first-order linear recurrence ``h_t = a_t ⊙ h_{t-1} + b_t`` whose
``a_t`` and ``b_t`` are known for every ``t`` before the recurrence starts. Two scans solve it:

* :func:`log_space_scan` (Heinsen 2023, "Efficient Parallelization of a Ubiquitous Sequential
  Computation"): positive ``a_t, b_t`` given as logarithms, by a cumulative sum and a
  log-cumulative-sum-exp -- used by :class:`MinGRU` and :class:`MinLSTM` (Feng et al. 2024, "Were RNNs
  All We Needed?", arXiv 2410.01201, Appendix B's log-space versions);
* :func:`linear_scan`: any (real or complex) ``a_t, b_t``, by Hillis-Steele doubling over ``(a, b)``
  pairs in ``ceil(log2 T)`` rounds -- used by :class:`LRU` (Orvieto et al. 2023, "Resurrecting
  Recurrent Neural Networks for Long Sequences", arXiv 2303.06349), whose ``a_t`` is a complex ``λ``.

Conventions (as :mod:`core.models.rnn`). Inputs ``x`` are batch-first ``(B, T, input_size)``; ``H``
the hidden (output) size. ``mask`` ``(B, T)`` bool, True at each row's own steps: at a False step the
state is carried unchanged (``a = 1, b = 0``) and so is the output, so a padded batch read at ``T - 1``
gives each row's value at its own last step (end padding); front padding carries the initial state.
The initial state defaults to zeros. The gates a layer returns with ``return_gates=True`` are ``(B, T, .)``
tensors; at False steps they are what the layer computed there but did not apply: mask them before plotting.

Not here: the project's classifier around the layers (embedding, read-out, :class:`~core.models.rnn.SentimentRNN`
and its config), training, or recording gradients; the classic cells are :mod:`core.models.cells`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

Mode = Literal["scan", "step"]
MODES: tuple[str, ...] = ("scan", "step")


# ---------------------------------------------------------------------------------- the two scans

def _heinsen(log_coeffs: Tensor, log_values: Tensor) -> tuple[Tensor, Tensor]:
    """The scan's formula for ``h_0 = 0``: ``(h (B, T, H), a* (B, T, H))``. See :func:`log_space_scan`."""
    a_star = torch.cumsum(log_coeffs, dim=1)  # (B, T, H) log of a_1 ⋯ a_t
    # exp(-inf) = 0: a log b of -inf (b = 0) contributes nothing, also before the first finite one
    return torch.exp(a_star + torch.logcumsumexp(log_values - a_star, dim=1)), a_star


class _LogSpaceScan(torch.autograd.Function):
    """:func:`log_space_scan` with the recurrence's own adjoint as its backward pass.

    Autograd through the forward formula sums large terms of opposite sign (through ``a*`` directly and
    through the log-sum-exp's input ``log b - a*``) into gradients far smaller than the terms, keeping their
    rounding, ``eps · |a*|`` of each term (measured in float32: gate-bias gradients 1e-4 off, relative, at
    ``T = 40``, while the values are good to 1e-6). Instead:
    with ``λ_t = ∂L/∂h_t`` through all later steps, ``λ_t = ∂L/∂h_t|_direct + a_{t+1} λ_{t+1}`` -- the same
    linear recurrence run backwards in time, so the same scan solves it on the reversed sequence, once
    for the positive and once for the negative part of the incoming gradient (logarithms need
    positive values). Then ``∂L/∂log b_t = λ_t b_t``, ``∂L/∂log a_t = λ_t a_t h_{t-1}``, ``∂L/∂h_0 = a_1 λ_1``:
    products, no cancellation beyond that of the true sums. First-order only.
    """

    @staticmethod
    def forward(ctx, log_coeffs: Tensor, log_values: Tensor, initial: Tensor | None) -> Tensor:  # type: ignore[override]
        h, a_star = _heinsen(log_coeffs, log_values)  # (B, T, H)
        if initial is not None:
            h = h + torch.exp(a_star) * initial.unsqueeze(1)  # + (a_1 ⋯ a_t) h_0
        ctx.save_for_backward(log_coeffs, log_values, initial, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        log_coeffs, log_values, initial, h = ctx.saved_tensors
        batch = h.shape[0]
        # reversed time: λ'_s = a'_s λ'_{s-1} + g'_s with a'_s = a_{T-s} (0-based), the first one unused
        log_next = F.pad(log_coeffs[:, 1:], (0, 0, 0, 1)).flip(1)  # (B, T, H)
        signed = torch.cat([grad_h.clamp(min=0), (-grad_h).clamp(min=0)]).flip(1).log()  # (2B, T, H), -inf at 0
        parts = _heinsen(log_next.repeat(2, 1, 1), signed)[0].flip(1)  # (2B, T, H)
        lam = parts[:batch] - parts[batch:]  # (B, T, H) λ_t
        h_prev = torch.cat([h.new_zeros(h[:, :1].shape) if initial is None else initial.unsqueeze(1),
                            h[:, :-1]], dim=1)  # (B, T, H) h_{t-1}
        lam_a = lam * torch.exp(log_coeffs)  # (B, T, H) a_t λ_t
        grad_initial = lam_a[:, 0] if initial is not None and ctx.needs_input_grad[2] else None
        return lam_a * h_prev, lam * torch.exp(log_values), grad_initial


def log_space_scan(log_coeffs: Tensor, log_values: Tensor, initial: Tensor | None = None) -> Tensor:
    """``h_t = a_t ⊙ h_{t-1} + b_t`` for ``t = 1..T`` from ``log a_t`` and ``log b_t`` (Heinsen 2023).

    ``log_coeffs``, ``log_values``: ``(B, T, H)`` (broadcast to a common shape); ``b_t = 0`` allowed
    (``log b_t = -inf``, as at masked steps). ``initial``: ``h_0`` ``(B, H)``, any sign; None for zeros.
    Returns ``h_1..h_T`` ``(B, T, H)``, differentiable in all three (first order; see :class:`_LogSpaceScan`).

    With ``a*_t = Σ_{s≤t} log a_s``, ``h_t = exp(a*_t) (h_0 + Σ_{k≤t} exp(log b_k - a*_k))``, so
    ``log h_t = a*_t + logcumsumexp_k(log b_k - a*_k)`` for ``h_0 = 0``: a cumulative sum and a
    log-cumulative-sum-exp, both stable, and no product of many ``a``'s is ever formed (it would
    underflow: ``0.5^1000``). The paper prepends ``log h_0`` to ``log_values``; here ``h_0`` enters
    as the exact linear term ``exp(a*_t) h_0`` instead, so a zero or negative ``h_0`` works too.

    Precision: ``a*_t`` and the log-sum-exp are large and of opposite sign when the coefficients decay,
    so ``h_t`` carries a relative error of about ``eps · |a*_t|`` (float32: ``1e-4`` at ``|a*| ≈ 1000``),
    and so do the gradients, computed by the same scan run backwards; float64 makes it negligible.
    """
    log_coeffs, log_values = torch.broadcast_tensors(log_coeffs, log_values)
    return _LogSpaceScan.apply(log_coeffs, log_values, initial)


def linear_scan(coeffs: Tensor, values: Tensor, initial: Tensor | None = None) -> Tensor:
    """``h_t = a_t ⊙ h_{t-1} + b_t`` for ``t = 1..T`` by an associative scan; real or complex tensors.

    ``coeffs`` ``(B or 1, T, N)`` (a time-constant ``λ`` broadcasts), ``values`` ``(B, T, N)``,
    ``initial`` ``h_0`` ``(B, N)`` or None for zeros. Returns ``h_1..h_T`` ``(B, T, N)``.

    Hillis-Steele: after the round with offset ``d`` element ``t`` holds the composition of steps
    ``t-2d+1..t`` as one affine map ``h -> a h + b``; composing two is
    ``(a_t, b_t) ∘ (a_{t-d}, b_{t-d}) = (a_t a_{t-d}, a_t b_{t-d} + b_t)``. ``ceil(log2 T)`` rounds of
    ``O(T)`` each. Stable for ``|a_t| ≤ 1``: it only multiplies and adds, so powers ``λ^k`` shrink
    towards 0 (their true value) and nothing is divided by them -- the closed form
    ``λ^t Σ_k λ^{-k} b_k`` would overflow. Each round builds new tensors (no in-place update) so
    autograd can differentiate it; memory ``O(T log T)``.
    """
    a, b = coeffs, values
    steps, d = values.shape[1], 1
    while d < steps:
        b = torch.cat([b[:, :d], b[:, d:] + a[:, d:] * b[:, :-d]], dim=1)  # uses the old a: a_t b_{t-d} + b_t
        a = torch.cat([a[:, :d], a[:, d:] * a[:, :-d]], dim=1)
        d *= 2
    if initial is not None:
        b = b + a * initial.unsqueeze(1)  # a now holds a_1 ⋯ a_t
    return b


def g(x: Tensor) -> Tensor:
    """minGRU's positive activation (Feng et al. B.3): ``x + 0.5`` for ``x ≥ 0``, ``σ(x)`` below. Continuous
    (both are 0.5 at 0), linear for large inputs and always positive, so the candidate has a logarithm
    (:func:`log_g`) and a state that starts at ``h_0 ≥ 0`` stays positive."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """``log g(x)`` computed stably; ``relu`` keeps the unused branch finite (a NaN there would leak into
    ``torch.where``'s gradient)."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def _carry_mask(mask: Tensor | None, like: Tensor) -> Tensor | None:
    """``(B, T)`` -> ``(B, T, 1)`` bool for broadcasting over units; None stays None."""
    return None if mask is None else mask.to(device=like.device, dtype=torch.bool).unsqueeze(-1)


# ---------------------------------------------------------------------------------- the shared driver

class _Recurrence(nn.Module):
    """What the three layers share: argument checks, the step loop with masking, and ``forward``'s contract.

    A subclass defines :meth:`step` (one step, plain equations), :meth:`_scan` (all steps, parallel),
    :meth:`initial_state` and, when its output is not its state, :meth:`_initial_output`.
    """

    gate_names: tuple[str, ...] = ()
    input_size: int
    hidden_size: int

    def eigenvalues(self) -> Tensor | None:
        """The state matrix's eigenvalues when they are parameters (the LRU's ``λ``), else None: minGRU's and
        minLSTM's decay ``a_t`` is computed from each input, so they have no fixed eigenvalues."""
        return None

    def forward(self, x: Tensor, mask: Tensor | None = None, *, initial: Tensor | None = None,
                mode: Mode = "scan", return_gates: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """``x`` ``(B, T, input_size)`` -> outputs ``(B, T, hidden_size)`` (and the gates, with ``return_gates``).

        ``mask`` ``(B, T)`` bool (None: every step is the row's own); ``initial`` the state before step 1
        (None: zeros; see :meth:`initial_state` for its shape); ``mode`` ``"scan"`` (parallel) or
        ``"step"`` (loop over :meth:`step`): the same function, equal up to rounding.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"expected x of shape (B, T, {self.input_size}), got {tuple(x.shape)}")
        if x.shape[1] == 0:
            raise ValueError("expected at least one step (T >= 1)")
        if mask is not None and tuple(mask.shape) != tuple(x.shape[:2]):
            raise ValueError(f"mask must have shape {tuple(x.shape[:2])}, got {tuple(mask.shape)}")
        state = self.initial_state(x) if initial is None else initial
        outputs, gates = (self._scan if mode == "scan" else self._steps)(x, mask, state)
        return (outputs, gates) if return_gates else outputs

    def initial_state(self, x: Tensor) -> Tensor:
        """The zero state for the batch ``x`` ``(B, T, input_size)``: ``(B, hidden_size)``."""
        return x.new_zeros(x.shape[0], self.hidden_size)

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """One step: ``x_t`` ``(B, input_size)``, ``state`` -> ``(new_state, output (B, H), gates)``."""
        raise NotImplementedError

    def _initial_output(self, state: Tensor) -> Tensor:
        """The output carried through masked steps before a row's first own step."""
        return state

    def _state_gates(self, state: Tensor) -> dict[str, Tensor]:
        """Per-step quantities read off the state after masking (so carried at a masked step); none by default."""
        return {}

    def _scan(self, x: Tensor, mask: Tensor | None, state: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def _steps(self, x: Tensor, mask: Tensor | None, state: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The step form: a loop over :meth:`step`; a masked step keeps the old state and output."""
        keep = _carry_mask(mask, x)  # (B, T, 1) or None
        output = self._initial_output(state)  # (B, H)
        outputs, gates = [], []
        for t in range(x.shape[1]):
            new_state, new_output, step_gates = self.step(x[:, t], state)
            if keep is not None:
                m = keep[:, t]  # (B, 1)
                new_state = torch.where(m, new_state, state)
                new_output = torch.where(m, new_output, output)
            state, output = new_state, new_output
            outputs.append(output)
            gates.append({**step_gates, **self._state_gates(state)})
        stacked = {name: torch.stack([gt[name] for gt in gates], dim=1) for name in self.gate_names}  # (B, T, .)
        return torch.stack(outputs, dim=1), stacked  # (B, T, H)


# ---------------------------------------------------------------------------------- minGRU, minLSTM

class MinGRU(_Recurrence):
    """minGRU (Feng et al. 2024, §3.1 and Appendix B.3): a GRU whose gate and candidate read ``x_t`` only.

    ``z_t = σ(W_z x_t + b_z)`` (update gate), ``h̃_t = g(W_h x_t + b_h)`` (candidate, :func:`g` > 0),
    ``h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t``.

    ``z`` weighs the *new* candidate (the paper's convention; the project's GRU, :mod:`core.models.cells`,
    has it weigh the old state). Scan: with ``k = W_z x_t + b_z``, ``log(1 - z_t) = -softplus(k)`` and
    ``log z_t = -softplus(-k)``, so :func:`log_space_scan` gets ``log a_t = -softplus(k)`` and
    ``log b_t = -softplus(-k) + log g(W_h x_t + b_h)``, never a logarithm of a rounded ``σ``.
    ``h_0 = 0`` by default (the paper's code takes ``log h_0`` of a positive ``h_0``; see
    :func:`log_space_scan` for why any ``h_0`` works here). Weights: ``nn.Linear``'s default initialisation.
    Gates: ``update_gate`` ``z_t`` and ``candidate`` ``h̃_t``, ``(B, T, H)`` each.
    """

    gate_names = ("update_gate", "candidate")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.linear_z = nn.Linear(input_size, hidden_size, bias=bias)
        self.linear_h = nn.Linear(input_size, hidden_size, bias=bias)

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        z = torch.sigmoid(self.linear_z(x_t))  # (B, H) update gate
        cand = g(self.linear_h(x_t))  # (B, H) candidate, > 0
        h = (1 - z) * state + z * cand
        return h, h, {"update_gate": z, "candidate": cand}

    def _scan(self, x: Tensor, mask: Tensor | None, state: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        k = self.linear_z(x)  # (B, T, H)
        log_coeffs = -F.softplus(k)  # log(1 - z_t)
        log_z = -F.softplus(-k)  # log z_t
        log_cand = log_g(self.linear_h(x))  # (B, T, H) log h̃_t
        log_values = log_z + log_cand
        keep = _carry_mask(mask, x)
        if keep is not None:  # a masked step is h_t = 1 · h_{t-1} + 0
            log_coeffs = log_coeffs.masked_fill(~keep, 0.0)
            log_values = log_values.masked_fill(~keep, float("-inf"))
        h = log_space_scan(log_coeffs, log_values, state)  # (B, T, H)
        return h, {"update_gate": torch.exp(log_z), "candidate": torch.exp(log_cand)}


class MinLSTM(_Recurrence):
    """minLSTM (Feng et al. 2024, §3.2 and Appendix B.3): an LSTM whose gates read ``x_t`` only, without
    an output gate or a separate cell state, and with its two gates normalised to sum to 1.

    ``f_t = σ(W_f x_t + b_f)``, ``i_t = σ(W_i x_t + b_i)``, ``h̃_t = g(W_h x_t + b_h)``;
    ``f'_t = f_t / (f_t + i_t)``, ``i'_t = i_t / (f_t + i_t)``;  ``h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t``.

    The normalisation makes the state a convex mix of the old state and the candidate, so its scale does
    not grow with ``T`` (the paper's "length independence"). Scan: with ``diff = softplus(-k_f) -
    softplus(-k_i) = log i_t - log f_t``, ``log f'_t = -softplus(diff)`` and ``log i'_t = -softplus(-diff)``
    feed :func:`log_space_scan` as ``log a_t`` and ``log b_t - log h̃_t``. ``h_0 = 0`` by default.
    Gates: ``forget_gate`` ``f'_t`` and ``input_gate`` ``i'_t`` (the normalised ones) and ``candidate``.
    """

    gate_names = ("forget_gate", "input_gate", "candidate")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.linear_f = nn.Linear(input_size, hidden_size, bias=bias)
        self.linear_i = nn.Linear(input_size, hidden_size, bias=bias)
        self.linear_h = nn.Linear(input_size, hidden_size, bias=bias)

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        f = torch.sigmoid(self.linear_f(x_t))  # (B, H)
        i = torch.sigmoid(self.linear_i(x_t))  # (B, H)
        f_norm, i_norm = f / (f + i), i / (f + i)  # sum to 1
        cand = g(self.linear_h(x_t))  # (B, H)
        h = f_norm * state + i_norm * cand
        return h, h, {"forget_gate": f_norm, "input_gate": i_norm, "candidate": cand}

    def _scan(self, x: Tensor, mask: Tensor | None, state: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        diff = F.softplus(-self.linear_f(x)) - F.softplus(-self.linear_i(x))  # (B, T, H) log i - log f
        log_f = -F.softplus(diff)  # log f'_t
        log_i = -F.softplus(-diff)  # log i'_t
        log_cand = log_g(self.linear_h(x))  # (B, T, H)
        log_coeffs, log_values = log_f, log_i + log_cand
        keep = _carry_mask(mask, x)
        if keep is not None:
            log_coeffs = log_coeffs.masked_fill(~keep, 0.0)
            log_values = log_values.masked_fill(~keep, float("-inf"))
        h = log_space_scan(log_coeffs, log_values, state)  # (B, T, H)
        return h, {"forget_gate": torch.exp(log_f), "input_gate": torch.exp(log_i), "candidate": torch.exp(log_cand)}


# ---------------------------------------------------------------------------------- LRU

class LRU(_Recurrence):
    """Linear Recurrent Unit (Orvieto et al. 2023): a diagonal complex linear recurrence, then a read-out.

    With ``u_t`` the input ``(input_size,)`` and ``x_t`` the complex state ``(N,)``, ``N = state_size``:

    ``x_t = λ ⊙ x_{t-1} + γ ⊙ (B u_t)``,  ``y_t = GELU(Re(C x_t) + D u_t)``,

    ``λ_j = exp(-exp(ν_j) + i exp(θ_j))`` (the exponential parametrisation: ``|λ_j| = exp(-exp(ν_j)) < 1``
    for any real ``ν_j``, so the recurrence is stable throughout training), ``γ_j = exp(γ^log_j)``
    initialised to ``sqrt(1 - |λ_j|²)`` (the normalisation that keeps ``E|x_t|²`` of the order of
    ``E|B u_t|²`` as ``|λ| -> 1``). Ring initialisation (the paper's Appendix A): ``|λ_j|²`` uniform on
    ``[r_min², r_max²]`` -- so ``|λ_j|`` lies in ``[r_min, r_max]`` -- and the phase ``exp(θ_j)`` uniform
    on ``[0, max_phase]``. The defaults ``r_min=0.9, r_max=0.999`` put the memory time scales
    ``1 / (1 - |λ|)`` between 10 and 1000 steps, as the paper does for long sequences (its Appendix-A
    function's own defaults are ``0, 1, 6.28``; ``r_max = 1`` would give ``γ = 0``).

    ``B`` ``(N, input_size)`` and ``C`` ``(hidden_size, N)`` are complex, held as real and imaginary parts,
    Glorot-style as in the paper: ``B`` entries ``N(0, 1/(2 input_size))`` per part, ``C`` ``N(0, 1/N)``.
    Two choices the paper leaves to the surrounding block: ``D`` is a dense real ``(hidden_size, input_size)``
    matrix (the paper's ``D ⊙ u`` needs ``input_size == hidden_size``; its ``N(0, 1)`` entries become
    ``N(0, 1/input_size)`` so each output gets the same variance) and the nonlinearity is a GELU (the
    paper's block puts a GELU or GLU/MLP after the LRU). Initial state ``x_0 = 0`` by default, complex ``(B, N)``.

    Outputs are ``y_t`` ``(B, T, hidden_size)``; at a masked step both ``x`` and ``y`` are carried. Gates
    (per-step quantities for charts; the LRU has none in the LSTM sense): ``state_real`` and ``state_imag``,
    ``Re x_t`` and ``Im x_t``, ``(B, T, N)`` each. :meth:`eigenvalues`, :meth:`moduli` and :meth:`phases`
    give ``λ`` for charts.
    """

    gate_names = ("state_real", "state_imag")

    def __init__(self, input_size: int, hidden_size: int, state_size: int | None = None, *,
                 r_min: float = 0.9, r_max: float = 0.999, max_phase: float = 2 * math.pi):
        super().__init__()
        if not 0.0 <= r_min <= r_max < 1.0:
            raise ValueError(f"need 0 <= r_min <= r_max < 1, got r_min={r_min}, r_max={r_max}")
        if max_phase <= 0:
            raise ValueError(f"max_phase must be positive, got {max_phase}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.state_size = n = hidden_size if state_size is None else state_size
        self.r_min, self.r_max, self.max_phase = r_min, r_max, max_phase
        # 1 - U[0, 1) is uniform on (0, 1]: no log(0) below, even at r_min = 0
        u1, u2 = 1 - torch.rand(n), 1 - torch.rand(n)
        modulus_sq = u1 * (r_max ** 2 - r_min ** 2) + r_min ** 2  # |λ|² uniform on [r_min², r_max²]
        self.nu_log = nn.Parameter(torch.log(-0.5 * torch.log(modulus_sq)))  # exp(-exp(ν)) = |λ|
        self.theta_log = nn.Parameter(torch.log(max_phase * u2))  # exp(θ) = phase
        self.gamma_log = nn.Parameter(0.5 * torch.log1p(-modulus_sq))  # log sqrt(1 - |λ|²)
        self.B_re = nn.Parameter(torch.randn(n, input_size) / math.sqrt(2 * input_size))
        self.B_im = nn.Parameter(torch.randn(n, input_size) / math.sqrt(2 * input_size))
        self.C_re = nn.Parameter(torch.randn(hidden_size, n) / math.sqrt(n))
        self.C_im = nn.Parameter(torch.randn(hidden_size, n) / math.sqrt(n))
        self.D = nn.Parameter(torch.randn(hidden_size, input_size) / math.sqrt(input_size))

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, state_size={self.state_size}, r_min={self.r_min}, "
                f"r_max={self.r_max}, max_phase={self.max_phase:.4g}")

    # ------------------------------------------------------------------ λ, for charts

    def moduli(self) -> Tensor:
        """``|λ_j| = exp(-exp(ν_j))`` ``(N,)``, in ``(0, 1)``."""
        return torch.exp(-torch.exp(self.nu_log))

    def phases(self) -> Tensor:
        """``exp(θ_j)`` ``(N,)``: the phase as parametrised, not wrapped (``torch.angle`` of
        :meth:`eigenvalues` wraps it to ``(-π, π]``)."""
        return torch.exp(self.theta_log)

    def eigenvalues(self) -> Tensor:
        """``λ`` ``(N,)`` complex: the diagonal of the state matrix, ``exp(-exp(ν) + i exp(θ))``."""
        return torch.polar(self.moduli(), self.phases())

    # ------------------------------------------------------------------ the recurrence

    def initial_state(self, x: Tensor) -> Tensor:
        """The zero state ``(B, N)``, complex of ``x``'s precision."""
        zero = x.new_zeros(x.shape[0], self.state_size)  # (B, N)
        return torch.complex(zero, zero)

    def _input(self, u: Tensor) -> Tensor:
        """``γ ⊙ (B u)``: ``(..., input_size)`` real -> ``(..., N)`` complex, by two real products."""
        gamma = torch.exp(self.gamma_log)  # (N,)
        return torch.complex(F.linear(u, self.B_re) * gamma, F.linear(u, self.B_im) * gamma)

    def readout(self, state: Tensor, u: Tensor) -> Tensor:
        """``GELU(Re(C x) + D u)``; ``Re(C x) = C_re Re x - C_im Im x``. ``(..., N)``, ``(..., in)`` -> ``(..., H)``."""
        return F.gelu(F.linear(state.real, self.C_re) - F.linear(state.imag, self.C_im) + F.linear(u, self.D))

    def _initial_output(self, state: Tensor) -> Tensor:
        """The read-out of the initial state with no input, carried through a row's leading masked steps."""
        return self.readout(state, state.real.new_zeros(state.shape[0], self.input_size))

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """One step: ``x_t`` ``(B, input_size)`` real, ``state`` ``(B, N)`` complex -> ``(state, y (B, H), gates)``."""
        new = self.eigenvalues() * state + self._input(x_t)  # (B, N)
        return new, self.readout(new, x_t), self._state_gates(new)

    def _state_gates(self, state: Tensor) -> dict[str, Tensor]:
        return {"state_real": state.real, "state_imag": state.imag}

    def _scan(self, x: Tensor, mask: Tensor | None, state: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        lam = self.eigenvalues()[None, None, :]  # (1, 1, N), the same λ at every step
        b = self._input(x)  # (B, T, N)
        a = lam.expand(1, x.shape[1], -1)  # (1, T, N)
        keep = _carry_mask(mask, x)
        if keep is not None:  # a masked step is x_t = 1 · x_{t-1} + 0
            a = torch.where(keep, a, torch.ones_like(a))  # (B, T, N)
            b = torch.where(keep, b, torch.zeros_like(b))
        states = linear_scan(a, b, state)  # (B, T, N)
        y = self.readout(states, x)  # (B, T, H)
        if keep is not None:
            # y reads u_t as well as x_t, so at a masked step take y (and x, exactly rather than up to the
            # scan's rounding) of the row's last own step: index t + 1 in [init, step 1, ...], 0 before its first
            steps = torch.arange(1, x.shape[1] + 1, device=x.device)  # (T,)
            last = torch.where(keep[..., 0], steps, 0).cummax(dim=1).values  # (B, T)
            states = _last_own(states, state, last)
            y = _last_own(y, self._initial_output(state), last)
        return y, self._state_gates(states)


def _last_own(seq: Tensor, first: Tensor, last: Tensor) -> Tensor:
    """``[first, seq_1, ..., seq_T]`` read at ``last`` ``(B, T)``: ``seq`` ``(B, T, K)``, ``first`` ``(B, K)``."""
    padded = torch.cat([first.unsqueeze(1), seq], dim=1)  # (B, T + 1, K)
    return padded.gather(1, last.unsqueeze(-1).expand(-1, -1, seq.shape[-1]))  # (B, T, K)
