"""Reaching the detector inside a scikit-learn pipeline."""

from sklearn.pipeline import Pipeline


def final_step(estimator):
    """The estimator itself, or the last step of a pipeline that ends in it."""
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator
