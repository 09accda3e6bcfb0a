"""Does a grid search on known classes alone pick the loss that detects unseen ones best?

On digits (0-5 known, 6-9 unseen) and wine (classes 0 and 1 known, 2 unseen)
the known classes are split into a tuning part and a test part. On the tuning
part, ``GridSearchCV`` with :class:`~ibdetect.model_selection.UnseenClassSplit`
and :data:`~ibdetect.metrics.anomaly_roc_auc_scorer` compares ``loss="svdd"``
and ``loss="ib"``; the truly unseen classes are never seen there. Each loss is
then fitted on the whole tuning part and scored on the test part together with
the unseen classes.

    python -m benchmarks.model_selection [--n-splits 5] [--n-unseen-classes 1] [--random-state 0]
"""

import argparse

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits, load_wine
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect.metrics import anomaly_roc_auc_score, anomaly_roc_auc_scorer
from ibdetect.model_selection import UnseenClassSplit

LOSSES = ["svdd", "ib"]


def datasets(seed):
    """Per data set: the model, and the tuning and test parts with unseen classes labelled -1."""
    X, y = load_digits(return_X_y=True)
    yield "digits", IBDeepDescription(random_state=seed), split(X / 16, y, y < 6, seed)
    X, y = load_wine(return_X_y=True)
    # Wine's features span four orders of magnitude.
    model = make_pipeline(StandardScaler(), IBDeepDescription(random_state=seed))
    yield "wine", model, split(X, y, y < 2, seed)


def split(X, y, known, seed):
    X_tune, X_test, y_tune, y_test = train_test_split(
        X[known], y[known], test_size=0.4, stratify=y[known], random_state=seed
    )
    X_test = np.vstack([X_test, X[~known]])
    y_test = np.r_[y_test, np.full((~known).sum(), -1)]
    return X_tune, y_tune, X_test, y_test


def with_loss(model, loss):
    return clone(model).set_params(**{loss_parameter(model): loss})


def loss_parameter(model):
    return "loss" if isinstance(model, IBDeepDescription) else "ibdeepdescription__loss"


def search_scores(model, X, y, cv):
    """Mean validation ROC AUC of each loss as GridSearchCV reports it, and its pick."""
    search = GridSearchCV(
        model, {loss_parameter(model): LOSSES}, scoring=anomaly_roc_auc_scorer, cv=cv, refit=False,
        error_score="raise",
    )
    search.fit(X, y)
    picked = search.best_params_[loss_parameter(model)]
    return dict(zip(LOSSES, search.cv_results_["mean_test_score"])), picked


def test_scores(model, X_tune, y_tune, X_test, y_test):
    """ROC AUC of each loss, fitted on the tuning part, against the truly unseen classes."""
    return {
        loss: anomaly_roc_auc_score(y_test, with_loss(model, loss).fit(X_tune, y_tune).decision_function(X_test))
        for loss in LOSSES
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-splits", type=int, default=5, help="splits of UnseenClassSplit (default: 5)")
    parser.add_argument("--n-unseen-classes", type=int, default=1,
                        help="classes each split of UnseenClassSplit holds out (default: 1)")
    parser.add_argument("--random-state", type=int, default=0, help="seed of the data split, splitter and models")
    args = parser.parse_args(argv)
    print(f"{'data':<8}{'loss':<6}{'search':>8}{'test':>7}  picked")
    for name, model, (X_tune, y_tune, X_test, y_test) in datasets(args.random_state):
        cv = UnseenClassSplit(args.n_splits, n_unseen_classes=args.n_unseen_classes, random_state=args.random_state)
        searched, picked = search_scores(model, X_tune, y_tune, cv)
        tested = test_scores(model, X_tune, y_tune, X_test, y_test)
        for loss in LOSSES:
            mark = "  <-" if loss == picked else ""
            print(f"{name:<8}{loss:<6}{searched[loss]:>8.3f}{tested[loss]:>7.3f}{mark}")


if __name__ == "__main__":
    main()
