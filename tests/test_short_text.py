"""core.data.short_text and ``evaluate --short``: a run scored on its dataset's test texts cut to their first N words
or their first sentence, the cut applied to the raw text before the run's own pipeline reads it."""

from __future__ import annotations

import csv
import json
import random

import pytest

from rnnlab.core.__main__ import main
from rnnlab.core.analysis.evaluate import evaluate_run
from rnnlab.core.config import preset
from rnnlab.core.data import sources
from rnnlab.core.data.short_text import (
    SENTENCE_WORDS_MAX,
    WORDS_MAX,
    cut_name,
    cut_text,
    first_sentence,
    first_words,
    parse_short,
    word_count,
)
from rnnlab.core.jobs.lifecycle import run_now
from rnnlab.core.jobs.store import RunStore

HUGE = "word " * 1_000_000 + "end."  # 5 MB, one sentence


# -- the cut, a pure function --------------------------------------------------------------------------------------
def test_first_words_turns_html_line_breaks_into_spaces_and_keeps_punctuation_for_the_pipeline():
    assert first_words("Bad.<br /><br />Really<BR>bad<br/>film", 3) == "Bad. Really bad"
    assert first_words("Not good, at all!", 2) == "Not good,"
    assert first_words("  <i>Fine</i>  film ", 1) == "<i>Fine</i>"  # other tags are the run's pipeline's to strip
    assert word_count("Bad.<br /><br />Really bad") == 3


def test_a_text_with_fewer_words_than_asked_is_kept_whole_and_an_empty_one_stays_empty():
    assert first_words("a  short\ttext", 50) == "a short text"
    assert first_words("", 5) == "" and first_words("<br /><br />", 5) == ""
    assert first_sentence("") == "" and first_sentence("   ") == ""


def test_a_huge_text_is_cut_to_the_words_asked():
    assert first_words(HUGE, 3) == "word word word"
    assert first_words(HUGE, WORDS_MAX).split() == ["word"] * WORDS_MAX


def test_the_first_sentence_ends_at_the_first_stop_mark_followed_by_a_space_or_the_end():
    assert first_sentence("Great film! Bad ending.") == "Great film!"
    assert first_sentence("Is it good? No.") == "Is it good?"
    assert first_sentence("Rated 3.5 stars by U.S.A critics. Really.") == "Rated 3.5 stars by U.S.A critics."
    assert first_sentence('He said "awful." Then left.') == 'He said "awful."'  # the closing quote goes with it
    assert first_sentence("Wow!!! Loved it") == "Wow!!!"
    assert first_sentence("... Not my kind of film. But fine.") == "... Not my kind of film."  # no words: no sentence
    assert first_sentence("Bad.<br /><br />Really bad.") == "Bad."
    assert first_sentence("<i>Bad</i> film &amp; worse acting. Yes.") == "Bad film & worse acting."  # tags removed


def test_a_text_without_a_sentence_end_is_kept_whole_and_every_sentence_is_bounded():
    assert first_sentence("no sentence end here") == "no sentence end here"
    assert first_sentence("a.b.c and 4.5") == "a.b.c and 4.5"
    assert first_sentence(HUGE).split() == ["word"] * SENTENCE_WORDS_MAX
    assert first_sentence("x" + "." * 1_000_000 + "y") == "x" + "." * 1_000_000 + "y"  # a dot run that ends nothing


def test_a_cut_is_a_number_of_words_in_bounds_or_sentence_and_says_what_it_keeps():
    assert parse_short("3") == parse_short(3) == 3 and parse_short(" Sentence ") == "sentence"
    assert parse_short(WORDS_MAX) == WORDS_MAX
    for bad in (0, WORDS_MAX + 1, "-1", "2.5", 2.5, "", "words", True, "9" * 30):
        with pytest.raises(ValueError, match=r"^--short takes a number of words from 1 to 1,000 or 'sentence'"):
            parse_short(bad)
    assert [cut_name(1), cut_name(20), cut_name("sentence")] == ["first 1 word", "first 20 words", "first sentence"]
    assert cut_text("One two. Three", 2) == "One two." and cut_text("One two. Three", "sentence") == "One two."


