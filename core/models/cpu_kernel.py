"""The classic cells' recurrence on the CPU by a small compiled kernel (``recurrent_kernel.c``), with autograd.

Why. On a CPU, PyTorch runs the GRU and the tanh RNN as a Python-free but operator-by-operator loop (a
few small operators per time step, each a dispatch of several microseconds: the GRU reached ~20 % of the
one-core GEMM peak, ``bench/roofline.py``), and the LSTM through oneDNN, better but still spending much of
its time outside arithmetic. Here the work splits the way its shapes ask:

* everything that reads all time steps at once is one large product by PyTorch (MKL): the input
  projections ``x W_ih^T + b`` of every step before the loop; after it, the gradients of ``W_ih``, ``W_hh``,
  the biases and the inputs from the per-step gradients the kernel returns;
* the recurrence itself, ``T`` steps of ``h W_hh^T`` and the gate arithmetic per row, runs in C, each row's
  steps in one loop; rows are independent, so they split over ``torch.get_num_threads()`` threads with no
  synchronisation inside the loop (2 threads do twice the rows).

Same parameters and the same equations as ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (zero initial state,
``batch_first``), so checkpoints, the transparent path and every other path are untouched;
``tests/test_cpu_kernel.py`` checks outputs and every gradient against PyTorch's modules. The values
differ from PyTorch's in the last bits (another order of summation, the kernel's own ``exp``).

Built on first use with the system's C compiler (``$CC``, else ``cc``; about a second) into
``$RNNLAB_HOME/kernels/``, keyed by the source, the flags and the machine, and loaded with ctypes; no
compiler, a failed build or ``RNNLAB_CPU_KERNEL=0`` leaves PyTorch's own kernels in use
(:func:`available` says which, :func:`unavailable_reason` why). :func:`enabled` switches it off and on within
a process (the benchmarks compare both).

The model uses it (:func:`preferred`) for the cells it runs faster than PyTorch does (:data:`PREFERRED`) in
:meth:`core.models.cells.Cell.run` (one layer, one way, end-padded or unpadded batches) and for each direction
of :meth:`core.models.rnn.SentimentRNN._directions_apart`.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from rnnlab.core.paths import rnnlab_home

SOURCE = Path(__file__).with_name("recurrent_kernel.c")
# -ffast-math lets gcc vectorise the gate loops (their selects and the kernel's own inline exp); the library is
# linked without it: gcc < 13 links crtfastmath.o into a -ffast-math shared library, which would switch the whole
# process to flushing denormals
COMPILE_FLAGS = ("-O3", "-march=native", "-ffast-math", "-fPIC", "-std=c99", "-Wall")
LINK_FLAGS = ("-shared", "-pthread")
KINDS = {"RNN_TANH": 1, "GRU": 3, "LSTM": 4}  # the kernel's cell codes: gate blocks per cell
# The cells the model runs through the kernel, by measurement (bench/bench_kernel.py, one thread, batches of 50
# IMDB-length reviews, embedding 100, hidden 50, a training step): the GRU and the tanh RNN run faster than
# PyTorch's own loops; the LSTM runs slower than oneDNN's fused LSTM kernel, which PyTorch uses on the CPU.
PREFERRED = ("RNN_TANH", "GRU")
CACHE_PARTS = {1: 0, 3: 4, 4: 5}  # floats per unit the forward pass keeps for the backward one
BUILD_TIMEOUT_S = 120
CHUNK = 32  # a multiple of recurrent_kernel.c's CW, the columns one register block spans

_state = {"enabled": os.environ.get("RNNLAB_CPU_KERNEL", "1") != "0", "preferred": PREFERRED}


def _machine_key() -> str:
    """What -march=native depends on: the CPU's model and flags (a home shared by several machines keeps one each)."""
    try:
        lines = Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
        wanted = [ln for ln in lines if ln.startswith(("model name", "flags"))][:2]
    except OSError:
        wanted = []
    return "\n".join([platform.machine(), platform.processor(), *wanted])


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


