r"""Which rows to flag, from conformal p-values, with a rate of false flags you choose.

A detector's ``pvalues(X)`` are conformal p-values: for a new normal row,
``P(p <= alpha) <= alpha``. Flagging the rows with ``p <= alpha`` bounds the
share of *normal rows* flagged. When a batch is screened and its flags are
checked by a person, the question is rather how many of the *flags* are
false: the false discovery rate. :func:`benjamini_hochberg` answers it.
Conformal p-values of a batch are positively dependent through the
calibration samples they share, and for such p-values the Benjamini-Hochberg
procedure keeps the expected share of false flags among all flags at most
``alpha`` times the share of normal rows in the batch (Bates et al., 2023,
"Testing for outliers with conformal p-values", Annals of Statistics).

The procedure can flag no row at all when the p-values are too coarse: the
smallest plain p-value of a detector is ``1 / (n_calibration + 1)``, and to
flag ``k`` of ``m`` rows, ``k`` of them need p-values of at most
``alpha k / m``. Smoothed p-values (``pvalues(X, smoothing=True)``) go below
that step, but by a random draw.

Examples
--------
>>> import numpy as np
>>> from ibdetect.selection import benjamini_hochberg
>>> pvalues = np.array([0.001, 0.002, 0.03, 0.2, 0.5, 0.9])
>>> benjamini_hochberg(pvalues, alpha=0.05)
array([ True,  True, False, False, False, False])
>>> pvalues <= 0.05
array([ True,  True,  True, False, False, False])
"""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["benjamini_hochberg", "benjamini_hochberg_cut"]


@validate_params(
    {"pvalues": ["array-like"], "alpha": [Interval(numbers.Real, 0, 1, closed="neither")]},
    prefer_skip_nested_validation=True,
)
def benjamini_hochberg(pvalues, alpha=0.05):
    """The rows that the Benjamini-Hochberg procedure flags at a false discovery rate of ``alpha``.

    Parameters
    ----------
    pvalues : array-like of shape (n_samples,)
        Conformal p-values of a batch, one per row, such as
        ``detector.pvalues(X)``.
    alpha : float, default=0.05
        The bound on the false discovery rate, the expected share of normal
        rows among the rows flagged.

    Returns
    -------
    flagged : ndarray of bool of shape (n_samples,)
        True for the rows flagged: those whose p-value is at most the
        largest ``p_(k)`` with ``p_(k) <= alpha k / n_samples``.

    Raises
    ------
    ValueError
        A p-value is not a number between 0 and 1.
    """
    pvalues = np.asarray(pvalues, dtype=np.float64)
    if pvalues.ndim != 1:
        raise ValueError(f"pvalues must be one p-value per row, got an array of shape {pvalues.shape}")
    if not np.all((pvalues >= 0) & (pvalues <= 1)):
        raise ValueError("p-values must be numbers between 0 and 1")
    values, counts = np.unique(pvalues, return_counts=True)
    return pvalues <= benjamini_hochberg_cut(values, counts, alpha)


def benjamini_hochberg_cut(values, counts, alpha=0.05):
    """The largest p-value that the Benjamini-Hochberg procedure flags, from how many rows have each value.

    Conformal p-values take at most ``n_calibration + 1`` values, so a file
    of any length is screened in memory that grows with those, not with its
    rows: count the rows of each value, then flag those at or below the cut.

    Parameters
    ----------
    values : array-like of shape (n_values,)
        The distinct p-values, in increasing order.
    counts : array-like of int of shape (n_values,)
        How many rows have each.
    alpha : float, default=0.05

    Returns
    -------
    cut : float
        Rows whose p-value is at most ``cut`` are flagged; -1.0 when none is.
    """
    values, counts = np.asarray(values, dtype=np.float64), np.asarray(counts)
    # A row with the k-th smallest p-value is flagged when some p_(j) <= alpha j / m for j >= k;
    # among equal p-values the last place is the one to test.
    at_most = np.cumsum(counts)
    under = values <= alpha * at_most / max(1, at_most[-1] if len(at_most) else 0)
    return float(values[under].max()) if under.any() else -1.0
