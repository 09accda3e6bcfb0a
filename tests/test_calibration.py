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


def test_smoothed_pvalues_lie_within_a_step_below_the_plain_ones():
    rng = np.random.RandomState(0)
    calibration = rng.normal(size=50).round(1)
    scores = np.r_[rng.normal(size=500).round(1), -10.0, 10.0]
    plain = conformal_pvalues(calibration, scores)
    smoothed = conformal_pvalues(calibration, scores, rng.uniform(size=len(scores)))
    # The sample and its ties share the plain p-value's last steps: one for
    # the sample itself, one per tie.
    ties = (calibration[None, :] == scores[:, None]).sum(axis=1)
    assert np.all(smoothed <= plain) and np.all(smoothed >= plain - (1 + ties) / 51 - 1e-12)
    assert np.any(smoothed < plain - 1 / 51)
    # Beyond every calibration score, the draw alone: below 1 / 51.
    assert smoothed[-1] < 1 / 51


@pytest.mark.parametrize(
    "n_calibration, decimals",
    # Continuous scores, and scores on a few levels, many of them tied.
    [(9, None), (30, None), (9, 0), (30, 0)],
)
def test_smoothed_pvalues_flag_exactly_alpha_of_exchangeable_samples(n_calibration, decimals):
    # 20,000 draws of a calibration set and one more normal sample: the plain
    # p-value's smallest step, 1 / (n + 1), is above 0.05 for n = 9, and 1/31
    # for n = 30, so it flags none, or 3.2% instead of 5%.
    rng = np.random.RandomState(0)
    samples = rng.normal(size=(20_000, n_calibration + 1))
    if decimals is not None:
        samples = samples.round(decimals)
    uniforms = np.random.RandomState(1).uniform(size=len(samples))
    smoothed = np.array([conformal_pvalues(row[:-1], row[-1:], [u])[0] for row, u in zip(samples, uniforms)])
    plain = np.array([conformal_pvalues(row[:-1], row[-1:])[0] for row in samples])
    # Binomial spread of a rate of 0.05 over 20,000 draws: 0.0015.
    for alpha in (0.05, 0.3):
        assert abs(np.mean(smoothed <= alpha) - alpha) < 3.5 * np.sqrt(alpha * (1 - alpha) / len(samples))
    if decimals is None:
        assert np.mean(plain <= 0.05) == pytest.approx(np.floor(0.05 * (n_calibration + 1)) / (n_calibration + 1), abs=0.005)


def test_smoothing_is_checked_and_its_draws_repeat_with_an_int(fitted_blobs):
    detector, (X, _, X_unseen) = fitted_blobs
    X_all = np.vstack([X, X_unseen])
    first = detector.pvalues(X_all, smoothing=True, random_state=3)
    np.testing.assert_array_equal(first, detector.pvalues(X_all, smoothing=True, random_state=3))
    assert not np.array_equal(first, detector.pvalues(X_all, smoothing=True, random_state=4))
    assert np.all(first <= detector.pvalues(X_all))
    # One draw per row, which every class's column shares.
    uniforms = np.random.RandomState(3).uniform(size=len(X_all))
    by_class = detector.pvalues(X_all, by_class=True, smoothing=True, random_state=3)
    distances = detector.class_distances(X_all)
    bounds = np.r_[0, np.cumsum(detector.class_calibration_counts_)]
    for c in range(len(detector.classes_)):
        calibration = detector.class_calibration_scores_[bounds[c]:bounds[c + 1]]
        np.testing.assert_allclose(by_class[:, c], conformal_pvalues(calibration, distances[:, c], uniforms))
    # 7 held-out rows per class: too few for plain p-values, which warn at the caller's line.
    with pytest.warns(UserWarning, match="smoothing=True") as record:
        assert np.all(by_class <= detector.pvalues(X_all, by_class=True))
    assert record[0].filename == __file__
    for parameters in ({"smoothing": "yes"}, {"by_class": 1}):
        with pytest.raises(ValueError, match=f"{next(iter(parameters))} must be True or False"):
            detector.pvalues(X_all, **parameters)
    with pytest.raises(ValueError, match="cannot be used to seed"):
        detector.pvalues(X_all, random_state="seed")


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


