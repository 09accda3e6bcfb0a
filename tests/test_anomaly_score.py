import numpy as np

from ibdetect._anomaly_score import MAX_TYPICAL_QUERIES, mixed_neighbor_distances, typical_neighbor_distance


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
