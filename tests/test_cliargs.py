"""Command-line flags generated from the configs' metadata: one per field, the old spellings, none/off, --no-x."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from rnnlab.core.__main__ import HMM_SKIP
from rnnlab.core.cliargs import add_config_arguments, config_from_args, overrides_from_args
from rnnlab.core.config import (
    JOB_CONFIGS,
    DataConfig,
    ExperimentConfig,
    HMMConfig,
    HMMRunConfig,
    HorizonConfig,
    ModelConfig,
    RunConfig,
    TextConfig,
    TrainConfig,
    preset,
    split_optional,
    type_hints,
)


def parser_for(cls: type, **kw) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_config_arguments(p, cls, **kw)
    return p


def flags(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings}


def leaf_fields(cls: type):
    for f in dataclasses.fields(cls):
        kind = split_optional(type_hints(cls)[f.name])[1]
        yield from leaf_fields(kind) if dataclasses.is_dataclass(kind) else [f]


@pytest.mark.parametrize("kind", sorted(JOB_CONFIGS))
def test_every_field_gets_a_flag_named_after_it(kind):
    cls = JOB_CONFIGS[kind]
    have = flags(parser_for(cls, skip=HMM_SKIP if kind == "hmm" else ()))  # hmm's --limit is HMMConfig.limit
    for f in leaf_fields(cls):
        name = "--" + f.name.replace("_", "-")
        assert (name in have) != bool(f.metadata.get("internal")), name


def test_the_old_spellings_still_work():
    p = parser_for(RunConfig)
    args = p.parse_args(["--model", "gru", "--layers", "2", "--hidden", "8", "--init-radius", "1.5", "--clip", "0",
                         "--no-stopwords", "--imdb", "/data/a.tar.gz"])
    assert overrides_from_args(args, RunConfig) == {
        "cell": "gru", "num_layers": 2, "hidden_size": 8, "recurrent_init_radius": 1.5, "clip_norm": None,
        "remove_stopwords": False, "imdb_path": "/data/a.tar.gz"}
    hmm = parser_for(HMMConfig).parse_args(["--iter", "3", "--covariance", "full"])
    assert overrides_from_args(hmm, HMMConfig) == {"n_iter": 3, "covariance_type": "full"}
    horizon = parser_for(HorizonConfig).parse_args(["--no-gradients", "--hidden", "4"])
    assert overrides_from_args(horizon, HorizonConfig) == {"record_gradients": False, "hidden_size": 4}


def test_only_the_flags_given_are_overrides():
    p = parser_for(RunConfig)
    assert overrides_from_args(p.parse_args([]), RunConfig) == {}
    assert overrides_from_args(p.parse_args(["--epochs", "2"]), RunConfig) == {"epochs": 2}


def test_bools_have_a_no_form_and_optionals_take_none_or_off():
    p = parser_for(RunConfig)
    args = p.parse_args(["--no-flush-denormals", "--bidirectional", "--tbptt", "none", "--max-vocab", "off",
                         "--threads", "2"])
    assert overrides_from_args(args, RunConfig) == {"flush_denormals": False, "bidirectional": True, "tbptt": None,
                                                    "max_vocab": None, "threads": 2}
    assert overrides_from_args(p.parse_args(["--clip-norm", "off"]), RunConfig) == {"clip_norm": None}
    with pytest.raises(argparse.ArgumentError):
        p.parse_args(["--epochs", "none"])  # not optional: none is not an int


def test_tuples_are_comma_separated():
    args = parser_for(ExperimentConfig).parse_args(["--seeds", "0,1,2", "--cells", "gru", "--ablation-seeds", "none"])
    assert ExperimentConfig(**overrides_from_args(args, ExperimentConfig)) == ExperimentConfig(
        seeds=(0, 1, 2), cells=("gru",), ablation_seeds=None)


def test_a_parsed_command_line_equals_the_config_built_directly():
    p = parser_for(RunConfig)
    args = p.parse_args(["--cell", "rnn", "--hidden-size", "16", "--num-layers", "2", "--lr", "0.01", "--batching",
                         "bucket", "--keep-negations", "--limit", "40", "--device", "cuda:1", "--dropout", "0"])
    direct = RunConfig(DataConfig(limit=40), TextConfig(keep_negations=True),
                       ModelConfig(cell="rnn", hidden_size=16, num_layers=2, dropout=0.0),
                       TrainConfig(lr=0.01, batching="bucket", device="cuda:1"))
    assert config_from_args(args, RunConfig) == direct
    assert preset("seed", **overrides_from_args(args, RunConfig)) == direct


def test_a_skipped_field_of_one_section_leaves_the_same_name_in_another():
    p = parser_for(HMMRunConfig, skip=("data.limit",))
    cfg = config_from_args(p.parse_args(["--limit", "6", "--val-size", "2"]), HMMRunConfig, skip=("data.limit",))
    assert (cfg.hmm.limit, cfg.data.limit, cfg.data.val_size) == (6, None, 2)


def test_a_value_out_of_range_is_refused_by_the_config_with_its_message():
    args = parser_for(RunConfig).parse_args(["--hidden-size", "0"])
    with pytest.raises(ValueError, match=r"ModelConfig.hidden_size = 0: expected an int in \[1, 4096\]"):
        config_from_args(args, RunConfig)


def test_help_shows_the_default_and_the_range():
    text = parser_for(RunConfig).format_help()
    assert "units in the recurrent state h (default: 50; an int in [1, 4096])" in " ".join(text.split())
