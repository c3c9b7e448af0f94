"""Texts cut short: their first N words, or their first sentence, to score a model on short text.

A model trained on long reviews may read short, plain sentences badly, and a preprocessing choice
(removing stop words, "not" among them) may cost more on short text than on long. ``python -m core
evaluate RUN --short N`` (``core.analysis.evaluate``) measures it: it cuts each test text with
:func:`cut_text` before the run's own text pipeline reads it. The cut works on the raw text, as a
user would have written a short review:

- :func:`first_words`: the first ``n`` whitespace-separated words, once HTML line breaks
  (``<br />``) are spaces (IMDB's paragraphs are joined by them, with no space around). Other tags
  and punctuation stay, for the run's pipeline to treat as it always does.
- :func:`first_sentence`: once every tag is removed (``core.data.text.strip_html``), the text up to
  the first ``.``, ``!`` or ``?`` (a run of them, and closing quotes or brackets after it) that
  comes after the text's first letter or digit and is followed by whitespace or the end. "3.5
  stars" and "U.S.A" do not end a sentence; "Mr. Smith" does (a plain rule, not a sentence
  parser). A text without a sentence end is kept whole, and every sentence is bounded by
  :data:`SENTENCE_WORDS_MAX` words.

Every function is pure and linear in the text's length. Not here: the test split, the scoring
(``core.analysis.evaluate``), the text pipeline itself (``core.data.text``).
"""

from __future__ import annotations

import re
from itertools import islice

from rnnlab.core.data.text import strip_html

WORDS_MAX = 1000  # --short N: 1 to this (IMDB's longest reviews have ~2,500 words; a "short" text has far fewer)
SENTENCE = "sentence"  # --short sentence
SENTENCE_WORDS_MAX = 100  # a first sentence longer than this (or a text with no sentence end) is cut here

_LINE_BREAK_RE = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
_WORD_RE = re.compile(r"\S+")
_FIRST_ALNUM_RE = re.compile(r"[^\W_]")
# The lookbehind lets a search try only the first mark of a run ("!!!"), and the possessive
# quantifiers never give back what they took: the search stays linear on "......" with no space.
_SENTENCE_END_RE = re.compile(r"(?<![.!?])[.!?]++[\"'’”)\]]*+(?=\s|$)")


def first_words(text: str, n: int) -> str:
    """The first ``n`` whitespace-separated words of ``text`` (HTML line breaks first turned to spaces), joined by
    single spaces; the whole text, so joined, when it has ``n`` words or fewer."""
    if n < 1:
        raise ValueError(f"the number of words must be 1 or more, got {n}")
    words = islice(_WORD_RE.finditer(_LINE_BREAK_RE.sub(" ", text) if "<" in text else text), n)
    return " ".join(m.group() for m in words)  # reads no further than the n-th word


def first_sentence(text: str, max_words: int = SENTENCE_WORDS_MAX) -> str:
    """The first sentence of ``text`` with its tags removed: up to the first sentence end after its first letter or
    digit, bounded by ``max_words`` words; the text's first ``max_words`` words when it has no sentence end."""
    plain = first_words(strip_html(text), max_words)
    start = _FIRST_ALNUM_RE.search(plain)
    if start is None:  # no word at all ("...", "", an emoji): nothing of a sentence to find
        return plain
    end = _SENTENCE_END_RE.search(plain, start.end())
    return plain[:end.end()] if end else plain


def parse_short(value: int | str) -> int | str:
    """A cut as ``--short`` takes it: a number of words from 1 to :data:`WORDS_MAX`, or ``"sentence"``;
    ValueError, in one line, for anything else."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word == SENTENCE:
            return SENTENCE
        if word.isascii() and word.isdigit() and len(word) < 8:
            value = int(word)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= WORDS_MAX:
        return value
    raise ValueError(f"--short takes a number of words from 1 to {WORDS_MAX:,} or 'sentence', not {str(value)[:40]!r}")


def cut_text(text: str, short: int | str) -> str:
    """``text`` cut by ``short`` (:func:`parse_short`'s value): its first words or its first sentence."""
    return first_sentence(text) if short == SENTENCE else first_words(text, int(short))


def cut_name(short: int | str) -> str:
    """What a cut keeps, in words: ``first 20 words``, ``first 1 word``, ``first sentence``."""
    if short == SENTENCE:
        return "first sentence"
    return f"first {short} word{'s' * (short != 1)}"


def word_count(text: str) -> int:
    """The whitespace-separated words of ``text``, HTML line breaks counted as spaces (as :func:`first_words`)."""
    return len((_LINE_BREAK_RE.sub(" ", text) if "<" in text else text).split())
