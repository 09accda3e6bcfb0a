r"""Tables as they come, made ready for the detector: categories, gaps, text cells.

The detector takes rows of numbers. :func:`make_preprocessor` builds, from a
table, the scikit-learn steps that turn it into such rows:

- number columns: gaps filled with the column's median, then standardised;
- category columns (text, ``category`` or ``bool`` dtype): gaps filled with
  the most frequent category, then one-hot encoded, plus one indicator per
  column that is 1 for a category never seen in training, so that such a row
  lies farther from every normal row instead of failing;
- one indicator per column, 1 where a cell is missing, so that a gap is a
  signal too, most of all in a column that had none in training.

Every step is scikit-learn's except :class:`TableCells`, which reads a
column's cells as numbers or as category names whatever the container
(DataFrame, object array, text read from a CSV file) marks a gap with
(``None``, ``NaN``, ``pd.NA``, an empty text or one that pandas reads as
missing, such as ``"NA"`` or ``"n/a"``). Feature names flow through
``get_feature_names_out``. A pipeline of these steps and the detector is
saved to a model file and loaded without running code (see
:mod:`ibdetect.persistence`).

Examples
--------
>>> import numpy as np
>>> from ibdetect.preprocessing import make_preprocessor
>>> X = np.array([[12.5, "card", "FR"], [8.0, "cash", None], [np.nan, "card", "DE"]], dtype=object)
>>> preprocessor = make_preprocessor(X).fit(X)
>>> row = preprocessor.transform(np.array([[10.0, "card", "US"]], dtype=object))[0]
>>> [str(name) for name, value in zip(preprocessor.get_feature_names_out(), row) if value == 1]
['categories__onehot__x1_card', 'categories__unseen__missingindicator_x2']
"""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["TableCells", "make_preprocessor"]

# The code an ordinal encoder gives a category it never saw; a missing-value
# indicator for this code then marks the unseen categories.
UNSEEN = -1
# Texts that mark a gap: an empty cell, and what pandas.read_csv reads as
# missing by default (spreadsheets and R write some of them).
GAP_TEXTS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
    "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})
# A column whose cells are numbers but for at most this share of them is
# read as categories with a warning: most likely those cells mark gaps.
ALMOST_NUMBERS = 0.05


def make_preprocessor(X, *, feature_names=None):
    """Build, unfitted, the default preparation of a table for the detector.

    Columns whose cells are all numbers (or text that reads as a number, or
    gaps) are number columns; every other column holds categories. Put the
    result before the detector in a pipeline::

        make_pipeline(make_preprocessor(X), IBDeepDescription())

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        The training table. A DataFrame's column names become the feature
        names; a ``bool`` or ``category`` column holds categories even where
        its values are numbers.
    feature_names : list of str, default=None
        The columns' names, for the warnings about an array's columns (a
        DataFrame's own names are used otherwise).

    Warns
    -----
    UserWarning
        A column holds numbers but for a few cells (at most 5% of them), and
        is read as categories: most likely those cells mark gaps.

    Returns
    -------
    preprocessor : Pipeline
        :class:`TableCells` followed by a ``ColumnTransformer`` of
        ``"numbers"`` (median imputation, ``StandardScaler``),
        ``"categories"`` (most-frequent imputation, ``OneHotEncoder`` and an
        unseen-category indicator) and ``"gaps"`` (``MissingIndicator``).

    Raises
    ------
    ValueError
        ``X`` is not a two-dimensional table.

    Examples
    --------
    >>> import numpy as np
    >>> from ibdetect.preprocessing import make_preprocessor
    >>> X = np.array([["1.5", "yes"], ["", "no"], ["2.5", ""]], dtype=object)
    >>> make_preprocessor(X).fit_transform(X).round(2)
    array([[-1.22,  0.  ,  1.  ,  0.  ,  0.  ,  0.  ],
           [ 0.  ,  1.  ,  0.  ,  0.  ,  1.  ,  0.  ],
           [ 1.22,  1.  ,  0.  ,  0.  ,  0.  ,  1.  ]])
    """
    cells = _as_cells(X)
    names = list(getattr(X, "columns", feature_names if feature_names is not None else range(cells.shape[1])))
    numeric = _number_columns(X, cells, names)
    # A column empty in every training row has nothing to encode: only its
    # gap indicator, 1 in training, tells when it holds something.
    observed = [not all(_is_gap(cell) for cell in cells[:, column]) for column in range(cells.shape[1])]
    categories = [column for column in range(len(numeric)) if observed[column] and not numeric[column]]
    numbers_ = [column for column in range(len(numeric)) if observed[column] and numeric[column]]
    columns = ColumnTransformer(
        [
            ("numbers", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numbers_),
            ("categories", _category_encoder(), categories),
            # Every column, not only those with gaps in training: a gap
            # first seen when scoring is as telling as an unseen category.
            ("gaps", MissingIndicator(features="all"), list(range(len(numeric)))),
        ],
        sparse_threshold=0.0,
    )
    return Pipeline([("cells", TableCells(numeric_columns=numbers_)), ("columns", columns)])


