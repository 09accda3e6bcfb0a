"""Data sets of the benchmark, as rows scaled to [0, 1].

Every method sees the same rows: pixel intensities divided by their maximum
(16 for scikit-learn's digits, 255 for MNIST), a neutral scaling that needs no
fitting and keeps images images.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits


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


def mnist(path):
    """10,000 MNIST digits from an ``.npz`` with ``X`` (n, 28, 28) uint8 and ``y``.

    Parameters
    ----------
    path : str or Path
        Location of the file; nothing is downloaded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MNIST file not found: {path} (pass --mnist PATH)")
    with np.load(path) as data:
        images, y = data["X"], data["y"]
    X = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return Dataset("mnist", X, np.asarray(y), (1,) + images.shape[1:])
