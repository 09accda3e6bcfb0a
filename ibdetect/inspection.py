"""Explanations of a fitted model in the terms of the columns it is given.

:meth:`IBDeepDescription.explain <ibdetect.IBDeepDescription.explain>`
splits a row's distance to the normal data between the features the
detector reads. Behind a scaler those are the data's columns; behind the
preparation of a table with text or empty cells
(:func:`ibdetect.preprocessing.make_preprocessor`) a column becomes several
features (its one-hot categories, its gap and unseen-category flags).
:func:`explain_columns` runs the steps before the detector, explains the
detector, and adds up each column's features into the column's share, so
that a row's columns still add up to its distance. Steps whose features
cannot be traced back to one column each (a PCA, say) leave the features
as the detector reads them, under the names the steps give them.

Examples
--------
>>> import numpy as np
>>> from sklearn.pipeline import make_pipeline
>>> from ibdetect import IBDeepDescription
>>> from ibdetect.inspection import explain_columns
>>> from ibdetect.preprocessing import make_preprocessor
>>> rng = np.random.RandomState(0)
>>> X = np.column_stack([rng.normal(10, 1, 200).round(2), rng.choice(["FR", "DE"], 200)]).astype(object)
>>> model = make_pipeline(make_preprocessor(X), IBDeepDescription(max_epochs=5, random_state=0)).fit(X)
>>> row = np.array([[10.1, "IT"]], dtype=object)
>>> explanation = explain_columns(model, row, feature_names=["amount", "country"])
>>> explanation.column_names.tolist()
['amount', 'country']
>>> int(explanation.column_contributions.argmax())  # the unseen country
1
>>> bool(np.allclose(explanation.column_contributions.sum(1), explanation.distances))
True
"""

import copy
import re

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._pipelines import final_step, first_step, fitted_parts

__all__ = ["column_owners", "explain_columns"]

# A stand-in for a column's name when asking the steps before the detector
# what each feature is made of: column names and categories hold no NUL
# character in practice, so a marker found in a feature's name is the
# column's; a name with more than one (a category holding a marker) leaves
# the features unmapped rather than guessed.
_MARKER = "\0{}\0"
_MARKER_PATTERN = re.compile("\0([0-9]+)\0")


def explain_columns(model, X, *, feature_names=None, n_steps=8):
    """Each column's share of each row's anomaly score, through the steps before the detector.

    Parameters
    ----------
    model : IBDeepDescription or Pipeline
        A fitted detector, or a fitted pipeline that ends in one.
    X : array-like or DataFrame of shape (n_samples, n_columns)
        Rows as the model takes them.
    feature_names : sequence of str, default=None
        The names of ``X``'s columns, for a model and an ``X`` that have
        none (an array of a CSV file's columns, say); one per column.
    n_steps : int, default=8
        As :meth:`IBDeepDescription.explain <ibdetect.IBDeepDescription.explain>`
        takes it.

    Returns
    -------
    explanation : sklearn.utils.Bunch
        What ``explain`` returns for the detector, on the rows the steps
        prepare (its ``contributions`` and ``feature_names`` are the
        detector's features), and:

        - ``column_contributions``, of shape (n_samples, n_columns): each
          column's share, the sum of its features', a row's adding up to
          its distance;
        - ``column_names``: the model's column names, else ``X``'s or
          ``feature_names``, else ``x0``, ``x1``, ... Where the steps mix
          columns, these are the detector's features and their names.

    Raises
    ------
    ValueError
        As ``explain`` raises (a model whose scores it cannot explain), or
        ``feature_names`` given for an ``X`` with column names, or not one
        per column.
    """
    if hasattr(X, "columns") and feature_names is not None:
        raise ValueError("feature_names names the columns of an X without names; X has its own")
    # Before the explanation, which costs several passes of the network.
    owners, names = column_owners(model, getattr(X, "columns", feature_names))
    detector, preparation = final_step(model), _preparation(model)
    prepared = X if preparation is None else preparation.transform(X)
    explanation = detector.explain(prepared, n_steps=n_steps)
    if preparation is not None:
        explanation.feature_names = _encoded_names(preparation, detector.n_features_in_)
    explanation.column_contributions = _summed_by_owner(explanation.contributions, owners, len(names))
    explanation.column_names = names
    return explanation


