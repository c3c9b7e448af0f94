"""The command line's common contract: ``--json`` on every command (one JSON document on stdout, errors as
``{"error": ...}`` with a non-zero exit status, usage errors included) and help text on every flag."""

from __future__ import annotations

import argparse
import json

import pytest

from rnnlab.core.__main__ import build_parser, main

HIDDEN = {"--move"}  # internal flags, hidden from --help on purpose


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def run_json(capsys, *argv: str) -> tuple[int, object]:
    try:
        code = main([*argv, "--json"])
    except SystemExit as e:  # --help or --version only
        code = e.code
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_every_option_of_every_command_has_help():
    missing = []
    for name, parser in {"": build_parser(), **_subcommands()}.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            flag = "/".join(action.option_strings) or action.dest
            if action.help == argparse.SUPPRESS and set(action.option_strings) <= HIDDEN:
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {flag}")
    assert not missing


def test_every_command_takes_json():
    for name, parser in _subcommands().items():
        assert "--json" in {s for a in parser._actions for s in a.option_strings}, name


def test_runs_json_in_an_empty_home_is_an_empty_list(capsys, rnnlab_home):
    assert run_json(capsys, "runs") == (0, [])


@pytest.mark.parametrize("argv, exit_code, words", [
    (["runs", "--bogus"], 2, "unrecognized arguments"),
    (["nosuchcommand"], 2, "invalid choice"),
    (["train", "--hidden-size", "fifty"], 2, "invalid"),
    (["train", "--hidden-size", "8000"], 1, "hidden_size"),
    (["runs", "--delete", "20990101-000000-000-lstm-abcdef"], 1, "no run"),
    (["job", "20990101-000000-000-lstm-abcdef"], 1, "no run"),
    (["predict", "20990101-000000-000-lstm-abcdef", "a film"], 1, "no run"),
    (["embeddings", "neighbours", "20990101-000000-000-lstm-abcdef", "film"], 1, "run"),
    (["data", "info", "--imdb", "/no/such/file.tar.gz"], 1, "file.tar.gz"),
    (["explode", "--configs", "nope"], 1, "unknown configurations"),
])
def test_an_error_with_json_is_an_error_object_and_a_non_zero_exit(capsys, rnnlab_home, argv, exit_code, words):
    code, out = run_json(capsys, *argv)
    assert code == exit_code and list(out) == ["error"] and words in out["error"]


def test_a_usage_error_without_json_still_exits_like_argparse(capsys, rnnlab_home):
    with pytest.raises(SystemExit) as e:
        main(["runs", "--bogus"])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == "" and "unrecognized arguments: --bogus" in err


def test_dry_runs_print_the_config_as_json(capsys, rnnlab_home):
    code, cfg = run_json(capsys, "train", "--model", "gru", "--dry-run")
    assert code == 0 and cfg["kind"] == "rnn" and cfg["model"]["cell"] == "gru"
    code, cfg = run_json(capsys, "memory-horizon", "--dry-run")
    assert code == 0 and cfg["kind"] == "memory-horizon"
    code, out = run_json(capsys, "app", "--dry-run")
    assert code == 0 and "streamlit" in out["command"]


def test_data_info_json(capsys, rnnlab_home, tiny_imdb_archive):
    code, info = run_json(capsys, "data", "info", "--imdb", str(tiny_imdb_archive), "--no-stats")
    assert code == 0 and info["counts"]["train"] == {"pos": 3, "neg": 3}


def test_a_run_from_train_to_delete_in_json(capsys, rnnlab_home, tiny_imdb_archive):
    code, trained = run_json(capsys, "train", "--model", "gru", "--limit", "6", "--val-size", "2", "--epochs", "1",
                             "--hidden", "8", "--imdb", str(tiny_imdb_archive), "--threads", "1")
    run_id = trained["run_id"]
    assert code == 0 and trained["state"] == "finished" and trained["kind"] == "rnn"
    assert trained["test_metrics"]["accuracy"] is not None
    code, rows = run_json(capsys, "runs")
    assert [r["run_id"] for r in rows] == [run_id]
    code, predicted = run_json(capsys, "predict", run_id, "a pos film")
    assert code == 0 and predicted[0]["run_id"] == run_id
    code, looked = run_json(capsys, "introspect", run_id, "a pos film")
    assert code == 0 and looked["run_id"] == run_id
    code, deleted = run_json(capsys, "runs", "--delete", run_id)
    assert (code, deleted) == (0, {"run_id": run_id, "deleted": True})
    assert run_json(capsys, "runs") == (0, [])
