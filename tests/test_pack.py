"""Teacher packs: training from a pack equals training with the live teacher, the teacher
is not even loaded, and a pack for other data, settings or methods is refused with what
differs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lakd import api, trainer
from lakd.checkpoint import load_model
from lakd.cli import main as cli_main
from lakd.config import ConfigError, RunConfig
from lakd.data import load_data
from lakd.maps import activation_map, map_loss, map_loss_to_map
from lakd.pack import PackError, TeacherPack, make_pack

SMALL = dict(data="sample", per_class=12, epochs=2, batch_size=16, max_steps_per_epoch=4, deterministic=True,
             seed=3, map_images=8, eval_every=2)


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    """Packs of the bundled teacher over the small training set: maps only, and with features."""
    root = tmp_path_factory.mktemp("packs")
    data = load_data("sample", per_class=SMALL["per_class"])
    teacher = load_model(trainer.bundled_teacher_path())
    return {"maps": make_pack(teacher, data, root / "maps", batch_size=50),
            "features": make_pack(teacher, data, root / "features", features=True, batch_size=50)}


def student_state(run) -> dict[str, torch.Tensor]:
    return load_model(run.student_checkpoint).state_dict()


@pytest.mark.parametrize("method,params,pack", [
    ("kd", {}, "maps"),
    ("dkd", {}, "maps"),
    ("lakd", {}, "maps"),
    ("lakd", {"d": 1.0, "sdm": True, "mode": "local"}, "features"),
    ("at", {}, "features"),
    ("fitnet", {}, "features"),
])
def test_training_from_a_pack_equals_the_live_teacher(method, params, pack, packs, runs_dir, monkeypatch):
    live_run, live = api.train(RunConfig(method=method, teacher="bundled", method_params=params, **SMALL), runs_dir)

    def no_teacher(*a, **k):
        raise AssertionError("a run with a teacher pack must not load the teacher")

    monkeypatch.setattr(trainer, "resolve_teacher", no_teacher)
    pack_run, packed = api.train(RunConfig(method=method, teacher_pack=str(packs[pack]), method_params=params,
                                           **SMALL), runs_dir)
    for a, b in zip(live, packed):
        for key in [k for k in a if k.startswith("loss") or k.endswith("_acc")]:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    s_live, s_pack = student_state(live_run), student_state(pack_run)
    for name in s_live:
        torch.testing.assert_close(s_pack[name], s_live[name], rtol=1e-5, atol=1e-6, msg=name)
    # the pack's probe maps stand in for the teacher on the Compare page
    assert (pack_run.path / "maps" / "teacher_epoch000.safetensors").exists()


def test_a_run_from_a_pack_reports_the_packs_teacher(packs, runs_dir):
    """The executive summary and the reproduce command of a pack run: the teacher's
    accuracy and size come from the pack's manifest (its weights are not there)."""
    from lakd.report import reproduce_command, summarize_run

    run, _ = api.train(RunConfig(method="kd", teacher_pack=str(packs["maps"]), **SMALL), runs_dir)
    made = TeacherPack(packs["maps"]).manifest["teacher"]
    s = summarize_run(run, latency_runs=2)
    assert (s["teacher_arch"], s["teacher_acc"], s["teacher_params"]) == ("resnet20", made["test_acc"], made["parameters"])
    assert s["accuracy_kept"] == pytest.approx(s["student_acc"] / made["test_acc"])
    assert f"--teacher-pack {packs['maps']}" in reproduce_command(run.config())


def test_pack_holds_the_teachers_outputs_row_by_row(packs):
    pack = TeacherPack(packs["features"])
    data = load_data("sample", per_class=SMALL["per_class"])
    teacher = load_model(trainer.bundled_teacher_path()).eval()
    index = torch.tensor([5, 0, 119, 37])
    x = torch.stack([data.train[i][0] for i in index.tolist()])
    with torch.no_grad():
        feats, logits = teacher.forward_stages(x)
    got = pack.outputs(index, torch.device("cpu"))
    torch.testing.assert_close(got.logits, logits, rtol=1e-5, atol=1e-5)
    for k, f in enumerate(feats):
        torch.testing.assert_close(got.maps[k], activation_map(f, 2.0), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got.feats[k], f, rtol=1e-5, atol=1e-5)


def test_map_loss_from_a_stored_map_equals_the_loss_from_features():
    torch.manual_seed(0)
    s = torch.randn(3, 8, 8, 8)
    for t in (torch.randn(3, 16, 8, 8), torch.randn(3, 4, 16, 16), torch.randn(3, 4, 4, 4)):
        for p in (1.0, 2.0, 3.0):
            assert map_loss_to_map(s, activation_map(t, p), p).item() == pytest.approx(map_loss(s, t, p).item(), rel=1e-6)


