"""The Train page's form: fields per task with the preset's defaults, and the configs a filled form gives."""

from __future__ import annotations

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


def test_field_kinds_follow_the_config_types_and_help_comes_from_config_comments():
    fields = {f.name: f for f in forms.form_fields(preset("seed"))}
    assert (fields["tbptt"].kind, fields["tbptt"].optional) == ("int", True)
    assert (fields["lr"].kind, fields["lr"].optional) == ("float", False)
    assert fields["bidirectional"].kind == "bool"
    assert "detach the state" in fields["tbptt"].help
    assert all(f.help for f in fields.values())
    main = [f.name for f in forms.form_fields(preset("seed")) if f.main]
    assert main == [n for n in forms.MAIN if n in main]  # shown in MAIN's order


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
