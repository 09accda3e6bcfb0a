"""explain: each feature's share of a score, and the reference rows it compared with; class-wise p-values."""

import io
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn import config_context

from ibdetect import IBDeepDescription
from ibdetect._distances import kth_neighbor_distances
from ibdetect import _explanation
from ibdetect._explanation import EXPECTED_CAP, _RowComparison, expected_values
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
    # Each expected value is a mean of reference values of that feature.
    low, high = fitted.reference_inputs_.min(axis=0), fitted.reference_inputs_.max(axis=0)
    assert ((explanation.expected >= low - 1e-6) & (explanation.expected <= high + 1e-6)).all()
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
    # Its partner puts its expected value on the other side of 0.
    assert (np.sign(explanation.expected[:, 1]) == np.sign(broken[:, 0])).mean() >= 0.9
    assert (np.abs(broken - explanation.expected)[:, 1] > 1).all()
    # The pair broke: one of the two comes first, never a noise feature.
    assert np.isin(explanation.contributions.argmax(axis=1), [0, 1]).all()


def test_the_embeddings_parts_are_integrated_gradients_from_the_expected_row(table, fast):
    X, y = table
    # The embedding's score alone: every contribution comes from the gradients.
    detector = IBDeepDescription(**fast, anomaly_score="knn").fit(X, y)
    rows = _with_one_feature_off(X, 3, shift=6.0).astype(np.float32)
    explanation = detector.explain(rows, n_steps=64)
    module = detector.net_.module_.eval()
    start = torch.as_tensor(explanation.expected)
    step = torch.as_tensor(rows) - start
    with torch.no_grad():
        target = module(start)
    # The gradient of the squared distance, averaged over 2,000 points of
    # the straight path, times the path's step (the midpoint rule).
    gradients = torch.zeros_like(step)
    for t in (np.arange(2000) + 0.5) / 2000:
        point = (start + float(t) * step).requires_grad_(True)
        (module(point) - target).square().sum().backward()
        gradients += point.grad / 2000
    parts = np.maximum((gradients * step).double().numpy(), 0)
    shares = parts / parts.sum(axis=1, keepdims=True)
    # Gauss-Legendre's 64 points and the midpoint rule's 2,000 both blur the
    # network's kinks a little: agreement to a few thousandths of the largest.
    expected = explanation.distances[:, None] * shares
    np.testing.assert_allclose(explanation.contributions, expected, atol=3e-3 * expected.max())


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
    reference = detector.reference_inputs_ / units
    expected = expected_values(rows / units, reference, 5) * units
    np.testing.assert_allclose(explanation.expected, expected, rtol=1e-5)
    differences = np.square((rows - explanation.expected) / units)
    shares = differences / differences.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(explanation.contributions, explanation.distances[:, None] * shares, rtol=1e-5)


def _expected_by_brute_force(rows, reference, n_neighbors=5):
    caps = (EXPECTED_CAP * reference.std(axis=0)) ** 2
    squares = (rows[:, None, :] - reference[None]) ** 2
    capped = squares * caps / (squares + caps)
    expected = np.empty(rows.shape)
    for feature in range(rows.shape[1]):
        distances = np.delete(capped, feature, axis=2).sum(-1)
        expected[:, feature] = reference[np.argsort(distances, axis=1)[:, :n_neighbors], feature].mean(1)
    return expected


@pytest.mark.parametrize("n_features", [4, 20])
def test_expected_values_are_exact_far_from_the_origin(fast, n_features):
    rng = np.random.RandomState(0)
    X = rng.normal(0, 1, (300, n_features))
    # One feature 10^4 away from the origin: float32 differences would lose its digits.
    X[:, 1] += 1e4
    detector = IBDeepDescription(**fast).fit(X)
    # Rows of the reference, and rows with one value moved far off, whose
    # nearest rows on the others are far from their nearest on all.
    rows = np.vstack([X[:8], _with_one_feature_off(X, 2, shift=6.0)])
    explanation = detector.explain(rows)
    reference = detector.reference_inputs_.astype(np.float64)
    np.testing.assert_allclose(explanation.expected, _expected_by_brute_force(rows, reference), rtol=1e-6)


