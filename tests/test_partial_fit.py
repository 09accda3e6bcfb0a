"""partial_fit: training on batch after batch, close to one fit on all of them."""

import io

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from ibdetect import IBDeepDescription, _streaming
from ibdetect._anomaly_score import input_scales, input_units, neighbor_radii
from ibdetect.persistence import load, save


@pytest.fixture
def stream(make_blobs, blob_centres):
    """Rows of the three blobs in a random order, their labels, and rows of an unseen class."""
    X, y = make_blobs(blob_centres, 200)
    order = np.random.RandomState(0).permutation(len(X))
    unseen, _ = make_blobs([(0, -6, 6, 0, 0, 0)], 60, seed=1)
    return X[order], y[order], unseen


def auc(detector, normal, unseen):
    scores = -detector.score_samples(np.vstack([normal, unseen]))
    return roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(unseen))], scores)


def test_the_first_batch_fits_as_fit_does(stream, fast):
    X, y, _ = stream
    batch = IBDeepDescription(**fast).partial_fit(X[:200], y[:200])
    fitted = IBDeepDescription(**fast).fit(X[:200], y[:200])
    np.testing.assert_array_equal(batch.decision_function(X), fitted.decision_function(X))
    assert batch.n_samples_seen_ == len(fitted.replay_inputs_) == 200 - len(fitted.calibration_scores_)


def test_ten_batches_end_close_to_one_fit_on_all_of_them(stream, make_blobs, blob_centres, fast):
    X, y, unseen = stream
    normal, _ = make_blobs(blob_centres, 40, seed=2)
    whole = IBDeepDescription(**fast).fit(X, y)
    batches = IBDeepDescription(**fast)
    for rows in np.array_split(np.arange(len(X)), 10):
        batches.partial_fit(X[rows], y[rows])
    assert abs(auc(batches, normal, unseen) - auc(whole, normal, unseen)) <= 0.01
    assert batches.n_samples_seen_ == sum(batches.class_counts_)
    # Every batch's held-out rows are counted, and a sample of them kept.
    assert batches.n_calibration_seen_ == len(batches.calibration_scores_) == len(batches.calibration_inputs_)
    assert batches.n_samples_seen_ + batches.n_calibration_seen_ == len(X)


def test_a_class_first_seen_in_a_later_batch_gets_a_centre(stream, fast):
    X, y, _ = stream
    first, later = y < 2, y == 2
    detector = IBDeepDescription(**{**fast, "max_epochs": 20}).partial_fit(X[first], y[first])
    assert detector.classes_.tolist() == [0, 1]
    new_class = X[later][:50]
    before = detector.predict(new_class)
    detector.partial_fit(X[later][50:], y[later][50:])
    assert detector.classes_.tolist() == [0, 1, 2]
    assert detector.centers_.shape[0] == 3
    assert (before == -1).mean() > 0.9 and (detector.predict(new_class) == 1).mean() > 0.9
    assert (detector.predict_class(new_class) == 2).all()


def test_text_labels_merge_in_sorted_order(stream, fast):
    X, y, _ = stream
    names = np.array(["cat", "ant", "bee"], dtype=object)[y]
    detector = IBDeepDescription(**{**fast, "max_epochs": 20}).partial_fit(X[y != 1], names[y != 1])
    detector.partial_fit(X[y == 1], names[y == 1])
    assert detector.classes_.tolist() == ["ant", "bee", "cat"]
    assert detector.class_counts_.tolist() == [180, 180, 180]
    # Each class, the earlier ones moved to their new places, is still named so.
    for label in ("ant", "bee", "cat"):
        assert (detector.predict_class(X[names == label]) == label).mean() > 0.95


