"""explain: each feature's share of a score, and the reference rows it compared with; class-wise p-values."""

import io
import itertools
import sys
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.covariance import ledoit_wolf

from ibdetect import IBDeepDescription
from ibdetect._anomaly_score import embedding_units
from ibdetect._distances import kth_neighbor_distances
from ibdetect import _explanation
from ibdetect._explanation import (
    MAX_BROKEN,
    OUT_OF_PLACE_CANDIDATES,
    OUT_OF_PLACE_PRIOR,
    OUT_OF_PLACE_SET_SIZE,
    VARIANCE_FLOOR,
    _likely_clean,
    _ReferenceGaussian,
    _RowComparison,
)
from ibdetect.persistence import load, save


@pytest.fixture(scope="module")
def table(make_blobs, blob_centres):
    """Three normal classes in 6-D, with 60 rows each."""
    return make_blobs(blob_centres, 60)


@pytest.fixture(scope="module", params=["knn+input", "knn+density", "knn"])
def fitted(request, table, fast):
    X, y = table
    return IBDeepDescription(**fast, anomaly_score=request.param).fit(X, y)


def _with_one_feature_off(X, feature, shift=12.0):
    rows = X[:10].copy()
    rows[:, feature] += shift
    return rows


def test_contributions_add_up_to_the_distance_to_the_normal_data(fitted, table):
    X, _ = table
    explanation = fitted.explain(np.vstack([X[:20], _with_one_feature_off(X, 3)]))
    np.testing.assert_allclose(explanation.distances, -fitted.score_samples(np.vstack([X[:20], _with_one_feature_off(X, 3)])))
    np.testing.assert_allclose(explanation.contributions.sum(axis=1), explanation.distances, rtol=1e-6)


@pytest.mark.parametrize("feature", [2, 5])
def test_the_feature_that_was_moved_out_has_the_largest_contribution(fitted, table, feature):
    X, _ = table
    explanation = fitted.explain(_with_one_feature_off(X, feature))
    assert (explanation.contributions.argmax(axis=1) == feature).all()


def test_the_nearest_normal_rows_are_the_reference_rows_nearest_in_input_space(fitted, table):
    X, _ = table
    rows = np.vstack([X[:5], _with_one_feature_off(X, 1)]).astype(np.float32)
    explanation = fitted.explain(rows)
    in_reference = (explanation.nearest_normal[:, None] == fitted.reference_inputs_[None]).all(-1).any(1)
    assert in_reference.all()
    # The n_neighbors_-th nearest, which the mixed scores measure in input
    # space ("knn+density" in its units).
    units = getattr(fitted, "input_scales_", np.float32(1.0))
    distances = (((rows - explanation.nearest_normal) / units) ** 2).sum(1)
    kth = kth_neighbor_distances(rows / units, fitted.reference_inputs_ / units, fitted.n_neighbors_)
    np.testing.assert_allclose(distances, kth, rtol=1e-4)


def test_the_explanation_reads_as_the_other_methods_do(fitted, table):
    X, _ = table
    rows = np.vstack([X[::30], _with_one_feature_off(X, 0)])
    explanation = fitted.explain(rows)
    np.testing.assert_array_equal(explanation.nearest_class, fitted.predict_class(rows))
    np.testing.assert_allclose(explanation.nearest_class_distance, fitted.class_distances(rows).min(axis=1))
    np.testing.assert_allclose(explanation.pvalues, fitted.pvalues(rows))
    assert list(explanation.feature_names) == [f"x{i}" for i in range(6)]


def test_a_value_normal_alone_but_wrong_for_the_rest_of_the_row_comes_first(fast):
    rng = np.random.RandomState(0)
    # Two features that move together, and four of noise.
    shared = rng.normal(0, 1, 400)
    X = np.column_stack([shared, shared + rng.normal(0, 0.05, 400), rng.normal(0, 1, (400, 4))]).astype(np.float32)
    detector = IBDeepDescription(**fast).fit(X)
    broken = X[np.abs(X[:, 0]) > 1][:20].copy()
    # Feature 1 takes a value within its range, but more than 2.5 from its partner's.
    broken[:, 1] = np.where(broken[:, 0] > 0, -1.5, 1.5)
    explanation = detector.explain(broken)
    # Which of the two is wrong, the data cannot tell; one of them stands
    # many of its spreads from its expected value, a noise feature never.
    standing = np.abs(broken - explanation.expected) / explanation.expected_spread
    assert (standing[:, :2].max(axis=1) > 5).all()
    assert (standing[:, 2:].max(axis=1) < 4).all()
    # The pair broke: one of the two comes first, never a noise feature.
    assert np.isin(explanation.contributions.argmax(axis=1), [0, 1]).all()


