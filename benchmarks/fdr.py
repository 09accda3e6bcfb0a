"""Flagging a test set at a false discovery rate: the share of false flags and the power, against ``p <= alpha``.

For each split of the detection benchmark's protocols (the known classes
with their labels; breast cancer's benign class alone), a detector is
fitted with the benchmark's settings and its p-values on the split's test
rows (normal rows of the known classes and rows of the unseen ones) are
turned into flags two ways: the Benjamini-Hochberg procedure at ``--alpha``
(``ibdetect.selection.benjamini_hochberg``) and ``p <= alpha``. It prints,
per data set, the mean over splits of the false discovery proportion (the
share of normal rows among the flags) and of the power (the share of
unseen rows flagged), with the smallest p-value the calibration allows,
for each ``validation_fraction`` given; with ``--smoothing``, of the
smoothed p-values.

* digits (the CNN) and MNIST (flat rows, the MLP): the multi-class splits;
* satellite (mlbench; needs ``--mlbench``): its three soil classes normal;
* breast cancer: the benign class normal, without labels.

    python -m benchmarks.fdr [--datasets digits mnist satellite breast_cancer]
        [--alpha 0.05] [--validation-fraction auto 0.2 ...] [--smoothing] [--mlbench PATH/TO/mlbench/data]
"""

import argparse

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect.selection import benjamini_hochberg

from . import data
from .run import build_splits

# How each data set is shown to the detector: as images, or as flat rows.
FLAT_ROWS = ("mnist",)


def flag_rates(dataset, split, alpha, seed=0, validation_fraction="auto", smoothing=False):
    """False discovery proportion and power of both rules, and the smallest plain p-value, on one split."""
    shape = None if dataset.name in FLAT_ROWS else dataset.image_shape
    detector = IBDeepDescription(input_shape=shape, validation_fraction=validation_fraction, random_state=seed)
    model = make_pipeline(StandardScaler(), detector) if dataset.is_table else detector
    y = dataset.y[split.train] if split.labelled else None
    model.fit(dataset.rows(split.train), y)
    X_test = dataset.rows(split.test)
    pvalues = detector.pvalues(
        model[:-1].transform(X_test) if dataset.is_table else X_test, smoothing=smoothing, random_state=seed
    )
    rates = []
    for flagged in (benjamini_hochberg(pvalues, alpha=alpha), pvalues <= alpha):
        false = flagged & ~split.test_is_anomaly
        rates += [false.sum() / max(1, flagged.sum()), flagged[split.test_is_anomaly].mean()]
    return rates + [1.0 / (len(detector.calibration_scores_) + 1)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist", "satellite", "breast_cancer"])
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--mlbench", metavar="PATH", help="mlbench's data folder, for satellite")
    parser.add_argument("--validation-fraction", type=_fraction, nargs="+", default=["auto"],
                        help='values of validation_fraction to compare, "auto" or floats (default: auto)')
    parser.add_argument("--smoothing", action="store_true",
                        help="smoothed p-values (pvalues(..., smoothing=True)), exact at every level")
    args = parser.parse_args(argv)
    smoothed = ", smoothed p-values" if args.smoothing else ""
    print(f"alpha {args.alpha}{smoothed}: mean over splits of the false discovery proportion (FDP) and power")
    print(f"{'data':<14}{'fraction':>9}{'splits':>7}{'BH FDP':>9}{'BH power':>10}{'p<=a FDP':>10}{'p<=a power':>12}"
          f"{'min p':>9}")
    for name, dataset in data.loaded(parser, args.datasets, args.mlbench):
        protocol = "oneclass" if name == "breast_cancer" else "multiclass"
        for fraction in args.validation_fraction:
            rates = np.array([
                flag_rates(dataset, split, args.alpha, validation_fraction=fraction, smoothing=args.smoothing)
                for _, split in build_splits(protocol, dataset, 0)
            ])
            mean = rates.mean(axis=0)
            print(f"{name:<14}{fraction!s:>9}{len(rates):>7}{mean[0]:9.3f}{mean[1]:10.3f}{mean[2]:10.3f}{mean[3]:12.3f}"
                  f"{mean[4]:9.4f}", flush=True)


def _fraction(text):
    return text if text == "auto" else float(text)


if __name__ == "__main__":
    main()
