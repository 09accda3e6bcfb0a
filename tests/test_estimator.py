"""The scikit-learn face of the detector: fit, predict and score, its fitted attributes,
and the input and parameters it refuses."""

import re
import warnings

import numpy as np
import pytest
from skorch.callbacks import EarlyStopping
from torch import nn

from ibdetect import IBDeepDescription


@pytest.mark.parametrize("loss", ["ib", "mcdd", "svdd"])
def test_unseen_class_scores_below_known_classes(blobs, loss, fast, roc_auc):
    X, y, X_unseen = blobs
    # A threshold placed on 36 held-out samples rather than 12: with 12 the
    # share of training samples flagged varies from 2% to 11% with the seed.
    detector = IBDeepDescription(loss=loss, validation_fraction=0.3, **{**fast, "max_epochs": 20}).fit(X, y)
    assert roc_auc(detector, X, X_unseen) > 0.95
    assert (detector.predict(X_unseen) == -1).mean() > 0.9
    assert (detector.predict(X) == 1).mean() > 0.9


def test_fit_without_labels_describes_one_class(blobs, fast, roc_auc):
    X, _, X_unseen = blobs
    detector = IBDeepDescription(**{**fast, "max_epochs": 20}).fit(X)
    assert detector.classes_.tolist() == [1]
    assert detector.centers_.shape == (1, 8)
    assert roc_auc(detector, X, X_unseen) > 0.9


def test_fitted_attributes(fitted_blobs, fast):
    detector, _ = fitted_blobs
    assert detector.classes_.tolist() == [0, 1, 2]
    assert detector.centers_.shape == (3, 8)
    assert isinstance(detector.centers_, np.ndarray)
    assert detector.n_features_in_ == 6
    assert detector.device_ == "cpu"
    assert np.isfinite(detector.offset_)
    assert len(detector.net_.history) == fast["max_epochs"]
    assert detector.anomaly_score_ == "knn+input"
    assert detector.reference_embeddings_.shape[1] == 8
    assert detector.reference_inputs_.shape == (len(detector.reference_embeddings_), 6)


def test_string_labels_and_nearest_class(blobs, fast):
    X, y, _ = blobs
    names = np.array(["ant", "bee", "cat"])[y]
    detector = IBDeepDescription(**{**fast, "max_epochs": 20}).fit(X, names)
    assert detector.classes_.tolist() == ["ant", "bee", "cat"]
    assert (detector.predict_class(X) == names).mean() > 0.95


# The known-anomaly term pushes anomalies away from the centres, which the
# "distance" score reads directly; "knn" gains less (measured: 0.77 -> 0.95
# against 0.88 -> 0.90 ROC AUC here), as the user guide says.
@pytest.mark.parametrize("anomaly_score, min_gain", [("distance", 0.1), ("knn", 0.005)])
def test_labelled_anomalies_are_not_a_class_and_help_detect_their_kind(anomaly_score, min_gain, fast, roc_auc):
    # An unseen class close to class 0, of which 20 samples are labelled -1.
    rng = np.random.RandomState(0)
    centres = np.array([[-6, 0, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0], [0, 6, 0, 0, 0, 0]])
    X = np.vstack([rng.normal(c, 1.0, (40, 6)) for c in centres])
    y = np.repeat([0, 1, 2], 40)
    X_near = rng.normal([-6, 0, 2.5, 0, 0, 0], 1.0, (60, 6))
    X_train = np.vstack([X, X_near[:20]])
    y_train = np.r_[y, -np.ones(20, dtype=int)]
    params = {**fast, "max_epochs": 20, "anomaly_score": anomaly_score}
    semi_supervised = IBDeepDescription(**params).fit(X_train, y_train)
    assert semi_supervised.classes_.tolist() == [0, 1, 2]
    normal_only = IBDeepDescription(**params).fit(X, y)
    # Judged on the 40 samples of that class that were not labelled.
    gain = roc_auc(semi_supervised, X, X_near[20:]) - roc_auc(normal_only, X, X_near[20:])
    assert gain > min_gain


def test_text_minus_one_marks_known_anomalies(blobs, fast):
    # As in a label column read from a CSV file: "-1" is text among class names.
    X, y, X_unseen = blobs
    labels = np.array(["ant", "bee", "cat"])[y]
    y_train = np.concatenate([labels, np.full(5, "-1")])
    detector = IBDeepDescription(**fast).fit(np.vstack([X, X_unseen[:5]]), y_train)
    assert detector.classes_.tolist() == ["ant", "bee", "cat"]
    assert "train_anomaly" in detector.net_.history[-1]


