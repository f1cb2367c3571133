"""Teacher packs: the teacher's outputs over a training set, computed once and read back
by image index, so distillation runs without the teacher in the loop.

Why: the teacher's forward pass is most of what KD-style methods cost beyond plain
training, and a team that may not ship its teacher's weights (or even its raw features)
can ship its logits and its coarse activation maps instead.

A pack is a folder:

    manifest.json         what is inside and what it was made from (see `make_pack`)
    logits.npy            (N, classes)
    map<k>.npy            (N, H_k, W_k) channel mean of |F_k|^p of teacher stage k, not normalised
    feat<k>.npy           (N, C_k, H_k, W_k) raw stage features, only when made with features
    probe_map<k>.npy      maps of the first test images, for the app's teacher-vs-student pictures

Row i belongs to image i of the training split in the data set's own order. The arrays
are plain .npy files, opened memory-mapped (never with pickle), so a pack much larger
than RAM works and a pack cannot run code. A pack is only used with the data it was made
from: a fingerprint of the images, labels and transform is checked at every start.
Augmentation is refused with a pack: the teacher saw each image once, un-augmented.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from .data import ArrayImageDataset, DataBundle
from .maps import activation_map
from .methods.base import TeacherOutputs
from .runs import atomic_write_json

PACK_FORMAT = "lakd-teacher-pack"
PACK_VERSION = 1
MANIFEST = "manifest.json"
DTYPES = {"float32": np.float32, "float16": np.float16}
PROBE_IMAGES = 16


class PackError(ValueError):
    """A pack that is missing, damaged, or made for other data or another method."""


# -- fingerprints ---------------------------------------------------------------
def _hash_source(h, ds: Dataset) -> str:
    """Feed what determines the images of `ds`, in order, into `h`; returns a short kind label.

    In-memory sets hash their pixels and labels; file folders hash each file's relative
    path, class and size (reading every byte of a big folder at every start would cost
    more than the pack saves). A subset is hashed as the items it selects, so "the first
    300 per class" of a 300-per-class set is the set itself."""
    indices = None
    while isinstance(ds, Subset):
        picked = np.asarray(ds.indices, dtype=np.int64)
        indices = picked if indices is None else picked[indices]
        ds = ds.dataset
    if isinstance(ds, ArrayImageDataset):
        images, labels = ds.images, ds.labels
        if indices is not None:
            images, labels = images[torch.from_numpy(indices)], labels[torch.from_numpy(indices)]
        h.update(images.contiguous().numpy().tobytes())
        h.update(labels.numpy().astype(np.int64).tobytes())
        return "pixels"
    samples, root = getattr(ds, "samples", None), getattr(ds, "root", None)
    if samples is not None and root is not None:
        for i in (indices.tolist() if indices is not None else range(len(samples))):
            path, label = samples[i]
            h.update(f"{os.path.relpath(path, root)}\0{label}\0{os.path.getsize(path)}\n".encode())
        return "files"
    raise PackError(f"cannot fingerprint a data set of type {type(ds).__name__}")


def _transform(ds: Dataset, bundle: DataBundle) -> dict:
    """The preprocessing between the stored images and what the teacher saw."""
    base = _base(ds)
    out = {"input_size": bundle.input_size, "in_channels": bundle.in_channels}
    if isinstance(base, ArrayImageDataset):
        out.update(mean=[round(v, 6) for v in base.mean.flatten().tolist()],
                   std=[round(v, 6) for v in base.std.flatten().tolist()],
                   channels_repeated=base.repeat_channels)
    return out


def data_fingerprint(bundle: DataBundle) -> dict:
    """What a pack's rows depend on, field by field, so a mismatch can say what differs."""
    h = hashlib.sha256()
    kind = _hash_source(h, bundle.train)
    return {"data": bundle.name, "images": len(bundle.train), "classes": list(bundle.class_names),
            "transform": _transform(bundle.train, bundle), "content": f"{kind}:{h.hexdigest()[:16]}"}


def fingerprint_differences(made_for: dict, current: dict) -> list[str]:
    labels = {"data": "data set", "images": "training images", "classes": "class list",
              "transform": "transform", "content": "content fingerprint"}
    out = []
    for key, label in labels.items():
        a, b = made_for.get(key), current.get(key)
        if a == b:
            continue
        if key == "classes" and a and b and len(a) != len(b):
            out.append(f"{label}: {len(a)} classes in the pack, {len(b)} here")
        elif key == "classes":
            changed = [f"{x!r}->{y!r}" for x, y in zip(a or [], b or []) if x != y][:3]
            out.append(f"{label}: differs ({', '.join(changed)})")
        else:
            out.append(f"{label}: pack {a!r}, this run {b!r}")
    return out


def teacher_identity(spec: str, path: Path) -> dict:
    """How a pack names its teacher: the setting, the file's hash and size (never the weights)."""
    from .checkpoint import file_sha256

    return {"source": spec, "sha256": file_sha256(path), "file_bytes": Path(path).stat().st_size}


