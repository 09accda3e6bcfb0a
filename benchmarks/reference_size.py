"""Detection quality and scoring time of the k-NN scores against the number of reference samples.

The k-NN scores compare each sample with ``max_references`` normal training
samples, drawn at random, so their cost grows with that number. The
reference is drawn after training, so a fit with any ``max_references`` and
the same ``random_state`` trains the same network: this script fits one
detector per split that keeps every normal training sample as a reference,
and gives each size the reference that ``max_references=size`` would draw
from them, embedded by that network (the tests check both against fits of
their own). The columns differ only in their references.

* digits (images, the CNN, the default score: ``"knn+density"``) and MNIST
  (flat rows, an MLP, which trains in seconds rather than minutes): the
  multi-class splits;
* MNIST as images (``mnist-images``, the CNN and ``"knn+density"``): the
  multi-class splits and the out-of-distribution ones (every digit known,
  images of other sources unseen; the ROC AUC is the mean over the
  sources, as in the image benchmark);
* LetterRecognition (a table, standardised, ``"knn+input"``), the largest of
  the tabular benchmark: its labelled-classes and 5%-contamination splits.
  It needs the mlbench data folder (see ``benchmarks/README.md``).

It prints the ROC AUC per size, its spread over the splits, and the time
``score_samples`` takes per 1,000 test samples (the median of 3 calls).

    python -m benchmarks.reference_size [--sizes 250 500 1000 all]
        [--datasets digits mnist mnist-images letter] [--mlbench PATH/TO/mlbench/data]
"""

import argparse
import copy
import time

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from ibdetect import IBDeepDescription
from ibdetect._anomaly_score import reference_state, subsample, whitened_views

from . import data, ood
from .protocols import multiclass_splits, table_splits

# Each name's input_shape (None: flat rows).
IMAGES = {"digits": (1, 8, 8), "mnist": None, "mnist-images": (1, 28, 28)}
TABLES = ("letter",)
# The names that also run the out-of-distribution protocol.
OOD = ("mnist-images",)
# A name's data set, where it is another.
SOURCES = {"mnist-images": "mnist"}
# The size that keeps every normal training sample: max_references=1.0.
ALL = "all"


def reference_size(text):
    """A ``--sizes`` value: a number of references, or ``"all"``."""
    return ALL if text == ALL else int(text)


def max_references(size):
    """The ``max_references`` of a size: the number itself, or 1.0 for ``"all"``."""
    return 1.0 if size == ALL else size


def splits_of(name, dataset):
    """``(setting, dataset, split)``: each protocol's splits, with the rows they index."""
    if name in TABLES:
        return [
            (protocol, dataset, split)
            for protocol in ("multiclass", "contaminated")
            for split in table_splits(protocol, dataset.y, dataset.normal_classes)
        ]
    settings = [("multiclass", dataset, split) for split in multiclass_splits(dataset.y)]
    if name in OOD:
        rows = ood.with_ood_rows(dataset, seed=0)
        settings += [("ood", rows, split) for split in ood.ood_splits(rows, seed=0)]
    return settings


def detectors_by_size(params, X, y, sizes):
    """One detector per size, all with the same network, and the number of normal training samples.

    ``IBDeepDescription(max_references=1.0, **params)`` trains on ``X, y``;
    ``params`` must fix ``random_state``. Each smaller size gets a copy of
    it with the reference that ``max_references=size`` would draw: the same
    draw of the same normal training samples, which that fit keeps in
    order, embedded by the same network. Only what the reference sets
    (``score_samples`` and the reference's attributes) is that of a fit of
    the size; the threshold and the samples kept for ``partial_fit`` are
    those of the fit that keeps every sample.
    """
    everything = IBDeepDescription(max_references=max_references(ALL), **params).fit(X, y)
    normal = everything.reference_inputs_
    # The seed that fit draws its reference with.
    seed = check_random_state(params["random_state"]).randint(np.iinfo(np.int32).max)
    detectors = {}
    for size in sizes:
        if size == ALL or size >= len(normal):
            detectors[size] = everything
            continue
        detectors[size] = copy.copy(everything).set_params(max_references=size)
        state = reference_state(
            everything.anomaly_score_, everything.net_.embed, normal[subsample(np.arange(len(normal)), size, seed)],
            len(normal), everything.n_neighbors, n_views=whitened_views(everything),
        )
        for name, value in state.items():
            setattr(detectors[size], name, value)
    return detectors, len(normal)


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
    for setting, rows, split in splits_of(name, dataset):
        X_train, X_test = rows.rows(split.train), rows.rows(split.test)
        if name in TABLES:
            scaler = StandardScaler().fit(X_train)
            X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        y_train = rows.y[split.train] if split.labelled else None
        detectors, n_normal = detectors_by_size(params, X_train, y_train, sizes)
        aucs = [roc_auc(split, -detectors[size].score_samples(X_test)) for size in sizes]
        seconds = [scoring_seconds(detectors[size], X_test) / len(X_test) * 1e6 for size in sizes]
        columns = results.setdefault(setting, ([], [], []))
        for column, values in zip(columns, (aucs, seconds, n_normal)):
            column.append(values)
    return {setting: (np.array(aucs), np.array(seconds), n_normal)
            for setting, (aucs, seconds, n_normal) in results.items()}


def roc_auc(split, anomaly_score):
    """The split's ROC AUC; of an out-of-distribution split, the mean over its sources."""
    if not isinstance(split, ood.OODSplit):
        return roc_auc_score(split.test_is_anomaly, anomaly_score)
    return np.mean([roc_auc_score(split.test_is_anomaly[rows], anomaly_score[rows]) for rows in split.settings.values()])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=reference_size, nargs="+", default=[250, 500, 1000, ALL],
                        help='numbers of references, or "all"')
    parser.add_argument("--datasets", nargs="+", choices=[*IMAGES, *TABLES], default=["digits", "mnist"])
    parser.add_argument("--mlbench", metavar="PATH", help="mlbench's data folder, for letter")
    args = parser.parse_args(argv)
    sources = [SOURCES.get(name, name) for name in args.datasets]
    for name, (_, dataset) in zip(args.datasets, data.loaded(parser, sources, args.mlbench)):
        for setting, (aucs, seconds, n_normal) in reference_size_results(name, dataset, args.sizes).items():
            print(f"{name}, {setting}: {len(aucs)} splits, {min(n_normal)}-{max(n_normal)} normal "
                  "training samples; a size beyond that keeps them all")
            print("references      " + "".join(f"{size:>8}" for size in args.sizes))
            print("ROC AUC         " + "".join(f"{auc:8.4f}" for auc in aucs.mean(axis=0)))
            print("spread (sd)     " + "".join(f"{sd:8.4f}" for sd in aucs.std(axis=0)))
            print("score ms / 1000 " + "".join(f"{ms:8.2f}" for ms in seconds.mean(axis=0)), flush=True)


if __name__ == "__main__":
    main()
