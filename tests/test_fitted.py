"""The declared fitted state: ``check_state`` for each kind of value, and ``FITTED_STATE`` against real fits."""

import numpy as np
import pytest

from ibdetect import IBDeepDescription
from ibdetect._estimator import FITTED_STATE
from ibdetect._fitted import OPTIONAL, FittedAttribute, check_state, finite, positive


def uses_reference(state):
    return state["score_"] == "knn"


# A small state of every kind: sizes named after the whole state
# (n_classes, n_features_in_), named by their first use (n_reference, dim)
# and fixed (2).
DECLARED = (
    FittedAttribute("n_features_in_", "int"),
    FittedAttribute("feature_names_in_", "names", when=OPTIONAL),
    FittedAttribute("classes_", "labels"),
    FittedAttribute("normal_labels_", "labels", nullable=True),
    FittedAttribute("score_", "text"),
    FittedAttribute("offset_", "float", check=finite),
    FittedAttribute("centers_", "array", ("n_classes", "dim"), "float64"),
    FittedAttribute("reference_", "array", ("n_reference", "dim"), "float32", when=uses_reference),
    FittedAttribute("inputs_", "array", ("n_reference", "n_features_in_"), "float32", when=uses_reference),
    FittedAttribute("scales_", "array", (2,), "float64", when=uses_reference, check=positive),
    FittedAttribute("net_", "net"),
    FittedAttribute("history_", "history", when=OPTIONAL),
)


# A change that takes the attribute out of the state.
MISSING = object()


def valid_state(**changes):
    """A state that keeps to ``DECLARED``, with ``changes`` (``MISSING`` takes an attribute out)."""
    state = {
        "n_features_in_": 6,
        "classes_": np.array(["ant", "bee", "cat"]),
        "normal_labels_": np.array(["ant", "bee", "cat"]),
        "score_": "knn",
        "offset_": -1.5,
        "centers_": np.zeros((3, 8)),
        "reference_": np.zeros((20, 8), dtype=np.float32),
        "inputs_": np.zeros((20, 6), dtype=np.float32),
        "scales_": np.array([1.0, 2.0]),
        "net_": object(),
    }
    state.update(changes)
    return {name: value for name, value in state.items() if value is not MISSING}


def test_a_state_that_keeps_to_its_declaration_passes():
    assert check_state(DECLARED, valid_state()) is None


@pytest.mark.parametrize("changes", [
    {"feature_names_in_": np.array([f"f{i}" for i in range(6)])},
    {"normal_labels_": None},  # nullable: None is a value, not a missing attribute
    {"history_": [{"epoch": 1}]},
    {"classes_": np.array([0, 1, 2]), "normal_labels_": np.array([0, 1])},
    {"classes_": np.array([0.0, 1.0, 2.0]), "offset_": np.float32(2.0)},
    {"n_features_in_": np.int64(4), "inputs_": np.zeros((20, 4), dtype=np.float32)},
    # With another score, no reference is expected.
    {"score_": "distance", "reference_": MISSING, "inputs_": MISSING, "scales_": MISSING},
])
def test_what_the_declaration_allows_passes(changes):
    assert check_state(DECLARED, valid_state(**changes)) is None


def test_net_and_history_values_are_left_to_their_owners():
    assert check_state(DECLARED, valid_state(net_="not a net", history_=42)) is None


def test_named_sizes_are_fixed_afresh_in_each_call():
    check_state(DECLARED, valid_state())
    # dim and n_reference were 8 and 20 in the last call; 4 and 10 agree as well.
    other = valid_state(
        centers_=np.zeros((3, 4)), reference_=np.zeros((10, 4), dtype=np.float32),
        inputs_=np.zeros((10, 6), dtype=np.float32),
    )
    assert check_state(DECLARED, other) is None


