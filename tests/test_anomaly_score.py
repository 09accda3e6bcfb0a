import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf

from ibdetect import IBDeepDescription
from test_transformations import _images
from ibdetect._calibration import auto_threshold
from ibdetect._anomaly_score import (
    MAX_TYPICAL_QUERIES,
    MIN_RELATIVE_RADIUS,
    WHITENING_FOLDS,
    _in_embedding_units,
    covariance_whitening,
    embedding_whitening,
    input_scales,
    input_units,
    leave_one_out_distances,
    mixed_neighbor_distances,
    neighbor_radii,
    relative_neighbor_distances,
    typical_neighbor_distance,
)


def test_typical_distance_leaves_each_row_out_of_its_neighbours():
    # Points 0, 1, 2, ... on a line: the nearest other point of an inner one
    # lies at squared distance 1, the 3rd nearest at 4.
    line = np.arange(50, dtype=np.float64)[:, None]
    assert typical_neighbor_distance(line, 1) == 1.0
    assert typical_neighbor_distance(line, 3) == 4.0


def test_typical_distance_of_a_large_reference_comes_from_a_subset():
    line = np.arange(5 * MAX_TYPICAL_QUERIES, dtype=np.float64)[:, None]
    assert typical_neighbor_distance(line, 3) == 4.0


def test_typical_distance_of_duplicates_is_one():
    assert typical_neighbor_distance(np.zeros((10, 2)), 2) == 1.0


def test_mixed_distance_is_the_geometric_mean_of_the_scaled_distances():
    # The 1st nearest reference of the query lies at squared distance 4 in
    # the first space and 9 in the second.
    parts = (np.array([[2.0]]), np.array([[0.0, 3.0]]))
    references = (np.array([[0.0], [10.0]]), np.array([[0.0, 0.0], [0.0, 10.0]]))
    distances = mixed_neighbor_distances(parts, references, (2.0, 0.5), 1)
    np.testing.assert_allclose(distances, [np.sqrt(4 / 2.0 * 9 / 0.5)])


# -- through the estimator -------------------------------------------------------


@pytest.mark.parametrize(
    "with_anomalies, input_shape, expected",
    [
        (False, None, "knn+input"), (False, (6,), "knn+input"), (False, (1, 2, 3), "knn+density"),
        (True, None, "distance"), (True, (1, 2, 3), "distance"),
    ],
)
def test_auto_anomaly_score_follows_known_anomalies_and_images(
    blobs, with_anomalies, input_shape, expected, fast
):
    X, y, X_unseen = blobs
    if with_anomalies:
        X, y = np.vstack([X, X_unseen[:5]]), np.r_[y, -np.ones(5, dtype=int)]
    detector = IBDeepDescription(input_shape=input_shape, **fast).fit(X, y)
    assert detector.anomaly_score == "auto" and detector.anomaly_score_ == expected


def test_knn_score_is_distance_to_nth_nearest_training_embedding(blobs, fast, roc_auc):
    X, y, X_unseen = blobs
    # Nothing held out: every row of X is a reference.
    detector = IBDeepDescription(anomaly_score="knn", n_neighbors=3, validation_fraction=None, **fast).fit(X, y)
    reference = detector.transform(X).astype(np.float64)
    queries = detector.transform(X_unseen).astype(np.float64)
    brute = np.sort(((queries[:, None] - reference[None]) ** 2).sum(-1), axis=1)[:, 2]
    np.testing.assert_allclose(-detector.score_samples(X_unseen), brute, rtol=1e-4)
    assert roc_auc(detector, X, X_unseen) > 0.95


