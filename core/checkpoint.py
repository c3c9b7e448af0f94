"""Saving and loading model weights as safetensors, validated against a config.

Nothing here unpickles: weights are safetensors, the config and vocabulary are JSON. A
checkpoint from outside (a user's upload) is accepted only when every tensor name, shape and
dtype matches the model its config describes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import atomic
from .config import ModelConfig


class CheckpointError(ValueError):
    """A checkpoint that is not safetensors, or does not fit its config."""


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp))


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from e
    # a pickle (torch.save) starts with 0x80 or a zip header: refuse before anything parses it
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise CheckpointError(f"{path.name} is a pickle/torch.save file; only safetensors checkpoints are accepted")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path.name} is not a valid safetensors file: {e}") from e


def load_model(cfg: ModelConfig, path: str | Path) -> torch.nn.Module:
    """Build the model ``cfg`` describes and load weights into it, after checking they fit."""
    from .models import SentimentRNN

    model = SentimentRNN(cfg)
    state = read_weights(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"checkpoint does not match the config: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}")
    for k, v in expected.items():
        if state[k].shape != v.shape or state[k].dtype != v.dtype:
            raise CheckpointError(f"tensor {k}: checkpoint has {tuple(state[k].shape)} {state[k].dtype}, "
                                  f"config expects {tuple(v.shape)} {v.dtype}")
        if not torch.isfinite(state[k]).all():
            raise CheckpointError(f"tensor {k} holds non-finite values")
    model.load_state_dict(state)
    model.eval()
    return model
