"""core.data.text.reading: every word of a text with what the model reads of it, and why the rest is not read."""

from __future__ import annotations

import random

import pytest
from fixtures_runs import nltk_data

from rnnlab.core.analysis.predict import cut
from rnnlab.core.config import TextConfig
from rnnlab.core.data.text import REMOVED, STOP_WORD, TRUNCATED, UNKNOWN, WordFate, preprocess, reading


@pytest.fixture(autouse=True)
def _stop_words(monkeypatch):
    monkeypatch.setenv("NLTK_DATA", nltk_data())


def fates(text: str, cfg: TextConfig = TextConfig(), vocab=None) -> list[tuple[str, str | None, str | None]]:
    return [(f.word, f.token, f.reason) for f in reading(text, cfg, vocab)]


def test_a_negation_is_shown_as_a_dropped_stop_word_not_lost():
    out = fates("not good at all, the plot was boring")
    assert out == [("not", "not", STOP_WORD), ("good", "good", None), ("at", "at", STOP_WORD),
                   ("all,", "all", STOP_WORD), ("the", "the", STOP_WORD), ("plot", "plot", None),
                   ("was", "was", STOP_WORD), ("boring", "boring", None)]


def test_keep_negations_reads_the_negation():
    out = reading("not good, isn't it", TextConfig(keep_negations=True))
    assert [f.token for f in out if f.read] == ["not", "good", "isnt"]
    assert [f.word for f in out if f.read] == ["not", "good,", "isn't"]


def test_words_keep_their_original_spelling_and_case():
    out = reading("GREAT Film!!", TextConfig())
    assert [(f.word, f.token) for f in out] == [("GREAT", "great"), ("Film!!", "film")]


def test_pre_truncation_cuts_the_start_and_post_truncation_the_end():
    text = "alpha beta gamma delta epsilon"
    pre = reading(text, TextConfig(max_len=2, truncate="pre"))
    assert [f.reason for f in pre] == [TRUNCATED, TRUNCATED, TRUNCATED, None, None]
    post = reading(text, TextConfig(max_len=2, truncate="post"))
    assert [f.reason for f in post] == [None, None, TRUNCATED, TRUNCATED, TRUNCATED]


def test_stop_words_do_not_count_against_max_len():
    out = reading("the alpha of beta and gamma", TextConfig(max_len=2, truncate="post"))
    assert [(f.token, f.reason) for f in out] == [("the", STOP_WORD), ("alpha", None), ("of", STOP_WORD),
                                                  ("beta", None), ("and", STOP_WORD), ("gamma", TRUNCATED)]


def test_words_missing_from_the_vocabulary_are_unknown_and_index_0_is_unknown():
    vocab = {"<unk>": 0, "<pad>": 1, "good": 2, "plot": 3, "zero": 0}
    out = reading("good plot, zany zero", TextConfig(), vocab)
    assert [(f.token, f.reason) for f in out] == [("good", None), ("plot", None), ("zany", UNKNOWN), ("zero", UNKNOWN)]


def test_html_tags_are_words_of_their_own_and_removed():
    out = fates("Great<br /><br />film &amp; <i>cast</i>")
    assert out == [("Great", "great", None), ("<br />", None, REMOVED), ("<br />", None, REMOVED),
                   ("film", "film", None), ("&amp;", None, REMOVED), ("<i>", None, REMOVED), ("cast", "cast", None),
                   ("</i>", None, REMOVED)]


def test_punctuation_and_emoji_alone_are_removed():
    assert fates("wow ... 😀 !") == [("wow", "wow", None), ("...", None, REMOVED), ("😀", None, REMOVED),
                                     ("!", None, REMOVED)]


def test_an_abbreviation_becomes_several_tokens_of_one_word():
    out = reading("idk, gr8 film", TextConfig())
    idk = [f for f in out if f.word == "idk,"]
    assert [(f.token, f.reason) for f in idk] == [("i", STOP_WORD), ("do", STOP_WORD), ("not", STOP_WORD),
                                                  ("know", None)]
    assert len({f.index for f in idk}) == 1 and out[-1] == WordFate("film", "film", None, 2)


def test_an_empty_text_has_no_words():
    assert reading("", TextConfig()) == [] and reading("   \n", TextConfig()) == []


PIECES = ["Not", "good", "at", "all,", "the", "plot", "was", "BORING", "<br />", "<br/>", "<i>", "</i>", "&amp;",
          "&nbsp;", "&lt;b&gt;", "don't", "isn’t", "it's", "film's", "u", "u.s.", "r&b", "w/o", "w/", "idk", "2nite",
          "<2nite", "x>", "café", "Фильм", "映画", "😀", "...", "!!", "r-rated", "a<b", ">", "<", "_", "tho!", "lol.",
          "ÉTÉ", "İstanbul", "ﬁlm", "\t", "\n", "can't", "ya'll", "I'm", "<!-- c -->", "<p class='x'>"]
CONFIGS = [TextConfig(), TextConfig(keep_negations=True), TextConfig(max_len=5), TextConfig(max_len=5, truncate="post"),
           TextConfig(lowercase=False), TextConfig(strip_html=False), TextConfig(remove_non_alnum=False),
           TextConfig(expand_abbreviations=False, remove_stopwords=False),
           TextConfig(**{s: False for s in ("lowercase", "expand_abbreviations", "strip_html", "remove_non_alnum",
                                            "strip_whitespace", "remove_stopwords")})]


@pytest.mark.parametrize("cfg", CONFIGS, ids=range(len(CONFIGS)))
def test_the_words_read_are_exactly_the_tokens_the_pipeline_yields(cfg):
    rng = random.Random(0)
    vocab = {"<unk>": 0, "<pad>": 1, "good": 2, "plot": 3, "film": 4, "you": 5, "cafe": 6}
    for _ in range(300):
        text = "".join(rng.choice(PIECES) + rng.choice([" ", "", "  ", "\n"]) for _ in range(rng.randint(0, 14)))
        expected = cut(preprocess(text, cfg), cfg)
        out = reading(text, cfg)
        assert [f.token for f in out if f.read] == expected, text
        assert all((f.token is None) == (f.reason == REMOVED) for f in out)
        assert [f.index for f in out] == sorted(f.index for f in out)
        with_vocab = reading(text, cfg, vocab)
        assert [f.token for f in with_vocab if f.read] == [t for t in expected if vocab.get(t, 0)], text
