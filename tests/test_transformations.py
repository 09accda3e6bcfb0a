"""Self-labelled views: the transformation modules, and the detector trained on their views."""

import io
import pickle
import tracemalloc

import numpy as np
import pytest
import torch

from ibdetect import IBDeepDescription
from ibdetect._anomaly_score import embedding_whitening
from ibdetect.persistence import load, save
from ibdetect.transformations import RandomAffine, Rotations


def _images(n, side=6, seed=0):
    """``n`` random single-channel square images as flat float32 rows."""
    return np.random.RandomState(seed).rand(n, side * side).astype(np.float32)


@pytest.mark.parametrize("flips, n_views", [(False, 4), (True, 8)])
def test_rotations_make_every_distinct_view_of_an_asymmetric_image(flips, n_views):
    views = Rotations((1, 6, 6), flips=flips)(torch.from_numpy(_images(3)))
    assert views.shape == (3, n_views, 36)
    torch.testing.assert_close(views[:, 0], torch.from_numpy(_images(3)))
    # A random image has no symmetry: no two views of it are equal.
    for row in views:
        assert len(torch.unique(row, dim=0)) == n_views
    # Four quarter turns come back to the start.
    image = views[0, 1].reshape(1, 1, 6, 6)
    torch.testing.assert_close(torch.rot90(image, 3, dims=(2, 3)).flatten(), views[0, 0])


@pytest.mark.parametrize("input_shape", [(36,), (1, 4, 9), (4, 9)])
def test_rotations_refuse_what_is_not_a_square_image(input_shape):
    with pytest.raises(ValueError, match="square images"):
        Rotations(input_shape)


def test_random_affine_maps_are_fixed_by_their_seed_and_keep_the_row_as_view_0():
    x = torch.randn(5, 4)
    first, again, other = RandomAffine(4, seed=1), RandomAffine(4, seed=1), RandomAffine(4, seed=2)
    torch.testing.assert_close(first(x), again(x))
    assert not torch.allclose(first(x)[:, 1:], other(x)[:, 1:])
    torch.testing.assert_close(first(x)[:, 0], x)
    assert first(x).shape == (5, 8, 4)
    # The maps are buffers: they travel with the network's state.
    assert {"weights", "biases"} <= set(first.state_dict())


def test_random_affine_needs_a_view_besides_the_row():
    with pytest.raises(ValueError, match="n_views >= 2"):
        RandomAffine(4, n_views=1)


@pytest.mark.parametrize(
    "transformations, input_shape, n_views",
    [("rotations", (1, 6, 6), 4), ("rotations+flips", (1, 6, 6), 8), ("affine", None, 8), ("none", None, 1)],
)
def test_each_view_of_each_class_gets_a_centre(transformations, input_shape, n_views, fast, make_blobs):
    X, y = make_blobs(np.eye(36)[:2] * 4, 30)
    params = {**fast, "input_shape": input_shape, "transformations": transformations}
    if input_shape is not None:
        params["hidden_layer_sizes"] = (4,)
    detector = IBDeepDescription(**params).fit(X, y)
    assert detector.transformations_ == transformations
    assert detector.net_.module_.centers.shape == (2 * n_views, 8)
    # A sample's embedding is its views' side by side, as the centres are.
    assert detector.centers_.shape == (2, n_views * 8)
    assert detector.transform(X[:3]).shape == (3, n_views * 8)
    assert detector.get_feature_names_out().shape == (n_views * 8,)
    # Row c of centers_ holds class c's view centres, view t in columns t*8 to t*8+8 ...
    module_centers = detector.net_.module_.centers.detach().numpy()
    for c in range(2):
        for t in range(n_views):
            np.testing.assert_array_equal(detector.centers_[c, t * 8:(t + 1) * 8], module_centers[c * n_views + t])
    # ... so a class distance adds up each view's distance to that class's centre of the view.
    views = detector.transform(X[:3]).reshape(3, n_views, 8)
    per_view = ((views[:, None] - module_centers.reshape(1, 2, n_views, 8)) ** 2).sum(axis=-1)
    np.testing.assert_allclose(detector.class_distances(X[:3]), per_view.sum(axis=-1), rtol=1e-4)


