"""Large data and parallel work: memmaps without copies, bounded memory, torch threads."""

import io
import os
import pickle
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedKFold, cross_validate
from torch import nn

from ibdetect import IBDeepDescription
from ibdetect._net import _ProcessShare
from ibdetect.metrics import anomaly_roc_auc_scorer
from ibdetect.net import AcceleratedDeepDescriptionNet


# Stratified, so that every test fold holds anomalies for the scorer.
TWO_FOLDS = StratifiedKFold(2, shuffle=True, random_state=0)


@pytest.fixture
def memmap(tmp_path):
    """10,000 rows of 256 float32 features (10 MB) in a .npy file, opened read-only."""
    rng = np.random.RandomState(0)
    y = rng.randint(3, size=10_000)
    X = (rng.normal(size=(10_000, 256)) + 4.0 * y[:, None]).astype(np.float32)
    path = tmp_path / "X.npy"
    np.save(path, X)
    return np.load(path, mmap_mode="r"), y


def test_fit_reads_a_read_only_memmap_without_copying_it(memmap, fast):
    X, y = memmap
    params = {**fast, "max_epochs": 1, "pretrain_epochs": 1, "batch_size": 1024}
    # Fitted first, which also imports what a first fit imports.
    in_memory = IBDeepDescription(**params).fit(np.array(X), y)
    detector = IBDeepDescription(**params)
    tracemalloc.start()
    try:
        detector.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # A copy of X would take 10 MB. The fit keeps 1,000 rows as the k-NN
    # reference and 1,000 held-out rows for partial_fit (1 MB each); the
    # embeddings, labels, targets, masks and indices take less than 2 MB more.
    kept = detector.reference_inputs_.nbytes + detector.calibration_inputs_.nbytes
    assert kept <= X.nbytes / 5
    assert peak < kept + X.nbytes / 3
    np.testing.assert_allclose(detector.decision_function(X[:500]), in_memory.decision_function(X[:500]), rtol=1e-5)


