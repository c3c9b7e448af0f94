"""Which units track what: a unit's top contexts over the test split, and the units that track a word pattern.

Neuron search as LSTMVis does it for states, over a trained run and the test split of its own dataset
(read through :func:`core.data.corpus.load_corpus` with the run's config: IMDB or any added dataset):

* :func:`unit_contexts`: one unit (layer, direction, index; of the hidden state ``h`` or, by name, of any
  state or gate the cell records -- the LSTM's cell state and gates, the GRU's gates): the texts and tokens
  where it is highest and lowest, each with a window of the tokens around it, and its mean and spread.
* :func:`pattern_units`: the units whose activation at a token correlates most with whether the token
  matches a pattern (:data:`PATTERNS`: negations, "but", exclamation marks; or any word list): the
  point-biserial correlation ``r = (m1 - m0) / s * sqrt(n1 n0) / n`` (the Pearson correlation of the unit's
  activation with the 0/1 match, over every token read), the two means, and the matched tokens where the
  unit goes furthest in ``r``'s direction.

Tokens. Everything is searched on the tokens the model reads -- after the run's preprocessing, cut to its
``max_len``, in its vocabulary -- never on the raw text. A pattern the run's pipeline removes cannot occur
(under the default pipeline "but" and the negations are stop words, punctuation is removed): it is refused
with the reason (:class:`PatternUnavailable`), not answered with an empty list. A context lists one token
per text, the text's peak: a unit that saturates over a long text would otherwise fill the list with that
one text's neighbouring tokens.

How. The texts (a seeded random sample of ``sample`` of them, or the whole split) are streamed in batches of
similar length. Per batch and layer, the fused kernels give ``h`` at every step (one call per direction, the
backward one over each text reversed); the gates of every step then follow at once from the cell's equations
(:mod:`core.models.cells`) fed with the known ``h_{t-1}``, and the LSTM's cell state from its affine update
``c_t = f_t c_{t-1} + i_t g_t`` by a scan over time: introspection's reconstruction
(:mod:`core.analysis.introspect`) over a batch. The step is element-wise, so one unit's gates need only its row
of each gate block: a unit search costs about the fused pass, whatever state it names. The states are the
classifier's own: a run trained on the seed's fixed batches read every text after ``max_len - L`` ``<pad>``
steps, whose state is the same for every text (rebuilt once); a stacked bidirectional one is read front-padded,
as trained. Of the activations only running statistics are kept -- per unit the token count, mean and centred
sum of squares (merged batch by batch), the sum over matched tokens, the ``K`` highest and lowest per-text
peaks -- so the memory does not grow with the sample.

Bounds. :class:`NeuronSearchConfig`'s fields (sample size, contexts, units, window) carry their bounds; a
unit outside the model, a state the cell does not record, a word list of more than :data:`WORDS_MAX`
words or a word longer than :data:`WORD_CHARS_MAX` are refused with what would fit. A batch holds at most
:data:`BATCH_VALUES` activations (one text at least): the memory is that, the model and the split's
token ids. Time is linear in the tokens read. Measured over IMDB's whole test split (25,000 reviews, 3.0 M
tokens; ``bench/bench_neurons.py``, a fast-preset LSTM of hidden size 50, one torch thread, a 2-core machine
under load 8-12): a unit 4.5-6.4 s of CPU (11-25 s of wall time), its process's resident memory +82 MiB (the
split's ids, the data modules it imports); a pattern over all 300 units 21 s of CPU (61 s), +200 MiB; a pattern
over a sample of 2,000 reviews 2.9 s of CPU (5 s).

Cells: every cell of the project. The above is the classic cells' route; a modern cell (minGRU, minLSTM, LRU)
is read by its layers' parallel scans, as trained, which compute its gates and state parts on the way (the LRU's
complex state as ``state_real`` and ``state_imag``), so nothing is rebuilt.

Not here: one text's gates, states and saliency (:mod:`core.analysis.introspect`), the page
(``pages/gates.py``), the command line (``python -m core neurons``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.core.analysis.predict import LoadedRun, loaded_rnn
from rnnlab.core.config import REVIEWS_MAX, first_few, param, validate
from rnnlab.core.data.corpus import load_corpus
from rnnlab.core.data.text import PAD_ID, STOP_WORD, UNK_ID, negations, reading
from rnnlab.core.models.cells import Cell, ScanCell, suffix

# Built-in patterns: name -> what matches (on the tokens the model reads).
PATTERNS = {
    "negations": "no, nor, not and the n't words of the stop-word list (dont, isnt, ...): core.data.text.negations, "
                 "less 'won'",
    "but": "the word but",
    "exclamation": "tokens holding an exclamation mark",
}
# Stems negations() keeps that are mostly other words in a review: "won" is the past tense of win far more often
# than what is left of "won t" (the pipeline writes "won't" as "wont", which stays a negation).
NOT_NEGATIONS = frozenset({"won"})
STATE_ALIASES = {"h": "hidden", "c": "cell"}  # short names a unit may be given with: 0:0:12:c
WORDS_MAX = 200  # words in a word-list pattern
WORD_CHARS_MAX = 100  # characters in one of them
# Activations held per batch (float32), counted per token as the layers' projections, gates and states plus three
# copies of the tallied units: a batch holds as many texts of similar length as fit (at least one), so a long
# max_len means fewer texts per batch, not more memory. Measured (bench/bench_neurons.py, LSTM, hidden 50): the
# batches' own share of the peak is about 100 MiB at 2**23 for a search of all 300 units, a quarter of it at 2**21,
# in the same time; a one-unit search takes ~15 % more time at 2**21 than at 2**23. 2**22 in between.
BATCH_VALUES = 2**22
# An end-padded batch spans a multiple of this many steps. The CPU's fused kernels (oneDNN) keep a primitive, with
# its memory, for every input shape they meet, for the life of the process: a batch shaped by its longest text
# made ~260 shapes over IMDB's test split and held ~1 MiB each (bench/bench_neurons.py); rounded, a few dozen,
# met again by the next search. The padding costs at most 31 steps a batch.
STEP_MULTIPLE = 32
SAMPLE_SEED = 0  # the sample of the test split: the same texts for every run and every search


@dataclass(frozen=True)
class NeuronSearchConfig:
    """How much of the test split a search reads and how much it reports (checked on construction)."""

    sample: int = param(2000, "test texts read, drawn at random with a fixed seed (all of them when the split has "
                              "fewer)", lo=1, hi=REVIEWS_MAX)
    top: int = param(10, "a unit: the contexts listed (highest and lowest); a pattern: the units listed", lo=1, hi=100)
    contexts: int = param(5, "a pattern: the contexts shown per unit", lo=1, hi=50)
    window: int = param(5, "tokens shown on each side of a context's token", lo=0, hi=50)
    whole_split: bool = param(False, "read the dataset's whole test split, not the part the run's `limit` kept")

    def __post_init__(self) -> None:
        validate(self)


class PatternUnavailable(ValueError):
    """The pattern cannot occur in what the run reads (its pipeline removes it, or its vocabulary lacks it)."""


@dataclass(frozen=True)
class Unit:
    """One unit of one layer and direction (0-based, as ``introspect --json`` and the Gates heatmaps number them)."""

    layer: int
    direction: int  # 0 forward, 1 backward
    index: int
    state: str = "hidden"  # any name the cell records (core.models.cells.Cell.recorded)

    def __str__(self) -> str:
        return f"{self.layer}:{self.direction}:{self.index}:{self.state}"

    @classmethod
    def parse(cls, spec: str) -> Unit:
        """``LAYER:DIRECTION:UNIT[:STATE]`` (``0:0:12``, ``0:1:3:cell``; ``h`` and ``c`` for hidden and cell)."""
        parts = str(spec).strip().split(":")
        if len(parts) not in (3, 4) or not all(p.strip().isdigit() for p in parts[:3]):
            raise ValueError(f"a unit is LAYER:DIRECTION:UNIT[:STATE], three whole numbers from 0 and a state name "
                             f"(e.g. 0:0:12 or 0:0:12:cell), not {str(spec)[:40]!r}")
        state = parts[3].strip() if len(parts) == 4 else "hidden"
        return cls(int(parts[0]), int(parts[1]), int(parts[2]), STATE_ALIASES.get(state, state))

    def check(self, model: Any) -> None:
        """``ValueError`` naming the valid range when the unit is not one of ``model``'s."""
        what = [("layer", self.layer, model.num_layers), ("direction", self.direction, model.num_directions),
                ("unit", self.index, model.hidden_size)]
        for name, value, n in what:
            if not 0 <= value < n:
                raise ValueError(f"{name} {value} is not in the model: its {name}s are 0 to {n - 1}")
        if self.state not in model.cell_def.recorded:
            raise ValueError(f"a {model.cell} records no {self.state!r}: its states are "
                             f"{', '.join(model.cell_def.recorded)}")