@pytest.mark.parametrize("labels, message", [
    (False, "The earlier batches had labels and this one has none"),
    ("text", "This batch's labels are text, the earlier batches' numbers"),
])
def test_a_batch_unlike_the_earlier_ones_is_an_error_that_changes_nothing(stream, fast, labels, message):
    X, y, _ = stream
    detector = IBDeepDescription(**fast).partial_fit(X[:200], y[:200])
    expected = detector.decision_function(X)
    batch_labels = None if labels is False else y[200:].astype(str).astype(object)
    with pytest.raises(ValueError, match=message):
        detector.partial_fit(X[200:], batch_labels)
    with pytest.raises(ValueError, match="X has 5 features, but IBDeepDescription is expecting 6 features"):
        detector.partial_fit(X[200:, :5], y[200:])
    np.testing.assert_array_equal(detector.decision_function(X), expected)


@pytest.mark.parametrize("as_text", [False, True])
def test_a_later_batch_of_known_anomalies_alone_pushes_them_away(stream, fast, as_text):
    X, y, unseen = stream
    labels = y.astype(str).astype(object) if as_text else y
    marker = np.array(["-1"] * 20, dtype=object) if as_text else np.full(20, -1)
    detector = IBDeepDescription(**fast).partial_fit(X[:300], labels[:300])
    before = detector.score_samples(unseen[20:]).mean()
    detector.partial_fit(unseen[:20], marker)
    assert detector.classes_.tolist() == np.unique(labels).tolist()
    # Other rows of that unseen class lie farther out than before.
    assert detector.score_samples(unseen[20:]).mean() < before
    # A first batch still needs normal samples.
    with pytest.raises(ValueError, match="y marks all samples as known anomalies"):
        IBDeepDescription(**fast).partial_fit(unseen[:20], marker)


def test_known_anomalies_for_an_unlabelled_stream_name_how_to_label_it(stream, fast):
    X, _, unseen = stream
    detector = IBDeepDescription(**fast).partial_fit(X[:300])
    with pytest.raises(ValueError, match=r"had no labels and this one has labels; .*fit with y=np.ones\(len\(X\)\)"):
        detector.partial_fit(unseen[:20], np.full(20, -1))


