import argparse
import csv
import os
import shutil
import subprocess
import sys
from numbers import Integral, Real
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ibdetect import IBDeepDescription, __version__
from ibdetect.cli import build_parser, main
from ibdetect.cli._commands import SCORE_COLUMNS
from ibdetect.cli._options import add_estimator_options
from ibdetect.encoders import CNNEncoder

# Small and quick, like the estimator tests' FAST settings.
FIT_OPTIONS = "--max-epochs 2 --hidden-layer-sizes 16 --embedding-dim 4 --random-state 0".split()
FEATURES = ["f0", "f1", "f2", "f3"]
SECURITY_NOTE = "Only load model files you trust."


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder, so that commands name their files briefly."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_data(n_per_class=20):
    """Three separated classes in 4-D and their integer labels."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(centre, 1.0, (n_per_class, 4)) for centre in (-5, 0, 5)])
    return X, np.repeat([0, 1, 2], n_per_class)


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
    """What a Python user gets from the model on the same rows, with named columns."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=names)
    return model.decision_function(frame), model.predict(frame), model.predict_class(frame)


# -- fit, score, info ---------------------------------------------------------------


@pytest.mark.parametrize("names, anomaly", [([0, 1, 2], -1), ([0.0, 1.0, 2.0], -1.0), (["ant", "bee", "cat"], "-1")])
def test_fit_and_score_a_labelled_csv(in_tmp, capsys, names, anomaly):
    X, y = make_data()
    labels = np.array(names, dtype=object)[y]
    labels[::10] = anomaly
    write_labelled_csv("train.csv", X, labels)

    status, out, err = run(capsys, "fit train.csv --label-column label -o m.joblib", *FIT_OPTIONS)
    assert (status, err) == (0, "")
    assert out == "Saved the model to m.joblib (classes: 3, features: 4, epochs: 2).\n"
    model = joblib.load("m.joblib")
    # Integer labels stay ints; the -1 rows are known anomalies, not a class.
    assert model.classes_.tolist() == names
    assert "train_anomaly" in model.net_.history[-1]
    assert model.feature_names_in_.tolist() == FEATURES

    status, out, err = run(capsys, "score m.joblib train.csv --label-column label -o s.csv")
    scores, predictions, classes = python_view(model, X)
    assert (status, err) == (0, "")
    assert out == f"Wrote the scores of 60 rows to s.csv (anomalies: {(predictions == -1).sum()}).\n"
    header, rows = read_scores("s.csv")
    assert header == list(SCORE_COLUMNS) and len(rows) == len(X)
    np.testing.assert_array_equal(written_scores("s.csv"), scores)
    np.testing.assert_array_equal([int(row[1]) for row in rows], predictions)
    assert [row[2] for row in rows] == [str(label) for label in classes]


def test_fit_without_label_column_takes_every_column_as_a_feature(in_tmp, capsys):
    X, y = make_data()
    write_csv("train.csv", ["a", "b", "c", "d", "e"], np.c_[X, y].tolist())
    assert run(capsys, "fit train.csv -o m.joblib", *FIT_OPTIONS)[0] == 0
    model = joblib.load("m.joblib")
    assert model.classes_.tolist() == [1]
    assert model.feature_names_in_.tolist() == ["a", "b", "c", "d", "e"]


def test_score_matches_columns_by_name(in_tmp, capsys):
    X, y = make_data()
    write_labelled_csv("train.csv", X, y)
    run(capsys, "fit train.csv --label-column label -o m.joblib", *FIT_OPTIONS)
    # Columns reversed, and no label column: each row keeps its score.
    write_csv("new.csv", FEATURES[::-1], X[:, ::-1].tolist())
    assert run(capsys, "score m.joblib new.csv -o s.csv")[0] == 0
    expected, _, _ = python_view(joblib.load("m.joblib"), X)
    np.testing.assert_array_equal(written_scores("s.csv"), expected)


def test_npy_features(in_tmp, capsys):
    X, _ = make_data()
    np.save("train.npy", X)
    assert run(capsys, "fit train.npy -o m.joblib", *FIT_OPTIONS)[0] == 0
    assert run(capsys, "score m.joblib train.npy -o s.csv")[0] == 0
    model = joblib.load("m.joblib")
    assert model.classes_.tolist() == [1] and not hasattr(model, "feature_names_in_")
    np.testing.assert_array_equal(written_scores("s.csv"), model.decision_function(X))


