"""Setup on the pages: without NLTK's stop-word list the Overview says so and fetches it; Train refuses plainly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures_runs import nltk_data
from test_pages import fake_launches, ok, open_page, sleeping_process, text

from rnnlab.core.data import text as pipeline


@pytest.fixture
def no_stopwords(tmp_path, monkeypatch) -> Path:
    """NLTK searches one empty folder only (a machine without the list)."""
    import nltk

    empty = tmp_path / "nltk_data"
    empty.mkdir(mode=0o755)  # NLTK refuses a group-writable folder, which a umask of 002 would make
    monkeypatch.setattr(pipeline, "_search_paths", lambda: (str(empty),))
    monkeypatch.setattr(nltk.data, "path", [str(empty), *nltk.data.path])  # a folder NLTK may read from
    pipeline._LIST_CACHE.clear()
    yield empty
    pipeline._LIST_CACHE.clear()


def test_overview_offers_the_download_and_says_what_to_do_offline(rnnlab_home, no_stopwords, monkeypatch):
    import nltk

    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(nltk, "download", offline)
    at = ok(open_page("overview.py"))
    assert any("stop-word list is not installed" in w.value for w in at.warning)
    ok(at.button(key="download_stopwords").click().run())
    [error] = [e.value for e in at.error]
    assert "name resolution" in error and "copy a corpora/stopwords folder" in error and "--no-stopwords" in error


def test_overview_downloads_the_list_into_nltks_folder(rnnlab_home, no_stopwords, monkeypatch):
    import nltk

    source = nltk_data()  # the suite's copy of the list (tests/conftest.py): what a download would fetch

    def download(name, download_dir, **kwargs):  # what nltk.download leaves behind, without the network
        shutil.copytree(Path(source) / "corpora" / "stopwords", Path(download_dir) / "corpora" / "stopwords")
        return True

    monkeypatch.setattr(nltk, "download", download)
    at = ok(open_page("overview.py"))
    ok(at.button(key="download_stopwords").click().run())
    assert any("Installed" in s.value for s in at.success)
    assert pipeline.stopwords_found() and "not" in pipeline.nltk_stopword_list()


def test_train_refuses_to_start_without_the_list_and_says_where_to_get_it(rnnlab_home, no_stopwords, monkeypatch):
    from rnnlab.core.data import sources

    rnnlab_home.mkdir(parents=True, exist_ok=True)
    path = rnnlab_home / "t.csv"
    path.write_text("text,label\n" + "".join(f"w{i} good,a\nw{i} bad,b\n" for i in range(10)))
    sources.add_dataset(path, "t")
    with sleeping_process() as pid:
        launched = fake_launches(monkeypatch, pid)
        at = ok(open_page("train.py"))
        at.selectbox(key="train_dataset").select("t").run()
        submit = next(b for b in at.button if b.proto.label == "Start training")
        ok(submit.click().run())
        assert not launched
        assert "Not started: NLTK's English stop-word list is not installed" in text(at)
