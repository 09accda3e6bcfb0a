import argparse
import csv
import io
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import unicodedata
from numbers import Integral, Real
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

import ibdetect
from ibdetect import IBDeepDescription, __version__
from ibdetect.cli import build_parser, main
from ibdetect.cli._commands import SCALERS, SCORE_COLUMNS
from ibdetect.cli._options import add_estimator_options
from ibdetect.cli._text import printable
from ibdetect.encoders import CNNEncoder
from ibdetect import persistence
from ibdetect.persistence import load, read_info, save

# Small and quick, like the estimator tests' ``fast`` settings.
FIT_OPTIONS = "--max-epochs 2 --hidden-layer-sizes 16 --embedding-dim 4 --random-state 0".split()
FEATURES = ["f0", "f1", "f2", "f3"]
SECURITY_NOTE = "A pickle (joblib) file runs code stored in it when loaded: it loads only with --trust-pickle."


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder, so that commands name their files briefly."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def make_data(make_blobs):
    """``make_data()``: three separated classes in 4-D and their integer labels."""
    return lambda n_per_class=20: make_blobs([[-5] * 4, [0] * 4, [5] * 4], n_per_class)


def write_csv(path, header, rows):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_labelled_csv(path, X, labels):
    return write_csv(path, [*FEATURES, "label"], [[*row, label] for row, label in zip(X.tolist(), labels)])


def read_scores(path):
    with open(path, newline="") as file:
        header, *rows = csv.reader(file)
    return header, rows


