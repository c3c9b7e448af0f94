"""Training speed of the modern cells' parallel scan against the classic cells' fused kernels, on the CPU.

One process, every number from the same run (the machine is shared: compare ratios, not seconds across runs).
For each sequence length ``T`` and cell, one training step of the project's model (``SentimentRNN``: embedding
100 -> one recurrent layer of hidden 50 -> last state -> linear; binary cross-entropy, Adam, clipping at 5) on a
batch of 50 random token sequences of exactly ``T`` tokens, timed over ``--steps`` steps after a warm-up, best of
``--repeats`` interleaved repeats. The LSTM, GRU and RNN run PyTorch's fused ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``
(oneDNN on the CPU: a loop over time inside one kernel); minGRU and minLSTM Heinsen's log-space scan and the LRU a
doubling scan (``core.models.recurrences``): O(T log T) work in O(log T) sequential steps of whole-batch tensor
operations.

Printed: samples/s per cell and length, and each cell's rate over the LSTM's (``x LSTM``) at the same length.

    python bench/modern_speed.py [--lengths 100,300,1000] [--cells lstm,gru,mingru,minlstm,lru] [--threads 1]
                                 [--steps 5] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: its rnnlab/ imports the project

from rnnlab.core.config import ModelConfig  # noqa: E402
from rnnlab.core.models.rnn import SentimentRNN  # noqa: E402

BATCH, VOCAB = 50, 5000


def step_seconds(model: SentimentRNN, opt: torch.optim.Optimizer, tokens: torch.Tensor, labels: torch.Tensor,
                 steps: int) -> float:
    """Seconds per training step (forward, backward, clipping, Adam) over ``steps`` steps."""
    loss_fn = torch.nn.BCEWithLogitsLoss()
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(tokens).squeeze(-1), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="100,300,1000", help="comma-separated sequence lengths T")
    parser.add_argument("--cells", default="lstm,gru,mingru,minlstm,lru", help="comma-separated cells")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the best is kept")
    parser.add_argument("--json", action="store_true", help="print the table as JSON too")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    lengths = [int(t) for t in args.lengths.split(",")]
    cells = args.cells.split(",")
    print(f"torch {torch.__version__}, {args.threads} thread(s) of {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} at start; batch {BATCH}, embedding 100, hidden 50")
    gen = torch.Generator().manual_seed(0)
    models = {}
    for cell in cells:
        torch.manual_seed(0)
        model = SentimentRNN(ModelConfig(cell=cell, vocab_size=VOCAB, embedding_dim=100, hidden_size=50)).train()
        models[cell] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))
    best: dict[tuple[str, int], float] = {}
    for length in lengths:
        tokens = torch.randint(2, VOCAB, (BATCH, length), generator=gen)
        labels = (torch.rand(BATCH, generator=gen) > 0.5).float()
        for model, opt in models.values():  # warm-up: allocator, oneDNN primitives
            step_seconds(model, opt, tokens, labels, 1)
        for _ in range(args.repeats):  # interleaved: a disturbance hits every cell alike
            for cell, (model, opt) in models.items():
                s = step_seconds(model, opt, tokens, labels, args.steps)
                best[cell, length] = min(best.get((cell, length), float("inf")), s)
    rows = [{"cell": cell, "T": length, "samples_per_s": BATCH / best[cell, length],
             "vs_lstm": best["lstm", length] / best[cell, length] if "lstm" in cells else None}
            for length in lengths for cell in cells]
    print(f"\n{'T':>6}  {'cell':<8} {'samples/s':>10} {'x LSTM':>7}")
    for r in rows:
        ratio = "" if r["vs_lstm"] is None else f"{r['vs_lstm']:.2f}"
        print(f"{r['T']:>6}  {r['cell']:<8} {r['samples_per_s']:>10.1f} {ratio:>7}")
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
