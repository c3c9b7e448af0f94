"""Inside one prediction: every gate and state per token, the running probability and saliency.

:func:`introspect` runs a text through a trained run's model and returns an
:class:`Introspection`: plain numpy arrays a dashboard can chart directly, plus the tokens the
model read and what became of every word of the raw text (kept, removed as a stop word or
as punctuation / emoji, unknown to the vocabulary, or cut by truncation).

Per token and per layer (and direction):

* LSTM: ``input_gate``, ``forget_gate``, ``output_gate``, ``candidate``, ``cell``, ``hidden``;
* GRU: ``reset_gate``, ``update_gate``, ``candidate``, ``hidden``;
* RNN: ``hidden``;
* minGRU: ``update_gate``, ``candidate``, ``hidden``; minLSTM: ``forget_gate``, ``input_gate``, ``candidate``,
  ``hidden``; LRU: ``state_real``, ``state_imag`` (its complex state), ``hidden`` (its output).

Per token: ``running_probability`` (the output layer applied to ``h_t`` -- with a pooling read-out, to
the pool of ``h_1 .. h_t`` --, :meth:`~core.models.rnn.SentimentRNN.running_logits`: the prediction
had the review ended there) and ``saliency`` (``|| dlogit/de_t * e_t ||_2`` for the token's embedding
``e_t``: gradient x input).

How it is computed. One fused forward pass (the kernels that training uses; a modern cell's scan) gives
the logit and every last-layer ``h_t``. For a one-layer classic model (the seed's) every step's gates then follow
at once from the cell's equations (:mod:`core.models.cells`) fed with the fused ``h_{t-1}`` (the
gates depend only on ``x_t`` and ``h_{t-1}``), the other state parts (the LSTM's cell state) from
their affine update ``c_t = f_t * c_{t-1} + i_t * g_t``, and the saliency from backpropagation
through time written out in numpy over the steps' element-wise partial derivatives
(:func:`_fast_one_layer`); none of it is written per cell. For a 500-token
review that is ~15-30 ms of CPU (``bench/bench_introspect.py``), several times less than the
step-by-step :meth:`~core.models.rnn.SentimentRNN.forward_transparent` plus autograd, which
stacked models use (the fused module returns only the last layer's states), the modern cells use (the
fast route is written over the classic cells' ``W_hh`` and element-wise partials) and ``fast=False``
forces. The tests pin both routes to each other, to autograd and to the fused prediction.

For a run trained on the seed's fixed batches the model reads the review front-padded to
``max_len``, as in training; the arrays cover only the real tokens (``padding`` says how many
``<pad>`` steps came first).

Bounds. The model reads at most ``max_len`` tokens, so a long text is not analysed whole: only
its last (``truncate="pre"``) or first ``WORDS_PER_TOKEN * max_len`` words are
(:func:`analysed_text`), and a note says so. That bounds the word list, the time and the memory
whatever the text's length: a 1 MB review takes well under a second.

Not here: the classification API (:mod:`core.analysis.predict`), gradients through time during
training (``core.analysis.gradients``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.core.analysis.predict import MAX_TEXT_CHARS, LoadedRun, encode_text, loaded_rnn, reading_notes
from rnnlab.core.config import TextConfig
from rnnlab.core.data.text import align_tokens
from rnnlab.core.models.cells import Cell, StepDerivatives

FATES = ("kept", "unknown", "stopword", "non_alnum", "truncated")
# Words analysed per token the model can read. IMDB reviews lose about half their words to stop words
# and punctuation, so 8 words per token leaves the model its full max_len tokens in all but
# pathological texts (a note says when it does not); 4,000 words for the default max_len of 500.
WORDS_PER_TOKEN = 8


@dataclass
class WordRecord:
    """One whitespace-separated word of the analysed text (after lowercasing and HTML removal)."""

    word: str
    start: int  # character offsets in that text (of the analysed part: see analysed_text)
    end: int
    fate: str  # one of FATES: "kept" (read by the model), "unknown" (read, but only as <unk>),
    # "stopword", "non_alnum" (nothing left: punctuation, emoji), "truncated" (cut by max_len)
    positions: tuple[int, ...] = ()  # indices into Introspection.tokens of the tokens it became
    tokens: tuple[str, ...] = ()  # the tokens it produced that survived preprocessing
    removed: tuple[str, ...] = ()  # the tokens it produced that were stop words


@dataclass
class Introspection:
    """Everything about one prediction, as numpy arrays over the ``T`` tokens the model read.

    A two-class run has one logit (the second class's against the first's); a K-class run's logit,
    probabilities and saliency are its predicted class's (``label``), the running probability that
    class's softmax share at every step.
    """

    run_id: str | None
    cell: str
    num_layers: int
    num_directions: int
    hidden_size: int
    tokens: list[str]  # (T,) tokens the model read; ["<unk>"] when nothing survived preprocessing
    ids: np.ndarray  # (T,) int64 vocabulary ids
    unknown: np.ndarray  # (T,) bool, the token was read as <unk>
    words: list[WordRecord]  # every word of the analysed text (a long one is cut: see analysed_text)
    # states[(layer, direction)][name] -> (T, H) float32; names as in the module docstring
    states: dict[tuple[int, int], dict[str, np.ndarray]]
    running_logit: np.ndarray  # (T,)
    running_probability: np.ndarray  # (T,) sigmoid of running_logit (K classes: the label's softmax share)
    saliency: np.ndarray  # (T,) || grad * embedding || per token
    logit: float
    probability: float
    label: str
    truncated: bool
    n_raw_tokens: int  # tokens after preprocessing (of the analysed words: see analysed_text), before truncation
    padding: int  # <pad> steps the model read before the first token (fixed batching)
    notes: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0  # time taken, loading the run excluded
    probability_of: str = "positive"  # the class ``probability`` is of: the second class, or K classes' label

    @property
    def state_names(self) -> list[str]:
        return list(self.states[(0, 0)])

    def state(self, name: str, layer: int = 0, direction: int = 0) -> np.ndarray:
        """``(T, H)`` values of one gate or state."""
        return self.states[(layer, direction)][name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: lists instead of arrays, ``"layer0"`` / ``"layer0_reverse"`` keys for the states."""
        def key(ld: tuple[int, int]) -> str:
            return f"layer{ld[0]}" + ("_reverse" if ld[1] else "")

        return {
            "run_id": self.run_id, "cell": self.cell, "num_layers": self.num_layers,
            "num_directions": self.num_directions, "hidden_size": self.hidden_size, "tokens": self.tokens,
            "ids": self.ids.tolist(), "unknown": self.unknown.tolist(),
            "words": [vars(w) | {"positions": list(w.positions), "tokens": list(w.tokens),
                                 "removed": list(w.removed)} for w in self.words],
            "states": {key(k): {n: a.tolist() for n, a in v.items()} for k, v in self.states.items()},
            "running_logit": self.running_logit.tolist(), "running_probability": self.running_probability.tolist(),
            "saliency": self.saliency.tolist(), "logit": self.logit, "probability": self.probability,
            "probability_of": self.probability_of,
            "label": self.label, "truncated": self.truncated, "n_raw_tokens": self.n_raw_tokens,
            "padding": self.padding, "notes": self.notes, "elapsed_ms": self.elapsed_ms,
        }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)  # overflow-free logistic


