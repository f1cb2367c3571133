"""Data sets by name, each returned as a `DataBundle` the trainer can use as it is.

Names: `sample` (bundled Fashion-MNIST subset, the offline default), `fashion-mnist`,
`fmnist-mini` (the benchmark protocol's student set), `cifar10`, `cifar100`,
`imagefolder` (ImageNet layout: root/train/<class>/*, root/val/<class>/*).
Small image sets are held in memory as uint8 and normalised per item, which keeps
one epoch of Fashion-MNIST fast on a 2-core CPU without worker processes.
"""
from __future__ import annotations

import gzip
import os
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset
from torchvision import datasets
from torchvision.transforms import v2

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FILE = REPO_ROOT / "sample_data" / "fmnist_sample.npz"
DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")
FMNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FMNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FMNIST_MEAN, FMNIST_STD = (0.2860,), (0.3530,)
CIFAR_MEAN, CIFAR_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")

DATASET_NAMES = ("sample", "fashion-mnist", "fmnist-mini", "cifar10", "cifar100", "imagefolder")


class DataError(ValueError):
    """Bad or missing data, with a message that says what to do."""


@dataclass
class DataBundle:
    name: str
    train: Dataset
    test: Dataset
    class_names: list[str]
    in_channels: int = 3
    input_size: int = 32
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class ArrayImageDataset(Dataset):
    """uint8 images (N, C, H, W) in memory; normalised per item, augmented on demand.

    `repeat_channels` turns grayscale into the 3 channels that CIFAR models expect.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                 *, augment: bool = False, repeat_channels: int = 1):
        assert images.dtype == torch.uint8 and images.dim() == 4
        self.images = images
        self.labels = labels.long()
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.repeat_channels = repeat_channels
        self.augment = augment
        size = images.shape[-1]
        self.augmentation = v2.Compose([v2.RandomCrop(size, padding=4), v2.RandomHorizontalFlip()])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = self.images[i]
        if self.augment:
            img = self.augmentation(img)
        x = (img.float().div_(255) - self.mean) / self.std
        if self.repeat_channels > 1:
            x = x.repeat(self.repeat_channels, 1, 1)
        return x, self.labels[i]


def first_per_class(labels: torch.Tensor | Sequence[int], per_class: int) -> list[int]:
    """Indices of the first `per_class` items of every class, in file order."""
    counts: dict[int, int] = {}
    keep = []
    for i, y in enumerate(torch.as_tensor(labels).tolist()):
        if counts.get(y, 0) < per_class:
            counts[y] = counts.get(y, 0) + 1
            keep.append(i)
    return keep


def pad_to_32(images: torch.Tensor) -> torch.Tensor:
    """Fashion-MNIST 28x28 -> 32x32 with 2 zero pixels on every side (the benchmark protocol)."""
    return v2.functional.pad(images, [2, 2, 2, 2], fill=0)


def _fmnist_arrays(images: torch.Tensor, labels: torch.Tensor, augment: bool) -> ArrayImageDataset:
    return ArrayImageDataset(pad_to_32(images.unsqueeze(1)), labels, FMNIST_MEAN, FMNIST_STD,
                             augment=augment, repeat_channels=3)


def load_sample(augment: bool = False) -> DataBundle:
    if not SAMPLE_FILE.exists():
        raise DataError(f"the bundled sample data is missing: {SAMPLE_FILE} (restore it from the repository)")
    with np.load(SAMPLE_FILE) as z:
        tr_x, tr_y, te_x, te_y = (torch.from_numpy(z[k]) for k in ("train_images", "train_labels", "test_images", "test_labels"))
    return DataBundle("sample", _fmnist_arrays(tr_x, tr_y, augment), _fmnist_arrays(te_x, te_y, False),
                      list(FMNIST_CLASSES), info={"train_size": len(tr_y), "test_size": len(te_y)})


def _fmnist_root(root: str | os.PathLike | None) -> Path:
    """A folder torchvision's FashionMNIST can read: root/FashionMNIST/raw/<IDX files>.

    Debian's dataset-fashion-mnist ships the IDX files gzipped in one folder; they are
    unpacked once into a cache folder so torchvision's own loader reads them.
    """
    candidates = [Path(root)] if root else [DEBIAN_FMNIST, Path.home() / ".cache" / "lakd"]
    for base in candidates:
        raw = base / "FashionMNIST" / "raw"
        if all((raw / f).exists() for f in FMNIST_FILES):
            return base
        if all((base / f"{f}.gz").exists() or (base / f).exists() for f in FMNIST_FILES):
            cache = Path(os.environ.get("LAKD_CACHE", Path.home() / ".cache" / "lakd"))
            out = cache / "FashionMNIST" / "raw"
            out.mkdir(parents=True, exist_ok=True)
            for f in FMNIST_FILES:
                if (out / f).exists():
                    continue
                src = base / f
                tmp = out / f"{f}.tmp"
                if src.exists():
                    shutil.copyfile(src, tmp)
                else:
                    with gzip.open(base / f"{f}.gz", "rb") as fin, open(tmp, "wb") as fout:
                        shutil.copyfileobj(fin, fout)
                os.replace(tmp, out / f)
            return cache
    raise DataError(
        "Fashion-MNIST not found. On Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist` "
        f"(installs it in {DEBIAN_FMNIST}); or pass --data-root pointing to a folder with the four IDX files "
        "(train-images-idx3-ubyte[.gz] ...); or use --download when online.")


def load_fashion_mnist(root=None, *, augment=False, per_class: int | None = None, download=False) -> DataBundle:
    if download:
        base = Path(root or Path.home() / ".cache" / "lakd")
        datasets.FashionMNIST(base, train=True, download=True)
        datasets.FashionMNIST(base, train=False, download=True)
    else:
        base = _fmnist_root(root)
    train = datasets.FashionMNIST(base, train=True, download=False)
    test = datasets.FashionMNIST(base, train=False, download=False)
    tr_x, tr_y = train.data, train.targets
    if per_class:
        keep = first_per_class(tr_y, per_class)
        tr_x, tr_y = tr_x[keep], tr_y[keep]
    name = "fmnist-mini" if per_class == 500 else "fashion-mnist"
    return DataBundle(name, _fmnist_arrays(tr_x, tr_y, augment), _fmnist_arrays(test.data, test.targets, False),
                      list(FMNIST_CLASSES), info={"root": str(base), "train_size": len(tr_y), "test_size": len(test.targets)})


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Reads CIFAR's pickled batches but refuses any object other than numpy arrays:
    a pickle from an unknown source can otherwise run code when loaded."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only numpy arrays are allowed in a data batch")


def read_cifar_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return _ArraysOnlyUnpickler(f, encoding="latin1").load()
    except FileNotFoundError as e:
        raise DataError(f"missing CIFAR file {path}") from e
    except Exception as e:
        raise DataError(f"cannot read CIFAR file {path}: {e}") from e


def _cifar_arrays(cls, root: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """CIFAR batches read with the safe unpickler, using torchvision's own file list."""
    folder = Path(root) / cls.base_folder
    def read(file_list):
        xs, ys = [], []
        for name, _ in file_list:
            entry = read_cifar_batch(folder / name)
            xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
        return torch.from_numpy(np.concatenate(xs)), torch.tensor(ys)
    tr_x, tr_y = read(cls.train_list)
    te_x, te_y = read(cls.test_list)
    classes = list(read_cifar_batch(folder / cls.meta["filename"])[cls.meta["key"]])
    return tr_x, tr_y, te_x, te_y, classes


