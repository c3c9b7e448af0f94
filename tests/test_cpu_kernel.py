"""The compiled CPU recurrence (core.models.cpu_kernel) against PyTorch's own modules: values and every gradient."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnlab.core.config import ModelConfig
from rnnlab.core.models import cpu_kernel
from rnnlab.core.models.rnn import SentimentRNN

pytestmark = pytest.mark.skipif(not cpu_kernel.available(), reason=f"no CPU kernel: {cpu_kernel.unavailable_reason()}")

MODULES = {"RNN_TANH": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}


def both_ways(mode: str, batch: int, steps: int, threads: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Output and gradients (x, W_ih, W_hh, b_ih, b_hh) of PyTorch's module and of the kernel, same weights."""
    torch.manual_seed(steps * 31 + batch)
    module = MODULES[mode](7, 5, batch_first=True)
    x = torch.randn(batch, steps, 7, requires_grad=True)
    weights = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]
    read = torch.randint(0, steps, (batch,))  # each row read at its own step, as the model reads its last token
    mix = torch.randn(batch, 5)
    results = []
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for run in (lambda: module(x)[0], lambda: cpu_kernel.recurrence(mode, x, *weights)):
            for p in (x, *weights):
                p.grad = None
            out = run()
            ((out[torch.arange(batch), read] * mix).sum() + 0.1 * out.pow(2).sum()).backward()
            results.append([out.detach(), *(p.grad.clone() for p in (x, *weights))])
    finally:
        torch.set_num_threads(before)
    return results[0], results[1]


@pytest.mark.parametrize("mode", sorted(MODULES))
@pytest.mark.parametrize(("batch", "steps", "threads"), [(6, 9, 1), (5, 13, 2), (1, 1, 1), (3, 2, 4)])
def test_the_kernel_computes_what_pytorch_computes(mode: str, batch: int, steps: int, threads: int) -> None:
    ours, theirs = both_ways(mode, batch, steps, threads)
    for name, a, b in zip(("output", "dx", "dW_ih", "dW_hh", "db_ih", "db_hh"), ours, theirs, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5, msg=lambda m, n=name: f"{mode} {n}: {m}")


def test_more_threads_give_the_same_values_bit_for_bit() -> None:
    """Each row is computed whole by one thread, so the split changes nothing (a resumed run stays bit-exact)."""
    _, one = both_ways("GRU", 7, 11, 1)
    _, three = both_ways("GRU", 7, 11, 3)
    assert torch.equal(one[0], three[0])  # the recurrence itself; the products around it are PyTorch's


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_model_gives_the_same_logits_and_gradients_with_and_without_the_kernel(cell: str,
                                                                                   bidirectional: bool) -> None:
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(cell=cell, vocab_size=40, embedding_dim=6, hidden_size=4,
                                     bidirectional=bidirectional, dropout=0.0))
    tokens = torch.randint(2, 40, (5, 12))
    lengths = torch.tensor([12, 3, 7, 1, 9])
    grads = []
    for on in (True, False):
        with cpu_kernel.enabled(on):
            model.zero_grad()
            logits = model(tokens, lengths)
            logits.sum().backward()
            grads.append([logits.detach()] + [p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_switched_off_it_is_not_used_and_says_why() -> None:
    x, w = torch.zeros(1, 1, 1), torch.zeros(3, 1)
    assert cpu_kernel.preferred("GRU", x, w)
    assert not cpu_kernel.preferred("LSTM", x, torch.zeros(4, 1))  # slower than oneDNN's LSTM: not chosen
    assert not cpu_kernel.preferred("GRU", x.double(), w.double())  # float32 only
    with cpu_kernel.enabled(False):
        assert not cpu_kernel.available() and not cpu_kernel.preferred("GRU", x, w)
        assert "switched off" in cpu_kernel.unavailable_reason()
    assert cpu_kernel.available()


def test_a_failed_build_leaves_pytorch_in_use_with_the_reason(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RNNLAB_HOME", str(tmp_path))  # no earlier build to load
    monkeypatch.setattr(cpu_kernel, "_compiler", lambda: "/bin/false")
    cpu_kernel._library.cache_clear()
    try:
        assert not cpu_kernel.available()
        assert "could not be built" in cpu_kernel.unavailable_reason()
        model = SentimentRNN(ModelConfig(cell="gru", vocab_size=20, embedding_dim=4, hidden_size=3))
        assert model(torch.randint(2, 20, (2, 5)), torch.tensor([5, 2])).shape == (2,)
    finally:
        cpu_kernel._library.cache_clear()
    assert not list(tmp_path.glob("kernels/*.so"))


def test_a_damaged_build_in_the_cache_is_built_again(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RNNLAB_HOME", str(tmp_path))
    cpu_kernel._library.cache_clear()
    try:
        assert cpu_kernel.available()
    finally:
        cpu_kernel._library.cache_clear()
    (built,) = tmp_path.glob("kernels/*.so")
    built.unlink()  # a new file: the library this process loaded keeps its pages
    built.write_bytes(b"not a shared library")
    # a fresh process (this one would find the library it loaded under that name)
    check = "from rnnlab.core.models import cpu_kernel as k; print(k.available(), k.unavailable_reason())"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == ["True"], out.stdout + out.stderr
    assert built.read_bytes()[:4] == b"\x7fELF"
