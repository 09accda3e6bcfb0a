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


def test_npz_holding_a_single_array_is_refused(tmp_path):
    path = tmp_path / "data.npz"
    with open(path, "wb") as file:
        np.save(file, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"data.npz holds a single array, not an .npz archive; .*np.savez"):
        read_data(path)


@pytest.mark.parametrize("name, message", [
    ("data.npz", "array 'X' of {path} holds Python objects"),
    ("data.npy", "{path} holds Python objects"),
])
def test_arrays_of_python_objects_are_refused_without_unpickling(tmp_path, name, message):
    path = tmp_path / name
    objects = np.empty((3, 2), dtype=object)
    objects[:] = 1.0
    if name.endswith(".npz"):
        np.savez(path, X=objects)
    else:
        np.save(path, objects)
    with pytest.raises(ValueError) as error:
        read_data(path)
    assert str(error.value).startswith(message.format(path=path))
    assert "cannot be read without unpickling" in str(error.value)


def test_a_damaged_npz_is_an_error_naming_it(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, X=np.zeros((3, 2)))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError) as error:
        read_data(path)
    assert str(error.value).startswith(f"cannot read {path}: ")


def test_chunks_hold_about_as_many_cells_as_asked_whatever_a_row_becomes(tmp_path):
    from ibdetect.io import read_chunks

    path = tmp_path / "rows.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(10)))
    assert [len(data.X) for data, _ in read_chunks(path, chunk_cells=8)] == [4, 4, 2]
    # Rows that become 4 cells each (their encoded features).
    assert [len(data.X) for data, _ in read_chunks(path, chunk_cells=8, row_width=4)] == [2] * 5


def test_a_named_column_of_row_ids_is_kept_out_of_the_features(tmp_path):
    from ibdetect.io import read_chunks

    path = tmp_path / "rows.csv"
    path.write_text("a,serial,b\n1,r1,2\n3,r2,4\n")
    [(data, _)] = read_chunks(path, id_column="serial")
    assert data.feature_names == ["a", "b"] and data.X.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert data.ids.tolist() == ["r1", "r2"] and data.id_name == "serial"
    with pytest.raises(ValueError, match=r"rows.csv has no column 'number' \(columns: a, serial, b\)"):
        next(read_chunks(path, id_column="number"))
    # With a named id column, an unnamed first column is a column without a name.
    path.write_text(",serial,a\n1,r1,2\n")
    with pytest.raises(ValueError, match="column 1 has no name; with 'serial' holding the row ids, every other"):
        next(read_chunks(path, id_column="serial"))


def write_gzip(path, text):
    import gzip

    with gzip.open(path, "wt", newline="") as file:
        file.write(text)


def test_a_gzip_compressed_csv_reads_as_the_plain_one(tmp_path):
    import os

    from ibdetect.io import column_names, read_chunks

    text = ",a,b,label\n" + "".join(f"r{i},{i},{i / 3},{i % 2}\n" for i in range(200))
    (tmp_path / "rows.csv").write_text(text)
    write_gzip(tmp_path / "rows.CSV.GZ", text)
    plain, packed = read_data(tmp_path / "rows.csv", "label"), read_data(tmp_path / "rows.CSV.GZ", "label")
    np.testing.assert_array_equal(packed.X, plain.X)
    assert (packed.y.tolist(), packed.ids.tolist(), packed.feature_names) == (
        plain.y.tolist(), plain.ids.tolist(), plain.feature_names
    )
    assert column_names(tmp_path / "rows.CSV.GZ") == ["", "a", "b", "label"]
    # Progress counts the compressed bytes, up to the file's size on disk.
    chunks = list(read_chunks(tmp_path / "rows.CSV.GZ", chunk_rows=50, ignore_columns=["label"]))
    assert [len(data.X) for data, _ in chunks] == [50] * 4
    assert chunks[-1][1] == os.path.getsize(tmp_path / "rows.CSV.GZ") < os.path.getsize(tmp_path / "rows.csv")


@pytest.mark.parametrize("name, damage, message", [
    ("rows.csv.gz", "plain text", "{path}: its name ends in .gz, but it is not compressed with gzip"),
    ("rows.csv.gz", "cut short", "{path}: its name ends in .gz, but it is not a whole gzip file (damaged, or cut short?)"),
    ("rows.csv", "compressed", "{path} is compressed with gzip: name it rows.csv.gz"),
])
def test_a_csv_file_not_as_its_name_says_is_an_error_naming_the_fix(tmp_path, name, damage, message):
    path = tmp_path / name
    text = "a,b\n" + "".join(f"{i},{i * 7 % 13}\n" for i in range(5000))
    if damage == "plain text":
        path.write_text(text)
    else:
        write_gzip(path, text)
    if damage == "cut short":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError) as error:
        read_data(path)
    assert str(error.value) == message.format(path=path)


def test_the_format_goes_by_the_end_of_the_name(tmp_path):
    from ibdetect.io import column_names, data_format

    assert [data_format(name) for name in ("a.csv", "a.Csv.gz", "a.npy", "a.npz", "a.gz", "a.csv.bz2", "csv")] == [
        "csv", "csv", "npy", "npz", None, None, None
    ]
    with pytest.raises(ValueError, match=r"a.npy is not a CSV file \(.csv or .csv.gz\)"):
        column_names(tmp_path / "a.npy")
    with pytest.raises(ValueError, match=r"unknown data format '.bz2'; use .csv, .csv.gz, .npy or .npz"):
        read_data(tmp_path / "a.csv.bz2")


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_csv_of_another_separator_is_refused_with_the_one_it_holds(tmp_path, separator):
    path = tmp_path / "rows.csv"
    path.write_text(separator.join(["a", "b", "c"]) + "\n" + separator.join(["1", "2", "3"]) + "\n")
    import re

    with pytest.raises(ValueError, match=rf"the header is one column, .* whose names are separated by "
                                         rf"{re.escape(repr(separator))}, as its rows are; a CSV file's columns are "
                                         rf"separated by commas: convert it \(pandas: read_csv\(path, sep={re.escape(repr(separator))}\)"):
        read_data(path)
    # One column, whose name holds the separator or not, is a CSV file all the same.
    for header in ("a", f"ratio a{separator}b"):
        path.write_text(f'"{header}"\n1\n2\n')
        assert read_data(path).X.tolist() == [[1.0], [2.0]]


def test_a_gzip_csv_of_another_encoding_is_named_not_utf8(tmp_path):
    import gzip

    path = tmp_path / "latin.csv.gz"
    with gzip.open(path, "wb") as file:
        file.write("caf\u00e9,b\n1,2\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.csv.gz is not a UTF-8 text file$"):
        read_data(path)
