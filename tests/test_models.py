"""core.models.rnn: the fused (scan) and transparent paths agree, masking, hooks, states, TBPTT, read-outs, counts,
init -- for the classic cells, and for the modern ones in a representative subset of the cases."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rnnlab.core.config import READOUTS, ModelConfig
from rnnlab.core.models.cells import cell_def
from rnnlab.core.models.checkpoint import expected_shapes
from rnnlab.core.models.rnn import SentimentRNN, param_counts, pool, running_pool

CELLS = ("rnn", "lstm", "gru")
MODERN = ("mingru", "minlstm", "lru")  # the scan cells: in fewer cases than the classic ones (the suite's time)
VOCAB, EMB, HID = 50, 8, 6
PAD = 1
LENGTHS = [9, 3, 11, 1, 6]  # B = 5, T = 11: includes a one-token review and one that fills the batch
T = max(LENGTHS)
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
POOLED = tuple(r for r in READOUTS if r != "last")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def make_model(cell: str, layers: int = 1, bidirectional: bool = False, dtype: torch.dtype = torch.float32,
               **overrides) -> SentimentRNN:
    cfg = ModelConfig(cell=cell, vocab_size=VOCAB, embedding_dim=EMB, hidden_size=HID, num_layers=layers,
                      bidirectional=bidirectional, **overrides)
    return SentimentRNN(cfg).to(dtype).eval()


def random_tokens(lengths: list[int], width: int | None = None, front: bool = False) -> torch.Tensor:
    """(B, width) ids, real tokens drawn from every id but <pad> (so <unk> appears), padded with <pad>."""
    width = max(lengths) if width is None else width
    tokens = torch.randint(2, VOCAB, (len(lengths), width))
    tokens[tokens == 2] = 0  # some <unk>
    cols = torch.arange(width)[None, :]
    lens = torch.tensor(lengths)[:, None]
    pad = cols < width - lens if front else cols >= lens
    tokens[pad] = PAD
    return tokens


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / max(float(b.norm()), 1e-30))


def logits_and_grads(model: SentimentRNN, run) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits of ``run(model)`` and the parameter gradients of a fixed random weighting of them."""
    model.zero_grad(set_to_none=True)
    logits = run(model)
    weights = torch.linspace(-1.0, 2.0, logits.numel(), dtype=logits.dtype, device=logits.device)
    weights = weights.reshape(logits.shape)
    (logits * weights).sum().backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads


def assert_paths_agree(model: SentimentRNN, fused, transparent, tol: float) -> None:
    a, grads_a = logits_and_grads(model, fused)
    b, grads_b = logits_and_grads(model, transparent)
    assert rel_err(a, b) < tol
    assert grads_a.keys() == grads_b.keys() == {n for n, _ in model.named_parameters()}
    for name in grads_a:
        assert rel_err(grads_a[name], grads_b[name]) < tol, name


# (cell, layers, bidirectional, batching): batching "front" = fixed front padding, no lengths;
# "gather" / "packed" = end padding with lengths, the two fused strategies; "default" = end padding,
# the model's own choice (one-layer bidirectional on the CPU: each direction apart over the dense batch)
AGREEMENT_CASES = [
    (cell, layers, bidir, batching)
    for cell in CELLS for layers in (1, 2) for bidir in (False, True)
    for batching in (("front", "packed", "default") if bidir else ("front", "gather", "packed"))
]


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("cell", "layers", "bidirectional", "batching"), AGREEMENT_CASES)
def test_fused_and_transparent_paths_agree_on_logits_and_gradients(cell, layers, bidirectional, batching,
                                                                   dtype, readout):
    model = make_model(cell, layers, bidirectional, dtype, readout=readout)
    if batching == "front":
        x, lengths, packed = random_tokens(LENGTHS, front=True), None, None
    else:
        x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
        packed = None if batching == "default" else batching == "packed"
    assert_paths_agree(model, lambda m: m(x, lengths, packed=packed),
                       lambda m: m.forward_transparent(x, lengths).logits, TOL[dtype])


