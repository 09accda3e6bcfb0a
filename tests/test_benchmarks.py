import itertools
import json
import os

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
    # k-NN on raw pixels needs no training and tells unseen digits apart well;
    # a score of the wrong sign would put it near 0.
    knn = [r["roc_auc"] for r in report["records"] if r["method"] == "kNN (k=5)" and r["protocol"] == "multiclass"]
    assert knn and min(knn) > 0.9
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
    args = run.parse_args([])
    assert run._dataset_names(args, run.SUITES[args.suite]) == ["digits", "mnist"]


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


def test_designated_splits_draw_the_rows_of_fixed_classes_afresh(labels):
    splits = protocols.designated_splits(labels, [0, 3], n_splits=3, seed=0)
    assert len(splits) == 3
    for split in splits:
        check_split(split, labels, [0, 3])
    assert not np.array_equal(splits[0].train, splits[1].train)
# The tabular protocols, checked on scikit-learn's bundled tables so that no
# mlbench folder is needed.
@pytest.fixture(params=["wine", "iris", "breast_cancer"])
def table(request):
    from benchmarks import data

    return getattr(data, request.param)()


def known_classes(split, y):
    return set(np.unique(y[split.train]).tolist())


def check_no_overlap(split):
    assert not set(split.train.tolist()) & set(split.test.tolist()), "a row is both in training and test"


@pytest.mark.parametrize("protocol", ["multiclass", "oneclass"])
def test_table_splits_keep_unseen_classes_out_of_training(table, protocol):
    splits = protocols.table_splits(protocol, table.y, table.normal_classes, seed=0)
    for split in splits:
        check_no_overlap(split)
        known = known_classes(split, table.y)
        if table.normal_classes is not None:
            assert known <= set(table.normal_classes)
        check_split(split, table.y, sorted(known))


def test_table_multiclass_knows_six_tenths_of_the_classes(table):
    splits = protocols.table_splits("multiclass", table.y, table.normal_classes, seed=0)
    if table.normal_classes is not None and len(table.normal_classes) == 1:
        # A single normal class is the one-class protocol's business.
        assert splits == []
        return
    assert len(splits) == 5
    for split in splits:
        assert len(known_classes(split, table.y)) == round(0.6 * len(np.unique(table.y)))


def test_designated_normal_classes_are_the_known_ones():
    from benchmarks import data

    cancer = data.breast_cancer()
    splits = protocols.table_splits("oneclass", cancer.y, cancer.normal_classes, seed=0)
    assert len(splits) == 5
    assert all(known_classes(split, cancer.y) == {1} for split in splits)
    # Only the rows drawn differ.
    assert len({tuple(split.train) for split in splits}) == 5

    y = np.repeat(["a", "b", "c", "d", "e"], 40)
    splits = protocols.table_splits("multiclass", y, ("a", "c"), seed=0)
    assert all(known_classes(split, y) == {"a", "c"} for split in splits)


