"""Checks of plain values shared by the estimator, the model files and the splitters."""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import validate_data

__all__ = ["check_int", "check_positive_ints", "flat_rows", "is_int", "validated_rows"]

# What to do about input scikit-learn's checks refuse, by a piece of their message.
_PREPROCESSOR = "put ibdetect.preprocessing.make_preprocessor(X) before the detector in a Pipeline"
_SPARSE_FIX = (
    "the detector takes dense rows: in a Pipeline, have the step before it give dense output "
    "(OneHotEncoder(sparse_output=False), ColumnTransformer(sparse_threshold=0))"
)

# The channel counts of images as they are stored: grey, RGB, RGBA.
CHANNELS = (1, 3, 4)


def is_int(value, minimum=1):
    """Whether ``value`` is an int of at least ``minimum``.

    Booleans are not, although Python counts them as ints: ``True`` for a
    size is a mistake.
    """
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum


def check_int(value, name, minimum=1):
    """``value`` as an int, or a ValueError that names ``name`` unless :func:`is_int`."""
    if not is_int(value, minimum):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def check_positive_ints(values, name):
    """``values`` (an int or a flat sequence of ints) as a tuple of positive ints.

    Raises a ValueError that names ``name`` otherwise.
    """
    sizes = tuple(values) if np.iterable(values) else (values,)
    try:
        return tuple(check_int(size, name) for size in sizes)
    except ValueError:
        raise ValueError(f"{name} must hold positive integers, got {values!r}.") from None


def validated_rows(estimator, X, y=None, **kwargs):
    """scikit-learn's ``validate_data`` of ``X`` as float32 flat rows (and ``y``), its errors worded for the fix.

    A gap (NaN), a text cell or sparse input is refused, as scikit-learn
    refuses them, with what to put before the detector instead.
    """
    X = flat_rows(X)
    try:
        return validate_data(estimator, X, y, dtype=np.float32, **kwargs)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        if "Input X contains NaN" in message:
            raise ValueError(f"X holds NaN (gaps): fill them first, or {_PREPROCESSOR}, which fills and flags them.") from exc
        if "could not convert string to float" in message:
            raise ValueError(f"X holds text{_first_text(X)}: {_PREPROCESSOR} to read it as categories.") from exc
        if "Sparse data was passed" in message:
            raise TypeError(f"{message.rstrip('.')}; {_SPARSE_FIX}.") from exc
        raise


def _first_text(X):
    """Where ``X``'s first cell of text is, in words (its column, and the cell), or nothing if it cannot be told."""
    columns = getattr(X, "columns", None)
    cells = np.asarray(X, dtype=object)
    if cells.ndim != 2:
        return ""
    for j in range(cells.shape[1]):
        for cell in cells[:, j]:
            try:
                float(cell)
            except (TypeError, ValueError):
                name = f"column {columns[j]!r}" if columns is not None else f"column {j}"
                return f" ({name} holds {cell!r})"
    return ""


def flat_rows(X):
    """``X``, or a ValueError naming the reshape when it holds samples as arrays of more than one dimension.

    Images as they come (``load_digits().images``, a batch of ``(n, c, h,
    w)``) would otherwise meet scikit-learn's "Found array with dim 3".
    """
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) <= 2:
        return X
    shape = tuple(shape)
    flat = "X.reshape(len(X), -1)"
    if len(shape) == 3:
        image = f", with input_shape={(1, *shape[1:])} for the CNN to read the rows as images"
    elif len(shape) == 4 and shape[-1] in CHANNELS and shape[1] not in CHANNELS:
        # Channels last, as images are stored: the CNN reads them first.
        flat = "X.transpose(0, 3, 1, 2).reshape(len(X), -1)"
        image = f", with input_shape={(shape[3], *shape[1:3])} for the CNN to read the rows as images"
    elif len(shape) == 4:
        image = f", with input_shape={shape[1:]} (channels, height, width) for the CNN to read the rows as images"
    else:
        image = ""
    raise ValueError(f"X has shape {shape}, but the detector takes one flat row per sample: pass {flat}{image}.")
