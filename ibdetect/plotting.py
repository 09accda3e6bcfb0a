"""Plots of a fitted detector: its embedding, its scores, its training curves and its explanations.

matplotlib is an optional dependency, imported only when a function here is
called; install it with ``pip install "ibdetect[plot]"``.

Labels follow the convention of :mod:`ibdetect.metrics`: ``-1`` marks an
anomaly, any other label a normal sample of that class.
"""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from ._pipelines import final_step
from .metrics import is_anomaly

__all__ = [
    "plot_contribution_map",
    "plot_contributions",
    "plot_embedding",
    "plot_embedding_comparison",
    "plot_feature_projection",
    "plot_score_histograms",
    "plot_training_curves",
]

# Anomalies are drawn in one neutral style, distinct from every class colour.
_ANOMALY_STYLE = {"marker": "x", "color": "0.35", "label": "anomaly (-1)"}
_CENTER_STYLE = {"marker": "*", "s": 250, "color": "black", "edgecolors": "white", "label": "centres"}
# Contributions towards the anomaly are red, those against it blue, in the bar
# chart and the heat map alike.
_CONTRIBUTION_COLORS = {True: "tab:red", False: "tab:blue"}
_CONTRIBUTION_CMAP = "RdBu_r"


def _pyplot():
    """Import matplotlib.pyplot, or say how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "ibdetect.plotting needs matplotlib; install it with "
            '`pip install "ibdetect[plot]"` (or `pip install matplotlib`).'
        ) from exc
    return plt


def _axes(ax):
    """The given axes, or new ones on a new figure."""
    if ax is None:
        _, ax = _pyplot().subplots()
    return ax


def plot_feature_projection(X, y=None, *, ax=None, title="Raw features"):
    """Scatter the samples on the first two principal components of their features.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Samples, ``n_features >= 2``.
    y : array-like of shape (n_samples,), default=None
        Labels: one colour per class, ``-1`` drawn as anomalies. None draws
        every sample in one colour.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.
    title : str, default="Raw features"
        Title of the axes.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.
    """
    return _plot_projection(_axes(ax), X, y, title)


def plot_embedding(detector, X, y=None, *, ax=None, title="Learned embedding"):
    """Scatter the embeddings and the class centres on their first two principal components.

    The principal components are those of ``detector.transform(X)``; the
    centres ``detector.centers_`` are projected onto the same components.

    Parameters
    ----------
    detector : IBDeepDescription or Pipeline
        A fitted detector, or a fitted pipeline that ends in one (its
        earlier steps, such as a scaler, then transform ``X`` first).
    X : array-like of shape (n_samples, n_features)
        Samples to embed.
    y : array-like of shape (n_samples,), default=None
        Labels: one colour per class, ``-1`` drawn as anomalies. None draws
        every sample in one colour.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.
    title : str, default="Learned embedding"
        Title of the axes.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.
    """
    # A pipeline's transform runs its earlier steps, then the detector's.
    embeddings = detector.transform(X)
    return _plot_projection(_axes(ax), embeddings, y, title, centers=final_step(detector).centers_)


def plot_embedding_comparison(detector, X, y=None):
    """Show the raw features and the learned embedding side by side.

    Both panels are 2-D principal component projections: on the left of
    ``X`` itself (:func:`plot_feature_projection`), on the right of
    ``detector.transform(X)`` with the class centres (:func:`plot_embedding`).

    Parameters
    ----------
    detector : IBDeepDescription or Pipeline
        A fitted detector, or a fitted pipeline that ends in one (its
        earlier steps, such as a scaler, then transform ``X`` first).
    X : array-like of shape (n_samples, n_features)
        Samples to project.
    y : array-like of shape (n_samples,), default=None
        Labels: one colour per class, ``-1`` drawn as anomalies.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure with its two axes.
    """
    fig, (raw_ax, embedding_ax) = _pyplot().subplots(1, 2, figsize=(11, 5), layout="constrained")
    plot_feature_projection(X, y, ax=raw_ax)
    plot_embedding(detector, X, y, ax=embedding_ax)
    return fig


def plot_score_histograms(detector, X, y, *, ax=None, bins=30):
    """Histograms of ``decision_function`` for normal and anomalous samples.

    A dashed vertical line marks the threshold 0 of ``predict``: samples to
    its left are flagged as anomalies.

    Parameters
    ----------
    detector : IBDeepDescription or Pipeline
        A fitted detector, or a fitted pipeline that ends in one (its
        earlier steps, such as a scaler, then transform ``X`` first).
    X : array-like of shape (n_samples, n_features)
        Samples to score.
    y : array-like of shape (n_samples,)
        Labels; ``-1`` marks an anomaly, any other value a normal sample.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.
    bins : int, default=30
        Number of bins, shared by both histograms.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.

    Examples
    --------
    >>> from ibdetect import IBDeepDescription
    >>> from ibdetect.demo import digits_split
    >>> from ibdetect.plotting import plot_score_histograms
    >>> X_train, y_train, X_test, y_test = digits_split(random_state=0)
    >>> detector = IBDeepDescription(max_epochs=2, random_state=0).fit(X_train, y_train)
    >>> ax = plot_score_histograms(detector, X_test, y_test)
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['normal: 434', 'anomaly (-1): 714', 'threshold']
    """
    if y is None:
        raise ValueError("plot_score_histograms needs y, the labels that tell anomalies (-1) from normal samples")
    scores = detector.decision_function(X)
    check_consistent_length(scores, y)
    anomalous = is_anomaly(y)
    ax = _axes(ax)
    edges = np.histogram_bin_edges(scores, bins=bins)
    for mask, label in ((~anomalous, "normal"), (anomalous, "anomaly (-1)")):
        ax.hist(scores[mask], bins=edges, alpha=0.6, label=f"{label}: {mask.sum()}")
    ax.axvline(0.0, color="black", linestyle="--", label="threshold")
    ax.set(xlabel="decision_function", ylabel="samples")
    ax.legend()
    return ax


# History columns drawn by plot_training_curves, with their legend labels.
_CURVES = {
    "train_loss": "total",
    "train_compactness": "compactness",
    "train_separation": "separation",
    "train_anomaly": "known anomalies",
    "valid_loss": "validation total",
}


def plot_training_curves(detector, *, ax=None):
    """Training loss and its parts per epoch, from ``detector.net_.history``.

    Draws the total training loss, its compactness and separation parts (and
    the known-anomaly part when the training data had ``-1`` labels), and the
    validation loss when ``validation_fraction`` was set. The parts are
    unweighted, as in :class:`~ibdetect.losses.LossTerms`, so they do not add
    up to the total unless all weights are 1.

    Parameters
    ----------
    detector : IBDeepDescription or Pipeline
        A fitted detector, or a fitted pipeline that ends in one.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.
    """
    check_is_fitted(final_step(detector))
    ax = _axes(ax)
    history = final_step(detector).net_.history
    epochs = history[:, "epoch"]
    for key, label in _CURVES.items():
        if key in history[-1]:
            linestyle = "--" if key.startswith("valid") else "-"
            ax.plot(epochs, history[:, key], linestyle=linestyle, marker=".", label=label)
    ax.set(xlabel="epoch", ylabel="loss (mean per sample)")
    ax.legend()
    return ax


def _plot_projection(ax, points, y, title, centers=None):
    """Scatter points, and centres if given, on the points' first two principal components."""
    # A fixed seed keeps the randomised solver, picked for large inputs,
    # reproducible.
    pca = PCA(n_components=2, random_state=0).fit(points)
    _scatter_classes(ax, pca.transform(points), y)
    if centers is not None:
        projected = pca.transform(np.asarray(centers, dtype=pca.mean_.dtype))
        ax.scatter(projected[:, 0], projected[:, 1], zorder=3, **_CENTER_STYLE)
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    ax.legend(loc="best", fontsize="small")
    return ax


