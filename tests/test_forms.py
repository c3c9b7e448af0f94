"""The Train page's form: fields per task with the preset's defaults, and the configs a filled form gives."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from core.config import RunConfig, preset
from dashboard import forms


@pytest.mark.parametrize("preset_name", ["seed", "fast"])
def test_form_defaults_are_the_presets_values(preset_name):
    cfg = preset(preset_name)
    for f in forms.form_fields(cfg, "imdb"):
        assert f.default == getattr(getattr(cfg, f.section), f.name)
    batching = {f.name: f for f in forms.form_fields(cfg)}["batching"]
    assert batching.kind == "choice" and batching.default == ("fixed" if preset_name == "seed" else "bucket")


@pytest.mark.parametrize("task", ["imdb", "adding", "order"])
def test_the_form_offers_only_the_fields_of_its_task(task):
    names = {f.name for f in forms.form_fields(preset("seed"), task)}
    assert not names & forms.HIDDEN
    if task == "imdb":
        assert {"keep_negations", "limit", "max_len", "batching"} <= names and "seq_len" not in names
    else:
        assert {"seq_len", "train_steps", "hidden_size"} <= names and not names & {"keep_negations", "limit"}


def test_field_kinds_follow_the_config_types_and_help_comes_from_the_field_metadata():
    fields = {f.name: f for f in forms.form_fields(preset("seed"))}
    assert (fields["tbptt"].kind, fields["tbptt"].optional) == ("int", True)
    assert (fields["lr"].kind, fields["lr"].optional) == ("float", False)
    assert fields["bidirectional"].kind == "bool"
    assert fields["truncate"].kind == "choice" and fields["truncate"].choices == ("pre", "post")
    for name, f in fields.items():
        meta = {x.name: x for x in dataclasses.fields(forms.SECTIONS[f.section])}[name].metadata
        assert f.help == meta["help"] and f.help
        assert (f.minimum, f.maximum, f.main) == (meta["min"], meta["max"], meta["main"])


@pytest.mark.parametrize("task", ["imdb", "adding"])
def test_the_main_fields_come_first_and_every_number_has_both_bounds(task):
    fields = forms.form_fields(preset("seed"), task)
    main = [f.main for f in fields]
    assert any(main) and main == sorted(main, reverse=True)
    assert {"epochs", "hidden_size", "lr"} <= {f.name for f in fields if f.main}
    for f in fields:
        if f.kind in ("int", "float"):
            assert f.minimum is not None and f.maximum is not None and f.minimum < f.maximum, f.name
            assert f.default is None or f.minimum <= f.default <= f.maximum, f.name


def _train_parser() -> argparse.ArgumentParser:
    from core.__main__ import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


@pytest.mark.parametrize("task", ["imdb", "adding", "order"])
def test_every_field_the_form_offers_has_a_train_flag_of_the_same_name(task):
    parser = _train_parser()
    flags = {s: a.dest for a in parser._actions for s in a.option_strings}
    for f in forms.form_fields(preset("seed"), task):
        flag = "--" + f.name.replace("_", "-")
        assert flags.get(flag) == f.name, flag
        assert flag in parser.format_help()


def test_configs_from_form_gives_one_config_per_cell_with_every_value():
    values = {"hidden_size": 8, "epochs": 1, "limit": 40, "keep_negations": True, "tbptt": None}
    cfgs = forms.configs_from_form("fast", ["rnn", "gru"], "imdb", values, imdb_path="/data/a.tar.gz",
                                   embeddings="w2v-run")
    assert [c.model.cell for c in cfgs] == ["rnn", "gru"]
    for c in cfgs:
        assert isinstance(c, RunConfig)
        assert (c.model.hidden_size, c.train.epochs, c.data.limit, c.text.keep_negations) == (8, 1, 40, True)
        assert c.train.preset == "fast" and c.train.batching == "bucket"
        assert (c.data.imdb_path, c.train.embeddings) == ("/data/a.tar.gz", "w2v-run")


def test_a_synthetic_run_ignores_the_dataset_and_word2vec_choices():
    [cfg] = forms.configs_from_form("seed", ["lstm"], "adding", {"seq_len": 30}, imdb_path="/x", embeddings="w")
    assert cfg.train.task == "adding" and cfg.train.seq_len == 30
    assert cfg.data.imdb_path is None and cfg.train.embeddings is None


@pytest.mark.parametrize("cells, values", [([], {}), (["lstm"], {"no_such_field": 1}), (["cnn"], {})])
def test_a_bad_form_is_refused(cells, values):
    with pytest.raises(ValueError):
        forms.configs_from_form("seed", cells, "imdb", values)
