"""Inside one prediction: every gate and state per token, the running probability and saliency.

:func:`introspect` runs a text through a trained run's model and returns an
:class:`Introspection`: plain numpy arrays a dashboard can chart directly, plus the tokens the
model read and what became of every word of the raw text (kept, removed as a stop word or
as punctuation / emoji, unknown to the vocabulary, or cut by truncation).

Per token and per layer (and direction):

* LSTM: ``input_gate``, ``forget_gate``, ``output_gate``, ``candidate``, ``cell``, ``hidden``;
* GRU: ``reset_gate``, ``update_gate``, ``candidate``, ``hidden``;
* RNN: ``hidden``.

Per token: ``running_probability`` (the output layer applied to ``h_t``,
:meth:`~core.models.rnn.SentimentRNN.running_logits`: the prediction had the review ended there)
and ``saliency`` (``|| dlogit/de_t * e_t ||_2`` for the token's embedding ``e_t``: gradient x input).

How it is computed. One fused forward pass (the kernels that training uses) gives the logit
and every last-layer ``h_t``. For a one-layer model (the seed's) the gates then follow for all
steps at once from :meth:`~core.models.rnn.SentimentRNN.cell_step` fed with the fused ``h_{t-1}``
(the gates depend only on ``x_t`` and ``h_{t-1}``), the LSTM's cell state from its update
``c_t = f_t * c_{t-1} + i_t * g_t``, and the saliency from backpropagation through time written
out in numpy over those recorded gates (:func:`_input_gradient_one_layer`). For a 500-token
review that is ~15-25 ms of CPU (``bench/bench_introspect.py``), several times less than the
step-by-step :meth:`~core.models.rnn.SentimentRNN.forward_transparent` plus autograd, which
stacked models use (the fused module returns only the last layer's states) and ``fast=False``
forces. The tests pin both routes to each other, to autograd and to the fused prediction.

For a run trained on the seed's fixed batches the model reads the review front-padded to
``max_len``, as in training; the arrays cover only the real tokens (``padding`` says how many
``<pad>`` steps came first). Not here: the classification API (:mod:`core.analysis.predict`), gradients
through time during training (``core.analysis.gradients``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.analysis.predict import LoadedRun, _notes, encode_text, load_run

FATES = ("kept", "unknown", "stopword", "non_alnum", "truncated")


@dataclass
class WordRecord:
    """One whitespace-separated word of the text (after lowercasing and HTML removal)."""

    word: str
    start: int  # character offsets in that text
    end: int
    fate: str  # one of FATES: "kept" (read by the model), "unknown" (read, but only as <unk>),
    # "stopword", "non_alnum" (nothing left: punctuation, emoji), "truncated" (cut by max_len)
    positions: tuple[int, ...] = ()  # indices into Introspection.tokens of the tokens it became
    tokens: tuple[str, ...] = ()  # the tokens it produced that survived preprocessing
    removed: tuple[str, ...] = ()  # the tokens it produced that were stop words


@dataclass
class Introspection:
    """Everything about one prediction, as numpy arrays over the ``T`` tokens the model read."""

    run_id: str | None
    cell: str
    num_layers: int
    num_directions: int
    hidden_size: int
    tokens: list[str]  # (T,) tokens the model read; ["<unk>"] when nothing survived preprocessing
    ids: np.ndarray  # (T,) int64 vocabulary ids
    unknown: np.ndarray  # (T,) bool, the token was read as <unk>
    words: list[WordRecord]
    # states[(layer, direction)][name] -> (T, H) float32; names as in the module docstring
    states: dict[tuple[int, int], dict[str, np.ndarray]]
    running_logit: np.ndarray  # (T,)
    running_probability: np.ndarray  # (T,) sigmoid of running_logit
    saliency: np.ndarray  # (T,) || grad * embedding || per token
    logit: float
    probability: float
    label: str
    truncated: bool
    n_raw_tokens: int  # tokens after preprocessing, before truncation
    padding: int  # <pad> steps the model read before the first token (fixed batching)
    notes: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0  # time taken, loading the run excluded

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
            "label": self.label, "truncated": self.truncated, "n_raw_tokens": self.n_raw_tokens,
            "padding": self.padding, "notes": self.notes, "elapsed_ms": self.elapsed_ms,
        }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)  # overflow-free logistic


def words_of(text: str, lr: LoadedRun, unknown: np.ndarray, n_raw: int) -> list[WordRecord]:
    """Every word of ``text`` with its fate, its positions mapped into the model's (cut) token list."""
    from core.analysis.predict import MAX_TEXT_CHARS
    from core.data.text import align_tokens

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