def test_contaminated_splits_hold_the_asked_fraction_of_anomalies(table):
    splits = protocols.table_splits("contaminated", table.y, table.normal_classes, seed=0)
    assert len(splits) == 5
    for split in splits:
        check_no_overlap(split)
        assert not split.labelled
        normal = [c for c in split.name.removeprefix("normal=").split(",rows=")[0].split(",")]
        is_anomaly = ~np.isin(table.y.astype(str), normal)
        np.testing.assert_array_equal(split.test_is_anomaly, is_anomaly[split.test])
        n_rows = len(split.train) + len(split.test)
        assert is_anomaly[np.concatenate([split.train, split.test])].sum() == pytest.approx(0.05 * n_rows, abs=1)
        # Stratified: training holds its share of the anomalies, about 5%.
        assert is_anomaly[split.train].mean() == pytest.approx(0.05, abs=0.01)
        assert len(split.train) == pytest.approx(0.6 * n_rows, abs=1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_smoke_run_on_a_bundled_table(tmp_path):
    run.main([
        "--suite", "tables", "--datasets", "wine", "--max-splits", "1", "--max-epochs", "1",
        "--methods", "kNN (k=5)", "MSP (MLPClassifier)", "ibdetect ib", "--output-dir", str(tmp_path),
    ])
    report = json.loads((tmp_path / "benchmarks_tabular.json").read_text())
    records = report["records"]
    assert {r["protocol"] for r in records} == {"multiclass", "oneclass", "contaminated"}
    # A classifier needs two known classes, and contaminated training withholds
    # the labels, so the classifier runs on the multi-class protocol only.
    assert {r["protocol"] for r in records if r["method"].startswith("MSP")} == {"multiclass"}
    # Standardised wine: k-NN tells the unseen cultivar apart well, so a
    # score of the wrong sign or unscaled features would show.
    knn = [r["roc_auc"] for r in records if r["method"] == "kNN (k=5)" and r["protocol"] == "multiclass"]
    assert knn and min(knn) > 0.9
    markdown = (tmp_path / "benchmarks_tabular.md").read_text()
    assert markdown == render_markdown(report)
    assert "## Contaminated training" in markdown and "| ibdetect ib |" in markdown


@pytest.fixture
def mlbench_folder():
    """mlbench's data folder, named by the MLBENCH_DATA environment variable."""
    folder = os.environ.get("MLBENCH_DATA")
    if not folder:
        pytest.skip("set MLBENCH_DATA to mlbench's data folder to test reading it")
    return folder


def test_mlbench_tables_load(mlbench_folder):
    from benchmarks import data

    shapes = {"satellite": (6435, 36), "vehicle": (846, 18), "vowel": (990, 9), "letter": (20000, 16),
              "soybean": (683, 35), "housevotes84": (435, 16)}
    for name, shape in shapes.items():
        table = data.mlbench(name, mlbench_folder)
        assert table.X.shape == shape and len(table.y) == shape[0] and table.is_table
        assert table.normal_classes is None or set(table.normal_classes) < set(table.y)
        assert table.has_categories == (name in ("soybean", "housevotes84"))
    # Soybean's levels are "0", "1", ...: they stay categories, not numbers.
    soybean = data.mlbench("soybean", mlbench_folder)
    assert all(dtype.name == "category" for dtype in soybean.X.dtypes) and soybean.X.isna().any().any()


def table_with_categories():
    """90 rows of three classes with categories, a number and gaps, as pyreadr reads R's factors."""
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    y = np.repeat(["a", "b", "c"], 30)
    # Each class has a category of its own, so an unseen class shows as an unseen category.
    kind = np.where(rng.rand(90) < 0.1, None, y)
    vote = rng.choice(["y", "n", None], 90, p=[0.45, 0.45, 0.1])
    # Levels that read as numbers, as Soybean's do.
    level = rng.choice(["0", "1"], 90)
    size = np.where(rng.rand(90) < 0.1, np.nan, rng.normal(size=90))
    X = pd.DataFrame({"kind": pd.Categorical(kind), "vote": pd.Categorical(vote),
                      "level": pd.Categorical(level), "size": size})
    return data.Dataset("categories", X, y)


def test_preparation_of_a_table_follows_its_columns():
    from sklearn.preprocessing import StandardScaler

    from ibdetect.preprocessing import make_preprocessor

    table = table_with_categories()
    rows = np.arange(0, 90, 2)
    X_train = table.rows(rows)
    assert table.has_categories and X_train.equals(table.X.iloc[rows])
    preparation = run.preparation(table, X_train)
    assert repr(preparation) == repr(make_preprocessor(X_train))
    # Only "size" is a number column; the levels "0" and "1" are categories.
    assert list(preparation.named_steps["cells"].numeric_columns) == [3]

    numbers = data.Dataset("numbers", np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6) % 2)
    assert not numbers.has_categories and not data.wine().has_categories
    np.testing.assert_array_equal(numbers.rows([1, 4]), numbers.X[[1, 4]])
    assert type(run.preparation(numbers, numbers.rows([1, 4]))) is StandardScaler


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_methods_fit_and_score_a_table_with_categories_and_gaps():
    from benchmarks.methods import METHODS

    methods = [m for m in METHODS if m.name in run.SUITES["tables"]["methods"] and m.available()]
    records = run.run([table_with_categories()], ["multiclass", "oneclass"], methods,
                      max_splits=1, max_epochs=1, log=lambda line: None)
    assert {r["method"] for r in records} == {m.name for m in methods}
    assert all(0 <= r["roc_auc"] <= 1 for r in records)
    # The unseen class's own category is flagged as unseen: k-NN finds it.
    knn = [r["roc_auc"] for r in records if r["method"] == "kNN (k=5)"]
    assert len(knn) == 2 and min(knn) > 0.85


def test_classes_too_small_to_be_normal_are_only_anomalies():
    y = np.repeat(["big", "large", "huge", "tiny"], [40, 30, 25, protocols.MIN_NORMAL_ROWS - 1])
    for protocol in ("multiclass", "oneclass", "contaminated"):
        splits = protocols.table_splits(protocol, y, seed=0)
        assert splits
        for split in splits:
            # Never named normal; only the contaminated protocol trains on
            # some of its rows, unlabelled, as anomalies.
            assert "tiny" not in split.name
            tested = y[split.test] == "tiny"
            assert split.test_is_anomaly[tested].all()
            if split.labelled:
                assert "tiny" not in y[split.train] and tested.sum() == (y == "tiny").sum()
    # Each of the three larger classes takes its turn as the normal one;
    # two of them (round(0.6 x 3)) are known in the multi-class protocol.
    assert [s.name for s in protocols.table_splits("oneclass", y)] == ["normal=big", "normal=huge", "normal=large"]
    assert all(len(known_classes(s, y)) == 2 for s in protocols.table_splits("multiclass", y))