@pytest.mark.parametrize("image_shape, options, input_shape", [
    ((8, 8), ["--encoder", "cnn"], (1, 8, 8)),
    ((2, 8, 8), [], (2, 8, 8)),
    ((8, 8), ["--input-shape", "64"], (64,)),
])
def test_npz_images_are_flattened_and_set_input_shape(in_tmp, capsys, image_shape, options, input_shape):
    images = np.random.RandomState(0).rand(30, *image_shape).astype(np.float32)
    np.savez("images.npz", X=images, y=np.repeat([3, 7], 15))
    status, _, err = run(capsys, "fit images.npz -o m.joblib --max-epochs 1", *options)
    assert (status, err) == (0, "")
    model = joblib.load("m.joblib")
    assert model.input_shape == input_shape
    assert model.classes_.tolist() == [3, 7]
    # encoder="auto" makes images (a 3-D input_shape) go through the CNN.
    assert isinstance(model.net_.module_.encoder, CNNEncoder) == (len(input_shape) == 3)
    assert run(capsys, "score m.joblib images.npz -o s.csv")[0] == 0
    np.testing.assert_array_equal(written_scores("s.csv"), model.decision_function(images.reshape(30, -1)))


def test_npz_labels_under_a_named_array_with_string_anomalies(in_tmp, capsys):
    X, y = make_data()
    target = np.array(["ant", "bee", "cat"])[y]
    target[::10] = "-1"
    np.savez("train.npz", X=X, target=target)
    assert run(capsys, "fit train.npz --label-column target -o m.joblib", *FIT_OPTIONS)[0] == 0
    model = joblib.load("m.joblib")
    assert model.classes_.tolist() == ["ant", "bee", "cat"]
    assert "train_anomaly" in model.net_.history[-1]