@dataclass
class Context:
    """One token of one test text, with the tokens around it, as the model read them."""

    activation: float
    token: str
    left: list[str]  # up to `window` tokens before it
    right: list[str]  # up to `window` tokens after it
    position: int  # its index among the tokens the model read of the text
    text: int  # the text's index in the test split (load_corpus's order)
    review_id: int  # the dataset's own id of the text
    label: str  # the text's true class

    def snippet(self) -> str:
        """The window as one line, the token in brackets."""
        return " ".join([*self.left, f"[{self.token}]", *self.right])

    def row(self) -> dict[str, Any]:
        """Flat: the value, the token, its window as one line, where it is."""
        return {"activation": self.activation, "token": self.token, "context": self.snippet(), "text": self.text,
                "review_id": self.review_id, "label": self.label, "position": self.position}


@dataclass
class UnitReport:
    """:func:`unit_contexts`' answer."""

    run_id: str
    unit: Unit
    mean: float  # over every token read
    std: float
    highest: list[Context]  # one per text, highest first
    lowest: list[Context]  # one per text, lowest first
    texts: int  # texts read
    split_texts: int  # texts in the split they were drawn from
    tokens: int  # tokens read
    elapsed_s: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "unit": str(self.unit)}

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per context, the highest first then the lowest: a table's (and a CSV's) rows."""
        return [{"end": end, "rank": k, **c.row()} for end, contexts in (("highest", self.highest),
                                                                         ("lowest", self.lowest))
                for k, c in enumerate(contexts, start=1)]


@dataclass
class UnitCorrelation:
    """One unit's point-biserial correlation with a pattern."""

    unit: Unit
    r: float
    mean_match: float  # its mean activation at the matching tokens
    mean_other: float  # ... and at the others
    contexts: list[Context]  # matching tokens where it goes furthest in r's direction, one per text