def analysed_text(text: str, cfg: TextConfig) -> tuple[str, list[str]]:
    """The part of ``text`` introspection analyses, and notes saying what was cut ([]: nothing).

    After the ``MAX_TEXT_CHARS`` clip every prediction makes, the last (``cfg.truncate == "pre"``)
    or first ``WORDS_PER_TOKEN * cfg.max_len`` whitespace-separated words, joined by single spaces.
    """
    cap = WORDS_PER_TOKEN * cfg.max_len
    clipped = text[:MAX_TEXT_CHARS]
    if len(clipped) < 2 * cap:  # n words take at least 2n - 1 characters: no need to count them
        return text, []
    words = clipped.split()
    if len(words) <= cap:
        return text, []
    last = cfg.truncate == "pre"
    notes = [f"long text: analysed the {'last' if last else 'first'} {cap:,} of {len(words):,} words "
             f"(the model reads at most {cfg.max_len:,} tokens, from the {'end' if last else 'start'})"]
    if len(text) > MAX_TEXT_CHARS:
        notes.append(f"text longer than {MAX_TEXT_CHARS:,} characters: the rest was ignored")
    return " ".join(words[-cap:] if last else words[:cap]), notes


def words_of(text: str, lr: LoadedRun, unknown: np.ndarray, n_raw: int) -> list[WordRecord]:
    """Every word of ``text`` with its fate, its positions mapped into the model's (cut) token list."""
    tcfg = lr.cfg.text
    # preprocess keeps the last max_len tokens ("pre") or the first ones ("post"): shift accordingly
    offset = max(0, n_raw - tcfg.max_len) if tcfg.truncate == "pre" else 0
    limit = offset + tcfg.max_len
    out = []
    for w in align_tokens(text[:MAX_TEXT_CHARS], tcfg):
        positions = tuple(p - offset for p in w.positions if offset <= p < limit)
        fate = w.fate
        if fate == "kept":
            if not positions:
                fate = "truncated"
            elif all(unknown[p] for p in positions):
                fate = "unknown"
        out.append(WordRecord(w.word, w.start, w.end, fate, positions, w.tokens, w.removed))
    return out