def test_lever_wrappers_fit_and_rank(blobs):
    from ibdetect import IBDeepDescription

    from benchmarks import levers

    X, y, X_unseen = blobs
    small = IBDeepDescription(hidden_layer_sizes=(16,), embedding_dim=4, random_state=0)
    budget = levers.StepBudget(small, steps=6).fit(X, y)
    # 108 of the 120 rows train after the held-out tenth: one batch per epoch.
    assert budget.detector_.max_epochs == 6
    ensemble = levers.SeedEnsemble(small.set_params(max_epochs=2), n_members=2, random_state=3).fit(X, y)
    assert [m.random_state for m in ensemble.members_] == [6, 7]
    mixed = levers.InputKNNMix(small, weight=1.0).fit(X, y)
    refit = levers.InlierRefit(small.set_params(contamination=0.1)).fit(X, y)
    # The second fit trains on the 90% of the rows the first did not flag.
    assert len(refit.detector_.decision_scores_) == round(0.9 * len(X))
    density = levers.InputDensityMix(
        IBDeepDescription(hidden_layer_sizes=(16,), embedding_dim=4, anomaly_score="knn", max_epochs=2, random_state=0)
    ).fit(X, y)
    # Both ratios are over their training medians: a typical training row scores about -1.
    assert -1.5 < np.median(density.score_samples(X)) < -0.5
    for estimator in (budget, ensemble, mixed, refit, density):
        assert estimator.score_samples(X).mean() > estimator.score_samples(X_unseen).mean()


def test_peer_average_is_the_mean_of_the_peers_in_their_training_units(blobs):
    from benchmarks.methods import PeerAverage

    X, _, X_unseen = blobs
    average = PeerAverage(random_state=0).fit(X)
    # Recomputed from the fitted peers: each over its training median, in IQRs.
    units = []
    for peer in average.peers_:
        training, unseen = peer.score_samples(X), peer.score_samples(X_unseen)
        q1, median, q3 = np.percentile(training, [25, 50, 75])
        units.append((unseen - median) / (q3 - q1))
    np.testing.assert_allclose(average.score_samples(X_unseen), np.mean(units, axis=0))
    # A typical training row sits near 0 on every peer's scale.
    assert abs(np.median(average.score_samples(X))) < 0.5
    assert average.score_samples(X).mean() > average.score_samples(X_unseen).mean()
    # Rows each repeated 12 times: every training row's 5th neighbour is a copy
    # at distance 0, a spread of 0, and the 5-NN distance keeps a unit of 1.
    repeated = PeerAverage(random_state=0).fit(np.repeat(X[:10], 12, axis=0))
    assert repeated.spreads_[3] == 1.0
    assert np.isfinite(repeated.score_samples(X_unseen)).all()


def test_subsampled_neighbours_average_each_subsamples_nearest_row_in_its_units(blobs):
    from sklearn.neighbors import NearestNeighbors

    from benchmarks.levers import SubsampledNeighbours

    X, _, X_unseen = blobs
    lever = SubsampledNeighbours(n_subsamples=4, min_rows=30, max_rows=60, random_state=0).fit(X)
    assert all(30 <= len(search._fit_X) <= 60 for search, _ in lever.subsamples_)
    # Recomputed: the log distance to each subsample's nearest row, less its rows' median own.
    expected = []
    for search, _ in lever.subsamples_:
        rows = search._fit_X
        own = NearestNeighbors(n_neighbors=2).fit(rows).kneighbors(rows)[0][:, -1]
        expected.append(np.log(NearestNeighbors(n_neighbors=1).fit(rows).kneighbors(X_unseen)[0][:, 0])
                        - np.median(np.log(own)))
    np.testing.assert_allclose(lever.score_samples(X_unseen), -np.mean(expected, axis=0))
    assert lever.score_samples(X).mean() > lever.score_samples(X_unseen).mean()


def test_view_losses_are_the_separation_term_of_the_ib_loss(blobs):
    import torch

    from ibdetect import IBDeepDescription

    from benchmarks import levers

    X, _, _ = blobs
    detector = IBDeepDescription(
        hidden_layer_sizes=(16,), embedding_dim=4, transformations="affine", max_epochs=2, random_state=0
    ).fit(X)
    losses = levers.view_losses(detector, X)
    module = detector.net_.module_
    with torch.no_grad():
        embeddings, target = module.per_view(torch.as_tensor(detector.transform(X)), torch.zeros(len(X), dtype=torch.long))
        terms = detector.net_.criterion_(embeddings, target, module.centers)
    # The loss averages over every view of every row; view_losses sums a row's views.
    np.testing.assert_allclose(losses.mean() / module.n_views, terms.separation.item(), rtol=1e-4)
    small = IBDeepDescription(hidden_layer_sizes=(16,), embedding_dim=4, max_epochs=2, random_state=0)
    refit = levers.ViewOutlierRefit(small).fit(X)
    # The second fit, without views, trains on the 95% of the rows whose views rank best.
    assert refit.detector_.transformations_ == "none"
    assert len(refit.detector_.decision_scores_) == round(0.95 * len(X))


def test_speed_tables_run_on_small_data(capsys):
    from benchmarks import speed

    speed.training_table(300, epochs=1, repeats=1)
    speed.scoring_tables(300, 400, repeats=1)
    out = capsys.readouterr().out
    assert "hand-written loop" in out and "LocalOutlierFactor" in out and "Single-row latency" in out
    # 250 of the 300 rows as references, and all of them; 500 and 1,000 would keep all.
    for score in ("knn", "knn+input"):
        assert f'"{score}", 250 references' in out and f'"{score}", all 300 references' in out
    assert "500 references" not in out


