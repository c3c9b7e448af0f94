"""Seed-style training loop versus the ``fast`` preset, measured in one run.

The seed-style loop is what a first implementation does: every review padded (at the front)
or cut to 500 tokens, a plain ``nn.Embedding -> nn.LSTM -> Dropout -> Linear`` over the padded
batch, PyTorch's default thread count. The ``fast`` preset trains the same model with the
same optimiser over length-bucketed batches, reading each review's state at its own last
token, on one thread. Both see the same encoded reviews; the script prints training samples/s,
test accuracy and the ratio.

    python bench/bench_train.py [--cell lstm] [--limit 5000] [--epochs 2] [--imdb PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rnnlab.core.config import preset  # noqa: E402
from rnnlab.core.data.batching import fixed_batches  # noqa: E402
from rnnlab.core.data.corpus import load_corpus  # noqa: E402
from rnnlab.core.jobs.lifecycle import run_now  # noqa: E402
from rnnlab.core.jobs.store import RunStore  # noqa: E402


class SeedStyleModel(nn.Module):
    def __init__(self, cell: str, vocab: int):
        super().__init__()
        rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.emb = nn.Embedding(vocab, 100)
        self.rnn = rnn(100, 50, batch_first=True)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(50, 1)

    def forward(self, x):
        out, _ = self.rnn(self.emb(x))
        return self.fc(self.drop(out[:, -1])).squeeze(-1)


def seed_style(cell: str, corpus, epochs: int, threads: int) -> dict[str, float]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = SeedStyleModel(cell, len(corpus.vocab))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    tr, va, te = (corpus.splits[s] for s in ("train", "val", "test"))
    best, best_state, seen, train_time = float("inf"), None, 0, 0.0
    for epoch in range(epochs):
        model.train()
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(epoch)
        for b in fixed_batches(tr.ids, tr.labels, 50, 500, shuffle=True, generator=gen):
            opt.zero_grad()
            loss = loss_fn(model(b.tokens), b.labels)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            seen += len(b.labels)
        train_time += time.perf_counter() - t0
        val = evaluate(model, va, loss_fn)
        if val[0] < best:
            best, best_state = val[0], {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return {"samples_per_s": seen / train_time, "train_time_s": train_time, "accuracy": evaluate(model, te, loss_fn)[1]}


@torch.no_grad()
def evaluate(model, split, loss_fn) -> tuple[float, float]:
    model.eval()
    losses, correct = [], 0
    for b in fixed_batches(split.ids, split.labels, 250, 500):
        out = model(b.tokens)
        losses.append(float(loss_fn(out, b.labels)) * len(b.labels))
        correct += int(((out > 0).float() == b.labels).sum())
    return sum(losses) / len(split), correct / len(split)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    ap.add_argument("--limit", type=int, default=5000, help="reviews per split (0 = all)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed-threads", type=int, default=torch.get_num_threads(),
                    help="threads of the seed-style loop (PyTorch's default)")
    ap.add_argument("--imdb", default=os.environ.get("RNNLAB_IMDB"))
    args = ap.parse_args()
    limit = args.limit or None
    cfg = preset("fast", cell=args.cell, epochs=args.epochs, limit=limit, imdb_path=args.imdb)
    corpus = load_corpus(cfg.data, cfg.text)
    print(f"{args.cell}: {len(corpus.splits['train'])} training reviews, {args.epochs} epochs, "
          f"test on {len(corpus.splits['test'])}")

    seed = seed_style(args.cell, corpus, args.epochs, args.seed_threads)
    print(f"seed-style loop (fixed 500, {args.seed_threads} threads): {seed['samples_per_s']:.0f} samples/s, "
          f"test accuracy {seed['accuracy']:.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        run = run_now("rnn", cfg, RunStore(tmp))
        tm = run.test_metrics()
    print(f"fast preset (bucketed, {cfg.train.threads} thread): {tm['train_samples_per_s']:.0f} samples/s, "
          f"test accuracy {tm['accuracy']:.4f}")
    ratio = tm["train_samples_per_s"] / seed["samples_per_s"]
    print(f"speed ratio fast / seed-style: {ratio:.2f}x  (target >= 3x); "
          f"accuracy difference {tm['accuracy'] - seed['accuracy']:+.4f}")


if __name__ == "__main__":
    main()
