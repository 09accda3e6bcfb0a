import signal
import warnings

import numpy as np
import pytest
import torch
from conftest import BLOB_CENTRES, FAST, make_blobs
from skorch.callbacks import Callback
from torch import nn

from ibdetect import EmbeddingCollapseWarning, IBDeepDescription, TrainingInterruptedWarning
from ibdetect._estimator import _reference_rank
from ibdetect.encoders import CNNEncoder
from ibdetect.metrics import anomaly_roc_auc_score


def roc_auc(detector, X_normal, X_unseen):
    X = np.vstack([X_normal, X_unseen])
    y = np.r_[np.zeros(len(X_normal)), -np.ones(len(X_unseen))]
    return anomaly_roc_auc_score(y, detector.decision_function(X))


@pytest.mark.parametrize("loss", ["ib", "mcdd", "svdd"])
def test_unseen_class_scores_below_known_classes(blobs, loss):
    X, y, X_unseen = blobs
    # A threshold placed on 36 held-out samples rather than 12: with 12 the
    # share of training samples flagged varies from 2% to 11% with the seed.
    detector = IBDeepDescription(loss=loss, validation_fraction=0.3, **{**FAST, "max_epochs": 20}).fit(X, y)
    assert roc_auc(detector, X, X_unseen) > 0.95
    assert (detector.predict(X_unseen) == -1).mean() > 0.9
    assert (detector.predict(X) == 1).mean() > 0.9


def test_fit_without_labels_describes_one_class(blobs):
    X, _, X_unseen = blobs
    detector = IBDeepDescription(**{**FAST, "max_epochs": 20}).fit(X)
    assert detector.classes_.tolist() == [1]
    assert detector.centers_.shape == (1, 8)
    assert roc_auc(detector, X, X_unseen) > 0.9


def test_fitted_attributes(fitted_blobs):
    detector, _ = fitted_blobs
    assert detector.classes_.tolist() == [0, 1, 2]
    assert detector.centers_.shape == (3, 8)
    assert isinstance(detector.centers_, np.ndarray)
    assert detector.n_features_in_ == 6
    assert detector.device_ == "cpu"
    assert np.isfinite(detector.offset_)
    assert len(detector.net_.history) == FAST["max_epochs"]
    assert detector.anomaly_score_ == "knn+input"
    assert detector.reference_embeddings_.shape[1] == 8
    assert detector.reference_inputs_.shape == (len(detector.reference_embeddings_), 6)


def test_string_labels_and_nearest_class(blobs):
    X, y, _ = blobs
    names = np.array(["ant", "bee", "cat"])[y]
    detector = IBDeepDescription(**{**FAST, "max_epochs": 20}).fit(X, names)
    assert detector.classes_.tolist() == ["ant", "bee", "cat"]
    assert (detector.predict_class(X) == names).mean() > 0.95


# The known-anomaly term pushes anomalies away from the centres, which the
# "distance" score reads directly; "knn" gains less (measured: 0.77 -> 0.95
# against 0.88 -> 0.90 ROC AUC here), as the user guide says.
@pytest.mark.parametrize("anomaly_score, min_gain", [("distance", 0.1), ("knn", 0.005)])
def test_labelled_anomalies_are_not_a_class_and_help_detect_their_kind(anomaly_score, min_gain):
    # An unseen class close to class 0, of which 20 samples are labelled -1.
    rng = np.random.RandomState(0)
    centres = np.array([[-6, 0, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0], [0, 6, 0, 0, 0, 0]])
    X = np.vstack([rng.normal(c, 1.0, (40, 6)) for c in centres])
    y = np.repeat([0, 1, 2], 40)
    X_near = rng.normal([-6, 0, 2.5, 0, 0, 0], 1.0, (60, 6))
    X_train = np.vstack([X, X_near[:20]])
    y_train = np.r_[y, -np.ones(20, dtype=int)]
    params = {**FAST, "max_epochs": 20, "anomaly_score": anomaly_score}
    semi_supervised = IBDeepDescription(**params).fit(X_train, y_train)
    assert semi_supervised.classes_.tolist() == [0, 1, 2]
    normal_only = IBDeepDescription(**params).fit(X, y)
    # Judged on the 40 samples of that class that were not labelled.
    gain = roc_auc(semi_supervised, X, X_near[20:]) - roc_auc(normal_only, X, X_near[20:])
    assert gain > min_gain


def test_text_minus_one_marks_known_anomalies(blobs):
    # As in a label column read from a CSV file: "-1" is text among class names.
    X, y, X_unseen = blobs
    labels = np.array(["ant", "bee", "cat"])[y]
    y_train = np.concatenate([labels, np.full(5, "-1")])
    detector = IBDeepDescription(**FAST).fit(np.vstack([X, X_unseen[:5]]), y_train)
    assert detector.classes_.tolist() == ["ant", "bee", "cat"]
    assert "train_anomaly" in detector.net_.history[-1]