def column_owners(model, feature_names=None):
    """Which column of the model's input each feature of its detector comes from, and the columns' names.

    Parameters
    ----------
    model : IBDeepDescription or Pipeline
        A fitted detector, or a fitted pipeline that ends in one.
    feature_names : sequence of str, default=None
        The names of the input's columns, where the model has none.

    Returns
    -------
    owners : ndarray of int of shape (n_features,)
        For each feature the detector reads, the position of what it counts
        towards among ``names``.
    names : ndarray of object
        The input's columns; where the steps before the detector mix them
        (a PCA), the detector's features, as the steps name them.
    """
    check_is_fitted(final_step(model))
    preparation, n_features = _preparation(model), final_step(model).n_features_in_
    if preparation is None:
        return np.arange(n_features), _column_names(model, feature_names)
    names = _column_names(model, feature_names)
    owners = _traced_columns(preparation, names)
    if owners is not None:
        return owners, names
    return np.arange(n_features), _encoded_names(preparation, n_features)


def _preparation(model):
    """The steps before the detector, as a pipeline; None when there are none."""
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        return model[:-1]
    return None


def _summed_by_owner(contributions, owners, n_owners):
    """Each row's contributions added up per owner: the features of one column become the column's."""
    membership = owners[:, None] == np.arange(n_owners)
    return contributions @ membership


def _column_names(model, feature_names):
    """The input's column names: the model's own, those given, or x0, x1, ..."""
    n_columns = first_step(model).n_features_in_
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = feature_names
    if names is None:
        names = [f"x{column}" for column in range(n_columns)]
    if len(names) != n_columns:
        raise ValueError(f"{len(names)} column names for a model of {n_columns} columns: {list(names)}")
    return np.asarray(names, dtype=object)


def _traced_columns(preparation, columns):
    """The column that each feature out of ``preparation`` comes from, or None where that cannot be told.

    ``columns`` are the names the first step was fitted on, or None.
    """
    markers = [_MARKER.format(column) for column in range(len(columns))]
    try:
        # scikit-learn's steps name each feature after the column it comes
        # from (amount, country_FR, missingindicator_country): markers too.
        names = _renamed(preparation, columns, markers).get_feature_names_out(markers)
    except (AttributeError, ValueError):
        # A step that gives no names, or one whose names cannot be traced.
        return None
    found = [_MARKER_PATTERN.findall(name) for name in names]
    if any(len(found_in) != 1 for found_in in found):
        return None
    return np.array([int(found_in[0]) for found_in in found])


def _renamed(preparation, columns, markers):
    """A copy of ``preparation`` that knows each input column by its marker.

    A step fitted on named columns (a DataFrame, or pandas output from the
    step before) checks the names it is asked about against those: in the
    copy, every step that knew a column by name knows it by its marker.
    """
    preparation = copy.deepcopy(preparation)
    marker_of = dict(zip(map(str, columns), markers))
    for part in fitted_parts(preparation):
        names = getattr(part, "feature_names_in_", None)
        # A pipeline's or a union's names are a property of the parts the walk reaches.
        if names is not None and not isinstance(getattr(type(part), "feature_names_in_", None), property):
            part.feature_names_in_ = np.asarray([marker_of.get(str(name), name) for name in names], dtype=object)
    return preparation


def _encoded_names(preparation, n_features):
    """The names the steps before the detector give its features, or x0, x1, ... where a step gives none."""
    try:
        return np.asarray(preparation.get_feature_names_out(), dtype=object)
    except AttributeError:
        return np.array([f"x{feature}" for feature in range(n_features)], dtype=object)
