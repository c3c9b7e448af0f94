"""Which words decided: per-token attributions of one prediction, by integrated gradients and gradient x input.

:func:`attribute` reads a text exactly as :func:`core.analysis.introspect.introspect` does (the same
:func:`~core.analysis.introspect.analysed_text` bound, :func:`~core.analysis.predict.encode_text`'s fixed padding
or bucketed length) and returns an :class:`Attribution`: one signed number per token the model read, and per
word of the text, by two methods side by side.

What is attributed. The logit the prediction comes from: a two-class run's one logit (``log p(second class) /
p(first class)``: a positive attribution pushes towards the second class, IMDB's "positive"), a K-class run's
logit of the class it predicts (positive: towards that class). Not a probability: a logit is what the
last layer adds up, so the attributions add up to it too.

* Integrated gradients (Sundararajan et al., 2017; captum's :class:`~captum.attr.IntegratedGradients`): the
  gradient of the logit with respect to the embeddings, averaged along the straight path from a baseline
  input to the text's, times the distance travelled, summed over each token's embedding dimensions. The
  integral uses Gauss-Legendre quadrature with ``steps`` points (captum's default method).
* Gradient x input: the gradient at the text itself times the embedding (captum's
  :class:`~captum.attr.InputXGradient`), summed over the dimensions -- the first-order term of the same
  difference, one backward pass, and blind to saturation (a gate already shut has no gradient).

The baseline: every token's embedding replaced by ``<unk>``'s learned vector (``baseline="unk"``, the
default): the words against a text of as many unknown words, an input every model met in training (rare
words), so the path from it to the text stays among inputs the model knows; an ``<unk>`` token of the text
gets exactly 0. ``baseline="pad"`` uses ``<pad>``'s zero vector instead, which never trains (``padding_idx``);
the ``<pad>`` steps a fixed-batching run reads before the text stay as they are in both. Under a pooling
read-out (``mean``, ``max``) the pool covers the text's own steps along the whole path, the baseline's
included, whatever their embeddings. Why not zero by
default: a run trained on bucketed batches never read ``<pad>``, and on the path from zeros the logit of
trained IMDB runs often jumps (near 15 % of the way, measured): no number of steps then closes the
completeness gap. Measured on 60 IMDB test reviews (README): the check held for 58 of 60 under a bucketed
GRU and RNN from ``<unk>``, 37-39 from zeros.

Completeness, checked every time: the integrated gradients add up to ``F(text) - F(baseline)`` up to the
quadrature's error; :attr:`Attribution.gap` is that error (captum's convergence delta), and
:attr:`Attribution.complete` says whether it lies within :func:`tolerance`. Where it does not, the steps double
and the integral is taken again, within :data:`PASS_BUDGET` (the logit of a vanilla RNN can jump along the path:
hundreds of points may be needed where a gated cell's smooth path needs 50); a check still failing then is
reported as such, never hidden. Gradient x input carries no such guarantee (its sum is shown, not checked).

Bounds: the text as introspection bounds it (at most ``WORDS_PER_TOKEN * max_len`` words; the model reads at
most ``max_len`` tokens); ``1 <= steps <= MAX_STEPS`` for the first try, and at most ``PASS_BUDGET / tokens``
after doubling; the path's points go through the model in chunks of at most :data:`MAX_BATCH_VALUES`
activations. The cost is ``steps + 2`` forward and backward passes over the text's tokens per try.

Not here: gates and states (:mod:`core.analysis.introspect`), the classification API
(:mod:`core.analysis.predict`), drawing (``dashboard.markup.attribution_html``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from rnnlab.core.analysis.introspect import WordRecord, analysed_text, words_of
from rnnlab.core.analysis.predict import encode_text, loaded_rnn, reading_notes

BASELINES = ("unk", "pad")  # every token's embedding replaced by <unk>'s vector or <pad>'s (zero)
DEFAULT_BASELINE = "unk"
BASELINE_IDS = {"pad": 1, "unk": 0}  # core.data.text.Vocabulary: 0 = <unk>, 1 = <pad>
DEFAULT_STEPS = 50  # Gauss-Legendre points of the first try: enough for most texts under gated cells (see README)
MAX_STEPS = 200  # the most a first try may ask for
# refining: while the check fails, the steps double, as long as steps x tokens stays within this many token passes
# and the steps within MAX_REFINED (200 steps over a 500-token review, 800 over 125 tokens or fewer; all the tries
# together cost at most twice the last). A path through a vanilla RNN's chaotic regime is rough (the logit swings
# along it) and needs hundreds of points where a smooth one needs 50.
PASS_BUDGET = 200 * 500
MAX_REFINED = 800
# the gap allowed: RTOL of |F(text) - F(baseline)| (the paper asks for 5 %), and at least ATOL logits (a near-zero
# difference would otherwise demand float32 rounding-level agreement)
COMPLETENESS_RTOL = 0.01
COMPLETENESS_ATOL = 1e-3
# path points run through the model at once: chunk * T * (E + D*L*(G+2)*H) values at most (~128 MB of float32 for
# the forward pass; autograd keeps about as much again)
MAX_BATCH_VALUES = 2**25


@dataclass
class Attribution:
    """One prediction's per-token attributions (``T`` tokens read), their words, and the completeness check."""

    run_id: str | None
    cell: str
    tokens: list[str]  # (T,) tokens the model read; ["<unk>"] when nothing survived preprocessing
    ids: np.ndarray  # (T,) int64 vocabulary ids
    unknown: np.ndarray  # (T,) bool, the token was read as <unk>
    words: list[WordRecord]  # every word of the analysed text, with its fate and token positions
    integrated_gradients: np.ndarray  # (T,) float64, signed: towards ``toward`` when positive
    gradient_x_input: np.ndarray  # (T,) float64, signed
    logit: float  # F(text): the attributed logit
    baseline_logit: float  # F(baseline)
    gap: float  # sum(integrated_gradients) - (logit - baseline_logit): the quadrature's error
    tolerance: float  # the largest |gap| that counts as complete (see tolerance())
    steps: int  # the Gauss-Legendre points of the result (the first try's, or more after refining)
    baseline: str  # one of BASELINES
    label: str  # the predicted class
    toward: str  # the class a positive attribution pushes towards (two classes: the second; K: the label)
    against: str  # where a negative one pushes: two classes, the first; K classes, "the other classes"
    probability: float  # of ``label``
    padding: int  # <pad> steps the model read before the first token (fixed batching)
    truncated: bool
    notes: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0  # time taken, loading the run excluded
    first_steps: int = 0  # the first try's points: below ``steps`` when the check failed and the steps doubled

    @property
    def difference(self) -> float:
        """``F(text) - F(baseline)``: what the integrated gradients must add up to."""
        return self.logit - self.baseline_logit

    @property
    def complete(self) -> bool:
        """The integrated gradients add up to :attr:`difference` within :attr:`tolerance`."""
        return abs(self.gap) <= self.tolerance

    def completeness(self) -> str:
        """One sentence: the sum, the difference it must equal, the gap against the tolerance, steps and baseline."""
        verdict = "complete" if self.complete else (
            "not complete: the logit changes too abruptly along the path for the steps this text's length allows")
        steps = f"{self.steps} steps" + (f", doubled from {self.first_steps}" if self.first_steps < self.steps
                                         else "")
        return (f"integrated gradients sum to {self.integrated_gradients.sum():.4f}; F(text) - F(baseline) = "
                f"{self.logit:.4f} - ({self.baseline_logit:.4f}) = {self.difference:.4f}; gap {self.gap:.1e} "
                f"(tolerance {self.tolerance:.1e}; {steps}, <{self.baseline}> baseline): {verdict}")

    def word_attributions(self, method: str = "integrated_gradients") -> list[tuple[str, str, float | None]]:
        """``(word, fate, value)`` per word of the text: the sum over the tokens it became (attributions add
        up), None for a word the model did not read as a token (removed, cut)."""
        values = getattr(self, method)
        return [(w.word, w.fate, float(values[list(w.positions)].sum()) if w.positions else None)
                for w in self.words]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: lists instead of arrays, the check's numbers included."""
        return {
            "run_id": self.run_id, "cell": self.cell, "label": self.label, "toward": self.toward,
            "against": self.against,
            "probability": self.probability, "tokens": self.tokens, "ids": self.ids.tolist(),
            "unknown": self.unknown.tolist(),
            "integrated_gradients": self.integrated_gradients.tolist(),
            "gradient_x_input": self.gradient_x_input.tolist(),
            "words": [{"word": w, "fate": f, "integrated_gradients": v, "gradient_x_input": g}
                      for (w, f, v), (_, _, g) in zip(self.word_attributions(),
                                                      self.word_attributions("gradient_x_input"), strict=True)],
            "completeness": {"logit": self.logit, "baseline_logit": self.baseline_logit,
                             "difference": self.difference, "sum": float(self.integrated_gradients.sum()),
                             "gap": self.gap, "tolerance": self.tolerance, "complete": self.complete,
                             "steps": self.steps, "first_steps": self.first_steps, "baseline": self.baseline,
                             "method": "gausslegendre"},
            "gradient_x_input_sum": float(self.gradient_x_input.sum()),
            "padding": self.padding, "truncated": self.truncated, "notes": self.notes,
            "elapsed_ms": self.elapsed_ms,
        }


