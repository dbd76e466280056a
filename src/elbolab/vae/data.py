"""Image data: an IDX reader, verified files, a configurable data folder, downloads with
retries, binarization, and an offline fallback.

The data folder is ``--data-dir``, else ``$ELBOLAB_DATA_DIR``, else the user cache
(``$XDG_CACHE_HOME/elbolab`` or ``~/.cache/elbolab``). A dataset lives in a sub-folder of it
named after the dataset (``mnist/``, ``fashion-mnist/``) with the four standard IDX files,
gzip-compressed or raw.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import time
import urllib.error
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checks import check_choice, check_number, should_validate
from ..io import atomic_path

# IDX type codes (LeCun et al.): the third byte of the magic number.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# SHA-256 of the *uncompressed* files (gzip streams differ between mirrors).
KNOWN_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte":
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte":
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte":
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte":
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
}

MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
}
# Where Debian's dataset-fashion-mnist package puts the files.
SYSTEM_DIRS = {"fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),)}
DATASETS = ("mnist", "fashion-mnist", "digits")
BINARIZE = ("none", "static", "dynamic")


class DataError(RuntimeError):
    """A data file is missing, corrupted, truncated or cannot be downloaded."""


class DataMissing(DataError):
    """The data set is not in the data folder and cannot be fetched: the one case the digits
    fallback of :func:`load_dataset` covers (a corrupted or incomplete folder is a
    :class:`DataError`, never a fallback)."""


def default_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``explicit``, else ``$ELBOLAB_DATA_DIR``, else the user cache folder."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("ELBOLAB_DATA_DIR"):
        return Path(os.environ["ELBOLAB_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "elbolab"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic number."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: cannot be read ({exc}); the file is corrupted or truncated. "
                        "Delete it and download it again.") from None


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes: magic (0, 0, type, ndim), ndim big-endian uint32 sizes, then data."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be the bytes of an IDX file, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{name}: not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = math.prod(shape) * dtype.itemsize  # Python integers: no int64 overflow
    if len(data) - header != expected:
        raise DataError(f"{name}: expected {expected:,} data bytes for shape {shape}, found "
                        f"{len(data) - header:,}: the file is truncated or corrupted")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def read_idx(path: str | os.PathLike[str], sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw); if ``sha256`` is given, verify the uncompressed
    content against it. Raises :class:`DataError` naming the file on any problem."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    data = _read_bytes(path)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise DataError(f"{path}: SHA-256 of the content does not match the known file; it is "
                        "corrupted or not the expected dataset. Delete it and download again.")
    return parse_idx(data, str(path))


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    return None


def download(dataset: str, folder: Path, *, retries: int = 3, timeout: float = 30.0,
             mirrors: tuple[str, ...] | None = None) -> None:
    """Fetch the four IDX files of ``dataset`` into ``folder`` from the standard mirrors,
    trying each mirror ``retries`` times with back-off; verify known checksums; write
    atomically. Raises :class:`DataError` with instructions when nothing can be fetched."""
    mirrors = mirrors or MIRRORS.get(dataset, ())
    errors = []
    for stem in (s for pair in SPLIT_FILES.values() for s in pair):
        if _find(folder, stem):
            continue
        for base in mirrors:
            url = f"{base}{stem}.gz"
            for attempt in range(retries):
                try:
                    with urllib.request.urlopen(url, timeout=timeout) as resp, \
                            atomic_path(folder / f"{stem}.gz") as tmp:
                        with open(tmp, "wb") as f:
                            shutil.copyfileobj(resp, f)
                        read_idx(tmp, KNOWN_SHA256.get(dataset, {}).get(stem))
                    break
                except (urllib.error.URLError, OSError, DataError, TimeoutError) as exc:
                    errors.append(f"{url}: {exc}")
                    time.sleep(min(2**attempt, 5) * 0.1)
            if _find(folder, stem):
                break
        if not _find(folder, stem):
            raise DataMissing(
                f"could not download {stem} for {dataset} into {folder} "
                f"({len(errors)} attempts; last: {errors[-1] if errors else 'no mirror'}). "
                f"Without a network, copy the four IDX files ({', '.join(SPLIT_FILES['train'])}, "
                f"...) into {folder}, or point --data-dir / ELBOLAB_DATA_DIR at a folder "
                f"holding {dataset}/, or use --dataset digits (bundled with scikit-learn).")


@dataclass
class ImageData:
    """Images flattened to (N, H·W) float32 in [0, 1], labels (N,) int64, the image shape,
    and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    shape: tuple[int, int]
    name: str
    source: str

    def __len__(self) -> int:
        return len(self.images)