def test_memory_probe_measures_a_fit_and_a_score():
    from benchmarks import speed

    result = speed.memory_probe(500, 1, {"anomaly_score": "distance"})
    assert result["X"] == 500 * speed.N_FEATURES * 4
    assert result["fit"] > 0 and result["score"] > 0 and result["numpy"] > 0


@pytest.mark.parametrize("argv, expected", [
    (["--mlbench", "/home/me/mlbench", "--jobs", "2"], ["--mlbench", "PATH/TO/mlbench/data", "--jobs", "2"]),
    (["--mnist=/data/mnist.npz"], ["--mnist=PATH/TO/mnist"]),
    (["--suite", "tables"], ["--suite", "tables"]),
])
def test_published_command_hides_data_folders(argv, expected):
    from benchmarks.run import _placeholder_paths

    assert _placeholder_paths(argv) == expected


@pytest.mark.parametrize("anomaly_score", ["knn", "knn+input"])
def test_reference_sizes_share_one_network_and_differ_in_the_reference(blobs, anomaly_score):
    from benchmarks.reference_size import ALL, detectors_by_size

    X, y, X_unseen = blobs
    params = {"anomaly_score": anomaly_score, "validation_fraction": None, "random_state": 0, "max_epochs": 3}
    detectors, n_normal = detectors_by_size(params, X, y, [30, 200, ALL])
    assert n_normal == len(X)
    # A size beyond the 120 samples keeps them all: the same fit serves it.
    assert detectors[200] is detectors[ALL]
    subset, everything = detectors[30], detectors[ALL]
    np.testing.assert_array_equal(subset.transform(X_unseen), everything.transform(X_unseen))
    # The 30 references are training samples, with the rank fit scales to their share.
    assert len(subset.reference_embeddings_) == 30 and subset.n_neighbors_ == 2
    assert len(everything.reference_embeddings_) == len(X) and everything.n_neighbors_ == 5
    drawn = (everything.reference_embeddings_[:, None] == subset.reference_embeddings_[None]).all(-1)
    assert drawn.any(0).all() and drawn.sum() == 30
    assert not np.allclose(subset.score_samples(X_unseen), everything.score_samples(X_unseen))


@pytest.mark.parametrize("anomaly_score", ["knn", "knn+density"])
def test_reference_sizes_are_what_fits_of_their_own_keep(blobs, anomaly_score):
    from benchmarks.reference_size import ALL, detectors_by_size
    from ibdetect import IBDeepDescription

    X, y, X_unseen = blobs
    params = {"anomaly_score": anomaly_score, "random_state": 3, "max_epochs": 3}
    detectors, _ = detectors_by_size(params, X, y, [30, ALL])
    own = IBDeepDescription(max_references=30, **params).fit(X, y)
    assert detectors[30].max_references == 30
    np.testing.assert_array_equal(detectors[30].reference_inputs_, own.reference_inputs_)
    np.testing.assert_allclose(detectors[30].score_samples(X_unseen), own.score_samples(X_unseen), rtol=1e-5)


def test_reference_size_averages_an_ood_splits_sources():
    from sklearn.metrics import roc_auc_score

    from benchmarks.ood import OODSplit
    from benchmarks.reference_size import roc_auc

    # Two normal rows, two anomalies of source a, one of source b.
    is_anomaly = np.array([False, False, True, True, True])
    settings = {"a": np.array([1, 1, 1, 1, 0], bool), "b": np.array([1, 1, 0, 0, 1], bool)}
    split = OODSplit("rows=0", np.arange(3), np.arange(5), is_anomaly, settings=settings)
    score = np.array([0.0, 2.0, 3.0, 4.0, 1.0])
    # Source a ranks perfectly, b half: their mean, not the pooled 5/6.
    assert roc_auc(split, score) == 0.75
    assert roc_auc_score(is_anomaly, score) == pytest.approx(5 / 6)


def test_reference_size_runs_the_ood_splits_of_images(monkeypatch):
    from benchmarks import reference_size

    digits = data.digits()
    rows = np.concatenate([np.flatnonzero(digits.y == digit)[:40] for digit in range(10)])
    small = data.Dataset("digits", digits.X[rows], digits.y[rows], digits.image_shape)
    monkeypatch.setattr(reference_size, "OOD", ("digits",))
    results = reference_size.reference_size_results(
        "digits", small, [20, reference_size.ALL], max_epochs=1, hidden_layer_sizes=(4, 8), embedding_dim=4
    )
    assert set(results) == {"multiclass", "ood"}
    aucs, _, n_normal = results["ood"]
    # Every digit trains: 60% of 400 images, less the held-out tenth.
    assert aucs.shape == (5, 2) and all(200 <= n <= 240 for n in n_normal)
    assert ((aucs > 0.5) & (aucs <= 1)).all()


def test_input_units_of_the_default_shrinkage_are_the_fits_own_and_of_one_raw_distances(blobs):
    from benchmarks.input_units import scores_by_shrinkage
    from benchmarks.reference_size import ALL, detectors_by_size
    from ibdetect._anomaly_score import mixed_neighbor_distances, neighbor_radii, typical_neighbor_distance

    X, y, X_unseen = blobs
    params = {"anomaly_score": "knn+density", "random_state": 0, "max_epochs": 3}
    detectors, n_normal = detectors_by_size(params, X, y, [ALL])
    detector = detectors[ALL]
    scores = scores_by_shrinkage(detector, n_normal, X_unseen, [0.75, 1.0])
    np.testing.assert_allclose(scores[0.75], -detector.score_samples(X_unseen), rtol=1e-6)
    # One unit for every feature: the ratios of raw squared distances.
    reference, rank = detector.reference_inputs_, detector.n_neighbors_
    radii = neighbor_radii(reference, rank)
    raw = mixed_neighbor_distances(
        (detector.transform(X_unseen), X_unseen), (detector.reference_embeddings_, reference),
        (detector.neighbor_scales_[0], typical_neighbor_distance(reference, rank, radii)), rank, radii=(None, radii),
    )
    np.testing.assert_allclose(scores[1.0], raw, rtol=1e-4)
    assert not np.allclose(scores[0.75], raw, rtol=1e-2)


def test_input_units_table_runs_every_image_protocol():
    from benchmarks.input_units import PROTOCOLS, input_units_results

    digits = data.digits()
    rows = np.concatenate([np.flatnonzero(digits.y == digit)[:20] for digit in range(10)])
    small = data.Dataset("digits", digits.X[rows], digits.y[rows], digits.image_shape)
    results = input_units_results(small, PROTOCOLS, [0.5, 1.0], max_epochs=1, hidden_layer_sizes=(4, 8), embedding_dim=4)
    assert {protocol: aucs.shape for protocol, aucs in results.items()} == {
        "multiclass": (5, 2), "oneclass": (10, 2), "ood": (5, 2),
    }
    assert all(((aucs > 0.3) & (aucs <= 1)).all() for aucs in results.values())


def test_reference_size_table_on_small_data(make_blobs):
    from benchmarks.reference_size import ALL, reference_size, reference_size_results

    assert [reference_size("250"), reference_size("all")] == [250, ALL]
    # Eight classes, six of them known in each multi-class split.
    X, y = make_blobs(8 * np.eye(8), 25)
    dataset = data.Dataset("blobs", X.astype(np.float32), y)
    sizes = [20, 1000, ALL]
    results = reference_size_results(
        "blobs", dataset, sizes, max_epochs=1, hidden_layer_sizes=(16,), embedding_dim=4
    )
    aucs, seconds, n_normal = results["multiclass"]
    assert aucs.shape == seconds.shape == (5, len(sizes))
    assert ((aucs >= 0) & (aucs <= 1)).all() and (seconds > 0).all()
    # 60% of six known classes of 25 train, less the held-out part.
    assert all(20 < n < 90 for n in n_normal)
    # 1,000 references keep every normal training sample, as "all" does.
    np.testing.assert_array_equal(aucs[:, 1], aucs[:, 2])


def test_model_selection_split_keeps_unseen_classes_out_of_tuning(labels):
    from benchmarks import model_selection

    X = np.arange(len(labels), dtype=float)[:, None]
    known = labels < 6
    X_tune, y_tune, X_test, y_test = model_selection.split(X, labels, known, seed=0)
    assert set(np.unique(y_tune)) == set(range(6))
    # Rows are identified by their one feature: none is in both parts, none is lost.
    tune_rows, test_rows = set(X_tune[:, 0]), set(X_test[:, 0])
    assert not tune_rows & test_rows and len(tune_rows | test_rows) == len(labels)
    np.testing.assert_array_equal(y_test == -1, ~known[X_test[:, 0].astype(int)])
    assert len(X_tune) == pytest.approx(0.6 * known.sum(), abs=1)


def test_model_selection_summary_counts_ties_apart(capsys):
    from benchmarks import model_selection

    def result(seed, search, test, picked):
        return {"data": "d", "seed": seed, "search": dict(zip(["svdd", "ib"], search)), "picked": picked,
                "tie": search[0] == search[1], "test": dict(zip(["svdd", "ib"], test))}

    model_selection.print_results([
        result(0, (0.9, 0.95), (0.8, 0.9), "ib"),
        result(1, (0.9, 0.9), (0.9, 0.8), "svdd"),
        result(2, (0.95, 0.9), (0.8, 0.9), "svdd"),
    ])
    out = capsys.readouterr().out
    assert "svdd (tie: first candidate)" in out
    assert "d: the search picked 'ib' at 1 of 3 seeds and tied at 1; 'ib' was better on the unseen classes at 2." in out


def test_extreme_values_digits_split_keeps_unseen_digits_out_of_training():
    from sklearn.datasets import load_digits

    from benchmarks.extreme_values import digits_split

    X_train, y_train, X_test, y_test = digits_split(0)
    y = load_digits().target
    assert set(y_train) == set(range(6)) and len(X_train) == len(y_train)
    # 40% of the known digits and every unseen one test, the unseen as -1.
    assert (y_test == -1).sum() == np.isin(y, range(6, 10)).sum()
    assert len(X_train) + len(X_test) == len(y) and len(X_test) == len(y_test)


