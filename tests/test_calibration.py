import numpy as np
import pytest

from ibdetect import IBDeepDescription
from ibdetect._calibration import conformal_pvalues


def brute_force_pvalues(calibration, scores):
    return np.array([(1 + np.sum(calibration >= score)) / (1 + len(calibration)) for score in scores])


def test_conformal_pvalues_match_the_formula_with_ties():
    rng = np.random.RandomState(0)
    # Rounded to one decimal, so that many scores tie with calibration scores.
    calibration = rng.normal(size=50).round(1)
    scores = np.r_[rng.normal(size=200).round(1), calibration[:5], -10.0, 10.0]
    np.testing.assert_allclose(conformal_pvalues(calibration, scores), brute_force_pvalues(calibration, scores))


def test_conformal_pvalues_at_the_extremes():
    calibration = np.array([3.0, 1.0, 2.0])
    # Farther than every calibration score: 1/4; closer than all: 1; a tie
    # counts as at least as far.
    np.testing.assert_allclose(conformal_pvalues(calibration, [4.0, 0.0, 2.0]), [0.25, 1.0, 0.75])


def test_pvalues_use_the_held_out_normal_samples(fitted_blobs):
    detector, (X, _, X_unseen) = fitted_blobs
    # validation_fraction="auto": a tenth of 120 rows would hold out 12, so
    # it holds out 22/120 of each class of 40 (7.3, rounded down) to reach 19.
    assert len(detector.calibration_scores_) == 3 * 7
    assert np.all(np.diff(detector.calibration_scores_) >= 0)
    X_all = np.vstack([X, X_unseen])
    expected = brute_force_pvalues(detector.calibration_scores_, -detector.score_samples(X_all))
    np.testing.assert_allclose(detector.pvalues(X_all), expected)


def test_pvalues_lie_in_the_unit_interval_and_fall_with_the_distance(fitted_blobs):
    detector, (X, _, X_unseen) = fitted_blobs
    X_all = np.vstack([X, X_unseen])
    pvalues = detector.pvalues(X_all)
    assert np.all((pvalues > 0) & (pvalues <= 1))
    by_distance = np.argsort(-detector.score_samples(X_all), kind="stable")
    assert np.all(np.diff(pvalues[by_distance]) <= 0)
    assert pvalues.min() == pytest.approx(1 / (len(detector.calibration_scores_) + 1))
    assert np.median(detector.pvalues(X_unseen)) < np.median(detector.pvalues(X))


def test_predict_proba_is_the_pvalue_and_its_complement(fitted_blobs):
    detector, (X, _, X_unseen) = fitted_blobs
    X_all = np.vstack([X, X_unseen])
    proba = detector.predict_proba(X_all)
    assert proba.shape == (len(X_all), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 0], detector.pvalues(X_all))


def test_no_held_out_samples_no_pvalues(blobs, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(validation_fraction=None, **fast).fit(X, y)
    assert not hasattr(detector, "calibration_scores_")
    with pytest.raises(ValueError, match="validation_fraction=None"):
        detector.pvalues(X)
    # predict_proba is absent, as scikit-learn's optional methods are, and
    # reaching for it says why.
    assert not hasattr(detector, "predict_proba")
    with pytest.raises(AttributeError, match="predict_proba") as info:
        detector.predict_proba(X)
    assert "validation_fraction=None" in str(info.value.__cause__)


def test_classes_too_small_to_hold_out_give_no_pvalues(blobs, fast):
    X, y, _ = blobs
    # 0.02 of 40 samples rounds down to none.
    detector = IBDeepDescription(validation_fraction=0.02, **fast).fit(X, y)
    with pytest.raises(ValueError, match="validation_fraction=0.02"):
        detector.pvalues(X)


def test_few_shot_classes_keep_every_sample_by_default(blobs, fast):
    X, y, _ = blobs
    # Five samples per class: "auto" holds none of them out.
    few = np.concatenate([np.flatnonzero(y == label)[:5] for label in np.unique(y)])
    detector = IBDeepDescription(**fast).fit(X[few], y[few])
    assert not hasattr(detector, "calibration_scores_")
    with pytest.raises(ValueError, match="'auto' nothing of a class of fewer than 10 samples"):
        detector.pvalues(X)


def test_unfitted_pvalues_and_predict_proba_raise_not_fitted(blobs):
    from sklearn.exceptions import NotFittedError

    X, _, _ = blobs
    for method in ("pvalues", "predict_proba"):
        with pytest.raises(NotFittedError):
            getattr(IBDeepDescription(), method)(X)


def with_known_anomalies(blobs):
    X, y, X_unseen = blobs
    return np.vstack([X, X_unseen]), np.r_[y, -np.ones(len(X_unseen), dtype=int)]


@pytest.mark.parametrize(
    "validation_fraction, anomalies", [(None, False), (0.1, False), (0.25, False), (0.25, True)]
)
def test_training_scores_and_labels_follow_the_rows_of_x(blobs, validation_fraction, anomalies, fast):
    X, y = with_known_anomalies(blobs) if anomalies else blobs[:2]
    # Shuffled, so that holding out a part reorders the rows in fit.
    shuffle = np.random.RandomState(0).permutation(len(X))
    X, y = X[shuffle], y[shuffle]
    detector = IBDeepDescription(validation_fraction=validation_fraction, **fast).fit(X, y)
    # Embedding in other batches rounds float32 differently.
    np.testing.assert_allclose(detector.decision_scores_, detector.decision_function(X), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(detector.labels_, detector.predict(X))
    np.testing.assert_array_equal(detector.labels_ == -1, -detector.score_samples(X) > detector.threshold_)
    assert detector.threshold_ == -detector.offset_


def test_flag_rate_of_new_normal_samples_is_about_alpha(fast, make_blobs):
    # Exchangeable data: the held-out half and the new samples come from the
    # training distribution.
    X, _ = make_blobs([[0, 0, 0, 0]], 2000, seed=0)
    X_new, _ = make_blobs([[0, 0, 0, 0]], 2000, seed=1)
    detector = IBDeepDescription(validation_fraction=0.5, **fast).fit(X)
    assert len(detector.calibration_scores_) == 1000
    alpha = 0.1
    flagged = np.mean(detector.pvalues(X_new) <= alpha)
    # The rate varies with the 1,000 calibration samples and the 2,000 new
    # ones, each by a binomial standard deviation of about 0.01.
    assert abs(flagged - alpha) < 0.04
