"""Training: the encoder built, pretraining, the loss, callbacks, interrupts and warm starts."""

import signal
import warnings
from unittest import mock

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch.callbacks import Callback
from torch import nn

from ibdetect import EmbeddingCollapseWarning, IBDeepDescription, TrainingInterruptedWarning
from ibdetect import _training
from ibdetect.encoders import CNNEncoder
from ibdetect.exceptions import FeatureScaleWarning
from ibdetect.net import DeepDescriptionNet


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


def test_custom_encoder_class(blobs, roc_auc):
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


@pytest.mark.parametrize("input_shape, expected", [(None, "MLPEncoder"), ((1, 2, 3), "CNNEncoder")])
def test_auto_encoder_follows_input_shape(blobs, input_shape, expected):
    X, y, _ = blobs
    detector = IBDeepDescription(
        encoder="auto", input_shape=input_shape, hidden_layer_sizes=(2,), max_epochs=1, random_state=0
    )
    detector.fit(X, y)
    assert type(detector.net_.module_.encoder).__name__ == expected


def test_pretraining_fits_an_autoencoder_first(blobs, fast):
    X, y, X_unseen = blobs
    X_train = np.vstack([X, X_unseen[:5]])
    y_train = np.r_[y, -np.ones(5, dtype=int)]
    detector = IBDeepDescription(pretrain_epochs=4, **fast).fit(X_train, y_train)
    losses = [row["train_loss"] for row in detector.pretrain_history_]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert not hasattr(IBDeepDescription(**fast).fit(X, y), "pretrain_history_")
    # Pretraining changes the starting point of the description.
    plain = IBDeepDescription(**fast).fit(X_train, y_train)
    assert not np.allclose(detector.centers_, plain.centers_)


def test_pretraining_needs_a_decoder(blobs):
    X, y, _ = blobs
    with pytest.raises(ValueError, match="decoder"):
        IBDeepDescription(encoder=TwoLayerEncoder, pretrain_epochs=1, max_epochs=1).fit(X, y)


def test_verbose_zero_prints_nothing_and_one_prints_epochs(blobs, capsys, fast):
    X, y, _ = blobs
    IBDeepDescription(**fast).fit(X, y)
    assert capsys.readouterr().out == ""
    IBDeepDescription(**{**fast, "verbose": 1}).fit(X, y)
    out = capsys.readouterr().out
    assert "train_compactness" in out and "train_separation" in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == fast["max_epochs"]


def test_skorch_callbacks_are_used(blobs, fast):
    from skorch.callbacks import EarlyStopping

    X, y, _ = blobs
    stopper = EarlyStopping(monitor="train_loss", patience=1, threshold=1e9)
    with warnings.catch_warnings():
        # EarlyStopping stops training with a KeyboardInterrupt of its own.
        warnings.simplefilter("error", TrainingInterruptedWarning)
        detector = IBDeepDescription(callbacks=[stopper], **{**fast, "max_epochs": 30}).fit(X, y)
    assert len(detector.net_.history) < 30
    assert stopper.misses_ == 0  # the user's callback is copied, not trained


@pytest.mark.parametrize("callbacks", [[object()], ["EarlyStopping"], [("stop", 3)], [(1, None)]])
def test_callbacks_that_are_not_skorch_callbacks_are_a_type_error(blobs, callbacks, fast):
    X, y, _ = blobs
    with pytest.raises(TypeError, match="callbacks must hold skorch callbacks"):
        IBDeepDescription(**{**fast, "callbacks": callbacks}).fit(X, y)


def test_non_finite_training_loss_names_the_epoch(blobs, fast):
    X, y, _ = blobs
    with pytest.raises(FloatingPointError, match=r"epoch \d+"):
        IBDeepDescription(**{**fast, "lr": 1e30}).fit(X, y)


@pytest.mark.parametrize("lr", [1e3, 1e7])
def test_loss_that_grows_without_bound_is_divergence(blobs, lr, fast):
    X, y, _ = blobs
    with pytest.raises(FloatingPointError, match="over 1e\\+06 times the first batch's"):
        IBDeepDescription(**{**fast, "lr": lr}).fit(X, y)


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
def test_one_extreme_feature_value_collapsing_the_rest_warns(blobs, value, fast):
    # Batch normalisation scales by the outlier, which squeezes every other
    # sample onto one point; the outlier itself still lies far out.
    X, y, _ = blobs
    X = X.copy()
    X[5, 2] = value
    # Its column also varies far more than the others, which says which one.
    with pytest.warns(EmbeddingCollapseWarning, match="extreme feature values"), \
            pytest.warns(FeatureScaleWarning, match="feature 2 varies"):
        IBDeepDescription(**fast).fit(X, y)


def test_healthy_fit_does_not_warn(blobs, fast):
    X, y, _ = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmbeddingCollapseWarning)
        IBDeepDescription(**fast).fit(X, y)


