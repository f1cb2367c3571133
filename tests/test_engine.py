"""Engine foundation: training beats chance, data formats load through the real code,
resume is exact, and bad checkpoints and data say clearly what is wrong."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from lakd import api
from lakd.checkpoint import CheckpointError, load_model, save_model
from lakd.cli import main as cli_main
from lakd.config import ConfigError, RunConfig
from lakd.data import DataError, load_data
from lakd.models import build_model
from lakd.runs import RunStore

TINY = dict(per_class=20, batch_size=32, max_steps_per_epoch=3, save_maps=False)


def test_resnet8_learns_on_sample_data(runs_dir):
    cfg = RunConfig(method="vanilla", student="resnet8", epochs=2, batch_size=32, lr=0.1, seed=0)
    run, rows = api.train(cfg, runs_dir)
    assert rows[-1]["test_acc"] > 0.60, rows  # chance is 0.10
    assert run.status()["status"] == "completed"
    assert [r["epoch"] for r in run.metrics()] == [1, 2]
    for key in ("lr", "loss_ce", "train_acc", "test_acc", "seconds", "images_per_s"):
        assert key in rows[-1]
    # the saved student is the bare architecture and reloads to the same accuracy
    model = load_model(run.student_checkpoint)
    assert model.arch == "resnet8"


def write_cifar10(root, n_train=40, n_test=20, seed=0):
    """A tiny CIFAR-10 in the real 'python version' layout (pickled dicts, protocol 2)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    def batch(n, label):
        labels = [int(v) for v in rng.integers(0, 10, n)]
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        return {"batch_label": label, "labels": labels, "data": data, "filenames": [f"img{i}.png" for i in range(n)]}
    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch(n_train // 5, f"training batch {i} of 5"), f, protocol=2)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(batch(n_test, "testing batch 1 of 1"), f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"], "num_cases_per_batch": n_train // 5, "num_vis": 3072}, f, protocol=2)
    return folder


def test_cifar10_pickles_load(tmp_path):
    folder = write_cifar10(tmp_path)
    data = load_data("cifar10", tmp_path)
    assert len(data.train) == 40 and len(data.test) == 20
    assert data.class_names[0] == "airplane" and data.num_classes == 10
    x, y = data.train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    # the pixel layout is CIFAR's: 1024 red, then green, then blue values per row of 'data'
    with open(folder / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="latin1")["data"][0]
    assert torch.equal(data.train.images[0], torch.from_numpy(raw.reshape(3, 32, 32)))


def test_cifar100_pickles_load(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 30), ("test", 10)):
        with open(folder / name, "wb") as f:
            pickle.dump({"fine_labels": [int(v) for v in rng.integers(0, 100, n)], "coarse_labels": [0] * n,
                         "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}, f, protocol=2)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": []}, f, protocol=2)
    data = load_data("cifar100", tmp_path)
    assert data.num_classes == 100 and len(data.train) == 30 and len(data.test) == 10


def test_cifar_pickle_with_code_is_refused(tmp_path):
    folder = write_cifar10(tmp_path)
    marker = tmp_path / "pwned"

    class Boom:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('ran')",))

    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"labels": [0], "data": Boom()}, f, protocol=2)
    with pytest.raises(DataError, match="refused"):
        load_data("cifar10", tmp_path)
    assert not marker.exists()


def test_missing_cifar_says_where(tmp_path):
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_data("cifar10", tmp_path)


def make_image_folder(root, classes=("cat", "dog"), per_class=3):
    modes = [("L", (20, 30), "png"), ("RGB", (50, 40), "jpg"), ("RGBA", (33, 33), "png"), ("P", (64, 16), "png")]
    for split in ("train", "val"):
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(per_class):
                mode, size, ext = modes[i % len(modes)]
                Image.new(mode, size, color=(i * 40) if mode in ("L", "P") else (i * 40,) * len(mode)).save(d / f"{i}.{ext}")
    return root


def test_image_folder_with_mixed_sizes_and_modes(tmp_path):
    make_image_folder(tmp_path, per_class=4)
    data = load_data("imagefolder", tmp_path, input_size=32)
    assert data.class_names == ["cat", "dog"] and len(data.train) == 8 and len(data.test) == 8
    for i in range(len(data.train)):
        x, y = data.train[i]
        assert x.shape == (3, 32, 32)
    gray = load_data("imagefolder", tmp_path, input_size=24, in_channels=1)
    assert gray.train[0][0].shape == (1, 24, 24)


