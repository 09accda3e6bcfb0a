"""Train/test splits shared by every method.

A split names the training rows (with the labels a method may use) and the test
rows with a flag for the anomalies, so every method sees exactly the same data.

* ``multiclass``: a random subset of the classes is known; 60% of their samples
  train, the other 40% and every sample of the unseen classes test.
* ``oneclass``: each class in turn is the only normal class (Deep SVDD's
  protocol); 60% of it trains, its other 40% and all other classes test.
* ``known_class_splits``: fixed known classes, their rows drawn afresh at
  each split, as ``multiclass`` splits them.
* ``fewshot``: as ``multiclass``, but only ``n`` labelled samples per known
  class train (drawn from the same 60% pool, so the test set is unchanged).
"""

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class Split:
    """One train/test split of a data set.

    Attributes
    ----------
    name : str
        Identifies the split within its protocol, e.g. ``"known=0,2,3,5,7,9"``.
    train : ndarray of int
        Indices of the training rows.
    test : ndarray of int
        Indices of the test rows.
    test_is_anomaly : ndarray of bool
        For each test row, whether its class was unseen in training.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    test_is_anomaly: np.ndarray


def _split_known(y, known, train_fraction, seed):
    """Train on part of the known classes; test on the rest plus the unseen."""
    is_known = np.isin(y, known)
    known_idx = np.flatnonzero(is_known)
    train, test_known = train_test_split(
        known_idx, train_size=train_fraction, stratify=y[known_idx], random_state=seed
    )
    unseen = np.flatnonzero(~is_known)
    test = np.concatenate([test_known, unseen])
    is_anomaly = np.concatenate([np.zeros(len(test_known), bool), np.ones(len(unseen), bool)])
    return np.sort(train), test, is_anomaly


def _label(classes):
    return ",".join(str(c) for c in classes)


def multiclass_splits(y, n_known=6, n_splits=5, train_fraction=0.6, seed=0):
    """Random choices of ``n_known`` known classes; the others are unseen.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class labels of the data set.
    n_known : int, default=6
    n_splits : int, default=5
    train_fraction : float, default=0.6
    seed : int, default=0

    Returns
    -------
    splits : list of Split
    """
    rng = np.random.RandomState(seed)
    classes = np.unique(y)
    splits = []
    for i in range(n_splits):
        known = np.sort(rng.choice(classes, n_known, replace=False))
        train, test, is_anomaly = _split_known(y, known, train_fraction, seed + i)
        splits.append(Split(f"known={_label(known)}", train, test, is_anomaly))
    return splits


def known_class_splits(y, known, n_splits=10, train_fraction=0.6, seed=0):
    """The same known classes in every split; each draws their training rows afresh."""
    return [
        Split(f"known={_label(known)},draw={i}", *_split_known(y, known, train_fraction, seed + i))
        for i in range(n_splits)
    ]


def oneclass_splits(y, train_fraction=0.6, seed=0):
    """One split per class, that class alone being normal."""
    splits = []
    for i, normal in enumerate(np.unique(y)):
        train, test, is_anomaly = _split_known(y, [normal], train_fraction, seed + i)
        splits.append(Split(f"normal={normal}", train, test, is_anomaly))
    return splits


def fewshot_splits(y, n_per_class, n_known=6, n_splits=5, train_fraction=0.6, seed=0):
    """The multiclass splits with only ``n_per_class`` training samples per known class."""
    rng = np.random.RandomState(seed)
    splits = []
    for split in multiclass_splits(y, n_known, n_splits, train_fraction, seed):
        chosen = [
            rng.choice(split.train[y[split.train] == k], n_per_class, replace=False)
            for k in np.unique(y[split.train])
        ]
        splits.append(
            Split(f"{split.name},n={n_per_class}", np.sort(np.concatenate(chosen)), split.test, split.test_is_anomaly)
        )
    return splits
