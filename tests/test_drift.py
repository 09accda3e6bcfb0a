"""The drift check: new rows that should be normal, tested against the calibration samples a window at a time."""

import numpy as np
import pytest
from scipy.stats import binom
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect.drift import check_drift, drift_test


@pytest.fixture(scope="module")
def calibrated(make_blobs, blob_centres, fast):
    """A detector of the three blobs with 300 calibration samples, and more normal rows of them."""
    X, y = make_blobs(blob_centres, 1000)
    detector = IBDeepDescription(**fast, validation_fraction=0.1).fit(X, y)
    normal, _ = make_blobs(blob_centres, 2000, seed=1)
    return detector, np.random.RandomState(0).permutation(normal)


def test_normal_rows_raise_few_false_alarms(calibrated):
    detector, normal = calibrated
    result = check_drift(detector, normal, window_size=150)
    assert len(result.windows) == 40
    assert result.drifted.sum() <= 2
    assert result.bound == pytest.approx(0.072, abs=0.005)


def test_a_tenth_of_rows_from_a_new_class_is_flagged_in_every_window(calibrated, make_blobs):
    detector, normal = calibrated
    new, _ = make_blobs([(0, -6, 6, 0, 0, 0)], 400, seed=2)
    stream = np.random.RandomState(1).permutation(np.vstack([normal[:3600], new]))
    result = check_drift(detector, stream, window_size=500)
    assert result.drifted.all()
    assert result.pvalues.max() < 1e-3


def test_the_guarantee_holds_for_most_calibration_sets_not_only_on_average():
    # Scores of a continuous law (here uniform): a calibration set that
    # happens to lie low must not make each window a likely false alarm.
    rng = np.random.RandomState(0)
    window, alpha, confidence = 200, 0.01, 0.95
    rates = []
    for _ in range(1000):
        calibration = rng.rand(60)
        result = drift_test(calibration, rng.rand(window), window, alpha=alpha, confidence=confidence)
        cut = np.sort(calibration)[60 - int(0.05 * 61)]
        # The false-alarm rate of a window of normal rows given this calibration set.
        flagged_from = np.argmax(binom.sf(np.arange(window + 1) - 1, window, result.bound) <= alpha)
        rates.append(binom.sf(flagged_from - 1, window, 1 - cut))
    assert np.mean(np.array(rates) > alpha) <= 1 - confidence + 0.02
    assert np.mean(rates) <= alpha


@pytest.mark.parametrize("n_rows, expected", [
    (1000, [[0, 500], [500, 1000]]),
    (1300, [[0, 500], [500, 1000], [1000, 1300]]),
    (1200, [[0, 500], [500, 1200]]),
    (30, [[0, 30]]),
])
def test_a_last_window_under_half_the_size_joins_the_one_before(n_rows, expected):
    result = drift_test(np.arange(100.0), np.zeros(n_rows), 500)
    assert result.windows.tolist() == expected


def test_a_pipeline_is_checked_on_its_own_input(calibrated, make_blobs, blob_centres, fast):
    X, y = make_blobs(blob_centres, 200)
    pipeline = make_pipeline(StandardScaler(), IBDeepDescription(**fast)).fit(X, y)
    result = check_drift(pipeline, make_blobs(blob_centres, 100, seed=3)[0], window_size=300)
    assert result.windows.tolist() == [[0, 300]] and not result.drifted[0]


def test_without_calibration_samples_or_rows_there_is_nothing_to_test(calibrated, make_blobs, blob_centres, fast):
    X, y = make_blobs(blob_centres, 50)
    uncalibrated = IBDeepDescription(**fast, validation_fraction=None).fit(X, y)
    with pytest.raises(ValueError, match="P-values need normal samples held out of training"):
        check_drift(uncalibrated, X)
    with pytest.raises(ValueError, match="no rows to test for drift"):
        drift_test(np.arange(10.0), np.zeros(0))
    with pytest.raises(ValueError, match="window_size"):
        check_drift(calibrated[0], X, window_size=0)


@pytest.mark.parametrize("calibration, scores, message", [
    (np.arange(10.0), np.zeros((100, 2)), r"scores must be one anomaly score per row, got an array of shape \(100, 2\)"),
    (np.arange(10.0)[:, None], np.zeros(100), "calibration_scores must be one anomaly score per row"),
    (np.arange(10.0), np.full(100, np.nan), "scores holds NaN"),
    (np.zeros(0), np.zeros(100), "calibration_scores holds no scores"),
])
def test_scores_that_would_be_misread_are_refused(calibration, scores, message):
    with pytest.raises(ValueError, match=message):
        drift_test(calibration, scores)


@pytest.mark.parametrize("option", [{"window_size": 0}, {"confidence": 1.5}, {"top_fraction": 0.0}, {"alpha": 2.0}])
def test_drift_test_takes_the_options_check_drift_takes(option):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=f"'{next(iter(option))}' parameter of drift_test"):
        drift_test(np.arange(10.0), np.zeros(100), **option)


def test_windows_too_small_to_be_flagged_are_marked_and_all_of_them_warned_of():
    calibration = np.arange(100.0)
    # The 5 of 100 beyond the cut bound a new row's chance at about 0.09:
    # even a window of rows all far out needs 2 rows to reach 0.01.
    result = drift_test(calibration, np.full(250, 1000.0), window_size=100)
    assert result.min_window_size == 2
    assert result.testable.all() and result.drifted.all()
    # The fewest rows, all far out, that are flagged: one fewer are not.
    assert drift_test(calibration, np.full(2, 1000.0), window_size=2).drifted.all()
    assert result.bound > 0.01
    with pytest.warns(UserWarning, match=r"No window can be flagged: at alpha=0.01, with 100 calibration samples, a "
                                         r"window needs 2 rows or more .*pass window_size=2 or more") as caught:
        result = drift_test(calibration, np.full(20, 1000.0), window_size=1)
    assert caught[0].filename == __file__
    assert not result.testable.any() and not result.drifted.any()
    with pytest.warns(UserWarning, match="a window needs 2 rows or more .*and the scores hold only 1 row[.]"):
        drift_test(calibration, [1000.0])


def test_an_unfitted_detector_is_not_fitted_rather_than_uncalibrated():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        check_drift(IBDeepDescription(), np.zeros((10, 3)))
