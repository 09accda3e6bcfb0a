r"""Reading samples and labels from data files: CSV (plain or gzip-compressed), ``.npy`` and ``.npz``.

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
import gzip
import io
import itertools
import math
import os
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._labels import ANOMALY, is_anomaly

__all__ = ["Data", "column_names", "data_format", "read_chunks", "read_data"]

#: The name of the id column of a CSV file whose first column has no name, as
#: pandas writes a DataFrame's index.
INDEX_NAME = "id"

# The formats read, by the end of the file's name.
FORMATS = {".csv": "csv", ".csv.gz": "csv", ".npy": "npy", ".npz": "npz"}
# Separators of other CSV dialects (spreadsheets in some locales, TSV files):
# a file of one column whose header and first row split alike on one is a
# file of that dialect, which the reader would misread.
OTHER_SEPARATORS = (";", "\t", "|")
# How a zip archive (an .npz file), an .npy file and a gzip file begin.
ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"
NPY_MAGIC = b"\x93NUMPY"
# Array data is read in pieces of this size, so that what is allocated is
# what the file holds, not what its header declares.
READ_CHUNK_BYTES = 2**24
# How numpy writes the arrays of an .npz file: stored (savez) or deflated
# (savez_compressed). Other methods (bzip2, lzma) inflate far more from a
# byte and are refused.
NPZ_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# The most bytes deflate inflates from one byte (a 258-byte match in each
# pair of bits, and a few bytes of block headers): what bounds a deflated
# array by the bytes it takes in the file, whatever size the archive declares.
DEFLATE_MAX_RATIO = 1032


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


def data_format(path):
    """The format a data file's name says it holds: ``"csv"``, ``"npy"``, ``"npz"``, or None.

    A name ending in ``.csv.gz`` is a gzip-compressed CSV file, read as
    :func:`read_data` reads a plain one. Case does not matter.

    Examples
    --------
    >>> from ibdetect.io import data_format
    >>> data_format("readings.CSV"), data_format("readings.csv.gz"), data_format("readings.txt")
    ('csv', 'csv', None)
    """
    name = os.fspath(path).lower()
    return next((kind for suffix, kind in FORMATS.items() if name.endswith(suffix)), None)


def column_names(path):
    """The column names of a CSV file's header row, stripped of spaces as :func:`read_data` strips them.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` or ``.csv.gz`` file.

    Returns
    -------
    names : list of str
        Empty for a file with no lines.

    Raises
    ------
    ValueError
        The file is no CSV file, or cannot be read as one.
    """
    if data_format(path) != "csv":
        raise ValueError(f"{path} is not a CSV file (.csv or .csv.gz)")
    _, header, _ = next(_csv_rows(path), (None, [], 0))
    return [name.strip() for name in header]


def read_data(path, label_column=None, with_labels=True, ignore_columns=(), mixed=False):
    """Read samples, and their labels, from a ``.csv``, ``.csv.gz``, ``.npy`` or ``.npz`` file.

    A CSV file has a header row of column names and numeric features (or,
    with ``mixed``, any cells). A first column without a name (as pandas
    writes a DataFrame's index) holds row ids: it is kept out of the
    features and returned as ``Data.ids``. A name ending in ``.csv.gz``
    marks a gzip-compressed CSV file.

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
    mixed : bool, default=False
        Whether a CSV file may hold text and empty cells among its features.
        If so and it does, ``Data.X`` is an object array of the cells as
        written (stripped), numbers included, with NaN for empty ones, ready
        for :func:`ibdetect.preprocessing.make_preprocessor`, which reads
        each column as numbers or categories; a file of numbers only still
        gives floats.

    Returns
    -------
    data : Data

    Raises
    ------
    ValueError
        The file is not in a known format, is malformed or lacks what is asked for.
    """
    kind = data_format(path)
    if kind is None:
        suffix = Path(path).suffix.lower()
        raise ValueError(
            f"{path}: unknown data format {suffix or '(no extension)'!r}; use .csv, .csv.gz, .npy or .npz"
        )
    try:
        if kind == "csv" and mixed:
            # Numbers first, as they take less memory and time; the cells as
            # text, from the start, at the first that is not one.
            try:
                return _read_csv(path, label_column, with_labels, ignore_columns)
            except _NotANumber:
                return _read_csv(path, label_column, with_labels, ignore_columns, mixed=True)
        if kind == "csv":
            return _read_csv(path, label_column, with_labels, ignore_columns)
        return {"npy": _read_npy, "npz": _read_npz}[kind](path, label_column, with_labels)
    except MemoryError:
        raise ValueError(f"{path} holds more data than there is memory for") from None


def read_chunks(
    path, chunk_rows=100_000, ignore_columns=(), mixed=False, chunk_cells=None, row_width=None, id_column=None
):
    """Read the samples of a data file a chunk of rows at a time, as scoring a large file needs.

    A CSV file is read a row at a time and handed over every ``chunk_rows``
    rows, so that memory holds one chunk whatever the file's size; an
    ``.npy`` or ``.npz`` file is read whole, as one chunk. Labels are not
    read: name the label column in ``ignore_columns`` to leave it out.

    Parameters
    ----------
    path : str or path-like
    chunk_rows : int, default=100_000
    ignore_columns : sequence of str, default=()
        CSV columns to leave out when present.
    mixed : bool, default=False
        As :func:`read_data` takes it, but every chunk keeps its cells as
        text, numbers included, so that all chunks agree.
    chunk_cells : int, default=None
        If given, the rows of a chunk are as many as make about this many
        cells, whatever ``chunk_rows`` says: memory then follows the cells,
        which a wide table has more of per row.
    row_width : int, default=None
        The cells a row becomes once read, when more than its columns (its
        one-hot encoded features, say): ``chunk_cells`` counts those.
    id_column : str, default=None
        A CSV column of row ids, kept out of the features and returned as
        ``Data.ids`` under its name; None: an unnamed first column, if any.

    Yields
    ------
    data : Data
        The next rows; ``Data.y`` is None. A CSV file without rows gives one
        chunk without rows.
    bytes_read : int
        How far into the file reading has gone, for a progress bar (a little
        ahead of the chunk's last row, which reading buffers); for a
        ``.csv.gz`` file, in compressed bytes, as its size on disk counts.

    Raises
    ------
    ValueError
        As :func:`read_data` raises, when the chunk that holds the problem
        is read.

    Examples
    --------
    >>> import tempfile, os
    >>> from ibdetect.io import read_chunks
    >>> path = os.path.join(tempfile.mkdtemp(), "readings.csv")
    >>> with open(path, "w") as file:
    ...     _ = file.write("a,b\\n1,2\\n3,4\\n5,6\\n")
    >>> [data.X.tolist() for data, _ in read_chunks(path, chunk_rows=2)]
    [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0]]]
    """
    if data_format(path) != "csv":
        yield read_data(path, with_labels=False), os.path.getsize(path)
        return
    try:
        yield from _csv_chunks(path, None, False, ignore_columns, mixed, chunk_rows, chunk_cells, row_width, id_column)
    except MemoryError:
        raise ValueError(f"{path} holds more data than there is memory for") from None


def _read_csv(path, label_column, with_labels, ignore_columns, mixed=False):
    [(data, _)] = _csv_chunks(path, label_column, with_labels, ignore_columns, mixed, chunk_rows=None)
    return data


def _csv_chunks(
    path, label_column, with_labels, ignore_columns, mixed, chunk_rows, chunk_cells=None, row_width=None, id_column=None
):
    """Data of at most ``chunk_rows`` rows at a time (all, if None), and the bytes of the file read so far.

    A file of no rows gives one chunk of no rows.
    """
    rows = _csv_rows(path)
    _, header, read = next(rows, (None, None, 0))
    if header is None:
        raise ValueError(f"{path} is empty; expected a header row of column names")
    header = [name.strip() for name in header]
    if len(header) == 1:
        # The first row tells a file of another separator from one column whose name holds it.
        first = next(rows, None)
        _check_separator(header[0], first and first[1], path)
        rows = itertools.chain([first] if first else [], rows)
    id_index = _id_index(header, id_column, path)
    label_index = _label_index(header, label_column, with_labels, path)
    skipped = {id_index, label_index} | {i for i, name in enumerate(header) if name in ignore_columns}
    kept = [i for i in range(len(header)) if i not in skipped]
    _check_names(header, kept, path, id_column)
    feature_names = [header[i] for i in kept]
    if chunk_cells is not None:
        chunk_rows = max(1, chunk_cells // max(1, len(feature_names), row_width or 0))

    def chunk(features, labels, ids):
        X = _feature_array(features, len(feature_names), mixed)
        y = _as_labels(labels) if with_labels and label_index is not None else None
        if id_index is None:
            return Data(X, y, feature_names)
        return Data(X, y, feature_names, ids=np.array(ids, dtype=str), id_name=header[id_index] or INDEX_NAME)

    features, labels, ids = [], [], []
    chunks = 0
    for line, row, read in rows:
        where = f"{path}, line {line}"
        if len(row) != len(header):
            # A quote left open swallows the lines after it into one field.
            hint = " (a quote left open?)" if any("\n" in field for field in row) else ""
            raise ValueError(f"{where}: {len(row)} field(s), but the header has {len(header)}{hint}")
        features.append(_features([row[i] for i in kept], feature_names, where, mixed))
        if label_index is not None:
            labels.append(_label_text(row[label_index], where))
        if id_index is not None:
            ids.append(row[id_index].strip())
        if len(features) == chunk_rows:
            yield chunk(features, labels, ids), read
            features, labels, ids = [], [], []
            chunks += 1
    if features or not chunks:
        yield chunk(features, labels, ids), read


def _csv_rows(path):
    """Line number (where it starts), fields, and bytes read so far, of each non-blank row of a CSV file.

    The bytes read run ahead of the row by what the reader buffers: enough
    to show progress, not to seek to. They count the bytes of the file on
    disk, compressed ones for a ``.csv.gz`` file.
    """
    with open(path, "rb") as raw, _text(path, raw) as file:
        reader = csv.reader(file)
        try:
            start = 1
            for row in reader:
                if row:
                    yield start, row, raw.tell()
                start = reader.line_num + 1
        except csv.Error as exc:
            raise ValueError(f"{path}, line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            if _starts_with(path, GZIP_MAGIC) and not os.fspath(path).lower().endswith(".gz"):
                raise ValueError(f"{path} is compressed with gzip: name it {Path(path).name}.gz") from None
            raise ValueError(f"{path} is not a UTF-8 text file") from None
        except (gzip.BadGzipFile, EOFError, zlib.error):
            if not _starts_with(path, GZIP_MAGIC):
                raise ValueError(f"{path}: its name ends in .gz, but it is not compressed with gzip") from None
            # EOFError: the file ends inside its compressed stream (a copy cut short).
            raise ValueError(f"{path}: its name ends in .gz, but it is not a whole gzip file (damaged, or cut short?)") from None


def _text(path, raw):
    """The text of the open file ``raw``, decompressed where its name ends in .gz."""
    binary = gzip.GzipFile(fileobj=raw, mode="rb") if os.fspath(path).lower().endswith(".gz") else raw
    # utf-8-sig drops the byte order mark that some spreadsheets write.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def _check_separator(name, first_row, path):
    """Refuse a file of one column whose header and first row split alike on another separator.

    Every row of such a file would be one cell of text; a column whose name
    holds the separator (``"ratio a|b"``) has rows that do not split so.
    """
    for separator in OTHER_SEPARATORS:
        parts = len(name.split(separator))
        if parts > 1 and first_row is not None and len(first_row) == 1 and len(first_row[0].split(separator)) == parts:
            raise ValueError(
                f"{path}: the header is one column, {name!r}, whose names are separated by {separator!r}, as its "
                "rows are; a CSV file's columns are separated by commas: convert it (pandas: "
                f"read_csv(path, sep={separator!r}).to_csv(...))"
            )


def _id_index(header, id_column, path):
    """Position of the column of row ids: ``id_column``'s, or an unnamed first column's, or None."""
    if id_column is None:
        return 0 if header[0] == "" else None
    if id_column not in header:
        raise ValueError(f"{path} has no column {id_column!r} (columns: {', '.join(header)})")
    return header.index(id_column)


def _check_names(header, kept, path, id_column=None):
    unnamed = [i for i in kept if header[i] == ""]
    if unnamed:
        rule = (
            f"with {id_column!r} holding the row ids, every other column needs a name" if id_column is not None
            else "only the first column may be unnamed (it then holds row ids)"
        )
        raise ValueError(f"{path}: column {unnamed[0] + 1} has no name; {rule}")
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


def _features(cells, names, where, mixed):
    """A row's features: floats, or with ``mixed`` its cells as written, gaps as NaN."""
    if not mixed:
        return _floats(cells, names, where)
    return [cell.strip() or np.nan for cell in cells]


