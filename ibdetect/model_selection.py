"""Cross-validation for detectors of unseen classes, tuned on known classes only.

A detector trained on normal data in known classes is meant to flag classes it
never saw. To tune it when no such class is at hand, :class:`UnseenClassSplit`
lets some known classes play the part: each test fold holds them out entirely,
so the model never trains on them, together with held-out rows of the classes
that stay known. The scorers of :mod:`ibdetect.metrics` count a test row whose
label the fitted model does not know as an anomaly, so the folds score as they
are, without relabelling.
"""

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, column_or_1d

from ._checks import check_int
from ._labels import ANOMALY, encode_labels

__all__ = ["UnseenClassSplit"]


class UnseenClassSplit(BaseCrossValidator):
    """Cross-validator whose test folds hold some known classes out entirely.

    Each split draws ``n_unseen_classes`` of the known normal classes in ``y``
    to stand in for classes never seen in training: all their rows go to the
    test fold. Of every other class, a ``test_size`` share of the rows (rounded
    up, at least one) joins the test fold and the rest trains. Scored with
    :data:`ibdetect.metrics.anomaly_roc_auc_scorer`, the held-out classes are
    the anomalies of the fold and the held-out rows of the known classes its
    normal samples.

    The held-out classes rotate: the classes are put in a random order once and
    each split takes the next ``n_unseen_classes`` of them, wrapping around, so
    that every class is held out equally often (to within one) and at least
    once when ``n_splits * n_unseen_classes`` reaches the number of classes.

    Rows labelled ``-1``, known anomalies, are no class and are never held out
    as one: like the rows of a known class, a ``test_size`` share of them
    (rounded up) joins each test fold, where they count as anomalies, and the
    rest trains, where the detector learns from them.

    Every row is in exactly one of the two parts of a split; test folds of
    different splits overlap.

    Parameters
    ----------
    n_splits : int, default=5
        Number of splits.
    n_unseen_classes : int or float, default=1
        Number of classes each split holds out. A float in (0, 1) is a fraction
        of the known classes, rounded down but at least one. At least one class
        must stay known.
    test_size : float, default=0.2
        Share of the rows of each class that stays known, and of the rows
        labelled ``-1``, that goes to the test fold; in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seeds the order of the classes and the choice of the test rows. Pass an
        int for the same splits at every call of ``split``.

    See Also
    --------
    sklearn.model_selection.GroupKFold : Holds out groups of rows, with no
        rows of the other groups in test.
    sklearn.model_selection.StratifiedShuffleSplit : Keeps every class in both
        parts of each split.

    Examples
    --------
    >>> import numpy as np
    >>> from ibdetect.model_selection import UnseenClassSplit
    >>> y = np.repeat([0, 1, 2], 5)
    >>> X = np.zeros((len(y), 2))
    >>> cv = UnseenClassSplit(n_splits=3, test_size=0.2, random_state=0)
    >>> cv  # doctest: +NORMALIZE_WHITESPACE
    UnseenClassSplit(n_splits=3, n_unseen_classes=1, random_state=0, test_size=0.2)
    >>> for train, test in cv.split(X, y):
    ...     print(np.unique(y[train]), np.bincount(y[test], minlength=3))
    [0 1] [1 1 5]
    [0 2] [1 5 1]
    [1 2] [5 1 1]

    In a grid search the held-out classes are the anomalies of each fold:

    >>> from sklearn.model_selection import GridSearchCV
    >>> from ibdetect import IBDeepDescription
    >>> from ibdetect.metrics import anomaly_roc_auc_scorer
    >>> rng = np.random.RandomState(0)
    >>> centres = np.array([[-6, 0], [6, 0], [0, 6]])
    >>> X = np.vstack([rng.normal(c, 1, (30, 2)) for c in centres])
    >>> y = np.repeat([0, 1, 2], 30)
    >>> search = GridSearchCV(
    ...     IBDeepDescription(max_epochs=5, random_state=0),
    ...     {"beta": [2.0, 4.0]},
    ...     scoring=anomaly_roc_auc_scorer,
    ...     cv=UnseenClassSplit(n_splits=3, random_state=0),
    ... ).fit(X, y)
    >>> bool(np.isfinite(search.cv_results_["mean_test_score"]).all())
    True
    """

    def __init__(self, n_splits=5, *, n_unseen_classes=1, test_size=0.2, random_state=None):
        check_int(n_splits, "n_splits")
        _check_unseen_classes(n_unseen_classes)
        if not (isinstance(test_size, Real) and not isinstance(test_size, Integral) and 0 < test_size < 1):
            raise ValueError(f"test_size must be a float in (0, 1), got {test_size!r}.")
        self.n_splits = n_splits
        self.n_unseen_classes = n_unseen_classes
        self.test_size = test_size
        self.random_state = random_state

    def split(self, X, y, groups=None):
        """Generate the indices of the training and test rows of each split.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data; only its number of rows is used.
        y : array-like of shape (n_samples,)
            Labels of the known normal classes (ints or strings); ``-1`` marks
            a known anomaly.
        groups : object
            Ignored; there for compatibility.

        Yields
        ------
        train : ndarray
            Indices of the training rows of the split.
        test : ndarray
            Indices of its test rows.
        """
        if y is None:
            raise ValueError(
                "UnseenClassSplit needs y, the class labels, to choose the classes it "
                "holds out: call split(X, y), or fit the search with fit(X, y)."
            )
        y = column_or_1d(y)
        if len(y) != _num_samples(X):
            raise ValueError(f"X has {_num_samples(X)} rows but y has {len(y)} labels.")
        yield from super().split(X, y, groups)

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splits, ``n_splits``.

        Parameters
        ----------
        X, y, groups : object
            Ignored; there for compatibility.

        Returns
        -------
        n_splits : int
        """
        return self.n_splits

    def _iter_test_indices(self, X, y, groups):
        classes, targets = encode_labels(y)
        n_unseen = self._n_unseen(classes)
        rows_of_class = [np.flatnonzero(targets == k) for k in range(len(classes))]
        _check_class_sizes(classes, rows_of_class, self.test_size)
        rng = check_random_state(self.random_state)
        order = rng.permutation(len(classes))
        for split in range(self.n_splits):
            start = split * n_unseen
            unseen = set(order[np.arange(start, start + n_unseen) % len(classes)])
            # A fresh draw of the known classes' test rows at each split, so
            # that splits holding out the same classes still differ.
            parts = [
                rows if k in unseen else _draw(rows, self.test_size, rng)
                for k, rows in enumerate(rows_of_class)
            ]
            parts.append(_draw(np.flatnonzero(targets == ANOMALY), self.test_size, rng))
            yield np.sort(np.concatenate(parts))

    def _n_unseen(self, classes):
        """The number of classes to hold out, checked against those in y."""
        if len(classes) < 2:
            raise ValueError(
                f"UnseenClassSplit needs at least two known classes in y, one to hold "
                f"out and one to train on; y has {len(classes)} ({classes.tolist()}). "
                "With a single normal class, label the anomalies you know -1 and use "
                "sklearn.model_selection.StratifiedKFold."
            )
        if isinstance(self.n_unseen_classes, Integral):
            n_unseen = self.n_unseen_classes
        else:
            n_unseen = max(1, math.floor(self.n_unseen_classes * len(classes)))
        if n_unseen >= len(classes):
            raise ValueError(
                f"n_unseen_classes={self.n_unseen_classes!r} holds out {n_unseen} of the "
                f"{len(classes)} classes in y, leaving none to train on; hold out at most "
                f"{len(classes) - 1}."
            )
        if n_unseen == len(classes) - 1:
            warnings.warn(
                f"UnseenClassSplit holds out {n_unseen} of the {len(classes)} classes in y, "
                "so every split trains on a single class. With one class the losses "
                "'ib' and 'mcdd' are 'svdd' (one centre, no other to separate from) "
                "and beta changes nothing, so a search over them can only tie. Tune "
                "those with three known classes or more, or keep their defaults.",
                UserWarning,
            )
        return n_unseen


def _check_unseen_classes(value):
    if isinstance(value, Real) and not isinstance(value, Integral) and 0 < value < 1:
        return
    check_int(value, "n_unseen_classes")


def _n_test(n_rows, test_size):
    """Test rows out of ``n_rows`` (an int or an array of them): rounded up."""
    return np.ceil(test_size * np.asarray(n_rows)).astype(int)


def _check_class_sizes(classes, rows_of_class, test_size):
    """Every class must keep a training row when it stays known."""
    n_rows = np.array([len(rows) for rows in rows_of_class])
    too_small = n_rows - _n_test(n_rows, test_size) < 1
    if too_small.any():
        raise ValueError(
            f"The classes {classes[too_small].tolist()} have too few rows to put a test_size={test_size} "
            "share in the test fold and keep one to train on. Give each class at "
            "least two rows (drop or merge the small ones), or lower test_size."
        )


def _draw(rows, test_size, rng):
    """A random ``test_size`` share of ``rows``, rounded up."""
    return rng.permutation(rows)[: _n_test(len(rows), test_size)]