def test_verbose_fit_logs_plain_lines_when_not_on_a_terminal(in_tmp, capsys):
    X, y = make_data()
    write_labelled_csv("train.csv", X, y)
    status, out, err = run(capsys, "fit train.csv --label-column label -o m.joblib -v", *FIT_OPTIONS)
    assert status == 0
    # A header, its rule, one line per epoch, then the summary; no bar, no
    # carriage returns and no colour codes in a redirected log.
    lines = out.splitlines()
    assert "train_compactness" in lines[0] and len(lines) == 2 + 2 + 1
    assert lines[-1].endswith("epochs: 2).")
    assert "\r" not in out + err and "\x1b" not in out + err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with a fitted model, its training CSV, and files that are wrong in some way."""
    folder = tmp_path_factory.mktemp("cli")
    X, y = make_data()
    write_labelled_csv(folder / "train.csv", X, y)
    fit = ["fit", folder / "train.csv", "--label-column", "label", "-o", folder / "model.joblib"]
    assert main([str(arg) for arg in fit] + [*FIT_OPTIONS, "--validation-fraction", "0.25"]) == 0
    write_csv(folder / "ragged.csv", ["a", "b"], [[1, 2], [3]])
    (folder / "open_quote.csv").write_text('a,b,c\n1,2,3\n4,"5,6\n7,8,9\n')
    write_csv(folder / "text.csv", ["a", "b"], [[1, "x"]])
    write_csv(folder / "nan.csv", ["a", "b"], [[1, "nan"], [2, 3], [4, 5]])
    write_csv(folder / "twice.csv", ["a", "b", "a"], [[1, 2, 3]])
    write_csv(folder / "renamed.csv", ["f0", "f1", "f2", "g3"], X.tolist())
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
    return folder


def test_info_describes_the_model(workdir, capsys):
    model = joblib.load(workdir / "model.joblib")
    status, out, err = run(capsys, "info", workdir / "model.joblib")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    for expected in ["classes: 0, 1, 2", "features: 4 (f0, f1, f2, f3)", "device: cpu",
                     f"offset: {model.offset_:.6g}", "  max_epochs           2", "  hidden_layer_sizes   16"]:
        assert expected in lines
    history = model.net_.history
    assert any(line.startswith("epochs: 2 (") for line in lines)
    for key in ["train_loss", "train_compactness", "train_separation", "valid_loss"]:
        assert f"  {key:<20} {history[0, key]:.6g} -> {history[-1, key]:.6g}" in lines


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
    args = build_parser("fit").parse_args(["fit", "data.csv", "-o", "m.joblib", *options])
    assert args.params == params
    IBDeepDescription(**params)  # they are the estimator's parameters


def test_every_parameter_a_shell_can_express_is_an_option(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    estimator_section = capsys.readouterr().out.split("estimator options:")[1]
    for name in IBDeepDescription().get_params():
        option = "--" + name.replace("_", "-")
        # Python objects cannot come from a shell; -v/--verbose is a flag of fit's own.
        assert (option in estimator_section) == (name not in {"accelerator", "callbacks", "verbose"}), name
    # Documented from the estimator's docstring: the first paragraph only, as
    # the later ones are about Python objects.
    text = " ".join(estimator_section.split())
    assert "Number of passes over the training data. (default: 50)" in text
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


class OneErrorLine:
    """Equal to a stderr text that is one error line holding ``fragment``, with no traceback."""

    def __init__(self, fragment):
        self.fragment = fragment

    def __eq__(self, text):
        return (
            text.startswith("ibdetect: error: ") and text.count("\n") == 1 and text.endswith("\n")
            and self.fragment in text and "Traceback" not in text
        )

    def __repr__(self):
        return f"<one error line holding {self.fragment!r}>"


@pytest.mark.parametrize("argv, status, message", [
    ("fit missing.csv -o m", 1, "missing.csv: No such file or directory"),
    ("score missing.joblib train.csv -o s", 1, "missing.joblib: No such file or directory"),
    ("fit data.txt -o m", 1, "data.txt: unknown data format '.txt'; use .csv, .npy or .npz"),
    ("fit ragged.csv -o m", 1, "ragged.csv, line 3: 1 field(s), but the header has 2"),
    ("fit open_quote.csv -o m", 1, "open_quote.csv, line 3: 2 field(s), but the header has 3 (a quote left open?)"),
    ("fit text.csv -o m", 1, "text.csv, line 2: column 'b' holds 'x', not a number"),
    ("fit empty.csv -o m", 1, "empty.csv is empty; expected a header row"),
    ("fit binary.csv -o m", 1, "binary.csv is not a UTF-8 text file"),
    ("fit twice.csv -o m", 1, "twice.csv: column name(s) 'a' appear more than once"),
    ("fit train.csv --label-column class -o m", 1, "train.csv has no column 'class' (columns: f0"),
    ("fit flat.npy -o m", 1, "flat.npy: expected one sample per row, got a 1-D array"),
    ("fit narrow.npy --label-column y -o m", 1, "narrow.npy: an .npy file holds no labels"),
    ("fit unnamed.npz -o m", 1, "unnamed.npz has no array 'X' (arrays: arr_0)"),
    ("fit nan.csv -o m", 1, "cannot fit a model on nan.csv: Input X contains NaN."),
    ("fit train.csv --beta 0.5 -o m", 1, "The 'beta' parameter of IBDeepDescription must be"),
    (f"fit train.csv -o {os.path.join('nowhere', 'm')}", 1, "there is no folder 'nowhere'"),
    ("info random.bin", 1, "random.bin is not a model file\n"),
    ("info foreign.joblib", 1, "needs code this installation lacks (No module named 'ibdetect_no_such_module')"),
    ("fit train.csv --hidden-layer-sizes 0 -o m", 1, "hidden_layer_sizes must hold positive integers"),
    ("fit train.csv --hidden-layer-sizes 1.5 -o m", 1, "hidden_layer_sizes must hold positive integers"),
    ("info dict.joblib", 1, "dict.joblib holds a dict, not an IBDeepDescription model"),
    ("info unfitted.joblib", 1, "unfitted.joblib holds an IBDeepDescription that was never fitted"),
    ("score model.joblib train.csv -o s", 1, "unexpected label (name a label column with --label-column)"),
    ("score model.joblib renamed.csv -o s", 1, "the model's feature columns: missing f3; unexpected g3"),
    ("score model.joblib narrow.npy -o s", 1, "X has 3 features, but IBDeepDescription is expecting 4"),
    ("fit train.csv --max-epochs 1.5 -o m", 2, "argument --max-epochs: expected INT, got '1.5'"),
    ("fit train.csv --encoder resnet -o m", 2, "expected auto|cnn|mlp, got 'resnet' (see 'ibdetect fit --help')"),
    ("fit train.csv", 2, "the following arguments are required: -o/--output"),
    ("", 2, "the following arguments are required: COMMAND"),
])
def test_errors_are_one_line(workdir, monkeypatch, capsys, argv, status, message):
    monkeypatch.chdir(workdir)
    assert run(capsys, argv) == (status, "", OneErrorLine(message))
    assert not (workdir / "m").exists() and not (workdir / "s").exists()


def test_unexpected_exceptions_are_not_hidden(workdir, monkeypatch):
    def broken_fit(self, X, y=None):
        raise RuntimeError("a bug")

    monkeypatch.setattr(IBDeepDescription, "fit", broken_fit)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["fit", str(workdir / "train.csv"), "-o", str(workdir / "m")])


# -- help, version, demo, console script ----------------------------------------


@pytest.mark.parametrize("command", [[], ["fit"], ["score"], ["info"], ["demo"]])
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert out.startswith(" ".join(["usage: ibdetect", *command]))
    # Every command that reads or writes a model says that models are pickles.
    assert (SECURITY_NOTE in " ".join(out.split())) == (command != ["demo"])


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