def test_the_embeddings_parts_are_integrated_gradients_from_the_likely_clean_row(fast):
    # Features that predict each other: values in place are likely so to
    # different degrees, far below the prior for some.
    X = _correlated(300, 6).astype(np.float32)
    # The embedding's score alone: every contribution comes from the gradients.
    detector = IBDeepDescription(**fast, anomaly_score="knn").fit(X)
    # Rows with one value off, and normal rows, whose values are all in place.
    rows = np.vstack([_with_one_feature_off(X, 3, shift=6.0), X[20:30]])
    explanation = detector.explain(rows, n_steps=64)
    in_place = explanation.out_of_place[10:]
    assert (in_place < OUT_OF_PLACE_PRIOR / 10).any() and (in_place < OUT_OF_PLACE_PRIOR).mean() > 0.5
    module = detector.net_.module_.eval()
    # Each value moved toward its expected value by its probability of
    # being out of place, and at least by the prior.
    moved = np.maximum(explanation.out_of_place, OUT_OF_PLACE_PRIOR)
    clean = (1 - moved) * rows + moved * explanation.expected
    assert not np.allclose(clean, explanation.expected, atol=0.1)
    start = torch.as_tensor(clean.astype(np.float32))
    with torch.no_grad():
        target = module(start)
    parts = _midpoint_parts(lambda x: (module(x) - target).square().sum(), start, torch.as_tensor(rows))
    shares = parts / parts.sum(axis=1, keepdims=True)
    # Gauss-Legendre's 64 points and the midpoint rule's 2,000 both blur the
    # network's kinks a little: each row's shares agree to a few thousandths.
    np.testing.assert_allclose(explanation.contributions / explanation.distances[:, None], shares, atol=3e-3)


def _midpoint_parts(distance, start, end, points=2000):
    """Each feature's integrated gradient of ``distance`` from ``start`` to ``end``, negative parts cut to 0.

    The gradient averaged over ``points`` points of the straight path,
    times the path's step (the midpoint rule).
    """
    step = end - start
    gradients = torch.zeros_like(step)
    for t in (np.arange(points) + 0.5) / points:
        point = (start + float(t) * step).requires_grad_(True)
        distance(point).backward()
        gradients += point.grad / points
    return np.maximum((gradients * step).double().numpy(), 0)


def test_the_likely_clean_row_moves_each_value_by_its_probability_and_the_prior_at_least():
    block = np.array([[1.0, 1.0, 1.0, 1.0, 1e20]], dtype=np.float32)
    expected = np.array([[3.0, 3.0, 3.0, 3.0, 2.0]], dtype=np.float32)
    out_of_place = np.array([[0.0, 0.05, 0.1, 0.5, 1.0]])
    clean = _likely_clean(block, expected, out_of_place)
    # In place, a tenth of the way; out of place by a half, half of it; a
    # value surely out of place starts at its expected value, however far off.
    np.testing.assert_array_equal(clean, np.float32([[1.2, 1.2, 1.2, 2.0, 2.0]]))
    assert clean.dtype == np.float32
    # Images have no such probability: they start from their expected image.
    assert _likely_clean(block, expected, None) is expected


def test_the_density_scores_input_half_is_explained_in_its_units(table, fast, monkeypatch):
    X, y = table
    # One feature ten times as spread as the others: its raw differences
    # would outweigh theirs, and its raw distances pick other neighbours.
    X = (X * np.array([1.0, 1.0, 1.0, 1.0, 1.0, 10.0])).astype(np.float32)
    detector = IBDeepDescription(**fast, anomaly_score="knn+density").fit(X, y)
    rows = np.vstack([X[:5], _with_one_feature_off(X, 2, shift=3.0)[:5]])
    # The input half alone: an embedding half without parts leaves the score to it.
    monkeypatch.setattr(_RowComparison, "embedding_parts", lambda self, block, expected: np.zeros(block.shape))
    explanation = detector.explain(rows)
    units = detector.input_scales_.astype(np.float64)
    gaussian = _ReferenceGaussian(detector.reference_inputs_ / units)
    expected, spread, _, _ = gaussian.conditionals(rows / units)
    np.testing.assert_allclose(explanation.expected, expected * units, rtol=1e-5)
    np.testing.assert_allclose(explanation.expected_spread, spread * units, rtol=1e-5)
    # Each value's squared distance from its expected value, in spreads,
    # weighted by its probability of being out of place.
    np.testing.assert_allclose(explanation.out_of_place, gaussian.out_of_place(rows / units), rtol=1e-6)
    parts = np.square((rows - explanation.expected) / explanation.expected_spread) * explanation.out_of_place
    shares = parts / parts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(explanation.contributions, explanation.distances[:, None] * shares, rtol=1e-5)


def _correlated(n_rows, n_features, seed=0):
    """Rows whose features share three latent factors, as a table's do."""
    rng = np.random.RandomState(seed)
    mixing = rng.normal(0, 1, (3, n_features))
    return rng.normal(0, 1, (n_rows, 3)) @ mixing + rng.normal(0, 0.3, (n_rows, n_features))


