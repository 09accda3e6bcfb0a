"""Checks of plain values shared by the estimator, the model files and the splitters."""

from numbers import Integral

import numpy as np

__all__ = ["check_int", "check_positive_ints", "is_int"]


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
