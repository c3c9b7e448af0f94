"""Every page that lists or opens runs, under AppTest, with damaged runs beside good ones.

The store: the inside pages' home (trained RNN, LSTM and GRU, gradient-recording runs, a
memory-horizon study, word2vec and GMM-HMM runs) plus copies of those runs, each with one file
damaged (:func:`add_damaged_runs`), the copies newest so that pages open them by default. Every
page runs without an exception, shows the notice naming a damaged run, and still draws the good
runs; opening (watching) a damaged run shows its notice; a damaged run can be deleted from the
Compare page.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from fixtures_runs import use_home
from streamlit.testing.v1 import AppTest
from test_pages import ok, text
from test_pages_inside import InsideHome, inside_home  # noqa: F401 - the module-scoped fixture, built here too

from rnnlab.core.config import DataJobConfig
from rnnlab.core.jobs.store import Run, RunStore, new_run_id

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["overview.py", "train.py", "compare.py", "gradients.py", "classify.py", "gates.py", "hmm.py",
         "embeddings.py", "report.py"]


def _edit(run: Run, name: str, change) -> None:
    path = run.file(name)
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _truncate(run: Run) -> None:
    data = run.file("model.safetensors").read_bytes()
    run.file("model.safetensors").write_bytes(data[: len(data) // 2])


def _bad_lines(run: Run) -> None:
    with open(run.file("metrics.jsonl"), "ab") as f:
        f.write(b'42\n{"kind": "step", "reason": "\xff"}\n')


# name -> (the run copied, what is done to the copy, the file the notice names; None: not damaged, only odd)
DAMAGES = {
    "status-list": ("lstm", lambda r: r.file("status.json").write_text("[]"), "status.json"),
    "heartbeat-yesterday": ("rnn", lambda r: _edit(r, "status.json", lambda s: {**s, "heartbeat": "yesterday"}),
                            "status.json"),
    "hidden-8000": ("gru", lambda r: _edit(r, "config.json", lambda c: {**c, "model": {**c["model"],
                                                                                    "hidden_size": 8000}}),
                    "config.json"),
    "unknown-kind": ("rnn", lambda r: _edit(r, "config.json", lambda c: {**c, "kind": "miner"}), "config.json"),
    "test-metrics-string": ("lstm", lambda r: r.file("test_metrics.json").write_text('"x"'), "test_metrics.json"),
    "vocab-lists": ("gru", lambda r: _edit(r, "vocab.json", lambda v: {**v, "itos": v["itos"][:2] + [[1]]
                                                                       + v["itos"][3:]}), "vocab.json"),
    "vocab-longer": ("lstm", lambda r: _edit(r, "vocab.json", lambda v: {**v, "itos": v["itos"] + ["zzz-extra"],
                                                                         "counts": v["counts"] + [1]}), "vocab.json"),
    "truncated-model": ("rnn", _truncate, "model.safetensors"),
    "metrics-bad-lines": ("gru", _bad_lines, None),
    "horizon-results": ("horizon", lambda r: r.file("results.json").write_text("[]"), "results.json"),
    "word2vec-info": ("word2vec", lambda r: r.file("word2vec.json").write_text('"x"'), "word2vec.json"),
    "hmm-test-metrics": ("hmm", lambda r: r.file("test_metrics.json").write_text("[]"), "test_metrics.json"),
}


def add_damaged_runs(home: Path, ids: dict[str, str]) -> dict[str, str]:
    """Copy runs of ``home`` and damage one file of each copy (:data:`DAMAGES`, those whose run ``ids`` has),
    plus a finished data run whose data.json is a list; returns damage name -> the copy's run id."""
    store = RunStore(home / "runs")
    out: dict[str, str] = {}
    now = time.time() + 60  # newest: pages open them by default
    for i, (name, (source, damage, _)) in enumerate(DAMAGES.items()):
        if source not in ids:
            continue
        run = Run(store.root / new_run_id(name))
        shutil.copytree(store.root / ids[source], run.path)
        _edit(run, "config.json", lambda c, t=now + i, n=name: {**c, "created": t, "label": n})
        damage(run)
        out[name] = run.id
    data = store.create(DataJobConfig(action="download"), label="data-download")
    data.write_json("data.json", [])
    data.write_status({"state": "finished", "process": None, "finished": time.time()})
    out["data-json"] = data.id
    return out


