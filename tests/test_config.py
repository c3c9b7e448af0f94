"""Configs: presets, overrides by field name, JSON round trip, validation from the fields' metadata."""

import dataclasses
import json
import re
import typing
from dataclasses import fields

import pytest

from rnnlab.core.config import (
    JOB_CONFIGS,
    DataConfig,
    DataJobConfig,
    ExperimentConfig,
    HMMConfig,
    HMMRunConfig,
    HorizonConfig,
    ModelConfig,
    RunConfig,
    SweepConfig,
    TextConfig,
    TrainConfig,
    Word2VecConfig,
    Word2VecRunConfig,
    config_from_dict,
    config_to_dict,
    preset,
    split_optional,
    type_hints,
    with_overrides,
)


def test_seed_preset_has_the_seed_reports_settings():
    cfg = preset("seed", cell="gru")
    assert cfg.model.cell == "gru"
    assert (cfg.model.embedding_dim, cfg.model.hidden_size, cfg.model.num_layers) == (100, 50, 1)
    assert cfg.model.dropout == 0.5
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.clip_norm, cfg.train.epochs) == (50, 1e-3, 5.0, 5)
    assert cfg.train.batching == "fixed"
    assert cfg.text.remove_stopwords and not cfg.text.keep_negations


def test_fast_preset_keeps_the_model_and_optimiser_but_buckets():
    seed, fast = preset("seed"), preset("fast")
    assert fast.model == seed.model
    assert (fast.train.lr, fast.train.batch_size, fast.train.clip_norm) == (1e-3, 50, 5.0)
    assert fast.train.batching == "bucket"


def test_overrides_reach_the_config_that_owns_the_field():
    cfg = preset("seed", epochs=2, hidden_size=8, keep_negations=True, limit=100)
    assert cfg.train.epochs == 2 and cfg.model.hidden_size == 8
    assert cfg.text.keep_negations and cfg.data.limit == 100
    with pytest.raises(ValueError, match="unknown config field"):
        with_overrides(cfg, hiden_size=3)


def test_run_config_round_trips_through_a_dict_and_rejects_unknown_fields():
    cfg = preset("fast", cell="rnn", bidirectional=True, tbptt=20)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    d = cfg.to_dict()
    d["model"]["colour"] = "red"
    with pytest.raises(ValueError, match="colour"):
        RunConfig.from_dict(d)


@pytest.mark.parametrize("bad", [dict(cell="transformer"), dict(num_layers=0)])
def test_model_config_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)


def test_unknown_task_and_preset_are_rejected():
    with pytest.raises(ValueError, match="task"):
        TrainConfig(task="mnist")
    with pytest.raises(ValueError, match="preset"):
        preset("slow")


# -- the metadata and the one validation ---------------------------------------------------------------------------
ALL_CONFIGS = sorted({DataConfig, TextConfig, ModelConfig, TrainConfig, HMMConfig, Word2VecConfig, HorizonConfig,
                      ExperimentConfig, DataJobConfig, *JOB_CONFIGS.values()}, key=lambda c: c.__name__)
LEAF_CONFIGS = [c for c in ALL_CONFIGS if not any(dataclasses.is_dataclass(split_optional(t)[1])
                                                  for t in type_hints(c).values())]


def _bounded(cls):
    """(field, metadata) of every field of ``cls`` with a numeric bound."""
    return [(f, f.metadata) for f in fields(cls) if f.metadata.get("min") is not None
            or f.metadata.get("max") is not None]


@pytest.mark.parametrize("cls", ALL_CONFIGS, ids=lambda c: c.__name__)
def test_every_field_carries_a_one_line_help_text(cls):
    for f in fields(cls):
        text = f.metadata.get("help")
        assert text and "\n" not in text, f"{cls.__name__}.{f.name} has no one-line help"


@pytest.mark.parametrize("cls", LEAF_CONFIGS, ids=lambda c: c.__name__)
def test_every_number_has_a_lower_and_an_upper_bound(cls):
    for f in fields(cls):
        kind = split_optional(type_hints(cls)[f.name])[1]
        item = typing.get_args(kind)[0] if typing.get_origin(kind) is tuple else kind
        if item in (int, float):
            assert f.metadata["min"] is not None and f.metadata["max"] is not None, f"{cls.__name__}.{f.name}"