def test_the_network_learns_to_tell_apart_the_views_of_one_unlabelled_class(make_blobs, roc_auc):
    # One normal class: the plain IB loss has nothing to separate.
    X, _ = make_blobs([[0.0] * 6], 300)
    X_unseen, _ = make_blobs([[0.0] * 5 + [5.0]], 100, seed=1)
    detector = IBDeepDescription(transformations="affine", max_epochs=10, random_state=0).fit(X)
    # Scores read every view, and still rank a class never seen below new normal samples.
    assert roc_auc(detector, make_blobs([[0.0] * 6], 100, seed=2)[0], X_unseen) > 0.95
    # The network tells the views apart: its cross-entropy over the 8 views
    # ends far below that of a guess, log(8).
    assert detector.net_.history[-1, "train_separation"] < 0.5 * np.log(8)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"transformations": "rotations"}, "set input_shape"),
        ({"transformations": "rotations", "input_shape": (1, 2, 3)}, "square images"),
        ({"transformations": "affine", "loss": "svdd"}, 'needs loss="ib" or "mcdd"'),
    ],
)
def test_transformations_that_cannot_apply_are_an_error_before_training(params, match, blobs, fast, monkeypatch):
    X, y, _ = blobs
    monkeypatch.setattr("ibdetect._training.train", lambda *args: pytest.fail("trained"))
    with pytest.raises(ValueError, match=match):
        IBDeepDescription(**{**fast, **params}).fit(X, y)


@pytest.mark.parametrize(
    "input_shape, labels, loss, expected",
    [
        ((1, 6, 6), None, "ib", "rotations"),       # images without labels
        ((1, 6, 6), [7], "ib", "rotations"),        # one labelled class
        ((1, 6, 6), [7], "mcdd", "rotations"),
        ((1, 6, 6), [0, 1], "ib", "none"),          # classes to separate already
        ((1, 6, 6), [7, -1], "ib", "none"),         # known anomalies: scored by the centre distance
        ((1, 6, 6), None, "svdd", "none"),          # a single centre has no views to tell apart
        ((1, 4, 9), None, "ib", "none"),            # not square
        (None, None, "ib", "none"),                 # rows of features
    ],
)
def test_auto_gives_one_class_of_square_images_the_quarter_turns(input_shape, labels, loss, expected, fast):
    X = _images(40)
    y = None if labels is None else np.resize(labels, len(X))
    detector = IBDeepDescription(**{**fast, "max_epochs": 1}, input_shape=input_shape, loss=loss).fit(X, y)
    assert detector.transformations_ == expected


def test_auto_leaves_images_of_one_pixel_as_they_are(fast):
    # Every quarter turn of a single pixel is the pixel: nothing to tell apart.
    params = {**fast, "max_epochs": 1, "encoder": "mlp", "input_shape": (36, 1, 1)}
    assert IBDeepDescription(**params).fit(_images(40)).transformations_ == "none"


@pytest.mark.parametrize(
    "transformations, hidden_layer_sizes, channels",
    [("rotations", None, (16, 32)), ("rotations+flips", None, (16, 32)), ("none", None, (32, 64)), ("rotations", (4, 6), (4, 6))],
)
def test_the_built_in_cnn_narrows_with_views_unless_told_its_channels(transformations, hidden_layer_sizes, channels, fast):
    params = {**fast, "max_epochs": 1, "hidden_layer_sizes": hidden_layer_sizes, "input_shape": (1, 6, 6)}
    detector = IBDeepDescription(**params, transformations=transformations).fit(_images(40))
    assert detector.net_.module_.encoder.channels == channels
    # The parameter still says what was asked: None stays None.
    assert detector.hidden_layer_sizes == hidden_layer_sizes


