"""How many new normal rows and unseen-class rows does each decision rule flag?

Over ``--n-splits`` random splits of three data sets, each fitted with the
defaults:

* digits (scikit-learn's 8x8 digits as flat rows scaled to [0, 1]): classes
  0-5 known, with their labels; 6-9 unseen;
* wine (standardised in a pipeline): classes 0 and 1 known, 2 unseen;
* breast cancer: the benign tumours are the one normal class, fitted without
  labels; the malignant ones are unseen;
* with ``--mlbench PATH``, the UCI Satellite table (standardised): its three
  soil classes known, as ODDS builds it; the other three unseen.

60% of the normal rows train; the other 40% are the new normal rows. The
rules are ``predict`` (``contamination="auto"``, and ``0.05``, a refit with
the same seed, hence the same network) and ``pvalues(X) <= alpha``.
Printed: the mean and standard deviation over the splits of the share of new
normal rows flagged (false alarms) and of unseen rows flagged (detections),
the number of calibration samples and the ROC AUC; and, with known classes,
the share of each class's new rows that ``pvalues(X, by_class=True) <= 0.05``
flags in its own column, for the classes with at least 19 held-out rows,
and smoothed (``smoothing=True``), for every class.

    python -m benchmarks.calibration [--n-splits 10] [--validation-fraction auto 0.1 ...] [--jobs 2]
        [--mlbench PATH/TO/mlbench/data]
"""

import argparse
import warnings

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription

from . import data, protocols

ALPHAS = (0.01, 0.05, 0.1)
# The fewest held-out rows whose smallest p-value, 1 / (19 + 1), reaches
# 0.05: classes of fewer cannot flag at that level.
MIN_CALIBRATION_SAMPLES = 19
# contamination="auto", then a float: the share of the training data to flag.
CONTAMINATIONS = ("auto", 0.05)


def datasets(mlbench=None):
    """Per data set: name, model, X, y (None: fit without labels), known classes."""
    X, y = load_digits(return_X_y=True)
    yield "digits", IBDeepDescription(), X / 16.0, y, [0, 1, 2, 3, 4, 5]
    X, y = load_wine(return_X_y=True)
    # Wine's features span four orders of magnitude.
    yield "wine", make_pipeline(StandardScaler(), IBDeepDescription()), X, y, [0, 1]
    X, y = load_breast_cancer(return_X_y=True)
    # Target 1 is benign.
    yield "cancer", IBDeepDescription(), X, y, [1]
    if mlbench is not None:
        satellite = data.mlbench("satellite", mlbench)
        model = make_pipeline(StandardScaler(), IBDeepDescription())
        yield "satellite", model, satellite.X, satellite.y, list(satellite.normal_classes)


def detector_of(model):
    return model[-1] if hasattr(model, "steps") else model


def fitted(model, X, y, **params):
    model = clone(model)
    detector_of(model).set_params(**params)
    return model.fit(X, y)


def evaluate(model, X, y, split, one_class, validation_fraction, seed):
    """Flag rates of each rule on one split, with one torch thread."""
    torch.set_num_threads(1)
    X_train, y_train = X[split.train], None if one_class else y[split.train]
    X_test, unseen = X[split.test], split.test_is_anomaly
    models = {
        contamination: fitted(model, X_train, y_train, validation_fraction=validation_fraction,
                              contamination=contamination, random_state=seed)
        for contamination in CONTAMINATIONS
    }
    flags = {f"predict, {c}": fitted_model.predict(X_test) == -1 for c, fitted_model in models.items()}
    model = models["auto"]
    # A pipeline passes predict_proba on, not pvalues; its first column is the p-value.
    pvalues = model.predict_proba(X_test)[:, 0]
    flags.update({f"p <= {alpha}": pvalues <= alpha for alpha in ALPHAS})
    return {
        "rates": {rule: (flag[~unseen].mean(), flag[unseen].mean()) for rule, flag in flags.items()},
        "n_calibration": len(detector_of(model).calibration_scores_),
        "roc_auc": roc_auc_score(unseen, -model.score_samples(X_test)),
        **{
            key: {} if one_class else class_flag_rates(model, X_test[~unseen], y[split.test][~unseen], smoothing)
            for key, smoothing in (("class_rates", False), ("smoothed_class_rates", True))
        },
    }


