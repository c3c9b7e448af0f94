"""The HMM, Embeddings, memory-horizon (Gradients page) and Report forms under AppTest: each widget is a config field.

Each form is generated from its config's field metadata (``dashboard.forms.config_fields``, drawn by
``dashboard.widgets``), so what a user sees is what the config and the command line accept: every
number box's minimum, maximum and help are the field's ``min``, ``max`` and help, its starting value
the field's default or the page's starting config's (``dashboard.forms.STARTING``: a first click is a
job of minutes, not an hour); every checkbox, choice and list starts likewise, with the field's
choices. These tests would have caught the drift of the hand-written forms (HMM states 1-20 against
1-256, word2vec dim 2-600 against 1-2048, horizon steps up to 20,000 against 1,000,000, report epochs
up to 20 against 1000).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from rnnlab.core.config import DataConfig, ExperimentConfig, HMMConfig, HorizonConfig, Word2VecConfig
from rnnlab.dashboard import forms

ROOT = Path(__file__).resolve().parent.parent

# page -> the form's (config class, widget key prefix, fields the page sets itself rather than the form)
FORMS = {
    "hmm": ("hmm.py", [(HMMConfig, "hmm_", ("embeddings",))]),
    "embeddings": ("embeddings.py", [(Word2VecConfig, "w2v_", ()), (DataConfig, "w2v_", None)]),
    "memory horizon": ("gradients.py", [(HorizonConfig, "horizon_", ())]),
    "report": ("report.py", [(ExperimentConfig, "report_", ("imdb_path", "dataset"))]),
}


def starting(cls: type, f: dataclasses.Field) -> Any:
    """The value a form starts ``f`` from: the page's starting config's (forms.STARTING) where it has one of ``cls``,
    else the field's default."""
    start = next((c for c in forms.STARTING.values() if type(c) is cls), None)
    return getattr(start, f.name) if start is not None else f.default


def config_fields(cls: type, skip: tuple[str, ...] | None) -> list[dataclasses.Field]:
    """The config's fields a form offers: all but those the page sets (``skip``); None: only ``limit``."""
    if skip is None:
        return [f for f in dataclasses.fields(cls) if f.name == "limit"]
    return [f for f in dataclasses.fields(cls) if f.name not in skip and not f.metadata.get("internal")]


def widgets_by_key(at: AppTest) -> dict[str, Any]:
    return {w.key: w for kind in ("number_input", "checkbox", "selectbox", "multiselect", "text_input")
            for w in getattr(at, kind) if w.key}


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, AppTest]:
    """Each form's page, opened once on an empty home (no runs, no dataset: the forms are still drawn)."""
    home = tmp_path_factory.mktemp("forms-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNLAB_HOME", str(home))
        mp.delenv("RNNLAB_IMDB", raising=False)
        mp.delenv("RNNLAB_RUNS_DIR", raising=False)
        out = {}
        for name, (page, _) in FORMS.items():
            at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=60).run()
            assert not at.exception, [e.value for e in at.exception]
            out[name] = at
    return out


@pytest.mark.parametrize("form", list(FORMS))
def test_every_number_box_has_its_config_fields_bounds_default_and_help(pages, form):
    at = pages[form]
    found = widgets_by_key(at)
    checked = 0
    for cls, prefix, skip in FORMS[form][1]:
        for f in config_fields(cls, skip):
            if not isinstance(f.default, int | float | type(None)) or isinstance(f.default, bool):
                continue
            box = found.get(prefix + f.name)
            if box is None or box.type != "number_input":
                continue  # a choice, a text or a list: the next test
            meta = f.metadata
            assert (box.min, box.max, box.value) == (meta["min"], meta["max"], starting(cls, f)), f"{form}: {f.name}"
            assert box.help == meta["help"], f"{form}: {f.name}"
            checked += 1
    assert checked >= 4, f"{form}: only {checked} number boxes found"


@pytest.mark.parametrize("form", list(FORMS))
def test_every_field_of_the_config_is_on_the_form_starting_from_its_default(pages, form):
    found = widgets_by_key(pages[form])
    for cls, prefix, skip in FORMS[form][1]:
        fields = {f.name: f for f in forms.config_fields(cls)}
        for f in config_fields(cls, skip):
            widget = found.get(prefix + f.name)
            assert widget is not None, f"{form}: no widget for {cls.__name__}.{f.name}"
            default, field = starting(cls, f), fields[f.name]
            if widget.type == "checkbox":
                assert widget.value is default
            elif widget.type == "selectbox":
                assert widget.value == default and tuple(widget.options) == field.choices
            elif widget.type == "multiselect":
                assert tuple(widget.value) == default and tuple(widget.options) == field.choices
            elif widget.type == "text_input":
                assert widget.value == field.text(default)
                assert forms.parse_value(field, widget.value) == default  # read back, the same value
            else:
                assert widget.value == default, f"{form}: {f.name}"


@pytest.mark.parametrize("cls, name, lo, hi, default", [
    (HMMConfig, "states", 1, 256, 4), (Word2VecConfig, "dim", 1, 2048, 100),
    (HorizonConfig, "steps", 1, 1_000_000, 500), (ExperimentConfig, "epochs", 1, 1000, None)])
def test_the_limits_that_drifted_are_the_configs_now(pages, cls, name, lo, hi, default):
    form, prefix = {HMMConfig: ("hmm", "hmm_"), Word2VecConfig: ("embeddings", "w2v_"),
                    HorizonConfig: ("memory horizon", "horizon_"), ExperimentConfig: ("report", "report_")}[cls]
    box = widgets_by_key(pages[form])[prefix + name]
    assert (box.min, box.max, box.value) == (lo, hi, default)
