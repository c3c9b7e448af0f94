"""core.device: device names, and flushing denormal floats while training on the CPU."""

from __future__ import annotations

import pytest
import torch

from rnnlab.core.device import flush_denormals, resolve_device

TINY = 1e-40  # a float32 denormal: below the smallest normal float32 (~1.2e-38)


def test_flush_denormals_zeroes_denormals_inside_and_restores_them_after() -> None:
    before = torch.tensor([TINY], dtype=torch.float32) * 1.0
    assert float(before) > 0  # exact denormal arithmetic by default
    with flush_denormals() as on:
        if not on:
            pytest.skip("this CPU cannot flush denormals (no SSE3/DAZ): nothing to test")
        assert float(torch.tensor([TINY], dtype=torch.float32) * 1.0) == 0.0
    assert float(torch.tensor([TINY], dtype=torch.float32) * 1.0) > 0


def test_flush_denormals_disabled_changes_nothing() -> None:
    with flush_denormals(False) as on:
        assert on is False
        assert float(torch.tensor([TINY], dtype=torch.float32) * 1.0) > 0


def test_resolve_device_auto_and_refusals() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
