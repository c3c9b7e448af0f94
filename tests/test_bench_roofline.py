"""bench/roofline.py's FLOP counting (pure functions; the script's timings are not tested)."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rnnlab.core.models.cells import cell_def

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def roofline():
    spec = importlib.util.spec_from_file_location("bench_roofline", ROOT / "bench" / "roofline.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_step_flops_of_a_tiny_lstm_match_a_hand_count(roofline):
    # E = 3, H = 2, G = 4: W_ih is (8, 3), W_hh (8, 2); 21 element-wise operations per unit
    step = roofline.step_flops("lstm", 3, 2)
    assert (step.input, step.recurrent, step.elementwise) == (2 * 3 * 8, 2 * 2 * 8, 21 * 2)
    assert step.total == 48 + 32 + 42


def test_training_flops_of_a_tiny_rnn_match_a_hand_count(roofline):
    # rnn, E = 3, H = 2, one output: a step is 2*3*2 + 2*2*2 + 4*2 = 28 FLOPs forward, the output layer 2*2*1 = 4
    # per review; 5 steps of 2 reviews: forward 5*28 + 2*4 = 148, training 3 x 148
    assert roofline.training_flops("rnn", 3, 2, 1, steps=5, reviews=2) == 444
    # padding steps add whole steps (forward and backward), nothing per review
    assert roofline.training_flops("rnn", 3, 2, 1, steps=9, reviews=2) - 444 == 3 * 4 * 28


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_matrix_products_of_a_step_match_torchs_flop_counter_forward_and_backward(roofline, cell):
    """The cell's own step (the equations the fused module computes), counted by PyTorch: its two products are
    the input and recurrent counts per review, and its backward pass twice the forward one (the 3x convention)."""
    batch, emb, hidden = 5, 7, 3
    gates = cell_def(cell).blocks * hidden
    x = torch.randn(batch, emb, requires_grad=True)
    h = torch.randn(batch, hidden, requires_grad=True)
    state = (h, torch.randn(batch, hidden)) if cell == "lstm" else h
    weights = [torch.randn(gates, emb), torch.randn(gates, hidden), torch.randn(gates), torch.randn(gates)]
    for w in weights:
        w.requires_grad_(True)
    step = roofline.step_flops(cell, emb, hidden)
    with FlopCounterMode(display=False) as forward:
        new, _ = cell_def(cell).step(x, state, *weights)
    assert forward.get_total_flops() == batch * (step.input + step.recurrent)
    out = new[0] if isinstance(new, tuple) else new
    with FlopCounterMode(display=False) as backward:
        out.sum().backward()
    assert backward.get_total_flops() == roofline.BACKWARD_FACTOR * forward.get_total_flops()