def _gates_one_layer(model: Any, emb: torch.Tensor, out: torch.Tensor) -> dict[tuple[int, int], dict[str, Any]]:
    """Gates of a one-layer model at all ``T`` steps from the fused hidden states.

    ``emb`` (T, E) the inputs, ``out`` (T, D*H) the fused module's outputs. Each step's gates
    are a function of ``x_t`` and ``h_{t-1}`` only, so one batched ``cell_step`` over the T steps
    (time as the batch) gives them all; the LSTM's cell state then follows its update rule.
    """
    h_size, steps = model.hidden_size, emb.shape[0]
    states: dict[tuple[int, int], dict[str, Any]] = {}
    zero = out.new_zeros(1, h_size)
    for d in range(model.num_directions):
        hidden = out[:, d * h_size:(d + 1) * h_size]  # (T, H)
        # the state each step starts from: forward h_{t-1} (zero at t=0), backward h_{t+1} (zero at T-1)
        h_prev = torch.cat([zero, hidden[:-1]]) if d == 0 else torch.cat([hidden[1:], zero])
        if model.cell == "lstm":
            # the gates do not depend on c_{t-1}: feed zeros and rebuild c from them below
            _, gates = model.cell_step(0, d, emb, (h_prev, torch.zeros_like(h_prev)))
            f, i, g = (gates[k].numpy() for k in ("forget_gate", "input_gate", "candidate"))
            ig = i * g
            cell = np.empty_like(ig)
            c = np.zeros(h_size, dtype=ig.dtype)
            for t in range(steps) if d == 0 else range(steps - 1, -1, -1):
                c = f[t] * c + ig[t]  # c_t = f_t * c_{t-1} + i_t * g_t
                cell[t] = c
            gates = {**gates, "cell": torch.from_numpy(cell)}
        else:
            _, gates = model.cell_step(0, d, emb, h_prev)
        states[(0, d)] = {**gates, "hidden": hidden}
    return states


def _input_gradient_one_layer(model: Any, emb: np.ndarray, states: dict[tuple[int, int], dict[str, np.ndarray]]
                              ) -> np.ndarray:
    """``dlogit / dx_t`` (T, E) of a one-layer model, by backpropagation through time in numpy.

    Written out because at batch size 1 torch's CPU GRU kernel takes ~90 ms for the backward
    pass over 500 steps; this takes a few. ``states`` are the recorded gates and states of
    every step (:func:`_gates_one_layer`); the tests pin the result to autograd's.

    With ``dh`` the gradient reaching ``h_t`` and ``a_t = W x_t + U h_{t-1} + b`` the stacked
    gate pre-activations, each step forms ``da_t`` and passes ``dh_{t-1} = (carried part) +
    (da_t restricted to U's side) @ U`` back; everything that does not depend on ``dh`` is
    computed for all steps first, so the loop is a few vector operations per step. The input
    gradient is ``da @ W`` for all steps at once. A backward direction is handled by flipping
    time, so every direction reads its steps in loop order.
    """
    h_size, steps = model.hidden_size, emb.shape[0]
    fc_w = model.fc.weight.detach().numpy()[0].astype(np.float64)  # (D*H,)
    dx = np.zeros(emb.shape, dtype=np.float64)
    for d in range(model.num_directions):
        w_ih, w_hh, _, b_hh = (p.detach().numpy().astype(np.float64) for p in model.weights(0, d))
        flip = slice(None, None, -1) if d else slice(None)  # arrays in the direction's reading order
        st = {k: v[flip].astype(np.float64) for k, v in states[(0, d)].items()}
        hid = st["hidden"]  # (T, H)
        h_prev = np.concatenate([np.zeros((1, h_size)), hid[:-1]])  # (T, H)
        # per step: da_t = tile(dh_t) * into[t] (pre-activation gradient, input side) and
        # dh_{t-1} = dh_t * keep[t] + (tile(dh_t) * back[t]) @ U  (LSTM: dh and dc, see below)
        if model.cell == "rnn":
            into = 1.0 - hid ** 2  # h = tanh(a)
            back, keep = into, None
        elif model.cell == "gru":
            r, z, n = st["reset_gate"], st["update_gate"], st["candidate"]
            hn = h_prev @ w_hh[2 * h_size:].T + b_hh[2 * h_size:]  # U_n h_{t-1} + b_hn, (T, H)
            dn = (1 - z) * (1 - n ** 2)  # h = (1 - z) n + z h_prev; n = tanh(x_n + r * hn)
            into = np.concatenate([dn * hn * r * (1 - r), (h_prev - n) * z * (1 - z), dn], axis=1)  # (r, z, n)
            back = into * np.concatenate([np.ones_like(r), np.ones_like(z), r], axis=1)  # U_n h is scaled by r
            keep = z
        else:  # lstm, PyTorch's block order (i, f, g, o)
            i, f, g, o, c = (st[k] for k in ("input_gate", "forget_gate", "candidate", "output_gate", "cell"))
            c_prev = np.concatenate([np.zeros((1, h_size)), c[:-1]])
            tc = np.tanh(c)
            to_c = o * (1 - tc ** 2)  # h = o tanh(c): dc += dh * to_c
            by_c = np.concatenate([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g ** 2)], axis=1)  # (T, 3H)
            by_h = tc * o * (1 - o)
        blocks = w_ih.shape[0] // h_size
        da = np.empty((steps, w_ih.shape[0]))
        da3 = da.reshape(steps, blocks, h_size)  # a view: each step writes its (G, H) blocks in place
        dh = fc_w[d * h_size:(d + 1) * h_size].copy()  # the classifier reads the direction's last step
        if model.cell == "lstm":
            by_c3 = by_c.reshape(steps, 3, h_size)
            dc = np.zeros(h_size)
            for t in range(steps - 1, -1, -1):
                dc = dc + dh * to_c[t]
                np.multiply(by_c3[t], dc, out=da3[t, :3])
                np.multiply(by_h[t], dh, out=da3[t, 3])
                dh = da[t] @ w_hh
                dc = dc * f[t]  # c = f * c_prev + i * g
        else:
            into3 = into.reshape(steps, blocks, h_size)
            back3 = back.reshape(steps, blocks, h_size)
            for t in range(steps - 1, -1, -1):
                np.multiply(into3[t], dh, out=da3[t])
                nxt = (back3[t] * dh).ravel() @ w_hh
                dh = nxt + dh * keep[t] if keep is not None else nxt
        dx += (da @ w_ih)[flip]
    return dx