def _wine(as_frame=False):
    from sklearn.datasets import load_wine

    return load_wine(return_X_y=True, as_frame=as_frame)[0]


def test_rows_in_very_different_units_warn_and_name_the_widest_feature(fast):
    # Wine's proline varies about 150,000 times as much as its median feature.
    message = r"feature 12 \('proline'\) varies more than 100,000 times as much as the median .*StandardScaler"
    with pytest.warns(FeatureScaleWarning, match=message) as caught:
        IBDeepDescription(**fast).fit(_wine(as_frame=True))
    # Whole as attributes, for a program (the command line) to word in its terms.
    assert caught[0].message.feature == 12 and round(caught[0].message.ratio) == 150_466
    with pytest.warns(FeatureScaleWarning, match=r"feature 12 varies") as half:
        IBDeepDescription(**fast).partial_fit(_wine()[::2])
    # Another ratio of the same order, the same text: Python shows it once,
    # not once per fold of a search.
    assert half[0].message.ratio != caught[0].message.ratio
    assert str(half[0].message) == str(caught[0].message).replace(" ('proline')", "")
    # Both point at the user's line, however deep in the library they were raised.
    assert caught[0].filename == half[0].filename == __file__


def test_the_warnings_of_fit_point_at_the_users_line_through_a_pipeline(blobs, fast):
    X, y, _ = blobs
    X = X.copy()
    X[5, 2] = 1e12
    with pytest.warns(UserWarning) as caught:
        make_pipeline(FunctionTransformer(), IBDeepDescription(**fast)).fit(X, y)
    assert {warning.category for warning in caught} == {EmbeddingCollapseWarning, FeatureScaleWarning}
    assert {warning.filename for warning in caught} == {__file__}


def test_one_extreme_value_among_many_standardised_rows_does_not_warn(fast):
    # Its variance over 20,000 rows is 51 times the others'; over a sample of
    # 1,000 rows that holds it, 1,000 times.
    X = np.random.RandomState(0).normal(size=(20_000, 5)).astype(np.float32)
    X[0, 3] = 1_000.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", FeatureScaleWarning)
        _training.warn_if_unscaled(IBDeepDescription(**fast), X, (5,))
    X[:, 3] *= 100
    with pytest.warns(FeatureScaleWarning, match="feature 3 varies more than 100,000 times"):
        _training.warn_if_unscaled(IBDeepDescription(**fast), X, (5,))


@pytest.mark.parametrize("case", ["standardised", "rare flags", "images", "later batch"])
def test_rows_in_one_unit_images_and_later_batches_do_not_warn(case, fast):
    from sklearn.preprocessing import StandardScaler

    X = _wine()
    detector = IBDeepDescription(**fast)
    if case == "standardised":
        X = StandardScaler().fit_transform(X)
    elif case == "rare flags":
        # Standardised numbers beside flags set in 1 row of 178 (variance
        # 0.006, a median far below 1/100 of the numbers'), as one-hot
        # categories and flags of gaps come.
        X = np.hstack([StandardScaler().fit_transform(X), np.eye(len(X))[:, :20] * 1.0])
    elif case == "images":
        # 13 "pixels" of very different spreads, read as an image: one unit.
        detector.set_params(input_shape=(1, 13), encoder="mlp")
    else:
        with pytest.warns(FeatureScaleWarning):
            detector.partial_fit(X[:100])
        X = X[100:]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FeatureScaleWarning)
        (detector.partial_fit if case == "later batch" else detector.fit)(X)