def _build(cc: str, again: bool = False) -> Path:
    """The compiled library's path, compiling it first unless a build of this source for this machine exists
    (``again``: compile even so, over a build that would not load)."""
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256("\0".join([SOURCE.read_text(), " ".join(COMPILE_FLAGS + LINK_FLAGS), version,
                                    _machine_key()]).encode()).hexdigest()[:16]
    folder = rnnlab_home() / "kernels"
    target = folder / f"recurrent-{key}.so"
    if target.is_file() and not again:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        obj, lib = Path(tmp) / "kernel.o", Path(tmp) / "kernel.so"
        for cmd in ([cc, "-c", *COMPILE_FLAGS, str(SOURCE), "-o", str(obj)],
                    [cc, *LINK_FLAGS, str(obj), "-o", str(lib), "-lm"]):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
            if done.returncode:
                raise RuntimeError(f"{' '.join(cmd[:2])} ... failed: {(done.stderr or done.stdout).strip()[-500:]}")
        os.replace(lib, target)  # atomic: a process running beside this one loads a whole file or builds its own
    return target


@lru_cache(maxsize=1)
def _library() -> tuple[ctypes.CDLL | None, str]:
    """The loaded kernel and ``""``, or None and why not (built once per process)."""
    cc = _compiler()
    if cc is None:
        return None, "no C compiler found (set $CC)"
    try:
        try:
            lib = ctypes.CDLL(str(_build(cc)))
        except OSError:  # a damaged or truncated build in the cache: build it again, once
            lib = ctypes.CDLL(str(_build(cc, again=True)))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return None, f"the CPU kernel could not be built: {exc}"
    p, i = ctypes.c_void_p, ctypes.c_int
    lib.rnnlab_forward.argtypes = [i, i, i, i, i, p, p, p, p, p, i]
    lib.rnnlab_backward.argtypes = [i, i, i, i, i, p, p, p, p, p, p, i]
    lib.rnnlab_forward.restype = lib.rnnlab_backward.restype = i
    return lib, ""


def available() -> bool:
    """Whether the kernel is switched on and built (building it on the first call)."""
    return _state["enabled"] and _library()[0] is not None


def unavailable_reason() -> str:
    """Why :func:`available` is False (``""`` when it is True)."""
    if not _state["enabled"]:
        return "switched off (RNNLAB_CPU_KERNEL=0 or enabled(False))"
    return _library()[1]


@contextmanager
def enabled(on: bool) -> Iterator[None]:
    """Use the kernel (``on``) or PyTorch's own within the block; the setting before it comes back after."""
    before = _state["enabled"]
    _state["enabled"] = on
    try:
        yield
    finally:
        _state["enabled"] = before


@contextmanager
def preferring(modes: Iterable[str]) -> Iterator[None]:
    """Within the block, the model runs these cells (``nn.RNNBase.mode`` names) through the kernel instead of
    :data:`PREFERRED` (``bench/bench_kernel.py`` measures every cell both ways)."""
    before = _state["preferred"]
    _state["preferred"] = tuple(modes)
    try:
        yield
    finally:
        _state["preferred"] = before


def applies(mode: str, x: Tensor, weight: Tensor) -> bool:
    """Whether the kernel can run this recurrence: a supported cell, float32 CPU tensors, and the kernel available."""
    return (mode in KINDS and x.device.type == "cpu" and weight.device.type == "cpu" and x.dtype == torch.float32
            and weight.dtype == torch.float32 and x.dim() == 3 and available())


def preferred(mode: str, x: Tensor, weight: Tensor) -> bool:
    """Whether the model should run this recurrence by the kernel: it :func:`applies` and measures faster
    (:data:`PREFERRED`, or what :func:`preferring` sets)."""
    return mode in _state["preferred"] and applies(mode, x, weight)


