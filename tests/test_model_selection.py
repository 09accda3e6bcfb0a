import math
import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect.metrics import anomaly_roc_auc_scorer, is_anomaly
from ibdetect.model_selection import UnseenClassSplit


def labels(class_sizes, n_anomalies=0):
    """Labels 0, 1, ... with the given number of rows each, then -1 rows, shuffled."""
    y = np.r_[np.repeat(np.arange(len(class_sizes)), class_sizes), np.full(n_anomalies, -1)]
    return np.random.RandomState(0).permutation(y)


def splits(cv, y):
    return list(cv.split(np.zeros((len(y), 1)), y))


SETTINGS = [
    # class sizes, known anomalies, n_splits, n_unseen_classes, test_size
    ([10, 10, 10], 0, 3, 1, 0.2),
    ([10, 10, 10], 0, 5, 1, 0.2),
    ([8, 12, 5, 9, 20], 6, 4, 2, 0.3),
    ([8, 12, 5, 9, 20], 1, 2, 0.5, 0.25),
    ([2, 3], 0, 2, 1, 0.5),
]


@pytest.mark.filterwarnings("ignore:UnseenClassSplit holds out:UserWarning")
@pytest.mark.parametrize("sizes, n_anomalies, n_splits, n_unseen, test_size", SETTINGS)
def test_each_split_holds_whole_classes_out_of_training(sizes, n_anomalies, n_splits, n_unseen, test_size):
    y = labels(sizes, n_anomalies)
    cv = UnseenClassSplit(n_splits, n_unseen_classes=n_unseen, test_size=test_size, random_state=0)
    folds = splits(cv, y)
    assert len(folds) == cv.get_n_splits() == n_splits
    n_held_out = n_unseen if isinstance(n_unseen, int) else max(1, math.floor(n_unseen * len(sizes)))
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0
        assert np.array_equal(np.sort(np.r_[train, test]), np.arange(len(y)))
        trained = set(y[train].tolist()) - {-1}
        held_out = set(y[test].tolist()) - trained - {-1}
        assert len(held_out) == n_held_out
        for label in held_out:
            assert np.sum(y[test] == label) == sizes[label]
        # Every class that stays known trains and has its test share.
        assert len(trained) == len(sizes) - n_held_out
        for label in trained:
            assert np.sum(y[test] == label) == math.ceil(test_size * sizes[label])
        assert np.sum(y[test] == -1) == math.ceil(test_size * n_anomalies)
        assert np.sum(y[train] == -1) == n_anomalies - math.ceil(test_size * n_anomalies)


@pytest.mark.parametrize("n_classes, n_splits, n_unseen", [(3, 3, 1), (5, 5, 2), (4, 7, 1), (6, 2, 3), (7, 3, 2)])
def test_classes_are_held_out_in_turn(n_classes, n_splits, n_unseen):
    y = labels([6] * n_classes)
    counts = np.zeros(n_classes, dtype=int)
    for train, _ in splits(UnseenClassSplit(n_splits, n_unseen_classes=n_unseen, random_state=1), y):
        counts[np.setdiff1d(np.arange(n_classes), y[train])] += 1
    assert counts.sum() == n_splits * n_unseen
    assert counts.max() - counts.min() <= 1
    if n_splits * n_unseen >= n_classes:
        assert counts.min() >= 1


def test_splits_depend_only_on_an_int_random_state():
    y = labels([10, 10, 10, 10])
    first = splits(UnseenClassSplit(4, random_state=3), y)
    again = splits(UnseenClassSplit(4, random_state=3), y)
    other = splits(UnseenClassSplit(4, random_state=4), y)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(first, other))


@pytest.mark.filterwarnings("ignore:UnseenClassSplit holds out:UserWarning")
def test_repeated_hold_out_draws_new_test_rows():
    # Two classes, four splits: each class is held out twice, with a different
    # draw of the other class's test rows each time.
    y = labels([20, 20])
    tests = [test for _, test in splits(UnseenClassSplit(4, random_state=0), y)]
    assert len({tuple(test) for test in tests}) == 4


def test_string_labels_with_the_text_marker():
    y = np.array(["cat", "dog", "-1", "bird"] * 5)
    for train, test in splits(UnseenClassSplit(3, random_state=0), y):
        assert len(set(y[test]) - set(y[train])) == 1
        assert is_anomaly(y[test]).sum() == 1 and is_anomaly(y[train]).sum() == 4


def test_repr():
    assert repr(UnseenClassSplit(3, random_state=0)).split() == (
        "UnseenClassSplit(n_splits=3, n_unseen_classes=1, random_state=0, test_size=0.2)".split()
    )


@pytest.mark.parametrize("y, kwargs, message", [
    (None, {}, "needs y"),
    (labels([10]), {}, "at least two known classes"),
    (labels([10], n_anomalies=5), {}, "at least two known classes"),
    (labels([10, 10, 10]), {"n_unseen_classes": 3}, "hold out at most 2"),
    (labels([10, 1, 10]), {}, r"classes \[1\] have too few rows"),
    (labels([10, 3, 10]), {"test_size": 0.7}, r"classes \[1\] have too few rows.*lower test_size"),
])
def test_split_refuses_what_it_cannot_split(y, kwargs, message):
    X = np.zeros((30 if y is None else len(y), 1))
    with pytest.raises(ValueError, match=message):
        next(UnseenClassSplit(**kwargs).split(X, y))


@pytest.mark.parametrize("sizes, n_unseen, warns", [
    ([10, 10], 1, True),
    ([10, 10, 10], 2, True),
    ([10, 10, 10], 1, False),
])
def test_split_warns_when_every_split_trains_on_one_class(sizes, n_unseen, warns):
    y = labels(sizes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(UnseenClassSplit(n_unseen_classes=n_unseen).split(np.zeros((len(y), 1)), y))
    messages = [str(warning.message) for warning in caught]
    assert any("a single class" in message for message in messages) == warns


def test_split_rejects_labels_of_another_length():
    with pytest.raises(ValueError, match="X has 5 rows but y has 6"):
        next(UnseenClassSplit().split(np.zeros((5, 1)), labels([3, 3])))


@pytest.mark.parametrize("kwargs, message", [
    ({"n_splits": 0}, "n_splits must be an int >= 1"),
    ({"n_splits": 2.0}, "n_splits must be an int >= 1"),
    ({"n_unseen_classes": 0}, "n_unseen_classes must be an int >= 1"),
    ({"n_unseen_classes": 1.0}, "n_unseen_classes must be an int >= 1"),
    ({"test_size": 0.0}, r"test_size must be a float in \(0, 1\)"),
    ({"test_size": 1}, r"test_size must be a float in \(0, 1\)"),
])
def test_invalid_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UnseenClassSplit(**kwargs)


def test_grid_search_scores_every_fold(blobs, fast):
    X, y, _ = blobs
    search = GridSearchCV(
        make_pipeline(StandardScaler(), IBDeepDescription(**fast)),
        {"ibdeepdescription__loss": ["mcdd", "ib"]},
        cv=UnseenClassSplit(3, random_state=0),
        scoring=anomaly_roc_auc_scorer,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    # On blobs this far apart, a held-out blob is easy to tell from the others.
    assert scores.min() > 0.9


def test_grid_search_scores_svdd_and_ib_on_held_out_classes(blobs, fast):
    X, y, _ = blobs
    search = GridSearchCV(
        IBDeepDescription(**fast),
        {"loss": ["svdd", "ib"]},
        cv=UnseenClassSplit(3, random_state=0),
        scoring=anomaly_roc_auc_scorer,
        error_score="raise",
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and search.best_score_ == scores.max()