def run(capsys, command, *args):
    """Exit status, stdout and stderr of ``ibdetect command args``."""
    status = main(command.split() + [str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def written_scores(path):
    return np.array([float(row[0]) for row in read_scores(path)[1]])


def python_view(model, X, names=FEATURES):
    """What a Python user gets from the model, alone or behind a scaler, on the same rows."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=names)
    if isinstance(model, Pipeline):
        classes = model[-1].predict_class(model[:-1].transform(frame))
    else:
        classes = model.predict_class(frame)
    return model.decision_function(frame), model.predict(frame), classes


def detector_in(path):
    """The detector of a model file that ``fit`` wrote, without the scaler before it."""
    model = load(path)
    return model[-1] if isinstance(model, Pipeline) else model


# -- fit, score, info ---------------------------------------------------------------


@pytest.mark.parametrize("names, anomaly", [([0, 1, 2], -1), ([0.0, 1.0, 2.0], -1.0), (["ant", "bee", "cat"], "-1")])
def test_fit_and_score_a_labelled_csv(in_tmp, capsys, names, anomaly, make_data):
    X, y = make_data()
    labels = np.array(names, dtype=object)[y]
    labels[::10] = anomaly
    write_labelled_csv("train.csv", X, labels)

    status, out, err = run(capsys, "fit train.csv --label-column label -o m.ibdetect", *FIT_OPTIONS)
    assert (status, err) == (0, "")
    assert out == "Saved the model to m.ibdetect (classes: 3, features: 4, epochs: 2).\n"
    pipeline = load("m.ibdetect")
    # Rows of features are standardised first, by default.
    assert isinstance(pipeline[0], StandardScaler)
    model = pipeline[-1]
    # Integer labels stay ints; the -1 rows are known anomalies, not a class.
    assert model.classes_.tolist() == names
    assert "train_anomaly" in model.net_.history[-1]
    assert pipeline.feature_names_in_.tolist() == FEATURES

    status, out, err = run(capsys, "score m.ibdetect train.csv --label-column label -o s.csv")
    scores, predictions, classes = python_view(pipeline, X)
    assert (status, err) == (0, "")
    assert out == f"Wrote the scores of 60 rows to s.csv (anomalies: {(predictions == -1).sum()}).\n"
    header, rows = read_scores("s.csv")
    assert header == list(SCORE_COLUMNS) and len(rows) == len(X)
    np.testing.assert_array_equal(written_scores("s.csv"), scores)
    np.testing.assert_array_equal([int(row[1]) for row in rows], predictions)
    assert [row[2] for row in rows] == [str(label) for label in classes]


def test_cli_and_python_read_anomaly_markers_among_string_labels_alike(in_tmp, capsys, make_data):
    pd = pytest.importorskip("pandas")
    X, y = make_data()
    labels = np.array(["ant", "bee", "cat"], dtype=object)[y]
    labels[[0, 25, 50]] = [" -1", "-1.0", "-1"]
    write_labelled_csv("train.csv", X, labels)
    assert run(capsys, "fit train.csv --label-column label -o m.ibdetect", *FIT_OPTIONS)[0] == 0
    from_cli = load("m.ibdetect")
    params = {"max_epochs": 2, "hidden_layer_sizes": (16,), "embedding_dim": 4, "random_state": 0}
    from_python = make_pipeline(StandardScaler(), IBDeepDescription(**params))
    from_python.fit(pd.DataFrame(X, columns=FEATURES), labels)
    # All three are known anomalies, not classes, to both.
    assert from_cli[-1].classes_.tolist() == from_python[-1].classes_.tolist() == ["ant", "bee", "cat"]
    np.testing.assert_array_equal(python_view(from_cli, X)[0], python_view(from_python, X)[0])


def test_fit_without_label_column_takes_every_column_as_a_feature(in_tmp, capsys, make_data):
    X, y = make_data()
    write_csv("train.csv", ["a", "b", "c", "d", "e"], np.c_[X, y].tolist())
    assert run(capsys, "fit train.csv -o m.ibdetect", *FIT_OPTIONS)[0] == 0
    model = load("m.ibdetect")
    assert model[-1].classes_.tolist() == [1]
    assert model.feature_names_in_.tolist() == ["a", "b", "c", "d", "e"]


def test_score_matches_columns_by_name(in_tmp, capsys, make_data):
    X, y = make_data()
    write_labelled_csv("train.csv", X, y)
    run(capsys, "fit train.csv --label-column label -o m.ibdetect", *FIT_OPTIONS)
    # Columns reversed, and no label column: each row keeps its score.
    write_csv("new.csv", FEATURES[::-1], X[:, ::-1].tolist())
    assert run(capsys, "score m.ibdetect new.csv -o s.csv")[0] == 0
    expected, _, _ = python_view(load("m.ibdetect"), X)
    np.testing.assert_array_equal(written_scores("s.csv"), expected)


def test_npy_features(in_tmp, capsys, make_data):
    X, _ = make_data()
    np.save("train.npy", X)
    assert run(capsys, "fit train.npy -o m.ibdetect", *FIT_OPTIONS)[0] == 0
    assert run(capsys, "score m.ibdetect train.npy -o s.csv")[0] == 0
    model = load("m.ibdetect")
    assert model[-1].classes_.tolist() == [1] and not hasattr(model[-1], "feature_names_in_")
    np.testing.assert_array_equal(written_scores("s.csv"), model.decision_function(X))


@pytest.mark.parametrize("image_shape, options, input_shape", [
    ((8, 8), ["--encoder", "cnn"], (1, 8, 8)),
    ((2, 8, 8), [], (2, 8, 8)),
    ((8, 8), ["--input-shape", "64"], (64,)),
])
def test_npz_images_are_flattened_and_set_input_shape(in_tmp, capsys, image_shape, options, input_shape):
    images = np.random.RandomState(0).rand(30, *image_shape).astype(np.float32)
    np.savez("images.npz", X=images, y=np.repeat([3, 7], 15))
    status, _, err = run(capsys, "fit images.npz -o m.ibdetect --max-epochs 1", *options)
    assert (status, err) == (0, "")
    model = load("m.ibdetect")
    assert model.input_shape == input_shape
    assert model.classes_.tolist() == [3, 7]
    # encoder="auto" makes images (a 3-D input_shape) go through the CNN.
    assert isinstance(model.net_.module_.encoder, CNNEncoder) == (len(input_shape) == 3)
    assert run(capsys, "score m.ibdetect images.npz -o s.csv")[0] == 0
    np.testing.assert_array_equal(written_scores("s.csv"), model.decision_function(images.reshape(30, -1)))


def test_npz_labels_under_a_named_array_with_string_anomalies(in_tmp, capsys, make_data):
    X, y = make_data()
    target = np.array(["ant", "bee", "cat"])[y]
    target[::10] = "-1"
    np.savez("train.npz", X=X, target=target)
    assert run(capsys, "fit train.npz --label-column target -o m.ibdetect", *FIT_OPTIONS)[0] == 0
    model = detector_in("m.ibdetect")
    assert model.classes_.tolist() == ["ant", "bee", "cat"]
    assert "train_anomaly" in model.net_.history[-1]


def test_verbose_fit_logs_plain_lines_when_not_on_a_terminal(in_tmp, capsys, make_data):
    X, y = make_data()
    write_labelled_csv("train.csv", X, y)
    status, out, err = run(capsys, "fit train.csv --label-column label -o m.ibdetect -v", *FIT_OPTIONS)
    assert status == 0
    # A header, its rule, one line per epoch, then the summary; no bar, no
    # carriage returns and no colour codes in a redirected log.
    lines = out.splitlines()
    assert "train_compactness" in lines[0] and len(lines) == 2 + 2 + 1
    assert lines[-1].endswith("epochs: 2).")
    assert "\r" not in out + err and "\x1b" not in out + err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, make_data):
    """A folder with a fitted model, its training CSV, and files that are wrong in some way."""
    folder = tmp_path_factory.mktemp("cli")
    X, y = make_data()
    write_labelled_csv(folder / "train.csv", X, y)
    fit = ["fit", folder / "train.csv", "--label-column", "label", "-o", folder / "model.ibdetect"]
    assert main([str(arg) for arg in fit] + [*FIT_OPTIONS, "--validation-fraction", "0.25"]) == 0
    write_csv(folder / "ragged.csv", ["a", "b"], [[1, 2], [3]])
    (folder / "open_quote.csv").write_text('a,b,c\n1,2,3\n4,"5,6\n7,8,9\n')
    write_csv(folder / "text.csv", ["a", "b"], [[1, "x"]])
    write_csv(folder / "nan.csv", ["a", "b"], [[1, "nan"], [2, 3], [4, 5]])
    write_csv(folder / "twice.csv", ["a", "b", "a"], [[1, 2, 3]])
    write_csv(folder / "gap.csv", ["a", "", "c"], [[1, 2, 3]])
    write_csv(folder / "renamed.csv", ["f0", "f1", "f2", "g3"], X.tolist())
    extreme = X.copy()
    extreme[5, 2] = 1e12
    write_labelled_csv(folder / "extreme.csv", extreme, y)
    (folder / "empty.csv").write_text("")
    (folder / "binary.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    (folder / "data.txt").write_text("1,2\n")
    np.save(folder / "flat.npy", np.arange(5.0))
    np.save(folder / "narrow.npy", X[:, :3])
    np.savez(folder / "unnamed.npz", X[:, :3])
    (folder / "random.bin").write_bytes(np.random.RandomState(0).bytes(256))
    # A pickle of a class from a module that does not exist, as a model saved
    # by another version can be.
    (folder / "foreign.joblib").write_bytes(b"cibdetect_no_such_module\nModel\n.")
    joblib.dump({"not": "a model"}, folder / "dict.joblib")
    joblib.dump(IBDeepDescription(), folder / "unfitted.joblib")
    joblib.dump(load(folder / "model.ibdetect"), folder / "model.joblib")
    write_csv(folder / "extra.csv", [*FEATURES, "note"], [[*row, 0] for row in X.tolist()])
    write_csv(folder / "extras.csv", [*FEATURES, "note", "card"], [[*row, 0, 1] for row in X.tolist()])
    write_csv(folder / "escaped.csv", [*FEATURES[:3], "f3\x1b[2J"], X.tolist())
    np.savez(folder / "bytes.npz", X=X, y=np.array([b"a", b"b", b"c"])[y])
    np.savez(folder / "dates.npz", X=X, y=np.datetime64("2024-01-01") + y)
    np.savez(folder / "struct.npz", X=np.zeros((4, 2), dtype=[("a", float), ("b", float)]))
    np.savez(folder / "times.npz", X=np.datetime64("2024-01-01T00:00:00") + X.astype(int))
    np.savez(folder / "durations.npz", X=X.astype("timedelta64[ms]"))
    huge = X.copy()
    huge[3, 1] = 1e170
    write_labelled_csv(folder / "huge.csv", huge, y)
    return folder


def test_score_leaves_out_the_label_column_the_model_was_fitted_with(workdir, capsys, tmp_path, make_data):
    X, _ = make_data()
    model = workdir / "model.ibdetect"
    status, _, err = run(capsys, "score", model, workdir / "train.csv", "-o", tmp_path / "s.csv")
    assert (status, err) == (0, "")
    np.testing.assert_array_equal(written_scores(tmp_path / "s.csv"), python_view(load(model), X)[0])


def test_a_trusted_pickle_scores_as_the_model_file(workdir, capsys, tmp_path, make_data):
    X, _ = make_data()
    data = workdir / "train.csv"
    for model in ["model.ibdetect", "model.joblib"]:
        status, _, err = run(capsys, "score --trust-pickle --label-column label", workdir / model, data,
                             "-o", tmp_path / f"{model}.csv")
        assert (status, err) == (0, "")
    np.testing.assert_array_equal(
        written_scores(tmp_path / "model.ibdetect.csv"), written_scores(tmp_path / "model.joblib.csv")
    )


@pytest.mark.parametrize("command", ["score", "explain"])
def test_a_model_without_column_names_warns_once_that_columns_are_taken_in_order(
    workdir, capsys, tmp_path, monkeypatch, make_data, command
):
    X, _ = make_data()
    # Chunks of 7 rows: the warning is the file's, not each chunk's.
    monkeypatch.setattr("ibdetect.cli._commands.CHUNK_CELLS", 4 * 7)
    # Fitted in Python on an array: the model knows no column names.
    save(IBDeepDescription(max_epochs=2, hidden_layer_sizes=(16,), embedding_dim=4, random_state=0).fit(X),
         tmp_path / "bare.ibdetect")
    status, _, err = run(capsys, f"{command} --label-column label", tmp_path / "bare.ibdetect",
                         workdir / "train.csv", "-o", tmp_path / "out.csv")
    assert status == 0
    assert err == (
        f"ibdetect: warning: the model was fitted without column names, so the columns of {workdir / 'train.csv'} "
        "are taken in their order, not matched by name; check that they are the model's, in its order\n"
    )
    status, _, err = run(capsys, f"{command} --label-column label", workdir / "model.ibdetect", workdir / "train.csv",
                         "-o", tmp_path / "named.csv")
    assert (status, err) == (0, "")


class Payload:
    """Unpickles by creating a file: what a malicious model file could do instead."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (Path(self.marker),)


@pytest.mark.parametrize("name", ["evil.joblib", "evil.ibdetect"])
@pytest.mark.parametrize("command", ["info {model}", "score {model} train.csv -o s.csv"])
def test_a_pickle_never_runs_without_trust_pickle(workdir, tmp_path, monkeypatch, capsys, name, command):
    monkeypatch.chdir(tmp_path)
    shutil.copy(workdir / "train.csv", "train.csv")
    joblib.dump(Payload(tmp_path / "payload_ran"), name)
    status, out, err = run(capsys, command.format(model=name))
    assert (status, out, err) == (1, "", OneErrorLine(f"{name} is a pickle (joblib) file"))
    assert "--trust-pickle" in err
    assert not (tmp_path / "payload_ran").exists()
    # The payload is live: trusting the file runs it.
    status, _, err = run(capsys, command.format(model=name), "--trust-pickle")
    assert (status, err) == (1, OneErrorLine(f"{name} holds a NoneType, not an IBDeepDescription model"))
    assert (tmp_path / "payload_ran").exists()


def test_a_model_file_from_other_versions_loads_with_a_one_line_warning(workdir, tmp_path, capsys):
    from test_persistence import rewrite

    shutil.copy(workdir / "model.ibdetect", tmp_path / "old.ibdetect")
    rewrite(tmp_path / "old.ibdetect", lambda header: header["versions"].update(torch="1.0.0"))
    status, out, err = run(capsys, "info", tmp_path / "old.ibdetect")
    assert status == 0 and "saved with: " in out and "torch 1.0.0" in out
    assert err.startswith("ibdetect: warning: ") and err.count("\n") == 1 and "torch 1.0.0 (here" in err


def test_info_describes_the_model(workdir, capsys):
    model = detector_in(workdir / "model.ibdetect")
    status, out, err = run(capsys, "info", workdir / "model.ibdetect")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    versions = read_info(workdir / "model.ibdetect").versions
    assert versions["ibdetect"] == __version__
    for expected in ["saved with: " + ", ".join(f"{package} {version}" for package, version in versions.items()),
                     "label column: label",
                     f"anomaly score: knn+input (neighbour {model.n_neighbors_} of "
                     f"{len(model.reference_embeddings_)} training samples kept as references)",
                     "classes: 0, 1, 2", "features: 4 (f0, f1, f2, f3)", "device: cpu", "trained in: float32",
                     f"offset: {model.offset_:.6g}", "  max_epochs           2", "  hidden_layer_sizes   16"]:
        assert expected in lines
    n = len(model.calibration_scores_)
    assert f"held out: {n} normal samples (the smallest p-value 1/{n + 1} = {1 / (n + 1):.3g})" in lines
    assert not any(line.startswith("metadata:") for line in lines)  # the label column has its own line
    history = model.net_.history
    assert any(line.startswith("epochs: 2 (") for line in lines)
    for key in ["train_loss", "train_compactness", "train_separation", "valid_loss"]:
        assert f"  {key:<20} {history[0, key]:.6g} -> {history[-1, key]:.6g}" in lines


def test_info_shows_the_metadata_saved_and_when_nothing_was_held_out(make_data, tmp_path, capsys):
    X, y = make_data()
    detector = IBDeepDescription(max_epochs=2, validation_fraction=None, random_state=0).fit(X, y)
    save(detector, tmp_path / "m.ibdetect", metadata={"source": "stream.csv", "rows": 60})
    status, out, _ = run(capsys, "info", tmp_path / "m.ibdetect")
    assert status == 0
    lines = out.splitlines()
    assert 'metadata: {"source": "stream.csv", "rows": 60}' in lines
    assert "held out: none (no p-values, --alpha, --fdr or --check-drift)" in lines


def edit_history(header):
    """Values of every JSON kind where the first and last epochs hold losses."""
    first, last = header["history"][0], header["history"][-1]
    first.update(train_loss="high", train_compactness=None)
    last.update(train_separation=[1.0], valid_loss={"value": 1.0}, note="text", flag=True)


def test_info_shows_only_the_losses_of_a_history_that_are_numbers(workdir, tmp_path, capsys):
    from test_persistence import rewrite

    model = detector_in(workdir / "model.ibdetect")
    shutil.copy(workdir / "model.ibdetect", tmp_path / "edited.ibdetect")
    rewrite(tmp_path / "edited.ibdetect", edit_history)
    status, out, err = run(capsys, "info", tmp_path / "edited.ibdetect")
    if status != 0:
        # A stricter reader may refuse such a history: then with one line.
        assert (status, out, err) == (1, "", OneErrorLine("edited.ibdetect"))
        return
    assert err == ""
    losses = [line.split()[0] for line in out.splitlines()[out.splitlines().index("parameters:") + 1:]
              if "->" in line]
    history = model.net_.history
    edited = {"train_loss", "train_compactness", "train_separation", "valid_loss"}
    assert sorted(losses) == sorted(
        key for key, value in history[-1].items() if isinstance(value, float) and key not in edited | {"dur"}
    )
    assert "valid_compactness" in losses
    assert f"  {'valid_compactness':<20} {history[0, 'valid_compactness']:.6g} -> " \
           f"{history[-1, 'valid_compactness']:.6g}" in out.splitlines()


@pytest.mark.parametrize("value", ["0.5", None, [0.5], {"loss": 0.5}, True])
def test_history_lines_leave_out_values_that_are_not_real_numbers(value):
    from skorch.history import History

    from ibdetect.cli._models import _history_lines

    history = History([{"epoch": 1, "dur": value, "train_loss": value, "valid_loss": 0.5},
                       {"epoch": 2, "dur": 0.25, "train_loss": 0.25, "valid_loss": value}])
    assert _history_lines(history) == ["epochs: 2 (0.2 s)"]


def test_history_lines_add_up_integer_durations_and_leave_out_integer_values():
    from skorch.history import History

    from ibdetect.cli._models import _history_lines

    history = History([{"epoch": 1, "dur": 3, "train_loss": 2, "valid_loss": 0.5},
                       {"epoch": 2, "dur": 10 ** 400, "train_loss": 1, "valid_loss": 0.25}])
    assert _history_lines(history) == ["epochs: 2 (inf s)", f"  {'valid_loss':<20} 0.5 -> 0.25"]


def test_an_unnamed_first_column_holds_ids_written_back_with_the_scores(in_tmp, capsys, make_data):
    pd = pytest.importorskip("pandas")
    X, y = make_data()
    frame = pd.DataFrame(X, columns=FEATURES, index=[f"row{i}" for i in range(len(X))])
    frame.assign(label=y).to_csv("train.csv")
    assert run(capsys, "fit train.csv --label-column label -o m.ibdetect", *FIT_OPTIONS)[0] == 0
    model = load("m.ibdetect")
    assert model.feature_names_in_.tolist() == FEATURES
    frame.iloc[::-1].to_csv("new.csv")
    assert run(capsys, "score m.ibdetect new.csv -o s.csv")[0] == 0
    scores = pd.read_csv("s.csv", index_col="id")
    assert list(scores.columns) == list(SCORE_COLUMNS)
    # Joined back on the ids, each row has the score Python gives it.
    expected, _, _ = python_view(model, X)
    np.testing.assert_array_equal(scores.loc[frame.index, "decision_function"], expected)


def test_scores_to_standard_output(workdir, capsys):
    status, out, err = run(capsys, "score", workdir / "model.ibdetect", workdir / "train.csv", "-o", "-")
    assert status == 0
    header, *rows = out.splitlines()
    assert header == ",".join(SCORE_COLUMNS) and len(rows) == 60
    assert err.startswith("Wrote the scores of 60 rows to standard output")


def fit_a_model_to_replace(capsys, make_data):
    """Fit m.ibdetect on train.csv in the current folder; return its bytes."""
    X, y = make_data()
    write_labelled_csv("train.csv", X, y)
    assert run(capsys, "fit train.csv --label-column label -o m.ibdetect", *FIT_OPTIONS)[0] == 0
    return Path("m.ibdetect").read_bytes()


def test_a_failed_write_keeps_the_previous_model(in_tmp, capsys, monkeypatch, make_data):
    before = fit_a_model_to_replace(capsys, make_data)

    def disk_full(model, file, **kwargs):
        file.write(b"half a model")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(persistence, "save", disk_full)
    status, _, err = run(capsys, "fit train.csv --label-column label -o m.ibdetect", *FIT_OPTIONS)
    assert status == 1 and "No space left on device" in err
    assert Path("m.ibdetect").read_bytes() == before
    assert sorted(path.name for path in in_tmp.iterdir()) == ["m.ibdetect", "train.csv"]


# -- outputs ------------------------------------------------------------------


def package_env():
    """The environment for a new Python process that imports this ibdetect."""
    package_root = str(Path(ibdetect.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])}


def score_to(capsys, workdir, output):
    return run(capsys, "score", workdir / "model.ibdetect", workdir / "train.csv", "-o", output)


def assert_scores(text):
    header, *rows = text.splitlines()
    assert header == ",".join(SCORE_COLUMNS) and len(rows) == 60


def temporary_files(*folders):
    return [path for folder in folders for path in Path(folder).glob(".*.tmp")]


def test_score_through_a_symlink_writes_its_target_and_keeps_the_link(workdir, tmp_path, capsys):
    target = tmp_path / "real" / "scores.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert score_to(capsys, workdir, link)[:3:2] == (0, "")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert_scores(target.read_text())
    assert not temporary_files(tmp_path, target.parent)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a Unix feature")
def test_score_to_a_fifo_feeds_its_reader(workdir, tmp_path, capsys):
    fifo = tmp_path / "scores"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    status, _, err = score_to(capsys, workdir, fifo)
    reader.join(timeout=60)
    assert (status, err) == (0, "")
    assert_scores(received[0])
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert not temporary_files(tmp_path)


needs_dev_stdout = pytest.mark.skipif(
    not os.path.exists("/dev/stdout") or not os.path.isdir("/proc/self/fd"), reason="/dev/stdout and /proc are Linux's"
)


@needs_dev_stdout
def test_score_to_dev_stdout_feeds_a_pipe(workdir):
    # As `ibdetect score ... -o /dev/stdout | cat`: /dev/stdout leads to pipe:[N], no file.
    command = [sys.executable, "-m", "ibdetect.cli", "score", workdir / "model.ibdetect", workdir / "train.csv",
               "-o", "/dev/stdout"]
    process = subprocess.run(command, capture_output=True, env=package_env(), timeout=120)
    assert process.returncode == 0, process.stderr.decode()
    assert_scores(process.stdout.decode())
    # The summary line stays out of the scores.
    assert process.stderr.decode().startswith("Wrote the scores of 60 rows to /dev/stdout")


@needs_dev_stdout
def test_score_to_dev_stdout_writes_the_file_the_shell_opened(workdir, tmp_path, capsys):
    # As `ibdetect score ... -o /dev/stdout > scores.csv`: the shell's file is written, not replaced.
    scores = tmp_path / "scores.csv"
    scores.write_text("an older and longer text than the scores start with\n" * 100)
    inode = os.stat(scores).st_ino
    # Descriptor 1 is the shell's file while the command runs here (its prints go to capsys).
    saved = os.dup(1)
    try:
        with open(scores, "r+b") as shells_file:
            os.dup2(shells_file.fileno(), 1)
            status, _, err = score_to(capsys, workdir, "/dev/stdout")
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    assert (status, err) == (0, "")
    assert os.stat(scores).st_ino == inode
    assert_scores(scores.read_text())
    assert not temporary_files(tmp_path)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="/proc is Linux's")
