"""HTML for text views: a review before and after a preprocessing stage, and the tokens a model read.

What it is: pure functions returning HTML strings for ``st.html`` -- every piece of review text
is escaped, so a review's own ``<br />`` or ``<script>`` shows as text. Words a stage removed
(or rewrote) are struck through in red in the text before it; words it produced are green in
the text after it (built on ``core.data.text.stage_diff``). The tokens a model read appear as
chips: shaded by saliency (Gates page) or by a signed attribution, blue for and orange against
(:func:`attribution_html`, Gates and Classify pages), greyed when read only as ``<unk>`` (Classify page), or
coloured by their Viterbi state (HMM page). Every word of a text with what the model read of it
(:func:`reading_html`, built on ``core.data.text.reading``): read words plain, the others marked
by reason -- stop word, unknown, cut by ``max_len``, removed -- each with its own line style and an
Okabe-Ito colour (told apart without colour too), a tooltip and a legend (:func:`reading_legend_html`).

What it is not: the pipeline itself (``core.data.text``), Plotly figures (``core.figures``),
Streamlit.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rnnlab.core.data.text import REMOVED, STOP_WORD, TRUNCATED, UNKNOWN, WordFate, stage_diff
from rnnlab.core.figures.style import GREY, NEGATIVE, PALETTE, POSITIVE

REMOVED_STYLE = "background:#fde0e0;color:#a40000;text-decoration:line-through;border-radius:3px;padding:0 2px"
ADDED_STYLE = "background:#e0f5e0;color:#0a6b0a;border-radius:3px;padding:0 2px"
BOX_STYLE = ("white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:0.85rem;line-height:1.5;"
             "border:1px solid #ddd;border-radius:6px;padding:8px;max-height:16rem;overflow-y:auto")


def mark_words(text: str, words: Counter[str], style: str) -> str:
    """``text`` escaped, with the first ``words[w]`` occurrences of each word ``w`` wrapped in a span."""
    left = Counter(words)
    out = []
    for m in re.finditer(r"\S+|\s+", text):
        piece = m.group(0)
        if left.get(piece, 0) > 0:
            left[piece] -= 1
            out.append(f'<span style="{style}">{html.escape(piece)}</span>')
        else:
            out.append(html.escape(piece))
    return "".join(out)


def stage_markup(before: str, after: str) -> tuple[str, str]:
    """``(before, after)`` as HTML boxes: what the stage removed marked in the first, what it added in the second."""
    removed, added = stage_diff(before, after)
    return (f'<div style="{BOX_STYLE}">{mark_words(before, removed, REMOVED_STYLE)}</div>',
            f'<div style="{BOX_STYLE}">{mark_words(after, added, ADDED_STYLE)}</div>')


def diff_summary(before: str, after: str, top: int = 12) -> str:
    """One line: how many words a stage removed and added, and the most frequent removed ones."""
    removed, added = stage_diff(before, after)
    n_removed, n_added = sum(removed.values()), sum(added.values())
    if not n_removed and not n_added:
        return "no change"
    common = ", ".join(f"{w} ×{c}" if c > 1 else w for w, c in removed.most_common(top))
    more = ", …" if len(removed) > top else ""
    line = f"removed or rewrote {n_removed} word{'s' * (n_removed != 1)}" + (f" ({common}{more})" if common else "")
    return f"{line}; {n_added} new" if n_added else line


# ---- tokens a model read: saliency, unknown tokens, Viterbi states --------------------------------------
TOKEN_STYLE = "border-radius:4px;padding:1px 4px;margin:1px;display:inline-block;line-height:1.6"
TOKEN_BOX_STYLE = ("font-family:ui-monospace,monospace;font-size:0.85rem;border:1px solid #ddd;border-radius:6px;"
                   "padding:8px;max-height:16rem;overflow-y:auto")
FATE_NAMES = {"kept": "kept", "unknown": "read as <unk>", "stopword": "removed: stop word",
              "non_alnum": "removed: punctuation / symbols", "truncated": "cut by max_len"}


def word_saliency(words: Sequence[Any], saliency: Sequence[float]) -> list[tuple[str, str, float | None]]:
    """``(word, fate, saliency)`` per raw word: the largest saliency of the tokens it became, None if none read."""
    sal = np.asarray(saliency, dtype=float)
    out = []
    for w in words:
        pos = [p for p in getattr(w, "positions", ()) if 0 <= p < len(sal)]
        out.append((w.word, w.fate, float(sal[pos].max()) if pos else None))
    return out


def _rgba(weight: float) -> str:
    """An orange highlight whose opacity grows with ``weight`` in [0, 1]."""
    return f"rgba(255,127,14,{0.08 + 0.85 * min(max(weight, 0.0), 1.0):.2f})"


def saliency_html(items: Sequence[tuple[str, str, float | None]]) -> str:
    """The review's words, each read word shaded by its saliency (darkest = most salient, scaled to the max).

    Words preprocessing removed, cut, or read only as ``<unk>`` are grey (struck through when
    removed or cut); the tooltip says what happened to each word. All text is escaped.
    """
    finite = [s for _, _, s in items if s is not None and math.isfinite(s)]
    top = max(finite) if finite and max(finite) > 0 else 1.0
    parts = []
    for word, fate, s in items:
        w = html.escape(word)
        if fate == "kept" and s is not None:
            tip = html.escape(f"saliency {s:.3g}")
            parts.append(f'<span title="{tip}" style="{TOKEN_STYLE};background:{_rgba(s / top)}">{w}</span>')
        else:
            strike = ";text-decoration:line-through" if fate in ("stopword", "non_alnum", "truncated") else ""
            tip = html.escape(FATE_NAMES.get(fate, fate))
            parts.append(f'<span title="{tip}" style="{TOKEN_STYLE};color:{GREY}{strike}">{w}</span>')
    return f'<div style="{TOKEN_BOX_STYLE}">{" ".join(parts)}</div>'


def _diverging(value: float, top: float) -> str:
    """Blue towards the class, orange against it, opacity growing with ``|value| / top`` (colour-blind safe)."""
    colour = POSITIVE if value > 0 else NEGATIVE  # "#rrggbb"
    rgb = ",".join(str(int(colour[i:i + 2], 16)) for i in (1, 3, 5))
    return f"rgba({rgb},{0.05 + 0.6 * min(abs(value) / top, 1.0):.2f})"  # at most 0.65: black text stays legible


def attribution_html(items: Sequence[tuple[str, str, float | None]], toward: str, against: str) -> str:
    """The text's words shaded by a signed attribution (``Attribution.word_attributions``), with its key.

    Blue pushes the prediction towards ``toward``, orange towards ``against``; the opacity is ``|value|``
    scaled to the largest in this text (so one text's shades compare, two texts' do not: the tooltip has
    the number). Words the model did not read, or read only as ``<unk>``, are grey as in
    :func:`saliency_html`. All text is escaped.
    """
    finite = [abs(v) for _, _, v in items if v is not None and math.isfinite(v)]
    top = max(finite) if finite and max(finite) > 0 else 1.0
    parts = []
    for word, fate, v in items:
        w = html.escape(word)
        if v is not None and math.isfinite(v) and fate in ("kept", "unknown"):
            side = toward if v > 0 else against
            tip = html.escape(f"{v:+.3g}: towards {side}" + (" (read as <unk>)" if fate == "unknown" else ""))
            extra = f";color:{GREY}" if fate == "unknown" else ""
            parts.append(f'<span title="{tip}" style="{TOKEN_STYLE};background:{_diverging(v, top)}{extra}">{w}</span>')
        else:
            strike = ";text-decoration:line-through" if fate in ("stopword", "non_alnum", "truncated") else ""
            tip = html.escape(FATE_NAMES.get(fate, fate))
            parts.append(f'<span title="{tip}" style="{TOKEN_STYLE};color:{GREY}{strike}">{w}</span>')
    key = (f'<div style="font-size:0.8rem;margin-bottom:2px">'
           f'<span style="{TOKEN_STYLE};background:{_diverging(1, 1)}">towards {html.escape(toward)}</span> '
           f'<span style="{TOKEN_STYLE};background:{_diverging(-1, 1)}">towards {html.escape(against)}</span> '
           f'darker = more (of the largest |value| in this text: {top:.3g})</div>')
    return f'{key}<div style="{TOKEN_BOX_STYLE}">{" ".join(parts)}</div>'


def tokens_html(tokens: Sequence[str], unknown: Sequence[bool] | None = None) -> str:
    """The tokens a model read, as chips; those read only as ``<unk>`` greyed and struck through."""
    unknown = list(unknown or [False] * len(tokens))
    if not tokens:
        return f'<div style="{TOKEN_BOX_STYLE};color:{GREY}">(no tokens: the text was empty after preprocessing)</div>'
    parts = []
    for tok, unk in zip(tokens, unknown, strict=False):
        t = html.escape(tok)
        if unk:
            parts.append(f'<span title="unknown: read as &lt;unk&gt;" style="{TOKEN_STYLE};color:{GREY};'
                         f'text-decoration:line-through;background:#f2f2f2">{t}</span>')
        else:
            parts.append(f'<span style="{TOKEN_STYLE};background:#eef3fb">{t}</span>')
    return f'<div style="{TOKEN_BOX_STYLE}">{" ".join(parts)}</div>'


def state_colour(state: int) -> str:
    """The colour of hidden state ``state`` (the run palette, so a few states stay distinct)."""
    return PALETTE[int(state) % len(PALETTE)]


def viterbi_html(tokens: Sequence[str], states: Sequence[int], used: Sequence[bool]) -> str:
    """Tokens coloured by their Viterbi state; tokens without a word vector (not scored) greyed.

    ``states`` holds one state per *used* token, in order (the HMM only sees tokens with a vector).
    """
    if not tokens:
        return f'<div style="{TOKEN_BOX_STYLE};color:{GREY}">(no tokens)</div>'
    it = iter(states)
    parts = []
    for tok, u in zip(tokens, used, strict=False):
        t = html.escape(tok)
        s = next(it, None) if u else None
        if s is None:
            parts.append(f'<span title="no word vector: not scored" style="{TOKEN_STYLE};color:{GREY}">{t}</span>')
        else:
            parts.append(f'<span title="state s{s}" style="{TOKEN_STYLE};color:white;background:{state_colour(s)}">'
                         f'{t}<sub style="opacity:0.8">{s}</sub></span>')
    return f'<div style="{TOKEN_BOX_STYLE}">{" ".join(parts)}</div>'


def state_legend_html(n_states: int) -> str:
    """One chip per hidden state ``s0 .. s{n-1}`` in its colour: the key to :func:`viterbi_html`."""
    chips = " ".join(f'<span style="{TOKEN_STYLE};color:white;background:{state_colour(s)}">s{s}</span>'
                     for s in range(n_states))
    return f"<div>{chips}</div>"


# ---- every word of a text, read or not, and why ---------------------------------------------------------------
# Okabe-Ito colours, and a different line for each reason, so no reason depends on colour alone.
READING_STYLES: dict[str, tuple[str, str]] = {  # reason -> (CSS, legend text)
    STOP_WORD: ("color:#D55E00;text-decoration:line-through solid #D55E00 2px", "stop word: dropped"),
    UNKNOWN: ("color:#0072B2;text-decoration:underline wavy #0072B2", "unknown to the vocabulary: read as <unk>"),
    TRUNCATED: ("color:#6b6b6b;text-decoration:underline dashed #CC79A7 2px;opacity:0.75",
                "cut by max_len: not read"),
    REMOVED: ("color:#6b6b6b;text-decoration:line-through dotted #000 2px;font-style:italic",
              "removed: HTML or punctuation"),
}
PARTLY_STYLE = "text-decoration:underline dotted #009E73 2px"  # a word some of whose tokens are read
HIGHLIGHT_STYLE = "background:#F0E442;outline:2px solid #000;border-radius:3px"  # read differently in a comparison
WORD_STYLE = "padding:0 1px;line-height:1.8"


def _groups(fates: Sequence[WordFate]) -> list[list[WordFate]]:
    """The fates of each word of the text, in order (a word that became several tokens has several)."""
    out: list[list[WordFate]] = []
    for f in fates:
        if out and out[-1][0].index == f.index:
            out[-1].append(f)
        else:
            out.append([f])
    return out


def _tip(group: Sequence[WordFate]) -> str:
    parts = []
    for f in group:
        fate = "read" if f.read else READING_STYLES.get(f.reason or "", ("", f.reason or ""))[1]
        parts.append(fate if f.token is None else f"{f.token}: {fate}")
    return "; ".join(parts)


def _word_html(group: Sequence[WordFate], highlight: bool) -> str:
    reasons = [f.reason for f in group]
    if all(r is None for r in reasons):
        style = WORD_STYLE
    elif any(r is None for r in reasons):
        style = f"{WORD_STYLE};{PARTLY_STYLE}"
    else:
        style = f"{WORD_STYLE};{READING_STYLES.get(reasons[0] or '', ('', ''))[0]}"
    if highlight:
        style += f";{HIGHLIGHT_STYLE}"
    return f'<span title="{html.escape(_tip(group))}" style="{style}">{html.escape(group[0].word)}</span>'


def reading_html(fates: Sequence[WordFate], highlight: Iterable[int] = (), max_words: int = 4000) -> str:
    """Every word of a text (``core.data.text.reading``): read ones plain, the others marked by reason.

    A word only part of which is read ("idk" -> "i do not know": "know" is read) has a dotted green
    underline; the tooltip lists each token and its fate. Words whose ``index`` is in ``highlight`` are
    outlined (see :func:`changed_words`). Past ``max_words`` words the middle is left out (and said so).
    All text is escaped.
    """
    groups = _groups(fates)
    if not groups:
        return f'<div style="{TOKEN_BOX_STYLE};color:{GREY}">(no words)</div>'
    marked = set(highlight)
    if len(groups) > max_words:
        half = max_words // 2
        gap = f'<span style="color:{GREY}"> … {len(groups) - 2 * half:,} words not shown … </span>'
        parts = [_word_html(g, g[0].index in marked) for g in groups[:half]] + [gap] + [
            _word_html(g, g[0].index in marked) for g in groups[-half:]]
    else:
        parts = [_word_html(g, g[0].index in marked) for g in groups]
    return f'<div style="{TOKEN_BOX_STYLE}">{" ".join(parts)}</div>'


def reading_legend_html() -> str:
    """The key to :func:`reading_html`: one sample per reason a word is not read."""
    items = [f'<span style="{WORD_STYLE}">read</span>']
    items += [f'<span style="{WORD_STYLE};{css}">{html.escape(text)}</span>' for css, text in READING_STYLES.values()]
    items.append(f'<span style="{WORD_STYLE};{PARTLY_STYLE}">partly read</span>')
    return f'<div style="font-size:0.8rem">{" · ".join(items)}</div>'


def reading_summary(fates: Sequence[WordFate]) -> str:
    """One line: tokens read, and how many were not read for each reason."""
    read = sum(1 for f in fates if f.read)
    counts = Counter(f.reason for f in fates if not f.read)
    names = {STOP_WORD: "stop words", UNKNOWN: "unknown", TRUNCATED: "cut by max_len", REMOVED: "removed"}
    rest = ", ".join(f"{counts[r]} {names[r]}" for r in READING_STYLES if counts[r])
    return f"{read} token{'s' * (read != 1)} read" + (f"; not read: {rest}" if rest else "")


def changed_words(a: Sequence[WordFate], b: Sequence[WordFate]) -> set[int]:
    """Indices of the words read differently in two readings of one text (``reading`` under two configs)."""
    fa, fb = {}, {}
    for fates, out in ((a, fa), (b, fb)):
        for f in fates:
            out.setdefault(f.index, []).append((f.token, f.reason))
    return {i for i in fa.keys() | fb.keys() if fa.get(i) != fb.get(i)}


def newly_read(a: Sequence[WordFate], b: Sequence[WordFate]) -> list[str]:
    """The words (as written) that ``b`` reads at least part of and ``a`` reads nothing of, in order."""
    read_a = {f.index for f in a if f.read}
    out: list[str] = []
    seen: set[int] = set()
    for f in b:
        if f.read and f.index not in read_a and f.index not in seen:
            seen.add(f.index)
            out.append(f.word)
    return out


def comparison_html(a: Sequence[WordFate], b: Sequence[WordFate], a_label: str, b_label: str) -> str:
    """Two readings of one text one above the other, the words they read differently outlined in both,
    and a line naming the words only ``b`` reads (the "keep negations" comparison)."""
    changed = changed_words(a, b)
    gained = newly_read(a, b)
    lost = newly_read(b, a)
    lines = []
    if gained:
        lines.append(f"{html.escape(b_label)} also reads: <b>{html.escape(', '.join(gained))}</b>")
    if lost:
        lines.append(f"{html.escape(a_label)} also reads: <b>{html.escape(', '.join(lost))}</b>")
    if not changed:
        lines.append("both read the same words")
    return (f'<div style="font-size:0.85rem">{html.escape(a_label)} ({html.escape(reading_summary(a))})</div>'
            f"{reading_html(a, changed)}"
            f'<div style="font-size:0.85rem;margin-top:6px">{html.escape(b_label)} '
            f"({html.escape(reading_summary(b))})</div>{reading_html(b, changed)}"
            f'<div style="font-size:0.85rem;margin-top:4px">{"<br>".join(lines)}</div>')


# ---- where a unit peaks: one line per context of a neuron search ----------------------------------------------------
PEAK_STYLE = f"{HIGHLIGHT_STYLE};font-weight:600;padding:0 2px"  # the token a context is about


def contexts_html(contexts: Sequence[Any], what: str = "activation") -> str:
    """One line per context of a neuron search (``core.analysis.neurons.Context``: ``activation``, ``token``,
    ``left``, ``right``, ``label``, ``text``): its value, the text's class and index, then the tokens the model
    read around it, the context's own token outlined (its value in the tooltip). All text is escaped."""
    if not contexts:
        return f'<div style="{TOKEN_BOX_STYLE};color:{GREY}">(no context)</div>'
    lines = []
    for c in contexts:
        head = html.escape(f"{c.activation:+.3f} · {c.label} · text {c.text}")
        tip = html.escape(f"{what} {c.activation:.4g} at token {c.token!r}")
        words = [*map(html.escape, c.left), f'<span title="{tip}" style="{PEAK_STYLE}">{html.escape(c.token)}</span>',
                 *map(html.escape, c.right)]
        lines.append(f'<div style="{WORD_STYLE}"><span style="color:{GREY};font-size:0.8rem">{head}</span> '
                     f'{" ".join(words)}</div>')
    return f'<div style="{TOKEN_BOX_STYLE}">{"".join(lines)}</div>'