# the modern cells: one layer one way with end padding; two layers both ways under both batchings (their scan never
# packs: "default" is end padding with lengths)
MODERN_CASES = [(cell, layers, bidir, batching) for cell in MODERN
                for layers, bidir, batching in ((1, False, "default"), (2, True, "default"), (2, True, "front"))]


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("cell", "layers", "bidirectional", "batching"), MODERN_CASES)
def test_scan_and_transparent_paths_of_the_modern_cells_agree_on_logits_and_gradients(cell, layers, bidirectional,
                                                                                     batching, dtype, readout):
    model = make_model(cell, layers, bidirectional, dtype, readout=readout)
    if batching == "front":
        x, lengths = random_tokens(LENGTHS, front=True), None
    else:
        x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    assert_paths_agree(model, lambda m: m(x, lengths), lambda m: m.forward_transparent(x, lengths).logits, TOL[dtype])


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_real_valued_inputs_agree_between_paths_in_float64(cell, bidirectional, readout):
    model = make_model(cell, 2, bidirectional, torch.float64, input_size=3, readout=readout)
    x = torch.randn(len(LENGTHS), T, 3, dtype=torch.float64)
    lengths = torch.tensor(LENGTHS)
    assert model(x, lengths).shape == (len(LENGTHS),)
    assert_paths_agree(model, lambda m: m(x, lengths), lambda m: m.forward_transparent(x, lengths).logits,
                       TOL[torch.float64])


@pytest.mark.parametrize("cell", CELLS)
def test_output_size_above_one_gives_one_logit_per_class_in_both_paths(cell):
    model = make_model(cell, 1, True, output_size=3)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    assert model(x, lengths).shape == (len(LENGTHS), 3)
    assert model.forward_transparent(x, lengths).logits.shape == (len(LENGTHS), 3)
    assert_paths_agree(model, lambda m: m(x, lengths), lambda m: m.forward_transparent(x, lengths).logits,
                       TOL[torch.float32])


