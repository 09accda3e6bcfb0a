"""Flagging rows from conformal p-values at a false discovery rate."""

import warnings

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


@pytest.mark.parametrize("adaptive", [False, True])
def test_no_p_values_flag_nothing(adaptive):
    assert benjamini_hochberg([], adaptive=adaptive).shape == (0,)


def test_a_matrix_of_p_values_is_refused_rather_than_flattened():
    with pytest.raises(ValueError, match=r"one p-value per row, got an array of shape \(2, 2\)"):
        benjamini_hochberg([[0.001, 0.9], [0.002, 0.8]])


@pytest.mark.filterwarnings("ignore:No row was flagged")  # random coarse p-values, on purpose
def test_the_cut_from_counts_flags_as_the_procedure_does():
    from ibdetect.selection import benjamini_hochberg_cut

    rng = np.random.RandomState(0)
    for _ in range(200):
        # Conformal p-values: multiples of 1 / (n + 1), many of them equal.
        n = rng.randint(5, 40)
        pvalues = rng.randint(1, n + 2, size=rng.randint(1, 80)) / (n + 1.0)
        values, counts = np.unique(pvalues, return_counts=True)
        for adaptive in (False, True):
            np.testing.assert_array_equal(
                pvalues <= benjamini_hochberg_cut(values, counts, 0.2, adaptive=adaptive),
                benjamini_hochberg(pvalues, 0.2, adaptive=adaptive),
            )


def test_storey_counts_the_p_values_at_or_above_a_half_twice_and_one_more():
    from ibdetect.selection import normal_share

    # 3 of 10 rows at or above 1/2: (1 + 3) / (10 / 2).
    values, counts = np.array([0.01, 0.4, 0.5, 0.8]), np.array([5, 2, 1, 2])
    assert normal_share(values, counts) == pytest.approx(0.8)


def test_the_adaptive_procedure_is_the_plain_one_at_alpha_over_the_estimated_share():
    rng = np.random.RandomState(1)
    pvalues = np.concatenate([rng.rand(30), rng.rand(70) * 0.02])
    # 1 + the rows at or above 1/2, over half the rows.
    share = (1 + np.sum(pvalues >= 0.5)) / 50
    assert share < 0.5
    adaptive = benjamini_hochberg(pvalues, alpha=0.05, adaptive=True)
    np.testing.assert_array_equal(adaptive, benjamini_hochberg(pvalues, alpha=0.05 / share))
    assert adaptive.sum() > benjamini_hochberg(pvalues, alpha=0.05).sum()


@pytest.mark.parametrize("pvalues, flagged", [
    # No row at or above 1/2: the estimate is 1 / 2 (of 4 rows), the level 0.1, and
    # 0.07 <= 0.1 * 3 / 4 (the plain procedure stops at 0.05 * 3 / 4).
    ([0.01, 0.02, 0.07, 0.3], [True, True, True, False]),
    # One row: the estimate is 2 whatever its p-value, the level 0.025.
    ([0.03], [False]),
    ([0.02], [True]),
    # A p-value of exactly 1/2 counts as a normal row's: (1 + 1) / 2 = 1, the level 0.05,
    # under which 0.02 > 0.05 / 4; not counted, the level would be 0.1, and 0.02 flagged.
    ([0.02, 0.5, 0.3, 0.2], [False, False, False, False]),
])
def test_adaptive_edge_cases(pvalues, flagged):
    assert benjamini_hochberg(pvalues, alpha=0.05, adaptive=True).tolist() == flagged


def _conformal_batch(rng, n_calibration, n_normal, n_anomalies, shift):
    """Conformal p-values of a batch: normal scores standard normal, the anomalies' shifted up."""
    from ibdetect._calibration import conformal_pvalues

    calibration = rng.randn(n_calibration)
    scores = np.concatenate([rng.randn(n_normal), rng.randn(n_anomalies) + shift])
    return conformal_pvalues(calibration, scores), np.arange(len(scores)) >= n_normal


