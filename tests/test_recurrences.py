"""core.models.recurrences: minGRU, minLSTM and the LRU compute one function in their scan and step forms; the scans
are exact and stable over long sequences; masked steps carry the state; the gates and eigenvalues are as documented."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from rnnlab.core.models.recurrences import LRU, MinGRU, MinLSTM, g, linear_scan, log_g, log_space_scan

LAYERS = {"mingru": MinGRU, "minlstm": MinLSTM, "lru": LRU}
B, T, IN, H = 3, 24, 5, 8
F64 = torch.float64
# scan vs step: float32 to 1e-5, float64 to 1e-10, both relative and absolute; see close()
TOLERANCE = {torch.float32: 1e-5, F64: 1e-10}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def make(name: str, dtype: torch.dtype = F64) -> torch.nn.Module:
    return LAYERS[name](IN, H).to(dtype)


def end_padded(lengths: list[int], steps: int = T) -> Tensor:
    """(B, T) bool: True on each row's first ``lengths[i]`` steps."""
    return torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]


def run(layer: torch.nn.Module, x: Tensor, mask: Tensor | None, mode: str, initial: Tensor | None = None
        ) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
    """Outputs, gates, and the gradients of a fixed random projection of the outputs with respect to the
    input, the initial state (when given) and every parameter."""
    x = x.detach().clone().requires_grad_(True)
    leaves = {"input": x, **dict(layer.named_parameters())}
    if initial is not None:
        initial = leaves["initial"] = initial.detach().clone().requires_grad_(True)
    y, gates = layer(x, mask, initial=initial, mode=mode, return_gates=True)
    cotangent = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
    grads = torch.autograd.grad((y * cotangent).sum(), list(leaves.values()))
    return y, gates, dict(zip(leaves, grads, strict=True))


def close(got: Tensor, want: Tensor, tol: float, what: str) -> None:
    """``assert_close`` with ``rtol = tol`` and ``atol = tol`` times the tensor's own scale (at least 1).

    A gradient entry is a sum over ``B·T`` steps that can cancel to far below its terms (the LRU's phase
    gradients: terms of ~100, some sums near 0). float32 rounds each term to ~eps·|term|, so at such an
    entry even the step form misses the float64 answer by up to 20 times an element-wise 1e-5 (measured
    over 25 seeds); the scale-aware ``atol`` compares the two forms at the precision the tensor has.
    """
    atol = tol * max(1.0, want.abs().max().item())
    torch.testing.assert_close(got, want, rtol=tol, atol=atol, msg=lambda m: f"{what}: {m}")


def assert_forms_agree(layer: torch.nn.Module, x: Tensor, mask: Tensor | None, initial: Tensor | None = None
                       ) -> None:
    tol = TOLERANCE[x.dtype]
    y_scan, gates_scan, grads_scan = run(layer, x, mask, "scan", initial)
    y_step, gates_step, grads_step = run(layer, x, mask, "step", initial)
    close(y_scan, y_step, tol, "outputs")
    assert tuple(gates_scan) == tuple(gates_step) == layer.gate_names
    for name in layer.gate_names:
        close(gates_scan[name], gates_step[name], tol, name)
    assert tuple(grads_scan) == tuple(grads_step)
    for name in grads_scan:
        assert grads_scan[name].abs().sum() > 0, f"no gradient reaches {name}"
        close(grads_scan[name], grads_step[name], tol, f"d/d {name}")


# ---------------------------------------------------------------------------------- scan vs step

@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "end_padded"])
@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", LAYERS)
def test_scan_and_step_agree_in_values_and_gradients(name, dtype, masked):
    torch.manual_seed(0)
    layer = make(name, dtype)
    x = torch.randn(B, T, IN, dtype=dtype)
    assert_forms_agree(layer, x, end_padded([T, 13, 1]) if masked else None)


