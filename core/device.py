"""Pick the compute device: CUDA if present, else Apple MPS, else CPU; always overridable."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:1``/``mps`` into a device, checking it exists."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} requested but MPS is not available on this machine")
    return device


CORES_ENV = "RNNLAB_CORES"  # the cores a job may use, set by a launcher that runs several jobs at once


def machine_cores() -> int:
    """The CPUs this process may run on (its affinity on Linux, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def job_cores() -> int:
    """The CPU cores this process may keep busy: ``$RNNLAB_CORES`` where a launcher set it (a sweep running
    ``N`` jobs at once gives each its share of the cores), else :func:`machine_cores`."""
    machine = machine_cores()
    given = os.environ.get(CORES_ENV, "")
    return max(1, min(int(given), machine)) if given.isdigit() else machine


def describe_device(name: str = "auto") -> str:
    """A one-line human description, e.g. ``CUDA: NVIDIA H100`` or ``CPU (2 threads)``."""
    device = resolve_device(name)
    if device.type == "cuda":
        return f"CUDA GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS GPU"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


@contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[bool]:
    """Flush denormal floats to zero on the CPU meanwhile; yields whether it is in effect.

    Vanishing gradients and saturated gates produce denormal numbers, which x86 CPUs compute
    many times slower than normal ones: a fast-preset LSTM epoch on IMDB took 16 s flushed
    against 77-93 s not (docs/gradients.md). Values below ~1e-38 become 0, far below anything
    that changes a prediction. The previous setting is restored afterwards.
    """
    if not enabled:
        yield False
        return
    was_on = torch.set_flush_denormal(True)  # False where the CPU cannot flush
    try:
        yield was_on
    finally:
        if was_on:
            torch.set_flush_denormal(False)