def _given(gaussian, z, feature, others):
    """``feature``'s standardised conditional mean and variance given ``others``, by a direct solve."""
    covariance = gaussian.covariance.numpy()
    if not len(others):
        return 0.0, covariance[feature, feature]
    weights = np.linalg.solve(covariance[np.ix_(others, others)], covariance[others, feature])
    return weights @ z[others], covariance[feature, feature] - weights @ covariance[others, feature]


def _log_density(gaussian, z, features):
    """The log-density of ``z[features]`` under the Gaussian's marginal over them (0 for none)."""
    if not len(features):
        return 0.0
    covariance = gaussian.covariance.numpy()[np.ix_(features, features)]
    return multivariate_normal(np.zeros(len(features)), covariance).logpdf(z[features])


def _broken_by_brute_force(gaussian, z, max_broken):
    """The features chosen one at a time, each the one that most raises the log-likelihood ratio while it rises."""
    everything = list(range(len(z)))

    def ratio(chosen):
        rest = [feature for feature in everything if feature not in chosen]
        return _log_density(gaussian, z, chosen) + _log_density(gaussian, z, rest) - _log_density(gaussian, z, everything)

    chosen = []
    while len(chosen) < min(max_broken, len(z) - 1):
        gains = {feature: ratio(chosen + [feature]) - ratio(chosen) for feature in everything if feature not in chosen}
        feature = max(gains, key=gains.get)
        if gains[feature] <= 0:
            break
        chosen.append(feature)
    return chosen


@pytest.mark.parametrize("max_broken", [0, 2, MAX_BROKEN])
def test_expected_values_are_conditional_means_given_the_unbroken_features(max_broken):
    reference = _correlated(200, 7)
    rng = np.random.RandomState(1)
    rows = _correlated(12, 7, seed=2)
    # Rows with 0 to 3 values from other rows: joint structure broken.
    for index, row in enumerate(rows):
        features = rng.choice(7, index % 4, replace=False)
        row[features] = reference[rng.randint(200), features]
    gaussian = _ReferenceGaussian(reference)
    expected, spread, broken, _ = gaussian.conditionals(rows, max_broken=max_broken)
    for row, row_expected, row_spread, row_broken in zip(rows, expected, spread, broken):
        z = (row - gaussian.mean) / gaussian.scale
        chosen = _broken_by_brute_force(gaussian, z, max_broken)
        assert sorted(np.flatnonzero(row_broken)) == sorted(chosen)
        kept = [feature for feature in range(7) if feature not in chosen]
        for feature in range(7):
            # A broken feature given the unbroken ones; an unbroken one given the other unbroken ones.
            mean, variance = _given(gaussian, z, feature, [other for other in kept if other != feature])
            np.testing.assert_allclose(row_expected[feature], gaussian.mean[feature] + mean * gaussian.scale[feature])
            np.testing.assert_allclose(row_spread[feature], np.sqrt(variance) * gaussian.scale[feature])
    # The test would be empty without any broken feature to find.
    assert broken.any() == (max_broken > 0)


def _out_of_place_by_brute_force(gaussian, rows, sets):
    """Each feature's posterior weight among ``sets`` (tuples of features) and the empty set, from densities."""
    covariance = gaussian.covariance.numpy() * np.outer(gaussian.scale, gaussian.scale)
    whole = multivariate_normal(gaussian.mean, covariance).logpdf(rows)

    def density(subset):
        subset = list(subset)
        gaussian_of_subset = multivariate_normal(gaussian.mean[subset], covariance[np.ix_(subset, subset)])
        return np.atleast_1d(gaussian_of_subset.logpdf(rows[:, subset]))

    n_features = rows.shape[1]
    odds = OUT_OF_PLACE_PRIOR / (1 - OUT_OF_PLACE_PRIOR)
    # Each set's prior odds times its likelihood ratio p(x_S) p(x_rest) / p(x);
    # the empty set's are 1.
    weights, members = [np.ones(len(rows))], [np.zeros(n_features)]
    for subset in sets:
        rest = [feature for feature in range(n_features) if feature not in subset]
        weights.append(odds ** len(subset) * np.exp(density(subset) + density(rest) - whole))
        members.append(np.isin(np.arange(n_features), subset).astype(float))
    weights = np.array(weights).T
    return weights @ np.array(members) / weights.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("n_features", [2, 4, 7, 11])
