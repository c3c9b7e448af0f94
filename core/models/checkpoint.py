"""Saving and loading model weights and whole training states as safetensors, validated.

Nothing here unpickles: weights are safetensors, the config and vocabulary are JSON. A
checkpoint from outside (a user's upload) is accepted only when every tensor name, shape and
dtype matches the model its config describes.

A training state (:class:`TrainingState`, what :meth:`core.training.trainer.Trainer.state_dict`
returns) is one safetensors file: every tensor (weights, best weights, optimiser moments, RNG
states) is a tensor of the file, every scalar (epoch, step, the per-epoch records, the
optimiser's hyperparameters, numpy's and Python's RNG states) is in one JSON string of the
header's metadata. Not here: when to write one (``core.training.checkpointer``), run folders.

Integrity. Every file written here carries a SHA-256 of its contents in its header's metadata
(:data:`DIGEST_KEY`, :func:`tensors_digest`: each tensor's name, dtype, shape and bytes in name
order, and a training state's JSON scalars too), and every reader that reads the tensors checks it:
a flipped bit or an edit is refused as :class:`CheckpointError` naming the file, never loaded as a
quietly different model. A file written before digests existed (none in its metadata) still loads.
Reading only a header (:func:`read_training_header`, the run list's checks) cannot tell.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from rnnlab.core import atomic
from rnnlab.core.config import ModelConfig
from rnnlab.core.models.cells import cell_def
from rnnlab.core.models.rnn import SentimentRNN, readout_blocks
from rnnlab.core.models.safetensors_header import HeaderError, read_safetensors_header


class CheckpointError(ValueError):
    """A checkpoint that is not safetensors, or does not fit its config."""


DIGEST_KEY = "rnnlab.sha256"  # the header metadata key of the contents' SHA-256 (hex)


def tensors_digest(names: Iterable[str], tensor: Callable[[str], torch.Tensor], extra: str = "") -> str:
    """The SHA-256 (hex) of the tensors ``names`` (each fetched by ``tensor(name)``, one at a time): each one's
    name, dtype, shape and bytes, in name order.

    Names, dtypes and shapes are hashed with the bytes, so a renamed or reshaped tensor changes the digest
    as a flipped bit does; ``extra`` (a training state's JSON scalars) is hashed after them.
    """
    h = hashlib.sha256()
    for name in sorted(names):
        t = tensor(name)
        h.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        # the raw bytes whatever the dtype (bfloat16 has no numpy twin): little-endian, as safetensors stores them
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    h.update(extra.encode())
    return h.hexdigest()


def _check_digest(path: Path, metadata: dict[str, str], digest: str) -> None:
    """Raise :class:`CheckpointError` when ``path`` records a digest and ``digest`` is not it (none recorded: an
    older file, accepted)."""
    want = metadata.get(DIGEST_KEY)
    if want is not None and want != digest:
        raise CheckpointError(f"{path.name} changed after it was written (a flipped bit or an edit): the SHA-256 of "
                              f"its contents is {digest[:12]}..., the digest written with them {want[:12]}...")


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Write ``model``'s weights as safetensors, atomically, with their SHA-256 in the header (:data:`DIGEST_KEY`)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={DIGEST_KEY: tensors_digest(state, state.__getitem__)})


def refuse_pickle(path: Path) -> None:
    """Raise :class:`CheckpointError` when ``path`` cannot be read or starts like a pickle."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from e
    # a pickle (torch.save) starts with 0x80 or a zip header: refuse it before anything parses it.
    # A safetensors file starts with its header's length (8 bytes, little-endian), then "{"; that
    # length itself starts with 0x80 for 1 header size in 32, so the magic counts only when the file
    # is not laid out so. Nothing unpickles either way: the parser refuses what it cannot read.
    laid_out_as_safetensors = head[8:9] == b"{"
    if not laid_out_as_safetensors and (head[:2] == b"PK" or head[:1] == b"\x80"):
        raise CheckpointError(f"{path.name} is a pickle/torch.save file; only safetensors checkpoints are accepted")


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a weights file, checked against the digest written with them (when it has one)."""
    path = Path(path)
    refuse_pickle(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path.name} is not a valid safetensors file: {e}") from e
    _check_digest(path, metadata, tensors_digest(tensors, tensors.__getitem__))
    return tensors


def verify_digest(path: str | Path) -> None:
    """Check a file written here (weights or a training state) against its digest, one tensor in memory at a time.

    For those who pass a file on without loading it (an export): :class:`CheckpointError` when it is not
    safetensors or its contents changed after they were written; a file without a digest passes.
    """
    path = Path(path)
    refuse_pickle(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if DIGEST_KEY not in metadata:
                return  # written before digests: nothing to compare with
            extra = metadata.get("state", "") if metadata.get("format") == TRAINING_STATE_FORMAT else ""
            digest = tensors_digest(f.keys(), f.get_tensor, extra=extra)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path.name} is not a valid safetensors file: {e}") from e
    _check_digest(path, metadata, digest)


# safetensors' dtype names of the dtypes a model's weights may have
_DTYPE_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16"}


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor of the :class:`~core.models.rnn.SentimentRNN` ``cfg`` describes.

    Computed from the config alone (nothing is allocated), so a checkpoint can be judged before a
    model is built: an embedding ``(V, E)`` (text tasks), the recurrent layers' tensors as the cell's
    definition gives them (:meth:`~core.models.cells.Cell.param_shapes`; classic cells, per layer ``k``
    and direction, the fused module's ``weight_ih`` ``(G H, n_k)``, ``weight_hh`` ``(G H, H)``,
    ``bias_ih``/``bias_hh`` ``(G H,)`` with ``n_0`` the input width and ``n_k = D H`` above; modern cells
    their layers' ``l{k}[_reverse].*``), and the output layer ``(O, D H)`` (``mean_max`` read-out:
    ``(O, 2 D H)``), ``(O,)``.
    """
    h, d = cfg.hidden_size, 2 if cfg.bidirectional else 1
    shapes: dict[str, tuple[int, ...]] = {}
    if cfg.input_size is None:
        shapes["embedding.weight"] = (cfg.vocab_size, cfg.embedding_dim)
    n_in = cfg.input_size if cfg.input_size is not None else cfg.embedding_dim
    recurrent = cell_def(cfg.cell).param_shapes(n_in, h, cfg.num_layers, cfg.bidirectional)
    shapes.update({f"rnn.{name}": shape for name, shape in recurrent.items()})
    shapes["fc.weight"] = (cfg.output_size, readout_blocks(cfg.readout) * d * h)
    shapes["fc.bias"] = (cfg.output_size,)
    return shapes


def weights_problems(cfg: ModelConfig, tensors: dict[str, Any], dtype: str = "F32") -> list[str]:
    """Every way the tensors a safetensors header declares (:class:`~core.models.safetensors_header.TensorInfo`)
    differ from what ``cfg`` implies: missing and unexpected names, shapes, dtypes."""
    want = expected_shapes(cfg)
    problems = []
    missing = [k for k in want if k not in tensors]
    unexpected = sorted(set(tensors) - set(want))
    if missing:
        problems.append(f"the file does not match the config: it is missing {', '.join(missing[:5])}"
                        + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"the file does not match the config: it holds unexpected {', '.join(unexpected[:5])}"
                        + (" ..." if len(unexpected) > 5 else ""))
    for k, shape in want.items():
        t = tensors.get(k)
        if t is None:
            continue
        if t.shape != shape:
            problems.append(f"tensor {k}: the weights have {t.shape}, the config expects {shape}")
        if t.dtype != dtype:
            problems.append(f"tensor {k}: the weights are {t.dtype}, the model is {dtype}")
    return problems


def _header(path: Path) -> dict[str, Any]:
    try:
        return read_safetensors_header(path)
    except HeaderError as e:
        raise CheckpointError(f"{path.name} is not a valid safetensors file: {e}") from None


def load_model(cfg: ModelConfig, path: str | Path) -> torch.nn.Module:
    """Build the model ``cfg`` describes and load weights into it, after checking they fit.

    The file's header (names, shapes, dtypes: no tensor data) is compared with the shapes the
    config implies *before* anything is built or read: a config claiming a huge model beside
    small weights costs nothing. Every mismatch is reported at once.
    """
    path = Path(path)
    refuse_pickle(path)
    problems = weights_problems(cfg, _header(path))
    if problems:
        raise CheckpointError(f"{path.name} does not fit the config: " + "; ".join(problems))
    model = SentimentRNN(cfg)
    state = read_weights(path)
    expected = model.state_dict()
    for k, v in expected.items():  # the header said so; the tensors themselves must agree
        if state[k].shape != v.shape or state[k].dtype != v.dtype:
            raise CheckpointError(f"tensor {k}: checkpoint has {tuple(state[k].shape)} {state[k].dtype}, "
                                  f"config expects {tuple(v.shape)} {v.dtype}")
        if not torch.isfinite(state[k]).all():
            raise CheckpointError(f"tensor {k} holds non-finite values")
    model.load_state_dict(state)
    model.eval()
    return model


# ---------------------------------------------------------------------------------- training state

TRAINING_STATE_FORMAT = "rnnlab.training_state"  # the metadata key "format" of every training-state file
TRAINING_STATE_VERSION = 1
RESULT_KEYS = ("epochs", "best_epoch", "best_val_loss", "samples_seen", "steps", "skipped_steps", "train_time_s")
_TENSOR_GROUPS = ("model", "best_model", "optimizer", "rng")  # tensor names are "<group>.<rest>"


@dataclass
class TrainingState:
    """Everything a trainer needs to continue, bit for bit, after a complete epoch.

    Tensors live on the CPU. ``optimizer`` is ``torch.optim.Optimizer.state_dict()`` (``state``:
    ``{param index: {name: tensor or number}}``, ``param_groups``: lists of JSON values);
    ``result`` holds :data:`RESULT_KEYS` of the trainer's ``TrainResult`` (the per-epoch records
    are JSON-able dicts). ``numpy_rng`` is ``np.random.get_state()`` and ``python_rng``
    ``random.getstate()``, both with their tuples and arrays as lists.
    """

    epoch: int  # the last complete epoch (0-based); training continues at epoch + 1; -1: none yet
    step: int  # optimiser steps taken so far, the trainer's global step
    model: dict[str, torch.Tensor]  # the weights at that point
    best_model: dict[str, torch.Tensor] | None  # the best weights so far by validation loss
    optimizer: dict[str, Any]
    result: dict[str, Any]
    torch_rng: torch.Tensor  # torch.get_rng_state(): uint8, draws dropout masks on the CPU
    numpy_rng: list[Any]  # [name, keys, pos, has_gauss, cached]
    python_rng: list[Any]  # [version, internal state, gauss]
    cuda_rng: list[torch.Tensor] = field(default_factory=list)  # one uint8 state per CUDA device in use
    version: int = TRAINING_STATE_VERSION


def save_training_state(path: str | Path, state: TrainingState) -> None:
    """Write ``state`` as one safetensors file, atomically (a reader sees the old file or the new one)."""
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in state.model.items()}
    if state.best_model is not None:
        tensors.update({f"best_model.{k}": v for k, v in state.best_model.items()})
    optimizer_numbers: dict[str, dict[str, Any]] = {}  # non-tensor entries of the optimiser's state
    for index, entries in state.optimizer["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{int(index)}.{name}"] = value
            else:
                optimizer_numbers.setdefault(str(int(index)), {})[name] = value
    tensors["rng.torch"] = state.torch_rng
    tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(state.cuda_rng)})
    header = {"version": state.version, "epoch": state.epoch, "step": state.step,
              "result": {k: state.result[k] for k in RESULT_KEYS},
              "optimizer": {"param_groups": state.optimizer["param_groups"], "state": optimizer_numbers},
              "cuda_devices": len(state.cuda_rng), "numpy_rng": state.numpy_rng, "python_rng": state.python_rng}
    text = json.dumps(header, allow_nan=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    # the digest covers the scalars too: a changed epoch or RNG state resumes as wrongly as a changed weight
    metadata = {"format": TRAINING_STATE_FORMAT, "state": text,
                DIGEST_KEY: tensors_digest(tensors, tensors.__getitem__, extra=text)}
    with atomic.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_training_state(path: str | Path) -> TrainingState:
    """Read and validate a file written by :func:`save_training_state`.

    Raises :class:`CheckpointError` for a pickle (refused before anything parses it), a
    truncated or damaged file, a safetensors file that is not a training state (model weights,
    say), another format version, contents that do not hang together, or contents that changed
    after they were written (the digest in its header; a file without one is accepted).
    """
    path = Path(path)
    header, tensors, metadata = _read_training_file(path, with_tensors=True)
    groups: dict[str, dict[str, torch.Tensor]] = {g: {} for g in _TENSOR_GROUPS}
    for name, value in tensors.items():
        group, _, rest = name.partition(".")
        _check(path, group in groups and rest != "", f"unexpected tensor {name!r}")
        groups[group][rest] = value
    model, best = groups["model"], groups["best_model"] or None
    _check(path, bool(model), "no model weights")
    if best is not None:
        _check(path, set(best) == set(model), "the best weights and the weights name different tensors")
        for k, v in model.items():
            _check(path, best[k].shape == v.shape and best[k].dtype == v.dtype, f"best weights of {k} do not fit")
    rng = groups["rng"]
    torch_rng = rng.pop("torch", None)
    _check(path, torch_rng is not None and torch_rng.dtype == torch.uint8 and torch_rng.dim() == 1,
           "no uint8 torch RNG state")
    cuda_rng = [rng.pop(f"cuda.{i}", None) for i in range(header["cuda_devices"])]
    _check(path, not rng and all(s is not None and s.dtype == torch.uint8 for s in cuda_rng),
           "CUDA RNG states do not match their count")
    # last: contents that do not hang together are named as such; contents that do, but changed, are caught here
    _check_digest(path, metadata, tensors_digest(tensors, tensors.__getitem__, extra=metadata["state"]))
    return TrainingState(epoch=header["epoch"], step=header["step"], model=model, best_model=best,
                         optimizer=_optimizer_state(path, header["optimizer"], groups["optimizer"]),
                         result=header["result"], torch_rng=torch_rng, cuda_rng=cuda_rng,
                         numpy_rng=header["numpy_rng"], python_rng=header["python_rng"], version=header["version"])


def read_training_header(path: str | Path) -> dict[str, Any]:
    """The validated scalars of a training-state file (``epoch``, ``step``, ``result``, ...), without its tensors."""
    return _read_training_file(Path(path), with_tensors=False)[0]  # a header alone cannot be held to the digest


def _check(path: Path, ok: bool, why: str) -> None:
    if not ok:
        raise CheckpointError(f"{path.name} is not a valid training state: {why}")


def _read_training_file(path: Path, with_tensors: bool
                        ) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, str]]:
    """The checked header, the tensors (``with_tensors``) and the raw metadata of a training-state file."""
    refuse_pickle(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()} if with_tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path.name} is not a valid safetensors file (truncated or damaged?): {e}") from e
    if metadata.get("format") != TRAINING_STATE_FORMAT:
        raise CheckpointError(f"{path.name} is a safetensors file but not an RNN Lab training state "
                              f"(format {metadata.get('format')!r})")
    try:
        header = json.loads(metadata.get("state", ""))
    except ValueError as e:
        raise CheckpointError(f"{path.name} is not a valid training state: its header is not JSON: {e}") from e
    _check_header(path, header)
    return header, tensors, metadata


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_header(path: Path, h: Any) -> None:
    """Types and ranges of every scalar, so a reader can trust what it gets."""
    _check(path, isinstance(h, dict), "the header is not a JSON object")
    _check(path, h.get("version") == TRAINING_STATE_VERSION,
           f"format version {h.get('version')!r}, this version of RNN Lab reads {TRAINING_STATE_VERSION}")
    _check(path, _is_int(h.get("epoch")) and h["epoch"] >= -1, "epoch must be an integer >= -1")
    _check(path, _is_int(h.get("step")) and h["step"] >= 0, "step must be an integer >= 0")
    _check(path, _is_int(h.get("cuda_devices")) and h["cuda_devices"] >= 0, "cuda_devices must be an integer >= 0")
    r = h.get("result")
    _check(path, isinstance(r, dict) and set(RESULT_KEYS) <= set(r), f"the result needs {RESULT_KEYS}")
    _check(path, isinstance(r["epochs"], list) and all(isinstance(e, dict) for e in r["epochs"]),
           "the per-epoch records must be a list of objects")
    _check(path, all(_is_int(r[k]) and r[k] >= 0 for k in ("samples_seen", "steps", "skipped_steps")),
           "samples_seen, steps and skipped_steps must be integers >= 0")
    _check(path, _is_int(r["best_epoch"]) and _is_number(r["best_val_loss"]) and _is_number(r["train_time_s"])
           and not math.isnan(r["train_time_s"]), "best_epoch, best_val_loss and train_time_s must be numbers")
    opt = h.get("optimizer")
    _check(path, isinstance(opt, dict) and isinstance(opt.get("param_groups"), list)
           and isinstance(opt.get("state"), dict), "the optimiser needs param_groups and state")
    _check(path, all(isinstance(g, dict) and isinstance(g.get("params"), list) and all(map(_is_int, g["params"]))
                     for g in opt["param_groups"]), "each optimiser param group needs a list of parameter indices")
    np_rng, py_rng = h.get("numpy_rng"), h.get("python_rng")
    _check(path, isinstance(np_rng, list) and len(np_rng) == 5 and isinstance(np_rng[1], list)
           and all(map(_is_int, np_rng[1])), "numpy's RNG state must be [name, keys, pos, has_gauss, cached]")
    _check(path, isinstance(py_rng, list) and len(py_rng) == 3 and isinstance(py_rng[1], list)
           and all(map(_is_int, py_rng[1])), "Python's RNG state must be [version, internal state, gauss]")


def _optimizer_state(path: Path, header: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``Optimizer.state_dict()`` from the header's groups and numbers and the ``optimizer.<index>.<name>`` tensors."""
    indices = {i for g in header["param_groups"] for i in g["params"]}
    state: dict[int, dict[str, Any]] = {}
    for index, numbers in header["state"].items():
        _check(path, index.isdigit() and int(index) in indices and isinstance(numbers, dict),
               f"optimiser state for unknown parameter {index!r}")
        state.setdefault(int(index), {}).update(numbers)
    for name, value in tensors.items():
        index, _, key = name.partition(".")
        _check(path, index.isdigit() and int(index) in indices and key != "",
               f"optimiser tensor {name!r} for an unknown parameter")
        state.setdefault(int(index), {})[key] = value
    return {"state": dict(sorted(state.items())), "param_groups": header["param_groups"]}
