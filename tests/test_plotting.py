import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ibdetect import IBDeepDescription  # noqa: E402
from ibdetect.plotting import (  # noqa: E402
    plot_embedding,
    plot_embedding_comparison,
    plot_feature_projection,
    plot_score_histograms,
    plot_training_curves,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def labelled(blobs):
    """Three known classes of 40 samples and 30 anomalies labelled -1."""
    X, y, X_unseen = blobs
    return np.vstack([X, X_unseen]), np.r_[y, -np.ones(len(X_unseen), dtype=int)]


@pytest.fixture
def detector(blobs, fast):
    X, y, _ = blobs
    return IBDeepDescription(validation_fraction=None, **fast).fit(X, y)


def scatter_sizes(ax):
    """Legend label -> number of points of each scatter on the axes."""
    return {c.get_label(): len(c.get_offsets()) for c in ax.collections}


def legend_labels(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_embedding_draws_each_class_the_anomalies_and_the_centres(detector, labelled):
    X, y = labelled
    ax = plot_embedding(detector, X, y)
    assert scatter_sizes(ax) == {"0": 40, "1": 40, "2": 40, "anomaly (-1)": 30, "centres": 3}
    assert legend_labels(ax) == ["0", "1", "2", "anomaly (-1)", "centres"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("PC 1", "PC 2", "Learned embedding")


def test_embedding_centres_sit_among_their_class(detector, labelled):
    X, y = labelled
    ax = plot_embedding(detector, X, y)
    points = {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections}
    centres = points["centres"]
    for index, label in enumerate(["0", "1", "2"]):
        # Each centre is nearer to its own class's mean than to any other's.
        means = np.array([points[other].mean(axis=0) for other in ["0", "1", "2"]])
        assert np.linalg.norm(means - centres[index], axis=1).argmin() == index


def test_feature_projection_is_on_principal_components(labelled):
    X, _ = labelled
    ax = plot_feature_projection(X)
    (collection,) = ax.collections
    points = np.asarray(collection.get_offsets())
    assert points.shape == (len(X), 2)
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=1e-9)
    # The first component carries the most variance, and the two are uncorrelated.
    assert points[:, 0].var() >= points[:, 1].var() > 0
    assert abs(np.corrcoef(points.T)[0, 1]) < 1e-6
    assert ax.get_title() == "Raw features"


def test_string_labels_with_anomalies(labelled):
    X, y = labelled
    names = np.array(["ant", "bee", "cat", -1], dtype=object)[y]
    ax = plot_feature_projection(X, names)
    assert scatter_sizes(ax) == {"ant": 40, "bee": 40, "cat": 40, "anomaly (-1)": 30}


def test_comparison_puts_both_projections_in_one_figure(detector, labelled):
    X, y = labelled
    fig = plot_embedding_comparison(detector, X, y)
    raw_ax, embedding_ax = fig.axes
    assert raw_ax.get_title() == "Raw features"
    assert embedding_ax.get_title() == "Learned embedding"
    assert sum(scatter_sizes(raw_ax).values()) == len(X)
    assert scatter_sizes(embedding_ax)["centres"] == 3


def test_score_histograms_count_every_sample_and_mark_the_threshold(detector, labelled):
    X, y = labelled
    ax = plot_score_histograms(detector, X, y, bins=12)
    assert len(ax.patches) == 2 * 12
    normal_bars, anomaly_bars = ax.patches[:12], ax.patches[12:]
    assert sum(bar.get_height() for bar in normal_bars) == 120
    assert sum(bar.get_height() for bar in anomaly_bars) == 30
    (threshold,) = ax.lines
    assert threshold.get_xdata()[0] == 0.0
    assert legend_labels(ax) == ["normal: 120", "anomaly (-1): 30", "threshold"]
    assert ax.get_xlabel() == "decision_function"


def test_score_histograms_put_anomalies_left_of_normal_samples(detector, labelled):
    X, y = labelled
    ax = plot_score_histograms(detector, X, y, bins=12)

    def mean_position(bars):
        heights = np.array([bar.get_height() for bar in bars])
        centres = np.array([bar.get_x() + bar.get_width() / 2 for bar in bars])
        return (heights * centres).sum() / heights.sum()

    assert mean_position(ax.patches[12:]) < 0 < mean_position(ax.patches[:12])


def curves(ax):
    return {line.get_label(): np.asarray(line.get_ydata()) for line in ax.lines}


def test_training_curves_follow_the_history(detector, fast):
    ax = plot_training_curves(detector)
    drawn = curves(ax)
    assert list(drawn) == ["total", "compactness", "separation"]
    history = detector.net_.history
    np.testing.assert_array_equal(drawn["total"], history[:, "train_loss"])
    np.testing.assert_array_equal(drawn["separation"], history[:, "train_separation"])
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(1, fast["max_epochs"] + 1))
    assert ax.get_xlabel() == "epoch"


def test_training_curves_add_validation_and_anomaly_parts(labelled, fast):
    X, y = labelled
    detector = IBDeepDescription(**fast, validation_fraction=0.25).fit(X, y)
    drawn = curves(plot_training_curves(detector))
    assert list(drawn) == ["total", "compactness", "separation", "known anomalies", "validation total"]
    np.testing.assert_array_equal(drawn["validation total"], detector.net_.history[:, "valid_loss"])


def test_given_axes_are_drawn_on_and_returned(detector, labelled):
    X, y = labelled
    fig, axes = plt.subplots(1, 3)
    assert plot_embedding(detector, X, y, ax=axes[0]) is axes[0]
    assert plot_score_histograms(detector, X, y, ax=axes[1]) is axes[1]
    assert plot_training_curves(detector, ax=axes[2]) is axes[2]
    assert len(plt.get_fignums()) == 1


def test_missing_matplotlib_names_the_extra(monkeypatch, detector, labelled):
    X, y = labelled
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install ibdetect\[plot\]"):
        plot_score_histograms(detector, X, y)
    with pytest.raises(ImportError, match=r"pip install ibdetect\[plot\]"):
        plot_embedding_comparison(detector, X, y)


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, ibdetect.plotting; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_plots_accept_a_pipeline_ending_in_the_detector(blobs, fast):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, X_unseen = blobs
    pipeline = make_pipeline(StandardScaler(), IBDeepDescription(**fast)).fit(X, y)
    ax = plot_embedding(pipeline, X, y)
    # The embedding of the scaled rows, as the pipeline computes it.
    by_hand = plot_embedding(pipeline[-1], pipeline[0].transform(X), y)
    for drawn, expected in zip(ax.collections, by_hand.collections):
        np.testing.assert_array_equal(drawn.get_offsets(), expected.get_offsets())
    assert scatter_sizes(ax) == {"0": 40, "1": 40, "2": 40, "centres": 3}
    ax = plot_training_curves(pipeline)
    assert len(ax.lines[0].get_xdata()) == fast["max_epochs"]
    plot_score_histograms(pipeline, np.vstack([X, X_unseen]), np.r_[y, -np.ones(len(X_unseen))])
