"""The ``hmm`` kind of job: the GMM-HMM baseline fitted on a dataset, one model per class, and tested.

:func:`hmm_job` fits :class:`core.models.hmm.HMMClassifier` (K class models for K classes) on the
training texts of the dataset its config names, through the encoded corpus the RNN runs use (the
same preprocessing, vocabulary and ``max_len``), with the vectors of a word2vec run trained on that
dataset (or imported), and tests it on the dataset's test split. :func:`core.jobs.vectors.resolve_vectors` picks
those vectors before the run is created, so its config says which vectors the fit read.

What it writes: ``hmm.npz`` (parameters and token vectors, loaded with ``allow_pickle=False``),
``hmm.json`` (settings, PCA, every restart's fit), ``vocab.json``, ``classes.json``, one metrics
record per Baum-Welch iteration and ``test_metrics.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

from rnnlab.core.config import HMMRunConfig
from rnnlab.core.data.corpus import load_corpus
from rnnlab.core.data.datasets import dataset_name
from rnnlab.core.jobs.lifecycle import JobContext
from rnnlab.core.jobs.names import CLASSES_FILE, HMM_ARRAYS_FILE, HMM_FILE, TEST_METRICS_FILE, VOCAB_FILE
from rnnlab.core.jobs.word2vec import load_vectors
from rnnlab.core.models.hmm import HMMClassifier, balanced_sample, best_threshold, save_arrays, sequences, token_vectors
from rnnlab.core.training.trainer import classification_metrics, multiclass_metrics


def hmm_job(ctx: JobContext, cfg: HMMRunConfig) -> None:
    """Fit one class model per class on the dataset's training texts and test on its test split."""
    run, hcfg = ctx.run, cfg.hmm
    if not hcfg.embeddings:
        raise ValueError("the GMM-HMM needs a word2vec run (hmm.embeddings): train one first")
    t0 = time.time()
    ctx.progress(phase="preparing data")
    corpus = load_corpus(cfg.data, cfg.text, progress=ctx.say)
    vocab, classes = corpus.vocab, corpus.classes
    wv = load_vectors(hcfg.embeddings, ctx.store.root)
    table, has, pinfo = token_vectors(vocab, wv, hcfg.dim)
    tr, te = corpus.splits["train"], corpus.splits["test"]
    tr_idx = balanced_sample(tr.labels.astype(int), hcfg.limit, hcfg.seed)
    te_idx = balanced_sample(te.labels.astype(int), hcfg.test_limit, hcfg.seed + 1)
    train_seqs = sequences([tr.ids[i] for i in tr_idx], table, has)
    test_seqs = sequences([te.ids[i] for i in te_idx], table, has)
    y_train, y_test = tr.labels[tr_idx].astype(int), te.labels[te_idx].astype(int)
    noun = "reviews" if dataset_name(cfg.data.dataset) == "imdb" else "texts"
    ctx.say(f"{len(classes)} classes; {len(train_seqs)} training {noun} ({sum(map(len, train_seqs))} tokens with "
            f"vectors), {len(test_seqs)} test {noun}; PCA to {hcfg.dim} dims keeps {pinfo['explained_variance']:.1%}")
    ctx.check_cancel()
    ctx.progress(phase="fitting")
    clf = HMMClassifier(hcfg)

    def beat(c: int, r: int, it: int, ll: float) -> None:  # every Baum-Welch iteration: progress and cancel
        ctx.progress(phase="fitting", **{"class": c}, restart=r, restarts=hcfg.restarts, iteration=it,
                     iterations=hcfg.n_iter, log_likelihood=ll)
        ctx.check_cancel()

    def scoring(what: str) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            ctx.progress(phase=what, done=done, total=total)
            ctx.check_cancel()
        return report

    t_fit, cpu_fit = time.perf_counter(), time.process_time()
    clf.fit(train_seqs, y_train, n_classes=len(classes), say=ctx.say, on_iteration=beat)
    fit_time, fit_cpu = time.perf_counter() - t_fit, time.process_time() - cpu_fit
    t_inf = time.perf_counter()
    decision = clf.decision(test_seqs, scoring("testing"))
    inf_time = time.perf_counter() - t_inf
    if len(classes) == 2:
        metrics = {**classification_metrics(decision, y_test), "classes": list(classes)}
        # The rule above compares raw per-token likelihoods, so a class model that fits all text
        # better wins too often. How much a bias costs shows by moving the threshold to the one
        # that is best on the validation texts (never the test ones): reported, not used.
        va = corpus.splits["val"]
        if len(va):
            val_dec = clf.decision(sequences(va.ids, table, has), scoring("validation threshold"))
            thr = best_threshold(val_dec, va.labels.astype(int))
            shifted = classification_metrics(decision - thr, y_test)
            metrics.update({"val_threshold": thr, "accuracy_at_val_threshold": shifted["accuracy"],
                            "f1_at_val_threshold": shifted["f1"]})
    else:  # the run store reads "confusion_matrix" as the binary [[tn, fp], [fn, tp]]
        metrics = multiclass_metrics(decision, y_test, classes)
        metrics["class_confusion_matrix"] = metrics.pop("confusion_matrix")
    empty = int(sum(1 for s in test_seqs if not len(s)))
    metrics.update({
        "fit_time_s": fit_time, "train_time_s": fit_time, "fit_cpu_time_s": fit_cpu,
        "wall_time_s": time.time() - t0,
        "inference_samples_per_s": len(test_seqs) / max(inf_time, 1e-9),
        "train_size": int(len(train_seqs)), "train_size_available": int(len(tr)),
        "subsampled": bool(len(train_seqs) < len(tr)), "test_size": int(len(test_seqs)),
        "test_size_available": int(len(te)), "train_tokens": int(sum(map(len, train_seqs))),
        "test_reviews_without_vectors": empty, "pca_explained_variance": pinfo["explained_variance"],
        "states": hcfg.states, "mix": hcfg.mix, "dim": hcfg.dim, "covariance_type": hcfg.covariance_type,
        "word2vec_run": hcfg.embeddings,
    })
    vocab.save(run.file(VOCAB_FILE))
    run.write_json(CLASSES_FILE, list(classes))
    save_arrays(run.file(HMM_ARRAYS_FILE), {**clf.to_arrays(), "token_vectors": table, "has_vector": has})
    run.write_json(HMM_FILE, {
        "config": asdict(hcfg), "pca": pinfo, "classes": list(classes),
        "fits": {str(c): {"best_restart": f.best_restart, "fit_time_s": f.fit_time_s, "restarts": f.restarts}
                 for c, f in clf.fits.items()}})
    # one metrics record per Baum-Welch iteration of the kept restarts (the dashboard's training curve)
    recs = []
    for c, f in clf.fits.items():
        best = next(r for r in f.restarts if r["restart"] == f.best_restart)
        tokens = max(1, int(sum(len(s) for s, y in zip(train_seqs, y_train, strict=True) if y == c)))
        recs += [{"kind": "em", "class": c, "iteration": i, "log_likelihood": ll,
                  "log_likelihood_per_token": ll / tokens} for i, ll in enumerate(best["log_likelihood"])]
    run.cut_metrics(-1)
    run.append_metrics(recs)
    run.write_json(TEST_METRICS_FILE, metrics)

