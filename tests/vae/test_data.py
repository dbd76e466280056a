import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED

from elbolab.vae.data import (
    DataError,
    DataMissing,
    binarize,
    default_data_dir,
    download,
    load_dataset,
    parse_idx,
    read_idx,
    static_binarization,
)

MNIST = SHARED / "mnist"
needs_mnist = pytest.mark.skipif(
    not (MNIST / "train-images-idx3-ubyte.gz").exists(),
    reason="MNIST not found in ELBOLAB_DATA_DIR",
)


@needs_mnist
def test_mnist_train_split_is_the_real_thing():
    d = load_dataset("mnist", "train", SHARED, allow_download=False, fallback=False)
    assert d.images.shape == (60_000, 784) and d.images.dtype == torch.float32
    assert d.shape == (28, 28)
    assert d.labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert d.labels.bincount().tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert float(d.images.mean() * 255) == pytest.approx(33.318, abs=1e-3)
    assert 0.0 <= float(d.images.min()) and float(d.images.max()) <= 1.0


@needs_mnist
def test_mnist_test_split():
    d = load_dataset("mnist", "test", SHARED, allow_download=False, fallback=False)
    assert d.images.shape == (10_000, 784)
    assert d.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert float(d.images.mean() * 255) == pytest.approx(33.791, abs=1e-3)


def _write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> Path:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    if gz:
        path = path.with_suffix(".gz") if path.suffix != ".gz" else path
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def test_idx_round_trip_raw_and_gz(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(_write_idx(tmp_path / "a", arr, gz=False)), arr)
    np.testing.assert_array_equal(read_idx(_write_idx(tmp_path / "b.gz", arr)), arr)


def test_truncated_file_names_the_file(tmp_path):
    arr = np.zeros((5, 4, 4), dtype=np.uint8)
    p = _write_idx(tmp_path / "t", arr, gz=False)
    p.write_bytes(p.read_bytes()[:-7])
    with pytest.raises(DataError, match=f"{p.name}.*truncated"):
        read_idx(p)


def test_corrupted_gzip_names_the_file(tmp_path):
    p = tmp_path / "broken-images-idx3-ubyte.gz"
    p.write_bytes(b"\x1f\x8b\x08\x00garbage-not-a-gzip-stream")
    with pytest.raises(DataError, match="broken-images-idx3-ubyte.gz.*corrupted"):
        read_idx(p)


def test_bad_magic_and_checksum(tmp_path):
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(b"\x01\x02\x03\x04rest", "x")
    p = _write_idx(tmp_path / "c", np.zeros((2, 2), dtype=np.uint8), gz=False)
    with pytest.raises(DataError, match="SHA-256"):
        read_idx(p, sha256="0" * 64)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "nope.gz")


def test_download_from_a_local_mirror_and_offline_message(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    imgs = np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labs = np.arange(6, dtype=np.uint8)
    for stem, arr in (
        ("train-images-idx3-ubyte", imgs),
        ("train-labels-idx1-ubyte", labs),
        ("t10k-images-idx3-ubyte", imgs[:3]),
        ("t10k-labels-idx1-ubyte", labs[:3]),
    ):
        _write_idx(mirror / f"{stem}.gz", arr)
    target = tmp_path / "data" / "tiny"
    target.mkdir(parents=True)
    download("tiny", target, mirrors=(mirror.as_uri() + "/",), retries=1)
    from elbolab.vae.data import load_idx_split

    got = load_idx_split("tiny", "train", tmp_path / "data", allow_download=False)
    assert got.images.shape == (6, 784) and got.labels.tolist() == list(range(6))
    with pytest.raises(DataError, match="could not download.*--data-dir"):
        download("other", tmp_path / "x", mirrors=("file:///nonexistent/",), retries=1)


def test_offline_fallback_to_digits_says_so_on_one_line_and_creates_nothing(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr("elbolab.vae.data.MIRRORS", {"mnist": ("file:///nonexistent/",)})
    missing = tmp_path / "no" / "such" / "folder"
    with pytest.warns(UserWarning, match="could not download.*using scikit-learn's 8x8") as w:
        d = load_dataset("mnist", "train", missing)
    assert d.name == "digits" and d.images.shape[1] == 64
    assert "\n" not in str(w[0].message)
    assert not (tmp_path / "no").exists()  # reading never creates folders
    monkeypatch.setenv("ELBOLAB_OFFLINE", "1")
    with pytest.raises(DataMissing, match="not found in.*downloads are off"):
        load_dataset("mnist", "train", missing, fallback=False)


def _mnist_like(folder: Path, n: int = 6) -> None:
    """A tiny, valid MNIST-format folder (train and test)."""
    folder.mkdir(parents=True)
    imgs = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labs = np.arange(n, dtype=np.uint8) % 10
    for stem, arr in (("train-images-idx3-ubyte", imgs), ("train-labels-idx1-ubyte", labs),
                      ("t10k-images-idx3-ubyte", imgs), ("t10k-labels-idx1-ubyte", labs)):
        _write_idx(folder / f"{stem}.gz", arr)


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-20])


