"""Config files for single runs: ``train --print-config`` writes a run's settings as TOML, ``train --config FILE``
reads them back into an identical config; flags beside ``--config`` override the file; a bad file is one line
naming the file and the key. The vocabulary is a sweep spec's ``[base]`` (:mod:`core.config_file`, shared with
:mod:`core.sweep.spec`), written by the small TOML writer of :mod:`core.tomlfile`."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import fields, replace
from pathlib import Path

import pytest

from rnnlab.core.__main__ import main
from rnnlab.core.config import CELLS, PRESETS, DataConfig, ModelConfig, RunConfig, TextConfig, TrainConfig, preset
from rnnlab.core.config_file import RUN_FIELDS, config_file_text, read_config_file, run_config
from rnnlab.core.sweep.spec import SpecError, parse_spec, plan
from rnnlab.core.tomlfile import toml_value

# every field of a training run changed from its default, the fields the code sets included, with strings a TOML
# writer must escape and floats whose shortest form is long
CHANGED = {
    DataConfig: dict(imdb_path='/data/my "IMDB"\\copy\t\x1b[31m\x85 ünï €😀.tar.gz', val_size=123, split_seed=7,
                     limit=300, dataset="my-reviews_2"),
    TextConfig: dict(lowercase=False, expand_abbreviations=False, strip_html=False, remove_non_alnum=False,
                     strip_whitespace=False, remove_stopwords=False, keep_negations=True, max_vocab=None, min_freq=3,
                     max_len=257, truncate="post"),
    ModelConfig: dict(cell="gru", vocab_size=20002, embedding_dim=33, hidden_size=17, num_layers=2, bidirectional=True,
                      readout="mean_max", dropout=0.1 + 0.2, embedding_dropout=0.25, output_size=3, input_size=2,
                      recurrent_init_radius=1e-05),
    TrainConfig: dict(task="adding", preset="lesson", epochs=9, batch_size=31, lr=3e-05, lr_schedule="cosine",
                      embedding_lr_scale=0.25, weight_decay=1e-4, optimizer="sgd", clip_norm=None, batching="bucket",
                      seed=2**32 - 1,
                      device="cuda:1", threads=3,
                      flush_denormals=False, bf16=True, tbptt=40, record_gradients=True, probe_every=7, probe_size=9,
                      embeddings="word2vec-2026 \"skip\"", freeze_embeddings=True, seq_len=80, train_steps=123),
}


def write(tmp_path, text: str, name: str = "run.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def round_trip(cfg: RunConfig, tmp_path) -> RunConfig:
    return run_config(read_config_file(write(tmp_path, config_file_text(cfg))))


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("cell", CELLS)
def test_a_preset_printed_as_a_run_file_reads_back_identical(name, cell, tmp_path):
    cfg = preset(name, cell=cell)
    assert round_trip(cfg, tmp_path) == cfg


def test_a_config_with_every_field_changed_reads_back_identical(tmp_path):
    parts = {part.name: cls(**CHANGED[cls]) for part, cls in zip(fields(RunConfig), CHANGED, strict=True)}
    cfg = RunConfig(**parts)
    for sub in parts.values():  # every field changed: a field added later must join CHANGED
        for f in fields(sub):
            assert getattr(sub, f.name) != f.default, f"{type(sub).__name__}.{f.name} is left at its default"
    assert {f.name for cls in CHANGED for f in fields(cls)} == RUN_FIELDS
    back = round_trip(cfg, tmp_path)
    assert back == cfg
    assert back.model.dropout == 0.1 + 0.2 and back.data.imdb_path == CHANGED[DataConfig]["imdb_path"]


def test_print_config_then_config_on_the_command_line_is_the_same_config(capsys, tmp_path):
    code, text, _ = cli(capsys, "train", "--preset", "lesson", "--model", "rnn", "--hidden", "24", "--clip", "none",
                        "--print-config")
    assert code == 0
    path = write(tmp_path, text)
    assert run_config(read_config_file(path)) == preset("lesson", cell="rnn", hidden_size=24, clip_norm=None)
    code, again, _ = cli(capsys, "train", "--config", str(path), "--print-config")
    assert code == 0 and again == text
    code, out, _ = cli(capsys, "train", "--config", str(path), "--print-config", "--json")
    assert code == 0 and json.loads(out) == {"toml": text}


def test_flags_beside_config_override_the_file(capsys, tmp_path):
    path = write(tmp_path, 'preset = "fast"\ncell = "gru"\ntask = "adding"\nepochs = 3\nhidden_size = 20\n'
                           'clip_norm = ""\n')
    code, text, _ = cli(capsys, "train", "--config", str(path), "--epochs", "7", "--model", "rnn", "--print-config")
    assert code == 0
    cfg = run_config(read_config_file(write(tmp_path, text, "printed.toml")))
    assert cfg == preset("fast", cell="rnn", task="adding", epochs=7, hidden_size=20, clip_norm=None)
    # the resolved config a run would hold (--dry-run): the flag given wins, the file's cell stays without one
    code, out, _ = cli(capsys, "train", "--config", str(path), "--epochs", "7", "--dry-run", "--json")
    d = json.loads(out)
    assert code == 0 and (d["train"]["epochs"], d["model"]["hidden_size"], d["model"]["cell"]) == (7, 20, "gru")
    assert d["train"]["clip_norm"] is None and d["train"]["batching"] == "bucket"  # the file's preset: fast


def test_the_train_help_says_flags_override_the_file(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--config FILE.toml" in help_text and "flags given beside it override its values" in help_text
    assert "--print-config" in help_text


@pytest.mark.parametrize("body, says", [
    ("epoch = 3", "'epoch': not a field of a training run (did you mean 'epochs'?)"),
    ('lr = "fast"', "TrainConfig.lr = 'fast': expected a float in (0, 10]"),
    ("epochs = 2.0", "TrainConfig.epochs = 2.0: expected an int"),
    ("hidden_size = 0", "ModelConfig.hidden_size = 0: expected an int in [1, 4096]"),
    ("dropout = 1.0", "ModelConfig.dropout = 1.0: expected a float in [0, 1)"),
    ('cell = "transformer"', "ModelConfig.cell = 'transformer'"),
    ('preset = "turbo"', "unknown preset 'turbo'"),
    ("max_vocab = true", "TextConfig.max_vocab = True"),
    ("[model]\nhidden_size = 3", "[model] is a table; a config file is flat"),
    ("epochs = ", "not valid TOML"),
    ("hidden_size = " + "[" * 50 + "]" * 50, "line 1: arrays and tables nested more than 8 deep"),
])
def test_a_bad_run_file_is_one_line_naming_the_file_and_the_key(body, says, capsys, tmp_path):
    path = write(tmp_path, body + "\n")
    code, out, err = cli(capsys, "train", "--config", str(path), "--dry-run")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: ") and says in err, err


def test_a_run_file_that_is_a_folder_or_missing_is_refused_in_one_line(capsys, tmp_path):
    for path, says in ((tmp_path, "not a regular file"), (tmp_path / "none.toml", "cannot read the config file")):
        code, out, err = cli(capsys, "train", "--config", str(path), "--print-config")
        assert code == 1 and out == "" and err.count("\n") == 1 and says in err and str(path) in err


def test_a_bad_flag_beside_a_good_file_is_not_blamed_on_the_file(capsys, tmp_path):
    path = write(tmp_path, "epochs = 3\n")
    code, _, err = cli(capsys, "train", "--config", str(path), "--hidden", "0", "--print-config")
    assert code == 1 and "ModelConfig.hidden_size = 0" in err and str(path) not in err


def test_config_with_resume_is_refused(capsys, tmp_path):
    path = write(tmp_path, "epochs = 3\n")
    code, _, err = cli(capsys, "train", "--config", str(path), "--resume", "some-run")
    assert code == 1 and "a resumed run keeps the settings it was created with" in err


def test_a_run_file_and_a_sweep_spec_base_are_one_vocabulary(tmp_path):
    body = 'task = "order"\nseq_len = 30\nclip_norm = ""\nembeddings = ""\nrecurrent_init_radius = 0.9\n'
    spec_cfg = plan(parse_spec(f'name = "x"\npreset = "fast"\nseeds = [4]\n[base]\n{body}'))[0].cfg
    file_cfg = run_config(read_config_file(write(tmp_path, f'preset = "fast"\nseed = 4\n{body}')))
    assert spec_cfg == file_cfg and file_cfg.train.clip_norm is None
    with pytest.raises(SpecError, match="base.imdb_path: not a field"):  # a spec leaves where the data is to the run
        parse_spec('name = "x"\n[base]\nimdb_path = "/data"')


@pytest.mark.parametrize("value", [
    "", "plain", 'a "quoted" \\ back\\slash', "tab\tnew\nline\rcr", "\x00\x01\x1b[31m\x7f\x85\x9f", "ünï € 😀 \u2028",
    0, -7, 2**63 - 1, True, False, 0.1, 1e-05, 1e300, 5e-324, -0.0, 1 / 3, float("inf"), -float("inf"),
    (1, 2), ["a", 0.5, False],
])
def test_the_toml_writer_reads_back_the_same_value(value):
    text = f"v = {toml_value(value)}\n"
    back, expected = tomllib.loads(text)["v"], list(value) if isinstance(value, tuple) else value
    assert back == expected and type(back) is type(expected)
    if isinstance(value, float):
        assert math.copysign(1, back) == math.copysign(1, value)
    assert not any(c < " " and c not in "\t\n" or "\x7f" <= c <= "\x9f" for c in text), "a raw control character"


def test_the_toml_writer_refuses_what_toml_cannot_hold():
    assert math.isnan(tomllib.loads(f"v = {toml_value(float('nan'))}")["v"])
    with pytest.raises(ValueError, match="lone surrogate"):
        toml_value("bad byte \udcff in a file name")
    with pytest.raises(TypeError, match="no TOML form"):
        toml_value(None)


def test_print_config_of_a_stored_run_reads_back_to_its_config(capsys, rnnlab_home, tmp_path):
    from rnnlab.core.config import HorizonConfig
    from rnnlab.core.jobs.store import RunStore

    store = RunStore()
    cfg = preset("fast", cell="gru", task="adding", seq_len=20, train_steps=10)
    stored = replace(cfg, model=replace(cfg.model, vocab_size=7, input_size=2))  # set from the data, kept by the run
    run = store.create(stored, kind="rnn")
    code, text, _ = cli(capsys, "train", "--resume", run.id, "--print-config")
    assert code == 0 and "input_size = 2" in text
    assert run_config(read_config_file(write(tmp_path, text))) == run.job_config() == stored
    other = store.create(HorizonConfig(steps=5), kind="memory-horizon")
    code, _, err = cli(capsys, "train", "--resume", other.id, "--print-config")
    assert code == 1 and "is a memory-horizon run" in err


def test_the_readme_example_run_file_reads(tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n# run.toml\n", 1)[1].split("```", 1)[0]
    cfg = run_config(read_config_file(write(tmp_path, block)))
    assert (cfg.train.preset, cfg.model.cell, cfg.model.hidden_size, cfg.train.clip_norm) == ("fast", "gru", 64, None)
