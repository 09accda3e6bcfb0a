"""What detectors of earlier versions lack, and the values they behave as.

Version 0.2.0's pickles and model files before format 3 predate some
parameters and fitted attributes; unpickling (``__setstate__``) and
``persistence.load`` fill them in from here, so that an older model scores
as it did, and refits with the same parameters (whose "auto" values may
resolve as this version does).
"""

__all__ = [
    "EARLIER_FITTED",
    "EARLIER_PARAMS",
    "earlier_cnn_channels",
    "earlier_hidden_layer_sizes",
    "upgraded_pickle_state",
    "with_unscaled_rank",
]

#: The parameters that models of version 0.2.0 (pickles, model files before
#: format 3) lack, with the values they were fitted as: they trained on the
#: samples alone, in float32, and kept the reference cap now named
#: max_references.
EARLIER_PARAMS = {"max_references": "auto", "transformations": "none", "precision": "float32"}
#: The fitted attributes they lack, likewise.
EARLIER_FITTED = {"transformations_": "none"}
#: The blocks of the built-in CNN with views, unless ``hidden_layer_sizes``
#: said otherwise, by the first model-file format that built others, in
#: files of earlier formats and pickles of the builds that wrote them:
#: before format 6 those of the CNN without views, then narrower ones.
EARLIER_CNN_CHANNELS_WITH_VIEWS = {6: (32, 64), 7: (8, 32)}


def with_unscaled_rank(state, n_neighbors):
    """``state`` (fitted attributes by name), with the ``n_neighbors_`` of a k-NN fit saved before it existed.

    Version 0.2.0 (and model files of format 1) kept no ``n_neighbors_``:
    their k-NN scores searched the ``n_neighbors``-th nearest reference,
    whatever the reference's share of the training samples, and so go on.
    """
    if state.get("anomaly_score_", "distance") != "distance":
        state.setdefault("n_neighbors_", n_neighbors)
    return state


def upgraded_pickle_state(state):
    """The ``__dict__`` of an unpickled detector, with what version 0.2.0 lacks filled in.

    Raises a ValueError for a ``"knn+density"`` detector of a development
    build before the score's input units: its radii were measured in raw
    units, which no release scores with.
    """
    if state.get("anomaly_score_") == "knn+density" and "input_scales_" not in state:
        raise ValueError(
            'This anomaly_score="knn+density" detector was pickled by a development build of ibdetect 0.3 '
            "that measured raw input units, which this version does not score with; refit it."
        )
    state = {**EARLIER_PARAMS, **state}
    if "net_" in state:
        state = {**EARLIER_FITTED, **state}
        # Only a built-in encoder, named by a string, reads hidden_layer_sizes;
        # its network tells the blocks that an earlier build gave it.
        encoder = getattr(getattr(state["net_"], "module_", None), "encoder", None)
        channels = tuple(getattr(encoder, "channels", ()))
        earlier = isinstance(state["encoder"], str) and channels in EARLIER_CNN_CHANNELS_WITH_VIEWS.values()
        hidden = earlier_hidden_layer_sizes(
            state["hidden_layer_sizes"], state["transformations_"], channels if earlier else None
        )
        state = {**state, "hidden_layer_sizes": hidden}
    return with_unscaled_rank(state, state["n_neighbors"])


def earlier_cnn_channels(format_version):
    """The blocks that the builds writing model-file ``format_version`` gave the built-in CNN with views; None for this one's."""
    later = [channels for first, channels in EARLIER_CNN_CHANNELS_WITH_VIEWS.items() if format_version < first]
    return later[0] if later else None


def earlier_hidden_layer_sizes(hidden_layer_sizes, transformations, earlier_channels):
    """``hidden_layer_sizes`` as a detector of an earlier build has it, for the same network.

    Such a build gave the built-in CNN other blocks with views
    (``earlier_channels``: the detector's network is one it built, None
    when it is not); this one builds others for None, which could not load
    the old weights in ``warm_start``, ``partial_fit`` or a model file.
    """
    if earlier_channels is not None and transformations != "none" and hidden_layer_sizes is None:
        return earlier_channels
    return hidden_layer_sizes