@pytest.mark.parametrize("anomaly_score", ["knn", "knn+input", "knn+density"])
def test_knn_threshold_leaves_each_training_sample_out(blobs, anomaly_score, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(anomaly_score=anomaly_score, n_neighbors=1, validation_fraction=None, **fast)
    detector.fit(X, y)
    # Each training sample is its own nearest reference: its score is 0. The
    # threshold is set without it, so it is not 0 and flags only a few.
    np.testing.assert_allclose(detector.score_samples(X), 0, atol=1e-6)
    assert detector.offset_ < 0


def _kth_nearest_brute_force(queries, reference, rank):
    squared = ((queries[:, None].astype(np.float64) - reference[None].astype(np.float64)) ** 2).sum(-1)
    return np.sort(squared, axis=1)[:, rank - 1]


def test_knn_input_score_is_the_geometric_mean_of_scaled_neighbour_distances(blobs, fast, roc_auc):
    X, y, X_unseen = blobs
    detector = IBDeepDescription(anomaly_score="knn+input", n_neighbors=3, **fast).fit(X, y)
    embeddings, inputs = detector.reference_embeddings_, detector.reference_inputs_
    # A reference row is its own nearest at distance 0; the scale skips it.
    scales = [np.median(_kth_nearest_brute_force(part, part, 4)) for part in (embeddings, inputs)]
    np.testing.assert_allclose(detector.neighbor_scales_, scales, rtol=1e-5)
    in_embedding = _kth_nearest_brute_force(detector.transform(X_unseen), embeddings, 3) / scales[0]
    in_input = _kth_nearest_brute_force(X_unseen, inputs, 3) / scales[1]
    np.testing.assert_allclose(-detector.score_samples(X_unseen), np.sqrt(in_embedding * in_input), rtol=1e-4)
    assert roc_auc(detector, X, X_unseen) > 0.95


def _radii_brute_force(reference, rank):
    # Each reference row is its own nearest: one rank further leaves it out.
    return _kth_nearest_brute_force(reference, reference, rank + 1)


def _relative_brute_force(queries, reference, radii, rank, skip_self=False):
    squared = ((queries[:, None].astype(np.float64) - reference[None].astype(np.float64)) ** 2).sum(-1)
    order = np.argsort(squared, axis=1, kind="stable")[:, int(skip_self):rank + int(skip_self)]
    return np.take_along_axis(squared, order[:, -1:], 1)[:, 0] / radii[order].mean(axis=1)


def _units_brute_force(reference):
    # Each feature's variance, shrunk three quarters of the way toward the mean.
    variances = reference.astype(np.float64).var(axis=0)
    return np.sqrt(0.25 * variances + 0.75 * variances.mean())


def test_knn_density_score_divides_the_input_distance_by_the_neighbours_radii(blobs, fast, roc_auc):
    X, y, X_unseen = blobs
    detector = IBDeepDescription(anomaly_score="knn+density", n_neighbors=3, **fast).fit(X, y)
    embeddings = detector.reference_embeddings_
    units = _units_brute_force(detector.reference_inputs_)
    # The blobs' features spread unequally: measuring them raw would fail.
    assert units.max() > 1.1 * units.min()
    np.testing.assert_allclose(detector.input_scales_, units, rtol=1e-5)
    inputs, unseen_inputs = detector.reference_inputs_ / units, X_unseen / units
    radii = _radii_brute_force(inputs, 3)
    np.testing.assert_allclose(detector.reference_radii_, radii, rtol=1e-5)
    scales = [
        np.median(_kth_nearest_brute_force(embeddings, embeddings, 4)),
        np.median(_relative_brute_force(inputs, inputs, radii, 3, skip_self=True)),
    ]
    np.testing.assert_allclose(detector.neighbor_scales_, scales, rtol=1e-5)
    in_embedding = _kth_nearest_brute_force(detector.transform(X_unseen), embeddings, 3) / scales[0]
    in_input = _relative_brute_force(unseen_inputs, inputs, radii, 3) / scales[1]
    np.testing.assert_allclose(-detector.score_samples(X_unseen), np.sqrt(in_embedding * in_input), rtol=1e-4)
    assert roc_auc(detector, X, X_unseen) > 0.95


def test_input_units_weigh_a_feature_that_never_varies_more_than_one_that_does():
    # Images of ten pixels: the first varies among the references, the
    # others are always dark, as the border of a digit. Lighting a dark one
    # moves a query as far as moving the first by as much, raw; in the
    # score's units, farther.
    rng = np.random.RandomState(0)
    reference = np.zeros((200, 10), dtype=np.float32)
    reference[:, 0] = rng.uniform(0, 1, 200)
    scales = input_scales(reference)
    assert scales.dtype == np.float32 and np.all(scales > 0)
    assert np.all(scales[1:] < scales[0])
    queries = np.zeros((2, 10), dtype=np.float32)
    queries[0, :2] = 0.5
    queries[1, 0] = 1.5
    raw = relative_neighbor_distances(queries, reference, 3)
    assert raw[0] == pytest.approx(raw[1], rel=0.1)
    scaled = relative_neighbor_distances(input_units(queries, scales), input_units(reference, scales), 3)
    assert scaled[0] > 2 * scaled[1]


def test_standardised_features_keep_their_unit_and_a_reference_of_one_row_repeated_gets_one():
    features = np.random.RandomState(0).normal(size=(500, 3)) * np.array([1.0, 10.0, 100.0])
    standardized = (features - features.mean(axis=0)) / features.std(axis=0)
    np.testing.assert_allclose(input_scales(standardized), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(input_scales(np.full((10, 3), 7.0)), np.ones(3))


def test_relative_distance_does_not_grow_with_the_spread_of_the_data_around_it():
    # Two clusters of the same shape, one ten times as wide: a query at the
    # same relative place in each is as far from both in their own units.
    rng = np.random.RandomState(0)
    cluster = rng.normal(size=(200, 2))
    reference = np.vstack([cluster, 10 * cluster + 100])
    radii = neighbor_radii(reference, 5)
    queries = np.array([[0.5, 0.5], [105.0, 105.0]])
    raw = relative_neighbor_distances(queries, reference, 5)
    relative = relative_neighbor_distances(queries, reference, 5, radii)
    assert raw[1] == pytest.approx(100 * raw[0], rel=1e-6)
    assert relative[1] == pytest.approx(relative[0], rel=1e-6)


def test_neighbor_radii_of_duplicate_rows_stay_above_zero():
    # Twelve copies of one row, the majority, and ten others on a line
    # spaced 2 apart: the copies' own 2nd nearest lies at distance 0, the
    # line's at 4 or, at its ends, 16 (squared). The floor follows the
    # radii above 0, not the median of all (0).
    reference = np.vstack([np.zeros((12, 1)), np.arange(10.0, 30.0, 2.0)[:, None]])
    radii = neighbor_radii(reference, 2)
    np.testing.assert_allclose(radii[:12], MIN_RELATIVE_RADIUS * 4.0)
    np.testing.assert_allclose(radii[12:], _radii_brute_force(reference, 2)[12:])
    assert np.all(np.isfinite(relative_neighbor_distances(np.zeros((1, 1)), reference, 2, radii)))


def test_neighbor_radii_of_nothing_but_duplicates_are_a_share_of_one():
    np.testing.assert_allclose(neighbor_radii(np.ones((10, 3)), 2), MIN_RELATIVE_RADIUS)


def test_typical_relative_distance_of_a_large_reference_comes_from_a_subset():
    # On an evenly spaced line every inner point is as far from its 3rd
    # nearest as its neighbours are from theirs.
    line = np.arange(5 * MAX_TYPICAL_QUERIES, dtype=np.float64)[:, None]
    assert typical_neighbor_distance(line, 3, neighbor_radii(line, 3)) == 1.0


def test_knn_density_threshold_leaves_each_reference_out(blobs, fast):
    X, y, _ = blobs
    # Nothing held out: the threshold reads the references' own scores,
    # each left out of its neighbours in both spaces.
    detector = IBDeepDescription(anomaly_score="knn+density", n_neighbors=3, validation_fraction=None, **fast)
    detector.fit(X, y)
    embeddings = detector.reference_embeddings_
    inputs = detector.reference_inputs_ / _units_brute_force(detector.reference_inputs_)
    radii = _radii_brute_force(inputs, 3)
    in_embedding = _kth_nearest_brute_force(embeddings, embeddings, 4) / detector.neighbor_scales_[0]
    in_input = _relative_brute_force(inputs, inputs, radii, 3, skip_self=True) / detector.neighbor_scales_[1]
    np.testing.assert_allclose(leave_one_out_distances(detector), np.sqrt(in_embedding * in_input), rtol=1e-4)
    assert detector.offset_ == -auto_threshold(leave_one_out_distances(detector))


def test_knn_input_reference_rows_are_the_inputs_of_the_embedding_reference(blobs, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(anomaly_score="knn+input", max_references=50, **fast).fit(X, y)
    assert detector.reference_inputs_.shape == (50, X.shape[1])
    assert detector.reference_inputs_.dtype == np.float32
    np.testing.assert_allclose(
        detector.transform(detector.reference_inputs_), detector.reference_embeddings_, rtol=1e-5, atol=1e-6
    )


def test_knn_input_threshold_and_pvalues_flag_the_unseen_class(blobs, blob_centres, fast, make_blobs):
    X, y, X_unseen = blobs
    X_new, _ = make_blobs(blob_centres, 100, seed=5)
    detector = IBDeepDescription(anomaly_score="knn+input", validation_fraction=0.3, **{**fast, "max_epochs": 20})
    detector.fit(X, y)
    assert np.all(detector.predict(X_unseen) == -1)
    assert np.mean(detector.predict(X_new) == -1) < 0.15
    # Farther out than every held-out sample: the smallest p-value.
    np.testing.assert_allclose(detector.pvalues(X_unseen), 1 / (len(detector.calibration_scores_) + 1))
    assert np.mean(detector.pvalues(X_new) <= 0.1) < 0.2


@pytest.mark.parametrize("max_reference, validation_fraction", [(1000, "auto"), (39, None)])
def test_knn_input_contamination_flags_that_share_of_the_training_data(
    blobs, max_reference, validation_fraction, fast
):
    # With 39 references of the 132 samples, 5 neighbours scale to 1.5 (of
    # which a reference sample scored as training data is itself): the rank
    # must stay at 2 for the anomalies drawn into the reference to be flagged.
    X, _, _ = blobs
    # Scattered far from the classes and from each other, so that no
    # anomaly has training neighbours of its own kind.
    scattered = np.random.RandomState(3).uniform(-40, 40, (12, X.shape[1]))
    X_train = np.vstack([X, scattered])
    detector = IBDeepDescription(
        anomaly_score="knn+input", contamination=0.1, validation_fraction=validation_fraction,
        max_references=max_reference, **fast,
    ).fit(X_train)
    assert np.mean(detector.labels_ == -1) == pytest.approx(0.1, abs=0.01)
    assert np.mean(detector.labels_[len(X):] == -1) >= 0.9
    # Those that are references too are flagged, though each is its own neighbour.
    in_reference = (scattered.astype(np.float32)[:, None] == detector.reference_inputs_[None]).all(-1).any(1)
    assert in_reference.any()
    assert np.all(detector.labels_[len(X):][in_reference] == -1)


@pytest.mark.parametrize("max_references, n_references", [(50, 50), (0.25, 24), ("auto", 99), (10_000, 99), (1.0, 99)])
def test_max_references_bounds_the_knn_reference(blobs, max_references, n_references, fast):
    X, y, X_unseen = blobs
    X_train = np.vstack([X, X_unseen[:5]])
    y_train = np.r_[y, -np.ones(5, dtype=int)]
    # validation_fraction="auto" holds out 7 of each class of 40, so that 21
    # calibrate: 99 train. Only normal samples are references, never the
    # known anomalies.
    detector = IBDeepDescription(anomaly_score="knn", max_references=max_references, **fast).fit(X_train, y_train)
    assert detector.reference_embeddings_.shape == (n_references, fast["embedding_dim"])


@pytest.mark.parametrize("max_references, match", [
    (0.01, "max_references=0.01 keeps 1 of the 120 normal training samples"),
    (1, "max_references"),
    (1.5, "max_references"),
    ("all", "max_references"),
])
def test_max_references_that_keep_too_few_are_refused_before_training(blobs, max_references, match):
    X, y, _ = blobs
    detector = IBDeepDescription(max_references=max_references, max_epochs=10**6, validation_fraction=None)
    with pytest.raises(ValueError, match=match):
        detector.fit(X, y)


def test_more_neighbours_than_normal_training_samples_is_rejected_before_training(fast, make_blobs):
    X, _ = make_blobs([[0, 0, 0]], 60)
    detector = IBDeepDescription(n_neighbors=60, anomaly_score="knn", validation_fraction=None, **fast)
    with pytest.raises(ValueError, match=r"n_neighbors=60 needs more than 60 .* got 60"):
        detector.fit(X)
    assert not hasattr(detector, "net_")


@pytest.mark.parametrize("n_neighbors, n_reference, n_normal, rank", [
    (5, 300, 300, 5),  # every normal sample is a reference: the rank itself
    (5, 1000, 3000, 2),  # a third of them: the 2nd nearest of them stands for the 5th of all
    (5, 1000, 7000, 2),  # 0.7 rounds to 1, but a reference scored as training data is its own 1st
    (1, 1000, 7000, 1),  # unless the nearest is what was asked for
    (5, 1000, 20000, 2),
    (6, 1000, 2000, 3),
    (20, 20, 60, 7),
    (2999, 1000, 3000, 999),  # a reference sample must still leave itself out
])
def test_reference_rank_shrinks_with_the_share_of_samples_kept(
    make_blobs, fast, n_neighbors, n_reference, n_normal, rank
):
    # One class, all of it training data, of which the reference keeps n_reference.
    X, _ = make_blobs([[0] * 6], n_normal)
    detector = IBDeepDescription(
        anomaly_score="knn", n_neighbors=n_neighbors, max_references=n_reference, validation_fraction=None,
        **{**fast, "max_epochs": 1, "batch_size": 1024},
    ).fit(X)
    assert len(detector.reference_embeddings_) == n_reference
    assert detector.n_neighbors_ == rank


def test_a_capped_reference_searches_the_proportional_rank(blobs, fast):
    X, y, X_unseen = blobs
    capped = {"n_neighbors": 8, "max_references": 30, "validation_fraction": None, **fast}
    # 120 normal training samples, 30 of them references: the 8th nearest of
    # all is about the 2nd nearest of the references.
    detector = IBDeepDescription(anomaly_score="knn", **capped).fit(X, y)
    assert detector.n_neighbors_ == 2
    expected = _kth_nearest_brute_force(detector.transform(X_unseen), detector.reference_embeddings_, 2)
    np.testing.assert_allclose(-detector.score_samples(X_unseen), expected, rtol=1e-4)
    # The default score on rows searches that rank in both spaces, and scales each by it.
    detector = IBDeepDescription(**capped).fit(X, y)
    assert (detector.anomaly_score_, detector.n_neighbors_) == ("knn+input", 2)
    parts = (detector.reference_embeddings_, detector.reference_inputs_)
    scales = [np.median(_kth_nearest_brute_force(part, part, 3)) for part in parts]
    np.testing.assert_allclose(detector.neighbor_scales_, scales, rtol=1e-5)
    ratios = [
        _kth_nearest_brute_force(queries, part, 2) / scale
        for queries, part, scale in zip((detector.transform(X_unseen), X_unseen), parts, scales)
    ]
    np.testing.assert_allclose(-detector.score_samples(X_unseen), np.sqrt(ratios[0] * ratios[1]), rtol=1e-4)
    whole = IBDeepDescription(anomaly_score="knn", **{**capped, "max_references": 1.0})
    assert whole.fit(X, y).n_neighbors_ == 8


@pytest.mark.parametrize("max_references, n_references", [(500, 500), ("auto", 1000), (1.0, 1500)])
def test_max_references_keeps_that_many_of_a_larger_training_set(fast, max_references, n_references):
    # 1,500 normal training samples: more than each bound but the last.
    X = np.random.RandomState(0).normal(size=(1500, 3))
    detector = IBDeepDescription(
        **{**fast, "max_epochs": 1}, max_references=max_references, validation_fraction=None
    ).fit(X)
    assert detector.get_params()["max_references"] == max_references
    assert detector.reference_embeddings_.shape == (n_references, fast["embedding_dim"])
    assert detector.reference_inputs_.shape == (n_references, 3)
    # The rank among the references stands for the 5th nearest of all 1,500.
    assert detector.n_neighbors_ == max(2, round(5 * n_references / 1500))


@pytest.mark.parametrize("input_shape, n_references", [(None, 1000), ((1, 8, 8), 4000), ((8, 8), 4000)])
def test_auto_max_references_keeps_more_images_than_rows(fast, input_shape, n_references):
    # 4,500 normal samples, more than either cap. On images the network's pass
    # costs more than the search, which a larger reference costs little beside.
    X = np.random.RandomState(0).uniform(size=(4500, 64)).astype(np.float32)
    detector = IBDeepDescription(
        **{**fast, "max_epochs": 1, "hidden_layer_sizes": (4, 8)}, input_shape=input_shape, validation_fraction=None
    ).fit(X)
    # partial_fit's replay sample holds as many rows, from which it redraws the reference.
    assert len(detector.reference_inputs_) == len(detector.replay_inputs_) == n_references
    assert len(detector.partial_fit(X[:100]).reference_inputs_) == n_references


def _unit_views(embeddings, n_views):
    views = embeddings.astype(np.float64).reshape(len(embeddings), n_views, -1)
    return (views / np.linalg.norm(views, axis=2, keepdims=True)).reshape(len(embeddings), -1)


def test_each_view_is_scaled_to_length_one_and_a_view_at_the_origin_stays_there():
    # The last view's squared length overflows float32.
    embeddings = np.array([[3.0, 4.0, 0.0, 0.0], [0.0, 0.5, 3e30, -4e30]], dtype=np.float32)
    np.testing.assert_allclose(
        _in_embedding_units(embeddings, None, 2), [[0.6, 0.8, 0.0, 0.0], [0.0, 1.0, 0.6, -0.8]], rtol=1e-6
    )


def test_whitening_of_many_rows_gives_them_unit_covariance():
    rng = np.random.RandomState(0)
    embeddings = (rng.normal(size=(5000, 6)) @ rng.normal(size=(6, 6))).astype(np.float32)
    whitening = embedding_whitening(embeddings, 2)
    assert whitening.dtype == np.float32
    np.testing.assert_array_equal(whitening, np.tril(whitening))
    whitened = _in_embedding_units(embeddings, whitening, 2).astype(np.float64)
    # Ledoit-Wolf shrinks the covariance of many rows in few dimensions by little.
    np.testing.assert_allclose(np.cov(whitened, rowvar=False), np.eye(6), atol=0.02)


def test_whitening_of_fewer_rows_than_dimensions_is_finite_and_shrinks_toward_the_mean_variance():
    rows = np.random.RandomState(0).normal(size=(20, 40)) * np.linspace(0.1, 3, 40)
    whitening = covariance_whitening(rows)
    assert np.isfinite(whitening).all()
    # Shrunk toward one variance, the whitening weighs directions less unevenly than the rows' spreads do.
    covariance = np.linalg.inv(whitening.astype(np.float64) @ whitening.T.astype(np.float64))
    assert np.ptp(np.log(np.diag(covariance))) < np.ptp(np.log(rows.var(axis=0)))


@pytest.mark.parametrize("rows", [np.ones((10, 4)), np.zeros((1, 4))])
def test_whitening_of_rows_that_never_vary_or_of_one_row_is_the_identity(rows):
    np.testing.assert_array_equal(covariance_whitening(rows), np.eye(4))


@pytest.mark.parametrize("rows", [[[1.0, 2.0, 0.0], [3.0, 1.0, 1.0]], [[1.0, 2.0, 0.0], [3.0, 1.0, 1.0]] * 3])
def test_whitening_of_two_distinct_rows_can_be_inverted(rows):
    # Once centred they are x and -x: Ledoit and Wolf see no error to shrink.
    whitening = covariance_whitening(np.array(rows))
    assert np.isfinite(whitening).all() and (np.diag(whitening) > 0).all()


@pytest.mark.parametrize("max_references", [2, 3, 4])
def test_with_views_a_reference_of_a_few_images_sets_a_finite_threshold(fast, max_references):
    params = {**_knn_with_views(fast), "n_neighbors": 1, "max_references": max_references}
    detector = IBDeepDescription(**params, validation_fraction=None).fit(_images(40))
    assert len(detector.reference_embeddings_) == max_references
    assert np.isfinite(leave_one_out_distances(detector)).all() and np.isfinite(detector.offset_)


def _knn_with_views(fast):
    """Parameters of a small CNN on one class of 6x6 images (the quarter turns) with the k-NN score alone."""
    return {**fast, "hidden_layer_sizes": (4, 8), "input_shape": (1, 6, 6), "anomaly_score": "knn"}


def _mahalanobis_kth_nearest(queries, reference, rank, covariance_of=None, skip=None):
    """The ``rank``-th smallest squared distance under Ledoit and Wolf's covariance of ``covariance_of`` (the reference).

    ``skip`` holds, per query, a reference row left out of its neighbours.
    """
    covariance = ledoit_wolf(reference if covariance_of is None else covariance_of)[0]
    differences = queries[:, None] - reference[None]
    squared = np.einsum("ijk,kl,ijl->ij", differences, np.linalg.inv(covariance), differences)
    if skip is not None:
        squared[np.arange(len(queries)), skip] = np.inf
    return np.sort(squared, axis=1)[:, rank - 1]


def test_with_views_the_knn_score_is_a_mahalanobis_distance_between_unit_views(fast):
    X = _images(80)
    detector = IBDeepDescription(**_knn_with_views(fast)).fit(X[:60])
    assert detector.transformations_ == "rotations"
    # The reference's embeddings are kept in the score's units ...
    reference = _unit_views(detector.net_.embed(detector.reference_inputs_), 4)
    queries = _unit_views(detector.transform(X[60:]), 4)
    np.testing.assert_allclose(
        detector.reference_embeddings_, reference @ detector.embedding_whitening_, rtol=1e-4, atol=1e-5
    )
    # ... where their k-th nearest lies at this distance.
    expected = _mahalanobis_kth_nearest(queries, reference, detector.n_neighbors_)
    np.testing.assert_allclose(-detector.score_samples(X[60:]), expected, rtol=1e-3)


def test_with_views_each_reference_row_is_left_out_of_the_whitening_of_its_fold(fast):
    X = _images(60)
    # Nothing held out: the threshold comes from the reference's own distances.
    detector = IBDeepDescription(**_knn_with_views(fast), validation_fraction=None).fit(X)
    reference = _unit_views(detector.net_.embed(detector.reference_inputs_), 4)
    folds = np.arange(len(reference)) % WHITENING_FOLDS
    expected = np.empty(len(reference))
    for fold in range(WHITENING_FOLDS):
        rows = np.flatnonzero(folds == fold)
        expected[rows] = _mahalanobis_kth_nearest(
            reference[rows], reference, detector.n_neighbors_, covariance_of=np.delete(reference, rows, 0), skip=rows
        )
    np.testing.assert_allclose(leave_one_out_distances(detector), expected, rtol=1e-3)
    np.testing.assert_allclose(detector.offset_, -auto_threshold(expected), rtol=1e-3)


def test_a_detector_with_views_but_no_whitening_scores_its_embeddings_as_they_are(fast):
    # What a model saved before format 7 holds: the reference as embedded.
    X = _images(80)
    detector = IBDeepDescription(**_knn_with_views(fast)).fit(X[:60])
    del detector.embedding_whitening_
    detector.reference_embeddings_ = detector.net_.embed(detector.reference_inputs_)
    expected = _kth_nearest_brute_force(detector.transform(X[60:]), detector.reference_embeddings_, detector.n_neighbors_)
    np.testing.assert_allclose(-detector.score_samples(X[60:]), expected, rtol=1e-4)


@pytest.mark.parametrize("transformations, anomaly_score", [("none", "knn"), ("rotations", "distance")])
def test_only_k_nn_scores_with_views_whiten(fast, transformations, anomaly_score):
    params = {**fast, "hidden_layer_sizes": (4, 8), "input_shape": (1, 6, 6)}
    detector = IBDeepDescription(**params, transformations=transformations, anomaly_score=anomaly_score).fit(_images(40))
    assert not hasattr(detector, "embedding_whitening_")