def load_idx_split(dataset: str, split: str, data_dir: str | os.PathLike[str] | None = None,
                   *, allow_download: bool = True) -> ImageData:
    """Load ``split`` ("train" or "test") of an IDX dataset, downloading it if missing.
    Raises :class:`DataMissing` when it is absent and cannot be fetched (and leaves no folder
    behind: reading never creates folders), :class:`DataError` naming the file when a file
    is corrupted, truncated or does not match its partner, or when a folder holds only some
    of the files."""
    if not isinstance(dataset, str) or not dataset:
        raise TypeError(f"dataset must be a non-empty name (a folder under the data folder), "
                        f"got {dataset!r}")
    check_choice("split", split, tuple(SPLIT_FILES))
    root = default_data_dir(data_dir)
    folders = [root / dataset, root, *SYSTEM_DIRS.get(dataset, ())]
    img_stem, lab_stem = SPLIT_FILES[split]
    folder = next((f for f in folders if _find(f, img_stem) and _find(f, lab_stem)), None)
    if folder is None:
        partial = next(((f, s) for f in folders for s in (img_stem, lab_stem)
                        if _find(f, s)), None)
        incomplete = None
        if partial is not None:
            have, stem = partial
            other = lab_stem if stem == img_stem else img_stem
            incomplete = DataError(f"{have} holds {stem} but not {other}: the {dataset} {split} "
                                   "set is incomplete; add the missing file or remove the other")
        if not allow_download:
            if incomplete is not None:
                raise incomplete
            raise DataMissing(f"{dataset} {split} files not found in "
                              f"{', '.join(map(str, folders))} (downloads are off)")
        folder = root / dataset
        made = next((p for p in reversed([folder, *folder.parents]) if not p.exists()), None)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            download(dataset, folder)
        except DataMissing:
            if made is not None:  # reading never creates folders: remove what this made
                shutil.rmtree(made, ignore_errors=True)
            if incomplete is not None:  # some of the data are there: not absent, broken
                raise incomplete from None
            raise
    known = KNOWN_SHA256.get(dataset, {})
    images = read_idx(_find(folder, img_stem), known.get(img_stem))
    labels = read_idx(_find(folder, lab_stem), known.get(lab_stem))
    if images.dtype != np.uint8:
        raise DataError(f"{_find(folder, img_stem)}: pixels of type {images.dtype}, expected "
                        "unsigned bytes (0-255) as in MNIST")
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{folder}: images {images.shape} in {img_stem} and labels "
                        f"{labels.shape} in {lab_stem} do not form an image dataset (expected "
                        "(N, height, width) images and N labels)")
    # the division in torch (multithreaded, in place): the same float32 values as numpy's
    # x.astype(float32) / 255, several times faster
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32)).div_(255.0)
    return ImageData(x, torch.from_numpy(labels.astype(np.int64)), tuple(images.shape[1:]),
                     dataset, str(folder))


def load_digits_split(split: str, *, test_fraction: float = 0.2, seed: int = 0) -> ImageData:
    """scikit-learn's bundled 8×8 digits (1,797 images, intensities 0–16 scaled to [0, 1]),
    split deterministically: the offline fallback."""
    check_choice("split", split, tuple(SPLIT_FILES))
    check_number("test_fraction", test_fraction, minimum=0.0, exclusive=True)
    if not test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the offline fallback needs scikit-learn: pip install scikit-learn") \
            from None
    d = load_digits()
    perm = np.random.default_rng(seed).permutation(len(d.images))
    n_test = int(len(perm) * test_fraction)
    idx = perm[:n_test] if split == "test" else perm[n_test:]
    x = torch.from_numpy((d.images[idx].reshape(len(idx), -1) / 16.0).astype(np.float32))
    return ImageData(x, torch.from_numpy(d.target[idx].astype(np.int64)), (8, 8), "digits",
                     "scikit-learn load_digits (bundled)")