def test_rows_with_views_run_only_when_named():
    from benchmarks.methods import METHODS

    # The detector with one setting changed: views, or a lever of the loss.
    variants = [m for m in METHODS if m.name.startswith("ibdetect ib, ")]
    views = [m for m in variants if m.name.split(", ")[1] in ("rotations", "rotations+flips", "affine")]
    assert {m.name for m in views} == {
        "ibdetect ib, rotations", "ibdetect ib, rotations+flips", "ibdetect ib, affine",
        "ibdetect ib, rotations, beta=16", "ibdetect ib, rotations, beta=16, cosine",
        "ibdetect ib, rotations, beta=16, batch 32, 35 epochs",
        "ibdetect ib, rotations, beta=16, CNN (8, 32)", "ibdetect ib, rotations, batch 32, CNN (8, 32)",
        *(f"ibdetect ib, rotations, beta=16, batch 32, {epochs} epochs, CNN (8, 32)" for epochs in (35, 50, 70)),
        "ibdetect ib, rotations, beta=16, batch 32, 35 epochs, CNN (16, 32)",
        *(f"ibdetect ib, rotations, {epochs} epochs, CNN (16, 32)" for epochs in (50, 100)),
        *(f"ibdetect ib, rotations, batch {batch}, {epochs} epochs, CNN (16, 32)"
          for batch, epochs in [(64, 50), (32, 35), (32, 50)]),
        *(f"ibdetect ib, rotations, batch {batch}, early stopping" for batch in (128, 32)),
    }
    for suite in run.SUITES.values():
        assert not set(suite["methods"]) & {m.name for m in variants}
    records = run.run(
        [data.digits()], ["oneclass"], views, max_splits=1, max_epochs=1, log=lambda line: None
    )
    assert [(r["method"], r["split"]) for r in records] == [(m.name, "normal=0") for m in views]
    # One epoch on views of the zeros already tells them from other digits.
    assert all(0.8 < record["roc_auc"] <= 1 for record in records)


@pytest.fixture(scope="module")
def small_digits():
    """Digits 0-3, 60 images each, as the image benchmark holds them."""
    full = data.digits()
    rows = np.concatenate([np.flatnonzero(full.y == digit)[:60] for digit in range(4)])
    return data.Dataset("digits", full.X[rows], full.y[rows], full.image_shape)


def test_streaming_scores_every_batch_and_the_single_fit(small_digits):
    from benchmarks import streaming

    split = protocols.multiclass_splits(small_digits.y, n_known=3, n_splits=1)[0]
    aucs, seconds = streaming.stream_results(small_digits, split, n_batches=3)
    assert aucs.shape == seconds.shape == (4,)
    assert (aucs > 0.5).all() and (seconds > 0).all()


def test_fdr_rates_are_shares(small_digits):
    from benchmarks import fdr

    split = protocols.multiclass_splits(small_digits.y, n_known=3, n_splits=1)[0]
    rates = fdr.flag_rates(small_digits, split, alpha=0.2)
    # Plain, adaptive Benjamini-Hochberg and p <= alpha: FDP and power of each; the smallest p-value.
    assert len(rates) == 7 and all(0 <= rate <= 1 for rate in rates)
    # p <= alpha flags every row plain Benjamini-Hochberg flags, and more.
    assert rates[5] >= rates[1]


def test_with_21_calibration_scores_only_the_adaptive_procedure_flags_simulated_rows():
    from benchmarks import fdr

    rates = fdr.simulated_rates(21, alpha=0.05, smoothing=False, n_batches=200)
    # No plain p-value is under 1/22 = 0.045, too coarse for the plain procedure
    # among 355 rows; the adaptive one runs at 0.05 over an estimate near 0.4.
    assert rates[0, 0] == 0
    assert 0 < rates[1, 0] <= 0.05 and rates[1, 1] > 0


def test_drift_counts_windows_of_both_streams(small_digits):
    from benchmarks import drift

    results, n_calibration = drift.flagged_windows(small_digits, n_known=3, window=20, seed=0)
    assert n_calibration > 0
    for false_alarms, n_same, flagged, n_shifted in results.values():
        assert 0 <= false_alarms <= n_same and 0 <= flagged <= n_shifted and n_same >= 1


