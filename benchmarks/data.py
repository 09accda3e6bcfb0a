"""Data sets of the benchmark: images and tables.

Images are rows of pixel intensities divided by their maximum (16 for
scikit-learn's digits, 255 for MNIST), a neutral scaling that needs no fitting
and keeps images images. Tables keep their raw features; every method
standardises them with a scaler fitted on the training rows, or, on a table
with categories, prepares them with ibdetect's ``make_preprocessor`` fitted
on those rows (see ``run.py``).

The UCI tables come from the data folder of the R package mlbench (Debian's
``r-cran-mlbench``), read with ``pyreadr``; nothing is downloaded.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine

from ibdetect.datasets import load_mnist, load_mnist_sample


@dataclass(frozen=True)
class Dataset:
    """Flat rows ``X`` with their class labels ``y``.

    Attributes
    ----------
    name : str
    X : ndarray or DataFrame of shape (n_samples, n_features)
        A float array, or, for a table with categories, a DataFrame whose
        ``category`` columns hold them and NaN its gaps.
    y : ndarray of shape (n_samples,)
    image_shape : tuple or None
        The shape of one row as an image; None for a table.
    normal_classes : tuple or None
        The classes a data set's customary anomaly-detection version calls
        normal (the rest being anomalies); None where every class takes its
        turn, as in the multi-class protocol.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    image_shape: tuple = None
    normal_classes: tuple = None

    @property
    def is_table(self):
        """Whether the rows are a table's features rather than images."""
        return self.image_shape is None

    @property
    def has_categories(self):
        """Whether some columns hold categories rather than numbers.

        Only a table with categories is held in something other than an
        array of numbers (see :func:`mlbench`).
        """
        return not (isinstance(self.X, np.ndarray) and np.issubdtype(self.X.dtype, np.number))

    def rows(self, indices):
        """The rows of ``X`` at the positions ``indices``, whatever holds them."""
        return self.X.iloc[indices] if hasattr(self.X, "iloc") else self.X[indices]


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


def wine():
    """scikit-learn's bundled wine table: 178 rows, 13 features, 3 cultivars."""
    X, y = load_wine(return_X_y=True)
    return Dataset("wine", X.astype(np.float32), y)


def iris():
    """scikit-learn's bundled iris table: 150 rows, 4 features, 3 species."""
    X, y = load_iris(return_X_y=True)
    return Dataset("iris", X.astype(np.float32), y)


def breast_cancer():
    """scikit-learn's bundled breast cancer table; benign tumours are the normal class.

    569 rows of 30 features: 357 benign (label 1) and 212 malignant (label 0).
    """
    X, y = load_breast_cancer(return_X_y=True)
    return Dataset("breast_cancer", X.astype(np.float32), y, normal_classes=(1,))


# Name in mlbench, the benchmark's name, columns that are not features, and
# the normal classes where the table has a customary anomaly version.
MLBENCH_TABLES = {
    # ODDS's "satellite": the three soil classes are normal, the three
    # smallest classes (cotton crop, damp grey soil, vegetation stubble) anomalies.
    "satellite": ("Satellite", "classes", (), ("red soil", "grey soil", "very damp grey soil")),
    "vehicle": ("Vehicle", "Class", (), None),
    # V1 numbers the speaker, an identity rather than a measurement of the vowel.
    "vowel": ("Vowel", "Class", ("V1",), None),
    "letter": ("LetterRecognition", "lettr", (), None),
    # Tables of categories with gaps (NA): 35 factors of plant and leaf
    # symptoms, and 16 votes of "y" or "n".
    "soybean": ("Soybean", "Class", (), None),
    "housevotes84": ("HouseVotes84", "Class", (), None),
}


def mlbench(name, folder):
    """A UCI table from the data folder of the R package mlbench.

    Parameters
    ----------
    name : {"satellite", "vehicle", "vowel", "letter", "soybean", "housevotes84"}
        The benchmark's name of the table (see ``MLBENCH_TABLES``).
    folder : str or Path
        The folder holding mlbench's ``.rda`` files, e.g. the
        ``usr/lib/R/site-library/mlbench/data`` directory unpacked from
        Debian's ``r-cran-mlbench`` package.

    Returns
    -------
    Dataset
        Class labels are the R factor's level names, as strings. A table of
        numbers is a float32 array; one with factors stays a DataFrame.
    """
    import pandas as pd
    import pyreadr

    r_name, target, dropped, normal = MLBENCH_TABLES[name]
    path = Path(folder) / f"{r_name}.rda"
    if not path.is_file():
        raise FileNotFoundError(f"mlbench table not found: {path} (pass --mlbench PATH/TO/mlbench/data)")
    frame = pyreadr.read_r(path)[r_name]
    y = frame[target].astype(str).to_numpy()
    X = frame.drop(columns=[target, *dropped])
    # A table of factors stays a DataFrame: their ``category`` dtype is how
    # make_preprocessor tells them from numbers (Soybean's levels "0", "1",
    # ... would read as numbers from an array of text).
    if all(pd.api.types.is_numeric_dtype(dtype) for dtype in X.dtypes):
        X = X.to_numpy(dtype=np.float32)
    return Dataset(name, X, y, normal_classes=normal)


def load(name, mlbench_folder=None, mnist_path=None):
    """The data set ``name``: a table of mlbench from its folder, MNIST from its path, or a bundled set.

    Raises
    ------
    ValueError
        ``name`` is a table of mlbench and no folder was given.
    """
    if name in MLBENCH_TABLES:
        if not mlbench_folder:
            raise ValueError(f"--datasets {name} needs --mlbench PATH")
        return mlbench(name, mlbench_folder)
    if name == "mnist":
        return mnist(mnist_path)
    return {"digits": digits, "wine": wine, "iris": iris, "breast_cancer": breast_cancer}[name]()


def loaded(parser, names, mlbench_folder=None):
    """``[(name, dataset)]`` for each of ``names``, a script's ``--datasets``.

    Every data set loads before a script starts working, so that a missing
    ``--mlbench`` folder, or a wrong one, is ``parser``'s error at once
    rather than after minutes on the data sets before it.
    """
    datasets = []
    for name in names:
        try:
            datasets.append((name, load(name, mlbench_folder)))
        except (ValueError, FileNotFoundError) as exc:
            parser.error(str(exc))
    return datasets
