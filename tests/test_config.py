"""Configs: presets, overrides by field name, JSON round trip, validation."""

import pytest

from core.config import ModelConfig, RunConfig, TrainConfig, preset, with_overrides


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
