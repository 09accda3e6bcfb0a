"""The warnings of ibdetect, in one module to import when filtering or catching them.

Examples
--------
>>> import warnings
>>> from ibdetect.exceptions import EmbeddingCollapseWarning
>>> with warnings.catch_warnings():
...     warnings.simplefilter("error", EmbeddingCollapseWarning)
"""

__all__ = [
    "ContaminationShareWarning",
    "EmbeddingCollapseWarning",
    "FeatureScaleWarning",
    "FlagLabelsWarning",
    "ModelVersionWarning",
    "TrainingInterruptedWarning",
]


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


class FlagLabelsWarning(UserWarning):
    """The labels look like outlier flags, which train as two known normal classes.

    Attributes
    ----------
    labels : str
        What they hold, as the message says it: ``"True and False"``,
        ``"'false' and 'true'"`` or ``"0 and 1 (1 on 10% of the samples)"``.
    """

    def __init__(self, message, labels=None):
        super().__init__(message)
        self.labels = labels


class ContaminationShareWarning(UserWarning):
    """A float ``contamination`` flags far more new samples than that share, as the held-out samples show.

    Attributes
    ----------
    contamination : float
    flagged, n_held_out : int
        How many of the held-out samples lie beyond the threshold, of how many.
    """

    def __init__(self, message, contamination=None, flagged=None, n_held_out=None):
        super().__init__(message)
        self.contamination = contamination
        self.flagged = flagged
        self.n_held_out = n_held_out


class TrainingInterruptedWarning(UserWarning):
    """Training stopped early on a keyboard interrupt; the fit used what was learned."""


class ModelVersionWarning(UserWarning):
    """A model file was saved with other versions of ibdetect or its dependencies."""
