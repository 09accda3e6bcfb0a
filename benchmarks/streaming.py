"""Data that keeps arriving: ``partial_fit`` over equal batches against one ``fit`` on all of them.

For each multi-class split (the known classes with their labels, as the
detection benchmark draws them), the training rows are shuffled and cut into
``--batches`` equal batches. One detector trains on them with
``partial_fit``, batch after batch, and is scored on the split's test rows
after each; another is fitted once on all of them. Both have the benchmark's
settings (``IBDeepDescription(input_shape=..., random_state=seed)``); a
table's rows are standardised with statistics of the first batch only, as a
stream gives nothing more when it starts.

* digits: the CNN on 8x8 images, the default score (``"knn+density"``);
* satellite (mlbench; needs ``--mlbench``): the MLP, ``"knn+input"``, its
  three soil classes normal as in the tables benchmark.

It prints, per data set, the mean ROC AUC over the splits after each batch
and of the single fit, and the seconds each took.

    python -m benchmarks.streaming [--datasets digits satellite]
        [--batches 10] [--mlbench PATH/TO/mlbench/data]
"""

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription

from . import data
from .protocols import multiclass_splits, table_splits

TABLES = ("satellite",)


def splits_of(name, dataset):
    if name in TABLES:
        return table_splits("multiclass", dataset.y, dataset.normal_classes)
    return multiclass_splits(dataset.y)


def stream_results(dataset, split, n_batches, seed=0):
    """ROC AUC after each batch of ``partial_fit``, then of one ``fit``; and the seconds of each."""
    rows = np.random.RandomState(seed).permutation(split.train)
    batches = np.array_split(rows, n_batches)
    X, y = dataset.X, dataset.y
    prepare = lambda rows: rows  # noqa: E731 -- images keep their pixels
    if dataset.is_table:
        prepare = StandardScaler().fit(X[batches[0]]).transform
    X_test = prepare(X[split.test])

    def auc(detector):
        return roc_auc_score(split.test_is_anomaly, -detector.score_samples(X_test))

    detector = IBDeepDescription(input_shape=dataset.image_shape, random_state=seed)
    aucs, seconds = [], []
    for batch in batches:
        start = time.perf_counter()
        detector.partial_fit(prepare(X[batch]), y[batch])
        seconds.append(time.perf_counter() - start)
        aucs.append(auc(detector))
    start = time.perf_counter()
    whole = IBDeepDescription(input_shape=dataset.image_shape, random_state=seed).fit(prepare(X[rows]), y[rows])
    seconds.append(time.perf_counter() - start)
    aucs.append(auc(whole))
    return np.array(aucs), np.array(seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=["digits", *TABLES], default=["digits"])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--mlbench", metavar="PATH", help="mlbench's data folder, for satellite")
    args = parser.parse_args(argv)
    for name, dataset in data.loaded(parser, args.datasets, args.mlbench):
        results = [stream_results(dataset, split, args.batches) for split in splits_of(name, dataset)]
        aucs = np.array([auc for auc, _ in results])
        seconds = np.array([time for _, time in results])
        columns = [*(str(batch) for batch in range(1, args.batches + 1)), "fit"]
        print(f"{name}: {len(results)} splits, ROC AUC after each batch of partial_fit, then of one fit on all")
        print("batch       " + "".join(f"{column:>7}" for column in columns))
        print("ROC AUC     " + "".join(f"{value:7.3f}" for value in aucs.mean(axis=0)))
        print("spread (sd) " + "".join(f"{value:7.3f}" for value in aucs.std(axis=0)))
        print("seconds     " + "".join(f"{value:7.1f}" for value in seconds.mean(axis=0)), flush=True)


if __name__ == "__main__":
    main()
