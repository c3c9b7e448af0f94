"""The CUDA path: cuDNN against the transparent path and the CPU, device-resident batches, bf16.

Skipped (with the reason in pytest's summary) where no CUDA GPU is present; CI has none, so
``bench/gpu_check.sh`` runs this file on a GPU machine with ``RNNLAB_REQUIRE_CUDA=1``, which
turns the skip into a failure.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from test_batching import batches_equal, skewed_corpus
from test_models import AGREEMENT_CASES, LENGTHS, assert_paths_agree, make_model, random_tokens

from rnnlab.core.config import READOUTS, TrainConfig
from rnnlab.core.data.batching import DeviceSplit, make_batches
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.training.trainer import Trainer

if not torch.cuda.is_available():
    if os.environ.get("RNNLAB_REQUIRE_CUDA"):
        raise RuntimeError("RNNLAB_REQUIRE_CUDA is set but torch sees no CUDA GPU")
    pytest.skip("no CUDA GPU: the CUDA checks run in bench/gpu_check.sh on a GPU machine", allow_module_level=True)

CUDA = torch.device("cuda")
# cuDNN and the transparent path sum in different orders; float32 agrees to ~1e-6 relative
TOL = {torch.float32: 1e-4, torch.float64: 1e-9}


@pytest.fixture(autouse=True)
def _exact_float32():
    """TF32 matrix products would make float32 comparisons meaningless: switch them off here."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("cell", "layers", "bidirectional", "batching"), AGREEMENT_CASES)
def test_cudnn_and_transparent_paths_agree_on_cuda(cell, layers, bidirectional, batching, dtype, readout):
    # cuDNN computes an RNN's backward pass only in training mode: train mode without dropout
    model = make_model(cell, layers, bidirectional, dtype, dropout=0.0, readout=readout).train().to(CUDA)
    if batching == "front":
        x, lengths, packed = random_tokens(LENGTHS, front=True).to(CUDA), None, None
    else:
        x, lengths, packed = random_tokens(LENGTHS).to(CUDA), torch.tensor(LENGTHS), batching == "packed"
    assert_paths_agree(model, lambda m: m(x, lengths, packed=packed),
                       lambda m: m.forward_transparent(x, lengths).logits, TOL[dtype])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cuda_logits_equal_cpu_logits_for_the_same_weights(cell):
    cpu = make_model(cell, 1, False, torch.float64)
    gpu = make_model(cell, 1, False, torch.float64)
    gpu.load_state_dict(cpu.state_dict())
    gpu.to(CUDA)
    x, lengths = random_tokens(LENGTHS), torch.tensor(LENGTHS)
    with torch.no_grad():
        a, b = cpu(x, lengths), gpu(x.to(CUDA), lengths).cpu()
    assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", ["fixed", "bucket"])
def test_device_resident_batches_equal_the_cpu_batches(mode):
    encoded, labels = skewed_corpus(301, max_len=80)
    split = DeviceSplit(encoded, labels, CUDA)
    got = list(split.batches(mode, 32, 80, True, torch.Generator().manual_seed(1)))
    want = list(make_batches(mode, encoded, labels, 32, 80, True, torch.Generator().manual_seed(1)))
    assert got[0].tokens.device.type == "cuda"
    assert batches_equal(got, want)


def _train(device: torch.device, bf16: bool = False, steps: int = 5) -> tuple[SentimentRNN, list[dict]]:
    torch.manual_seed(0)
    encoded, labels = skewed_corpus(120, max_len=60)
    encoded = [np.minimum(e, 49) for e in encoded]  # ids inside the test vocabulary
    model = make_model("lstm", dropout=0.0)  # no dropout: its random masks differ between devices
    cfg = TrainConfig(epochs=1, batch_size=24, batching="bucket", bf16=bf16)
    split = DeviceSplit(encoded, labels, device)
    batches = list(split.batches("bucket", 24, 60, True, torch.Generator().manual_seed(0)))[:steps]
    records: list[dict] = []

    class Keep:
        def on_batch_end(self, trainer, rec):
            records.append(rec)

    trainer = Trainer(model, cfg, lambda epoch: batches, lambda: batches[:1], device=device, callbacks=[Keep()])
    trainer.fit()
    return trainer.model, records


def test_a_few_training_steps_on_cuda_track_the_cpu():
    gpu_model, gpu_recs = _train(CUDA)
    cpu_model, cpu_recs = _train(torch.device("cpu"))
    assert [r["skipped"] for r in gpu_recs] == [False] * 5
    assert np.allclose([r["loss"] for r in gpu_recs], [r["loss"] for r in cpu_recs], rtol=1e-4)
    for (name, p), q in zip(gpu_model.named_parameters(), cpu_model.parameters(), strict=True):
        assert torch.allclose(p.detach().cpu(), q.detach(), atol=1e-4), name


def test_bf16_autocast_trains_with_finite_float32_losses():
    model, recs = _train(CUDA, bf16=True)
    assert all(not r["skipped"] and np.isfinite(r["loss"]) for r in recs)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast keeps float32 master weights
