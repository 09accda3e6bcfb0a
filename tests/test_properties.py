"""Properties of a fitted detector that hold for any test data hypothesis draws.

One small detector per anomaly score is fitted for the whole module; the
properties vary the data it scores, or the bad input a failing fit gets.
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ibdetect import IBDeepDescription

N_FEATURES = 6
# Any value a float32 holds: the network computes in float32, and larger
# values are rejected as infinite before they reach it.
FLOAT32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
# Near the data as well as far out, where the network's arithmetic overflows.
TEST_DATA = arrays(np.float64, st.tuples(st.integers(1, 40), st.just(N_FEATURES)), elements=FLOAT32)
# Values whose products with the weights overflow float32 inside the
# network, with signs that make the overflows cancel into NaN.
HUGE = np.array([[-1, -1, -1, -1, -1, 1], [1, -1, 1, -1, 1, -1]]) * float(np.finfo(np.float32).max)
PROPERTIES = settings(max_examples=25, deadline=None)


@pytest.fixture(scope="module", params=["knn", "distance"])
def detector(request, fast):
    rng = np.random.RandomState(0)
    centres = np.array([[-6, 0, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0], [0, 6, 0, 0, 0, 0]], dtype=float)
    X = np.vstack([rng.normal(centre, 1.0, (40, N_FEATURES)) for centre in centres])
    return IBDeepDescription(anomaly_score=request.param, **fast).fit(X, np.repeat([0, 1, 2], 40))


@PROPERTIES
@given(X=TEST_DATA)
@example(X=HUGE)
def test_scores_are_finite_for_finite_input(detector, X):
    scores = detector.decision_function(X)
    assert np.isfinite(scores).all()


@PROPERTIES
@given(X=TEST_DATA)
@example(X=HUGE)
def test_predict_is_the_sign_of_decision_function(detector, X):
    np.testing.assert_array_equal(detector.predict(X), np.where(detector.decision_function(X) < 0, -1, 1))


@PROPERTIES
@given(data=st.data())
def test_permuting_rows_permutes_scores(detector, data):
    X = data.draw(TEST_DATA, label="X")
    order = np.array(data.draw(st.permutations(range(len(X))), label="order"))
    # Equal up to float32 rounding: the network's matrix products may round a
    # row differently depending on where it sits in the batch.
    np.testing.assert_allclose(
        detector.decision_function(X[order]), detector.decision_function(X)[order], rtol=1e-5, atol=1e-4
    )


# Bad input of each kind, made from the training data and drawn positions.
def with_value(value):
    return lambda X, y, row, column: (_set(X, row, column, value), y, {})


def _set(X, row, column, value):
    X = X.copy()
    X[row % len(X), column % X.shape[1]] = value
    return X


BAD_FITS = {
    "NaN": with_value(np.nan),
    "infinity": with_value(-np.inf),
    "beyond float32": with_value(1e39),
    "y of another length": lambda X, y, row, column: (X, y[: row % len(y)], {}),
    "only known anomalies": lambda X, y, row, column: (X, -np.ones(len(y), dtype=int), {}),
    "one sample": lambda X, y, row, column: (X[row % len(X):][:1], y[row % len(y):][:1], {}),
    "more neighbours than samples": lambda X, y, row, column: (
        X, y, {"anomaly_score": "knn", "n_neighbors": 200 + row}
    ),
    "divergence": lambda X, y, row, column: (X, y, {"lr": 1e20}),
}


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(sorted(BAD_FITS)), row=st.integers(0, 1000), column=st.integers(0, N_FEATURES - 1))
def test_a_failed_fit_changes_nothing(detector, kind, row, column):
    rng = np.random.RandomState(1)
    X, y = rng.normal(size=(60, N_FEATURES)), np.repeat([0, 1, 2], 20)
    X_bad, y_bad, params = BAD_FITS[kind](X, y, row, column)
    expected = detector.decision_function(X)
    fitted = dict(vars(detector))
    original = {name: getattr(detector, name) for name in params}
    try:
        with pytest.raises((ValueError, FloatingPointError)):
            detector.set_params(**params).fit(X_bad, y_bad)
    finally:
        detector.set_params(**original)
    assert vars(detector).keys() == fitted.keys()
    assert all(vars(detector)[name] is value for name, value in fitted.items())
    np.testing.assert_array_equal(detector.decision_function(X), expected)