def tolerance(difference: float) -> float:
    """The largest completeness gap accepted for ``F(text) - F(baseline) = difference``."""
    return max(COMPLETENESS_ATOL, COMPLETENESS_RTOL * abs(difference))


def check_steps(steps: Any) -> int:
    """``steps`` as an int in ``[1, MAX_STEPS]``; ValueError naming the bound otherwise."""
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise ValueError(f"steps must be a whole number from 1 to {MAX_STEPS}, got {steps!r}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must lie in [1, {MAX_STEPS}], got {steps}")
    return int(steps)


def logits_from_embeddings(model: Any, emb: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The model's logits for inputs ``emb`` ``(B, T, E)``: ``(B,)``, or ``(B, K)`` for K classes.

    The fused module read out as :meth:`~core.models.rnn.SentimentRNN.encode` reads one review that fills
    its row (front-padded to ``max_len`` under fixed batching, or bucketed at its own length): by the
    model's read-out (:meth:`~core.models.rnn.SentimentRNN.read_out`), at the last step (backward
    direction: at the first) or pooled over the steps where ``mask`` ``(1 or B, T)`` is True (the text's
    own tokens: embeddings no longer say which steps were ``<pad>``; None: every step).
    """
    out = model.layer_outputs(emb)  # (B, T, D*H): the fused module or the scan
    return model.head(model.read_out(out, None, mask))


def _chunk(model: Any, steps: int, t_in: int) -> int:
    """Path points per pass, so that one pass holds at most MAX_BATCH_VALUES activations."""
    per_point = t_in * (model.embedding.embedding_dim + model.num_directions * model.num_layers
                        * (model.cell_def.blocks + 2) * model.hidden_size)
    return max(1, min(steps, MAX_BATCH_VALUES // max(per_point, 1)))


def max_steps(steps: int, tokens: int) -> int:
    """The most points refining may reach from a first try of ``steps`` on ``tokens`` model steps."""
    return max(steps, min(MAX_REFINED, PASS_BUDGET // max(tokens, 1)))


def attribute(run: Any, text: str, *, steps: int = DEFAULT_STEPS, baseline: str = DEFAULT_BASELINE, refine: bool = True,
              runs_dir: Any = None) -> Attribution:
    """Integrated gradients and gradient x input of ``text``'s prediction under ``run``, per token and word.

    ``steps``: the Gauss-Legendre points of the first try. ``refine``: while the completeness check fails,
    try again with twice the points, up to :func:`max_steps` (the result says how many it took); without
    it, exactly ``steps``.

    ``run``: a run id, a :class:`core.jobs.store.Run` or a :class:`core.analysis.predict.LoadedRun`.
    ValueError for ``steps`` outside ``[1, MAX_STEPS]``, an unknown ``baseline`` or a run that does not read text.
    """
    from captum.attr import InputXGradient, IntegratedGradients  # ~0.4 s to import: only when attributing

    steps = check_steps(steps)
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, got {baseline!r}")
    lr = loaded_rnn(run, runs_dir, "attribution")
    t0 = time.perf_counter()  # elapsed_ms: the attribution, not the (cached) loading of the run
    model = lr.model
    if model.embedding is None:
        raise ValueError(f"run {lr.run_id} reads real-valued sequences, not text")
    text, cut_notes = analysed_text(text, lr.cfg.text)
    enc = encode_text(lr, text)
    real = slice(enc.padding, enc.x.shape[1])  # the text's own tokens
    was_training = model.training
    model.eval()  # no dropout: the attributions must be of what the classifier computes
    try:
        with torch.no_grad():
            emb = model.embed(enc.x)  # (1, T_in, E)
            base = emb.clone()
            base[:, real] = model.embedding.weight[BASELINE_IDS[baseline]]
            mask = model.own_steps(enc.x)  # (1, T_in): the text's own steps, the same for every point of the path
            logits = logits_from_embeddings(model, torch.cat([emb, base]), mask)  # (2,) or (2, K)
        # K classes: the predicted class's logit is attributed; two classes: the one logit (no target)
        cls = int(logits[0].argmax()) if logits.dim() == 2 else None
        forward = partial(logits_from_embeddings, model, mask=mask)
        row = logits if cls is None else logits[:, cls]
        logit, base_logit = float(row[0]), float(row[1])
        tol = tolerance(logit - base_logit)
        first, limit = steps, max_steps(steps, emb.shape[1]) if refine else steps
        while True:
            ig, delta = IntegratedGradients(forward).attribute(
                emb, baselines=base, target=cls, n_steps=steps, method="gausslegendre",
                internal_batch_size=_chunk(model, steps, emb.shape[1]), return_convergence_delta=True)
            gap = float(delta.reshape(-1)[0])
            if abs(gap) <= tol or steps * 2 > limit:
                break
            steps *= 2
        gxi = InputXGradient(forward).attribute(emb.clone().requires_grad_(), target=cls)
    finally:
        model.train(was_training)
    # per token: the sum over the embedding's dimensions, in float64 (500 tokens of small terms)
    ig_t = ig[0, real].detach().double().sum(-1).numpy()
    gxi_t = gxi[0, real].detach().double().sum(-1).numpy()
    unknown = enc.ids == 0
    notes = cut_notes + reading_notes(len(enc.tokens), int(unknown.sum()) if enc.tokens else 0,
                                      enc.truncated and not cut_notes, enc.n_raw_tokens, lr.cfg.text,
                                      enc.clipped_chars)
    if cls is None:
        prob = float(torch.sigmoid(torch.tensor(logit, dtype=torch.float64)))
        label = lr.classes[1] if logit >= 0 else lr.classes[0]
        prob, toward, against = (prob if logit >= 0 else 1.0 - prob), lr.classes[1], lr.classes[0]
    else:
        prob = float(torch.softmax(logits[0].double(), dim=0)[cls])
        label = toward = lr.classes[cls]
        against = "the other classes"
    return Attribution(
        run_id=lr.run_id, cell=model.cell, tokens=enc.tokens if enc.tokens else ["<unk>"], ids=enc.ids.copy(),
        unknown=unknown, words=words_of(text, lr, unknown, enc.n_raw_tokens), integrated_gradients=ig_t,
        gradient_x_input=gxi_t, logit=logit, baseline_logit=base_logit, gap=gap, tolerance=tol, steps=steps,
        baseline=baseline, label=label, toward=toward, against=against, probability=prob, padding=enc.padding,
        truncated=enc.truncated or enc.clipped_chars or bool(cut_notes), notes=notes,
        elapsed_ms=(time.perf_counter() - t0) * 1e3, first_steps=first)

