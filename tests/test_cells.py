"""core.models.cells: each classic cell's definition is PyTorch's cell, each modern one its layer's step; the state
layout; the contracts its users rely on."""

from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.core.analysis.gradients import align, probe_gradients, read_out_span
from rnnlab.core.config import CELLS, ModelConfig
from rnnlab.core.models.cells import CELLS_BY_NAME, Cell, cell_def
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.training.trainer import Objective

TORCH_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
N, IN, H = 4, 5, 3
F64 = torch.float64
CLASSIC = [name for name in CELLS if cell_def(name).pytorch_rnn]
MODERN = [name for name in CELLS if not cell_def(name).pytorch_rnn]
MULTI_PART = [name for name in CLASSIC if len(cell_def(name).state_names) > 1]  # the LSTM


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def random_state(cell: Cell, n: int = N):
    return cell.join([torch.randn(n, H, dtype=F64) for _ in cell.state_names])


def test_the_registry_holds_the_configs_cell_names():
    assert set(CELLS_BY_NAME) == set(CELLS)
    assert all(cell.name == name for name, cell in CELLS_BY_NAME.items())
    with pytest.raises(ValueError, match="transformer"):
        cell_def("transformer")


@pytest.mark.parametrize("name", CLASSIC)
def test_step_equals_one_step_of_pytorchs_own_cell(name):
    cell = cell_def(name)
    ref = TORCH_CELLS[name](IN, H).double()
    x, state = torch.randn(N, IN, dtype=F64), random_state(cell)
    new, gates = cell.step(x, state, ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    with torch.no_grad():
        want = ref(x, state)  # LSTMCell takes and returns (h, c); the others h
    for got, expected in zip(cell.parts(new), cell.parts(want), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert tuple(gates) == cell.gates and all(g.shape == (N, H) for g in gates.values())
    assert ref.weight_ih.shape == (cell.blocks * H, IN)  # PyTorch stacks one block per gate


@pytest.mark.parametrize("name", CLASSIC)
def test_fused_module_holds_the_cells_blocks_and_computes_the_same_step(name):
    cell = cell_def(name)
    fused = cell.fused(IN, H, batch_first=True).double()
    assert fused.weight_hh_l0.shape == (cell.blocks * H, H)
    x, state = torch.randn(N, IN, dtype=F64), random_state(cell)
    with torch.no_grad():
        out, _ = fused(x[:, None], cell.join([p[None] for p in cell.parts(state)]))  # (1, N, H) parts
        new, _ = cell.step(x, state, fused.weight_ih_l0, fused.weight_hh_l0, fused.bias_ih_l0, fused.bias_hh_l0)
    torch.testing.assert_close(cell.hidden(new), out[:, 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", CELLS)
def test_state_flatten_and_split_round_trip(name):
    cell = cell_def(name)
    state = random_state(cell)
    flat = cell.flatten(state)
    assert flat.shape == (N, len(cell.state_names) * H)
    back = cell.split(flat)
    assert type(back) is type(state)
    for a, b in zip(cell.parts(back), cell.parts(state), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(cell.flatten(back), flat)
    assert torch.equal(cell.hidden(state), flat[:, :H])  # h first
    zero = cell.zero_state(torch.zeros(N, H, dtype=F64))
    assert cell.flatten(zero).shape == flat.shape and not cell.flatten(zero).any()
    h = torch.randn(N, H, dtype=F64)
    replaced = cell.parts(cell.with_hidden(state, h))
    assert torch.equal(replaced[0], h)
    assert all(torch.equal(a, b) for a, b in zip(replaced[1:], cell.parts(state)[1:], strict=True))


@pytest.mark.parametrize("name", CELLS)
def test_gate_names_and_count_match_what_the_transparent_path_records(name):
    cell = cell_def(name)
    model = SentimentRNN(ModelConfig(cell=name, vocab_size=20, embedding_dim=IN, hidden_size=H)).eval()
    assert model.cell_def is cell
    if cell.pytorch_rnn:
        assert model.rnn.weight_ih_l0.shape[0] == cell.blocks * H
    with torch.no_grad():
        out = model.forward_transparent(torch.randint(2, 20, (2, 6)), return_states=True)
    assert tuple(out.states[(0, 0)]) == cell.recorded
    assert cell.recorded == (*cell.gates, *cell.state_names[1:], "hidden")


@pytest.mark.parametrize("name", CLASSIC)
def test_local_derivatives_are_the_diagonal_of_the_steps_jacobian(name):
    # the step is element-wise once wx and uh are known: every other Jacobian entry is zero
    cell = cell_def(name)
    k, g = len(cell.state_names), cell.blocks
    wx, uh, state = torch.randn(N, g * H, dtype=F64), torch.randn(N, g * H, dtype=F64), random_state(cell)
    local = cell.local_derivatives(wx, uh, state)

    def new_state(wx, uh, *parts):
        return cell.flatten(cell.pointwise(wx, uh, cell.join(parts))[0])  # (N, K*H)

    jacobians = torch.autograd.functional.jacobian(new_state, (wx, uh, *cell.parts(state)))
    inputs = [(jacobians[0], local.wx, g), (jacobians[1], local.uh, g)]
    inputs += [(jac, local.prev[:, :, m, None], 1) for m, jac in enumerate(jacobians[2:])]
    same_unit = (torch.eye(N, dtype=torch.bool)[:, None, None, :, None, None]
                 & torch.eye(H, dtype=torch.bool)[None, None, :, None, None, :])  # (N, 1, H, N, 1, H)
    for jac, partials, blocks in inputs:
        jac = jac.reshape(N, k, H, N, blocks, H)  # d new (n, part, unit) / d input (n', block, unit')
        assert not jac.masked_select(~same_unit.expand_as(jac)).any()
        torch.testing.assert_close(torch.einsum("nkjnbj->nkbj", jac), partials, rtol=1e-12, atol=1e-12)
    for got, want in zip(local.state, cell.parts(cell.pointwise(wx, uh, state)[0]), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("name", MULTI_PART)
def test_later_state_parts_enter_affinely_with_coefficients_free_of_them(name):
    # introspection rebuilds c from the fused h on this: c_t = slope_t * c_{t-1} + offset_t
    cell = cell_def(name)
    wx, uh = torch.randn(N, cell.blocks * H, dtype=F64), torch.randn(N, cell.blocks * H, dtype=F64)
    h = torch.randn(N, H, dtype=F64)
    rest = [torch.randn(N, H, dtype=F64) for _ in cell.state_names[1:]]
    at_zero = cell.local_derivatives(wx, uh, cell.join([h, *[torch.zeros_like(h)] * len(rest)]))
    at_rest = cell.local_derivatives(wx, uh, cell.join([h, *rest]))
    slope = at_zero.prev[:, 1:, 1:]  # (N, K-1, K-1, H)
    torch.testing.assert_close(at_rest.prev[:, 1:, 1:], slope, rtol=0, atol=0)
    predicted = torch.stack(at_zero.state[1:], 1) + (slope * torch.stack(rest, 1)[:, None]).sum(2)
    torch.testing.assert_close(torch.stack(at_rest.state[1:], 1), predicted, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------- the modern cells

@pytest.mark.parametrize("name", MODERN)
def test_a_modern_cells_step_is_its_layers_step_and_its_state_parts_the_layers_state(name):
    cell = cell_def(name)
    stack = cell.build(IN, H, num_layers=2, bidirectional=True).double()
    rec = stack["l1_reverse"]  # layer 1 reads both directions below it
    assert cell.step_params(stack, 1, 1) == (rec,)
    x, state = torch.randn(N, 2 * H, dtype=F64), random_state(cell)
    new, gates = cell.recur(cell.project(stack, 1, 1, x), state, rec)
    layer_new, out, layer_gates = rec.step(x, cell.layer_state(cell.parts(state)))
    assert tuple(gates) == cell.gates and all(g.shape == (N, H) for g in gates.values())
    parts = cell.parts(new)
    assert torch.equal(parts[0], out)  # h: the layer's output
    torch.testing.assert_close(cell.layer_state(parts), layer_new, rtol=0, atol=0)  # the rest: its state


@pytest.mark.parametrize("name", MODERN)
@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, True)])
def test_a_modern_cells_shapes_and_count_are_its_modules(name, layers, bidirectional):
    cell = cell_def(name)
    stack = cell.build(IN, H, layers, bidirectional)
    assert cell.param_shapes(IN, H, layers, bidirectional) == {k: tuple(v.shape) for k, v in stack.state_dict().items()}
    d = 2 if bidirectional else 1
    formula = sum(d * cell.layer_params(n, H) for n in [IN] + [d * H] * (layers - 1))
    assert formula == sum(p.numel() for p in stack.parameters())
    with pytest.raises(ValueError, match="no recurrent matrix"):
        cell.rescale_recurrent(stack, 1.0, layers, d)


# ---------------------------------------------------------------------------------- a new cell

def _leaky(wx, uh, state):
    """A toy with one block and a second state part: ``m_t = k ⊙ m_{t-1} + (1 - k) ⊙ tanh(a)``, ``h_t = tanh(m_t)``."""
    _, m = state
    a = wx + uh
    keep = torch.sigmoid(a)
    m = keep * m + (1 - keep) * torch.tanh(a)
    return (torch.tanh(m), m), {"keep_gate": keep}


# one block, so the vanilla RNN's fused module can hold its weights (its fused path is not this cell)
LEAKY = Cell("leaky", blocks=1, gates=("keep_gate",), pointwise=_leaky, fused=partial(nn.RNN, nonlinearity="tanh"),
             state_names=("hidden", "memory"))


def leaky_model(monkeypatch, **kw) -> SentimentRNN:
    monkeypatch.setitem(CELLS_BY_NAME, "leaky", LEAKY)
    cfg = dataclasses.replace(ModelConfig(vocab_size=20, embedding_dim=IN, hidden_size=H, dropout=0.0, **kw))
    object.__setattr__(cfg, "cell", "leaky")  # a real new cell would be listed in core.config.CELLS too
    return SentimentRNN(cfg).double().eval()


def test_a_new_cell_runs_through_the_transparent_path_with_no_other_edit(monkeypatch):
    model = leaky_model(monkeypatch, num_layers=2, bidirectional=True)
    assert model.cell_def is LEAKY
    x, lengths = torch.randint(2, 20, (3, 7)), torch.tensor([7, 2, 5])
    with torch.no_grad():
        out = model.forward_transparent(x, lengths, return_states=True)
    assert set(out.states) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert tuple(out.states[(0, 0)]) == ("keep_gate", "memory", "hidden")
    # the first layer's forward direction, written out by hand
    w_ih, w_hh, b_ih, b_hh = model.weights(0, 0)
    h = m = torch.zeros(3, H, dtype=F64)
    for t in range(7):
        a = model.embedding(x[:, t]) @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        keep = torch.sigmoid(a)
        real = (t < lengths)[:, None]
        m = torch.where(real, keep * m + (1 - keep) * torch.tanh(a), m)
        h = torch.where(real, torch.tanh(m), h)
        torch.testing.assert_close(out.states[(0, 0)]["memory"][:, t], m, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(out.states[(0, 0)]["hidden"][:, t], h, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("tbptt", [None, 3])
def test_a_new_cell_gets_exact_input_gradients_from_the_recorder(monkeypatch, tbptt):
    # the recorder carries dL/dm back through the new cell's second state part with no per-cell code
    model = leaky_model(monkeypatch)
    lengths = torch.tensor([7, 2, 5])
    x = torch.randint(2, 20, (3, 7))
    x[torch.arange(7)[None, :] >= lengths[:, None]] = 1
    y = torch.tensor([1.0, 0.0, 1.0], dtype=F64)
    rec = probe_gradients(model, x, lengths, y, Objective("bce"), use_lengths=True, tbptt=tbptt, jacobian="frobenius")
    emb = model.embed(x).detach().requires_grad_(True)
    handle = model.embedding.register_forward_hook(lambda mod, inp, out: emb)
    out = model.forward_transparent(x, lengths, tbptt=tbptt)
    handle.remove()
    (grad,) = torch.autograd.grad(Objective("bce").loss(out.logits, y, reduction="none").sum(), emb)
    first, last = read_out_span(lengths, 7, front_padded=False)
    np.testing.assert_allclose(rec.dx, align(grad.norm(dim=-1), first, last).numpy(), rtol=1e-10, atol=1e-14)
    assert np.nanmax(rec.dx) > 0 and np.all(np.isfinite(rec.jac[~np.isnan(rec.jac)]))