def test_image_folder_bad_inputs_are_reported(tmp_path):
    root = make_image_folder(tmp_path / "a")
    (root / "train" / "cat" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="broken.png"):
        load_data("imagefolder", root)
    single = make_image_folder(tmp_path / "b", classes=("only",))
    with pytest.raises(DataError, match="at least 2"):
        load_data("imagefolder", single)
    empty = make_image_folder(tmp_path / "c")
    for f in (empty / "val" / "dog").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="empty class"):
        load_data("imagefolder", empty)
    with pytest.raises(DataError, match="train/ and val/"):
        load_data("imagefolder", tmp_path / "nowhere")


def test_missing_fashion_mnist_says_what_to_install(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_data("fashion-mnist", tmp_path)


def test_resume_gives_the_same_result_as_an_uninterrupted_run(runs_dir):
    base = dict(method="vanilla", student="resnet8", epochs=2, seed=3, deterministic=True, **TINY)
    _, straight = api.train(RunConfig(**base), runs_dir)

    run = api.create_run(RunConfig(**base), runs_dir)

    def stop_in_epoch_two(info):
        if info["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.execute(run, progress=stop_in_epoch_two)
    assert run.status()["status"] == "stopped"
    assert [r["epoch"] for r in run.metrics()] == [1]
    resumed = api.execute(run, resume=True)
    assert [r["epoch"] for r in resumed] == [1, 2]
    for key in ("test_acc", "train_acc", "loss_ce"):
        assert resumed[-1][key] == straight[-1][key], key
    a = load_model(run.student_checkpoint).state_dict()
    b = load_model(RunStore(runs_dir).list()[0].student_checkpoint).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_resume_continues_a_stopped_run(runs_dir, capsys):
    run = api.create_run(RunConfig(method="vanilla", student="resnet8", epochs=2, **TINY), runs_dir)
    with pytest.raises(KeyboardInterrupt):
        api.execute(run, progress=lambda info: (_ for _ in ()).throw(KeyboardInterrupt) if info["epoch"] == 2 else None)
    assert cli_main(["train-teacher", "--resume", run.id, "--runs-dir", str(runs_dir), "--no-progress"]) == 0
    assert [r["epoch"] for r in run.metrics()] == [1, 2]
    assert run.status()["status"] == "completed"
    assert cli_main(["runs", "--runs-dir", str(runs_dir)]) == 0
    assert "completed" in capsys.readouterr().out


def test_mismatched_teacher_checkpoint_names_both(tmp_path):
    path = tmp_path / "t.safetensors"
    save_model(path, build_model("resnet8", num_classes=10))
    with pytest.raises(CheckpointError, match=r"resnet8.*resnet20"):
        load_model(path, arch="resnet20")
    with pytest.raises(CheckpointError, match=r"10 classes.*7"):
        load_model(path, num_classes=7)
    # a plain PyTorch state_dict of another architecture
    pt = tmp_path / "t.pt"
    torch.save(build_model("resnet8").state_dict(), pt)
    with pytest.raises(CheckpointError, match="does not fit architecture 'resnet20'"):
        load_model(pt, arch="resnet20")


def test_cli_refuses_bad_settings_with_valid_names(runs_dir, capsys):
    assert cli_main(["distill", "--student", "resnet9", "--runs-dir", str(runs_dir)]) == 2
    assert "valid models" in capsys.readouterr().err
    assert cli_main(["distill", "--method", "nope", "--runs-dir", str(runs_dir)]) == 2
    assert "valid methods" in capsys.readouterr().err
    assert cli_main(["distill", "--epochs", "0", "--runs-dir", str(runs_dir)]) == 2
    assert "epochs must be" in capsys.readouterr().err
    assert cli_main(["distill", "--method", "vanilla", "--temperature", "3", "--runs-dir", str(runs_dir)]) == 2
    assert "has no setting" in capsys.readouterr().err


def test_yaml_config_and_flags(tmp_path, runs_dir):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("method: kd\nstudent: resnet8\nepochs: 3\nmethod_params:\n  temperature: 2\n")
    from lakd.cli import build_config, make_parser
    args = make_parser().parse_args(["distill", "--config", str(cfg_file), "--epochs", "1", "--ce-weight", "0.5"])
    cfg = build_config(args, {})
    assert (cfg.method, cfg.epochs) == ("kd", 1)
    assert cfg.method_params == {"temperature": 2, "ce_weight": 0.5}
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):
        build_config(make_parser().parse_args(["distill", "--config", str(bad)]), {})
