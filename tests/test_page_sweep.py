"""The Sweep page under AppTest: the spec planned as it is typed, a sweep queued as a run, its results drawn."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest
from test_pages import fake_launches, sleeping_process

from rnnlab.core.config import SweepConfig
from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
SPEC = """
name = "tiny"
preset = "fast"
seeds = [0, 1]
[base]
task = "adding"
train_steps = 12
epochs = 2
batch_size = 8
seq_len = 14
probe_size = 8
record_gradients = true
threads = 1
[vary]
hidden_size = [4, 6]
recurrent_init_radius = [0.5, 3.0]
"""


def open_page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "sweep.py"), default_timeout=120).run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def text(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "error", "warning")
                     for e in getattr(at, kind))


def test_the_page_plans_a_shipped_study_and_says_how_to_start(rnnlab_home):
    at = ok(open_page())
    # the first study, planned, with the word2vec vectors its `auto` runs would train first in an empty store
    assert "**best-1-text**: 4 runs" in text(at) and "First, 2 word2vec runs for the runs whose embeddings" in text(at)


def test_with_no_sweep_of_its_own_the_page_reads_the_published_studies(rnnlab_home):
    at = ok(open_page())
    assert "nothing here is trained" in text(at)
    options = at.selectbox(key="sweep_run").options
    assert any("edge-of-chaos: the results measured for the README" in o for o in options)
    at.selectbox(key="sweep_run").set_value("docs:edge-of-chaos").run()
    summary = next(d.value for d in ok(at).dataframe if "runs" in d.value.columns and "seq_len" in d.value.columns)
    assert len(summary) == 3 * 4 * 3 and set(summary["runs"]) == {3}
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("blue vanishes" in t for t in titles)  # the phase diagram over radius x length
    at.selectbox(key="sweep_run").set_value("docs:best-at-seed-size").run()
    summary = next(d.value for d in ok(at).dataframe if "runs" in d.value.columns and "embeddings" in d.value.columns)
    assert len(summary) == 16 and set(summary["runs"]) == {3}
    assert summary["embeddings"].value_counts()["none"] == 8  # no word2vec run: named, not blank
    assert any("parcoords" in c.proto.spec for c in at.get("plotly_chart"))
    at.text_area(key="sweep_spec").set_value('name = "x"\n[vary]\nhidden_size = [0]').run()
    assert "cannot be planned" in text(ok(at)) and "hidden_size=0" in text(at)


def test_start_queues_the_sweep_as_a_run_in_its_own_lane(rnnlab_home, monkeypatch):
    with sleeping_process() as pid:
        launched = fake_launches(monkeypatch, pid)
        at = ok(open_page())
        at.text_area(key="sweep_spec").set_value(SPEC).run()
        assert "**tiny**: 8 runs" in text(at)
        at.number_input(key="sweep_parallel").set_value(2)
        at.get("form_submit_button")[0].click().run()
        ok(at)
        [job] = launched
        assert job["lane"] == "sweep" and job["run"].kind == "sweep"
        assert job["run"].job_config() == SweepConfig(spec=SPEC, parallel=2)


def test_a_finished_sweep_shows_counts_the_summary_and_its_charts(rnnlab_home, one_thread):
    sweep = lifecycle.run_now("sweep", SweepConfig(spec=SPEC, parallel=2), RunStore(), label="sweep-tiny")
    assert sweep.status()["state"] == "finished"
    at = ok(open_page())
    assert [m.value for m in at.metric][:4] == ["8", "0", "0", "8"]
    summary = next(d.value for d in at.dataframe if "runs" in d.value.columns and "hidden_size" in d.value.columns)
    assert len(summary) == 4 and set(summary["runs"]) == {2}
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("against" in t for t in titles) and any("parcoords" in t for t in titles)
    assert any("blue vanishes" in t for t in titles)  # the phase diagram: decay at k=10 over radius x hidden size