def test_out_of_place_is_each_values_posterior_probability_of_coming_from_another_row(n_features):
    reference = _correlated(300, n_features)
    rows = _correlated(8, n_features, seed=2)
    rng = np.random.RandomState(1)
    for index, row in enumerate(rows):
        features = rng.choice(n_features, index % 4 if index % 4 < n_features else 1, replace=False)
        row[features] = reference[rng.randint(300), features]
    gaussian = _ReferenceGaussian(reference)
    probabilities = gaussian.out_of_place(rows)
    singles = [(feature,) for feature in range(n_features)]
    for row, row_probabilities in zip(rows, probabilities):
        # Every value alone, and the pairs and triples of those likeliest out
        # of place alone (the weights of singles alone rank them so).
        alone = _out_of_place_by_brute_force(gaussian, row[None], singles)[0]
        candidates = np.sort(np.argsort(-alone, kind="stable")[:OUT_OF_PLACE_CANDIDATES])
        sets = singles + [
            subset
            for size in range(2, min(OUT_OF_PLACE_SET_SIZE, n_features - 1) + 1)
            for subset in itertools.combinations(candidates, size)
        ]
        exact = _out_of_place_by_brute_force(gaussian, row[None], sets)[0]
        np.testing.assert_allclose(row_probabilities, exact, rtol=1e-9, atol=1e-12)


def test_a_value_from_another_row_is_likely_out_of_place_and_unrelated_features_are_all_alike():
    rng = np.random.RandomState(0)
    shared = rng.normal(0, 1, (300, 1))
    # Three features that move together, and one of noise.
    reference = np.hstack([shared + rng.normal(0, 0.1, (300, 3)), rng.normal(0, 1, (300, 1))])
    rows = reference[:10].copy()
    rows[:, 1] = reference[10:20, 1]
    far = np.abs(rows[:, 1] - reference[:10, 1]) > 1
    probabilities = _ReferenceGaussian(reference).out_of_place(rows)
    # The other two being wrong together would explain the row as well, but
    # two wrong values are a priori less likely than one.
    assert far.sum() >= 3 and (probabilities[far, 1] > 0.85).all()
    assert (probabilities[far][:, [0, 2, 3]] < 0.15).all()
    # Features that predict nothing of each other: every set is as likely as
    # none, whatever the values, so no value stands out.
    unrelated = _ReferenceGaussian(rng.normal(0, 1, (5000, 4))).out_of_place(np.array([[0.0, 9.0, 0.0, -1.0]]))
    np.testing.assert_allclose(unrelated, unrelated[0, 0], rtol=0.05)
    # Beyond the candidates, each value keeps the weight of itself alone: a
    # value far off among many unrelated features still leads the parts. (30
    # rows of 20 features: Ledoit-Wolf shrinks the covariance to its
    # diagonal, every value's ratio alone is 1 up to rounding, and the
    # candidates are drawn by that rounding.)
    wide = _ReferenceGaussian(np.random.RandomState(2).normal(0, 1, (30, 20)))
    row = np.zeros((1, 20))
    row[0, 17] = 9.0
    expected, spread, _, _ = wide.conditionals(row)
    parts = np.square((row - expected) / spread) * wide.out_of_place(row)
    assert parts.argmax() == 17
    # A row of one feature has nothing to be out of place against.
    np.testing.assert_array_equal(_ReferenceGaussian(reference[:, :1]).out_of_place(rows[:, :1]), 0.0)


def test_a_broken_value_predicts_none_of_the_others():
    rng = np.random.RandomState(0)
    shared = rng.normal(0, 1, (300, 1))
    # Three features that move together, and one of noise.
    reference = np.hstack([shared + rng.normal(0, 0.1, (300, 3)), rng.normal(0, 1, (300, 1))])
    rows = reference[:10].copy()
    # Feature 1 takes a value within its range, but 2.5 away from its partners'.
    rows[:, 1] = rows[:, 0] + np.where(rows[:, 0] > 0, -2.5, 2.5)
    expected, spread, broken, _ = _ReferenceGaussian(reference).conditionals(rows)
    assert broken[:, 1].all() and not broken[:, [0, 2]].any()
    # Its partners are still expected at each other's values, and it at theirs.
    np.testing.assert_allclose(expected[:, [0, 2]], rows[:, [2, 0]], atol=0.25)
    np.testing.assert_allclose(expected[:, 1], rows[:, [0, 2]].mean(axis=1), atol=0.25)
    assert (np.abs(rows[:, 1] - expected[:, 1]) > 10 * spread[:, 1]).all()


def test_a_row_far_off_in_most_of_its_values_is_compared_with_the_mean_normal_row(fast):
    # A tumour large in every measure: its sizes predict one another, so
    # against those predictions only its few normal values stood out.
    every = _correlated(430, 16)
    detector = IBDeepDescription(**fast).fit(every[:400].astype(np.float32))
    rows = every[400:]
    far_rows = rows.copy()
    # Eleven values far off together, more than a row's broken values can
    # be (MAX_BROKEN); five as they were.
    far_rows[:, :11] = 8 * rows[:, :11] + 6.0
    assert MAX_BROKEN < 11
    explanation = detector.explain(far_rows.astype(np.float32))
    assert explanation.row_from_elsewhere.all()
    reference = detector.reference_inputs_.astype(np.float64)
    np.testing.assert_allclose(explanation.expected, np.broadcast_to(reference.mean(axis=0), far_rows.shape), rtol=1e-5)
    np.testing.assert_allclose(explanation.expected_spread, np.broadcast_to(reference.std(axis=0), far_rows.shape),
                               rtol=1e-4)
    np.testing.assert_array_equal(explanation.out_of_place, 1.0)
    np.testing.assert_allclose(explanation.contributions.sum(axis=1), explanation.distances, rtol=1e-6)
    # The largest share goes to one of the values moved far off.
    assert (explanation.contributions.argmax(axis=1) < 11).all()


