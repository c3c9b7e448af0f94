"""Neuron search (core.analysis.neurons) against an independent computation, on datasets the tests write themselves.

The searches are pinned to introspection (``core.analysis.introspect``, one text at a time, its own route through
the model) over every test text of a small CSV dataset added with ``data add``: a unit's listed contexts are the
texts' peaks it finds, at the same tokens, and a pattern's units have numpy's correlation of activation and match
over the same tokens. The models are random (scaled so that the gates move) over the dataset's vocabulary, in every
shape the search reads differently: fixed and bucketed batches, one and two layers, one and two directions. The
refusals and the command line run on the suite's tiny trained runs (``trained_home``).
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import fields, replace
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures_runs import use_home

from rnnlab.core.__main__ import build_parser, main
from rnnlab.core.analysis.introspect import Introspection, introspect
from rnnlab.core.analysis.neurons import (
    PATTERNS,
    WORD_CHARS_MAX,
    WORDS_MAX,
    NeuronSearchConfig,
    PatternUnavailable,
    Unit,
    pattern_units,
    unit_contexts,
)
from rnnlab.core.analysis.predict import LoadedRun
from rnnlab.core.config import TextConfig, preset
from rnnlab.core.data import sources
from rnnlab.core.data.corpus import load_corpus
from rnnlab.core.data.datasets import load_frames, resolve_data
from rnnlab.core.models.rnn import SentimentRNN

POSITIVE = ["great", "wonderful", "superb", "lovely", "charming"]
NEGATIVE = ["awful", "boring", "poor", "dull", "bland"]
FILLER = ["phone", "battery", "screen", "camera", "case", "price", "shipping", "box"]
# what reaches the models: every word, punctuation kept (so "!" can be searched), every training word in the vocabulary
TEXT = TextConfig(remove_stopwords=False, remove_non_alnum=False, min_freq=1, max_len=12)
# model shapes the search reads differently: (cell, preset, model fields). seed: fixed batches, read after <pad>s
# (two layers: the pad steps' state rebuilt per layer; two layers both ways: the texts read front-padded);
# fast: bucketed batches, each text from a zero state (both ways: reversed within its length)
SHAPES = {
    "lstm-fixed": ("lstm", "seed", {}),
    "gru-bidirectional": ("gru", "fast", {"bidirectional": True}),
    "rnn-stacked-fixed": ("rnn", "seed", {"num_layers": 2}),
    "lstm-stacked-bidirectional-fixed": ("lstm", "seed", {"num_layers": 2, "bidirectional": True}),
    "gru-stacked-bidirectional": ("gru", "fast", {"num_layers": 2, "bidirectional": True}),
    # the modern cells, read by their scans: the pad steps' start state carried into the scan, a complex state
    "mingru-fixed": ("mingru", "seed", {}),
    "minlstm-bidirectional": ("minlstm", "fast", {"bidirectional": True}),
    "lru-stacked-fixed": ("lru", "seed", {"num_layers": 2}),
    "lru-stacked-bidirectional": ("lru", "fast", {"num_layers": 2, "bidirectional": True}),
}


def remark_rows(n: int = 160, seed: int = 0) -> list[list[str]]:
    """``n`` one-line product remarks, half of each class, some with "not"/"no", "but" and an exclamation mark."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.choices(FILLER, k=rng.randint(3, 10)) + rng.choices(POSITIVE if label == "pos" else NEGATIVE, k=2)
        for word, p in (("not", 0.35), ("no", 0.15), ("but", 0.4)):
            if rng.random() < p:
                words.insert(rng.randrange(len(words) + 1), word)
        if rng.random() < 0.35:
            words[rng.randrange(len(words))] += "!"
        rows.append([" ".join(words), label])
    return rows


@pytest.fixture(scope="module")
def remarks(tmp_path_factory) -> str:
    """A 160-row CSV dataset added as ``remarks`` (a seeded 80/20 split: 32 test texts) in a home of its own."""
    root = tmp_path_factory.mktemp("neurons")
    path = root / "remarks.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text", "label"], *remark_rows()])
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, root / "home")
        sources.add_dataset(path, "remarks")
        yield "remarks"


