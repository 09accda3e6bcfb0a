import numpy as np
import pytest

from ibdetect._calibration import auto_threshold
from ibdetect._chunking import CACHE_BYTES
from ibdetect._distances import (
    center_distances,
    kth_neighbor_distances,
    nearest_center_distances,
    squared_distance_matrix,
)


def brute_force(embeddings, reference):
    diff = embeddings.astype(np.float64)[:, None, :] - reference.astype(np.float64)[None, :, :]
    return (diff**2).sum(-1)


@pytest.fixture
def points():
    rng = np.random.RandomState(0)
    # A compact cluster far from the origin, where the expansion
    # |a|^2 - 2ab + |b|^2 in float32 or about the origin loses the digits of
    # the small distances.
    reference = (rng.normal(size=(300, 8)) * 0.01 + 50.0).astype(np.float32)
    queries = (rng.normal(size=(40, 8)) * 0.01 + 50.0).astype(np.float32)
    return queries, reference


@pytest.mark.parametrize("n_neighbors", [1, 5, 300])
@pytest.mark.parametrize("working_memory", [None, 0.001])
def test_kth_neighbor_distances_match_brute_force(points, n_neighbors, working_memory):
    queries, reference = points
    expected = np.sort(brute_force(queries, reference), axis=1)[:, n_neighbors - 1]
    found = kth_neighbor_distances(queries, reference, n_neighbors, working_memory=working_memory)
    np.testing.assert_allclose(found, expected, rtol=1e-6)


def test_skip_self_leaves_each_reference_out_of_its_own_neighbours(points):
    _, reference = points
    distances = brute_force(reference, reference)
    np.fill_diagonal(distances, np.inf)
    expected = np.sort(distances, axis=1)[:, 2]
    found = kth_neighbor_distances(reference, reference, 3, skip_self=True)
    np.testing.assert_allclose(found, expected, rtol=1e-6)


def _nearest_by_brute_force(distances, n_neighbors):
    return np.sort(distances, axis=1)[:, :n_neighbors]


@pytest.mark.parametrize("n_neighbors", [1, 5, 299])
@pytest.mark.parametrize("skip_self", [False, True])
def test_returned_indices_are_the_nearest_references_nearest_first(points, n_neighbors, skip_self):
    queries, reference = points
    samples = reference if skip_self else queries
    distances = brute_force(samples, reference)
    if skip_self:
        np.fill_diagonal(distances, np.inf)
    found, indices = kth_neighbor_distances(
        samples, reference, n_neighbors, skip_self=skip_self, working_memory=0.001, return_indices=True
    )
    assert indices.shape == (len(samples), n_neighbors)
    # Distances by index rather than the indices themselves: ties may come in either order.
    by_index = np.take_along_axis(distances, indices, axis=1)
    np.testing.assert_allclose(by_index, _nearest_by_brute_force(distances, n_neighbors), rtol=1e-6)
    np.testing.assert_allclose(found, by_index[:, -1], rtol=1e-6)
    if skip_self:
        assert not (indices == np.arange(len(samples))[:, None]).any()


def test_indices_survive_the_float64_ranking_of_classes_far_apart():
    # As below: rows whose float32 ranking is in doubt are ranked again.
    rng = np.random.RandomState(0)
    means = rng.normal(size=(4, 16)) * 1000.0 + 50.0
    reference = means[rng.randint(4, size=500)] + rng.normal(size=(500, 16)) * 0.01
    queries = means[rng.randint(4, size=60)] + rng.normal(size=(60, 16)) * 0.01
    distances = brute_force(queries, reference)
    _, indices = kth_neighbor_distances(queries, reference, 5, return_indices=True)
    np.testing.assert_allclose(
        np.take_along_axis(distances, indices, axis=1), _nearest_by_brute_force(distances, 5), rtol=1e-9
    )


@pytest.mark.parametrize("n_neighbors, skip_self", [(0, False), (301, False), (300, True)])
def test_impossible_neighbour_ranks_are_rejected(points, n_neighbors, skip_self):
    queries, reference = points
    with pytest.raises(ValueError, match=f"n_neighbors={n_neighbors}"):
        kth_neighbor_distances(queries, reference, n_neighbors, skip_self=skip_self)


def test_blocks_are_bounded_by_working_memory(points, monkeypatch):
    queries, reference = points
    import torch

    shapes = []
    addmm = torch.addmm
    monkeypatch.setattr(torch, "addmm", lambda *a, **k: shapes.append(a[1].shape) or addmm(*a, **k))
    kth_neighbor_distances(queries, reference, 1, working_memory=0.01)
    # 0.01 MiB holds 3 rows of 300 float32 partial distances, the partial
    # sort's work space and the float64 differences of 3 candidates of 8
    # features (twice) and of the row itself.
    assert max(shape[0] for shape in shapes) == 3
    assert sum(shape[0] for shape in shapes) == len(queries)