def test_pack_for_other_data_is_refused_with_what_differs(packs, runs_dir):
    cfg = RunConfig(method="kd", teacher_pack=str(packs["maps"]), **{**SMALL, "per_class": 10})
    with pytest.raises(PackError) as e:
        api.train(cfg, runs_dir)
    assert "training images: pack 120, this run 100" in str(e.value)
    assert "content fingerprint" in str(e.value)


def test_pack_with_another_transform_or_class_list_is_refused(packs, tmp_path, runs_dir):
    import shutil

    changed = tmp_path / "changed"
    shutil.copytree(packs["maps"], changed)
    manifest = json.loads((changed / "manifest.json").read_text())
    manifest["made_for"]["transform"]["mean"] = [0.5]
    manifest["made_for"]["classes"][0] = "T-shirt"
    (changed / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackError) as e:
        api.train(RunConfig(method="kd", teacher_pack=str(changed), **SMALL), runs_dir)
    assert "transform: pack" in str(e.value) and "'mean': [0.5]" in str(e.value)
    assert "class list: differs ('T-shirt'->'T-shirt/top')" in str(e.value)


def test_a_pack_without_what_the_method_needs_is_refused(packs, runs_dir):
    for method, params in [("lakd", {"d": 1.0}), ("at", {}), ("fitnet", {})]:
        with pytest.raises(PackError, match="--features"):
            api.train(RunConfig(method=method, teacher_pack=str(packs["maps"]), method_params=params, **SMALL), runs_dir)
    with pytest.raises(PackError, match="p=2 but the run uses p=3"):
        api.train(RunConfig(method="lakd", teacher_pack=str(packs["maps"]), method_params={"p": 3.0}, **SMALL), runs_dir)


def test_augmentation_and_a_second_teacher_are_refused_with_a_pack(packs):
    with pytest.raises(ConfigError, match="augmentation is off with a teacher pack"):
        RunConfig(method="kd", teacher_pack=str(packs["maps"]), augment=True).validate()
    with pytest.raises(ConfigError, match="not both"):
        RunConfig(method="kd", teacher="bundled", teacher_pack=str(packs["maps"])).validate()


def test_a_pack_is_read_without_pickle(packs, tmp_path):
    """An .npy holding pickled objects would run code when loaded with pickle allowed."""
    import shutil

    evil = tmp_path / "evil"
    shutil.copytree(packs["maps"], evil)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.save(evil / "logits.npy", np.array([Payload()], dtype=object), allow_pickle=True)
    with pytest.raises(PackError, match="missing or damaged"):
        TeacherPack(evil)
    assert not marker.exists()


def test_an_interrupted_pack_leaves_nothing_behind(tmp_path):
    data = load_data("sample", per_class=12)
    teacher = load_model(trainer.bundled_teacher_path())

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_pack(teacher, data, tmp_path / "pack", batch_size=50, progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_cli_makes_a_pack_and_distills_from_it(tmp_path, runs_dir, capsys):
    out = tmp_path / "pack"
    assert cli_main(["teacher-pack", "--data", "sample", "--per-class", "12", "--out", str(out), "--dtype", "float16",
                     "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "120 images, 2708 bytes/image (logits 20 + maps 2688; logits + raw features would take 57364)" in said
    assert cli_main(["teacher-pack", "--data", "sample", "--out", str(out), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli_main(["distill", "--method", "kd", "--teacher-pack", str(out), "--data", "sample", "--per-class", "12",
                     "--epochs", "1", "--batch-size", "16", "--runs-dir", str(runs_dir), "--no-progress"]) == 0
    config = json.loads(next(runs_dir.glob("*/config.json")).read_text())
    assert config["teacher"] is None and config["teacher_pack"] == str(out)
    assert cli_main(["distill", "--method", "kd", "--teacher-pack", str(out), "--per-class", "11",
                     "--runs-dir", str(runs_dir), "--no-progress"]) == 2
    assert "made for other data" in capsys.readouterr().err


def test_bytes_per_image_of_packs_vs_raw_features():
    from lakd.bench import pack_bytes_table

    rows = {(r["teacher"], r["dtype"]): r for r in pack_bytes_table()}
    # resnet20: maps 32*32 + 16*16 + 8*8 = 1,344 values; features 16*1024 + 32*256 + 64*64 = 28,672 values
    assert rows["resnet20", "float32"]["logits_maps_bytes"] == (10 + 1344) * 4
    assert rows["resnet20", "float32"]["logits_features_bytes"] == (10 + 28672) * 4
    # resnet32x4 has 4x the channels: the same maps, 4x the features
    assert rows["resnet32x4", "float16"]["logits_features_bytes"] == (10 + 4 * 28672) * 2
    assert rows["resnet32x4", "float32"]["ratio"] > 80