@cache
def loaded(shape: str, limit: int | None = None, max_vocab: int | None = None) -> LoadedRun:
    """A random model of ``shape`` over the ``remarks`` vocabulary (``limit`` texts per split, ``max_vocab`` words)."""
    cell, preset_name, model = SHAPES[shape]
    cfg = preset(preset_name, cell=cell, dataset="remarks", limit=limit, embedding_dim=6, hidden_size=5, **model)
    cfg = replace(cfg, text=replace(TEXT, max_vocab=max_vocab))
    corpus = load_corpus(cfg.data, cfg.text)
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=len(corpus.vocab)))
    torch.manual_seed(0)
    net = SentimentRNN(cfg.model).eval()
    with torch.no_grad():
        for p in net.rnn.parameters():
            p.mul_(2.0)  # gates that open and close, a cell state that leaves [-1, 1]
    return LoadedRun(f"test-{shape}", cfg, net, corpus.vocab, corpus.classes)


@cache
def introspected(shape: str, limit: int | None = None) -> tuple[list[Introspection], list[str], list[int]]:
    """Introspection of every test text of ``remarks`` (all of them: ``limit`` drops out), with labels and ids."""
    lr = loaded(shape, limit)
    frame = load_frames(resolve_data(replace(lr.cfg.data, limit=None)))["test"]
    labels = [lr.classes[int(v)] for v in frame["label"]]
    return [introspect(lr, t) for t in frame["text"]], labels, frame["id"].astype(int).tolist()


def values(found: list[Introspection], unit: Unit) -> list[np.ndarray]:
    return [i.state(unit.state, unit.layer, unit.direction)[:, unit.index] for i in found]


def check_context(c, found: list[Introspection], itos: list[str], unit: Unit, window: int) -> None:
    """The context is introspection's: the unit's value at that token, the tokens around it as the model read them."""
    one = found[c.text]
    tokens = [itos[i] for i in one.ids]
    assert c.activation == pytest.approx(float(one.state(unit.state, unit.layer, unit.direction)[c.position,
                                                                                                 unit.index]), abs=1e-5)
    assert c.token == tokens[c.position]
    assert c.left == tokens[max(0, c.position - window):c.position]
    assert c.right == tokens[c.position + 1:c.position + 1 + window]


# -- a unit's contexts -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_units_highest_and_lowest_contexts_are_the_test_texts_peaks_introspection_finds(remarks, shape):
    lr = loaded(shape)
    found, labels, ids = introspected(shape)
    model = lr.model
    cfg = NeuronSearchConfig(top=6, window=3)
    last = (model.num_layers - 1, model.num_directions - 1)  # the deepest layer, backward when there is one
    for state in model.cell_def.recorded:
        unit = Unit(*last, 3, state)
        rep = unit_contexts(lr, unit, cfg)
        per_text = values(found, unit)
        peaks, troughs = np.array([v.max() for v in per_text]), np.array([v.min() for v in per_text])
        assert [c.activation for c in rep.highest] == pytest.approx(np.sort(peaks)[::-1][:6].tolist(), abs=1e-5)
        assert [c.activation for c in rep.lowest] == pytest.approx(np.sort(troughs)[:6].tolist(), abs=1e-5)
        assert len({c.text for c in rep.highest}) == 6  # one token per text
        for c in rep.highest + rep.lowest:
            check_context(c, found, lr.vocab.itos, unit, 3)
            assert (c.label, c.review_id) == (labels[c.text], ids[c.text])
        every = np.concatenate(per_text)
        assert (rep.texts, rep.split_texts, rep.tokens) == (len(found), len(found), len(every))
        assert rep.mean == pytest.approx(float(every.mean()), abs=1e-5)
        assert rep.std == pytest.approx(float(every.std()), abs=1e-5)
    if model.num_directions == 2:
        assert any("backward unit" in n for n in rep.notes)