@pytest.mark.parametrize("name", LAYERS)
def test_scan_and_step_agree_from_a_given_initial_state_of_either_sign_under_any_mask(name):
    # the log-space scan cannot take log h_0 of a negative h_0: it adds h_0's exact linear term instead
    torch.manual_seed(1)
    layer = make(name)
    x = torch.randn(B, T, IN, dtype=F64)
    initial = torch.randn(B, H, dtype=F64)
    if name == "lru":
        initial = torch.complex(initial, torch.randn(B, H, dtype=F64))  # the LRU's state is complex
    assert (initial.real < 0).any() and (initial.real > 0).any()
    mask = end_padded([T, T, 17])
    mask[1, :5] = False  # front padding: carries the initial state, which must not decay meanwhile
    mask[2, 3:9] = False  # a hole in the middle of a row's steps
    assert_forms_agree(layer, x, mask, initial)


@pytest.mark.parametrize("name", LAYERS)
def test_scan_and_step_agree_at_1000_steps(name):
    torch.manual_seed(2)
    layer = LAYERS[name](2, 3).double()
    x = torch.randn(1, 1000, 2, dtype=F64)
    with torch.no_grad():
        torch.testing.assert_close(layer(x, mode="scan"), layer(x, mode="step"), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------- masking

@pytest.mark.parametrize("mode", ["scan", "step"])
@pytest.mark.parametrize("name", LAYERS)
def test_masked_steps_carry_the_state_and_the_output(name, mode):
    torch.manual_seed(3)
    layer = make(name)
    lengths = [T, 11, 1]
    x = torch.randn(B, T, IN, dtype=F64)
    with torch.no_grad():
        y, gates = layer(x, end_padded(lengths), mode=mode, return_gates=True)
        noisy = x.clone()
        noisy[~end_padded(lengths)] = 100.0  # whatever the padding holds is never read
        y_noisy = layer(noisy, end_padded(lengths), mode=mode)
        for i, n in enumerate(lengths):
            # after its length a row keeps its state (and output) at its last own step ...
            for quantity in (y, *gates.values()) if name == "lru" else (y,):
                torch.testing.assert_close(quantity[i, n:], quantity[i, n - 1].expand_as(quantity[i, n:]),
                                           rtol=0, atol=0)
            # ... which is what the row alone, unpadded, gives: read at T - 1, a padded batch is each row's own last
            alone = layer(x[i:i + 1, :n], mode=mode)
            torch.testing.assert_close(y[i:i + 1, :n], alone, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(y_noisy, y, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["scan", "step"])
@pytest.mark.parametrize("name", LAYERS)
def test_front_padding_carries_the_zero_initial_state_until_a_rows_first_own_step(name, mode):
    torch.manual_seed(4)
    layer = make(name)
    starts = [0, 9, T - 1]  # fixed batches pad at the front
    mask = torch.arange(T)[None, :] >= torch.tensor(starts)[:, None]
    x = torch.randn(B, T, IN, dtype=F64)
    with torch.no_grad():
        y = layer(x, mask, mode=mode)
        for i, s in enumerate(starts):
            assert torch.equal(y[i, :s], torch.zeros_like(y[i, :s]))  # min*: the zero state; LRU: GELU(0 + D 0) = 0
            torch.testing.assert_close(y[i:i + 1, s:], layer(x[i:i + 1, s:], mode=mode), rtol=1e-12, atol=1e-12)
    # leading log b = -inf steps must not turn the scan's gradients into NaN
    _, _, grads = run(layer, x, mask, mode)
    assert all(torch.isfinite(v).all() for v in grads.values())


# ---------------------------------------------------------------------------------- the scans

def loop(a: Tensor, b: Tensor, h: Tensor) -> Tensor:
    """The recurrence h_t = a_t h_{t-1} + b_t, one step at a time (differentiable)."""
    out = []
    for t in range(b.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("steps", [1, 7, 1000])
def test_log_space_scan_matches_a_plain_loop_in_values_and_gradients(steps):
    torch.manual_seed(5)
    a = torch.empty(2, steps, 3, dtype=F64).uniform_(0.05, 1.0)  # E[log a] ≈ -0.8
    b = torch.rand(2, steps, 3, dtype=F64) + 0.01
    h0 = torch.randn(2, 3, dtype=F64)  # either sign
    if steps == 1000:  # the product of the coefficients a cumulative product would need has underflowed to 0
        assert (torch.cumprod(a, dim=1)[:, -1] == 0).all()
    leaves = [a.log().requires_grad_(True), b.log().requires_grad_(True), h0.clone().requires_grad_(True)]
    got = log_space_scan(*leaves)
    ref_leaves = [t.detach().clone().requires_grad_(True) for t in leaves]
    want = loop(ref_leaves[0].exp(), ref_leaves[1].exp(), ref_leaves[2])
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    cotangent = torch.randn(got.shape, dtype=F64)
    grads = torch.autograd.grad((got * cotangent).sum(), leaves)
    ref_grads = torch.autograd.grad((want * cotangent).sum(), ref_leaves)
    for got_grad, want_grad in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got_grad, want_grad, rtol=1e-10, atol=1e-12)
    # float32 loses about eps * |Σ log a| (here ~800): the documented bound, not 1e-6
    got32 = log_space_scan(leaves[0].detach().float(), leaves[1].detach().float(), h0.float())
    torch.testing.assert_close(got32.double(), want.detach(), rtol=1e-3, atol=1e-6)


def test_log_space_scan_passes_gradcheck_with_zero_values_and_an_initial_state():
    torch.manual_seed(6)
    log_a = torch.randn(2, 6, 3, dtype=F64).requires_grad_(True)  # a above and below 1
    log_b = torch.randn(2, 6, 3, dtype=F64)
    log_b[:, :2] = float("-inf")  # b = 0, as at masked steps
    log_b.requires_grad_(True)
    h0 = torch.randn(2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(log_space_scan, (log_a, log_b, h0))
    got = log_space_scan(log_a, log_b)  # no initial state: h_0 = 0
    torch.testing.assert_close(got, loop(log_a.exp(), log_b.exp(), torch.zeros(2, 3, dtype=F64)))


@pytest.mark.parametrize("steps", [1, 5, 1000])
def test_linear_scan_matches_a_plain_loop_for_complex_coefficients(steps):
    torch.manual_seed(7)
    modulus = torch.empty(1, 1, 4, dtype=F64).uniform_(0.5, 0.999)
    lam = torch.polar(modulus, torch.rand(1, 1, 4, dtype=F64) * 2 * math.pi).expand(1, steps, 4)  # broadcast over B
    b = torch.complex(torch.randn(2, steps, 4, dtype=F64), torch.randn(2, steps, 4, dtype=F64))
    h0 = torch.complex(torch.randn(2, 4, dtype=F64), torch.randn(2, 4, dtype=F64))
    want = loop(lam, b, h0)
    torch.testing.assert_close(linear_scan(lam, b, h0), want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(linear_scan(lam, b), loop(lam, b, torch.zeros_like(h0)), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------- the LRU

@pytest.mark.parametrize(("r_min", "r_max", "max_phase"), [(0.9, 0.999, 2 * math.pi), (0.0, 0.5, math.pi / 10)])
def test_lru_initial_eigenvalues_lie_on_the_ring_with_phases_in_range(r_min, r_max, max_phase):
    torch.manual_seed(8)
    layer = LRU(IN, H, state_size=256, r_min=r_min, r_max=r_max, max_phase=max_phase)
    with torch.no_grad():
        moduli, phases, lam = layer.moduli(), layer.phases(), layer.eigenvalues()
        assert lam.shape == (256,) and lam.is_complex()
        assert ((moduli >= r_min - 1e-6) & (moduli <= r_max + 1e-6)).all()
        assert ((phases >= 0) & (phases <= max_phase + 1e-6)).all()
        assert moduli.max() - moduli.min() > 0.5 * (r_max - r_min)  # spread over the ring, not one radius
        torch.testing.assert_close(lam.abs(), moduli)
        torch.testing.assert_close(torch.polar(torch.ones_like(phases), torch.angle(lam)),
                                   torch.polar(torch.ones_like(phases), phases))  # the same angle, up to 2π
        # the input normalisation γ = sqrt(1 - |λ|²)
        torch.testing.assert_close(layer.gamma_log.exp(), torch.sqrt(1 - moduli ** 2))
    assert layer.B_re.shape == (256, IN) and layer.C_re.shape == (H, 256) and layer.D.shape == (H, IN)


@pytest.mark.parametrize("name", LAYERS)
def test_gradients_are_finite_at_1000_steps(name):
    torch.manual_seed(9)
    layer = LAYERS[name](2, 3)  # float32, as trained
    x = torch.randn(2, 1000, 2, requires_grad=True)
    y = layer(x, end_padded([1000, 600], steps=1000))
    y[:, -1].sum().backward()  # from the last step back through the whole sequence
    assert torch.isfinite(y).all()
    for grad in (x.grad, *(p.grad for p in layer.parameters())):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs", [{"r_min": 0.5, "r_max": 0.4}, {"r_max": 1.0}, {"max_phase": 0.0}])
def test_lru_rejects_an_empty_or_unstable_ring(kwargs):
    with pytest.raises(ValueError):
        LRU(IN, H, **kwargs)


# ---------------------------------------------------------------------------------- the gates

def test_minlstm_normalised_gates_sum_to_one():
    torch.manual_seed(10)
    layer = make("minlstm")
    x = 3 * torch.randn(B, T, IN, dtype=F64)
    for mode in ("scan", "step"):
        _, gates = layer(x, mode=mode, return_gates=True)
        total = gates["forget_gate"] + gates["input_gate"]
        torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-12)
        assert (gates["forget_gate"] > 0).all() and (gates["input_gate"] > 0).all()


def test_mingru_update_gate_lies_strictly_between_zero_and_one_and_candidate_is_positive():
    torch.manual_seed(11)
    layer = make("mingru")
    x = 3 * torch.randn(B, T, IN, dtype=F64)
    for mode in ("scan", "step"):
        h, gates = layer(x, mode=mode, return_gates=True)
        z = gates["update_gate"]
        assert ((z > 0) & (z < 1)).all()
        assert (gates["candidate"] > 0).all() and (h > 0).all()  # g > 0 and h_0 = 0: the state stays positive


@pytest.mark.parametrize("name", LAYERS)
def test_gates_are_named_and_shaped_per_step(name):
    torch.manual_seed(12)
    layer = make(name)
    y, gates = layer(torch.randn(B, T, IN, dtype=F64), return_gates=True)
    assert y.shape == (B, T, H)
    assert tuple(gates) == {"mingru": ("update_gate", "candidate"),
                            "minlstm": ("forget_gate", "input_gate", "candidate"),
                            "lru": ("state_real", "state_imag")}[name]
    assert all(v.shape == (B, T, H) and not v.is_complex() for v in gates.values())
    assert isinstance(layer(torch.randn(B, T, IN, dtype=F64)), Tensor)  # without return_gates: the outputs alone


def test_step_is_one_step_of_the_step_form():
    torch.manual_seed(13)
    layer = make("minlstm")
    x = torch.randn(B, 2, IN, dtype=F64)
    state = torch.zeros(B, H, dtype=F64)
    for t in range(2):
        state, output, _ = layer.step(x[:, t], state)
    torch.testing.assert_close(output, layer(x, mode="step")[:, -1], rtol=0, atol=0)


def test_positive_activation_and_its_log_agree_and_are_continuous():
    x = torch.linspace(-30, 30, 601, dtype=F64)
    torch.testing.assert_close(log_g(x).exp(), g(x))
    assert (g(x) > 0).all()
    torch.testing.assert_close(g(torch.tensor([-1e-12, 0.0], dtype=F64)), torch.full((2,), 0.5, dtype=F64))


@pytest.mark.parametrize("name", LAYERS)
def test_forward_rejects_an_unknown_mode_and_misshapen_inputs(name):
    layer = make(name)
    x = torch.randn(B, T, IN, dtype=F64)
    with pytest.raises(ValueError, match="mode"):
        layer(x, mode="parallel")
    with pytest.raises(ValueError, match="mask"):
        layer(x, torch.ones(B, T + 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="shape"):
        layer(x[..., :-1])
    with pytest.raises(ValueError, match="step"):
        layer(x[:, :0])