def test_object_labels_with_known_anomalies(blobs, fast):
    X, y, X_unseen = blobs
    labels = np.array(["ant", "bee", "cat"], dtype=object)[y]
    y_train = np.concatenate([labels, np.array([-1] * 5, dtype=object)])
    detector = IBDeepDescription(**fast).fit(np.vstack([X, X_unseen[:5]]), y_train)
    assert detector.classes_.tolist() == ["ant", "bee", "cat"]


def test_fit_predict_trains_on_the_labels_as_fit_does(blobs, fast):
    # scikit-learn's OutlierMixin drops y: the known anomalies would train
    # as normal data of one class.
    X, y, X_unseen = blobs
    X_train, y_train = np.vstack([X, X_unseen[:10]]), np.concatenate([y, np.full(10, -1)])
    detector = IBDeepDescription(**fast)
    labels = detector.fit_predict(X_train, y_train)
    assert detector.classes_.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(labels, IBDeepDescription(**fast).fit(X_train, y_train).predict(X_train))
    assert (labels[-10:] == -1).mean() > 0.5


@pytest.mark.parametrize("callback", [EarlyStopping(patience=2), EarlyStopping, ("stop", EarlyStopping())])
def test_a_callback_monitoring_validation_with_nothing_held_out_names_the_fix(blobs, fast, callback):
    X, y, _ = blobs
    detector = IBDeepDescription(**fast, validation_fraction=None, callbacks=[callback])
    with pytest.raises(ValueError, match="fit holds out nothing to validate on .*EarlyStopping monitors 'valid_loss'; "
                                         "set its monitor to 'train_loss'"):
        detector.fit(X, y)
    assert not hasattr(detector, "net_")
    detector.set_params(callbacks=[EarlyStopping(monitor="train_loss", patience=2)]).fit(X, y)
    # Held out, the validation loss is there to monitor.
    IBDeepDescription(**fast, validation_fraction=0.2, callbacks=[callback]).fit(X, y)


@pytest.mark.parametrize("shape, hint", [
    ((20, 8, 8), "X.reshape(len(X), -1), with input_shape=(1, 8, 8) for the CNN"),
    ((20, 3, 8, 8), "X.reshape(len(X), -1), with input_shape=(3, 8, 8) (channels, height, width) for the CNN"),
    # Channels last, as images are stored.
    ((20, 8, 8, 3), "X.transpose(0, 3, 1, 2).reshape(len(X), -1), with input_shape=(3, 8, 8) for the CNN"),
    ((20, 2, 4, 4, 4), "X.reshape(len(X), -1)."),
])
def test_images_as_they_come_are_refused_with_the_reshape(fast, shape, hint):
    images = np.random.RandomState(0).rand(*shape)
    reshape = f"X has shape {shape}, but the detector takes one flat row per sample: pass "
    with pytest.raises(ValueError, match=re.escape(reshape + hint)):
        IBDeepDescription(**fast).fit(images)
    detector = IBDeepDescription(**fast).fit(images.reshape(len(images), -1))
    with pytest.raises(ValueError, match=re.escape(hint)):
        detector.decision_function(images)


def test_svdd_ignores_class_labels(blobs, fast):
    X, y, _ = blobs
    labelled = IBDeepDescription(loss="svdd", **fast).fit(X, y)
    unlabelled = IBDeepDescription(loss="svdd", **fast).fit(X)
    assert labelled.classes_.tolist() == [1]
    np.testing.assert_array_equal(labelled.score_samples(X), unlabelled.score_samples(X))


@pytest.mark.parametrize("params, named", [
    ({"loss": "mcdd", "beta": 2.0}, "beta=2.0 (only loss='ib' has it)"),
    ({"loss": "svdd", "margin": 1.0}, "margin=1.0 (only loss='ib' has it)"),
    ({"mcdd_lambda": 0.5}, "mcdd_lambda=0.5 (only loss='mcdd' has it)"),
    ({"anomaly_weight": 2.0}, "anomaly_weight=2.0 (it weighs known anomalies, and y labels none -1)"),
    ({"loss": "svdd", "priors": [1, 2, 3]}, "priors=[1, 2, 3] (loss='svdd' has one centre)"),
])
def test_a_loss_parameter_this_fit_does_not_use_is_named(blobs, fast, params, named):
    # A grid over beta with loss="mcdd" would otherwise tie at every point.
    X, y, _ = blobs
    with pytest.warns(UserWarning, match=re.escape(f"These parameters have no effect on this fit: {named}.")) as caught:
        IBDeepDescription(**fast, **params).fit(X, y)
    assert caught[0].filename == __file__