def _feature_array(rows, n_features, mixed):
    """Floats, or with ``mixed`` an object array of the text cells.

    Text is kept as written in every row, not read as numbers where a row
    allows it: a category "007" or "10" stays one, whatever its neighbours.
    """
    if not mixed:
        return np.array(rows, dtype=np.float64).reshape(len(rows), n_features)
    X = np.empty((len(rows), n_features), dtype=object)
    for i, row in enumerate(rows):
        X[i] = row
    return X


class _NotANumber(ValueError):
    """A feature cell of a CSV file that is not a number."""


def _floats(cells, names, where):
    values = []
    for name, cell in zip(names, cells):
        try:
            values.append(float(cell))
        except ValueError:
            if not cell.strip():
                raise _NotANumber(f"{where}: column {name!r} is empty (a gap), not a number") from None
            raise _NotANumber(
                f"{where}: column {name!r} holds {cell!r}, not a number (if it holds labels or row ids, "
                "name it as the label or id column; if it is no feature, leave it out)"
            ) from None
    return values


def _label_text(cell, where):
    label = cell.strip()
    if not label:
        raise ValueError(f"{where}: the label is empty")
    return label


def _as_labels(texts):
    """Labels as ``fit`` takes them: ints when that loses nothing, else the texts as they are.

    Whole numbers become ints only when each keeps its own number: ``"7"``
    is 7, but a column holding ``"007"``, ``"+7"``, or a number beyond int64
    stays text, as does one holding both ``"7"`` and ``"7.0"``. Whole
    numbers written as floats (``"2.0"``, as pandas writes an integer
    column that has a gap) are ints when nothing else reads as the same
    number. The known-anomaly marker follows the package's one rule
    (:func:`ibdetect.metrics.is_anomaly`): ``"-1"`` and ``"-1.0"`` mark an
    anomaly whether the labels are ints or texts.
    """
    distinct = sorted(set(texts))
    numbers = {text: ANOMALY for text, marker in zip(distinct, is_anomaly(np.array(distinct, dtype=object))) if marker}
    classes = {text: _whole_number(text) for text in distinct if text not in numbers}
    values = list(classes.values())
    limits = np.iinfo(np.int64)
    if None in values or len(set(values)) < len(values) or not all(limits.min <= value <= limits.max for value in values):
        return np.array(texts, dtype=object)
    numbers |= classes
    return np.array([numbers[text] for text in texts], dtype=np.int64)