def introspect(run: Any, text: str, *, runs_dir: Any = None, fast: bool = True) -> Introspection:
    """Gates, states, running probability and saliency of one text under one run.

    ``run``: a run id, a :class:`core.jobs.store.Run` or a :class:`core.analysis.predict.LoadedRun`.
    ``fast=False`` forces the step-by-step transparent path (for checking).
    """
    lr = _loaded(run, runs_dir)
    t0 = time.perf_counter()  # elapsed_ms: the introspection, not the (cached) loading of the run
    model = lr.model
    if model.embedding is None:
        raise ValueError(f"run {lr.run_id} reads real-valued sequences, not text")
    enc = encode_text(lr, text)
    was_training = model.training
    model.eval()  # no dropout: the arrays must be what the classifier computes
    x = enc.x  # (1, T_in)
    h = model.hidden_size
    fast = fast and model.num_layers == 1
    try:
        with torch.no_grad():
            emb = model.embed(x)  # (1, T_in, E)
        with torch.set_grad_enabled(not fast):
            # autograd only on the slow route: a leaf, so no parameter's .grad is touched
            emb = emb.detach().requires_grad_(not fast)
            out, _ = model.rnn(emb)  # (1, T_in, D*H): the fused module, as model.encode runs it
            # encode()'s features for one unpadded review (fixed batches: read at T-1, after the padding)
            fwd = out[:, -1, :h]
            features = fwd if model.num_directions == 1 else torch.cat([fwd, out[:, 0, h:]], dim=-1)
            logit = model.head(features)  # (1,)
            grad = None if fast else torch.autograd.grad(logit.sum(), emb)[0][0].numpy()  # (T_in, E)
        with torch.no_grad():
            running = model.running_logits(out)[0]  # (T_in,)
            if fast:
                states = {k: {n: v.numpy() for n, v in rec.items()}
                          for k, rec in _gates_one_layer(model, emb[0], out[0]).items()}
                grad = _input_gradient_one_layer(model, emb[0].numpy(), states)
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
    notes = _notes(len(enc.tokens), int(unknown.sum()) if enc.tokens else 0, enc.truncated, enc.n_raw_tokens,
                   lr.cfg.text, enc.clipped_chars)
    if model.num_directions == 2:
        notes.append("bidirectional model: the running probability at t has read the review's future")
    prob = float(_sigmoid(np.array(logit_f)))
    return Introspection(
        run_id=lr.run_id, cell=model.cell, num_layers=model.num_layers, num_directions=model.num_directions,
        hidden_size=model.hidden_size, tokens=tokens, ids=enc.ids.copy(), unknown=unknown,
        words=words_of(text, lr, unknown, enc.n_raw_tokens), states=states_np, running_logit=run_np,
        running_probability=_sigmoid(run_np), saliency=saliency[real].astype(np.float32),
        logit=logit_f, probability=prob, label="positive" if prob >= 0.5 else "negative",
        truncated=enc.truncated or enc.clipped_chars, n_raw_tokens=enc.n_raw_tokens, padding=enc.padding,
        notes=notes, elapsed_ms=(time.perf_counter() - t0) * 1e3)


def _loaded(run: Any, runs_dir: Any) -> LoadedRun:
    from core.jobs.store import Run, RunStore

    if isinstance(run, LoadedRun):
        return run
    if isinstance(run, str):
        run = RunStore(runs_dir).get(run)
    if not isinstance(run, Run):
        raise TypeError(f"expected a run id, Run or LoadedRun, got {type(run).__name__}")
    if run.kind != "rnn":
        raise ValueError(f"run {run.id} is a {run.kind!r} run: introspection needs a recurrent network")
    return load_run(run)