# shap's colour maps call matplotlib functions it deprecates.
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_faithfulness_corrupts_within_the_data_and_scores_every_method():
    from benchmarks import faithfulness

    rng = np.random.RandomState(0)
    donors, donor_classes = rng.normal(size=(40, 6)), np.repeat([0, 1], 20)
    rows, row_classes = rng.normal(size=(10, 6)), np.zeros(10, int)
    corrupted, mask, sources = faithfulness.corrupt(rows, row_classes, donors, donor_classes, 2, rng)
    assert corrupted.shape == mask.shape == (10, 6) and (mask.sum(axis=1) == 2).all()
    np.testing.assert_array_equal(sources[:, 0], np.arange(10))
    np.testing.assert_array_equal(corrupted[~mask], rows[~mask])
    # Each row's two new values come from its donor, of the other class, and
    # each moved at least MIN_SHIFT standard deviations.
    for row, new, changed, donor in zip(rows, corrupted, mask, sources[:, 1]):
        assert (np.abs(new - row)[changed] >= faithfulness.MIN_SHIFT).all()
        assert donor_classes[donor] == 1 and (donors[donor, changed] == new[changed]).all()
    # A ranking that puts the changed features first recalls all of them.
    assert faithfulness.recall_at_k(mask.astype(float), mask) == 1.0

    # The IsolationForest peer is explained by shap, of the benchmark extra.
    pytest.importorskip("shap")
    wine = data.wine()
    split = protocols.table_splits("multiclass", wine.y, seed=0)[0]
    every = faithfulness.split_results(wine, split, ks=[1], n_rows=20, n_steps=None)
    # The unseen classes' rows: two shares of rows and the share read as from elsewhere.
    assert len(every["unseen"]) == 3 and all(0 <= share <= 1 for share in every["unseen"])
    results = every[1]
    assert set(results) == set(faithfulness.METHODS + faithfulness.OTHERS) | {"rows", "chance", faithfulness.ORACLE}
    assert 0 <= results[faithfulness.ORACLE] <= 1
    assert 0 < results["rows"] <= 20 and results["chance"] == pytest.approx(1 / wine.X.shape[1])
    assert all(0 <= results[name] <= 1 for name in faithfulness.METHODS + ("detection AUC",))
    # Fresh weights change the embedding's part of the explanation.
    assert -1 <= results["Spearman, emb."] < 0.9


@pytest.mark.parametrize("k", [1, 2])
def test_the_faithfulness_oracles_likelihoods_are_those_of_the_gaussian(k):
    from scipy.stats import multivariate_normal

    from benchmarks import faithfulness

    rng = np.random.RandomState(k)
    mean, factor = rng.normal(size=4), rng.normal(size=(4, 4))
    covariance = factor @ factor.T + np.eye(4)
    X = rng.normal(size=(5, 4))
    subsets = np.array(list(itertools.combinations(range(4), k)))
    marginals = faithfulness._log_marginals(X, mean, covariance, subsets)
    conditionals = faithfulness._log_conditionals(X, mean, covariance, subsets)
    whole = multivariate_normal(mean, covariance).logpdf(X)
    # Up to the constant that every set of k features shares: k/2 log(2 pi).
    constant = k / 2 * np.log(2 * np.pi)
    for s, subset in enumerate(subsets):
        rest = np.setdiff1d(np.arange(4), subset)
        marginal = multivariate_normal(mean[subset], covariance[np.ix_(subset, subset)]).logpdf(X[:, subset])
        of_rest = multivariate_normal(mean[rest], covariance[np.ix_(rest, rest)]).logpdf(X[:, rest])
        np.testing.assert_allclose(marginals[:, s] - constant, marginal)
        np.testing.assert_allclose(conditionals[:, s] - constant, whole - of_rest)


def test_the_faithfulness_oracle_finds_values_from_another_class():
    from benchmarks import faithfulness

    # Two classes whose first three features move in step, the second's
    # feature 1 in the opposite sense.
    rng = np.random.RandomState(0)
    first = rng.normal(size=(400, 1)) + np.hstack([0.1 * rng.normal(size=(400, 3)), rng.normal(size=(400, 1))])
    second = first * [1, -1, 1, 1]
    rows, classes = np.vstack([first, second]), np.repeat([0, 1], 400)
    gaussians = faithfulness.class_gaussians(rows, classes)
    # Rows of the first class with feature 1 taken from a row of the second:
    # each value is a likely one, but features 0 and 2 disagree with it.
    X = first[:50].copy()
    X[:, 1] = second[50:100, 1]
    far = np.abs(X[:, 1] - first[:50, 1]) > 1
    chosen = faithfulness.likeliest_sets(X, np.zeros(50), np.ones(50), gaussians, 1)
    assert (chosen.sum(axis=1) == 1).all()
    assert chosen[far, 1].mean() > 0.9


def test_faithfulness_pastes_a_square_patch_of_another_class_into_each_image():
    from benchmarks import faithfulness

    rng = np.random.RandomState(0)
    shape = (1, 6, 6)
    images, image_classes = rng.uniform(size=(20, 36)), np.zeros(20, int)
    # Donors of class 1 are flat grey: about half of their patches change
    # the pixels by less than MIN_PATCH_SHIFT and must be drawn again.
    donors = np.vstack([rng.uniform(size=(10, 36)), np.full((10, 36), 0.5), rng.uniform(size=(10, 36))])
    donor_classes = np.repeat([0, 1, 2], 10)
    corrupted, mask = faithfulness.corrupt_patches(images, image_classes, donors, donor_classes, 3, shape, rng)
    assert corrupted.shape == mask.shape == (20, 36)
    np.testing.assert_array_equal(corrupted[~mask], images[~mask])
    for image, new, changed in zip(images, corrupted, mask):
        # One 3x3 square, as a donor of another class has it there.
        rows, columns = np.nonzero(changed.reshape(6, 6))
        assert changed.sum() == 9 and np.ptp(rows) == np.ptp(columns) == 2
        assert (donors[donor_classes != 0][:, changed] == new[changed]).all(axis=1).any()
        assert np.abs(new - image)[changed].mean() >= faithfulness.MIN_PATCH_SHIFT
    with pytest.raises(ValueError, match="does not fit"):
        faithfulness.corrupt_patches(images, None, donors, None, 7, shape, rng)


