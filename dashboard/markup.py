"""HTML for text views: a review before and after a preprocessing stage, with the changes marked.

What it is: pure functions returning HTML strings for ``st.html`` -- every piece of review text
is escaped, so a review's own ``<br />`` or ``<script>`` shows as text. Words a stage removed
(or rewrote) are struck through in red in the text before it; words it produced are green in
the text after it. Built on ``core.data.text.stage_diff``.

What it is not: the pipeline itself (``core.data.text``), Streamlit.
"""

from __future__ import annotations

import html
import re
from collections import Counter

from core.data.text import stage_diff

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
