r"""Does new data that should be normal still look like the data the detector was calibrated on?

The p-values and the threshold mean what the user guide says only while new
normal samples are exchangeable with the held-out normal samples of ``fit``
(``calibration_scores_``). :func:`check_drift` tests that, a window of rows
at a time. It counts the window's rows farther from the normal data than
the calibration samples' top ``top_fraction`` (the ``k``-th farthest of the
``n`` calibration samples, ``k = top_fraction (n + 1)``). A new normal row
lies beyond that cut with a probability that depends on which samples were
held out: a Beta(k, n - k + 1) variable, whatever the data and the model.
The test bounds it by its ``confidence`` quantile, and the count of a
window of new normal rows is then at most Binomial(window, bound).

So the guarantee holds for the fit at hand, not only on average over fits:
with probability at least ``confidence`` over the held-out samples, each
window of new normal rows is flagged with probability at most ``alpha``,
independently of the other windows. The price is power: with few
calibration samples the bound lies well above ``top_fraction`` (for the
default top 5%: 0.091 with 50 samples, 0.063 with 800, 0.055 with 5,000),
and only a window with more far-out rows than that is flagged. Hold out
more samples (``validation_fraction``) to see smaller shifts.

Examples
--------
>>> import numpy as np
>>> from ibdetect import IBDeepDescription
>>> from ibdetect.drift import check_drift
>>> rng = np.random.RandomState(0)
>>> X = rng.normal(0, 1, (4000, 4))
>>> detector = IBDeepDescription(max_epochs=5, validation_fraction=0.25, random_state=0).fit(X)
>>> same = rng.normal(0, 1, (1000, 4))
>>> check_drift(detector, same).drifted
array([False, False])
>>> shifted = rng.permutation(np.vstack([same[:900], rng.normal(4, 1, (100, 4))]))
>>> check_drift(detector, shifted).drifted
array([ True,  True])
"""

import math
import numbers

import numpy as np
from scipy.stats import beta, binom
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_is_fitted

from ._calibration import check_calibrated
from ._pipelines import final_step
from ._warnings import warn_at_caller

__all__ = ["check_drift", "drift_test"]

# What check_drift and drift_test both take, and the values they allow.
_TEST_OPTIONS = {
    "window_size": [Interval(numbers.Integral, 1, None, closed="left")],
    "alpha": [Interval(numbers.Real, 0, 1, closed="neither")],
    "top_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
    "confidence": [Interval(numbers.Real, 0, 1, closed="neither")],
}


@validate_params(
    {
        "model": [object],
        "X": ["array-like"],
        **_TEST_OPTIONS,
    },
    prefer_skip_nested_validation=True,
)
def check_drift(model, X, *, window_size=500, alpha=0.01, top_fraction=0.05, confidence=0.95):
    """Test each window of ``X`` for rows farther from the normal data than the calibration samples allow.

    Parameters
    ----------
    model : IBDeepDescription or Pipeline
        A fitted detector, or a pipeline ending in one, whose fit held out
        normal samples (``calibration_scores_``).
    X : array-like of shape (n_samples, n_features)
        New data that should be normal, in the order it arrived.
    window_size : int, default=500
        Rows per window; the last window takes what is left, if that is at
        least half a window (else it joins the one before).
    alpha : float, default=0.01
        A window whose p-value is at most ``alpha`` is flagged: with
        probability ``confidence`` over the fit's held-out samples, at most
        that share of windows of new normal rows is flagged, on average.
    top_fraction : float, default=0.05
        Where the cut lies among the calibration samples. Smaller catches a
        few very anomalous rows sooner; larger, a broad shift.
    confidence : float, default=0.95
        How sure the bound on a new normal row's chance to lie beyond the
        cut is, over the samples the fit held out.

    Returns
    -------
    result : Bunch
        ``pvalues`` (one per window), ``drifted`` (``pvalues <= alpha``),
        ``windows`` (each window's first and last row + 1, shape
        (n_windows, 2)), ``far`` (each window's rows beyond the cut),
        ``bound`` (the bound on a new normal row's chance to lie beyond it),
        ``alpha``, ``min_window_size`` (the fewest rows that can be flagged
        at ``alpha``: all of them beyond the cut) and ``testable`` (whether
        each window has that many).

    Warns
    -----
    UserWarning
        No window has rows enough to be flagged, however far out they lie.

    Raises
    ------
    ValueError
        The detector held out no normal samples, or X has no rows.

    See Also
    --------
    drift_test : The same test on anomaly scores already computed.
    """
    detector = final_step(model)
    check_is_fitted(detector)
    check_calibrated(detector)
    scores = -np.asarray(model.score_samples(X), dtype=np.float64)
    return drift_test(detector.calibration_scores_, scores, window_size, alpha, top_fraction, confidence)


