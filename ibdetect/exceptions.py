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
    """The features of the rows come in such different units that distances see mostly the widest."""


class TrainingInterruptedWarning(UserWarning):
    """Training stopped early on a keyboard interrupt; the fit used what was learned."""


class ModelVersionWarning(UserWarning):
    """A model file was saved with other versions of ibdetect or its dependencies."""
