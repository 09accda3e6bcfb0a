"""Experiments: levers that might lift IBDeepDescription's defaults on tables.

Not part of the benchmark tables. Each lever is a wrapper around the
estimator (nothing in the package changes), run on the splits of the tabular
benchmark and compared with the defaults on the same splits:

* ``steps``: train for a fixed number of optimiser steps, whatever the size
  of the training set, instead of a fixed number of epochs;
* ``ensemble``: average the ``decision_function`` of 5 networks trained with
  different seeds;
* ``knn-mix``: add the distance to the k-th nearest training row in input
  space to the embedding's score, each standardised on the training rows;
* ``scaler``: the scaler before every method (standard, robust, min-max,
  none); on a table with categories and gaps every lever runs behind the
  benchmark's preparation instead, so these rows repeat the defaults';
* ``anomaly_score=knn``: the embedding's k-NN distance alone, the default on
  tables before ``"knn+input"``;
* ``knn+LOF``: the embedding's k-NN distance with LocalOutlierFactor's
  density ratio in input space in place of the raw k-th input distance of
  ``"knn+input"``;
* ``knn+density``: ``anomaly_score="knn+density"``, the default on images,
  whose input distance is relative to its neighbours' own at the score's
  rank;
* ``refit on inliers``: fit with ``contamination=0.05``, then fit again
  without the training rows the first fit flags;
* ``refit without view outliers``: fit with ``transformations="affine"``,
  then fit the defaults again without the 5% of training rows whose views
  that first network tells apart worst (the IB loss's separation term,
  summed over a row's views), which should be where a contaminated
  training set's anomalies are;
* ``all references``: ``max_references=1.0``, every normal training row a
  k-NN reference instead of at most 1,000;
* ``k-means classes (k=10)``, ``(k=20)``: without labels, k-means clusters
  of the training rows (about 10 rows a cluster at least) are the classes
  of the IB loss, pseudo-classes for the loss to separate;
* ``Parzen input``: the input space alone, as a Gaussian kernel density
  of the training rows whose bandwidth is half their median distance to
  the 5th nearest other row (a peer, for reference);
* ``knn+Parzen``: that density in place of the raw k-th input distance of
  ``"knn+input"``, summed with the log of the embedding's k-NN distance,
  each in units of its median and interquartile range over the training
  rows.

    python -m benchmarks.levers --mlbench PATH/TO/mlbench/data --jobs 2

prints one table of mean ± std ROC AUC per lever and data set.
"""

import argparse
import dataclasses
import math
import time
from collections import defaultdict

import numpy as np
from joblib import Parallel, delayed
from scipy.special import log_softmax, logsumexp
from sklearn.base import BaseEstimator, clone
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances, roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from ibdetect import IBDeepDescription
from ibdetect._training import resolve_batch_size

from . import data
from .methods import InputDensityMix, KNNDistance
from .run import build_splits, preparation


class StepBudget(BaseEstimator):
    """IBDeepDescription trained for about ``steps`` optimiser steps (experiment).

    The number of epochs is chosen at fit time from the number of training
    rows, the held-out fraction and the batch size.
    """

    def __init__(self, detector=None, steps=2000):
        self.detector = detector
        self.steps = steps

    def fit(self, X, y=None):
        detector = clone(self.detector)
        params = detector.get_params()
        fraction = params["validation_fraction"] or 0
        # "auto" holds out a tenth of all but small data sets: about enough.
        kept = len(X) * (1 - (0.1 if fraction == "auto" else fraction))
        # On rows of features, which get no views, "auto" is 128 samples.
        batches = math.ceil(kept / resolve_batch_size(params["batch_size"]))
        detector.set_params(max_epochs=max(1, round(self.steps / batches)))
        self.detector_ = detector.fit(X, y)
        return self

    def score_samples(self, X):
        return self.detector_.score_samples(X)