@validate_params(
    {
        "calibration_scores": ["array-like"],
        "scores": ["array-like"],
        **_TEST_OPTIONS,
    },
    prefer_skip_nested_validation=True,
)
def drift_test(calibration_scores, scores, window_size=500, alpha=0.01, top_fraction=0.05, confidence=0.95):
    """:func:`check_drift` on anomaly scores already computed (higher is more anomalous).

    Parameters
    ----------
    calibration_scores : array-like of shape (n_calibration,)
        Anomaly scores of normal samples that the model never trained on,
        such as a detector's ``calibration_scores_``.
    scores : array-like of shape (n_samples,)
        Anomaly scores of the new rows, in the order they arrived (for
        ``IBDeepDescription``, ``-score_samples(X)``).
    window_size : int, default=500
    alpha : float, default=0.01
    top_fraction : float, default=0.05
    confidence : float, default=0.95
        As :func:`check_drift` takes them.

    Returns
    -------
    result : Bunch
        As :func:`check_drift` returns it.

    Raises
    ------
    ValueError
        The scores are not one number per row, hold NaN, or there are none.
    """
    calibration = np.sort(_one_per_row(calibration_scores, "calibration_scores"))
    scores = _one_per_row(scores, "scores")
    if not len(calibration):
        raise ValueError("calibration_scores holds no scores; the test needs those of held-out normal samples")
    windows = _windows(len(scores), window_size)
    n = len(calibration)
    k = min(n, max(1, int(top_fraction * (n + 1))))
    cut = calibration[n - k]
    # The chance of a new normal row to lie beyond the k-th farthest of n
    # exchangeable samples is Beta(k, n - k + 1): bounded here for this fit.
    bound = float(beta.ppf(confidence, k, n - k + 1))
    far = np.array([int(np.sum(scores[start:stop] > cut)) for start, stop in windows])
    sizes = windows[:, 1] - windows[:, 0]
    pvalues = binom.sf(far - 1, sizes, bound)
    # A window of m rows, every one beyond the cut, has the p-value bound ** m.
    min_window_size = math.ceil(math.log(alpha) / math.log(bound))
    testable = sizes >= min_window_size
    if not testable.any():
        warn_at_caller(
            f"No window can be flagged: at alpha={alpha:g}, with {n} calibration samples, a window needs "
            f"{min_window_size} rows or more (all of them far out), and "
            + (
                f"the scores hold only {len(scores)} row{'' if len(scores) == 1 else 's'}."
                if len(scores) < min_window_size
                else f"windows of {window_size} have fewer; pass window_size={min_window_size} or more."
            ),
            UserWarning,
        )
    return Bunch(
        pvalues=pvalues, drifted=pvalues <= alpha, windows=windows, far=far, bound=bound, alpha=alpha,
        min_window_size=min_window_size, testable=testable,
    )


def _one_per_row(scores, name):
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"{name} must be one anomaly score per row, got an array of shape {scores.shape}")
    if np.isnan(scores).any():
        # A NaN is beyond no cut and would pass for a normal row.
        raise ValueError(f"{name} holds NaN; anomaly scores are numbers")
    return scores


def _windows(n_rows, window_size):
    if n_rows == 0:
        raise ValueError("X has no rows to test for drift")
    starts = list(range(0, n_rows, window_size))
    if len(starts) > 1 and n_rows - starts[-1] < window_size / 2:
        starts.pop()
    stops = starts[1:] + [n_rows]
    return np.column_stack([starts, stops])
