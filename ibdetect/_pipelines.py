"""Reaching the detector inside a scikit-learn pipeline."""

from sklearn.compose import ColumnTransformer
from sklearn.pipeline import FeatureUnion, Pipeline


def final_step(estimator):
    """The estimator itself, or the last step of a pipeline that ends in it."""
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def first_step(estimator):
    """The first estimator that data meets: the first step of a pipeline, of its first step if that is one too."""
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[0][1]
    return estimator


def leaf_steps(estimator):
    """The estimators of a pipeline in the order data meets them, nested pipelines opened."""
    if not isinstance(estimator, Pipeline):
        return [estimator]
    return [leaf for _, step in estimator.steps for leaf in leaf_steps(step)]


def fitted_parts(estimator):
    """``estimator`` and every fitted estimator inside it, through pipelines, column transformers and unions."""
    yield estimator
    if isinstance(estimator, Pipeline):
        inner = [step for _, step in estimator.steps]
    elif isinstance(estimator, ColumnTransformer):
        inner = [transformer for _, transformer, _ in getattr(estimator, "transformers_", [])]
    elif isinstance(estimator, FeatureUnion):
        inner = [transformer for _, transformer in estimator.transformer_list]
    else:
        inner = []
    for part in inner:
        if hasattr(part, "fit"):
            yield from fitted_parts(part)
