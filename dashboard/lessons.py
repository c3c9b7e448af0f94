"""What each teaching page asks the learner to look for, and one line on why, with the way to the equations.

What it is: one table of texts, :data:`LESSONS` (page file, or ``file#topic`` for a section's own lesson, -> what to
look for, why), kept together so
the path through the app reads as one lesson and can be changed in one place, and :func:`show`,
which opens a page with its lesson and a link to Theory. The texts say what to look at and why it
happens; they never claim a number (numbers come from the runs on the pages themselves).

What it is not: the Theory page (the seed's equations), measured results (the README, the pages).
"""

from __future__ import annotations

import streamlit as st

from rnnlab.dashboard import state

LESSONS: dict[str, tuple[str, str]] = {
    "train.py": (
        "Train the three cells with the `lesson` preset (the default; the expected time is shown above the "
        "button). Watch the validation accuracy per epoch, and the gradient norm with its clipping line.",
        "The gated cells (LSTM, GRU) update their state additively through gates, so the training signal "
        "reaches words far back in a review; the vanilla RNN multiplies it by one Jacobian per word and it fades.",
    ),
    "compare.py": (
        "The LSTM's and GRU's test accuracy and F1 against the vanilla RNN's, and what each costs in training "
        "time and parameters. A run marked ≈ chance learned nothing you can trust.",
        "Same data, same budget, same size: the only difference is the cell, so a gap is the gates' doing.",
    ),
    "gradients.py": (
        "How fast ||dL/dh_{T-k}|| falls as k, the distance back from the last word, grows: for the RNN it "
        "drops by orders of magnitude within a few dozen words; for the gated cells far more slowly.",
        "Back-propagation through time multiplies one Jacobian per step; when their norms sit below 1 the "
        "product vanishes geometrically, and the gates keep the LSTM's and GRU's near 1.",
    ),
    "gradients.py#modern-cells": (
        "Pick a minGRU, a minLSTM or an LRU run beside a GRU and an LSTM above, tick *Relative to k = 0*, and "
        "compare how much of the gradient is left k steps back; for an LRU, where its eigenvalues λ sit and how "
        "training moves them.",
        "The modern cells' state is linear in the previous state, with a decay computed from the input alone "
        "(minGRU, minLSTM) or fixed eigenvalues (LRU): the gradient k steps back is a product of those decays, "
        "never squeezed by a tanh, so it fades only as fast as the cell chooses to forget, and the whole sequence "
        "trains by a parallel scan.",
    ),
    "gates.py": (
        "Type a review with a negation (\"not good at all\"): which words the model never read, which units "
        "change at sentiment words, and where the running probability turns.",
        "Each gate is a sigmoid between 0 (closed) and 1 (open): a forget gate near 1 carries the state on, an "
        "input gate near 1 writes the new word in. The seed's stop-word list removes \"not\" before any of this.",
    ),
    "classify.py": (
        "The same review through every model: their verdicts, and the words each did not read. Try the "
        "Negation example, then *Compare with keep negations*.",
        "A model can only use the words its preprocessing keeps: with NLTK's stop-word list, \"not good\" "
        "reaches it as \"good\".",
    ),
    "data.py": (
        "What each preprocessing stage removes, and the tokens a model finally reads: about half of a review's "
        "words are gone, \"not\" among them.",
        "The seed removes stop words to shorten the reviews; the list was made for search engines, where "
        "\"not\" carries no topic, but in sentiment it flips the meaning.",
    ),
    "hmm.py": (
        "The GMM-HMM's accuracy beside the RNNs' on the same test set, and its hidden states along a review "
        "(Viterbi path).",
        "An HMM's next state depends only on the current one, through a small transition matrix, and it reads "
        "word vectors, not the words: its memory of the review is far shorter than a gated RNN's.",
    ),
    "embeddings.py": (
        "Which words sit close to a word you pick, and how the map groups them; check the corpus size first.",
        "word2vec places words used in the same contexts close together: synonyms, but also antonyms "
        "(\"good\" and \"bad\" share contexts), more so in a small corpus.",
    ),
}


def show(page: str) -> None:
    """The page's lesson: what to look for, why, and a link to the equations on the Theory page.

    ``page``: the page file, or ``file#topic`` for a lesson of one section further down that page.
    """
    look, why = LESSONS[page]
    st.info(f"**What to look for.** {look}\n\n**Why.** {why}", icon=":material/school:")
    state.page_link("theory.py", "Theory: the equations behind this", ":material/functions:")