# shap's colour maps call matplotlib functions it deprecates.
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_faithfulness_explains_images_with_the_cnn_on_raw_pixels():
    from benchmarks import faithfulness

    pytest.importorskip("shap")
    digits = data.digits()
    few = data.Dataset("digits", digits.X[:300], digits.y[:300], digits.image_shape)
    split = protocols.multiclass_splits(few.y, seed=0)[0]
    results = faithfulness.split_results(few, split, ks=[2], n_rows=10, n_steps=None)[2]
    assert 0 < results["rows"] <= 10 and results["chance"] == pytest.approx(4 / 64)
    assert all(0 <= results[name] <= 1 for name in faithfulness.METHODS + ("detection AUC",))


def test_the_benchmarks_epoch_override_reaches_a_wrapped_detector():
    from benchmarks.methods import METHODS, Method

    density = next(method for method in METHODS if method.name == "ibdetect ib, knn+LOF")
    built = []

    def build(dataset, seed):
        built.append(density.build(dataset, seed))
        return built[-1]

    images = data.digits()
    split = protocols.multiclass_splits(images.y, n_splits=1)[0]
    [record] = run.evaluate(Method("wrapped", build, uses_labels=True), images, split, 0, max_epochs=2)
    assert len(built[0].detector_.net_.history) == 2 and 0 <= record["roc_auc"] <= 1


@pytest.mark.parametrize("image", [False, True])
def test_hypersphere_lever_trains_embeddings_on_the_sphere(small_digits, image):
    from benchmarks.methods import METHODS
    from ibdetect.encoders import CNNEncoder, MLPEncoder

    dataset = small_digits if image else data.Dataset("rows", small_digits.X, small_digits.y)
    method = next(m for m in METHODS if m.name == "ibdetect ib, hypersphere")
    detector = method.build(dataset, 0).set_params(max_epochs=2).fit(dataset.X, dataset.y)
    # The default encoder of the data, so that precision="auto" treats it alike.
    assert isinstance(detector.net_.module_.encoder, CNNEncoder if image else MLPEncoder)
    # Radius sqrt(5): squared distances between points of the sphere span
    # [0, 20], the range of cosine logits at temperature 0.1, 20 wide.
    norms = np.linalg.norm(detector.net_.embed(dataset.X[:20]), axis=1)
    np.testing.assert_allclose(norms, np.sqrt(5), rtol=1e-5)


def test_view_scoring_times_every_detector_against_the_centre_distance(capsys):
    from benchmarks import view_scoring

    view_scoring.main(["--rows", "300", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "decision_function on 300 MNIST rows, median of 1:" in out
    for name in view_scoring.DETECTORS:
        assert name in out
    # The centre distance is its own unit.
    assert "1.00 x the centre distance" in out.splitlines()[-1]


def test_view_units_unit_views_whitened_are_the_detectors_own_scores_and_the_others_differ():
    from benchmarks.view_units import UNITS, scores_by_units, view_units_results
    from ibdetect import IBDeepDescription

    digits = data.digits()
    rows = np.concatenate([np.flatnonzero(digits.y == digit)[:30] for digit in range(3)])
    normal = rows[digits.y[rows] == 0]
    detector = IBDeepDescription(
        input_shape=digits.image_shape, max_epochs=2, hidden_layer_sizes=(4, 8), embedding_dim=4, random_state=0
    ).fit(digits.X[normal])
    assert detector.transformations_ == "rotations"
    scores = scores_by_units(detector, digits.X[rows])
    assert list(scores) == list(UNITS)
    own = scores["unit views, whitened"]
    np.testing.assert_allclose(own, -detector.score_samples(digits.X[rows]), rtol=1e-4)
    for units in UNITS[:-1]:
        assert not np.allclose(scores[units], own, rtol=1e-2)

    small = data.Dataset("digits", digits.X[rows], digits.y[rows], digits.image_shape)
    aucs, seconds = view_units_results(small, max_epochs=1, hidden_layer_sizes=(4, 8), embedding_dim=4)
    assert aucs.shape == (3, len(UNITS)) and seconds.shape == (3,)
    assert ((aucs > 0.3) & (aucs <= 1)).all() and (seconds > 0).all()


def test_precision_fits_each_split_in_both_precisions(capsys):
    from benchmarks import precision

    records = precision.main(["--quick", "--oneclass", "3", "--multiclass", "1"])
    assert [record["protocol"] for record in records] == ["oneclass", "multiclass"]
    for record in records:
        for name in precision.PRECISIONS:
            assert record[f"{name} fit"] > 0 and 0.5 < record[f"{name} auc"] <= 1
    # The precision reaches training: bfloat16's forward passes round differently.
    assert any(record["float32 auc"] != record["bfloat16 auc"] for record in records)
    lines = capsys.readouterr().out.splitlines()
    assert "native bfloat16:" in lines[0] and lines[-1].startswith("multiclass")
