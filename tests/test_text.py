"""The preprocessing stages, the whole pipeline, the stop-word list and the vocabulary."""

from __future__ import annotations

import json
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest

from rnnlab.core.config import TextConfig
from rnnlab.core.data import text
from rnnlab.core.data.text import (
    PAD,
    PAD_ID,
    STAGES,
    UNK,
    UNK_ID,
    StopwordsUnavailable,
    Vocabulary,
    align_tokens,
    negations,
    preprocess,
    preprocess_stages,
    stage_diff,
    stopwords,
    tokenize_corpus,
)

NO_STOP = TextConfig(remove_stopwords=False)
ALL_OFF = TextConfig(**{s: False for s in STAGES})


@pytest.fixture
def nltk_list(monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """NLTK's real English list, found through NLTK_DATA: the suite's copy (tests/conftest.py), on every machine."""
    import nltk

    # tests never reach the network: a missing list must fail the test, not trigger a download
    monkeypatch.setattr(nltk, "download", lambda *a, **k: False)
    return text.nltk_stopword_list()


# -- the stages one by one -------------------------------------------------------------------------
def test_stages_are_listed_in_pipeline_order_and_each_has_a_config_flag() -> None:
    assert STAGES == ("lowercase", "expand_abbreviations", "strip_html", "remove_non_alnum",
                      "strip_whitespace", "remove_stopwords")
    flags = {f.name for f in fields(TextConfig)}
    assert set(STAGES) <= flags


def test_lowercase_lowers_every_letter() -> None:
    assert text.lowercase("GREAT Film, Ça VA") == "great film, ça va"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("u r gr8", "you are great"),
        ("ur film", "your film"),
        ("pls, plz, thx!", "please, please, thanks!"),
        ("imo it was ok btw", "in my opinion it was ok by the way"),
        ("idk", "i do not know"),
        ("seen it b4", "seen it before"),
        ("(u)", "(you)"),
        ("IDK Lol", "i do not know laughing out loud"),  # case-insensitive, expansion lowercase
        ("went w/ my wife", "went with  my wife"),
        ("w/friends", "with friends"),
        ("w/o popcorn", "without popcorn"),
    ],
)
def test_expand_abbreviations_replaces_whole_words(raw: str, expected: str) -> None:
    assert text.expand_abbreviations(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["you", "your", "tour", "our", "run", "true", "sure", "pursue", "u.s. army", "r&b", "r-rated", "it's u's",
     "b4u", "bur", "lolita", "gonnae", "the u-boat", "a/w/o"],
)
def test_expand_abbreviations_leaves_words_that_merely_contain_one(raw: str) -> None:
    assert text.expand_abbreviations(raw) == raw


def test_strip_html_replaces_tags_by_spaces_and_decodes_entities() -> None:
    assert text.strip_html("good<br /><br />bad") == "good  bad"
    assert text.strip_html("<i>Jaws</i> &amp; co") == " Jaws  & co"
    assert text.strip_html("<br/>x<BR>") == " x "


@pytest.mark.parametrize("raw", ["a < b and c > d", "3<4", "<3 this film", "no tags"])
def test_strip_html_leaves_angle_brackets_that_are_not_tags(raw: str) -> None:
    assert text.strip_html(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("don't", ["dont"]),
        ("isn`t wasn´t couldn’t", ["isnt", "wasnt", "couldnt"]),  # apostrophe look-alikes
        ("DON'T", ["DONT"]),
        ("it's the film's end", ["it", "s", "the", "film", "s", "end"]),
        ("10/10!!! a+", ["10", "10", "a"]),
        ("snake_case", ["snake", "case"]),
        ("café, naïve – Привет 日本語 😀🎬", ["café", "naïve", "Привет", "日本語"]),
        ("n't alone", ["n", "t", "alone"]),
    ],
)
def test_remove_non_alnum_keeps_letters_digits_and_joins_nt(raw: str, expected: list[str]) -> None:
    assert text.remove_non_alnum(raw).split() == expected


def test_strip_whitespace_collapses_runs_and_strips_ends() -> None:
    assert text.strip_whitespace("  a \t\n b\u00a0\u2003c  ") == "a b c"
    assert text.strip_whitespace(" \n\t ") == ""


def test_remove_stopwords_drops_listed_words(nltk_list: tuple[str, ...]) -> None:
    stop = stopwords(TextConfig())
    assert text.remove_stopwords("the film was not a waste of time", stop) == "film waste time"


