"""core.analysis.gradients: exact per-step gradients, Jacobian norms, padding, cadence, storage, training untouched."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose

from rnnlab.core.analysis.gradients import (
    PAD_ID,
    QUANTILES,
    GradientRecorder,
    GradientRecording,
    _state_step,
    align,
    as_front_padded,
    decay_ratios,
    jacobian_norms,
    load_gradients,
    probe_gradients,
    product_curves,
    read_out_span,
    summarise,
)
from rnnlab.core.config import READOUTS, ModelConfig, TrainConfig
from rnnlab.core.data.batching import Batch
from rnnlab.core.models.rnn import SentimentRNN
from rnnlab.core.training.trainer import Objective, Trainer

CELLS = ("rnn", "lstm", "gru")
MODERN = ("mingru", "minlstm", "lru")  # in a few representative cases (the suite's time)
LENGTHS = [9, 3, 11, 1, 6]
T = max(LENGTHS)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


class LinearRNN(SentimentRNN):
    """A vanilla RNN with its tanh bypassed: ``h_t = W x_t + U h_{t-1} + b``."""

    def _step(self, wx, state, w_hh, b_hh):
        return wx + F.linear(state, w_hh, b_hh), {}


class LastState:
    """The loss ``L = h_T`` itself (read through a unit output layer)."""

    def loss(self, out, y, reduction="none"):
        return out


def linear_rnn(w: float, readout: str = "last") -> LinearRNN:
    """1 unit, ``h_t = w h_{t-1} + x_t``, logit ``= h_T`` (``readout="mean"``: the mean of ``h_1 .. h_T``); float64."""
    model = LinearRNN(ModelConfig(cell="rnn", input_size=1, hidden_size=1, dropout=0.0, readout=readout)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.rnn.weight_ih_l0.fill_(1.0)
        model.rnn.weight_hh_l0.fill_(w)
        model.fc.weight.fill_(1.0)
    return model


def padded_inputs(lengths: list[int], front: bool, dim: int = 1) -> torch.Tensor:
    x = torch.randn(len(lengths), max(lengths), dim, dtype=torch.float64)
    cols = torch.arange(max(lengths))[None, :]
    lens = torch.tensor(lengths)[:, None]
    x[(cols < max(lengths) - lens) if front else (cols >= lens)] = 0.0
    return x


def expected_powers(w: float, lengths: list[int], cut: int | None = None) -> np.ndarray:
    """w^k at distance k < length (0 beyond a truncation point), NaN beyond the review."""
    k = np.arange(max(lengths), dtype=np.float64)
    out = np.where(k[None, :] < np.array(lengths)[:, None], w ** k[None, :], np.nan)
    if cut is not None:
        t = np.array(lengths)[:, None] - 1 - k[None, :]  # end-padded positions
        reached = t >= (np.array(lengths)[:, None] - 1) // cut * cut  # inside the last token's chunk
        out = np.where(reached | np.isnan(out), out, 0.0)
    return out


@pytest.mark.parametrize("w", [0.5, 0.9, 1.1])
@pytest.mark.parametrize("front", [False, True], ids=["end-padded", "front-padded"])
def test_linear_rnn_gradient_through_time_is_w_to_the_distance(w, front):
    # h_t = w h_{t-1} + x_t, L = h_T: dL/dh_t = dL/dx_t = w^(T-t); dh_t/dh_{t-1} = w
    x = padded_inputs(LENGTHS, front)
    rec = probe_gradients(linear_rnn(w), x, torch.tensor(LENGTHS), torch.zeros(5), LastState(), use_lengths=not front,
                          jacobian="spectral", power_iters=2)
    want = expected_powers(w, LENGTHS)
    np.testing.assert_allclose(rec.dh[0, 0], want, rtol=1e-12)
    np.testing.assert_allclose(rec.dx, want, rtol=1e-12)
    np.testing.assert_allclose(rec.jac[0, 0], np.where(np.isnan(want), np.nan, w), rtol=1e-12)
    np.testing.assert_allclose(rec.jac_prod[0, 0], want, rtol=1e-12)  # the product term of eq. 6
    np.testing.assert_allclose(rec.jac_product_norm[0, 0], want, rtol=1e-12)  # one unit: the product's norm too


def test_linear_rnn_under_truncated_bptt_gets_no_gradient_before_the_cut():
    w, cut = 0.9, 4
    x = padded_inputs(LENGTHS, front=False)
    rec = probe_gradients(linear_rnn(w), x, torch.tensor(LENGTHS), torch.zeros(5), LastState(), use_lengths=True,
                          tbptt=cut)
    want = expected_powers(w, LENGTHS, cut)
    assert (want == 0).any()  # the test reaches past a cut
    np.testing.assert_allclose(rec.dh[0, 0], want, rtol=1e-12)
    np.testing.assert_allclose(rec.dx, want, rtol=1e-12)
    np.testing.assert_allclose(rec.jac_prod[0, 0], want, rtol=1e-12)
    np.testing.assert_allclose(rec.jac_product_norm[0, 0], want, rtol=1e-12)
    np.testing.assert_allclose(rec.jac[0, 0], np.where(np.isnan(want), np.nan, w), rtol=1e-12)  # the cell's own


@pytest.mark.parametrize("w", [0.5, 0.9, 1.1])
def test_under_a_mean_read_out_every_step_gets_gradient_from_the_loss_directly(w):
    # L = (h_1 + ... + h_n) / n: h_t reaches L directly (1/n) and through each later h (w^j / n), so at distance k
    # dL/dh_t = (1 + w + ... + w^k) / n, where the last state's read-out gives w^k alone
    x, lengths = padded_inputs(LENGTHS, front=False), torch.tensor(LENGTHS)
    mean = probe_gradients(linear_rnn(w, "mean"), x, lengths, torch.zeros(5), LastState(), use_lengths=True,
                           jacobian=None)
    last = probe_gradients(linear_rnn(w), x, lengths, torch.zeros(5), LastState(), use_lengths=True, jacobian=None)
    k, n = np.arange(T)[None, :], np.array(LENGTHS)[:, None]
    want = np.where(k < n, (1 - w ** (k + 1)) / (1 - w) / n, np.nan)
    np.testing.assert_allclose(mean.dh[0, 0], want, rtol=1e-12)
    np.testing.assert_allclose(mean.dx, want, rtol=1e-12)  # dh_t/dx_t = 1
    np.testing.assert_allclose(last.dh[0, 0], expected_powers(w, LENGTHS), rtol=1e-12)
    if w < 1:  # a vanishing recurrence: the earliest step of the longest review hears more from the mean
        assert mean.dh[0, 0, 2, T - 1] > last.dh[0, 0, 2, T - 1]
    # cut the recurrence: the last state's read-out reaches the last step only, the mean every step
    cut_mean = probe_gradients(linear_rnn(w, "mean"), x, lengths, torch.zeros(5), LastState(), use_lengths=True,
                               tbptt=1, jacobian=None)
    cut_last = probe_gradients(linear_rnn(w), x, lengths, torch.zeros(5), LastState(), use_lengths=True, tbptt=1,
                               jacobian=None)
    np.testing.assert_allclose(cut_mean.dh[0, 0], np.where(k < n, 1 / n, np.nan), rtol=1e-12)
    np.testing.assert_array_equal(cut_last.dh[0, 0], np.where(k < n, (k == 0).astype(float), np.nan))


@pytest.mark.parametrize("readout", ["mean", "max", "mean_max"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("front", [False, True], ids=["end-padded", "front-padded"])
def test_pooling_read_outs_record_gradients_at_every_step_and_never_at_the_padding(cell, front, readout):
    model = SentimentRNN(ModelConfig(cell=cell, vocab_size=20, embedding_dim=4, hidden_size=5, num_layers=2,
                                     bidirectional=True, readout=readout)).double()
    lengths = torch.tensor(LENGTHS)
    ids = torch.randint(2, 20, (len(LENGTHS), T))
    ids[torch.arange(T)[None, :] >= lengths[:, None]] = PAD_ID
    x = as_front_padded(ids, lengths) if front else ids
    rec = probe_gradients(model, x, lengths, torch.ones(5), Objective("bce"), use_lengths=not front, tbptt=None,
                          jacobian=None)
    real = np.arange(T)[None, :] < np.array(LENGTHS)[:, None]
    for values in (*rec.dh.reshape(-1, len(LENGTHS), T), rec.dx):
        assert np.all(np.isnan(values) == ~real)  # aligned: NaN exactly beyond each review
    # every real token reaches the loss; under a mean every state too (a max reaches a state only if it or a later
    # one peaks)
    assert np.all(rec.dx[real] > 0)
    if readout != "max":
        assert all(np.all(values[real] > 0) for values in rec.dh.reshape(-1, len(LENGTHS), T))


def test_the_product_of_the_norms_can_overstate_the_norm_of_the_product_without_bound():
    # h_t = W h_{t-1} + x_t with W = [[0, 2], [1/2, 0]]: every step stretches one axis by 2, but W^2 = I,
    # so ||W^k||_2 is 1 or 2 while the product of the norms is 2^k
    model = LinearRNN(ModelConfig(cell="rnn", input_size=1, hidden_size=2, dropout=0.0)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.rnn.weight_hh_l0.copy_(torch.tensor([[0.0, 2.0], [0.5, 0.0]]))
    x = torch.randn(1, 12, 1, dtype=torch.float64)
    rec = probe_gradients(model, x, torch.tensor([12]), torch.zeros(1), LastState(), use_lengths=True,
                          jacobian="spectral", power_iters=50)
    k = np.arange(12)
    np.testing.assert_allclose(rec.jac_prod[0, 0, 0], 2.0 ** k, rtol=1e-9)
    np.testing.assert_allclose(rec.jac_product_norm[0, 0, 0], np.where(k % 2, 2.0, 1.0), rtol=1e-9)


def unrolled_jacobian(model: SentimentRNN, emb: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """``ds_stop / ds_start`` of one text ``emb`` ``(1, T, n)``, from PyTorch's own fused module.

    The state after step ``start`` is reached by running the module from zero; the map from it through
    the steps ``start + 1 .. stop`` is differentiated by ``torch.autograd.functional.jacobian`` (LSTM: the
    state is ``[h, c]``).
    """
    _, state = model.rnn(emb[:, :start + 1])
    parts = state if isinstance(state, tuple) else (state,)
    hidden = parts[0].shape[-1]

    def run(flat: torch.Tensor) -> torch.Tensor:
        init = tuple(flat[i * hidden:(i + 1) * hidden].reshape(1, 1, hidden) for i in range(len(parts)))
        _, end = model.rnn(emb[:, start + 1:stop + 1], init if len(init) > 1 else init[0])
        return torch.cat([p.reshape(-1) for p in (end if isinstance(end, tuple) else (end,))])

    flat = torch.cat([p.reshape(-1) for p in parts]).detach()
    return torch.autograd.functional.jacobian(run, flat) if stop > start else torch.eye(len(flat), dtype=flat.dtype)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("front", [False, True], ids=["end-padded", "front-padded"])
def test_the_jacobian_products_norm_equals_the_unrolled_maps_jacobian_and_sits_under_the_bound(cell, front):
    model = make_model(cell).eval()
    lengths = [7, 4, 2]
    x = random_tokens(lengths, front)
    y = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    for norm, order in (("frobenius", "fro"), ("spectral", 2)):
        rec = probe_gradients(model, x, torch.tensor(lengths), y, Objective("bce"), use_lengths=not front,
                              jacobian=norm, power_iters=1000, product_texts=2)
        got, bound = rec.jac_product_norm[0, 0], rec.jac_prod[0, 0]
        assert np.isnan(got[2]).all()  # the third-longest text was not multiplied out
        with torch.no_grad():
            emb = model.embed(x)
        for b, n in enumerate(lengths[:2]):
            last = x.shape[1] - 1 if front else n - 1  # the read-out position
            one = emb[b:b + 1, :last + 1]
            want = [torch.linalg.matrix_norm(unrolled_jacobian(model, one, last - k, last), ord=order).item()
                    for k in range(n)]
            np.testing.assert_allclose(got[b, :n], want, rtol=1e-9)
            assert np.isnan(got[b, n:]).all()
            assert np.all(got[b, 1:n] <= bound[b, 1:n] * (1 + 1e-6))  # eq. 6's product bounds it from k = 1 on


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_closed_form_step_jacobians_are_autograds(cell):
    """What the recorder multiplies out for the classic cells, against autograd through one step."""
    model = make_model(cell, layers=2, bidirectional=True).eval()
    cell_def = model.cell_def
    size = len(cell_def.state_names) * model.hidden_size
    x = torch.randn(3, 2 * model.hidden_size, dtype=torch.float64)  # layer 1 reads both directions of layer 0
    s = torch.randn(3, size, dtype=torch.float64)
    got = model.step_jacobians(1, 1, x, cell_def.split(s))
    for n in range(3):
        def step(flat, n=n):
            return cell_def.flatten(model.cell_step(1, 1, x[n:n + 1], cell_def.split(flat[None]))[0])[0]
        torch.testing.assert_close(got[n], torch.autograd.functional.jacobian(step, s[n]), rtol=1e-12, atol=1e-12)


def test_a_model_with_its_own_step_has_no_closed_form_jacobians():
    model = LinearRNN(ModelConfig(cell="rnn", input_size=1, hidden_size=1, dropout=0.0))
    assert model.step_jacobians(0, 0, torch.zeros(1, 1), torch.zeros(1, 1)) is None
    assert make_model("mingru").step_jacobians(0, 0, torch.zeros(1, 5), torch.zeros(1, 4)) is None


def make_model(cell: str, layers: int = 1, bidirectional: bool = False, **kw) -> SentimentRNN:
    cfg = ModelConfig(cell=cell, vocab_size=30, embedding_dim=5, hidden_size=4, num_layers=layers,
                      bidirectional=bidirectional, **kw)
    return SentimentRNN(cfg).double()


def random_tokens(lengths: list[int], front: bool, width: int | None = None) -> torch.Tensor:
    width = width or max(lengths)
    tokens = torch.randint(2, 30, (len(lengths), width))
    cols = torch.arange(width)[None, :]
    lens = torch.tensor(lengths)[:, None]
    tokens[(cols < width - lens) if front else (cols >= lens)] = 1
    return tokens


CASES = [(cell, layers, bidir, front, tbptt) for cell in CELLS for layers, bidir in ((1, False), (2, True), (2, False))
         for front in (False, True) for tbptt in ((None,) if bidir else (None, 4))]
# the LRU's state (y, Re x, Im x) is not element-wise: its carried gradient takes the per-step product route
CASES += [("mingru", 2, True, False, None), ("minlstm", 1, False, True, 4), ("lru", 2, True, False, None),
          ("lru", 2, False, True, None), ("lru", 1, False, False, 4)]


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize(("cell", "layers", "bidirectional", "front", "tbptt"), CASES)
def test_input_gradients_equal_plain_autograd_through_the_transparent_path(cell, layers, bidirectional, front, tbptt,
                                                                           readout):
    # the recorder gets dL/dx_t from per-step products (and, for the LSTM, a carried dL/dc_t);
    # plain autograd to the embedding output is the O(T^2) reference; a pooling read-out feeds every step directly
    model = make_model(cell, layers, bidirectional, readout=readout)
    lengths = torch.tensor(LENGTHS)
    x = random_tokens(LENGTHS, front)
    y = (torch.rand(5) > 0.5).double()
    rec = probe_gradients(model, x, lengths, y, Objective("bce"), use_lengths=not front, tbptt=tbptt, jacobian=None)
    model.eval()
    emb = model.embed(x).detach().requires_grad_(True)
    handle = model.embedding.register_forward_hook(lambda mod, inp, out: emb)
    out = model.forward_transparent(x, None if front else lengths, tbptt=tbptt)
    handle.remove()
    (g,) = torch.autograd.grad(Objective("bce").loss(out.logits, y, reduction="none").sum(), emb)
    first, last = read_out_span(lengths, T, front_padded=front)
    want = align(g.norm(dim=-1), first, last).numpy()
    np.testing.assert_allclose(rec.dx, want, rtol=1e-10, atol=1e-14)
    assert np.nanmax(rec.dx) > 0


@pytest.mark.parametrize("cell", CELLS + MODERN)
def test_jacobian_norms_match_the_explicit_per_step_jacobian(cell):
    model = make_model(cell).eval()
    size = 4 * len(model.cell_def.state_names)  # the flat state: LSTM [h, c], LRU [y, Re x, Im x]
    x, s = torch.randn(6, 5, dtype=torch.float64), 0.5 * torch.randn(6, size, dtype=torch.float64)
    step = _state_step(model, 0, 0)
    jacs = torch.stack([torch.func.jacrev(lambda s_, i=i: step(x[i:i + 1], s_[None])[0])(s[i]) for i in range(6)])
    fro = jacobian_norms(step, x, s, norm="frobenius")
    torch.testing.assert_close(fro, torch.linalg.matrix_norm(jacs), rtol=1e-12, atol=0)
    exact = torch.linalg.matrix_norm(jacs, ord=2)
    spectral = jacobian_norms(step, x, s, norm="spectral", power_iters=200, generator=torch.Generator().manual_seed(0))
    assert torch.all(spectral <= exact * (1 + 1e-9))  # a power-iteration estimate approaches from below
    torch.testing.assert_close(spectral, exact, rtol=1e-4, atol=0)


@pytest.mark.parametrize("cell", CELLS + ("lru",))
@pytest.mark.parametrize("front", [False, True], ids=["end-padded", "front-padded"])
def test_padding_never_contributes_and_reviews_do_not_interact(cell, front):
    model = make_model(cell)
    x = random_tokens(LENGTHS, front=False)
    y = (torch.rand(5) > 0.5).double()
    lengths = torch.tensor(LENGTHS)
    wide = torch.cat([x, torch.ones(5, 6, dtype=torch.int64)], dim=1)  # 6 more padding steps
    inputs = as_front_padded(wide, lengths) if front else wide
    batch = probe_gradients(model, inputs, lengths, y, Objective("bce"), use_lengths=not front, tbptt=None)
    for b, n in enumerate(LENGTHS):
        # each review alone: end padding never reaches the model, so unpadded; front padding is read
        # before the review (the fixed batching's scheme), so the same prefix of it
        alone_x = inputs[b:b + 1] if front else x[b:b + 1, :n]
        alone = probe_gradients(model, alone_x, lengths[b:b + 1], y[b:b + 1], Objective("bce"), use_lengths=not front)
        for name in ("dh", "jac", "jac_prod", "jac_product_norm"):
            np.testing.assert_allclose(getattr(batch, name)[..., b, :n], getattr(alone, name)[..., 0, :], rtol=1e-9)
            assert np.isnan(getattr(batch, name)[..., b, n:]).all()
        np.testing.assert_allclose(batch.dx[b, :n], alone.dx[0], rtol=1e-9)
        assert np.isnan(batch.dx[b, n:]).all()
        np.testing.assert_allclose(batch.loss[b], alone.loss[0], rtol=1e-12)


def toy_batches(n: int = 80, batch: int = 20, seed: int = 0) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, 20, (n, 8), generator=g)
    y = (torch.rand(n, generator=g) > 0.5).float()
    x[:, 6] = torch.where(y > 0, 2, 3)
    return [Batch(x[i:i + batch], torch.full((batch,), 8), y[i:i + batch], torch.arange(i, i + batch))
            for i in range(0, n, batch)]


def toy_probe() -> Batch:
    lengths = torch.tensor([8, 5, 3, 7])
    tokens = torch.randint(2, 20, (4, 8))
    tokens[torch.arange(8)[None, :] >= lengths[:, None]] = 1
    return Batch(tokens, lengths, torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.arange(4))


def toy_trainer(cell: str, callbacks=(), **train) -> Trainer:
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(cell=cell, vocab_size=20, embedding_dim=6, hidden_size=5, dropout=0.5))
    data = toy_batches()
    cfg = TrainConfig(**{"epochs": 2, "batch_size": 20, "lr": 1e-2, **train})
    return Trainer(model, cfg, lambda epoch: data[:3], lambda: data[3:], callbacks=callbacks, use_lengths=True)


@pytest.mark.parametrize("cell", CELLS)
def test_recording_leaves_training_unchanged(cell, tmp_path):
    # dropout 0.5 draws from the global RNG at every training step: any draw by the recorder would show
    plain = toy_trainer(cell)
    plain.fit()
    rng_plain = torch.random.get_rng_state()
    recorder = GradientRecorder(tmp_path / "g.npz", toy_probe(), every=1, use_lengths=True)
    recorded = toy_trainer(cell, callbacks=[recorder])
    recorded.fit()
    assert torch.equal(torch.random.get_rng_state(), rng_plain)  # the training RNG stream is untouched
    assert len(recorder.records) >= 7
    for (name, a), b in zip(plain.model.state_dict().items(), recorded.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    sa, sb = plain.optimizer.state_dict()["state"], recorded.optimizer.state_dict()["state"]
    for key in sa:
        for field in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(sa[key][field], sb[key][field])


def test_recorder_cadence_coordinates_and_file(tmp_path):
    path = tmp_path / "gradients.npz"
    recorder = GradientRecorder(path, toy_probe(), every=2, use_lengths=True)
    toy_trainer("gru", callbacks=[recorder], epochs=2).fit()  # 3 steps per epoch
    rec = load_gradients(path)
    # init, step 2, end of epoch 0 (step 3), step 4, step 6 = end of epoch 1 (not recorded twice)
    assert rec.step.tolist() == [0, 2, 3, 4, 6]
    assert rec.epoch.tolist() == [0, 0, 0, 1, 1]
    assert rec.kind.tolist() == ["init", "step", "epoch", "step", "epoch"]
    assert rec.lengths.tolist() == [8, 5, 3, 7]
    r, b, k = 5, 4, 8
    assert rec["dh"].shape == rec["jac"].shape == rec["jac_prod"].shape == rec["jac_product_norm"].shape \
        == (r, 1, 1, b, k)
    assert rec["jac_product_norm_mean"].shape == (r, 1, 1, k)
    assert rec["dx"].shape == (r, b, k) and rec["loss"].shape == (r, b)
    assert rec["dh_mean"].shape == (r, 1, 1, k) and rec["dh_quantiles"].shape == (r, 1, 1, 5, k)
    np.testing.assert_allclose(rec["dh_mean"], np.nanmean(rec["dh"], axis=-2), rtol=1e-6)
    np.testing.assert_allclose(rec["dx_quantiles"][:, 2], np.nanmedian(rec["dx"], axis=-2), rtol=1e-6)
    assert rec["count"].tolist() == [4, 4, 4, 3, 3, 2, 2, 1]
    assert rec.meta["cell"] == "gru" and rec.meta["jacobian_norm"] == "spectral"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # written atomically
    # the weights moved between recordings, so the gradients did too
    assert not np.allclose(rec["dh"][0], rec["dh"][-1], equal_nan=True)


@pytest.mark.parametrize("cell", ["lstm", "lru"])
def test_recording_in_the_background_writes_the_same_file(cell, tmp_path):
    """Off the hot path, the same recordings of the same weights: every array equal but the seconds taken."""
    files, probe = {}, toy_probe()
    for background in (False, True):
        path = tmp_path / f"{background}.npz"
        recorder = GradientRecorder(path, probe, every=2, use_lengths=True, background=background)
        trainer = toy_trainer(cell, callbacks=[recorder], epochs=2)
        trainer.fit()
        assert recorder._worker is None and not recorder._pending  # finished and shut down at the training's end
        files[background] = load_gradients(path)
    fg, bg = files[False], files[True]
    assert bg.step.tolist() == fg.step.tolist() == [0, 2, 3, 4, 6]
    assert bg.kind.tolist() == fg.kind.tolist()
    assert set(bg.arrays) == set(fg.arrays)
    for name in fg.arrays:
        if name != "seconds":
            np.testing.assert_array_equal(bg[name], fg[name], err_msg=name)


def test_kept_open_the_last_recording_is_written_by_finish(tmp_path):
    recorder = GradientRecorder(tmp_path / "g.npz", toy_probe(), every=0, use_lengths=True, background=True,
                                keep_open=True)
    toy_trainer("gru", callbacks=[recorder], epochs=2).fit()
    assert recorder._worker is not None  # still open: the last epoch's recording may be running
    recorder.finish()
    assert recorder._worker is None and not recorder._pending
    assert load_gradients(tmp_path / "g.npz").kind.tolist() == ["init", "epoch", "epoch"]


def test_a_failed_background_recording_is_raised_by_the_training(tmp_path, monkeypatch):
    recorder = GradientRecorder(tmp_path / "g.npz", toy_probe(), every=1, use_lengths=True, background=True)

    def broken(*args, **kwargs):
        raise RuntimeError("probe failed")

    monkeypatch.setattr("rnnlab.core.analysis.gradients.probe_gradients", broken)
    with pytest.raises(RuntimeError, match="probe failed"):
        toy_trainer("gru", callbacks=[recorder], epochs=1).fit()


def test_epoch_end_recording_every_nth_epoch_and_at_the_last(tmp_path):
    recorder = GradientRecorder(tmp_path / "g.npz", toy_probe(), every=0, use_lengths=True, epoch_every=2)
    toy_trainer("rnn", callbacks=[recorder], epochs=3).fit()
    assert [(c["kind"], c["epoch"]) for c in recorder.coords] == [("init", 0), ("epoch", 1), ("epoch", 2)]


def test_recorder_honours_the_trainers_truncation(tmp_path):
    recorder = GradientRecorder(tmp_path / "g.npz", toy_probe(), every=0, use_lengths=True)
    toy_trainer("lstm", callbacks=[recorder], epochs=1, tbptt=3).fit()
    rec = load_gradients(tmp_path / "g.npz")
    dh = rec["dh"][-1, 0, 0]  # (B, K)
    for b, n in enumerate(rec.lengths.tolist()):
        reach = (n - 1) - (n - 1) // 3 * 3 + 1  # steps inside the last token's chunk
        assert np.all(dh[b, :reach] > 0) and np.all(dh[b, reach:n] == 0)
        assert np.all(rec["jac_prod"][-1, 0, 0, b, reach:n] == 0)
        assert np.all(rec["jac_product_norm"][-1, 0, 0, b, :reach] > 0)
        assert np.all(rec["jac_product_norm"][-1, 0, 0, b, reach:n] == 0)
    assert rec.meta["tbptt"] == 3


def test_fixed_batching_front_pads_the_probe():
    probe = toy_probe()
    front = as_front_padded(probe.tokens, probe.lengths)
    for b, n in enumerate(probe.lengths.tolist()):
        assert torch.equal(front[b, 8 - n:], probe.tokens[b, :n]) and torch.all(front[b, :8 - n] == 1)
    recorder = GradientRecorder("unused.npz", probe, use_lengths=False)
    assert torch.equal(recorder.inputs, front)


def test_decay_ratios_of_the_linear_rnn_are_powers_of_w(tmp_path):
    w = 0.8
    recorder = GradientRecorder(tmp_path / "g.npz", Batch(padded_inputs(LENGTHS, False), torch.tensor(LENGTHS),
                                                          torch.zeros(5, dtype=torch.float64), torch.arange(5)),
                                use_lengths=True)
    fake = SimpleNamespace(model=linear_rnn(w), device=torch.device("cpu"), objective=LastState(),
                           cfg=TrainConfig(), step=0, epoch=0)
    recorder.record(fake, "init")
    ratios = decay_ratios(load_gradients(tmp_path / "g.npz"), [1, 5, 10, 11])
    assert ratios[1]["n"] == 4 and ratios[5]["n"] == 3 and ratios[10]["n"] == 1 and ratios[11]["n"] == 0
    for k in (1, 5, 10):
        assert ratios[k]["mean"] == pytest.approx(w ** k, rel=1e-6)
        assert ratios[k]["median"] == pytest.approx(w ** k, rel=1e-6)


def recording(**arrays: np.ndarray) -> GradientRecording:
    one = np.zeros(1)
    return GradientRecording(step=one, epoch=one, kind=np.array(["init"]), seconds=one, lengths=one, labels=one,
                             arrays=arrays, meta={"jacobian_norm": "spectral"})


def test_product_curves_average_the_bound_over_the_texts_multiplied_out_and_never_under_the_product():
    nan = np.nan
    product = np.array([[1.0, 0.5, 0.2], [1.0, 0.8, nan], [nan, nan, nan]])  # the third text not multiplied out
    bound = np.array([[1.0, 0.6, 0.3], [1.0, 0.7, nan], [1.0, 1e6, 1e9]])  # text 2's power iterations fell short
    curves = product_curves(recording(jac_product_norm=product[None, None, None], jac_prod=bound[None, None, None]))
    assert curves.texts == 2 and curves.kind == "spectral"
    assert_allclose(curves.norm, [1.0, 0.65, 0.2])
    assert_allclose(curves.bound, [1.0, 0.7, 0.3])  # text 3 left out; text 2's bound raised to its product's 0.8
    assert product_curves(recording(jac_prod=bound[None, None, None])) is None  # a file from before


def test_unknown_jacobian_norm_is_rejected():
    with pytest.raises(ValueError, match="Jacobian norm"):
        GradientRecorder("g.npz", toy_probe(), jacobian="nuclear")


def test_summaries_equal_numpys_nan_aware_mean_and_quantiles():
    rng = np.random.default_rng(0)
    values = rng.lognormal(size=(3, 2, 1, 9, 12)).astype(np.float32)
    values[..., ::2, 7:] = np.nan  # shorter reviews
    values[..., 11] = np.nan  # a distance no review reaches
    mean, qs = summarise(values)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        np.testing.assert_allclose(mean, np.nanmean(values, axis=-2), rtol=1e-6)
        want = np.moveaxis(np.nanquantile(values, QUANTILES, axis=-2), 0, -2)
    np.testing.assert_allclose(qs, want, rtol=1e-6)
    assert qs.shape == (3, 2, 1, len(QUANTILES), 12)


def test_an_lru_records_its_eigenvalues_with_every_recording_and_other_cells_none(tmp_path):
    path = tmp_path / "gradients.npz"
    recorder = GradientRecorder(path, toy_probe(), every=2, use_lengths=True)
    trainer = toy_trainer("lru", callbacks=[recorder], epochs=2)
    layer = trainer.model.rnn["l0"]
    at_init = layer.eigenvalues().detach().numpy().copy()
    trainer.fit()
    rec = load_gradients(path)
    r = len(rec.step)
    assert rec["eig_modulus"].shape == rec["eig_phase"].shape == (r, 1, 1, 5)
    # the first recording is the ring initialisation, the last the trained λ: both the layer's own
    np.testing.assert_allclose(rec["eig_modulus"][0, 0, 0], np.abs(at_init), rtol=1e-6)
    np.testing.assert_allclose(rec["eig_phase"][0, 0, 0], np.angle(at_init), rtol=1e-5, atol=1e-6)
    assert ((rec["eig_modulus"][0] >= layer.r_min - 1e-6) & (rec["eig_modulus"][0] <= layer.r_max + 1e-6)).all()
    trained = layer.eigenvalues().detach().numpy()
    np.testing.assert_allclose(rec["eig_modulus"][-1, 0, 0], np.abs(trained), rtol=1e-6)
    assert not np.allclose(rec["eig_modulus"][0], rec["eig_modulus"][-1])  # training moved them (lr 1e-2)
    assert (rec["eig_modulus"] < 1).all()  # the exponential parametrisation: stable throughout
    # a cell whose decay is computed from each input, or a classic cell, has no fixed eigenvalues
    for cell in ("mingru", "gru"):
        other = tmp_path / f"{cell}.npz"
        toy_trainer(cell, callbacks=[GradientRecorder(other, toy_probe(), every=2, use_lengths=True)]).fit()
        assert "eig_modulus" not in load_gradients(other).arrays


@pytest.mark.parametrize("readout", ["last", "mean"])
def test_the_lrus_gradient_through_time_is_that_of_its_complex_state(readout):
    # the LRU's output y_t feeds no later step, so the recorder measures its memory, the complex state x_t: the
    # total dL/dx_t, against plain autograd through leaves added to each x_t before y_t reads it (a mean read-out
    # reads every y_t, so every x_t also gets gradient through its own step's y_t)
    model = make_model("lru", readout=readout).eval()
    layer, hidden, steps = model.rnn["l0"], 4, 7
    x = torch.randint(2, 30, (3, steps))
    y = (torch.rand(3) > 0.5).double()
    rec = probe_gradients(model, x, torch.full((3,), steps), y, Objective("bce"), use_lengths=True, jacobian=None)
    u = model.embed(x).detach()
    state = layer.initial_state(u)
    leaves, outs = [], []
    for t in range(steps):
        leaf = torch.zeros(3, 2 * hidden, dtype=torch.float64, requires_grad=True)
        state = layer.eigenvalues() * state + layer._input(u[:, t]) + torch.complex(leaf[:, :hidden], leaf[:, hidden:])
        outs.append(layer.readout(state, u[:, t]))
        leaves.append(leaf)
    features = outs[-1] if readout == "last" else torch.stack(outs).mean(0)
    grads = torch.autograd.grad(Objective("bce").loss(model.head(features), y, reduction="none").sum(), leaves)
    want = torch.stack([g.norm(dim=-1) for g in grads[::-1]], dim=1).numpy()  # by distance k from the last step
    np.testing.assert_allclose(rec.dh[0, 0], want, rtol=1e-10)
    assert (want[:, 1:] > 0).all()  # every step back gets gradient through the state, none through y_t