def test_a_row_is_from_elsewhere_where_its_unbroken_values_are_unlikely_under_the_gaussian():
    from scipy.special import chdtrc

    every = _correlated(330, 12)
    reference, rows = every[:300], every[300:].copy()
    # Rows far off in 0, 3 and 10 values together, by growing amounts.
    for index, row in enumerate(rows):
        moved = [0, 3, 10][index % 3]
        row[:moved] = row[:moved] * (1 + index / 3) + index / 2
    gaussian = _ReferenceGaussian(reference)
    _, _, broken, far = gaussian.conditionals(rows)
    covariance = gaussian.covariance.numpy()
    for row, row_broken, row_far in zip(rows, broken, far):
        z = (row - gaussian.mean) / gaussian.scale
        kept = ~row_broken
        distance = z[kept] @ np.linalg.solve(covariance[np.ix_(kept, kept)], z[kept])
        assert row_far == (chdtrc(kept.sum(), distance) < _explanation.FROM_ELSEWHERE_LEVEL)
    assert far.any() and not far.all()


def test_rows_with_a_few_values_from_another_row_are_not_read_as_from_elsewhere():
    every = _correlated(340, 16)
    reference, rows = every[:300], every[300:].copy()
    rng = np.random.RandomState(1)
    for index, row in enumerate(rows):
        features = rng.choice(16, 1 + index % 3, replace=False)
        row[features] = reference[rng.randint(300), features]
    gaussian = _ReferenceGaussian(reference)
    assert not gaussian.conditionals(rows)[3].any()
    # Far off in one feature alone: never, as a row of one feature has nothing else to be far in.
    assert not _ReferenceGaussian(reference[:, :1]).conditionals(rows[:, :1] + 100.0)[3].any()


def test_the_broken_features_are_at_most_max_broken():
    reference = _correlated(200, 12)
    # Every value from another row: broken everywhere.
    rows = reference[np.random.RandomState(0).randint(200, size=(20, 12)), np.arange(12)]
    _, _, broken, _ = _ReferenceGaussian(reference).conditionals(rows, max_broken=3)
    assert broken.sum(axis=1).max() == 3


def test_the_gaussian_is_ledoit_wolfs_of_the_standardised_reference_and_follows_the_units():
    reference = _correlated(150, 6)
    rows = _correlated(10, 6, seed=3)
    rows[::2, 2] += 4.0
    gaussian = _ReferenceGaussian(reference)
    standardised = (reference - reference.mean(axis=0)) / reference.std(axis=0)
    np.testing.assert_allclose(gaussian.covariance.numpy(), ledoit_wolf(standardised)[0] + VARIANCE_FLOOR * np.eye(6))
    expected, spread, broken, far = gaussian.conditionals(rows)
    assert broken.any()
    # In other units, each feature scaled and shifted: the same predictions, in those units.
    scale, shift = np.array([1e-3, 1.0, 10.0, 1e4, 2.0, 5.0]), np.arange(6) * 100.0
    moved_expected, moved_spread, moved_broken, moved_far = _ReferenceGaussian(reference * scale + shift).conditionals(
        rows * scale + shift
    )
    np.testing.assert_allclose(moved_expected, expected * scale + shift, rtol=1e-9)
    np.testing.assert_allclose(moved_spread, spread * scale, rtol=1e-9)
    np.testing.assert_array_equal(moved_broken, broken)
    np.testing.assert_array_equal(moved_far, far)


def test_constant_and_huge_values_leave_the_expected_values_finite():
    reference = _correlated(100, 5)
    # 0.1 has no exact binary form: the rounded standard deviation is not 0.
    reference[:, 3] = 0.1
    rows = reference[:6].copy()
    rows[:3, 0] = 1e20
    expected, spread, broken, _ = _ReferenceGaussian(reference).conditionals(rows)
    assert np.isfinite(expected).all() and np.isfinite(spread).all() and (spread > 0).all()
    out_of_place = _ReferenceGaussian(reference).out_of_place(rows)
    assert np.isfinite(out_of_place).all() and (out_of_place[:3, 0] > 0.9).all()
    # A constant feature is expected at its value, with the floor's spread
    # at its size, not the rounding's.
    np.testing.assert_allclose(expected[:, 3], 0.1)
    assert (spread[:, 3] >= np.sqrt(VARIANCE_FLOOR)).all()
    # The huge value is broken and predicts none of the others: they are
    # expected as with any other broken value there.
    far = rows.copy()
    far[:3, 0] = 1e3
    far_expected, _, far_broken, _ = _ReferenceGaussian(reference).conditionals(far)
    assert broken[:3, 0].all() and far_broken[:3, 0].all()
    np.testing.assert_allclose(expected[:3, 1:], far_expected[:3, 1:])