@pytest.mark.parametrize(
    "with_anomalies, input_shape, expected",
    [(False, None, "knn+input"), (False, (1, 2, 3), "knn"), (True, None, "distance"), (True, (1, 2, 3), "distance")],
)
def test_auto_anomaly_score_follows_known_anomalies_and_the_input_shape(blobs, with_anomalies, input_shape, expected):
    X, y, X_unseen = blobs
    if with_anomalies:
        X, y = np.vstack([X, X_unseen[:5]]), np.r_[y, -np.ones(5, dtype=int)]
    detector = IBDeepDescription(input_shape=input_shape, **FAST).fit(X, y)
    assert detector.anomaly_score == "auto" and detector.anomaly_score_ == expected


def test_object_labels_with_known_anomalies(blobs):
    X, y, X_unseen = blobs
    labels = np.array(["ant", "bee", "cat"], dtype=object)[y]
    y_train = np.concatenate([labels, np.array([-1] * 5, dtype=object)])
    detector = IBDeepDescription(**FAST).fit(np.vstack([X, X_unseen[:5]]), y_train)
    assert detector.classes_.tolist() == ["ant", "bee", "cat"]


def test_svdd_ignores_class_labels(blobs):
    X, y, _ = blobs
    labelled = IBDeepDescription(loss="svdd", **FAST).fit(X, y)
    unlabelled = IBDeepDescription(loss="svdd", **FAST).fit(X)
    assert labelled.classes_.tolist() == [1]
    np.testing.assert_array_equal(labelled.score_samples(X), unlabelled.score_samples(X))


def test_outlier_api_is_consistent(blobs):
    X, y, X_unseen = blobs
    detector = IBDeepDescription(anomaly_score="distance", **FAST).fit(X, y)
    X_all = np.vstack([X, X_unseen])
    scores = detector.score_samples(X_all)
    distances = detector.class_distances(X_all)
    np.testing.assert_allclose(scores, -distances.min(axis=1))
    np.testing.assert_allclose(detector.decision_function(X_all), scores - detector.offset_)
    np.testing.assert_array_equal(detector.predict(X_all), np.where(scores < detector.offset_, -1, 1))
    np.testing.assert_array_equal(detector.predict_class(X_all), detector.classes_[distances.argmin(1)])
    embeddings = detector.transform(X_all)
    assert embeddings.shape == (len(X_all), 8) and embeddings.dtype == np.float32
    np.testing.assert_allclose(
        ((embeddings[:, None] - detector.centers_[None]) ** 2).sum(-1), distances, rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("contamination", [0.05, 0.2])
def test_contamination_sets_fraction_flagged_in_training(blobs, contamination):
    X, y, _ = blobs
    detector = IBDeepDescription(contamination=contamination, **FAST).fit(X, y)
    assert (detector.predict(X) == -1).mean() == pytest.approx(contamination, abs=1 / len(X))


def test_auto_contamination_is_capped_tukey_fence_on_log_distances(blobs):
    X, y, _ = blobs
    detector = IBDeepDescription(anomaly_score="distance", validation_fraction=None, **FAST).fit(X, y)
    log_distances = np.log(-detector.score_samples(X))
    q1, q3, q99 = np.percentile(log_distances, [25, 75, 99])
    assert detector.offset_ == pytest.approx(-np.exp(min(q3 + 1.5 * (q3 - q1), q99)))
    assert 0.01 <= (detector.predict(X) == -1).mean() <= 0.05


def test_refit_with_same_seed_is_bit_identical(blobs):
    X, y, _ = blobs
    first = IBDeepDescription(**FAST).fit(X, y).score_samples(X)
    second = IBDeepDescription(**FAST).fit(X, y).score_samples(X)
    np.testing.assert_array_equal(first, second)
    other_seed = IBDeepDescription(**{**FAST, "random_state": 1}).fit(X, y).score_samples(X)
    assert not np.array_equal(first, other_seed)


def test_fit_leaves_global_random_state_alone(blobs):
    X, y, _ = blobs
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    IBDeepDescription(**FAST).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_dataframe_input_records_feature_names(blobs):
    pd = pytest.importorskip("pandas")
    X, y, _ = blobs
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    detector = IBDeepDescription(**FAST).fit(frame, y)
    assert detector.feature_names_in_.tolist() == list(frame.columns)
    assert detector.get_feature_names_out().tolist() == [f"ibdeepdescription{i}" for i in range(8)]
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        detector.score_samples(frame.rename(columns={"f0": "other"}))


def test_cnn_encoder_on_image_rows():
    rng = np.random.RandomState(0)
    X = rng.rand(40, 64).astype(np.float32)
    y = np.repeat([0, 1], 20)
    detector = IBDeepDescription(encoder="cnn", input_shape=(1, 8, 8), max_epochs=2, random_state=0)
    detector.fit(X, y)
    assert isinstance(detector.net_.module_.encoder, CNNEncoder)
    assert detector.score_samples(X).shape == (40,)


class TwoLayerEncoder(nn.Module):
    def __init__(self, input_shape, embedding_dim, width=16):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(input_shape[0], width), nn.Tanh(), nn.Linear(width, embedding_dim))

    def forward(self, x):
        return self.layers(x)


