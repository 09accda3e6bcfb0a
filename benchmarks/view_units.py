"""One normal class of images with views: detection quality by the units of the score's embedding half.

With views, ``"knn+density"`` takes the geometric mean of two relative k-NN
distances: among the reference's embeddings, every view's embedding side by
side, and among its pixels. This script fits one detector per split of the
one-class image benchmark and scores the split's test rows with the same
network, the same reference rows and the same pixel half, measuring the
embedding half in other units:

- ``as fitted``: the embeddings as the network gives them (the score of
  builds before model-file format 7);
- ``unit views``: each view's embedding scaled to length 1, so that only
  its direction counts (a cosine distance per view);
- ``whitened``: the embeddings in units of the reference's covariance
  (a Mahalanobis distance), the covariance shrunk toward the mean variance
  as the detector shrinks it (Ledoit and Wolf's; a fixed hundredth of the
  mean variance before it became a default);
- ``unit views, whitened``: both, in that order: the detector's own score.

Each space's distance is divided by its median among the reference rows, as
the detector does. The units are measured after training, so no column
changes the network or its fit.

    python -m benchmarks.view_units [--datasets digits mnist] [--channels 16 32]
        [--batch-size 32] [--max-epochs 35]
"""

import argparse
import time

import numpy as np

from ibdetect import IBDeepDescription
from ibdetect._anomaly_score import (
    _in_embedding_units,
    covariance_whitening,
    input_scales_of,
    mixed_neighbor_distances,
    typical_neighbor_distance,
)

from . import data
from .protocols import oneclass_splits
from .reference_size import roc_auc

UNITS = ("as fitted", "unit views", "whitened", "unit views, whitened")


def embeddings_in_units(detector, samples):
    """Each entry of ``UNITS``: the embeddings of ``samples`` and of the reference rows in those units.

    "unit views, whitened" are the units the detector scores in
    (``reference_embeddings_``'s).
    """
    n_views = detector.net_.module_.n_views
    embedded = detector.transform(samples)
    reference = detector.net_.embed(detector.reference_inputs_)
    in_units = {}
    for name in UNITS:
        test, ref = embedded, reference
        if name.startswith("unit views"):
            test, ref = _in_embedding_units(test, None, n_views), _in_embedding_units(ref, None, n_views)
        if name.endswith("whitened"):
            matrix = covariance_whitening(ref)
            test, ref = test @ matrix, ref @ matrix
        in_units[name] = test, ref
    return in_units


def scores_by_units(detector, samples):
    """Each entry of ``UNITS``: the scores of ``samples``, mixed with the pixel half as the detector mixes them."""
    if detector.anomaly_score_ != "knn+density":
        raise ValueError(f'The units are those of "knn+density", not {detector.anomaly_score_!r}.')
    rank = detector.n_neighbors_
    return {
        name: mixed_neighbor_distances(
            (embedded, samples),
            (reference, detector.reference_inputs_),
            (typical_neighbor_distance(reference, rank), detector.neighbor_scales_[1]),
            rank,
            radii=(None, detector.reference_radii_),
            units=(None, input_scales_of(detector)),
        )
        for name, (embedded, reference) in embeddings_in_units(detector, samples).items()
    }


def view_units_results(dataset, seed=0, **params):
    """The ROC AUC of each one-class split (rows) and entry of ``UNITS`` (columns), and each split's fit seconds.

    ``params`` go to every ``IBDeepDescription``, besides ``input_shape``
    and ``random_state=seed``.
    """
    aucs, seconds = [], []
    for split in oneclass_splits(dataset.y):
        detector = IBDeepDescription(input_shape=dataset.image_shape, random_state=seed, **params)
        start = time.perf_counter()
        detector.fit(dataset.rows(split.train), dataset.y[split.train])
        seconds.append(time.perf_counter() - start)
        if detector.transformations_ == "none":
            raise ValueError("These detectors have no views: give them one normal class of square images.")
        scores = scores_by_units(detector, dataset.rows(split.test))
        aucs.append([roc_auc(split, scores[name]) for name in UNITS])
    return np.array(aucs), np.array(seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=["digits", "mnist"], default=["digits", "mnist"])
    parser.add_argument("--channels", type=int, nargs="+", help="hidden_layer_sizes (default: the built-in CNN's)")
    parser.add_argument("--batch-size", type=int, help="batch_size (default: the estimator's)")
    parser.add_argument("--max-epochs", type=int, help="max_epochs (default: the estimator's)")
    args = parser.parse_args(argv)
    params = {
        name: value
        for name, value in [
            ("hidden_layer_sizes", tuple(args.channels) if args.channels else None),
            ("batch_size", args.batch_size),
            ("max_epochs", args.max_epochs),
        ]
        if value is not None
    }
    for name, dataset in data.loaded(parser, args.datasets):
        aucs, seconds = view_units_results(dataset, **params)
        print(f"{name}, one normal class, {len(aucs)} splits, {seconds.mean():.1f} s a fit; {params or 'defaults'}")
        for units, column in zip(UNITS, aucs.T):
            per_class = " ".join(f"{auc:.3f}" for auc in column)
            print(f"  {units:22s} {column.mean():.4f} ± {column.std():.3f}   {per_class}", flush=True)


if __name__ == "__main__":
    main()
