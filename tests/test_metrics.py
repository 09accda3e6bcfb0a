import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from ibdetect import IBDeepDescription
from ibdetect.metrics import (
    anomaly_average_precision_score,
    anomaly_average_precision_scorer,
    anomaly_roc_auc_score,
    anomaly_roc_auc_scorer,
    is_anomaly,
)


@pytest.mark.parametrize("y, expected", [
    (np.array([0, -1, 3, -1]), [False, True, False, True]),
    (np.array([1.0, -1.0]), [False, True]),
    (np.array(["a", "b"]), [False, False]),
    (np.array(["a", -1, "b"], dtype=object), [False, True, False]),
    # A label column read from a CSV file holds the marker as text.
    (np.array(["a", "-1", "b"]), [False, True, False]),
    # So does one written as a float or with blanks around it.
    (np.array(["-1.0", "1", " -1", "-1.5"]), [True, False, True, False]),
    (np.array([b"-1", b"a"], dtype=object), [True, False]),
    (np.array([True, False]), [False, False]),
])
def test_is_anomaly_for_every_label_type(y, expected):
    assert is_anomaly(y).tolist() == expected


def test_scores_treat_high_normality_as_normal():
    y = np.array([0, 1, 2, -1, -1])
    perfect = np.array([3.0, 2.0, 1.0, -1.0, -2.0])
    assert anomaly_roc_auc_score(y, perfect) == 1.0
    assert anomaly_roc_auc_score(y, -perfect) == 0.0
    assert anomaly_average_precision_score(y, perfect) == 1.0
    assert anomaly_average_precision_score(y, -perfect) < 0.5


class FirstColumnScores(BaseEstimator):
    """Knows the classes it was fitted on; its normality score is the first feature."""

    def fit(self, X, y):
        self.classes_ = np.unique(np.asarray(y)[~is_anomaly(y)])
        return self

    def decision_function(self, X):
        return np.asarray(X)[:, 0]


class FirstColumnScoresWithoutClasses(FirstColumnScores):
    def fit(self, X, y):
        self.n_features_in_ = np.shape(X)[1]
        return self


def test_known_classes_make_other_labels_anomalies():
    y = np.array(["a", "b", "c", "-1"])
    normality = np.array([3.0, 1.0, 2.0, 0.0])
    # Without known_classes only "-1" is an anomaly, and it scores lowest.
    assert anomaly_roc_auc_score(y, normality) == 1.0
    # With "b" unknown, it is an anomaly that outscores nothing but "-1".
    assert anomaly_roc_auc_score(y, normality, known_classes=["a", "c"]) == 1.0
    assert anomaly_roc_auc_score(y, normality, known_classes=["a", "b"]) == 0.75
    assert anomaly_average_precision_score(y, normality, known_classes=["a", "b"]) < 1.0


# Rows: class 0 (normal, high scores), class 1 (normal), class 2 (unseen, low
# scores), one known anomaly. Fitted on classes 0 and 1.
X_FIT, Y_FIT = np.zeros((4, 1)), np.array([0, 1, 0, 1])
X_TEST = np.array([[5.0], [4.0], [1.0], [0.5], [0.0]])
Y_TEST = np.array([0, 1, 2, 2, -1])


@pytest.mark.parametrize("scorer", [anomaly_roc_auc_scorer, anomaly_average_precision_scorer])
@pytest.mark.parametrize("wrap", [lambda est: est, lambda est: make_pipeline(FunctionTransformer(), est)])
def test_scorers_count_unseen_labels_as_anomalies(scorer, wrap):
    detector = wrap(FirstColumnScores()).fit(X_FIT, Y_FIT)
    assert scorer(detector, X_TEST, Y_TEST) == 1.0
    # Class 2 scoring high counts against the detector; were only -1 an
    # anomaly, the score would stay perfect.
    X_swapped = np.array([[1.0], [0.5], [5.0], [4.0], [0.0]])
    unlabelled = wrap(FirstColumnScoresWithoutClasses()).fit(X_FIT, Y_FIT)
    assert scorer(detector, X_swapped, Y_TEST) < scorer(unlabelled, X_swapped, Y_TEST) == 1.0