@dataclass
class PatternReport:
    """:func:`pattern_units`' answer."""

    run_id: str
    pattern: str
    words: list[str]  # the vocabulary's tokens that match
    matches: int  # matching tokens read
    units: list[UnitCorrelation]  # strongest |r| first
    texts: int
    split_texts: int
    tokens: int
    elapsed_s: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for row, u in zip(d["units"], self.units, strict=True):
            row["unit"] = str(u.unit)
        return d

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per unit, strongest first: a table's (and a CSV's) rows."""
        return [{"unit": str(u.unit), "layer": u.unit.layer, "direction": u.unit.direction, "index": u.unit.index,
                 "state": u.unit.state, "r": u.r, "mean_match": u.mean_match, "mean_other": u.mean_other,
                 "example": u.contexts[0].snippet() if u.contexts else ""} for u in self.units]


# -- what matches a pattern --------------------------------------------------------------------------------------
def pattern_words(lr: LoadedRun, pattern: str | Sequence[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """``(ids, words, notes)``: the vocabulary ids that match ``pattern``, their tokens, and what cannot match.

    ``pattern``: a name of :data:`PATTERNS`, or a list of words (each read through the run's pipeline, so
    "Don't" is the token "dont"). :class:`PatternUnavailable` when nothing of it reaches the model.
    """
    tcfg, stoi = lr.cfg.text, lr.vocab.stoi
    if isinstance(pattern, str):
        if pattern not in PATTERNS:
            raise ValueError(f"unknown pattern {pattern!r}; expected one of {', '.join(PATTERNS)} (or a word list)")
        if pattern == "exclamation":
            if tcfg.remove_non_alnum:
                raise PatternUnavailable("exclamation marks cannot occur in what this run reads: its pipeline "
                                         "removes punctuation (remove_non_alnum)")
            words = sorted(w for w in stoi if "!" in w)
            if not words:
                raise PatternUnavailable("no token of this run's vocabulary holds an exclamation mark")
            return np.array([stoi[w] for w in words], dtype=np.int64), words, []
        # the three plain negations first: a refusal names them before the n't forms
        plain = [w for w in ("no", "nor", "not") if w in negations()]
        name, wanted = pattern, ([*plain, *sorted(negations() - NOT_NEGATIONS - set(plain))]
                                 if pattern == "negations" else ["but"])
    else:
        wanted = [str(w).strip() for w in pattern if str(w).strip()]
        name = "the words"
        if not wanted:
            raise ValueError("the word list is empty")
        if len(wanted) > WORDS_MAX:
            raise ValueError(f"{len(wanted):,} words: a word list holds at most {WORDS_MAX}")
        long = next((w for w in wanted if len(w) > WORD_CHARS_MAX), None)
        if long is not None:
            raise ValueError(f"a word of {len(long):,} characters: at most {WORD_CHARS_MAX} per word")
    ids: dict[str, int] = {}
    lost: dict[str, list[str]] = {}
    for word in wanted:
        for fate in reading(word, tcfg, stoi):
            if fate.read:
                ids[fate.token] = stoi[fate.token]
            else:
                lost.setdefault(fate.reason, []).append(fate.token or fate.word)
    why = "; ".join(f"{reason}: {first_few(dict.fromkeys(ws), str)}" for reason, ws in sorted(lost.items()))
    if not ids:
        hint = ""
        if STOP_WORD in lost:  # what would have kept them
            hint = (" (a run trained with keep_negations reads them)" if pattern == "negations" else
                    " (a run trained with remove_stopwords off reads them; keep_negations keeps the negations only)")
        raise PatternUnavailable(f"{name} cannot occur in what this run reads: {why}{hint}")
    notes = [f"not searched, the model never reads them -- {why}"] if lost else []
    words = sorted(ids)
    return np.array([ids[w] for w in words], dtype=np.int64), words, notes


# -- the test split, sampled and batched ---------------------------------------------------------------------------
@dataclass
class _Split:
    ids: list[np.ndarray]  # per text: the run's vocabulary ids
    labels: np.ndarray
    review_ids: np.ndarray
    classes: list[str]
    notes: list[str]


def _test_split(lr: LoadedRun, whole: bool) -> _Split:
    """The run's test split in its vocabulary's ids (``whole``: the dataset's, the run's ``limit`` dropped)."""
    data = replace(lr.cfg.data, limit=None) if whole else lr.cfg.data
    corpus = load_corpus(data, lr.cfg.text)
    split = corpus.splits["test"]
    notes, ids = [], split.ids
    if corpus.vocab.itos != lr.vocab.itos:  # another training split (whole_split, an imported run): map the ids
        remap = np.array([lr.vocab.stoi.get(w, UNK_ID) for w in corpus.vocab.itos], dtype=np.int64)
        ids = [remap[x] for x in ids]
        lost = len(set(lr.vocab.itos[2:]) - set(corpus.vocab.itos))
        if lost:
            notes.append(f"{lost:,} words of the run's vocabulary are not in this split's encoding and read as <unk>")
    return _Split(ids, split.labels, split.review_ids, corpus.classes, notes)


def _sample(n: int, size: int) -> np.ndarray:
    """``size`` of ``range(n)`` drawn with :data:`SAMPLE_SEED` (all of them when ``size >= n``), sorted."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(SAMPLE_SEED).choice(n, size=size, replace=False))


