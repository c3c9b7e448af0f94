"""dashboard.markup: review text is escaped; what a stage removed or added is marked; the tokens a model read
are shaded by saliency, greyed when unknown, coloured by Viterbi state."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest

from rnnlab.dashboard import markup


def test_mark_words_escapes_the_text_and_marks_only_as_many_occurrences_as_counted():
    out = markup.mark_words("a <b>x</b> a a", Counter({"a": 2}), "S")
    assert "<b>" not in out and "&lt;b&gt;x&lt;/b&gt;" in out
    assert out.count('<span style="S">a</span>') == 2
    assert out.endswith(" a")  # the third "a" was not removed


def test_stage_markup_strikes_what_a_stage_removed_and_marks_what_it_added():
    before, after = "The film , really", "the film really"
    b, a = markup.stage_markup(before, after)
    assert f'<span style="{markup.REMOVED_STYLE}">The</span>' in b
    assert f'<span style="{markup.REMOVED_STYLE}">,</span>' in b
    assert f'<span style="{markup.ADDED_STYLE}">the</span>' in a
    assert f'<span style="{markup.ADDED_STYLE}">film</span>' not in a  # unchanged words stay plain


def test_a_review_cannot_inject_markup():
    b, a = markup.stage_markup('<script>alert("x")</script> ok', "ok")
    assert "<script>" not in b and "&lt;script&gt;" in b


def test_diff_summary_counts_removed_and_new_words():
    assert markup.diff_summary("a b c", "a b c") == "no change"
    line = markup.diff_summary("The the the cat sat", "cat sat")
    assert line == "removed or rewrote 3 words (the ×2, The)"
    assert markup.diff_summary("Hi", "hi").endswith("; 1 new")


def test_word_saliency_takes_the_largest_saliency_of_a_words_tokens():
    words = [SimpleNamespace(word="great!", fate="kept", positions=(0, 1)),
             SimpleNamespace(word="the", fate="stopword", positions=()),
             SimpleNamespace(word="film", fate="unknown", positions=(2,))]
    assert markup.word_saliency(words, [0.2, 0.7, 0.1]) == [("great!", "kept", pytest.approx(0.7)),
                                                            ("the", "stopword", None),
                                                            ("film", "unknown", pytest.approx(0.1))]


def test_saliency_html_escapes_text_shades_by_saliency_and_greys_what_the_model_did_not_read():
    out = markup.saliency_html([("<b>good</b>", "kept", 1.0), ("ok", "kept", 0.0), ("the", "stopword", None),
                                ("zzz", "unknown", 0.3)])
    assert "<b>good</b>" not in out and "&lt;b&gt;good&lt;/b&gt;" in out
    assert "rgba(255,127,14,0.93)" in out and "rgba(255,127,14,0.08)" in out
    assert "removed: stop word" in out and "line-through" in out
    assert "read as &lt;unk&gt;" in out


def test_tokens_html_marks_unknown_tokens_and_handles_no_tokens():
    out = markup.tokens_html(["good", "<script>"], [False, True])
    assert "&lt;script&gt;" in out and "<script>" not in out and out.count("line-through") == 1
    assert "no tokens" in markup.tokens_html([], [])


def test_viterbi_html_colours_scored_tokens_by_state_and_greys_the_others():
    out = markup.viterbi_html(["good", "xyz", "film"], [1, 0], [True, False, True])
    assert 'title="state s1"' in out and 'title="state s0"' in out
    assert out.index("state s1") < out.index("no word vector") < out.index("state s0")
    assert markup.state_colour(1) in out


# ---- every word of a text, read or not --------------------------------------------------------------------------
def fate(word, token, reason, index):
    from rnnlab.core.data.text import WordFate

    return WordFate(word, token, reason, index)


def test_reading_html_shows_every_word_read_ones_plain_the_others_marked_by_reason_with_a_tooltip():
    fates = [fate("Not", "not", "stop word", 0), fate("good", "good", None, 1), fate("zzz", "zzz", "unknown", 2),
             fate("<br />", None, "removed", 3), fate("end", "end", "truncated", 4)]
    out = markup.reading_html(fates)
    for reason in ("stop word", "unknown", "truncated", "removed"):
        css, text = markup.READING_STYLES[reason]
        assert f'style="{markup.WORD_STYLE};{css}">' in out
    assert '<span title="good: read" style="' + markup.WORD_STYLE + '">good</span>' in out
    assert 'title="not: stop word: dropped"' in out and ">Not</span>" in out
    assert "&lt;br /&gt;" in out and "<br />" not in out


def test_each_reason_has_its_own_line_style_so_colour_is_not_the_only_cue():
    lines = [css.split("text-decoration:")[1].split(";")[0].split()[:2] for css, _ in markup.READING_STYLES.values()]
    assert len({tuple(line) for line in lines}) == len(lines)
    legend = markup.reading_legend_html()
    assert all(html_text in legend for html_text in ("stop word: dropped", "unknown to the vocabulary",
                                                     "cut by max_len", "partly read"))


def test_a_word_that_became_several_tokens_is_one_word_partly_read_with_each_token_in_the_tooltip():
    fates = [fate("idk", t, r, 0) for t, r in (("i", "stop word"), ("do", "stop word"), ("not", "stop word"),
                                                ("know", None))]
    out = markup.reading_html(fates)
    assert out.count(">idk</span>") == 1 and markup.PARTLY_STYLE in out
    assert 'title="i: stop word: dropped; do: stop word: dropped; not: stop word: dropped; know: read"' in out


def test_reading_html_escapes_words_and_tooltips():
    out = markup.reading_html([fate('<script>"x"', "script", None, 0)])
    assert "<script>" not in out and "&lt;script&gt;&quot;x&quot;" in out


def test_a_long_reading_leaves_out_its_middle_and_says_so():
    out = markup.reading_html([fate(f"w{i}", f"w{i}", None, i) for i in range(100)], max_words=10)
    assert ">w0</span>" in out and ">w99</span>" in out and ">w50</span>" not in out and "90 words not shown" in out


def test_the_keep_negations_comparison_outlines_and_names_the_words_read_only_one_way():
    own = [fate("not", "not", "stop word", 0), fate("good", "good", None, 1)]
    keep = [fate("not", "not", None, 0), fate("good", "good", None, 1)]
    assert markup.changed_words(own, keep) == {0} and markup.newly_read(own, keep) == ["not"]
    out = markup.comparison_html(own, keep, "the run's pipeline", "keep negations on")
    assert "keep negations on also reads: <b>not</b>" in out and out.count(markup.HIGHLIGHT_STYLE) == 2
    assert "both read the same words" in markup.comparison_html(own, own, "a", "b")


def test_reading_summary_counts_the_words_read_and_each_reason():
    fates = [fate("a", "a", None, 0), fate("the", "the", "stop word", 1), fate("of", "of", "stop word", 2),
             fate("!", None, "removed", 3)]
    assert markup.reading_summary(fates) == "1 token read; not read: 2 stop words, 1 removed"


def test_contexts_html_outlines_each_contexts_token_between_its_neighbours_and_escapes_everything():
    contexts = [SimpleNamespace(activation=0.91, token="<b>", left=["a", "&"], right=["z"], label="pos<", text=3),
                SimpleNamespace(activation=-0.2, token="film", left=[], right=[], label="neg", text=0)]
    out = markup.contexts_html(contexts)
    assert "<b>" not in out and "pos<" not in out and "&lt;b&gt;" in out and "a &amp;" in out
    assert out.count(markup.PEAK_STYLE) == 2  # one outlined token per context, nothing else
    first, second = out.split("</div><div")[:2]
    assert first.index("a &amp;") < first.index(f'style="{markup.PEAK_STYLE}">&lt;b&gt;<') < first.index(" z")
    assert "+0.910 · pos&lt; · text 3" in first and "-0.200 · neg · text 0" in second
    assert "(no context)" in markup.contexts_html([])