def test_later_batches_keep_the_views_the_first_batch_chose(fast):
    params = {**fast, "max_epochs": 1, "input_shape": (1, 6, 6)}
    detector = IBDeepDescription(**params).partial_fit(_images(40), np.zeros(40, dtype=int))
    assert detector.transformations_ == "rotations"
    # A second class would make "auto" choose no views on its own; the network learned them.
    detector.partial_fit(_images(40, seed=1), np.ones(40, dtype=int))
    assert detector.transformations_ == "rotations"
    assert detector.centers_.shape == (2, 4 * 8)


@pytest.mark.parametrize("format_version, channels", [(5, (32, 64)), (6, (8, 32))])
def test_a_file_of_an_earlier_format_with_views_loads_the_cnn_it_was_fitted_with(fast, model_file, format_version, channels):
    import safetensors.torch

    # Format 5 built the CNN with views as without, blocks of (32, 64); format
    # 6 blocks of (8, 32), unless hidden_layer_sizes said otherwise. Such a
    # file, with the parameter unset:
    X = _images(40)
    params = {**fast, "max_epochs": 1, "input_shape": (1, 6, 6), "hidden_layer_sizes": channels}
    detector = IBDeepDescription(**params, transformations="rotations").fit(X)
    _, header, tensors = model_file.saved(detector)
    header["params"]["hidden_layer_sizes"] = None
    tensor_bytes = safetensors.torch.save(tensors)
    # Read as this format, the CNN those parameters build now refuses its weights ...
    with pytest.raises(ValueError, match="the parameters build"):
        load(model_file.of(header, tensor_bytes))
    # ... read as the earlier one, it is the CNN it was fitted with, and says so.
    header["format_version"] = format_version
    loaded = load(model_file.of(header, tensor_bytes))
    assert loaded.hidden_layer_sizes == channels
    np.testing.assert_array_equal(loaded.decision_function(X), detector.decision_function(X))


@pytest.mark.parametrize("channels", [(32, 64), (8, 32)])  # before format 6; format 6
def test_a_pickle_with_views_of_an_earlier_build_trains_on_with_the_cnn_it_has(fast, channels):
    X = _images(40)
    params = {**fast, "max_epochs": 1, "input_shape": (1, 6, 6), "transformations": "rotations", "warm_start": True}
    detector = IBDeepDescription(**{**params, "hidden_layer_sizes": channels}).fit(X)
    # As an earlier build left it: its blocks, the parameter unset.
    detector.hidden_layer_sizes = None
    loaded = pickle.loads(pickle.dumps(detector))
    assert loaded.hidden_layer_sizes == channels
    loaded.fit(X)  # trains on from the old weights
    assert len(loaded.net_.history) == 2
    # A pickle of this build keeps the parameter as it was.
    now = IBDeepDescription(**{**params, "hidden_layer_sizes": None}).fit(X)
    assert pickle.loads(pickle.dumps(now)).hidden_layer_sizes is None