def test_blocks_of_wide_rows_count_their_candidates_differences(monkeypatch):
    import torch

    gathered = []
    # Few references but wide rows, as images: the candidates' float64
    # differences from each row, not the partial distances, fill a block.
    rng = np.random.RandomState(0)
    queries, reference = rng.normal(size=(64, 5000)), rng.normal(size=(50, 5000))
    sub = torch.Tensor.__sub__
    monkeypatch.setattr(torch.Tensor, "__sub__", lambda a, b: gathered.append(a.shape) or sub(a, b))
    found = kth_neighbor_distances(queries, reference, 1, working_memory=1.0)
    candidate_differences = [shape for shape in gathered if len(shape) == 3]
    assert candidate_differences
    assert max(rows * n * dim * 8 * 2 for rows, n, dim in candidate_differences) <= 2**20
    expected = np.sort(((queries[:, None] - reference[None]) ** 2).sum(-1), axis=1)[:, 0]
    np.testing.assert_allclose(found, expected, rtol=1e-9)


def test_blocks_stay_small_enough_for_the_cache(monkeypatch):
    import torch

    blocks = []
    addmm = torch.addmm
    monkeypatch.setattr(torch, "addmm", lambda *a, **k: blocks.append(a[1]) or addmm(*a, **k))
    rng = np.random.RandomState(0)
    kth_neighbor_distances(rng.normal(size=(600, 4)), rng.normal(size=(2000, 4)), 1)
    # A row takes 2,000 float32 partial distances and as much work space, and
    # the float64 differences of its 3 candidates (twice) and itself.
    rows = CACHE_BYTES // (2000 * 4 * 2 + 8 * 4 * 7)
    # Float64 products, if any, rank again the rows that float32 leaves in doubt.
    assert [len(block) for block in blocks if block.dtype == torch.float32] == [rows, rows, 600 - 2 * rows]


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e5])
def test_the_distance_matrix_keeps_the_digits_of_rows_far_from_the_origin(offset):
    rng = np.random.RandomState(0)
    samples, reference = rng.normal(offset, 1, (50, 12)), rng.normal(offset, 1, (200, 12))
    # The same distances to about 19 digits (long double differences).
    exact = ((samples.astype(np.longdouble)[:, None] - reference.astype(np.longdouble)[None]) ** 2).sum(-1)
    error = np.abs(squared_distance_matrix(samples, reference).numpy() - exact).astype(np.float64)
    # Products about the reference's mean are off by at most (dim + 4) u
    # (|s| + radius)^2, with u float64's unit roundoff: about 10^-13 of
    # distances near 24, at any offset (about the origin, 10^-3 at 10^5).
    mean = reference.mean(axis=0)
    radius = np.sqrt(((reference - mean) ** 2).sum(1)).max()
    bound = (12 + 4) * 2.0**-53 * (np.sqrt(((samples - mean) ** 2).sum(1)) + radius) ** 2
    assert (error <= bound[:, None]).all()


@pytest.mark.parametrize("spread", [1.0, 0.01])
def test_classes_far_apart_compared_to_their_spread_keep_exact_distances(spread):
    # Class means 1,000 apart: about the reference's mean, float32 rounding
    # (1e-4 of 1,000^2) exceeds the distances within a class, and the ranking
    # must be redone in float64 for them to come out right.
    rng = np.random.RandomState(0)
    means = rng.normal(size=(4, 16)) * 1000.0 + 50.0
    reference = means[rng.randint(4, size=500)] + rng.normal(size=(500, 16)) * spread
    queries = means[rng.randint(4, size=60)] + rng.normal(size=(60, 16)) * spread
    for n_neighbors in (1, 5):
        expected = np.sort(brute_force(queries, reference), axis=1)[:, n_neighbors - 1]
        np.testing.assert_allclose(kth_neighbor_distances(queries, reference, n_neighbors), expected, rtol=1e-9)


@pytest.mark.parametrize("working_memory", [None, 0.0001])
def test_center_distances_match_brute_force(points, working_memory):
    queries, reference = points
    centers = reference[:3].astype(np.float64)
    expected = brute_force(queries, centers)
    np.testing.assert_allclose(center_distances(queries, centers, working_memory), expected, rtol=1e-12)
    np.testing.assert_allclose(nearest_center_distances(queries, centers), expected.min(axis=1), rtol=1e-12)


def test_auto_threshold_is_tukeys_fence_on_log_distances_capped_at_the_99th_percentile():
    # log distances 0..99: Q1 24.75, Q3 74.25, fence 148.5, beyond the 99th
    # percentile (98.01), which therefore wins.
    distances = np.exp(np.arange(100.0))
    assert auto_threshold(distances) == pytest.approx(np.exp(98.01))
    # Tightly grouped log distances and a tenth far out: the fence wins.
    log_distances = np.r_[np.linspace(0.0, 1.0, 90), np.full(10, 50.0)]
    q1, q3 = np.percentile(log_distances, [25, 75])
    assert auto_threshold(np.exp(log_distances)) == pytest.approx(np.exp(q3 + 1.5 * (q3 - q1)))