def test_a_sample_reads_that_many_texts_the_same_ones_every_time(remarks):
    lr = loaded("lstm-fixed")
    cfg = NeuronSearchConfig(sample=7, top=3)
    first, again = unit_contexts(lr, "0:0:1:c", cfg), unit_contexts(lr, Unit(0, 0, 1, "cell"), cfg)
    assert (first.texts, first.split_texts) == (7, 32) and first.tokens < unit_contexts(lr, "0:0:1:c").tokens
    assert first.to_dict() | {"elapsed_s": 0} == again.to_dict() | {"elapsed_s": 0}
    assert any("a sample of 7 of the 32" in n for n in first.notes)


def test_the_whole_split_of_a_run_trained_on_part_of_it_is_read_in_the_runs_own_vocabulary(remarks):
    lr = loaded("gru-bidirectional", limit=20)
    part = unit_contexts(lr, "0:1:2:update_gate", NeuronSearchConfig(top=3))
    assert part.split_texts == 20  # the run's limit
    whole = unit_contexts(lr, "0:1:2:update_gate", NeuronSearchConfig(top=3, whole_split=True))
    found, _, _ = introspected("gru-bidirectional", 20)  # introspection reads the text with the run's vocabulary
    assert (whole.texts, whole.split_texts) == (32, 32)
    assert any("beyond the 20 texts" in n for n in whole.notes)
    assert not any("read as <unk>" in n for n in whole.notes)  # the whole training split has every word of its part
    unit = Unit(0, 1, 2, "update_gate")
    assert whole.highest[0].activation == pytest.approx(max(float(v.max()) for v in values(found, unit)), abs=1e-5)
    for c in whole.highest + whole.lowest:
        check_context(c, found, lr.vocab.itos, unit, NeuronSearchConfig().window)


def test_words_the_run_knows_but_the_whole_splits_vocabulary_cut_are_counted_in_a_note(remarks):
    lr = loaded("lstm-fixed", limit=20, max_vocab=10)  # the 10 commonest words of 20 texts are not all those of 128
    whole = load_corpus(replace(lr.cfg.data, limit=None), lr.cfg.text).vocab.itos
    lost = len(set(lr.vocab.itos[2:]) - set(whole))
    assert lost > 0
    rep = unit_contexts(lr, "0:0:0", NeuronSearchConfig(whole_split=True))
    assert f"{lost:,} words of the run's vocabulary are not in this split's encoding and read as <unk>" in rep.notes


