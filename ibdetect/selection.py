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

When many rows of a batch are anomalies, the procedure is conservative: its
bound is ``alpha`` times the share of normal rows, not ``alpha``. With
``adaptive=True`` it first estimates that share from the batch and runs at
``alpha`` divided by the estimate (Storey's estimator: a normal row's
p-value is as likely at or above 1/2 as below, an anomaly's seldom is, so
one more than the rows at or above 1/2, doubled, errs high as a count of
the normal rows). For plain conformal p-values this adaptive procedure
keeps the false discovery rate at most ``alpha`` itself (Marandon, Lei,
Mary and Roquain, 2024, "Adaptive novelty detection with false discovery
rate guarantee", Annals of Statistics): it spends the slack the plain
procedure leaves, so it flags more anomalies and more normal rows too.
The guarantee is not stated for smoothed p-values, over which simulated
rates went slightly above ``alpha``. Where the batch holds few anomalies
the estimate is about 1, a little above or below from batch to batch, and
the two procedures flag about as many rows. Choose one of them before
seeing what they flag: keeping whichever flags more voids the guarantee.

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

In a batch where most rows are anomalies, the adaptive procedure allows
for it. Of these 20 rows, plain p-values of a detector with 24 held-out
samples (multiples of 1/25), 14 have the smallest, 0.04, and 6 are spread
out, 3 of them at 1/2 or more: it estimates that (1 + 3) / (20 / 2) = 0.4
of the rows are normal (the added one errs high: 6 of 20 rows, 0.3, look
normal), and runs at 0.05 / 0.4.

The plain procedure flags none of them, and warns that the 14 rows at the
smallest p-value point to p-values too coarse for the batch:

>>> import warnings
>>> pvalues = np.concatenate([np.full(14, 0.04), [0.12, 0.2, 0.32, 0.52, 0.72, 0.96]])
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     int(benjamini_hochberg(pvalues, alpha=0.05).sum())
0
>>> print(caught[0].message)  # doctest: +ELLIPSIS
No row was flagged at alpha=0.05, although 14 of the 20 rows share the smallest p-value, 0.04: ...
>>> int(benjamini_hochberg(pvalues, alpha=0.05, adaptive=True).sum())
14
"""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from ._warnings import warn_at_caller

__all__ = ["benjamini_hochberg", "benjamini_hochberg_cut", "normal_share", "pvalues_too_coarse"]

#: Storey's lambda: the p-values at or above it are counted as normal rows'.
#: A half, as Storey (2002) and Marandon et al. (2024) take it.
NORMAL_ABOVE = 0.5

#: How many times as many rows as normal ones would (``m / (n + 1)`` of
#: ``m``), and how many at least, must share the smallest plain p-value for
#: benjamini_hochberg to warn, when it flags nothing, that the p-values are
#: too coarse (:func:`pvalues_too_coarse`). In simulated batches of normal rows only (4,000 each), it
#: then warned for 0.2% of batches of 40 rows with 200 held-out samples
#: (2.6% with 2 rows at least), 0.9% with 24 held-out samples and 1.8% of
#: batches of 400 rows with 200: held-out scores that all fell low put
#: many normal rows beyond them, where finer p-values would not flag them
#: either.
PILED_UP = 5
MIN_PILED_UP = 3


@validate_params(
    {
        "pvalues": ["array-like"],
        "alpha": [Interval(numbers.Real, 0, 1, closed="neither")],
        "adaptive": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def benjamini_hochberg(pvalues, alpha=0.05, *, adaptive=False):
    """The rows that the Benjamini-Hochberg procedure flags at a false discovery rate of ``alpha``.

    Parameters
    ----------
    pvalues : array-like of shape (n_samples,)
        Conformal p-values of a batch, one per row, such as
        ``detector.pvalues(X)``.
    alpha : float, default=0.05
        The bound on the false discovery rate, the expected share of normal
        rows among the rows flagged.
    adaptive : bool, default=False
        Run at ``alpha`` divided by an estimate of the share of normal rows
        in the batch (Storey's). The plain procedure bounds the false
        discovery rate by ``alpha`` times that share; the adaptive one by
        ``alpha`` itself, for plain (not smoothed) p-values. Where many rows
        are anomalies it flags more of them, and more normal rows too.

    Returns
    -------
    flagged : ndarray of bool of shape (n_samples,)
        True for the rows flagged: those whose p-value is at most the
        largest ``p_(k)`` with ``p_(k) <= alpha k / n_samples`` (``alpha``
        divided by the estimate, if ``adaptive``).

    Raises
    ------
    ValueError
        A p-value is not a number between 0 and 1.

    Warns
    -----
    UserWarning
        No row is flagged, while many rows share the smallest step of plain
        conformal p-values: the p-values are likely too coarse to flag them.
    """
    pvalues = np.asarray(pvalues, dtype=np.float64)
    if pvalues.ndim != 1:
        raise ValueError(f"pvalues must be one p-value per row, got an array of shape {pvalues.shape}")
    if not np.all((pvalues >= 0) & (pvalues <= 1)):
        raise ValueError("p-values must be numbers between 0 and 1")
    values, counts = np.unique(pvalues, return_counts=True)
    flagged = pvalues <= benjamini_hochberg_cut(values, counts, alpha, adaptive=adaptive)
    if not flagged.any() and pvalues_too_coarse(values, counts, alpha):
        warn_at_caller(
            f"No row was flagged at alpha={alpha:g}, although {counts[0]} of the {len(pvalues)} rows share the "
            f"smallest p-value, {values[0]:.3g}: the p-values are likely too coarse. A detector's plain p-values "
            "are no smaller than 1 / (n + 1) for its n held-out samples (len(detector.calibration_scores_)); "
            "one fitted with a larger validation_fraction gives finer ones.",
            UserWarning,
        )
    return flagged


def _value_counts(values, counts):
    """``values`` and ``counts`` as arrays, checked: increasing p-values, and how many rows have each."""
    values, counts = np.asarray(values, dtype=np.float64), np.asarray(counts)
    if values.ndim != 1 or counts.shape != values.shape:
        raise ValueError(
            f"values and counts must be 1-D and of one length, got shapes {values.shape} and {counts.shape}"
        )
    if not np.all((values >= 0) & (values <= 1)):
        raise ValueError("p-values must be numbers between 0 and 1")
    if np.any(np.diff(values) <= 0):
        raise ValueError("values must be distinct p-values in increasing order, as np.unique returns them")
    if not np.all((counts >= 0) & (counts == np.floor(counts))):
        raise ValueError("counts must be numbers of rows: integers of at least 0")
    return values, counts


@validate_params(
    {
        "values": ["array-like"],
        "counts": ["array-like"],
        "alpha": [Interval(numbers.Real, 0, 1, closed="neither")],
        "adaptive": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def benjamini_hochberg_cut(values, counts, alpha=0.05, *, adaptive=False):
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
    adaptive : bool, default=False
        As in :func:`benjamini_hochberg`.

    Returns
    -------
    cut : float
        Rows whose p-value is at most ``cut`` are flagged; -1.0 when none is.

    Raises
    ------
    ValueError
        ``values`` are not increasing p-values, or ``counts`` are not
        numbers of rows, one for each.

    Examples
    --------
    >>> import numpy as np
    >>> from ibdetect.selection import benjamini_hochberg_cut
    >>> values, counts = np.unique([0.001, 0.001, 0.04, 0.4, 0.7], return_counts=True)
    >>> benjamini_hochberg_cut(values, counts, alpha=0.05)  # 0.04 > 0.05 * 3 / 5
    0.001
    """
    values, counts = _value_counts(values, counts)
    if adaptive and counts.sum() > 0:
        alpha = alpha / normal_share(values, counts)
    # A row with the k-th smallest p-value is flagged when some p_(j) <= alpha j / m for j >= k;
    # among equal p-values the last place is the one to test.
    at_most = np.cumsum(counts)
    under = values <= alpha * at_most / max(1, at_most[-1] if len(at_most) else 0)
    return float(values[under].max()) if under.any() else -1.0


def normal_share(values, counts):
    """Storey's estimate of the share of normal rows in a batch, from how many rows have each p-value.

    A normal row's conformal p-value is about uniform, so it is at or above
    ``NORMAL_ABOVE`` with a probability of about ``1 - NORMAL_ABOVE``, while
    an anomaly's seldom is: the rows at or above it, divided by
    ``1 - NORMAL_ABOVE``, estimate the number of normal rows. One is added,
    as the guarantee of the adaptive procedure needs, so that the estimate
    errs high. The adaptive procedure runs at ``alpha`` divided by it.

    Parameters
    ----------
    values : array-like of shape (n_values,)
        The distinct p-values.
    counts : array-like of int of shape (n_values,)
        How many rows have each; at least one row in all.

    Returns
    -------
    share : float
        The estimate; it can exceed 1 where nearly every row is normal.

    Raises
    ------
    ValueError
        The counts add up to no row, or are not as
        :func:`benjamini_hochberg_cut` takes them.

    Examples
    --------
    >>> from ibdetect.selection import normal_share
    >>> normal_share([0.01, 0.4, 0.5, 0.8], [5, 2, 1, 2])  # (1 + 3) / (10 / 2)
    0.8
    """
    values, counts = _value_counts(values, counts)
    if counts.sum() == 0:
        raise ValueError("normal_share needs the p-values of one row at least; the counts add up to none")
    return float((1 + counts[values >= NORMAL_ABOVE].sum()) / (counts.sum() * (1 - NORMAL_ABOVE)))


def pvalues_too_coarse(values, counts, alpha):
    """Whether plain conformal p-values pile up on their smallest step, far more than normal rows' would.

    A detector's plain p-values are multiples of ``1 / (n + 1)`` for its
    ``n`` held-out samples, each about as likely for a normal row; every
    row beyond all held-out scores gets the smallest. Where at least
    ``MIN_PILED_UP`` rows share it, it is at most ``alpha``, and they are
    more than ``PILED_UP`` times as many as normal rows would give
    (``m / (n + 1)`` of ``m``), a procedure that flags nothing missed them
    for want of finer p-values: a detector fitted with a larger
    ``validation_fraction`` gives finer ones. :func:`benjamini_hochberg`
    warns then; this answers the same from counts, as
    :func:`benjamini_hochberg_cut` takes them.

    Parameters
    ----------
    values, counts : array-like of shape (n_values,)
        As :func:`benjamini_hochberg_cut` takes them.
    alpha : float
        The level the procedure ran at.

    Returns
    -------
    too_coarse : bool

    Examples
    --------
    >>> from ibdetect.selection import pvalues_too_coarse
    >>> # 20 held-out samples: plain p-values are multiples of 1/21.
    >>> pvalues_too_coarse([1 / 21, 10 / 21], [12, 8], alpha=0.05)
    True
    >>> pvalues_too_coarse([1 / 21, 10 / 21], [1, 19], alpha=0.05)
    False
    """
    values, counts = _value_counts(values, counts)
    if not len(values) or counts[0] < MIN_PILED_UP or not 0 < values[0] <= alpha:
        return False
    steps = values / values[0]
    # float32 p-values are steps to about 1e-7 of their size.
    is_step = np.allclose(steps, np.round(steps), rtol=1e-5, atol=1e-5)
    return bool(is_step and counts[0] > PILED_UP * values[0] * counts.sum())
