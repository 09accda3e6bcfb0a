"""Tables with categories and gaps: the default preparation before the detector."""

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from ibdetect import IBDeepDescription
from ibdetect.preprocessing import TableCells, make_preprocessor

pd = pytest.importorskip("pandas")

COUNTRIES = np.array(["FR", "DE", "IT"])


def transactions(n=240, seed=0):
    """A table of amounts and hours with two categories and a flag, and a few gaps in each kind of column."""
    rng = np.random.RandomState(seed)
    table = pd.DataFrame({
        "amount": rng.lognormal(3, 0.3, n),
        "hour": rng.randint(8, 20, n).astype(float),
        "country": rng.choice(COUNTRIES, n),
        "channel": pd.Categorical(rng.choice(["card", "cash"], n)),
        "web": rng.rand(n) < 0.5,
    })
    table.loc[::17, "amount"] = np.nan
    table.loc[::23, "country"] = None
    return table


@pytest.fixture(scope="module")
def fitted_pipeline(fast):
    table = transactions()
    return make_pipeline(make_preprocessor(table), IBDeepDescription(**fast)).fit(table), table


@pytest.mark.parametrize("column, numbers", [
    (np.array([1.5, np.nan, 3]), True),
    (np.array(["1.5", "", "3e2"], dtype=object), True),
    (np.array([1, None, 2], dtype=object), True),
    (np.array(["FR", None, "DE"], dtype=object), False),
    (np.array([True, False, True], dtype=object), False),
    (np.array(["1.5", "high", "3"], dtype=object), False),
    (np.array(["1.5", "n/a", "NA"], dtype=object), True),
])
def test_a_column_holds_numbers_when_every_cell_but_its_gaps_reads_as_one(column, numbers):
    X = np.column_stack([column, np.array(["a", "b", "a"], dtype=object)])
    preprocessor = make_preprocessor(X)
    assert preprocessor.named_steps["cells"].numeric_columns == ([0] if numbers else [])


def test_a_dataframe_s_bool_and_category_columns_hold_categories():
    table = pd.DataFrame({"n": [1, 2, 3], "b": [True, False, True], "c": pd.Categorical([1, 2, 1]), "i": pd.array([1, None, 3], dtype="Int64")})
    assert make_preprocessor(table).named_steps["cells"].numeric_columns == [0, 3]


@pytest.mark.parametrize("gap", [None, np.nan, pd.NA, pd.NaT, "", "  "])
def test_every_marker_of_a_gap_is_filled_and_flagged(gap):
    table = pd.DataFrame({"amount": pd.Series([1.0, 2.0, 3.0, 4.0], dtype=object), "country": ["FR", "DE", "FR", "IT"]})
    table.loc[1, "amount"] = gap
    table.loc[2, "country"] = gap
    preprocessor = make_preprocessor(table)
    Z = preprocessor.fit_transform(table)
    names = list(preprocessor.get_feature_names_out())
    assert np.isfinite(Z).all()
    assert Z[:, names.index("gaps__missingindicator_amount")].tolist() == [0, 1, 0, 0]
    assert Z[:, names.index("gaps__missingindicator_country")].tolist() == [0, 0, 1, 0]
    # The gap takes the median of the others, 3, standardised as they are.
    amounts = Z[:, names.index("numbers__amount")]
    assert amounts[1] == pytest.approx(amounts[2])


def test_feature_names_name_the_original_columns(fitted_pipeline):
    pipeline, table = fitted_pipeline
    names = pipeline[:-1].get_feature_names_out()
    assert len(names) == pipeline[-1].n_features_in_
    for column in table.columns:
        assert any(column in name for name in names)
    assert "categories__onehot__country_FR" in names


@pytest.mark.parametrize("as_array", [False, True])
def test_a_category_unseen_in_training_raises_that_row_s_score_and_never_fails(fitted_pipeline, as_array):
    pipeline, table = fitted_pipeline
    rows = table.dropna().iloc[:20].copy()
    unseen = rows.copy()
    unseen["country"] = "US"
    if as_array:
        # The cells as a CSV file gives them: text, numbers as text.
        rows, unseen = (frame.astype(str).to_numpy(dtype=object) for frame in (rows, unseen))
        pipeline = make_pipeline(make_preprocessor(rows), pipeline[-1]).fit(table.astype(str).replace("nan", "").to_numpy(dtype=object))
    assert (pipeline.score_samples(unseen) < pipeline.score_samples(rows)).all()


def test_a_gap_first_seen_when_scoring_is_filled_and_lowers_the_score(fitted_pipeline):
    pipeline, table = fitted_pipeline
    assert not table["hour"].isna().any()
    rows = table.dropna().iloc[:20].copy()
    gaps = rows.copy()
    gaps["hour"] = np.nan
    scores = pipeline.score_samples(gaps)
    assert np.isfinite(scores).all()
    assert (scores < pipeline.score_samples(rows)).all()


def test_text_in_a_number_column_is_an_error_naming_the_column(fitted_pipeline):
    pipeline, table = fitted_pipeline
    rows = table.iloc[:3].astype(object)
    rows.loc[rows.index[1], "amount"] = "twelve"
    with pytest.raises(ValueError, match="column 'amount' holds 'twelve', not a number"):
        pipeline.score_samples(rows)