@pytest.mark.parametrize("params", [{"loss": "ib", "beta": 2.0, "margin": 1.0}, {"loss": "mcdd", "mcdd_lambda": 0.5}])
def test_loss_parameters_in_use_raise_no_warning(blobs, fast, params):
    X, y, X_unseen = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        IBDeepDescription(**fast, **params, anomaly_weight=2.0).fit(np.vstack([X, X_unseen[:5]]), np.r_[y, [-1] * 5])


def test_outlier_api_is_consistent(blobs, fast):
    X, y, X_unseen = blobs
    detector = IBDeepDescription(anomaly_score="distance", **fast).fit(X, y)
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


def test_dataframe_input_records_feature_names(blobs, fast):
    pd = pytest.importorskip("pandas")
    X, y, _ = blobs
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    detector = IBDeepDescription(**fast).fit(frame, y)
    assert detector.feature_names_in_.tolist() == list(frame.columns)
    assert detector.get_feature_names_out().tolist() == [f"ibdeepdescription{i}" for i in range(8)]
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        detector.score_samples(frame.rename(columns={"f0": "other"}))


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(blobs, bad, fast):
    X, y, _ = blobs
    X = X.copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        IBDeepDescription(**fast).fit(X, y)


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
def test_unusable_shapes_are_rejected(X, match, fast):
    with pytest.raises(ValueError, match=match):
        IBDeepDescription(**fast).fit(X)


def test_mismatched_y_length(blobs, fast):
    X, y, _ = blobs
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        IBDeepDescription(**fast).fit(X, y[:-1])


def test_only_known_anomalies_is_rejected(blobs, fast):
    X, _, _ = blobs
    with pytest.raises(ValueError, match="at least one sample must be normal"):
        IBDeepDescription(**fast).fit(X, -np.ones(len(X)))


def test_continuous_targets_are_rejected(blobs, fast):
    X, _, _ = blobs
    with pytest.raises(ValueError, match="Unknown label type"):
        IBDeepDescription(**fast).fit(X, np.linspace(0, 1, len(X)))


@pytest.mark.parametrize("params, match", [
    ({"beta": 1.0}, "'beta' parameter"),
    ({"beta": 0.5}, "'beta' parameter"),
    ({"contamination": 0.7}, "'contamination' parameter"),
    ({"loss": "softmax"}, "'loss' parameter"),
    ({"encoder": "resnet"}, "'encoder' parameter"),
    ({"batch_size": 1}, "'batch_size' parameter"),
    ({"n_jobs": 0}, "'n_jobs' parameter"),
])
def test_invalid_parameters_are_rejected_at_fit(blobs, params, match, fast):
    X, y, _ = blobs
    with pytest.raises(ValueError, match=match):
        IBDeepDescription(**{**fast, **params}).fit(X, y)


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
    ({"device": "gpu"}, r"device='gpu' is not a torch device name \(a GPU is 'cuda'\); use 'auto', 'cpu' or 'cuda'\.$"),
    ({"device": "tpu"}, r"device='tpu' is not a torch device name; use 'auto', 'cpu' or 'cuda'\.$"),
    ({"device": "meta"}, "device='meta' cannot be used here"),
    ({"device": "xla"}, r"device='xla' cannot be used here, with this machine and torch build \(.*\); use 'auto' or 'cpu'\.$"),
    ({"encoder": WrongInputSize}, "The encoder cannot embed a batch of shape \\(2, 6\\): mat1 and mat2"),
    ({"encoder": WrongInputSize(input_shape=(6,), embedding_dim=3)}, "The encoder cannot embed a batch"),
    ({"encoder": ThreeDimensionalOutput}, "must return embeddings of shape .*, got \\(2, 1, 8\\)"),
    ({"encoder": TupleOutput}, "must return embeddings of shape \\(n_samples, dim\\), got tuple"),
])
def test_inconsistent_parameters_are_clear_errors(blobs, params, match, fast):
    X, y, _ = blobs
    with pytest.raises(ValueError, match=match):
        IBDeepDescription(**{**fast, **params}).fit(X, y)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_sample_that_overflows_the_network_is_an_anomaly(blobs, fast):
    # Found by the property tests: the float32 network turns this finite
    # row into NaN, and a NaN score compared as normal in predict.
    X, y, _ = blobs
    detector = IBDeepDescription(**fast).fit(X, y)
    huge = np.array([[-1, -1, -1, -1, -1, 1]]) * float(np.finfo(np.float32).max)
    assert not np.isfinite(detector.transform(huge)).all()
    assert np.isfinite(detector.decision_function(huge)).all()
    assert detector.predict(huge).tolist() == [-1]


