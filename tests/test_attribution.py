"""Attribution: integrated gradients add up to the logit's change from the baseline for every cell, gradient x input
is the gradient times the embedding, K-class runs attribute their predicted class, and the command line's output."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import torch
from fixtures_runs import nltk_data

from rnnlab.core.__main__ import build_parser, main
from rnnlab.core.analysis import attribution
from rnnlab.core.analysis.attribution import BASELINE_IDS, attribute, check_steps
from rnnlab.core.analysis.introspect import introspect
from rnnlab.core.analysis.predict import LoadedRun, classify, encode_text
from rnnlab.core.config import preset
from rnnlab.core.data.text import Vocabulary
from rnnlab.core.models.rnn import SentimentRNN

WORDS = [f"w{i}" for i in range(60)] + ["good", "bad", "film"]


@pytest.fixture(autouse=True)
def _stop_words(monkeypatch):
    if nltk_data():
        monkeypatch.setenv("NLTK_DATA", nltk_data())


def loaded(cell: str, preset_name: str = "fast", *, scale: float = 2.0, classes: int = 2, seed: int = 0,
           **overrides) -> LoadedRun:
    """A random-weight model (eval mode) over a small vocabulary, its recurrent weights scaled by ``scale``
    (saturating gates: a path the quadrature has to work for)."""
    vocab = Vocabulary(["<unk>", "<pad>", *WORDS], [0, 0, *range(len(WORDS), 0, -1)])
    cfg = preset(preset_name, cell=cell, vocab_size=len(vocab), embedding_dim=12, hidden_size=7, max_len=30,
                 output_size=1 if classes == 2 else classes, **overrides)
    torch.manual_seed(seed)
    model = SentimentRNN(cfg.model).eval()
    with torch.no_grad():
        for p in model.rnn.parameters():
            p.mul_(scale)
    names = ["negative", "positive"] if classes == 2 else [f"class{k}" for k in range(classes)]
    return LoadedRun(f"test-{cell}", cfg, model, vocab, names)


def review(n: int, seed: int = 0) -> str:
    return " ".join(np.random.default_rng(seed).choice(WORDS, size=n))


def baseline_logit(lr: LoadedRun, text: str, baseline: str, row: int | None = None) -> float:
    """The model's logit with every token of ``text`` embedded as the baseline's token, through the fused path.

    The text's steps stay its own (a pooling read-out pools them, even as ``<pad>``'s zero vector): only the
    embedding layer's output is replaced."""
    enc = encode_text(lr, text)
    x = enc.x.clone()
    x[:, enc.padding:] = BASELINE_IDS[baseline]
    model = lr.model
    with torch.no_grad():
        base = model.embedding(x)
        handle = model.embedding.register_forward_hook(lambda m, i, o: base)
        try:
            out = model(enc.x, enc.lengths)
        finally:
            handle.remove()
    return float(out[0] if row is None else out[0, row])


# every cell under both batchings; bidirectional and stacked models under one each; every read-out for every cell
VARIANTS = [(cell, p, bi, layers, readout) for cell in ("rnn", "lstm", "gru")
            for p, bi, layers, readout in (("seed", False, 1, "last"), ("fast", False, 1, "last"),
                                           ("seed", True, 1, "last"), ("fast", False, 2, "last"),
                                           ("seed", False, 1, "mean"), ("fast", True, 1, "max"),
                                           ("seed", False, 2, "mean_max"), ("fast", False, 1, "mean_max"))]


@pytest.mark.parametrize("baseline", attribution.BASELINES)
@pytest.mark.parametrize("cell, preset_name, bidirectional, layers, readout", VARIANTS)
def test_integrated_gradients_add_up_to_the_change_of_the_logit_from_the_baseline(baseline, cell, preset_name,
                                                                                  bidirectional, layers, readout):
    lr = loaded(cell, preset_name, bidirectional=bidirectional, num_layers=layers, readout=readout)
    text = review(20)
    out = attribute(lr, text, baseline=baseline)
    assert len(out.tokens) == 20 and out.integrated_gradients.shape == (20,) and out.baseline == baseline
    assert out.padding == (10 if preset_name == "seed" else 0)
    # both ends computed apart, through the model's own fused forward: the text's logit and the baseline's
    assert out.logit == pytest.approx(classify(lr, text)["logit"], abs=1e-5)
    assert out.baseline_logit == pytest.approx(baseline_logit(lr, text, baseline), abs=1e-5)
    total = out.integrated_gradients.sum()
    assert total - (out.logit - out.baseline_logit) == pytest.approx(out.gap, abs=1e-5)
    assert abs(total - out.difference) <= out.tolerance and out.complete, out.completeness()
    assert all(p.grad is None for p in lr.model.parameters())  # nothing left behind on a shared model


