"""What a fitted detector holds, declared once: each attribute's name, kind and shape.

The modules that set fitted attributes declare them beside the code that sets
them (the data checks, training, the anomaly score, calibration); the
estimator gathers the declarations in ``FITTED_STATE``. Model files write,
read and check exactly what is declared, so that a new attribute cannot be
forgotten by one of them.
"""

from numbers import Real
from typing import Callable, NamedTuple, Optional

import numpy as np

from ._checks import is_int
from ._labels import ANOMALY, is_anomaly

__all__ = ["OPTIONAL", "FittedAttribute", "check_state", "finite", "positive"]

#: The kinds of fitted value. Model files keep arrays as tensors, the nets
#: and histories their own way, and the rest as JSON values.
KINDS = ("array", "labels", "names", "int", "count", "float", "text", "net", "history")

#: A ``when`` for an attribute that some fits hold and others not, whatever
#: the rest of the state.
OPTIONAL = "optional"


class FittedAttribute(NamedTuple):
    """One attribute that ``fit`` sets.

    Attributes
    ----------
    name : str
    kind : str
        One of ``KINDS``.
    shape : tuple
        For arrays, one entry per dimension: a length, or the name of a size
        that the whole state must agree on (``"n_classes"``, the length of
        ``classes_``; ``"n_features_in_"``; any other name is fixed by the
        first array that uses it).
    dtype : str, default=None
        For arrays, their numpy dtype.
    when : callable or OPTIONAL, default=None
        Which fits hold it: a function of the state (a dict of the other
        attributes) that says whether this one is there; ``OPTIONAL`` when
        the rest of the state does not tell; None for every fit.
    nullable : bool, default=False
        The value may be None.
    check : callable, default=None
        A further rule: a function of the value and the state that returns
        what is wrong with the value, or None.
    """

    name: str
    kind: str
    shape: tuple = ()
    dtype: Optional[str] = None
    when: Optional[Callable] = None
    nullable: bool = False
    check: Optional[Callable] = None

    def expected(self, state):
        """Whether a fit with ``state`` holds this attribute."""
        if self.when == OPTIONAL:
            return self.name in state
        return self.when is None or bool(self.when(state))


def check_state(declared, state):
    """Raise a ValueError naming the first attribute of ``state`` that breaks its declaration.

    Parameters
    ----------
    declared : sequence of FittedAttribute
        In an order where every attribute that ``when`` or ``check`` reads
        comes first.
    state : dict
        Attribute names to values; those of kind ``"net"`` and
        ``"history"`` are not checked here.
    """
    sizes = {}
    names = {attribute.name for attribute in declared}
    unknown = sorted(set(state) - names)
    if unknown:
        raise ValueError(f"unknown fitted attribute {unknown[0]!r}")
    for attribute in declared:
        if attribute.kind in ("net", "history"):
            continue
        present = attribute.name in state
        if present != attribute.expected(state):
            raise ValueError(f"{attribute.name} is {'not expected' if present else 'missing'}")
        if present:
            problem = _problem(attribute, state[attribute.name], state, sizes)
            if problem:
                raise ValueError(f"{attribute.name} {problem}")


def finite(value, state):
    """A ``check``: every value is finite."""
    return None if np.all(np.isfinite(value)) else "must hold finite values"


def positive(value, state):
    """A ``check``: every value is finite and above 0."""
    return None if np.all(np.isfinite(value) & (np.asarray(value) > 0)) else "must hold finite values above 0"


def _problem(attribute, value, state, sizes):
    """What is wrong with ``value`` for ``attribute``, or None."""
    if value is None:
        return None if attribute.nullable else "is missing"
    problem = _KIND_CHECKS[attribute.kind](attribute, value, state, sizes)
    if problem is None and attribute.check is not None:
        problem = attribute.check(value, state)
    return problem


def _array_problem(attribute, value, state, sizes):
    if not isinstance(value, np.ndarray) or value.dtype != np.dtype(attribute.dtype):
        return f"must be an array of {attribute.dtype}"
    if value.ndim != len(attribute.shape):
        return f"must have {len(attribute.shape)} dimension(s), got shape {value.shape}"
    for axis, (length, size) in enumerate(zip(value.shape, attribute.shape)):
        expected = _size(size, state, sizes, length)
        if length != expected:
            return f"must have {expected} entries along axis {axis} ({size}), got shape {value.shape}"
    return None


def _size(size, state, sizes, length):
    """The length that ``size`` stands for; a named size is fixed by its first use."""
    if isinstance(size, int):
        return size
    if size == "n_classes":
        return len(state["classes_"])
    if size in state:
        return state[size]
    return sizes.setdefault(size, length)


def _labels_problem(attribute, value, state, sizes):
    """Labels as ``fit`` finds them: numbers or strings, finite, sorted and distinct, none the anomaly marker."""
    if not isinstance(value, np.ndarray) or value.ndim != 1 or not len(value) or value.dtype.kind not in "biufUO":
        return "must be a non-empty 1-D array of numbers or strings"
    labels = value.tolist()
    if value.dtype.kind == "O" and not all(isinstance(label, str) for label in labels):
        return "must hold strings only, as an array of objects"
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        return "must hold finite values"
    if not all(left < right for left, right in zip(labels, labels[1:])):
        return "must hold distinct labels, sorted"
    if is_anomaly(value).any():
        return f"must not hold the anomaly marker {ANOMALY}"
    return None


def _names_problem(attribute, value, state, sizes):
    if not isinstance(value, np.ndarray) or value.ndim != 1 or not all(isinstance(name, str) for name in value):
        return "must be a 1-D array of strings"
    if len(value) != state.get("n_features_in_"):
        return f"must name the {state.get('n_features_in_')} features"
    return None


def _int_problem(attribute, value, state, sizes):
    return None if is_int(value) else f"must be a positive integer, got {value!r}"


def _count_problem(attribute, value, state, sizes):
    return None if is_int(value, minimum=0) else f"must be an integer of at least 0, got {value!r}"


def _float_problem(attribute, value, state, sizes):
    if not isinstance(value, Real) or isinstance(value, bool):
        return f"must be a number, got {value!r}"
    return None


def _text_problem(attribute, value, state, sizes):
    return None if isinstance(value, str) else f"must be a string, got {type(value).__name__}"


_KIND_CHECKS = {
    "array": _array_problem,
    "labels": _labels_problem,
    "names": _names_problem,
    "int": _int_problem,
    "count": _count_problem,
    "float": _float_problem,
    "text": _text_problem,
}