class TableCells(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Read each column's cells as numbers or as category names, gaps as NaN.

    What scikit-learn's imputers and encoders expect of an object array:
    number columns as floats, category columns as text, and one marker for
    a gap (``NaN``) whatever the data marked it with (``None``, ``NaN``,
    ``pd.NA``, ``NaT``, an empty text or one of ``GAP_TEXTS``, the texts
    ``pandas.read_csv`` reads as missing). ``true`` and ``false`` are written
    in lower case, however they came. Text in a number column that does
    not read as a number is an error naming the column.

    Parameters
    ----------
    numeric_columns : list of int, default=()
        Positions of the number columns; every other column holds categories.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        The DataFrame's column names, when fitted on one.

    Examples
    --------
    >>> import numpy as np
    >>> from ibdetect.preprocessing import TableCells
    >>> TableCells(numeric_columns=[0]).fit_transform(np.array([["1e3", True], [None, ""]], dtype=object))
    array([[1000.0, 'true'],
           [nan, nan]], dtype=object)
    """

    _parameter_constraints = {"numeric_columns": ["array-like"]}

    def __init__(self, *, numeric_columns=()):
        self.numeric_columns = numeric_columns

    def fit(self, X, y=None):
        """Record the number of columns (and their names), and check the number columns.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : TableCells
        """
        self._validate_params()
        cells = _as_cells(X)
        if not len(cells):
            raise ValueError(f"Found array with 0 sample(s) (shape={cells.shape}) while a minimum of 1 is required by TableCells.")
        columns = self._numeric_columns()
        if columns.size and (columns.min() < 0 or columns.max() >= cells.shape[1]):
            raise ValueError(f"numeric_columns {columns.tolist()} name columns beyond the {cells.shape[1]} of X")
        self._read(cells, getattr(X, "columns", None))
        # Records n_features_in_ and a DataFrame's column names, which
        # transform then checks, as scikit-learn's transformers do; last, so
        # that a refit refused leaves the earlier fit as it was.
        validate_data(self, X, skip_check_array=True)
        return self

    def transform(self, X):
        """The cells as an object array: floats in number columns, text in the others, NaN for gaps.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The columns of ``fit``'s, in its order (a DataFrame's are checked by name).

        Returns
        -------
        cells : ndarray of object of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        cells = _as_cells(X)
        validate_data(self, X, skip_check_array=True, reset=False)
        return self._read(cells, getattr(self, "feature_names_in_", None))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Gaps and text are what it reads.
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags

    def _numeric_columns(self):
        """``numeric_columns`` as an array of positions, or a ValueError for anything else (a mask, names)."""
        columns = np.asarray(self.numeric_columns).reshape(-1)
        if columns.size and (columns.dtype.kind not in "iu"):
            hint = " (for a mask of them, pass np.flatnonzero(mask))" if columns.dtype.kind == "b" else ""
            raise ValueError(
                f"numeric_columns must be the positions of the number columns, ints, got {self.numeric_columns!r}"
                f"{hint}"
            )
        return columns.astype(int)

    def _read(self, cells, names):
        """The cells read as numbers or categories; ``names``, the columns' names if any, name them in errors."""
        numeric = set(self._numeric_columns().tolist())
        out = np.empty(cells.shape, dtype=object)
        for column in range(cells.shape[1]):
            read = _number if column in numeric else _category
            name = str(column) if names is None else repr(str(names[column]))
            out[:, column] = [read(cell, name) for cell in cells[:, column]]
        return out


