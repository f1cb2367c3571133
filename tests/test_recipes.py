"""Every recipe in recipes/ loads through the CLI's own config path and trains for a step
on generated data in the real formats (CIFAR-100 pickled batches, an ImageNet-style
folder of JPEG/PNG files) with random-init teachers saved as real checkpoints. Only the
data root, the teacher file, the steps per epoch and (224-px ImageNet only) the batch
size are overridden."""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lakd import api
from lakd.checkpoint import save_model
from lakd.cli import DISTILL_DEFAULTS, TEACHER_DEFAULTS, build_config, make_parser
from lakd.config import ConfigError, load_yaml
from lakd.methods import METHODS
from lakd.models import build_model
from lakd.trainer import Trainer

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # recipes set workers for GPU nodes
RECIPES = Path(__file__).resolve().parent.parent / "recipes"
PAIRS = sorted(p for p in RECIPES.glob("*/*.yaml") if not p.name.startswith("teacher-"))
TEACHERS = sorted(RECIPES.glob("*/teacher-*.yaml"))
IMAGENET_CLASSES = ("n01440764", "n01443537", "n01484850")


@pytest.fixture(scope="module")
def data_roots(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recipe-data")
    rng = np.random.default_rng(0)
    # CIFAR-100, "python version" layout: pickled dicts (protocol 2) train, test, meta
    cifar = root / "cifar100" / "cifar-100-python"
    cifar.mkdir(parents=True)
    for split, per_class in (("train", 1), ("test", 1)):
        fine = [c for c in range(100) for _ in range(per_class)]
        with open(cifar / split, "wb") as f:
            pickle.dump({"filenames": [f"img_{i}.png" for i in range(len(fine))], "batch_label": f"{split} batch",
                         "fine_labels": fine, "coarse_labels": [c // 5 for c in fine],
                         "data": rng.integers(0, 256, (len(fine), 3072), dtype=np.uint8)}, f, protocol=2)
    with open(cifar / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"class_{i}" for i in range(100)],
                     "coarse_label_names": [f"super_{i}" for i in range(20)]}, f, protocol=2)
    # ImageNet layout: train/<wnid>/*.JPEG and val/<wnid>/*, real JPEG and PNG files of varied sizes
    imagenet = root / "imagenet"
    for split in ("train", "val"):
        for ci, wnid in enumerate(IMAGENET_CLASSES):
            d = imagenet / split / wnid
            d.mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, (60 + 10 * i, 80, 3), dtype=np.uint8)
                ext = "JPEG" if i == 0 else "png"
                Image.fromarray(pixels).save(d / f"{wnid}_{ci}{i}.{ext}")
    return {"cifar100": root / "cifar100", "imagefolder": imagenet}


@pytest.fixture(scope="module")
def teachers(tmp_path_factory) -> dict[str, Path]:
    """Random-init teachers in the real checkpoint format, one per architecture the recipes name."""
    folder = tmp_path_factory.mktemp("teachers")
    out = {}
    for recipe in PAIRS:
        cfg = load_yaml(recipe)
        imagenet = cfg["data"] == "imagefolder"
        arch = cfg["teacher_arch"]
        torch.manual_seed(0)
        model = build_model(arch, num_classes=len(IMAGENET_CLASSES) if imagenet else 100,
                            input_size=cfg["input_size"] if imagenet else 32)
        out[arch] = folder / f"{arch}.safetensors"
        save_model(out[arch], model)
    return out


def overrides(recipe_settings: dict, data_roots: dict[str, Path]) -> list[str]:
    flags = ["--data-root", str(data_roots[recipe_settings["data"]]), "--max-steps-per-epoch", "1"]
    if recipe_settings["data"] == "imagefolder":
        flags += ["--batch-size", "4"]  # 224-px images on a 2-core CPU
    return flags


def one_step(cfg, runs_dir) -> None:
    trainer = Trainer(cfg, api.create_run(cfg, runs_dir))
    before = [p.detach().clone() for p in trainer.method.student.parameters()]
    row = trainer.train_epoch(1)
    assert row["lr"] == cfg.lr  # first epoch of the step schedule
    assert all(math.isfinite(v) for k, v in row.items() if k.startswith("loss")), row
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.method.student.parameters()))


def test_recipes_cover_every_method_and_the_paper_schedule():
    assert {p.stem for p in PAIRS} == {"resnet32x4-resnet8x4", "wrn_40_2-wrn_16_2", "resnet56-resnet20",
                                       "vgg13-vgg8", "resnet34-resnet18"}
    for recipe in PAIRS:
        settings = load_yaml(recipe)
        assert set(settings["methods"]) == set(METHODS), recipe
        assert Path(settings["teacher"]).name == f"{recipe.parent.name}-{settings['teacher_arch']}.safetensors"
        # every teacher a student recipe names has a recipe that trains it
        assert (recipe.parent / f"teacher-{settings['teacher_arch']}.yaml").exists()
        if settings["data"] == "cifar100":
            schedule = {k: settings[k] for k in ("epochs", "lr", "milestones", "gamma", "batch_size", "weight_decay")}
            assert schedule == {"epochs": 240, "lr": 0.05, "milestones": [150, 180, 210], "gamma": 0.1,
                                "batch_size": 64, "weight_decay": 0.0005}


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("recipe", PAIRS, ids=lambda p: p.stem)
def test_pair_recipe_trains_a_step(recipe, method, data_roots, teachers, runs_dir):
    settings = load_yaml(recipe)
    argv = ["distill", "--config", str(recipe), "--method", method, "--teacher", str(teachers[settings["teacher_arch"]]),
            *overrides(settings, data_roots)]
    cfg = build_config(make_parser().parse_args(argv), DISTILL_DEFAULTS)
    assert cfg.method == method and cfg.epochs == settings["epochs"]
    assert cfg.method_params == (settings["methods"][method] or {})
    one_step(cfg, runs_dir)


@pytest.mark.parametrize("recipe", TEACHERS, ids=lambda p: p.stem)
def test_teacher_recipe_trains_a_step(recipe, data_roots, runs_dir):
    settings = load_yaml(recipe)
    argv = ["train-teacher", "--config", str(recipe), *overrides(settings, data_roots)]
    cfg = build_config(make_parser().parse_args(argv), TEACHER_DEFAULTS)
    assert cfg.method == "vanilla" and cfg.student == recipe.stem.removeprefix("teacher-")
    one_step(cfg, runs_dir)


def test_base_files_merge_and_cycles_are_refused(tmp_path):
    (tmp_path / "base.yaml").write_text("epochs: 240\nlr: 0.05\nmethods:\n  kd: {temperature: 4, ce_weight: 0.1}\n")
    (tmp_path / "pair.yaml").write_text("base: base.yaml\nlr: 0.1\nmethod: kd\nmethods:\n  kd: {temperature: 2}\n")
    args = make_parser().parse_args(["distill", "--config", str(tmp_path / "pair.yaml"), "--ce-weight", "0.3"])
    cfg = build_config(args, DISTILL_DEFAULTS)
    assert (cfg.epochs, cfg.lr) == (240, 0.1)
    assert cfg.method_params == {"temperature": 2, "ce_weight": 0.3}  # base < file < flag
    with pytest.raises(ConfigError, match="not for 'dkd'"):
        build_config(make_parser().parse_args(["distill", "--config", str(tmp_path / "pair.yaml"), "--method", "dkd"]),
                     DISTILL_DEFAULTS)
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_yaml(tmp_path / "a.yaml")
