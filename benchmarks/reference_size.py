"""Detection quality of the k-NN scores against the number of reference samples.

The k-NN scores compare each sample with (at most ``MAX_REFERENCE_SAMPLES``)
normal training samples, so their cost grows with that number. This script
trains one detector per split, with every normal training sample kept as a
reference, and scores its test set against random subsets of the reference of
several sizes, so that only the reference size differs between the columns.
Each subset searches the neighbour rank that ``fit`` would choose for it.

* digits (images, the CNN, ``"knn"``) and MNIST (flat rows, an MLP, which
  trains in seconds rather than minutes): the multi-class splits;
* LetterRecognition (a table, standardised, ``"knn+input"``), the largest of
  the tabular benchmark: its labelled-classes and 5%-contamination splits.
  It needs the mlbench data folder (see ``benchmarks/README.md``).

    python -m benchmarks.reference_size [--sizes 250 500 1000 2000 5000]
        [--datasets digits mnist letter] [--mlbench PATH/TO/mlbench/data]
"""

import argparse
import copy
from unittest import mock

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

import ibdetect._estimator as estimator_module
from ibdetect import IBDeepDescription
from ibdetect._estimator import _reference_rank, _subsample

from . import data
from .protocols import multiclass_splits, table_splits

IMAGES = {"digits": (1, 8, 8), "mnist": None}
TABLES = ("letter",)


def splits_of(name, dataset):
    """``(setting, split)`` pairs: the multi-class splits, and for a table its contaminated ones too."""
    if name in TABLES:
        return [
            (protocol, split)
            for protocol in ("multiclass", "contaminated")
            for split in table_splits(protocol, dataset.y, dataset.normal_classes)
        ]
    return [("multiclass", split) for split in multiclass_splits(dataset.y)]


def with_reference(detector, rows, n_normal):
    """A copy of ``detector`` whose reference keeps only ``rows`` of its reference.

    It searches the rank ``fit`` chooses for that many of ``n_normal``
    normal training samples, and rescales the input-space score as ``fit``.
    """
    subset = copy.copy(detector)
    subset.reference_embeddings_ = detector.reference_embeddings_[rows]
    subset.n_neighbors_ = _reference_rank(detector.n_neighbors, len(rows), n_normal)
    if detector.anomaly_score_ == "knn+input":
        subset._fit_input_reference(detector.reference_inputs_[rows])
    return subset


def reference_size_aucs(name, dataset, sizes, seed=0):
    """ROC AUC per setting: an array of splits (rows) by sizes (columns), and the full reference sizes."""
    input_shape = IMAGES.get(name)
    results = {}
    for setting, split in splits_of(name, dataset):
        X_train, X_test = dataset.X[split.train], dataset.X[split.test]
        if name in TABLES:
            scaler = StandardScaler().fit(X_train)
            X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        y_train = dataset.y[split.train] if split.labelled else None
        detector = IBDeepDescription(input_shape=input_shape, random_state=seed)
        # Every normal training sample becomes a reference; subsets follow.
        with mock.patch.object(estimator_module, "MAX_REFERENCE_SAMPLES", len(X_train)):
            detector.fit(X_train, y_train)
        n_normal = len(detector.reference_embeddings_)
        everything = np.arange(n_normal)
        aucs = [
            roc_auc_score(split.test_is_anomaly, -with_reference(
                detector, _subsample(everything, size, seed), n_normal).score_samples(X_test))
            for size in sizes
        ]
        rows, full_sizes = results.setdefault(setting, ([], []))
        rows.append(aucs)
        full_sizes.append(n_normal)
    return {setting: (np.array(rows), full_sizes) for setting, (rows, full_sizes) in results.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000, 5000])
    parser.add_argument("--datasets", nargs="+", choices=[*IMAGES, *TABLES], default=list(IMAGES))
    parser.add_argument("--mlbench", metavar="PATH", help="mlbench's data folder, for letter")
    args = parser.parse_args(argv)
    for name in args.datasets:
        if name in TABLES and not args.mlbench:
            parser.error(f"--datasets {name} needs --mlbench PATH")
        dataset = data.mlbench(name, args.mlbench) if name in TABLES else getattr(data, name)()
        for setting, (aucs, full_sizes) in reference_size_aucs(name, dataset, args.sizes).items():
            print(f"{name}, {setting}: {len(aucs)} splits, {min(full_sizes)}-{max(full_sizes)} normal "
                  "training samples; a size beyond that keeps them all")
            print("references  " + "".join(f"{size:>8}" for size in args.sizes))
            print("ROC AUC     " + "".join(f"{auc:8.4f}" for auc in aucs.mean(axis=0)))
            print("spread (sd) " + "".join(f"{sd:8.4f}" for sd in aucs.std(axis=0)))


if __name__ == "__main__":
    main()
