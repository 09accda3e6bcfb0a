"""Flagging rows from conformal p-values at a false discovery rate."""

import numpy as np
import pytest

from ibdetect.selection import benjamini_hochberg


def test_the_procedure_flags_up_to_the_largest_p_value_under_its_line():
    # Sorted, the line alpha k / m is 0.01, 0.02, ..., 0.05 for m = 5.
    pvalues = np.array([0.04, 0.005, 0.5, 0.011, 0.9])
    # 0.005 <= 0.01, 0.011 <= 0.02, 0.04 <= 0.03? no, 0.5 > 0.04, 0.9 > 0.05: two flags.
    assert benjamini_hochberg(pvalues, alpha=0.05).tolist() == [False, True, False, True, False]
    # A p-value above its own line is flagged when a larger one is under its line.
    assert benjamini_hochberg(np.array([0.02, 0.021, 0.03]), alpha=0.03).tolist() == [True, True, True]


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_the_share_of_false_flags_is_at_most_alpha_on_average(alpha):
    rng = np.random.RandomState(0)
    shares = []
    for _ in range(400):
        null = rng.rand(900)
        signal = rng.rand(100) * 1e-3
        flagged = benjamini_hochberg(np.concatenate([null, signal]), alpha=alpha)
        shares.append(flagged[:900].sum() / max(1, flagged.sum()))
    # The bound is alpha times the share of null rows, 0.9.
    assert np.mean(shares) <= 0.9 * alpha + 0.01
    assert np.mean(shares) > 0.5 * alpha


@pytest.mark.parametrize("pvalues, message", [
    ([0.5, 1.5], "between 0 and 1"),
    ([np.nan], "between 0 and 1"),
])
def test_p_values_outside_0_and_1_are_an_error(pvalues, message):
    with pytest.raises(ValueError, match=message):
        benjamini_hochberg(pvalues)


def test_no_p_values_flag_nothing():
    assert benjamini_hochberg([]).shape == (0,)


def test_a_matrix_of_p_values_is_refused_rather_than_flattened():
    with pytest.raises(ValueError, match=r"one p-value per row, got an array of shape \(2, 2\)"):
        benjamini_hochberg([[0.001, 0.9], [0.002, 0.8]])


def test_the_cut_from_counts_flags_as_the_procedure_does():
    from ibdetect.selection import benjamini_hochberg_cut

    rng = np.random.RandomState(0)
    for _ in range(200):
        # Conformal p-values: multiples of 1 / (n + 1), many of them equal.
        n = rng.randint(5, 40)
        pvalues = rng.randint(1, n + 2, size=rng.randint(1, 80)) / (n + 1.0)
        values, counts = np.unique(pvalues, return_counts=True)
        np.testing.assert_array_equal(pvalues <= benjamini_hochberg_cut(values, counts, 0.2), benjamini_hochberg(pvalues, 0.2))