@pytest.mark.parametrize("cell", CELLS + MODERN)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_appending_end_padding_leaves_logits_unchanged(cell, bidirectional):
    model = make_model(cell, 2, bidirectional)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    longer = torch.cat([x, torch.full((len(LENGTHS), 4), PAD)], dim=1)
    with torch.no_grad():
        for run in (lambda t: model(t, lengths, packed=False), lambda t: model(t, lengths, packed=True),
                    lambda t: model.forward_transparent(t, lengths).logits):
            torch.testing.assert_close(run(longer), run(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_a_one_layer_bidirectional_model_runs_its_directions_apart_on_the_cpu_and_matches_packing(cell,
                                                                                                  monkeypatch):
    model = make_model(cell, 1, True, torch.float64)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    packed, grads_packed = logits_and_grads(model, lambda m: m(x, lengths, packed=True))
    import rnnlab.core.models.rnn as rnn

    def no_packing(*args, **kwargs):
        raise AssertionError("packed")

    monkeypatch.setattr(rnn, "pack_padded_sequence", no_packing)
    apart, grads_apart = logits_and_grads(model, lambda m: m(x, lengths))
    assert rel_err(apart, packed) < 1e-12
    assert all(rel_err(grads_apart[n], grads_packed[n]) < 1e-12 for n in grads_packed)
    longer = torch.cat([x, torch.full((len(LENGTHS), 4), PAD)], dim=1)  # end padding changes nothing
    torch.testing.assert_close(model(longer, lengths), model(x, lengths), rtol=1e-12, atol=1e-12)
    with pytest.raises(AssertionError, match="packed"):  # two layers still pack
        make_model(cell, 2, True, torch.float64)(x, lengths)


def test_bidirectional_without_lengths_reads_backward_state_at_position_zero():
    model = make_model("gru", 1, True)
    x = random_tokens(LENGTHS, front=True)
    with torch.no_grad():
        out, _ = model.rnn(model.embedding(x))
        expected = torch.cat([out[:, -1, :HID], out[:, 0, HID:]], dim=-1)
        torch.testing.assert_close(model.encode(x), expected)


@pytest.mark.parametrize("cell", CELLS)
def test_transparent_states_match_fused_outputs_at_every_real_step(cell):
    model = make_model(cell, 2, True)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    with torch.no_grad():
        seq = torch.nn.utils.rnn.pack_padded_sequence(model.embedding(x), lengths, batch_first=True,
                                                      enforce_sorted=False)
        packed_out, final = model.rnn(seq)
        fused, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True)  # (B, T, 2H)
        out = model.forward_transparent(x, lengths, return_states=True)
    mask = out.mask
    torch.testing.assert_close(out.outputs[mask], fused[mask], rtol=1e-5, atol=1e-6)
    if cell == "lstm":  # the cell state too: c_n of the last layer, forward at the last token
        c_n = final[1]
        last_cell = out.states[(1, 0)]["cell"][torch.arange(len(LENGTHS)), lengths - 1]
        torch.testing.assert_close(last_cell, c_n[2], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out.states[(1, 1)]["cell"][:, 0], c_n[3], rtol=1e-5, atol=1e-6)


EXPECTED_KEYS = {
    "lstm": {"input_gate", "forget_gate", "output_gate", "candidate", "cell", "hidden"},
    "gru": {"reset_gate", "update_gate", "candidate", "hidden"},
    "rnn": {"hidden"},
    "mingru": {"update_gate", "candidate", "hidden"},
    "minlstm": {"forget_gate", "input_gate", "candidate", "hidden"},
    "lru": {"state_real", "state_imag", "hidden"},
}


@pytest.mark.parametrize("cell", CELLS + MODERN)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_return_states_shapes_and_final_states_are_the_features(cell, bidirectional):
    layers = 2
    model = make_model(cell, layers, bidirectional)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    with torch.no_grad():
        out = model.forward_transparent(x, lengths, return_states=True)
    directions = 2 if bidirectional else 1
    assert set(out.states) == {(k, d) for k in range(layers) for d in range(directions)}
    for record in out.states.values():
        assert set(record) == EXPECTED_KEYS[cell]
        assert all(v.shape == (len(LENGTHS), T, HID) for v in record.values())
    rows = torch.arange(len(LENGTHS))
    top = out.states[(layers - 1, 0)]["hidden"]
    torch.testing.assert_close(top[rows, lengths - 1], out.features[:, :HID], rtol=0, atol=0)
    if bidirectional:
        first = out.states[(layers - 1, 1)]["hidden"][:, 0]
        torch.testing.assert_close(first, out.features[:, HID:], rtol=0, atol=0)
    assert out.features.shape == (len(LENGTHS), directions * HID)
    assert out.mask.tolist() == (torch.arange(T)[None, :] < lengths[:, None]).tolist()
    assert out.states is not None and model.forward_transparent(x, lengths).states is None


@pytest.mark.parametrize("cell", CELLS + MODERN)
def test_padding_steps_carry_the_forward_state_and_keep_the_backward_state_at_zero(cell):
    model = make_model(cell, 1, True)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    with torch.no_grad():
        out = model.forward_transparent(x, lengths, return_states=True)
    fwd, bwd = out.states[(0, 0)]["hidden"], out.states[(0, 1)]["hidden"]
    for b, n in enumerate(LENGTHS):
        assert torch.equal(fwd[b, n:], fwd[b, n - 1].expand(T - n, HID))
        assert torch.equal(bwd[b, n:], torch.zeros(T - n, HID))
        assert bool((bwd[b, :n] != 0).any(dim=-1).all())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gates_lie_in_unit_interval_and_candidates_in_minus_one_one(cell):
    model = make_model(cell, 1, False)
    with torch.no_grad():  # large weights push the gates to saturation, where bounds matter
        for p in model.rnn.parameters():
            p.mul_(20)
        out = model.forward_transparent(random_tokens(LENGTHS), torch.tensor(LENGTHS), return_states=True)
    record = out.states[(0, 0)]
    for key, value in record.items():
        if key.endswith("_gate"):
            assert 0 <= value.min() and value.max() <= 1, key
    assert -1 <= record["candidate"].min() and record["candidate"].max() <= 1
    assert record["candidate"].abs().max() > 0.99  # the scaling did saturate


def test_state_hook_sees_every_step_and_identity_leaves_outputs_unchanged():
    model = make_model("lstm", 2, True)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    calls = []

    def identity(layer, direction, t, h):
        calls.append((layer, direction, t, tuple(h.shape)))
        return h

    with torch.no_grad():
        hooked = model.forward_transparent(x, lengths, state_hook=identity).logits
        plain = model.forward_transparent(x, lengths).logits
    assert torch.equal(hooked, plain)
    expected = [(k, d, t, (len(LENGTHS), HID)) for k in range(2) for d in range(2) for t in range(T)]
    assert sorted(calls) == sorted(expected)
    backward_steps = [t for k, d, t, _ in calls if (k, d) == (0, 1)]
    assert backward_steps == list(range(T - 1, -1, -1))


def test_state_hook_output_feeds_the_next_step_and_the_classifier():
    model = make_model("rnn", 1, False)
    x = random_tokens(LENGTHS, front=True)
    with torch.no_grad():
        out = model.forward_transparent(x, state_hook=lambda layer, d, t, h: torch.zeros_like(h))
        # every step restarts from h = 0, and the classifier reads the hooked (zero) last state
        assert torch.equal(out.features, torch.zeros(len(LENGTHS), HID))
        out = model.forward_transparent(
            x, state_hook=lambda layer, d, t, h: h if t == T - 1 else torch.zeros_like(h))
        w_ih, _, b_ih, b_hh = model.weights(0, 0)
        expected = torch.tanh(model.embedding(x[:, -1]) @ w_ih.T + b_ih + b_hh)  # no memory of step T-2
        torch.testing.assert_close(out.features, expected)


@pytest.mark.parametrize("cell", CELLS + MODERN)
@pytest.mark.parametrize("with_lengths", [False, True])
def test_zero_leaf_hook_gives_dl_dh_equal_to_dl_dfeatures_at_the_last_step(cell, with_lengths):
    model = make_model(cell, 1, False)
    lengths = torch.tensor(LENGTHS) if with_lengths else None
    x = random_tokens(LENGTHS) if with_lengths else random_tokens(LENGTHS, front=True)
    leaves: dict[int, torch.Tensor] = {}

    def add_leaf(layer, direction, t, h):
        leaves[t] = torch.zeros_like(h, requires_grad=True)
        return h + leaves[t]

    out = model.forward_transparent(x, lengths, state_hook=add_leaf)
    out.features.retain_grad()
    out.logits.sum().backward()
    last = lengths - 1 if with_lengths else torch.full((len(LENGTHS),), T - 1)
    for b in range(len(LENGTHS)):
        n = int(last[b]) + 1
        torch.testing.assert_close(leaves[n - 1].grad[b], out.features.grad[b], rtol=0, atol=0)
        for t in range(n, T):  # padding never reaches the loss
            assert torch.equal(leaves[t].grad[b], torch.zeros(HID))
        if n > 1:  # and the state reaches the loss through earlier steps too; the LRU's hidden is its output
            # y_t, which no later step reads (its recurrent state is the complex x_t)
            assert (leaves[n - 2].grad[b].abs().sum() > 0) == (cell != "lru")


@pytest.mark.parametrize("cell", CELLS + MODERN)
def test_cell_step_passes_float64_gradcheck(cell):
    model = make_model(cell, 2, True, torch.float64)
    x_t = torch.randn(3, 2 * HID, dtype=torch.float64, requires_grad=True)  # layer 1 reads both directions
    parts = [torch.randn(3, HID, dtype=torch.float64, requires_grad=True) for _ in model.cell_def.state_names]

    def step(x_t, *parts):
        new, gates = model.cell_step(1, 1, x_t, model.cell_def.join(parts))
        return (*model.cell_def.parts(new), *gates.values())

    assert torch.autograd.gradcheck(step, (x_t, *parts))


@pytest.mark.parametrize("cell", CELLS)
def test_cell_step_matches_one_step_of_the_fused_module(cell):
    model = make_model(cell, 1, False)
    x_t = torch.randn(4, 1, EMB)
    h0 = torch.randn(1, 4, HID)
    c0 = torch.randn(1, 4, HID)
    with torch.no_grad():
        fused_out, _ = model.rnn(x_t, (h0, c0) if cell == "lstm" else h0)
        state = (h0[0], c0[0]) if cell == "lstm" else h0[0]
        new, _ = model.cell_step(0, 0, x_t[:, 0], state)
    torch.testing.assert_close(new[0] if cell == "lstm" else new, fused_out[:, 0])


@pytest.mark.parametrize("cell", CELLS + MODERN)
def test_running_logits_at_the_last_step_equal_the_eval_logits(cell):
    model = make_model(cell, 1, False)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    with torch.no_grad():
        out = model.forward_transparent(x, lengths)
        running = model.running_logits(out.outputs)  # (B, T)
    assert running.shape == (len(LENGTHS), T)
    torch.testing.assert_close(running[torch.arange(len(LENGTHS)), lengths - 1], out.logits)


@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_init_radius_sets_each_gate_block_spectral_radius(cell):
    model = make_model(cell, 2, True, recurrent_init_radius=1.7)
    for layer in range(2):
        for direction in range(2):
            w_hh = model.weights(layer, direction)[1].detach().double()
            blocks = w_hh.split(HID)
            assert len(blocks) == cell_def(cell).blocks
            for block in blocks:
                assert torch.linalg.eigvals(block).abs().max().item() == pytest.approx(1.7, rel=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_param_counts_match_the_seed_formula_and_pytorch_two_biases(cell):
    cfg = ModelConfig(cell=cell, vocab_size=VOCAB, embedding_dim=EMB, hidden_size=HID)
    counts = param_counts(cfg)
    g = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    n, m = EMB, HID
    assert counts["recurrent_seed_formula"] == g * (n + m + 1) * m
    assert counts["recurrent_pytorch"] == g * (n + m + 2) * m == counts["recurrent_pytorch_formula"]
    model = SentimentRNN(cfg)
    assert counts["recurrent_pytorch"] == sum(p.numel() for p in model.rnn.parameters())
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["total"] == VOCAB * EMB + g * (n + m + 2) * m + m + 1


@pytest.mark.parametrize("cell", MODERN)
def test_modern_cells_have_no_recurrent_matrix_to_rescale(cell):
    with pytest.raises(ValueError, match="no recurrent matrix"):
        make_model(cell, recurrent_init_radius=1.7)
    with pytest.raises(ValueError, match="no W_ih"):
        make_model(cell).weights(0, 0)


@pytest.mark.parametrize("cell", MODERN)
@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, True)])
def test_param_counts_of_the_modern_cells_follow_their_formulas(cell, layers, bidirectional):
    cfg = ModelConfig(cell=cell, vocab_size=VOCAB, embedding_dim=EMB, hidden_size=HID, num_layers=layers,
                      bidirectional=bidirectional)
    counts = param_counts(cfg)
    model = SentimentRNN(cfg)
    one = {"mingru": lambda n, m: 2 * (n + 1) * m, "minlstm": lambda n, m: 3 * (n + 1) * m,
           "lru": lambda n, m: 3 * m + 3 * m * n + 2 * m * m}[cell]  # each layer's parameters, written out
    d = 2 if bidirectional else 1
    assert counts["recurrent_pytorch"] == sum(p.numel() for p in model.rnn.parameters())
    assert counts["recurrent_pytorch"] == sum(d * one(n, HID) for n in [EMB] + [d * HID] * (layers - 1))
    assert counts["recurrent_seed_formula"] == counts["recurrent_pytorch_formula"] == counts["recurrent_pytorch"]
    assert expected_shapes(cfg) == {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("layers", "bidirectional"), [(2, False), (1, True), (3, True)])
