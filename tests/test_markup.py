"""Stage-diff markup: review text is escaped, and what a stage removed or added is marked."""

from __future__ import annotations

from collections import Counter

from dashboard import markup


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
