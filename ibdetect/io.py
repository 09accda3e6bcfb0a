r"""Reading samples and labels from data files: CSV, ``.npy`` and ``.npz``.

The command line reads its files with :func:`read_data`; Python users can too.
Every problem with a file (an unknown format, a malformed row, a text where a
number belongs, a missing column) is a ``ValueError`` whose message names the
file, the line and the fix. Nothing here unpickles: ``.npy`` and ``.npz`` files
that hold Python objects are refused.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from ibdetect.io import read_data
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "readings.csv")
>>> with open(path, "w") as file:
...     _ = file.write(",temperature,pressure,machine\n7,71.2,1.01,press\n8,45.0,2.31,-1\n")
>>> data = read_data(path, label_column="machine")
>>> data.X
array([[71.2 ,  1.01],
       [45.  ,  2.31]])
>>> data.y.tolist(), data.feature_names, data.ids.tolist()
(['press', '-1'], ['temperature', 'pressure'], ['7', '8'])
"""

import csv
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Data", "read_data"]

#: The name of the id column of a CSV file whose first column has no name, as
#: pandas writes a DataFrame's index.
INDEX_NAME = "id"


@dataclass
class Data:
    """Samples read from a data file.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or None
        Labels as ``fit`` takes them, if the file has them and they were asked for.
    feature_names : list of str or None
        Column names, for a CSV file.
    input_shape : tuple of int or None
        Shape of one sample when the file holds images rather than rows.
    ids : ndarray of str of shape (n_samples,) or None
        The id of each row, from a CSV's id column.
    id_name : str or None
        The name of the id column (``"id"`` when it has no name).
    """

    X: np.ndarray
    y: np.ndarray | None = None
    feature_names: list | None = None
    input_shape: tuple | None = None
    ids: np.ndarray | None = None
    id_name: str | None = None