def test_param_counts_formula_generalises_to_stacked_and_bidirectional(cell, layers, bidirectional):
    cfg = ModelConfig(cell=cell, vocab_size=VOCAB, embedding_dim=EMB, hidden_size=HID, num_layers=layers,
                      bidirectional=bidirectional, output_size=2)
    counts = param_counts(cfg)
    model = SentimentRNN(cfg)
    assert counts["recurrent_pytorch_formula"] == counts["recurrent_pytorch"]
    assert counts["recurrent_pytorch"] == sum(p.numel() for p in model.rnn.parameters())
    d = 2 if bidirectional else 1
    # the seed keeps one bias per gate: one G*m vector fewer per layer and direction
    gap = counts["recurrent_pytorch"] - counts["recurrent_seed_formula"]
    assert gap == layers * d * cell_def(cell).blocks * HID
    assert counts["output"] == d * HID * 2 + 2
    assert counts["total"] == counts["embedding"] + counts["recurrent_pytorch"] + counts["output"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_tbptt_at_least_the_sequence_length_equals_full_bptt(cell, layers, with_lengths):
    model = make_model(cell, layers, False)
    lengths = torch.tensor(LENGTHS) if with_lengths else None
    x = random_tokens(LENGTHS, front=not with_lengths)
    full, full_grads = logits_and_grads(model, lambda m: m(x, lengths))
    for tbptt in (T, T + 5):
        fused = lambda m, n=tbptt: m(x, lengths, tbptt=n)  # noqa: E731
        transparent = lambda m, n=tbptt: m.forward_transparent(x, lengths, tbptt=n).logits  # noqa: E731
        for run in (fused, transparent):
            logits, grads = logits_and_grads(model, run)
            assert rel_err(logits, full) < 1e-5
            assert all(rel_err(grads[k], full_grads[k]) < 1e-5 for k in full_grads)


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_tbptt_chunks_agree_between_paths(cell, layers, with_lengths, readout):
    _tbptt_chunks_agree(cell, layers, with_lengths, readout)


@pytest.mark.parametrize("cell", MODERN)
@pytest.mark.parametrize(("layers", "with_lengths", "readout"), [(2, False, "last"), (1, True, "mean_max")])
def test_tbptt_chunks_of_the_scan_agree_with_the_transparent_path(cell, layers, with_lengths, readout):
    _tbptt_chunks_agree(cell, layers, with_lengths, readout)


def _tbptt_chunks_agree(cell, layers, with_lengths, readout):
    model = make_model(cell, layers, False, torch.float64, readout=readout)
    lengths = torch.tensor(LENGTHS) if with_lengths else None
    x = random_tokens(LENGTHS, front=not with_lengths)
    assert_paths_agree(model, lambda m: m(x, lengths, tbptt=4),
                       lambda m: m.forward_transparent(x, lengths, tbptt=4).logits, TOL[torch.float64])


@pytest.mark.parametrize("cell", CELLS + MODERN)
@pytest.mark.parametrize("path", ["fused", "transparent"])
def test_tbptt_stops_the_gradient_at_the_start_of_the_last_chunk(cell, path):
    model = make_model(cell, 1, False, input_size=2)
    lengths = torch.tensor(LENGTHS)
    x = torch.randn(len(LENGTHS), T, 2)

    def input_grad(tbptt):
        xg = x.clone().requires_grad_(True)
        logits = model(xg, lengths, tbptt=tbptt) if path == "fused" else \
            model.forward_transparent(xg, lengths, tbptt=tbptt).logits
        logits.sum().backward()
        return xg.grad.abs().sum(dim=-1)  # (B, T)

    cut, full = input_grad(4), input_grad(None)
    for b, n in enumerate(LENGTHS):
        start = (n - 1) // 4 * 4  # chunks [0, 4), [4, 8), [8, 12): the last token's chunk
        assert torch.all(cut[b, :start] == 0) and torch.all(cut[b, n:] == 0)
        assert torch.all(cut[b, start:n] > 0)
        assert torch.all(full[b, :n] > 0)  # without truncation every real input gets a gradient


@pytest.mark.parametrize("path", ["fused", "transparent"])
def test_tbptt_refuses_bidirectional_models(path):
    model = make_model("lstm", 1, True)
    x = random_tokens(LENGTHS)
    with pytest.raises(ValueError, match="unidirectional"):
        model(x, tbptt=4) if path == "fused" else model.forward_transparent(x, tbptt=4)


@pytest.mark.parametrize("bad", [[0, 3, 3, 3, 3], [12, 3, 3, 3, 3], [3, 3]])
def test_invalid_lengths_raise(bad):
    model = make_model("gru")
    x = random_tokens(LENGTHS)
    with pytest.raises(ValueError, match="lengths"):
        model(x, bad)
    with pytest.raises(ValueError, match="lengths"):
        model.forward_transparent(x, bad)


@pytest.mark.parametrize("cell", ["lstm", "minlstm"])
def test_dropout_is_active_in_train_mode_in_both_paths_and_off_in_eval(cell):
    model = make_model(cell, 2, False)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x, lengths), model(x, lengths))
        assert not torch.equal(model.forward_transparent(x, lengths).logits,
                               model.forward_transparent(x, lengths).logits)
        model.eval()
        assert torch.equal(model(x, lengths), model(x, lengths))