@pytest.mark.parametrize("cls, name, value", [
    (ModelConfig, "hidden_size", 4097), (ModelConfig, "num_layers", 17), (ModelConfig, "embedding_dim", 0),
    (ModelConfig, "dropout", 1.0), (TrainConfig, "lr", 0.0), (TrainConfig, "lr", 10.5), (TrainConfig, "epochs", 0),
    (TrainConfig, "batch_size", 100_000), (TrainConfig, "seq_len", 1), (TextConfig, "max_len", 10**6),
    (DataConfig, "limit", 0), (HMMConfig, "states", 10**4), (Word2VecConfig, "window", 0),
])
def test_a_value_out_of_bounds_is_refused_with_the_config_field_value_and_range(cls, name, value):
    with pytest.raises(ValueError) as err:
        cls(**{name: value})
    message = str(err.value)
    assert f"{cls.__name__}.{name}" in message and repr(value) in message
    assert re.search(r"[\[(]-?[\d.e+]+, [\d.e+]+[\])]", message)  # the allowed range, e.g. [1, 4096]


@pytest.mark.parametrize("cls", LEAF_CONFIGS, ids=lambda c: c.__name__)
def test_each_bound_is_enforced_just_past_it_and_accepted_at_it(cls):
    for f, meta in _bounded(cls):
        kind = split_optional(type_hints(cls)[f.name])[1]
        many = typing.get_origin(kind) is tuple
        step = 1 if (typing.get_args(kind)[0] if many else kind) is int else 1e-9 * max(1.0, abs(meta["max"] or 1))
        for edge, sign, is_open in ((meta["min"], -1, meta["min_open"]), (meta["max"], 1, meta["max_open"])):
            if edge is None:
                continue
            wrap = (lambda v: (v,)) if many else (lambda v: v)
            with pytest.raises(ValueError, match=f"{cls.__name__}.{f.name}"):
                cls(**{f.name: wrap(edge if is_open else edge + sign * step)})
            if not is_open:
                cls(**{f.name: wrap(type(step)(edge) if step == 1 else float(edge))})


@pytest.mark.parametrize("cls, name, value", [
    (ModelConfig, "bidirectional", 1), (ModelConfig, "hidden_size", True), (ModelConfig, "hidden_size", 8.0),
    (TrainConfig, "seed", "0"), (TextConfig, "truncate", "middle"), (TrainConfig, "device", "tpu"),
    (ModelConfig, "hidden_size", None), (HorizonConfig, "models", ["rnn"]), (HorizonConfig, "lengths", ()),
    (ExperimentConfig, "seeds", (0, "1")), (TrainConfig, "batching", None),
])
def test_wrong_types_and_none_where_not_allowed_are_refused(cls, name, value):
    with pytest.raises(ValueError, match=f"{cls.__name__}.{name}"):
        cls(**{name: value})


def test_an_int_is_accepted_for_a_float_and_none_where_the_annotation_allows_it():
    assert TrainConfig(lr=1, clip_norm=None, tbptt=None, threads=None).lr == 1
    assert TrainConfig(device="cuda:1").device == "cuda:1"
    assert ExperimentConfig(ablation_seeds=None, hmm_limit=None).hmm_limit is None


def test_the_memory_horizon_keeps_its_task_specific_length_check():
    with pytest.raises(ValueError, match="temporal-order"):
        HorizonConfig(task="order", lengths=(5, 10))
    with pytest.raises(ValueError, match="the copy task needs lengths >= 5"):
        HorizonConfig(task="copy", lengths=(4, 10))
    assert HorizonConfig(task="adding", lengths=(2,)).lengths == (2,)
    assert HorizonConfig(steps=30, evals=3).run_config("gru", 12).train.seq_len == 12


def test_a_data_install_needs_an_archive():
    with pytest.raises(ValueError, match="archive"):
        DataJobConfig(action="install")
    assert DataJobConfig(action="install", archive="/tmp/a.tar.gz", move=True).move


def _changed(cls):
    """An instance of ``cls`` with a non-default value in every field that has an easy one."""
    if cls is RunConfig:
        return preset("fast", cell="gru", hidden_size=8, tbptt=20, limit=40, clip_norm=None, keep_negations=True)
    if cls is HMMRunConfig:
        return HMMRunConfig(DataConfig(limit=10), TextConfig(max_len=40), HMMConfig(states=2, limit=6))
    if cls is Word2VecRunConfig:
        return Word2VecRunConfig(DataConfig(val_size=3), TextConfig(lowercase=False), Word2VecConfig(algo="cbow"))
    if cls is HorizonConfig:
        return HorizonConfig(task="order", models=("gru",), lengths=(8, 12), tbptt=None, clip_norm=None)
    if cls is ExperimentConfig:
        return ExperimentConfig(seeds=(0, 1), ablation_seeds=(2,), horizon_lengths=(5,), hmm_limit=None)
    if cls is DataJobConfig:
        return DataJobConfig(action="install", archive="/data/a.tar.gz", move=True)
    if cls is SweepConfig:
        return SweepConfig(spec='name = "x"', executor="ray", address="127.0.0.2:6379", parallel=3, retries=0)
    raise AssertionError(cls)