@pytest.mark.parametrize("contamination", [0.05, 0.2])
def test_contamination_sets_fraction_flagged_in_training(blobs, contamination, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(contamination=contamination, **fast).fit(X, y)
    assert (detector.predict(X) == -1).mean() == pytest.approx(contamination, abs=1 / len(X))


def test_auto_contamination_is_capped_tukey_fence_on_log_distances(blobs, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(anomaly_score="distance", validation_fraction=None, **fast).fit(X, y)
    log_distances = np.log(-detector.score_samples(X))
    q1, q3, q99 = np.percentile(log_distances, [25, 75, 99])
    assert detector.offset_ == pytest.approx(-np.exp(min(q3 + 1.5 * (q3 - q1), q99)))
    assert 0.01 <= (detector.predict(X) == -1).mean() <= 0.05


def test_validation_fraction_reports_validation_loss(blobs, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(validation_fraction=0.25, **fast).fit(X, y)
    row = detector.net_.history[-1]
    assert np.isfinite(row["valid_loss"]) and row["valid_separation"] >= 0


def test_held_out_samples_set_the_auto_threshold_for_new_samples():
    from ibdetect.demo import digits_split

    X_train, y_train, X_test, y_test = digits_split(random_state=0)
    X_new = X_test[y_test != -1]  # new samples of the known digits
    flagged = {}
    for fraction in (None, 0.2):
        detector = IBDeepDescription(
            validation_fraction=fraction, input_shape=(1, 8, 8), hidden_layer_sizes=(16, 32),
            max_epochs=20, anomaly_score="knn", random_state=0,
        ).fit(X_train, y_train)
        flagged[fraction] = (detector.predict(X_new) == -1).mean()
    # The CNN fits its training digits more tightly than new ones; calibrated
    # on digits it never trained on, the threshold allows for that (measured:
    # 5.8% of new normal digits flagged without a held-out part, 1.8% with).
    # The embedding's score alone shows it best: "knn+input" shares the
    # score with the raw pixels, which nothing fitted (3.5% against 2.3%).
    assert flagged[0.2] < flagged[None] / 2


def fit_held_out(fast, targets, validation_fraction):
    """A quick detector fitted on random rows with these targets (-1: a known anomaly)."""
    X = np.random.RandomState(0).normal(size=(len(targets), 4))
    detector = IBDeepDescription(
        anomaly_score="distance", validation_fraction=validation_fraction, **{**fast, "max_epochs": 1}
    )
    return detector.fit(X, targets)


def held_out_normal_rows(detector):
    """Mask of the training rows whose distances calibrate.

    ``decision_scores_`` is minus each training row's distance minus
    ``offset_``, so a held-out normal row's entry is exactly minus its
    calibration score minus ``offset_``.
    """
    if not hasattr(detector, "calibration_scores_"):
        return np.zeros(len(detector.decision_scores_), dtype=bool)
    held_out = np.isin(detector.decision_scores_, -detector.calibration_scores_ - detector.offset_)
    # One row for each calibration score: no two rows lie at the same distance.
    assert held_out.sum() == len(detector.calibration_scores_)
    return held_out


def n_validated(detector):
    """How many samples the net validated on, known anomalies included."""
    return sum(batch.get("valid_batch_size", 0) for batch in detector.net_.history[0, "batches"])


@pytest.mark.parametrize("counts, fraction, expected", [
    ([10, 20, 3], 0.1, [1, 2, 0]),
    ([5, 5], 0.25, [1, 1]),
    ([1, 40], 0.5, [0, 20]),
])
def test_stratified_hold_out_rounds_each_class_down(fast, counts, fraction, expected):
    targets = np.repeat(np.arange(len(counts)), counts)
    detector = fit_held_out(fast, targets, fraction)
    held_out = held_out_normal_rows(detector)
    assert np.bincount(targets[held_out], minlength=len(counts)).tolist() == expected
    # The net validates on the same samples.
    assert n_validated(detector) == sum(expected)


@pytest.mark.parametrize("counts, expected", [
    # A tenth already holds out 19 normal samples or more.
    ([100, 100, 100], [10, 10, 10]),
    # Wine's training rows: a tenth would hold out 3 + 4.
    ([35, 43], [9, 11]),
    # Small data: 30% of each class at most, fewer than 19 in all.
    ([20, 20], [6, 6]),
    # Classes of fewer than 10 samples stay whole, as with a tenth.
    ([5] * 10, [0] * 10),
    ([9, 60], [0, 18]),
])
def test_auto_validation_fraction_holds_out_enough_to_calibrate(fast, counts, expected):
    targets = np.repeat(np.arange(len(counts)), counts)
    detector = fit_held_out(fast, targets, "auto")
    held_out = held_out_normal_rows(detector)
    assert np.bincount(targets[held_out], minlength=len(counts)).tolist() == expected
    assert hasattr(detector, "calibration_scores_") == (sum(expected) > 0)


def test_auto_validation_fraction_counts_normal_samples_only(fast):
    # 40 normal samples need 30% for 19 (rounded down: 12); the 200 known
    # anomalies, held out at the same rate, do not calibrate p-values.
    targets = np.r_[np.zeros(40, dtype=int), np.full(200, -1)]
    detector = fit_held_out(fast, targets, "auto")
    held_out = held_out_normal_rows(detector)
    assert (held_out[targets == 0].sum(), n_validated(detector) - held_out.sum()) == (12, 60)
    assert len(detector.calibration_scores_) == 12


def test_a_contamination_share_that_flags_far_more_new_samples_says_so():
    import warnings

    X = np.random.RandomState(0).normal(size=(300, 4))
    # The 1st nearest reference of a reference row is itself: the 270 training
    # rows score 0, and the top 5% of all 300 rows are half the held-out 30.
    settings = dict(contamination=0.05, validation_fraction=0.1, max_epochs=2, random_state=0)
    with pytest.warns(UserWarning, match=r"contamination=0.05 flags that share of the samples fit was given, .* but "
                                         r"15 of the 30 samples held out of training \(50%\).*pvalues\(X\) <= 0.05") as caught:
        IBDeepDescription(n_neighbors=1, **settings).fit(X)
    assert caught[0].filename == __file__
    from ibdetect.exceptions import ContaminationShareWarning

    warning = caught[0].message
    assert isinstance(warning, ContaminationShareWarning)
    assert (warning.contamination, warning.flagged, warning.n_held_out) == (0.05, 15, 30)
    # The centre distance scores training rows as new ones: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        IBDeepDescription(anomaly_score="distance", **settings).fit(X)


def test_plain_p_values_too_coarse_for_005_say_so(blobs, fast):
    import warnings

    X, y, X_unseen = blobs
    few = IBDeepDescription(**fast, validation_fraction=0.1).fit(X, y)
    n = len(few.calibration_scores_)
    assert n < 19
    with pytest.warns(UserWarning, match=rf"Only {n} normal samples were held out: plain p-values are at least "
                                         rf"1 / {n + 1} = .*so p <= 0.05 flags no sample.*smoothing=True") as caught:
        assert few.pvalues(X_unseen).min() == 1 / (n + 1)
    assert caught[0].filename == __file__
    enough = IBDeepDescription(**fast, validation_fraction=0.3).fit(X, y)
    assert len(enough.calibration_scores_) >= 19
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        few.pvalues(X_unseen, smoothing=True, random_state=0)
        enough.pvalues(X_unseen)
