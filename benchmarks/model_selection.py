"""Does a grid search on known classes alone pick the loss that detects unseen ones best?

Three settings, each with the defaults otherwise:

* ``digits``: scikit-learn's 8x8 digits as images (``input_shape=(1, 8, 8)``,
  hence the CNN encoder), as the package's demo and image benchmark treat
  them; 0-5 known, 6-9 unseen;
* ``digits-rows``: the same digits as flat rows of 64 features (an MLP and
  the ``"knn+input"`` score);
* ``wine``: classes 0 and 1 known, 2 unseen; standardised in a pipeline.

The known classes are split into a tuning part (60%) and a test part (40%).
On the tuning part, ``GridSearchCV`` with
:class:`~ibdetect.model_selection.UnseenClassSplit` and
:data:`~ibdetect.metrics.anomaly_roc_auc_scorer` compares ``loss="svdd"``
and ``loss="ib"``; the truly unseen classes are never seen there. Each loss is
then fitted on the whole tuning part and scored on the test part together
with the unseen classes. Each seed draws its own split, splitter and models.

    python -m benchmarks.model_selection [--seeds 0 1 2 3 4] [--datasets digits digits-rows wine]
        [--n-splits 5] [--n-unseen-classes 1] [--jobs 2]
"""

import argparse
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect.metrics import anomaly_roc_auc_score, anomaly_roc_auc_scorer
from ibdetect.model_selection import UnseenClassSplit

from . import data

LOSSES = ["svdd", "ib"]
DATASETS = ["digits", "digits-rows", "wine"]


def dataset(name, seed):
    """The model, and the tuning and test parts with the unseen classes labelled -1."""
    if name == "wine":
        X, y = load_wine(return_X_y=True)
        # Wine's features span four orders of magnitude.
        return make_pipeline(StandardScaler(), IBDeepDescription(random_state=seed)), split(X, y, y < 2, seed)
    digits = data.digits()
    image_shape = digits.image_shape if name == "digits" else None
    model = IBDeepDescription(input_shape=image_shape, random_state=seed)
    return model, split(digits.X, digits.y, digits.y < 6, seed)


def split(X, y, known, seed):
    """60% of the known rows tune; the other 40% and every unseen row (labelled -1) test."""
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
    with warnings.catch_warnings():
        # With two known classes the splitter warns that every split trains
        # on one; the table shows the tie that follows. Other warnings show.
        warnings.filterwarnings("ignore", message="UnseenClassSplit holds out", category=UserWarning)
        search.fit(X, y)
    picked = search.best_params_[loss_parameter(model)]
    return dict(zip(LOSSES, search.cv_results_["mean_test_score"])), picked


def test_scores(model, X_tune, y_tune, X_test, y_test):
    """ROC AUC of each loss, fitted on the tuning part, against the truly unseen classes."""
    return {
        loss: anomaly_roc_auc_score(y_test, with_loss(model, loss).fit(X_tune, y_tune).decision_function(X_test))
        for loss in LOSSES
    }


def run_one(name, seed, n_splits, n_unseen_classes):
    """One seed of one data set: the search's scores and pick, and the test scores."""
    model, (X_tune, y_tune, X_test, y_test) = dataset(name, seed)
    cv = UnseenClassSplit(n_splits, n_unseen_classes=n_unseen_classes, random_state=seed)
    searched, picked = search_scores(model, X_tune, y_tune, cv)
    return {"data": name, "seed": seed, "search": searched, "picked": picked,
            "tie": searched["svdd"] == searched["ib"],
            "test": test_scores(model, X_tune, y_tune, X_test, y_test)}


def print_results(results):
    print(f"{'data':<12}{'seed':>4}  {'search svdd':>11}{'ib':>7}  {'test svdd':>9}{'ib':>7}  picked")
    for r in results:
        picked = r["picked"] + (" (tie: first candidate)" if r["tie"] else "")
        print(f"{r['data']:<12}{r['seed']:>4}  {r['search']['svdd']:>11.3f}{r['search']['ib']:>7.3f}"
              f"  {r['test']['svdd']:>9.3f}{r['test']['ib']:>7.3f}  {picked}")
    print()
    for name in dict.fromkeys(r["data"] for r in results):
        rows = [r for r in results if r["data"] == name]
        picked_ib = sum(r["picked"] == "ib" and not r["tie"] for r in rows)
        ib_better = sum(r["test"]["ib"] > r["test"]["svdd"] for r in rows)
        ties = sum(r["tie"] for r in rows)
        print(f"{name}: the search picked 'ib' at {picked_ib} of {len(rows)} seeds and tied at {ties}; "
              f"'ib' was better on the unseen classes at {ib_better}.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                        help="seeds of the data split, splitter and models (default: 0 to 4)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=DATASETS)
    parser.add_argument("--n-splits", type=int, default=5, help="splits of UnseenClassSplit (default: 5)")
    parser.add_argument("--n-unseen-classes", type=int, default=1,
                        help="classes each split of UnseenClassSplit holds out (default: 1)")
    parser.add_argument("--jobs", type=int, default=1, help="processes running seeds side by side")
    args = parser.parse_args(argv)
    results = Parallel(n_jobs=args.jobs)(
        delayed(run_one)(name, seed, args.n_splits, args.n_unseen_classes)
        for name in args.datasets for seed in args.seeds
    )
    print_results(results)


if __name__ == "__main__":
    main()