def test_with_conformal_p_values_the_adaptive_procedure_keeps_the_rate_and_gains_power():
    # Seven rows in ten are anomalies: the plain procedure's bound is 0.3 alpha,
    # the adaptive one uses nearly all of alpha, and finds more anomalies.
    rng = np.random.RandomState(0)
    alpha, rates = 0.1, {False: [], True: []}
    for _ in range(1000):
        pvalues, is_anomaly = _conformal_batch(rng, n_calibration=199, n_normal=60, n_anomalies=140, shift=2.5)
        for adaptive in (False, True):
            flagged = benjamini_hochberg(pvalues, alpha=alpha, adaptive=adaptive)
            rates[adaptive].append([(flagged & ~is_anomaly).sum() / max(1, flagged.sum()), flagged[is_anomaly].mean()])
    plain, adaptive = np.mean(rates[False], axis=0), np.mean(rates[True], axis=0)
    # Standard errors of the mean false discovery proportions are about 0.002.
    assert plain[0] <= 0.3 * alpha + 0.006
    assert 0.6 * alpha < adaptive[0] <= alpha + 0.006
    assert adaptive[1] > plain[1] + 0.1


@pytest.mark.parametrize("adaptive", [False, True])
def test_p_values_too_coarse_to_flag_anything_are_named(adaptive):
    # Ten anomalies at the smallest p-value 1/25 of a detector with 24
    # held-out samples: flagging them needs 0.04 <= 0.05 * 10 / 40.
    pvalues = np.concatenate([np.full(10, 1 / 25), np.arange(5, 25, 2 / 3).round() / 25])
    with pytest.warns(UserWarning, match=r"alpha=0.05, although 10 of the 40 rows share the smallest p-value, 0.04: "
                                         r"the p-values are likely too coarse.*larger validation_fraction") as caught:
        assert not benjamini_hochberg(pvalues, alpha=0.05, adaptive=adaptive).any()
    # It points at the caller's line, not into the library.
    assert caught[0].filename == __file__


@pytest.mark.parametrize("pvalues", [
    np.linspace(0.2, 1, 30),  # nothing to flag, and no two rows alike
    np.concatenate([np.full(10, 0.001), np.linspace(0.2, 1, 30)]),  # ten rows flagged
    np.ones(10),  # tied, but above alpha: finer p-values would not flag them
    np.concatenate([[1 / 201] * 2, np.arange(3, 41) / 201]),  # two on the first step, as normal rows often are
    np.concatenate([np.full(10, 0.04), np.linspace(0.21, 0.99, 30)]),  # not on steps of the smallest
])
def test_no_warning_where_the_p_values_are_not_what_kept_rows_from_being_flagged(pvalues):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        benjamini_hochberg(pvalues, alpha=0.05)


@pytest.mark.parametrize("values, counts, message", [
    ([0.4, 0.02], [1, 1], "distinct p-values in increasing order"),
    ([0.02, 0.02], [1, 1], "distinct p-values in increasing order"),
    ([0.02, 1.5], [1, 1], "between 0 and 1"),
    ([0.02, 0.4], [1], r"of one length, got shapes \(2,\) and \(1,\)"),
    ([0.02, 0.4], [1, -1], "integers of at least 0"),
    ([0.02, 0.4], [1.5, 1], "integers of at least 0"),
])
def test_counts_of_p_values_are_checked_rather_than_misread(values, counts, message):
    from ibdetect.selection import benjamini_hochberg_cut, normal_share, pvalues_too_coarse

    for function in (benjamini_hochberg_cut, normal_share):
        with pytest.raises(ValueError, match=message):
            function(values, counts)
    with pytest.raises(ValueError, match=message):
        pvalues_too_coarse(values, counts, alpha=0.05)


def test_the_cut_from_counts_takes_the_procedures_alpha_and_a_share_needs_a_row():
    from sklearn.utils._param_validation import InvalidParameterError

    from ibdetect.selection import benjamini_hochberg_cut, normal_share

    with pytest.raises(InvalidParameterError, match="'alpha' parameter of benjamini_hochberg_cut must be"):
        benjamini_hochberg_cut([0.02, 0.4], [1, 1], alpha=1.0)
    with pytest.raises(ValueError, match="one row at least; the counts add up to none"):
        normal_share([], [])
    assert benjamini_hochberg_cut([], [], adaptive=True) == -1.0


@pytest.mark.parametrize("first, alpha, too_coarse", [
    (12, 0.05, True),   # 12 rows on 1/21, where 20 rows of normal data would put about 1
    (2, 0.05, False),   # fewer than MIN_PILED_UP
    (4, 0.05, False),   # not PILED_UP times as many as normal rows would give (20 / 21 * 5 = 4.8)
    (12, 0.04, False),  # the smallest step, 1/21, is above alpha: finer steps are not the point
])
def test_p_values_are_too_coarse_where_many_rows_pile_on_the_smallest_step(first, alpha, too_coarse):
    from ibdetect.selection import pvalues_too_coarse

    assert pvalues_too_coarse([1 / 21, 10 / 21], [first, 20 - first], alpha=alpha) is too_coarse