def test_score_to_a_descriptors_name_writes_through_a_pipe_and_a_file(workdir, tmp_path, capsys):
    read_end, write_end = os.pipe()
    received = []
    reader = threading.Thread(target=lambda: received.append(os.fdopen(read_end).read()), daemon=True)
    reader.start()
    try:
        status, out, err = score_to(capsys, workdir, f"/proc/self/fd/{write_end}")
    finally:
        os.close(write_end)
    reader.join(timeout=60)
    assert (status, err) == (0, "") and out.startswith("Wrote the scores of 60 rows")
    assert_scores(received[0])
    # A link to such a name leads to the file behind the descriptor, which is written as it is.
    scores = tmp_path / "scores.csv"
    scores.write_text("old\n")
    link = tmp_path / "link.csv"
    with open(scores, "r+") as file:
        link.symlink_to(f"/proc/self/fd/{file.fileno()}")
        inode = os.stat(scores).st_ino
        assert score_to(capsys, workdir, link)[:3:2] == (0, "")
    assert os.stat(scores).st_ino == inode and link.is_symlink()
    assert_scores(scores.read_text())
    assert not temporary_files(tmp_path)


def test_score_to_a_character_device_writes_through(workdir, capsys, monkeypatch):
    if not stat.S_ISCHR(os.stat(os.devnull).st_mode):
        pytest.skip(f"{os.devnull} is not a character device here")

    def no_rename(*args):
        raise AssertionError("a device node is never replaced")

    # Were the device replaced (as root), the rename would do it: it fails instead.
    monkeypatch.setattr(os, "replace", no_rename)
    assert score_to(capsys, workdir, os.devnull)[:3:2] == (0, "")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_new_output_gets_the_umasks_mode_and_an_existing_one_keeps_its_mode(workdir, tmp_path, capsys):
    existing = tmp_path / "existing.csv"
    existing.write_text("old\n")
    existing.chmod(0o604)
    umask = os.umask(0o027)
    try:
        assert score_to(capsys, workdir, tmp_path / "new.csv")[0] == 0
        assert score_to(capsys, workdir, existing)[0] == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE(existing.stat().st_mode) == 0o604
    assert_scores(existing.read_text())


def test_sigterm_while_writing_leaves_the_previous_model_and_no_temporary_file(
    in_tmp, capsys, monkeypatch, make_data
):
    before = fit_a_model_to_replace(capsys, make_data)

    def terminated_half_way(model, file, **kwargs):
        file.write(b"half a model")
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(persistence, "save", terminated_half_way)
    received = []

    def record(signum, frame):
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, record)
    try:
        status, out, err = run(capsys, "fit train.csv --label-column label -o m.ibdetect", *FIT_OPTIONS)
        handler_after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert (status, out, err) == (143, "", OneErrorLine("terminated; the output was left as it was"))
    assert Path("m.ibdetect").read_bytes() == before
    assert sorted(path.name for path in in_tmp.iterdir()) == ["m.ibdetect", "train.csv"]
    # The command's own handler took the signal, and the previous one is back.
    assert received == [] and handler_after is record


