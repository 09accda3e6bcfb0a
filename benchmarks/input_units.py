"""Detection quality of the ``"knn+density"`` score against how far its input units are shrunk.

``"knn+density"`` measures each input feature in units of its spread among
the reference rows, the variance shrunk a share of the way toward the mean
over the features (``input_scales``): near 0, each pixel in units of its
own spread, so that a pixel dark on every normal image weighs the most; 1,
one unit for all, as the raw distance has. The units are set after
training, so this script fits one detector per split, with the default
reference (``max_references="auto"``), and gives each shrinkage the
reference attributes that a fit with it would hold: the columns score the
same network and the same reference rows, and differ only in the units.

Digits and MNIST as images (the CNN): the multi-class, one-class and
out-of-distribution splits of the image benchmark (the ROC AUC of an
out-of-distribution split is the mean over its sources). It prints the ROC
AUC per shrinkage and its spread over the splits.

    python -m benchmarks.input_units [--shrinkages 0.1 0.25 0.5 0.75 0.9 1]
        [--datasets digits mnist] [--protocols multiclass oneclass ood]
"""

import argparse
import copy

import numpy as np

from ibdetect._anomaly_score import reference_state, resolve_max_references

from . import data, ood
from .protocols import multiclass_splits, oneclass_splits
from .reference_size import detectors_by_size, roc_auc

SHRINKAGES = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
PROTOCOLS = ("multiclass", "oneclass", "ood")


def splits_of(protocol, dataset):
    """The rows a protocol's splits index, and its splits."""
    if protocol == "ood":
        rows = ood.with_ood_rows(dataset, seed=0)
        return rows, ood.ood_splits(rows, seed=0)
    return dataset, {"multiclass": multiclass_splits, "oneclass": oneclass_splits}[protocol](dataset.y)


def scores_by_shrinkage(detector, n_normal, X, shrinkages):
    """Each shrinkage's anomaly scores (``-score_samples``) of ``X``, by ``detector``'s network and reference rows.

    ``n_normal`` is the number of normal training samples the reference was
    drawn from (``detectors_by_size`` returns it).
    """
    scores = {}
    for shrinkage in shrinkages:
        variant = copy.copy(detector)
        # The reference rows, and so their embeddings, are the detector's own.
        state = reference_state(
            detector.anomaly_score_, lambda inputs: detector.reference_embeddings_, detector.reference_inputs_,
            n_normal, detector.n_neighbors, shrinkage=shrinkage,
        )
        for name, value in state.items():
            setattr(variant, name, value)
        scores[shrinkage] = -variant.score_samples(X)
    return scores


def input_units_results(dataset, protocols, shrinkages, seed=0, **params):
    """Per protocol, the ROC AUC of each split (rows) and shrinkage (columns).

    ``params`` go to every ``IBDeepDescription``, besides ``input_shape``
    and ``random_state=seed``.
    """
    params = {"input_shape": dataset.image_shape, "random_state": seed, **params}
    size = resolve_max_references("auto", images=True)
    results = {}
    for protocol in protocols:
        rows, splits = splits_of(protocol, dataset)
        aucs = []
        for split in splits:
            detectors, n_normal = detectors_by_size(params, rows.rows(split.train), rows.y[split.train], [size])
            scores = scores_by_shrinkage(detectors[size], n_normal, rows.rows(split.test), shrinkages)
            aucs.append([roc_auc(split, scores[shrinkage]) for shrinkage in shrinkages])
        results[protocol] = np.array(aucs)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shrinkages", type=float, nargs="+", default=list(SHRINKAGES))
    parser.add_argument("--datasets", nargs="+", choices=["digits", "mnist"], default=["digits", "mnist"])
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    args = parser.parse_args(argv)
    for name, dataset in data.loaded(parser, args.datasets):
        for protocol, aucs in input_units_results(dataset, args.protocols, args.shrinkages).items():
            print(f"{name}, {protocol}: {len(aucs)} splits")
            print("shrinkage       " + "".join(f"{shrinkage:>8}" for shrinkage in args.shrinkages))
            print("ROC AUC         " + "".join(f"{auc:8.4f}" for auc in aucs.mean(axis=0)))
            print("spread (sd)     " + "".join(f"{sd:8.4f}" for sd in aucs.std(axis=0)), flush=True)


if __name__ == "__main__":
    main()