def test_custom_encoder_class(blobs):
    X, y, X_unseen = blobs
    detector = IBDeepDescription(encoder=TwoLayerEncoder, embedding_dim=5, max_epochs=20, random_state=0)
    detector.fit(X, y)
    assert isinstance(detector.net_.module_.encoder, TwoLayerEncoder)
    assert detector.centers_.shape == (3, 5)
    assert roc_auc(detector, X, X_unseen) > 0.9


def test_custom_encoder_instance_is_copied_not_trained(blobs):
    X, y, _ = blobs
    encoder = TwoLayerEncoder(input_shape=(6,), embedding_dim=3)
    before = [p.detach().clone() for p in encoder.parameters()]
    detector = IBDeepDescription(encoder=encoder, max_epochs=2, random_state=0).fit(X, y)
    assert detector.centers_.shape == (3, 3)
    assert detector.net_.module_.encoder is not encoder
    assert all(torch.equal(a, b) for a, b in zip(before, encoder.parameters()))


def test_verbose_zero_prints_nothing_and_one_prints_epochs(blobs, capsys):
    X, y, _ = blobs
    IBDeepDescription(**FAST).fit(X, y)
    assert capsys.readouterr().out == ""
    IBDeepDescription(**{**FAST, "verbose": 1}).fit(X, y)
    out = capsys.readouterr().out
    assert "train_compactness" in out and "train_separation" in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == FAST["max_epochs"]


def test_validation_fraction_reports_validation_loss(blobs):
    X, y, _ = blobs
    detector = IBDeepDescription(validation_fraction=0.25, **FAST).fit(X, y)
    row = detector.net_.history[-1]
    assert np.isfinite(row["valid_loss"]) and row["valid_separation"] >= 0


