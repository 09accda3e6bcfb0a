"""The supervised anchors of the benchmark: cross-entropy on the detector's encoder."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from benchmarks import anchors, data, protocols, run
from benchmarks.anchors import SCORES, CrossEntropyAnchor
from benchmarks.methods import METHODS, Method
from ibdetect import IBDeepDescription
from ibdetect._training import resolve_batch_size

ANCHOR_NAMES = ("CE + MSP", "CE + energy", "CE + Mahalanobis", "CE + kNN")

# On 120 rows an epoch is a single step of 128: ten make a classifier.
EPOCHS = 10


def _ranking(anchor, X_normal, X_unseen):
    """ROC AUC of the unseen rows as anomalies, and the scores of all rows."""
    scores = anchor.score_samples(np.vstack([X_normal, X_unseen]))
    is_unseen = np.r_[np.zeros(len(X_normal)), np.ones(len(X_unseen))]
    return roc_auc_score(is_unseen, -scores), scores


@pytest.mark.parametrize("score", SCORES)
def test_every_score_ranks_a_blob_between_the_classes_below_held_out_normal_rows(
    score, blobs, make_blobs, blob_centres
):
    X, y, _ = blobs
    anchor = CrossEntropyAnchor(score=score, max_epochs=EPOCHS, random_state=0).fit(X, y)
    X_normal, _ = make_blobs(blob_centres, 30, seed=2)
    # Where the classes meet, a classifier is unsure: every score's case.
    X_between, _ = make_blobs([np.zeros(6)], 30, seed=3)
    auc, scores = _ranking(anchor, X_normal, X_between)
    assert scores.shape == (len(X_normal) + len(X_between),) and np.isfinite(scores).all()
    assert auc > 0.9


@pytest.mark.parametrize("score", ["mahalanobis", "knn"])
def test_feature_scores_rank_a_far_away_blob_below_held_out_normal_rows(score, blobs, make_blobs, blob_centres):
    # Only the scores of the encoder's output: far from the data a ReLU
    # network's logits grow, and with them its confidence (Hein et al., 2019).
    X, y, X_unseen = blobs
    anchor = CrossEntropyAnchor(score=score, max_epochs=EPOCHS, random_state=0).fit(X, y)
    X_normal, _ = make_blobs(blob_centres, 30, seed=2)
    assert _ranking(anchor, X_normal, X_unseen)[0] > 0.9


def _parameter_shapes(module):
    return [tuple(parameter.shape) for parameter in module.parameters()]


@pytest.mark.parametrize("image_shape", [(1, 8, 8), None], ids=["images, cnn", "flat rows, mlp"])
def test_the_encoder_is_the_one_the_detector_builds(image_shape):
    X, y = load_digits(return_X_y=True)
    X, y = X[:200] / 16.0, y[:200]
    detector = IBDeepDescription(input_shape=image_shape, max_epochs=1, random_state=0).fit(X, y)
    anchor = CrossEntropyAnchor(input_shape=image_shape, max_epochs=1, random_state=0).fit(X, y)
    theirs, ours = detector.net_.module_.encoder, anchor.net_.module_.encoder
    assert type(ours) is type(theirs)
    assert _parameter_shapes(ours) == _parameter_shapes(theirs)
    assert [type(layer) for layer in ours.modules()] == [type(layer) for layer in theirs.modules()]
    # The head: one linear layer from the 32-dimensional output to the classes.
    assert _parameter_shapes(anchor.net_.module_.head) == [(10, 32), (10,)]


def test_it_trains_with_the_detectors_settings(blobs):
    X, y, _ = blobs
    defaults = IBDeepDescription().get_params()
    assert CrossEntropyAnchor().get_params()["max_epochs"] == defaults["max_epochs"]
    assert anchors.EMBEDDING_DIM == defaults["embedding_dim"]
    assert anchors.N_NEIGHBORS == defaults["n_neighbors"]
    net = CrossEntropyAnchor(max_epochs=3, random_state=0).fit(X, y).net_
    # The detector's batches of samples without views.
    assert net.batch_size == resolve_batch_size(defaults["batch_size"]) and len(net.history) == 3
    (group,) = net.optimizer_.param_groups
    assert isinstance(net.optimizer_, torch.optim.Adam)
    assert (group["lr"], group["weight_decay"]) == (defaults["lr"], defaults["weight_decay"])


def test_a_random_state_refits_identically_and_leaves_torchs_generator_alone(blobs):
    X, y, X_unseen = blobs
    torch.manual_seed(123)
    before = torch.get_rng_state()
    fits = [CrossEntropyAnchor(score="energy", max_epochs=2, random_state=7).fit(X, y) for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(fits[0].score_samples(X_unseen), fits[1].score_samples(X_unseen))


def test_a_trailing_batch_of_one_row_does_not_stop_training(make_blobs, blob_centres):
    # 129 rows: batches of 128 and 1, and BatchNorm cannot train on one row.
    X, y = make_blobs(blob_centres, 43)
    anchor = CrossEntropyAnchor(max_epochs=2, random_state=0).fit(X, y)
    assert anchor.score_samples(X).shape == (129,)


@pytest.fixture
def counted_training(monkeypatch):
    """The row counts of the classifiers trained, as ``anchors.train_classifier`` is called."""
    trained = []
    train = anchors.train_classifier

    def counted(X, *args):
        trained.append(len(X))
        return train(X, *args)

    # Memory caches by the function's name and code: the counting one is cached as itself.
    monkeypatch.setattr(anchors, "train_classifier", counted)
    return trained


def test_scores_of_the_same_classifier_train_it_once_with_a_memory(blobs, tmp_path, counted_training):
    X, y, X_unseen = blobs
    alone = CrossEntropyAnchor(score="energy", max_epochs=2, random_state=7).fit(X, y)
    cached = [CrossEntropyAnchor(score=score, max_epochs=2, random_state=7, memory=str(tmp_path)).fit(X, y)
              for score in ("energy", "knn")]
    assert len(counted_training) == 2
    # The one it loads is the one it would have trained.
    np.testing.assert_array_equal(cached[0].score_samples(X_unseen), alone.score_samples(X_unseen))
    for loaded, trained in zip(cached[1].net_.module_.parameters(), alone.net_.module_.parameters()):
        assert torch.equal(loaded, trained)
    # Another seed, or other rows, train another.
    CrossEntropyAnchor(max_epochs=2, random_state=8, memory=str(tmp_path)).fit(X, y)
    CrossEntropyAnchor(max_epochs=2, random_state=7, memory=str(tmp_path)).fit(X[1:], y[1:])
    assert counted_training == [len(X), len(X), len(X), len(X) - 1]


def test_it_keeps_string_labels_and_rejects_an_unknown_score(blobs):
    X, y, _ = blobs
    labels = np.array(["a", "b", "c"])[y]
    assert list(CrossEntropyAnchor(max_epochs=1, random_state=0).fit(X, labels).classes_) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="score must be one of"):
        CrossEntropyAnchor(score="odin").fit(X, y)


def test_the_anchors_are_methods_asked_for_by_name():
    registered = {method.name: method for method in METHODS}
    for name in ANCHOR_NAMES:
        assert registered[name].uses_labels and registered[name].needs_classes == 2
        assert all(name not in suite["methods"] for suite in run.SUITES.values())
    # Told the image shape of the digits, the anchor's encoder is the CNN.
    anchor = registered["CE + kNN"].build(data.digits(), 3)
    assert anchor.get_params() == {
        "score": "knn", "input_shape": (1, 8, 8), "max_epochs": 50, "random_state": 3, "memory": None,
    }


def test_the_benchmarks_epoch_override_reaches_the_anchor():
    built = []

    def build(dataset, seed):
        built.append(CrossEntropyAnchor(input_shape=dataset.image_shape, random_state=seed))
        return built[-1]

    digits = data.digits()
    split = protocols.multiclass_splits(digits.y, n_splits=1)[0]
    [record] = run.evaluate(Method("anchor", build, uses_labels=True, needs_classes=2), digits, split, 0, max_epochs=2)
    assert len(built[0].net_.history) == 2 and 0 <= record["roc_auc"] <= 1


def test_a_run_trains_one_classifier_per_split_for_the_four_anchors(counted_training):
    methods = [method for method in METHODS if method.name in ANCHOR_NAMES]
    records = run.run([data.wine()], ["multiclass"], methods, max_splits=2, max_epochs=1, log=lambda line: None)
    assert len(records) == 8 and len(counted_training) == 2
