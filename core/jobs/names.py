"""The names every run shares, each written once: the states of the one lifecycle and the files of a run folder.

What it is: constants, like hmmlearn's ``DECODER_ALGORITHMS``. Code that asks "is this run still going?"
tests ``state in ACTIVE``; code that reads a run's vocabulary opens ``run.file(VOCAB_FILE)``. A new
state or file is added here, and a test (``tests/test_layers.py``) finds any name spelled out elsewhere.

What it is not: the readers of these files (:mod:`core.jobs.files`) or the lifecycle that writes the
states (:mod:`core.jobs.lifecycle`). Standard library only: nothing is imported.
"""

from __future__ import annotations

# -- states ------------------------------------------------------------------------------------------------------
QUEUED = "queued"  # created, or waiting for its turn in a lane; a process may own it already
RUNNING = "running"  # its job function is at work
FINISHED = "finished"  # did all its work
FAILED = "failed"  # raised an error (the text in status.json, the traceback in error.log)
CANCELLED = "cancelled"  # stopped on request (a cancel file, Ctrl-C, SIGTERM), keeping what it saved
STATES = (QUEUED, RUNNING, FINISHED, FAILED, CANCELLED)  # what status.json may hold
CRASHED = "crashed"  # read, never stored: queued or running, but its process is gone
DAMAGED = "damaged"  # read, never stored: a file of the run fails its checks
UNKNOWN = "unknown"  # read, never stored: no status.json yet
ACTIVE = (QUEUED, RUNNING)  # someone owns the run: it cannot be deleted, resumed or trained again
ENDED = (FINISHED, FAILED, CANCELLED, CRASHED)  # nothing will change the run any more by itself
USABLE = (FINISHED, CANCELLED)  # may hold results to show (a cancelled training keeps its best weights)

# -- the files of a run folder -------------------------------------------------------------------------------------
CONFIG_FILE = "config.json"  # the resolved config, with kind, label and creation time; written once
STATUS_FILE = "status.json"  # state, owning process, heartbeat, progress, error
CANCEL_FILE = "cancel"  # present when someone asked the job to stop
OWNER_LOCK = ".owner.lock"  # held (flock) by the process that owns the run while it runs the job
METRICS_FILE = "metrics.jsonl"  # one record per step and epoch (or EM iteration)
TEST_METRICS_FILE = "test_metrics.json"  # the figures on the test split
ANNOTATIONS_FILE = "annotations.json"  # a user's name, note and hidden flag
JOB_LOG = "job.log"  # what a launched job printed
ERROR_LOG = "error.log"  # the traceback of a failed job
# an RNN training's
WEIGHTS_FILE = "model.safetensors"  # the best weights
VOCAB_FILE = "vocab.json"  # the training vocabulary (an HMM run's too)
CLASSES_FILE = "classes.json"  # the class names, in label order
CHECKPOINT_DIR = "checkpoint"  # the last and best training states
GRADIENTS_FILE = "gradients.npz"  # per-time-step gradient norms of the probe batch
EMBEDDINGS_FILE = "embeddings.json"  # how many words a word2vec initialisation covered
EVALUATIONS_FILE = "evaluations.json"  # scores on other datasets (``evaluate``)
# the other kinds'
HMM_FILE = "hmm.json"  # the GMM-HMM's settings, PCA and every restart's fit
HMM_ARRAYS_FILE = "hmm.npz"  # its parameters and token vectors
WORD2VEC_FILE = "word2vec.json"  # word2vec's settings, loss per epoch, timings
VECTORS_FILE = "vectors.npy"  # the word vectors, one row per word of words.json
WORDS_FILE = "words.json"
RESULTS_FILE = "results.json"  # a memory-horizon study's table
DATA_FILE = "data.json"  # where a download or install put the archive
REPORT_DIR = "report"  # the seed experiment's report