def _padded(m: Tensor) -> Tensor:
    """``m`` ``(K, n)`` as a contiguous ``(K, n')``, zeros after column ``n``: whole chunks of the kernel's columns."""
    width = -(-m.shape[1] // CHUNK) * CHUNK
    out = m.new_zeros(m.shape[0], width)
    out[:, :m.shape[1]] = m
    return out


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class _Recurrence(torch.autograd.Function):
    """``(x (B, T, E), W_ih, W_hh, b_ih, b_hh) -> every step's h (B, T, H)``; gradients for all five."""

    @staticmethod
    def forward(ctx, kind: int, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
        lib = _library()[0]
        batch, steps, width = x.shape
        hidden = w_hh.shape[1]
        x = x.contiguous()
        if kind == KINDS["GRU"]:  # b_hn stays inside r * (W_hn h + b_hn): the kernel adds it
            bias, bhn = b_ih + torch.cat([b_hh[:2 * hidden], b_hh.new_zeros(hidden)]), b_hh[2 * hidden:].contiguous()
        else:
            bias, bhn = b_ih + b_hh, None
        xw = torch.addmm(bias, x.view(batch * steps, width), w_ih.t())  # every step's input projection at once
        hs = x.new_empty(batch, steps, hidden)
        cache = x.new_empty(batch, steps, max(CACHE_PARTS[kind], 1) * hidden)
        wt = _padded(w_hh.t())
        if lib.rnnlab_forward(kind, steps, batch, hidden, wt.shape[1], _ptr(xw), _ptr(wt), _ptr(bhn), _ptr(hs),
                              _ptr(cache), torch.get_num_threads()):
            raise RuntimeError("the CPU recurrence kernel failed (forward)")
        ctx.kind = kind
        ctx.save_for_backward(x, w_ih, w_hh, hs, cache)
        return hs

    @staticmethod
    def backward(ctx, dout: Tensor):
        x, w_ih, w_hh, hs, cache = ctx.saved_tensors
        lib, kind = _library()[0], ctx.kind
        batch, steps, width = x.shape
        hidden, gates = w_hh.shape[1], w_hh.shape[0]
        dout = dout.contiguous()
        dpre = x.new_empty(batch, steps, gates)
        duh = x.new_empty(batch, steps, gates) if kind == KINDS["GRU"] else None
        w = _padded(w_hh)
        if lib.rnnlab_backward(kind, steps, batch, hidden, w.shape[1], _ptr(dout), _ptr(hs), _ptr(cache), _ptr(w),
                               _ptr(dpre), _ptr(duh), torch.get_num_threads()):
            raise RuntimeError("the CPU recurrence kernel failed (backward)")
        duh = dpre if duh is None else duh
        dpre2, duh2 = dpre.view(batch * steps, gates), duh.view(batch * steps, gates)
        prev = torch.cat([hs.new_zeros(batch, 1, hidden), hs[:, :-1]], dim=1).view(batch * steps, hidden)  # h_{t-1}
        need = ctx.needs_input_grad
        dx = (dpre2 @ w_ih).view(batch, steps, width) if need[1] else None
        dw_ih = dpre2.t() @ x.view(batch * steps, width) if need[2] else None
        dw_hh = duh2.t() @ prev if need[3] else None
        db_ih = dpre2.sum(0) if need[4] else None
        db_hh = duh2.sum(0) if need[5] else None
        return None, dx, dw_ih, dw_hh, db_ih, db_hh


def recurrence(mode: str, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    """Every step's hidden state ``(B, T, H)`` of a one-way ``mode`` layer (``nn.RNNBase.mode``) over ``x``
    ``(B, T, E)`` from the zero state, as ``nn.RNN``/``nn.LSTM``/``nn.GRU`` compute it; check :func:`applies` first."""
    return _Recurrence.apply(KINDS[mode], x, w_ih, w_hh, b_ih, b_hh)
