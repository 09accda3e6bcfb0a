"""Flagging a test set at a false discovery rate: the share of false flags and the power, against ``p <= alpha``.

For each split of the detection benchmark's protocols (the known classes
with their labels; breast cancer's benign class alone), a detector is
fitted with the benchmark's settings and its p-values on the split's test
rows (normal rows of the known classes and rows of the unseen ones) are
turned into flags three ways: the Benjamini-Hochberg procedure at ``--alpha``
(``ibdetect.selection.benjamini_hochberg``), its adaptive form
(``adaptive=True``, "adaptive BH") and ``p <= alpha``. It prints,
per data set, the mean over splits of the false discovery proportion (the
share of normal rows among the flags) and of the power (the share of
unseen rows flagged), with the smallest p-value the calibration allows,
for each ``validation_fraction`` given; with ``--smoothing``, of the
smoothed p-values.

* digits (the CNN) and MNIST (flat rows, the MLP): the multi-class splits;
* satellite (mlbench; needs ``--mlbench``): its three soil classes normal;
* breast cancer: the benign class normal, without labels.

``--simulate N`` skips the data sets and draws batches of conformal
p-values instead, from ``N`` calibration scores: normal scores standard
normal, the anomalies' shifted up by ``--shift``, at the shares of
breast cancer's test sets (143 normal rows, 212 anomalies), to measure the
two procedures' false discovery rates over many batches, plain and
smoothed.

    python -m benchmarks.fdr [--datasets digits mnist satellite breast_cancer]
        [--alpha 0.05] [--validation-fraction auto 0.2 ...] [--smoothing] [--mlbench PATH/TO/mlbench/data]
    python -m benchmarks.fdr --simulate 21 [--shift 3] [--batches 4000]
"""

import argparse
import warnings

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect._calibration import conformal_pvalues
from ibdetect.selection import benjamini_hochberg

from . import data
from .run import build_splits

# The flagging rules in the table's order, and the width of each one's power column.
RULES = ("BH", "aBH", "p<=a")
POWER_WIDTHS = (10, 10, 11)

# How each data set is shown to the detector: as images, or as flat rows.
FLAT_ROWS = ("mnist",)


def flag_rates(dataset, split, alpha, seed=0, validation_fraction="auto", smoothing=False):
    """False discovery proportion and power of each rule, and the smallest plain p-value, on one split."""
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
    rules = (
        _flagged(pvalues, alpha, adaptive=False),
        _flagged(pvalues, alpha, adaptive=True),
        pvalues <= alpha,
    )
    for flagged in rules:
        false = flagged & ~split.test_is_anomaly
        rates += [false.sum() / max(1, flagged.sum()), flagged[split.test_is_anomaly].mean()]
    return rates + [1.0 / (len(detector.calibration_scores_) + 1)]


def simulated_rates(n_calibration, alpha, smoothing, shift=3.0, n_batches=4000, n_normal=143, n_anomalies=212, seed=0):
    """Mean false discovery proportion of plain and adaptive Benjamini-Hochberg, and its standard error, over simulated batches.

    Parameters
    ----------
    n_calibration : int
        Calibration scores per batch, standard normal.
    alpha : float
    smoothing : bool
        Smoothed p-values instead of plain ones.
    shift : float, default=3.0
        How far up the anomalies' scores are shifted from the normal rows'.
    n_batches : int, default=4000
    n_normal, n_anomalies : int, default=143, 212
        Rows of each kind per batch: breast cancer's test sets.
    seed : int, default=0

    Returns
    -------
    rates : ndarray of shape (2, 2)
        Per procedure (plain, adaptive): the mean and its standard error.
    """
    rng = np.random.RandomState(seed)
    is_anomaly = np.arange(n_normal + n_anomalies) >= n_normal
    proportions = np.empty((n_batches, 2))
    for batch in range(n_batches):
        calibration = rng.randn(n_calibration)
        scores = rng.randn(len(is_anomaly)) + shift * is_anomaly
        pvalues = conformal_pvalues(calibration, scores, rng.rand(len(scores)) if smoothing else None)
        for column, adaptive in enumerate((False, True)):
            flagged = _flagged(pvalues, alpha, adaptive)
            proportions[batch, column] = (flagged & ~is_anomaly).sum() / max(1, flagged.sum())
    return np.stack([proportions.mean(axis=0), proportions.std(axis=0) / np.sqrt(n_batches)], axis=1)


def _flagged(pvalues, alpha, adaptive):
    """``benjamini_hochberg``, quiet: the tables report a power of 0 where it would warn of coarse p-values."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No row was flagged", category=UserWarning)
        return benjamini_hochberg(pvalues, alpha=alpha, adaptive=adaptive)


def _print_simulation(args):
    print(f"alpha {args.alpha}: mean false discovery proportion ± standard error over {args.batches} simulated batches")
    print(f"{'calibration':>11}{'p-values':>10}{'BH':>17}{'adaptive BH':>17}")
    for smoothing in (False, True):
        rates = simulated_rates(args.simulate, args.alpha, smoothing, args.shift, args.batches)
        print(f"{args.simulate:>11}{'smoothed' if smoothing else 'plain':>10}"
              + "".join(f"{f'{mean:.4f} ± {error:.4f}':>17}" for mean, error in rates), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist", "satellite", "breast_cancer"])
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--mlbench", metavar="PATH", help="mlbench's data folder, for satellite")
    parser.add_argument("--validation-fraction", type=_fraction, nargs="+", default=["auto"],
                        help='values of validation_fraction to compare, "auto" or floats (default: auto)')
    parser.add_argument("--smoothing", action="store_true",
                        help="smoothed p-values (pvalues(..., smoothing=True)), exact at every level")
    parser.add_argument("--simulate", type=int, metavar="N",
                        help="simulated batches of p-values from N calibration scores instead of the data sets")
    parser.add_argument("--shift", type=float, default=3.0, help="the anomalies' shift in --simulate")
    parser.add_argument("--batches", type=int, default=4000, help="batches drawn by --simulate")
    args = parser.parse_args(argv)
    if args.simulate is not None:
        _print_simulation(args)
        return
    smoothed = ", smoothed p-values" if args.smoothing else ""
    print(f"alpha {args.alpha}{smoothed}: mean over splits of the false discovery proportion (FDP) and power")
    print("(FDP: mean ± standard deviation over splits; aBH: adaptive Benjamini-Hochberg)")
    rule_titles = "".join(f"{rule + ' FDP':>15}{rule + ' power':>{width}}" for rule, width in zip(RULES, POWER_WIDTHS))
    print(f"{'data':<14}{'fraction':>9}{'splits':>7}{rule_titles}{'min p':>9}")
    for name, dataset in data.loaded(parser, args.datasets, args.mlbench):
        protocol = "oneclass" if name == "breast_cancer" else "multiclass"
        for fraction in args.validation_fraction:
            rates = np.array([
                flag_rates(dataset, split, args.alpha, validation_fraction=fraction, smoothing=args.smoothing)
                for _, split in build_splits(protocol, dataset, 0)
            ])
            mean, spread = rates.mean(axis=0), rates.std(axis=0)
            # Each rule's FDP and power, under the header's columns.
            columns = "".join(
                f"{f'{mean[i]:.3f} ± {spread[i]:.3f}':>15}{mean[i + 1]:{width}.3f}"
                for i, width in zip((0, 2, 4), POWER_WIDTHS)
            )
            print(f"{name:<14}{fraction!s:>9}{len(rates):>7}{columns}{mean[6]:9.4f}", flush=True)


def _fraction(text):
    return text if text == "auto" else float(text)


if __name__ == "__main__":
    main()