def test_the_unk_baseline_is_unk_everywhere_and_gives_unknown_tokens_nothing():
    lr = loaded("gru", "seed")
    text = "good zorblax film bad"  # zorblax is read as <unk>
    out = attribute(lr, text)  # the default
    assert out.baseline == attribution.DEFAULT_BASELINE == "unk"
    assert out.baseline_logit == pytest.approx(baseline_logit(lr, text, "unk"), abs=1e-5)
    assert out.complete and out.unknown.tolist() == [False, True, False, False]
    assert out.integrated_gradients[1] == 0.0  # its embedding is the baseline's: no path, no attribution


def test_a_gap_beyond_the_tolerance_is_reported_not_hidden():
    # weights x3 make this bidirectional RNN's path chaotic: 2 quadrature points cannot follow it
    lr = loaded("rnn", "seed", scale=3.0, bidirectional=True)
    rough = attribute(lr, review(20), steps=2, baseline="pad", refine=False)
    fine = attribute(lr, review(20), steps=50, baseline="pad", refine=False)
    assert not rough.complete and abs(rough.gap) > rough.tolerance and rough.steps == rough.first_steps == 2
    assert "not complete" in rough.completeness() and "too abruptly" in rough.completeness()
    assert abs(fine.gap) < abs(rough.gap) and rough.difference == pytest.approx(fine.difference)