@pytest.mark.parametrize("argv, message", [
    ("fit train.csv -o folder", "folder is a folder; name a file to write"),
    (f"fit train.csv -o {os.path.join('train.csv', 'm')}", "'train.csv' is not a folder"),
    (f"fit train.csv -o {os.path.join('missing', 'm')}", "there is no folder 'missing'"),
    (f"fit train.csv -o {os.path.join('locked', 'm')}", "cannot write in the folder 'locked': Permission denied"),
    ("fit bytes.npz -o m", "labels of type bytes8 cannot be saved in a model file"),
    ("fit dates.npz -o m", "labels of type datetime64[D] cannot be saved in a model file"),
])
def test_fit_fails_before_training(workdir, tmp_path, monkeypatch, capsys, argv, message):
    if "locked" in argv and hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root writes in a read-only folder")
    monkeypatch.chdir(tmp_path)
    for name in ("train.csv", "bytes.npz", "dates.npz"):
        shutil.copy(workdir / name, name)
    Path("folder").mkdir()
    Path("locked").mkdir(mode=0o500)

    def training(self, X, y=None):
        raise AssertionError("training started")

    monkeypatch.setattr(IBDeepDescription, "fit", training)
    assert run(capsys, argv, "--label-column", "label" if argv.startswith("fit train.csv") else "y") == (
        1, "", OneErrorLine(message)
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGPIPE is a Unix convention")
@pytest.mark.parametrize("options", [[], ["--fdr", "0.05"]])  # --fdr writes from its scratch file
def test_a_reader_that_stops_early_ends_score_quietly(workdir, tmp_path, options):
    np.save(tmp_path / "many.npy", np.random.RandomState(0).normal(size=(20_000, 4)))
    # Far more than a pipe holds, so that the command is still writing when the reader leaves.
    command = [
        sys.executable, "-m", "ibdetect.cli", "score", workdir / "model.ibdetect", tmp_path / "many.npy", "-o", "-",
        *options,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=package_env())
    first_line = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read()
    process.stderr.close()
    # As `ibdetect score ... -o - | head -1`: no traceback, no "Exception ignored".
    assert (process.wait(timeout=120), err.decode()) == (141, "")
    assert first_line.decode().strip().startswith(",".join(SCORE_COLUMNS))


def test_help_and_version_do_not_import_torch():
    code = (
        "import sys\n"
        "from ibdetect.cli import main\n"
        "for argv in (['--help'], ['--version']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules, 'sklearn' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[-1] == "False False"


@pytest.mark.parametrize("scale, scaler", [("standard", "StandardScaler"), ("minmax", "MinMaxScaler"),
                                           ("robust", "RobustScaler"), ("none", None)])
def test_scale_saves_the_scaler_with_the_detector(in_tmp, capsys, scale, scaler, make_data):
    X, y = make_data()
    # Features in unrelated units, as tables have them.
    X = X * [1.0, 10.0, 100.0, 1000.0]
    write_labelled_csv("train.csv", X, y)
    code, _, err = run(capsys, f"fit train.csv --label-column label --scale {scale} -o m.ibdetect", *FIT_OPTIONS)
    assert code == 0
    # Unscaled, the widest column is named on one line, with the option that fixes it.
    warned = [line for line in err.splitlines() if "warning" in line]
    assert len(warned) == (scale == "none")
    assert all(re.fullmatch(
        r"ibdetect: warning: column 'f3' varies more than 100 times as much as the median column, so it makes most of the "
        r"distances; --scale standard \(the default for rows\) puts the columns in one unit", line
    ) for line in warned)
    model = load("m.ibdetect")
    assert (type(model[0]).__name__ if isinstance(model, Pipeline) else None) == scaler
    assert run(capsys, "score m.ibdetect train.csv -o s.csv")[0] == 0
    np.testing.assert_array_equal(written_scores("s.csv"), python_view(model, X)[0])
    _, out, _ = run(capsys, "info m.ibdetect")
    assert f"scaler: {scaler or 'none'}" in out.splitlines()


def test_scale_names_every_scaler_a_model_file_holds():
    assert {scaler for scaler in SCALERS.values() if scaler is not None} == set(persistence.SCALERS.values())
    assert sorted(SCALERS) == ["auto", "minmax", "none", "robust", "standard"]


# -- options ------------------------------------------------------------------


@pytest.mark.parametrize("options, params", [
    ([], {}),
    (["--max-epochs", "20", "--beta", "3"], {"max_epochs": 20, "beta": 3.0}),
    (["--loss", "svdd", "--encoder", "cnn"], {"loss": "svdd", "encoder": "cnn"}),
    (["--device", "cpu"], {"device": "cpu"}),
    (["--input-shape", "1,28,28"], {"input_shape": (1, 28, 28)}),
    (["--hidden-layer-sizes", "128,64"], {"hidden_layer_sizes": (128, 64)}),
    (["--priors", "0.25,0.75"], {"priors": (0.25, 0.75)}),
    (["--contamination", "auto"], {"contamination": "auto"}),
    (["--contamination", "0.05"], {"contamination": 0.05}),
    (["--random-state", "0"], {"random_state": 0}),
    (["--validation-fraction", "none"], {"validation_fraction": None}),
    (["--random-state", "none"], {"random_state": None}),
])
def test_estimator_options(options, params):
    args = build_parser("fit").parse_args(["fit", "data.csv", "-o", "m.ibdetect", *options])
    assert args.params == params
    IBDeepDescription(**params)  # they are the estimator's parameters


def test_every_parameter_a_shell_can_express_is_an_option(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    estimator_section = capsys.readouterr().out.split("estimator options:")[1]
    for name in IBDeepDescription().get_params():
        option = "--" + name.replace("_", "-")
        # Python objects cannot come from a shell; -v/--verbose is a flag of
        # fit's own, and a new model has nothing to warm-start from.
        assert (option in estimator_section) == (name not in {"accelerator", "callbacks", "verbose", "warm_start"}), name
    # Documented from the estimator's docstring: the first paragraph only, as
    # the later ones are about Python objects.
    text = " ".join(estimator_section.split())
    assert "Passes over the training data. (default: 50)" in text
    assert '"mlp" otherwise. (default: auto)' in text and "callable" not in text


class Toy(BaseEstimator):
    """An estimator with a parameter for each kind of constraint."""

    _parameter_constraints = {
        "count": [Interval(Integral, 1, None, closed="left")],
        "rate": [StrOptions({"auto", "fast"}), Interval(Real, 0, 1, closed="both")],
        "sizes": ["array-like", None],
        "flag": ["boolean"],
        "seed": ["random_state"],
        "name": [str],
        "hook": [callable, None],
        "extras": [list, None],
    }

    def __init__(self, count=1, rate="auto", sizes=None, flag=False, seed=None, name="x", hook=None,
                 extras=None):
        self.count, self.rate, self.sizes, self.flag = count, rate, sizes, flag
        self.seed, self.name, self.hook, self.extras = seed, name, hook, extras


@pytest.mark.parametrize("option, text, value", [
    ("--count", "3", 3),
    ("--rate", "fast", "fast"),
    ("--rate", "0.5", 0.5),
    ("--sizes", "3,4", (3, 4)),
    ("--sizes", "0.5", (0.5,)),
    ("--sizes", "none", None),
    ("--flag", "True", True),
    ("--seed", "none", None),
    ("--name", "none", "none"),
])
def test_options_follow_any_estimators_parameter_constraints(option, text, value):
    parser = argparse.ArgumentParser()
    add_estimator_options(parser, Toy)
    assert parser.parse_args([option, text]).params == {option[2:]: value}
    # Python objects only: no option.
    assert "--hook" not in parser.format_help() and "--extras" not in parser.format_help()


# -- errors -------------------------------------------------------------------


def has_control_characters(text):
    return any(unicodedata.category(char) == "Cc" for char in text)


class OneErrorLine:
    """Equal to a stderr text that is one error line holding ``fragment``, with no traceback."""

    def __init__(self, fragment):
        self.fragment = fragment

    def __eq__(self, text):
        return (
            text.startswith("ibdetect: error: ") and text.count("\n") == 1 and text.endswith("\n")
            and self.fragment in text and "Traceback" not in text and not has_control_characters(text[:-1])
        )

    def __repr__(self):
        return f"<one error line holding {self.fragment!r}>"


@pytest.mark.parametrize("argv, status, message", [
    ("fit missing.csv -o m", 1, "missing.csv: No such file or directory"),
    ("score missing.joblib train.csv -o s", 1, "missing.joblib: No such file or directory"),
    ("fit data.txt -o m", 1, "data.txt: unknown data format '.txt'; use .csv, .csv.gz, .npy or .npz"),
    ("fit ragged.csv -o m", 1, "ragged.csv, line 3: 1 field(s), but the header has 2"),
    ("fit open_quote.csv -o m", 1, "open_quote.csv, line 3: 2 field(s), but the header has 3 (a quote left open?)"),
    ("fit text.csv -o m --scale standard", 1, "text.csv, line 2: column 'b' holds 'x', not a number"),
    ("fit empty.csv -o m", 1, "empty.csv is empty; expected a header row"),
    ("fit binary.csv -o m", 1, "binary.csv is not a UTF-8 text file"),
    ("fit twice.csv -o m", 1, "twice.csv: column name(s) 'a' appear more than once"),
    ("fit train.csv --label-column class -o m", 1, "train.csv has no column 'class' (columns: f0"),
    ("fit flat.npy -o m", 1, "flat.npy: expected one sample per row, got a 1-D array"),
    ("fit narrow.npy --label-column y -o m", 1, "narrow.npy: an .npy file holds no labels"),
    ("fit unnamed.npz -o m", 1, "unnamed.npz has no array 'X' (arrays: arr_0)"),
    ("fit nan.csv -o m --scale standard", 1, "cannot fit a model on nan.csv: it holds gaps (NaN); fill them, or fit "
                                             "with --scale auto (the default)"),
    ("fit train.csv --label-column label --beta 0.5 -o m", 1, "The 'beta' parameter of IBDeepDescription must be"),
    (f"fit train.csv -o {os.path.join('nowhere', 'm')}", 1, "there is no folder 'nowhere'"),
    ("info random.bin", 1, "random.bin is not a model file written by 'ibdetect fit'. If it is a pickle (joblib), "
                           "loading it runs code stored in it: pass --trust-pickle only if you trust"),
    ("info random.bin --trust-pickle", 1, "random.bin is not a model file\n"),
    ("info model.joblib", 1, "model.joblib is a pickle (joblib) file; loading a pickle runs code stored in it, "
                             "so it loads only with --trust-pickle"),
    ("score model.joblib train.csv -o s", 1, "model.joblib is a pickle (joblib) file"),
    ("info foreign.joblib", 1, "foreign.joblib is not a model file written by 'ibdetect fit'"),
    ("score train.csv train.csv -o s", 1, "train.csv is a data file, not a model: the model comes first (MODEL DATA)"),
    ("info flat.npy --trust-pickle", 1, "flat.npy is a data file, not a model"),
    ("score unnamed.npz train.csv -o s", 1, "unnamed.npz is a data file, not a model: the model comes first"),
    ("info foreign.joblib --trust-pickle", 1,
     "needs code this installation lacks (No module named 'ibdetect_no_such_module')"),
    ("fit train.csv --label-column label --hidden-layer-sizes 0 -o m", 1, "hidden_layer_sizes must hold positive integers"),
    ("fit train.csv --label-column label --lr 1e3 --max-epochs 3 -o m", 1, "Training diverged; lower lr"),
    ("fit train.csv --label-column label --hidden-layer-sizes 1.5 -o m", 1, "hidden_layer_sizes must hold positive integers"),
    ("info dict.joblib --trust-pickle", 1, "dict.joblib holds a dict, not an IBDeepDescription model"),
    ("info unfitted.joblib --trust-pickle", 1, "unfitted.joblib holds an IBDeepDescription that was never fitted"),
    ("score model.ibdetect extra.csv -o s", 1, "unexpected note (the model takes its own columns: name a column of "
     "row ids with --id-column, a label column with --label-column, and leave others out with --ignore-column)"),
    ("score model.ibdetect extras.csv -o s", 1, "unexpected note, card (the model takes its own columns"),
    ("score model.ibdetect train.csv --id-column serial -o s", 1, "train.csv has no column 'serial' (columns: f0"),
    ("score model.ibdetect renamed.csv -o s", 1, "the model's feature columns: missing f3; unexpected g3"),
    ("score model.ibdetect narrow.npy -o s", 1, "X has 3 features, but StandardScaler is expecting 4"),
    ("fit train.csv --max-epochs 1.5 -o m", 2, "argument --max-epochs: expected INT, got '1.5'"),
    ("fit train.csv --encoder resnet -o m", 2, "expected auto|cnn|mlp, got 'resnet' (see 'ibdetect fit --help')"),
    ("fit train.csv", 2, "the following arguments are required: -o/--output"),
    ("fit train.csv -o train.csv", 1, "train.csv is also an input of this command; write to another file"),
    ("score model.ibdetect train.csv -o model.ibdetect", 1, "model.ibdetect is also an input"),
    ("score model.joblib train.csv --label-column label -o ./train.csv", 1, "./train.csv is also an input"),
    ("fit train.csv -o -", 1, "a model cannot be written to standard output"),
    ("fit gap.csv -o m", 1, "gap.csv: column 2 has no name; only the first column may be unnamed"),
    ("fit train.csv -o .", 1, ". is a folder; name a file to write"),
    (f"fit train.csv -o {os.path.join('train.csv', 'm')}", 1, "'train.csv' is not a folder"),
    ("fit bytes.npz -o m", 1, "bytes.npz: labels of type bytes8 cannot be saved in a model file; labels must be"),
    ("fit dates.npz -o m", 1, "dates.npz: labels of type datetime64[D] cannot be saved in a model file"),
    ("fit struct.npz -o m", 1, "struct.npz: the features are a structured array (fields a, b); save a plain array"),
    ("fit times.npz -o m", 1, "times.npz: the features are dates or durations (datetime64[s]); save them as numbers"),
    ("fit durations.npz -o m", 1, "durations.npz: the features are dates or durations (timedelta64[ms])"),
    ("score model.ibdetect durations.npz -o s", 1, "durations.npz: the features are dates or durations"),
    ("fit huge.csv --label-column label -o m", 1,
     "huge.csv: row 4, column 'f1' holds 1e+170, too large for float32 (at most 3.402823e+38 in magnitude)"),
    ("score model.ibdetect huge.csv -o s", 1, "huge.csv: row 4, column 'f1' holds 1e+170, too large for float32"),
    ("score model.ibdetect escaped.csv -o s", 1, "missing f3; unexpected f3\\x1b[2J"),
    ("", 2, "the following arguments are required: COMMAND"),
])
def test_errors_are_one_line(workdir, monkeypatch, capsys, argv, status, message):
    monkeypatch.chdir(workdir)
    inputs = {name: (workdir / name).read_bytes() for name in ("train.csv", "model.ibdetect", "model.joblib")}
    assert run(capsys, argv) == (status, "", OneErrorLine(message))
    assert not (workdir / "m").exists() and not (workdir / "s").exists()
    # Nothing was written over an input, and no temporary file was left.
    assert {name: (workdir / name).read_bytes() for name in inputs} == inputs
    assert not list(workdir.glob(".*.tmp"))


def test_a_fit_that_fails_says_first_the_warnings_that_explain_it(workdir, monkeypatch, capsys):
    # One value of 1e12 collapses the embedding, and makes its column vary
    # far more than the others: the warning names the column and the fix.
    monkeypatch.chdir(workdir)
    argv = "fit extreme.csv --label-column label --max-epochs 2 --validation-fraction none --scale none -o m"
    status, out, err = run(capsys, argv)
    warning, error = err.splitlines()
    assert (status, out) == (1, "")
    assert re.fullmatch(r"ibdetect: warning: column 'f2' varies more than 1e\d+ times as much as the median "
                        r"column, .* --scale standard \(the default for rows\) puts the columns in one unit", warning)
    assert error + "\n" == OneErrorLine("the embedding collapsed")
    assert not (workdir / "m").exists()


@pytest.mark.parametrize("target, argv", [
    ("ibdetect.cli._commands.read_data", "fit train.csv --label-column label -o m"),
    ("ibdetect.cli._commands.read_chunks", "score model.ibdetect train.csv -o s"),
    ("ibdetect.persistence.load", "info model.ibdetect"),
])
def test_running_out_of_memory_is_one_line(workdir, monkeypatch, capsys, target, argv):
    def too_large(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.8 GiB for an array")

    monkeypatch.setattr(target, too_large)
    monkeypatch.chdir(workdir)
    assert run(capsys, argv) == (1, "", OneErrorLine("out of memory: the data or a file is too large to read"))
    assert not (workdir / "m").exists() and not (workdir / "s").exists()


@pytest.mark.parametrize("command", ["fit train.csv --label-column label", "score model.ibdetect train.csv"])
def test_an_empty_output_name_is_refused_before_any_work(workdir, monkeypatch, capsys, command):
    monkeypatch.chdir(workdir)
    before = sorted(path.name for path in workdir.iterdir())
    assert run(capsys, command, "-o", "") == (1, "", OneErrorLine("the output (--output) is an empty name"))
    assert sorted(path.name for path in workdir.iterdir()) == before


def test_unexpected_exceptions_are_not_hidden(workdir, monkeypatch):
    def broken_fit(self, X, y=None):
        raise RuntimeError("a bug")

    monkeypatch.setattr(IBDeepDescription, "fit", broken_fit)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["fit", str(workdir / "train.csv"), "-o", str(workdir / "m")])


def press_ctrl_c_in_epoch_2(monkeypatch):
    from ibdetect.net import DeepDescriptionNet

    on_epoch_end = DeepDescriptionNet.on_epoch_end

    def interrupted(self, net, **kwargs):
        on_epoch_end(self, net, **kwargs)
        if len(self.history) == 2:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(DeepDescriptionNet, "on_epoch_end", interrupted)


def press_ctrl_c_after_training(monkeypatch):
    from ibdetect.net import DeepDescriptionNet

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    # The trained net's first pass over the training data follows training.
    monkeypatch.setattr(DeepDescriptionNet, "embed", interrupted)


@pytest.mark.parametrize("press_ctrl_c, message", [
    (press_ctrl_c_in_epoch_2, "training was interrupted; nothing was written"),
    (press_ctrl_c_after_training, "interrupted; nothing was written"),
])
def test_ctrl_c_exits_130_and_writes_nothing(in_tmp, capsys, monkeypatch, press_ctrl_c, message, make_data):
    X, y = make_data()
    write_labelled_csv("train.csv", X, y)
    press_ctrl_c(monkeypatch)
    status, out, err = run(capsys, "fit train.csv --label-column label -o m --max-epochs 4")
    assert (status, out, err) == (130, "", OneErrorLine(message))
    assert sorted(path.name for path in in_tmp.iterdir()) == ["train.csv"]


# -- text on the terminal -------------------------------------------------------------


@pytest.mark.parametrize("text, shown", [
    ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
    ("\x1b]52;c;cGF5bG9hZA==\x1b\\", "\\x1b]52;c;cGF5bG9hZA==\\x1b\\\\"),
    ("a\nb\tc\rd\x00", "a\\x0ab\\x09c\\x0dd\\x00"),
    ("\x9b2J\x85\x7f", "\\x9b2J\\x85\\x7f"),
    ("\u2028\u202eabc", "\\u2028\\u202eabc"),
    ("\udcff", "\\udcff"),
    # A backslash is doubled, so that typed text cannot pass for an escape.
    ("a\\x1b\x1b", "a\\\\x1b\\x1b"),
    ("C:\\data", "C:\\\\data"),
    # Format characters: invisible, or reordering what follows.
    ("a\u200bb\u200c\u200d\u2060\ufeff\u00ad\u061c\u2066", "a\\u200bb\\u200c\\u200d\\u2060\\ufeff\\xad\\u061c\\u2066"),
    ("\U000e0041", "\\U000e0041"),
    ("Größe, βήτα, 漢字 😀", "Größe, βήτα, 漢字 😀"),
])
def test_printable_escapes_control_characters_and_keeps_letters(text, shown):
    assert printable(text) == shown


@pytest.fixture(scope="module")
def escaped_model(tmp_path_factory, make_data):
    """A model file whose every string (features, classes, label column, versions) holds escape sequences."""
    from test_persistence import rewrite

    folder = tmp_path_factory.mktemp("escaped")
    X, y = make_data()
    features = ["f0\x1b[2J", "f1\x9b31m", "f2\x7f", "f3\u202e"]
    labels = np.array(["\x1b]0;title\x07", "\x1b]52;c;cGF5bG9hZA==\x07", "Größe"], dtype=object)[y]
    rows = [[*row, label] for row, label in zip(X.tolist(), labels)]
    write_csv(folder / "train.csv", [*features, "label\x1bc"], rows)
    fit = ["fit", folder / "train.csv", "--label-column", "label\x1bc", "-o", folder / "model.ibdetect", *FIT_OPTIONS]
    assert main([str(arg) for arg in fit]) == 0
    rewrite(folder / "model.ibdetect", lambda header: header["versions"].update(torch="1.0\x1b[2J"))
    return folder / "model.ibdetect"


def test_info_prints_no_control_character_from_the_file(escaped_model, capsys):
    status, out, err = run(capsys, "info", escaped_model)
    assert status == 0
    assert not has_control_characters(out.replace("\n", "")) and not has_control_characters(err.replace("\n", ""))
    lines = out.splitlines()
    assert "label column: label\\x1bc" in lines
    assert "classes: \\x1b]0;title\\x07, \\x1b]52;c;cGF5bG9hZA==\\x07, Größe" in lines
    assert "features: 4 (f0\\x1b[2J, f1\\x9b31m, f2\\x7f, f3\\u202e)" in lines
    assert "torch 1.0\\x1b[2J" in out and "torch 1.0\\x1b[2J" in err


def test_an_ascii_terminal_gets_escapes_and_the_scores_stay_utf8(escaped_model, capsys, monkeypatch, make_data):
    terminal = io.TextIOWrapper(io.BytesIO(), encoding="ascii", newline="")
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["info", str(escaped_model)]) == 0
    terminal.flush()
    assert ", Gr\\xf6\\xdfe\n" in terminal.buffer.getvalue().decode("ascii")
    X, _ = make_data()
    write_csv(escaped_model.parent / "new.csv", ["f0\x1b[2J", "f1\x9b31m", "f2\x7f", "f3\u202e"], X.tolist())
    before = len(terminal.buffer.getvalue())
    assert main(["score", str(escaped_model), str(escaped_model.parent / "new.csv"), "-o", "-"]) == 0
    # The scores are data, written as to a file: UTF-8, classes as they are.
    scores = terminal.buffer.getvalue()[before:].decode("utf-8")
    assert "Größe" in scores and len(scores.splitlines()) == 61


# -- help, version, demo, console script ----------------------------------------


@pytest.mark.parametrize("command", [[], ["fit"], ["score"], ["info"], ["demo"]])
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert out.startswith(" ".join(["usage: ibdetect", *command]))
    # Every command that reads or writes a model says how pickles load
    # (compared without blanks: help text wraps inside an option's name).
    assert ("".join(SECURITY_NOTE.split()) in "".join(out.split())) == (command != ["demo"])


def test_fit_help_shows_the_parameters_docs_as_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    # No Sphinx markup: references by name, the docs' pages by title.
    assert not re.search(r":[a-z]+:`|``", out)
    assert "calibrates pvalues." in out and "'scaling' in the docs" in out and "'views' in the docs" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"ibdetect {__version__}\n"


def test_demo_command_prints_the_table(capsys):
    assert main(["demo", "--max-epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "IBDeepDescription" in out and "IsolationForest" in out and "ROC AUC" in out


def test_console_script(workdir):
    # The installed entry point where there is one, else the module itself.
    script = shutil.which("ibdetect", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "ibdetect.cli"]
    result = subprocess.run(
        [*command, "info", str(workdir / "random.bin")], capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == OneErrorLine("random.bin is not a model file")


# -- large files and drift ------------------------------------------------------------


def test_score_reads_a_csv_a_chunk_at_a_time_and_writes_the_same_scores(workdir, monkeypatch, capsys, make_data):
    X, _ = make_data(30)
    write_csv(workdir / "ids.csv", ["", *FEATURES], [[f"row{i}", *row] for i, row in enumerate(X.tolist())])
    outputs = {}
    # Chunks of 7 rows of 4 features, and one of them all.
    for chunk_rows in (7, 10**6):
        monkeypatch.setattr("ibdetect.cli._commands.CHUNK_CELLS", 4 * chunk_rows)
        out = workdir / f"chunks{chunk_rows}.csv"
        assert run(capsys, "score", workdir / "model.ibdetect", workdir / "ids.csv", "-o", out)[0] == 0
        outputs[chunk_rows] = out.read_text()
    (header, chunked), (_, whole) = read_scores(workdir / "chunks7.csv"), read_scores(workdir / f"chunks{10**6}.csv")
    assert header == ["id", *SCORE_COLUMNS] and [row[0] for row in chunked] == [f"row{i}" for i in range(90)]
    # The same rows, ids, predictions and classes; float32 sums in batches of
    # another size may round the last digits of a score apart.
    assert [row[:1] + row[2:] for row in chunked] == [row[:1] + row[2:] for row in whole]
    np.testing.assert_allclose([float(row[1]) for row in chunked], [float(row[1]) for row in whole], rtol=1e-5, atol=1e-6)


def test_scoring_memory_holds_a_chunk_not_the_file(workdir, monkeypatch, make_data):
    import tracemalloc

    X, _ = make_data(20_000)
    write_csv(workdir / "large.csv", FEATURES, X.tolist())
    peaks = {}
    for chunk_rows in (2_000, 10**9):
        monkeypatch.setattr("ibdetect.cli._commands.CHUNK_CELLS", 4 * chunk_rows)
        tracemalloc.start()
        assert main(["score", str(workdir / "model.ibdetect"), str(workdir / "large.csv"), "-o", str(workdir / "large.out")]) == 0
        peaks[chunk_rows] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # 60,000 rows read whole hold their cells as Python floats (about 20 MB);
    # in chunks of 2,000, what is left is a float per row for the summary.
    assert peaks[2_000] < peaks[10**9] / 4


def test_check_drift_names_the_windows_with_more_far_out_rows(workdir, capsys, make_data):
    X, _ = make_data(100)
    normal = np.random.RandomState(0).permutation(X)
    shifted = normal.copy()
    shifted[150:] += 30
    write_csv(workdir / "normal.csv", FEATURES, normal.tolist())
    write_csv(workdir / "shifted.csv", FEATURES, shifted.tolist())
    model = workdir / "model.ibdetect"
    status, out, err = run(capsys, "score", model, workdir / "normal.csv", "-o", workdir / "n.out", "--check-drift", "--drift-window", 100)
    assert (status, err) == (0, "")
    assert out.splitlines()[-1] == "Drift: none found in 3 windows of about 100 rows (no p-value <= 0.01)."
    # A window beyond the file's length is the file: its own count of rows.
    status, out, err = run(capsys, "score", model, workdir / "normal.csv", "-o", workdir / "n.out", "--check-drift")
    assert out.splitlines()[-1] == "Drift: none found in 1 window of 300 rows (no p-value <= 0.01)."
    write_csv(workdir / "one.csv", FEATURES, normal[:1].tolist())
    assert run(capsys, "score", model, workdir / "one.csv", "-o", workdir / "n.out")[1].startswith("Wrote the scores of 1 row to")
    status, out, err = run(capsys, "score", model, workdir / "shifted.csv", "-o", "-", "--check-drift", "--drift-window", 100)
    assert status == 0
    assert err.splitlines()[-1].startswith("Drift: 2 of 3 windows of about 100 rows hold more far-out rows than the calibration")
    # Adjacent windows read as one range.
    assert err.splitlines()[-1].endswith("(p <= 0.01): rows 101-300.")
    # Windows of one row cannot reach p <= 0.01, however far out: no false "none found".
    status, out, err = run(capsys, "score", model, workdir / "shifted.csv", "-o", "-", "--check-drift", "--drift-window", 1)
    assert status == 0
    assert re.fullmatch(r"Drift: not testable: a window needs (\d+) rows or more to be flagged at p <= 0\.01 with the "
                        r"model's held-out samples; use --drift-window \1 or more\.", err.splitlines()[-1])
    # A last window too short to test (2 rows, where the model's 15 held-out
    # samples need 3 far out) is named, not counted as found clean.
    write_csv(workdir / "n298.csv", FEATURES, normal[:298].tolist())
    status, out, err = run(capsys, "score", model, workdir / "n298.csv", "-o", "-", "--check-drift", "--drift-window", 4)
    assert status == 0
    assert err.splitlines()[-1] == ("Drift: none found in 75 windows of about 4 rows (no p-value <= 0.01; "
                                    "too few rows to test: rows 297-298).")
    # A file shorter than any testable window says so.
    write_csv(workdir / "two.csv", FEATURES, normal[:2].tolist())
    status, out, err = run(capsys, "score", model, workdir / "two.csv", "-o", "-", "--check-drift")
    assert re.fullmatch(r"Drift: not testable: a window needs \d+ rows or more .*; the file has 2\.", err.splitlines()[-1])


@pytest.mark.parametrize("command", ["score", "explain"])
def test_a_named_id_column_comes_first_and_other_columns_can_be_left_out(workdir, tmp_path, capsys, make_data, command):
    X, _ = make_data()
    rows = [[f"r{i}", *row, "note", 1] for i, row in enumerate(X.tolist())]
    write_csv(tmp_path / "extra.csv", ["serial", *FEATURES, "note", "batch"], rows)
    status, _, err = run(capsys, command, workdir / "model.ibdetect", tmp_path / "extra.csv", "-o", tmp_path / "out.csv",
                         "--id-column", "serial", "--ignore-column", "note", "--ignore-column", "batch")
    assert (status, err) == (0, "")
    header, written = read_scores(tmp_path / "out.csv")
    assert header[0] == "serial" and [row[0] for row in written] == [f"r{i}" for i in range(len(X))]
    if command == "score":
        write_csv(tmp_path / "plain.csv", FEATURES, X.tolist())
        assert run(capsys, "score", workdir / "model.ibdetect", tmp_path / "plain.csv", "-o", tmp_path / "plain.out")[0] == 0
        assert [row[1:] for row in written] == read_scores(tmp_path / "plain.out")[1]


def test_fit_warns_of_a_column_named_as_labels_that_is_read_as_a_feature(in_tmp, capsys, make_data):
    X, y = make_data()
    write_csv("train.csv", [*FEATURES, "Class"], [[*row, f"m{label}"] for row, label in zip(X.tolist(), y)])
    status, _, err = run(capsys, "fit train.csv -o m.ibdetect", *FIT_OPTIONS)
    assert status == 0
    assert err == ("ibdetect: warning: column 'Class' is read as a feature; if it holds labels, pass --label-column "
                   "Class (or --ignore-column Class to leave it out)\n")
    for option in ("--label-column Class", "--ignore-column Class"):
        assert run(capsys, f"fit train.csv -o m.ibdetect {option}", *FIT_OPTIONS)[2] == ""


def test_fit_warnings_name_the_command_line_s_fix(in_tmp, capsys, make_data):
    X, _ = make_data(100)
    flags = (np.arange(len(X)) % 10 == 0).astype(int)
    write_csv("flags.csv", [*FEATURES, "kind"], [[*row, flag] for row, flag in zip(X.tolist(), flags)])
    _, _, err = run(capsys, "fit flags.csv --label-column kind -o m.ibdetect", *FIT_OPTIONS)
    assert err == (
        "ibdetect: warning: column 'kind' holds only 0 and 1 (1 on 10% of the samples): they train as two known "
        "normal classes. If they flag anomalies, write -1 for the anomalies in it, or leave it out with "
        "--ignore-column kind in place of --label-column\n"
    )
    write_csv("rows.csv", FEATURES, X.tolist())
    status, _, err = run(capsys, "fit rows.csv -o m.ibdetect --contamination 0.05 --n-neighbors 1 "
                                 "--validation-fraction 0.1", *FIT_OPTIONS)
    assert re.fullmatch(r"ibdetect: warning: --contamination 0.05 flags that share of the training rows, but \d+ of the "
                        r"\d+ rows held out of training \(\d+%\): new rows score farther out than the rows training saw. "
                        r"To flag a share of new normal rows, score with --alpha 0.05, or fit with --contamination auto.\n", err)
    assert status == 0


@pytest.mark.parametrize("values", [(0, 1), ("false", "true")])
def test_a_label_column_named_as_flags_is_warned_of_however_many_are_set(in_tmp, capsys, make_data, values):
    X, _ = make_data(100)
    # A third set: more than the share of 1s that labels of any name are warned of for.
    flags = [values[i % 3 == 0] for i in range(len(X))]
    write_csv("flags.csv", [*FEATURES, "is_outlier"], [[*row, flag] for row, flag in zip(X.tolist(), flags)])
    _, _, err = run(capsys, "fit flags.csv --label-column is_outlier -o m.ibdetect", *FIT_OPTIONS)
    assert err == (
        f"ibdetect: warning: column 'is_outlier' holds flags ({values[0]}, {values[1]}): they train as two known "
        "normal classes. If they flag anomalies, write -1 for the anomalies in it, or leave it out with "
        "--ignore-column is_outlier in place of --label-column\n"
    )


def test_gaps_in_rows_for_a_model_fitted_without_them_name_the_fix(in_tmp, capsys, make_data):
    X, _ = make_data()
    write_csv("rows.csv", FEATURES, X.tolist())
    assert run(capsys, "fit rows.csv -o m.ibdetect", *FIT_OPTIONS)[0] == 0
    write_csv("gap.csv", FEATURES, [[*X[0, :3].tolist(), ""], *X[1:3].tolist()])
    assert run(capsys, "score m.ibdetect gap.csv -o s.csv") == (1, "", OneErrorLine(
        "gap.csv, line 2: column 'f3' is empty (a gap), not a number; the model was fitted on rows without gaps "
        "and reads none: fill them"
    ))
    np.save("nan.npy", np.where(X > 4, np.nan, X))
    assert run(capsys, "score m.ibdetect nan.npy -o s.csv") == (1, "", OneErrorLine(
        "cannot score nan.npy: it holds gaps (NaN); fill them: the model was fitted on rows without gaps and reads none"
    ))


def test_fit_keeps_the_id_column_and_the_columns_left_out_for_score(in_tmp, capsys, make_data):
    X, y = make_data()
    rows = [[f"r{i}", *row, "note", label] for i, (row, label) in enumerate(zip(X.tolist(), y))]
    write_csv("extra.csv", ["serial", *FEATURES, "note", "label"], rows)
    assert run(capsys, "fit extra.csv --label-column label --id-column serial --ignore-column note -o m.ibdetect",
               *FIT_OPTIONS)[0] == 0
    assert load("m.ibdetect")[0].feature_names_in_.tolist() == FEATURES
    # score and explain need not be told again.
    status, _, err = run(capsys, "score m.ibdetect extra.csv -o s.csv")
    assert (status, err) == (0, "")
    header, written = read_scores("s.csv")
    assert header[0] == "serial" and written[0][0] == "r0"
    lines = run(capsys, "info m.ibdetect")[1].splitlines()
    assert "id column: serial" in lines and "columns left out: note" in lines
    assert not any(line.startswith("metadata:") for line in lines)
    # A file to score need not hold them: without the id column, no ids.
    write_csv("plain.csv", FEATURES, X.tolist())
    assert run(capsys, "score m.ibdetect plain.csv -o p.csv")[0] == 0
    assert read_scores("p.csv")[0][0] == "decision_function"
    np.save("rows.npy", X)
    assert run(capsys, "score m.ibdetect rows.npy -o r.csv")[0] == 0
    assert run(capsys, "fit rows.npy --id-column serial -o n.ibdetect") == (
        1, "", OneErrorLine("--id-column and --ignore-column name columns of a CSV file, and rows.npy is none")
    )
    assert run(capsys, "fit extra.csv --id-column prediction -o n.ibdetect") == (
        1, "", OneErrorLine("--id-column prediction bears the name of a column that score or explain writes")
    )


def test_a_python_pipeline_that_picks_columns_by_name_scores_and_explains_from_a_csv(in_tmp, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("skops")
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"amount": rng.normal(size=120), "grade": rng.choice(["a", "b"], 120), "hour": rng.normal(size=120),
                          "code": rng.choice(["1", "2"], 120), "paid": rng.rand(120) < 0.5})
    frame.loc[3, "amount"] = np.nan
    # Codes written as numbers but fitted as text, and booleans: each read back as the encoder knows it.
    columns = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), make_column_selector(dtype_include="number")),
        ("grades", OneHotEncoder(sparse_output=False, handle_unknown="ignore"), ["grade", "code", "paid"]),
    ])
    model = make_pipeline(columns, IBDeepDescription(max_epochs=2, random_state=0)).fit(frame)
    save(model, "model.ibdetect")
    # Columns in another order, a gap and a grade never seen: read as pandas would.
    rows = frame.iloc[:8][["hour", "grade", "amount", "code", "paid"]].copy()
    rows.iloc[1, 1] = "c"
    rows.to_csv("rows.csv", index=False)
    status, _, err = run(capsys, "score model.ibdetect rows.csv -o scores.csv")
    assert (status, err) == (0, "")
    expected = model.decision_function(rows[list(frame.columns)])
    np.testing.assert_allclose(written_scores("scores.csv"), expected, rtol=1e-5)
    assert run(capsys, "explain model.ibdetect rows.csv -o why.csv --top 3")[0] == 0
    header, written = read_scores("why.csv")
    assert {row[header.index("feature_1")] for row in written} <= set(frame.columns)
    lines = run(capsys, "info model.ibdetect")[1].splitlines()
    assert "preparation: ColumnTransformer" in lines[1]
    assert "features: 5 columns, encoded as 8 features (amount, grade, hour, code, paid)" in lines