# -- the stop-word list and negations --------------------------------------------------------------
def test_negations_are_derived_from_the_list_in_every_spelling(nltk_list: tuple[str, ...]) -> None:
    neg = negations()
    assert {"not", "no", "nor", "don't", "dont", "don", "isn't", "isnt", "isn"} <= neg
    assert not {"the", "a", "very", "s", "t"} & neg
    assert neg <= set(nltk_list) | {w.replace("'", "") for w in nltk_list}


@pytest.mark.parametrize("keep", [False, True])
def test_stopwords_hold_joined_spellings_and_lose_negations_only_when_kept(nltk_list: tuple[str, ...],
                                                                          keep: bool) -> None:
    stop = stopwords(TextConfig(keep_negations=keep))
    assert {"the", "a", "it's", "its", "you're", "youre"} <= stop
    assert ({"not", "no", "nor", "dont", "don't", "isnt", "don"} <= stop) is not keep
    assert stop.isdisjoint(negations()) is keep


def test_stopwords_unavailable_says_how_to_install_or_switch_off(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import nltk

    empty = tmp_path / "nltk_data"
    empty.mkdir()
    monkeypatch.setenv("NLTK_DATA", str(empty))
    monkeypatch.setattr(nltk.data, "path", [str(empty)])
    calls = []

    def no_network(*args: object, **kwargs: object) -> bool:
        calls.append(args)
        raise OSError("network unreachable")

    monkeypatch.setattr(nltk, "download", no_network)
    with pytest.raises(StopwordsUnavailable) as err:
        preprocess("the film", TextConfig())
    message = str(err.value)
    assert calls, "a download should have been tried before giving up"
    assert "python -m nltk.downloader stopwords" in message
    assert "NLTK_DATA" in message
    assert "--no-stopwords" in message and "untick *remove stopwords*" in message  # the CLI flag and the form's box
    assert str(empty) in message
    # the rest of the pipeline does not need the list
    assert preprocess("The film!", NO_STOP) == ["the", "film"]


# -- the whole pipeline ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "cfg", "expected"),
    [
        ("<br />U r gr8!!", NO_STOP, ["you", "are", "great"]),
        ("<br />U r gr8!!", TextConfig(), ["great"]),
        ("A <i>tour</i> de force.<br /><br />Ur bound to love it", TextConfig(),
         ["tour", "de", "force", "bound", "love"]),
        ("<br />U r gr8!!", ALL_OFF, ["<br", "/>U", "r", "gr8!!"]),
        ("<br />U r gr8!!", replace(NO_STOP, expand_abbreviations=False), ["u", "r", "gr8"]),
        ("<br />U r gr8!!", replace(NO_STOP, strip_html=False), ["br", "you", "are", "great"]),
        ("<br />U r gr8!!", replace(NO_STOP, lowercase=False), ["you", "are", "great"]),
    ],
)
def test_preprocess_runs_the_enabled_stages(nltk_list: tuple[str, ...], raw: str, cfg: TextConfig,
                                            expected: list[str]) -> None:
    assert preprocess(raw, cfg) == expected


@pytest.mark.parametrize(
    ("raw", "dropped", "kept"),
    [
        ("I don't like it, it is not good", ["like", "good"], ["dont", "like", "not", "good"]),
        ("Idk, it wasn't bad", ["know", "bad"], ["not", "know", "wasnt", "bad"]),
        ("No plot, nor acting; I didn`t care", ["plot", "acting", "care"],
         ["no", "plot", "nor", "acting", "didnt", "care"]),
        ("It's a good film", ["good", "film"], ["good", "film"]),
    ],
)
def test_keep_negations_keeps_negations_through_the_pipeline(nltk_list: tuple[str, ...], raw: str,
                                                              dropped: list[str], kept: list[str]) -> None:
    assert preprocess(raw, TextConfig(keep_negations=False)) == dropped
    assert preprocess(raw, TextConfig(keep_negations=True)) == kept


@pytest.mark.parametrize("raw", ["", "   \n\t ", "😀🎬🍿", "!!! ??? ...", "<br /><br />"])
def test_preprocess_returns_no_tokens_for_texts_without_words(nltk_list: tuple[str, ...], raw: str) -> None:
    assert preprocess(raw, TextConfig()) == []
    assert preprocess_stages(raw, TextConfig())[-1][1] == ""


def test_preprocess_keeps_non_english_words(nltk_list: tuple[str, ...]) -> None:
    assert preprocess("Ein großartiger Film! Отличный фильм. 素晴らしい映画 😀", TextConfig()) == [
        "ein", "großartiger", "film", "отличный", "фильм", "素晴らしい映画"]


