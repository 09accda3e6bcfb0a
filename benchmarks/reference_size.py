"""Detection quality and scoring time of the k-NN scores against the number of reference samples.

The k-NN scores compare each sample with ``max_references`` normal training
samples, drawn at random, so their cost grows with that number. This script
fits one detector per split and reference size, with the same
``random_state``: the reference is drawn after training, so every size of a
split trains the same network and only the reference differs between the
columns (the script checks that the centres agree). A size that keeps every
normal training sample reuses the fit that keeps them all.

* digits (images, the CNN, the default score: ``"knn+density"``) and MNIST
  (flat rows, an MLP, which trains in seconds rather than minutes): the
  multi-class splits;
* LetterRecognition (a table, standardised, ``"knn+input"``), the largest of
  the tabular benchmark: its labelled-classes and 5%-contamination splits.
  It needs the mlbench data folder (see ``benchmarks/README.md``).

It prints the ROC AUC per size, its spread over the splits, and the time
``score_samples`` takes per 1,000 test samples (the median of 3 calls).

    python -m benchmarks.reference_size [--sizes 250 500 1000 all]
        [--datasets digits mnist letter] [--mlbench PATH/TO/mlbench/data]
"""

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription

from . import data
from .protocols import multiclass_splits, table_splits

IMAGES = {"digits": (1, 8, 8), "mnist": None}
TABLES = ("letter",)
# The size that keeps every normal training sample: max_references=1.0.
ALL = "all"


def reference_size(text):
    """A ``--sizes`` value: a number of references, or ``"all"``."""
    return ALL if text == ALL else int(text)


def max_references(size):
    """The ``max_references`` of a size: the number itself, or 1.0 for ``"all"``."""
    return 1.0 if size == ALL else size


def splits_of(name, dataset):
    """``(setting, split)`` pairs: the multi-class splits, and for a table its contaminated ones too."""
    if name in TABLES:
        return [
            (protocol, split)
            for protocol in ("multiclass", "contaminated")
            for split in table_splits(protocol, dataset.y, dataset.normal_classes)
        ]
    return [("multiclass", split) for split in multiclass_splits(dataset.y)]


def detectors_by_size(params, X, y, sizes):
    """One detector fitted per size, and the number of normal training samples.

    Each is ``IBDeepDescription(max_references=size, **params)`` fitted on
    ``X, y``; ``params`` must fix ``random_state``, so that every size trains
    the same network and draws its reference from the same samples. The fit
    with every normal training sample as a reference serves the sizes that
    exceed their number.
    """
    everything = IBDeepDescription(max_references=max_references(ALL), **params).fit(X, y)
    n_normal = len(everything.reference_embeddings_)
    detectors = {}
    for size in sizes:
        if size == ALL or size >= n_normal:
            detectors[size] = everything
            continue
        detectors[size] = IBDeepDescription(max_references=size, **params).fit(X, y)
        # Only the reference may differ between the sizes.
        np.testing.assert_array_equal(detectors[size].centers_, everything.centers_)
    return detectors, n_normal


def scoring_seconds(detector, X, repeats=3):
    """Median seconds of ``detector.score_samples(X)``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.score_samples(X)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def reference_size_results(name, dataset, sizes, seed=0, **params):
    """Per setting: ROC AUC and scoring seconds per 1,000 samples (splits by sizes), and the normal training sample counts.

    ``params`` go to every ``IBDeepDescription``, besides ``input_shape``,
    ``random_state=seed`` and ``max_references``.
    """
    params = {"input_shape": IMAGES.get(name), "random_state": seed, **params}
    results = {}
    for setting, split in splits_of(name, dataset):
        X_train, X_test = dataset.X[split.train], dataset.X[split.test]
        if name in TABLES:
            scaler = StandardScaler().fit(X_train)
            X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        y_train = dataset.y[split.train] if split.labelled else None
        detectors, n_normal = detectors_by_size(params, X_train, y_train, sizes)
        aucs = [roc_auc_score(split.test_is_anomaly, -detectors[size].score_samples(X_test)) for size in sizes]
        seconds = [scoring_seconds(detectors[size], X_test) / len(X_test) * 1e6 for size in sizes]
        rows = results.setdefault(setting, ([], [], []))
        for column, values in zip(rows, (aucs, seconds, n_normal)):
            column.append(values)
    return {setting: (np.array(aucs), np.array(seconds), n_normal)
            for setting, (aucs, seconds, n_normal) in results.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=reference_size, nargs="+", default=[250, 500, 1000, ALL],
                        help='numbers of references, or "all"')
    parser.add_argument("--datasets", nargs="+", choices=[*IMAGES, *TABLES], default=list(IMAGES))
    parser.add_argument("--mlbench", metavar="PATH", help="mlbench's data folder, for letter")
    args = parser.parse_args(argv)
    for name, dataset in data.loaded(parser, args.datasets, args.mlbench):
        for setting, (aucs, seconds, n_normal) in reference_size_results(name, dataset, args.sizes).items():
            print(f"{name}, {setting}: {len(aucs)} splits, {min(n_normal)}-{max(n_normal)} normal "
                  "training samples; a size beyond that keeps them all")
            print("references      " + "".join(f"{size:>8}" for size in args.sizes))
            print("ROC AUC         " + "".join(f"{auc:8.4f}" for auc in aucs.mean(axis=0)))
            print("spread (sd)     " + "".join(f"{sd:8.4f}" for sd in aucs.std(axis=0)))
            print("score ms / 1000 " + "".join(f"{ms:8.2f}" for ms in seconds.mean(axis=0)), flush=True)


if __name__ == "__main__":
    main()