@dataclass
class _Batch:
    ids: torch.Tensor  # (B, T) rows laid out [lead <pad>s][the text's L tokens][trailing <pad>s]
    lengths: torch.Tensor  # (B,) L
    lead: torch.Tensor  # (B,) <pad> steps before the first token
    rows: torch.Tensor  # (B,) the texts' indices in the split


def _steps(longest: int) -> int:
    """An end-padded batch's steps: its longest text rounded up to a multiple of :data:`STEP_MULTIPLE`."""
    return -(-longest // STEP_MULTIPLE) * STEP_MULTIPLE


def _batches(split: _Split, chosen: np.ndarray, width: int, front_to: int | None) -> Iterator[_Batch]:
    """Batches of texts of similar length, each at most :data:`BATCH_VALUES` activations of ``width`` per token
    (one text at least). ``front_to``: rows front-padded to that length (the seed's fixed batches); else
    end-padded to :func:`_steps`."""
    lengths = np.array([len(split.ids[i]) for i in chosen], dtype=np.int64)
    order = chosen[np.argsort(lengths, kind="stable")]
    sizes = np.sort(lengths, kind="stable")
    start = 0
    while start < len(order):
        stop = start + 1  # lengths ascend: the batch's longest text is its last
        while stop < len(order) and (stop + 1 - start) * (front_to or _steps(sizes[stop])) * width <= BATCH_VALUES:
            stop += 1
        rows = order[start:stop]
        lens = sizes[start:stop]
        steps = front_to or _steps(int(lens[-1]))
        lead = steps - lens if front_to else np.zeros_like(lens)
        ids = np.full((len(rows), steps), PAD_ID, dtype=np.int64)
        for b, i in enumerate(rows):
            ids[b, lead[b]:lead[b] + lens[b]] = split.ids[i]
        yield _Batch(torch.from_numpy(ids), torch.from_numpy(lens), torch.from_numpy(lead), torch.from_numpy(rows))
        start = stop


# -- the states of a batch -----------------------------------------------------------------------------------------
def _fused(mode: str, x: torch.Tensor, init: tuple[torch.Tensor, ...], weights: list[torch.Tensor]) -> torch.Tensor:
    """``h`` ``(B, T, H)`` of one layer and direction from its start state, by the fused kernel (as in training)."""
    h0 = init[0][None].contiguous()  # (1, B, H)
    if mode == "LSTM":
        return torch.lstm(x, (h0, init[1][None].contiguous()), weights, True, 1, 0.0, False, False, True)[0]
    run = {"GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}.get(mode)
    if run is None:
        raise ValueError(f"unsupported recurrent module {mode!r}")
    return run(x, h0, weights, True, 1, 0.0, False, False, True)[0]


def _carried(cell: Cell, wx: torch.Tensor, uh: torch.Tensor, h_prev: torch.Tensor, offsets: Sequence[torch.Tensor],
             init: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The state parts after ``h`` (LSTM: ``c``) at every step, ``(B, T, H)`` each, from their start ``init``.

    They enter a step affinely, with coefficients of ``x_t`` and ``h_{t-1}`` alone (core.models.cells): the step
    at zero parts gave the offsets (``i_t g_t``), the step with part ``m`` at one gives the slopes (``f_t``), and
    a scan over time the parts -- one element-wise product per step and part (no autograd, unlike one text's).
    """
    k, steps = len(offsets), h_prev.shape[1]
    off = torch.stack(offsets, dim=0).transpose(1, 2).contiguous()  # (K', T, B, H): a step's values contiguous
    slopes = []
    for m in range(k):
        parts = [torch.zeros_like(h_prev)] * k
        parts[m] = torch.ones_like(h_prev)
        new, _ = cell.pointwise(wx, uh, cell.join((h_prev, *parts)))
        slopes.append(torch.stack(cell.parts(new)[1:], dim=0).transpose(1, 2) - off)  # d parts / d part m
    slope = torch.stack(slopes, dim=1).contiguous()  # (K', K', T, B, H)
    out = torch.empty_like(off)
    prev = list(init)
    for t in range(steps):  # the cost of this loop is a few vector operations per step
        for a in range(k):
            torch.addcmul(off[a, t], slope[a, 0, t], prev[0], out=out[a, t])
            for m in range(1, k):
                out[a, t].addcmul_(slope[a, m, t], prev[m])
        prev = [out[a, t] for a in range(k)]
    return [out[a].transpose(0, 1) for a in range(k)]


def _recorded(cell: Cell, x: torch.Tensor, h: torch.Tensor, init: tuple[torch.Tensor, ...],
              weights: list[torch.Tensor], names: Sequence[str], unit: int | None = None) -> dict[str, torch.Tensor]:
    """The states ``names`` of one layer and direction in its reading order, ``(B, T, H)`` each, from its input
    ``x``, the fused ``h`` and its start state: the gates from the cell's equations fed with the known
    ``h_{t-1}`` (they do not depend on the other parts), the other parts by :func:`_carried`.

    ``unit``: that unit alone, ``(B, T, 1)`` each. The step is element-wise once ``wx`` and ``uh`` are known
    (:mod:`core.models.cells`), so it needs only the unit's row of each gate block: 1/H of the work."""
    own = slice(None) if unit is None else slice(unit, unit + 1)
    if all(n == "hidden" for n in names):
        return {"hidden": h[..., own]}
    w_ih, w_hh, b_ih, b_hh = weights
    h_prev = torch.cat([init[0][:, None], h[:, :-1]], dim=1)  # (B, T, H): h_{t-1}, the start state first
    if unit is not None:
        rows = torch.arange(cell.blocks) * h.shape[-1] + unit  # the unit's row of each block
        w_ih, w_hh, b_ih, b_hh = w_ih[rows], w_hh[rows], b_ih[rows], b_hh[rows]
    wx, uh = F.linear(x, w_ih, b_ih), F.linear(h_prev, w_hh, b_hh)  # (B, T, G*H) each, or (B, T, G)
    h_prev = h_prev[..., own]  # what the step reads element-wise (the GRU keeps z_t h_{t-1})
    rest = len(cell.state_names) - 1
    new, gates = cell.pointwise(wx, uh, cell.join((h_prev, *[torch.zeros_like(h_prev)] * rest)))
    found = dict(gates)
    if rest and any(n in cell.state_names[1:] for n in names):
        parts = _carried(cell, wx, uh, h_prev, cell.parts(new)[1:], [p[:, own] for p in init[1:]])
        found.update(zip(cell.state_names[1:], parts, strict=True))
    found["hidden"] = h[..., own]
    return {n: found[n] for n in names}


def _scanned(cell: ScanCell, rec: torch.nn.Module, x: torch.Tensor, init: tuple[torch.Tensor, ...],
             names: Sequence[str], unit: int | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A modern cell's layer and direction: ``h`` ``(B, T, H)`` and the states ``names`` (``unit``: that unit alone)
    by the layer's parallel scan from its start state parts ``init``, as training runs it -- its gates and state
    parts are what the scan computes on the way, so nothing is rebuilt."""
    own = slice(None) if unit is None else slice(unit, unit + 1)
    h, gates = rec(x, None, initial=cell.layer_state(init), return_gates=True)
    found = {**gates, "hidden": h}
    return h, {n: found[n][..., own] for n in names}


def _gather_time(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    return x.gather(1, order[..., None].expand(-1, -1, x.shape[-1]))


def _reading_order(b: _Batch) -> torch.Tensor:
    """``(B, T)``: the backward direction's reading order -- each text's tokens from its last, then the rest (an
    involution, so it also maps back). Front-padded rows are flipped whole, as the model reads them."""
    t = torch.arange(b.ids.shape[1])[None]
    n, lead = b.lengths[:, None], b.lead[:, None]
    after = torch.where(lead > 0, lead - 1 - (t - n), t)  # front padding: reversed after the tokens; end: in place
    return torch.where(t < n, lead + n - 1 - t, after)


def _states(model: Any, b: _Batch, starts: list[tuple[torch.Tensor, ...]] | None,
            wanted: dict[tuple[int, int], tuple[str, ...]], unit: int | None = None
            ) -> dict[tuple[int, int], dict[str, torch.Tensor]]:
    """``wanted[(layer, direction)]`` states of a batch, ``(B, T, H)`` each in the rows' own time order (``unit``:
    that unit of them alone, ``(B, T, 1)``).

    ``starts``: per layer, the forward direction's start state per row (after the <pad> steps of fixed
    batches), or None for zero. Layers are run one at a time: the fused module returns only its last layer.
    """
    cell, size = model.cell_def, model.hidden_size
    order = _reading_order(b) if model.num_directions == 2 else None
    zero = torch.zeros(b.ids.shape[0], size)
    x = model.embed(b.ids)  # (B, T, E)
    found = {}
    for layer in range(max(ly for ly, _ in wanted) + 1):
        outs = []
        for d in range(model.num_directions):
            xd = x if d == 0 else _gather_time(x, order)
            init = starts[layer] if d == 0 and starts is not None else (zero,) * len(cell.state_names)
            names = wanted.get((layer, d), ())
            if cell.pytorch_rnn:
                weights = [p.detach() for p in model.weights(layer, d)]
                h = _fused(model.rnn.mode, xd, init, weights)
                rec = _recorded(cell, xd, h, init, weights, names, unit) if names else {}
            else:
                h, rec = _scanned(cell, model.rnn[suffix(layer, d)], xd, init, names, unit)
            if names:
                found[(layer, d)] = rec if d == 0 else {n: _gather_time(v, order) for n, v in rec.items()}
            outs.append(h if d == 0 else _gather_time(h, order))
        x = torch.cat(outs, dim=-1)  # (B, T, D*H): the next layer's input (no dropout: evaluation)
    return found


def _pad_trajectory(model: Any, max_len: int) -> list[tuple[torch.Tensor, ...]]:
    """Per layer, the forward direction's state parts after ``p`` <pad> steps, ``(max_len + 1, H)`` each (row 0:
    zero). Valid when the pad steps read the same for every text: one direction, or one layer."""
    names = model.cell_def.state_names
    pads = _Batch(torch.full((1, max_len), PAD_ID), torch.tensor([max_len]), torch.tensor([0]), torch.tensor([0]))
    found = _states(model, pads, None, {(ly, 0): names for ly in range(model.num_layers)})
    zero = torch.zeros(1, model.hidden_size)
    return [tuple(torch.cat([zero, found[(ly, 0)][n][0]]) for n in names) for ly in range(model.num_layers)]


# -- running statistics ----------------------------------------------------------------------------------------------
class _Peaks:
    """Per unit, the ``keep`` highest (or lowest) per-text peaks among the selected tokens: value, text, position."""

    def __init__(self, keep: int, units: int, highest: bool):
        self.keep, self.highest = keep, highest
        self.values = torch.empty(0, units)
        self.rows = torch.empty(0, units, dtype=torch.int64)
        self.pos = torch.empty(0, units, dtype=torch.int64)

    def add(self, picked: torch.Tensor, row: torch.Tensor, at: torch.Tensor, b: _Batch) -> None:
        """``picked`` ``(M, U)``: the batch's selected tokens, ``row`` and ``at`` ``(M,)`` their row and step."""
        fill = -math.inf if self.highest else math.inf
        steps = b.ids.shape[1]
        index = row[:, None].expand_as(picked)
        v = torch.full((len(b.rows), picked.shape[1]), fill, dtype=picked.dtype).scatter_reduce_(
            0, index, picked, "amax" if self.highest else "amin")  # (B, U): each text's peak
        # where: the first selected step holding it (T for a text without any)
        first = torch.where(picked == v[row], at[:, None], steps)
        p = torch.full(v.shape, steps, dtype=torch.int64).scatter_reduce_(0, index, first, "amin")
        values = torch.cat([self.values, v])
        rows = torch.cat([self.rows, b.rows[:, None].expand_as(p)])
        pos = torch.cat([self.pos, p - b.lead[:, None]])  # the position among the text's tokens
        top = values.topk(min(self.keep, len(values)), dim=0, largest=self.highest)
        self.values, self.rows, self.pos = top.values, rows.gather(0, top.indices), pos.gather(0, top.indices)

    def of(self, unit: int) -> list[tuple[float, int, int]]:
        """``(value, text, position)`` of ``unit``'s peaks, best first; texts without a selected token left out."""
        return [(float(v), int(r), int(p)) for v, r, p in
                zip(self.values[:, unit], self.rows[:, unit], self.pos[:, unit], strict=True) if math.isfinite(v)]


class _Tally:
    """Per unit over a stream of batches: the tokens' count, mean and centred sum of squares (batches merged as
    Chan et al. do, in float64), the sum over the selected tokens, and the peaks -- never the activations."""

    def __init__(self, units: int, keep: int):
        self.n, self.n_sel = 0, 0
        self.mean = torch.zeros(units, dtype=torch.float64)
        self.m2 = torch.zeros(units, dtype=torch.float64)
        self.sum_sel = torch.zeros(units, dtype=torch.float64)
        self.high, self.low = _Peaks(keep, units, True), _Peaks(keep, units, False)

    def add(self, x: torch.Tensor, real: torch.Tensor, sel: torch.Tensor, b: _Batch) -> None:
        """``x`` ``(B, T, U)``; ``real`` ``(B, T)`` the tokens read, ``sel`` those selected (``real`` itself: all)."""
        row, at = sel.nonzero(as_tuple=True)
        picked = x[row, at]  # (M, U): a copy of the selected tokens alone (a pattern's are few)
        self.n_sel += picked.shape[0]
        self.sum_sel += picked.sum(0, dtype=torch.float64)
        self.high.add(picked, row, at, b)
        self.low.add(picked, row, at, b)
        xr = picked if sel is real else x[real]  # (N, U): every token read
        del picked
        n = xr.shape[0]
        mean = xr.mean(0, dtype=torch.float64)
        m2 = xr.sub_(mean.to(xr.dtype)).square_().sum(0, dtype=torch.float64)  # in place: xr is a copy
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * (n / total)
        self.m2 += m2 + delta ** 2 * (self.n * n / total)
        self.n = total

    def std(self) -> np.ndarray:
        return (self.m2 / max(self.n, 1)).sqrt().numpy()

    def correlation(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(r, mean over the selected tokens, mean over the others)`` per unit; r is NaN for a constant unit."""
        n, n1 = self.n, self.n_sel
        m1 = (self.sum_sel / n1).numpy()
        m0 = ((self.mean * n - self.sum_sel) / (n - n1)).numpy()
        sd = self.std()
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(sd > 0, (m1 - m0) * math.sqrt(n1 * (n - n1)) / n / sd, np.nan)
        return r, m1, m0


# -- the search ------------------------------------------------------------------------------------------------------
@dataclass
class _Scan:
    tally: _Tally
    split: _Split
    texts: int
    elapsed_s: float


def _scan(lr: LoadedRun, cfg: NeuronSearchConfig, wanted: dict[tuple[int, int], tuple[str, ...]], keep: int,
          match: np.ndarray | None = None, column: int | None = None) -> _Scan:
    """Stream the sampled test texts through the model and tally the ``wanted`` states' units (in ``wanted``'s
    order, units within a state in index order). ``match``: vocabulary ids whose tokens are selected (peaks and
    matched sums); None selects every token. ``column``: tally that unit alone (of the one state wanted)."""
    t0 = time.perf_counter()
    model = lr.model
    split = _test_split(lr, cfg.whole_split)
    if not split.ids:
        raise ValueError(f"run {lr.run_id}: its dataset's test split holds no text")
    chosen = _sample(len(split.ids), cfg.sample)
    max_len = lr.cfg.text.max_len
    fixed = lr.cfg.train.batching == "fixed"
    # fixed batches: every text is read after max_len - L <pad> steps. Their state is the same for every text
    # unless a stacked layer reads a backward direction that has already read the text: then read front-padded.
    front = fixed and model.num_layers > 1 and model.num_directions > 1
    size, blocks = model.hidden_size, model.cell_def.blocks
    top_layer = max(ly for ly, _ in wanted)
    units = 1 if column is not None else sum(size * len(names) for names in wanted.values())
    # per token: each computed layer's input projections, gates and states, and the tallied units (x3: masked copies)
    width = (top_layer + 1) * model.num_directions * size * (2 * blocks + len(model.cell_def.recorded)) + 3 * units
    matches = None
    if match is not None:
        matches = torch.zeros(len(lr.vocab), dtype=torch.bool)
        matches[torch.from_numpy(match)] = True
    tally = _Tally(units, keep)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            trajectory = _pad_trajectory(model, max_len) if fixed and not front else None
            for b in _batches(split, chosen, width, max_len if front else None):
                starts = None
                if trajectory is not None:
                    pads = max_len - b.lengths  # <pad> steps the model read before each text
                    starts = [tuple(p[pads] for p in parts) for parts in trajectory]
                found = _states(model, b, starts, wanted, column)
                x = torch.cat([v for ld in wanted for v in found[ld].values()], dim=-1)  # (B, T, U)
                del found  # the batch's states now live in x alone
                t = torch.arange(b.ids.shape[1])[None]
                real = (t >= b.lead[:, None]) & (t < (b.lead + b.lengths)[:, None])  # (B, T)
                sel = real if matches is None else real & matches[b.ids]
                tally.add(x, real, sel, b)
    finally:
        model.train(was_training)
    return _Scan(tally, split, len(chosen), time.perf_counter() - t0)


def _context(split: _Split, itos: list[str], value: float, row: int, pos: int, window: int) -> Context:
    ids = split.ids[row]
    words = [itos[int(i)] for i in ids[max(0, pos - window):pos + window + 1]]
    at = min(pos, window)
    return Context(value, words[at], words[:at], words[at + 1:], pos, row, int(split.review_ids[row]),
                   split.classes[int(split.labels[row])])


def _notes(lr: LoadedRun, scan: _Scan, cfg: NeuronSearchConfig) -> list[str]:
    notes = list(scan.split.notes)
    if cfg.whole_split and lr.cfg.data.limit is not None:
        notes.append(f"the whole test split, beyond the {lr.cfg.data.limit:,} texts the run was tested on")
    if scan.texts < len(scan.split.ids):
        notes.append(f"a sample of {scan.texts:,} of the {len(scan.split.ids):,} test texts (seed {SAMPLE_SEED})")
    if lr.model.num_directions == 2:
        notes.append("bidirectional model: a backward unit at a token has read the text after it, not before")
    return notes


def unit_contexts(run: Any, unit: Unit | str, cfg: NeuronSearchConfig | None = None, *,
                  runs_dir: Any = None) -> UnitReport:
    """Where one unit is highest and lowest over the test split: ``cfg.top`` contexts each, one per text.

    ``run``: a run id, :class:`core.jobs.store.Run` or :class:`core.analysis.predict.LoadedRun`; ``unit``: a
    :class:`Unit` or its spelling ``LAYER:DIRECTION:UNIT[:STATE]``.
    """
    cfg = cfg or NeuronSearchConfig()
    lr = loaded_rnn(run, runs_dir, "a neuron search")
    unit = Unit.parse(unit) if isinstance(unit, str) else unit
    unit.check(lr.model)
    scan = _scan(lr, cfg, {(unit.layer, unit.direction): (unit.state,)}, cfg.top, column=unit.index)
    tally, itos = scan.tally, lr.vocab.itos
    # the unit alone was tallied: column 0
    highest, lowest = ([_context(scan.split, itos, v, r, p, cfg.window) for v, r, p in peaks.of(0)]
                       for peaks in (tally.high, tally.low))
    return UnitReport(lr.run_id, unit, float(tally.mean[0]), float(tally.std()[0]), highest, lowest,
                      scan.texts, len(scan.split.ids), tally.n, scan.elapsed_s, _notes(lr, scan, cfg))


def pattern_units(run: Any, pattern: str | Sequence[str], cfg: NeuronSearchConfig | None = None, *,
                  states: Sequence[str] | None = None, runs_dir: Any = None) -> PatternReport:
    """The ``cfg.top`` units whose activation correlates most (in absolute value) with the tokens matching ``pattern``.

    ``pattern``: a name of :data:`PATTERNS` or a list of words. ``states``: the states searched (default every
    one the cell records, in every layer and direction). Each unit comes with ``cfg.contexts`` matching tokens
    where it is highest (r > 0) or lowest (r < 0), one per text.
    """
    cfg = cfg or NeuronSearchConfig()
    lr = loaded_rnn(run, runs_dir, "a neuron search")
    model = lr.model
    recorded = model.cell_def.recorded
    names = tuple(recorded) if states is None else tuple(STATE_ALIASES.get(s, s) for s in states)
    wrong = [s for s in names if s not in recorded]
    if wrong or not names:
        raise ValueError(f"a {model.cell} records {', '.join(recorded)}: not {', '.join(map(repr, wrong)) or 'none'}")
    names = tuple(n for n in recorded if n in names)  # the cell's order, each once
    ids, words, notes = pattern_words(lr, pattern)
    wanted = {(ly, d): names for ly in range(model.num_layers) for d in range(model.num_directions)}
    units = [Unit(ly, d, j, n) for (ly, d), ns in wanted.items() for n in ns for j in range(model.hidden_size)]
    scan = _scan(lr, cfg, wanted, cfg.contexts, ids)
    tally = scan.tally
    label = pattern if isinstance(pattern, str) else ",".join(words)
    if tally.n_sel == 0:
        raise PatternUnavailable(f"no token of the {scan.texts:,} texts read matches {label} "
                                 f"({', '.join(words[:10])}): read more texts (sample)")
    if tally.n_sel == tally.n:
        raise PatternUnavailable(f"every token read matches {label}: there is nothing to tell it from")
    r, m1, m0 = tally.correlation()
    strength = np.where(np.isfinite(r), np.abs(r), -1.0)
    ranked = [int(i) for i in np.argsort(-strength, kind="stable") if np.isfinite(r[i])]
    rows = []
    for i in ranked[:cfg.top]:
        peaks = tally.high if r[i] > 0 else tally.low
        contexts = [_context(scan.split, lr.vocab.itos, v, row, p, cfg.window) for v, row, p in peaks.of(i)]
        rows.append(UnitCorrelation(units[i], float(r[i]), float(m1[i]), float(m0[i]), contexts))
    constant = len(units) - int(np.isfinite(r).sum())
    if constant:
        notes.append(f"{constant:,} units are constant over these tokens: no correlation")
    return PatternReport(lr.run_id, label, words, tally.n_sel, rows, scan.texts, len(scan.split.ids), tally.n,
                         scan.elapsed_s, notes + _notes(lr, scan, cfg))