class InterruptAtEpoch(Callback):
    """Presses Ctrl-C at the end of an epoch: sends SIGINT, which raises KeyboardInterrupt."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            signal.raise_signal(signal.SIGINT)


def test_interrupted_training_warns_and_completes_the_fit(blobs, fast, roc_auc):
    X, y, X_unseen = blobs
    with pytest.warns(TrainingInterruptedWarning, match="interrupted in epoch 2 of 5"):
        detector = IBDeepDescription(callbacks=[InterruptAtEpoch(2)], **fast).fit(X, y)
    assert len(detector.net_.history) == 2
    np.testing.assert_array_equal(detector.centers_, detector.net_.module_.centers.detach().numpy())
    assert np.isfinite(detector.offset_) and len(detector.reference_embeddings_) > 0
    assert roc_auc(detector, X, X_unseen) > 0.9


def test_interrupt_before_the_centres_are_placed_stops_the_fit(blobs, monkeypatch, fast):
    X, y, _ = blobs
    monkeypatch.setattr(DeepDescriptionNet, "initialize_centers", lambda *args: signal.raise_signal(signal.SIGINT))
    detector = IBDeepDescription(**fast)
    with pytest.raises(KeyboardInterrupt):
        detector.fit(X, y)
    assert not [name for name in vars(detector) if name.endswith("_")]


@pytest.mark.parametrize("with_anomalies", [False, True])
def test_skorch_checkpoints_resume_training(blobs, tmp_path, with_anomalies, fast):
    from skorch.callbacks import Checkpoint, LoadInitState

    X, y, X_unseen = blobs
    if with_anomalies:
        X, y = np.vstack([X, X_unseen[:5]]), np.r_[y, -np.ones(5, dtype=int)]
    checkpoint = Checkpoint(dirname=str(tmp_path), monitor=None)
    callbacks = [checkpoint, LoadInitState(checkpoint)]
    first = IBDeepDescription(callbacks=callbacks, **fast).fit(X, y)
    # The second fit starts from the saved weights, centres and history.
    resumed = IBDeepDescription(callbacks=callbacks, **fast).fit(X, y)
    assert len(resumed.net_.history) == 2 * fast["max_epochs"]
    assert ("train_anomaly" in resumed.net_.history[-1]) == with_anomalies
    assert resumed.net_.history[-1, "train_loss"] < first.net_.history[-1, "train_loss"]


def test_warm_start_trains_on_from_the_fitted_network(blobs, monkeypatch, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(**fast).fit(X, y)
    first_net = detector.net_
    first_losses = [row["train_loss"] for row in first_net.history]
    # The centres are kept, not placed anew on the current embedding.
    monkeypatch.setattr(DeepDescriptionNet, "initialize_centers", mock.Mock(side_effect=AssertionError))
    detector.set_params(warm_start=True).fit(X, y)
    losses = [row["train_loss"] for row in detector.net_.history]
    assert losses[: fast["max_epochs"]] == first_losses and len(losses) == 2 * fast["max_epochs"]
    assert losses[fast["max_epochs"]] < first_losses[0]
    # The first network is left as it was.
    assert detector.net_ is not first_net and len(first_net.history) == fast["max_epochs"]
    # The reference (and the threshold) come from the network as it is now.
    embeddings = {tuple(row) for row in detector.transform(X)}
    assert all(tuple(row) in embeddings for row in detector.reference_embeddings_)


def test_warm_start_resumes_an_interrupted_fit(blobs, fast):
    X, y, _ = blobs
    with pytest.warns(TrainingInterruptedWarning):
        detector = IBDeepDescription(callbacks=[InterruptAtEpoch(2)], **fast).fit(X, y)
    detector.set_params(callbacks=None, warm_start=True).fit(X, y)
    assert len(detector.net_.history) == 2 + fast["max_epochs"]


def test_warm_start_before_the_first_fit_trains_a_new_network(blobs, fast):
    X, y, _ = blobs
    cold = IBDeepDescription(**fast).fit(X, y)
    warm = IBDeepDescription(warm_start=True, **fast).fit(X, y)
    np.testing.assert_array_equal(warm.decision_function(X), cold.decision_function(X))


@pytest.mark.parametrize("change, match", [
    (lambda X, y: (X, np.where(y == 2, 5, y)), "which had classes \\[0, 1, 2\\]; this data has \\[0, 1, 5\\]"),
    (lambda X, y: (X[:, :5], y), "which had 6 features; this data has 5"),
])
def test_warm_start_on_other_data_is_an_error_that_changes_nothing(blobs, change, match, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(warm_start=True, **fast).fit(X, y)
    expected = detector.decision_function(X)
    with pytest.raises(ValueError, match=match):
        detector.fit(*change(X, y))
    np.testing.assert_array_equal(detector.decision_function(X), expected)


@pytest.mark.parametrize("change, columns", [
    (lambda frame: frame.rename(columns={"f0": "z"}), r"the columns \['z', 'f1'"),
    (lambda frame: frame[frame.columns[::-1]], r"the columns \['f5', 'f4'"),
    (lambda frame: frame.to_numpy(), "no column names"),
])
def test_warm_start_on_other_columns_is_an_error_that_changes_nothing(blobs, change, columns, fast):
    pd = pytest.importorskip("pandas")
    X, y, _ = blobs
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    detector = IBDeepDescription(warm_start=True, **fast).fit(frame, y)
    expected = detector.decision_function(frame)
    with pytest.raises(ValueError, match=rf"which had the columns \['f0', 'f1', .*\]; this data has {columns}"):
        detector.fit(change(frame), y)
    assert detector.feature_names_in_.tolist() == frame.columns.tolist()
    np.testing.assert_array_equal(detector.decision_function(frame), expected)


def test_warm_start_with_another_network_is_an_error(blobs, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(warm_start=True, **fast).fit(X, y)
    with pytest.raises(ValueError, match="Training on .warm_start=True, or partial_fit. continues the previous network.*size mismatch"):
        detector.set_params(hidden_layer_sizes=(16,)).fit(X, y)
