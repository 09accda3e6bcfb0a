"""Explanations in the terms of a model's input columns, through the steps before the detector."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect.inspection import column_owners, explain_columns
from ibdetect.preprocessing import make_preprocessor

pytest.importorskip("captum")
pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def payments():
    rng = np.random.RandomState(0)
    return pd.DataFrame({
        "amount": rng.lognormal(3, 0.3, 200),
        "country": rng.choice(["FR", "DE"], 200),
        "hour": rng.randint(8, 20, 200).astype(float),
    })


def test_a_table_s_encoded_features_add_up_to_its_columns(payments, fast):
    model = make_pipeline(make_preprocessor(payments), IBDeepDescription(**fast)).fit(payments)
    rows = payments.iloc[:6].copy()
    rows.loc[rows.index[2], "country"] = "IT"
    explanation = explain_columns(model, rows)
    assert explanation.column_names.tolist() == ["amount", "country", "hour"]
    assert explanation.column_contributions.shape == (6, 3)
    np.testing.assert_allclose(explanation.column_contributions.sum(1), explanation.distances, rtol=1e-5)
    # The unseen country weighs most in its row.
    assert explanation.column_names[explanation.column_contributions[2].argmax()] == "country"
    # The detector's own features, as the steps name them, stay beside.
    assert len(explanation.feature_names) == explanation.contributions.shape[1] > 3
    owners, _ = column_owners(model)
    country = [name for name, owner in zip(explanation.feature_names, owners) if owner == 1]
    assert country and all("country" in name for name in country)


@pytest.mark.parametrize("steps, names", [
    ([], ["amount", "hour"]),
    ([StandardScaler()], ["amount", "hour"]),
    ([StandardScaler(), PCA(2)], ["pca0", "pca1"]),
])
def test_features_that_are_the_columns_or_mix_them_are_explained_as_they_are(payments, fast, steps, names):
    frame = payments[["amount", "hour"]]
    model = make_pipeline(*steps, IBDeepDescription(**fast)).fit(frame)
    explanation = explain_columns(model, frame.iloc[:5])
    assert explanation.column_names.tolist() == names
    np.testing.assert_allclose(explanation.column_contributions, explanation.contributions)


def test_columns_without_names_take_those_given_or_positions(payments, fast):
    X = payments[["amount", "hour"]].to_numpy()
    model = make_pipeline(StandardScaler(), IBDeepDescription(**fast)).fit(X)
    assert explain_columns(model, X[:3]).column_names.tolist() == ["x0", "x1"]
    assert explain_columns(model, X[:3], feature_names=["a", "b"]).column_names.tolist() == ["a", "b"]


def test_steps_fitted_on_named_columns_are_traced_to_them(payments, fast):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    pandas_output = make_pipeline(make_preprocessor(payments), IBDeepDescription(**fast))
    pandas_output.set_output(transform="pandas").fit(payments)
    columns = ColumnTransformer([
        ("numbers", StandardScaler(), ["amount", "hour"]),
        ("categories", OneHotEncoder(sparse_output=False), ["country"]),
    ])
    on_a_frame = make_pipeline(columns, IBDeepDescription(**fast)).fit(payments)
    for model in (pandas_output, on_a_frame):
        explanation = explain_columns(model, payments.iloc[:4])
        assert explanation.column_names.tolist() == ["amount", "country", "hour"]
        np.testing.assert_allclose(explanation.column_contributions.sum(1), explanation.distances, rtol=1e-5)
    # Tracing asked a copy: the model's own steps keep their names.
    assert pandas_output[0].named_steps["columns"].feature_names_in_.tolist() == ["amount", "country", "hour"]


def test_column_names_must_be_one_per_column_and_not_contradict_x(payments, fast):
    X = payments[["amount", "hour"]].to_numpy()
    model = IBDeepDescription(**fast).fit(X)
    with pytest.raises(ValueError, match=r"1 column names for a model of 2 columns: \['a'\]"):
        explain_columns(model, X[:3], feature_names=["a"])
    with pytest.raises(ValueError, match="feature_names names the columns of an X without names"):
        explain_columns(model, payments[["amount", "hour"]].iloc[:3], feature_names=["a", "b"])


def test_an_unfitted_model_says_so(payments):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        explain_columns(make_pipeline(StandardScaler(), IBDeepDescription()), payments[["amount", "hour"]])
