"""The steps of a pipeline before the detector, in a model file: written and read with skops.io.

A lone scaler is saved in the model file's header (a few numbers per
feature). Any other preparation, such as :func:`ibdetect.preprocessing.make_preprocessor`'s
column transformer, is written by skops.io, whose files load without
unpickling: only the types skops trusts (scikit-learn's estimators, numpy
arrays, Python's containers and scalars) and those named in
``TRUSTED_TYPES`` are built, and a file holding any other is refused before
anything is built. skops is an optional dependency (``pip install
"ibdetect[tables]"``).
"""

import copy
import zipfile

from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from ._pipelines import fitted_parts

__all__ = ["TRUSTED_TYPES", "decode_preparation", "encode_preparation", "require_skops"]

# What the steps may hold beyond skops's own trusted types: numpy's dtypes
# (the dtype of an encoder's output), and the one transformer of this
# package, which holds only a list of column positions and feature names.
TRUSTED_TYPES = ["numpy.dtype", "ibdetect.preprocessing.TableCells"]


def require_skops():
    """skops.io, or an ImportError that says how to install it."""
    try:
        import skops.io
    except ImportError:
        raise ImportError(
            "a model file holds preparation steps other than a scaler (categories, gaps) with skops; "
            'install it with: pip install "ibdetect[tables]"'
        ) from None
    return skops.io


def encode_preparation(steps):
    """The bytes skops.io writes for ``steps`` (a Pipeline), once it is seen to load back without trusting more.

    Raises
    ------
    ValueError
        A step holds a type that loading would have to trust, such as a
        function of a ``FunctionTransformer``.
    """
    skops_io = require_skops()
    # Deflated: skops's schema repeats each step's layout, 20 times smaller so.
    content = skops_io.dumps(_storable(steps), compression=zipfile.ZIP_DEFLATED)
    untrusted = sorted(set(skops_io.get_untrusted_types(data=content)) - set(TRUSTED_TYPES))
    if untrusted:
        raise ValueError(
            f"the steps before the detector hold {', '.join(untrusted)}, which a model file cannot load "
            "without running code; save the pipeline with joblib (a pickle) instead"
        )
    return content


def _storable(steps):
    """A copy of ``steps`` that skops can write without code, where they hold what only a fit needed.

    - With ``set_output(transform="pandas")`` a fitted ``FeatureUnion``
      keeps the columns of each part's output, pandas ``Index`` objects
      that skops cannot write; it reads them only for a part without
      ``get_feature_names_out``, and lists serve as well.
    - A ``ColumnTransformer`` whose columns a function chose
      (``make_column_selector``) keeps that function among its parameters;
      it transforms with the columns chosen when fitted, which the copy
      names instead.
    """
    if not any(_needs_storing(part) for part in fitted_parts(steps)):
        return steps
    steps = copy.deepcopy(steps)
    for part in fitted_parts(steps):
        if hasattr(part, "_transformers_feature_names_out"):
            part._transformers_feature_names_out = _listed(part._transformers_feature_names_out)
        if isinstance(part, ColumnTransformer) and hasattr(part, "_columns"):
            part.transformers = [
                (name, transformer, chosen if callable(columns) else columns)
                for (name, transformer, columns), chosen in zip(part.transformers, part._columns)
            ]
    return steps


def _listed(names):
    """A FeatureUnion's names per part (pandas Index objects) as lists; a ColumnTransformer's array of them as a list."""
    if isinstance(names, list):
        return [[str(name) for name in part] for part in names]
    return [str(name) for name in names]


def _needs_storing(part):
    """Whether a fitted step holds what :func:`_storable` replaces."""
    chosen_by_function = isinstance(part, ColumnTransformer) and any(
        callable(columns) for _, _, columns in part.transformers
    )
    return hasattr(part, "_transformers_feature_names_out") or chosen_by_function


def decode_preparation(content, n_features_out):
    """The Pipeline of steps that ``content`` holds, trusting only skops's types and ``TRUSTED_TYPES``.

    Raises
    ------
    ValueError
        The steps hold another type, are not a fitted pipeline of
        transformers, or do not give ``n_features_out`` features.
    """
    skops_io = require_skops()
    try:
        steps = skops_io.loads(content, trusted=TRUSTED_TYPES)
    except Exception as exc:
        # An untrusted type, or a schema skops cannot read: skops raises
        # either before it builds anything.
        raise ValueError(f"its preparation steps do not load: {exc}") from None
    if not isinstance(steps, Pipeline) or not all(hasattr(step, "transform") for _, step in steps.steps):
        raise ValueError(f"its preparation is not a pipeline of transformers: {type(steps).__name__}")
    try:
        names = steps.get_feature_names_out()
    except Exception as exc:
        raise ValueError(_without_feature_names(steps, exc)) from None
    if len(names) != n_features_out:
        raise ValueError(f"its preparation steps give {len(names)} features, but the detector takes {n_features_out}")
    return steps


def _without_feature_names(steps, exc):
    """Why ``steps`` name no output features, and the fix where it is a FunctionTransformer's."""
    for name, step in steps.steps:
        # A NumPy function such as np.log1p loads without running code, but
        # names its output only when told how.
        if isinstance(step, FunctionTransformer) and step.feature_names_out is None:
            return (
                f"its step {name!r}, a FunctionTransformer, does not name its output features, which the file "
                "checks against the detector's: create it with feature_names_out='one-to-one'"
            )
    return f"its preparation steps do not name their output features: {exc}"