def test_gzip_compressed_csv_files_fit_score_and_explain_as_plain_ones(in_tmp, capsys, make_data):
    import gzip
    import shutil

    X, y = make_data()
    rows = [[f"r{i}", *row, label] for i, (row, label) in enumerate(zip(X.tolist(), y))]
    write_csv("rows.csv", ["serial", *FEATURES, "label"], rows)
    with open("rows.csv", "rb") as plain, gzip.open("rows.csv.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    for name in ("rows.csv", "rows.csv.gz"):
        assert run(capsys, f"fit {name} --label-column label --id-column serial -o {name}.model", *FIT_OPTIONS)[0] == 0
    for command in ("score", "explain"):
        # Each model applies its id column to either file, and they agree.
        outputs = []
        for model, name in [("rows.csv.model", "rows.csv"), ("rows.csv.gz.model", "rows.csv.gz")]:
            status, _, err = run(capsys, f"{command} {model} {name} -o {command}.out")
            assert (status, err) == (0, "")
            outputs.append(read_scores(f"{command}.out"))
        assert outputs[0] == outputs[1] and outputs[0][1][0][0] == "r0"
    assert run(capsys, "score rows.csv.model rows.csv -o scores.csv.gz") == (
        1, "", OneErrorLine("scores.csv.gz would hold uncompressed text; compress it on the way: -o - | gzip > scores.csv.gz")
    )
    assert run(capsys, "score rows.csv.gz rows.csv -o s.csv") == (
        1, "", OneErrorLine("rows.csv.gz is a data file, not a model: the model comes first (MODEL DATA)")
    )


@pytest.mark.parametrize("options, message", [
    ("--id-column prediction", "--id-column prediction bears the name of a column of the output; rename it in"),
    ("--id-column pvalue", "--id-column pvalue bears the name of a column of the output"),
    ("--id-column f1", "the model takes f1 as a feature: --id-column and --ignore-column name other columns"),
    ("--ignore-column f2", "the model takes f2 as a feature"),
    ("--id-column serial --ignore-column serial", "--id-column serial is also given to --ignore-column"),
])
def test_column_options_that_cannot_mean_what_they_say_are_refused(workdir, tmp_path, capsys, options, message):
    assert run(capsys, f"score {workdir / 'model.ibdetect'} {workdir / 'train.csv'} -o {tmp_path / 's.csv'} {options}") == (
        1, "", OneErrorLine(message)
    )


def test_column_options_name_columns_of_a_csv_file_only(workdir, tmp_path, capsys, make_data):
    X, _ = make_data()
    np.save(tmp_path / "rows.npy", X)
    assert run(capsys, "score", workdir / "model.ibdetect", tmp_path / "rows.npy", "-o", tmp_path / "s.csv",
               "--id-column", "serial") == (
        1, "", OneErrorLine(f"--id-column and --ignore-column name columns of a CSV file, and {tmp_path / 'rows.npy'} is none")
    )


def test_a_file_of_no_rows_still_needs_the_models_columns(tmp_path, capsys, make_data):
    # A model fitted on an array knows only how many columns it takes.
    X, _ = make_data()
    save(IBDeepDescription(max_epochs=2, random_state=0).fit(X), tmp_path / "bare.ibdetect")
    (tmp_path / "empty.csv").write_text("p,q,r,s,t\n")
    for command in ("score", "explain"):
        status, _, err = run(capsys, command, tmp_path / "bare.ibdetect", tmp_path / "empty.csv", "-o", tmp_path / "o.csv")
        assert (status, err.splitlines()[-1]) == (
            1, f"ibdetect: error: {tmp_path / 'empty.csv'} has 5 feature columns, but the model takes 4"
        )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs a device that is always full")
def test_fdr_blames_the_output_not_its_scratch_file_when_the_output_fails(workdir, capsys):
    status, _, err = run(capsys, "score", workdir / "model.ibdetect", workdir / "train.csv", "-o", "/dev/full",
                         "--fdr", "0.05")
    assert status == 1 and "temporary file" not in err and "No space left on device" in err


def test_a_file_of_no_rows_scores_and_explains_to_a_header(workdir, tmp_path, capsys):
    (tmp_path / "empty.csv").write_text(",".join(FEATURES) + "\n")
    model = workdir / "model.ibdetect"
    status, out, err = run(capsys, "score", model, tmp_path / "empty.csv", "-o", tmp_path / "s.csv", "--fdr", 0.05,
                           "--check-drift")
    assert (status, err) == (0, "")
    assert out.splitlines() == ["Wrote the scores of 0 rows to " + str(tmp_path / "s.csv") + " (anomalies: 0).",
                                "Drift: no rows to test."]
    assert read_scores(tmp_path / "s.csv") == ([*SCORE_COLUMNS, "pvalue"], [])
    pytest.importorskip("captum")
    assert run(capsys, "explain", model, tmp_path / "empty.csv", "-o", tmp_path / "e.csv")[0] == 0
    header, rows = read_scores(tmp_path / "e.csv")
    assert header[:3] == ["distance", "prediction", "nearest_class"] and rows == []


def test_check_drift_needs_calibration_samples_and_a_window(in_tmp, capsys, make_data):
    X, y = make_data()
    write_labelled_csv("train.csv", X, y)
    assert run(capsys, "fit train.csv --label-column label -o m.ibdetect --validation-fraction none", *FIT_OPTIONS)[0] == 0
    assert run(capsys, "score m.ibdetect train.csv -o s.csv --check-drift") == (
        1, "", OneErrorLine("m.ibdetect held out no normal samples when fitted: --check-drift has nothing to compare with")
    )
    status, _, err = run(capsys, "score m.ibdetect train.csv -o s.csv --drift-window 0")
    assert status == 2 and "expected a whole number of at least 1, got '0'" in err
    assert run(capsys, "score m.ibdetect train.csv -o s.csv --drift-window 100") == (
        1, "", OneErrorLine("--drift-window needs --check-drift")
    )


@pytest.mark.parametrize("chunk_rows", [7, 10**6])
@pytest.mark.parametrize("adaptive", [False, True])
def test_fdr_flags_the_rows_that_benjamini_hochberg_selects_over_the_whole_file(
    workdir, monkeypatch, capsys, make_data, chunk_rows, adaptive
):
    from ibdetect.selection import benjamini_hochberg

    X, _ = make_data(20)
    far = X[:15] + 40
    write_csv(workdir / "screen.csv", FEATURES, np.vstack([X, far]).tolist())
    monkeypatch.setattr("ibdetect.cli._commands.CHUNK_CELLS", 4 * chunk_rows)
    # The model held out 15 samples: its smallest p-value, 1/16, needs a high rate to flag 15 of 75 rows.
    options = ["--fdr", 0.5, *(["--adaptive"] if adaptive else [])]
    status, out, _ = run(capsys, "score", workdir / "model.ibdetect", workdir / "screen.csv", "-o", workdir / "fdr.csv", *options)
    assert status == 0
    header, rows = read_scores(workdir / "fdr.csv")
    assert header == [*SCORE_COLUMNS, "pvalue"]
    pvalues = np.array([float(row[3]) for row in rows])
    flagged = np.array([row[1] == "-1" for row in rows])
    np.testing.assert_array_equal(flagged, benjamini_hochberg(pvalues, alpha=0.5, adaptive=adaptive))
    assert flagged[60:].all()
    assert f"(anomalies: {flagged.sum()}).\n" in out


def test_adaptive_flags_more_where_most_rows_are_far_and_says_what_it_estimated(workdir, capsys, make_data):
    from ibdetect.selection import benjamini_hochberg

    X, _ = make_data(20)
    # 15 normal rows and 45 far ones. The model held out 15 samples, so the far rows' p-value is 1/16:
    # at 0.07 the plain procedure needs 54 rows at or under it (1/16 <= 0.07 * 54 / 60), and flags nothing.
    write_csv(workdir / "screen.csv", FEATURES, np.vstack([X[:15], X[:15] + 40, X[:15] + 50, X[:15] + 60]).tolist())
    flags = {}
    for options in (["--fdr", 0.07], ["--fdr", 0.07, "--adaptive"]):
        status, out, _ = run(capsys, "score", workdir / "model.ibdetect", workdir / "screen.csv", "-o", workdir / "fdr.csv", *options)
        assert status == 0
        rows = read_scores(workdir / "fdr.csv")[1]
        pvalues = np.array([float(row[3]) for row in rows])
        flags[len(options)] = np.array([row[1] == "-1" for row in rows])
    assert not flags[2].any()
    np.testing.assert_array_equal(flags[3], benjamini_hochberg(pvalues, alpha=0.07, adaptive=True))
    assert flags[3][15:].all()
    share = (1 + np.sum(pvalues >= 0.5)) / (len(pvalues) / 2)
    assert f"--adaptive estimated the share of normal rows at {share:.3g} (an estimate that errs high)" in out
    assert f"ran the procedure at 0.07 / {share:.3g} = {0.07 / share:.3g}." in out


def test_adaptive_without_fdr_is_an_error(workdir, capsys):
    assert run(capsys, "score", workdir / "model.ibdetect", workdir / "train.csv", "-o", workdir / "s.csv", "--adaptive") == (
        1, "", OneErrorLine("--adaptive needs --fdr ALPHA")
    )


@pytest.mark.parametrize("option, says", [("--fdr", "--fdr 0.05 flagged no row."),
                                          ("--alpha", "--alpha 0.05 can flag no row.")])
def test_fdr_or_alpha_that_flags_nothing_says_how_fine_the_p_values_are(workdir, capsys, make_data, option, says):
    X, _ = make_data(20)
    write_csv(workdir / "screen.csv", FEATURES, (X[:10] + 40).tolist())
    # 15 held-out samples: no p-value below 1/16, above the 0.05 that BH at 0.05 needs at most.
    status, out, _ = run(capsys, "score", workdir / "model.ibdetect", workdir / "screen.csv", "-o", workdir / "s.csv", option, 0.05)
    assert status == 0 and "(anomalies: 0)." in out
    assert f"{says} The model's 15 held-out samples give p-values no smaller than 1/16 = 0.0625" in out
    assert "--validation-fraction" in out


def test_fdr_names_the_p_values_steps_only_where_they_could_be_why_nothing_was_flagged(in_tmp, capsys, make_data):
    X, y = make_data(40)
    write_labelled_csv("train.csv", X, y)
    # 60 held-out samples: p-values in steps of 1/61, below 0.05.
    fit = "fit train.csv --label-column label -o m.ibdetect --validation-fraction 0.5"
    assert run(capsys, fit, *FIT_OPTIONS)[0] == 0
    write_csv("normal.csv", FEATURES, X.tolist())
    # 20 rows far off, all on the first step, among 200: flagging them would need 1/61 <= 0.05 * 20 / 200.
    write_csv("mixed.csv", FEATURES, [*(X[:20] + 40).tolist(), *np.tile(X, (2, 1))[:180].tolist()])
    for name, coarse in (("normal.csv", False), ("mixed.csv", True)):
        status, out, _ = run(capsys, f"score m.ibdetect {name} -o s.csv --fdr 0.05")
        assert status == 0 and "(anomalies: 0)." in out
        assert ("--fdr 0.05 flagged no row. The model's 60 held-out samples give p-values no smaller than 1/61" in out) is coarse
        assert out.splitlines()[-1].startswith("--fdr 0.05 flagged no row.")
    # One row far off among normal ones: as far out as p-values go, but no pile.
    write_csv("lone.csv", FEATURES, [*(X[:1] + 40).tolist(), *X.tolist()])
    out = run(capsys, "score m.ibdetect lone.csv -o s.csv --fdr 0.05")[1]
    assert re.search(r"--fdr 0.05 flagged no row. \d+ rows? beyond every held-out sample \(p = 1/61\); among 121 "
                     r"rows, a lone one is flagged only with p <= 0.00041: --alpha judges rows one by one.", out)


def test_alpha_flags_the_rows_whose_p_value_is_at_most_alpha(workdir, capsys, make_data):
    X, _ = make_data(20)
    write_csv(workdir / "screen.csv", FEATURES, X.tolist())
    status, out, _ = run(capsys, "score", workdir / "model.ibdetect", workdir / "screen.csv", "-o", workdir / "alpha.csv", "--alpha", 0.5)
    assert status == 0 and "can flag no row" not in out
    _, rows = read_scores(workdir / "alpha.csv")
    assert all((row[1] == "-1") == (float(row[3]) <= 0.5) for row in rows)


@pytest.mark.parametrize("option", ["--alpha 0", "--fdr 1", "--fdr x"])
def test_alpha_and_fdr_must_lie_between_0_and_1(workdir, capsys, option):
    status, _, err = run(capsys, f"score {workdir / 'model.ibdetect'} {workdir / 'train.csv'} -o - {option}")
    assert status == 2 and "expected a number between 0 and 1" in err


def test_the_pvalue_column_is_the_model_s_own(workdir, capsys):
    # The training rows: many of them tie with a calibration sample's score.
    assert run(capsys, "score", workdir / "model.ibdetect", workdir / "train.csv", "-o", workdir / "p.csv", "--alpha", 0.1)[0] == 0
    _, rows = read_scores(workdir / "p.csv")
    model = load(workdir / "model.ibdetect")
    pd = pytest.importorskip("pandas")
    X = pd.read_csv(workdir / "train.csv")[FEATURES]
    expected = model[-1].pvalues(model[:-1].transform(X)) if isinstance(model, Pipeline) else model.pvalues(X)
    np.testing.assert_array_equal([float(row[3]) for row in rows], expected)


def test_a_model_file_may_leave_the_training_rows_out(in_tmp, capsys, make_data):
    X, y = make_data()
    write_labelled_csv("train.csv", X, y)
    for name, extra in (("kept", []), ("left_out", ["--no-training-rows"])):
        status, _, err = run(capsys, f"fit train.csv --label-column label -o {name}.ibdetect", *FIT_OPTIONS, *extra)
        assert (status, err) == (0, "")
    kept, left_out = load("kept.ibdetect"), load("left_out.ibdetect")
    assert hasattr(kept[-1], "replay_inputs_") and not hasattr(left_out[-1], "replay_inputs_")
    frame = python_view(kept, X)[0]
    np.testing.assert_array_equal(python_view(left_out, X)[0], frame)


# -- explain --------------------------------------------------------------------------


def ranked_features(header, row):
    """The (feature, contribution) pairs of an explain row, in their order."""
    start = header.index("feature_1")
    return [(row[i], float(row[i + 1])) for i in range(start, len(row), 2)]


def test_explain_names_the_column_that_makes_a_row_anomalous(workdir, capsys, make_data):
    X, _ = make_data()
    rows = X[::10].copy()
    rows[2, 2] += 30
    # Far off in every value: from elsewhere as a whole.
    rows[4] += 60
    write_csv(workdir / "one_off.csv", FEATURES, rows.tolist())
    status, out, err = run(capsys, "explain", workdir / "model.ibdetect", workdir / "one_off.csv", "-o", workdir / "why.csv")
    header, written = read_scores(workdir / "why.csv")
    assert header == [
        "distance", "prediction", "nearest_class", "pvalue", "row_from_elsewhere",
        "feature_1", "contribution_1", "feature_2", "contribution_2", "feature_3", "contribution_3",
    ]
    assert ranked_features(header, written[2])[0][0] == "f2"
    assert [row[4] for row in written] == ["False"] * 4 + ["True", "False"]
    # The scores, predictions and classes are those the model gives from Python.
    pd = pytest.importorskip("pandas")
    model = load(workdir / "model.ibdetect")
    prepared = model[:-1].transform(pd.DataFrame(rows, columns=FEATURES))
    predictions = model[-1].predict(prepared)
    assert predictions[2] == -1 and [int(row[1]) for row in written] == predictions.tolist()
    assert (status, err) == (0, "")
    assert out == f"Wrote the explanations of 6 rows to {workdir / 'why.csv'} (anomalies: {(predictions == -1).sum()}).\n"
    np.testing.assert_allclose([float(row[0]) for row in written], -model[-1].score_samples(prepared), rtol=1e-5)
    assert [row[2] for row in written] == [str(label) for label in model[-1].predict_class(prepared)]
    np.testing.assert_allclose([float(row[3]) for row in written], model[-1].pvalues(prepared))
    assert [row[4] == "True" for row in written] == model[-1].explain(prepared).row_from_elsewhere.tolist()


@pytest.mark.parametrize("top", [4, 10])
def test_explain_contributions_of_every_feature_add_up_to_the_distance(workdir, capsys, top):
    output = workdir / f"all{top}.csv"
    assert run(capsys, "explain", workdir / "model.ibdetect", workdir / "train.csv", "-o", output, "--top", top)[0] == 0
    header, written = read_scores(output)
    # A --top beyond the model's 4 features names them all, once each.
    assert header[-2:] == ["feature_4", "contribution_4"]
    for row in written:
        ranked = ranked_features(header, row)
        assert sorted(name for name, _ in ranked) == FEATURES
        contributions = [contribution for _, contribution in ranked]
        assert contributions == sorted(contributions, reverse=True)
        assert sum(contributions) == pytest.approx(float(row[0]), rel=1e-6)


def test_explain_writes_ids_to_standard_output_a_chunk_at_a_time(workdir, monkeypatch, capsys, make_data):
    X, _ = make_data(5)
    write_csv(workdir / "ids.csv", ["", *FEATURES], [[f"row{i}", *row] for i, row in enumerate(X.tolist())])
    outputs = {}
    for chunk_rows in (4, 10**6):
        monkeypatch.setattr("ibdetect.cli._commands.CHUNK_CELLS", 4 * chunk_rows)
        status, outputs[chunk_rows], err = run(capsys, "explain", workdir / "model.ibdetect", workdir / "ids.csv", "-o", "-")
        assert status == 0 and err.startswith("Wrote the explanations of 15 rows to standard output")
    (header, *chunked), (_, *whole) = (list(csv.reader(io.StringIO(outputs[size]))) for size in (4, 10**6))
    assert header[:2] == ["id", "distance"] and [row[0] for row in chunked] == [f"row{i}" for i in range(15)]
    # The same features ranked alike; float32 sums in blocks of another size may round the last digits apart.
    texts = [i for i, name in enumerate(header) if name in ("nearest_class", "row_from_elsewhere") or "feature" in name]
    numbers = [i for i, name in enumerate(header) if name in ("distance", "pvalue") or "contribution" in name]
    assert len(texts) == 5 and len(numbers) == 5
    assert [[row[i] for i in texts] for row in chunked] == [[row[i] for i in texts] for row in whole]
    np.testing.assert_allclose(
        [[float(row[i]) for i in numbers] for row in chunked],
        [[float(row[i]) for i in numbers] for row in whole], rtol=1e-4, atol=1e-6,
    )


def test_explain_writes_a_pvalue_only_for_a_model_that_held_out_samples(in_tmp, capsys, make_data):
    X, y = make_data()
    write_labelled_csv("train.csv", X, y)
    fit = "fit train.csv --label-column label -o m.ibdetect --validation-fraction none --scale none"
    assert run(capsys, fit, *FIT_OPTIONS)[0] == 0
    assert run(capsys, "explain m.ibdetect train.csv -o why.csv --top 1")[0] == 0
    header, written = read_scores("why.csv")
    assert header == ["distance", "prediction", "nearest_class", "row_from_elsewhere", "feature_1", "contribution_1"]
    assert {row[2] for row in written} == {"0", "1", "2"}
    # A detector without a scaler reads the columns themselves.
    assert {row[4] for row in written} <= set(FEATURES)


def test_explain_of_images_reads_pixels_alone_with_no_row_from_elsewhere(in_tmp, capsys):
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savez("digits.npz", X=digits.images[:150], y=digits.target[:150])
    assert run(capsys, "fit digits.npz -o m.ibdetect --max-epochs 1 --random-state 0")[0] == 0
    status, _, err = run(capsys, "explain m.ibdetect digits.npz -o why.csv --top 1")
    header, written = read_scores("why.csv")
    assert (status, err) == (0, "") and len(written) == 150
    assert header == ["distance", "prediction", "nearest_class", "pvalue", "feature_1", "contribution_1"]


def test_explain_refuses_a_model_whose_scores_it_cannot_explain(in_tmp, capsys, make_data):
    X, y = make_data()
    write_labelled_csv("train.csv", X, y)
    assert run(capsys, "fit train.csv --label-column label -o m.ibdetect --anomaly-score distance", *FIT_OPTIONS)[0] == 0
    status, out, err = run(capsys, "explain m.ibdetect train.csv -o why.csv")
    assert (status, out) == (1, "")
    assert err == OneErrorLine("cannot explain the scores of m.ibdetect: explain compares a sample with the rows")
    assert "--anomaly-score distance keeps none" in err and "fit again with --anomaly-score knn+input" in err
    assert "anomaly_score=" not in err
    assert not os.path.exists("why.csv")


def test_explain_without_captum_says_how_to_install_it(workdir, monkeypatch, capsys):
    # A module set to None in sys.modules is one that cannot be imported.
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    status, out, err = run(capsys, "explain", workdir / "model.ibdetect", workdir / "train.csv", "-o", workdir / "no.csv")
    assert (status, out) == (1, "")
    assert err == OneErrorLine('install it with: pip install "ibdetect[explain]"')
    assert not (workdir / "no.csv").exists()


@pytest.mark.parametrize("top", ["0", "-2", "two"])
def test_explain_top_must_be_a_whole_number_of_at_least_1(workdir, capsys, top):
    status, out, err = run(capsys, "explain", workdir / "model.ibdetect", workdir / "train.csv", "--top", top)
    assert (status, out) == (2, "")
    assert err == OneErrorLine(f"argument --top: expected a whole number of at least 1, got '{top}'")


def test_explain_adds_up_the_encoded_features_of_a_table_column(in_tmp, capsys):
    pytest.importorskip("skops")
    rng = np.random.RandomState(0)
    columns = ["amount", "country", "channel"]
    # Amounts with a gap now and then, and two columns of categories.
    rows = [
        ["" if i % 13 == 0 else f"{rng.normal(20, 2):.2f}", rng.choice(["FR", "DE", "IT"]), rng.choice(["card", "cash"])]
        for i in range(80)
    ]
    write_csv("train.csv", columns, rows)
    assert run(capsys, "fit train.csv -o m.ibdetect", *FIT_OPTIONS)[0] == 0
    test = [row[:] for row in rows[1:6]]
    test[3][0] = "400"
    write_csv("test.csv", columns, test)
    assert run(capsys, "explain m.ibdetect test.csv -o why.csv --top 3")[0] == 0
    header, written = read_scores("why.csv")
    # The detector reads the columns' encoded features; the output names the columns.
    assert load("m.ibdetect")[-1].n_features_in_ > len(columns)
    for row in written:
        ranked = ranked_features(header, row)
        assert sorted(name for name, _ in ranked) == sorted(columns)
        assert sum(contribution for _, contribution in ranked) == pytest.approx(float(row[0]), rel=1e-6)
    assert ranked_features(header, written[3])[0][0] == "amount"


def test_explain_names_features_that_no_column_owns_as_the_steps_do(in_tmp, capsys, make_data):
    from sklearn.decomposition import PCA

    X, y = make_data()
    write_csv("data.csv", FEATURES, X.tolist())
    params = {"max_epochs": 2, "hidden_layer_sizes": (16,), "embedding_dim": 4, "random_state": 0}
    persistence.save(make_pipeline(PCA(3), IBDeepDescription(**params)).fit(X, y), "m.ibdetect")
    assert run(capsys, "explain m.ibdetect data.csv -o why.csv --top 3")[0] == 0
    header, written = read_scores("why.csv")
    assert {name for row in written for name, _ in ranked_features(header, row)} == {"pca0", "pca1", "pca2"}


def test_explain_has_help_with_the_security_note(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and out.startswith("usage: ibdetect explain")
    assert "".join(SECURITY_NOTE.split()) in "".join(out.split())