def test_the_preparation_fits_inside_cross_validation(fast):
    table = transactions()
    pipeline = make_pipeline(make_preprocessor(table), IBDeepDescription(**fast))
    # Each fold refits the encoders on its own rows; a category a fold
    # never saw is a signal, not an error.
    scores = cross_val_score(pipeline, table, cv=3, scoring=lambda model, X, y=None: float(np.mean(model.predict(X) == 1)))
    assert (scores > 0.5).all()


def test_table_cells_checks_its_columns():
    with pytest.raises(ValueError, match=r"numeric_columns \[5\] name columns beyond the 2 of X"):
        TableCells(numeric_columns=[5]).fit(np.zeros((3, 2)))
    cells = TableCells(numeric_columns=[0]).fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="X has 3 features, but TableCells is expecting 2 features"):
        cells.transform(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"expected a table of shape \(n_samples, n_features\)"):
        make_preprocessor(np.zeros(3))


def test_a_dataframe_s_columns_are_checked_by_name(fitted_pipeline):
    pipeline, table = fitted_pipeline
    with pytest.raises(ValueError, match="The feature names should match those that were passed during fit"):
        pipeline.score_samples(table[table.columns[::-1]])


def test_a_column_of_numbers_but_for_a_stray_text_warns_that_it_is_read_as_categories():
    column = np.array([str(value) for value in range(40)] + ["?"], dtype=object)
    X = np.column_stack([column, np.array(["a"] * 41, dtype=object)])
    with pytest.warns(UserWarning, match=r"Column 0 holds numbers but for 1 cell\(s\) such as '\?', and is read as categories"):
        preprocessor = make_preprocessor(X)
    assert preprocessor.named_steps["cells"].numeric_columns == []


def test_a_column_empty_in_training_is_encoded_by_its_gaps_alone(fast):
    table = transactions()
    table["note"] = None
    pipeline = make_pipeline(make_preprocessor(table), IBDeepDescription(**fast)).fit(table)
    names = list(pipeline[:-1].get_feature_names_out())
    assert [name for name in names if "note" in name] == ["gaps__missingindicator_note"]
    rows = table.dropna(subset=["amount", "country"]).iloc[:20].copy()
    noted = rows.copy()
    noted["note"] = "late"
    assert (pipeline.score_samples(noted) < pipeline.score_samples(rows)).all()


@pytest.mark.parametrize("cell", [True, np.True_, "True", "TRUE", " true "])
def test_booleans_are_one_category_however_they_are_written(cell):
    cells = TableCells().fit_transform(np.array([[cell]], dtype=object))
    assert cells[0, 0] == "true"


@pytest.mark.parametrize("cell", [2, np.int64(2), 2.0, np.float32(2.0), "2", " 2 "])
def test_a_whole_number_code_is_one_category_however_it_is_stored(cell):
    # pandas reads a column of codes with gaps as floats: 2.0 must stay the category "2".
    cells = TableCells().fit_transform(np.array([[cell]], dtype=object))
    assert cells[0, 0] == "2"


def test_codes_stored_as_floats_when_scoring_are_the_categories_of_training():
    table = pd.DataFrame({"amount": np.arange(30.0), "grade": pd.Categorical(list("123") * 10)})
    preparation = make_preprocessor(table).fit(table)
    names = list(preparation.get_feature_names_out())
    as_floats = preparation.transform(table.assign(grade=table.grade.astype(float)))
    np.testing.assert_array_equal(as_floats, preparation.transform(table))
    assert not as_floats[:, [i for i, name in enumerate(names) if "unseen" in name]].any()


@pytest.mark.parametrize("numeric_columns, hint", [
    ([True, False], r"np.flatnonzero\(mask\)"),
    ([0.7], ""),
    (["0"], ""),
])
def test_number_columns_are_positions_not_masks_or_names(numeric_columns, hint):
    with pytest.raises(ValueError, match=rf"numeric_columns must be the positions of the number columns, ints.*{hint}"):
        TableCells(numeric_columns=numeric_columns).fit(np.array([["1", "2"], ["3", "4"]], dtype=object))


def test_table_cells_refuse_what_they_cannot_read_and_names_that_are_not_theirs():
    from scipy import sparse

    cells = TableCells(numeric_columns=[0]).fit(np.array([["1", "a"], ["2", "b"]], dtype=object))
    assert cells.get_feature_names_out().tolist() == ["x0", "x1"]
    with pytest.raises(ValueError, match="input_features should have length equal to number of features"):
        cells.get_feature_names_out(["p", "q", "r"])
    with pytest.raises(TypeError, match=r"not sparse data; pass X.toarray\(\)"):
        TableCells().fit(sparse.csr_matrix(np.eye(3)))
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        TableCells().fit(np.zeros((0, 2), dtype=object))
    with pytest.raises(ValueError, match="Reshape your data"):
        cells.transform(np.array(["1", "a"], dtype=object))
    assert TableCells().__sklearn_tags__().input_tags.allow_nan


def test_a_refit_refused_leaves_the_earlier_fit_as_it_was():
    cells = TableCells(numeric_columns=[1]).fit(pd.DataFrame({"a": ["x"], "b": ["1"]}))
    with pytest.raises(ValueError, match="beyond the 1 of X"):
        cells.fit(pd.DataFrame({"z": ["1"]}))
    cells.set_params(numeric_columns=[0])
    with pytest.raises(ValueError, match="column 'a' holds 'x', not a number"):
        cells.fit(pd.DataFrame({"a": ["x"], "q": ["y"]}))
    assert cells.feature_names_in_.tolist() == ["a", "b"] and cells.n_features_in_ == 2
