"""Can synthetic anomalies choose a one-class model when there are no labels at all?

Digits' one-class protocol: each digit in turn is the only normal class; 60%
of its rows are all there is to tune and train on, without labels, and the
test is its other 40% against every other digit. A ``GridSearchCV`` with
``KFold(3)`` compares a few settings by the ROC AUC of each validation fold's
normal rows against as many synthetic anomalies, drawn from one of:

* ``box``: uniformly in the bounding box of the fold, widened by 10% on each
  side;
* ``shuffled``: each feature drawn from its own values in the fold,
  independently of the others, which keeps every feature's range and
  distribution and breaks their dependence.

The chosen setting, refitted on all the tuning rows, is then tested against
the true anomalies, next to the default setting and the best setting in
hindsight.

    python -m benchmarks.one_class_selection [--random-state 0] [--jobs 2]
"""

import argparse
import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid

from ibdetect import IBDeepDescription

from . import protocols

GRID = {"max_epochs": [10, 50, 150], "embedding_dim": [8, 32], "hidden_layer_sizes": [(64,), (256, 128)]}
DEFAULT = {"max_epochs": 50, "embedding_dim": 32, "hidden_layer_sizes": (256, 128)}


def box_anomalies(X, rng):
    low, high = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * (high - low)
    return rng.uniform(low - margin, high + margin, size=X.shape)


def shuffled_anomalies(X, rng):
    return np.column_stack([rng.choice(column, len(X)) for column in X.T])


GENERATORS = {"box": box_anomalies, "shuffled": shuffled_anomalies}


def synthetic_anomaly_scorer(generator, seed):
    """A scorer: ROC AUC of the fold's rows against synthetic anomalies made from them."""

    def score(estimator, X, y=None):
        anomalies = generator(X, np.random.RandomState(seed))
        is_anomaly = np.r_[np.zeros(len(X)), np.ones(len(anomalies))]
        return roc_auc_score(is_anomaly, -estimator.score_samples(np.vstack([X, anomalies])))

    return score


def test_auc(params, X_train, X_test, is_anomaly, seed):
    detector = IBDeepDescription(random_state=seed, **params).fit(X_train)
    return roc_auc_score(is_anomaly, -detector.score_samples(X_test))


def one_class(X, split, seed):
    """Test ROC AUC of every candidate, and each generator's choice, for one normal class."""
    torch.set_num_threads(1)
    X_train, X_test = X[split.train], X[split.test]
    candidates = list(ParameterGrid(GRID))
    tested = [test_auc(params, X_train, X_test, split.test_is_anomaly, seed) for params in candidates]
    scoring = {name: synthetic_anomaly_scorer(generator, seed) for name, generator in GENERATORS.items()}
    search = GridSearchCV(
        IBDeepDescription(random_state=seed), GRID, scoring=scoring,
        cv=KFold(3, shuffle=True, random_state=seed), refit=False, error_score="raise",
    ).fit(X_train)
    params = search.cv_results_["params"]
    chosen = {
        name: tested[candidates.index(params[int(np.argmin(search.cv_results_[f"rank_test_{name}"]))])]
        for name in GENERATORS
    }
    return {"default": tested[candidates.index(DEFAULT)], **chosen, "best in hindsight": max(tested)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-state", type=int, default=0, help="seed of the splits and models")
    parser.add_argument("--jobs", type=int, default=1, help="processes running side by side")
    args = parser.parse_args(argv)
    X, y = load_digits(return_X_y=True)
    splits = protocols.oneclass_splits(y, seed=args.random_state)
    results = Parallel(n_jobs=args.jobs)(delayed(one_class)(X / 16.0, split, args.random_state) for split in splits)
    print(f"{'normal':<10}" + "".join(f"{name:>19}" for name in results[0]))
    for split, result in zip(splits, results):
        print(f"{split.name:<10}" + "".join(f"{auc:>19.3f}" for auc in result.values()))
    print(f"{'mean':<10}" + "".join(f"{np.mean([r[name] for r in results]):>19.3f}" for name in results[0]))


if __name__ == "__main__":
    main()
