"""Data sets of the benchmark, as rows scaled to [0, 1].

Every method sees the same rows: pixel intensities divided by their maximum
(16 for scikit-learn's digits, 255 for MNIST), a neutral scaling that needs no
fitting and keeps images images.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits

from ibdetect.datasets import load_mnist, load_mnist_sample


@dataclass(frozen=True)
class Dataset:
    """Flat rows ``X``, class labels ``y`` and the image shape of one row."""

    name: str
    X: np.ndarray
    y: np.ndarray
    image_shape: tuple


def digits():
    """scikit-learn's bundled 8x8 digits: 1,797 images of 10 classes."""
    X, y = load_digits(return_X_y=True)
    return Dataset("digits", (X / 16.0).astype(np.float32), y, (1, 8, 8))


def mnist(path=None):
    """MNIST digits: the 10,000 shipped with ibdetect, or those of ``path``.

    Parameters
    ----------
    path : str or Path, default=None
        Your own MNIST files, anything :func:`ibdetect.datasets.load_mnist`
        reads (a folder of IDX files, an ``.npz``); None loads the sample of
        :func:`ibdetect.datasets.load_mnist_sample`. Nothing is downloaded.
    """
    loaded = load_mnist(path) if path is not None else load_mnist_sample()
    X = loaded.data.astype(np.float32) / 255.0
    return Dataset("mnist", X, loaded.target, (1,) + loaded.images.shape[1:])