@pytest.mark.parametrize(
    "chunk",
    [
        "This film wasn't great, u know.<br /><br />I'd say 4/10 &amp; <i>no</i> more! ",
        "<a" * 50 + " ",  # unclosed tags
        "u.u.u.u.u.u.u.u." * 10,
        "n'n'n't'" * 10,
        "😀" * 50,
    ],
    ids=["imdb-like", "unclosed-tags", "dotted-abbreviations", "apostrophes", "emoji"],
)
def test_a_5mb_review_is_preprocessed_in_linear_time(nltk_list: tuple[str, ...], chunk: str) -> None:
    size = len(chunk.encode("utf-8"))
    big = chunk * (5_000_000 // size)  # 5 MB of UTF-8
    small = chunk * (500_000 // size)
    stop = stopwords(TextConfig())
    t0 = time.perf_counter()
    small_tokens = preprocess(small, TextConfig(), stop)
    t1 = time.perf_counter()
    big_tokens = preprocess(big, TextConfig(), stop)
    t2 = time.perf_counter()
    assert len(big_tokens) == pytest.approx(10 * len(small_tokens), rel=0.01, abs=2)
    assert t2 - t1 < 10.0
    # quadratic work would take ~100x the time for 10x the text; allow noise from a shared machine
    assert t2 - t1 < 40 * (t1 - t0) + 0.5


CONFIGS = [TextConfig(), TextConfig(keep_negations=True), NO_STOP, ALL_OFF,
           replace(NO_STOP, remove_non_alnum=False), TextConfig(remove_non_alnum=False),
           TextConfig(strip_whitespace=False), TextConfig(lowercase=False, keep_negations=True)]
SAMPLES = [
    "<br />U r gr8!!",
    "I don't like it.<br /><br />It's the film's WORST scene, isn`t it? U.S. R&B r-rated w/o tea w/friends",
    "",
    "  \n ",
    "😀 café Привет 日本語 &amp; <i>Jaws</i> 10/10",
    "Idk... btw it wasn't good &lt;3 <grin> u.s.a. gr8!!!ur",
]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("raw", SAMPLES)
def test_preprocess_stages_end_with_the_preprocess_tokens(nltk_list: tuple[str, ...], cfg: TextConfig,
                                                          raw: str) -> None:
    stages = preprocess_stages(raw, cfg)
    assert stages[0] == ("input", raw)
    names = [name for name, _ in stages[1:]]
    assert names == [s for s in STAGES if getattr(cfg, s)]
    assert stages[-1][1].split() == preprocess(raw, cfg)


def test_stage_diff_lists_the_words_a_stage_removed(nltk_list: tuple[str, ...]) -> None:
    stages = dict(preprocess_stages("The film was not the worst", TextConfig()))
    removed, added = stage_diff(stages["strip_whitespace"], stages["remove_stopwords"])
    assert removed == {"the": 2, "was": 1, "not": 1}
    assert not added


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("raw", SAMPLES)
def test_align_tokens_accounts_for_every_word_and_every_token(nltk_list: tuple[str, ...], cfg: TextConfig,
                                                              raw: str) -> None:
    words = align_tokens(raw, cfg)
    tokens = preprocess(raw, cfg)
    assert [t for w in words for t in w.tokens] == tokens
    assert [p for w in words for p in w.positions] == list(range(len(tokens)))
    base = raw.lower() if cfg.lowercase else raw
    base = text.strip_html(base) if cfg.strip_html else base
    assert [w.word for w in words] == base.split()
    assert all(base[w.start:w.end] == w.word for w in words)
    for w in words:
        assert w.fate == ("kept" if w.tokens else "stopword" if w.removed else "non_alnum")


def test_align_tokens_marks_each_fate(nltk_list: tuple[str, ...]) -> None:
    fates = {w.word: w for w in align_tokens("<br />The film's END u!! 😀", TextConfig())}
    assert fates["the"].fate == "stopword" and fates["the"].removed == ("the",)
    assert fates["film's"].fate == "kept" and fates["film's"].tokens == ("film",)
    assert fates["film's"].removed == ("s",)
    assert fates["end"].positions == (1,)
    assert fates["u!!"].fate == "stopword" and fates["u!!"].removed == ("you",)
    assert fates["😀"].fate == "non_alnum"


@pytest.mark.parametrize("workers", [1, 2])
def test_tokenize_corpus_matches_preprocess_in_order_and_reports_progress(nltk_list: tuple[str, ...],
                                                                         workers: int) -> None:
    texts = [f"Review {i}: it wasn't bad<br />u r gr8 #{i % 7}" for i in range(4500)] + SAMPLES
    calls: list[tuple[int, int]] = []
    out = tokenize_corpus(texts, TextConfig(keep_negations=True), progress=lambda d, n: calls.append((d, n)),
                          workers=workers)
    assert out == [preprocess(t, TextConfig(keep_negations=True)) for t in texts]
    assert calls[-1] == (len(texts), len(texts))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_tokenize_corpus_of_nothing_is_empty() -> None:
    assert tokenize_corpus([], NO_STOP) == []


# -- the vocabulary --------------------------------------------------------------------------------
TRAIN = [["good", "film", "good"], ["bad", "film", "good"], ["awful", "bad"], ["zebra"]]


def test_vocabulary_puts_unk_then_pad_then_words_by_frequency_ties_alphabetical() -> None:
    vocab = Vocabulary.build(TRAIN, max_size=None, min_freq=1)
    assert vocab.itos[:2] == [UNK, PAD] and (UNK_ID, PAD_ID) == (0, 1)
    assert vocab.itos[2:] == ["good", "bad", "film", "awful", "zebra"]
    assert vocab.freqs == {"good": 3, "bad": 2, "film": 2, "awful": 1, "zebra": 1}
    assert all(vocab.stoi[w] == i for i, w in enumerate(vocab.itos))
    assert len(vocab) == 7


@pytest.mark.parametrize(("max_size", "min_freq", "words"), [
    (2, 1, ["good", "bad"]),
    (0, 1, []),
    (None, 2, ["good", "bad", "film"]),
    (1, 2, ["good"]),
    (10, 4, []),
])
def test_vocabulary_caps_words_not_specials_and_drops_rare_words(max_size: int | None, min_freq: int,
                                                                 words: list[str]) -> None:
    vocab = Vocabulary.build(TRAIN, max_size=max_size, min_freq=min_freq)
    assert vocab.itos == [UNK, PAD, *words]
    assert vocab.total_tokens == 9 and vocab.total_types == 5


def test_vocabulary_encodes_unknown_words_as_unk_and_decodes_back() -> None:
    vocab = Vocabulary.build(TRAIN, max_size=None, min_freq=2)
    ids = vocab.encode(["good", "zebra", "film", "never-seen"])
    assert ids == [2, UNK_ID, 4, UNK_ID]
    assert vocab.decode(ids) == ["good", UNK, "film", UNK]


def test_vocabulary_built_from_train_maps_test_only_words_to_unk() -> None:
    train, test = [["great", "film"], ["dull", "film"]], [["great", "masterpiece"]]
    vocab = Vocabulary.build(train, max_size=None, min_freq=1)
    assert "masterpiece" not in vocab
    assert vocab.encode(test[0]) == [vocab.stoi["great"], UNK_ID]


def test_vocabulary_gives_no_id_to_literal_special_tokens() -> None:
    vocab = Vocabulary.build([["<pad>", "<unk>", "film", "<pad>"]], max_size=None, min_freq=1)
    assert vocab.itos == [UNK, PAD, "film"]
    assert vocab.encode(["<pad>"]) == [PAD_ID]


def test_vocabulary_coverage_is_the_share_of_training_tokens_it_knows() -> None:
    vocab = Vocabulary.build(TRAIN, max_size=1, min_freq=1)
    assert vocab.coverage == pytest.approx(3 / 9)


def test_vocabulary_save_load_round_trip_leaves_no_temporary_files(tmp_path: Path) -> None:
    vocab = Vocabulary.build(TRAIN + [["café", "日本"]], max_size=None, min_freq=1)
    path = tmp_path / "sub" / "vocab.json"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocab
    assert loaded.itos == vocab.itos and loaded.stoi == vocab.stoi and loaded.freqs == vocab.freqs
    assert [p.name for p in path.parent.iterdir()] == ["vocab.json"]


def test_vocabulary_load_rejects_other_json(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"itos": ["a"]}))
    with pytest.raises(ValueError, match="not an RNN Lab vocabulary"):
        Vocabulary.load(path)


def test_vocabulary_requires_the_special_entries_first() -> None:
    with pytest.raises(ValueError):
        Vocabulary(["film", UNK, PAD], [1, 0, 0])
