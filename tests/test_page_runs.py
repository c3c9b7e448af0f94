"""The Runs page under AppTest: every run listed with its label and quality, a name and note saved for one run,
runs hidden and shown again, and a bulk delete that asks first and never touches a running run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures_runs import nltk_data
from streamlit.testing.v1 import AppTest

from rnnlab.core.config import preset
from rnnlab.core.jobs.process import ProcessId
from rnnlab.core.jobs.store import RunStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def home(trained_home, tmp_path, monkeypatch) -> Path:
    """A private copy of the trained home (tiny RNN, LSTM, GRU runs and a failed one)."""
    copy = tmp_path / "home"
    shutil.copytree(trained_home.home, copy)
    monkeypatch.setenv("RNNLAB_HOME", str(copy))
    monkeypatch.setenv("RNNLAB_IMDB", str(trained_home.archive))
    if nltk_data():
        monkeypatch.setenv("NLTK_DATA", nltk_data())
    return copy


def open_page() -> AppTest:
    return ok(AppTest.from_file(str(ROOT / "pages" / "runs.py"), default_timeout=60).run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def table(at: AppTest):
    [frame] = [d for d in at.dataframe if "run_id" in d.value.columns]
    return frame


def select(at: AppTest, *run_ids: str) -> AppTest:
    """Tick the table's row boxes of ``run_ids`` (the selection state, as the browser would send it)."""
    frame = table(at)
    rows = [frame.value["run_id"].tolist().index(r) for r in run_ids]
    at.session_state[frame.key] = {"selection": {"rows": rows, "columns": []}}
    return ok(at.run())


def test_every_run_is_listed_with_its_label_quality_and_state(home, trained_home):
    rows = table(open_page()).value.set_index("run_id")
    ids = trained_home.run_ids
    assert set(rows.index) == set(ids.values())
    assert rows.loc[ids["lstm"], "label"].startswith("lstm · fast · all reviews · 1 ep")
    assert rows.loc[ids["failed"], "quality"] == "failed" and rows.loc[ids["failed"], "status"] == "failed"
    assert set(rows["quality"]) <= {"ok", "≈ chance", "degenerate", "failed"}


def test_a_damaged_run_is_listed_as_damaged_without_a_traceback(home, trained_home):
    rid = trained_home.run_ids["gru"]
    (home / "runs" / rid / "status.json").write_text("[]")
    (home / "runs" / trained_home.run_ids["lstm"] / "annotations.json").write_text("{broken")
    at = open_page()
    rows = table(at).value.set_index("run_id")
    assert rows.loc[rid, "status"] == "damaged" and rows.loc[rid, "quality"] == "failed"
    assert any("annotations.json" in w.value and "ignored" in w.value for w in at.warning)
    assert rows.loc[trained_home.run_ids["lstm"], "status"] == "finished"  # a bad note hides nothing


def test_one_selected_run_is_named_and_annotated(home, trained_home):
    rid = trained_home.run_ids["rnn"]
    at = select(open_page(), rid)
    at.text_input(key=f"runs_name.{rid}").input("baseline")
    at.text_area(key=f"runs_note.{rid}").input("seed preset, one epoch")
    ok(at.button(key="runs_save").click().run())
    ann = RunStore(home / "runs").get(rid).annotations()
    assert (ann.name, ann.note) == ("baseline", "seed preset, one epoch")
    row = table(at).value.set_index("run_id").loc[rid]
    assert row["name"] == "baseline" and row["label"].startswith("baseline · rnn · seed")


def test_selected_runs_are_hidden_then_shown_again(home, trained_home):
    a, b = trained_home.run_ids["lstm"], trained_home.run_ids["gru"]
    at = select(open_page(), a, b)
    ok(at.button(key="runs_hide").click().run())
    assert {a, b}.isdisjoint(table(at).value["run_id"])
    assert any("2 hidden runs" in c.value for c in at.caption)
    at.toggle(key="runs_show_hidden").set_value(True).run()
    rows = table(ok(at)).value.set_index("run_id")
    assert rows.loc[a, "hidden"] and rows.loc[b, "hidden"] and not rows.loc[trained_home.run_ids["rnn"], "hidden"]
    select(at, a)
    ok(at.button(key="runs_unhide").click().run())
    store = RunStore(home / "runs")
    assert not store.get(a).annotations().hidden and store.get(b).annotations().hidden


def test_bulk_delete_asks_first_and_leaves_a_running_run(home, trained_home):
    store = RunStore(home / "runs")
    running = store.create(preset("seed"))
    running.update_status(state="running", process=ProcessId.current().to_dict())  # this live process owns it
    doomed = [trained_home.run_ids["failed"], trained_home.run_ids["gru"]]
    at = select(open_page(), *doomed, running.id)
    assert any(running.id[-6:] in w.value and "cancel first" in w.value for w in at.warning)
    assert at.button(key="runs_delete").disabled  # not before the box is ticked
    at.checkbox(key="runs_delete_sure").check().run()
    ok(at.button(key="runs_delete").click().run())
    left = {r.id for r in store.list()}
    assert left.isdisjoint(doomed) and running.id in left and trained_home.run_ids["lstm"] in left
    assert any("2 runs deleted" in s.value for s in at.success)
    assert set(table(at).value["run_id"]) == left
    assert not [c for c in at.checkbox if c.key == "runs_delete_sure"]  # the table changed: nothing stays selected


def test_without_runs_the_page_says_where_they_come_from(rnnlab_home):
    at = open_page()
    assert any("No runs yet" in i.value for i in at.info)