@pytest.fixture
def damaged(inside_home, tmp_path, monkeypatch) -> tuple[InsideHome, dict[str, str]]:  # noqa: F811
    copy = tmp_path / "home"
    shutil.copytree(inside_home.home, copy)
    use_home(monkeypatch, copy, inside_home.archive)
    return InsideHome(copy, inside_home.archive, inside_home.ids), add_damaged_runs(copy, inside_home.ids)


def open_page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=90).run()


def warnings(at: AppTest) -> str:
    return "\n".join(str(w.value) for w in at.warning)


def listed_damage(ids: dict[str, str]) -> list[str]:
    """The ids of the copies a run table lists as damaged."""
    return [ids[name] for name, (_, _, file) in DAMAGES.items()
            if name in ids and file in ("status.json", "config.json", "test_metrics.json", "vocab.json",
                                        "model.safetensors")]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_damaged_runs_shows_the_notice_and_no_exception(damaged, page):
    home, ids = damaged
    at = ok(open_page(page))
    notice = warnings(at)
    assert "damaged" in notice
    shown = [rid for rid in listed_damage(ids) if rid in notice]
    assert shown, notice  # the notice names damaged runs (at most five of them)
    assert "status.json: status: expected a JSON object" not in notice  # reasons say the file once


def test_the_notice_names_the_file_and_the_reason(damaged):
    home, ids = damaged
    notice = warnings(ok(open_page("overview.py")))
    assert f"`{ids['hmm-test-metrics']}`: test_metrics.json: expected a JSON object, got list" in notice
    assert f"`{ids['vocab-longer']}`: vocab.json: " in notice and "and 4 more" in notice  # nine, the newest five named


def test_the_good_runs_still_draw_on_the_compare_page(damaged):
    home, ids = damaged
    at = ok(open_page("compare.py"))
    table = next(d.value for d in at.dataframe if "run id" in d.value.columns or "run_id" in d.value.columns)
    column = "run id" if "run id" in table.columns else "run_id"
    for cell in ("rnn", "lstm", "gru"):
        assert home.ids[cell] in set(table[column])
    assert len(at.get("plotly_chart")) >= 4


def test_watching_a_damaged_run_on_the_train_page_shows_its_notice(damaged):
    home, ids = damaged
    at = ok(open_page("train.py"))
    at.selectbox(key="train_watch").select(ids["hidden-8000"]).run()
    ok(at)
    assert f"{ids['hidden-8000']}`: config.json: ModelConfig.hidden_size = 8000" in warnings(at)


def test_a_damaged_run_can_be_deleted_on_the_compare_page(damaged):
    home, ids = damaged
    at = ok(open_page("compare.py"))
    at.multiselect(key="compare_delete").select(ids["status-list"])
    at.checkbox(key="compare_delete_sure").check().run()
    ok(at.button(key="compare_delete_button").click().run())
    assert not (home.home / "runs" / ids["status-list"]).exists()
    assert (home.home / "runs" / home.ids["lstm"]).is_dir()


def test_opening_a_damaged_memory_horizon_study_shows_its_notice(damaged):
    home, ids = damaged
    at = ok(open_page("gradients.py"))
    assert f"`{ids['horizon-results']}`: results.json: expected a JSON object, got list" in warnings(at)


def test_opening_a_word2vec_run_with_damaged_info_shows_its_notice_and_the_vectors(damaged):
    home, ids = damaged
    at = ok(open_page("embeddings.py"))
    assert f"`{ids['word2vec-info']}`: word2vec.json: expected a JSON object, got str" in warnings(at)
    assert len(at.get("plotly_chart")) >= 2  # the vectors themselves are fine


def test_a_finished_data_job_with_a_damaged_data_json_shows_its_notice(damaged):
    home, ids = damaged
    at = ok(open_page("overview.py"))
    assert f"`{ids['data-json']}`: data.json: expected a JSON object, got list" in warnings(at)


def test_classify_names_a_run_with_unreadable_metrics_lines_as_usable(damaged):
    home, ids = damaged
    at = ok(open_page("classify.py"))
    assert ids["metrics-bad-lines"] in at.multiselect(key="classify_runs").value
    assert "Could not use" not in text(at)