# -- writing --------------------------------------------------------------------
def feature_bytes(stage_shapes: list[tuple[int, int, int]], itemsize: int) -> int:
    return sum(int(np.prod(s)) for s in stage_shapes) * itemsize


def map_bytes(stage_shapes: list[tuple[int, int, int]], itemsize: int) -> int:
    return sum(h * w for _, h, w in stage_shapes) * itemsize


@torch.no_grad()
def make_pack(teacher, bundle: DataBundle, out: str | Path, *, map_p: float = 2.0, features: bool = False,
              dtype: str = "float32", batch_size: int = 256, device: torch.device | str = "cpu",
              teacher_info: dict | None = None, overwrite: bool = False,
              progress: Callable[[int, int], None] | None = None) -> Path:
    """Run `teacher` (eval mode) once over `bundle.train`, in order, and write a pack to `out`.

    The pack is written into a temporary folder next to `out` and renamed into place at
    the end, so an interrupted or failed pack never looks like a finished one."""
    out = Path(out)
    if dtype not in DTYPES:
        raise PackError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if not (isinstance(map_p, (int, float)) and np.isfinite(map_p) and map_p > 0):
        raise PackError(f"map_p must be a finite number > 0, got {map_p!r}")
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise PackError(f"{out} already exists; choose another --out or add --overwrite")
    if getattr(_base(bundle.train), "augment", False):
        raise PackError("the data set is augmented; a pack is made from un-augmented images")
    device = torch.device(device)
    teacher = teacher.to(device).eval()
    np_dtype = DTYPES[dtype]
    n = len(bundle.train)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        arrays: dict[str, np.ndarray] = {}
        stage_shapes: list[tuple[int, int, int]] = []
        row = 0
        started = time.perf_counter()
        for x, _ in DataLoader(bundle.train, batch_size=batch_size, shuffle=False):
            feats, logits = teacher.forward_stages(x.to(device))
            if not arrays:
                stage_shapes = [tuple(int(v) for v in f.shape[1:]) for f in feats]
                arrays["logits"] = _open_array(tmp, "logits", (n, logits.shape[1]), np_dtype)
                for k, (c, hh, ww) in enumerate(stage_shapes):
                    arrays[f"map{k}"] = _open_array(tmp, f"map{k}", (n, hh, ww), np_dtype)
                    if features:
                        arrays[f"feat{k}"] = _open_array(tmp, f"feat{k}", (n, c, hh, ww), np_dtype)
            b = x.shape[0]
            arrays["logits"][row:row + b] = logits.float().cpu().numpy()
            for k, f in enumerate(feats):
                arrays[f"map{k}"][row:row + b] = activation_map(f, map_p).cpu().numpy()
                if features:
                    arrays[f"feat{k}"][row:row + b] = f.float().cpu().numpy()
            row += b
            if progress:
                progress(row, n)
        seconds = time.perf_counter() - started
        for a in arrays.values():
            a.flush()
        probe = _write_probe_maps(teacher, bundle, tmp, map_p, device)
        test_acc = _accuracy(teacher, bundle, device)
        itemsize = np.dtype(np_dtype).itemsize
        per_image = {"logits": bundle.num_classes * itemsize, "maps": map_bytes(stage_shapes, itemsize),
                     "raw_features": feature_bytes(stage_shapes, itemsize)}
        manifest = {
            "format": PACK_FORMAT, "version": PACK_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "teacher": {**(teacher_info or {}), "arch": getattr(teacher, "arch", None), "test_acc": test_acc,
                        "parameters": sum(p.numel() for p in teacher.parameters())},
            "made_for": data_fingerprint(bundle),
            "map_p": float(map_p), "dtype": dtype, "features": bool(features), "images": n,
            "num_classes": bundle.num_classes,
            "stages": [list(s) for s in stage_shapes], "probe_images": probe,
            "bytes_per_image": per_image, "seconds": round(seconds, 2),
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _base(ds: Dataset) -> Dataset:
    while isinstance(ds, Subset):
        ds = ds.dataset
    return ds


def _open_array(folder: Path, name: str, shape: tuple, dtype) -> np.ndarray:
    return np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)


def _write_probe_maps(teacher, bundle: DataBundle, folder: Path, map_p: float, device) -> int:
    """Maps of the first test images: the run's fixed probe images (see lakd/maps.probe_batch)."""
    from .maps import probe_batch

    images, _ = probe_batch(bundle.test, PROBE_IMAGES)
    feats, _ = teacher.forward_stages(images.to(device))
    for k, f in enumerate(feats):
        np.save(folder / f"probe_map{k}.npy", activation_map(f, map_p).cpu().numpy().astype(np.float32))
    return len(images)


def _accuracy(teacher, bundle: DataBundle, device) -> float:
    from .trainer import evaluate

    return evaluate(teacher, DataLoader(bundle.test, batch_size=256), device)