@pytest.mark.parametrize("changes, match", [
    # arrays: type and dtype
    ({"centers_": np.zeros((3, 8), dtype=np.float32)}, "centers_ must be an array of float64"),
    ({"centers_": [[0.0] * 8] * 3}, "centers_ must be an array of float64"),
    # arrays: number of dimensions
    ({"centers_": np.zeros(24)}, r"centers_ must have 2 dimension\(s\), got shape \(24,\)"),
    ({"scales_": np.ones((2, 1))}, r"scales_ must have 1 dimension\(s\)"),
    # arrays: a size the whole state fixes, one fixed by its first use, one fixed in the declaration
    ({"centers_": np.zeros((2, 8))}, r"centers_ must have 3 entries along axis 0 \(n_classes\)"),
    ({"inputs_": np.zeros((20, 5), dtype=np.float32)}, r"inputs_ must have 6 entries along axis 1 \(n_features_in_\)"),
    ({"reference_": np.zeros((20, 4), dtype=np.float32)}, r"reference_ must have 8 entries along axis 1 \(dim\)"),
    ({"inputs_": np.zeros((19, 6), dtype=np.float32)}, r"inputs_ must have 20 entries along axis 0 \(n_reference\)"),
    ({"scales_": np.ones(3)}, r"scales_ must have 2 entries along axis 0 \(2\)"),
    # a further check
    ({"scales_": np.array([1.0, 0.0])}, "scales_ must hold finite values above 0"),
    ({"offset_": float("nan")}, "offset_ must hold finite values"),
    # labels
    ({"classes_": np.array([])}, "classes_ must be a non-empty 1-D array"),
    ({"classes_": np.array([["ant", "bee", "cat"]])}, "classes_ must be a non-empty 1-D array"),
    ({"classes_": ["ant", "bee", "cat"]}, "classes_ must be a non-empty 1-D array"),
    ({"classes_": np.array([1j, 2j, 3j])}, "classes_ must be a non-empty 1-D array of numbers or strings"),
    ({"normal_labels_": np.array([], dtype=int)}, "normal_labels_ must be a non-empty 1-D array"),
    ({"classes_": np.array(["ant", 2, "cat"], dtype=object)}, "classes_ must hold strings only"),
    ({"classes_": np.array([0.0, np.inf, 2.0])}, "classes_ must hold finite values"),
    ({"classes_": np.array(["ant", "cat", "bee"])}, "classes_ must hold distinct labels, sorted"),
    ({"normal_labels_": np.array([0, 0])}, "normal_labels_ must hold distinct labels, sorted"),
    ({"classes_": np.array(["-1", "ant", "bee"])}, "classes_ must not hold the anomaly marker -1"),
    # names: strings, one per feature
    ({"feature_names_in_": np.array([f"f{i}" for i in range(5)])}, "feature_names_in_ must name the 6 features"),
    ({"feature_names_in_": np.array(["a", "b", "c", "d", "e", 6], dtype=object)}, "must be a 1-D array of strings"),
    ({"feature_names_in_": ["a", "b", "c", "d", "e", "f"]}, "must be a 1-D array of strings"),
    # int: a positive integer, not a bool
    ({"n_features_in_": 0}, "n_features_in_ must be a positive integer, got 0"),
    ({"n_features_in_": -6}, "n_features_in_ must be a positive integer"),
    ({"n_features_in_": 6.0}, "n_features_in_ must be a positive integer, got 6.0"),
    ({"n_features_in_": True}, "n_features_in_ must be a positive integer, got True"),
    # float: a real number, not a bool
    ({"offset_": "1.5"}, "offset_ must be a number, got '1.5'"),
    ({"offset_": False}, "offset_ must be a number, got False"),
    ({"offset_": 1j}, "offset_ must be a number"),
    # text
    ({"score_": b"knn"}, "score_ must be a string, got bytes"),
    # not nullable: None stands for a missing value
    ({"classes_": None}, "^classes_ is missing$"),
    ({"score_": None}, "^score_ is missing$"),
])
def test_each_kind_refuses_what_breaks_its_declaration(changes, match):
    with pytest.raises(ValueError, match=match):
        check_state(DECLARED, valid_state(**changes))