def _whole_number(text):
    """The int that ``text`` writes as Python would (``"7"``, ``"-12"``) or with ``".0"``; else None."""
    digits = text.removesuffix(".0")
    try:
        number = int(digits)
    except ValueError:
        return None
    return number if str(number) == digits else None


def _read_npy(path, label_column, with_labels):
    if _starts_with(path, ZIP_MAGIC):
        raise ValueError(f"{path} is an .npz archive, not a single .npy array")
    with _numpy_errors(path), open(path, "rb") as file:
        array = _read_array(file, os.fstat(file.fileno()).st_size)
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
    # A single array is told by its first bytes, before numpy reads it whole.
    archive = None if _starts_with(path, NPY_MAGIC) else _load_numpy(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path} holds a single array, not an .npz archive; save the samples and their labels "
            "together, as np.savez(path, X=samples, y=labels) does"
        )
    with archive:
        yield archive


def _npz_array(archive, key, path):
    """The array ``key`` of an archive that :func:`_open_npz` opened on ``path``.

    The size the archive declares for the array is not trusted: the array
    is read no further than its shape needs, from a member that numpy could
    have written, and must fit in what that member can inflate to.

    Raises
    ------
    ValueError
        Naming the file: it holds no array ``key`` (the message lists those it
        holds), or the array cannot be read, or it holds Python objects, which
        only unpickling reads.
    """
    if key not in archive.files:
        raise ValueError(f"{path} has no array {key!r} (arrays: {', '.join(archive.files)})")
    member = archive.zip.getinfo(f"{key}.npy" if f"{key}.npy" in archive.zip.namelist() else key)
    with _numpy_errors(path, key):
        if member.compress_type not in NPZ_COMPRESSIONS:
            raise ValueError(
                f"it is compressed in a way numpy never writes (zip method {member.compress_type}); "
                "save with numpy.savez or numpy.savez_compressed"
            )
        ratio = DEFLATE_MAX_RATIO if member.compress_type == zipfile.ZIP_DEFLATED else 1
        with archive.zip.open(member) as file:
            return _read_array(file, min(member.file_size, member.compress_size * ratio), exact=ratio == 1)


