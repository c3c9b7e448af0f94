"""Live classification: any text, one or several trained runs at once.

A text goes through the run's own preprocessing and vocabulary, is encoded exactly as the
run was trained (front-padded to ``max_len`` for the seed's fixed batches, or read at its own
last token for bucketed ones) and scored. Edge cases are answered, not crashed on: an empty
text, stop words only, unknown words only (the model then sees only ``<unk>`` tokens, which
is reported), HTML, emoji, other languages, and texts longer than ``max_len`` (truncated the
way the run was trained, and reported).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from .config import ModelConfig, RunConfig
from .runs import Run, RunStore

MAX_TEXT_CHARS = 1_000_000  # longer input is cut before preprocessing (and reported)


@dataclass
class LoadedRun:
    run_id: str
    cfg: RunConfig
    model: torch.nn.Module
    vocab: Any


def _model_config(run: Run) -> ModelConfig:
    return ModelConfig(**run.read_json("model_config.json"))


@lru_cache(maxsize=16)
def _load(path: str, mtime: float) -> LoadedRun:
    from .checkpoint import load_model
    from .text import Vocabulary

    run = Run(Path(path))
    cfg = run.config()
    if cfg.train.task != "imdb":
        raise ValueError(f"run {run.id} was trained on the {cfg.train.task!r} task, not on text")
    if not run.file("model.safetensors").is_file():
        raise ValueError(f"run {run.id} has no trained weights yet (status: {run.status().get('state')})")
    model = load_model(_model_config(run), run.file("model.safetensors"))
    return LoadedRun(run.id, cfg, model, Vocabulary.load(run.file("vocab.json")))


def load_run(run: Run) -> LoadedRun:
    """The run's model and vocabulary, cached until its weights file changes."""
    weights = run.file("model.safetensors")
    return _load(str(run.path), weights.stat().st_mtime if weights.exists() else 0.0)


def encode_text(lr: LoadedRun, text: str) -> dict[str, Any]:
    """Tokens, ids and the model input for one text, as the run was trained."""
    from .text import preprocess

    clipped_chars = len(text) > MAX_TEXT_CHARS
    tokens = preprocess(text[:MAX_TEXT_CHARS], lr.cfg.text)
    max_len, n = lr.cfg.text.max_len, len(tokens)
    truncated = n > max_len
    if truncated:
        tokens = tokens[-max_len:] if lr.cfg.text.truncate == "pre" else tokens[:max_len]
    ids = lr.vocab.encode(tokens) if tokens else [0]  # an empty review is read as a single <unk>
    x = torch.tensor(ids, dtype=torch.long)
    lengths = torch.tensor([len(ids)])
    if lr.cfg.train.batching == "fixed":  # the seed's front padding to exactly max_len
        x = torch.cat([torch.full((max_len - len(ids),), 1, dtype=torch.long), x])
        lengths_arg = None
    else:
        lengths_arg = lengths
    return {"tokens": tokens, "ids": ids, "x": x.unsqueeze(0), "lengths": lengths_arg, "n_raw_tokens": n,
            "truncated": truncated or clipped_chars}


@torch.no_grad()
def classify(lr: LoadedRun, text: str) -> dict[str, Any]:
    enc = encode_text(lr, text)
    logit = float(lr.model(enc["x"], enc["lengths"]))
    prob = float(torch.sigmoid(torch.tensor(logit)))
    unknown = sum(1 for i in enc["ids"] if i == 0) if enc["tokens"] else 0
    notes = []
    if not enc["tokens"]:
        notes.append("no tokens left after preprocessing: the prediction reflects only the model's bias")
    elif unknown == len(enc["tokens"]):
        notes.append("every token is unknown to the vocabulary: the model saw only <unk>")
    if enc["truncated"]:
        notes.append(f"text longer than the model's limit: {enc['n_raw_tokens']} tokens, "
                     f"{lr.cfg.text.max_len} kept ({lr.cfg.text.truncate}-truncation)")
    return {"run_id": lr.run_id, "model": lr.cfg.model.cell, "probability": prob,
            "label": "positive" if prob >= 0.5 else "negative", "logit": logit, "tokens": enc["tokens"],
            "n_tokens": len(enc["tokens"]), "unknown_tokens": unknown, "truncated": enc["truncated"],
            "notes": notes}


def predict_runs(run_ids: list[str], text: str, runs_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Classify ``text`` with every run in ``run_ids``."""
    store = RunStore(runs_dir)
    return [classify(load_run(store.get(rid)), text) for rid in run_ids]