class SeedEnsemble(BaseEstimator):
    """The mean ``decision_function`` of networks trained with different seeds (experiment).

    Member ``i`` of the ensemble with ``random_state=r`` gets the seed
    ``n_members * r + i``, so ensembles of different ``random_state`` share no member.
    """

    def __init__(self, detector=None, n_members=5, random_state=0):
        self.detector = detector
        self.n_members = n_members
        self.random_state = random_state

    def fit(self, X, y=None):
        seeds = [self.n_members * self.random_state + i for i in range(self.n_members)]
        self.members_ = [clone(self.detector).set_params(random_state=s).fit(X, y) for s in seeds]
        return self

    def score_samples(self, X):
        return np.mean([member.decision_function(X) for member in self.members_], axis=0)


class InputKNNMix(BaseEstimator):
    """The embedding's score plus the input-space k-NN distance (experiment).

    Both normality scores are standardised with their mean and spread over
    the training rows, then summed with weights ``1 - weight`` and ``weight``.
    A training row's own input distance leaves itself out.
    """

    def __init__(self, detector=None, n_neighbors=5, weight=0.5):
        self.detector = detector
        self.n_neighbors = n_neighbors
        self.weight = weight

    def fit(self, X, y=None):
        self.detector_ = clone(self.detector).fit(X, y)
        self.neighbors_ = NearestNeighbors(n_neighbors=self.n_neighbors + 1).fit(X)
        distances, _ = self.neighbors_.kneighbors(X)
        self.knn_stats_ = _mean_std(-distances[:, -1])
        self.embedding_stats_ = _mean_std(self.detector_.score_samples(X))
        return self

    def score_samples(self, X):
        distances, _ = self.neighbors_.kneighbors(X, n_neighbors=self.n_neighbors)
        knn = _standardise(-distances[:, -1], self.knn_stats_)
        embedding = _standardise(self.detector_.score_samples(X), self.embedding_stats_)
        return (1 - self.weight) * embedding + self.weight * knn


