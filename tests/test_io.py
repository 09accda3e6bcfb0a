import numpy as np
import pytest

from ibdetect.io import read_data


@pytest.mark.parametrize("arrays, label_column, message", [
    ({"Z": np.zeros((3, 2))}, None, "has no array 'X' (arrays: Z)"),
    ({"X": np.zeros((3, 2))}, "lab", "has no array 'lab' (arrays: X)"),
])
def test_npz_errors_name_the_file_once(tmp_path, arrays, label_column, message):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError) as error:
        read_data(path, label_column=label_column)
    assert str(error.value) == f"{path} {message}"


def test_npz_string_labels_are_read_by_the_label_rule(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, X=np.zeros((3, 2)), y=np.array(["2", "-1.0", "3"]))
    assert read_data(path).y.tolist() == [2, -1, 3]
