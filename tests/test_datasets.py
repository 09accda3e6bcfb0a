import gzip
import struct

import numpy as np
import pytest

from ibdetect.datasets import fetch_mnist, load_mnist, load_mnist_sample


def idx_bytes(array, type_code=0x08, dtype=">u1"):
    """An IDX file's content, written by hand from the format's definition."""
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.asarray(array, dtype=dtype).tobytes()


def write(path, content, gzipped=False):
    path.write_bytes(gzip.compress(content) if gzipped else content)
    return path


@pytest.fixture
def images():
    rng = np.random.RandomState(0)
    return rng.randint(0, 256, size=(7, 4, 3)).astype(np.uint8)


@pytest.fixture
def labels():
    return np.array([3, 0, 9, 1, 1, 7, 2], dtype=np.uint8)


def write_idx_part(folder, prefix, images, labels, gzipped=False, separator="-"):
    ending = ".gz" if gzipped else ""
    write(folder / f"{prefix}-images{separator}idx3-ubyte{ending}", idx_bytes(images), gzipped)
    write(folder / f"{prefix}-labels{separator}idx1-ubyte{ending}", idx_bytes(labels), gzipped)


def test_sample_shapes_types_and_labels():
    mnist = load_mnist_sample()
    assert mnist.images.shape == (10000, 28, 28) and mnist.images.dtype == np.uint8
    assert mnist.data.shape == (10000, 784) and mnist.data.dtype == np.uint8
    np.testing.assert_array_equal(mnist.data[17], mnist.images[17].ravel())
    assert mnist.target.dtype == np.int64
    assert np.bincount(mnist.target).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    # Real digits: dark background, some full ink.
    assert mnist.images.min() == 0 and mnist.images.max() == 255
    assert np.median(mnist.images) == 0
    assert "MIT" in mnist.DESCR and "Juan Cazala" in mnist.DESCR


def test_sample_return_X_y_matches_the_bunch():
    X, y = load_mnist_sample(return_X_y=True)
    mnist = load_mnist_sample()
    np.testing.assert_array_equal(X, mnist.data)
    np.testing.assert_array_equal(y, mnist.target)


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_files_read_back_equal(tmp_path, images, labels, gzipped):
    write_idx_part(tmp_path, "train", images, labels, gzipped)
    mnist = load_mnist(tmp_path / f"train-images-idx3-ubyte{'.gz' if gzipped else ''}")
    np.testing.assert_array_equal(mnist.images, images)
    assert mnist.images.dtype == np.uint8
    np.testing.assert_array_equal(mnist.data, images.reshape(7, 12))
    np.testing.assert_array_equal(mnist.target, labels)
    assert mnist.target.dtype == np.int64


def test_idx_folder_reads_train_then_test(tmp_path, images, labels):
    write_idx_part(tmp_path, "train", images, labels, gzipped=True)
    # The test part written the other way, plain and with a dot before idx.
    write_idx_part(tmp_path, "t10k", images[:2] // 2, labels[:2], separator=".")
    both = load_mnist(tmp_path)
    np.testing.assert_array_equal(both.images, np.concatenate([images, images[:2] // 2]))
    np.testing.assert_array_equal(both.target, np.r_[labels, labels[:2]])
    test_X, test_y = load_mnist(tmp_path, subset="test", return_X_y=True)
    np.testing.assert_array_equal(test_X, (images[:2] // 2).reshape(2, -1))
    np.testing.assert_array_equal(test_y, labels[:2])


def test_idx_folder_without_the_test_part_names_the_missing_file(tmp_path, images, labels):
    write_idx_part(tmp_path, "train", images, labels)
    assert len(load_mnist(tmp_path, subset="train").target) == 7
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.*subset='train'"):
        load_mnist(tmp_path)


def test_gzip_is_recognised_by_content_not_name(tmp_path, images, labels):
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images), gzipped=True)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    np.testing.assert_array_equal(load_mnist(tmp_path / "train-images-idx3-ubyte").images, images)


def test_idx_of_wider_big_endian_types(tmp_path, images, labels):
    # 0x0C: int32, stored big-endian; values beyond one byte must survive.
    wide = images.astype(np.int32) * 1000 - 5
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(wide, 0x0C, ">i4"))
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    read = load_mnist(tmp_path / "train-images-idx3-ubyte").images
    assert read.dtype == np.int32
    np.testing.assert_array_equal(read, wide)


@pytest.mark.parametrize(
    "content",
    [
        b"PK\x03\x04 zip, not idx",  # wrong magic: some other format
        b"\x00\x00\x07\x03",  # unknown type code
        b"\x00\x00\x08\x00",  # no dimensions
        b"\x00\x00",  # shorter than a magic number
    ],
)
def test_bad_magic_number_is_refused(tmp_path, labels, content):
    write(tmp_path / "train-images-idx3-ubyte", content)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    with pytest.raises(ValueError, match="is not an IDX file.*pass the MNIST files"):
        load_mnist(tmp_path, subset="train")


@pytest.mark.parametrize("cut", [10, 1])
def test_truncated_idx_is_refused(tmp_path, images, labels, cut):
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images)[:-cut])
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    with pytest.raises(ValueError, match="holds 74 bytes of data|holds 83 bytes of data") as error:
        load_mnist(tmp_path, subset="train")
    assert "truncated or damaged; download it again" in str(error.value)


def test_idx_cut_inside_its_header_is_refused(tmp_path, images, labels):
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images)[:9])
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    with pytest.raises(ValueError, match="ends inside its header"):
        load_mnist(tmp_path, subset="train")