def _fast_one_layer(model: Any, emb: torch.Tensor, out: torch.Tensor, direct: torch.Tensor
                    ) -> tuple[dict[tuple[int, int], dict[str, np.ndarray]], np.ndarray]:
    """Every gate and state of a one-layer model at all ``T`` steps, and ``dlogit / dx_t`` ``(T, E)`` of one logit.

    ``emb`` (T, E) the inputs, ``out`` (T, D*H) the fused module's outputs, ``direct`` (T, D*H) the
    gradient of the logit with respect to each step's output through the read-out alone (the last
    step's, or every pooled one's; :func:`_read_out_grad`). Each step's gates are a
    function of ``x_t`` and ``h_{t-1}``, both known, so one batch of steps (time as the batch, in
    the model's dtype, as the transparent path computes them) gives them all, with the steps'
    element-wise partial derivatives (:meth:`~core.models.cells.Cell.local_derivatives`); the other
    state parts are rebuilt first (:func:`_carried_before`) and the input gradient follows by
    :func:`_backprop`, in float64. A backward direction is handled by flipping time, so every
    direction reads its steps in loop order. The states keep the fused ``hidden`` as it is.
    """
    cell, h_size = model.cell_def, model.hidden_size
    direct = direct.double().numpy()  # (T, D*H)
    states: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    grad = np.zeros(emb.shape, dtype=np.float64)
    for d in range(model.num_directions):
        w_ih, w_hh, b_ih, b_hh = (p.detach() for p in model.weights(0, d))
        hidden = out[:, d * h_size:(d + 1) * h_size]  # (T, H)
        x, h = (emb, hidden) if d == 0 else (emb.flip(0), hidden.flip(0))  # the direction's reading order
        h_prev = torch.cat([h.new_zeros(1, h_size), h[:-1]])  # (T, H): h_{t-1}, zero at the first step
        wx, uh = F.linear(x, w_ih, b_ih), F.linear(h_prev, w_hh, b_hh)  # (T, G*H) each
        step = cell.local_derivatives(wx, uh, cell.join((h_prev, *_carried_before(cell, wx, uh, h_prev))))
        carried = dict(zip(cell.state_names[1:], step.state[1:], strict=True))
        rec = {name: v.numpy() for name, v in {**step.gates, **carried}.items()}
        dh = direct[:, d * h_size:(d + 1) * h_size]  # (T, H)
        da = _backprop(step, w_hh.double().numpy(), dh if d == 0 else dh[::-1])  # (T, G*H)
        dx = da @ w_ih.double().numpy()  # (T, E)
        if d:
            rec, dx = {name: v[::-1] for name, v in rec.items()}, dx[::-1]
        states[(0, d)] = {**rec, "hidden": hidden.numpy()}  # in cell.recorded's order
        grad += dx
    return states, grad