def test_a_failed_check_doubles_the_steps_within_the_budget_and_says_so():
    lr = loaded("rnn", "seed", scale=3.0, bidirectional=True)
    text = review(20)
    refined = attribute(lr, text, steps=2, baseline="pad")  # 2 points fail (above): 4, 8, ... until the check holds
    assert refined.complete and refined.first_steps == 2 and refined.steps > 2
    assert refined.steps & (refined.steps - 1) == 0  # doubled: a power of two from 2
    half = attribute(lr, text, steps=refined.steps // 2, baseline="pad", refine=False)
    assert not half.complete  # it stopped at the first number of steps that holds, not later
    assert f"{refined.steps} steps, doubled from 2" in refined.completeness()
    tokens = encode_text(lr, text).x.shape[1]  # the steps the model reads, <pad> ahead of the text included
    assert refined.steps <= attribution.max_steps(2, tokens) == attribution.MAX_REFINED  # 30 tokens: the cap
    assert attribution.max_steps(50, 500) == attribution.PASS_BUDGET // 500 == 200  # a long review: its budget


@pytest.mark.parametrize("readout", ["last", "mean", "max", "mean_max"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("preset_name", ["seed", "fast"])
def test_gradient_x_input_is_the_gradient_times_the_embedding(cell, preset_name, readout):
    lr = loaded(cell, preset_name, seed=1, readout=readout)
    text = review(15, seed=3)
    out = attribute(lr, text)
    model, enc = lr.model, encode_text(lr, text)
    emb = model.embedding(enc.x).detach().requires_grad_(True)
    handle = model.embedding.register_forward_hook(lambda m, i, o: emb)  # autograd through model.forward
    try:
        logit = model(enc.x, enc.lengths)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(logit.sum(), emb)
    product = (grad * emb)[0, enc.padding:].detach().double()  # (T, E)
    np.testing.assert_allclose(out.gradient_x_input, product.sum(-1).numpy(), rtol=1e-4, atol=1e-7)
    # and its norm per token is introspection's saliency: the same gradient on the same reading of the text
    np.testing.assert_allclose(product.norm(dim=-1).numpy(), introspect(lr, text).saliency, rtol=1e-4, atol=1e-7)


def test_a_k_class_run_attributes_the_logit_of_the_class_it_predicts():
    lr = loaded("lstm", "fast", classes=3)
    text = review(12, seed=5)
    pred = classify(lr, text)
    out = attribute(lr, text)
    best = int(np.argmax(pred["logits"]))
    assert out.label == out.toward == pred["label"] == lr.classes[best] and out.against == "the other classes"
    assert out.probability == pytest.approx(pred["probability"], abs=1e-6)
    assert out.logit == pytest.approx(pred["logits"][best], abs=1e-5)
    assert out.baseline_logit == pytest.approx(baseline_logit(lr, text, "unk", row=best), abs=1e-5)
    assert out.complete and out.integrated_gradients.sum() == pytest.approx(out.difference, abs=out.tolerance)


def test_words_sum_their_tokens_and_unread_words_have_none():
    lr = loaded("lstm", "fast", scale=1.0)
    out = attribute(lr, "The good film!!! w3-w4 😀 zorblax")
    by_word = {w: (fate, v) for w, fate, v in out.word_attributions()}
    assert by_word["the"] == ("stopword", None) and by_word["😀"] == ("non_alnum", None)
    assert by_word["zorblax"][0] == "unknown" and by_word["zorblax"][1] is not None
    w34 = next(w for w in out.words if w.word == "w3-w4")
    assert by_word["w3-w4"][1] == pytest.approx(out.integrated_gradients[list(w34.positions)].sum())
    assert sum(v for _, v in by_word.values() if v is not None) == pytest.approx(out.integrated_gradients.sum())


def test_a_long_text_is_bounded_as_introspection_bounds_it():
    lr = loaded("gru", "seed", scale=1.0)  # max_len 30: at most 240 words analysed
    out = attribute(lr, review(2000, seed=1), steps=5)
    assert len(out.tokens) == 30 and out.truncated and len(out.words) == 240
    assert any("analysed the last 240" in n for n in out.notes)


@pytest.mark.parametrize("steps", [0, attribution.MAX_STEPS + 1, 2.5, True, "50"])
def test_steps_outside_their_bounds_are_refused(steps):
    with pytest.raises(ValueError, match="steps"):
        check_steps(steps)


def test_an_unknown_baseline_is_refused():
    with pytest.raises(ValueError, match="baseline must be one of unk, pad"):
        attribute(loaded("rnn"), "good film", baseline="zero")


def test_the_command_line_states_the_bounds_and_choices_the_module_checks():
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    actions = {a.dest: a for a in sub.choices["attribute"]._actions}
    assert actions["steps"].default == attribution.DEFAULT_STEPS
    assert f"1 to {attribution.MAX_STEPS})" in actions["steps"].help
    assert tuple(actions["baseline"].choices) == attribution.BASELINES
    assert actions["baseline"].default == attribution.DEFAULT_BASELINE
    budget = f"up to {attribution.PASS_BUDGET:,} token passes and {attribution.MAX_REFINED} steps"
    assert budget in actions["no_refine"].help


# -- the command line, on the suite's tiny trained runs ------------------------------------------------------------
def test_attribute_json_on_a_stored_run(trained_home, capsys):
    runs = str(trained_home.home / "runs")
    rid = trained_home.run_ids["lstm"]
    assert main(["attribute", rid, "pos film, best pos review ever!", "--steps", "20", "--json",
                 "--runs-dir", runs]) == 0
    out = json.loads(capsys.readouterr().out)
    check = out["completeness"]
    assert out["run_id"] == rid and out["tokens"][:2] == ["pos", "film"] and check["steps"] == 20
    assert len(out["integrated_gradients"]) == len(out["gradient_x_input"]) == len(out["tokens"])
    assert check["complete"] and abs(check["sum"] - check["difference"]) <= check["tolerance"]
    assert check["difference"] == pytest.approx(check["logit"] - check["baseline_logit"])
    assert {w["word"] for w in out["words"]} >= {"pos", "film,"} and out["toward"] == "positive"


def test_attribute_reads_standard_input_and_refuses_bad_steps(trained_home, capsys, monkeypatch):
    runs = str(trained_home.home / "runs")
    rid = trained_home.run_ids["gru"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"a pos film")))
    assert main(["attribute", rid, "-", "--runs-dir", runs]) == 0
    printed = capsys.readouterr().out
    assert "completeness: integrated gradients sum to" in printed and "50 steps" in printed
    assert re.search(r"^pos\s+-?\d\.\d{4}\s+-?\d\.\d{4}$", printed, re.M)  # a line per token: both methods
    assert main(["attribute", rid, "a film", "--steps", "0", "--json", "--runs-dir", runs]) == 1
    assert "steps must lie in [1, 200]" in json.loads(capsys.readouterr().out)["error"]
    assert main(["attribute", rid, "a pos film", "--steps", "1", "--no-refine", "--json", "--runs-dir", runs]) == 0
    check = json.loads(capsys.readouterr().out)["completeness"]
    assert check["steps"] == check["first_steps"] == 1
    assert main(["attribute", rid, "--runs-dir", runs]) == 1
    assert "give the text exactly once" in capsys.readouterr().err