# -- evaluate --short ------------------------------------------------------------------------------------------------
# the tiny IMDB test reviews read "test pos review 0, rated 7.<br /><br />A pos film." (12 of them)
def test_a_run_is_scored_on_its_test_texts_cut_short_and_each_cut_is_stored_under_its_own_name(trained_copy,
                                                                                                trained_home, capsys):
    run = RunStore().get(trained_home.run_ids["gru"])
    assert main(["evaluate", run.id, "--dataset", "imdb", "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert main(["evaluate", run.id, "--dataset", "imdb", "--short", "3", "--json"]) == 0
    three = json.loads(capsys.readouterr().out)
    sentence = evaluate_run(run, "imdb", short="sentence")
    assert (whole["name"], three["name"], sentence["name"]) == ("imdb", "imdb (first 3 words)",
                                                                "imdb (first sentence)")
    assert whole["n"] == three["n"] == sentence["n"] == 12 and three["cut"] == "first 3 words"
    assert whole["mean_words"] == 9.0 and three["mean_words"] == 3.0 and sentence["mean_words"] == 6.0
    stored = run.read_json("evaluations.json")
    assert set(stored) == {"imdb", "imdb (first 3 words)", "imdb (first sentence)"}
    assert stored["imdb (first 3 words)"]["accuracy"] == three["accuracy"] and "roc" not in stored["imdb"]
    assert main(["evaluate", run.id, "--dataset", "imdb", "--short", "sentence"]) == 0
    out = capsys.readouterr().out
    assert f"{run.id} on imdb (first sentence) (12 test texts, 6.0 words each on average): accuracy" in out


def test_a_seeded_sample_is_scored_with_limit_and_the_result_says_it_is_one(trained_copy, trained_home, capsys):
    run = RunStore().get(trained_home.run_ids["lstm"])
    assert main(["evaluate", run.id, "--dataset", "imdb", "--limit", "5", "--short", "2", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    again = evaluate_run(run, "imdb", limit=5, short=2)
    assert first["n"] == 5 and first["sample"] == {"of": 12, "seed": 0}
    assert "a seeded sample of 5 of the 12 test texts" in first["note"]
    assert (again["confusion_matrix"], again["roc_auc"]) == (first["confusion_matrix"], first["roc_auc"])
    every = evaluate_run(run, "imdb", limit=12)
    assert every["n"] == 12 and "sample" not in every and "note" not in every  # a limit above the split: no sample


@pytest.mark.parametrize("flags, message", [
    (["--short", "0"], "--short takes a number of words from 1 to 1,000 or 'sentence', not '0'"),
    (["--short", "1001"], "--short takes a number of words from 1 to 1,000 or 'sentence', not '1001'"),
    (["--short", "first"], "--short takes a number of words from 1 to 1,000 or 'sentence', not 'first'"),
    (["--limit", "0"], "--limit takes a number of texts from 1 to 10,000,000, not '0'"),
])
def test_bad_cuts_and_limits_are_refused_in_one_line_and_nothing_is_stored(trained_copy, trained_home, capsys,
                                                                          flags, message):
    run = RunStore().get(trained_home.run_ids["gru"])
    assert main(["evaluate", run.id, "--dataset", "imdb", *flags]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {message}\n"
    assert main(["evaluate", run.id, "--dataset", "imdb", *flags, "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"error": message}
    assert not run.file("evaluations.json").exists()


# -- the cut changes what the model reads: texts whose class word comes last -----------------------------------------
CLASS_WORDS = {"sports": "football", "cooking": "recipe", "weather": "storm"}
FILLER = ["the", "story", "i", "read", "on", "sunday", "was", "about", "a"]


@pytest.fixture
def last_word_run(rnnlab_home, tmp_path):
    """A GRU trained on 120 three-class texts that open with the same word and end with their class's word."""
    rng = random.Random(0)
    path = tmp_path / "late.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([("text", "label")] + [
            (" ".join(["opening", *rng.choices(FILLER, k=6), word]), cls)
            for cls, word in CLASS_WORDS.items() for _ in range(40)])
    sources.add_dataset(path, "late")
    return run_now("rnn", preset("fast", cell="gru", dataset="late", epochs=5, hidden_size=8, embedding_dim=8,
                                 batch_size=8, lr=0.01, remove_stopwords=False, threads=1), RunStore())


def test_cutting_to_one_word_hides_the_class_word_that_fifty_words_keep(last_word_run, capsys):
    whole = evaluate_run(last_word_run, "late", every=True)
    fifty = evaluate_run(last_word_run, "late", every=True, short=50)
    assert main(["evaluate", last_word_run.id, "--dataset", "late", "--all", "--short", "1"]) == 0
    out = capsys.readouterr().out
    one = last_word_run.read_json("evaluations.json")["late (first 1 word)"]
    assert whole["accuracy"] >= 0.9  # the model learned to read the last word
    assert fifty["confusion_matrix"] == whole["confusion_matrix"] and fifty["mean_words"] == 8.0  # nothing cut
    # every text now reads "opening": one prediction for all, so one class right out of three
    assert one["mean_words"] == 1.0 and one["n"] == 120
    assert sum(1 for col in zip(*one["confusion_matrix"], strict=True) if any(col)) == 1
    assert one["accuracy"] == pytest.approx(1 / 3)
    assert [c["class"] for c in one["per_class"]] == ["cooking", "sports", "weather"]
    assert sum(c["recall"] for c in one["per_class"]) == 1.0
    assert "late (first 1 word) (120 texts, 1.0 words each on average)" in out
    assert all(f"  {c:40} precision" in out for c in ("cooking", "sports", "weather"))


def test_the_compare_pages_scores_show_the_cut_and_the_mean_words(last_word_run):
    from rnnlab.dashboard.state import evaluations

    evaluate_run(last_word_run, "late")
    evaluate_run(last_word_run, "late", short="sentence")
    rows = evaluations([last_word_run.id], RunStore()).set_index("dataset")
    assert rows.loc["late (first sentence)", "words_per_text"] == rows.loc["late", "words_per_text"] == 8.0
    assert rows.loc["late", "reviews"] == 24  # 20 % of 120 held out as test