def load_dataset(dataset: str, split: str, data_dir: str | os.PathLike[str] | None = None,
                 *, allow_download: bool = True, fallback: bool = True) -> ImageData:
    """Load a dataset by name. When an IDX dataset is absent and cannot be fetched
    (:class:`DataMissing`) and ``fallback`` is on, fall back to the bundled 8×8 digits and say
    so in a one-line warning; the returned data's ``name`` says which set it is. A corrupted,
    truncated or incomplete data folder is a :class:`DataError` naming the file, never a
    fallback. The environment variable ``ELBOLAB_OFFLINE=1`` turns downloads off (an
    air-gapped machine fails at once instead of waiting on the mirrors)."""
    allow_download = allow_download and os.environ.get("ELBOLAB_OFFLINE", "") in ("", "0")
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if dataset == "digits":
        return load_digits_split(split)
    try:
        return load_idx_split(dataset, split, data_dir, allow_download=allow_download)
    except DataMissing as exc:
        if not fallback:
            raise
        warnings.warn(f"{exc}; using scikit-learn's 8x8 digits instead", stacklevel=2)
        return load_digits_split(split)


def _check_images(name: str, images: object) -> None:
    """Require a floating tensor of probabilities in [0, 1] (an empty one passes)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor of probabilities, got {images.dtype}")
    if images.numel() == 0:
        return
    lo, hi = torch.aminmax(images)
    if not (lo >= 0 and hi <= 1):  # NaN fails too
        raise ValueError(f"{name} must lie in [0, 1] to be binarized, got values in "
                         f"[{lo.item():g}, {hi.item():g}]")


def binarize(images: torch.Tensor, generator: torch.Generator | None = None, *,
             validate: bool | None = None) -> torch.Tensor:
    """One Bernoulli draw per pixel with probability equal to its intensity (the stochastic
    binarization of Salakhutdinov & Murray 2008): 1 where u < p for u ~ U[0, 1), so p = 0
    never and p = 1 always gives 1. Same shape and floating dtype; ``images`` must lie in
    [0, 1] (checked unless ``validate=False``, as the trainer's per-batch draws skip it: its
    data were checked when loaded). Drawn as uniforms and a comparison, the same law as
    ``torch.bernoulli`` and on the CPU about 3x faster."""
    if should_validate(validate):
        _check_images("images", images)
    u = torch.rand(images.shape, generator=generator, dtype=images.dtype, device=images.device)
    return u.lt_(images)


# The test set of a binarized run is binarized once, with the run's seed plus this offset, so
# that it never shares its noise with the (statically binarized) training set.
TEST_BINARIZATION_SEED_OFFSET = 10_007


def binarize_test_set(images: torch.Tensor, seed: int) -> torch.Tensor:
    """The fixed binarization of a run's test images (seed + the offset above)."""
    return static_binarization(images, seed=seed + TEST_BINARIZATION_SEED_OFFSET)


def static_binarization(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A fixed binarization: one draw with a seeded generator, reused every epoch."""
    _check_images("images", images)
    return binarize(images, torch.Generator(device=images.device).manual_seed(seed),
                    validate=False)


def binarize_split(train_x: torch.Tensor, test_x: torch.Tensor, mode: str,
                   seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A run's images under binarization ``mode`` (one of :data:`BINARIZE`): the test set
    binarized once (:func:`binarize_test_set`) unless ``"none"``; the training set once
    (``"static"``) or left to the training loop, which draws each minibatch afresh with
    :func:`binarize` (``"dynamic"``)."""
    check_choice("mode", mode, BINARIZE)
    _check_images("train_x", train_x)
    _check_images("test_x", test_x)
    if train_x.shape[1:] != test_x.shape[1:]:
        raise ValueError(f"train_x and test_x must hold images of one shape, got "
                         f"{list(train_x.shape[1:])} and {list(test_x.shape[1:])}")
    if mode != "none":
        test_x = binarize_test_set(test_x, seed)
    if mode == "static":
        train_x = static_binarization(train_x, seed=seed)
    return train_x, test_x


__all__ = ["BINARIZE", "DATASETS", "KNOWN_SHA256", "MIRRORS", "SPLIT_FILES", "SYSTEM_DIRS",
           "TEST_BINARIZATION_SEED_OFFSET", "binarize", "binarize_split", "binarize_test_set",
           "DataError", "DataMissing", "default_data_dir", "download", "ImageData", "load_dataset",
           "load_digits_split", "load_idx_split", "parse_idx", "read_idx", "static_binarization"]
