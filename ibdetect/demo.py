"""The main job on scikit-learn's bundled digits: detect digits never seen in training.

Digits 0-5 are the known normal classes; 6-9 are unseen, so every one of them is
an anomaly. The detector trains on 60% of the known digits, with their labels,
and scores the other 40% together with all unseen digits. IsolationForest, the
usual first choice, runs on the same split for comparison.

Run it with ``ibdetect demo`` or ``python -m ibdetect.demo``.
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import train_test_split

from . import IBDeepDescription
from .metrics import anomaly_average_precision_score, anomaly_roc_auc_score

__all__ = ["digits_split", "main", "run_digits_demo"]

KNOWN_DIGITS = range(6)
DESCRIPTION = "Detect unseen digits (6-9) after training on known digits (0-5)."


def digits_split(random_state=0):
    """Split digits into known-class training data and a test set with unseen digits.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the stratified 60/40 split of the known digits.

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarray
        ``y_train`` holds digits 0-5; ``y_test`` holds the known digits of the
        test part and -1 for every unseen digit.
    """
    X, y = load_digits(return_X_y=True)
    known = np.isin(y, KNOWN_DIGITS)
    X_train, X_known_test, y_train, y_known_test = train_test_split(
        X[known], y[known], test_size=0.4, stratify=y[known], random_state=random_state
    )
    X_test = np.vstack([X_known_test, X[~known]])
    y_test = np.concatenate([y_known_test, np.full((~known).sum(), -1)])
    return X_train, y_train, X_test, y_test


def run_digits_demo(random_state=0, **params):
    """Fit IBDeepDescription and IsolationForest on the digits split and score both.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the split and of both detectors.
    **params
        Parameters of IBDeepDescription, e.g. ``max_epochs=5`` for a quick run.

    Returns
    -------
    results : list of dict
        One row per detector: ``method``, ``roc_auc``, ``average_precision``,
        ``flagged_normal`` and ``flagged_unseen`` (fractions predicted -1) and
        ``fit_seconds``.
    """
    X_train, y_train, X_test, y_test = digits_split(random_state)
    detectors = {
        # Rows are 8x8 images: input_shape lets encoder="auto" pick the CNN.
        "IBDeepDescription": IBDeepDescription(input_shape=(1, 8, 8), random_state=random_state, **params),
        "IsolationForest": IsolationForest(random_state=random_state),
    }
    unseen = y_test == -1
    results = []
    for name, detector in detectors.items():
        start = time.perf_counter()
        detector.fit(X_train, y_train)
        fit_seconds = time.perf_counter() - start
        scores = detector.decision_function(X_test)
        flagged = detector.predict(X_test) == -1
        results.append(
            {
                "method": name,
                "roc_auc": anomaly_roc_auc_score(y_test, scores),
                "average_precision": anomaly_average_precision_score(y_test, scores),
                "flagged_normal": flagged[~unseen].mean(),
                "flagged_unseen": flagged[unseen].mean(),
                "fit_seconds": fit_seconds,
            }
        )
    return results


def format_results(results):
    """Render the rows of :func:`run_digits_demo` as an aligned text table."""
    header = f"{'method':<20}{'ROC AUC':>9}{'avg prec':>10}{'flag normal':>13}{'flag unseen':>13}{'fit (s)':>9}"
    lines = [header, "-" * len(header)]
    for row in results:
        lines.append(
            f"{row['method']:<20}{row['roc_auc']:>9.3f}{row['average_precision']:>10.3f}"
            f"{row['flagged_normal']:>13.1%}{row['flagged_unseen']:>13.1%}{row['fit_seconds']:>9.1f}"
        )
    return "\n".join(lines)


def add_arguments(parser):
    """Add the demo's options to an argparse parser.

    Shared by ``python -m ibdetect.demo`` and ``ibdetect demo``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    """
    parser.add_argument("--random-state", type=int, default=0, help="seed of split and models")
    parser.add_argument("--max-epochs", type=int, default=None, help="training epochs (default: the estimator's)")


def run_from_args(args):
    """Run the demo with the options of :func:`add_arguments` and print the table.

    Parameters
    ----------
    args : argparse.Namespace
        Holds ``random_state`` and ``max_epochs``.
    """
    params = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    print(
        "Digits: train on 60% of digits 0-5 with their labels; test on the other 40%\n"
        "and on all digits 6-9 (unseen classes = anomalies).\n"
    )
    print(format_results(run_digits_demo(args.random_state, **params)))


def main(argv=None):
    """Run the demo from the command line (``python -m ibdetect.demo``).

    Parameters
    ----------
    argv : list of str, default=None
        Options such as ``["--max-epochs", "5"]``; None reads ``sys.argv``.
    """
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    add_arguments(parser)
    run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    main()