def test_warm_start_with_other_views_names_them(blobs, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(**fast, transformations="affine", warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="transformations='affine'; the parameters now ask for 'none'"):
        detector.set_params(transformations="none").fit(X, y)
    assert detector.transformations_ == "affine"


def test_auto_continues_a_fit_with_the_views_its_network_learned(fast):
    # A detector fitted before "auto" chose views for one class of images had none.
    params = {**fast, "max_epochs": 1, "input_shape": (1, 6, 6), "transformations": "none", "warm_start": True}
    detector = IBDeepDescription(**params).fit(_images(40))
    detector.set_params(transformations="auto").fit(_images(40, seed=1))
    assert detector.transformations_ == "none"
    assert len(detector.net_.history) == 2


def test_a_detector_with_views_saves_and_loads_its_maps(blobs, fast):
    X, y, X_unseen = blobs
    detector = IBDeepDescription(**fast, transformations="affine").fit(X, y)
    file = io.BytesIO()
    save(detector, file)
    loaded = load(file)
    assert loaded.transformations_ == "affine"
    np.testing.assert_array_equal(loaded.decision_function(X_unseen), detector.decision_function(X_unseen))


def test_a_detector_with_views_of_images_saves_and_loads_the_units_of_its_score(fast):
    X = _images(60)
    detector = IBDeepDescription(**fast, input_shape=(1, 6, 6)).fit(X[:40])
    assert detector.transformations_ == "rotations"
    file = io.BytesIO()
    save(detector, file)
    loaded = load(file)
    np.testing.assert_array_equal(loaded.embedding_whitening_, detector.embedding_whitening_)
    np.testing.assert_array_equal(loaded.decision_function(X[40:]), detector.decision_function(X[40:]))


def test_each_batch_refits_the_units_of_views_to_the_network_it_trained(fast):
    params = {**fast, "max_epochs": 1, "input_shape": (1, 6, 6)}
    detector = IBDeepDescription(**params).partial_fit(_images(40))
    first = detector.embedding_whitening_
    detector.partial_fit(_images(40, seed=1))
    assert not np.allclose(detector.embedding_whitening_, first)
    embeddings = detector.net_.embed(detector.reference_inputs_)
    np.testing.assert_array_equal(detector.embedding_whitening_, embedding_whitening(embeddings, 4))


def test_views_are_made_per_batch_never_for_the_whole_training_set(fast, monkeypatch):
    batch_rows = []
    forward = RandomAffine.forward
    monkeypatch.setattr(RandomAffine, "forward", lambda self, x: batch_rows.append(len(x)) or forward(self, x))
    X = np.random.RandomState(0).normal(size=(100_000, 4)).astype(np.float32)
    params = {**fast, "max_epochs": 1, "embedding_dim": 32, "batch_size": 1024, "transformations": "affine"}
    # Fitted first, which also imports what a first fit imports.
    IBDeepDescription(**params).fit(X[:1000])
    batch_rows.clear()
    detector = IBDeepDescription(**params)
    tracemalloc.start()
    try:
        detector.fit(X)
        fit_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        detector.score_samples(X)
        score_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Every row went through the views: in training, and once embedded after.
    assert sum(batch_rows) >= 2 * len(X)
    # Training batches, and inference blocks whose activations fit in the cache.
    assert max(batch_rows) <= 4096
    # The 8 views' embeddings of all rows would take 98 MB; fitting and
    # scoring hold a block of them at a time (about 4 MB) and a few numbers
    # per row.
    all_views = len(X) * 8 * 32 * 4
    assert fit_peak < all_views / 4
    assert score_peak < all_views / 4


@pytest.mark.parametrize(
    "input_shape, transformations, batch_size, expected",
    [
        ((1, 6, 6), "auto", "auto", 32),  # one class of images: the quarter turns
        ((1, 6, 6), "rotations+flips", "auto", 32),
        ((1, 6, 6), "none", "auto", 128),
        (None, "affine", "auto", 128),  # the views of rows
        ((1, 6, 6), "auto", 64, 64),
    ],
)
def test_auto_batches_hold_32_images_with_their_views_and_128_samples_otherwise(
    fast, input_shape, transformations, batch_size, expected
):
    params = {**fast, "max_epochs": 1, "hidden_layer_sizes": None if input_shape else (8,), "pretrain_epochs": 1}
    detector = IBDeepDescription(
        **params, input_shape=input_shape, transformations=transformations, batch_size=batch_size
    ).fit(_images(200))
    assert detector.batch_size == batch_size
    assert detector.net_.batch_size == expected
    # Pretraining sees each sample once, without views: 180 normal training rows.
    assert len(detector.pretrain_history_[0, "batches"]) == -(-180 // (128 if batch_size == "auto" else batch_size))
