"""The warnings of ibdetect, in one module to import when filtering or catching them.

Examples
--------
>>> import warnings
>>> from ibdetect.exceptions import EmbeddingCollapseWarning
>>> with warnings.catch_warnings():
...     warnings.simplefilter("error", EmbeddingCollapseWarning)
"""

__all__ = ["EmbeddingCollapseWarning", "FeatureScaleWarning", "ModelVersionWarning", "TrainingInterruptedWarning"]


class EmbeddingCollapseWarning(UserWarning):
    """The network maps most training samples to (almost) the same point."""


class FeatureScaleWarning(UserWarning):
    """The features of the rows come in such different units that distances see mostly the widest.

    Attributes
    ----------
    feature : int or None
        The position of the widest feature among the columns of ``X``.
    ratio : float or None
        How many times as much it varies as the median feature.
    """

    def __init__(self, message, feature=None, ratio=None):
        super().__init__(message)
        self.feature = feature
        self.ratio = ratio


class TrainingInterruptedWarning(UserWarning):
    """Training stopped early on a keyboard interrupt; the fit used what was learned."""


class ModelVersionWarning(UserWarning):
    """A model file was saved with other versions of ibdetect or its dependencies."""