def test_padding_embedding_is_zero_and_gets_no_gradient():
    model = make_model("gru")
    x = random_tokens(LENGTHS, front=True)
    _, grads = logits_and_grads(model, lambda m: m.forward_transparent(x).logits)
    assert torch.equal(model.embedding.weight[PAD], torch.zeros(EMB))
    assert torch.equal(grads["embedding.weight"][PAD], torch.zeros(EMB))


def test_unknown_cell_type_raises_value_error():
    cfg = ModelConfig(vocab_size=VOCAB)
    bad = dataclasses.replace(cfg)
    object.__setattr__(bad, "cell", "transformer")  # bypass ModelConfig's own check
    with pytest.raises(ValueError, match="transformer"):
        SentimentRNN(bad)


# -- read-outs ----------------------------------------------------------------------------------------------------
def by_hand(states: torch.Tensor, readout: str) -> torch.Tensor:
    """The pool of ``(n, F)`` states, written out."""
    mean, top = states.mean(0), states.max(0).values
    return {"mean": mean, "max": top, "mean_max": torch.cat([mean, top])}[readout]


@pytest.mark.parametrize("readout", POOLED)
@pytest.mark.parametrize(("cell", "layers", "bidirectional"),
                         [(c, *shape) for c in CELLS for shape in ((1, False), (1, True), (2, True))]
                         + [(c, 2, True) for c in MODERN])
