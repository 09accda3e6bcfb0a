import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from benchmarks import data, ood, run
from benchmarks.methods import METHODS, Method
from benchmarks.report import render_markdown


@pytest.fixture(scope="module")
def digits():
    return data.digits()


@pytest.fixture(scope="module")
def small_digits(digits):
    """40 images of each digit, as the image benchmark holds them."""
    rows = np.concatenate([np.flatnonzero(digits.y == digit)[:40] for digit in range(10)])
    return data.Dataset("digits", digits.X[rows], digits.y[rows], digits.image_shape)


@pytest.mark.parametrize("source", ood.SOURCES)
def test_ood_images_are_on_the_data_sets_scale(digits, source):
    images = ood.ood_images(digits, source, 50, seed=3)
    assert images.shape == (50, 64) and images.dtype == np.float32
    # Each image spans the data set's range and has its mean intensity, so
    # neither tells the sources apart.
    assert images.min() == digits.X.min() and images.max() == digits.X.max()
    np.testing.assert_allclose(images.mean(axis=1), digits.X.mean(), atol=0.01)
    assert np.allclose(images.min(axis=1), 0) and np.allclose(images.max(axis=1), 1)


def test_ood_images_depend_on_the_seed_alone(digits):
    for source in ood.SOURCES:
        first = ood.ood_images(digits, source, 20, seed=(0, 1, 2))
        np.testing.assert_array_equal(first, ood.ood_images(digits, source, 20, seed=(0, 1, 2)))
        assert not np.array_equal(first, ood.ood_images(digits, source, 20, seed=(0, 1, 3)))
        # Twenty distinct images, not one repeated.
        assert len(np.unique(first, axis=0)) == 20


def test_ood_images_take_mnists_size():
    mnist = data.Dataset("mnist", np.linspace(0, 1, 10 * 784, dtype=np.float32).reshape(10, 784) ** 4,
                         np.arange(10), (1, 28, 28))
    for source in ood.SOURCES:
        images = ood.ood_images(mnist, source, 5, seed=0)
        assert images.shape == (5, 784)
        np.testing.assert_allclose(images.mean(axis=1), mnist.X.mean(), atol=0.01)


def test_ood_images_need_grey_images():
    with pytest.raises(ValueError, match="grey images"):
        ood.ood_images(data.wine(), "uniform", 5, seed=0)


def test_splits_train_on_own_rows_and_test_each_source(small_digits):
    rows = run.protocol_dataset("ood", small_digits, seed=0)
    n_own, n = len(small_digits.y), ood.n_per_source(small_digits)
    assert n == 160
    np.testing.assert_array_equal(rows.X[:n_own], small_digits.X)
    assert len(rows.X) == n_own + ood.N_SPLITS * len(ood.SOURCES) * n
    splits = run.build_splits("ood", rows, seed=0)
    # One split per draw, which holds every source as a setting of its own.
    assert [(setting, split.name) for setting, split in splits] == [("", f"rows={i}") for i in range(ood.N_SPLITS)]
    for i, (_, split) in enumerate(splits):
        assert (split.train < n_own).all() and split.labelled
        assert set(np.unique(rows.y[split.train])) == set(range(10))
        assert len(split.train) == pytest.approx(0.6 * n_own, abs=1)
        assert not set(split.train.tolist()) & set(split.test.tolist())
        # The anomalies are exactly the images of this split's draw.
        np.testing.assert_array_equal(split.test_is_anomaly, split.test >= n_own)
        assert (rows.draw[split.test[split.test_is_anomaly]] == i).all()
        assert split.test_is_anomaly.sum() == len(ood.SOURCES) * n == len(ood.SOURCES) * (~split.test_is_anomaly).sum()
        assert list(split.settings) == list(ood.SOURCES)
        for source, in_setting in split.settings.items():
            # Each source's metrics count the own test rows and its images.
            own = ~split.test_is_anomaly
            assert (in_setting[own]).all() and in_setting[~own].sum() == n
            assert (rows.source[split.test[in_setting & ~own]] == source).all()
    assert not np.array_equal(splits[0][1].train, splits[1][1].train)


def test_splits_need_the_rows_of_other_sources(small_digits):
    with pytest.raises(TypeError, match="with_ood_rows"):
        run.build_splits("ood", small_digits, seed=0)


def test_ood_run_reports_every_source(small_digits):
    methods = [m for m in METHODS if m.name in ("IsolationForest", "kNN (k=5)")]
    records = run.run([small_digits], ["ood"], methods, max_splits=1, log=lambda line: None)
    assert [(r["method"], r["setting"], r["split"]) for r in records] == [
        (m.name, source, "rows=0") for m in methods for source in ood.SOURCES
    ]
    # k-NN on raw pixels tells noise from digits; a score of the wrong sign
    # would put it near 0.
    knn = {r["setting"]: r["roc_auc"] for r in records if r["method"] == "kNN (k=5)"}
    assert knn["gaussian"] > 0.9 and knn["uniform"] > 0.9
    markdown = render_markdown({"suite": "images", "versions": {}, "date": "", "machine": "", "python": "",
                                "command": "", "records": records})
    assert "### Out-of-distribution" in markdown
    assert "| method | patches | gaussian | uniform | blobs | mean |" in markdown
    mean = np.mean([r["roc_auc"] for r in records if r["method"] == "kNN (k=5)"])
    assert f"| kNN (k=5) | {knn['patches']:.3f} ± 0.000 |" in markdown and f"{mean:.3f} ± 0.000 |" in markdown


class _ByPixels:
    """A fake detector whose score of a row is an arbitrary function of its
    pixels, so that each source's ROC AUC tells which rows it was computed on."""

    def __init__(self, fits):
        self.fits = fits

    def fit(self, X, y=None):
        self.fits.append(len(X))
        return self

    def score_samples(self, X):
        return np.sin(X @ np.linspace(-3, 5, X.shape[1]))


def test_ood_run_fits_once_per_split_and_scores_each_source_on_its_rows(small_digits):
    fits = []
    method = Method("by pixels", lambda dataset, seed: _ByPixels(fits))
    records = run.run([small_digits], ["ood"], [method], max_splits=2, log=lambda line: None)
    # One fit per draw, not one per source and draw.
    assert len(fits) == 2
    assert [(r["split"], r["setting"]) for r in records] == [
        (f"rows={i}", source) for i in range(2) for source in ood.SOURCES
    ]
    rows = run.protocol_dataset("ood", small_digits, seed=0)
    splits = run.build_splits("ood", rows, seed=0)
    for record in records:
        draw = int(record["split"].removeprefix("rows="))
        split = splits[draw][1]
        own = split.test[~split.test_is_anomaly]
        anomalies = np.flatnonzero((rows.source == record["setting"]) & (rows.draw == draw))
        anomaly_score = -_ByPixels(fits).score_samples(rows.X[np.concatenate([own, anomalies])])
        is_anomaly = np.repeat([False, True], [len(own), len(anomalies)])
        assert record["roc_auc"] == pytest.approx(roc_auc_score(is_anomaly, anomaly_score))
        assert record["average_precision"] == pytest.approx(average_precision_score(is_anomaly, anomaly_score))
    # Arbitrary scores give each source a ROC AUC of its own, which rows
    # pooled over the sources would not.
    assert len({round(r["roc_auc"], 6) for r in records}) == len(records)