def load_cifar(name: str, root, *, augment=False, per_class: int | None = None, download=False) -> DataBundle:
    """CIFAR-10/100 from the python-version archive extracted under `root`.

    Files are read with a safe unpickler (numpy arrays only); torchvision's class is
    used only to download (and checksum) the official archive when asked.
    """
    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    if not root:
        raise DataError(f"{name} needs --data-root: the folder that holds {cls.base_folder}/")
    if download:
        cls(root, train=True, download=True)
    if not (Path(root) / cls.base_folder).is_dir():
        raise DataError(f"{name} not found: expected the folder {Path(root) / cls.base_folder} (the extracted "
                        f"'python version' archive); add --download when online")
    tr_x, tr_y, te_x, te_y, classes = _cifar_arrays(cls, Path(root))
    if per_class:
        keep = first_per_class(tr_y, per_class)
        tr_x, tr_y = tr_x[keep], tr_y[keep]
    return DataBundle(name, ArrayImageDataset(tr_x, tr_y, CIFAR_MEAN, CIFAR_STD, augment=augment),
                      ArrayImageDataset(te_x, te_y, CIFAR_MEAN, CIFAR_STD), classes,
                      info={"root": str(root), "train_size": len(tr_y), "test_size": len(te_y)})


def scan_image_folder(split_dir: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Check an ImageNet-layout split before training: every file must decode.

    Raises a DataError naming the bad files (up to 10) and the class counts.
    """
    if not split_dir.is_dir():
        raise DataError(f"missing folder {split_dir}: an image folder needs train/ and val/, each with one sub-folder per class")
    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    samples, bad, empty = [], [], []
    for ci, c in enumerate(classes):
        files = sorted(p for p in (split_dir / c).rglob("*") if p.is_file() and not p.name.startswith("."))
        good = 0
        for p in files:
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                bad.append(f"{p} (not an image file type)")
                continue
            try:
                decode_image(p)
            except Exception as e:  # PIL raises many types for broken files
                bad.append(f"{p} ({type(e).__name__}: {e})")
                continue
            samples.append((str(p), ci))
            good += 1
        if good == 0:
            empty.append(c)
    if bad:
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise DataError(f"{len(bad)} unreadable file(s) in {split_dir}: " + "; ".join(bad[:10]) + more)
    if len(classes) < 2:
        raise DataError(f"{split_dir} has {len(classes)} class folder(s){': ' + ', '.join(classes) if classes else ''}; "
                        "at least 2 are needed")
    if empty:
        raise DataError(f"{split_dir}: empty class folder(s), {len(empty)} of {len(classes)} with no image: "
                        + ", ".join(str(split_dir / c) for c in empty))
    return classes, samples


def decode_image(path: Path) -> None:
    """Decode a whole image file, or raise. `verify` alone checks little for JPEG (a
    truncated one passes), so the pixels are decoded too (JPEG at 1/8 scale: fast)."""
    from PIL import Image

    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
        im.load()


def load_image_folder(root, *, input_size=32, in_channels=3, augment=False) -> DataBundle:
    if not root:
        raise DataError("imagefolder needs --data-root: a folder with train/ and val/, each with one sub-folder per class")
    root = Path(root)
    classes, train_samples = scan_image_folder(root / "train")
    val_classes, val_samples = scan_image_folder(root / "val")
    if val_classes != classes:
        raise DataError(f"{root / 'train'} has {len(classes)} classes {classes} but {root / 'val'} has "
                        f"{len(val_classes)} {val_classes}; they must match")
    mode = "L" if in_channels == 1 else "RGB"
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if in_channels == 3 else ((0.5,) * in_channels, (0.5,) * in_channels)
    tail = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    to_mode = v2.Lambda(lambda im: im.convert(mode))
    if augment:
        train_tf = v2.Compose([to_mode, v2.RandomResizedCrop(input_size, antialias=True), v2.RandomHorizontalFlip(), *tail])
    else:
        train_tf = v2.Compose([to_mode, v2.Resize(input_size, antialias=True), v2.CenterCrop(input_size), *tail])
    test_tf = v2.Compose([to_mode, v2.Resize(input_size, antialias=True), v2.CenterCrop(input_size), *tail])
    train = datasets.ImageFolder(str(root / "train"), transform=train_tf)
    test = datasets.ImageFolder(str(root / "val"), transform=test_tf)
    return DataBundle("imagefolder", train, test, classes, in_channels=in_channels, input_size=input_size,
                      info={"root": str(root), "train_size": len(train_samples), "test_size": len(val_samples)})


def load_data(name: str, root=None, *, augment: bool = False, per_class: int | None = None,
              input_size: int = 32, in_channels: int = 3, download: bool = False) -> DataBundle:
    """Load a data set by name; `per_class` keeps the first N training items of each class."""
    if name == "sample":
        bundle = load_sample(augment)
        if per_class:
            bundle.train = Subset(bundle.train, first_per_class(bundle.train.labels, per_class))
        return bundle
    if name == "fashion-mnist":
        return load_fashion_mnist(root, augment=augment, per_class=per_class, download=download)
    if name == "fmnist-mini":
        return load_fashion_mnist(root, augment=augment, per_class=per_class or 500, download=download)
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, root, augment=augment, per_class=per_class, download=download)
    if name == "imagefolder":
        return load_image_folder(root, input_size=input_size, in_channels=in_channels, augment=augment)
    raise DataError(f"unknown data set {name!r}; valid names: {', '.join(DATASET_NAMES)}")
