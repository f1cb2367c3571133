"""Engine helpers behind the executive summary: ONNX export checked against PyTorch,
latency, map agreement, Grad-CAM, the run summary, the HTML report and the command
that reproduces a run."""
from __future__ import annotations

import dataclasses
import shlex

import pytest
import torch

from lakd import report
from lakd.api import train
from lakd.config import RunConfig
from lakd.export import ExportError, export_onnx, measure_latency
from lakd.models import build_model


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    tiny = dict(epochs=1, per_class=10, max_steps_per_epoch=2, batch_size=16)
    teacher, _ = train(RunConfig(method="vanilla", student="resnet20", save_maps=False, **tiny), root)
    student, _ = train(RunConfig(method="kd", student="resnet8", teacher=teacher.id, **tiny), root)
    return teacher, student


def test_onnx_export_matches_pytorch(tmp_path):
    model = build_model("resnet8").eval()
    out = export_onnx(model, tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").stat().st_size == out["bytes"] > 10_000
    assert out["max_abs_diff"] <= 1e-4 and out["checked_images"] == 4


def test_onnx_export_refuses_a_mismatch_and_leaves_no_file(tmp_path):
    with pytest.raises(ExportError, match="differs"):
        export_onnx(build_model("resnet8"), tmp_path / "m.onnx", atol=-1.0)
    assert not list(tmp_path.iterdir())


def test_latency_is_measured_and_thread_count_restored():
    before = torch.get_num_threads()
    out = measure_latency(build_model("resnet8"), runs=5)
    assert out["median_ms"] > 0 and out["runs"] == 5 and out["min_ms"] <= out["median_ms"] <= out["max_ms"]
    assert torch.get_num_threads() == before


def test_map_agreement_is_one_for_the_same_maps_and_less_otherwise():
    a = [torch.rand(4, 8, 8), torch.rand(4, 4, 4)]
    assert report.map_agreement(a, a) == pytest.approx([1.0, 1.0])
    flipped = [m.flip(-1) + 0.0 for m in a]
    assert all(v < 1.0 for v in report.map_agreement(a, flipped))
    # different grids are pooled to the smaller one
    assert report.map_agreement([torch.ones(2, 8, 8)], [torch.ones(2, 4, 4)]) == pytest.approx([1.0])


def test_gradcam_maps_are_per_image_in_unit_range():
    model = build_model("resnet8")
    maps = report.gradcam_maps(model, torch.randn(3, 3, 32, 32))
    assert maps.shape == (3, 8, 8)
    assert maps.min() >= 0 and maps.max() <= 1


def test_summary_of_a_distilled_run(tiny_runs):
    teacher, student = tiny_runs
    s = report.summarize_run(student, latency_runs=3)
    assert s["teacher_arch"] == "resnet20" and s["student_arch"] == "resnet8"
    assert s["teacher_params"] > s["student_params"] > 0
    assert s["teacher_bytes"] > s["student_bytes"] > 0
    assert s["accuracy_kept"] == pytest.approx(s["student_acc"] / s["teacher_acc"])
    assert s["student_latency_ms"] > 0 and s["test_images"] == 1000


def test_summary_without_teacher(tiny_runs):
    teacher, _ = tiny_runs
    s = report.summarize_run(teacher, latency_runs=3)
    assert s["teacher_acc"] is None and s["accuracy_kept"] is None


def test_html_report_embeds_images_and_escapes_text():
    png = report.figure_png(report.accuracy_figure([{"epoch": 1, "test_acc": 0.5}, {"epoch": 2, "test_acc": 0.6}], 0.7))
    assert png.startswith(b"\x89PNG")
    html = report.html_report(title="<script>x</script>", headline="kept 90%", kpis=[("Smaller", "3.5×")],
                              table_header=["", "student"], table_rows=[["acc", "60%"]], images=[("Curve", "c", png)],
                              settings={"method": "lakd"}, lang="ja")
    assert "<script>x" not in html and "&lt;script&gt;" in html
    assert 'lang="ja"' in html and html.count("data:image/png;base64,") == 1
    assert "3.5×" in html


def test_reproduce_command_parses_back_to_the_same_settings():
    from lakd.cli import DISTILL_DEFAULTS, build_config, make_parser

    cfg = RunConfig(method="kd", student="resnet8", teacher="bundled", epochs=2, per_class=30, lr=0.02, seed=3,
                    max_steps_per_epoch=5, augment=True, method_params={"temperature": 3.0}, name="x y")
    cmd = report.reproduce_command(cfg.to_dict())
    argv = shlex.split(cmd)
    assert argv[:3] == ["python", "-m", "lakd"]
    again = build_config(make_parser().parse_args(argv[3:]), DISTILL_DEFAULTS)
    want = dataclasses.asdict(cfg)
    got = dataclasses.asdict(again)
    assert got == want
