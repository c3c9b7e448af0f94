"""Introspection: the gates and states per token agree with the fused model, and words map back to the text."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from fixtures_runs import nltk_data

from rnnlab.core.analysis.introspect import introspect
from rnnlab.core.analysis.predict import LoadedRun, classify, encode_text
from rnnlab.core.config import TextConfig, preset
from rnnlab.core.data.text import Vocabulary
from rnnlab.core.jobs.names import CONFIG_FILE, WEIGHTS_FILE
from rnnlab.core.models.rnn import SentimentRNN, pool

WORDS = [f"w{i}" for i in range(60)] + ["good", "bad", "film"]
STATE_NAMES = {"rnn": {"hidden"}, "gru": {"reset_gate", "update_gate", "candidate", "hidden"},
               "lstm": {"input_gate", "forget_gate", "output_gate", "candidate", "cell", "hidden"},
               "mingru": {"update_gate", "candidate", "hidden"},
               "minlstm": {"forget_gate", "input_gate", "candidate", "hidden"},
               "lru": {"state_real", "state_imag", "hidden"}}


@pytest.fixture(autouse=True)
def _stop_words(monkeypatch):
    if nltk_data():
        monkeypatch.setenv("NLTK_DATA", nltk_data())


def loaded(cell: str, preset_name: str = "fast", seed: int = 0, **overrides) -> LoadedRun:
    """A random-weight model (eval mode) over a small vocabulary, as a loaded run."""
    vocab = Vocabulary(["<unk>", "<pad>", *WORDS], [0, 0, *range(len(WORDS), 0, -1)])
    cfg = preset(preset_name, cell=cell, vocab_size=len(vocab), embedding_dim=12, hidden_size=7, max_len=30,
                 **overrides)
    torch.manual_seed(seed)
    model = SentimentRNN(cfg.model).eval()
    with torch.no_grad():  # larger recurrent weights: saturating gates make a stricter comparison
        for p in model.rnn.parameters():
            p.mul_(3.0)
    return LoadedRun(f"test-{cell}", cfg, model, vocab)


def review(n: int, seed: int = 0) -> str:
    return " ".join(np.random.default_rng(seed).choice(WORDS, size=n))


# every cell under both batchings; bidirectional and stacked models under one each
VARIANTS = [(cell, p, bi, layers) for cell in ("rnn", "lstm", "gru")
            for p, bi, layers in (("seed", False, 1), ("fast", False, 1), ("seed", True, 1), ("fast", False, 2))]
# the modern cells (the transparent route): one of each shape
VARIANTS += [("mingru", "fast", False, 1), ("minlstm", "seed", True, 1), ("lru", "seed", False, 1),
             ("lru", "fast", True, 2)]


@pytest.mark.parametrize("cell, preset_name, bidirectional, layers", VARIANTS)
def test_gates_and_states_agree_with_the_fused_model(cell, preset_name, bidirectional, layers):
    lr = loaded(cell, preset_name, bidirectional=bidirectional, num_layers=layers)
    text = review(20)
    out = introspect(lr, text)
    model, enc = lr.model, encode_text(lr, text)
    T, H = len(out.tokens), lr.cfg.model.hidden_size
    assert T == 20 and out.padding == (10 if preset_name == "seed" else 0)
    assert set(out.states) == {(k, d) for k in range(layers) for d in range(2 if bidirectional else 1)}
    for rec in out.states.values():
        assert set(rec) == STATE_NAMES[cell] and all(a.shape == (T, H) and a.dtype == np.float32 for a in rec.values())
    with torch.no_grad():
        features = model.encode(enc.x, enc.lengths)[0].numpy()  # (D*H,) the fused path's final state
        logit = float(model(enc.x, enc.lengths))
    last = out.states[(layers - 1, 0)]["hidden"][-1]
    np.testing.assert_allclose(last, features[:H], atol=1e-5)
    if bidirectional and not out.padding:  # the backward direction ends at the first token (front padding: after it)
        np.testing.assert_allclose(out.states[(layers - 1, 1)]["hidden"][0], features[H:], atol=1e-5)
    assert out.logit == pytest.approx(logit, abs=1e-5)
    assert out.probability == pytest.approx(classify(lr, text)["probability"], abs=1e-6)
    if not bidirectional:  # the running probability at the last token is the model's prediction
        assert out.running_logit[-1] == pytest.approx(logit, abs=1e-5)
        assert out.running_probability[-1] == pytest.approx(out.probability, abs=1e-6)
    assert np.all((out.running_probability >= 0) & (out.running_probability <= 1))
    # the one-layer shortcut and the step-by-step transparent path give the same arrays
    slow = introspect(lr, text, fast=False)
    for key, rec in out.states.items():
        for name, values in rec.items():
            np.testing.assert_allclose(values, slow.states[key][name], atol=1e-5, err_msg=f"{key} {name}")
    np.testing.assert_allclose(out.saliency, slow.saliency, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "lru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_saliency_is_the_norm_of_gradient_times_embedding(cell, bidirectional):
    lr = loaded(cell, "seed", seed=1, bidirectional=bidirectional)
    text = review(15, seed=3)
    out = introspect(lr, text)
    enc = encode_text(lr, text)
    model = lr.model
    emb = model.embedding(enc.x).detach().requires_grad_(True)
    # autograd through the fused module, as a hook on the embedding would see it
    handle = model.embedding.register_forward_hook(lambda m, i, o: emb)
    try:
        logit = model(enc.x, enc.lengths)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(logit.sum(), emb)
    expected = (grad * emb).norm(dim=-1)[0, enc.padding:].detach().numpy()
    np.testing.assert_allclose(out.saliency, expected, rtol=1e-4, atol=1e-7)
    assert all(p.grad is None for p in model.parameters())  # introspection leaves no gradients behind


def test_words_map_back_to_the_raw_text_with_their_fates():
    lr = loaded("lstm", "fast")
    text = "The <b>good</b> film!!! 😀 zorblax, w3-w4 bad"
    out = introspect(lr, text)
    fates = {w.word: w.fate for w in out.words}
    assert fates["good"] == "kept" and fates["film!!!"] == "kept" and fates["bad"] == "kept"
    assert fates["😀"] == "non_alnum" and fates["zorblax,"] == "unknown"
    assert fates["the"] == "stopword"
    for w in out.words:
        assert [out.tokens[p] for p in w.positions] == list(w.tokens)
    w34 = next(w for w in out.words if w.word == "w3-w4")
    assert w34.tokens == ("w3", "w4") and len(w34.positions) == 2
    assert out.unknown.tolist() == [t == "zorblax" for t in out.tokens]
    covered = sorted(p for w in out.words for p in w.positions)
    assert covered == list(range(len(out.tokens)))  # every token belongs to exactly one word


@pytest.mark.parametrize("truncate", ["pre", "post"])
def test_words_cut_by_truncation_are_marked(truncate):
    lr = loaded("gru", "seed", truncate=truncate)  # max_len 30
    words = [f"w{i}" for i in range(40)]
    out = introspect(lr, " ".join(words))
    assert out.truncated and out.n_raw_tokens == 40 and len(out.tokens) == 30
    kept = words[10:] if truncate == "pre" else words[:30]
    assert out.tokens == kept
    fates = {w.word: w.fate for w in out.words}
    assert [w for w in words if fates[w] == "truncated"] == [w for w in words if w not in kept]
    assert any("longer than the model's limit" in n for n in out.notes)


def test_an_empty_text_still_gives_one_step():
    out = introspect(loaded("lstm", "seed"), "!!! 😀")
    assert out.tokens == ["<unk>"] and out.saliency.shape == (1,) and out.states[(0, 0)]["cell"].shape == (1, 7)
    assert [w.fate for w in out.words] == ["non_alnum", "non_alnum"]
    assert any("no tokens" in n for n in out.notes)


def test_to_dict_is_json_ready():
    out = introspect(loaded("gru", "fast", bidirectional=True), review(5))
    d = json.loads(json.dumps(out.to_dict()))
    assert set(d["states"]) == {"layer0", "layer0_reverse"} and len(d["states"]["layer0"]["update_gate"]) == 5
    assert len(d["saliency"]) == len(d["tokens"]) == 5 and d["words"][0]["fate"] == "kept"


def test_introspection_of_stored_runs(trained_home):
    runs = trained_home.home / "runs"
    for cell in ("rnn", "lstm", "gru"):
        out = introspect(trained_home.run_ids[cell], "pos film, best pos review ever!", runs_dir=runs)
        assert out.cell == cell and out.tokens[:2] == ["pos", "film"]
        from rnnlab.core.analysis.predict import predict_runs

        [pred] = predict_runs([trained_home.run_ids[cell]], "pos film, best pos review ever!", runs_dir=runs)
        assert out.running_probability[-1] == pytest.approx(pred["probability"], abs=1e-6)
        assert out.unknown.tolist() == pred["unknown"]


# pooling read-outs: every cell, both batchings; bidirectional and stacked models under some
POOLED_VARIANTS = [(cell, p, bi, layers, readout) for cell in ("rnn", "lstm", "gru")
                   for p, bi, layers, readout in (("seed", False, 1, "mean"), ("fast", False, 1, "max"),
                                                  ("fast", False, 1, "mean_max"), ("seed", True, 1, "mean_max"),
                                                  ("fast", True, 1, "mean"), ("fast", False, 2, "max"))]


@pytest.mark.parametrize("cell, preset_name, bidirectional, layers, readout", POOLED_VARIANTS)
def test_with_a_pooling_read_out_the_running_probability_at_t_is_the_classifier_on_the_pool_of_tokens_1_to_t(
        cell, preset_name, bidirectional, layers, readout):
    lr = loaded(cell, preset_name, bidirectional=bidirectional, num_layers=layers, readout=readout)
    text = review(20)
    out = introspect(lr, text)
    model, enc = lr.model, encode_text(lr, text)
    with torch.no_grad():
        logit = float(model(enc.x, enc.lengths))
        # the last layer's states at the text's own tokens (the <pad> steps of fixed batches left out), both directions
        own = torch.cat([torch.from_numpy(out.states[(layers - 1, d)]["hidden"]) for d in range(1 + bidirectional)],
                        dim=-1)  # (T, D*H)
        want = [float(model.head(pool(own[None, :t + 1], None, readout))) for t in range(len(out.tokens))]
    assert out.logit == pytest.approx(logit, abs=1e-5)
    assert out.probability == pytest.approx(classify(lr, text)["probability"], abs=1e-6)
    np.testing.assert_allclose(out.running_logit, want, atol=1e-5)
    assert out.running_logit[-1] == pytest.approx(logit, abs=1e-5)  # after the last token: the prediction
    # the one-layer shortcut's saliency (backpropagation written out, every pooled step fed from the read-out)
    # equals autograd's through the fused model
    slow = introspect(lr, text, fast=False)
    np.testing.assert_allclose(out.saliency, slow.saliency, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out.running_logit, slow.running_logit, atol=1e-6)


def test_a_run_stored_before_read_outs_existed_loads_with_the_last_state_read_out(trained_copy):
    from rnnlab.core.analysis.predict import loaded_rnn, predict_runs
    from rnnlab.core.jobs.store import RunStore

    store = RunStore(trained_copy / "runs")
    run = next(r for r in store.list() if r.kind == "rnn" and r.file(WEIGHTS_FILE).is_file())
    path = run.file(CONFIG_FILE)
    d = json.loads(path.read_text())
    assert d["model"].pop("readout") == "last"  # a run folder written before the field: no key at all
    path.write_text(json.dumps(d))
    assert run.config().model.readout == "last"
    lr = loaded_rnn(run.id, store.root, "introspection")  # the first load of this copy: nothing cached
    assert lr.model.readout == "last" and lr.model.fc.in_features == lr.cfg.model.hidden_size
    out = introspect(lr, "pos film, best pos review ever!")
    [pred] = predict_runs([run.id], "pos film, best pos review ever!", runs_dir=store.root)
    assert out.running_probability[-1] == pytest.approx(pred["probability"], abs=1e-6)


def test_a_run_without_weights_is_refused_clearly(trained_home):
    with pytest.raises(ValueError, match="no trained weights yet \\(status: failed\\)"):
        introspect(trained_home.run_ids["failed"], "text", runs_dir=trained_home.home / "runs")


def test_text_config_of_the_run_is_used():
    lr = loaded("rnn", "fast", remove_stopwords=False)
    assert lr.cfg.text == TextConfig(remove_stopwords=False, max_len=30)
    out = introspect(lr, "the good film")
    assert out.tokens == ["the", "good", "film"] and out.unknown.tolist() == [True, False, False]
