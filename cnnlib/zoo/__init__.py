"""The zoo: the course's own trained checkpoints, each reproducible by one command.

    python -m cnnlib.zoo list                 every entry, its recipe and its measured accuracy (or its partial run)
    python -m cnnlib.zoo train NAME [NAME ...] train (resumable: re-run the same command after an interruption;
                                              --fresh: from scratch, replacing a checkpoint)
    python -m cnnlib.zoo train --all          train every entry that has no checkpoint yet
    python -m cnnlib.zoo verify               re-check every checksum and re-evaluate every checkpoint
    python -m cnnlib.zoo table [--bench]      write data/zoo/RESULTS.md (``--bench`` re-measures CPU latency)

In a notebook::

    model, log = cnnlib.zoo.load("resnet20")   # eval mode, on the CPU; log = the JSON training log

Modules: :mod:`.entries` (what each entry is), :mod:`.store` (where its files are, reading a
log), :mod:`.build` (training and loading), :mod:`.verification` (re-checking, latency),
:mod:`.report` (the results table).

Files, per entry, under ``data/zoo/``: ``NAME.pt`` (the weights, float16 unless that costs
accuracy, with the entry's name and version, the layout of its weights and its outputs on a
fixed random batch, so that loading notices a changed architecture), ``NAME.pt.sha256``
and ``NAME.json`` (the log: recipe, per-epoch train and test loss and accuracy, wall time,
hardware, library versions, data source, parameters, multiply-adds, the accuracy of the
stored weights on the full test set and on the fixed 2,000-image CI subset, the SHA-256).
A run in progress keeps its state in ``data/zoo/resume/NAME.pt`` after every epoch.

The accuracies under ``stored`` in a log are measured on the *stored* weights (after their
float16 round trip), computed in float32, so ``verify`` can demand agreement to 0.5 point on
any machine; the per-epoch figures are those of the training run itself.
"""

from __future__ import annotations

from .build import (
    CI_SUBSET_SIZE,
    FP16_TOLERANCE,
    architecture_fingerprint,
    ci_subset,
    load,
    load_dataset,
    probe_outputs,
    train,
)
from .entries import CIFAR_RECIPE, ENTRIES, MNIST_RECIPE, UnknownEntryError, ZooEntry, entry
from .report import describe, results_table, training_machines, write_results_table
from .store import AlreadyTrainedError, NotTrainedError, partial_run, read_log, refuse_to_overwrite, trained, zoo_dir
from .verification import TOLERANCE, Verification, measure_latencies, verify

__all__ = [
    "CIFAR_RECIPE",
    "describe",
    "AlreadyTrainedError",
    "CI_SUBSET_SIZE",
    "ENTRIES",
    "FP16_TOLERANCE",
    "MNIST_RECIPE",
    "NotTrainedError",
    "TOLERANCE",
    "UnknownEntryError",
    "Verification",
    "ZooEntry",
    "architecture_fingerprint",
    "ci_subset",
    "entry",
    "load",
    "load_dataset",
    "measure_latencies",
    "partial_run",
    "probe_outputs",
    "read_log",
    "refuse_to_overwrite",
    "results_table",
    "train",
    "trained",
    "training_machines",
    "verify",
    "write_results_table",
    "zoo_dir",
]