def _garbage(p: Path) -> None:
    p.write_bytes(b"this is not a data file at all")


def _not_idx(p: Path) -> None:
    p.write_bytes(gzip.compress(b"\x01\x02\x03\x04" + bytes(100)))


def _wrong_shape(p: Path) -> None:
    _write_idx(p, np.zeros((6, 784), dtype=np.uint8))


def _mismatched(p: Path) -> None:
    _write_idx(p, np.zeros((5, 28, 28), dtype=np.uint8))  # 5 images for 6 labels


def _float_pixels(p: Path) -> None:  # a valid IDX file of big-endian float32 (type 0x0D)
    header = bytes([0, 0, 0x0D, 3]) + b"".join(n.to_bytes(4, "big") for n in (6, 28, 28))
    p.write_bytes(gzip.compress(header + np.zeros((6, 28, 28), dtype=">f4").tobytes()))


def _removed(p: Path) -> None:
    p.unlink()


@pytest.mark.parametrize("damage, match", [
    (_truncate, "corrupted or truncated"), (_garbage, "not an IDX file"),
    (_not_idx, "not an IDX file"), (_wrong_shape, "do not form an image dataset"),
    (_mismatched, "do not form an image dataset"), (_float_pixels, "unsigned bytes"),
    (_removed, "holds train-labels-idx1-ubyte but not train-images-idx3-ubyte"),
])
@pytest.mark.parametrize("offline", [True, False])
def test_a_corrupted_data_folder_is_an_error_never_a_fallback(tmp_path, monkeypatch, damage,
                                                              match, offline):
    _mnist_like(tmp_path / "mnist")
    damage(tmp_path / "mnist" / "train-images-idx3-ubyte.gz")
    monkeypatch.setattr("elbolab.vae.data.MIRRORS", {"mnist": ("file:///nonexistent/",)})
    monkeypatch.setattr("elbolab.vae.data.KNOWN_SHA256", {})  # synthetic files: no checksums,
    monkeypatch.setenv("ELBOLAB_OFFLINE", "1" if offline else "0")  # so the parser must see it
    with pytest.raises(DataError, match=match) as err:
        load_dataset("mnist", "train", tmp_path)  # fallback on: it must not be taken
    assert not isinstance(err.value, DataMissing)
    assert "train-" in str(err.value)  # names the file
    assert load_dataset("mnist", "test", tmp_path).name == "mnist"  # the intact split loads


def test_a_file_that_is_not_the_known_mnist_is_refused_by_its_checksum(tmp_path, monkeypatch):
    _mnist_like(tmp_path / "mnist")  # well-formed IDX, but not the published MNIST bytes
    monkeypatch.setenv("ELBOLAB_OFFLINE", "1")
    with pytest.raises(DataError, match="train-images.*SHA-256 .* does not match") as err:
        load_dataset("mnist", "train", tmp_path)
    assert not isinstance(err.value, DataMissing)


def test_idx_sizes_are_multiplied_without_overflow():
    header = bytes([0, 0, 0x08, 3]) + (2**31).to_bytes(4, "big") * 3  # 2^93 bytes promised
    with pytest.raises(DataError, match="truncated or corrupted"):
        parse_idx(header + bytes(16), "huge")


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("ELBOLAB_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    assert default_data_dir("/x") == Path("/x")
    monkeypatch.delenv("ELBOLAB_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert default_data_dir() == tmp_path / "c" / "elbolab"


def test_binarization_is_bernoulli_of_the_intensity(gen):
    x = torch.full((200_000,), 0.3)
    b = binarize(x, gen)
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(b.mean().item() - 0.3) < 4 * (0.3 * 0.7 / 200_000) ** 0.5
    torch.testing.assert_close(static_binarization(x[:100], 1), static_binarization(x[:100], 1))
    # per intensity, the frequency of ones is the intensity (4 binomial SE), and the ends are
    # exact: p = 0 never and p = 1 always gives a one (an off-by-one comparison fails here)
    p = torch.tensor([0.0, 0.01, 0.5, 0.99, 1.0]).repeat(100_000, 1)
    freq = binarize(p, gen).mean(0)
    se = (p[0] * (1 - p[0]) / 100_000).sqrt()
    assert freq[0] == 0 and freq[-1] == 1
    assert ((freq - p[0]).abs()[1:-1] <= 4 * se[1:-1]).all()
    assert binarize(p.double(), gen).dtype == torch.float64


@pytest.mark.parametrize("bad, error, match", [
    (torch.tensor([0.5, 1.5]), ValueError, r"images must lie in \[0, 1\].*1\.5"),
    (torch.tensor([-0.1, 0.5]), ValueError, r"images must lie in \[0, 1\]"),
    (torch.tensor([float("nan"), 0.5]), ValueError, r"images must lie in \[0, 1\]"),
    (torch.tensor([0, 1]), TypeError, "images must be a floating tensor"),
])
def test_binarize_refuses_what_is_not_a_probability(bad, error, match):
    with pytest.raises(error, match=match):
        binarize(bad)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("cifar", "train")