class ClusterClasses(BaseEstimator):
    """IBDeepDescription fitted with k-means clusters of unlabelled rows as its classes (experiment).

    With labels the detector fits on them as it would alone. Without, the
    rows are clustered into ``n_clusters``, or fewer so that a cluster
    averages ``min_rows`` rows, and each cluster is a class of the IB loss.
    """

    def __init__(self, detector=None, n_clusters=20, min_rows=10, random_state=0):
        self.detector = detector
        self.n_clusters = n_clusters
        self.min_rows = min_rows
        self.random_state = random_state

    def fit(self, X, y=None):
        if y is None:
            n_clusters = max(1, min(self.n_clusters, len(X) // self.min_rows))
            y = KMeans(n_clusters, n_init=4, random_state=self.random_state).fit_predict(X)
        self.detector_ = clone(self.detector).fit(X, y)
        return self

    def score_samples(self, X):
        return self.detector_.score_samples(X)


class ParzenDensity(BaseEstimator):
    """A Gaussian kernel density of the training rows (experiment).

    The bandwidth is ``bandwidth`` times the median distance of a training
    row to its 5th nearest other row. ``score_samples`` is the log density
    (up to a constant), larger for normal rows; with ``leave_self_out``,
    ``X`` must be the training rows, in their order, and each leaves itself
    out.
    """

    def __init__(self, bandwidth=0.5):
        self.bandwidth = bandwidth

    def fit(self, X, y=None):
        self.rows_ = np.asarray(X, dtype=np.float64)
        distances, _ = NearestNeighbors(n_neighbors=6).fit(self.rows_).kneighbors(self.rows_)
        self.bandwidth_ = self.bandwidth * float(np.median(distances[:, -1])) or 1.0
        return self

    def score_samples(self, X, leave_self_out=False):
        X = np.asarray(X, dtype=np.float64)
        scores = np.empty(len(X))
        for start in range(0, len(X), 1000):
            squared = pairwise_distances(X[start:start + 1000], self.rows_, metric="sqeuclidean")
            if leave_self_out:
                squared[np.arange(len(squared)), np.arange(start, start + len(squared))] = np.inf
            scores[start:start + 1000] = logsumexp(-squared / (2 * self.bandwidth_**2), axis=1)
        return scores


class SubsampledNeighbours(BaseEstimator):
    """The mean log distance to the nearest row of random subsamples of the training rows (experiment).

    Each of ``n_subsamples`` subsamples draws between ``min_rows`` and
    ``max_rows`` training rows (as many as there are, if fewer), a size
    drawn anew for each; a row's log distance to its ``n_neighbors``-th
    nearest row of a subsample is taken in units of that subsample's own
    rows' (their median), and the units are averaged. A subsample holds few
    of the anomalies of contaminated training data, so they mask one
    another less than among all rows.
    """

    def __init__(self, n_subsamples=25, n_neighbors=1, min_rows=50, max_rows=1000, random_state=None):
        self.n_subsamples = n_subsamples
        self.n_neighbors = n_neighbors
        self.min_rows = min_rows
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        tiny = np.finfo(np.float64).tiny
        rng = np.random.default_rng(self.random_state)
        low, high = min(self.min_rows, len(X)), min(self.max_rows, len(X))
        self.subsamples_ = []
        for _ in range(self.n_subsamples):
            rows = X[rng.choice(len(X), max(int(rng.integers(low, high + 1)), self.n_neighbors + 1), replace=False)]
            search = NearestNeighbors(n_neighbors=self.n_neighbors).fit(rows)
            # Each row of the subsample leaves itself out.
            own = np.log(np.maximum(search.kneighbors(rows, self.n_neighbors + 1)[0][:, -1], tiny))
            self.subsamples_.append((search, float(np.median(own))))
        return self

    def score_samples(self, X):
        X = np.asarray(X, dtype=np.float64)
        tiny = np.finfo(np.float64).tiny
        logs = [np.log(np.maximum(search.kneighbors(X)[0][:, -1], tiny)) - unit for search, unit in self.subsamples_]
        return -np.mean(logs, axis=0)


class InputParzenMix(BaseEstimator):
    """The log of the embedding's k-NN distance plus the input rows' Parzen density (experiment).

    Each of the two is in units of its median and interquartile range over
    the training rows. The input density of a training row leaves the row
    out; its embedding distance does not (a reference row finds itself), as
    in ``InputDensityMix``: the units are medians and spreads, which a few
    rows move little.
    """

    def __init__(self, detector=None, bandwidth=0.5):
        self.detector = detector
        self.bandwidth = bandwidth

    def fit(self, X, y=None):
        self.detector_ = clone(self.detector).fit(X, y)
        self.density_ = ParzenDensity(self.bandwidth).fit(X)
        self.units_ = (
            _median_spread(_log_distance(self.detector_, X)),
            _median_spread(self.density_.score_samples(X, leave_self_out=True)),
        )
        return self

    def score_samples(self, X):
        embedding = _in_units(_log_distance(self.detector_, X), self.units_[0])
        density = _in_units(self.density_.score_samples(X), self.units_[1])
        return density - embedding


class InlierRefit(BaseEstimator):
    """IBDeepDescription fitted again without the training rows its first fit flags (experiment).

    The first fit's ``contamination`` decides how many rows are dropped.
    """

    def __init__(self, detector=None):
        self.detector = detector

    def fit(self, X, y=None):
        first = clone(self.detector).fit(X, y)
        inliers = first.labels_ == 1
        self.detector_ = clone(self.detector).fit(X[inliers], None if y is None else y[inliers])
        return self

    def score_samples(self, X):
        return self.detector_.score_samples(X)


class ViewOutlierRefit(BaseEstimator):
    """IBDeepDescription fitted again without the rows whose views a first fit tells apart worst (experiment).

    The first fit makes every view of a row (``transformations``) a class of
    the IB loss. A row unlike the normal ones should be one whose views the
    network places poorly: the cross-entropy of each view's softmax over the
    view centres of the row's class (the loss's logits, ``-d / (2 s^2)``),
    summed over the views, ranks the rows, and the ``share`` that rank highest are
    dropped before the second fit, without views.
    """

    def __init__(self, detector=None, transformations="affine", share=0.05):
        self.detector = detector
        self.transformations = transformations
        self.share = share

    def fit(self, X, y=None):
        first = clone(self.detector).set_params(transformations=self.transformations).fit(X, y)
        losses = view_losses(first, X, y)
        kept = losses <= np.quantile(losses, 1 - self.share)
        self.detector_ = clone(self.detector).fit(X[kept], None if y is None else y[kept])
        return self

    def score_samples(self, X):
        return self.detector_.score_samples(X)


def view_losses(detector, X, y=None):
    """Each row's separation loss over its views: how poorly ``detector`` tells its views apart."""
    n_views = detector.net_.module_.n_views
    centers = detector.centers_.reshape(len(detector.classes_), n_views, -1)
    classes = np.zeros(len(X), dtype=int) if y is None else np.searchsorted(detector.classes_, y)
    views = detector.transform(X).reshape(len(X), n_views, -1).astype(np.float64)
    # logits[row, view, centre]: the row's view against each view centre of its class.
    distances = np.square(views[:, :, None, :] - centers[classes][:, None, :, :]).sum(-1)
    log_probabilities = log_softmax(-distances / (2 * detector.net_.criterion_.variance), axis=-1)
    return -np.diagonal(log_probabilities, axis1=1, axis2=2).sum(1)


def _mean_std(scores):
    return float(np.mean(scores)), float(np.std(scores)) or 1.0


def _standardise(scores, stats):
    mean, std = stats
    return (scores - mean) / std


def _log_distance(detector, X):
    # A row at distance 0 (a duplicate of a reference row) would be -inf.
    return np.log(np.maximum(-detector.score_samples(X), np.finfo(np.float32).tiny))


def _median_spread(scores):
    spread = np.subtract(*np.percentile(scores, [75, 25]))
    return float(np.median(scores)), float(spread) or 1.0


def _in_units(scores, units):
    median, spread = units
    return (scores - median) / spread


SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler, "none": None}


def _ib(seed):
    return IBDeepDescription(random_state=seed)


# Lever name -> (builder(seed) of the estimator, scaler name). "defaults" is
# the benchmark's row; "kNN (k=5)" the input-space peer, for reference.
LEVERS = {
    "defaults": (_ib, "standard"),
    "kNN (k=5) peer": (lambda seed: KNNDistance(n_neighbors=5), "standard"),
    "steps=250": (lambda seed: StepBudget(_ib(seed), steps=250), "standard"),
    "steps=1000": (lambda seed: StepBudget(_ib(seed), steps=1000), "standard"),
    "steps=3000": (lambda seed: StepBudget(_ib(seed), steps=3000), "standard"),
    "ensemble of 5": (lambda seed: SeedEnsemble(_ib(None), random_state=seed), "standard"),
    "knn-mix 0.5": (lambda seed: InputKNNMix(_ib(seed), weight=0.5), "standard"),
    "scaler robust": (_ib, "robust"),
    "scaler minmax": (_ib, "minmax"),
    "scaler none": (_ib, "none"),
    "anomaly_score=knn": (lambda seed: IBDeepDescription(anomaly_score="knn", random_state=seed), "standard"),
    "knn+LOF": (
        lambda seed: InputDensityMix(IBDeepDescription(anomaly_score="knn", random_state=seed)), "standard"
    ),
    "knn+density": (lambda seed: IBDeepDescription(anomaly_score="knn+density", random_state=seed), "standard"),
    "refit on inliers": (
        lambda seed: InlierRefit(IBDeepDescription(contamination=0.05, random_state=seed)),
        "standard",
    ),
    "refit without view outliers": (lambda seed: ViewOutlierRefit(_ib(seed)), "standard"),
    "all references": (lambda seed: IBDeepDescription(max_references=1.0, random_state=seed), "standard"),
    "k-means classes (k=10)": (lambda seed: ClusterClasses(_ib(seed), n_clusters=10), "standard"),
    "k-means classes (k=20)": (lambda seed: ClusterClasses(_ib(seed), n_clusters=20), "standard"),
    "Parzen input": (lambda seed: ParzenDensity(), "standard"),
    "subsampled 1-NN input": (lambda seed: SubsampledNeighbours(random_state=seed), "standard"),
    "knn+Parzen": (
        lambda seed: InputParzenMix(IBDeepDescription(anomaly_score="knn", random_state=seed)), "standard"
    ),
}


def evaluate(lever, dataset, split, seed):
    """ROC AUC and fit time of one lever on one split, with one torch thread."""
    import torch

    torch.set_num_threads(1)
    build, scaler = LEVERS[lever]
    estimator = build(seed)
    X_train, y = dataset.rows(split.train), dataset.y
    if dataset.has_categories:
        # Categories and gaps need the benchmark's preparation, whatever the
        # lever's scaler of numbers.
        estimator = make_pipeline(preparation(dataset, X_train), estimator)
    elif SCALERS[scaler] is not None:
        estimator = make_pipeline(SCALERS[scaler](), estimator)
    start = time.perf_counter()
    estimator.fit(X_train, y[split.train] if split.labelled else None)
    seconds = time.perf_counter() - start
    score = roc_auc_score(split.test_is_anomaly, -estimator.score_samples(dataset.rows(split.test)))
    return {"roc_auc": score, "fit_seconds": seconds}


def run(datasets, protocol_names, levers, seeds, jobs, max_splits=None):
    """Every lever on every split (the first ``max_splits``) and seed; one record each."""
    tasks = [
        (lever, dataset, protocol, split, seed)
        for dataset in datasets
        for protocol in protocol_names
        for _, split in build_splits(protocol, dataset, 0)[:max_splits]
        for lever in levers
        for seed in seeds
    ]
    results = Parallel(n_jobs=jobs)(
        delayed(evaluate)(lever, dataset, split, seed) for lever, dataset, _, split, seed in tasks
    )
    return [
        {"lever": lever, "dataset": dataset.name, "protocol": protocol, "split": split.name, "seed": seed, **result}
        for (lever, dataset, protocol, split, seed), result in zip(tasks, results)
    ]


def table(records):
    """Markdown: levers as rows, (data set, protocol) as columns, mean ± std ROC AUC."""
    groups = defaultdict(list)
    for r in records:
        groups[r["lever"], r["dataset"], r["protocol"]].append(r["roc_auc"])
    columns = list(dict.fromkeys((r["dataset"], r["protocol"]) for r in records))
    levers = list(dict.fromkeys(r["lever"] for r in records))
    lines = ["| lever | " + " | ".join(f"{d} {p}" for d, p in columns) + " | fit (s) |",
             "| --- |" + " --- |" * (len(columns) + 1)]
    for lever in levers:
        cells = [f"{np.mean(groups[lever, d, p]):.3f} ± {np.std(groups[lever, d, p]):.3f}" for d, p in columns]
        fit = np.mean([r["fit_seconds"] for r in records if r["lever"] == lever])
        lines.append(f"| {lever} | " + " | ".join(cells) + f" | {fit:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlbench", metavar="PATH", help="mlbench's data folder of .rda files")
    parser.add_argument("--datasets", nargs="+", default=["wine"])
    parser.add_argument("--protocols", nargs="+", default=["multiclass"])
    parser.add_argument("--levers", nargs="+", choices=list(LEVERS), default=list(LEVERS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="random_state of the estimators")
    parser.add_argument("--known", type=int, nargs="+", default=None,
                        help="make these classes of a scikit-learn table the known ones, e.g. 0 1 for wine")
    parser.add_argument("--max-splits", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    datasets = [dataset for _, dataset in data.loaded(parser, args.datasets, args.mlbench)]
    if args.known:
        datasets = [dataclasses.replace(d, normal_classes=tuple(args.known)) for d in datasets]
    records = run(datasets, args.protocols, args.levers, args.seeds, args.jobs, args.max_splits)
    print(table(records))


if __name__ == "__main__":
    main()