def test_skorch_callbacks_are_used(blobs):
    from skorch.callbacks import EarlyStopping

    X, y, _ = blobs
    stopper = EarlyStopping(monitor="train_loss", patience=1, threshold=1e9)
    with warnings.catch_warnings():
        # EarlyStopping stops training with a KeyboardInterrupt of its own.
        warnings.simplefilter("error", TrainingInterruptedWarning)
        detector = IBDeepDescription(callbacks=[stopper], **{**FAST, "max_epochs": 30}).fit(X, y)
    assert len(detector.net_.history) < 30
    assert stopper.misses_ == 0  # the user's callback is copied, not trained


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_is_resolved_without_touching_the_parameter(blobs, device):
    X, y, _ = blobs
    detector = IBDeepDescription(device=device, **FAST).fit(X, y)
    assert detector.device == device
    assert detector.device_ == ("cuda" if device == "auto" and torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(blobs):
    X, y, _ = blobs
    with pytest.raises(ValueError, match="CUDA is not available"):
        IBDeepDescription(device="cuda", **FAST).fit(X, y)


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(blobs, bad):
    X, y, _ = blobs
    X = X.copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        IBDeepDescription(**FAST).fit(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected_at_scoring(fitted_blobs, bad):
    detector, (X, _, _) = fitted_blobs
    X = X.copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        detector.score_samples(X)


def test_wrong_number_of_features_at_predict(fitted_blobs):
    detector, (X, _, _) = fitted_blobs
    with pytest.raises(ValueError, match="X has 5 features, but IBDeepDescription is expecting 6"):
        detector.predict(X[:, :5])


@pytest.mark.parametrize("X, match", [
    (np.zeros(10), "Expected 2D array"),
    (np.zeros((0, 3)), "0 sample"),
    (np.zeros((1, 3)), "1 sample"),
])
def test_unusable_shapes_are_rejected(X, match):
    with pytest.raises(ValueError, match=match):
        IBDeepDescription(**FAST).fit(X)


def test_mismatched_y_length(blobs):
    X, y, _ = blobs
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        IBDeepDescription(**FAST).fit(X, y[:-1])


def test_only_known_anomalies_is_rejected(blobs):
    X, _, _ = blobs
    with pytest.raises(ValueError, match="at least one sample must be normal"):
        IBDeepDescription(**FAST).fit(X, -np.ones(len(X)))


def test_continuous_targets_are_rejected(blobs):
    X, _, _ = blobs
    with pytest.raises(ValueError, match="Unknown label type"):
        IBDeepDescription(**FAST).fit(X, np.linspace(0, 1, len(X)))


@pytest.mark.parametrize("params, match", [
    ({"beta": 1.0}, "'beta' parameter"),
    ({"beta": 0.5}, "'beta' parameter"),
    ({"contamination": 0.7}, "'contamination' parameter"),
    ({"loss": "softmax"}, "'loss' parameter"),
    ({"encoder": "resnet"}, "'encoder' parameter"),
    ({"batch_size": 1}, "'batch_size' parameter"),
    ({"n_jobs": 0}, "'n_jobs' parameter"),
])
def test_invalid_parameters_are_rejected_at_fit(blobs, params, match):
    X, y, _ = blobs
    with pytest.raises(ValueError, match=match):
        IBDeepDescription(**{**FAST, **params}).fit(X, y)


class WrongInputSize(nn.Module):
    """Built for 5 features, whatever input_shape says."""

    def __init__(self, input_shape, embedding_dim):
        super().__init__()
        self.linear = nn.Linear(5, embedding_dim)

    def forward(self, x):
        return self.linear(x)


class ThreeDimensionalOutput(WrongInputSize):
    def __init__(self, input_shape, embedding_dim):
        super().__init__(input_shape, embedding_dim)
        self.linear = nn.Linear(input_shape[0], embedding_dim)

    def forward(self, x):
        return self.linear(x).unsqueeze(1)


class TupleOutput(ThreeDimensionalOutput):
    def forward(self, x):
        return self.linear(x), x


@pytest.mark.parametrize("params, match", [
    ({"encoder": "cnn"}, "needs input_shape"),
    ({"input_shape": (1, 2, 2)}, "holds 4 values"),
    ({"input_shape": (-1, -6)}, "input_shape must hold positive integers"),
    ({"hidden_layer_sizes": (1.5,)}, "hidden_layer_sizes must hold positive integers"),
    ({"hidden_layer_sizes": (16, 0)}, "hidden_layer_sizes must hold positive integers"),
    ({"hidden_layer_sizes": (-3,)}, "hidden_layer_sizes must hold positive integers"),
    ({"hidden_layer_sizes": [[16, 8]]}, "hidden_layer_sizes must hold positive integers"),
    ({"priors": [0.5, 0.5]}, "priors must hold 3 positive, finite values"),
    ({"priors": [np.nan, 0.5, 0.5]}, "priors must hold 3 positive, finite values"),
    ({"priors": [np.nan, 0.5, 0.5], "pretrain_epochs": 1}, "priors must hold 3 positive, finite values"),
    ({"priors": [np.inf, 0.5, 0.5]}, "priors must hold 3 positive, finite values"),
    ({"priors": ["a", "b", "c"]}, "priors must hold 3 positive, finite values"),
    ({"device": "gpu"}, "not a torch device"),
    ({"device": "tpu"}, "not a torch device"),
    ({"device": "meta"}, "device='meta' cannot be used here"),
    ({"encoder": WrongInputSize}, "The encoder cannot embed a batch of shape \\(2, 6\\): mat1 and mat2"),
    ({"encoder": WrongInputSize(input_shape=(6,), embedding_dim=3)}, "The encoder cannot embed a batch"),
    ({"encoder": ThreeDimensionalOutput}, "must return embeddings of shape .*, got \\(2, 1, 8\\)"),
    ({"encoder": TupleOutput}, "must return embeddings of shape \\(n_samples, dim\\), got tuple"),
])
def test_inconsistent_parameters_are_clear_errors(blobs, params, match):
    X, y, _ = blobs
    with pytest.raises(ValueError, match=match):
        IBDeepDescription(**{**FAST, **params}).fit(X, y)


@pytest.mark.parametrize("device", ["mps", "xpu", "cuda:7"])
def test_a_device_this_machine_lacks_is_a_clear_error(blobs, device):
    if torch.device(device).type == "cuda" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the device")
    X, y, _ = blobs
    with pytest.raises(ValueError, match=f"device='{device}'"):
        IBDeepDescription(**{**FAST, "device": device}).fit(X, y)


@pytest.mark.parametrize("callbacks", [[object()], ["EarlyStopping"], [("stop", 3)], [(1, None)]])
def test_callbacks_that_are_not_skorch_callbacks_are_a_type_error(blobs, callbacks):
    X, y, _ = blobs
    with pytest.raises(TypeError, match="callbacks must hold skorch callbacks"):
        IBDeepDescription(**{**FAST, "callbacks": callbacks}).fit(X, y)


def test_non_finite_training_loss_names_the_epoch(blobs):
    X, y, _ = blobs
    with pytest.raises(FloatingPointError, match=r"epoch \d+"):
        IBDeepDescription(**{**FAST, "lr": 1e30}).fit(X, y)


class ConstantEncoder(nn.Module):
    """Ignores its input: the embedding has collapsed by construction."""

    def __init__(self, input_shape, embedding_dim):
        super().__init__()
        self.point = nn.Parameter(torch.ones(embedding_dim))

    def forward(self, x):
        return self.point.expand(len(x), -1)


def test_collapsed_embedding_warns(blobs):
    X, y, _ = blobs
    with pytest.warns(EmbeddingCollapseWarning, match="collapsed"):
        IBDeepDescription(encoder=ConstantEncoder, max_epochs=1, random_state=0).fit(X)


@pytest.mark.parametrize("value", [1e12, -1e20])
def test_one_extreme_feature_value_collapsing_the_rest_warns(blobs, value):
    # Batch normalisation scales by the outlier, which squeezes every other
    # sample onto one point; the outlier itself still lies far out.
    X, y, _ = blobs
    X = X.copy()
    X[5, 2] = value
    with pytest.warns(EmbeddingCollapseWarning, match="extreme feature values"):
        IBDeepDescription(**FAST).fit(X, y)


def test_healthy_fit_does_not_warn(blobs):
    X, y, _ = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmbeddingCollapseWarning)
        IBDeepDescription(**FAST).fit(X, y)


@pytest.mark.parametrize("input_shape, expected", [(None, "MLPEncoder"), ((1, 2, 3), "CNNEncoder")])
def test_auto_encoder_follows_input_shape(blobs, input_shape, expected):
    X, y, _ = blobs
    detector = IBDeepDescription(
        encoder="auto", input_shape=input_shape, hidden_layer_sizes=(2,), max_epochs=1, random_state=0
    )
    detector.fit(X, y)
    assert type(detector.net_.module_.encoder).__name__ == expected


def test_pretraining_fits_an_autoencoder_first(blobs):
    X, y, X_unseen = blobs
    X_train = np.vstack([X, X_unseen[:5]])
    y_train = np.r_[y, -np.ones(5, dtype=int)]
    detector = IBDeepDescription(pretrain_epochs=4, **FAST).fit(X_train, y_train)
    losses = [row["train_loss"] for row in detector.pretrain_history_]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert not hasattr(IBDeepDescription(**FAST).fit(X, y), "pretrain_history_")
    # Pretraining changes the starting point of the description.
    plain = IBDeepDescription(**FAST).fit(X_train, y_train)
    assert not np.allclose(detector.centers_, plain.centers_)


def test_pretraining_needs_a_decoder(blobs):
    X, y, _ = blobs
    with pytest.raises(ValueError, match="decoder"):
        IBDeepDescription(encoder=TwoLayerEncoder, pretrain_epochs=1, max_epochs=1).fit(X, y)


def test_knn_score_is_distance_to_nth_nearest_training_embedding(blobs):
    X, y, X_unseen = blobs
    # Nothing held out: every row of X is a reference.
    detector = IBDeepDescription(anomaly_score="knn", n_neighbors=3, validation_fraction=None, **FAST).fit(X, y)
    reference = detector.transform(X).astype(np.float64)
    queries = detector.transform(X_unseen).astype(np.float64)
    brute = np.sort(((queries[:, None] - reference[None]) ** 2).sum(-1), axis=1)[:, 2]
    np.testing.assert_allclose(-detector.score_samples(X_unseen), brute, rtol=1e-4)
    assert roc_auc(detector, X, X_unseen) > 0.95


@pytest.mark.parametrize("anomaly_score", ["knn", "knn+input"])
def test_knn_threshold_leaves_each_training_sample_out(blobs, anomaly_score):
    X, y, _ = blobs
    detector = IBDeepDescription(anomaly_score=anomaly_score, n_neighbors=1, validation_fraction=None, **FAST)
    detector.fit(X, y)
    # Each training sample is its own nearest reference: its score is 0. The
    # threshold is set without it, so it is not 0 and flags only a few.
    np.testing.assert_allclose(detector.score_samples(X), 0, atol=1e-6)
    assert detector.offset_ < 0


def _kth_nearest_brute_force(queries, reference, rank):
    squared = ((queries[:, None].astype(np.float64) - reference[None].astype(np.float64)) ** 2).sum(-1)
    return np.sort(squared, axis=1)[:, rank - 1]


def test_knn_input_score_is_the_geometric_mean_of_scaled_neighbour_distances(blobs):
    X, y, X_unseen = blobs
    detector = IBDeepDescription(anomaly_score="knn+input", n_neighbors=3, **FAST).fit(X, y)
    embeddings, inputs = detector.reference_embeddings_, detector.reference_inputs_
    # A reference row is its own nearest at distance 0; the scale skips it.
    scales = [np.median(_kth_nearest_brute_force(part, part, 4)) for part in (embeddings, inputs)]
    np.testing.assert_allclose(detector.neighbor_scales_, scales, rtol=1e-5)
    in_embedding = _kth_nearest_brute_force(detector.transform(X_unseen), embeddings, 3) / scales[0]
    in_input = _kth_nearest_brute_force(X_unseen, inputs, 3) / scales[1]
    np.testing.assert_allclose(-detector.score_samples(X_unseen), np.sqrt(in_embedding * in_input), rtol=1e-4)
    assert roc_auc(detector, X, X_unseen) > 0.95


def test_knn_input_reference_rows_are_the_inputs_of_the_embedding_reference(blobs):
    X, y, _ = blobs
    detector = IBDeepDescription(anomaly_score="knn+input", max_references=50, **FAST).fit(X, y)
    assert detector.reference_inputs_.shape == (50, X.shape[1])
    assert detector.reference_inputs_.dtype == np.float32
    np.testing.assert_allclose(
        detector.transform(detector.reference_inputs_), detector.reference_embeddings_, rtol=1e-5, atol=1e-6
    )


def test_knn_input_threshold_and_pvalues_flag_the_unseen_class(blobs):
    X, y, X_unseen = blobs
    X_new, _ = make_blobs(BLOB_CENTRES, 100, seed=5)
    detector = IBDeepDescription(anomaly_score="knn+input", validation_fraction=0.3, **{**FAST, "max_epochs": 20})
    detector.fit(X, y)
    assert np.all(detector.predict(X_unseen) == -1)
    assert np.mean(detector.predict(X_new) == -1) < 0.15
    # Farther out than every held-out sample: the smallest p-value.
    np.testing.assert_allclose(detector.pvalues(X_unseen), 1 / (len(detector.calibration_scores_) + 1))
    assert np.mean(detector.pvalues(X_new) <= 0.1) < 0.2


@pytest.mark.parametrize("max_reference, validation_fraction", [(1000, "auto"), (39, None)])
def test_knn_input_contamination_flags_that_share_of_the_training_data(blobs, max_reference, validation_fraction):
    # With 39 references of the 132 samples, 5 neighbours scale to 1.5 (of
    # which a reference sample scored as training data is itself): the rank
    # must stay at 2 for the anomalies drawn into the reference to be flagged.
    X, _, _ = blobs
    # Scattered far from the classes and from each other, so that no
    # anomaly has training neighbours of its own kind.
    scattered = np.random.RandomState(3).uniform(-40, 40, (12, X.shape[1]))
    X_train = np.vstack([X, scattered])
    detector = IBDeepDescription(
        anomaly_score="knn+input", contamination=0.1, validation_fraction=validation_fraction,
        max_references=max_reference, **FAST
    ).fit(X_train)
    assert np.mean(detector.labels_ == -1) == pytest.approx(0.1, abs=0.01)
    assert np.mean(detector.labels_[len(X):] == -1) >= 0.9
    # Those that are references too are flagged, though each is its own neighbour.
    in_reference = (scattered.astype(np.float32)[:, None] == detector.reference_inputs_[None]).all(-1).any(1)
    assert in_reference.any()
    assert np.all(detector.labels_[len(X):][in_reference] == -1)


def test_knn_reference_is_bounded(blobs):
    X, y, X_unseen = blobs
    X_train = np.vstack([X, X_unseen[:5]])
    y_train = np.r_[y, -np.ones(5, dtype=int)]
    detector = IBDeepDescription(anomaly_score="knn", max_references=50, **FAST).fit(X_train, y_train)
    assert detector.reference_embeddings_.shape == (50, FAST["embedding_dim"])
    unbounded = IBDeepDescription(anomaly_score="knn", validation_fraction=None, max_references=10_000, **FAST)
    # Only normal samples are references, never the known anomalies.
    assert unbounded.fit(X_train, y_train).reference_embeddings_.shape[0] == len(X)


def test_held_out_samples_set_the_auto_threshold_for_new_samples():
    from ibdetect.demo import digits_split

    X_train, y_train, X_test, y_test = digits_split(random_state=0)
    X_new = X_test[y_test != -1]  # new samples of the known digits
    flagged = {}
    for fraction in (None, 0.2):
        detector = IBDeepDescription(
            validation_fraction=fraction, input_shape=(1, 8, 8), hidden_layer_sizes=(16, 32),
            max_epochs=20, random_state=0,
        ).fit(X_train, y_train)
        flagged[fraction] = (detector.predict(X_new) == -1).mean()
    # The CNN fits its training digits more tightly than new ones; calibrated
    # on digits it never trained on, the threshold allows for that (measured:
    # 5.8% of new normal digits flagged without a held-out part, 1.8% with).
    assert flagged[0.2] < flagged[None] / 2


@pytest.mark.parametrize("counts, fraction, expected", [
    ([10, 20, 3], 0.1, [1, 2, 0]),
    ([5, 5], 0.25, [1, 1]),
    ([1, 40], 0.5, [0, 20]),
])
def test_stratified_hold_out_rounds_each_class_down(counts, fraction, expected):
    from ibdetect._estimator import _stratified_hold_out

    targets = np.repeat(np.arange(len(counts)), counts)
    held_out = _stratified_hold_out(targets, fraction, np.random.RandomState(0))
    assert np.bincount(targets[held_out], minlength=len(counts)).tolist() == expected


@pytest.mark.parametrize("counts, expected", [
    # A tenth already holds out 19 normal samples or more.
    ([100, 100, 100], [10, 10, 10]),
    # Wine's training rows: a tenth would hold out 3 + 4.
    ([35, 43], [9, 11]),
    # Small data: 30% of each class at most, fewer than 19 in all.
    ([20, 20], [6, 6]),
    # Classes of fewer than 10 samples stay whole, as with a tenth.
    ([5] * 10, [0] * 10),
    ([9, 60], [0, 18]),
])
def test_auto_validation_fraction_holds_out_enough_to_calibrate(counts, expected):
    from ibdetect._estimator import _held_out_mask

    targets = np.repeat(np.arange(len(counts)), counts)
    held_out = _held_out_mask(targets, "auto", seed=0)
    assert np.bincount(targets[held_out], minlength=len(counts)).tolist() == expected


def test_auto_validation_fraction_counts_normal_samples_only():
    from ibdetect._estimator import _held_out_mask

    # 40 normal samples need 30% for 19 (rounded down: 12); the 200 known
    # anomalies, held out at the same rate, do not calibrate p-values.
    targets = np.r_[np.zeros(40, dtype=int), np.full(200, -1)]
    held_out = _held_out_mask(targets, "auto", seed=0)
    assert (held_out[targets == 0].sum(), held_out[targets == -1].sum()) == (12, 60)


@pytest.mark.parametrize("lr", [1e3, 1e7])
def test_loss_that_grows_without_bound_is_divergence(blobs, lr):
    X, y, _ = blobs
    with pytest.raises(FloatingPointError, match="over 1e\\+06 times the first batch's"):
        IBDeepDescription(**{**FAST, "lr": lr}).fit(X, y)


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


# name: (parameters that make fit fail, the error, whether the failure is
# patched in after training)
FAILURES = {
    "divergence": ({"lr": 1e20}, FloatingPointError, False),
    "too many neighbours": ({"anomaly_score": "knn", "n_neighbors": 500}, ValueError, False),
    "interrupt after training": ({}, KeyboardInterrupt, True),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_fit_that_raises_changes_nothing(blobs, monkeypatch, failure):
    X, y, X_unseen = blobs
    bad_params, error, after_training = FAILURES[failure]
    detector = IBDeepDescription(**FAST).fit(X, y)
    expected = detector.decision_function(X_unseen)
    attributes = dict(vars(detector))
    unfitted = IBDeepDescription(**{**FAST, **bad_params})
    if after_training:
        monkeypatch.setattr(IBDeepDescription, "_fit_threshold", interrupt)
    with pytest.raises(error):
        detector.set_params(**bad_params).fit(X, y)
    with pytest.raises(error):
        unfitted.fit(X, y)
    monkeypatch.undo()
    detector.set_params(**{name: IBDeepDescription().get_params()[name] for name in bad_params})
    assert vars(detector).keys() == attributes.keys()
    assert all(vars(detector)[name] is value for name, value in attributes.items() if name.endswith("_"))
    np.testing.assert_array_equal(detector.decision_function(X_unseen), expected)
    assert not [name for name in vars(unfitted) if name.endswith("_")]


class InterruptAtEpoch(Callback):
    """Presses Ctrl-C at the end of an epoch: sends SIGINT, which raises KeyboardInterrupt."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            signal.raise_signal(signal.SIGINT)


def test_interrupted_training_warns_and_completes_the_fit(blobs):
    X, y, X_unseen = blobs
    with pytest.warns(TrainingInterruptedWarning, match="interrupted in epoch 2 of 5"):
        detector = IBDeepDescription(callbacks=[InterruptAtEpoch(2)], **FAST).fit(X, y)
    assert len(detector.net_.history) == 2
    np.testing.assert_array_equal(detector.centers_, detector.net_.module_.centers.detach().numpy())
    assert np.isfinite(detector.offset_) and len(detector.reference_embeddings_) > 0
    assert roc_auc(detector, X, X_unseen) > 0.9


def test_interrupt_before_the_centres_are_placed_stops_the_fit(blobs, monkeypatch):
    from ibdetect.net import DeepDescriptionNet

    X, y, _ = blobs
    monkeypatch.setattr(DeepDescriptionNet, "initialize_centers", lambda *args: signal.raise_signal(signal.SIGINT))
    detector = IBDeepDescription(**FAST)
    with pytest.raises(KeyboardInterrupt):
        detector.fit(X, y)
    assert not [name for name in vars(detector) if name.endswith("_")]


@pytest.mark.parametrize("with_anomalies", [False, True])
def test_skorch_checkpoints_resume_training(blobs, tmp_path, with_anomalies):
    from skorch.callbacks import Checkpoint, LoadInitState

    X, y, X_unseen = blobs
    if with_anomalies:
        X, y = np.vstack([X, X_unseen[:5]]), np.r_[y, -np.ones(5, dtype=int)]
    checkpoint = Checkpoint(dirname=str(tmp_path), monitor=None)
    callbacks = [checkpoint, LoadInitState(checkpoint)]
    first = IBDeepDescription(callbacks=callbacks, **FAST).fit(X, y)
    # The second fit starts from the saved weights, centres and history.
    resumed = IBDeepDescription(callbacks=callbacks, **FAST).fit(X, y)
    assert len(resumed.net_.history) == 2 * FAST["max_epochs"]
    assert ("train_anomaly" in resumed.net_.history[-1]) == with_anomalies
    assert resumed.net_.history[-1, "train_loss"] < first.net_.history[-1, "train_loss"]


def test_warm_start_trains_on_from_the_fitted_network(blobs, monkeypatch):
    from ibdetect.net import DeepDescriptionNet

    X, y, _ = blobs
    detector = IBDeepDescription(**FAST).fit(X, y)
    first_net = detector.net_
    first_losses = [row["train_loss"] for row in first_net.history]
    # The centres are kept, not placed anew on the current embedding.
    monkeypatch.setattr(DeepDescriptionNet, "initialize_centers", interrupt)
    detector.set_params(warm_start=True).fit(X, y)
    losses = [row["train_loss"] for row in detector.net_.history]
    assert losses[: FAST["max_epochs"]] == first_losses and len(losses) == 2 * FAST["max_epochs"]
    assert losses[FAST["max_epochs"]] < first_losses[0]
    # The first network is left as it was.
    assert detector.net_ is not first_net and len(first_net.history) == FAST["max_epochs"]
    # The reference (and the threshold) come from the network as it is now.
    embeddings = {tuple(row) for row in detector.transform(X)}
    assert all(tuple(row) in embeddings for row in detector.reference_embeddings_)


def test_warm_start_resumes_an_interrupted_fit(blobs):
    X, y, _ = blobs
    with pytest.warns(TrainingInterruptedWarning):
        detector = IBDeepDescription(callbacks=[InterruptAtEpoch(2)], **FAST).fit(X, y)
    detector.set_params(callbacks=None, warm_start=True).fit(X, y)
    assert len(detector.net_.history) == 2 + FAST["max_epochs"]


def test_warm_start_before_the_first_fit_trains_a_new_network(blobs):
    X, y, _ = blobs
    cold = IBDeepDescription(**FAST).fit(X, y)
    warm = IBDeepDescription(warm_start=True, **FAST).fit(X, y)
    np.testing.assert_array_equal(warm.decision_function(X), cold.decision_function(X))


@pytest.mark.parametrize("change, match", [
    (lambda X, y: (X, np.where(y == 2, 5, y)), "which had 6 features and classes \\[0, 1, 2\\]"),
    (lambda X, y: (X[:, :5], y), "this data has 5 and"),
])
def test_warm_start_on_other_data_is_an_error_that_changes_nothing(blobs, change, match):
    X, y, _ = blobs
    detector = IBDeepDescription(warm_start=True, **FAST).fit(X, y)
    expected = detector.decision_function(X)
    with pytest.raises(ValueError, match=match):
        detector.fit(*change(X, y))
    np.testing.assert_array_equal(detector.decision_function(X), expected)


def test_warm_start_with_another_network_is_an_error(blobs):
    X, y, _ = blobs
    detector = IBDeepDescription(warm_start=True, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="warm_start=True continues the previous network.*size mismatch"):
        detector.set_params(hidden_layer_sizes=(16,)).fit(X, y)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_sample_that_overflows_the_network_is_an_anomaly(blobs):
    # Found by the property tests: the float32 network turns this finite
    # row into NaN, and a NaN score compared as normal in predict.
    X, y, _ = blobs
    detector = IBDeepDescription(**FAST).fit(X, y)
    huge = np.array([[-1, -1, -1, -1, -1, 1]]) * float(np.finfo(np.float32).max)
    assert not np.isfinite(detector.transform(huge)).all()
    assert np.isfinite(detector.decision_function(huge)).all()
    assert detector.predict(huge).tolist() == [-1]


def test_more_neighbours_than_normal_training_samples_is_rejected_before_training():
    X, _ = make_blobs([[0, 0, 0]], 60)
    detector = IBDeepDescription(n_neighbors=60, anomaly_score="knn", validation_fraction=None, **FAST)
    with pytest.raises(ValueError, match=r"n_neighbors=60 needs more than 60 .* got 60"):
        detector.fit(X)
    assert not hasattr(detector, "net_")


@pytest.mark.parametrize("n_neighbors, n_reference, n_normal, rank", [
    (5, 300, 300, 5),  # every normal sample is a reference: the rank itself
    (5, 1000, 3000, 2),  # a third of them: the 2nd nearest of them stands for the 5th of all
    (5, 1000, 7000, 2),  # 0.7 rounds to 1, but a reference scored as training data is its own 1st
    (1, 1000, 7000, 1),  # unless the nearest is what was asked for
    (5, 1000, 20000, 2),
    (6, 1000, 2000, 3),
    (20, 20, 60, 7),
    (2999, 1000, 3000, 999),  # a reference sample must still leave itself out
])
def test_reference_rank_shrinks_with_the_share_of_samples_kept(n_neighbors, n_reference, n_normal, rank):
    assert _reference_rank(n_neighbors, n_reference, n_normal) == rank


def test_a_capped_reference_searches_the_proportional_rank(blobs):
    X, y, X_unseen = blobs
    # 120 normal training samples, 30 of them references: the 8th nearest of
    # all is about the 2nd nearest of the references.
    detector = IBDeepDescription(
        anomaly_score="knn", n_neighbors=8, validation_fraction=None, max_references=30, **FAST
    ).fit(X, y)
    assert detector.n_neighbors_ == 2
    expected = _kth_nearest_brute_force(detector.transform(X_unseen), detector.reference_embeddings_, 2)
    np.testing.assert_allclose(-detector.score_samples(X_unseen), expected, rtol=1e-4)
    # The default score on rows searches that rank in both spaces, and scales each by it.
    detector = IBDeepDescription(n_neighbors=8, validation_fraction=None, max_references=30, **FAST).fit(X, y)
    assert (detector.anomaly_score_, detector.n_neighbors_) == ("knn+input", 2)
    parts = (detector.reference_embeddings_, detector.reference_inputs_)
    scales = [np.median(_kth_nearest_brute_force(part, part, 3)) for part in parts]
    np.testing.assert_allclose(detector.neighbor_scales_, scales, rtol=1e-5)
    ratios = [
        _kth_nearest_brute_force(queries, part, 2) / scale
        for queries, part, scale in zip((detector.transform(X_unseen), X_unseen), parts, scales)
    ]
    np.testing.assert_allclose(-detector.score_samples(X_unseen), np.sqrt(ratios[0] * ratios[1]), rtol=1e-4)
    # The default reference ("auto": up to 1,000) keeps all 120.
    whole = IBDeepDescription(anomaly_score="knn", n_neighbors=8, validation_fraction=None, **FAST)
    assert whole.fit(X, y).n_neighbors_ == 8
