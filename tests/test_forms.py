"""The forms without Streamlit: the Train page's fields per task with the preset's defaults and the configs a filled
form gives; any config's fields (the HMM, word2vec, memory-horizon and experiment forms) with their metadata, and
the widgets' values read back as config values."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from rnnlab.core.config import (
    CELLS,
    CLASSIC_CELLS,
    ExperimentConfig,
    HMMConfig,
    HorizonConfig,
    RunConfig,
    Word2VecConfig,
    preset,
)
from rnnlab.dashboard import forms


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
    from rnnlab.core.__main__ import build_parser

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


# -- any config's form -------------------------------------------------------------------------------------------
JOB_FORMS = [HMMConfig, Word2VecConfig, HorizonConfig, ExperimentConfig]


@pytest.mark.parametrize("cls", JOB_FORMS)
def test_any_configs_fields_become_form_fields_with_their_metadata_and_defaults(cls):
    fields = forms.config_fields(cls)
    declared = [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]
    assert [f.name for f in fields] == [f.name for f in declared]
    for field, f in zip(fields, declared, strict=True):
        meta = f.metadata
        assert (field.default, field.help, field.minimum, field.maximum) == (f.default, meta["help"], meta["min"],
                                                                             meta["max"])
        assert field.choices == tuple(meta["choices"] or ())


def test_tuples_become_a_multiple_choice_or_a_list_of_numbers():
    fields = {f.name: f for f in forms.config_fields(HorizonConfig)}
    # any cell may be chosen; the classic three are the default
    assert (fields["models"].kind, fields["models"].choices) == ("choices", CELLS)
    assert fields["models"].default == CLASSIC_CELLS == ("rnn", "lstm", "gru")
    assert (fields["lengths"].kind, fields["lengths"].number) == ("numbers", "int")
    assert fields["lengths"].text(fields["lengths"].default) == "10, 25, 50, 100, 200"
    assert (fields["clip_norm"].kind, fields["clip_norm"].optional) == ("float", True)
    assert fields["device"].kind == "choice" and fields["stop_on_success"].kind == "bool"
    seeds = {f.name: f for f in forms.config_fields(ExperimentConfig)}["ablation_seeds"]
    assert (seeds.kind, seeds.optional) == ("numbers", True)


def test_a_form_can_name_its_fields_and_leave_out_those_its_page_sets():
    fields = forms.config_fields(HMMConfig, names=["mix", "states"])
    assert [f.name for f in fields] == ["mix", "states"]
    assert "embeddings" not in {f.name for f in forms.config_fields(HMMConfig, skip=("embeddings",))}
    assert forms.config_fields(HMMConfig, HMMConfig(states=7), names=["states"])[0].default == 7
    with pytest.raises(ValueError, match="no field 'nope'"):
        forms.config_fields(HMMConfig, names=["nope"])


@pytest.mark.parametrize("cls", JOB_FORMS)
def test_the_defaults_as_the_widgets_hold_them_read_back_as_the_default_config(cls):
    fields = forms.config_fields(cls)
    shown = {f.name: f.text(f.default) if f.kind in ("numbers", "text") else
             list(f.default) if f.kind == "choices" else f.default for f in fields}
    assert cls(**forms.parse_values(fields, shown)) == cls()


def test_widget_values_are_parsed_into_config_values_or_refused_by_name():
    fields = {f.name: f for f in forms.config_fields(HorizonConfig)}
    assert forms.parse_value(fields["lengths"], "30, 10 ,50") == (30, 10, 50)
    assert forms.parse_value(fields["models"], ["gru"]) == ("gru",)
    assert forms.parse_value(fields["steps"], 12.0) == 12
    with pytest.raises(ValueError, match="lengths: 'ten' is not a whole number"):
        forms.parse_value(fields["lengths"], "ten")
    with pytest.raises(ValueError, match="lengths: give at least one number"):
        forms.parse_value(fields["lengths"], " ")
    seeds = {f.name: f for f in forms.config_fields(ExperimentConfig)}
    assert forms.parse_value(seeds["ablation_seeds"], "") is None and forms.parse_value(seeds["address"], " ") is None


def test_a_float_steps_by_the_power_of_ten_of_its_default():
    fields = {f.name: f for f in forms.config_fields(HMMConfig)}
    assert (fields["tol"].step, fields["min_covar"].step, fields["states"].step) == (1e-4, 1e-3, 1)
    assert {f.name: f for f in forms.form_fields(preset("seed"))}["dropout"].step == 0.1


def test_the_form_stores_imdb_as_none_and_another_dataset_by_name():
    [imdb] = forms.configs_from_form("seed", ["lstm"], "imdb", {}, imdb_path="/a.tar.gz", dataset="imdb")
    [named] = forms.configs_from_form("seed", ["lstm"], "imdb", {}, imdb_path="/a.tar.gz", dataset="topics")
    assert (imdb.data.dataset, imdb.data.imdb_path) == (None, "/a.tar.gz")
    assert (named.data.dataset, named.data.imdb_path) == ("topics", None)
