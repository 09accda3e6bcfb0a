import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from ibdetect import IBDeepDescription
from ibdetect.metrics import anomaly_average_precision_scorer, anomaly_roc_auc_scorer

# The only common check expected to fail, and why.
EXPECTED_FAILED_CHECKS = {
    "check_methods_subset_invariance": (
        "float32 matrix products may round differently with the batch's size, so "
        "scores of a subset can differ from the full batch's in the 7th digit."
    ),
}


@parametrize_with_checks(
    [IBDeepDescription(max_epochs=2, hidden_layer_sizes=(16,), embedding_dim=4, random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def labelled_with_anomalies(blobs):
    """Known classes 0-2 plus the unseen class labelled -1."""
    X, y, X_unseen = blobs
    return np.vstack([X, X_unseen]), np.r_[y, -np.ones(len(X_unseen), dtype=int)]


def test_clone_keeps_parameters_and_drops_fit(blobs, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(beta=3.0, **fast).fit(X, y)
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert not hasattr(copy, "net_")


def test_pipeline_with_scaler(blobs, fast):
    X, y, X_unseen = blobs
    pipe = make_pipeline(StandardScaler(), IBDeepDescription(**fast)).fit(X, y)
    assert (pipe.predict(X_unseen) == -1).mean() > 0.9
    embeddings = make_pipeline(StandardScaler(), IBDeepDescription(**fast)).fit_transform(X, y)
    assert embeddings.shape == (len(X), fast["embedding_dim"])


def test_cross_val_score_with_package_scorer(blobs, fast):
    X, y = labelled_with_anomalies(blobs)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(IBDeepDescription(**fast), X, y, cv=cv, scoring=anomaly_roc_auc_scorer)
    assert scores.shape == (3,) and scores.min() > 0.9


def test_grid_search_with_sklearn_roc_auc_on_plus_minus_one_labels(blobs, fast):
    # Mode (a): y is +1 for normal, -1 for anomalies; sklearn's own scorer.
    X, y = labelled_with_anomalies(blobs)
    y_pm = np.where(y == -1, -1, 1)
    search = GridSearchCV(
        # One centre for three blobs takes a few more epochs to fit.
        IBDeepDescription(**{**fast, "max_epochs": 20}),
        {"beta": [1.5, 4.0]},
        scoring="roc_auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        error_score="raise",
    ).fit(X, y_pm)
    # Every candidate is scored, none NaN, and the best is the best of them.
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and search.best_score_ == scores.max() > 0.9
    assert search.best_estimator_.classes_.tolist() == [1]


@pytest.mark.filterwarnings("ignore:These parameters have no effect")  # margin with loss="mcdd", on purpose
def test_grid_search_with_package_scorers_on_class_labels(blobs, fast):
    # Mode (b): y holds the known classes and -1 for anomalies.
    X, y = labelled_with_anomalies(blobs)
    search = GridSearchCV(
        IBDeepDescription(**fast),
        {"margin": [0.0, 1.0], "loss": ["ib", "mcdd"]},
        scoring={"roc_auc": anomaly_roc_auc_scorer, "average_precision": anomaly_average_precision_scorer},
        refit="roc_auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        error_score="raise",
    ).fit(X, y)
    assert search.best_score_ > 0.9
    assert np.all(search.cv_results_["mean_test_average_precision"] > 0.8)
    assert search.best_estimator_.classes_.tolist() == [0, 1, 2]


def test_grid_search_is_silent_with_verbose_zero(blobs, capsys, fast):
    X, y = labelled_with_anomalies(blobs)
    GridSearchCV(
        IBDeepDescription(**fast), {"beta": [2.0]}, scoring=anomaly_roc_auc_scorer,
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    ).fit(X, y)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("scorer", [anomaly_roc_auc_scorer, anomaly_average_precision_scorer])
def test_package_scorers_rank_anomalies_as_positives(blobs, scorer, fast):
    X, y = labelled_with_anomalies(blobs)
    detector = IBDeepDescription(**fast).fit(*blobs[:2])
    assert scorer(detector, X, y) > 0.9
    # Swap the roles: the normal samples become the positives. Both metrics
    # are then below chance (0.5 for ROC AUC, the positive rate for AP).
    flipped = np.where(y == -1, 0, -1)
    chance = 0.5 if scorer is anomaly_roc_auc_scorer else np.mean(flipped == -1)
    assert scorer(detector, X, flipped) < chance