def _read_array(file, size, exact=True):
    """The array of an ``.npy`` file of ``size`` bytes (at most, unless ``exact``), read from ``file`` at its start.

    The shape and dtype its header declares are checked against ``size``
    before anything is allocated, so that a header declaring terabytes costs
    nothing; then the data is read in pieces, no further than the shape
    needs, and a file holding more than that is refused.
    """
    version = np.lib.format.read_magic(file)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f"the .npy format version {version[0]}.{version[1]} is not read here; save with numpy.save")
    shape, fortran_order, dtype = readers[version](file)
    if dtype.hasobject:
        # In numpy's words, which _numpy_errors recognises.
        raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
    if dtype.itemsize == 0:
        raise ValueError(f"its dtype {dtype} holds no data")
    declared = math.prod(shape) * dtype.itemsize
    if declared > size - file.tell():
        raise ValueError(
            f"it declares an array of shape {shape} of {dtype} ({declared} bytes), but "
            f"{'holds' if exact else 'can hold no more than'} {max(size - file.tell(), 0)} bytes of data"
        )
    # Allocated once, as pages the reading then fills: the peak is the array.
    data = np.empty(declared, dtype=np.uint8)
    filled = 0
    while filled < declared:
        chunk = file.read(min(declared - filled, READ_CHUNK_BYTES))
        if not chunk:
            raise ValueError(f"it declares an array of shape {shape} of {dtype}, but holds only {filled} bytes of data")
        data[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)
    if file.read(1):
        raise ValueError(f"it holds more data than an array of shape {shape} of {dtype} ({declared} bytes)")
    return data.view(dtype).reshape(shape, order="F" if fortran_order else "C")


def _starts_with(path, magic):
    with open(path, "rb") as file:
        return file.read(len(magic)) == magic


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