def test_a_warning_of_a_search_points_at_the_line_that_runs_it(blobs, fast):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from ibdetect.metrics import anomaly_roc_auc_scorer

    X, y, X_unseen = blobs
    search = GridSearchCV(IBDeepDescription(**fast, loss="mcdd"), {"beta": [2.0, 8.0]}, scoring=anomaly_roc_auc_scorer,
                          cv=StratifiedKFold(2, shuffle=True, random_state=0))
    with pytest.warns(UserWarning, match="beta=(2|8).0 \\(only loss='ib' has it\\)") as caught:
        search.fit(np.vstack([X, X_unseen[:10]]), np.r_[y, [-1] * 10])
    assert {warning.filename for warning in caught if "no effect" in str(warning.message)} == {__file__}


@pytest.mark.parametrize("method", [
    "decision_function", "score_samples", "predict", "predict_class", "class_distances", "transform", "explain",
])
def test_every_method_of_an_unfitted_detector_says_it_is_not_fitted(method):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="IBDeepDescription instance is not fitted yet"):
        getattr(IBDeepDescription(), method)(np.zeros((3, 4)))


@pytest.mark.parametrize("bad, error, message", [
    ("nan", ValueError, r"X holds NaN \(gaps\): fill them first, or put ibdetect.preprocessing.make_preprocessor\(X\)"),
    ("text", ValueError, r"X holds text \(column 'party' holds 'n'\): put ibdetect.preprocessing.make_preprocessor"),
    ("sparse", TypeError, r"dense data is required.*OneHotEncoder\(sparse_output=False\)"),
])
def test_gaps_text_and_sparse_input_are_refused_with_what_to_put_before_the_detector(bad, error, message):
    pd = pytest.importorskip("pandas")
    from scipy import sparse

    X = np.random.RandomState(0).normal(size=(50, 3))
    fitted = IBDeepDescription(max_epochs=1, random_state=0).fit(X)
    inputs = {
        "nan": np.where(X > 1.5, np.nan, X),
        "text": pd.DataFrame(X, columns=list("abc")).assign(party="n"),
        "sparse": sparse.csr_matrix(X),
    }
    with pytest.raises(error, match=message):
        IBDeepDescription(max_epochs=1).fit(inputs[bad])
    if bad == "nan":
        # A gap among the labels is scikit-learn's to name, not a gap in X.
        with pytest.raises(ValueError, match="Input y contains NaN"):
            IBDeepDescription(max_epochs=1).fit(X, np.where(np.arange(50) == 3, np.nan, 1.0))
    if bad != "text":  # a frame of four columns is refused for its width first
        with pytest.raises(error, match=message):
            fitted.score_samples(inputs[bad])


@pytest.mark.parametrize("labels, flagged", [
    (lambda n: np.arange(n) % 10 == 0, "True and False"),
    (lambda n: (np.arange(n) % 10 == 0).astype(int), r"0 and 1 \(1 on 10% of the samples\)"),
])
def test_labels_that_look_like_outlier_flags_warn_that_they_train_as_two_classes(labels, flagged):
    import warnings

    X = np.random.RandomState(0).normal(size=(60, 3))
    with pytest.warns(UserWarning, match=rf"y holds only {flagged}: they train as two known normal classes.*"
                                         r"pass -1 for the anomalies: y = np.where\(") as caught:
        IBDeepDescription(max_epochs=1, random_state=0).fit(X, labels(len(X)))
    assert caught[0].filename == __file__
    from ibdetect.exceptions import FlagLabelsWarning

    assert caught[0].category is FlagLabelsWarning and caught[0].message.labels.startswith(("True", "0 and 1"))
    # Two classes of about equal size named 0 and 1 are classes.
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="y holds only")
        IBDeepDescription(max_epochs=1, random_state=0).fit(X, np.arange(len(X)) % 2)
