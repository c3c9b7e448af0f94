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

from core import atomic
from core.config import ModelConfig


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
    from core.models.rnn import SentimentRNN

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


MAX_IMPORT_JSON_BYTES = 64 * 2**20  # a 20,000-word vocabulary is ~1 MB; this only stops absurd files


def _json_upload(data: bytes | str, name: str) -> dict:
    import json

    if len(data) > MAX_IMPORT_JSON_BYTES:
        raise CheckpointError(f"{name} is {len(data)} bytes: far too large for an RNN Lab {name}")
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{name} is not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"{name} must hold a JSON object")
    return obj


def import_run(store, config: bytes | str, weights: bytes, vocab: bytes | str, *, label: str | None = None):
    """Add a run trained elsewhere from its ``config.json``, ``model.safetensors`` and ``vocab.json``.

    Everything is validated before the run appears: the config must be an RNN Lab run config
    (unknown fields refused) of a text task, the vocabulary an RNN Lab vocabulary, and the
    weights safetensors (never a pickle) whose every tensor name, shape and dtype fits the
    model that config and vocabulary describe, with finite values. The folder is assembled
    beside the store and renamed into it, so a half-imported run is never listed. The run is
    ``finished`` with ``imported: true`` and has no test metrics until evaluated.
    Raises :class:`CheckpointError` saying what does not fit. ``store`` is a ``core.jobs.store.RunStore``.
    """
    import secrets
    import shutil
    import time
    from dataclasses import replace

    from core.config import RunConfig
    from core.data.text import Vocabulary
    from core.jobs.store import Run

    body = _json_upload(config, "config.json")
    try:
        cfg = RunConfig.from_dict({k: v for k, v in body.items() if k in ("data", "text", "model", "train")})
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"config.json is not an RNN Lab run config: {e}") from e
    if cfg.train.task != "imdb":
        raise CheckpointError(f"only text (imdb) runs can be imported; this one was trained on {cfg.train.task!r}")
    try:
        voc = Vocabulary.from_dict(_json_upload(vocab, "vocab.json"))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"vocab.json is not an RNN Lab vocabulary: {e}") from e
    model_cfg = replace(cfg.model, vocab_size=len(voc), input_size=None, output_size=1)

    store.root.mkdir(parents=True, exist_ok=True)
    name = label or cfg.model.cell
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{secrets.token_hex(3)}"
    if not run_id.replace("-", "").replace("_", "").isalnum():
        raise CheckpointError(f"label {label!r} may hold only letters, digits, '-' and '_'")
    staging = store.root.parent / f".import-{run_id}"
    staging.mkdir(parents=True)
    try:
        (staging / "model.safetensors").write_bytes(weights)
        load_model(model_cfg, staging / "model.safetensors")  # raises CheckpointError on any mismatch
        run = Run(staging)
        voc.save(run.file("vocab.json"))
        run.write_json("model_config.json", model_cfg.__dict__)
        run.update_status(state="finished", imported=True, finished=time.time())
        run.write_json("config.json", {**cfg.to_dict(), "kind": "rnn", "label": label, "created": time.time(),
                                       "imported": True})
        target = store.root / run_id
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Run(target)