def _scatter_classes(ax, points, y):
    """One scatter per class in the axes' colour cycle, then the anomalies."""
    if y is None:
        ax.scatter(points[:, 0], points[:, 1], s=10, label="samples")
        return
    y = np.asarray(y)
    anomalous = is_anomaly(y)
    for label in np.unique(y[~anomalous]):
        members = ~anomalous & (y == label)
        ax.scatter(points[members, 0], points[members, 1], s=10, alpha=0.7, label=str(label))
    if anomalous.any():
        ax.scatter(points[anomalous, 0], points[anomalous, 1], s=14, alpha=0.7, **_ANOMALY_STYLE)


def plot_contributions(explanation, index=0, *, X=None, top=10, ax=None, title=None):
    """Bar chart of one row's largest contributions to its anomaly distance.

    The ``top`` features of largest absolute contribution are drawn largest
    first, red where they add to the distance and blue where they take from
    it; the remaining features are summed into one grey bar, so that all
    bars add up to the row's distance, ``-score_samples``.

    Parameters
    ----------
    explanation : sklearn.utils.Bunch
        What :meth:`~ibdetect.IBDeepDescription.explain` returns.
    index : int, default=0
        Row of the explanation to draw.
    X : array-like of shape (n_samples, n_features), default=None
        The rows that were explained, as given to ``explain`` (after any
        scaler of a pipeline). Given, each label adds the row's value and
        the value it was compared with, ``expected``, give or take its
        spread, ``expected_spread``, and on rows of features how likely the
        value came from another row, ``out_of_place``.
        None labels the bars with the feature names only.
    top : int, default=10
        Number of features drawn one by one.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.
    title : str, default=None
        Title of the axes; None gives the row's distance, its p-value when
        the detector was calibrated, and says when the row was compared as a
        whole with the mean normal row (``row_from_elsewhere``).

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}.")
    contributions = explanation.contributions[index]
    order = np.argsort(-np.abs(contributions), kind="stable")
    shown, rest = order[:top], order[top:]
    values = list(contributions[shown])
    colors = [_CONTRIBUTION_COLORS[value > 0] for value in values]
    labels = _feature_labels(explanation, index, X, shown)
    if len(rest):
        values.append(contributions[rest].sum())
        colors.append("0.6")
        labels.append(f"other {len(rest)} feature{'s' if len(rest) > 1 else ''}")
    ax = _axes(ax)
    ax.barh(np.arange(len(values)), values, color=colors, tick_label=labels)
    # The largest contribution on top, as read.
    ax.invert_yaxis()
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set(xlabel="contribution to the distance", title=_explanation_title(explanation, index, title))
    return ax


def plot_contribution_map(explanation, image_shape, index=0, *, X=None, ax=None, title=None):
    """Heat map of one row's contributions, laid out as the image the row is.

    The colours diverge from white at 0: red pixels add to the row's
    distance, blue ones take from it. The contributions of a pixel's
    channels are summed, so the map still adds up to the distance; a single
    channel, ``(1, height, width)``, is simply drawn.

    Parameters
    ----------
    explanation : sklearn.utils.Bunch
        What :meth:`~ibdetect.IBDeepDescription.explain` returns.
    image_shape : tuple of int
        ``(height, width)`` or ``(channels, height, width)``, for instance the
        detector's ``input_shape``; it must hold ``n_features`` values.
    index : int, default=0
        Row of the explanation to draw.
    X : array-like of shape (n_samples, n_features), default=None
        The rows that were explained, as given to ``explain``. Given, the
        outline of the row's image (where its channels' sum crosses half
        way from its darkest to its brightest value) is drawn over the map.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure. A colour bar is added
        beside it.
    title : str, default=None
        Title of the axes; None gives the row's distance, and its p-value
        when the detector was calibrated.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on; ``ax.images[0]`` holds the heat map.

    Raises
    ------
    TypeError
        If ``image_shape`` is not a sequence (a row's index in its place, say).
    ValueError
        If ``image_shape`` is not 2 or 3 sizes holding ``n_features`` values.
    """
    n_features = explanation.contributions.shape[1]
    heat = _as_image(explanation.contributions[index], image_shape, n_features)
    ax = _axes(ax)
    # Limits symmetric about 0 keep white at 0; an all-zero map needs some range.
    limit = np.abs(heat).max() or 1.0
    image = ax.imshow(heat, cmap=_CONTRIBUTION_CMAP, vmin=-limit, vmax=limit)
    ax.figure.colorbar(image, ax=ax, label="contribution")
    if X is not None:
        row = _as_image(_explained_rows(X, explanation)[index], image_shape, n_features)
        low, high = row.min(), row.max()
        # An outline needs some contrast, and contour a grid of at least 2x2.
        if high > low and min(row.shape) > 1:
            ax.contour(row, levels=[(low + high) / 2], colors="black", linewidths=1)
    ax.set(xticks=[], yticks=[], title=_explanation_title(explanation, index, title))
    return ax


def _explanation_title(explanation, index, title):
    """The given title, or the row's distance and p-value, and whether it was compared with the mean normal row."""
    if title is not None:
        return title
    text = f"row {index}: distance {explanation.distances[index]:.3g}"
    if explanation.pvalues is not None:
        text += f", p-value {explanation.pvalues[index]:.2g}"
    # Images have none; a Bunch put together by hand may lack it.
    from_elsewhere = explanation.get("row_from_elsewhere")
    if from_elsewhere is not None and from_elsewhere[index]:
        text += "\ncompared as a whole with the mean normal row"
    return text


def _feature_labels(explanation, index, X, features):
    """The names of ``features``, with the row's and the expected values and spreads if ``X`` is given."""
    names = [str(name) for name in np.asarray(explanation.feature_names)[features]]
    if X is None:
        return names
    row = _explained_rows(X, explanation)[index, features]
    expected, spread = explanation.expected[index, features], explanation.expected_spread[index, features]
    labels = [
        f"{name} = {value:.3g} (expected {usual:.3g} ± {sd:.2g}"
        for name, value, usual, sd in zip(names, row, expected, spread)
    ]
    # Images have none; a Bunch put together by hand may lack it.
    out_of_place = explanation.get("out_of_place")
    if out_of_place is not None:
        probabilities = out_of_place[index, features]
        labels = [f"{label}, {probability:.0%} out of place" for label, probability in zip(labels, probabilities)]
    return [f"{label})" for label in labels]


def _explained_rows(X, explanation):
    """``X`` as an array, checked to be the shape of the explanation's rows."""
    X = np.asarray(X, dtype=float)
    if X.shape != explanation.contributions.shape:
        raise ValueError(
            f"X must be the rows that were explained, of shape {explanation.contributions.shape}; got {X.shape}."
        )
    return X


def _as_image(row, image_shape, n_features):
    """A flat row as a (height, width) image, its channels summed."""
    if not isinstance(image_shape, (tuple, list, np.ndarray)):
        raise TypeError(
            "image_shape must be a tuple such as the detector's input_shape, before the row's index: "
            f"plot_contribution_map(explanation, detector.input_shape, index); got {image_shape!r}."
        )
    image_shape = tuple(image_shape)
    if len(image_shape) not in (2, 3) or np.prod(image_shape) != n_features:
        raise ValueError(
            "image_shape must be (height, width) or (channels, height, width) holding the "
            f"{n_features} features of a row; got {image_shape}."
        )
    image = np.reshape(row, image_shape)
    return image.sum(axis=0) if len(image_shape) == 3 else image