# -- the units that track a pattern ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, pattern, matching", [
    ("lstm-fixed", "negations", {"no", "not"}),
    ("gru-bidirectional", "but", {"but"}),
    ("lstm-stacked-bidirectional-fixed", "exclamation", None),  # None: every token holding "!"
    ("rnn-stacked-fixed", ["Great", "awful", "nosuchword"], {"great", "awful"}),
    ("lru-stacked-bidirectional", "negations", {"no", "not"}),
    ("minlstm-bidirectional", "exclamation", None),
])
def test_the_units_that_track_a_pattern_have_numpys_correlation_over_the_same_tokens(remarks, shape, pattern, matching):
    lr = loaded(shape)
    found, _, _ = introspected(shape)
    itos = lr.vocab.itos
    tokens = [itos[i] for one in found for i in one.ids]
    match = np.array([("!" in t) if matching is None else (t in matching) for t in tokens], dtype=float)
    cfg = NeuronSearchConfig(top=8, contexts=4, window=2)
    rep = pattern_units(lr, pattern, cfg)
    assert rep.matches == int(match.sum()) > 0 and rep.tokens == len(tokens)
    assert set(rep.words) == {w for w in itos[2:] if ("!" in w if matching is None else w in matching)}
    model = lr.model
    units = [Unit(ly, d, j, s) for ly in range(model.num_layers) for d in range(model.num_directions)
             for s in model.cell_def.recorded for j in range(model.hidden_size)]
    r = {}
    for u in units:
        a = np.concatenate(values(found, u)).astype(float)
        r[u] = np.corrcoef(a, match)[0, 1] if a.std() > 0 else np.nan
    strongest = sorted((abs(v) for v in r.values() if np.isfinite(v)), reverse=True)[:8]
    assert [abs(u.r) for u in rep.units] == pytest.approx(strongest, abs=1e-4)
    for row in rep.units:
        assert row.r == pytest.approx(r[row.unit], abs=1e-4)
        a = np.concatenate(values(found, row.unit))
        assert row.mean_match == pytest.approx(float(a[match == 1].mean()), abs=1e-5)
        assert row.mean_other == pytest.approx(float(a[match == 0].mean()), abs=1e-5)
        # the matching tokens where the unit goes furthest in r's direction, one per text, furthest first
        best = max if row.r > 0 else min
        per_text = [best(v[[t in rep.words for t in (itos[i] for i in one.ids)]], default=np.nan)
                    for v, one in zip(values(found, row.unit), found, strict=True)]
        ranked = sorted((x for x in per_text if np.isfinite(x)), reverse=row.r > 0)[:4]
        assert [c.activation for c in row.contexts] == pytest.approx(ranked, abs=1e-5)
        for c in row.contexts:
            assert c.token in rep.words
            check_context(c, found, itos, row.unit, 2)
    if isinstance(pattern, list):
        assert any("nosuchword" in n and "unknown" in n for n in rep.notes)


def test_a_pattern_search_can_be_limited_to_some_states(remarks):
    lr = loaded("lstm-fixed")
    rep = pattern_units(lr, "but", NeuronSearchConfig(top=100), states=["c", "forget_gate"])
    assert {u.unit.state for u in rep.units} == {"cell", "forget_gate"} and len(rep.units) == 10  # 2 x 5 units
    with pytest.raises(ValueError, match="records reset_gate, update_gate, candidate, hidden: not 'cell'"):
        pattern_units(loaded("gru-bidirectional"), "but", states=["cell"])


# -- what is refused, and why ----------------------------------------------------------------------------------------
@pytest.fixture
def home(trained_copy) -> Path:
    """A copy of the suite's tiny trained runs (default pipeline: stop words and punctuation removed)."""
    return trained_copy


@pytest.mark.parametrize("pattern, why", [
    ("but", r"^but cannot occur in what this run reads: stop word: but \(a run trained with remove_stopwords off"),
    ("negations", r"stop word: no, nor, not, .* more \(a run trained with keep_negations reads them\)$"),
    ("exclamation", r"removes punctuation \(remove_non_alnum\)"),
    (["zorblax", "The"], r"^the words cannot occur in what this run reads: stop word: the; unknown: zorblax \("),
    (["train"], r"no token of the 12 texts read matches train"),  # in the vocabulary, never in a test text
])
def test_a_pattern_the_run_never_reads_is_refused_with_the_reason(home, trained_home, pattern, why):
    with pytest.raises(PatternUnavailable, match=why):
        pattern_units(trained_home.run_ids["lstm"], pattern, runs_dir=home / "runs")


