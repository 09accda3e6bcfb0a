"""Checks of plain values shared by the estimator, the model files and the splitters."""

from numbers import Integral

import numpy as np

__all__ = ["check_int", "check_positive_ints", "flat_rows", "is_int"]

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