def read_data(path, label_column=None, with_labels=True, ignore_columns=()):
    """Read samples, and their labels, from a ``.csv``, ``.npy`` or ``.npz`` file.

    A CSV file has a header row of column names and numeric features. A
    first column without a name (as pandas writes a DataFrame's index) holds
    row ids: it is kept out of the features and returned as ``Data.ids``.

    Parameters
    ----------
    path : str or path-like
    label_column : str, default=None
        The CSV column or ``.npz`` array holding the labels. A ``.npz`` file's
        array ``y`` is used when it is None.
    with_labels : bool, default=True
        Whether to read labels. If False, a CSV's label column is dropped when
        present and ``Data.y`` is None.
    ignore_columns : sequence of str, default=()
        CSV columns to leave out when present, e.g. the label column of a
        training file that is now being scored.

    Returns
    -------
    data : Data

    Raises
    ------
    ValueError
        The file is not in a known format, is malformed or lacks what is asked for.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, label_column, with_labels, ignore_columns)
    readers = {".npy": _read_npy, ".npz": _read_npz}
    if suffix not in readers:
        raise ValueError(
            f"{path}: unknown data format {suffix or '(no extension)'!r}; use .csv, .npy or .npz"
        )
    return readers[suffix](path, label_column, with_labels)


def _read_csv(path, label_column, with_labels, ignore_columns):
    rows = _csv_rows(path)
    _, header = next(rows, (None, None))
    if header is None:
        raise ValueError(f"{path} is empty; expected a header row of column names")
    header = [name.strip() for name in header]
    id_index = 0 if header[0] == "" else None
    label_index = _label_index(header, label_column, with_labels, path)
    skipped = {id_index, label_index} | {i for i, name in enumerate(header) if name in ignore_columns}
    kept = [i for i in range(len(header)) if i not in skipped]
    _check_names(header, kept, path)
    feature_names = [header[i] for i in kept]
    features, labels, ids = [], [], []
    for line, row in rows:
        where = f"{path}, line {line}"
        if len(row) != len(header):
            # A quote left open swallows the lines after it into one field.
            hint = " (a quote left open?)" if any("\n" in field for field in row) else ""
            raise ValueError(f"{where}: {len(row)} field(s), but the header has {len(header)}{hint}")
        features.append(_floats([row[i] for i in kept], feature_names, where))
        if label_index is not None:
            labels.append(_label_text(row[label_index], where))
        if id_index is not None:
            ids.append(row[id_index].strip())
    X = np.array(features, dtype=np.float64).reshape(len(features), len(feature_names))
    y = _as_labels(labels) if with_labels and label_index is not None else None
    if id_index is None:
        return Data(X, y, feature_names)
    return Data(X, y, feature_names, ids=np.array(ids, dtype=str), id_name=INDEX_NAME)


def _csv_rows(path):
    """Line number (where it starts) and fields of each non-blank row of a CSV file."""
    # utf-8-sig drops the byte order mark that some spreadsheets write.
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        try:
            start = 1
            for row in reader:
                if row:
                    yield start, row
                start = reader.line_num + 1
        except csv.Error as exc:
            raise ValueError(f"{path}, line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not a UTF-8 text file") from None


def _check_names(header, kept, path):
    names = [header[i] for i in kept]
    if "" in names:
        raise ValueError(
            f"{path}: column {names.index('') + 1 + (header[0] == '')} has no name; only the "
            "first column may be unnamed (it then holds row ids)"
        )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        names = ", ".join(map(repr, duplicates))
        raise ValueError(f"{path}: column name(s) {names} appear more than once in the header")


def _label_index(header, label_column, with_labels, path):
    """Position of the label column in the header, or None when there is none to drop."""
    if label_column is None or (label_column not in header and not with_labels):
        return None
    if label_column not in header:
        raise ValueError(f"{path} has no column {label_column!r} (columns: {', '.join(header)})")
    return header.index(label_column)


def _floats(cells, names, where):
    values = []
    for name, cell in zip(names, cells):
        try:
            values.append(float(cell))
        except ValueError:
            raise ValueError(
                f"{where}: column {name!r} holds {cell!r}, not a number (if it holds labels, "
                "name it as the label column)"
            ) from None
    return values


def _label_text(cell, where):
    label = cell.strip()
    if not label:
        raise ValueError(f"{where}: the label is empty")
    return label


def _as_labels(texts):
    """Labels as ``fit`` takes them: ints when all texts are whole numbers, else strings.

    Whole numbers written as floats (``"2.0"``, as pandas writes an integer
    column that has a gap) are ints too, so that ``2`` and ``2.0`` are one
    class. The known-anomaly marker follows the package's one rule
    (:func:`ibdetect.metrics.is_anomaly`): ``-1``, ``"-1"`` and ``"-1.0"``
    among strings all mark an anomaly.
    """
    try:
        numbers = np.array([float(text) for text in texts])
    except ValueError:
        return np.array(texts, dtype=object)
    if np.all(np.isfinite(numbers) & (numbers == np.round(numbers))):
        return numbers.astype(np.int64)
    return np.array(texts, dtype=object)


def _read_npy(path, label_column, with_labels):
    array = _load_numpy(path)
    if not isinstance(array, np.ndarray):
        array.close()
        raise ValueError(f"{path} is an .npz archive, not a single .npy array")
    if with_labels and label_column is not None:
        raise ValueError(
            f"{path}: an .npy file holds no labels; put features and labels in a .csv or .npz file"
        )
    return _samples(array, path)


def _read_npz(path, label_column, with_labels):
    label_key = label_column or "y"
    with _open_npz(path) as archive:
        X = _npz_array(archive, "X", path)
        # A label array named by the caller must be there; the default y may not.
        wanted = with_labels and (label_column is not None or label_key in archive.files)
        y = _npz_array(archive, label_key, path) if wanted else None
    data = _samples(X, path)
    if y is not None:
        data.y = _as_labels(y.tolist()) if y.dtype.kind == "U" else y
    return data


@contextmanager
def _open_npz(path):
    """The arrays of an ``.npz`` file, opened without unpickling; closed on leaving the block.

    Read each array with :func:`_npz_array`. Every module that reads ``.npz``
    files opens them here, so that none unpickles and all report problems
    alike.

    Raises
    ------
    ValueError
        Naming the file: numpy cannot read it, or it holds a single array
        (an ``.npy`` file under another name).
    """
    archive = _load_numpy(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path} holds a single array, not an .npz archive; save the samples and their labels "
            "together, as np.savez(path, X=samples, y=labels) does"
        )
    with archive:
        yield archive


def _npz_array(archive, key, path):
    """The array ``key`` of an archive that :func:`_open_npz` opened on ``path``.

    Raises
    ------
    ValueError
        Naming the file: it holds no array ``key`` (the message lists those it
        holds), or the array cannot be read, or it holds Python objects, which
        only unpickling reads.
    """
    if key not in archive.files:
        raise ValueError(f"{path} has no array {key!r} (arrays: {', '.join(archive.files)})")
    with _numpy_errors(path, key):
        return archive[key]


def _load_numpy(path):
    # No pickles: an array of Python objects fails here instead of running code.
    with _numpy_errors(path):
        return np.load(path, allow_pickle=False)


@contextmanager
def _numpy_errors(path, key=None):
    """Report a file numpy cannot read (or an archive member ``key`` it cannot inflate) with its name."""
    what = path if key is None else f"array {key!r} of {path}"
    try:
        yield
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        if str(exc).startswith("Object arrays"):
            # numpy's refusal of an array of Python objects; any other
            # message is reported as numpy words it.
            raise ValueError(
                f"{what} holds Python objects, which cannot be read without unpickling; unpickling "
                "could run code from the file, so it is refused: save arrays of numbers or strings"
            ) from None
        lines = str(exc).strip().splitlines()
        raise ValueError(f"cannot read {what}: {lines[0] if lines else type(exc).__name__}") from None


def _samples(X, path):
    """Data with one row per sample; an array of images is flattened to rows.

    A 2-D sample is a one-channel image, so its ``input_shape`` gets a channel
    axis: ``(1, height, width)`` is what the CNN encoder takes.
    """
    if X.ndim < 2:
        raise ValueError(f"{path}: expected one sample per row, got a {X.ndim}-D array")
    if X.ndim == 2:
        return Data(X)
    sample_shape = X.shape[1:]
    input_shape = (1, *sample_shape) if len(sample_shape) == 2 else sample_shape
    return Data(X.reshape(len(X), -1), input_shape=input_shape)


