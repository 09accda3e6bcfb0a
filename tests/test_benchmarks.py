import json

import numpy as np
import pytest

from benchmarks import data, protocols, run
from benchmarks.report import render_markdown


@pytest.fixture
def labels():
    # 10 classes of uneven sizes, as in real data sets.
    rng = np.random.RandomState(0)
    return rng.permutation(np.concatenate([np.full(40 + 3 * k, k) for k in range(10)]))


def check_split(split, y, known):
    train, test = set(split.train.tolist()), set(split.test.tolist())
    assert not train & test, "a sample is both in training and test"
    assert set(np.unique(y[split.train])) == set(known), "an unseen class leaked into training"
    np.testing.assert_array_equal(split.test_is_anomaly, ~np.isin(y[split.test], known))
    # Every sample of an unseen class is tested.
    unseen = np.flatnonzero(~np.isin(y, known))
    assert set(unseen.tolist()) <= test


def test_multiclass_splits(labels):
    splits = protocols.multiclass_splits(labels, n_known=6, n_splits=5, seed=0)
    assert len(splits) == 5 and len({s.name for s in splits}) == 5
    for split in splits:
        known = [int(k) for k in split.name.removeprefix("known=").split(",")]
        assert len(known) == 6
        check_split(split, labels, known)
        n_known = np.isin(labels, known).sum()
        assert len(split.train) == pytest.approx(0.6 * n_known, abs=1)
        assert len(split.train) + (~split.test_is_anomaly).sum() == n_known


def test_oneclass_splits(labels):
    splits = protocols.oneclass_splits(labels, seed=0)
    assert [s.name for s in splits] == [f"normal={k}" for k in range(10)]
    for k, split in enumerate(splits):
        check_split(split, labels, [k])


@pytest.mark.parametrize("n", [5, 20])
def test_fewshot_splits_keep_the_multiclass_test_sets(labels, n):
    full = protocols.multiclass_splits(labels, seed=3)
    few = protocols.fewshot_splits(labels, n, seed=3)
    for split, reference in zip(few, full):
        assert set(split.train.tolist()) <= set(reference.train.tolist())
        np.testing.assert_array_equal(split.test, reference.test)
        assert np.all(np.bincount(labels[split.train])[np.unique(labels[split.train])] == n)


def test_splits_are_reproducible(labels):
    first = protocols.multiclass_splits(labels, seed=1)
    again = protocols.multiclass_splits(labels, seed=1)
    other = protocols.multiclass_splits(labels, seed=2)
    assert [s.name for s in first] == [s.name for s in again]
    assert all(np.array_equal(a.train, b.train) for a, b in zip(first, again))
    assert [s.name for s in first] != [s.name for s in other]


# The softmax-classifier peer runs with scikit-learn's defaults, as a user
# would call it, and does not converge on the tiny smoke data.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_smoke_run_writes_tables(tmp_path, capsys):
    run.main([
        "--datasets", "digits", "--max-splits", "1", "--max-epochs", "1",
        "--methods", "IsolationForest", "kNN (k=5)", "MSP (MLPClassifier)", "ibdetect ib",
        "--output-dir", str(tmp_path),
    ])
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    methods = {r["method"] for r in report["records"]}
    assert methods == {"IsolationForest", "kNN (k=5)", "MSP (MLPClassifier)", "ibdetect ib"}
    # MSP needs two known classes, so it sits out the one-class protocol.
    assert {r["protocol"] for r in report["records"] if r["method"].startswith("MSP")} == {"multiclass", "fewshot"}
    assert all(0 <= r["roc_auc"] <= 1 for r in report["records"])
    markdown = (tmp_path / "benchmarks.md").read_text()
    assert markdown == render_markdown(report)
    assert "### Few-shot" in markdown and "| ibdetect ib |" in markdown
    assert "python -m benchmarks.run --datasets digits" in markdown
    assert markdown in capsys.readouterr().out


def test_parallel_run_gives_the_same_records():
    from benchmarks.methods import METHODS

    methods = [m for m in METHODS if m.name in ("IsolationForest", "kNN (k=5)")]
    kwargs = {"max_splits": 2, "log": lambda line: None}
    sequential = run.run([data.digits()], ["multiclass"], methods, **kwargs)
    parallel = run.run([data.digits()], ["multiclass"], methods, jobs=2, **kwargs)
    key = lambda r: (r["method"], r["split"])  # noqa: E731
    assert [(key(r), r["roc_auc"]) for r in sequential] == [(key(r), r["roc_auc"]) for r in parallel]


def test_mnist_defaults_to_the_shipped_sample():
    mnist = data.mnist()
    assert mnist.X.shape == (10000, 784) and mnist.X.dtype == np.float32
    assert mnist.X.min() == 0 and mnist.X.max() == 1
    assert mnist.image_shape == (1, 28, 28)
    assert np.bincount(mnist.y).min() > 800
    assert run.parse_args([]).datasets == ["digits", "mnist"]


def test_mnist_option_reads_a_users_file(tmp_path):
    images = np.arange(12 * 5 * 5, dtype=np.uint8).reshape(12, 5, 5)
    path = tmp_path / "mine.npz"
    np.savez(path, X=images, y=np.arange(12) % 3)
    mnist = data.mnist(path)
    np.testing.assert_allclose(mnist.X, images.reshape(12, 25) / 255, rtol=1e-6)
    assert mnist.image_shape == (1, 5, 5)
    np.testing.assert_array_equal(mnist.y, np.arange(12) % 3)


def test_smoke_run_on_the_mnist_of_a_given_file(tmp_path):
    sample = data.mnist()
    # 30 images of each digit keep the run short.
    rows = np.concatenate([np.flatnonzero(sample.y == digit)[:30] for digit in range(10)])
    path = tmp_path / "small.npz"
    images = np.round(sample.X[rows] * 255).astype(np.uint8).reshape(-1, 28, 28)
    np.savez(path, X=images, y=sample.y[rows])
    run.main([
        "--mnist", str(path), "--datasets", "mnist", "--protocols", "multiclass", "--max-splits", "1",
        "--methods", "IsolationForest", "--output-dir", str(tmp_path),
    ])
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    assert [(r["dataset"], r["method"]) for r in report["records"]] == [("mnist", "IsolationForest")]
    assert report["command"].startswith("python -m benchmarks.run --mnist")


def test_speed_tables_run_on_small_data(capsys):
    from benchmarks import speed

    speed.training_table(300, epochs=1, repeats=1)
    speed.scoring_tables(300, 400, repeats=1)
    out = capsys.readouterr().out
    assert "hand-written loop" in out and "LocalOutlierFactor" in out and "Single-row latency" in out


def test_memory_probe_measures_a_fit_and_a_score():
    from benchmarks import speed

    result = speed.memory_probe(500, 1, {"anomaly_score": "distance"})
    assert result["X"] == 500 * speed.N_FEATURES * 4
    assert result["fit"] > 0 and result["score"] > 0 and result["numpy"] > 0
