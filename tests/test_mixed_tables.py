"""Tables with text, boolean and empty cells: saved, loaded and scored from Python and the command line."""

import csv
import io
import sys
import zipfile

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from ibdetect import IBDeepDescription
from ibdetect._model_file import PREPARATION_MEMBER
from ibdetect.cli import main
from ibdetect.persistence import load, save
from ibdetect.preprocessing import TableCells, make_preprocessor

pytest.importorskip("skops")

COLUMNS = ["amount", "hour", "country", "channel", "web"]
# The defaults, as a new user fits: the promise on unseen categories is theirs.
FIT_OPTIONS = ["--random-state", "0"]


def cells(n=200, seed=0):
    """Rows as a CSV file holds them: numbers, text, booleans, and empty cells in each kind of column."""
    rng = np.random.RandomState(seed)
    rows = []
    for i in range(n):
        amount = "" if i % 29 == 0 else f"{rng.lognormal(3, 0.3):.2f}"
        country = "" if i % 31 == 0 else str(rng.choice(["FR", "DE", "IT"]))
        rows.append([amount, str(rng.randint(8, 20)), country, str(rng.choice(["card", "cash"])), str(rng.choice(["true", "false"]))])
    return rows


def as_array(rows):
    X = np.array(rows, dtype=object)
    X[X == ""] = np.nan
    return X


def write_csv(path, rows, header=COLUMNS):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def with_country(rows, country):
    return [[*row[:2], country, *row[3:]] for row in rows]


@pytest.fixture(scope="module")
def fitted(fast):
    X = as_array(cells())
    return make_pipeline(make_preprocessor(X), IBDeepDescription(**fast)).fit(X), X


def saved(model):
    file = io.BytesIO()
    save(model, file)
    file.seek(0)
    return file


def test_a_pipeline_with_the_table_preparation_loads_as_it_was_saved(fitted):
    model, X = fitted
    loaded = load(saved(model))
    assert [name for name, _ in loaded.steps] == [name for name, _ in model.steps]
    assert isinstance(loaded[0][0], TableCells)
    rows = as_array(with_country(cells(21, seed=1)[1:], "US"))
    np.testing.assert_array_equal(loaded.decision_function(rows), model.decision_function(rows))
    assert list(loaded[:-1].get_feature_names_out()) == list(model[:-1].get_feature_names_out())


def test_any_scikit_learn_step_loads_without_running_code(blobs, fast):
    X, y, _ = blobs
    model = make_pipeline(PCA(4), IBDeepDescription(**fast)).fit(X, y)
    loaded = load(saved(model))
    np.testing.assert_allclose(loaded.decision_function(X), model.decision_function(X), rtol=1e-6)
    with zipfile.ZipFile(saved(model)) as archive:
        assert PREPARATION_MEMBER in archive.namelist()


def test_a_lone_scaler_stays_in_the_header(blobs, fast):
    from sklearn.preprocessing import StandardScaler

    X, y, _ = blobs
    model = make_pipeline(StandardScaler(), IBDeepDescription(**fast)).fit(X, y)
    with zipfile.ZipFile(saved(model)) as archive:
        assert PREPARATION_MEMBER not in archive.namelist()


def test_without_skops_saving_and_loading_a_preparation_say_how_to_install_it(fitted, monkeypatch):
    model, _ = fitted
    file = saved(model)
    # A module set to None in sys.modules is one that cannot be imported.
    monkeypatch.setitem(sys.modules, "skops.io", None)
    for attempt in (lambda: save(model, io.BytesIO()), lambda: load(file)):
        with pytest.raises(ImportError, match=r'pip install "ibdetect\[tables\]"'):
            attempt()


# -- the command line -------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    write_csv(folder / "train.csv", cells())
    # Rows without gaps (the first row has one in each column that has any).
    normal = cells(21, seed=1)[1:]
    write_csv(folder / "test.csv", normal + with_country(normal, "US"))
    assert main(["fit", str(folder / "train.csv"), "-o", str(folder / "model.ibdetect"), *FIT_OPTIONS]) == 0
    return folder