@pytest.mark.parametrize("changes, match", [
    # when: the score says whether the reference is there
    ({"score_": "distance"}, "^reference_ is not expected$"),
    ({"reference_": MISSING, "inputs_": MISSING, "scales_": MISSING}, "^reference_ is missing$"),
    ({"scales_": MISSING}, "^scales_ is missing$"),
    ({"score_": "distance", "reference_": MISSING, "inputs_": MISSING}, "^scales_ is not expected$"),
    # an attribute every fit holds
    ({"offset_": MISSING}, "^offset_ is missing$"),
    ({"n_features_in_": MISSING}, "^n_features_in_ is missing$"),
])
def test_attributes_are_there_exactly_when_declared(changes, match):
    with pytest.raises(ValueError, match=match):
        check_state(DECLARED, valid_state(**changes))


def test_an_undeclared_attribute_is_refused_by_name():
    with pytest.raises(ValueError, match="^unknown fitted attribute 'other_'$"):
        check_state(DECLARED, valid_state(other_=1))


def test_the_first_broken_attribute_in_declared_order_is_named():
    state = valid_state(scales_=np.ones(3), classes_=np.array([]))
    with pytest.raises(ValueError, match="^classes_ "):
        check_state(DECLARED, state)


# -- the estimator's declaration against real fits ----------------------------------


def fitted_state(detector):
    """The attributes a fit set: those ending in an underscore."""
    return {name: value for name, value in vars(detector).items() if name.endswith("_") and not name.startswith("__")}


def assert_declared_once(detector):
    state = fitted_state(detector)
    declared = {attribute.name for attribute in FITTED_STATE}
    assert sorted(set(state) - declared) == []
    assert set(state) == {attribute.name for attribute in FITTED_STATE if attribute.expected(state)}
    assert check_state(FITTED_STATE, state) is None
    return state


@pytest.mark.parametrize("anomaly_score", ["distance", "knn", "knn+input", "knn+density"])
@pytest.mark.parametrize("validation_fraction", [None, 0.25])
@pytest.mark.parametrize("pretrain_epochs", [0, 1])
def test_fitted_state_declares_every_attribute_a_fit_sets(
    blobs, fast, anomaly_score, validation_fraction, pretrain_epochs
):
    X, y, _ = blobs
    detector = IBDeepDescription(
        anomaly_score=anomaly_score, validation_fraction=validation_fraction, pretrain_epochs=pretrain_epochs,
        **{**fast, "max_epochs": 1},
    ).fit(X, y)
    state = assert_declared_once(detector)
    assert ("calibration_scores_" in state) == (validation_fraction is not None)
    assert ("pretrain_history_" in state) == (pretrain_epochs > 0)
    assert ("reference_embeddings_" in state) == (anomaly_score != "distance")
    assert ("reference_inputs_" in state) == (anomaly_score != "distance")
    assert ("reference_radii_" in state) == (anomaly_score == "knn+density")
    assert ("input_scales_" in state) == (anomaly_score == "knn+density")


@pytest.mark.parametrize("labels", ["none", "strings with known anomalies"])
def test_fitted_state_declares_the_attributes_of_a_data_frame_fit(blobs, fast, labels):
    pd = pytest.importorskip("pandas")
    X, y, X_unseen = blobs
    frame = pd.DataFrame(np.vstack([X, X_unseen[:5]]), columns=[f"f{i}" for i in range(6)])
    targets = None
    if labels != "none":
        targets = np.r_[np.array(["ant", "bee", "cat"], dtype=object)[y], np.array([-1] * 5, dtype=object)]
    state = assert_declared_once(IBDeepDescription(**{**fast, "max_epochs": 1}).fit(frame, targets))
    assert state["feature_names_in_"].tolist() == list(frame.columns)
    assert (state["normal_labels_"] is None) == (labels == "none")
