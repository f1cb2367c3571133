"""GPU options that can be checked on a CPU: the GPU benchmark runs end to end (--smoke),
channels_last changes the memory format and not the result, and amp settings are checked."""
from __future__ import annotations

import json

import pytest
import torch

from lakd import api
from lakd.bench import main as bench_main
from lakd.checkpoint import load_model
from lakd.cli import build_config, make_parser
from lakd.config import ConfigError, RunConfig
from lakd.trainer import Trainer, amp_dtype_for


def test_gpu_benchmark_smoke_runs_every_row(tmp_path):
    out = tmp_path / "gpu.json"
    assert bench_main(["gpu", "--smoke", "--device", "cpu", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["label"] for r in result["rows"]] == ["vanilla", "KD", "LAKD joint", "LAKD local backward"]
    assert result["rows"][3]["method_params"] == {"mode": "local", "sdm": True}
    assert all(r["images_per_s"] > 0 for r in result["rows"])
    assert result["rows"][1]["images_per_s_x_kd"] == 1.0
    assert (result["student"], result["teacher"], result["batch"]) == ("resnet8x4", "resnet32x4", 2)


def test_channels_last_trains_to_the_same_weights(runs_dir):
    base = dict(method="kd", teacher="bundled", student="resnet8", epochs=1, per_class=10, batch_size=16,
                max_steps_per_epoch=2, save_maps=False, seed=2, device="cpu")
    plain, _ = api.train(RunConfig(**base), runs_dir)
    nhwc, rows = api.train(RunConfig(**base, channels_last=True), runs_dir)
    a, b = load_model(plain.student_checkpoint).state_dict(), load_model(nhwc.student_checkpoint).state_dict()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-3), (k, (a[k] - b[k]).abs().max())
    assert "test_acc" in rows[-1]
    trainer = Trainer(RunConfig(**base, channels_last=True), api.create_run(RunConfig(**base), runs_dir))
    convs = [m.weight for m in trainer.method.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)


def test_amp_setting_is_a_choice():
    parse = lambda *flags: build_config(make_parser().parse_args(["distill", *flags]), {})  # noqa: E731
    assert parse("--amp", "bf16").amp == "bf16"
    assert parse("--amp", "false").amp is False
    assert parse("--amp").amp is True
    with pytest.raises(ConfigError, match="amp must be"):
        RunConfig(amp="fp8").validate()
    cpu = torch.device("cpu")
    assert all(amp_dtype_for(v, cpu) is None for v in (True, "auto", "bf16", "fp16"))  # autocast is CUDA only
