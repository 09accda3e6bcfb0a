"""Detection quality of the k-NN score against the number of reference embeddings.

The k-NN score compares each sample with the embeddings of (at most
``MAX_REFERENCE_SAMPLES``) normal training samples, so its cost grows with
that number. This script trains one detector per split of the multi-class
protocol and scores its test set against random subsets of the reference of
several sizes, so that only the reference size differs between the columns.

    python -m benchmarks.reference_size [--sizes 250 500 1000 2000 5000]
"""

import argparse
from unittest import mock

import numpy as np
from sklearn.metrics import roc_auc_score

import ibdetect._estimator as estimator_module
from ibdetect import IBDeepDescription
from ibdetect._estimator import _reference_rank, _subsample
from ibdetect._scoring import kth_neighbor_distances

from .data import digits, mnist
from .protocols import multiclass_splits

# Digits as images (the CNN), MNIST as flat rows (an MLP, which trains in
# seconds rather than minutes).
DATASETS = {"digits": (digits, (1, 8, 8)), "mnist": (mnist, None)}


def reference_size_aucs(X, y, input_shape, sizes, n_splits, seed=0):
    """ROC AUC of each split (rows) for each reference size (columns), and the full reference sizes."""
    aucs, full_sizes = [], []
    for split in multiclass_splits(y, n_splits=n_splits, seed=seed):
        detector = IBDeepDescription(input_shape=input_shape, random_state=seed)
        # Every normal training sample becomes a reference; subsets follow.
        with mock.patch.object(estimator_module, "MAX_REFERENCE_SAMPLES", len(split.train)):
            detector.fit(X[split.train], y[split.train])
        embeddings = detector.transform(X[split.test])
        full = detector.reference_embeddings_
        full_sizes.append(len(full))
        # As in fit, a subset searches the rank that stands for n_neighbors among all.
        aucs.append([
            roc_auc_score(split.test_is_anomaly, kth_neighbor_distances(
                embeddings, _subsample(full, size, seed),
                _reference_rank(detector.n_neighbors, min(size, len(full)), len(full))))
            for size in sizes
        ])
    return np.array(aucs), full_sizes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000, 5000])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=sorted(DATASETS))
    args = parser.parse_args(argv)
    for name in args.datasets:
        load, input_shape = DATASETS[name]
        data = load()
        aucs, full_sizes = reference_size_aucs(data.X, data.y, input_shape, args.sizes, args.splits)
        print(f"{name}: {args.splits} multi-class splits, {min(full_sizes)}-{max(full_sizes)} normal "
              "training samples; a size beyond that keeps them all")
        print("references  " + "".join(f"{size:>8}" for size in args.sizes))
        print("ROC AUC     " + "".join(f"{auc:8.4f}" for auc in aucs.mean(axis=0)))
        print("spread (sd) " + "".join(f"{sd:8.4f}" for sd in aucs.std(axis=0)))


if __name__ == "__main__":
    main()