def test_a_model_file_trains_on_as_the_detector_would(stream, fast):
    X, y, _ = stream
    detector = IBDeepDescription(**fast).partial_fit(X[:300], y[:300])
    file = io.BytesIO()
    save(detector, file)
    loaded = load(file)
    for name in ("replay_inputs_", "replay_targets_", "calibration_inputs_", "class_counts_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(detector, name))
    detector.partial_fit(X[300:], y[300:])
    loaded.partial_fit(X[300:], y[300:])
    np.testing.assert_allclose(loaded.decision_function(X), detector.decision_function(X), rtol=1e-5, atol=1e-6)


def test_a_replay_sample_of_the_reference_rows_is_written_once(stream, fast, model_file):
    X, y, _ = stream
    shared = {"replay_inputs_": "reference_inputs_"}
    detector = IBDeepDescription(**fast).partial_fit(X[:300], y[:300])
    file, header, tensors = model_file.saved(detector)
    assert header["shared_arrays"] == shared and "attributes.replay_inputs_" not in tensors
    loaded = load(file)
    # One array under both names, as fit leaves it, not two copies.
    assert loaded.replay_inputs_ is loaded.reference_inputs_
    np.testing.assert_array_equal(loaded.replay_inputs_, detector.replay_inputs_)
    # A later batch draws the reference from the replay sample anew: a copy
    # of the same rows, which is still written once.
    detector.partial_fit(X[300:400], y[300:400])
    assert detector.replay_inputs_ is not detector.reference_inputs_
    assert model_file.saved(detector)[1]["shared_arrays"] == shared
    # A cap lowered since keeps a part of the replay sample as the reference: both are written.
    detector.set_params(max_references=50).partial_fit(X[400:], y[400:])
    assert len(detector.reference_inputs_) == 50 < len(detector.replay_inputs_)
    file, header, tensors = model_file.saved(detector)
    assert header["shared_arrays"] == {} and "attributes.replay_inputs_" in tensors
    loaded = load(file)
    for name in ("replay_inputs_", "reference_inputs_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(detector, name))


def test_a_format_4_file_with_the_rows_written_twice_loads(stream, fast, model_file):
    import safetensors.torch

    X, y, _ = stream
    detector = IBDeepDescription(**fast).partial_fit(X[:300], y[:300])
    _, header, tensors = model_file.saved(detector)
    header["format_version"] = 4
    del header["shared_arrays"]
    tensors["attributes.replay_inputs_"] = tensors["attributes.reference_inputs_"].clone()
    loaded = load(model_file.of(header, safetensors.torch.save(tensors)))
    np.testing.assert_array_equal(loaded.replay_inputs_, detector.replay_inputs_)
    np.testing.assert_array_equal(loaded.decision_function(X), detector.decision_function(X))
    # Saved again, it is written in the current format, the rows once.
    assert model_file.saved(loaded)[1]["shared_arrays"] == {"replay_inputs_": "reference_inputs_"}


def test_the_calibration_sample_is_capped(stream, fast, monkeypatch):
    X, y, _ = stream
    monkeypatch.setattr(_streaming, "MAX_CALIBRATION_ROWS", 25)
    detector = IBDeepDescription(**fast)
    for rows in np.array_split(np.arange(len(X)), 4):
        detector.partial_fit(X[rows], y[rows])
    assert len(detector.calibration_scores_) == len(detector.calibration_inputs_) == 25
    assert detector.n_calibration_seen_ > 25


@pytest.mark.parametrize("validation_fraction", ["auto", 0.1])
def test_small_batches_hold_out_their_share_on_average(make_blobs, blob_centres, fast, validation_fraction):
    # 7 rows of each class a batch: a tenth of 7 rounds down to none.
    X, y = make_blobs(blob_centres, 7 * 30)
    detector = IBDeepDescription(**fast, validation_fraction=validation_fraction)
    for batch in range(30):
        rows = np.concatenate([np.flatnonzero(y == label)[7 * batch:7 * batch + 7] for label in range(3)])
        detector.partial_fit(X[rows], y[rows])
    # The first batch is a fit, whose "auto" keeps classes under 10 whole;
    # the 29 others hold out 0.7 of a row of each class on average.
    assert 40 <= detector.n_calibration_seen_ <= 80


def test_the_reservoir_keeps_every_row_equally_likely():
    # Rows 0..99 arrive in batches of 10; each is kept with probability 20/100.
    kept = np.zeros(100)
    for trial in range(2000):
        sample = np.arange(0)
        for start in range(0, 100, 10):
            positions = _streaming.reservoir(len(sample), start, 10, 20, [trial, start])
            sample = np.concatenate([sample, np.arange(start, start + 10)])[positions]
        kept[sample] += 1
    rates = kept / 2000
    assert rates.sum() == pytest.approx(20)
    # Binomial(2000, 0.2) has a standard deviation of 0.009 in rate.
    assert np.abs(rates - 0.2).max() < 0.05
    assert abs(rates[:50].mean() - rates[50:].mean()) < 0.01


def test_a_detector_of_an_earlier_version_cannot_train_on(stream, fast):
    X, y, _ = stream
    detector = IBDeepDescription(**fast).fit(X[:200], y[:200])
    del detector.n_samples_seen_
    with pytest.raises(ValueError, match="keeps none .an earlier version of ibdetect fitted it"):
        detector.partial_fit(X[200:], y[200:])


def test_a_model_file_of_a_build_without_calibration_targets_scores_but_cannot_train_on(stream, fast):
    X, y, _ = stream
    detector = IBDeepDescription(**fast).fit(X[:200], y[:200])
    del detector.calibration_targets_
    file = io.BytesIO()
    save(detector, file)
    loaded = load(file)
    np.testing.assert_array_equal(loaded.decision_function(X[200:]), detector.decision_function(X[200:]))
    with pytest.raises(ValueError, match="keeps none .an earlier version of ibdetect fitted it"):
        loaded.partial_fit(X[200:], y[200:])


def test_rows_kept_of_another_width_than_the_features_are_refused(stream, fast, model_file):
    X, y, _ = stream
    file = io.BytesIO()
    # The centre distance keeps no reference rows: the replay sample's are checked.
    save(IBDeepDescription(**fast, anomaly_score="distance").fit(X, y), file)
    header, tensors = model_file.members(file)
    header["attributes"]["n_features_in_"] = 10**9
    with pytest.raises(ValueError, match="replay_inputs_ must have 1000000000 entries along axis 1"):
        load(model_file.of(header, tensors))


@pytest.mark.parametrize("first, later", [
    (np.array(["cat", "dog"]), "horse"),     # a longer text than numpy's first dtype holds
    (np.array([0, 1], dtype=np.int8), 300),  # a larger int
    (np.array([0.0, 1.0]), 2.0),             # floats are numbers
])
def test_labels_of_a_wider_dtype_join_the_earlier_ones(stream, fast, first, later):
    X, y, _ = stream
    detector = IBDeepDescription(**fast).partial_fit(X[y < 2], first[y[y < 2]])
    detector.partial_fit(X[y == 2], np.full((y == 2).sum(), later, dtype=np.asarray([later]).dtype))
    assert detector.classes_.tolist() == [*first.tolist(), later]


def test_without_held_out_rows_batches_keep_going_and_save(stream, fast):
    X, y, _ = stream
    detector = IBDeepDescription(**fast, validation_fraction=None)
    for rows in np.array_split(np.arange(len(X)), 3):
        detector.partial_fit(X[rows], y[rows])
    assert detector.n_calibration_seen_ == 0 and len(detector.calibration_inputs_) == 0
    save(detector, io.BytesIO())


def test_a_share_of_references_keeps_a_share_of_every_batch(stream, fast):
    X, y, _ = stream
    detector = IBDeepDescription(**fast, max_references=0.5, validation_fraction=None)
    batches = np.array_split(np.arange(len(X)), 4)
    for rows in batches:
        detector.partial_fit(X[rows], y[rows])
    # Each row of each batch is kept with probability 0.5.
    replayed = {row.tobytes() for row in detector.replay_inputs_}
    kept = [np.mean([row.tobytes() in replayed for row in X[rows].astype(np.float32)]) for rows in batches]
    assert all(0.38 < share < 0.62 for share in kept), kept


@pytest.mark.parametrize("first, later, expected", [(30, 90, 30), (300, 400, 400)])
def test_a_cap_raised_between_batches_keeps_the_replay_sample_uniform(stream, fast, first, later, expected):
    # A sample that dropped rows cannot take more without favouring the new
    # batch; one that kept every row grows to the larger cap.
    X, y, _ = stream
    detector = IBDeepDescription(**fast, max_references=first, validation_fraction=None).fit(X[:150], y[:150])
    detector.set_params(max_references=later).partial_fit(X[150:], y[150:])
    assert len(detector.replay_inputs_) == expected


def test_priors_and_an_auto_score_hold_for_batches_without_every_class(stream, fast):
    X, y, unseen = stream
    labels = y.copy()
    labels[:40] = -1
    X_all = np.vstack([X[:40] + 20, X[40:]])
    detector = IBDeepDescription(**fast, priors=[0.2, 0.3, 0.5]).partial_fit(X_all[:300], labels[:300])
    assert detector.anomaly_score_ == "distance"
    # Two of the three classes and no known anomaly: "auto" stays "distance".
    batch = np.flatnonzero(y[300:] < 2) + 300
    detector.partial_fit(X_all[batch], labels[batch])
    assert detector.anomaly_score_ == "distance"


def test_images_keep_the_density_score_and_measure_the_radii_of_each_new_reference(stream, fast):
    X, y, _ = stream
    # Six features read as a 2x3 image.
    detector = IBDeepDescription(**fast, input_shape=(1, 2, 3)).partial_fit(X[:300], y[:300])
    assert detector.anomaly_score_ == "knn+density"
    detector.partial_fit(X[300:], y[300:])
    assert detector.anomaly_score_ == "knn+density"
    np.testing.assert_array_equal(detector.input_scales_, input_scales(detector.reference_inputs_))
    units = input_units(detector.reference_inputs_.astype(np.float64), detector.input_scales_)
    np.testing.assert_array_equal(detector.reference_radii_, neighbor_radii(units, detector.n_neighbors_))


def test_a_callback_that_watches_the_validation_loss_is_refused_after_the_first_batch(stream, fast):
    from skorch.callbacks import EarlyStopping

    X, y, _ = stream
    detector = IBDeepDescription(**fast, callbacks=[EarlyStopping()]).partial_fit(X[:300], y[:300])
    with pytest.raises(ValueError, match="EarlyStopping monitors 'valid_loss'; set its monitor to 'train_loss'"):
        detector.partial_fit(X[300:], y[300:])


def test_parameters_set_since_the_last_batch_are_validated(stream, fast):
    X, y, _ = stream
    detector = IBDeepDescription(**fast).partial_fit(X[:300], y[:300])
    with pytest.raises(ValueError, match="max_references"):
        detector.set_params(max_references=1.5).partial_fit(X[300:], y[300:])


@pytest.mark.parametrize("edit, message", [
    (lambda header, tensors: (header["attributes"].update(n_samples_seen_=1),
                              tensors.update({"attributes.class_counts_": torch.tensor([1, 0, 0])})),
     "must hold at most n_samples_seen_ rows"),
    (lambda header, tensors: header["attributes"].update(n_calibration_seen_=0), "must hold at most n_calibration_seen_ rows"),
    (lambda header, tensors: tensors.update({"attributes.class_counts_": -tensors["attributes.class_counts_"]}),
     "class_counts_ must be counts of at least 0"),
    # Written apart from the reference rows, as a file saved with another replay sample holds it.
    (lambda header, tensors: (header.update(shared_arrays={}), tensors.update(
        {"attributes.replay_inputs_": torch.full_like(tensors["attributes.reference_inputs_"], float("nan"))})),
     "replay_inputs_ must hold finite values"),
    (lambda header, tensors: tensors["attributes.calibration_inputs_"].fill_(float("inf")),
     "calibration_inputs_ must hold finite values"),
])
def test_rows_kept_and_their_counts_are_checked_on_load(stream, fast, edit, message, model_file):
    import safetensors.torch

    X, y, _ = stream
    file = io.BytesIO()
    save(IBDeepDescription(**fast).fit(X, y), file)
    header, tensor_bytes = model_file.members(file)
    tensors = safetensors.torch.load(tensor_bytes)
    edit(header, tensors)
    with pytest.raises(ValueError, match=message):
        load(model_file.of(header, safetensors.torch.save(tensors)))


@pytest.mark.parametrize("labelled", [True, False])
def test_a_batch_of_one_row_trains_on(stream, fast, labelled):
    X, y, _ = stream
    labels = (lambda rows: y[rows]) if labelled else (lambda rows: None)
    detector = IBDeepDescription(**fast).partial_fit(X[:300], labels(slice(0, 300)))
    seen = detector.n_samples_seen_ + detector.n_calibration_seen_
    detector.partial_fit(X[300:301], labels(slice(300, 301)))
    assert detector.n_samples_seen_ + detector.n_calibration_seen_ == seen + 1


def test_a_model_file_may_leave_the_training_rows_out(stream, fast):
    X, y, _ = stream
    detector = IBDeepDescription(**fast, anomaly_score="knn").fit(X, y)
    file = io.BytesIO()
    save(detector, file, training_rows=False)
    loaded = load(file)
    assert not any(hasattr(loaded, name) for name in ("replay_inputs_", "calibration_inputs_", "n_samples_seen_"))
    np.testing.assert_array_equal(loaded.decision_function(X), detector.decision_function(X))
    with pytest.raises(ValueError, match="saved with training_rows=False.. Fit it again"):
        loaded.partial_fit(X[:50], y[:50])
    # The detector itself keeps them.
    assert hasattr(detector, "replay_inputs_")


@pytest.mark.parametrize("form", ["class", "named list"])
def test_a_callback_given_any_way_skorch_takes_it_is_checked(stream, fast, form):
    from skorch.callbacks import EarlyStopping

    X, y, _ = stream
    callback = EarlyStopping if form == "class" else ["stop", EarlyStopping()]
    detector = IBDeepDescription(**fast, callbacks=[callback]).partial_fit(X[:300], y[:300])
    with pytest.raises(ValueError, match="EarlyStopping monitors 'valid_loss'"):
        detector.partial_fit(X[300:], y[300:])


def test_leaving_the_training_rows_out_warns_when_the_reference_keeps_its_own(stream, fast):
    X, y, _ = stream
    detector = IBDeepDescription(**fast).fit(X, y)
    assert detector.anomaly_score_ == "knn+input"
    with pytest.warns(UserWarning, match="keeps .* training rows in the file, which its scores read"):
        save(detector, io.BytesIO(), training_rows=False)


def test_priors_that_miss_a_new_class_name_the_classes_and_the_fix(stream, fast):
    X, y, _ = stream
    first = y < 2
    detector = IBDeepDescription(**fast, priors=[0.5, 0.5]).partial_fit(X[first][:200], y[first][:200])
    with pytest.raises(ValueError, match=r"priors must hold 3 .* classes_ \(\[0, 1, 2\]\), got \[0.5, 0.5\]: "
                                         r"set_params\(priors=...\) with one value per class, or priors=None"):
        detector.partial_fit(X[~first][:50], y[~first][:50])
    detector.set_params(priors=None).partial_fit(X[~first][:50], y[~first][:50])
    assert detector.classes_.tolist() == [0, 1, 2]


def test_a_stream_trains_on_every_known_anomaly_it_is_given(stream, fast, monkeypatch):
    X, y, unseen = stream
    detector = IBDeepDescription(**fast, validation_fraction=0.3).partial_fit(X[:300], y[:300])
    trained = []
    original = _streaming.training_rows

    def recorded(*args, **kwargs):
        rows, targets = original(*args, **kwargs)
        trained.append(targets)
        return rows, targets

    monkeypatch.setattr(_streaming, "training_rows", recorded)
    batch_labels = np.r_[y[300:330], np.full(10, -1)]
    detector.partial_fit(np.vstack([X[300:330], unseen[:10]]), batch_labels)
    # None of the ten is held out, where nothing would validate on it.
    assert (trained[0] == -1).sum() == 10


def test_flag_like_classes_that_a_later_batch_completes_are_warned_of(stream, fast):
    import warnings

    X, _, _ = stream
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detector = IBDeepDescription(**fast).partial_fit(X[:100], np.zeros(100, dtype=int))
    # 1 on about a tenth of the rows so far, once this batch brings the class 1.
    labels = (np.arange(20) < 12).astype(int)
    with pytest.warns(UserWarning, match=r"y holds only 0 and 1 \(1 on 1\d% of the samples\)") as caught:
        detector.partial_fit(X[100:120], labels)
    assert caught[0].filename == __file__


def test_whole_number_labels_written_as_floats_keep_a_stream_s_integer_classes(stream, fast):
    X, y, _ = stream
    detector = IBDeepDescription(**fast).partial_fit(X[:200], y[:200])
    detector.partial_fit(X[200:260], y[200:260].astype(float))
    assert detector.classes_.dtype.kind == "i" and detector.classes_.tolist() == [0, 1, 2]
    assert detector.predict_class(X[:5]).dtype.kind == "i"
