"""Each teaching page opens with its lesson (what to look for, why, the way to Theory), and flags near-chance runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_pages import ok, open_page

from rnnlab.dashboard import lessons

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("page", sorted(lessons.LESSONS))
def test_every_lesson_belongs_to_a_page_that_opens_with_it(page):
    file, _, topic = page.partition("#")
    source = (ROOT / "pages" / file).read_text(encoding="utf-8")
    if topic:  # a section's own lesson: under that section's heading
        shown = source.index(f'lessons.show("{page}")')
        assert "st.subheader(" in source[shown - 200:shown] or "st.header(" in source[shown - 200:shown]
        return
    title = source.index("st.title(")
    assert f'lessons.show("{page}")' in source[title:title + 200]  # right under the title


def test_the_lesson_box_says_what_to_look_for_why_and_links_to_theory(rnnlab_home):
    at = ok(open_page("train.py"))
    box = at.info[0].value
    assert box.startswith("**What to look for.**") and "**Why.**" in box
    assert any("Theory" in m.value for m in at.markdown)  # a plain link under AppTest (no navigation)


def test_a_run_near_chance_is_flagged_in_its_label_everywhere(rnnlab_home):
    from rnnlab.core.config import preset
    from rnnlab.core.jobs.store import RunStore
    from rnnlab.dashboard import state

    store = RunStore()
    for acc in (0.51, 0.9):
        run = store.create(preset("fast", cell="lstm"))
        run.write_json("test_metrics.json", {"accuracy": acc, "f1": acc, "roc_auc": acc, "n": 2000,
                                             "confusion_matrix": [[900, 100], [100, 900]]})
        run.update_status(state="finished")
    table = state.summaries(store)
    flagged = table[table["label"].str.endswith(state.CHANCE_MARK)]
    assert list(flagged["test_accuracy"]) == [0.51]