@pytest.mark.parametrize("n_features", [1, 2])
def test_tables_of_one_or_two_features_are_explained(fast, n_features):
    X = np.random.RandomState(0).normal(0, 1, (200, n_features)).astype(np.float32)
    detector = IBDeepDescription(**fast).fit(X)
    rows = X[:5].copy()
    rows[:, -1] += 8.0
    explanation = detector.explain(rows)
    np.testing.assert_allclose(explanation.contributions.sum(axis=1), explanation.distances, rtol=1e-6)
    assert (explanation.contributions.argmax(axis=1) == n_features - 1).all()
    if n_features == 1:
        # Nothing to be out of place against: the distances alone share the input half.
        np.testing.assert_array_equal(explanation.out_of_place, 0.0)
        # Nothing else to predict it from: the reference rows' mean and spread.
        reference = detector.reference_inputs_[:, 0].astype(np.float64)
        np.testing.assert_allclose(explanation.expected[:, 0], reference.mean(), rtol=1e-5)
        np.testing.assert_allclose(explanation.expected_spread[:, 0], reference.std(), rtol=1e-2)


def small_images(fast, **params):
    """120 noisy 6x6 images and a detector fitted on them with a tiny CNN."""
    X = np.random.RandomState(0).normal(0, 0.1, (120, 36)).astype(np.float32)
    return X, IBDeepDescription(**{**fast, "hidden_layer_sizes": (4, 8)}, input_shape=(1, 6, 6), **params).fit(X)


def test_images_default_points_agree_with_many_on_the_largest_contributions(fast):
    # The embedding's score alone: every contribution then comes from the
    # quadrature, none from the pixels' exact squared differences.
    X, detector = small_images(fast, anomaly_score="knn", transformations="none")
    bright = X[:5].copy()
    bright[:, 20] = 2.0
    coarse, fine = detector.explain(bright).contributions, detector.explain(bright, n_steps=128).contributions
    np.testing.assert_array_equal(coarse, detector.explain(bright, n_steps=8).contributions)
    np.testing.assert_array_equal(coarse.argmax(axis=1), fine.argmax(axis=1))
    np.testing.assert_allclose(coarse, fine, atol=0.05 * np.abs(fine).max())


def test_with_views_default_points_name_the_three_largest_contributions_of_many_on_digits():
    # Each view scaled to length 1 bends the path more than the network
    # alone: with views, the noise images above, a pixel 20 spreads out,
    # took contributions 7 to 24% of the largest off 256 points' with 8
    # points. On real images 8 points named the same three largest
    # contributions in 91 to 94% of 100 digits (16 points: 95 to 98%), about
    # as often as the user guide says of 8 points without the units.
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    detector = IBDeepDescription(input_shape=(1, 8, 8), anomaly_score="knn", random_state=0).fit(X[y == 3][:150])
    assert detector.transformations_ == "rotations"
    unseen = X[y != 3][:60]
    coarse, fine = detector.explain(unseen).contributions, detector.explain(unseen, n_steps=256).contributions
    same = [set(np.argsort(-a)[:3]) == set(np.argsort(-b)[:3]) for a, b in zip(coarse, fine)]
    assert np.mean(same) >= 0.9


def test_rows_default_points_agree_with_many_on_the_largest_contributions(table, fast):
    X, y = table
    detector = IBDeepDescription(**fast, anomaly_score="knn").fit(X, y)
    rows = np.vstack([_with_one_feature_off(X, feature, shift=4.0) for feature in range(6)])
    default = detector.explain(rows).contributions
    fine = detector.explain(rows, n_steps=128).contributions
    np.testing.assert_array_equal(default.argmax(axis=1), fine.argmax(axis=1))
    np.testing.assert_allclose(default, fine, atol=0.05 * np.abs(fine).max())


@pytest.mark.parametrize("n_steps", [0, 2.5, "4"])
def test_a_bad_number_of_points_is_refused(fitted, table, n_steps):
    X, _ = table
    with pytest.raises((ValueError, TypeError), match="n_steps"):
        fitted.explain(X[:2], n_steps=n_steps)


