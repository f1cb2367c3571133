"""Weights in and out: safetensors with the architecture in its metadata, and
PyTorch files only through weights-only loading (a pickle can never run code here)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from .models import StagedNet, build_model
from .runs import atomic_write_bytes


class CheckpointError(ValueError):
    pass


def file_sha256(path: Path) -> str:
    """Identifies a teacher file in a pack's manifest without shipping the file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_weights(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    """Atomic safetensors write through the run store's one writer (so a full disk is a
    clear RunStoreError and the old file stays); metadata values are stored as JSON."""
    clean = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    data = safetensors_bytes(clean, metadata={k: json.dumps(v) for k, v in (metadata or {}).items()})
    atomic_write_bytes(Path(path), data)


def read_metadata(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    out = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def save_model(path: Path, model: StagedNet, **extra_meta) -> None:
    meta = {"arch": model.arch, "num_classes": model.num_classes, "in_channels": model.in_channels,
            "input_size": model.input_size, **extra_meta}
    save_weights(path, model.state_dict(), meta)


def load_state_dict_file(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, metadata) from a .safetensors file or a weights-only PyTorch file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path)), read_metadata(path)
        except Exception as e:
            raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from e
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path} refused: only plain weights can be loaded (weights-only loading failed: "
                              f"{type(e).__name__}). Save the model's state_dict, or use .safetensors.") from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    return obj, {}


def load_model(path: Path, *, arch: str | None = None, num_classes: int | None = None,
               in_channels: int | None = None, input_size: int | None = None) -> StagedNet:
    """Build the model a checkpoint was saved from and load it.

    Given `arch`/`num_classes`, they must agree with the checkpoint: a mismatch names both.
    """
    state, meta = load_state_dict_file(path)
    saved_arch = meta.get("arch")
    if arch and saved_arch and arch != saved_arch:
        raise CheckpointError(f"checkpoint {path} holds a {saved_arch!r} but a {arch!r} was asked for")
    arch = arch or saved_arch
    if not arch:
        raise CheckpointError(f"{path} does not say its architecture; name it (e.g. --teacher-arch resnet20)")
    saved_classes = meta.get("num_classes")
    if saved_classes is None:
        fc = [v for k, v in state.items() if k.endswith(".weight") and v.dim() == 2]
        saved_classes = fc[-1].shape[0] if fc else None
    if num_classes is not None and saved_classes is not None and num_classes != saved_classes:
        raise CheckpointError(f"checkpoint {path} ({arch}) has {saved_classes} classes but the data has {num_classes}")
    model = build_model(arch, num_classes=saved_classes or num_classes or 10,
                        in_channels=in_channels or meta.get("in_channels", 3),
                        input_size=input_size or meta.get("input_size", 32))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise CheckpointError(f"checkpoint {path} does not fit architecture {arch!r}: {first}") from e
    return model


def optimizer_to_files(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer's state into tensors (for safetensors) and JSON-able rest."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"opt.{idx}.{key}"] = val
            else:
                scalars[f"{idx}.{key}"] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_files(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for name, val in tensors.items():
        if not name.startswith("opt."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = val
    for name, val in meta.get("scalars", {}).items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = val
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