def test_pooled_features_of_an_end_padded_review_equal_those_of_the_review_alone(cell, layers, bidirectional,
                                                                                 readout):
    model = make_model(cell, layers, bidirectional, torch.float64, readout=readout)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    longer = torch.cat([x, torch.full((len(LENGTHS), 3), PAD)], dim=1)  # more end padding
    with torch.no_grad():
        alone = torch.cat([model.encode(x[b:b + 1, :n]) for b, n in enumerate(LENGTHS)])  # no padding at all
        for features in (model.encode(x, lengths), model.encode(longer, lengths, packed=True),
                         model.encode(longer, lengths, packed=False),
                         model.forward_transparent(longer, lengths).features):
            torch.testing.assert_close(features, alone, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("readout", POOLED)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_pooling_leaves_out_the_front_padding_of_fixed_batches(cell, bidirectional, readout):
    model = make_model(cell, 1, bidirectional, torch.float64, readout=readout)
    x = random_tokens(LENGTHS, front=True)
    with torch.no_grad():
        out, _ = model.rnn(model.embedding(x))  # (B, T, D*H): the states at every step, <pad> steps included
        want = torch.stack([by_hand(out[b, T - n:], readout) for b, n in enumerate(LENGTHS)])
        with_pads = torch.stack([by_hand(out[b], readout) for b in range(len(LENGTHS))])
        assert not torch.allclose(with_pads, want)  # the padding would change the pool: leaving it out is seen
        torch.testing.assert_close(model.encode(x), want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(model.forward_transparent(x).features, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("readout", READOUTS)
def test_the_output_layer_reads_twice_the_features_under_mean_max_only(readout):
    model = make_model("gru", 2, True, readout=readout, output_size=3)
    cfg = model.cfg
    width = (2 if readout == "mean_max" else 1) * 2 * HID
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    assert model.fc.in_features == width
    assert model.encode(x, lengths).shape == (len(LENGTHS), width)
    assert model(x, lengths).shape == (len(LENGTHS), 3)
    assert param_counts(cfg)["output"] == width * 3 + 3
    assert expected_shapes(cfg) == {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("cell", "readout"), [(c, r) for c in CELLS for r in READOUTS] + [(c, "mean") for c in MODERN])
def test_running_logits_at_step_t_are_the_logits_of_the_first_t_tokens(cell, readout):
    model = make_model(cell, 1, False, torch.float64, readout=readout)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    with torch.no_grad():
        out = model.forward_transparent(x, lengths)
        running = model.running_logits(out.outputs, out.mask)  # (B, T)
        for b, n in enumerate(LENGTHS):
            prefixes = torch.cat([model(x[b:b + 1, :t + 1]) for t in range(n)])  # each prefix read alone
            torch.testing.assert_close(running[b, :n], prefixes, rtol=1e-10, atol=1e-12)
        front = random_tokens(LENGTHS, front=True)  # fixed batches: the last step is the prediction
        out = model.forward_transparent(front)
        torch.testing.assert_close(model.running_logits(out.outputs, model.own_steps(front))[:, -1], out.logits)


@pytest.mark.parametrize("readout", POOLED)
def test_a_row_without_real_steps_pools_to_zeros_and_the_running_pool_ends_at_the_pool(readout):
    outputs = torch.randn(3, 5, 4)
    mask = torch.tensor([[False] * 5, [True, False, True, False, False], [True] * 5])
    pooled, running = pool(outputs, mask, readout), running_pool(outputs, mask, readout)
    width = 8 if readout == "mean_max" else 4
    assert pooled.shape == (3, width) and running.shape == (3, 5, width)
    assert torch.equal(pooled[0], torch.zeros(width)) and torch.equal(running[0], torch.zeros(5, width))
    torch.testing.assert_close(running[:, -1], pooled)
    torch.testing.assert_close(pooled[1], by_hand(outputs[1, [0, 2]], readout))
    torch.testing.assert_close(pool(outputs, None, readout), torch.stack([by_hand(o, readout) for o in outputs]))


@pytest.mark.parametrize("readout", POOLED)
@pytest.mark.parametrize("cell", CELLS)
def test_with_pooling_every_real_step_gets_gradient_directly_not_only_the_last(cell, readout):
    # cut the recurrence (tbptt 1): what reaches h_t then comes from the read-out alone
    model = make_model(cell, 1, False, torch.float64, readout=readout)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    leaves: dict[int, torch.Tensor] = {}

    def add_leaf(layer, direction, t, h):
        leaves[t] = torch.zeros_like(h, requires_grad=True)
        return h + leaves[t]

    model.forward_transparent(x, lengths, state_hook=add_leaf, tbptt=1).logits.sum().backward()
    reached = torch.stack([leaves[t].grad.abs().sum(-1) for t in range(T)], dim=1) > 0  # (B, T)
    own = torch.arange(T)[None, :] < lengths[:, None]
    assert not (reached & ~own).any()  # padding never reaches the loss
    if readout == "max":  # only where some unit peaks, but that is more than the last step of a longer review
        assert reached[0].sum() > 1
    else:
        assert torch.equal(reached, own)