@pytest.mark.parametrize("images", [False, True])
def test_blocks_keep_the_distances_in_the_cache_and_everything_within_working_memory(table, fast, images, monkeypatch):
    if images:
        X, detector = small_images(fast)
    else:
        X, y = table
        detector = IBDeepDescription(**fast).fit(X, y)
    calls = []
    blocks = _explanation.row_blocks
    monkeypatch.setattr(_explanation, "row_blocks", lambda *a, **k: calls.append((a, k)) or blocks(*a, **k))
    detector.explain(X[:20].astype(np.float32), n_steps=4)
    (n_rows, row_bytes), options = calls[0]
    # The float64 distances to every reference row, their sort's copy and indices.
    assert options["cached_bytes"] == 3 * 8 * len(detector.reference_inputs_)
    # The working memory counts each point's activations and gradients too.
    activations = detector.net_.activation_bytes(X[:1].astype(np.float32))
    # Rows, and the choice of their broken features, a few arrays of MAX_BROKEN by all features;
    # and a few dozen arrays of the 92 sets that out_of_place weighs: 8
    # candidates, their 28 pairs and 56 triples.
    choice = 0 if images else 8 * X.shape[1] * (4 * MAX_BROKEN + 16) + 8 * 32 * 92
    assert row_bytes == options["cached_bytes"] + 2 * 4 * activations + choice


@pytest.mark.parametrize("transformations", ["auto", "none"])  # one class: the quarter turns, or none
def test_images_are_explained_pixel_by_pixel(fast, transformations):
    X, detector = small_images(fast, transformations=transformations)
    assert detector.transformations_ == ("rotations" if transformations == "auto" else "none")
    bright = X[:3].copy()
    bright[:, 14] = 5.0
    explanation = detector.explain(bright)
    assert explanation.contributions.shape == (3, 36)
    assert (explanation.contributions.argmax(axis=1) == 14).all()
    # Each pixel against the nearest image's, in the score's units.
    np.testing.assert_array_equal(explanation.expected, explanation.nearest_normal)
    np.testing.assert_array_equal(explanation.expected_spread, np.broadcast_to(detector.input_scales_, (3, 36)))
    # No Gaussian of the pixels: nothing reads them as values from elsewhere.
    assert explanation.out_of_place is None
    np.testing.assert_allclose(explanation.contributions.sum(axis=1), explanation.distances, rtol=1e-6)


def test_with_views_the_embeddings_parts_are_measured_in_the_scores_units(fast):
    X, detector = small_images(fast, anomaly_score="knn")
    assert detector.transformations_ == "rotations"
    rows = X[:4].copy()
    rows[:, 14] = 1.0
    # The scaling of each view bends the path more than the network alone:
    # 64 points leave shares 0.004 off the midpoint rule's, 256 points 0.0015.
    explanation = detector.explain(rows, n_steps=256)
    module = detector.net_.module_.eval()
    # Images start from their expected image; the distance is that of the
    # unit views, whitened, as the score measures it.
    start = torch.as_tensor(explanation.expected)
    with torch.no_grad():
        target = embedding_units(detector, module(start))
    parts = _midpoint_parts(
        lambda x: (embedding_units(detector, module(x)) - target).square().sum(), start, torch.as_tensor(rows)
    )
    shares = parts / parts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(explanation.contributions / explanation.distances[:, None], shares, atol=3e-3)