def test_truncated_gzip_is_refused(tmp_path, images, labels):
    write(tmp_path / "train-images-idx3-ubyte.gz", gzip.compress(idx_bytes(images))[:-12])
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(labels), gzipped=True)
    with pytest.raises(ValueError, match="damaged gzip file.*download it again"):
        load_mnist(tmp_path, subset="train")


def test_idx_images_and_labels_of_different_lengths_are_refused(tmp_path, images, labels):
    write_idx_part(tmp_path, "train", images, labels[:5])
    with pytest.raises(ValueError, match="7 images but 5 labels"):
        load_mnist(tmp_path / "train-images-idx3-ubyte")


def test_labels_file_passed_as_images_is_refused(tmp_path, images, labels):
    write_idx_part(tmp_path, "train", images, labels)
    with pytest.raises(ValueError, match="not named as an IDX images file"):
        load_mnist(tmp_path / "train-labels-idx1-ubyte")


def test_npz_with_X_and_y(tmp_path, images, labels):
    path = tmp_path / "mine.npz"
    np.savez(path, X=images, y=labels.astype(np.int16))
    mnist = load_mnist(path)
    np.testing.assert_array_equal(mnist.images, images)
    np.testing.assert_array_equal(mnist.target, labels)
    assert mnist.target.dtype == np.int64
    assert str(path) in mnist.DESCR
    with pytest.raises(ValueError, match="one set of images"):
        load_mnist(path, subset="train")


def test_npz_with_keras_keys(tmp_path, images, labels):
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, x_train=images[:5], y_train=labels[:5], x_test=images[5:], y_test=labels[5:])
    np.testing.assert_array_equal(load_mnist(path).images, images)
    np.testing.assert_array_equal(load_mnist(path).target, labels)
    X_test, y_test = load_mnist(path, subset="test", return_X_y=True)
    np.testing.assert_array_equal(X_test, images[5:].reshape(2, -1))
    np.testing.assert_array_equal(y_test, labels[5:])


def test_npz_without_the_expected_arrays_names_what_it_holds(tmp_path, images):
    path = tmp_path / "other.npz"
    np.savez(path, pixels=images)
    with pytest.raises(ValueError, match=r"\['pixels'\]; expected X and y"):
        load_mnist(path)


def test_single_array_file_named_npz_is_refused(tmp_path, images):
    path = tmp_path / "images.npz"
    with open(path, "wb") as file:
        np.save(file, images)
    with pytest.raises(ValueError, match="single array, not an .npz archive"):
        load_mnist(path)


def test_damaged_npz_is_an_error_naming_it(tmp_path, images, labels):
    path = tmp_path / "mine.npz"
    np.savez(path, X=images, y=labels)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="cannot read .*mine.npz"):
        load_mnist(path)


def test_npz_of_flat_rows_is_refused(tmp_path, images, labels):
    path = tmp_path / "flat.npz"
    np.savez(path, X=images.reshape(7, -1), y=labels)
    with pytest.raises(ValueError, match=r"shape \(n_samples, height, width\), got uint8 of shape \(7, 12\)"):
        load_mnist(path)


class Unpicklable:
    """Unpickling this would record it: the loader must never get that far."""

    unpickled = False

    def __reduce__(self):
        return (Unpicklable.mark, ())

    @staticmethod
    def mark():
        Unpicklable.unpickled = True
        return Unpicklable()


def test_npz_holding_an_object_array_is_refused_without_unpickling(tmp_path, labels):
    path = tmp_path / "objects.npz"
    objects = np.empty(7, dtype=object)
    objects[:] = [Unpicklable() for _ in range(7)]
    np.savez(path, X=objects, y=labels)
    with pytest.raises(ValueError, match="without unpickling.*refused"):
        load_mnist(path)
    assert not Unpicklable.unpickled


def test_missing_path_and_bad_subset(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_mnist(tmp_path / "nowhere.npz")
    with pytest.raises(ValueError, match="subset must be"):
        load_mnist(tmp_path, subset="validation")


def test_fetch_mnist_rejects_an_unknown_kind_before_any_download():
    with pytest.raises(ValueError, match="kind must be one of"):
        fetch_mnist("emnist")
