"""Anomaly detection by multi-class deep data description with an Information Bottleneck loss."""

__version__ = "0.3.0.dev0"

from typing import TYPE_CHECKING

from .exceptions import EmbeddingCollapseWarning, TrainingInterruptedWarning

if TYPE_CHECKING:
    # What the lazy import below gives, for type checkers and for the
    # layers contract, which then sees that importing the estimator from the
    # package reaches _estimator.
    from ._estimator import IBDeepDescription

__all__ = ["EmbeddingCollapseWarning", "IBDeepDescription", "TrainingInterruptedWarning", "__version__"]

# The estimator imports torch, which takes seconds: it is imported when first
# asked for, so that the command line's help and version come at once.
_LAZY = {"IBDeepDescription": "._estimator"}


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