def test_large_images_are_explained_a_few_at_a_time_as_one_at_a_time(fast, monkeypatch):
    from ibdetect import _chunking, _explanation

    X, detector = small_images(fast)
    # As though each image filled the cache, as a 28x28 one does with the CNN.
    monkeypatch.setattr(_chunking, "CACHE_BYTES", 1)
    blocks, distances_to_normal = [], _explanation.distances_to_normal
    monkeypatch.setattr(
        _explanation, "distances_to_normal", lambda *args: blocks.append(len(args[2])) or distances_to_normal(*args)
    )
    together = detector.explain(X[:20]).contributions
    assert blocks == [8, 8, 4]
    alone = np.vstack([detector.explain(X[row:row + 1]).contributions for row in range(20)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-9)


def test_views_are_explained_through_every_view(table, fast):
    X, y = table
    detector = IBDeepDescription(**fast, transformations="affine", anomaly_score="knn").fit(X, y)
    explanation = detector.explain(_with_one_feature_off(X, 2))
    np.testing.assert_allclose(explanation.contributions.sum(axis=1), explanation.distances, rtol=1e-6)
    assert (explanation.contributions.argmax(axis=1) == 2).all()


def test_feature_names_come_from_the_data_frame(table, fast):
    pd = pytest.importorskip("pandas")
    X, y = table
    frame = pd.DataFrame(X, columns=list("abcdef"))
    detector = IBDeepDescription(**fast).fit(frame, y)
    explanation = detector.explain(frame.iloc[:2])
    assert list(explanation.feature_names) == list("abcdef")


def test_a_loaded_model_explains_as_the_fitted_one(fitted, table):
    X, _ = table
    file = io.BytesIO()
    save(fitted, file)
    rows = _with_one_feature_off(X, 5)
    np.testing.assert_allclose(load(file).explain(rows).contributions, fitted.explain(rows).contributions)


def test_the_centre_distance_cannot_be_explained(table, fast):
    X, y = table
    detector = IBDeepDescription(**fast, anomaly_score="distance").fit(X, y)
    with pytest.raises(ValueError, match="anomaly_score='distance' keeps none .*; refit with anomaly_score='knn'"):
        detector.explain(X[:2])


def test_a_knn_model_saved_without_training_rows_cannot_be_explained(table, fast):
    X, y = table
    file = io.BytesIO()
    save(IBDeepDescription(**fast, anomaly_score="knn").fit(X, y), file, training_rows=False)
    loaded = load(file)
    assert not hasattr(loaded, "reference_inputs_")
    with pytest.raises(ValueError, match="saved with training_rows=False"):
        loaded.explain(X[:2])


def test_without_captum_the_error_says_what_to_install(fitted, table, monkeypatch):
    X, _ = table
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(ImportError, match=r'pip install "ibdetect\[explain\]"'):
        fitted.explain(X[:2])


# -- p-values by class ---------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated(make_blobs, blob_centres, fast):
    X, y = make_blobs(blob_centres, 300)
    return IBDeepDescription(**fast, validation_fraction=0.3).fit(X, y)


def test_each_class_flags_about_alpha_of_its_new_rows(calibrated, make_blobs, blob_centres):
    X_new, y_new = make_blobs(blob_centres, 2_000, seed=7)
    pvalues = calibrated.pvalues(X_new, by_class=True)
    assert pvalues.shape == (len(X_new), 3)
    assert (calibrated.class_calibration_counts_ == 90).all()
    for c in range(3):
        # 90 held-out rows each: a single fit's rate lies within about 2.5 sd of 0.1.
        assert 0.04 <= np.mean(pvalues[y_new == c, c] <= 0.1) <= 0.16


def test_rows_of_another_class_are_implausible_for_a_class(calibrated, make_blobs, blob_centres):
    X_new, y_new = make_blobs(blob_centres, 200, seed=8)
    pvalues = calibrated.pvalues(X_new, by_class=True)
    for c in range(3):
        assert np.median(pvalues[y_new != c, c]) <= 1 / 91 + 1e-12
        assert np.median(pvalues[y_new == c, c]) > 0.3


def test_a_class_with_few_held_out_rows_is_named_and_one_with_none_is_nan(make_blobs, fast):
    X, y = make_blobs(((-6, 0), (6, 0), (0, 6)), 100)
    # "auto" holds a tenth out of the two large classes, and nothing of one of 8 rows.
    keep = np.r_[np.arange(200), np.arange(200, 208)]
    detector = IBDeepDescription(**fast).fit(X[keep], y[keep])
    with pytest.warns(UserWarning, match=r"fewer than 19 held-out samples: 0 \(10\), 1 \(10\), 2 \(0\)") as caught:
        pvalues = detector.pvalues(X[:4], by_class=True)
    # At the user's line, whatever the calls between.
    assert caught[0].filename == __file__
    assert np.isnan(pvalues[:, 2]).all() and not np.isnan(pvalues[:, :2]).any()
    # Smoothed, the classes with a few held-out rows are calibrated; the one
    # with none is still named.
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        smoothed = detector.pvalues(X[:4], by_class=True, smoothing=True, random_state=0)
    assert [str(w.message).split(";")[0] for w in record] == ["Classes with no held-out samples: 2 (0)"]
    assert np.isnan(smoothed[:, 2]).all() and (smoothed[:, :2] <= pvalues[:, :2]).all()


def test_class_calibration_follows_batches_and_a_new_class(make_blobs, blob_centres, fast):
    X, y = make_blobs(blob_centres, 100)
    detector = IBDeepDescription(**fast, validation_fraction=0.2).fit(X[y < 2], y[y < 2])
    detector.partial_fit(X[y == 2], y[y == 2])
    counts = detector.class_calibration_counts_
    np.testing.assert_array_equal(counts, [20, 20, 20])
    assert counts.sum() == len(detector.calibration_scores_)
    pvalues = detector.pvalues(X[y == 2][:50], by_class=True)
    assert np.median(pvalues[:, 2]) > 0.1 and np.median(pvalues[:, 0]) < 0.05


def test_class_p_values_survive_a_model_file(calibrated, make_blobs, blob_centres):
    X_new, _ = make_blobs(blob_centres, 20, seed=9)
    file = io.BytesIO()
    save(calibrated, file)
    np.testing.assert_array_equal(load(file).pvalues(X_new, by_class=True), calibrated.pvalues(X_new, by_class=True))


def test_a_detector_of_an_earlier_version_asks_to_be_refitted_for_class_p_values(calibrated, table):
    X, _ = table
    import copy

    earlier = copy.copy(calibrated)
    del earlier.class_calibration_counts_, earlier.class_calibration_scores_
    with pytest.raises(ValueError, match="Refit it to get pvalues"):
        earlier.pvalues(X[:2], by_class=True)