# -- reading --------------------------------------------------------------------
class TeacherPack:
    """A pack opened for reading: arrays memory-mapped, rows fetched per batch by index."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        manifest_path = self.path / MANIFEST
        if not manifest_path.is_file():
            raise PackError(f"{self.path} is not a teacher pack (no {MANIFEST}); make one with "
                            "`python -m lakd teacher-pack --teacher ... --data ... --out DIR`")
        try:
            m = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as e:
            raise PackError(f"{manifest_path}: unreadable manifest ({e})") from e
        if not isinstance(m, dict) or m.get("format") != PACK_FORMAT:
            raise PackError(f"{manifest_path}: not a {PACK_FORMAT} manifest")
        if m.get("version") != PACK_VERSION:
            raise PackError(f"{self.path}: pack version {m.get('version')!r}; this engine reads version {PACK_VERSION}")
        self.manifest = m
        self.stage_shapes = [tuple(s) for s in m["stages"]]
        self.map_p = float(m["map_p"])
        self.images = int(m["images"])
        self.logits = self._array("logits", (self.images, int(m["num_classes"])))
        self.maps = [self._array(f"map{k}", (self.images, h, w)) for k, (_, h, w) in enumerate(self.stage_shapes)]
        self.feats = ([self._array(f"feat{k}", (self.images, *s)) for k, s in enumerate(self.stage_shapes)]
                      if m.get("features") else None)

    def _array(self, name: str, shape: tuple) -> np.ndarray:
        path = self.path / f"{name}.npy"
        try:
            a = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise PackError(f"{path}: missing or damaged ({e})") from e
        if tuple(a.shape) != tuple(shape):
            raise PackError(f"{path}: shape {tuple(a.shape)}, the manifest says {tuple(shape)} (damaged pack?)")
        return a

    @property
    def holds(self) -> set[str]:
        return {"logits", "maps"} | ({"feats"} if self.feats is not None else set())

    @property
    def teacher_arch(self) -> str | None:
        return self.manifest.get("teacher", {}).get("arch")

    def check_data(self, bundle: DataBundle, augment: bool = False) -> None:
        """Refuse data other than what the pack was made from, saying what differs."""
        if augment:
            raise PackError("augmentation is off with a teacher pack: the pack holds the teacher's outputs for "
                            "the un-augmented images only (turn --augment off, or use a live --teacher)")
        diffs = fingerprint_differences(self.manifest["made_for"], data_fingerprint(bundle))
        if diffs:
            raise PackError(f"teacher pack {self.path} was made for other data: " + "; ".join(diffs))

    def check_method(self, method: str, needs: set[str], map_p: float | None) -> None:
        missing = needs - self.holds
        if "feats" in missing:
            raise PackError(f"method {method!r} with these settings needs the teacher's raw stage features, which "
                            f"this pack does not hold; make the pack with --features, or use a live --teacher")
        if missing:
            raise PackError(f"method {method!r} needs {', '.join(sorted(missing))} from the teacher; this pack "
                            f"holds {', '.join(sorted(self.holds))}")
        if "maps" in needs and "feats" not in self.holds and map_p is not None and float(map_p) != self.map_p:
            raise PackError(f"this pack's maps were made with p={self.map_p:g} but the run uses p={map_p:g}; "
                            f"make a pack with --map-p {map_p:g}")

    def outputs(self, index: torch.Tensor, device: torch.device) -> TeacherOutputs:
        idx = index.cpu().numpy()
        if idx.size and (idx.min() < 0 or idx.max() >= self.images):
            raise PackError(f"image index {int(idx.max())} is outside this pack's {self.images} rows")

        def rows(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(a[idx], dtype=np.float32)).to(device, non_blocking=True)

        feats = [rows(a) for a in self.feats] if self.feats is not None else None
        return TeacherOutputs(rows(self.logits), feats, [rows(a) for a in self.maps], self.map_p)

    def probe_maps(self, n: int) -> list[torch.Tensor] | None:
        """Teacher maps of the first n test images (None when the pack holds fewer)."""
        if n > int(self.manifest.get("probe_images", 0)):
            return None
        return [torch.from_numpy(np.load(self.path / f"probe_map{k}.npy", allow_pickle=False)[:n])
                for k in range(len(self.stage_shapes))]

    def size_report(self) -> dict:
        """Bytes per image of what this pack holds vs what the teacher's raw features take."""
        per = self.manifest["bytes_per_image"]
        on_disk = sum(f.stat().st_size for f in self.path.glob("*.npy") if not f.name.startswith("probe_"))
        return {"logits": per["logits"], "maps": per["maps"], "raw_features": per["raw_features"],
                "pack_per_image": per["logits"] + per["maps"] + (per["raw_features"] if self.feats is not None else 0),
                "logits_and_features_per_image": per["logits"] + per["raw_features"],
                "on_disk_bytes": on_disk, "images": self.images}