def class_flag_rates(model, X_normal, y_normal, smoothing=False, alpha=0.05):
    """Share of each class's new rows with ``p <= alpha`` in their class's column of ``pvalues(X, by_class=True)``.

    Only for the classes with at least ``MIN_CALIBRATION_SAMPLES`` held-out
    rows, the fewest whose p-values reach 0.05; smoothed, for every class
    with held-out rows.
    """
    detector = detector_of(model)
    prepared = model[:-1].transform(X_normal) if hasattr(model, "steps") else X_normal
    with warnings.catch_warnings():
        # The classes of too few held-out rows, which the rates leave out.
        warnings.simplefilter("ignore", UserWarning)
        pvalues = detector.pvalues(prepared, by_class=True, smoothing=smoothing, random_state=0)
    enough = detector.class_calibration_counts_ >= (1 if smoothing else MIN_CALIBRATION_SAMPLES)
    return {
        label: np.mean(pvalues[y_normal == label, c] <= alpha)
        for c, label in enumerate(detector.classes_) if enough[c] and np.any(y_normal == label)
    }


def summarise(name, validation_fraction, results):
    """Print one line per rule: mean and spread over the splits."""
    n_calibration = np.mean([result["n_calibration"] for result in results])
    roc_auc = [result["roc_auc"] for result in results]
    print(f"{name}, validation_fraction={validation_fraction}: {n_calibration:.0f} calibration samples, "
          f"ROC AUC {np.mean(roc_auc):.3f} +- {np.std(roc_auc):.3f}")
    for rule in results[0]["rates"]:
        normal, unseen = np.array([result["rates"][rule] for result in results]).T
        print(f"  {rule:<16} new normal {100 * normal.mean():5.1f}% +- {100 * normal.std():4.1f}"
              f"   unseen {100 * unseen.mean():5.1f}% +- {100 * unseen.std():4.1f}")
    for key, which in (("class_rates", ""), ("smoothed_class_rates", ", smoothed")):
        labels = sorted({label for result in results for label in result[key]})
        if labels:
            # A class is measured in the splits where enough of its rows were held out.
            rates = [[result[key][label] for result in results if label in result[key]] for label in labels]
            listed = ", ".join(f"{label}: {100 * np.mean(rate):.1f}%" for label, rate in zip(labels, rates))
            print(f"  by class{which}, p <= 0.05: new normal rows of each class flagged (mean over splits) {listed}")


def _fraction(text):
    return text if text == "auto" else float(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-splits", type=int, default=10, help="random splits per data set (default: 10)")
    parser.add_argument("--validation-fraction", type=_fraction, nargs="+", default=["auto"],
                        help='values of validation_fraction to compare, "auto" or floats (default: auto)')
    parser.add_argument("--jobs", type=int, default=1, help="processes running fits side by side")
    parser.add_argument("--mlbench", metavar="PATH", help="mlbench's data folder: adds the Satellite table")
    parser.add_argument("--datasets", nargs="+", choices=["digits", "wine", "cancer", "satellite"],
                        help="run only these (default: all that are available)")
    args = parser.parse_args(argv)
    for name, model, X, y, known in datasets(args.mlbench):
        if args.datasets and name not in args.datasets:
            continue
        splits = protocols.designated_splits(y, known, n_splits=args.n_splits)
        for fraction in args.validation_fraction:
            results = Parallel(n_jobs=args.jobs)(
                delayed(evaluate)(model, X, y, split, len(known) == 1, fraction, seed)
                for seed, split in enumerate(splits)
            )
            summarise(name, fraction, results)


if __name__ == "__main__":
    main()