def _category_encoder():
    """One-hot columns, then a column per feature that is 1 for a category unseen in training."""
    unseen = Pipeline(
        [
            ("code", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=UNSEEN)),
            ("flag", MissingIndicator(missing_values=UNSEEN, features="all")),
        ]
    )
    encodings = FeatureUnion([("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)), ("unseen", unseen)])
    return Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("encode", encodings)])


def _as_cells(X):
    """A two-dimensional object array of ``X``'s cells."""
    if hasattr(X, "toarray") or hasattr(X, "todense"):
        raise TypeError("TableCells reads a dense table of cells, not sparse data; pass X.toarray()")
    if getattr(getattr(X, "dtype", None), "kind", "") == "c":
        raise ValueError("Complex data not supported: a table's cells are numbers, text or gaps")
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):
        cells = X.to_numpy(dtype=object)
    else:
        cells = np.asarray(X, dtype=object)
    if cells.ndim != 2:
        raise ValueError(
            f"expected a table of shape (n_samples, n_features), got an array of shape {cells.shape}. Reshape your "
            "data: X.reshape(-1, 1) for a single column, X.reshape(1, -1) for a single row."
        )
    if not cells.shape[1]:
        raise ValueError(f"Found array with 0 feature(s) (shape={cells.shape}) while a minimum of 1 is required by TableCells.")
    return cells


def _number_columns(X, cells, names):
    """Whether each column of ``X`` holds numbers (else categories); a warning for each that almost does."""
    dtypes = getattr(X, "dtypes", [None] * cells.shape[1])
    numeric = []
    for column, (dtype, name) in enumerate(zip(dtypes, names)):
        holds, stray = _holds_numbers(dtype, cells[:, column])
        numeric.append(holds)
        if stray:
            shown = ", ".join(repr(cell) for cell in list(dict.fromkeys(stray))[:3])
            warnings.warn(
                f"Column {name!r} holds numbers but for {len(stray)} cell(s) such as {shown}, and is read as "
                "categories; if those cells mark gaps, make them empty.",
                UserWarning,
                stacklevel=3,
            )
    return numeric


def _holds_numbers(dtype, cells):
    """Whether the cells hold numbers, and the texts that keep a column of numbers but for a few from it."""
    # A categorical dtype reports its categories' kind (or "O"); its values
    # are categories all the same. Text dtypes and objects are read cell by cell.
    if getattr(dtype, "name", "") == "category" or getattr(dtype, "kind", "") == "b":
        return False, []
    if getattr(dtype, "kind", "") in ("i", "u", "f"):
        return True, []
    others = [cell for cell in cells if not _reads_as_number(cell)]
    # A stray marker of a gap ("?", "-") would make every number a category.
    almost = others and len(others) <= ALMOST_NUMBERS * sum(not _is_gap(cell) for cell in cells)
    return not others, others if almost else []


def _is_gap(cell):
    if cell is None or (isinstance(cell, str) and cell.strip() in GAP_TEXTS):
        return True
    try:
        return bool(cell != cell)  # NaN, NaT; pd.NA cannot say, and is a gap too
    except TypeError:
        return True


def _reads_as_number(cell):
    if _is_gap(cell):
        return True
    if isinstance(cell, (bool, np.bool_)):
        return False
    if isinstance(cell, numbers.Real):
        return True
    try:
        float(cell)
    except (TypeError, ValueError):
        return False
    return True


def _number(cell, column):
    if _is_gap(cell):
        return np.nan
    try:
        return float(cell)
    except (TypeError, ValueError):
        raise ValueError(
            f"column {column} holds {cell!r}, not a number; it held only numbers in training. Make a cell that marks a "
            "gap empty; fit on a column of codes as categories (a pandas 'category' column, or text) to read "
            "new codes as unseen categories"
        ) from None


def _category(cell, column):
    if _is_gap(cell):
        return np.nan
    if isinstance(cell, numbers.Real) and not isinstance(cell, (bool, np.bool_)) and float(cell).is_integer():
        # A code 1 is one category whether it comes as 1, "1" or 1.0 (pandas
        # reads a column of whole numbers with gaps as floats).
        cell = int(cell)
    text = str(cell).strip()
    # True written by Python, TRUE by a spreadsheet, true by the command line: one category.
    return text.lower() if text.lower() in ("true", "false") else text