def read_scores(path):
    with open(path, newline="") as file:
        return np.array([float(row["decision_function"]) for row in csv.DictReader(file)])


def test_fit_score_and_info_take_text_boolean_and_empty_cells(folder, capsys):
    assert main(["score", str(folder / "model.ibdetect"), str(folder / "test.csv"), "-o", str(folder / "scores.csv")]) == 0
    scores = read_scores(folder / "scores.csv")
    assert np.isfinite(scores).all()
    # A country never seen in training makes each row more anomalous.
    assert (scores[20:] < scores[:20]).all()
    capsys.readouterr()
    assert main(["info", str(folder / "model.ibdetect")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "preparation: TableCells, ColumnTransformer" in out
    assert any(line.startswith("features: 5 columns, encoded as ") and "(amount, hour, country, channel, web)" in line for line in out)


def test_the_saved_model_loads_as_a_model_file_and_matches_columns_by_name(folder):
    model = load(folder / "model.ibdetect")
    assert list(model.feature_names_in_) == COLUMNS
    # The same rows with their columns in another order score the same.
    rows = cells(10, seed=2)
    order = [4, 2, 0, 3, 1]
    write_csv(folder / "shuffled.csv", [[row[i] for i in order] for row in rows], [COLUMNS[i] for i in order])
    write_csv(folder / "ordered.csv", rows)
    for name in ("shuffled", "ordered"):
        assert main(["score", str(folder / "model.ibdetect"), str(folder / f"{name}.csv"), "-o", str(folder / f"{name}.out")]) == 0
    np.testing.assert_array_equal(read_scores(folder / "shuffled.out"), read_scores(folder / "ordered.out"))


def test_without_skops_fit_says_how_to_install_it_before_training(folder, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "skops.io", None)
    monkeypatch.setattr(IBDeepDescription, "fit", lambda *args, **kwargs: pytest.fail("training started"))
    assert main(["fit", str(folder / "train.csv"), "-o", str(folder / "other.ibdetect"), *FIT_OPTIONS]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.csv has text or empty cells" in err and 'pip install "ibdetect[tables]"' in err
    assert not (folder / "other.ibdetect").exists()


def test_a_cell_that_pandas_reads_as_missing_is_a_gap(tmp_path, capsys):
    rows = cells(120)
    marked = [row[:] for row in rows]
    marked[5][0] = "N/A"
    features = {}
    for name, table in (("clean", rows), ("marked", marked)):
        write_csv(tmp_path / f"{name}.csv", table)
        assert main(["fit", str(tmp_path / f"{name}.csv"), "-o", str(tmp_path / f"{name}.ibdetect"), *FIT_OPTIONS]) == 0
        features[name] = load(tmp_path / f"{name}.ibdetect")[-1].n_features_in_
    # "N/A" leaves the amounts numbers: the same encoded features as without it.
    assert features["marked"] == features["clean"]


def test_a_preparation_a_model_file_would_refuse_is_not_saved(fitted, monkeypatch, tmp_path):
    from ibdetect import _model_file

    model, _ = fitted
    monkeypatch.setattr(_model_file, "MAX_PREPARATION_ELEMENTS", 10)
    with pytest.raises(ValueError, match="The pipeline cannot be saved: .*arrays hold more than 10 numbers"):
        save(model, tmp_path / "model.ibdetect")
    assert not (tmp_path / "model.ibdetect").exists()


def test_the_warning_about_stray_texts_names_the_csv_column(tmp_path):
    rows = cells(100)
    rows[3][0] = "?"
    write_csv(tmp_path / "stray.csv", rows)
    with pytest.warns(UserWarning, match="Column 'amount' holds numbers but for 1 cell"):
        assert main(["fit", str(tmp_path / "stray.csv"), "-o", str(tmp_path / "stray.ibdetect"), *FIT_OPTIONS]) == 0