@pytest.mark.parametrize("kind", sorted(JOB_CONFIGS))
def test_every_job_config_round_trips_through_json(kind):
    cls = JOB_CONFIGS[kind]
    for cfg in (cls(), _changed(cls)):
        d = json.loads(json.dumps(config_to_dict(cfg)))
        assert config_from_dict(cls, d) == cfg == cls.from_dict(d)
        assert cfg.to_dict() == d  # already plain JSON: tuples are lists
    assert config_from_dict(cls, {}) == cls()  # missing keys take the defaults


@pytest.mark.parametrize("kind", sorted(JOB_CONFIGS))
def test_unknown_keys_are_refused_at_every_level(kind):
    cls = JOB_CONFIGS[kind]
    d = config_to_dict(cls())
    with pytest.raises(ValueError, match="colour"):
        config_from_dict(cls, {**d, "colour": "red"})
    nested = [k for k, v in d.items() if isinstance(v, dict)]
    for k in nested:
        with pytest.raises(ValueError, match="colour"):
            config_from_dict(cls, {**d, k: {**d[k], "colour": "red"}})


def test_from_dict_refuses_bad_values_read_from_disk():
    d = preset("seed").to_dict()
    d["model"]["hidden_size"] = -3
    with pytest.raises(ValueError, match="ModelConfig.hidden_size"):
        RunConfig.from_dict(d)
    with pytest.raises(ValueError, match="RunConfig.model"):
        RunConfig.from_dict({"model": [1, 2]})
    with pytest.raises(ValueError, match="JSON object"):
        RunConfig.from_dict([])


def test_the_model_can_still_be_built_with_a_vocabulary_size():
    from rnnlab.core.models.rnn import SentimentRNN

    net = SentimentRNN(ModelConfig(vocab_size=30, embedding_dim=4, hidden_size=3))
    assert net.embedding.num_embeddings == 30


# -- the lesson preset and the smallest limit ----------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_lesson_preset_is_the_fast_model_on_a_balanced_sample(cell):
    cfg, fast = preset("lesson", cell=cell), preset("fast", cell=cell)
    assert cfg.train.preset == "lesson" and cfg.model == fast.model and cfg.model.cell == cell
    assert (cfg.train.batching, cfg.train.threads) == ("bucket", 1)
    assert (cfg.data.limit, cfg.train.epochs, cfg.train.lr) == (7000, 3, 1e-3)
    assert cfg.train.record_gradients
    assert (cfg.train.batch_size, cfg.train.clip_norm) == (50, 5.0)
    assert cfg.data.val_size is None  # a share of the dataset's training rows, fitted when a run is made
    assert (cfg.text.max_len, cfg.text.max_vocab, cfg.text.keep_negations) == (500, 20000, False)
    # the other presets are untouched by it
    assert (fast.data.limit, fast.train.epochs, fast.train.record_gradients) == (None, 5, False)
    assert preset("seed").data.limit is None


def test_lesson_preset_validates_round_trips_and_takes_overrides():
    cfg = preset("lesson", cell="gru")
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert TrainConfig(preset="lesson").preset == "lesson" and ExperimentConfig(preset="lesson").preset == "lesson"
    assert preset("lesson", limit=None, epochs=5).data.limit is None
    assert preset("lesson", seed=1).train.seed == 1 and preset("lesson", seed=1).data.limit == 7000


@pytest.mark.parametrize("cls", [DataConfig, ExperimentConfig])
def test_a_limit_must_leave_every_split_a_review_of_each_label(cls):
    for bad in (0, 1):
        with pytest.raises(ValueError, match=rf"{cls.__name__}\.limit = {bad}: expected None or an int in \[2, "):
            cls(limit=bad)
    assert cls(limit=2).limit == 2 and cls(limit=None).limit is None
    with pytest.raises(ValueError, match="DataConfig.limit = 1"):
        preset("lesson", limit=1)


def test_the_smallest_limit_gives_every_split_both_labels():
    import pandas as pd

    from rnnlab.core.data.imdb import split_frame

    df = pd.DataFrame({"split": ["train"] * 8 + ["test"] * 8, "label": [0, 1] * 8, "id": list(range(16)),
                       "text": ["a review"] * 16})
    parts = split_frame(df, DataConfig(limit=2, val_size=2))
    for name in ("train", "val", "test"):
        assert sorted(parts[name]["label"]) == [0, 1], name