def _carried_before(cell: Cell, wx: torch.Tensor, uh: torch.Tensor, h_prev: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The state parts after ``h`` (LSTM: ``c``) each step starts from, ``(T, H)`` each; none for RNN, GRU.

    The fused module returns only ``h``. These parts enter a step affinely, with coefficients that
    depend on ``x_t`` and ``h_{t-1}`` alone (``core.models.cells``; LSTM ``c_t = f_t c_{t-1} + i_t g_t``),
    so one batched evaluation with the parts at zero gives every offset (``i_t g_t``) and slope
    (``f_t``), and a scan in numpy the parts themselves.
    """
    k = len(cell.state_names)
    if k == 1:
        return ()
    at_zero = cell.local_derivatives(wx, uh, cell.join((h_prev, *[torch.zeros_like(h_prev)] * (k - 1))))
    offset = torch.stack(at_zero.state[1:], dim=1).numpy()  # (T, K-1, H)
    slope = at_zero.prev[:, 1:, 1:].numpy()  # (T, K-1, K-1, H): d part_t / d part_{t-1}, unit by unit
    before = np.zeros_like(offset)  # zero before the first step
    first_slope, first_part = slope[:, :, 0], before[:, 0]  # views
    for t in range(len(offset) - 1):
        np.add(offset[t], first_slope[t] * first_part[t], out=before[t + 1])  # sum over the parts m'
        for m in range(1, k - 1):
            before[t + 1] += slope[t, :, m] * before[t, m]
    return tuple(torch.from_numpy(before[:, m]) for m in range(k - 1))


def _read_out_grad(model: Any, out: torch.Tensor, mask: torch.Tensor | None, cls: int | None) -> torch.Tensor:
    """``(T, D*H)``: the gradient of the followed logit with respect to each step's output ``out`` ``(1, T, D*H)``
    through the read-out and the output layer alone (not through later steps): the output layer's weights at
    the last step (``last``), spread over the pooled steps otherwise."""
    with torch.enable_grad():
        leaf = out.detach().requires_grad_(True)
        logits = model.head(model.read_out(leaf, None, mask))  # (1,) or (1, K)
        logit = logits[:, cls] if cls is not None else logits
        return torch.autograd.grad(logit.sum(), leaf)[0][0]


def _backprop(step: StepDerivatives, w_hh: np.ndarray, dh_direct: np.ndarray) -> np.ndarray:
    """``dlogit / dwx_t`` ``(T, G*H)`` of one direction, by backpropagation through time in numpy.

    Written out because at batch size 1 torch's CPU GRU kernel takes ~90 ms for the backward
    pass over 500 steps; this takes a few. ``step``: the partials of all ``T`` steps in reading
    order; ``dh_direct`` ``(T, H)``, in the same order: the gradient reaching each step's ``h`` from the
    read-out directly (the classifier's weights at the last step for the ``last`` read-out; every
    pooled step for the others). With ``g_t`` ``(K, H)`` the gradient reaching the state ``s_t`` after
    step ``t`` (``h`` first; the direct part added),

    * ``dwx_t = sum_k g_t[k] * ∂s_t[k]/∂wx_t`` (the input projection's gradient),
    * ``duh_t = sum_k g_t[k] * ∂s_t[k]/∂uh_t``,
    * ``g_{t-1}[k'] = sum_k g_t[k] * ∂s_t[k]/∂s_{t-1}[k'] + [k' = h] duh_t @ U``,

    a few vector operations per step; the tests pin the result to autograd's.
    """
    steps, k, g, h = step.wx.shape
    partials = torch.cat([step.wx, step.uh, step.prev], dim=2).double().numpy()  # (T, K, 2G + K, H)
    w_back = np.concatenate([w_hh, np.eye(h)])  # ((G+1) H, H): duh_t @ U and h's direct path in one product
    through = np.empty((steps, 2 * g + k, h))  # per step: [dwx_t, duh_t, g_{t-1} but U's share]
    back = through[:, g:2 * g + 1].reshape(steps, -1)  # views into `through` (contiguous rows), one per step
    carried = through[:, 2 * g + 1:]
    grad = np.zeros((k, h))  # g_t
    buf = np.empty((2 * g + k, h))
    for t in range(steps - 1, -1, -1):  # a few vector operations per step: this loop is the cost
        grad[0] += dh_direct[t]
        np.multiply(partials[t, 0], grad[0], out=through[t])  # sum over the parts k of g_t[k] * partials
        for m in range(1, k):
            through[t] += np.multiply(partials[t, m], grad[m], out=buf)
        np.matmul(back[t], w_back, out=grad[0])
        if k > 1:
            grad[1:] = carried[t]
    return through[:, :g].reshape(steps, g * h)


def introspect(run: Any, text: str, *, runs_dir: Any = None, fast: bool = True) -> Introspection:
    """Gates, states, running probability and saliency of one text under one run.

    ``run``: a run id, a :class:`core.jobs.store.Run` or a :class:`core.analysis.predict.LoadedRun`.
    ``fast=False`` forces the step-by-step transparent path (for checking).
    """
    lr = loaded_rnn(run, runs_dir, "introspection")
    t0 = time.perf_counter()  # elapsed_ms: the introspection, not the (cached) loading of the run
    model = lr.model
    if model.embedding is None:
        raise ValueError(f"run {lr.run_id} reads real-valued sequences, not text")
    text, cut_notes = analysed_text(text, lr.cfg.text)
    enc = encode_text(lr, text)
    was_training = model.training
    model.eval()  # no dropout: the arrays must be what the classifier computes
    x = enc.x  # (1, T_in)
    # the fast route reads the classic cells' W_ih, W_hh and element-wise partials (Cell.local_derivatives)
    fast = fast and model.num_layers == 1 and model.cell_def.pytorch_rnn
    try:
        with torch.no_grad():
            emb = model.embed(x)  # (1, T_in, E)
        with torch.set_grad_enabled(not fast):
            # autograd only on the slow route: a leaf, so no parameter's .grad is touched
            emb = emb.detach().requires_grad_(not fast)
            out = model.layer_outputs(emb)  # (1, T_in, D*H): the fused module or the scan, as model.encode runs it
            # encode()'s features for one review that fills its row (fixed batches: read at T-1, after the
            # padding; a pooling read-out leaves the <pad> steps out)
            mask = model.own_steps(x)  # (1, T_in)
            logits = model.head(model.read_out(out, None, mask))  # (1,), or (1, K) for K classes
            # K classes: the predicted class's logit is the one followed (its probability, its saliency)
            cls = int(logits.detach()[0].argmax()) if logits.dim() == 2 else None
            logit = logits[:, cls] if cls is not None else logits  # (1,)
            grad = None if fast else torch.autograd.grad(logit.sum(), emb)[0][0].numpy()  # (T_in, E)
        with torch.no_grad():
            running = model.running_logits(out, mask)[0]  # (T_in,) or (T_in, K)
            if cls is not None:
                running_prob = torch.softmax(running.double(), dim=-1)[:, cls].float()
                running = running[:, cls]
            if fast:
                states, grad = _fast_one_layer(model, emb[0], out[0], _read_out_grad(model, out, mask, cls))
            else:
                res = model.forward_transparent(x, return_states=True)
                states = {k: {n: v[0].numpy() for n, v in rec.items()} for k, rec in res.states.items()}
            saliency = np.linalg.norm(grad * emb[0].detach().numpy(), axis=-1)  # (T_in,)
    finally:
        model.train(was_training)
    real = slice(enc.padding, x.shape[1])  # the review's own tokens
    states_np = {k: {n: np.ascontiguousarray(v[real], dtype=np.float32) for n, v in rec.items()}
                 for k, rec in states.items()}
    logit_f = float(logit.detach()[0])
    run_np = running[real].numpy().astype(np.float32)
    unknown = enc.ids == 0
    tokens = enc.tokens if enc.tokens else ["<unk>"]
    notes = cut_notes + reading_notes(len(enc.tokens), int(unknown.sum()) if enc.tokens else 0,
                                      enc.truncated and not cut_notes, enc.n_raw_tokens, lr.cfg.text,
                                      enc.clipped_chars)
    if cut_notes:
        tcfg = lr.cfg.text
        notes.append(f"{enc.n_raw_tokens:,} tokens in the analysed words, {len(enc.tokens):,} read by the model"
                     + ("" if enc.truncated else f": fewer than max_len ({tcfg.max_len:,}), so a prediction "
                        "over the whole text (Classify, `python -m core predict`) may differ"))
    if model.num_directions == 2:
        notes.append("bidirectional model: the running probability at t has read the text's future")
    if cls is None:
        prob, label = float(_sigmoid(np.array(logit_f))), lr.classes[1] if logit_f >= 0 else lr.classes[0]
        running_p = _sigmoid(run_np)
    else:
        prob = float(torch.softmax(logits.detach()[0].double(), dim=0)[cls])
        label, running_p = lr.classes[cls], running_prob[real].numpy().astype(np.float32)
    return Introspection(
        run_id=lr.run_id, cell=model.cell, num_layers=model.num_layers, num_directions=model.num_directions,
        hidden_size=model.hidden_size, tokens=tokens, ids=enc.ids.copy(), unknown=unknown,
        words=words_of(text, lr, unknown, enc.n_raw_tokens), states=states_np, running_logit=run_np,
        running_probability=running_p, saliency=saliency[real].astype(np.float32),
        logit=logit_f, probability=prob, label=label,
        truncated=enc.truncated or enc.clipped_chars or bool(cut_notes), n_raw_tokens=enc.n_raw_tokens,
        padding=enc.padding, notes=notes, elapsed_ms=(time.perf_counter() - t0) * 1e3,
        probability_of=lr.classes[1] if cls is None else label)

