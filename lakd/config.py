"""Run settings: one dataclass, loaded from YAML (safely: configs are data) and flags."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    pass


@dataclass
class RunConfig:
    method: str = "vanilla"
    student: str = "resnet8"
    teacher: str | None = None          # "bundled", a checkpoint file, or a run id
    teacher_arch: str | None = None     # required for PyTorch files that do not say it
    teacher_pack: str | None = None     # a pack folder (lakd/pack.py): the teacher's outputs read from disk
    data: str = "sample"
    data_root: str | None = None
    per_class: int | None = None        # keep the first N training images of each class
    input_size: int = 32
    in_channels: int = 3
    augment: bool = False
    download: bool = False
    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "sgd"              # sgd | adamw
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"            # cosine | step | constant
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"                # auto | cpu | cuda | cuda:N
    amp: bool | str = True              # CUDA only: auto (= true: bf16 where supported, else fp16 + scaler) | bf16 | fp16 | off
    channels_last: bool = False         # NHWC memory format (faster convolutions on tensor-core GPUs)
    compile: bool = False               # torch.compile the student's and teacher's blocks
    num_workers: int = 0
    eval_batch_size: int = 256
    eval_every: int = 1                 # evaluate every N epochs (always after the last)
    max_steps_per_epoch: int | None = None  # for smoke tests of big recipes
    save_maps: bool = True              # NDAM maps of fixed test images, every epoch
    map_epochs: list[int] | None = None  # epochs whose maps are saved (None: every epoch; 0 and the last always)
    map_images: int = 16
    map_p: float = 2.0
    method_params: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    def validate(self) -> "RunConfig":
        from .data import DATASET_NAMES
        from .models import model_names

        def need(cond, msg):
            if not cond:
                raise ConfigError(msg)

        need(isinstance(self.epochs, int) and self.epochs >= 1, f"epochs must be an integer >= 1, got {self.epochs!r}")
        need(isinstance(self.batch_size, int) and self.batch_size >= 1, f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        for name in ("lr", "momentum", "weight_decay", "gamma"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0, f"{name} must be a finite number >= 0, got {v!r}")
        need(self.lr > 0, f"lr must be > 0, got {self.lr}")
        need(self.optimizer in ("sgd", "adamw"), f"optimizer must be one of sgd, adamw; got {self.optimizer!r}")
        need(self.schedule in ("cosine", "step", "constant"), f"schedule must be one of cosine, step, constant; got {self.schedule!r}")
        need(self.data in DATASET_NAMES, f"unknown data set {self.data!r}; valid names: {', '.join(DATASET_NAMES)}")
        names = model_names()
        need(self.student in names, f"unknown student model {self.student!r}; valid models: {', '.join(names)}")
        need(self.teacher_arch is None or self.teacher_arch in names,
             f"unknown teacher model {self.teacher_arch!r}; valid models: {', '.join(names)}")
        need(not (self.teacher and self.teacher_pack),
             "give a teacher or a teacher pack, not both (a pack replaces the live teacher)")
        need(not (self.teacher_pack and self.augment),
             "augmentation is off with a teacher pack: the pack holds the teacher's outputs for the "
             "un-augmented images only (turn augment off, or use a live teacher)")
        need(self.per_class is None or (isinstance(self.per_class, int) and self.per_class >= 1),
             f"per_class must be an integer >= 1, got {self.per_class!r}")
        need(isinstance(self.eval_every, int) and self.eval_every >= 1, f"eval_every must be an integer >= 1, got {self.eval_every!r}")
        need(self.in_channels in (1, 3), f"in_channels must be 1 or 3, got {self.in_channels!r}")
        need(self.input_size >= 8, f"input_size must be >= 8, got {self.input_size!r}")
        need(self.amp in (True, False, "auto", "bf16", "fp16", "off"),
             f"amp must be auto, bf16, fp16 or off (or true/false); got {self.amp!r}")
        need(self.device == "auto" or self.device == "cpu" or str(self.device).startswith("cuda"),
             f"device must be auto, cpu, cuda or cuda:N; got {self.device!r}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known - {"run_id", "created"})
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; valid settings: {', '.join(sorted(known))}")
        return cls(**{k: v for k, v in d.items() if k in known})


def load_yaml(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """Settings from a YAML file (safe_load: data only).

    Two keys are for recipes (recipes/): `base: FILE` names a YAML file, relative to this
    one, whose settings this file extends (a chain of bases is fine, a cycle is refused;
    `method_params` and `methods` are merged key by key); `methods:` maps a method name to
    its settings, and the settings of the method that is run become its `method_params`
    (see `resolve_methods`)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base must be the path of a YAML file, got {base!r}")
    base_path = (path.parent / base).resolve()
    chain = _chain + (path.resolve(),)
    if base_path in chain:
        raise ConfigError(f"{path}: base files form a cycle: {' -> '.join(str(p) for p in chain + (base_path,))}")
    merged = load_yaml(base_path, chain)
    for key in ("method_params", "methods"):
        if isinstance(merged.get(key), dict) and isinstance(data.get(key), dict):
            inner = {**merged[key]}
            for name, value in data[key].items():
                both = isinstance(inner.get(name), dict) and isinstance(value, dict)
                inner[name] = {**inner[name], **value} if both else value
            data[key] = inner
    return {**merged, **data}


def resolve_methods(settings: dict) -> dict:
    """Replace a recipe's `methods:` section by the chosen method's `method_params`
    (settings given as method_params, e.g. by flags, win)."""
    methods = settings.pop("methods", None)
    if methods is None:
        return settings
    method = settings.get("method")
    if not isinstance(methods, dict) or method not in methods:
        names = ", ".join(methods) if isinstance(methods, dict) else "none"
        raise ConfigError(f"this recipe has settings for the methods {names}, not for {method!r}")
    settings["method_params"] = {**(methods[method] or {}), **(settings.get("method_params") or {})}
    return settings
