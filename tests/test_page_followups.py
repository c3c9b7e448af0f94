"""Pages show what their own job just made: the new run is selected once it has finished, a later choice holds."""

from __future__ import annotations

from test_pages_inside import home, inside_home, ok, open_page  # noqa: F401 - fixtures

from rnnlab.core.config import DataConfig, Word2VecConfig, Word2VecRunConfig
from rnnlab.core.jobs.lifecycle import run_now
from rnnlab.core.jobs.store import RunStore


def test_embeddings_page_selects_the_run_its_job_made_once_then_the_users_choice_holds(home):  # noqa: F811
    at = ok(open_page("embeddings.py"))
    old = home.ids["word2vec"]
    assert at.selectbox(key="w2v_run").value == old
    cfg = Word2VecRunConfig(data=DataConfig(imdb_path=str(home.archive), val_size=2),
                            word2vec=Word2VecConfig(dim=8, min_count=1, epochs=1))
    new = run_now("word2vec", cfg, RunStore(home.home / "runs"), label="word2vec-skipgram").id
    at.session_state["embeddings.job"] = new  # the job this page launched has just finished
    ok(at.run())
    assert at.selectbox(key="w2v_run").value == new
    at.selectbox(key="w2v_run").select(old).run()
    ok(at.run())
    assert at.selectbox(key="w2v_run").value == old  # the user's choice is not overridden again