@pytest.mark.parametrize("make, why", [
    (lambda: NeuronSearchConfig(sample=0), "sample"),
    (lambda: NeuronSearchConfig(top=101), "top"),
    (lambda: NeuronSearchConfig(contexts=51), "contexts"),
    (lambda: NeuronSearchConfig(window=-1), "window"),
    (lambda: Unit.parse("0:0"), "LAYER:DIRECTION:UNIT"),
    (lambda: Unit.parse("0:-1:2"), "LAYER:DIRECTION:UNIT"),
    (lambda: unit_contexts(loaded("gru-bidirectional"), "0:0:5"), r"unit 5 is not in the model.*0 to 4"),
    (lambda: unit_contexts(loaded("gru-bidirectional"), "1:0:0"), r"layer 1 is not in the model.*0 to 0"),
    (lambda: unit_contexts(loaded("lstm-fixed"), "0:1:0"), r"direction 1 is not in the model.*0 to 0"),
    (lambda: unit_contexts(loaded("gru-bidirectional"), "0:0:0:c"), "a gru records no 'cell'"),
    (lambda: pattern_units(loaded("lstm-fixed"), "commas"), "unknown pattern 'commas'"),
    (lambda: pattern_units(loaded("lstm-fixed"), [" ", ""]), "the word list is empty"),
    (lambda: pattern_units(loaded("lstm-fixed"), ["w"] * (WORDS_MAX + 1)), f"at most {WORDS_MAX}"),
    (lambda: pattern_units(loaded("lstm-fixed"), ["w" * (WORD_CHARS_MAX + 1)]), f"at most {WORD_CHARS_MAX}"),
])
def test_a_search_out_of_bounds_is_refused_with_what_fits(remarks, make, why):
    with pytest.raises(ValueError, match=why):
        make()


# -- the command line ----------------------------------------------------------------------------------------------
def test_the_command_lines_flags_state_the_configs_defaults_and_bounds():
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    actions = {a.dest: a for a in sub.choices["neurons"]._actions}
    for f in fields(NeuronSearchConfig):
        action = actions[f.name]
        if f.type == "bool" or isinstance(f.default, bool):
            assert action.default is False and f.default is False and action.const is True
            continue
        assert action.default is None  # unset: the config's default applies
        lo, hi = f.metadata["min"], f.metadata["max"]
        assert re.search(rf"\(default {f.default}; {lo} to {hi}\b", action.help), (f.name, action.help)
    assert tuple(actions["pattern"].choices) == tuple(PATTERNS)
    assert f"({WORDS_MAX} at most)" in actions["words"].help


def test_neurons_json_for_a_unit_and_for_a_word_list_on_a_stored_run(home, trained_home, capsys):
    runs, rid = str(home / "runs"), trained_home.run_ids["lstm"]
    assert main(["neurons", rid, "--unit", "0:0:3:c", "--top", "4", "--window", "2", "--json", "--runs-dir", runs]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = unit_contexts(rid, "0:0:3:cell", NeuronSearchConfig(top=4, window=2), runs_dir=runs)
    assert out["unit"] == "0:0:3:cell" and out["texts"] == 12
    assert [c["activation"] for c in out["highest"]] == pytest.approx([c.activation for c in expected.highest])
    assert [c["token"] for c in out["lowest"]] == [c.token for c in expected.lowest]
    assert main(["neurons", rid, "--words", "film,pos", "--states", "hidden,c", "--top", "3", "--json",
                 "--runs-dir", runs]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["words"] == ["film", "pos"] and len(out["units"]) == 3
    assert {u["unit"].split(":")[3] for u in out["units"]} <= {"hidden", "cell"}
    assert all(-1 <= u["r"] <= 1 and u["contexts"] for u in out["units"])


def test_neurons_refusals_are_one_line_and_an_error_object_with_json(home, trained_home, capsys):
    runs, rid = str(home / "runs"), trained_home.run_ids["gru"]
    assert main(["neurons", rid, "--pattern", "but", "--json", "--runs-dir", runs]) != 0
    assert "stop word" in json.loads(capsys.readouterr().out)["error"]
    assert main(["neurons", rid, "--unit", "0:0:0", "--states", "hidden", "--runs-dir", runs]) != 0
    assert "--states goes with --pattern" in capsys.readouterr().err
    assert main(["neurons", rid, "--unit", "0:0:0", "--sample", "0", "--runs-dir", runs]) != 0
    assert "sample" in capsys.readouterr().err
    assert main(["neurons", rid, "--unit", "0:0:7", "--window", "1", "--runs-dir", runs]) == 0
    printed = capsys.readouterr().out
    assert "highest (one token per text):" in printed and "lowest" in printed and "[" in printed