# Candidates from a few to more than the reference rows; rows near the
# reference, or far from it, where many values fall back to the full sort.
@pytest.mark.parametrize("n_features", [2, 9, 20])
@pytest.mark.parametrize("n_candidates", [6, 64])
@pytest.mark.parametrize("shift", [0.0, 4.0])
def test_expected_values_among_candidates_are_those_of_a_search_per_feature(
    n_features, n_candidates, shift, monkeypatch
):
    monkeypatch.setattr(_explanation, "EXPECTED_CANDIDATES", n_candidates)
    rng = np.random.RandomState(n_features)
    # Correlated features, as a table's are.
    reference = rng.normal(0, 1, (60, 3)) @ rng.normal(0, 1, (3, n_features)) + rng.normal(0, 0.3, (60, n_features))
    rows = reference[rng.randint(60, size=40)] + rng.normal(0, 0.3, (40, n_features))
    rows[::2, 1] += shift * n_features
    # Blocks of a few rows, the last one shorter: each reuses the buffer.
    row_bytes = n_features * (4 * 60 + 20 * min(n_candidates, 60))
    with config_context(working_memory=3.5 * row_bytes / 2**20):
        expected = expected_values(rows, reference, 5)
    np.testing.assert_allclose(expected, _expected_by_brute_force(rows, reference), rtol=1e-9, atol=1e-12)


def test_constant_and_huge_values_leave_the_expected_values_finite():
    rng = np.random.RandomState(0)
    reference = rng.normal(0, 1, (100, 5))
    reference[:, 3] = 2.0
    rows = reference[:6].copy()
    rows[:3, 0] = 1e20
    expected = expected_values(rows, reference, 5)
    assert np.isfinite(expected).all()
    # A constant feature is expected at its value.
    np.testing.assert_array_equal(expected[:, 3], 2.0)
    # A value beyond float32's squares weighs as much as any far value: the
    # other features still pick the rows' neighbours, as they would at 1e3.
    far = rows.copy()
    far[:3, 0] = 1e3
    np.testing.assert_allclose(expected[:, 1:], expected_values(far, reference, 5)[:, 1:])


def test_a_broken_value_does_not_choose_the_other_features_neighbours():
    rng = np.random.RandomState(0)
    # Two groups of rows apart on features 0, 1 and 2; feature 3 is noise.
    group = np.repeat([0.0, 4.0], 100)[:, None]
    reference = np.hstack([np.repeat(group, 3, axis=1), rng.normal(0, 1, (200, 1))]) + rng.normal(0, 0.3, (200, 4))
    # Rows of the first group, with feature 1 broken far beyond either group.
    rows = reference[:10].copy()
    rows[:, 1] = 12.0
    expected = expected_values(rows, reference, 5)
    # Feature 2 still says which group the row is from: feature 0 is
    # expected near 0. Uncapped, feature 1 would pick the second group's
    # rows, 8 nearer than the first's, for a mean near 4.
    assert (np.abs(expected[:, 0]) < 1).all()


def small_images(fast, **params):
    """120 noisy 6x6 images and a detector fitted on them with a tiny CNN."""
    X = np.random.RandomState(0).normal(0, 0.1, (120, 36)).astype(np.float32)
    return X, IBDeepDescription(**{**fast, "hidden_layer_sizes": (4, 8)}, input_shape=(1, 6, 6), **params).fit(X)


def test_images_default_points_agree_with_many_on_the_largest_contributions(fast):
    # The embedding's score alone: every contribution then comes from the
    # quadrature, none from the pixels' exact squared differences.
    X, detector = small_images(fast, anomaly_score="knn")
    bright = X[:5].copy()
    bright[:, 20] = 2.0
    coarse, fine = detector.explain(bright).contributions, detector.explain(bright, n_steps=128).contributions
    np.testing.assert_array_equal(coarse, detector.explain(bright, n_steps=8).contributions)
    np.testing.assert_array_equal(coarse.argmax(axis=1), fine.argmax(axis=1))
    np.testing.assert_allclose(coarse, fine, atol=0.05 * np.abs(fine).max())


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
    assert row_bytes == options["cached_bytes"] + 2 * 4 * activations


def test_images_are_explained_pixel_by_pixel(fast):
    X, detector = small_images(fast)
    bright = X[:3].copy()
    bright[:, 14] = 5.0
    explanation = detector.explain(bright)
    assert explanation.contributions.shape == (3, 36)
    assert (explanation.contributions.argmax(axis=1) == 14).all()
    np.testing.assert_allclose(explanation.contributions.sum(axis=1), explanation.distances, rtol=1e-6)


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
    with pytest.raises(ValueError, match="anomaly_score='distance' keeps none; refit with anomaly_score='knn'"):
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
    with pytest.warns(UserWarning, match=r"fewer than 19 held-out samples: 0 \(10\), 1 \(10\), 2 \(0\)"):
        pvalues = detector.pvalues(X[:4], by_class=True)
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
