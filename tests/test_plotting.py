import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sklearn.utils import Bunch  # noqa: E402

from ibdetect import IBDeepDescription  # noqa: E402
from ibdetect.plotting import (  # noqa: E402
    plot_contribution_map,
    plot_contributions,
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
    with pytest.raises(ImportError, match=r'pip install "ibdetect\[plot\]"'):
        plot_score_histograms(detector, X, y)
    with pytest.raises(ImportError, match=r'pip install "ibdetect\[plot\]"'):
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


def made_explanation(contributions, pvalues=None):
    """An explanation of the shape ``explain`` returns, with chosen numbers.

    Each reference row holds feature + 1 in its features, and the row's
    number times 10 added, so a label shows which value it read; each
    spread, 0.5 plus a tenth of the feature's number.
    """
    contributions = np.atleast_2d(np.asarray(contributions, dtype=float))
    n_samples, n_features = contributions.shape
    return Bunch(
        contributions=contributions,
        distances=contributions.sum(axis=1),
        nearest_class=np.zeros(n_samples, dtype=int),
        nearest_class_distance=np.ones(n_samples),
        expected=np.arange(1.0, n_features + 1) + 10 * np.arange(n_samples)[:, None],
        expected_spread=np.full((n_samples, n_features), 0.5) + np.arange(n_features) / 10,
        pvalues=None if pvalues is None else np.asarray(pvalues, dtype=float),
        feature_names=np.array([f"f{i}" for i in range(n_features)], dtype=object),
    )


# One row of six features: f3 then f1 (negative) weigh most, three small ones follow.
SIX = [0.5, -2.0, 0.1, 3.0, 0.2, -0.05]


def bars(ax):
    """Label -> (width, colour) of each bar, top to bottom."""
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    return {label: (bar.get_width(), matplotlib.colors.to_hex(bar.get_facecolor())) for label, bar in zip(labels, ax.patches)}


def test_contributions_draw_the_top_features_largest_first_and_sum_the_rest():
    ax = plot_contributions(made_explanation(SIX), top=3)
    drawn = bars(ax)
    assert list(drawn) == ["f3", "f1", "f0", "other 3 features"]
    widths = [width for width, _ in drawn.values()]
    np.testing.assert_allclose(widths, [3.0, -2.0, 0.5, 0.1 + 0.2 - 0.05])
    # All bars together make up the row's distance.
    assert np.isclose(sum(widths), sum(SIX))
    red, blue, grey = (matplotlib.colors.to_hex(c) for c in ("tab:red", "tab:blue", "0.6"))
    assert [colour for _, colour in drawn.values()] == [red, blue, red, grey]
    # The first bar sits on top.
    assert ax.yaxis_inverted()
    assert ax.get_xlabel() == "contribution to the distance"


def test_contributions_need_no_other_bar_when_all_features_are_shown():
    assert list(bars(plot_contributions(made_explanation(SIX), top=6))) == ["f3", "f1", "f0", "f4", "f2", "f5"]
    assert list(bars(plot_contributions(made_explanation(SIX), top=5)))[-1] == "other 1 feature"
    with pytest.raises(ValueError, match="top must be at least 1"):
        plot_contributions(made_explanation(SIX), top=0)


def test_contributions_draw_the_chosen_row():
    explanation = made_explanation([SIX, [0, 0, 0, 0, 0, 4.0]])
    drawn = bars(plot_contributions(explanation, 1, top=1))
    assert drawn["f5"][0] == 4.0
    assert drawn["other 5 features"][0] == 0.0


def test_contribution_labels_show_the_row_and_its_reference():
    X = [[7.0] * 6, [-0.5] * 6]
    explanation = made_explanation([SIX, SIX[::-1]])
    labels = list(bars(plot_contributions(explanation, X=X, top=2)))
    assert labels == ["f3 = 7 (expected 4 ± 0.8)", "f1 = 7 (expected 2 ± 0.6)", "other 4 features"]
    labels = list(bars(plot_contributions(explanation, 1, X=X, top=1)))
    assert labels[0] == "f2 = -0.5 (expected 13 ± 0.7)"
    # On rows of features, how likely each value came from another row.
    explanation.out_of_place = np.array([[0.1, 0.02, 0.3, 0.875, 0.0, 0.5]] * 2)
    labels = list(bars(plot_contributions(explanation, X=X, top=2)))
    assert labels[:2] == ["f3 = 7 (expected 4 ± 0.8, 88% out of place)", "f1 = 7 (expected 2 ± 0.6, 2% out of place)"]
    with pytest.raises(ValueError, match=r"shape \(2, 6\); got \(6,\)"):
        plot_contributions(explanation, X=X[0])


def test_titles_give_the_distance_and_the_pvalue():
    explanation = made_explanation([SIX, [1.0] * 6], pvalues=[0.5, 0.0123])
    assert plot_contributions(explanation, 1).get_title() == "row 1: distance 6, p-value 0.012"
    assert plot_contribution_map(explanation, (2, 3)).get_title() == "row 0: distance 1.75, p-value 0.5"
    assert plot_contributions(made_explanation(SIX)).get_title() == "row 0: distance 1.75"
    assert plot_contributions(explanation, title="wine 3").get_title() == "wine 3"
    # A row read as having come from elsewhere says it was compared with the mean normal row.
    explanation.row_from_elsewhere = np.array([False, True])
    assert plot_contributions(explanation, 0).get_title() == "row 0: distance 1.75, p-value 0.5"
    assert plot_contributions(explanation, 1).get_title() == (
        "row 1: distance 6, p-value 0.012\ncompared as a whole with the mean normal row"
    )


def test_contribution_map_is_the_row_reshaped_on_colours_centred_on_zero():
    ax = plot_contribution_map(made_explanation(SIX), (1, 2, 3))
    (image,) = ax.images
    np.testing.assert_array_equal(image.get_array(), np.reshape(SIX, (2, 3)))
    assert image.get_clim() == (-3.0, 3.0)
    assert image.get_cmap().name == "RdBu_r"
    # The colour bar's axes join the map's.
    assert len(ax.figure.axes) == 2
    assert not ax.collections


def test_contribution_map_sums_the_channels_of_a_pixel():
    contributions = np.arange(12.0) - 6
    ax = plot_contribution_map(made_explanation(contributions), (3, 2, 2))
    heat = ax.images[0].get_array()
    np.testing.assert_array_equal(heat, contributions.reshape(3, 2, 2).sum(axis=0))
    assert heat.sum() == contributions.sum()


def test_contribution_map_outlines_the_image():
    X = np.array([[0.0, 1, 0, 0, 1, 0]])
    ax = plot_contribution_map(made_explanation(SIX), (2, 3), X=X)
    assert ax.collections
    # A blank image has no outline to draw.
    assert not plot_contribution_map(made_explanation(SIX), (2, 3), X=np.zeros((1, 6))).collections


@pytest.mark.parametrize("image_shape", [(1, 8, 8), (6,), (1, 1, 2, 3)])
def test_contribution_map_rejects_a_shape_that_is_not_the_rows(image_shape):
    with pytest.raises(ValueError, match=r"holding the 6 features of a row; got"):
        plot_contribution_map(made_explanation(SIX), image_shape)


def test_a_row_index_in_place_of_the_image_shape_says_which_comes_first():
    # plot_contributions takes (explanation, index); the map needs the shape first.
    with pytest.raises(TypeError, match=r"plot_contribution_map\(explanation, detector.input_shape, index\)"):
        plot_contribution_map(made_explanation(SIX), 0)


def test_explanation_plots_of_a_fitted_detector(fitted_blobs):
    pytest.importorskip("captum")
    detector, (_, _, X_unseen) = fitted_blobs
    rows = X_unseen[:3]
    explanation = detector.explain(rows)
    fig, (bar_ax, map_ax) = plt.subplots(1, 2)
    assert plot_contributions(explanation, 2, X=rows, top=4, ax=bar_ax) is bar_ax
    drawn = bars(bar_ax)
    assert len(drawn) == 5
    assert np.isclose(sum(width for width, _ in drawn.values()), explanation.distances[2])
    top_feature = np.abs(explanation.contributions[2]).argmax()
    expected, spread = explanation.expected[2, top_feature], explanation.expected_spread[2, top_feature]
    out_of_place = explanation.out_of_place[2, top_feature]
    assert list(drawn)[0] == (
        f"x{top_feature} = {rows[2, top_feature]:.3g} (expected {expected:.3g} ± {spread:.2g}, "
        f"{out_of_place:.0%} out of place)"
    )
    assert plot_contribution_map(explanation, (2, 3), 2, X=rows, ax=map_ax) is map_ax
    np.testing.assert_allclose(map_ax.images[0].get_array().sum(), explanation.distances[2])
    assert len(plt.get_fignums()) == 1


def test_plots_that_cannot_be_drawn_say_why_before_drawing(detector, labelled):
    from sklearn.exceptions import NotFittedError

    X, y = labelled
    with pytest.raises(NotFittedError):
        plot_training_curves(IBDeepDescription())
    with pytest.raises(ValueError, match="needs y, the labels that tell anomalies"):
        plot_score_histograms(detector, X, None)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        plot_score_histograms(detector, X, y[:-1])
    assert not plt.get_fignums()