def test_a_read_only_memmap_raises_no_torch_warning(tmp_path):
    # torch warns of a non-writable array once per process: a fresh one.
    np.save(tmp_path / "X.npy", np.random.RandomState(0).normal(size=(200, 4)).astype(np.float32))
    script = (
        "import numpy as np; from ibdetect import IBDeepDescription; "
        f"X = np.load({str(tmp_path / 'X.npy')!r}, mmap_mode='r'); "
        "IBDeepDescription(max_epochs=1, random_state=0).fit(X).score_samples(X)"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", script], capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr


def test_the_validation_split_is_drawn_again_rather_than_stored(blobs, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(**fast).fit(np.tile(X, (50, 1)), np.tile(y, 50))
    assert "valid_loss" in detector.net_.history[-1]
    # Two numbers, whatever the number of held-out samples (600 here).
    assert len(pickle.dumps(detector.net_.train_split)) < 300


@pytest.fixture
def labelled_with_anomalies(blobs):
    """The blobs with the unseen class as known anomalies, so that scorers see both kinds."""
    X, y, X_unseen = blobs
    return np.vstack([X, X_unseen]), np.r_[y, -np.ones(len(X_unseen), dtype=int)]


class ThreadRecorder(nn.Module):
    """A linear encoder that records the torch thread counts it ran with."""

    def __init__(self, input_shape, embedding_dim):
        super().__init__()
        self.linear = nn.Linear(input_shape[0], embedding_dim, bias=False)
        self.threads = set()

    def forward(self, x):
        self.threads.add(torch.get_num_threads())
        return self.linear(x)


@pytest.mark.parametrize("n_jobs, expected", [(None, 1), (1, 1), (2, 2)])
def test_torch_runs_on_n_jobs_threads_and_gets_its_setting_back(blobs, n_jobs, expected, fast):
    X, y, _ = blobs
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        detector = IBDeepDescription(encoder=ThreadRecorder, n_jobs=n_jobs, **fast).fit(X, y)
        assert torch.get_num_threads() == 3
        detector.net_.module_.encoder.threads.clear()
        detector.decision_function(X)
        detector.predict_class(X)
        assert detector.net_.module_.encoder.threads == {expected}
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_each_worker_of_a_parallel_search_trains_on_one_thread(labelled_with_anomalies, fast):
    X, y = labelled_with_anomalies
    results = cross_validate(
        IBDeepDescription(encoder=ThreadRecorder, **fast), X, y, cv=TWO_FOLDS, n_jobs=2,
        scoring=anomaly_roc_auc_scorer, return_estimator=True, error_score="raise",
    )
    assert [est.net_.module_.encoder.threads for est in results["estimator"]] == [{1}, {1}]


def test_training_through_accelerate_matches_plain_training_on_the_cpu(blobs, fast):
    accelerate = pytest.importorskip("accelerate")
    X, y, X_unseen = blobs
    accelerator = accelerate.Accelerator(cpu=True)
    backward = accelerator.backward
    steps = []
    accelerator.backward = lambda loss, **kwargs: steps.append(1) or backward(loss, **kwargs)
    detector = IBDeepDescription(accelerator=accelerator, **fast).fit(X, y)
    assert type(detector.net_) is AcceleratedDeepDescriptionNet
    # One batch (108 training samples) per epoch, each stepped through the accelerator.
    assert len(steps) == fast["max_epochs"]
    plain = IBDeepDescription(**fast).fit(X, y)
    np.testing.assert_allclose(detector.decision_function(X_unseen), plain.decision_function(X_unseen), rtol=1e-5)


def test_training_through_accelerate_logs_as_verbose_says(blobs, capsys, monkeypatch, fast):
    accelerate = pytest.importorskip("accelerate")
    import ibdetect._net
    from ibdetect._progress import EpochProgressBar

    X, y, _ = blobs
    IBDeepDescription(accelerator=accelerate.Accelerator(cpu=True), **fast).fit(X, y)
    assert capsys.readouterr().out == ""
    # On a terminal the epoch log is a progress bar, which has no print sink.
    bar = io.StringIO()
    monkeypatch.setattr(ibdetect._net, "epoch_logger", lambda: EpochProgressBar(stream=bar))
    IBDeepDescription(accelerator=accelerate.Accelerator(cpu=True), verbose=1, **fast).fit(X, y)
    assert "epoch" in bar.getvalue()


@pytest.mark.parametrize("n_batches, expected", [(7, [[0, 2, 4], [1, 3, 5]]), (6, [[0, 2, 4], [1, 3, 5]])])
def test_each_process_trains_on_an_equal_share_of_the_batches(n_batches, expected):
    shares = [list(_ProcessShare(range(n_batches), 2, index)) for index in (0, 1)]
    assert shares == expected


def test_a_grid_search_runs_on_a_dask_cluster(labelled_with_anomalies, fast):
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config
    from sklearn.model_selection import GridSearchCV

    X, y = labelled_with_anomalies
    search = GridSearchCV(
        IBDeepDescription(**fast), {"beta": [2.0, 4.0]}, cv=TWO_FOLDS, scoring=anomaly_roc_auc_scorer,
        error_score="raise",
    )
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
        distributed.get_task_stream(client) as tasks,
        parallel_config(backend="dask"),
    ):
        search.fit(X, y)
    # Four fits (two settings, two folds) ran as tasks on the cluster.
    assert len(tasks.data) >= 4
    assert search.best_params_["beta"] in (2.0, 4.0)


def test_a_dask_array_is_scored_block_by_block(blobs, fast):
    dask_array = pytest.importorskip("dask.array")
    X, y, X_unseen = blobs
    detector = IBDeepDescription(**fast).fit(X, y)
    X_test = np.vstack([X, X_unseen])
    lazy = dask_array.from_array(X_test, chunks=(40, -1))
    scores = lazy.map_blocks(detector.decision_function, drop_axis=1, dtype=np.float64)
    assert scores.numblocks == (4,)
    np.testing.assert_allclose(scores.compute(), detector.decision_function(X_test), rtol=1e-6)