def test_scorer_without_classes_counts_only_minus_one():
    detector = FirstColumnScoresWithoutClasses().fit(X_FIT, Y_FIT)
    # Only the -1 row is an anomaly; it scores lowest of all.
    X_mixed = np.array([[1.0], [0.5], [5.0], [4.0], [0.0]])
    assert anomaly_roc_auc_scorer(detector, X_mixed, Y_TEST) == 1.0


def test_scorer_reads_the_labels_svdd_trained_on(blobs, fast):
    X, y, X_unseen = blobs
    detector = IBDeepDescription(loss="svdd", **fast).fit(X[y < 2], y[y < 2])
    assert detector.classes_.tolist() == [1]
    assert detector.normal_labels_.tolist() == [0, 1]
    # Class 2 was never trained on: it counts as unseen, as for any other loss.
    assert anomaly_roc_auc_scorer(detector, X, y) > 0.9
    with pytest.raises(ValueError, match="No test sample is an anomaly"):
        anomaly_roc_auc_scorer(detector, X[y < 2], y[y < 2])


def test_scorer_counts_only_minus_one_without_training_labels(blobs, fast):
    X, y, X_unseen = blobs
    detector = IBDeepDescription(**fast).fit(X)
    assert detector.normal_labels_ is None
    with pytest.raises(ValueError, match="fitted without labels"):
        anomaly_roc_auc_scorer(detector, X, y)
    y_test = np.r_[y, np.full(len(X_unseen), -1)]
    assert anomaly_roc_auc_scorer(detector, np.vstack([X, X_unseen]), y_test) > 0.9


@pytest.mark.parametrize("scorer", [anomaly_roc_auc_scorer, anomaly_average_precision_scorer])
@pytest.mark.parametrize("y_test, message", [
    (np.array([0, 1, 0, 1, 0]), "No test sample is an anomaly"),
    (np.array([2, 2, -1, 3, -1]), "No test sample is normal"),
])
def test_scorers_reject_folds_without_both_kinds(scorer, y_test, message):
    detector = FirstColumnScores().fit(X_FIT, Y_FIT)
    with pytest.raises(ValueError, match=f"{message}.*UnseenClassSplit"):
        scorer(detector, X_TEST, y_test)


# Expected: the NaN scores also bring GridSearchCV's summary warning.
@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_grid_search_reports_folds_without_anomalies():
    X = np.arange(30.0).reshape(-1, 1)
    y = np.tile([0, 1, 2], 10)
    search = GridSearchCV(FirstColumnScores(), {}, scoring=anomaly_roc_auc_scorer, cv=3)
    # GridSearchCV turns a scoring error into NaN, with a warning that
    # carries the scorer's message...
    with pytest.warns(UserWarning, match="No test sample is an anomaly"):
        search.fit(X, y)
    assert np.isnan(search.cv_results_["mean_test_score"]).all()
    # ...and raises it with error_score="raise".
    with pytest.raises(ValueError, match="UnseenClassSplit"):
        search.set_params(error_score="raise").fit(X, y)


@pytest.mark.parametrize("scorer", [anomaly_roc_auc_scorer, anomaly_average_precision_scorer])
@pytest.mark.parametrize("wrap", [lambda detector: detector, lambda detector: make_pipeline(FunctionTransformer(), detector)])
def test_an_unfitted_detector_is_named_as_such_not_its_labels(scorer, wrap):
    with pytest.raises(NotFittedError, match="IBDeepDescription instance is not fitted yet"):
        scorer(wrap(IBDeepDescription()), X_FIT, Y_FIT)


def test_scorer_repr():
    assert repr(anomaly_roc_auc_scorer) == "anomaly_roc_auc_scorer"
