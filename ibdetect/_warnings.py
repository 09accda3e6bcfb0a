"""Warnings that point at the user's line, not at the library frame that raised them."""

import os
import sys
import warnings

import joblib
import sklearn
import skorch

__all__ = ["warn_at_caller"]

# The packages between a user's call and a warning of fit: ibdetect, and the
# machinery it runs through (scikit-learn's _fit_context and searches,
# joblib's loops, skorch's callbacks).
_LIBRARY_FOLDERS = tuple(
    os.path.dirname(module.__file__) + os.sep for module in (sys.modules[__package__], sklearn, skorch, joblib)
)


def warn_at_caller(message, category=None):
    """``warnings.warn(message, category)``, shown at the first frame outside ibdetect and the libraries it runs in.

    A warning of ``fit`` is raised several calls deep, and the depth differs
    between ``fit``, ``partial_fit`` and a search's folds: a fixed
    ``stacklevel`` would point into the library, where the user can change
    nothing. Where every frame is the library's, the outermost is shown.
    """
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_LIBRARY_FOLDERS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)
